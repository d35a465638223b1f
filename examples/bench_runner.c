/* SPDX-License-Identifier: MIT */
/*
 * bench_runner: runs several configurations of a program, each in its own
 * worker process with a per-task deadline, and prints a row for each as it
 * completes (pp_as_completed). One configuration is too slow for its deadline
 * and one has a bug that crashes its process: both are reported in the table
 * and neither disturbs the others.
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

int main(void)
{
    const struct config configs[] = {
        {"qsort", 100000},      {"qsort", 1000000}, {"insertion", 10000}, {"insertion", 30000},
        {"insertion", 2000000}, {"buggy", 100000},  {"bogo", 10},
    };
    enum { N = sizeof configs / sizeof configs[0] };
    pp_pool *pool;
    if (pp_pool_create(&pool, &(pp_config){.max_workers = 2}) != PP_OK)
        return 1;
    pp_task_opts opts = {.deadline = 2.0};
    pp_future *fs[N];
    for (int i = 0; i < N; i++)
        if (pp_submit_opts(pool, run_config, &configs[i], sizeof configs[i], &opts, &fs[i]) != PP_OK)
            return 1;

    printf("%-10s %9s  %-10s %s\n", "algorithm", "size", "outcome", "detail");
    pp_as_completed *it;
    pp_as_completed_begin(fs, N, 60, &it);
    pp_future *f;
    while (pp_as_completed_next(it, &f) == 1) {
        int i = 0;
        while (fs[i] != f)
            i++;
        const void *data;
        int code;
        const char *msg;
        int rc = pp_future_result(f, 0, &data, NULL);
        if (rc == PP_OK) {
            const struct outcome *o = data;
            printf("%-10s %9u  %-10s %.1f ms (checksum %08x)\n", configs[i].algorithm, configs[i].size, "ok",
                   o->ms, o->checksum);
        } else {
            pp_future_exception(f, 0, &code, &msg);
            printf("%-10s %9u  %-10s %s\n", configs[i].algorithm, configs[i].size,
                   rc == PP_EDEADLINE  ? "timeout"
                   : rc == PP_ECRASHED ? "crashed"
                                       : "failed",
                   msg ? msg : "");
        }
    }
    pp_as_completed_end(it);
    pp_stats st;
    pp_pool_stats(pool, &st);
    printf("%llu runs: %llu ok, %llu failed, %llu crashed, %llu past the deadline; %llu workers started\n",
           (unsigned long long)st.submitted, (unsigned long long)st.completed, (unsigned long long)st.failed,
           (unsigned long long)st.crashed, (unsigned long long)st.deadline_kills,
           (unsigned long long)st.workers_started);
    pp_pool_destroy(pool);
    return 0;
}
