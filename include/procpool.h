/* SPDX-License-Identifier: MIT */
/*
 * procpool: run functions on a pool of forked worker processes and collect
 * their results through futures, with the semantics of Python's
 * concurrent.futures.ProcessPoolExecutor.
 *
 * Every fallible call returns PP_OK (0) or a negative PP_E* code; pp_strerror
 * names it. Option structs may be NULL; zeroed structs are the defaults. The
 * library prints nothing.
 *
 * Two conventions for time, side by side:
 *   - a timeout ARGUMENT (pp_future_result, pp_wait, ...) is seconds: < 0 waits
 *     for ever, 0 only polls;
 *   - a duration inside an OPTION STRUCT (deadline, cpu_limit, timeout) is 0 for
 *     no limit (so a zeroed struct is the default), huge or infinite for no
 *     limit, and negative or NaN for PP_EINVAL (a computed limit that went
 *     negative is a bug to report, not a reason to run for ever).
 */
#ifndef PROCPOOL_H
#define PROCPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define PP_API __attribute__((visibility("default"))) /* exported from libprocpool.so */
#else
#define PP_API
#endif

#define PP_VERSION_MAJOR 1
#define PP_VERSION_MINOR 2
#define PP_VERSION_PATCH 0
#define PP_VERSION_HEX   ((PP_VERSION_MAJOR << 16) | (PP_VERSION_MINOR << 8) | PP_VERSION_PATCH)
PP_API const char *pp_version(void); /* "MAJOR.MINOR.PATCH" of the linked library */

/* ---- status codes ------------------------------------------------------- */
enum {
    PP_OK = 0,
    PP_ETIMEOUT = -1,   /* a wait ran out of time; nothing changed */
    PP_ECANCELLED = -2, /* the future was cancelled */
    PP_ETASK = -3,      /* the task returned nonzero (see pp_future_exception) */
    PP_ECRASHED = -4,   /* the worker died while running this task */
    PP_EDEADLINE = -5,  /* the task ran past its deadline; its worker was killed */
    PP_EBROKEN = -6,    /* the pool can run nothing more */
    PP_ESHUTDOWN = -7,  /* submit after shutdown */
    PP_EINVAL = -8,     /* bad argument */
    PP_ENOMEM = -9,     /* heap or shared memory exhausted */
    PP_ESTATE = -10,    /* not valid now (e.g. a master call inside a worker) */
    PP_ESYS = -11,      /* a system call failed; errno holds its cause */
    PP_ELIMIT = -12,    /* a resource limit (cpu_limit) killed the task's worker */
};
PP_API const char *pp_strerror(int status);
PP_API const char *pp_errname(int status); /* "PP_EINVAL"; NULL for an unknown value */

/* Largest max_workers a pool accepts. */
#define PP_MAX_WORKERS 1024
/* Longest task failure message kept, in bytes, not counting the NUL. */
#define PP_MESSAGE_MAX 255

/* ---- task side (runs in a worker) --------------------------------------- */
typedef struct pp_task pp_task;
/* Return 0 for success; any nonzero return is a failure with that code. */
typedef int (*pp_fn)(pp_task *task, const void *arg, size_t arg_len);

PP_API int pp_task_return(pp_task *task, const void *data, size_t len); /* set the result (copied) */
/* result space to fill in place; NULL if unavailable */
PP_API void *pp_task_result_buffer(pp_task *task, size_t len);
PP_API int pp_task_fail(pp_task *task, int code, const char *fmt, ...) /* attach a message; returns code */
    __attribute__((format(printf, 3, 4)));
PP_API int pp_worker_id(void); /* 0 .. max_workers-1 inside a worker, -1 in the master */
/* In a task: what pp_future_info reports (wall time, CPU, peak memory)
   counts from here, so setup is left out. Limits still count from the start. */
PP_API void pp_task_reset_info(pp_task *task);

/* ---- pool (ProcessPoolExecutor) ----------------------------------------- */
typedef struct pp_pool pp_pool;
enum pp_on_crash { PP_REPLACE_WORKER = 0, PP_BREAK_POOL = 1 };
typedef struct pp_config {
    int max_workers;                   /* 0: CPUs this process may run on; < 0: PP_EINVAL */
    int (*initializer)(void *initarg); /* in each new worker before its first task; nonzero: pool breaks */
    void *initarg;
    unsigned max_tasks_per_child; /* 0: unlimited; else a worker is replaced after that many tasks */
    enum pp_on_crash on_crash;    /* REPLACE: only the running task fails; BREAK: Python's semantics */
    size_t shm_bytes;             /* sizing hint for the shared payload arena; 0: default. Not a cap */
    size_t max_rss_per_child;     /* bytes; a worker above it after a task is replaced; 0: no limit */
    bool pin_workers;             /* worker i runs on the i-th CPU this process may use */
} pp_config;

