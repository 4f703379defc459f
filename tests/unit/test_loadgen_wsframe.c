/* Unit tests: the load generator's WebSocket frames (tests/bench/loadgen/
 * wsframe.c: wslay's frame API plus the client's checks and message
 * reassembly). The load generator counts and times every message it reads
 * with these functions, so a frame lost or split wrong would skew every
 * bench figure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wsframe.h"

/* What lg_wsf_feed delivered, in order. */
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
    if (len) memcpy(g->data[g->n], data, len);
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

/* Feed in[0..n) to a fresh connection in one piece. */
static int feed_one(const uint8_t *in, size_t n, size_t max, got *g)
{
    lg_wsf w;
    assert_true(lg_wsf_init(&w, max));
    int r = lg_wsf_feed(&w, in, n, collect, g);
    lg_wsf_free(&w);
    return r;
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
    got *g = new_got();
    assert_int_equal(feed_one(hello, sizeof hello, 0, g), 0);
    assert_int_equal(feed_one(hel_lo, sizeof hel_lo, 0, g), 0);
    assert_int_equal(feed_one(ping, sizeof ping, 0, g), 0);
    assert_int_equal(g->n, 3);
    assert_int_equal(g->op[0], LG_WSF_TEXT);
    assert_int_equal(g->len[0], 5);
    assert_memory_equal(g->data[0], "Hello", 5);
    assert_int_equal(g->op[1], LG_WSF_TEXT);
    assert_int_equal(g->len[1], 5);
    assert_memory_equal(g->data[1], "Hello", 5);
    assert_int_equal(g->op[2], LG_WSF_PING);
    assert_memory_equal(g->data[2], "Hello", 5);

    /* 256 bytes: 16-bit length; 65536 bytes: 64-bit length */
    uint8_t *b = calloc(1, 65536 + 10);
    assert_non_null(b);
    memcpy(b, (const uint8_t[]){0x82, 0x7e, 0x01, 0x00}, 4);
    memset(g, 0, sizeof *g);
    assert_int_equal(feed_one(b, 4 + 256, 0, g), 0);
    assert_int_equal(g->n, 1);
    assert_int_equal(g->op[0], LG_WSF_BINARY);
    assert_int_equal(g->len[0], 256);
    memcpy(b, (const uint8_t[]){0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0}, 10);
    b[10 + 65535] = 0x5a;
    assert_int_equal(feed_one(b, 10 + 65536, 0, g), 0);
    assert_int_equal(g->n, 2);
    assert_int_equal(g->len[1], 65536);
    assert_int_equal((uint8_t)g->data[1][65535], 0x5a);
    free(b);
    free(g);
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
    assert_int_equal(g->op[3], LG_WSF_TEXT);
    assert_int_equal(g->len[3], 300);
    assert_int_equal(g->data[3][0], 'a');
    assert_int_equal(g->data[3][299], 'a');
    assert_int_equal(g->op[4], LG_WSF_BINARY);
    assert_int_equal(g->len[4], 70000);
    for (size_t i = 0; i < 70000; i += 4999) assert_int_equal((uint8_t)g->data[4][i], (uint8_t)i);
    assert_int_equal((uint8_t)g->data[4][69999], (uint8_t)69999);
}

/* The stream in one piece, cut in two at every byte (two reads: wslay keeps
 * the start of the frame the cut falls in), and one byte per read: the same
 * messages, none lost, none twice. */
static void test_every_split(void **st)
{
    (void)st;
    size_t n;
    uint8_t *s = stream(&n);
    got *g = new_got();
    assert_int_equal(feed_one(s, n, 0, g), 0);
    check_stream(g);

    /* every split in the small frames, then a sample of the big one */
    for (size_t cut = 0; cut <= n; cut += cut < 400 ? 1 : 997) {
        memset(g, 0, sizeof *g);
        lg_wsf w;
        assert_true(lg_wsf_init(&w, 0));
        assert_int_equal(lg_wsf_feed(&w, s, cut, collect, g), 0);
        assert_int_equal(lg_wsf_feed(&w, s + cut, n - cut, collect, g), 0);
        check_stream(g);
        lg_wsf_free(&w);
    }

    memset(g, 0, sizeof *g);
    lg_wsf w;
    assert_true(lg_wsf_init(&w, 0));
    for (size_t i = 0; i < n; i++) assert_int_equal(lg_wsf_feed(&w, s + i, 1, collect, g), 0);
    check_stream(g);
    lg_wsf_free(&w);
    free(g);
    free(s);
}

