/* SPDX-License-Identifier: MIT */
/*
 * pool.h: the master's structs. Everything here lives in the master's heap
 * and is guarded by pool->lock, except what is marked atomic. It declares no
 * function: each module declares its own in its own header. The child side
 * (spawner, worker) never includes it.
 */
#ifndef PP_POOL_H
#define PP_POOL_H

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/types.h>

#include "arena.h"
#include "procpool.h"
#include "shm.h"
#include "spawner.h"

enum pp_phase { PHASE_QUEUED, PHASE_DISPATCHED, PHASE_DONE };

enum pp_future_flags {
    FUT_RELEASED = 1,    /* the caller gave it up: freed once done */
    FUT_HEAP_RESULT = 2, /* result points to a malloc'd copy */
    FUT_HEAP_ARG = 4,    /* while queued, result holds a malloc'd copy of the argument */
    FUT_CALLBACKS = 8,   /* queued to run its callbacks on the monitor thread */
    FUT_QUEUED = 16,     /* linked in the backlog (even once cancelled) */
};

struct pp_callback {
    struct pp_callback *next;
    pp_done_fn fn;
    void *ud;
};

/* What a task is to run with, as submitted. */
struct pp_task_spec {
    pp_fn fn;
    uint64_t deadline_ns;  /* wall-clock limit; 0: none */
    uint64_t cpu_limit_ns; /* CPU limit; 0: none */
    uint64_t result_hint;  /* arena bytes to reserve for the result */
};

/* What a task cost (pp_task_info, in integers). */
struct pp_cost {
    uint64_t queued_ns;               /* carried over from the submit */
    uint64_t started_ns, finished_ns; /* 0: did not happen */
    uint64_t user_us, sys_us, peak_rss;
};

struct pp_future {
    struct pp_future *prev, *next; /* the pool's live futures */
    struct pp_future *qnext;       /* backlog or callback queue */
    pp_pool *pool;
    struct pp_callback *callbacks; /* in the order added */
    union {
        struct {
            struct pp_task_spec spec;
            uint64_t arg_len;
            uint64_t queued_ns; /* when it was submitted */
        } in;                   /* until a slot takes it (the slot keeps copies) */
        struct pp_cost out;     /* once done (pp__set_cost) */
    } u;
    void *data;     /* pp_task_opts.data */
    pp_block block; /* arena: the argument while queued, the result once done */
    const void *result;   /* done: the result (a crashed task: what it had reserved);
                             queued: see FUT_HEAP_ARG */
    size_t result_len;
    char *message;                       /* failure message (malloc'd) or NULL */
    _Atomic uint32_t phase;              /* enum pp_phase */
    int32_t status, code;                /* outcome once done */
    uint32_t slot;                       /* while dispatched */
    uint16_t flags;                      /* enum pp_future_flags */
    int16_t worker;                      /* who ran it; -1: nobody */
    int32_t pid;                         /* its process; 0: none */
    alignas(16) unsigned char small[16]; /* small argument while queued, small result once done */
};

struct pp_buffer { /* a buffer pp_buffer_alloc handed out, not yet submitted */
    struct pp_buffer *next;
    void *ptr;
    size_t len;
    pp_block block;
};

struct pp_slot_info {        /* the master's record of a slot it handed out */
    struct pp_future *owner; /* NULL: free or abandoned */
    pp_block arg;            /* arena block of the argument (its tail is the first grant) */
    pp_block grant;          /* block granted on a GROW request */
    uint64_t pushed_at;      /* ring position of the slot's last cell + 1; 0: none */
};

/* A pool whose tasks run elsewhere (procpool_mpi's cluster pool): no
   spawner, no local workers, no slots. Its backend takes futures from the
   backlog (pp__take_queued) and settles them (pp__settle_taken). wake is
   called with pool->lock held and must neither block nor take it; the
   others are called without it. */
struct pp_remote {
    void (*wake)(struct pp_remote *r);               /* a task was queued: look at the backlog */
    void (*terminate)(struct pp_remote *r, int sig); /* pp_pool_terminate: signal every running task */
    void (*stop)(struct pp_remote *r);               /* pp_pool_destroy, once shut down: release all */
    /* pp_future_kill of a taken task (pool->lock held, must not block): the
       core has already settled f PP_ECANCELLED; the backend kills the task
       where it runs, and still hands f back once (pp__settle_taken or
       pp__return_taken), whose outcome the core then ignores. NULL: taken
       tasks cannot be killed. */
    void (*kill)(struct pp_remote *r, pp_future *f);
    /* pp_pool_stats (pool->lock held): sets in *out what only the
       backend's processes know (workers_started, workers_alive,
       workers_recycled, ranks_lost, ranks_bound). NULL: nothing to set. */
    void (*stats)(struct pp_remote *r, pp_stats *out);
    /* pp_map's window (pool->lock held): how many tasks with task_bytes of
       argument are worth keeping in flight, queued ones included, so that
       the backend's runners stay fed at their fastest pace (tasks that
       travel far need many more in flight than a local pool's 8 per
       worker). NULL, or fewer: map's own rule. */
    size_t (*window)(struct pp_remote *r, uint64_t task_bytes);
};

struct pp_worker_info {
    pid_t pid;          /* 0: no process */
    bool alive;         /* started and not yet reported dead */
    bool starting;      /* asked the spawner for it, no answer yet */
    bool stopped;       /* stopped by a signal (reported by the spawner) */
    bool deadline_kill; /* we killed it for the task numbered kill_seq */
    uint32_t kill_seq;
};

struct pp_pool {
    pthread_mutex_t lock;
    pid_t owner_pid; /* the process that created the pool: the only one that may use it */
    pp_config cfg;
    uint32_t nworkers;
    struct pp_shm *shm;
    size_t map_size;
    struct pp_arena arena;
    struct pp_slot_info *slots;
    uint32_t *free_slots, nfree; /* stack of FREE slots whose ring cell is consumed */
    uint32_t *limbo, nlimbo;     /* FREE slots whose last cell is still in the ring */
    uint64_t limbo_head;         /* ring head when limbo was last swept */
    struct pp_future live;       /* sentinel of the live futures list */
    struct pp_future *backlog, *backlog_tail;
    struct pp_future *cb_queue, *cb_tail;
    struct pp_worker_info *workers;
    unsigned alive, starting;
    size_t unfinished; /* futures not yet done */
    struct pp_spawner_link spawner;
    pthread_t monitor;
    bool monitor_started;
    bool stop_monitor; /* pp_pool_destroy asks the monitor to end */
    bool destroying;   /* destroy waits: stopped workers are killed */
    bool shutdown;     /* no more submits */
    bool broken;
    bool spawner_gone;      /* its report channel closed and it was reaped (remote: the
                               backend has released every process it ran tasks in) */
    int spawn_errno;        /* last fork failure reported by the spawner */
    unsigned done_interest; /* threads that want every completion promptly */
    unsigned cb_waiting;    /* unfinished futures that have callbacks */
    pp_stats stats;
    struct pp_buffer *buffers; /* handed out by pp_buffer_alloc, not yet submitted */
    struct pp_remote *remote;  /* NULL: a local pool */
};

#endif
