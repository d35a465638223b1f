/* SPDX-License-Identifier: MIT */
/*
 * runner: runs the tests registered through the stand-in criterion.h, each in
 * a forked child (exit 0: pass, 77: skipped), one at a time, and ends with
 * "N passed, N failed". An optional argument selects tests by "suite/name"
 * glob.
 */
#include <fnmatch.h>
#include <stdarg.h>
#include <sys/wait.h>
#include <unistd.h>

#include "criterion/criterion.h"

struct mc_test *mc_tests;

void mc_fail(const char *file, int line, const char *expr, const char *fmt, ...)
{
    fprintf(stderr, "[----] %s:%d: Assertion failed: %s", file, line, expr);
    if (*fmt) {
        va_list ap;
        va_start(ap, fmt);
        fputs(": ", stderr);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
    }
    fputc('\n', stderr);
    exit(1);
}

int main(int argc, char **argv)
{
    struct mc_test *list[1024];
    int n = 0, passed = 0, failed = 0, skipped = 0;
    for (struct mc_test *t = mc_tests; t && n < 1024; t = t->next)
        list[n++] = t;
    for (int i = n - 1; i >= 0; i--) { /* registration order reversed: file order */
        char full[256];
        snprintf(full, sizeof full, "%s/%s", list[i]->suite, list[i]->name);
        if (argc > 1 && fnmatch(argv[1], full, 0) != 0)
            continue;
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0) {
            alarm(600);
            list[i]->fn();
            fflush(NULL);
            _exit(0);
        }
        int status = 0;
        waitpid(pid, &status, 0);
        if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
            skipped++;
            fprintf(stderr, "[SKIP] %s\n", full);
        } else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
            passed++;
            fprintf(stderr, "[PASS] %s\n", full);
        } else {
            failed++;
            fprintf(stderr, "[FAIL] %s (status %d)\n", full, status);
        }
    }
    printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    return failed ? 1 : 0;
}
