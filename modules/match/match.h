/*
 * match.h - authoritative matches running a mode script, and the narrow
 * interface other modules (matchmaker, vote, admin) use to reach them.
 *
 * A match is identified by a UUID string (match_id on the wire). It owns
 * one Lua VM running its pinned mode version, a tick timer, its seats and
 * its input queue. All calls run on the loop thread.
 *
 * Where the code is (each file's first comment says what it holds and what
 * it does not): match.c the registry and a match's life (create, fail,
 * finish); seats.c seats and joining; tick.c the tick loop, inputs and
 * timers; state.c get_state rendered and sent; migrate.c hot reload of
 * running matches; handlers.c the match.* socket messages; match_lua.c the
 * Lua `match` object and call contexts; match_module.c the module record,
 * REST and persistence; modes.c the mode registry; rpc.c the server
 * script; script_errors.c the console's error list; simulate.c `moonbase
 * simulate`. match_internal.h is shared by these files only.
 */
#ifndef MB_MATCH_H
#define MB_MATCH_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "modes.h"
#include "server.h"

typedef struct match match;

typedef enum { MATCH_WAITING, MATCH_RUNNING, MATCH_FINISHED } match_status;

/* Create a match of mode with params (borrowed, object or NULL). Runs the
 * script's init. Returns NULL with a reason in err (unknown mode: *code =
 * MB_E_NOT_FOUND; script error: MB_E_INTERNAL). */
match *match_create(const char *mode, json_t *params, int *code, char *err, size_t errlen);
/* The same with the seed of the match's math.random given (seed NULL: a
 * random one from libsodium). Seeds are integers 0..MATCH_SEED_MAX
 * (2^53 - 1: exact in a double and in JavaScript); the caller checks. */
#define MATCH_SEED_MAX ((uint64_t)9007199254740991ULL)
match *match_create_seeded(const char *mode, json_t *params, const uint64_t *seed, int *code, char *err,
                           size_t errlen);
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
bool match_sim_join(match *m, const char *player_id, const char *username, char *err, size_t errlen);
void match_sim_input(match *m, const char *player_id, json_t *input);
void match_sim_step(match *m, int64_t now_ms);
bool match_is_over(const match *m);
json_t *match_result(const match *m);

/* Lua call contexts (docs/LUA_API.md §3.3 "Where each method may be called").
 * Every VM records which callback it is running (mb_lua_vm_set_context,
 * set around each call by the module that makes it; 0 = load: the top level
 * of a script file). Every method of `match` and every moonbase.* function
 * with an effect declares the contexts it is allowed in, and a call from
 * any other raises "<name> is not allowed in <context>", e.g.
 * "match:broadcast is not allowed in get_state". */
typedef enum match_ctx {
    MATCH_CTX_LOAD = 0, /* top level of a mode file or of server.lua */
    MATCH_CTX_INIT,
    MATCH_CTX_JOIN_ATTEMPT,
    MATCH_CTX_JOIN,
    MATCH_CTX_LEAVE,
    MATCH_CTX_START,
    MATCH_CTX_INPUT,
    MATCH_CTX_TICK,
    MATCH_CTX_TIMER, /* a match:after callback */
    MATCH_CTX_VOTE_RESULT,
    MATCH_CTX_VOTE_VETOED,
    MATCH_CTX_GET_STATE, /* every tick, and the admin state view */
    MATCH_CTX_TERMINATE,
    MATCH_CTX_RELOAD,     /* hot reload (migration to a new version) */
    MATCH_CTX_MATCHMAKER, /* matchmaker_matched, in the matchmaker's VM */
    MATCH_CTX_RPC,        /* server.lua: an RPC handler */
    MATCH_CTX_ON_CHAT,    /* server.lua: the chat filter */
    MATCH_CTX_COUNT
} match_ctx;
#define MATCH_CTX_BIT(c) (1u << (c))
/* The event callbacks of a running match (not init, get_state, terminate,
 * reload): where every method with an effect is allowed. */
