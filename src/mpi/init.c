/* SPDX-License-Identifier: MIT */
/*
 * init: pp_mpi_init and pp_mpi_rank, the cluster pool's face.
 *
 * A rank's fork server must exist before MPI does (a process forked after
 * MPI_Init shares the MPI library's state, and some networks break under
 * it), but a rank learns its rank only from MPI_Init. So the launcher's
 * environment is asked first (Open MPI, PMIx, PMI and Slurm each name it):
 * a rank that is not 0, or does not know, creates its local pool before
 * MPI starts; rank 0 never forks (its pool is remote). Should the guess be
 * wrong, the pool is created after MPI started, or dropped. Then rank 0
 * starts the relay (relay.h) and every other rank runs the agent
 * (agent.h) and exits with its end status.
 */
#define _GNU_SOURCE
#include <stdlib.h>

#include "agent.h"
#include "funcs.h"
#include "pace.h"
#include "procpool_mpi.h"
#include "relay.h"
#include "transport_mpi.h"

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

int pp_mpi_init(int *argc, char ***argv, const pp_config *config, pp_pool **pool)
{
    if (!pool)
        return PP_EINVAL;
    *pool = NULL;
    pp_config cfg = config ? *config : (pp_config){0};
    if (cfg.max_workers < 0 || cfg.max_workers > PP_MAX_WORKERS ||
        (cfg.on_crash != PP_REPLACE_WORKER && cfg.on_crash != PP_BREAK_POOL))
        return PP_EINVAL;
    if (started)
        return PP_ESTATE;
    pp_pool *local = NULL;
    int rc = rank_from_env() != 0 ? pp_pool_create(&local, &cfg) : PP_OK;
    if (rc != PP_OK)
        return rc;
    struct pp_transport *t = NULL;
    rc = pp__mpi_open(argc, argv, &t);
    if (rc != PP_OK) {
        pp_pool_destroy(local);
        return rc;
    }
    started = true;
    self_rank = t->rank;
    if (t->size == 1) { /* alone: a local pool, and MPI is not needed */
        t->finalize(t, false, true);
        if (!local)
            rc = pp_pool_create(&local, &cfg);
        *pool = local;
        return rc;
    }
    struct pp_modtab tab;
    if (pp__modtab_load(&tab) != PP_OK)
        tab = (struct pp_modtab){0}; /* matches nothing: the agents refuse */
    struct pp_timing tm = pp__timing_default();
    if (self_rank != 0) {
        if (!local)
            pp_pool_create(&local, &cfg); /* NULL still: it says 0 workers, and serves nothing */
        enum pp_agent_end end = pp__agent_run(t, local, &tab, &tm);
        pp__modtab_free(&tab);
        exit((int)end);
    }
    pp_pool_destroy(local);
    return pp__relay_start(t, &tab, &cfg, &tm, pool);
}
