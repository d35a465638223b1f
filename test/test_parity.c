/* SPDX-License-Identifier: MIT */
/*
 * Python parity: behaviours of CPython's Lib/test/test_concurrent_futures/
 * (executor.py, test_process_pool.py, test_shutdown.py, test_wait.py,
 * test_as_completed.py, test_future.py, test_init.py), ported to procpool.
 * Each test names the CPython test it mirrors. Tasks that Python keeps busy
 * with time.sleep wait at a gate here instead, so nothing depends on timing.
 */
#include "helpers.h"

#include <stdatomic.h>

TestSuite(parity, .timeout = 60); /* a safety net: no test should come near it */

/* ---- already-settled futures, like test_future.py's module constants ---- */

struct settled {
    pp_future *success, *failure, *cancelled;
};

/* SUCCESSFUL_FUTURE, EXCEPTION_FUTURE, CANCELLED_AND_NOTIFIED_FUTURE */
static struct settled make_settled(pp_pool *pool)
{
    struct settled s;
    int code = 1;
    s.success = submit_long(pool, square_task, 42);
    OK(pp_submit(pool, fail_task, &code, sizeof code, &s.failure));
    pp_future *both[] = {s.success, s.failure};
    cr_assert_eq(pp_wait(both, 2, 30, PP_ALL_COMPLETED), 2);
    wait_started(0);
    int workers = pp_pool_max_workers(pool);
    pp_future *blockers[8];
    for (int i = 0; i < workers; i++)
        blockers[i] = submit_long(pool, block_task, 0);
    wait_started(workers);
    s.cancelled = submit_long(pool, square_task, 1);
    cr_assert_eq(pp_future_cancel(s.cancelled), 1);
    gate_open(workers);
    for (int i = 0; i < workers; i++)
        cr_assert_eq(result_long(blockers[i]), 0);
    return s;
}

/* ---- executor.py ---------------------------------------------------------- */

/* ExecutorTest.test_submit */
Test(parity, submit)
{
    pp_pool *pool = pool_of(2);
    cr_assert_eq(result_long(submit_long(pool, square_task, 16)), 256);
    pp_pool_destroy(pool);
}

static int divide_task(pp_task *t, const void *arg, size_t len)
{
    (void)len;
    const int *ab = arg;
    if (ab[1] == 0)
        return pp_task_fail(t, 1, "ZeroDivisionError");
    int q = ab[0] / ab[1];
    return pp_task_return(t, &q, sizeof q);
}

/* ExecutorTest.test_map */
Test(parity, map)
{
    pp_pool *pool = pool_of(2);
    long in[10], out[10];
    for (int i = 0; i < 10; i++)
        in[i] = i;
    OK(pp_map(pool, square_task, in, 10, sizeof in[0], out, sizeof out[0], NULL));
    for (int i = 0; i < 10; i++)
        cr_assert_eq(out[i], (long)i * i);
    pp_pool_destroy(pool);
}

/* ExecutorTest.test_map_exception: the first failing item in input order
   decides the result; the others are still computed. */
Test(parity, map_exception)
{
    pp_pool *pool = pool_of(2);
    int pairs[4][2] = {{1, 2}, {6, 3}, {1, 0}, {10, 5}};
    int out[4], status[4];
    pp_map_opts o = {.status = status};
    cr_assert_eq(pp_map(pool, divide_task, pairs, 4, sizeof pairs[0], out, sizeof out[0], &o), PP_ETASK);
    cr_assert_eq(status[0], PP_OK);
    cr_assert_eq(status[1], PP_OK);
    cr_assert_eq(status[2], PP_ETASK);
    cr_assert_eq(status[3], PP_OK);
    cr_assert_eq(out[0], 0);
    cr_assert_eq(out[1], 2);
    cr_assert_eq(out[3], 2);
    pp_pool_destroy(pool);
}

/* arg: 0 returns at once, else waits at the gate */
static int maybe_block_task(pp_task *t, const void *arg, size_t len)
{
    if (*(const long *)arg)
        return block_task(t, arg, len);
    return pp_task_return(t, arg, len);
}

