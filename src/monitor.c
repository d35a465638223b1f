/* SPDX-License-Identifier: MIT */
/*
 * monitor: the master's one library thread per pool. It sleeps on the
 * pool's monitor eventcount in shared memory (shm.h), which workers and the
 * spawner kick: no descriptor a task could close stands between them. Each
 * round, under the pool lock, it:
 *   - reads the spawner's reports (workers.c: starts, deaths, stops);
 *   - harvests DONE slots, sweeps limbo and feeds the backlog (dispatch.c);
 *   - answers GROW requests with arena space;
 *   - keeps the number of workers right (workers.c; not for a remote pool,
 *     whose backend owns its processes);
 *   - kills workers whose task ran past its deadline (deadline.c);
 * then runs queued done-callbacks without the lock.
 *
 * It reads the eventcount at the start of each round and sleeps only while
 * the count is unchanged, so a kick that lands at any point of the round ends
 * the sleep at once: no kick is lost (monitor_asleep only spares kickers the
 * wake-up call while it is awake). It sleeps until
 * the next deadline expiry, or HEARTBEAT_NS at most: a spawner that dies
 * cannot kick, and the heartbeat finds its closed channel.
 */
#define _GNU_SOURCE
#include "monitor.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>

#include "deadline.h"
#include "dispatch.h"
#include "sync.h"
#include "workers.h"

#define HEARTBEAT_NS 250000000ull

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
        pp__arena_free(&pool->arena, &si->grant);
        if (si->owner && pp__arena_alloc(&pool->arena, slot->grow_len, &si->grant) == PP_OK) {
            slot->grant_off = si->grant.off;
            slot->grant_cap = si->grant.size;
        } else {
            slot->grant_off = slot->grant_cap = 0;
        }
        atomic_store(&slot->state, ST_MAKE(SLOT_RUNNING, w, ST_GEN(st)));
        pp__futex_wake(&slot->state, 0x7fffffff, true);
        any = true;
    }
    return any;
}

static void run_callbacks(pp_pool *pool)
{
    while (pool->cb_queue) {
        pp_future *f = pool->cb_queue;
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
        f->flags &= (uint16_t)~FUT_CALLBACKS;
        pp__future_maybe_free(f);
    }
}

/* Whether anything arrived since the last round that the monitor must see
   before it sleeps (checked after monitor_asleep is set). */
static bool work_waiting(pp_pool *pool)
{
    struct pp_shm *shm = pool->shm;
    if (pool->cb_queue || pool->stop_monitor || pp__feed_possible(pool))
        return true;
    for (uint32_t w = 0; w < pool->nworkers; w++) {
        uint32_t s = atomic_load(&shm->workers[w].intent);
        if (s < shm->nslots && ST_KIND(atomic_load(&shm->slots[s].state)) == SLOT_GROW)
            return true;
    }
    if (atomic_load(&shm->kick_on_done))
        for (uint32_t i = 0; i <= shm->nslots / 64; i++)
            if (atomic_load(&shm->done_bits[i]))
                return true;
    return false;
}

static void *monitor_main(void *arg)
{
    pp_pool *pool = arg;
    struct pp_shm *shm = pool->shm;
    pp__set_monitor_thread(pool);
    pthread_mutex_lock(&pool->lock);
    while (!pool->stop_monitor || pool->cb_queue) {
        uint32_t seen = atomic_load(&shm->monitor_seq); /* any kick from here on ends the sleep */
        pp__read_reports(pool, false);
        pp__harvest_all(pool);
        serve_grow(pool);
        if (!pool->remote)
            pp__manage_workers(pool);
        pp__arena_tick(&pool->arena, pp__now_ns());
        if (pool->cb_queue) {
            run_callbacks(pool);
            continue;
        }
        atomic_store(&shm->monitor_asleep, 1);
        uint64_t next = pp__check_deadlines(pool);
        if (work_waiting(pool)) {
            atomic_store(&shm->monitor_asleep, 0);
            continue;
        }
        pthread_mutex_unlock(&pool->lock);
        uint64_t beat = pp__now_ns() + HEARTBEAT_NS;
        pp__futex_wait(&shm->monitor_seq, seen, true, next < beat ? next : beat);
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
    pp__shm_kick(pool->shm);
    pthread_mutex_unlock(&pool->lock);
    pthread_join(pool->monitor, NULL);
    pool->monitor_started = false;
}
