/* SPDX-License-Identifier: MIT */
/*
 * ring: SPMC ring of slot indices (see ring.h for the claim protocol).
 */
#define _GNU_SOURCE
#include "ring.h"

void pp__ring_init(struct pp_ring *ring, _Atomic uint32_t *cells, uint32_t capacity)
{
    atomic_init(&ring->head, 0);
    atomic_init(&ring->tail, 0);
    ring->mask = capacity - 1;
    ring->cells = cells;
}

bool pp__ring_push(struct pp_ring *ring, uint32_t value)
{
    uint64_t tail = atomic_load_explicit(&ring->tail, memory_order_relaxed);
    if (tail - atomic_load_explicit(&ring->head, memory_order_acquire) > ring->mask)
        return false;
    atomic_store_explicit(&ring->cells[tail & ring->mask], value, memory_order_relaxed);
    atomic_store_explicit(&ring->tail, tail + 1, memory_order_release);
    return true;
}

bool pp__ring_pop(struct pp_ring *ring, _Atomic uint32_t *intent, uint32_t *value)
{
    uint64_t head = atomic_load_explicit(&ring->head, memory_order_acquire);
    for (;;) {
        if (head == atomic_load_explicit(&ring->tail, memory_order_acquire))
            return false;
        uint32_t v = atomic_load_explicit(&ring->cells[head & ring->mask], memory_order_relaxed);
        atomic_store_explicit(intent, v, memory_order_seq_cst);
        if (atomic_compare_exchange_weak_explicit(&ring->head, &head, head + 1, memory_order_seq_cst,
                                                  memory_order_acquire)) {
            *value = v;
            return true;
        }
    }
}

uint64_t pp__ring_count(struct pp_ring *ring)
{
    uint64_t head = atomic_load_explicit(&ring->head, memory_order_acquire);
    return atomic_load_explicit(&ring->tail, memory_order_acquire) - head;
}

uint64_t pp__ring_head(struct pp_ring *ring)
{
    return atomic_load_explicit(&ring->head, memory_order_acquire);
}

uint64_t pp__ring_tail(struct pp_ring *ring)
{
    return atomic_load_explicit(&ring->tail, memory_order_relaxed);
}
