/* SPDX-License-Identifier: MIT */
/*
 * checks: the cluster pool's checks (checks.h), shared by the MPI suite and
 * the in-process one. Every figure below assumes 3 agents of 2 workers.
 */
#define _GNU_SOURCE
#include "checks.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../chunk_end.h"

const char *check_name = "start-up";
static char name_buf[160];

static void on_alarm(int sig)
{
    (void)sig;
    static const char a[] = "FAIL watchdog: ", b[] = " hung\n";
    ssize_t n = write(2, a, sizeof a - 1);
    n = write(2, name_buf, strlen(name_buf));
    n = write(2, b, sizeof b - 1);
    (void)n;
    _exit(2);
}

void begin(const char *prefix, const char *name, unsigned seconds)
{
    snprintf(name_buf, sizeof name_buf, "%s", name);
    check_name = name_buf;
    printf("%s: %s\n", prefix, name);
    fflush(stdout);
    signal(SIGALRM, on_alarm);
    alarm(seconds);
}

void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int task_rank(void)
{
    static const char *names[] = {"PP_TEST_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK", "SLURM_PROCID"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *v = getenv(names[i]);
        if (v && *v)
            return atoi(v);
    }
    return -1;
}

/* ---- task functions ---------------------------------------------------------- */

int square(pp_task *t, const void *arg, size_t len)
{
    (void)len;
    long v;
    memcpy(&v, arg, sizeof v);
    v *= v;
    return pp_task_return(t, &v, sizeof v);
}

int echo(pp_task *t, const void *arg, size_t len)
{
    return pp_task_return(t, arg, len);
}

int sleeper(pp_task *t, const void *arg, size_t len)
{
    (void)t;
    (void)len;
    long ms;
    memcpy(&ms, arg, sizeof ms);
    nap_ms(ms);
    return 0;
}

static int spinner(pp_task *t, const void *arg, size_t len)
{
    (void)t;
    (void)arg;
    (void)len;
    for (volatile unsigned long i = 0;; i++)
        ;
    return 0;
}

enum crash { CRASH_NONE, CRASH_SEGV, CRASH_ABORT, CRASH_EXIT, CRASH_FAIL };

static int crasher(pp_task *t, const void *arg, size_t len)
{
    (void)len;
    int how;
    memcpy(&how, arg, sizeof how);
    switch (how) {
    case CRASH_SEGV: raise(SIGSEGV); break;
    case CRASH_ABORT: abort();
    case CRASH_EXIT: _exit(3);
    case CRASH_FAIL: return pp_task_fail(t, 7, "failed on purpose");
    default: break;
    }
    return pp_task_return(t, &how, sizeof how);
}

/* map item: fails items i % 7 == 3, crashes its worker on item 50 */
static int map_item(pp_task *t, const void *arg, size_t len)
{
    (void)len;
    int i;
    memcpy(&i, arg, sizeof i);
    if (i == 50)
        raise(SIGKILL);
    if (i % 7 == 3)
        return pp_task_fail(t, 1, "item %d fails", i);
    long v = (long)i * i;
    return pp_task_return(t, &v, sizeof v);
}

struct chaos_arg {
    long value;
    int die;
};

static int chaos_task(pp_task *t, const void *arg, size_t len)
{
    (void)len;
    struct chaos_arg a;
    memcpy(&a, arg, sizeof a);
    if (a.die)
        raise(SIGKILL);
    a.value = a.value * 3 + 1;
    return pp_task_return(t, &a.value, sizeof a.value);
}

/* ---- checks ------------------------------------------------------------------- */

long result_long(pp_future *f)
{
    const void *p;
    size_t n;
    EXPECT_RC(pp_future_result(f, -1, &p, &n), PP_OK);
    EXPECT(n == sizeof(long));
    long v;
    memcpy(&v, p, sizeof v);
    return v;
}

