/* SPDX-License-Identifier: MIT */
/*
 * agent.h: what every rank but 0 runs (agent.c).
 */
#ifndef PP_MPI_AGENT_H
#define PP_MPI_AGENT_H

#include "funcs.h"
#include "pace.h"
#include "procpool.h"
#include "transport.h"

/* How an agent ended: its process's exit status. */
enum pp_agent_end {
    PP_AGENT_DONE = 0,      /* the master destroyed its pool */
    PP_AGENT_UNSTARTED = 1, /* the master could not start */
    PP_AGENT_DROPPED = 2,   /* the master declared it lost (it was silent too long) */
    PP_AGENT_ORPHANED = 3,  /* the master fell silent */
    PP_AGENT_FAILED = 4,    /* it could not follow the protocol (out of memory, a malformed message) */
};

/* Serves the master (rank 0 of t) with the local pool (NULL: none could be
   made; it serves nothing) until told to exit, dropped, or orphaned; then
   ends the local pool (at once, killing what runs, unless told to exit) and
   the transport, and returns how it ended. tab: this process's modules,
   matched here to the master's. */
enum pp_agent_end pp__agent_run(struct pp_transport *t, pp_pool *local, struct pp_modtab *tab,
                                const struct pp_timing *tm);

#endif
