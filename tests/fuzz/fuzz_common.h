/*
 * fuzz_common.h - helpers shared by the libFuzzer targets in tests/fuzz/.
 *
 * FUZZ_CHECK(cond, ...) is an invariant of the code under test: when it does
 * not hold the target prints the message and aborts, which libFuzzer reports
 * as a crash (and tools/fuzz.sh turns into a regression input).
 */
#ifndef MB_FUZZ_COMMON_H
#define MB_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The libFuzzer entry points each target defines (declared for -Wmissing-prototypes). */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond, ...)                                                            \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            fprintf(stderr, "%s:%d: invariant failed: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                                \
            fputc('\n', stderr);                                                         \
            abort();                                                                     \
        }                                                                                \
    } while (0)

/*
 * FUZZ_KNOWN_BUG(cond, id, ...): like FUZZ_CHECK for a server bug that is
 * reported but not fixed yet (see tests/fuzz/README.md, "Known bugs"). A
 * normal run prints the first occurrence of each id and goes on, so `make
 * test` stays green and the fuzzer keeps looking for new problems;
 * MB_FUZZ_STRICT=1 makes it a crash again (to reproduce it, or once fixed).
 */
#define FUZZ_KNOWN_BUG(cond, id, ...)                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            static int seen_;                                                                      \
            const char *strict_ = getenv("MB_FUZZ_STRICT");                                        \
            if (strict_ && strcmp(strict_, "1") == 0) FUZZ_CHECK(cond, __VA_ARGS__);               \
            if (!seen_++) {                                                                        \
                fprintf(stderr, "known bug %s (%s:%d; MB_FUZZ_STRICT=1 to crash): ", id, __FILE__, \
                        __LINE__);                                                                 \
                fprintf(stderr, __VA_ARGS__);                                                      \
                fputc('\n', stderr);                                                               \
            }                                                                                      \
        }                                                                                          \
    } while (0)

/* A NUL-terminated copy of the input (the caller frees it). */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s) abort();
    if (size) memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* Is s[0..n) valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF)? */
static inline int fuzz_utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned c = p[i];
        size_t k;
        unsigned cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            k = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            k = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            k = 3;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if (n - i <= k) return 0; /* truncated sequence */
        for (size_t j = 1; j <= k; j++) {
            if ((p[i + j] & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (p[i + j] & 0x3F);
        }
        if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += k + 1;
    }
    return 1;
}

#endif
