/* SPDX-License-Identifier: MIT */
/*
 * lifetime: a future lives while anyone holds it (pool.h lists the
 * holders), after the kernel's kref: each holder takes a reference when it
 * starts holding and puts it when it stops, and the put that reaches zero
 * frees, here and nowhere else. A path that calls out of the library (the
 * callbacks) holds a reference across the call. No flag says "released,
 * free it when done": releasing is the caller's put like any other.
 */
#define _GNU_SOURCE
#include "lifetime.h"

#include <stdlib.h>

pp_future *pp__future_new(pp_pool *pool)
{
    pp_future *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->pool = pool;
    f->refs = 1;
    atomic_init(&f->slot, PP_NO_SLOT);
    f->worker = -1;
    pp__link_init(&f->queue);
    pp__list_push_front(&pool->live, &f->live);
    return f;
}

void pp__future_get(pp_future *f)
{
    f->refs++;
}

static void future_free(pp_future *f)
{
    pp__list_remove(&f->live);
    for (struct pp_callback *cb = f->callbacks, *next; cb; cb = next) {
        next = cb->next;
        free(cb);
    }
    if (f->flags & FUT_HEAP_RESULT)
        free((void *)f->result);
    if (f->flags & FUT_HEAP_ARG)
        free(f->arg_copy);
    pp__arena_free(&f->pool->arena, &f->block);
    free(f->message);
    free(f);
}

void pp__future_put(pp_future *f)
{
    if (--f->refs == 0)
        future_free(f);
}

void pp__futures_free_all(pp_pool *pool)
{
    for (struct pp_link *l = pool->live.next, *next; l != &pool->live; l = next) {
        next = l->next;
        future_free(pp__container_of(l, pp_future, live));
    }
}
