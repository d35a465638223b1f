/* SPDX-License-Identifier: MIT */
/*
 * Large payloads: zero-copy arguments (pp_buffer_alloc, pp_submit_buffer,
 * pp_buffer_free) and their bad pointers, and result space granted up front.
 */
#include "helpers.h"

TestSuite(payload, .timeout = 60);

static void fill(unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(seed + i * 7);
}

static void expect_filled(const unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i += 4093)
        cr_assert_eq(p[i], (unsigned char)(seed + i * 7), "byte %zu", i);
    if (n)
        cr_assert_eq(p[n - 1], (unsigned char)(seed + (n - 1) * 7));
}

Test(payload, a_buffer_travels_without_a_copy)
{
    pp_pool *pool = pool_of(2);
    size_t sizes[] = {0, 1, 100, 4096, 1 << 20, 3 << 20};
    for (int i = 0; i < 6; i++) {
        unsigned char *buf = pp_buffer_alloc(pool, sizes[i]);
        cr_assert_not_null(buf, "size %zu", sizes[i]);
        cr_assert_eq((uintptr_t)buf % 16, 0, "aligned");
        fill(buf, sizes[i], (unsigned)i);
        pp_future *f;
        OK(pp_submit_buffer(pool, echo_task, buf, sizes[i], NULL, &f));
        const void *data;
        size_t len;
        OK(pp_future_result(f, 30, &data, &len));
        cr_assert_eq(len, sizes[i]);
        expect_filled(data, len, (unsigned)i);
        pp_future_release(f);
    }
    pp_stats st;
    OK(pp_pool_stats(pool, &st));
    cr_assert_eq(st.shm_bytes_in_use, 0, "every buffer went back with its future");
    pp_pool_destroy(pool);
}

Test(payload, many_buffers_in_flight_with_a_shorter_length)
{
    pp_pool *pool = pool_of(2);
    enum { N = 64 };
    pp_future *fs[N];
    for (int i = 0; i < N; i++) {
        unsigned char *buf = pp_buffer_alloc(pool, 256 << 10);
        cr_assert_not_null(buf);
        size_t len = (size_t)(i + 1) << 12; /* less than allocated is fine */
        fill(buf, len, (unsigned)i);
        OK(pp_submit_buffer(pool, echo_task, buf, len, &(pp_task_opts){.deadline = 30}, &fs[i]));
    }
    for (int i = 0; i < N; i++) {
        const void *data;
        size_t len;
        OK(pp_future_result(fs[i], 30, &data, &len));
        cr_assert_eq(len, (size_t)(i + 1) << 12);
        expect_filled(data, len, (unsigned)i);
    }
    pp_pool_destroy(pool);
}

Test(payload, bad_buffers_are_einval)
{
    pp_pool *pool = pool_of(1), *other = pool_of(1);
    pp_future *f;
    char stack[64];
    cr_assert_eq(pp_submit_buffer(pool, echo_task, stack, sizeof stack, NULL, &f), PP_EINVAL);
    cr_assert_null(f);
    unsigned char *buf = pp_buffer_alloc(pool, 1000);
    cr_assert_not_null(buf);
    cr_assert_eq(pp_submit_buffer(pool, echo_task, buf + 16, 100, NULL, &f), PP_EINVAL, "inside, not the start");
    cr_assert_eq(pp_submit_buffer(pool, echo_task, buf, 1001, NULL, &f), PP_EINVAL, "past its length");
    cr_assert_eq(pp_submit_buffer(other, echo_task, buf, 10, NULL, &f), PP_EINVAL, "another pool's");
    cr_assert_eq(pp_submit_buffer(NULL, echo_task, buf, 10, NULL, &f), PP_EINVAL);
    cr_assert_eq(pp_submit_buffer(pool, NULL, buf, 10, NULL, &f), PP_EINVAL);
    cr_assert_eq(pp_submit_buffer(pool, echo_task, NULL, 0, NULL, &f), PP_EINVAL);
    cr_assert_eq(pp_submit_buffer(pool, echo_task, buf, 10, NULL, NULL), PP_EINVAL);
    cr_assert_eq(pp_submit_buffer(pool, echo_task, buf, 10, &(pp_task_opts){.deadline = -1}, &f), PP_EINVAL);
    fill(buf, 1000, 3);
    pp_future *first;
    OK(pp_submit_buffer(pool, echo_task, buf, 1000, NULL, &first));
    cr_assert_eq(pp_submit_buffer(pool, echo_task, buf, 1000, NULL, &f), PP_EINVAL, "taken by the first submit");
    pp_future *g;
    OK(pp_submit(pool, echo_task, "x", 1, &g));
    const void *data;
    size_t len;
    pp_buffer_free(pool, buf); /* not ours any more: ignored */
    pp_buffer_free(pool, stack);
    pp_buffer_free(NULL, buf);
    OK(pp_future_result(first, 30, &data, &len));
    expect_filled(data, len, 3);
    unsigned char *never = pp_buffer_alloc(pool, 5000);
    cr_assert_not_null(never);
    pp_buffer_free(pool, never);
    cr_assert_eq(pp_submit_buffer(pool, echo_task, never, 10, NULL, &f), PP_EINVAL, "freed");
    cr_assert_null(pp_buffer_alloc(NULL, 10));
    cr_assert_null(pp_buffer_alloc(pool, SIZE_MAX), "past any memory");
    unsigned char *kept = pp_buffer_alloc(pool, 100); /* left to destroy */
    cr_assert_not_null(kept);
    OK(pp_shutdown(pool, false, false));
    cr_assert_eq(pp_submit_buffer(pool, echo_task, kept, 100, NULL, &f), PP_ESHUTDOWN, "the buffer stays the caller's");
    pp_buffer_free(pool, kept);
    cr_assert_null(pp_buffer_alloc(pool, 10), "no buffers after shutdown");
    pp_pool_destroy(pool);
    pp_pool_destroy(other);
}

