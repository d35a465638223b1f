/* SPDX-License-Identifier: MIT */
/*
 * stream: the streaming map, Python's map iterator and imap_unordered, over
 * items of any size each.
 *
 * The iterator keeps at most `window` items in flight, as pieces: with
 * chunksize 1 a piece is one ordinary task per item (its future carries the
 * result, code and message); with a larger chunksize a piece is one task of
 * run_chunk, whose argument is [header | item lengths | items, each aligned
 * to 16] and whose result packs each item's status, code, message and
 * result bytes (the worker collects each item's result in its heap, then
 * returns the whole pack). pp_map_next yields the items of the oldest piece
 * (ordered) or of any finished piece (unordered), and releases a piece's
 * future when the next call comes. A chunk whose worker died is replaced, in
 * its place, by one task per item, so only the item that crashes fails with
 * PP_ECRASHED; items of that chunk that had finished run again (at least
 * once). An item that cannot be sent (PP_ENOMEM, a broken pool) is yielded
 * with that status. At the
 * timeout, what has not started is cancelled and the iterator returns
 * PP_ETIMEOUT from then on. pp_map_end cancels what has not started and
 * waits for what runs.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "deadline.h"
#include "dispatch.h"
#include "fnref.h"
#include "future.h"
#include "owner.h"
#include "pool.h"
#include "sync.h"
#include "task.h"

struct chunk_head {
    int64_t fn; /* the caller's function, from run_chunk (fnref.h) */
    uint64_t count;
    uint64_t pad[2];
};

struct packed_item { /* one item's outcome inside a chunk's result */
    int32_t status, code;
    uint64_t off, len; /* its result bytes, from the start of the pack */
    uint64_t msg_off, msg_len;
};

#define STREAM_CHUNK_HEAD  sizeof(struct chunk_head)
#define DEFAULT_WINDOW_MAX 65536 /* items: the iterator's memory is O(window) */

/* ---- worker side ------------------------------------------------------------ */

/* Appends n bytes to a growing heap buffer at a 16-aligned offset; returns the
   offset, or UINT64_MAX when the heap is full. */
static uint64_t append(unsigned char **buf, size_t *len, size_t *cap, const void *p, size_t n)
{
    size_t at = (size_t)pp__align16(*len);
    if (at + n > *cap) {
        size_t want = *cap ? *cap : 4096;
        while (want < at + n)
            want *= 2;
        unsigned char *q = realloc(*buf, want);
        if (!q)
            return UINT64_MAX;
        *buf = q;
        *cap = want;
    }
    if (n)
        memcpy(*buf + at, p, n);
    *len = at + n;
    return at;
}

static int run_chunk(pp_task *t, const void *arg, size_t arg_len)
{
    struct chunk_head h;
    if (arg_len < STREAM_CHUNK_HEAD)
        return pp_task_fail(t, PP_EINVAL, "malformed stream chunk");
    memcpy(&h, arg, sizeof h);
    const unsigned char *base = arg;
    const uint64_t *lens = (const uint64_t *)(base + STREAM_CHUNK_HEAD);
    if (h.count > (arg_len - STREAM_CHUNK_HEAD) / sizeof(uint64_t))
        return pp_task_fail(t, PP_EINVAL, "malformed stream chunk");
    size_t at = STREAM_CHUNK_HEAD + h.count * sizeof(uint64_t), table = sizeof(uint64_t) + h.count * sizeof(struct packed_item);
    unsigned char *pack = calloc(1, table);
    size_t len = table, cap = table;
    if (!pack)
        return pp_task_fail(t, PP_ENOMEM, "no memory for the chunk's results");
    memcpy(pack, &h.count, sizeof h.count);
    int rc = 0;
    for (uint64_t i = 0; i < h.count && rc == 0; i++) {
        at = (size_t)pp__align16(at);
        if (lens[i] > arg_len - at) {
            rc = pp_task_fail(t, PP_EINVAL, "malformed stream chunk");
            break;
        }
        pp_task item = {.shm = t->shm, .slot = t->slot, .running = t->running, .pid = t->pid, .to_heap = true};
        int code = pp__fn_at(run_chunk, h.fn)(&item, base + at, lens[i]);
        at += lens[i];
        struct packed_item rec = {.status = code ? PP_ETASK : PP_OK, .code = code};
        uint64_t off = code ? 0 : append(&pack, &len, &cap, item.heap, item.heap_len);
        uint64_t moff = code && item.msg_len ? append(&pack, &len, &cap, item.msg, item.msg_len) : 0;
        free(item.heap);
        if (off == UINT64_MAX || moff == UINT64_MAX) {
            rc = pp_task_fail(t, PP_ENOMEM, "no memory for the chunk's results");
            break;
        }
        rec.off = off;
        rec.len = code ? 0 : item.heap_len;
        rec.msg_off = moff;
        rec.msg_len = code ? item.msg_len : 0;
        memcpy(pack + sizeof(uint64_t) + i * sizeof rec, &rec, sizeof rec);
    }
    if (rc == 0)
        rc = pp_task_return(t, pack, len) == PP_OK ? 0 : pp_task_fail(t, PP_ENOMEM, "no room for the results");
    free(pack);
    return rc;
}

