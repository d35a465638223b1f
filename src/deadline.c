/* SPDX-License-Identifier: MIT */
/*
 * deadline: the deadline policy. A deadline counts wall-clock time from the
 * moment a worker starts the task (the worker records started_ns and kicks
 * the monitor). When it passes, the monitor has the spawner SIGKILL the
 * worker's process group and remembers which task (by the worker's claim
 * count) it meant; the death handler (workers.c) then fails that task with
 * PP_EDEADLINE, or re-queues a task the worker took after finishing the
 * doomed one. Durations of PP_HUGE_SECONDS or more mean no limit, so no sum
 * here can wrap.
 */
#define _GNU_SOURCE
#include "deadline.h"

#include <signal.h>

#include "sync.h"

int pp__deadline_from_seconds(double seconds, uint64_t *ns)
{
    *ns = 0;
    if (!(seconds >= 0)) /* negative or NaN */
        return PP_EINVAL;
    if (seconds == 0 || seconds >= PP_HUGE_SECONDS)
        return PP_OK;
    *ns = pp__seconds_to_ns(seconds);
    if (*ns == 0)
        *ns = 1;
    return PP_OK;
}

uint64_t pp__check_deadlines(pp_pool *pool)
{
    uint64_t next = PP_FOREVER, now = pp__now_ns();
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
        uint64_t expiry = pp__add_sat(started, limit); /* started may be later than now */
        if (now >= expiry) {
            wi->deadline_kill = true;
            wi->kill_seq = seq;
            pp__spawner_send(&pool->spawner, SPAWN_KILL, (int)w, SIGKILL);
        } else if (expiry < next) {
            next = expiry;
        }
    }
    return next;
}
