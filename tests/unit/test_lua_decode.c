/*
 * test_lua_decode.c - the JSON text -> Lua decoder (decode.c, yajl events)
 * and the per-VM allocator pool (state.c): escapes and surrogate pairs,
 * the JSON grammar at its edges (yajl's: looser than jansson on lone
 * surrogates, overlong UTF-8 and \v as whitespace, see convert.h), and a VM that allocates and frees blocks of every
 * size class (and across the small/large boundary) keeping its memory
 * count exact.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include <lauxlib.h>

#include "convert.h"
#include "mb.h"
#include "vm.h"

static mb_lua_vm *new_vm(void)
{
    mb_lua_limits lim = {.mem_bytes = 16u << 20, .time_ms = 5000, .warn_ms = 10000};
    char err[256] = "";
    mb_lua_vm *vm = mb_lua_vm_new(&lim, NULL, err, sizeof err);
    if (!vm) fprintf(stderr, "vm_new: %s\n", err);
    assert_non_null(vm);
    return vm;
}

/* Decode in, then check the value with a Lua expression over `v` that must
 * be true. */
static void decodes(mb_lua_vm *vm, const char *in, const char *check)
{
    lua_State *L = mb_lua_vm_state(vm);
    char err[256] = "";
    int top = lua_gettop(L);
    int rc = mb_lua_push_json_text(vm, in, strlen(in), 0, err, sizeof err);
    if (rc != MB_LUA_OK) fprintf(stderr, "%s: %s\n", in, err);
    assert_int_equal(rc, MB_LUA_OK);
    lua_setglobal(L, "v");
    char code[512];
    snprintf(code, sizeof code, "return %s", check);
    rc = mb_lua_vm_load_string(vm, code, "=check", err, sizeof err);
    if (rc == MB_LUA_OK) rc = mb_lua_vm_pcall(vm, 0, 1, err, sizeof err);
    if (rc != MB_LUA_OK) fprintf(stderr, "%s: %s\n", check, err);
    assert_int_equal(rc, MB_LUA_OK);
    if (!lua_toboolean(L, -1)) fprintf(stderr, "%s: check failed: %s\n", in, check);
    assert_true(lua_toboolean(L, -1));
    lua_settop(L, top);
}

static void refuses(mb_lua_vm *vm, const char *in, size_t len, const char *want)
{
    lua_State *L = mb_lua_vm_state(vm);
    int top = lua_gettop(L);
    char err[256] = "";
    assert_int_equal(mb_lua_push_json_text(vm, in, len, 0, err, sizeof err), MB_LUA_ERR_RUNTIME);
    if (!strstr(err, want)) fprintf(stderr, "%.*s: got \"%s\", want \"%s\"\n", (int)len, in, err, want);
    assert_non_null(strstr(err, want));
    assert_int_equal(lua_gettop(L), top);
}

