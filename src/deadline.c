/* SPDX-License-Identifier: MIT */
/*
 * deadline: the deadline policy. A deadline counts wall-clock time from the
 * moment a worker starts the task, or, in a chunk of a map, each item (the
 * worker records the start in its record and kicks the monitor). When it
 * passes, the monitor has the spawner SIGKILL the worker's process group and
 * records which task it meant (kill.c); the death handler (workers.c) then
 * fails that task with PP_EDEADLINE, or re-queues a task the worker took
 * after finishing the doomed one. The limit is the master's own copy of what
 * it dispatched, and a start the worker recorded is believed only between
 * the dispatch and now (a task that wrote over its record gets the time the
 * monitor first saw it running). Durations of PP_HUGE_SECONDS or more mean
 * no limit, so no sum here can wrap.
 */
#define _GNU_SOURCE
#include "deadline.h"

#include <signal.h>

#include "kill.h"
#include "slot.h"
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
        struct pp_worker_rec *rec = &pool->lay.workers[w];
        uint32_t s = atomic_load(&rec->intent);
        if (!wi->alive || wi->kill != KILL_NONE || s >= pool->lay.nslots || !pool->slots[s].owner)
            continue;
        struct pp_slot_info *si = &pool->slots[s];
        struct pp_slot_view v = pp__slot_look(pool, s);
        if ((v.kind != SLOT_RUNNING && v.kind != SLOT_GROW) || v.worker != w)
            continue;
        wi->ran = true;
        if (!si->seen_running_ns)
            si->seen_running_ns = now;
        uint64_t limit = si->deadline_ns;
        if (!limit)
            continue;
        uint64_t raw = atomic_load(&rec->started_ns), started = raw;
        uint64_t at = pp__now_ns(); /* read after raw: an item begun meanwhile is no start from the future */
        if (started < si->dispatched_ns || started > at)
            started = si->seen_running_ns;
        uint64_t expiry = pp__add_sat(started, limit);
        if (at >= expiry)
            pp__kill_worker(pool, w, KILL_DEADLINE, SIGKILL, s, raw); /* meant for the item that began at raw */
        else if (expiry < next)
            next = expiry;
    }
    return next;
}