/* ExecutorTest.test_map_timeout */
Test(parity, map_timeout)
{
    gates_init();
    pp_pool *pool = pool_of(2);
    long in[3] = {0, 0, 1}, out[3] = {-1, -1, -1};
    int status[3];
    pp_map_opts o = {.timeout = 1.5, .status = status};
    double t0 = now_s();
    cr_assert_eq(pp_map(pool, maybe_block_task, in, 3, sizeof in[0], out, sizeof out[0], &o), PP_ETIMEOUT);
    cr_assert_geq(now_s() - t0, 1.5);
    cr_assert_eq(status[0], PP_OK);
    cr_assert_eq(status[1], PP_OK);
    cr_assert_eq(status[2], PP_ETIMEOUT);
    cr_assert_eq(out[0], 0);
    gate_open(1);
    pp_pool_destroy(pool);
}

/* ExecutorTest.test_max_workers_negative */
Test(parity, max_workers_negative)
{
    pp_pool *pool;
    pp_config cfg = {.max_workers = -1};
    cr_assert_eq(pp_pool_create(&pool, &cfg), PP_EINVAL);
}

/* ---- test_process_pool.py ------------------------------------------------- */

/* ProcessPoolExecutorTest.test_map_chunksize */
Test(parity, map_chunksize)
{
    pp_pool *pool = pool_of(2);
    long in[40], out[40];
    for (int i = 0; i < 40; i++)
        in[i] = i;
    size_t sizes[] = {6, 50, 40, 1, 0};
    for (size_t k = 0; k < 5; k++) {
        memset(out, 0xff, sizeof out);
        pp_map_opts o = {.chunksize = sizes[k]};
        OK(pp_map(pool, square_task, in, 40, sizeof in[0], out, sizeof out[0], &o));
        for (int i = 0; i < 40; i++)
            cr_assert_eq(out[i], (long)i * i, "chunksize %zu item %d", sizes[k], i);
    }
    pp_pool_destroy(pool);
}

/* ProcessPoolExecutorTest.test_traceback: the failure's text reaches the master */
Test(parity, traceback_message)
{
    pp_pool *pool = pool_of(1);
    int ab[2] = {1, 0};
    pp_future *f;
    OK(pp_submit(pool, divide_task, ab, sizeof ab, &f));
    const char *msg;
    cr_assert_eq(pp_future_exception(f, 30, NULL, &msg), PP_ETASK);
    cr_assert_str_eq(msg, "ZeroDivisionError");
    pp_pool_destroy(pool);
}

/* ProcessPoolExecutorTest.test_max_tasks_per_child: with fork, too */
Test(parity, max_tasks_per_child)
{
    pp_pool *pool;
    pp_config cfg = {.max_workers = 1, .max_tasks_per_child = 3};
    OK(pp_pool_create(&pool, &cfg));
    long pids[4];
    for (int i = 0; i < 4; i++)
        pids[i] = result_long(submit_long(pool, pid_task, 0));
    cr_assert_eq(pids[0], pids[1]);
    cr_assert_eq(pids[0], pids[2]);
    cr_assert_neq(pids[0], pids[3], "the fourth task runs in a new worker");
    pp_stats st; /* the spawner's report of the new worker may trail its first result */
    EVENTUALLY(pp_pool_stats(pool, &st) == PP_OK && st.workers_started == 2, 10);
    pp_pool_destroy(pool);
}

/* ProcessPoolExecutorTest.test_max_tasks_early_shutdown */
Test(parity, max_tasks_early_shutdown)
{
    pp_pool *pool;
    pp_config cfg = {.max_workers = 3, .max_tasks_per_child = 1};
    OK(pp_pool_create(&pool, &cfg));
    pp_future *fs[6];
    for (long i = 0; i < 6; i++)
        fs[i] = submit_long(pool, square_task, i);
    OK(pp_shutdown(pool, true, false));
    for (long i = 0; i < 6; i++)
        cr_assert_eq(result_long(fs[i]), i * i);
    pp_pool_destroy(pool);
}

/* CPython gh-115634: one worker, limit 2, six tasks must all finish */
Test(parity, max_tasks_per_child_does_not_stall, .timeout = 60)
{
    pp_pool *pool;
    pp_config cfg = {.max_workers = 1, .max_tasks_per_child = 2};
    OK(pp_pool_create(&pool, &cfg));
    pp_future *fs[6];
    for (long i = 0; i < 6; i++)
        fs[i] = submit_long(pool, pid_task, i);
    long pids[6];
    for (int i = 0; i < 6; i++)
        pids[i] = result_long(fs[i]);
    for (int i = 0; i < 6; i += 2) {
        cr_assert_eq(pids[i], pids[i + 1]);
        if (i)
            cr_assert_neq(pids[i], pids[i - 1]);
    }
    pp_pool_destroy(pool);
}

