/* SPDX-License-Identifier: MIT */
/*
 * slot.h: a slot's life as the master runs it (slot.c), with pool->lock
 * held: the state words it writes, its reading of the words workers write,
 * the ring cells it pushes, and the free stack and limbo.
 */
#ifndef PP_SLOT_H
#define PP_SLOT_H

#include <stdbool.h>
#include <stdint.h>

#include "pool.h"

#define SLOT_BAD 7u /* a state word the master does not allow (pp__slot_look) */

struct pp_slot_view {
    uint32_t word;   /* as read */
    uint32_t kind;   /* enum pp_slot_kind, or SLOT_BAD */
    uint32_t worker; /* for RUNNING, GROW and DONE: < nworkers */
};

/* Reads an owned slot's state word once and checks it: the generation the
   master wrote last, a kind a worker may have moved it to (PENDING,
   RUNNING, GROW, DONE) and a worker of this pool. Anything else is
   SLOT_BAD: the word was written over. */
struct pp_slot_view pp__slot_look(pp_pool *pool, uint32_t s);
/* Writes the next generation of the slot's state word in the given kind
   and wakes whoever sleeps on it: whatever still points at the old word (a
   stale ring cell, a dead worker, a forked copy, a waiter) finds it stale. */
void pp__slot_renew(pp_pool *pool, uint32_t s, uint32_t kind);
/* Makes the slot PENDING (a new generation) and puts it where workers find
   it: pushes a cell only when its last one is consumed (INVARIANT 1 in
   dispatch.c), and wakes a worker if need be. */
void pp__slot_publish(pp_pool *pool, uint32_t s);
/* PENDING -> CANCELLED by CAS: true if no worker had claimed the task. */
bool pp__slot_withdraw(pp_pool *pool, uint32_t s);
/* Frees the slot's arena blocks except the one that holds [off, off + len),
   which is returned (an empty block if none does, or len is 0). */
pp_block pp__slot_keep_block(pp_pool *pool, uint32_t s, uint64_t off, uint64_t len);
/* A slot nobody owns any more: its blocks are freed, its word renewed FREE,
   and it goes back to the free stack, or to limbo while its last cell is
   still in the ring. */
void pp__slot_release(pp_pool *pool, uint32_t s);
/* Moves limbo slots whose cells are consumed to the free stack. */
void pp__slot_sweep_limbo(pp_pool *pool);
/* Wakes one sleeping worker unless enough spinners will take what the ring
   holds (all: every sleeping worker). */
void pp__wake_workers(pp_pool *pool, bool all);

#endif
