/*
 * internal.h - runtime-private structures shared by transport.c,
 * session.c, http.c and core.c. Modules never include this file: they
 * use server.h.
 */
#ifndef MB_INTERNAL_H
#define MB_INTERNAL_H

#include <libwebsockets.h>

#include "ratelimit.h"
#include "server.h"

struct mb_frame {
    int refs;
    size_t len;
    unsigned char buf[]; /* LWS_PRE bytes of headroom, then len bytes */
};

struct mb_session {
    uint64_t id;
    struct lws *wsi;        /* NULL once the connection is gone */
    bool authed;
    bool closing;           /* close requested; waiting for writable */
    bool dead;              /* connection closed; freed by the prepare hook */
    int close_code;
    char close_reason[64];
    char player_id[64];
    char username[64];
    char ip[64];
    int64_t connected_ms, last_rx_ms;
    mb_bucket rate;
    /* inbound message assembly (fragments) */
    char *rx;
    size_t rx_len, rx_cap;
    bool rx_binary, rx_skip;
    /* outbound queue: ring of frame pointers */
    mb_frame **txq;
    size_t tx_head, tx_count, tx_cap, tx_bytes;
    ev_timer timer;         /* auth + idle checks */
    struct mb_session *next_of_player, *prev_of_player;
    bool in_flush;          /* listed for mb_sessions_flush */
};

#define MB_HTTP_MAX_PARAMS 4
/* Room reserved in front of a response body for the status line and headers,
 * so that both leave in one write (transport.c; longer headers, e.g. CORS
 * with a long origin, are copied to a new buffer). Small enough that a small
 * response stays within glibc's per-thread cache (1,032 bytes). */
#define MB_HTTP_HEAD_ROOM 384
/* Largest status line + headers transport.c builds. */
#define MB_HTTP_HEAD_MAX 1024
/* Longest Authorization header (bytes) a request may carry: longer is 431. */
#define MB_AUTH_HEADER_MAX 4096

struct mb_http_req {
    uint64_t id;
    struct lws *wsi;        /* NULL when the client went away */
    char method[8];
    char *path;
    char **args;            /* query arguments "name=value", URL-decoded */
    int nargs;
    char *params[MB_HTTP_MAX_PARAMS];
    char *body_raw;
    size_t body_len;
    bool body_too_large;
    bool chunked;           /* Transfer-Encoding: refused */
    bool query_too_long;
    bool auth_too_long;     /* Authorization over MB_AUTH_HEADER_MAX: 431 */
    ev_timer body_w;        /* bounds the wait for the body */
    json_t *body;
    char player_id[64];
    char username[64];
    char ip[64];
    char auth[512];         /* Authorization header copy */
    char origin[256];
    const mb_route *route;
    /* response */
    bool dispatched;        /* a handler owns it until it responds */
    bool in_dispatch;       /* inside mb_http_dispatch: transport.c writes a
                             * response given meanwhile itself, at once */
    bool responded;
    int status;
    char *resp;             /* LWS_PRE + MB_HTTP_HEAD_ROOM bytes, then the body */
    size_t resp_len;        /* body bytes */
    const char *content_type;
    int64_t started_us;
};

/* transport.c */
int mb_transport_start(void);
void mb_transport_stop(void);          /* destroy the lws context */
void mb_transport_wake(struct lws *wsi); /* request a writable callback */
void mb_transport_close_all(int code, const char *reason);
size_t mb_transport_connections(void);

/* session.c */
mb_session *mb_session_new(struct lws *wsi, const char *ip);
void mb_session_on_rx(mb_session *s, const void *in, size_t len, bool first, bool final,
                      bool binary);
/* Called on LWS_CALLBACK_SERVER_WRITEABLE; returns -1 to close. */
int mb_session_on_writable(mb_session *s);
void mb_session_on_closed(mb_session *s);
void mb_session_register_tables(void); /* table gauges of the session maps */
void mb_sessions_reap(void);           /* free dead sessions (prepare hook) */
void mb_sessions_flush(void);          /* write the frames queued this iteration (prepare hook) */
void mb_sessions_free_all(void);
void mb_session_register_builtin(void);

/* http.c */
/* ip: the peer address (transport.c looks it up once per connection). */
mb_http_req *mb_http_req_new(struct lws *wsi, const char *method, const char *uri, const char *ip);
/* returns 0 to continue, -1 to close the connection */
int mb_http_on_body(mb_http_req *r, const void *in, size_t len);
/* The request announced a body: close the connection if it is not
 * complete within a bounded time. */
void mb_http_wait_body(mb_http_req *r);
void mb_http_dispatch(mb_http_req *r);
/* Write the response on HTTP_WRITEABLE; returns lws return code. */
int mb_http_on_writable(mb_http_req *r);
void mb_http_on_closed(mb_http_req *r);
int mb_http_register(const mb_route *routes, size_t n);
void mb_http_register_builtin(void);
void mb_http_free_all(void);
bool mb_http_origin_allowed(const char *origin);

/* core.c */
void mb_modules_session_authed(mb_session *s);
void mb_modules_session_closed(mb_session *s);
extern double *mb_m_sessions, *mb_m_sessions_total, *mb_m_errors[MB_E__COUNT];
double *mb_metric_msg_in(const char *type);
double *mb_metric_msg_out(const char *type);
char *mb_modules_metrics(void);
const unsigned char *mb_jwt_key(size_t *len);
const char *mb_admin_token(void);

#endif
