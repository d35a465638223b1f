/* SPDX-License-Identifier: MIT */
/*
 * audit.h: the consistency sweep (audit.c), with pool->lock held.
 */
#ifndef PP_AUDIT_H
#define PP_AUDIT_H

#include <stdint.h>

#include "pool.h"

/* Runs the sweep when it is due; returns when the next one is
   (CLOCK_MONOTONIC ns). */
uint64_t pp__audit(pp_pool *pool);

#endif
