/* SPDX-License-Identifier: MIT */
/*
 * test_local: the cluster suite without MPI (make test). The relay and 3
 * agents of 2 workers run as threads of this program over the in-process
 * transport (src/mpi/transport_local.c): first the shared checks
 * (checks.c), then what only this transport makes deterministic: an agent
 * stopped and resumed, an agent cut off with a large argument on its way,
 * the master cut off, and the windows.
 *
 * Nothing here waits on time. The liveness clock is manual: it moves only
 * when a check moves it, one heartbeat at a time, each step waiting until
 * every live rank has spoken since (step). Workers tell this program when
 * a task starts through a pipe, and wait at a per-rank gate (another pipe)
 * until the check lets them finish. A watchdog fails a hang, naming the
 * check (and its seed).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "../../src/mpi/agent.h"
#include "../../src/mpi/assign.h"
#include "../../src/mpi/relay.h"
#include "../../src/mpi/relay_state.h"
#include "../../src/mpi/transport_local.h"
#include "../../src/mpi/wire.h"
#include "checks.h"

#define P      "local"
#define AGENTS 3
#define SAFETY 30.0 /* seconds a wait may take before the check fails */

/* ---- a cluster of threads ------------------------------------------------------ */

struct agent_thread {
    pthread_t th;
    struct pp_transport *t;
    pp_pool *pool;
    struct pp_modtab tab;
    struct pp_timing tm;
    enum pp_agent_end end;
    _Atomic bool ended;
};

struct cluster {
    struct pp_local_net *net;
    struct pp_timing tm;
    struct agent_thread a[AGENTS + 1]; /* a[r]: rank r */
    pp_pool *pool;
    bool destroyed;
};

static void *agent_main(void *arg)
{
    struct agent_thread *a = arg;
    a->end = pp__agent_run(a->t, a->pool, &a->tab, &a->tm);
    pp__modtab_free(&a->tab);
    atomic_store(&a->ended, true);
    return NULL;
}

static int started_pipe[2], gate[AGENTS + 1][2];

/* Starts the relay and 3 agents of 2 workers, on a manual clock, with
   fresh start and gate pipes (the workers inherit them). */
static void cluster_up(struct cluster *c)
{
    *c = (struct cluster){.tm = pp__timing_default()};
    EXPECT(pipe(started_pipe) == 0);
    for (int r = 1; r <= AGENTS; r++)
        EXPECT(pipe(gate[r]) == 0);
    EXPECT_RC(pp__local_net_new(AGENTS + 1, &c->net), PP_OK);
    pp__local_manual_clock(c->net);
    for (int r = 1; r <= AGENTS; r++) {
        struct agent_thread *a = &c->a[r];
        char rank[16];
        snprintf(rank, sizeof rank, "%d", r);
        setenv("PP_TEST_RANK", rank, 1); /* the workers' task_rank() */
        EXPECT_RC(pp_pool_create(&a->pool, &(pp_config){.max_workers = 2}), PP_OK);
        EXPECT_RC(pp__modtab_load(&a->tab), PP_OK);
        a->t = pp__local_endpoint(c->net, r);
        a->tm = c->tm;
        EXPECT(pthread_create(&a->th, NULL, agent_main, a) == 0);
    }
    unsetenv("PP_TEST_RANK");
    struct pp_modtab tab;
    EXPECT_RC(pp__modtab_load(&tab), PP_OK);
    EXPECT_RC(pp__relay_start(pp__local_endpoint(c->net, 0), &tab, &(pp_config){.max_workers = 2}, &c->tm,
                              &c->pool),
              PP_OK);
    EXPECT(pp_pool_max_workers(c->pool) == 2 * AGENTS);
}

static void close_pipes(void)
{
    close(started_pipe[0]);
    close(started_pipe[1]);
    for (int r = 1; r <= AGENTS; r++)
        close(gate[r][0]), close(gate[r][1]);
}

/* Destroys the pool (unless done); returns how long that took. */
static double cluster_destroy(struct cluster *c)
{
    double t0 = now_s();
    if (!c->destroyed)
        pp_pool_destroy(c->pool);
    c->destroyed = true;
    return now_s() - t0;
}