void check_submit(const char *prefix, pp_pool *pool)
{
    begin(prefix, "submit and result", 60);
    EXPECT(pp_pool_max_workers(pool) == 6); /* 3 agents of 2 */
    for (long i = 0; i < 20; i++) {
        pp_future *f;
        EXPECT_RC(pp_submit(pool, square, &i, sizeof i, &f), PP_OK);
        EXPECT(result_long(f) == i * i);
        pp_task_info info;
        EXPECT_RC(pp_future_info(f, &info), PP_OK);
        EXPECT(info.worker_id >= 0 && info.worker_id < 6 && info.pid > 0);
        pp_future_release(f);
    }
    EXPECT_RC(pp_submit(pool, NULL, NULL, 0, &(pp_future *){0}), PP_EINVAL);
}

void check_many(const char *prefix, pp_pool *pool, int n)
{
    char name[64];
    snprintf(name, sizeof name, "%d tiny tasks, exact", n);
    begin(prefix, name, 120);
    pp_future **fs = malloc((size_t)n * sizeof *fs);
    for (long i = 0; i < n; i++)
        EXPECT_RC(pp_submit(pool, square, &i, sizeof i, &fs[i]), PP_OK);
    for (long i = 0; i < n; i++) {
        EXPECT(result_long(fs[i]) == i * i);
        pp_future_release(fs[i]);
    }
    free(fs);
}

void check_payloads(const char *prefix, pp_pool *pool, size_t max_payload)
{
    char name[64];
    snprintf(name, sizeof name, "payloads 0 B to %zu MiB, byte-exact", max_payload >> 20);
    begin(prefix, name, 240);
    static const size_t all[] = {0,   1,    15,    16,    17,      255,      256,
                                 257, 4096, 65536, 65537, 1 << 20, 16 << 20, 64 << 20};
    size_t sizes[sizeof all / sizeof all[0]], K = 0;
    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++)
        if (all[k] <= max_payload)
            sizes[K++] = all[k];
    pp_future *fs[sizeof all / sizeof all[0]];
    unsigned char *bufs[sizeof all / sizeof all[0]];
    for (size_t k = 0; k < K; k++) {
        bufs[k] = malloc(sizes[k] + 1);
        for (size_t i = 0; i < sizes[k]; i++)
            bufs[k][i] = (unsigned char)(i * 131 + k * 7 + (i >> 12));
        EXPECT_RC(pp_submit(pool, echo, bufs[k], sizes[k], &fs[k]), PP_OK);
    }
    for (size_t k = 0; k < K; k++) {
        const void *p;
        size_t n;
        const char *msg = NULL;
        if (pp_future_exception(fs[k], -1, NULL, &msg) != PP_OK)
            fprintf(stderr, "FAIL %s: payload of %zu bytes: %s\n", check_name, sizes[k], msg ? msg : "");
        EXPECT_RC(pp_future_result(fs[k], -1, &p, &n), PP_OK);
        EXPECT(n == sizes[k]);
        EXPECT(n == 0 || memcmp(p, bufs[k], n) == 0);
        pp_future_release(fs[k]);
        free(bufs[k]);
    }
    /* a buffer submitted without a copy */
    size_t len = 3 << 20;
    unsigned char *b = pp_buffer_alloc(pool, len);
    EXPECT(b != NULL);
    for (size_t i = 0; i < len; i++)
        b[i] = (unsigned char)(i * 29);
    pp_future *f;
    EXPECT_RC(pp_submit_buffer(pool, echo, b, len, NULL, &f), PP_OK);
    const void *p;
    size_t n;
    EXPECT_RC(pp_future_result(f, -1, &p, &n), PP_OK);
    EXPECT(n == len);
    for (size_t i = 0; i < len; i++)
        EXPECT(((const unsigned char *)p)[i] == (unsigned char)(i * 29));
    pp_future_release(f);
}

