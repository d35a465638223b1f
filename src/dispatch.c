/* SPDX-License-Identifier: MIT */
/*
 * dispatch: the master's half of the data path, always under pool->lock.
 *
 * A submitted task becomes a future. When a slot is free and nothing waits
 * before it, its argument is copied straight into the slot (small) or into an
 * arena block (large) and the slot index goes into the ring; otherwise the
 * future waits in the backlog, a master-side FIFO, holding its argument in
 * the future (small), on the heap (up to a slot's inline size) or already in
 * the arena (large, so it is still copied only once). Feeding moves backlog
 * futures into slots as slots come free, which is why submit never blocks.
 *
 * Harvesting turns a DONE slot back into a free one: a small result is copied
 * into the future, a large one stays where the worker wrote it and the future
 * keeps that arena block until it is released.
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
 *     the ring holds (wake_one_worker).
 *   - While the backlog is not empty, kick_below is set, and a worker kicks
 *     the monitor (a) when it publishes a result while the ring holds fewer
 *     than kick_below cells, and (b) always before it goes to sleep.
 *   - A kicked monitor harvests, sweeps limbo and feeds (pp__harvest_all).
 * INVARIANT 2: while the backlog is not empty, some process will call
 * pp__harvest_all after the last slot comes free. A slot comes free when a
 * worker publishes or pops a stale cell; that worker then runs a task (and
 * publishes again) or goes to sleep, and either kicks while the ring is low.
 * Master threads waiting on a queued future harvest before they sleep.
 */
#define _GNU_SOURCE
#include "dispatch.h"

#include <stdlib.h>
#include <string.h>

#include "ring.h"
#include "sync.h"

/* The pool whose monitor this thread is, set by the monitor itself (reading
   pool->monitor could race with pthread_create storing it). */
static _Thread_local const pp_pool *monitor_of_this_thread;

void pp__set_monitor_thread(const pp_pool *pool)
{
    monitor_of_this_thread = pool;
}

bool pp__on_monitor_thread(const pp_pool *pool)
{
    return monitor_of_this_thread == pool;
}

/* After a push: wake a sleeping worker unless enough spinning ones will take
   what the ring holds (a serial round trip then costs no system call). */
static void wake_one_worker(struct pp_shm *shm)
{
    atomic_fetch_add(&shm->work_seq, 1);
    if (atomic_load(&shm->idle_workers) &&
        (int64_t)pp__ring_count(&shm->ring) > (int64_t)atomic_load(&shm->spinners))
        pp__futex_wake(&shm->work_seq, 1, true);
}

static bool cell_consumed(pp_pool *pool, uint32_t s)
{
    return pp__ring_head(&pool->shm->ring) >= pool->slots[s].pushed_at;
}

/* Puts a PENDING slot where workers find it (see INVARIANT 1). */
static void push_slot(pp_pool *pool, uint32_t s)
{
    if (cell_consumed(pool, s)) {
        pool->slots[s].pushed_at = pp__ring_tail(&pool->shm->ring) + 1;
        pp__ring_push(&pool->shm->ring, s); /* cannot fail: INVARIANT 1 */
    }
    wake_one_worker(pool->shm);
}

/* A slot nobody owns any more goes back to the free stack, or to limbo while
   its last cell is in the ring. */
static void release_slot(pp_pool *pool, uint32_t s)
{
    if (cell_consumed(pool, s))
        pool->free_slots[pool->nfree++] = s;
    else
        pool->limbo[pool->nlimbo++] = s;
}

static void sweep_limbo(pp_pool *pool)
{
    uint64_t head = pp__ring_head(&pool->shm->ring);
    if (!pool->nlimbo || head == pool->limbo_head)
        return;
    pool->limbo_head = head;
    for (uint32_t i = 0; i < pool->nlimbo;) {
        uint32_t s = pool->limbo[i];
        if (head >= pool->slots[s].pushed_at) {
            pool->free_slots[pool->nfree++] = s;
            pool->limbo[i] = pool->limbo[--pool->nlimbo];
        } else {
            i++;
        }
    }
}

static void copy_arg(void *dst, const struct pp_arg *arg)
{
    if (arg->head_len)
        memcpy(dst, arg->head, arg->head_len);
    if (arg->body_len)
        memcpy((char *)dst + arg->head_len, arg->body, arg->body_len);
}

