/* SPDX-License-Identifier: MIT */
/*
 * headroom: a payload that cannot fit in memory must be PP_ENOMEM before
 * the kernel is asked for its pages: once they are touched, the answer is
 * the OOM killer, and in a memory cgroup it picks the largest process,
 * which is the master holding the payloads. So large arena requests ask
 * here first. The figure is the least of /proc/meminfo's MemAvailable and,
 * for every cgroup (v2, or v1's memory controller) from the process's own up
 * to the root, its limit minus its current use. Files are read afresh each
 * time (the process may move; a read costs microseconds, and only requests
 * of many megabytes ask).
 */
#define _GNU_SOURCE
#include "headroom.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "procfs.h"

/* A number from a one-line file ("max" and unreadable: UINT64_MAX). */
static uint64_t read_number(const char *path)
{
    char buf[64];
    if (!pp__read_file(path, buf, sizeof buf) || !strncmp(buf, "max", 3))
        return UINT64_MAX;
    char *end;
    unsigned long long v = strtoull(buf, &end, 10);
    return end == buf ? UINT64_MAX : (uint64_t)v;
}

static uint64_t mem_available(void)
{
    char buf[4096];
    if (!pp__read_file("/proc/meminfo", buf, sizeof buf))
        return UINT64_MAX;
    const char *p = strstr(buf, "MemAvailable:");
    unsigned long long kb;
    if (!p || sscanf(p, "MemAvailable: %llu kB", &kb) != 1)
        return UINT64_MAX;
    return (uint64_t)kb * 1024u;
}

/* The least of limit - use over dir (under root) and its parents. */
static uint64_t cgroup_room(const char *root, const char *dir, const char *limit_name, const char *use_name)
{
    uint64_t room = UINT64_MAX;
    char path[4096], rel[3072];
    snprintf(rel, sizeof rel, "%s", dir);
    for (;;) {
        snprintf(path, sizeof path, "%s%s/%s", root, rel, limit_name);
        uint64_t limit = read_number(path);
        snprintf(path, sizeof path, "%s%s/%s", root, rel, use_name);
        uint64_t use = read_number(path);
        if (limit != UINT64_MAX && use != UINT64_MAX) {
            uint64_t left = limit > use ? limit - use : 0;
            if (left < room)
                room = left;
        }
        char *slash = strrchr(rel, '/');
        if (!slash || rel[0] == 0)
            break;
        *slash = 0;
    }
    return room;
}

uint64_t pp__headroom(void)
{
    uint64_t room = mem_available();
    char buf[4096];
    if (!pp__read_file("/proc/self/cgroup", buf, sizeof buf))
        return room;
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        uint64_t r = UINT64_MAX;
        if (c2 == c1 + 1) { /* "0::/path": cgroup v2, alone or beside v1 */
            r = cgroup_room("/sys/fs/cgroup", c2 + 1, "memory.max", "memory.current");
            uint64_t hybrid = cgroup_room("/sys/fs/cgroup/unified", c2 + 1, "memory.max", "memory.current");
            r = hybrid < r ? hybrid : r;
        } else if (!strncmp(c1 + 1, "memory:", 7) || strstr(c1 + 1, ",memory:"))
            r = cgroup_room("/sys/fs/cgroup/memory", c2 + 1, "memory.limit_in_bytes",
                            "memory.usage_in_bytes");
        if (r < room)
            room = r;
    }
    return room;
}
