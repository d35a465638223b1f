/* SPDX-License-Identifier: MIT */
/*
 * worker: the loop every worker process runs, and the task-side API.
 *
 * A worker takes a slot index from the ring (publishing its intent first),
 * claims the slot by CAS from PENDING to RUNNING(w), runs the function, writes
 * the result and code, and publishes DONE by CAS from the exact RUNNING word
 * it claimed. It spins on an empty ring for a short while, then sleeps on the
 * workers' eventcount; before it sleeps while the master holds queued work,
 * it kicks the master's monitor (the pending-work rule, dispatch.c). It
 * leaves only through _exit: when the pool closes and the ring is empty,
 * after max_tasks_per_child tasks, or when its initializer fails.
 *
 * What a task costs is measured around it with at most one getrusage per
 * task: its wall time (CLOCK_MONOTONIC, no system call), its CPU (the
 * snapshot after a task serves as the one before the next; time the worker
 * spent spinning for work in between, and the estimated CPU of unmeasured
 * short tasks, is taken off; a worker that slept takes a fresh snapshot when
 * it wakes) and its peak memory (the peak-RSS mark, reset through
 * /proc/self/clear_refs after a task that raised it, once its result is
 * published). A task shorter than PP_MEASURE_NS is not worth the system
 * call (it would double a round trip): its CPU is taken to be its wall time
 * and its peak the mark before it. A task with a CPU limit runs under a process CPU-time timer that
 * SIGKILLs the worker when the limit is reached; the master tells that
 * death from others by the CPU the reaped worker had used (workers.c).
 * With max_rss_per_child, a worker whose resident memory is past it after a
 * task publishes the result, then leaves to be replaced.
 *
 * The worker reads the region through its own copy of the layout (taken
 * before it was forked), never through pointers or counts stored in the
 * region: a task that writes over it can make its own worker misbehave or
 * die (the master then fails that task), not send it outside the mapping.
 *
 * A task may fork. Its copy is not a worker: it can neither set a result
 * nor publish, and it leaves through _exit when the task function returns
 * in it, instead of taking tasks as an extra worker the pool never started.
 * (The copy is told apart by its pid, cached and refreshed by fork()'s
 * atfork handlers; a raw clone system call that skips them is not seen.)
 */
#define _GNU_SOURCE
#include "worker.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "owner.h"
#include "procfs.h"
#include "shm.h"
#include "sync.h"
#include "task.h"

#define PP_MEASURE_NS 50000 /* tasks shorter than this are timed, not measured (see docs/api.md) */

static pid_t worker_pid; /* the process the spawner started */

/* ---- what a task costs ------------------------------------------------------ */

struct pp_meter {
    uint64_t user_us, sys_us; /* the worker's CPU at the last snapshot */
    uint64_t child_us;        /* its waited-for children's CPU then */
    uint64_t peak;            /* its peak-RSS mark then, bytes */
    uint64_t spun_ns;         /* spent spinning for work since the snapshot */
    bool force;               /* measure this task however short (pp_task_reset_info) */
    timer_t cpu_timer;
    bool have_timer;
};

static uint64_t tv_us(struct timeval tv)
{
    return (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
}

/* Takes a snapshot of the worker's CPU (and its waited-for children's) and
   peak-RSS mark. */
static void snapshot(struct pp_meter *m)
{
    struct rusage ru, rc;
    if (getrusage(RUSAGE_SELF, &ru) != 0 || getrusage(RUSAGE_CHILDREN, &rc) != 0)
        return;
    m->user_us = tv_us(ru.ru_utime);
    m->sys_us = tv_us(ru.ru_stime);
    m->child_us = tv_us(rc.ru_utime) + tv_us(rc.ru_stime);
    m->peak = (uint64_t)ru.ru_maxrss * 1024u;
    m->spun_ns = 0;
}

/* Starts the peak-RSS mark afresh (a task may have closed or replaced any
   descriptor we kept, so the file is opened each time). */
static void reset_peak(void)
{
    int fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n = write(fd, "5", 1);
        (void)n; /* without it the mark is the worker's lifetime peak */
        close(fd);
    }
}

