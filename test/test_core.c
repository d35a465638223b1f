/* SPDX-License-Identifier: MIT */
/*
 * Core executor: pool life, submit and result, payload sizes, failures,
 * cancellation, thread safety, a million outstanding futures.
 */
#include <pthread.h>
#include <sched.h>
#include <stdint.h>

#include "helpers.h"

TestSuite(core, .timeout = 60); /* a safety net: no test should come near it */

Test(core, default_worker_count_is_the_cpus_we_may_use)
{
    cpu_set_t set;
    cr_assert_eq(sched_getaffinity(0, sizeof set, &set), 0);
    pp_pool *pool;
    OK(pp_pool_create(&pool, NULL));
    cr_assert_eq(pp_pool_max_workers(pool), CPU_COUNT(&set));
    pp_stats st;
    OK(pp_pool_stats(pool, &st));
    cr_assert_eq(st.workers_alive, (unsigned)CPU_COUNT(&set));
    pp_pool_destroy(pool);
}

Test(core, invalid_configs_are_refused)
{
    pp_pool *pool = (pp_pool *)1;
    pp_config neg = {.max_workers = -1}, huge = {.max_workers = 1000000}, crash = {.on_crash = 7};
    cr_assert_eq(pp_pool_create(&pool, &neg), PP_EINVAL);
    cr_assert_null(pool);
    cr_assert_eq(pp_pool_create(&pool, &huge), PP_EINVAL);
    cr_assert_eq(pp_pool_create(&pool, &crash), PP_EINVAL);
    cr_assert_eq(pp_pool_create(NULL, NULL), PP_EINVAL);
}

Test(core, submit_and_result)
{
    pp_pool *pool = pool_of(2);
    pp_future *f = submit_long(pool, square_task, 12);
    cr_assert_eq(result_long(f), 144);
    cr_assert(pp_future_done(f));
    cr_assert_not(pp_future_cancelled(f));
    cr_assert_not(pp_future_running(f));
    int code = -1;
    const char *msg = "x";
    cr_assert_eq(pp_future_exception(f, 0, &code, &msg), PP_OK);
    cr_assert_eq(code, 0);
    cr_assert_null(msg);
    pp_future_release(f);
    pp_pool_destroy(pool);
}

Test(core, thousand_results_in_order)
{
    pp_pool *pool = pool_of(3);
    pp_future *fs[1000];
    for (long i = 0; i < 1000; i++)
        fs[i] = submit_long(pool, square_task, i);
    for (long i = 0; i < 1000; i++) {
        cr_assert_eq(result_long(fs[i]), i * i);
        pp_future_release(fs[i]);
    }
    pp_pool_destroy(pool);
}

static void roundtrip(pp_pool *pool, size_t len)
{
    unsigned char *buf = malloc(len ? len : 1);
    cr_assert_not_null(buf);
    for (size_t i = 0; i < len; i++)
        buf[i] = (unsigned char)(i * 131 + 7);
    pp_future *f;
    OK(pp_submit(pool, echo_task, buf, len, &f));
    const void *data;
    size_t got;
    OK(pp_future_result(f, 60, &data, &got));
    cr_assert_eq(got, len);
    cr_assert_not_null(data);
    cr_assert_eq((uintptr_t)data % _Alignof(max_align_t), 0);
    cr_assert_eq(memcmp(data, buf, len), 0, "payload of %zu bytes differs", len);
    pp_future_release(f);
    free(buf);
}

