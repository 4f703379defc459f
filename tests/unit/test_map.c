/* Unit tests: string and integer hash maps (growth, delete, iterate). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>

#include "map.h"

static void test_smap(void **st)
{
    mb_smap m;
    mb_smap_init(&m);
    static int vals[1000];
    char k[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(k, sizeof k, "key-%d", i);
        assert_null(mb_smap_put(&m, k, &vals[i]));
    }
    assert_int_equal(m.count, 1000);
    for (int i = 0; i < 1000; i += 2) {
        snprintf(k, sizeof k, "key-%d", i);
        assert_ptr_equal(mb_smap_del(&m, k), &vals[i]);
    }
    assert_int_equal(m.count, 500);
    for (int i = 0; i < 1000; i++) {
        snprintf(k, sizeof k, "key-%d", i);
        if (i % 2) assert_ptr_equal(mb_smap_get(&m, k), &vals[i]);
        else assert_null(mb_smap_get(&m, k));
    }
    size_t it = 0, n = 0;
    const char *key;
    void *v;
    while (mb_smap_next(&m, &it, &key, &v)) n++;
    assert_int_equal(n, 500);
    assert_ptr_equal(mb_smap_put(&m, "key-1", &vals[0]), &vals[1]);
    mb_smap_free(&m);
}

static void test_imap(void **st)
{
    mb_imap m;
    mb_imap_init(&m);
    static int x;
    for (uint64_t i = 1; i <= 5000; i++) mb_imap_put(&m, i * 7919, &x);
    assert_int_equal(m.count, 5000);
    for (uint64_t i = 1; i <= 5000; i++) assert_ptr_equal(mb_imap_get(&m, i * 7919), &x);
    assert_null(mb_imap_get(&m, 3));
    for (uint64_t i = 1; i <= 5000; i++) assert_ptr_equal(mb_imap_del(&m, i * 7919), &x);
    assert_int_equal(m.count, 0);
    /* churn: reuse of tombstones must not loop forever */
    for (int r = 0; r < 20; r++)
        for (uint64_t i = 0; i < 100; i++) {
            mb_imap_put(&m, i + (uint64_t)r * 1000, &x);
            mb_imap_del(&m, i + (uint64_t)r * 1000);
        }
    assert_int_equal(m.count, 0);
    mb_imap_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_smap), cmocka_unit_test(test_imap)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
