/* SPDX-License-Identifier: MIT */
/*
 * Crash-proof pool: worker deaths, per-task deadlines, a chaos run with random
 * SIGKILLs, the master's own death, children of the program, bad input.
 */
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include "helpers.h"
#include "procinfo.h"

TestSuite(crash, .timeout = 60); /* a safety net: no test should come near it */

static pp_future *submit_int(pp_pool *pool, pp_fn fn, int v)
{
    pp_future *f;
    OK(pp_submit(pool, fn, &v, sizeof v, &f));
    return f;
}

static void expect_crash(pp_pool *pool, int sig, int want_code, const char *want_text)
{
    pp_future *f = submit_int(pool, crash_task, sig);
    int code;
    const char *msg;
    cr_assert_eq(pp_future_exception(f, 30, &code, &msg), PP_ECRASHED);
    cr_assert_eq(code, want_code);
    cr_assert_not_null(strstr(msg, want_text), "message: %s", msg);
    pp_future_release(f);
}

Test(crash, a_dead_worker_fails_only_its_task)
{
    pp_pool *pool = pool_of(2);
    pp_future *fs[200];
    for (long i = 0; i < 100; i++)
        fs[i] = submit_long(pool, square_task, i);
    expect_crash(pool, SIGSEGV, -SIGSEGV, "killed by signal 11");
    for (long i = 100; i < 200; i++)
        fs[i] = submit_long(pool, square_task, i);
    for (long i = 0; i < 200; i++)
        cr_assert_eq(result_long(fs[i]), i * i);
    pp_stats st;
    EVENTUALLY(pp_pool_stats(pool, &st) == PP_OK && st.workers_alive == 2, 10);
    cr_assert_eq(st.crashed, 1);
    cr_assert_eq(st.workers_started, 3, "one replacement");
    pp_pool_destroy(pool);
}

Test(crash, exit_and_abort_report_python_exitcodes)
{
    pp_pool *pool = pool_of(1);
    expect_crash(pool, 0, 3, "exited with status 3");
    expect_crash(pool, SIGABRT, -SIGABRT, "signal 6");
    expect_crash(pool, SIGKILL, -SIGKILL, "signal 9 (Killed)");
    cr_assert_eq(result_long(submit_long(pool, square_task, 9)), 81);
    pp_pool_destroy(pool);
}

Test(crash, break_pool_mode_is_pythons)
{
    gates_init();
    pp_pool *pool;
    pp_config cfg = {.max_workers = 2, .on_crash = PP_BREAK_POOL};
    OK(pp_pool_create(&pool, &cfg));
    pp_future *running = submit_long(pool, block_task, 1);
    wait_started(1);
    pp_future *crashing = submit_int(pool, crash_task, SIGKILL);
    cr_assert_eq(pp_future_result(crashing, 30, NULL, NULL), PP_EBROKEN);
    cr_assert_eq(pp_future_result(running, 30, NULL, NULL), PP_EBROKEN);
    pp_future *later;
    cr_assert_eq(pp_submit(pool, square_task, &(long){1}, sizeof(long), &later), PP_EBROKEN);
    OK(pp_pool_terminate(pool, SIGTERM)); /* harmless on a broken pool */
    pp_pool_destroy(pool);
}

Test(crash, deadline_kills_and_replaces_the_worker)
{
    pp_pool *pool = pool_of(2);
    pp_task_opts opts = {.deadline = 0.2};
    pp_future *f, *quick;
    double t0 = now_s();
    OK(pp_submit_opts(pool, forever_task, NULL, 0, &opts, &f));
    long v = 4;
    pp_task_opts roomy = {.deadline = 30};
    OK(pp_submit_opts(pool, square_task, &v, sizeof v, &roomy, &quick));
    int code;
    const char *msg;
    cr_assert_eq(pp_future_exception(f, 30, &code, &msg), PP_EDEADLINE);
    cr_assert_geq(now_s() - t0, 0.2);
    cr_assert_eq(code, -SIGKILL);
    cr_assert_not_null(strstr(msg, "deadline"), "message: %s", msg);
    cr_assert_eq(result_long(quick), 16, "a task within its deadline is untouched");
    cr_assert_eq(result_long(submit_long(pool, square_task, 5)), 25);
    pp_stats st;
    EVENTUALLY(pp_pool_stats(pool, &st) == PP_OK && st.workers_alive == 2, 10);
    cr_assert_eq(st.deadline_kills, 1);
    cr_assert_eq(st.crashed, 0);
    pp_pool_destroy(pool);
}

