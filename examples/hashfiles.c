/* SPDX-License-Identifier: MIT */
/*
 * hashfiles: prints a hash of every regular file under a folder, as
 * `sha256sum` prints its sums (FNV-1a, 64 bits, here), walking the tree
 * lazily: the walk is the streaming map's pull function, a stack of open
 * directories read one entry at a time, so the first hashes come out before
 * the walk has gone far, and memory stays bounded by the window however
 * large the tree. Symbolic links are not followed.
 *
 * Each file is one item (its path, copied by the library before the next
 * pull, so the walk reuses one buffer); chunks of 16 files go to a worker,
 * and every file has a deadline of its own, counted from its own start: a
 * file that stalls (a hung network mount) is reported and the walk goes
 * on. Output is in walk order; the paths of the items in flight are kept in
 * a ring as large as the window, which is all the master ever holds.
 *
 *   hashfiles [folder [deadline-seconds]]      (default: /usr/include, 10 s)
 *
 * Hashes go to stdout, failures and a summary to stderr; exits 1 when
 * anything could not be hashed.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <procpool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define WINDOW 4096 /* files in flight, and paths the master keeps */
#define CHUNK  16   /* files to a task */

/* ---- the walk: a stack of open directories -------------------------------- */

struct frame {
    DIR *dir;
    size_t len; /* the directory's path length in walk.path */
};

struct walk {
    char *path; /* the current path, reused for every item */
    size_t cap;
    struct frame *stack;
    size_t depth, stack_cap;
    const char *root;
    bool started;
    int root_errno;              /* the root could not be read */
    size_t bad_dirs;             /* folders below it that could not be read */
    char *ring[WINDOW];          /* the paths of the items in flight, by index */
    size_t pulled;               /* items pulled so far */
};

/* Sets walk.path to the first len bytes of it plus "/" name (or name alone). */
static bool set_path(struct walk *w, size_t len, const char *name)
{
    size_t n = strlen(name), want = len + 1 + n + 1;
    if (want > w->cap) {
        size_t cap = w->cap ? w->cap : 256;
        while (cap < want)
            cap *= 2;
        char *p = realloc(w->path, cap);
        if (!p)
            return false;
        w->path = p;
        w->cap = cap;
    }
    if (len && w->path[len - 1] != '/')
        w->path[len++] = '/';
    memcpy(w->path + len, name, n + 1);
    return true;
}

/* Opens walk.path as a directory and pushes it; false if it cannot be read. */
static bool push_dir(struct walk *w)
{
    if (w->depth == w->stack_cap) {
        size_t cap = w->stack_cap ? 2 * w->stack_cap : 16;
        struct frame *s = realloc(w->stack, cap * sizeof *s);
        if (!s)
            return false;
        w->stack = s;
        w->stack_cap = cap;
    }
    DIR *d = opendir(w->path);
    if (!d)
        return false;
    w->stack[w->depth++] = (struct frame){d, strlen(w->path)};
    return true;
}

static void pop_dir(struct walk *w)
{
    struct frame *f = &w->stack[--w->depth];
    if (closedir(f->dir) != 0)
        w->bad_dirs++;
}