/* ProcessPoolExecutorTest.test_force_shutdown_workers (terminate_workers,
   kill_workers): pending futures are cancelled, running ones fail, and the
   pool refuses work afterwards. */
static void terminate_with(int sig)
{
    gates_init();
    pp_pool *pool = pool_of(2);
    pp_future *running[2] = {submit_long(pool, block_task, 1), submit_long(pool, block_task, 2)};
    wait_started(2);
    pp_future *pending[5];
    for (long i = 0; i < 5; i++)
        pending[i] = submit_long(pool, square_task, i);
    OK(pp_pool_terminate(pool, sig));
    for (int i = 0; i < 5; i++)
        cr_assert(pp_future_cancelled(pending[i]));
    int code;
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(pp_future_exception(running[i], 30, &code, NULL), PP_ECRASHED);
        cr_assert_eq(code, -sig);
    }
    cr_assert_eq(pp_submit(pool, square_task, &(long){1}, sizeof(long), &pending[0]), PP_ESHUTDOWN);
    OK(pp_pool_terminate(pool, sig)); /* harmless a second time */
    pp_pool_destroy(pool);
}

Test(parity, terminate_workers)
{
    terminate_with(SIGTERM);
}
Test(parity, kill_workers)
{
    terminate_with(SIGKILL);
}

Test(parity, terminate_rejects_bad_signals)
{
    pp_pool *pool = pool_of(1);
    cr_assert_eq(pp_pool_terminate(pool, 0), PP_EINVAL);
    cr_assert_eq(pp_pool_terminate(pool, -9), PP_EINVAL);
    cr_assert_eq(pp_pool_terminate(NULL, SIGTERM), PP_EINVAL);
    pp_pool_destroy(pool);
}

/* ---- test_shutdown.py ----------------------------------------------------- */

/* ExecutorShutdownTest.test_run_after_shutdown */
Test(parity, run_after_shutdown)
{
    pp_pool *pool = pool_of(1);
    OK(pp_shutdown(pool, true, false));
    pp_future *f;
    cr_assert_eq(pp_submit(pool, square_task, &(long){2}, sizeof(long), &f), PP_ESHUTDOWN);
    pp_pool_destroy(pool);
}

/* ExecutorShutdownTest.test_hang_issue12364 */
Test(parity, shutdown_waits_for_pending)
{
    pp_pool *pool = pool_of(2);
    pp_future *fs[50];
    for (long i = 0; i < 50; i++)
        fs[i] = submit_long(pool, square_task, i);
    OK(pp_shutdown(pool, true, false));
    for (long i = 0; i < 50; i++) {
        cr_assert(pp_future_done(fs[i]));
        cr_assert_eq(result_long(fs[i]), i * i);
    }
    pp_pool_destroy(pool);
}

/* ExecutorShutdownTest.test_cancel_futures */
Test(parity, shutdown_cancel_futures)
{
    gates_init();
    pp_pool *pool = pool_of(3);
    pp_future *fs[50];
    for (long i = 0; i < 50; i++)
        fs[i] = submit_long(pool, block_task, i);
    wait_started(3);
    OK(pp_shutdown(pool, false, true));
    gate_open(3);
    cr_assert_eq(pp_wait(fs, 50, 30, PP_ALL_COMPLETED), 50);
    OK(pp_shutdown(pool, true, true));
    int cancelled = 0;
    for (int i = 0; i < 50; i++) {
        cr_assert(pp_future_done(fs[i]));
        if (pp_future_cancelled(fs[i]))
            cancelled++;
        else
            cr_assert_eq(pp_future_exception(fs[i], 0, NULL, NULL), PP_OK);
    }
    cr_assert_eq(cancelled, 47, "all but the three that had started");
    pp_pool_destroy(pool);
}

/* ProcessPoolShutdownTest.test_shutdown_no_wait */
Test(parity, shutdown_no_wait)
{
    pp_pool *pool = pool_of(2);
    pp_future *fs[20];
    for (long i = 0; i < 20; i++)
        fs[i] = submit_long(pool, square_task, i);
    OK(pp_shutdown(pool, false, false));
    for (long i = 0; i < 20; i++)
        cr_assert_eq(result_long(fs[i]), i * i);
    pp_pool_destroy(pool);
}

