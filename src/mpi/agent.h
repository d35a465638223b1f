/* SPDX-License-Identifier: MIT */
/*
 * agent.h: what every rank but 0 runs (agent.c).
 */
#ifndef PP_MPI_AGENT_H
#define PP_MPI_AGENT_H

#include "chan.h"
#include "funcs.h"
#include "procpool.h"

/* Serves the master with the local pool until told to exit (or until the
   master falls silent), then destroys the pool, finalizes MPI and exits the
   process. tab: this process's modules, matched to the master's. */
_Noreturn void pp__agent_main(struct pp_chan *c, pp_pool *local, const struct pp_modtab *tab);

#endif
