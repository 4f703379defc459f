/*
 * test_mm_pool.c - unit tests of the matchmaking pool (modules/matchmaker/
 * pool.h) with a controlled clock: every time is an explicit argument.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"
#include "teams.h"

#define MAX_GROUPS 4096
#define MAX_N 16

/* Records what the pool offers; accepts unless told otherwise. */
typedef struct {
    mm_pool *pool;
    int64_t now;
    bool reject;
    size_t calls;
    size_t ngroups;
    size_t size[MAX_GROUPS];
    uint64_t ids[MAX_GROUPS][MAX_N];
    double skill[MAX_GROUPS][MAX_N];
    int team[MAX_GROUPS][MAX_N];
    bool had_teams[MAX_GROUPS];
    size_t invalid;      /* offered groups that break the rules */
    mb_status add_in_cb; /* result of an add attempted inside the callback */
    bool try_add;
} rec;

static bool on_group(void *ud, const mm_entry *e, size_t n, int *teams)
{
    rec *r = ud;
    r->calls++;
    if (!mm_pool_group_ok(r->pool, e, n, r->now)) r->invalid++;
    for (size_t i = 0; i < n; i++)
        if (mm_pool_find(r->pool, e[i].ticket_id) == NULL) r->invalid++;
    /* The tickets of the group accepted just before are already gone. */
    if (r->ngroups > 0 && !r->reject)
        for (size_t i = 0; i < r->size[r->ngroups - 1]; i++)
            if (mm_pool_find(r->pool, r->ids[r->ngroups - 1][i]) != NULL) r->invalid++;
    if (r->try_add) {
        const char *same[1] = {"eu"};
        mm_entry t = {.ticket_id = 999999, .skill = 1, .enqueued_ms = 0, .same = same};
        r->add_in_cb = mm_pool_add(r->pool, &t);
    }
    assert_true(r->ngroups < MAX_GROUPS);
    assert_true(n <= MAX_N);
    size_t g = r->ngroups++;
    r->size[g] = n;
    r->had_teams[g] = teams != NULL;
    for (size_t i = 0; i < n; i++) {
        r->ids[g][i] = e[i].ticket_id;
        r->skill[g][i] = e[i].skill;
        r->team[g][i] = teams ? teams[i] : -1;
    }
    return !r->reject;
}

static size_t pass(rec *r, int64_t now)
{
    r->now = now;
    return mm_pool_pass(r->pool, now, on_group, r);
}

static bool group_has(const rec *r, size_t g, uint64_t id)
{
    for (size_t i = 0; i < r->size[g]; i++)
        if (r->ids[g][i] == id) return true;
    return false;
}

/* No candidate was offered twice (in the record since the last reset). */
static void assert_offers_distinct(const rec *r)
{
    for (size_t g = 0; g < r->ngroups; g++)
        for (size_t h = 0; h < g; h++) {
            bool same = r->size[g] == r->size[h];
            for (size_t i = 0; same && i < r->size[g]; i++) same = group_has(r, h, r->ids[g][i]);
            if (same) fail_msg("offers %zu and %zu are the same group", h, g);
        }
}

static mm_config cfg_base(void)
{
    mm_config c;
    memset(&c, 0, sizeof c);
    c.size_min = 2;
    c.size_max = 2;
    c.has_skill = true;
    c.window = 100;
    c.widen_per_second = 50;
    c.max_window = 1000;
    c.same_count = 1;
    c.same[0] = "region";
    c.fill_after_ms = MM_NEVER;
    c.timeout_ms = MM_NEVER;
    return c;
}

static void add2(mm_pool *p, uint64_t id, double skill, const char *const *same, int64_t t)
{
    mm_entry e = {.ticket_id = id, .owner = id + 100000, .skill = skill, .enqueued_ms = t, .same = same};
    assert_int_equal(mm_pool_add(p, &e), MB_OK);
}

static void add(mm_pool *p, uint64_t id, double skill, const char *region, int64_t t)
{
    const char *same[1] = {region};
    add2(p, id, skill, same, t);
}

static mm_pool *new_pool(const mm_config *c, rec *r)
{
    memset(r, 0, sizeof *r);
    r->pool = mm_pool_new(c);
    assert_non_null(r->pool);
    return r->pool;
}

/* ---- configuration ------------------------------------------------------ */

