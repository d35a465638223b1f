/* SPDX-License-Identifier: MIT */
/*
 * sync: futex waits with deadlines, the monotonic clock, and the master's
 * process-wide epoch. The epoch counts future phase changes; waiters register
 * in a counter so that a bump costs no system call while nobody sleeps.
 */
#define _GNU_SOURCE
#include "sync.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <math.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

uint64_t pp__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t pp__seconds_to_ns(double seconds)
{
    if (!(seconds < PP_HUGE_SECONDS)) /* also catches NaN and inf */
        return PP_FOREVER;
    return (uint64_t)(seconds * 1e9);
}

uint64_t pp__deadline_after(double seconds)
{
    if (seconds < 0 || isnan(seconds))
        return PP_FOREVER;
    if (seconds == 0)
        return PP_POLL;
    uint64_t span = pp__seconds_to_ns(seconds);
    return span == PP_FOREVER ? PP_FOREVER : pp__add_sat(pp__now_ns(), span);
}

bool pp__futex_wait(_Atomic uint32_t *word, uint32_t expected, bool shared, uint64_t deadline)
{
    struct timespec ts, *tsp = NULL;
    if (deadline != PP_FOREVER) {
        if (pp__now_ns() >= deadline)
            return false;
        ts.tv_sec = (time_t)(deadline / 1000000000u);
        ts.tv_nsec = (long)(deadline % 1000000000u);
        tsp = &ts;
    }
    int op = FUTEX_WAIT_BITSET | (shared ? 0 : FUTEX_PRIVATE_FLAG);
    long rc = syscall(SYS_futex, word, op, expected, tsp, NULL, FUTEX_BITSET_MATCH_ANY);
    return !(rc == -1 && errno == ETIMEDOUT);
}

void pp__futex_wake(_Atomic uint32_t *word, int count, bool shared)
{
    int op = FUTEX_WAKE | (shared ? 0 : FUTEX_PRIVATE_FLAG);
    syscall(SYS_futex, word, op, count, NULL, NULL, 0);
}

bool pp__spin_wait(_Atomic uint32_t *word, uint32_t expected, _Atomic uint32_t *sleepers, uint64_t spin_ns,
                   bool shared, uint64_t deadline)
{
    if (spin_ns && !atomic_load_explicit(sleepers, memory_order_relaxed)) {
        uint64_t until = pp__now_ns() + spin_ns;
        if (until > deadline)
            until = deadline;
        for (unsigned i = 0;; i++) {
            if (atomic_load_explicit(word, memory_order_acquire) != expected)
                return true;
            if ((i & 63) == 63 && pp__now_ns() >= until)
                break;
            pp__cpu_relax();
        }
    }
    bool woke = true;
    atomic_fetch_add(sleepers, 1);
    while (woke && atomic_load(word) == expected)
        woke = pp__futex_wait(word, expected, shared, deadline);
    atomic_fetch_sub(sleepers, 1);
    return woke || atomic_load(word) != expected;
}

static _Atomic uint32_t epoch;
static _Atomic uint32_t epoch_sleepers;

uint32_t pp__epoch_read(void)
{
    return atomic_load(&epoch);
}

void pp__epoch_bump(void)
{
    atomic_fetch_add(&epoch, 1);
    if (atomic_load(&epoch_sleepers))
        pp__futex_wake(&epoch, INT_MAX, false);
}

bool pp__epoch_wait(uint32_t seen, uint64_t deadline)
{
    atomic_fetch_add(&epoch_sleepers, 1);
    bool woke = atomic_load(&epoch) != seen || pp__futex_wait(&epoch, seen, false, deadline);
    atomic_fetch_sub(&epoch_sleepers, 1);
    return woke;
}
