/*
 * match_lua.c - the `match` object scripts receive (its methods, the
 * match:after timers' queue and cancel, labels), call contexts and the
 * protected call into a match's VM (match_pcall), seeding math.random, the
 * player table pushed to callbacks, and the Lua half of match_ext.h
 * (methods and moonbase functions other modules add, the ended listeners).
 *
 * The match object is a table {id, mode, tick, params, version} whose
 * protected metatable holds the methods. Methods find their match through
 * the VM's host slot (one VM per match), never through a pointer stored in
 * Lua. Actions with consequences (finish, start, kick) are queued and
 * applied after the running callback returns, at a safe point.
 *
 * Call contexts: every call into a match script runs with the VM's context
 * set to the callback (match_ctx), and every method checks it against the
 * mask it declares below (ALLOW_*), so get_state stays pure and a call from
 * the wrong callback raises "match:<name> is not allowed in <callback>".
 * The table and the reason for each row are in docs/LUA_API.md.
 *
 * Not here: calling a callback with match and state and what a script
 * error does (match_begin_call / match_end_call, calls.c), running the
 * due timers (tick.c), match_call_json (life.c).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "match_internal.h"

double *match_m_messages_out;

/* ------------------------------------------------------ call contexts */

/* Indexed by match_ctx: the callback's name in the mode table (init ..
 * reload) and in "not allowed in <name>" errors. */
static const char *const ctx_names[MATCH_CTX_COUNT] = {
    [MATCH_CTX_LOAD] = "load",
    [MATCH_CTX_INIT] = "init",
    [MATCH_CTX_JOIN_ATTEMPT] = "join_attempt",
    [MATCH_CTX_JOIN] = "join",
    [MATCH_CTX_LEAVE] = "leave",
    [MATCH_CTX_START] = "start",
    [MATCH_CTX_INPUT] = "input",
    [MATCH_CTX_TICK] = "tick",
    [MATCH_CTX_TIMER] = "timer",
    [MATCH_CTX_VOTE_RESULT] = "vote_result",
    [MATCH_CTX_VOTE_VETOED] = "vote_vetoed",
    [MATCH_CTX_GET_STATE] = "get_state",
    [MATCH_CTX_TERMINATE] = "terminate",
    [MATCH_CTX_RELOAD] = "reload",
    [MATCH_CTX_MATCHMAKER] = "matchmaker_matched",
    [MATCH_CTX_RPC] = "rpc",
    [MATCH_CTX_ON_CHAT] = "on_chat",
};

const char *match_ctx_name(match_ctx c) { return (unsigned)c < MATCH_CTX_COUNT ? ctx_names[c] : "unknown"; }

static void raise_context(lua_State *L, int c, const char *what)
{
    luaL_error(L, "%s is not allowed in %s", what, match_ctx_name((match_ctx)c));
}

void match_lua_check_context(lua_State *L, unsigned allowed, const char *what)
{
    mb_lua_vm *vm = mb_lua_vm_from_state(L);
    int c = vm ? mb_lua_vm_context(vm) : MATCH_CTX_LOAD;
    if (!(allowed & MATCH_CTX_BIT(c))) raise_context(L, c, what);
}

mb_lua_status match_lua_pcall_in(mb_lua_vm *vm, match_ctx ctx, int nargs, int nresults, char *err,
                                 size_t errlen)
{
    int prev = mb_lua_vm_context(vm);
    mb_lua_vm_set_context(vm, (int)ctx);
    mb_lua_status rc = mb_lua_vm_pcall(vm, nargs, nresults, err, errlen);
    mb_lua_vm_set_context(vm, prev);
    return rc;
}

mb_lua_status match_pcall(match *m, match_ctx ctx, int nargs, int nresults, char *err, size_t errlen)
{
    return match_lua_pcall_in(m->vm, ctx, nargs, nresults, err, errlen);
}

