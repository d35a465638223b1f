/* SPDX-License-Identifier: MIT */
/*
 * future: submitting, and everything a caller does with one future.
 *
 * A future is QUEUED (in the backlog), DISPATCHED (its task sits in a slot,
 * or a remote backend has it) or DONE; the phase word is atomic so the
 * predicates need no lock. Waiting on a dispatched future watches its slot's
 * state word directly: spin a little, then sleep on it as a futex; the
 * worker wakes us when it publishes DONE, and this thread harvests the slot
 * itself, so a round trip never passes through the monitor thread. The
 * master counts its sleepers in its own memory, so a renewal always wakes
 * them, whatever a task wrote over the slot's shared hint. A queued future
 * waits on the epoch until the monitor dispatches it. The predicates (done,
 * running, cancelled) harvest a finished slot themselves: a poll sees the
 * truth without any wait call. A future a remote backend runs has no slot:
 * it waits on the epoch, which the backend bumps when it settles it.
 *
 * Releasing is the caller's put (lifetime.c): the future lives on while
 * the task runs, or its callbacks do, and goes when the last holder lets go.
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdlib.h>

#include "future.h"

#include "callback.h"
#include "deadline.h"
#include "dispatch.h"
#include "harvest.h"
#include "lifetime.h"
#include "owner.h"
#include "settle.h"
#include "slot.h"
#include "sync.h"

#ifndef PP_MASTER_SPIN_NS
#define PP_MASTER_SPIN_NS 20000 /* see docs/design.md, "Waiting" */
#endif

int pp__submit_check(pp_pool *pool, pp_fn fn, bool arg_ok, const pp_task_opts *opts, pp_future **future,
                     struct pp_task_spec *spec)
{
    if (future)
        *future = NULL;
    if (!pool || !fn || !future || !arg_ok)
        return PP_EINVAL;
    if (pp__foreign(pool->owner_pid))
        return PP_ESTATE;
    pp_task_opts o = opts ? *opts : (pp_task_opts){0};
    *spec = (struct pp_task_spec){.fn = fn, .result_hint = o.result_hint, .retries = o.retries};
    if (pp__deadline_from_seconds(o.deadline, &spec->deadline_ns) != PP_OK ||
        pp__deadline_from_seconds(o.cpu_limit, &spec->cpu_limit_ns) != PP_OK)
        return PP_EINVAL;
    return PP_OK;
}

int pp_submit(pp_pool *pool, pp_fn fn, const void *arg, size_t arg_len, pp_future **future)
{
    return pp_submit_opts(pool, fn, arg, arg_len, NULL, future);
}

int pp_submit_opts(pp_pool *pool, pp_fn fn, const void *arg, size_t arg_len, const pp_task_opts *opts,
                   pp_future **future)
{
    struct pp_task_spec spec;
    int rc = pp__submit_check(pool, fn, arg || !arg_len, opts, future, &spec);
    if (rc != PP_OK)
        return rc;
    struct pp_arg a = {.body = arg, .body_len = arg_len};
    pthread_mutex_lock(&pool->lock);
    rc = pp__submit_locked(pool, &spec, &a, opts ? opts->data : NULL, future);
    pthread_mutex_unlock(&pool->lock);
    return rc;
}

static uint32_t phase_of(const pp_future *f)
{
    return atomic_load_explicit(&((pp_future *)f)->phase, memory_order_acquire);
}

/* Waits until f's slot changes (or harvests it when DONE); false on timeout. */
static bool wait_slot(pp_pool *pool, pp_future *f, uint64_t deadline)
{
    pthread_mutex_lock(&pool->lock);
    if (phase_of(f) != PHASE_DISPATCHED) {
        pthread_mutex_unlock(&pool->lock);
        return true;
    }
    if (f->slot == PP_NO_SLOT) { /* run by a remote backend, which bumps the epoch */
        pthread_mutex_unlock(&pool->lock);
        uint32_t seen = pp__epoch_read(); /* then the phase again: a settle after it bumps the epoch */
        if (phase_of(f) != PHASE_DISPATCHED)
            return true;
        uint64_t spin_until = pp__now_ns() + PP_MASTER_SPIN_NS;
        while (pp__epoch_read() == seen && pp__now_ns() < spin_until)
            pp__cpu_relax();
        return pp__epoch_wait(seen, deadline);
    }
    uint32_t s = f->slot;
    struct pp_slot_view v = pp__slot_look(pool, s);
    if (v.kind == SLOT_DONE) {
        pp__harvest(pool, s);
        pp__feed(pool);
        pthread_mutex_unlock(&pool->lock);
        return true;
    }
    struct pp_slot_info *si = &pool->slots[s];
    struct pp_slot *slot = &pool->lay.slots[s];
    atomic_fetch_add(&si->sleepers, 1); /* the slot's info outlives any future in it */
    pthread_mutex_unlock(&pool->lock);
    bool changed = pp__spin_wait(&slot->state, v.word, &slot->waiters, PP_MASTER_SPIN_NS, true, deadline);
    atomic_fetch_sub(&si->sleepers, 1);
    return changed;
}

