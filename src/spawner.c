/* SPDX-License-Identifier: MIT */
/*
 * spawner: the fork server of one pool. pp__spawner_start forks it; from then
 * on it is the only process that forks the pool's workers, so the master
 * (which may have many threads) never forks again.
 *
 * Fork safety. The spawner may be forked from a process that already has
 * threads (the program's, other pools' monitors); a lock one of them held at
 * that instant stays held in the copy. So the spawner's own code calls only
 * async-signal-safe system calls (close, munmap, pipe2, sigaction,
 * sigprocmask, poll, read, send, fork, waitid, wait4, kill, prctl, setpgid,
 * getppid, getsid, open, getdents64, futex): no malloc, no stdio, no lock.
 * Everything it needs (its pid table, its report queue) is allocated by the
 * master before the fork. Its workers run the program's code, as any
 * fork-started worker does.
 *
 * Isolation. The spawner closes the channels of every other live pool of the
 * process and unmaps their shared regions, so its workers can neither keep
 * another pool's memory resident nor write into it.
 *
 * Loop. One poll() over the command channel and a self-pipe written by its
 * SIGCHLD handler (a plain self-pipe: valgrind delivers neither a signalfd
 * nor ppoll()'s mask). Reports (started, exited, failed, stopped) go into a
 * queue sent without blocking, so the spawner always goes on reading commands
 * and the master can never block against it, however many workers start at
 * once. After each batch of reports it kicks the master's monitor through
 * the pool's shared memory. It exits on SPAWN_EXIT, on EOF of the command
 * channel, or when its parent (the master) is gone, killing every worker
 * first: a child of the program that inherited the channel cannot keep it.
 *
 * Each worker leads its own process group, and the group dies with it: when
 * a worker exits, however (a crash, a kill, or a normal exit at shutdown or
 * at max_tasks_per_child), SIGKILL goes to its group while it is still a
 * zombie, so processes its tasks started die with it (a child that called
 * setsid() has left the group: that is the documented way to outlive a
 * worker). The spawner is a child subreaper (PR_SET_CHILD_SUBREAPER), so
 * those processes are reparented to it and reaped here; before it exits it
 * waits (boundedly) until every group it killed is empty, so when
 * pp_pool_destroy returns nothing a task started is still running; at exit
 * it also kills what was reparented to it from its own session (a child
 * that made a group of its own with setpgid). Workers
 * die with the spawner through PR_SET_PDEATHSIG, reliable here because the
 * spawner has a single thread.
 */
#define _GNU_SOURCE
#include "spawner.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "procfs.h"
#include "procpool.h"
#include "shm.h"

#define PARENT_CHECK_MS 1000 /* how often an idle spawner looks for its parent */
#define DRAIN_MS        5000 /* the longest the spawner waits at exit for killed groups to empty */
#define DRAIN_POLL_MS   10   /* how often it looks meanwhile (a reaped child wakes it sooner) */

/* Every live link of this process. Making a link's channels, forking its
   spawner and registering it happen under this lock, so no spawner is forked
   between the first and the last, and each sees every other pool. */
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pp_spawner_link *registry;

struct spawner {
    struct pp_worker_cfg worker;
    uint32_t nworkers;
    int cmd_fd, report_fd;
    int wake[2]; /* self-pipe: SIGCHLD arrived */
    pid_t self, parent;
    sigset_t worker_mask;         /* the master's mask when the pool was made */
    struct sigaction worker_chld; /* the program's SIGCHLD disposition */
    pid_t *pids;                  /* worker index -> pid, 0: none */
    pid_t *groups;                /* groups killed that may still have members */
    uint32_t ngroups, groups_cap;
    struct pp_report *queue; /* reports not yet sent, a ring */
    uint32_t qhead, qlen, qcap;
};

/* ---- reports -------------------------------------------------------------- */