static void test_strings(void **state)
{
    MB_UNUSED(state);
    mb_lua_vm *vm = new_vm();
    decodes(vm, "\"plain\"", "v == 'plain'");
    decodes(vm, "\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"", "v == 'a\"b\\\\c/d\\b\\f\\n\\r\\t'");
    decodes(vm, "\"\\u00e9\\u20AC\"", "v == '\\195\\169\\226\\130\\172'"); /* é € */
    decodes(vm, "\"\\ud83d\\ude00!\"", "v == '\\240\\159\\152\\128!'");    /* U+1F600 */
    decodes(vm, "\"caf\xc3\xa9\"", "v == 'caf\\195\\169'");                /* raw UTF-8 */
    decodes(vm, "{\"k\\u0041\":1}", "v.kA == 1");                          /* escaped key */
    decodes(vm, "\"a\\u0000b\"", "#v == 3");
    refuses(vm, "\"\\x\"", 4, "invalid JSON");
    refuses(vm, "\"\\u12g4\"", 8, "invalid JSON");
    refuses(vm, "\"tab\there\"", 10, "invalid JSON"); /* raw control byte */
    refuses(vm, "\"open", 5, "invalid JSON");
    mb_lua_vm_free(vm);
}

static void test_grammar(void **state)
{
    MB_UNUSED(state);
    mb_lua_vm *vm = new_vm();
    decodes(vm, " \t\r\n{ \"a\" : [ 1 , -2.5e1 , true , false , null ] , \"b\" : { } } \n",
            "v.a[1] == 1 and v.a[2] == -25 and v.a[3] == true and v.a[4] == false and "
            "v.a[5] == require('moonbase').null and next(v.b) == nil");
    decodes(vm, "{\"move\":{\"x\":10.25,\"y\":0,\"seq\":123456789012345}}",
            "v.move.x == 10.25 and v.move.y == 0 and v.move.seq == 123456789012345");
    decodes(vm, "[0, -0, 1E2, 1e-2, 12345678901234567890]",
            "v[1] == 0 and v[2] == 0 and v[3] == 100 and v[4] == 0.01 and v[5] == 12345678901234567890");
    decodes(vm, "{\"a\":null,\"b\":1}", "v.a == nil and v.b == 1");
    decodes(vm, "[]", "#v == 0");
    refuses(vm, "01", 2, "invalid JSON");
    refuses(vm, "[1,]", 4, "invalid JSON");
    refuses(vm, "{\"a\":1,}", 8, "invalid JSON");
    refuses(vm, "{\"a\" 1}", 7, "invalid JSON");
    refuses(vm, "[-]", 3, "invalid JSON");
    refuses(vm, "[1.]", 4, "invalid JSON");
    refuses(vm, "[1e]", 4, "invalid JSON");
    refuses(vm, "[.5]", 4, "invalid JSON");
    refuses(vm, "[tru]", 5, "invalid JSON");
    refuses(vm, "{} x", 4, "invalid JSON");
    refuses(vm, "[1] [2]", 7, "invalid JSON");
    refuses(vm, "   ", 3, "invalid JSON");
    mb_lua_vm_free(vm);
}

/* Blocks of every small size class, across the 512-byte boundary and
 * large: grown, shrunk, freed; the VM's count comes back to where it was. */
static void test_pool(void **state)
{
    MB_UNUSED(state);
    mb_lua_vm *vm = new_vm();
    char err[512] = "";
    const char *code = "local keep = {}\n"
                       "for round = 1, 3 do\n"
                       "  local t = {}\n"
                       "  for n = 1, 1200 do t[n] = string.rep('x', n) end\n" /* strings of 1..1200 bytes */
                       "  for n = 1, 1200, 7 do keep[#keep + 1] = t[n] .. round end\n"
                       "  local grow = {}\n"
                       "  for n = 1, 300 do grow[n] = n end\n" /* an array part that grows */
                       "  for n = 1, 300 do grow[n] = nil end\n"
                       "  local h = {}\n"
                       "  for n = 1, 200 do h['k' .. n] = n end\n" /* a hash part that grows */
                       "end\n"
                       "collectgarbage()\n"
                       "local total = 0\n"
                       "for _, s in ipairs(keep) do total = total + #s end\n"
                       "return total\n";
    lua_State *L = mb_lua_vm_state(vm);
    lua_gc(L, LUA_GCCOLLECT, 0);
    size_t before = mb_lua_vm_mem_used(vm);
    assert_int_equal(mb_lua_vm_load_string(vm, code, "=pool", err, sizeof err), MB_LUA_OK);
    assert_int_equal(mb_lua_vm_pcall(vm, 0, 1, err, sizeof err), MB_LUA_OK);
    /* sum over n = 1, 8, ..., 1198 of (n + 1) chars, three rounds */
    double want = 0;
    for (int n = 1; n <= 1200; n += 7) want += n + 1;
    assert_true(lua_tonumber(L, -1) == 3 * want);
    lua_pop(L, 1);
    lua_gc(L, LUA_GCCOLLECT, 0);
    size_t after = mb_lua_vm_mem_used(vm);
    /* what the loaded chunk left behind (its constants, interned strings
     * the collector keeps) is small */
    assert_true(after < before + 64 * 1024);
    mb_lua_vm_free(
        vm); /* lua_close must give every byte back (else lua_mem_leak, and ASan/valgrind see it) */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_grammar),
        cmocka_unit_test(test_pool),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