/* Where each method may run (one mask per row of the table in
 * docs/LUA_API.md). A match object exists from init to terminate and in
 * reload; get_state and reload may only read. */
#define BIT MATCH_CTX_BIT
#define ALLOW_READ                                                                                  \
    (MATCH_CTX_EVENTS | BIT(MATCH_CTX_INIT) | BIT(MATCH_CTX_GET_STATE) | BIT(MATCH_CTX_TERMINATE) | \
     BIT(MATCH_CTX_RELOAD))
/* messages: nobody is seated in init; players still get them in terminate */
#define ALLOW_MESSAGE (MATCH_CTX_EVENTS | BIT(MATCH_CTX_TERMINATE))
/* start: init may ask for a start before anyone joins (manual_start) */
#define ALLOW_START (MATCH_CTX_EVENTS | BIT(MATCH_CTX_INIT))
/* finish, kick, votes: only while the match runs its events */
#define ALLOW_EVENTS MATCH_CTX_EVENTS
/* after: a timer set in terminate would never run */
#define ALLOW_AFTER (MATCH_CTX_EVENTS | BIT(MATCH_CTX_INIT))
/* cancel, set_label: harmless while the match ends */
#define ALLOW_TIMERS_LABEL (MATCH_CTX_EVENTS | BIT(MATCH_CTX_INIT) | BIT(MATCH_CTX_TERMINATE))

/* The match of the running VM, if the running callback may call `what`. */
static match *self_in(lua_State *L, unsigned allowed, const char *what)
{
    mb_lua_vm *vm = mb_lua_vm_from_state(L);
    match *m = vm ? mb_lua_vm_get_host(vm) : NULL;
    if (!m || m->dead) luaL_error(L, "match is gone");
    int c = mb_lua_vm_context(vm);
    if (!(allowed & BIT(c))) raise_context(L, c, what);
    return m;
}

int match_push_player(match *m, seat *s)
{
    lua_State *L = mb_lua_vm_state(m->vm);
    lua_rawgeti(L, LUA_REGISTRYINDEX, s->lua_ref);
    return 1;
}

/* Encode a Lua value (at idx) as JSON into b or raise. */
static void encode_or_raise(lua_State *L, int idx, mb_buf *b, const char *what)
{
    char err[256];
    if (mb_lua_encode_json(L, idx, b, err, sizeof err) != MB_OK) luaL_error(L, "%s: %s", what, err);
}

/* Message frames are built here, never in m->out (where render_state
 * writes the state being sent). Loop thread only; the frame copies it. */
static mb_buf msg_buf = MB_BUF_INIT;

static mb_frame *message_frame(lua_State *L, match *m, int subj_idx, int data_idx)
{
    if (lua_type(L, subj_idx) != LUA_TSTRING) luaL_error(L, "subject must be a string");
    size_t sl;
    lua_tolstring(L, subj_idx, &sl);
    if (sl == 0 || sl > 128) luaL_error(L, "subject must be 1..128 bytes");
    mb_buf *b = &msg_buf;
    mb_buf_reset(b);
    mb_buf_puts(b, "{\"type\":\"match.message\",\"payload\":{\"match_id\":\"");
    mb_buf_puts(b, m->id);
    mb_buf_puts(b, "\",\"subject\":");
    encode_or_raise(L, subj_idx, b, "subject");
    mb_buf_puts(b, ",\"data\":");
    if (lua_isnoneornil(L, data_idx)) mb_buf_puts(b, "null");
    else encode_or_raise(L, data_idx, b, "data");
    mb_buf_puts(b, "}}");
    mb_frame *f = mb_frame_new(b->data, b->len);
    if (b->cap > ((size_t)1 << 20)) mb_buf_free(b); /* keep no large buffer */
    return f;
}

static int l_broadcast(lua_State *L)
{
    match *m = self_in(L, ALLOW_MESSAGE, "match:broadcast");
    /* called as match:broadcast(subject, data): index 1 is the match table */
    mb_frame *f = message_frame(L, m, 2, 3);
    match_broadcast_frame(m, f);
    *match_m_messages_out += (double)match_player_count(m);
    mb_frame_unref(f);
    return 0;
}

