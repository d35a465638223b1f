/* SPDX-License-Identifier: MIT */
/*
 * workers: the replacement policy. The spawner reports every start, failed
 * start, stop and death of a worker; this file decides what each means.
 *
 * A death settles the slot the worker held (settle_slot), reading why the
 * master killed it, if it did (kill.c: every kill has one owner):
 *   - RUNNING/GROW by it, killed for that task's deadline: PP_EDEADLINE; for
 *     that task's CPU limit (sampled with the processes it started), or by
 *     its own CPU-time timer (the task had a cpu_limit and the reaped worker
 *     used that much CPU on it): PP_ELIMIT; by pp_pool_terminate: PP_ECRASHED
 *     with -sig; a stopped worker ended by destroy: PP_ECRASHED;
 *   - RUNNING/GROW by it, killed for another task (one it had finished
 *     already): this one runs again elsewhere (it may run twice; it is
 *     reported once);
 *   - RUNNING/GROW by it otherwise: PP_ECRASHED (PP_EBROKEN under
 *     PP_BREAK_POOL) with the signal or exit status in the message;
 *   - PENDING, taken from the ring but never claimed: re-queued;
 *   - DONE but not yet harvested: harvested;
 *   - a slot abandoned for it (pp_future_kill, a damaged slot): freed.
 * A run that ended abruptly runs again while its retries last (settle.c).
 * Under PP_BREAK_POOL any abrupt death the master did not cause breaks the
 * pool, running or idle, as Python's executor does; a worker that dies
 * before its initializer returned 0 breaks it in either mode. Deaths the
 * pool caused never break it. A worker that left for passing
 * max_rss_per_child counts as recycled. A dead task's cost is its start,
 * the moment the death was learnt, and the CPU the reaped worker used since
 * the task started (wait4's figures).
 *
 * Replacement. A dead worker is replaced, never once the pool is
 * terminated, broken, or shut down with nothing left to run. A failed
 * start (fork's EAGAIN under RLIMIT_NPROC or a pids cgroup) is an event,
 * not a state (Erlang's supervisors, runit): it is retried after a delay
 * that doubles from SPAWN_BACKOFF_MIN_NS up to SPAWN_BACKOFF_MAX_NS (a start
 * that works resets it), and only when the pool has had no worker for
 * SPAWN_GIVE_UP_NS while work waited and every start failed does it break,
 * with fork's errno in the message.
 * Start commands are sent at most START_WINDOW at a time, so the command
 * channel never fills.
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
#include "harvest.h"
#include "kill.h"
#include "slot.h"
#include "sync.h"

#define START_WINDOW         64 /* start commands in flight */
#define SPAWN_BACKOFF_MIN_NS 10000000ull   /* 10 ms after the first failed start */
#define SPAWN_BACKOFF_MAX_NS 1000000000ull /* at most 1 s between tries */
#define SPAWN_GIVE_UP_NS     5000000000ull /* no worker for 5 s while work waits: the pool breaks */
#define LINGER_NS            1000000000ull /* a closed, drained pool's workers leave within this, or are killed */

void pp__workers_break(pp_pool *pool, int status, const char *message)
{
    if (pool->broken)
        return;
    pp__break_pool(pool, status, message);
    pool->closing = true;
    atomic_store(&pool->lay.shm->closing, 1);
    pp__wake_workers(pool, true);
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
    uint64_t user0 = rec->user0_us, sys0 = rec->sys0_us;
    if ((uint64_t)r->user_us >= user0 && (uint64_t)r->sys_us >= sys0 && r->maxrss_kb > 0) {
        c.user_us = (uint64_t)r->user_us - user0;
        c.sys_us = (uint64_t)r->sys_us - sys0;
        c.peak_rss = (uint64_t)r->maxrss_kb * 1024u;
    }
    return c;
}

enum settled { NOTHING, CRASHED, KILLED_BY_POLICY };

