/* SPDX-License-Identifier: MIT */
/*
 * stream: the streaming map, Python's map iterator and imap_unordered, over
 * items of any size each, from an array or pulled one at a time.
 *
 * The iterator keeps at most `window` items in flight, as pieces: with
 * chunksize 1 a piece is one ordinary task per item (its future carries the
 * result, code and message; per-item limits and retries are the task's
 * own); with a larger chunksize a piece is one task of run_chunk, whose
 * argument is [head | item lengths | items, each aligned to 16]. The runner
 * writes each item's outcome into its result area as it goes, a log: [log
 * head | one record per item | result and message bytes]; before each item
 * it names the item running and restarts the per-item limits; after it, it
 * appends the bytes, fills the record and counts the item done (a release
 * store). The log grows by asking the master for a larger area (GROW) and
 * copying itself there; the master keeps the area before last until the task
 * ends, so the copy always reads live memory.
 *
 * So a chunk whose worker died (a crash, or a kill for an item's deadline or
 * CPU limit) loses nothing that finished: its done items are yielded from
 * the log, the item named running (named only once its limits restarted,
 * so a kill aimed at the item before never names it) is the culprit and
 * alone takes the death's status (or runs again, first in a new chunk,
 * while its retries last), and the items that had not started go out again
 * as a new chunk (read again from the array, or, for pulled items, from the
 * chunk's argument, which the piece keeps until its items are yielded: a
 * chunked pulled stream holds its items in flight twice, in the arena and
 * here). A chunk that dies before any item started blames its first item,
 * so a chunk that cannot run ends. The log is the worker's writing:
 * each record is checked against the area before it is read.
 *
 * Pulled input (pp_map_begin_pull): the pull function runs on the caller's
 * thread, inside begin and next, only while the window has room; each
 * item's bytes are copied before it is called again, and index is the pull
 * order, so memory stays O(window) for any number of items. When it says
 * stop (< 0), what was pulled before is yielded, then next returns its
 * status. From inside the pull, pp_map_next on the same iterator returns
 * PP_ESTATE and pp_map_end / pp_map_kill do nothing.
 *
 * A stream begun before pp_shutdown (without cancel) runs to its end (its
 * items were handed over at begin, as Python's map submits them all).
 *
 * pp_map_next yields the items of the oldest piece (ordered) or of any
 * finished piece (unordered), and releases a piece's future when the next
 * call comes. At the timeout, what has not started is cancelled and the
 * iterator returns PP_ETIMEOUT from then on. pp_map_end cancels what has
 * not started and waits for what runs (inside a done-callback, where it
 * cannot wait, it kills them); pp_map_kill kills them. Every size sum is
 * checked: window and chunksize of any value, SIZE_MAX included, mean "as
 * many as there are".
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "callback.h"
#include "deadline.h"
#include "dispatch.h"
#include "fnref.h"
#include "future.h"
#include "owner.h"
#include "pool.h"
#include "sync.h"
#include "task.h"
#include "worker.h"

struct chunk_head {
    int64_t fn;         /* the caller's function, from run_chunk (fnref.h) */
    uint64_t count;     /* items in the argument */
    uint64_t first;     /* the position to start at (a chunk sent again) */
    uint64_t table_off; /* where the items' lengths are, behind the items */
};

struct log_head {
    uint64_t count;          /* as the argument's */
    _Atomic uint64_t done;   /* positions below this one have their record */
    _Atomic uint64_t running; /* position + 1 of the item running; 0: none */
    uint64_t used;           /* bytes of the log so far */
};

struct packed_item { /* one item's outcome in the log */
    int32_t status, code;
    uint64_t off, len; /* its result bytes, from the start of the log */
    uint64_t msg_off, msg_len;
};

#define CHUNK_HEAD         sizeof(struct chunk_head)
#define DEFAULT_WINDOW_MAX 65536 /* items: the iterator's memory is O(window) */

static uint64_t log_table(uint64_t count)
{
    return sizeof(struct log_head) + count * sizeof(struct packed_item);
}

/* ---- worker side ------------------------------------------------------------ */

/* Appends n bytes to the log at a 16-aligned offset, moving the log to a
   larger area when it is full; the offset, or UINT64_MAX without room. */
