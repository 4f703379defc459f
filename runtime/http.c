/*
 * http.c - REST requests: routing by method and pattern, bearer/admin
 * authentication, JSON bodies, JSON responses and errors, CORS, the per-IP
 * auth rate limit, and the built-in /healthz and /metrics routes.
 *
 * A handler may answer later (after a database query): the request stays
 * owned by the runtime until mb_http_respond is called, even if the client
 * has gone (then the response is dropped).
 */
#include "http_internal.h"
#include "db.h"
#include "log.h"
#include "loop.h"
#include "map.h"
#include "mb.h"
#include "metrics.h"
#include "ratelimit.h"
#include "redis.h"
#include "session_internal.h"
#include "token.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#define MAX_BODY (1024 * 1024)

/* Upward calls (core.c sets them; harmless defaults until then). */
static size_t no_connections(void) { return 0; }
static char *no_module_metrics(void) { return NULL; }
static mb_http_hooks hooks = {no_connections, no_module_metrics};

void mb_http_set_hooks(const mb_http_hooks *h) { hooks = *h; }

typedef struct route_entry {
    const mb_route *r;
    char **segs;  /* pattern split on '/', "{x}" segments are captures */
    size_t *lens; /* strlen of each segment */
    int nsegs;
} route_entry;

static route_entry *routes;
static size_t n_routes;
static uint64_t next_req_id = 1;
static mb_smap ip_buckets; /* ip -> mb_bucket* for auth rate limit */
static size_t live_reqs;
static unsigned metrics_epoch;

/* ----------------------------------------------------------- helpers */

const char *mb_http_method(const mb_http_req *r) { return r->method; }
const char *mb_http_path(const mb_http_req *r) { return r->path; }
const char *mb_http_param(const mb_http_req *r, int i)
{
    return i >= 0 && i < MB_HTTP_MAX_PARAMS ? r->params[i] : NULL;
}
json_t *mb_http_body(const mb_http_req *r) { return r->body; }
const char *mb_http_player(const mb_http_req *r) { return r->player_id; }
const char *mb_http_username(const mb_http_req *r) { return r->username; }
const char *mb_http_ip(const mb_http_req *r) { return r->ip; }

const char *mb_http_query(const mb_http_req *r, const char *name)
{
    size_t n = strlen(name);
    for (int i = 0; i < r->nargs; i++)
        if (strncmp(r->args[i], name, n) == 0 && r->args[i][n] == '=') return r->args[i] + n + 1;
    return NULL;
}

const char *mb_http_query_at(const mb_http_req *r, int i)
{
    return i >= 0 && i < r->nargs ? r->args[i] : NULL;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static char *url_decode(const char *s, size_t n)
{
    char *o = mb_malloc(n + 1);
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            o[j++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else o[j++] = s[i];
    }
    o[j] = '\0';
    return o;
}

bool mb_http_origin_allowed(const char *origin)
{
    const char *list = mb_cfg()->cors_origins;
    if (!list || !*list) return false;
    if (strcmp(list, "*") == 0) return true;
    size_t n = strlen(origin);
    for (const char *p = list; *p;) {
        const char *c = strchr(p, ',');
        size_t l = c ? (size_t)(c - p) : strlen(p);
        while (l && *p == ' ') {
            p++;
            l--;
        }
        if (l == n && strncmp(p, origin, n) == 0) return true;
        if (!c) break;
        p = c + 1;
    }
    return false;
}

/* ---------------------------------------------------------- requests */

/* strlcpy: s cut to fit (no printf machinery on the request path). */
static void copy_str(char *dst, size_t cap, const char *s)
{
    size_t n = strnlen(s, cap - 1);
    memcpy(dst, s, n);
    dst[n] = '\0';
}

mb_http_req *mb_http_req_new(struct lws *wsi, const char *method, const char *uri, const char *ip)
{
    mb_http_req *r = mb_calloc(1, sizeof *r);
    r->id = next_req_id++;
    r->wsi = wsi;
    r->started_us = mb_now_us();
    copy_str(r->method, sizeof r->method, method);
    r->path = mb_strdup(uri);
    copy_str(r->ip, sizeof r->ip, ip);
    if (lws_hdr_copy(wsi, r->auth, sizeof r->auth, WSI_TOKEN_HTTP_AUTHORIZATION) < 0) r->auth[0] = '\0';
    if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION) > MB_AUTH_HEADER_MAX)
        r->auth_too_long = true; /* lws cut it at MB_AUTH_HEADER_MAX + 1 */
    if (lws_hdr_copy(wsi, r->origin, sizeof r->origin, WSI_TOKEN_ORIGIN) < 0) r->origin[0] = '\0';
    char frag[4096];
    for (int i = 0; i < 64; i++) {
        if (lws_hdr_fragment_length(wsi, WSI_TOKEN_HTTP_URI_ARGS, i) >= (int)sizeof frag) {
            r->query_too_long = true; /* refused in dispatch, never silently dropped */
            break;
        }
        int n = lws_hdr_copy_fragment(wsi, frag, sizeof frag, WSI_TOKEN_HTTP_URI_ARGS, i);
        if (n <= 0) break;
        r->args = mb_realloc(r->args, (size_t)(r->nargs + 1) * sizeof *r->args);
        r->args[r->nargs++] = url_decode(frag, (size_t)n);
    }
    live_reqs++;
    return r;
}

