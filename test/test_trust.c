/* SPDX-License-Identifier: MIT */
/*
 * test_trust: no task, callback or option value can crash or hang the
 * master. Each test is one way 1.1 was seen to fail (a crash, a hang, or a
 * broken promise of the header), written from that report; each has a
 * timeout, so a hang fails fast.
 */
#include "helpers.h"

#include <fcntl.h>
#include <stdatomic.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <stdint.h>
#include <sys/resource.h>

#include "procinfo.h"

/* ---- 1. cancelling released backlog futures ------------------------------ */

/* A one-worker pool whose worker runs *blocker (held at gate 1) and 3000
   released futures behind it: more than the 1024 slots, so most wait in the
   backlog. */
static pp_pool *fire_and_forget(pp_future **blocker)
{
    gates_init();
    pp_pool *pool = pool_of(1);
    OK(pp_submit(pool, block_task, "b", 1, blocker));
    wait_started(1);
    for (int i = 0; i < 3000; i++) {
        pp_future *f;
        long v = i;
        OK(pp_submit(pool, echo_task, &v, sizeof v, &f));
        pp_future_release(f);
    }
    return pool;
}

Test(trust, shutdown_cancel_of_released_backlog_futures, .timeout = 60)
{
    pp_future *blocker;
    pp_pool *pool = fire_and_forget(&blocker);
    OK(pp_shutdown(pool, false, true));
    gate_open(1);
    OK(pp_future_result(blocker, 30, NULL, NULL));
    pp_stats st;
    OK(pp_pool_stats(pool, &st));
    cr_assert_eq(st.cancelled + st.completed, 3001);
    cr_assert_gt(st.cancelled, 1900);
    pp_pool_destroy(pool);
}

Test(trust, terminate_of_released_backlog_futures, .timeout = 60)
{
    pp_future *blocker;
    pp_pool *pool = fire_and_forget(&blocker);
    OK(pp_pool_terminate(pool, SIGKILL));
    cr_assert_eq(pp_future_result(blocker, 30, NULL, NULL), PP_ECRASHED);
    pp_pool_destroy(pool);
}

/* ---- 2. release inside an as_completed loop ------------------------------ */

Test(trust, release_inside_as_completed_loop, .timeout = 60)
{
    pp_pool *pool = pool_of(2);
    enum { N = 64 };
    pp_future *fs[N];
    for (int i = 0; i < N; i++)
        fs[i] = submit_long(pool, square_task, i);
    pp_as_completed *it;
    OK(pp_as_completed_begin(fs, N, 30, &it));
    int got = 0;
    for (pp_future *f; pp_as_completed_next(it, &f) == 1; got++) {
        result_long(f);
        pp_future_release(f);
        /* perturb the heap: a future freed above is overwritten at once */
        for (int k = 0; k < 8; k++) {
            void *p = malloc(sizeof(void *) * 40);
            memset(p, 0xff, sizeof(void *) * 40);
            free(p);
        }
    }
    cr_assert_eq(got, N);
    pp_as_completed_end(it);
    pp_pool_destroy(pool);
}

Test(trust, release_before_as_completed_yields, .timeout = 60)
{
    gates_init();
    pp_pool *pool = pool_of(1);
    pp_future *fs[3];
    OK(pp_submit(pool, block_task, "a", 1, &fs[0]));
    wait_started(1);
    fs[1] = submit_long(pool, square_task, 3);
    fs[2] = submit_long(pool, square_task, 4);
    pp_as_completed *it;
    OK(pp_as_completed_begin(fs, 3, 30, &it));
    pp_future_release(fs[1]); /* the iterator still holds it */
    gate_open(1);
    int got = 0;
    for (pp_future *f; pp_as_completed_next(it, &f) == 1; got++)
        if (f != fs[1])
            pp_future_release(f);
    cr_assert_eq(got, 3);
    pp_as_completed_end(it);
    pp_pool_destroy(pool);
}

/* ---- 3. tasks that write over the shared mapping -------------------------- */

struct scribble {
    uint32_t seed, count;
    uint64_t span; /* bytes from the mapping's start it may hit */
};

/* The pool's shared mapping, as the worker sees it. */
static bool pool_mapping(char **start, char **end)
{
    FILE *fp = fopen("/proc/self/maps", "r");
    char line[512];
    bool found = false;
    while (fp && !found && fgets(line, sizeof line, fp)) {
        unsigned long a, b;
        if (strstr(line, "memfd:procpool") && sscanf(line, "%lx-%lx", &a, &b) == 2) {
            *start = (char *)a;
            *end = (char *)b;
            found = true;
        }
    }
    if (fp)
        fclose(fp);
    return found;
}

static int scribble_task(pp_task *t, const void *arg, size_t len)
{
    (void)len;
    struct scribble s;
    memcpy(&s, arg, sizeof s);
    char *start, *end;
    if (!pool_mapping(&start, &end))
        return 7;
    uint64_t span = (uint64_t)(end - start) < s.span ? (uint64_t)(end - start) : s.span;
    uint64_t x = s.seed * 2654435761u + 1;
    for (uint32_t i = 0; i < s.count; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        start[x % span] = (char)(x >> 32);
    }
    return pp_task_return(t, "ok", 2);
}

/* Scribbling tasks among plain ones: every future settles, the pool can be
   destroyed, and the master lives. */
