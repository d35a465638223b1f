/* SPDX-License-Identifier: MIT */
/*
 * inflight: an agent's submitted tasks (inflight.h).
 */
#include "inflight.h"

#include <stdlib.h>

#include "../sync.h"
#include "bytes.h"

void pp__inflight_init(struct pp_inflight *q)
{
    *q = (struct pp_inflight){.free_head = PP_NO_ENTRY, .head = PP_NO_ENTRY, .tail = PP_NO_ENTRY};
    pthread_mutex_init(&q->lock, NULL);
}

void pp__inflight_free(struct pp_inflight *q)
{
    free(q->e);
    free(q->fired);
    pthread_mutex_destroy(&q->lock);
}

uint32_t pp__inflight_add(struct pp_inflight *q, uint64_t id)
{
    if (q->free_head == PP_NO_ENTRY) {
        size_t old = q->cap;
        if (old >= PP_NO_ENTRY - 1 || !pp__grow((void **)&q->e, old + 1, &q->cap, sizeof *q->e))
            return PP_NO_ENTRY;
        for (size_t i = q->cap; i-- > old;) {
            q->e[i] = (struct pp_inflight_entry){.next = q->free_head};
            q->free_head = (uint32_t)i;
        }
    }
    uint32_t i = q->free_head;
    q->free_head = q->e[i].next;
    q->e[i] = (struct pp_inflight_entry){.id = id, .prev = PP_NO_ENTRY, .next = PP_NO_ENTRY};
    return i;
}

static void free_entry(struct pp_inflight *q, uint32_t i)
{
    q->e[i] = (struct pp_inflight_entry){.next = q->free_head};
    q->free_head = i;
}

void pp__inflight_submitted(struct pp_inflight *q, uint32_t i, pp_future *f)
{
    if (!f) {
        free_entry(q, i);
        return;
    }
    q->e[i].f = f;
    q->e[i].prev = q->tail;
    if (q->tail != PP_NO_ENTRY)
        q->e[q->tail].next = i;
    else
        q->head = i;
    q->tail = i;
    q->unreported++;
}

void pp__inflight_started(struct pp_inflight *q, void (*told)(void *ud, uint64_t id), void *ud)
{
    for (uint32_t i = q->head; i != PP_NO_ENTRY; i = q->e[i].next) {
        struct pp_inflight_entry *e = &q->e[i];
        if (e->told_started)
            continue;
        if (!pp_future_running(e->f) && !pp_future_done(e->f))
            return;
        e->told_started = true;
        told(ud, e->id);
    }
}

/* Counts entry i reported and takes it off the unreported list. */
static uint32_t mark_reported(struct pp_inflight *q, uint32_t i)
{
    struct pp_inflight_entry *e = &q->e[i];
    e->reported = true;
    if (e->prev != PP_NO_ENTRY)
        q->e[e->prev].next = e->next;
    else
        q->head = e->next;
    if (e->next != PP_NO_ENTRY)
        q->e[e->next].prev = e->prev;
    else
        q->tail = e->prev;
    e->prev = e->next = PP_NO_ENTRY;
    q->unreported--;
    return i;
}

static void maybe_release(struct pp_inflight *q, uint32_t i)
{
    struct pp_inflight_entry *e = &q->e[i];
    if (!e->reported || (e->armed && !e->fired) || e->sending)
        return;
    pp_future_release(e->f);
    free_entry(q, i);
}

uint32_t pp__inflight_next_done(struct pp_inflight *q, size_t scan)
{
    for (;;) { /* what the callbacks said */
        pthread_mutex_lock(&q->lock);
        uint32_t i = q->nfired ? q->fired[--q->nfired] : PP_NO_ENTRY;
        if (i != PP_NO_ENTRY)
            q->armed_waiting--;
        pthread_mutex_unlock(&q->lock);
        if (i == PP_NO_ENTRY)
            break;
        q->e[i].fired = true;
        if (!q->e[i].reported)
            return mark_reported(q, i);
        maybe_release(q, i);
    }
    size_t k = 0;
    for (uint32_t i = q->head; i != PP_NO_ENTRY && k < scan; i = q->e[i].next, k++)
        if (pp_future_done(q->e[i].f))
            return mark_reported(q, i);
    return PP_NO_ENTRY;
}

/* A task finished (on the local pool's callback thread, or at once). */
static void on_done(pp_future *f, void *ud)
{
    struct pp_inflight *q = ud;
    pthread_mutex_lock(&q->lock);
    q->fired[q->nfired++] = (uint32_t)(uintptr_t)pp_future_data(f); /* room was made when it was armed */
    pthread_mutex_unlock(&q->lock);
    atomic_fetch_add(&q->seq, 1);
    pp__futex_wake(&q->seq, 1, false);
}

void pp__inflight_arm(struct pp_inflight *q)
{
    for (uint32_t i = q->head; i != PP_NO_ENTRY; i = q->e[i].next) {
        struct pp_inflight_entry *e = &q->e[i];
        if (e->armed)
            continue;
        pthread_mutex_lock(&q->lock);
        bool room = pp__grow((void **)&q->fired, q->armed_waiting + 1, &q->fired_cap, sizeof *q->fired);
        if (room)
            q->armed_waiting++;
        pthread_mutex_unlock(&q->lock);
        if (!room)
            return; /* no memory: the agent finds the rest by looking */
        if (pp_future_add_done_callback(e->f, on_done, q) == PP_OK) {
            e->armed = true;
        } else {
            pthread_mutex_lock(&q->lock);
            q->armed_waiting--;
            pthread_mutex_unlock(&q->lock);
        }
    }
}

uint32_t pp__inflight_find(const struct pp_inflight *q, uint64_t id)
{
    for (uint32_t i = q->head; i != PP_NO_ENTRY; i = q->e[i].next)
        if (q->e[i].id == id)
            return i;
    return PP_NO_ENTRY;
}

void pp__inflight_sending(struct pp_inflight *q, uint32_t i, bool sending)
{
    q->e[i].sending = sending;
    if (!sending)
        maybe_release(q, i);
}

void pp__inflight_let_go(struct pp_inflight *q, uint32_t i)
{
    maybe_release(q, i);
}