/* The entry's type without following links; DT_UNKNOWN if it is gone. */
static unsigned char type_of(const struct frame *f, const struct dirent *e)
{
    if (e->d_type != DT_UNKNOWN)
        return e->d_type;
    struct stat st;
    if (fstatat(dirfd(f->dir), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return DT_UNKNOWN;
    return S_ISDIR(st.st_mode) ? DT_DIR : S_ISREG(st.st_mode) ? DT_REG : DT_UNKNOWN;
}

/* Keeps a copy of the item's path for printing, in the ring slot of its index. */
static int keep(struct walk *w, pp_item *item)
{
    char **slot = &w->ring[w->pulled % WINDOW];
    free(*slot);
    if (!(*slot = strdup(w->path)))
        return PP_ENOMEM;
    w->pulled++;
    *item = (pp_item){w->path, strlen(w->path)};
    return 1;
}

/* The pull function: the next regular file of the tree. */
static int next_file(void *ud, pp_item *item)
{
    struct walk *w = ud;
    if (!w->started) {
        w->started = true;
        struct stat st;
        if (!set_path(w, 0, w->root))
            return PP_ENOMEM;
        if (lstat(w->path, &st) != 0) {
            w->root_errno = errno;
            return PP_ESYS;
        }
        if (S_ISREG(st.st_mode))
            return keep(w, item); /* a file: just it */
        if (!push_dir(w)) {
            w->root_errno = errno ? errno : ENOMEM;
            return PP_ESYS;
        }
    }
    while (w->depth) {
        struct frame *f = &w->stack[w->depth - 1];
        errno = 0;
        struct dirent *e = readdir(f->dir);
        if (!e) {
            if (errno)
                w->bad_dirs++;
            pop_dir(w);
            continue;
        }
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        unsigned char type = type_of(f, e);
        if (type != DT_DIR && type != DT_REG)
            continue;
        if (!set_path(w, f->len, e->d_name))
            return PP_ENOMEM;
        if (type == DT_REG)
            return keep(w, item);
        if (!push_dir(w)) {
            fprintf(stderr, "hashfiles: %s: %s\n", w->path, strerror(errno ? errno : ENOMEM));
            w->bad_dirs++;
        }
    }
    return 0;
}

/* ---- the task: runs in a worker -------------------------------------------- */

static int hash_file(pp_task *t, const void *arg, size_t len)
{
    char name[PATH_MAX];
    if (len >= sizeof name)
        return pp_task_fail(t, 1, "path too long");
    memcpy(name, arg, len);
    name[len] = 0;
    int fd = open(name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return pp_task_fail(t, 1, "%s", strerror(errno));
    uint64_t h = 14695981039346656037ull; /* FNV-1a */
    unsigned char buf[65536];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        for (ssize_t i = 0; i < n; i++)
            h = (h ^ buf[i]) * 1099511628211ull;
    int err = n < 0 ? errno : 0;
    if (close(fd) != 0 && !err)
        err = errno;
    if (err)
        return pp_task_fail(t, 1, "%s", strerror(err));
    return pp_task_return(t, &h, sizeof h);
}

/* ---- the master ------------------------------------------------------------ */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void free_walk(struct walk *w)
{
    while (w->depth)
        pop_dir(w);
    for (size_t i = 0; i < WINDOW; i++)
        free(w->ring[i]);
    free(w->stack);
    free(w->path);
}

int main(int argc, char **argv)
{
    static struct walk w; /* the ring is large: not on the stack */
    w.root = argc > 1 ? argv[1] : "/usr/include";
    double deadline = argc > 2 ? strtod(argv[2], NULL) : 10;
    if (!(deadline > 0)) {
        fprintf(stderr, "usage: hashfiles [folder [deadline-seconds]]\n");
        return 2;
    }
    pp_pool *pool;
    int rc = pp_pool_create(&pool, NULL);
    if (rc != PP_OK) {
        fprintf(stderr, "hashfiles: pp_pool_create: %s\n", pp_strerror(rc));
        return 1;
    }
    int nworkers = pp_pool_max_workers(pool);
    double t0 = now_s();
    pp_stream_opts opts = {.chunksize = CHUNK, .window = WINDOW, .deadline = deadline};
    pp_map_iter *it;
    rc = pp_map_begin_pull(pool, hash_file, next_file, &w, &opts, &it);
    if (rc != PP_OK) {
        fprintf(stderr, "hashfiles: pp_map_begin_pull: %s\n", pp_strerror(rc));
        pp_pool_destroy(pool);
        free_walk(&w);
        return 1;
    }
    size_t hashed = 0, failed = 0;
    pp_map_item m;
    while ((rc = pp_map_next(it, &m)) == 1) {
        const char *path = w.ring[m.index % WINDOW];
        if (m.status == PP_OK && m.len == sizeof(uint64_t)) {
            uint64_t h;
            memcpy(&h, m.result, sizeof h);
            printf("%016llx  %s\n", (unsigned long long)h, path);
            hashed++;
        } else {
            fprintf(stderr, "hashfiles: %s: %s (%s)\n", path, m.message ? m.message : pp_strerror(m.status),
                    pp_errname(m.status));
            failed++;
        }
    }
    pp_map_end(it);
    pp_stats st;
    int stats_rc = pp_pool_stats(pool, &st);
    pp_pool_destroy(pool);
    double secs = now_s() - t0;
    int status = failed || w.bad_dirs ? 1 : 0;
    if (rc < 0) { /* the walk stopped */
        fprintf(stderr, "hashfiles: %s: %s\n", w.root,
                rc == PP_ESYS && w.root_errno ? strerror(w.root_errno) : pp_strerror(rc));
        status = 1;
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "hashfiles: writing the hashes: %s\n", strerror(errno));
        status = 1;
    }
    fprintf(stderr, "hashfiles: %zu files hashed, %zu failed, %zu folders unreadable, in %.3f s on %d workers", hashed,
            failed, w.bad_dirs, secs, nworkers);
    if (stats_rc == PP_OK)
        fprintf(stderr, " (%llu tasks, %llu deadline kills)", (unsigned long long)st.submitted,
                (unsigned long long)st.deadline_kills);
    fprintf(stderr, "\n");
    free_walk(&w);
    return status;
}
