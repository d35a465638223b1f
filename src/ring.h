/* SPDX-License-Identifier: MIT */
/*
 * ring: a bounded single-producer, multi-consumer ring of slot indices in
 * shared memory, in the manner of Concurrency Kit's ck_ring: the control
 * block (head, tail) is apart from the cells, and where the cells lie and
 * how many there are (the view) is kept by each process in its own memory,
 * never read back from the mapping a task can write.
 *
 * The master is the only producer (its threads serialise on a master-local
 * lock), so no consumer can wedge it. A consumer reads the cell at head, then
 * claims it by CAS on head; the producer overwrites a cell only once head has
 * passed it, so a consumer that read a cell which was then reused always loses
 * its CAS. Before the CAS the consumer publishes what it is about to take in
 * *intent: if it dies right after the CAS, the master still knows which slot
 * it took (see docs/design.md, "No lost task").
 *
 * The producer keeps its own tail: the shared one is only what it tells
 * consumers, and a head that is not between the producer's tail minus the
 * capacity and that tail can only be damage (pp__ring_used says so).
 */
#ifndef PP_RING_H
#define PP_RING_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct pp_ring { /* in the shared mapping */
    alignas(64) _Atomic uint64_t head; /* next cell to take; consumers CAS it */
    alignas(64) _Atomic uint64_t tail; /* next cell to fill; written by the producer only */
};

struct pp_ring_view { /* in each process's own memory */
    struct pp_ring *ctl;
    _Atomic uint32_t *cells;
    uint32_t mask; /* capacity - 1; capacity is a power of two */
};

/* Producer: puts value at *tail (its private tail) and publishes it. The
   caller knows there is room (it checked pp__ring_used). */
void pp__ring_push(const struct pp_ring_view *r, uint64_t *tail, uint32_t value);
/* Producer: cells pushed and not yet taken, from its private tail; UINT64_MAX
   when the shared head is out of its possible range (the mapping was
   written over). */
uint64_t pp__ring_used(const struct pp_ring_view *r, uint64_t tail);
/* Consumer: takes a value (publishing it in *intent first); false if empty. */
bool pp__ring_pop(const struct pp_ring_view *r, _Atomic uint32_t *intent, uint32_t *value);
/* Consumer: whether anything seems to wait (a hint). */
bool pp__ring_nonempty(const struct pp_ring_view *r);
/* Cells consumed so far: the cell pushed at position p is gone once head > p. */
uint64_t pp__ring_head(const struct pp_ring_view *r);

#endif
