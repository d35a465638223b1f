/* SPDX-License-Identifier: MIT */
/*
 * torture: the randomized model test. From a seed it generates a sequence of
 * operations on 1-3 pools (1-4 workers each) from 1-3 threads: submits of
 * every kind of task (echo 0 B-2 MiB, crash, exit, fail, sleep past a
 * deadline, a deadline set at the finish line, spin past a CPU limit, close
 * every descriptor, fork a child, write garbage over the pool's shared
 * memory or before its own argument), with option values at their extremes
 * and retries; submits released at once (fire and forget); cancel, kill,
 * release, result and exception with timeouts (0, short, for ever),
 * done/running polls, pp_future_info, pp_wait in all modes, as_completed
 * with release inside the loop, pp_map with failing items and per-item
 * limits, the streaming map (array or pulled, ordered or not, extreme window
 * and chunksize, left early, ended or killed), callbacks that submit,
 * callbacks that try to block (each must get PP_ESTATE), callbacks on
 * queued futures then cancelled, SIGKILL of a random worker, fork failing
 * for a moment (the spawner's RLIMIT_NPROC; the seed runs as an
 * unprivileged user for it), shutdown with and without cancel, terminate.
 * A small model says what each future may legally end as (a pool a task
 * scribbled over only promises that every future settles); every future
 * must reach a final state, end in an allowed outcome, and carry its exact
 * result. After destroy no process, thread or descriptor of the library may
 * remain.
 *
 * Each seed runs in a child process under a watchdog: a hang ends that child
 * with the seed printed, never the run.
 *
 *   torture [--seeds N] [--first S] [--seed S] [--ops M] [--quiet]
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <procpool.h>

#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "procinfo.h"

#define WATCHDOG_S 60 /* a seed's bound: far above its normal run time */
#define MAX_FUTS   4096

/* ---- random numbers -------------------------------------------------------- */

