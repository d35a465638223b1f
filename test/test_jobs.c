/* SPDX-License-Identifier: MIT */
/*
 * test_jobs: batch jobs that run unattended: per-item deadlines and CPU
 * limits inside chunks, a death that blames only the item that was running,
 * retries, killing a running task or a whole stream, pulled input in
 * bounded memory, excluding setup from what a task reports, and the names
 * of the status codes.
 */
#include "helpers.h"
#include "chunk_end.h"

#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include "procinfo.h"

/* Counters every process of a test sees (made before the pool). */
static _Atomic int *runs;

static void runs_init(size_t n)
{
    runs = mmap(NULL, n * sizeof *runs, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(runs, MAP_FAILED);
}

/* Items: value v. v % 100 == 13: crashes on its first run(s) (as many as
   v / 1000, 0: always); == 17: sleeps past any deadline; == 19: burns CPU;
   == 23: fails with code 4. Counts its runs in runs[v % 1000 ... index]. */
struct job_item {
    int32_t index, v;
};

static int job_task(pp_task *t, const void *arg, size_t len)
{
    (void)len;
    struct job_item it;
    memcpy(&it, arg, sizeof it);
    int run = atomic_fetch_add(&runs[it.index], 1) + 1;
    switch (it.v % 100) {
    case 13:
        if (it.v / 1000 == 0 || run <= it.v / 1000)
            raise(SIGKILL);
        break;
    case 17: sleep(30); break;
    case 19:
        for (volatile unsigned long i = 0;; i++)
            ;
    case 23: return pp_task_fail(t, 4, "item %d failed", it.index);
    default: break;
    }
    long r = (long)it.v * 2;
    return pp_task_return(t, &r, sizeof r);
}

static void make_items(struct job_item *items, int n, const int *special, int nspecial)
{
    for (int i = 0; i < n; i++)
        items[i] = (struct job_item){i, i * 100}; /* plain */
    for (int k = 0; k < nspecial; k += 2)
        items[special[k]].v = special[k + 1];
}

/* ---- per-item limits inside chunks ---------------------------------------- */

Test(jobs, map_item_deadline_inside_a_chunk, .timeout = 60)
{
    enum { N = 12 };
    runs_init(N);
    pp_pool *pool = pool_of(2);
    struct job_item items[N];
    make_items(items, N, (int[]){5, 17}, 2);
    long out[N];
    int status[N];
    double t0 = now_s();
    int rc = pp_map(pool, job_task, items, N, sizeof *items, out, sizeof *out,
                    &(pp_map_opts){.chunksize = 4, .deadline = 1.5, .status = status});
    cr_assert_eq(rc, PP_EDEADLINE);
    cr_assert_lt(now_s() - t0, 10);
    for (int i = 0; i < N; i++) {
        if (i == 5) {
            cr_assert_eq(status[i], PP_EDEADLINE);
        } else {
            cr_assert_eq(status[i], PP_OK, "item %d: %s", i, pp_errname(status[i]));
            cr_assert_eq(out[i], (long)items[i].v * 2);
        }
        cr_assert_eq(atomic_load(&runs[i]), 1, "item %d ran %d times", i, atomic_load(&runs[i]));
    }
    pp_stats st;
    OK(pp_pool_stats(pool, &st));
    cr_assert_eq(st.deadline_kills, 1);
    pp_pool_destroy(pool);
}

Test(jobs, map_item_cpu_limit_inside_a_chunk, .timeout = 60)
{
    enum { N = 9 };
    runs_init(N);
    pp_pool *pool = pool_of(2);
    struct job_item items[N];
    make_items(items, N, (int[]){4, 19}, 2);
    long out[N];
    int status[N];
    int rc = pp_map(pool, job_task, items, N, sizeof *items, out, sizeof *out,
                    &(pp_map_opts){.chunksize = 3, .cpu_limit = 0.2, .status = status});
    cr_assert_eq(rc, PP_ELIMIT);
    for (int i = 0; i < N; i++) {
        cr_assert_eq(status[i], i == 4 ? PP_ELIMIT : PP_OK, "item %d: %s", i, pp_errname(status[i]));
        cr_assert_eq(atomic_load(&runs[i]), 1);
    }
    pp_pool_destroy(pool);
}

static void stream_items(const struct job_item *items, pp_item *out, int n)
{
    for (int i = 0; i < n; i++)
        out[i] = (pp_item){&items[i], sizeof items[i]};
}

Test(jobs, stream_item_deadline_inside_a_chunk, .timeout = 60)
{
    enum { N = 12 };
    runs_init(N);
    pp_pool *pool = pool_of(2);
    struct job_item items[N];
    make_items(items, N, (int[]){6, 17}, 2);
    pp_item in[N];
    stream_items(items, in, N);
    for (int unordered = 0; unordered < 2; unordered++) {
        memset((void *)runs, 0, N * sizeof *runs);
        pp_map_iter *it;
        OK(pp_map_begin(pool, job_task, in, N,
                        &(pp_stream_opts){.chunksize = 4, .deadline = 1.5, .unordered = unordered}, &it));
        pp_map_item m;
        int got = 0;
        while (pp_map_next(it, &m) == 1) {
            got++;
            if (m.index == 6) {
                cr_assert_eq(m.status, PP_EDEADLINE);
                cr_assert_eq(m.code, -SIGKILL);
            } else {
                cr_assert_eq(m.status, PP_OK, "item %zu: %s", m.index, pp_errname(m.status));
                cr_assert_eq(*(const long *)m.result, (long)items[m.index].v * 2);
            }
        }
        cr_assert_eq(got, N);
        pp_map_end(it);
        for (int i = 0; i < N; i++)
            cr_assert_eq(atomic_load(&runs[i]), 1, "item %d ran %d times", i, atomic_load(&runs[i]));
    }
    pp_pool_destroy(pool);
}

Test(jobs, stream_item_cpu_limit, .timeout = 60)
{
    enum { N = 8 };
    runs_init(N);
    pp_pool *pool = pool_of(2);
    struct job_item items[N];
    make_items(items, N, (int[]){3, 19}, 2);
    pp_item in[N];
    stream_items(items, in, N);
    for (size_t chunk = 1; chunk <= 4; chunk += 3) {
        pp_map_iter *it;
        OK(pp_map_begin(pool, job_task, in, N, &(pp_stream_opts){.chunksize = chunk, .cpu_limit = 0.2}, &it));
        pp_map_item m;
        while (pp_map_next(it, &m) == 1)
            cr_assert_eq(m.status, m.index == 3 ? PP_ELIMIT : PP_OK, "chunk %zu item %zu: %s", chunk, m.index,
                         pp_errname(m.status));
        pp_map_end(it);
    }
    pp_pool_destroy(pool);
}

/* ---- a death blames the item that was running ----------------------------- */

Test(jobs, a_crash_in_a_chunk_runs_nothing_twice, .timeout = 60)
{
    enum { N = 16 };
    runs_init(N);
    pp_pool *pool = pool_of(2);
    struct job_item items[N];
    make_items(items, N, (int[]){2, 13, 9, 13}, 4);
    long out[N];
    int status[N];
    int rc = pp_map(pool, job_task, items, N, sizeof *items, out, sizeof *out,
                    &(pp_map_opts){.chunksize = 8, .status = status});
    cr_assert_eq(rc, PP_ECRASHED);
    for (int i = 0; i < N; i++) {
        cr_assert_eq(status[i], i == 2 || i == 9 ? PP_ECRASHED : PP_OK);
        cr_assert_eq(atomic_load(&runs[i]), 1, "item %d ran %d times", i, atomic_load(&runs[i]));
    }
    pp_stats st;
    OK(pp_pool_stats(pool, &st));
    cr_assert_eq(st.crashed, 2, "one per crashed item run");
    pp_pool_destroy(pool);
}

Test(jobs, a_crash_in_a_stream_chunk_runs_nothing_twice, .timeout = 60)
{
    enum { N = 16 };
    runs_init(N);
    pp_pool *pool = pool_of(2);
    struct job_item items[N];
    make_items(items, N, (int[]){0, 13, 7, 13, 12, 23}, 6);
    pp_item in[N];
    stream_items(items, in, N);
    pp_map_iter *it;
    OK(pp_map_begin(pool, job_task, in, N, &(pp_stream_opts){.chunksize = 8}, &it));
    pp_map_item m;
    for (int i = 0; i < N; i++) {
        cr_assert_eq(pp_map_next(it, &m), 1);
        cr_assert_eq(m.index, (size_t)i);
        if (i == 0 || i == 7) {
            cr_assert_eq(m.status, PP_ECRASHED);
            cr_assert_not_null(m.message);
        } else if (i == 12) {
            cr_assert_eq(m.status, PP_ETASK);
            cr_assert_eq(m.code, 4);
            cr_assert_str_eq(m.message, "item 12 failed");
        } else {
            cr_assert_eq(m.status, PP_OK, "item %d: %s", i, pp_errname(m.status));
            cr_assert_null(m.message);
        }
    }
    cr_assert_eq(pp_map_next(it, &m), 0);
    pp_map_end(it);
    for (int i = 0; i < N; i++)
        cr_assert_eq(atomic_load(&runs[i]), 1, "item %d ran %d times", i, atomic_load(&runs[i]));
    pp_stats st;
    OK(pp_pool_stats(pool, &st));
    cr_assert_eq(st.crashed, 2);
    pp_pool_destroy(pool);
}

/* ---- retries --------------------------------------------------------------- */

Test(jobs, map_retries_the_culprit_only, .timeout = 60)
{
    enum { N = 10 };
    runs_init(N);
    pp_pool *pool = pool_of(2);
    struct job_item items[N];
    make_items(items, N, (int[]){3, 2013, 6, 13}, 4); /* 3 crashes twice then works; 6 always */
    long out[N];
    int status[N];
    int rc = pp_map(pool, job_task, items, N, sizeof *items, out, sizeof *out,
                    &(pp_map_opts){.chunksize = 5, .retries = 2, .status = status});
    cr_assert_eq(rc, PP_ECRASHED);
    for (int i = 0; i < N; i++) {
        int want_runs = i == 3 || i == 6 ? 3 : 1;
        cr_assert_eq(status[i], i == 6 ? PP_ECRASHED : PP_OK, "item %d: %s", i, pp_errname(status[i]));
        cr_assert_eq(atomic_load(&runs[i]), want_runs, "item %d ran %d times", i, atomic_load(&runs[i]));
    }
    cr_assert_eq(out[3], 2013 * 2);
    pp_stats st;
    OK(pp_pool_stats(pool, &st));
    cr_assert_eq(st.crashed, 5, "each crashed run counts");
    pp_pool_destroy(pool);
}

Test(jobs, stream_retries, .timeout = 60)
{
    enum { N = 10 };
    runs_init(N);
    pp_pool *pool = pool_of(2);
    struct job_item items[N];
    make_items(items, N, (int[]){1, 1013, 8, 13, 5, 23}, 6);
    pp_item in[N];
    stream_items(items, in, N);
    for (size_t chunk = 1; chunk <= 3; chunk += 2) {
        memset((void *)runs, 0, N * sizeof *runs);
        pp_map_iter *it;
        OK(pp_map_begin(pool, job_task, in, N, &(pp_stream_opts){.chunksize = chunk, .retries = 1}, &it));
        pp_map_item m;
        while (pp_map_next(it, &m) == 1) {
            int want = m.index == 8 ? PP_ECRASHED : m.index == 5 ? PP_ETASK : PP_OK;
            cr_assert_eq(m.status, want, "chunk %zu item %zu: %s", chunk, m.index, pp_errname(m.status));
        }
        pp_map_end(it);
        cr_assert_eq(atomic_load(&runs[1]), 2);
        cr_assert_eq(atomic_load(&runs[8]), 2);
        cr_assert_eq(atomic_load(&runs[5]), 1, "a task's own failure is not retried");
    }
    pp_pool_destroy(pool);
}

Test(jobs, submit_retries_and_attempts, .timeout = 60)
{
    runs_init(4);
    pp_pool *pool = pool_of(2);
    struct job_item crash_once = {0, 1013}, always = {1, 13}, fails = {2, 23}, slow = {3, 1017};
    pp_future *a, *b, *c, *d;
    OK(pp_submit_opts(pool, job_task, &crash_once, sizeof crash_once, &(pp_task_opts){.retries = 3}, &a));
    OK(pp_submit_opts(pool, job_task, &always, sizeof always, &(pp_task_opts){.retries = 2}, &b));
    OK(pp_submit_opts(pool, job_task, &fails, sizeof fails, &(pp_task_opts){.retries = 2}, &c));
    OK(pp_submit_opts(pool, job_task, &slow, sizeof slow, &(pp_task_opts){.retries = 1, .deadline = 0.2},
                      &d));
    pp_task_info info;
    cr_assert_eq(result_long(a), 1013 * 2);
    OK(pp_future_info(a, &info));
    cr_assert_eq(info.attempts, 2);
    cr_assert_eq(pp_future_result(b, 30, NULL, NULL), PP_ECRASHED);
    OK(pp_future_info(b, &info));
    cr_assert_eq(info.attempts, 3);
    cr_assert_eq(atomic_load(&runs[1]), 3);
    cr_assert_eq(pp_future_result(c, 30, NULL, NULL), PP_ETASK);
    OK(pp_future_info(c, &info));
    cr_assert_eq(info.attempts, 1, "PP_ETASK is the task's answer: not retried");
    cr_assert_eq(pp_future_result(d, 30, NULL, NULL), PP_EDEADLINE);
    OK(pp_future_info(d, &info));
    cr_assert_eq(info.attempts, 2);
    pp_stats st;
    OK(pp_pool_stats(pool, &st));
    cr_assert_eq(st.crashed, 4);
    cr_assert_eq(st.deadline_kills, 2);
    cr_assert_eq(st.completed, 1);
    pp_pool_destroy(pool);
}

/* ---- killing a running task, or a stream ---------------------------------- */

Test(jobs, kill_of_a_running_task, .timeout = 60)
{
    gates_init();
    for (int mode = 0; mode < 2; mode++) {
        pp_pool *pool;
        OK(pp_pool_create(
            &pool, &(pp_config){.max_workers = 2, .on_crash = mode ? PP_BREAK_POOL : PP_REPLACE_WORKER}));
        pp_future *running, *other, *queued;
        OK(pp_submit(pool, block_task, "r", 1, &running));
        OK(pp_submit(pool, block_task, "o", 1, &other));
        wait_started(2);
        OK(pp_submit(pool, square_task, &(long){7}, sizeof(long), &queued));
        cr_assert(pp_future_running(running));
        cr_assert_eq(pp_future_kill(running), 1);
        cr_assert_eq(pp_future_result(running, 0, NULL, NULL), PP_ECANCELLED);
        cr_assert(pp_future_cancelled(running));
        cr_assert_eq(result_long(queued), 49, "a replacement took the queued task");
        gate_open(1);
        OK(pp_future_result(other, 30, NULL, NULL));
        cr_assert_eq(pp_future_kill(other), 0, "already done");
        cr_assert_eq(pp_future_kill(running), 1, "ended cancelled");
        pp_task_info info;
        OK(pp_future_info(running, &info));
        cr_assert_gt(info.pid, 0);
        EVENTUALLY(process_gone(info.pid), 10);
        pp_stats st;
        OK(pp_pool_stats(pool, &st));
        cr_assert_eq(st.cancelled, 1);
        cr_assert_eq(st.crashed, 0);
        cr_assert_eq(result_long(submit_long(pool, square_task, 3)), 9, "never broken");
        pp_pool_destroy(pool);
    }
}

Test(jobs, kill_of_a_pending_task_cancels_it, .timeout = 60)
{
    gates_init();
    pp_pool *pool = pool_of(1);
    pp_future *blocker, *pending;
    OK(pp_submit(pool, block_task, "b", 1, &blocker));
    wait_started(1);
    OK(pp_submit(pool, square_task, &(long){2}, sizeof(long), &pending));
    cr_assert_eq(pp_future_kill(pending), 1);
    cr_assert(pp_future_cancelled(pending));
    gate_open(1);
    OK(pp_future_result(blocker, 30, NULL, NULL));
    cr_assert_eq(pp_future_kill(NULL), PP_EINVAL);
    pp_pool_destroy(pool);
}

Test(jobs, map_kill_does_not_wait, .timeout = 60)
{
    enum { N = 6 };
    runs_init(N);
    pp_pool *pool = pool_of(2);
    struct job_item items[N];
    for (int i = 0; i < N; i++)
        items[i] = (struct job_item){i, 17}; /* all sleep 30 s */
    pp_item in[N];
    stream_items(items, in, N);
    for (size_t chunk = 1; chunk <= 2; chunk++) {
        pp_map_iter *it;
        OK(pp_map_begin(pool, job_task, in, N, &(pp_stream_opts){.chunksize = chunk}, &it));
        EVENTUALLY(atomic_load(&runs[0]) + atomic_load(&runs[1]) + atomic_load(&runs[2]) > 0, 10);
        double t0 = now_s();
        pp_map_kill(it);
        cr_assert_lt(now_s() - t0, slack(2)); /* its items sleep 30 s */
        memset((void *)runs, 0, N * sizeof *runs);
    }
    pp_future *f = submit_long(pool, square_task, 8);
    cr_assert_eq(result_long(f), 64, "the pool works on");
    pp_pool_destroy(pool);
}

/* ---- pulled input ---------------------------------------------------------- */

struct counter_src {
    uint64_t next, n;
    char buf[24]; /* reused: the library copies before the next pull */
    int fail_at;  /* < 0: never */
};

static int pull_numbers(void *ud, pp_item *item)
{
    struct counter_src *s = ud;
    if (s->fail_at >= 0 && s->next == (uint64_t)s->fail_at)
        return PP_EINVAL;
    if (s->next == s->n)
        return 0;
    int len = snprintf(s->buf, sizeof s->buf, "%llu", (unsigned long long)s->next++);
    *item = (pp_item){s->buf, (size_t)len};
    return 1;
}

static int digits_task(pp_task *t, const void *arg, size_t len)
{
    char buf[24] = {0};
    memcpy(buf, arg, len < 23 ? len : 23);
    uint64_t v = strtoull(buf, NULL, 10);
    return pp_task_return(t, &v, sizeof v);
}

Test(jobs, pulled_items_in_order_with_reused_buffer, .timeout = 60)
{
    pp_pool *pool = pool_of(2);
    for (size_t chunk = 1; chunk <= 64; chunk *= 8) {
        for (int unordered = 0; unordered < 2; unordered++) {
            struct counter_src src = {.n = 5000, .fail_at = -1};
            pp_map_iter *it;
            OK(pp_map_begin_pull(pool, digits_task, pull_numbers, &src,
                                 &(pp_stream_opts){.chunksize = chunk, .unordered = unordered, .window = 256},
                                 &it));
            bool *seen = calloc(src.n, 1);
            pp_map_item m;
            uint64_t got = 0;
            while (pp_map_next(it, &m) == 1) {
                cr_assert_eq(m.status, PP_OK);
                cr_assert_lt(m.index, src.n);
                cr_assert(!seen[m.index]);
                seen[m.index] = true;
                if (!unordered)
                    cr_assert_eq(m.index, got);
                cr_assert_eq(*(const uint64_t *)m.result, m.index, "the bytes pulled with index %zu",
                             m.index);
                got++;
            }
            cr_assert_eq(got, src.n);
            pp_map_end(it);
            free(seen);
        }
    }
    pp_pool_destroy(pool);
}

Test(jobs, a_pull_that_fails_ends_the_stream_with_its_status, .timeout = 60)
{
    pp_pool *pool = pool_of(2);
    for (size_t chunk = 1; chunk <= 10; chunk += 9) {
        struct counter_src src = {.n = 100, .fail_at = 37};
        pp_map_iter *it;
        OK(pp_map_begin_pull(pool, digits_task, pull_numbers, &src, &(pp_stream_opts){.chunksize = chunk},
                             &it));
        pp_map_item m;
        int got = 0, rc;
        while ((rc = pp_map_next(it, &m)) == 1)
            cr_assert_eq(m.index, (size_t)got++);
        cr_assert_eq(got, 37, "what was pulled before is yielded");
        cr_assert_eq(rc, PP_EINVAL);
        cr_assert_eq(pp_map_next(it, &m), PP_EINVAL, "and it stays so");
        pp_map_end(it);
    }
    cr_assert_eq(pp_map_begin_pull(pool, digits_task, NULL, NULL, NULL, &(pp_map_iter *){NULL}), PP_EINVAL);
    pp_pool_destroy(pool);
}

static long rss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static int nothing_task(pp_task *t, const void *arg, size_t len)
{
    (void)t;
    (void)arg;
    (void)len;
    return 0;
}

Test(jobs, ten_million_pulled_items_in_bounded_memory, .timeout = 240)
{
    pp_pool *pool = pool_of(2);
    struct counter_src src = {.n = instrumented() || scaled(10) < 10 ? 200000 : 10000000, .fail_at = -1};
    long before = rss_kb();
    pp_map_iter *it;
    OK(pp_map_begin_pull(pool, nothing_task, pull_numbers, &src, &(pp_stream_opts){.chunksize = 1000}, &it));
    pp_map_item m;
    uint64_t got = 0;
    while (pp_map_next(it, &m) == 1)
        got += m.status == PP_OK;
    pp_map_end(it);
    cr_assert_eq(got, src.n);
    long grown = rss_kb() - before;
    cr_log_info("pulled %llu items; peak RSS grew %ld KiB", (unsigned long long)src.n, grown);
    cr_assert_lt(grown, 64 * 1024, "peak RSS grew %ld KiB for %llu items", grown, (unsigned long long)src.n);
    pp_pool_destroy(pool);
}

/* ---- excluding setup -------------------------------------------------------- */

static int setup_then_work_task(pp_task *t, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    double until = now_s() + 0.8;
    for (volatile unsigned long i = 0; now_s() < until; i++)
        ; /* setup: 0.8 s of CPU */
    pp_task_reset_info(t);
    usleep(20000); /* the work: 20 ms, no CPU */
    return pp_task_return(t, "r", 1);
}

Test(jobs, reset_info_leaves_setup_out, .timeout = 60)
{
    pp_pool *pool = pool_of(1);
    pp_future *f;
    OK(pp_submit(pool, setup_then_work_task, NULL, 0, &f));
    OK(pp_future_result(f, 30, NULL, NULL));
    pp_task_info info;
    OK(pp_future_info(f, &info));
    /* setup 0.8 s, work 0.02 s: whatever the load, the figures cannot reach the setup's */
    cr_assert_lt(info.wall_s, 0.4, "wall %.3f s counts the setup", info.wall_s);
    cr_assert_geq(info.wall_s, 0.019);
    cr_assert_lt(info.user_cpu_s + info.sys_cpu_s, 0.3, "CPU %.3f s counts the setup",
                 info.user_cpu_s + info.sys_cpu_s);
    pp_task_reset_info(NULL); /* ignored */
    pp_pool_destroy(pool);
}

/* ---- names ------------------------------------------------------------------ */

Test(jobs, every_status_has_a_name)
{
    const struct {
        int code;
        const char *name;
    } all[] = {{PP_OK, "PP_OK"},           {PP_ETIMEOUT, "PP_ETIMEOUT"},   {PP_ECANCELLED, "PP_ECANCELLED"},
               {PP_ETASK, "PP_ETASK"},     {PP_ECRASHED, "PP_ECRASHED"},   {PP_EDEADLINE, "PP_EDEADLINE"},
               {PP_EBROKEN, "PP_EBROKEN"}, {PP_ESHUTDOWN, "PP_ESHUTDOWN"}, {PP_EINVAL, "PP_EINVAL"},
               {PP_ENOMEM, "PP_ENOMEM"},   {PP_ESTATE, "PP_ESTATE"},       {PP_ESYS, "PP_ESYS"},
               {PP_ELIMIT, "PP_ELIMIT"}};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        cr_assert_str_eq(pp_errname(all[i].code), all[i].name);
        cr_assert_str_neq(pp_strerror(all[i].code), "unknown status");
    }
    cr_assert_null(pp_errname(1));
    cr_assert_null(pp_errname(-13));
    cr_assert_null(pp_errname(INT32_MIN));
    cr_assert_eq(PP_VERSION_HEX, (PP_VERSION_MAJOR << 16) | (PP_VERSION_MINOR << 8) | PP_VERSION_PATCH);
    char v[32];
    snprintf(v, sizeof v, "%d.%d.%d", PP_VERSION_MAJOR, PP_VERSION_MINOR, PP_VERSION_PATCH);
    cr_assert_str_eq(pp_version(), v);
}

