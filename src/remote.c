/* SPDX-License-Identifier: MIT */
/*
 * remote: the hooks a remote backend (procpool_mpi's relay) uses on a pool
 * whose tasks run elsewhere. Taking a task moves the backlog's reference to
 * the backend (FUT_TAKEN); handing it back, settled or returned, puts it.
 * Nothing here wakes result waiters when a task is taken: only its end
 * does, so a caller waiting on a remote future sleeps until there is
 * something to see.
 */
#define _GNU_SOURCE
#include "remote.h"

#include <stdlib.h>
#include <string.h>

#include "backlog.h"
#include "dispatch.h"
#include "lifetime.h"
#include "settle.h"
#include "sync.h"

pp_future *pp__take_queued(pp_pool *pool)
{
    if (pool->broken)
        return NULL;
    pp_future *f = pp__backlog_pop(pool);
    if (!f)
        return NULL;
    f->flags |= FUT_TAKEN;
    atomic_store_explicit(&f->phase, PHASE_DISPATCHED, memory_order_release);
    if (pp__list_empty(&pool->backlog))
        pp__update_kicks(pool);
    return f;
}

void pp__taken_arg(const pp_pool *pool, const pp_future *f, const void **arg, size_t *len)
{
    *len = f->arg_len;
    if (f->block.off)
        *arg = pp__block_ptr(&pool->arena, f->block);
    else
        *arg = (f->flags & FUT_HEAP_ARG) ? f->arg_copy : f->small;
}

const struct pp_task_spec *pp__taken_spec(const pp_future *f)
{
    return &f->spec;
}

/* The backend lets go of f. */
static void untake(pp_future *f)
{
    f->flags &= (uint16_t)~FUT_TAKEN;
    pp__future_put(f);
}

/* The backend hands back a task pp_future_kill settled: now its spec is
   done with, what its run cost can be written (o: what the backend says of
   the run it killed; NULL: it never started). The figures of a kill stand:
   no CPU or memory, and the end is when the backend's word came. */
static void untake_killed(pp_future *f, const struct pp_outcome *o)
{
    f->cost = (struct pp_cost){0};
    if (o && o->worker >= 0) {
        f->worker = (int16_t)o->worker;
        f->pid = o->pid;
        f->attempts++;
        f->cost = (struct pp_cost){.started_ns = o->cost.started_ns, .finished_ns = o->cost.finished_ns};
    }
    untake(f);
}

void pp__return_taken(pp_pool *pool, pp_future *f)
{
    if (atomic_load_explicit(&f->phase, memory_order_relaxed) == PHASE_DONE) {
        untake_killed(f, NULL); /* killed before it started */
        return;
    }
    f->flags &= (uint16_t)~FUT_TAKEN;
    pp__backlog_push(pool, f, true); /* the backend's reference becomes the backlog's */
    pp__update_kicks(pool);
    if (pool->remote)
        pool->remote->wake(pool->remote);
    pp__epoch_bump();
}

void *pp__taken_room(pp_pool *pool, pp_future *f, size_t len)
{
    uint64_t at = f->flags & FUT_ARG_GONE ? 0 : pp__align16(f->arg_len);
    if (f->block.off && at <= f->block.size && len <= f->block.size - at)
        return (char *)pp__block_ptr(&pool->arena, f->block) + at; /* as a local worker would */
    if (f->block.off)
        f->flags |= FUT_ARG_GONE; /* the block below holds the result alone */
    pp__arena_free(&pool->arena, &f->block);
    if (pp__arena_alloc(&pool->arena, len, 0, &f->block) != PP_OK)
        return NULL;
    return pp__block_ptr(&pool->arena, f->block);
}

int pp__settle_taken(pp_pool *pool, pp_future *f, const struct pp_outcome *o)
{
    if (atomic_load_explicit(&f->phase, memory_order_relaxed) == PHASE_DONE) {
        int status = f->status; /* pp_future_kill settled it */
        untake_killed(f, o);
        return status;
    }
    f->worker = (int16_t)o->worker;
    f->pid = o->pid;
    if (o->no_culprit)
        f->flags |= FUT_NO_CULPRIT; /* a chunk killed for what its worker ran before: no item to blame */
    if (pp__run_ended(pool, f, o->status, !(f->flags & FUT_ARG_GONE))) {
        pp__return_taken(pool, f); /* again, elsewhere (its argument is still here) */
        return o->status;
    }
    f->cost = o->cost; /* the spec is done with */
    uintptr_t base = f->block.off ? (uintptr_t)pp__block_ptr(&pool->arena, f->block) : 0;
    uintptr_t at = (uintptr_t)o->bytes;
    bool in_block = base && at >= base && at - base <= f->block.size && o->len <= f->block.size - (at - base);
    if (f->flags & FUT_HEAP_ARG) {
        free(f->arg_copy);
        f->arg_copy = NULL;
        f->flags &= (uint16_t)~FUT_HEAP_ARG;
    }
    if (!in_block)
        pp__arena_free(&pool->arena, &f->block);
    int status = o->status;
    if (in_block) {
        f->result = o->bytes;
        f->result_len = o->len;
    } else if (o->len <= sizeof f->small) {
        if (o->len)
            memcpy(f->small, o->bytes, o->len);
        f->result = f->small;
        f->result_len = o->len;
    } else {
        void *copy = malloc(o->len);
        if (copy) {
            memcpy(copy, o->bytes, o->len);
            f->flags |= FUT_HEAP_RESULT;
            f->result = copy;
            f->result_len = o->len;
        } else if (status == PP_OK) {
            status = PP_ENOMEM;
        }
    }
    pp__complete(pool, f, status, o->code, o->message);
    untake(f);
    return status;
}
