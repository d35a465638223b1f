/* SPDX-License-Identifier: MIT */
/*
 * test_mpi: the cluster suite over MPI, on 4 ranks (make test-mpi). Criterion
 * forks each test, which does not mix with MPI, so this is a plain driver:
 * rank 0 runs every check of checks.c on one cluster pool, the other ranks
 * are its agents. Under mpirun --enable-recovery (or srun), one of:
 *   --lose-agent   a task kills agent rank 2: only that rank's started tasks
 *                  fail, the others run elsewhere, destroy returns at once;
 *   --stop-agent   a task stops agent rank 2 (SIGSTOP) until the master has
 *                  declared it lost, then resumes it: it is fenced (it exits
 *                  nonzero at once, its late reports are dropped), and
 *                  nothing is settled or counted twice;
 *   --lose-master  rank 0 kills itself while tasks run: every agent kills
 *                  its workers and exits nonzero (make test-mpi then checks
 *                  that no process is left).
 */
#define _GNU_SOURCE
#include <procpool_mpi.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../procinfo.h"
#include "checks.h"

#define P "mpi"

/* ---- a lost agent ---------------------------------------------------------- */

/* The agent a task runs under (the worker's parent is the fork server,
   whose parent is the agent). */
static pid_t my_agent(void)
{
    return parent_of(getppid());
}

/* Kills its agent when that is rank 2. A task whose start the agent had not
   yet reported runs again elsewhere, so the kill comes after a nap. */
static int kill_agent_2(pp_task *t, const void *arg, size_t len)
{
    (void)t, (void)arg, (void)len;
    nap_ms(500); /* the agent has reported the start by then */
    pid_t agent = my_agent();
    if (task_rank() == 2 && agent > 1)
        kill(agent, SIGKILL);
    nap_ms(300);
    return 0;
}

static void destroy_quickly(pp_pool *pool)
{
    begin(P, "destroy after a loss returns at once", 30);
    double t0 = now_s();
    pp_pool_destroy(pool);
    double took = now_s() - t0;
    printf(P ": destroy took %.3f s\n", took);
    EXPECT(took < 1.5);
}

static void check_lost_agent(pp_pool *pool)
{
    begin(P, "an agent rank killed: its started tasks crash, the rest run elsewhere", 120);
    int ok, crashed;
    run_losing_rank(pool, kill_agent_2, 2, &ok, &crashed);
    printf(P ": %d ok, %d crashed\n", ok, crashed);
    EXPECT(crashed >= 1 && crashed <= 4);
    pp_stats s;
    EXPECT_RC(pp_pool_stats(pool, &s), PP_OK);
    EXPECT(s.ranks_lost == 1 && s.workers_alive == 4);
    long i = 9;
    pp_future *f;
    EXPECT_RC(pp_submit(pool, square, &i, sizeof i, &f), PP_OK);
    EXPECT(result_long(f) == 81);
    pp_future_release(f);
    destroy_quickly(pool);
}

/* ---- a stopped agent ------------------------------------------------------- */

/* On rank 2 the task of worker 0 stops the agent for 2.5 s, then resumes
   it; each returns its rank. */
static int stop_agent_2(pp_task *t, const void *arg, size_t len)
{
    (void)arg, (void)len;
    nap_ms(300); /* every start is reported by then */
    pid_t agent = my_agent();
    if (task_rank() == 2 && pp_worker_id() == 0 && agent > 1) {
        kill(agent, SIGSTOP);
        nap_ms(2500);
        kill(agent, SIGCONT);
    } else {
        nap_ms(300);
    }
    long rank = task_rank();
    return pp_task_return(t, &rank, sizeof rank);
}

/* Under mpirun --enable-recovery the master's patience is 0.6 s: rank 2 is
   dropped (its started tasks fail) and, resumed, finds itself fenced and
   leaves. Without recovery a lost rank would end the whole job, so the
   master waits 30 s: the 2.5 s stop is waited out and every task succeeds. */
