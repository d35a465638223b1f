/* SPDX-License-Identifier: MIT */
/*
 * bench_runner: a benchmark runner. Each case (a sorting algorithm and a
 * size) runs REPS times, each run in a pinned worker under a deadline and a
 * CPU limit. A run builds its input first (allocating and filling the
 * array: setup), then calls pp_task_reset_info, so the wall time, CPU and
 * peak memory pp_future_info reports are the sort's alone (hyperfine's
 * --prepare). As runs complete (pp_as_completed, the case found through
 * pp_future_data), their figures are collected, crashed and killed runs
 * included.
 *
 * Then, per case, hyperfine's summary with robust statistics: the median
 * wall time ± the median absolute deviation (MAD), the range, the median
 * CPU, the peak memory and the outcomes. A run is an outlier when its
 * modified z-score, 0.6745 × |time − median| / MAD, passes 3.5 (Iglewicz and
 * Hoaglin's rule; hyperfine flags outliers by a MAD-based score too, with a
 * looser bound); outliers are listed with their time, and a warning
 * follows, as hyperfine's does. The
 * same figures go to bench_runner.json. One case is too slow for its
 * limits, one has a bug that crashes its process and one names no known
 * algorithm: all three are reported, none disturbs the others.
 *
 *   bench_runner [reps]      (default 10, at most 50)
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <procpool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct config {
    char algorithm[16];
    uint32_t size;
};

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

/* One run, in a worker: setup (not measured), then the sort (measured). */
static int run_config(pp_task *t, const void *arg, size_t len)
{
    struct config c;
    if (len != sizeof c)
        return pp_task_fail(t, 2, "bad case");
    memcpy(&c, arg, sizeof c);
    uint32_t *v = malloc((size_t)c.size * sizeof *v), seed = 12345;
    if (!v)
        return pp_task_fail(t, 3, "no memory for %u items", c.size);
    for (uint32_t i = 0; i < c.size; i++)
        v[i] = seed = seed * 1664525u + 1013904223u;
    pp_task_reset_info(t); /* what follows is what pp_future_info reports */
    if (!strcmp(c.algorithm, "qsort"))
        qsort(v, c.size, sizeof *v, by_value);
    else if (!strcmp(c.algorithm, "insertion"))
        insertion_sort(v, c.size);
    else if (!strcmp(c.algorithm, "buggy"))
        buggy_sort(v, c.size);
    else {
        free(v);
        return pp_task_fail(t, 2, "unknown algorithm %s", c.algorithm);
    }
    uint32_t checksum = 0;
    for (uint32_t i = 0; i < c.size; i++)
        checksum = checksum * 31 + v[i];
    free(v);
    return pp_task_return(t, &checksum, sizeof checksum);
}

#define MAX_REPS 50

struct row {
    double wall[MAX_REPS], cpu[MAX_REPS]; /* successful runs */
    uint64_t peak;
    int ok, timeouts, limits, crashes, failures, lost;
};