PP_API int pp_pool_create(pp_pool **pool, const pp_config *config);
PP_API int pp_shutdown(pp_pool *pool, bool wait, bool cancel_futures); /* idempotent */
/* shutdown(false, true), then sig (> 0) to every live worker */
PP_API int pp_pool_terminate(pp_pool *pool, int sig);
PP_API void pp_pool_destroy(pp_pool *pool); /* shutdown(true, false), reap all, free all futures */
PP_API int pp_pool_max_workers(const pp_pool *pool);

/* Outcomes do not overlap: completed = PP_OK, failed = PP_ETASK, cancelled;
   crashed and deadline_kills count runs (a retried task's too). */
typedef struct pp_stats {
    uint64_t submitted, completed, failed, crashed, cancelled, deadline_kills;
    uint64_t workers_started; /* includes replacements */
    unsigned workers_alive;
    size_t shm_bytes_in_use;
    uint64_t workers_recycled; /* replaced for passing max_rss_per_child */
    unsigned ranks_lost;       /* cluster pool: agent ranks that stopped answering */
    unsigned ranks_bound;      /* cluster pool: agents bound to one CPU with several workers */
} pp_stats;
PP_API int pp_pool_stats(const pp_pool *pool, pp_stats *out);

/* ---- submitting --------------------------------------------------------- */
typedef struct pp_future pp_future;
typedef struct pp_task_opts {
    double deadline;    /* wall-clock seconds the task may run once started; 0: no limit */
    size_t result_hint; /* result bytes to reserve up front (no round trip); 0: none */
    void *data;         /* the caller's pointer, kept on the future (pp_future_data) */
    double cpu_limit;   /* CPU seconds the task (with the processes it starts) may use; 0: no limit;
                           past it: PP_ELIMIT */
    unsigned retries;   /* runs again after a crash, deadline or CPU limit, up to this many times */
} pp_task_opts;
PP_API int pp_submit(pp_pool *pool, pp_fn fn, const void *arg, size_t arg_len, pp_future **future);
PP_API int pp_submit_opts(pp_pool *pool, pp_fn fn, const void *arg, size_t arg_len, const pp_task_opts *opts,
                          pp_future **future);

/* ---- zero-copy arguments --------------------------------------------------- */
/* A buffer in the pool's shared memory: fill it, then submit it without a
   copy. pp_submit_buffer takes it (it is freed with the future); a buffer
   never submitted goes back with pp_buffer_free. */
PP_API void *pp_buffer_alloc(pp_pool *pool, size_t len); /* NULL: no memory */
PP_API int pp_submit_buffer(pp_pool *pool, pp_fn fn, void *buf, size_t len, const pp_task_opts *opts,
                            pp_future **future);
PP_API void pp_buffer_free(pp_pool *pool, void *buf);

/* ---- futures (Future) --------------------------------------------------- */
PP_API int pp_future_result(pp_future *f, double timeout, const void **data, size_t *len);
PP_API int pp_future_exception(pp_future *f, double timeout, int *code, const char **message);
PP_API int pp_future_cancel(pp_future *f); /* 1: cancelled (or already was); 0: running or done */
/* pending: cancel; running: kill its worker (the pool never breaks for it).
   1: it ends PP_ECANCELLED; 0: it was already done. */
PP_API int pp_future_kill(pp_future *f);
PP_API bool pp_future_cancelled(const pp_future *f);
PP_API bool pp_future_running(const pp_future *f);
PP_API bool pp_future_done(const pp_future *f); /* finished, failed or cancelled */
typedef void (*pp_done_fn)(pp_future *f, void *ud);
PP_API int pp_future_add_done_callback(pp_future *f, pp_done_fn cb, void *ud);
PP_API void pp_future_release(pp_future *f); /* the caller is done with it; a pending task still runs */
PP_API void *pp_future_data(const pp_future *f); /* pp_task_opts.data; NULL for NULL */

