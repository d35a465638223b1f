/* SPDX-License-Identifier: MIT */
/*
 * peers.h: the relay speaking to its agents, watching them, and losing
 * them (peers.c). Every function runs on the relay thread.
 */
#ifndef PP_MPI_PEERS_H
#define PP_MPI_PEERS_H

#include <stdint.h>

#include "relay_state.h"

/* Sends agent pi a control message (wire.h). */
void pp__peers_tell(struct pp_relay *r, uint32_t pi, int op, int arg);
/* Asks agent pi to kill the task it runs as job j (pp_future_kill). */
void pp__peers_kill(struct pp_relay *r, uint32_t pi, uint32_t j);
/* Declares agent pi lost, for good (pool->lock held). */
void pp__peers_lose(struct pp_relay *r, uint32_t pi, const char *why);
/* Loses the agents that are doomed, or silent too long on the relay's
   watch (pace.h), and pings the others every heartbeat (lock not held). */
void pp__peers_check(struct pp_relay *r);
/* A lost agent spoke: its message is dropped, and it is told again, at
   most once a heartbeat, that it was dropped. */
void pp__peers_late(struct pp_relay *r, uint32_t pi);

#endif