static void scribble_round(uint32_t seed, uint64_t span, uint32_t count)
{
    pp_pool *pool = pool_of(2);
    enum { N = 200 };
    pp_future *fs[N];
    for (int i = 0; i < N; i++) {
        if (i % 10 == 3) {
            struct scribble s = {seed + (uint32_t)i, count, span};
            OK(pp_submit(pool, scribble_task, &s, sizeof s, &fs[i]));
        } else {
            long v = i;
            int rc = pp_submit(pool, echo_task, &v, sizeof v, &fs[i]); /* its argument may be hit too */
            cr_assert(rc == PP_OK || rc == PP_EBROKEN, "%s", pp_errname(rc));
            if (rc != PP_OK)
                fs[i] = NULL;
        }
    }
    for (int i = 0; i < N; i++) {
        if (!fs[i])
            continue;
        /* other tasks' payloads may suffer, as with threads: only that it settles is promised */
        int rc = pp_future_result(fs[i], 30, NULL, NULL);
        cr_assert_neq(rc, PP_ETIMEOUT, "seed %u: future %d never settled", seed, i);
    }
    pp_pool_destroy(pool);
}

Test(trust, a_task_writing_at_the_mapping_start, .timeout = 120)
{
    for (uint32_t seed = 1; seed <= 6; seed++)
        scribble_round(seed, 64, 8);
}

Test(trust, tasks_writing_random_bytes_over_the_mapping, .timeout = 180)
{
    for (uint32_t seed = 1; seed <= 6; seed++)
        scribble_round(seed * 7919, 1 << 20, 64); /* header, ring, records, slots */
}

/* ---- 4. streaming map with extreme window and chunksize ------------------- */

static void extreme_stream(size_t window, size_t chunk, bool crash)
{
    pp_pool *pool = pool_of(2);
    enum { N = 50 };
    int vals[N];
    pp_item items[N];
    for (int i = 0; i < N; i++) {
        vals[i] = crash && i == 17 ? -1 : i;
        items[i] = (pp_item){&vals[i], sizeof vals[i]};
    }
    pp_map_iter *it;
    OK(pp_map_begin(pool, crash_on_negative_task, items, N,
                    &(pp_stream_opts){.window = window, .chunksize = chunk}, &it));
    bool seen[N] = {0};
    pp_map_item m;
    int got = 0, rc;
    while ((rc = pp_map_next(it, &m)) == 1) {
        cr_assert_lt(m.index, (size_t)N, "index %zu past n", m.index);
        cr_assert(!seen[m.index], "item %zu yielded twice", m.index);
        seen[m.index] = true;
        got++;
        if (vals[m.index] < 0) {
            cr_assert_eq(m.status, PP_ECRASHED);
        } else {
            cr_assert_eq(m.status, PP_OK, "item %zu: %s", m.index, pp_errname(m.status));
            cr_assert_eq(*(const long *)m.result, (long)vals[m.index] * vals[m.index]);
        }
    }
    cr_assert_eq(rc, 0);
    cr_assert_eq(got, N, "window %zu chunk %zu: %d of %d yielded", window, chunk, got, N);
    pp_map_end(it);
    pp_pool_destroy(pool);
}

Test(trust, stream_window_near_size_max, .timeout = 60)
{
    extreme_stream(SIZE_MAX - 1, 0, false);
    extreme_stream(SIZE_MAX, 0, true);
    extreme_stream(SIZE_MAX, 7, true);
}

Test(trust, stream_chunksize_near_size_max, .timeout = 60)
{
    extreme_stream(0, SIZE_MAX, false);
    extreme_stream(0, SIZE_MAX - 1, true);
    extreme_stream(SIZE_MAX, SIZE_MAX, true);
}

/* ---- 5. cancelling a queued future that has a callback -------------------- */

static _Atomic int callbacks_seen;

static void count_cb(pp_future *f, void *ud)
{
    (void)f;
    (void)ud;
    atomic_fetch_add(&callbacks_seen, 1);
}

Test(trust, cancel_of_queued_future_with_callback_keeps_the_backlog, .timeout = 60)
{
    gates_init();
    pp_pool *pool = pool_of(1);
    pp_future *blocker;
    OK(pp_submit(pool, block_task, "b", 1, &blocker));
    wait_started(1);
    enum { N = 1100 }; /* past the slots: the tail is in the backlog */
    pp_future *fs[N];
    for (int i = 0; i < N; i++)
        fs[i] = submit_long(pool, square_task, i);
    OK(pp_future_add_done_callback(fs[1050], count_cb, NULL));
    cr_assert_eq(pp_future_cancel(fs[1050]), 1);
    gate_open(1);
    for (int i = 0; i < N; i++)
        if (i != 1050)
            cr_assert_eq(result_long(fs[i]), (long)i * i);
    EVENTUALLY(atomic_load(&callbacks_seen) == 1, 10);
    pp_pool_destroy(pool);
}

/* ---- 6. a failed fork of a replacement ------------------------------------ */

/* Makes this test's processes ones that RLIMIT_NPROC binds (root is exempt). */
static void unprivileged(void)
{
    if (getuid() == 0) {
        cr_assert_eq(setgid(65534), 0);
        cr_assert_eq(setuid(65534), 0);
    }
}

static pid_t spawner_of_only_pool(void)
{
    pid_t kids[4];
    cr_assert_eq(children_of(getpid(), kids, 4), 1);
    return kids[0];
}