static void check_stopped_agent(pp_pool *pool)
{
    const char *rec = getenv("OMPI_MCA_orte_enable_recovery");
    bool drops = rec && (*rec == '1' || *rec == 't' || *rec == 'y');
    begin(P,
          drops ? "an agent stopped, then resumed: fenced, nothing settled twice"
                : "an agent stopped, then resumed, in a job that cannot lose a rank: waited out",
          120);
    enum { N = 24 };
    pp_future *fs[N];
    for (int i = 0; i < N; i++)
        EXPECT_RC(pp_submit(pool, stop_agent_2, NULL, 0, &fs[i]), PP_OK);
    int ok = 0, crashed = 0;
    for (int i = 0; i < N; i++) {
        const char *msg = NULL;
        int rc = pp_future_exception(fs[i], -1, NULL, &msg);
        EXPECT(rc == PP_OK || rc == PP_ECRASHED);
        if (rc == PP_ECRASHED) {
            EXPECT(msg && strstr(msg, "rank 2"));
            crashed++;
        } else {
            long rank = result_long(fs[i]);
            EXPECT(rank >= 1 && rank <= 3);
            ok++;
        }
    }
    printf(P ": %d ok, %d crashed\n", ok, crashed);
    pp_stats s;
    EXPECT_RC(pp_pool_stats(pool, &s), PP_OK);
    if (drops) {
        EXPECT(crashed >= 1 && crashed <= 2); /* what rank 2 had started */
        /* rank 2, resumed later, finds itself dropped, kills its workers and leaves */
        EXPECT(s.ranks_lost == 1 && s.workers_alive == 4);
    } else {
        EXPECT(crashed == 0 && s.ranks_lost == 0 && s.workers_alive == 6);
    }
    EXPECT(s.crashed == (uint64_t)crashed && s.completed == (uint64_t)ok); /* nothing counted twice */
    for (int i = 0; i < N; i++)
        pp_future_release(fs[i]);
    destroy_quickly(pool);
}

/* ---- a lost master ---------------------------------------------------------- */

static void lose_master(pp_pool *pool)
{
    begin(P, "the master dies: every agent kills its workers and leaves", 60);
    long ms = 60000;
    for (int i = 0; i < 12; i++)
        EXPECT_RC(pp_submit(pool, sleeper, &ms, sizeof ms, &(pp_future *){0}), PP_OK);
    nap_ms(300);
    printf(P ": rank 0 kills itself\n");
    fflush(stdout);
    raise(SIGKILL);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    alarm(120);
    pp_pool *pool = NULL;
    EXPECT(pp_mpi_rank() == -1);
    EXPECT_RC(pp_mpi_init(&argc, &argv, &(pp_config){.max_workers = 2}, NULL), PP_EINVAL);
    EXPECT_RC(pp_mpi_init(&argc, &argv, &(pp_config){.max_workers = -1}, &pool), PP_EINVAL);
    EXPECT_RC(pp_mpi_init(&argc, &argv, &(pp_config){.on_crash = 99}, &pool), PP_EINVAL);
    EXPECT(pool == NULL && pp_mpi_rank() == -1);
    int rc = pp_mpi_init(&argc, &argv, &(pp_config){.max_workers = 2}, &pool);
    if (rc != PP_OK) {
        fprintf(stderr, "FAIL: pp_mpi_init: %s\n", pp_strerror(rc));
        return 1;
    }
    EXPECT(pp_mpi_rank() == 0); /* agents never return */
    EXPECT_RC(pp_mpi_init(&argc, &argv, NULL, &(pp_pool *){0}), PP_ESTATE);
    if (strcmp(mode, "--lose-agent") == 0) {
        check_lost_agent(pool);
    } else if (strcmp(mode, "--stop-agent") == 0) {
        check_stopped_agent(pool);
    } else if (strcmp(mode, "--lose-master") == 0) {
        lose_master(pool);
    } else {
        check_submit(P, pool);
        check_many(P, pool, 10000);
        check_payloads(P, pool, 64 << 20);
        check_map(P, pool);
        check_wait_callbacks(P, pool);
        check_cancel(P, pool);
        check_kill(P, pool);
        check_limits(P, pool);
        check_crashes(P, pool);
        int killed = check_chaos(P, pool, (unsigned)time(NULL), 3000);
        check_stats(P, pool, killed); /* before the random mix, whose released futures may still run */
        check_chunk_end_kills(P, pool);
        for (unsigned seed = 1; seed <= 3; seed++)
            check_random(P, pool, seed, 600);
        check_broken_agent(P, pool);
        check_terminate(P, pool);
    }
    alarm(0);
    printf(P ": %s passed\n", *mode ? mode + 2 : "all checks");
    return 0;
}
