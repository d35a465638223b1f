/* SPDX-License-Identifier: MIT */
/*
 * future.h: waiting for one future (future.c), for the other face modules.
 */
#ifndef PP_FUTURE_H
#define PP_FUTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pool.h"

/* Waits until f is done or the absolute deadline passes (PP_POLL: look
   once, harvesting a finished slot; PP_FOREVER). PP_OK, PP_ETIMEOUT, or
   PP_ESTATE when it would have to wait inside a done-callback. */
int pp__wait_done(pp_future *f, uint64_t deadline);

/* A done chunk's future (map.c, stream.c): whether a kill for a chunk item's
   limit landed as the next item began, so the item running is not to blame
   (read under the lock: other flags change after the end). */
bool pp__no_culprit(pp_future *f);

/* The checks every submit starts with: clears *future, then PP_EINVAL (NULL
   pool, fn or future; !arg_ok; a negative or NaN duration in opts) or
   PP_ESTATE (a process other than the pool's creator); on PP_OK, *spec is
   what the task runs with. */
int pp__submit_check(pp_pool *pool, pp_fn fn, bool arg_ok, const pp_task_opts *opts, pp_future **future,
                     struct pp_task_spec *spec);

/* The bytes a done future holds: its result, or, for a task whose worker
   died, what the task had reserved (a map chunk's statuses: map.c); NULL
   and 0 while it is not done. For a relay of the pool (a cluster agent),
   which must pass on what pp_future_result does not show. */
void pp__future_bytes(pp_future *f, const void **data, size_t *len);

#endif
