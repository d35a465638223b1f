/* SPDX-License-Identifier: MIT */
/*
 * procinfo.h: what a test sees of processes, threads and descriptors through
 * /proc, shared by the Criterion suites and the plain test programs.
 */
#ifndef PP_TEST_PROCINFO_H
#define PP_TEST_PROCINFO_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

/* Live (not zombie) processes whose parent is ppid, up to max of them. */
static inline int children_of(pid_t ppid, pid_t *out, int max)
{
    DIR *d = opendir("/proc");
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d)) && n < max;) {
        char path[300], buf[512];
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *fp = fopen(path, "r");
        if (!fp)
            continue;
        size_t len = fread(buf, 1, sizeof buf - 1, fp);
        fclose(fp);
        buf[len] = 0;
        const char *p = strrchr(buf, ')');
        char state;
        int parent;
        if (p && sscanf(p + 2, "%c %d", &state, &parent) == 2 && parent == ppid && state != 'Z')
            out[n++] = atoi(e->d_name);
    }
    if (d)
        closedir(d);
    return n;
}

/* The parent of a process, or 0. */
static inline pid_t parent_of(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *fp = fopen(path, "r");
    size_t n = fp ? fread(buf, 1, sizeof buf - 1, fp) : 0;
    if (fp)
        fclose(fp);
    buf[n] = 0;
    const char *p = strrchr(buf, ')');
    int parent = 0;
    return p && sscanf(p + 2, "%*c %d", &parent) == 1 ? (pid_t)parent : 0;
}

/* Entries of a /proc folder, not counting "." and "..". */
static inline int proc_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    if (d)
        closedir(d);
    return n;
}

/* Open descriptors of this process (the one reading the folder included). */
static inline int count_fds(void)
{
    return proc_entries("/proc/self/fd");
}

static inline int count_threads(void)
{
    return proc_entries("/proc/self/task");
}

#endif
