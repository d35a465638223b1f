/* SPDX-License-Identifier: MIT */
/*
 * relay: the cluster pool on rank 0.
 *
 * The cluster pool is a remote pool (create.h, pool.h): submits, futures,
 * waits, callbacks and map are the local pool's own code; its tasks wait in
 * the backlog until the relay thread takes them (pp__take_queued, assign.c)
 * and sends them to agents, and they end when the relay settles them
 * (pp__settle_taken, results.c). The relay thread makes every transport
 * call of rank 0 and never blocks: each round it reads what the agents
 * sent, lands large results, checks the agents (peers.c), hands out queued
 * tasks, then polls again at once or naps (pace.h: it polls while a result
 * is due and a worker is free; a submit ends a nap at once).
 *
 * Shutdown. Once the pool is shut down and every task has ended, the relay
 * tells every live agent to exit and waits for each one's goodbye (or
 * loss); then the pool counts as released (spawner_gone), pp_shutdown's
 * wait ends, and pp_pool_destroy's stop hook joins the thread and ends the
 * transport: in step with the agents (MPI_Finalize), or, once an agent was
 * dropped, at once, since a dropped rank may be stopped or hung and would
 * hold the others in MPI_Finalize for as long (the agents are told the
 * same).
 */
#define _GNU_SOURCE
#include "relay.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "../create.h"
#include "../dispatch.h"
#include "../remote.h"
#include "../sync.h"
#include "assign.h"
#include "jobs.h"
#include "peers.h"
#include "relay_state.h"
#include "results.h"

/* ---- a round ------------------------------------------------------------------- */

/* The rank a message came from, as an index in peers, or -1. */
static int peer_of(const struct pp_relay *r, int rank)
{
    return rank >= 1 && (uint32_t)rank <= r->npeers ? rank - 1 : -1;
}

/* Reads what the agents sent; true if a task was settled or a result kept. */
static bool read_peers(struct pp_relay *r)
{
    bool any = false;
    struct pp_msg m;
    while (r->t->poll(r->t, &m) == 1) {
        int pi = peer_of(r, m.src);
        struct pp_peer *p = pi >= 0 ? &r->peers[pi] : NULL;
        if (p && p->lost) {
            pp__peers_late(r, (uint32_t)pi);
        } else if (p && !p->gone) {
            p->heard_at = r->watch.watched;
            if (m.tag == TAG_REPORT && !m.data && m.len) {
                snprintf(p->doomed, sizeof p->doomed, "no memory for its report");
                p->retire = true;
            } else if (m.tag == TAG_REPORT) {
                pthread_mutex_lock(&r->pool->lock);
                any |= pp__results_read(r, (uint32_t)pi, &m);
                pthread_mutex_unlock(&r->pool->lock);
            } else if (m.tag == TAG_BYE) {
                if (p->inflight) /* it left with tasks: they are lost with it */
                    snprintf(p->doomed, sizeof p->doomed, "it left holding tasks");
                else
                    p->gone = true;
            }
        }
        free(m.data);
    }
    return any;
}

/* A broken pool: what agents still run ends (pool->lock held). A task whose
   argument is still being sent ends in a later round, one whose result is
   arriving when it lands. */
static void fail_all(struct pp_relay *r)
{
    for (uint32_t j = 0; j < r->njobs; j++)
        if (r->jobs[j].f && !r->jobs[j].sending && !r->jobs[j].arriving)
            pp__job_fail(r, j, PP_EBROKEN, "the pool is broken", NULL);
}

static bool all_released(const struct pp_relay *r)
{
    for (uint32_t i = 0; i < r->npeers; i++)
        if (!r->peers[i].lost && !r->peers[i].gone)
            return false;
    return true;
}

/* Tells every live agent op(arg). */
static void tell_all(struct pp_relay *r, int op, int arg)
{
    for (uint32_t i = 0; i < r->npeers; i++)
        if (!r->peers[i].lost && !r->peers[i].gone)
            pp__peers_tell(r, i, op, arg);
}

/* The nap before the next round (0: poll); *room: an agent has room for a
   task (a submit then ends the nap: else it could go nowhere yet). */
static uint64_t next_nap(struct pp_relay *r, bool *room)
{
    uint32_t out = r->njobs - r->nfree, free_workers = 0;
    bool landing = false;
    *room = false;
    for (uint32_t i = 0; i < r->npeers; i++) {
        const struct pp_peer *p = &r->peers[i];
        if (p->lost || p->gone)
            continue;
        if (p->inflight < p->nworkers)
            free_workers += p->nworkers - p->inflight;
        *room |= p->inflight < pp__assign_window(r, p);
        landing |= p->narrivals > 0;
    }
    bool due = out && r->run_ns <= PP_POLL_BUDGET_NS;
    uint64_t cap = landing || r->t->sending(r->t) ? PP_SENDING_NAP_NS : out ? PP_BUSY_NAP_NS : PP_IDLE_NAP_NS;
    return pp__pace_nap(&r->pace, due, free_workers > 0, cap);
}

