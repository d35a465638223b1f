/* SPDX-License-Identifier: MIT */
/*
 * relay: the cluster pool on rank 0.
 *
 * The cluster pool is a remote pool (create.h, pool.h): submits, futures,
 * waits, callbacks and map are the local pool's own code; its tasks wait in
 * the backlog until the relay thread takes them (pp__take_queued) and sends
 * them to agents, and they end when the relay settles them
 * (pp__settle_taken). The relay thread makes every MPI call of rank 0.
 *
 * Each agent holds a window of tasks: 2 x its workers (every worker has one
 * running and one waiting), plus, once its tasks are seen to be short, as
 * many more as its workers run in REFILL_NS at the tasks' recent pace (the time to refill it), up to
 * WINDOW_MAX and while the extra tasks' arguments stay under WINDOW_BYTES.
 * So long tasks are never hoarded by one agent while others idle, and tiny
 * ones travel hundreds to a message. A task goes to the live agent with the
 * most free room, the lowest rank first, so a serial round trip always finds
 * the same warm agent. A task is
 * "running" from the moment it is sent, as Python's executor counts tasks in
 * its call queue: it can no longer be cancelled.
 *
 * Failures. A worker's crash, deadline or limit is settled on the agent and
 * comes back as that task's status. An agent that has not reported for
 * LOST_NS (plus LOST_NS_PER_MIB per MiB of the arguments it holds) is
 * lost: its started tasks end PP_ECRASHED (the message names the
 * rank), the others go back to the head of the backlog for the live agents;
 * under PP_BREAK_POOL, or when no agent is left, the pool breaks instead.
 * The relay pings every agent each PING_NS, so an agent whose master died
 * ends itself.
 *
 * Shutdown. Once the pool is shut down and every task has ended, the relay
 * tells every live agent to exit and waits for each one's goodbye (or loss);
 * then the pool counts as released (spawner_gone), pp_shutdown's wait ends,
 * and pp_pool_destroy's stop hook joins the thread and finalizes MPI.
 */
#define _GNU_SOURCE
#include "relay.h"

#include <signal.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../dispatch.h"
#include "../pool.h"
#include "../create.h"
#include "../sync.h"
#include "wire.h"

#define LOST_NS      600000000ull
#define LOST_NS_PER_MIB 10000000ull /* more, per MiB of arguments it holds */
#define REFILL_NS    500000ull
#define WINDOW_MAX   512u
#define WINDOW_BYTES ((uint64_t)64 << 20)
#define PING_NS      100000000ull
#define HELLO_WAIT_NS 60000000000ull
#define BUSY_NAP_NS   1000000ull /* longest poll interval while agents hold tasks */
#define IDLE_NAP_NS   50000000ull /* and while none do (a submit wakes the relay at once) */

struct agent {
    int rank;
    uint32_t nworkers, inflight;
    uint64_t inflight_bytes; /* arguments of the tasks it holds */
    uint32_t base; /* its first worker's number in the pool */
    uint64_t last_heard;
    bool lost, gone;
    struct pp_bytes batch; /* tasks to send: u32 count, pad, records */
    uint32_t count;
    struct pp_bigs bigs;   /* large arguments, sent after the batch */
};

struct job {
    pp_future *f;   /* NULL: free */
    uint64_t bytes; /* its argument's */
    bool sending;   /* MPI still reads its argument (sent from the arena, no copy) */
    uint32_t gen, agent;
    bool started;
};

struct relay {
    struct pp_remote ops; /* first: the pool hands it back as a pp_remote */
    pp_pool *pool;
    struct pp_chan c;
    struct pp_modtab tab;
    struct agent *agents;
    uint32_t nagents;
    struct job *jobs;
    uint32_t njobs, *free_jobs, nfree;
    pthread_t thread;
    bool thread_started;
    _Atomic uint32_t wake_seq, asleep;
    _Atomic int terminate_sig;
    bool exit_sent, broken_seen;
    uint64_t run_ns; /* tasks' recent run time (moving average; 0: none yet) */
    uint64_t pinged_at;
};

/* ---- helpers ----------------------------------------------------------------- */

static void send_ctrl(struct relay *r, struct agent *a, int op, int arg)
{
    struct wire_ctrl *m = malloc(sizeof *m);
    if (!m)
        return;
    *m = (struct wire_ctrl){op, arg};
    pp__chan_send(&r->c, a->rank, TAG_CTRL, m, sizeof *m, pp__release_free(m));
}

