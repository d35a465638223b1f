/* SPDX-License-Identifier: MIT */
/*
 * A stand-in for the part of Criterion's API the suites use, for `make tsan`:
 * Criterion's own runner cannot start under ThreadSanitizer (its inheritable
 * arena collides with TSan's shadow memory; Criterion issue #274). The same
 * test files build against this header and test/tsan/runner.c, which runs
 * each test in a forked child, like Criterion.
 */
#ifndef PP_MINI_CRITERION_H
#define PP_MINI_CRITERION_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct mc_test {
    const char *suite, *name;
    void (*fn)(void);
    struct mc_test *next;
};

extern struct mc_test *mc_tests;
void mc_fail(const char *file, int line, const char *expr, const char *fmt, ...)
    __attribute__((noreturn)); /* fmt may be "", hence no format attribute */

#define Test(suite, name, ...)                                                           \
    static void suite##_##name(void);                                                    \
    static struct mc_test mc_##suite##_##name = {#suite, #name, suite##_##name, NULL};   \
    __attribute__((constructor)) static void mc_register_##suite##_##name(void)          \
    {                                                                                    \
        mc_##suite##_##name.next = mc_tests;                                             \
        mc_tests = &mc_##suite##_##name;                                                 \
    }                                                                                    \
    static void suite##_##name(void)

#define TestSuite(suite, ...) extern int mc_suite_##suite

#define cr_assert(cond, ...)                                       \
    do {                                                           \
        if (!(cond))                                               \
            mc_fail(__FILE__, __LINE__, #cond, "" __VA_ARGS__);   \
    } while (0)
#define cr_assert_not(c, ...) cr_assert(!(c), __VA_ARGS__)
#define cr_assert_eq(a, b, ...) cr_assert((a) == (b), __VA_ARGS__)
#define cr_assert_neq(a, b, ...) cr_assert((a) != (b), __VA_ARGS__)
#define cr_assert_lt(a, b, ...) cr_assert((a) < (b), __VA_ARGS__)
#define cr_assert_leq(a, b, ...) cr_assert((a) <= (b), __VA_ARGS__)
#define cr_assert_gt(a, b, ...) cr_assert((a) > (b), __VA_ARGS__)
#define cr_assert_geq(a, b, ...) cr_assert((a) >= (b), __VA_ARGS__)
#define cr_assert_null(p, ...) cr_assert((p) == NULL, __VA_ARGS__)
#define cr_assert_not_null(p, ...) cr_assert((p) != NULL, __VA_ARGS__)
#define cr_assert_str_eq(a, b, ...) cr_assert(strcmp((a), (b)) == 0, __VA_ARGS__)
#define cr_assert_str_neq(a, b, ...) cr_assert(strcmp((a), (b)) != 0, __VA_ARGS__)
#define cr_assert_fail(...) mc_fail(__FILE__, __LINE__, "failure", "" __VA_ARGS__)
#define cr_log_info(...) (fprintf(stderr, "[----] " __VA_ARGS__), fputc('\n', stderr))
#define cr_skip_test(...) exit(77)

#endif
