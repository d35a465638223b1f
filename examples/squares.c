/* SPDX-License-Identifier: MIT */
/*
 * squares: the seed example, three snippets of the Python documentation's
 * ProcessPoolExecutor demo written with procpool.
 *   1. a pool of five workers; ten tasks, each result printed right after its submit;
 *   2. ten tasks submitted at once, then pp_shutdown(wait = true);
 *   3. pp_map over eleven numbers.
 * Each task prints its name and its worker's pid, sleeps 1 to 3 seconds, and
 * returns n * n.
 */
#define _POSIX_C_SOURCE 200809L
#include <procpool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct job {
    char name[16];
    int n;
};

static void nap(int n)
{
    struct timespec ts = {.tv_sec = 1 + (n * 7) % 3};
    nanosleep(&ts, NULL);
}

static int task(pp_task *t, const void *arg, size_t len)
{
    (void)len;
    const struct job *j = arg;
    printf("%s is running, pid is %d\n", j->name, (int)getpid());
    nap(j->n);
    long square = (long)j->n * j->n;
    return pp_task_return(t, &square, sizeof square);
}

static int square(pp_task *t, const void *arg, size_t len)
{
    (void)len;
    int n = *(const int *)arg;
    printf("item %d is running, pid is %d\n", n, (int)getpid());
    nap(n);
    long sq = (long)n * n;
    return pp_task_return(t, &sq, sizeof sq);
}

static void check(int rc, const char *what)
{
    if (rc != PP_OK) {
        fprintf(stderr, "%s: %s\n", what, pp_strerror(rc));
        exit(1);
    }
}

int main(void)
{
    pp_pool *pool;
    pp_config cfg = {.max_workers = 5};
    setvbuf(stdout, NULL, _IOLBF, 0); /* one line at a time, even into a pipe */

    puts("-- 1. submit, then wait for each result --");
    check(pp_pool_create(&pool, &cfg), "pp_pool_create");
    for (int i = 0; i < 10; i++) {
        struct job j = {.n = i};
        snprintf(j.name, sizeof j.name, "task-%d", i);
        pp_future *f;
        const void *data;
        check(pp_submit(pool, task, &j, sizeof j, &f), "pp_submit");
        check(pp_future_result(f, -1, &data, NULL), "pp_future_result");
        printf("%ld\n", *(const long *)data);
        pp_future_release(f);
    }
    pp_pool_destroy(pool);

    puts("-- 2. ten tasks, then shutdown(wait = true) --");
    check(pp_pool_create(&pool, &cfg), "pp_pool_create");
    pp_future *fs[10];
    for (int i = 0; i < 10; i++) {
        struct job j = {.n = i};
        snprintf(j.name, sizeof j.name, "task-%d", i);
        check(pp_submit(pool, task, &j, sizeof j, &fs[i]), "pp_submit");
    }
    check(pp_shutdown(pool, true, false), "pp_shutdown");
    for (int i = 0; i < 10; i++) {
        const void *data;
        check(pp_future_result(fs[i], 0, &data, NULL), "pp_future_result");
        printf("task-%d: %ld\n", i, *(const long *)data);
    }
    pp_pool_destroy(pool);

    puts("-- 3. map over eleven numbers --");
    check(pp_pool_create(&pool, &cfg), "pp_pool_create");
    int items[11];
    long results[11];
    for (int i = 0; i < 11; i++)
        items[i] = i;
    check(pp_map(pool, square, items, 11, sizeof items[0], results, sizeof results[0], NULL), "pp_map");
    for (int i = 0; i < 11; i++)
        printf("%ld%s", results[i], i < 10 ? " " : "\n");
    pp_pool_destroy(pool);
    return 0;
}
