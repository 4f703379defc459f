/* wsframe.c - see wsframe.h. */
#include "wsframe.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 0x9E3779B97F4A7C15ull;

void lg_wsf_seed(uint64_t seed) { rng = seed ? seed : 1; }

static uint64_t next_rand(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 0x2545F4914F6CDD1Dull;
}

/* wslay reads through this: the bytes lg_wsf_feed was given, copied into
 * wslay's input buffer. 0 when they are used up (wslay returns
 * WSLAY_ERR_WANT_READ). */
static ssize_t recv_cb(uint8_t *buf, size_t len, int flags, void *ud)
{
    (void)flags;
    lg_wsf *w = ud;
    size_t n = len < w->in_len ? len : w->in_len;
    memcpy(buf, w->in, n);
    w->in += n;
    w->in_len -= n;
    return (ssize_t)n;
}

/* wslay writes a frame through this: into the caller's buffer. */
static ssize_t send_cb(const uint8_t *data, size_t len, int flags, void *ud)
{
    (void)flags;
    lg_wsf *w = ud;
    memcpy(w->out + w->out_len, data, len);
    w->out_len += len;
    return (ssize_t)len;
}

static int genmask_cb(uint8_t *buf, size_t len, void *ud)
{
    (void)ud;
    for (size_t i = 0; i < len; i += 8) {
        uint64_t r = next_rand();
        memcpy(buf + i, &r, len - i < 8 ? len - i : 8);
    }
    return 0;
}

bool lg_wsf_init(lg_wsf *w, size_t max_msg)
{
    static const struct wslay_frame_callbacks cb = {send_cb, recv_cb, genmask_cb};
    memset(w, 0, sizeof *w);
    w->max_msg = max_msg ? max_msg : (size_t)16 << 20;
    if (wslay_frame_context_init(&w->ctx, &cb, w) != 0) {
        w->ctx = NULL;
        return false;
    }
    return true;
}

void lg_wsf_free(lg_wsf *w)
{
    if (w->ctx) wslay_frame_context_free(w->ctx);
    w->ctx = NULL;
    free(w->msg);
    w->msg = NULL;
    w->msg_len = w->msg_cap = 0;
    w->msg_opcode = 0;
    w->f_open = false;
}

static bool append(lg_wsf *w, const uint8_t *p, size_t n)
{
    if (w->msg_len + n > w->msg_cap) {
        size_t cap = w->msg_cap ? w->msg_cap : 4096;
        while (cap < w->msg_len + n) cap *= 2;
        uint8_t *m = realloc(w->msg, cap);
        if (!m) return false;
        w->msg = m;
        w->msg_cap = cap;
    }
    if (n) memcpy(w->msg + w->msg_len, p, n);
    w->msg_len += n;
    return true;
}

/* A frame starts (wslay has decoded its header): the checks a client makes
 * that wslay's frame layer leaves to its caller. */
static bool frame_start(lg_wsf *w, const struct wslay_frame_iocb *io)
{
    if (io->rsv || io->mask) return false; /* no extension negotiated; a server never masks */
    switch (io->opcode) {
    case LG_WSF_CLOSE:
    case LG_WSF_PING:
    case LG_WSF_PONG: break; /* wslay refused them fragmented or longer than 125 */
    case LG_WSF_CONT:
        if (!w->msg_opcode || io->payload_length > w->max_msg - w->msg_len) return false;
        break;
    case LG_WSF_TEXT:
    case LG_WSF_BINARY:
        if (w->msg_opcode || io->payload_length > w->max_msg) return false;
        break;
    default: return false;
    }
    w->f_open = true;
    w->f_opcode = io->opcode;
    w->f_fin = io->fin;
    w->f_len = io->payload_length;
    w->f_off = 0;
    return true;
}

int lg_wsf_feed(lg_wsf *w, const uint8_t *buf, size_t len, lg_wsf_msg_fn fn, void *ud)
{
    w->in = buf;
    w->in_len = len;
    for (;;) {
        struct wslay_frame_iocb io;
        ssize_t r = wslay_frame_recv(w->ctx, &io);
        if (r == WSLAY_ERR_WANT_READ) {
            if (w->in_len == 0) return 0;
            continue; /* wslay took part of a header and wants the rest */
        }
        if (r < 0) return -1;
        bool start = !w->f_open;
        if (start && !frame_start(w, &io)) return -1;
        const uint8_t *p = io.data;
        size_t n = io.data_length;
        bool ctl = w->f_opcode >= LG_WSF_CLOSE;
        if (start && n == w->f_len && (ctl || (w->f_fin && w->f_opcode != LG_WSF_CONT))) {
            /* the common case: a whole frame that is a whole message, where it lies */
            w->f_open = false;
            if (!fn(ud, w->f_opcode, p, n)) return 1;
            continue;
        }
        if (ctl) {
            memcpy(w->ctl + w->f_off, p, n); /* f_len <= 125 (wslay checked) */
        } else {
            if (start && w->f_opcode != LG_WSF_CONT) {
                w->msg_opcode = w->f_opcode;
                w->msg_len = 0;
            }
            if (!append(w, p, n)) return -1;
        }
        w->f_off += n;
        if (w->f_off < w->f_len) continue;
        w->f_open = false;
        if (ctl) {
            if (!fn(ud, w->f_opcode, w->ctl, (size_t)w->f_len)) return 1;
        } else if (w->f_fin) {
            unsigned op = w->msg_opcode;
            size_t mlen = w->msg_len;
            w->msg_opcode = 0;
            w->msg_len = 0;
            if (!fn(ud, op, w->msg, mlen)) return 1;
        }
    }
}

size_t lg_wsf_frame(lg_wsf *w, unsigned opcode, const void *data, size_t len, uint8_t *out)
{
    struct wslay_frame_iocb io = {
        .fin = 1,
        .opcode = (uint8_t)opcode,
        .mask = 1,
        .payload_length = len,
        .data = data,
        .data_length = len,
    };
    w->out = out;
    w->out_len = 0;
    ssize_t r = wslay_frame_send(w->ctx, &io);
    w->out = NULL;
    if (r < 0 || (size_t)r != len) return 0;
    return w->out_len;
}

bool lg_ws_accept(const char *key, char out[29])
{
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    size_t kl = strlen(key);
    if (kl > 64) return false;
    char in[64 + sizeof guid];
    memcpy(in, key, kl);
    memcpy(in + kl, guid, sizeof guid - 1);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!EVP_Digest(in, kl + sizeof guid - 1, md, &mdlen, EVP_sha1(), NULL) || mdlen != 20) return false;
    return EVP_EncodeBlock((unsigned char *)out, md, 20) == 28;
}