Test(core, payloads_of_every_size_round_trip, .timeout = 120)
{
    pp_pool *pool = pool_of(2);
    size_t sizes[] = {0, 1, 8, 200, 256, 257, 4096, 1 << 20, 3 << 20, (size_t)scaled(256) << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        roundtrip(pool, sizes[i]);
    pp_stats st;
    OK(pp_pool_stats(pool, &st));
    cr_assert_eq(st.shm_bytes_in_use, 0, "released payloads leave nothing allocated");
    pp_pool_destroy(pool);
}

Test(core, tiny_arena_hint_still_carries_large_payloads)
{
    pp_pool *pool;
    pp_config cfg = {.max_workers = 1, .shm_bytes = 1};
    OK(pp_pool_create(&pool, &cfg));
    for (int i = 0; i < 3; i++)
        roundtrip(pool, 5 << 20);
    pp_pool_destroy(pool);
}

/* arg: bytes of result to produce in place. */
static int fill_task(pp_task *t, const void *arg, size_t len)
{
    (void)len;
    size_t n = *(const size_t *)arg;
    unsigned char *out = pp_task_result_buffer(t, n);
    if (!out)
        return 1;
    for (size_t i = 0; i < n; i++)
        out[i] = (unsigned char)(i ^ (i >> 8));
    return 0;
}

Test(core, results_larger_than_the_argument_are_written_in_place)
{
    pp_pool *pool = pool_of(2);
    size_t sizes[] = {0, 100, 300, 70000, 10 << 20};
    for (size_t k = 0; k < 5; k++) {
        pp_future *f;
        OK(pp_submit(pool, fill_task, &sizes[k], sizeof sizes[k], &f));
        const unsigned char *data;
        size_t len;
        OK(pp_future_result(f, 30, (const void **)&data, &len));
        cr_assert_eq(len, sizes[k]);
        for (size_t i = 0; i < len; i++)
            cr_assert_eq(data[i], (unsigned char)(i ^ (i >> 8)));
        pp_future_release(f);
    }
    pp_pool_destroy(pool);
}

static int return_twice_task(pp_task *t, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    char big[1000];
    memset(big, 'a', sizeof big);
    pp_task_return(t, big, sizeof big);
    return pp_task_return(t, "last", 5);
}

Test(core, last_result_set_wins)
{
    pp_pool *pool = pool_of(1);
    pp_future *f;
    OK(pp_submit(pool, return_twice_task, NULL, 0, &f));
    const void *data;
    size_t len;
    OK(pp_future_result(f, 30, &data, &len));
    cr_assert_eq(len, 5);
    cr_assert_str_eq(data, "last");
    pp_pool_destroy(pool);
}

Test(core, failing_task_reports_code_and_message)
{
    pp_pool *pool = pool_of(2);
    int code = 42;
    pp_future *f;
    OK(pp_submit(pool, fail_task, &code, sizeof code, &f));
    const void *data = (void *)1;
    size_t len = 9;
    cr_assert_eq(pp_future_result(f, 30, &data, &len), PP_ETASK);
    cr_assert_null(data);
    cr_assert_eq(len, 0);
    int got;
    const char *msg;
    cr_assert_eq(pp_future_exception(f, 30, &got, &msg), PP_ETASK);
    cr_assert_eq(got, 42);
    cr_assert_str_eq(msg, "failed with 42");
    pp_stats st;
    OK(pp_pool_stats(pool, &st));
    cr_assert_eq(st.failed, 1);
    cr_assert_eq(st.completed, 0);
    pp_pool_destroy(pool);
}

static int fail_quietly_after_result(pp_task *t, const void *arg, size_t len)
{
    pp_task_return(t, arg, len);
    return -5;
}

Test(core, nonzero_return_fails_whatever_the_result)
{
    pp_pool *pool = pool_of(1);
    long v = 3;
    pp_future *f;
    OK(pp_submit(pool, fail_quietly_after_result, &v, sizeof v, &f));
    int code;
    const char *msg = "x";
    cr_assert_eq(pp_future_exception(f, 30, &code, &msg), PP_ETASK);
    cr_assert_eq(code, -5);
    cr_assert_null(msg);
    pp_pool_destroy(pool);
}

static int long_message_task(pp_task *t, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    char text[600];
    memset(text, 'm', sizeof text - 1);
    text[sizeof text - 1] = 0;
    return pp_task_fail(t, 1, "%s", text);
}

Test(core, long_messages_are_truncated)
{
    pp_pool *pool = pool_of(1);
    pp_future *f;
    OK(pp_submit(pool, long_message_task, NULL, 0, &f));
    const char *msg;
    cr_assert_eq(pp_future_exception(f, 30, NULL, &msg), PP_ETASK);
    cr_assert_eq(strlen(msg), PP_MESSAGE_MAX);
    pp_pool_destroy(pool);
}

static int worker_id_task(pp_task *t, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    long id = pp_worker_id();
    return pp_task_return(t, &id, sizeof id);
}

Test(core, worker_ids)
{
    cr_assert_eq(pp_worker_id(), -1);
    pp_pool *pool = pool_of(3);
    for (int i = 0; i < 50; i++) {
        pp_future *f = submit_long(pool, worker_id_task, 0);
        long id = result_long(f);
        cr_assert(id >= 0 && id < 3, "id %ld", id);
        pp_future_release(f);
    }
    pp_pool_destroy(pool);
}

/* arg: the pool, whose address the worker shares with the master */
static int master_calls_task(pp_task *t, const void *arg, size_t len)
{
    pp_pool *outer_pool;
    memcpy(&outer_pool, arg, sizeof outer_pool);
    pp_future *f = NULL;
    pp_pool *p = NULL;
    pp_stats st;
    int ok = pp_submit(outer_pool, square_task, &len, sizeof len, &f) == PP_ESTATE &&
             pp_pool_create(&p, NULL) == PP_ESTATE && pp_shutdown(outer_pool, true, false) == PP_ESTATE &&
             pp_pool_stats(outer_pool, &st) == PP_ESTATE &&
             pp_map(outer_pool, square_task, &len, 1, sizeof len, NULL, 0, NULL) == PP_ESTATE &&
             pp_wait(NULL, 0, 0, PP_ALL_COMPLETED) == PP_ESTATE && f == NULL && p == NULL;
    long v = ok;
    return pp_task_return(t, &v, sizeof v);
}

Test(core, master_calls_inside_a_worker_return_estate)
{
    pp_pool *pool = pool_of(1);
    pp_future *f;
    OK(pp_submit(pool, master_calls_task, &pool, sizeof pool, &f));
    cr_assert_eq(result_long(f), 1);
    pp_pool_destroy(pool);
}

Test(core, cancel_a_queued_task)
{
    gates_init();
    pp_pool *pool = pool_of(1);
    pp_future *blocker = submit_long(pool, block_task, 1);
    wait_started(1);
    pp_future *queued = submit_long(pool, square_task, 5);
    cr_assert_not(pp_future_running(queued));
    cr_assert_eq(pp_future_cancel(queued), 1);
    cr_assert_eq(pp_future_cancel(queued), 1, "cancelling twice still says cancelled");
    cr_assert(pp_future_cancelled(queued));
    cr_assert(pp_future_done(queued));
    cr_assert_eq(pp_future_result(queued, 0, NULL, NULL), PP_ECANCELLED);
    cr_assert_eq(pp_future_exception(queued, 0, NULL, NULL), PP_ECANCELLED);
    cr_assert(pp_future_running(blocker));
    cr_assert_eq(pp_future_cancel(blocker), 0, "a running task cannot be cancelled");
    gate_open(1);
    cr_assert_eq(result_long(blocker), 1);
    cr_assert_eq(pp_future_cancel(blocker), 0, "a finished task cannot be cancelled");
    cr_assert_not(pp_future_cancelled(blocker));
    pp_stats st;
    OK(pp_pool_stats(pool, &st));
    cr_assert_eq(st.cancelled, 1);
    pp_pool_destroy(pool);
}

Test(core, cancel_reaches_tasks_already_in_the_ring_and_the_backlog)
{
    gates_init();
    pp_pool *pool = pool_of(2);
    pp_future *b[2] = {submit_long(pool, block_task, 1), submit_long(pool, block_task, 2)};
    wait_started(2);
    enum { N = 3000 }; /* more than the ring holds: some wait in the backlog */
    static pp_future *fs[N];
    for (long i = 0; i < N; i++)
        fs[i] = submit_long(pool, square_task, i);
    for (long i = 0; i < N; i += 2)
        cr_assert_eq(pp_future_cancel(fs[i]), 1, "task %ld", i);
    gate_open(2);
    for (long i = 0; i < N; i++) {
        if (i % 2 == 0)
            cr_assert_eq(pp_future_result(fs[i], 0, NULL, NULL), PP_ECANCELLED);
        else
            cr_assert_eq(result_long(fs[i]), i * i);
    }
    cr_assert_eq(result_long(b[0]) + result_long(b[1]), 3);
    pp_pool_destroy(pool);
}

Test(core, result_timeout_changes_nothing)
{
    gates_init();
    pp_pool *pool = pool_of(1);
    pp_future *f = submit_long(pool, block_task, 7);
    wait_started(1);
    cr_assert_eq(pp_future_result(f, 0, NULL, NULL), PP_ETIMEOUT);
    cr_assert_eq(pp_future_result(f, 0.05, NULL, NULL), PP_ETIMEOUT);
    cr_assert_eq(pp_future_exception(f, 0.01, NULL, NULL), PP_ETIMEOUT);
    cr_assert_not(pp_future_done(f));
    gate_open(1);
    cr_assert_eq(result_long(f), 7);
    pp_pool_destroy(pool);
}

Test(core, stats_count_outcomes)
{
    pp_pool *pool = pool_of(2);
    int code = 1;
    pp_future *a = submit_long(pool, square_task, 2), *b;
    OK(pp_submit(pool, fail_task, &code, sizeof code, &b));
    pp_future *fs[] = {a, b};
    cr_assert_eq(pp_wait(fs, 2, 30, PP_ALL_COMPLETED), 2);
    pp_stats st;
    OK(pp_pool_stats(pool, &st));
    cr_assert_eq(st.submitted, 2);
    cr_assert_eq(st.completed, 1);
    cr_assert_eq(st.failed, 1);
    cr_assert_eq(st.crashed + st.cancelled + st.deadline_kills, 0);
    cr_assert_eq(st.workers_started, 2);
    cr_assert_eq(st.workers_alive, 2);
    pp_pool_destroy(pool);
}

Test(core, a_million_outstanding_futures, .timeout = 120)
{
    const long N = scaled(1000000);
    pp_pool *pool = pool_of(2);
    pp_future **fs = malloc(N * sizeof *fs);
    for (long i = 0; i < N; i++)
        fs[i] = submit_long(pool, square_task, i);
    pp_stats st;
    OK(pp_pool_stats(pool, &st));
    cr_assert_eq(st.shm_bytes_in_use, 0, "small arguments never touch the arena");
    for (long i = 0; i < N; i++) {
        long v = result_long(fs[i]);
        if (v != i * i)
            cr_assert_fail("task %ld gave %ld", i, v);
    }
    OK(pp_pool_stats(pool, &st));
    cr_assert_eq(st.completed, (uint64_t)N);
    for (long i = 0; i < N; i++)
        pp_future_release(fs[i]);
    free(fs);
    pp_pool_destroy(pool);
}

struct thread_arg {
    pp_pool *pool;
    long base;
    int errors;
};

static void *submitter(void *p)
{
    struct thread_arg *a = p;
    const long N = scaled(5000);
    pp_future **fs = malloc((size_t)N * sizeof *fs);
    for (long i = 0; i < N; i++)
        if (pp_submit(a->pool, square_task, &(long){a->base + i}, sizeof(long), &fs[i]) != PP_OK)
            a->errors++;
    for (long i = 0; i < N; i++) {
        const void *data;
        long v = a->base + i;
        if (pp_future_result(fs[i], 60, &data, NULL) != PP_OK || *(const long *)data != v * v)
            a->errors++;
        pp_future_release(fs[i]);
    }
    free(fs);
    return NULL;
}

Test(core, four_threads_submit_and_wait_at_once)
{
    pp_pool *pool = pool_of(2);
    pthread_t th[4];
    struct thread_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (struct thread_arg){pool, i * 100000L, 0};
        pthread_create(&th[i], NULL, submitter, &args[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(args[i].errors, 0, "thread %d", i);
    }
    pp_stats st;
    OK(pp_pool_stats(pool, &st));
    cr_assert_eq(st.completed, (uint64_t)(4 * scaled(5000)));
    pp_pool_destroy(pool);
}

Test(core, a_released_pending_task_still_runs)
{
    gates_init();
    pp_pool *pool = pool_of(1);
    pp_future *f = submit_long(pool, block_task, 1);
    wait_started(1);
    pp_future *g = submit_long(pool, block_task, 2);
    pp_future_release(g);
    gate_open(1);
    cr_assert_eq(result_long(f), 1);
    wait_started(1); /* the released task started all the same */
    gate_open(1);
    pp_pool_destroy(pool);
}

Test(core, submit_after_shutdown_is_refused)
{
    pp_pool *pool = pool_of(1);
    OK(pp_shutdown(pool, true, false));
    OK(pp_shutdown(pool, true, false));
    OK(pp_shutdown(pool, false, true));
    pp_future *f = (pp_future *)1;
    cr_assert_eq(pp_submit(pool, square_task, &(long){1}, sizeof(long), &f), PP_ESHUTDOWN);
    cr_assert_null(f);
    pp_stats st;
    OK(pp_pool_stats(pool, &st));
    cr_assert_eq(st.workers_alive, 0, "shutdown(wait) leaves no worker");
    pp_pool_destroy(pool);
}

Test(core, destroy_waits_for_unreleased_and_pending_futures)
{
    pp_pool *pool = pool_of(2);
    for (long i = 0; i < 2000; i++)
        submit_long(pool, square_task, i);
    pp_pool_destroy(pool); /* frees them all; ASan and valgrind check the rest */
}

Test(core, strerror_names_every_code)
{
    for (int c = PP_ESYS; c <= PP_OK; c++)
        cr_assert_str_neq(pp_strerror(c), "unknown status");
    cr_assert_str_eq(pp_strerror(12345), "unknown status");
    cr_assert_not_null(pp_version());
}