/* Asks the agents to kill the tasks pp_future_kill settled (pool->lock
   held); a job that ended meanwhile took its kill off the list. */
static void pass_kills(struct pp_relay *r)
{
    for (uint32_t k = 0; k < r->nkills; k++)
        for (uint32_t j = 0; j < r->njobs; j++)
            if (r->jobs[j].f == r->kills[k]) {
                pp__peers_kill(r, r->jobs[j].peer, j);
                break;
            }
    r->nkills = 0;
}

static void *relay_main(void *arg)
{
    struct pp_relay *r = arg;
    pp_pool *pool = r->pool;
    prctl(PR_SET_TIMERSLACK, 1000UL); /* its short naps are meant: no 50 us of slack on each */
    for (;;) {
        uint32_t seen = atomic_load(&r->wake_seq);
        pp__pace_watch(&r->watch, r->t->now(r->t), r->tm.heartbeat_ns);
        bool moved = read_peers(r);
        pp__peers_check(r);
        moved |= pp__results_land(r);
        int sig = atomic_exchange(&r->terminate_sig, 0);
        pthread_mutex_lock(&pool->lock);
        if (pool->broken) {
            if (!r->broken_seen)
                sig = SIGKILL; /* agents kill what still runs */
            r->broken_seen = true;
            fail_all(r);
        }
        moved |= pp__assign_tasks(r);
        pass_kills(r);
        /* every task ended, and handed back: a killed one is settled at once
           but its agent still holds it until it reports the kill */
        bool drained = pp__drained(pool) && pool->unfinished == 0 && r->nfree == r->njobs;
        pthread_mutex_unlock(&pool->lock);
        pp__assign_send(r);
        if (sig)
            tell_all(r, CTRL_TERMINATE, sig);
        if (drained && !r->exit_sent) {
            r->exit_sent = true;
            tell_all(r, CTRL_EXIT, r->dropped > 0); /* after a drop: leave without waiting for it */
        }
        if (r->exit_sent && all_released(r))
            break;
        if (moved)
            pp__pace_event(&r->pace);
        bool room;
        uint64_t nap = next_nap(r, &room);
        if (nap && room) { /* a submit ends it */
            atomic_store(&r->asleep, 1);
            pp__futex_wait(&r->wake_seq, seen, false, pp__now_ns() + nap);
            atomic_store(&r->asleep, 0);
        } else {
            pp__pace_sleep(nap);
        }
    }
    pthread_mutex_lock(&pool->lock);
    pool->spawner_gone = true; /* every agent has released its processes */
    pool->alive = 0;
    pp__epoch_bump();
    pthread_mutex_unlock(&pool->lock);
    return NULL;
}

/* ---- the pool's hooks ---------------------------------------------------------- */

static void relay_wake(struct pp_remote *remote)
{
    struct pp_relay *r = (struct pp_relay *)remote;
    atomic_fetch_add(&r->wake_seq, 1);
    if (atomic_exchange(&r->asleep, 0)) /* the first submit of a nap wakes it, the others need not */
        pp__futex_wake(&r->wake_seq, 1, false);
}

/* pp_future_kill of a task an agent holds (pool->lock held): the thread
   passes it on (pass_kills). */
static void relay_kill(struct pp_remote *remote, pp_future *f)
{
    struct pp_relay *r = (struct pp_relay *)remote;
    if (r->nkills < r->njobs)
        r->kills[r->nkills++] = f;
    relay_wake(remote);
}

static void relay_terminate(struct pp_remote *remote, int sig)
{
    struct pp_relay *r = (struct pp_relay *)remote;
    atomic_store(&r->terminate_sig, sig);
    relay_wake(remote);
}

/* pp_pool_stats: what the agents' pools report (pool->lock held, which
   the relay holds too when it updates these). */
static void relay_stats(struct pp_remote *remote, pp_stats *out)
{
    struct pp_relay *r = (struct pp_relay *)remote;
    out->workers_started = out->workers_recycled = 0;
    out->workers_alive = 0;
    for (uint32_t i = 0; i < r->npeers; i++) {
        const struct pp_peer *p = &r->peers[i];
        out->workers_started += p->workers_started;
        out->workers_recycled += p->workers_recycled;
        if (!p->lost && !p->gone)
            out->workers_alive += p->workers_alive;
    }
    out->ranks_lost = r->ranks_lost;
    out->ranks_bound = r->ranks_bound;
}

static size_t relay_window(struct pp_remote *remote, uint64_t task_bytes)
{
    return pp__assign_feed((struct pp_relay *)remote, task_bytes);
}

static void relay_free(struct pp_relay *r)
{
    for (uint32_t i = 0; r->peers && i < r->npeers; i++) {
        struct pp_peer *p = &r->peers[i];
        for (size_t k = 0; k < p->narrivals; k++)
            free(p->arrivals[k].copy);
        free(p->batch.p);
        free(p->outs);
        free(p->arrivals);
    }
    free(r->peers);
    free(r->jobs);
    free(r->free_jobs);
    free(r->kills);
    pp__modtab_free(&r->tab);
    free(r);
}

