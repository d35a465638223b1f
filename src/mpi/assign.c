/* SPDX-License-Identifier: MIT */
/*
 * assign: which agent runs a task, and sending it there.
 *
 * Each agent holds a window of tasks: 2 x its workers (every worker has one
 * running and one waiting), plus, once its tasks are seen to be short, as
 * many more as its workers run in REFILL_NS at the recent pace (the time to
 * refill it), up to WINDOW_MAX and while the extra tasks' arguments stay
 * under WINDOW_BYTES. So long tasks are never hoarded by one agent while
 * others idle, and tiny ones travel hundreds to a message (without the
 * extra, 12 tiny tasks were in flight over three agents and the pool ran
 * 17-20 k tasks/s; with it, 260-340 k). A task goes to the live agent with
 * the most free room, the lowest rank first, so a serial round trip always
 * finds the same warm agent. A task counts as running from the moment it
 * is taken, as Python's executor counts tasks in its call queue.
 *
 * The tasks of a round go to an agent as one TASKS message; an argument
 * past WIRE_INLINE follows it on the large lane, sent from the arena where
 * the submit put it (no copy), and the job stays "sending" until the
 * transport is done with it.
 */
#include "assign.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../dispatch.h"
#include "../remote.h"
#include "jobs.h"

#define REFILL_NS    500000ull
#define WINDOW_MAX   512u
#define WINDOW_BYTES ((uint64_t)64 << 20)

uint32_t pp__assign_window(const struct pp_relay *r, const struct pp_peer *p)
{
    uint64_t base = 2 * (uint64_t)p->nworkers;
    if (!r->run_ns || p->inflight_bytes >= WINDOW_BYTES)
        return (uint32_t)base;
    uint64_t w = base + p->nworkers * REFILL_NS / r->run_ns;
    return w > WINDOW_MAX ? (base > WINDOW_MAX ? (uint32_t)base : WINDOW_MAX) : (uint32_t)w;
}

uint32_t pp__assign_most(uint32_t nworkers)
{
    return 2 * nworkers > WINDOW_MAX ? 2 * nworkers : WINDOW_MAX;
}

size_t pp__assign_feed(const struct pp_relay *r, uint64_t task_bytes)
{
    size_t most = 0;
    for (uint32_t i = 0; i < r->npeers; i++)
        if (!r->peers[i].lost && !r->peers[i].gone)
            most += pp__assign_most(r->peers[i].nworkers);
    uint64_t fit = WINDOW_BYTES / (task_bytes ? task_bytes : 1);
    return 2 * most < fit ? 2 * most : (size_t)fit;
}

static struct pp_peer *roomiest(struct pp_relay *r)
{
    struct pp_peer *best = NULL;
    uint32_t best_room = 0;
    for (uint32_t i = 0; i < r->npeers; i++) {
        struct pp_peer *p = &r->peers[i];
        uint32_t w = pp__assign_window(r, p);
        if (p->lost || p->gone || p->inflight >= w)
            continue;
        if (!best || w - p->inflight > best_room) {
            best = p;
            best_room = w - p->inflight;
        }
    }
    return best;
}

static void sent(void *ud)
{
    struct pp_job *jb = ud;
    jb->sending = false;
}

/* Puts task f into p's batch (the job table has room); false, f settled,
   when it cannot go. */
static bool pack(struct pp_relay *r, struct pp_peer *p, pp_future *f)
{
    const struct pp_task_spec *spec = pp__taken_spec(f);
    const void *arg;
    size_t len;
    pp__taken_arg(r->pool, f, &arg, &len);
    struct wire_task t = {.deadline_ns = spec->deadline_ns,
                          .cpu_limit_ns = spec->cpu_limit_ns,
                          .result_hint = spec->result_hint,
                          .arg_len = len,
                          .big = len > WIRE_INLINE};
    struct pp_outcome fail = {.status = PP_EINVAL, .worker = -1};
    if (pp__fn_encode(&r->tab, spec->fn, &t.fn_module, &t.fn_off) != PP_OK) {
        fail.message =
            "the task's function lies in no module the agents know (one loaded after pp_mpi_init?)";
        pp__settle_taken(r->pool, f, &fail);
        return false;
    }
    uint32_t pi = (uint32_t)(p - r->peers);
    t.id = pp__job_id(r, r->free_jobs[r->nfree - 1]);
    size_t mark = p->batch.len;
    if (!p->batch.len)
        pp__bytes_put(&p->batch, NULL, 8);
    pp__bytes_put(&p->batch, &t, sizeof t);
    if (!t.big)
        pp__bytes_put(&p->batch, arg, len);
    if (p->batch.failed ||
        (t.big && !pp__grow((void **)&p->outs, p->nouts + 1, &p->outs_cap, sizeof *p->outs))) {
        p->batch.len = mark;
        p->batch.failed = false;
        fail.status = PP_ENOMEM;
        fail.message = "no memory to send the task";
        pp__settle_taken(r->pool, f, &fail);
        return false;
    }
    uint32_t j = pp__job_new(r, f, pi, len, t.big);
    if (t.big)
        p->outs[p->nouts++] = (struct pp_out){j, arg, len};
    p->count++;
    return true;
}

bool pp__assign_tasks(struct pp_relay *r)
{
    bool any = false;
    struct pp_peer *p;
    while (r->nfree && (p = roomiest(r)) != NULL) {
        pp_future *f = pp__take_queued(r->pool);
        if (!f)
            break;
        any |= pack(r, p, f);
    }
    return any;
}

void pp__assign_send(struct pp_relay *r)
{
    for (uint32_t i = 0; i < r->npeers; i++) {
        struct pp_peer *p = &r->peers[i];
        if (!p->count)
            continue;
        memcpy(p->batch.p, &p->count, 4);
        int rc = r->t->send(r->t, p->rank, TAG_TASKS, p->batch.p, p->batch.len, false,
                            (struct pp_release){free, p->batch.p});
        for (size_t k = 0; k < p->nouts; k++) {
            struct pp_out *o = &p->outs[k];
            if (rc == PP_OK) /* a failed send runs its release at once */
                rc = r->t->send(r->t, p->rank, 0, (void *)o->arg, o->len, true,
                                (struct pp_release){sent, &r->jobs[o->job]});
            else
                r->jobs[o->job].sending = false; /* never sent */
        }
        p->batch = (struct pp_bytes){0};
        p->count = 0;
        p->nouts = 0;
        if (rc != PP_OK) /* its tasks go elsewhere */
            snprintf(p->doomed, sizeof p->doomed, "the transport could not send to it");
    }
}
