/* ratelimit.c - token bucket (see ratelimit.h). */
#include "ratelimit.h"
#include "map.h"

#include <stdlib.h>

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

bool mb_bucket_full(const mb_bucket *b, double rate_per_s, double burst, int64_t now_ms)
{
    double t = b->tokens;
    if (now_ms > b->last_ms) t += (double)(now_ms - b->last_ms) * rate_per_s / 1000.0;
    return t >= burst;
}

size_t mb_bucket_sweep(struct mb_smap *m, double rate_per_s, double burst, int64_t now_ms)
{
    size_t n = 0, it = 0;
    const char *key;
    void *v;
    /* deleting the entry just returned is safe (map.h) */
    while (mb_smap_next(m, &it, &key, &v)) {
        if (!mb_bucket_full(v, rate_per_s, burst, now_ms)) continue;
        mb_smap_del(m, key);
        free(v);
        n++;
    }
    return n;
}
