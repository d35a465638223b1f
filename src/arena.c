/*
 * arena: size-class allocator over the shared mapping (see arena.h).
 */
#define _GNU_SOURCE
#include "arena.h"

#include <stdlib.h>
#include <sys/mman.h>

#include "procpool.h"

#define PAGE 4096u

void pp__arena_init(struct pp_arena *a, char *base, uint64_t start, uint64_t end, uint64_t budget)
{
    *a = (struct pp_arena){.base = base, .start = start, .end = end, .fresh = start, .budget = budget};
}

void pp__arena_fini(struct pp_arena *a)
{
    for (int c = 0; c < PP_ARENA_CLASSES; c++)
        free(a->free[c].offs);
}

static int class_of(uint64_t size)
{
    int c = PP_ARENA_MIN_CLASS;
    while (c < PP_ARENA_CLASSES && ((uint64_t)1 << c) < size)
        c++;
    return c;
}

int pp__arena_alloc(struct pp_arena *a, uint64_t size, pp_block *out)
{
    int c = class_of(size);
    if (c >= PP_ARENA_CLASSES)
        return PP_ENOMEM;
    uint64_t bytes = (uint64_t)1 << c;
    struct pp_free_list *fl = &a->free[c];
    if (fl->len) {
        uint64_t e = fl->offs[--fl->len];
        if (e & 1)
            a->warm -= bytes;
        *out = (pp_block){.off = e & ~(uint64_t)1, .size = bytes};
    } else {
        uint64_t align = bytes < PAGE ? bytes : PAGE;
        uint64_t off = (a->fresh + align - 1) & ~(align - 1);
        if (off > a->end || a->end - off < bytes)
            return PP_ENOMEM;
        a->fresh = off + bytes;
        *out = (pp_block){.off = off, .size = bytes};
    }
    a->in_use += bytes;
    return PP_OK;
}

void pp__arena_free(struct pp_arena *a, pp_block *b)
{
    if (!b->off)
        return;
    struct pp_free_list *fl = &a->free[class_of(b->size)];
    if (fl->len == fl->cap) {
        size_t cap = fl->cap ? fl->cap * 2 : 16;
        uint64_t *offs = realloc(fl->offs, cap * sizeof *offs);
        if (!offs) { /* cannot remember it: give its pages back and lose the range */
            madvise(a->base + b->off, b->size, MADV_REMOVE);
            a->in_use -= b->size;
            *b = (pp_block){0};
            return;
        }
        fl->offs = offs;
        fl->cap = cap;
    }
    uint64_t entry = b->off;
    if (b->size >= PAGE && a->warm + b->size > a->budget)
        madvise(a->base + b->off, b->size, MADV_REMOVE);
    else {
        entry |= 1;
        a->warm += b->size;
    }
    fl->offs[fl->len++] = entry;
    a->in_use -= b->size;
    *b = (pp_block){0};
}
