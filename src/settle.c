/* SPDX-License-Identifier: MIT */
/*
 * settle: the one place a future becomes done (pp__complete), and the
 * retry policy. A task may ask for retries (pp_task_opts.retries): a run
 * that ended abruptly (its worker crashed, or was killed for a deadline or
 * a CPU limit) runs again while retries remain; a task's own failure
 * (PP_ETASK) is its answer and is never retried, nor is anything once the
 * pool is shut down with cancel_futures, terminated, broken or being
 * destroyed (so no retry count, however large, can keep destroy waiting).
 * Every run that crashed or was killed for a deadline counts in the
 * statistics, retried or not (crashed, deadline_kills), but for a map or
 * stream chunk whose death none of its items is to blame for
 * (FUT_NO_CULPRIT); the other outcomes count once per future.
 */
#define _GNU_SOURCE
#include "settle.h"

#include <string.h>

#include "callback.h"
#include "sync.h"

static void count(pp_pool *pool, int status)
{
    switch (status) {
    case PP_OK: pool->stats.completed++; break;
    case PP_ETASK: pool->stats.failed++; break;
    case PP_ECRASHED: pool->stats.crashed++; break;
    case PP_ECANCELLED: pool->stats.cancelled++; break;
    case PP_EDEADLINE: pool->stats.deadline_kills++; break;
    default: break;
    }
}

void pp__complete(pp_pool *pool, pp_future *f, int status, int code, const char *message)
{
    f->status = status;
    f->code = code;
    if (message && !f->message)
        f->message = strdup(message);
    if (!(f->flags & FUT_NO_CULPRIT)) /* a chunk's death blamed on none of its items counts nowhere */
        count(pool, status);
    pool->unfinished--;
    if (f->callbacks)
        pool->cb_waiting--;
    atomic_store_explicit(&f->slot, PP_NO_SLOT, memory_order_relaxed);
    atomic_store_explicit(&f->phase, PHASE_DONE, memory_order_release);
    if (f->callbacks)
        pp__callbacks_queue(pool, f);
    pp__epoch_bump();
}

bool pp__run_ended(pp_pool *pool, pp_future *f, int status, bool can_rerun)
{
    f->attempts++;
    bool abrupt = status == PP_ECRASHED || status == PP_EDEADLINE || status == PP_ELIMIT;
    if (!abrupt || !can_rerun || f->attempts > f->spec.retries || pool->broken || pool->terminated || pool->cancelling ||
        pool->destroying)
        return false;
    count(pool, status);
    return true;
}
