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
#include <unistd.h>

#include "agent.h"
#include "funcs.h"
#include "../create.h"
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

/* A number from the launcher's environment (the first of names set), or 0. */
static long env_number(const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *v = getenv(names[i]);
        if (v && *v)
            return atol(v);
    }
    return 0;
}

/* Whether this node runs more processes than it has CPUs: its ranks, each
   with an agent and its workers. Then an agent's workers do not poll for
   work after a task (the core they would hold is another rank's). */
static bool node_oversubscribed(const pp_config *cfg)
{
    static const char *local[] = {"OMPI_COMM_WORLD_LOCAL_SIZE", "PMIX_LOCAL_SIZE", "SLURM_NTASKS_PER_NODE"};
    long ranks = env_number(local, sizeof local / sizeof local[0]);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    long workers = cfg->max_workers ? cfg->max_workers : (long)pp__cpu_count();
    return ranks > 0 && cpus > 0 && ranks * (workers + 1) > cpus;
}

/* Whether the job survives a lost rank (Open MPI's mpirun --enable-recovery):
   without it the launcher ends the whole job when a rank exits, so an agent
   is declared lost only after a long silence (a stopped or hung one), never
   after a short stall the job would not survive being told about. */
static bool job_survives_loss(void)
{
    const char *v = getenv("OMPI_MCA_orte_enable_recovery");
    return v && (*v == '1' || *v == 't' || *v == 'y');
}

#define LOST_NS_WITHOUT_RECOVERY 30000000000ull

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
    int rc = PP_OK;
    if (rank_from_env() != 0) /* an agent's pool, made before MPI exists */
        rc = node_oversubscribed(&cfg) ? pp__pool_create_unspun(&local, &cfg) : pp_pool_create(&local, &cfg);
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
    if (!job_survives_loss())
        tm.lost_ns = LOST_NS_WITHOUT_RECOVERY;
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
