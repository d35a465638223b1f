/* SPDX-License-Identifier: MIT */
/*
 * agent: one rank's relay between the master and a local pool.
 *
 * The agent turns each task the master sends into a submit to its local
 * pool (a large argument is received straight into a pool buffer and
 * submitted without a copy), and sends back, in one report per round, which
 * tasks have started and what the finished ones returned: status, code,
 * message, what they cost, and their result bytes (a crashed task's too: a
 * map chunk's statuses say which items finished). User code runs only in
 * the local pool's workers, so whatever a task does, the agent and its MPI
 * rank live on, and the failure is that task's future alone.
 *
 * Finished tasks reach it through done-callbacks, which queue them and wake
 * it; which tasks have started it reads every STARTED_SCAN_NS. The agent
 * makes every MPI call from one thread. While tasks run it sleeps on the
 * callbacks' wake-up word (a completion wakes it at once), for at most the
 * channel's backoff, so new tasks and control messages are seen within
 * BUSY_NAP_NS; idle, it sleeps in the backoff alone, up to IDLE_NAP_NS. It reports at least
 * every HEARTBEAT_NS (an empty report is the heartbeat); a master silent
 * for MASTER_LOST_NS is taken to be gone: the agent ends its pool and exits.
 */
#define _GNU_SOURCE
#include "agent.h"

#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../pool.h"
#include "../sync.h"
#include <stdatomic.h>
#include "procpool_mpi.h"
#include "wire.h"

#define HEARTBEAT_NS   100000000ull
#define MASTER_LOST_NS 5000000000ull
#define BUSY_NAP_NS    1000000ull /* longest poll interval while tasks run here */
#define IDLE_NAP_NS    20000000ull /* and while none do: a task after a pause waits this long at most */

#define STARTED_SCAN_NS 200000ull /* how often unstarted tasks are looked at */

struct futures { /* a growing list */
    pp_future **f;
    size_t n, cap;
};

struct landing { /* a task whose large argument is on its way */
    struct wire_task t;
    void *buf; /* the pool buffer it lands in; NULL: no memory, dropped */
    struct pp_arrival in;
};

struct agent {
    struct pp_chan *c;
    pp_pool *pool;
    const struct pp_modtab *tab;
    size_t running;         /* tasks submitted here, not yet reported finished */
    struct futures waiting; /* tasks not yet seen started */
    pthread_mutex_t done_lock;
    struct futures done;    /* finished, to report (done callbacks add them) */
    _Atomic uint32_t done_seq;
    uint64_t scanned_at;
    struct pp_bytes started, results;
    uint32_t nstarted, nresults;
    struct pp_bigs bigs; /* large results, sent after the report */
    struct landing *landings; /* in the order sent */
    size_t nlandings, landings_cap;
    uint64_t last_sent, last_heard;
};

static void release_future(void *f)
{
    pp_future_release(f);
}

/* Adds a result record: status, code, message, result bytes, cost. A large
   result is sent from where it lies, the future f's result: the record then
   takes f, released once sent (returns true). */
static bool add_result(struct agent *a, struct wire_result r, const char *msg, const void *data, pp_future *f)
{
    r.msg_len = msg ? (uint32_t)strnlen(msg, PP_MESSAGE_MAX) : 0;
    if (r.len > WIRE_INLINE) {
        if (f && pp__bigs_add(&a->bigs, (void *)data, r.len, (struct pp_release){release_future, f})) {
            r.big = 1;
        } else {
            r = (struct wire_result){.id = r.id, .status = PP_ENOMEM, .worker = -1};
            msg = "the agent had no memory to send the result";
            r.msg_len = (uint32_t)strlen(msg);
        }
    }
    pp__bytes_put(&a->results, &r, sizeof r);
    pp__bytes_put(&a->results, msg, r.msg_len);
    if (!r.big)
        pp__bytes_put(&a->results, data, r.len);
    a->nresults++;
    return r.big;
}

static void fail_task(struct agent *a, uint64_t id, int status, const char *msg)
{
    add_result(a, (struct wire_result){.id = id, .status = status, .worker = -1}, msg, NULL, NULL);
}

