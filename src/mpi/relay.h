/* SPDX-License-Identifier: MIT */
/*
 * relay.h: the master's side of a cluster pool (relay.c).
 */
#ifndef PP_MPI_RELAY_H
#define PP_MPI_RELAY_H

#include "chan.h"
#include "funcs.h"
#include "procpool.h"

/* On rank 0 of nranks: sends the module table, collects every agent's hello
   and returns a cluster pool served by a relay thread. Takes c and tab (on
   failure too). PP_OK; PP_EINVAL when an agent runs another executable;
   PP_ESYS when an agent does not answer; PP_ENOMEM. On failure the agents
   have been told to exit and MPI is finalized. */
int pp__relay_start(struct pp_chan *c, int nranks, struct pp_modtab *tab, const pp_config *config, pp_pool **out);

#endif
