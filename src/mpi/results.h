/* SPDX-License-Identifier: MIT */
/*
 * results.h: what agents report, on the relay (results.c).
 */
#ifndef PP_MPI_RESULTS_H
#define PP_MPI_RESULTS_H

#include <stdbool.h>
#include <stdint.h>

#include "relay_state.h"

/* Reads agent pi's report (pool->lock held): started marks, its pool's
   counters, and results, settled at once or kept as arrivals. A malformed
   report, or a result saying its pool broke, dooms the agent; true if a
   task was settled or a result kept. */
bool pp__results_read(struct pp_relay *r, uint32_t pi, const struct pp_msg *m);
/* Posts the receives of large results, in each agent's order, once their
   arguments are sent, and settles what has arrived (lock not held); true
   if it settled any. */
bool pp__results_land(struct pp_relay *r);
/* Agent pi is lost (pool->lock held): every job with a result still on
   its way ends with status and msg, and every receive is given up. */
void pp__results_abandon(struct pp_relay *r, uint32_t pi, int status, const char *msg);

#endif
