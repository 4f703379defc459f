/*
 * test_lua_guards.c - the C stack guard (runtime/lua/cstack.c) and the
 * pattern guard (runtime/lua/pattern.c), issue "Reliability round 2" items
 * 1 and 2: recursion through the Lua/C boundary must end the call with an
 * error instead of crashing the process, and no pattern search may outlive
 * the time budget. Each case also checks that the VM runs its next call.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pthread.h>

#include <lauxlib.h>
#include <lualib.h>

#include "mb.h"
#include "pattern.h"
#include "vm.h"

static char g_lib[256];

/* ---- helpers ------------------------------------------------------------ */

static mb_lua_vm *new_vm(size_t mem, unsigned time_ms)
{
    mb_lua_limits lim = {.mem_bytes = mem, .time_ms = time_ms, .warn_ms = 100000};
    char err[256] = "";
    mb_lua_vm *vm = mb_lua_vm_new(&lim, g_lib, err, sizeof err);
    if (!vm) fprintf(stderr, "vm_new: %s\n", err);
    assert_non_null(vm);
    return vm;
}

static int run(mb_lua_vm *vm, const char *code, int nres, char *err, size_t errlen)
{
    int rc = mb_lua_vm_load_string(vm, code, "=test", err, errlen);
    if (rc != MB_LUA_OK) return rc;
    return mb_lua_vm_pcall(vm, 0, nres, err, errlen);
}

static void expect_str(mb_lua_vm *vm, const char *code, const char *want)
{
    char err[2048] = "";
    lua_State *L = mb_lua_vm_state(vm);
    int rc = run(vm, code, 1, err, sizeof err);
    if (rc != MB_LUA_OK) fprintf(stderr, "code: %s\nerr: %s\n", code, err);
    assert_int_equal(rc, MB_LUA_OK);
    const char *got = lua_tostring(L, -1);
    if (!got || (want && strcmp(got, want) != 0))
        fprintf(stderr, "code: %s\nwant: %s\ngot:  %s\n", code, want ? want : "?",
                got ? got : "(non-string)");
    assert_non_null(got);
    if (want) assert_string_equal(got, want);
    lua_pop(L, 1);
}

/* Must match the regex-free needle; returns the time taken in ms. */
static int64_t expect_fail(mb_lua_vm *vm, const char *code, int want, const char *needle)
{
    char err[4096] = "";
    int top = lua_gettop(mb_lua_vm_state(vm));
    int64_t t0 = mb_now_ms();
    int rc = run(vm, code, 0, err, sizeof err);
    int64_t ms = mb_now_ms() - t0;
    if (rc != want || (needle && !strstr(err, needle)))
        fprintf(stderr, "code: %s\nrc=%d want=%d\nerr: %.600s\nneedle: %s\n", code, rc, want, err,
                needle ? needle : "");
    assert_int_equal(rc, want);
    if (needle) assert_non_null(strstr(err, needle));
    assert_int_equal(lua_gettop(mb_lua_vm_state(vm)), top);
    /* the VM is good for the next call */
    expect_str(vm, "return tostring(6 * 7)", "42");
    return ms;
}

static int group_setup(void **state)
{
    MB_UNUSED(state);
    snprintf(g_lib, sizeof g_lib, "/tmp/mb_lua_guards_XXXXXX");
    return mkdtemp(g_lib) ? 0 : -1;
}

static int group_teardown(void **state)
{
    MB_UNUSED(state);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_lib);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- C stack: every path that re-enters Lua from C ---------------------- */

#define CSTACK "C stack overflow in "

