/* SPDX-License-Identifier: MIT */
/*
 * callback.h: done-callbacks (callback.c). All but pp__in_callback run with
 * pool->lock held.
 */
#ifndef PP_CALLBACK_H
#define PP_CALLBACK_H

#include <stdbool.h>

#include "pool.h"

/* Whether this thread is running a done-callback now: a call that would
   have to wait is refused with PP_ESTATE there. */
bool pp__in_callback(void);
/* Starts the pool's callback thread unless it runs. PP_OK or PP_ESYS. */
int pp__callbacks_start(pp_pool *pool);
/* f is done and has callbacks: queues it (with a reference) for the
   callback thread. */
void pp__callbacks_queue(pp_pool *pool, pp_future *f);
/* Runs cb(f, ud) on this thread, as a callback (pool->lock NOT held). */
void pp__callback_run(pp_future *f, pp_done_fn cb, void *ud);
/* Lets the thread run what is queued, then ends it (pool->lock NOT held;
   the pool is shut down and every future is done). */
void pp__callbacks_stop(pp_pool *pool);

#endif
