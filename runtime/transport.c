/*
 * transport.c - libwebsockets on the libev loop (foreign loop): one port
 * serving GET /ws (WebSocket), REST under /v1, /healthz, /metrics and the
 * static console/demo mounts. Turns lws callbacks into session and HTTP
 * request events; nothing here knows any message type.
 */
#include "internal.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
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
        {WSI_TOKEN_GET_URI, "GET"},       {WSI_TOKEN_POST_URI, "POST"},
        {WSI_TOKEN_PATCH_URI, "PATCH"},   {WSI_TOKEN_PUT_URI, "PUT"},
        {WSI_TOKEN_DELETE_URI, "DELETE"}, {WSI_TOKEN_OPTIONS_URI, "OPTIONS"},
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

static void pending_done(struct lws *wsi)
{
    free(mb_imap_del(&pending_conns, (uint64_t)(uintptr_t)wsi));
}

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

static void pending_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    int64_t now = mb_now_ms();
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
    return lws_add_http_header_by_name(wsi, (const unsigned char *)name,
                                       (const unsigned char *)value, (int)strlen(value), p, end);
}

/* Status line and headers of r's response, finalized, into [*hp, end). */
static int build_headers(struct lws *wsi, const mb_http_req *r, unsigned char **hp,
                         unsigned char *end)
{
    if (lws_add_http_common_headers(wsi, (unsigned int)r->status, r->content_type, r->resp_len, hp,
                                    end))
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
        struct lws_pollfd pfd = {.fd = lws_get_socket_fd(wsi), .events = LWS_POLLOUT,
                                 .revents = LWS_POLLOUT};
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

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    pss *p = user;
    switch (reason) {
    case LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
        if (mb_shutting_down()) return 1;
        /* Count every accepted socket, not only established ones, so a burst
         * of parallel connects cannot exceed the limit. */
        if (mb_transport_connections() >= (size_t)mb_cfg()->max_connections) {
            mb_warn("connection_refused", "reason=max_connections limit=%d",
                    mb_cfg()->max_connections);
            return 1;
        }
        return 0;

    case LWS_CALLBACK_WSI_CREATE:
        n_wsi++;
        return 0;

    case LWS_CALLBACK_WSI_DESTROY:
        n_wsi--;
        pending_done(wsi);
        free(mb_imap_del(&peer_ips, (uint64_t)(uintptr_t)wsi));
        kick_forget(wsi);
        return 0;

    case LWS_CALLBACK_SERVER_NEW_CLIENT_INSTANTIATED:
        pending_add(wsi);
        return 0;

    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION: {
        pending_done(wsi); /* the upgrade request is complete */
        char uri[128];
        if (lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI) < 0 || strcmp(uri, "/ws") != 0)
            return 1; /* WebSocket only on /ws */
        return 0;
    }

    case LWS_CALLBACK_ESTABLISHED: {
        char ip[64] = "";
        lws_get_peer_simple(wsi, ip, sizeof ip);
        p->session = mb_session_new(wsi, ip);
        return 0;
    }

    case LWS_CALLBACK_RECEIVE:
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

    case LWS_CALLBACK_SERVER_WRITEABLE:
        if (!p->session) return -1;
        return mb_session_on_writable(p->session);

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

    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static struct lws_protocols protocols[] = {
    /* rx_buffer_size is allocated per connection: keep it small (messages
     * larger than it arrive in pieces that session.c reassembles). */
    {"moonbase", callback, sizeof(pss), 4096, 0, NULL, 0},
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
    mb_log(level == LLL_ERR ? MB_LOG_ERROR : MB_LOG_WARN, "lws", "msg=%s",
           mb_log_quote(q, sizeof q, tmp));
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

int mb_transport_start(void)
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
    info.options = LWS_SERVER_OPTION_LIBEV | LWS_SERVER_OPTION_VALIDATE_UTF8 |
                   LWS_SERVER_OPTION_DISABLE_IPV6;
    info.timeout_secs = 10; /* slow headers (slowloris) */
    info.count_threads = 1;
    /* fd_limit_per_thread stays 0: any value below the process limit makes
     * lws look connections up linearly (18% of CPU at 4,800 players). */
    static const lws_retry_bo_t no_validity = {.secs_since_valid_ping = 0, .secs_since_valid_hangup = 0};
    /* Our own heartbeat/idle timeout judges liveness; lws's validity timer
     * would keep every connection in one sorted list (26% of CPU while
     * 15,000 sessions connect). */
    info.retry_and_idle_policy = &no_validity;
    info.max_http_header_data = 4096;
    info.keepalive_timeout = 5;
    info.vhost_name = "moonbase";
    mb_imap_init(&pending_conns);
    mb_imap_init(&peer_ips);
    mb_metric_table_imap("pending_connections", &pending_conns);
    mb_metric_table_imap("peer_addresses", &peer_ips);
    ev_timer_init(&pending_w, pending_cb, 1.0, 1.0);
    ev_timer_start(mb_loop(), &pending_w);
    ev_prepare_init(&kick_w, kick_cb);
    ev_prepare_start(mb_loop(), &kick_w);
    ctx = lws_create_context(&info);
    wsi_baseline = n_wsi; /* the listening socket(s) */
    if (!ctx) {
        mb_error("listen_failed", "host=%s port=%d", mb_cfg()->host, mb_cfg()->port);
        return -1;
    }
    return 0;
}

void mb_transport_stop(void)
{
    ev_timer_stop(mb_loop(), &pending_w);
    ev_prepare_stop(mb_loop(), &kick_w);
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
    n_kicks = cap_kicks = 0;
    for (int i = 0; i < 3; i++) {
        free(mount_origins[i]);
        mount_origins[i] = NULL;
    }
}
