/*
 * transport.c - libwebsockets on the libev loop (foreign loop): one port
 * serving GET /ws (WebSocket), REST under /v1, /healthz, /metrics and the
 * static console/demo mounts. Turns lws callbacks into session and HTTP
 * request events; nothing here knows any message type. Also: TLS
 * (--tls-cert/--tls-key, reloaded on SIGHUP), IPv6 listeners, the RFC 6455
 * masking check lws 4.1 lacks, 431 for oversized Authorization headers and
 * malloc_trim after bursts of closes (docs/DEPLOYING.md, docs/PROTOCOL.md).
 */
#include "transport.h"
#include "http_internal.h"
#include "log.h"
#include "loop.h"
#include "map.h"
#include "mb.h"
#include "metrics.h"
#include "session_internal.h"

#include <dlfcn.h>
#include <limits.h>
#include <malloc.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

/* lws frees and re-creates this for every HTTP transaction of a keep-alive
 * connection: per-connection state lives in maps keyed by the wsi. */
typedef struct pss {
    mb_session *session; /* WebSocket connections */
    mb_http_req *req;    /* HTTP transaction in progress */
    bool headers_sent;   /* HTTP/2 streams only (two writes) */
} pss;

static struct lws_context *ctx;
static long n_wsi, wsi_baseline; /* every lws connection object, accepted or not */
static struct lws_http_mount mounts[3];
static char *mount_origins[3];

size_t mb_transport_connections(void)
{
    long n = n_wsi - wsi_baseline;
    return n > 0 ? (size_t)n : 0;
}

void mb_transport_wake(struct lws *wsi)
{
    if (wsi) lws_callback_on_writable(wsi);
}

static const char *http_method(struct lws *wsi, char *uri, size_t cap)
{
    static const struct {
        enum lws_token_indexes tok;
        const char *name;
    } m[] = {
        {WSI_TOKEN_GET_URI, "GET"},   {WSI_TOKEN_POST_URI, "POST"},     {WSI_TOKEN_PATCH_URI, "PATCH"},
        {WSI_TOKEN_PUT_URI, "PUT"},   {WSI_TOKEN_DELETE_URI, "DELETE"}, {WSI_TOKEN_OPTIONS_URI, "OPTIONS"},
        {WSI_TOKEN_HEAD_URI, "HEAD"},
    };
    for (size_t i = 0; i < MB_ARRAY_LEN(m); i++) {
        if (lws_hdr_total_length(wsi, m[i].tok) > 0) {
            if (lws_hdr_copy(wsi, uri, (int)cap, m[i].tok) < 0) return NULL;
            return m[i].name;
        }
    }
    return NULL;
}

/* Does the request announce a body (Content-Length > 0)? */
static bool expects_body(struct lws *wsi)
{
    char v[32];
    if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0) return false;
    if (lws_hdr_copy(wsi, v, sizeof v, WSI_TOKEN_HTTP_CONTENT_LENGTH) < 0) return false;
    return strtoll(v, NULL, 10) > 0;
}

/* ---------------------------------------------------------------------
 * RFC 6455 §5.1: "a server MUST close the connection upon receiving a frame
 * that is not masked" (close code 1002). libwebsockets 4.1 (Debian 12)
 * accepts unmasked client frames (later releases refuse them) and shows
 * neither the mask bit nor the raw bytes to a protocol callback. So the
 * frame headers are followed here, from the bytes lws reads: this file
 * defines recv() (plain sockets) and SSL_read() (TLS), the functions lws
 * calls to read a connection; the executable's definitions take precedence
 * over libc's and libssl's, and forward to them (dlsym RTLD_NEXT). Only
 * sockets registered below (accepted by lws) are looked at; everything else
 * (libpq) passes through after one array lookup.
 *
 * Per connection: before the upgrade, the last four bytes read (a WebSocket
 * client must wait for the 101 before it sends a frame, RFC 6455 §4.1, so
 * the read that completed the upgrade request ends with CRLFCRLF; anything
 * after it would be frames lws parses without us seeing their start: such a
 * connection is closed with 1002 too). After the upgrade, a small parser
 * walks frame headers and skips payloads; an unmasked header marks the
 * connection, and the next callback of it closes it with 1002. WebSockets
 * over an HTTP/2 stream are not followed (the socket carries h2 frames). */
enum { MON_B0, MON_B1, MON_LEN, MON_MASK, MON_PAYLOAD };
enum { MON_OK, MON_UNMASKED, MON_EARLY };
typedef struct {
    struct lws *wsi; /* NULL: not followed */
    uint32_t tail;   /* last 4 bytes read before the upgrade */
    bool ws;         /* upgraded: frames follow */
    uint8_t st, need, bad;
    uint64_t left; /* frame length being read, then payload bytes to skip */
} rxmon;
static rxmon *mons; /* by fd; the loop thread only (the worker thread does no I/O) */
static size_t n_mons;
static mb_imap mon_fds; /* wsi -> fd + 1: lws has closed the fd by WSI_DESTROY */