/* ---- what a hostile review found ------------------------------------------ */

struct reentrant_src {
    pp_map_iter *it;
    struct counter_src inner;
    int reentered, refused;
};

static int pull_reentering(void *ud, pp_item *item)
{
    struct reentrant_src *s = ud;
    if (s->it) { /* a pull that calls back into its own iterator */
        pp_map_item m;
        s->reentered++;
        s->refused += pp_map_next(s->it, &m) == PP_ESTATE;
        pp_map_end(s->it); /* ignored from here */
    }
    return pull_numbers(&s->inner, item);
}

Test(jobs, a_pull_cannot_reenter_its_iterator, .timeout = 60)
{
    pp_pool *pool = pool_of(2);
    for (size_t chunk = 1; chunk <= 4; chunk += 3) {
        struct reentrant_src src = {.inner = {.n = 200, .fail_at = -1}};
        OK(pp_map_begin_pull(pool, digits_task, pull_reentering, &src, &(pp_stream_opts){.chunksize = chunk},
                             &src.it));
        pp_map_item m;
        size_t got = 0;
        while (pp_map_next(src.it, &m) == 1) {
            cr_assert_eq(m.index, got, "chunk %zu", chunk);
            cr_assert_eq(*(const uint64_t *)m.result, got);
            got++;
        }
        cr_assert_eq(got, 200);
        cr_assert_gt(src.reentered, 0);
        cr_assert_eq(src.refused, src.reentered);
        pp_map_end(src.it);
    }
    pp_pool_destroy(pool);
}