/* Destroys the pool, joins the agents and checks how each ended. */
static void cluster_down(struct cluster *c, const enum pp_agent_end *ends)
{
    cluster_destroy(c);
    for (int r = 1; r <= AGENTS; r++) {
        pthread_join(c->a[r].th, NULL);
        if (c->a[r].end != ends[r])
            fprintf(stderr, "rank %d ended %d, want %d\n", r, (int)c->a[r].end, (int)ends[r]);
        EXPECT(c->a[r].end == ends[r]);
    }
    pp__local_net_free(c->net);
    close_pipes();
}

static struct pp_relay *relay_of(pp_pool *pool)
{
    return (struct pp_relay *)pool->remote;
}

/* Tasks agent rank `rank` holds on the relay, and of them those it
   reported started. */
static void held(pp_pool *pool, int rank, int *tasks, int *started)
{
    struct pp_relay *r = relay_of(pool);
    *tasks = *started = 0;
    pthread_mutex_lock(&pool->lock);
    for (uint32_t j = 0; j < r->njobs; j++)
        if (r->jobs[j].f && r->peers[r->jobs[j].peer].rank == rank) {
            (*tasks)++;
            *started += r->jobs[j].started;
        }
    pthread_mutex_unlock(&pool->lock);
}

static void wait_until(bool (*cond)(void *), void *ud, const char *what)
{
    double until = now_s() + SAFETY;
    while (!cond(ud)) {
        if (now_s() > until) {
            fprintf(stderr, "FAIL %s: no %s after %.0f s\n", check_name, what, SAFETY);
            exit(1);
        }
        sched_yield();
    }
}

struct held_want {
    pp_pool *pool;
    int rank, tasks, started; /* tasks < 0: any number */
};

static bool holds(void *ud)
{
    struct held_want *w = ud;
    int tasks, started;
    held(w->pool, w->rank, &tasks, &started);
    return (w->tasks < 0 || tasks == w->tasks) && started >= w->started;
}

/* Waits until the relay knows that `rank` holds that many tasks (< 0: any)
   and started at least `started` of them. */
static void wait_held(pp_pool *pool, int rank, int tasks, int started)
{
    struct held_want w = {pool, rank, tasks, started};
    wait_until(holds, &w, "task count");
}

struct spoke {
    struct pp_local_net *net;
    int rank;
    uint64_t before;
    _Atomic bool *ended; /* NULL: the relay */
};

static bool has_spoken(void *ud)
{
    struct spoke *s = ud;
    return pp__local_sent(s->net, s->rank) > s->before || (s->ended && atomic_load(s->ended));
}

/* Moves the clock one heartbeat, then waits until every rank of live has
   spoken (a heartbeat, a ping) since, or ended. */
static void step(struct cluster *c, const bool *live)
{
    struct spoke s[AGENTS + 1];
    for (int r = 0; r <= AGENTS; r++)
        s[r] = (struct spoke){c->net, r, pp__local_sent(c->net, r), r ? &c->a[r].ended : NULL};
    pp__local_advance(c->net, c->tm.heartbeat_ns);
    for (int r = 0; r <= AGENTS; r++)
        if (live[r])
            wait_until(has_spoken, &s[r], "heartbeat");
}

/* Steps the clock until done(ud) holds, failing after three times `expect`
   of clock (a rank that speaks in a round that began before a step moves
   its watch one step, not two: pace.h). */
static void step_until(struct cluster *c, const bool *live, uint64_t expect, bool (*done)(void *), void *ud,
                       const char *what)
{
    for (uint64_t t = 0; !done(ud); t += c->tm.heartbeat_ns) {
        if (t > 3 * expect) {
            fprintf(stderr, "FAIL %s: no %s after %.1f s of clock\n", check_name, what, (double)t / 1e9);
            exit(1);
        }
        step(c, live);
    }
}

static bool lost_one(void *ud)
{
    pp_stats s;
    pp_pool_stats(ud, &s);
    return s.ranks_lost >= 1;
}

/* Steps the clock past the relay's patience until it declares a loss. */
static void step_until_lost(struct cluster *c, const bool *live, uint64_t patience_ns)
{
    step_until(c, live, patience_ns, lost_one, c->pool, "loss");
}

static bool ended(void *ud)
{
    struct cluster *c = ud;
    for (int r = 1; r <= AGENTS; r++)
        if (c->a[r].th && !atomic_load(&c->a[r].ended))
            return false;
    return true;
}

static const enum pp_agent_end all_done[AGENTS + 1] = {PP_AGENT_DONE, PP_AGENT_DONE, PP_AGENT_DONE,
                                                       PP_AGENT_DONE};

