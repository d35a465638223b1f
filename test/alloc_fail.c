/* SPDX-License-Identifier: MIT */
/*
 * alloc_fail: every allocation of the library fails once. Linked with
 * -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc, so the library's calls go
 * through the wrappers below. Run k fails the k-th allocation of a scenario
 * (create, submits of every size, a zero-copy buffer, results, task info, a
 * callback, wait, as_completed, map, the streaming map, destroy), for k = 1, 2, ... until a run makes fewer than k
 * allocations. Each call must return PP_OK or a clean code; afterwards
 * descriptors 0-2 and the program's others are open as before, and no
 * process of the library is left.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <procpool.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "procinfo.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);

static _Atomic long countdown = -1; /* allocations left before the one that fails; < 0: none */
static _Atomic long failed_allocs;
static pid_t test_pid;

static int fail_now(void)
{
    if (getpid() != test_pid || atomic_load(&countdown) < 0)
        return 0;
    if (atomic_fetch_sub(&countdown, 1) == 0) {
        atomic_fetch_add(&failed_allocs, 1);
        return 1;
    }
    return 0;
}

void *__wrap_malloc(size_t n)
{
    return fail_now() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
    return fail_now() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
    return fail_now() ? NULL : __real_realloc(p, n);
}

static long calls, bad;

static void expect(int rc, const char *what, long k)
{
    calls++;
    if (rc != PP_OK && rc != PP_ENOMEM) {
        bad++;
        fprintf(stderr, "alloc-fail: k=%ld: %s returned %s\n", k, what, pp_strerror(rc));
    }
}

static int echo(pp_task *t, const void *arg, size_t len)
{
    return pp_task_return(t, arg, len);
}

static int triple(pp_task *t, const void *arg, size_t len)
{
    (void)len;
    long v = *(const long *)arg * 3;
    return pp_task_return(t, &v, sizeof v);
}

static void on_done(pp_future *f, void *ud)
{
    (void)f;
    (void)ud;
}

static void scenario(long k)
{
    static char big[1 << 20];
    pp_pool *pool;
    int rc = pp_pool_create(&pool, &(pp_config){.max_workers = 2});
    expect(rc, "pp_pool_create", k);
    if (rc != PP_OK)
        return;
    size_t sizes[] = {0, 8, 100, 4000, sizeof big, 100, 24};
    pp_future *fs[64];
    int n = 0;
    for (int round = 0; round < 4; round++)
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            rc = pp_submit(pool, echo, big, sizes[i], &fs[n]);
            expect(rc, "pp_submit", k);
            if (rc == PP_OK)
                n++;
        }
    unsigned char *buf = pp_buffer_alloc(pool, 100000);
    if (buf) {
        memset(buf, 1, 100000);
        rc = pp_submit_buffer(pool, echo, buf, 100000, NULL, &fs[n]);
        expect(rc, "pp_submit_buffer", k);
        if (rc == PP_OK)
            n++;
        else
            pp_buffer_free(pool, buf);
    }
    if (n)
        expect(pp_future_add_done_callback(fs[0], on_done, NULL), "add_done_callback", k);
    int w = pp_wait(fs, (size_t)n, 30, PP_ALL_COMPLETED);
    expect(w < 0 ? w : PP_OK, "pp_wait", k);
    pp_as_completed *it;
    rc = pp_as_completed_begin(fs, (size_t)n, 30, &it);
    expect(rc, "as_completed_begin", k);
    if (rc == PP_OK) {
        pp_future *f;
        while (pp_as_completed_next(it, &f) == 1)
            ;
        pp_as_completed_end(it);
    }
    for (int i = 0; i < n; i++) {
        rc = pp_future_result(fs[i], 30, NULL, NULL);
        int code = 0;
        pp_future_exception(fs[i], 0, &code, NULL);
        expect(rc == PP_ETASK && code == PP_ENOMEM ? PP_ENOMEM : rc, "pp_future_result", k);
        pp_task_info info;
        expect(pp_future_info(fs[i], &info), "pp_future_info", k);
        pp_future_release(fs[i]);
    }
    pp_item items[40];
    for (int i = 0; i < 40; i++)
        items[i] = (pp_item){big, (size_t)i * 10};
    for (size_t chunk = 1; chunk <= 8; chunk += 7) {
        pp_map_iter *mi;
        rc = pp_map_begin(pool, echo, items, 40, &(pp_stream_opts){.chunksize = chunk}, &mi);
        expect(rc, "pp_map_begin", k);
        if (rc == PP_OK) {
            pp_map_item m;
            while ((rc = pp_map_next(mi, &m)) == 1) /* a task denied result room fails with PP_ENOMEM */
                expect(m.status == PP_ETASK && m.code == PP_ENOMEM ? PP_ENOMEM : m.status, "a streamed item", k);
            expect(rc, "pp_map_next", k);
            pp_map_end(mi);
        }
    }
    long in[100], out[100];
    for (int i = 0; i < 100; i++)
        in[i] = i;
    expect(pp_map(pool, triple, in, 100, sizeof in[0], out, sizeof out[0], &(pp_map_opts){.chunksize = 7}), "pp_map",
           k);
    pp_stats st;
    expect(pp_pool_stats(pool, &st), "pp_pool_stats", k);
    pp_pool_destroy(pool);
}

static int live_children(void)
{
    pid_t kids[8];
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
    return children_of(getpid(), kids, 8);
}

int main(void)
{
    test_pid = getpid();
    int fds = count_fds();
    long passed = 0, failed = 0, k;
    for (k = 0;; k++) {
        long before = atomic_load(&failed_allocs);
        long bad_before = bad;
        atomic_store(&countdown, k);
        scenario(k);
        atomic_store(&countdown, -1);
        bool std_open = fcntl(0, F_GETFD) >= 0 && fcntl(1, F_GETFD) >= 0 && fcntl(2, F_GETFD) >= 0;
        bool ok = bad == bad_before && std_open && count_fds() == fds && live_children() == 0;
        if (!ok)
            fprintf(stderr, "alloc-fail: k=%ld: %s\n", k,
                    !std_open                ? "a standard descriptor was closed"
                    : count_fds() != fds     ? "descriptors leaked"
                    : bad != bad_before      ? "a call returned a code other than PP_OK or PP_ENOMEM"
                                             : "a process of the library was left");
        ok ? passed++ : failed++;
        if (atomic_load(&failed_allocs) == before)
            break; /* the scenario made fewer than k + 1 allocations: every one has failed once */
    }
    printf("alloc-fail: %ld allocations failed one at a time, %ld calls checked\n", atomic_load(&failed_allocs), calls);
    printf("alloc-fail: %ld passed, %ld failed\n", passed, failed);
    return failed ? 1 : 0;
}
