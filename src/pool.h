/* SPDX-License-Identifier: MIT */
/*
 * pool.h: the master's structs. Everything here lives in the master's heap
 * and is guarded by pool->lock, except what is marked atomic. It declares no
 * function: each module declares its own in its own header. The child side
 * (spawner, worker) never includes it.
 *
 * A future's lifetime (lifetime.c). Each holder of a future owns one
 * reference: the caller (until pp_future_release), the backlog (while it is
 * linked there), a slot (si->owner), a remote backend (FUT_TAKEN), the
 * callback queue (while FUT_CB_BUSY), and a wait or as_completed iterator while
 * it watches the future. pp__future_put frees the future when the last
 * reference goes, and nowhere else; pp_pool_destroy frees whatever is left.
 * Each list a future can be on has its own link.
 */
#ifndef PP_POOL_H
#define PP_POOL_H

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "arena.h"
#include "list.h"
#include "procpool.h"
#include "shm.h"
#include "spawner.h"

enum pp_phase { PHASE_QUEUED, PHASE_DISPATCHED, PHASE_DONE };

enum pp_future_flags {
    FUT_HEAP_RESULT = 1, /* result points to a malloc'd copy */
    FUT_HEAP_ARG = 2,    /* while queued, arg_copy holds a malloc'd copy of the argument */
    FUT_TAKEN = 4,       /* a remote backend holds it (and a reference) */
    FUT_KILLED = 8,      /* settled by pp_future_kill while it ran */
    FUT_ARG_GONE = 16,   /* taken: its block now holds the result alone (pp__taken_room) */
    FUT_CB_BUSY = 32,    /* on the callback queue, or its callbacks run (the queue holds it) */
    FUT_NO_CULPRIT = 64, /* a chunk killed for a limit an item (or the task before) met just as it
                            finished: the item running at the kill is not to blame, and the death
                            counts in no statistic (map.c, stream.c, settle.c) */
};

struct pp_callback {
    struct pp_callback *next;
    pp_done_fn fn;
    void *ud;
};

/* What a task is to run with, as submitted. */
struct pp_task_spec {
    pp_fn fn;
    uint64_t deadline_ns;  /* wall-clock limit (per item for a chunk); 0: none */
    uint64_t cpu_limit_ns; /* CPU limit (per item for a chunk); 0: none */
    uint64_t result_hint;  /* arena bytes to reserve for the result */
    unsigned retries;      /* runs after the first that an abrupt end may cost */
    bool rest;             /* part of a map begun before shutdown (pp__jobs): accepted after a
                              shutdown that did not cancel, as Python's map submits all at once */
};

/* What a task cost (pp_task_info, in integers). */
struct pp_cost {
    uint64_t started_ns, finished_ns; /* 0: did not happen */
    uint64_t user_us, sys_us, peak_rss;
};

struct pp_future {
    struct pp_link live;           /* the pool's futures, all of them */
    struct pp_link queue;          /* the backlog */
    struct pp_future *cb_next;     /* the callback queue (singly linked, FIFO) */
    pp_pool *pool;
    struct pp_callback *callbacks; /* in the order added, not yet run */
    union {                        /* what it runs with until it ends, then what its last run cost */
        struct pp_task_spec spec;
        struct pp_cost cost;
    };
    union {
        uint64_t arg_len;  /* until it ends */
        size_t result_len; /* once done */
    };
    uint64_t queued_ns; /* when it was submitted */
    void *data;         /* pp_task_opts.data */
    pp_block block;     /* arena: the argument while queued, the result once done */
    union {
        void *arg_copy;     /* queued or taken: a heap copy of a mid-sized argument (FUT_HEAP_ARG) */
        const void *result; /* done: the result (a crashed task: what it had reserved) */
    };
    char *message;                       /* failure message (malloc'd) or NULL */
    _Atomic uint32_t phase;              /* enum pp_phase */
    int32_t status, code;                /* outcome once done */
    _Atomic uint32_t slot;               /* while dispatched to a slot; else PP_NO_SLOT (written
                                            under the lock; a poll peeks at it without) */
    uint32_t refs;                       /* one per holder (above) */
    uint32_t attempts;                   /* runs that ended so far */
    unsigned char small[16]; /* small argument while queued, small result once done (16-aligned:
                                the assertion below; no alignas, which would pad the struct) */
    uint16_t flags;          /* enum pp_future_flags */
    int16_t worker;          /* who ran it; -1: nobody */
    int32_t pid;             /* its process; 0: none */
};
_Static_assert(offsetof(struct pp_future, small) % 16 == 0, "a small result must be aligned for any type");

struct pp_buffer { /* a buffer pp_buffer_alloc handed out, not yet submitted */
    struct pp_buffer *next;
    void *ptr;
    size_t len;
    pp_block block;
};