static void flush_reports(struct spawner *sp, int block)
{
    while (sp->qlen) {
        ssize_t n = send(sp->report_fd, &sp->queue[sp->qhead], sizeof(struct pp_report),
                         MSG_NOSIGNAL | (block ? 0 : MSG_DONTWAIT));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n < 0) { /* the master is gone: nobody to tell */
            sp->qlen = 0;
            return;
        }
        sp->qhead = (sp->qhead + 1) % sp->qcap;
        sp->qlen--;
    }
}

static void report_full(struct spawner *sp, const struct pp_report *r)
{
    if (sp->qlen == sp->qcap) /* only a flood of stop/continue events gets here */
        flush_reports(sp, 1);
    if (sp->qlen == sp->qcap)
        return;
    sp->queue[(sp->qhead + sp->qlen++) % sp->qcap] = *r;
}

static void report(struct spawner *sp, int kind, int w, int pid, int status)
{
    report_full(sp, &(struct pp_report){.kind = kind, .worker = w, .pid = pid, .status = status});
}

/* ---- workers -------------------------------------------------------------- */

static void start_worker(struct spawner *sp, uint32_t w)
{
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
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != sp->self)
            _exit(1);
        if (setpgid(0, 0) != 0 && getpgid(0) != getpid())
            _exit(1); /* without its own group, a deadline kill could reach others */
        sigaction(SIGCHLD, &sp->worker_chld, NULL);
        /* a worker leads its own group, so it is a background job of the
           program's terminal: a task that reads it gets EIO, one that writes
           it under `stty tostop` writes, instead of being stopped for good */
        signal(SIGTTIN, SIG_IGN);
        signal(SIGTTOU, SIG_IGN);
        sigprocmask(SIG_SETMASK, &sp->worker_mask, NULL);
        pp__worker_main(&sp->worker, w);
    }
    setpgid(pid, pid); /* also done by the worker, which checks it: whichever runs first wins */
    sp->pids[w] = pid;
    report(sp, REPORT_STARTED, (int)w, pid, 0);
}

static int worker_of(const struct spawner *sp, pid_t pid)
{
    for (uint32_t w = 0; w < sp->nworkers; w++)
        if (sp->pids[w] == pid)
            return (int)w;
    return -1;
}

/* Remembers a killed group until it is empty (the oldest is forgotten when
   the table is full: it only bounds the wait at exit). */
static void note_group(struct spawner *sp, pid_t pgid)
{
    if (sp->ngroups == sp->groups_cap) {
        for (uint32_t i = 1; i < sp->ngroups; i++)
            sp->groups[i - 1] = sp->groups[i];
        sp->ngroups--;
    }
    sp->groups[sp->ngroups++] = pgid;
}

/* Forgets the groups that have emptied; kills what is left of the others.
   Returns how many still have members. */
static uint32_t sweep_groups(struct spawner *sp)
{
    uint32_t kept = 0;
    for (uint32_t i = 0; i < sp->ngroups; i++) {
        pid_t g = sp->groups[i];
        if (worker_of(sp, g) < 0 && (kill(-g, SIGKILL) == 0 || errno != ESRCH)) /* not a new worker's */
            sp->groups[kept++] = g;
    }
    sp->ngroups = kept;
    return kept;
}

/* Reaps exited workers, and the orphans of their groups that were
   reparented here, and reports stops. A worker's group is killed while the
   worker is still a zombie: until it is reaped, neither its pid nor its
   group id can be reused. */
static bool any_worker(const struct spawner *sp)
{
    for (uint32_t w = 0; w < sp->nworkers; w++)
        if (sp->pids[w] > 0)
            return true;
    return false;
}

/* flags: WNOHANG, or 0 to wait until every worker is reaped (never for an
   orphan that left the group: it may live on). */