void check_map(const char *prefix, pp_pool *pool)
{
    begin(prefix, "map: chunks, failing items, a crash inside a chunk", 120);
    enum { N = 400 };
    int items[N], status[N];
    long results[N];
    for (int i = 0; i < N; i++)
        items[i] = i;
    pp_map_opts o = {.chunksize = 16, .status = status};
    int rc = pp_map(pool, map_item, items, N, sizeof(int), results, sizeof(long), &o);
    EXPECT(rc == PP_ETASK); /* item 3 fails first */
    for (int i = 0; i < N; i++) {
        if (i == 50)
            EXPECT(status[i] == PP_ECRASHED);
        else if (i % 7 == 3)
            EXPECT(status[i] == PP_ETASK);
        else
            EXPECT(status[i] == PP_OK && results[i] == (long)i * i);
    }
    begin(prefix, "streaming map", 60);
    pp_item its[100];
    long vals[100];
    for (int i = 0; i < 100; i++) {
        vals[i] = i;
        its[i] = (pp_item){&vals[i], sizeof vals[i]};
    }
    pp_map_iter *it;
    EXPECT_RC(pp_map_begin(pool, square, its, 100, &(pp_stream_opts){.chunksize = 8}, &it), PP_OK);
    pp_map_item m;
    size_t seen = 0;
    while (pp_map_next(it, &m) == 1) {
        EXPECT(m.status == PP_OK && m.index == seen && m.len == sizeof(long));
        long v;
        memcpy(&v, m.result, sizeof v);
        EXPECT(v == (long)seen * (long)seen);
        seen++;
    }
    EXPECT(seen == 100);
    pp_map_end(it);
}

static atomic_int called;

static void count_cb(pp_future *f, void *ud)
{
    (void)f;
    (void)ud;
    atomic_fetch_add(&called, 1);
}

void check_wait_callbacks(const char *prefix, pp_pool *pool)
{
    begin(prefix, "wait, as_completed, callbacks", 60);
    enum { N = 12 };
    pp_future *fs[N];
    for (long i = 0; i < N; i++) {
        long ms = i == 0 ? 3000 : (N - i) * 20; /* the first still runs when another ends */
        EXPECT_RC(pp_submit(pool, sleeper, &ms, sizeof ms, &fs[i]), PP_OK);
        EXPECT_RC(pp_future_add_done_callback(fs[i], count_cb, NULL), PP_OK);
    }
    int first = pp_wait(fs, N, -1, PP_FIRST_COMPLETED);
    EXPECT(first >= 1 && first < N); /* the longest still runs */
    pp_as_completed *it;
    EXPECT_RC(pp_as_completed_begin(fs, N, -1, &it), PP_OK);
    int yielded = 0;
    pp_future *f;
    while (pp_as_completed_next(it, &f) == 1) {
        EXPECT(pp_future_done(f));
        yielded++;
    }
    pp_as_completed_end(it);
    EXPECT(yielded == N);
    EXPECT_RC(pp_wait(fs, N, -1, PP_ALL_COMPLETED), N);
    for (int spin = 0; atomic_load(&called) < N && spin < 5000; spin++)
        nap_ms(1);
    EXPECT(atomic_load(&called) == N);
    for (int i = 0; i < N; i++)
        pp_future_release(fs[i]);
}

void check_cancel(const char *prefix, pp_pool *pool)
{
    begin(prefix, "cancel what no agent holds", 60);
    enum { N = 40 };
    pp_future *fs[N];
    long ms = 2000;
    for (int i = 0; i < N; i++)
        EXPECT_RC(pp_submit(pool, sleeper, &ms, sizeof ms, &fs[i]), PP_OK);
    /* 3 agents x window 4 hold 12; the last ones wait in the backlog (and
       none ends before they are all cancelled, so none refills a window) */
    int cancelled = 0;
    for (int i = N - 1; i >= 0; i--)
        cancelled += pp_future_cancel(fs[i]) == 1;
    EXPECT(cancelled >= N - 12 - 2);
    int ok = 0, was_cancelled = 0;
    for (int i = 0; i < N; i++) {
        int rc = pp_future_exception(fs[i], -1, NULL, NULL);
        EXPECT(rc == PP_OK || rc == PP_ECANCELLED);
        ok += rc == PP_OK;
        was_cancelled += rc == PP_ECANCELLED;
        EXPECT(pp_future_cancelled(fs[i]) == (rc == PP_ECANCELLED));
        pp_future_release(fs[i]);
    }
    EXPECT(was_cancelled == cancelled && ok + was_cancelled == N);
}

