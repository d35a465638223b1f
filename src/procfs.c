/* SPDX-License-Identifier: MIT */
/*
 * procfs: one read of a small file under /proc or /sys (a task's stat, the
 * memory figures, a cgroup's limit). Such a file is produced whole by the
 * kernel at its first read, so one read(2) into a buffer large enough for
 * what the caller parses is the whole answer; a larger file is cut, never
 * overrun, and the caller parses only its start.
 */
#define _GNU_SOURCE
#include "procfs.h"

#include <fcntl.h>
#include <unistd.h>

size_t pp__read_file(const char *path, char *buf, size_t size)
{
    if (size == 0)
        return 0;
    buf[0] = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, size - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    return (size_t)n;
}
