/*
 * http_internal.h - the request structure and what transport.c and
 * core.c call in http.c. Runtime only: modules use http.h.
 */
#ifndef MB_HTTP_INTERNAL_H
#define MB_HTTP_INTERNAL_H

#include <ev.h>
#include <libwebsockets.h>

#include "http.h"

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
    struct lws *wsi; /* NULL when the client went away */
    char method[8];
    char *path;
    char **args; /* query arguments "name=value", URL-decoded */
    int nargs;
    char *params[MB_HTTP_MAX_PARAMS];
    char *body_raw;
    size_t body_len;
    bool body_too_large;
    bool chunked; /* Transfer-Encoding: refused */
    bool query_too_long;
    bool auth_too_long; /* Authorization over MB_AUTH_HEADER_MAX: 431 */
    ev_timer body_w;    /* bounds the wait for the body */
    json_t *body;
    char player_id[64];
    char username[64];
    char ip[64];
    char auth[512]; /* Authorization header copy */
    char origin[256];
    const mb_route *route;
    /* response */
    bool dispatched;  /* a handler owns it until it responds */
    bool in_dispatch; /* inside mb_http_dispatch: transport.c writes a
                             * response given meanwhile itself, at once */
    bool responded;
    int status;
    char *resp;      /* LWS_PRE + MB_HTTP_HEAD_ROOM bytes, then the body */
    size_t resp_len; /* body bytes */
    const char *content_type;
    int64_t started_us;
};

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
mb_status mb_http_register(const mb_route *routes, size_t n);
void mb_http_register_builtin(void);
void mb_http_free_all(void);
bool mb_http_origin_allowed(const char *origin);

/* Upward calls, set by core.c before the loop runs: connections counts
 * the transport's open connections (/metrics); module_metrics returns the
 * modules' extra /metrics text (malloc'd). */
typedef struct mb_http_hooks {
    size_t (*connections)(void);
    char *(*module_metrics)(void);
} mb_http_hooks;
void mb_http_set_hooks(const mb_http_hooks *hooks);

#endif