/* ---- gated tasks ----------------------------------------------------------------- */

struct start_rec {
    int32_t rank, pid, index;
};

/* Tells the test it started, waits at its rank's gate, returns its index. */
static int gated(pp_task *t, const void *arg, size_t len)
{
    int32_t index;
    memcpy(&index, arg, sizeof index);
    (void)len;
    struct start_rec rec = {task_rank(), (int32_t)getpid(), index};
    if (write(started_pipe[1], &rec, sizeof rec) != sizeof rec || rec.rank < 1 || rec.rank > AGENTS)
        return pp_task_fail(t, 1, "no start record");
    char c;
    while (read(gate[rec.rank][0], &c, 1) != 1)
        ;
    long v = index;
    return pp_task_return(t, &v, sizeof v);
}

/* Reads the next start record (the watchdog's safety: SAFETY seconds). */
static struct start_rec next_start(void)
{
    struct pollfd p = {.fd = started_pipe[0], .events = POLLIN};
    EXPECT(poll(&p, 1, (int)(SAFETY * 1000)) == 1);
    struct start_rec rec;
    EXPECT(read(started_pipe[0], &rec, sizeof rec) == sizeof rec);
    return rec;
}

static void open_gate(int rank, int n)
{
    for (int i = 0; i < n; i++)
        EXPECT(write(gate[rank][1], "x", 1) == 1);
}

static pp_future *submit_gated(pp_pool *pool, int32_t index)
{
    pp_future *f;
    EXPECT_RC(pp_submit(pool, gated, &index, sizeof index, &f), PP_OK);
    return f;
}

/* Starts a cluster and submits n gated tasks: each agent takes 4 (2 x its
   workers) and starts 2; returns once those 6 have started, with their
   start records in started (NULL: not needed). */
static void up_gated(struct cluster *c, pp_future **fs, int n, struct start_rec *started)
{
    cluster_up(c);
    for (int i = 0; i < n; i++)
        fs[i] = submit_gated(c->pool, i);
    for (int i = 0; i < 2 * AGENTS; i++) {
        struct start_rec s = next_start();
        if (started)
            started[i] = s;
    }
}

/* ---- the checks only this transport can make -------------------------------------- */

static void check_windows(void)
{
    begin(P, "windows: 2 x workers while tasks are long, more once they are short", 60);
    struct cluster c;
    enum { N = 30 };
    pp_future *fs[N];
    up_gated(&c, fs, N, NULL);
    int held_total = 0;
    for (int r = 1; r <= AGENTS; r++) {
        wait_held(c.pool, r, 4, 0); /* 2 x workers, the pace unknown (the relay may not have sent all yet) */
        int tasks, started;
        held(c.pool, r, &tasks, &started);
        EXPECT(tasks == 4);
        held_total += tasks;
    }
    int cancelled = 0;
    for (int i = N - 1; i >= 0; i--)
        cancelled += pp_future_cancel(fs[i]) == 1;
    EXPECT(cancelled == N - held_total);
    for (int r = 1; r <= AGENTS; r++)
        open_gate(r, 4);
    for (int i = 0; i < N; i++) {
        int rc = pp_future_exception(fs[i], -1, NULL, NULL);
        EXPECT(i < held_total ? rc == PP_OK : rc == PP_ECANCELLED);
        if (rc == PP_OK)
            EXPECT(result_long(fs[i]) == i);
        pp_future_release(fs[i]);
    }
    for (int i = 0; i < held_total - 2 * AGENTS; i++)
        next_start();
    check_many(P, c.pool, 3000); /* tiny tasks: the windows grow */
    struct pp_relay *r = relay_of(c.pool);
    pthread_mutex_lock(&c.pool->lock);
    uint32_t w = pp__assign_window(r, &r->peers[0]);
    pthread_mutex_unlock(&c.pool->lock);
    printf(P ": window after tiny tasks: %u\n", w);
    EXPECT(w > 4);
    cluster_down(&c, all_done);
}

/* Agent rank 2 is stopped while it holds started and queued tasks, is
   declared lost, then resumed: its started tasks crashed, its queued ones
   ran elsewhere, what it says late is dropped, and it leaves at once,
   nonzero. */