static int l_send(lua_State *L)
{
    match *m = self_in(L, ALLOW_MESSAGE, "match:send");
    const char *pid = luaL_checkstring(L, 2);
    seat *s = match_seat(m, pid);
    if (!s || !s->joined) {
        lua_pushnil(L);
        lua_pushstring(L, "not in this match");
        return 2;
    }
    mb_frame *f = message_frame(L, m, 3, 4);
    if (s->connected) *match_m_messages_out += mb_player_send_frame(pid, f);
    mb_frame_unref(f);
    lua_pushboolean(L, 1);
    return 1;
}

static int l_players(lua_State *L)
{
    match *m = self_in(L, ALLOW_READ, "match:players");
    lua_createtable(L, (int)m->n_seats, 0);
    int n = 0;
    for (size_t i = 0; i < m->n_seats; i++) {
        if (!m->seats[i].joined) continue;
        match_push_player(m, &m->seats[i]);
        lua_rawseti(L, -2, ++n);
    }
    return 1;
}

static int l_start(lua_State *L)
{
    match *m = self_in(L, ALLOW_START, "match:start");
    if (m->status != MATCH_WAITING) {
        lua_pushnil(L);
        lua_pushstring(L, "already started");
        return 2;
    }
    m->start_requested = true;
    lua_pushboolean(L, 1);
    return 1;
}

static int l_finish(lua_State *L)
{
    match *m = self_in(L, ALLOW_EVENTS, "match:finish");
    if (m->finishing) return 0;
    json_t *result;
    if (lua_isnoneornil(L, 2)) result = json_object();
    else {
        char err[256];
        result = mb_lua_to_json(L, 2, err, sizeof err);
        if (!result) return luaL_error(L, "finish: result %s", err);
    }
    m->finishing = true;
    m->finish_result = result;
    snprintf(m->finish_reason, sizeof m->finish_reason, "finished");
    return 0;
}

static int l_kick(lua_State *L)
{
    match *m = self_in(L, ALLOW_EVENTS, "match:kick");
    const char *pid = luaL_checkstring(L, 2);
    const char *reason = luaL_optstring(L, 3, "kicked");
    seat *s = match_seat(m, pid);
    if (!s || !s->joined) {
        lua_pushnil(L);
        lua_pushstring(L, "not in this match");
        return 2;
    }
    if (m->n_kicks == m->cap_kicks) {
        m->cap_kicks = m->cap_kicks ? m->cap_kicks * 2 : 4;
        m->kicks = mb_realloc(m->kicks, m->cap_kicks * sizeof *m->kicks);
    }
    kick_item *k = &m->kicks[m->n_kicks++];
    snprintf(k->player_id, sizeof k->player_id, "%s", pid);
    snprintf(k->reason, sizeof k->reason, "%s", reason);
    lua_pushboolean(L, 1);
    return 1;
}

#define TIMER_TYPE "moonbase.match_timer"
typedef struct timer_handle {
    uint64_t id;
} timer_handle;

static int l_after(lua_State *L)
{
    match *m = self_in(L, ALLOW_AFTER, "match:after");
    lua_Number ms = luaL_checknumber(L, 2);
    luaL_checktype(L, 3, LUA_TFUNCTION);
    if (!(ms >= 0 && ms <= 86400000)) return luaL_error(L, "after: ms must be 0..86400000");
    if (m->n_afters >= 10000) return luaL_error(L, "after: too many pending timers (10000)");
    /* The handle holds only the timer's id: it cannot dangle, and dropping
     * it leaves the timer pending. Lua allocations first (they may raise
     * at the memory cap), then the timer is registered. */
    timer_handle *h = mb_lua_udata_new(L, TIMER_TYPE, sizeof *h);
    lua_pushvalue(L, 3);
    int ref = luaL_ref(L, LUA_REGISTRYINDEX);
    if (m->n_afters == m->cap_afters) {
        m->cap_afters = m->cap_afters ? m->cap_afters * 2 : 8;
        m->afters = mb_realloc(m->afters, m->cap_afters * sizeof *m->afters);
    }
    h->id = ++m->next_timer_id;
    m->afters[m->n_afters++] = (after_item){match_now(m) + (int64_t)ms, ref, h->id};
    return 1; /* the handle */
}