static void test_config_validation(void **state)
{
    (void)state;
    mm_config ok = cfg_base();
    assert_null(mm_config_check(&ok));

    struct {
        const char *what;
        mm_config c;
    } bad[16];
    size_t nb = 0;
    mm_config c;
#define BAD(label, stmt)      \
    do {                      \
        c = cfg_base();       \
        stmt;                 \
        bad[nb].what = label; \
        bad[nb++].c = c;      \
    } while (0)
    BAD("min < 1", c.size_min = 0);
    BAD("max < min", (c.size_min = 4, c.size_max = 3));
    BAD("max too large", c.size_max = MM_SIZE_LIMIT + 1);
    BAD("negative teams", c.teams = -1);
    BAD("teams not dividing max", (c.size_max = 5, c.teams = 2));
    BAD("negative window", c.window = -1);
    BAD("nan window", c.window = NAN);
    BAD("negative widen", c.widen_per_second = -5);
    BAD("max_window < window", c.max_window = 50);
    BAD("too many same", c.same_count = MM_SAME_MAX + 1);
    BAD("null same name", c.same[0] = NULL);
    BAD("empty same name", c.same[0] = "");
    BAD("duplicate same", (c.same_count = 2, c.same[1] = "region"));
    BAD("negative fill", c.fill_after_ms = -5);
    BAD("zero timeout", c.timeout_ms = 0);
#undef BAD
    for (size_t i = 0; i < nb; i++) {
        const char *err = mm_config_check(&bad[i].c);
        if (!err) fail_msg("config accepted: %s", bad[i].what);
        assert_true(strlen(err) > 5);
        assert_null(mm_pool_new(&bad[i].c));
    }
    assert_string_equal(mm_config_check(&bad[4].c), "teams must divide size.max");

    /* Valid corner cases. */
    c = cfg_base();
    c.has_skill = false;
    c.window = -1; /* ignored without skill */
    c.same_count = 0;
    c.teams = 2;
    c.fill_after_ms = 0;
    c.timeout_ms = 1;
    assert_null(mm_config_check(&c));
}

/* ---- storage ------------------------------------------------------------ */

static void test_add_remove_find(void **state)
{
    (void)state;
    mm_config c = cfg_base();
    rec r;
    mm_pool *p = new_pool(&c, &r);

    char region[8] = "eu";
    add(p, 1, 1000, region, 0);
    strcpy(region, "us"); /* the pool copied the value */
    assert_string_equal(mm_pool_find(p, 1)->same[0], "eu");
    assert_int_equal(mm_pool_find(p, 1)->owner, 100001);

    const char *same[1] = {"eu"};
    mm_entry dup = {.ticket_id = 1, .skill = 5, .enqueued_ms = 0, .same = same};
    assert_int_equal(mm_pool_add(p, &dup), MB_ERR);
    mm_entry nan_skill = {.ticket_id = 2, .skill = NAN, .same = same};
    assert_int_equal(mm_pool_add(p, &nan_skill), MB_ERR);
    mm_entry no_same = {.ticket_id = 3, .skill = 1};
    assert_int_equal(mm_pool_add(p, &no_same), MB_ERR);
    assert_int_equal(mm_pool_count(p), 1);

    assert_int_equal(mm_pool_remove(p, 42), MB_ERR);
    assert_int_equal(mm_pool_remove(p, 1), MB_OK);
    assert_int_equal(mm_pool_remove(p, 1), MB_ERR);
    assert_null(mm_pool_find(p, 1));
    assert_int_equal(mm_pool_count(p), 0);

    /* The id can be reused once the ticket is gone. */
    add(p, 1, 1000, "eu", 0);
    assert_int_equal(mm_pool_count(p), 1);
    mm_pool_free(p);
}

static void test_oldest_wait(void **state)
{
    (void)state;
    mm_config c = cfg_base();
    rec r;
    mm_pool *p = new_pool(&c, &r);
    assert_int_equal(mm_pool_oldest_wait_ms(p, 1000), 0);
    add(p, 1, 1000, "eu", 100);
    add(p, 2, 5000, "us", 300);
    assert_int_equal(mm_pool_oldest_wait_ms(p, 1000), 900);
    assert_int_equal(mm_pool_remove(p, 1), MB_OK);
    assert_int_equal(mm_pool_oldest_wait_ms(p, 1000), 700);
    assert_int_equal(mm_pool_remove(p, 2), MB_OK);
    assert_int_equal(mm_pool_oldest_wait_ms(p, 1000), 0);
    mm_pool_free(p);
}

