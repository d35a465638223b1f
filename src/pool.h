/*
 * pool.h: the master's private view of a pool, shared by the modules that run
 * in the master. Everything here lives in the master's heap and is guarded by
 * pool->lock, except what is marked atomic.
 */
#ifndef PP_POOL_H
#define PP_POOL_H

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/types.h>
#include <unistd.h>

#include "arena.h"
#include "procpool.h"
#include "shm.h"
#include "sync.h"

enum pp_phase { PHASE_QUEUED, PHASE_DISPATCHED, PHASE_DONE };

enum pp_future_flags {
    FUT_RELEASED = 1,    /* the caller gave it up: freed once done */
    FUT_HEAP_RESULT = 2, /* result points to a malloc'd copy */
    FUT_HEAP_ARG = 4,    /* while queued, result holds a malloc'd copy of the argument */
    FUT_CALLBACKS = 8,   /* queued to run its callbacks on the monitor thread */
    FUT_MAP_CHUNK = 16,  /* an internal pp_map chunk */
    FUT_QUEUED = 32,     /* linked in the backlog (even once cancelled) */
};

struct pp_callback {
    struct pp_callback *next;
    pp_done_fn fn;
    void *ud;
};

struct pp_future {
    struct pp_future *prev, *next; /* the pool's live futures */
    struct pp_future *qnext;       /* backlog or callback queue */
    pp_pool *pool;
    pp_fn fn;
    struct pp_callback *callbacks; /* in the order added */
    uint64_t deadline_ns;          /* run-time limit; 0: none */
    uint64_t arg_len;
    uint64_t result_hint; /* arena bytes to reserve for the result */
    pp_block block;       /* arena: the argument while queued, the result once done */
    const void *result;   /* done: the result; queued: see FUT_HEAP_ARG */
    size_t result_len;
    char *message;                       /* failure message (malloc'd) or NULL */
    _Atomic uint32_t phase;              /* enum pp_phase */
    int32_t status, code;                /* outcome once done */
    uint32_t slot;                       /* while dispatched */
    uint32_t flags;                      /* enum pp_future_flags */
    alignas(16) unsigned char small[16]; /* small argument while queued, small result once done */
};

struct pp_slot_info {        /* the master's record of a slot it handed out */
    struct pp_future *owner; /* NULL: free or abandoned */
    pp_block arg;            /* arena block of the argument (its tail is the first grant) */
    pp_block grant;          /* block granted on a GROW request */
};

struct pp_worker_info {
    pid_t pid;          /* 0: no process */
    bool alive;         /* started and not yet reported dead */
    bool starting;      /* asked the spawner for it, no answer yet */
    bool deadline_kill; /* we killed it for the task numbered kill_seq */
    uint32_t kill_seq;
};

struct pp_pool {
    pthread_mutex_t lock;
    pp_config cfg;
    uint32_t nworkers;
    struct pp_shm *shm;
    size_t map_size;
    struct pp_arena arena;
    struct pp_slot_info *slots;
    uint32_t *free_slots, nfree;   /* stack of FREE slots */
    uint32_t *unpushed, nunpushed; /* PENDING slots the ring had no room for */
    struct pp_future live;         /* sentinel of the live futures list */
    struct pp_future *backlog, *backlog_tail;
    struct pp_future *cb_queue, *cb_tail;
    struct pp_worker_info *workers;
    unsigned alive, starting;
    size_t unfinished; /* futures not yet done */
    int cmd_fd, report_fd, event_fd;
    pid_t spawner;
    pp_pool *registry_next; /* the process's live pools (spawner.c) */
    pthread_t monitor;
    bool stop_monitor; /* pp_pool_destroy asks the monitor to end */
    bool shutdown;     /* no more submits */
    bool broken;
    bool spawner_gone;      /* its report channel closed and it was reaped */
    int spawn_errno;        /* last fork failure reported by the spawner */
    unsigned done_interest; /* threads that want every completion promptly */
    unsigned cb_waiting;    /* unfinished futures that have callbacks */
    pp_stats stats;
};

/* An argument in two pieces, copied as one: head (may be empty), then body. */
struct pp_arg {
    const void *head, *body;
    size_t head_len, body_len;
};

/* dispatch.c: the task path inside the master (pool->lock held). */
int pp_submit_locked(pp_pool *pool, pp_fn fn, const struct pp_arg *arg, uint64_t deadline_ns,
                     uint64_t result_hint, uint32_t flags, pp_future **out);
void pp_feed(pp_pool *pool);
bool pp_harvest(pp_pool *pool, uint32_t slot);
void pp_harvest_all(pp_pool *pool);
void pp_complete(pp_pool *pool, struct pp_future *f, int status, int code, const char *message);
void pp_finish_slot(pp_pool *pool, uint32_t slot, int status, int code, const char *message);
void pp_requeue_slot(pp_pool *pool, uint32_t slot);
void pp_update_kicks(pp_pool *pool);
void pp_future_free(struct pp_future *f);
void pp_future_maybe_free(struct pp_future *f);     /* frees it if released and unreferenced */
void pp_slot_reclaim(pp_pool *pool, uint32_t slot); /* back to the free stack */
bool pp_cancel_locked(pp_pool *pool, struct pp_future *f);

/* monitor.c */
int pp_monitor_start(pp_pool *pool);
bool pp_read_reports(pp_pool *pool, bool block);
void pp_break_pool(pp_pool *pool, int status);
bool pp_on_monitor_thread(const pp_pool *pool);
int pp_spawner_send(pp_pool *pool, int op, int worker, int arg);

/* spawner.c */
enum pp_spawn_op { SPAWN_START = 1, SPAWN_KILL = 2, SPAWN_KILL_ALL = 3 };
enum pp_report_kind { REPORT_STARTED = 1, REPORT_EXITED = 2, REPORT_FAILED = 3 };
struct pp_spawn_msg {
    int32_t op, worker, arg;
};
struct pp_report {
    int32_t kind, worker, pid, status;
};
int pp_spawner_fork(pp_pool *pool, int cmd_read, int report_write);
void pp_registry_lock(void);
void pp_registry_unlock(void);
void pp_registry_add(pp_pool *pool); /* with the registry lock held */
void pp_registry_remove(pp_pool *pool);

/* worker.c */
extern int pp_current_worker;
_Noreturn void pp_worker_main(pp_pool *pool, uint32_t w);

/* future.c */
int pp_wait_done(struct pp_future *f, uint64_t deadline);

/* Closes *fd and sets it to -1, clearing it first: a spawner forked by another
   thread meanwhile reads pool descriptors to close, and must never see a
   number that is already free for reuse. */
static inline void pp_close_fd(int *fd)
{
    int old = *fd;
    *fd = -1;
    if (old >= 0)
        close(old);
}

/* Master-side calls refuse to run inside a worker. */
#define PP_MASTER_ONLY()                                                                                     \
    do {                                                                                                     \
        if (pp_current_worker >= 0)                                                                          \
            return PP_ESTATE;                                                                                \
    } while (0)

#endif