/* Sets the soft limit only, so that it can be raised again unprivileged. */
static void set_nproc(pid_t pid, rlim_t n)
{
    struct rlimit lim;
    cr_assert_eq(prlimit(pid, RLIMIT_NPROC, NULL, &lim), 0, "prlimit: %s", strerror(errno));
    lim.rlim_cur = n < lim.rlim_max ? n : lim.rlim_max;
    cr_assert_eq(prlimit(pid, RLIMIT_NPROC, &lim, NULL), 0, "prlimit: %s", strerror(errno));
}

Test(trust, a_failed_fork_is_retried, .timeout = 60)
{
    unprivileged();
    pp_pool *pool = pool_of(1);
    pid_t spawner = spawner_of_only_pool();
    set_nproc(spawner, 1); /* the user's processes already exceed it: no fork */
    pp_future *f = submit_long(pool, crash_on_negative_task, -1);
    cr_assert_eq(pp_future_result(f, 30, NULL, NULL), PP_ECRASHED);
    pp_future *g = submit_long(pool, square_task, 6);
    cr_assert_eq(pp_future_result(g, 0.3, NULL, NULL), PP_ETIMEOUT, "no worker can have started");
    set_nproc(spawner, RLIM_INFINITY);
    cr_assert_eq(result_long(g), 36, "the pool started a worker once fork worked again");
    pp_stats st;
    OK(pp_pool_stats(pool, &st));
    cr_assert_eq(st.workers_alive, 1);
    pp_pool_destroy(pool);
}

Test(trust, no_worker_for_seconds_breaks_the_pool_with_errno, .timeout = 60)
{
    unprivileged();
    pp_pool *pool = pool_of(1);
    set_nproc(spawner_of_only_pool(), 1);
    pp_future *f = submit_long(pool, crash_on_negative_task, -1);
    cr_assert_eq(pp_future_result(f, 30, NULL, NULL), PP_ECRASHED);
    pp_future *g = submit_long(pool, square_task, 6);
    int code;
    const char *msg;
    cr_assert_eq(pp_future_exception(g, 30, &code, &msg), PP_EBROKEN);
    cr_assert_not_null(msg);
    cr_assert_not_null(strstr(msg, "fork"), "message: %s", msg);
    cr_assert_not_null(strstr(msg, strerror(EAGAIN)), "message: %s", msg);
    pp_future *h;
    cr_assert_eq(pp_submit(pool, square_task, &(long){1}, sizeof(long), &h), PP_EBROKEN);
    pp_pool_destroy(pool);
}

/* ---- 7, 8, 16. blocking calls inside callbacks ---------------------------- */

struct cb_probe {
    pp_pool *pool;
    pp_future *pending; /* a future that will not finish while the callback runs */
    int wait_rc, wait_forever_rc, ac_rc, map_rc, stream_rc, stream_unordered_rc, result_rc, exception_rc,
        shutdown_rc, own_rc, poll_rc;
    _Atomic int done;
};

static void probe_cb(pp_future *f, void *ud)
{
    struct cb_probe *p = ud;
    pp_future *fs[1] = {p->pending};
    p->wait_rc = pp_wait(fs, 1, 5, PP_ALL_COMPLETED);
    p->wait_forever_rc = pp_wait(fs, 1, -1, PP_FIRST_COMPLETED);
    pp_as_completed *ac;
    pp_future *g = NULL;
    OK(pp_as_completed_begin(fs, 1, 5, &ac));
    p->ac_rc = pp_as_completed_next(ac, &g);
    pp_as_completed_end(ac);
    long in[4] = {1, 2, 3, 4}, out[4];
    p->map_rc = pp_map(p->pool, square_task, in, 4, sizeof *in, out, sizeof *out, NULL);
    pp_item items[2] = {{"a", 1}, {"b", 1}};
    for (int unordered = 0; unordered < 2; unordered++) {
        pp_map_iter *it;
        int rc =
            pp_map_begin(p->pool, forever_task, items, 2, &(pp_stream_opts){.unordered = unordered}, &it);
        if (rc == PP_OK) {
            pp_map_item m;
            rc = pp_map_next(it, &m);
            pp_map_end(it); /* cannot wait here: it kills what runs */
        }
        *(unordered ? &p->stream_unordered_rc : &p->stream_rc) = rc;
    }
    p->result_rc = pp_future_result(p->pending, 5, NULL, NULL);
    p->exception_rc = pp_future_exception(p->pending, -1, NULL, NULL);
    p->poll_rc = pp_future_result(p->pending, 0, NULL, NULL);
    p->own_rc = pp_future_result(f, -1, NULL, NULL); /* done: answers at once */
    p->shutdown_rc = pp_shutdown(p->pool, true, false);
    atomic_store(&p->done, 1);
}

static void check_probe(struct cb_probe *p)
{
    EVENTUALLY(atomic_load(&p->done), 30);
    cr_assert_eq(p->wait_rc, PP_ESTATE);
    cr_assert_eq(p->wait_forever_rc, PP_ESTATE);
    cr_assert_eq(p->ac_rc, PP_ESTATE);
    cr_assert_eq(p->map_rc, PP_ESTATE);
    cr_assert_eq(p->stream_rc, PP_ESTATE, "%s", pp_errname(p->stream_rc));
    cr_assert_eq(p->stream_unordered_rc, PP_ESTATE, "%s", pp_errname(p->stream_unordered_rc));
    cr_assert_eq(p->result_rc, PP_ESTATE);
    cr_assert_eq(p->exception_rc, PP_ESTATE);
    cr_assert_eq(p->poll_rc, PP_ETIMEOUT);
    cr_assert_eq(p->own_rc, PP_OK);
    cr_assert_eq(p->shutdown_rc, PP_ESTATE);
}

