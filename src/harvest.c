/* SPDX-License-Identifier: MIT */
/*
 * harvest: the end of a dispatched task. A DONE slot is harvested: a small
 * result is copied into the future, a large one stays where the worker wrote
 * it and the future keeps that arena block until it is released. A task
 * whose worker died, was killed or was withdrawn is finished with a status
 * (or sent round again for a retry). Every word the worker wrote (result
 * place and length, message length, code, costs) is read once and checked
 * against what the master itself gave the slot before it is used: a task
 * can make its own result wrong, never make the master read outside the
 * mapping (a result outside the space it was given is PP_ECRASHED).
 */
#define _GNU_SOURCE
#include "harvest.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "kill.h"
#include "lifetime.h"
#include "settle.h"
#include "slot.h"
#include "sync.h"

/* Gives f the result bytes the worker left at [off, off+len): PP_ECRASHED if
   they lie outside every space the slot was given. Frees the slot's other
   blocks. */
static int take_result(pp_pool *pool, uint32_t s, pp_future *f, uint64_t off, uint64_t len)
{
    struct pp_slot *slot = &pool->lay.slots[s];
    char *base = pool->lay.base;
    uint64_t data = (uint64_t)((char *)slot->data - base);
    pp_block kept = pp__slot_keep_block(pool, s, off, len);
    if (kept.off) {
        f->block = kept;
        f->result = base + off;
    } else if (len == 0) {
        f->result = f->small;
    } else if (off >= data && off - data <= PP_SLOT_DATA && len <= PP_SLOT_DATA - (off - data)) {
        void *dst = f->small;
        if (len > sizeof f->small) {
            dst = malloc(len);
            if (!dst)
                return PP_ENOMEM;
            f->flags |= FUT_HEAP_RESULT;
        }
        memcpy(dst, base + off, len);
        f->result = dst;
    } else {
        return PP_ECRASHED;
    }
    f->result_len = len;
    return PP_OK;
}

static char *slot_message(struct pp_slot *slot)
{
    uint32_t len = slot->msg_len;
    if (!len)
        return NULL;
    size_t n = len > PP_MESSAGE_MAX ? PP_MESSAGE_MAX : len;
    char *m = malloc(n + 1);
    if (m) {
        memcpy(m, slot->data, n);
        m[n] = 0;
    }
    return m;
}

/* Who ran the slot's task, from its checked state word. */
static void note_worker(pp_pool *pool, pp_future *f, uint32_t w)
{
    f->worker = (int16_t)w;
    f->pid = pool->workers[w].pid;
}

bool pp__harvest(pp_pool *pool, uint32_t s)
{
    struct pp_slot *slot = &pool->lay.slots[s];
    struct pp_slot_info *si = &pool->slots[s];
    pp_future *f = si->owner;
    if (!f)
        return false;
    struct pp_slot_view v = pp__slot_look(pool, s);
    if (v.kind != SLOT_DONE)
        return false;
    si->owner = NULL;
    note_worker(pool, f, v.worker);
    f->cost = (struct pp_cost){.started_ns = slot->started_ns,
                               .finished_ns = slot->finished_ns,
                               .user_us = slot->user_us,
                               .sys_us = slot->sys_us,
                               .peak_rss = slot->peak_rss};
    int code = slot->code, status = PP_OK;
    const char *why = NULL;
    f->attempts++;
    if (code != 0) {
        status = PP_ETASK;
        f->message = slot_message(slot);
    } else {
        uint64_t off = slot->res_off, len = slot->res_len;
        status = take_result(pool, s, f, off, len);
        if (status == PP_ECRASHED)
            why = "the task's result lies outside the space it was given (it wrote over the pool's shared memory)";
    }
    pp__slot_release(pool, s);
    pp__complete(pool, f, status, code, why);
    pp__future_put(f);
    return true;
}

void pp__describe_slot(pp_pool *pool, uint32_t s, const pp_future *f)
{
    struct pp_slot *slot = &pool->lay.slots[s];
    struct pp_slot_info *si = &pool->slots[s];
    uint64_t at = pp__align16(f->arg_len);
    struct pp_desc d = {.fn = f->spec.fn,
                        .arg_off = si->arg.off ? si->arg.off : (uint64_t)((char *)slot->data - pool->lay.base),
                        .arg_len = f->arg_len,
                        .deadline_ns = si->deadline_ns,
                        .cpu_limit_ns = si->cpu_limit_ns,
                        .result_hint = f->spec.result_hint};
    pp__desc_write(&pool->lay, slot, &d);
    if (si->grant.off) {
        slot->grant_off = si->grant.off;
        slot->grant_cap = si->grant.size;
    } else if (si->arg.off && at <= si->arg.size) {
        slot->grant_off = si->arg.off + at;
        slot->grant_cap = si->arg.size - at;
    } else {
        slot->grant_off = slot->grant_cap = 0;
    }
}