static bool push(struct futures *l, pp_future *f)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        pp_future **g = realloc(l->f, cap * sizeof *g);
        if (!g)
            return false;
        l->f = g;
        l->cap = cap;
    }
    l->f[l->n++] = f;
    return true;
}

/* A local task finished (on the local pool's monitor thread, or at once). */
static void on_done(pp_future *f, void *ud)
{
    struct agent *a = ud;
    pthread_mutex_lock(&a->done_lock);
    bool ok = push(&a->done, f);
    pthread_mutex_unlock(&a->done_lock);
    if (!ok) /* no memory: the agent finds it when it scans */
        return;
    atomic_fetch_add(&a->done_seq, 1);
    pp__futex_wake(&a->done_seq, 1, false);
}

/* Follows a submitted task; false when it cannot be followed. The task's id
   rides in its future's data pointer. */
static bool track(struct agent *a, pp_future *f)
{
    if (!push(&a->waiting, f))
        return false;
    a->running++;
    if (pp_future_add_done_callback(f, on_done, a) != PP_OK) {
        a->waiting.n--;
        a->running--;
        return false;
    }
    return true;
}

static uint64_t id_of(const pp_future *f)
{
    return (uint64_t)(uintptr_t)pp_future_data(f);
}

/* Submits a task whose argument is here: inline in the message, or in buf,
   a pool buffer the submit takes (NULL with a large argument: no memory). */
static void submit_task(struct agent *a, const struct wire_task *t, const void *inline_arg, void *buf)
{
    char msg[128];
    if (t->big && !buf) {
        fail_task(a, t->id, PP_ENOMEM, "the agent had no memory for the argument");
        return;
    }
    pp_fn fn = pp__fn_decode(a->tab, t->fn_module, t->fn_off);
    if (!fn) {
        if (buf)
            pp_buffer_free(a->pool, buf);
        snprintf(msg, sizeof msg, "rank %d has no function at module %u offset %#llx", pp_mpi_rank(),
                 (unsigned)t->fn_module, (unsigned long long)t->fn_off);
        fail_task(a, t->id, PP_EINVAL, msg);
        return;
    }
    pp_task_opts o = {.deadline = (double)t->deadline_ns / 1e9,
                      .cpu_limit = (double)t->cpu_limit_ns / 1e9,
                      .result_hint = (size_t)t->result_hint,
                      .data = (void *)(uintptr_t)t->id};
    pp_future *f = NULL;
    int rc = buf ? pp_submit_buffer(a->pool, fn, buf, t->arg_len, &o, &f)
                 : pp_submit_opts(a->pool, fn, inline_arg, t->arg_len, &o, &f);
    if (rc == PP_OK && !track(a, f)) {
        pp_future_cancel(f);
        pp_future_release(f);
        rc = PP_ENOMEM;
    }
    if (rc != PP_OK) {
        snprintf(msg, sizeof msg, "rank %d could not submit the task", pp_mpi_rank());
        fail_task(a, t->id, rc, msg);
    }
}

/* Takes one task of a TASKS message. A large argument is received into a
   pool buffer without blocking (the agent goes on reporting meanwhile: a
   64 MiB argument took 0.8 s to come in on a loaded machine, past the
   master's patience), and submitted once it has landed (land). */
static void take_task(struct agent *a, const struct wire_task *t, const unsigned char *inline_arg)
{
    if (!t->big) {
        submit_task(a, t, inline_arg, NULL);
        return;
    }
    struct landing l = {.t = *t, .buf = pp_buffer_alloc(a->pool, t->arg_len)}; /* NULL: dropped on arrival */
    if (a->nlandings == a->landings_cap) {
        size_t cap = a->landings_cap ? 2 * a->landings_cap : 8;
        struct landing *g = realloc(a->landings, cap * sizeof *g);
        if (g) {
            a->landings = g;
            a->landings_cap = cap;
        }
    }
    int rc = pp__chan_post_big(a->c, 0, l.buf, t->arg_len, &l.in);
    if (a->nlandings < a->landings_cap && rc == PP_OK) {
        a->landings[a->nlandings++] = l;
        return;
    }
    while (rc == PP_OK && !pp__chan_arrived(&l.in)) /* no memory to follow it: wait for it here */
        ;
    if (l.buf)
        pp_buffer_free(a->pool, l.buf);
    fail_task(a, t->id, rc == PP_OK ? PP_ENOMEM : rc, "the agent could not receive the argument");
}