Test(trust, blocking_calls_in_a_library_thread_callback_are_refused, .timeout = 60)
{
    gates_init();
    pp_pool *pool = pool_of(2);
    struct cb_probe p = {.pool = pool};
    OK(pp_submit(pool, forever_task, NULL, 0, &p.pending));
    pp_future *f;
    OK(pp_submit(pool, block_task, "f", 1, &f)); /* ends once its callback is in place */
    wait_started(1);
    OK(pp_future_add_done_callback(f, probe_cb, &p));
    gate_open(1);
    check_probe(&p);
    cr_assert_eq(pp_future_kill(p.pending), 1);
    pp_pool_destroy(pool);
}

Test(trust, blocking_calls_in_an_inline_callback_are_refused, .timeout = 60)
{
    gates_init();
    pp_pool *pool = pool_of(2);
    struct cb_probe p = {.pool = pool};
    OK(pp_submit(pool, block_task, "p", 1, &p.pending));
    wait_started(1);
    pp_future *f = submit_long(pool, square_task, 2);
    result_long(f);
    OK(pp_future_add_done_callback(f, probe_cb, &p)); /* done: runs here, now */
    cr_assert_eq(atomic_load(&p.done), 1);
    check_probe(&p);
    gate_open(1);
    OK(pp_future_result(p.pending, 30, NULL, NULL));
    pp_pool_destroy(pool);
}

/* Waits at the gate, then returns 1 MiB. */
static int big_result_task(pp_task *t, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    if (!at_gate())
        return 6;
    size_t n = 1 << 20;
    unsigned char *p = pp_task_result_buffer(t, n); /* past the slot: asks the master */
    if (!p)
        return 5;
    memset(p, 0x5a, n);
    return 0;
}

struct poller {
    pp_future *other;
    _Atomic int rc;
};

static void poll_cb(pp_future *f, void *ud)
{
    (void)f;
    struct poller *p = ud;
    double until = now_s() + 20;
    while (!pp_future_done(p->other) && now_s() < until)
        ; /* a callback that polls: the monitor still grants result space */
    atomic_store(&p->rc, pp_future_result(p->other, 0, NULL, NULL));
}

Test(trust, a_callback_polling_a_future_that_needs_result_space, .timeout = 60)
{
    gates_init();
    pp_pool *pool = pool_of(2);
    struct poller p = {.rc = 1};
    pp_future *first;
    OK(pp_submit(pool, block_task, "f", 1, &first));         /* ends once its callback is in place */
    OK(pp_submit(pool, big_result_task, NULL, 0, &p.other)); /* asks for room as the callback polls */
    wait_started(2);
    OK(pp_future_add_done_callback(first, poll_cb, &p));
    gate_open(2);
    EVENTUALLY(atomic_load(&p.rc) != 1, 30);
    cr_assert_eq(atomic_load(&p.rc), PP_OK);
    pp_pool_destroy(pool);
}

/* ---- 9. a task that writes before its argument ---------------------------- */

static int underflow_task(pp_task *t, const void *arg, size_t len)
{
    memset((char *)arg - 200, 0x77, 200);
    return pp_task_return(t, arg, len);
}

Test(trust, a_task_underflowing_its_argument, .timeout = 60)
{
    pp_pool *pool = pool_of(2);
    for (size_t len = 8; len <= (1u << 20); len *= 32) {
        char *arg = calloc(1, len);
        pp_future *f;
        OK(pp_submit(pool, underflow_task, arg, len, &f));
        int rc = pp_future_result(f, 30, NULL, NULL);
        cr_assert_neq(rc, PP_ETIMEOUT, "len %zu: never settled", len);
        pp_future_release(f);
        free(arg);
        cr_assert_eq(result_long(submit_long(pool, square_task, 9)), 81, "the pool works on");
    }
    pp_pool_destroy(pool);
}

/* ---- 10. a task's processes end with its worker --------------------------- */

/* Leaves a child in the worker's process group (or, given a nonzero int,
   in a group of its own, still in the worker's session), and returns its
   pid. */
static int leave_child_task(pp_task *t, const void *arg, size_t len)
{
    bool own_group = len == sizeof(int) && *(const int *)arg;
    pid_t pid = fork();
    if (pid == 0) {
        if (own_group)
            setpgid(0, 0);
        for (;;)
            pause();
    }
    return pid > 0 ? pp_task_return(t, &pid, sizeof pid) : 3;
}

/* Runs leave_child_task on pool and returns the child's pid. */
static pid_t child_left_on(pp_pool *pool, int own_group)
{
    pp_future *f;
    OK(pp_submit(pool, leave_child_task, &own_group, sizeof own_group, &f));
    const void *data;
    size_t len;
    OK(pp_future_result(f, 30, &data, &len));
    cr_assert_eq(len, sizeof(pid_t));
    pid_t child;
    memcpy(&child, data, sizeof child);
    pp_future_release(f);
    return child;
}