void pp__requeue_slot(pp_pool *pool, uint32_t s)
{
    struct pp_slot *slot = &pool->lay.slots[s];
    struct pp_slot_info *si = &pool->slots[s];
    slot->code = 0;
    slot->res_off = slot->res_len = slot->grow_len = 0;
    slot->msg_len = 0;
    slot->started_ns = slot->finished_ns = 0;
    pp__arena_free(&pool->arena, &si->old_grant);
    pp__describe_slot(pool, s, si->owner);
    si->seen_running_ns = 0;
    pp__slot_publish(pool, s);
}

void pp__finish_slot(pp_pool *pool, uint32_t s, int status, int code, const char *message,
                     const struct pp_cost *cost)
{
    struct pp_slot *slot = &pool->lay.slots[s];
    struct pp_slot_info *si = &pool->slots[s];
    pp_future *f = si->owner;
    if (!f)
        return;
    struct pp_slot_view v = pp__slot_look(pool, s);
    bool ran = v.kind == SLOT_RUNNING || v.kind == SLOT_GROW;
    if (ran)
        note_worker(pool, f, v.worker);
    struct pp_cost c = cost ? *cost
                            : (struct pp_cost){.started_ns = ran ? slot->started_ns : 0,
                                               .finished_ns = ran ? pp__now_ns() : 0};
    if (ran && pp__run_ended(pool, f, status, true)) {
        pp__requeue_slot(pool, s); /* its spec still stands: the cost is its last run's */
        return;
    }
    f->cost = c;
    si->owner = NULL;
    /* what the task had reserved stays readable by the library (map.c
       reads the items a chunk finished before its worker died) */
    uint64_t off = slot->res_off, len = slot->res_len;
    if (len)
        take_result(pool, s, f, off, len);
    pp__slot_release(pool, s);
    pp__complete(pool, f, status, code, message);
    pp__future_put(f);
}

int pp__abandon_slot(pp_pool *pool, uint32_t s, enum pp_kill why)
{
    struct pp_slot_info *si = &pool->slots[s];
    struct pp_slot_view v = pp__slot_look(pool, s);
    int runner = v.kind == SLOT_RUNNING || v.kind == SLOT_GROW ? (int)v.worker : -1;
    bool anyone = false;
    for (uint32_t w = 0; w < pool->nworkers; w++)
        if (pool->workers[w].alive &&
            ((int)w == runner || atomic_load(&pool->lay.workers[w].intent) == s)) {
            pp__kill_worker(pool, w, why, SIGKILL, s, 0);
            anyone = true;
        }
    si->owner = NULL;
    pp__slot_renew(pool, s, SLOT_CANCELLED); /* no publish can land, no grant is asked */
    if (anyone)
        si->abandoned = true; /* released when the killed worker's death is handled */
    else
        pp__slot_release(pool, s);
    return runner;
}

bool pp__peek_result(pp_pool *pool, const pp_future *f, const void **area, size_t *len)
{
    uint32_t s = f->slot;
    if (atomic_load_explicit(&f->phase, memory_order_relaxed) != PHASE_DISPATCHED || s >= pool->lay.nslots ||
        pool->slots[s].owner != f)
        return false;
    struct pp_slot *slot = &pool->lay.slots[s];
    struct pp_slot_info *si = &pool->slots[s];
    uint64_t off = slot->res_off, n = slot->res_len;
    uint64_t data = (uint64_t)((char *)slot->data - pool->lay.base);
    if (n && off >= data && off - data <= PP_SLOT_DATA && n <= PP_SLOT_DATA - (off - data)) {
        *area = pool->lay.base + off; /* inline */
        *len = n;
        return true;
    }
    const pp_block *blocks[3] = {&si->arg, &si->grant, &si->old_grant};
    for (int i = 0; i < 3 && n; i++) {
        const pp_block *b = blocks[i];
        if (b->off && off >= b->off && off - b->off <= b->size && n <= b->size - (off - b->off)) {
            *area = pool->lay.base + off;
            *len = n;
            return true;
        }
    }
    return false;
}