static void test_cstack_paths(void **state)
{
    MB_UNUSED(state);
    mb_lua_vm *vm = new_vm(0, 5000);
    /* Each of these crashed the process (SIGSEGV) before the guard. */
    expect_fail(vm, "local function f() return coroutine.wrap(f)() end f()", MB_LUA_ERR_RUNTIME,
                CSTACK "a coroutine.wrap function: too many nested");
    expect_fail(vm,
                "local function f() local ok, e = coroutine.resume(coroutine.create(f)) "
                "if not ok then error(e, 0) end end f()",
                MB_LUA_ERR_RUNTIME, CSTACK "coroutine.resume");
    expect_fail(vm, "local function f() return ('ab'):gsub('.', f) end f()", MB_LUA_ERR_RUNTIME,
                CSTACK "string.gsub");
    /* gsub with a table replacement: __index runs from C */
    expect_fail(vm,
                "local mt = {} mt.__index = function(t, k) return ('x'):gsub('x', setmetatable({}, mt)) end "
                "return ('x'):gsub('x', setmetatable({}, mt))",
                MB_LUA_ERR_RUNTIME, CSTACK "string.gsub");
    expect_fail(vm, "local function f() for w in ('ab'):gmatch('.') do ('ab'):gsub('.', f) end end f()",
                MB_LUA_ERR_RUNTIME, CSTACK);
    expect_fail(vm, "local function f() table.sort({3, 2, 1}, function(a, b) f() return a < b end) end f()",
                MB_LUA_ERR_RUNTIME, CSTACK "table.sort");
    /* sort without a comparator: __lt runs from C */
    expect_fail(
        vm,
        "local mt = {} mt.__lt = function(a, b) table.sort({setmetatable({}, mt), setmetatable({}, mt), "
        "setmetatable({}, mt)}) return true end table.sort({setmetatable({}, mt), setmetatable({}, mt)})",
        MB_LUA_ERR_RUNTIME, CSTACK "table.sort");
    expect_fail(vm, "local function f() return load(function() f() end) end f()", MB_LUA_ERR_RUNTIME,
                CSTACK "load");
    /* string.format('%s') calls __tostring from C */
    expect_fail(
        vm,
        "local mt = {} mt.__tostring = function(t) return string.format('%s', setmetatable({}, mt)) end "
        "return string.format('%s', setmetatable({}, mt))",
        MB_LUA_ERR_RUNTIME, CSTACK "string.format");
    /* mixed: wrap -> gsub -> sort -> resume -> ... */
    expect_fail(vm,
                "local f local function g() table.sort({1, 2}, function() f() return false end) end "
                "f = function() return coroutine.wrap(function() ('a'):gsub('a', g) end)() end f()",
                MB_LUA_ERR_RUNTIME, CSTACK);
    mb_lua_vm_free(vm);
}

static void test_cstack_caught_and_depth(void **state)
{
    MB_UNUSED(state);
    mb_lua_vm *vm = new_vm(0, 5000);
    /* an ordinary error: pcall catches it and the script goes on; the depth
     * reached is generous (hundreds of levels, Lua 5.1 allowed 200) */
    expect_str(
        vm,
        "local n = 0 local function f() n = n + 1 return coroutine.wrap(f)() end "
        "local ok, e = pcall(f) "
        "return tostring(ok) .. ' ' .. tostring(n >= 200) .. ' ' .. tostring(e:find('C stack overflow', 1, true) ~= nil)",
        "false true true");
    expect_str(vm,
               "local n = 0 local function f() n = n + 1 return ('ab'):gsub('.', f) end "
               "local ok, e = pcall(f) return tostring(ok) .. ' ' .. tostring(n >= 100)",
               "false true");
    /* after the error, the same call keeps working at normal depth */
    expect_str(vm,
               "pcall(function() local function f() return coroutine.wrap(f)() end f() end) "
               "local co = coroutine.wrap(function(a) local b = coroutine.yield(a + 1) return b * 2 end) "
               "return tostring(co(1)) .. ' ' .. tostring(co(21))",
               "2 42");
    /* the guard resets with each outermost call: the same depth again */
    for (int i = 0; i < 3; i++)
        expect_fail(vm, "local function f() return coroutine.wrap(f)() end f()", MB_LUA_ERR_RUNTIME, CSTACK);
    /* moderate nesting of every kind still works */
    expect_str(
        vm,
        "local function f(n) if n == 0 then return 'ok' end "
        "return coroutine.wrap(function() return (select(1, ('x'):gsub('x', function() "
        "local r table.sort({2, 1}, function(a, b) r = r or f(n - 1) return a < b end) return r end))) end)() end "
        "return f(30)",
        "ok");
    mb_lua_vm_free(vm);
}