static rxmon *mon_of_fd(int fd) { return fd >= 0 && (size_t)fd < n_mons && mons[fd].wsi ? &mons[fd] : NULL; }

static void mon_add(struct lws *wsi)
{
    int fd = lws_get_socket_fd(wsi);
    if (fd < 0 || lws_get_network_wsi(wsi) != wsi) return;
    if ((size_t)fd >= n_mons) {
        size_t n = n_mons ? n_mons : 256;
        while (n <= (size_t)fd) n *= 2;
        mons = mb_realloc(mons, n * sizeof *mons);
        memset(mons + n_mons, 0, (n - n_mons) * sizeof *mons);
        n_mons = n;
    }
    memset(&mons[fd], 0, sizeof mons[fd]);
    mons[fd].wsi = wsi;
    mb_imap_put(&mon_fds, (uint64_t)(uintptr_t)wsi, (void *)(uintptr_t)(fd + 1));
}

static rxmon *mon_of(struct lws *wsi)
{
    rxmon *m = mon_of_fd(lws_get_socket_fd(wsi));
    return m && m->wsi == wsi ? m : NULL;
}

static void mon_del(struct lws *wsi) /* WSI_DESTROY */
{
    uintptr_t fd1 = (uintptr_t)mb_imap_del(&mon_fds, (uint64_t)(uintptr_t)wsi);
    if (fd1 && fd1 - 1 < n_mons && mons[fd1 - 1].wsi == wsi) memset(&mons[fd1 - 1], 0, sizeof *mons);
}

static void mon_frames(rxmon *m, const unsigned char *p, size_t n)
{
    size_t i = 0;
    while (i < n && m->bad == MON_OK) {
        switch (m->st) {
        case MON_B0: /* FIN, RSV, opcode: lws checks them */
            i++;
            m->st = MON_B1;
            break;
        case MON_B1: {
            unsigned char c = p[i++];
            if (!(c & 0x80)) {
                m->bad = MON_UNMASKED;
                return;
            }
            m->left = c & 0x7f;
            if (m->left >= 126) {
                m->need = m->left == 126 ? 2 : 8;
                m->left = 0;
                m->st = MON_LEN;
            } else {
                m->need = 4;
                m->st = MON_MASK;
            }
            break;
        }
        case MON_LEN:
            m->left = (m->left << 8) | p[i++];
            if (--m->need == 0) {
                m->need = 4;
                m->st = MON_MASK;
            }
            break;
        case MON_MASK:
            i++;
            if (--m->need == 0) m->st = m->left ? MON_PAYLOAD : MON_B0;
            break;
        default: { /* MON_PAYLOAD */
            size_t k = n - i;
            if (k > m->left) k = (size_t)m->left;
            i += k;
            m->left -= k;
            if (!m->left) m->st = MON_B0;
            break;
        }
        }
    }
}

static void mon_read(int fd, const void *buf, ssize_t n)
{
    rxmon *m;
    if (n <= 0 || !(m = mon_of_fd(fd))) return;
    const unsigned char *p = buf;
    if (m->ws) {
        if (m->bad == MON_OK) {
            mon_frames(m, p, (size_t)n);
            /* a frame lws handles itself (ping, close) calls nothing of
             * ours: ask for the writable callback, which closes */
            if (m->bad != MON_OK) lws_callback_on_writable(m->wsi);
        }
        return;
    }
    for (ssize_t i = n > 4 ? n - 4 : 0; i < n; i++) m->tail = (m->tail << 8) | p[i];
}

ssize_t recv(int fd, void *buf, size_t len, int flags)
{
    static ssize_t (*real)(int, void *, size_t, int);
    if (!real) *(void **)&real = dlsym(RTLD_NEXT, "recv");
    ssize_t n = real(fd, buf, len, flags);
    if (!(flags & MSG_PEEK)) mon_read(fd, buf, n);
    return n;
}

int SSL_read(SSL *ssl, void *buf, int num)
{
    static int (*real)(SSL *, void *, int);
    if (!real) *(void **)&real = dlsym(RTLD_NEXT, "SSL_read");
    int n = real(ssl, buf, num);
    if (n > 0 && n_mons) mon_read(SSL_get_fd(ssl), buf, n);
    return n;
}

