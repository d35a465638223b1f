/* SPDX-License-Identifier: MIT */
/*
 * relay_state.h: the relay's structs (the master's side of a cluster pool),
 * shared by relay.c (the thread and the pool's hooks), jobs.c (the tasks
 * out), assign.c (tasks to agents), results.c (what agents report) and
 * peers.c (speaking to agents, and losing them). It
 * declares no function. The relay thread alone touches these, holding
 * pool->lock for what the pool also reads (the counters of the stats hook).
 */
#ifndef PP_MPI_RELAY_STATE_H
#define PP_MPI_RELAY_STATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "../pool.h"
#include "bytes.h"
#include "funcs.h"
#include "pace.h"
#include "transport.h"
#include "wire.h"

#define PP_NO_JOB UINT32_MAX

/* A task an agent holds. Its id on the wire is gen << 32 | index, so a
   late or forged report names no other task. */
struct pp_job {
    pp_future *f;   /* NULL: free */
    uint64_t bytes; /* its argument's */
    uint32_t gen, peer;
    bool started;  /* the agent reported its start */
    bool sending;  /* its argument is still being sent, from the arena */
    bool arriving; /* its result waits as an arrival (results.c) */
};

/* A result that waits: for its bytes on the large lane, or for its
   argument's send to end (the arena block is then reused for the result). */
struct pp_arrival {
    uint32_t job; /* PP_NO_JOB: a task the relay no longer knows: its bytes are dropped */
    struct wire_result w;
    char msg[PP_MESSAGE_MAX + 1];
    unsigned char *copy;  /* an inline result, kept */
    void *room;           /* where a large result lands (NULL: dropped) */
    struct pp_big_in *in; /* its receive, once posted */
};

/* A large argument to send after a batch, from the arena. */
struct pp_out {
    uint32_t job;
    const void *arg;
    uint64_t len;
};

/* The relay's view of one agent. */
struct pp_peer {
    int rank;
    uint32_t nworkers, base;  /* its pool's size; its first worker's number in the cluster pool */
    uint32_t inflight;        /* jobs it holds */
    uint64_t inflight_bytes;  /* their arguments */
    uint64_t heard_at;        /* the relay's time on watch when it last heard from it */
    uint64_t fenced_at;       /* transport clock: when it was last told it was dropped */
    bool greeted, lost, gone; /* said hello; declared lost; said goodbye */
    struct pp_bytes batch;    /* tasks to send: u32 count, pad, records */
    uint32_t count;
    struct pp_out *outs; /* arguments that follow the batch on the large lane */
    size_t nouts, outs_cap;
    struct pp_arrival *arrivals; /* in the order reported */
    size_t narrivals, arrivals_cap;
    uint64_t workers_started, workers_recycled; /* its pool's counters, as last reported */
    uint32_t workers_alive;
    char doomed[PP_MESSAGE_MAX + 1]; /* not empty: why the relay is to declare it lost */
    bool retire; /* doomed, but healthy and listening (its pool broke): it is told to exit, not dropped */
};

struct pp_relay {
    struct pp_remote ops; /* first: the pool hands it back as a pp_remote */
    pp_pool *pool;
    struct pp_transport *t;
    struct pp_timing tm;
    struct pp_modtab tab;
    struct pp_peer *peers; /* peers[i] is rank i + 1 */
    uint32_t npeers;
    struct pp_job *jobs;
    uint32_t njobs, *free_jobs, nfree;
    pp_future **kills; /* pp_future_kill of taken tasks, for the thread to pass on (pool->lock;
                          room for every job: a future is killed once) */
    uint32_t nkills;
    pthread_t thread;
    bool thread_started;
    _Atomic uint32_t wake_seq, asleep;
    _Atomic int terminate_sig;
    bool exit_sent, broken_seen;
    uint64_t run_ns;       /* tasks' recent run time (moving average; 0: none yet) */
    uint64_t pinged_at;    /* transport clock */
    struct pp_watch watch; /* silence is measured on it */
    struct pp_pace pace;
    unsigned ranks_lost, ranks_bound;
    unsigned dropped; /* lost agents that were dropped (silent, or unreachable), not retired */
};

#endif
