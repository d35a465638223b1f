/* SPDX-License-Identifier: MIT */
/*
 * init: pp_mpi_init and pp_mpi_rank, the cluster pool's face.
 *
 * A rank's fork server must exist before MPI does (a process forked after
 * MPI_Init shares the MPI library's state, and some networks break under
 * it), but a rank learns its rank only from MPI_Init. So the launcher's
 * environment is asked first (Open MPI, PMIx, PMI and Slurm each name it):
 * a rank that is not 0, or does not know, creates its local pool before
 * MPI_Init; rank 0 never forks (its pool is remote). Should the guess be
 * wrong, the pool is created after MPI_Init, or dropped.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>

#include "agent.h"
#include "chan.h"
#include "funcs.h"
#include "procpool_mpi.h"
#include "relay.h"
#include "wire.h"

static int self_rank = -1;
static bool started;

int pp_mpi_rank(void)
{
    return self_rank;
}

/* The rank the launcher gave this process, or -1. */
static int rank_from_env(void)
{
    static const char *names[] = {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *v = getenv(names[i]);
        if (v && *v)
            return atoi(v);
    }
    return -1;
}

/* An agent's start: the master's module table, then hello. Never returns. */
static _Noreturn void agent_start(struct pp_chan *c, pp_pool *local, struct pp_modtab *tab)
{
    uint64_t len = 0;
    MPI_Bcast(&len, 1, MPI_UINT64_T, 0, c->comm);
    void *packed = len ? malloc(len) : NULL;
    if (len)
        MPI_Bcast(packed ? packed : &len, packed ? (int)len : 0, MPI_BYTE, 0, c->comm);
    if (!len) { /* the master could not start: nothing to serve */
        pp_pool_destroy(local);
        MPI_Comm_free(&c->comm);
        MPI_Finalize();
        exit(1);
    }
    int ok = packed ? pp__modtab_match(tab, packed, len) : 0;
    free(packed);
    cpu_set_t set;
    struct wire_hello h = {.nworkers = local ? (uint32_t)pp_pool_max_workers(local) : 0,
                           .table_ok = ok == 1,
                           .cpus = sched_getaffinity(0, sizeof set, &set) == 0 ? (uint32_t)CPU_COUNT(&set) : 0,
                           .pid = (int32_t)getpid()};
    MPI_Send(&h, sizeof h, MPI_BYTE, 0, TAG_HELLO, c->comm);
    if (!local) /* nothing to serve with (it said 0 workers): wait for the master's word */
        pp_pool_create(&local, &(pp_config){.max_workers = 1});
    pp__agent_main(c, local, tab);
}

int pp_mpi_init(int *argc, char ***argv, const pp_config *config, pp_pool **pool)
{
    if (!pool)
        return PP_EINVAL;
    *pool = NULL;
    pp_config cfg = config ? *config : (pp_config){0};
    if (cfg.max_workers < 0 || cfg.max_workers > PP_MAX_WORKERS ||
        (cfg.on_crash != PP_REPLACE_WORKER && cfg.on_crash != PP_BREAK_POOL))
        return PP_EINVAL;
    int inited = 0;
    MPI_Initialized(&inited);
    if (started || inited)
        return PP_ESTATE;
    started = true;
    pp_pool *local = NULL;
    int guess = rank_from_env(), rc = PP_OK;
    if (guess != 0)
        rc = pp_pool_create(&local, &cfg);
    if (rc != PP_OK)
        return rc;
    int provided = 0, nranks = 0;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &provided) != MPI_SUCCESS) {
        pp_pool_destroy(local);
        return PP_ESYS;
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &self_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &nranks);
    if (nranks == 1) { /* alone: a local pool, and MPI is not needed */
        MPI_Finalize();
        if (!local)
            rc = pp_pool_create(&local, &cfg);
        *pool = local;
        return rc;
    }
    struct pp_chan c = {0};
    struct pp_modtab tab;
    if (provided < MPI_THREAD_SERIALIZED || MPI_Comm_dup(MPI_COMM_WORLD, &c.comm) != MPI_SUCCESS) {
        pp_pool_destroy(local);
        MPI_Abort(MPI_COMM_WORLD, 1); /* the other ranks wait in collectives that never come */
    }
    MPI_Comm_set_errhandler(c.comm, MPI_ERRORS_RETURN);
    if (pp__modtab_load(&tab) != PP_OK)
        tab = (struct pp_modtab){0}; /* matches nothing: the agents refuse */
    if (self_rank != 0) {
        if (!local)
            pp_pool_create(&local, &cfg);
        agent_start(&c, local, &tab);
    }
    pp_pool_destroy(local);
    return pp__relay_start(&c, nranks, &tab, &cfg, pool);
}
