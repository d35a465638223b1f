/* SPDX-License-Identifier: MIT */
/*
 * kill.h: the kills the master orders (kill.c), with pool->lock held.
 */
#ifndef PP_KILL_H
#define PP_KILL_H

#include <stdint.h>

#include "pool.h"

/* Sends sig to worker w's process group and records why (enum pp_kill) and,
   for a kill aimed at a task, which one: slot s in its current generation
   (PP_NO_SLOT: none), and started, the start of the run or chunk item it
   was aimed at as the decision read it (0: any). The first reason recorded
   for a worker stands. */
void pp__kill_worker(pp_pool *pool, uint32_t w, enum pp_kill why, int sig, uint32_t s, uint64_t started);
/* Sends sig to every live worker (not their groups), recording why. */
void pp__kill_all(pp_pool *pool, enum pp_kill why, int sig);

#endif
