/*
 * session.c - WebSocket sessions: message assembly, envelope dispatch,
 * authentication (session.connect), heartbeats, auth and idle timeouts,
 * per-connection rate limit, outbound queues, and the player index
 * (several sockets per player).
 *
 * Lifetime: a session is created on ESTABLISHED and marked dead on CLOSED;
 * modules hear session_closed right then, and the struct itself is freed
 * in the prepare hook (never inside its own callback).
 */
#include "session_internal.h"
#include "log.h"
#include "loop.h"
#include "map.h"
#include "mb.h"
#include "metrics.h"
#include "token.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* Upward calls (core.c sets them; no-ops until then, e.g. in unit tests). */
static void no_wake(struct lws *wsi) {}
static void no_session_hook(mb_session *s) {}
static mb_session_hooks hooks = {no_wake, no_session_hook, no_session_hook};

void mb_session_set_hooks(const mb_session_hooks *h) { hooks = *h; }

static mb_imap sessions; /* id -> session */
static mb_smap players;  /* player id -> first session of the player */
static uint64_t next_id = 1;
static uint64_t players_gen = 1; /* bumped whenever a player's session list changes */
static mb_session **dead;
static size_t n_dead, cap_dead;
static mb_session **flushq; /* sessions with frames queued this iteration */
static size_t n_flush, cap_flush;

/* ------------------------------------------------------------ frames */

mb_frame *mb_frame_new(const char *data, size_t len)
{
    mb_frame *f = mb_malloc(sizeof *f + LWS_PRE + len);
    f->refs = 1;
    f->len = len;
    if (data) memcpy(f->buf + LWS_PRE, data, len);
    return f;
}

mb_frame *mb_frame_envelope(const char *type, const char *cid, const json_t *payload)
{
    size_t len;
    char *s = mb_envelope_encode(type, cid, payload, &len);
    mb_frame *f = mb_frame_new(s, len);
    free(s);
    return f;
}

mb_frame *mb_frame_envelope_raw(const char *type, const char *payload_json, size_t len)
{
    /* {"type":"<type>","payload":<payload>} ; type is a trusted literal */
    size_t tl = strlen(type);
    size_t total = 9 + tl + 13 + len + 1;
    mb_frame *f = mb_frame_new(NULL, total);
    char *o = (char *)f->buf + LWS_PRE;
    memcpy(o, "{\"type\":\"", 9);
    memcpy(o + 9, type, tl);
    memcpy(o + 9 + tl, "\",\"payload\":", 12);
    memcpy(o + 21 + tl, payload_json, len);
    o[21 + tl + len] = '}';
    f->len = 22 + tl + len;
    return f;
}

void mb_frame_ref(mb_frame *f) { f->refs++; }
void mb_frame_unref(mb_frame *f)
{
    if (f && --f->refs == 0) free(f);
}

/* ---------------------------------------------------------- sessions */

mb_session *mb_session_get(uint64_t id)
{
    mb_session *s = mb_imap_get(&sessions, id);
    return s && !s->dead ? s : NULL;
}
uint64_t mb_session_id(const mb_session *s) { return s->id; }
const char *mb_session_player(const mb_session *s) { return s->player_id; }
const char *mb_session_ip(const mb_session *s) { return s->ip; }
int64_t mb_session_opened_wall_ms(const mb_session *s)
{
    return mb_wall_ms() - (mb_now_ms() - s->connected_ms);
}
const char *mb_session_username(const mb_session *s) { return s->username; }
bool mb_session_authed(const mb_session *s) { return s->authed && !s->dead; }
size_t mb_session_count(void) { return sessions.count - n_dead; }

bool mb_session_next(size_t *iter, mb_session **out)
{
    void *v;
    while (mb_imap_next(&sessions, iter, NULL, &v)) {
        mb_session *s = v;
        if (!s->dead) {
            *out = s;
            return true;
        }
    }
    return false;
}

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents);

