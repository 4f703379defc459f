/*
 * lb_lua.c - moonbase.leaderboard.* for scripts (docs/LUA_API.md §4,
 * docs/LEADERBOARDS.md "From Lua").
 *
 *   create{id, sort, operator, reset, metadata, client_submit} -> board, created | nil, err
 *   submit(id, owner_id, score[, {subscore, metadata, username}]) -> record | nil, err
 *   get(id) -> board | nil, err
 *   top(id[, limit[, cursor]]), around(id, owner_id[, n]), records(id, {owner_id, ...})
 *       -> {leaderboard, next_reset, records, ...} | nil, err
 *   rank(id, owner_id) -> record | nil, err
 *
 * Writes apply to memory at once and are queued for PostgreSQL in order
 * (leaderboard.c): a script never waits. Reads are from memory. A wrong
 * argument type raises; an outcome (no such board, database unavailable,
 * out of range) returns nil and a reason.
 */
#include <lauxlib.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "convert.h"
#include "lb_internal.h"
#include "match.h"
#include "match_ext.h"
#include "utf8.h"

/* Where writes may run (docs/LUA_API.md §3.3): not in get_state (pure) nor
 * reload (rolled back on failure); create also at a file's top level (it is
 * idempotent, so running it for every VM of the file is harmless); submit
 * not there (it would run once per VM). */
#define LB_WRITE_CONTEXTS                                                                    \
    (MATCH_CTX_EVENTS | MATCH_CTX_BIT(MATCH_CTX_INIT) | MATCH_CTX_BIT(MATCH_CTX_TERMINATE) | \
     MATCH_CTX_BIT(MATCH_CTX_MATCHMAKER) | MATCH_CTX_BIT(MATCH_CTX_RPC) | MATCH_CTX_BIT(MATCH_CTX_ON_CHAT))
#define LB_CREATE_CONTEXTS (LB_WRITE_CONTEXTS | MATCH_CTX_BIT(MATCH_CTX_LOAD))

static int fail(lua_State *L, const char *why)
{
    lua_pushnil(L);
    lua_pushstring(L, why);
    return 2;
}

static int push_json(lua_State *L, json_t *v)
{
    mb_lua_push_json(L, v);
    json_decref(v);
    return 1;
}

/* Push a read's JSON text as a Lua table (decoded straight into Lua on the running thread); nil, err on failure. */
static int push_text(lua_State *L, char *text, size_t len)
{
    char err[160];
    mb_lua_status rc = mb_lua_push_json_text_on(L, text, len, 0, err, sizeof err);
    free(text);
    if (rc != MB_LUA_OK) return fail(L, err);
    return 1;
}

static lb_board *arg_board(lua_State *L, const char *fn)
{
    const char *id = luaL_checkstring(L, 1);
    if (lb_check_id(id)) luaL_error(L, "moonbase.leaderboard.%s: %s", fn, lb_check_id(id));
    return lb_board_get(id);
}

static void arg_owner(lua_State *L, int idx, const char *fn, char out[37])
{
    const char *s = luaL_checkstring(L, idx);
    if (!mb_uuid_valid(s)) luaL_error(L, "moonbase.leaderboard.%s: owner_id must be a player id (UUID)", fn);
    for (int i = 0; i < 36; i++) out[i] = (char)(s[i] >= 'A' && s[i] <= 'F' ? s[i] + 32 : s[i]);
    out[36] = '\0';
}

static int64_t arg_int(lua_State *L, int idx, const char *fn, const char *what)
{
    if (lua_type(L, idx) != LUA_TNUMBER)
        luaL_error(L, "moonbase.leaderboard.%s: %s must be an integer", fn, what);
    double d = lua_tonumber(L, idx);
    if (!isfinite(d) || d != floor(d) || fabs(d) > LB_SCORE_LIMIT)
        luaL_error(L, "moonbase.leaderboard.%s: %s must be an integer in -2^53..2^53", fn, what);
    return (int64_t)d;
}

