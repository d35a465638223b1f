/* SPDX-License-Identifier: MIT */
/*
 * peers: the relay's agents, their liveness, and fencing.
 *
 * An agent that has not been heard for lost_ns (plus lost_ns_per_mib per
 * MiB of the arguments it holds), whose report could not be read, whose
 * pool broke, or toward which the transport failed, is lost, for good:
 *   - its tasks that it reported started end PP_ECRASHED ("agent rank r
 *     lost (why)"); such a task may in fact have run to its end there: its
 *     result, if it ever comes, is not taken;
 *   - its other tasks go back to the head of the backlog and run on the
 *     other agents; one that had started there unreported may so run twice
 *     (at least once, never lost);
 *   - a result on its way ends its task PP_ECRASHED too;
 *   - whatever it sends from then on is dropped (no future settled twice,
 *     nothing counted twice), and it is told it was dropped, at once and
 *     again whenever it speaks (at most once a heartbeat): it then kills its
 *     workers and exits nonzero. An agent that is healthy but must go (its
 *     pool broke) is retired instead: told to exit, it leaves in order;
 *   - sends to it are given up, ranks_lost counts it, and when no agent is
 *     left (or under PP_BREAK_POOL) the pool breaks.
 */
#include "peers.h"

#include <stdio.h>
#include <stdlib.h>

#include "../dispatch.h"
#include "../remote.h"
#include "jobs.h"
#include "results.h"

static void tell(struct pp_relay *r, uint32_t pi, struct wire_ctrl c)
{
    struct wire_ctrl *m = malloc(sizeof *m);
    if (!m)
        return; /* a ping or a word that the agent's patience covers; a kill then does not land */
    *m = c;
    r->t->send(r->t, r->peers[pi].rank, TAG_CTRL, m, sizeof *m, false, (struct pp_release){free, m});
}

void pp__peers_tell(struct pp_relay *r, uint32_t pi, int op, int arg)
{
    tell(r, pi, (struct wire_ctrl){.op = op, .arg = arg});
}

void pp__peers_kill(struct pp_relay *r, uint32_t pi, uint32_t j)
{
    if (!r->peers[pi].lost)
        tell(r, pi, (struct wire_ctrl){.op = CTRL_KILL, .id = pp__job_id(r, j)});
}

void pp__peers_lose(struct pp_relay *r, uint32_t pi, const char *why)
{
    struct pp_peer *p = &r->peers[pi];
    pp_pool *pool = r->pool;
    if (p->lost)
        return;
    char msg[PP_MESSAGE_MAX + 1];
    snprintf(msg, sizeof msg, "agent rank %d lost (%.200s)", p->rank, why);
    p->lost = true;
    r->ranks_lost++;
    pool->alive -= p->nworkers;
    r->t->forget(r->t, p->rank); /* the arguments it will never read are released */
    bool breaks = pool->cfg.on_crash == PP_BREAK_POOL || pool->broken;
    pp__results_abandon(r, pi, breaks ? PP_EBROKEN : PP_ECRASHED, msg);
    for (uint32_t j = r->njobs; j-- > 0;) { /* backwards: returned tasks keep their order */
        struct pp_job *jb = &r->jobs[j];
        if (!jb->f || jb->peer != pi)
            continue;
        if (jb->started || breaks)
            pp__job_fail(r, j, breaks ? PP_EBROKEN : PP_ECRASHED, msg, NULL);
        else
            pp__return_taken(pool, pp__job_end(r, j));
    }
    p->fenced_at = r->t->now(r->t);
    if (p->retire) { /* it listens: it leaves in order, and the others wait for it as before */
        pp__peers_tell(r, pi, CTRL_EXIT, 0);
    } else {
        r->dropped++;
        pp__peers_tell(r, pi, CTRL_DROPPED, 0);
    }
    bool any_left = false;
    for (uint32_t i = 0; i < r->npeers; i++)
        any_left |= !r->peers[i].lost && !r->peers[i].gone;
    if (breaks || !any_left)
        pp__break_pool(pool, PP_EBROKEN,
                       any_left ? "an agent rank was lost (on_crash = PP_BREAK_POOL)" : "no agent rank is left");
}

void pp__peers_check(struct pp_relay *r)
{
    uint64_t now = r->t->now(r->t);
    bool ping = now - r->pinged_at >= r->tm.heartbeat_ns;
    if (ping)
        r->pinged_at = now;
    for (uint32_t i = 0; i < r->npeers; i++) {
        struct pp_peer *p = &r->peers[i];
        if (p->lost || p->gone)
            continue;
        uint64_t patience = r->tm.lost_ns + (p->inflight_bytes >> 20) * r->tm.lost_ns_per_mib;
        char why[PP_MESSAGE_MAX + 1];
        if (p->doomed[0])
            snprintf(why, sizeof why, "%s", p->doomed);
        else if (r->watch.watched - p->heard_at > patience)
            snprintf(why, sizeof why, "no report for %.2f s", (double)(r->watch.watched - p->heard_at) / 1e9);
        else {
            if (ping)
                pp__peers_tell(r, i, CTRL_PING, 0);
            continue;
        }
        pthread_mutex_lock(&r->pool->lock);
        pp__peers_lose(r, i, why);
        pthread_mutex_unlock(&r->pool->lock);
    }
}

void pp__peers_late(struct pp_relay *r, uint32_t pi)
{
    struct pp_peer *p = &r->peers[pi];
    uint64_t now = r->t->now(r->t);
    if (p->retire || now - p->fenced_at < r->tm.heartbeat_ns)
        return;
    p->fenced_at = now;
    pp__peers_tell(r, pi, CTRL_DROPPED, 0);
}
