/* SPDX-License-Identifier: MIT */
/*
 * mpi_bench: the cluster pool's figures, one JSON line each (make bench-mpi
 * runs it beside bench/mpi/mpi4py_bench.py and prints the table). Run under
 * mpirun; rank 0 measures, the other ranks are its agents.
 *   tiny      tasks/s, all submitted, then all collected
 *   roundtrip serial submit + result, median microseconds
 *   map       pp_map items/s at chunksize 1000
 *   map1      pp_map items/s at chunksize 1 (10^6 items)
 *   echo1m    1 MiB echoes/s, 400 submitted, then collected (median of 3 batches)
 *   idle      CPU % over 2 s of an idle pool (after a warm-up, before the
 *             large payloads, whose memory the pool then gives back): rank 0,
 *             and the busiest agent
 *   cpu       600 tasks of 5 ms of CPU each: the time a local pool of as
 *             many workers takes in rank 0, over the cluster pool's time
 *   inflight  rank 0's peak memory while one 256 MiB echo (a pool buffer,
 *             no copy) is in flight, over 256 MiB
 * With --quick each count is a tenth. With --loss (under mpirun
 * --enable-recovery) it measures instead how long the pool takes to declare
 * an agent lost (a task on the last rank writes the time and SIGKILLs its
 * agent; the figure is from then until pp_pool_stats counts the rank lost)
 * and how long pp_pool_destroy then takes.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <procpool_mpi.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "../../test/procinfo.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int nothing(pp_task *t, const void *arg, size_t len)
{
    (void)t, (void)arg, (void)len;
    return 0;
}

static int square(pp_task *t, const void *arg, size_t len)
{
    (void)len;
    int v;
    memcpy(&v, arg, sizeof v);
    v *= v;
    return pp_task_return(t, &v, sizeof v);
}

static int echo(pp_task *t, const void *arg, size_t len)
{
    return pp_task_return(t, arg, len);
}

static void emit(const char *metric, double value, const char *unit)
{
    printf("{\"impl\": \"procpool\", \"metric\": \"%s\", \"value\": %.6g, \"unit\": \"%s\"}\n", metric, value, unit);
    fflush(stdout);
}

static void must(int rc, const char *what)
{
    if (rc != PP_OK) {
        fprintf(stderr, "mpi_bench: %s: %s\n", what, pp_strerror(rc));
        exit(1);
    }
}

/* Seconds to run n tasks of fn, all submitted, then all collected. */
static double batch_seconds(pp_pool *pool, pp_fn fn, int n)
{
    pp_future **fs = malloc((size_t)n * sizeof *fs);
    double t0 = now();
    for (int i = 0; i < n; i++)
        must(pp_submit(pool, fn, NULL, 0, &fs[i]), "submit");
    for (int i = 0; i < n; i++) {
        must(pp_future_result(fs[i], -1, NULL, NULL), "result");
        pp_future_release(fs[i]);
    }
    double took = now() - t0;
    free(fs);
    return took;
}

