/* SPDX-License-Identifier: MIT */
/*
 * map: pp_map, Executor.map for arrays.
 *
 * Items travel in chunks: one task carries a header and chunksize items
 * copied from the caller's array; its function is run_chunk, an ordinary
 * task function, so the core knows nothing of chunks. In the worker,
 * run_chunk reserves the chunk's result area, [int32 status per item |
 * padding | result_size per item], marks every status NOT_RUN, and only then
 * names the area as the slot's result (a worker killed before that leaves no
 * area: a reused block holds an earlier chunk's statuses). Then, per item,
 * it restarts the per-item deadline and CPU limit (pp__task_item_begin),
 * only then marks the item RUNNING (a kill aimed at the item before cannot
 * blame it), calls fn, and writes the item's result and then its status (a
 * release store: whoever reads the status sees the result).
 *
 * If the worker dies in the middle (a crash, or a kill for the item's
 * deadline or CPU limit), the master still has the area (a crashed task
 * keeps what it reserved): the items that finished keep their results, the
 * item marked RUNNING is the culprit and only it takes the death's status
 * (or runs again, first in a new chunk, while its retries last), and the
 * items that had not started go out again as a new chunk. A chunk that dies
 * before any item starts blames its first item, so a chunk that cannot run
 * at all ends instead of being sent for ever. stats.crashed counts each
 * crashed run once.
 *
 * The master keeps a bounded window of chunks in flight and collects them in
 * input order, so memory stays O(window) however many items there are, and
 * the first failing item in input order is known as soon as it is reached.
 * A map begun before pp_shutdown (without cancel) runs to its end, as
 * Python's map submits every item at once (pp__jobs keeps the workers).
 * At the map's timeout, finished chunks are collected, the finished items of
 * running chunks are read in place (their statuses say which), and only the
 * items that had not finished report PP_ETIMEOUT; running chunks run on,
 * their results dropped, as Python's map leaves its running calls.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "callback.h"
#include "deadline.h"
#include "dispatch.h"
#include "fnref.h"
#include "future.h"
#include "harvest.h"
#include "owner.h"
#include "pool.h"
#include "sync.h"
#include "task.h"
#include "worker.h"

struct chunk_hdr {
    int64_t fn; /* the caller's function, from run_chunk (fnref.h) */
    uint64_t count, item_size, result_size;
};

#define ITEMS_AT 32 /* items start here, aligned for any type */
_Static_assert(sizeof(struct chunk_hdr) <= ITEMS_AT, "chunk header too large");

#define NOT_RUN INT32_MIN       /* an item's status before it has run */
#define RUNNING (INT32_MIN + 1) /* while it runs */

static uint64_t results_at(uint64_t count)
{
    return pp__align16(count * sizeof(int32_t));
}

/* ---- worker side ---------------------------------------------------------- */

static int run_chunk(pp_task *t, const void *arg, size_t arg_len)
{
    struct chunk_hdr h;
    if (arg_len < ITEMS_AT)
        return pp_task_fail(t, PP_EINVAL, "malformed map chunk");
    memcpy(&h, arg, sizeof h);
    if (h.count > (uint64_t)PP_ARENA_MAX_BLOCK / 64 || (h.item_size && h.count > (arg_len - ITEMS_AT) / h.item_size) ||
        (h.result_size && h.count > (uint64_t)PP_ARENA_MAX_BLOCK / h.result_size))
        return pp_task_fail(t, PP_EINVAL, "malformed map chunk");
    uint64_t need = results_at(h.count) + h.count * h.result_size;
    if (t->desc.result_hint && need > t->desc.result_hint) /* the master sized it: a header written over */
        return pp_task_fail(t, PP_EINVAL, "malformed map chunk");
    unsigned char *area = pp__task_reserve(t, need);
    if (!area)
        return pp_task_fail(t, PP_ENOMEM, "no room for the chunk's results");
    _Atomic int32_t *status = (_Atomic int32_t *)(void *)area;
    unsigned char *results = area + results_at(h.count);
    const unsigned char *items = (const unsigned char *)arg + ITEMS_AT;
    for (uint64_t i = 0; i < h.count; i++)
        atomic_store_explicit(&status[i], NOT_RUN, memory_order_relaxed);
    pp__task_keep(t); /* only now: a block used before holds stale statuses */
    for (uint64_t i = 0; i < h.count; i++) {
        pp__task_item_begin(t); /* first: a kill aimed at the item before cannot blame this one */
        atomic_store_explicit(&status[i], RUNNING, memory_order_release);
        t->item_out = results + i * h.result_size;
        t->item_cap = h.result_size;
        t->item_status = PP_OK;
        memset(t->item_out, 0, h.result_size);
        int rc = pp__fn_at(run_chunk, h.fn)(t, items + i * h.item_size, h.item_size);
        /* a result too long fails the item with PP_EINVAL, even when the task
           then returns pp_task_return's nonzero status */
        atomic_store_explicit(&status[i], t->item_status != PP_OK ? t->item_status : rc ? PP_ETASK : PP_OK,
                              memory_order_release);
    }
    t->item_out = NULL;
    t->msg_len = 0;
    return 0;
}

