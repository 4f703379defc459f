/*
 * test_lua_vm.c - the Lua VM host: sandbox escapes, runaway code, memory
 * bombs, tracebacks, require, JSON conversion, the moonbase module.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lualib.h>

#include "convert.h"
#include "mb.h"
#include "vm.h"

static char g_lib[256]; /* temporary lib dir for require tests */

/* Built twice: test_lua_vm (JIT off) and test_lua_vm_jit (MB_TEST_JIT=1:
 * every test with LuaJIT's compiler on). With the compiler on, a runaway
 * compiled loop is stopped hard and its VM discarded (vm.h, "Compiled
 * code"): the helpers below then continue with a fresh VM. */
#ifndef MB_TEST_JIT
#define MB_TEST_JIT 0
#endif
/* Under valgrind (JIT code is translated and checked too) the time
 * budgets and the bounds on them are 10 times larger. */
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define MB_SLOW (RUNNING_ON_VALGRIND ? 10u : 1u)
#endif
#endif
#ifndef MB_SLOW
#define MB_SLOW 1u
#endif
static void (*g_on_renew)(mb_lua_vm *vm); /* re-register test globals */
static int g_renewed;                     /* VMs replaced after a hard stop */

/* ---- helpers ------------------------------------------------------------ */

static mb_lua_vm *new_vm(size_t mem, unsigned time_ms)
{
    mb_lua_limits lim = {
        .mem_bytes = mem, .time_ms = time_ms * MB_SLOW, .warn_ms = 10000 * MB_SLOW, .jit = MB_TEST_JIT};
    char err[256] = "";
    mb_lua_vm *vm = mb_lua_vm_new(&lim, g_lib, err, sizeof err);
    if (!vm) fprintf(stderr, "vm_new: %s\n", err);
    assert_non_null(vm);
    return vm;
}

/* Load and call code with nres results; err gets the message. */
static int run(mb_lua_vm *vm, const char *code, int nres, char *err, size_t errlen)
{
    int rc = mb_lua_vm_load_string(vm, code, "=test", err, errlen);
    if (rc != MB_LUA_OK) return rc;
    return mb_lua_vm_pcall(vm, 0, nres, err, errlen);
}

/* Run code that must succeed and return a string; compare it. */
static void expect_str(mb_lua_vm *vm, const char *code, const char *want)
{
    char err[1024] = "";
    lua_State *L = mb_lua_vm_state(vm);
    int rc = run(vm, code, 1, err, sizeof err);
    if (rc != MB_LUA_OK) fprintf(stderr, "code: %s\nerr: %s\n", code, err);
    assert_int_equal(rc, MB_LUA_OK);
    const char *got = lua_tostring(L, -1);
    if (!got || strcmp(got, want) != 0)
        fprintf(stderr, "code: %s\nwant: %s\ngot:  %s\n", code, want, got ? got : "(non-string)");
    assert_non_null(got);
    assert_string_equal(got, want);
    lua_pop(L, 1);
}

/* A VM stopped in compiled code is discarded: continue with a new one
 * with the same limits (JIT builds only). */
static void renew_if_killed(mb_lua_vm **vmp)
{
    if (!mb_lua_vm_killed(*vmp)) return;
    assert_true(MB_TEST_JIT);
    const mb_lua_limits *l = mb_lua_vm_limits(*vmp);
    size_t mem = l->mem_bytes;
    unsigned ms = l->time_ms / MB_SLOW;
    mb_lua_vm_free(*vmp);
    *vmp = new_vm(mem, ms);
    if (g_on_renew) g_on_renew(*vmp);
    g_renewed++;
}

/* Run code that must fail with status want and a message containing needle. */
#define expect_fail(vm, code, want, needle) expect_fail_(&(vm), code, want, needle)
static void expect_fail_(mb_lua_vm **vmp, const char *code, int want, const char *needle)
{
    char err[2048] = "";
    int top = lua_gettop(mb_lua_vm_state(*vmp));
    int rc = run(*vmp, code, 0, err, sizeof err);
    if (rc != want || (needle && !strstr(err, needle)))
        fprintf(stderr, "code: %s\nrc=%d want=%d\nerr: %s\nneedle: %s\n", code, rc, want, err,
                needle ? needle : "");
    assert_int_equal(rc, want);
    if (needle) assert_non_null(strstr(err, needle));
    if (mb_lua_vm_killed(*vmp)) {
        assert_int_equal(want, MB_LUA_ERR_TIMEOUT);
        renew_if_killed(vmp);
        return;
    }
    assert_int_equal(lua_gettop(mb_lua_vm_state(*vmp)), top);
}

static void write_file(const char *dir, const char *name, const void *data, size_t len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}

static void write_text(const char *name, const char *text) { write_file(g_lib, name, text, strlen(text)); }

/* Real LuaJIT bytecode, made in an ordinary (unsandboxed) state. */
static char *make_bytecode(size_t *len)
{
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    assert_int_equal(luaL_dostring(L, "return string.dump(function() return 'pwned' end)"), 0);
    size_t n;
    const char *s = lua_tolstring(L, -1, &n);
    char *copy = malloc(n);
    memcpy(copy, s, n);
    *len = n;
    lua_close(L);
    return copy;
}

static int group_setup(void **state)
{
    MB_UNUSED(state);
    snprintf(g_lib, sizeof g_lib, "/tmp/mb_lua_test_XXXXXX");
    if (!mkdtemp(g_lib)) return -1;
    char sub[300];
    snprintf(sub, sizeof sub, "%s/sub", g_lib);
    mkdir(sub, 0700);
    return 0;
}

static int group_teardown(void **state)
{
    MB_UNUSED(state);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_lib);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- sandbox ------------------------------------------------------------ */

static void test_sandbox_globals(void **state)
{
    MB_UNUSED(state);
    mb_lua_vm *vm = new_vm(0, 2000);
    static const char *const absent[] = {
        "io",      "debug",     "ffi",       "jit",       "package",    "dofile",       "loadfile",
        "getfenv", "setfenv",   "newproxy",  "module",    "gcinfo",     "string.dump",  "os.execute",
        "os.exit", "os.getenv", "os.remove", "os.rename", "os.tmpname", "os.setlocale",
    };
    for (size_t i = 0; i < MB_ARRAY_LEN(absent); i++) {
        char code[128];
        snprintf(code, sizeof code, "return type(%s)", absent[i]);
        expect_str(vm, code, "nil");
    }
    static const char *const present[] = {
        "os.time",  "os.date", "os.clock", "string.format", "table.concat", "math.floor", "coroutine.wrap",
        "bit.band", "pcall",   "load",     "loadstring",    "require",      "print",      "collectgarbage",
    };
    for (size_t i = 0; i < MB_ARRAY_LEN(present); i++) {
        char code[128];
        snprintf(code, sizeof code, "return type(%s)", present[i]);
        expect_str(vm, code, "function");
    }
    /* the escapes themselves, as a script would try them */
    expect_fail(vm, "io.open('/etc/passwd')", MB_LUA_ERR_RUNTIME, "io");
    expect_fail(vm, "os.execute('touch /tmp/pwned')", MB_LUA_ERR_RUNTIME, "execute");
    expect_fail(vm, "package.loadlib('/lib/x86_64-linux-gnu/libc.so.6', 'system')", MB_LUA_ERR_RUNTIME,
                "package");
    expect_fail(vm, "debug.getregistry()", MB_LUA_ERR_RUNTIME, "debug");
    expect_fail(vm, "ffi.C.system('id')", MB_LUA_ERR_RUNTIME, "ffi");
    expect_fail(vm, "jit.on()", MB_LUA_ERR_RUNTIME, "jit");
    expect_fail(vm, "return getfenv(require)", MB_LUA_ERR_RUNTIME, "getfenv");
    expect_fail(vm, "setfenv(print, {})", MB_LUA_ERR_RUNTIME, "setfenv");
    expect_fail(vm, "string.dump(print)", MB_LUA_ERR_RUNTIME, "dump");
    expect_fail(vm, "return ('x'):dump()", MB_LUA_ERR_RUNTIME, "dump");
    /* os.date with absurd times must not crash */
    expect_str(vm, "local ok = pcall(os.date, '*t', 1e300) return 'alive'", "alive");
    expect_str(vm, "return type(os.date('%Y-%m-%d %E %O %', 0))", "string");
    mb_lua_vm_free(vm);
}

static void test_sandbox_require_native(void **state)
{
    MB_UNUSED(state);
    mb_lua_vm *vm = new_vm(0, 2000);
    /* a shared object sitting in the lib dir is never loaded */
    write_text("native.so", "\x7f"
                            "ELF not really");
    static const char *const names[] = {"ffi",     "jit",    "io",          "debug",         "os",
                                        "package", "native", "socket.core", "string.buffer", "table.new"};
    for (size_t i = 0; i < MB_ARRAY_LEN(names); i++) {
        char code[128];
        snprintf(code, sizeof code, "require('%s')", names[i]);
        expect_fail(vm, code, MB_LUA_ERR_RUNTIME, "not found");
    }
    expect_fail(vm, "require('native.so')", MB_LUA_ERR_RUNTIME, "not found");
    mb_lua_vm_free(vm);
}

