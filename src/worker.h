/* SPDX-License-Identifier: MIT */
/*
 * worker.h: the loop a worker process runs, and what it needs to know. A
 * worker sees the shared region through its own copy of the layout
 * (shm.h) and this struct, never the master's pool or its futures.
 */
#ifndef PP_WORKER_H
#define PP_WORKER_H

#include <stddef.h>
#include <stdint.h>

#include "procpool.h"
#include "shm.h"

struct pp_worker_cfg {
    struct pp_layout lay;              /* the pool's shared region */
    int (*initializer)(void *initarg); /* or NULL */
    void *initarg;
    unsigned max_tasks_per_child; /* 0: unlimited */
    size_t max_rss;               /* bytes; past it after a task the worker leaves; 0: none */
    bool pin;                     /* worker w runs on the w-th CPU it may use */
    uint64_t spin_ns;             /* how long it polls for work after a task before it sleeps */
};

#ifndef PP_WORKER_SPIN_NS
#define PP_WORKER_SPIN_NS 50000 /* the default; see docs/design.md, "Waiting" */
#endif

/* Runs worker w until the pool closes or its task budget is spent; leaves
   only through _exit. */
_Noreturn void pp__worker_main(const struct pp_worker_cfg *cfg, uint32_t w);

/* Result space of len bytes for the whole task (inline, granted, or asked
   for); NULL if the master could not provide it or this process is not the
   task's worker. */
void *pp__task_reserve(pp_task *t, size_t len);
/* Names the space reserved last as the task's result in its slot, where the
   master finds it even if the worker dies before finishing (map.c calls it
   once the space is initialised: before that, a crash must leave nothing). */
void pp__task_keep(pp_task *t);
/* A chunk runner is about to run one item: the task's deadline and CPU limit
   count afresh from here (they are per item for a chunk). */
void pp__task_item_begin(pp_task *t);

#endif