void match_after_now(match *m)
{
    lua_State *L = mb_lua_vm_state(m->vm);
    int ref = luaL_ref(L, LUA_REGISTRYINDEX);
    if (m->n_afters == m->cap_afters) {
        m->cap_afters = m->cap_afters ? m->cap_afters * 2 : 8;
        m->afters = mb_realloc(m->afters, m->cap_afters * sizeof *m->afters);
    }
    m->afters[m->n_afters++] = (after_item){match_now(m), ref, ++m->next_timer_id};
}

/* A timer cancelled while run_afters iterates keeps its slot (ref
 * LUA_NOREF, due at once) until the loop or its final sweep drops it. */
bool match_cancel_timer(match *m, uint64_t id)
{
    for (size_t i = 0; i < m->n_afters; i++) {
        after_item *a = &m->afters[i];
        if (a->id != id || a->ref == LUA_NOREF) continue;
        if (m->vm) luaL_unref(mb_lua_vm_state(m->vm), LUA_REGISTRYINDEX, a->ref);
        if (m->in_afters) {
            a->ref = LUA_NOREF;
            a->due_ms = INT64_MIN;
        } else {
            *a = m->afters[--m->n_afters];
        }
        return true;
    }
    return false;
}

/* t:cancel() -> true if the timer was pending (it will not run), false if
 * it already ran or was cancelled. */
static int l_timer_cancel(lua_State *L)
{
    timer_handle *h = mb_lua_udata_check(L, 1, TIMER_TYPE);
    match *m = self_in(L, ALLOW_TIMERS_LABEL, "timer:cancel");
    lua_pushboolean(L, match_cancel_timer(m, h->id));
    return 1;
}

static const luaL_Reg timer_methods[] = {{"cancel", l_timer_cancel}, {NULL, NULL}};

/* ------------------------------------------------------------- labels */

#define LABEL_MAX_KEYS 16
#define LABEL_MAX_KEY MATCH_LABEL_MAX_KEY
#define LABEL_MAX_STRING 128
#define LABEL_MAX_BYTES 2048

/* Build the label object from the table at idx; NULL with err on a bad
 * table (nothing raised here: the caller raises after freeing). */