/* Control frames between two fragments (and one split across reads) are
 * delivered at once and the message still comes out whole. */
static void test_control_between_fragments(void **st)
{
    (void)st;
    const uint8_t in[] = {0x01, 0x03, 'H',  'e',  'l', 0x8a, 0x00, 0x89, 0x02,
                          'p',  'q',  0x00, 0x01, 'l', 0x80, 0x01, 'o'};
    for (size_t cut = 0; cut <= sizeof in; cut++) {
        got *g = new_got();
        lg_wsf w;
        assert_true(lg_wsf_init(&w, 0));
        assert_int_equal(lg_wsf_feed(&w, in, cut, collect, g), 0);
        assert_int_equal(lg_wsf_feed(&w, in + cut, sizeof in - cut, collect, g), 0);
        assert_int_equal(g->n, 3);
        assert_int_equal(g->op[0], LG_WSF_PONG);
        assert_int_equal(g->len[0], 0);
        assert_int_equal(g->op[1], LG_WSF_PING);
        assert_int_equal(g->len[1], 2);
        assert_memory_equal(g->data[1], "pq", 2);
        assert_int_equal(g->op[2], LG_WSF_TEXT);
        assert_int_equal(g->len[2], 5);
        assert_memory_equal(g->data[2], "Hello", 5);
        lg_wsf_free(&w);
        free(g);
    }
}

/* The callback says stop: lg_wsf_feed returns at once. */
static void test_stop(void **st)
{
    (void)st;
    uint8_t two[2 * sizeof hello];
    memcpy(two, hello, sizeof hello);
    memcpy(two + sizeof hello, hello, sizeof hello);
    got *g = new_got();
    g->stop_after = 1;
    assert_int_equal(feed_one(two, sizeof two, 0, g), 1);
    assert_int_equal(g->n, 1);
    free(g);
}

static int feed_err(const uint8_t *in, size_t n, size_t max)
{
    got *g = new_got();
    int r = feed_one(in, n, max, g);
    if (r < 0) assert_int_equal(g->n, 0);
    free(g);
    return r;
}

static void test_protocol_errors(void **st)
{
    (void)st;
    const uint8_t rsv[] = {0xc1, 0x00};                   /* RSV1 */
    const uint8_t opcode3[] = {0x83, 0x00};               /* reserved opcode */
    const uint8_t opcode_b[] = {0x8b, 0x00};              /* reserved control opcode */
    const uint8_t long_ping[] = {0x89, 0x7e, 0x00, 0x7e}; /* control frame > 125 */
    const uint8_t frag_ping[] = {0x09, 0x00};             /* fragmented control frame */
    const uint8_t short16[] = {0x81, 0x7e, 0x00, 0x05};   /* 16-bit form for 5 bytes */
    const uint8_t short64[] = {0x81, 0x7f, 0, 0, 0, 0, 0, 0, 0x01, 0x00};
    const uint8_t top64[] = {0x81, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0};
    assert_int_equal(feed_err(rsv, sizeof rsv, 0), -1);
    assert_int_equal(feed_err(opcode3, sizeof opcode3, 0), -1);
    assert_int_equal(feed_err(opcode_b, sizeof opcode_b, 0), -1);
    assert_int_equal(feed_err(long_ping, sizeof long_ping, 0), -1);
    assert_int_equal(feed_err(frag_ping, sizeof frag_ping, 0), -1);
    assert_int_equal(feed_err(short16, sizeof short16, 0), -1);
    assert_int_equal(feed_err(short64, sizeof short64, 0), -1);
    assert_int_equal(feed_err(top64, sizeof top64, 0), -1);
    /* incomplete frames want more, they are not errors (and deliver nothing) */
    assert_int_equal(feed_err(hello, 1, 0), 0);
    assert_int_equal(feed_err(hello, sizeof hello - 1, 0), 0);
    assert_int_equal(feed_err(short64, 9, 0), 0);

    /* a server must not mask */
    assert_int_equal(feed_err(masked_hello, sizeof masked_hello, 0), -1);
    /* a continuation with no message open */
    const uint8_t cont[] = {0x80, 0x01, 'x'};
    assert_int_equal(feed_err(cont, sizeof cont, 0), -1);
    /* a new message while a fragmented one is open */
    const uint8_t two_starts[] = {0x01, 0x01, 'a', 0x81, 0x01, 'b'};
    assert_int_equal(feed_err(two_starts, sizeof two_starts, 0), -1);
    /* longer than max_msg: at once (header), and when fragments add up */
    assert_int_equal(feed_err(hello, sizeof hello, 4), -1);
    const uint8_t frags[] = {0x01, 0x03, 'a', 'b', 'c', 0x80, 0x03, 'd', 'e', 'f'};
    assert_int_equal(feed_err(frags, sizeof frags, 5), -1);
    assert_int_equal(feed_err(frags, sizeof frags, 6), 0);

    /* a good frame before the bad one is delivered, then the error */
    uint8_t mix[sizeof hello + sizeof rsv];
    memcpy(mix, hello, sizeof hello);
    memcpy(mix + sizeof hello, rsv, sizeof rsv);
    got *g = new_got();
    assert_int_equal(feed_one(mix, sizeof mix, 0, g), -1);
    assert_int_equal(g->n, 1);
    free(g);
}

