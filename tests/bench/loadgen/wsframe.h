/*
 * wsframe.h - the WebSocket wire format (RFC 6455) as the load generator
 * needs it, and nothing more: read the frames a server sends (unmasked),
 * reassemble fragmented messages, write masked client frames, compute the
 * handshake's Sec-WebSocket-Accept.
 *
 * Why the load generator reads its own frames instead of using
 * libwebsockets' client (docs/PERFORMANCE.md, "The load generator reads its
 * own frames"): lws parses a received frame byte by byte through a state
 * machine and copies it (39 % of the load generator's CPU, which was then
 * 15-23 us per state received, more than the server spent sending it).
 * Here a whole frame in the read buffer is handed to the scenario where it
 * lies (one header decode, no copy, no UTF-8 pass: this is test tooling
 * reading a server we test elsewhere). Only test tooling uses this file;
 * the server keeps lws.
 *
 * Covered by tests/unit/test_loadgen_wsframe.c (RFC 6455 §5.7 examples,
 * every split point, every protocol error below).
 */
#ifndef LG_WSFRAME_H
#define LG_WSFRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum {
    LG_WSF_CONT = 0x0,
    LG_WSF_TEXT = 0x1,
    LG_WSF_BINARY = 0x2,
    LG_WSF_CLOSE = 0x8,
    LG_WSF_PING = 0x9,
    LG_WSF_PONG = 0xA,
};

/* Longest header: 2 bytes, 8 of extended length, 4 of mask key. */
#define LG_WSF_MAX_HEADER 14

typedef struct lg_wsf {
    bool fin;
    unsigned opcode;
    bool masked;
    uint8_t key[4];
    size_t header_len;
    uint64_t payload_len;
} lg_wsf;

/* One frame header at buf[0..len). Returns the header's length (> 0) when
 * it is all there, 0 when more bytes are needed, -1 on a protocol error:
 * a reserved bit set (no extension is negotiated), an unknown opcode, a
 * control frame that is fragmented or longer than 125 bytes, a 64-bit
 * length with the top bit set, or an extended length that a shorter form
 * could have carried. A masked frame is reported (f->masked), not refused:
 * the caller decides (a client must refuse one from a server). */
int lg_wsf_parse(const uint8_t *buf, size_t len, lg_wsf *f);

/* Write the header of a masked client frame (fin set) carrying len bytes
 * into out (at least LG_WSF_MAX_HEADER bytes); returns its length. */
size_t lg_wsf_header(uint8_t *out, unsigned opcode, uint64_t len, const uint8_t key[4]);

/* XOR data[0..len) with key, data starting at payload offset off. Masking
 * and unmasking are the same operation. */
void lg_wsf_mask(uint8_t *data, size_t len, const uint8_t key[4], uint64_t off);

/* Message reassembly for one connection. */
typedef struct lg_wsf_rx {
    uint8_t *msg; /* a fragmented message so far (owned) */
    size_t msg_len, msg_cap;
    unsigned msg_opcode; /* LG_WSF_TEXT/BINARY while a fragmented message is open, else 0 */
    size_t max_msg;      /* longest message accepted (0: 16 MiB) */
} lg_wsf_rx;

/* Called once per message (text or binary, reassembled) and once per
 * control frame (close, ping, pong), with the payload (valid during the
 * call only). Return false to stop: lg_wsf_consume then returns at once
 * (the caller may have closed the connection). */
typedef bool (*lg_wsf_msg_fn)(void *ud, unsigned opcode, const uint8_t *data, size_t len);

/* Consume every whole frame at the start of buf[0..len) (frames from a
 * server: masked ones are a protocol error). Returns the number of bytes
 * consumed; the rest is the start of a frame to present again with more
 * bytes behind it. -1 on a protocol error (lg_wsf_parse's, a masked frame,
 * a continuation with no message open, a new message while one is open, a
 * message longer than max_msg); the connection is then unusable.
 * *stopped is set when fn returned false. */
ssize_t lg_wsf_consume(lg_wsf_rx *rx, const uint8_t *buf, size_t len, lg_wsf_msg_fn fn, void *ud,
                       bool *stopped);
void lg_wsf_rx_free(lg_wsf_rx *rx);

/* Sec-WebSocket-Accept for a Sec-WebSocket-Key: base64(SHA-1(key +
 * "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")), NUL-terminated (28 characters).
 * Returns false when the key is longer than 64 bytes. */
bool lg_ws_accept(const char *key, char out[29]);

#endif
