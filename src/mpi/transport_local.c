/* SPDX-License-Identifier: MIT */
/*
 * transport_local: the cluster transport between threads (transport.h,
 * transport_local.h).
 *
 * One lock guards the whole network. A message is copied into the
 * receiver's queue at once. A payload is not: as MPI's rendezvous does, it
 * waits at the receiver, still in the sender's buffer, until the receiver
 * asks for it (recv_big), is copied then, and its release runs later in the
 * sender's own thread (at its next call), as a send completes under MPI.
 * So a stopped receiver keeps the sender's buffer, and forget gives it back.
 *
 * A stopped rank's thread waits inside its next call (a process under
 * SIGSTOP whose workers run on); a cut one goes on but hears nothing and is
 * heard by nobody (a dead process, as its peers see it). The liveness clock
 * is the monotonic clock until the test makes it manual.
 */
#define _GNU_SOURCE
#include "transport_local.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "../sync.h"
#include "procpool.h"

struct queued { /* a message in a receiver's queue */
    struct queued *next;
    struct pp_msg m;
};

struct node { /* first in a payload and a receive: their lists are matched by sender */
    struct node *next;
    int src;
};

struct payload { /* a payload waiting at its receiver, in its sender's buffer */
    struct node n;
    void *buf;
    uint64_t len;
    struct pp_release release;
};

struct pp_big_in { /* a receive waiting for its payload */
    struct node n;
    void *buf;
    uint64_t len;
    int state; /* 0: waiting; 1: arrived; < 0: failed */
};

struct endpoint {
    struct pp_transport t; /* first: handed out as a pp_transport */
    struct pp_local_net *net;
    struct queued *head, *tail; /* messages to it */
    struct node *payloads;      /* payloads to it, in the order sent */
    struct node *posted;        /* its receives, in the order posted */
    struct payload *finished;   /* its own payloads whose releases are due */
    size_t sending;             /* its payloads not yet finished */
    bool stopped, waiting, cut, closed;
    uint64_t sent;
};

struct pp_local_net {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int size;
    struct endpoint *ep;
    void *bcast;
    size_t bcast_len;
    bool bcast_set;
    bool manual;
    uint64_t clock_ns;
};

static struct endpoint *of(struct pp_transport *t)
{
    return (struct endpoint *)t;
}

/* Takes the lock, first waiting out a stop (the caller is e's thread). */
static void enter(struct endpoint *e)
{
    pthread_mutex_lock(&e->net->lock);
    while (e->stopped) {
        e->waiting = true;
        pthread_cond_broadcast(&e->net->changed);
        pthread_cond_wait(&e->net->changed, &e->net->lock);
    }
    e->waiting = false;
}

static void leave(struct endpoint *e)
{
    pthread_mutex_unlock(&e->net->lock);
}

static bool deaf(const struct endpoint *e)
{
    return e->cut || e->closed;
}

/* A payload is done with: its release runs in its sender's next call. */
static void finish_payload(struct pp_local_net *net, struct payload *p)
{
    struct endpoint *from = &net->ep[p->n.src];
    p->n.next = (struct node *)from->finished;
    from->finished = p;
    pthread_cond_broadcast(&net->changed); /* a flushing sender waits for it */
}

/* Copies payload p into receive in (lock held). */
static void deliver(struct pp_local_net *net, struct payload *p, struct pp_big_in *in)
{
    if (in->buf && p->len == in->len)
        memcpy(in->buf, p->buf, p->len);
    in->state = !in->buf || p->len == in->len ? 1 : PP_ESYS;
    finish_payload(net, p);
}

/* Unlinks the first node from src (lock held). */
static struct node *take_from(struct node **list, int src)
{
    for (struct node **at = list; *at; at = &(*at)->next)
        if ((*at)->src == src) {
            struct node *found = *at;
            *at = found->next;
            return found;
        }
    return NULL;
}

static void append(struct node **list, struct node *n)
{
    while (*list)
        list = &(*list)->next;
    n->next = NULL;
    *list = n;
}