mb_session *mb_session_new(struct lws *wsi, const char *ip)
{
    mb_session *s = mb_calloc(1, sizeof *s);
    s->id = next_id++;
    s->wsi = wsi;
    /* Frames go out with send() on a plain socket of its own (write_frame);
     * TLS and sockets lws multiplexes take lws_write. */
    s->raw_fd = wsi && !lws_is_ssl(wsi) && lws_get_network_wsi(wsi) == wsi ? lws_get_socket_fd(wsi) : -1;
    snprintf(s->ip, sizeof s->ip, "%s", ip);
    s->connected_ms = s->last_rx_ms = mb_now_ms();
    mb_bucket_init(&s->rate, mb_cfg()->msg_burst, s->connected_ms);
    ev_init(&s->timer, timer_cb);
    s->timer.data = s;
    s->timer.repeat = mb_cfg()->auth_timeout_ms / 1000.0;
    ev_timer_again(mb_loop(), &s->timer);
    mb_imap_put(&sessions, s->id, s);
    *mb_m_sessions += 1;
    *mb_m_sessions_total += 1;
    mb_debug("session_open", "session=%llu ip=%s", (unsigned long long)s->id, s->ip);
    return s;
}

static void player_link(mb_session *s)
{
    players_gen++;
    mb_session *head = mb_smap_get(&players, s->player_id);
    s->prev_of_player = NULL;
    s->next_of_player = head;
    if (head) head->prev_of_player = s;
    mb_smap_put(&players, s->player_id, s);
}

static void player_unlink(mb_session *s)
{
    players_gen++;
    if (s->prev_of_player) s->prev_of_player->next_of_player = s->next_of_player;
    else if (s->next_of_player) mb_smap_put(&players, s->player_id, s->next_of_player);
    else mb_smap_del(&players, s->player_id);
    if (s->next_of_player) s->next_of_player->prev_of_player = s->prev_of_player;
    s->next_of_player = s->prev_of_player = NULL;
}

int mb_player_each_session(const char *player_id, mb_session_each_fn fn, void *ud)
{
    int n = 0;
    mb_session *s = mb_smap_get(&players, player_id);
    while (s) {
        mb_session *next = s->next_of_player; /* fn may close s */
        if (!s->dead) {
            fn(s, ud);
            n++;
        }
        s = next;
    }
    return n;
}

bool mb_player_online(const char *player_id) { return mb_smap_get(&players, player_id) != NULL; }

int mb_player_send_frame(const char *player_id, mb_frame *f)
{
    int n = 0;
    for (mb_session *s = mb_smap_get(&players, player_id); s; s = s->next_of_player) {
        if (s->dead) continue;
        mb_session_send_frame(s, f);
        n++;
    }
    return n;
}

int mb_player_send_frame_cached(const char *player_id, mb_player_cache *c, mb_frame *f)
{
    if (c->gen != players_gen) {
        c->head = mb_smap_get(&players, player_id);
        c->gen = players_gen;
    }
    int n = 0;
    for (mb_session *s = c->head; s; s = s->next_of_player) {
        if (s->dead) continue;
        mb_session_send_frame(s, f);
        n++;
    }
    return n;
}

int mb_player_send(const char *player_id, const char *type, const json_t *payload)
{
    if (!mb_smap_get(&players, player_id)) return 0;
    mb_frame *f = mb_frame_envelope(type, NULL, payload);
    *mb_metric_msg_out(type) += 0; /* ensure the series exists */
    int n = mb_player_send_frame(player_id, f);
    *mb_metric_msg_out(type) += n;
    mb_frame_unref(f);
    return n;
}

/* ------------------------------------------------------------ output */