static uint64_t log_append(pp_task *t, unsigned char **log, uint64_t *cap, const void *p, size_t n)
{
    struct log_head *h = (struct log_head *)(void *)*log;
    uint64_t at = pp__align16(h->used);
    if (n > PP_ARENA_MAX_BLOCK || at + n > *cap) {
        uint64_t want = *cap * 2 > at + n ? *cap * 2 : at + n;
        if (n > PP_ARENA_MAX_BLOCK || want > PP_ARENA_MAX_BLOCK)
            return UINT64_MAX;
        unsigned char *bigger = pp__task_reserve(t, want); /* the old area stays until the task ends */
        if (!bigger)
            return UINT64_MAX;
        memmove(bigger, *log, h->used);
        *log = bigger;
        *cap = want;
        pp__task_keep(t);
        h = (struct log_head *)(void *)bigger;
    }
    if (n)
        memcpy(*log + at, p, n);
    h->used = at + n;
    return at;
}

static int run_chunk(pp_task *t, const void *arg, size_t arg_len)
{
    struct chunk_head ch;
    if (arg_len < CHUNK_HEAD)
        return pp_task_fail(t, PP_EINVAL, "malformed stream chunk");
    memcpy(&ch, arg, sizeof ch);
    const unsigned char *base = arg;
    if (ch.table_off < CHUNK_HEAD || ch.table_off > arg_len || ch.count > (arg_len - ch.table_off) / sizeof(uint64_t) ||
        ch.first > ch.count || ch.count > PP_ARENA_MAX_BLOCK / sizeof(struct packed_item))
        return pp_task_fail(t, PP_EINVAL, "malformed stream chunk");
    const unsigned char *lens = base + ch.table_off;
    uint64_t at = CHUNK_HEAD, end = ch.table_off, table = log_table(ch.count);
    for (uint64_t i = 0;; i++) { /* validates every length, skips what ran before */
        uint64_t len;
        if (i == ch.count)
            break;
        memcpy(&len, lens + i * sizeof len, sizeof len);
        at = pp__align16(at);
        if (at > end || len > end - at)
            return pp_task_fail(t, PP_EINVAL, "malformed stream chunk");
        if (i >= ch.first)
            break;
        at += len;
    }
    uint64_t cap = table + (end > at ? end - at : 0) + 256;
    unsigned char *log = pp__task_reserve(t, cap);
    if (!log)
        return pp_task_fail(t, PP_ENOMEM, "no room for the chunk's results");
    struct log_head *h = (struct log_head *)(void *)log;
    h->count = ch.count;
    atomic_store_explicit(&h->done, ch.first, memory_order_relaxed);
    atomic_store_explicit(&h->running, 0, memory_order_relaxed);
    h->used = table;
    pp__task_keep(t);
    for (uint64_t i = ch.first; i < ch.count; i++) {
        uint64_t len;
        memcpy(&len, lens + i * sizeof len, sizeof len);
        at = pp__align16(at);
        if (at > end || len > end - at)
            return pp_task_fail(t, PP_EINVAL, "malformed stream chunk");
        pp__task_item_begin(t); /* first: a kill aimed at the item before cannot blame this one */
        atomic_store_explicit(&((struct log_head *)(void *)log)->running, i + 1, memory_order_release);
        pp_task item = {.lay = t->lay, .rec = t->rec, .slot = t->slot, .desc = t->desc, .running = t->running,
                        .pid = t->pid, .meter = t->meter, .to_heap = true};
        int code = pp__fn_at(run_chunk, ch.fn)(&item, base + at, len);
        at += len;
        struct packed_item rec = {.status = code ? PP_ETASK : PP_OK, .code = code};
        uint64_t off = code ? log_append(t, &log, &cap, item.msg, item.msg_len)
                            : log_append(t, &log, &cap, item.heap, item.heap_len);
        free(item.heap);
        if (off == UINT64_MAX) {
            rec = (struct packed_item){.status = PP_ENOMEM};
        } else if (code) {
            rec.msg_off = off;
            rec.msg_len = item.msg_len;
        } else {
            rec.off = off;
            rec.len = item.heap_len;
        }
        h = (struct log_head *)(void *)log;
        memcpy(log + sizeof *h + i * sizeof rec, &rec, sizeof rec);
        atomic_store_explicit(&h->done, i + 1, memory_order_release);
        atomic_store_explicit(&h->running, 0, memory_order_release);
    }
    t->res_len = h->used; /* the log as far as it is written */
    return 0;
}

/* ---- master side ------------------------------------------------------------ */

struct chunk_arg { /* a chunk's argument as sent, to send its rest again */
    unsigned char *bytes; /* [head | items ... | lengths] once finished */
    size_t len, cap;
    uint64_t count;
    uint64_t *lens; /* while it is built */
    size_t lens_cap;
};

