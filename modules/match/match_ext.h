/*
 * match_ext.h - the match module's extension interface: how another module
 * adds to matches and their scripts without reaching into the match
 * runtime (docs/DEVELOPING.md, "The match extension header"). A module
 * that includes it declares .requires = MB_REQUIRES("match"), and
 * includes match.h too for the rest of the match interface.
 *
 * - Lua call contexts: which callback a VM is running, checked by every
 *   method and function with an effect (docs/LUA_API.md §3.3).
 * - Lua methods of the `match` object and functions of the `moonbase`
 *   module, each registered with the contexts it is allowed in.
 * - Lifecycle events of a match (ended).
 * - Extra fields in REST replies of the match module.
 * - Calling back into a match script, and helpers for modules that run
 *   VMs of their own (the rpc module's server.lua, the matchmaker's hook).
 *
 * Registrations are made from the module's init (mb_module.init), before
 * the match module's start loads the scripts; a later registration of the
 * same name replaces the earlier one. All calls run on the loop thread.
 */
#ifndef MB_MATCH_EXT_H
#define MB_MATCH_EXT_H

#include <jansson.h>

#include "server.h"
#include "vm.h"

/* A match (match.h; this header does not include it, so the match
 * runtime's own files can include this one without a cycle). */
typedef struct match match;

/* ---------------------------------------------------------------- contexts */

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
mb_lua_status match_lua_pcall_in(mb_lua_vm *vm, match_ctx ctx, int nargs, int nresults, char *err,
                                 size_t errlen);

/* ------------------------------------------------------- Lua extensions */

/* match:<name>(...) in every match's script: fn gets the match and the
 * Lua state (the match object at index 1, the script's arguments after
 * it) and returns the number of results, like a lua_CFunction. A call
 * outside the contexts of the mask allowed raises "match:<name> is not
 * allowed in <context>" before fn runs. At most MATCH_EXT_MAX methods. */
#define MATCH_EXT_MAX 32
typedef int (*match_ext_method_fn)(match *m, lua_State *L);
void match_ext_add_method(const char *name, match_ext_method_fn fn, unsigned allowed);
/* moonbase.<name>(...) in every VM the match runtime makes (modes, and
 * VMs made with modes_install_lua_functions: server.lua). A call outside
 * the contexts of allowed raises "moonbase.<name> is not allowed in
 * <context>" before fn runs. At most MATCH_EXT_MAX functions. */
void match_ext_add_function(const char *name, lua_CFunction fn, unsigned allowed);
/* Every context (for a function that checks nothing or raises itself). */
#define MATCH_CTX_ANY (MATCH_CTX_BIT(MATCH_CTX_COUNT) - 1u)

/* -------------------------------------------------------------- events */

/* fn(m) when a match ends (finished, failed or stopped at shutdown),
 * after match.finished went out and before the match is freed. */
void match_ext_on_ended(void (*fn)(match *m));

/* Hold match.finished (storage: until the match's queued writes commit).
 * Called when a match ends with its seated player ids and the payload
 * (both borrowed); returning true means the gate sends the message itself
 * later (mb_player_send to each id), false sends it now. One gate at most. */
typedef bool (*match_finish_gate)(const char *match_id, json_t *player_ids, json_t *payload);
void match_set_finish_gate(match_finish_gate fn);

/* ------------------------------------------------- answering later */

/* The match's VM (a hot reload replaces it), NULL once it ended: for
 * modules that answer a match script later (match_after_now). */
mb_lua_vm *match_vm(const match *m);
/* Pop the function on top of match_vm(m)'s stack and run it at the
 * match's next tick as fn(match, state), a timer callback (context timer,
 * like match:after(0, fn)): how a later answer reaches the script at a
 * tick boundary. */
void match_after_now(match *m);

/* ------------------------------------------------------- REST replies */

/* GET /v1/matches/{id} (and the admin's view): fn(req, body, match_id)
 * adds its fields to body (owned) and answers the request itself, at
 * once or later (after a query): mb_http_respond(req, 200, body). One
 * extension at most (the vote module: the match's votes). */
typedef void (*match_ext_reply_fn)(mb_http_req *r, json_t *body, const char *match_id);
void match_ext_match_reply(match_ext_reply_fn fn);
/* GET /v1/admin/scripts: fn(body) adds fields to the reply (the rpc
 * module: "server", the state of server.lua). At most MATCH_EXT_MAX. */
void match_ext_scripts_reply(void (*fn)(json_t *body));

/* ----------------------------------------------- calling into scripts */

/* For modules that call back into a match script (vote results): call
 * M[name](match, state, args...) where each element of the JSON array
 * args (borrowed) is one argument, under the budgets; a script error ends
 * the match. name is "vote_result" or "vote_vetoed" (its context). Returns
 * false when the callback is not defined or failed. */
bool match_call_json(match *m, const char *name, json_t *args);
/* lua_CFunction: math.randomseed(arg 1) in any VM (run it protected):
 * seeds a VM of another module like a match's. */
int match_lua_seed_vm(lua_State *L);

#endif
