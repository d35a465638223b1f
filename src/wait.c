/* SPDX-License-Identifier: MIT */
/*
 * wait: pp_wait and pp_as_completed, over futures of any pools.
 *
 * Both sleep on the process-wide epoch, which every future completion bumps.
 * While they wait they register interest with each future's pool, which makes
 * workers kick the pool's monitor on every completion so that it harvests at
 * once instead of when the backlog next needs feeding, and they hold a
 * reference to each future they watch (lifetime.c): an as_completed
 * iterator lets go of a future when it yields it, so the caller may release
 * each future as it comes and the iterator never reads it again. Inside a
 * done-callback, a call that would have to wait returns PP_ESTATE.
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "callback.h"
#include "dispatch.h"
#include "lifetime.h"
#include "owner.h"
#include "pool.h"
#include "sync.h"

static bool is_done(const pp_future *f)
{
    return atomic_load_explicit(&((pp_future *)f)->phase, memory_order_acquire) == PHASE_DONE;
}

static bool is_failure(const pp_future *f)
{
    return is_done(f) && f->status != PP_OK && f->status != PP_ECANCELLED;
}

/* Starts (delta 1) or stops (-1) watching futures: a reference each, and
   interest in their pools. With interest registered, every completion kicks
   the pool's monitor; what finished before that is harvested here, so
   nothing falls between the two. */
static void watch(pp_future *const *fs, size_t n, int delta)
{
    for (size_t i = 0; i < n; i++) {
        pp_future *f = fs[i];
        pp_pool *pool = f->pool;
        pthread_mutex_lock(&pool->lock);
        pool->done_interest += (unsigned)delta;
        pp__update_kicks(pool);
        if (delta > 0) {
            pp__future_get(f);
            pp__harvest_all(pool);
        } else {
            pp__future_put(f);
        }
        pthread_mutex_unlock(&pool->lock);
    }
}

/* Holds (1) or lets go of (-1) futures without interest. */
static void hold(pp_future *const *fs, size_t n, int delta)
{
    for (size_t i = 0; i < n; i++) {
        pp_pool *pool = fs[i]->pool;
        pthread_mutex_lock(&pool->lock);
        if (delta > 0)
            pp__future_get(fs[i]);
        else
            pp__future_put(fs[i]);
        pthread_mutex_unlock(&pool->lock);
    }
}

struct entry {
    pp_future *f;
    size_t at;
};

static int by_future_then_position(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    if (x->f != y->f)
        return (uintptr_t)x->f < (uintptr_t)y->f ? -1 : 1;
    return x->at < y->at ? -1 : x->at > y->at;
}

/* The distinct futures of the list, in the order they first appear. */
static int distinct(pp_future *const *fs, size_t n, pp_future ***out, size_t *count)
{
    if (!fs && n)
        return PP_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!fs[i])
            return PP_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (pp__foreign(fs[i]->pool->owner_pid))
            return PP_ESTATE;
    struct entry *e = malloc((n ? n : 1) * sizeof *e);
    bool *first = calloc(n ? n : 1, sizeof *first);
    pp_future **list = malloc((n ? n : 1) * sizeof *list);
    if (!e || !first || !list) {
        free(e);
        free(first);
        free(list);
        return PP_ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        e[i] = (struct entry){fs[i], i};
    qsort(e, n, sizeof *e, by_future_then_position);
    for (size_t k = 0; k < n; k++)
        if (k == 0 || e[k].f != e[k - 1].f)
            first[e[k].at] = true;
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (first[i])
            list[m++] = fs[i];
    free(e);
    free(first);
    *out = list;
    *count = m;
    return PP_OK;
}

