/*
 * session.h - WebSocket sessions, frames and players (session.c), as
 * modules see them. Layer 3: uses loop.c, protocol.c, token.c and the base.
 */
#ifndef MB_SESSION_H
#define MB_SESSION_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol.h"

typedef struct mb_session mb_session;

/* A refcounted, pre-encoded outbound message: the same bytes can be
 * queued on many sockets (encode once, write to every player). */
typedef struct mb_frame mb_frame;
mb_frame *mb_frame_new(const char *data, size_t len); /* refs = 1 */
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
void mb_session_error_reason(mb_session *s, const char *cid, const char *request_type, mb_errcode code,
                             const char *reason, const char *message);
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

#endif
