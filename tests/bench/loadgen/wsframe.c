/* wsframe.c - see wsframe.h. */
#include "wsframe.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

int lg_wsf_parse(const uint8_t *buf, size_t len, lg_wsf *f)
{
    if (len < 2) return 0;
    uint8_t b0 = buf[0], b1 = buf[1];
    if (b0 & 0x70) return -1; /* RSV1-3: no extension negotiated */
    f->fin = (b0 & 0x80) != 0;
    f->opcode = b0 & 0x0f;
    switch (f->opcode) {
    case LG_WSF_CONT:
    case LG_WSF_TEXT:
    case LG_WSF_BINARY: break;
    case LG_WSF_CLOSE:
    case LG_WSF_PING:
    case LG_WSF_PONG:
        if (!f->fin || (b1 & 0x7f) > 125) return -1;
        break;
    default: return -1;
    }
    f->masked = (b1 & 0x80) != 0;
    uint64_t n = b1 & 0x7f;
    size_t h = 2;
    if (n == 126) {
        if (len < 4) return 0;
        n = (uint64_t)buf[2] << 8 | buf[3];
        if (n < 126) return -1;
        h = 4;
    } else if (n == 127) {
        if (len < 10) return 0;
        n = 0;
        for (int i = 0; i < 8; i++) n = n << 8 | buf[2 + i];
        if (n >> 63 || n < 65536) return -1;
        h = 10;
    }
    if (f->masked) {
        if (len < h + 4) return 0;
        memcpy(f->key, buf + h, 4);
        h += 4;
    }
    f->header_len = h;
    f->payload_len = n;
    return (int)h;
}

size_t lg_wsf_header(uint8_t *out, unsigned opcode, uint64_t len, const uint8_t key[4])
{
    size_t h = 2;
    out[0] = (uint8_t)(0x80 | (opcode & 0x0f));
    if (len < 126) {
        out[1] = (uint8_t)(0x80 | len);
    } else if (len < 65536) {
        out[1] = 0x80 | 126;
        out[2] = (uint8_t)(len >> 8);
        out[3] = (uint8_t)len;
        h = 4;
    } else {
        out[1] = 0x80 | 127;
        for (int i = 0; i < 8; i++) out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
        h = 10;
    }
    memcpy(out + h, key, 4);
    return h + 4;
}

void lg_wsf_mask(uint8_t *data, size_t len, const uint8_t key[4], uint64_t off)
{
    for (size_t i = 0; i < len; i++) data[i] ^= key[(off + i) & 3];
}

static bool append(lg_wsf_rx *rx, const uint8_t *p, size_t n)
{
    if (rx->msg_len + n > rx->msg_cap) {
        size_t cap = rx->msg_cap ? rx->msg_cap : 4096;
        while (cap < rx->msg_len + n) cap *= 2;
        uint8_t *m = realloc(rx->msg, cap);
        if (!m) return false;
        rx->msg = m;
        rx->msg_cap = cap;
    }
    memcpy(rx->msg + rx->msg_len, p, n);
    rx->msg_len += n;
    return true;
}

ssize_t lg_wsf_consume(lg_wsf_rx *rx, const uint8_t *buf, size_t len, lg_wsf_msg_fn fn, void *ud,
                       bool *stopped)
{
    size_t pos = 0, max = rx->max_msg ? rx->max_msg : (size_t)16 << 20;
    *stopped = false;
    while (pos < len) {
        lg_wsf f = {0};
        int h = lg_wsf_parse(buf + pos, len - pos, &f);
        if (h < 0) return -1;
        if (h == 0) break; /* the header is not all there yet */
        if (f.masked || f.payload_len > max) return -1;
        if (f.payload_len > len - pos - (size_t)h) break; /* the payload is not all there yet */
        const uint8_t *p = buf + pos + h;
        size_t n = (size_t)f.payload_len;
        bool go = true;
        if (f.opcode >= LG_WSF_CLOSE) {
            go = fn(ud, f.opcode, p, n); /* control frames may come between fragments */
        } else if (f.opcode == LG_WSF_CONT) {
            if (!rx->msg_opcode) return -1;
            if (rx->msg_len + n > max || !append(rx, p, n)) return -1;
            if (f.fin) {
                unsigned op = rx->msg_opcode;
                rx->msg_opcode = 0;
                size_t mlen = rx->msg_len;
                rx->msg_len = 0;
                go = fn(ud, op, rx->msg, mlen);
            }
        } else {
            if (rx->msg_opcode) return -1;
            if (f.fin) {
                go = fn(ud, f.opcode, p, n); /* the common case: where it lies, no copy */
            } else {
                rx->msg_opcode = f.opcode;
                rx->msg_len = 0;
                if (!append(rx, p, n)) return -1;
            }
        }
        pos += (size_t)h + n;
        if (!go) {
            *stopped = true;
            break;
        }
    }
    return (ssize_t)pos;
}

void lg_wsf_rx_free(lg_wsf_rx *rx)
{
    free(rx->msg);
    rx->msg = NULL;
    rx->msg_len = rx->msg_cap = 0;
    rx->msg_opcode = 0;
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
