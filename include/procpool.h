/* SPDX-License-Identifier: MIT */
/*
 * procpool: run functions on a pool of forked worker processes and collect
 * their results through futures, with the semantics of Python's
 * concurrent.futures.ProcessPoolExecutor.
 *
 * Every fallible call returns PP_OK (0) or a negative PP_E* code; pp_strerror
 * names it. Timeouts given as arguments are seconds: < 0 waits for ever, 0 only
 * polls. Durations inside option structs treat 0 as "no limit". Option structs
 * may be NULL; zeroed structs are the defaults. The library prints nothing.
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
#define PP_VERSION_MINOR 0
#define PP_VERSION_PATCH 0
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
};
PP_API const char *pp_strerror(int status);

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
} pp_config;

PP_API int pp_pool_create(pp_pool **pool, const pp_config *config);
PP_API int pp_shutdown(pp_pool *pool, bool wait, bool cancel_futures); /* idempotent */
/* shutdown(false, true), then sig (> 0) to every live worker */
PP_API int pp_pool_terminate(pp_pool *pool, int sig);
PP_API void pp_pool_destroy(pp_pool *pool); /* shutdown(true, false), reap all, free all futures */
PP_API int pp_pool_max_workers(const pp_pool *pool);

/* Outcomes do not overlap: completed = PP_OK, failed = PP_ETASK, crashed = PP_ECRASHED. */
typedef struct pp_stats {
    uint64_t submitted, completed, failed, crashed, cancelled, deadline_kills;
    uint64_t workers_started; /* includes replacements */
    unsigned workers_alive;
    size_t shm_bytes_in_use;
} pp_stats;
PP_API int pp_pool_stats(const pp_pool *pool, pp_stats *out);

/* ---- submitting --------------------------------------------------------- */
typedef struct pp_future pp_future;
typedef struct pp_task_opts {
    double deadline; /* seconds the task may run once started; 0: no limit */
} pp_task_opts;
PP_API int pp_submit(pp_pool *pool, pp_fn fn, const void *arg, size_t arg_len, pp_future **future);
PP_API int pp_submit_opts(pp_pool *pool, pp_fn fn, const void *arg, size_t arg_len, const pp_task_opts *opts,
                          pp_future **future);

/* ---- futures (Future) --------------------------------------------------- */
PP_API int pp_future_result(pp_future *f, double timeout, const void **data, size_t *len);
PP_API int pp_future_exception(pp_future *f, double timeout, int *code, const char **message);
PP_API int pp_future_cancel(pp_future *f); /* 1: cancelled (or already was); 0: running or done */
PP_API bool pp_future_cancelled(const pp_future *f);
PP_API bool pp_future_running(const pp_future *f);
PP_API bool pp_future_done(const pp_future *f); /* finished, failed or cancelled */
typedef void (*pp_done_fn)(pp_future *f, void *ud);
PP_API int pp_future_add_done_callback(pp_future *f, pp_done_fn cb, void *ud);
PP_API void pp_future_release(pp_future *f); /* the caller is done with it; a pending task still runs */

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
} pp_map_opts;
PP_API int pp_map(pp_pool *pool, pp_fn fn, const void *items, size_t n, size_t item_size, void *results,
                  size_t result_size, const pp_map_opts *opts);

#ifdef __cplusplus
}
#endif
#endif
