/* SPDX-License-Identifier: MIT */
/*
 * Batch jobs and benchmark runs: user data on futures, per-task timing and
 * resource figures (also for crashes and kills), CPU limits, the memory
 * watchdog (loky's leak test), pinned workers, and the streaming map.
 */
#include <math.h>
#include <sched.h>
#include <sys/resource.h>

#include "helpers.h"

TestSuite(batch, .timeout = 60);

static void burn_cpu(double seconds)
{
    struct timespec a, b;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
    do
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
    while ((double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9 < seconds);
}

/* arg: {CPU seconds to burn, MiB to touch, crash (signal or 0)} */
struct work {
    double cpu;
    long mib;
    int crash;
};

static int work_task(pp_task *t, const void *arg, size_t len)
{
    (void)len;
    struct work w;
    memcpy(&w, arg, sizeof w);
    if (w.mib) {
        char *p = malloc((size_t)w.mib << 20);
        if (!p)
            return 1;
        memset(p, 1, (size_t)w.mib << 20);
        __asm__ volatile("" : : "r"(p) : "memory"); /* the pages are touched, not optimised away */
        free(p);
    }
    burn_cpu(w.cpu);
    if (w.crash)
        raise(w.crash);
    return pp_task_return(t, &w.cpu, sizeof w.cpu);
}

Test(batch, future_data_keeps_the_callers_pointer)
{
    pp_pool *pool = pool_of(1);
    int mine;
    pp_future *f, *g;
    OK(pp_submit_opts(pool, square_task, &(long){3}, sizeof(long), &(pp_task_opts){.data = &mine}, &f));
    OK(pp_submit(pool, square_task, &(long){3}, sizeof(long), &g));
    cr_assert_eq(pp_future_data(f), &mine);
    cr_assert_null(pp_future_data(g));
    cr_assert_null(pp_future_data(NULL));
    cr_assert_eq(result_long(f), 9);
    cr_assert_eq(pp_future_data(f), &mine, "kept once done");
    pp_pool_destroy(pool);
}

Test(batch, info_gives_time_cpu_and_memory)
{
    if (instrumented())
        cr_skip_test("CPU and memory figures of instrumented processes are not the task's");
    gates_init();
    pp_pool *pool = pool_of(2);
    pp_task_info info;
    pp_future *blocked = submit_long(pool, block_task, 1);
    wait_started(1);
    cr_assert_eq(pp_future_info(blocked, &info), PP_ESTATE, "not done yet");
    cr_assert_eq(pp_future_info(NULL, &info), PP_EINVAL);
    cr_assert_eq(pp_future_info(blocked, NULL), PP_EINVAL);
    gate_open(1);
    result_long(blocked);
    pp_future *f;
    struct work w = {.cpu = 0.05, .mib = 64};
    double before = now_s();
    OK(pp_submit(pool, work_task, &w, sizeof w, &f));
    OK(pp_future_result(f, 30, NULL, NULL));
    OK(pp_future_info(f, &info));
    cr_assert(info.worker_id == 0 || info.worker_id == 1, "worker %d", info.worker_id);
    cr_assert_gt(info.pid, 0);
    cr_assert_geq(info.queued_at, before - 0.001);
    cr_assert_geq(info.started_at, info.queued_at);
    cr_assert_geq(info.finished_at, info.started_at);
    cr_assert_geq(info.wall_s, 0.045, "wall %f", info.wall_s);
    cr_assert_geq(info.user_cpu_s + info.sys_cpu_s, 0.04, "cpu %f + %f", info.user_cpu_s, info.sys_cpu_s);
    cr_assert_geq(info.peak_rss_bytes, (uint64_t)64 << 20, "peak %llu", (unsigned long long)info.peak_rss_bytes);
    /* the next small task's peak is its own, not the last one's */
    struct work small = {.cpu = 0.001};
    pp_future *g;
    OK(pp_submit(pool, work_task, &small, sizeof small, &g));
    OK(pp_future_result(g, 30, NULL, NULL));
    pp_task_info gi;
    OK(pp_future_info(g, &gi));
    if (gi.pid == info.pid)
        cr_assert_lt(gi.peak_rss_bytes, (uint64_t)48 << 20, "peak %llu", (unsigned long long)gi.peak_rss_bytes);
    pp_pool_destroy(pool);
}

Test(batch, info_of_crashes_kills_and_cancels)
{
    if (instrumented())
        cr_skip_test("CPU figures of instrumented processes are not the task's");
    gates_init();
    pp_pool *pool = pool_of(1);
    pp_future *crash, *killed, *queued, *blocked;
    struct work w = {.cpu = 0.05, .crash = SIGSEGV};
    OK(pp_submit(pool, work_task, &w, sizeof w, &crash));
    cr_assert_eq(pp_future_result(crash, 30, NULL, NULL), PP_ECRASHED);
    pp_task_info info;
    OK(pp_future_info(crash, &info));
    cr_assert_eq(info.worker_id, 0);
    cr_assert_gt(info.pid, 0);
    cr_assert_geq(info.wall_s, 0.045, "a crashed task still has its wall time: %f", info.wall_s);
    cr_assert_geq(info.user_cpu_s + info.sys_cpu_s, 0.04, "and its CPU, from the reaped worker");
    OK(pp_submit_opts(pool, forever_task, NULL, 0, &(pp_task_opts){.deadline = 0.1}, &killed));
    cr_assert_eq(pp_future_result(killed, 30, NULL, NULL), PP_EDEADLINE);
    OK(pp_future_info(killed, &info));
    cr_assert_geq(info.wall_s, 0.09, "wall %f", info.wall_s);
    blocked = submit_long(pool, block_task, 1);
    wait_started(1);
    queued = submit_long(pool, square_task, 2);
    cr_assert_eq(pp_future_cancel(queued), 1);
    OK(pp_future_info(queued, &info));
    cr_assert_eq(info.worker_id, -1, "it never started");
    cr_assert_eq(info.started_at, 0);
    cr_assert_gt(info.queued_at, 0);
    gate_open(1);
    result_long(blocked);
    pp_pool_destroy(pool);
}

static int spin_task(pp_task *t, const void *arg, size_t len)
{
    (void)t;
    (void)arg;
    (void)len;
    for (volatile unsigned long i = 0;; i++)
        ;
    return 0;
}

static int nap_task(pp_task *t, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    usleep(300000);
    return pp_task_return(t, &(long){5}, sizeof(long));
}

Test(batch, cpu_limit_kills_with_elimit)
{
    pp_pool *pool = pool_of(1);
    pp_future *f;
    OK(pp_submit_opts(pool, spin_task, NULL, 0, &(pp_task_opts){.cpu_limit = 0.2}, &f));
    int code;
    const char *msg;
    cr_assert_eq(pp_future_exception(f, 30, &code, &msg), PP_ELIMIT);
    cr_assert_eq(code, -SIGKILL);
    cr_assert_not_null(strstr(msg, "limit of 0.200 s"), "%s", msg);
    cr_assert_str_eq(pp_strerror(PP_ELIMIT), "the task passed a resource limit");
    /* sleeping costs no CPU: a limit far below the wall time is not reached */
    OK(pp_submit_opts(pool, nap_task, NULL, 0, &(pp_task_opts){.cpu_limit = 0.1}, &f));
    cr_assert_eq(result_long(f), 5);
    OK(pp_submit_opts(pool, nap_task, NULL, 0, &(pp_task_opts){.cpu_limit = INFINITY}, &f));
    cr_assert_eq(result_long(f), 5);
    cr_assert_eq(pp_submit_opts(pool, nap_task, NULL, 0, &(pp_task_opts){.cpu_limit = -1}, &f), PP_EINVAL);
    cr_assert_eq(pp_submit_opts(pool, nap_task, NULL, 0, &(pp_task_opts){.cpu_limit = NAN}, &f), PP_EINVAL);
    cr_assert_eq(result_long(submit_long(pool, square_task, 4)), 16, "the pool goes on");
    pp_stats st;
    OK(pp_pool_stats(pool, &st));
    cr_assert_eq(st.crashed, 0, "a limit kill is not a crash");
    pp_pool_destroy(pool);
}

static int leak_task(pp_task *t, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    char *p = malloc(3 << 20);
    if (!p)
        return 1;
    memset(p, 7, 3 << 20); /* never freed */
    long pages = 0, resident = 0;
    FILE *fp = fopen("/proc/self/statm", "r");
    if (!fp || fscanf(fp, "%ld %ld", &pages, &resident) != 2)
        resident = 0;
    if (fp)
        fclose(fp);
    long bytes = resident * sysconf(_SC_PAGESIZE);
    return pp_task_return(t, &bytes, sizeof bytes);
}

/* loky's test_memory_leak_protection: 300 tasks leaking 3 MB each stay under a 650 MB limit. */
Test(batch, memory_watchdog_recycles_leaking_workers, .timeout = 120)
{
    if (instrumented())
        cr_skip_test("the leaks are deliberate; leak checkers would report them");
    long n = 300;
    pp_pool *pool;
    OK(pp_pool_create(&pool, &(pp_config){.max_workers = 1, .max_rss_per_child = (size_t)650 << 20}));
    long most = 0;
    for (long i = 0; i < n; i++) {
        long rss = result_long(submit_long(pool, leak_task, i));
        if (rss > most)
            most = rss;
    }
    cr_assert_lt(most, (650L << 20) + (4L << 20), "a worker reached %ld bytes", most);
    pp_stats st;
    OK(pp_pool_stats(pool, &st));
    cr_assert_geq(st.workers_recycled, 1, "900 MB of leaks need a fresh worker");
    cr_assert_eq(st.workers_started, 1 + st.workers_recycled);
    pp_pool_destroy(pool);
}

static int cpu_task(pp_task *t, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    cpu_set_t set;
    long out[2] = {-1, -1};
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        out[0] = CPU_COUNT(&set);
        for (int c = 0; c < CPU_SETSIZE; c++)
            if (CPU_ISSET(c, &set)) {
                out[1] = c;
                break;
            }
    }
    return pp_task_return(t, out, sizeof out);
}

