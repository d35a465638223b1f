/* SPDX-License-Identifier: MIT */
/*
 * The payload arena on its own: a shifting mix of sizes never runs out
 * while free space exists (buddies merge), and a freed warm block is reused
 * first.
 */
#include <sys/mman.h>

#include "../src/arena.h"
#include "helpers.h"

#define REGION ((uint64_t)1 << 20)

static char *region(void)
{
    char *base = mmap(NULL, 2 * REGION, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    cr_assert_neq(base, MAP_FAILED);
    return base;
}

static uint64_t rng = 88172645463325252ull;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

Test(arena, free_space_of_one_size_serves_another)
{
    char *base = region();
    struct pp_arena a;
    OK(pp__arena_init(&a, base, 4096, 4096 + REGION, 0));
    static pp_block small[REGION / 64];
    size_t n = 0;
    while (pp__arena_alloc(&a, 64, 64, &small[n]) == PP_OK)
        n++;
    cr_assert_eq(n, REGION / 64, "the whole region in 64-byte blocks");
    for (size_t i = n; i > 1; i--) { /* free in a random order */
        size_t j = next() % i;
        pp_block t = small[i - 1];
        small[i - 1] = small[j];
        small[j] = t;
    }
    for (size_t i = 0; i < n; i++)
        pp__arena_free(&a, &small[i]);
    cr_assert_eq(a.in_use, 0);
    pp_block whole;
    OK(pp__arena_alloc(&a, REGION, REGION, &whole));
    cr_assert_eq(whole.off, 4096, "everything merged back into one block");
    pp__arena_free(&a, &whole);
    /* a shifting mix of sizes: each round frees what the last one took */
    for (int round = 0; round < 50; round++) {
        pp_block held[64];
        int k = 0;
        uint64_t used = 0;
        for (; k < 64; k++) {
            uint64_t size = (uint64_t)64 << (next() % 12);
            if (used + size > REGION / 2)
                break;
            OK(pp__arena_alloc(&a, size, size, &held[k]));
            cr_assert_eq((held[k].off - 4096) % held[k].size, 0, "aligned to its size");
            used += held[k].size;
        }
        while (k--)
            pp__arena_free(&a, &held[k]);
    }
    OK(pp__arena_alloc(&a, REGION, REGION, &whole));
    pp__arena_free(&a, &whole);
    cr_assert_eq(pp__arena_alloc(&a, 2 * REGION, 2 * REGION, &whole), PP_ENOMEM);
    cr_assert_eq(pp__arena_alloc(&a, (uint64_t)1 << 63, (uint64_t)1 << 63, &whole), PP_ENOMEM);
    pp__arena_fini(&a);
    munmap(base, 2 * REGION);
}

Test(arena, warm_blocks_are_reused_first)
{
    char *base = region();
    struct pp_arena a;
    OK(pp__arena_init(&a, base, 4096, 4096 + REGION, REGION));
    pp_block x, y, z;
    OK(pp__arena_alloc(&a, 8192, 8192, &x));
    OK(pp__arena_alloc(&a, 8192, 8192, &y));
    uint64_t x_off = x.off;
    pp__arena_free(&a, &x);
    cr_assert_eq(a.warm, 8192);
    OK(pp__arena_alloc(&a, 8192, 8192, &z));
    cr_assert_eq(z.off, x_off, "the warm block comes back");
    cr_assert_eq(a.warm, 0);
    pp__arena_free(&a, &y);
    pp__arena_free(&a, &z);
    pp__arena_fini(&a);
    munmap(base, 2 * REGION);
}
