/* alloc.c - allocation that cannot fail (see mb.h), and clocks. */
#include "mb.h"
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void oom(size_t n)
{
    /* Logging may itself allocate nothing: mb_log writes to a stack buffer. */
    mb_log(MB_LOG_ERROR, "out_of_memory", "bytes=%zu", n);
    abort();
}

void *mb_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) oom(n);
    return p;
}

void *mb_calloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) oom(count * size);
    return p;
}

void *mb_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) oom(n);
    return q;
}

/* ---- scratch arena ----
 * Each block has a 16-byte header holding its size; live counts the blocks
 * not yet freed; when it drops to zero the whole arena is free again. */
#if defined(__SANITIZE_ADDRESS__)
#define MB_SCRATCH_OFF 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MB_SCRATCH_OFF 1
#endif
#endif

#define SCRATCH_BYTES (32u << 10)
#define SCRATCH_HDR 16u
static _Alignas(16) unsigned char scratch[SCRATCH_BYTES];
static size_t scratch_top, scratch_live;
static unsigned char *scratch_last; /* most recent block (may grow in place) */

static bool in_scratch(const void *p)
{
    return (const unsigned char *)p >= scratch && (const unsigned char *)p < scratch + SCRATCH_BYTES;
}

static size_t scratch_size(const void *p)
{
    size_t n;
    memcpy(&n, (const unsigned char *)p - SCRATCH_HDR, sizeof n);
    return n;
}

void *mb_scratch_malloc(void *ctx, size_t n)
{
    (void)ctx;
#ifndef MB_SCRATCH_OFF
    size_t need = SCRATCH_HDR + ((n + 15u) & ~(size_t)15u);
    if (n <= SCRATCH_BYTES && need <= SCRATCH_BYTES - scratch_top) {
        unsigned char *p = scratch + scratch_top + SCRATCH_HDR;
        memcpy(p - SCRATCH_HDR, &n, sizeof n);
        scratch_top += need;
        scratch_live++;
        scratch_last = p;
        return p;
    }
#endif
    return malloc(n ? n : 1);
}

void mb_scratch_free(void *ctx, void *p)
{
    (void)ctx;
    if (!p) return;
    if (!in_scratch(p)) {
        free(p);
        return;
    }
    if (--scratch_live == 0) {
        scratch_top = 0;
        scratch_last = NULL;
    }
}

void *mb_scratch_realloc(void *ctx, void *p, size_t n)
{
    if (!p) return mb_scratch_malloc(ctx, n);
    if (!in_scratch(p)) return realloc(p, n ? n : 1);
    size_t old = scratch_size(p);
    if (p == scratch_last) { /* the newest block grows in place when there is room */
        size_t start = (size_t)((unsigned char *)p - scratch);
        size_t end = start + ((n + 15u) & ~(size_t)15u);
        if (end <= SCRATCH_BYTES) {
            memcpy((unsigned char *)p - SCRATCH_HDR, &n, sizeof n);
            scratch_top = end;
            return p;
        }
    }
    void *q = mb_scratch_malloc(ctx, n);
    if (!q) return NULL;
    memcpy(q, p, old < n ? old : n);
    mb_scratch_free(ctx, p);
    return q;
}

char *mb_strdup(const char *s) { return mb_strndup(s, strlen(s)); }

char *mb_strndup(const char *s, size_t n)
{
    char *d = mb_malloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *mb_sprintf(const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) n = 0;
    char *s = mb_malloc((size_t)n + 1);
    vsnprintf(s, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    return s;
}

void mb_set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

void mb_free(void *p) { free(p); }

int64_t mb_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t mb_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t mb_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
