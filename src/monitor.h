/* SPDX-License-Identifier: MIT */
/*
 * monitor.h: the master's one library thread per pool (monitor.c).
 */
#ifndef PP_MONITOR_H
#define PP_MONITOR_H

#include "pool.h"

/* Starts the thread (all signals blocked in it). PP_OK or PP_ESYS. */
int pp__monitor_start(pp_pool *pool);
/* Asks it to finish the queued callbacks and end, and joins it. */
void pp__monitor_stop(pp_pool *pool);

#endif
