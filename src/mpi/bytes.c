/* SPDX-License-Identifier: MIT */
/*
 * bytes: the growable buffer (bytes.h).
 */
#include "bytes.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

bool pp__grow(void **items, size_t need, size_t *cap, size_t size)
{
    if (need <= *cap)
        return true;
    size_t grown = *cap ? *cap : 16;
    while (grown < need) {
        if (grown > SIZE_MAX / 2 / size)
            return false;
        grown *= 2;
    }
    void *p = realloc(*items, grown * size);
    if (!p)
        return false;
    *items = p;
    *cap = grown;
    return true;
}

void *pp__bytes_put(struct pp_bytes *b, const void *data, size_t n)
{
    size_t padded = (n + 7) & ~(size_t)7;
    if (padded < n || b->len > SIZE_MAX - padded || !pp__grow((void **)&b->p, b->len + padded, &b->cap, 1)) {
        b->failed = true;
        return NULL;
    }
    unsigned char *at = b->p + b->len;
    if (data && n)
        memcpy(at, data, n);
    else
        memset(at, 0, n);
    memset(at + n, 0, padded - n);
    b->len += padded;
    return at;
}

void pp__bytes_clear(struct pp_bytes *b)
{
    b->len = 0;
    b->failed = false;
}