static json_t *label_from_table(lua_State *L, int idx, char *err, size_t errlen)
{
    json_t *o = json_object();
    size_t n = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        /* key -2, value -1; keys are never converted (lua_next safety) */
        if (lua_type(L, -2) != LUA_TSTRING) {
            snprintf(err, errlen, "keys must be strings (got a %s key)", luaL_typename(L, -2));
            goto bad;
        }
        size_t kl;
        const char *k = lua_tolstring(L, -2, &kl);
        if (!match_label_key_ok(k, kl)) {
            snprintf(err, errlen, "key '%.40s%s' must be 1..%d characters of A-Z a-z 0-9 _ -", k,
                     kl > 40 ? "..." : "", LABEL_MAX_KEY);
            goto bad;
        }
        if (++n > LABEL_MAX_KEYS) {
            snprintf(err, errlen, "at most %d keys", LABEL_MAX_KEYS);
            goto bad;
        }
        json_t *v = NULL;
        switch (lua_type(L, -1)) {
        case LUA_TBOOLEAN: v = json_boolean(lua_toboolean(L, -1)); break;
        case LUA_TNUMBER: {
            double d = lua_tonumber(L, -1);
            if (d != d || d == HUGE_VAL || d == -HUGE_VAL) {
                snprintf(err, errlen, "value of '%s' must be a finite number", k);
                goto bad;
            }
            if (d >= -9007199254740991.0 && d <= 9007199254740991.0 && d == (double)(int64_t)d)
                v = json_integer((json_int_t)d);
            else v = json_real(d);
            break;
        }
        case LUA_TSTRING: {
            size_t vl;
            const char *sv = lua_tolstring(L, -1, &vl);
            if (vl > LABEL_MAX_STRING) {
                snprintf(err, errlen, "value of '%s' is longer than %d bytes", k, LABEL_MAX_STRING);
                goto bad;
            }
            v = json_stringn(sv, vl);
            if (!v) {
                snprintf(err, errlen, "value of '%s' is not valid UTF-8", k);
                goto bad;
            }
            break;
        }
        default:
            snprintf(err, errlen, "value of '%s' must be a string, number or boolean (got %s)", k,
                     luaL_typename(L, -1));
            goto bad;
        }
        json_object_set_new(o, k, v);
        lua_pop(L, 1);
    }
    char *text = json_dumps(o, JSON_COMPACT);
    size_t tl = text ? strlen(text) : 0;
    free(text);
    if (tl > LABEL_MAX_BYTES) {
        snprintf(err, errlen, "%zu bytes as JSON, more than %d", tl, LABEL_MAX_BYTES);
        json_decref(o);
        return NULL;
    }
    return o;
bad:
    lua_pop(L, 2);
    json_decref(o);
    return NULL;
}

/* match:set_label(table|nil): replaces the label (nil or {} clears it). */
static int l_set_label(lua_State *L)
{
    match *m = self_in(L, ALLOW_TIMERS_LABEL, "match:set_label");
    json_t *o = NULL;
    if (!lua_isnoneornil(L, 2)) {
        if (lua_type(L, 2) != LUA_TTABLE)
            return luaL_error(L, "set_label: expects a table (got %s)", luaL_typename(L, 2));
        char err[200];
        o = label_from_table(L, 2, err, sizeof err);
        if (!o) return luaL_error(L, "set_label: %s", err);
    }
    json_decref(m->label);
    m->label = o && json_object_size(o) ? o : NULL;
    if (o && !m->label) json_decref(o);
    return 0;
}

/* Seed the VM's math.random (math.randomseed(seed), run protected). A
 * script that removed math.randomseed at load time keeps what it has. */
int match_lua_seed_vm(lua_State *L)
{
    double seed = lua_tonumber(L, 1);
    lua_pushstring(L, "math");
    lua_rawget(L, LUA_GLOBALSINDEX);
    if (lua_type(L, -1) != LUA_TTABLE) return 0;
    lua_pushstring(L, "randomseed");
    lua_rawget(L, -2);
    if (lua_type(L, -1) != LUA_TFUNCTION) return 0;
    lua_pushnumber(L, seed);
    lua_call(L, 1, 0);
    return 0;
}

mb_status match_lua_seed(match *m, uint64_t seed)
{
    lua_State *L = mb_lua_vm_state(m->vm);
    lua_pushcfunction(L, match_lua_seed_vm);
    lua_pushnumber(L, (lua_Number)seed);
    char err[512];
    if (mb_lua_vm_pcall(m->vm, 1, 0, err, sizeof err) != MB_LUA_OK) {
        char q[600];
        mb_error("match_seed_failed", "match=%s error=%s", m->id, mb_log_quote(q, sizeof q, err));
        return MB_ERR;
    }
    return MB_OK;
}