/* A host function calling back into Lua through mb_lua_vm_pcall. */
static int l_call_back(lua_State *L)
{
    mb_lua_vm *vm = mb_lua_vm_from_state(L);
    char err[512] = "";
    lua_pushvalue(L, 1);
    int rc = mb_lua_vm_pcall(vm, 0, 0, err, sizeof err);
    lua_pushboolean(L, rc == MB_LUA_OK);
    err[strcspn(err, "\n")] = '\0'; /* the message without its traceback */
    lua_pushstring(L, rc == MB_LUA_OK ? "" : err);
    return 2;
}

static void test_cstack_host_callback(void **state)
{
    MB_UNUSED(state);
    mb_lua_vm *vm = new_vm(0, 5000);
    lua_State *L = mb_lua_vm_state(vm);
    lua_pushcfunction(L, l_call_back);
    lua_setglobal(L, "callback");
    expect_fail(vm, "local function f() local ok, e = callback(f) if not ok then error(e, 0) end end f()",
                MB_LUA_ERR_RUNTIME, "C stack overflow: too many nested calls into Lua");
    expect_str(
        vm,
        "local n = 0 local function f() n = n + 1 if n < 50 then callback(f) end end f() return tostring(n)",
        "50");
    mb_lua_vm_free(vm);
}

static void test_cstack_require_chain(void **state)
{
    MB_UNUSED(state);
    /* 3000 modules, each requiring the next: each level nests require */
    for (int i = 0; i < 3000; i++) {
        char path[512], text[128];
        snprintf(path, sizeof path, "%s/m%d.lua", g_lib, i);
        snprintf(text, sizeof text, "return require('m%d')\n", i + 1);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
    }
    mb_lua_vm *vm = new_vm(0, 5000);
    expect_fail(vm, "require('m0')", MB_LUA_ERR_RUNTIME, CSTACK "require");
    mb_lua_vm_free(vm);
}

/* On a thread with a small stack (1 MiB, less than the 1 MiB relative
 * limit plus what the thread already uses), the absolute measure stops the
 * recursion before the end of that stack. */
static void *small_stack_thread(void *arg)
{
    char *out = arg;
    mb_lua_vm *vm = mb_lua_vm_new(NULL, NULL, out, 512);
    if (!vm) return NULL;
    int rc =
        mb_lua_vm_load_string(vm, "local function f() return coroutine.wrap(f)() end f()", "=t", out, 512);
    if (rc == MB_LUA_OK) rc = mb_lua_vm_pcall(vm, 0, 0, out, 512);
    if (rc == MB_LUA_OK) snprintf(out, 512, "no error");
    rc = mb_lua_vm_load_string(
        vm, "local s = 0 for i = 1, 10 do s = s + coroutine.wrap(function() return i end)() end return s",
        "=t", out + 512, 512);
    if (rc == MB_LUA_OK && mb_lua_vm_pcall(vm, 0, 1, out + 512, 512) == MB_LUA_OK)
        snprintf(out + 512, 512, "%s", lua_tostring(mb_lua_vm_state(vm), -1));
    mb_lua_vm_free(vm);
    return NULL;
}

