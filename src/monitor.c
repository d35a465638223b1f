/*
 * monitor: the master's one library thread. It sleeps in poll() on two
 * descriptors, the spawner's report channel and an eventfd that workers write
 * only when the monitor has asked for it (monitor_asleep set, and either a
 * completion it wants, a ring running low while the backlog waits, a GROW
 * request, or a task with a deadline starting). Each round, under the pool
 * lock, it:
 *   - reads reports: worker starts and deaths (a death fails or re-queues the
 *     task the worker held, see handle_death);
 *   - harvests DONE slots and feeds the backlog into free slots;
 *   - answers GROW requests with arena space;
 *   - kills workers whose task ran past its deadline;
 *   - keeps the number of workers right, closes the pool when shut down;
 * then runs queued done-callbacks without the lock.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pool.h"

/* The pool whose monitor this thread is, set by the monitor itself (reading
   pool->monitor here could race with pthread_create storing it). */
static _Thread_local const pp_pool *monitor_of_this_thread;

bool pp_on_monitor_thread(const pp_pool *pool)
{
    return monitor_of_this_thread == pool;
}

int pp_spawner_send(pp_pool *pool, int op, int worker, int arg)
{
    if (pool->cmd_fd < 0)
        return PP_ESTATE;
    struct pp_spawn_msg m = {op, worker, arg};
    ssize_t n;
    do
        n = send(pool->cmd_fd, &m, sizeof m, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n == sizeof m ? PP_OK : PP_ESYS;
}

static void wake_all_workers(struct pp_shm *shm)
{
    atomic_fetch_add(&shm->work_seq, 1);
    pp_futex_wake(&shm->work_seq, 0x7fffffff, true);
}

void pp_break_pool(pp_pool *pool, int status)
{
    if (pool->broken)
        return;
    pool->broken = true;
    pool->shutdown = true;
    while (pool->backlog) {
        struct pp_future *f = pool->backlog;
        pool->backlog = f->qnext;
        f->qnext = NULL;
        f->flags &= ~(uint32_t)FUT_QUEUED;
        if (atomic_load(&f->phase) != PHASE_DONE) {
            pp_arena_free(&pool->arena, &f->block);
            pp_complete(pool, f, status, 0, "the pool is broken");
        } else {
            pp_future_maybe_free(f);
        }
    }
    pool->backlog_tail = NULL;
    for (uint32_t s = 0; s < pool->shm->nslots; s++) {
        struct pp_slot *slot = &pool->shm->slots[s];
        uint32_t st = atomic_load(&slot->state);
        if (ST_KIND(st) == SLOT_PENDING) /* keep workers off it */
            atomic_compare_exchange_strong(&slot->state, &st, ST_MAKE(SLOT_CANCELLED, 0, ST_GEN(st)));
        pp_finish_slot(pool, s, status, 0, "the pool is broken");
    }
    atomic_store(&pool->shm->closing, 1);
    wake_all_workers(pool->shm);
    pp_spawner_send(pool, SPAWN_KILL_ALL, 0, SIGKILL);
    pp_update_kicks(pool);
}

static void crash_message(char *buf, size_t size, pid_t pid, int status, int *code)
{
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        const char *name = sigdescr_np(sig);
        *code = -sig;
        snprintf(buf, size, "worker %d killed by signal %d (%s)", (int)pid, sig, name ? name : "?");
    } else {
        *code = WEXITSTATUS(status);
        snprintf(buf, size, "worker %d exited with status %d while running the task", (int)pid, *code);
    }
}

