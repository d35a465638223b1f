/* SPDX-License-Identifier: MIT */
/*
 * helpers.h: task functions and small tools shared by the Criterion suites.
 * Tests synchronise through pipes made before the pool (so workers inherit
 * them): a blocked task reports "started" on one pipe and waits on a gate.
 */
#ifndef PP_TEST_HELPERS_H
#define PP_TEST_HELPERS_H

#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <procpool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define OK(expr) cr_assert_eq((expr), PP_OK, "%s: %s", #expr, pp_strerror(expr))

static int gate[2] = {-1, -1}, started[2] = {-1, -1};

static inline void gates_init(void)
{
    cr_assert_eq(pipe(gate), 0);
    cr_assert_eq(pipe(started), 0);
}

/* Lets n blocked tasks go on. */
static inline void gate_open(int n)
{
    for (int i = 0; i < n; i++)
        cr_assert_eq(write(gate[1], "g", 1), 1);
}

/* Waits until n blocked tasks have started. */
static inline void wait_started(int n)
{
    char c;
    for (int i = 0; i < n; i++)
        cr_assert_eq(read(started[0], &c, 1), 1);
}

/* In a task: says it started, then waits at the gate; false if it cannot. */
static inline bool at_gate(void)
{
    char c = 's';
    return write(started[1], &c, 1) == 1 && read(gate[0], &c, 1) == 1;
}

/* Says it started, waits at the gate, then echoes its argument. */
static inline int block_task(pp_task *t, const void *arg, size_t len)
{
    if (!at_gate())
        return 99;
    return pp_task_return(t, arg, len);
}

static inline int square_task(pp_task *t, const void *arg, size_t len)
{
    (void)len;
    long n = *(const long *)arg;
    long sq = n * n;
    return pp_task_return(t, &sq, sizeof sq);
}

static inline int square_int_task(pp_task *t, const void *arg, size_t len)
{
    (void)len;
    long n = *(const int *)arg;
    long sq = n * n;
    return pp_task_return(t, &sq, sizeof sq);
}

static inline int echo_task(pp_task *t, const void *arg, size_t len)
{
    return pp_task_return(t, arg, len);
}

static inline int pid_task(pp_task *t, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    long pid = getpid();
    return pp_task_return(t, &pid, sizeof pid);
}

static inline int fail_task(pp_task *t, const void *arg, size_t len)
{
    (void)len;
    int code = *(const int *)arg;
    return pp_task_fail(t, code, "failed with %d", code);
}

/* arg: the signal to raise (0: _exit(3)). */
static inline int crash_task(pp_task *t, const void *arg, size_t len)
{
    (void)t;
    (void)len;
    int sig = *(const int *)arg;
    if (sig)
        raise(sig);
    _exit(3);
}

/* arg: an int; a negative one crashes the worker */
static inline int crash_on_negative_task(pp_task *t, const void *arg, size_t len)
{
    (void)len;
    long n = *(const int *)arg;
    if (n < 0)
        raise(SIGKILL);
    long sq = n * n;
    return pp_task_return(t, &sq, sizeof sq);
}

static inline int forever_task(pp_task *t, const void *arg, size_t len)
{
    (void)t;
    (void)arg;
    (void)len;
    for (;;)
        pause();
    return 0;
}

/* Whether sanitizers or valgrind, which need address space and time of their own, watch us. */
static inline bool instrumented(void)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    return true;
#else
    const char *preload = getenv("LD_PRELOAD");
    return preload && strstr(preload, "vgpreload");
#endif
}

/* A bound of s seconds for a plain run; five times that under sanitizers or
   valgrind, whose processes start and exit far slower. */
static inline double slack(double s)
{
    return instrumented() ? 5 * s : s;
}

/* n for a plain run; a fiftieth of it under valgrind, which runs ~50 times slower. */
static inline long scaled(long n)
{
    const char *preload = getenv("LD_PRELOAD");
    return preload && strstr(preload, "vgpreload") ? n / 50 : n;
}

static inline pp_pool *pool_of(int workers)
{
    pp_pool *pool;
    pp_config cfg = {.max_workers = workers};
    OK(pp_pool_create(&pool, &cfg));
    return pool;
}

static inline long result_long(pp_future *f)
{
    const void *data;
    size_t len;
    int rc = pp_future_result(f, 30, &data, &len);
    cr_assert_eq(rc, PP_OK, "result: %s", pp_strerror(rc));
    cr_assert_eq(len, sizeof(long));
    long v;
    memcpy(&v, data, sizeof v);
    return v;
}

static inline pp_future *submit_long(pp_pool *pool, pp_fn fn, long v)
{
    pp_future *f;
    OK(pp_submit(pool, fn, &v, sizeof v, &f));
    return f;
}

static inline double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Whether pid is gone (or a zombie nobody reaped yet). */
static inline bool process_gone(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *fp = fopen(path, "r");
    if (!fp)
        return true;
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    buf[n] = 0;
    const char *p = strrchr(buf, ')');
    return p && (p[2] == 'Z' || p[2] == 'X');
}

/* Polls cond every millisecond for at most `seconds` (a safety net, not a clock). */
#define EVENTUALLY(cond, seconds)                                                                            \
    do {                                                                                                     \
        double until_ = now_s() + (seconds);                                                                 \
        while (!(cond) && now_s() < until_) {                                                                \
            struct timespec ts_ = {0, 1000000};                                                              \
            nanosleep(&ts_, NULL);                                                                           \
        }                                                                                                    \
        cr_assert((cond), "not true within %.0f s: %s", (double)(seconds), #cond);                           \
    } while (0)

#endif
