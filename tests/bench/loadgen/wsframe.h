/*
 * wsframe.h - the load generator's WebSocket connection (RFC 6455) on top
 * of wslay's frame API (libwslay, Debian's libwslay-dev): wslay decodes and
 * checks frame headers and builds masked client frames; this file adds what
 * wslay's frame layer leaves to its caller (the checks a client makes on a
 * server's frames, message reassembly, one callback per message) and the
 * handshake's Sec-WebSocket-Accept (OpenSSL).
 *
 * Why not wslay's event API: it copies every message into a list of chunks
 * and validates UTF-8; the frame API hands a frame that lies whole in its
 * input buffer to the scenario where it lies. Why not libwebsockets' client:
 * docs/PERFORMANCE.md, "The load generator reads its own frames". Only test
 * tooling uses this file; the server keeps lws.
 *
 * Covered by tests/unit/test_loadgen_wsframe.c (RFC 6455 §5.7 examples,
 * every split point of a multi-frame stream, control frames between
 * fragments, protocol errors refused, client frames masked).
 */
#ifndef LG_WSFRAME_H
#define LG_WSFRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <wslay/wslay.h>

enum {
    LG_WSF_CONT = WSLAY_CONTINUATION_FRAME,
    LG_WSF_TEXT = WSLAY_TEXT_FRAME,
    LG_WSF_BINARY = WSLAY_BINARY_FRAME,
    LG_WSF_CLOSE = WSLAY_CONNECTION_CLOSE,
    LG_WSF_PING = WSLAY_PING,
    LG_WSF_PONG = WSLAY_PONG,
};

/* Longest header: 2 bytes, 8 of extended length, 4 of mask key. */
#define LG_WSF_MAX_HEADER 14

/* Called once per message (text or binary, reassembled) and once per
 * control frame (close, ping, pong), with the payload (valid during the
 * call only). Return false to stop: lg_wsf_feed then returns at once
 * without touching the connection again (the caller may have freed it). */
typedef bool (*lg_wsf_msg_fn)(void *ud, unsigned opcode, const uint8_t *data, size_t len);

/* One client connection's frame state. */
typedef struct lg_wsf {
    wslay_frame_context_ptr ctx;
    /* input being fed (lg_wsf_feed) */
    const uint8_t *in;
    size_t in_len;
    /* output being built (lg_wsf_frame) */
    uint8_t *out;
    size_t out_len;
    /* the frame being received: its opcode and payload bytes seen so far */
    bool f_open;
    unsigned f_opcode;
    bool f_fin;
    uint64_t f_len, f_off;
    uint8_t ctl[125]; /* a control frame split across wslay's buffer */
    /* a message being reassembled (owned) */
    uint8_t *msg;
    size_t msg_len, msg_cap;
    unsigned msg_opcode; /* LG_WSF_TEXT/BINARY while a message is open, else 0 */
    size_t max_msg;      /* longest message accepted */
} lg_wsf;

/* Set up a connection (max_msg 0: 16 MiB); false when out of memory. */
bool lg_wsf_init(lg_wsf *w, size_t max_msg);
void lg_wsf_free(lg_wsf *w);

/* Bytes from the server: all of buf[0..len) is taken (wslay keeps the start
 * of a frame that is not whole yet). Returns 0, 1 when fn returned false,
 * -1 on a protocol error: wslay's (a control frame fragmented or longer
 * than 125 bytes, an extended length a shorter form could carry, a 64-bit
 * length with the top bit set) or this file's (a reserved bit set: no
 * extension is negotiated; an unknown opcode; a masked frame; a
 * continuation with no message open; a new message while one is open; a
 * message longer than max_msg). After -1 the connection is unusable. */
int lg_wsf_feed(lg_wsf *w, const uint8_t *buf, size_t len, lg_wsf_msg_fn fn, void *ud);

/* A masked client frame (fin set) carrying data[0..len), built by wslay
 * into out (at least len + LG_WSF_MAX_HEADER bytes); returns its length,
 * 0 on error (a control frame longer than 125 bytes). */
size_t lg_wsf_frame(lg_wsf *w, unsigned opcode, const void *data, size_t len, uint8_t *out);

/* Seed the mask-key generator (xorshift64*: RFC 6455 wants keys an
 * attacker cannot predict, to protect proxies; this client talks to a
 * local test server only). */
void lg_wsf_seed(uint64_t seed);

/* Sec-WebSocket-Accept for a Sec-WebSocket-Key: base64(SHA-1(key +
 * "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")), NUL-terminated (28 characters).
 * Returns false when the key is longer than 64 bytes. */
bool lg_ws_accept(const char *key, char out[29]);

#endif
