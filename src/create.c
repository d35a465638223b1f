/* SPDX-License-Identifier: MIT */
/*
 * create: a pool's birth and its last release. pp_pool_create validates the
 * configuration, maps the shared region, forks the spawner (before the
 * pool's own thread exists), waits for the first workers to start and only
 * then starts the monitor thread. A remote pool (pool.h) gets the same
 * memory and thread, but neither spawner nor workers: its backend runs the
 * tasks. pp__pool_teardown frees everything once the monitor has ended.
 */
#define _GNU_SOURCE
#include "create.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lifetime.h"
#include "monitor.h"
#include "owner.h"
#include "workers.h"

#define DEFAULT_SHM_BYTES ((size_t)256 << 20) /* warm free payload memory kept for reuse */

uint32_t pp__cpu_count(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return (uint32_t)CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (uint32_t)n : 1;
}

static uint32_t slot_count(uint32_t workers)
{
    uint32_t n = 1024;
    while (n < 16 * workers)
        n *= 2;
    return n;
}

void pp__pool_teardown(pp_pool *pool)
{
    pp__spawner_stop(&pool->spawner); /* it kills what is left and exits */
    pp__futures_free_all(pool);
    for (struct pp_buffer *b = pool->buffers, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    pp__arena_fini(&pool->arena);
    if (pool->lay.base)
        munmap(pool->lay.base, pool->lay.map_size);
    free(pool->slots);
    free(pool->free_slots);
    free(pool->limbo);
    free(pool->workers);
    pthread_cond_destroy(&pool->cb_cond);
    pthread_mutex_destroy(&pool->lock);
    free(pool);
}

/* Everything of a pool but its processes and thread; PP_OK, PP_ENOMEM or PP_ESYS. */
static int pool_memory(pp_pool *pool)
{
    uint32_t nslots = slot_count(pool->nworkers);
    pool->slots = calloc(nslots, sizeof *pool->slots);
    pool->free_slots = malloc(nslots * sizeof *pool->free_slots);
    pool->limbo = malloc(nslots * sizeof *pool->limbo);
    pool->workers = calloc(pool->nworkers, sizeof *pool->workers);
    if (!pool->slots || !pool->free_slots || !pool->limbo || !pool->workers)
        return PP_ENOMEM;
    for (uint32_t i = 0; i < nslots; i++)
        pool->free_slots[i] = nslots - 1 - i;
    pool->nfree = nslots;
    for (uint32_t w = 0; w < pool->nworkers; w++)
        pool->workers[w].kill_slot = PP_NO_SLOT;
    int rc = pp__shm_create(nslots, pool->nworkers, &pool->lay);
    if (rc != PP_OK)
        return rc;
    rc = pp__arena_init(&pool->arena, pool->lay.base, pool->lay.arena_start, pool->lay.arena_end,
                        pool->cfg.shm_bytes ? pool->cfg.shm_bytes : DEFAULT_SHM_BYTES);
    pool->arena.returned = &pool->lay.shm->arena_returns;
    return rc;
}

/* A pool of nworkers (0: from the configuration); remote: see pool.h;
   workers poll spin_ns for work after a task. */
static int pool_new(pp_pool **out, const pp_config *config, uint32_t nworkers, struct pp_remote *remote,
                    uint64_t spin_ns)
{
    if (!out)
        return PP_EINVAL;
    *out = NULL;
    if (pp__in_worker())
        return PP_ESTATE;
    pp_config cfg = config ? *config : (pp_config){0};
    if (cfg.max_workers < 0 || cfg.max_workers > PP_MAX_WORKERS)
        return PP_EINVAL;
    if (cfg.on_crash != PP_REPLACE_WORKER && cfg.on_crash != PP_BREAK_POOL)
        return PP_EINVAL;

    pp_pool *pool = calloc(1, sizeof *pool);
    if (!pool)
        return PP_ENOMEM;
    pool->spawner = (struct pp_spawner_link){.cmd_fd = -1, .report_fd = -1};
    int rc = pthread_mutex_init(&pool->lock, NULL);
    if (rc != 0) {
        free(pool);
        errno = rc;
        return PP_ESYS;
    }
    rc = pthread_cond_init(&pool->cb_cond, NULL);
    if (rc != 0) {
        pthread_mutex_destroy(&pool->lock);
        free(pool);
        errno = rc;
        return PP_ESYS;
    }
    pool->owner_pid = pp__self_pid();
    pool->cfg = cfg;
    pool->nworkers = nworkers ? nworkers : cfg.max_workers ? (uint32_t)cfg.max_workers : pp__cpu_count();
    if (pool->nworkers > PP_MAX_WORKERS)
        pool->nworkers = PP_MAX_WORKERS;
    pp__link_init(&pool->live);
    pp__link_init(&pool->backlog);
    pool->remote = remote;
    rc = pool_memory(pool);
    if (rc == PP_OK && remote) {
        pool->nfree = 0; /* every task waits in the backlog for the backend */
        pool->alive = pool->nworkers;
    } else if (rc == PP_OK) {
        pool->spawner.map = pool->lay.base;
        pool->spawner.map_size = pool->lay.map_size;
        struct pp_worker_cfg wcfg = {.lay = pool->lay,
                                     .initializer = cfg.initializer,
                                     .initarg = cfg.initarg,
                                     .max_tasks_per_child = cfg.max_tasks_per_child,
                                     .max_rss = cfg.max_rss_per_child,
                                     .pin = cfg.pin_workers,
                                     .spin_ns = spin_ns};
        fflush(NULL); /* nothing buffered may be written twice */
        rc = pp__spawner_start(&pool->spawner, &wcfg, pool->nworkers);
    }
    if (rc == PP_OK && !remote)
        rc = pp__workers_start(pool);
    if (rc == PP_OK)
        rc = pp__monitor_start(pool);
    if (rc != PP_OK) {
        int saved = errno;
        pp__pool_teardown(pool);
        errno = saved;
        return rc;
    }
    *out = pool;
    return PP_OK;
}

int pp_pool_create(pp_pool **out, const pp_config *config)
{
    return pool_new(out, config, 0, NULL, PP_WORKER_SPIN_NS);
}

int pp__pool_create_unspun(pp_pool **out, const pp_config *config)
{
    return pool_new(out, config, 0, NULL, 0);
}

int pp__pool_create_remote(pp_pool **out, const pp_config *config, uint32_t nworkers,
                           struct pp_remote *remote)
{
    if (!nworkers || !remote)
        return PP_EINVAL;
    return pool_new(out, config, nworkers, remote, PP_WORKER_SPIN_NS);
}
