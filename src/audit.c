/* SPDX-License-Identifier: MIT */
/*
 * audit: shared memory is input, not state. Every word of the mapping can
 * be written by any task, so besides checking each word before it uses it
 * (slot.c, harvest.c, ring.c), the monitor sweeps, every AUDIT_NS while
 * tasks are in flight, what the master believes against what the mapping
 * says, and repairs or settles the difference. As virtio marks a ring that
 * returns an unknown id broken rather than follow it, a word that is no
 * legal state is taken as damage done by a task:
 *   - the ring: a head outside [tail - capacity, tail] (the master's own
 *     tail) is reset to the tail and every task still waiting is pushed
 *     again (a stale cell is harmless: its claim fails); a shared tail
 *     that differs from the master's is rewritten;
 *   - an owned slot whose state word is not one the master allows (another
 *     generation, a kind it never let it reach), or that says RUNNING by a
 *     worker that is not running it (neither alive nor being started, or
 *     busy with another slot), is settled PP_ECRASHED ("the task wrote over
 *     the pool's shared memory") and renewed, and whatever worker may still
 *     write into it is killed;
 *   - a PENDING slot whose cell was consumed, seen so twice, is pushed
 *     again when no worker holds it (a cell written over), and settled as
 *     damaged when one does (a task that forged PENDING over its own slot to
 *     escape its limits);
 *   - a DONE slot is harvested (its done bit may have been cleared);
 *   - the words the master owns (closing, kick flags) are written again
 *     from its own copies, and sleeping workers are woken when the ring has
 *     not moved since the last sweep (a wake lost to a damaged count).
 * So a task that writes wildly can corrupt other tasks' payloads, as a
 * thread could, and fail tasks whose slots it hits, but it can neither
 * crash the master nor leave a future unsettled.
 */
#define _GNU_SOURCE
#include "audit.h"

#include <signal.h>

#include "dispatch.h"
#include "harvest.h"
#include "kill.h"
#include "settle.h"
#include "lifetime.h"
#include "slot.h"
#include "sync.h"

#define AUDIT_NS 100000000ull

static const char damaged[] = "the task wrote over the pool's shared memory (a slot's state)";

/* Settles an owned slot whose word is damaged. */
static void fault(pp_pool *pool, uint32_t s)
{
    pp_future *f = pool->slots[s].owner;
    int w = pp__abandon_slot(pool, s, KILL_FAULT);
    f->cost = (struct pp_cost){.finished_ns = pp__now_ns()};
    if (w >= 0) {
        f->worker = (int16_t)w;
        f->pid = pool->workers[w].pid;
        f->attempts++;
    }
    pp__complete(pool, f, PP_ECRASHED, 0, damaged);
    pp__future_put(f); /* the slot's */
}

/* Whether a live worker other than skip has published that it takes s. */
static bool someone_takes(pp_pool *pool, uint32_t s)
{
    for (uint32_t w = 0; w < pool->nworkers; w++)
        if (pool->workers[w].alive && atomic_load(&pool->lay.workers[w].intent) == s)
            return true;
    return false;
}

static void check_slot(pp_pool *pool, uint32_t s, uint64_t head)
{
    struct pp_slot_info *si = &pool->slots[s];
    struct pp_slot_view v = pp__slot_look(pool, s);
    switch (v.kind) {
    case SLOT_DONE: pp__harvest(pool, s); return;
    case SLOT_RUNNING:
    case SLOT_GROW: {
        const struct pp_worker_info *wi = &pool->workers[v.worker];
        uint32_t intent = atomic_load(&pool->lay.workers[v.worker].intent);
        bool same = atomic_load(&pool->lay.slots[s].state) == v.word; /* intent read between two looks */
        /* a worker whose start is not yet reported may already run tasks */
        if (same && (!(wi->alive || wi->starting) || intent != s))
            fault(pool, s);
        return;
    }
    case SLOT_PENDING: {
        /* an honest worker claims what it took within microseconds: a
           PENDING slot whose cell is gone, seen so twice, is damage */
        bool taken = someone_takes(pool, s);
        if (head >= si->pushed_at && atomic_load(&pool->lay.slots[s].state) == v.word) {
            if (si->suspect != v.word)
                si->suspect = v.word;
            else if (taken)
                fault(pool, s); /* a worker runs it under a PENDING word: a task forged it */
            else
                pp__slot_publish(pool, s); /* its cell was lost: a new one */
        } else {
            si->suspect = 0;
        }
        return;
    }
    default: fault(pool, s); return;
    }
}

/* The ring's head is out of range: every waiting task gets a new cell. */
static void repair_ring(pp_pool *pool)
{
    atomic_store(&pool->lay.ring.ctl->head, pool->ring_tail);
    for (uint32_t s = 0; s < pool->lay.nslots; s++) {
        struct pp_slot_info *si = &pool->slots[s];
        si->pushed_at = 0;
        if (si->owner && pp__slot_look(pool, s).kind == SLOT_PENDING)
            pp__slot_publish(pool, s);
    }
}

uint64_t pp__audit(pp_pool *pool)
{
    uint64_t now = pp__now_ns();
    if (now < pool->audit_at || pool->remote)
        return pool->audit_at;
    pool->audit_at = now + AUDIT_NS;
    struct pp_shm *shm = pool->lay.shm;
    if (pool->spawner.pid > 0)
        kill(pool->spawner.pid, SIGCONT); /* a task may have stopped it: kills, starts and exit need it */
    struct pp_ring_view *ring = &pool->lay.ring;
    if (atomic_load(&ring->ctl->tail) != pool->ring_tail)
        atomic_store(&ring->ctl->tail, pool->ring_tail);
    uint64_t used = pp__ring_used(ring, pool->ring_tail);
    if (used == UINT64_MAX) {
        repair_ring(pool);
        used = pp__ring_used(ring, pool->ring_tail);
    }
    uint64_t head = pp__ring_head(ring);
    for (uint32_t s = 0; s < pool->lay.nslots; s++)
        if (pool->slots[s].owner)
            check_slot(pool, s, head);
    if (atomic_load(&shm->closing) != (uint32_t)pool->closing)
        atomic_store(&shm->closing, pool->closing);
    pp__update_kicks(pool);
    if ((used && used != UINT64_MAX && head == pool->audit_head) || pool->closing)
        pp__wake_workers(pool, true); /* a wake-up may have been lost to a damaged count */
    pool->audit_head = head;
    pp__feed(pool);
    return pool->audit_at;
}
