/* buf.c - growable byte buffer (see buf.h). */
#include "buf.h"

#include "mb.h"

void mb_buf_grow(mb_buf *b, size_t extra)
{
    size_t need = b->len + extra;
    if (need < b->len) need = (size_t)-1; /* overflow: mb_realloc aborts */
    if (need <= b->cap) return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) {
        size_t next = cap * 2;
        if (next <= cap) {
            cap = need;
            break;
        }
        cap = next;
    }
    b->data = mb_realloc(b->data, cap);
    b->cap = cap;
}

void mb_buf_free(mb_buf *b)
{
    if (!b) return;
    mb_free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

const char *mb_buf_cstr(mb_buf *b)
{
    mb_buf_reserve(b, 1);
    b->data[b->len] = '\0';
    return b->data;
}
