/* Unit tests: token bucket. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>

#include "map.h"
#include "ratelimit.h"

static void test_burst_then_refill(void **st)
{
    mb_bucket b;
    mb_bucket_init(&b, 3, 0);
    assert_true(mb_bucket_take(&b, 10, 3, 0));
    assert_true(mb_bucket_take(&b, 10, 3, 0));
    assert_true(mb_bucket_take(&b, 10, 3, 0));
    assert_false(mb_bucket_take(&b, 10, 3, 0));
    /* 10/s: one token after 100 ms */
    assert_false(mb_bucket_take(&b, 10, 3, 50));
    assert_true(mb_bucket_take(&b, 10, 3, 100));
    assert_false(mb_bucket_take(&b, 10, 3, 100));
}

static void test_cap_at_burst(void **st)
{
    mb_bucket b;
    mb_bucket_init(&b, 2, 0);
    int ok = 0;
    for (int i = 0; i < 10; i++) ok += mb_bucket_take(&b, 1, 2, 1000000);
    assert_int_equal(ok, 2);
}

static void test_clock_backwards(void **st)
{
    mb_bucket b;
    mb_bucket_init(&b, 1, 1000);
    assert_true(mb_bucket_take(&b, 1, 1, 1000));
    assert_false(mb_bucket_take(&b, 1, 1, 500));
}

static void test_full(void **st)
{
    mb_bucket b;
    mb_bucket_init(&b, 3, 0);
    assert_true(mb_bucket_full(&b, 1, 3, 0));
    assert_true(mb_bucket_take(&b, 1, 3, 0));
    assert_false(mb_bucket_full(&b, 1, 3, 0));
    assert_false(mb_bucket_full(&b, 1, 3, 999));
    assert_true(mb_bucket_full(&b, 1, 3, 1000));
}

/* A table of per-key buckets forgets the keys whose bucket refilled, and
 * only those (a refilled bucket is the same as a new one). */
static void test_sweep(void **st)
{
    mb_smap m;
    mb_smap_init(&m);
    char k[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(k, sizeof k, "10.0.%d.%d", i / 256, i % 256);
        mb_bucket *b = malloc(sizeof *b);
        mb_bucket_init(b, 5, 0);
        /* key i takes one token at time i ms */
        assert_true(mb_bucket_take(b, 1, 5, i));
        mb_smap_put(&m, k, b);
    }
    assert_int_equal(mb_bucket_sweep(&m, 1, 5, 500), 0);
    /* at 1500 ms the buckets that took at <= 500 ms are full again */
    assert_int_equal(mb_bucket_sweep(&m, 1, 5, 1500), 501);
    assert_int_equal(m.count, 499);
    assert_null(mb_smap_get(&m, "10.0.1.244"));     /* 500 */
    assert_non_null(mb_smap_get(&m, "10.0.1.245")); /* 501 */
    assert_int_equal(mb_bucket_sweep(&m, 1, 5, 100000), 499);
    assert_int_equal(m.count, 0);
    mb_smap_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_then_refill),
        cmocka_unit_test(test_cap_at_burst),
        cmocka_unit_test(test_clock_backwards),
        cmocka_unit_test(test_full),
        cmocka_unit_test(test_sweep),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
