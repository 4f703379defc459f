/*
 * buf.h - a growable byte buffer for building output (JSON text, frames).
 *
 *   mb_buf b = MB_BUF_INIT;
 *   mb_buf_append(&b, "hello", 5);
 *   mb_buf_putc(&b, '!');
 *   send(fd, b.data, b.len, 0);
 *   mb_buf_reset(&b);      // reuse the memory for the next message
 *   mb_buf_free(&b);
 *
 * Memory comes from mb_realloc, so growth cannot fail (it aborts the process
 * when the system is out of memory). Writers that take input from scripts
 * must bound what they append themselves (mb_lua_encode_json does).
 * `data` is not NUL-terminated unless mb_buf_cstr() is called.
 */
#ifndef MB_BUF_H
#define MB_BUF_H

#include <stddef.h>
#include <string.h>

typedef struct mb_buf {
    char *data; /* owned; NULL until the first append */
    size_t len; /* bytes used */
    size_t cap; /* bytes allocated */
} mb_buf;

#define MB_BUF_INIT \
    {               \
        NULL, 0, 0  \
    }

/* Make room for at least `extra` more bytes (grows geometrically). */
void mb_buf_grow(mb_buf *b, size_t extra);
/* Release the memory; the buffer is MB_BUF_INIT again. */
void mb_buf_free(mb_buf *b);
/* NUL-terminate (without counting the NUL in len) and return data. */
const char *mb_buf_cstr(mb_buf *b);

static inline void mb_buf_reserve(mb_buf *b, size_t extra)
{
    if (b->cap - b->len < extra) mb_buf_grow(b, extra);
}

static inline void mb_buf_append(mb_buf *b, const void *p, size_t n)
{
    mb_buf_reserve(b, n);
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
}

static inline void mb_buf_puts(mb_buf *b, const char *s) { mb_buf_append(b, s, strlen(s)); }

static inline void mb_buf_putc(mb_buf *b, char c)
{
    mb_buf_reserve(b, 1);
    b->data[b->len++] = c;
}

/* Forget the contents, keep the memory. */
static inline void mb_buf_reset(mb_buf *b) { b->len = 0; }

#endif
