/* Unit tests: where a new match's first tick lands (--tick-slot-ms). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "match_internal.h"

static void test_slots(void **st)
{
    (void)st;
    const int64_t period = 50000, slot = 2000; /* 20 Hz, 2 ms slots: 25 per period */
    for (int64_t now = 1000000; now < 1000000 + 3 * period; now += 777) {
        for (uint32_t rnd = 0; rnd < 60; rnd += 7) {
            int64_t due = match_first_due_us(now, period, slot, rnd);
            assert_true(due >= now + period);         /* never sooner than one period */
            assert_true(due < now + 2 * period);      /* and within two */
            assert_int_equal(due % period % slot, 0); /* on a slot of the shared grid */
            assert_int_equal(due % period / slot, rnd % 25);
        }
    }
    /* two matches created apart, same slot number: the same phase */
    assert_int_equal(match_first_due_us(1000123, period, slot, 3) % period,
                     match_first_due_us(1031999, period, slot, 3) % period);
    /* 60 Hz: the period (16666 us) is not a multiple of the slot; slots stay inside it */
    for (uint32_t rnd = 0; rnd < 20; rnd++) {
        int64_t due = match_first_due_us(5000000, 16666, slot, rnd);
        assert_true(due >= 5000000 + 16666 && due < 5000000 + 2 * 16666);
        assert_true(due % 16666 < 16666 - 16666 % slot + slot);
    }
}

static void test_no_slots(void **st)
{
    (void)st;
    /* 0 (or a slot as long as the period): any phase within the period */
    for (uint32_t rnd = 0; rnd < 100000; rnd += 4999) {
        int64_t due = match_first_due_us(1234567, 50000, 0, rnd);
        assert_int_equal(due, 1234567 + 50000 + rnd % 50000);
        assert_int_equal(match_first_due_us(1234567, 50000, 50000, rnd), due);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slots),
        cmocka_unit_test(test_no_slots),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
