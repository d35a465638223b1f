/* SPDX-License-Identifier: MIT */
/*
 * procpool_bench: the procpool side of `make bench`. Each workload prints one
 * JSON object per line: {"impl": "procpool", "bench": ..., "value": ..., "unit": ...}.
 * Timings are medians of several runs. bench/report.py puts them beside the
 * Python and raw-ring figures.
 *
 *   procpool_bench [--workers N] [--quick] [--only LIST]   LIST: see --help
 *   procpool_bench --scaling MAX                1..MAX workers: 1 ms tasks, tiny tasks
 *   procpool_bench --help
 */
#define _GNU_SOURCE
#include <procpool.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../test/procinfo.h" /* children_of */

static int workers = 2;
static int quick;
static const char *only; /* run just this workload */

static int wanted(const char *name)
{
    return !only || strstr(only, name); /* a comma-separated list */
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[n / 2];
}

static const char *suffix = ""; /* "_loaded" while the machine is kept busy */

static void emit(const char *bench, double value, const char *unit)
{
    printf("{\"impl\": \"procpool\", \"bench\": \"%s%s\", \"value\": %.6g, \"unit\": \"%s\", \"workers\": "
           "%d}\n",
           bench, suffix, value, unit, workers);
    fflush(stdout);
}

static void check(int rc, const char *what)
{
    if (rc != PP_OK) {
        fprintf(stderr, "%s: %s\n", what, pp_strerror(rc));
        exit(1);
    }
}

static pp_pool *make_pool(int n)
{
    pp_pool *pool;
    check(pp_pool_create(&pool, &(pp_config){.max_workers = n}), "pp_pool_create");
    return pool;
}

static int square(pp_task *t, const void *arg, size_t len)
{
    (void)len;
    long n = *(const long *)arg, sq = n * n;
    return pp_task_return(t, &sq, sizeof sq);
}

static int square_int(pp_task *t, const void *arg, size_t len)
{
    (void)len;
    int n = *(const int *)arg;
    long sq = (long)n * n;
    return pp_task_return(t, &sq, sizeof sq);
}

static int echo(pp_task *t, const void *arg, size_t len)
{
    return pp_task_return(t, arg, len);
}

static volatile uint64_t sink;

static uint64_t spin_iterations(uint64_t iters)
{
    uint64_t x = iters;
    for (uint64_t i = 0; i < iters; i++)
        x = x * 6364136223846793005u + 1442695040888963407u;
    return x;
}

static int busy(pp_task *t, const void *arg, size_t len)
{
    (void)len;
    uint64_t x = spin_iterations(*(const uint64_t *)arg);
    return pp_task_return(t, &x, sizeof x);
}

/* 1. tiny tasks: submit all, then collect */
static void bench_tiny(void)
{
    long n = quick ? 100000 : 1000000;
    double rates[5];
    pp_future **fs = malloc((size_t)n * sizeof *fs);
    pp_pool *pool = make_pool(workers);
    for (int r = 0; r < 5; r++) {
        double t0 = now();
        for (long i = 0; i < n; i++)
            check(pp_submit(pool, square, &i, sizeof i, &fs[i]), "submit");
        for (long i = 0; i < n; i++) {
            const void *d;
            check(pp_future_result(fs[i], -1, &d, NULL), "result");
            pp_future_release(fs[i]);
        }
        rates[r] = (double)n / (now() - t0);
    }
    pp_pool_destroy(pool);
    free(fs);
    emit("tiny_tasks", median(rates, 5), "tasks/s");
}

/* 2. serial round trip: submit, wait, repeat */
static void bench_roundtrip(void)
{
    int n = quick ? 20000 : 100000;
    double *lat = malloc((size_t)n * sizeof *lat);
    pp_pool *pool = make_pool(workers);
    for (int i = -1000; i < n; i++) { /* the first thousand warm up */
        long v = i;
        pp_future *f;
        double t0 = now();
        check(pp_submit(pool, square, &v, sizeof v, &f), "submit");
        check(pp_future_result(f, -1, NULL, NULL), "result");
        pp_future_release(f);
        if (i >= 0)
            lat[i] = (now() - t0) * 1e6;
    }
    pp_pool_destroy(pool);
    qsort(lat, (size_t)n, sizeof *lat, cmp_double);
    emit("roundtrip_median", lat[n / 2], "us");
    emit("roundtrip_p99", lat[n * 99 / 100], "us");
    free(lat);
}