static const char *opt_string_field(lua_State *L, int t, const char *name)
{
    lua_getfield(L, t, name);
    const char *s = NULL;
    if (lua_type(L, -1) == LUA_TSTRING) s = lua_tostring(L, -1);
    else if (!lua_isnil(L, -1)) luaL_error(L, "moonbase.leaderboard.create: %s must be a string", name);
    lua_pop(L, 1); /* the table still holds the string */
    return s;
}

static int l_create(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lb_def d = {0};
    d.id = opt_string_field(L, 1, "id");
    const char *why = lb_check_id(d.id);
    if (why) return luaL_error(L, "moonbase.leaderboard.create: %s", why);
    const char *sort = opt_string_field(L, 1, "sort");
    if (sort && strcmp(sort, "desc") && strcmp(sort, "asc"))
        return luaL_error(L, "moonbase.leaderboard.create: sort must be \"desc\" or \"asc\"");
    d.desc = !sort || strcmp(sort, "desc") == 0;
    const char *op = opt_string_field(L, 1, "operator");
    int o = op ? lb_op_parse(op) : LB_BEST;
    if (o < 0)
        return luaL_error(L, "moonbase.leaderboard.create: operator must be \"best\", \"set\" or \"incr\"");
    d.op = (lb_operator)o;
    d.reset = opt_string_field(L, 1, "reset");
    if (d.reset) {
        lb_cron c;
        char err[160];
        if (lb_cron_parse(d.reset, &c, err, sizeof err) != MB_OK)
            return luaL_error(L, "moonbase.leaderboard.create: reset: %s", err);
    }
    lua_getfield(L, 1, "client_submit");
    d.client_submit = lua_toboolean(L, -1);
    lua_pop(L, 1);
    json_t *meta = NULL;
    lua_getfield(L, 1, "metadata");
    if (!lua_isnil(L, -1)) {
        char err[200];
        meta = lua_type(L, -1) == LUA_TTABLE ? mb_lua_to_json(L, -1, err, sizeof err) : NULL;
        why = meta ? lb_check_metadata(meta) : "metadata must be a table";
        if (why) {
            json_decref(meta);
            return luaL_error(L, "moonbase.leaderboard.create: %s", why);
        }
    }
    lua_pop(L, 1);
    d.metadata = meta;
    lb_board *b;
    bool created;
    char err[128];
    mb_status rc = lb_create_now(&d, &b, &created, err, sizeof err);
    json_decref(meta);
    if (rc != MB_OK) return fail(L, err);
    push_json(L, lb_board_json(b));
    lua_pushboolean(L, created);
    return 2;
}

static int l_submit(lua_State *L)
{
    lb_board *b = arg_board(L, "submit");
    lb_submit s = {0};
    arg_owner(L, 2, "submit", s.owner);
    s.score = arg_int(L, 3, "submit", "score");
    json_t *meta = NULL;
    if (!lua_isnoneornil(L, 4)) {
        luaL_checktype(L, 4, LUA_TTABLE);
        lua_getfield(L, 4, "subscore");
        if (!lua_isnil(L, -1)) s.subscore = arg_int(L, -1, "submit", "subscore");
        lua_pop(L, 1);
        lua_getfield(L, 4, "username");
        if (lua_type(L, -1) == LUA_TSTRING) {
            size_t n;
            s.username = lua_tolstring(L, -1, &n);
            if (n < 1 || n > 64 || !mb_utf8_valid(s.username, n) || strlen(s.username) != n)
                return luaL_error(L, "moonbase.leaderboard.submit: username must be 1..64 bytes of UTF-8");
        } else if (!lua_isnil(L, -1))
            return luaL_error(L, "moonbase.leaderboard.submit: username must be a string");
        lua_pop(L, 1); /* the options table keeps the string alive */
        lua_getfield(L, 4, "metadata");
        if (!lua_isnil(L, -1)) {
            char err[200];
            meta = lua_type(L, -1) == LUA_TTABLE ? mb_lua_to_json(L, -1, err, sizeof err) : NULL;
            const char *why = meta ? lb_check_metadata(meta) : "metadata must be a table";
            if (why) {
                json_decref(meta);
                return luaL_error(L, "moonbase.leaderboard.submit: %s", why);
            }
        }
        lua_pop(L, 1);
    }
    if (!b) {
        json_decref(meta);
        return fail(L, "no such leaderboard");
    }
    s.metadata = meta;
    lb_record *r;
    char err[128];
    mb_status rc = lb_submit_now(b, &s, &r, err, sizeof err);
    json_decref(meta);
    if (rc != MB_OK) return fail(L, err);
    return push_json(L, lb_record_json(r));
}