/* The connection broke §5.1 (or §4.1): close it with 1002. */
static int mon_close(struct lws *wsi, rxmon *m)
{
    const char *why = m->bad == MON_UNMASKED ? "unmasked frame" : "data before the handshake reply";
    mb_info("ws_protocol_error", "reason=\"%s\"", why);
    lws_close_reason(wsi, LWS_CLOSE_STATUS_PROTOCOL_ERR, (unsigned char *)why, strlen(why));
    return -1;
}

static rxmon *mon_failed(struct lws *wsi)
{
    rxmon *m = mon_of(wsi);
    return m && m->bad != MON_OK ? m : NULL;
}

/* Connections that have not sent a complete request yet (silent, or stuck
 * in their headers) are bounded by a timer of our own: lws's header
 * timeout was seen to miss some under load. wsi -> deadline (mono ms). */
#define PRE_REQUEST_MS 10000
static mb_imap pending_conns;
static ev_timer pending_w;

static void pending_add(struct lws *wsi)
{
    int64_t *deadline = mb_malloc(sizeof *deadline);
    *deadline = mb_now_ms() + PRE_REQUEST_MS;
    free(mb_imap_put(&pending_conns, (uint64_t)(uintptr_t)wsi, deadline));
}

static void pending_done(struct lws *wsi) { free(mb_imap_del(&pending_conns, (uint64_t)(uintptr_t)wsi)); }

/* Peer address per connection (wsi -> malloc'd string), looked up on the
 * first HTTP request: getpeername() once per connection, not per request. */
static mb_imap peer_ips;

static const char *peer_ip(struct lws *wsi)
{
    char *ip = mb_imap_get(&peer_ips, (uint64_t)(uintptr_t)wsi);
    if (!ip) {
        char buf[64] = "";
        lws_get_peer_simple(wsi, buf, sizeof buf);
        ip = mb_strdup(buf);
        mb_imap_put(&peer_ips, (uint64_t)(uintptr_t)wsi, ip);
    }
    return ip;
}

static void trim_maybe(int64_t now);

static void pending_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    int64_t now = mb_now_ms();
    trim_maybe(now);
    for (;;) { /* killing a wsi edits the map: restart the scan after each */
        size_t it = 0;
        uint64_t key;
        void *v;
        struct lws *expired = NULL;
        while (mb_imap_next(&pending_conns, &it, &key, &v))
            if (*(int64_t *)v <= now) {
                expired = (struct lws *)(uintptr_t)key;
                break;
            }
        if (!expired) return;
        pending_done(expired);
        mb_info("connection_timeout", "reason=\"no complete request within %d ms\"", PRE_REQUEST_MS);
        lws_set_timeout(expired, PENDING_TIMEOUT_HTTP_KEEPALIVE_IDLE, LWS_TO_KILL_SYNC);
    }
}

static int add_header(struct lws *wsi, const char *name, const char *value, unsigned char **p,
                      unsigned char *end)
{
    return lws_add_http_header_by_name(wsi, (const unsigned char *)name, (const unsigned char *)value,
                                       (int)strlen(value), p, end);
}

/* Status line and headers of r's response, finalized, into [*hp, end). */
static int build_headers(struct lws *wsi, const mb_http_req *r, unsigned char **hp, unsigned char *end)
{
    if (lws_add_http_common_headers(wsi, (unsigned int)r->status, r->content_type, r->resp_len, hp, end))
        return 1;
    if (*r->origin && mb_http_origin_allowed(r->origin)) {
        if (add_header(wsi, "access-control-allow-origin:", r->origin, hp, end) ||
            add_header(wsi, "vary:", "Origin", hp, end))
            return 1;
        if (strcmp(r->method, "OPTIONS") == 0) {
            static const char am[] = "GET, POST, PATCH, PUT, DELETE, OPTIONS";
            static const char ah[] = "Authorization, Content-Type";
            if (add_header(wsi, "access-control-allow-methods:", am, hp, end) ||
                add_header(wsi, "access-control-allow-headers:", ah, hp, end))
                return 1;
        }
    }
    if (add_header(wsi, "cache-control:", "no-store", hp, end)) return 1;
    return lws_finalize_http_header(wsi, hp, end);
}

/* An HTTP/2 stream (h2c upgrade) rather than an HTTP/1 connection? */
static bool is_h2_stream(struct lws *wsi) { return lws_get_network_wsi(wsi) != wsi; }

/* lws_http_transaction_completed asks for a writable callback on every
 * keep-alive connection it readies for the next request. After a response
 * that went out whole there is nothing to write, yet it cost a pass through
 * the poll loop and an epoll_ctl pair (POLLOUT on, then off) per request.
 * Such connections are serviced for POLLOUT at once from an ev_prepare
 * watcher instead: libev runs it before it applies watcher changes to the
 * kernel, so lws has turned POLLOUT off again before epoll hears of it (the
 * writable callback finds nothing to do, or writes a response that became
 * ready meanwhile, exactly as after a real POLLOUT). */