Test(crash, negative_deadline_is_einval)
{
    pp_pool *pool = pool_of(1);
    pp_task_opts opts = {.deadline = -1};
    pp_future *f = (pp_future *)1;
    cr_assert_eq(pp_submit_opts(pool, square_task, &(long){1}, sizeof(long), &opts, &f), PP_EINVAL);
    cr_assert_null(f);
    pp_pool_destroy(pool);
}

static int spawn_child_task(pp_task *t, const void *arg, size_t len)
{
    (void)t;
    (void)arg;
    (void)len;
    pid_t child = fork();
    if (child == 0) {
        for (;;)
            pause();
    }
    if (write(started[1], &child, sizeof child) != sizeof child)
        return 1;
    for (;;)
        pause();
    return 0;
}

Test(crash, a_deadline_kill_ends_the_tasks_own_children)
{
    gates_init();
    pp_pool *pool = pool_of(1);
    pp_task_opts opts = {.deadline = 0.1};
    pp_future *f;
    OK(pp_submit_opts(pool, spawn_child_task, NULL, 0, &opts, &f));
    pid_t child;
    cr_assert_eq(read(started[0], &child, sizeof child), sizeof child);
    cr_assert_eq(pp_future_result(f, 30, NULL, NULL), PP_EDEADLINE);
    EVENTUALLY(process_gone(child), 10);
    pp_pool_destroy(pool);
}

Test(crash, a_crash_inside_a_map_chunk_fails_only_that_item)
{
    pp_pool *pool = pool_of(2);
    enum { N = 100 };
    int in[N], status[N];
    long out[N];
    for (int i = 0; i < N; i++)
        in[i] = i == 37 ? -1 : i;
    pp_map_opts o = {.chunksize = 10, .status = status};
    cr_assert_eq(pp_map(pool, crash_on_negative_task, in, N, sizeof in[0], out, sizeof out[0], &o),
                 PP_ECRASHED);
    for (int i = 0; i < N; i++) {
        if (i == 37) {
            cr_assert_eq(status[i], PP_ECRASHED);
            continue;
        }
        cr_assert_eq(status[i], PP_OK, "item %d: %s", i, pp_strerror(status[i]));
        cr_assert_eq(out[i], (long)i * i);
    }
    pp_pool_destroy(pool);
}

/* ---- chaos: random SIGKILLs while tens of thousands of tasks run ---------- */

struct chaos {
    _Atomic pid_t *pids; /* shared with the workers: each writes its pid */
    int workers;
    _Atomic bool stop;
    _Atomic long kills;
};

static _Atomic pid_t *chaos_pids;

static int chaos_task(pp_task *t, const void *arg, size_t len)
{
    (void)len;
    atomic_store(&chaos_pids[pp_worker_id()], getpid());
    long n = *(const long *)arg;
    uint64_t x = (uint64_t)n;
    for (int i = 0; i < 10000; i++) /* ~10 us of work, so kills land mid-task too */
        x = x * 6364136223846793005u + 1442695040888963407u;
    long out[2] = {n * n, (long)(x >> 1)};
    return pp_task_return(t, out, sizeof out);
}

static void *killer(void *p)
{
    struct chaos *c = p;
    unsigned seed = 12345;
    while (!atomic_load(&c->stop)) {
        struct timespec ts = {0, 1000000 + rand_r(&seed) % 3000000}; /* every 1-4 ms */
        nanosleep(&ts, NULL);
        pid_t pid = atomic_load(&c->pids[rand_r(&seed) % (unsigned)c->workers]);
        if (pid > 0 && kill(pid, SIGKILL) == 0)
            atomic_fetch_add(&c->kills, 1);
    }
    return NULL;
}

