/* SPDX-License-Identifier: MIT */
/*
 * wire.h: the messages between the master (rank 0) and its agents, on the
 * cluster pool's own communicator. Every message is a byte string; records
 * are 8-byte aligned and carry their sizes, so a reader never trusts a length
 * it has not checked against the message. A payload past WIRE_INLINE bytes
 * travels as its own TAG_BIG message right after the message that names it
 * (MPI keeps messages of one tag between two ranks in order).
 *
 *   start-up          MPI_Bcast of the master's module table (funcs.h)
 *   master -> agent   TAG_TASKS  u32 count, pad, then count wire_task records,
 *                                each followed by its inline argument
 *                     TAG_CTRL   wire_ctrl: ping, terminate(sig), exit
 *   agent -> master   TAG_HELLO  wire_hello, once
 *                     TAG_REPORT u32 nstarted, u32 nresults, nstarted u64 ids,
 *                                then wire_result records, each followed by
 *                                its message and inline result; also sent
 *                                empty as the agent's heartbeat
 *                     TAG_BYE    the agent's local pool is gone: it exits
 *   either way        TAG_BIG    one payload, in pieces of at most WIRE_PIECE
 */
#ifndef PP_MPI_WIRE_H
#define PP_MPI_WIRE_H

#include <stdint.h>

enum { TAG_TASKS = 1, TAG_CTRL, TAG_HELLO, TAG_REPORT, TAG_BYE, TAG_BIG };

#define WIRE_INLINE ((uint64_t)64 << 10) /* larger payloads go as TAG_BIG */
#define WIRE_PIECE  ((uint64_t)1 << 30)  /* MPI counts are int */

enum wire_ctrl_op { CTRL_PING = 1, CTRL_TERMINATE, CTRL_EXIT };

struct wire_ctrl {
    int32_t op, arg;
};

struct wire_hello {
    uint32_t nworkers;  /* its local pool's size */
    uint32_t table_ok;  /* 1: it runs the master's executable */
    uint32_t cpus;      /* CPUs it may use (1 with nworkers > 1: it was bound to one core) */
    int32_t pid;
};

struct wire_task {
    uint64_t id;
    uint64_t fn_off;    /* from its module's load address (funcs.h) */
    uint32_t fn_module; /* index in the master's module table */
    uint32_t big;       /* 1: the argument follows as TAG_BIG */
    uint64_t deadline_ns, cpu_limit_ns, result_hint;
    uint64_t arg_len;
};

struct wire_result {
    uint64_t id;
    int32_t status, code;
    int32_t worker, pid;
    uint32_t msg_len; /* message bytes that follow */
    uint32_t big;     /* 1: the result follows as TAG_BIG */
    uint64_t len;     /* result bytes */
    uint64_t run_ns, user_us, sys_us, peak_rss;
};

static inline uint64_t wire_pad8(uint64_t n)
{
    return (n + 7) & ~(uint64_t)7;
}

#endif