/* Moves f into a free slot; small_arg holds the argument unless f->block does. */
static void dispatch(pp_pool *pool, pp_future *f, const struct pp_arg *small_arg)
{
    uint32_t s = pool->free_slots[--pool->nfree];
    struct pp_slot *slot = &pool->shm->slots[s];
    struct pp_slot_info *si = &pool->slots[s];
    char *base = (char *)pool->shm;

    const struct pp_task_spec *spec = &f->u.in.spec;
    uint64_t arg_len = f->u.in.arg_len;
    slot->fn = spec->fn;
    slot->deadline_ns = spec->deadline_ns;
    slot->cpu_limit_ns = spec->cpu_limit_ns;
    slot->arg_len = arg_len;
    slot->code = 0;
    slot->res_off = slot->res_len = slot->grow_len = 0;
    slot->msg_len = 0;
    slot->started_ns = slot->finished_ns = 0;
    slot->grant_off = slot->grant_cap = 0;
    si->owner = f;
    si->arg = f->block;
    si->grant = (pp_block){0};
    f->block = (pp_block){0};
    if (si->arg.off) {
        slot->arg_off = si->arg.off;
        slot->grant_off = si->arg.off + pp__align16(arg_len);
        slot->grant_cap = si->arg.size - pp__align16(arg_len);
    } else {
        slot->arg_off = (uint64_t)((char *)slot->data - base);
        copy_arg(slot->data, small_arg);
        if (spec->result_hint > PP_SLOT_DATA - pp__align16(arg_len) &&
            pp__arena_alloc(&pool->arena, spec->result_hint, &si->grant) == PP_OK) {
            slot->grant_off = si->grant.off;
            slot->grant_cap = si->grant.size;
        }
    }
    f->slot = s;
    atomic_store_explicit(&f->phase, PHASE_DISPATCHED, memory_order_release);
    pp__slot_renew(slot, SLOT_PENDING);
    push_slot(pool, s);
}

static pp_future *future_new(pp_pool *pool)
{
    pp_future *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->pool = pool;
    f->slot = PP_NO_SLOT;
    f->worker = -1;
    f->next = pool->live.next;
    f->prev = &pool->live;
    pool->live.next->prev = f;
    pool->live.next = f;
    return f;
}

static void drop_heap_arg(pp_future *f)
{
    if (f->flags & FUT_HEAP_ARG) {
        free((void *)f->result);
        f->result = NULL;
        f->flags &= (uint16_t)~FUT_HEAP_ARG;
    }
}

int pp__arg_block(pp_pool *pool, uint64_t len, uint64_t result_hint, pp_block *out)
{
    if (len > PP_ARENA_MAX_BLOCK || result_hint > PP_ARENA_MAX_BLOCK)
        return PP_ENOMEM;
    /* a worker writes its result behind the argument; a remote pool's result
       arrives into room made when it comes (pp__taken_room), so room reserved
       here would only double what a large argument holds */
    uint64_t room = pool->remote ? result_hint : result_hint > len ? result_hint : len;
    return pp__arena_alloc(&pool->arena, pp__align16(len) + room, out);
}

void pp__future_free(pp_future *f)
{
    pp_pool *pool = f->pool;
    f->prev->next = f->next;
    f->next->prev = f->prev;
    for (struct pp_callback *cb = f->callbacks, *next; cb; cb = next) {
        next = cb->next;
        free(cb);
    }
    if (f->flags & (FUT_HEAP_RESULT | FUT_HEAP_ARG))
        free((void *)f->result);
    pp__arena_free(&pool->arena, &f->block);
    free(f->message);
    free(f);
}

void pp__future_maybe_free(pp_future *f)
{
    if ((f->flags & FUT_RELEASED) && !(f->flags & (FUT_QUEUED | FUT_CALLBACKS)) &&
        atomic_load_explicit(&f->phase, memory_order_relaxed) == PHASE_DONE)
        pp__future_free(f);
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
        f->result = copy;
        f->flags |= FUT_HEAP_ARG;
    }
    return PP_OK;
}

