/* SPDX-License-Identifier: MIT */
/*
 * pool: a pool's life once created (create.c). pp_shutdown stops submits
 * and, with wait, blocks until every task is done, every done-callback has
 * run (as Python's shutdown joins the thread that runs them), every worker
 * has exited and the spawner is gone (a remote pool: its backend has
 * released its processes); pp_pool_terminate also signals every worker, and from then on
 * no worker starts (a worker leaving at max_tasks_per_child is not
 * replaced, so no initializer runs again); pp_pool_destroy shuts down
 * (ending workers that something stopped), ends the threads and frees
 * everything. A pool belongs to the process that created it: calls from any
 * other process (a child the program forked) get PP_ESTATE and touch
 * nothing. Inside a done-callback, a shutdown that would wait is PP_ESTATE
 * and destroy does nothing (it would join the thread running the callback).
 */
#define _GNU_SOURCE
#include <signal.h>

#include "callback.h"
#include "create.h"
#include "dispatch.h"
#include "kill.h"
#include "monitor.h"
#include "owner.h"
#include "sync.h"
#include "workers.h"

int pp_shutdown(pp_pool *pool, bool wait, bool cancel_futures)
{
    if (!pool)
        return PP_EINVAL;
    if (pp__foreign(pool->owner_pid))
        return PP_ESTATE;
    if (wait && pp__in_callback())
        return PP_ESTATE;
    pthread_mutex_lock(&pool->lock);
    pool->shutdown = true;
    if (wait)
        pool->draining = true; /* an open map of this thread's must not keep it waiting */
    if (cancel_futures) {
        pool->cancelling = true;
        pp__cancel_pending(pool);
    }
    pp__update_kicks(pool);
    pp__shm_kick(pool->lay.shm);
    while (wait && !(pool->unfinished == 0 && pool->spawner_gone && !pool->cb_head && !pool->cb_running)) {
        uint32_t seen = pp__epoch_read();
        pthread_mutex_unlock(&pool->lock);
        pp__epoch_wait(seen, PP_FOREVER);
        pthread_mutex_lock(&pool->lock);
    }
    pthread_mutex_unlock(&pool->lock);
    return PP_OK;
}

static bool stops(int sig)
{
    return sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
}

int pp_pool_terminate(pp_pool *pool, int sig)
{
    if (!pool || sig <= 0 || sig >= NSIG || stops(sig))
        return PP_EINVAL;
    int rc = pp_shutdown(pool, false, true);
    if (rc != PP_OK)
        return rc;
    if (pool->remote) {
        pool->remote->terminate(pool->remote, sig);
        return PP_OK;
    }
    pthread_mutex_lock(&pool->lock);
    pool->terminated = true;
    if (!pool->broken)
        pp__kill_all(pool, KILL_TERMINATE, sig);
    pthread_mutex_unlock(&pool->lock);
    return PP_OK;
}

void pp_pool_destroy(pp_pool *pool)
{
    if (!pool || pp__foreign(pool->owner_pid) || pp__in_callback())
        return;
    pthread_mutex_lock(&pool->lock);
    pool->destroying = true; /* the monitor ends stopped workers */
    pthread_mutex_unlock(&pool->lock);
    pp_shutdown(pool, true, false);
    if (pool->remote)
        pool->remote->stop(pool->remote);
    pp__monitor_stop(pool);
    pp__callbacks_stop(pool);
    pp__pool_teardown(pool);
}

int pp_pool_max_workers(const pp_pool *pool)
{
    if (!pool)
        return PP_EINVAL;
    return (int)pool->nworkers;
}

int pp_pool_stats(const pp_pool *pool, pp_stats *out)
{
    if (!pool || !out)
        return PP_EINVAL;
    if (pp__foreign(pool->owner_pid))
        return PP_ESTATE;
    pp_pool *p = (pp_pool *)pool;
    pthread_mutex_lock(&p->lock);
    pp__read_reports(p, false); /* count what the spawner has already told */
    pp__harvest_all(p);         /* and what workers have finished */
    *out = p->stats;
    out->workers_alive = p->alive;
    out->shm_bytes_in_use = p->arena.in_use;
    if (p->remote && p->remote->stats)
        p->remote->stats(p->remote, out);
    pthread_mutex_unlock(&p->lock);
    return PP_OK;
}
