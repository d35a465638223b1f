/* SPDX-License-Identifier: MIT */
/*
 * spawner.h: the fork server of one pool, and the master's link to it.
 * The spawner sees only what is declared here and in worker.h; never the
 * master's pool.
 */
#ifndef PP_SPAWNER_H
#define PP_SPAWNER_H

#include <stdint.h>
#include <sys/types.h>

#include "worker.h"

enum pp_spawn_op {
    SPAWN_START = 1,    /* start worker `worker` */
    SPAWN_KILL = 2,     /* signal `arg` to worker `worker`'s process group */
    SPAWN_KILL_ALL = 3, /* signal `arg` to every worker */
    SPAWN_EXIT = 4,     /* kill every worker, reap them, exit */
};
enum pp_report_kind {
    REPORT_STARTED = 1, /* pid */
    REPORT_EXITED = 2,  /* pid, wait status */
    REPORT_FAILED = 3,  /* status: fork's errno */
    REPORT_STOPPED = 4, /* status: 1 stopped, 0 continued */
};
struct pp_spawn_msg {
    int32_t op, worker, arg;
};
struct pp_report {
    int32_t kind, worker, pid, status;
    int64_t user_us, sys_us, maxrss_kb; /* EXITED: the worker's whole life, from wait4 */
};

/* The master's end of a spawner: the channels, the process, and the mapping
   its workers share (so that other pools' spawners can unmap it). */
struct pp_spawner_link {
    int cmd_fd, report_fd; /* -1 when closed */
    pid_t pid;             /* 0: none */
    void *map;
    size_t map_size;
    struct pp_spawner_link *next; /* the process's live links (spawner.c) */
};

/* Forks the spawner of a pool whose workers run `worker` over `nworkers`
   records; fills link and registers it. PP_OK, PP_ENOMEM or PP_ESYS (errno). */
int pp__spawner_start(struct pp_spawner_link *link, const struct pp_worker_cfg *worker, uint32_t nworkers);
/* Sends one command; PP_OK, or PP_ESYS once the spawner is gone. */
int pp__spawner_send(struct pp_spawner_link *link, int op, int worker, int arg);
/* Asks the spawner to exit and closes the command channel; its reports
   still come, then end-of-file. */
void pp__spawner_dismiss(struct pp_spawner_link *link);
/* Unregisters the link, asks the spawner to exit, closes both channels and
   reaps it (at once if it has already exited). Idempotent. */
void pp__spawner_stop(struct pp_spawner_link *link);

#endif