struct piece {
    pp_future *f;   /* NULL: its items are settled here (status, code, message) */
    size_t first;   /* index of its first item */
    size_t count;   /* items */
    uint64_t pos;   /* a chunk: its first item's position in the chunk's argument */
    unsigned head_runs; /* runs its first item had before (a culprit sent again) */
    bool chunk;
    bool salvaged; /* the finished items of a chunk that died: read from its log */
    size_t yielded;
    int status, code;
    char *message;         /* f == NULL: malloc'd, or NULL */
    struct chunk_arg *arg; /* a pulled chunk's argument, held by the piece that may send it again */
};

struct pp_map_iter {
    pp_pool *pool;
    pp_fn fn;
    const pp_item *items; /* an array source ... */
    size_t n;
    pp_pull_fn pull;      /* ... or a pulled one */
    void *ud;
    bool ended;           /* the source has no more */
    int source_error;     /* the pull's stop status, yielded after what came before */
    size_t chunk, window;
    bool unordered;
    uint64_t deadline;
    uint64_t item_deadline_ns, item_cpu_ns;
    unsigned retries;
    bool admitted;       /* begun before shutdown: runs to its end (pp__jobs) */
    bool in_pull;        /* its pull runs: the iterator is not to be touched from there */
    struct piece *q;     /* pieces in flight, a ring of cap entries, in submit order */
    pp_future **waiting; /* unordered: their futures, for pp_wait */
    size_t cap, head, len;
    size_t next;          /* the index of the next item from the source */
    size_t inflight;      /* items in q */
    pp_future *done_with; /* released at the next call */
    int error;            /* final: PP_ETIMEOUT */
    char *msg;            /* the last yielded message copy */
};

static struct pp_task_spec item_spec(const pp_map_iter *it, pp_fn fn, bool chunk)
{
    return (struct pp_task_spec){.fn = fn,
                                 .deadline_ns = it->item_deadline_ns,
                                 .cpu_limit_ns = it->item_cpu_ns,
                                 .retries = chunk ? 0 : it->retries,
                                 .rest = it->admitted};
}

static int submit(pp_map_iter *it, const struct pp_task_spec *spec, const struct pp_arg *a, pp_future **f)
{
    pthread_mutex_lock(&it->pool->lock);
    int rc = pp__submit_locked(it->pool, spec, a, NULL, f);
    pthread_mutex_unlock(&it->pool->lock);
    return rc;
}

static void free_chunk_arg(struct chunk_arg *c)
{
    if (c) {
        free(c->bytes);
        free(c->lens);
        free(c);
    }
}

/* Makes room for n more bytes at the end of c->bytes. PP_OK or PP_ENOMEM. */
static int chunk_room(struct chunk_arg *c, size_t at, size_t n)
{
    if (n > PP_ARENA_MAX_BLOCK - at)
        return PP_ENOMEM;
    if (at + n <= c->cap)
        return PP_OK;
    size_t want = c->cap ? c->cap : 4096;
    while (want < at + n)
        want *= 2;
    unsigned char *p = realloc(c->bytes, want); /* not cleared: untouched pages cost nothing */
    if (!p)
        return PP_ENOMEM;
    c->bytes = p;
    c->cap = want;
    return PP_OK;
}

/* Appends an item to a chunk being built. PP_OK or PP_ENOMEM. */
static int chunk_add(struct chunk_arg *c, const void *data, size_t len)
{
    if (c->len == 0)
        c->len = CHUNK_HEAD;
    size_t at = (size_t)pp__align16(c->len);
    if (c->count == c->lens_cap) {
        size_t want = c->lens_cap ? 2 * c->lens_cap : 16;
        uint64_t *l = realloc(c->lens, want * sizeof *l);
        if (!l)
            return PP_ENOMEM;
        c->lens = l;
        c->lens_cap = want;
    }
    if (chunk_room(c, at, len) != PP_OK)
        return PP_ENOMEM;
    memset(c->bytes + c->len, 0, at - c->len); /* the alignment gap */
    if (len)
        memcpy(c->bytes + at, data, len);
    c->lens[c->count++] = len;
    c->len = at + len;
    return PP_OK;
}

