/*
 * pattern.h - the pattern guard: string.find, match, gmatch and gsub
 * cannot outlive the time budget (see pattern.c).
 */
#ifndef MB_LUA_PATTERN_H
#define MB_LUA_PATTERN_H

#include <lua.h>

/* A search whose worst case (upper bound, in matcher steps) is at most this
 * runs in LuaJIT's own matcher; a larger one runs in ours, which watches
 * the clock. */
#define MB_LUA_PATTERN_FAST_STEPS 1e7
/* A plain find (no pattern characters, or plain = true) comparing at most
 * this many bytes in the worst case runs in LuaJIT's own search. */
#define MB_LUA_PLAIN_FAST_BYTES 5e7
/* The longest one pattern call may hold the event loop before it is refused
 * (never past the VM's own deadline either). */
#define MB_LUA_PATTERN_MAX_MS 50

/* Replace string.find, match, gmatch and gsub (and the string metatable's
 * __index follows, being the same table) in L. */
void mb_lua_pattern_open(lua_State *L);

/* Tests only: non-zero sends every search through the guarded matcher
 * (differential tests against LuaJIT's). */
extern int mb_lua_pattern_force;

#endif
