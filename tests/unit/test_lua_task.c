/*
 * test_lua_task.c - tasks (runtime/lua/task.c): a host function suspends
 * the script's coroutine and a later resume returns its results there;
 * several tasks interleave in one VM; errors keep the script's line; the
 * time budget applies to each run; a call from a coroutine the script made
 * itself cannot suspend; a VM freed with tasks pending lives until the
 * last one ends; the JIT is off here so the count hook always fires.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "mb.h"
#include "task.h"
#include "vm.h"

/* What the fake host is waiting on: the suspended tasks, in order. */
static mb_lua_task *waiting[8];
static int n_waiting;

/* wait(x): suspends; resumed with x * 10 (see answer()). */
static int l_wait(lua_State *L)
{
    mb_lua_task *t = mb_lua_task_current(L);
    if (!t) {
        lua_pushnil(L);
        lua_pushliteral(L, "not in a task");
        return 2;
    }
    waiting[n_waiting++] = t;
    return mb_lua_task_yield(L);
}

static void answer(int i, lua_Number v)
{
    mb_lua_task *t = waiting[i];
    memmove(waiting + i, waiting + i + 1, (size_t)(n_waiting - i - 1) * sizeof *waiting);
    n_waiting--;
    lua_pushnumber(mb_lua_vm_state(mb_lua_task_vm(t)), v);
    mb_lua_task_resume(t, 1);
}

typedef struct result {
    int done, status, context;
    lua_Number a;
    char b[64];
    char err[1024];
} result;

static void on_done(void *ud, mb_lua_vm *vm, int status, const char *err)
{
    result *r = ud;
    lua_State *L = mb_lua_vm_state(vm);
    r->done++;
    r->status = status;
    r->context = mb_lua_vm_context(vm);
    if (status == MB_LUA_OK) {
        r->a = lua_tonumber(L, -2);
        snprintf(r->b, sizeof r->b, "%s", lua_isstring(L, -1) ? lua_tostring(L, -1) : "(nil)");
    } else snprintf(r->err, sizeof r->err, "%s", err);
}

static mb_lua_vm *new_vm(unsigned time_ms)
{
    mb_lua_limits lim = {.mem_bytes = 16u << 20, .time_ms = time_ms, .warn_ms = 100000};
    char err[256] = "";
    mb_lua_vm *vm = mb_lua_vm_new(&lim, NULL, err, sizeof err);
    assert_non_null(vm);
    assert_int_equal(mb_lua_vm_module_set(vm, "host.wait", l_wait), MB_LUA_OK);
    n_waiting = 0;
    return vm;
}

/* Define global f from code, then start f(arg) as a task in context 7. */
static void start(mb_lua_vm *vm, const char *code, lua_Number arg, result *r)
{
    char err[512];
    assert_int_equal(mb_lua_vm_load_string(vm, code, "=script", err, sizeof err), MB_LUA_OK);
    assert_int_equal(mb_lua_vm_pcall(vm, 0, 1, err, sizeof err), MB_LUA_OK);
    lua_pushnumber(mb_lua_vm_state(vm), arg);
    mb_lua_task_start(vm, 7, 1, 2, on_done, r);
}

static void test_suspend_and_resume(void **state)
{
    (void)state;
    mb_lua_vm *vm = new_vm(1000);
    result r = {0};
    start(vm,
          "local host = require('moonbase').host\n"
          "return function(x) local a = host.wait() local b = host.wait() return a + b + x, 'done' end",
          1, &r);
    assert_int_equal(r.done, 0);
    assert_int_equal(n_waiting, 1);
    assert_int_equal(mb_lua_task_count(vm), 1);
    answer(0, 20);
    assert_int_equal(r.done, 0);
    answer(0, 300);
    assert_int_equal(r.done, 1);
    assert_int_equal(r.status, MB_LUA_OK);
    assert_true(r.a == 321);
    assert_string_equal(r.b, "done");
    assert_int_equal(r.context, 0); /* restored after the run */
    assert_int_equal(mb_lua_task_count(vm), 0);
    assert_int_equal(lua_gettop(mb_lua_vm_state(vm)), 0);
    mb_lua_vm_free(vm);
}

static void test_interleaved_and_pcall(void **state)
{
    (void)state;
    mb_lua_vm *vm = new_vm(1000);
    result r1 = {0}, r2 = {0};
    const char *code = "local host = require('moonbase').host\n"
                       "return function(x) local ok, v = pcall(host.wait) return v + x, tostring(ok) end";
    start(vm, code, 1, &r1);
    start(vm, code, 2, &r2);
    assert_int_equal(n_waiting, 2);
    answer(1, 50); /* the second first */
    assert_int_equal(r2.done, 1);
    assert_true(r2.a == 52);
    assert_string_equal(r2.b, "true");
    assert_int_equal(r1.done, 0);
    answer(0, 10);
    assert_true(r1.a == 11);
    mb_lua_vm_free(vm);
}