Test(crash, chaos_loses_nothing, .timeout = 120)
{
    enum { W = 4 };
    const long N = scaled(40000);
    chaos_pids =
        mmap(NULL, W * sizeof *chaos_pids, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(chaos_pids, MAP_FAILED);
    pp_pool *pool = pool_of(W);
    struct chaos c = {.pids = chaos_pids, .workers = W};
    pthread_t th;
    pthread_create(&th, NULL, killer, &c);
    pp_future **fs = malloc((size_t)N * sizeof *fs);
    for (long i = 0; i < N; i++)
        fs[i] = submit_long(pool, chaos_task, i);
    long crashed = 0, ok = 0;
    for (long i = 0; i < N; i++) {
        const long *out;
        size_t len;
        int rc = pp_future_result(fs[i], 60, (const void **)&out, &len);
        if (rc == PP_OK) {
            cr_assert_eq(len, 2 * sizeof(long));
            if (out[0] != i * i)
                cr_assert_fail("task %ld: %ld", i, out[0]);
            ok++;
        } else {
            cr_assert_eq(rc, PP_ECRASHED, "task %ld: %s", i, pp_strerror(rc));
            crashed++;
        }
        pp_future_release(fs[i]);
    }
    atomic_store(&c.stop, true);
    pthread_join(th, NULL);
    long kills = atomic_load(&c.kills);
    free(fs);
    cr_log_info("chaos: %ld tasks, %ld kills, %ld crashed, %ld ok, lost 0", N, kills, crashed, ok);
    cr_assert_eq(ok + crashed, N);
    cr_assert_leq(crashed, kills);
    cr_assert_gt(kills, scaled(20) ? 20 : 0, "the run was long enough to kill workers");
    for (long i = 0; i < 100; i++) /* and the pool works afterwards */
        cr_assert_eq(result_long(submit_long(pool, square_task, i)), i * i);
    pp_stats st;
    OK(pp_pool_stats(pool, &st));
    cr_assert_eq(st.crashed, (uint64_t)crashed);
    pp_pool_destroy(pool);
}

Test(crash, chaos_in_map_chunks, .timeout = 120)
{
    enum { W = 3 };
    const long N = scaled(100000);
    chaos_pids =
        mmap(NULL, W * sizeof *chaos_pids, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    pp_pool *pool = pool_of(W);
    struct chaos c = {.pids = chaos_pids, .workers = W};
    pthread_t th;
    pthread_create(&th, NULL, killer, &c);
    long *in = malloc(N * sizeof *in), (*out)[2] = malloc(N * sizeof *out);
    int *status = malloc(N * sizeof *status);
    for (long i = 0; i < N; i++)
        in[i] = i;
    pp_map_opts o = {.chunksize = 500, .status = status};
    int rc = pp_map(pool, chaos_task, in, N, sizeof *in, out, sizeof *out, &o);
    atomic_store(&c.stop, true);
    pthread_join(th, NULL);
    long crashed = 0;
    for (long i = 0; i < N; i++) {
        if (status[i] == PP_ECRASHED) {
            crashed++;
            continue;
        }
        cr_assert_eq(status[i], PP_OK);
        if (out[i][0] != i * i)
            cr_assert_fail("item %ld", i);
    }
    cr_log_info("map chaos: %ld items, %ld kills, %ld crashed", N, (long)atomic_load(&c.kills), crashed);
    cr_assert_leq(crashed, atomic_load(&c.kills));
    cr_assert_eq(rc, crashed ? PP_ECRASHED : PP_OK);
    free(in);
    free(out);
    free(status);
    pp_pool_destroy(pool);
}

/* ---- processes and files left behind -------------------------------------- */

/* Entries in /dev/shm, leaving out the test runner's own (bxf*), which come
   and go as other tests run. */
static int shm_entries(void)
{
    DIR *d = opendir("/dev/shm");
    if (!d)
        return 0;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.' && strncmp(e->d_name, "bxf", 3) != 0;
    closedir(d);
    return n;
}

Test(crash, master_death_takes_every_process_with_it)
{
    int shm_before = shm_entries();
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    pid_t master = fork();
    if (master == 0) {
        pp_pool *pool;
        pp_config cfg = {.max_workers = 3};
        if (pp_pool_create(&pool, &cfg) != PP_OK)
            _exit(1);
        pid_t pids[4] = {0};
        for (int i = 0; i < 3; i++) {
            pp_future *f;
            long v = 0;
            const void *data;
            pp_submit(pool, forever_task, &v, sizeof v, &f); /* keeps each worker busy */
            (void)data;
        }
        children_of(getpid(), pids, 1); /* the spawner */
        pid_t workers[3];
        int n = 0;
        while (n < 3)
            n = children_of(pids[0], workers, 3);
        memcpy(pids + 1, workers, sizeof workers);
        if (write(fds[1], pids, sizeof pids) != sizeof pids)
            _exit(2);
        for (;;)
            pause();
    }
    pid_t pids[4];
    cr_assert_eq(read(fds[0], pids, sizeof pids), sizeof pids);
    kill(master, SIGKILL);
    waitpid(master, NULL, 0);
    double t0 = now_s();
    for (int i = 0; i < 4; i++)
        EVENTUALLY(process_gone(pids[i]), slack(5));
    if (!instrumented()) /* valgrind's exit-time leak scan alone takes longer */
        cr_assert_lt(now_s() - t0, 1.0, "spawner and workers exit within a second");
    cr_assert_eq(shm_entries(), shm_before, "nothing left in /dev/shm");
}

Test(crash, destroy_reaps_everything)
{
    int shm_before = shm_entries();
    pid_t before[64];
    int nbefore = children_of(getpid(), before, 64);
    pp_pool *pool = pool_of(3);
    pid_t spawner[2];
    cr_assert_eq(children_of(getpid(), spawner, 2), nbefore + 1);
    long pids[20];
    for (int i = 0; i < 20; i++)
        pids[i] = result_long(submit_long(pool, pid_task, 0));
    pp_pool_destroy(pool);
    cr_assert_eq(children_of(getpid(), spawner, 2), nbefore, "the spawner was reaped");
    for (int i = 0; i < 20; i++)
        cr_assert(process_gone((pid_t)pids[i]));
    cr_assert_eq(shm_entries(), shm_before);
}

Test(crash, a_killed_spawner_breaks_the_pool_cleanly)
{
    gates_init();
    pp_pool *pool = pool_of(2);
    pp_future *running = submit_long(pool, block_task, 1);
    wait_started(1);
    pp_future *queued[2000];
    for (long i = 0; i < 2000; i++)
        queued[i] = submit_long(pool, block_task, i);
    pid_t spawner[2];
    cr_assert_eq(children_of(getpid(), spawner, 2), 1);
    cr_assert_eq(kill(spawner[0], SIGKILL), 0);
    cr_assert_eq(pp_future_result(running, 30, NULL, NULL), PP_EBROKEN);
    for (int i = 0; i < 2000; i++)
        cr_assert_eq(pp_future_result(queued[i], 30, NULL, NULL), PP_EBROKEN);
    pp_future *f;
    cr_assert_eq(pp_submit(pool, square_task, &(long){1}, sizeof(long), &f), PP_EBROKEN);
    pp_pool_destroy(pool);
}

static void *pool_lives(void *arg)
{
    long *errors = arg;
    long rounds = scaled(5) ? 5 : 1; /* one under valgrind, where each process starts slowly */
    for (long i = 0; i < rounds; i++) {
        pp_pool *pool;
        pp_future *f;
        const void *data;
        if (pp_pool_create(&pool, &(pp_config){.max_workers = 1}) != PP_OK) {
            (*errors)++;
            continue;
        }
        if (pp_submit(pool, square_task, &i, sizeof i, &f) != PP_OK ||
            pp_future_result(f, 30, &data, NULL) != PP_OK || *(const long *)data != i * i)
            (*errors)++;
        pp_pool_destroy(pool); /* must not wait on a spawner of another pool */
    }
    return NULL;
}

Test(crash, pools_made_and_destroyed_in_parallel_threads_stay_independent)
{
    pp_pool *outer = pool_of(1);
    pthread_t th[3];
    long errors[3] = {0};
    for (int i = 0; i < 3; i++)
        pthread_create(&th[i], NULL, pool_lives, &errors[i]);
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(errors[i], 0, "thread %d", i);
    }
    cr_assert_eq(result_long(submit_long(outer, square_task, 3)), 9);
    pp_pool_destroy(outer);
}

/* ---- the program's own children ------------------------------------------- */

Test(crash, the_programs_children_stay_its_own)
{
    struct sigaction before, after;
    sigaction(SIGCHLD, NULL, &before);
    pid_t early = fork();
    if (early == 0) {
        char c;
        read(gate[0], &c, 1);
        _exit(7);
    }
    gates_init();
    pp_pool *pool = pool_of(2);
    pid_t late = fork();
    if (late == 0)
        _exit(9);
    for (long i = 0; i < 100; i++)
        cr_assert_eq(result_long(submit_long(pool, square_task, i)), i * i);
    int status;
    cr_assert_eq(waitpid(late, &status, 0), late, "a child forked after the pool is still ours to reap");
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 9);
    kill(early, SIGKILL);
    cr_assert_eq(waitpid(early, &status, 0), early, "a child forked before the pool is still ours to reap");
    cr_assert_eq(WEXITSTATUS(system("exit 3")), 3, "system() works while a pool exists");
    cr_assert_eq(result_long(submit_long(pool, square_task, 12)), 144);
    sigaction(SIGCHLD, NULL, &after);
    cr_assert_eq(before.sa_handler, after.sa_handler, "no SIGCHLD handler installed");
    pp_pool_destroy(pool);
}