static int big_from_small_task(pp_task *t, const void *arg, size_t len)
{
    (void)len;
    size_t n = *(const size_t *)arg;
    unsigned char *p = pp_task_result_buffer(t, n);
    if (!p)
        return 1;
    fill(p, n, 9);
    return 0;
}

Test(payload, results_granted_up_front)
{
    pp_pool *pool = pool_of(2);
    size_t sizes[] = {300, 70000, 5 << 20};
    for (int i = 0; i < 3; i++) {
        pp_future *f;
        OK(pp_submit_opts(pool, big_from_small_task, &sizes[i], sizeof sizes[i],
                          &(pp_task_opts){.result_hint = sizes[i]}, &f));
        const void *data;
        size_t len;
        OK(pp_future_result(f, 30, &data, &len));
        cr_assert_eq(len, sizes[i]);
        expect_filled(data, len, 9);
        pp_future_release(f);
        /* a hint smaller than the result still works: the rest is asked for */
        OK(pp_submit_opts(pool, big_from_small_task, &sizes[i], sizeof sizes[i],
                          &(pp_task_opts){.result_hint = 100}, &f));
        OK(pp_future_result(f, 30, &data, &len));
        expect_filled(data, len, 9);
        pp_future_release(f);
    }
    pp_future *f;
    cr_assert_eq(pp_submit_opts(pool, big_from_small_task, &sizes[0], sizeof sizes[0],
                                &(pp_task_opts){.result_hint = SIZE_MAX}, &f),
                 PP_ENOMEM);
    pp_pool_destroy(pool);
}

/* Shared memory of this process that is resident (RssShmem), in bytes. */
static long resident_shmem(void)
{
    FILE *fp = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (fp && fgets(line, sizeof line, fp))
        if (sscanf(line, "RssShmem: %ld kB", &kb) == 1)
            break;
    if (fp)
        fclose(fp);
    return kb * 1024;
}

/* Memory follows the work: a batch far larger than the warm budget stays warm
   while it runs, and once released and idle, the pool gives it back. */
Test(payload, the_arena_gives_memory_back_when_idle)
{
    if (instrumented())
        cr_skip_test("instrumented runs keep their own view of shared pages");
    pp_pool *pool;
    OK(pp_pool_create(&pool, &(pp_config){.max_workers = 2, .shm_bytes = 4 << 20}));
    long before = resident_shmem();
    enum { N = 100 };
    pp_future *fs[N];
    for (int i = 0; i < N; i++) {
        unsigned char *buf = pp_buffer_alloc(pool, 1 << 20);
        cr_assert_not_null(buf);
        fill(buf, 1 << 20, (unsigned)i);
        OK(pp_submit_buffer(pool, echo_task, buf, 1 << 20, NULL, &fs[i]));
    }
    for (int i = 0; i < N; i++) {
        const void *data;
        size_t len;
        OK(pp_future_result(fs[i], 30, &data, &len));
        expect_filled(data, len, (unsigned)i);
    }
    long busy = resident_shmem();
    cr_assert_gt(busy - before, 100L << 20, "the batch was resident: %ld", busy - before);
    for (int i = 0; i < N; i++)
        pp_future_release(fs[i]);
    EVENTUALLY(resident_shmem() - before < (8L << 20), 15); /* the 4 MiB budget, and some slack */
    pp_pool_destroy(pool);
}
