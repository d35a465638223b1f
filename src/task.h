/* SPDX-License-Identifier: MIT */
/*
 * task.h: what a worker knows about the task it runs (functions in
 * worker.h). A pp_task lives on the worker's stack for the length of one
 * call of the task function. A task function that runs other functions in
 * its turn (the chunk runners of map.c and stream.c) may point item_out at a
 * fixed result cell for each call it makes, or set to_heap to collect each
 * call's result in a heap buffer, and restarts the per-item limits before
 * each call (pp__task_item_begin).
 */
#ifndef PP_TASK_H
#define PP_TASK_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "procpool.h"
#include "shm.h"

struct pp_meter; /* the worker's measurements (worker.c) */

struct pp_task {
    const struct pp_layout *lay; /* the worker's own copy */
    struct pp_worker_rec *rec;   /* the worker's record */
    struct pp_slot *slot;
    struct pp_desc desc;       /* what it runs with, as the master sealed it */
    uint32_t running;          /* the slot's state word while this task runs */
    pid_t pid;                 /* the worker process that owns the task */
    struct pp_meter *meter;
    uint64_t res_off, res_len; /* where the result was placed */
    unsigned char *item_out;   /* a fixed result cell, NULL otherwise */
    size_t item_cap;           /* its size */
    int item_status;           /* PP_OK, or PP_EINVAL for a result too long */
    bool to_heap;              /* results go to heap (worker memory), not the slot */
    unsigned char *heap;       /* the last result set, heap_len bytes (malloc'd) */
    size_t heap_len, heap_cap;
    uint32_t msg_len;
    char msg[PP_MESSAGE_MAX + 1];
};

#endif