/* ProcessPoolShutdownTest.test_processes_terminate */
Test(parity, shutdown_ends_the_workers)
{
    pp_pool *pool = pool_of(3);
    long pids[30];
    pp_future *fs[30];
    for (long i = 0; i < 30; i++)
        fs[i] = submit_long(pool, pid_task, i);
    for (int i = 0; i < 30; i++)
        pids[i] = result_long(fs[i]);
    OK(pp_shutdown(pool, true, false));
    for (int i = 0; i < 30; i++)
        cr_assert(process_gone((pid_t)pids[i]), "worker %ld still there", pids[i]);
    pp_pool_destroy(pool);
}

/* ---- test_wait.py --------------------------------------------------------- */

/* WaitTests.test_20369: duplicates count once */
Test(parity, wait_duplicates)
{
    pp_pool *pool = pool_of(1);
    pp_future *f = submit_long(pool, square_task, 3);
    pp_future *fs[] = {f, f, f};
    cr_assert_eq(pp_wait(fs, 3, 30, PP_ALL_COMPLETED), 1);
    pp_pool_destroy(pool);
}

/* WaitTests.test_first_completed */
Test(parity, wait_first_completed)
{
    gates_init();
    pp_pool *pool = pool_of(2);
    struct settled s = make_settled(pool);
    pp_future *f1 = submit_long(pool, square_task, 21);
    pp_future *f2 = submit_long(pool, block_task, 0);
    pp_future *fs[] = {f1, f2};
    cr_assert_eq(pp_wait(fs, 2, 30, PP_FIRST_COMPLETED), 1);
    cr_assert(pp_future_done(f1));
    cr_assert_not(pp_future_done(f2));
    pp_future *with_cancelled[] = {s.cancelled, f2};
    cr_assert_eq(pp_wait(with_cancelled, 2, 30, PP_FIRST_COMPLETED), 1);
    gate_open(1);
    pp_pool_destroy(pool);
}

/* WaitTests.test_first_completed_some_already_completed */
Test(parity, wait_first_completed_some_already_completed)
{
    gates_init();
    pp_pool *pool = pool_of(2);
    struct settled s = make_settled(pool);
    pp_future *f1 = submit_long(pool, block_task, 0);
    pp_future *fs[] = {s.cancelled, s.success, f1};
    cr_assert_eq(pp_wait(fs, 3, 30, PP_FIRST_COMPLETED), 2);
    gate_open(1);
    pp_pool_destroy(pool);
}

/* WaitTests.test_first_exception */
Test(parity, wait_first_exception)
{
    gates_init();
    pp_pool *pool = pool_of(2);
    int code = 3;
    pp_future *f1 = submit_long(pool, square_task, 2), *f2, *f3;
    cr_assert_eq(result_long(f1), 4);
    OK(pp_submit(pool, fail_task, &code, sizeof code, &f2));
    f3 = submit_long(pool, block_task, 0);
    pp_future *fs[] = {f1, f2, f3};
    cr_assert_eq(pp_wait(fs, 3, 30, PP_FIRST_EXCEPTION), 2);
    cr_assert_not(pp_future_done(f3));
    gate_open(1);
    pp_pool_destroy(pool);
}

/* WaitTests.test_first_exception_some_already_complete: cancelled is no exception */
Test(parity, wait_first_exception_some_already_complete)
{
    gates_init();
    pp_pool *pool = pool_of(2);
    struct settled s = make_settled(pool);
    pp_future *f2 = submit_long(pool, block_task, 0);
    pp_future *fs[] = {s.success, s.cancelled, f2};
    cr_assert_eq(pp_wait(fs, 3, 0.05, PP_FIRST_EXCEPTION), 2,
                 "no exception: it waits for all, then times out");
    pp_future *with_failure[] = {s.success, s.cancelled, s.failure, f2};
    cr_assert_eq(pp_wait(with_failure, 4, 30, PP_FIRST_EXCEPTION), 3);
    gate_open(1);
    pp_pool_destroy(pool);
}

/* WaitTests.test_first_exception_one_already_failed */
Test(parity, wait_first_exception_one_already_failed)
{
    gates_init();
    pp_pool *pool = pool_of(2);
    struct settled s = make_settled(pool);
    pp_future *f1 = submit_long(pool, block_task, 0);
    pp_future *fs[] = {s.failure, f1};
    cr_assert_eq(pp_wait(fs, 2, -1, PP_FIRST_EXCEPTION), 1);
    gate_open(1);
    pp_pool_destroy(pool);
}