static int pull_one_too_big(void *ud, pp_item *item)
{
    struct counter_src *s = ud;
    if (s->next == 5) {
        s->next++;
        *item = (pp_item){s->buf, (size_t)1 << 47}; /* past any arena: never read */
        return 1;
    }
    return pull_numbers(s, item);
}

Test(jobs, an_oversized_pulled_item_fails_alone, .timeout = 60)
{
    pp_pool *pool = pool_of(2);
    for (size_t chunk = 1; chunk <= 4; chunk += 3) {
        struct counter_src src = {.n = 10, .fail_at = -1};
        pp_map_iter *it;
        OK(pp_map_begin_pull(pool, digits_task, pull_one_too_big, &src, &(pp_stream_opts){.chunksize = chunk},
                             &it));
        pp_map_item m;
        for (size_t i = 0; i < 10; i++) {
            cr_assert_eq(pp_map_next(it, &m), 1);
            cr_assert_eq(m.index, i);
            cr_assert_eq(m.status, i == 5 ? PP_ENOMEM : PP_OK, "chunk %zu item %zu: %s", chunk, i,
                         pp_errname(m.status));
        }
        cr_assert_eq(pp_map_next(it, &m), 0);
        pp_map_end(it);
    }
    pp_pool_destroy(pool);
}