#define MATCH_CTX_EVENTS                                                                                     \
    (MATCH_CTX_BIT(MATCH_CTX_JOIN_ATTEMPT) | MATCH_CTX_BIT(MATCH_CTX_JOIN) |                                 \
     MATCH_CTX_BIT(MATCH_CTX_LEAVE) | MATCH_CTX_BIT(MATCH_CTX_START) | MATCH_CTX_BIT(MATCH_CTX_INPUT) |      \
     MATCH_CTX_BIT(MATCH_CTX_TICK) | MATCH_CTX_BIT(MATCH_CTX_TIMER) | MATCH_CTX_BIT(MATCH_CTX_VOTE_RESULT) | \
     MATCH_CTX_BIT(MATCH_CTX_VOTE_VETOED))
/* "load", "init", ..., "timer", "matchmaker_matched", "rpc", "on_chat". */
const char *match_ctx_name(match_ctx c);
/* Raise "<what> is not allowed in <context>" unless the VM running L is
 * in one of the contexts of the mask allowed. what: "moonbase.notify". */
void match_lua_check_context(lua_State *L, unsigned allowed, const char *what);
/* mb_lua_vm_pcall with the VM's context set to ctx for the call (restored
 * after), for modules that call into scripts themselves. */
int match_lua_pcall_in(mb_lua_vm *vm, match_ctx ctx, int nargs, int nresults, char *err, size_t errlen);

/* Hooks the vote module uses (set once at init). */
typedef struct match_vote_hooks {
    /* spec at stack idx of L; returns vote id string pushed or raises */
    int (*vote_start)(match *m, lua_State *L);
    int (*vote_close)(match *m, lua_State *L);
    void (*match_ended)(match *m);
} match_vote_hooks;
void match_set_vote_hooks(const match_vote_hooks *h);

/* For modules that call back into a match script (vote results): call
 * M[name](match, state, args...) where each element of the JSON array
 * args (borrowed) is one argument, under the budgets; a script error ends
 * the match. name is "vote_result" or "vote_vetoed" (its context). Returns
 * false when the callback is not defined or failed. */
bool match_call_json(match *m, const char *name, json_t *args);
/* Hold match.finished (storage: until the match's queued writes commit).
 * Called when a match ends with its seated player ids and the payload
 * (both borrowed); returning true means the gate sends the message itself
 * later (mb_player_send to each id), false sends it now. */
typedef bool (*match_finish_gate)(const char *match_id, json_t *player_ids, json_t *payload);
void match_set_finish_gate(match_finish_gate fn);
/* The match's VM (a hot reload replaces it), NULL once it ended: for
 * modules that answer a match script later (match_after_now). */
mb_lua_vm *match_vm(const match *m);
/* Pop the function on top of match_vm(m)'s stack and run it at the
 * match's next tick as fn(match, state), a timer callback (context timer,
 * like match:after(0, fn)): how a later answer reaches the script at a
 * tick boundary. */
void match_after_now(match *m);
/* Broadcast a pre-encoded frame to every connected player of the match. */
void match_broadcast_frame(match *m, mb_frame *f);
/* Is player_id seated (joined) in m? */
bool match_has_player(const match *m, const char *player_id);
/* Player ids currently seated, as a JSON array (new reference). */
json_t *match_player_ids(const match *m);
int match_veto_tokens(const match *m);

/* The server script (scripts/server.lua, rpc.c) VM, or NULL when not loaded. */
mb_lua_vm *rpc_server_vm(void);
/* Run moonbase.on_chat(ctx, channel_id, content) if server.lua set one.
 * Returns 0 = accept (*out = replacement content, malloc'd, or NULL to keep
 * content), 1 = rejected (reason filled), -1 = the filter failed (reason
 * filled; the message must be refused). */
int rpc_chat_filter(const char *player_id, const char *username, const char *channel_id, const char *content,
                    char **out, char *reason, size_t rlen);

/* The match runtime's lifecycle (match.c), called by the module record
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
void match_script_errors_free(void);

/* Extra fields in GET /v1/matches/{id} replies: fn(req, body, match_id)
 * adds to body (the vote module; match_module.c). */
void match_set_get_extra(void (*fn)(mb_http_req *, json_t *, const char *));
/* `moonbase simulate ...` (simulate.c): the process exit code. */
int match_simulate_main(int argc, char **argv);

#endif
