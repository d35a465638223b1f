/* SPDX-License-Identifier: MIT */
/*
 * cluster: the seed's squares and a Monte Carlo estimate of pi on a cluster
 * pool. Every rank runs this program; rank 0 submits, the others serve.
 *
 *   make build/examples/cluster
 *   mpirun --bind-to none -n 4 build/examples/cluster
 *   srun --mpi=pmix -N 4 --ntasks-per-node=1 -c "$CORES_PER_NODE" build/examples/cluster
 */
#define _GNU_SOURCE
#include <procpool_mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int square(pp_task *t, const void *arg, size_t len)
{
    (void)len;
    int n;
    memcpy(&n, arg, sizeof n);
    char host[64] = "?";
    gethostname(host, sizeof host - 1);
    printf("square(%d) runs in pid %d on %s\n", n, (int)getpid(), host);
    fflush(stdout);
    long sq = (long)n * n;
    return pp_task_return(t, &sq, sizeof sq);
}

/* One batch of darts: how many of 1,000,000 land inside the unit circle. */
static int darts(pp_task *t, const void *arg, size_t len)
{
    (void)len;
    uint64_t x;
    memcpy(&x, arg, sizeof x);
    x = x * 0x9E3779B97F4A7C15ull + 1;
    long inside = 0;
    for (int i = 0; i < 1000000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        double a = (double)(x >> 11) / 9007199254740992.0;
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        double b = (double)(x >> 11) / 9007199254740992.0;
        inside += a * a + b * b <= 1.0;
    }
    return pp_task_return(t, &inside, sizeof inside);
}

int main(int argc, char **argv)
{
    pp_pool *pool;
    int rc = pp_mpi_init(&argc, &argv, NULL, &pool); /* other ranks serve, and never return */
    if (rc != PP_OK) {
        fprintf(stderr, "pp_mpi_init: %s\n", pp_strerror(rc));
        return 1;
    }
    printf("rank %d: a cluster pool of %d workers\n", pp_mpi_rank(), pp_pool_max_workers(pool));

    pp_future *fs[10];
    for (int i = 0; i < 10; i++)
        if (pp_submit(pool, square, &i, sizeof i, &fs[i]) != PP_OK)
            return 1;
    for (int i = 0; i < 10; i++) {
        const void *p;
        size_t n;
        if (pp_future_result(fs[i], -1, &p, &n) == PP_OK)
            printf("%d squared is %ld\n", i, *(const long *)p);
        pp_future_release(fs[i]);
    }

    enum { BATCHES = 64 };
    uint64_t seeds[BATCHES];
    long inside[BATCHES];
    for (int i = 0; i < BATCHES; i++)
        seeds[i] = (uint64_t)i + 1;
    rc = pp_map(pool, darts, seeds, BATCHES, sizeof seeds[0], inside, sizeof inside[0],
                &(pp_map_opts){.chunksize = 4});
    if (rc != PP_OK) {
        fprintf(stderr, "pp_map: %s\n", pp_strerror(rc));
        return 1;
    }
    long total = 0;
    for (int i = 0; i < BATCHES; i++)
        total += inside[i];
    printf("pi is about %.6f (%d million darts)\n", 4.0 * (double)total / (BATCHES * 1e6), BATCHES);
    pp_pool_destroy(pool); /* stops every agent, finalizes MPI */
    return 0;
}
