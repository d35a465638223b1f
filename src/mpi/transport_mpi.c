/* SPDX-License-Identifier: MIT */
/*
 * transport_mpi: the cluster transport over MPI (transport.h), the only
 * file of the library that calls MPI.
 *
 * Two duplicates of MPI_COMM_WORLD, so the library never meets the
 * program's own messages: one for messages, one for large payloads (so a
 * probe for messages never matches a payload). Every send is non-blocking
 * (two ranks each blocked sending to the other would wait for ever) and is
 * kept until MPI_Test says it is done, then released. A message is found
 * with a matched probe (MPI_Improbe) and received with MPI_Imrecv, so even a
 * report of many megabytes never blocks the caller; one message is received
 * at a time, which keeps their order. A payload goes in pieces of at most
 * PIECE bytes (MPI counts are int), received with MPI_Irecv into the
 * caller's buffer. Errors return (MPI_ERRORS_RETURN): a peer that is gone
 * fails that call, not the job.
 */
#define _GNU_SOURCE
#include "transport_mpi.h"

#include <limits.h>
#include <mpi.h>
#include <stdlib.h>
#include <time.h>

#include "../sync.h"
#include "bytes.h"
#include "procpool.h"

#define PIECE ((uint64_t)1 << 30)

struct send {
    MPI_Request req;
    int dest;
    struct pp_release release;
};

struct mpi_transport {
    struct pp_transport t; /* first: handed out as a pp_transport */
    MPI_Comm msgs, bigs;
    struct send *sends;
    size_t nsends, cap;
    bool receiving; /* a message is on its way into in */
    MPI_Request rreq;
    struct pp_msg in;
    MPI_Request *abandoned; /* receives given up while a transfer was under way */
    size_t nabandoned, abandoned_cap;
};

struct pp_big_in {
    int n;     /* pieces */
    bool sink; /* dropped: the pieces land in a byte that is not there */
    MPI_Request req[];
};

static struct mpi_transport *of(struct pp_transport *t)
{
    return (struct mpi_transport *)t;
}

static void release_now(struct pp_release r)
{
    if (r.fn)
        r.fn(r.ud);
}

static int post_send(struct mpi_transport *m, int dest, int tag, void *buf, uint64_t n, bool big,
                     struct pp_release release)
{
    if (!pp__grow((void **)&m->sends, m->nsends + 1, &m->cap, sizeof *m->sends))
        return PP_ENOMEM;
    struct send *s = &m->sends[m->nsends];
    if (MPI_Isend(buf, (int)n, MPI_BYTE, dest, tag, big ? m->bigs : m->msgs, &s->req) != MPI_SUCCESS)
        return PP_ESYS;
    s->dest = dest;
    s->release = release;
    m->nsends++;
    return PP_OK;
}

static int tp_send(struct pp_transport *t, int dest, int tag, void *buf, uint64_t len, bool big,
                   struct pp_release release)
{
    struct mpi_transport *m = of(t);
    int rc = PP_OK;
    if (!big && len > INT_MAX) {
        rc = PP_EINVAL;
    } else {
        uint64_t at = 0;
        do { /* a message is one piece; a payload, as many as it takes */
            uint64_t n = len - at < PIECE ? len - at : PIECE;
            bool last = at + n == len;
            rc = post_send(m, dest, tag, (char *)buf + at, n, big, last ? release : (struct pp_release){0});
            at += n;
        } while (rc == PP_OK && at < len);
    }
    if (rc != PP_OK)
        release_now(release);
    return rc;
}

