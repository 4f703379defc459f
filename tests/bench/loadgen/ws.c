/*
 * ws.c - WebSocket clients on the shared libev loop: one non-blocking
 * socket and one ev_io per client, no thread per client.
 *
 * The handshake is a plain HTTP/1.1 upgrade (request written at once,
 * answer checked for status 101 and the right Sec-WebSocket-Accept); the
 * frames are read and written by wslay's frame API (wsframe.c: the client's
 * checks on server frames, reassembly). Why not libwebsockets' client,
 * which this file used before: its receive path (a byte-by-byte parser and a
 * copy per frame) cost the load generator more CPU per state than the server
 * spent sending it, so a two-core machine could not show how many matches
 * one server core holds (docs/PERFORMANCE.md, "The load generator reads its
 * own frames").
 *
 * Receiving, two paths (--io) into one decoder (consume(): wslay, then the
 * scenario): epoll, one recv() per readiness event into one shared buffer
 * (epoll is level-triggered, so what is left is reported again); or, once
 * the upgrade is accepted, a multishot receive on the process's io_uring
 * (uring.c), whose completions arrive in batches through lg_ws_rx_data() and
 * lg_ws_rx_ended(). The handshake answer is always read with recv(). A frame
 * that lies whole in wslay's input buffer reaches the scenario where it
 * lies, wslay keeps the start of an incomplete one. Sending: wslay builds
 * the masked frame, written at once; what the kernel does not take is kept per
 * client and written when the socket is writable, so an input's send time
 * is when it left for the server, not when a writable callback came round.
 * Every received message is counted (lg_ws_rx_messages) for the load
 * generator's own CPU per message.
 */
#include "loadgen.h"
#include "wsframe.h"

#include <arpa/inet.h>
#include <openssl/evp.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Longest message accepted from the server (reassembled by wsframe.c); the
 * read buffer holds a handshake answer that is not whole yet plus one read. */
#define MAX_MSG (1u << 20)
#define READ_CHUNK 65536
#define MAX_HANDSHAKE 8192
/* Output a client may have waiting for a writable socket before sends are
 * refused (counted in c->dropped, as the old 16-frame ring did). */
#define MAX_BACKLOG (256u << 10)

static uint8_t rbuf[MAX_HANDSHAKE + READ_CHUNK];
static const lg_ws_handlers *H;
static int n_open;
static uint64_t rx_messages, rx_bytes;
static uint64_t rng;
static struct sockaddr_in server_addr;

/* every client ever connected, for lg_ws_shutdown */
static lg_client **all;
static size_t n_all, cap_all;

/* connect phase */
static lg_client *cq;
static int cq_n, cq_next, cq_inflight, cq_authed, cq_failed, cq_errors_shown;
static double cq_first, cq_last;

int lg_ws_open_count(void) { return n_open; }
uint64_t lg_ws_rx_messages(void) { return rx_messages; }
uint64_t lg_ws_rx_bytes(void) { return rx_bytes; }

/* xorshift64*: handshake nonces (wsframe.c has its own for mask keys). */
static uint64_t next_rand(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 0x2545F4914F6CDD1Dull;
}

static void connect_more(void);

static void finish_attempt(lg_client *c, bool ok)
{
    if (c->state == LG_C_AUTHED || c->state == LG_C_FAILED) return;
    cq_inflight--;
    if (ok) {
        c->state = LG_C_AUTHED;
        c->t_authed = lg_now();
        cq_authed++;
        cq_last = c->t_authed;
    } else {
        c->state = LG_C_FAILED;
        cq_failed++;
    }
    if (cq && cq_authed + cq_failed == cq_n) lg_phase_done();
    else connect_more();
}

/* The connection is gone (or given up): free what it holds, tell the
 * connect phase and the scenario. */
static void client_close(lg_client *c, const char *why)
{
    if (c->fd < 0) return;
    ev_io_stop(lg_loop, &c->io);
    if (c->rx_armed) lg_uring_cancel(c->conn);
    c->rx_armed = c->rx_ring = false;
    close(c->fd);
    c->fd = -1;
    free(c->out);
    c->out = NULL;
    c->out_len = c->out_off = c->out_cap = 0;
    free(c->pend);
    c->pend = NULL;
    c->pend_len = c->pend_cap = 0;
    lg_wsf_free(&c->ws);
    if (c->state == LG_C_OPEN || c->state == LG_C_AUTHED) n_open--;
    if (c->state != LG_C_AUTHED) {
        if (why && cq_errors_shown++ < 5) lg_say("client %d: %s", c->idx, why);
        finish_attempt(c, false);
    }
    c->state = LG_C_CLOSED;
    if (H && H->on_closed) H->on_closed(c);
}