/* A worker is gone: settle the slot it held, then its records. */
static void handle_death(pp_pool *pool, uint32_t w, pid_t pid, int status)
{
    struct pp_worker_rec *rec = &pool->shm->workers[w];
    struct pp_worker_info *wi = &pool->workers[w];
    bool crashed = false;
    uint32_t s = atomic_load(&rec->intent);
    if (s < pool->shm->nslots) {
        struct pp_slot *slot = &pool->shm->slots[s];
        uint32_t st = atomic_load(&slot->state);
        uint32_t kind = ST_KIND(st);
        if ((kind == SLOT_RUNNING || kind == SLOT_GROW) && ST_WORKER(st) == w) {
            char msg[128];
            int code;
            if (wi->deadline_kill && atomic_load(&rec->seq) == wi->kill_seq) {
                snprintf(msg, sizeof msg, "task ran past its deadline of %.3f s; worker %d killed",
                         (double)slot->deadline_ns / 1e9, (int)pid);
                pp_finish_slot(pool, s, PP_EDEADLINE, -SIGKILL, msg);
                pp_slot_reclaim(pool, s);
            } else if (wi->deadline_kill) {
                pp_requeue_slot(pool, s); /* killed for a task it had already finished */
            } else {
                crash_message(msg, sizeof msg, pid, status, &code);
                bool breaks = pool->broken || pool->cfg.on_crash == PP_BREAK_POOL;
                pp_finish_slot(pool, s, breaks ? PP_EBROKEN : PP_ECRASHED, code, msg);
                pp_slot_reclaim(pool, s);
                crashed = true;
            }
        } else if (kind == SLOT_PENDING && pool->slots[s].owner) {
            pp_requeue_slot(pool, s); /* taken from the ring, never claimed */
        } else if (kind == SLOT_DONE) {
            pp_harvest(pool, s); /* died after publishing, before flagging it */
        }
    }
    if (atomic_load(&rec->idle))
        atomic_fetch_sub(&pool->shm->idle_workers, 1);
    if (atomic_load(&rec->spinning))
        atomic_fetch_sub(&pool->shm->spinners, 1);
    bool init_failed = atomic_load(&rec->init_failed);
    atomic_store(&rec->intent, PP_NO_SLOT);
    atomic_store(&rec->seq, 0);
    atomic_store(&rec->started_ns, 0);
    atomic_store(&rec->idle, 0);
    atomic_store(&rec->spinning, 0);
    atomic_store(&rec->init_failed, 0);
    *wi = (struct pp_worker_info){0};
    pool->alive--;
    pool->spawn_errno = 0;
    if (init_failed || (crashed && pool->cfg.on_crash == PP_BREAK_POOL))
        pp_break_pool(pool, PP_EBROKEN);
}

static void on_report(pp_pool *pool, const struct pp_report *r)
{
    if (r->worker < 0 || (uint32_t)r->worker >= pool->nworkers)
        return;
    struct pp_worker_info *wi = &pool->workers[r->worker];
    switch (r->kind) {
    case REPORT_STARTED:
        wi->pid = r->pid;
        wi->alive = true;
        wi->starting = false;
        pool->starting--;
        pool->alive++;
        pool->stats.workers_started++;
        pool->spawn_errno = 0;
        break;
    case REPORT_FAILED:
        wi->starting = false;
        pool->starting--;
        pool->spawn_errno = r->status;
        break;
    case REPORT_EXITED: handle_death(pool, (uint32_t)r->worker, r->pid, r->status); break;
    }
    pp_epoch_bump();
}

/* Reads what the spawner reported; with block, waits for one report first.
   Returns false once the spawner has gone (EOF). */
bool pp_read_reports(pp_pool *pool, bool block)
{
    if (pool->report_fd < 0)
        return false;
    if (block) {
        struct pollfd p = {.fd = pool->report_fd, .events = POLLIN};
        while (poll(&p, 1, -1) < 0 && errno == EINTR)
            ;
    }
    struct pp_report r[64];
    for (;;) {
        ssize_t n = read(pool->report_fd, r, sizeof r);
        if (n > 0) {
            for (ssize_t i = 0; i < n / (ssize_t)sizeof r[0]; i++)
                on_report(pool, &r[i]);
            continue;
        }
        if (n < 0 && (errno == EINTR))
            continue;
        if (n < 0 && errno == EAGAIN)
            return true;
        break;
    }
    /* EOF: the spawner has exited (asked to, or killed) */
    pp_close_fd(&pool->report_fd);
    pp_close_fd(&pool->cmd_fd);
    while (waitpid(pool->spawner, NULL, 0) < 0 && errno == EINTR)
        ;
    pool->spawner_gone = true;
    if (pool->unfinished || !pool->shutdown) /* it did not leave because we asked */
        pp_break_pool(pool, PP_EBROKEN);
    for (uint32_t w = 0; w < pool->nworkers; w++) { /* no report will come for these */
        if (pool->workers[w].alive)
            handle_death(pool, w, pool->workers[w].pid, SIGKILL);
        pool->workers[w].starting = false;
    }
    pool->starting = 0;
    pp_epoch_bump();
    return false;
}

