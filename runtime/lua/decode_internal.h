/*
 * decode_internal.h - what vm.c needs of decode.c. Not part of the public API.
 */
#ifndef MB_LUA_DECODE_INTERNAL_H
#define MB_LUA_DECODE_INTERNAL_H

#include <lua.h>

/* decode.c: the protected body of mb_lua_push_json_text (light userdata
 * argument: its parse state). */
int mb_lua_decode_cb(lua_State *L);

#endif
