/*
 * udata.h - host userdata types (udata.c). Part of the public API: vm.h
 * includes it.
 */
#ifndef MB_LUA_UDATA_H
#define MB_LUA_UDATA_H

#include <stddef.h>

#include <lauxlib.h>
#include <lua.h>

/*
 * Host userdata (udata.c). A host object exposed to scripts is a full
 * userdata whose metatable lives in the registry under tname, with
 * __index = methods and __metatable = "protected": getmetatable(u) returns
 * the string "protected", setmetatable cannot change it, and scripts cannot
 * create or forge such values.
 */

/* Define a type (idempotent). methods end with {NULL, NULL}; gc may be NULL
 * (it runs when the value is collected or the VM is closed, and must not
 * raise). Raises a Lua error on out of memory: call at set-up (the
 * headroom covers it) or inside a protected call. */
void mb_lua_udata_define(lua_State *L, const char *tname, const luaL_Reg *methods, lua_CFunction gc);
/* Push a new zeroed userdata of `size` bytes of type tname; returns its
 * memory (owned by Lua: valid while the value is reachable). */
void *mb_lua_udata_new(lua_State *L, const char *tname, size_t size);
/* The userdata at idx if it has type tname, else raise "bad argument". */
void *mb_lua_udata_check(lua_State *L, int idx, const char *tname);
/* The userdata at idx if it has type tname, else NULL. */
void *mb_lua_udata_test(lua_State *L, int idx, const char *tname);

#endif
