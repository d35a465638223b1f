/* SPDX-License-Identifier: MIT */
/*
 * procfs.h: reading the kernel's small text files (procfs.c).
 */
#ifndef PP_PROCFS_H
#define PP_PROCFS_H

#include <stddef.h>

/* Reads at most size - 1 bytes of path into buf and ends them with a NUL;
   returns how many, 0 when the file cannot be read or is empty. Calls only
   open, read and close: safe in a forked child and without allocation. */
size_t pp__read_file(const char *path, char *buf, size_t size);

#endif