static void set_events(lg_client *c, int events)
{
    if (c->rx_ring) events &= ~EV_READ; /* the ring reads */
    if (ev_is_active(&c->io) && (c->io.events & (EV_READ | EV_WRITE)) == events) return;
    if (!ev_is_active(&c->io) && !events) return;
    ev_io_stop(lg_loop, &c->io);
    ev_io_set(&c->io, c->fd, events);
    if (events) ev_io_start(lg_loop, &c->io);
}

/* Write what is waiting; false when the connection failed. */
static bool flush_out(lg_client *c)
{
    while (c->out_off < c->out_len) {
        ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            if (errno == EINTR) continue;
            return false;
        }
        c->out_off += (size_t)w;
    }
    if (c->out_off == c->out_len) c->out_off = c->out_len = 0;
    set_events(c, c->out_len ? EV_READ | EV_WRITE : EV_READ);
    return true;
}

/* Bytes to the server: at once when nothing is waiting, else behind it. */
static bool write_bytes(lg_client *c, const uint8_t *p, size_t n)
{
    size_t done = 0;
    if (c->out_len == 0) {
        while (done < n) {
            ssize_t w = send(c->fd, p + done, n - done, MSG_NOSIGNAL);
            if (w < 0) {
                if (errno == EINTR) continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK) break;
                return false;
            }
            done += (size_t)w;
        }
        if (done == n) return true;
    }
    size_t rest = n - done;
    if (c->out_len + rest > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 4096;
        while (cap < c->out_len + rest) cap *= 2;
        uint8_t *o = realloc(c->out, cap);
        if (!o) lg_die("out of memory");
        c->out = o;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, p + done, rest);
    c->out_len += rest;
    set_events(c, EV_READ | EV_WRITE);
    return true;
}

static bool send_frame(lg_client *c, unsigned opcode, const void *data, size_t len)
{
    if (!c->ws.ctx) return false;
    uint8_t stack[LG_WSF_MAX_HEADER + 2048];
    uint8_t *f = len + LG_WSF_MAX_HEADER <= sizeof stack ? stack : malloc(len + LG_WSF_MAX_HEADER);
    if (!f) lg_die("out of memory");
    size_t n = lg_wsf_frame(&c->ws, opcode, data, len, f);
    bool ok = n && write_bytes(c, f, n);
    if (f != stack) free(f);
    return ok;
}

static void on_auth_reply(lg_client *c, const char *data, size_t len)
{
    json_t *j = json_loadb(data, len, 0, NULL);
    const char *type = json_string_value(json_object_get(j, "type"));
    if (type && strcmp(type, "session.connected") == 0) {
        finish_attempt(c, true);
        if (H->on_authed) H->on_authed(c);
    } else {
        if (cq_errors_shown++ < 5) lg_say("client %d: session.connect answered %.*s", c->idx, (int)len, data);
        finish_attempt(c, false);
    }
    json_decref(j);
}

/* One message or control frame from the server (wslay, wsframe.c). */
static bool on_frame(void *ud, unsigned opcode, const uint8_t *data, size_t len)
{
    lg_client *c = ud;
    switch (opcode) {
    case LG_WSF_TEXT:
    case LG_WSF_BINARY:
        rx_messages++;
        rx_bytes += len;
        if (c->state == LG_C_OPEN) on_auth_reply(c, (const char *)data, len);
        else if (c->state == LG_C_AUTHED && H->on_message) H->on_message(c, (const char *)data, len);
        break;
    case LG_WSF_PING:
        if (!send_frame(c, LG_WSF_PONG, data, len)) {
            client_close(c, "write failed");
            return false;
        }
        break;
    case LG_WSF_CLOSE: /* answer with the same status code, then close */
        send_frame(c, LG_WSF_CLOSE, data, len >= 2 ? 2 : 0);
        client_close(c, "closed by the server");
        return false;
    default: break; /* pong */
    }
    return c->fd >= 0; /* the scenario may not close, but be safe */
}

/* The decoder both receive paths feed: bytes from the server after the
 * handshake, all handed to wslay (which copies what it keeps). */
static void consume(lg_client *c, const uint8_t *data, size_t n)
{
    int r = lg_wsf_feed(&c->ws, data, n, on_frame, c);
    if (r > 0) return; /* closed (or told to stop) inside a callback */
    if (r < 0) {
        lg_say("client %d: WebSocket protocol error from the server", c->idx);
        client_close(c, NULL);
    }
}

/* The handshake answer, in rbuf[0..n): NULL and *hlen when it is whole and
 * right; "" when more bytes are needed; else what is wrong. */