/* WaitTests.test_all_completed */
Test(parity, wait_all_completed)
{
    gates_init();
    pp_pool *pool = pool_of(2);
    struct settled s = make_settled(pool);
    pp_future *f1 = submit_long(pool, square_task, 2), *f2 = submit_long(pool, square_task, 3);
    pp_future *fs[] = {s.success, s.cancelled, s.failure, f1, f2};
    cr_assert_eq(pp_wait(fs, 5, -1, PP_ALL_COMPLETED), 5);
    pp_pool_destroy(pool);
}

/* WaitTests.test_timeout */
Test(parity, wait_timeout)
{
    gates_init();
    pp_pool *pool = pool_of(2);
    struct settled s = make_settled(pool);
    pp_future *f1 = submit_long(pool, square_task, 6), *f2 = submit_long(pool, block_task, 0);
    cr_assert_eq(result_long(f1), 36);
    pp_future *fs[] = {s.cancelled, s.failure, s.success, f1, f2};
    double t0 = now_s();
    cr_assert_eq(pp_wait(fs, 5, 0.1, PP_ALL_COMPLETED), 4);
    cr_assert_geq(now_s() - t0, 0.1);
    cr_assert_eq(pp_wait(fs, 5, 0, PP_ALL_COMPLETED), 4, "timeout 0 only polls");
    gate_open(1);
    pp_pool_destroy(pool);
}

Test(parity, wait_rejects_bad_arguments)
{
    pp_pool *pool = pool_of(1);
    pp_future *f = submit_long(pool, square_task, 1);
    pp_future *fs[] = {f, NULL};
    cr_assert_eq(pp_wait(fs, 2, 1, PP_ALL_COMPLETED), PP_EINVAL);
    cr_assert_eq(pp_wait(fs, 1, 1, (enum pp_return_when)9), PP_EINVAL);
    cr_assert_eq(pp_wait(NULL, 3, 1, PP_ALL_COMPLETED), PP_EINVAL);
    cr_assert_eq(pp_wait(NULL, 0, 1, PP_ALL_COMPLETED), 0);
    pp_pool_destroy(pool);
}

/* ---- test_as_completed.py ------------------------------------------------- */

/* AsCompletedTests.test_no_timeout */
Test(parity, as_completed_no_timeout)
{
    gates_init();
    pp_pool *pool = pool_of(2);
    struct settled s = make_settled(pool);
    pp_future *f1 = submit_long(pool, square_task, 21), *f2 = submit_long(pool, square_task, 7);
    pp_future *fs[] = {s.cancelled, s.failure, s.success, f1, f2};
    pp_as_completed *it;
    OK(pp_as_completed_begin(fs, 5, -1, &it));
    int seen[5] = {0};
    pp_future *f;
    int n = 0;
    while (pp_as_completed_next(it, &f) == 1) {
        for (int i = 0; i < 5; i++)
            seen[i] += fs[i] == f;
        n++;
    }
    pp_as_completed_end(it);
    cr_assert_eq(n, 5);
    for (int i = 0; i < 5; i++)
        cr_assert_eq(seen[i], 1);
    pp_pool_destroy(pool);
}

/* AsCompletedTests.test_future_times_out */
Test(parity, as_completed_times_out)
{
    gates_init();
    pp_pool *pool = pool_of(2);
    struct settled s = make_settled(pool);
    pp_future *never = submit_long(pool, block_task, 0);
    double timeouts[] = {0, 0.01};
    for (int k = 0; k < 2; k++) {
        pp_future *fs[] = {never, s.cancelled, s.failure, s.success};
        pp_as_completed *it;
        OK(pp_as_completed_begin(fs, 4, timeouts[k], &it));
        pp_future *f;
        cr_assert_eq(pp_as_completed_next(it, &f), 1);
        cr_assert_eq(f, s.cancelled, "already-done futures come first, in order");
        cr_assert_eq(pp_as_completed_next(it, &f), 1);
        cr_assert_eq(f, s.failure);
        cr_assert_eq(pp_as_completed_next(it, &f), 1);
        cr_assert_eq(f, s.success);
        cr_assert_eq(pp_as_completed_next(it, &f), PP_ETIMEOUT);
        pp_as_completed_end(it);
    }
    gate_open(1);
    pp_pool_destroy(pool);
}

