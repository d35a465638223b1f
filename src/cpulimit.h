/* SPDX-License-Identifier: MIT */
/*
 * cpulimit.h: CPU limits that count the processes a task starts
 * (cpulimit.c), with pool->lock held.
 */
#ifndef PP_CPULIMIT_H
#define PP_CPULIMIT_H

#include <stdint.h>

#include "pool.h"

/* Samples the CPU of every running task with a cpu_limit, the processes it
   started included, and kills the worker of one past its limit. Returns
   when it next wants to sample (CLOCK_MONOTONIC ns; PP_FOREVER: no task has
   a limit). */
uint64_t pp__check_cpu_limits(pp_pool *pool);

#endif