static int pair_task(pp_task *t, const void *arg, size_t len)
{
    (void)len;
    long v = *(const long *)arg;
    usleep((useconds_t)(v % 2 ? 1000 : 99800 + (v / 2) % 5 * 100)); /* odd: fast; even: at the deadline */
    return pp_task_return(t, &v, sizeof v);
}

Test(jobs, a_limit_met_as_an_item_ends_blames_no_next_item, .timeout = 120)
{
    enum { PAIRS = 40 };
    pp_pool *pool = pool_of(2);
    long in[2 * PAIRS], out[2 * PAIRS];
    int status[2 * PAIRS];
    for (int i = 0; i < 2 * PAIRS; i++)
        in[i] = i;
    pp_map(pool, pair_task, in, 2 * PAIRS, sizeof *in, out, sizeof *out,
           &(pp_map_opts){.chunksize = 2, .deadline = 0.1, .status = status});
    for (int i = 1; i < 2 * PAIRS; i += 2)
        cr_assert_eq(status[i], PP_OK, "fast item %d blamed: %s", i, pp_errname(status[i]));
    pp_pool_destroy(pool);
}

/* Every third item (the last of its chunk of 3) runs just past the 50 ms
   deadline; the others do nothing. A finished run is counted. */
static int chunk_end_task(pp_task *t, const void *arg, size_t len)
{
    (void)len;
    long v = *(const long *)arg;
    chunk_end_work(v);
    atomic_fetch_add(&runs[v], 1);
    return pp_task_return(t, &v, sizeof v);
}