static const char *check_upgrade(lg_client *c, size_t n, size_t *hlen)
{
    const char *b = (const char *)rbuf;
    const char *end = memmem(b, n, "\r\n\r\n", 4);
    if (!end) return n > MAX_HANDSHAKE ? "handshake answer too long" : "";
    *hlen = (size_t)(end - b) + 4;
    if (n < 12 || memcmp(b, "HTTP/1.1 101", 12) != 0) return "upgrade refused";
    char want[29];
    if (!lg_ws_accept(c->key, want)) return "bad key";
    for (const char *p = b; p < end;) {
        const char *eol = memmem(p, (size_t)(end - p) + 2, "\r\n", 2);
        if (!eol) break;
        static const char name[] = "sec-websocket-accept:";
        if ((size_t)(eol - p) > sizeof name && strncasecmp(p, name, sizeof name - 1) == 0) {
            const char *v = p + sizeof name - 1;
            while (*v == ' ' || *v == '\t') v++;
            size_t vl = (size_t)(eol - v);
            while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t')) vl--;
            return vl == 28 && memcmp(v, want, 28) == 0 ? NULL : "wrong Sec-WebSocket-Accept";
        }
        p = eol + 2;
    }
    return "no Sec-WebSocket-Accept";
}

static void on_readable(lg_client *c)
{
    size_t n0 = c->pend_len;
    if (n0) memcpy(rbuf, c->pend, n0);
    ssize_t r = recv(c->fd, rbuf + n0, sizeof rbuf - n0, 0);
    if (r < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
        client_close(c, strerror(errno));
        return;
    }
    if (r == 0) {
        client_close(c, "closed by the server");
        return;
    }
    size_t n = n0 + (size_t)r;
    if (c->state == LG_C_CONNECTING) {
        size_t hlen = 0;
        const char *bad = check_upgrade(c, n, &hlen);
        if (bad && *bad) {
            client_close(c, bad);
            return;
        }
        if (bad) { /* not all there yet */
            if (n > c->pend_cap) {
                c->pend = realloc(c->pend, n);
                if (!c->pend) lg_die("out of memory");
                c->pend_cap = n;
            }
            memcpy(c->pend, rbuf, n);
            c->pend_len = n;
            return;
        }
        if (!lg_wsf_init(&c->ws, MAX_MSG)) lg_die("out of memory");
        c->state = LG_C_OPEN;
        n_open++;
        c->pend_len = 0;
        json_t *p = json_pack("{s:s}", "token", c->acct->token);
        lg_ws_send_json(c, "session.connect", p);
        if (c->fd < 0) return;
        if (lg_uring_on()) { /* from now on the ring reads (after what is in rbuf) */
            c->rx_ring = c->rx_armed = true;
            lg_uring_arm(c->conn, c->fd);
            set_events(c, c->io.events & EV_WRITE);
        }
        if (n == hlen) return;
        consume(c, rbuf + hlen, n - hlen);
        return;
    }
    consume(c, rbuf, n);
}

/* The connection a completion of uring.c belongs to, if still open. */
static lg_client *conn_client(uint64_t conn)
{
    if (conn >= n_all) return NULL;
    lg_client *c = all[conn];
    return c->conn == conn && c->fd >= 0 && c->rx_ring ? c : NULL;
}

void lg_ws_rx_data(uint64_t conn, const uint8_t *data, size_t n)
{
    lg_client *c = conn_client(conn);
    if (c) consume(c, data, n);
}

void lg_ws_rx_ended(uint64_t conn, int res)
{
    lg_client *c = conn_client(conn);
    if (!c) return;
    c->rx_armed = false;
    /* what the recv path does with the same result */
    if (res > 0 || res == -ENOBUFS || res == -EAGAIN || res == -EINTR) {
        c->rx_armed = true; /* ended but the socket is fine: again */
        lg_uring_arm(c->conn, c->fd);
    } else if (res == 0) client_close(c, "closed by the server");
    else client_close(c, strerror(-res));
}

static void io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    lg_client *c = w->data;
    if (c->state == LG_C_CONNECTING && !c->sent_upgrade) {
        int err = 0;
        socklen_t el = sizeof err;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err) {
            client_close(c, strerror(err ? err : errno));
            return;
        }
        uint8_t nonce[16];
        for (int i = 0; i < 16; i += 8) {
            uint64_t r = next_rand();
            memcpy(nonce + i, &r, 8);
        }
        EVP_EncodeBlock((unsigned char *)c->key, nonce, 16);
        char req[512];
        int n = snprintf(req, sizeof req,
                         "GET /ws HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
                         lg_opt.host, lg_opt.port, c->key);
        c->sent_upgrade = true;
        if (!write_bytes(c, (const uint8_t *)req, (size_t)n)) {
            client_close(c, "write failed");
            return;
        }
        if (!c->out_len) set_events(c, EV_READ);
        return;
    }
    if (revents & EV_WRITE) {
        if (!flush_out(c)) {
            client_close(c, "write failed");
            return;
        }
    }
    if ((revents & EV_READ) && c->fd >= 0) on_readable(c);
}

