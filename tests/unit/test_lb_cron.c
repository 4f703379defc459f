/*
 * test_lb_cron.c - the 5-field cron parser of leaderboard resets
 * (modules/leaderboard/cron.c): accepted and refused expressions, and next
 * reset times in UTC across hours, days, months, leap years and the
 * day-of-month OR day-of-week rule.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cron.h"

/* "YYYY-MM-DD HH:MM" UTC -> Unix ms */
static int64_t at(const char *s)
{
    struct tm tm = {0};
    int y, mo, d, h, mi;
    if (sscanf(s, "%d-%d-%d %d:%d", &y, &mo, &d, &h, &mi) != 5) fail_msg("bad time %s", s);
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    return (int64_t)timegm(&tm) * 1000;
}

static void expect_next(const char *expr, const char *after, const char *want)
{
    lb_cron c;
    char err[256];
    if (lb_cron_parse(expr, &c, err, sizeof err) != MB_OK) fail_msg("'%s' refused: %s", expr, err);
    int64_t got = lb_cron_next(&c, at(after));
    if (got != at(want)) {
        time_t t = (time_t)(got / 1000);
        struct tm tm;
        gmtime_r(&t, &tm);
        fail_msg("'%s' after %s: got %04d-%02d-%02d %02d:%02d, want %s", expr, after, tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, want);
    }
}

static void test_next(void **state)
{
    (void)state;
    expect_next("* * * * *", "2026-12-04 21:30", "2026-12-04 21:31");
    expect_next("0 0 * * *", "2026-12-04 21:30", "2026-12-05 00:00");
    expect_next("@daily", "2026-12-31 23:59", "2027-01-01 00:00");
    expect_next("@hourly", "2026-12-04 21:00", "2026-12-04 22:00");
    expect_next("*/15 * * * *", "2026-12-04 21:31", "2026-12-04 21:45");
    expect_next("5/20 * * * *", "2026-12-04 21:26", "2026-12-04 21:45");
    expect_next("0 9-17/4 * * *", "2026-12-04 13:00", "2026-12-04 17:00");
    expect_next("30 2 1 * *", "2026-12-04 00:00", "2027-01-01 02:30");
    expect_next("@weekly", "2026-12-04 10:00", "2026-12-06 00:00");   /* Friday -> Sunday */
    expect_next("0 0 * * 7", "2026-12-04 10:00", "2026-12-06 00:00"); /* 7 is Sunday too */
    expect_next("0 0 * * MON", "2026-12-04 10:00", "2026-12-07 00:00");
    expect_next("0 0 1 JAN,jul *", "2026-12-04 10:00", "2027-01-01 00:00");
    expect_next("0 12 29 2 *", "2026-03-01 00:00", "2028-02-29 12:00"); /* leap day */
    expect_next("0 0 13 * 5", "2026-12-04 10:00", "2026-12-11 00:00");  /* 13th OR Friday */
    expect_next("0 0 1,15 * *", "2026-12-04 10:00", "2026-12-15 00:00");
    expect_next("59 23 31 12 *", "2026-12-31 23:59", "2027-12-31 23:59"); /* strictly after */
    /* seconds inside the minute still go to the next minute */
    lb_cron c;
    char err[128];
    assert_int_equal(lb_cron_parse("* * * * *", &c, err, sizeof err), MB_OK);
    assert_int_equal(lb_cron_next(&c, at("2026-12-04 21:30") + 59999), at("2026-12-04 21:31"));
    /* never: 30 February */
    assert_int_equal(lb_cron_parse("0 0 30 2 *", &c, err, sizeof err), MB_OK);
    assert_int_equal(lb_cron_next(&c, at("2026-12-04 21:30")), -1);
}

static void expect_refused(const char *expr, const char *fragment)
{
    lb_cron c;
    char err[256] = "";
    if (lb_cron_parse(expr, &c, err, sizeof err) == MB_OK) fail_msg("'%s' was accepted", expr);
    if (!strstr(err, fragment)) fail_msg("'%s': error '%s' lacks '%s'", expr, err, fragment);
}

static void test_refused(void **state)
{
    (void)state;
    expect_refused("", "5 fields");
    expect_refused("* * * *", "5 fields");
    expect_refused("* * * * * *", "5 fields");
    expect_refused("60 * * * *", "minute field: 60-60 is outside 0-59");
    expect_refused("* 24 * * *", "hour field");
    expect_refused("* * 0 * *", "day of month field");
    expect_refused("* * * 13 *", "month field");
    expect_refused("* * * * 8", "day of week field");
    expect_refused("5-1 * * * *", "minute field: 5-1");
    expect_refused("*/0 * * * *", "not a cron field");
    expect_refused("a * * * *", "not a cron field");
    expect_refused("1,,2 * * * *", "not a cron field");
    expect_refused("* * * FOO *", "not a cron field");
    expect_refused("@sometimes", "unknown cron macro");
    expect_refused("99999 * * * *", "not a cron field");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_next),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
