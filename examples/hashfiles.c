/* SPDX-License-Identifier: MIT */
/*
 * hashfiles: hashes every regular file under a folder with the streaming
 * map. The items are the paths, each of its own length (no padding to
 * PATH_MAX); results come back in completion order (unordered), chunks of 8
 * files to a task, a bounded window in flight, with a progress line on
 * stderr. Then the same serially, and both timings and the combined digest,
 * which must agree. An untimed serial pass first brings every file into the
 * page cache, so both timed runs read from memory.
 *
 *   hashfiles [folder]        (default: /usr/include)
 */
#define _XOPEN_SOURCE 700
#include <fcntl.h>
#include <ftw.h>
#include <procpool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char **paths;
static size_t npaths, cap;

static int collect(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (type != FTW_F)
        return 0;
    if (npaths == cap) {
        cap = cap ? cap * 2 : 1024;
        char **p = realloc(paths, cap * sizeof *p);
        if (!p)
            return 1;
        paths = p;
    }
    paths[npaths] = strdup(path);
    return paths[npaths++] ? 0 : 1;
}

/* FNV-1a over the file's bytes. */
static uint64_t hash_file(const char *path, size_t len, int *err)
{
    char name[4096];
    if (len >= sizeof name) {
        *err = 1;
        return 0;
    }
    memcpy(name, path, len);
    name[len] = 0;
    int fd = open(name, O_RDONLY);
    if (fd < 0) {
        *err = 1;
        return 0;
    }
    uint64_t h = 1469598103934665603ull;
    unsigned char buf[65536];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        for (ssize_t i = 0; i < n; i++)
            h = (h ^ buf[i]) * 1099511628211ull;
    close(fd);
    *err = n < 0;
    return h;
}

static int hash_task(pp_task *t, const void *arg, size_t len)
{
    int err;
    uint64_t h = hash_file(arg, len, &err);
    if (err)
        return pp_task_fail(t, 1, "cannot read %.*s", (int)len, (const char *)arg);
    return pp_task_return(t, &h, sizeof h);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    const char *root = argc > 1 ? argv[1] : "/usr/include";
    if (nftw(root, collect, 32, FTW_PHYS) != 0 || !npaths) {
        fprintf(stderr, "hashfiles: no files under %s\n", root);
        return 1;
    }
    pp_item *items = malloc(npaths * sizeof *items);
    for (size_t i = 0; i < npaths; i++)
        items[i] = (pp_item){paths[i], strlen(paths[i])};

    for (size_t i = 0; i < npaths; i++) { /* warm the page cache */
        int err;
        hash_file(items[i].data, items[i].len, &err);
    }
    pp_pool *pool;
    if (pp_pool_create(&pool, NULL) != PP_OK)
        return 1;
    double t0 = now_s();
    pp_map_iter *it;
    if (pp_map_begin(pool, hash_task, items, npaths, &(pp_stream_opts){.chunksize = 8, .unordered = true}, &it) !=
        PP_OK)
        return 1;
    uint64_t digest = 0;
    size_t done = 0, failed = 0;
    bool tty = isatty(STDERR_FILENO);
    pp_map_item m;
    while (pp_map_next(it, &m) == 1) {
        if (m.status == PP_OK)
            digest ^= *(const uint64_t *)m.result * (m.index + 1); /* order-independent */
        else
            failed++;
        if (tty && ++done % 256 == 0)
            fprintf(stderr, "\r%zu/%zu files", done, npaths);
    }
    pp_map_end(it);
    double parallel = now_s() - t0;
    if (tty)
        fprintf(stderr, "\r%zu/%zu files\n", npaths, npaths);
    pp_pool_destroy(pool);

    t0 = now_s();
    uint64_t serial_digest = 0;
    for (size_t i = 0; i < npaths; i++) {
        int err;
        uint64_t h = hash_file(items[i].data, items[i].len, &err);
        if (!err)
            serial_digest ^= h * (i + 1);
    }
    double serial = now_s() - t0;
    printf("%zu files under %s (%zu unreadable)\n", npaths, root, failed);
    printf("pool: %.3f s, serial: %.3f s (%.2fx); digests %s (%016llx)\n", parallel, serial, serial / parallel,
           digest == serial_digest ? "agree" : "DIFFER", (unsigned long long)digest);
    for (size_t i = 0; i < npaths; i++)
        free(paths[i]);
    free(paths);
    free(items);
    return digest == serial_digest ? 0 : 1;
}
