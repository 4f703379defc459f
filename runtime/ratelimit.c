/* ratelimit.c - token bucket (see ratelimit.h). */
#include "ratelimit.h"

void mb_bucket_init(mb_bucket *b, double burst, int64_t now_ms)
{
    b->tokens = burst;
    b->last_ms = now_ms;
}

bool mb_bucket_take(mb_bucket *b, double rate_per_s, double burst, int64_t now_ms)
{
    if (now_ms > b->last_ms) {
        b->tokens += (double)(now_ms - b->last_ms) * rate_per_s / 1000.0;
        if (b->tokens > burst) b->tokens = burst;
        b->last_ms = now_ms;
    }
    if (b->tokens < 1.0) return false;
    b->tokens -= 1.0;
    return true;
}
