/*
 * mb.h - definitions shared by every part of Moonbase: status codes,
 * allocation that cannot fail, small helpers.
 *
 * Allocation: mb_malloc / mb_calloc / mb_realloc / mb_strdup abort the
 * process (after logging the size) when the system is out of memory, so
 * call sites carry no NULL checks. The only recoverable allocation failure
 * is inside a Lua VM (see runtime/lua/).
 */
#ifndef MB_H
#define MB_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

/* One status vocabulary: functions that can fail return mb_status. */
typedef enum { MB_OK = 0, MB_ERR = -1 } mb_status;

void *mb_malloc(size_t n);
void *mb_calloc(size_t count, size_t size);
void *mb_realloc(void *p, size_t n);
char *mb_strdup(const char *s);
char *mb_strndup(const char *s, size_t n);
/* Scratch arena for short-lived parser state (the yajl handles of the
 * per-message JSON paths): allocations bump through one static 32 KiB
 * block that is reused as soon as everything in it has been freed, so a
 * parse costs no malloc. Larger or overflowing requests go to malloc.
 * The signatures are those of yajl_alloc_funcs (ctx unused). Loop thread
 * only. With AddressSanitizer everything goes to malloc (checked). */
void *mb_scratch_malloc(void *ctx, size_t n);
void *mb_scratch_realloc(void *ctx, void *p, size_t n);
void mb_scratch_free(void *ctx, void *p);

/* printf into a freshly allocated string; caller frees. */
char *mb_sprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* printf into the caller's error buffer err (errlen bytes, truncated);
 * nothing happens when err is NULL or errlen is 0. */
void mb_set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void mb_free(void *p);

/* Monotonic clock in milliseconds / microseconds (CLOCK_MONOTONIC). */
int64_t mb_now_ms(void);
int64_t mb_now_us(void);
/* Wall clock in milliseconds since the Unix epoch. */
int64_t mb_wall_ms(void);

#define MB_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define MB_UNUSED(x) ((void)(x))

#endif