/* Many adds and removes in one bucket go through the amortised folds. */
static void test_large_bucket_churn(void **state)
{
    (void)state;
    mm_config c = cfg_base();
    c.window = 1000;
    rec r;
    mm_pool *p = new_pool(&c, &r);
    const uint64_t n = 12000;
    uint64_t removed = 0;
    for (uint64_t i = 1; i <= n; i++) {
        add(p, i, 1000 + (double)((i * 7919) % 1000), "eu", (int64_t)i);
        if (i % 3 == 0) {
            assert_int_equal(mm_pool_remove(p, i - 1), MB_OK);
            removed++;
        }
    }
    assert_int_equal(mm_pool_count(p), n - removed);
    for (uint64_t i = 1; i <= n; i++) {
        const mm_entry *e = mm_pool_find(p, i);
        if (i % 3 == 2) assert_null(e);
        else assert_true(e && e->ticket_id == i && e->enqueued_ms == (int64_t)i);
    }
    size_t groups = pass(&r, 20000);
    assert_int_equal(r.invalid, 0);
    assert_int_equal(groups, (n - removed) / 2); /* everyone fits in one window */
    assert_int_equal(mm_pool_count(p), (n - removed) % 2);
    /* Each id matched at most once. */
    uint8_t *seen = calloc(n + 1, 1);
    for (size_t g = 0; g < r.ngroups; g++)
        for (size_t i = 0; i < r.size[g]; i++) {
            assert_int_equal(seen[r.ids[g][i]], 0);
            seen[r.ids[g][i]] = 1;
        }
    free(seen);
    mm_pool_free(p);
}

/* ---- rules -------------------------------------------------------------- */

static void test_window_widens_until_match(void **state)
{
    (void)state;
    mm_config c = cfg_base(); /* window 100, +50/s */
    rec r;
    mm_pool *p = new_pool(&c, &r);
    add(p, 1, 1000, "eu", 0);
    add(p, 2, 1200, "eu", 0);
    assert_true(fabs(mm_pool_window(p, mm_pool_find(p, 1), 1000) - 150) < 1e-9);
    assert_int_equal(pass(&r, 0), 0);
    assert_int_equal(pass(&r, 1000), 0);
    assert_int_equal(pass(&r, 1999), 0);
    assert_int_equal(pass(&r, 2000), 1); /* 100 + 50 * 2 = 200 = spread */
    assert_true(group_has(&r, 0, 1) && group_has(&r, 0, 2));
    assert_int_equal(mm_pool_count(p), 0);
    assert_int_equal(r.invalid, 0);
    mm_pool_free(p);
}

/* The spread must fit the window of EVERY member, not just the oldest. */
static void test_window_of_every_member(void **state)
{
    (void)state;
    mm_config c = cfg_base();
    rec r;
    mm_pool *p = new_pool(&c, &r);
    add(p, 1, 1000, "eu", 0);    /* window 250 at t=3000 */
    add(p, 2, 1150, "eu", 3000); /* window 100 at t=3000, 150 at t=4000 */
    assert_int_equal(pass(&r, 3000), 0);
    assert_int_equal(pass(&r, 3999), 0);
    assert_int_equal(pass(&r, 4000), 1);
    assert_int_equal(r.invalid, 0);
    mm_pool_free(p);
}

static void test_max_window_cap(void **state)
{
    (void)state;
    mm_config c = cfg_base();
    c.max_window = 300;
    rec r;
    mm_pool *p = new_pool(&c, &r);
    add(p, 1, 1000, "eu", 0);
    add(p, 2, 1400, "eu", 0);
    assert_true(fabs(mm_pool_window(p, mm_pool_find(p, 1), 1000000) - 300) < 1e-9);
    assert_int_equal(pass(&r, 1000000), 0); /* never: 400 > cap */
    add(p, 3, 1300, "us", 0);
    add(p, 4, 1600, "us", 0);
    assert_int_equal(pass(&r, 3999), 0);
    assert_int_equal(pass(&r, 4000), 1); /* 300 reached at 4 s */
    assert_true(group_has(&r, 0, 3) && group_has(&r, 0, 4));
    mm_pool_free(p);
}

static void test_same_buckets_never_mixed(void **state)
{
    (void)state;
    mm_config c = cfg_base();
    c.window = 1000;
    c.same_count = 2;
    c.same[1] = "queue";
    rec r;
    mm_pool *p = new_pool(&c, &r);
    /* Identical skills across buckets; within a bucket they are far apart,
     * so a skill-only algorithm would pair across buckets. */
    const char *eu_r[2] = {"eu", "ranked"}, *us_r[2] = {"us", "ranked"}, *eu_c[2] = {"eu", "casual"};
    add2(p, 1, 1000, eu_r, 0);
    add2(p, 2, 1000, us_r, 0);
    add2(p, 3, 1000, eu_c, 0);
    add2(p, 4, 1900, eu_r, 0);
    add2(p, 5, 1900, us_r, 0);
    add2(p, 6, 1900, eu_c, 0);
    assert_int_equal(pass(&r, 0), 3);
    for (size_t g = 0; g < r.ngroups; g++) {
        uint64_t a = r.ids[g][0], b = r.ids[g][1];
        assert_int_equal(a % 3, b % 3); /* ids 1/4, 2/5, 3/6 */
    }
    /* Values that are prefixes of each other are different buckets. */
    const char *x1[2] = {"ab", "c"}, *x2[2] = {"a", "bc"};
    add2(p, 7, 1, x1, 0);
    add2(p, 8, 1, x2, 0);
    assert_int_equal(pass(&r, 0), 0);
    assert_int_equal(r.invalid, 0);
    mm_pool_free(p);
}