void mb_session_send_frame(mb_session *s, mb_frame *f)
{
    if (s->dead || s->closing) return;
    if (s->tx_bytes + f->len > (size_t)mb_cfg()->outbound_limit_bytes) {
        /* A client that stops reading must not grow our memory. */
        mb_warn("slow_client_closed", "session=%llu queued_bytes=%zu", (unsigned long long)s->id,
                s->tx_bytes);
        /* Drop what it never read: the close frame goes first, and the
         * memory is given back now, not when the client reads again. */
        while (s->tx_count) {
            mb_frame_unref(s->txq[s->tx_head]);
            s->tx_head = (s->tx_head + 1) % s->tx_cap;
            s->tx_count--;
        }
        s->tx_bytes = 0;
        mb_session_close(s, LWS_CLOSE_STATUS_POLICY_VIOLATION, "outbound queue full");
        return;
    }
    if (s->tx_count == s->tx_cap) {
        size_t ncap = s->tx_cap ? s->tx_cap * 2 : 8;
        mb_frame **q = mb_malloc(ncap * sizeof *q);
        for (size_t i = 0; i < s->tx_count; i++) q[i] = s->txq[(s->tx_head + i) % s->tx_cap];
        free(s->txq);
        s->txq = q;
        s->tx_cap = ncap;
        s->tx_head = 0;
    }
    mb_frame_ref(f);
    s->txq[(s->tx_head + s->tx_count) % s->tx_cap] = f;
    s->tx_count++;
    s->tx_bytes += f->len;
    if (s->tx_count != 1 || s->in_flush || !s->wsi) return; /* already listed or waiting for writable */
    /* Batched writes: frames queued during this loop iteration are written
     * together just before the loop sleeps (mb_sessions_flush), so the
     * states of every match that ticked in this iteration leave in one
     * burst: the peers are woken once per burst, not once per frame, and
     * there is no epoll_ctl pair or writable round trip per frame. A socket
     * whose kernel buffer is full (lws holds a partial frame) drains through
     * the writable callback instead (write_queued asks for it). */
    if (n_flush == cap_flush) {
        cap_flush = cap_flush ? cap_flush * 2 : 256;
        flushq = mb_realloc(flushq, cap_flush * sizeof *flushq);
    }
    flushq[n_flush++] = s;
    s->in_flush = true;
}

/* One text frame onto the connection; false when the connection failed.
 * On a plain socket the frame header goes in the room in front of the
 * payload (the same bytes for every socket that shares the frame: server
 * frames are not masked) and the frame leaves with one send(): lws_write's
 * work per write (role dispatch, extension and timer bookkeeping) buys
 * nothing for a whole unmasked frame. What the kernel does not take is
 * handed to lws as raw bytes: lws keeps them and sends them before anything
 * else on that connection (its pongs and close frame included); *choked
 * then says lws holds bytes, and nothing more may be written directly.
 * Only called while lws holds nothing (write_queued). */
static bool write_frame(mb_session *s, mb_frame *f, bool *choked)
{
    unsigned char *p = f->buf + LWS_PRE;
    int w;
    if (s->raw_fd < 0) {
        w = lws_write(s->wsi, p, f->len, LWS_WRITE_TEXT);
    } else {
        size_t h = f->len < 126 ? 2 : f->len < 65536 ? 4 : 10;
        p[-(ptrdiff_t)h] = 0x81; /* FIN, text */
        if (h == 2) {
            p[-1] = (unsigned char)f->len;
        } else {
            p[-(ptrdiff_t)h + 1] = h == 4 ? 126 : 127;
            for (size_t i = 1; i <= h - 2; i++) p[-(ptrdiff_t)i] = (unsigned char)(f->len >> (8 * (i - 1)));
        }
        size_t total = h + f->len;
        ssize_t n = send(s->raw_fd, p - h, total, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return false;
            n = 0;
        }
        if ((size_t)n == total) return true;
        w = lws_write(s->wsi, p - h + n, total - (size_t)n, LWS_WRITE_RAW);
    }
    if (w < 0) return false;
    *choked = lws_partial_buffered(s->wsi);
    return true;
}

/* Write what a session has queued; false when the connection failed. While
 * lws holds part of a frame (a partial write), the rest waits for the
 * writable callback. */
