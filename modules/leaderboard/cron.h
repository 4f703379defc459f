/*
 * cron.h - standard 5-field cron expressions (minute hour day-of-month
 * month day-of-week), evaluated in UTC, for scheduled leaderboard resets.
 *
 * Each field: `*`, a number, a range `a-b`, a step `*\/n` or `a-b/n` or
 * `a/n`, or a comma list of those. Months 1-12 or JAN-DEC, days of week 0-7
 * (0 and 7 are Sunday) or SUN-SAT. When both day-of-month and day-of-week
 * are restricted (neither is `*`), a day matches either (the classic cron
 * rule). Macros: @yearly (@annually), @monthly, @weekly, @daily
 * (@midnight), @hourly. Debian has no C library for this (libcron is not
 * packaged), hence this small parser; unit-tested in tests/unit/test_lb_cron.c.
 */
#ifndef MB_LB_CRON_H
#define MB_LB_CRON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mb.h"

typedef struct lb_cron {
    uint64_t minute; /* bit i: minute i matches */
    uint32_t hour;
    uint32_t dom;   /* bits 1..31 */
    uint16_t month; /* bits 1..12 */
    uint8_t dow;    /* bits 0..6 (7 folded into 0) */
    bool dom_star, dow_star;
} lb_cron;

/* Parse expr: 0, or -1 with a reason in err. */
mb_status lb_cron_parse(const char *expr, lb_cron *c, char *err, size_t errlen);
/* The first matching minute strictly after after_ms (Unix ms, UTC), in
 * Unix ms; -1 when none within 5 years (e.g. "0 0 30 2 *"). */
int64_t lb_cron_next(const lb_cron *c, int64_t after_ms);

#endif
