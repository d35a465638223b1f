/* SPDX-License-Identifier: MIT */
/*
 * buffer: zero-copy arguments, Ray's and Arrow Plasma's object-store idea.
 * pp_buffer_alloc hands the caller an arena block of the pool's shared
 * memory (with room behind it for a result as large, as a copied large
 * argument gets); the caller fills it and pp_submit_buffer hands the block
 * itself to the task, so the argument is never copied. The master remembers
 * every buffer it handed out and not yet got back, so a pointer that is not
 * one of them (or a length past it) is PP_EINVAL, never a corruption; a
 * failed submit leaves the buffer the caller's. The list is searched
 * linearly: buffers outstanding at once are few (those being filled).
 */
#define _GNU_SOURCE
#include <stdlib.h>

#include "dispatch.h"
#include "future.h"
#include "owner.h"
#include "pool.h"

/* The record of buf, with *link pointing at it, or NULL. */
static struct pp_buffer *find(pp_pool *pool, const void *buf, struct pp_buffer ***link)
{
    for (struct pp_buffer **p = &pool->buffers; *p; p = &(*p)->next)
        if ((*p)->ptr == buf) {
            *link = p;
            return *p;
        }
    return NULL;
}

void *pp_buffer_alloc(pp_pool *pool, size_t len)
{
    if (!pool || pp__foreign(pool->owner_pid))
        return NULL;
    struct pp_buffer *b = malloc(sizeof *b);
    if (!b)
        return NULL;
    pthread_mutex_lock(&pool->lock);
    if (pool->shutdown || pp__arg_block(pool, len, 0, &b->block) != PP_OK) {
        pthread_mutex_unlock(&pool->lock);
        free(b);
        return NULL;
    }
    b->ptr = pp__block_ptr(&pool->arena, b->block);
    b->len = len;
    b->next = pool->buffers;
    pool->buffers = b;
    pthread_mutex_unlock(&pool->lock);
    return b->ptr;
}

int pp_submit_buffer(pp_pool *pool, pp_fn fn, void *buf, size_t len, const pp_task_opts *opts, pp_future **future)
{
    struct pp_task_spec spec;
    int rc = pp__submit_check(pool, fn, buf != NULL, opts, future, &spec);
    if (rc != PP_OK)
        return rc;
    pthread_mutex_lock(&pool->lock);
    struct pp_buffer **link, *b = find(pool, buf, &link);
    rc = PP_EINVAL;
    if (b && len <= b->len) {
        struct pp_arg a = {.body = buf, .body_len = len, .placed = b->block};
        rc = pp__submit_locked(pool, &spec, &a, opts ? opts->data : NULL, future);
        if (rc == PP_OK) { /* the future owns the block now */
            *link = b->next;
            free(b);
        }
    }
    pthread_mutex_unlock(&pool->lock);
    return rc;
}

void pp_buffer_free(pp_pool *pool, void *buf)
{
    if (!pool || !buf || pp__foreign(pool->owner_pid))
        return;
    pthread_mutex_lock(&pool->lock);
    struct pp_buffer **link, *b = find(pool, buf, &link);
    if (b) {
        *link = b->next;
        pp__arena_free(&pool->arena, &b->block);
        free(b);
    }
    pthread_mutex_unlock(&pool->lock);
}
