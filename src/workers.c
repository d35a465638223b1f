/* SPDX-License-Identifier: MIT */
/*
 * workers: the replacement policy. The spawner reports every start, failed
 * start, stop and death of a worker; this file decides what each means.
 *
 * A death settles the slot the worker held (handle_death):
 *   - RUNNING/GROW by it, killed for that task's deadline: PP_EDEADLINE;
 *     killed for a deadline of a task it had already finished: the task it
 *     took since is re-queued (it may run twice; it is reported once);
 *   - RUNNING/GROW by it, SIGKILLed by its own CPU-time timer (the task had
 *     a cpu_limit, and the reaped worker used that much CPU on it): PP_ELIMIT;
 *   - RUNNING/GROW by it otherwise: PP_ECRASHED (PP_EBROKEN under
 *     PP_BREAK_POOL) with the signal or exit status in the message;
 *   - PENDING, taken from the ring but never claimed: re-queued;
 *   - DONE but not yet harvested: harvested.
 * Under PP_BREAK_POOL any abrupt death (a signal, or a nonzero exit) breaks
 * the pool, running or idle, as Python's executor does; a worker that dies
 * before its initializer returned 0 breaks it in either mode. Deaths the
 * pool caused (deadline and CPU-limit kills, terminate, shutdown) never break
 * it. A worker that left for passing max_rss_per_child counts as recycled.
 * A dead task's cost is its start, the moment the death was learnt, and the
 * CPU the reaped worker used since the task started (wait4's figures).
 *
 * Otherwise a dead worker is replaced. Start commands are sent at most
 * START_WINDOW at a time, so the command channel never fills.
 */
#define _GNU_SOURCE
#include "workers.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dispatch.h"
#include "ring.h"
#include "sync.h"

#define START_WINDOW 64 /* start commands in flight */

static void wake_all_workers(struct pp_shm *shm)
{
    atomic_fetch_add(&shm->work_seq, 1);
    pp__futex_wake(&shm->work_seq, 0x7fffffff, true);
}

void pp__workers_break(pp_pool *pool, int status)
{
    if (pool->broken)
        return;
    pp__break_pool(pool, status);
    atomic_store(&pool->shm->closing, 1);
    wake_all_workers(pool->shm);
    pp__spawner_send(&pool->spawner, SPAWN_KILL_ALL, 0, SIGKILL);
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

/* What the task in slot s used until its worker died (report r). */
static struct pp_cost death_cost(const struct pp_worker_rec *rec, const struct pp_slot *slot,
                                 const struct pp_report *r)
{
    struct pp_cost c = {.started_ns = slot->started_ns, .finished_ns = pp__now_ns()};
    if ((uint64_t)r->user_us >= rec->user0_us && (uint64_t)r->sys_us >= rec->sys0_us && r->maxrss_kb > 0) {
        c.user_us = (uint64_t)r->user_us - rec->user0_us;
        c.sys_us = (uint64_t)r->sys_us - rec->sys0_us;
        c.peak_rss = (uint64_t)r->maxrss_kb * 1024u;
    }
    return c;
}

enum settled { NOTHING, CRASHED, KILLED_BY_POLICY };

/* Settles the slot worker w held when it died. */
static enum settled settle_slot(pp_pool *pool, uint32_t w, const struct pp_report *r)
{
    struct pp_worker_rec *rec = &pool->shm->workers[w];
    struct pp_worker_info *wi = &pool->workers[w];
    uint32_t s = atomic_load(&rec->intent);
    if (s >= pool->shm->nslots)
        return NOTHING;
    struct pp_slot *slot = &pool->shm->slots[s];
    uint32_t st = atomic_load(&slot->state);
    uint32_t kind = ST_KIND(st);
    int status = r->status;
    pid_t pid = r->pid;
    char msg[160];
    if ((kind == SLOT_RUNNING || kind == SLOT_GROW) && ST_WORKER(st) == w) {
        struct pp_cost cost = death_cost(rec, slot, r);
        if (wi->deadline_kill && atomic_load(&rec->seq) == wi->kill_seq) {
            snprintf(msg, sizeof msg, "task ran past its deadline of %.3f s; worker %d killed",
                     (double)slot->deadline_ns / 1e9, (int)pid);
            pp__finish_slot(pool, s, PP_EDEADLINE, -SIGKILL, msg, &cost);
            return KILLED_BY_POLICY;
        }
        uint64_t cpu_ns = (cost.user_us + cost.sys_us) * 1000u;
        if (slot->cpu_limit_ns && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL && !wi->deadline_kill &&
            cpu_ns >= slot->cpu_limit_ns - slot->cpu_limit_ns / 20) {
            snprintf(msg, sizeof msg, "task used %.3f s of CPU, past its limit of %.3f s; worker %d killed",
                     (double)cpu_ns / 1e9, (double)slot->cpu_limit_ns / 1e9, (int)pid);
            pp__finish_slot(pool, s, PP_ELIMIT, -SIGKILL, msg, &cost);
            return KILLED_BY_POLICY;
        }
        if (wi->deadline_kill) {
            pp__requeue_slot(pool, s); /* killed for a task it had already finished */
            return KILLED_BY_POLICY;
        }
        int code;
        crash_message(msg, sizeof msg, pid, status, &code);
        bool breaks = pool->broken || pool->cfg.on_crash == PP_BREAK_POOL;
        pp__finish_slot(pool, s, breaks ? PP_EBROKEN : PP_ECRASHED, code, msg, &cost);
        return CRASHED;
    }
    if (kind == SLOT_PENDING && pool->slots[s].owner)
        pp__requeue_slot(pool, s); /* taken from the ring, never claimed */
    else if (kind == SLOT_DONE)
        pp__harvest(pool, s); /* died after publishing, before flagging it */
    return NOTHING;
}

/* A worker is gone (report r): settle the slot it held, then its records. */
static void handle_death(pp_pool *pool, uint32_t w, const struct pp_report *r)
{
    struct pp_worker_rec *rec = &pool->shm->workers[w];
    struct pp_worker_info *wi = &pool->workers[w];
    bool abrupt = !(WIFEXITED(r->status) && WEXITSTATUS(r->status) == 0);
    enum settled settled = settle_slot(pool, w, r);
    bool crashed = settled == CRASHED;
    bool ours = settled == KILLED_BY_POLICY || pool->shutdown; /* we killed it, or are closing */
    bool not_ready = pool->cfg.initializer && !atomic_load(&rec->ready);
    if (atomic_load(&rec->recycled))
        pool->stats.workers_recycled++;
    if (atomic_load(&rec->idle))
        atomic_fetch_sub(&pool->shm->idle_workers, 1);
    if (atomic_load(&rec->spinning))
        atomic_fetch_sub(&pool->shm->spinners, 1);
    atomic_store(&rec->intent, PP_NO_SLOT);
    atomic_store(&rec->seq, 0);
    atomic_store(&rec->started_ns, 0);
    atomic_store(&rec->idle, 0);
    atomic_store(&rec->spinning, 0);
    atomic_store(&rec->ready, 0);
    atomic_store(&rec->recycled, 0);
    *wi = (struct pp_worker_info){0};
    pool->alive--;
    pool->spawn_errno = 0;
    if ((not_ready && !pool->shutdown) ||
        (pool->cfg.on_crash == PP_BREAK_POOL && (crashed || (abrupt && !ours))))
        pp__workers_break(pool, PP_EBROKEN);
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
    case REPORT_STOPPED: wi->stopped = r->status != 0; break;
    case REPORT_EXITED: handle_death(pool, (uint32_t)r->worker, r); break;
    }
    pp__epoch_bump();
}

