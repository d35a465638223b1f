/* SPDX-License-Identifier: MIT */
/*
 * owner.h: which process may use a pool. A pool belongs to the process that
 * created it; a child the program forks inherits a copy of the pool's memory
 * but not its threads, and must not touch it (Python's executors are not
 * usable across fork either).
 */
#ifndef PP_OWNER_H
#define PP_OWNER_H

#include <stdbool.h>
#include <sys/types.h>

/* The worker index of this process; -1 outside a worker (set by worker.c). */
extern int pp__current_worker;

/* This process's pid, cached (and refreshed in every child made by fork()). */
pid_t pp__self_pid(void);

/* Whether this process is a worker (master-side calls are refused there). */
bool pp__in_worker(void);

/* Whether a master-side call must be refused with PP_ESTATE: it runs in a
   worker, or in a process other than the one that created the pool. */
bool pp__foreign(pid_t owner_pid);

#endif