static void reap(struct spawner *sp, int flags)
{
    for (;;) {
        siginfo_t si = {0};
        if (!(flags & WNOHANG) && !any_worker(sp))
            break;
        if (waitid(P_ALL, 0, &si, WEXITED | WNOWAIT | flags) != 0 || si.si_pid == 0)
            break;
        pid_t pid = si.si_pid;
        int w = worker_of(sp, pid);
        if (w >= 0) {
            kill(-pid, SIGKILL); /* what its tasks left running in its group */
            note_group(sp, pid);
        }
        int status = 0;
        struct rusage ru = {0};
        while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR)
            ;
        if (w >= 0) {
            sp->pids[w] = 0;
            report_full(sp, &(struct pp_report){
                                .kind = REPORT_EXITED,
                                .worker = w,
                                .pid = pid,
                                .status = status,
                                .user_us = (int64_t)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec,
                                .sys_us = (int64_t)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec,
                                .maxrss_kb = ru.ru_maxrss});
        }
    }
    for (;;) {
        siginfo_t si = {0};
        if (waitid(P_ALL, 0, &si, WSTOPPED | WCONTINUED | WNOHANG) != 0 || si.si_pid == 0)
            break;
        int w = worker_of(sp, si.si_pid);
        if (w >= 0)
            report(sp, REPORT_STOPPED, w, si.si_pid, si.si_code != CLD_CONTINUED);
    }
}

/* The pid a /proc entry names, or 0. */
static pid_t proc_pid(const char *name)
{
    pid_t pid = 0;
    for (; *name; name++) {
        if (*name < '0' || *name > '9' || pid > 100000000)
            return 0;
        pid = pid * 10 + (*name - '0');
    }
    return pid;
}

/* Whether pid's parent is this process (its /proc stat, read raw: no
   allocation here). */
static int my_child(pid_t pid, pid_t self)
{
    char path[48] = "/proc/", buf[512];
    int at = 6;
    char digits[16];
    int nd = 0;
    for (pid_t v = pid; v && nd < 15; v /= 10)
        digits[nd++] = (char)('0' + v % 10);
    while (nd)
        path[at++] = digits[--nd];
    const char *tail = "/stat";
    while (*tail)
        path[at++] = *tail++;
    path[at] = 0;
    size_t n = pp__read_file(path, buf, sizeof buf);
    if (n == 0)
        return 0;
    char *p = buf + n;
    while (p > buf && *p != ')') /* the command name may hold anything */
        p--;
    if (p[0] != ')' || p[1] != ' ' || !p[2] || p[3] != ' ')
        return 0;
    pid_t parent = 0;
    for (p += 4; *p >= '0' && *p <= '9'; p++)
        parent = parent * 10 + (*p - '0');
    return parent == self;
}

/* At exit: what tasks started and left, reparented here (we are a
   subreaper), and still in our session, is killed with its group: only a
   process that called setsid() outlives its pool, as documented. */
static void end_orphans(struct spawner *sp)
{
    struct dirent64 {
        uint64_t ino;
        int64_t off;
        unsigned short reclen;
        unsigned char type;
        char name[];
    };
    pid_t sid = getsid(0);
    int fd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return;
    char buf[4096];
    long n;
    while ((n = syscall(SYS_getdents64, fd, buf, sizeof buf)) > 0)
        for (long off = 0; off < n;) {
            struct dirent64 *d = (struct dirent64 *)(void *)(buf + off);
            off += d->reclen;
            pid_t pid = proc_pid(d->name);
            if (pid > 0 && getsid(pid) == sid && my_child(pid, sp->self)) {
                kill(-pid, SIGKILL); /* if it made a group of its own */
                kill(pid, SIGKILL);
                note_group(sp, pid);
            }
        }
    close(fd);
}

/* At exit: until every killed group is empty (or DRAIN_MS have passed),
   reaps what comes back and kills what is left. */
static void drain_groups(struct spawner *sp)
{
    for (int waited = 0; sweep_groups(sp) && waited < DRAIN_MS; waited += DRAIN_POLL_MS) {
        struct pollfd p = {.fd = sp->wake[0], .events = POLLIN};
        if (poll(&p, 1, DRAIN_POLL_MS) > 0) {
            char buf[64];
            while (read(sp->wake[0], buf, sizeof buf) > 0)
                ;
        }
        reap(sp, WNOHANG);
    }
}