static struct lws **kicks;
static size_t n_kicks, cap_kicks;
static ev_prepare kick_w;

static void kick_add(struct lws *wsi)
{
    if (n_kicks == cap_kicks) {
        cap_kicks = cap_kicks ? cap_kicks * 2 : 64;
        kicks = mb_realloc(kicks, cap_kicks * sizeof *kicks);
    }
    kicks[n_kicks++] = wsi;
}

static void kick_forget(struct lws *wsi) /* WSI_DESTROY */
{
    for (size_t i = 0; i < n_kicks; i++)
        if (kicks[i] == wsi) kicks[i] = NULL;
}

static void kick_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
    while (n_kicks) { /* servicing may add more: they are served too */
        struct lws *wsi = kicks[--n_kicks];
        if (!wsi || !ctx) continue;
        struct lws_pollfd pfd = {.fd = lws_get_socket_fd(wsi), .events = LWS_POLLOUT, .revents = LWS_POLLOUT};
        if (pfd.fd >= 0) lws_service_fd(ctx, &pfd);
    }
}

/* The response went out (or lws holds the rest of it and finishes the
 * transaction when that is sent): free the request, await the next one. */
static int finish_response(struct lws *wsi, pss *p)
{
    mb_http_req *r = p->req;
    p->req = NULL;
    r->wsi = NULL;
    mb_http_on_closed(r); /* frees it */
    if (lws_http_transaction_completed(wsi)) return -1;
    /* Nothing left to send (a partial write keeps its real POLLOUT). */
    if (!is_h2_stream(wsi) && !lws_partial_buffered(wsi)) kick_add(wsi);
    return 0;
}

/* HTTP/2: headers and body are separate frames, so two writes, the body in
 * the next writable callback when the headers did not go out whole. */
static int write_response_h2(struct lws *wsi, pss *p)
{
    mb_http_req *r = p->req;
    if (!p->headers_sent) {
        unsigned char hbuf[LWS_PRE + MB_HTTP_HEAD_MAX], *start = &hbuf[LWS_PRE], *hp = start;
        if (build_headers(wsi, r, &hp, &hbuf[sizeof hbuf - 1])) return 1;
        int hlen = (int)(hp - start);
        if (lws_write(wsi, start, (size_t)hlen, LWS_WRITE_HTTP_HEADERS) != hlen) return 1;
        p->headers_sent = true;
        if (strcmp(r->method, "HEAD") == 0) r->resp_len = 0; /* headers only */
        if (r->resp_len && lws_partial_buffered(wsi)) {
            lws_callback_on_writable(wsi);
            return 0;
        }
    }
    if (r->resp_len) {
        unsigned char *body = (unsigned char *)r->resp + LWS_PRE + MB_HTTP_HEAD_ROOM;
        if (lws_write(wsi, body, r->resp_len, LWS_WRITE_HTTP_FINAL) != (int)r->resp_len) return 1;
    }
    return finish_response(wsi, p);
}

/* Write p->req's response; returns the callback's return value. HTTP/1:
 * status line, headers and body leave in ONE lws_write (one send): the
 * headers are built here and copied into the room http.c reserved in front
 * of the body. A write the socket does not take whole is kept by lws, which
 * sends the rest when the socket is writable and only then completes the
 * transaction (lws_http_transaction_completed defers itself). */
static int write_response(struct lws *wsi, pss *p)
{
    mb_http_req *r = p->req;
    if (is_h2_stream(wsi)) return write_response_h2(wsi, p);
    unsigned char hbuf[MB_HTTP_HEAD_MAX], *hp = hbuf;
    if (build_headers(wsi, r, &hp, &hbuf[sizeof hbuf - 1])) return 1;
    size_t hlen = (size_t)(hp - hbuf);
    size_t blen = strcmp(r->method, "HEAD") == 0 ? 0 : r->resp_len; /* HEAD: headers only */
    unsigned char *body = (unsigned char *)r->resp + LWS_PRE + MB_HTTP_HEAD_ROOM, *big = NULL, *start;
    if (hlen <= MB_HTTP_HEAD_ROOM) {
        start = body - hlen;
    } else { /* rare (CORS with a long origin): a buffer of its own */
        big = mb_malloc(LWS_PRE + hlen + blen + 1);
        start = big + LWS_PRE;
        if (blen) memcpy(start + hlen, body, blen);
    }
    memcpy(start, hbuf, hlen);
    int n = lws_write(wsi, start, hlen + blen, LWS_WRITE_HTTP_FINAL);
    free(big); /* lws copied what the socket did not take */
    if (n != (int)(hlen + blen)) return 1;
    return finish_response(wsi, p);
}

