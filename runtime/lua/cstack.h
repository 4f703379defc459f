/*
 * cstack.h - the C stack guard of the Lua host (see cstack.c).
 *
 * Some library functions run Lua from C: coroutine.resume and the functions
 * made by coroutine.wrap, string.gsub with a function or table replacement,
 * string.format("%s") with __tostring, table.sort with a comparator or __lt,
 * load with a reader function, require. Each nesting of such calls takes C
 * stack that neither pcall nor LuaJIT checks, so a script recursing through
 * them (`local function f() return coroutine.wrap(f)() end`) would overflow
 * the thread's stack and crash the process. The sandbox wraps every such
 * function with mb_lua_cstack_check, which raises an ordinary Lua error
 * before the stack gets close to its end.
 */
#ifndef MB_LUA_CSTACK_H
#define MB_LUA_CSTACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <lua.h>

/* C stack one outermost mb_lua_vm_pcall may use for nested calls. */
#define MB_LUA_CSTACK_LIMIT ((size_t)1 << 20)
/* Stack always left free below the deepest nested call (a quarter of the
 * thread's stack when that is less), whatever the thread's stack size (room for the unguarded C work a script can still do
 * there: the parser, cjson, the pattern matcher, error handling). */
#define MB_LUA_CSTACK_RESERVE ((size_t)1 << 20)

/* An address in the caller's stack frame. */
#define MB_LUA_CSTACK_HERE() ((uintptr_t)__builtin_frame_address(0))

/* Look up (once per thread) where the calling thread's stack ends. Reads
 * /proc/self/maps the first time on the main thread: call it at set-up. */
void mb_lua_cstack_init(void);

/* Bytes of stack used since base (0 = no base) at the caller, or past the
 * limits: true when one more nested call must be refused. */
bool mb_lua_cstack_exceeded(uintptr_t base);

/* Raise "C stack overflow" in L when mb_lua_cstack_exceeded for L's VM.
 * what names the function for the message. */
void mb_lua_cstack_check(lua_State *L, const char *what);

#endif