Test(trust, destroy_returns_after_processes_a_task_started, .timeout = 60)
{
    pp_pool *pool = pool_of(1);
    pid_t child = child_left_on(pool, 0);
    cr_assert(!process_gone(child));
    pp_pool_destroy(pool);
    cr_assert(process_gone(child), "pid %d still runs after destroy", (int)child);
}

Test(trust, a_worker_leaving_normally_takes_its_group, .timeout = 60)
{
    pp_pool *pool;
    OK(pp_pool_create(&pool, &(pp_config){.max_workers = 1, .max_tasks_per_child = 1}));
    pid_t child = child_left_on(pool, 0);
    EVENTUALLY(process_gone(child), 10); /* its worker left after one task */
    pp_pool_destroy(pool);
}

/* ---- 11. nothing starts after terminate ----------------------------------- */

static int init_pipe[2];

static int counting_init(void *arg)
{
    (void)arg;
    return write(init_pipe[1], "i", 1) == 1 ? 0 : 1;
}

static int ignore_term_task(pp_task *t, const void *arg, size_t len)
{
    signal(SIGTERM, SIG_IGN);
    return block_task(t, arg, len);
}

Test(trust, no_worker_starts_after_terminate, .timeout = 60)
{
    gates_init();
    cr_assert_eq(pipe(init_pipe), 0);
    cr_assert_eq(fcntl(init_pipe[0], F_SETFL, O_NONBLOCK), 0);
    pp_pool *pool;
    OK(pp_pool_create(
        &pool, &(pp_config){.max_workers = 1, .max_tasks_per_child = 1, .initializer = counting_init}));
    pp_future *f;
    OK(pp_submit(pool, ignore_term_task, "t", 1, &f));
    wait_started(1);
    OK(pp_pool_terminate(pool, SIGTERM)); /* the task ignores it and finishes */
    gate_open(1);
    OK(pp_future_result(f, 30, NULL, NULL));
    pp_stats st;
    EVENTUALLY(pp_pool_stats(pool, &st) == PP_OK && st.workers_alive == 0, 10);
    pp_pool_destroy(pool);
    char buf[8];
    cr_assert_eq(read(init_pipe[0], buf, sizeof buf), 1, "the initializer ran once, not again");
}

/* ---- 12. the pool's own kills never break it ------------------------------ */

static int sleep_us_task(pp_task *t, const void *arg, size_t len)
{
    (void)len;
    long us = *(const long *)arg;
    usleep((useconds_t)us);
    return pp_task_return(t, arg, sizeof us);
}

Test(trust, deadlines_at_the_finish_line_never_break_the_pool, .timeout = 120)
{
    pp_pool *pool;
    OK(pp_pool_create(&pool, &(pp_config){.max_workers = 2, .on_crash = PP_BREAK_POOL}));
    enum { N = 150 };
    pp_future *fs[N];
    for (int i = 0; i < N; i++) {
        long us = 2000 + (i % 7) * 100;
        OK(pp_submit_opts(pool, sleep_us_task, &us, sizeof us, &(pp_task_opts){.deadline = 0.0023}, &fs[i]));
    }
    int ok = 0, late = 0;
    for (int i = 0; i < N; i++) {
        int rc = pp_future_result(fs[i], 30, NULL, NULL);
        cr_assert(rc == PP_OK || rc == PP_EDEADLINE, "future %d: %s", i, pp_errname(rc));
        ok += rc == PP_OK;
        late += rc == PP_EDEADLINE;
    }
    cr_assert_eq(ok + late, N);
    cr_assert_eq(result_long(submit_long(pool, square_task, 5)), 25, "the pool is not broken");
    pp_pool_destroy(pool);
}

Test(trust, terminate_reports_crashed_and_never_breaks, .timeout = 60)
{
    gates_init();
    pp_pool *pool;
    OK(pp_pool_create(&pool, &(pp_config){.max_workers = 2, .on_crash = PP_BREAK_POOL}));
    pp_future *a, *b;
    OK(pp_submit(pool, block_task, "a", 1, &a));
    OK(pp_submit(pool, block_task, "b", 1, &b));
    wait_started(2);
    OK(pp_pool_terminate(pool, SIGTERM));
    int code;
    cr_assert_eq(pp_future_exception(a, 30, &code, NULL), PP_ECRASHED);
    cr_assert_eq(code, -SIGTERM);
    cr_assert_eq(pp_future_exception(b, 30, &code, NULL), PP_ECRASHED);
    cr_assert_eq(code, -SIGTERM);
    pp_pool_destroy(pool);
}

/* ---- 13. pp_map's timeout keeps what finished ------------------------------ */

static int fast_or_slow_task(pp_task *t, const void *arg, size_t len)
{
    (void)len;
    long v = *(const long *)arg;
    if (v < 0)
        sleep(30);
    long r = v * 10;
    return pp_task_return(t, &r, sizeof r);
}

