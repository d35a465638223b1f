/*
 * spawner: the fork server. pp_pool_create forks it before the library starts
 * any thread; from then on it is the only process that forks workers, so the
 * master (which may have many threads) never forks again.
 *
 * It is single-threaded and runs one poll() loop over the command channel
 * from the master (start worker w, signal worker w, signal all) and a
 * self-pipe that its SIGCHLD handler writes to. (The plain self-pipe, rather
 * than a signalfd or ppoll()'s signal mask: valgrind delivers neither.) All
 * other signals stay blocked. It reports every start and every death (pid and
 * wait status) on the report channel. The master holds the only other end of
 * the command channel, so EOF there means the master is gone or done: the spawner
 * kills every worker it has and exits. Each worker leads its own process
 * group, so a worker that dies abnormally (or is killed for a deadline) is
 * followed by a SIGKILL to its group: processes its task started die with it.
 * Workers die with the spawner through PR_SET_PDEATHSIG, which is reliable
 * here because the spawner has a single thread.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pool.h"

/* Every live pool of this process, so that a new spawner can close the
   descriptors of the others and not keep their channels open. Making a pool's
   channels, forking its spawner and registering it happen under this lock
   (see pool.c), so no spawner is forked between the first and the last. */
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static pp_pool *registry;

void pp_registry_lock(void)
{
    pthread_mutex_lock(&registry_lock);
}

void pp_registry_unlock(void)
{
    pthread_mutex_unlock(&registry_lock);
}

void pp_registry_add(pp_pool *pool) /* under the lock */
{
    pool->registry_next = registry;
    registry = pool;
}

void pp_registry_remove(pp_pool *pool)
{
    pthread_mutex_lock(&registry_lock);
    for (pp_pool **p = &registry; *p; p = &(*p)->registry_next)
        if (*p == pool) {
            *p = pool->registry_next;
            break;
        }
    pthread_mutex_unlock(&registry_lock);
}

static void close_other_pools(pp_pool *self)
{
    for (pp_pool *p = registry; p; p = p->registry_next) {
        if (p != self) {
            close(p->cmd_fd);
            close(p->report_fd);
            close(p->event_fd);
        }
    }
}

struct spawner {
    pp_pool *pool;
    int cmd_fd, report_fd;
    int wake[2]; /* self-pipe: SIGCHLD arrived */
    pid_t self;
    sigset_t worker_mask;         /* the master's mask when the pool was made */
    struct sigaction worker_chld; /* the program's SIGCHLD disposition */
};

static void report(struct spawner *sp, int kind, int w, int pid, int status)
{
    struct pp_report r = {kind, w, pid, status};
    ssize_t n;
    do
        n = send(sp->report_fd, &r, sizeof r, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
}

static void start_worker(struct spawner *sp, uint32_t w)
{
    pp_pool *pool = sp->pool;
    pid_t pid = fork();
    if (pid < 0) {
        report(sp, REPORT_FAILED, (int)w, 0, errno);
        return;
    }
    if (pid == 0) {
        close(sp->cmd_fd);
        close(sp->report_fd);
        close(sp->wake[0]);
        close(sp->wake[1]);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != sp->self)
            _exit(1);
        setpgid(0, 0);
        sigaction(SIGCHLD, &sp->worker_chld, NULL);
        sigprocmask(SIG_SETMASK, &sp->worker_mask, NULL);
        pp_worker_main(pool, w);
    }
    setpgid(pid, pid); /* also done by the child: whichever runs first wins */
    pool->workers[w].pid = pid;
    report(sp, REPORT_STARTED, (int)w, pid, 0);
}

static int worker_of(struct spawner *sp, pid_t pid)
{
    for (uint32_t w = 0; w < sp->pool->nworkers; w++)
        if (sp->pool->workers[w].pid == pid)
            return (int)w;
    return -1;
}

/* Reaps exited workers. A worker that died abnormally is followed by SIGKILL
   to its process group, sent while it is still a zombie: until it is reaped,
   neither its pid nor its group id can be reused. */
