/*
 * ws.c - WebSocket clients on libwebsockets' client API, one lws context
 * on the shared libev loop (foreign loop), many client connections in it.
 * lws does the handshake, masking and framing; this file keeps a small
 * outbound ring per client (lws writes only from WRITEABLE), assembles
 * fragmented messages, authenticates with session.connect and hands every
 * later message to the scenario.
 */
#include "loadgen.h"

#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static struct lws_context *ctx;
/* No lws validity (ping/hangup) timers: lws 4.1 puts each connection's
 * validity timer into one sorted list, and with every deadline the latest
 * each insertion walks the whole list (O(N^2) for N connects). The
 * server's own idle timeout is what we test. */
static const lws_retry_bo_t no_validity = {0};
static const lg_ws_handlers *H;
static int n_open;

/* connect phase */
static lg_client *cq;
static int cq_n, cq_next, cq_inflight, cq_authed, cq_failed, cq_errors_shown;
static double cq_first, cq_last;

int lg_ws_open_count(void) { return n_open; }

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

static void deliver(lg_client *c, const char *data, size_t len)
{
    if (c->state == LG_C_OPEN) on_auth_reply(c, data, len);
    else if (c->state == LG_C_AUTHED && H->on_message) H->on_message(c, data, len);
}

static int write_some(struct lws *wsi, lg_client *c)
{
    while (c->on && !lws_send_pipe_choked(wsi)) {
        unsigned char *b = c->outq[c->oh];
        size_t len = c->outlen[c->oh];
        c->outq[c->oh] = NULL;
        c->oh = (c->oh + 1) % 16;
        c->on--;
        int w = lws_write(wsi, b + LWS_PRE, len, LWS_WRITE_TEXT);
        free(b);
        if (w < (int)len) return -1;
    }
    if (c->on) lws_callback_on_writable(wsi);
    return 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    lg_client *c = wsi ? lws_get_opaque_user_data(wsi) : NULL;
    switch (reason) {
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        if (!c) return 0;
        if (cq_errors_shown++ < 5)
            lg_say("client %d: connection error: %s", c->idx, in ? (const char *)in : "(none)");
        c->wsi = NULL;
        finish_attempt(c, false);
        if (H->on_closed) H->on_closed(c);
        return 0;

    case LWS_CALLBACK_CLIENT_ESTABLISHED: {
        if (!c) return -1;
        c->state = LG_C_OPEN;
        n_open++;
        json_t *p = json_pack("{s:s}", "token", c->acct->token);
        lg_ws_send_json(c, "session.connect", p);
        return 0;
    }

    case LWS_CALLBACK_CLIENT_RECEIVE: {
        if (!c) return -1;
        bool first = lws_is_first_fragment(wsi),
             final = lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0;
        if (first && final && c->rx_len == 0) { /* the common case: no copy */
            deliver(c, in, len);
            return 0;
        }
        if (c->rx_len + len + 1 > c->rx_cap) {
            c->rx_cap = (c->rx_len + len + 1) * 2;
            c->rx = realloc(c->rx, c->rx_cap);
            if (!c->rx) lg_die("out of memory");
        }
        memcpy(c->rx + c->rx_len, in, len);
        c->rx_len += len;
        if (final) {
            size_t n = c->rx_len;
            c->rx_len = 0;
            deliver(c, c->rx, n);
        }
        return 0;
    }

    case LWS_CALLBACK_CLIENT_WRITEABLE:
        if (!c) return -1;
        if (c->state == LG_C_CLOSED) return -1;
        return write_some(wsi, c);

    case LWS_CALLBACK_CLIENT_CLOSED:
        if (!c) return 0;
        if (c->state == LG_C_OPEN || c->state == LG_C_AUTHED) n_open--;
        if (c->state != LG_C_AUTHED) finish_attempt(c, false);
        c->state = LG_C_CLOSED;
        c->wsi = NULL;
        while (c->on) {
            free(c->outq[c->oh]);
            c->outq[c->oh] = NULL;
            c->oh = (c->oh + 1) % 16;
            c->on--;
        }
        if (H->on_closed) H->on_closed(c);
        return 0;

    default: break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols protocols[] = {
    {"moonbase", callback, 0, 65536, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static void lws_log(int level, const char *line)
{
    (void)level;
    fprintf(stderr, "loadgen: lws: %s", line);
}

void lg_ws_init(const lg_ws_handlers *h)
{
    H = h;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    lws_set_log_level(LLL_ERR, lws_log);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    void *foreign[1] = {lg_loop};
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = protocols;
    info.foreign_loops = foreign;
    info.options = LWS_SERVER_OPTION_LIBEV;
    info.count_threads = 1;
    info.fd_limit_per_thread = (unsigned int)rl.rlim_cur;
    info.timeout_secs = 30;
    ctx = lws_create_context(&info);
    if (!ctx) lg_die("lws_create_context failed (libwebsockets built without libev?)");
}

static void start_connect(lg_client *c)
{
    struct lws_client_connect_info ci;
    memset(&ci, 0, sizeof ci);
    ci.context = ctx;
    ci.address = lg_opt.host;
    ci.port = lg_opt.port;
    ci.path = "/ws";
    ci.host = lg_opt.host;
    ci.protocol = NULL; /* no Sec-WebSocket-Protocol: the server's default */
    ci.local_protocol_name = "moonbase";
    ci.opaque_user_data = c;
    ci.pwsi = &c->wsi;
    ci.retry_and_idle_policy = &no_validity;
    c->state = LG_C_CONNECTING;
    c->t_connect = lg_now();
    if (cq_first == 0) cq_first = c->t_connect;
    cq_inflight++;
    if (!lws_client_connect_via_info(&ci) && c->state == LG_C_CONNECTING) {
        c->wsi = NULL;
        finish_attempt(c, false);
    }
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
    for (int i = 0; i < n; i++) clients[i].idx = i;
    connect_more();
    if (n) lg_phase_run(timeout);
    int authed = cq_authed;
    if (authed + cq_failed < n) lg_say("connect phase timed out: %d of %d authenticated", authed, n);
    if (cq_failed) lg_say("%d of %d connections failed", cq_failed, n);
    *elapsed = cq_last > cq_first ? cq_last - cq_first : 0;
    cq = NULL;
    return authed;
}

bool lg_ws_send(lg_client *c, const char *data, size_t len)
{
    if (!c->wsi || (c->state != LG_C_OPEN && c->state != LG_C_AUTHED)) return false;
    if (c->on == 16) {
        c->dropped++;
        return false;
    }
    unsigned char *b = malloc(LWS_PRE + len);
    if (!b) lg_die("out of memory");
    memcpy(b + LWS_PRE, data, len);
    unsigned slot = (c->oh + c->on) % 16;
    c->outq[slot] = b;
    c->outlen[slot] = len;
    c->on++;
    if (c->on == 1) lws_callback_on_writable(c->wsi);
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
    if (!ctx) return;
    lws_context_destroy(ctx);
    ctx = NULL;
    n_open = 0;
}