/* Run p->req's handler. A response it gives at once is written at once when
 * `now` (HTTP/1, request complete), as lws's own lws_return_http_status
 * users do: no pass through the poll loop and the writable callback for it.
 * (lws_http_transaction_completed still asks for one writable callback
 * itself, so the POLLOUT on/off pair of epoll_ctl calls per request stays.)
 * Otherwise, and for answers that come later (database), the writable
 * callback writes it. */
static int dispatch(struct lws *wsi, pss *p, bool now)
{
    mb_http_req *r = p->req;
    mb_http_dispatch(r);
    if (!r->responded) return 0; /* http.c asks for the writable callback when it is */
    if (!now || is_h2_stream(wsi)) {
        lws_callback_on_writable(wsi);
        return 0;
    }
    return write_response(wsi, p);
}

/* A WebSocket upgrade whose Authorization header is over MB_AUTH_HEADER_MAX
 * (lws keeps the first MB_AUTH_HEADER_MAX + 1 bytes of it, see
 * token_limits): answered 431 like REST requests, then closed. HTTP/1 only
 * (an upgrade is HTTP/1); the response is small and goes out whole. */
static int answer_431(struct lws *wsi)
{
    static const char body[] = "{\"error\":{\"code\":\"bad_request\",\"message\":\"Authorization "
                               "header over 4096 bytes\"}}";
    char buf[LWS_PRE + 512];
    int n = snprintf(buf + LWS_PRE, sizeof buf - LWS_PRE,
                     "HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: "
                     "application/json\r\ncontent-length: %zu\r\nconnection: close\r\n\r\n%s",
                     sizeof body - 1, body);
    mb_info("http_header_too_large", "header=authorization limit=%d", MB_AUTH_HEADER_MAX);
    *mb_m_errors[MB_E_BAD_REQUEST] += 1;
    lws_write(wsi, (unsigned char *)buf + LWS_PRE, (size_t)n, LWS_WRITE_HTTP_FINAL);
    return 1;
}

/* ---------------------------------------------------------------- memory
 * After a burst of closed connections glibc keeps the freed memory in its
 * arenas (reused by the next connections, but counted in RSS). When at
 * least TRIM_CLOSES connections closed and none closed for TRIM_IDLE_MS,
 * malloc_trim(0) hands the free pages back to the kernel, once per burst
 * (docs/DEVELOPING.md, "Memory after a burst of connections"). */
#define TRIM_CLOSES 256
#define TRIM_IDLE_MS 2000
static long closes_since_trim;
static int64_t last_close_ms;

static void trim_note_close(void)
{
    closes_since_trim++;
    last_close_ms = mb_now_ms();
}

static void trim_maybe(int64_t now)
{
    if (closes_since_trim < TRIM_CLOSES || now - last_close_ms < TRIM_IDLE_MS) return;
    int64_t t0 = mb_now_us();
    int released = malloc_trim(0);
    mb_info("malloc_trim", "closed=%ld released=%d us=%lld", closes_since_trim, released,
            (long long)(mb_now_us() - t0));
    closes_since_trim = 0;
}

/* ------------------------------------------------------------------- TLS
 * --tls-cert/--tls-key: lws loads them into the vhost's SSL_CTX at start.
 * SIGHUP (an ev_signal on the loop; match/modes.c reloads scripts on the
 * same signal) reads the two files again, into a scratch SSL_CTX first; only
 * a chain and key that load and match replace the live ones, so a bad file
 * keeps the old certificate (and logs tls_reload_failed). Connections
 * already open keep the certificate they were made with; new ones get the
 * new one. The reload reads two small files on the loop thread: the one
 * blocking read the loop does, at SIGHUP time only. */
static SSL_CTX *tls_ctx; /* owned by lws */
static ev_signal sighup_w;

static void tls_describe(X509 *x, char *out, size_t cap)
{
    char serial[128] = "?", until[64] = "?";
    ASN1_INTEGER *sn = x ? X509_get_serialNumber(x) : NULL;
    BIGNUM *bn = sn ? ASN1_INTEGER_to_BN(sn, NULL) : NULL;
    char *hex = bn ? BN_bn2hex(bn) : NULL;
    if (hex) snprintf(serial, sizeof serial, "%s", hex);
    OPENSSL_free(hex);
    BN_free(bn);
    BIO *b = BIO_new(BIO_s_mem());
    if (b && x && ASN1_TIME_print(b, X509_get0_notAfter(x)) == 1) {
        int n = BIO_read(b, until, (int)sizeof until - 1);
        until[n > 0 ? n : 0] = '\0';
    }
    BIO_free(b);
    char q[96];
    snprintf(out, cap, "serial=%s not_after=%s", serial, mb_log_quote(q, sizeof q, until));
}