static uint64_t job_id(struct relay *r, uint32_t j)
{
    return (uint64_t)r->jobs[j].gen << 32 | j;
}

static struct job *job_of(struct relay *r, uint64_t id, uint32_t agent)
{
    uint32_t j = (uint32_t)id;
    if (j >= r->njobs || r->jobs[j].gen != (uint32_t)(id >> 32) || !r->jobs[j].f || r->jobs[j].agent != agent)
        return NULL;
    return &r->jobs[j];
}

static void sent(void *job)
{
    ((struct job *)job)->sending = false;
}

/* Frees a job's entry. Its argument may be sent still: the agent has it all
   by now (it answered), so MPI finishes at once. */
static void drop_job(struct relay *r, struct job *jb)
{
    while (jb->sending)
        pp__chan_progress(&r->c);
    r->agents[jb->agent].inflight--;
    r->agents[jb->agent].inflight_bytes -= jb->bytes;
    jb->f = NULL;
    jb->gen++;
    r->free_jobs[r->nfree++] = (uint32_t)(jb - r->jobs);
}

/* Settles a job with status and message and no result (pool lock held). */
static void fail_job(struct relay *r, struct job *jb, int status, int code, const char *msg)
{
    uint64_t now = pp__now_ns();
    struct pp_outcome o = {.status = status,
                           .code = code,
                           .message = msg,
                           .cost = {.started_ns = now, .finished_ns = now}, /* when it was known */
                           .worker = -1};
    pp_future *f = jb->f;
    drop_job(r, jb);
    pp__settle_taken(r->pool, f, &o);
}

static void lose(struct relay *r, uint32_t ai, const char *why);

/* ---- sending tasks (pool lock held) ------------------------------------------ */

static uint32_t window_of(const struct relay *r, const struct agent *a)
{
    uint64_t base = 2 * (uint64_t)a->nworkers;
    if (!r->run_ns || a->inflight_bytes >= WINDOW_BYTES)
        return (uint32_t)base;
    uint64_t w = base + a->nworkers * REFILL_NS / r->run_ns;
    return w > WINDOW_MAX ? (base > WINDOW_MAX ? (uint32_t)base : WINDOW_MAX) : (uint32_t)w;
}

static struct agent *roomiest(struct relay *r)
{
    struct agent *best = NULL;
    uint32_t best_room = 0;
    for (uint32_t i = 0; i < r->nagents; i++) {
        struct agent *a = &r->agents[i];
        uint32_t w = window_of(r, a);
        if (a->lost || a->gone || a->inflight >= w)
            continue;
        if (!best || w - a->inflight > best_room) {
            best = a;
            best_room = w - a->inflight;
        }
    }
    return best;
}

/* Puts task f into agent a's batch; false (f settled) when it cannot go. */
static bool pack_task(struct relay *r, struct agent *a, pp_future *f)
{
    const struct pp_task_spec *spec = &f->u.in.spec;
    const void *arg;
    size_t len;
    pp__taken_arg(r->pool, f, &arg, &len);
    struct wire_task t = {.deadline_ns = spec->deadline_ns,
                          .cpu_limit_ns = spec->cpu_limit_ns,
                          .result_hint = spec->result_hint,
                          .arg_len = len,
                          .big = len > WIRE_INLINE};
    struct pp_outcome fail = {.status = PP_EINVAL, .worker = -1};
    if (pp__fn_encode(&r->tab, spec->fn, &t.fn_module, &t.fn_off) != PP_OK) {
        fail.message = "the task's function lies in no module the agents know (one loaded after pp_mpi_init?)";
        pp__settle_taken(r->pool, f, &fail);
        return false;
    }
    uint32_t j = r->free_jobs[r->nfree - 1];
    t.id = job_id(r, j);
    size_t mark = a->batch.len;
    if (!a->batch.len)
        pp__bytes_put(&a->batch, NULL, 8);
    pp__bytes_put(&a->batch, &t, sizeof t);
    if (!t.big)
        pp__bytes_put(&a->batch, arg, len);
    if (a->batch.failed ||
        (t.big && !pp__bigs_add(&a->bigs, (void *)arg, len, (struct pp_release){sent, &r->jobs[j]}))) {
        a->batch.len = mark;
        a->batch.failed = false;
        fail.status = PP_ENOMEM;
        fail.message = "no memory to send the task";
        pp__settle_taken(r->pool, f, &fail);
        return false;
    }
    r->nfree--;
    r->jobs[j] = (struct job){.f = f, .bytes = len, .sending = t.big, .gen = r->jobs[j].gen,
                              .agent = (uint32_t)(a - r->agents)};
    a->inflight++;
    a->inflight_bytes += len;
    a->count++;
    return true;
}