static void test_cstack_small_thread(void **state)
{
    MB_UNUSED(state);
    pthread_attr_t attr;
    pthread_t t;
    char out[1024] = "";
    assert_int_equal(pthread_attr_init(&attr), 0);
    assert_int_equal(pthread_attr_setstacksize(&attr, (size_t)1 << 20), 0);
    assert_int_equal(pthread_create(&t, &attr, small_stack_thread, out), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    pthread_attr_destroy(&attr);
    if (!strstr(out, CSTACK "a coroutine.wrap function")) fprintf(stderr, "thread: %s\n", out);
    assert_non_null(strstr(out, CSTACK "a coroutine.wrap function"));
    assert_string_equal(out + 512, "55");
}

/* Metamethods run in LuaJIT's own frames (no C recursion): a chain ends with
 * Lua's "stack overflow", or runs as a tail call into the time budget. */
static void test_cstack_metamethod_chains(void **state)
{
    MB_UNUSED(state);
    mb_lua_vm *vm = new_vm(0, 300);
    static const char *const overflow[] = {
        "local mt = {} mt.__index = function(t, k) return setmetatable({}, mt)[k] end return setmetatable({}, mt).x",
        "local mt = {} mt.__newindex = function(t, k, v) setmetatable({}, mt)[k] = v end setmetatable({}, mt).x = 1",
        "local mt = {} mt.__concat = function(a, b) return setmetatable({}, mt) .. 'x' end return setmetatable({}, mt) .. 'x'",
        "local mt = {} mt.__eq = function(a, b) return setmetatable({}, mt) == setmetatable({}, mt) end return setmetatable({}, mt) == setmetatable({}, mt)",
        "local mt = {} mt.__lt = function(a, b) return setmetatable({}, mt) < setmetatable({}, mt) end return setmetatable({}, mt) < setmetatable({}, mt)",
        "local mt = {} mt.__le = function(a, b) return setmetatable({}, mt) <= setmetatable({}, mt) end return setmetatable({}, mt) <= setmetatable({}, mt)",
        "local mt = {} mt.__add = function(a, b) return setmetatable({}, mt) + 1 end return setmetatable({}, mt) + 1",
        "local mt = {} mt.__unm = function(a) return -setmetatable({}, mt) end return -setmetatable({}, mt)",
        "local mt = {} mt.__call = function(s) local r = setmetatable({}, mt)() return r end return setmetatable({}, mt)()",
        "local mt = {} mt.__tostring = function(t) local r = tostring(setmetatable({}, mt)) return r end return tostring(setmetatable({}, mt))",
        "local mt = {} mt.__index = function(t, k) return rawget(t, k) or setmetatable({}, mt)[k] end local t = setmetatable({}, mt) return t.x",
    };
    for (size_t i = 0; i < MB_ARRAY_LEN(overflow); i++)
        expect_fail(vm, overflow[i], MB_LUA_ERR_RUNTIME, "stack overflow");
    /* tail calls: no stack grows, the budget ends them */
    static const char *const tail[] = {
        "local mt = {} mt.__call = function(s) return setmetatable({}, mt)() end return setmetatable({}, mt)()",
        "local mt = {} mt.__tostring = function(t) return tostring(setmetatable({}, mt)) end return tostring(setmetatable({}, mt))",
    };
    for (size_t i = 0; i < MB_ARRAY_LEN(tail); i++) {
        int64_t ms = expect_fail(vm, tail[i], MB_LUA_ERR_TIMEOUT, "timed out");
        assert_true(ms < 2000);
    }
    /* __gc on tables is not honoured (Lua 5.1 semantics) and newproxy is
     * gone: scripts cannot run finalizers at all */
    expect_str(vm,
               "local n = 0 for i = 1, 100 do setmetatable({}, {__gc = function() n = n + 1 end}) end "
               "collectgarbage() collectgarbage() return tostring(n) .. type(newproxy)",
               "0nil");
    mb_lua_vm_free(vm);
}

static void test_string_rep_sizes(void **state)
{
    MB_UNUSED(state);
    mb_lua_vm *vm = new_vm(16u << 20, 5000);
    int64_t ms = 0;
    ms += expect_fail(vm, "return ('x'):rep(1e9)", MB_LUA_ERR_MEMORY, "not enough memory");
    ms += expect_fail(vm, "return ('xy'):rep(2^30, ('z'):rep(1000))", MB_LUA_ERR_MEMORY, "not enough memory");
    ms += expect_fail(
        vm, "local s = ('x'):rep(2^20) local t = {} for i = 1, 100 do t[i] = s end return table.concat(t)",
        MB_LUA_ERR_MEMORY, "not enough memory");
    ms += expect_fail(vm, "local s = ('x'):rep(2^20) while true do s = s .. s end", MB_LUA_ERR_MEMORY,
                      "not enough memory");
    assert_true(ms < 2000);
    /* LuaJIT takes the count as int32: these are empty, at once */
    expect_str(
        vm,
        "return #('x'):rep(2^40) .. ' ' .. #('x'):rep(-5) .. ' ' .. #('x'):rep(0/0) .. ' ' .. #('x'):rep(2^31, 'y')",
        "0 0 0 0");
    expect_str(vm, "return tostring(#('ab'):rep(1000, ','))", "2999");
    mb_lua_vm_free(vm);
}

/* ---- patterns ----------------------------------------------------------- */

static void test_pattern_budget(void **state)
{
    MB_UNUSED(state);
    mb_lua_vm *vm = new_vm(0, 1000);
    /* the case: 2^25 attempts, 2-3 s before; refused in ~50 ms */
    int64_t ms = expect_fail(vm, "return string.find(('a'):rep(25), ('a?'):rep(25) .. ('a'):rep(25))",
                             MB_LUA_ERR_RUNTIME, "is too complex for a subject of 25 bytes");
    assert_true(ms < 500);
    /* each extra item doubled it: 40 items are refused as fast */
    ms = expect_fail(vm, "return string.find(('a'):rep(40), ('a?'):rep(40) .. ('a'):rep(40))",
                     MB_LUA_ERR_RUNTIME, "too complex");
    assert_true(ms < 500);
    /* quadratic cases the old rule let through (a+$ took 20+ s) */
    ms = expect_fail(vm, "return (('a'):rep(1e5) .. 'x'):find('a+$')", MB_LUA_ERR_RUNTIME, "too complex");
    assert_true(ms < 500);
    ms = expect_fail(vm, "return (('a'):rep(1e5) .. 'x'):gsub('a+$', '')", MB_LUA_ERR_RUNTIME, "too complex");
    assert_true(ms < 500);
    ms = expect_fail(vm, "return (('a'):rep(3e4)):match('(a-)%1b')", MB_LUA_ERR_RUNTIME, "too complex");
    assert_true(ms < 500);
    /* gmatch: each call of the iterator is bounded */
    ms = expect_fail(vm, "local s = ('a'):rep(3e4) .. 'b' for x in s:gmatch('a-a-a-c') do end",
                     MB_LUA_ERR_RUNTIME, "too complex");
    assert_true(ms < 500);
    ms = expect_fail(vm,
                     "local s = ('ab'):rep(10) .. ('a'):rep(3e4) local n = 0 "
                     "for x in s:gmatch('(a-)b') do n = n + 1 end",
                     MB_LUA_ERR_RUNTIME, "too complex");
    assert_true(ms < 500);
    /* a plain find comparing 1000 bytes at each of 3e7 positions */
    ms = expect_fail(vm, "local s = ('a'):rep(3e7) return s:find(('a'):rep(1000) .. 'b', 1, true)",
                     MB_LUA_ERR_RUNTIME, "too complex");
    assert_true(ms < 900);
    /* caught by pcall: the script goes on */
    expect_str(vm,
               "local ok, e = pcall(string.find, ('a'):rep(25), ('a?'):rep(25) .. ('a'):rep(25)) "
               "return tostring(ok) .. ' ' .. tostring(e:find('too complex', 1, true) ~= nil)",
               "false true");
    /* ordinary work on long subjects passes, and fast */
    int64_t t0 = mb_now_ms();
    /* (a 300 KB trim takes 8 ms in our matcher in the release build, over
     * 50 ms in the sanitizer build: hence the modest sizes) */
    expect_str(vm, "return tostring(#((' x '):rep(10000)):match('^%s*(.-)%s*$'))", "29998");
    expect_str(vm, "return (('a b '):rep(100000):gsub('%s+', '')):sub(1, 4)", "abab");
    expect_str(
        vm,
        "local n = 0 for k, v in (('k=v, '):rep(50000)):gmatch('(%w+)=(%w+)') do n = n + 1 end return tostring(n)",
        "50000");
    expect_str(vm, "local s = ('x'):rep(20000) return tostring(s:find('a.-b'))", "nil");
    expect_str(vm, "return tostring((('('):rep(1000) .. (')'):rep(1000)):find('%b()%b()'))", "nil");
    expect_str(vm, "return tostring(select(2, (('ab'):rep(1e5)):gsub('(a)(b)', '%2%1')))", "100000");
    expect_str(vm, "return tostring((('a'):rep(1e6) .. 'b'):find('b', 1, true))", "1000001");
    assert_true(mb_now_ms() - t0 < 3000);
    mb_lua_vm_free(vm);
}

/* The guard's matcher must give LuaJIT's results: every search runs in both
 * (mb_lua_pattern_force) and the outputs, errors included, are compared. */
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

static uint64_t g_rng = 0x9e3779b97f4a7c15ull;

static unsigned rnd(unsigned n)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (unsigned)(g_rng % n);
}