/* Writes the head and the lengths behind the items. PP_OK or PP_ENOMEM. */
static int chunk_finish(pp_map_iter *it, struct chunk_arg *c)
{
    size_t table = (size_t)pp__align16(c->len);
    if (c->count > PP_ARENA_MAX_BLOCK / sizeof(uint64_t) || chunk_room(c, table, c->count * sizeof(uint64_t)) != PP_OK)
        return PP_ENOMEM;
    memset(c->bytes + c->len, 0, table - c->len);
    memcpy(c->bytes + table, c->lens, c->count * sizeof(uint64_t));
    c->len = table + c->count * sizeof(uint64_t);
    struct chunk_head h = {.fn = pp__fn_offset(it->fn, run_chunk), .count = c->count, .table_off = table};
    memcpy(c->bytes, &h, sizeof h);
    free(c->lens);
    c->lens = NULL;
    return PP_OK;
}

/* Sends a chunk's items from position pos on. */
static int send_chunk(pp_map_iter *it, const struct chunk_arg *c, uint64_t pos, pp_future **f)
{
    struct chunk_head h;
    memcpy(&h, c->bytes, sizeof h);
    h.first = pos;
    struct pp_arg a = {.head = &h, .head_len = CHUNK_HEAD, .body = c->bytes + CHUNK_HEAD, .body_len = c->len - CHUNK_HEAD};
    struct pp_task_spec spec = item_spec(it, run_chunk, true);
    return submit(it, &spec, &a, f);
}

/* The next item of the source: 1 (in *item), 0 (none, for now or for
   good), or < 0 (a pull that said stop; then nothing more is pulled). */
static int source_next(pp_map_iter *it, pp_item *item)
{
    if (it->ended)
        return 0;
    if (!it->pull) {
        if (it->next >= it->n) {
            it->ended = true;
            return 0;
        }
        *item = it->items[it->next];
        return 1;
    }
    *item = (pp_item){0};
    it->in_pull = true;
    int rc = it->pull(it->ud, item);
    it->in_pull = false;
    if (rc == 1 && !item->data && item->len)
        rc = PP_EINVAL;
    if (rc == 1)
        return 1;
    it->ended = true;
    if (rc < 0)
        it->source_error = rc;
    return rc < 0 ? rc : 0;
}

/* Room for one more piece. */
static bool ring_room(pp_map_iter *it, size_t more)
{
    if (it->len + more <= it->cap)
        return true;
    size_t cap = it->cap ? it->cap : 16;
    while (cap < it->len + more)
        cap *= 2;
    struct piece *q = malloc(cap * sizeof *q);
    pp_future **w = malloc(cap * sizeof *w);
    if (!q || !w) {
        free(q);
        free(w);
        return false;
    }
    for (size_t k = 0; it->cap && k < it->len; k++)
        q[k] = it->q[(it->head + k) % it->cap];
    free(it->q);
    free(it->waiting);
    it->q = q;
    it->waiting = w;
    it->cap = cap;
    it->head = 0;
    return true;
}

static struct piece *piece_at(pp_map_iter *it, size_t pos)
{
    return &it->q[(it->head + pos) % it->cap];
}

/* Puts p at ring position pos (0 = head); the ring has room. */
static void insert_piece(pp_map_iter *it, size_t pos, struct piece p)
{
    it->head = (it->head + it->cap - 1) % it->cap;
    for (size_t k = 0; k < pos; k++)
        *piece_at(it, k) = *piece_at(it, k + 1);
    *piece_at(it, pos) = p;
    it->len++;
}

/* Removes the piece at ring position pos (0 = head). */
static struct piece take_piece(pp_map_iter *it, size_t pos)
{
    struct piece p = *piece_at(it, pos);
    for (size_t k = pos; k > 0; k--) /* keep the others in submit order */
        *piece_at(it, k) = *piece_at(it, k - 1);
    it->head = (it->head + 1) % it->cap;
    it->len--;
    return p;
}

/* A piece whose items are settled here with status. */
static struct piece settled_piece(size_t first, size_t count, int status, int code, const char *message)
{
    return (struct piece){.first = first, .count = count, .status = status, .code = code,
                          .message = message ? strdup(message) : NULL};
}

/* Sends the next piece from the source; false when nothing more can go now. */
/* Sends items [first, first + count) of an array source as a chunk built
   straight in the arena: no copy on the heap, none at the submit. */