static int l_get(lua_State *L)
{
    lb_board *b = arg_board(L, "get");
    if (!b) return fail(L, "no such leaderboard");
    return push_json(L, lb_board_json(b));
}

static int l_top(lua_State *L)
{
    lb_board *b = arg_board(L, "top");
    int64_t limit = lua_isnoneornil(L, 2) ? 10 : arg_int(L, 2, "top", "limit");
    const char *cursor = luaL_optstring(L, 3, NULL);
    if (!b) return fail(L, "no such leaderboard");
    if (limit < 1) limit = 1;
    if (limit > LB_READ_MAX) limit = LB_READ_MAX;
    char err[128];
    size_t len;
    char *text = lb_read_top(b, (size_t)limit, cursor, &len, err, sizeof err);
    if (!text) return fail(L, err);
    return push_text(L, text, len);
}

static int l_around(lua_State *L)
{
    lb_board *b = arg_board(L, "around");
    char owner[37];
    arg_owner(L, 2, "around", owner);
    int64_t n = lua_isnoneornil(L, 3) ? 25 : arg_int(L, 3, "around", "n");
    if (!b) return fail(L, "no such leaderboard");
    if (n < 0) n = 0;
    if (n > 50) n = 50;
    size_t len;
    char *text = lb_read_around(b, owner, (size_t)n, &len);
    return push_text(L, text, len);
}

static int l_records(lua_State *L)
{
    lb_board *b = arg_board(L, "records");
    luaL_checktype(L, 2, LUA_TTABLE);
    size_t n = lua_objlen(L, 2);
    if (n > LB_READ_MAX) return luaL_error(L, "moonbase.leaderboard.records: at most 100 owner ids");
    json_t *ids = json_array();
    for (size_t i = 1; i <= n; i++) {
        lua_rawgeti(L, 2, (int)i);
        const char *s = lua_tostring(L, -1);
        if (!s || !mb_uuid_valid(s)) {
            json_decref(ids);
            return luaL_error(L, "moonbase.leaderboard.records: owner ids must be player ids (UUIDs)");
        }
        json_array_append_new(ids, json_string(s));
        lua_pop(L, 1);
    }
    if (!b) {
        json_decref(ids);
        return fail(L, "no such leaderboard");
    }
    size_t len;
    char *text = lb_read_owners(b, ids, &len);
    json_decref(ids);
    return push_text(L, text, len);
}

static int l_rank(lua_State *L)
{
    lb_board *b = arg_board(L, "rank");
    char owner[37];
    arg_owner(L, 2, "rank", owner);
    if (!b) return fail(L, "no such leaderboard");
    lb_record *r = lb_find(b, owner);
    if (!r) return fail(L, "no record");
    return push_json(L, lb_record_json(r));
}

void lb_lua_init(void)
{
    match_ext_add_function("leaderboard.create", l_create, LB_CREATE_CONTEXTS);
    match_ext_add_function("leaderboard.submit", l_submit, LB_WRITE_CONTEXTS);
    match_ext_add_function("leaderboard.get", l_get, MATCH_CTX_ANY);         /* reads from memory */
    match_ext_add_function("leaderboard.top", l_top, MATCH_CTX_ANY);         /* reads from memory */
    match_ext_add_function("leaderboard.around", l_around, MATCH_CTX_ANY);   /* reads from memory */
    match_ext_add_function("leaderboard.records", l_records, MATCH_CTX_ANY); /* reads from memory */
    match_ext_add_function("leaderboard.rank", l_rank, MATCH_CTX_ANY);       /* reads from memory */
}
