/* SPDX-License-Identifier: MIT */
/*
 * wire: reading a message from another rank (wire.h), bounds-checked.
 */
#include "wire.h"

#include <string.h>

const void *pp__read(struct pp_reader *r, size_t n)
{
    size_t left = r->len - r->at;
    if (n > left) {
        r->len = r->at; /* malformed: nothing more is read from it */
        return NULL;
    }
    const void *at = r->p + r->at;
    size_t pad = (8 - n % 8) % 8;
    r->at += n + (pad < left - n ? pad : left - n);
    return at;
}

bool pp__read_into(struct pp_reader *r, void *out, size_t n)
{
    const void *at = pp__read(r, n);
    if (at && n)
        memcpy(out, at, n);
    return at != NULL;
}
