/*
 * module.c - the built-in `moonbase` module and its json table.
 *
 *   local mb = require("moonbase")
 *   mb.now()            wall clock, ms since the Unix epoch
 *   mb.mono_ms()        monotonic clock, ms (for durations)
 *   mb.uuid()           random RFC 4122 version 4 id ("xxxxxxxx-xxxx-4xxx-yxxx-...")
 *   mb.log(level, ...)  level "debug" | "info" | "warn" | "error"; logged as
 *                       event=lua_log script=<vm name> at=<file:line> msg="..."
 *   mb.null             JSON null inside arrays (lightuserdata NULL == cjson.null)
 *   mb.json.encode(v)   JSON text (convert.h rules; raises on unencodable values)
 *   mb.json.decode(s)   Lua value (convert.h rules; raises on malformed JSON or
 *                       more than MB_LUA_JSON_MAX_DECODE_BYTES)
 *   mb.json.array([t])  mark t (or a new table) to encode as a JSON array
 *   mb.json.null        same as mb.null
 * require("cjson") returns {encode, decode, null} with the same functions:
 * lua-cjson itself is not exposed to scripts because its buffers live
 * outside the VM's memory cap (it exits the process when malloc fails and
 * leaks its decode buffer when Lua raises out of memory mid-decode).
 *
 * The module tables are read-only to scripts (__newindex raises,
 * __metatable hides the real table); host functions are added with
 * mb_lua_vm_module_set.
 */
#include "module_internal.h"
#include "state_internal.h"

#include "convert.h"
#include "log.h"
#include "map.h"
#include "mb.h"

#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

static const char moonbase_key = 0; /* registry: script-visible moonbase */
static const char cjson_key = 0;    /* registry: script-visible cjson shim */
static const char jsonbox_key = 0;  /* registry: metatable of decode boxes */

/* ---- ids ---------------------------------------------------------------- */

/* xoshiro256** seeded once per process from getrandom(2). Ids, not secrets. */
static uint64_t g_rng[4];
static bool g_rng_seeded;

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rng_next(void)
{
    if (!g_rng_seeded) {
        if (getrandom(g_rng, sizeof g_rng, 0) != (ssize_t)sizeof g_rng) {
            /* No entropy source: fall back to clocks and pid, mixed. */
            uint64_t s = (uint64_t)mb_wall_ms() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)mb_now_us();
            for (int i = 0; i < 4; i++) {
                s += 0x9e3779b97f4a7c15ull; /* splitmix64 */
                g_rng[i] = mb_hash_u64(s);
            }
        }
        if (!(g_rng[0] | g_rng[1] | g_rng[2] | g_rng[3])) g_rng[0] = 1;
        g_rng_seeded = true;
    }
    uint64_t *s = g_rng;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

static int l_uuid(lua_State *L)
{
    unsigned char b[16];
    uint64_t a = rng_next(), c = rng_next();
    memcpy(b, &a, 8);
    memcpy(b + 8, &c, 8);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    static const char hex[] = "0123456789abcdef";
    char s[36];
    size_t n = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) s[n++] = '-';
        s[n++] = hex[b[i] >> 4];
        s[n++] = hex[b[i] & 15];
    }
    lua_pushlstring(L, s, sizeof s);
    return 1;
}

/* ---- time --------------------------------------------------------------- */

static int l_now(lua_State *L)
{
    lua_pushnumber(L, (lua_Number)mb_wall_ms());
    return 1;
}

static int l_mono_ms(lua_State *L)
{
    lua_pushnumber(L, (lua_Number)mb_now_ms());
    return 1;
}

/* ---- log ---------------------------------------------------------------- */

