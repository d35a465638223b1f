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
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "pool.h"

static uint64_t align16(uint64_t v)
{
    return (v + 15) & ~(uint64_t)15;
}

/* Arena bytes for a large argument plus room for the result behind it. */
static uint64_t arg_block_size(uint64_t arg_len, uint64_t result_hint)
{
    return align16(arg_len) + (result_hint > arg_len ? result_hint : arg_len);
}

/* After a push: wake a sleeping worker unless enough spinning ones will take
   what the ring holds (a serial round trip then costs no system call). */
static void wake_one_worker(struct pp_shm *shm)
{
    atomic_fetch_add(&shm->work_seq, 1);
    if (atomic_load(&shm->idle_workers) &&
        (int64_t)pp_ring_count(&shm->ring) > (int64_t)atomic_load(&shm->spinners))
        pp_futex_wake(&shm->work_seq, 1, true);
}

static void push_slot(pp_pool *pool, uint32_t s)
{
    if (pp_ring_push(&pool->shm->ring, s))
        wake_one_worker(pool->shm);
    else
        pool->unpushed[pool->nunpushed++] = s;
}

static void copy_arg(void *dst, const struct pp_arg *arg)
{
    if (arg->head_len)
        memcpy(dst, arg->head, arg->head_len);
    if (arg->body_len)
        memcpy((char *)dst + arg->head_len, arg->body, arg->body_len);
}

/* Gives the slot's state word a new generation: whoever sleeps on it wakes and
   whatever still points at it (a stale ring cell, a dead worker) finds it stale. */
static void retire_state(struct pp_slot *slot)
{
    uint32_t gen = ST_GEN(atomic_load_explicit(&slot->state, memory_order_relaxed)) + 1;
    atomic_store_explicit(&slot->state, ST_MAKE(SLOT_FREE, 0, gen), memory_order_release);
    if (atomic_load(&slot->waiters))
        pp_futex_wake(&slot->state, 0x7fffffff, true);
}

void pp_slot_reclaim(pp_pool *pool, uint32_t s)
{
    pool->free_slots[pool->nfree++] = s;
}

/* Moves f into a free slot; small_arg holds the argument unless f->block does. */
static void dispatch(pp_pool *pool, struct pp_future *f, const struct pp_arg *small_arg)
{
    uint32_t s = pool->free_slots[--pool->nfree];
    struct pp_slot *slot = &pool->shm->slots[s];
    struct pp_slot_info *si = &pool->slots[s];
    char *base = (char *)pool->shm;

    slot->fn = f->fn;
    slot->flags = (f->flags & FUT_MAP_CHUNK) ? SLOT_MAP_CHUNK : 0;
    slot->deadline_ns = f->deadline_ns;
    slot->arg_len = f->arg_len;
    slot->code = 0;
    slot->res_off = slot->res_len = slot->grow_len = 0;
    slot->msg_len = 0;
    atomic_store_explicit(&slot->progress, 0, memory_order_relaxed);
    slot->grant_off = slot->grant_cap = 0;
    si->owner = f;
    si->arg = f->block;
    si->grant = (pp_block){0};
    f->block = (pp_block){0};
    if (si->arg.off) {
        slot->arg_off = si->arg.off;
        slot->grant_off = si->arg.off + align16(f->arg_len);
        slot->grant_cap = si->arg.size - align16(f->arg_len);
    } else {
        slot->arg_off = (uint64_t)((char *)slot->data - base);
        copy_arg(slot->data, small_arg);
        if (f->result_hint > PP_SLOT_DATA - align16(f->arg_len) &&
            pp_arena_alloc(&pool->arena, f->result_hint, &si->grant) == PP_OK) {
            slot->grant_off = si->grant.off;
            slot->grant_cap = si->grant.size;
        }
    }
    f->slot = s;
    atomic_store_explicit(&f->phase, PHASE_DISPATCHED, memory_order_release);
    uint32_t gen = ST_GEN(atomic_load_explicit(&slot->state, memory_order_relaxed)) + 1;
    atomic_store_explicit(&slot->state, ST_MAKE(SLOT_PENDING, 0, gen), memory_order_release);
    push_slot(pool, s);
}

static struct pp_future *future_new(pp_pool *pool)
{
    struct pp_future *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->pool = pool;
    f->slot = PP_NO_SLOT;
    f->next = pool->live.next;
    f->prev = &pool->live;
    pool->live.next->prev = f;
    pool->live.next = f;
    return f;
}