/* ---- master side ---------------------------------------------------------- */

struct map_job {
    pp_pool *pool;
    pp_fn fn;
    const unsigned char *items;
    size_t n, item_size, result_size, chunk;
    unsigned char *results;
    int *status;       /* caller's array or NULL */
    int first_failure; /* status of the first failing item so far */
    size_t done;       /* items settled, for the progress bar */
    uint64_t started, drawn;
    uint64_t deadline_ns, cpu_limit_ns; /* per item */
    unsigned retries;                   /* per item */
    bool admitted;                      /* begun before shutdown: runs to its end (pp__jobs) */
    bool progress;
};

struct inflight {
    pp_future *f;
    size_t first, count;
    unsigned head_runs; /* runs its first item has had before (a culprit sent again) */
};

static void settle(struct map_job *job, size_t i, int status)
{
    if (job->status)
        job->status[i] = status;
    if (status != PP_OK && job->first_failure == PP_OK)
        job->first_failure = status;
    job->done++;
}

static int submit_chunk(struct map_job *job, size_t first, size_t count, pp_future **f)
{
    struct chunk_hdr h = {pp__fn_offset(job->fn, run_chunk), count, job->item_size, job->result_size};
    unsigned char head[ITEMS_AT] = {0};
    memcpy(head, &h, sizeof h);
    struct pp_arg arg = {.head = head,
                         .head_len = ITEMS_AT,
                         .body = job->items + first * job->item_size,
                         .body_len = count * job->item_size};
    struct pp_task_spec spec = {.fn = run_chunk,
                                .result_hint = results_at(count) + count * job->result_size,
                                .deadline_ns = job->deadline_ns,
                                .cpu_limit_ns = job->cpu_limit_ns,
                                .rest = job->admitted};
    pthread_mutex_lock(&job->pool->lock);
    int rc = pp__submit_locked(job->pool, &spec, &arg, NULL, f);
    pthread_mutex_unlock(&job->pool->lock);
    return rc;
}

/* An item's final status as the worker wrote it, or NOT_RUN / RUNNING. */
static int32_t item_status(const unsigned char *area, size_t k)
{
    return atomic_load_explicit((_Atomic int32_t *)(void *)(area + k * sizeof(int32_t)), memory_order_acquire);
}

/* Whether a status word is an item's outcome (anything else a task wrote
   there is damage: the item is taken as crashed). */
static bool finished(int32_t st)
{
    return st == PP_OK || st == PP_ETASK || st == PP_EINVAL;
}

/* Settles the finished items among the first `upto` of chunk c from its
   area (area_len bytes); returns how many leading items had finished. */
static size_t take_items(struct map_job *job, const struct inflight *c, const unsigned char *area, size_t area_len,
                         size_t upto)
{
    if (!area || area_len < results_at(c->count) + c->count * job->result_size)
        return 0;
    const unsigned char *results = area + results_at(c->count);
    size_t k = 0;
    for (; k < upto; k++) {
        int32_t st = item_status(area, k);
        if (!finished(st))
            break;
        size_t i = c->first + k;
        if (job->result_size && st != PP_EINVAL)
            memcpy(job->results + i * job->result_size, results + k * job->result_size, job->result_size);
        settle(job, i, st);
    }
    return k;
}