static bool serve_grow(pp_pool *pool)
{
    bool any = false;
    for (uint32_t w = 0; w < pool->nworkers; w++) {
        uint32_t s = atomic_load(&pool->shm->workers[w].intent);
        if (!pool->workers[w].alive || s >= pool->shm->nslots)
            continue;
        struct pp_slot *slot = &pool->shm->slots[s];
        uint32_t st = atomic_load(&slot->state);
        if (ST_KIND(st) != SLOT_GROW || ST_WORKER(st) != w)
            continue;
        struct pp_slot_info *si = &pool->slots[s];
        pp_arena_free(&pool->arena, &si->grant);
        if (si->owner && pp_arena_alloc(&pool->arena, slot->grow_len, &si->grant) == PP_OK) {
            slot->grant_off = si->grant.off;
            slot->grant_cap = si->grant.size;
        } else {
            slot->grant_off = slot->grant_cap = 0;
        }
        atomic_store(&slot->state, ST_MAKE(SLOT_RUNNING, w, ST_GEN(st)));
        pp_futex_wake(&slot->state, 0x7fffffff, true);
        any = true;
    }
    return any;
}

/* Kills workers past their task's deadline; returns the next expiry. */
static uint64_t check_deadlines(pp_pool *pool)
{
    uint64_t next = PP_FOREVER, now = pp_now_ns();
    for (uint32_t w = 0; w < pool->nworkers; w++) {
        struct pp_worker_info *wi = &pool->workers[w];
        struct pp_worker_rec *rec = &pool->shm->workers[w];
        uint32_t s = atomic_load(&rec->intent);
        if (!wi->alive || wi->deadline_kill || s >= pool->shm->nslots)
            continue;
        struct pp_slot *slot = &pool->shm->slots[s];
        uint32_t seq = atomic_load(&rec->seq);
        uint32_t st = atomic_load(&slot->state);
        uint64_t started = atomic_load(&rec->started_ns);
        uint64_t limit = slot->deadline_ns;
        bool running = ST_KIND(st) == SLOT_RUNNING || ST_KIND(st) == SLOT_GROW;
        /* the seq and state reads bracket the others: all belong to one task */
        if (!running || ST_WORKER(st) != w || !limit || !started || atomic_load(&rec->seq) != seq ||
            atomic_load(&slot->state) != st)
            continue;
        uint64_t expiry = started + limit; /* started may be later than now */
        if (now >= expiry) {
            wi->deadline_kill = true;
            wi->kill_seq = seq;
            pp_spawner_send(pool, SPAWN_KILL, (int)w, SIGKILL);
        } else if (expiry < next) {
            next = expiry;
        }
    }
    return next;
}

static void manage_workers(pp_pool *pool)
{
    struct pp_shm *shm = pool->shm;
    if (pool->shutdown && !pool->backlog && !pool->nunpushed && !atomic_load(&shm->closing)) {
        atomic_store(&shm->closing, 1);
        wake_all_workers(shm);
    }
    uint64_t want = pool->nworkers;
    if (pool->broken || pool->spawner_gone)
        want = 0;
    else if (atomic_load(&shm->closing)) {
        uint64_t queued = pp_ring_count(&shm->ring);
        want = queued < want ? queued : want;
    }
    for (uint32_t w = 0; w < pool->nworkers && pool->alive + pool->starting < want && !pool->spawn_errno;
         w++) {
        struct pp_worker_info *wi = &pool->workers[w];
        if (wi->alive || wi->starting)
            continue;
        if (pp_spawner_send(pool, SPAWN_START, (int)w, 0) != PP_OK)
            break;
        wi->starting = true;
        pool->starting++;
    }
    /* shut down and drained: let the spawner go; its EOF ends the reports */
    if (pool->shutdown && atomic_load(&shm->closing) && !pool->alive && !pool->starting &&
        !pool->unfinished && pool->cmd_fd >= 0)
        pp_close_fd(&pool->cmd_fd);
}