void pp_future_free(struct pp_future *f)
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
    pp_arena_free(&pool->arena, &f->block);
    free(f->message);
    free(f);
}

void pp_future_maybe_free(struct pp_future *f)
{
    if ((f->flags & FUT_RELEASED) && !(f->flags & (FUT_QUEUED | FUT_CALLBACKS)) &&
        atomic_load_explicit(&f->phase, memory_order_relaxed) == PHASE_DONE)
        pp_future_free(f);
}

/* Keeps a queued future's small argument until a slot takes it (a large one
   is already in f->block). */
static int stage_arg(struct pp_future *f, const struct pp_arg *arg)
{
    size_t len = arg->head_len + arg->body_len;
    if (len <= sizeof f->small) {
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

int pp_submit_locked(pp_pool *pool, pp_fn fn, const struct pp_arg *arg, uint64_t deadline_ns,
                     uint64_t result_hint, uint32_t flags, pp_future **out)
{
    size_t arg_len = arg->head_len + arg->body_len;
    if (pool->broken)
        return PP_EBROKEN;
    if (pool->shutdown)
        return PP_ESHUTDOWN;
    struct pp_future *f = future_new(pool);
    if (!f)
        return PP_ENOMEM;
    f->fn = fn;
    f->arg_len = arg_len;
    f->deadline_ns = deadline_ns;
    f->result_hint = result_hint;
    f->flags = flags;
    if (arg_len > PP_SLOT_DATA) {
        int rc = pp_arena_alloc(&pool->arena, arg_block_size(arg_len, result_hint), &f->block);
        if (rc != PP_OK) {
            pp_future_free(f);
            return rc;
        }
        copy_arg(pp_block_ptr(&pool->arena, f->block), arg);
    }
    if (!pool->nfree)
        pp_harvest_all(pool); /* slots may be done but not yet harvested */
    if (!pool->backlog && pool->nfree) {
        dispatch(pool, f, arg);
    } else {
        int rc = stage_arg(f, arg);
        if (rc != PP_OK) {
            pp_future_free(f);
            return rc;
        }
        if (pool->backlog_tail)
            pool->backlog_tail->qnext = f;
        else
            pool->backlog = f;
        pool->backlog_tail = f;
        f->flags |= FUT_QUEUED;
        pp_update_kicks(pool);
    }
    pool->stats.submitted++;
    pool->unfinished++;
    *out = f;
    return PP_OK;
}

static struct pp_future *backlog_pop(pp_pool *pool)
{
    struct pp_future *f = pool->backlog;
    pool->backlog = f->qnext;
    if (!pool->backlog)
        pool->backlog_tail = NULL;
    f->qnext = NULL;
    f->flags &= ~(uint32_t)FUT_QUEUED;
    return f;
}

void pp_feed(pp_pool *pool)
{
    uint32_t n = pool->nunpushed;
    pool->nunpushed = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t s = pool->unpushed[i];
        if (ST_KIND(atomic_load(&pool->shm->slots[s].state)) == SLOT_PENDING)
            push_slot(pool, s);
    }
    bool moved = false;
    while (pool->backlog && pool->nfree && !pool->broken) {
        struct pp_future *f = backlog_pop(pool);
        if (atomic_load_explicit(&f->phase, memory_order_relaxed) == PHASE_DONE) {
            pp_future_maybe_free(f); /* cancelled while queued */
            continue;
        }
        struct pp_arg small = {.body = (f->flags & FUT_HEAP_ARG) ? f->result : f->small,
                               .body_len = f->arg_len};
        dispatch(pool, f, &small);
        if (f->flags & FUT_HEAP_ARG) {
            free((void *)f->result);
            f->result = NULL;
            f->flags &= ~(uint32_t)FUT_HEAP_ARG;
        }
        moved = true;
    }
    if (moved) {
        pp_update_kicks(pool);
        pp_epoch_bump();
    }
}

void pp_update_kicks(pp_pool *pool)
{
    struct pp_shm *shm = pool->shm;
    atomic_store(&shm->kick_on_done, pool->done_interest || pool->cb_waiting || pool->shutdown);
    atomic_store(&shm->kick_below, pool->backlog ? shm->nslots / 2 : 0);
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
    pp_arena_free(&pool->arena, &si->arg);
    pp_arena_free(&pool->arena, &si->grant);
    return kept;
}

/* Gives f the result bytes the worker left at [off, off+len): PP_ECRASHED if
   they lie outside every space the slot was given. */
static int take_result(pp_pool *pool, uint32_t s, struct pp_future *f, uint64_t off, uint64_t len)
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

bool pp_harvest(pp_pool *pool, uint32_t s)
{
    struct pp_slot *slot = &pool->shm->slots[s];
    struct pp_slot_info *si = &pool->slots[s];
    if (ST_KIND(atomic_load_explicit(&slot->state, memory_order_acquire)) != SLOT_DONE || !si->owner)
        return false;
    struct pp_future *f = si->owner;
    si->owner = NULL;
    int code = slot->code, status = PP_OK;
    char *msg = NULL;
    if (code != 0) {
        status = PP_ETASK;
        msg = slot_message(slot);
        keep_block(pool, si, 0, 0);
    } else {
        status = take_result(pool, s, f, slot->res_off, slot->res_len);
    }
    retire_state(slot);
    pp_slot_reclaim(pool, s);
    f->message = msg;
    pp_complete(pool, f, status, code, NULL);
    return true;
}

void pp_harvest_all(pp_pool *pool)
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
                pp_harvest(pool, s);
        }
    }
    pp_feed(pool);
}