static void test_sandbox_load_bytecode(void **state)
{
    MB_UNUSED(state);
    mb_lua_vm *vm = new_vm(0, 2000);
    lua_State *L = mb_lua_vm_state(vm);
    size_t n;
    char *bc = make_bytecode(&n);
    lua_pushlstring(L, bc, n);
    lua_setglobal(L, "BC");
    expect_str(vm, "local f, e = load(BC) return tostring(f) .. ' ' .. e",
               "nil =(load): binary (bytecode) chunks are not allowed");
    expect_str(vm, "local f, e = loadstring(BC) return tostring(f)", "nil");
    expect_str(vm, "local f, e = load(BC, 'x', 'b') return tostring(f)", "nil");
    expect_str(
        vm,
        "local i = 0 local f = load(function() i = i + 1 if i == 1 then return BC end end) return tostring(f)",
        "nil");
    /* text still loads, with an optional env */
    expect_str(vm, "return tostring(load('return 1 + 1')())", "2");
    expect_str(vm, "return load('return x', 'c', 't', {x = 'envok'})()", "envok");
    /* the host API refuses bytecode too */
    char err[256];
    char *code = malloc(n + 1);
    memcpy(code, bc, n);
    code[n] = '\0';
    assert_int_equal(mb_lua_vm_load_string(vm, code, "=bc", err, sizeof err), MB_LUA_ERR_RUNTIME);
    assert_non_null(strstr(err, "binary"));
    write_file(g_lib, "bcmod.lua", bc, n);
    char path[512];
    snprintf(path, sizeof path, "%s/bcmod.lua", g_lib);
    assert_int_equal(mb_lua_vm_load_file(vm, path, NULL, err, sizeof err), MB_LUA_ERR_RUNTIME);
    assert_non_null(strstr(err, "binary"));
    expect_fail(vm, "require('bcmod')", MB_LUA_ERR_RUNTIME, "binary");
    free(code);
    free(bc);
    mb_lua_vm_free(vm);
}

static int l_obj_get(lua_State *L)
{
    int *v = mb_lua_udata_check(L, 1, "test.obj");
    lua_pushinteger(L, *v);
    return 1;
}

static void test_sandbox_userdata_metatable(void **state)
{
    MB_UNUSED(state);
    mb_lua_vm *vm = new_vm(0, 2000);
    lua_State *L = mb_lua_vm_state(vm);
    static const luaL_Reg methods[] = {{"get", l_obj_get}, {NULL, NULL}};
    mb_lua_udata_define(L, "test.obj", methods, NULL);
    int *v = mb_lua_udata_new(L, "test.obj", sizeof *v);
    *v = 42;
    lua_setglobal(L, "OBJ");
    expect_str(vm, "return tostring(OBJ:get())", "42");
    expect_str(vm, "return getmetatable(OBJ)", "protected");
    expect_fail(vm, "setmetatable(OBJ, {})", MB_LUA_ERR_RUNTIME, "bad argument");
    expect_fail(vm, "OBJ.get = function() return 0 end", MB_LUA_ERR_RUNTIME, NULL);
    expect_fail(vm, "rawset(getmetatable(OBJ), '__index', {})", MB_LUA_ERR_RUNTIME, "bad argument");
    expect_str(vm, "return tostring(getmetatable(OBJ).__index)", "nil");
    /* a method called on a forged receiver is refused */
    expect_fail(vm, "OBJ.get({})", MB_LUA_ERR_RUNTIME, "test.obj expected");
    expect_str(vm, "return type(mb_lua_udata_new)", "nil");
    assert_non_null(mb_lua_udata_test(L, (lua_getglobal(L, "OBJ"), -1), "test.obj"));
    assert_null(mb_lua_udata_test(L, -1, "other.type"));
    lua_pop(L, 1);
    /* the string metatable is protected the same way */
    expect_str(vm, "return getmetatable('')", "protected");
    expect_fail(vm, "setmetatable('', {})", MB_LUA_ERR_RUNTIME, "bad argument");
    expect_str(vm, "return ('abc'):upper()", "ABC");
    /* built-in module tables are read-only */
    expect_fail(vm, "require('moonbase').now = nil", MB_LUA_ERR_RUNTIME, "read-only");
    expect_fail(vm, "setmetatable(require('moonbase'), nil)", MB_LUA_ERR_RUNTIME, "protected");
    expect_str(vm, "return getmetatable(require('moonbase'))", "protected");
    mb_lua_vm_free(vm);
}

static void test_sandbox_collectgarbage(void **state)
{
    MB_UNUSED(state);
    mb_lua_vm *vm = new_vm(0, 2000);
    expect_str(vm, "return type(collectgarbage('count'))", "number");
    expect_str(vm, "collectgarbage() collectgarbage('collect') return type(collectgarbage('step', 10))",
               "boolean");
    static const char *const bad[] = {"stop", "restart", "setpause", "setstepmul", "isrunning"};
    for (size_t i = 0; i < MB_ARRAY_LEN(bad); i++) {
        char code[128];
        snprintf(code, sizeof code, "collectgarbage('%s', 1)", bad[i]);
        expect_fail(vm, code, MB_LUA_ERR_RUNTIME, "invalid option");
    }
    /* a collect loop is just a loop: the time budget ends it */
    mb_lua_vm_free(vm);
    vm = new_vm(0, 200);
    expect_fail(vm, "while true do collectgarbage() end", MB_LUA_ERR_TIMEOUT, "timed out");
    mb_lua_vm_free(vm);
}

static void test_sandbox_coroutines(void **state)
{
    MB_UNUSED(state);
    mb_lua_vm *vm = new_vm(4u << 20, 300);
    /* suspended forever: just an object, the call returns */
    expect_str(vm,
               "CO = coroutine.create(function() while true do coroutine.yield(1) end end) "
               "coroutine.resume(CO) return coroutine.status(CO)",
               "suspended");
    /* a coroutine that never yields is stopped by the time budget */
    int64_t t0 = mb_now_ms();
    expect_fail(vm, "local co = coroutine.create(function() while true do end end) coroutine.resume(co)",
                MB_LUA_ERR_TIMEOUT, "timed out");
    assert_true(mb_now_ms() - t0 < 2000 * MB_SLOW);
    /* ... also through coroutine.wrap inside pcall */
    expect_fail(vm, "for i = 1, 1e9 do pcall(coroutine.wrap(function() while true do end end)) end",
                MB_LUA_ERR_TIMEOUT, "timed out");
    /* creating coroutines without end hits the memory cap */
    expect_fail(vm, "local t = {} while true do t[#t + 1] = coroutine.create(print) end", MB_LUA_ERR_MEMORY,
                "not enough memory");
    if (!g_renewed) expect_str(vm, "return coroutine.status(CO)", "suspended"); /* CO lives on */
    mb_lua_vm_free(vm);
}

/* ---- runaway code ------------------------------------------------------- */

#define expect_timeout(vm, code) expect_timeout_(&(vm), code)
static void expect_timeout_(mb_lua_vm **vmp, const char *code)
{
    char err[2048] = "";
    if (getenv("MB_TEST_VERBOSE")) fprintf(stderr, "timeout case: %s\n", code);
    int64_t t0 = mb_now_ms();
    int rc = run(*vmp, code, 0, err, sizeof err);
    int64_t ms = mb_now_ms() - t0;
    if (rc != MB_LUA_ERR_TIMEOUT) fprintf(stderr, "code: %s\nrc=%d err=%s\n", code, rc, err);
    assert_int_equal(rc, MB_LUA_ERR_TIMEOUT);
    assert_non_null(strstr(err, "timed out"));
    /* time_ms is 200: stopped near it, not before */
    if (ms < 190 * MB_SLOW || ms > 700 * MB_SLOW)
        fprintf(stderr, "code: %s took %lld ms\n", code, (long long)ms);
    assert_true(ms >= 190 * MB_SLOW);
    assert_true(ms <= 700 * MB_SLOW);
    /* and the VM is still good for a new call (or, stopped inside compiled
     * code, refuses every call until it is replaced) */
    if (mb_lua_vm_killed(*vmp)) {
        assert_non_null(strstr(err, "inside compiled code"));
        char e2[256];
        assert_int_equal(run(*vmp, "return 1", 0, e2, sizeof e2), MB_LUA_ERR_TIMEOUT);
        renew_if_killed(vmp);
    }
    expect_str(*vmp, "return tostring(6 * 7)", "42");
}