#define BODY_TIMEOUT_US (10 * 1000000LL)

static void body_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    mb_http_req *r = w->data;
    ev_timer_stop(loop, w);
    if (!r->wsi || r->dispatched) return;
    mb_info("http_body_timeout", "path=%s received=%zu", r->path, r->body_len);
    /* Outside any lws callback: close now. CLOSED_HTTP frees r. */
    lws_set_timeout(r->wsi, PENDING_TIMEOUT_HTTP_CONTENT, LWS_TO_KILL_SYNC);
}

/* lws restarts its timeout on every body chunk, so a client dripping one
 * byte a second could hold a connection for ever: this timer bounds the
 * whole body instead. */
void mb_http_wait_body(mb_http_req *r)
{
    ev_timer_init(&r->body_w, body_timeout_cb, (double)BODY_TIMEOUT_US / 1e6, 0.);
    r->body_w.data = r;
    ev_timer_start(mb_loop(), &r->body_w);
}

int mb_http_on_body(mb_http_req *r, const void *in, size_t len)
{
    if (!in || !len) return 0;
    if (r->body_too_large || r->body_len + len > MAX_BODY) {
        r->body_too_large = true;
        return 0;
    }
    r->body_raw = mb_realloc(r->body_raw, r->body_len + len + 1);
    memcpy(r->body_raw + r->body_len, in, len);
    r->body_len += len;
    r->body_raw[r->body_len] = '\0';
    return 0;
}

static void req_free(mb_http_req *r)
{
    ev_timer_stop(mb_loop(), &r->body_w);
    free(r->path);
    for (int i = 0; i < r->nargs; i++) free(r->args[i]);
    free(r->args);
    for (int i = 0; i < MB_HTTP_MAX_PARAMS; i++) free(r->params[i]);
    free(r->body_raw);
    json_decref(r->body);
    free(r->resp);
    free(r);
    live_reqs--;
}

void mb_http_on_closed(mb_http_req *r)
{
    /* Client gone (or response written). If the handler still owes a
     * response, it will find wsi == NULL and free the request then. */
    r->wsi = NULL;
    /* Never dispatched (the client left mid-body): nobody else will free it. */
    if (r->responded || !r->dispatched) req_free(r);
}

/* body borrowed (copied); ctype must be a static string. */
static void respond_raw(mb_http_req *r, int status, const char *ctype, const char *body, size_t len)
{
    if (r->responded) { /* a handler bug: never answer twice */
        mb_error("http_double_response", "path=%s", r->path);
        return;
    }
    r->responded = true;
    r->status = status;
    r->content_type = ctype;
    /* lws's LWS_PRE, then room for the headers, then the body */
    r->resp = mb_malloc(LWS_PRE + MB_HTTP_HEAD_ROOM + len + 1);
    if (len) memcpy(r->resp + LWS_PRE + MB_HTTP_HEAD_ROOM, body, len);
    r->resp_len = len;
    mb_log_level lvl = status >= 500 ? MB_LOG_WARN : MB_LOG_DEBUG;
    if (lvl >= mb_log_get_level()) {
        char pq[256];
        mb_log(lvl, "http_request", "method=%s path=%s status=%d ms=%.2f", r->method,
               mb_log_quote(pq, sizeof pq, r->path), status, (double)(mb_now_us() - r->started_us) / 1000.0);
    }
    /* metric pointers looked up once, not per request */
    static double *by_class[4];
    static const char *const class_labels[4] = {"class=\"2xx\"", "class=\"3xx\"", "class=\"4xx\"",
                                                "class=\"5xx\""};
    int cls = status < 300 ? 0 : status < 400 ? 1 : status < 500 ? 2 : 3;
    if (!by_class[cls] || metrics_epoch != mb_metrics_epoch())
        for (int k = 0; k < 4; k++)
            by_class[k] = mb_metric("moonbase_http_requests_total", class_labels[k], MB_COUNTER,
                                    "HTTP requests by status class");
    metrics_epoch = mb_metrics_epoch();
    *by_class[cls] += 1;
    if (!r->wsi) {
        req_free(r);
        return;
    }
    /* Answered inside mb_http_dispatch: transport.c writes it when the
     * dispatch returns, without a round trip through the poll loop. */
    if (!r->in_dispatch) lws_callback_on_writable(r->wsi);
}