/* A dispatched future whose worker has published is settled at once. A
   look at the slot's word first spares the lock: a poll loop must not keep
   the monitor from it (a grant the task waits for needs it). */
static void settle_if_published(const pp_future *cf)
{
    pp_future *f = (pp_future *)cf;
    pp_pool *pool = f->pool;
    if (phase_of(f) != PHASE_DISPATCHED)
        return;
    uint32_t s = atomic_load_explicit(&f->slot, memory_order_relaxed);
    if (s < pool->lay.nslots && ST_KIND(atomic_load(&pool->lay.slots[s].state)) != SLOT_DONE)
        return;
    pthread_mutex_lock(&pool->lock);
    if (phase_of(f) == PHASE_DISPATCHED && f->slot != PP_NO_SLOT && pp__harvest(pool, f->slot))
        pp__feed(pool);
    pthread_mutex_unlock(&pool->lock);
}

int pp__wait_done(pp_future *f, uint64_t deadline)
{
    pp_pool *pool = f->pool;
    for (;;) {
        uint32_t phase = phase_of(f);
        if (phase == PHASE_DONE)
            return PP_OK;
        /* a poll still looks once (wait_slot harvests a published slot) */
        if (deadline != PP_FOREVER && deadline != PP_POLL && pp__now_ns() >= deadline)
            return PP_ETIMEOUT;
        if (deadline != PP_POLL && pp__in_callback()) {
            settle_if_published(f);
            return phase_of(f) == PHASE_DONE ? PP_OK : PP_ESTATE; /* a callback must not wait */
        }
        if (phase == PHASE_DISPATCHED) {
            if (!wait_slot(pool, f, deadline) && phase_of(f) != PHASE_DONE)
                return PP_ETIMEOUT;
            continue;
        }
        /* queued: slots may be done but unharvested; free them, then wait
           for the monitor to dispatch this one */
        pthread_mutex_lock(&pool->lock);
        pp__harvest_all(pool);
        pthread_mutex_unlock(&pool->lock);
        uint32_t seen = pp__epoch_read();
        if (phase_of(f) == PHASE_QUEUED && !pp__epoch_wait(seen, deadline) && phase_of(f) != PHASE_DONE)
            return PP_ETIMEOUT;
        if (deadline == PP_POLL && phase_of(f) != PHASE_DONE)
            return PP_ETIMEOUT;
    }
}

bool pp__no_culprit(pp_future *f)
{
    pthread_mutex_lock(&f->pool->lock);
    bool none = f->flags & FUT_NO_CULPRIT;
    pthread_mutex_unlock(&f->pool->lock);
    return none;
}

int pp_future_result(pp_future *f, double timeout, const void **data, size_t *len)
{
    if (data)
        *data = NULL;
    if (len)
        *len = 0;
    if (!f || isnan(timeout))
        return PP_EINVAL;
    if (pp__foreign(f->pool->owner_pid))
        return PP_ESTATE;
    int rc = pp__wait_done(f, pp__deadline_after(timeout));
    if (rc != PP_OK)
        return rc;
    if (f->status == PP_OK) {
        if (data)
            *data = f->result;
        if (len)
            *len = f->result_len;
    }
    return f->status;
}

void pp__future_bytes(pp_future *f, const void **data, size_t *len)
{
    bool done = pp_future_done(f);
    *data = done ? f->result : NULL;
    *len = done && f->result ? f->result_len : 0;
}

int pp_future_exception(pp_future *f, double timeout, int *code, const char **message)
{
    if (code)
        *code = 0;
    if (message)
        *message = NULL;
    if (!f || isnan(timeout))
        return PP_EINVAL;
    if (pp__foreign(f->pool->owner_pid))
        return PP_ESTATE;
    int rc = pp__wait_done(f, pp__deadline_after(timeout));
    if (rc != PP_OK)
        return rc;
    if (f->status == PP_ECANCELLED)
        return PP_ECANCELLED;
    if (code)
        *code = f->code;
    if (message)
        *message = f->message;
    return f->status;
}

int pp_future_cancel(pp_future *f)
{
    if (!f)
        return PP_EINVAL;
    if (pp__foreign(f->pool->owner_pid))
        return PP_ESTATE;
    pthread_mutex_lock(&f->pool->lock);
    bool cancelled = pp__cancel_locked(f->pool, f);
    pthread_mutex_unlock(&f->pool->lock);
    return cancelled;
}