static void check_stop_continue(void)
{
    begin(P, "an agent stopped, declared lost, resumed: fenced", 60);
    struct cluster c;
    enum { N = 12 };
    pp_future *fs[N];
    struct start_rec started[2 * AGENTS];
    up_gated(&c, fs, N, started);
    wait_held(c.pool, 2, 4, 2);
    int tasks2, started2;
    held(c.pool, 2, &tasks2, &started2);
    EXPECT(tasks2 == 4 && started2 == 2);
    pp__local_stop(c.net, 2, true);
    EXPECT(pp__local_wait_stopped(c.net, 2, (uint64_t)(SAFETY * 1e9)));
    pp_stats before;
    EXPECT_RC(pp_pool_stats(c.pool, &before), PP_OK);
    step_until_lost(&c, (bool[]){true, true, false, true}, c.tm.lost_ns);
    /* its two started tasks crashed; its two queued ones are back in the
       backlog, and run on ranks 1 and 3 once their gates open */
    open_gate(1, 6);
    open_gate(3, 6);
    int crashed = 0;
    for (int i = 0; i < N; i++) {
        const char *msg = NULL;
        int rc = pp_future_exception(fs[i], -1, NULL, &msg);
        if (rc == PP_ECRASHED) {
            EXPECT(msg && strstr(msg, "agent rank 2 lost"));
            crashed++;
        } else {
            EXPECT_RC(rc, PP_OK);
            EXPECT(result_long(fs[i]) == i);
        }
    }
    EXPECT(crashed == 2);
    for (int k = 0; k < 2 * AGENTS; k++) /* only what had started there crashed */
        EXPECT((pp_future_exception(fs[started[k].index], 0, NULL, NULL) == PP_ECRASHED) ==
               (started[k].rank == 2));
    /* a late report from rank 2, naming every job it could: dropped */
    pp_stats mid;
    EXPECT_RC(pp_pool_stats(c.pool, &mid), PP_OK);
    EXPECT(mid.ranks_lost == 1 && mid.crashed == 2 && mid.completed == N - 2);
    EXPECT(mid.workers_alive == 4);
    struct pp_relay *r = relay_of(c.pool);
    struct {
        struct wire_report head;
        struct wire_result res[16];
    } late = {.head = {.nresults = 16}};
    for (uint32_t k = 0; k < 16; k++)
        late.res[k] = (struct wire_result){.id = (uint64_t)(k % 2) << 32 | (k % r->njobs), .status = PP_OK};
    pp__local_inject(c.net, 2, 0, TAG_REPORT, &late, sizeof late);
    /* the queued tasks it still holds run there when its gate opens: their
       results reach nobody */
    open_gate(2, 4);
    pp__local_stop(c.net, 2, false);
    pthread_join(c.a[2].th, NULL);
    EXPECT(c.a[2].end == PP_AGENT_DROPPED);
    c.a[2].th = 0;
    long v = 5;
    pp_future *f;
    EXPECT_RC(pp_submit(c.pool, square, &v, sizeof v, &f),
              PP_OK); /* the relay has read the late report by then */
    EXPECT(result_long(f) == 25);
    pp_future_release(f);
    pp_stats after;
    EXPECT_RC(pp_pool_stats(c.pool, &after), PP_OK);
    EXPECT(after.completed == mid.completed + 1 && after.crashed == 2 && after.failed == 0 &&
           after.ranks_lost == 1);
    for (int i = 0; i < N; i++)
        pp_future_release(fs[i]);
    double took = cluster_destroy(&c);
    printf(P ": destroy after the loss took %.3f s\n", took);
    EXPECT(took < 3.0); /* at once, give or take a loaded machine: no wait on the lost rank */
    for (int r2 = 1; r2 <= AGENTS; r2 += 2) {
        pthread_join(c.a[r2].th, NULL);
        EXPECT(c.a[r2].end == PP_AGENT_DONE);
    }
    pp__local_net_free(c.net);
    close_pipes();
}

/* Agent rank 2 stops while a large argument is on its way to it: the
   argument waits in the master's arena, is given back when the agent is
   lost, and the task runs elsewhere with every byte. Then rank 2 is cut
   off (dead, as the others see it) and resumed: hearing no master, it
   kills its workers and leaves. */
