/* SPDX-License-Identifier: MIT */
/*
 * dispatch: the master's half of the data path in, always under pool->lock.
 *
 * A submitted task becomes a future. When a slot is free and nothing waits
 * before it, its argument is copied straight into the slot (small) or into an
 * arena block (large) and the slot index goes into the ring; otherwise the
 * future waits in the backlog, a master-side FIFO, holding its argument in
 * the future (small), on the heap (up to a slot's inline size) or already in
 * the arena (large, so it is still copied only once). Feeding moves backlog
 * futures into slots as slots come free, which is why submit never blocks.
 *
 * Ring cells. A cancelled task leaves its cell in the ring until a worker
 * pops it. A slot is therefore free for a new task only once the ring's
 * head has passed the cell of its last push (head >= pushed_at, the cell's
 * position + 1; 0 for a slot never pushed); until then it waits
 * in limbo. Requeuing pushes again only under the same condition. Hence
 * INVARIANT 1: each slot has at most one unconsumed cell, the ring holds at
 * most nslots cells, and a push (capacity 2 * nslots) never fails: no task is
 * ever parked outside both the ring and the backlog.
 *
 * The pending-work rule: who is woken for work nobody will take. Work the
 * master holds is the backlog; workers can take only what is in the ring.
 *   - A push wakes one sleeping worker unless enough spinners will take what
 *     the ring holds (pp__wake_workers).
 *   - While the backlog is not empty, kick_below is set, and a worker kicks
 *     the monitor (a) when it publishes a result while the ring holds fewer
 *     than kick_below cells, and (b) always before it goes to sleep.
 *   - A kicked monitor harvests, sweeps limbo and feeds (pp__harvest_all).
 * INVARIANT 2: while the backlog is not empty, some process will call
 * pp__harvest_all after the last slot comes free. A slot comes free when a
 * worker publishes or pops a stale cell; that worker then runs a task (and
 * publishes again) or goes to sleep, and either kicks while the ring is low.
 * Master threads waiting on a queued future harvest before they sleep, and
 * the monitor's heartbeat harvests too, so words a task damaged (a cleared
 * done bit, a kick flag) cost time, never a lost task (audit.c).
 */
#define _GNU_SOURCE
#include "dispatch.h"

#include <stdlib.h>
#include <string.h>

#include "backlog.h"
#include "harvest.h"
#include "lifetime.h"
#include "settle.h"
#include "slot.h"
#include "sync.h"

static void copy_arg(void *dst, const struct pp_arg *arg)
{
    if (arg->head_len)
        memcpy(dst, arg->head, arg->head_len);
    if (arg->body_len)
        memcpy((char *)dst + arg->head_len, arg->body, arg->body_len);
}

/* Moves f (whose reference the slot takes over) into a free slot; small_arg
   holds the argument unless f->block does. */
static void dispatch(pp_pool *pool, pp_future *f, const struct pp_arg *small_arg)
{
    uint32_t s = pool->free_slots[--pool->nfree];
    struct pp_slot *slot = &pool->lay.slots[s];
    struct pp_slot_info *si = &pool->slots[s];
    const struct pp_task_spec *spec = &f->spec;
    uint64_t arg_len = f->arg_len;
    slot->code = 0;
    slot->res_off = slot->res_len = slot->grow_len = 0;
    slot->msg_len = 0;
    slot->started_ns = slot->finished_ns = 0;
    si->owner = f;
    si->arg = f->block;
    si->grant = si->old_grant = (pp_block){0};
    si->deadline_ns = spec->deadline_ns;
    si->cpu_limit_ns = spec->cpu_limit_ns;
    si->dispatched_ns = spec->deadline_ns ? pp__now_ns() : 0; /* only a deadline reads it */
    si->seen_running_ns = 0;
    f->block = (pp_block){0};
    if (!si->arg.off) {
        copy_arg(slot->data, small_arg);
        if (spec->result_hint > PP_SLOT_DATA - pp__align16(arg_len))
            pp__arena_alloc(&pool->arena, spec->result_hint, 0, &si->grant); /* none: the worker asks */
    }
    pp__describe_slot(pool, s, f);
    atomic_store_explicit(&f->slot, s, memory_order_relaxed);
    atomic_store_explicit(&f->phase, PHASE_DISPATCHED, memory_order_release);
    pp__slot_publish(pool, s);
}

static void drop_heap_arg(pp_future *f)
{
    if (f->flags & FUT_HEAP_ARG) {
        free(f->arg_copy);
        f->arg_copy = NULL;
        f->flags &= (uint16_t)~FUT_HEAP_ARG;
    }
}

int pp__arg_block(pp_pool *pool, uint64_t len, uint64_t result_hint, pp_block *out)
{
    if (len > PP_ARENA_MAX_BLOCK || result_hint > PP_ARENA_MAX_BLOCK)
        return PP_ENOMEM;
    if (!pp__arena_fits(&pool->arena, len + result_hint))
        return PP_ENOMEM;
    /* room for a result as large as the argument costs address space only,
       and spares a result as large a round trip to the monitor; a remote
       pool's result arrives into room made when it comes (pp__taken_room) */
    uint64_t room = pool->remote || result_hint > len ? result_hint : len;
    return pp__arena_alloc(&pool->arena, pp__align16(len) + room, len, out);
}