void lg_ws_init(const lg_ws_handlers *h)
{
    H = h;
    if (!rng) rng = (uint64_t)time(NULL) * 0x9E3779B97F4A7C15ull ^ (uint64_t)getpid() ^ 1;
    lg_wsf_seed(next_rand());
    memset(&server_addr, 0, sizeof server_addr);
    server_addr.sin_family = AF_INET;
    server_addr.sin_port = htons((uint16_t)lg_opt.port);
    if (inet_pton(AF_INET, lg_opt.host, &server_addr.sin_addr) != 1) lg_die("bad --host %s", lg_opt.host);
}

static void start_connect(lg_client *c)
{
    if (n_all == cap_all) {
        cap_all = cap_all ? cap_all * 2 : 1024;
        all = realloc(all, cap_all * sizeof *all);
        if (!all) lg_die("out of memory");
    }
    c->conn = n_all;
    all[n_all++] = c;
    c->rx_ring = c->rx_armed = false;
    c->state = LG_C_CONNECTING;
    c->sent_upgrade = false;
    c->t_connect = lg_now();
    if (cq_first == 0) cq_first = c->t_connect;
    cq_inflight++;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        if (cq_errors_shown++ < 5) lg_say("client %d: socket: %s", c->idx, strerror(errno));
        finish_attempt(c, false);
        return;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->io.data = c;
    ev_io_init(&c->io, io_cb, c->fd, EV_WRITE);
    if (connect(c->fd, (struct sockaddr *)&server_addr, sizeof server_addr) < 0 && errno != EINPROGRESS) {
        char why[96];
        snprintf(why, sizeof why, "connect: %s", strerror(errno));
        close(c->fd);
        c->fd = -1;
        if (cq_errors_shown++ < 5) lg_say("client %d: %s", c->idx, why);
        finish_attempt(c, false);
        return;
    }
    ev_io_start(lg_loop, &c->io);
}

static void connect_more(void)
{
    static bool busy; /* start_connect may fail synchronously and re-enter */
    if (busy || !cq) return;
    busy = true;
    while (cq_next < cq_n && cq_inflight < lg_opt.connect_concurrency) start_connect(&cq[cq_next++]);
    busy = false;
}

int lg_ws_connect_all(lg_client *clients, int n, double timeout, double *elapsed)
{
    cq = clients;
    cq_n = n;
    cq_next = cq_inflight = cq_authed = cq_failed = cq_errors_shown = 0;
    cq_first = cq_last = 0;
    for (int i = 0; i < n; i++) {
        clients[i].idx = i;
        clients[i].fd = -1;
    }
    connect_more();
    if (n && cq_authed + cq_failed < n) lg_phase_run(timeout);
    int authed = cq_authed;
    if (authed + cq_failed < n) lg_say("connect phase timed out: %d of %d authenticated", authed, n);
    if (cq_failed) lg_say("%d of %d connections failed", cq_failed, n);
    *elapsed = cq_last > cq_first ? cq_last - cq_first : 0;
    cq = NULL;
    return authed;
}

bool lg_ws_send(lg_client *c, const char *data, size_t len)
{
    if (c->fd < 0 || (c->state != LG_C_OPEN && c->state != LG_C_AUTHED)) return false;
    if (c->out_len > MAX_BACKLOG) {
        c->dropped++;
        return false;
    }
    if (!send_frame(c, LG_WSF_TEXT, data, len)) {
        client_close(c, "write failed");
        return false;
    }
    return true;
}

bool lg_ws_send_json(lg_client *c, const char *type, json_t *payload)
{
    json_t *env = json_pack("{s:s,s:o}", "type", type, "payload", payload);
    char *s = json_dumps(env, JSON_COMPACT);
    json_decref(env);
    bool ok = lg_ws_send(c, s, strlen(s));
    free(s);
    return ok;
}

void lg_ws_shutdown(void)
{
    /* A close frame (1000) and the socket closed; no callback runs after
     * this (the scenario's handlers are dropped first). */
    static const lg_ws_handlers none = {0};
    H = &none;
    for (size_t i = 0; i < n_all; i++) {
        lg_client *c = all[i];
        if (c->fd < 0) continue;
        if (c->state == LG_C_OPEN || c->state == LG_C_AUTHED) {
            static const uint8_t normal[2] = {0x03, 0xe8};
            send_frame(c, LG_WSF_CLOSE, normal, 2);
        }
        client_close(c, NULL);
    }
    lg_uring_drain(2); /* no completion may name a connection number again */
    free(all);
    all = NULL;
    n_all = cap_all = 0;
    n_open = 0;
}
