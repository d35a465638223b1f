/* SPDX-License-Identifier: MIT */
/*
 * shm: the one shared mapping every process of a pool sees at the same
 * address (it is created before the fork server, and fork keeps addresses).
 *
 *   [ struct pp_shm | ring cells | done bits | worker records | slots | arena ]
 *
 * Every byte of it can be written by any task, by accident or not. So where
 * each part lies and how many there are (struct pp_layout) is computed once
 * and kept in each process's own memory (the master's pool; each worker's
 * copy of its configuration), never read back from the mapping; the header
 * (struct pp_shm) holds only words that processes exchange, and the master
 * checks each word it reads before using it (dispatch.c, audit.c). A task's
 * descriptor (function, argument, limits) is sealed with a random key the
 * mapping never holds, so a worker runs only what the master described.
 *
 * A slot carries one task in flight. Its state word says who owns it:
 *
 *   FREE --master--> PENDING --worker CAS--> RUNNING(w) --worker--> DONE --master--> FREE
 *                       |                      |    ^
 *                       +--master CAS--> CANCELLED  +--> GROW(w) (asks the master for
 *                                                         result space, master answers)
 *
 * The state word also carries the worker's index and a generation that the
 * master bumps at every change it makes (its own copy of the generation is
 * private), so a stale ring cell or a sleeping waiter can never mistake a
 * reused slot for the task it knew, and a worker publishes DONE only by CAS
 * from the exact RUNNING word it claimed. Fields other than the state are
 * written only by the state's owner, before it publishes the next state
 * with a release store.
 *
 * The monitor thread of the master sleeps on monitor_seq, an eventcount in
 * this region: workers and the spawner wake it (pp__shm_kick) without any
 * descriptor a task could close. It also wakes on its own every heartbeat,
 * so a kick lost to a damaged word costs time, never a hang.
 */
#ifndef PP_SHM_H
#define PP_SHM_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "procpool.h"
#include "ring.h"

enum pp_slot_kind { SLOT_FREE, SLOT_PENDING, SLOT_CANCELLED, SLOT_DONE, SLOT_RUNNING, SLOT_GROW };

#define ST_KIND(s)            ((s)&7u)
#define ST_WORKER(s)          (((s) >> 3) & 0x7ffu)
#define ST_GEN(s)             ((s) >> 14)
#define ST_GEN_MASK           0x3ffffu
#define ST_MAKE(kind, w, gen) ((uint32_t)(kind) | ((uint32_t)(w) << 3) | ((uint32_t)(gen) << 14))

#define PP_NO_SLOT   UINT32_MAX
#define PP_SLOT_DATA 256 /* inline bytes for small arguments, results and messages */

static inline uint64_t pp__align16(uint64_t v)
{
    return (v + 15) & ~(uint64_t)15;
}

struct pp_slot {
    alignas(64) _Atomic uint32_t state;
    _Atomic uint32_t waiters;      /* master threads asleep on state (a hint for the worker) */
    int32_t code;                  /* the task's return code (worker, before DONE) */
    uint64_t seal;                 /* the task's descriptor, sealed with the pool's key (master) */
    pp_fn fn;                      /* master, before PENDING */
    uint64_t deadline_ns;          /* run-time limit, 0: none (master; per item for a chunk) */
    uint64_t cpu_limit_ns;         /* CPU-time limit, 0: none (master; per item for a chunk) */
    uint64_t result_hint;          /* the result size the master planned for, 0: none (master) */
    uint64_t arg_off, arg_len;     /* argument bytes (master) */
    uint64_t grant_off, grant_cap; /* arena space for the result, 0 if none (master) */
    uint64_t res_off, res_len;     /* where the worker put the result (worker) */
    uint64_t grow_len;             /* GROW: bytes the worker asks for (worker) */
    uint32_t msg_len;              /* a failure message in data, 0: none (worker) */
    uint64_t started_ns, finished_ns; /* CLOCK_MONOTONIC (worker) */
    uint64_t user_us, sys_us, peak_rss; /* what the task used, set before DONE (worker) */
    alignas(64) unsigned char data[PP_SLOT_DATA];
};

