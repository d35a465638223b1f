/* SPDX-License-Identifier: MIT */
/*
 * bytes.h: the cluster layer's one growable buffer (bytes.c). pp__grow gives
 * an array room for more elements; struct pp_bytes is a message being built,
 * records appended at 8-byte boundaries. Every list, queue and message of
 * src/mpi/ grows through these two.
 */
#ifndef PP_MPI_BYTES_H
#define PP_MPI_BYTES_H

#include <stdbool.h>
#include <stddef.h>

/* Makes *items (of size-byte elements, *cap allocated) hold at least need
   elements, doubling from 16; false (nothing changed) when out of memory. */
bool pp__grow(void **items, size_t need, size_t *cap, size_t size);

/* A growing message. */
struct pp_bytes {
    unsigned char *p;
    size_t len, cap;
    bool failed; /* an append found no memory: the message is incomplete */
};

/* Appends n bytes (data NULL: zeros), padded with zeros to a multiple of 8;
   returns where they start, or NULL (and sets failed) when out of memory. */
void *pp__bytes_put(struct pp_bytes *b, const void *data, size_t n);
/* Empties b, keeping its memory. */
void pp__bytes_clear(struct pp_bytes *b);

#endif
