/*
 * fuzz_lua_pattern.c - the pattern guard's matcher (runtime/lua/pattern.c)
 * against LuaJIT's own.
 *
 * One input is: a byte for find/match's init (-4..11), then the subject and
 * the pattern separated by the first NUL (each cut at 20 bytes, so LuaJIT's
 * unguarded matcher stays fast whatever the pattern). With
 * mb_lua_pattern_force every search runs in the guard's matcher; the same
 * calls (find, plain find, match, gmatch to the end, gsub with a string and
 * with a function) run in a stock LuaJIT state. Invariant: the outputs,
 * errors included, are identical; an input the guard refuses as too slow
 * is skipped (LuaJIT's matcher takes the same steps).
 */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "fuzz_common.h"
#include "pattern.h"
#include "vm.h"

static const char differ_fn[] =
    "local function ser(...) local t = {} for i = 1, select('#', ...) do t[#t + 1] = tostring((select(i, ...))) end "
    "  return table.concat(t, ',') end\n"
    "return function(s, p, init)\n"
    "  local out = {}\n"
    "  out[#out + 1] = ser(pcall(string.find, s, p, init))\n"
    "  out[#out + 1] = ser(pcall(string.find, s, p, init, true))\n"
    "  out[#out + 1] = ser(pcall(string.match, s, p, init))\n"
    "  local ok, it = pcall(string.gmatch, s, p)\n"
    "  if ok then\n"
    "    local g = {}\n"
    "    for i = 1, 40 do local r = { pcall(it) } g[#g + 1] = ser(unpack(r)) if not r[1] or r[2] == nil then break end end\n"
    "    out[#out + 1] = table.concat(g, ';')\n"
    "  else out[#out + 1] = 'gmatch: ' .. tostring(it) end\n"
    "  out[#out + 1] = ser(pcall(string.gsub, s, p, '<%0>'))\n"
    "  out[#out + 1] = ser(pcall(string.gsub, s, p, function(...) return '[' .. ser(...) .. ']' end, 3))\n"
    "  return table.concat(out, ' | ')\n"
    "end\n";

static lua_State *S; /* stock LuaJIT */
static mb_lua_vm *vm;
static int sfn, gfn;

static void setup(void)
{
    S = luaL_newstate();
    luaL_openlibs(S);
    if (luaL_loadstring(S, differ_fn) || lua_pcall(S, 0, 1, 0)) abort();
    sfn = lua_gettop(S);
    mb_lua_limits lim = {.time_ms = 60000, .warn_ms = 60000};
    char err[256];
    vm = mb_lua_vm_new(&lim, NULL, err, sizeof err);
    FUZZ_CHECK(vm != NULL, "vm: %s", err);
    FUZZ_CHECK(mb_lua_vm_load_string(vm, differ_fn, "=differ", err, sizeof err) == MB_LUA_OK, "%s", err);
    FUZZ_CHECK(mb_lua_vm_pcall(vm, 0, 1, err, sizeof err) == MB_LUA_OK, "%s", err);
    gfn = lua_gettop(mb_lua_vm_state(vm));
    mb_lua_pattern_force = 1;
}

static const char *differ(lua_State *L, int fn, const char *s, size_t sl, const char *p, size_t pl, int init)
{
    lua_pushvalue(L, fn);
    lua_pushlstring(L, s, sl);
    lua_pushlstring(L, p, pl);
    lua_pushinteger(L, init);
    lua_pcall(L, 3, 1, 0);
    return lua_tostring(L, -1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!S) setup();
    if (size < 1) return 0;
    int init = (int)(data[0] % 16) - 4;
    const char *rest = (const char *)data + 1;
    size_t n = size - 1;
    const char *nul = memchr(rest, 0, n);
    size_t sl = nul ? (size_t)(nul - rest) : n / 2;
    const char *p = nul ? nul + 1 : rest + sl;
    size_t pl = n - sl - (nul ? 1 : 0);
    if (sl > 20) sl = 20;
    if (pl > 20) pl = 20;
    lua_State *L = mb_lua_vm_state(vm);
    /* the guard first: when it refuses a search as too slow, LuaJIT's
     * matcher would be slow too (same steps), so skip it */
    const char *b = differ(L, gfn, rest, sl, p, pl, init);
    if (b && strstr(b, "is too complex for a subject")) {
        lua_pop(L, 1);
        return 0;
    }
    const char *a = differ(S, sfn, rest, sl, p, pl, init);
    FUZZ_CHECK(a && b && strcmp(a, b) == 0, "subject %.*s pattern %.*s init %d\nluajit: %s\nguard:  %s",
               (int)sl, rest, (int)pl, p, init, a ? a : "?", b ? b : "?");
    lua_pop(S, 1);
    lua_pop(L, 1);
    lua_gc(S, LUA_GCSTEP, 0);
    return 0;
}