void mb_http_respond(mb_http_req *r, int status, json_t *body)
{
    char *s = body ? json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    const char *text = s ? s : body ? "{}" : "";
    json_decref(body);
    respond_raw(r, status, "application/json", text, strlen(text));
    free(s);
}

void mb_http_respond_json(mb_http_req *r, int status, const char *json, size_t len)
{
    respond_raw(r, status, "application/json", json, len);
}

void mb_http_error(mb_http_req *r, mb_errcode code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    mb_utf8_sanitize(msg);
    *mb_m_errors[code] += 1;
    mb_http_respond(r, mb_errcode_http_status(code),
                    json_pack("{s:{s:s,s:s}}", "error", "code", mb_errcode_str(code), "message", msg));
}

void mb_http_db_error(mb_http_req *r, const mb_db_result *res, const char *conflict)
{
    if (res->code == MB_E_UNAVAILABLE)
        mb_http_error(r, MB_E_UNAVAILABLE, "database unavailable; retry shortly");
    else if (res->code == MB_E_CONFLICT && conflict) mb_http_error(r, MB_E_CONFLICT, "%s", conflict);
    else mb_http_error(r, MB_E_INTERNAL, "internal error");
}

/* ------------------------------------------------------------ routing */

mb_status mb_http_register(const mb_route *rs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        routes = mb_realloc(routes, (n_routes + 1) * sizeof *routes);
        route_entry *e = &routes[n_routes++];
        e->r = &rs[i];
        e->segs = NULL;
        e->lens = NULL;
        e->nsegs = 0;
        char *pat = mb_strdup(rs[i].pattern);
        char *save = NULL;
        for (char *t = strtok_r(pat, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
            e->segs = mb_realloc(e->segs, (size_t)(e->nsegs + 1) * sizeof *e->segs);
            e->lens = mb_realloc(e->lens, (size_t)(e->nsegs + 1) * sizeof *e->lens);
            e->lens[e->nsegs] = strlen(t);
            e->segs[e->nsegs++] = mb_strdup(t);
        }
        free(pat);
    }
    return MB_OK;
}

/* A request path split on '/' once (empty segments dropped, as the
 * patterns' are), so that each route costs a length compare or two. */
#define MAX_PATH_SEGS 16
typedef struct path_segs {
    const char *at[MAX_PATH_SEGS];
    size_t len[MAX_PATH_SEGS];
    int n; /* MAX_PATH_SEGS + 1: too many for any route */
} path_segs;

static void split_path(const char *path, path_segs *ps)
{
    ps->n = 0;
    const char *p = path;
    for (;;) {
        while (*p == '/') p++;
        if (!*p) return;
        const char *end = strchr(p, '/');
        size_t l = end ? (size_t)(end - p) : strlen(p);
        if (ps->n == MAX_PATH_SEGS) {
            ps->n++;
            return;
        }
        ps->at[ps->n] = p;
        ps->len[ps->n++] = l;
        p += l;
    }
}

/* Does the path match e? Literal segments are compared in place; nothing is
 * allocated (the captures of the route chosen are decoded by the caller). */
static bool route_match(const route_entry *e, const path_segs *ps)
{
    if (ps->n != e->nsegs) return false;
    int ncap = 0;
    for (int i = 0; i < e->nsegs; i++) {
        if (e->segs[i][0] == '{') {
            if (++ncap > MB_HTTP_MAX_PARAMS) return false;
        } else if (e->lens[i] != ps->len[i] || memcmp(e->segs[i], ps->at[i], ps->len[i]) != 0) {
            return false;
        }
    }
    return true;
}

static int64_t ip_swept_ms;

