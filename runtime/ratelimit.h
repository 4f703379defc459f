/*
 * ratelimit.h - token bucket. `rate` tokens per second refill up to
 * `burst`; each event takes one. Time is passed in (ms), so tests drive it.
 */
#ifndef MB_RATELIMIT_H
#define MB_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct mb_bucket {
    double tokens;
    int64_t last_ms;
} mb_bucket;

void mb_bucket_init(mb_bucket *b, double burst, int64_t now_ms);
/* Take one token; false when empty (the event must be refused). */
bool mb_bucket_take(mb_bucket *b, double rate_per_s, double burst, int64_t now_ms);

/* True when the bucket has refilled to `burst` by now_ms: it then behaves
 * exactly like a new one, so a table of buckets can forget it. */
bool mb_bucket_full(const mb_bucket *b, double rate_per_s, double burst, int64_t now_ms);

struct mb_smap;
/* Delete and free() every full bucket of a table of malloc'd buckets
 * (key -> mb_bucket *) sharing one rate and burst; returns how many. Per-key
 * tables (address, account, player) call it now and then so they hold only
 * the keys seen recently instead of every key ever seen. */
size_t mb_bucket_sweep(struct mb_smap *m, double rate_per_s, double burst, int64_t now_ms);

#endif