/* Whether worker w was killed for the task in slot s as it is now. */
static bool aimed_at(const pp_pool *pool, const struct pp_worker_info *wi, uint32_t s)
{
    return wi->kill_slot == s && wi->kill_gen == pool->slots[s].gen;
}

/* Settles the slot worker w held when it died. */
static enum settled settle_slot(pp_pool *pool, uint32_t w, const struct pp_report *r)
{
    struct pp_worker_rec *rec = &pool->lay.workers[w];
    struct pp_worker_info *wi = &pool->workers[w];
    uint32_t s = atomic_load(&rec->intent);
    if (s >= pool->lay.nslots || !pool->slots[s].owner)
        return NOTHING;
    struct pp_slot_info *si = &pool->slots[s];
    struct pp_slot *slot = &pool->lay.slots[s];
    struct pp_slot_view v = pp__slot_look(pool, s);
    int status = r->status;
    pid_t pid = r->pid;
    char msg[200];
    if ((v.kind == SLOT_RUNNING || v.kind == SLOT_GROW) && v.worker == w) {
        struct pp_cost cost = death_cost(rec, slot, r);
        uint64_t cpu_ns = (cost.user_us + cost.sys_us) * 1000u;
        bool aimed = aimed_at(pool, wi, s);
        if ((wi->kill == KILL_DEADLINE || wi->kill == KILL_CPU) && aimed &&
            atomic_load(&rec->started_ns) != wi->kill_started)
            si->owner->flags |= FUT_NO_CULPRIT; /* a chunk's item met its limit as it ended; the next one runs */
        if (wi->kill == KILL_DEADLINE && aimed) {
            snprintf(msg, sizeof msg, "task ran past its deadline of %.3f s; worker %d killed",
                     (double)si->deadline_ns / 1e9, (int)pid);
            pp__finish_slot(pool, s, PP_EDEADLINE, -SIGKILL, msg, &cost);
            return KILLED_BY_POLICY;
        }
        if (wi->kill == KILL_CPU && aimed) {
            snprintf(msg, sizeof msg,
                     "task and the processes it started passed its CPU limit of %.3f s; worker %d killed",
                     (double)si->cpu_limit_ns / 1e9, (int)pid);
            pp__finish_slot(pool, s, PP_ELIMIT, -SIGKILL, msg, &cost);
            return KILLED_BY_POLICY;
        }
        if (si->cpu_limit_ns && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL && wi->kill == KILL_NONE &&
            cpu_ns >= si->cpu_limit_ns - si->cpu_limit_ns / 20) {
            snprintf(msg, sizeof msg, "task used %.3f s of CPU, past its limit of %.3f s; worker %d killed",
                     (double)cpu_ns / 1e9, (double)si->cpu_limit_ns / 1e9, (int)pid);
            pp__finish_slot(pool, s, PP_ELIMIT, -SIGKILL, msg, &cost);
            return KILLED_BY_POLICY;
        }
        if (wi->kill == KILL_TERMINATE || wi->kill == KILL_STOPPED) {
            int code;
            crash_message(msg, sizeof msg, pid, status, &code);
            size_t n = strlen(msg);
            snprintf(msg + n, sizeof msg - n, "%s",
                     wi->kill == KILL_TERMINATE ? " (pp_pool_terminate)" : " (stopped, ended by pp_pool_destroy)");
            pp__finish_slot(pool, s, PP_ECRASHED, code, msg, &cost);
            return KILLED_BY_POLICY;
        }
        if (wi->kill != KILL_NONE && slot->res_len) {
            /* killed for a task it had already finished, in a map or stream
               chunk that named its result area: what its items finished is
               kept, and no item is blamed (map.c, stream.c) */
            si->owner->flags |= FUT_NO_CULPRIT;
            snprintf(msg, sizeof msg, "worker %d was killed for the task it had run before", (int)pid);
            pp__finish_slot(pool, s, PP_ECRASHED, -SIGKILL, msg, &cost);
            return KILLED_BY_POLICY;
        }
        if (wi->kill != KILL_NONE) {
            pp__requeue_slot(pool, s); /* killed for a task it had already finished: it runs again */
            return KILLED_BY_POLICY;
        }
        int code;
        crash_message(msg, sizeof msg, pid, status, &code);
        bool breaks = pool->broken || pool->cfg.on_crash == PP_BREAK_POOL;
        pp__finish_slot(pool, s, breaks ? PP_EBROKEN : PP_ECRASHED, code, msg, &cost);
        return CRASHED;
    }
    if (v.kind == SLOT_PENDING)
        pp__requeue_slot(pool, s); /* taken from the ring, never claimed */
    else if (v.kind == SLOT_DONE)
        pp__harvest(pool, s); /* died after publishing, before flagging it */
    return NOTHING;
}