void check_kill(const char *prefix, pp_pool *pool)
{
    begin(prefix, "kill a task an agent runs", 60);
    pp_stats s0, s;
    EXPECT_RC(pp_pool_stats(pool, &s0), PP_OK);
    long ms = 30000;
    pp_future *f;
    EXPECT_RC(pp_submit(pool, sleeper, &ms, sizeof ms, &f), PP_OK);
    while (!pp_future_running(f))
        nap_ms(1);
    nap_ms(500); /* started on its agent by now (a kill before the start runs nothing and kills no worker) */
    EXPECT(pp_future_kill(f) == 1);
    EXPECT_RC(pp_future_result(f, 0, NULL, NULL), PP_ECANCELLED);
    EXPECT(pp_future_kill(f) == 1);
    pp_future_release(f);
    /* its worker is killed and replaced: the agents count it in what they report */
    for (double until = now_s() + 30;;) {
        EXPECT_RC(pp_pool_stats(pool, &s), PP_OK);
        if (s.workers_started > s0.workers_started || now_s() > until)
            break;
        pp_future *g[6];
        for (long i = 0; i < 6; i++)
            EXPECT_RC(pp_submit(pool, square, &i, sizeof i, &g[i]), PP_OK);
        for (int i = 0; i < 6; i++) {
            EXPECT(result_long(g[i]) == (long)i * i);
            pp_future_release(g[i]);
        }
    }
    EXPECT(s.workers_started > s0.workers_started);
    EXPECT(s.cancelled == s0.cancelled + 1 && s.crashed == s0.crashed);
}

void check_limits(const char *prefix, pp_pool *pool)
{
    begin(prefix, "deadline and CPU limit", 60);
    long ms = 10000;
    pp_future *f, *g, *h;
    EXPECT_RC(pp_submit_opts(pool, sleeper, &ms, sizeof ms, &(pp_task_opts){.deadline = 0.3}, &f), PP_OK);
    EXPECT_RC(pp_submit_opts(pool, spinner, NULL, 0, &(pp_task_opts){.cpu_limit = 0.2}, &g), PP_OK);
    long quick = 1;
    EXPECT_RC(pp_submit_opts(pool, sleeper, &quick, sizeof quick, &(pp_task_opts){.deadline = 1e300}, &h),
              PP_OK);
    const char *msg = NULL;
    EXPECT_RC(pp_future_exception(f, -1, NULL, &msg), PP_EDEADLINE);
    EXPECT(msg && strstr(msg, "deadline"));
    EXPECT_RC(pp_future_exception(g, -1, NULL, NULL), PP_ELIMIT);
    EXPECT_RC(pp_future_exception(h, -1, NULL, NULL), PP_OK);
    pp_future_release(f);
    pp_future_release(g);
    pp_future_release(h);
}

/* Every third item (the last of its chunk of 3) runs just past a 50 ms
   deadline; the others return at once. */
static int chunk_end(pp_task *t, const void *arg, size_t len)
{
    (void)len;
    long v;
    memcpy(&v, arg, sizeof v);
    chunk_end_work(v);
    return pp_task_return(t, &v, sizeof v);
}

