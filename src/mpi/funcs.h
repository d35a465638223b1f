/* SPDX-License-Identifier: MIT */
/*
 * funcs.h: naming a function so that another rank finds it (funcs.c).
 *
 * Every rank runs the same binary, each at its own addresses. A function is
 * sent as (module, offset from the module's load address); modules are the
 * loaded objects of the process, known by their GNU build-id. The master
 * sends its table once; an agent maps each entry to its own module with the
 * same build-id, and before it calls a function checks that the address lies
 * in an executable segment of that module.
 */
#ifndef PP_MPI_FUNCS_H
#define PP_MPI_FUNCS_H

#include <stddef.h>
#include <stdint.h>

#include "procpool.h"

#define PP_BUILD_ID_MAX 32
#define PP_EXEC_MAX     8

struct pp_module {
    uintptr_t bias;                        /* load address (dl_iterate_phdr's dlpi_addr) */
    uintptr_t exec_lo[PP_EXEC_MAX], exec_hi[PP_EXEC_MAX]; /* executable segments */
    uint32_t nexec;
    uint32_t id_len; /* 0: no build-id, never matched */
    unsigned char id[PP_BUILD_ID_MAX];
};

struct pp_modtab {
    struct pp_module *mod;
    uint32_t n;
    int32_t *remote; /* agent: the master's module i is mod[remote[i]], or -1 */
    uint32_t nremote;
};

/* Reads this process's modules (the executable first). PP_OK or PP_ENOMEM. */
int pp__modtab_load(struct pp_modtab *t);
void pp__modtab_free(struct pp_modtab *t);
/* The table as bytes to send (malloc'd; *len its size), or NULL. */
void *pp__modtab_pack(const struct pp_modtab *t, size_t *len);
/* Agent: maps the master's packed table onto t. Returns whether the master's
   executable is this process's executable; PP_ENOMEM as -1. */
int pp__modtab_match(struct pp_modtab *t, const void *packed, size_t len);
/* Master: fn as (module, offset). PP_OK, or PP_EINVAL when fn lies in no
   executable segment of a module with a build-id. */
int pp__fn_encode(const struct pp_modtab *t, pp_fn fn, uint32_t *module, uint64_t *off);
/* Agent: the function the master named, or NULL when there is none there. */
pp_fn pp__fn_decode(const struct pp_modtab *t, uint32_t module, uint64_t off);

#endif
