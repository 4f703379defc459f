/*
 * cron.c - 5-field cron expressions in UTC (see cron.h).
 */
#include "cron.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static const char *const month_names[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                          "jul", "aug", "sep", "oct", "nov", "dec"};
static const char *const dow_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

/* A number or (for months and days of week) a name; advances *p. */
static int read_value(const char **p, int field, int *out)
{
    const char *s = *p;
    if (isdigit((unsigned char)*s)) {
        int v = 0, digits = 0;
        while (isdigit((unsigned char)*s) && digits < 4) {
            v = v * 10 + (*s++ - '0');
            digits++;
        }
        if (isdigit((unsigned char)*s)) return -1;
        *p = s;
        *out = v;
        return 0;
    }
    const char *const *names = field == 3 ? month_names : field == 4 ? dow_names : NULL;
    int n = field == 3 ? 12 : 7, base = field == 3 ? 1 : 0;
    if (!names || !isalpha((unsigned char)s[0]) || !isalpha((unsigned char)s[1]) ||
        !isalpha((unsigned char)s[2]) || isalpha((unsigned char)s[3]))
        return -1;
    for (int i = 0; i < n; i++)
        if (strncasecmp(s, names[i], 3) == 0) {
            *p = s + 3;
            *out = i + base;
            return 0;
        }
    return -1;
}

static const char *const field_names[] = {"minute", "hour", "day of month", "month", "day of week"};
static const int lo_of[] = {0, 0, 1, 1, 0}, hi_of[] = {59, 23, 31, 12, 7};

/* One field (text of length len) into a bit set. */
static mb_status parse_field(const char *text, size_t len, int field, uint64_t *bits, bool *star, char *err,
                             size_t errlen)
{
    char buf[128];
    if (len == 0 || len >= sizeof buf) {
        snprintf(err, errlen, "%s field is empty or too long", field_names[field]);
        return MB_ERR;
    }
    memcpy(buf, text, len);
    buf[len] = '\0';
    *bits = 0;
    *star = strcmp(buf, "*") == 0 || strcmp(buf, "?") == 0;
    int lo = lo_of[field], hi = hi_of[field];
    const char *p = buf;
    for (;;) {
        int a, b, step = 1;
        bool range = true;
        if (*p == '*') {
            a = lo;
            b = hi;
            p++;
        } else {
            if (read_value(&p, field, &a) < 0) goto bad;
            b = a;
            range = *p == '-';
            if (range) {
                p++;
                if (read_value(&p, field, &b) < 0) goto bad;
            }
        }
        if (*p == '/') {
            p++;
            if (read_value(&p, -1, &step) < 0 || step < 1) goto bad;
            if (!range) b = hi; /* "a/n": from a to the end */
        }
        if (a < lo || b > hi || a > b) {
            snprintf(err, errlen, "%s field: %d-%d is outside %d-%d", field_names[field], a, b, lo, hi);
            return MB_ERR;
        }
        for (int v = a; v <= b; v += step) *bits |= 1ull << (field == 4 && v == 7 ? 0 : v);
        if (*p == ',') {
            p++;
            continue;
        }
        if (*p == '\0') break;
        goto bad;
    }
    return MB_OK;
bad:
    snprintf(err, errlen, "%s field '%s' is not a cron field (*, n, a-b, */n, a-b/n, lists)",
             field_names[field], buf);
    return MB_ERR;
}

mb_status lb_cron_parse(const char *expr, lb_cron *c, char *err, size_t errlen)
{
    static const struct {
        const char *name, *expr;
    } macros[] = {{"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
                  {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
                  {"@hourly", "0 * * * *"}};
    memset(c, 0, sizeof *c);
    if (!expr) {
        snprintf(err, errlen, "no cron expression");
        return MB_ERR;
    }
    if (expr[0] == '@') {
        for (size_t i = 0; i < sizeof macros / sizeof macros[0]; i++)
            if (strcmp(expr, macros[i].name) == 0) return lb_cron_parse(macros[i].expr, c, err, errlen);
        snprintf(err, errlen, "unknown cron macro '%.32s' (@yearly, @monthly, @weekly, @daily, @hourly)",
                 expr);
        return MB_ERR;
    }
    const char *p = expr;
    uint64_t bits[5];
    bool star[5];
    for (int f = 0; f < 5; f++) {
        while (*p == ' ' || *p == '\t') p++;
        const char *s = p;
        while (*p && *p != ' ' && *p != '\t') p++;
        if (p == s) {
            snprintf(err, errlen,
                     "a cron expression has 5 fields (minute hour day-of-month month day-of-week)");
            return MB_ERR;
        }
        if (parse_field(s, (size_t)(p - s), f, &bits[f], &star[f], err, errlen) != MB_OK) return MB_ERR;
    }
    while (*p == ' ' || *p == '\t') p++;
    if (*p) {
        snprintf(err, errlen, "a cron expression has 5 fields (minute hour day-of-month month day-of-week)");
        return MB_ERR;
    }
    c->minute = bits[0];
    c->hour = (uint32_t)bits[1];
    c->dom = (uint32_t)bits[2];
    c->month = (uint16_t)bits[3];
    c->dow = (uint8_t)bits[4];
    c->dom_star = star[2];
    c->dow_star = star[4];
    return MB_OK;
}

static bool day_matches(const lb_cron *c, const struct tm *tm)
{
    bool dom = (c->dom >> tm->tm_mday) & 1, dow = (c->dow >> tm->tm_wday) & 1;
    if (c->dom_star || c->dow_star) return dom && dow;
    return dom || dow;
}

int64_t lb_cron_next(const lb_cron *c, int64_t after_ms)
{
    time_t t = (time_t)(after_ms / 1000);
    if (after_ms < 0 && after_ms % 1000) t--;
    t = t - t % 60 + 60; /* the next whole minute */
    struct tm tm;
    gmtime_r(&t, &tm);
    int start_year = tm.tm_year;
    while (tm.tm_year - start_year <= 5) {
        if (!((c->month >> (tm.tm_mon + 1)) & 1)) {
            tm.tm_mon++;
            tm.tm_mday = 1;
            tm.tm_hour = tm.tm_min = 0;
        } else if (!day_matches(c, &tm)) {
            tm.tm_mday++;
            tm.tm_hour = tm.tm_min = 0;
        } else if (!((c->hour >> tm.tm_hour) & 1)) {
            tm.tm_hour++;
            tm.tm_min = 0;
        } else if (!((c->minute >> tm.tm_min) & 1)) {
            tm.tm_min++;
        } else {
            return (int64_t)timegm(&tm) * 1000;
        }
        tm.tm_sec = 0;
        t = timegm(&tm); /* normalises overflowing fields */
        gmtime_r(&t, &tm);
    }
    return -1;
}