static bool auth_rate_ok(const char *ip)
{
    mb_bucket *b = mb_smap_get(&ip_buckets, ip);
    double per_min = mb_cfg()->auth_rate_per_min;
    int64_t now = mb_now_ms();
    if (!b) {
        /* Forget addresses whose bucket refilled (same as never seen), at
         * most every 10 s: the table holds the addresses of the last minute
         * or so, not every address ever seen. */
        if (now - ip_swept_ms >= 10000) {
            ip_swept_ms = now;
            mb_bucket_sweep(&ip_buckets, per_min / 60.0, per_min, now);
        }
        if (ip_buckets.count > 100000) { /* hard bound: forget everyone */
            size_t it = 0;
            void *v;
            while (mb_smap_next(&ip_buckets, &it, NULL, &v)) free(v);
            mb_smap_free(&ip_buckets);
        }
        b = mb_malloc(sizeof *b);
        mb_bucket_init(b, per_min, now);
        mb_smap_put(&ip_buckets, ip, b);
    }
    return mb_bucket_take(b, per_min / 60.0, per_min, now);
}

static bool bearer(mb_http_req *r, const char **tok)
{
    if (strncasecmp(r->auth, "Bearer ", 7) != 0) return false;
    *tok = r->auth + 7;
    while (**tok == ' ') (*tok)++;
    return **tok != '\0';
}

static void dispatch(mb_http_req *r);

static const char *req_query(const void *r, const char *name) { return mb_http_query(r, name); }

void mb_http_dispatch(mb_http_req *r)
{
    if (r->dispatched) return; /* e.g. a refused chunked body completing later */
    r->dispatched = true;
    r->in_dispatch = true;
    dispatch(r);
    r->in_dispatch = false; /* r stays alive: transport.c holds it */
}

static void dispatch(mb_http_req *r)
{
    ev_timer_stop(mb_loop(), &r->body_w);
    if (r->auth_too_long) { /* whatever the route: lws kept only part of it */
        *mb_m_errors[MB_E_BAD_REQUEST] += 1;
        mb_http_respond(r, 431,
                        json_pack("{s:{s:s,s:s}}", "error", "code", "bad_request", "message",
                                  "Authorization header over 4096 bytes"));
        return;
    }
    if (strcmp(r->method, "OPTIONS") == 0) {
        respond_raw(r, 204, "text/plain", "", 0);
        return;
    }
    const route_entry *found = NULL;
    bool path_known = false;
    /* HEAD is answered like GET, without the body (transport.c). */
    const char *method = strcmp(r->method, "HEAD") == 0 ? "GET" : r->method;
    path_segs ps;
    split_path(r->path, &ps);
    for (size_t i = 0; i < n_routes && !found; i++) {
        if (!route_match(&routes[i], &ps)) continue;
        path_known = true;
        if (strcmp(routes[i].r->method, method) == 0) found = &routes[i];
    }
    if (!found) {
        if (path_known) mb_http_error(r, MB_E_UNSUPPORTED, "method %s not allowed here", r->method);
        else mb_http_error(r, MB_E_NOT_FOUND, "no such route: %s %s", r->method, r->path);
        return;
    }
    r->route = found->r;
    for (int i = 0, k = 0; i < found->nsegs; i++)
        if (found->segs[i][0] == '{') r->params[k++] = url_decode(ps.at[i], ps.len[i]);
    if (found->r->auth_rate_limited && !auth_rate_ok(r->ip)) {
        mb_http_error(r, MB_E_RATE_LIMITED, "too many authentication attempts; retry later");
        return;
    }
    const char *tok = NULL;
    if (found->r->auth == MB_AUTH_BEARER) {
        char why[128] = "missing Authorization: Bearer token";
        if (!bearer(r, &tok) || mb_token_verify(tok, r->player_id, r->username, why, sizeof why) != MB_OK) {
            mb_http_error(r, MB_E_UNAUTHORIZED, "%s", why);
            return;
        }
    } else if (found->r->auth == MB_AUTH_ADMIN) {
        const char *admin = mb_admin_token();
        if (!admin) {
            mb_http_error(r, MB_E_FORBIDDEN, "admin API disabled: set --admin-token");
            return;
        }
        size_t al = strlen(admin);
        if (!bearer(r, &tok) || strlen(tok) != al || sodium_memcmp(tok, admin, al) != 0) {
            mb_http_error(r, MB_E_UNAUTHORIZED, "admin token required");
            return;
        }
    }
    if (r->query_too_long) {
        mb_http_error(r, MB_E_BAD_REQUEST, "a query argument is longer than 4095 bytes");
        return;
    }
    if (r->chunked) {
        mb_http_error(r, MB_E_BAD_REQUEST, "chunked request bodies are not supported; send Content-Length");
        return;
    }
    if (r->body_too_large) {
        mb_http_error(r, MB_E_BAD_REQUEST, "request body over %d bytes", MAX_BODY);
        return;
    }
    char why[512];
    if (r->body_len && mb_http_parse_body(r->body_raw, r->body_len, mb_cfg()->max_json_depth, &r->body, why,
                                          sizeof why) != MB_OK) {
        mb_http_error(r, MB_E_BAD_REQUEST, "%s", why);
        return;
    }
    if (mb_http_validate_body(found->r, r->body, why, sizeof why) != MB_OK ||
        mb_http_validate_query(found->r, req_query, r, why, sizeof why) != MB_OK) {
        mb_http_error(r, MB_E_BAD_REQUEST, "%s", why);
        return;
    }
    found->r->handler(r);
}

