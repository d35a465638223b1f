/* SPDX-License-Identifier: MIT */
/*
 * arena: a lazy buddy allocator over the shared mapping (see arena.h). Free
 * blocks are heap records, listed per class (a warm list and a cold one) and
 * hashed by offset. A freed block goes back to its class as it is, so the
 * steady state (the same sizes again and again) costs O(1) and reuses warm
 * pages; buddies are merged only when a request finds no block of its class
 * or larger, in one pass over the free blocks from the smallest class up.
 */
#define _GNU_SOURCE
#include "arena.h"

#include <stdbool.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "headroom.h"
#include "procpool.h"

#define PAGE 4096u
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif
#define POPULATE_MIN  (64u << 10)  /* cold bytes worth one call instead of faults */
#define ARENA_TICK_NS 250000000ull /* how often the mark decays: a quarter each time */
#define PP_ARENA_ASK_MEMORY ((uint64_t)16 << 20) /* requests this large ask pp__headroom first */

struct pp_free_block {
    uint64_t rel;                       /* offset from the arena's start */
    uint64_t warm;                      /* bytes of it that may hold pages */
    int cls;                            /* size = 1 << cls */
    struct pp_free_block *prev, *next;  /* its class's list */
    struct pp_free_block *hnext;        /* its hash chain */
};

static size_t slot_of(const struct pp_arena *a, uint64_t rel)
{
    return (size_t)((rel >> PP_ARENA_MIN_CLASS) * 0x9e3779b97f4a7c15ull >> 20) & (a->table_cap - 1);
}

static void hash_insert(struct pp_arena *a, struct pp_free_block *b)
{
    size_t i = slot_of(a, b->rel);
    b->hnext = a->table[i];
    a->table[i] = b;
}

static void hash_remove(struct pp_arena *a, struct pp_free_block *b)
{
    struct pp_free_block **p = &a->table[slot_of(a, b->rel)];
    while (*p != b)
        p = &(*p)->hnext;
    *p = b->hnext;
}

/* Doubles the table when it is full; a failed growth only lengthens chains. */
static void maybe_grow(struct pp_arena *a)
{
    if (a->nfree < a->table_cap)
        return;
    struct pp_free_block **old = a->table;
    size_t old_cap = a->table_cap;
    struct pp_free_block **t = calloc(old_cap * 2, sizeof *t);
    if (!t)
        return;
    a->table = t;
    a->table_cap = old_cap * 2;
    for (size_t i = 0; i < old_cap; i++)
        for (struct pp_free_block *b = old[i], *next; b; b = next) {
            next = b->hnext;
            hash_insert(a, b);
        }
    free(old);
}

static struct pp_free_block **list_of(struct pp_arena *a, const struct pp_free_block *b)
{
    return b->warm ? &a->warm_free[b->cls] : &a->cold_free[b->cls];
}

static void list_insert(struct pp_arena *a, struct pp_free_block *b)
{
    struct pp_free_block **head = list_of(a, b);
    b->prev = NULL;
    b->next = *head;
    if (*head)
        (*head)->prev = b;
    *head = b;
}

static void list_remove(struct pp_arena *a, struct pp_free_block *b)
{
    if (b->prev)
        b->prev->next = b->next;
    else
        *list_of(a, b) = b->next;
    if (b->next)
        b->next->prev = b->prev;
}

static void put_free(struct pp_arena *a, struct pp_free_block *b)
{
    list_insert(a, b);
    hash_insert(a, b);
    a->nfree++;
    a->warm += b->warm;
    maybe_grow(a);
}

static void take_free(struct pp_arena *a, struct pp_free_block *b)
{
    list_remove(a, b);
    hash_remove(a, b);
    a->nfree--;
    a->warm -= b->warm;
}

static struct pp_free_block *find_free(const struct pp_arena *a, uint64_t rel, int cls)
{
    for (struct pp_free_block *b = a->table[slot_of(a, rel)]; b; b = b->hnext)
        if (b->rel == rel)
            return b->cls == cls ? b : NULL;
    return NULL;
}

