/*
 * test_lb_ostree.c - the leaderboard order-statistic treap
 * (modules/leaderboard/ostree.c): unit cases, and a differential test that
 * runs random inserts and removes against a sorted array and compares
 * ranks, the node at each rank and the invariants after every step.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ostree.h"

typedef struct item {
    ost_node node; /* first: a node pointer is an item pointer */
    long long score;
    int id;
} item;

/* descending score, then ascending id (as leaderboards break ties) */
static int cmp_desc(const ost_node *a, const ost_node *b, const void *ctx)
{
    (void)ctx;
    const item *x = (const item *)a, *y = (const item *)b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

static void test_empty(void **state)
{
    (void)state;
    ost t;
    ost_init(&t, cmp_desc, NULL, 1);
    assert_int_equal(ost_size(&t), 0);
    assert_null(ost_at(&t, 0));
    item k = {.score = 5, .id = 1};
    assert_int_equal(ost_rank(&t, &k.node), 0);
    assert_null(ost_remove(&t, &k.node));
    assert_true(ost_check(&t));
}

static void test_basic(void **state)
{
    (void)state;
    ost t;
    ost_init(&t, cmp_desc, NULL, 42);
    item it[5] = {{.score = 10, .id = 1},
                  {.score = 30, .id = 2},
                  {.score = 20, .id = 3},
                  {.score = 30, .id = 0},
                  {.score = 5, .id = 4}};
    for (int i = 0; i < 5; i++) ost_insert(&t, &it[i].node);
    assert_true(ost_check(&t));
    assert_int_equal(ost_size(&t), 5);
    /* order: (30,0) (30,2) (20,3) (10,1) (5,4) */
    const int want[] = {3, 1, 2, 0, 4};
    for (int r = 0; r < 5; r++) {
        assert_ptr_equal(ost_at(&t, (size_t)r), &it[want[r]].node);
        assert_int_equal(ost_rank(&t, &it[want[r]].node), r);
    }
    assert_null(ost_at(&t, 5));
    /* rank of an absent key = how many sort before it */
    item probe = {.score = 25, .id = 9};
    assert_int_equal(ost_rank(&t, &probe.node), 2);
    item key = {.score = 20, .id = 3};
    assert_ptr_equal(ost_remove(&t, &key.node), &it[2].node);
    assert_true(ost_check(&t));
    assert_int_equal(ost_size(&t), 4);
    assert_null(ost_remove(&t, &key.node));
    assert_ptr_equal(ost_at(&t, 2), &it[0].node);
    ost_clear(&t, NULL, NULL);
    assert_int_equal(ost_size(&t), 0);
}

/* ---- differential: the tree against a sorted array ---------------------- */

static int cmp_items(const void *a, const void *b)
{
    return cmp_desc(*(ost_node *const *)a, *(ost_node *const *)b, NULL);
}

static void count_fn(ost_node *n, void *ud)
{
    (void)n;
    (*(size_t *)ud)++;
}

static void test_differential(void **state)
{
    (void)state;
    enum { N = 3000, STEPS = 20000 };
    item *pool = calloc(N, sizeof *pool);
    bool *in = calloc(N, sizeof *in);
    ost_node **arr = calloc(N, sizeof *arr);
    size_t n = 0;
    ost t;
    ost_init(&t, cmp_desc, NULL, 7);
    srand(12345);
    for (int i = 0; i < N; i++) pool[i].id = i;
    for (int step = 0; step < STEPS; step++) {
        int i = rand() % N;
        if (!in[i]) {
            pool[i].score = rand() % 200; /* many ties */
            ost_insert(&t, &pool[i].node);
            arr[n++] = &pool[i].node;
            in[i] = true;
        } else {
            item key = pool[i];
            assert_ptr_equal(ost_remove(&t, &key.node), &pool[i].node);
            for (size_t j = 0; j < n; j++)
                if (arr[j] == &pool[i].node) {
                    arr[j] = arr[--n];
                    break;
                }
            in[i] = false;
        }
        if (step % 500 == 0 || step == STEPS - 1) {
            assert_true(ost_check(&t));
            qsort(arr, n, sizeof *arr, cmp_items);
            assert_int_equal(ost_size(&t), n);
            for (size_t r = 0; r < n; r++) {
                assert_ptr_equal(ost_at(&t, r), arr[r]);
                assert_int_equal(ost_rank(&t, arr[r]), r);
            }
            /* absent keys: rank = position in the sorted array */
            for (int k = 0; k < 50; k++) {
                item probe = {.score = rand() % 200, .id = N + k};
                size_t want = 0;
                while (want < n && cmp_desc(arr[want], &probe.node, NULL) < 0) want++;
                assert_int_equal(ost_rank(&t, &probe.node), want);
            }
        }
    }
    size_t cleared = 0;
    ost_clear(&t, count_fn, &cleared);
    assert_int_equal(cleared, n);
    free(pool);
    free(in);
    free(arr);
}

/* Sorted insertion (scores only rising) must not degrade: depth stays logarithmic. */
static size_t depth(const ost_node *n)
{
    if (!n) return 0;
    size_t a = depth(n->l), b = depth(n->r);
    return 1 + (a > b ? a : b);
}

static void test_sorted_input_depth(void **state)
{
    (void)state;
    enum { N = 100000 };
    item *pool = calloc(N, sizeof *pool);
    ost t;
    ost_init(&t, cmp_desc, NULL, 99);
    for (int i = 0; i < N; i++) {
        pool[i].score = i;
        pool[i].id = i;
        ost_insert(&t, &pool[i].node);
    }
    assert_true(depth(t.root) < 60); /* ~2.5 log2(N) expected for a treap */
    assert_int_equal(ost_rank(&t, &pool[N - 1].node), 0);
    assert_ptr_equal(ost_at(&t, N - 1), &pool[0].node);
    ost_clear(&t, NULL, NULL);
    free(pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_differential),
        cmocka_unit_test(test_sorted_input_depth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