static const char *differ(lua_State *L, int fn, const char *s, const char *p, int init)
{
    lua_pushvalue(L, fn);
    lua_pushstring(L, s);
    lua_pushstring(L, p);
    lua_pushinteger(L, init);
    if (lua_pcall(L, 3, 1, 0) != 0) return lua_tostring(L, -1);
    return lua_tostring(L, -1);
}

static void test_pattern_matches_luajit(void **state)
{
    MB_UNUSED(state);
    lua_State *S = luaL_newstate(); /* stock LuaJIT */
    luaL_openlibs(S);
    assert_int_equal(luaL_loadstring(S, differ_fn), 0);
    assert_int_equal(lua_pcall(S, 0, 1, 0), 0);
    int sfn = lua_gettop(S);

    mb_lua_vm *vm = new_vm(0, 60000);
    lua_State *L = mb_lua_vm_state(vm);
    char err[512];
    assert_int_equal(mb_lua_vm_load_string(vm, differ_fn, "=differ", err, sizeof err), MB_LUA_OK);
    assert_int_equal(mb_lua_vm_pcall(vm, 0, 1, err, sizeof err), MB_LUA_OK);
    int gfn = lua_gettop(L);

    static const char *const fixed[][2] = {
        {"hello world", "o"},
        {"hello world", "(o)(r?)"},
        {"  trim me  ", "^%s*(.-)%s*$"},
        {"key=val; k2=v2", "(%w+)=(%w+)"},
        {"THE (quick) fox", "%f[%a]%a+"},
        {"f(a(b)c)d", "%b()"},
        {"aaa", "a-b"},
        {"aaab", "a-b"},
        {"abcabc", "(abc)%1"},
        {"abc", "()b()"},
        {"", ""},
        {"abc", ""},
        {"abc", "$"},
        {"a$b", "a$b"},
        {"a.b", "."},
        {"x^y", "^"},
        {"x^y", "x^"},
        {"abc", "["},
        {"abc", "%"},
        {"abc", "("},
        {"abc", ")"},
        {"abc", "%1"},
        {"abc", "(a)%2"},
        {"abc", "%b"},
        {"abc", "%f"},
        {"abc", "%fa"},
        {"a]b", "[]]"},
        {"a-b", "[a-]"},
        {"a-b", "[%a-]+"},
        {"\x01\x7f x", "%c+"},
        {"Ab1_!", "%W"},
        {"Ab1_!", "[^%w_]"},
        {"0xFFg", "%x+"},
        {"a\0b", "%z"},
        {"\xc3\xa9t\xc3\xa9", "[\x80-\xff]+"},
        {"aaaa", "a*"},
        {"aaaa", "a+?"},
        {"aaa", "a?a?a?aaa"},
        {"abab", "(ab)*"},
        {"((()))", "%b()"},
        {"[[x]]", "%b[]"},
        {"THE END", "%u+$"},
        {"one two  three", "%s*()"},
        {"abc", "((((((((((((((((((((((((((((((((a))))))))))))))))))))))))))))))))"},
    };
    int diffs = 0;
    int total = 0;
    mb_lua_pattern_force = 1;
    for (size_t i = 0; i < MB_ARRAY_LEN(fixed); i++) {
        for (int init = -3; init <= 4; init += 7) {
            const char *a = differ(S, sfn, fixed[i][0], fixed[i][1], init);
            const char *b = differ(L, gfn, fixed[i][0], fixed[i][1], init);
            total++;
            if (strcmp(a, b) != 0) {
                if (diffs++ < 10)
                    fprintf(stderr, "subject '%s' pattern '%s' init %d\nluajit: %s\nguard:  %s\n",
                            fixed[i][0], fixed[i][1], init, a, b);
            }
            lua_pop(S, 1);
            lua_pop(L, 1);
        }
    }
    /* random subjects and patterns, malformed ones included */
    static const char *const tokens[] = {"a",     "b",      ".",  "%a", "%d",  "%s", "[ab]", "[^a]",
                                         "[a-c]", "(",      ")",  "()", "*",   "+",  "-",    "?",
                                         "%b()",  "%f[%w]", "^",  "$",  "%1",  "%",  "x",    "[",
                                         "%%",    "a*",     "b-", ".?", "(a)", "%.", "]"};
    static const char alphabet[] = "aab(). 1x%";
    for (int i = 0; i < 4000; i++) {
        char s[16], p[64] = "";
        int sl = (int)rnd(12);
        for (int j = 0; j < sl; j++) s[j] = alphabet[rnd(sizeof alphabet - 1)];
        s[sl] = '\0';
        int pt = 1 + (int)rnd(7);
        for (int j = 0; j < pt; j++) strcat(p, tokens[rnd(MB_ARRAY_LEN(tokens))]);
        int init = (int)rnd(6) - 2;
        const char *a = differ(S, sfn, s, p, init);
        const char *b = differ(L, gfn, s, p, init);
        total++;
        if (strcmp(a, b) != 0) {
            if (diffs++ < 10)
                fprintf(stderr, "subject '%s' pattern '%s' init %d\nluajit: %s\nguard:  %s\n", s, p, init, a,
                        b);
        }
        lua_pop(S, 1);
        lua_pop(L, 1);
    }
    mb_lua_pattern_force = 0;
    if (diffs) fprintf(stderr, "%d of %d cases differ\n", diffs, total);
    assert_int_equal(diffs, 0);
    mb_lua_vm_free(vm);
    lua_close(S);
}

/* argv[1]: a cmocka test filter ("test_cstack*": the part that valgrind
 * runs; the pattern tests time their refusals, which valgrind distorts). */
int main(int argc, char **argv)
{
    if (argc > 1) cmocka_set_test_filter(argv[1]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cstack_paths),           cmocka_unit_test(test_cstack_caught_and_depth),
        cmocka_unit_test(test_cstack_host_callback),   cmocka_unit_test(test_cstack_require_chain),
        cmocka_unit_test(test_cstack_small_thread),    cmocka_unit_test(test_cstack_metamethod_chains),
        cmocka_unit_test(test_string_rep_sizes),       cmocka_unit_test(test_pattern_budget),
        cmocka_unit_test(test_pattern_matches_luajit),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