static bool write_queued(mb_session *s)
{
    struct lws *wsi = s->wsi;
    bool choked = lws_partial_buffered(wsi);
    while (s->tx_count && !choked) {
        mb_frame *f = s->txq[s->tx_head];
        s->tx_head = (s->tx_head + 1) % s->tx_cap;
        s->tx_count--;
        s->tx_bytes -= f->len;
        bool ok = write_frame(s, f, &choked);
        mb_frame_unref(f);
        if (!ok) return false;
    }
    if (s->tx_count) lws_callback_on_writable(wsi);
    return true;
}

void mb_sessions_flush(void)
{
    for (size_t i = 0; i < n_flush; i++) {
        /* Each send takes microseconds in the kernel and leaves the caches
         * cold: fetch the next sessions (and the next queue slot) while it
         * runs; these two misses were ~6 % of the server's user time. */
        if (i + 2 < n_flush) __builtin_prefetch(flushq[i + 2]);
        if (i + 1 < n_flush && flushq[i + 1]->txq)
            __builtin_prefetch(&flushq[i + 1]->txq[flushq[i + 1]->tx_head]);
        mb_session *s = flushq[i];
        s->in_flush = false;
        if (s->dead || !s->wsi || !s->tx_count) continue;
        if (s->closing) { /* the close path writes what is queued, then the close frame */
            hooks.wake(s->wsi);
            continue;
        }
        if (!write_queued(s)) mb_session_close(s, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "write failed");
    }
    n_flush = 0;
}

void mb_session_send(mb_session *s, const char *type, const char *cid, json_t *payload)
{
    mb_frame *f = mb_frame_envelope(type, cid, payload);
    json_decref(payload);
    *mb_metric_msg_out(type) += 1;
    mb_session_send_frame(s, f);
    mb_frame_unref(f);
}

static void send_error(mb_session *s, const char *cid, const char *request_type, mb_errcode code,
                       const char *reason, const char *message)
{
    json_t *p = mb_error_payload(code, message, request_type);
    if (reason) json_object_set_new(p, "reason", json_string(reason));
    *mb_m_errors[code] += 1;
    mb_session_send(s, "error", cid, p);
}

void mb_session_error(mb_session *s, const char *cid, const char *request_type, mb_errcode code,
                      const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    send_error(s, cid, request_type, code, NULL, msg);
}

void mb_session_error_reason(mb_session *s, const char *cid, const char *request_type, mb_errcode code,
                             const char *reason, const char *message)
{
    send_error(s, cid, request_type, code, reason, message);
}

void mb_session_close(mb_session *s, int code, const char *reason)
{
    if (s->dead || s->closing) return;
    s->closing = true;
    s->close_code = code;
    snprintf(s->close_reason, sizeof s->close_reason, "%s", reason ? reason : "");
    hooks.wake(s->wsi);
    /* A peer that never reads never lets the close frame out: the session
     * timer drops the connection if it is still open 3 s from now. */
    ev_timer_stop(mb_loop(), &s->timer);
    s->timer.repeat = 3.0;
    ev_timer_again(mb_loop(), &s->timer);
}