/* 3. pp_map over 10 M integers, chunksize 1000 */
static void bench_map(void)
{
    size_t n = quick ? 1000000 : 10000000;
    int *in = malloc(n * sizeof *in);
    long *out = malloc(n * sizeof *out);
    for (size_t i = 0; i < n; i++)
        in[i] = (int)i;
    pp_pool *pool = make_pool(workers);
    double rates[3];
    for (int r = 0; r < 3; r++) {
        double t0 = now();
        check(
            pp_map(pool, square_int, in, n, sizeof *in, out, sizeof *out, &(pp_map_opts){.chunksize = 1000}),
            "map");
        rates[r] = (double)n / (now() - t0);
        for (size_t i = 0; i < n; i += 9973)
            if (out[i] != (long)i * (long)i)
                check(PP_EINVAL, "map result");
    }
    pp_pool_destroy(pool);
    free(in);
    free(out);
    emit("map_10M_chunk1000", median(rates, 3), "items/s");
}

/* 3b. the streaming map over 1 M strings of 1-64 bytes (their lengths back),
   ordered and unordered, the same strings pulled one by one, and pp_map over
   the same strings padded to 64 */
static int length_of(pp_task *t, const void *arg, size_t len)
{
    const char *s = arg;
    long n = (long)strnlen(s, len);
    return pp_task_return(t, &n, sizeof n);
}

struct array_source {
    const pp_item *items;
    size_t next, n;
};

static int pull_from_array(void *ud, pp_item *item)
{
    struct array_source *src = ud;
    if (src->next == src->n)
        return 0;
    *item = src->items[src->next++];
    return 1;
}

/* One streaming map over items (or pulled from them): items/s, results checked. */
static double stream_rate(pp_pool *pool, const pp_item *items, size_t n, bool unordered, bool pulled)
{
    pp_map_iter *it;
    struct array_source src = {items, 0, n};
    pp_stream_opts o = {.chunksize = 1000, .unordered = unordered};
    double t0 = now();
    check(pulled ? pp_map_begin_pull(pool, length_of, pull_from_array, &src, &o, &it)
                 : pp_map_begin(pool, length_of, items, n, &o, &it),
          "map_begin");
    pp_map_item m;
    size_t got = 0;
    int rc;
    while ((rc = pp_map_next(it, &m)) == 1) {
        if (m.status != PP_OK || *(const long *)m.result != (long)items[m.index].len)
            check(PP_EINVAL, "stream result");
        got++;
    }
    pp_map_end(it);
    check(rc, "map_next");
    if (got != n)
        check(PP_EINVAL, "stream count");
    return (double)n / (now() - t0);
}

static void bench_stream(void)
{
    size_t n = quick ? 200000 : 1000000;
    char(*padded)[64] = calloc(n, sizeof *padded);
    pp_item *items = malloc(n * sizeof *items);
    long *out = malloc(n * sizeof *out);
    for (size_t i = 0; i < n; i++) {
        size_t len = 1 + i % 64;
        memset(padded[i], 'a' + (int)(i % 26), len < 64 ? len : 63);
        items[i] = (pp_item){padded[i], len < 64 ? len : 63};
    }
    pp_pool *pool = make_pool(workers);
    static const char *const keys[] = {"stream_ordered_1M_var", "stream_unordered_1M_var",
                                       "stream_pulled_1M_var"};
    double rates[3][3];
    for (int r = 0; r < 3; r++)              /* interleaved, so a noisy moment touches every kind */
        for (int kind = 0; kind < 3; kind++) /* array ordered, array unordered, pulled ordered */
            rates[kind][r] = stream_rate(pool, items, n, kind == 1, kind == 2);
    for (int kind = 0; kind < 3; kind++)
        emit(keys[kind], median(rates[kind], 3), "items/s");
    double map_rates[3];
    for (int r = 0; r < 3; r++) {
        double t0 = now();
        check(pp_map(pool, length_of, padded, n, sizeof *padded, out, sizeof *out,
                     &(pp_map_opts){.chunksize = 1000}),
              "map");
        map_rates[r] = (double)n / (now() - t0);
    }
    emit("map_1M_padded64", median(map_rates, 3), "items/s");
    pp_pool_destroy(pool);
    free(padded);
    free(items);
    free(out);
}