/* AsCompletedTests.test_duplicate_futures */
Test(parity, as_completed_duplicates)
{
    pp_pool *pool = pool_of(1);
    pp_future *f1 = submit_long(pool, square_task, 2);
    pp_future *fs[] = {f1, f1, f1};
    pp_as_completed *it;
    OK(pp_as_completed_begin(fs, 3, 30, &it));
    pp_future *f;
    cr_assert_eq(pp_as_completed_next(it, &f), 1);
    cr_assert_eq(f, f1);
    cr_assert_eq(pp_as_completed_next(it, &f), 0);
    pp_as_completed_end(it);
    pp_pool_destroy(pool);
}

/* as_completed yields futures as they finish, not in the order given */
Test(parity, as_completed_in_completion_order)
{
    gates_init();
    pp_pool *pool = pool_of(2);
    pp_future *slow = submit_long(pool, block_task, 0);
    wait_started(1);
    pp_future *fast = submit_long(pool, square_task, 3);
    pp_future *fs[] = {slow, fast};
    pp_as_completed *it;
    OK(pp_as_completed_begin(fs, 2, 30, &it));
    pp_future *f;
    cr_assert_eq(pp_as_completed_next(it, &f), 1);
    cr_assert_eq(f, fast);
    gate_open(1);
    cr_assert_eq(pp_as_completed_next(it, &f), 1);
    cr_assert_eq(f, slow);
    cr_assert_eq(pp_as_completed_next(it, &f), 0);
    pp_as_completed_end(it);
    pp_pool_destroy(pool);
}

/* ---- test_future.py: callbacks and states -------------------------------- */

struct cb_log {
    int calls[8];
    _Atomic int n; /* read before the task ends: what orders it is another process (the gate) */
    long result;
    int status;
    pthread_t thread;
};

static void record(pp_future *f, void *ud)
{
    struct cb_log *log = ud;
    const void *data;
    log->status = pp_future_result(f, 0, &data, NULL);
    if (log->status == PP_OK)
        memcpy(&log->result, data, sizeof log->result);
    log->thread = pthread_self();
    log->calls[atomic_fetch_add(&log->n, 1)] = 1;
}

static void second(pp_future *f, void *ud)
{
    (void)f;
    struct cb_log *log = ud;
    log->calls[atomic_fetch_add(&log->n, 1)] = 2;
}

/* FutureTests.test_done_callback_with_result */
Test(parity, done_callback_with_result)
{
    gates_init();
    pp_pool *pool = pool_of(1);
    pp_future *f = submit_long(pool, block_task, 5);
    static struct cb_log log;
    OK(pp_future_add_done_callback(f, record, &log));
    OK(pp_future_add_done_callback(f, second, &log));
    cr_assert_eq(atomic_load(&log.n), 0);
    gate_open(1);
    cr_assert_eq(result_long(f), 5);
    OK(pp_shutdown(pool, true, false)); /* callbacks have run once this returns */
    cr_assert_eq(atomic_load(&log.n), 2);
    cr_assert_eq(log.calls[0], 1, "in the order added");
    cr_assert_eq(log.calls[1], 2);
    cr_assert_eq(log.status, PP_OK);
    cr_assert_eq(log.result, 5);
    cr_assert_not(pthread_equal(log.thread, pthread_self()), "on a library thread");
    pp_pool_destroy(pool);
}

/* FutureTests.test_done_callback_with_exception */
Test(parity, done_callback_with_exception)
{
    pp_pool *pool = pool_of(1);
    int code = 9;
    pp_future *f;
    OK(pp_submit(pool, fail_task, &code, sizeof code, &f));
    static struct cb_log log;
    OK(pp_future_add_done_callback(f, record, &log));
    OK(pp_shutdown(pool, true, false));
    cr_assert_eq(atomic_load(&log.n), 1);
    cr_assert_eq(log.status, PP_ETASK);
    pp_pool_destroy(pool);
}

/* FutureTests.test_done_callback_with_cancel */
Test(parity, done_callback_with_cancel)
{
    gates_init();
    pp_pool *pool = pool_of(1);
    pp_future *b = submit_long(pool, block_task, 0);
    wait_started(1);
    pp_future *f = submit_long(pool, square_task, 2);
    static struct cb_log log;
    OK(pp_future_add_done_callback(f, record, &log));
    cr_assert_eq(pp_future_cancel(f), 1);
    gate_open(1);
    cr_assert_eq(result_long(b), 0);
    OK(pp_shutdown(pool, true, false));
    cr_assert_eq(atomic_load(&log.n), 1);
    cr_assert_eq(log.status, PP_ECANCELLED);
    pp_pool_destroy(pool);
}

