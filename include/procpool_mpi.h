/* SPDX-License-Identifier: MIT */
/*
 * procpool_mpi.h: the cluster pool, one procpool over the ranks of an MPI
 * job (libprocpool_mpi.a, pkg-config procpool-mpi; build with mpicc).
 *
 * Every rank runs the same program and calls pp_mpi_init first thing in
 * main(), instead of MPI_Init. Rank 0 gets a cluster pool that every pp_*
 * call accepts; every other rank becomes an agent that runs a local pool of
 * forked workers for it and never returns from pp_mpi_init. User code runs
 * only in those workers, so a task that crashes, is killed for a deadline or
 * limit, or exits, is one failed future, and the job lives on.
 */
#ifndef PROCPOOL_MPI_H
#define PROCPOOL_MPI_H

#include "procpool.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Forks this rank's fork server, then initialises MPI (MPI_Init_thread,
   MPI_THREAD_SERIALIZED). On rank 0: PP_OK and *pool, a cluster pool;
   config->max_workers is per agent (0: the CPUs that agent may use), and
   pp_pool_destroy on it stops every agent and finalizes MPI (not after an
   agent was dropped: it returns at once). On other ranks it serves rank 0
   and never returns: the process exits 0 once that pool is destroyed, 2
   when rank 0 dropped it, 3 when rank 0 fell silent. Run alone (one rank),
   *pool is a local pool and MPI is finalized at once.
   PP_EINVAL: bad arguments, or ranks that run different executables;
   PP_ESTATE: called twice, or MPI was already initialised; PP_ESYS: MPI
   failed, or an agent never answered; PP_ENOMEM. */
PP_API int pp_mpi_init(int *argc, char ***argv, const pp_config *config, pp_pool **pool);
/* This process's rank in MPI_COMM_WORLD; -1 before pp_mpi_init. */
PP_API int pp_mpi_rank(void);

#ifdef __cplusplus
}
#endif

#endif