static void relay_stop(struct pp_remote *remote)
{
    struct pp_relay *r = (struct pp_relay *)remote;
    if (r->thread_started)
        pthread_join(r->thread, NULL);
    bool clean = r->dropped == 0;
    r->t->finalize(r->t, clean, clean); /* what is left goes to agents that said goodbye */
    relay_free(r);
}

/* ---- start-up ------------------------------------------------------------------ */

/* Waits for every agent's hello; PP_OK, PP_EINVAL (another executable) or
   PP_ESYS (an agent never answered). */
static int greet(struct pp_relay *r)
{
    uint64_t until = r->t->now(r->t) + r->tm.hello_ns;
    int rc = PP_OK;
    for (uint32_t got = 0; got < r->npeers;) {
        struct pp_msg m;
        if (r->t->poll(r->t, &m) != 1) {
            if (r->t->now(r->t) > until)
                return PP_ESYS;
            pp__pace_sleep(100000);
            continue;
        }
        struct wire_hello h;
        struct pp_reader rd = {m.data, m.len, 0};
        int pi = peer_of(r, m.src);
        bool hello =
            m.tag == TAG_HELLO && pi >= 0 && !r->peers[pi].greeted && pp__read_into(&rd, &h, sizeof h);
        free(m.data);
        if (!hello)
            continue;
        struct pp_peer *p = &r->peers[pi];
        p->nworkers = h.nworkers <= PP_MAX_WORKERS ? h.nworkers : 0;
        p->workers_started = p->workers_alive = p->nworkers;
        p->greeted = true;
        if (!h.table_ok)
            rc = PP_EINVAL;
        if (h.cpus == 1 && h.nworkers > 1)
            r->ranks_bound++;
        got++;
    }
    uint32_t base = 0;
    for (uint32_t i = 0; i < r->npeers; i++) {
        r->peers[i].base = base;
        base += r->peers[i].nworkers;
        r->njobs += pp__assign_most(r->peers[i].nworkers);
    }
    return rc;
}

/* Greets the agents, then makes the pool and its thread. */
static int start(struct pp_relay *r, const pp_config *config)
{
    int rc = greet(r);
    if (rc != PP_OK)
        return rc;
    uint32_t total = 0;
    for (uint32_t i = 0; i < r->npeers; i++)
        total += r->peers[i].nworkers;
    if (!total)
        return PP_ESYS; /* no agent could make a pool */
    r->jobs = calloc(r->njobs, sizeof *r->jobs);
    r->free_jobs = malloc(r->njobs * sizeof *r->free_jobs);
    r->kills = malloc(r->njobs * sizeof *r->kills);
    if (!r->jobs || !r->free_jobs || !r->kills)
        return PP_ENOMEM;
    for (uint32_t j = 0; j < r->njobs; j++)
        r->free_jobs[r->nfree++] = r->njobs - 1 - j;
    r->ops = (struct pp_remote){.wake = relay_wake,
                                .terminate = relay_terminate,
                                .stop = relay_stop,
                                .kill = relay_kill,
                                .stats = relay_stats,
                                .window = relay_window};
    rc = pp__pool_create_remote(&r->pool, config, total, &r->ops);
    if (rc != PP_OK)
        return rc;
    r->pinged_at = r->t->now(r->t);
    pp__pace_event(&r->pace);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* the program's signals go to its own threads */
    int err = pthread_create(&r->thread, NULL, relay_main, r);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err == 0) {
        r->thread_started = true;
        return PP_OK;
    }
    r->pool->remote = NULL; /* destroyed as a pool with nothing to stop */
    r->pool->spawner_gone = true;
    pp_pool_destroy(r->pool);
    return PP_ESYS;
}

int pp__relay_start(struct pp_transport *t, struct pp_modtab *tab, const pp_config *config,
                    const struct pp_timing *tm, pp_pool **out)
{
    *out = NULL;
    struct pp_relay *r = calloc(1, sizeof *r);
    void *packed = NULL;
    size_t len = 0;
    if (r) {
        r->t = t;
        r->tab = *tab;
        r->tm = *tm;
        r->npeers = (uint32_t)t->size - 1;
        r->peers = calloc(r->npeers, sizeof *r->peers);
        packed = r->peers ? pp__modtab_pack(tab, &len) : NULL;
    }
    bool ready = packed != NULL; /* r and its peers too */
    if (!ready)
        len = 0; /* tells the agents to give up */
    int rc = t->bcast(t, &packed, &len);
    free(packed);
    if (rc == PP_OK && !ready)
        rc = PP_ENOMEM;
    if (rc == PP_OK && r && r->peers) {
        for (uint32_t i = 0; i < r->npeers; i++)
            r->peers[i].rank = (int)i + 1;
        rc = start(r, config);
        if (rc == PP_OK) {
            *out = r->pool;
            return PP_OK;
        }
        tell_all(r, CTRL_EXIT, 0); /* whichever agents listen leave */
    }
    t->finalize(t, true, true);
    if (r)
        relay_free(r); /* frees tab */
    else
        pp__modtab_free(tab);
    return rc;
}
