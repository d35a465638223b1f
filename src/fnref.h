/* SPDX-License-Identifier: MIT */
/*
 * fnref.h: naming a function inside a task's argument (fnref.c). The chunk
 * runners of map.c and stream.c carry the caller's function in their
 * argument; written as its distance from the runner itself, it stays right in
 * any process that runs the same binary, whatever address that process
 * loaded it at (the ranks of a cluster pool), as long as both functions lie
 * in one module.
 */
#ifndef PP_FNREF_H
#define PP_FNREF_H

#include <stdbool.h>
#include <stdint.h>

#include "procpool.h"

/* fn's distance from anchor. */
int64_t pp__fn_offset(pp_fn fn, pp_fn anchor);
/* The function at that distance from anchor. */
pp_fn pp__fn_at(pp_fn anchor, int64_t offset);
/* Whether a and b lie in the same loaded module (executable or library). */
bool pp__fn_same_module(pp_fn a, pp_fn b);

#endif
