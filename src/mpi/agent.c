/* SPDX-License-Identifier: MIT */
/*
 * agent: one rank's relay between the master and a local pool.
 *
 * The agent turns each task the master sends into a submit to its local
 * pool (a large argument is received straight into a pool buffer, without
 * blocking, and submitted without a copy once it has landed), and sends
 * back, in one report per round, which tasks have started, what the
 * finished ones returned (status, code, message, cost and result bytes; a
 * crashed task's too: a map chunk's statuses say which items finished), and
 * its pool's worker counters. User code runs only in the local pool's
 * workers, so whatever a task does, the agent and its rank live on.
 *
 * Each round it reads everything the master has sent before acting on any
 * of it, so an agent that was stopped and finds itself dropped kills its
 * workers before it submits what waited for it. It reports at least every
 * heartbeat (an empty report is the heartbeat). It ends when told to exit
 * (its pool is destroyed in order, and it says goodbye), when told it was
 * dropped, or when the master has been silent for master_lost_ns: then it
 * kills its workers at once and leaves with a nonzero status. Waiting:
 * pace.h; finding finished tasks: inflight.h.
 */
#define _GNU_SOURCE
#include "agent.h"

#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "../future.h"
#include "../sync.h"
#include "bytes.h"
#include "inflight.h"
#include "wire.h"

struct landing { /* a task whose large argument is on its way */
    struct wire_task t;
    void *buf; /* the pool buffer it lands in; NULL: no memory, dropped */
    struct pp_big_in *in;
    bool killed; /* the master killed it meanwhile: it is never submitted */
};

struct big_out {
    uint32_t entry; /* its future holds the bytes until they are sent */
    const void *data;
    uint64_t len;
};

struct agent {
    struct pp_transport *t;
    pp_pool *pool; /* NULL: none could be made */
    const struct pp_modtab *tab;
    struct pp_timing tm;
    uint32_t nworkers;
    struct pp_inflight q;
    struct pp_bytes started, results; /* the next report's records */
    uint32_t nstarted, nresults;
    struct big_out *bigs; /* results that follow the next report on the large lane */
    size_t nbigs, bigs_cap;
    struct landing *landings; /* in the order sent */
    size_t nlandings, landings_cap;
    struct pp_msg *inbox; /* a round's messages */
    size_t ninbox, inbox_cap;
    uint64_t last_sent;    /* transport clock */
    uint64_t heard_at;     /* time on watch when the master last spoke */
    struct pp_watch watch; /* the master's silence is measured on it */
    uint64_t run_ns;       /* recent tasks' run time (moving average; 0: none yet) */
    struct pp_pace pace;
    bool moved;  /* tasks came this round */
    bool failed; /* out of memory for a record, or a malformed message */
};

/* ---- results ----------------------------------------------------------------- */

struct big_sent {
    struct agent *a;
    uint32_t entry;
};

static void big_sent(void *ud)
{
    struct big_sent *s = ud;
    pp__inflight_sending(&s->a->q, s->entry, false);
    free(s);
}

/* Adds a result record; data (r.len bytes) goes inline, or, past
   WIRE_INLINE, on the large lane from the future of entry (which then
   stays held until it is sent). */
