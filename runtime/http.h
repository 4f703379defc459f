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

typedef struct mb_route {
    const char *method;  /* "GET", "POST", "PATCH", "PUT", "DELETE" */
    const char *pattern; /* "/v1/matches/{id}": {x} captures one segment */
    mb_route_fn handler; /* must end in exactly one mb_http_respond*, maybe later */
    mb_route_auth auth;
    bool auth_rate_limited; /* per-IP auth rate limit applies */
} mb_route;

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