static void test_runaway_loops(void **state)
{
    MB_UNUSED(state);
    mb_lua_vm *vm = new_vm(0, 200);
    expect_timeout(vm, "while true do end");
    expect_timeout(vm, "for i = 1, 1e18 do end");
    expect_timeout(vm, "local function f(x) return x + 1 end local n = 0 while true do n = f(n) end");
    expect_timeout(vm, "local co = coroutine.wrap(function() while true do end end) co()");
    expect_timeout(vm, "while true do local s = string.rep('ab', 1000):gsub('a', 'c'):upper() end");
    expect_timeout(vm, "repeat local t = {} for i = 1, 100 do t[i] = i end until false");
    /* recursion into pcall and error handlers cannot swallow the abort */
    expect_timeout(vm, "while true do pcall(function() while true do end end) end");
    expect_timeout(
        vm, "while true do xpcall(function() while true do end end, function() while true do end end) end");
    expect_timeout(vm, "local ok, e = pcall(function() while true do end end) while true do end");
    expect_timeout(vm, "return pcall(function() while true do end end)");
    expect_timeout(vm, "while true do pcall(error, 'x') end");
    expect_timeout(
        vm,
        "local t = setmetatable({}, {__index = function(t, k) return k end}) local n = 0 while true do n = n + t[1] end");
    expect_timeout(vm, "table.sort({3,2,1,5,4,7,6,8,9,10}, function(a, b) while true do end end)");
    expect_timeout(vm, "local s = ('x'):rep(100) while true do s:gsub('x', function(c) return c end) end");
    mb_lua_vm_free(vm);
}

static void test_runaway_patterns(void **state)
{
    MB_UNUSED(state);
    /* Backtracking patterns run in C where no hook fires: a search that
     * could be long runs in the guarded matcher (pattern.c) and is refused
     * after 50 ms, so one call cannot freeze the loop. */
    mb_lua_vm *vm = new_vm(0, 1000);
    int64_t t0 = mb_now_ms();
    expect_fail(vm, "string.find(string.rep('a', 5000), '.-.-b')", MB_LUA_ERR_RUNTIME, "too complex");
    expect_fail(vm, "local s = ('a'):rep(20000) return s:find('a.-b')", MB_LUA_ERR_RUNTIME, "too complex");
    expect_fail(vm, "local s = ('x'):rep(20000) for w in s:gmatch('(.-)y(.-)z') do end", MB_LUA_ERR_RUNTIME,
                "too complex");
    expect_fail(vm, "local s = ('x'):rep(20000) s:gsub('x*y', '')", MB_LUA_ERR_RUNTIME, "too complex");
    expect_fail(vm, "local s = ('('):rep(20000) s:find('%b()')", MB_LUA_ERR_RUNTIME, "too complex");
    assert_true(mb_now_ms() - t0 < 500);
    /* ordinary uses still work, including on long subjects */
    expect_str(vm, "return ('  hi  '):match('^%s*(.-)%s*$')", "hi");
    expect_str(vm, "return ('key=val'):match('^(%w+)=(%w+)$')", "key");
    expect_str(vm, "return (('a b '):rep(100000):gsub('%s+', '')):sub(1, 4)", "abab");
    expect_str(vm, "local s = ('x'):rep(9000) return tostring(s:find('a.-b'))", "nil");
    expect_str(vm, "return tostring(('a.b'):find('.', 1, true))", "2");
    expect_str(vm, "return tostring((('a.b'):rep(50000)):find('.ba', 1, true))", "2");
    expect_str(
        vm,
        "local t = {} for k, v in ('a=1, b=2'):gmatch('(%w+)=(%w+)') do t[#t + 1] = k .. v end return table.concat(t, ',')",
        "a1,b2");
    expect_str(vm, "return (('hello world'):gsub('o', '0'))", "hell0 w0rld");
    expect_str(vm, "return (('[x]'):gsub('[%[%]]', ''))", "x");
    mb_lua_vm_free(vm);
}

static int l_call_back(lua_State *L)
{
    /* a host function calling back into Lua through the VM */
    mb_lua_vm *vm = mb_lua_vm_from_state(L);
    assert_non_null(vm);
    char err[256];
    lua_pushvalue(L, 1);
    int rc = mb_lua_vm_pcall(vm, 0, 0, err, sizeof err);
    lua_pushstring(L, mb_lua_status_name(rc));
    return 1;
}

static void register_callback(mb_lua_vm *vm)
{
    lua_State *L = mb_lua_vm_state(vm);
    lua_pushcfunction(L, l_call_back);
    lua_setglobal(L, "callback");
}

static void test_runaway_nested_call(void **state)
{
    MB_UNUSED(state);
    mb_lua_vm *vm = new_vm(0, 200);
    register_callback(vm);
    g_on_renew = register_callback;
    expect_str(vm, "return callback(function() end)", "ok");
    expect_str(vm, "return callback(function() error('inner') end)", "runtime");
    /* a timeout inside the nested call ends the outer call as well */
    expect_timeout(vm, "local r = callback(function() while true do end end) while true do end");
    expect_timeout(vm, "callback(function() while true do end end) return 'escaped'");
    g_on_renew = NULL;
    mb_lua_vm_free(vm);
}

/* ---- compiled code (JIT on) --------------------------------------------- */
#if MB_TEST_JIT

/* Loops that LuaJIT compiles: the count hook never runs inside a trace,
 * the CPU-time signal stops them (vm.h, "Compiled code"). */
static void test_jit_compiled_loops(void **state)
{
    MB_UNUSED(state);
    char err[2048];
    uint64_t kills = mb_lua_vm_kills();
    size_t base_total = mb_lua_mem_total();
    mb_lua_vm *vm = new_vm(16u << 20, 200);
    mb_lua_vm *other = new_vm(16u << 20, 10000); /* a neighbour with its own traces */
    assert_true(mb_lua_vm_jit(vm));
    /* the compiler is on: a long numeric loop runs at machine speed */
    expect_str(other, "local x = 0 for i = 1, 3e7 do x = x + i end return tostring(x > 0)", "true");
    expect_str(vm,
               "function count(n) local x = 0 for i = 1, n do x = x + i end return x end "
               "for i = 1, 20 do count(1000) end return 'warm'",
               "warm");

    /* a plain compiled loop, traced during its own first iterations */
    int64_t t0 = mb_now_ms();
    assert_int_equal(run(vm, "for i = 1, math.huge do end", 0, err, sizeof err), MB_LUA_ERR_TIMEOUT);
    int64_t ms = mb_now_ms() - t0;
    if (ms < 190 * MB_SLOW || ms > 700 * MB_SLOW)
        fprintf(stderr, "compiled loop stopped after %lld ms\n", (long long)ms);
    assert_true(ms >= 190 * MB_SLOW && ms <= 700 * MB_SLOW);
    /* named by the line where its trace started */
    char want[128];
    snprintf(want, sizeof want, "test:1: script timed out (limit %u ms)\n(stopped inside compiled code",
             200 * MB_SLOW);
    if (strncmp(err, want, strlen(want)) != 0) fprintf(stderr, "err: %s\n", err);
    assert_int_equal(strncmp(err, want, strlen(want)), 0);
    assert_true(mb_lua_vm_killed(vm));
    assert_int_equal(mb_lua_vm_kills(), kills + 1);
    /* the stopped VM: its memory is gone, the stand-in state is harmless,
     * every call and load is refused */
    assert_true(mb_lua_vm_mem_used(vm) < (64u << 10));
    lua_State *L = mb_lua_vm_state(vm);
    lua_pushnil(L);
    lua_pop(L, 1);
    luaL_unref(L, LUA_REGISTRYINDEX, 7);
    assert_int_equal(mb_lua_vm_load_string(vm, "return 1", NULL, err, sizeof err), MB_LUA_ERR_TIMEOUT);
    lua_pushnil(L);
    assert_int_equal(mb_lua_vm_pcall(vm, 0, 0, err, sizeof err), MB_LUA_ERR_TIMEOUT);
    assert_int_equal(lua_gettop(L), 0);
    mb_lua_vm_free(vm);

    /* a function warmed up (traced) with bounded counts, then unbounded */
    vm = new_vm(16u << 20, 200);
    expect_str(vm,
               "function count(n) local x = 0 for i = 1, n do x = x + i end return x end "
               "for i = 1, 20 do count(1000) end return 'warm'",
               "warm");
    assert_int_equal(run(vm, "count(1e15)", 0, err, sizeof err), MB_LUA_ERR_TIMEOUT);
    assert_true(mb_lua_vm_killed(vm));
    mb_lua_vm_free(vm);

    /* a compiled loop that allocates: the allocator refuses past the
     * deadline, the error unwinds the trace, the VM survives */
    vm = new_vm(16u << 20, 200);
    t0 = mb_now_ms();
    assert_int_equal(run(vm, "local t for i = 1, math.huge do t = {i, i + 1} end", 0, err, sizeof err),
                     MB_LUA_ERR_TIMEOUT);
    ms = mb_now_ms() - t0;
    assert_true(ms >= 190 * MB_SLOW && ms <= 700 * MB_SLOW);
    assert_non_null(strstr(err, "script timed out (limit"));
    assert_false(mb_lua_vm_killed(vm));
    expect_str(vm, "return tostring(6 * 7)", "42");
    /* ... also when the script catches the error */
    assert_int_equal(
        run(vm, "while true do pcall(function() local t for i = 1, math.huge do t = {i} end end) end", 0, err,
            sizeof err),
        MB_LUA_ERR_TIMEOUT);
    if (mb_lua_vm_killed(vm)) {
        mb_lua_vm_free(vm);
        vm = new_vm(16u << 20, 200);
    }
    /* string building in a compiled loop */
    assert_int_equal(run(vm, "local s for i = 1, math.huge do s = 'k' .. i end", 0, err, sizeof err),
                     MB_LUA_ERR_TIMEOUT);
    mb_lua_vm_free(vm);

    /* a compiled loop inside a host function's nested call */
    vm = new_vm(16u << 20, 200);
    register_callback(vm);
    assert_int_equal(
        run(vm, "callback(function() for i = 1, math.huge do end end) return 'escaped'", 0, err, sizeof err),
        MB_LUA_ERR_TIMEOUT);
    assert_true(mb_lua_vm_killed(vm));
    mb_lua_vm_free(vm);

    /* the neighbour and its traces are unaffected */
    expect_str(other, "local x = 0 for i = 1, 3e7 do x = x + i end return tostring(x > 0)", "true");
    mb_lua_vm_free(other);
    assert_int_equal(mb_lua_mem_total(), base_total);
}
#endif

