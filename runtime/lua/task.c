/*
 * task.c - script calls that wait without blocking the loop (see task.h):
 * a task is a coroutine of the VM, anchored in the registry; each run (the
 * start, each resume) is one mb_lua_vm_pcall of step(), which resumes the
 * coroutine and reports whether it finished.
 */
#include "task.h"

#include "state_internal.h"
#include "vm.h"

#include "mb.h"

#include <stdbool.h>
#include <string.h>

struct mb_lua_task {
    mb_lua_vm *vm;
    lua_State *co;
    int ref; /* the coroutine, in the registry */
    int context;
    int nresults;
    bool started;
    mb_lua_task_done done;
    void *ud;
};

/* The task whose coroutine is running now (nested runs save and restore it). */
static mb_lua_task *running;

mb_lua_task *mb_lua_task_current(lua_State *L) { return running && running->co == L ? running : NULL; }

int mb_lua_task_yield(lua_State *L) { return lua_yield(L, 0); }

mb_lua_vm *mb_lua_task_vm(const mb_lua_task *t) { return t->vm; }

int mb_lua_task_count(const mb_lua_vm *vm) { return vm->tasks; }

/* The coroutine's body: the task's function under xpcall with the VM's
 * traceback handler, so an error keeps the script's stack (a coroutine
 * that dies of an error has lost its frames by the time lua_resume
 * returns). LuaJIT yields across xpcall. Made once per VM, from the
 * global xpcall of that moment (the sandbox's). */
static const char body_lua[] = "local xpcall, handler = ...\n"
                               "return function(f, ...) return xpcall(f, handler, ...) end\n";
static const char body_key = 0;

static void push_body(lua_State *L, mb_lua_vm *vm)
{
    lua_pushlightuserdata(L, (void *)&body_key);
    lua_rawget(L, LUA_REGISTRYINDEX);
    if (!lua_isnil(L, -1)) return;
    lua_pop(L, 1);
    if (luaL_loadbuffer(L, body_lua, sizeof body_lua - 1, "=task") != 0) lua_error(L);
    lua_getglobal(L, "xpcall");
    lua_rawgeti(L, LUA_REGISTRYINDEX, vm->ref_traceback);
    lua_call(L, 2, 1);
    lua_pushlightuserdata(L, (void *)&body_key);
    lua_pushvalue(L, -2);
    lua_rawset(L, LUA_REGISTRYINDEX);
}

/* Run protected (mb_lua_vm_pcall): 1 = task (light userdata), then the
 * values to pass. Returns false (suspended) or true and the results. */
static int step(lua_State *L)
{
    mb_lua_task *t = lua_touserdata(L, 1);
    int nargs = lua_gettop(L) - 1;
    if (!t->started) { /* [t, f, args...] -> [t, body, f, args...] */
        push_body(L, t->vm);
        lua_insert(L, 2);
    }
    t->started = true;
    if (!lua_checkstack(t->co, nargs + 2)) return luaL_error(L, "lua stack overflow");
    lua_xmove(L, t->co, lua_gettop(L) - 1);
    mb_lua_task *prev = running;
    running = t;
    int st = lua_resume(t->co, nargs);
    running = prev;
    if (st == LUA_YIELD) {
        lua_settop(t->co, 0);
        lua_pushboolean(L, 0);
        return 1;
    }
    if (st != 0) {
        const char *msg = lua_tostring(t->co, -1);
        if (!msg) msg = lua_isnil(t->co, -1) ? "nil error" : "(error object is not a string)";
        luaL_traceback(L, t->co, msg, 0);
        lua_settop(t->co, 0);
        return lua_error(L);
    }
    if (!lua_toboolean(t->co, 1)) { /* xpcall caught it: message and traceback */
        lua_xmove(t->co, L, 1);
        lua_settop(t->co, 0);
        return lua_error(L);
    }
    lua_remove(t->co, 1);
    int n = lua_gettop(t->co);
    if (n > t->nresults) lua_settop(t->co, t->nresults);
    if (!lua_checkstack(L, t->nresults + 1)) return luaL_error(L, "lua stack overflow");
    lua_pushboolean(L, 1);
    lua_xmove(t->co, L, lua_gettop(t->co));
    for (int i = n; i < t->nresults; i++) lua_pushnil(L);
    return t->nresults + 1;
}