/* ---- bad input --------------------------------------------------------- */

Test(crash, bad_input_gets_einval)
{
    pp_pool *pool = pool_of(1);
    pp_future *f = NULL;
    long v = 1;
    cr_assert_eq(pp_submit(NULL, square_task, &v, sizeof v, &f), PP_EINVAL);
    cr_assert_eq(pp_submit(pool, NULL, &v, sizeof v, &f), PP_EINVAL);
    cr_assert_eq(pp_submit(pool, square_task, &v, sizeof v, NULL), PP_EINVAL);
    cr_assert_eq(pp_submit(pool, square_task, NULL, 8, &f), PP_EINVAL);
    OK(pp_submit(pool, echo_task, NULL, 0, &f));
    cr_assert_eq(pp_future_result(NULL, 1, NULL, NULL), PP_EINVAL);
    cr_assert_eq(pp_future_exception(NULL, 1, NULL, NULL), PP_EINVAL);
    cr_assert_eq(pp_future_cancel(NULL), PP_EINVAL);
    cr_assert_not(pp_future_done(NULL));
    cr_assert_not(pp_future_running(NULL));
    cr_assert_not(pp_future_cancelled(NULL));
    pp_future_release(NULL);
    cr_assert_eq(pp_shutdown(NULL, true, false), PP_EINVAL);
    cr_assert_eq(pp_pool_stats(NULL, NULL), PP_EINVAL);
    cr_assert_eq(pp_pool_stats(pool, NULL), PP_EINVAL);
    cr_assert_eq(pp_pool_max_workers(NULL), PP_EINVAL);
    pp_future *g;
    cr_assert_eq(pp_as_completed_begin(&f, 1, 1, NULL), PP_EINVAL);
    cr_assert_eq(pp_as_completed_next(NULL, &g), PP_EINVAL);
    pp_as_completed_end(NULL);
    pp_pool_destroy(NULL);
    cr_assert_eq(pp_task_return(NULL, &v, 1), PP_EINVAL);
    cr_assert_null(pp_task_result_buffer(NULL, 1));
    OK(pp_future_result(f, 30, NULL, NULL));
    pp_pool_destroy(pool);
}

