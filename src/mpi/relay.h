/* SPDX-License-Identifier: MIT */
/*
 * relay.h: the master's side of a cluster pool (relay.c).
 */
#ifndef PP_MPI_RELAY_H
#define PP_MPI_RELAY_H

#include "funcs.h"
#include "pace.h"
#include "procpool.h"
#include "transport.h"

/* On rank 0 of t: broadcasts the module table, collects every agent's
   hello and returns a cluster pool served by a relay thread, which owns t
   from then on (pp_pool_destroy ends it). Takes tab (on failure too).
   PP_OK; PP_EINVAL when an agent runs another executable; PP_ESYS when an
   agent does not answer; PP_ENOMEM. On failure the agents have been told to
   exit and t is ended. */
int pp__relay_start(struct pp_transport *t, struct pp_modtab *tab, const pp_config *config,
                    const struct pp_timing *tm, pp_pool **out);

#endif