/* Keeps a queued future's small argument until a slot takes it (a large one
   is already in f->block). */
static int stage_arg(pp_future *f, const struct pp_arg *arg)
{
    size_t len = arg->head_len + arg->body_len;
    if (f->block.off) {
        /* already in the arena */
    } else if (len <= sizeof f->small) {
        copy_arg(f->small, arg);
    } else if (len <= PP_SLOT_DATA) {
        void *copy = malloc(len);
        if (!copy)
            return PP_ENOMEM;
        copy_arg(copy, arg);
        f->arg_copy = copy;
        f->flags |= FUT_HEAP_ARG;
    }
    return PP_OK;
}

int pp__submit_locked(pp_pool *pool, const struct pp_task_spec *spec, const struct pp_arg *arg, void *data,
                      pp_future **out)
{
    if (pool->broken)
        return PP_EBROKEN;
    if (pool->shutdown && !(spec->rest && !pool->cancelling && !pool->destroying && !pool->spawner_gone &&
                            (pool->remote || pool->spawner.cmd_fd >= 0)))
        return PP_ESHUTDOWN; /* the rest of a map goes on while the pool can still run it */
    /* sizes past any arena are refused before they enter a sum */
    if (arg->head_len > PP_ARENA_MAX_BLOCK || arg->body_len > PP_ARENA_MAX_BLOCK ||
        spec->result_hint > PP_ARENA_MAX_BLOCK)
        return PP_ENOMEM;
    uint64_t arg_len = arg->head_len + arg->body_len;
    if (!pp__arena_fits(&pool->arena, arg_len + spec->result_hint))
        return PP_ENOMEM;
    pp_future *f = pp__future_new(pool);
    if (!f)
        return PP_ENOMEM;
    f->spec = *spec;
    f->arg_len = arg_len;
    f->data = data;
    f->queued_ns = pp__now_ns();
    int rc = PP_OK;
    if (arg->placed.off) {
        f->block = arg->placed;
    } else if (arg_len > PP_SLOT_DATA) {
        rc = pp__arg_block(pool, arg_len, spec->result_hint, &f->block);
        if (rc == PP_OK)
            copy_arg(pp__block_ptr(&pool->arena, f->block), arg);
    }
    if (rc == PP_OK && !pool->nfree)
        pp__harvest_all(pool); /* slots may be done, or out of limbo */
    if (rc == PP_OK && pp__list_empty(&pool->backlog) && pool->nfree) {
        pp__future_get(f); /* the slot's */
        dispatch(pool, f, arg);
    } else if (rc == PP_OK && (rc = stage_arg(f, arg)) == PP_OK) {
        pp__future_get(f); /* the backlog's */
        pp__backlog_push(pool, f, false);
        pp__update_kicks(pool);
        if (pool->remote)
            pool->remote->wake(pool->remote);
    }
    if (rc != PP_OK) {
        if (arg->placed.off)
            f->block = (pp_block){0}; /* a failed submit leaves the buffer the caller's */
        pp__future_put(f);
        return rc;
    }
    pool->stats.submitted++;
    pool->unfinished++;
    *out = f;
    return PP_OK;
}

bool pp__drained(const pp_pool *pool)
{
    return pool->shutdown && pp__list_empty(&pool->backlog) && (!pool->jobs || pool->draining || pool->destroying);
}

bool pp__jobs(pp_pool *pool, int delta)
{
    if (delta > 0) {
        if (pool->shutdown)
            return false;
        pool->jobs++;
        return true;
    }
    if (--pool->jobs == 0)
        pp__shm_kick(pool->lay.shm); /* a shut down pool may close now */
    return false;
}

void pp__feed(pp_pool *pool)
{
    bool moved = false;
    while (pool->nfree && !pool->broken) {
        pp_future *f = pp__backlog_pop(pool);
        if (!f)
            break;
        struct pp_arg small = {.body = (f->flags & FUT_HEAP_ARG) ? f->arg_copy : f->small, .body_len = f->arg_len};
        dispatch(pool, f, &small); /* the backlog's reference becomes the slot's */
        drop_heap_arg(f);
        moved = true;
    }
    if (moved) {
        pp__update_kicks(pool);
        pp__epoch_bump();
    }
}

void pp__update_kicks(pp_pool *pool)
{
    struct pp_shm *shm = pool->lay.shm;
    atomic_store(&shm->kick_on_done, pool->done_interest || pool->cb_waiting || pool->shutdown);
    atomic_store(&shm->kick_below, pp__list_empty(&pool->backlog) ? 0 : pool->lay.nslots / 2);
}