static void take_tasks(struct relay *r)
{
    struct agent *a;
    while ((a = roomiest(r)) != NULL) {
        pp_future *f = pp__take_queued(r->pool);
        if (!f)
            break;
        pack_task(r, a, f);
    }
}

/* Sends each agent's batch, then its large arguments (lock not held). */
static void send_batches(struct relay *r)
{
    for (uint32_t i = 0; i < r->nagents; i++) {
        struct agent *a = &r->agents[i];
        if (!a->count)
            continue;
        memcpy(a->batch.p, &a->count, 4);
        pp__chan_active(&r->c);
        int rc = pp__chan_send(&r->c, a->rank, TAG_TASKS, a->batch.p, a->batch.len, pp__release_free(a->batch.p));
        pp__bigs_send(&r->c, a->rank, &a->bigs, rc != PP_OK);
        a->batch = (struct pp_bytes){0};
        a->count = 0;
        if (rc != PP_OK) { /* MPI failed toward it: its tasks go elsewhere */
            pthread_mutex_lock(&r->pool->lock);
            lose(r, i, "MPI could not send to it");
            pthread_mutex_unlock(&r->pool->lock);
        }
    }
}

/* ---- what agents report ------------------------------------------------------ */

/* One result (pool lock held; released while a large result arrives). */
static void read_result(struct relay *r, uint32_t ai, const struct wire_result *w, const unsigned char *msg,
                        const unsigned char *data)
{
    struct agent *a = &r->agents[ai];
    char text[PP_MESSAGE_MAX + 1];
    size_t n = w->msg_len > PP_MESSAGE_MAX ? PP_MESSAGE_MAX : w->msg_len;
    memcpy(text, msg, n);
    text[n] = 0;
    int status = w->status;
    struct job *jb = job_of(r, w->id, ai);
    void *into = NULL;
    if (w->big) { /* straight into the arena, behind the argument where it fits */
        while (jb && jb->sending) /* the agent has it all: MPI is about done with it */
            pp__chan_progress(&r->c);
        void *room = jb ? pp__taken_room(r->pool, jb->f, w->len) : NULL;
        pthread_mutex_unlock(&r->pool->lock); /* only this thread settles taken tasks */
        into = room ? room : malloc(w->len);
        if (into)
            pp__chan_recv_big(&r->c, a->rank, into, w->len);
        if (!room) {
            free(into);
            into = NULL;
            status = status == PP_OK ? PP_ENOMEM : status;
        }
        pthread_mutex_lock(&r->pool->lock);
    }
    if (!jb)
        return;
    uint64_t now = pp__now_ns(), run = w->run_ns > 1000 ? w->run_ns : 1000;
    r->run_ns = r->run_ns ? (3 * r->run_ns + run) / 4 : run;
    struct pp_outcome o = {.status = status,
                           .code = w->code,
                           .message = n ? text : NULL,
                           .cost = {.started_ns = w->run_ns && w->run_ns < now ? now - w->run_ns : now,
                                    .finished_ns = now,
                                    .user_us = w->user_us,
                                    .sys_us = w->sys_us,
                                    .peak_rss = w->peak_rss},
                           .worker = w->worker >= 0 ? (int)(a->base + (uint32_t)w->worker) : -1,
                           .pid = w->pid,
                           .bytes = w->big ? into : data,
                           .len = !w->big || into ? w->len : 0};
    pp_future *f = jb->f;
    drop_job(r, jb);
    bool breaks = r->pool->cfg.on_crash == PP_BREAK_POOL;
    char why[PP_MESSAGE_MAX + 1];
    if (status == PP_EBROKEN && !breaks) { /* its pool broke (its fork server died): the agent is done */
        snprintf(why, sizeof why, "its pool broke: %.180s", n ? text : "?");
        lose(r, ai, why);
        send_ctrl(r, a, CTRL_EXIT, 0);
        snprintf(text, sizeof text, "agent rank %d lost (%.200s)", a->rank, why);
        o.status = PP_ECRASHED;
        o.message = text;
    }
    pp__settle_taken(r->pool, f, &o);
    if (breaks && (status == PP_EBROKEN || status == PP_ECRASHED))
        pp__break_pool(r->pool, PP_EBROKEN);
}

