/* SPDX-License-Identifier: MIT */
/*
 * settle.h: the end of a future (settle.c), with pool->lock held.
 */
#ifndef PP_SETTLE_H
#define PP_SETTLE_H

#include <stdbool.h>

#include "pool.h"

/* Ends f with status: counts the outcome, marks it done, queues its
   callbacks and wakes whoever waits. message (copied) and code as
   pp_future_exception reports them. The only place a future becomes done;
   the holder that settles it still holds its reference. */
void pp__complete(pp_pool *pool, pp_future *f, int status, int code, const char *message);
/* A run of f ended with status: counts the attempt, and returns true when
   the task is to run again (an abrupt end, PP_ECRASHED, PP_EDEADLINE or
   PP_ELIMIT, with retries left, in a pool that can still run it, and
   can_rerun: its argument is still there), having counted that run in the
   statistics as an outcome would be. */
bool pp__run_ended(pp_pool *pool, pp_future *f, int status, bool can_rerun);

#endif