bool pp__feed_possible(pp_pool *pool)
{
    if (pp__list_empty(&pool->backlog) || pool->broken || pool->remote)
        return false;
    if (pool->nfree || (pool->nlimbo && pp__ring_head(&pool->lay.ring) != pool->limbo_head))
        return true;
    for (uint32_t i = 0; i <= pool->lay.nslots / 64; i++)
        if (atomic_load(&pool->lay.done_bits[i]))
            return true;
    return false;
}

void pp__harvest_all(pp_pool *pool)
{
    uint32_t nslots = pool->lay.nslots, words = nslots / 64 + 1;
    for (uint32_t i = 0; i < words && !pool->remote; i++) {
        if (!atomic_load_explicit(&pool->lay.done_bits[i], memory_order_relaxed))
            continue;
        uint64_t bits = atomic_exchange(&pool->lay.done_bits[i], 0);
        while (bits) {
            uint32_t s = i * 64 + (uint32_t)__builtin_ctzll(bits);
            bits &= bits - 1;
            if (s < nslots)
                pp__harvest(pool, s);
        }
    }
    pp__slot_sweep_limbo(pool);
    pp__feed(pool);
}

/* A queued future leaves the backlog, ending with status. */
static void end_queued(pp_pool *pool, pp_future *f, int status, const char *message)
{
    pp__list_remove(&f->queue);
    f->cost = (struct pp_cost){0};
    drop_heap_arg(f);
    pp__arena_free(&pool->arena, &f->block);
    pp__complete(pool, f, status, 0, message);
    pp__future_put(f); /* the backlog's */
}

bool pp__cancel_locked(pp_pool *pool, pp_future *f)
{
    uint32_t phase = atomic_load_explicit(&f->phase, memory_order_relaxed);
    if (phase == PHASE_DONE)
        return f->status == PP_ECANCELLED;
    if (phase == PHASE_QUEUED) {
        end_queued(pool, f, PP_ECANCELLED, NULL);
        pp__update_kicks(pool);
        return true;
    }
    uint32_t s = f->slot;
    if (s == PP_NO_SLOT || !pp__slot_withdraw(pool, s)) /* taken by a backend, or claimed */
        return false;
    /* its ring cell stays until a worker pops it: the slot waits in limbo */
    pp__finish_slot(pool, s, PP_ECANCELLED, 0, NULL, NULL);
    pp__feed(pool);
    return true;
}

bool pp__kill_locked(pp_pool *pool, pp_future *f)
{
    if (pp__cancel_locked(pool, f))
        return true;
    if (atomic_load_explicit(&f->phase, memory_order_relaxed) == PHASE_DONE)
        return false;
    uint32_t s = f->slot;
    if (s == PP_NO_SLOT) { /* a remote backend runs it */
        if (!pool->remote || !pool->remote->kill)
            return false;
        f->flags |= FUT_KILLED; /* its cost is written when the backend hands it back: it still reads the spec */
        pp__complete(pool, f, PP_ECANCELLED, 0, "killed by pp_future_kill");
        pool->remote->kill(pool->remote, f);
        return true;
    }
    if (pp__harvest(pool, s)) /* it had finished: its outcome stands */
        return f->status == PP_ECANCELLED;
    struct pp_slot *slot = &pool->lay.slots[s];
    uint64_t started = slot->started_ns;
    int w = pp__abandon_slot(pool, s, KILL_CANCEL);
    if (w >= 0) {
        f->worker = (int16_t)w;
        f->pid = pool->workers[w].pid;
        f->attempts++;
    }
    f->cost = (struct pp_cost){.started_ns = w >= 0 ? started : 0, .finished_ns = pp__now_ns()};
    f->flags |= FUT_KILLED;
    pp__complete(pool, f, PP_ECANCELLED, 0, "killed by pp_future_kill");
    pp__future_put(f); /* the slot's */
    return true;
}

void pp__cancel_pending(pp_pool *pool)
{
    pp_future *f;
    while ((f = pp__backlog_pop(pool))) {
        pp__list_push_front(&pool->backlog, &f->queue); /* end_queued takes it off */
        end_queued(pool, f, PP_ECANCELLED, NULL);
    }
    for (uint32_t s = 0; s < pool->lay.nslots && !pool->remote; s++)
        if (pool->slots[s].owner)
            pp__cancel_locked(pool, pool->slots[s].owner);
    pp__update_kicks(pool);
}

void pp__break_pool(pp_pool *pool, int status, const char *message)
{
    if (pool->broken)
        return;
    pool->broken = true;
    pool->shutdown = true;
    pp_future *f;
    while ((f = pp__backlog_pop(pool))) {
        pp__list_push_front(&pool->backlog, &f->queue);
        end_queued(pool, f, status, message);
    }
    for (uint32_t s = 0; s < pool->lay.nslots && !pool->remote; s++) {
        if (!pool->slots[s].owner)
            continue;
        pp__slot_withdraw(pool, s); /* keep workers off what they have not claimed */
        pp__finish_slot(pool, s, status, 0, message, NULL);
    }
    pp__update_kicks(pool);
}