/* FutureTests.test_done_callback_already_successful / _failed / _cancelled */
Test(parity, done_callback_already_done_runs_at_once)
{
    gates_init();
    pp_pool *pool = pool_of(2);
    struct settled s = make_settled(pool);
    pp_future *fs[] = {s.success, s.failure, s.cancelled};
    int want[] = {PP_OK, PP_ETASK, PP_ECANCELLED};
    for (int i = 0; i < 3; i++) {
        struct cb_log log = {0};
        OK(pp_future_add_done_callback(fs[i], record, &log));
        cr_assert_eq(atomic_load(&log.n), 1, "ran before add returned");
        cr_assert_eq(log.status, want[i]);
        cr_assert(pthread_equal(log.thread, pthread_self()), "in the caller's thread");
    }
    pp_pool_destroy(pool);
}

static pp_future *submitted_by_callback;

static void resubmit(pp_future *f, void *ud)
{
    (void)f;
    pp_pool *pool = ud;
    long v = 11;
    pp_future *g = NULL;
    pp_submit(pool, square_task, &v, sizeof v, &g);
    __atomic_store_n(&submitted_by_callback, g, __ATOMIC_RELEASE); /* the test thread polls it */
}

Test(parity, done_callback_may_submit)
{
    pp_pool *pool = pool_of(1);
    pp_future *f = submit_long(pool, square_task, 1);
    OK(pp_future_add_done_callback(f, resubmit, pool));
    cr_assert_eq(result_long(f), 1);
    /* the callback thread runs it; a shutdown before then would refuse its submit */
    EVENTUALLY(__atomic_load_n(&submitted_by_callback, __ATOMIC_ACQUIRE) != NULL, 30);
    OK(pp_shutdown(pool, true, false));
    cr_assert_not_null(submitted_by_callback);
    cr_assert_eq(result_long(submitted_by_callback), 121);
    pp_pool_destroy(pool);
}

static void shutdown_inside(pp_future *f, void *ud)
{
    (void)f;
    struct cb_log *log = ud;
    log->status = pp_shutdown(f ? NULL : NULL, true, false);
}

/* FutureTests.test_running / test_done / test_cancelled states */
Test(parity, future_states)
{
    gates_init();
    pp_pool *pool = pool_of(1);
    pp_future *f = submit_long(pool, block_task, 1);
    wait_started(1);
    cr_assert(pp_future_running(f));
    cr_assert_not(pp_future_done(f));
    cr_assert_not(pp_future_cancelled(f));
    gate_open(1);
    cr_assert_eq(result_long(f), 1);
    cr_assert_not(pp_future_running(f));
    cr_assert(pp_future_done(f));
    cr_assert_eq(pp_future_add_done_callback(NULL, record, NULL), PP_EINVAL);
    cr_assert_eq(pp_future_add_done_callback(f, NULL, NULL), PP_EINVAL);
    (void)shutdown_inside;
    pp_pool_destroy(pool);
}

/* ---- test_init.py --------------------------------------------------------- */

static long init_value;

static int set_init_value(void *arg)
{
    init_value = *(long *)arg;
    return 0;
}

static int get_init_value(pp_task *t, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    return pp_task_return(t, &init_value, sizeof init_value);
}

/* InitializerMixin.test_initializer */
Test(parity, initializer)
{
    static long value = 1234;
    pp_pool *pool;
    pp_config cfg = {.max_workers = 2, .initializer = set_init_value, .initarg = &value};
    OK(pp_pool_create(&pool, &cfg));
    for (int i = 0; i < 10; i++)
        cr_assert_eq(result_long(submit_long(pool, get_init_value, 0)), 1234);
    pp_pool_destroy(pool);
}

/* the initializer also runs in replacement workers */
Test(parity, initializer_runs_in_replacements)
{
    static long value = 77;
    pp_pool *pool;
    pp_config cfg = {
        .max_workers = 1, .initializer = set_init_value, .initarg = &value, .max_tasks_per_child = 1};
    OK(pp_pool_create(&pool, &cfg));
    for (int i = 0; i < 4; i++)
        cr_assert_eq(result_long(submit_long(pool, get_init_value, 0)), 77);
    pp_pool_destroy(pool);
}

static int failing_init(void *arg)
{
    (void)arg;
    return 1;
}