static int send_array_chunk(pp_map_iter *it, size_t first, size_t count, pp_future **f)
{
    const pp_item *items = it->items + first;
    size_t at = CHUNK_HEAD;
    for (size_t k = 0; k < count; k++) {
        at = (size_t)pp__align16(at);
        if (items[k].len > PP_ARENA_MAX_BLOCK - at)
            return PP_ENOMEM;
        at += items[k].len;
    }
    size_t table = (size_t)pp__align16(at);
    if (count > (PP_ARENA_MAX_BLOCK - table) / sizeof(uint64_t))
        return PP_ENOMEM;
    size_t total = table + count * sizeof(uint64_t);
    pp_block b;
    pthread_mutex_lock(&it->pool->lock);
    int rc = pp__arg_block(it->pool, total, 0, &b);
    pthread_mutex_unlock(&it->pool->lock);
    if (rc != PP_OK)
        return rc;
    unsigned char *p = pp__block_ptr(&it->pool->arena, b); /* ours alone until submitted */
    struct chunk_head h = {.fn = pp__fn_offset(it->fn, run_chunk), .count = count, .table_off = table};
    memcpy(p, &h, sizeof h);
    at = CHUNK_HEAD;
    for (size_t k = 0; k < count; k++) {
        size_t next = (size_t)pp__align16(at);
        memset(p + at, 0, next - at);
        if (items[k].len)
            memcpy(p + next, items[k].data, items[k].len);
        uint64_t len = items[k].len;
        memcpy(p + table + k * sizeof len, &len, sizeof len);
        at = next + items[k].len;
    }
    memset(p + at, 0, table - at);
    struct pp_task_spec spec = item_spec(it, run_chunk, true);
    struct pp_arg a = {.body = p, .body_len = total, .placed = b};
    pthread_mutex_lock(&it->pool->lock);
    rc = pp__submit_locked(it->pool, &spec, &a, NULL, f);
    if (rc != PP_OK)
        pp__arena_free(&it->pool->arena, &b); /* a failed submit leaves the block ours */
    pthread_mutex_unlock(&it->pool->lock);
    return rc;
}

/* Queues a piece (the ring has room). */
static void queue_piece(pp_map_iter *it, struct piece p)
{
    it->q[(it->head + it->len++) % it->cap] = p;
    it->inflight += p.count;
}

/* Sends the next piece from the source; false when nothing more can go now.
   An array's chunk is built in the arena (its items can be read again to
   send what a death left); a pulled chunk is built on the heap and kept by
   its piece. An item that cannot join a pulled chunk (no memory for it) is
   settled alone, after the items before it. */
static bool send_next(pp_map_iter *it)
{
    size_t room = it->window - it->inflight; /* > 0 */
    size_t want = it->chunk < room ? it->chunk : room;
    if (!ring_room(it, 2))
        return false;
    pp_item item;
    int got = source_next(it, &item);
    if (got <= 0)
        return false;
    struct piece p = {.first = it->next};
    if (it->chunk == 1) {
        struct pp_arg a = {.body = item.data, .body_len = item.len};
        struct pp_task_spec spec = item_spec(it, it->fn, false);
        int rc = submit(it, &spec, &a, &p.f);
        it->next++;
        p.count = 1;
        queue_piece(it, rc == PP_OK ? p : settled_piece(p.first, 1, rc, 0, NULL));
        return true;
    }
    if (!it->pull) {
        p.count = it->n - it->next < want ? it->n - it->next : want;
        p.chunk = true;
        it->next += p.count;
        int rc = send_array_chunk(it, p.first, p.count, &p.f);
        queue_piece(it, rc == PP_OK ? p : settled_piece(p.first, p.count, rc, 0, NULL));
        return true;
    }
    struct chunk_arg *c = calloc(1, sizeof *c);
    int bad = c ? PP_OK : PP_ENOMEM;
    for (;;) { /* each pulled item is copied before the next pull */
        if (bad == PP_OK)
            bad = chunk_add(c, item.data, item.len);
        if (bad != PP_OK)
            break; /* item it->next could not join */
        it->next++;
        if (c->count == want || source_next(it, &item) <= 0)
            break;
    }
    size_t lone = it->next;
    if (bad != PP_OK)
        it->next++;
    p.count = c ? (size_t)c->count : 0;
    p.chunk = true;
    if (p.count) {
        int rc = chunk_finish(it, c);
        if (rc == PP_OK)
            rc = send_chunk(it, c, 0, &p.f);
        if (rc == PP_OK) {
            p.arg = c;
            c = NULL;
        }
        queue_piece(it, rc == PP_OK ? p : settled_piece(p.first, p.count, rc, 0, NULL));
    }
    free_chunk_arg(c);
    if (bad != PP_OK)
        queue_piece(it, settled_piece(lone, 1, bad, 0, NULL));
    return true;
}

/* Sends pieces until the window is full or the source has nothing more. */
static void fill(pp_map_iter *it)
{
    while (it->error == PP_OK && !it->ended && it->inflight < it->window && send_next(it))
        ;
}

