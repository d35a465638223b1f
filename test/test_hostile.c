/* SPDX-License-Identifier: MIT */
/*
 * Hostile use: each test is a hang or a corruption that a hostile user found
 * (the "Never hang" and "Never corrupt, never crash" lists), driven the way
 * they drove it. A hang fails through the suite's timeout, never by waiting
 * for ever.
 */
#include <float.h>
#include <math.h>
#include <stdatomic.h>
#include <sys/mman.h>

#include "helpers.h"

TestSuite(hostile, .timeout = 60);

/* ---- hangs ---------------------------------------------------------------- */

/* 1: cancelled tasks leave cells in the ring; work submitted after them must
   still reach the idle worker. */
Test(hostile, stale_ring_cells_do_not_hide_new_work)
{
    gates_init();
    pp_pool *pool = pool_of(1);
    pp_future *busy = submit_long(pool, block_task, 1);
    wait_started(1);
    for (long i = 0; i < 2048; i++) {
        pp_future *f = submit_long(pool, echo_task, i);
        cr_assert_eq(pp_future_cancel(f), 1);
        pp_future_release(f);
    }
    pp_future *a = submit_long(pool, echo_task, 5), *b = submit_long(pool, echo_task, 6);
    pp_future_release(busy);
    gate_open(1);
    cr_assert_eq(result_long(b), 6); /* no other wait before it */
    cr_assert_eq(result_long(a), 5);
    pp_pool_destroy(pool);
}

/* 2: every slot cancelled or released while one worker is busy; the task
   queued behind them must run, and stats must count what finished. */
Test(hostile, queued_work_behind_full_slots_runs)
{
    gates_init();
    pp_pool *pool = pool_of(1);
    pp_future *busy = submit_long(pool, block_task, 1);
    wait_started(1);
    for (long i = 0; i < 1023; i++) {
        pp_future *f = submit_long(pool, echo_task, i);
        pp_future_cancel(f);
        pp_future_release(f);
    }
    for (long i = 0; i < 1023; i++)
        pp_future_release(submit_long(pool, echo_task, i));
    pp_future *last = submit_long(pool, echo_task, 42);
    pp_future_release(busy);
    gate_open(1);
    cr_assert_eq(result_long(last), 42);
    pp_stats st;
    OK(pp_pool_stats(pool, &st));
    cr_assert_eq(st.completed, 1025);
    cr_assert_eq(st.cancelled, 1023);
    pp_pool_destroy(pool);
}

/* 3: done()/running() see the truth without any wait call. */
Test(hostile, polls_see_completion_without_a_wait)
{
    gates_init();
    pp_pool *pool = pool_of(2);
    for (int round = 0; round < 12; round++) {
        pp_future *f = submit_long(pool, echo_task, round);
        EVENTUALLY(pp_future_done(f), 10);
        cr_assert_not(pp_future_running(f));
        cr_assert_not(pp_future_cancelled(f));
        pp_future_release(f);
    }
    pp_future *b = submit_long(pool, block_task, 1);
    wait_started(1);
    EVENTUALLY(pp_future_running(b), 10);
    cr_assert_not(pp_future_done(b));
    gate_open(1);
    EVENTUALLY(pp_future_done(b), 10);
    cr_assert_not(pp_future_running(b));
    pp_pool_destroy(pool);
}

static int close_everything_task(pp_task *t, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    for (int fd = 0; fd < 1024; fd++)
        close(fd);
    return pp_task_return(t, &(long){7}, sizeof(long));
}

static int big_result_task(pp_task *t, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    unsigned char *p = pp_task_result_buffer(t, 1 << 20);
    if (!p)
        return 1;
    memset(p, 0xab, 1 << 20);
    return 0;
}

static _Atomic int callbacks_run;
static void count_cb(pp_future *f, void *ud)
{
    (void)f;
    (void)ud;
    atomic_fetch_add(&callbacks_run, 1);
}

