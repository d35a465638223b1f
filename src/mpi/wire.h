/* SPDX-License-Identifier: MIT */
/*
 * wire.h: the messages between the master (rank 0) and its agents, and the
 * one way to read them (wire.c). Every message is a byte string of records
 * at 8-byte boundaries; a message from another rank is untrusted, so it is
 * read only through a pp_reader, which never hands out bytes past its end.
 * A payload past WIRE_INLINE bytes travels on the transport's large lane,
 * in the order the records that name it were written.
 *
 *   start-up          the master's module table, broadcast (funcs.h)
 *   master -> agent   TAG_TASKS  u32 count, pad, then count wire_task
 *                                records, each followed by its inline argument
 *                     TAG_CTRL   wire_ctrl: ping, terminate(sig), exit(alone),
 *                                dropped, kill(task id)
 *   agent -> master   TAG_HELLO  wire_hello, once
 *                     TAG_REPORT wire_report, nstarted u64 ids, then nresults
 *                                wire_result records, each followed by its
 *                                message and inline result; sent empty as the
 *                                agent's heartbeat
 *                     TAG_BYE    the agent has released its processes: it exits
 */
#ifndef PP_MPI_WIRE_H
#define PP_MPI_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { TAG_TASKS = 1, TAG_CTRL, TAG_HELLO, TAG_REPORT, TAG_BYE };

#define WIRE_INLINE ((uint64_t)64 << 10) /* larger payloads take the large lane */

enum wire_ctrl_op {
    CTRL_PING = 1,  /* the master lives */
    CTRL_TERMINATE, /* arg: the signal for every running task */
    CTRL_EXIT,      /* the pool is done; arg 1: a rank was lost, leave without waiting for the others */
    CTRL_DROPPED,   /* you were declared lost: kill your workers, exit nonzero */
    CTRL_KILL,      /* id: pp_future_kill of that task (it still reports, as any task does) */
};

struct wire_ctrl {
    int32_t op, arg;
    uint64_t id;
};

struct wire_hello {
    uint32_t nworkers; /* its local pool's size */
    uint32_t table_ok; /* 1: it runs the master's executable */
    uint32_t cpus;     /* CPUs it may use (1 with nworkers > 1: it was bound to one core) */
    int32_t pid;
};

struct wire_task {
    uint64_t id;
    uint64_t fn_off;    /* from its module's load address (funcs.h) */
    uint32_t fn_module; /* index in the master's module table */
    uint32_t big;       /* 1: the argument takes the large lane */
    uint64_t deadline_ns, cpu_limit_ns, result_hint;
    uint64_t arg_len;
};

struct wire_report {
    uint32_t nstarted, nresults;
    uint64_t workers_started, workers_recycled; /* the agent's pool's counters (pp_stats) */
    uint32_t workers_alive, pad;
};

struct wire_result {
    uint64_t id;
    int32_t status, code;
    int32_t worker, pid;
    uint32_t msg_len;         /* message bytes that follow */
    uint32_t big;             /* 1: the result takes the large lane */
    uint32_t no_culprit, pad; /* 1: a chunk whose death none of its items is to blame for */
    uint64_t len;             /* result bytes */
    uint64_t run_ns, user_us, sys_us, peak_rss;
};

/* A message being read: bytes [at, len) of p are left. */
struct pp_reader {
    const unsigned char *p;
    size_t len, at;
};

/* The next n bytes (then skips their padding to 8), or NULL when fewer are
   left: the message is malformed, and every later read fails too. */
const void *pp__read(struct pp_reader *r, size_t n);
/* Copies the next record of n bytes into out; false when it is not there. */
bool pp__read_into(struct pp_reader *r, void *out, size_t n);

#endif