/* ---- memory ------------------------------------------------------------- */

static void test_memory_bombs(void **state)
{
    MB_UNUSED(state);
    size_t base_total = mb_lua_mem_total();
    mb_lua_vm *vm = new_vm(16u << 20, 5000);
    lua_State *L = mb_lua_vm_state(vm);
    size_t idle = mb_lua_vm_mem_used(vm);
    assert_true(idle > 0);
    assert_true(idle < (512u << 10));
    assert_true(mb_lua_mem_total() >= base_total + idle);

    expect_fail(vm, "local t = {} while true do t[#t + 1] = {#t} end", MB_LUA_ERR_MEMORY,
                "not enough memory");
    assert_true(mb_lua_vm_mem_used(vm) <= (16u << 20) + MB_LUA_HOST_HEADROOM);
    expect_fail(vm, "local s = 'x' while true do s = s .. s end", MB_LUA_ERR_MEMORY, "not enough memory");
    expect_fail(vm, "local s = string.rep('x', 1e9)", MB_LUA_ERR_MEMORY, "not enough memory");
    expect_fail(vm, "local t = {} for i = 1, 1e9 do t[i] = ('x'):rep(100) .. i end", MB_LUA_ERR_MEMORY, NULL);
    expect_fail(
        vm,
        "local s = ('x'):rep(2^20) local t = {} for i = 1, 100 do t[i] = table.concat({s, s, s, s, i}) end",
        MB_LUA_ERR_MEMORY, NULL);
    /* caught by the script and rethrown: still reported as memory */
    expect_fail(vm,
                "local ok, e = pcall(function() local t = {} while true do t[#t+1] = {} end end) error(e, 0)",
                MB_LUA_ERR_MEMORY, "not enough memory");
    /* caught and ignored: the script goes on and the call succeeds */
    expect_str(
        vm, "local ok = pcall(function() local s = 'x' while true do s = s .. s end end) return tostring(ok)",
        "false");
    /* the garbage goes away and the VM keeps working */
    /* (LuaJIT halves its string scratch buffer once per GC cycle) */
    for (int i = 0; i < 6; i++) lua_gc(L, LUA_GCCOLLECT, 0);
    assert_true(mb_lua_vm_mem_used(vm) < idle + (256u << 10));
    expect_str(vm, "local t = {} for i = 1, 1000 do t[i] = i end return tostring(#t)", "1000");

    /* a second VM is unaffected */
    mb_lua_vm *vm2 = new_vm(16u << 20, 1000);
    expect_str(vm2, "return 'fresh'", "fresh");
    mb_lua_vm_free(vm2);
    mb_lua_vm_free(vm);
    assert_int_equal(mb_lua_mem_total(), base_total);
}

static void test_memory_live_near_cap(void **state)
{
    MB_UNUSED(state);
    /* 9 MiB live in a 16 MiB VM while churning garbage must not fail:
     * LuaJIT has no emergency GC, the VM collects before the cap. */
    mb_lua_vm *vm = new_vm(16u << 20, 10000);
    expect_str(vm,
               "KEEP = {} for i = 1, 9 do KEEP[i] = ('k'):rep(2^20 - 64) .. i end "
               "local n = 0 for i = 1, 3000 do local g = ('g'):rep(65536) .. i n = n + #g end "
               "return tostring(n > 0)",
               "true");
    assert_true(mb_lua_vm_mem_used(vm) < (16u << 20));
    mb_lua_vm_free(vm);
}

static void test_memory_too_small(void **state)
{
    MB_UNUSED(state);
    mb_lua_limits lim = {.mem_bytes = 4096};
    char err[256] = "";
    size_t before = mb_lua_mem_total();
    mb_lua_vm *vm = mb_lua_vm_new(&lim, NULL, err, sizeof err);
    assert_null(vm);
    assert_true(strlen(err) > 0);
    assert_int_equal(mb_lua_mem_total(), before);
}

/* ---- calls, tracebacks, loading ----------------------------------------- */

static void test_traceback(void **state)
{
    MB_UNUSED(state);
    mb_lua_vm *vm = new_vm(0, 1000);
    write_text("tb.lua", "local M = {}\n"
                         "local function inner(x)\n"
                         "  error('boom ' .. x)\n"
                         "end\n"
                         "function M.outer() inner('here') end\n"
                         "return M\n");
    char err[2048];
    char path[512];
    snprintf(path, sizeof path, "%s/tb.lua", g_lib);
    assert_int_equal(mb_lua_vm_load_file(vm, path, "@tb.lua", err, sizeof err), MB_LUA_OK);
    assert_int_equal(mb_lua_vm_pcall(vm, 0, 1, err, sizeof err), MB_LUA_OK);
    lua_State *L = mb_lua_vm_state(vm);
    lua_getfield(L, -1, "outer");
    int rc = mb_lua_vm_pcall(vm, 0, 0, err, sizeof err);
    assert_int_equal(rc, MB_LUA_ERR_RUNTIME);
    assert_non_null(strstr(err, "tb.lua:3: boom here"));
    assert_non_null(strstr(err, "stack traceback:"));
    assert_non_null(strstr(err, "tb.lua:5"));
    lua_pop(L, 1);
    assert_int_equal(lua_gettop(L), 0);

    /* non-string error objects are described */
    expect_fail(vm, "error({code = 1})", MB_LUA_ERR_RUNTIME, "error object is a table value");
    expect_fail(vm, "error()", MB_LUA_ERR_RUNTIME, "nil error");
    /* syntax errors name file and line */
    write_text("bad.lua", "local x = 1\nlocal y = = 2\n");
    snprintf(path, sizeof path, "%s/bad.lua", g_lib);
    assert_int_equal(mb_lua_vm_load_file(vm, path, NULL, err, sizeof err), MB_LUA_ERR_RUNTIME);
    assert_non_null(strstr(err, "bad.lua:2:"));
    assert_int_equal(mb_lua_vm_load_file(vm, "/nonexistent/x.lua", NULL, err, sizeof err),
                     MB_LUA_ERR_RUNTIME);
    assert_non_null(strstr(err, "cannot open"));
    assert_int_equal(lua_gettop(L), 0);
    /* stack overflow by recursion is an ordinary error */
    expect_fail(vm, "local function f() return 1 + f() end f()", MB_LUA_ERR_RUNTIME, "stack overflow");
    /* multiple results */
    assert_int_equal(mb_lua_vm_load_string(vm, "return 1, 2, 3", NULL, err, sizeof err), MB_LUA_OK);
    assert_int_equal(mb_lua_vm_pcall(vm, 0, LUA_MULTRET, err, sizeof err), MB_LUA_OK);
    assert_int_equal(lua_gettop(L), 3);
    lua_settop(L, 0);
    mb_lua_vm_free(vm);
}

/* Capture what mb_log writes to stderr while fn runs. */
static char *capture_stderr(void (*fn)(void *), void *arg)
{
    char path[] = "/tmp/mb_lua_log_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    fn(arg);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    lseek(fd, 0, SEEK_SET);
    char *buf = calloc(1, 65536);
    ssize_t n = read(fd, buf, 65535);
    assert_true(n >= 0);
    close(fd);
    unlink(path);
    return buf;
}