Test(batch, pinned_workers_run_on_one_cpu_each)
{
    cpu_set_t mine;
    cr_assert_eq(sched_getaffinity(0, sizeof mine, &mine), 0);
    int ncpu = CPU_COUNT(&mine);
    pp_pool *pool;
    OK(pp_pool_create(&pool, &(pp_config){.max_workers = ncpu, .pin_workers = true}));
    for (int round = 0; round < 4 * ncpu; round++) {
        pp_future *f;
        OK(pp_submit(pool, cpu_task, NULL, 0, &f));
        const void *data;
        OK(pp_future_result(f, 30, &data, NULL));
        const long *out = data;
        cr_assert_eq(out[0], 1, "one CPU");
        cr_assert(CPU_ISSET(out[1], &mine));
        pp_future_release(f);
    }
    pp_pool_destroy(pool);
}

/* ---- the streaming map -------------------------------------------------- */

/* "item" -> its length and its text reversed; items starting with '!' fail,
   items starting with '#' crash their worker. */
static int reverse_task(pp_task *t, const void *arg, size_t len)
{
    const char *s = arg;
    if (len && s[0] == '!')
        return pp_task_fail(t, 42, "bad item %.*s", (int)len, s);
    if (len && s[0] == '#')
        raise(SIGKILL);
    char *out = pp_task_result_buffer(t, len);
    if (!out && len)
        return 1;
    for (size_t i = 0; i < len; i++)
        out[i] = s[len - 1 - i];
    return 0;
}