/* 3c. a pulled stream of 10^7 items (decimal strings made on the fly, one
   buffer reused): the master's peak resident memory during it, and how far
   above its resident memory before (the kernel's peak mark is reset first,
   through /proc/self/clear_refs); it must not grow with the item count. */
struct counter_source {
    uint64_t next, n;
    char buf[24];
};

static int pull_counter(void *ud, pp_item *item)
{
    struct counter_source *src = ud;
    if (src->next == src->n)
        return 0;
    int len = snprintf(src->buf, sizeof src->buf, "%llu", (unsigned long long)src->next++);
    *item = (pp_item){src->buf, (size_t)len};
    return 1;
}

static int nothing(pp_task *t, const void *arg, size_t len)
{
    (void)t;
    (void)arg;
    (void)len;
    return 0;
}

/* A "Field:   N kB" line of a /proc file (status, smaps_rollup), in KiB;
   -1 if absent. */
static long long proc_kib(const char *path, const char *field)
{
    char line[256];
    long long kib = -1;
    FILE *fp = fopen(path, "r");
    if (!fp)
        return -1;
    while (fgets(line, sizeof line, fp))
        if (!strncmp(line, field, strlen(field)) && sscanf(line + strlen(field), "%lld", &kib) == 1)
            break;
    fclose(fp);
    return kib;
}

static void bench_pull(void)
{
    struct counter_source src = {.n = 10000000};
    pp_pool *pool = make_pool(workers);
    FILE *fp = fopen("/proc/self/clear_refs", "w");
    if (!fp || fputs("5", fp) == EOF ||
        fclose(fp) != 0) { /* without it, the peak is the process's lifetime one */
        fprintf(stderr,
                "procpool_bench: /proc/self/clear_refs: the peak cannot be reset, no pulled-stream row\n");
        pp_pool_destroy(pool);
        return;
    }
    long long before = proc_kib("/proc/self/status", "VmRSS:");
    pp_map_iter *it;
    double t0 = now();
    check(pp_map_begin_pull(pool, nothing, pull_counter, &src, &(pp_stream_opts){.chunksize = 1000}, &it),
          "map_begin_pull");
    pp_map_item m;
    uint64_t got = 0;
    int rc;
    while ((rc = pp_map_next(it, &m)) == 1)
        got += m.status == PP_OK;
    pp_map_end(it);
    double secs = now() - t0;
    long long peak = proc_kib("/proc/self/status", "VmHWM:");
    check(rc, "map_next");
    if (got != src.n)
        check(PP_EINVAL, "pulled count");
    pp_pool_destroy(pool);
    emit("pull_10M_items", (double)src.n / secs, "items/s");
    emit("pull_10M_peak_rss", (double)peak / 1024.0, "MiB");
    emit("pull_10M_rss_growth", (double)(peak - before) / 1024.0, "MiB");
}

/* 3d. resident memory per payload: one echo of size bytes whose argument
   and result are both alive, as the sum of Pss over the master and every
   process below it (the fork server and the workers; smaps_rollup) minus
   the same sum before the submit, over argument plus result. A fresh pool
   for each figure, so no warm page of an earlier payload counts. Copied:
   the caller's own buffer is filled before the first sum (it is the
   caller's memory, not the library's); zero-copy: the pp_buffer_alloc
   buffer is the argument, allocated after it. What a worker allocates for
   its first large payload counts too (it is paid with the payload), and the
   workers' heap is the master's as it was at pp_pool_create, so the figure
   for a small payload depends on what the program did before. The median
   of three. */