int mb_session_on_writable(mb_session *s)
{
    struct lws *wsi = s->wsi;
    /* Write everything queued in one go (no poll() per frame); stop when the
     * kernel buffer is full and lws had to keep part of a frame. */
    if (!write_queued(s)) return -1;
    if (s->tx_count) return 0;
    if (s->closing) {
        lws_close_reason(wsi, (enum lws_close_status)s->close_code, (unsigned char *)s->close_reason,
                         strlen(s->close_reason));
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------ timers */

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    mb_session *s = w->data;
    int64_t now = mb_now_ms();
    if (s->closing) {
        ev_timer_stop(loop, w);
        if (s->wsi) {
            mb_info("session_close_forced", "session=%llu note=\"peer did not read the close\"",
                    (unsigned long long)s->id);
            /* The peer reads nothing, so what lws still holds for it cannot
             * leave: shut the socket first, or lws keeps it 5 s more trying to
             * flush (PENDING_TIMEOUT_CLOSE_SEND) before it closes. Then, not
             * inside any callback of this wsi, close synchronously; CLOSED
             * marks the session dead, freed before sleep. */
            int fd = (int)lws_get_socket_fd(s->wsi);
            if (fd >= 0) shutdown(fd, SHUT_RDWR);
            lws_set_timeout(s->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_SYNC);
        }
        return;
    }
    if (!s->authed) {
        if (now - s->connected_ms >= mb_cfg()->auth_timeout_ms) {
            mb_info("session_auth_timeout", "session=%llu", (unsigned long long)s->id);
            mb_session_close(s, LWS_CLOSE_STATUS_POLICY_VIOLATION, "authentication timeout");
            return;
        }
        w->repeat = (double)(mb_cfg()->auth_timeout_ms - (now - s->connected_ms)) / 1000.0;
    } else {
        int64_t idle = now - s->last_rx_ms;
        if (idle >= mb_cfg()->idle_timeout_ms) {
            mb_info("session_idle_timeout", "session=%llu player=%s", (unsigned long long)s->id,
                    s->player_id);
            mb_session_close(s, LWS_CLOSE_STATUS_POLICY_VIOLATION, "idle timeout");
            return;
        }
        w->repeat = (double)(mb_cfg()->idle_timeout_ms - idle) / 1000.0;
    }
    if (w->repeat < 0.01) w->repeat = 0.01;
    ev_timer_again(loop, w);
}

/* ---------------------------------------------------------- dispatch */

static void dispatch(mb_session *s, const char *data, size_t len)
{
    char err[256];
    mb_envelope env;
    /* Fast path: types with a raw handler (match.input) skip the jansson
     * tree; the scan refuses anything unusual, which then takes the full
     * path below and gets its exact error. */
    if (s->authed) {
        mb_envelope_view v;
        mb_msg_raw_fn raw;
        const mb_msg_def *def;
        if (mb_envelope_scan(data, len, mb_cfg()->max_json_depth, &v) == MB_OK &&
            (def = mb_protocol_lookup(v.type, &raw)) != NULL && raw) {
            /* the counter of the last fast-path type, without a lookup */
            static const mb_msg_def *last_def;
            static double *last_ctr;
            if (def != last_def) {
                last_ctr = mb_metric_msg_in(def->type);
                last_def = def;
            }
            *last_ctr += 1;
            raw(s, v.has_cid ? v.cid : NULL, v.payload ? v.payload : "{}", v.payload ? v.payload_len : 2);
            return;
        }
    }
    if (mb_envelope_parse(data, len, mb_cfg()->max_json_depth, &env, err, sizeof err) != MB_OK) {
        *mb_metric_msg_in("invalid") += 1;
        send_error(s, env.cid, env.type, MB_E_BAD_REQUEST, NULL, err);
        mb_envelope_free(&env);
        return;
    }
    const mb_msg_def *def = mb_protocol_find(env.type);
    *mb_metric_msg_in(def ? def->type : "unknown") += 1;
    if (!def) {
        send_error(s, env.cid, env.type, MB_E_UNSUPPORTED, NULL, "unknown message type");
    } else if (!s->authed && !def->before_auth) {
        send_error(s, env.cid, env.type, MB_E_UNAUTHORIZED, NULL,
                   "send session.connect with a valid token first");
    } else if (mb_validate(def->fields, env.payload, err, sizeof err) != MB_OK) {
        send_error(s, env.cid, env.type, MB_E_BAD_REQUEST, NULL, err);
    } else {
        def->handler(s, env.cid, env.payload);
    }
    mb_envelope_free(&env);
}

/* One complete text message: rate limit, then dispatch. */
static void deliver(mb_session *s, const char *data, size_t n)
{
    if (!mb_bucket_take(&s->rate, mb_cfg()->msg_rate, mb_cfg()->msg_burst, s->last_rx_ms)) {
        /* Echo the cid when we can read it cheaply, so requests still get one reply. */
        mb_envelope env;
        char err[64];
        mb_envelope_parse(data, n, mb_cfg()->max_json_depth, &env, err, sizeof err);
        send_error(s, env.cid, env.type, MB_E_RATE_LIMITED, NULL, "too many messages; slow down");
        mb_envelope_free(&env);
        return;
    }
    dispatch(s, data, n);
}

void mb_session_on_rx(mb_session *s, const void *in, size_t len, bool first, bool final, bool binary)
{
    if (s->dead || s->closing) return;
    if (first && s->rx_len == 0) {
        s->rx_binary = binary;
        s->rx_skip = false;
    }
    size_t max = (size_t)mb_cfg()->max_message_bytes;
    /* A whole message in one frame (the usual case): parse it where lws
     * holds it, no copy. */
    if (first && final && s->rx_len == 0 && len <= max && !binary) {
        s->last_rx_ms = mb_now_ms();
        deliver(s, (const char *)in, len);
        return;
    }
    if (s->rx_len + len > max) {
        s->closing = true;
        s->close_code = LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE;
        snprintf(s->close_reason, sizeof s->close_reason, "message over %zu bytes", max);
        mb_info("session_message_too_large", "session=%llu", (unsigned long long)s->id);
        return;
    }
    if (s->rx_len + len + 1 > s->rx_cap) {
        s->rx_cap = s->rx_len + len + 1 < 1024 ? 1024 : (s->rx_len + len + 1) * 2;
        if (s->rx_cap > max + 1) s->rx_cap = max + 1;
        s->rx = mb_realloc(s->rx, s->rx_cap);
    }
    memcpy(s->rx + s->rx_len, in, len);
    s->rx_len += len;
    if (!final) return;

    size_t n = s->rx_len;
    s->rx_len = 0;
    s->last_rx_ms = mb_now_ms();
    if (s->rx_binary) {
        send_error(s, NULL, NULL, MB_E_BAD_REQUEST, NULL, "binary frames are not supported; send JSON text");
        return;
    }
    deliver(s, s->rx, n);
    if (s->rx_cap > 2048 && !s->dead) { /* idle sessions keep at most a small buffer */
        free(s->rx);
        s->rx = NULL;
        s->rx_cap = 0;
    }
}

void mb_session_on_closed(mb_session *s)
{
    if (s->dead) return;
    mb_debug("session_closed", "session=%llu player=%s", (unsigned long long)s->id, s->player_id);
    s->wsi = NULL;
    ev_timer_stop(mb_loop(), &s->timer);
    if (s->authed) {
        player_unlink(s);
        hooks.closed(s);
    }
    s->dead = true;
    *mb_m_sessions -= 1;
    if (n_dead == cap_dead) {
        cap_dead = cap_dead ? cap_dead * 2 : 64;
        dead = mb_realloc(dead, cap_dead * sizeof *dead);
    }
    dead[n_dead++] = s;
}

static void session_free(mb_session *s)
{
    while (s->tx_count) {
        mb_frame_unref(s->txq[s->tx_head]);
        s->tx_head = (s->tx_head + 1) % s->tx_cap;
        s->tx_count--;
    }
    free(s->txq);
    free(s->rx);
    free(s);
}

void mb_session_register_tables(void)
{
    mb_metric_table_imap("sessions", &sessions);
    mb_metric_table_smap("session_players", &players);
}

void mb_sessions_reap(void)
{
    for (size_t i = 0; i < n_dead; i++) {
        mb_imap_del(&sessions, dead[i]->id);
        session_free(dead[i]);
    }
    n_dead = 0;
}

void mb_sessions_free_all(void)
{
    mb_sessions_reap();
    size_t it = 0;
    void *v;
    while (mb_imap_next(&sessions, &it, NULL, &v)) {
        mb_session *s = v;
        ev_timer_stop(mb_loop(), &s->timer);
        session_free(s);
    }
    mb_imap_free(&sessions);
    mb_smap_free(&players);
    free(dead);
    dead = NULL;
    cap_dead = 0;
    free(flushq);
    flushq = NULL;
    n_flush = cap_flush = 0;
}

/* ---------------------------------------------------- builtin messages */

static void on_connect(mb_session *s, const char *cid, json_t *payload)
{
    if (s->authed) {
        mb_session_error(s, cid, "session.connect", MB_E_CONFLICT, "session already connected");
        return;
    }
    const char *token = json_string_value(json_object_get(payload, "token"));
    char pid[64], usn[64];
    char why[128];
    if (mb_token_verify(token, pid, usn, why, sizeof why) != MB_OK) {
        mb_info("session_auth_failed", "session=%llu ip=%s reason=\"%s\"", (unsigned long long)s->id, s->ip,
                why);
        mb_session_error(s, cid, "session.connect", MB_E_UNAUTHORIZED, "%s", why);
        return;
    }
    s->authed = true;
    snprintf(s->player_id, sizeof s->player_id, "%s", pid);
    snprintf(s->username, sizeof s->username, "%s", usn);
    s->last_rx_ms = mb_now_ms();
    ev_timer_stop(mb_loop(), &s->timer);
    s->timer.repeat = mb_cfg()->idle_timeout_ms / 1000.0;
    ev_timer_again(mb_loop(), &s->timer);
    player_link(s);
    mb_info("session_connected", "session=%llu player=%s", (unsigned long long)s->id, s->player_id);
    json_t *p = json_pack("{s:s}", "player_id", s->player_id);
    mb_session_send(s, "session.connected", cid, p);
    hooks.authed(s);
}

static void on_heartbeat(mb_session *s, const char *cid, json_t *payload)
{
    /* last_rx_ms was already refreshed by the receive path. */
    if (cid)
        mb_session_send(s, "session.heartbeat", cid,
                        json_pack("{s:I}", "server_time", (json_int_t)mb_wall_ms()));
}

static const mb_field connect_fields[] = {
    {"token", MB_F_STRING, true, 1, 4096},
    {NULL},
};
static const mb_field no_fields[] = {{NULL}};

static const mb_msg_def builtin[] = {
    {"session.connect", connect_fields, on_connect, true},
    {"session.heartbeat", no_fields, on_heartbeat, false},
};

void mb_session_register_builtin(void) { mb_protocol_register(builtin, MB_ARRAY_LEN(builtin)); }

/* ---------------------------------------------------- message metrics */
double *mb_m_sessions, *mb_m_sessions_total, *mb_m_errors[MB_E__COUNT];

static mb_smap in_metrics, out_metrics;

static double *msg_metric(mb_smap *m, const char *name, const char *type)
{
    double *v = mb_smap_get(m, type);
    if (v) return v;
    char labels[128];
    char safe[65];
    size_t j = 0;
    for (const char *p = type; *p && j < 64; p++)
        safe[j++] = (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20) ? '_' : *p;
    safe[j] = '\0';
    snprintf(labels, sizeof labels, "type=\"%s\"", safe);
    v = mb_metric(name, labels, MB_COUNTER,
                  m == &in_metrics ? "messages received by type" : "messages sent by type");
    if (m->count < 512) mb_smap_put(m, type, v);
    return v;
}

double *mb_metric_msg_in(const char *type)
{
    return msg_metric(&in_metrics, "moonbase_messages_in_total", type);
}
double *mb_metric_msg_out(const char *type)
{
    return msg_metric(&out_metrics, "moonbase_messages_out_total", type);
}

void mb_metric_msg_destroy(void)
{
    mb_smap_free(&in_metrics);
    mb_smap_free(&out_metrics);
}