static pp_item *make_items(size_t n, char store[][40])
{
    pp_item *items = calloc(n, sizeof *items);
    for (size_t i = 0; i < n; i++) {
        int len = snprintf(store[i], 40, "item-%zu-%.*s", i, (int)(i % 17), "abcdefghijklmnopq");
        items[i] = (pp_item){store[i], (size_t)len};
    }
    return items;
}

static void check_reversed(const pp_item *items, const pp_map_item *m)
{
    const char *in = items[m->index].data;
    cr_assert_eq(m->status, PP_OK, "item %zu: %s", m->index, pp_strerror(m->status));
    cr_assert_eq(m->len, items[m->index].len);
    for (size_t i = 0; i < m->len; i++)
        cr_assert_eq(((const char *)m->result)[i], in[m->len - 1 - i]);
}

Test(batch, stream_yields_variable_size_items_in_order)
{
    static char store[500][40];
    pp_item *items = make_items(500, store);
    pp_pool *pool = pool_of(2);
    size_t chunks[] = {0, 1, 7, 64};
    for (int c = 0; c < 4; c++) {
        pp_map_iter *it;
        OK(pp_map_begin(pool, reverse_task, items, 500, &(pp_stream_opts){.chunksize = chunks[c]}, &it));
        pp_map_item m;
        size_t next = 0;
        int rc;
        while ((rc = pp_map_next(it, &m)) == 1) {
            cr_assert_eq(m.index, next++, "in order (chunksize %zu)", chunks[c]);
            check_reversed(items, &m);
        }
        cr_assert_eq(rc, 0);
        cr_assert_eq(next, 500);
        pp_map_end(it);
    }
    free(items);
    pp_pool_destroy(pool);
}

