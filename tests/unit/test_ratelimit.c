/* Unit tests: token bucket. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_then_refill),
        cmocka_unit_test(test_cap_at_burst),
        cmocka_unit_test(test_clock_backwards),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