/* Pss of pid and of every live process below it, in KiB. */
static long long tree_pss_kib(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/smaps_rollup", (int)pid);
    long long sum = proc_kib(path, "Pss:");
    pid_t kids[PP_MAX_WORKERS + 8];
    int n = children_of(pid, kids, (int)(sizeof kids / sizeof kids[0]));
    for (int i = 0; i < n; i++)
        sum += tree_pss_kib(kids[i]);
    return sum > 0 ? sum : 0;
}

static double resident_ratio(size_t size, bool zero_copy)
{
    pp_pool *pool = make_pool(workers);
    unsigned char *mine = zero_copy ? NULL : malloc(size);
    if (!zero_copy && !mine)
        check(PP_ENOMEM, "malloc");
    if (mine)
        memset(mine, 0x5a, size);
    long long before = tree_pss_kib(getpid());
    unsigned char *arg = zero_copy ? pp_buffer_alloc(pool, size) : mine;
    if (!arg)
        check(PP_ENOMEM, "buffer");
    if (zero_copy)
        memset(arg, 0x5a, size);
    pp_future *f;
    check(zero_copy ? pp_submit_buffer(pool, echo, arg, size, NULL, &f)
                    : pp_submit(pool, echo, arg, size, &f),
          "submit");
    const void *data;
    size_t len;
    check(pp_future_result(f, -1, &data, &len), "result");
    if (len != size || ((const unsigned char *)data)[size - 1] != 0x5a)
        check(PP_EINVAL, "echo");
    long long after = tree_pss_kib(getpid());
    pp_future_release(f);
    pp_pool_destroy(pool);
    free(mine);
    return (double)(after - before) * 1024.0 / (2.0 * (double)size);
}

static void bench_resident(void)
{
    static const int mib[] = {1, 16, 64, 256};
    for (size_t k = 0; k < sizeof mib / sizeof mib[0]; k++)
        for (int zero_copy = 0; zero_copy < 2; zero_copy++) {
            double ratios[3];
            for (int r = 0; r < 3; r++)
                ratios[r] = resident_ratio((size_t)mib[k] << 20, zero_copy);
            char key[64];
            snprintf(key, sizeof key, "resident_%dMiB_%s", mib[k], zero_copy ? "buffer" : "copied");
            emit(key, median(ratios, 3), "x payload");
        }
}

/* 4a. many large payloads in flight: n echoes of size bytes submitted, then
   all collected; the producer writes each payload (into its own buffer and
   pp_submit copies it, or straight into a pp_buffer_alloc buffer). A batch
   job runs batch after batch: the figure is the median of batches 2-4 of a
   fresh pool, and its first batch (pages new to the kernel and to the
   workers) is reported apart. Also the memcpy ceiling: two copies per round
   trip at this machine's copy speed. */
