/*
 * sandbox.c - which libraries a script sees, the replaced base functions
 * (load, loadstring, collectgarbage, print) and require (see vm.h).
 */
#include "sandbox_internal.h"

#include "module_internal.h"
#include "source.h"
#include "state_internal.h"

#include "cstack.h"
#include "log.h"
#include "pattern.h"
#include "mb.h"

#include <string.h>

#include <lualib.h>

/* Globals kept from the base library; everything else it defines goes. */
static const char *const base_keep[] = {
    "assert", "error",  "ipairs", "next",         "pairs",        "pcall",     "rawequal",
    "rawget", "rawset", "select", "getmetatable", "setmetatable", "tonumber",  "tostring",
    "type",   "unpack", "xpcall", "_G",           "_VERSION",     "coroutine", "string",
    "table",  "math",   "os",     "bit",
};

/* Sentinel stored in the require cache while a module runs. */
static const char loading_key = 0;

static void open_lib(lua_State *L, const char *name, lua_CFunction fn)
{
    lua_pushcfunction(L, fn);
    lua_pushstring(L, name);
    lua_call(L, 1, 0);
}

static bool kept(const char *name)
{
    for (size_t i = 0; i < MB_ARRAY_LEN(base_keep); i++)
        if (strcmp(name, base_keep[i]) == 0) return true;
    return false;
}

/* ---- base replacements -------------------------------------------------- */

/* load(chunk [, chunkname [, mode [, env]]]): chunk is a string or a reader
 * function; text only whatever mode says. */
static int l_load(lua_State *L)
{
    mb_lua_cstack_check(L, "load");
    size_t len = 0;
    const char *code;
    const char *chunkname = luaL_optstring(L, 2, "=(load)");
    if (lua_type(L, 1) == LUA_TSTRING) {
        code = lua_tolstring(L, 1, &len);
    } else if (lua_type(L, 1) == LUA_TFUNCTION) {
        luaL_Buffer b;
        luaL_buffinit(L, &b);
        for (;;) {
            lua_pushvalue(L, 1);
            lua_call(L, 0, 1);
            if (lua_isnil(L, -1)) {
                lua_pop(L, 1);
                break;
            }
            if (lua_type(L, -1) != LUA_TSTRING) return luaL_error(L, "reader function must return a string");
            if (lua_objlen(L, -1) == 0) {
                lua_pop(L, 1);
                break;
            }
            luaL_addvalue(&b);
        }
        luaL_pushresult(&b);
        lua_replace(L, 1);
        code = lua_tolstring(L, 1, &len);
    } else {
        return luaL_typerror(L, 1, "string or function");
    }
    int st = mb_lua_load_text(L, code, len, chunkname);
    if (st != 0) {
        if (st == LUA_ERRMEM) return lua_error(L);
        lua_pushnil(L);
        lua_insert(L, -2);
        return 2;
    }
    if (lua_type(L, 4) == LUA_TTABLE) {
        lua_pushvalue(L, 4);
        lua_setfenv(L, -2);
    }
    return 1;
}

static int l_loadstring(lua_State *L)
{
    luaL_checkstring(L, 1);
    lua_settop(L, 2);
    return l_load(L);
}

static int l_collectgarbage(lua_State *L)
{
    static const char *const opts[] = {"collect", "count", "step", NULL};
    int o = luaL_checkoption(L, 1, "collect", opts);
    switch (o) {
    case 0:
        lua_gc(L, LUA_GCCOLLECT, 0);
        lua_pushinteger(L, 0);
        return 1;
    case 1: lua_pushnumber(L, lua_gc(L, LUA_GCCOUNT, 0) + lua_gc(L, LUA_GCCOUNTB, 0) / 1024.0); return 1;
    default: {
        int kb = (int)luaL_optinteger(L, 2, 0);
        if (kb < 0) kb = 0;
        lua_pushboolean(L, lua_gc(L, LUA_GCSTEP, kb));
        return 1;
    }
    }
}

static int l_print(lua_State *L)
{
    mb_lua_module_log(L, MB_LOG_INFO, 1);
    return 0;
}

/* An error raised by the time-budget hook runs xpcall's message handler
 * while LuaJIT still marks the hook active, so no hook fires inside it: a
 * looping handler could never be stopped. The wrapper skips the script's
 * handler once the call is aborted. */