int pp__submit_locked(pp_pool *pool, const struct pp_task_spec *spec, const struct pp_arg *arg, void *data,
                      pp_future **out)
{
    uint64_t result_hint = spec->result_hint;
    if (pool->broken)
        return PP_EBROKEN;
    if (pool->shutdown)
        return PP_ESHUTDOWN;
    /* sizes past any arena are refused before they enter a sum */
    if (arg->head_len > PP_ARENA_MAX_BLOCK || arg->body_len > PP_ARENA_MAX_BLOCK ||
        result_hint > PP_ARENA_MAX_BLOCK)
        return PP_ENOMEM;
    uint64_t arg_len = arg->head_len + arg->body_len;
    pp_future *f = future_new(pool);
    if (!f)
        return PP_ENOMEM;
    f->u.in.spec = *spec;
    f->u.in.arg_len = arg_len;
    f->data = data;
    f->u.in.queued_ns = pp__now_ns();
    if (arg->placed.off) {
        f->block = arg->placed;
    } else if (arg_len > PP_SLOT_DATA) {
        int rc = pp__arg_block(pool, arg_len, result_hint, &f->block);
        if (rc != PP_OK) {
            pp__future_free(f);
            return rc;
        }
        copy_arg(pp__block_ptr(&pool->arena, f->block), arg);
    }
    if (!pool->nfree)
        pp__harvest_all(pool); /* slots may be done, or out of limbo */
    if (!pool->backlog && pool->nfree) {
        dispatch(pool, f, arg);
    } else {
        int rc = stage_arg(f, arg);
        if (rc != PP_OK) {
            pp__future_free(f);
            return rc;
        }
        if (pool->backlog_tail)
            pool->backlog_tail->qnext = f;
        else
            pool->backlog = f;
        pool->backlog_tail = f;
        f->flags |= FUT_QUEUED;
        pp__update_kicks(pool);
        if (pool->remote)
            pool->remote->wake(pool->remote);
    }
    pool->stats.submitted++;
    pool->unfinished++;
    *out = f;
    return PP_OK;
}

static pp_future *backlog_pop(pp_pool *pool)
{
    pp_future *f = pool->backlog;
    pool->backlog = f->qnext;
    if (!pool->backlog)
        pool->backlog_tail = NULL;
    f->qnext = NULL;
    f->flags &= (uint16_t)~FUT_QUEUED;
    return f;
}

static void feed(pp_pool *pool)
{
    bool moved = false, had_backlog = pool->backlog != NULL;
    while (pool->backlog && pool->nfree && !pool->broken) {
        pp_future *f = backlog_pop(pool);
        if (atomic_load_explicit(&f->phase, memory_order_relaxed) == PHASE_DONE) {
            pp__future_maybe_free(f); /* cancelled while queued */
            continue;
        }
        struct pp_arg small = {.body = (f->flags & FUT_HEAP_ARG) ? f->result : f->small,
                               .body_len = f->u.in.arg_len};
        dispatch(pool, f, &small);
        drop_heap_arg(f);
        moved = true;
    }
    if (moved || (had_backlog && !pool->backlog)) {
        pp__update_kicks(pool);
        pp__epoch_bump();
    }
}

void pp__update_kicks(pp_pool *pool)
{
    struct pp_shm *shm = pool->shm;
    atomic_store(&shm->kick_on_done, pool->done_interest || pool->cb_waiting || pool->shutdown);
    atomic_store(&shm->kick_below, pool->backlog ? shm->nslots / 2 : 0);
}

bool pp__feed_possible(pp_pool *pool)
{
    struct pp_shm *shm = pool->shm;
    if (!pool->backlog || pool->broken)
        return false;
    if (pool->nfree || (pool->nlimbo && pp__ring_head(&shm->ring) != pool->limbo_head))
        return true;
    for (uint32_t i = 0; i <= shm->nslots / 64; i++)
        if (atomic_load(&shm->done_bits[i]))
            return true;
    return false;
}