int pp_wait(pp_future *const *futures, size_t n, double timeout, enum pp_return_when when)
{
    if ((unsigned)when > PP_FIRST_EXCEPTION || isnan(timeout))
        return PP_EINVAL;
    if (pp__in_worker())
        return PP_ESTATE;
    pp_future **fs;
    size_t m;
    int rc = distinct(futures, n, &fs, &m);
    if (rc != PP_OK)
        return rc;
    uint64_t deadline = pp__deadline_after(timeout);
    watch(fs, m, 1);
    size_t done;
    bool refused = false;
    for (;;) {
        uint32_t seen = pp__epoch_read();
        bool failed = false;
        done = 0;
        for (size_t i = 0; i < m; i++) {
            done += is_done(fs[i]);
            failed |= is_failure(fs[i]);
        }
        if (done == m || (when == PP_FIRST_COMPLETED && done) || (when == PP_FIRST_EXCEPTION && failed))
            break;
        if (deadline != PP_POLL && pp__in_callback()) {
            refused = true; /* it would have to wait */
            break;
        }
        if (!pp__epoch_wait(seen, deadline))
            break;
    }
    if (done < m) { /* timed out: count once more, as Python's wait does */
        done = 0;
        for (size_t i = 0; i < m; i++)
            done += is_done(fs[i]);
    }
    watch(fs, m, -1);
    free(fs);
    return refused ? PP_ESTATE : (int)done;
}

struct pp_as_completed {
    pp_future **fs; /* [next, ready): done at begin, in the order given; [ready, n): pending;
                       the iterator holds a reference to each until it yields it */
    size_t next, ready, n;
    uint64_t deadline;
    pid_t owner_pid; /* the process whose futures these are */
};

int pp_as_completed_begin(pp_future *const *futures, size_t n, double timeout, pp_as_completed **it)
{
    if (it)
        *it = NULL;
    if (!it || isnan(timeout))
        return PP_EINVAL;
    if (pp__in_worker())
        return PP_ESTATE;
    pp_as_completed *ac = calloc(1, sizeof *ac);
    if (!ac)
        return PP_ENOMEM;
    int rc = distinct(futures, n, &ac->fs, &ac->n);
    if (rc != PP_OK) {
        free(ac);
        return rc;
    }
    ac->deadline = pp__deadline_after(timeout);
    /* stable partition: the futures already done go first */
    pp_future **pending = malloc((ac->n ? ac->n : 1) * sizeof *pending);
    if (!pending) {
        free(ac->fs);
        free(ac);
        return PP_ENOMEM;
    }
    size_t np = 0;
    for (size_t i = 0; i < ac->n; i++) {
        if (is_done(ac->fs[i]))
            ac->fs[ac->ready++] = ac->fs[i];
        else
            pending[np++] = ac->fs[i];
    }
    memcpy(ac->fs + ac->ready, pending, np * sizeof *pending);
    free(pending);
    ac->owner_pid = ac->n ? ac->fs[0]->pool->owner_pid : pp__self_pid();
    hold(ac->fs, ac->ready, 1);
    watch(ac->fs + ac->ready, np, 1);
    *it = ac;
    return PP_OK;
}

int pp_as_completed_next(pp_as_completed *it, pp_future **future)
{
    if (future)
        *future = NULL;
    if (!it || !future)
        return PP_EINVAL;
    if (pp__foreign(it->owner_pid))
        return PP_ESTATE;
    if (it->next < it->ready) {
        *future = it->fs[it->next++];
        hold(future, 1, -1); /* the caller's reference keeps it from here */
        return 1;
    }
    for (;;) {
        if (it->ready == it->n)
            return 0;
        uint32_t seen = pp__epoch_read();
        for (size_t i = it->ready; i < it->n; i++)
            if (is_done(it->fs[i])) {
                *future = it->fs[i];
                it->fs[i] = it->fs[--it->n];
                watch(future, 1, -1);
                return 1;
            }
        if (it->deadline != PP_POLL && pp__in_callback())
            return PP_ESTATE; /* it would have to wait */
        if (!pp__epoch_wait(seen, it->deadline))
            return PP_ETIMEOUT;
    }
}

void pp_as_completed_end(pp_as_completed *it)
{
    if (!it)
        return;
    hold(it->fs + it->next, it->ready - it->next, -1);
    watch(it->fs + it->ready, it->n - it->ready, -1);
    free(it->fs);
    free(it);
}