static void reap(struct spawner *sp, int flags)
{
    for (;;) {
        siginfo_t si = {0};
        if (waitid(P_ALL, 0, &si, WEXITED | WNOWAIT | flags) != 0 || si.si_pid == 0)
            return;
        pid_t pid = si.si_pid;
        if (!(si.si_code == CLD_EXITED && si.si_status == 0))
            kill(-pid, SIGKILL); /* what the task left running in its group */
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
        int w = worker_of(sp, pid);
        if (w >= 0) {
            sp->pool->workers[w].pid = 0;
            report(sp, REPORT_EXITED, w, pid, status);
        }
    }
}

static void command(struct spawner *sp, const struct pp_spawn_msg *m)
{
    pp_pool *pool = sp->pool;
    if (m->op == SPAWN_KILL_ALL) {
        for (uint32_t w = 0; w < pool->nworkers; w++)
            if (pool->workers[w].pid > 0)
                kill(pool->workers[w].pid, m->arg);
        return;
    }
    if (m->worker < 0 || (uint32_t)m->worker >= pool->nworkers)
        return;
    pid_t pid = pool->workers[m->worker].pid;
    if (m->op == SPAWN_START && pid == 0)
        start_worker(sp, (uint32_t)m->worker);
    else if (m->op == SPAWN_KILL && pid > 0)
        kill(-pid, m->arg); /* the worker and everything its task started */
}

static int sigchld_pipe = -1;

static void on_sigchld(int sig)
{
    (void)sig;
    int saved = errno;
    ssize_t n = write(sigchld_pipe, "c", 1); /* a full pipe is wake-up enough */
    (void)n;
    errno = saved;
}

static _Noreturn void spawner_main(struct spawner *sp)
{
    struct pollfd fds[2] = {{.fd = sp->cmd_fd, .events = POLLIN}, {.fd = sp->wake[0], .events = POLLIN}};
    for (;;) {
        int ready = poll(fds, 2, -1);
        if (ready > 0 && fds[1].revents) {
            char buf[64];
            while (read(sp->wake[0], buf, sizeof buf) > 0)
                ;
        }
        reap(sp, WNOHANG);
        if (ready > 0 && fds[0].revents) {
            struct pp_spawn_msg m[64];
            ssize_t n = read(sp->cmd_fd, m, sizeof m);
            if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
                break;
            for (ssize_t i = 0; i < n / (ssize_t)sizeof m[0]; i++)
                command(sp, &m[i]);
        }
    }
    /* the master is done or gone: no worker outlives it */
    for (uint32_t w = 0; w < sp->pool->nworkers; w++) {
        pid_t pid = sp->pool->workers[w].pid;
        if (pid > 0) {
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
        }
    }
    reap(sp, 0);
    _exit(0);
}

int pp_spawner_fork(pp_pool *pool, int cmd_read, int report_write)
{
    struct spawner sp = {.pool = pool, .cmd_fd = cmd_read, .report_fd = report_write};
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &sp.worker_mask);
    sigaction(SIGCHLD, NULL, &sp.worker_chld);
    pid_t pid = fork(); /* the caller holds the registry lock */
    int saved = errno;
    if (pid != 0) {
        pthread_sigmask(SIG_SETMASK, &sp.worker_mask, NULL);
        errno = saved;
        return pid;
    }
    /* the spawner: every signal but SIGCHLD stays blocked */
    close(pool->cmd_fd);
    close(pool->report_fd);
    close_other_pools(pool);
    if (pipe2(sp.wake, O_CLOEXEC | O_NONBLOCK) != 0)
        _exit(1);
    sigchld_pipe = sp.wake[1];
    /* our own handler, in our own process (a program's SIG_IGN would also hide
       exit statuses); workers get the program's disposition back */
    struct sigaction chld = {.sa_handler = on_sigchld, .sa_flags = SA_NOCLDSTOP | SA_RESTART};
    sigfillset(&chld.sa_mask);
    sigaction(SIGCHLD, &chld, NULL);
    sigset_t only_chld;
    sigemptyset(&only_chld);
    sigaddset(&only_chld, SIGCHLD);
    sigprocmask(SIG_UNBLOCK, &only_chld, NULL);
    sp.self = getpid();
    spawner_main(&sp);
}