static void kill_all(struct spawner *sp, int sig)
{
    for (uint32_t w = 0; w < sp->nworkers; w++)
        if (sp->pids[w] > 0)
            kill(sp->pids[w], sig);
}

/* Runs one command; false when the spawner must exit. */
static int command(struct spawner *sp, const struct pp_spawn_msg *m)
{
    if (m->op == SPAWN_EXIT)
        return 0;
    if (m->op == SPAWN_KILL_ALL) {
        kill_all(sp, m->arg);
        return 1;
    }
    if (m->worker < 0 || (uint32_t)m->worker >= sp->nworkers)
        return 1;
    pid_t pid = sp->pids[m->worker];
    if (m->op == SPAWN_START && pid == 0)
        start_worker(sp, (uint32_t)m->worker);
    else if (m->op == SPAWN_KILL && pid > 0)
        kill(-pid, m->arg); /* the worker and everything its task started */
    return 1;
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
    int run = 1;
    while (run) {
        /* POLLOUT on the report channel only while reports wait to be sent */
        struct pollfd fds[3] = {{.fd = sp->cmd_fd, .events = POLLIN},
                                {.fd = sp->wake[0], .events = POLLIN},
                                {.fd = sp->report_fd, .events = POLLOUT}};
        int ready = poll(fds, sp->qlen ? 3 : 2, PARENT_CHECK_MS);
        if (getppid() != sp->parent)
            break; /* the master died; a child of it may hold the channel */
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
                run = 0;
            for (ssize_t i = 0; run && i < n / (ssize_t)sizeof m[0]; i++)
                run = command(sp, &m[i]);
        }
        uint32_t before = sp->qlen;
        flush_reports(sp, 0);
        if (sp->qlen != before)
            pp__shm_kick(sp->worker.lay.shm);
        if (sp->ngroups)
            sweep_groups(sp);
    }
    /* the master is done or gone: no worker outlives it */
    for (uint32_t w = 0; w < sp->nworkers; w++) {
        pid_t pid = sp->pids[w];
        if (pid > 0) {
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
        }
    }
    reap(sp, 0);
    end_orphans(sp);
    drain_groups(sp);
    flush_reports(sp, 1);
    close(sp->report_fd); /* end-of-file for the master, then the kick that makes it look */
    pp__shm_kick(sp->worker.lay.shm);
    _exit(0);
}

/* In the new spawner: keep nothing of the process's other pools. */
static void leave_other_pools(const struct pp_spawner_link *self)
{
    for (const struct pp_spawner_link *l = registry; l; l = l->next) {
        if (l == self)
            continue;
        close(l->cmd_fd);
        close(l->report_fd);
        if (l->map)
            munmap(l->map, l->map_size);
    }
}

static _Noreturn void become_spawner(struct spawner *sp, const struct pp_spawner_link *link, int cmd_read,
                                     int report_write)
{
    close(link->cmd_fd);
    close(link->report_fd);
    leave_other_pools(link);
    sp->cmd_fd = cmd_read;
    sp->report_fd = report_write;
    if (pipe2(sp->wake, O_CLOEXEC | O_NONBLOCK) != 0)
        _exit(1);
    sigchld_pipe = sp->wake[1];
    sp->self = getpid();
    prctl(PR_SET_CHILD_SUBREAPER, 1); /* what a worker's tasks leave behind comes back here */
    /* our own handler, in our own process (a program's SIG_IGN would also hide
       exit statuses); workers get the program's disposition back. Stops are
       reported too: destroy must end a stopped worker. */
    struct sigaction chld = {.sa_handler = on_sigchld, .sa_flags = SA_RESTART};
    sigfillset(&chld.sa_mask);
    sigaction(SIGCHLD, &chld, NULL);
    sigset_t only_chld;
    sigemptyset(&only_chld);
    sigaddset(&only_chld, SIGCHLD);
    sigprocmask(SIG_UNBLOCK, &only_chld, NULL);
    spawner_main(sp);
}

