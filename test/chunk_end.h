/* SPDX-License-Identifier: MIT */
/*
 * chunk_end.h: the work of an item of the chunk-end tests (test_jobs.c and
 * the cluster checks): in chunks of 3 under a 50 ms per-item deadline, the
 * last item of each chunk runs just past the deadline, so its kill lands as
 * the worker ends the chunk or begins the next one.
 */
#ifndef PP_TEST_CHUNK_END_H
#define PP_TEST_CHUNK_END_H

#include <time.h>

/* Item v: every third (v % 3 == 2) sleeps 50.0 to 50.3 ms, to the
   microsecond; the others return at once. */
static inline void chunk_end_work(long v)
{
    if (v % 3 != 2)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_nsec += 50000000L + v * 37 % 300 * 1000L;
    ts.tv_sec += ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL))
        ;
}

#endif