static void test_finishes_without_waiting(void **state)
{
    (void)state;
    mb_lua_vm *vm = new_vm(1000);
    result r = {0};
    start(vm, "return function(x) return x * 2 end", 21, &r);
    assert_int_equal(r.done, 1);
    assert_true(r.a == 42);
    assert_string_equal(r.b, "(nil)"); /* padded to 2 results */
    mb_lua_vm_free(vm);
}

static void test_error_keeps_line(void **state)
{
    (void)state;
    mb_lua_vm *vm = new_vm(1000);
    result r = {0};
    start(vm,
          "local host = require('moonbase').host\n"
          "return function(x)\n"
          "  host.wait()\n"
          "  local t = nil\n"
          "  return t.field\n"
          "end",
          0, &r);
    answer(0, 1);
    assert_int_equal(r.done, 1);
    assert_int_equal(r.status, MB_LUA_ERR_RUNTIME);
    assert_non_null(strstr(r.err, "script:5: attempt to index local 't'"));
    assert_non_null(strstr(r.err, "stack traceback:"));
    /* the VM runs the next task */
    result r2 = {0};
    start(vm, "return function(x) return x end", 5, &r2);
    assert_true(r2.a == 5);
    mb_lua_vm_free(vm);
}

static void test_budget_per_run(void **state)
{
    (void)state;
    mb_lua_vm *vm = new_vm(50);
    result r = {0};
    start(vm, "local host = require('moonbase').host\nreturn function(x) host.wait() while true do end end",
          0, &r);
    assert_int_equal(r.done, 0);
    answer(0, 1);
    assert_int_equal(r.done, 1);
    assert_int_equal(r.status, MB_LUA_ERR_TIMEOUT);
    assert_non_null(strstr(r.err, "script timed out"));
    mb_lua_vm_free(vm);
}

static void test_not_from_own_coroutine(void **state)
{
    (void)state;
    mb_lua_vm *vm = new_vm(1000);
    result r = {0};
    start(vm,
          "local host = require('moonbase').host\n"
          "return function(x)\n"
          "  local co = coroutine.create(function() return host.wait() end)\n"
          "  local ok, v, err = coroutine.resume(co)\n"
          "  return v == nil and 1 or 0, err\n"
          "end",
          0, &r);
    assert_int_equal(r.done, 1);
    assert_true(r.a == 1);
    assert_string_equal(r.b, "not in a task");
    assert_int_equal(n_waiting, 0);
    mb_lua_vm_free(vm);
}

static void test_free_with_pending_task(void **state)
{
    (void)state;
    mb_lua_vm *vm = new_vm(1000);
    result r = {0};
    start(vm, "local host = require('moonbase').host\nreturn function(x) return host.wait() + x end", 1, &r);
    mb_lua_vm_free(vm); /* deferred: a task is suspended */
    assert_int_equal(r.done, 0);
    answer(0, 2); /* runs on the old VM, then frees it (ASan/valgrind: no leak, no use after free) */
    assert_int_equal(r.done, 1);
    assert_true(r.a == 3);
}

/* mb_lua_vm_module_set("lib.fn"): a read-only library table; bad names refused. */
static void test_module_library(void **state)
{
    (void)state;
    mb_lua_vm *vm = new_vm(1000);
    assert_int_equal(mb_lua_vm_module_set(vm, "host.other", l_wait), MB_LUA_OK); /* same table */
    assert_int_not_equal(mb_lua_vm_module_set(vm, "a.b.c", l_wait), MB_LUA_OK);
    assert_int_not_equal(mb_lua_vm_module_set(vm, "json.x", l_wait), MB_LUA_OK); /* a built-in */
    assert_int_not_equal(mb_lua_vm_module_set(vm, "host.", l_wait), MB_LUA_OK);
    assert_int_not_equal(mb_lua_vm_module_set(vm, ".x", l_wait), MB_LUA_OK);
    char err[512];
    assert_int_equal(
        mb_lua_vm_load_string(vm,
                              "local h = require('moonbase').host\n"
                              "assert(type(h.wait) == 'function' and type(h.other) == 'function')\n"
                              "h.wait = nil",
                              "=lib", err, sizeof err),
        MB_LUA_OK);
    assert_int_equal(mb_lua_vm_pcall(vm, 0, 0, err, sizeof err), MB_LUA_ERR_RUNTIME);
    assert_non_null(strstr(err, "module table is read-only (cannot set 'wait')"));
    mb_lua_vm_free(vm);
}

int main(int argc, char **argv)
{
    if (argc > 1) cmocka_set_test_filter(argv[1]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_suspend_and_resume),       cmocka_unit_test(test_interleaved_and_pcall),
        cmocka_unit_test(test_finishes_without_waiting), cmocka_unit_test(test_error_keeps_line),
        cmocka_unit_test(test_budget_per_run),           cmocka_unit_test(test_not_from_own_coroutine),
        cmocka_unit_test(test_free_with_pending_task),   cmocka_unit_test(test_module_library),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
