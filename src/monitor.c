/* SPDX-License-Identifier: MIT */
/*
 * monitor: the master's service thread, one per pool. It runs no user code
 * (callbacks have their own thread, callback.c), so nothing a caller does
 * can keep it from its rounds. It sleeps on the pool's monitor eventcount in
 * shared memory (shm.h), which workers and the spawner kick: no descriptor a
 * task could close stands between them. Each round, under the pool lock, it:
 *   - reads the spawner's reports (workers.c: starts, deaths, stops);
 *   - harvests DONE slots, sweeps limbo and feeds the backlog (dispatch.c);
 *   - answers GROW requests with arena space;
 *   - keeps the number of workers right, retrying failed starts (workers.c;
 *     not for a remote pool, whose backend owns its processes);
 *   - kills workers whose task ran past its deadline (deadline.c) or, with
 *     the processes it started, past its CPU limit (cpulimit.c);
 *   - sweeps the shared memory for damage (audit.c).
 *
 * It reads the eventcount at the start of each round and sleeps only while
 * the count is unchanged, so a kick that lands at any point of the round ends
 * the sleep at once: no kick is lost (monitor_asleep only spares kickers the
 * wake-up call while it is awake). It sleeps until the next deadline,
 * sample, retry or sweep, or HEARTBEAT_NS at most: a spawner that dies
 * cannot kick, and the heartbeat finds its closed channel.
 */
#define _GNU_SOURCE
#include "monitor.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>

#include "audit.h"
#include "cpulimit.h"
#include "deadline.h"
#include "dispatch.h"
#include "slot.h"
#include "sync.h"
#include "workers.h"

#define HEARTBEAT_NS 250000000ull

/* Whether live worker w asks for result space for the slot it runs. */
static bool asks_grow(pp_pool *pool, uint32_t w, uint32_t *s, struct pp_slot_view *v)
{
    *s = atomic_load(&pool->lay.workers[w].intent);
    if (!pool->workers[w].alive || *s >= pool->lay.nslots || !pool->slots[*s].owner)
        return false;
    *v = pp__slot_look(pool, *s);
    return v->kind == SLOT_GROW && v->worker == w;
}

/* Answers workers that ask for result space (GROW). */
static void serve_grow(pp_pool *pool)
{
    for (uint32_t w = 0; w < pool->nworkers; w++) {
        uint32_t s;
        struct pp_slot_view v;
        if (!asks_grow(pool, w, &s, &v))
            continue;
        struct pp_slot *slot = &pool->lay.slots[s];
        struct pp_slot_info *si = &pool->slots[s];
        uint64_t want = slot->grow_len;
        pp__arena_free(&pool->arena, &si->old_grant); /* two back: nothing reads it now */
        si->old_grant = si->grant;                    /* the worker may copy from it */
        si->grant = (pp_block){0};
        if (want <= PP_ARENA_MAX_BLOCK && pp__arena_fits(&pool->arena, want) &&
            pp__arena_alloc(&pool->arena, want, 0, &si->grant) == PP_OK) {
            slot->grant_off = si->grant.off;
            slot->grant_cap = si->grant.size;
        } else {
            slot->grant_off = slot->grant_cap = 0; /* the task's pp_task_result_buffer gets NULL */
        }
        atomic_store(&slot->state, ST_MAKE(SLOT_RUNNING, w, ST_GEN(v.word)));
        pp__futex_wake(&slot->state, 0x7fffffff, true);
    }
}

/* Whether anything arrived since the last round that the monitor must see
   before it sleeps (checked after monitor_asleep is set). */
static bool work_waiting(pp_pool *pool)
{
    const struct pp_layout *lay = &pool->lay;
    if (pool->stop_monitor || pp__feed_possible(pool))
        return true;
    for (uint32_t w = 0; w < pool->nworkers; w++) {
        uint32_t s;
        struct pp_slot_view v;
        if (asks_grow(pool, w, &s, &v))
            return true;
    }
    if (atomic_load(&lay->shm->kick_on_done))
        for (uint32_t i = 0; i <= lay->nslots / 64; i++)
            if (atomic_load(&lay->done_bits[i]))
                return true;
    return false;
}

static uint64_t earliest(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

static void *monitor_main(void *arg)
{
    pp_pool *pool = arg;
    struct pp_shm *shm = pool->lay.shm;
    pthread_mutex_lock(&pool->lock);
    while (!pool->stop_monitor) {
        uint32_t seen = atomic_load(&shm->monitor_seq); /* any kick from here on ends the sleep */
        uint64_t next = pp__now_ns() + HEARTBEAT_NS;
        pp__read_reports(pool, false);
        pp__harvest_all(pool);
        if (!pool->remote) {
            serve_grow(pool);
            next = earliest(next, pp__manage_workers(pool));
        }
        pp__arena_tick(&pool->arena, pp__now_ns());
        atomic_store(&shm->monitor_asleep, 1);
        if (!pool->remote) {
            next = earliest(next, pp__check_deadlines(pool));
            next = earliest(next, pp__check_cpu_limits(pool));
            if (pool->unfinished || pool->closing)
                next = earliest(next, pp__audit(pool));
        }
        if (work_waiting(pool)) {
            atomic_store(&shm->monitor_asleep, 0);
            continue;
        }
        pthread_mutex_unlock(&pool->lock);
        pp__futex_wait(&shm->monitor_seq, seen, true, next);
        atomic_store(&shm->monitor_asleep, 0);
        pthread_mutex_lock(&pool->lock);
    }
    pthread_mutex_unlock(&pool->lock);
    return NULL;
}

int pp__monitor_start(pp_pool *pool)
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
    pool->monitor_started = true;
    return PP_OK;
}

void pp__monitor_stop(pp_pool *pool)
{
    if (!pool->monitor_started)
        return;
    pthread_mutex_lock(&pool->lock);
    pool->stop_monitor = true;
    pp__shm_kick(pool->lay.shm);
    pthread_mutex_unlock(&pool->lock);
    pthread_join(pool->monitor, NULL);
    pool->monitor_started = false;
}
