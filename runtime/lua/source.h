/*
 * source.h - reading and compiling script text (source.c). Not part of the
 * public API.
 */
#ifndef MB_LUA_SOURCE_H
#define MB_LUA_SOURCE_H

#include <stddef.h>

#include <lua.h>

/* Compile text in `code` with mode "t", refusing bytecode. Returns the
 * lua_load status and pushes the function or an error message. */
int mb_lua_load_text(lua_State *L, const char *code, size_t len, const char *chunkname);

/* Read a whole regular file (at most max bytes) into a malloc'd buffer.
 * Returns NULL with errno-style message in err. */
char *mb_lua_read_file(const char *path, size_t max, size_t *len, char *err, size_t errlen);

#define MB_LUA_MAX_SOURCE_BYTES ((size_t)8 << 20)

#endif
