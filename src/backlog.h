/* SPDX-License-Identifier: MIT */
/*
 * backlog.h: the master's FIFO of queued futures (pool->backlog), with
 * pool->lock held. A future on it is QUEUED and the backlog holds a
 * reference to it: pushing moves the pusher's reference in, popping hands it
 * to the popper, and removing a future (a cancel) hands it to the remover.
 * The callers tell workers and backends about the change
 * (pp__update_kicks, pool->remote->wake).
 */
#ifndef PP_BACKLOG_H
#define PP_BACKLOG_H

#include "pool.h"

static inline void pp__backlog_push(pp_pool *pool, pp_future *f, bool front)
{
    atomic_store_explicit(&f->phase, PHASE_QUEUED, memory_order_release);
    if (front)
        pp__list_push_front(&pool->backlog, &f->queue);
    else
        pp__list_push_back(&pool->backlog, &f->queue);
}

/* The oldest queued future, off the backlog; NULL when it is empty. */
static inline pp_future *pp__backlog_pop(pp_pool *pool)
{
    struct pp_link *l = pp__list_first(&pool->backlog);
    if (!l)
        return NULL;
    pp__list_remove(l);
    return pp__container_of(l, pp_future, queue);
}

#endif
