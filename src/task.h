/*
 * task.h: what a worker knows about the task it runs. A pp_task lives on the
 * worker's stack for the length of one call of the task function; for a map
 * chunk, one pp_task is reused for every item and points at that item's
 * result cell.
 */
#ifndef PP_TASK_H
#define PP_TASK_H

#include <stdbool.h>
#include <stddef.h>

#include "procpool.h"
#include "shm.h"

struct pp_task {
    struct pp_shm *shm;
    struct pp_slot *slot;
    uint32_t running;          /* the slot's state word while this task runs */
    uint64_t res_off, res_len; /* where the result was placed */
    unsigned char *item_out;   /* map item: its result cell, NULL otherwise */
    size_t item_cap;           /* map item: result_size */
    int item_status;           /* map item: PP_OK, or PP_EINVAL for a result too long */
    uint32_t msg_len;
    char msg[PP_MESSAGE_MAX + 1];
};

/* Result space of len bytes for the whole task (inline, granted, or asked
   for); NULL if the master could not provide it. */
void *pp_task_reserve(pp_task *t, size_t len);

/* map.c: runs a map chunk in the worker. */
int pp_run_chunk(pp_task *t, const void *arg, size_t arg_len);

#endif