struct pp_worker_rec {
    alignas(64) _Atomic uint32_t intent; /* slot being taken or run; PP_NO_SLOT */
    _Atomic uint64_t started_ns;         /* start of the task (or chunk item) that runs, else 0 */
    _Atomic uint32_t idle;               /* asleep waiting for work */
    _Atomic uint32_t spinning;           /* polling the ring for work */
    _Atomic uint32_t ready;              /* its initializer has returned 0 */
    _Atomic uint32_t recycled;           /* it left for passing max_rss_per_child */
    uint64_t user0_us, sys0_us;          /* its own CPU when the task, or chunk item, started */
    uint64_t child0_us;                  /* the CPU of its waited-for children then */
};

struct pp_shm {
    struct pp_ring ring;                         /* pending slot indices */
    alignas(64) _Atomic uint32_t work_seq;       /* eventcount workers sleep on */
    _Atomic uint32_t idle_workers;               /* never below the truth (see worker.c) */
    _Atomic int32_t spinners;                    /* never above the truth (see worker.c) */
    _Atomic uint32_t closing;                    /* no more work will come: idle workers exit */
    alignas(64) _Atomic uint32_t monitor_seq;    /* eventcount the monitor sleeps on */
    _Atomic uint32_t monitor_asleep;             /* it sleeps (or is about to) */
    _Atomic uint32_t kick_on_done;               /* the monitor wants every completion */
    _Atomic uint64_t kick_below; /* the master holds queued work: kick when the ring
                                    holds fewer entries, or before sleeping; 0: none */
    _Atomic uint32_t arena_returns; /* the arena gave pages back (arena.h): workers
                                       forget which grains they had mapped ahead */
};

/* Where everything lies: private to each process (see above). */
struct pp_layout {
    char *base;
    size_t map_size;
    uint32_t nslots, nworkers;
    uint64_t arena_start, arena_end; /* offsets of the payload arena */
    struct pp_shm *shm;
    _Atomic uint64_t *done_bits; /* a set bit: that slot may be DONE */
    struct pp_worker_rec *workers;
    struct pp_slot *slots;
    struct pp_ring_view ring;
    uint64_t key; /* seals task descriptors (pp__seal): random, never in the mapping */
};

/* What a worker runs a task with, as the master described it. */
struct pp_desc {
    pp_fn fn;
    uint64_t arg_off, arg_len;
    uint64_t deadline_ns, cpu_limit_ns;
    uint64_t result_hint; /* the result size the master planned for (0: none) */
};

/* Writes a task's descriptor into its slot, sealed with the pool's key
   (master). */
void pp__desc_write(const struct pp_layout *lay, struct pp_slot *slot, const struct pp_desc *d);
/* Reads a slot's descriptor once; false when its seal does not match (a
   task wrote over it): the worker must not call a function or read an
   argument it was never given. */
bool pp__desc_read(const struct pp_layout *lay, const struct pp_slot *slot, struct pp_desc *d);

/* Maps a fresh shared region for nslots slots and nworkers workers and
   fills *lay. PP_OK, or PP_ESYS (errno set). */
int pp__shm_create(uint32_t nslots, uint32_t nworkers, struct pp_layout *lay);

/* Wakes the master's monitor (from any process of the pool). Lossless: the
   monitor rechecks everything after a kick that lands before it sleeps. */
void pp__shm_kick(struct pp_shm *shm);

/* Whether [off, off + len) lies inside the mapping. */
static inline bool pp__in_map(const struct pp_layout *lay, uint64_t off, uint64_t len)
{
    return off <= lay->map_size && len <= lay->map_size - off;
}

#endif