static const char xpcall_wrapper[] = "local xpcall, aborted, type = ...\n"
                                     "return function(f, h, ...)\n"
                                     "  if type(h) ~= 'function' then return xpcall(f, h, ...) end\n"
                                     "  return xpcall(f, function(e)\n"
                                     "    if aborted() then return e end\n"
                                     "    return h(e)\n"
                                     "  end, ...)\n"
                                     "end\n";

static int l_aborted(lua_State *L)
{
    mb_lua_vm *vm = mb_lua_vm_from_state(L);
    lua_pushboolean(L, vm && vm->abort);
    return 1;
}

static void wrap_xpcall(lua_State *L)
{
    if (luaL_loadbuffer(L, xpcall_wrapper, sizeof xpcall_wrapper - 1, "=xpcall") != 0) lua_error(L);
    lua_getglobal(L, "xpcall");
    lua_pushcfunction(L, l_aborted);
    lua_getglobal(L, "type");
    lua_call(L, 3, 1);
    lua_setglobal(L, "xpcall");
}

/* The pattern guard (string.find, match, gmatch, gsub) is in pattern.c. */

/* ---- C stack guard ------------------------------------------------------ */

/* The library functions that run Lua from C nest on the C stack, where
 * neither pcall nor LuaJIT counts them (see cstack.h). Each is replaced by a
 * C closure that checks the stack, then calls the original (upvalue 1). */
static int l_reentrant(lua_State *L)
{
    mb_lua_cstack_check(L, lua_tostring(L, lua_upvalueindex(2)));
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

/* coroutine.wrap(f): the original's function, guarded like resume. */
static int l_wrap(lua_State *L)
{
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 1);
    lua_pushliteral(L, "a coroutine.wrap function");
    lua_pushcclosure(L, l_reentrant, 2);
    return 1;
}

static void guard_reentrant(lua_State *L)
{
    static const struct {
        const char *lib, *name;
    } fns[] = {
        {"coroutine", "resume"},
        {LUA_STRLIBNAME, "format"}, /* %s runs __tostring */
        {LUA_TABLIBNAME, "sort"},
    };
    for (size_t i = 0; i < MB_ARRAY_LEN(fns); i++) {
        lua_getglobal(L, fns[i].lib);
        lua_getfield(L, -1, fns[i].name);
        lua_pushfstring(L, "%s.%s", fns[i].lib, fns[i].name);
        lua_pushcclosure(L, l_reentrant, 2);
        lua_setfield(L, -2, fns[i].name);
        lua_pop(L, 1);
    }
    lua_getglobal(L, "coroutine");
    lua_getfield(L, -1, "wrap");
    lua_pushcclosure(L, l_wrap, 1);
    lua_setfield(L, -2, "wrap");
    lua_pop(L, 1);
}

/* ---- require ------------------------------------------------------------ */

static bool valid_module_name(const char *name, size_t len)
{
    if (len == 0 || len > 128 || name[0] == '.' || name[len - 1] == '.') return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        bool ok = c == '_' || c == '.' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c >= '0' && c <= '9');
        if (!ok) return false;
        if (c == '.' && name[i + 1] == '.') return false;
    }
    return true;
}

