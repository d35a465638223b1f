/* SPDX-License-Identifier: MIT */
/*
 * sync: the waiting primitives. Every wait in procpool is "spin a little, then
 * sleep on a futex": a futex in shared memory between processes (slot states,
 * the workers' eventcount) or a private one inside the master (the epoch that
 * master threads wait on). Deadlines are absolute CLOCK_MONOTONIC nanoseconds;
 * PP_FOREVER means none.
 */
#ifndef PP_SYNC_H
#define PP_SYNC_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define PP_FOREVER UINT64_MAX
#define PP_POLL    0 /* a deadline long past: look once, never sleep */

/* Durations of this many seconds or more (about 31 years) mean "no limit". */
#define PP_HUGE_SECONDS 1e9

uint64_t pp__now_ns(void);
/* a + b, or PP_FOREVER where that would wrap. */
static inline uint64_t pp__add_sat(uint64_t a, uint64_t b)
{
    return a > PP_FOREVER - b ? PP_FOREVER : a + b;
}
/* Absolute deadline for a timeout in seconds (< 0: PP_FOREVER, 0: PP_POLL). */
uint64_t pp__deadline_after(double seconds);
/* Nanoseconds in a duration; PP_FOREVER from PP_HUGE_SECONDS on (and for NaN). */
uint64_t pp__seconds_to_ns(double seconds);

/* Sleep while *word == expected, until woken or the deadline passes.
   Returns false only when the deadline has passed. */
bool pp__futex_wait(_Atomic uint32_t *word, uint32_t expected, bool shared, uint64_t deadline);
void pp__futex_wake(_Atomic uint32_t *word, int count, bool shared);

/* The one spin-then-sleep wait: while *word == expected, spin for up to
   spin_ns (not at all when another waiter already sleeps, as musl's __wait
   does: the spin would only steal its CPU), then register in *sleepers and
   sleep on the futex. Whoever changes *word wakes the futex when *sleepers
   is nonzero, after a seq_cst store (the registration here is seq_cst too,
   so one of the two sides always sees the other). Returns false only when
   the deadline has passed with *word unchanged. */
bool pp__spin_wait(_Atomic uint32_t *word, uint32_t expected, _Atomic uint32_t *sleepers, uint64_t spin_ns,
                   bool shared, uint64_t deadline);

static inline void pp__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Process-wide epoch: bumped whenever any future of any pool changes phase, so
   a master thread waiting on several futures sleeps on one word. */
uint32_t pp__epoch_read(void);
void pp__epoch_bump(void);
bool pp__epoch_wait(uint32_t seen, uint64_t deadline);

#endif