static double tiny(pp_pool *pool, int n)
{
    return n / batch_seconds(pool, nothing, n);
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double roundtrip_us(pp_pool *pool, int n)
{
    double *t = malloc((size_t)n * sizeof *t);
    for (int i = 0; i < n; i++) {
        pp_future *f;
        double t0 = now();
        must(pp_submit(pool, nothing, NULL, 0, &f), "submit");
        must(pp_future_result(f, -1, NULL, NULL), "result");
        t[i] = (now() - t0) * 1e6;
        pp_future_release(f);
    }
    qsort(t, (size_t)n, sizeof *t, by_value);
    double median = t[n / 2];
    free(t);
    return median;
}

static double map_rate(pp_pool *pool, int n, size_t chunksize)
{
    int *in = malloc((size_t)n * sizeof *in), *out = malloc((size_t)n * sizeof *out);
    for (int i = 0; i < n; i++)
        in[i] = i % 1000;
    double t0 = now();
    must(pp_map(pool, square, in, (size_t)n, sizeof *in, out, sizeof *out, &(pp_map_opts){.chunksize = chunksize}),
         "map");
    double rate = n / (now() - t0);
    for (int i = 0; i < n; i++)
        if (out[i] != in[i] * in[i])
            must(PP_EINVAL, "map result");
    free(in);
    free(out);
    return rate;
}

static double echo_rate(pp_pool *pool, int n)
{
    size_t len = 1 << 20;
    unsigned char *buf = malloc(len);
    memset(buf, 7, len);
    pp_future **fs = malloc((size_t)n * sizeof *fs);
    double t0 = now();
    for (int i = 0; i < n; i++)
        must(pp_submit(pool, echo, buf, len, &fs[i]), "submit");
    for (int i = 0; i < n; i++) {
        const void *p;
        size_t got;
        must(pp_future_result(fs[i], -1, &p, &got), "result");
        if (got != len)
            must(PP_EINVAL, "echo length");
        pp_future_release(fs[i]);
    }
    double rate = n / (now() - t0);
    free(fs);
    free(buf);
    return rate;
}

struct proc {
    int pid, ppid;
    double cpu_s;
};

/* Processes named like this one: pid, parent, CPU seconds so far. */
static int scan(struct proc *out, int max)
{
    char self[64] = "", path[300], buf[1024];
    FILE *fp = fopen("/proc/self/comm", "r");
    if (fp && fgets(self, sizeof self, fp))
        self[strcspn(self, "\n")] = 0;
    if (fp)
        fclose(fp);
    DIR *d = opendir("/proc");
    int n = 0;
    long hz = sysconf(_SC_CLK_TCK);
    for (struct dirent *e; d && (e = readdir(d)) && n < max;) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue; /* self, thread-self: not processes of their own */
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        fp = fopen(path, "r");
        if (!fp)
            continue;
        size_t len = fread(buf, 1, sizeof buf - 1, fp);
        fclose(fp);
        buf[len] = 0;
        char *open = strchr(buf, '('), *close = strrchr(buf, ')');
        if (!open || !close || (size_t)(close - open - 1) != strlen(self) || strncmp(open + 1, self, strlen(self)))
            continue;
        int ppid;
        unsigned long ut, st;
        if (sscanf(close + 2, "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ppid, &ut, &st) != 3)
            continue;
        out[n++] = (struct proc){atoi(e->d_name), ppid, (double)(ut + st) / (double)hz};
    }
    if (d)
        closedir(d);
    return n;
}

/* Agents: processes of this program whose parent is not one (rank 0 aside). */
static void idle_cpu(double seconds)
{
    struct proc a[512], b[512];
    int na = scan(a, 512);
    struct rusage r0, r1;
    getrusage(RUSAGE_SELF, &r0);
    double t0 = now();
    struct timespec ts = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    nanosleep(&ts, NULL);
    getrusage(RUSAGE_SELF, &r1);
    double wall = now() - t0;
    int nb = scan(b, 512);
    double master = ((double)(r1.ru_utime.tv_sec - r0.ru_utime.tv_sec) + (double)(r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) +
                     (double)(r1.ru_utime.tv_usec - r0.ru_utime.tv_usec) / 1e6 +
                     (double)(r1.ru_stime.tv_usec - r0.ru_stime.tv_usec) / 1e6) / wall * 100;
    double busiest = 0;
    for (int i = 0; i < nb; i++) {
        bool agent = b[i].pid != getpid();
        for (int k = 0; k < nb && agent; k++)
            agent = b[k].pid != b[i].ppid;
        for (int k = 0; k < na && agent; k++)
            if (a[k].pid == b[i].pid) {
                double pct = (b[i].cpu_s - a[k].cpu_s) / wall * 100;
                busiest = pct > busiest ? pct : busiest;
            }
    }
    emit("idle_master", master, "% CPU");
    emit("idle_agent", busiest, "% CPU");
}

/* The launcher's figure for this process (Open MPI, PMIx, Slurm), or -1. */
static int from_env(const char *ompi, const char *pmix, const char *slurm)
{
    const char *names[] = {ompi, pmix, slurm};
    for (int i = 0; i < 3; i++) {
        const char *v = getenv(names[i]);
        if (v && *v)
            return atoi(v);
    }
    return -1;
}

/* On the last rank: appends the time to the file its argument names, then
   kills its agent (the worker's grandparent); the first line is the kill. */
static int kill_agent(pp_task *t, const void *arg, size_t len)
{
    (void)t, (void)len;
    int rank = from_env("OMPI_COMM_WORLD_RANK", "PMIX_RANK", "SLURM_PROCID");
    int size = from_env("OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "SLURM_NTASKS");
    struct timespec ts = {0, 100000000}; /* the agent reports the start first */
    nanosleep(&ts, NULL);
    if (rank < 0 || rank != size - 1)
        return 0;
    pid_t agent = parent_of(getppid());
    if (agent <= 1)
        return 0;
    FILE *out = fopen(arg, "a"); /* appended: the rank's other killer must not truncate it */
    if (out) {
        fprintf(out, "%.9f\n", now());
        fclose(out);
    }
    kill(agent, SIGKILL);
    return 0;
}

static void loss(pp_pool *pool)
{
    char path[] = "/tmp/pp_bench_killXXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        must(PP_ESYS, "mkstemp");
    close(fd);
    enum { N = 64 };
    pp_future *fs[N];
    for (int i = 0; i < N; i++)
        must(pp_submit(pool, kill_agent, path, sizeof path, &fs[i]), "submit");
    pp_stats s = {0};
    double t0 = now(), detected = 0;
    while (!detected && now() - t0 < 30) { /* the moment the pool counts the rank lost */
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
        pp_pool_stats(pool, &s);
        if (s.ranks_lost)
            detected = now();
    }
    for (int i = 0; i < N; i++) {
        pp_future_exception(fs[i], -1, NULL, NULL);
        pp_future_release(fs[i]);
    }
    FILE *in = fopen(path, "r");
    double killed = 0;
    if (!in || fscanf(in, "%lf", &killed) != 1 || !detected)
        must(PP_ESTATE, "no agent was lost");
    fclose(in);
    unlink(path);
    emit("loss_detect", (detected - killed) * 1e3, "ms");
    double t0d = now();
    pp_pool_destroy(pool);
    emit("loss_destroy", (now() - t0d) * 1e3, "ms");
}

/* 5 ms of CPU. */
static int burn(pp_task *t, const void *arg, size_t len)
{
    (void)t, (void)arg, (void)len;
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    double until = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9 + 0.005;
    do
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    while ((double)ts.tv_sec + (double)ts.tv_nsec / 1e9 < until);
    return 0;
}

/* The cluster pool's CPU-bound efficiency: a local pool of as many workers,
   in rank 0, against it (the agents idle meanwhile). */
static double cpu_efficiency(pp_pool *pool, int n)
{
    pp_pool *local;
    must(pp_pool_create(&local, &(pp_config){.max_workers = pp_pool_max_workers(pool)}), "local pool");
    batch_seconds(local, burn, 60); /* its workers start */
    double t_local = batch_seconds(local, burn, n);
    pp_pool_destroy(local);
    batch_seconds(pool, burn, 60);
    double t_cluster = batch_seconds(pool, burn, n);
    return t_local / t_cluster;
}

static long peak_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = 0;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0)
            kib = atol(line + 6);
    if (f)
        fclose(f);
    return kib;
}

/* Rank 0's peak memory (VmHWM) growth while one len-byte echo is in
   flight, argument in a pool buffer (no copy of the caller's), over len. */
static double inflight_ratio(pp_pool *pool, size_t len)
{
    FILE *f = fopen("/proc/self/clear_refs", "w"); /* resets VmHWM to the current RSS */
    if (f) {
        fputs("5", f);
        fclose(f);
    }
    long before = peak_kib();
    unsigned char *b = pp_buffer_alloc(pool, len);
    if (!b)
        must(PP_ENOMEM, "pp_buffer_alloc");
    memset(b, 7, len);
    pp_future *fut;
    must(pp_submit_buffer(pool, echo, b, len, NULL, &fut), "submit");
    size_t got;
    const void *p;
    must(pp_future_result(fut, -1, &p, &got), "result");
    double ratio = (double)(peak_kib() - before) * 1024 / (double)len;
    pp_future_release(fut);
    return ratio;
}

int main(int argc, char **argv)
{
    pp_pool *pool;
    must(pp_mpi_init(&argc, &argv, NULL, &pool), "pp_mpi_init");
    if (argc > 1 && strcmp(argv[1], "--loss") == 0) {
        loss(pool); /* destroys the pool */
        return 0;
    }
    int div = argc > 1 && strcmp(argv[1], "--quick") == 0 ? 10 : 1;
    tiny(pool, 2000); /* warm up */
    idle_cpu(2.0);
    emit("tiny", tiny(pool, 50000 / div), "tasks/s");
    emit("roundtrip", roundtrip_us(pool, 5000 / div), "us");
    emit("map", map_rate(pool, 2000000 / div, 1000), "items/s");
    emit("map1", map_rate(pool, 1000000 / div, 1), "items/s");
    emit("cpu", cpu_efficiency(pool, 600 / div), "local time / cluster time");
    double e[3];
    for (int k = 0; k < 3; k++) /* a batch job runs batch after batch: the median of three */
        e[k] = echo_rate(pool, 400 / div);
    qsort(e, 3, sizeof e[0], by_value);
    emit("echo1m", e[1], "echoes/s");
    emit("inflight", inflight_ratio(pool, (size_t)256 << 20), "x its size");
    pp_stats s;
    pp_pool_stats(pool, &s);
    printf("{\"impl\": \"procpool\", \"metric\": \"workers\", \"value\": %d, \"unit\": \"over %d agents bound %u\"}\n",
           pp_pool_max_workers(pool), 0, s.ranks_bound);
    pp_pool_destroy(pool);
    return 0;
}
