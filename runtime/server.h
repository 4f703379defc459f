/*
 * server.h - the one narrow interface between the runtime and feature
 * modules (modules/<name>/). A module sees sessions, HTTP requests, the
 * database, timers on the loop and metrics only through these calls.
 *
 * Threading: everything here runs on the single event-loop thread.
 * Identity: sessions are reached by integer ids (mb_session_get returns
 * NULL for a closed one); pointers are valid only for the current callback.
 */
#ifndef MB_SERVER_H
#define MB_SERVER_H

#include <ev.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "db.h"
#include "log.h"
#include "map.h"
#include "mb.h"
#include "metrics.h"
#include "protocol.h"

/* ---------------------------------------------------------------- loop */
struct ev_loop *mb_loop(void);
const mb_config *mb_cfg(void);
/* Has shutdown begun (SIGTERM/SIGINT)? */
bool mb_shutting_down(void);

/* A random RFC 4122 version 4 id ("xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx")
 * from libsodium's CSPRNG, NUL-terminated. */
void mb_uuid(char out[37]);

/* Run fn(ud) later on the loop, before it next sleeps (never from inside
 * the caller's stack). Used to defer callbacks and destruction. */
typedef void (*mb_defer_fn)(void *ud);
void mb_defer(mb_defer_fn fn, void *ud);

/* ---------------------------------------------------------- sessions */
typedef struct mb_session mb_session;

/* A refcounted, pre-encoded outbound message: the same bytes can be
 * queued on many sockets (encode once, write to every player). */
typedef struct mb_frame mb_frame;
mb_frame *mb_frame_new(const char *data, size_t len);     /* refs = 1 */
/* Envelope {"cid"?,"type","payload"} with payload borrowed. */
mb_frame *mb_frame_envelope(const char *type, const char *cid, const json_t *payload);
/* Raw envelope around already-encoded payload JSON text. */
mb_frame *mb_frame_envelope_raw(const char *type, const char *payload_json, size_t len);
void mb_frame_ref(mb_frame *f);
void mb_frame_unref(mb_frame *f);

mb_session *mb_session_get(uint64_t id);
uint64_t mb_session_id(const mb_session *s);
/* Player id of an authenticated session ("" before session.connect). */
const char *mb_session_player(const mb_session *s);
const char *mb_session_username(const mb_session *s);
bool mb_session_authed(const mb_session *s);
/* Peer address, and when the socket opened (epoch ms; admin views). */
const char *mb_session_ip(const mb_session *s);
int64_t mb_session_opened_wall_ms(const mb_session *s);

/* Queue a frame (adds a reference; the caller keeps its own). */
void mb_session_send_frame(mb_session *s, mb_frame *f);
/* Send {type, cid?, payload}; payload is STOLEN (may be NULL for {}). */
void mb_session_send(mb_session *s, const char *type, const char *cid, json_t *payload);
/* Send an error reply {code, message, request_type}. */
void mb_session_error(mb_session *s, const char *cid, const char *request_type, mb_errcode code,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Error with an extra "reason" field in the payload (vote intake etc.). */
void mb_session_error_reason(mb_session *s, const char *cid, const char *request_type,
                             mb_errcode code, const char *reason, const char *message);
/* Close with a WebSocket close code; destruction is deferred. */
void mb_session_close(mb_session *s, int code, const char *reason);

/* Sessions of one player (several sockets are allowed). Calls fn for each
 * authenticated session of player_id; returns how many. */
typedef void (*mb_session_each_fn)(mb_session *s, void *ud);
int mb_player_each_session(const char *player_id, mb_session_each_fn fn, void *ud);
bool mb_player_online(const char *player_id);
/* Send to every socket of a player; payload borrowed. Returns sockets. */
int mb_player_send(const char *player_id, const char *type, const json_t *payload);
int mb_player_send_frame(const char *player_id, mb_frame *f);
/* The same for a caller that sends to one player again and again (a match
 * seat, every tick): the cache keeps the player's session list between
 * calls and is refreshed only after any player's sockets changed, so the
 * hot path does no string lookup. Zero-initialise it; it holds no
 * resources. */
typedef struct mb_player_cache {
    uint64_t gen;
    struct mb_session *head;
} mb_player_cache;
int mb_player_send_frame_cached(const char *player_id, mb_player_cache *c, mb_frame *f);
size_t mb_session_count(void);
/* Count a message of this type as sent (for frames queued directly). */
double *mb_metric_msg_out(const char *type);
/* Iterate all sessions: returns false when done. */
bool mb_session_next(size_t *iter, mb_session **out);

/* -------------------------------------------------------------- HTTP */
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

/* ------------------------------------------------------------ tokens */
/* Issue a session token for a player; returns malloc'd JWT. version is the
 * account's token version (claim "tv"; see mb_token_block). */
char *mb_token_issue(const char *player_id, const char *username, int version);
/* Verify; on success copies the player id/username (<= 63 chars). A token
 * refused by mb_token_block fails with why = "account deleted", "account
 * banned" or "session revoked". */
bool mb_token_verify(const char *token, char player_id[64], char username[64], const char **why);

/* Revocation: from now on refuse the session tokens of player_id: every
 * one while state is MB_TOKENS_BANNED or MB_TOKENS_DELETED, those with a
 * token version below min_version for MB_TOKENS_REVOKED (after an unban or
 * a "sign out everywhere"). The entry lives until until_wall_ms (epoch ms),
 * when every token it refuses has expired; a later call for the same player
 * replaces it. The table is bounded (MB_TOKEN_BLOCK_MAX entries, expired
 * ones pruned first): MB_ERR when it is full. The caller persists what a
 * restart needs and loads it back at start-up. */
typedef enum { MB_TOKENS_OK = 0, MB_TOKENS_REVOKED, MB_TOKENS_BANNED, MB_TOKENS_DELETED } mb_tokens_state;
#define MB_TOKEN_BLOCK_MAX 100000
mb_status mb_token_block(const char *player_id, mb_tokens_state state, int min_version, int64_t until_wall_ms);
/* Room for one more entry (prunes expired ones when full)? */
bool mb_token_block_room(void);
/* The live entry for player_id: its state (MB_TOKENS_OK when none). */
mb_tokens_state mb_token_blocked(const char *player_id);
size_t mb_token_block_count(void);

/* ----------------------------------------------------------- modules */
#define MB_MODULE_API 1

typedef struct mb_module {
    int api;                              /* MB_MODULE_API */
    const char *name;
    mb_status (*init)(void);              /* mandatory */
    void (*shutdown)(void);               /* graceful stop begins (optional) */
    void (*destroy)(void);                /* free everything (mandatory) */
    const mb_msg_def *messages;
    size_t n_messages;
    const mb_route *routes;
    size_t n_routes;
    void (*session_authed)(mb_session *s);  /* optional */
    void (*session_closed)(mb_session *s);  /* optional; s still readable */
    void (*before_sleep)(void);             /* optional batch hook */
    /* optional: extra /metrics text appended (caller frees the string) */
    char *(*metrics)(void);
} mb_module;

/* Off-loop CPU work (argon2id): work runs on a worker thread and must not
 * touch loop state; done runs on the loop afterwards with the same ud. */
typedef void (*mb_work_fn)(void *ud);
void mb_worker_submit(mb_work_fn work, mb_work_fn done, void *ud);

#endif