/* A worker is gone (report r): settle the slot it held, then its records. */
static void handle_death(pp_pool *pool, uint32_t w, const struct pp_report *r)
{
    struct pp_worker_rec *rec = &pool->lay.workers[w];
    struct pp_worker_info *wi = &pool->workers[w];
    bool abrupt = !(WIFEXITED(r->status) && WEXITSTATUS(r->status) == 0);
    enum settled settled = settle_slot(pool, w, r);
    uint32_t target = wi->kill_slot;
    if (wi->kill != KILL_NONE && target < pool->lay.nslots && pool->slots[target].abandoned)
        pp__slot_release(pool, target); /* nothing writes there any more */
    bool ours = wi->kill != KILL_NONE || settled == KILLED_BY_POLICY;
    bool ready = atomic_load(&rec->ready) || wi->ran || settled != NOTHING;
    bool not_ready = pool->cfg.initializer && !ready && !pool->shutdown && !ours;
    if (atomic_load(&rec->recycled))
        pool->stats.workers_recycled++;
    if (atomic_load(&rec->idle))
        atomic_fetch_sub(&pool->lay.shm->idle_workers, 1);
    if (atomic_load(&rec->spinning))
        atomic_fetch_sub(&pool->lay.shm->spinners, 1);
    atomic_store(&rec->intent, PP_NO_SLOT);
    atomic_store(&rec->started_ns, 0);
    atomic_store(&rec->idle, 0);
    atomic_store(&rec->spinning, 0);
    atomic_store(&rec->ready, 0);
    atomic_store(&rec->recycled, 0);
    *wi = (struct pp_worker_info){.kill_slot = PP_NO_SLOT};
    pool->alive--;
    if (not_ready)
        pp__workers_break(pool, PP_EBROKEN, "the initializer failed in a new worker");
    else if (pool->cfg.on_crash == PP_BREAK_POOL && (settled == CRASHED || (abrupt && !ours)))
        pp__workers_break(pool, PP_EBROKEN, "a worker died (on_crash = PP_BREAK_POOL)");
}

static void start_failed(pp_pool *pool, int err)
{
    uint64_t now = pp__now_ns();
    pool->spawn.err = err;
    uint64_t b = pool->spawn.backoff;
    pool->spawn.backoff = b ? (2 * b < SPAWN_BACKOFF_MAX_NS ? 2 * b : SPAWN_BACKOFF_MAX_NS) : SPAWN_BACKOFF_MIN_NS;
    pool->spawn.retry_at = now + pool->spawn.backoff;
}

static void on_report(pp_pool *pool, const struct pp_report *r)
{
    if (r->worker < 0 || (uint32_t)r->worker >= pool->nworkers)
        return;
    struct pp_worker_info *wi = &pool->workers[r->worker];
    switch (r->kind) {
    case REPORT_STARTED:
        *wi = (struct pp_worker_info){.pid = r->pid, .alive = true, .kill_slot = PP_NO_SLOT};
        pool->starting--;
        pool->alive++;
        pool->stats.workers_started++;
        pool->spawn.backoff = 0;
        break;
    case REPORT_FAILED:
        wi->starting = false;
        pool->starting--;
        start_failed(pool, r->status);
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
        pp__workers_break(pool, PP_EBROKEN, "the pool's fork server died");
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
        errno = pool->spawn.err ? pool->spawn.err : ECHILD;
        return PP_ESYS;
    }
    return PP_OK;
}

