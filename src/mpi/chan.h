/* SPDX-License-Identifier: MIT */
/*
 * chan.h: one rank's end of the cluster communicator (chan.c). Every send is
 * non-blocking: a blocking send of a large message waits for the receiver,
 * and two ranks each sending to the other would wait for ever. A send keeps
 * its buffer until MPI is done with it (pp__chan_progress), freeing it then
 * when the channel owns it. Receives block only for a TAG_BIG whose header
 * has arrived, that is, whose send is already posted.
 *
 * Waiting for work costs next to nothing while a rank idles: it polls, and
 * between polls sleeps, once it has been idle for PP_SPIN_NS, for an eighth
 * of the time it has been idle, up to a cap the caller gives (pp__chan_nap).
 * So a message that ends a pause waits at most an eighth of the pause (an
 * agent that napped a fixed 20 ms between two map chunks was measured to cut
 * map throughput tenfold), and a long pause costs few wake-ups. A wake-up
 * is dear on a virtual machine (a bare 2 ms sleep loop measured 2.2 % CPU on
 * the 2-core build machine, 5 ms 1.0 %), so the caps are long while nothing
 * is in flight and short while tasks run. A rank with a send in flight
 * sleeps PP_SENDING_NAP_NS at most, so a large transfer is not paced by the
 * sleeps; it never spins for it (spinning ranks that wait on each other's
 * transfers were measured to starve the workers of an oversubscribed machine
 * and cut map throughput tenfold).
 */
#ifndef PP_MPI_CHAN_H
#define PP_MPI_CHAN_H

#include <mpi.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PP_SPIN_NS        50000ull /* keep polling this long after the last event */
#define PP_SENDING_NAP_NS 20000ull /* longest sleep while a send is in flight */
#define PP_NAP_SHARE      8        /* a sleep is at most this share of the time idle so far */

/* Called once MPI is done with a buffer (sent, or given up on). */
typedef void pp_release_fn(void *ud);

struct pp_release {
    pp_release_fn *fn; /* NULL: nothing to do */
    void *ud;
};

struct pp_send {
    MPI_Request req;
    int dest;
    struct pp_release release;
};

struct pp_chan {
    MPI_Comm comm;
    struct pp_send *sends;
    size_t nsends, cap;
    uint64_t active_at; /* the last event (CLOCK_MONOTONIC ns) */
};

/* A growing message: records appended at 8-byte boundaries. */
struct pp_bytes {
    unsigned char *p;
    size_t len, cap;
    bool failed; /* an append found no memory (the message is incomplete) */
};

/* Payloads that follow a message as TAG_BIG, in order. */
struct pp_big {
    void *p;
    uint64_t len;
    struct pp_release release;
};
struct pp_bigs {
    struct pp_big *b;
    size_t n, cap;
};

/* Appends n bytes (data NULL: zeros) padded to 8; NULL when out of memory. */
void *pp__bytes_put(struct pp_bytes *b, const void *data, size_t n);
/* A release that frees a malloc'd buffer. */
struct pp_release pp__release_free(void *buf);
/* Queues a payload; false (nothing queued, nothing released) when out of memory. */
bool pp__bigs_add(struct pp_bigs *q, void *p, uint64_t len, struct pp_release release);
/* Sends the queued payloads to dest, or releases them when skip; empties q. */
void pp__bigs_send(struct pp_chan *c, int dest, struct pp_bigs *q, bool skip);

/* Sends len bytes (in WIRE_PIECE pieces for TAG_BIG); release runs once MPI
   is done with buf, or at once on failure. PP_OK, PP_ENOMEM or PP_ESYS. */
int pp__chan_send(struct pp_chan *c, int dest, int tag, void *buf, uint64_t len, struct pp_release release);
/* Receives a TAG_BIG payload of len bytes from src into buf. PP_OK or PP_ESYS. */
int pp__chan_recv_big(struct pp_chan *c, int src, void *buf, uint64_t len);

/* A TAG_BIG payload on its way in, received without blocking. */
struct pp_arrival {
    MPI_Request *req; /* one per piece */
    int n;
};
/* Starts receiving len bytes from src into buf (NULL: into nothing; the
   payload is consumed and dropped). PP_OK, PP_ENOMEM or PP_ESYS. */
int pp__chan_post_big(struct pp_chan *c, int src, void *buf, uint64_t len, struct pp_arrival *out);
/* Whether it has all arrived (then its requests are freed). */
bool pp__chan_arrived(struct pp_arrival *in);
/* Receives the message announced by st into a malloc'd buffer (*len bytes). */
void *pp__chan_recv(struct pp_chan *c, const MPI_Status *st, size_t *len);
/* Completes finished sends. */
void pp__chan_progress(struct pp_chan *c);
/* Waits for every send; call pp__chan_forget for ranks that stopped
   listening first. */
void pp__chan_flush(struct pp_chan *c);
/* Gives up the sends to a rank that is gone (their buffers are released:
   the rank will never read them). */
void pp__chan_forget(struct pp_chan *c, int dest);
/* Work moved (tasks, results; not heartbeats): poll at full speed for a while. */
void pp__chan_active(struct pp_chan *c);
/* Nothing happened this round: how long to sleep before the next poll (0:
   just yield the core), at most max_ns. */
uint64_t pp__chan_nap(struct pp_chan *c, uint64_t max_ns);
/* Sleeps for a nap (0: yields the core). */
void pp__chan_sleep(uint64_t ns);

#endif
