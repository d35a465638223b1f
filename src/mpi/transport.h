/* SPDX-License-Identifier: MIT */
/*
 * transport.h: the seam between the cluster protocol and what carries it.
 *
 * The relay and the agents (the protocol: windows, heartbeats, fencing,
 * large payloads) speak to the other ranks only through this interface, and
 * never to MPI. Two transports implement it: MPI (transport_mpi.c, the only
 * file of the library that includes mpi.h) and an in-process one
 * (transport_local.c, ranks as threads of one process) that the test suite
 * drives without mpirun.
 *
 * Ranks 0 .. size-1; rank 0 is the master. A message is a byte string with a
 * small tag. A large payload travels on a lane of its own: the sender passes
 * big = true, the receiver asks for the next one from that sender with
 * recv_big, naming the size it expects (payloads from one sender arrive in
 * the order sent); poll never returns them. No call blocks, except bcast
 * (start-up only) and finalize with flush.
 *
 * Times. now() is the clock every liveness rule reads (heartbeats, pings, a
 * peer's silence): monotonic nanoseconds for MPI, a clock the test moves for
 * the in-process transport, so loss is deterministic there. How long a rank
 * naps is real time (pace.h).
 */
#ifndef PP_MPI_TRANSPORT_H
#define PP_MPI_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Run once the transport no longer reads a buffer it was given to send. */
struct pp_release {
    void (*fn)(void *ud); /* NULL: nothing to do */
    void *ud;
};

struct pp_msg {
    int src, tag;
    unsigned char *data; /* malloc'd, the receiver's to free; NULL when len is 0 */
    size_t len;
};

struct pp_big_in; /* a large payload on its way in (the transport's) */

struct pp_transport {
    int rank, size;
    /* Sends len bytes of buf to dest (on the large lane when big); release
       runs once the transport is done with buf, at once on failure or when
       dest is known gone. PP_OK, PP_ENOMEM or PP_ESYS. */
    int (*send)(struct pp_transport *t, int dest, int tag, void *buf, uint64_t len, bool big,
                struct pp_release release);
    /* Moves sends and receives along; 1 and *out: the next whole message
       (not a large payload) from any rank; 0: none yet. */
    int (*poll)(struct pp_transport *t, struct pp_msg *out);
    /* Starts receiving src's next large payload, len bytes, into buf (NULL:
       consumed and dropped). PP_OK, PP_ENOMEM or PP_ESYS. */
    int (*recv_big)(struct pp_transport *t, int src, void *buf, uint64_t len, struct pp_big_in **out);
    /* 1: it has all arrived; 0: not yet; < 0 (a PP_E* code): it failed
       (another size, or the sender is gone). in is freed unless 0. */
    int (*big_done)(struct pp_transport *t, struct pp_big_in *in);
    /* Gives up a receive from a peer that is lost; frees in. Returns whether
       buf is free at once; false: the transport may still write into it (a
       transfer already under way), so it must stay untouched for as long as
       the transport lives. */
    bool (*big_abandon)(struct pp_transport *t, struct pp_big_in *in);
    /* Gives up every send to peer (it is lost): their releases run now. */
    void (*forget)(struct pp_transport *t, int peer);
    /* Sends not yet done. */
    size_t (*sending)(struct pp_transport *t);
    /* Rank 0's *buf (*len bytes) to every rank: rank 0 keeps its buffer, the
       others get a malloc'd copy (NULL with *len 0 when rank 0 sent none,
       or when out of memory). Blocks until every rank has called it. */
    int (*bcast)(struct pp_transport *t, void **buf, size_t *len);
    /* The liveness clock, in nanoseconds. */
    uint64_t (*now)(struct pp_transport *t);
    /* Ends this rank's transport and frees t. flush: first waits until every
       send is done (the peers are known to read them). together: leaves in
       step with every other rank (MPI_Finalize, which waits for every
       process still alive); false after a loss, when a lost peer may be
       stopped or hung and would keep this rank waiting. */
    void (*finalize)(struct pp_transport *t, bool flush, bool together);
};

#endif
