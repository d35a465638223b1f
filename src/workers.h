/* SPDX-License-Identifier: MIT */
/*
 * workers.h: the pool's processes as the master sees them (workers.c): the
 * spawner's reports, deaths, replacement, and the end of the pool. Every
 * function runs with pool->lock held (or before the monitor exists).
 */
#ifndef PP_WORKERS_H
#define PP_WORKERS_H

#include <stdbool.h>
#include <stdint.h>

#include "pool.h"

/* Starts every worker of a new pool and waits until each has started or
   failed. PP_OK, or PP_ESYS with errno set. */
int pp__workers_start(pp_pool *pool);
/* Reads what the spawner reported; with block, waits for one report first.
   Returns false once the spawner has gone (its channel closed, it is reaped). */
bool pp__read_reports(pp_pool *pool, bool block);
/* Keeps the number of workers right (retrying failed starts after a
   delay); closes the pool once shut down and drained; ends stopped workers
   while the pool is destroyed. Returns when it next wants to run
   (CLOCK_MONOTONIC ns; PP_FOREVER: only when something happens). */
uint64_t pp__manage_workers(pp_pool *pool);
/* The pool can run nothing more: fails what is unfinished with status and
   message, kills every worker. */
void pp__workers_break(pp_pool *pool, int status, const char *message);

#endif
