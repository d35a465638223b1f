/* SPDX-License-Identifier: MIT */
/*
 * future.h: waiting for one future (future.c), for the other face modules.
 */
#ifndef PP_FUTURE_H
#define PP_FUTURE_H

#include <stdint.h>

#include "pool.h"

/* Waits until f is done or the absolute deadline passes (PP_POLL: look
   once, harvesting a finished slot; PP_FOREVER). PP_OK, PP_ETIMEOUT, or
   PP_ESTATE for a blocking wait on the monitor thread. */
int pp__wait_done(pp_future *f, uint64_t deadline);

/* What a task runs with, from its options (NULL: defaults). PP_EINVAL for a
   negative or NaN duration. */
int pp__task_spec(pp_fn fn, const pp_task_opts *opts, struct pp_task_spec *spec);

#endif