int pp_future_kill(pp_future *f)
{
    if (!f)
        return PP_EINVAL;
    if (pp__foreign(f->pool->owner_pid))
        return PP_ESTATE;
    pthread_mutex_lock(&f->pool->lock);
    bool killed = pp__kill_locked(f->pool, f);
    pthread_mutex_unlock(&f->pool->lock);
    return killed;
}

bool pp_future_cancelled(const pp_future *f)
{
    if (!f || pp__foreign(f->pool->owner_pid))
        return false;
    return phase_of(f) == PHASE_DONE && f->status == PP_ECANCELLED;
}

bool pp_future_done(const pp_future *f)
{
    if (!f || pp__foreign(f->pool->owner_pid))
        return false;
    settle_if_published(f);
    return phase_of(f) == PHASE_DONE;
}

bool pp_future_running(const pp_future *f)
{
    if (!f || pp__foreign(f->pool->owner_pid))
        return false;
    settle_if_published(f);
    pp_pool *pool = f->pool;
    pthread_mutex_lock(&pool->lock);
    bool running = false;
    if (phase_of(f) == PHASE_DISPATCHED && f->slot == PP_NO_SLOT) {
        running = true; /* a remote backend has it */
    } else if (phase_of(f) == PHASE_DISPATCHED) {
        uint32_t kind = pp__slot_look(pool, f->slot).kind;
        running = kind == SLOT_RUNNING || kind == SLOT_GROW;
    }
    pthread_mutex_unlock(&pool->lock);
    return running;
}

int pp_future_add_done_callback(pp_future *f, pp_done_fn cb, void *ud)
{
    if (!f || !cb)
        return PP_EINVAL;
    if (pp__foreign(f->pool->owner_pid))
        return PP_ESTATE;
    pp_pool *pool = f->pool;
    pthread_mutex_lock(&pool->lock);
    if (phase_of(f) == PHASE_DISPATCHED && f->slot != PP_NO_SLOT && pp__harvest(pool, f->slot))
        pp__feed(pool); /* it finished: the callback runs now, here */
    if (phase_of(f) == PHASE_DONE && !(f->flags & FUT_CB_BUSY)) {
        pthread_mutex_unlock(&pool->lock);
        pp__callback_run(f, cb, ud);
        return PP_OK;
    }
    struct pp_callback *node = malloc(sizeof *node);
    int rc = node ? pp__callbacks_start(pool) : PP_ENOMEM;
    if (rc != PP_OK) {
        pthread_mutex_unlock(&pool->lock);
        free(node);
        return rc;
    }
    *node = (struct pp_callback){.fn = cb, .ud = ud};
    if (!f->callbacks && phase_of(f) != PHASE_DONE) {
        pool->cb_waiting++; /* completions kick the monitor, which harvests them at once */
        pp__update_kicks(pool);
    }
    struct pp_callback **tail = &f->callbacks;
    while (*tail)
        tail = &(*tail)->next;
    *tail = node;
    pthread_mutex_unlock(&pool->lock);
    return PP_OK;
}

void *pp_future_data(const pp_future *f)
{
    return f ? f->data : NULL;
}

static double seconds(uint64_t ns)
{
    return (double)ns / 1e9;
}

int pp_future_info(const pp_future *f, pp_task_info *out)
{
    if (!f || !out)
        return PP_EINVAL;
    if (pp__foreign(f->pool->owner_pid))
        return PP_ESTATE;
    if (!pp_future_done(f))
        return PP_ESTATE;
    pp_pool *pool = f->pool;
    pthread_mutex_lock(&pool->lock);
    static const struct pp_cost none;
    const struct pp_cost *c = f->flags & FUT_TAKEN ? &none : &f->cost; /* a backend still holds it (killed) */
    *out = (pp_task_info){
        .worker_id = f->worker,
        .pid = f->pid,
        .queued_at = seconds(f->queued_ns),
        .started_at = seconds(c->started_ns),
        .finished_at = seconds(c->finished_ns),
        .wall_s = c->started_ns && c->finished_ns > c->started_ns ? seconds(c->finished_ns - c->started_ns) : 0,
        .user_cpu_s = (double)c->user_us / 1e6,
        .sys_cpu_s = (double)c->sys_us / 1e6,
        .peak_rss_bytes = c->peak_rss,
        .attempts = f->attempts,
    };
    pthread_mutex_unlock(&pool->lock);
    return PP_OK;
}

void pp_future_release(pp_future *f)
{
    if (!f || pp__foreign(f->pool->owner_pid))
        return;
    pp_pool *pool = f->pool;
    pthread_mutex_lock(&pool->lock);
    pp__future_put(f);
    pthread_mutex_unlock(&pool->lock);
}