/* A chunk's log, checked: NULL unless its head fits and holds p's items. */
static const struct log_head *log_of(const pp_future *f, const struct piece *p)
{
    if (!f->result || f->result_len < sizeof(struct log_head))
        return NULL;
    const struct log_head *h = f->result;
    if (h->count > PP_ARENA_MAX_BLOCK / sizeof(struct packed_item) || f->result_len < log_table(h->count) ||
        p->pos > h->count || p->count > h->count - p->pos)
        return NULL;
    return h;
}

/* Positions below this one have finished, as far as the log says. */
static uint64_t log_done(const struct log_head *h)
{
    uint64_t done = atomic_load_explicit(&((struct log_head *)h)->done, memory_order_acquire);
    return done > h->count ? h->count : done;
}

/* The record of position pos, checked against the log's length: a record
   that points outside it is damage, reported as a crash of that item. */
static struct packed_item log_record(const pp_future *f, uint64_t pos)
{
    struct packed_item r;
    memcpy(&r, (const unsigned char *)f->result + sizeof(struct log_head) + pos * sizeof r, sizeof r);
    uint64_t len = f->result_len;
    bool ok = (r.status == PP_OK || r.status == PP_ETASK || r.status == PP_ENOMEM) && r.off <= len &&
              r.len <= len - r.off && r.msg_off <= len && r.msg_len <= len - r.msg_off && r.msg_len <= PP_MESSAGE_MAX;
    if (!ok)
        r = (struct packed_item){.status = PP_ECRASHED};
    return r;
}

static bool abrupt(int status)
{
    return status == PP_ECRASHED || status == PP_EDEADLINE || status == PP_ELIMIT;
}

/* A chunk piece whose task ended without its every item: in its place, the
   items that finished (still read from its log), the culprit settled (when
   its retries are spent), and the rest sent again. */
static void split(pp_map_iter *it, size_t at)
{
    if (!ring_room(it, 3)) { /* no memory to keep them apart: the piece ends as a whole */
        struct piece *p = piece_at(it, at);
        pp_future_release(p->f);
        free_chunk_arg(p->arg);
        *p = settled_piece(p->first, p->count, PP_ENOMEM, 0, NULL);
        return;
    }
    struct piece p = take_piece(it, at);
    pp_future *f = p.f;
    int status = f->status;
    const struct log_head *h = status == PP_OK || abrupt(status) ? log_of(f, &p) : NULL;
    uint64_t done = h ? log_done(h) : p.pos;
    size_t d = done > p.pos ? (size_t)(done - p.pos) : 0;
    if (d > p.count)
        d = p.count;
    bool none = abrupt(status) && pp__no_culprit(f); /* killed for an item or task that had just finished */
    bool started = h && d < p.count && atomic_load(&((struct log_head *)h)->running) == p.pos + d + 1 &&
                   abrupt(status) && !none;
    struct piece parts[3];
    int nparts = 0;
    bool keep = d > 0;
    if (keep) /* what finished is read from this future's log */
        parts[nparts++] = (struct piece){.f = f, .first = p.first, .count = d, .pos = p.pos, .chunk = true,
                                         .salvaged = true};
    size_t rest = p.count - d;
    if (rest && !abrupt(status)) { /* the chunk could not run, or its log is damaged */
        int why = status == PP_OK ? PP_ECRASHED : status == PP_ETASK ? PP_ENOMEM : status;
        parts[nparts++] = settled_piece(p.first + d, rest, why, f->code, f->message);
    } else if (rest) {
        bool culprit = started || (d == 0 && !none); /* none started: the first is blamed */
        unsigned runs = (d == 0 ? p.head_runs : 0) + 1;
        unsigned head_runs = 0;
        if (culprit && runs > it->retries) {
            parts[nparts++] = settled_piece(p.first + d, 1, status, f->code, f->message);
            d++;
            rest--;
        } else if (culprit) {
            head_runs = runs;
        }
        if (rest) {
            struct piece again = {.first = p.first + d, .count = rest, .head_runs = head_runs, .chunk = true};
            int rc;
            if (p.arg) { /* pulled: what is left of the argument, from the position reached */
                again.pos = p.pos + d;
                rc = send_chunk(it, p.arg, again.pos, &again.f);
                if (rc == PP_OK) {
                    again.arg = p.arg; /* the new piece holds it */
                    p.arg = NULL;
                }
            } else { /* an array: a chunk of what is left */
                rc = send_array_chunk(it, again.first, rest, &again.f);
            }
            parts[nparts++] = rc == PP_OK ? again : settled_piece(again.first, rest, rc, 0, NULL);
        }
    }
    free_chunk_arg(p.arg);
    if (!keep)
        pp_future_release(f);
    for (int k = nparts; k-- > 0;)
        insert_piece(it, at, parts[k]);
}