static void progress_sends(struct mpi_transport *m)
{
    for (size_t i = 0; i < m->nsends;) {
        int done = 0;
        if (MPI_Test(&m->sends[i].req, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS)
            done = 1; /* failed: MPI is done with the buffer all the same */
        if (!done) {
            i++;
            continue;
        }
        struct pp_release r = m->sends[i].release;
        m->sends[i] = m->sends[--m->nsends];
        release_now(r);
    }
}

static int tp_poll(struct pp_transport *t, struct pp_msg *out)
{
    struct mpi_transport *m = of(t);
    progress_sends(m);
    if (!m->receiving) {
        int flag = 0, count = 0;
        MPI_Message msg;
        MPI_Status st;
        if (MPI_Improbe(MPI_ANY_SOURCE, MPI_ANY_TAG, m->msgs, &flag, &msg, &st) != MPI_SUCCESS || !flag)
            return 0;
        MPI_Get_count(&st, MPI_BYTE, &count);
        m->in =
            (struct pp_msg){.src = st.MPI_SOURCE, .tag = st.MPI_TAG, .len = count > 0 ? (size_t)count : 0};
        m->in.data = m->in.len ? malloc(m->in.len) : NULL;
        static char nowhere; /* no memory: the message is consumed, and returned without its bytes */
        if (MPI_Imrecv(m->in.data ? (void *)m->in.data : &nowhere, m->in.data ? count : 0, MPI_BYTE, &msg,
                       &m->rreq) != MPI_SUCCESS) {
            free(m->in.data);
            return 0;
        }
        m->receiving = true;
    }
    int done = 0;
    if (MPI_Test(&m->rreq, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS)
        done = 1; /* a truncated receive (no memory) ends too */
    if (!done)
        return 0;
    m->receiving = false;
    *out = m->in;
    return 1;
}

static int tp_recv_big(struct pp_transport *t, int src, void *buf, uint64_t len, struct pp_big_in **out)
{
    static char sink[1]; /* a piece received here is truncated, and consumed */
    struct mpi_transport *m = of(t);
    uint64_t pieces = len ? (len + PIECE - 1) / PIECE : 1;
    if (pieces > INT_MAX)
        return PP_ENOMEM;
    struct pp_big_in *in = malloc(sizeof *in + (size_t)pieces * sizeof in->req[0]);
    if (!in)
        return PP_ENOMEM;
    in->n = 0;
    in->sink = !buf;
    uint64_t at = 0;
    for (uint64_t i = 0; i < pieces; i++, in->n++) {
        uint64_t n = len - at < PIECE ? len - at : PIECE;
        int rc = buf ? MPI_Irecv((char *)buf + at, (int)n, MPI_BYTE, src, MPI_ANY_TAG, m->bigs, &in->req[i])
                     : MPI_Irecv(sink, 1, MPI_BYTE, src, MPI_ANY_TAG, m->bigs, &in->req[i]);
        if (rc != MPI_SUCCESS) { /* the pieces already posted are given up */
            t->big_abandon(t, in);
            return PP_ESYS;
        }
        at += n;
    }
    *out = in;
    return PP_OK;
}

static int tp_big_done(struct pp_transport *t, struct pp_big_in *in)
{
    (void)t;
    int done = 0;
    int rc = MPI_Testall(in->n, in->req, &done, MPI_STATUSES_IGNORE);
    if (rc == MPI_SUCCESS && !done)
        return 0;
    bool sink = in->sink;
    free(in);
    return rc == MPI_SUCCESS || sink ? 1 : PP_ESYS; /* a dropped payload is truncated on purpose */
}

static bool tp_big_abandon(struct pp_transport *t, struct pp_big_in *in)
{
    struct mpi_transport *m = of(t);
    bool free_now = true;
    for (int i = 0; i < in->n; i++) {
        int done = 0;
        MPI_Cancel(&in->req[i]);
        if (MPI_Test(&in->req[i], &done, MPI_STATUS_IGNORE) == MPI_SUCCESS && done)
            continue; /* cancelled, or complete: MPI is done with the buffer */
        /* under way: MPI may still write into the buffer; the request is kept
           (freeing it would not stop the transfer) */
        if (pp__grow((void **)&m->abandoned, m->nabandoned + 1, &m->abandoned_cap, sizeof *m->abandoned))
            m->abandoned[m->nabandoned++] = in->req[i];
        else
            MPI_Request_free(&in->req[i]);
        free_now = false;
    }
    free(in);
    return free_now;
}

static void tp_forget(struct pp_transport *t, int peer)
{
    struct mpi_transport *m = of(t);
    for (size_t i = 0; i < m->nsends;) {
        if (m->sends[i].dest != peer) {
            i++;
            continue;
        }
        MPI_Request_free(&m->sends[i].req); /* the peer will never read it */
        struct pp_release r = m->sends[i].release;
        m->sends[i] = m->sends[--m->nsends];
        release_now(r);
    }
}

static size_t tp_sending(struct pp_transport *t)
{
    return of(t)->nsends;
}

static int tp_bcast(struct pp_transport *t, void **buf, size_t *len)
{
    struct mpi_transport *m = of(t);
    uint64_t n = t->rank == 0 ? *len : 0;
    if (MPI_Bcast(&n, 1, MPI_UINT64_T, 0, m->msgs) != MPI_SUCCESS || n > INT_MAX)
        return PP_ESYS;
    if (t->rank != 0) {
        *len = 0;
        *buf = n ? malloc(n) : NULL;
    }
    char nowhere = 0;
    void *into = *buf ? *buf : &nowhere; /* no memory: still take part, then report none */
    if (n && MPI_Bcast(into, *buf ? (int)n : 0, MPI_BYTE, 0, m->msgs) != MPI_SUCCESS)
        return PP_ESYS;
    if (t->rank != 0 && *buf)
        *len = n;
    return PP_OK;
}

static uint64_t tp_now(struct pp_transport *t)
{
    (void)t;
    return pp__now_ns();
}

static void tp_finalize(struct pp_transport *t, bool flush, bool together)
{
    struct mpi_transport *m = of(t);
    while (flush && m->nsends) { /* peers that read: a short wait */
        progress_sends(m);
        if (m->nsends)
            nanosleep(&(struct timespec){0, 20000}, NULL);
    }
    if (together) {
        for (size_t i = 0; i < m->nsends; i++)
            MPI_Request_free(&m->sends[i].req);
        for (size_t i = 0; i < m->nabandoned; i++)
            MPI_Request_free(&m->abandoned[i]);
        MPI_Comm_free(&m->msgs);
        MPI_Comm_free(&m->bigs);
        MPI_Finalize();
    }
    for (size_t i = 0; i < m->nsends; i++)
        release_now(m->sends[i].release);
    if (m->receiving)
        free(m->in.data);
    free(m->sends);
    free(m->abandoned);
    free(m);
}

int pp__mpi_open(int *argc, char ***argv, struct pp_transport **out)
{
    *out = NULL;
    int inited = 0, provided = 0;
    MPI_Initialized(&inited);
    if (inited)
        return PP_ESTATE;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided) != MPI_SUCCESS)
        return PP_ESYS;
    struct mpi_transport *m = calloc(1, sizeof *m);
    if (!m || provided < MPI_THREAD_SERIALIZED || MPI_Comm_dup(MPI_COMM_WORLD, &m->msgs) != MPI_SUCCESS ||
        MPI_Comm_dup(MPI_COMM_WORLD, &m->bigs) != MPI_SUCCESS) {
        MPI_Abort(MPI_COMM_WORLD, 1); /* the other ranks wait in collectives that would never come */
        free(m);
        return PP_ESYS; /* not reached */
    }
    MPI_Comm_set_errhandler(m->msgs, MPI_ERRORS_RETURN);
    MPI_Comm_set_errhandler(m->bigs, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &m->t.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &m->t.size);
    m->t.send = tp_send;
    m->t.poll = tp_poll;
    m->t.recv_big = tp_recv_big;
    m->t.big_done = tp_big_done;
    m->t.big_abandon = tp_big_abandon;
    m->t.forget = tp_forget;
    m->t.sending = tp_sending;
    m->t.bcast = tp_bcast;
    m->t.now = tp_now;
    m->t.finalize = tp_finalize;
    *out = &m->t;
    return PP_OK;
}
