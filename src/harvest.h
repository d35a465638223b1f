/* SPDX-License-Identifier: MIT */
/*
 * harvest.h: how a dispatched task ends in the master (harvest.c), with
 * pool->lock held.
 */
#ifndef PP_HARVEST_H
#define PP_HARVEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pool.h"

/* Settles a DONE slot into its future; false if the slot is not owned and
   DONE. */
bool pp__harvest(pp_pool *pool, uint32_t s);
/* Ends an owned slot's task that will not publish (its worker is gone, or
   the task was withdrawn) with status, unless a retry is due (then the slot
   goes back to the ring). cost: what it used as far as anyone knows (NULL:
   its start, and now). */
void pp__finish_slot(pp_pool *pool, uint32_t s, int status, int code, const char *message,
                     const struct pp_cost *cost);
/* Puts an owned slot back to PENDING for another run: what the last run
   left (result, message, grants) is forgotten. */
void pp__requeue_slot(pp_pool *pool, uint32_t s);
/* Takes an owned slot from its future, which the caller settles: the slot
   is renewed so no worker can publish into it, and kept (abandoned) until
   every worker that may still write into it is dead; why says which kill
   ends them (KILL_CANCEL, KILL_FAULT). Returns the worker that was running
   it, or -1. */
int pp__abandon_slot(pp_pool *pool, uint32_t s, enum pp_kill why);
/* A running task's reserved result area (pp__task_keep), checked against
   the space it was given; false if it has named none. */
bool pp__peek_result(pp_pool *pool, const pp_future *f, const void **area, size_t *len);
/* Writes the slot's task descriptor (sealed: shm.h) and result space from
   the master's own records of f's task, as at dispatch. */
void pp__describe_slot(pp_pool *pool, uint32_t s, const pp_future *f);

#endif