static int by_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median_of(const double *v, int n)
{
    double s[MAX_REPS];
    memcpy(s, v, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, by_double);
    return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/* Median absolute deviation. */
static double mad_of(const double *v, int n, double median)
{
    double d[MAX_REPS];
    for (int k = 0; k < n; k++)
        d[k] = fabs(v[k] - median);
    return median_of(d, n);
}

static bool outlier(double x, double median, double mad)
{
    return mad > 0 && 0.6745 * fabs(x - median) / mad > 3.5;
}

/* Collects every run's outcome and figures into its case's row. */
static int collect(pp_future **fs, int nf)
{
    pp_as_completed *it;
    int rc = pp_as_completed_begin(fs, (size_t)nf, -1, &it);
    if (rc != PP_OK)
        return rc;
    pp_future *f;
    while ((rc = pp_as_completed_next(it, &f)) == 1) {
        struct row *row = pp_future_data(f);
        pp_task_info info;
        int outcome = pp_future_result(f, 0, NULL, NULL);
        if (pp_future_info(f, &info) != PP_OK) {
            row->lost++;
            continue;
        }
        if (info.peak_rss_bytes > row->peak)
            row->peak = info.peak_rss_bytes;
        if (outcome == PP_OK) {
            row->wall[row->ok] = info.wall_s;
            row->cpu[row->ok] = info.user_cpu_s + info.sys_cpu_s;
            row->ok++;
        }
        row->timeouts += outcome == PP_EDEADLINE;
        row->limits += outcome == PP_ELIMIT;
        row->crashes += outcome == PP_ECRASHED;
        row->failures += outcome == PP_ETASK;
    }
    pp_as_completed_end(it);
    return rc < 0 ? rc : PP_OK;
}

static void report(FILE *json, const struct config *c, const struct row *row, bool last)
{
    int n = row->ok;
    double med = n ? median_of(row->wall, n) : 0, mad = n ? mad_of(row->wall, n, med) : 0;
    double lo = n ? row->wall[0] : 0, hi = lo, cpu = n ? median_of(row->cpu, n) : 0;
    int outliers = 0;
    for (int k = 0; k < n; k++) {
        lo = row->wall[k] < lo ? row->wall[k] : lo;
        hi = row->wall[k] > hi ? row->wall[k] : hi;
        outliers += outlier(row->wall[k], med, mad);
    }
    printf("%s, %u items\n", c->algorithm, c->size);
    if (n) {
        printf("  Time (median ± MAD):  %9.3f ms ± %7.3f ms    CPU (median): %9.3f ms    peak: %.1f MiB\n", med * 1e3,
               mad * 1e3, cpu * 1e3, (double)row->peak / 1048576.0);
        printf("  Range (min … max):    %9.3f ms … %9.3f ms    %d runs\n", lo * 1e3, hi * 1e3, n);
    }
    if (outliers) {
        printf("  Outliers:");
        for (int k = 0; k < n; k++)
            if (outlier(row->wall[k], med, mad))
                printf(" %.3f ms", row->wall[k] * 1e3);
        printf("\n  Warning: %d statistical outlier%s (modified z-score above 3.5): another process may have "
               "disturbed the runs.\n",
               outliers, outliers > 1 ? "s" : "");
    }
    const struct {
        int count;
        const char *what;
    } lost[] = {{row->timeouts, "past the deadline"}, {row->limits, "past the CPU limit"},
                {row->crashes, "crashed"},           {row->failures, "failed"},
                {row->lost, "without figures"}};
    const char *sep = "  Not measured:";
    for (size_t k = 0; k < sizeof lost / sizeof lost[0]; k++)
        if (lost[k].count) {
            printf("%s %d %s", sep, lost[k].count, lost[k].what);
            sep = ",";
        }
    if (*sep == ',')
        printf("\n");
    printf("\n");
    if (json)
        fprintf(json,
                "  {\"algorithm\": \"%s\", \"size\": %u, \"runs\": %d, \"wall_median_s\": %.6f, \"wall_mad_s\": %.6f, "
                "\"wall_min_s\": %.6f, \"wall_max_s\": %.6f, \"outliers\": %d, \"cpu_median_s\": %.6f, "
                "\"peak_rss_bytes\": %llu, \"timeout\": %d, \"cpu_limit\": %d, \"crashed\": %d, \"failed\": %d}%s\n",
                c->algorithm, c->size, n, med, mad, lo, hi, outliers, cpu, (unsigned long long)row->peak,
                row->timeouts, row->limits, row->crashes, row->failures, last ? "" : ",");
}

int main(int argc, char **argv)
{
    static const struct config configs[] = {
        {"qsort", 100000},      {"qsort", 1000000}, {"insertion", 10000}, {"insertion", 30000},
        {"insertion", 2000000}, {"buggy", 100000},  {"bogo", 10},
    };
    enum { N = sizeof configs / sizeof configs[0] };
    int reps = argc > 1 ? atoi(argv[1]) : 10;
    if (reps < 1 || reps > MAX_REPS) {
        fprintf(stderr, "usage: bench_runner [reps]   (1 to %d)\n", MAX_REPS);
        return 2;
    }
    pp_pool *pool;
    int rc = pp_pool_create(&pool, &(pp_config){.max_workers = 2, .pin_workers = true});
    if (rc != PP_OK) {
        fprintf(stderr, "bench_runner: pp_pool_create: %s\n", pp_strerror(rc));
        return 1;
    }
    static struct row rows[N];
    pp_future **fs = calloc((size_t)N * (size_t)reps, sizeof *fs);
    if (!fs) {
        pp_pool_destroy(pool);
        return 1;
    }
    int nf = 0;
    for (int r = 0; r < reps; r++)
        for (int i = 0; i < N; i++) { /* interleaved, so a noisy moment touches every case */
            pp_task_opts opts = {.deadline = 2.0, .cpu_limit = 1.0, .data = &rows[i]};
            rc = pp_submit_opts(pool, run_config, &configs[i], sizeof configs[i], &opts, &fs[nf]);
            if (rc != PP_OK) {
                fprintf(stderr, "bench_runner: pp_submit_opts: %s\n", pp_strerror(rc));
                break;
            }
            nf++;
        }
    if (rc == PP_OK)
        rc = collect(fs, nf);
    if (rc != PP_OK)
        fprintf(stderr, "bench_runner: %s\n", pp_strerror(rc));
    printf("%d cases × %d runs on 2 pinned workers; setup excluded (pp_task_reset_info)\n\n", N, reps);
    FILE *json = fopen("bench_runner.json", "w");
    if (json)
        fprintf(json, "[\n");
    for (int i = 0; i < N; i++)
        report(json, &configs[i], &rows[i], i + 1 == N);
    if (json) {
        fprintf(json, "]\n");
        if (fclose(json) != 0)
            fprintf(stderr, "bench_runner: bench_runner.json could not be written\n");
        else
            printf("(also in bench_runner.json)\n");
    } else {
        fprintf(stderr, "bench_runner: bench_runner.json cannot be opened\n");
    }
    free(fs);
    pp_pool_destroy(pool);
    return rc == PP_OK ? 0 : 1;
}