/* 4: a task that closes every descriptor must not deafen the pool. */
Test(hostile, a_task_closing_every_descriptor_does_not_deafen_the_pool)
{
    pp_pool *pool = pool_of(1);
    cr_assert_eq(result_long(submit_long(pool, close_everything_task, 0)), 7);
    pp_future *fs[8];
    atomic_store(&callbacks_run, 0);
    for (long i = 0; i < 8; i++) {
        fs[i] = submit_long(pool, echo_task, i);
        OK(pp_future_add_done_callback(fs[i], count_cb, NULL));
    }
    cr_assert_eq(pp_wait(fs, 8, 30, PP_ALL_COMPLETED), 8);
    EVENTUALLY(atomic_load(&callbacks_run) == 8, 30);
    pp_future *big;
    OK(pp_submit(pool, big_result_task, NULL, 0, &big));
    const void *data;
    size_t len;
    OK(pp_future_result(big, 30, &data, &len));
    cr_assert_eq(len, (size_t)1 << 20);
    cr_assert_eq(((const unsigned char *)data)[len - 1], 0xab);
    pp_pool_destroy(pool);
}

/* 5: the documented maximum of workers starts. */
Test(hostile, the_maximum_worker_count_starts, .timeout = 120)
{
    if (instrumented())
        cr_skip_test("a thousand instrumented processes would take minutes");
    pp_pool *pool;
    OK(pp_pool_create(&pool, &(pp_config){.max_workers = PP_MAX_WORKERS}));
    cr_assert_eq(pp_pool_max_workers(pool), PP_MAX_WORKERS);
    cr_assert_eq(result_long(submit_long(pool, square_task, 12)), 144);
    pp_pool_destroy(pool);
}

static int segfault_init(void *arg)
{
    (void)arg;
    raise(SIGSEGV);
    return 0;
}

/* 6: an initializer that crashes breaks the pool, as one that fails does. */
Test(hostile, a_crashing_initializer_breaks_the_pool)
{
    pp_pool *pool;
    OK(pp_pool_create(&pool, &(pp_config){.max_workers = 2, .initializer = segfault_init}));
    pp_future *f;
    int rc = pp_submit(pool, square_task, &(long){2}, sizeof(long), &f);
    if (rc == PP_OK)
        cr_assert_eq(pp_future_result(f, 30, NULL, NULL), PP_EBROKEN);
    else
        cr_assert_eq(rc, PP_EBROKEN);
    pp_stats st;
    EVENTUALLY(pp_pool_stats(pool, &st) == PP_OK && st.workers_alive == 0, 10);
    cr_assert_leq(st.workers_started, 4, "no fork storm: %llu started", (unsigned long long)st.workers_started);
    pp_pool_destroy(pool);
}

/* 7: stop signals are refused; destroy ends workers stopped by anyone. */
Test(hostile, stop_signals_are_refused_and_destroy_ends_stopped_workers)
{
    gates_init();
    pp_pool *pool = pool_of(1);
    int stops[] = {SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU};
    for (int i = 0; i < 4; i++)
        cr_assert_eq(pp_pool_terminate(pool, stops[i]), PP_EINVAL);
    long pid = result_long(submit_long(pool, pid_task, 0));
    pp_future *b = submit_long(pool, block_task, 1);
    wait_started(1);
    cr_assert_eq(kill((pid_t)pid, SIGSTOP), 0);
    gate_open(1);
    pp_future_release(b);
    pp_pool_destroy(pool); /* the suite's timeout fails a hang */
    cr_assert(process_gone((pid_t)pid));
}

/* 8: a child the program forks holds the pool's descriptors; destroy must not
   wait for it. */
