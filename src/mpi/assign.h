/* SPDX-License-Identifier: MIT */
/*
 * assign.h: handing queued tasks to agents (assign.c).
 */
#ifndef PP_MPI_ASSIGN_H
#define PP_MPI_ASSIGN_H

#include <stdbool.h>
#include <stdint.h>

#include "relay_state.h"

/* Takes queued tasks for agents with room in their windows and packs them
   into the agents' batches (pool->lock held); true if it took any. */
bool pp__assign_tasks(struct pp_relay *r);
/* Sends each agent's batch, then its large arguments (lock not held); an
   agent the transport fails toward is doomed (relay_state.h). */
void pp__assign_send(struct pp_relay *r);
/* The window of tasks agent p may hold now. */
uint32_t pp__assign_window(const struct pp_relay *r, const struct pp_peer *p);
/* The largest window an agent of nworkers workers may get. */
uint32_t pp__assign_most(uint32_t nworkers);
/* How many tasks with task_bytes of argument a caller (pp_map) keeps in
   flight: twice what the live agents' windows hold at their fastest pace
   (half of it waits in the backlog, ready), within WINDOW_BYTES of
   arguments. */
size_t pp__assign_feed(const struct pp_relay *r, uint64_t task_bytes);

#endif
