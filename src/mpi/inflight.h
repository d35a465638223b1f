/* SPDX-License-Identifier: MIT */
/*
 * inflight.h: the tasks an agent has submitted to its local pool, and how
 * it learns that they started and finished (inflight.c).
 *
 * An entry lives from the submit until the future is let go. Unreported
 * entries sit in a list in the order submitted. The agent finds finished
 * tasks by looking at the oldest ones itself (pp_future_done, which settles
 * a finished slot at once), and, only before a long nap, by done-callbacks
 * that wake it: a callback costs the pool's monitor a wake-up per task, and
 * a polling agent does not need it. A local pool dispatches in the order
 * submitted and runs at most nworkers tasks at once, so among the tasks
 * older than a finished one at most nworkers are unfinished: looking at the
 * oldest 2 x nworkers + 1 always finds one if any has finished.
 *
 * A future is released only once its result has been reported, its large
 * result sent (it is sent from the future), and its callback, if one was
 * added, has run: never under a callback still to come.
 */
#ifndef PP_MPI_INFLIGHT_H
#define PP_MPI_INFLIGHT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "procpool.h"

#define PP_NO_ENTRY UINT32_MAX

struct pp_inflight_entry {
    pp_future *f;        /* NULL: free */
    uint64_t id;         /* the master's name for the task */
    uint32_t prev, next; /* unreported list; next also links the free list */
    bool told_started;   /* its start went into a report */
    bool reported;       /* its result went into a report */
    bool armed, fired;   /* a done-callback was added; it has run */
    bool sending;        /* its large result is being sent from the future */
};

struct pp_inflight {
    struct pp_inflight_entry *e;
    size_t cap;
    uint32_t free_head;
    uint32_t head, tail; /* unreported, oldest first */
    size_t unreported;
    pthread_mutex_t lock; /* guards fired[] and nfired, which callbacks append to */
    uint32_t *fired;
    size_t nfired, fired_cap, armed_waiting;
    _Atomic uint32_t seq; /* bumped by every callback: a nap on it ends */
};

void pp__inflight_init(struct pp_inflight *q);
/* After the local pool is destroyed (its last callbacks have run). */
void pp__inflight_free(struct pp_inflight *q);
/* A new entry for task id, or PP_NO_ENTRY when out of memory. Its index
   is what the submit passes as the future's data. */
uint32_t pp__inflight_add(struct pp_inflight *q, uint64_t id);
/* The entry's task was submitted as f (NULL: the submit failed, the entry
   is freed). */
void pp__inflight_submitted(struct pp_inflight *q, uint32_t i, pp_future *f);
/* Calls told(id) for tasks that have started since the last call, oldest
   first, up to the first that has not. */
void pp__inflight_started(struct pp_inflight *q, void (*told)(void *ud, uint64_t id), void *ud);
/* A finished task not yet reported, now counted as reported, or
   PP_NO_ENTRY; looks at the callbacks that ran, then at the oldest scan
   unreported tasks. */
uint32_t pp__inflight_next_done(struct pp_inflight *q, size_t scan);
/* Adds a done-callback to every unreported task that has none (before a
   long nap). */
void pp__inflight_arm(struct pp_inflight *q);
/* The entry of task id not yet reported, or PP_NO_ENTRY. */
uint32_t pp__inflight_find(const struct pp_inflight *q, uint64_t id);
/* The entry's large result is being sent (true), or has been (false). */
void pp__inflight_sending(struct pp_inflight *q, uint32_t i, bool sending);
/* The entry's result is reported: its future is released when nothing
   else holds it. */
void pp__inflight_let_go(struct pp_inflight *q, uint32_t i);

#endif
