/* SPDX-License-Identifier: MIT */
/*
 * pace: polling, napping and the liveness timing (pace.h).
 */
#define _GNU_SOURCE
#include "pace.h"

#include <sched.h>
#include <time.h>

#include "../sync.h"

struct pp_timing pp__timing_default(void)
{
    return (struct pp_timing){.heartbeat_ns = 100000000ull,
                              .lost_ns = 600000000ull,
                              .lost_ns_per_mib = 10000000ull,
                              .master_lost_ns = 5000000000ull,
                              .hello_ns = 60000000000ull};
}

void pp__pace_event(struct pp_pace *p)
{
    p->active_at = pp__now_ns();
}

uint64_t pp__pace_nap(const struct pp_pace *p, bool due, bool free_core, uint64_t cap_ns)
{
    uint64_t idle = pp__now_ns() - p->active_at;
    if (free_core && (idle < PP_SPIN_NS || (due && idle < PP_POLL_BUDGET_NS)))
        return 0;
    uint64_t nap = idle / PP_NAP_SHARE;
    if (nap < PP_MIN_NAP_NS)
        nap = PP_MIN_NAP_NS;
    return nap > cap_ns ? cap_ns : nap;
}

uint64_t pp__pace_watch(struct pp_watch *w, uint64_t now, uint64_t most)
{
    uint64_t gap = w->looked && now > w->looked ? now - w->looked : 0;
    w->watched += gap < most ? gap : most;
    w->looked = now;
    return w->watched;
}

void pp__pace_sleep(uint64_t ns)
{
    if (!ns) {
        sched_yield();
        return;
    }
    struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
    nanosleep(&ts, NULL);
}