/* ---- master side ------------------------------------------------------------ */

struct piece {
    pp_future *f; /* NULL: it could not be sent, see unsent */
    size_t first, count;
    bool chunk; /* run_chunk's pack, else one plain task */
    size_t yielded;
    int unsent; /* why it could not be sent */
};

struct pp_map_iter {
    pp_pool *pool;
    pp_fn fn;
    const pp_item *items;
    size_t n, chunk, window;
    bool unordered;
    uint64_t deadline;
    struct piece *q;     /* pieces in flight, a ring of cap entries, in submit order */
    pp_future **waiting; /* unordered: their futures, for pp_wait */
    size_t cap, head, len;
    size_t next;          /* the next item to send */
    size_t inflight;      /* items in q */
    pp_future *done_with; /* released at the next call */
    int error;            /* sticky: PP_ETIMEOUT */
    char *msg;            /* the last failed single item's message copy */
};

static int send_plain(pp_map_iter *it, size_t i, pp_future **f)
{
    struct pp_task_spec spec = {.fn = it->fn};
    struct pp_arg a = {.body = it->items[i].data, .body_len = it->items[i].len};
    pthread_mutex_lock(&it->pool->lock);
    int rc = pp__submit_locked(it->pool, &spec, &a, NULL, f);
    pthread_mutex_unlock(&it->pool->lock);
    return rc;
}

static int send_chunk(pp_map_iter *it, size_t first, size_t count, pp_future **f)
{
    size_t bytes = STREAM_CHUNK_HEAD + count * sizeof(uint64_t);
    for (size_t k = 0; k < count; k++) {
        bytes = (size_t)pp__align16(bytes);
        if (it->items[first + k].len > PP_ARENA_MAX_BLOCK - bytes)
            return PP_ENOMEM;
        bytes += it->items[first + k].len;
    }
    unsigned char *buf = malloc(bytes ? bytes : 1);
    if (!buf)
        return PP_ENOMEM;
    struct chunk_head h = {.fn = pp__fn_offset(it->fn, run_chunk), .count = count};
    memcpy(buf, &h, sizeof h);
    size_t at = STREAM_CHUNK_HEAD + count * sizeof(uint64_t);
    for (size_t k = 0; k < count; k++) {
        uint64_t len = it->items[first + k].len;
        memcpy(buf + STREAM_CHUNK_HEAD + k * sizeof(uint64_t), &len, sizeof len);
        size_t aligned = (size_t)pp__align16(at);
        memset(buf + at, 0, aligned - at);
        at = aligned;
        if (len)
            memcpy(buf + at, it->items[first + k].data, len);
        at += len;
    }
    struct pp_task_spec spec = {.fn = run_chunk};
    struct pp_arg a = {.body = buf, .body_len = at};
    pthread_mutex_lock(&it->pool->lock);
    int rc = pp__submit_locked(it->pool, &spec, &a, NULL, f);
    pthread_mutex_unlock(&it->pool->lock);
    free(buf);
    return rc;
}

/* Sends pieces until the window is full; an item that cannot be sent is
   queued with its status, to be yielded in its turn. */