static void test_fill_after_wait(void **state)
{
    (void)state;
    mm_config c = cfg_base();
    c.size_min = 2;
    c.size_max = 4;
    c.widen_per_second = 0;
    c.fill_after_ms = 5000;
    rec r;
    mm_pool *p = new_pool(&c, &r);
    add(p, 1, 1000, "eu", 0);
    add(p, 2, 1010, "eu", 100);
    add(p, 3, 1020, "us", 0);
    add(p, 4, 1030, "us", 0);
    add(p, 5, 1040, "us", 0);
    assert_int_equal(pass(&r, 0), 0);
    assert_int_equal(pass(&r, 4999), 0);
    assert_int_equal(pass(&r, 5000), 2);
    /* Largest group first: the 3 "us" tickets together, the 2 "eu" ones. */
    size_t sizes = r.size[0] * 10 + r.size[1];
    assert_true(sizes == 23 || sizes == 32);
    assert_int_equal(mm_pool_count(p), 0);

    /* Never below size_min. */
    c.size_min = 3;
    mm_pool_free(p);
    p = new_pool(&c, &r);
    add(p, 1, 1000, "eu", 0);
    add(p, 2, 1010, "eu", 0);
    assert_int_equal(pass(&r, 100000), 0);
    mm_pool_free(p);
}

static void test_single_player_groups(void **state)
{
    (void)state;
    mm_config c = cfg_base();
    c.size_min = 1;
    c.size_max = 2;
    c.widen_per_second = 0;
    c.fill_after_ms = 1000;
    rec r;
    mm_pool *p = new_pool(&c, &r);
    add(p, 1, 1000, "eu", 0);
    add(p, 2, 5000, "eu", 500); /* nobody within its window */
    assert_int_equal(pass(&r, 999), 0);
    assert_int_equal(pass(&r, 1000), 1); /* ticket 1 alone, after the fill wait */
    assert_int_equal(r.size[0], 1);
    assert_int_equal(r.ids[0][0], 1);
    assert_non_null(mm_pool_find(p, 2));
    assert_int_equal(pass(&r, 1500), 1);
    assert_int_equal(mm_pool_count(p), 0);
    mm_pool_free(p);
}

static void test_fill_sizes_follow_teams(void **state)
{
    (void)state;
    mm_config c = cfg_base();
    c.size_min = 2;
    c.size_max = 4;
    c.teams = 2;
    c.fill_after_ms = 0;
    rec r;
    mm_pool *p = new_pool(&c, &r);
    add(p, 1, 1000, "eu", 0);
    add(p, 2, 1010, "eu", 0);
    add(p, 3, 1020, "eu", 0);
    assert_int_equal(pass(&r, 0), 1);
    assert_int_equal(r.size[0], 2); /* 3 cannot be split into equal teams */
    assert_true(r.had_teams[0]);
    assert_int_not_equal(r.team[0][0], r.team[0][1]);
    assert_int_equal(mm_pool_count(p), 1);
    mm_pool_free(p);
}

static void test_full_groups_preferred(void **state)
{
    (void)state;
    mm_config c = cfg_base();
    c.size_min = 2;
    c.size_max = 4;
    c.widen_per_second = 0;
    c.fill_after_ms = 0;
    rec r;
    mm_pool *p = new_pool(&c, &r);
    /* A (oldest) can only pair with B; B, C, D, E make a full group. A
     * seed-first algorithm that filled eagerly would form {A,B} + {C,D,E}. */
    add(p, 1, 1000, "eu", 0);
    add(p, 2, 1100, "eu", 10);
    add(p, 3, 1150, "eu", 20);
    add(p, 4, 1180, "eu", 30);
    add(p, 5, 1200, "eu", 40);
    assert_int_equal(pass(&r, 100), 1);
    assert_int_equal(r.size[0], 4);
    assert_false(group_has(&r, 0, 1));
    assert_non_null(mm_pool_find(p, 1));

    /* Four compatible tickets: one group of 4, not two pairs. */
    add(p, 11, 1000, "us", 0);
    add(p, 12, 1001, "us", 0);
    add(p, 13, 1002, "us", 0);
    add(p, 14, 1003, "us", 0);
    assert_int_equal(pass(&r, 100), 1);
    assert_int_equal(r.size[1], 4);
    mm_pool_free(p);
}

