/* SPDX-License-Identifier: MIT */
/*
 * lifetime.h: a future's references (lifetime.c), with pool->lock held.
 * See pool.h for who holds one.
 */
#ifndef PP_LIFETIME_H
#define PP_LIFETIME_H

#include "pool.h"

/* A new future of the pool with one reference (its creator's), or NULL. */
pp_future *pp__future_new(pp_pool *pool);
void pp__future_get(pp_future *f);
/* Drops a reference; the last one frees the future (the only place a
   future is freed while its pool lives). */
void pp__future_put(pp_future *f);
/* Frees every future of a pool that is being destroyed, held or not. */
void pp__futures_free_all(pp_pool *pool);

#endif