/* Runs the releases due to e (called from e's thread, lock not held). */
static void run_releases(struct endpoint *e)
{
    pthread_mutex_lock(&e->net->lock);
    struct payload *list = e->finished;
    e->finished = NULL;
    for (struct payload *p = list; p; p = (struct payload *)p->n.next)
        e->sending--;
    pthread_mutex_unlock(&e->net->lock);
    for (struct payload *p = list, *next; p; p = next) {
        next = (struct payload *)p->n.next;
        if (p->release.fn)
            p->release.fn(p->release.ud);
        free(p);
    }
}

static void enqueue(struct endpoint *to, struct queued *q)
{
    if (to->tail)
        to->tail->next = q;
    else
        to->head = q;
    to->tail = q;
}

static int lt_send(struct pp_transport *t, int dest, int tag, void *buf, uint64_t len, bool big,
                   struct pp_release release)
{
    struct endpoint *e = of(t);
    struct pp_local_net *net = e->net;
    if (dest < 0 || dest >= net->size || (!big && len > SIZE_MAX)) {
        if (release.fn)
            release.fn(release.ud);
        return PP_EINVAL;
    }
    struct queued *q = big ? NULL : malloc(sizeof *q);
    struct payload *p = big ? malloc(sizeof *p) : NULL;
    void *copy = !big && len ? malloc((size_t)len) : NULL;
    if ((!big && (!q || (len && !copy))) || (big && !p)) {
        free(q), free(p), free(copy);
        if (release.fn)
            release.fn(release.ud);
        return PP_ENOMEM;
    }
    enter(e);
    struct endpoint *to = &net->ep[dest];
    e->sent++;
    bool dropped = deaf(e) || deaf(to);
    if (!dropped && big) {
        *p = (struct payload){.n.src = e->t.rank, .buf = buf, .len = len, .release = release};
        e->sending++;
        struct pp_big_in *in = (struct pp_big_in *)take_from(&to->posted, e->t.rank);
        if (in)
            deliver(net, p, in);
        else
            append(&to->payloads, &p->n);
    } else if (!dropped) {
        if (len)
            memcpy(copy, buf, (size_t)len);
        *q = (struct queued){.m = {.src = e->t.rank, .tag = tag, .data = copy, .len = (size_t)len}};
        enqueue(to, q);
    }
    leave(e);
    if (dropped || !big) { /* copied, or nobody will read it */
        if (dropped) {
            free(q), free(p), free(copy);
        }
        if (release.fn)
            release.fn(release.ud);
    }
    run_releases(e);
    return PP_OK;
}

static int lt_poll(struct pp_transport *t, struct pp_msg *out)
{
    struct endpoint *e = of(t);
    run_releases(e);
    enter(e);
    struct queued *q = deaf(e) ? NULL : e->head;
    if (q) {
        e->head = q->next;
        if (!e->head)
            e->tail = NULL;
    }
    leave(e);
    if (!q)
        return 0;
    *out = q->m;
    free(q);
    return 1;
}

static int lt_recv_big(struct pp_transport *t, int src, void *buf, uint64_t len, struct pp_big_in **out)
{
    struct endpoint *e = of(t);
    struct pp_big_in *in = malloc(sizeof *in);
    if (!in)
        return PP_ENOMEM;
    *in = (struct pp_big_in){.n.src = src, .buf = buf, .len = len};
    enter(e);
    struct payload *p = deaf(e) ? NULL : (struct payload *)take_from(&e->payloads, src);
    if (p)
        deliver(e->net, p, in);
    else
        append(&e->posted, &in->n);
    leave(e);
    *out = in;
    return PP_OK;
}

static int lt_big_done(struct pp_transport *t, struct pp_big_in *in)
{
    struct endpoint *e = of(t);
    run_releases(e);
    enter(e);
    int state = in->state;
    leave(e);
    if (!state)
        return 0;
    free(in);
    return state > 0 ? 1 : state;
}

static bool lt_big_abandon(struct pp_transport *t, struct pp_big_in *in)
{
    struct endpoint *e = of(t);
    enter(e);
    for (struct node **at = &e->posted; *at; at = &(*at)->next)
        if (*at == &in->n) {
            *at = in->n.next;
            break;
        }
    leave(e);
    free(in);
    return true; /* copies happen under the lock: none is under way */
}