/* The task is over: report it and forget it. The caller then calls
 * release() once it no longer touches the VM's stack. */
static void end_task(mb_lua_task *t, int status, const char *err)
{
    mb_lua_vm *vm = t->vm;
    /* A coroutine that returned is as good as new (status ok, empty stack):
     * keep a few for the next tasks (a new thread costs about as much as
     * the whole call of a short RPC). */
    if (!vm->killed && status == MB_LUA_OK && lua_status(t->co) == 0 && lua_gettop(t->co) == 0 &&
        vm->n_spare < (int)MB_ARRAY_LEN(vm->spare)) {
        vm->spare[vm->n_spare].co = t->co;
        vm->spare[vm->n_spare++].ref = t->ref;
    } else if (!vm->killed) luaL_unref(vm->L, LUA_REGISTRYINDEX, t->ref);
    t->done(t->ud, vm, status, err);
    mb_free(t);
    vm->tasks--;
}

/* A VM freed while tasks were pending goes with its last task. */
static void release(mb_lua_vm *vm)
{
    if (vm->tasks == 0 && vm->free_pending) mb_lua_vm_free(vm);
}

/* One run: the values (and, the first time, the function) are the top
 * nvalues of the main stack. */
static void run(mb_lua_task *t, int nvalues)
{
    mb_lua_vm *vm = t->vm;
    lua_State *L = vm->L;
    char err[4096];
    if (vm->killed) {
        /* the state this task lived in was discarded (the values went to its stand-in) */
        lua_pop(L, nvalues);
        end_task(t, MB_LUA_ERR_TIMEOUT, "the script was stopped in compiled code; this VM is discarded");
        release(vm);
        return;
    }
    int base = lua_gettop(L) - nvalues;
    lua_pushcfunction(L, step);
    lua_pushlightuserdata(L, t);
    lua_insert(L, base + 1);
    lua_insert(L, base + 1);
    int prev = mb_lua_vm_context(vm);
    mb_lua_vm_set_context(vm, t->context);
    int rc = mb_lua_vm_pcall(vm, nvalues + 1, LUA_MULTRET, err, sizeof err);
    mb_lua_vm_set_context(vm, prev);
    if (rc != MB_LUA_OK) { /* the stack is back at base (or the state was discarded) */
        end_task(t, rc, err);
        release(vm);
        return;
    }
    if (!lua_toboolean(L, base + 1)) { /* suspended: a host call will resume it */
        lua_settop(L, base);
        return;
    }
    lua_remove(L, base + 1);
    end_task(t, MB_LUA_OK, NULL);
    lua_settop(L, base);
    release(vm);
}

void mb_lua_task_start(mb_lua_vm *vm, int context, int nargs, int nresults, mb_lua_task_done done, void *ud)
{
    lua_State *L = vm->L;
    mb_lua_task *t = mb_calloc(1, sizeof *t);
    t->vm = vm;
    t->context = context;
    t->nresults = nresults < 0 ? 0 : nresults;
    t->done = done;
    t->ud = ud;
    vm->tasks++;
    if (vm->killed || !lua_checkstack(L, 4)) {
        lua_pop(L, nargs + 1);
        end_task(t, MB_LUA_ERR_RUNTIME, vm->killed ? "this VM is discarded" : "lua stack overflow");
        release(vm);
        return;
    }
    if (vm->n_spare > 0) {
        vm->n_spare--;
        t->co = vm->spare[vm->n_spare].co;
        t->ref = vm->spare[vm->n_spare].ref;
    } else {
        t->co = lua_newthread(L); /* within the host's headroom */
        t->ref = luaL_ref(L, LUA_REGISTRYINDEX);
    }
    run(t, nargs + 1);
}

void mb_lua_task_resume(mb_lua_task *t, int nargs) { run(t, nargs); }
