/* SPDX-License-Identifier: MIT */
/*
 * shm: lays out the shared mapping. It is a memfd (never a name in /dev/shm)
 * mapped with MAP_NORESERVE and sized far beyond any need: pages cost memory
 * only once touched, so payloads of any size fit without a new segment after
 * the workers are forked. The memfd is closed at once; the mapping keeps it.
 * The layout goes to the caller's own memory (shm.h), not into the mapping.
 */
#define _GNU_SOURCE
#include "shm.h"

#include "sync.h"

#include <errno.h>
#include <stdalign.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

#define ARENA_MAX ((uint64_t)1 << 40) /* 1 TiB of address space, halved until it maps */
#define ARENA_MIN ((uint64_t)1 << 28)
/* memcheck reads every page of every mapping at exit (its leak scan): under
   valgrind the arena is kept small */
#define ARENA_UNDER_VALGRIND ((uint64_t)1 << 30)

static uint64_t align_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) & ~(a - 1);
}

int pp__shm_create(uint32_t nslots, uint32_t nworkers, struct pp_layout *lay)
{
    uint64_t off = align_up(sizeof(struct pp_shm), 64);
    uint64_t cells = off;
    off = align_up(off + (uint64_t)2 * nslots * sizeof(uint32_t), 64);
    uint64_t bits = off;
    off = align_up(off + (nslots / 64 + 1) * sizeof(uint64_t), 64);
    uint64_t recs = off;
    off = align_up(off + (uint64_t)nworkers * sizeof(struct pp_worker_rec), 64);
    uint64_t slots = off;
    off = align_up(off + (uint64_t)nslots * sizeof(struct pp_slot), 4096);

    int fd = memfd_create("procpool", MFD_CLOEXEC);
    if (fd < 0)
        return PP_ESYS;
    char *base = MAP_FAILED;
    uint64_t arena;
    uint64_t first = RUNNING_ON_VALGRIND ? ARENA_UNDER_VALGRIND : ARENA_MAX;
    for (arena = first; arena >= ARENA_MIN && base == MAP_FAILED; arena /= 2) {
        if (ftruncate(fd, (off_t)(off + arena)) != 0)
            continue;
        base = mmap(NULL, off + arena, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
    }
    int saved = errno;
    close(fd);
    if (base == MAP_FAILED) {
        errno = saved;
        return PP_ESYS;
    }
    arena *= 2; /* undo the loop's last halving */
    madvise(base + off, arena, MADV_DONTDUMP); /* a crash dump need not hold the payloads */

    *lay = (struct pp_layout){.base = base,
                              .map_size = off + arena,
                              .nslots = nslots,
                              .nworkers = nworkers,
                              .arena_start = off,
                              .arena_end = off + arena,
                              .shm = (struct pp_shm *)base,
                              .done_bits = (_Atomic uint64_t *)(base + bits),
                              .workers = (struct pp_worker_rec *)(base + recs),
                              .slots = (struct pp_slot *)(base + slots)};
    lay->ring = (struct pp_ring_view){
        .ctl = &lay->shm->ring, .cells = (_Atomic uint32_t *)(base + cells), .mask = 2 * nslots - 1};
    for (uint32_t w = 0; w < nworkers; w++)
        atomic_init(&lay->workers[w].intent, PP_NO_SLOT);
    if (getrandom(&lay->key, sizeof lay->key, GRND_NONBLOCK) != (ssize_t)sizeof lay->key)
        lay->key = (uint64_t)(uintptr_t)base ^ (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid();
    return PP_OK;
}

static uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    h *= 0xff51afd7ed558ccdull;
    return h ^ (h >> 33);
}

static uint64_t seal(const struct pp_layout *lay, const struct pp_desc *d)
{
    uint64_t words[] = {(uint64_t)(uintptr_t)d->fn, d->arg_off,      d->arg_len,
                        d->deadline_ns,            d->cpu_limit_ns, d->result_hint};
    uint64_t h = lay->key;
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        h = mix(h, words[i]);
    return h;
}

void pp__desc_write(const struct pp_layout *lay, struct pp_slot *slot, const struct pp_desc *d)
{
    slot->fn = d->fn;
    slot->arg_off = d->arg_off;
    slot->arg_len = d->arg_len;
    slot->deadline_ns = d->deadline_ns;
    slot->cpu_limit_ns = d->cpu_limit_ns;
    slot->result_hint = d->result_hint;
    slot->seal = seal(lay, d);
}

bool pp__desc_read(const struct pp_layout *lay, const struct pp_slot *slot, struct pp_desc *d)
{
    *d = (struct pp_desc){.fn = slot->fn,
                          .arg_off = slot->arg_off,
                          .arg_len = slot->arg_len,
                          .deadline_ns = slot->deadline_ns,
                          .cpu_limit_ns = slot->cpu_limit_ns,
                          .result_hint = slot->result_hint};
    return slot->seal == seal(lay, d) && d->fn && pp__in_map(lay, d->arg_off, d->arg_len);
}

void pp__shm_kick(struct pp_shm *shm)
{
    atomic_fetch_add(&shm->monitor_seq, 1); /* seen by a monitor about to sleep */
    if (atomic_load(&shm->monitor_asleep))
        pp__futex_wake(&shm->monitor_seq, 1, true);
}