/* Arms (limit > 0) or disarms (0) the CPU-time timer that kills the worker. */
static void cpu_timer(struct pp_meter *m, uint64_t limit_ns)
{
    if (!m->have_timer) {
        if (!limit_ns)
            return;
        struct sigevent ev = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGKILL};
        if (timer_create(CLOCK_PROCESS_CPUTIME_ID, &ev, &m->cpu_timer) != 0)
            _exit(1); /* a limit we cannot enforce: the master sees the death */
        m->have_timer = true;
    }
    struct itimerspec its = {.it_value = {(time_t)(limit_ns / 1000000000u), (long)(limit_ns % 1000000000u)}};
    timer_settime(m->cpu_timer, 0, &its, NULL);
}

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ  22 /* Linux 5.14 */
#define MADV_POPULATE_WRITE 23
#endif
#define PREMAP_GRAIN ((uint64_t)64 << 10) /* the worker maps the arena ahead in grains of this */

/* Which grains of the mapping this worker has mapped ahead. A grain, once
   mapped, stays in the worker's page tables until the arena gives pages
   back (it counts that in shm->arena_returns), so each is mapped once, not
   at every task: the call costs a page-table walk even where all is mapped,
   and paying it per task halved the serial 1 MiB echo (docs/design.md). */
static struct {
    unsigned char *bits;
    uint64_t ngrains;
    uint32_t returns; /* arena_returns when the bits were last true */
    bool off;         /* no memory for the bits, or a kernel without MADV_POPULATE_WRITE */
} mapped;

static bool grain_mapped(uint64_t g)
{
    return mapped.bits[g / 8] & (1u << (g % 8));
}

/* Maps the whole grains of [p, p+len) this worker has not mapped since the
   arena last gave pages back, one call per run of them: a block another
   worker used last would otherwise cost this one a fault per page. A kernel
   without it faults them in as before. */
