/*
 * pool: a pool's life. pp_pool_create validates the configuration, maps the
 * shared region, forks the spawner (before any library thread exists), waits
 * for the first workers to start and only then starts the monitor thread.
 * pp_shutdown stops submits and, with wait, blocks until every task is done,
 * every worker has exited and the spawner is gone; pp_pool_destroy does that
 * and frees everything.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pool.h"

#define DEFAULT_SHM_BYTES ((size_t)256 << 20) /* warm free payload memory kept for reuse */

static uint32_t cpu_count(void)
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

/* Frees everything the pool holds; the monitor thread must not be running. */
static void teardown(pp_pool *pool)
{
    pp_registry_remove(pool);   /* before its descriptors are closed and reused */
    pp_close_fd(&pool->cmd_fd); /* EOF: the spawner kills what is left and exits */
    if (pool->spawner > 0 && !pool->spawner_gone)
        while (waitpid(pool->spawner, NULL, 0) < 0 && errno == EINTR)
            ;
    pp_close_fd(&pool->report_fd);
    pp_close_fd(&pool->event_fd);
    while (pool->live.next != &pool->live)
        pp_future_free(pool->live.next);
    pp_arena_fini(&pool->arena);
    if (pool->shm)
        munmap(pool->shm, pool->map_size);
    free(pool->slots);
    free(pool->free_slots);
    free(pool->unpushed);
    free(pool->workers);
    pthread_mutex_destroy(&pool->lock);
    free(pool);
}

/* The channels to the spawner are socket pairs, not pipes: a message sent to
   a spawner that has died fails with EPIPE instead of raising SIGPIPE in the
   program (MSG_NOSIGNAL), and message boundaries hold. */
static int start_processes(pp_pool *pool)
{
    int cmd[2], rep[2];
    pp_registry_lock(); /* no other spawner forks until ours is registered */
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, cmd) != 0) {
        pp_registry_unlock();
        return PP_ESYS;
    }
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, rep) != 0) {
        int saved = errno;
        close(cmd[0]);
        close(cmd[1]);
        pp_registry_unlock();
        errno = saved;
        return PP_ESYS;
    }
    pool->cmd_fd = cmd[1];
    pool->report_fd = rep[0];
    fcntl(rep[0], F_SETFL, O_NONBLOCK);
    fflush(NULL); /* nothing buffered may be written twice */
    pool->spawner = pp_spawner_fork(pool, cmd[0], rep[1]);
    int saved = errno;
    close(cmd[0]);
    close(rep[1]);
    if (pool->spawner > 0)
        pp_registry_add(pool);
    pp_registry_unlock();
    if (pool->spawner < 0) {
        pool->spawner = 0;
        errno = saved;
        return PP_ESYS;
    }
    for (uint32_t w = 0; w < pool->nworkers; w++) {
        if (pp_spawner_send(pool, SPAWN_START, (int)w, 0) != PP_OK)
            return PP_ESYS;
        pool->workers[w].starting = true;
        pool->starting++;
    }
    while (pool->starting && pp_read_reports(pool, true))
        ;
    if (pool->alive < pool->nworkers && !pool->broken) {
        errno = pool->spawn_errno ? pool->spawn_errno : ECHILD;
        return PP_ESYS;
    }
    return PP_OK;
}

int pp_pool_create(pp_pool **out, const pp_config *config)
{
    if (!out)
        return PP_EINVAL;
    *out = NULL;
    PP_MASTER_ONLY();
    pp_config cfg = config ? *config : (pp_config){0};
    if (cfg.max_workers < 0 || cfg.max_workers > PP_MAX_WORKERS)
        return PP_EINVAL;
    if (cfg.on_crash != PP_REPLACE_WORKER && cfg.on_crash != PP_BREAK_POOL)
        return PP_EINVAL;

    pp_pool *pool = calloc(1, sizeof *pool);
    if (!pool)
        return PP_ENOMEM;
    pthread_mutex_init(&pool->lock, NULL);
    pool->cfg = cfg;
    pool->nworkers = cfg.max_workers ? (uint32_t)cfg.max_workers : cpu_count();
    if (pool->nworkers > PP_MAX_WORKERS)
        pool->nworkers = PP_MAX_WORKERS;
    pool->live.next = pool->live.prev = &pool->live;
    pool->cmd_fd = pool->report_fd = -1;
    uint32_t nslots = slot_count(pool->nworkers);
    pool->slots = calloc(nslots, sizeof *pool->slots);
    pool->free_slots = malloc(nslots * sizeof *pool->free_slots);
    pool->unpushed = malloc((size_t)2 * nslots * sizeof *pool->unpushed);
    pool->workers = calloc(pool->nworkers, sizeof *pool->workers);
    if (!pool->slots || !pool->free_slots || !pool->unpushed || !pool->workers) {
        teardown(pool);
        return PP_ENOMEM;
    }
    for (uint32_t i = 0; i < nslots; i++)
        pool->free_slots[i] = nslots - 1 - i;
    pool->nfree = nslots;

    pool->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (pool->event_fd < 0 ||
        !(pool->shm = pp_shm_create(nslots, pool->nworkers, pool->event_fd, &pool->map_size))) {
        int saved = errno;
        teardown(pool);
        errno = saved;
        return PP_ESYS;
    }
    pp_arena_init(&pool->arena, (char *)pool->shm, pool->shm->arena_start, pool->shm->arena_end,
                  cfg.shm_bytes ? cfg.shm_bytes : DEFAULT_SHM_BYTES);

    int rc = start_processes(pool);
    if (rc == PP_OK)
        rc = pp_monitor_start(pool);
    if (rc != PP_OK) {
        int saved = errno;
        teardown(pool);
        errno = saved;
        return rc;
    }
    *out = pool;
    return PP_OK;
}