static void fill(pp_map_iter *it)
{
    while (it->error == PP_OK && it->len < it->cap && it->next < it->n) {
        size_t count = it->n - it->next < it->chunk ? it->n - it->next : it->chunk;
        if (it->inflight && it->inflight + count > it->window)
            break;
        struct piece p = {.first = it->next, .count = count, .chunk = it->chunk > 1};
        int rc = p.chunk ? send_chunk(it, p.first, count, &p.f) : send_plain(it, p.first, &p.f);
        if (rc != PP_OK) /* the rest cannot be sent either: each is yielded with rc */
            p = (struct piece){.first = it->next, .count = it->n - it->next, .unsent = rc};
        it->next += p.count;
        it->q[(it->head + it->len++) % it->cap] = p;
        it->inflight += p.count;
    }
}

int pp_map_begin(pp_pool *pool, pp_fn fn, const pp_item *items, size_t n, const pp_stream_opts *opts,
                 pp_map_iter **out)
{
    if (out)
        *out = NULL;
    pp_stream_opts o = opts ? *opts : (pp_stream_opts){0};
    if (!pool || !fn || !out || (!items && n) || !(o.timeout >= 0))
        return PP_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!items[i].data && items[i].len)
            return PP_EINVAL;
    if (pp__foreign(pool->owner_pid))
        return PP_ESTATE;
    if (pool->remote && !pp__fn_same_module(fn, run_chunk))
        return PP_EINVAL; /* its distance from run_chunk would differ on other machines */
    pp_map_iter *it = calloc(1, sizeof *it);
    if (!it)
        return PP_ENOMEM;
    uint64_t limit = 0;
    pp__deadline_from_seconds(o.timeout, &limit);
    *it = (pp_map_iter){.pool = pool,
                        .fn = fn,
                        .items = items,
                        .n = n,
                        .chunk = o.chunksize ? o.chunksize : 1,
                        .unordered = o.unordered,
                        .deadline = limit ? pp__add_sat(pp__now_ns(), limit) : PP_FOREVER};
    size_t busy = (4 * (size_t)pool->nworkers + 4) * it->chunk; /* keeps every worker busy */
    it->window = o.window ? o.window : busy < DEFAULT_WINDOW_MAX ? busy : DEFAULT_WINDOW_MAX;
    if (it->window < it->chunk)
        it->window = it->chunk;
    it->cap = it->window + 2; /* every piece may become one item's (a failed chunk's) */
    it->q = calloc(it->cap, sizeof *it->q);
    it->waiting = calloc(it->cap, sizeof *it->waiting);
    if (!it->q || !it->waiting) {
        free(it->q);
        free(it->waiting);
        free(it);
        return PP_ENOMEM;
    }
    fill(it);
    *out = it;
    return PP_OK;
}

/* The pack's record of item k. */
static struct packed_item packed(const pp_future *f, size_t k)
{
    struct packed_item rec;
    memcpy(&rec, (const unsigned char *)f->result + sizeof(uint64_t) + k * sizeof rec, sizeof rec);
    return rec;
}

/* Puts p at ring position pos (0 = head); the ring has room (cap >= window + 2). */
static void insert_piece(pp_map_iter *it, size_t pos, struct piece p)
{
    it->head = (it->head + it->cap - 1) % it->cap;
    for (size_t k = 0; k < pos; k++)
        it->q[(it->head + k) % it->cap] = it->q[(it->head + k + 1) % it->cap];
    it->q[(it->head + pos) % it->cap] = p;
    it->len++;
}

/* Removes the piece at ring position pos (0 = head). */
static struct piece take_piece(pp_map_iter *it, size_t pos)
{
    struct piece p = it->q[(it->head + pos) % it->cap];
    for (size_t k = pos; k > 0; k--) /* keep the others in submit order */
        it->q[(it->head + k) % it->cap] = it->q[(it->head + k - 1) % it->cap];
    it->head = (it->head + 1) % it->cap;
    it->len--;
    return p;
}

/* Which piece to read next: the oldest (ordered) or the first one done. */
static int pick(pp_map_iter *it, size_t *pos)
{
    *pos = 0;
    struct piece *head = &it->q[it->head];
    if (!it->unordered || head->yielded) /* ordered, or a piece half yielded */
        return head->f ? pp__wait_done(head->f, it->deadline) : PP_OK;
    for (size_t k = 0; k < it->len; k++) {
        it->waiting[k] = it->q[(it->head + k) % it->cap].f;
        if (!it->waiting[k] || pp_future_done(it->waiting[k])) { /* unsent, or done: ready now */
            *pos = k;
            return PP_OK;
        }
    }
    uint64_t now = pp__now_ns();
    double timeout = it->deadline == PP_FOREVER ? -1 : it->deadline > now ? (double)(it->deadline - now) / 1e9 : 0;
    int done = pp_wait(it->waiting, it->len, timeout, PP_FIRST_COMPLETED);
    if (done < 0)
        return done;
    for (size_t k = 0; k < it->len; k++)
        if (pp_future_done(it->waiting[k])) {
            *pos = k;
            return PP_OK;
        }
    return PP_ETIMEOUT;
}

