/* SPDX-License-Identifier: MIT */
/*
 * owner: the calling process, for the check every master-side call makes
 * (see owner.h), and the worker index of this process. getpid() is a
 * system call; the pid is cached and a pthread_atfork child handler clears
 * the cache in every child (a worker's task that forks included).
 */
#define _GNU_SOURCE
#include "owner.h"

#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>


int pp__current_worker = -1;
static _Atomic pid_t cached;
static pthread_once_t registered = PTHREAD_ONCE_INIT;

static void forget(void)
{
    atomic_store_explicit(&cached, 0, memory_order_relaxed);
}

static void register_forget(void)
{
    pthread_atfork(NULL, NULL, forget);
}

pid_t pp__self_pid(void)
{
    pid_t pid = atomic_load_explicit(&cached, memory_order_relaxed);
    if (pid == 0) {
        pthread_once(&registered, register_forget);
        pid = getpid();
        atomic_store_explicit(&cached, pid, memory_order_relaxed);
    }
    return pid;
}

bool pp__in_worker(void)
{
    return pp__current_worker >= 0;
}

bool pp__foreign(pid_t owner_pid)
{
    return pp__in_worker() || pp__self_pid() != owner_pid;
}
