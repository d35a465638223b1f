/* SPDX-License-Identifier: MIT */
/*
 * ring: SPMC ring of slot indices (see ring.h for the claim protocol).
 */
#define _GNU_SOURCE
#include "ring.h"

void pp__ring_push(const struct pp_ring_view *r, uint64_t *tail, uint32_t value)
{
    atomic_store_explicit(&r->cells[*tail & r->mask], value, memory_order_relaxed);
    ++*tail;
    atomic_store_explicit(&r->ctl->tail, *tail, memory_order_release);
}

uint64_t pp__ring_used(const struct pp_ring_view *r, uint64_t tail)
{
    uint64_t head = atomic_load_explicit(&r->ctl->head, memory_order_acquire);
    if (head > tail || tail - head > (uint64_t)r->mask + 1)
        return UINT64_MAX;
    return tail - head;
}

bool pp__ring_pop(const struct pp_ring_view *r, _Atomic uint32_t *intent, uint32_t *value)
{
    uint64_t head = atomic_load_explicit(&r->ctl->head, memory_order_acquire);
    for (;;) {
        uint64_t tail = atomic_load_explicit(&r->ctl->tail, memory_order_acquire);
        if (head >= tail || tail - head > (uint64_t)r->mask + 1)
            return false; /* empty, or damaged: the master finds out and ends the pool */
        uint32_t v = atomic_load_explicit(&r->cells[head & r->mask], memory_order_relaxed);
        atomic_store_explicit(intent, v, memory_order_seq_cst);
        if (atomic_compare_exchange_weak_explicit(&r->ctl->head, &head, head + 1, memory_order_seq_cst,
                                                  memory_order_acquire)) {
            *value = v;
            return true;
        }
    }
}

bool pp__ring_nonempty(const struct pp_ring_view *r)
{
    uint64_t head = atomic_load_explicit(&r->ctl->head, memory_order_acquire);
    return atomic_load_explicit(&r->ctl->tail, memory_order_acquire) > head;
}

uint64_t pp__ring_head(const struct pp_ring_view *r)
{
    return atomic_load_explicit(&r->ctl->head, memory_order_acquire);
}
