/* SPDX-License-Identifier: MIT */
/*
 * dispatch.h: the master's data path in (dispatch.c). Every function here
 * runs with pool->lock held.
 */
#ifndef PP_DISPATCH_H
#define PP_DISPATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pool.h"

/* An argument in two pieces, copied as one: head (may be empty), then body. */
struct pp_arg {
    const void *head, *body;
    size_t head_len, body_len;
    pp_block placed; /* nonzero: the argument already fills this arena block (body,
                        body_len), and the submit takes the block: no copy */
};

/* A new future running spec on arg (the caller's reference in *out). */
int pp__submit_locked(pp_pool *pool, const struct pp_task_spec *spec, const struct pp_arg *arg, void *data,
                      pp_future **out);
/* Harvests every DONE slot, frees slots whose ring cells are consumed, and
   feeds the backlog into free slots. */
void pp__harvest_all(pp_pool *pool);
/* Whether harvest_all would find something to do for the backlog. */
bool pp__feed_possible(pp_pool *pool);
/* Moves queued futures into free slots. */
void pp__feed(pp_pool *pool);
/* Tells workers what the master wants to hear about (see dispatch.c). */
void pp__update_kicks(pp_pool *pool);
/* pp_future_cancel: true if f ends (or had ended) PP_ECANCELLED. */
bool pp__cancel_locked(pp_pool *pool, pp_future *f);
/* pp_future_kill: cancels f, or kills the worker running it; true if f
   ends (or had ended) PP_ECANCELLED. */
bool pp__kill_locked(pp_pool *pool, pp_future *f);
/* Cancels every task no worker has started. */
void pp__cancel_pending(pp_pool *pool);
/* The pool can run nothing more: every unfinished future it holds ends with
   status and message. */
void pp__break_pool(pp_pool *pool, int status, const char *message);
/* A map or stream begins (delta 1: returns whether it may submit after a
   shutdown, having begun before it) or ends (-1). While one runs, a
   shutdown pool keeps its workers, unless someone waits in pp_shutdown. */
bool pp__jobs(pp_pool *pool, int delta);
/* Shut down, and nothing is left to run or to come (a backend then lets its
   processes go). */
bool pp__drained(const pp_pool *pool);
/* An arena block with room for an argument of len bytes and a result
   behind it (as large as the argument, or result_hint; result_hint alone for
   a remote pool), the argument's pages committed; PP_OK or PP_ENOMEM (also
   when it cannot fit in memory). */
int pp__arg_block(pp_pool *pool, uint64_t len, uint64_t result_hint, pp_block *out);

#endif
