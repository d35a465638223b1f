/* SPDX-License-Identifier: MIT */
/*
 * callback: done-callbacks run off the threads that service the pool. A
 * future that completes with callbacks is queued, with a reference, on the
 * pool's callback queue; one callback thread per pool (started by the first
 * callback added to a future not yet done) takes it under the lock and runs
 * its callbacks without it, in the order they were added, then puts the
 * reference. A callback that blocks, or waits, delays later callbacks only:
 * never harvesting, result-space grants, deaths or deadlines, which the
 * monitor thread does (the libuv threadpool's way: work done on one thread,
 * its callback run on another). Callbacks added to a done future run at once
 * on the caller's thread, as Python's do, unless earlier ones still wait:
 * then they run after those.
 *
 * Inside a callback (this thread's depth counter), every call that would
 * have to wait returns PP_ESTATE at once, so a callback can neither
 * deadlock the thread that runs the others nor stall it for a timeout; a
 * call that can answer at once (a poll, the result of a done future) answers.
 */
#define _GNU_SOURCE
#include "callback.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>

#include "lifetime.h"
#include "sync.h"

static _Thread_local unsigned depth;

bool pp__in_callback(void)
{
    return depth > 0;
}

void pp__callback_run(pp_future *f, pp_done_fn cb, void *ud)
{
    depth++;
    cb(f, ud);
    depth--;
}

/* The callback queue: a FIFO through cb_next (only this file touches it). */
static pp_future *queue_pop(pp_pool *pool)
{
    pp_future *f = pool->cb_head;
    if (f) {
        pool->cb_head = f->cb_next;
        if (!pool->cb_head)
            pool->cb_tail = NULL;
        f->cb_next = NULL;
    }
    return f;
}

static void queue_push(pp_pool *pool, pp_future *f, bool front)
{
    if (front) {
        f->cb_next = pool->cb_head;
        pool->cb_head = f;
        if (!pool->cb_tail)
            pool->cb_tail = f;
        return;
    }
    f->cb_next = NULL;
    if (pool->cb_tail)
        pool->cb_tail->cb_next = f;
    else
        pool->cb_head = f;
    pool->cb_tail = f;
}

static void *callback_main(void *arg)
{
    pp_pool *pool = arg;
    pthread_mutex_lock(&pool->lock);
    for (;;) {
        pp_future *f = queue_pop(pool);
        if (!f) {
            if (pool->cb_stop)
                break;
            pthread_cond_wait(&pool->cb_cond, &pool->lock);
            continue;
        }
        struct pp_callback *cb = f->callbacks;
        f->callbacks = NULL;
        pool->cb_running = true;
        pthread_mutex_unlock(&pool->lock);
        while (cb) {
            struct pp_callback *next = cb->next;
            pp__callback_run(f, cb->fn, cb->ud);
            free(cb);
            cb = next;
        }
        pthread_mutex_lock(&pool->lock);
        pool->cb_running = false;
        if (f->callbacks) { /* added while these ran: they run next, in order */
            queue_push(pool, f, true);
            continue;
        }
        f->flags &= (uint16_t)~FUT_CB_BUSY;
        pp__future_put(f);
        if (!pool->cb_head)
            pp__epoch_bump(); /* pp_shutdown's wait looks again */
    }
    pthread_mutex_unlock(&pool->lock);
    return NULL;
}

int pp__callbacks_start(pp_pool *pool)
{
    if (pool->cb_started)
        return PP_OK;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* the program's signals go to its own threads */
    int rc = pthread_create(&pool->cb_thread, NULL, callback_main, pool);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        errno = rc;
        return PP_ESYS;
    }
    pool->cb_started = true;
    return PP_OK;
}

void pp__callbacks_queue(pp_pool *pool, pp_future *f)
{
    if (f->flags & FUT_CB_BUSY)
        return; /* the thread has it already; it runs what was added */
    f->flags |= FUT_CB_BUSY;
    pp__future_get(f);
    queue_push(pool, f, false);
    pthread_cond_signal(&pool->cb_cond);
}

void pp__callbacks_stop(pp_pool *pool)
{
    pthread_mutex_lock(&pool->lock);
    bool started = pool->cb_started;
    pool->cb_stop = true;
    pthread_cond_signal(&pool->cb_cond);
    pthread_mutex_unlock(&pool->lock);
    if (started)
        pthread_join(pool->cb_thread, NULL);
    pool->cb_started = false;
}