/* Client frames built by wslay: fin set, the opcode, the mask bit, each
 * length form; unmasking with the key in the frame gives the payload back;
 * keys differ from frame to frame; a reader refuses them (masked). */
static void test_client_frames(void **st)
{
    (void)st;
    static const size_t lens[] = {0, 5, 125, 126, 65535, 65536, 70000};
    lg_wsf w;
    assert_true(lg_wsf_init(&w, 0));
    lg_wsf_seed(42);
    uint8_t prev_key[4] = {0};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        size_t n = lens[i];
        uint8_t *pl = malloc(n + 1), *fr = malloc(n + LG_WSF_MAX_HEADER);
        assert_non_null(pl);
        assert_non_null(fr);
        for (size_t k = 0; k < n; k++) pl[k] = (uint8_t)(k * 7);
        size_t len = lg_wsf_frame(&w, LG_WSF_TEXT, pl, n, fr);
        size_t h = n < 126 ? 6 : n < 65536 ? 8 : 14;
        assert_int_equal(len, h + n);
        assert_int_equal(fr[0], 0x81);        /* fin, text */
        assert_int_equal(fr[1] & 0x80, 0x80); /* masked */
        uint64_t got_len = fr[1] & 0x7f;
        if (got_len == 126) got_len = (uint64_t)fr[2] << 8 | fr[3];
        else if (got_len == 127)
            for (int b = 0, k = (int)(got_len = 0); b < 8; b++, k++) got_len = got_len << 8 | fr[2 + b];
        assert_int_equal(got_len, n);
        const uint8_t *key = fr + h - 4;
        assert_memory_not_equal(key, prev_key, 4);
        memcpy(prev_key, key, 4);
        for (size_t k = 0; k < n; k++) assert_int_equal(fr[h + k] ^ key[k & 3], (uint8_t)(k * 7));
        if (n >= 8) assert_memory_not_equal(fr + h, pl, 8); /* really masked */
        assert_int_equal(feed_err(fr, len, 0), -1);
        free(pl);
        free(fr);
    }
    /* a close with its status, and a control frame too long to send */
    uint8_t fr[200], big[126] = {0};
    assert_int_equal(lg_wsf_frame(&w, LG_WSF_CLOSE, (const uint8_t[]){0x03, 0xe8}, 2, fr), 8);
    assert_int_equal(fr[0], 0x88);
    assert_int_equal(fr[1], 0x82);
    assert_int_equal(fr[6] ^ fr[2], 0x03);
    assert_int_equal(fr[7] ^ fr[3], 0xe8);
    assert_int_equal(lg_wsf_frame(&w, LG_WSF_PING, big, sizeof big, fr), 0);
    /* and the context still builds frames after that refusal */
    assert_int_equal(lg_wsf_frame(&w, LG_WSF_PONG, big, 3, fr), 9);
    lg_wsf_free(&w);
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