static void bench_batch(size_t size, int n, const char *name)
{
    pp_pool *pool = make_pool(workers);
    unsigned char *mine = malloc(size);
    pp_future **fs = malloc((size_t)n * sizeof *fs);
    for (int zero_copy = 0; zero_copy < 2; zero_copy++) {
        double rates[4]; /* the pool's first batch, then three to take the median of */
        for (int r = 0; r < 4; r++) {
            double t0 = now();
            for (int i = 0; i < n; i++) {
                unsigned char *dst = zero_copy ? pp_buffer_alloc(pool, size) : mine;
                if (!dst)
                    check(PP_ENOMEM, "buffer");
                memset(dst, i, size);
                check(zero_copy ? pp_submit_buffer(pool, echo, dst, size, NULL, &fs[i])
                                : pp_submit(pool, echo, dst, size, &fs[i]),
                      "submit");
            }
            for (int i = 0; i < n; i++) {
                const void *data;
                size_t len;
                check(pp_future_result(fs[i], -1, &data, &len), "result");
                if (len != size || ((const unsigned char *)data)[size - 1] != (unsigned char)i)
                    check(PP_EINVAL, "batch result");
                pp_future_release(fs[i]);
            }
            rates[r] = n / (now() - t0);
        }
        char key[64];
        snprintf(key, sizeof key, "batch_%s%s", name, zero_copy ? "_buffer" : "");
        emit(key, median(rates + 1, 3), "roundtrips/s");
        if (!zero_copy) { /* the first batch of a fresh pool: every page is new to the kernel and the workers */
            snprintf(key, sizeof key, "batch_%s_first", name);
            emit(key, rates[0], "roundtrips/s");
        }
    }
    /* the ceiling: memcpy of the same sizes, two per round trip */
    unsigned char *a = malloc(size), *b = malloc(size);
    memset(a, 1, size);
    memset(b, 2, size);
    double t0 = now();
    int copies = 0;
    while (now() - t0 < 0.5) {
        memcpy(copies % 2 ? a : b, copies % 2 ? b : a, size);
        copies++;
    }
    double per_copy = (now() - t0) / copies;
    char key[64];
    snprintf(key, sizeof key, "batch_%s", name);
    printf("{\"impl\": \"memcpy\", \"bench\": \"%s\", \"value\": %g, \"unit\": \"roundtrips/s\", \"workers\": %d}\n",
           key, 1 / (2 * per_copy), workers);
    fflush(stdout);
    free(a);
    free(b);
    free(mine);
    free(fs);
    pp_pool_destroy(pool);
}

/* 4. payload echo */
static void bench_echo(size_t size, const char *name)
{
    int reps = size >= (64u << 20)  ? (quick ? 4 : 10)
               : size >= (1u << 20) ? (quick ? 50 : 200)
                                    : (quick ? 5000 : 50000);
    unsigned char *buf = malloc(size);
    memset(buf, 0x5a, size);
    pp_pool *pool = make_pool(workers);
    double t[5];
    for (int r = 0; r < 5; r++) {
        double t0 = now();
        for (int i = 0; i < reps; i++) {
            pp_future *f;
            const void *d;
            size_t len;
            check(pp_submit(pool, echo, buf, size, &f), "submit");
            check(pp_future_result(f, -1, &d, &len), "result");
            if (len != size || ((const unsigned char *)d)[size - 1] != 0x5a)
                check(PP_EINVAL, "echo");
            pp_future_release(f);
        }
        t[r] = (now() - t0) / reps;
    }
    pp_pool_destroy(pool);
    free(buf);
    double per = median(t, 5);
    char key[64];
    snprintf(key, sizeof key, "echo_%s", name);
    emit(key, 1 / per, "roundtrips/s");
    snprintf(key, sizeof key, "echo_%s_gbps", name);
    emit(key, 2.0 * (double)size / per / 1e9, "GB/s");
}

static uint64_t iterations_per_ms(void)
{
    uint64_t iters = 100000;
    for (;;) {
        double t0 = now();
        sink = spin_iterations(iters);
        double ms = (now() - t0) * 1e3;
        if (ms > 50)
            return (uint64_t)((double)iters / ms);
        iters *= 2;
    }
}

/* 5. CPU-bound tasks of `ms` milliseconds: speedup and efficiency for 1..max workers */
static void bench_cpu(double ms, int max, int tasks_per_worker)
{
    uint64_t iters = (uint64_t)((double)iterations_per_ms() * ms);
    int serial_tasks = tasks_per_worker * 2;
    double t0 = now();
    for (int i = 0; i < serial_tasks; i++)
        sink = spin_iterations(iters);
    double per_task = (now() - t0) / serial_tasks;
    for (int w = 1; w <= max; w++) {
        int n = tasks_per_worker * w;
        pp_future **fs = malloc((size_t)n * sizeof *fs);
        pp_pool *pool = make_pool(w);
        double times[3];
        for (int r = 0; r < 3; r++) {
            t0 = now();
            for (int i = 0; i < n; i++)
                check(pp_submit(pool, busy, &iters, sizeof iters, &fs[i]), "submit");
            for (int i = 0; i < n; i++) {
                check(pp_future_result(fs[i], -1, NULL, NULL), "result");
                pp_future_release(fs[i]);
            }
            times[r] = now() - t0;
        }
        pp_pool_destroy(pool);
        free(fs);
        double speedup = per_task * n / median(times, 3);
        char key[64];
        int saved = workers;
        workers = w;
        snprintf(key, sizeof key, "cpu_%gms_speedup", ms);
        emit(key, speedup, "x");
        snprintf(key, sizeof key, "cpu_%gms_efficiency", ms);
        emit(key, speedup / w, "ratio");
        workers = saved;
    }
}