/* FailingInitializerMixin.test_initializer */
Test(parity, failing_initializer_breaks_the_pool)
{
    pp_pool *pool;
    pp_config cfg = {.max_workers = 2, .initializer = failing_init};
    OK(pp_pool_create(&pool, &cfg));
    pp_future *f;
    int rc = pp_submit(pool, square_task, &(long){2}, sizeof(long), &f);
    if (rc == PP_OK)
        cr_assert_eq(pp_future_result(f, 30, NULL, NULL), PP_EBROKEN);
    else
        cr_assert_eq(rc, PP_EBROKEN);
    pp_stats st;
    EVENTUALLY(pp_pool_stats(pool, &st) == PP_OK && st.workers_alive == 0, 10);
    cr_assert_eq(pp_submit(pool, square_task, &(long){2}, sizeof(long), &f), PP_EBROKEN);
    pp_pool_destroy(pool);
}

/* ---- map details ------------------------------------------------------ */

static int repeat_task(pp_task *t, const void *arg, size_t len)
{
    (void)len;
    long n = *(const long *)arg;
    char out[16];
    memset(out, 'x', sizeof out);
    return pp_task_return(t, out, (size_t)n);
}

Test(parity, map_result_sizes)
{
    pp_pool *pool = pool_of(2);
    long in[3] = {2, 8, 9};
    char out[3][8];
    memset(out, '?', sizeof out);
    int status[3];
    pp_map_opts o = {.chunksize = 2, .status = status};
    cr_assert_eq(pp_map(pool, repeat_task, in, 3, sizeof in[0], out, 8, &o), PP_EINVAL);
    cr_assert_eq(status[0], PP_OK);
    cr_assert_eq(memcmp(out[0], "xx\0\0\0\0\0\0", 8), 0, "a shorter result is zero-padded");
    cr_assert_eq(status[1], PP_OK);
    cr_assert_eq(memcmp(out[1], "xxxxxxxx", 8), 0);
    cr_assert_eq(status[2], PP_EINVAL, "a longer result fails only its item");
    pp_pool_destroy(pool);
}

static int no_result_task(pp_task *t, const void *arg, size_t len)
{
    (void)t;
    (void)arg;
    (void)len;
    return 0;
}

Test(parity, map_edge_cases)
{
    pp_pool *pool = pool_of(2);
    OK(pp_map(pool, square_task, NULL, 0, sizeof(long), NULL, sizeof(long), NULL));
    long in = 3;
    OK(pp_map(pool, no_result_task, &in, 1, sizeof in, NULL, 0, NULL));
    cr_assert_eq(pp_map(pool, square_task, &in, 1, sizeof in, NULL, 0, NULL), PP_EINVAL,
                 "with result_size 0 any result is too long");
    cr_assert_eq(pp_map(NULL, square_task, &in, 1, sizeof in, NULL, 0, NULL), PP_EINVAL);
    cr_assert_eq(pp_map(pool, NULL, &in, 1, sizeof in, NULL, 0, NULL), PP_EINVAL);
    cr_assert_eq(pp_map(pool, square_task, NULL, 1, sizeof in, NULL, 0, NULL), PP_EINVAL);
    cr_assert_eq(pp_map(pool, square_task, &in, 1, sizeof in, NULL, 8, NULL), PP_EINVAL);
    pp_map_opts neg = {.timeout = -1};
    cr_assert_eq(pp_map(pool, square_task, &in, 1, sizeof in, NULL, 0, &neg), PP_EINVAL);
    pp_pool_destroy(pool);
}

Test(parity, map_a_large_array_in_chunks, .timeout = 120)
{
    const long N = scaled(2000000);
    pp_pool *pool = pool_of(2);
    int *in = malloc(N * sizeof *in);
    long *out = malloc(N * sizeof *out);
    for (int i = 0; i < N; i++)
        in[i] = i;
    pp_map_opts o = {.chunksize = 1000};
    OK(pp_map(pool, square_int_task, in, N, sizeof *in, out, sizeof *out, &o));
    for (long i = 0; i < N; i++)
        if (out[i] != i * i)
            cr_assert_fail("item %ld", i);
    pp_stats st;
    OK(pp_pool_stats(pool, &st));
    cr_assert_eq(st.submitted, (uint64_t)(N / 1000));
    cr_assert_eq(st.shm_bytes_in_use, 0);
    free(in);
    free(out);
    pp_pool_destroy(pool);
}
