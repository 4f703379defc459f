/* udata.c - host userdata types with protected metatables (see vm.h). */
#include "udata.h"

#include <string.h>

static int l_udata_tostring(lua_State *L)
{
    lua_pushfstring(L, "%s: %p", lua_tostring(L, lua_upvalueindex(1)), lua_touserdata(L, 1));
    return 1;
}

void mb_lua_udata_define(lua_State *L, const char *tname, const luaL_Reg *methods, lua_CFunction gc)
{
    if (!luaL_newmetatable(L, tname)) {
        lua_pop(L, 1); /* already defined */
        return;
    }
    lua_newtable(L);
    if (methods) luaL_setfuncs(L, methods, 0);
    lua_setfield(L, -2, "__index");
    if (gc) {
        lua_pushcfunction(L, gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pushstring(L, tname);
    lua_pushcclosure(L, l_udata_tostring, 1);
    lua_setfield(L, -2, "__tostring");
    /* getmetatable(u) returns this string; setmetatable refuses. */
    lua_pushliteral(L, "protected");
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 1);
}

void *mb_lua_udata_new(lua_State *L, const char *tname, size_t size)
{
    void *p = lua_newuserdata(L, size);
    memset(p, 0, size);
    luaL_getmetatable(L, tname);
    if (lua_isnil(L, -1)) luaL_error(L, "userdata type %s is not defined", tname);
    lua_setmetatable(L, -2);
    return p;
}

void *mb_lua_udata_check(lua_State *L, int idx, const char *tname) { return luaL_checkudata(L, idx, tname); }

void *mb_lua_udata_test(lua_State *L, int idx, const char *tname) { return luaL_testudata(L, idx, tname); }
