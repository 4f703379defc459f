/*
 * ratelimit.h - token bucket. `rate` tokens per second refill up to
 * `burst`; each event takes one. Time is passed in (ms), so tests drive it.
 */
#ifndef MB_RATELIMIT_H
#define MB_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

typedef struct mb_bucket {
    double tokens;
    int64_t last_ms;
} mb_bucket;

void mb_bucket_init(mb_bucket *b, double burst, int64_t now_ms);
/* Take one token; false when empty (the event must be refused). */
bool mb_bucket_take(mb_bucket *b, double rate_per_s, double burst, int64_t now_ms);

#endif