mb_status mb_http_parse_body(const char *data, size_t len, int max_depth, json_t **body, char *err,
                             size_t errlen)
{
    json_error_t jerr;
    *body = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!*body) {
        snprintf(err, errlen, "invalid JSON body: %s", jerr.text);
        return MB_ERR;
    }
    if (!json_is_object(*body)) {
        snprintf(err, errlen, "JSON body must be an object");
        return MB_ERR;
    }
    if (mb_json_depth(*body) > max_depth) {
        snprintf(err, errlen, "JSON nested deeper than %d levels", max_depth);
        return MB_ERR;
    }
    return MB_OK;
}

mb_status mb_http_validate_body(const mb_route *route, json_t *body, char *err, size_t errlen)
{
    if (!body) {
        if (!(route->body_rules & MB_BODY_REQUIRED)) {
            /* no body: its required fields are still missing */
            for (const mb_field *f = route->body; f && f->name; f++)
                if (f->required) {
                    snprintf(err, errlen, "missing field '%s'", f->name);
                    return MB_ERR;
                }
            return MB_OK;
        }
        snprintf(err, errlen, "JSON body required");
        return MB_ERR;
    }
    if (!route->body) return MB_OK;
    if ((route->body_rules & MB_BODY_CLOSED) && mb_validate_closed(route->body, body, err, errlen) != MB_OK)
        return MB_ERR;
    return mb_validate(route->body, body, err, errlen);
}

mb_status mb_http_validate_query(const mb_route *route, const char *(*get)(const void *ctx, const char *name),
                                 const void *ctx, char *err, size_t errlen)
{
    for (const mb_field *f = route->query; f && f->name; f++) {
        const char *v = get(ctx, f->name);
        if (!v || !*v) {
            if (f->required) {
                snprintf(err, errlen, "query parameter '%s' is required", f->name);
                return MB_ERR;
            }
            continue;
        }
        size_t len = strlen(v);
        if (f->max > 0 && (double)len > f->max) {
            snprintf(err, errlen, "query parameter '%s' must be at most %g characters", f->name, f->max);
            return MB_ERR;
        }
        if (!f->check) continue;
        json_t *js = json_stringn_nocheck(v, len); /* the check judges the text, UTF-8 or not */
        const char *why = js ? f->check(js) : "out of memory";
        json_decref(js);
        if (why) {
            snprintf(err, errlen, "%s", why);
            return MB_ERR;
        }
    }
    return MB_OK;
}

size_t mb_http_route_count(void) { return n_routes; }
const mb_route *mb_http_route_at(size_t i) { return i < n_routes ? routes[i].r : NULL; }

/* ----------------------------------------------------------- builtins */

typedef struct health_ctx {
    mb_http_req *req;
} health_ctx;

/* Cluster mode: "redis" says whether Redis is reachable; past the grace
 * (--redis-grace-ms) of being unreachable the node reports unavailable. */
static bool health_redis(json_t *o)
{
    if (!mb_redis_configured()) return true;
    bool up = mb_redis_up();
    json_object_set_new(o, "redis", json_string(up ? "ok" : "unreachable"));
    if (up) return true;
    int64_t since = mb_redis_down_since_ms();
    int64_t down_ms = since ? mb_now_ms() - since : 0;
    json_object_set_new(o, "redis_down_ms", json_integer(down_ms));
    return down_ms <= (mb_cfg() ? mb_cfg()->redis_grace_ms : 0);
}