/* Frees what the slot held, except the block (if any) that holds [off, off+len). */
static pp_block keep_block(pp_pool *pool, struct pp_slot_info *si, uint64_t off, uint64_t len)
{
    pp_block kept = {0};
    pp_block *blocks[2] = {&si->arg, &si->grant};
    for (int i = 0; i < 2; i++) {
        pp_block *b = blocks[i];
        if (b->off && off >= b->off && off - b->off <= b->size && len <= b->size - (off - b->off)) {
            kept = *b;
            *b = (pp_block){0};
        }
    }
    pp__arena_free(&pool->arena, &si->arg);
    pp__arena_free(&pool->arena, &si->grant);
    return kept;
}

/* Gives f the result bytes the worker left at [off, off+len): PP_ECRASHED if
   they lie outside every space the slot was given. */
static int take_result(pp_pool *pool, uint32_t s, pp_future *f, uint64_t off, uint64_t len)
{
    struct pp_slot *slot = &pool->shm->slots[s];
    char *base = (char *)pool->shm;
    uint64_t data = (uint64_t)((char *)slot->data - base);
    pp_block kept = keep_block(pool, &pool->slots[s], off, len);
    if (kept.off) {
        f->block = kept;
        f->result = base + off;
    } else if (len == 0) {
        f->result = f->small;
    } else if (off >= data && off - data <= PP_SLOT_DATA && len <= PP_SLOT_DATA - (off - data)) {
        void *dst = f->small;
        if (len > sizeof f->small) {
            dst = malloc(len);
            if (!dst)
                return PP_ENOMEM;
            f->flags |= FUT_HEAP_RESULT;
        }
        memcpy(dst, base + off, len);
        f->result = dst;
    } else {
        return PP_ECRASHED;
    }
    f->result_len = len;
    return PP_OK;
}

static char *slot_message(struct pp_slot *slot)
{
    if (!slot->msg_len)
        return NULL;
    size_t n = slot->msg_len > PP_MESSAGE_MAX ? PP_MESSAGE_MAX : slot->msg_len;
    char *m = malloc(n + 1);
    if (m) {
        memcpy(m, slot->data, n);
        m[n] = 0;
    }
    return m;
}

/* Records what the task cost; the submit time moves over from u.in, whose
   other fields are dead once a slot or the end has taken the task. */
static void set_cost(pp_future *f, struct pp_cost c)
{
    c.queued_ns = f->u.in.queued_ns;
    f->u.out = c;
}

/* Who ran the slot's task, from its state word (before it is renewed). */
static void note_worker(pp_pool *pool, pp_future *f, uint32_t st)
{
    uint32_t kind = ST_KIND(st), w = ST_WORKER(st);
    if ((kind == SLOT_DONE || kind == SLOT_RUNNING || kind == SLOT_GROW) && w < pool->nworkers) {
        f->worker = (int16_t)w;
        f->pid = pool->workers[w].pid;
    }
}

bool pp__harvest(pp_pool *pool, uint32_t s)
{
    struct pp_slot *slot = &pool->shm->slots[s];
    struct pp_slot_info *si = &pool->slots[s];
    uint32_t st = atomic_load_explicit(&slot->state, memory_order_acquire);
    if (ST_KIND(st) != SLOT_DONE || !si->owner)
        return false;
    pp_future *f = si->owner;
    si->owner = NULL;
    note_worker(pool, f, st);
    set_cost(f, (struct pp_cost){.started_ns = slot->started_ns,
                                 .finished_ns = slot->finished_ns,
                                 .user_us = slot->user_us,
                                 .sys_us = slot->sys_us,
                                 .peak_rss = slot->peak_rss});
    int code = slot->code, status = PP_OK;
    char *msg = NULL;
    if (code != 0) {
        status = PP_ETASK;
        msg = slot_message(slot);
        keep_block(pool, si, 0, 0);
    } else {
        status = take_result(pool, s, f, slot->res_off, slot->res_len);
    }
    pp__slot_renew(slot, SLOT_FREE);
    release_slot(pool, s);
    f->message = msg;
    pp__complete(pool, f, status, code, NULL);
    return true;
}

void pp__harvest_all(pp_pool *pool)
{
    struct pp_shm *shm = pool->shm;
    uint32_t words = shm->nslots / 64 + 1;
    for (uint32_t i = 0; i < words; i++) {
        if (!atomic_load_explicit(&shm->done_bits[i], memory_order_relaxed))
            continue;
        uint64_t bits = atomic_exchange(&shm->done_bits[i], 0);
        while (bits) {
            uint32_t s = i * 64 + (uint32_t)__builtin_ctzll(bits);
            bits &= bits - 1;
            if (s < shm->nslots)
                pp__harvest(pool, s);
        }
    }
    sweep_limbo(pool);
    feed(pool);
}