static void premap(const struct pp_layout *lay, const void *p, size_t len)
{
    struct pp_shm *shm = lay->shm;
    uint64_t off = (uint64_t)((const char *)p - lay->base);
    if (mapped.off || len < 2 * PREMAP_GRAIN || off < lay->arena_start || off > lay->arena_end ||
        len > lay->arena_end - off)
        return;
    if (!mapped.bits) { /* 2 MiB of bits for a 1 TiB arena: zero pages until a grain is mapped */
        mapped.ngrains = lay->arena_end / PREMAP_GRAIN + 1;
        void *bits = mmap(NULL, mapped.ngrains / 8 + 1, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        mapped.returns = atomic_load(&shm->arena_returns);
        if (bits == MAP_FAILED) {
            mapped.off = true;
            return;
        }
        mapped.bits = bits;
    }
    uint32_t returns = atomic_load(&shm->arena_returns);
    if (returns != mapped.returns) { /* forget them all: the pages go back to the kernel too */
        madvise(mapped.bits, mapped.ngrains / 8 + 1, MADV_DONTNEED);
        mapped.returns = returns;
    }
    uint64_t g = (off + PREMAP_GRAIN - 1) / PREMAP_GRAIN, end = (off + len) / PREMAP_GRAIN;
    while (g < end) {
        if (grain_mapped(g)) {
            g++;
            continue;
        }
        uint64_t run = g;
        for (; run < end && !grain_mapped(run); run++)
            mapped.bits[run / 8] |= (unsigned char)(1u << (run % 8));
        if (madvise(lay->base + g * PREMAP_GRAIN, (run - g) * PREMAP_GRAIN, MADV_POPULATE_WRITE) != 0) {
            mapped.off = true;
            return;
        }
        g = run;
    }
}

/* Resident bytes now (statm), 0 if unknown. */
static uint64_t resident_bytes(void)
{
    char buf[128];
    if (!pp__read_file("/proc/self/statm", buf, sizeof buf))
        return 0;
    unsigned long size, rss;
    if (sscanf(buf, "%lu %lu", &size, &rss) != 2)
        return 0;
    return (uint64_t)rss * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* When memory runs out (in a cgroup: the pool's processes share it), the
   OOM killer takes the process with the highest score; the master, which
   maps every payload, would score highest. A worker raises its own score to
   the top, so the task that ran the memory out dies (PP_ECRASHED), not the
   master. */
static void prefer_me_to_the_master(void)
{
    int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n = write(fd, "1000", 4);
        (void)n; /* without it, the kernel's own choice */
        close(fd);
    }
}

static void pin_to_cpu(uint32_t w)
{
    cpu_set_t allowed, one;
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0 || CPU_COUNT(&allowed) == 0)
        return;
    int k = (int)(w % (uint32_t)CPU_COUNT(&allowed));
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
        if (CPU_ISSET(cpu, &allowed) && k-- == 0) {
            CPU_ZERO(&one);
            CPU_SET(cpu, &one);
            sched_setaffinity(0, sizeof one, &one);
            return;
        }
}

int pp_worker_id(void)
{
    return pp__current_worker;
}

static bool claim(const struct pp_layout *lay, struct pp_worker_rec *rec, uint32_t w, uint32_t s,
                  uint32_t *running)
{
    if (s >= lay->nslots)
        return false;
    struct pp_slot *slot = &lay->slots[s];
    uint32_t st = atomic_load_explicit(&slot->state, memory_order_acquire);
    if (ST_KIND(st) != SLOT_PENDING)
        return false;
    *running = ST_MAKE(SLOT_RUNNING, w, ST_GEN(st));
    if (!atomic_compare_exchange_strong(&slot->state, &st, *running))
        return false;
    atomic_store(&rec->started_ns, pp__now_ns());
    return true;
}

static bool try_take(const struct pp_layout *lay, struct pp_worker_rec *rec, uint32_t w, uint32_t *s,
                     uint32_t *running)
{
    while (pp__ring_pop(&lay->ring, &rec->intent, s)) {
        if (claim(lay, rec, w, *s, running))
            return true;
        atomic_store(&rec->intent, PP_NO_SLOT); /* a stale cell */
    }
    return false;
}

/* Spinning workers are counted so that the master wakes a sleeper only for
   work no spinner will take. A spinner stops counting itself before it takes
   a task (counted, it must still be free to take one). The per-worker flag is
   set first and cleared last, so after a death the count may run low (a
   spare wake), never high (a task left waiting). */
static void spinner_enter(struct pp_shm *shm, struct pp_worker_rec *rec)
{
    atomic_store(&rec->spinning, 1);
    atomic_fetch_add(&shm->spinners, 1);
}

static void spinner_leave(struct pp_shm *shm, struct pp_worker_rec *rec)
{
    atomic_fetch_sub(&shm->spinners, 1);
    atomic_store(&rec->spinning, 0);
}

/* Polls the ring for a while: 1 with a task, -1 when closing, 0 when the
   spin budget ran out. */
static int spin_for_task(const struct pp_layout *lay, struct pp_worker_rec *rec, uint32_t w, uint32_t *s,
                         uint32_t *running, uint64_t spin_ns)
{
    struct pp_shm *shm = lay->shm;
    uint64_t spin_until = pp__now_ns() + spin_ns;
    spinner_enter(shm, rec);
    for (unsigned i = 0;; i++) {
        if (pp__ring_nonempty(&lay->ring)) {
            spinner_leave(shm, rec);
            if (try_take(lay, rec, w, s, running))
                return 1;
            spinner_enter(shm, rec);
        }
        if (atomic_load(&shm->closing) || ((i & 63) == 63 && pp__now_ns() > spin_until))
            break;
        pp__cpu_relax();
    }
    spinner_leave(shm, rec);
    return atomic_load(&shm->closing) && !pp__ring_nonempty(&lay->ring) ? -1 : 0;
}

/* The next claimed slot, or false when the pool is closing and nothing is
   left; *slept tells whether the worker had to sleep for it. */
static bool next_task(const struct pp_layout *lay, struct pp_worker_rec *rec, uint32_t w, uint32_t *s,
                      uint32_t *running, bool *slept, uint64_t spin_ns)
{
    struct pp_shm *shm = lay->shm;
    int spun = spin_for_task(lay, rec, w, s, running, spin_ns);
    if (spun)
        return spun > 0;
    for (;;) {
        /* count ourselves idle before the last look, so a master that pushes
           after it sees us and wakes us; the count may run high, never low */
        atomic_fetch_add(&shm->idle_workers, 1);
        atomic_store(&rec->idle, 1);
        uint32_t seq = atomic_load(&shm->work_seq);
        bool got = try_take(lay, rec, w, s, running);
        if (!got && !atomic_load(&shm->closing)) {
            if (atomic_load(&shm->kick_below))
                pp__shm_kick(shm); /* queued work, and nothing here to run: feed us */
            pp__futex_wait(&shm->work_seq, seq, true, PP_FOREVER);
            *slept = true;
        }
        atomic_store(&rec->idle, 0);
        atomic_fetch_sub(&shm->idle_workers, 1);
        if (got || try_take(lay, rec, w, s, running))
            return true;
        if (atomic_load(&shm->closing))
            return false;
    }
}

static void publish(const struct pp_layout *lay, struct pp_worker_rec *rec, uint32_t s, uint32_t running)
{
    struct pp_shm *shm = lay->shm;
    struct pp_slot *slot = &lay->slots[s];
    atomic_store(&rec->started_ns, 0);
    uint32_t expected = running;
    if (!atomic_compare_exchange_strong(&slot->state, &expected,
                                        ST_MAKE(SLOT_DONE, ST_WORKER(running), ST_GEN(running)))) {
        atomic_store(&rec->intent, PP_NO_SLOT); /* not ours any more: nothing to tell */
        return;
    }
    atomic_fetch_or(&lay->done_bits[s / 64], (uint64_t)1 << (s % 64));
    if (atomic_load(&slot->waiters))
        pp__futex_wake(&slot->state, 0x7fffffff, true);
    /* the monitor wants completions, or queued work waits on a ring running dry */
    uint64_t below = atomic_load(&shm->kick_below);
    if (atomic_load(&shm->kick_on_done) ||
        (below && atomic_load(&lay->ring.ctl->tail) - pp__ring_head(&lay->ring) < below))
        pp__shm_kick(shm);
    atomic_store(&rec->intent, PP_NO_SLOT);
}

/* Restarts what the task's limits count from (the task's start, or a chunk
   item's): the wall-clock start the master's deadline counts from, the CPU
   the master's death handler and CPU sampling count from, and the worker's
   own CPU-time timer. */
static void limits_begin(pp_task *t)
{
    struct pp_worker_rec *rec = t->rec;
    if (t->desc.cpu_limit_ns) {
        struct pp_meter now = *t->meter;
        snapshot(&now);
        rec->user0_us = now.user_us;
        rec->sys0_us = now.sys_us;
        rec->child0_us = now.child_us;
        cpu_timer(t->meter, t->desc.cpu_limit_ns);
    }
    if (t->desc.deadline_ns || t->desc.cpu_limit_ns) {
        atomic_store(&rec->started_ns, pp__now_ns());
        pp__shm_kick(t->lay->shm); /* the monitor recomputes its next expiry or sample */
    }
}

void pp__task_item_begin(pp_task *t)
{
    limits_begin(t);
}

static void run_task(const struct pp_layout *lay, struct pp_worker_rec *rec, struct pp_meter *m, uint32_t s,
                     uint32_t running)
{
    struct pp_slot *slot = &lay->slots[s];
    pp_task t = {.lay = lay, .rec = rec, .slot = slot, .running = running, .pid = worker_pid, .meter = m};
    rec->user0_us = m->user_us + m->spun_ns / 1000; /* for the master, should the worker die */
    rec->sys0_us = m->sys_us;
    rec->child0_us = m->child_us;
    m->force = false;
    slot->started_ns = pp__now_ns();
    int code;
    if (!pp__desc_read(lay, slot, &t.desc)) {
        t.desc = (struct pp_desc){0};
        code = pp_task_fail(&t, PP_EINVAL, "the task's descriptor in shared memory was written over");
    } else {
        limits_begin(&t);
        premap(lay, lay->base + t.desc.arg_off, t.desc.arg_len);
        code = t.desc.fn(&t, lay->base + t.desc.arg_off, t.desc.arg_len);
    }
    if (t.desc.cpu_limit_ns)
        cpu_timer(m, 0);
    fflush(stdout);
    fflush(stderr);
    if (pp__self_pid() != worker_pid)
        _exit(0); /* a copy the task forked: not a worker */
    slot->finished_ns = pp__now_ns();
    struct pp_meter before = *m;
    uint64_t wall = slot->finished_ns - slot->started_ns;
    if (wall < PP_MEASURE_NS && !m->force) { /* too short to pay a system call for: estimated */
        slot->user_us = wall / 1000;
        slot->sys_us = 0;
        slot->peak_rss = m->peak;
        m->spun_ns += wall; /* accounted for: the next measured task does not get it */
    } else {
        snapshot(m);
        uint64_t user = m->user_us - before.user_us, spun_us = before.spun_ns / 1000;
        uint64_t children = m->child_us - before.child_us; /* what it waited for counts as its own */
        slot->user_us = (user > spun_us ? user - spun_us : 0) + children;
        slot->sys_us = m->sys_us - before.sys_us;
        slot->peak_rss = m->peak;
    }
    slot->code = code;
    if (code != 0) {
        memcpy(slot->data, t.msg, t.msg_len);
        slot->msg_len = t.msg_len;
    } else {
        pp__task_keep(&t);
    }
    publish(lay, rec, s, running);
    if (m->peak > before.peak) { /* it raised the mark: start it afresh for the next */
        reset_peak();
        snapshot(m);
    }
}

_Noreturn void pp__worker_main(const struct pp_worker_cfg *cfg, uint32_t w)
{
    const struct pp_layout *lay = &cfg->lay;
    struct pp_worker_rec *rec = &lay->workers[w];
    pp__current_worker = (int)w;
    worker_pid = pp__self_pid();
    int init = cfg->initializer ? cfg->initializer(cfg->initarg) : 0;
    fflush(stdout);
    fflush(stderr);
    if (pp__self_pid() != worker_pid || init != 0)
        _exit(1); /* not ready: the master breaks the pool */
    if (cfg->pin)
        pin_to_cpu(w);
    prefer_me_to_the_master();
    reset_peak();
    atomic_store(&rec->ready, 1);
    struct pp_meter m = {0};
    snapshot(&m);
    unsigned limit = cfg->max_tasks_per_child;
    for (unsigned done = 0; !limit || done < limit; done++) {
        uint32_t s, running;
        bool slept = false;
        uint64_t waited_from = pp__now_ns();
        if (!next_task(lay, rec, w, &s, &running, &slept, cfg->spin_ns))
            break;
        if (slept) {
            snapshot(&m); /* the spin before the sleep is not the task's */
        } else {          /* it spun for at most the spin budget: time it was descheduled is no CPU */
            uint64_t spun = pp__now_ns() - waited_from;
            m.spun_ns += spun < cfg->spin_ns ? spun : cfg->spin_ns;
        }
        run_task(lay, rec, &m, s, running);
        if (cfg->max_rss && resident_bytes() > cfg->max_rss) {
            atomic_store(&rec->recycled, 1);
            break;
        }
    }
    _exit(0);
}

/* ---- task-side API ------------------------------------------------------- */

#define GROW_RECHECK_NS 100000000ull /* a master answer lost to a damaged word costs this, not a hang */

/* Asks the master for len bytes of result space and waits for its answer. */
static void grow(pp_task *t, size_t len)
{
    struct pp_slot *slot = t->slot;
    uint32_t asking = ST_MAKE(SLOT_GROW, ST_WORKER(t->running), ST_GEN(t->running));
    slot->grow_len = len;
    uint32_t expected = t->running;
    if (!atomic_compare_exchange_strong(&slot->state, &expected, asking))
        return;
    pp__shm_kick(t->lay->shm);
    while (atomic_load(&slot->state) == asking)
        pp__spin_wait(&slot->state, asking, &slot->waiters, 0, true, pp__now_ns() + GROW_RECHECK_NS);
}

void *pp__task_reserve(pp_task *t, size_t len)
{
    if (pp__self_pid() != t->pid)
        return NULL; /* a copy the task forked: the slot is not its own */
    struct pp_slot *slot = t->slot;
    const struct pp_layout *lay = t->lay;
    uint64_t data = (uint64_t)((char *)slot->data - lay->base);
    uint64_t inline_off = data;
    if (t->desc.arg_off == data) /* the argument sits inline: the result goes after it */
        inline_off += pp__align16(t->desc.arg_len);
    uint64_t off;
    if (inline_off <= data + PP_SLOT_DATA && len <= data + PP_SLOT_DATA - inline_off) {
        off = inline_off;
    } else {
        if (len > slot->grant_cap)
            grow(t, len);
        uint64_t grant_off = slot->grant_off, cap = slot->grant_cap;
        if (len > cap || !pp__in_map(lay, grant_off, len))
            return NULL;
        off = grant_off;
    }
    premap(lay, lay->base + off, len);
    t->res_off = off;
    t->res_len = len;
    return lay->base + off;
}

void pp__task_keep(pp_task *t)
{
    t->slot->res_off = t->res_off;
    t->slot->res_len = t->res_len;
}

void pp_task_reset_info(pp_task *t)
{
    if (!t || pp__self_pid() != t->pid || !t->meter)
        return;
    struct pp_meter *m = t->meter;
    reset_peak();
    snapshot(m);
    m->force = true;
    t->slot->started_ns = pp__now_ns();
}
void *pp_task_result_buffer(pp_task *task, size_t len)
{
    if (!task)
        return NULL;
    if (task->to_heap) {
        if (len > task->heap_cap) {
            unsigned char *p = realloc(task->heap, len);
            if (!p)
                return NULL;
            task->heap = p;
            task->heap_cap = len;
        }
        task->heap_len = len;
        return len ? task->heap : (void *)task; /* any non-NULL pointer for 0 bytes */
    }
    if (task->item_out) {
        if (len > task->item_cap) {
            task->item_status = PP_EINVAL;
            return NULL;
        }
        task->item_status = PP_OK;
        return task->item_out;
    }
    return pp__task_reserve(task, len);
}

int pp_task_return(pp_task *task, const void *data, size_t len)
{
    if (!task || (!data && len))
        return PP_EINVAL;
    if (pp__self_pid() != task->pid)
        return PP_ESTATE;
    if (task->item_out && len > task->item_cap) {
        task->item_status = PP_EINVAL;
        return PP_EINVAL;
    }
    void *dst = pp_task_result_buffer(task, len);
    if (!dst)
        return PP_ENOMEM;
    if (len)
        memmove(dst, data, len);
    return PP_OK;
}

int pp_task_fail(pp_task *task, int code, const char *fmt, ...)
{
    if (!task)
        return code;
    if (!fmt) {
        task->msg_len = 0;
        return code;
    }
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(task->msg, sizeof task->msg, fmt, ap);
    va_end(ap);
    task->msg_len = n < 0 ? 0 : (uint32_t)(n > PP_MESSAGE_MAX ? PP_MESSAGE_MAX : n);
    return code;
}
