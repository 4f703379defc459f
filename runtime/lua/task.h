/*
 * task.h - script calls that wait without blocking the loop (task.c).
 *
 * A task runs a Lua function as a coroutine of its VM. A host function the
 * script calls (moonbase.storage.read, ...) may suspend the task while it
 * waits for something (a PostgreSQL answer); the loop goes on serving, and
 * when the answer arrives the host resumes the task, whose host call then
 * returns the answer as its results, as OpenResty's cosockets do:
 *
 *   // host function (a lua_CFunction the script calls)
 *   mb_lua_task *t = mb_lua_task_current(L);
 *   if (!t) { lua_pushnil(L); lua_pushliteral(L, "not here"); return 2; }   // or wait another way
 *   start_query(..., on_answer, t);
 *   return mb_lua_task_yield(L);
 *
 *   // later, on the loop
 *   static void on_answer(void *ud, ...) {
 *       mb_lua_task *t = ud;
 *       lua_State *L = mb_lua_vm_state(mb_lua_task_vm(t));
 *       lua_pushboolean(L, 1);                  // the host call's results, pushed on
 *       mb_lua_task_resume(t, 1);               // the VM's main stack
 *   }
 *
 * Every run of the coroutine (the start and each resume) is one
 * mb_lua_vm_pcall: the time budget, the memory cap, the C stack guard and
 * the compiled-code containment apply to each run as to any call, and the
 * VM's context (mb_lua_vm_set_context) is the task's during each run. The
 * time spent waiting counts against nothing here: the host bounds its
 * waits (the database's query timeout).
 *
 * A host function can suspend only the task's own coroutine, called
 * straight from Lua (also inside pcall): not from a coroutine the script
 * created itself, and not through a C function that calls Lua (table.sort's
 * comparator, string.format's __tostring): LuaJIT then raises "attempt to
 * yield across C-call boundary". mb_lua_task_current returns NULL in the
 * first case so the host can answer nil, err instead.
 *
 * A VM freed (mb_lua_vm_free) while tasks are suspended stays alive until
 * the last of them ends (a hot reload lets running RPCs finish on the old
 * script). A VM stopped inside compiled code fails its suspended tasks when
 * they are resumed. Loop thread only.
 */
#ifndef MB_LUA_TASK_H
#define MB_LUA_TASK_H

#include "state.h"

#include <stddef.h>

typedef struct mb_lua_task mb_lua_task;

/* Called once when the task ends. status MB_LUA_OK: the function's first
 * nresults results (padded with nil) are at the top of the VM's main stack
 * (popped after done returns); otherwise err holds the message and
 * traceback, status the budget that ended it (MB_LUA_ERR_TIMEOUT /
 * MB_LUA_ERR_MEMORY / MB_LUA_ERR_RUNTIME), and mb_lua_vm_killed(vm) may
 * be true. */
typedef void (*mb_lua_task_done)(void *ud, mb_lua_vm *vm, int status, const char *err);

/* Run the function below the top nargs values of vm's main stack (both
 * popped) as a task in context `context`. done may run before this
 * returns (the function did not wait). */
void mb_lua_task_start(mb_lua_vm *vm, int context, int nargs, int nresults, mb_lua_task_done done, void *ud);

/* The task whose coroutine is L, while it runs; NULL when L is not a
 * task's own coroutine (the main state, or a coroutine of the script). */
mb_lua_task *mb_lua_task_current(lua_State *L);

/* `return mb_lua_task_yield(L);` from a host function after arranging a
 * later mb_lua_task_resume (exactly one). */
int mb_lua_task_yield(lua_State *L);

/* Resume a suspended task: the top nargs values of the VM's main stack
 * (pushed by the caller) become the results of the host call that
 * suspended it. Not from inside a Lua call of the same VM. */
void mb_lua_task_resume(mb_lua_task *t, int nargs);

mb_lua_vm *mb_lua_task_vm(const mb_lua_task *t);

/* Tasks of vm not ended yet (started and suspended). */
int mb_lua_task_count(const mb_lua_vm *vm);

#endif
