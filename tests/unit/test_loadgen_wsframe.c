/* Unit tests: the load generator's WebSocket frame reader and writer
 * (tests/bench/loadgen/wsframe.c). The load generator counts and times every
 * message it reads with these functions, so a frame lost or split wrong
 * would skew every bench figure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wsframe.h"

/* What lg_wsf_consume delivered, in order. */
typedef struct got {
    int n;
    unsigned op[16];
    char data[16][70016];
    size_t len[16];
    int stop_after; /* return false after this many (0: never) */
} got;

static bool collect(void *ud, unsigned opcode, const uint8_t *data, size_t len)
{
    got *g = ud;
    assert_true(g->n < 16);
    g->op[g->n] = opcode;
    assert_true(len <= sizeof g->data[0]);
    memcpy(g->data[g->n], data, len);
    g->len[g->n] = len;
    g->n++;
    return !(g->stop_after && g->n == g->stop_after);
}

static got *new_got(void)
{
    got *g = calloc(1, sizeof *g);
    assert_non_null(g);
    return g;
}

/* RFC 6455 §5.7: a single-frame unmasked text message "Hello". */
static const uint8_t hello[] = {0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
/* ... a fragmented unmasked text message: "Hel" then "lo". */
static const uint8_t hel_lo[] = {0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f};
/* ... an unmasked ping carrying "Hello". */
static const uint8_t ping[] = {0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
/* ... a masked text message "Hello" (what a client sends). */
static const uint8_t masked_hello[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};

static void test_rfc_examples(void **st)
{
    (void)st;
    lg_wsf f;
    assert_int_equal(lg_wsf_parse(hello, sizeof hello, &f), 2);
    assert_true(f.fin);
    assert_int_equal(f.opcode, LG_WSF_TEXT);
    assert_false(f.masked);
    assert_int_equal(f.payload_len, 5);

    assert_int_equal(lg_wsf_parse(masked_hello, sizeof masked_hello, &f), 6);
    assert_true(f.masked);
    uint8_t p[5];
    memcpy(p, masked_hello + 6, 5);
    lg_wsf_mask(p, 5, f.key, 0);
    assert_memory_equal(p, "Hello", 5);

    /* 256 bytes: 16-bit length; 65536 bytes: 64-bit length */
    const uint8_t b256[] = {0x82, 0x7e, 0x01, 0x00};
    assert_int_equal(lg_wsf_parse(b256, sizeof b256, &f), 4);
    assert_int_equal(f.payload_len, 256);
    assert_int_equal(f.opcode, LG_WSF_BINARY);
    const uint8_t b64k[] = {0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0};
    assert_int_equal(lg_wsf_parse(b64k, sizeof b64k, &f), 10);
    assert_int_equal(f.payload_len, 65536);
}

/* hello, ping, the fragmented "Hel"+"lo", a 300-byte text and a 70,000-byte
 * binary frame in one stream. */
static uint8_t *stream(size_t *n)
{
    size_t cap = 80000, len = 0;
    uint8_t *s = malloc(cap);
    assert_non_null(s);
    memcpy(s + len, hello, sizeof hello), len += sizeof hello;
    memcpy(s + len, ping, sizeof ping), len += sizeof ping;
    memcpy(s + len, hel_lo, sizeof hel_lo), len += sizeof hel_lo;
    s[len++] = 0x81, s[len++] = 0x7e, s[len++] = 300 >> 8, s[len++] = 300 & 0xff;
    memset(s + len, 'a', 300), len += 300;
    s[len++] = 0x82, s[len++] = 0x7f;
    for (int i = 0; i < 8; i++) s[len++] = (uint8_t)(70000ull >> (56 - 8 * i));
    for (int i = 0; i < 70000; i++) s[len++] = (uint8_t)i;
    *n = len;
    return s;
}

static void check_stream(const got *g)
{
    assert_int_equal(g->n, 5);
    assert_int_equal(g->op[0], LG_WSF_TEXT);
    assert_int_equal(g->len[0], 5);
    assert_memory_equal(g->data[0], "Hello", 5);
    assert_int_equal(g->op[1], LG_WSF_PING);
    assert_memory_equal(g->data[1], "Hello", 5);
    assert_int_equal(g->op[2], LG_WSF_TEXT); /* reassembled */
    assert_int_equal(g->len[2], 5);
    assert_memory_equal(g->data[2], "Hello", 5);
    assert_int_equal(g->len[3], 300);
    assert_int_equal(g->data[3][299], 'a');
    assert_int_equal(g->op[4], LG_WSF_BINARY);
    assert_int_equal(g->len[4], 70000);
    assert_int_equal((uint8_t)g->data[4][69999], (uint8_t)69999);
}

/* The stream in one piece, then cut in two at every byte: what the reader
 * keeps (the unconsumed tail) plus the next read must give the same
 * messages, none lost, none twice. */
static void test_every_split(void **st)
{
    (void)st;
    size_t n;
    uint8_t *s = stream(&n);
    got *g = new_got();
    lg_wsf_rx rx = {0};
    bool stopped;
    assert_int_equal(lg_wsf_consume(&rx, s, n, collect, g, &stopped), (ssize_t)n);
    assert_false(stopped);
    check_stream(g);

    uint8_t *buf = malloc(n);
    assert_non_null(buf);
    /* every split in the small frames, then a sample of the big one */
    for (size_t cut = 0; cut <= n; cut += cut < 400 ? 1 : 997) {
        memset(g, 0, sizeof *g);
        ssize_t used = lg_wsf_consume(&rx, s, cut, collect, g, &stopped);
        assert_true(used >= 0 && (size_t)used <= cut);
        size_t keep = cut - (size_t)used; /* the reader's pending bytes */
        memcpy(buf, s + used, keep);
        memcpy(buf + keep, s + cut, n - cut);
        assert_int_equal(lg_wsf_consume(&rx, buf, keep + n - cut, collect, g, &stopped),
                         (ssize_t)(keep + n - cut));
        check_stream(g);
    }
    lg_wsf_rx_free(&rx);
    free(buf);
    free(g);
    free(s);
}

/* A control frame between two fragments is delivered at once and the
 * message still comes out whole. */
static void test_control_between_fragments(void **st)
{
    (void)st;
    const uint8_t in[] = {0x01, 0x03, 'H', 'e', 'l', 0x8a, 0x00, 0x80, 0x02, 'l', 'o'};
    got *g = new_got();
    lg_wsf_rx rx = {0};
    bool stopped;
    assert_int_equal(lg_wsf_consume(&rx, in, sizeof in, collect, g, &stopped), (ssize_t)sizeof in);
    assert_int_equal(g->n, 2);
    assert_int_equal(g->op[0], LG_WSF_PONG);
    assert_int_equal(g->len[0], 0);
    assert_int_equal(g->op[1], LG_WSF_TEXT);
    assert_memory_equal(g->data[1], "Hello", 5);
    lg_wsf_rx_free(&rx);
    free(g);
}

/* The callback says stop: nothing after that frame is touched. */
static void test_stop(void **st)
{
    (void)st;
    uint8_t two[2 * sizeof hello];
    memcpy(two, hello, sizeof hello);
    memcpy(two + sizeof hello, hello, sizeof hello);
    got *g = new_got();
    g->stop_after = 1;
    lg_wsf_rx rx = {0};
    bool stopped;
    assert_int_equal(lg_wsf_consume(&rx, two, sizeof two, collect, g, &stopped), (ssize_t)sizeof hello);
    assert_true(stopped);
    assert_int_equal(g->n, 1);
    free(g);
}

static ssize_t consume_one(const uint8_t *in, size_t n, size_t max)
{
    got *g = new_got();
    lg_wsf_rx rx = {.max_msg = max};
    bool stopped;
    ssize_t r = lg_wsf_consume(&rx, in, n, collect, g, &stopped);
    lg_wsf_rx_free(&rx);
    free(g);
    return r;
}

static void test_protocol_errors(void **st)
{
    (void)st;
    lg_wsf f;
    const uint8_t rsv[] = {0xc1, 0x00};                   /* RSV1 */
    const uint8_t opcode3[] = {0x83, 0x00};               /* reserved opcode */
    const uint8_t long_ping[] = {0x89, 0x7e, 0x00, 0x7e}; /* control frame > 125 */
    const uint8_t frag_ping[] = {0x09, 0x00};             /* fragmented control frame */
    const uint8_t short16[] = {0x81, 0x7e, 0x00, 0x05};   /* 16-bit form for 5 bytes */
    const uint8_t short64[] = {0x81, 0x7f, 0, 0, 0, 0, 0, 0, 0x01, 0x00};
    const uint8_t top64[] = {0x81, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0};
    assert_int_equal(lg_wsf_parse(rsv, sizeof rsv, &f), -1);
    assert_int_equal(lg_wsf_parse(opcode3, sizeof opcode3, &f), -1);
    assert_int_equal(lg_wsf_parse(long_ping, sizeof long_ping, &f), -1);
    assert_int_equal(lg_wsf_parse(frag_ping, sizeof frag_ping, &f), -1);
    assert_int_equal(lg_wsf_parse(short16, sizeof short16, &f), -1);
    assert_int_equal(lg_wsf_parse(short64, sizeof short64, &f), -1);
    assert_int_equal(lg_wsf_parse(top64, sizeof top64, &f), -1);
    /* incomplete headers want more, they are not errors */
    assert_int_equal(lg_wsf_parse(hello, 1, &f), 0);
    assert_int_equal(lg_wsf_parse(short64, 9, &f), 0);
    assert_int_equal(lg_wsf_parse(masked_hello, 5, &f), 0);

    /* a server must not mask */
    assert_int_equal(consume_one(masked_hello, sizeof masked_hello, 0), -1);
    /* a continuation with no message open */
    const uint8_t cont[] = {0x80, 0x01, 'x'};
    assert_int_equal(consume_one(cont, sizeof cont, 0), -1);
    /* a new message while a fragmented one is open */
    const uint8_t two_starts[] = {0x01, 0x01, 'a', 0x81, 0x01, 'b'};
    assert_int_equal(consume_one(two_starts, sizeof two_starts, 0), -1);
    /* longer than max_msg: at once (header), and when fragments add up */
    assert_int_equal(consume_one(hello, sizeof hello, 4), -1);
    const uint8_t frags[] = {0x01, 0x03, 'a', 'b', 'c', 0x80, 0x03, 'd', 'e', 'f'};
    assert_int_equal(consume_one(frags, sizeof frags, 5), -1);
    assert_int_equal(consume_one(frags, sizeof frags, 6), (ssize_t)sizeof frags);
}

/* Client frames: header for each length form, masked payload; parsing the
 * result and unmasking gives the payload back. */
static void test_client_frames(void **st)
{
    (void)st;
    static const size_t lens[] = {0, 5, 125, 126, 65535, 65536, 70000};
    const uint8_t key[4] = {0x12, 0x34, 0x56, 0x78};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        size_t n = lens[i];
        uint8_t *fr = malloc(n + LG_WSF_MAX_HEADER);
        assert_non_null(fr);
        size_t h = lg_wsf_header(fr, LG_WSF_TEXT, n, key);
        assert_int_equal(h, n < 126 ? 6 : n < 65536 ? 8 : 14);
        for (size_t k = 0; k < n; k++) fr[h + k] = (uint8_t)(k * 7);
        lg_wsf_mask(fr + h, n, key, 0);
        lg_wsf f;
        assert_int_equal(lg_wsf_parse(fr, h + n, &f), (int)h);
        assert_true(f.fin && f.masked);
        assert_int_equal(f.opcode, LG_WSF_TEXT);
        assert_int_equal(f.payload_len, n);
        assert_memory_equal(f.key, key, 4);
        /* unmask in two pieces: the offset carries the key's phase */
        size_t half = n / 2 + 1 > n ? n : n / 2 + 1; /* odd, so the second piece starts mid-key */
        lg_wsf_mask(fr + h, half, f.key, 0);
        lg_wsf_mask(fr + h + half, n - half, f.key, half);
        for (size_t k = 0; k < n; k++) assert_int_equal(fr[h + k], (uint8_t)(k * 7));
        free(fr);
    }
}

/* RFC 6455 §1.3's example key and answer. */
static void test_accept(void **st)
{
    (void)st;
    char out[29];
    assert_true(lg_ws_accept("dGhlIHNhbXBsZSBub25jZQ==", out));
    assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    char longkey[80];
    memset(longkey, 'k', sizeof longkey - 1);
    longkey[sizeof longkey - 1] = '\0';
    assert_false(lg_ws_accept(longkey, out));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc_examples),
        cmocka_unit_test(test_every_split),
        cmocka_unit_test(test_control_between_fragments),
        cmocka_unit_test(test_stop),
        cmocka_unit_test(test_protocol_errors),
        cmocka_unit_test(test_client_frames),
        cmocka_unit_test(test_accept),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
