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
 * area: a reused block holds an earlier chunk's statuses), then calls fn
 * once per item, writing each item's status after its result. If the worker
 * dies in the middle, the master still has the area (a crashed task keeps
 * what it reserved): the statuses say which items finished, the first
 * NOT_RUN item fails with PP_ECRASHED and the items after it go out again as
 * a new chunk.
 *
 * The master keeps a bounded window of chunks in flight and collects them in
 * input order, so memory stays O(window) however many items there are, and
 * the first failing item in input order is known as soon as it is reached.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dispatch.h"
#include "fnref.h"
#include "future.h"
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

#define NOT_RUN INT32_MIN /* an item's status before it has run */

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
    if (h.item_size && h.count > (arg_len - ITEMS_AT) / h.item_size)
        return pp_task_fail(t, PP_EINVAL, "malformed map chunk");
    unsigned char *area = pp__task_reserve(t, results_at(h.count) + h.count * h.result_size);
    if (!area)
        return pp_task_fail(t, PP_ENOMEM, "no room for the chunk's results");
    int32_t *status = (int32_t *)area;
    unsigned char *results = area + results_at(h.count);
    const unsigned char *items = (const unsigned char *)arg + ITEMS_AT;
    for (uint64_t i = 0; i < h.count; i++)
        status[i] = NOT_RUN;
    pp__task_keep(t); /* only now: a block used before holds stale statuses */
    for (uint64_t i = 0; i < h.count; i++) {
        t->item_out = results + i * h.result_size;
        t->item_cap = h.result_size;
        t->item_status = PP_OK;
        memset(t->item_out, 0, h.result_size);
        int rc = pp__fn_at(run_chunk, h.fn)(t, items + i * h.item_size, h.item_size);
        /* a result too long fails the item with PP_EINVAL, even when the task
           then returns pp_task_return's nonzero status */
        status[i] = t->item_status != PP_OK ? t->item_status : rc ? PP_ETASK : PP_OK;
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
    bool progress;
};

struct inflight {
    pp_future *f;
    size_t first, count;
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
    pthread_mutex_lock(&job->pool->lock);
    struct pp_task_spec spec = {.fn = run_chunk, .result_hint = results_at(count) + count * job->result_size};
    int rc = pp__submit_locked(job->pool, &spec, &arg, NULL, f);
    pthread_mutex_unlock(&job->pool->lock);
    return rc;
}

/* Copies out the first `finished` items of a chunk's result area. */
static void take_items(struct map_job *job, const struct inflight *c, const pp_future *f, size_t finished)
{
    const int32_t *status = f->result;
    const unsigned char *results = (const unsigned char *)f->result + results_at(c->count);
    for (size_t k = 0; k < finished; k++) {
        size_t i = c->first + k;
        if (job->result_size && status[k] != PP_EINVAL)
            memcpy(job->results + i * job->result_size, results + k * job->result_size, job->result_size);
        settle(job, i, status[k]);
    }
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

/* Waits for one chunk and settles its items; a crash sends the rest out again
   (c then describes the new chunk). PP_ETIMEOUT when the map's time is up. */
static int collect(struct map_job *job, struct inflight *c, uint64_t deadline)
{
    for (;;) {
        int rc = pp__wait_done(c->f, deadline);
        if (rc != PP_OK)
            return rc;
        pp_future *f = c->f;
        size_t finished = 0;
        if (f->status == PP_OK)
            finished = c->count;
        else if (f->status == PP_ECRASHED && f->result_len >= results_at(c->count))
            while (finished < c->count && ((const int32_t *)f->result)[finished] != NOT_RUN)
                finished++;
        take_items(job, c, f, finished);
        int failed = f->status == PP_ETASK ? PP_ENOMEM : f->status;
        pp_future_release(f);
        c->f = NULL;
        if (finished == c->count)
            return PP_OK;
        if (failed != PP_ECRASHED) { /* the chunk as a whole could not run */
            for (size_t k = finished; k < c->count; k++)
                settle(job, c->first + k, failed);
            return PP_OK;
        }
        settle(job, c->first + finished, PP_ECRASHED);
        c->first += finished + 1;
        c->count -= finished + 1;
        if (!c->count)
            return PP_OK;
        rc = submit_chunk(job, c->first, c->count, &c->f);
        if (rc != PP_OK) {
            for (size_t k = 0; k < c->count; k++)
                settle(job, c->first + k, rc);
            return PP_OK;
        }
    }
}

int pp_map(pp_pool *pool, pp_fn fn, const void *items, size_t n, size_t item_size, void *results,
           size_t result_size, const pp_map_opts *opts)
{
    pp_map_opts o = opts ? *opts : (pp_map_opts){0};
    if (!pool || !fn || (!items && n && item_size) || (!results && n && result_size) || !(o.timeout >= 0))
        return PP_EINVAL;
    /* no size below may wrap: every product of the map stays under the arena's largest block */
    if (n > PP_ARENA_MAX_BLOCK || item_size > PP_ARENA_MAX_BLOCK || result_size > PP_ARENA_MAX_BLOCK ||
        (item_size && n > PP_ARENA_MAX_BLOCK / item_size) || (result_size && n > PP_ARENA_MAX_BLOCK / result_size))
        return PP_EINVAL;
    if (pp__foreign(pool->owner_pid))
        return PP_ESTATE;
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
    size_t head = 0, len = 0, next = 0; /* q is a ring: [head, head+len) in flight */
    int rc = PP_OK;
    while ((next < n || len) && rc == PP_OK) {
        while (next < n && len < window) {
            struct inflight c = {NULL, next, n - next < job.chunk ? n - next : job.chunk};
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
    for (; len; head = (head + 1) % window, len--) {
        struct inflight *c = &q[head];
        if (c->f) {
            pp_future_cancel(c->f);
            pp_future_release(c->f);
        }
        for (size_t k = 0; k < c->count; k++)
            settle(&job, c->first + k, stop);
    }
    for (; next < n; next++)
        settle(&job, next, stop);
    free(q);
    draw_progress(&job, true);
    return job.first_failure;
}
