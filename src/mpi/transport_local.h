/* SPDX-License-Identifier: MIT */
/*
 * transport_local.h: the cluster transport between threads of one process
 * (transport_local.c), for the test suite: the relay and its agents run in
 * one program without mpirun, and the test stops, resumes and cuts off
 * ranks and moves their liveness clock at will.
 */
#ifndef PP_MPI_TRANSPORT_LOCAL_H
#define PP_MPI_TRANSPORT_LOCAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "transport.h"

struct pp_local_net;

/* A network of size ranks. PP_OK, PP_EINVAL or PP_ENOMEM. */
int pp__local_net_new(int size, struct pp_local_net **out);
/* Rank r's transport, for the one thread that plays rank r; finalize ends it. */
struct pp_transport *pp__local_endpoint(struct pp_local_net *net, int r);
/* Frees the network once every endpoint has been finalized. */
void pp__local_net_free(struct pp_local_net *net);

/* Stopped: rank r's thread waits in its next transport call until resumed
   (a process under SIGSTOP); messages to it wait for it. */
void pp__local_stop(struct pp_local_net *net, int r, bool stopped);
/* Waits until rank r's thread waits stopped; false after timeout_ns. */
bool pp__local_wait_stopped(struct pp_local_net *net, int r, uint64_t timeout_ns);
/* Cut off: rank r hears nothing more, and nothing it sent arrives, from
   now on or still on its way (a rank whose process died, or whose link
   did). Its thread goes on. */
void pp__local_cut(struct pp_local_net *net, int r);
/* The liveness clock stands still from now on, moved only by advance. */
void pp__local_manual_clock(struct pp_local_net *net);
void pp__local_advance(struct pp_local_net *net, uint64_t ns);
/* Puts a message from rank `from` (a forged one, a late one) in rank
   `to`'s queue, as if from's thread had sent it. */
void pp__local_inject(struct pp_local_net *net, int from, int to, int tag, const void *data, size_t len);
/* Messages rank r has sent so far. */
uint64_t pp__local_sent(struct pp_local_net *net, int r);

#endif