void mb_lua_module_log(lua_State *L, int level, int first)
{
    char msg[1024];
    size_t n = 0;
    int top = lua_gettop(L);
    for (int i = first; i <= top && n < sizeof msg - 1; i++) {
        if (i > first) msg[n++] = '\t';
        size_t len;
        const char *s;
        char tmp[64];
        switch (lua_type(L, i)) {
        case LUA_TSTRING: s = lua_tolstring(L, i, &len); break;
        case LUA_TNUMBER:
            len = (size_t)snprintf(tmp, sizeof tmp, "%.14g", lua_tonumber(L, i));
            s = tmp;
            break;
        case LUA_TBOOLEAN:
            s = lua_toboolean(L, i) ? "true" : "false";
            len = strlen(s);
            break;
        case LUA_TNIL:
            s = "nil";
            len = 3;
            break;
        default: s = luaL_typename(L, i); len = strlen(s);
        }
        if (len > sizeof msg - 1 - n) len = sizeof msg - 1 - n;
        memcpy(msg + n, s, len);
        n += len;
    }
    msg[n] = '\0';

    char where[LUA_IDSIZE + 16] = "?";
    lua_Debug ar;
    if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "Sl", &ar) && ar.currentline > 0)
        snprintf(where, sizeof where, "%s:%d", ar.short_src, ar.currentline);

    mb_lua_vm *vm = mb_lua_vm_from_state(L);
    char qn[128], qw[128], qm[1400];
    mb_log((mb_log_level)level, "lua_log", "script=%s at=%s msg=%s",
           mb_log_quote(qn, sizeof qn, vm ? mb_lua_vm_name(vm) : "lua"), mb_log_quote(qw, sizeof qw, where),
           mb_log_quote(qm, sizeof qm, msg));
}

static int l_log(lua_State *L)
{
    static const char *const levels[] = {"debug", "info", "warn", "error", NULL};
    int level = luaL_checkoption(L, 1, NULL, levels);
    mb_lua_module_log(L, MB_LOG_DEBUG + level, 2);
    return 0;
}

/* ---- json --------------------------------------------------------------- */

static mb_buf g_enc = MB_BUF_INIT; /* scratch for json.encode; loop thread only */

static int l_json_encode(lua_State *L)
{
    luaL_checkany(L, 1);
    char err[256];
    mb_buf_reset(&g_enc);
    if (mb_lua_encode_json(L, 1, &g_enc, err, sizeof err) != MB_OK)
        return luaL_error(L, "json.encode: %s", err);
    lua_pushlstring(L, g_enc.data ? g_enc.data : "", g_enc.len);
    if (g_enc.cap > ((size_t)1 << 20)) mb_buf_free(&g_enc);
    return 1;
}

/* The decoded jansson tree is anchored in a userdata while it is pushed,
 * so an out-of-memory error in the middle leaves it to __gc, not leaked. */
typedef struct json_box {
    json_t *v;
} json_box;

static int l_jsonbox_gc(lua_State *L)
{
    json_box *b = lua_touserdata(L, 1);
    if (b && b->v) {
        json_decref(b->v);
        b->v = NULL;
    }
    return 0;
}

static int l_json_decode(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    if (len > MB_LUA_JSON_MAX_DECODE_BYTES)
        return luaL_error(L, "json.decode: input larger than %d bytes", (int)MB_LUA_JSON_MAX_DECODE_BYTES);
    json_box *b = lua_newuserdata(L, sizeof *b);
    b->v = NULL;
    lua_pushlightuserdata(L, (void *)&jsonbox_key);
    lua_rawget(L, LUA_REGISTRYINDEX);
    lua_setmetatable(L, -2);
    json_error_t je;
    b->v = json_loadb(s, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (!b->v) return luaL_error(L, "json.decode: %s (line %d, column %d)", je.text, je.line, je.column);
    mb_lua_push_json(L, b->v);
    json_decref(b->v);
    b->v = NULL;
    return 1;
}

static int l_json_array(lua_State *L)
{
    if (lua_isnoneornil(L, 1)) {
        lua_settop(L, 0);
        lua_newtable(L);
    } else {
        luaL_checktype(L, 1, LUA_TTABLE);
        lua_settop(L, 1);
    }
    mb_lua_push_array_marker(L);
    if (lua_getmetatable(L, 1)) {
        if (!lua_rawequal(L, -1, -2)) return luaL_error(L, "json.array: table already has a metatable");
        lua_pop(L, 2);
        return 1;
    }
    lua_setmetatable(L, 1);
    return 1;
}

/* ---- tables ------------------------------------------------------------- */

static int l_readonly(lua_State *L)
{
    return luaL_error(L, "module table is read-only (cannot set '%s')",
                      lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : "?");
}

/* Replace the table on top with a read-only proxy of it. */
static void make_proxy(lua_State *L)
{
    lua_newtable(L);          /* real, proxy */
    lua_createtable(L, 0, 3); /* real, proxy, mt */
    lua_pushvalue(L, -3);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, l_readonly);
    lua_setfield(L, -2, "__newindex");
    lua_pushliteral(L, "protected");
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, -2);
    lua_remove(L, -2);
}