Test(batch, stream_unordered_yields_each_item_once)
{
    static char store[300][40];
    pp_item *items = make_items(300, store);
    pp_pool *pool = pool_of(2);
    for (size_t chunk = 1; chunk <= 10; chunk += 9) {
        pp_map_iter *it;
        OK(pp_map_begin(pool, reverse_task, items, 300,
                        &(pp_stream_opts){.chunksize = chunk, .unordered = true, .window = 20}, &it));
        bool seen[300] = {false};
        pp_map_item m;
        int rc, count = 0;
        while ((rc = pp_map_next(it, &m)) == 1) {
            cr_assert_not(seen[m.index], "item %zu twice", m.index);
            seen[m.index] = true;
            check_reversed(items, &m);
            count++;
        }
        cr_assert_eq(rc, 0);
        cr_assert_eq(count, 300);
        pp_map_end(it);
    }
    free(items);
    pp_pool_destroy(pool);
}

Test(batch, stream_failures_are_per_item)
{
    const char *texts[] = {"ok-0", "!fail-1", "ok-2", "#crash-3", "ok-4", "ok-5", "!fail-6", "ok-7"};
    pp_item items[8];
    for (int i = 0; i < 8; i++)
        items[i] = (pp_item){texts[i], strlen(texts[i])};
    pp_pool *pool = pool_of(2);
    for (size_t chunk = 1; chunk <= 4; chunk += 3) {
        pp_map_iter *it;
        OK(pp_map_begin(pool, reverse_task, items, 8, &(pp_stream_opts){.chunksize = chunk}, &it));
        pp_map_item m;
        for (int i = 0; i < 8; i++) {
            cr_assert_eq(pp_map_next(it, &m), 1);
            cr_assert_eq(m.index, (size_t)i);
            if (texts[i][0] == '!') {
                cr_assert_eq(m.status, PP_ETASK);
                cr_assert_eq(m.code, 42);
                cr_assert_not_null(strstr(m.message, texts[i]), "message: %s", m.message);
            } else if (texts[i][0] == '#') {
                cr_assert_eq(m.status, PP_ECRASHED, "chunksize %zu", chunk);
                cr_assert_eq(m.code, -SIGKILL);
            } else {
                cr_assert_eq(m.status, PP_OK, "item %d, chunksize %zu: %s", i, chunk, pp_strerror(m.status));
                cr_assert_null(m.message); /* as pp_future_exception on success */
            }
        }
        cr_assert_eq(pp_map_next(it, &m), 0);
        pp_map_end(it);
    }
    pp_pool_destroy(pool);
}

Test(batch, stream_timeout_and_early_end)
{
    gates_init();
    pp_pool *pool = pool_of(1);
    long v[6] = {0, 1, 2, 3, 4, 5};
    pp_item items[6];
    for (int i = 0; i < 6; i++)
        items[i] = (pp_item){&v[i], sizeof v[i]};
    pp_map_iter *it;
    OK(pp_map_begin(pool, block_task, items, 6, &(pp_stream_opts){.timeout = 0.2}, &it));
    pp_map_item m;
    cr_assert_eq(pp_map_next(it, &m), PP_ETIMEOUT);
    cr_assert_eq(pp_map_next(it, &m), PP_ETIMEOUT, "sticky");
    gate_open(6); /* the one running may finish; end returns once it has */
    pp_map_end(it);
    /* end early: what has not started is cancelled, end waits for the rest */
    OK(pp_map_begin(pool, square_task, items, 6, NULL, &it));
    cr_assert_eq(pp_map_next(it, &m), 1);
    cr_assert_eq(*(const long *)m.result, 0);
    pp_map_end(it);
    pp_stats st;
    OK(pp_pool_stats(pool, &st));
    cr_assert_eq(pp_map_begin(NULL, square_task, items, 6, NULL, &it), PP_EINVAL);
    cr_assert_eq(pp_map_begin(pool, NULL, items, 6, NULL, &it), PP_EINVAL);
    cr_assert_eq(pp_map_begin(pool, square_task, NULL, 6, NULL, &it), PP_EINVAL);
    cr_assert_eq(pp_map_begin(pool, square_task, items, 6, &(pp_stream_opts){.timeout = -1}, &it), PP_EINVAL);
    cr_assert_eq(pp_map_begin(pool, square_task, (pp_item[]){{NULL, 4}}, 1, NULL, &it), PP_EINVAL);
    cr_assert_eq(pp_map_next(NULL, &m), PP_EINVAL);
    pp_map_end(NULL);
    OK(pp_map_begin(pool, square_task, items, 0, NULL, &it));
    cr_assert_eq(pp_map_next(it, &m), 0, "no items: done at once");
    pp_map_end(it);
    pp_pool_destroy(pool);
}