/* Whether a piece can be yielded from now (settled here, or done). */
static bool ready(const struct piece *p)
{
    return !p->f || pp_future_done(p->f);
}

/* Which piece to read next: the oldest (ordered) or the first one done.
   PP_OK, PP_ETIMEOUT, or PP_ESTATE when it would have to wait in a callback. */
static int pick(pp_map_iter *it, size_t *pos)
{
    *pos = 0;
    struct piece *head = piece_at(it, 0);
    if (!it->unordered || head->yielded) { /* ordered, or a piece half yielded */
        int rc = head->f ? pp__wait_done(head->f, it->deadline) : PP_OK;
        return rc;
    }
    size_t n = 0;
    for (size_t k = 0; k < it->len; k++) {
        struct piece *p = piece_at(it, k);
        if (ready(p)) {
            *pos = k;
            return PP_OK;
        }
        it->waiting[n++] = p->f;
    }
    if (pp__in_callback())
        return PP_ESTATE;
    uint64_t now = pp__now_ns();
    double timeout = it->deadline == PP_FOREVER ? -1 : it->deadline > now ? (double)(it->deadline - now) / 1e9 : 0;
    int done = pp_wait(it->waiting, n, timeout, PP_FIRST_COMPLETED);
    if (done < 0)
        return done;
    for (size_t k = 0; k < it->len; k++)
        if (ready(piece_at(it, k))) {
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
    *out = (pp_map_item){.index = p->first + k};
    free(it->msg);
    it->msg = NULL;
    if (!f) {
        out->status = p->status;
        out->code = p->code;
        if (p->message)
            it->msg = strdup(p->message);
        out->message = it->msg;
        return;
    }
    if (!p->chunk) {
        out->status = f->status;
        if (f->status == PP_OK) {
            out->result = f->result;
            out->len = f->result_len;
        } else {
            out->code = f->code;
            out->message = f->message;
        }
        return;
    }
    struct packed_item rec = log_record(f, p->pos + k);
    out->status = rec.status;
    out->code = rec.code;
    if (rec.status == PP_OK) {
        out->result = (const unsigned char *)f->result + rec.off;
        out->len = rec.len;
    } else if (rec.msg_len) {
        /* the message is not NUL-terminated in the log: copy it */
        it->msg = strndup((const char *)f->result + rec.msg_off, rec.msg_len);
        out->message = it->msg;
    }
}

/* A finished chunk whose log does not hold every item it should. */
static bool incomplete(const struct piece *p)
{
    pp_future *f = p->f;
    if (!p->chunk || p->salvaged || !f || !pp_future_done(f))
        return false;
    if (f->status != PP_OK)
        return true;
    const struct log_head *h = log_of(f, p);
    return !h || log_done(h) < p->pos + p->count;
}

int pp_map_next(pp_map_iter *it, pp_map_item *out)
{
    if (!it || !out)
        return PP_EINVAL;
    if (pp__foreign(it->pool->owner_pid) || it->in_pull)
        return PP_ESTATE; /* from its own pull function: it is in the middle of a call */
    if (it->done_with) {
        pp_future_release(it->done_with);
        it->done_with = NULL;
    }
    if (it->error != PP_OK)
        return it->error;
    for (;;) {
        fill(it);
        if (!it->len)
            return it->source_error;
        size_t pos;
        int rc = pick(it, &pos);
        if (rc == PP_ESTATE)
            return rc; /* inside a callback, nothing ready: no state changed */
        if (rc != PP_OK) {
            it->error = rc;
            for (size_t k = 0; k < it->len; k++)
                if (piece_at(it, k)->f)
                    pp_future_cancel(piece_at(it, k)->f);
            return rc;
        }
        struct piece *p = piece_at(it, pos);
        if (!p->yielded && incomplete(p)) {
            split(it, pos);
            continue;
        }
        if (pos) { /* the piece to yield from goes to the head until it is done */
            insert_piece(it, 0, take_piece(it, pos));
            p = piece_at(it, 0);
        }
        yield_from(it, p, out);
        if (p->yielded == p->count) {
            struct piece gone = take_piece(it, 0);
            it->inflight -= gone.count;
            it->done_with = gone.f;
            free(gone.message);
            free_chunk_arg(gone.arg);
        }
        return 1;
    }
}

/* The iterator for either source; fills the first window. */
static int begin(pp_pool *pool, pp_fn fn, const pp_stream_opts *opts, pp_map_iter *src, pp_map_iter **out)
{
    if (out)
        *out = NULL;
    pp_stream_opts o = opts ? *opts : (pp_stream_opts){0};
    uint64_t limit = 0;
    if (!pool || !fn || !out || pp__deadline_from_seconds(o.timeout, &limit) != PP_OK ||
        pp__deadline_from_seconds(o.deadline, &src->item_deadline_ns) != PP_OK ||
        pp__deadline_from_seconds(o.cpu_limit, &src->item_cpu_ns) != PP_OK)
        return PP_EINVAL;
    if (pp__foreign(pool->owner_pid))
        return PP_ESTATE;
    if (pool->remote && !pp__fn_same_module(fn, run_chunk))
        return PP_EINVAL; /* its distance from run_chunk would differ on other machines */
    pp_map_iter *it = calloc(1, sizeof *it);
    if (!it)
        return PP_ENOMEM;
    *it = *src;
    it->pool = pool;
    it->fn = fn;
    it->chunk = o.chunksize ? o.chunksize : 1;
    if (!it->pull && it->n && it->chunk > it->n)
        it->chunk = it->n;
    it->unordered = o.unordered;
    it->retries = o.retries;
    it->deadline = limit ? pp__add_sat(pp__now_ns(), limit) : PP_FOREVER;
    size_t busy = 4 * (size_t)pool->nworkers + 4; /* pieces that keep every worker busy */
    size_t dflt = it->chunk > DEFAULT_WINDOW_MAX / busy ? DEFAULT_WINDOW_MAX : busy * it->chunk;
    if (dflt > DEFAULT_WINDOW_MAX && DEFAULT_WINDOW_MAX >= it->chunk)
        dflt = DEFAULT_WINDOW_MAX;
    it->window = o.window ? o.window : dflt;
    if (it->window < it->chunk)
        it->window = it->chunk;
    if (!ring_room(it, 16)) {
        free(it);
        return PP_ENOMEM;
    }
    pthread_mutex_lock(&pool->lock);
    it->admitted = pp__jobs(pool, 1);
    pthread_mutex_unlock(&pool->lock);
    fill(it);
    *out = it;
    return PP_OK;
}

int pp_map_begin(pp_pool *pool, pp_fn fn, const pp_item *items, size_t n, const pp_stream_opts *opts,
                 pp_map_iter **out)
{
    if (out)
        *out = NULL;
    if (!items && n)
        return PP_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!items[i].data && items[i].len)
            return PP_EINVAL;
    pp_map_iter src = {.items = items, .n = n};
    return begin(pool, fn, opts, &src, out);
}

