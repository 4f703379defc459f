/*
 * match.h - authoritative matches running a mode script, and the narrow
 * interface other modules (matchmaker, vote, admin) use to reach them.
 *
 * A match is identified by a UUID string (match_id on the wire). It owns
 * one Lua VM running its pinned mode version, a tick timer, its seats and
 * its input queue. All calls run on the loop thread.
 *
 * Modules that add to matches (Lua methods and functions, events, fields
 * in REST replies) use match_ext.h; the mode registry is modes.h.
 *
 * Where the code is (each file's first comment says what it holds and what
 * it does not; match_internal.h lists them as the layers they form):
 * match.c the registry and reading a match (accessors, seats, summary);
 * match_lua.c the Lua `match` object and call contexts; calls.c calls into
 * the script and how a match ends (fail, finish); seats.c seats, joining
 * and the safe point after a callback; state.c get_state rendered and
 * sent; migrate.c hot reload of running matches; tick.c the tick loop,
 * inputs and timers; life.c creating matches and the runtime's init and
 * end; rest_query.c the match listing and stored matches; cluster_glue.c
 * the match module across nodes; handlers.c the match.* socket messages;
 * match_module.c the module record and REST routes; modes.c the mode
 * registry; script_errors.c the console's error list. The server script
 * (server.lua, RPCs) is the rpc module (modules/rpc). `moonbase simulate`
 * drives matches offline from modules/vote/simulate.c.
 * match_internal.h is shared by these files only.
 */
#ifndef MB_MATCH_H
#define MB_MATCH_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "server.h"

typedef struct match match;
typedef struct mode_version mode_version; /* modes.h */

typedef enum { MATCH_WAITING, MATCH_RUNNING, MATCH_FINISHED } match_status;

/* Create a match of mode with params (borrowed, object or NULL). Runs the
 * script's init. Returns NULL with a reason in err (unknown mode: *code =
 * MB_E_NOT_FOUND; script error: MB_E_INTERNAL). */
match *match_create(const char *mode, json_t *params, mb_errcode *code, char *err, size_t errlen);
/* The same with the seed of the match's math.random given (seed NULL: a
 * random one from libsodium). Seeds are integers 0..MATCH_SEED_MAX
 * (2^53 - 1: exact in a double and in JavaScript); the caller checks. */
#define MATCH_SEED_MAX ((uint64_t)9007199254740991ULL)
match *match_create_seeded(const char *mode, json_t *params, const uint64_t *seed, mb_errcode *code,
                           char *err, size_t errlen);
uint64_t match_seed(const match *m);
/* Joinable now: not finishing and a seat free (reservations count). */
bool match_is_open(const match *m);
/* The label set by match:set_label (borrowed object), or NULL when none. */
const json_t *match_label(const match *m);
match *match_find(const char *match_id);
const char *match_id(const match *m);
const char *match_mode(const match *m);
match_status match_get_status(const match *m);
const mode_version *match_version(const match *m);
size_t match_player_count(const match *m);
/* Reserve a seat for a matched player (matchmaker); released when not
 * claimed by a match.join within timeout_ms. */
void match_reserve(match *m, const char *player_id, int timeout_ms);
/* End a match from outside (admin): result borrowed. */
void match_end(match *m, json_t *result);
/* JSON summary for listings (new reference). */
json_t *match_summary(const match *m);
/* Current get_state(nil) view as JSON (new reference) or NULL (the admin
 * state view: a failing get_state is logged and does not end the match). */
json_t *match_state_json(match *m);
size_t match_count(void);
bool match_next(size_t *iter, match **out);

/* Observer for `moonbase simulate`: called with each broadcast state
 * payload (JSON text, not NUL-terminated). */
typedef void (*match_state_observer)(match *m, const char *json, size_t len, void *ud);
void match_set_observer(match_state_observer fn, void *ud);
/* Offline driving (simulate): add a seat without a session, queue an
 * input, run one tick now with the given simulated clock. */
mb_status match_sim_join(match *m, const char *player_id, const char *username, char *err, size_t errlen);
void match_sim_input(match *m, const char *player_id, json_t *input);
void match_sim_step(match *m, int64_t now_ms);
bool match_is_over(const match *m);
json_t *match_result(const match *m);
/* The match's clock: the simulated one offline, else mb_now_ms(). */
int64_t match_now(const match *m);
/* Did a script error end the match? */
bool match_failed(const match *m);
/* Free an offline match (after match_is_over or to stop early). */
void match_sim_free(match *m);

/* Broadcast a pre-encoded frame to every connected player of the match. */
void match_broadcast_frame(match *m, mb_frame *f);
/* Is player_id seated (joined) in m? */
bool match_has_player(const match *m, const char *player_id);
/* Player ids currently seated, as a JSON array (new reference). */
json_t *match_player_ids(const match *m);
int match_veto_tokens(const match *m);

/* The match runtime's lifecycle (life.c), called by the module record
 * (match_module.c) and by simulate. */
void match_runtime_init(void);
void match_runtime_shutdown(void); /* terminate all with "shutdown" */
void match_runtime_destroy(void);
/* A player's socket closed; last_socket starts the reconnect grace (handlers.c). */
void match_session_closed(const char *player_id, bool last_socket);
/* The account is gone (deleted/banned): leave now, drop reservations (seats.c). */
int match_player_removed(const char *player_id, const char *reason);
/* The match.* socket messages (handlers.c; registered by match_module.c). */
void match_on_join(mb_session *s, const char *cid, json_t *payload);
void match_on_input(mb_session *s, const char *cid, json_t *payload);
void match_on_input_raw(mb_session *s, const char *cid, const char *payload, size_t len);
void match_on_leave(mb_session *s, const char *cid, json_t *payload);

/* Runtime errors of match scripts, per mode (script_errors.c): the last
 * MATCH_SCRIPT_ERRORS_MAX of each mode, newest first, for the console. */
#define MATCH_SCRIPT_ERRORS_MAX 50
void match_script_error_record(const char *mode, int version, const char *match_id, uint64_t tick,
                               const char *msg);
/* {capacity, modes: [{mode, total, errors: [...]}]}: one mode, or every mode
 * with errors when mode is NULL (new reference). */
json_t *match_script_errors_json(const char *mode, size_t limit);
void match_script_errors_destroy(void);

#endif