static void test_longest_waiting_preferred(void **state)
{
    (void)state;
    mm_config c = cfg_base();
    c.size_min = c.size_max = 4;
    rec r;
    mm_pool *p = new_pool(&c, &r);
    /* The tightest group is {2,3,4,5}; the oldest ticket must be in. */
    add(p, 1, 1000, "eu", 0);
    add(p, 2, 1040, "eu", 100);
    add(p, 3, 1041, "eu", 200);
    add(p, 4, 1042, "eu", 300);
    add(p, 5, 1043, "eu", 400);
    assert_int_equal(pass(&r, 500), 1);
    assert_int_equal(r.ids[0][0], 1); /* entries oldest first */
    assert_false(group_has(&r, 0, 5));
    assert_non_null(mm_pool_find(p, 5));

    /* Without skill: the oldest tickets, whatever the insertion order. */
    c.has_skill = false;
    c.size_min = c.size_max = 3;
    mm_pool_free(p);
    p = new_pool(&c, &r);
    const int64_t t[6] = {50, 10, 30, 20, 60, 40};
    for (int i = 0; i < 6; i++) add(p, (uint64_t)t[i], 0, "eu", t[i]);
    assert_int_equal(pass(&r, 100), 2);
    assert_int_equal(r.ids[0][0], 10);
    assert_int_equal(r.ids[0][1], 20);
    assert_int_equal(r.ids[0][2], 30);
    mm_pool_free(p);
}

/* ---- teams -------------------------------------------------------------- */

/* Smallest possible (max - min) of team sums, by brute force. */
static double best_diff(const double *s, size_t n, int teams, int *cur, size_t i, int *cnt)
{
    if (i == n) {
        double sum[8] = {0};
        for (size_t k = 0; k < n; k++) sum[cur[k]] += s[k];
        double lo = sum[0], hi = sum[0];
        for (int t = 1; t < teams; t++) {
            if (sum[t] < lo) lo = sum[t];
            if (sum[t] > hi) hi = sum[t];
        }
        return hi - lo;
    }
    double best = INFINITY;
    for (int t = 0; t < teams; t++) {
        if (cnt[t] == (int)n / teams) continue;
        cur[i] = t;
        cnt[t]++;
        double d = best_diff(s, n, teams, cur, i + 1, cnt);
        if (d < best) best = d;
        cnt[t]--;
    }
    return best;
}

static double diff_of(const double *s, size_t n, int teams, const int *team, int *cnt)
{
    double sum[8] = {0};
    for (int t = 0; t < teams; t++) cnt[t] = 0;
    for (size_t k = 0; k < n; k++) {
        assert_true(team[k] >= 0 && team[k] < teams);
        sum[team[k]] += s[k];
        cnt[team[k]]++;
    }
    double lo = sum[0], hi = sum[0];
    for (int t = 1; t < teams; t++) {
        if (sum[t] < lo) lo = sum[t];
        if (sum[t] > hi) hi = sum[t];
    }
    return hi - lo;
}

static void test_teams_balanced(void **state)
{
    (void)state;
    /* Simple cases against brute force: minimal difference, equal sizes. */
    const double c1[6] = {100, 200, 300, 400, 500, 600};
    const double c2[4] = {1000, 1010, 1020, 1030};
    const double c3[6] = {1500, 1200, 1800, 1350, 1650, 1400};
    const double c4[6] = {900, 1000, 1100, 1200, 1300, 2000};
    struct {
        const double *s;
        size_t n;
        int teams;
    } cases[] = {{c1, 6, 2}, {c2, 4, 2}, {c3, 6, 2}, {c3, 6, 3}, {c4, 6, 2}, {c4, 6, 3}};
    for (size_t i = 0; i < MB_ARRAY_LEN(cases); i++) {
        int team[8], cur[8], cnt[8] = {0};
        mm_teams_balance(cases[i].s, cases[i].n, cases[i].teams, team);
        double got = diff_of(cases[i].s, cases[i].n, cases[i].teams, team, cnt);
        for (int t = 0; t < cases[i].teams; t++) assert_int_equal(cnt[t], (int)cases[i].n / cases[i].teams);
        int zero[8] = {0};
        double best = best_diff(cases[i].s, cases[i].n, cases[i].teams, cur, 0, zero);
        if (fabs(got - best) > 1e-9) fail_msg("case %zu: diff %g, optimum %g", i, got, best);
    }

    /* Through a pass: teams_out is filled and balanced (1000+1030 vs 1010+1020). */
    mm_config c = cfg_base();
    c.size_min = c.size_max = 4;
    c.teams = 2;
    rec r;
    mm_pool *p = new_pool(&c, &r);
    for (int i = 0; i < 4; i++) add(p, (uint64_t)i + 1, c2[i], "eu", i);
    assert_int_equal(pass(&r, 10), 1);
    assert_true(r.had_teams[0]);
    int cnt[8];
    assert_true(diff_of(r.skill[0], 4, 2, r.team[0], cnt) < 1e-9);
    assert_int_equal(cnt[0], 2);
    mm_pool_free(p);

    /* No teams configured: teams_out is NULL. */
    c.teams = 0;
    p = new_pool(&c, &r);
    for (int i = 0; i < 4; i++) add(p, (uint64_t)i + 1, c2[i], "eu", i);
    assert_int_equal(pass(&r, 10), 1);
    assert_false(r.had_teams[0]);
    mm_pool_free(p);
}

