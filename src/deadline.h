/* SPDX-License-Identifier: MIT */
/*
 * deadline.h: per-task deadlines (deadline.c), with pool->lock held.
 */
#ifndef PP_DEADLINE_H
#define PP_DEADLINE_H

#include <stdint.h>

#include "pool.h"

/* Converts pp_task_opts.deadline: 0 none, huge or infinite none; PP_EINVAL
   for negative or NaN. *ns receives the limit (0: none). */
int pp__deadline_from_seconds(double seconds, uint64_t *ns);
/* Kills workers whose task ran past its deadline; returns the next expiry
   (absolute CLOCK_MONOTONIC ns) or PP_FOREVER. */
uint64_t pp__check_deadlines(pp_pool *pool);

#endif