/* moonbase.<name> = fn, or for "lib.fn" moonbase.lib.fn = fn with
 * moonbase.lib a read-only table made on first use (run protected). */
int mb_lua_module_set_cb(lua_State *L)
{
    const mb_lua_module_set_args *a = lua_touserdata(L, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, a->vm->ref_module);
    const char *name = a->name, *dot = strchr(name, '.');
    if (dot) {
        lua_pushlstring(L, name, (size_t)(dot - name));
        lua_pushvalue(L, -1);
        lua_rawget(L, -3); /* module, lib name, proxy or nil */
        if (lua_isnil(L, -1)) {
            lua_pop(L, 1);
            lua_newtable(L);
            lua_pushvalue(L, -1);
            make_proxy(L); /* module, lib name, real, proxy */
            lua_pushvalue(L, -3);
            lua_pushvalue(L, -2);
            lua_rawset(L, -6);
            lua_pop(L, 1);
        } else if (!lua_istable(L, -1) || !lua_getmetatable(L, -1)) {
            return luaL_error(L, "moonbase.%s is not a library", lua_tostring(L, -2));
        } else {
            lua_getfield(L, -1, "__index"); /* module, lib name, proxy, mt, real */
            lua_replace(L, -3);
            lua_pop(L, 1);
        }
        name = dot + 1;
    }
    lua_pushstring(L, name);
    lua_pushcfunction(L, a->fn);
    lua_rawset(L, -3);
    return 0;
}

static void set_fn(lua_State *L, const char *name, lua_CFunction fn)
{
    lua_pushcfunction(L, fn);
    lua_setfield(L, -2, name);
}

bool mb_lua_module_push_builtin(lua_State *L, const char *name)
{
    const void *key;
    if (strcmp(name, "moonbase") == 0) key = &moonbase_key;
    else if (strcmp(name, "cjson") == 0) key = &cjson_key;
    else return false;
    lua_pushlightuserdata(L, (void *)key);
    lua_rawget(L, LUA_REGISTRYINDEX);
    return true;
}

void mb_lua_module_open(lua_State *L, mb_lua_vm *vm)
{
    lua_pushlightuserdata(L, (void *)&jsonbox_key);
    lua_createtable(L, 0, 2);
    set_fn(L, "__gc", l_jsonbox_gc);
    lua_pushliteral(L, "protected");
    lua_setfield(L, -2, "__metatable");
    lua_rawset(L, LUA_REGISTRYINDEX);

    mb_lua_push_array_marker(L);
    lua_pop(L, 1);

    /* json table, shared by moonbase.json */
    lua_createtable(L, 0, 4);
    set_fn(L, "encode", l_json_encode);
    set_fn(L, "decode", l_json_decode);
    set_fn(L, "array", l_json_array);
    lua_pushlightuserdata(L, NULL);
    lua_setfield(L, -2, "null");
    int json = lua_gettop(L);

    /* cjson shim: encode, decode, null */
    lua_pushlightuserdata(L, (void *)&cjson_key);
    lua_createtable(L, 0, 3);
    lua_getfield(L, json, "encode");
    lua_setfield(L, -2, "encode");
    lua_getfield(L, json, "decode");
    lua_setfield(L, -2, "decode");
    lua_pushlightuserdata(L, NULL);
    lua_setfield(L, -2, "null");
    make_proxy(L);
    lua_rawset(L, LUA_REGISTRYINDEX);

    /* moonbase */
    lua_createtable(L, 0, 8);
    set_fn(L, "now", l_now);
    set_fn(L, "mono_ms", l_mono_ms);
    set_fn(L, "uuid", l_uuid);
    set_fn(L, "log", l_log);
    lua_pushlightuserdata(L, NULL);
    lua_setfield(L, -2, "null");
    lua_pushvalue(L, json);
    make_proxy(L);
    lua_setfield(L, -2, "json");
    lua_pushvalue(L, -1);
    vm->ref_module = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pushlightuserdata(L, (void *)&moonbase_key);
    lua_insert(L, -2);
    make_proxy(L);
    lua_rawset(L, LUA_REGISTRYINDEX);
    lua_settop(L, json - 1);
}