/* Gives back every payload from `from` that waits at `to` (lock held). */
static void return_payloads(struct pp_local_net *net, struct endpoint *to, int from)
{
    struct node *p;
    while ((p = take_from(&to->payloads, from)) != NULL)
        finish_payload(net, (struct payload *)p);
}

static void lt_forget(struct pp_transport *t, int peer)
{
    struct endpoint *e = of(t);
    if (peer < 0 || peer >= e->net->size)
        return;
    enter(e);
    return_payloads(e->net, &e->net->ep[peer], e->t.rank);
    leave(e);
    run_releases(e);
}

static size_t lt_sending(struct pp_transport *t)
{
    struct endpoint *e = of(t);
    enter(e);
    size_t n = e->sending;
    leave(e);
    return n;
}

static int lt_bcast(struct pp_transport *t, void **buf, size_t *len)
{
    struct endpoint *e = of(t);
    struct pp_local_net *net = e->net;
    int rc = PP_OK;
    enter(e);
    if (t->rank == 0) {
        net->bcast = *len ? malloc(*len) : NULL;
        net->bcast_len = net->bcast ? *len : 0;
        if (net->bcast)
            memcpy(net->bcast, *buf, *len);
        net->bcast_set = true;
        pthread_cond_broadcast(&net->changed);
    } else {
        while (!net->bcast_set)
            pthread_cond_wait(&net->changed, &net->lock);
        *buf = net->bcast_len ? malloc(net->bcast_len) : NULL;
        *len = *buf ? net->bcast_len : 0;
        if (*buf)
            memcpy(*buf, net->bcast, *len);
    }
    leave(e);
    return rc;
}

static uint64_t lt_now(struct pp_transport *t)
{
    struct pp_local_net *net = of(t)->net;
    pthread_mutex_lock(&net->lock);
    uint64_t now = net->manual ? net->clock_ns : pp__now_ns();
    pthread_mutex_unlock(&net->lock);
    return now;
}

static void lt_finalize(struct pp_transport *t, bool flush, bool together)
{
    (void)together;
    struct endpoint *e = of(t);
    struct pp_local_net *net = e->net;
    for (;;) { /* flush: until the readers have taken every payload */
        run_releases(e);
        enter(e);
        bool pending = e->sending > 0;
        if (!flush || !pending || deaf(e))
            break;
        pthread_cond_wait(&net->changed, &net->lock);
        leave(e);
    }
    e->closed = true;
    for (int r = 0; r < net->size; r++) /* its payloads still waiting somewhere */
        return_payloads(net, &net->ep[r], t->rank);
    for (struct node *p; (p = e->payloads) != NULL;) { /* payloads to it: given back */
        e->payloads = p->next;
        finish_payload(net, (struct payload *)p);
    }
    struct queued *q = e->head;
    struct node *in = e->posted;
    e->head = e->tail = NULL;
    e->posted = NULL;
    pthread_cond_broadcast(&net->changed);
    leave(e);
    run_releases(e);
    for (struct queued *next; q; q = next) {
        next = q->next;
        free(q->m.data);
        free(q);
    }
    for (struct node *next; in; in = next) {
        next = in->next;
        free(in);
    }
}

int pp__local_net_new(int size, struct pp_local_net **out)
{
    *out = NULL;
    if (size < 1)
        return PP_EINVAL;
    struct pp_local_net *net = calloc(1, sizeof *net);
    if (!net || !(net->ep = calloc((size_t)size, sizeof *net->ep))) {
        free(net);
        return PP_ENOMEM;
    }
    pthread_mutex_init(&net->lock, NULL);
    pthread_cond_init(&net->changed, NULL);
    net->size = size;
    for (int r = 0; r < size; r++) {
        struct endpoint *e = &net->ep[r];
        e->net = net;
        e->t = (struct pp_transport){.rank = r,
                                     .size = size,
                                     .send = lt_send,
                                     .poll = lt_poll,
                                     .recv_big = lt_recv_big,
                                     .big_done = lt_big_done,
                                     .big_abandon = lt_big_abandon,
                                     .forget = lt_forget,
                                     .sending = lt_sending,
                                     .bcast = lt_bcast,
                                     .now = lt_now,
                                     .finalize = lt_finalize};
    }
    *out = net;
    return PP_OK;
}