/* Tasks dispatched and not yet claimed by a worker. */
static uint64_t unclaimed(pp_pool *pool)
{
    uint64_t n = 0;
    for (uint32_t s = 0; s < pool->lay.nslots; s++)
        if (pool->slots[s].owner && pp__slot_look(pool, s).kind == SLOT_PENDING)
            n++;
    return n;
}

/* Whether anything waits for a worker. */
static bool work_waits(pp_pool *pool)
{
    return !pp__list_empty(&pool->backlog) || unclaimed(pool);
}

uint64_t pp__manage_workers(pp_pool *pool)
{
    struct pp_shm *shm = pool->lay.shm;
    uint64_t now = pp__now_ns(), next = PP_FOREVER;
    if (pp__drained(pool) && !pool->closing) {
        pool->closing = true;
        atomic_store(&shm->closing, 1);
        pp__wake_workers(pool, true);
    }
    if (pool->destroying)
        for (uint32_t w = 0; w < pool->nworkers; w++)
            if (pool->workers[w].alive && pool->workers[w].stopped) {
                pp__kill_worker(pool, w, KILL_STOPPED, SIGKILL, PP_NO_SLOT, 0);
                pool->workers[w].stopped = false; /* asked once */
            }
    uint64_t want = pool->nworkers;
    if (pool->broken || pool->spawner_gone || pool->terminated) {
        want = 0;
    } else if (pool->closing) {
        uint64_t queued = unclaimed(pool);
        want = queued < want ? queued : want;
    }
    /* starving: no worker, the last start failed (one in flight does not
       end it: only one that works does), and work waits */
    bool starving = !pool->alive && want && pool->spawn.backoff && work_waits(pool);
    if (!starving) {
        pool->spawn.starving_since = 0;
    } else if (!pool->spawn.starving_since) {
        pool->spawn.starving_since = now;
    } else if (now - pool->spawn.starving_since >= SPAWN_GIVE_UP_NS) {
        char msg[160];
        snprintf(msg, sizeof msg, "no worker could be started for %.0f s: fork: %s", SPAWN_GIVE_UP_NS / 1e9,
                 strerror(pool->spawn.err));
        pp__workers_break(pool, PP_EBROKEN, msg);
        return next;
    }
    if (pool->alive + pool->starting < want && now < pool->spawn.retry_at)
        return pool->spawn.retry_at; /* a start failed: try again then */
    for (uint32_t w = 0; w < pool->nworkers && pool->alive + pool->starting < want && pool->starting < START_WINDOW;
         w++) {
        struct pp_worker_info *wi = &pool->workers[w];
        if (!wi->alive && !wi->starting && !ask_start(pool, w))
            break;
    }
    if (pool->spawn.starving_since)
        next = pool->spawn.starving_since + SPAWN_GIVE_UP_NS;
    /* closed with nothing left to run: a worker still there runs what no
       future owns (a task that lied about its end); it gets a second */
    if (pool->closing && !pool->unfinished && pool->alive) {
        if (!pool->idle_since) {
            pool->idle_since = now;
        } else if (now - pool->idle_since >= LINGER_NS) {
            pp__kill_all(pool, KILL_LINGERING, SIGKILL);
            pool->idle_since = now; /* and again a second later, for one started meanwhile */
        }
        next = next < pool->idle_since + LINGER_NS ? next : pool->idle_since + LINGER_NS;
    } else {
        pool->idle_since = 0;
    }
    /* shut down and drained: let the spawner go; its EOF ends the reports */
    if (pool->shutdown && pool->closing && !pool->alive && !pool->starting && !pool->unfinished &&
        pool->spawner.cmd_fd >= 0)
        pp__spawner_dismiss(&pool->spawner);
    return next;
}
