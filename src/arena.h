/* SPDX-License-Identifier: MIT */
/*
 * arena: the allocator for payloads in the shared mapping. Only the master
 * allocates and frees, under its pool lock, and all of the allocator's
 * bookkeeping lives in the master's heap: a worker can neither corrupt it nor
 * die half-way through it, and free blocks are never touched (a punched-out
 * page stays unbacked until it is used again).
 *
 * A lazy buddy allocator over the region (whose size is a power of two):
 * blocks are powers of two from 64 bytes, aligned to their size from the
 * region's start; a block is split in halves to serve a smaller request, and
 * when no block of a request's class or larger is free, every pair of free
 * buddies is merged, so free space of one size serves any other. Each class
 * hands out warm blocks (pages may still be resident) before cold ones, so a
 * reused block rarely faults. Freed blocks keep their pages while the warm
 * bytes stay under the budget, which follows the work: the larger of
 * pp_config.shm_bytes and the recent high-water mark of bytes in use (capped
 * at a quarter of RAM). Past it a freed block's pages are returned to the
 * kernel with MADV_REMOVE. The mark decays while the pool idles (a tick with
 * no allocation since the last: pp__arena_tick), and warm blocks past the
 * budget are then returned, so
 * memory follows the payloads in flight both ways. Only the bytes a caller
 * will fill at once are committed, in one call (MADV_POPULATE_WRITE, where
 * the kernel has it) instead of a fault per page; the rest of a block (its
 * rounding to a power of two, room for a result) costs address space only
 * until it is written. A request that cannot fit in memory is refused
 * before any page is touched (headroom.h).
 */
#ifndef PP_ARENA_H
#define PP_ARENA_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PP_ARENA_MIN_CLASS 6                   /* 64-byte blocks and up */
#define PP_ARENA_CLASSES   48                  /* up to 2^47 bytes */
#define PP_ARENA_MAX_BLOCK ((uint64_t)1 << 46) /* larger requests are PP_ENOMEM, never summed */

typedef struct pp_block {
    uint64_t off;  /* offset from the mapping's base; 0: no block */
    uint64_t size; /* a power of two */
} pp_block;

struct pp_free_block; /* arena.c */

struct pp_arena {
    char *base;      /* the mapping */
    uint64_t start;  /* first offset the arena owns */
    uint64_t size;   /* bytes it owns, a power of two */
    uint64_t in_use; /* bytes in live blocks */
    uint64_t warm;   /* bytes of free blocks that may still hold pages */
    uint64_t budget; /* warm bytes always allowed (pp_config.shm_bytes) */
    uint64_t hwm;    /* recent high-water mark of in_use; decays in pp__arena_tick */
    uint64_t cap;    /* the most the mark may raise the budget to */
    uint64_t last_tick;
    uint64_t allocs, allocs_at_tick; /* allocations so far, and at the last tick */
    uint64_t unchecked;              /* bytes asked for since pp__headroom was last read */
    int populate;    /* MADV_POPULATE_WRITE: 1 works, 0 not here */
    _Atomic uint32_t *returned; /* bumped at each give-back (NULL: nobody asks); processes
                                   that mapped the pages ahead then map them afresh */
    struct pp_free_block *warm_free[PP_ARENA_CLASSES]; /* per class: blocks whose pages may be resident */
    struct pp_free_block *cold_free[PP_ARENA_CLASSES]; /* per class: untouched or returned blocks */
    struct pp_free_block **table;                 /* free blocks by offset, for buddy look-ups */
    size_t table_cap, nfree;
};

/* PP_OK, or PP_ENOMEM when the heap cannot hold the bookkeeping. */
int pp__arena_init(struct pp_arena *a, char *base, uint64_t start, uint64_t end, uint64_t budget);
void pp__arena_fini(struct pp_arena *a);
/* Whether bytes more of payload can fit in memory: pp__headroom
   (MemAvailable, the cgroup's limit) is asked whenever the requests since it
   was last asked reach 16 MiB, and must leave that much to spare. */
bool pp__arena_fits(struct pp_arena *a, uint64_t bytes);
/* A block of at least size bytes whose first populate bytes are committed
   (faulted in at once); the rest costs memory only once written. PP_OK, or
   PP_ENOMEM: no room, or a request of many megabytes that the process's
   memory (MemAvailable, its cgroup's limit) cannot hold. */
int pp__arena_alloc(struct pp_arena *a, uint64_t size, uint64_t populate, pp_block *out);
void pp__arena_free(struct pp_arena *a, pp_block *b);                  /* no-op on an empty block */
/* Every ARENA_TICK_NS at most: when nothing was allocated since the last
   tick, lets the high-water mark decay toward what is in use and returns
   warm pages past the budget. now: CLOCK_MONOTONIC ns. */
void pp__arena_tick(struct pp_arena *a, uint64_t now);
static inline void *pp__block_ptr(const struct pp_arena *a, pp_block b)
{
    return a->base + b.off;
}

#endif
