/* SPDX-License-Identifier: MIT */
/*
 * headroom.h: how much memory this process may still commit (headroom.c).
 */
#ifndef PP_HEADROOM_H
#define PP_HEADROOM_H

#include <stdint.h>

/* Bytes of memory this process can still fill before the kernel would have
   to refuse them or kill someone for them: the least of MemAvailable and,
   for each memory cgroup from the process's own up, its limit minus its
   use. UINT64_MAX when nothing can be read. */
uint64_t pp__headroom(void);

#endif