Test(trust, map_timeout_keeps_finished_items, .timeout = 60)
{
    for (size_t chunk = 1; chunk <= 4; chunk += 3) {
        pp_pool *pool = pool_of(2);
        enum { N = 12 };
        long in[N], out[N];
        int status[N];
        for (int i = 0; i < N; i++)
            in[i] = i == 5 || i == 10 ? -1 : i; /* 5 and 10 never finish */
        int rc = pp_map(pool, fast_or_slow_task, in, N, sizeof *in, out, sizeof *out,
                        &(pp_map_opts){.chunksize = chunk, .timeout = 3, .status = status});
        cr_assert_eq(rc, PP_ETIMEOUT);
        for (int i = 0; i < N; i++) {
            if (in[i] < 0) {
                cr_assert_eq(status[i], PP_ETIMEOUT);
            } else if (i != 11 && (chunk == 1 || (i != 6 && i != 7))) {
                /* items after a slow one in its chunk (or after both workers
                   met one) never started; the rest finished */
                cr_assert_eq(status[i], PP_OK, "chunk %zu item %d: %s", chunk, i, pp_errname(status[i]));
                cr_assert_eq(out[i], in[i] * 10);
            }
        }
        pp_pool_terminate(pool, SIGKILL); /* the slow ones run on otherwise */
        pp_pool_destroy(pool);
    }
}

/* ---- 14. memory: what is asked, and no more than fits ---------------------- */

static uint64_t rss_shmem(void)
{
    FILE *fp = fopen("/proc/self/status", "r");
    char line[256];
    unsigned long kb = 0;
    while (fp && fgets(line, sizeof line, fp))
        if (sscanf(line, "RssShmem: %lu kB", &kb) == 1)
            break;
    if (fp)
        fclose(fp);
    return (uint64_t)kb * 1024;
}

static uint64_t mem_total(void)
{
    return (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGESIZE);
}

Test(trust, a_payload_commits_its_size, .timeout = 60)
{
    pp_pool *pool = pool_of(1);
    size_t len = 64 << 20;
    uint64_t before = rss_shmem();
    void *buf = pp_buffer_alloc(pool, len);
    cr_assert_not_null(buf);
    uint64_t grown = rss_shmem() - before;
    cr_assert_leq(grown, len + len / 4, "a %zu-byte buffer made %llu bytes resident", len,
                  (unsigned long long)grown);
    pp_buffer_free(pool, buf);
    pp_pool_destroy(pool);
}

Test(trust, requests_past_memory_are_enomem, .timeout = 60)
{
    if (instrumented())
        cr_skip_test("the sanitizers reserve their own shadow memory");
    pp_pool *pool = pool_of(1);
    uint64_t huge = 2 * mem_total();
    cr_assert_null(pp_buffer_alloc(pool, huge));
    pp_future *f;
    cr_assert_eq(pp_submit_opts(pool, echo_task, "x", 1, &(pp_task_opts){.result_hint = huge}, &f),
                 PP_ENOMEM);
    cr_assert_null(f);
    cr_assert_eq(result_long(submit_long(pool, square_task, 4)), 16);
    pp_pool_destroy(pool);
}

/* ---- 15. cpu_limit counts the processes a task starts --------------------- */

