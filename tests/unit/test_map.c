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

/* Keys that come and go (sessions, tokens, players) with a steady number
 * alive: the capacity must follow the live count, not the number of keys
 * ever inserted (it used to double on every tombstone rehash). */
static void test_churn_keeps_capacity(void **st)
{
    static int x;
    mb_smap s;
    mb_imap m;
    mb_smap_init(&s);
    mb_imap_init(&m);
    char k[32];
    for (uint64_t i = 0; i < 200000; i++) {
        snprintf(k, sizeof k, "player-%llu", (unsigned long long)i);
        mb_smap_put(&s, k, &x);
        mb_imap_put(&m, i, &x);
        if (i >= 10) { /* 10 alive at a time */
            snprintf(k, sizeof k, "player-%llu", (unsigned long long)(i - 10));
            assert_ptr_equal(mb_smap_del(&s, k), &x);
            assert_ptr_equal(mb_imap_del(&m, i - 10), &x);
        }
    }
    assert_int_equal(s.count, 10);
    assert_int_equal(m.count, 10);
    assert_true(s.cap <= 32);
    assert_true(m.cap <= 32);
    for (uint64_t i = 200000 - 10; i < 200000; i++) {
        snprintf(k, sizeof k, "player-%llu", (unsigned long long)i);
        assert_ptr_equal(mb_smap_get(&s, k), &x);
        assert_ptr_equal(mb_imap_get(&m, i), &x);
    }
    mb_smap_free(&s);
    mb_imap_free(&m);
}

/* A burst of 50000 entries, all deleted, then ordinary churn: the slots
 * go back to a small table instead of staying at the burst's size. */
static void test_shrinks_after_burst(void **st)
{
    static int x;
    mb_imap m;
    mb_imap_init(&m);
    for (uint64_t i = 1; i <= 50000; i++) mb_imap_put(&m, i, &x);
    assert_true(m.cap >= 65536);
    for (uint64_t i = 1; i <= 50000; i++) mb_imap_del(&m, i);
    /* deleting never moves entries (safe while iterating): still large */
    assert_true(m.cap >= 65536);
    for (uint64_t i = 100000; i < 200000; i++) {
        mb_imap_put(&m, i, &x);
        mb_imap_del(&m, i);
    }
    assert_int_equal(m.count, 0);
    assert_true(m.cap <= 16);
    mb_imap_free(&m);
}

/* Deleting the entry just returned by the iterator does not skip or
 * repeat entries. */
static void test_delete_while_iterating(void **st)
{
    static int x;
    mb_smap s;
    mb_smap_init(&s);
    char k[32];
    for (int i = 0; i < 300; i++) {
        snprintf(k, sizeof k, "k%d", i);
        mb_smap_put(&s, k, &x);
    }
    size_t it = 0, n = 0;
    const char *key;
    while (mb_smap_next(&s, &it, &key, NULL)) {
        char copy[32];
        snprintf(copy, sizeof copy, "%s", key);
        assert_ptr_equal(mb_smap_del(&s, copy), &x);
        n++;
    }
    assert_int_equal(n, 300);
    assert_int_equal(s.count, 0);
    mb_smap_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_smap), cmocka_unit_test(test_imap), cmocka_unit_test(test_churn_keeps_capacity),
        cmocka_unit_test(test_shrinks_after_burst), cmocka_unit_test(test_delete_while_iterating)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