static void slow_call(void *arg)
{
    mb_lua_vm *vm = arg;
    char err[256];
    char code[96];
    snprintf(code, sizeof code, "local t = os.clock() while os.clock() - t < %g do end", 0.08 * MB_SLOW);
    assert_int_equal(run(vm, code, 0, err, sizeof err), MB_LUA_OK);
    assert_int_equal(
        run(vm, "require('moonbase').log('warn', 'hello', 42, true, nil) print('p', 1)", 0, err, sizeof err),
        MB_LUA_OK);
}

static void test_slow_call_and_log(void **state)
{
    MB_UNUSED(state);
    mb_lua_limits lim = {.warn_ms = 30 * MB_SLOW, .time_ms = 1000 * MB_SLOW};
    mb_lua_vm *vm = mb_lua_vm_new(&lim, NULL, NULL, 0);
    assert_non_null(vm);
    mb_lua_vm_set_name(vm, "arena@1");
    assert_string_equal(mb_lua_vm_name(vm), "arena@1");
    char *out = capture_stderr(slow_call, vm);
    assert_non_null(strstr(out, "event=lua_slow_call ms="));
    assert_non_null(strstr(out, "script=\"arena@1\""));
    assert_non_null(strstr(out, "event=lua_log"));
    assert_non_null(strstr(out, "msg=\"hello 42 true nil\""));
    assert_non_null(strstr(out, "at=\"test:1\""));
    assert_non_null(strstr(out, "msg=\"p 1\""));
    /* exactly one slow call */
    assert_null(strstr(strstr(out, "lua_slow_call") + 1, "lua_slow_call"));
    free(out);
    mb_lua_vm_free(vm);
}

static void test_require(void **state)
{
    MB_UNUSED(state);
    mb_lua_vm *vm = new_vm(0, 1000);
    write_text("util.lua", "LOADS = (LOADS or 0) + 1 return { twice = function(x) return 2 * x end }");
    write_text("sub/mod.lua", "local u = require('util') return { name = ... .. ':' .. u.twice(21) }");
    write_text("broken.lua", "error('module broke')");
    write_text("noret.lua", "X_NORET = true");
    expect_str(vm, "return tostring(require('util').twice(4))", "8");
    expect_str(vm, "return require('sub.mod').name", "sub.mod:42");
    expect_str(vm, "return tostring(require('util') == require('util')) .. LOADS", "true1");
    expect_str(vm, "return tostring(require('noret'))", "true");
    expect_fail(vm, "require('../x')", MB_LUA_ERR_RUNTIME, "invalid module name");
    expect_fail(vm, "require('..util')", MB_LUA_ERR_RUNTIME, "invalid module name");
    expect_fail(vm, "require('/etc/passwd')", MB_LUA_ERR_RUNTIME, "invalid module name");
    expect_fail(vm, "require('sub/mod')", MB_LUA_ERR_RUNTIME, "invalid module name");
    expect_fail(vm, "require('util\\0x')", MB_LUA_ERR_RUNTIME, "invalid module name");
    expect_fail(vm, "require('')", MB_LUA_ERR_RUNTIME, "invalid module name");
    expect_fail(vm, "require('missing')", MB_LUA_ERR_RUNTIME, "module 'missing' not found");
    expect_fail(vm, "require('sub')", MB_LUA_ERR_RUNTIME, "not found"); /* a directory */
    expect_fail(vm, "require('broken')", MB_LUA_ERR_RUNTIME, "broken.lua:1: module broke");
    expect_fail(vm, "require('broken')", MB_LUA_ERR_RUNTIME, "previous error");
    /* built-ins */
    expect_str(vm, "return type(require('moonbase').now)", "function");
    expect_str(vm, "return require('cjson').encode({1, 2})", "[1,2]");
    expect_str(vm, "return tostring(require('cjson').null == require('moonbase').null)", "true");
    mb_lua_vm_free(vm);

    /* no lib dir: every file module fails */
    mb_lua_vm *vm2 = mb_lua_vm_new(NULL, NULL, NULL, 0);
    expect_fail(vm2, "require('util')", MB_LUA_ERR_RUNTIME, "not found");
    expect_str(vm2, "return type(require('moonbase'))", "table");
    mb_lua_vm_free(vm2);
}

static int l_hello(lua_State *L)
{
    mb_lua_vm *vm = mb_lua_vm_from_state(L);
    const char *host = mb_lua_vm_get_host(vm);
    lua_pushfstring(L, "hello %s from %s", luaL_checkstring(L, 1), host);
    return 1;
}

static void test_module(void **state)
{
    MB_UNUSED(state);
    mb_lua_vm *vm = new_vm(0, 1000);
    lua_State *L = mb_lua_vm_state(vm);
    assert_ptr_equal(mb_lua_vm_from_state(L), vm);
    lua_State *co = lua_newthread(L);
    assert_ptr_equal(mb_lua_vm_from_state(co), vm);
    lua_pop(L, 1);
    lua_State *plain = luaL_newstate();
    assert_null(mb_lua_vm_from_state(plain));
    lua_close(plain);

    mb_lua_vm_set_host(vm, "the host");
    assert_string_equal(mb_lua_vm_get_host(vm), "the host");
    assert_int_equal(mb_lua_vm_module_set(vm, "hello", l_hello), MB_LUA_OK);
    expect_str(vm, "return require('moonbase').hello('bob')", "hello bob from the host");
    assert_int_equal(mb_lua_vm_module_set(vm, "now", l_hello), MB_LUA_ERR_RUNTIME);
    assert_int_equal(mb_lua_vm_module_set(vm, "bad name", l_hello), MB_LUA_ERR_RUNTIME);
    assert_int_equal(mb_lua_vm_module_set(vm, "9x", l_hello), MB_LUA_ERR_RUNTIME);
    assert_int_equal(mb_lua_vm_module_set(vm, "", l_hello), MB_LUA_ERR_RUNTIME);
    expect_fail(vm, "require('moonbase').hello = print", MB_LUA_ERR_RUNTIME, "read-only");
    expect_str(vm, "return type(moonbase)", "nil"); /* no global */

    /* time */
    lua_settop(L, 0);
    char err[256];
    assert_int_equal(
        run(vm, "local mb = require('moonbase') return mb.now(), mb.mono_ms()", 2, err, sizeof err),
        MB_LUA_OK);
    double now = lua_tonumber(L, 1), mono = lua_tonumber(L, 2);
    assert_true(fabs(now - (double)mb_wall_ms()) < 1000);
    assert_true(fabs(mono - (double)mb_now_ms()) < 1000);
    lua_settop(L, 0);

    /* uuid v4 format, distinct values */
    assert_int_equal(
        run(vm, "local mb = require('moonbase') return mb.uuid(), mb.uuid()", 2, err, sizeof err), MB_LUA_OK);
    for (int k = 1; k <= 2; k++) {
        const char *u = lua_tostring(L, k);
        assert_non_null(u);
        assert_int_equal(strlen(u), 36);
        for (int i = 0; i < 36; i++) {
            if (i == 8 || i == 13 || i == 18 || i == 23) assert_int_equal(u[i], '-');
            else assert_non_null(strchr("0123456789abcdef", u[i]));
        }
        assert_int_equal(u[14], '4');
        assert_non_null(strchr("89ab", u[19]));
    }
    assert_string_not_equal(lua_tostring(L, 1), lua_tostring(L, 2));
    lua_settop(L, 0);
    expect_fail(vm, "require('moonbase').log('loud', 'x')", MB_LUA_ERR_RUNTIME, "invalid option");
    mb_lua_vm_free(vm);
}

/* ---- conversion --------------------------------------------------------- */

/* got equals exp, or say what came back before failing. */
static void assert_json_same(const char *path, json_t *got, json_t *exp, const char *in, const char *want)
{
    assert_non_null(got);
    if (!json_equal(got, exp)) {
        char *s = json_dumps(got, JSON_ENCODE_ANY);
        fprintf(stderr, "%s: in: %s\nwant: %s\ngot: %s\n", path, in, want ? want : in, s);
        free(s);
    }
    assert_true(json_equal(got, exp));
}

