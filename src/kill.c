/* SPDX-License-Identifier: MIT */
/*
 * kill: every kill has one owner. Whatever makes the master kill a worker
 * (a deadline, a CPU limit, pp_future_kill, a slot a task damaged,
 * pp_pool_terminate, a stopped worker at destroy) records it here before
 * the signal goes out, with the task it was aimed at; the death handler
 * (workers.c) reads the record, so a death the pool caused is never taken
 * for a crash whatever the timing: it never breaks the pool, and it reports
 * its own status, also when the task it was meant for had already finished
 * (then the task the worker took since runs again elsewhere).
 */
#define _GNU_SOURCE
#include "kill.h"

static void record(pp_pool *pool, uint32_t w, enum pp_kill why, int sig, uint32_t s, uint64_t started)
{
    struct pp_worker_info *wi = &pool->workers[w];
    if (wi->kill != KILL_NONE)
        return;
    wi->kill = (uint8_t)why;
    wi->kill_sig = sig;
    wi->kill_slot = s;
    wi->kill_gen = s < pool->lay.nslots ? pool->slots[s].gen : 0;
    wi->kill_started = started;
}

void pp__kill_worker(pp_pool *pool, uint32_t w, enum pp_kill why, int sig, uint32_t s, uint64_t started)
{
    if (!pool->workers[w].alive)
        return;
    record(pool, w, why, sig, s, started);
    pp__spawner_send(&pool->spawner, SPAWN_KILL, (int)w, sig);
}

void pp__kill_all(pp_pool *pool, enum pp_kill why, int sig)
{
    for (uint32_t w = 0; w < pool->nworkers; w++)
        if (pool->workers[w].alive)
            record(pool, w, why, sig, PP_NO_SLOT, 0);
    pp__spawner_send(&pool->spawner, SPAWN_KILL_ALL, 0, sig);
}