static int burn_in_child_task(pp_task *t, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    pid_t pid = fork();
    if (pid == 0) {
        double until = now_s() + 40;
        for (volatile unsigned long i = 0; now_s() < until; i++)
            ;
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
    return pp_task_return(t, "done", 4);
}

Test(trust, cpu_limit_counts_a_child_the_task_waits_for, .timeout = 60)
{
    pp_pool *pool = pool_of(1);
    pp_future *f;
    double t0 = now_s();
    OK(pp_submit_opts(pool, burn_in_child_task, NULL, 0, &(pp_task_opts){.cpu_limit = 0.5}, &f));
    int code;
    const char *msg;
    cr_assert_eq(pp_future_exception(f, 30, &code, &msg), PP_ELIMIT, "%s", msg ? msg : "");
    cr_assert_lt(now_s() - t0, 20, "killed near its limit, not when the child was done");
    cr_assert_eq(code, -SIGKILL);
    pp_pool_destroy(pool);
}

/* ---- 16. shutdown(wait) in a callback run on the caller's thread ----------- */

static _Atomic int inline_shutdown_rc = 1;

static void shutdown_cb(pp_future *f, void *ud)
{
    (void)f;
    atomic_store(&inline_shutdown_rc, pp_shutdown(ud, true, false));
}

Test(trust, shutdown_wait_in_an_inline_callback_is_estate, .timeout = 60)
{
    pp_pool *pool = pool_of(1);
    pp_future *f = submit_long(pool, square_task, 2);
    result_long(f);
    OK(pp_future_add_done_callback(f, shutdown_cb, pool));
    cr_assert_eq(atomic_load(&inline_shutdown_rc), PP_ESTATE);
    pp_pool_destroy(pool);
}

/* ---- a task that reads the terminal --------------------------------------- */

static int read_tty_task(pp_task *t, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    int fd = open("/dev/tty", O_RDWR | O_NOCTTY);
    if (fd < 0)
        return 100 + errno;
    char c;
    ssize_t n = read(fd, &c, 1); /* a background job: EIO, not a stop for good */
    int err = n < 0 ? errno : 0;
    if (write(fd, "x", 1) < 0) /* and writing works under tostop */
        err = err ? err : 1000 + errno;
    close(fd);
    return pp_task_return(t, &err, sizeof err);
}

Test(trust, a_task_reading_the_terminal_is_not_stopped, .timeout = 60)
{
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    cr_assert_geq(master, 0);
    cr_assert_eq(grantpt(master), 0);
    cr_assert_eq(unlockpt(master), 0);
    const char *name = ptsname(master);
    cr_assert_not_null(name);
    pid_t child = fork();
    if (child == 0) { /* a session of its own, the pty its terminal, itself in the foreground */
        if (setsid() < 0)
            _exit(2);
        int tty = open(name, O_RDWR);
        if (tty < 0 || ioctl(tty, TIOCSCTTY, 0) != 0)
            _exit(3);
        struct termios tio;
        tcgetattr(tty, &tio);
        tio.c_lflag |= TOSTOP;
        tcsetattr(tty, TCSANOW, &tio);
        pp_pool *pool;
        if (pp_pool_create(&pool, &(pp_config){.max_workers = 1}) != PP_OK)
            _exit(4);
        pp_future *f;
        const void *data;
        if (pp_submit(pool, read_tty_task, NULL, 0, &f) != PP_OK ||
            pp_future_result(f, 20, &data, NULL) != PP_OK)
            _exit(5);
        int err = *(const int *)data;
        pp_pool_destroy(pool);
        _exit(err == EIO ? 0 : 6);
    }
    int st;
    cr_assert_eq(waitpid(child, &st, 0), child);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %d", WEXITSTATUS(st));
    close(master);
}

/* ---- what a death leaves of a map chunk runs after a plain shutdown -------- */

static int gated_or_crash_task(pp_task *t, const void *arg, size_t len)
{
    (void)len;
    long v = *(const long *)arg;
    if (v == 0) { /* the first item holds the chunk until the gate opens */
        char c = 's';
        if (write(started[1], &c, 1) != 1 || read(gate[0], &c, 1) != 1)
            return 99;
    }
    if (v == 2)
        raise(SIGKILL);
    long r = v + 100;
    return pp_task_return(t, &r, sizeof r);
}

struct map_run {
    pp_pool *pool;
    long in[6], out[6];
    int status[6], rc;
};

static void *map_thread(void *arg)
{
    struct map_run *m = arg;
    m->rc = pp_map(m->pool, gated_or_crash_task, m->in, 6, sizeof(long), m->out, sizeof(long),
                   &(pp_map_opts){.chunksize = 6, .status = m->status});
    return NULL;
}

Test(trust, a_chunk_s_rest_runs_after_a_plain_shutdown, .timeout = 60)
{
    gates_init();
    struct map_run m = {.pool = pool_of(1), .in = {0, 1, 2, 3, 4, 5}};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, map_thread, &m), 0);
    wait_started(1);
    OK(pp_shutdown(m.pool, false, false)); /* submitted work still runs */
    gate_open(1);
    pthread_join(th, NULL);
    cr_assert_eq(m.rc, PP_ECRASHED);
    for (int i = 0; i < 6; i++) {
        cr_assert_eq(m.status[i], i == 2 ? PP_ECRASHED : PP_OK, "item %d: %s", i, pp_errname(m.status[i]));
        if (i != 2)
            cr_assert_eq(m.out[i], i + 100);
    }
    pp_pool_destroy(m.pool);
}

/* ---- what a hostile review found ------------------------------------------ */

/* Finds this task's own RUNNING state word below its (inline) argument and
   writes kind over it, same generation: a task lying about its state. */
static int forge_state_task(pp_task *t, const void *arg, size_t len)
{
    (void)t;
    (void)len;
    uint32_t kind = *(const uint32_t *)arg;
    uintptr_t p = ((uintptr_t)arg & ~(uintptr_t)63) - 64;
    for (int i = 0; i < 8; i++, p -= 64) {
        _Atomic uint32_t *w = (_Atomic uint32_t *)p;
        uint32_t st = atomic_load(w);
        if ((st & 7u) == 4u && ((st >> 3) & 0x7ffu) == (uint32_t)pp_worker_id()) {
            atomic_store(w, (st & ~0x3fffu) | kind);
            break;
        }
    }
    sleep(30); /* past any deadline, CPU-free */
    return 0;
}

Test(trust, a_task_forging_its_own_state_cannot_escape, .timeout = 60)
{
    for (uint32_t kind = 1; kind <= 3; kind += 2) { /* PENDING, then DONE */
        pp_pool *pool = pool_of(2);
        pp_future *f;
        OK(pp_submit_opts(pool, forge_state_task, &kind, sizeof kind, &(pp_task_opts){.deadline = 0.3}, &f));
        int rc = pp_future_result(f, 20, NULL, NULL);
        cr_assert(rc == PP_ECRASHED || rc == PP_EDEADLINE || (kind == 3 && rc == PP_OK), "kind %u: %s", kind,
                  pp_errname(rc));
        double t0 = now_s();
        pp_pool_destroy(pool);
        cr_assert_lt(now_s() - t0, slack(5), "destroy waited on the lying task"); /* it sleeps 30 s */
    }
}

static int stop_parent_task(pp_task *t, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    kill(getppid(), SIGSTOP); /* the fork server */
    return pp_task_return(t, "s", 1);
}

Test(trust, a_task_stopping_the_fork_server, .timeout = 60)
{
    pp_pool *pool = pool_of(2);
    pp_future *f;
    OK(pp_submit(pool, stop_parent_task, NULL, 0, &f));
    OK(pp_future_result(f, 20, NULL, NULL));
    long us = 3000000;
    OK(pp_submit_opts(pool, sleep_us_task, &us, sizeof us, &(pp_task_opts){.deadline = 0.2}, &f));
    cr_assert_eq(pp_future_result(f, 20, NULL, NULL), PP_EDEADLINE);
    double t0 = now_s();
    pp_pool_destroy(pool);
    cr_assert_lt(now_s() - t0, slack(5));
}