/* Submits the tasks whose large argument has landed, in the order sent. */
static void land(struct agent *a)
{
    size_t done = 0;
    while (done < a->nlandings && pp__chan_arrived(&a->landings[done].in)) {
        submit_task(a, &a->landings[done].t, NULL, a->landings[done].buf);
        done++;
    }
    if (done) {
        memmove(a->landings, a->landings + done, (a->nlandings - done) * sizeof *a->landings);
        a->nlandings -= done;
        pp__chan_active(a->c);
    }
}

static void take_tasks(struct agent *a, const unsigned char *m, size_t len)
{
    uint32_t count;
    if (len < 8)
        return;
    memcpy(&count, m, 4);
    size_t at = 8;
    for (uint32_t i = 0; i < count && len - at >= sizeof(struct wire_task); i++) {
        struct wire_task t;
        memcpy(&t, m + at, sizeof t);
        at += sizeof t;
        uint64_t inline_len = t.big ? 0 : t.arg_len;
        if (inline_len > len - at)
            return; /* malformed: the master never sends it */
        take_task(a, &t, m + at);
        at += wire_pad8(inline_len);
    }
}

/* Reads what the master sent; returns false when it says exit. */
static bool read_master(struct agent *a)
{
    int flag = 0;
    MPI_Status st;
    while (MPI_Iprobe(0, MPI_ANY_TAG, a->c->comm, &flag, &st) == MPI_SUCCESS && flag) {
        size_t len = 0;
        unsigned char *m = pp__chan_recv(a->c, &st, &len);
        a->last_heard = pp__now_ns();
        if (!m)
            continue;
        struct wire_ctrl ctrl = {0};
        if (st.MPI_TAG == TAG_CTRL && len >= sizeof ctrl)
            memcpy(&ctrl, m, sizeof ctrl);
        if (st.MPI_TAG == TAG_TASKS) {
            take_tasks(a, m, len);
            pp__chan_active(a->c);
        }
        free(m);
        if (ctrl.op == CTRL_TERMINATE)
            pp_pool_terminate(a->pool, ctrl.arg);
        else if (ctrl.op == CTRL_EXIT)
            return false;
    }
    return true;
}

/* Notes the tasks that have started since the last look. */
static void scan_started(struct agent *a)
{
    uint64_t now = pp__now_ns();
    if (now - a->scanned_at < STARTED_SCAN_NS)
        return;
    a->scanned_at = now;
    for (size_t i = 0; i < a->waiting.n;) {
        pp_future *f = a->waiting.f[i];
        if (!pp_future_running(f) && !pp_future_done(f)) {
            i++;
            continue;
        }
        uint64_t id = id_of(f);
        pp__bytes_put(&a->started, &id, sizeof id);
        a->nstarted++;
        a->waiting.f[i] = a->waiting.f[--a->waiting.n];
    }
}

/* Turns a finished task into a result record, and lets its future go. */
static void finish(struct agent *a, pp_future *f)
{
    for (size_t i = 0; i < a->waiting.n; i++)
        if (a->waiting.f[i] == f) { /* finished before a scan saw it start */
            uint64_t id = id_of(f);
            pp__bytes_put(&a->started, &id, sizeof id);
            a->nstarted++;
            a->waiting.f[i] = a->waiting.f[--a->waiting.n];
            break;
        }
    int code = 0;
    const char *msg = NULL;
    int status = pp_future_exception(f, 0, &code, &msg);
    pp_task_info info = {0};
    pp_future_info(f, &info);
    struct wire_result r = {.id = id_of(f),
                            .status = status,
                            .code = code,
                            .worker = info.worker_id,
                            .pid = info.pid,
                            .len = f->result ? f->result_len : 0,
                            .run_ns = (uint64_t)(info.wall_s * 1e9),
                            .user_us = (uint64_t)(info.user_cpu_s * 1e6),
                            .sys_us = (uint64_t)(info.sys_cpu_s * 1e6),
                            .peak_rss = info.peak_rss_bytes};
    if (status != PP_OK && status != PP_ECRASHED)
        r.len = 0; /* a crashed task keeps what it reserved (map.c reads it) */
    if (!add_result(a, r, msg, f->result, f))
        pp_future_release(f);
    a->running--;
}

