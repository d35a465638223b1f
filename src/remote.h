/* SPDX-License-Identifier: MIT */
/*
 * remote.h: a remote backend's side of a remote pool (remote.c; pool.h:
 * struct pp_remote). Every function runs with pool->lock held.
 */
#ifndef PP_REMOTE_H
#define PP_REMOTE_H

#include <stddef.h>

#include "pool.h"

/* What a task run by a remote backend ended with: len result bytes at
   bytes, copied, or kept where they are when they lie in the task's room
   (pp__taken_room). */
struct pp_outcome {
    int status, code;
    const char *message; /* NULL: none */
    struct pp_cost cost;
    int worker, pid;
    bool no_culprit; /* a chunk whose death none of its items is to blame for (FUT_NO_CULPRIT) */
    const void *bytes;
    size_t len;
};
/* The next queued task for a remote backend, now running and held by the
   backend (its argument stays in the future until it is handed back), or
   NULL. */
pp_future *pp__take_queued(pp_pool *pool);
/* A taken task's argument and what it is to run with. */
void pp__taken_arg(const pp_pool *pool, const pp_future *f, const void **arg, size_t *len);
const struct pp_task_spec *pp__taken_spec(const pp_future *f);
/* Arena room for a taken task's result of len bytes: behind its argument
   when the block has room (as a local worker's result), else a block of its
   own, which replaces the argument's (call it only once the argument has
   been read). NULL: no memory. */
void *pp__taken_room(pp_pool *pool, pp_future *f, size_t len);
/* Hands a taken task back to the head of the backlog (its runner was lost
   before it started). */
void pp__return_taken(pp_pool *pool, pp_future *f);
/* Hands a taken task back, ended; returns the status it ended with
   (PP_ENOMEM when a result could not be copied). A run that ended abruptly
   with retries left goes back to the backlog instead; a task already
   settled (pp_future_kill) keeps its outcome. */
int pp__settle_taken(pp_pool *pool, pp_future *f, const struct pp_outcome *o);

#endif