static void check_big_to_lost_agent(void)
{
    begin(P, "a large argument on its way to an agent that is lost", 60);
    struct cluster c;
    enum { N = 12 };
    pp_future *fs[N];
    up_gated(&c, fs, N, NULL);
    open_gate(2, 1);                /* a task ends on rank 2, which then has room for one */
    EXPECT(next_start().rank == 2); /* its worker took the next one there */
    wait_held(c.pool, 2, 3, 0);
    pp__local_stop(c.net, 2, true);
    EXPECT(pp__local_wait_stopped(c.net, 2, (uint64_t)(SAFETY * 1e9)));
    size_t len = 3 << 20;
    unsigned char *buf = malloc(len);
    for (size_t i = 0; i < len; i++)
        buf[i] = (unsigned char)(i * 7 + (i >> 16));
    pp_future *big;
    EXPECT_RC(pp_submit(c.pool, echo, buf, len, &big), PP_OK);
    wait_held(c.pool, 2, 4, 0); /* the only room: rank 2's */
    step_until_lost(&c, (bool[]){true, true, false, true}, c.tm.lost_ns + (len >> 20) * c.tm.lost_ns_per_mib);
    open_gate(1, 8);
    open_gate(3, 8);
    const void *p;
    size_t n;
    EXPECT_RC(pp_future_result(big, -1, &p, &n), PP_OK);
    EXPECT(n == len && memcmp(p, buf, len) == 0);
    pp_future_release(big);
    for (int i = 0; i < N; i++) {
        int rc = pp_future_exception(fs[i], -1, NULL, NULL);
        EXPECT(rc == PP_OK || rc == PP_ECRASHED);
        pp_future_release(fs[i]);
    }
    free(buf);
    double took = cluster_destroy(&c);
    EXPECT(took < 3.0);      /* at once, give or take a loaded machine: no wait on the lost rank */
    pp__local_cut(c.net, 2); /* it will never read that it was dropped */
    pp__local_stop(c.net, 2, false);
    open_gate(2, 8);
    step_until(&c, (bool[]){false, false, true, false}, c.tm.master_lost_ns, ended, &c, "orphaned agent");
    cluster_down(&c, (enum pp_agent_end[]){PP_AGENT_DONE, PP_AGENT_DONE, PP_AGENT_ORPHANED, PP_AGENT_DONE});
}

static bool kills_passed(void *ud)
{
    pp_pool *pool = ud;
    pthread_mutex_lock(&pool->lock);
    bool none = relay_of(pool)->nkills == 0;
    pthread_mutex_unlock(&pool->lock);
    return none;
}

/* pp_future_kill on tasks agents hold: one whose large argument is still
   landing is never run; a running one's info names its worker once the
   agent reports the kill; killing everything, then destroying at once,
   loses no agent (each reports its kills before it leaves). */
static void check_kills(void)
{
    begin(P, "kills: a landing argument, a running task's info, kill all then destroy", 60);
    struct cluster c;
    enum { N = 12 };
    pp_future *fs[N];
    struct start_rec started[2 * AGENTS];
    up_gated(&c, fs, N, started);
    open_gate(2, 1); /* a task ends on rank 2, which then has room for one */
    EXPECT(next_start().rank == 2);
    wait_held(c.pool, 2, 3, 0);
    pp_stats before, after;
    EXPECT_RC(pp_pool_stats(c.a[2].pool, &before), PP_OK);
    pp__local_stop(c.net, 2, true);
    EXPECT(pp__local_wait_stopped(c.net, 2, (uint64_t)(SAFETY * 1e9)));
    size_t len = 1 << 20;
    int32_t *big_arg = calloc(1, len);
    big_arg[0] = 100;
    pp_future *big;
    EXPECT_RC(pp_submit(c.pool, gated, big_arg, len, &big), PP_OK);
    wait_held(c.pool, 2, 4, 0); /* the only room: rank 2's */
    EXPECT(pp_future_kill(big) == 1);
    EXPECT_RC(pp_future_result(big, 0, NULL, NULL), PP_ECANCELLED);
    wait_until(kills_passed, c.pool, "kill sent");
    pp__local_stop(c.net, 2, false); /* it reads the task, then its kill */
    wait_held(c.pool, 2, 3, 0);      /* reported killed, never submitted */
    EXPECT_RC(pp_pool_stats(c.a[2].pool, &after), PP_OK);
    EXPECT(after.submitted == before.submitted);
    pp_future_release(big);
    free(big_arg);

    /* a running task on rank 1: its info once rank 1 reported the kill */
    int index = -1;
    for (int i = 0; i < 2 * AGENTS && index < 0; i++)
        if (started[i].rank == 1)
            index = started[i].index;
    EXPECT(index >= 0);
    EXPECT(pp_future_kill(fs[index]) == 1);
    wait_held(c.pool, 1, 3, 0);
    pp_task_info info;
    EXPECT_RC(pp_future_info(fs[index], &info), PP_OK);
    EXPECT(info.worker_id >= 0 && info.worker_id < 2 * AGENTS && info.attempts == 1);
    EXPECT(info.started_at > 0 && info.finished_at >= info.started_at);
    EXPECT(info.user_cpu_s == 0 && info.peak_rss_bytes == 0);

    for (int i = 0; i < N; i++) { /* what is left, running or queued, then destroy at once */
        int k = pp_future_kill(fs[i]);
        EXPECT(k == 1 || (k == 0 && pp_future_exception(fs[i], 0, NULL, NULL) == PP_OK));
        pp_future_release(fs[i]);
    }
    EXPECT_RC(pp_shutdown(c.pool, true, false), PP_OK); /* every agent said goodbye */
    pp_stats s;
    EXPECT_RC(pp_pool_stats(c.pool, &s), PP_OK);
    EXPECT(s.crashed == 0 && s.ranks_lost == 0); /* no agent left holding tasks */
    cluster_down(&c, all_done);
}