void pp__finish_slot(pp_pool *pool, uint32_t s, int status, int code, const char *message,
                     const struct pp_cost *cost)
{
    struct pp_slot *slot = &pool->shm->slots[s];
    struct pp_slot_info *si = &pool->slots[s];
    pp_future *f = si->owner;
    if (!f)
        return;
    si->owner = NULL;
    uint32_t st = atomic_load(&slot->state);
    uint32_t kind = ST_KIND(st);
    bool ran = kind == SLOT_RUNNING || kind == SLOT_GROW;
    if (ran)
        note_worker(pool, f, st);
    if (cost)
        set_cost(f, *cost);
    else
        set_cost(f, (struct pp_cost){.started_ns = ran ? slot->started_ns : 0, .finished_ns = ran ? pp__now_ns() : 0});
    /* what the task had reserved stays readable by the library (map.c
       reads the items a chunk finished before its worker died) */
    if (!slot->res_len || take_result(pool, s, f, slot->res_off, slot->res_len) != PP_OK)
        keep_block(pool, si, 0, 0);
    pp__slot_renew(slot, SLOT_FREE);
    release_slot(pool, s);
    pp__complete(pool, f, status, code, message);
}

void pp__requeue_slot(pp_pool *pool, uint32_t s)
{
    struct pp_slot *slot = &pool->shm->slots[s];
    slot->res_off = slot->res_len = slot->grow_len = 0;
    slot->msg_len = 0;
    pp__slot_renew(slot, SLOT_PENDING);
    push_slot(pool, s);
}

void pp__complete(pp_pool *pool, pp_future *f, int status, int code, const char *message)
{
    f->status = status;
    f->code = code;
    if (message && !f->message)
        f->message = strdup(message);
    switch (status) {
    case PP_OK: pool->stats.completed++; break;
    case PP_ETASK: pool->stats.failed++; break;
    case PP_ECRASHED: pool->stats.crashed++; break;
    case PP_ECANCELLED: pool->stats.cancelled++; break;
    case PP_EDEADLINE: pool->stats.deadline_kills++; break;
    default: break;
    }
    pool->unfinished--;
    if (f->callbacks)
        pool->cb_waiting--;
    f->slot = PP_NO_SLOT;
    atomic_store_explicit(&f->phase, PHASE_DONE, memory_order_release);
    if (f->callbacks) {
        f->flags |= FUT_CALLBACKS;
        f->qnext = NULL;
        if (pool->cb_tail)
            pool->cb_tail->qnext = f;
        else
            pool->cb_queue = f;
        pool->cb_tail = f;
        if (!pp__on_monitor_thread(pool))
            pp__shm_kick(pool->shm);
    } else {
        pp__future_maybe_free(f);
    }
    pp__epoch_bump();
}

/* PENDING -> CANCELLED by CAS: true if no worker had claimed the task. */
static bool withdraw(struct pp_slot *slot)
{
    uint32_t st = atomic_load(&slot->state);
    return ST_KIND(st) == SLOT_PENDING &&
           atomic_compare_exchange_strong(&slot->state, &st, ST_MAKE(SLOT_CANCELLED, 0, ST_GEN(st)));
}

bool pp__cancel_locked(pp_pool *pool, pp_future *f)
{
    uint32_t phase = atomic_load_explicit(&f->phase, memory_order_relaxed);
    if (phase == PHASE_DONE)
        return f->status == PP_ECANCELLED;
    if (phase == PHASE_QUEUED) {
        /* stays in the backlog until feed skips it */
        set_cost(f, (struct pp_cost){0});
        drop_heap_arg(f);
        pp__arena_free(&pool->arena, &f->block);
        pp__complete(pool, f, PP_ECANCELLED, 0, NULL);
        return true;
    }
    uint32_t s = f->slot;
    if (s == PP_NO_SLOT) /* taken by a remote backend: running */
        return false;
    if (!withdraw(&pool->shm->slots[s]))
        return false;
    /* its ring cell stays until a worker pops it: the slot waits in limbo */
    pp__finish_slot(pool, s, PP_ECANCELLED, 0, NULL, NULL);
    feed(pool);
    return true;
}

