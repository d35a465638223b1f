/* SPDX-License-Identifier: MIT */
/*
 * dispatch.h: the master's data path (dispatch.c). Every function here runs
 * with pool->lock held.
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

int pp__submit_locked(pp_pool *pool, const struct pp_task_spec *spec, const struct pp_arg *arg, void *data,
                      pp_future **out);
/* Settles a DONE slot into its future; false if it is not DONE. */
bool pp__harvest(pp_pool *pool, uint32_t slot);
/* Harvests every DONE slot, frees slots whose ring cells are consumed, and
   feeds the backlog into free slots. */
void pp__harvest_all(pp_pool *pool);
/* Whether harvest_all would find something to do for the backlog. */
bool pp__feed_possible(pp_pool *pool);
/* Ends a dispatched task's future with status (its worker is gone) and frees
   the slot; a no-op for a slot nobody owns. cost: what the task used, as far
   as anyone knows (NULL: its start, and now as its end). */
void pp__finish_slot(pp_pool *pool, uint32_t slot, int status, int code, const char *message,
                     const struct pp_cost *cost);
/* Puts a slot whose worker died before finishing it back to PENDING. */
void pp__requeue_slot(pp_pool *pool, uint32_t slot);
/* Settles a future that is not in a slot. */
void pp__complete(pp_pool *pool, pp_future *f, int status, int code, const char *message);
/* Tells workers what the master wants to hear about (see dispatch.c). */
void pp__update_kicks(pp_pool *pool);
bool pp__cancel_locked(pp_pool *pool, pp_future *f);
/* Cancels every task no worker has started. */
void pp__cancel_pending(pp_pool *pool);
/* The pool can run nothing more: every unfinished future ends with status. */
void pp__break_pool(pp_pool *pool, int status);
/* An arena block with room for an argument of len bytes and a result as
   large (of result_hint bytes alone for a remote pool); PP_OK or PP_ENOMEM. */
int pp__arg_block(pp_pool *pool, uint64_t len, uint64_t result_hint, pp_block *out);
void pp__future_free(pp_future *f);

/* What a task run by a remote backend ended with: len result bytes at
   bytes, copied, or kept where they are when they lie in the task's room
   (pp__taken_room). */
struct pp_outcome {
    int status, code;
    const char *message; /* NULL: none */
    struct pp_cost cost;
    int worker, pid;
    const void *bytes;
    size_t len;
};
/* The next queued task for a remote backend, now running (its argument stays
   in the future until it is settled), or NULL. */
pp_future *pp__take_queued(pp_pool *pool);
/* A taken task's argument. Its spec is f->u.in.spec until it is settled. */
void pp__taken_arg(const pp_pool *pool, const pp_future *f, const void **arg, size_t *len);
/* Arena room for a taken task's result of len bytes: behind its argument
   when the block has room (as a local worker's result), else a block of its
   own, which replaces the argument's (call it only once the argument has
   been read). NULL: no memory. */
void *pp__taken_room(pp_pool *pool, pp_future *f, size_t len);
/* Puts a taken task back at the head of the backlog (its runner was lost
   before it started). */
void pp__return_taken(pp_pool *pool, pp_future *f);
/* Ends a taken task; returns the status it ended with (PP_ENOMEM when a
   result could not be copied). */
int pp__settle_taken(pp_pool *pool, pp_future *f, const struct pp_outcome *o);
void pp__future_maybe_free(pp_future *f); /* frees it if released and unreferenced */

/* The monitor thread marks itself; callbacks queued from other threads kick it. */
void pp__set_monitor_thread(const pp_pool *pool);
bool pp__on_monitor_thread(const pp_pool *pool);

#endif