Test(hostile, a_forked_child_of_the_program_does_not_block_destroy)
{
    gates_init();
    pp_pool *pool = pool_of(1);
    cr_assert_eq(result_long(submit_long(pool, square_task, 3)), 9);
    pid_t child = fork();
    if (child == 0) {
        char c;
        ssize_t n = read(gate[0], &c, 1);
        _exit(n == 1 ? 0 : 1);
    }
    pp_pool_destroy(pool);
    gate_open(1);
    int status;
    cr_assert_eq(waitpid(child, &status, 0), child);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* ---- bad sizes ------------------------------------------------------------ */

Test(hostile, argument_lengths_past_memory_are_refused)
{
    pp_pool *pool = pool_of(1);
    char buf[64] = {0};
    pp_future *f;
    size_t lens[] = {(size_t)1 << 63, SIZE_MAX, SIZE_MAX - 15, (size_t)1 << 62};
    for (int i = 0; i < 4; i++) {
        int rc = pp_submit(pool, echo_task, buf, lens[i], &f);
        cr_assert(rc == PP_EINVAL || rc == PP_ENOMEM, "len %zu: %s", lens[i], pp_strerror(rc));
        cr_assert_null(f);
    }
    cr_assert_eq(result_long(submit_long(pool, square_task, 4)), 16);
    pp_pool_destroy(pool);
}

Test(hostile, map_sizes_that_overflow_are_refused)
{
    pp_pool *pool = pool_of(1);
    long items[4] = {1, 2, 3, 4}, out[4];
    struct {
        size_t n, item_size, result_size;
    } cases[] = {
        {SIZE_MAX, 8, 8},         {(size_t)1 << 62, 8, 8}, {4, 8, SIZE_MAX},
        {4, SIZE_MAX, 8},         {4, (size_t)1 << 63, 8}, {4, 8, (size_t)1 << 63},
        {(size_t)1 << 61, 16, 0}, {4, 8, (size_t)1 << 62},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = pp_map(pool, square_task, items, cases[i].n, cases[i].item_size, out, cases[i].result_size, NULL);
        cr_assert(rc == PP_EINVAL || rc == PP_ENOMEM, "case %zu: %s", i, pp_strerror(rc));
    }
    OK(pp_map(pool, square_task, items, 4, sizeof items[0], out, sizeof out[0], NULL));
    cr_assert_eq(out[3], 16);
    pp_pool_destroy(pool);
}

/* ---- hostile tasks -------------------------------------------------------- */

static int fork_twice_task(pp_task *t, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    pid_t child = fork();
    long v = child == 0 ? -1 : (long)child;
    if (child == 0)
        usleep(30000);
    return pp_task_return(t, &v, sizeof v);
}

/* 3 of "never corrupt": the task's forked copy returns too; it must neither
   publish onto a reused slot nor live on as an extra worker. */
Test(hostile, a_task_that_forks_and_returns_twice_publishes_once)
{
    pp_pool *pool = pool_of(1);
    long child = result_long(submit_long(pool, fork_twice_task, 0));
    cr_assert_gt(child, 0);
    pp_future *fs[2000];
    for (long i = 0; i < 2000; i++)
        fs[i] = submit_long(pool, square_task, i);
    for (long i = 0; i < 2000; i++)
        cr_assert_eq(result_long(fs[i]), i * i);
    EVENTUALLY(process_gone((pid_t)child), 10);
    pp_pool_destroy(pool);
}

/* 4: a child of the program cannot use (or harm) the parent's pool. */
Test(hostile, a_forked_child_cannot_use_the_parents_pool)
{
    gates_init();
    pp_pool *pool = pool_of(1);
    pp_future *f = submit_long(pool, block_task, 11);
    wait_started(1);
    pid_t child = fork();
    if (child == 0) {
        pp_future *g = NULL;
        int bad = 0;
        bad += pp_submit(pool, square_task, &(long){2}, sizeof(long), &g) != PP_ESTATE;
        bad += pp_future_result(f, 0.1, NULL, NULL) != PP_ESTATE;
        bad += pp_future_cancel(f) != PP_ESTATE;
        bad += pp_shutdown(pool, true, true) != PP_ESTATE;
        bad += pp_pool_terminate(pool, SIGKILL) != PP_ESTATE;
        pp_stats st;
        bad += pp_pool_stats(pool, &st) != PP_ESTATE;
        bad += pp_wait(&f, 1, 0.1, PP_ALL_COMPLETED) != PP_ESTATE;
        pp_future_release(f);
        pp_pool_destroy(pool);
        _exit(bad);
    }
    int status;
    cr_assert_eq(waitpid(child, &status, 0), child);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child got %d wrong answers", WEXITSTATUS(status));
    gate_open(1);
    cr_assert_eq(result_long(f), 11);
    cr_assert_eq(result_long(submit_long(pool, square_task, 5)), 25);
    pp_pool_destroy(pool);
}

static int nap_task(pp_task *t, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    usleep(50000);
    return pp_task_return(t, &(long){1}, sizeof(long));
}

/* 5: huge or infinite deadlines mean no limit; NaN is refused. */
Test(hostile, huge_deadlines_mean_no_limit)
{
    pp_pool *pool = pool_of(2);
    double huge[] = {1.8e10, DBL_MAX, 1e300, INFINITY, 3e6 /* past an int of milliseconds */};
    pp_future *fs[5];
    for (int i = 0; i < 5; i++)
        OK(pp_submit_opts(pool, nap_task, NULL, 0, &(pp_task_opts){.deadline = huge[i]}, &fs[i]));
    for (int i = 0; i < 5; i++)
        cr_assert_eq(result_long(fs[i]), 1, "deadline %g", huge[i]);
    pp_future *f;
    cr_assert_eq(pp_submit_opts(pool, nap_task, NULL, 0, &(pp_task_opts){.deadline = NAN}, &f), PP_EINVAL);
    cr_assert_eq(pp_submit_opts(pool, nap_task, NULL, 0, &(pp_task_opts){.deadline = -INFINITY}, &f), PP_EINVAL);
    pp_pool_destroy(pool);
}

/* 6: under PP_BREAK_POOL any abrupt worker death breaks the pool, idle or not. */
Test(hostile, break_pool_breaks_on_an_idle_workers_death)
{
    pp_pool *pool;
    OK(pp_pool_create(&pool, &(pp_config){.max_workers = 1, .on_crash = PP_BREAK_POOL}));
    long pid = result_long(submit_long(pool, pid_task, 0));
    cr_assert_eq(kill((pid_t)pid, SIGKILL), 0);
    EVENTUALLY(process_gone((pid_t)pid), 10);
    pp_future *f;
    int rc = pp_submit(pool, square_task, &(long){2}, sizeof(long), &f);
    if (rc == PP_OK)
        rc = pp_future_result(f, 30, NULL, NULL);
    cr_assert_eq(rc, PP_EBROKEN, "%s", pp_strerror(rc));
    cr_assert_eq(pp_submit(pool, square_task, &(long){2}, sizeof(long), &f), PP_EBROKEN);
    pp_pool_destroy(pool);
}

static int parent_task(pp_task *t, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    long ppid = getppid();
    return pp_task_return(t, &ppid, sizeof ppid);
}

/* Distinct procpool memfds a process maps (one region may span several lines). */
static int procpool_mappings(pid_t pid)
{
    char path[64], line[512];
    snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
    FILE *fp = fopen(path, "r");
    cr_assert_not_null(fp);
    unsigned long inodes[16];
    int n = 0;
    while (fgets(line, sizeof line, fp)) {
        unsigned long inode;
        if (!strstr(line, "memfd:procpool") || sscanf(line, "%*s %*s %*s %*s %lu", &inode) != 1)
            continue;
        int seen = 0;
        for (int i = 0; i < n; i++)
            seen |= inodes[i] == inode;
        if (!seen && n < 16)
            inodes[n++] = inode;
    }
    fclose(fp);
    return n;
}

/* 8: each pool's processes map only that pool's region. */
Test(hostile, pools_are_isolated)
{
    pp_pool *a = pool_of(1), *b = pool_of(1);
    long spawner_b = result_long(submit_long(b, parent_task, 0));
    long worker_b = result_long(submit_long(b, pid_task, 0));
    cr_assert_eq(procpool_mappings((pid_t)spawner_b), 1, "B's spawner maps only B");
    cr_assert_eq(procpool_mappings((pid_t)worker_b), 1, "B's worker maps only B");
    pp_pool_destroy(a);
    cr_assert_eq(result_long(submit_long(b, square_task, 6)), 36);
    pp_pool_destroy(b);
}