static void close_pair(int fds[2])
{
    close(fds[0]);
    close(fds[1]);
}

/* The channels are socket pairs, not pipes: a message to a spawner that has
   died fails with EPIPE instead of raising SIGPIPE in the program
   (MSG_NOSIGNAL), and message boundaries hold. */
int pp__spawner_start(struct pp_spawner_link *link, const struct pp_worker_cfg *worker, uint32_t nworkers)
{
    struct spawner sp = {.worker = *worker, .nworkers = nworkers, .parent = getpid()};
    sp.qcap = 4 * nworkers + 64; /* a start, a stop, a continue, an exit per worker */
    sp.groups_cap = 2 * nworkers + 16;
    sp.pids = calloc(nworkers, sizeof *sp.pids);
    sp.groups = calloc(sp.groups_cap, sizeof *sp.groups);
    sp.queue = malloc(sp.qcap * sizeof *sp.queue);
    if (!sp.pids || !sp.groups || !sp.queue) {
        free(sp.pids);
        free(sp.groups);
        free(sp.queue);
        return PP_ENOMEM;
    }
    int cmd[2], rep[2], rc = PP_ESYS;
    pthread_mutex_lock(&registry_lock);
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, cmd) != 0)
        goto out;
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, rep) != 0) {
        close_pair(cmd);
        goto out;
    }
    if (fcntl(rep[0], F_SETFL, O_NONBLOCK) != 0) {
        close_pair(cmd);
        close_pair(rep);
        goto out;
    }
    link->cmd_fd = cmd[1];
    link->report_fd = rep[0];
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &sp.worker_mask);
    sigaction(SIGCHLD, NULL, &sp.worker_chld);
    pid_t pid = fork();
    if (pid == 0)
        become_spawner(&sp, link, cmd[0], rep[1]);
    int saved = errno;
    pthread_sigmask(SIG_SETMASK, &sp.worker_mask, NULL);
    close(cmd[0]);
    close(rep[1]);
    if (pid < 0) {
        close(cmd[1]);
        close(rep[0]);
        link->cmd_fd = link->report_fd = -1;
        errno = saved;
        goto out;
    }
    link->pid = pid;
    link->next = registry;
    registry = link;
    rc = PP_OK;
out:
    saved = errno;
    pthread_mutex_unlock(&registry_lock);
    free(sp.pids);
    free(sp.groups);
    free(sp.queue);
    errno = saved;
    return rc;
}

int pp__spawner_send(struct pp_spawner_link *link, int op, int worker, int arg)
{
    if (link->cmd_fd < 0)
        return PP_ESYS;
    struct pp_spawn_msg m = {op, worker, arg};
    ssize_t n;
    do
        n = send(link->cmd_fd, &m, sizeof m, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n == sizeof m ? PP_OK : PP_ESYS;
}

/* Closes *fd and sets it to -1, clearing it first under the registry lock: a
   spawner forked meanwhile must never see a number already free for reuse. */
static void close_link_fd(int *fd)
{
    int old = *fd;
    *fd = -1;
    if (old >= 0)
        close(old);
}

void pp__spawner_dismiss(struct pp_spawner_link *link)
{
    pthread_mutex_lock(&registry_lock);
    pp__spawner_send(link, SPAWN_EXIT, 0, 0);
    close_link_fd(&link->cmd_fd);
    pthread_mutex_unlock(&registry_lock);
}

void pp__spawner_stop(struct pp_spawner_link *link)
{
    pthread_mutex_lock(&registry_lock);
    for (struct pp_spawner_link **p = &registry; *p; p = &(*p)->next)
        if (*p == link) {
            *p = link->next;
            break;
        }
    pp__spawner_send(link, SPAWN_EXIT, 0, 0);
    close_link_fd(&link->cmd_fd);
    close_link_fd(&link->report_fd);
    pthread_mutex_unlock(&registry_lock);
    if (link->pid > 0)
        while (waitpid(link->pid, NULL, 0) < 0 && errno == EINTR)
            ;
    link->pid = 0;
}