void pp__cancel_pending(pp_pool *pool)
{
    while (pool->backlog) {
        pp_future *f = backlog_pop(pool);
        pp__cancel_locked(pool, f);
        pp__future_maybe_free(f);
    }
    for (uint32_t s = 0; s < pool->shm->nslots; s++)
        if (pool->slots[s].owner)
            pp__cancel_locked(pool, pool->slots[s].owner);
    pp__update_kicks(pool);
}

void pp__break_pool(pp_pool *pool, int status)
{
    if (pool->broken)
        return;
    pool->broken = true;
    pool->shutdown = true;
    while (pool->backlog) {
        pp_future *f = backlog_pop(pool);
        if (atomic_load(&f->phase) != PHASE_DONE) {
            set_cost(f, (struct pp_cost){0});
            drop_heap_arg(f);
            pp__arena_free(&pool->arena, &f->block);
            pp__complete(pool, f, status, 0, "the pool is broken");
        } else {
            pp__future_maybe_free(f);
        }
    }
    for (uint32_t s = 0; s < pool->shm->nslots; s++) {
        withdraw(&pool->shm->slots[s]); /* keep workers off what they have not claimed */
        pp__finish_slot(pool, s, status, 0, "the pool is broken", NULL);
    }
    pp__update_kicks(pool);
}

/* ---- a remote backend's side (pool.h: struct pp_remote) --------------------- */

pp_future *pp__take_queued(pp_pool *pool)
{
    while (pool->backlog && !pool->broken) {
        pp_future *f = backlog_pop(pool);
        if (atomic_load_explicit(&f->phase, memory_order_relaxed) == PHASE_DONE) {
            pp__future_maybe_free(f); /* cancelled while queued */
            continue;
        }
        atomic_store_explicit(&f->phase, PHASE_DISPATCHED, memory_order_release);
        if (!pool->backlog)
            pp__update_kicks(pool);
        pp__epoch_bump();
        return f;
    }
    return NULL;
}

void pp__taken_arg(const pp_pool *pool, const pp_future *f, const void **arg, size_t *len)
{
    *len = f->u.in.arg_len;
    if (f->block.off)
        *arg = pp__block_ptr(&pool->arena, f->block);
    else
        *arg = (f->flags & FUT_HEAP_ARG) ? f->result : f->small;
}

void pp__return_taken(pp_pool *pool, pp_future *f)
{
    atomic_store_explicit(&f->phase, PHASE_QUEUED, memory_order_release);
    f->qnext = pool->backlog;
    pool->backlog = f;
    if (!pool->backlog_tail)
        pool->backlog_tail = f;
    f->flags |= FUT_QUEUED;
    pp__update_kicks(pool);
    pp__epoch_bump();
}

void *pp__taken_room(pp_pool *pool, pp_future *f, size_t len)
{
    uint64_t at = pp__align16(f->u.in.arg_len);
    if (f->block.off && at <= f->block.size && len <= f->block.size - at)
        return (char *)pp__block_ptr(&pool->arena, f->block) + at; /* as a local worker would */
    if (f->block.off)
        f->u.in.arg_len = 0; /* the argument is gone: the block below holds the result alone */
    pp__arena_free(&pool->arena, &f->block);
    if (pp__arena_alloc(&pool->arena, len, &f->block) != PP_OK)
        return NULL;
    return pp__block_ptr(&pool->arena, f->block);
}

int pp__settle_taken(pp_pool *pool, pp_future *f, const struct pp_outcome *o)
{
    uintptr_t base = f->block.off ? (uintptr_t)pp__block_ptr(&pool->arena, f->block) : 0;
    uintptr_t at = (uintptr_t)o->bytes;
    bool in_block = base && at >= base && at - base <= f->block.size && o->len <= f->block.size - (at - base);
    drop_heap_arg(f);
    if (!in_block)
        pp__arena_free(&pool->arena, &f->block);
    set_cost(f, o->cost);
    f->worker = (int16_t)o->worker;
    f->pid = o->pid;
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
    return status;
}
