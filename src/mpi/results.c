/* SPDX-License-Identifier: MIT */
/*
 * results: reading agents' reports on the relay.
 *
 * A report is untrusted: it is read through a pp_reader, a result names its
 * task by an id that must be a job this very agent holds (else it is
 * ignored), and a malformed report dooms the agent. A result settles its
 * future at once when its bytes are inline and its argument has been sent.
 * Otherwise it waits as an arrival: a large result is received straight
 * into the arena, behind the task's argument when the block has room, else
 * into a block of its own that replaces the argument's (pp__taken_room), so
 * a large argument or result in flight costs the master about its own size
 * once; that needs the argument's send to have ended. Receives are posted
 * in each agent's order (its payloads arrive in the order it sent them), so
 * a result whose argument is still being sent holds back the ones after it
 * for a round; nothing is waited for in place.
 */
#include "results.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../dispatch.h"
#include "../remote.h"
#include "../sync.h"
#include "jobs.h"

/* Ends job j with what the agent reported (pool->lock held). */
static void settle(struct pp_relay *r, uint32_t pi, uint32_t j, const struct wire_result *w, const char *msg,
                   int status, const void *bytes, size_t len)
{
    struct pp_peer *p = &r->peers[pi];
    uint64_t now = pp__now_ns(), run = w->run_ns > 1000 ? w->run_ns : 1000;
    r->run_ns = r->run_ns ? (3 * r->run_ns + run) / 4 : run;
    bool breaks = r->pool->cfg.on_crash == PP_BREAK_POOL;
    char text[PP_MESSAGE_MAX + 1];
    if (status == PP_EBROKEN && !breaks) { /* its pool broke (its fork server died): the agent is done */
        snprintf(p->doomed, sizeof p->doomed, "its pool broke: %.180s", msg ? msg : "?");
        p->retire = true;
        snprintf(text, sizeof text, "agent rank %d lost (%.200s)", p->rank, p->doomed);
        status = PP_ECRASHED;
        msg = text;
    }
    struct pp_outcome o = {.status = status,
                           .code = w->code,
                           .message = msg,
                           .cost = {.started_ns = w->run_ns && w->run_ns < now ? now - w->run_ns : now,
                                    .finished_ns = now,
                                    .user_us = w->user_us,
                                    .sys_us = w->sys_us,
                                    .peak_rss = w->peak_rss},
                           .worker = w->worker >= 0 && (uint32_t)w->worker < p->nworkers
                                         ? (int)(p->base + (uint32_t)w->worker)
                                         : -1,
                           .pid = w->pid,
                           .no_culprit = w->no_culprit != 0,
                           .bytes = bytes,
                           .len = len};
    int ended = pp__settle_taken(r->pool, pp__job_end(r, j), &o); /* a killed task stays killed */
    if (breaks && !o.no_culprit && (ended == PP_EBROKEN || ended == PP_ECRASHED))
        pp__break_pool(r->pool, PP_EBROKEN, "a worker died (on_crash = PP_BREAK_POOL)");
}

/* One result of agent pi's report; false when it cannot be followed. */
static bool take_result(struct pp_relay *r, uint32_t pi, const struct wire_result *w, const char *msg,
                        const void *data)
{
    struct pp_peer *p = &r->peers[pi];
    uint32_t j = pp__job_of(r, w->id, pi);
    if (!w->big && (j == PP_NO_JOB || !r->jobs[j].sending)) {
        if (j != PP_NO_JOB)
            settle(r, pi, j, w, msg, w->status, data, (size_t)w->len);
        return true;
    }
    if (!pp__grow((void **)&p->arrivals, p->narrivals + 1, &p->arrivals_cap, sizeof *p->arrivals))
        return false;
    struct pp_arrival *a = &p->arrivals[p->narrivals++];
    *a = (struct pp_arrival){.job = j, .w = *w};
    if (j != PP_NO_JOB)
        r->jobs[j].arriving = true;
    snprintf(a->msg, sizeof a->msg, "%s", msg ? msg : "");
    if (!w->big && w->len && !(a->copy = malloc((size_t)w->len))) {
        a->w.status = a->w.status == PP_OK ? PP_ENOMEM : a->w.status;
        a->w.len = 0;
    } else if (!w->big && w->len) {
        memcpy(a->copy, data, (size_t)w->len);
    }
    return true;
}