Test(crash, failing_mmap_is_esys)
{
    if (instrumented())
        cr_skip_test("the address-space limit would starve the instrumentation");
    /* 64 MiB more than the process maps now: far below any arena, room for the heap */
    unsigned long pages = 0;
    FILE *fp = fopen("/proc/self/statm", "r");
    cr_assert(fp && fscanf(fp, "%lu", &pages) == 1);
    fclose(fp);
    rlim_t now = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE);
    struct rlimit lim = {now + (64 << 20), now + (64 << 20)};
    cr_assert_eq(setrlimit(RLIMIT_AS, &lim), 0);
    pp_pool *pool = (pp_pool *)1;
    cr_assert_eq(pp_pool_create(&pool, NULL), PP_ESYS);
    cr_assert_eq(errno, ENOMEM);
    cr_assert_null(pool);
}

static void fork_limited(rlim_t procs)
{
    /* as an unprivileged user, with room for `procs` processes in all */
    cr_assert_eq(setgid(65534), 0);
    cr_assert_eq(setuid(65534), 0);
    struct rlimit lim = {procs, procs};
    cr_assert_eq(setrlimit(RLIMIT_NPROC, &lim), 0);
}

Test(crash, failing_fork_is_esys_and_leaves_nothing)
{
    if (getuid() != 0)
        cr_skip_test("needs root to drop to another user");
    int shm_before = shm_entries();
    fork_limited(2); /* this process and the spawner: no worker can start */
    pp_pool *pool = (pp_pool *)1;
    pp_config cfg = {.max_workers = 2};
    cr_assert_eq(pp_pool_create(&pool, &cfg), PP_ESYS);
    cr_assert_eq(errno, EAGAIN);
    cr_assert_null(pool);
    pid_t kids[4];
    cr_assert_eq(children_of(getpid(), kids, 4), 0, "the spawner is gone");
    cr_assert_eq(shm_entries(), shm_before);
}