struct pp_slot_info {        /* the master's own record of a slot */
    struct pp_future *owner; /* the task in it (a reference); NULL: none */
    bool abandoned;          /* settled while a worker may still write into it (a kill,
                                a fault): kept until that worker's death is handled */
    uint32_t suspect;        /* the PENDING word the audit saw with its cell taken; 0: none */
    uint32_t gen;            /* generation of the last state word the master wrote */
    _Atomic uint32_t sleepers; /* master threads asleep on its state word */
    pp_block arg;            /* arena block of the argument (its tail is the first grant) */
    pp_block grant;          /* block granted on the last GROW request */
    pp_block old_grant;      /* the one before: the worker may still copy from it */
    uint64_t pushed_at;      /* ring position of the slot's last cell + 1; 0: none */
    uint64_t deadline_ns, cpu_limit_ns; /* the limits it was dispatched with */
    uint64_t dispatched_ns;  /* when */
    uint64_t seen_running_ns; /* when the monitor first saw it running (0: not yet) */
};

/* A pool whose tasks run elsewhere (procpool_mpi's cluster pool): no
   spawner, no local workers, no slots. Its backend takes futures from the
   backlog (pp__take_queued) and settles them (pp__settle_taken). wake and
   kill are called with pool->lock held and must neither block nor take it;
   terminate and stop are called without it. */
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

/* Why the master killed a worker: each kill has one owner, so its death is
   told apart from a crash whatever the timing (workers.c). */
enum pp_kill {
    KILL_NONE,      /* the master did not kill it */
    KILL_DEADLINE,  /* the task kill_slot/kill_gen ran past its deadline */
    KILL_CPU,       /* that task (with the processes it started) passed its CPU limit */
    KILL_CANCEL,    /* pp_future_kill of that task (already settled) */
    KILL_FAULT,     /* that task damaged its slot (already settled) */
    KILL_TERMINATE, /* pp_pool_terminate: kill_sig */
    KILL_STOPPED,   /* stopped by a signal while the pool is destroyed */
    KILL_LINGERING, /* still there a second after the pool closed with nothing left to run */
};

struct pp_worker_info {
    pid_t pid;          /* 0: no process */
    bool alive;         /* started and not yet reported dead */
    bool starting;      /* asked the spawner for it, no answer yet */
    bool stopped;       /* stopped by a signal (reported by the spawner) */
    bool ran;           /* seen running a task, or ready: its initializer passed */
    uint8_t kill;       /* enum pp_kill */
    int kill_sig;
    uint32_t kill_slot, kill_gen; /* the task a kill aimed at a task was meant for */
    uint64_t kill_started;        /* and the start of its run (or chunk item) then */
};

struct pp_pool {
    pthread_mutex_t lock;
    pid_t owner_pid; /* the process that created the pool: the only one that may use it */
    pp_config cfg;
    uint32_t nworkers;
    struct pp_layout lay; /* the shared region, as only the master knows it */
    uint64_t ring_tail;   /* the ring's tail, the producer's own copy */
    struct pp_arena arena;
    struct pp_slot_info *slots;
    uint32_t *free_slots, nfree; /* stack of FREE slots whose ring cell is consumed */
    uint32_t *limbo, nlimbo;     /* FREE slots whose last cell is still in the ring */
    uint64_t limbo_head;         /* ring head when limbo was last swept */
    struct pp_link live;         /* every future of the pool */
    struct pp_link backlog;      /* queued futures, in order */
    struct pp_future *cb_head, *cb_tail; /* done futures whose callbacks are to run */
    pthread_cond_t cb_cond;      /* the callback thread waits on it */
    pthread_t cb_thread;
    bool cb_started, cb_stop;
    bool cb_running;             /* the callback thread runs a future's callbacks now */
    struct pp_worker_info *workers;
    unsigned alive, starting;
    size_t unfinished; /* futures not yet done */
    unsigned jobs;     /* maps and streams begun before shutdown and not ended (pp__jobs) */
    bool draining;     /* someone waits in pp_shutdown: open maps no longer hold the pool */
    struct pp_spawner_link spawner;
    pthread_t monitor;
    bool monitor_started;
    bool stop_monitor; /* pp_pool_destroy asks the monitor to end */
    bool destroying;   /* destroy waits: stopped workers are killed */
    bool shutdown;     /* no more submits */
    bool cancelling;   /* shut down with cancel_futures: nothing new runs, no retry */
    bool terminated;   /* pp_pool_terminate: no worker starts any more */
    bool closing;      /* told workers that no more work comes (the master's copy) */
    bool broken;
    bool spawner_gone; /* its report channel closed and it was reaped (remote: the
                          backend has released every process it ran tasks in) */
    struct {
        uint64_t retry_at;      /* no start before (after a failed fork) */
        uint64_t backoff;        /* the next delay; 0: the last start worked */
        uint64_t starving_since; /* no worker, work waiting, starts failing: since; 0: not so */
        int err;                /* the last fork's errno */
    } spawn;
    uint64_t audit_at;      /* the next consistency sweep (audit.c) */
    uint64_t idle_since;    /* closing with nothing left to run, workers still there: since */
    uint64_t cpu_sample_at; /* the next CPU sample of tasks with a limit (cpulimit.c) */
    uint64_t audit_head;    /* the ring's head at the last sweep */
    unsigned done_interest; /* threads that want every completion promptly */
    unsigned cb_waiting;    /* unfinished futures that have callbacks */
    pp_stats stats;
    struct pp_buffer *buffers; /* handed out by pp_buffer_alloc, not yet submitted */
    struct pp_remote *remote;  /* NULL: a local pool */
};

#endif
