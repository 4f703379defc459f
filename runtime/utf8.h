/*
 * utf8.h - strict UTF-8, as jansson reads it (base layer, header only: the
 * checks sit on per-message paths and stay inline). One definition for the
 * envelope scan and mb_utf8_sanitize (protocol.c) and the Lua JSON encoder
 * (runtime/lua/convert.c).
 */
#ifndef MB_UTF8_H
#define MB_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* Length of the valid UTF-8 sequence at s (at most left bytes), 0 if invalid.
 * Same rules as jansson: no overlongs, no surrogates, at most U+10FFFF. */
static inline size_t mb_utf8_seq(const unsigned char *s, size_t left)
{
    unsigned char c = s[0];
    if (c < 0x80) return 1;
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) n = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else return 0;
    if (left < n || s[1] < lo || s[1] > hi) return 0;
    for (size_t k = 2; k < n; k++)
        if ((s[k] & 0xC0) != 0x80) return 0;
    return n;
}

static inline bool mb_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        size_t n = mb_utf8_seq(p + i, len - i);
        if (!n) return false;
        i += n;
    }
    return true;
}

#endif
