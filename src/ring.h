/* SPDX-License-Identifier: MIT */
/*
 * ring: a bounded single-producer, multi-consumer ring of slot indices in
 * shared memory, in the manner of Concurrency Kit's ck_ring. The control block
 * is separate from the cells so both can live anywhere in the mapping.
 *
 * The master is the only producer (its threads serialise on a master-local
 * lock), so no consumer can wedge it. A consumer reads the cell at head, then
 * claims it by CAS on head; the producer overwrites a cell only once head has
 * passed it, so a consumer that read a cell which was then reused always loses
 * its CAS. Before the CAS the consumer publishes what it is about to take in
 * *intent: if it dies right after the CAS, the master still knows which slot
 * it took (see docs/design.md, "No lost task").
 */
#ifndef PP_RING_H
#define PP_RING_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct pp_ring {
    alignas(64) _Atomic uint64_t head; /* next cell to take; consumers CAS it */
    alignas(64) _Atomic uint64_t tail; /* next cell to fill; written by the master only */
    alignas(64) uint32_t mask;         /* capacity - 1; capacity is a power of two */
    _Atomic uint32_t *cells;           /* capacity cells, in the same mapping */
};

void pp__ring_init(struct pp_ring *ring, _Atomic uint32_t *cells, uint32_t capacity);
bool pp__ring_push(struct pp_ring *ring, uint32_t value); /* master only; false when full */
bool pp__ring_pop(struct pp_ring *ring, _Atomic uint32_t *intent, uint32_t *value);
uint64_t pp__ring_count(struct pp_ring *ring);
/* Cells consumed so far: the cell pushed at position p is gone once head > p. */
uint64_t pp__ring_head(struct pp_ring *ring);
/* The position the next push takes. */
uint64_t pp__ring_tail(struct pp_ring *ring);

#endif