void check_chunk_end_kills(const char *prefix, pp_pool *pool)
{
    begin(prefix, "a limit met as a chunk ends blames nothing of the next chunk", 60);
    enum { N = 90 };
    long in[N], out[N];
    int status[N];
    for (int i = 0; i < N; i++)
        in[i] = i;
    pp_map(pool, chunk_end, in, N, sizeof *in, out, sizeof *out,
           &(pp_map_opts){.chunksize = 3, .deadline = 0.05, .status = status});
    for (int i = 0; i < N; i++) {
        bool ok = i % 3 != 2 ? status[i] == PP_OK && out[i] == i /* only the slow ones meet their limit */
                             : status[i] == PP_OK || status[i] == PP_EDEADLINE;
        if (!ok)
            printf("%s: item %d: %s\n", prefix, i, pp_errname(status[i]));
        EXPECT(ok);
    }
}

void check_crashes(const char *prefix, pp_pool *pool)
{
    begin(prefix, "crashes: one future each", 60);
    int kinds[] = {CRASH_SEGV, CRASH_ABORT, CRASH_EXIT, CRASH_FAIL, CRASH_NONE};
    int want[] = {PP_ECRASHED, PP_ECRASHED, PP_ECRASHED, PP_ETASK, PP_OK};
    pp_future *fs[5];
    for (int k = 0; k < 5; k++)
        EXPECT_RC(pp_submit(pool, crasher, &kinds[k], sizeof kinds[k], &fs[k]), PP_OK);
    for (int k = 0; k < 5; k++) {
        int code = 0;
        const char *msg = NULL;
        EXPECT_RC(pp_future_exception(fs[k], -1, &code, &msg), want[k]);
        if (k == 0)
            EXPECT(code == -SIGSEGV && msg && strstr(msg, "signal"));
        if (k == 3)
            EXPECT(code == 7 && msg && strcmp(msg, "failed on purpose") == 0);
        pp_future_release(fs[k]);
    }
    long i = 12;
    pp_future *f;
    EXPECT_RC(pp_submit(pool, square, &i, sizeof i, &f), PP_OK);
    EXPECT(result_long(f) == 144);
    pp_future_release(f);
}

/* ---- a seeded random mix --------------------------------------------------- */

enum mix_kind { MIX_VALUE, MIX_FAIL, MIX_CRASH, MIX_DEADLINE, MIX_ECHO, MIX_KINDS };

struct mix_arg {
    int32_t kind, value;
    uint32_t len; /* MIX_ECHO: bytes that follow, a pattern of value */
};

static int mix_task(pp_task *t, const void *arg, size_t len)
{
    struct mix_arg a;
    memcpy(&a, arg, sizeof a);
    switch (a.kind) {
    case MIX_FAIL: return pp_task_fail(t, a.value, "mix %d", a.value);
    case MIX_CRASH: raise(a.value % 2 ? SIGKILL : SIGSEGV); break;
    case MIX_DEADLINE: nap_ms(10000); break;
    case MIX_ECHO: return pp_task_return(t, (const char *)arg + sizeof a, len - sizeof a);
    default: break;
    }
    long v = (long)a.value * 7;
    return pp_task_return(t, &v, sizeof v);
}

/* Submits, cancels, releases unseen and waits in a random order, then checks
   every outcome it kept: nothing lost, nothing wrong, whatever the mix. */
