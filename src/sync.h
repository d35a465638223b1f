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

uint64_t pp_now_ns(void);
/* Absolute deadline for a timeout in seconds (< 0: PP_FOREVER, 0: PP_POLL). */
uint64_t pp_deadline_after(double seconds);
uint64_t pp_seconds_to_ns(double seconds);

/* Sleep while *word == expected, until woken or the deadline passes.
   Returns false only when the deadline has passed. */
bool pp_futex_wait(_Atomic uint32_t *word, uint32_t expected, bool shared, uint64_t deadline);
void pp_futex_wake(_Atomic uint32_t *word, int count, bool shared);

static inline void pp_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Process-wide epoch: bumped whenever any future of any pool changes phase, so
   a master thread waiting on several futures sleeps on one word. */
uint32_t pp_epoch_read(void);
void pp_epoch_bump(void);
bool pp_epoch_wait(uint32_t seen, uint64_t deadline);

#endif