static int l_log(lua_State *L)
{
    match *m = self_in(L, ALLOW_READ, "match:log");
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    int n = lua_gettop(L);
    for (int i = 2; i <= n; i++) {
        size_t l;
        const char *s = NULL;
        if (lua_type(L, i) == LUA_TSTRING || lua_type(L, i) == LUA_TNUMBER) s = lua_tolstring(L, i, &l);
        else {
            s = lua_type(L, i) == LUA_TBOOLEAN ? (lua_toboolean(L, i) ? "true" : "false")
                                               : luaL_typename(L, i);
            l = strlen(s);
        }
        if (i > 2) luaL_addchar(&b, ' ');
        luaL_addlstring(&b, s, l);
    }
    luaL_pushresult(&b);
    char q[1024];
    mb_info("match_log", "match=%s mode=%s version=%d tick=%llu msg=%s", m->id, m->v->mode, m->v->version,
            (unsigned long long)m->tick, mb_log_quote(q, sizeof q, lua_tostring(L, -1)));
    return 0;
}

/* ------------------------------------------- extensions (match_ext.h) */

typedef struct ext_entry {
    char name[32];
    char what[48]; /* "match:<name>" or "moonbase.<name>" for the context error */
    unsigned allowed;
    match_ext_method_fn method;
    lua_CFunction function;
} ext_entry;
static ext_entry ext_methods[MATCH_EXT_MAX], ext_functions[MATCH_EXT_MAX];
static size_t n_ext_methods, n_ext_functions;
static void (*ext_ended[MATCH_EXT_MAX])(match *m);
static size_t n_ext_ended;

/* The slot of name in list (a new one at the end), or NULL when full. */
static ext_entry *ext_slot(ext_entry *list, size_t *n, const char *name, const char *prefix)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp(list[i].name, name) == 0) return &list[i];
    if (*n == MATCH_EXT_MAX || strlen(name) >= sizeof list->name) {
        mb_error("match_ext_refused", "name=%s%s reason=\"full or name too long\"", prefix, name);
        return NULL;
    }
    ext_entry *e = &list[(*n)++];
    snprintf(e->name, sizeof e->name, "%s", name);
    snprintf(e->what, sizeof e->what, "%s%s", prefix, name);
    return e;
}

void match_ext_add_method(const char *name, match_ext_method_fn fn, unsigned allowed)
{
    ext_entry *e = ext_slot(ext_methods, &n_ext_methods, name, "match:");
    if (e) e->method = fn, e->allowed = allowed;
}

/* match:<name>: the entry is upvalue 1 (build_match_table). */
static int l_ext_method(lua_State *L)
{
    const ext_entry *e = lua_touserdata(L, lua_upvalueindex(1));
    match *m = self_in(L, e->allowed, e->what);
    return e->method(m, L);
}

/* moonbase.<name>: mb_lua_vm_module_set takes plain C functions (no
 * upvalues), so each slot has a trampoline of its own. */
static int ext_call(lua_State *L, size_t i)
{
    match_lua_check_context(L, ext_functions[i].allowed, ext_functions[i].what);
    return ext_functions[i].function(L);
}
#define EXT_FN(i) \
    static int ext_fn_##i(lua_State *L) { return ext_call(L, i); }
EXT_FN(0)
EXT_FN(1)
EXT_FN(2)
EXT_FN(3)
EXT_FN(4)
EXT_FN(5)
EXT_FN(6)
EXT_FN(7)
EXT_FN(8)
EXT_FN(9)
EXT_FN(10)
EXT_FN(11)
EXT_FN(12)
EXT_FN(13)
EXT_FN(14)
EXT_FN(15)
EXT_FN(16)
EXT_FN(17)
EXT_FN(18)
EXT_FN(19)
EXT_FN(20)
EXT_FN(21)
EXT_FN(22)
EXT_FN(23)
EXT_FN(24)
EXT_FN(25)
EXT_FN(26)
EXT_FN(27)
EXT_FN(28)
EXT_FN(29)
EXT_FN(30)
EXT_FN(31)
#undef EXT_FN
static const lua_CFunction ext_fns[MATCH_EXT_MAX] = {
    ext_fn_0,  ext_fn_1,  ext_fn_2,  ext_fn_3,  ext_fn_4,  ext_fn_5,  ext_fn_6,  ext_fn_7,
    ext_fn_8,  ext_fn_9,  ext_fn_10, ext_fn_11, ext_fn_12, ext_fn_13, ext_fn_14, ext_fn_15,
    ext_fn_16, ext_fn_17, ext_fn_18, ext_fn_19, ext_fn_20, ext_fn_21, ext_fn_22, ext_fn_23,
    ext_fn_24, ext_fn_25, ext_fn_26, ext_fn_27, ext_fn_28, ext_fn_29, ext_fn_30, ext_fn_31};