bool pp__read_reports(pp_pool *pool, bool block)
{
    if (pool->spawner.report_fd < 0)
        return false;
    if (block) {
        struct pollfd p = {.fd = pool->spawner.report_fd, .events = POLLIN};
        while (poll(&p, 1, -1) < 0 && errno == EINTR)
            ;
    }
    struct pp_report r[64];
    for (;;) {
        ssize_t n = read(pool->spawner.report_fd, r, sizeof r);
        if (n > 0) {
            for (ssize_t i = 0; i < n / (ssize_t)sizeof r[0]; i++)
                on_report(pool, &r[i]);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return true;
        break;
    }
    /* EOF: the spawner has exited (asked to, or killed) */
    pp__spawner_stop(&pool->spawner);
    pool->spawner_gone = true;
    if (pool->unfinished || !pool->shutdown) /* it did not leave because we asked */
        pp__workers_break(pool, PP_EBROKEN);
    for (uint32_t w = 0; w < pool->nworkers; w++) { /* no report will come for these */
        if (pool->workers[w].alive)
            handle_death(pool, w, &(struct pp_report){.pid = pool->workers[w].pid, .status = SIGKILL});
        pool->workers[w].starting = false;
    }
    pool->starting = 0;
    pp__epoch_bump();
    return false;
}

/* Asks for worker w; false when the channel is gone. */
static bool ask_start(pp_pool *pool, uint32_t w)
{
    if (pp__spawner_send(&pool->spawner, SPAWN_START, (int)w, 0) != PP_OK)
        return false;
    pool->workers[w].starting = true;
    pool->starting++;
    return true;
}

int pp__workers_start(pp_pool *pool)
{
    for (uint32_t w = 0; w < pool->nworkers; w++) {
        while (pool->starting >= START_WINDOW && pp__read_reports(pool, true))
            ;
        if (!ask_start(pool, w))
            break;
    }
    while (pool->starting && pp__read_reports(pool, true))
        ;
    if (pool->alive < pool->nworkers && !pool->broken) {
        errno = pool->spawn_errno ? pool->spawn_errno : ECHILD;
        return PP_ESYS;
    }
    return PP_OK;
}

void pp__manage_workers(pp_pool *pool)
{
    struct pp_shm *shm = pool->shm;
    if (pool->shutdown && !pool->backlog && !atomic_load(&shm->closing)) {
        atomic_store(&shm->closing, 1);
        wake_all_workers(shm);
    }
    if (pool->destroying)
        for (uint32_t w = 0; w < pool->nworkers; w++)
            if (pool->workers[w].alive && pool->workers[w].stopped) {
                pp__spawner_send(&pool->spawner, SPAWN_KILL, (int)w, SIGKILL);
                pool->workers[w].stopped = false; /* asked once */
            }
    uint64_t want = pool->nworkers;
    if (pool->broken || pool->spawner_gone)
        want = 0;
    else if (atomic_load(&shm->closing)) {
        uint64_t queued = pp__ring_count(&shm->ring);
        want = queued < want ? queued : want;
    }
    for (uint32_t w = 0; w < pool->nworkers && pool->alive + pool->starting < want && !pool->spawn_errno &&
                         pool->starting < START_WINDOW;
         w++) {
        struct pp_worker_info *wi = &pool->workers[w];
        if (!wi->alive && !wi->starting && !ask_start(pool, w))
            break;
    }
    /* shut down and drained: let the spawner go; its EOF ends the reports */
    if (pool->shutdown && atomic_load(&shm->closing) && !pool->alive && !pool->starting && !pool->unfinished &&
        pool->spawner.cmd_fd >= 0)
        pp__spawner_dismiss(&pool->spawner);
}
