/* SPDX-License-Identifier: MIT */
/*
 * pace.h: when the relay and the agents poll, nap and speak (pace.c). Every
 * waiting and liveness constant of the cluster layer is here, once.
 *
 * Neither side can sleep on the network and on its own work at once (MPI
 * has no descriptor to wait on, and a rank blocked in MPI_Recv still burns
 * a third of a core: Open MPI polls inside), so both loop: look at the
 * network and at their tasks, then poll again at once or nap.
 *
 * Poll (sched_yield, so that whatever else wants the core runs first) only
 * while a result is due: tasks are out, the recent ones were short, at most
 * PP_POLL_BUDGET_NS have passed since the last event, and a core is free
 * for it (the caller says: a worker is idle). Otherwise back off: nap for an
 * eighth of the time idle so far (so a message that ends a pause waits at
 * most an eighth of the pause, and a long pause costs few wake-ups), up to
 * a cap: PP_BUSY_NAP_NS while tasks are out, PP_IDLE_NAP_NS while none are,
 * PP_SENDING_NAP_NS while a large transfer moves (it is not paced by the
 * naps). A wake-up is dear on a virtual machine (a bare 2 ms sleep loop
 * measured 2.2 % CPU on the 2-core build machine, 5 ms 1.0 %), hence long
 * idle caps; a spin that never yields starved the workers of an
 * oversubscribed machine and cut map throughput tenfold, hence the yield.
 *
 * Liveness (struct pp_timing) runs on the transport's clock: an agent
 * reports and the relay pings at least every heartbeat; an agent silent for
 * lost_ns (plus lost_ns_per_mib per MiB of arguments it holds: taking in
 * 80 MiB kept an agent quiet for 0.6 s on the loaded 2-core machine) is
 * lost; a master silent for master_lost_ns is gone.
 */
#ifndef PP_MPI_PACE_H
#define PP_MPI_PACE_H

#include <stdbool.h>
#include <stdint.h>

#define PP_SPIN_NS         50000ull    /* poll this long after any event (the next often follows) */
#define PP_POLL_BUDGET_NS  2000000ull  /* poll this long after an event, at most, while a result is due */
#define PP_BUSY_NAP_NS     1000000ull  /* longest nap while tasks are out */
#define PP_IDLE_NAP_NS     20000000ull /* and while none are: a task after a pause waits this long at most */
#define PP_SENDING_NAP_NS  20000ull    /* longest nap while a large transfer moves */
#define PP_CALLBACK_NAP_NS 200000ull   /* an agent napping this long has completions wake it */
#define PP_NAP_SHARE       8           /* a nap is this share of the time idle so far */
#define PP_MIN_NAP_NS      20000ull    /* and this long at least: every worker is busy, results come in bulk */

struct pp_timing {
    uint64_t heartbeat_ns;    /* each side speaks at least this often */
    uint64_t lost_ns;         /* an agent silent this long is lost... */
    uint64_t lost_ns_per_mib; /* ...plus this per MiB of arguments it holds */
    uint64_t master_lost_ns;  /* a master silent this long is gone */
    uint64_t hello_ns;        /* how long the master waits for the agents at start-up */
};

/* The timing a cluster pool runs with (heartbeat 0.1 s, lost 0.6 s + 10 ms
   per MiB, master lost 5 s, hellos within 60 s). */
struct pp_timing pp__timing_default(void);

struct pp_pace {
    uint64_t active_at; /* the last event (monotonic ns) */
};

/* Time on watch: how long a rank has been looking at the network, on the
   liveness clock. A gap between two looks (the rank itself was held up: a
   large copy, page faults, a loaded machine) counts as one heartbeat at
   most, since what its peers sent meanwhile may not all be read at the
   first look after it (a relay held up 0.8 s while it took in a 256 MiB
   result found every agent silent, and dropped all three). A peer's
   silence is measured on this. */
struct pp_watch {
    uint64_t looked;  /* the clock at the last look (0: none yet) */
    uint64_t watched; /* time on watch so far */
};

/* Work moved (tasks, results; not heartbeats): the back-off starts over. */
void pp__pace_event(struct pp_pace *p);
/* How long to nap before the next look: 0 to poll. due: tasks are out and
   the recent ones were short; free_core: a worker is idle (polling takes
   nobody's core); cap_ns: the longest nap. */
uint64_t pp__pace_nap(const struct pp_pace *p, bool due, bool free_core, uint64_t cap_ns);
/* Naps ns (0: yields the core). */
void pp__pace_sleep(uint64_t ns);
/* A look at the network at clock `now`: returns the time on watch, the gap
   since the last look counted as `most` at most. */
uint64_t pp__pace_watch(struct pp_watch *w, uint64_t now, uint64_t most);

#endif