/* Load the configured chain and key into a scratch context and check that
 * they match; then, when `into` is given, make them its certificate.
 * 0, or -1 with a message in err. */
static mb_status tls_load(SSL_CTX *into, char *desc, size_t dcap, char *err, size_t cap)
{
    const char *cert = mb_cfg()->tls_cert, *key = mb_cfg()->tls_key;
    const char *stage = "certificate";
    const char *path = cert;
    int ok = 0;
    ERR_clear_error();
    SSL_CTX *t = SSL_CTX_new(TLS_server_method());
    if (t && SSL_CTX_use_certificate_chain_file(t, cert) == 1) {
        stage = "key";
        path = key;
        if (SSL_CTX_use_PrivateKey_file(t, key, SSL_FILETYPE_PEM) == 1) {
            stage = "key not matching the certificate";
            if (SSL_CTX_check_private_key(t) == 1) ok = 1;
        }
    }
    if (ok && into) {
        STACK_OF(X509) *chain = NULL;
        SSL_CTX_get0_chain_certs(t, &chain);
        stage = "installing certificate";
        ok = SSL_CTX_use_cert_and_key(into, SSL_CTX_get0_certificate(t), SSL_CTX_get0_privatekey(t), chain,
                                      1) == 1;
    }
    if (ok) {
        tls_describe(SSL_CTX_get0_certificate(t), desc, dcap);
    } else {
        char e[256] = "unknown error";
        unsigned long code = ERR_peek_last_error();
        if (code) ERR_error_string_n(code, e, sizeof e);
        snprintf(err, cap, "%s %s: %s", stage, path, e);
    }
    ERR_clear_error();
    SSL_CTX_free(t);
    return ok ? MB_OK : MB_ERR;
}