static void read_report(struct relay *r, uint32_t ai, const unsigned char *m, size_t len)
{
    uint32_t head[2];
    if (len < sizeof head)
        return;
    memcpy(head, m, sizeof head);
    size_t at = sizeof head;
    if (head[0] > (len - at) / 8)
        return;
    pthread_mutex_lock(&r->pool->lock);
    for (uint32_t i = 0; i < head[0]; i++, at += 8) {
        uint64_t id;
        memcpy(&id, m + at, 8);
        struct job *jb = job_of(r, id, ai);
        if (jb)
            jb->started = true;
    }
    for (uint32_t i = 0; i < head[1] && len - at >= sizeof(struct wire_result); i++) {
        struct wire_result w;
        memcpy(&w, m + at, sizeof w);
        at += sizeof w;
        uint64_t inline_len = w.big ? 0 : w.len;
        if (w.msg_len > len - at || inline_len > len - at - wire_pad8(w.msg_len))
            break;
        const unsigned char *msg = m + at;
        at += wire_pad8(w.msg_len);
        read_result(r, ai, &w, msg, m + at);
        at += wire_pad8(inline_len);
    }
    pthread_mutex_unlock(&r->pool->lock);
}

static int agent_index(struct relay *r, int rank)
{
    return rank >= 1 && (uint32_t)rank <= r->nagents ? rank - 1 : -1;
}

static bool read_agents(struct relay *r)
{
    bool any = false;
    int flag = 0;
    MPI_Status st;
    while (MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, r->c.comm, &flag, &st) == MPI_SUCCESS && flag) {
        size_t len = 0;
        int ai = agent_index(r, st.MPI_SOURCE);
        unsigned char *m = pp__chan_recv(&r->c, &st, &len);
        if (ai < 0 || r->agents[ai].lost) {
            free(m);
            continue;
        }
        r->agents[ai].last_heard = pp__now_ns();
        if (st.MPI_TAG == TAG_REPORT && m && len > 8) { /* not a bare heartbeat */
            read_report(r, (uint32_t)ai, m, len);
            any = true;
        }
        else if (st.MPI_TAG == TAG_BYE)
            r->agents[ai].gone = true;
        free(m);
    }
    return any;
}

/* ---- failures ------------------------------------------------------------------ */

/* Agent ai stopped reporting (pool lock held). */
static void lose(struct relay *r, uint32_t ai, const char *why)
{
    struct agent *a = &r->agents[ai];
    pp_pool *pool = r->pool;
    char msg[PP_MESSAGE_MAX + 1];
    snprintf(msg, sizeof msg, "agent rank %d lost (%s)", a->rank, why);
    a->lost = true;
    pp__chan_forget(&r->c, a->rank); /* releases the arguments it will never read */
    pool->stats.ranks_lost++;
    pool->alive -= a->nworkers;
    bool breaks = pool->cfg.on_crash == PP_BREAK_POOL || pool->broken;
    for (uint32_t j = r->njobs; j-- > 0;) { /* backwards: returned tasks keep their order */
        struct job *jb = &r->jobs[j];
        if (!jb->f || jb->agent != ai)
            continue;
        if (jb->started || breaks) {
            fail_job(r, jb, breaks ? PP_EBROKEN : PP_ECRASHED, 0, msg);
        } else {
            pp_future *f = jb->f;
            drop_job(r, jb);
            pp__return_taken(pool, f);
        }
    }
    bool any_left = false;
    for (uint32_t i = 0; i < r->nagents; i++)
        any_left |= !r->agents[i].lost && !r->agents[i].gone;
    if (breaks || !any_left)
        pp__break_pool(pool, PP_EBROKEN);
}

