/* SPDX-License-Identifier: MIT */
/*
 * jobs: the relay's table of tasks out on agents (jobs.h). A fixed table,
 * sized at start-up to every agent's largest window, with a stack of free
 * entries; each entry's generation grows when it is freed.
 */
#include "jobs.h"

#include "../dispatch.h"
#include "../remote.h"
#include "../sync.h"

uint64_t pp__job_id(const struct pp_relay *r, uint32_t j)
{
    return (uint64_t)r->jobs[j].gen << 32 | j;
}

uint32_t pp__job_of(const struct pp_relay *r, uint64_t id, uint32_t peer)
{
    uint32_t j = (uint32_t)id;
    if (j >= r->njobs || r->jobs[j].gen != (uint32_t)(id >> 32) || !r->jobs[j].f || r->jobs[j].peer != peer)
        return PP_NO_JOB;
    return j;
}

uint32_t pp__job_new(struct pp_relay *r, pp_future *f, uint32_t peer, uint64_t bytes, bool sending)
{
    uint32_t j = r->free_jobs[--r->nfree];
    r->jobs[j] =
        (struct pp_job){.f = f, .bytes = bytes, .gen = r->jobs[j].gen, .peer = peer, .sending = sending};
    r->peers[peer].inflight++;
    r->peers[peer].inflight_bytes += bytes;
    return j;
}

pp_future *pp__job_end(struct pp_relay *r, uint32_t j)
{
    struct pp_job *jb = &r->jobs[j];
    pp_future *f = jb->f;
    for (uint32_t k = 0; k < r->nkills; k++) /* a kill not yet passed on: the task has ended */
        if (r->kills[k] == f)
            r->kills[k] = r->kills[--r->nkills];
    r->peers[jb->peer].inflight--;
    r->peers[jb->peer].inflight_bytes -= jb->bytes;
    jb->f = NULL;
    jb->gen++;
    r->free_jobs[r->nfree++] = j;
    return f;
}

void pp__job_fail(struct pp_relay *r, uint32_t j, int status, const char *msg, void *bytes)
{
    uint64_t now = pp__now_ns();
    struct pp_outcome o = {.status = status,
                           .message = msg,
                           .cost = {.started_ns = now, .finished_ns = now}, /* when it was known */
                           .worker = -1,
                           .bytes = bytes};
    pp__settle_taken(r->pool, pp__job_end(r, j), &o);
}
