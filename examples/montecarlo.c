/* SPDX-License-Identifier: MIT */
/*
 * montecarlo: a CPU-bound batch job. Estimates pi from 400 independent
 * batches of random points, spread over every CPU with pp_map, chunks of 4,
 * and a live progress bar on stderr (drawn only when stderr is a terminal).
 *
 *   build/examples/montecarlo [batches] [points-per-batch]
 */
#define _POSIX_C_SOURCE 200809L
#include <procpool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

struct batch {
    uint64_t seed, points;
};

/* xorshift64*: fast, and each batch has its own stream */
static uint64_t next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717u;
}

static int count_hits(pp_task *t, const void *arg, size_t len)
{
    (void)len;
    const struct batch *b = arg;
    uint64_t s = b->seed * 0x9e3779b97f4a7c15u + 1, hits = 0;
    for (uint64_t i = 0; i < b->points; i++) {
        double x = (double)(next(&s) >> 11) / 9007199254740992.0;
        double y = (double)(next(&s) >> 11) / 9007199254740992.0;
        hits += x * x + y * y <= 1.0;
    }
    return pp_task_return(t, &hits, sizeof hits);
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 400;
    uint64_t points = argc > 2 ? strtoull(argv[2], NULL, 10) : 2000000;
    struct batch *batches = malloc(n * sizeof *batches);
    uint64_t *hits = malloc(n * sizeof *hits);
    int *status = malloc(n * sizeof *status);
    for (size_t i = 0; i < n; i++)
        batches[i] = (struct batch){.seed = i + 1, .points = points};

    pp_pool *pool;
    int rc = pp_pool_create(&pool, NULL); /* one worker per CPU */
    if (rc != PP_OK) {
        fprintf(stderr, "pp_pool_create: %s\n", pp_strerror(rc));
        return 1;
    }
    pp_map_opts opts = {.chunksize = 4, .status = status, .progress = true};
    rc = pp_map(pool, count_hits, batches, n, sizeof *batches, hits, sizeof *hits, &opts);
    uint64_t total = 0, used = 0;
    for (size_t i = 0; i < n; i++)
        if (status[i] == PP_OK) {
            total += hits[i];
            used++;
        }
    printf("pi ~ %.6f from %llu points on %d workers (%s)\n", 4.0 * (double)total / (double)(used * points),
           (unsigned long long)(used * points), pp_pool_max_workers(pool), pp_strerror(rc));
    pp_pool_destroy(pool);
    free(batches);
    free(hits);
    free(status);
    return rc == PP_OK ? 0 : 1;
}
