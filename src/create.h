/* SPDX-License-Identifier: MIT */
/*
 * create.h: making and freeing a pool (create.c).
 */
#ifndef PP_CREATE_H
#define PP_CREATE_H

#include <stdint.h>

#include "pool.h"

/* A pool of nworkers remote workers served by remote (pool.h): a local pool
   in every respect the caller sees, that forks nothing. PP_OK, PP_EINVAL,
   PP_ENOMEM or PP_ESYS. */
int pp__pool_create_remote(pp_pool **out, const pp_config *config, uint32_t nworkers,
                           struct pp_remote *remote);
/* pp_pool_create whose workers sleep as soon as they find no work, instead
   of polling for it a while after a task: for a machine whose cores are all
   taken (a cluster agent on an oversubscribed node), where that polling
   holds a core another process needs. */
int pp__pool_create_unspun(pp_pool **out, const pp_config *config);
/* The CPUs this process may run on (its affinity; at least 1): the default
   number of workers. */
uint32_t pp__cpu_count(void);
/* Frees everything the pool holds; its monitor thread must have ended. */
void pp__pool_teardown(pp_pool *pool);

#endif