/* require(name); upvalue 1 is the private cache. */
static int l_require(lua_State *L)
{
    mb_lua_cstack_check(L, "require");
    size_t len;
    const char *name = luaL_checklstring(L, 1, &len);
    lua_settop(L, 1);
    if (mb_lua_module_push_builtin(L, name)) return 1;
    if (strlen(name) != len || !valid_module_name(name, len))
        return luaL_error(L,
                          "require: invalid module name '%s' (allowed: letters, digits, _ and . "
                          "between names)",
                          name);

    lua_pushvalue(L, 1);
    lua_rawget(L, lua_upvalueindex(1));
    if (lua_touserdata(L, -1) == &loading_key)
        return luaL_error(L, "require: loop or previous error loading module '%s'", name);
    if (!lua_isnil(L, -1)) return 1;
    lua_pop(L, 1);

    mb_lua_vm *vm = mb_lua_vm_from_state(L);
    if (!vm || !vm->lib_dir) return luaL_error(L, "module '%s' not found (no library directory)", name);

    char path[4096];
    int n = snprintf(path, sizeof path, "%s/%s.lua", vm->lib_dir, name);
    if (n < 0 || (size_t)n >= sizeof path) return luaL_error(L, "module '%s': path too long", name);
    size_t dirlen = strlen(vm->lib_dir) + 1;
    for (char *p = path + dirlen; p < path + n - 4; p++)
        if (*p == '.') *p = '/';

    char err[512];
    size_t codelen = 0;
    char *code = mb_lua_read_file(path, MB_LUA_MAX_SOURCE_BYTES, &codelen, err, sizeof err);
    if (!code) return luaL_error(L, "module '%s' not found: %s", name, err);
    lua_pushfstring(L, "@%s", path);
    int st = mb_lua_load_text(L, code, codelen, lua_tostring(L, -1));
    mb_free(code); /* freed before any error unwinds past us */
    if (st != 0) {
        if (st == LUA_ERRMEM) return lua_error(L);
        return luaL_error(L, "module '%s': %s", name, lua_tostring(L, -1));
    }

    /* As in Lua 5.1, a module that fails leaves the sentinel behind: a
     * second require reports "loop or previous error". */
    lua_pushvalue(L, 1);
    lua_pushlightuserdata(L, (void *)&loading_key);
    lua_rawset(L, lua_upvalueindex(1));
    lua_pushvalue(L, 1);
    lua_call(L, 1, 1);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_pushboolean(L, 1);
    }
    lua_pushvalue(L, 1);
    lua_pushvalue(L, -2);
    lua_rawset(L, lua_upvalueindex(1));
    return 1;
}

/* ---- opening ------------------------------------------------------------ */

void mb_lua_sandbox_open(lua_State *L, mb_lua_vm *vm)
{
    MB_UNUSED(vm);
    mb_lua_cstack_init();          /* reads /proc/self/maps once: at set-up, not in a call */
    open_lib(L, "", luaopen_base); /* also defines coroutine */
    open_lib(L, LUA_STRLIBNAME, luaopen_string);
    open_lib(L, LUA_TABLIBNAME, luaopen_table);
    open_lib(L, LUA_MATHLIBNAME, luaopen_math);
    open_lib(L, LUA_OSLIBNAME, luaopen_os);
    open_lib(L, LUA_BITLIBNAME, luaopen_bit);

    /* Drop every global that is not on the list (dofile, loadfile, getfenv,
     * setfenv, newproxy, gcinfo, module, ...). */
    lua_newtable(L);
    int drop = lua_gettop(L);
    int ndrop = 0;
    lua_pushnil(L);
    while (lua_next(L, LUA_GLOBALSINDEX)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING || !kept(lua_tostring(L, -1))) {
            lua_pushvalue(L, -1);
            lua_rawseti(L, drop, ++ndrop);
        }
    }
    for (int i = 1; i <= ndrop; i++) {
        lua_rawgeti(L, drop, i);
        lua_pushnil(L);
        lua_rawset(L, LUA_GLOBALSINDEX);
    }
    lua_pop(L, 1);

    /* string: no dump; the string metatable cannot be read or replaced. */
    lua_getglobal(L, LUA_STRLIBNAME);
    lua_pushnil(L);
    lua_setfield(L, -2, "dump");
    lua_pop(L, 1);
    lua_pushliteral(L, "");
    lua_getmetatable(L, -1);
    lua_pushliteral(L, "protected");
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 2);

    /* os: time, date and clock only, in a fresh table. */
    lua_getglobal(L, LUA_OSLIBNAME);
    lua_createtable(L, 0, 3);
    static const char *const os_keep[] = {"time", "date", "clock"};
    for (size_t i = 0; i < MB_ARRAY_LEN(os_keep); i++) {
        lua_getfield(L, -2, os_keep[i]);
        lua_setfield(L, -2, os_keep[i]);
    }
    lua_setglobal(L, LUA_OSLIBNAME);
    lua_pop(L, 1);

    static const luaL_Reg repl[] = {
        {"load", l_load},
        {"loadstring", l_loadstring},
        {"collectgarbage", l_collectgarbage},
        {"print", l_print},
        {NULL, NULL},
    };
    for (const luaL_Reg *r = repl; r->name; r++) {
        lua_pushcfunction(L, r->func);
        lua_setglobal(L, r->name);
    }

    wrap_xpcall(L);
    mb_lua_pattern_open(L);
    guard_reentrant(L);

    lua_newtable(L); /* private require cache */
    lua_pushcclosure(L, l_require, 1);
    lua_setglobal(L, "require");
}