struct pp_transport *pp__local_endpoint(struct pp_local_net *net, int r)
{
    return r >= 0 && r < net->size ? &net->ep[r].t : NULL;
}

void pp__local_net_free(struct pp_local_net *net)
{
    if (!net)
        return;
    for (int r = 0; r < net->size; r++) {
        struct endpoint *e = &net->ep[r];
        for (struct payload *p = e->finished, *next; p; p = next) {
            next = (struct payload *)p->n.next;
            free(p);
        }
    }
    pthread_mutex_destroy(&net->lock);
    pthread_cond_destroy(&net->changed);
    free(net->bcast);
    free(net->ep);
    free(net);
}

void pp__local_stop(struct pp_local_net *net, int r, bool stopped)
{
    pthread_mutex_lock(&net->lock);
    net->ep[r].stopped = stopped;
    pthread_cond_broadcast(&net->changed);
    pthread_mutex_unlock(&net->lock);
}

bool pp__local_wait_stopped(struct pp_local_net *net, int r, uint64_t timeout_ns)
{
    uint64_t until = pp__now_ns() + timeout_ns;
    pthread_mutex_lock(&net->lock);
    while (!(net->ep[r].stopped && net->ep[r].waiting) && pp__now_ns() < until) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 10000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&net->changed, &net->lock, &ts);
    }
    bool ok = net->ep[r].stopped && net->ep[r].waiting;
    pthread_mutex_unlock(&net->lock);
    return ok;
}

/* Drops the messages from rank `from` that wait in e's queue (lock held). */
static void drop_messages(struct endpoint *e, int from)
{
    struct queued **at = &e->head;
    e->tail = NULL;
    while (*at) {
        struct queued *q = *at;
        if (q->m.src != from) {
            e->tail = q;
            at = &q->next;
            continue;
        }
        *at = q->next;
        free(q->m.data);
        free(q);
    }
}

void pp__local_cut(struct pp_local_net *net, int r)
{
    pthread_mutex_lock(&net->lock);
    struct endpoint *e = &net->ep[r];
    e->cut = true;
    for (int k = 0; k < net->size; k++) { /* what it sent arrives nowhere */
        return_payloads(net, &net->ep[k], r);
        drop_messages(&net->ep[k], r);
    }
    for (struct node *p; (p = e->payloads) != NULL;) {
        e->payloads = p->next;
        finish_payload(net, (struct payload *)p);
    }
    pthread_cond_broadcast(&net->changed);
    pthread_mutex_unlock(&net->lock);
}

void pp__local_manual_clock(struct pp_local_net *net)
{
    pthread_mutex_lock(&net->lock);
    if (!net->manual)
        net->clock_ns = pp__now_ns();
    net->manual = true;
    pthread_mutex_unlock(&net->lock);
}

void pp__local_advance(struct pp_local_net *net, uint64_t ns)
{
    pthread_mutex_lock(&net->lock);
    net->clock_ns += ns;
    pthread_mutex_unlock(&net->lock);
}

void pp__local_inject(struct pp_local_net *net, int from, int to, int tag, const void *data, size_t len)
{
    struct queued *q = malloc(sizeof *q);
    void *copy = len ? malloc(len) : NULL;
    if (!q || (len && !copy)) {
        free(q);
        free(copy);
        return;
    }
    if (len)
        memcpy(copy, data, len);
    *q = (struct queued){.m = {.src = from, .tag = tag, .data = copy, .len = len}};
    pthread_mutex_lock(&net->lock);
    enqueue(&net->ep[to], q);
    pthread_mutex_unlock(&net->lock);
}

uint64_t pp__local_sent(struct pp_local_net *net, int r)
{
    pthread_mutex_lock(&net->lock);
    uint64_t n = net->ep[r].sent;
    pthread_mutex_unlock(&net->lock);
    return n;
}
