/* SPDX-License-Identifier: MIT */
/*
 * bench_runner: a benchmark runner. Each case (a sorting algorithm and a
 * size) runs REPS times, each run in its own pinned worker under a deadline
 * and a CPU limit. As runs complete (pp_as_completed, the case found through
 * pp_future_data), their figures come from pp_future_info: wall time, CPU,
 * peak memory, for crashed and killed runs too. Then a table per case
 * (median, min, max wall; median CPU; peak memory; outcomes) and the same as
 * JSON in bench_runner.json. One case is too slow for its limits and one has
 * a bug that crashes its process: both are reported, neither disturbs the
 * others.
 *
 *   bench_runner [reps]
 */
#define _POSIX_C_SOURCE 200809L
#include <procpool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct config {
    char algorithm[16];
    uint32_t size;
};

struct outcome {
    double ms;
    uint32_t checksum;
};

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int by_value(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static void insertion_sort(uint32_t *v, uint32_t n)
{
    for (uint32_t i = 1; i < n; i++) {
        uint32_t x = v[i], j = i;
        for (; j > 0 && v[j - 1] > x; j--)
            v[j] = v[j - 1];
        v[j] = x;
    }
}

static void buggy_sort(uint32_t *v, uint32_t n)
{
    uint32_t *scratch = NULL;
    if (n > 1000) /* the bug: a path nobody tested */
        scratch[n] = v[0];
    qsort(v, n, sizeof *v, by_value);
}

static int run_config(pp_task *t, const void *arg, size_t len)
{
    (void)len;
    const struct config *c = arg;
    uint32_t *v = malloc(c->size * sizeof *v), seed = 12345;
    for (uint32_t i = 0; i < c->size; i++)
        v[i] = seed = seed * 1664525u + 1013904223u;
    double t0 = now_ms();
    if (!strcmp(c->algorithm, "qsort"))
        qsort(v, c->size, sizeof *v, by_value);
    else if (!strcmp(c->algorithm, "insertion"))
        insertion_sort(v, c->size);
    else if (!strcmp(c->algorithm, "buggy"))
        buggy_sort(v, c->size);
    else
        return pp_task_fail(t, 2, "unknown algorithm %s", c->algorithm);
    struct outcome out = {now_ms() - t0, 0};
    for (uint32_t i = 0; i < c->size; i++)
        out.checksum = out.checksum * 31 + v[i];
    free(v);
    return pp_task_return(t, &out, sizeof out);
}

#define MAX_REPS 50

struct row {
    double wall[MAX_REPS], cpu[MAX_REPS];
    uint64_t peak;
    int runs, ok, timeouts, limits, crashes, failures;
};

static int by_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, by_double);
    return n ? (n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2) : 0;
}

int main(int argc, char **argv)
{
    const struct config configs[] = {
        {"qsort", 100000},      {"qsort", 1000000}, {"insertion", 10000}, {"insertion", 30000},
        {"insertion", 2000000}, {"buggy", 100000},  {"bogo", 10},
    };
    enum { N = sizeof configs / sizeof configs[0] };
    int reps = argc > 1 ? atoi(argv[1]) : 3;
    if (reps < 1 || reps > MAX_REPS)
        reps = 3;
    pp_pool *pool;
    if (pp_pool_create(&pool, &(pp_config){.max_workers = 2, .pin_workers = true}) != PP_OK)
        return 1;
    static struct row rows[N];
    pp_future **fs = calloc((size_t)N * (size_t)reps, sizeof *fs);
    int nf = 0;
    for (int r = 0; r < reps; r++)
        for (int i = 0; i < N; i++) {
            pp_task_opts opts = {.deadline = 3.0, .cpu_limit = 1.5, .data = &rows[i]};
            if (pp_submit_opts(pool, run_config, &configs[i], sizeof configs[i], &opts, &fs[nf]) == PP_OK)
                nf++;
        }
    pp_as_completed *it;
    pp_as_completed_begin(fs, (size_t)nf, -1, &it);
    pp_future *f;
    while (pp_as_completed_next(it, &f) == 1) {
        struct row *row = pp_future_data(f);
        pp_task_info info;
        pp_future_info(f, &info);
        int rc = pp_future_result(f, 0, NULL, NULL);
        row->wall[row->runs] = info.wall_s;
        row->cpu[row->runs] = info.user_cpu_s + info.sys_cpu_s;
        row->runs++;
        if (info.peak_rss_bytes > row->peak)
            row->peak = info.peak_rss_bytes;
        row->ok += rc == PP_OK;
        row->timeouts += rc == PP_EDEADLINE;
        row->limits += rc == PP_ELIMIT;
        row->crashes += rc == PP_ECRASHED;
        row->failures += rc == PP_ETASK;
    }
    pp_as_completed_end(it);

    FILE *json = fopen("bench_runner.json", "w");
    if (json)
        fprintf(json, "[\n");
    printf("%-10s %9s %5s %10s %10s %10s %10s %9s  %s\n", "algorithm", "size", "runs", "median s", "min s",
           "max s", "cpu s", "peak MiB", "outcomes");
    for (int i = 0; i < N; i++) {
        struct row *row = &rows[i];
        double lo = row->runs ? row->wall[0] : 0, hi = lo;
        for (int k = 0; k < row->runs; k++) {
            lo = row->wall[k] < lo ? row->wall[k] : lo;
            hi = row->wall[k] > hi ? row->wall[k] : hi;
        }
        double wall = median(row->wall, row->runs), cpu = median(row->cpu, row->runs);
        printf("%-10s %9u %5d %10.4f %10.4f %10.4f %10.4f %9.1f  %d ok, %d timeout, %d cpu-limit, %d crashed, "
               "%d failed\n",
               configs[i].algorithm, configs[i].size, row->runs, wall, lo, hi, cpu, (double)row->peak / 1048576.0,
               row->ok, row->timeouts, row->limits, row->crashes, row->failures);
        if (json)
            fprintf(json,
                    "  {\"algorithm\": \"%s\", \"size\": %u, \"runs\": %d, \"wall_median_s\": %.6f, "
                    "\"wall_min_s\": %.6f, \"wall_max_s\": %.6f, \"cpu_median_s\": %.6f, \"peak_rss_bytes\": %llu, "
                    "\"ok\": %d, \"timeout\": %d, \"cpu_limit\": %d, \"crashed\": %d, \"failed\": %d}%s\n",
                    configs[i].algorithm, configs[i].size, row->runs, wall, lo, hi, cpu,
                    (unsigned long long)row->peak, row->ok, row->timeouts, row->limits, row->crashes,
                    row->failures, i + 1 < N ? "," : "");
    }
    if (json) {
        fprintf(json, "]\n");
        fclose(json);
        printf("(also in bench_runner.json)\n");
    }
    free(fs);
    pp_pool_destroy(pool);
    return 0;
}
