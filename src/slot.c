/* SPDX-License-Identifier: MIT */
/*
 * slot: the master's side of a slot's state word. The master keeps the
 * generation of the last word it wrote (pp_slot_info.gen) and never reads it
 * back from the mapping, so a word a task wrote over is recognised as such
 * (pp__slot_look) rather than believed: as io_uring takes its ring mask from
 * the kernel's own copy and virtio marks a ring that returns an unknown id
 * as broken. Waiting master threads are counted in the master's memory
 * (sleepers), so no task can keep them asleep by clearing the slot's shared
 * hint; the shared count only spares workers a system call.
 */
#define _GNU_SOURCE
#include "slot.h"

#include "sync.h"

struct pp_slot_view pp__slot_look(pp_pool *pool, uint32_t s)
{
    uint32_t st = atomic_load_explicit(&pool->lay.slots[s].state, memory_order_acquire);
    struct pp_slot_view v = {.word = st, .kind = ST_KIND(st), .worker = ST_WORKER(st)};
    bool by_worker = v.kind == SLOT_RUNNING || v.kind == SLOT_GROW || v.kind == SLOT_DONE;
    if (ST_GEN(st) != pool->slots[s].gen || (v.kind == SLOT_PENDING && v.worker != 0) ||
        (by_worker && v.worker >= pool->nworkers) || (v.kind != SLOT_PENDING && !by_worker))
        v.kind = SLOT_BAD;
    return v;
}

void pp__slot_renew(pp_pool *pool, uint32_t s, uint32_t kind)
{
    struct pp_slot *slot = &pool->lay.slots[s];
    struct pp_slot_info *si = &pool->slots[s];
    si->gen = (si->gen + 1) & ST_GEN_MASK;
    atomic_store(&slot->state, ST_MAKE(kind, 0, si->gen));
    /* seq_cst on both sides: a sleeper counts itself, then reads the word */
    if (atomic_load(&si->sleepers) || atomic_load(&slot->waiters))
        pp__futex_wake(&slot->state, 0x7fffffff, true);
}

/* After a push (used: what the ring holds now): wakes a sleeping worker
   unless enough spinners will take it. */
static void wake_one(pp_pool *pool, uint64_t used)
{
    struct pp_shm *shm = pool->lay.shm;
    atomic_fetch_add(&shm->work_seq, 1);
    if (atomic_load(&shm->idle_workers) && (used == UINT64_MAX || used > (uint64_t)atomic_load(&shm->spinners)))
        pp__futex_wake(&shm->work_seq, 1, true);
}

void pp__wake_workers(pp_pool *pool, bool all)
{
    if (!all) {
        wake_one(pool, pp__ring_used(&pool->lay.ring, pool->ring_tail));
        return;
    }
    atomic_fetch_add(&pool->lay.shm->work_seq, 1);
    pp__futex_wake(&pool->lay.shm->work_seq, 0x7fffffff, true);
}

static bool cell_consumed(pp_pool *pool, uint32_t s)
{
    return pp__ring_head(&pool->lay.ring) >= pool->slots[s].pushed_at;
}

void pp__slot_publish(pp_pool *pool, uint32_t s)
{
    pp__slot_renew(pool, s, SLOT_PENDING);
    /* a damaged head (pp__ring_used) pushes nothing: the audit repairs the ring */
    uint64_t used = pp__ring_used(&pool->lay.ring, pool->ring_tail);
    if (used != UINT64_MAX && pool->ring_tail - used >= pool->slots[s].pushed_at && used <= pool->lay.ring.mask) {
        pool->slots[s].pushed_at = pool->ring_tail + 1; /* consumed: head (tail - used) passed it */
        pp__ring_push(&pool->lay.ring, &pool->ring_tail, s);
        used++;
    }
    pool->slots[s].suspect = 0;
    wake_one(pool, used);
}

bool pp__slot_withdraw(pp_pool *pool, uint32_t s)
{
    struct pp_slot_view v = pp__slot_look(pool, s);
    uint32_t st = v.word;
    if (v.kind != SLOT_PENDING ||
        !atomic_compare_exchange_strong(&pool->lay.slots[s].state, &st, ST_MAKE(SLOT_CANCELLED, 0, ST_GEN(st))))
        return false;
    return true;
}

pp_block pp__slot_keep_block(pp_pool *pool, uint32_t s, uint64_t off, uint64_t len)
{
    struct pp_slot_info *si = &pool->slots[s];
    pp_block kept = {0};
    if (!(si->arg.off | si->grant.off | si->old_grant.off))
        return kept; /* small tasks hold none */
    pp_block *blocks[3] = {&si->arg, &si->grant, &si->old_grant};
    for (int i = 0; i < 3; i++) {
        pp_block *b = blocks[i];
        if (!b->off)
            continue;
        if (len && !kept.off && off >= b->off && off - b->off <= b->size && len <= b->size - (off - b->off)) {
            kept = *b;
            *b = (pp_block){0};
        } else {
            pp__arena_free(&pool->arena, b);
        }
    }
    return kept;
}

void pp__slot_release(pp_pool *pool, uint32_t s)
{
    struct pp_slot_info *si = &pool->slots[s];
    pp__slot_keep_block(pool, s, 0, 0); /* frees what is left */
    si->owner = NULL;
    si->abandoned = false;
    si->suspect = 0;
    si->seen_running_ns = 0;
    pp__slot_renew(pool, s, SLOT_FREE);
    if (cell_consumed(pool, s))
        pool->free_slots[pool->nfree++] = s;
    else
        pool->limbo[pool->nlimbo++] = s;
}

void pp__slot_sweep_limbo(pp_pool *pool)
{
    uint64_t head = pp__ring_head(&pool->lay.ring);
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