void match_ext_add_function(const char *name, lua_CFunction fn, unsigned allowed)
{
    ext_entry *e = ext_slot(ext_functions, &n_ext_functions, name, "moonbase.");
    if (!e) return;
    e->function = fn;
    e->allowed = allowed;
    modes_add_lua_function(name, ext_fns[e - ext_functions]);
}

void match_ext_on_ended(void (*fn)(match *m))
{
    for (size_t i = 0; i < n_ext_ended; i++)
        if (ext_ended[i] == fn) return;
    if (n_ext_ended < MATCH_EXT_MAX) ext_ended[n_ext_ended++] = fn;
}

void match_ext_notify_ended(match *m)
{
    for (size_t i = 0; i < n_ext_ended; i++) ext_ended[i](m);
}

static const luaL_Reg methods[] = {
    {"players", l_players},
    {"broadcast", l_broadcast},
    {"send", l_send},
    {"start", l_start},
    {"finish", l_finish},
    {"kick", l_kick},
    {"after", l_after},
    {"log", l_log},
    {"set_label", l_set_label},
    /* + the methods of other modules (match_ext_add_method: vote_start, vote_close) */
    {NULL, NULL},
};

/* Runs inside a protected call: builds the match table. */
static int build_match_table(lua_State *L)
{
    match *m = lua_touserdata(L, 1);
    lua_createtable(L, 0, 6);
    lua_pushstring(L, m->id);
    lua_setfield(L, -2, "id");
    lua_pushstring(L, m->v->mode);
    lua_setfield(L, -2, "mode");
    lua_pushinteger(L, m->v->version);
    lua_setfield(L, -2, "version");
    lua_pushnumber(L, 0);
    lua_setfield(L, -2, "tick");
    lua_pushnumber(L, (lua_Number)m->seed);
    lua_setfield(L, -2, "seed");
    mb_lua_udata_define(L, TIMER_TYPE, timer_methods, NULL);
    if (m->params) mb_lua_push_json(L, m->params);
    else lua_newtable(L);
    lua_setfield(L, -2, "params");
    lua_createtable(L, 0, 3); /* metatable */
    lua_createtable(L, 0, (int)(MB_ARRAY_LEN(methods) + n_ext_methods));
    for (const luaL_Reg *r = methods; r->name; r++) {
        lua_pushcfunction(L, r->func);
        lua_setfield(L, -2, r->name);
    }
    for (size_t i = 0; i < n_ext_methods; i++) { /* match_ext_add_method: vote_start, vote_close, ... */
        lua_pushlightuserdata(L, &ext_methods[i]);
        lua_pushcclosure(L, l_ext_method, 1);
        lua_setfield(L, -2, ext_methods[i].name);
    }
    lua_setfield(L, -2, "__index");
    lua_pushstring(L, "protected");
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, -2);
    return 1;
}

void match_lua_setup(match *m)
{
    lua_State *L = mb_lua_vm_state(m->vm);
    lua_pushcfunction(L, build_match_table);
    lua_pushlightuserdata(L, m);
    char err[512];
    if (mb_lua_vm_pcall(m->vm, 1, 1, err, sizeof err) != MB_LUA_OK) {
        m->match_ref = LUA_NOREF;
        return;
    }
    m->match_ref = luaL_ref(L, LUA_REGISTRYINDEX);
}