/* ---- callbacks ---------------------------------------------------------- */

static void test_rejection_keeps_tickets(void **state)
{
    (void)state;
    mm_config c = cfg_base();
    rec r;
    mm_pool *p = new_pool(&c, &r);
    /* {1,2} is the tightest pair for both 1 and 2: once rejected with seed 1
     * it must not come back with seed 2. */
    const double sk[4] = {1000, 1001, 1050, 1051};
    for (int i = 0; i < 4; i++) add(p, (uint64_t)i + 1, sk[i], "eu", i);
    r.reject = true;
    assert_int_equal(pass(&r, 10), 0);
    assert_true(r.calls >= 1);
    assert_true(r.calls <= 4); /* each seed proposes at most once per pass */
    assert_offers_distinct(&r);
    assert_int_equal(mm_pool_count(p), 4);
    for (uint64_t id = 1; id <= 4; id++) assert_non_null(mm_pool_find(p, id));

    size_t before = r.calls;
    assert_int_equal(pass(&r, 20), 0); /* a new pass proposes again */
    assert_true(r.calls > before);

    r.reject = false;
    r.ngroups = 0;
    assert_int_equal(pass(&r, 30), 2);
    assert_int_equal(mm_pool_count(p), 0);
    for (uint64_t id = 1; id <= 4; id++) assert_null(mm_pool_find(p, id));
    mm_pool_free(p);

    /* With fill: every candidate offered in one pass is different (a
     * rejected seed sits out, also from the smaller groups of phase 2). */
    c.size_min = 2;
    c.size_max = 4;
    c.fill_after_ms = 0;
    p = new_pool(&c, &r);
    for (int i = 0; i < 6; i++) add(p, (uint64_t)i + 1, 1000 + i, "eu", i);
    r.reject = true;
    assert_int_equal(pass(&r, 10), 0);
    assert_true(r.calls >= 2 && r.calls <= 6);
    assert_offers_distinct(&r);
    assert_int_equal(mm_pool_count(p), 6);
    mm_pool_free(p);
}

static void test_no_mutation_inside_callback(void **state)
{
    (void)state;
    mm_config c = cfg_base();
    rec r;
    mm_pool *p = new_pool(&c, &r);
    add(p, 1, 1000, "eu", 0);
    add(p, 2, 1000, "eu", 0);
    r.try_add = true;
    r.add_in_cb = MB_OK;
    assert_int_equal(pass(&r, 0), 1);
    assert_int_equal(r.add_in_cb, MB_ERR);
    assert_null(mm_pool_find(p, 999999));
    mm_pool_free(p);
}

typedef struct {
    size_t n;
    uint64_t ids[8];
} expired_rec;

static void on_expired(void *ud, const mm_entry *e)
{
    expired_rec *x = ud;
    if (x->n < 8) x->ids[x->n] = e->ticket_id;
    x->n++;
}

static void test_timeout_expiry(void **state)
{
    (void)state;
    mm_config c = cfg_base();
    c.timeout_ms = 1000;
    rec r;
    mm_pool *p = new_pool(&c, &r);
    add(p, 1, 1000, "eu", 0);
    add(p, 2, 3000, "eu", 500);
    add(p, 3, 6000, "us", 700);
    expired_rec x = {0};
    assert_int_equal(mm_pool_expire(p, 999, on_expired, &x), 0);
    assert_int_equal(mm_pool_expire(p, 1000, on_expired, &x), 1);
    assert_int_equal(x.ids[0], 1);
    assert_null(mm_pool_find(p, 1));
    assert_int_equal(mm_pool_count(p), 2);
    assert_int_equal(mm_pool_expire(p, 1499, on_expired, &x), 0);
    assert_int_equal(mm_pool_expire(p, 1700, on_expired, &x), 2);
    assert_int_equal(x.n, 3);
    assert_int_equal(mm_pool_count(p), 0);
    mm_pool_free(p);

    c.timeout_ms = MM_NEVER;
    p = new_pool(&c, &r);
    add(p, 1, 1000, "eu", 0);
    assert_int_equal(mm_pool_expire(p, INT64_MAX / 2, on_expired, &x), 0);
    assert_int_equal(mm_pool_count(p), 1);
    mm_pool_free(p);
}