static void check_agents(struct relay *r)
{
    uint64_t now = pp__now_ns();
    bool ping = now - r->pinged_at >= PING_NS;
    if (ping)
        r->pinged_at = now;
    for (uint32_t i = 0; i < r->nagents; i++) {
        struct agent *a = &r->agents[i];
        if (a->lost || a->gone)
            continue;
        /* an agent taking in large arguments may go quiet for longer: it
           allocates and maps their memory (80 MiB took 0.6 s on a loaded
           2-core machine) */
        uint64_t patience = LOST_NS + (a->inflight_bytes >> 20) * LOST_NS_PER_MIB;
        if (now - a->last_heard > patience) {
            pthread_mutex_lock(&r->pool->lock);
            char why[64];
            snprintf(why, sizeof why, "no report for %.2f s", (double)(now - a->last_heard) / 1e9);
            lose(r, i, why);
            pthread_mutex_unlock(&r->pool->lock);
        } else if (ping) {
            send_ctrl(r, a, CTRL_PING, 0);
        }
    }
}

/* A broken pool: what agents still run ends, and they are told to kill it. */
static void fail_all(struct relay *r)
{
    for (uint32_t j = 0; j < r->njobs; j++)
        if (r->jobs[j].f)
            fail_job(r, &r->jobs[j], PP_EBROKEN, 0, "the pool is broken");
}

/* ---- the thread ---------------------------------------------------------------- */

static bool all_released(struct relay *r)
{
    for (uint32_t i = 0; i < r->nagents; i++)
        if (!r->agents[i].lost && !r->agents[i].gone)
            return false;
    return true;
}