static void sighup_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    char desc[256], err[512], q[600];
    if (!tls_ctx) {
        mb_error("tls_reload_failed", "error=\"no TLS context\"");
        return;
    }
    if (tls_load(tls_ctx, desc, sizeof desc, err, sizeof err) < 0) {
        mb_error("tls_reload_failed", "error=%s note=\"keeping the previous certificate\"",
                 mb_log_quote(q, sizeof q, err));
        return;
    }
    mb_info("tls_reloaded", "%s", desc);
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    pss *p = user;
    switch (reason) {
    case LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
        if (mb_shutting_down()) return 1;
        /* Count every accepted socket, not only established ones, so a burst
         * of parallel connects cannot exceed the limit. */
        if (mb_transport_connections() >= (size_t)mb_cfg()->max_connections) {
            mb_warn("connection_refused", "reason=max_connections limit=%d", mb_cfg()->max_connections);
            return 1;
        }
        return 0;

    case LWS_CALLBACK_WSI_CREATE: n_wsi++; return 0;

    case LWS_CALLBACK_WSI_DESTROY:
        n_wsi--;
        mon_del(wsi);
        trim_note_close();
        pending_done(wsi);
        free(mb_imap_del(&peer_ips, (uint64_t)(uintptr_t)wsi));
        kick_forget(wsi);
        return 0;

    case LWS_CALLBACK_SERVER_NEW_CLIENT_INSTANTIATED:
        pending_add(wsi);
        mon_add(wsi);
        return 0;

    case LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS:
        tls_ctx = user; /* the vhost's SSL_CTX: SIGHUP swaps its certificate */
        return 0;

    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION: {
        pending_done(wsi); /* the upgrade request is complete */
        char uri[128];
        if (lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI) < 0 || strcmp(uri, "/ws") != 0)
            return 1; /* WebSocket only on /ws */
        if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION) > MB_AUTH_HEADER_MAX)
            return answer_431(wsi);
        return 0;
    }

    case LWS_CALLBACK_ESTABLISHED: {
        char ip[64] = "";
        lws_get_peer_simple(wsi, ip, sizeof ip);
        p->session = mb_session_new(wsi, ip);
        rxmon *m = mon_of(wsi);
        if (m) {
            m->ws = true;
            if (m->tail != 0x0d0a0d0au) { /* bytes followed the upgrade request */
                m->bad = MON_EARLY;
                lws_callback_on_writable(wsi);
            }
        }
        return 0;
    }

    case LWS_CALLBACK_RECEIVE: {
        rxmon *bad = mon_failed(wsi);
        if (bad) return mon_close(wsi, bad);
        if (!p->session) return -1;
        mb_session_on_rx(p->session, in, len, lws_is_first_fragment(wsi) != 0,
                         lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0,
                         lws_frame_is_binary(wsi) != 0);
        /* Over the size limit: the session is closing; the close frame (1009)
         * goes out from the writable callback while lws keeps reading and
         * discarding what the client still sends, so the close frame is not
         * lost to a TCP reset. */
        if (p->session->closing) lws_callback_on_writable(wsi);
        return 0;
    }

    case LWS_CALLBACK_SERVER_WRITEABLE: {
        rxmon *bad = mon_failed(wsi);
        if (bad) return mon_close(wsi, bad);
        if (!p->session) return -1;
        return mb_session_on_writable(p->session);
    }

    case LWS_CALLBACK_CLOSED:
        if (p->session) {
            mb_session_on_closed(p->session);
            p->session = NULL;
        }
        return 0;

    case LWS_CALLBACK_HTTP: {
        pending_done(wsi); /* the request headers are complete */
        char uri[2048];
        const char *method = http_method(wsi, uri, sizeof uri);
        if (!method) {
            lws_return_http_status(wsi, HTTP_STATUS_BAD_REQUEST, NULL);
            return -1;
        }
        if (p->req) mb_http_on_closed(p->req); /* should not happen: pipelining */
        p->req = mb_http_req_new(wsi, method, uri, peer_ip(wsi));
        p->headers_sent = false;
        if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0) {
            /* lws 4.1 does not hand us chunked request bodies: refuse clearly
             * (from the writable callback: lws may still be reading it). */
            p->req->chunked = true;
            return dispatch(wsi, p, false);
        }
        bool body = expects_body(wsi);
        if (body && strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
            mb_http_wait_body(p->req); /* bounded: http.c closes a stalled body */
            return 0;
        }
        return dispatch(wsi, p, !body); /* a GET with a body: lws still reads it */
    }

    case LWS_CALLBACK_HTTP_BODY:
        if (p->req) return mb_http_on_body(p->req, in, len);
        return 0;

    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        if (p->req) return dispatch(wsi, p, !p->req->chunked);
        return 0;

    case LWS_CALLBACK_HTTP_WRITEABLE:
        if (!p->req || !p->req->responded) return 0;
        return write_response(wsi, p);

    case LWS_CALLBACK_CLOSED_HTTP:
        if (p && p->req) {
            p->req->wsi = NULL;
            mb_http_on_closed(p->req);
            p->req = NULL;
        }
        return 0;

    default: break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static struct lws_protocols protocols[] = {
    /* rx_buffer_size is allocated per connection and its first page is
     * resident even when idle: keep it small (1 KiB holds a match input;
     * larger messages arrive in pieces that session.c reassembles; 4 KiB
     * cost ~3 KiB more RSS per session). tx_packet_size: what lws sends per
     * send() when it writes itself (TLS, HTTP, a buffered rest), as before
     * (it defaults to rx_buffer_size). */
    {"moonbase", callback, sizeof(pss), 1024, 0, NULL, 4096},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static void lws_log_bridge(int level, const char *line)
{
    char q[512];
    size_t n = strlen(line);
    char tmp[512];
    if (n >= sizeof tmp) n = sizeof tmp - 1;
    memcpy(tmp, line, n);
    while (n && (tmp[n - 1] == '\n' || tmp[n - 1] == '\r')) n--;
    tmp[n] = '\0';
    mb_log(level == LLL_ERR ? MB_LOG_ERROR : MB_LOG_WARN, "lws", "msg=%s", mb_log_quote(q, sizeof q, tmp));
}

static void add_mount(int i, const char *mountpoint, const char *sub)
{
    char *path = mb_sprintf("%s/%s", mb_cfg()->static_dir, sub);
    char real[PATH_MAX];
    struct stat st;
    if (!realpath(path, real) || stat(real, &st) != 0 || !S_ISDIR(st.st_mode)) {
        free(path);
        return;
    }
    free(path);
    mount_origins[i] = mb_strdup(real);
    memset(&mounts[i], 0, sizeof mounts[i]);
    mounts[i].mountpoint = mountpoint;
    mounts[i].mountpoint_len = (unsigned char)strlen(mountpoint);
    mounts[i].origin = mount_origins[i];
    mounts[i].def = "index.html";
    mounts[i].origin_protocol = LWSMPRO_FILE;
    mounts[i].cache_max_age = 0;
}

mb_status mb_transport_start(void)
{
    lws_set_log_level(LLL_ERR, lws_log_bridge);
    /* /sdk serves the SDK source itself: the demo and the console import it
     * from there, so there is exactly one copy of it. */
    add_mount(0, "/console", "console");
    add_mount(1, "/demo", "demo");
    add_mount(2, "/sdk", "sdk/js/src");
    const struct lws_http_mount *first = NULL;
    for (int i = 2; i >= 0; i--) {
        if (!mount_origins[i]) continue;
        mounts[i].mount_next = first;
        first = &mounts[i];
    }

    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    void *foreign[1] = {mb_loop()};
    info.port = mb_cfg()->port;
    info.iface = mb_cfg()->host;
    info.protocols = protocols;
    info.mounts = first;
    info.foreign_loops = foreign;
    info.options = LWS_SERVER_OPTION_LIBEV | LWS_SERVER_OPTION_VALIDATE_UTF8;
    /* An IPv6 address (":" in it) listens on IPv6; "::" also takes IPv4
     * (dual stack, IPV6_V6ONLY off whatever the system default). Anything
     * else is an IPv4 address and listens on IPv4 only. */
    const char *host = mb_cfg()->host;
    if (!strchr(host, ':')) info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
    else if (strcmp(host, "::") == 0) info.options |= LWS_SERVER_OPTION_IPV6_V6ONLY_MODIFY;
    if (mb_cfg()->tls_cert) {
        char desc[256], err[512], q[600];
        if (tls_load(NULL, desc, sizeof desc, err, sizeof err) < 0) {
            mb_error("tls_config_invalid", "error=%s", mb_log_quote(q, sizeof q, err));
            return MB_ERR;
        }
        mb_info("tls_certificate", "%s", desc);
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        info.ssl_cert_filepath = mb_cfg()->tls_cert;
        info.ssl_private_key_filepath = mb_cfg()->tls_key;
        info.alpn = "http/1.1"; /* the HTTP/1 paths are the tested ones */
    }
    info.timeout_secs = 10; /* slow headers (slowloris) */
    info.count_threads = 1;
    /* fd_limit_per_thread stays 0: any value below the process limit makes
     * lws look connections up linearly (18% of CPU at 4,800 players). */
    static const lws_retry_bo_t no_validity = {.secs_since_valid_ping = 0, .secs_since_valid_hangup = 0};
    /* Our own heartbeat/idle timeout judges liveness; lws's validity timer
     * would keep every connection in one sorted list (26% of CPU while
     * 15,000 sessions connect). */
    info.retry_and_idle_policy = &no_validity;
    /* Header bytes lws keeps per request. The Authorization header is cut
     * at MB_AUTH_HEADER_MAX + 1 bytes (the rest is skipped, not stored), so
     * a longer one is answered 431 instead of overflowing the buffer and
     * closing the connection without an answer; the buffer holds such a
     * header and 4 KiB of others. */
    static struct lws_token_limits limits;
    limits.token_limit[WSI_TOKEN_HTTP_AUTHORIZATION] = MB_AUTH_HEADER_MAX + 1;
    info.token_limits = &limits;
    info.max_http_header_data = 8192;
    info.keepalive_timeout = 5;
    info.vhost_name = "moonbase";
    mb_imap_init(&pending_conns);
    mb_imap_init(&peer_ips);
    mb_imap_init(&mon_fds);
    mb_metric_table_imap("pending_connections", &pending_conns);
    mb_metric_table_imap("peer_addresses", &peer_ips);
    ev_timer_init(&pending_w, pending_cb, 1.0, 1.0);
    ev_timer_start(mb_loop(), &pending_w);
    ev_prepare_init(&kick_w, kick_cb);
    ev_prepare_start(mb_loop(), &kick_w);
    ctx = lws_create_context(&info);
    wsi_baseline = n_wsi; /* the listening socket(s) */
    if (!ctx) {
        mb_error("listen_failed",
                 "host=%s port=%d note=\"cannot listen there: is another server on that port? change --port"
                 " (MOONBASE_PORT; make run: MOONBASE_PORT=%d make run)\"",
                 mb_cfg()->host, mb_cfg()->port, mb_cfg()->port + 1);
        return MB_ERR;
    }
    if (mb_cfg()->tls_cert) {
        ev_signal_init(&sighup_w, sighup_cb, SIGHUP);
        ev_signal_start(mb_loop(), &sighup_w);
    }
    return MB_OK;
}

void mb_transport_stop(void)
{
    ev_timer_stop(mb_loop(), &pending_w);
    ev_prepare_stop(mb_loop(), &kick_w);
    ev_signal_stop(mb_loop(), &sighup_w);
    if (ctx) lws_context_destroy(ctx);
    ctx = NULL;
    size_t it = 0;
    void *v;
    while (mb_imap_next(&pending_conns, &it, NULL, &v)) free(v);
    mb_imap_free(&pending_conns);
    it = 0;
    while (mb_imap_next(&peer_ips, &it, NULL, &v)) free(v);
    mb_imap_free(&peer_ips);
    free(kicks);
    kicks = NULL;
    mb_imap_free(&mon_fds);
    free(mons);
    mons = NULL;
    n_mons = 0;
    tls_ctx = NULL;
    n_kicks = cap_kicks = 0;
    for (int i = 0; i < 3; i++) {
        free(mount_origins[i]);
        mount_origins[i] = NULL;
    }
}