int pp_map_begin_pull(pp_pool *pool, pp_fn fn, pp_pull_fn pull, void *ud, const pp_stream_opts *opts,
                      pp_map_iter **out)
{
    if (out)
        *out = NULL;
    if (!pull)
        return PP_EINVAL;
    pp_map_iter src = {.pull = pull, .ud = ud};
    return begin(pool, fn, opts, &src, out);
}

/* Ends the iterator: what has not started is cancelled; what runs is killed
   (kill), or waited for. */
static void finish(pp_map_iter *it, bool kill)
{
    if (!it || pp__foreign(it->pool->owner_pid) || it->in_pull)
        return; /* from its own pull function: the call under way still needs it */
    kill = kill || pp__in_callback(); /* a callback cannot wait */
    for (size_t k = 0; k < it->len; k++) {
        pp_future *f = piece_at(it, k)->f;
        if (f && kill)
            pp_future_kill(f);
        else if (f)
            pp_future_cancel(f);
    }
    for (size_t k = 0; k < it->len; k++) {
        struct piece *p = piece_at(it, k);
        if (p->f && !kill)
            pp__wait_done(p->f, PP_FOREVER); /* nothing of the map runs after we return */
        if (p->f && (k == 0 || p->f != piece_at(it, k - 1)->f))
            pp_future_release(p->f);
        free(p->message);
        free_chunk_arg(p->arg);
    }
    if (it->done_with)
        pp_future_release(it->done_with);
    if (it->admitted) {
        pthread_mutex_lock(&it->pool->lock);
        pp__jobs(it->pool, -1);
        pthread_mutex_unlock(&it->pool->lock);
    }
    free(it->q);
    free(it->waiting);
    free(it->msg);
    free(it);
}

void pp_map_end(pp_map_iter *it)
{
    finish(it, false);
}

void pp_map_kill(pp_map_iter *it)
{
    finish(it, true);
}