/* Cancels every task no worker has started. */
static void cancel_pending(pp_pool *pool)
{
    while (pool->backlog) {
        struct pp_future *f = pool->backlog;
        pool->backlog = f->qnext;
        f->qnext = NULL;
        f->flags &= ~(uint32_t)FUT_QUEUED;
        pp_cancel_locked(pool, f);
        pp_future_maybe_free(f);
    }
    pool->backlog_tail = NULL;
    for (uint32_t s = 0; s < pool->shm->nslots; s++)
        if (pool->slots[s].owner)
            pp_cancel_locked(pool, pool->slots[s].owner);
}

int pp_shutdown(pp_pool *pool, bool wait, bool cancel_futures)
{
    if (!pool)
        return PP_EINVAL;
    PP_MASTER_ONLY();
    pthread_mutex_lock(&pool->lock);
    if (wait && pp_on_monitor_thread(pool)) {
        pthread_mutex_unlock(&pool->lock);
        return PP_ESTATE;
    }
    pool->shutdown = true;
    if (cancel_futures)
        cancel_pending(pool);
    pp_update_kicks(pool);
    atomic_store(&pool->shm->monitor_asleep, 1);
    pp_shm_kick(pool->shm);
    while (wait && !(pool->unfinished == 0 && pool->spawner_gone)) {
        uint32_t seen = pp_epoch_read();
        pthread_mutex_unlock(&pool->lock);
        pp_epoch_wait(seen, PP_FOREVER);
        pthread_mutex_lock(&pool->lock);
    }
    pthread_mutex_unlock(&pool->lock);
    return PP_OK;
}

int pp_pool_terminate(pp_pool *pool, int sig)
{
    if (!pool || sig <= 0 || sig >= NSIG)
        return PP_EINVAL;
    PP_MASTER_ONLY();
    int rc = pp_shutdown(pool, false, true);
    if (rc != PP_OK)
        return rc;
    pthread_mutex_lock(&pool->lock);
    if (!pool->broken && pool->cmd_fd >= 0)
        pp_spawner_send(pool, SPAWN_KILL_ALL, 0, sig);
    pthread_mutex_unlock(&pool->lock);
    return PP_OK;
}

void pp_pool_destroy(pp_pool *pool)
{
    if (!pool || pp_current_worker >= 0 || pp_on_monitor_thread(pool))
        return;
    pp_shutdown(pool, true, false);
    pthread_mutex_lock(&pool->lock);
    pool->stop_monitor = true;
    atomic_store(&pool->shm->monitor_asleep, 1);
    pp_shm_kick(pool->shm);
    pthread_mutex_unlock(&pool->lock);
    pthread_join(pool->monitor, NULL);
    teardown(pool);
}

int pp_pool_max_workers(const pp_pool *pool)
{
    if (!pool)
        return PP_EINVAL;
    return (int)pool->nworkers;
}

int pp_pool_stats(const pp_pool *pool, pp_stats *out)
{
    if (!pool || !out)
        return PP_EINVAL;
    PP_MASTER_ONLY();
    pp_pool *p = (pp_pool *)pool;
    pthread_mutex_lock(&p->lock);
    pp_read_reports(p, false); /* count what the spawner has already told */
    *out = p->stats;
    out->workers_alive = p->alive;
    out->shm_bytes_in_use = p->arena.in_use;
    pthread_mutex_unlock(&p->lock);
    return PP_OK;
}