/* 5b. a loaded machine: one busy-looping process per CPU for the duration;
   CPU-bound 5 ms tasks on the pool against the same work split statically
   over plain forked processes under the same load, then tiny tasks and the
   serial round trip. */
static double static_split(uint64_t iters, int n, int w)
{
    pid_t *kids = calloc((size_t)w, sizeof *kids);
    double t0 = now();
    for (int k = 0; k < w; k++)
        if ((kids[k] = fork()) == 0) {
            for (int i = k; i < n; i += w)
                sink = spin_iterations(iters);
            _exit(0);
        }
    for (int k = 0; k < w; k++)
        waitpid(kids[k], NULL, 0); /* not the load's processes: those never end */
    double t = now() - t0;
    free(kids);
    return t;
}

static void bench_loaded(void)
{
    uint64_t iters = (uint64_t)((double)iterations_per_ms() * 5.0);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    pid_t *load = calloc((size_t)ncpu, sizeof *load);
    for (long k = 0; k < ncpu; k++)
        if ((load[k] = fork()) == 0)
            for (;;)
                sink++;
    int n = (quick ? 20 : 50) * workers;
    pp_pool *pool = make_pool(workers);
    pp_future **fs = malloc((size_t)n * sizeof *fs);
    double pool_t[3], split_t[3];
    for (int r = 0; r < 3; r++) {
        double t0 = now();
        for (int i = 0; i < n; i++)
            check(pp_submit(pool, busy, &iters, sizeof iters, &fs[i]), "submit");
        for (int i = 0; i < n; i++) {
            check(pp_future_result(fs[i], -1, NULL, NULL), "result");
            pp_future_release(fs[i]);
        }
        pool_t[r] = now() - t0;
        split_t[r] = static_split(iters, n, workers);
    }
    pp_pool_destroy(pool);
    free(fs);
    suffix = "_loaded";
    emit("cpu_5ms_vs_static_split", median(split_t, 3) / median(pool_t, 3), "ratio");
    bench_tiny();
    bench_roundtrip();
    suffix = "";
    for (long k = 0; k < ncpu; k++)
        kill(load[k], SIGKILL);
    for (long k = 0; k < ncpu; k++)
        waitpid(load[k], NULL, 0);
    free(load);
}

static double process_cpu_seconds(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *fp = fopen(path, "r");
    if (!fp)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    buf[n] = 0;
    const char *p = strrchr(buf, ')');
    unsigned long utime = 0, stime = 0;
    /* fields after the command: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime
     * stime */
    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime);
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

static int pid_of_worker(pp_task *t, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    long pid = getpid();
    return pp_task_return(t, &pid, sizeof pid);
}

/* 6. idle pool: CPU used by master, spawner and workers over 2 s with no work */
static void bench_idle(void)
{
    pp_pool *pool = make_pool(workers);
    pid_t pids[64];
    int np = 0;
    pids[np++] = getpid();
    for (int i = 0; i < 50 && np < 1 + workers; i++) { /* learn the workers' pids */
        pp_future *f;
        const void *d;
        check(pp_submit(pool, pid_of_worker, NULL, 0, &f), "submit");
        check(pp_future_result(f, -1, &d, NULL), "result");
        pid_t pid = (pid_t) * (const long *)d;
        int known = 0;
        for (int k = 0; k < np; k++)
            known |= pids[k] == pid;
        if (!known)
            pids[np++] = pid;
        pp_future_release(f);
    }
    pids[np++] = getppid() == 1 ? 0 : 0; /* placeholder, replaced by the spawner below */
    np--;
    char path[64];
    pid_t spawner = 0;
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pids[1]);
    FILE *fp = fopen(path, "r");
    if (fp) {
        char buf[512];
        size_t n = fread(buf, 1, sizeof buf - 1, fp);
        buf[n] = 0;
        fclose(fp);
        sscanf(strrchr(buf, ')') + 2, "%*c %d", &spawner);
        pids[np++] = spawner;
    }
    struct timespec settle = {0, 200000000};
    nanosleep(&settle, NULL); /* past every spin budget */
    double before = 0, after = 0;
    for (int k = 0; k < np; k++)
        before += process_cpu_seconds(pids[k]);
    double t0 = now();
    struct timespec idle = {2, 0};
    nanosleep(&idle, NULL);
    double wall = now() - t0;
    for (int k = 0; k < np; k++)
        after += process_cpu_seconds(pids[k]);
    pp_pool_destroy(pool);
    emit("idle_cpu_percent", 100.0 * (after - before) / wall, "%");
}