static void draw_progress(struct map_job *job, bool last)
{
    uint64_t now = pp__now_ns();
    if (!job->progress || (!last && now - job->drawn < 100000000))
        return;
    job->drawn = now;
    double secs = (double)(now - job->started) / 1e9;
    double rate = secs > 0 ? (double)job->done / secs : 0;
    double eta = rate > 0 ? (double)(job->n - job->done) / rate : 0;
    int width = 30, filled = job->n ? (int)((double)job->done / (double)job->n * width) : width;
    char bar[31];
    for (int k = 0; k < width; k++)
        bar[k] = k < filled ? '#' : '.';
    bar[width] = 0;
    fprintf(stderr, "\r[%s] %zu/%zu %5.1f%% %10.0f items/s ETA %5.0fs%s", bar, job->done, job->n,
            job->n ? 100.0 * (double)job->done / (double)job->n : 100.0, rate, eta, last ? "\n" : "");
    fflush(stderr);
}

static bool abrupt(int status)
{
    return status == PP_ECRASHED || status == PP_EDEADLINE || status == PP_ELIMIT;
}

/* Waits for one chunk and settles its items; a death sends what had not
   finished out again (c then describes the new chunk). PP_ETIMEOUT when the
   map's time is up (c is left as it is). */
static int collect(struct map_job *job, struct inflight *c, uint64_t deadline)
{
    for (;;) {
        int rc = pp__wait_done(c->f, deadline);
        if (rc != PP_OK)
            return rc;
        pp_future *f = c->f;
        int status = f->status;
        bool has_area = (status == PP_OK || abrupt(status)) && f->result &&
                        f->result_len >= results_at(c->count) + c->count * job->result_size;
        size_t took = has_area ? take_items(job, c, f->result, f->result_len, c->count) : 0;
        bool none = abrupt(status) && pp__no_culprit(f); /* killed for an item or task that had just finished */
        bool started = took < c->count && has_area && item_status(f->result, took) != NOT_RUN &&
                       abrupt(status) && !none;
        pp_future_release(f);
        c->f = NULL;
        if (took == c->count)
            return PP_OK;
        if (!abrupt(status)) { /* the chunk as a whole could not run (no memory...) */
            int failed = status == PP_ETASK ? PP_ENOMEM : status == PP_OK ? PP_ECRASHED : status;
            for (size_t k = took; k < c->count; k++)
                settle(job, c->first + k, failed);
            return PP_OK;
        }
        c->first += took;
        c->count -= took;
        /* the item after the finished ones was running, or none had started
           (then the first is blamed, so a chunk that cannot run ends): it
           alone takes the death, or runs again while its retries last */
        bool culprit = started || (took == 0 && !none);
        unsigned runs = (took == 0 ? c->head_runs : 0) + 1;
        if (!culprit) {
            c->head_runs = 0; /* killed between items: the rest goes again */
        } else if (runs <= job->retries) {
            c->head_runs = runs;
        } else {
            settle(job, c->first, status);
            c->first++;
            c->count--;
            c->head_runs = 0;
            if (!c->count)
                return PP_OK;
        }
        rc = submit_chunk(job, c->first, c->count, &c->f);
        if (rc != PP_OK) {
            for (size_t k = 0; k < c->count; k++)
                settle(job, c->first + k, rc);
            c->count = 0;
            return PP_OK;
        }
    }
}

/* The map stops (its timeout, or a failed submit): what finished is kept,
   the rest reports stop. */
static void stop_chunk(struct map_job *job, struct inflight *c, int stop)
{
    size_t took = 0;
    pp_future *f = c->f;
    if (f) {
        pp_future_cancel(f);
        bool done = pp_future_done(f);
        pthread_mutex_lock(&job->pool->lock);
        const void *area;
        size_t len;
        if (done && (f->status == PP_OK || abrupt(f->status)))
            took = take_items(job, c, f->result, f->result_len, c->count);
        else if (!done && pp__peek_result(job->pool, f, &area, &len))
            took = take_items(job, c, area, len, c->count); /* read in place: it still runs */
        pthread_mutex_unlock(&job->pool->lock);
        pp_future_release(f);
    }
    for (size_t k = took; k < c->count; k++)
        settle(job, c->first + k, stop);
}