/* Warm bytes allowed now. */
static uint64_t budget_now(const struct pp_arena *a)
{
    uint64_t follow = a->hwm < a->cap ? a->hwm : a->cap;
    return follow > a->budget ? follow : a->budget;
}

int pp__arena_init(struct pp_arena *a, char *base, uint64_t start, uint64_t end, uint64_t budget)
{
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    uint64_t ram = pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : (uint64_t)1 << 32;
    *a = (struct pp_arena){
        .base = base, .start = start, .budget = budget, .table_cap = 64, .cap = ram / 4, .populate = 1};
    int top = PP_ARENA_MIN_CLASS;
    while (top + 1 < PP_ARENA_CLASSES && ((uint64_t)1 << (top + 1)) <= end - start)
        top++;
    a->size = (uint64_t)1 << top;
    a->table = calloc(a->table_cap, sizeof *a->table);
    struct pp_free_block *root = malloc(sizeof *root);
    if (!a->table || !root) {
        free(root);
        free(a->table);
        a->table = NULL;
        return PP_ENOMEM;
    }
    *root = (struct pp_free_block){.rel = 0, .cls = top};
    put_free(a, root);
    return PP_OK;
}

void pp__arena_fini(struct pp_arena *a)
{
    for (int c = 0; c < PP_ARENA_CLASSES; c++)
        for (struct pp_free_block *lists[2] = {a->warm_free[c], a->cold_free[c]}, **l = lists; l < lists + 2; l++)
            for (struct pp_free_block *b = *l, *next; b; b = next) {
                next = b->next;
                free(b);
            }
    free(a->table);
    *a = (struct pp_arena){0};
}

static int class_of(uint64_t size)
{
    int c = PP_ARENA_MIN_CLASS;
    while (c < PP_ARENA_CLASSES && ((uint64_t)1 << c) < size)
        c++;
    return c;
}

/* A free block of class want or larger (warm first), or NULL. */
static struct pp_free_block *smallest_free(const struct pp_arena *a, int want)
{
    for (int c = want; c < PP_ARENA_CLASSES; c++) {
        if (a->warm_free[c])
            return a->warm_free[c];
        if (a->cold_free[c])
            return a->cold_free[c];
    }
    return NULL;
}

/* Merges every pair of free buddies, smallest class first, so merged blocks
   merge again in their new class. */
static void coalesce(struct pp_arena *a)
{
    for (int c = PP_ARENA_MIN_CLASS; c + 1 < PP_ARENA_CLASSES; c++) {
        uint64_t size = (uint64_t)1 << c;
        if (size >= a->size)
            break;
        for (int warm = 1; warm >= 0; warm--) {
            struct pp_free_block *b = warm ? a->warm_free[c] : a->cold_free[c];
            while (b) {
                struct pp_free_block *buddy = find_free(a, b->rel ^ size, c);
                if (!buddy) {
                    b = b->next;
                    continue;
                }
                take_free(a, buddy);
                struct pp_free_block *next = b->next;
                take_free(a, b);
                b->rel &= ~size;
                b->warm += buddy->warm;
                b->cls = c + 1;
                free(buddy);
                put_free(a, b);
                b = next; /* next was not buddy: buddy left its list before next was read */
            }
        }
    }
}

bool pp__arena_fits(struct pp_arena *a, uint64_t bytes)
{
    /* requests below the threshold add up: whenever what was asked since
       the last look reaches it, look again, with a threshold to spare for
       what may come before the next look */
    if (bytes > PP_ARENA_MAX_BLOCK)
        return false;
    a->unchecked += bytes;
    if (a->unchecked < PP_ARENA_ASK_MEMORY)
        return true;
    a->unchecked = 0;
    uint64_t room = pp__headroom();
    return room >= PP_ARENA_ASK_MEMORY && bytes <= room - PP_ARENA_ASK_MEMORY;
}