/* Collects what finished since the last round; true if anything did. */
static bool collect(struct agent *a)
{
    pthread_mutex_lock(&a->done_lock);
    struct futures done = a->done;
    a->done = (struct futures){0};
    pthread_mutex_unlock(&a->done_lock);
    for (size_t i = 0; i < done.n; i++)
        finish(a, done.f[i]);
    free(done.f);
    return done.n > 0;
}

/* Sends the round's report (or a heartbeat), then its large results. */
static void report(struct agent *a)
{
    uint64_t now = pp__now_ns();
    if (!a->nstarted && !a->nresults && now - a->last_sent < HEARTBEAT_NS)
        return;
    struct pp_bytes m = {0};
    uint32_t head[2] = {a->nstarted, a->nresults};
    pp__bytes_put(&m, head, sizeof head);
    if (a->started.len)
        pp__bytes_put(&m, a->started.p, a->started.len);
    if (a->results.len)
        pp__bytes_put(&m, a->results.p, a->results.len);
    if (!m.failed) {
        pp__chan_send(a->c, 0, TAG_REPORT, m.p, m.len, pp__release_free(m.p));
        pp__bigs_send(a->c, 0, &a->bigs, false);
        a->started.len = a->results.len = 0;
        a->nstarted = a->nresults = 0;
        a->started.failed = a->results.failed = false;
        a->last_sent = now;
    } else {
        free(m.p); /* no memory: the records wait for the next round */
    }
}

_Noreturn void pp__agent_main(struct pp_chan *c, pp_pool *local, const struct pp_modtab *tab)
{
    struct agent a = {.c = c, .pool = local, .tab = tab};
    prctl(PR_SET_TIMERSLACK, 1000UL); /* its short naps are meant: no 50 us of slack on each */
    pthread_mutex_init(&a.done_lock, NULL);
    a.last_heard = a.last_sent = pp__now_ns();
    pp__chan_active(c);
    while (read_master(&a) && pp__now_ns() - a.last_heard < MASTER_LOST_NS) {
        uint32_t seen = atomic_load(&a.done_seq);
        land(&a);
        if (collect(&a))
            pp__chan_active(c);
        scan_started(&a);
        report(&a);
        pp__chan_progress(c);
        uint64_t nap = pp__chan_nap(c, a.nlandings ? PP_SENDING_NAP_NS : a.running ? BUSY_NAP_NS : IDLE_NAP_NS);
        if (a.running && nap) /* a completion ends the nap */
            pp__futex_wait(&a.done_seq, seen, false, pp__now_ns() + nap);
        else
            pp__chan_sleep(nap);
    }
    for (size_t i = 0; i < a.nlandings; i++) /* arguments that will never come */
        for (int k = 0; k < a.landings[i].in.n; k++) {
            MPI_Cancel(&a.landings[i].in.req[k]);
            MPI_Request_free(&a.landings[i].in.req[k]);
        }
    if (pp__now_ns() - a.last_heard >= MASTER_LOST_NS)
        pp__chan_forget(c, 0); /* nobody reads what is on its way */
    else
        pp__chan_flush(c); /* large results are read from the pool's memory */
    pp_pool_terminate(local, SIGKILL); /* tasks still here have nobody to go to */
    pp_pool_destroy(local);            /* runs the last callbacks; their futures are freed with it */
    pp__chan_send(c, 0, TAG_BYE, NULL, 0, (struct pp_release){0});
    if (pp__now_ns() - a.last_heard >= MASTER_LOST_NS)
        pp__chan_forget(c, 0);
    pp__chan_flush(c);
    MPI_Comm_free(&c->comm);
    MPI_Finalize();
    exit(0);
}