/* JSON text -> Lua (host push) -> jansson -> compare with want (or the input). */
static void roundtrip(mb_lua_vm *vm, const char *in, const char *want)
{
    lua_State *L = mb_lua_vm_state(vm);
    json_error_t je;
    json_t *src = json_loads(in, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    assert_non_null(src);
    json_t *exp = want ? json_loads(want, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je) : json_incref(src);
    assert_non_null(exp);
    char err[256];
    assert_int_equal(mb_lua_push_json_protected(vm, src, err, sizeof err), MB_LUA_OK);
    json_t *back = mb_lua_to_json(L, -1, err, sizeof err);
    if (!back) fprintf(stderr, "to_json(%s): %s\n", in, err);
    assert_json_same("jansson push", back, exp, in, want);
    /* the text decoder (decode.c, no tree) gives the same value */
    int top = lua_gettop(L);
    assert_int_equal(mb_lua_push_json_text(vm, in, strlen(in), 0, err, sizeof err), MB_LUA_OK);
    assert_int_equal(lua_gettop(L), top + 1);
    json_t *back2 = mb_lua_to_json(L, -1, err, sizeof err);
    assert_json_same("text decoder", back2, exp, in, want);
    json_decref(back2);
    lua_pop(L, 1);
    /* the text encoder agrees */
    mb_buf b = MB_BUF_INIT;
    assert_int_equal(mb_lua_encode_json(L, -1, &b, err, sizeof err), MB_OK);
    json_t *parsed = json_loadb(b.data, b.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    assert_non_null(parsed);
    assert_true(json_equal(parsed, exp));
    json_decref(parsed);
    mb_buf_free(&b);
    lua_pop(L, 1);
    json_decref(back);
    json_decref(exp);
    json_decref(src);
}

static void test_convert_roundtrip(void **state)
{
    MB_UNUSED(state);
    mb_lua_vm *vm = new_vm(0, 1000);
    roundtrip(vm, "{\"a\":1,\"b\":{\"c\":[1,2,{\"d\":\"e\"}]},\"f\":true,\"g\":false}", NULL);
    roundtrip(vm, "[1,2,3,[4,[5,[6]]]]", NULL);
    roundtrip(vm, "{}", NULL);
    roundtrip(vm, "[]", NULL);
    roundtrip(vm, "{\"list\":[],\"obj\":{}}", NULL);
    roundtrip(vm, "[1,null,3,null]", NULL);
    roundtrip(vm, "{\"a\":null,\"b\":1}", "{\"b\":1}");
    roundtrip(vm, "null", NULL);
    roundtrip(vm, "\"h\\u00e9llo \\u4e16\\u754c \\ud83d\\ude00\"", NULL);
    roundtrip(vm, "{\"\\u00e9t\\u00e9\":\"\\u0000nul\\n\\t\\\"q\\\\\"}", NULL);
    roundtrip(vm, "[9007199254740992,-9007199254740992,0,-1,1e300,0.1,-2.5,1.7976931348623157e308,5e-324]",
              "[9007199254740992,-9007199254740992,0,-1,1e300,0.1,-2.5,1.7976931348623157e308,5e-324]");
    roundtrip(vm, "[1.0, 2.5]", "[1, 2.5]"); /* integer-valued reals become integers */
    roundtrip(vm, "{\"players\":{\"p1\":{\"x\":1.5,\"y\":-3,\"hp\":100,\"name\":\"Ann\"}}}", NULL);
    mb_lua_vm_free(vm);
}

/* Lua value from code -> both encoders -> compare text semantically. */
static void encode_same(mb_lua_vm *vm, const char *code, const char *want)
{
    lua_State *L = mb_lua_vm_state(vm);
    char err[512];
    int rc = run(vm, code, 1, err, sizeof err);
    if (rc) fprintf(stderr, "%s: %s\n", code, err);
    assert_int_equal(rc, MB_LUA_OK);
    json_t *j = mb_lua_to_json(L, -1, err, sizeof err);
    if (!j) fprintf(stderr, "%s: %s\n", code, err);
    assert_non_null(j);
    char *dumped = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT);
    mb_buf b = MB_BUF_INIT;
    assert_int_equal(mb_lua_encode_json(L, -1, &b, err, sizeof err), MB_OK);
    json_error_t je;
    json_t *fromfast = json_loadb(b.data, b.len, JSON_DECODE_ANY, &je);
    json_t *fromjansson = json_loads(dumped, JSON_DECODE_ANY, &je);
    json_t *exp = json_loads(want, JSON_DECODE_ANY, &je);
    assert_non_null(fromfast);
    assert_non_null(exp);
    if (!json_equal(fromfast, exp) || !json_equal(fromjansson, exp))
        fprintf(stderr, "%s\nwant %s\nfast %.*s\njansson %s\n", code, want, (int)b.len, b.data, dumped);
    assert_true(json_equal(fromfast, exp));
    assert_true(json_equal(fromjansson, exp));
    json_decref(fromfast);
    json_decref(fromjansson);
    json_decref(exp);
    json_decref(j);
    free(dumped);
    mb_buf_free(&b);
    lua_pop(L, 1);
}

static void encode_exact(mb_lua_vm *vm, const char *code, const char *want)
{
    lua_State *L = mb_lua_vm_state(vm);
    char err[512];
    assert_int_equal(run(vm, code, 1, err, sizeof err), MB_LUA_OK);
    mb_buf b = MB_BUF_INIT;
    b.len = 0;
    mb_buf_append(&b, "prefix:", 7); /* appends after existing content */
    assert_int_equal(mb_lua_encode_json(L, -1, &b, err, sizeof err), MB_OK);
    mb_buf_cstr(&b);
    if (strcmp(b.data + 7, want) != 0) fprintf(stderr, "%s\nwant %s\ngot  %s\n", code, want, b.data);
    assert_string_equal(b.data + 7, want);
    assert_memory_equal(b.data, "prefix:", 7);
    mb_buf_free(&b);
    lua_pop(L, 1);
}

static void encode_error(mb_lua_vm *vm, const char *code, const char *needle);

static void test_convert_encode(void **state)
{
    MB_UNUSED(state);
    mb_lua_vm *vm = new_vm(0, 1000);
    encode_same(vm, "return {1, 2, 3}", "[1,2,3]");
    encode_same(vm, "return {}", "{}");
    encode_same(vm, "return require('moonbase').json.array()", "[]");
    encode_same(vm, "return require('moonbase').json.array({1, 2})", "[1,2]");
    encode_same(vm, "return {a = {}, b = require('moonbase').json.array()}", "{\"a\":{},\"b\":[]}");
    encode_same(vm, "return {x = 1, y = 'two', z = true, w = false}",
                "{\"x\":1,\"y\":\"two\",\"z\":true,\"w\":false}");
    encode_same(vm, "return {[1] = 'a', [3] = 'c'}", "{\"1\":\"a\",\"3\":\"c\"}");
    encode_same(vm, "return {1, 2, x = 3}", "{\"1\":1,\"2\":2,\"x\":3}");
    encode_same(vm, "return {[1.5] = 'f', [-2] = 'n'}", "{\"1.5\":\"f\",\"-2\":\"n\"}");
    encode_same(vm, "return {[0] = 'zero'}", "{\"0\":\"zero\"}");
    encode_same(vm, "local mb = require('moonbase') return {1, mb.null, 3}", "[1,null,3]");
    encode_same(vm, "return 2^53", "9007199254740992");
    encode_same(vm, "return -2^53", "-9007199254740992");
    encode_same(vm, "return 0.1", "0.1");
    encode_same(vm, "return 1/3", "0.3333333333333333");
    encode_same(vm, "return 1e300", "1e300");
    encode_same(vm, "return 'caf\\195\\169'", "\"caf\\u00e9\"");
    encode_same(vm, "return nil", "null");
    encode_same(vm, "local t = {n = {m = {o = {}}}} return t", "{\"n\":{\"m\":{\"o\":{}}}}");
    encode_same(
        vm,
        "local p = {} for i = 1, 8 do p['p' .. i] = {x = i * 1.5, y = -i, hp = 100, name = 'player' .. i} end "
        "return {tick = 7, players = p}",
        "{\"tick\":7,\"players\":{\"p1\":{\"x\":1.5,\"y\":-1,\"hp\":100,\"name\":\"player1\"},"
        "\"p2\":{\"x\":3,\"y\":-2,\"hp\":100,\"name\":\"player2\"},"
        "\"p3\":{\"x\":4.5,\"y\":-3,\"hp\":100,\"name\":\"player3\"},"
        "\"p4\":{\"x\":6,\"y\":-4,\"hp\":100,\"name\":\"player4\"},"
        "\"p5\":{\"x\":7.5,\"y\":-5,\"hp\":100,\"name\":\"player5\"},"
        "\"p6\":{\"x\":9,\"y\":-6,\"hp\":100,\"name\":\"player6\"},"
        "\"p7\":{\"x\":10.5,\"y\":-7,\"hp\":100,\"name\":\"player7\"},"
        "\"p8\":{\"x\":12,\"y\":-8,\"hp\":100,\"name\":\"player8\"}}}");
    /* exact text: integers without ".0", escapes, shortest reals */
    encode_exact(vm, "return {3, 2.5, -0.0, 1e15, 0.1}", "[3,2.5,0,1000000000000000,0.1]");
    encode_exact(vm, "return 'q\"b\\\\n\\nt\\tc\\1z\\127'", "\"q\\\"b\\\\n\\nt\\tc\\u0001z\x7f\"");
    encode_exact(vm, "return {a = {1, {b = true}}}", "{\"a\":[1,{\"b\":true}]}");
    /* every byte 1..127 inside a string: controls escaped, the rest verbatim */
    {
        char code[600], want[1200];
        size_t w = 0;
        int n = snprintf(code, sizeof code,
                         "local t = {} for i = 1, 127 do t[i] = string.char(i) end return table.concat(t)");
        assert_true(n > 0);
        want[w++] = '"';
        for (int ch = 1; ch < 128; ch++) {
            if (ch == '"' || ch == '\\') {
                want[w++] = '\\';
                want[w++] = (char)ch;
            } else if (ch == '\n' || ch == '\r' || ch == '\t' || ch == '\b' || ch == '\f') {
                want[w++] = '\\';
                want[w++] = ch == '\n' ? 'n' : ch == '\r' ? 'r' : ch == '\t' ? 't' : ch == '\b' ? 'b' : 'f';
            } else if (ch < 0x20) {
                w += (size_t)snprintf(want + w, sizeof want - w, "\\u%04x", ch);
            } else {
                want[w++] = (char)ch;
            }
        }
        want[w++] = '"';
        want[w] = '\0';
        encode_exact(vm, code, want);
        encode_same(vm, code, want);
    }
    encode_error(vm, "return {['x'] = 1, [2] = 2, ['2'] = 3}", "duplicate key \"2\"");
    encode_error(vm, "return {['-1.5'] = 1, [-1.5] = 2}", "duplicate key \"-1.5\"");
    encode_same(vm, "return {['01'] = 1, [1.5] = 2, ['1e3'] = 3, [1000] = 4}",
                "{\"01\":1,\"1.5\":2,\"1e3\":3,\"1000\":4}");
    encode_exact(vm, "return 'caf\\195\\169 \\240\\159\\152\\128'", "\"caf\xc3\xa9 \xf0\x9f\x98\x80\"");
    /* the script-side encoder is the same one */
    expect_str(vm, "return require('moonbase').json.encode({a = {1, 2}})", "{\"a\":[1,2]}");
    expect_str(vm,
               "local j = require('moonbase').json local t = j.decode('{\"a\":[],\"b\":[1,null]}') "
               "return j.encode(t.a) .. j.encode(t.b) .. tostring(t.b[2] == j.null)",
               "[][1,null]true");
    expect_str(vm, "return tostring(require('moonbase').json.decode('null'))", "nil");
    expect_fail(vm, "require('moonbase').json.decode('{bad')", MB_LUA_ERR_RUNTIME, "json.decode");
    expect_fail(vm, "require('moonbase').json.decode(('['):rep(40) .. (']'):rep(40))", MB_LUA_ERR_RUNTIME,
                "deeper than 32");
    expect_fail(vm, "require('moonbase').json.decode(' ' .. ('x'):rep(2^20))", MB_LUA_ERR_RUNTIME,
                "larger than");
    expect_fail(vm, "require('moonbase').json.encode({f = print})", MB_LUA_ERR_RUNTIME,
                "cannot encode function at $.f");
    expect_fail(vm, "require('moonbase').json.array(setmetatable({}, {}))", MB_LUA_ERR_RUNTIME,
                "already has a metatable");
    mb_lua_vm_free(vm);
}

static void encode_error(mb_lua_vm *vm, const char *code, const char *needle)
{
    lua_State *L = mb_lua_vm_state(vm);
    char err[512];
    int rc = run(vm, code, 1, err, sizeof err);
    if (rc) fprintf(stderr, "%s: %s\n", code, err);
    assert_int_equal(rc, MB_LUA_OK);
    int top = lua_gettop(L);
    char e1[256] = "", e2[256] = "";
    json_t *j = mb_lua_to_json(L, -1, e1, sizeof e1);
    assert_null(j);
    mb_buf b = MB_BUF_INIT;
    mb_buf_append(&b, "keep", 4);
    assert_int_equal(mb_lua_encode_json(L, -1, &b, e2, sizeof e2), MB_ERR);
    assert_int_equal(b.len, 4); /* restored */
    if (!strstr(e1, needle) || !strstr(e2, needle))
        fprintf(stderr, "%s\nwant: %s\njansson path: %s\nfast path: %s\n", code, needle, e1, e2);
    assert_non_null(strstr(e1, needle));
    assert_non_null(strstr(e2, needle));
    assert_string_equal(e1, e2); /* convert.h: same rules, same errors */
    assert_int_equal(lua_gettop(L), top);
    mb_buf_free(&b);
    lua_pop(L, 1);
}

static void test_convert_errors(void **state)
{
    MB_UNUSED(state);
    mb_lua_vm *vm = new_vm(0, 1000);
    lua_State *L = mb_lua_vm_state(vm);
    encode_error(vm, "return {players = {p1 = {cb = print}}}", "cannot encode function at $.players.p1.cb");
    encode_error(vm, "return {list = {1, 2, coroutine.create(print)}}", "cannot encode thread at $.list[3]");
    encode_error(vm, "local t = {} t.self = t return {a = t}", "table cycle at $.a.self");
    encode_error(vm, "local t = {} local c = t for i = 1, 40 do c.n = {} c = c.n end return t",
                 "nesting deeper than 32");
    encode_error(vm, "return {x = 0/0}", "NaN or infinity at $.x");
    encode_error(vm, "return {x = {1, math.huge}}", "NaN or infinity at $.x[2]");
    encode_error(vm, "return {s = 'bad\\255utf8'}", "not valid UTF-8 at $.s");
    encode_error(vm, "return {['k\\192\\128'] = 1}", "key is not valid UTF-8");
    encode_error(vm, "return {s = '\\237\\160\\128'}", "not valid UTF-8"); /* surrogate */
    encode_error(vm, "return {[true] = 1}", "cannot use a boolean as a key");
    encode_error(vm, "return {[{}] = 1}", "cannot use a table as a key");
    encode_error(vm, "return {[1] = 'a', ['1'] = 'b', [3] = 'c'}", "duplicate key \"1\"");
    encode_error(vm, "local a = require('moonbase').json.array({1, 2}) a.x = 1 return a",
                 "array-marked table has keys other than 1..n");
    encode_error(vm, "return {['a b'] = {f = print}}", "at $[\"a b\"].f");
    /* userdata */
    mb_lua_udata_define(L, "test.obj", NULL, NULL);
    mb_lua_udata_new(L, "test.obj", 4);
    lua_setglobal(L, "OBJ");
    encode_error(vm, "return {o = OBJ}", "cannot encode userdata at $.o");
    /* a deep but legal value encodes; 32 levels is the limit */
    encode_same(
        vm, "local t = {} local c = t for i = 1, 31 do c.n = {} c = c.n end return t",
        "{\"n\":{\"n\":{\"n\":{\"n\":{\"n\":{\"n\":{\"n\":{\"n\":{\"n\":{\"n\":{\"n\":{\"n\":{\"n\":{\"n\":{\"n\":{\"n\":"
        "{\"n\":{\"n\":{\"n\":{\"n\":{\"n\":{\"n\":{\"n\":{\"n\":{\"n\":{\"n\":{\"n\":{\"n\":{\"n\":{\"n\":{\"n\":{}"
        "}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}");
    /* the same table twice (not a cycle) is fine */
    encode_same(vm, "local p = {1} return {a = p, b = p}", "{\"a\":[1],\"b\":[1]}");
    /* output size cap: 20 references to a 1 MiB string */
    encode_error(vm, "local s = ('x'):rep(2^20) local t = {} for i = 1, 20 do t[i] = s end return t",
                 "output larger than");

    /* JSON -> Lua errors */
    char err[256];
    json_t *deep = json_array();
    json_t *cur = deep;
    for (int i = 0; i < 40; i++) {
        json_t *n = json_array();
        json_array_append_new(cur, n);
        cur = n;
    }
    int top = lua_gettop(L);
    assert_int_equal(mb_lua_push_json_protected(vm, deep, err, sizeof err), MB_LUA_ERR_RUNTIME);
    assert_non_null(strstr(err, "deeper than 32"));
    assert_int_equal(lua_gettop(L), top);
    json_decref(deep);
    mb_lua_vm_free(vm);
}

/* mb_lua_push_json_text / mb_lua_ref_json_text: what they refuse, and why. */
static void text_error(mb_lua_vm *vm, const char *in, int max_depth, const char *want)
{
    lua_State *L = mb_lua_vm_state(vm);
    int top = lua_gettop(L);
    char err[256] = "";
    assert_int_equal(mb_lua_push_json_text(vm, in, strlen(in), max_depth, err, sizeof err),
                     MB_LUA_ERR_RUNTIME);
    if (!strstr(err, want)) fprintf(stderr, "%s: got \"%s\", want \"%s\"\n", in, err, want);
    assert_non_null(strstr(err, want));
    assert_int_equal(lua_gettop(L), top);
    int ref = 12345;
    assert_int_equal(mb_lua_ref_json_text(vm, in, strlen(in), max_depth, &ref, err, sizeof err),
                     MB_LUA_ERR_RUNTIME);
    assert_int_equal(ref, LUA_NOREF);
    assert_int_equal(lua_gettop(L), top);
}

static void test_convert_text(void **state)
{
    MB_UNUSED(state);
    mb_lua_vm *vm = new_vm(8u << 20, 1000);
    lua_State *L = mb_lua_vm_state(vm);
    text_error(vm, "{\"a\":", 0, "invalid JSON: parse error");
    text_error(vm, "{\"a\":1} x", 0, "invalid JSON");
    text_error(vm, "{'a':1}", 0, "invalid JSON");
    text_error(vm, "{} \"x", 0, "invalid JSON");
    text_error(vm, "1 2", 0, "invalid JSON");
    text_error(vm, "[] {}", 0, "invalid JSON");
    text_error(vm, "", 0, "invalid JSON");
    text_error(vm, "\"\xff\"", 0, "invalid JSON"); /* bad UTF-8 */
    text_error(vm, "{\"a\":1,\"b\":2,\"a\":3}", 0, "duplicate key \"a\"");
    text_error(vm, "{\"o\":{\"k\":[],\"k\":{}}}", 0, "duplicate key \"k\"");
    text_error(vm, "{\"k\":\"v\",\"k\":null}", 0, "duplicate key \"k\"");
    text_error(vm, "{\"k\":null,\"k\":1}", 0, "duplicate key \"k\"");
    text_error(vm, "{\"k\":null,\"k\":null}", 0, "duplicate key \"k\"");
    text_error(vm, "[1e400]", 0, "number out of range");
    { /* a number of 300 digits is fine: it reads as the nearest double */
        char num[400];
        int n = snprintf(num, sizeof num, "[0.");
        for (int i = 0; i < 300; i++) num[n++] = i == 299 ? '1' : '0';
        num[n++] = ']';
        num[n] = '\0';
        char e[256];
        assert_int_equal(mb_lua_push_json_text(vm, num, (size_t)n, 0, e, sizeof e), MB_LUA_OK);
        lua_rawgeti(L, -1, 1);
        assert_true(lua_tonumber(L, -1) == strtod(num + 1, NULL));
        lua_pop(L, 2);
    }
    text_error(vm, "[[[[1]]]]", 3, "nested deeper than 3 levels");
    char deep[100];
    memset(deep, '[', 40);
    memset(deep + 40, ']', 40);
    deep[80] = '\0';
    text_error(vm, deep, 0, "nested deeper than 32 levels");
    /* a value stored by reference comes back intact, and unref frees the slot */
    const char *in = "{\"action\":\"move\",\"x\":10.5,\"y\":-3,\"seq\":17,\"tags\":[],\"n\":[null,true]}";
    int ref = LUA_NOREF;
    char err[256];
    int top = lua_gettop(L);
    assert_int_equal(mb_lua_ref_json_text(vm, in, strlen(in), 0, &ref, err, sizeof err), MB_LUA_OK);
    assert_true(ref != LUA_NOREF);
    assert_int_equal(lua_gettop(L), top);
    lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
    luaL_unref(L, LUA_REGISTRYINDEX, ref);
    mb_buf b = MB_BUF_INIT;
    assert_int_equal(mb_lua_encode_json(L, -1, &b, err, sizeof err), MB_OK);
    json_error_t je;
    json_t *got = json_loadb(b.data, b.len, 0, &je), *want = json_loads(in, 0, &je);
    assert_true(json_equal(got, want));
    json_decref(got);
    json_decref(want);
    mb_buf_free(&b);
    lua_pop(L, 1);
    /* {"a": null} has no key a; a top-level null is nil; \u0000 stays */
    assert_int_equal(mb_lua_push_json_text(vm, "{\"a\":null}", 10, 0, err, sizeof err), MB_LUA_OK);
    lua_getfield(L, -1, "a");
    assert_true(lua_isnil(L, -1));
    lua_pop(L, 2);
    const char *nulls = "{\"a\":null,\"b\":1,\"c\":null,\"d\":{\"e\":null},\"f\":[null]}";
    assert_int_equal(mb_lua_push_json_text(vm, nulls, strlen(nulls), 0, err, sizeof err), MB_LUA_OK);
    mb_buf nb = MB_BUF_INIT;
    assert_int_equal(mb_lua_encode_json(L, -1, &nb, err, sizeof err), MB_OK);
    {
        json_error_t je2;
        json_t *g = json_loadb(nb.data, nb.len, 0, &je2),
               *w = json_loads("{\"b\":1,\"d\":{},\"f\":[null]}", 0, &je2);
        assert_true(json_equal(g, w));
        json_decref(g);
        json_decref(w);
    }
    mb_buf_free(&nb);
    lua_pop(L, 1);
    assert_int_equal(mb_lua_push_json_text(vm, "null", 4, 0, err, sizeof err), MB_LUA_OK);
    assert_true(lua_isnil(L, -1));
    lua_pop(L, 1);
    assert_int_equal(mb_lua_push_json_text(vm, "\"a\\u0000b\"", 10, 0, err, sizeof err), MB_LUA_OK);
    size_t n;
    const char *str = lua_tolstring(L, -1, &n);
    assert_int_equal(n, 3);
    assert_memory_equal(str, "a\0b", 3);
    lua_pop(L, 1);
    assert_int_equal(lua_gettop(L), top);
    mb_lua_vm_free(vm);

    /* more than the VM may hold: a memory error, nothing pushed, the VM still works */
    vm = new_vm(2u << 20, 1000);
    L = mb_lua_vm_state(vm);
    mb_buf big = MB_BUF_INIT;
    mb_buf_putc(&big, '[');
    for (int i = 0; i < 100000; i++) {
        char item[64];
        int l = snprintf(item, sizeof item, "%s{\"i\":%d,\"s\":\"xxxxxxxxxxxxxxxxxxxx\"}", i ? "," : "", i);
        mb_buf_append(&big, item, (size_t)l);
    }
    mb_buf_putc(&big, ']');
    top = lua_gettop(L);
    assert_int_equal(mb_lua_push_json_text(vm, big.data, big.len, 0, err, sizeof err), MB_LUA_ERR_MEMORY);
    assert_int_equal(lua_gettop(L), top);
    ref = 1;
    assert_int_equal(mb_lua_ref_json_text(vm, big.data, big.len, 0, &ref, err, sizeof err),
                     MB_LUA_ERR_MEMORY);
    assert_int_equal(ref, LUA_NOREF);
    mb_buf_free(&big);
    expect_str(vm, "return 'ok'", "ok");
    mb_lua_vm_free(vm);
}

static void test_convert_memory(void **state)
{
    MB_UNUSED(state);
    /* pushing more JSON than the VM may hold fails cleanly */
    mb_lua_vm *vm = new_vm(2u << 20, 1000);
    lua_State *L = mb_lua_vm_state(vm);
    json_t *big = json_array();
    for (int i = 0; i < 100000; i++)
        json_array_append_new(big, json_pack("{s:i,s:s}", "i", i, "s", "xxxxxxxxxxxxxxxxxxxx"));
    char err[256];
    int top = lua_gettop(L);
    assert_int_equal(mb_lua_push_json_protected(vm, big, err, sizeof err), MB_LUA_ERR_MEMORY);
    assert_int_equal(lua_gettop(L), top);
    json_decref(big);
    /* decode inside the script: memory error, no leak (ASan/valgrind check) */
    lua_pushlstring(L, "", 0);
    lua_setglobal(L, "S");
    expect_fail(
        vm,
        "local p = {} for i = 1, 30000 do p[i] = '{\"k\":' .. i .. '}' end S = '[' .. table.concat(p, ',') .. ']' "
        "local keep = {} for i = 1, 1e9 do keep[i] = require('moonbase').json.decode(S) end",
        MB_LUA_ERR_MEMORY, NULL);
    expect_str(vm, "return 'ok'", "ok");
    mb_lua_vm_free(vm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sandbox_globals),
        cmocka_unit_test(test_sandbox_require_native),
        cmocka_unit_test(test_sandbox_load_bytecode),
        cmocka_unit_test(test_sandbox_userdata_metatable),
        cmocka_unit_test(test_sandbox_collectgarbage),
        cmocka_unit_test(test_sandbox_coroutines),
        cmocka_unit_test(test_runaway_loops),
        cmocka_unit_test(test_runaway_nested_call),
        cmocka_unit_test(test_runaway_patterns),
#if MB_TEST_JIT
        cmocka_unit_test(test_jit_compiled_loops),
#endif
        cmocka_unit_test(test_memory_bombs),
        cmocka_unit_test(test_memory_live_near_cap),
        cmocka_unit_test(test_memory_too_small),
        cmocka_unit_test(test_traceback),
        cmocka_unit_test(test_slow_call_and_log),
        cmocka_unit_test(test_require),
        cmocka_unit_test(test_module),
        cmocka_unit_test(test_convert_roundtrip),
        cmocka_unit_test(test_convert_encode),
        cmocka_unit_test(test_convert_errors),
        cmocka_unit_test(test_convert_memory),
        cmocka_unit_test(test_convert_text),
    };
    if (getenv("MB_TEST_FILTER")) cmocka_set_test_filter(getenv("MB_TEST_FILTER"));
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