void check_random(const char *prefix, pp_pool *pool, unsigned seed, int count)
{
    char name[64];
    snprintf(name, sizeof name, "random mix, seed %u", seed);
    begin(prefix, name, 120);
    srand(seed);
    const int N = count;
    pp_future **fs = calloc(N, sizeof *fs);
    struct mix_arg *as = calloc(N, sizeof *as);
    bool *asked = calloc(N, sizeof *asked);
    unsigned char *buf = malloc(sizeof(struct mix_arg) + (200 << 10));
    for (int i = 0; i < N; i++) {
        as[i] = (struct mix_arg){.kind = rand() % MIX_KINDS, .value = rand() % 1000 + 1};
        if (as[i].kind == MIX_CRASH && rand() % 4) /* crashes are dear: fewer of them */
            as[i].kind = MIX_VALUE;
        if (as[i].kind == MIX_DEADLINE && rand() % 8)
            as[i].kind = MIX_ECHO;
        if (as[i].kind == MIX_ECHO)
            as[i].len = (uint32_t)(rand() % 3 == 0 ? rand() % (200 << 10) : rand() % 512);
        memcpy(buf, &as[i], sizeof as[i]);
        memset(buf + sizeof as[i], as[i].value & 0xff, as[i].len);
        pp_task_opts o = {.deadline = as[i].kind == MIX_DEADLINE ? 0.05 : 0};
        EXPECT_RC(pp_submit_opts(pool, mix_task, buf, sizeof as[i] + as[i].len, &o, &fs[i]), PP_OK);
        int r = rand() % 10;
        if (r == 0 && i > 0) { /* cancel an earlier one: it either was cancelled or runs to its end */
            int k = rand() % i;
            if (fs[k])
                asked[k] = true, pp_future_cancel(fs[k]);
        } else if (r == 1) { /* release one unseen: it still runs, and is freed once done */
            pp_future_release(fs[i]);
            fs[i] = NULL;
        } else if (r == 2 && i > 0 && fs[i - 1]) {
            pp_future_exception(fs[i - 1], 0, NULL, NULL); /* a poll */
        }
    }
    for (int i = 0; i < N; i++) {
        if (!fs[i])
            continue;
        int code = 0;
        int rc = pp_future_exception(fs[i], -1, &code, NULL);
        if (rc == PP_ECANCELLED) {
            EXPECT(asked[i]);
        } else {
            int want[] = {PP_OK, PP_ETASK, PP_ECRASHED, PP_EDEADLINE, PP_OK};
            if (rc != want[as[i].kind])
                fprintf(stderr, "FAIL %s: task %d kind %d ended %s\n", check_name, i, as[i].kind,
                        pp_strerror(rc));
            EXPECT(rc == want[as[i].kind]);
            const void *p;
            size_t n;
            if (as[i].kind == MIX_FAIL)
                EXPECT(code == as[i].value);
            if (as[i].kind == MIX_VALUE) {
                EXPECT(result_long(fs[i]) == (long)as[i].value * 7);
            } else if (as[i].kind == MIX_ECHO) {
                EXPECT_RC(pp_future_result(fs[i], -1, &p, &n), PP_OK);
                EXPECT(n == as[i].len);
                for (size_t k = 0; k < n; k++)
                    EXPECT(((const unsigned char *)p)[k] == (as[i].value & 0xff));
            }
        }
        pp_future_release(fs[i]);
    }
    free(fs);
    free(as);
    free(asked);
    free(buf);
}

int check_chaos(const char *prefix, pp_pool *pool, unsigned seed, int count)
{
    char name[64];
    snprintf(name, sizeof name, "chaos: random SIGKILLs of workers, seed %u", seed);
    begin(prefix, name, 180);
    const int N = count;
    int killed = 0;
    srand(seed);
    pp_future **fs = malloc(N * sizeof *fs);
    struct chaos_arg *args = malloc(N * sizeof *args);
    for (int i = 0; i < N; i++) {
        args[i] = (struct chaos_arg){.value = i, .die = rand() % 25 == 0};
        killed += args[i].die;
        EXPECT_RC(pp_submit(pool, chaos_task, &args[i], sizeof args[i], &fs[i]), PP_OK);
    }
    for (int i = 0; i < N; i++) {
        int rc = pp_future_exception(fs[i], -1, NULL, NULL);
        if (args[i].die) {
            EXPECT(rc == PP_ECRASHED);
        } else {
            EXPECT(rc == PP_OK);
            EXPECT(result_long(fs[i]) == (long)i * 3 + 1);
        }
        pp_future_release(fs[i]);
    }
    free(fs);
    free(args);
    return killed;
}