static void health_done(void *ud, const mb_db_result *res)
{
    mb_http_req *r = ud;
    if (res->ok) {
        json_t *o = json_pack("{s:s,s:s,s:I}", "status", "ok", "database", "ok", "sessions",
                              (json_int_t)mb_session_count());
        if (!health_redis(o)) {
            json_object_set_new(o, "status", json_string("unavailable"));
            json_object_set_new(o, "reason", json_string("Redis has been unreachable longer than its grace"));
            mb_http_respond(r, 503, o);
            return;
        }
        mb_http_respond(r, 200, o);
    } else {
        mb_http_respond(r, 503,
                        json_pack("{s:s,s:s,s:s}", "status", "unavailable", "database", "unreachable",
                                  "reason", "PostgreSQL is not answering"));
    }
}

static void route_healthz(mb_http_req *r)
{
    if (mb_shutting_down()) {
        mb_http_respond(r, 503, json_pack("{s:s,s:s}", "status", "unavailable", "reason", "shutting down"));
        return;
    }
    mb_db_query("SELECT 1", 0, NULL, health_done, r);
}

static void route_metrics(mb_http_req *r)
{
    /* refresh gauges */
    const mb_db_stats *st = mb_db_get_stats();
    *mb_metric("moonbase_db_pool_size", "", MB_GAUGE, "PostgreSQL pool size") = st->pool_size;
    *mb_metric("moonbase_db_pool_connected", "", MB_GAUGE, "PostgreSQL connections up") = st->connected;
    *mb_metric("moonbase_db_pool_busy", "", MB_GAUGE, "PostgreSQL connections running a query") = st->busy;
    *mb_metric("moonbase_db_queue_length", "", MB_GAUGE, "queries waiting for a connection") =
        (double)st->queued;
    *mb_metric("moonbase_db_queries_total", "", MB_COUNTER, "queries completed") = (double)st->queries;
    *mb_metric("moonbase_db_errors_total", "", MB_COUNTER, "queries that failed") = (double)st->errors;
    *mb_metric("moonbase_db_unavailable_total", "", MB_COUNTER,
               "queries refused because PostgreSQL was unavailable") = (double)st->unavailable;
    *mb_metric("moonbase_connections", "", MB_GAUGE, "open TCP connections (WebSocket + HTTP)") =
        (double)hooks.connections();
    char *text = mb_metrics_render();
    /* db latency histogram from the pool's buckets */
    static const char *les[] = {"0.001", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "+Inf"};
    size_t cap = strlen(text) + 2048;
    char *out = mb_malloc(cap);
    size_t o = (size_t)snprintf(out, cap,
                                "%s# HELP moonbase_db_query_seconds query latency\n"
                                "# TYPE moonbase_db_query_seconds histogram\n",
                                text);
    uint64_t cum = 0;
    for (int i = 0; i < 8; i++) {
        cum += st->latency_buckets[i];
        o += (size_t)snprintf(out + o, cap - o, "moonbase_db_query_seconds_bucket{le=\"%s\"} %llu\n", les[i],
                              (unsigned long long)cum);
    }
    o += (size_t)snprintf(out + o, cap - o,
                          "moonbase_db_query_seconds_sum %.9g\nmoonbase_db_query_seconds_count %llu\n",
                          st->latency_sum_s, (unsigned long long)cum);
    free(text);
    char *extra = hooks.module_metrics();
    if (extra && *extra) {
        size_t el = strlen(extra);
        out = mb_realloc(out, o + el + 1);
        memcpy(out + o, extra, el + 1);
        o += el;
    }
    free(extra);
    respond_raw(r, 200, "text/plain; version=0.0.4", out, o);
    free(out);
}

static const mb_route builtin_routes[] = {
    {"GET", "/healthz", route_healthz, MB_AUTH_NONE, false},
    {"GET", "/metrics", route_metrics, MB_AUTH_NONE, false},
};

void mb_http_register_builtin(void)
{
    mb_http_register(builtin_routes, MB_ARRAY_LEN(builtin_routes));
    mb_metric_table_smap("auth_ip_buckets", &ip_buckets);
}

void mb_http_free_all(void)
{
    for (size_t i = 0; i < n_routes; i++) {
        for (int k = 0; k < routes[i].nsegs; k++) free(routes[i].segs[k]);
        free(routes[i].segs);
        free(routes[i].lens);
    }
    free(routes);
    routes = NULL;
    n_routes = 0;
    size_t it = 0;
    void *v;
    while (mb_smap_next(&ip_buckets, &it, NULL, &v)) free(v);
    mb_smap_free(&ip_buckets);
}