int pp__arena_alloc(struct pp_arena *a, uint64_t size, uint64_t populate, pp_block *out)
{
    int want = class_of(size);
    if (size > PP_ARENA_MAX_BLOCK || want >= PP_ARENA_CLASSES || !a->table)
        return PP_ENOMEM;
    if (!pp__arena_fits(a, populate < size ? populate : size))
        return PP_ENOMEM; /* touching it would call the OOM killer, not fail */
    struct pp_free_block *b = smallest_free(a, want);
    if (!b) {
        coalesce(a);
        b = smallest_free(a, want);
    }
    if (!b)
        return PP_ENOMEM;
    take_free(a, b);
    while (b->cls > want) { /* split: keep the lower half, free the upper one */
        struct pp_free_block *upper = malloc(sizeof *upper);
        if (!upper) {
            put_free(a, b);
            return PP_ENOMEM;
        }
        int c = b->cls - 1;
        uint64_t half = (uint64_t)1 << c;
        uint64_t low_warm = b->warm < half ? b->warm : half;
        *upper = (struct pp_free_block){.rel = b->rel + half, .warm = b->warm - low_warm, .cls = c};
        put_free(a, upper);
        b->cls = c;
        b->warm = low_warm;
    }
    *out = (pp_block){.off = a->start + b->rel, .size = (uint64_t)1 << want};
    a->in_use += out->size;
    a->allocs++;
    if (a->in_use > a->hwm)
        a->hwm = a->in_use;
    if (populate > size)
        populate = size;
    populate = (populate + PAGE - 1) & ~(uint64_t)(PAGE - 1); /* only what is asked: the rest may never be used */
    if (a->populate && populate >= POPULATE_MIN && populate > b->warm &&
        madvise(a->base + out->off, populate, MADV_POPULATE_WRITE) != 0)
        a->populate = 0; /* an older kernel: pages fault in one by one */
    free(b);
    return PP_OK;
}

static void give_back(struct pp_arena *a, uint64_t off, uint64_t size)
{
    madvise(a->base + off, size, MADV_REMOVE);
    if (a->returned)
        atomic_fetch_add(a->returned, 1);
}

void pp__arena_free(struct pp_arena *a, pp_block *blk)
{
    if (!blk->off)
        return;
    struct pp_free_block *b = malloc(sizeof *b);
    bool punch = blk->size >= PAGE && a->warm + blk->size > budget_now(a);
    if (punch || !b) /* over budget, or nothing to remember it with: give its pages back */
        give_back(a, blk->off, blk->size);
    a->in_use -= blk->size;
    if (b) /* else the range is lost to the arena, never to the system */
        *b = (struct pp_free_block){
            .rel = blk->off - a->start, .warm = punch ? 0 : blk->size, .cls = class_of(blk->size)};
    *blk = (pp_block){0};
    if (b)
        put_free(a, b);
}

/* The warm block to give back first: the largest. */
static struct pp_free_block *largest_warm(const struct pp_arena *a)
{
    for (int c = PP_ARENA_CLASSES - 1; c >= PP_ARENA_MIN_CLASS; c--)
        if (a->warm_free[c] && ((uint64_t)1 << c) >= PAGE)
            return a->warm_free[c];
    return NULL;
}

void pp__arena_tick(struct pp_arena *a, uint64_t now)
{
    if (now - a->last_tick < ARENA_TICK_NS || !a->table)
        return;
    a->last_tick = now;
    if (a->allocs != a->allocs_at_tick) { /* busy: the mark holds */
        a->allocs_at_tick = a->allocs;
        return;
    }
    uint64_t decayed = a->hwm - a->hwm / 4;
    a->hwm = decayed > a->in_use ? decayed : a->in_use;
    struct pp_free_block *b;
    while (a->warm > budget_now(a) && (b = largest_warm(a))) {
        take_free(a, b);
        give_back(a, a->start + b->rel, (uint64_t)1 << b->cls);
        b->warm = 0;
        put_free(a, b);
    }
}