static void add_result(struct agent *a, struct wire_result r, const char *msg, const void *data,
                       uint32_t entry)
{
    r.msg_len = msg ? (uint32_t)strnlen(msg, PP_MESSAGE_MAX) : 0;
    if (r.len > WIRE_INLINE) {
        if (entry != PP_NO_ENTRY &&
            pp__grow((void **)&a->bigs, a->nbigs + 1, &a->bigs_cap, sizeof *a->bigs)) {
            a->bigs[a->nbigs++] = (struct big_out){entry, data, r.len};
            pp__inflight_sending(&a->q, entry, true);
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
    a->failed |= a->results.failed;
}

static void fail_task(struct agent *a, uint64_t id, int status, const char *msg)
{
    add_result(a, (struct wire_result){.id = id, .status = status, .worker = -1}, msg, NULL, PP_NO_ENTRY);
}

/* Turns a finished task into a result record, and lets its future go. */
static void finish(struct agent *a, uint32_t i)
{
    pp_future *f = a->q.e[i].f;
    int code = 0;
    const char *msg = NULL;
    int status = pp_future_exception(f, 0, &code, &msg);
    const void *data = NULL;
    size_t len = 0;
    if (status == PP_OK)
        pp_future_result(f, 0, &data, &len);
    else if (status == PP_ECRASHED || status == PP_EDEADLINE || status == PP_ELIMIT)
        pp__future_bytes(f, &data, &len); /* what it had reserved: a map chunk's statuses */
    pp_task_info info = {0};
    pp_future_info(f, &info);
    uint64_t run = (uint64_t)(info.wall_s * 1e9);
    a->run_ns = a->run_ns ? (3 * a->run_ns + run) / 4 : run + 1;
    struct wire_result r = {.id = a->q.e[i].id,
                            .status = status,
                            .code = code,
                            .worker = info.worker_id,
                            .pid = info.pid,
                            .no_culprit = status != PP_OK && pp__no_culprit(f),
                            .len = len,
                            .run_ns = run,
                            .user_us = (uint64_t)(info.user_cpu_s * 1e6),
                            .sys_us = (uint64_t)(info.sys_cpu_s * 1e6),
                            .peak_rss = info.peak_rss_bytes};
    add_result(a, r, msg, data, i);
    pp__inflight_let_go(&a->q, i);
}

static void told_started(void *ud, uint64_t id)
{
    struct agent *a = ud;
    pp__bytes_put(&a->started, &id, sizeof id);
    a->nstarted++;
    a->failed |= a->started.failed;
}

/* Collects what has started and finished since the last round; true if a
   task finished. */
static bool collect(struct agent *a)
{
    bool any = false;
    uint32_t i;
    pp__inflight_started(&a->q, told_started, a);
    while ((i = pp__inflight_next_done(&a->q, 2 * (size_t)a->nworkers + 1)) != PP_NO_ENTRY) {
        finish(a, i);
        any = true;
    }
    return any;
}

/* Sends the round's report (or a heartbeat), then its large results. */
static void report(struct agent *a)
{
    uint64_t now = a->t->now(a->t);
    if (!a->nstarted && !a->nresults && now - a->last_sent < a->tm.heartbeat_ns)
        return;
    pp_stats s = {0};
    if (a->pool)
        pp_pool_stats(a->pool, &s);
    struct wire_report head = {.nstarted = a->nstarted,
                               .nresults = a->nresults,
                               .workers_started = s.workers_started,
                               .workers_recycled = s.workers_recycled,
                               .workers_alive = s.workers_alive};
    struct pp_bytes m = {0};
    pp__bytes_put(&m, &head, sizeof head);
    pp__bytes_put(&m, a->started.p, a->started.len);
    pp__bytes_put(&m, a->results.p, a->results.len);
    if (m.failed) {
        free(m.p);
        a->failed = true;
        return;
    }
    if (a->t->send(a->t, 0, TAG_REPORT, m.p, m.len, false, (struct pp_release){free, m.p}) != PP_OK)
        a->failed = true;
    for (size_t k = 0; k < a->nbigs; k++) {
        struct big_out *b = &a->bigs[k];
        struct big_sent *bs = malloc(sizeof *bs);
        if (!bs) { /* the master would wait for it for ever */
            a->failed = true;
            pp__inflight_sending(&a->q, b->entry, false);
            continue;
        }
        *bs = (struct big_sent){a, b->entry};
        if (a->t->send(a->t, 0, 0, (void *)b->data, b->len, true, (struct pp_release){big_sent, bs}) != PP_OK)
            a->failed = true;
    }
    a->nbigs = 0;
    pp__bytes_clear(&a->started);
    pp__bytes_clear(&a->results);
    a->nstarted = a->nresults = 0;
    a->last_sent = now;
}

/* ---- tasks --------------------------------------------------------------------- */

/* Submits a task whose argument is here: inline in the message, or in buf,
   a pool buffer the submit takes (NULL with a large argument: no memory). */
static void submit_task(struct agent *a, const struct wire_task *t, const void *inline_arg, void *buf)
{
    char msg[128];
    pp_fn fn = pp__fn_decode(a->tab, t->fn_module, t->fn_off);
    uint32_t i = fn && a->pool && (!t->big || buf) ? pp__inflight_add(&a->q, t->id) : PP_NO_ENTRY;
    if (i == PP_NO_ENTRY) {
        if (buf)
            pp_buffer_free(a->pool, buf);
        if (fn && a->pool)
            fail_task(a, t->id, PP_ENOMEM, "the agent had no memory for the task");
        else if (!a->pool)
            fail_task(a, t->id, PP_EBROKEN, "the agent has no pool");
        else {
            snprintf(msg, sizeof msg, "rank %d has no function at module %u offset %#llx", a->t->rank,
                     (unsigned)t->fn_module, (unsigned long long)t->fn_off);
            fail_task(a, t->id, PP_EINVAL, msg);
        }
        return;
    }
    pp_task_opts o = {.deadline = (double)t->deadline_ns / 1e9,
                      .cpu_limit = (double)t->cpu_limit_ns / 1e9,
                      .result_hint = (size_t)t->result_hint,
                      .data = (void *)(uintptr_t)i};
    pp_future *f = NULL;
    int rc = buf ? pp_submit_buffer(a->pool, fn, buf, (size_t)t->arg_len, &o, &f)
                 : pp_submit_opts(a->pool, fn, inline_arg, (size_t)t->arg_len, &o, &f);
    pp__inflight_submitted(&a->q, i, rc == PP_OK ? f : NULL);
    if (rc != PP_OK) {
        snprintf(msg, sizeof msg, "rank %d could not submit the task", a->t->rank);
        fail_task(a, t->id, rc, msg);
    }
}

/* Takes a task whose argument comes on the large lane: it is received
   into a pool buffer while the agent goes on (a 64 MiB argument took 0.8 s
   to come in on a loaded machine), and submitted once it has landed. Room
   for the landing was made before the message was read. */
static void take_big(struct agent *a, const struct wire_task *t)
{
    struct landing l = {
        .t = *t, .buf = a->pool && t->arg_len <= SIZE_MAX ? pp_buffer_alloc(a->pool, t->arg_len) : NULL};
    int rc = a->t->recv_big(a->t, 0, l.buf, t->arg_len, &l.in);
    if (rc != PP_OK) { /* the payloads after it would land in the wrong places */
        if (l.buf)
            pp_buffer_free(a->pool, l.buf);
        a->failed = true;
        return;
    }
    a->landings[a->nlandings++] = l;
}

/* Submits the tasks whose large argument has landed, in the order sent. */
static bool land(struct agent *a)
{
    size_t done = 0;
    while (done < a->nlandings) {
        struct landing *l = &a->landings[done];
        int rc = a->t->big_done(a->t, l->in);
        if (rc == 0)
            break;
        if (rc == 1 && !l->killed) {
            submit_task(a, &l->t, NULL, l->buf);
        } else if (rc == 1) {
            if (l->buf)
                pp_buffer_free(a->pool, l->buf);
            fail_task(a, l->t.id, PP_ECANCELLED, "killed by pp_future_kill");
        } else {
            if (l->buf)
                pp_buffer_free(a->pool, l->buf);
            fail_task(a, l->t.id, rc, "the agent could not receive the argument");
        }
        done++;
    }
    if (!done)
        return false;
    memmove(a->landings, a->landings + done, (a->nlandings - done) * sizeof *a->landings);
    a->nlandings -= done;
    return true;
}

static void take_tasks(struct agent *a, const struct pp_msg *m)
{
    struct pp_reader r = {m->data, m->len, 0};
    uint32_t head[2];
    if (!pp__read_into(&r, head, sizeof head) || head[0] > m->len / sizeof(struct wire_task) ||
        !pp__grow((void **)&a->landings, a->nlandings + head[0], &a->landings_cap, sizeof *a->landings)) {
        a->failed = true;
        return;
    }
    for (uint32_t k = 0; k < head[0] && !a->failed; k++) {
        struct wire_task t;
        const void *arg = NULL;
        if (!pp__read_into(&r, &t, sizeof t) || (!t.big && !(arg = pp__read(&r, t.arg_len)))) {
            a->failed = true; /* malformed: the master never sends it */
            return;
        }
        if (t.big)
            take_big(a, &t);
        else
            submit_task(a, &t, arg, NULL);
    }
}

/* ---- what the master says ------------------------------------------------------ */

/* pp_future_kill on the master: the task's worker is killed (its future
   ends PP_ECANCELLED and is reported as any task), or, while its argument
   is still landing, it is reported killed once landed, never run. */
static void kill_task(struct agent *a, uint64_t id)
{
    uint32_t e = pp__inflight_find(&a->q, id);
    if (e != PP_NO_ENTRY) {
        pp_future_kill(a->q.e[e].f);
        return;
    }
    for (size_t k = 0; k < a->nlandings; k++)
        if (a->landings[k].t.id == id)
            a->landings[k].killed = true;
}

/* Reads everything the master has sent, then acts on it; returns how the
   agent ends, or -1 to go on. */
static int read_master(struct agent *a, bool *alone)
{
    struct pp_msg m;
    while (a->t->poll(a->t, &m) == 1) {
        if (m.src != 0 || !pp__grow((void **)&a->inbox, a->ninbox + 1, &a->inbox_cap, sizeof *a->inbox)) {
            a->failed |= m.src == 0; /* no memory to keep it */
            free(m.data);
            continue;
        }
        a->inbox[a->ninbox++] = m;
        a->heard_at = a->watch.watched;
    }
    int end = -1;
    for (size_t k = 0; k < a->ninbox; k++) { /* dropped: before anything else is done */
        struct wire_ctrl c;
        struct pp_reader r = {a->inbox[k].data, a->inbox[k].len, 0};
        if (a->inbox[k].tag == TAG_CTRL && pp__read_into(&r, &c, sizeof c) && c.op == CTRL_DROPPED)
            end = PP_AGENT_DROPPED;
    }
    for (size_t k = 0; k < a->ninbox; k++) {
        struct pp_msg *in = &a->inbox[k];
        struct wire_ctrl c = {0};
        struct pp_reader r = {in->data, in->len, 0};
        if (end == -1 && in->tag == TAG_TASKS && !in->data)
            a->failed = true; /* it could not be kept */
        else if (end == -1 && in->tag == TAG_TASKS) {
            take_tasks(a, in);
            a->moved = true;
        } else if (in->tag == TAG_CTRL && pp__read_into(&r, &c, sizeof c) && end == -1) {
            if (c.op == CTRL_TERMINATE && c.arg > 0 && c.arg < NSIG && a->pool)
                pp_pool_terminate(a->pool, c.arg);
            else if (c.op == CTRL_KILL)
                kill_task(a, c.id);
            else if (c.op == CTRL_EXIT) {
                end = PP_AGENT_DONE;
                *alone = c.arg != 0;
            }
        }
        free(in->data);
    }
    a->ninbox = 0;
    if (end == -1 && a->failed)
        end = PP_AGENT_FAILED;
    return end;
}

/* ---- the loop ------------------------------------------------------------------ */

/* The nap before the next round (0: poll). */
static uint64_t next_nap(struct agent *a)
{
    size_t running = a->q.unreported;
    bool due = running && a->run_ns <= PP_POLL_BUDGET_NS;
    uint64_t cap = a->nlandings || a->t->sending(a->t) ? PP_SENDING_NAP_NS
                   : running                           ? PP_BUSY_NAP_NS
                                                       : PP_IDLE_NAP_NS;
    return pp__pace_nap(&a->pace, due, running < a->nworkers, cap);
}

static int serve(struct agent *a, bool *alone)
{
    prctl(PR_SET_TIMERSLACK, 1000UL); /* its short naps are meant: no 50 us of slack on each */
    a->last_sent = a->t->now(a->t);
    pp__pace_event(&a->pace);
    for (;;) {
        uint32_t seen = atomic_load(&a->q.seq);
        pp__pace_watch(&a->watch, a->t->now(a->t), a->tm.heartbeat_ns);
        int end = read_master(a, alone);
        if (end != -1)
            return end;
        a->moved |= land(a);
        a->moved |= collect(a);
        if (a->moved || a->nresults)
            pp__pace_event(&a->pace);
        a->moved = false;
        report(a);
        if (a->failed)
            return PP_AGENT_FAILED;
        if (a->watch.watched - a->heard_at >= a->tm.master_lost_ns)
            return PP_AGENT_ORPHANED;
        uint64_t nap = next_nap(a);
        if (nap >= PP_CALLBACK_NAP_NS && a->q.unreported) { /* a completion ends the nap */
            pp__inflight_arm(&a->q);
            pp__futex_wait(&a->q.seq, seen, false, pp__now_ns() + nap);
        } else {
            pp__pace_sleep(nap);
        }
    }
}

/* Waits, within the master's patience, until its large results are sent. */
static void drain_sends(struct agent *a)
{
    uint64_t until = a->t->now(a->t) + a->tm.master_lost_ns;
    struct pp_msg m;
    while (a->t->sending(a->t) && a->t->now(a->t) < until) {
        if (a->t->poll(a->t, &m) == 1)
            free(m.data);
        pp__pace_sleep(PP_SENDING_NAP_NS);
    }
}

static void end_agent(struct agent *a, int end, bool alone)
{
    bool orderly = end == PP_AGENT_DONE;
    if (orderly)
        drain_sends(a); /* large results are read from the pool's memory */
    if (a->pool)        /* not orderly: at once, its tasks run elsewhere now; orderly: none is left */
        pp_pool_terminate(a->pool, SIGKILL);
    for (size_t k = 0; k < a->nlandings; k++) /* arguments that will never be used */
        if (a->t->big_abandon(a->t, a->landings[k].in) && a->landings[k].buf)
            pp_buffer_free(a->pool, a->landings[k].buf);
    if (!orderly)
        a->t->forget(a->t, 0); /* nobody reads what is on its way */
    if (a->pool)
        pp_pool_destroy(a->pool); /* runs the last callbacks; their futures go with it */
    if (orderly)
        a->t->send(a->t, 0, TAG_BYE, NULL, 0, false, (struct pp_release){0});
    /* the master that could not start finalizes: leave in step with it */
    bool together = (orderly && !alone) || end == PP_AGENT_UNSTARTED;
    a->t->finalize(a->t, orderly, together);
    pp__inflight_free(&a->q);
    free(a->started.p);
    free(a->results.p);
    free(a->bigs);
    free(a->landings);
    free(a->inbox);
}

/* The master's module table, then hello; false when the master gave up. */
static bool greet(struct agent *a, struct pp_modtab *tab)
{
    void *packed = NULL;
    size_t len = 0;
    if (a->t->bcast(a->t, &packed, &len) != PP_OK || !len) {
        free(packed);
        return false; /* the master could not start (or no memory here: it hears no hello) */
    }
    int ok = pp__modtab_match(tab, packed, len);
    free(packed);
    cpu_set_t set;
    struct wire_hello h = {.nworkers = a->nworkers,
                           .table_ok = ok == 1,
                           .cpus =
                               sched_getaffinity(0, sizeof set, &set) == 0 ? (uint32_t)CPU_COUNT(&set) : 0,
                           .pid = (int32_t)getpid()};
    return a->t->send(a->t, 0, TAG_HELLO, &h, sizeof h, false, (struct pp_release){0}) == PP_OK;
}

enum pp_agent_end pp__agent_run(struct pp_transport *t, pp_pool *local, struct pp_modtab *tab,
                                const struct pp_timing *tm)
{
    struct agent a = {.t = t, .pool = local, .tab = tab, .tm = *tm};
    pp__inflight_init(&a.q);
    a.nworkers = local ? (uint32_t)pp_pool_max_workers(local) : 0;
    bool alone = false;
    int end = greet(&a, tab) ? serve(&a, &alone) : PP_AGENT_UNSTARTED;
    end_agent(&a, end, alone);
    return (enum pp_agent_end)end;
}
