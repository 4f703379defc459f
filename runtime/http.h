/*
 * http.h - REST requests and routes (http.c), as modules see them.
 * Layer 3: uses session.c, db.c, token.c, loop.c, protocol.c and the base.
 */
#ifndef MB_HTTP_H
#define MB_HTTP_H

#include <jansson.h>
#include <stdbool.h>

#include "db.h"
#include "protocol.h"

typedef struct mb_http_req mb_http_req;

typedef enum { MB_AUTH_NONE = 0, MB_AUTH_BEARER, MB_AUTH_ADMIN } mb_route_auth;
typedef void (*mb_route_fn)(mb_http_req *req);

/* What a route declares about its JSON body (mb_route.body_rules). */
enum {
    MB_BODY_REQUIRED = 1 << 0, /* no body: 400 "JSON body required" */
    MB_BODY_CLOSED = 1 << 1,   /* a member not in body: 400 "unknown field 'x' (a, b)" */
};

typedef struct mb_route {
    const char *method;  /* "GET", "POST", "PATCH", "PUT", "DELETE" */
    const char *pattern; /* "/v1/matches/{id}": {x} captures one segment */
    mb_route_fn handler; /* must end in exactly one mb_http_respond*, maybe later */
    mb_route_auth auth;
    bool auth_rate_limited; /* per-IP auth rate limit applies */
    /* The JSON body's declared fields (protocol.h's mb_field, as for socket
     * payloads), terminated by {NULL}. http.c validates the body against
     * them (and body_rules) before the handler runs, so the handler sees
     * only bodies whose declared fields have the right types, sizes and
     * formats. NULL: the route takes no declared body (the handler reads
     * mb_http_body itself, e.g. an open-ended script payload). */
    const mb_field *body;
    unsigned body_rules; /* MB_BODY_* */
    /* Declared query parameters, terminated by {NULL}: each is an
     * MB_F_STRING (the URL-decoded text); an empty value counts as absent;
     * max bounds its length in bytes; check gets it as a JSON string.
     * Validated before the handler, after the body. NULL: none declared. */
    const mb_field *query;
} mb_route;

/* Parse a request body as http.c does (duplicate keys refused, an object,
 * nesting at most max_depth): MB_OK with *body set (new reference), or MB_ERR with
 * the client-facing reason in err (*body may still be set: the caller
 * decrefs it either way). */
mb_status mb_http_parse_body(const char *data, size_t len, int max_depth, json_t **body, char *err,
                             size_t errlen);

/* The checks http.c runs on a route's parsed body (NULL when the request
 * had none) before its handler: MB_OK, or MB_ERR with the client-facing reason in
 * err. Exposed for the REST body fuzzer. */
mb_status mb_http_validate_body(const mb_route *route, json_t *body, char *err, size_t errlen);

/* The checks http.c runs on a request's declared query parameters; get
 * returns a parameter's value or NULL (mb_http_query for a request). MB_OK,
 * or MB_ERR with the client-facing reason in err. */
mb_status mb_http_validate_query(const mb_route *route, const char *(*get)(const void *ctx, const char *name),
                                 const void *ctx, char *err, size_t errlen);

/* The registered routes in registration order, for `moonbase describe`. */
size_t mb_http_route_count(void);
const mb_route *mb_http_route_at(size_t i);

const char *mb_http_method(const mb_http_req *r);
const char *mb_http_path(const mb_http_req *r);
/* The i-th {capture} of the matched pattern, URL-decoded. */
const char *mb_http_param(const mb_http_req *r, int i);
/* A query argument, URL-decoded, or NULL. */
const char *mb_http_query(const mb_http_req *r, const char *name);
/* The i-th query argument as "name=value" (URL-decoded), or NULL past the
 * end: for routes that accept open-ended names (label.<key>). */
const char *mb_http_query_at(const mb_http_req *r, int i);
/* Parsed JSON body (object) or NULL when the request had none. */
json_t *mb_http_body(const mb_http_req *r);
/* Player id from a verified bearer token (MB_AUTH_BEARER routes). */
const char *mb_http_player(const mb_http_req *r);
const char *mb_http_username(const mb_http_req *r);
const char *mb_http_ip(const mb_http_req *r);
/* Respond with JSON; body STOLEN. Frees the request when it is done. */
void mb_http_respond(mb_http_req *r, int status, json_t *body);
/* Respond with JSON text already encoded (borrowed: copied). */
void mb_http_respond_json(mb_http_req *r, int status, const char *json, size_t len);
/* Respond {"error":{"code","message"}} with the code's HTTP status. */
void mb_http_error(mb_http_req *r, mb_errcode code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Answer a failed query: 503 unavailable, 409 with `conflict` for a unique
 * violation (when conflict is not NULL), else 500 (details stay in the log). */
void mb_http_db_error(mb_http_req *r, const mb_db_result *res, const char *conflict);

#endif