void pp_finish_slot(pp_pool *pool, uint32_t s, int status, int code, const char *message)
{
    struct pp_slot *slot = &pool->shm->slots[s];
    struct pp_slot_info *si = &pool->slots[s];
    struct pp_future *f = si->owner;
    if (!f)
        return;
    si->owner = NULL;
    if ((f->flags & FUT_MAP_CHUNK) && slot->res_len) {
        /* a map chunk keeps the items it finished (see map.c) */
        if (take_result(pool, s, f, slot->res_off, slot->res_len) != PP_OK)
            f->result_len = 0;
        code = (int)atomic_load(&slot->progress);
    } else {
        keep_block(pool, si, 0, 0);
    }
    pp_complete(pool, f, status, code, message);
    retire_state(slot);
}

void pp_requeue_slot(pp_pool *pool, uint32_t s)
{
    struct pp_slot *slot = &pool->shm->slots[s];
    uint32_t gen = ST_GEN(atomic_load(&slot->state)) + 1;
    slot->res_off = slot->res_len = slot->grow_len = 0;
    slot->msg_len = 0;
    atomic_store(&slot->progress, 0);
    atomic_store_explicit(&slot->state, ST_MAKE(SLOT_PENDING, 0, gen), memory_order_release);
    push_slot(pool, s);
}

void pp_complete(pp_pool *pool, struct pp_future *f, int status, int code, const char *message)
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
        if (!pp_on_monitor_thread(pool))
            pp_shm_kick(pool->shm);
    } else {
        pp_future_maybe_free(f);
    }
    pp_epoch_bump();
}

bool pp_cancel_locked(pp_pool *pool, struct pp_future *f)
{
    uint32_t phase = atomic_load_explicit(&f->phase, memory_order_relaxed);
    if (phase == PHASE_DONE)
        return f->status == PP_ECANCELLED;
    if (phase == PHASE_QUEUED) {
        /* stays in the backlog until pp_feed skips it */
        if (f->flags & FUT_HEAP_ARG) {
            free((void *)f->result);
            f->result = NULL;
            f->flags &= ~(uint32_t)FUT_HEAP_ARG;
        }
        pp_arena_free(&pool->arena, &f->block);
        pp_complete(pool, f, PP_ECANCELLED, 0, NULL);
        return true;
    }
    uint32_t s = f->slot;
    struct pp_slot *slot = &pool->shm->slots[s];
    uint32_t st = atomic_load(&slot->state);
    if (ST_KIND(st) != SLOT_PENDING ||
        !atomic_compare_exchange_strong(&slot->state, &st, ST_MAKE(SLOT_CANCELLED, 0, ST_GEN(st))))
        return false;
    /* a worker may still pop this slot's ring cell: it finds CANCELLED (or a
       later task, which it may then run) and claims nothing it should not */
    pp_finish_slot(pool, s, PP_ECANCELLED, 0, NULL);
    pp_slot_reclaim(pool, s);
    pp_feed(pool);
    return true;
}
