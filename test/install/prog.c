/* SPDX-License-Identifier: MIT */
/* make check-install: a small program built against the installed library. */
#include <procpool.h>
#include <stdio.h>

static int square(pp_task *t, const void *arg, size_t len)
{
    (void)len;
    long n = *(const long *)arg, sq = n * n;
    return pp_task_return(t, &sq, sizeof sq);
}

int main(void)
{
    pp_pool *pool;
    if (pp_pool_create(&pool, &(pp_config){.max_workers = 2}) != PP_OK)
        return 1;
    pp_future *f;
    const void *data;
    int rc = pp_submit(pool, square, &(long){12}, sizeof(long), &f);
    if (rc == PP_OK)
        rc = pp_future_result(f, 30, &data, NULL);
    int ok = rc == PP_OK && *(const long *)data == 144;
    pp_pool_destroy(pool);
    printf("procpool %s: %s\n", pp_version(), ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
}
