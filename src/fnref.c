/* SPDX-License-Identifier: MIT */
/*
 * fnref: function distances (see fnref.h). Function pointers are converted
 * through uintptr_t, as POSIX (dlsym) requires them to be.
 */
#define _GNU_SOURCE
#include "fnref.h"

#include <dlfcn.h>

int64_t pp__fn_offset(pp_fn fn, pp_fn anchor)
{
    return (int64_t)((uintptr_t)fn - (uintptr_t)anchor);
}

pp_fn pp__fn_at(pp_fn anchor, int64_t offset)
{
    return (pp_fn)((uintptr_t)anchor + (uintptr_t)offset);
}

bool pp__fn_same_module(pp_fn a, pp_fn b)
{
    Dl_info ia, ib;
    if (!dladdr((void *)(uintptr_t)a, &ia) || !dladdr((void *)(uintptr_t)b, &ib))
        return false;
    return ia.dli_fbase == ib.dli_fbase;
}