static void run_callbacks(pp_pool *pool)
{
    while (pool->cb_queue) {
        struct pp_future *f = pool->cb_queue;
        pool->cb_queue = f->qnext;
        if (!pool->cb_queue)
            pool->cb_tail = NULL;
        f->qnext = NULL;
        struct pp_callback *cb = f->callbacks;
        f->callbacks = NULL;
        pthread_mutex_unlock(&pool->lock);
        while (cb) {
            struct pp_callback *next = cb->next;
            cb->fn(f, cb->ud);
            free(cb);
            cb = next;
        }
        pthread_mutex_lock(&pool->lock);
        if (f->callbacks) { /* added while these ran: they run next, in order */
            f->qnext = pool->cb_queue;
            pool->cb_queue = f;
            if (!pool->cb_tail)
                pool->cb_tail = f;
            continue;
        }
        f->flags &= ~(uint32_t)FUT_CALLBACKS;
        pp_future_maybe_free(f);
    }
}

/* Whether anything arrived since the last round that the monitor must see
   before it sleeps (checked after monitor_asleep is set). */
static bool work_waiting(pp_pool *pool)
{
    struct pp_shm *shm = pool->shm;
    if (pool->cb_queue)
        return true;
    for (uint32_t w = 0; w < pool->nworkers; w++) {
        uint32_t s = atomic_load(&shm->workers[w].intent);
        if (s < shm->nslots && ST_KIND(atomic_load(&shm->slots[s].state)) == SLOT_GROW)
            return true;
    }
    if (atomic_load(&shm->kick_on_done) || pool->backlog)
        for (uint32_t i = 0; i <= shm->nslots / 64; i++)
            if (atomic_load(&shm->done_bits[i]))
                return true;
    return false;
}

static void *monitor_main(void *arg)
{
    pp_pool *pool = arg;
    struct pp_shm *shm = pool->shm;
    monitor_of_this_thread = pool;
    pthread_mutex_lock(&pool->lock);
    while (!pool->stop_monitor || pool->cb_queue) {
        pp_read_reports(pool, false);
        pp_harvest_all(pool);
        serve_grow(pool);
        manage_workers(pool);
        if (pool->cb_queue) {
            run_callbacks(pool);
            continue;
        }
        atomic_store(&shm->monitor_asleep, 1);
        uint64_t next = check_deadlines(pool);
        if (work_waiting(pool) || pool->stop_monitor) {
            atomic_store(&shm->monitor_asleep, 0);
            continue;
        }
        /* taken under the lock: another thread may close the report channel */
        struct pollfd fds[2] = {{.fd = pool->event_fd, .events = POLLIN},
                                {.fd = pool->report_fd, .events = POLLIN}};
        nfds_t nfds = pool->report_fd >= 0 ? 2 : 1;
        pthread_mutex_unlock(&pool->lock);
        int timeout = -1;
        if (next != PP_FOREVER) {
            uint64_t now = pp_now_ns();
            timeout = next <= now ? 0 : (int)((next - now + 999999) / 1000000);
        }
        poll(fds, nfds, timeout);
        uint64_t count;
        while (read(pool->event_fd, &count, sizeof count) > 0)
            ;
        atomic_store(&shm->monitor_asleep, 0);
        pthread_mutex_lock(&pool->lock);
    }
    pthread_mutex_unlock(&pool->lock);
    return NULL;
}

int pp_monitor_start(pp_pool *pool)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* the program's signals go to its threads */
    int rc = pthread_create(&pool->monitor, NULL, monitor_main, pool);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        errno = rc;
        return PP_ESYS;
    }
    return PP_OK;
}
