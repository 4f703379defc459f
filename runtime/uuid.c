/*
 * uuid.c - random RFC 4122 version 4 ids (base layer: libsodium only).
 */
#include "uuid.h"

#include <ctype.h>
#include <sodium.h>
#include <stdio.h>

void mb_uuid(char out[37])
{
    unsigned char b[16];
    randombytes_buf(b, sizeof b);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

bool mb_uuid_valid(const char *s)
{
    if (!s) return false;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-') return false;
        } else if (!isxdigit((unsigned char)s[i])) return false;
    }
    return s[36] == '\0';
}

void mb_uuid_lower(const char *s, char out[37])
{
    for (int i = 0; i < 36; i++) out[i] = (char)tolower((unsigned char)s[i]);
    out[36] = '\0';
}