/* ---- randomised: validity and maximality -------------------------------- */

static uint64_t rng_state;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

typedef struct {
    uint64_t id;
    double skill;
    int64_t enq;
    int region;
} sim_ticket;

static double win_of(const mm_config *c, int64_t enq, int64_t now)
{
    double w = c->window + c->widen_per_second * (double)(now - enq) / 1000.0;
    return w < c->max_window ? w : c->max_window;
}

/* Does an acceptable group of exactly k exist among the live tickets (one
 * that contains t[must], unless must is SIZE_MAX)? Brute force over subsets
 * of one region, pruned (a partial subset whose spread already exceeds its
 * smallest window cannot recover); independent of pool.c. */
static bool any_group_from(const mm_config *c, const sim_ticket *t, size_t n, size_t k, int64_t now,
                           size_t skip, size_t start, size_t depth, int region, double lo, double hi,
                           double w)
{
    if (depth == k) return true;
    for (size_t i = start; i < n; i++) {
        if (i == skip || (depth > 0 && t[i].region != region)) continue;
        double lo2 = fmin(lo, t[i].skill), hi2 = fmax(hi, t[i].skill);
        double w2 = fmin(w, win_of(c, t[i].enq, now));
        if (hi2 - lo2 > w2) continue;
        if (any_group_from(c, t, n, k, now, skip, i + 1, depth + 1, t[i].region, lo2, hi2, w2)) return true;
    }
    return false;
}

static bool any_group(const mm_config *c, const sim_ticket *t, size_t n, size_t k, int64_t now, size_t must)
{
    if (must == SIZE_MAX)
        return any_group_from(c, t, n, k, now, SIZE_MAX, 0, 0, -1, INFINITY, -INFINITY, INFINITY);
    const sim_ticket *m = &t[must];
    return any_group_from(c, t, n, k, now, must, 0, 1, m->region, m->skill, m->skill, win_of(c, m->enq, now));
}

static void run_random(const mm_config *c, uint64_t seed, int rounds, int max_arrivals, int64_t age_spread,
                       uint64_t skill_range)
{
    rng_state = seed;
    rec r;
    mm_pool *p = new_pool(c, &r);
    sim_ticket live[256];
    size_t nlive = 0;
    uint64_t next_id = 1;
    int64_t now = 0;
    size_t matched_total = 0;
    for (int round = 0; round < rounds; round++) {
        /* Arrivals and cancellations. */
        int arrivals = (int)(rnd() % (uint64_t)(max_arrivals + 1));
        for (int i = 0; i < arrivals && nlive < 200; i++) {
            sim_ticket t = {next_id++, 1000 + (double)(rnd() % skill_range),
                            now - (int64_t)(rnd() % (uint64_t)age_spread), (int)(rnd() % 2)};
            const char *same[1] = {t.region ? "us" : "eu"};
            add2(p, t.id, t.skill, same, t.enq);
            live[nlive++] = t;
        }
        if (nlive > 0 && rnd() % 4 == 0) {
            size_t i = rnd() % nlive;
            assert_int_equal(mm_pool_remove(p, live[i].id), MB_OK);
            live[i] = live[--nlive];
        }

        now += 100 + (int64_t)(rnd() % 200);

        /* Longest-waiting first: the oldest ticket of each region must be
         * matched by this pass whenever a full group containing it exists. */
        uint64_t must_match[2] = {0, 0};
        for (int region = 0; region < 2; region++) {
            size_t oldest = SIZE_MAX;
            bool unique = true;
            for (size_t i = 0; i < nlive; i++) {
                if (live[i].region != region) continue;
                if (oldest == SIZE_MAX || live[i].enq < live[oldest].enq) {
                    oldest = i;
                    unique = true;
                } else if (live[i].enq == live[oldest].enq) {
                    unique = false;
                }
            }
            if (oldest != SIZE_MAX && unique && any_group(c, live, nlive, (size_t)c->size_max, now, oldest))
                must_match[region] = live[oldest].id;
        }

        r.ngroups = 0; /* the record holds this pass's groups only */
        pass(&r, now);
        for (int region = 0; region < 2; region++)
            if (must_match[region] && mm_pool_find(p, must_match[region]))
                fail_msg("seed %llu round %d: oldest ticket %llu had a group but was left",
                         (unsigned long long)seed, round, (unsigned long long)must_match[region]);
        assert_int_equal(r.invalid, 0);

        for (size_t g = 0; g < r.ngroups; g++) {
            size_t k = r.size[g];
            assert_true(k >= (size_t)c->size_min && k <= (size_t)c->size_max);
            if (c->teams > 0) assert_int_equal(k % (size_t)c->teams, 0);
            int64_t oldest = INT64_MAX;
            for (size_t i = 0; i < k; i++) {
                size_t j = 0;
                while (j < nlive && live[j].id != r.ids[g][i]) j++;
                assert_true(j < nlive); /* was waiting, matched once */
                if (live[j].enq < oldest) oldest = live[j].enq;
                live[j] = live[--nlive];
                assert_null(mm_pool_find(p, r.ids[g][i]));
            }
            if (k < (size_t)c->size_max) assert_true(now - oldest >= c->fill_after_ms);
            matched_total += k;
        }
        assert_int_equal(mm_pool_count(p), nlive);
        for (size_t i = 0; i < nlive; i++) {
            const mm_entry *e = mm_pool_find(p, live[i].id);
            assert_true(e && e->ticket_id == live[i].id && e->enqueued_ms == live[i].enq);
        }
        /* Maximality: no full group is left behind by a pass. */
        if (any_group(c, live, nlive, (size_t)c->size_max, now, SIZE_MAX))
            fail_msg("seed %llu round %d: an acceptable full group was left unmatched",
                     (unsigned long long)seed, round);

        /* Expiry: exactly the tickets that waited timeout_ms go. */
        if (c->timeout_ms != MM_NEVER) {
            expired_rec x = {0};
            size_t before = nlive;
            size_t n = mm_pool_expire(p, now, on_expired, &x);
            assert_int_equal(n, x.n);
            for (size_t i = 0; i < nlive;) {
                if (now - live[i].enq >= c->timeout_ms) {
                    assert_null(mm_pool_find(p, live[i].id));
                    live[i] = live[--nlive];
                } else {
                    i++;
                }
            }
            assert_int_equal(before - nlive, n);
            assert_int_equal(mm_pool_count(p), nlive);
        }

        /* An id that just left in a group can be used again at once. */
        if (r.ngroups > 0 && nlive < 200) {
            sim_ticket t = {r.ids[0][0], 1000 + (double)(rnd() % skill_range), now, (int)(rnd() % 2)};
            const char *same[1] = {t.region ? "us" : "eu"};
            add2(p, t.id, t.skill, same, t.enq);
            live[nlive++] = t;
        }
    }
    assert_true(matched_total > 0);
    mm_pool_free(p);
}