bool pp__results_read(struct pp_relay *r, uint32_t pi, const struct pp_msg *m)
{
    struct pp_peer *p = &r->peers[pi];
    struct pp_reader rd = {m->data, m->len, 0};
    struct wire_report head;
    if (!pp__read_into(&rd, &head, sizeof head)) {
        snprintf(p->doomed, sizeof p->doomed, "a malformed report");
        return false;
    }
    p->workers_started = head.workers_started;
    p->workers_recycled = head.workers_recycled;
    p->workers_alive = head.workers_alive;
    for (uint32_t k = 0; k < head.nstarted; k++) {
        uint64_t id;
        if (!pp__read_into(&rd, &id, sizeof id))
            break;
        uint32_t j = pp__job_of(r, id, pi);
        if (j != PP_NO_JOB)
            r->jobs[j].started = true;
    }
    bool any = false;
    for (uint32_t k = 0; k < head.nresults && !p->doomed[0]; k++) {
        struct wire_result w;
        const char *msg = NULL;
        const void *data = NULL;
        if (!pp__read_into(&rd, &w, sizeof w) || !(msg = pp__read(&rd, w.msg_len)) ||
            (!w.big && !(data = pp__read(&rd, (size_t)w.len)))) {
            snprintf(p->doomed, sizeof p->doomed, "a malformed report");
            break;
        }
        char text[PP_MESSAGE_MAX + 1];
        size_t n = w.msg_len > PP_MESSAGE_MAX ? PP_MESSAGE_MAX : w.msg_len;
        memcpy(text, msg, n);
        text[n] = 0;
        if (!take_result(r, pi, &w, n ? text : NULL, data)) {
            snprintf(p->doomed, sizeof p->doomed, "no memory for its results");
            break;
        }
        any = true;
    }
    return any;
}

/* Posts arrival a's receive (lock not held); false when the transport failed. */
static bool post_receive(struct pp_relay *r, struct pp_peer *p, struct pp_arrival *a)
{
    void *room = NULL;
    if (a->job != PP_NO_JOB) {
        pthread_mutex_lock(&r->pool->lock);
        room = pp__taken_room(r->pool, r->jobs[a->job].f, (size_t)a->w.len);
        pthread_mutex_unlock(&r->pool->lock);
    }
    a->room = room;
    return r->t->recv_big(r->t, p->rank, room, a->w.len, &a->in) == PP_OK;
}

/* Settles arrival a if it can be now (lock not held); true when it is done. */
static bool land_one(struct pp_relay *r, uint32_t pi, struct pp_arrival *a)
{
    int status = a->w.status;
    bool whole = true; /* every byte of the result is here */
    if (a->w.big) {
        int rc = r->t->big_done(r->t, a->in);
        if (rc == 0)
            return false;
        a->in = NULL;
        whole = rc == 1 && a->room;
        if (!whole && status == PP_OK)
            status = a->room ? rc : PP_ENOMEM; /* the transfer failed; or no arena room for it */
    } else if (a->job != PP_NO_JOB && r->jobs[a->job].sending) {
        return false;
    }
    pthread_mutex_lock(&r->pool->lock);
    if (a->job != PP_NO_JOB)
        settle(r, pi, a->job, &a->w, a->msg[0] ? a->msg : NULL, status, a->w.big ? a->room : a->copy,
               whole ? (size_t)a->w.len : 0);
    pthread_mutex_unlock(&r->pool->lock);
    free(a->copy);
    return true;
}

bool pp__results_land(struct pp_relay *r)
{
    bool any = false;
    for (uint32_t pi = 0; pi < r->npeers; pi++) {
        struct pp_peer *p = &r->peers[pi];
        bool posting = true;
        size_t kept = 0;
        for (size_t k = 0; k < p->narrivals; k++) {
            struct pp_arrival *a = &p->arrivals[k];
            if (p->lost || p->doomed[0]) {
                p->arrivals[kept++] = *a;
                continue;
            }
            if (a->w.big && !a->in && posting) {
                if (a->job != PP_NO_JOB && r->jobs[a->job].sending)
                    posting = false; /* later payloads must not be matched before this one */
                else if (!post_receive(r, p, a))
                    snprintf(p->doomed, sizeof p->doomed, "the transport could not receive from it");
            }
            if ((!a->w.big || a->in) && !p->doomed[0] && land_one(r, pi, a)) {
                any = true;
                continue;
            }
            p->arrivals[kept++] = *a;
        }
        p->narrivals = kept;
    }
    return any;
}

void pp__results_abandon(struct pp_relay *r, uint32_t pi, int status, const char *msg)
{
    struct pp_peer *p = &r->peers[pi];
    for (size_t k = 0; k < p->narrivals; k++) {
        struct pp_arrival *a = &p->arrivals[k];
        bool untouched = !a->in || r->t->big_abandon(r->t, a->in);
        if (a->job != PP_NO_JOB) /* a transfer under way may still write into the room: the future keeps it */
            pp__job_fail(r, a->job, status, msg, untouched ? NULL : a->room);
        free(a->copy);
    }
    p->narrivals = 0;
}