static long rss_bytes(void)
{
    long pages = 0, rss = 0;
    FILE *fp = fopen("/proc/self/statm", "r");
    if (fp) {
        if (fscanf(fp, "%ld %ld", &pages, &rss) != 2)
            rss = 0;
        fclose(fp);
    }
    return rss * sysconf(_SC_PAGESIZE);
}

/* 7. master memory per outstanding future (1 M unreleased, all done) */
static void bench_memory(void)
{
    long n = 1000000;
    pp_future **fs = malloc((size_t)n * sizeof *fs);
    memset(fs, 0, (size_t)n * sizeof *fs); /* touch the array before measuring */
    pp_pool *pool = make_pool(workers);
    long before = rss_bytes();
    for (long i = 0; i < n; i++)
        check(pp_submit(pool, square, &i, sizeof i, &fs[i]), "submit");
    for (long i = 0; i < n; i++)
        check(pp_future_result(fs[i], -1, NULL, NULL), "result");
    long after = rss_bytes();
    emit("bytes_per_future", (double)(after - before) / (double)n, "bytes");
    pp_pool_destroy(pool);
    free(fs);
}

static void scaling(int max)
{
    for (int w = 1; w <= max; w++) {
        workers = w;
        bench_tiny();
    }
    bench_cpu(1.0, max, 200);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--workers") && i + 1 < argc)
            workers = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--quick"))
            quick = 1;
        else if (!strcmp(argv[i], "--only") && i + 1 < argc)
            only = argv[++i];
        else if (!strcmp(argv[i], "--scaling") && i + 1 < argc) {
            scaling(atoi(argv[++i]));
            return 0;
        } else {
            printf("usage: procpool_bench [--workers N] [--quick] [--only LIST] | --scaling MAX | --help\n"
                   "  LIST: comma-separated from pull,tiny,roundtrip,map,stream,resident,batch,echo,cpu,idle,\n"
                   "        memory,loaded\n"
                   "  prints one JSON object per figure; bench/run.sh puts them beside Python's\n");
            return strcmp(argv[i], "--help") ? 2 : 0;
        }
    }
    if (wanted("pull")) /* first, while the master's heap is small */
        bench_pull();
    if (wanted("tiny"))
        bench_tiny();
    if (wanted("roundtrip"))
        bench_roundtrip();
    if (wanted("map"))
        bench_map();
    if (wanted("stream"))
        bench_stream();
    if (wanted("resident"))
        bench_resident();
    if (wanted("batch")) {
        bench_batch(1 << 20, quick ? 100 : 400, "1MiB_x400");
        bench_batch(16 << 20, quick ? 10 : 40, "16MiB_x40");
    }
    if (wanted("echo")) {
        bench_echo(1024, "1KiB");
        bench_echo(1u << 20, "1MiB");
        bench_echo(64u << 20, "64MiB");
    }
    if (wanted("cpu"))
        bench_cpu(5.0, workers, quick ? 40 : 100);
    if (wanted("idle"))
        bench_idle();
    if (wanted("memory"))
        bench_memory();
    if (wanted("loaded"))
        bench_loaded();
    return 0;
}