void check_stats(const char *prefix, pp_pool *pool, int killed)
{
    begin(prefix, "stats: the agents' workers counted", 30);
    pp_stats s;
    EXPECT_RC(pp_pool_stats(pool, &s), PP_OK);
    EXPECT(s.submitted ==
           s.completed + s.failed + s.crashed + s.cancelled + s.deadline_kills + 1 /* ELIMIT */);
    EXPECT(s.ranks_lost == 0 && s.ranks_bound == 0);
    /* every worker killed was replaced: the chaos's, check_crashes' 3, the
       deadline's, the limit's and the map's. The agents report their
       counters with their results: a few tasks on every agent bring them */
    for (;;) {
        EXPECT_RC(pp_pool_stats(pool, &s), PP_OK);
        if (s.workers_started >= 6u + (unsigned)killed + 5 && s.workers_alive == 6)
            break;
        pp_future *fs[12];
        for (long i = 0; i < 12; i++)
            EXPECT_RC(pp_submit(pool, square, &i, sizeof i, &fs[i]), PP_OK);
        for (int i = 0; i < 12; i++) {
            EXPECT(result_long(fs[i]) == (long)i * i);
            pp_future_release(fs[i]);
        }
    }
    EXPECT(s.workers_recycled == 0);
}

void run_losing_rank(pp_pool *pool, pp_fn fn, int rank, int *ok, int *crashed)
{
    enum { N = 60 };
    pp_future *fs[N];
    char name[16];
    snprintf(name, sizeof name, "rank %d", rank);
    for (int i = 0; i < N; i++)
        EXPECT_RC(pp_submit(pool, fn, NULL, 0, &fs[i]), PP_OK);
    *ok = *crashed = 0;
    for (int i = 0; i < N; i++) {
        const char *msg = NULL;
        int rc = pp_future_exception(fs[i], -1, NULL, &msg);
        EXPECT(rc == PP_OK || rc == PP_ECRASHED);
        if (rc == PP_ECRASHED)
            EXPECT(msg && strstr(msg, name));
        *ok += rc == PP_OK;
        *crashed += rc == PP_ECRASHED;
        pp_future_release(fs[i]);
    }
    EXPECT(*ok + *crashed == N);
}

/* On rank 3: kills the worker's fork server (its parent), which breaks that
   agent's local pool. */
static int kill_spawner_3(pp_task *t, const void *arg, size_t len)
{
    (void)t, (void)arg, (void)len;
    nap_ms(100); /* the agent has reported the start by then */
    if (task_rank() == 3)
        kill(getppid(), SIGKILL);
    nap_ms(100);
    return 0;
}

void check_broken_agent(const char *prefix, pp_pool *pool)
{
    begin(prefix, "an agent whose pool breaks is retired, the rest run elsewhere", 60);
    int ok, crashed;
    run_losing_rank(pool, kill_spawner_3, 3, &ok, &crashed);
    EXPECT(crashed >= 1);
    pp_stats s;
    EXPECT_RC(pp_pool_stats(pool, &s), PP_OK);
    EXPECT(s.ranks_lost == 1 && s.workers_alive == 4);
}

void check_terminate(const char *prefix, pp_pool *pool)
{
    begin(prefix, "terminate, then destroy", 60);
    enum { N = 20 };
    pp_future *fs[N];
    long ms = 20000;
    for (int i = 0; i < N; i++)
        EXPECT_RC(pp_submit(pool, sleeper, &ms, sizeof ms, &fs[i]), PP_OK);
    nap_ms(200);
    EXPECT_RC(pp_pool_terminate(pool, SIGTERM), PP_OK);
    for (int i = 0; i < N; i++) {
        int rc = pp_future_exception(fs[i], -1, NULL, NULL);
        EXPECT(rc == PP_ECRASHED || rc == PP_ECANCELLED);
    }
    long i = 1;
    pp_future *f;
    EXPECT_RC(pp_submit(pool, square, &i, sizeof i, &f), PP_ESHUTDOWN);
    pp_pool_destroy(pool);
}