static int leave_busy_child_task(pp_task *t, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    if (fork() == 0) {
        double until = now_s() + 1.2;
        while (now_s() < until)
            ;
        pause();
        _exit(0);
    }
    usleep(50000); /* a few clock ticks between its start and the next task's */
    return pp_task_return(t, "l", 1);
}

Test(trust, cpu_limit_ignores_what_an_earlier_task_left, .timeout = 60)
{
    pp_pool *pool = pool_of(1);
    pp_future *f;
    OK(pp_submit(pool, leave_busy_child_task, NULL, 0, &f));
    OK(pp_future_result(f, 20, NULL, NULL));
    long us = 1500000; /* meanwhile the left child burns 1.2 s */
    OK(pp_submit_opts(pool, sleep_us_task, &us, sizeof us, &(pp_task_opts){.cpu_limit = 0.5}, &f));
    int code;
    const char *msg;
    cr_assert_eq(pp_future_exception(f, 20, &code, &msg), PP_OK, "%s", msg ? msg : "");
    pp_pool_destroy(pool);
}

Test(trust, a_child_in_a_group_of_its_own_dies_with_the_pool, .timeout = 60)
{
    pp_pool *pool = pool_of(1);
    pid_t child = child_left_on(pool, 1);
    pp_pool_destroy(pool);
    cr_assert(process_gone(child), "pid %d (setpgid) outlived destroy: only setsid() may", (int)child);
}

/* Runs body in a child placed in a fresh memory cgroup of `limit` bytes;
   returns the child's wait status, -1 when no cgroup can be made here. */
static int in_memory_cgroup(uint64_t limit, void (*body)(void))
{
    char mine[256] = "", dir[512], path[600], line[512];
    FILE *fp = fopen("/proc/self/cgroup", "r");
    bool v1 = false;
    while (fp && fgets(line, sizeof line, fp)) {
        char *m = strstr(line, ":memory:");
        if (m && sscanf(m + 8, "%255s", mine) == 1)
            v1 = true;
        else if (!strncmp(line, "0::", 3) && !mine[0])
            sscanf(line + 3, "%255s", mine);
    }
    if (fp)
        fclose(fp);
    const char *root = v1 ? "/sys/fs/cgroup/memory" : "/sys/fs/cgroup";
    snprintf(dir, sizeof dir, "%s%s/pp_test_%d", root, strcmp(mine, "/") ? mine : "", (int)getpid());
    if (mkdir(dir, 0700) != 0)
        return -1;
    snprintf(path, sizeof path, "%s/%s", dir, v1 ? "memory.limit_in_bytes" : "memory.max");
    FILE *lim = fopen(path, "w");
    if (!lim || fprintf(lim, "%llu", (unsigned long long)limit) < 0 || fclose(lim) != 0) {
        rmdir(dir);
        return -1;
    }
    snprintf(path, sizeof path, "%s/cgroup.procs", dir);
    pid_t child = fork();
    if (child == 0) {
        FILE *procs = fopen(path, "w");
        if (!procs || fprintf(procs, "%d", (int)getpid()) < 0 || fclose(procs) != 0)
            _exit(77);
        body();
        _exit(0);
    }
    int st = 0;
    waitpid(child, &st, 0);
    for (int i = 0; i < 100 && rmdir(dir) != 0; i++)
        usleep(10000);
    return st;
}

static void many_buffers(void)
{
    pp_pool *pool;
    if (pp_pool_create(&pool, &(pp_config){.max_workers = 1}) != PP_OK)
        _exit(2);
    int n = 0;
    while (n < 200 && pp_buffer_alloc(pool, 15 << 20)) /* each under the size that asks on its own */
        n++;
    pp_pool_destroy(pool);
    _exit(n < 200 ? 0 : 3); /* refused before the limit, never killed */
}

static void many_submits(void)
{
    static char arg[15 << 20];
    memset(arg, 3, sizeof arg);
    pp_pool *pool;
    if (pp_pool_create(&pool, &(pp_config){.max_workers = 1}) != PP_OK)
        _exit(2);
    pp_future *f;
    long us = 2000000;
    if (pp_submit(pool, sleep_us_task, &us, sizeof us, &f) != PP_OK)
        _exit(4);
    int rc = PP_OK;
    for (int n = 0; n < 120 && rc == PP_OK; n++)
        if ((rc = pp_submit(pool, echo_task, arg, 16, &f)) == PP_OK &&
            (rc = pp_submit(pool, echo_task, arg, sizeof arg, &f)) == PP_OK)
            pp_future_release(f);
    pp_pool_terminate(pool, SIGKILL);
    pp_pool_destroy(pool);
    _exit(rc == PP_ENOMEM ? 0 : 5);
}

Test(trust, payloads_in_a_memory_cgroup_are_refused_not_killed, .timeout = 120)
{
    if (instrumented() || getuid() != 0)
        cr_skip_test("needs root for a memory cgroup, and no sanitizer's shadow memory");
    int st = in_memory_cgroup((uint64_t)1 << 30, many_buffers);
    if (st == -1)
        cr_skip_test("no memory cgroup can be made here");
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "buffers: status %d (signal %d)", WEXITSTATUS(st),
              WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    st = in_memory_cgroup((uint64_t)1 << 30, many_submits);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "submits: status %d (signal %d)", WEXITSTATUS(st),
              WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}