static void test_random_maximal(void **state)
{
    (void)state;
    mm_config c = cfg_base();
    c.window = 20;
    c.widen_per_second = 40;
    c.max_window = 200;
    for (int size = 2; size <= 4; size++) {
        c.size_min = c.size_max = size;
        for (uint64_t seed = 1; seed <= 20; seed++) {
            run_random(&c, seed * 7919 + (uint64_t)size, 150, 5, 3000, 600);
            /* Wide spread of ages (so of windows): the nearest neighbours
             * often do not fit and the exact search has to find the group. */
            run_random(&c, seed * 7907 + (uint64_t)size, 150, 3, 20000, 600);
        }
    }
    /* Fill and teams: sizes obey both; full groups still maximal. */
    c.size_min = 2;
    c.size_max = 4;
    c.teams = 2;
    c.fill_after_ms = 1500;
    for (uint64_t seed = 1; seed <= 20; seed++) run_random(&c, seed * 104729, 150, 5, 5000, 600);
    /* With a timeout, over a wider skill range so that some tickets wait. */
    c.timeout_ms = 4000;
    for (uint64_t seed = 1; seed <= 20; seed++) run_random(&c, seed * 15485863, 150, 5, 3000, 3000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_validation),
        cmocka_unit_test(test_add_remove_find),
        cmocka_unit_test(test_oldest_wait),
        cmocka_unit_test(test_large_bucket_churn),
        cmocka_unit_test(test_window_widens_until_match),
        cmocka_unit_test(test_window_of_every_member),
        cmocka_unit_test(test_max_window_cap),
        cmocka_unit_test(test_same_buckets_never_mixed),
        cmocka_unit_test(test_fill_after_wait),
        cmocka_unit_test(test_single_player_groups),
        cmocka_unit_test(test_fill_sizes_follow_teams),
        cmocka_unit_test(test_full_groups_preferred),
        cmocka_unit_test(test_longest_waiting_preferred),
        cmocka_unit_test(test_teams_balanced),
        cmocka_unit_test(test_rejection_keeps_tickets),
        cmocka_unit_test(test_no_mutation_inside_callback),
        cmocka_unit_test(test_timeout_expiry),
        cmocka_unit_test(test_random_maximal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