int pp_map(pp_pool *pool, pp_fn fn, const void *items, size_t n, size_t item_size, void *results,
           size_t result_size, const pp_map_opts *opts)
{
    pp_map_opts o = opts ? *opts : (pp_map_opts){0};
    if (!pool || !fn || (!items && n && item_size) || (!results && n && result_size) || !(o.timeout >= 0))
        return PP_EINVAL;
    uint64_t deadline_ns, cpu_limit_ns;
    if (pp__deadline_from_seconds(o.deadline, &deadline_ns) != PP_OK ||
        pp__deadline_from_seconds(o.cpu_limit, &cpu_limit_ns) != PP_OK)
        return PP_EINVAL;
    /* no size below may wrap: every product of the map stays under the arena's largest block */
    if (n > PP_ARENA_MAX_BLOCK || item_size > PP_ARENA_MAX_BLOCK || result_size > PP_ARENA_MAX_BLOCK ||
        (item_size && n > PP_ARENA_MAX_BLOCK / item_size) || (result_size && n > PP_ARENA_MAX_BLOCK / result_size))
        return PP_EINVAL;
    if (pp__foreign(pool->owner_pid))
        return PP_ESTATE;
    if (n && pp__in_callback())
        return PP_ESTATE; /* it would wait */
    if (pool->remote && !pp__fn_same_module(fn, run_chunk))
        return PP_EINVAL; /* its distance from run_chunk would differ on other machines */
    struct map_job job = {.pool = pool,
                          .fn = fn,
                          .items = items,
                          .n = n,
                          .item_size = item_size,
                          .result_size = result_size,
                          .chunk = o.chunksize ? o.chunksize : 1,
                          .results = results,
                          .status = o.status,
                          .first_failure = PP_OK,
                          .started = pp__now_ns(),
                          .deadline_ns = deadline_ns,
                          .cpu_limit_ns = cpu_limit_ns,
                          .retries = o.retries,
                          .progress = o.progress && isatty(STDERR_FILENO)};
    if (job.chunk > n && n)
        job.chunk = n;
    uint64_t deadline = o.timeout > 0 ? pp__deadline_after(o.timeout) : PP_FOREVER; /* huge: for ever */
    size_t window = 8 * (size_t)pool->nworkers + 8;
    if (pool->remote && pool->remote->window) { /* a remote backend's runners need more (pool.h) */
        pthread_mutex_lock(&pool->lock);
        size_t far = pool->remote->window(pool->remote, ITEMS_AT + job.chunk * item_size);
        pthread_mutex_unlock(&pool->lock);
        window = far > window ? far : window;
    }
    struct inflight *q = calloc(window, sizeof *q);
    if (!q)
        return PP_ENOMEM;
    pthread_mutex_lock(&pool->lock);
    job.admitted = pp__jobs(pool, 1);
    pthread_mutex_unlock(&pool->lock);
    size_t head = 0, len = 0, next = 0; /* q is a ring: [head, head+len) in flight */
    int rc = PP_OK;
    while ((next < n || len) && rc == PP_OK) {
        while (next < n && len < window) {
            struct inflight c = {NULL, next, n - next < job.chunk ? n - next : job.chunk, 0};
            rc = submit_chunk(&job, c.first, c.count, &c.f);
            if (rc != PP_OK)
                break;
            q[(head + len++) % window] = c;
            next += c.count;
        }
        if (rc != PP_OK || !len)
            break;
        rc = collect(&job, &q[head], deadline);
        if (rc != PP_OK)
            break;
        head = (head + 1) % window;
        len--;
        draw_progress(&job, false);
    }
    int stop = rc; /* PP_ETIMEOUT, or a submit that failed: the rest cannot run */
    for (; len; head = (head + 1) % window, len--)
        stop_chunk(&job, &q[head], stop);
    for (; next < n; next++)
        settle(&job, next, stop);
    if (job.admitted) {
        pthread_mutex_lock(&pool->lock);
        pp__jobs(pool, -1);
        pthread_mutex_unlock(&pool->lock);
    }
    free(q);
    draw_progress(&job, true);
    return job.first_failure;
}