static uint64_t next_rand(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static uint64_t below(uint64_t *s, uint64_t n)
{
    return n ? next_rand(s) % n : 0;
}

/* ---- tasks ----------------------------------------------------------------- */

enum kind {
    K_ECHO, K_CRASH, K_EXIT, K_FAIL, K_SLOW, K_CLOSEFDS, K_FORK, K_SPIN, K_FINISH, K_SCRIBBLE, K_UNDERFLOW, K_KINDS
};

struct arg_hdr {
    uint32_t kind, seed;
    uint64_t len; /* echo: payload bytes after the header */
};

static void fill(unsigned char *p, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(seed + i * 131);
}

/* Writes garbage over the first span bytes of the pool's shared mapping. */
static void scribble(uint32_t seed, uint64_t span, int count)
{
    FILE *fp = fopen("/proc/self/maps", "r");
    char line[512];
    unsigned long a = 0, b = 0;
    while (fp && fgets(line, sizeof line, fp))
        if (strstr(line, "memfd:procpool") && sscanf(line, "%lx-%lx", &a, &b) == 2)
            break;
    if (fp)
        fclose(fp);
    if (!a || b <= a)
        return;
    span = span < b - a ? span : b - a;
    uint64_t x = seed * 2654435761u + 7;
    for (int i = 0; i < count; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        ((volatile char *)a)[x % span] = (char)(x >> 29);
    }
}

static int torture_task(pp_task *t, const void *arg, size_t len)
{
    struct arg_hdr h;
    memcpy(&h, arg, sizeof h);
    switch (h.kind) {
    case K_CRASH: raise(SIGSEGV); break;
    case K_EXIT: _exit(5);
    case K_FAIL: return pp_task_fail(t, 40 + (int)(h.seed % 7), "failed %u", h.seed);
    case K_SLOW: usleep(200000); break;
    case K_FINISH: usleep(2000 + h.seed % 300); break; /* its deadline is 2.15 ms */
    case K_SPIN:
        for (volatile unsigned long i = 0;; i++) /* until its CPU limit */
            ;
    case K_CLOSEFDS:
        for (int fd = 0; fd < 1024; fd++)
            close(fd);
        break;
    case K_FORK:
        if (fork() == 0) {
            usleep(20000);
            _exit(0);
        }
        break;
    case K_SCRIBBLE: scribble(h.seed, h.seed % 2 ? 4096 : 1 << 20, 16); break;
    case K_UNDERFLOW: memset((char *)arg - 200, 0x3c, 200); break;
    default: break;
    }
    return pp_task_return(t, arg, len); /* echo the whole argument */
}

static int stream_item_task(pp_task *t, const void *arg, size_t len)
{
    char digits[24] = {0};
    memcpy(digits, arg, len < sizeof digits - 1 ? len : sizeof digits - 1); /* not NUL-terminated */
    long v = strtol(digits, NULL, 10);
    if (v % 11 == 3)
        return 9; /* a failing item */
    if (v % 17 == 5)
        usleep(100000); /* past a per-item deadline of 30 ms, when there is one */
    return pp_task_return(t, arg, len);
}

static int map_item_task(pp_task *t, const void *arg, size_t len)
{
    (void)len;
    long v = *(const long *)arg;
    if (v % 13 == 7)
        return 3; /* a failing item */
    long r = v * 3;
    return pp_task_return(t, &r, sizeof r);
}

/* ---- the model ------------------------------------------------------------- */

struct fut {
    pp_future *f;
    int pool;
    struct arg_hdr h;
    bool cancelled; /* pp_future_cancel or pp_future_kill returned 1 */
    bool released;
};

struct world {
    uint64_t seed;
    int npools, nthreads, ops;
    bool hostile; /* tasks may write over the shared memory (a quarter of the seeds) */
    pp_pool *pools[3];
    pp_config cfg[3];
    _Atomic int kills[3];      /* SIGKILLs sent to the pool's workers */
    _Atomic int terminated[3]; /* terminate or shutdown(cancel) called */
    _Atomic int shut[3];
    _Atomic int scribbled[3];  /* a task wrote over its shared memory */
    _Atomic long callbacks_run, submitted, checked, refused, fork_failures, released_in_loop;
    pthread_mutex_t lock;
};

static struct world W;

static void die(const char *what, uint64_t seed)
{
    fprintf(stderr, "torture: seed %llu: %s\n", (unsigned long long)seed, what);
    fflush(stderr);
    _exit(1);
}

static bool damaged(int p)
{
    return atomic_load(&W.scribbled[p]) > 0;
}

/* Whether status is an outcome the model allows for this future. */
static bool allowed(const struct fut *u, int status)
{
    int p = u->pool;
    bool kills = atomic_load(&W.kills[p]) > 0, term = atomic_load(&W.terminated[p]) > 0;
    bool breaks = W.cfg[p].on_crash == PP_BREAK_POOL;
    if (damaged(p))
        return status != PP_ETIMEOUT; /* only settling is promised */
    if (status == PP_ECANCELLED)
        return u->cancelled || term;
    if (status == PP_EBROKEN)
        return breaks || term;
    if (status == PP_ECRASHED && (kills || term))
        return true;
    switch (u->h.kind) {
    case K_CRASH:
    case K_EXIT: return status == PP_ECRASHED;
    case K_FAIL: return status == PP_ETASK;
    case K_SLOW: return status == PP_EDEADLINE || status == PP_OK;
    case K_FINISH: return status == PP_EDEADLINE || status == PP_OK;
    case K_SPIN: return status == PP_ELIMIT;
    default: return status == PP_OK;
    }
}

static void check_final(const struct fut *u)
{
    const void *data;
    size_t len;
    int st = pp_future_result(u->f, -1, &data, &len); /* the watchdog bounds it */
    if (!allowed(u, st)) {
        char m[400];
        const char *why = NULL;
        pp_future_exception(u->f, 0, NULL, &why);
        snprintf(m, sizeof m, "kind %u ended %s (%s)", u->h.kind, pp_errname(st), why ? why : "no message");
        die(m, W.seed);
    }
    if (st == PP_OK && !damaged(u->pool)) {
        size_t want = sizeof u->h + u->h.len;
        if (len != want || memcmp(data, &u->h, sizeof u->h) != 0)
            die("wrong result header or length", W.seed);
        const unsigned char *p = (const unsigned char *)data + sizeof u->h;
        for (size_t i = 0; i < u->h.len; i += 4099)
            if (p[i] != (unsigned char)(u->h.seed + i * 131))
                die("wrong result bytes", W.seed);
    }
    if (st == PP_ETASK && !damaged(u->pool)) {
        int code;
        const char *msg;
        pp_future_exception(u->f, 0, &code, &msg);
        if (code != 40 + (int)(u->h.seed % 7) || !msg)
            die("wrong failure code or message", W.seed);
    }
    atomic_fetch_add(&W.checked, 1);
}

/* ---- operations ------------------------------------------------------------ */

static void resubmit_cb(pp_future *f, void *ud)
{
    (void)f;
    pp_pool *pool = ud;
    atomic_fetch_add(&W.callbacks_run, 1);
    struct arg_hdr h = {K_ECHO, 1, 0};
    pp_future *g;
    if (pp_submit(pool, torture_task, &h, sizeof h, &g) == PP_OK)
        pp_future_release(g);
}

/* A callback that tries every call that would block: each must be refused,
   unless what it waits for is already there. */
static void blocking_cb(pp_future *f, void *ud)
{
    pp_pool *pool = ud;
    atomic_fetch_add(&W.callbacks_run, 1);
    if (pp_future_result(f, -1, NULL, NULL) == PP_ESTATE)
        die("a callback could not read its own future", W.seed);
    struct arg_hdr h = {K_SLOW, 2, 0};
    pp_future *g;
    if (pp_submit(pool, torture_task, &h, sizeof h, &g) != PP_OK)
        return;
    int r1 = pp_wait(&g, 1, 5, PP_ALL_COMPLETED);
    int r2 = pp_future_result(g, -1, NULL, NULL);
    pp_as_completed *ac;
    pp_future *y;
    int r3 = PP_ESTATE;
    if (pp_as_completed_begin(&g, 1, -1, &ac) == PP_OK) {
        r3 = pp_as_completed_next(ac, &y);
        pp_as_completed_end(ac);
    }
    int r4 = pp_shutdown(pool, true, false);
    bool done = pp_future_done(g);
    if (r4 != PP_ESTATE || (!done && (r1 != PP_ESTATE || r2 != PP_ESTATE || r3 != PP_ESTATE)))
        die("a blocking call inside a callback was not refused", W.seed);
    atomic_fetch_add(&W.refused, 1);
    pp_future_release(g);
}

static double extreme_duration(uint64_t *rs, double normal)
{
    double v[] = {0, normal, 1e300, INFINITY, 1e9};
    return v[below(rs, 5)];
}

static int submit_one(uint64_t *rs, struct fut *u, int p)
{
    static _Thread_local unsigned char *buf;
    if (!buf && !(buf = malloc(sizeof(struct arg_hdr) + (2u << 20))))
        die("out of memory", W.seed);
    uint64_t r = below(rs, 1000);
    uint32_t kind = r < 700                ? K_ECHO
                    : r < 990 || !W.hostile ? (uint32_t)(1 + below(rs, K_FINISH))
                    : r < 995              ? K_SCRIBBLE
                                           : K_UNDERFLOW;
    struct arg_hdr h = {kind, (uint32_t)next_rand(rs), 0};
    if (kind == K_ECHO) {
        uint64_t sz = below(rs, 10);
        h.len = sz < 5 ? below(rs, 64) : sz < 8 ? below(rs, 8192) : sz < 9 ? below(rs, 300000) : below(rs, 2u << 20);
    }
    memcpy(buf, &h, sizeof h);
    fill(buf + sizeof h, h.len, h.seed);
    pp_task_opts o = {.deadline = kind == K_SLOW ? 0.05 : kind == K_FINISH ? 0.00215 : extreme_duration(rs, 30),
                      .cpu_limit = kind == K_SPIN ? 0.03 : extreme_duration(rs, 20),
                      .retries = (unsigned)below(rs, 3),
                      .result_hint = below(rs, 50) == 0 ? (uint64_t)1 << 45 : below(rs, 4) == 0 ? below(rs, 1 << 20) : 0};
    if (kind == K_SCRIBBLE || kind == K_UNDERFLOW) /* from here on, the pool promises settling only */
        atomic_fetch_add(&W.scribbled[p], 1);
    *u = (struct fut){.pool = p, .h = h};
    int rc = pp_submit_opts(W.pools[p], torture_task, buf, sizeof h + h.len, &o, &u->f);
    if (rc == PP_OK) {
        atomic_fetch_add(&W.submitted, 1);
        uint64_t c = below(rs, 16);
        if (c == 0)
            pp_future_add_done_callback(u->f, resubmit_cb, W.pools[p]);
        else if (c == 1)
            pp_future_add_done_callback(u->f, blocking_cb, W.pools[p]);
        return 1;
    }
    if (rc == PP_ENOMEM && o.result_hint > ((uint64_t)1 << 40))
        return 0;
    if (rc != PP_ESHUTDOWN && rc != PP_EBROKEN)
        die("submit refused", W.seed);
    return 0;
}

/* SIGKILL to one worker of any pool: every spawner's children are workers. */
static void kill_a_worker(uint64_t *rs)
{
    pid_t spawners[8], workers[16];
    int ns = children_of(getpid(), spawners, 8);
    if (!ns)
        return;
    pid_t sp = spawners[below(rs, (uint64_t)ns)];
    int nw = children_of(sp, workers, 16);
    if (!nw)
        return;
    for (int p = 0; p < W.npools; p++) /* we cannot tell which pool: all may see a crash */
        atomic_fetch_add(&W.kills[p], 1);
    kill(workers[below(rs, (uint64_t)nw)], SIGKILL);
}

/* A spawner cannot fork for a moment (its soft RLIMIT_NPROC at 1). */
static void fork_fails_for_a_moment(uint64_t *rs)
{
    pid_t spawners[8];
    int ns = children_of(getpid(), spawners, 8);
    if (!ns || getuid() == 0)
        return;
    pid_t sp = spawners[below(rs, (uint64_t)ns)];
    struct rlimit old, low;
    pthread_mutex_lock(&W.lock); /* one at a time: each restores what it found */
    if (prlimit(sp, RLIMIT_NPROC, NULL, &old) == 0) {
        low = (struct rlimit){1, old.rlim_max};
        if (prlimit(sp, RLIMIT_NPROC, &low, NULL) == 0) {
            kill_a_worker(rs); /* its replacement's fork fails */
            atomic_fetch_add(&W.fork_failures, 1);
            usleep((useconds_t)(2000 + below(rs, 30000)));
            prlimit(sp, RLIMIT_NPROC, &old, NULL);
        }
    }
    pthread_mutex_unlock(&W.lock);
}

static void do_map(uint64_t *rs, int p)
{
    size_t n = 1 + below(rs, 300);
    long *in = malloc(n * sizeof *in), *out = malloc(n * sizeof *out);
    int *status = malloc(n * sizeof *status);
    if (!in || !out || !status)
        die("out of memory", W.seed);
    for (size_t i = 0; i < n; i++)
        in[i] = (long)i;
    size_t chunks[] = {1 + below(rs, 40), SIZE_MAX, 0};
    pp_map_opts o = {.chunksize = chunks[below(rs, 3)],
                     .status = status,
                     .deadline = extreme_duration(rs, 20),
                     .cpu_limit = extreme_duration(rs, 20),
                     .retries = (unsigned)below(rs, 3)};
    int rc = pp_map(W.pools[p], map_item_task, in, n, sizeof *in, out, sizeof *out, &o);
    bool lossy = atomic_load(&W.kills[p]) || atomic_load(&W.terminated[p]) || atomic_load(&W.shut[p]) ||
                 damaged(p) || W.cfg[p].on_crash == PP_BREAK_POOL; /* a crashing task breaks it */
    if (rc == PP_OK || !lossy) {
        for (size_t i = 0; i < n; i++) {
            int want = in[i] % 13 == 7 ? PP_ETASK : PP_OK;
            if (status[i] != want && !(lossy && status[i] != PP_OK)) {
                char m[96];
                snprintf(m, sizeof m, "map item %zu of %zu: %s, map %s", i, n, pp_errname(status[i]),
                         pp_errname(rc));
                die(m, W.seed);
            }
            if (status[i] == PP_OK && out[i] != in[i] * 3 && !damaged(p))
                die("map item result", W.seed);
        }
    }
    free(in);
    free(out);
    free(status);
}

struct pull_src {
    const pp_item *items;
    size_t next, n;
    char copy[24]; /* the pull reuses it: the library must have copied the last item */
};

static int pull_items(void *ud, pp_item *item)
{
    struct pull_src *s = ud;
    if (s->next == s->n)
        return 0;
    const pp_item *src = &s->items[s->next++];
    memcpy(s->copy, src->data, src->len);
    *item = (pp_item){s->copy, src->len};
    return 1;
}

/* The streaming map over strings; some items fail; sometimes left early. */
static void do_stream(uint64_t *rs, int p)
{
    size_t n = 1 + below(rs, 200);
    char(*text)[24] = malloc(n * sizeof *text);
    pp_item *items = malloc(n * sizeof *items);
    if (!text || !items)
        die("out of memory", W.seed);
    for (size_t i = 0; i < n; i++) {
        int len = snprintf(text[i], sizeof text[i], "%zu", i * 7);
        items[i] = (pp_item){text[i], (size_t)len};
    }
    size_t windows[] = {below(rs, 40), SIZE_MAX, SIZE_MAX - 1, 1};
    size_t chunks[] = {1, 1 + below(rs, 20), SIZE_MAX, 0};
    bool limited = below(rs, 4) == 0;
    pp_stream_opts o = {.chunksize = chunks[below(rs, 4)],
                        .unordered = below(rs, 2),
                        .window = windows[below(rs, 4)],
                        .deadline = limited ? 0.03 : extreme_duration(rs, 30),
                        .retries = (unsigned)below(rs, 2)};
    size_t stop = below(rs, 4) == 0 ? below(rs, n + 1) : n; /* sometimes left early */
    struct pull_src src = {items, 0, n, {0}};
    pp_map_iter *it;
    int rc = below(rs, 2) ? pp_map_begin(W.pools[p], stream_item_task, items, n, &o, &it)
                          : pp_map_begin_pull(W.pools[p], stream_item_task, pull_items, &src, &o, &it);
    if (rc != PP_OK)
        die("pp_map_begin", W.seed);
    pp_map_item m;
    size_t got = 0;
    bool *seen = calloc(n, 1);
    while (got < stop && (rc = pp_map_next(it, &m)) == 1) {
        if (m.index >= n || seen[m.index])
            die("stream yielded an item twice or out of range", W.seed);
        seen[m.index] = true;
        if (!o.unordered && m.index != got)
            die("ordered stream out of order", W.seed);
        got++;
        /* under a 30 ms limit a trivial item too may be descheduled past it
           here (pools, workers and spinning tasks share the CPUs): only a
           slow item must meet it, any may */
        bool fails = (m.index * 7) % 11 == 3;
        bool lossy = atomic_load(&W.kills[p]) || atomic_load(&W.terminated[p]) || atomic_load(&W.shut[p]) ||
                     damaged(p) || W.cfg[p].on_crash == PP_BREAK_POOL; /* other threads act meanwhile */
        if (m.status == PP_OK) {
            if ((fails || m.len != items[m.index].len || memcmp(m.result, items[m.index].data, m.len) != 0) &&
                !damaged(p))
                die("stream result", W.seed);
        } else if (!lossy && !(fails && m.status == PP_ETASK && m.code == 9) &&
                   !(limited && m.status == PP_EDEADLINE)) {
            char msg[128];
            snprintf(msg, sizeof msg, "stream item %zu (chunk %zu, window %zu): %s code %d", m.index, o.chunksize,
                     o.window, pp_errname(m.status), m.code);
            die(msg, W.seed);
        }
    }
    if (got == n && (rc = pp_map_next(it, &m)) != 0) {
        char msg[128];
        snprintf(msg, sizeof msg, "stream of %zu (chunk %zu, window %zu, %s) then gives %d", n, o.chunksize, o.window,
                 o.unordered ? "unordered" : "ordered", rc);
        die(msg, W.seed);
    }
    if (below(rs, 3))
        pp_map_end(it);
    else
        pp_map_kill(it);
    free(seen);
    free(text);
    free(items);
}

struct thread_arg {
    uint64_t rs;
    struct fut *futs;
    int n;
};

/* Forgets future k of the thread's list (it is released). */
static void forget(struct thread_arg *ta, int k)
{
    ta->futs[k] = ta->futs[--ta->n];
}

/* as_completed over some of our futures; sometimes each is released as it
   comes, as the ordinary loop does. */
static void do_as_completed(uint64_t *rs, struct thread_arg *ta)
{
    pp_future *fs[8];
    int k = 0;
    for (int i = 0; i < 8 && ta->n; i++)
        fs[k++] = ta->futs[below(rs, (uint64_t)ta->n)].f;
    bool release = below(rs, 3) == 0;
    pp_as_completed *it;
    pp_future *g;
    if (pp_as_completed_begin(fs, (size_t)k, 0.05, &it) != PP_OK)
        die("as_completed_begin failed", W.seed);
    while (pp_as_completed_next(it, &g) == 1) {
        if (!release)
            continue;
        for (int i = 0; i < ta->n; i++)
            if (ta->futs[i].f == g) {
                check_final(&ta->futs[i]); /* done: it settles at once */
                forget(ta, i);
                pp_future_release(g);
                atomic_fetch_add(&W.released_in_loop, 1);
                break;
            }
    }
    pp_as_completed_end(it);
}

static void one_op(struct thread_arg *ta)
{
    uint64_t *rs = &ta->rs;
    int p = (int)below(rs, (uint64_t)W.npools);
    uint64_t op = below(rs, 1000);
    int k = ta->n ? (int)below(rs, (uint64_t)ta->n) : -1;
    struct fut *u = k >= 0 ? &ta->futs[k] : NULL;
    if (op < 400 || !u) {
        if (ta->n < MAX_FUTS)
            ta->n += submit_one(rs, &ta->futs[ta->n], p);
    } else if (op < 440) { /* fire and forget */
        struct fut f;
        if (submit_one(rs, &f, p))
            pp_future_release(f.f);
    } else if (op < 520) {
        if (pp_future_cancel(u->f) == 1)
            u->cancelled = true;
    } else if (op < 545) {
        if (pp_future_kill(u->f) == 1)
            u->cancelled = true;
    } else if (op < 640) {
        double t[] = {0, 0.001, 0.05};
        pp_future_result(u->f, t[below(rs, 3)], NULL, NULL);
    } else if (op < 700) {
        bool done = pp_future_done(u->f);
        pp_future_running(u->f);
        pp_future_cancelled(u->f);
        pp_task_info info;
        int rc = pp_future_info(u->f, &info);
        if (done ? rc != PP_OK : rc != PP_OK && rc != PP_ESTATE)
            die("pp_future_info", W.seed);
    } else if (op < 760) {
        if (below(rs, 2)) {
            pp_future *fs[8];
            int m = 0;
            for (int i = 0; i < 8; i++)
                fs[m++] = ta->futs[below(rs, (uint64_t)ta->n)].f;
            if (pp_wait(fs, (size_t)m, 0.05, (enum pp_return_when)below(rs, 3)) < 0)
                die("pp_wait failed", W.seed);
        } else {
            do_as_completed(rs, ta);
        }
    } else if (op < 785) {
        do_map(rs, p);
    } else if (op < 800) {
        do_stream(rs, p);
    } else if (op < 812) {
        kill_a_worker(rs);
    } else if (op < 818) { /* a callback on a queued future, then cancel */
        if (pp_future_add_done_callback(u->f, resubmit_cb, W.pools[u->pool]) == PP_OK &&
            pp_future_cancel(u->f) == 1)
            u->cancelled = true;
    } else if (op < 821) {
        fork_fails_for_a_moment(rs);
    } else if (op < 826 && ta->n > 1) {
        struct fut keep = *u; /* forget it: it still runs, and is freed once done */
        forget(ta, k);
        pp_future_release(keep.f);
    } else if (op < 828) {
        bool cancel = below(rs, 2);
        if (cancel)
            atomic_fetch_add(&W.terminated[p], 1);
        atomic_store(&W.shut[p], 1);
        pp_shutdown(W.pools[p], false, cancel);
    } else if (op < 829) {
        atomic_fetch_add(&W.terminated[p], 1);
        atomic_store(&W.shut[p], 1);
        pp_pool_terminate(W.pools[p], below(rs, 2) ? SIGKILL : SIGTERM);
    }
}

static void *thread_main(void *arg)
{
    struct thread_arg *ta = arg;
    for (int i = 0; i < W.ops; i++)
        one_op(ta);
    return NULL;
}

static void run_seed(uint64_t seed, int ops)
{
    uint64_t rs = seed * 0x9e3779b97f4a7c15ull + 1;
    W = (struct world){.seed = seed, .ops = ops};
    pthread_mutex_init(&W.lock, NULL);
    if (getuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) /* so RLIMIT_NPROC binds the spawners */
        die("cannot drop to an unprivileged user", seed);
    int fds_before = count_fds();
    W.npools = 1 + (int)below(&rs, 3);
    W.nthreads = 1 + (int)below(&rs, 3);
    W.hostile = below(&rs, 4) == 0;
    for (int p = 0; p < W.npools; p++) {
        W.cfg[p] = (pp_config){.max_workers = 1 + (int)below(&rs, 4),
                               .max_tasks_per_child = below(&rs, 4) == 0 ? 1 + (unsigned)below(&rs, 20) : 0,
                               .on_crash = below(&rs, 5) == 0 ? PP_BREAK_POOL : PP_REPLACE_WORKER};
        if (pp_pool_create(&W.pools[p], &W.cfg[p]) != PP_OK)
            die("pool_create failed", seed);
    }
    pthread_t th[3];
    struct thread_arg ta[3];
    for (int i = 0; i < W.nthreads; i++) {
        ta[i] = (struct thread_arg){.rs = next_rand(&rs) | 1, .futs = calloc(MAX_FUTS, sizeof(struct fut))};
        if (!ta[i].futs || pthread_create(&th[i], NULL, thread_main, &ta[i]) != 0)
            die("thread start failed", seed);
    }
    for (int i = 0; i < W.nthreads; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < W.nthreads; i++) {
        for (int k = 0; k < ta[i].n; k++)
            check_final(&ta[i].futs[k]);
        free(ta[i].futs);
    }
    for (int p = 0; p < W.npools; p++)
        pp_pool_destroy(W.pools[p]);
    pid_t kids[4];
    if (children_of(getpid(), kids, 4) != 0)
        die("a process of the library outlived destroy", seed);
    if (count_threads() != 1)
        die("a thread of the library outlived destroy", seed);
    if (count_fds() != fds_before)
        die("a descriptor of the library outlived destroy", seed);
}

int main(int argc, char **argv)
{
    uint64_t first = 1, seeds = 8;
    int ops = 300, quiet = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seeds") && i + 1 < argc)
            seeds = strtoull(argv[++i], NULL, 0);
        else if (!strcmp(argv[i], "--first") && i + 1 < argc)
            first = strtoull(argv[++i], NULL, 0);
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
            first = strtoull(argv[++i], NULL, 0);
            seeds = 1;
        } else if (!strcmp(argv[i], "--ops") && i + 1 < argc)
            ops = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--quiet"))
            quiet = 1;
        else {
            fprintf(stderr, "usage: torture [--seeds N] [--first S] [--seed S] [--ops M] [--quiet]\n");
            return 2;
        }
    }
    long passed = 0, failed = 0;
    for (uint64_t seed = first; seed < first + seeds; seed++) {
        int report[2];
        if (pipe(report) != 0)
            return 1;
        fflush(stdout);
        pid_t child = fork();
        if (child == 0) {
            close(report[0]);
            alarm(WATCHDOG_S); /* a hang ends here, with the seed printed below */
            run_seed(seed, ops);
            char line[320];
            int n = snprintf(line, sizeof line,
                             "%ld submitted, %ld checked, %ld callbacks (%ld refused blocking), %d kills, "
                             "%ld fork failures, %d scribbles, %ld released in as_completed",
                             atomic_load(&W.submitted), atomic_load(&W.checked), atomic_load(&W.callbacks_run),
                             atomic_load(&W.refused), atomic_load(&W.kills[0]) + atomic_load(&W.kills[1]) +
                                 atomic_load(&W.kills[2]),
                             atomic_load(&W.fork_failures),
                             atomic_load(&W.scribbled[0]) + atomic_load(&W.scribbled[1]) + atomic_load(&W.scribbled[2]),
                             atomic_load(&W.released_in_loop));
            if (write(report[1], line, (size_t)n) < 0)
                _exit(1);
            _exit(0);
        }
        close(report[1]);
        char line[321] = {0};
        ssize_t got = read(report[0], line, sizeof line - 1);
        (void)got;
        close(report[0]);
        int status;
        waitpid(child, &status, 0);
        bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
        if (ok)
            passed++;
        else
            failed++;
        if (!ok && WIFSIGNALED(status))
            fprintf(stderr, "torture: seed %llu: %s (a hang, if SIGALRM: replay with --seed %llu)\n",
                    (unsigned long long)seed, strsignal(WTERMSIG(status)), (unsigned long long)seed);
        else if (!quiet || !ok)
            printf("seed %llu: %s %s\n", (unsigned long long)seed, ok ? "ok" : "FAILED", line);
    }
    printf("torture: %ld passed, %ld failed\n", passed, failed);
    return failed ? 1 : 0;
}
