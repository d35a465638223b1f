/* SPDX-License-Identifier: MIT */
/*
 * jobs.h: the relay's table of tasks out on agents (jobs.c). Every
 * function runs on the relay thread with pool->lock held.
 */
#ifndef PP_MPI_JOBS_H
#define PP_MPI_JOBS_H

#include <stdint.h>

#include "relay_state.h"

/* The wire id of job j. */
uint64_t pp__job_id(const struct pp_relay *r, uint32_t j);
/* The job that id names, if agent peer holds it; else PP_NO_JOB (a late or
   forged id). */
uint32_t pp__job_of(const struct pp_relay *r, uint64_t id, uint32_t peer);
/* A free job for future f, held by peer, whose argument is bytes long;
   the caller has checked that one is free. */
uint32_t pp__job_new(struct pp_relay *r, pp_future *f, uint32_t peer, uint64_t bytes, bool sending);
/* Frees job j and returns its future, which the caller settles or returns. */
pp_future *pp__job_end(struct pp_relay *r, uint32_t j);
/* Ends job j with a status and message and no result; bytes, when not
   NULL, lies in the task's arena block and keeps it (see fence.c). */
void pp__job_fail(struct pp_relay *r, uint32_t j, int status, const char *msg, void *bytes);

#endif