static void *relay_main(void *arg)
{
    struct relay *r = arg;
    pp_pool *pool = r->pool;
    prctl(PR_SET_TIMERSLACK, 1000UL); /* its short naps are meant: no 50 us of slack on each */
    for (;;) {
        uint32_t seen = atomic_load(&r->wake_seq);
        bool any = read_agents(r);
        check_agents(r);
        int sig = atomic_exchange(&r->terminate_sig, 0);
        pthread_mutex_lock(&pool->lock);
        bool broken = pool->broken && !r->broken_seen;
        if (broken) {
            r->broken_seen = true;
            fail_all(r);
            sig = SIGKILL;
        }
        take_tasks(r);
        bool drained = pool->shutdown && pool->unfinished == 0;
        pthread_mutex_unlock(&pool->lock);
        send_batches(r);
        for (uint32_t i = 0; sig && i < r->nagents; i++)
            if (!r->agents[i].lost && !r->agents[i].gone)
                send_ctrl(r, &r->agents[i], CTRL_TERMINATE, sig);
        if (drained && !r->exit_sent) {
            r->exit_sent = true;
            for (uint32_t i = 0; i < r->nagents; i++)
                if (!r->agents[i].lost && !r->agents[i].gone)
                    send_ctrl(r, &r->agents[i], CTRL_EXIT, 0);
        }
        pp__chan_progress(&r->c);
        if (r->exit_sent && all_released(r))
            break;
        if (any)
            pp__chan_active(&r->c);
        uint64_t nap = pp__chan_nap(&r->c, r->nfree < r->njobs ? BUSY_NAP_NS : IDLE_NAP_NS);
        if (nap) {
            atomic_store(&r->asleep, 1);
            pp__futex_wait(&r->wake_seq, seen, false, pp__now_ns() + nap);
            atomic_store(&r->asleep, 0);
        } else {
            pp__chan_sleep(0);
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
    struct relay *r = (struct relay *)remote;
    atomic_fetch_add(&r->wake_seq, 1);
    if (atomic_load(&r->asleep))
        pp__futex_wake(&r->wake_seq, 1, false);
}

static void relay_terminate(struct pp_remote *remote, int sig)
{
    struct relay *r = (struct relay *)remote;
    atomic_store(&r->terminate_sig, sig);
    relay_wake(remote);
}

static void relay_free(struct relay *r)
{
    for (uint32_t i = 0; r->agents && i < r->nagents; i++) {
        free(r->agents[i].batch.p);
        free(r->agents[i].bigs.b);
    }
    free(r->agents);
    free(r->jobs);
    free(r->free_jobs);
    free(r->c.sends);
    pp__modtab_free(&r->tab);
    free(r);
}

static void relay_stop(struct pp_remote *remote)
{
    struct relay *r = (struct relay *)remote;
    if (r->thread_started)
        pthread_join(r->thread, NULL);
    pp__chan_flush(&r->c); /* what is left goes to agents that said goodbye */
    MPI_Comm_free(&r->c.comm);
    MPI_Finalize();
    relay_free(r);
}

/* ---- start-up ------------------------------------------------------------------ */

/* Waits for every agent's hello; PP_OK, PP_EINVAL (another executable) or PP_ESYS. */
static int greet(struct relay *r, pp_stats *stats)
{
    uint64_t until = pp__now_ns() + HELLO_WAIT_NS;
    int rc = PP_OK;
    uint32_t base = 0;
    for (uint32_t got = 0; got < r->nagents;) {
        int flag = 0;
        MPI_Status st;
        if (MPI_Iprobe(MPI_ANY_SOURCE, TAG_HELLO, r->c.comm, &flag, &st) != MPI_SUCCESS || pp__now_ns() > until)
            return PP_ESYS;
        if (!flag) {
            pp__chan_sleep(100000);
            continue;
        }
        struct wire_hello h = {0};
        MPI_Recv(&h, sizeof h, MPI_BYTE, st.MPI_SOURCE, TAG_HELLO, r->c.comm, MPI_STATUS_IGNORE);
        int ai = agent_index(r, st.MPI_SOURCE);
        if (ai < 0)
            continue;
        struct agent *a = &r->agents[ai];
        a->nworkers = h.nworkers;
        a->last_heard = pp__now_ns();
        if (!h.table_ok)
            rc = PP_EINVAL;
        if (h.cpus == 1 && h.nworkers > 1)
            stats->ranks_bound++;
        got++;
    }
    for (uint32_t i = 0; i < r->nagents; i++) {
        r->agents[i].base = base;
        base += r->agents[i].nworkers;
        r->njobs += 2 * r->agents[i].nworkers > WINDOW_MAX ? 2 * r->agents[i].nworkers : WINDOW_MAX;
    }
    return rc;
}

/* Greets the agents, then makes the pool and its thread. */
static int start(struct relay *r, const pp_config *config)
{
    pp_stats stats = {0};
    int rc = greet(r, &stats);
    if (rc != PP_OK)
        return rc;
    uint32_t total = 0;
    for (uint32_t i = 0; i < r->nagents; i++)
        total += r->agents[i].nworkers;
    if (!total)
        return PP_ESYS; /* no agent could make a pool */
    r->jobs = calloc(r->njobs, sizeof *r->jobs);
    r->free_jobs = malloc(r->njobs * sizeof *r->free_jobs);
    if (!r->jobs || !r->free_jobs)
        return PP_ENOMEM;
    for (uint32_t j = 0; j < r->njobs; j++)
        r->free_jobs[r->nfree++] = r->njobs - 1 - j;
    r->ops = (struct pp_remote){.wake = relay_wake, .terminate = relay_terminate, .stop = relay_stop};
    rc = pp__pool_create_remote(&r->pool, config, total, &r->ops);
    if (rc != PP_OK)
        return rc;
    r->pool->stats.ranks_bound = stats.ranks_bound;
    r->pool->stats.workers_started = total;
    pp__chan_active(&r->c);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* the program's signals go to its threads */
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

int pp__relay_start(struct pp_chan *c, int nranks, struct pp_modtab *tab, const pp_config *config, pp_pool **out)
{
    *out = NULL;
    struct relay *r = calloc(1, sizeof *r);
    void *packed = NULL;
    size_t len = 0;
    if (r) {
        r->c = *c;
        r->tab = *tab;
        r->nagents = (uint32_t)nranks - 1;
        r->agents = calloc(r->nagents, sizeof *r->agents);
        packed = r->agents ? pp__modtab_pack(tab, &len) : NULL;
    }
    uint64_t len64 = packed ? len : 0; /* 0 tells the agents to give up */
    MPI_Bcast(&len64, 1, MPI_UINT64_T, 0, c->comm);
    if (packed)
        MPI_Bcast(packed, (int)len, MPI_BYTE, 0, c->comm);
    free(packed);
    int rc = PP_ENOMEM;
    if (r && r->agents && len64) {
        for (uint32_t i = 0; i < r->nagents; i++)
            r->agents[i].rank = (int)i + 1;
        rc = start(r, config);
        if (rc == PP_OK) {
            *out = r->pool;
            return PP_OK;
        }
        for (uint32_t i = 0; i < r->nagents; i++) /* whichever agents listen leave */
            send_ctrl(r, &r->agents[i], CTRL_EXIT, 0);
        pp__chan_flush(&r->c);
    }
    if (r)
        relay_free(r); /* frees tab */
    else
        pp__modtab_free(tab);
    MPI_Comm_free(&c->comm);
    MPI_Finalize();
    return rc;
}
