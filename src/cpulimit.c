/* SPDX-License-Identifier: MIT */
/*
 * cpulimit: a task's CPU limit counts the processes it starts. The worker's
 * own CPU-time timer (worker.c) kills it the moment its own threads pass
 * the limit; it cannot see a child the task forks and waits for. So while a
 * task with a cpu_limit runs, the monitor samples every CPU_SAMPLE_NS what
 * the task has used: the worker's CPU since the task (or chunk item)
 * started, its waited-for children's since then, and the CPU of every
 * process below the worker that still runs and started after the task did
 * (/proc/PID/task/PID/children, walked down, and /proc/PID/stat: what an
 * earlier task left running is not this one's), and kills the worker's group once the
 * sum passes the limit (kill.c: the death reports PP_ELIMIT). A child that
 * left the worker's process tree (reparented after its parent died, or
 * setsid and double-fork) is no longer seen. Granularity: the sampling
 * period, and the kernel's clock tick for the figures and for telling a
 * process the task started from one an earlier task left (one started in
 * the clock tick the task started in counts as the task's).
 */
#define _GNU_SOURCE
#include "cpulimit.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kill.h"
#include "procfs.h"
#include "slot.h"
#include "sync.h"

#define CPU_SAMPLE_NS 50000000ull /* how often running limited tasks are sampled */
#define MAX_DEPTH     16          /* process tree levels walked below a worker */
#define MAX_PROCS     256         /* processes read per worker and sample */

/* utime + stime and cutime + cstime of pid, in clock ticks, and when it
   started (ticks since boot); false if gone. */
static bool stat_ticks(pid_t pid, uint64_t *own, uint64_t *children, uint64_t *started)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    if (!pp__read_file(path, buf, sizeof buf))
        return false;
    const char *p = strrchr(buf, ')'); /* the command name may hold anything */
    unsigned long long ut, st, start;
    long long cut, cst;
    if (!p ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %lld %lld %*d %*d %*d %*d %llu",
               &ut, &st, &cut, &cst, &start) != 5)
        return false;
    *own = ut + st;
    *children = (uint64_t)(cut > 0 ? cut : 0) + (uint64_t)(cst > 0 ? cst : 0);
    *started = start;
    return true;
}

/* The CPU ticks of every live process below pid that started at since
   (ticks since boot) or later, and what they reaped: the processes the
   task started, not those an earlier task of the worker left. */
static uint64_t below_ticks(pid_t pid, uint64_t since, int depth, int *budget)
{
    char path[80], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)pid, (int)pid);
    if (depth >= MAX_DEPTH || !pp__read_file(path, buf, sizeof buf))
        return 0;
    pid_t kids[64];
    int n = 0;
    for (char *p = buf, *end; n < 64 && *budget > 0; p = end, --*budget) {
        long v = strtol(p, &end, 10);
        if (end == p)
            break;
        kids[n++] = (pid_t)v;
    }
    uint64_t sum = 0;
    for (int i = 0; i < n; i++) {
        uint64_t own, reaped, started;
        if (stat_ticks(kids[i], &own, &reaped, &started) && started >= since) /* to the clock tick */
            sum += own + reaped + below_ticks(kids[i], since, depth + 1, budget);
    }
    return sum;
}

/* CLOCK_MONOTONIC ns as ticks since boot (the clock /proc's start times use). */
static uint64_t boot_ticks(uint64_t mono_ns, uint64_t hz)
{
    struct timespec b, m;
    clock_gettime(CLOCK_BOOTTIME, &b);
    clock_gettime(CLOCK_MONOTONIC, &m);
    int64_t offset = ((int64_t)b.tv_sec - m.tv_sec) * 1000000000 + (b.tv_nsec - m.tv_nsec);
    uint64_t boot_ns = (uint64_t)((int64_t)mono_ns + (offset > 0 ? offset : 0));
    return boot_ns / (1000000000u / hz);
}

/* What the task worker w runs has used since started (CLOCK_MONOTONIC ns),
   in ns, or 0 when unknown. */
static uint64_t task_cpu_ns(pp_pool *pool, uint32_t w, uint64_t started)
{
    static long tick_hz;
    if (!tick_hz)
        tick_hz = sysconf(_SC_CLK_TCK) > 0 ? sysconf(_SC_CLK_TCK) : 100;
    struct pp_worker_rec *rec = &pool->lay.workers[w];
    pid_t pid = pool->workers[w].pid;
    uint64_t own, reaped, born;
    if (!stat_ticks(pid, &own, &reaped, &born))
        return 0;
    int budget = MAX_PROCS;
    uint64_t live = below_ticks(pid, boot_ticks(started, (uint64_t)tick_hz), 0, &budget);
    uint64_t us_per_tick = 1000000u / (uint64_t)tick_hz;
    uint64_t self_us = own * us_per_tick, reaped_us = reaped * us_per_tick, live_us = live * us_per_tick;
    uint64_t self0 = rec->user0_us + rec->sys0_us, child0 = rec->child0_us;
    uint64_t used =
        (self_us > self0 ? self_us - self0 : 0) + (reaped_us > child0 ? reaped_us - child0 : 0) + live_us;
    return used * 1000u;
}

uint64_t pp__check_cpu_limits(pp_pool *pool)
{
    uint64_t now = pp__now_ns(), next = PP_FOREVER;
    bool sampled = now >= pool->cpu_sample_at;
    for (uint32_t w = 0; w < pool->nworkers; w++) {
        struct pp_worker_info *wi = &pool->workers[w];
        uint32_t s = atomic_load(&pool->lay.workers[w].intent);
        if (!wi->alive || wi->kill != KILL_NONE || s >= pool->lay.nslots || !pool->slots[s].owner ||
            !pool->slots[s].cpu_limit_ns)
            continue;
        struct pp_slot_view v = pp__slot_look(pool, s);
        if ((v.kind != SLOT_RUNNING && v.kind != SLOT_GROW) || v.worker != w)
            continue;
        next = 0; /* a limited task runs: sample again */
        uint64_t started = atomic_load(&pool->lay.workers[w].started_ns);
        if (sampled && task_cpu_ns(pool, w, started) >= pool->slots[s].cpu_limit_ns)
            pp__kill_worker(pool, w, KILL_CPU, SIGKILL, s, started);
    }
    if (sampled)
        pool->cpu_sample_at = now + CPU_SAMPLE_NS;
    return next == 0 ? pool->cpu_sample_at : PP_FOREVER;
}