/* The piece at the head has a yieldable item: fill *out and advance. */
static void yield_from(pp_map_iter *it, struct piece *p, pp_map_item *out)
{
    pp_future *f = p->f;
    size_t k = p->yielded++;
    *out = (pp_map_item){.index = p->first + k, .message = ""};
    if (!f) {
        out->status = p->unsent;
        return;
    }
    if (!p->chunk) {
        out->status = f->status;
        if (f->status == PP_OK) {
            out->result = f->result;
            out->len = f->result_len;
        } else {
            out->code = f->code;
            out->message = f->message ? f->message : "";
        }
        return;
    }
    struct packed_item rec = packed(f, k);
    out->status = rec.status;
    out->code = rec.code;
    if (rec.status == PP_OK) {
        out->result = (const unsigned char *)f->result + rec.off;
        out->len = rec.len;
    } else if (rec.msg_len) {
        /* the message is not NUL-terminated in the pack: copy it */
        free(it->msg);
        it->msg = strndup((const char *)f->result + rec.msg_off, rec.msg_len);
        out->message = it->msg ? it->msg : "";
    }
}

int pp_map_next(pp_map_iter *it, pp_map_item *out)
{
    if (!it || !out)
        return PP_EINVAL;
    if (pp__foreign(it->pool->owner_pid))
        return PP_ESTATE;
    if (it->done_with) {
        pp_future_release(it->done_with);
        it->done_with = NULL;
    }
    if (it->error == PP_ETIMEOUT)
        return PP_ETIMEOUT;
    for (;;) {
        fill(it);
        if (!it->len)
            return it->error != PP_OK ? it->error : 0;
        size_t pos;
        int rc = pick(it, &pos);
        if (rc != PP_OK) {
            it->error = rc;
            for (size_t k = 0; k < it->len; k++)
                if (it->q[(it->head + k) % it->cap].f)
                    pp_future_cancel(it->q[(it->head + k) % it->cap].f);
            return rc;
        }
        struct piece *p = &it->q[(it->head + pos) % it->cap];
        pp_future *f = p->f;
        if (f && p->chunk && f->status != PP_OK) {
            /* the chunk as a whole failed (its worker died, or no memory):
               in its place, one task per item */
            struct piece gone = take_piece(it, pos);
            pp_future_release(f);
            for (size_t k = gone.count; k-- > 0;) {
                struct piece one = {.first = gone.first + k, .count = 1};
                int sent = send_plain(it, one.first, &one.f);
                if (sent != PP_OK)
                    one = (struct piece){.first = gone.first + k, .count = 1, .unsent = sent};
                insert_piece(it, pos, one);
            }
            continue;
        }
        if (pos) { /* the piece to yield from goes to the head until it is done */
            insert_piece(it, 0, take_piece(it, pos));
            p = &it->q[it->head];
        }
        yield_from(it, p, out);
        if (p->yielded == p->count) {
            struct piece gone = take_piece(it, 0);
            it->inflight -= gone.count;
            it->done_with = gone.f;
        }
        return 1;
    }
}

void pp_map_end(pp_map_iter *it)
{
    if (!it || pp__foreign(it->pool->owner_pid))
        return;
    for (size_t k = 0; k < it->len; k++)
        if (it->q[(it->head + k) % it->cap].f)
            pp_future_cancel(it->q[(it->head + k) % it->cap].f);
    for (size_t k = 0; k < it->len; k++) {
        pp_future *f = it->q[(it->head + k) % it->cap].f;
        if (f) {
            pp__wait_done(f, PP_FOREVER); /* nothing of the map runs after we return */
            pp_future_release(f);
        }
    }
    if (it->done_with)
        pp_future_release(it->done_with);
    free(it->q);
    free(it->waiting);
    free(it->msg);
    free(it);
}