/* The master is cut off while tasks run: every agent kills its workers at
   once and leaves nonzero; the pool breaks and destroy returns. */
static void check_lost_master(void)
{
    begin(P, "the master cut off: agents kill their workers and leave", 60);
    struct cluster c;
    enum { N = 12 };
    pp_future *fs[N];
    struct start_rec started[2 * AGENTS];
    up_gated(&c, fs, N, started);
    pp__local_cut(c.net, 0);
    step_until(&c, (bool[]){false, true, true, true}, c.tm.master_lost_ns, ended, &c, "orphaned agents");
    for (int r = 1; r <= AGENTS; r++) {
        pthread_join(c.a[r].th, NULL);
        EXPECT(c.a[r].end == PP_AGENT_ORPHANED);
    }
    for (int i = 0; i < 2 * AGENTS; i++) /* killed, and reaped with their pools */
        EXPECT(kill(started[i].pid, 0) == -1 && errno == ESRCH);
    for (int i = 0; i < N; i++) {
        int rc = pp_future_exception(fs[i], -1, NULL, NULL);
        EXPECT(rc == PP_ECRASHED || rc == PP_EBROKEN);
        pp_future_release(fs[i]);
    }
    pp_stats s;
    EXPECT_RC(pp_pool_stats(c.pool, &s), PP_OK);
    EXPECT(s.ranks_lost == AGENTS);
    double took = cluster_destroy(&c);
    EXPECT(took < 3.0); /* at once, give or take a loaded machine: no wait on the lost rank */
    pp__local_net_free(c.net);
    close_pipes();
}

/* The checks of checks.c, on one cluster. */
static void shared_checks(unsigned seed)
{
    struct cluster c;
    begin(P, "start-up", 30);
    cluster_up(&c);
    check_submit(P, c.pool);
    check_many(P, c.pool, 5000);
    check_payloads(P, c.pool, 16 << 20);
    check_map(P, c.pool);
    check_wait_callbacks(P, c.pool);
    check_cancel(P, c.pool);
    check_kill(P, c.pool);
    check_limits(P, c.pool);
    check_crashes(P, c.pool);
    int killed = check_chaos(P, c.pool, seed, 600);
    check_stats(P, c.pool, killed);
    check_chunk_end_kills(P, c.pool);
    check_random(P, c.pool, seed, 300);
    check_broken_agent(P, c.pool);
    check_terminate(P, c.pool); /* it destroys the pool */
    c.destroyed = true;
    cluster_down(&c, all_done); /* rank 3, retired, left in order */
}

/* cluster_tests [seed [--fencing]]: every check, or only those of lost
   agents and masters. */
int main(int argc, char **argv)
{
    unsigned seed = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 1;
    bool fencing_only = argc > 2 && strcmp(argv[2], "--fencing") == 0;
    if (!fencing_only) {
        shared_checks(seed);
        check_windows();
        check_kills();
    }
    check_stop_continue();
    check_big_to_lost_agent();
    check_lost_master();
    alarm(0);
    printf(P ": all checks passed (seed %u)\n", seed);
    return 0;
}
