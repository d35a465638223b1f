/*
 * map: pp_map, Executor.map for arrays.
 *
 * Items travel in chunks: one task carries a header and chunksize items
 * copied from the caller's array. In the worker, pp_run_chunk calls fn once
 * per item; each item's status and result go straight into the chunk's
 * result area, [int32 status per item | padding | result_size per item], and
 * the slot's progress word counts the items finished. If the worker dies in
 * the middle, the master still has the finished items (pp_finish_slot keeps
 * the area and reports progress): the item that was running fails with
 * PP_ECRASHED and the items after it go out again as a new chunk.
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

#include "pool.h"
#include "task.h"

struct chunk_hdr {
    pp_fn fn;
    uint64_t count, item_size, result_size;
};

#define ITEMS_AT 32 /* items start here, aligned for any type */
_Static_assert(sizeof(struct chunk_hdr) <= ITEMS_AT, "chunk header too large");

static uint64_t align16(uint64_t v)
{
    return (v + 15) & ~(uint64_t)15;
}

static uint64_t results_at(uint64_t count)
{
    return align16(count * sizeof(int32_t));
}

/* ---- worker side ---------------------------------------------------------- */

int pp_run_chunk(pp_task *t, const void *arg, size_t arg_len)
{
    struct chunk_hdr h;
    memcpy(&h, arg, sizeof h);
    if (arg_len < ITEMS_AT || h.count * h.item_size > arg_len - ITEMS_AT)
        return pp_task_fail(t, PP_EINVAL, "malformed map chunk");
    unsigned char *area = pp_task_reserve(t, results_at(h.count) + h.count * h.result_size);
    if (!area)
        return pp_task_fail(t, PP_ENOMEM, "no room for the chunk's results");
    int32_t *status = (int32_t *)area;
    unsigned char *results = area + results_at(h.count);
    const unsigned char *items = (const unsigned char *)arg + ITEMS_AT;
    for (uint64_t i = 0; i < h.count; i++) {
        t->item_out = results + i * h.result_size;
        t->item_cap = h.result_size;
        t->item_status = PP_OK;
        memset(t->item_out, 0, h.result_size);
        int rc = h.fn(t, items + i * h.item_size, h.item_size);
        /* a result too long fails the item with PP_EINVAL, even when the task
           then returns pp_task_return's nonzero status */
        status[i] = t->item_status != PP_OK ? t->item_status : rc ? PP_ETASK : PP_OK;
        atomic_store_explicit(&t->slot->progress, (uint32_t)(i + 1), memory_order_release);
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
    struct chunk_hdr h = {job->fn, count, job->item_size, job->result_size};
    unsigned char head[ITEMS_AT] = {0};
    memcpy(head, &h, sizeof h);
    struct pp_arg arg = {.head = head,
                         .head_len = ITEMS_AT,
                         .body = job->items + first * job->item_size,
                         .body_len = count * job->item_size};
    pthread_mutex_lock(&job->pool->lock);
    int rc = pp_submit_locked(job->pool, pp_run_chunk, &arg, 0, results_at(count) + count * job->result_size,
                              FUT_MAP_CHUNK, f);
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
    uint64_t now = pp_now_ns();
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
        int rc = pp_wait_done(c->f, deadline);
        if (rc != PP_OK)
            return rc;
        pp_future *f = c->f;
        size_t finished = 0;
        if (f->status == PP_OK)
            finished = c->count;
        else if (f->status == PP_ECRASHED && f->result_len)
            finished = (size_t)f->code < c->count ? (size_t)f->code : c->count;
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
    PP_MASTER_ONLY();
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
                          .started = pp_now_ns(),
                          .progress = o.progress && isatty(STDERR_FILENO)};
    if (job.chunk > n && n)
        job.chunk = n;
    uint64_t deadline = o.timeout > 0 ? pp_deadline_after(o.timeout) : PP_FOREVER;
    size_t window = 8 * (size_t)pool->nworkers + 8;
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
