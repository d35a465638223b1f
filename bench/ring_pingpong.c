/* SPDX-License-Identifier: MIT */
/*
 * ring_pingpong: the physical limit, for comparison. Two processes and one
 * shared page, no library: a round trip is a store to one cache line and a
 * spin on another; a tiny task is a slot in a single-producer single-consumer
 * ring, with results in a second ring. Also memcpy bandwidth, the ceiling of
 * a payload echo (two copies per round trip). JSON lines, like procpool_bench.
 */
#define _GNU_SOURCE
#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RING 4096

struct shared {
    alignas(64) _Atomic uint64_t ping;
    alignas(64) _Atomic uint64_t pong;
    alignas(64) _Atomic uint64_t task_tail;
    alignas(64) _Atomic uint64_t task_head;
    alignas(64) _Atomic uint64_t res_tail;
    alignas(64) _Atomic uint64_t res_head;
    alignas(64) uint64_t tasks[RING];
    alignas(64) uint64_t results[RING];
    _Atomic int mode; /* 0 ping-pong, 1 ring, 2 quit */
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void emit(const char *bench, double v, const char *unit)
{
    printf("{\"impl\": \"raw_ring\", \"bench\": \"%s\", \"value\": %.6g, \"unit\": \"%s\", \"workers\": 1}\n",
           bench, v, unit);
}

static void peer(struct shared *sh, uint64_t pings, uint64_t tasks)
{
    for (uint64_t i = 1; i <= pings; i++) {
        while (atomic_load_explicit(&sh->ping, memory_order_acquire) != i)
            __builtin_ia32_pause();
        atomic_store_explicit(&sh->pong, i, memory_order_release);
    }
    for (uint64_t i = 0; i < tasks; i++) {
        while (atomic_load_explicit(&sh->task_tail, memory_order_acquire) == i)
            __builtin_ia32_pause();
        uint64_t n = sh->tasks[i % RING];
        atomic_store_explicit(&sh->task_head, i + 1, memory_order_release);
        while (i + 1 - atomic_load_explicit(&sh->res_head, memory_order_acquire) > RING)
            __builtin_ia32_pause();
        sh->results[i % RING] = n * n;
        atomic_store_explicit(&sh->res_tail, i + 1, memory_order_release);
    }
    _exit(0);
}

int main(void)
{
    const uint64_t pings = 1000000, tasks = 20000000;
    struct shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    pid_t pid = fork();
    if (pid == 0)
        peer(sh, pings, tasks);

    double *lat = malloc(pings * sizeof *lat);
    for (uint64_t i = 1; i <= pings; i++) {
        double t0 = now();
        atomic_store_explicit(&sh->ping, i, memory_order_release);
        while (atomic_load_explicit(&sh->pong, memory_order_acquire) != i)
            __builtin_ia32_pause();
        lat[i - 1] = (now() - t0) * 1e6;
    }
    qsort(lat, pings, sizeof *lat, cmp);
    emit("roundtrip_median", lat[pings / 2], "us");
    emit("roundtrip_p99", lat[pings * 99 / 100], "us");

    double t0 = now();
    uint64_t sent = 0, got = 0, sum = 0;
    while (got < tasks) {
        while (sent < tasks && sent - atomic_load_explicit(&sh->task_head, memory_order_acquire) < RING) {
            sh->tasks[sent % RING] = sent;
            atomic_store_explicit(&sh->task_tail, ++sent, memory_order_release);
        }
        uint64_t tail = atomic_load_explicit(&sh->res_tail, memory_order_acquire);
        for (; got < tail; got++)
            sum += sh->results[got % RING];
        atomic_store_explicit(&sh->res_head, got, memory_order_release);
    }
    emit("tiny_tasks", (double)tasks / (now() - t0), "tasks/s");
    waitpid(pid, NULL, 0);
    if (sum == 42)
        puts("");

    size_t sizes[] = {1024, 1u << 20, 64u << 20};
    const char *names[] = {"echo_1KiB_gbps", "echo_1MiB_gbps", "echo_64MiB_gbps"};
    for (int k = 0; k < 3; k++) {
        char *a = malloc(sizes[k]), *b = malloc(sizes[k]);
        memset(a, 1, sizes[k]);
        memset(b, 2, sizes[k]);
        int reps = (int)((256u << 20) / sizes[k]) + 4;
        double t[5];
        for (int r = 0; r < 5; r++) {
            double s0 = now();
            for (int i = 0; i < reps; i++) {
                memcpy(b, a, sizes[k]);
                memcpy(a, b, sizes[k]);
            }
            t[r] = (now() - s0) / reps;
        }
        qsort(t, 5, sizeof t[0], cmp);
        emit(names[k], 2.0 * (double)sizes[k] / t[2] / 1e9, "GB/s");
        free(a);
        free(b);
    }
    return 0;
}
