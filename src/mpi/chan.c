/* SPDX-License-Identifier: MIT */
/*
 * chan: non-blocking sends, big payloads, and the idle backoff (chan.h).
 */
#define _GNU_SOURCE
#include "chan.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../sync.h"
#include "procpool.h"
#include "wire.h"

void *pp__bytes_put(struct pp_bytes *b, const void *data, size_t n)
{
    size_t need = b->len + wire_pad8(n);
    if (need > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < need)
            cap *= 2;
        unsigned char *q = realloc(b->p, cap);
        if (!q) {
            b->failed = true;
            return NULL;
        }
        b->p = q;
        b->cap = cap;
    }
    unsigned char *at = b->p + b->len;
    if (data && n)
        memcpy(at, data, n);
    else
        memset(at, 0, n);
    memset(at + n, 0, wire_pad8(n) - n);
    b->len = need;
    return at;
}

static void release_now(struct pp_release r)
{
    if (r.fn)
        r.fn(r.ud);
}

struct pp_release pp__release_free(void *buf)
{
    return (struct pp_release){.fn = free, .ud = buf};
}

/* Room for one more element in *items (n in use, *cap allocated); false
   when out of memory. */
static bool room_for_one(void **items, size_t n, size_t *cap, size_t size)
{
    if (n < *cap)
        return true;
    size_t grown = *cap ? 2 * *cap : 16;
    void *p = realloc(*items, grown * size);
    if (!p)
        return false;
    *items = p;
    *cap = grown;
    return true;
}

bool pp__bigs_add(struct pp_bigs *q, void *p, uint64_t len, struct pp_release release)
{
    if (!room_for_one((void **)&q->b, q->n, &q->cap, sizeof *q->b))
        return false;
    q->b[q->n++] = (struct pp_big){p, len, release};
    return true;
}

void pp__bigs_send(struct pp_chan *c, int dest, struct pp_bigs *q, bool skip)
{
    for (size_t i = 0; i < q->n; i++) {
        if (skip)
            release_now(q->b[i].release);
        else
            pp__chan_send(c, dest, TAG_BIG, q->b[i].p, q->b[i].len, q->b[i].release);
    }
    q->n = 0;
}

static int post(struct pp_chan *c, int dest, int tag, void *buf, int count, struct pp_release release)
{
    if (!room_for_one((void **)&c->sends, c->nsends, &c->cap, sizeof *c->sends))
        return PP_ENOMEM;
    struct pp_send *s = &c->sends[c->nsends];
    if (MPI_Isend(buf, count, MPI_BYTE, dest, tag, c->comm, &s->req) != MPI_SUCCESS)
        return PP_ESYS;
    s->dest = dest;
    s->release = release;
    c->nsends++;
    return PP_OK;
}

int pp__chan_send(struct pp_chan *c, int dest, int tag, void *buf, uint64_t len, struct pp_release release)
{
    int rc = PP_OK;
    uint64_t at = 0;
    do {
        uint64_t n = len - at < WIRE_PIECE ? len - at : WIRE_PIECE;
        bool last = at + n == len;
        rc = post(c, dest, tag, (char *)buf + at, (int)n, last ? release : (struct pp_release){0});
        at += n;
    } while (rc == PP_OK && at < len);
    if (rc != PP_OK)
        release_now(release);
    return rc;
}

int pp__chan_recv_big(struct pp_chan *c, int src, void *buf, uint64_t len)
{
    uint64_t at = 0;
    do {
        uint64_t n = len - at < WIRE_PIECE ? len - at : WIRE_PIECE;
        if (MPI_Recv((char *)buf + at, (int)n, MPI_BYTE, src, TAG_BIG, c->comm, MPI_STATUS_IGNORE) != MPI_SUCCESS)
            return PP_ESYS;
        at += n;
    } while (at < len);
    return PP_OK;
}

int pp__chan_post_big(struct pp_chan *c, int src, void *buf, uint64_t len, struct pp_arrival *out)
{
    static char sink[1]; /* a truncated piece is still consumed */
    int n = (int)((len + WIRE_PIECE - 1) / WIRE_PIECE);
    *out = (struct pp_arrival){.req = malloc((size_t)(n ? n : 1) * sizeof *out->req), .n = n ? n : 1};
    if (!out->req)
        return PP_ENOMEM;
    uint64_t at = 0;
    for (int i = 0; i < out->n; i++) {
        uint64_t piece = len - at < WIRE_PIECE ? len - at : WIRE_PIECE;
        int rc = buf ? MPI_Irecv((char *)buf + at, (int)piece, MPI_BYTE, src, TAG_BIG, c->comm, &out->req[i])
                     : MPI_Irecv(sink, 1, MPI_BYTE, src, TAG_BIG, c->comm, &out->req[i]);
        if (rc != MPI_SUCCESS) {
            out->n = i;
            return PP_ESYS;
        }
        at += piece;
    }
    return PP_OK;
}

bool pp__chan_arrived(struct pp_arrival *in)
{
    int done = 1;
    if (in->n)
        MPI_Testall(in->n, in->req, &done, MPI_STATUSES_IGNORE);
    if (!done)
        return false;
    free(in->req);
    *in = (struct pp_arrival){0};
    return true;
}

void *pp__chan_recv(struct pp_chan *c, const MPI_Status *st, size_t *len)
{
    int count = 0;
    MPI_Get_count(st, MPI_BYTE, &count);
    void *buf = malloc(count > 0 ? (size_t)count : 1);
    int rc = MPI_Recv(buf ? buf : &count, buf ? count : 0, MPI_BYTE, st->MPI_SOURCE, st->MPI_TAG, c->comm,
                      MPI_STATUS_IGNORE);
    if (!buf || rc != MPI_SUCCESS) {
        free(buf);
        return NULL;
    }
    *len = (size_t)count;
    return buf;
}

void pp__chan_progress(struct pp_chan *c)
{
    for (size_t i = 0; i < c->nsends;) {
        int done = 0;
        MPI_Test(&c->sends[i].req, &done, MPI_STATUS_IGNORE);
        if (!done) {
            i++;
            continue;
        }
        struct pp_release r = c->sends[i].release;
        c->sends[i] = c->sends[--c->nsends];
        release_now(r);
    }
}

void pp__chan_forget(struct pp_chan *c, int dest)
{
    for (size_t i = 0; i < c->nsends;) {
        if (c->sends[i].dest != dest) {
            i++;
            continue;
        }
        MPI_Request_free(&c->sends[i].req);
        struct pp_release r = c->sends[i].release;
        c->sends[i] = c->sends[--c->nsends];
        release_now(r);
    }
}

void pp__chan_flush(struct pp_chan *c)
{
    while (c->nsends) {
        pp__chan_progress(c);
        if (c->nsends)
            sched_yield();
    }
}

void pp__chan_active(struct pp_chan *c)
{
    c->active_at = pp__now_ns();
}

uint64_t pp__chan_nap(struct pp_chan *c, uint64_t max_ns)
{
    uint64_t idle = pp__now_ns() - c->active_at;
    if (idle < PP_SPIN_NS)
        return 0;
    if (c->nsends && max_ns > PP_SENDING_NAP_NS)
        max_ns = PP_SENDING_NAP_NS;
    uint64_t nap = idle / PP_NAP_SHARE;
    return nap > max_ns ? max_ns : nap;
}

void pp__chan_sleep(uint64_t ns)
{
    if (!ns) {
        sched_yield(); /* oversubscribed ranks share cores: let the others run */
        return;
    }
    struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
    nanosleep(&ts, NULL);
}
