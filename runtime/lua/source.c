/*
 * source.c - reading and compiling script text (files and strings), text
 * only. Used by vm.c (mb_lua_vm_load_*) and sandbox.c (require, load).
 */
#include "source.h"

#include "mb.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <lauxlib.h>

char *mb_lua_read_file(const char *path, size_t max, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        mb_set_err(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        mb_set_err(err, errlen, "cannot read %s: not a regular file", path);
        fclose(f);
        return NULL;
    }
    if ((uint64_t)st.st_size > max) {
        mb_set_err(err, errlen, "cannot read %s: larger than %zu bytes", path, max);
        fclose(f);
        return NULL;
    }
    size_t n = (size_t)st.st_size;
    char *buf = mb_malloc(n + 1);
    size_t got = fread(buf, 1, n, f);
    int bad = ferror(f);
    fclose(f);
    if (bad || got != n) {
        mb_set_err(err, errlen, "cannot read %s: short read", path);
        mb_free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

int mb_lua_load_text(lua_State *L, const char *code, size_t len, const char *chunkname)
{
    /* Mode "t" already refuses binary chunks; the explicit check keeps the
     * message plain. */
    if (len > 0 && code[0] == LUA_SIGNATURE[0]) {
        lua_pushfstring(L, "%s: binary (bytecode) chunks are not allowed", chunkname);
        return LUA_ERRSYNTAX;
    }
    return luaL_loadbufferx(L, code, len, chunkname, "t");
}