/* What a finished task cost: timing and resources, also for crashes and kills. */
typedef struct pp_task_info {
    int worker_id;                             /* -1 if it never started */
    int pid;                                   /* the worker process that ran it; 0 if none */
    double queued_at, started_at, finished_at; /* seconds on CLOCK_MONOTONIC; 0: did not happen */
    double wall_s;                             /* started_at -> finished_at */
    double user_cpu_s, sys_cpu_s;              /* CPU the task itself used */
    uint64_t peak_rss_bytes;                   /* the worker's peak resident memory during the task */
    unsigned attempts;                         /* runs (1: the first try; 0: never started) */
} pp_task_info;
PP_API int pp_future_info(const pp_future *f, pp_task_info *out); /* PP_ESTATE until done */

/* ---- waiting (wait, as_completed) --------------------------------------- */
enum pp_return_when { PP_ALL_COMPLETED = 0, PP_FIRST_COMPLETED, PP_FIRST_EXCEPTION };
PP_API int pp_wait(pp_future *const *futures, size_t n, double timeout, enum pp_return_when when);

typedef struct pp_as_completed pp_as_completed;
PP_API int pp_as_completed_begin(pp_future *const *futures, size_t n, double timeout, pp_as_completed **it);
PP_API int pp_as_completed_next(pp_as_completed *it, pp_future **future); /* 1: one more; 0: all yielded */
PP_API void pp_as_completed_end(pp_as_completed *it);

/* ---- map (Executor.map) ------------------------------------------------- */
typedef struct pp_map_opts {
    size_t chunksize; /* items per task; 0 means 1 */
    double timeout;   /* seconds from the call for the whole map; 0: no limit */
    int *status;      /* optional, n entries: each item's status */
    bool progress;    /* a live progress bar on stderr when stderr is a terminal */
    double deadline;  /* per item, from the item's own start (also inside a chunk); 0: no limit */
    double cpu_limit; /* per item; 0: no limit */
    unsigned retries; /* re-runs of an item whose worker died or hit a limit */
} pp_map_opts;
PP_API int pp_map(pp_pool *pool, pp_fn fn, const void *items, size_t n, size_t item_size, void *results,
                  size_t result_size, const pp_map_opts *opts);

/* ---- streaming map (Python's map iterator, imap_unordered) -------------- */
typedef struct pp_item {
    const void *data;
    size_t len;
} pp_item;
typedef struct pp_stream_opts {
    size_t chunksize; /* items per task; 0 means 1 */
    double timeout;   /* seconds from begin for the whole map; 0: no limit */
    bool unordered;   /* yield in completion order */
    size_t window;    /* items in flight; 0: a default that keeps every worker busy */
    double deadline;  /* per item, from the item's own start (also inside a chunk); 0: no limit */
    double cpu_limit; /* per item; 0: no limit */
    unsigned retries; /* re-runs of an item whose worker died or hit a limit */
} pp_stream_opts;
typedef struct pp_map_item {
    size_t index;        /* the item's position in items[] (pulled: in pull order) */
    int status;          /* PP_OK, PP_ETASK, PP_ECRASHED, PP_EDEADLINE, PP_ELIMIT, ... */
    const void *result;  /* valid until the next pp_map_next or pp_map_end */
    size_t len;
    int code;            /* for a failed item: the task's code, as pp_future_exception */
    const char *message; /* and its message; NULL if none, as pp_future_exception */
} pp_map_item;
typedef struct pp_map_iter pp_map_iter;
PP_API int pp_map_begin(pp_pool *pool, pp_fn fn, const pp_item *items, size_t n, const pp_stream_opts *opts,
                        pp_map_iter **it);
/* Pulled input: 1: *item filled (its bytes are copied before the next call);
   0: no more; < 0: stop, pp_map_next returns that status. */
typedef int (*pp_pull_fn)(void *ud, pp_item *item);
PP_API int pp_map_begin_pull(pp_pool *pool, pp_fn fn, pp_pull_fn pull, void *ud, const pp_stream_opts *opts,
                             pp_map_iter **it);
/* 1: one more item in *out; 0: all yielded; < 0: the iterator's own error (PP_ETIMEOUT...) */
PP_API int pp_map_next(pp_map_iter *it, pp_map_item *out);
PP_API void pp_map_end(pp_map_iter *it);  /* cancels what has not started; waits for the rest */
PP_API void pp_map_kill(pp_map_iter *it); /* cancels what has not started; kills what runs */

#ifdef __cplusplus
}
#endif
#endif