/* After a pass of chunk_end_task over n items in chunks of 3: of each
   chunk's two fast items, at most one ran again (the one a kill may land on
   as it ends), never both (the chunk sent out again whole). */
static void at_most_one_rerun_per_chunk(int n, const char *pass)
{
    for (int c = 0; c + 2 < n; c += 3) {
        int again = 0;
        for (int i = c; i < c + 2; i++) {
            int r = atomic_load(&runs[i]);
            cr_assert(r == 1 || r == 2, "%s: item %d finished %d times", pass, i, r);
            again += r - 1;
        }
        cr_assert_leq(again, 1, "%s: items %d and %d both ran again", pass, c, c + 1);
    }
    for (int i = 0; i < n; i++)
        atomic_store(&runs[i], 0);
}

/* A kill for the last item of a chunk can land once its worker has begun the
   next chunk: that chunk keeps what it finished, and sends only the rest. */
Test(jobs, a_limit_met_as_a_chunk_ends_reruns_nothing_of_the_next, .timeout = 120)
{
    enum { N = 90 };
    runs_init(N);
    pp_pool *pool = pool_of(2);
    long in[N], out[N];
    int status[N];
    for (int i = 0; i < N; i++)
        in[i] = i;
    pp_map(pool, chunk_end_task, in, N, sizeof *in, out, sizeof *out,
           &(pp_map_opts){.chunksize = 3, .deadline = 0.05, .status = status});
    for (int i = 0; i < N; i++)
        if (i % 3 != 2)
            cr_assert_eq(status[i], PP_OK, "map item %d: %s", i, pp_errname(status[i]));
    at_most_one_rerun_per_chunk(N, "map");
    pp_item items[N];
    for (int i = 0; i < N; i++)
        items[i] = (pp_item){&in[i], sizeof in[i]};
    pp_map_iter *it;
    OK(pp_map_begin(pool, chunk_end_task, items, N, &(pp_stream_opts){.chunksize = 3, .deadline = 0.05},
                    &it));
    pp_map_item m;
    while (pp_map_next(it, &m) == 1)
        if (m.index % 3 != 2)
            cr_assert_eq(m.status, PP_OK, "stream item %zu: %s", m.index, pp_errname(m.status));
    pp_map_end(it);
    at_most_one_rerun_per_chunk(N, "stream");
    pp_pool_destroy(pool);
}

static int crash_always_task(pp_task *t, const void *arg, size_t len)
{
    (void)t;
    (void)arg;
    (void)len;
    raise(SIGKILL);
    return 0;
}

Test(jobs, destroy_ends_endless_retries, .timeout = 60)
{
    pp_pool *pool = pool_of(2);
    pp_future *f;
    OK(pp_submit_opts(pool, crash_always_task, NULL, 0, &(pp_task_opts){.retries = UINT32_MAX}, &f));
    pp_future_release(f);
    pp_future *g = submit_long(pool, square_task, 3);
    cr_assert_eq(result_long(g), 9);
    double t0 = now_s();
    pp_pool_destroy(pool);
    cr_assert_lt(now_s() - t0, slack(10));
}
