/* SPDX-License-Identifier: MIT */
/*
 * pool_remote.h: creating a pool whose tasks run elsewhere (pool.c). Such a
 * pool is a local pool in every respect the caller sees (futures, waits,
 * callbacks, map, shutdown, stats) but forks nothing: a backend (struct
 * pp_remote, pool.h) carries its tasks to processes of its own.
 */
#ifndef PP_POOL_REMOTE_H
#define PP_POOL_REMOTE_H

#include <stdint.h>

#include "pool.h"

/* A pool of nworkers remote workers served by remote. PP_OK, PP_EINVAL,
   PP_ENOMEM or PP_ESYS. */
int pp__pool_create_remote(pp_pool **out, const pp_config *config, uint32_t nworkers, struct pp_remote *remote);

#endif
