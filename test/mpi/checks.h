/* SPDX-License-Identifier: MIT */
/*
 * checks.h: the cluster pool's checks (checks.c), run on 3 agents of 2
 * workers over MPI (test_mpi.c) and over the in-process transport
 * (test_local.c). Each check prints its name; a failed expectation prints
 * where and exits 1; a watchdog alarm fails a hang fast, printing the check
 * and its seed.
 */
#ifndef PP_TEST_CLUSTER_CHECKS_H
#define PP_TEST_CLUSTER_CHECKS_H

#include <procpool.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

extern const char *check_name;

#define EXPECT(cond)                                                                                         \
    do {                                                                                                     \
        if (!(cond)) {                                                                                       \
            fprintf(stderr, "FAIL %s: %s:%d: %s\n", check_name, __FILE__, __LINE__, #cond);                  \
            exit(1);                                                                                         \
        }                                                                                                    \
    } while (0)
#define EXPECT_RC(call, want)                                                                                \
    do {                                                                                                     \
        int rc_ = (call);                                                                                    \
        if (rc_ != (want)) {                                                                                 \
            fprintf(stderr, "FAIL %s: %s:%d: %s = %s, want %s\n", check_name, __FILE__, __LINE__, #call,     \
                    pp_strerror(rc_), pp_strerror(want));                                                    \
            exit(1);                                                                                         \
        }                                                                                                    \
    } while (0)

/* Starts a check: prints its name (prefix: "mpi" or "local") and arms a
   watchdog of that many seconds. */
void begin(const char *prefix, const char *name, unsigned seconds);
void nap_ms(long ms);
double now_s(void);
/* In a worker: its agent's rank (PP_TEST_RANK, OMPI_COMM_WORLD_RANK,
   PMIX_RANK or SLURM_PROCID), or -1. */
int task_rank(void);
long result_long(pp_future *f);

/* Tasks the drivers use too. */
int square(pp_task *t, const void *arg, size_t len);
int echo(pp_task *t, const void *arg, size_t len);
int sleeper(pp_task *t, const void *arg, size_t len); /* arg: long milliseconds */

/* The checks, on a fresh pool of 3 agents of 2 workers; prefix as begin.
   max_payload: the largest echo of check_payloads. check_chaos returns how
   many workers it killed. */
void check_submit(const char *prefix, pp_pool *pool);
void check_many(const char *prefix, pp_pool *pool, int n);
void check_payloads(const char *prefix, pp_pool *pool, size_t max_payload);
void check_map(const char *prefix, pp_pool *pool);
void check_wait_callbacks(const char *prefix, pp_pool *pool);
void check_cancel(const char *prefix, pp_pool *pool);
/* pp_future_kill of a task an agent runs: PP_ECANCELLED at once, its worker
   killed and replaced there. */
void check_kill(const char *prefix, pp_pool *pool);
void check_limits(const char *prefix, pp_pool *pool);
/* A map whose chunks end with an item just past its deadline: a kill that
   lands once the worker began the next chunk blames none of its items
   (its agent says so). Leaves the counters' sums uneven: after check_stats. */
void check_chunk_end_kills(const char *prefix, pp_pool *pool);
void check_crashes(const char *prefix, pp_pool *pool);
void check_random(const char *prefix, pp_pool *pool, unsigned seed, int n);
int check_chaos(const char *prefix, pp_pool *pool, unsigned seed, int n);
/* The counters, the agents' workers included; killed: workers killed so far. */
void check_stats(const char *prefix, pp_pool *pool, int killed);
/* Runs 60 tasks of fn, which take agent rank `rank` down; each ends PP_OK,
   or PP_ECRASHED with a message naming that rank. Counts both. */
void run_losing_rank(pp_pool *pool, pp_fn fn, int rank, int *ok, int *crashed);
/* A task on rank 3 kills its agent's fork server: that agent is retired,
   the other tasks run elsewhere. */
void check_broken_agent(const char *prefix, pp_pool *pool);
void check_terminate(const char *prefix, pp_pool *pool);

#endif
