/*
 * vm.h - the Lua VM host: one sandboxed, budgeted LuaJIT state.
 *
 * Every match (and the server script) runs in its own mb_lua_vm. A VM owns
 * one lua_State created with a counting allocator, opens only the sandboxed
 * libraries, and runs every call under a time budget and a memory cap:
 *
 *   mb_lua_limits lim = { .mem_bytes = 32u << 20 };          // 0 = default
 *   char err[512];
 *   mb_lua_vm *vm = mb_lua_vm_new(&lim, "scripts/lib", err, sizeof err);
 *   if (mb_lua_vm_load_file(vm, "scripts/modes/arena.lua", NULL, err, sizeof err) != MB_LUA_OK) ...
 *   if (mb_lua_vm_pcall(vm, 0, 1, err, sizeof err) != MB_LUA_OK) ...   // runs the chunk
 *   ...
 *   mb_lua_vm_free(vm);
 *
 * Context: the event-loop thread only. Nothing here is thread-safe.
 * Run Lua only through mb_lua_vm_pcall: lua_call / lua_pcall used directly
 * run without the time budget and without a traceback.
 *
 * Sandbox. Globals are limited to: assert error ipairs next pairs pcall
 * rawequal rawget rawset select getmetatable setmetatable tonumber
 * tostring type unpack xpcall _G _VERSION, plus
 *   load / loadstring  text only (a binary chunk is refused);
 *   collectgarbage      "count", "collect" and "step" only;
 *   print               goes to the log (event=lua_log, level info), not stdout;
 *   require             see below;
 * and the libraries string (without dump), table, math, os (time, date,
 * clock only), coroutine and bit. There is no io, debug, ffi, jit, package,
 * dofile, loadfile, getfenv, setfenv, newproxy or module. The string
 * metatable and every host userdata metatable carry __metatable, so scripts
 * can neither read nor replace them.
 *
 * require(name): "moonbase" and "cjson" return the built-in modules (see
 * module.c for their functions). Any other name must match [A-Za-z0-9_.]+, contain
 * no "..", and resolves only to <lib_dir>/<name with '.' -> '/'>.lua, loaded
 * as text. Results are cached per VM in a private table (not package.loaded).
 * The file is read with blocking stdio the first time: require at the top of
 * a script (load time), not inside a per-tick callback.
 *
 * Time budget. An instruction-count hook checks a monotonic deadline every
 * MB_LUA_HOOK_INSTRUCTIONS interpreted bytecodes, including in coroutines.
 * Past the deadline the call is aborted with "file:line: script timed out
 * (limit N ms)" naming the running line: the hook then fires on
 * every instruction, so pcall/xpcall/coroutine.resume inside the script
 * cannot swallow the abort (xpcall is wrapped so that its message handler
 * is skipped once aborted: LuaJIT runs it with hooks still blocked).
 * C functions are not interrupted while they run: string.rep,
 * table.concat and friends are bounded by the memory cap, and the pattern
 * functions (string.find/match/gmatch/gsub) stop with an error a search
 * still running after 50 ms or past the deadline (pattern.h); library
 * functions that run Lua from C refuse to nest past 1 MiB of C stack
 * (cstack.h).
 * Cost of the hook, JIT on vs off: see tests/bench/bench_lua.c.
 *
 * Compiled code (limits.jit). LuaJIT's compiler is off unless limits.jit
 * asks for it: the count hook never fires inside compiled traces. With
 * limits.jit, a CPU-time timer signal on the calling thread watches the
 * running call (vm.c, "compiled code"): past the deadline the allocator
 * refuses growth (an allocating compiled loop fails softly, the VM
 * survives); a later signal that finds the thread in JIT machine code
 * siglongjmps to the outermost mb_lua_vm_pcall, which returns
 * MB_LUA_ERR_TIMEOUT with the VM killed (mb_lua_vm_killed): its memory is
 * freed wholesale and its machine code (<= 512 KiB) leaks. Host C functions
 * that call back into the same VM are jumped over then: they must hold
 * nothing but the VM's own state across the call. Linux x86_64/aarch64
 * only; one thread (the first JIT VM's) may run JIT VMs. Reasoning and
 * limits: docs/LUA_API.md, "Time budgets".
 *
 * Memory cap. The allocator refuses growth past mem_bytes while a call or a
 * load runs; Lua then raises "not enough memory", which ends the call with
 * MB_LUA_ERR_MEMORY. Outside calls the host may use MB_LUA_HOST_HEADROOM more
 * bytes so its own small pushes (ids, a tick number, a short string) cannot
 * fail; push large data (JSON) with mb_lua_push_json_protected (convert.h)
 * or from a C function run through mb_lua_vm_pcall. A memory error never
 * aborts the process; the VM stays usable (its garbage is collected right
 * after the failed call). LuaJIT has no emergency GC, so the hook also runs
 * a full collection when usage passes 3/4 of the cap (at most once per 1/8
 * of the cap of growth): live data near the cap plus garbage does not fail.
 */
#ifndef MB_LUA_VM_H
#define MB_LUA_VM_H

#include "state.h" /* the types, status codes and the VM's accessors */
#include "udata.h" /* host userdata types */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <lua.h>
#include <lauxlib.h>

/* Create a sandboxed VM. lim may be NULL (all defaults). lib_dir is the only
 * directory require() reads from (copied; NULL = require of files always
 * fails). Returns NULL and writes err when the state cannot be set up (e.g.
 * mem_bytes too small for the libraries). */
mb_lua_vm *mb_lua_vm_new(const mb_lua_limits *lim, const char *lib_dir, char *err, size_t errlen);

/* Close the state and free the VM. NULL is a no-op. Never call it from a C
 * function that Lua is running on this VM (close after the call returns). */
void mb_lua_vm_free(mb_lua_vm *vm);

/* VMs stopped inside compiled code since start-up (each leaks its LuaJIT
 * machine-code areas, see "Compiled code"). */
uint64_t mb_lua_vm_kills(void);

/* Compile a script file (text only; a bytecode file is refused) and push the
 * resulting function. chunkname NULL means "@<path>", which makes error
 * messages read "path:line: ...". Reads with stdio: call at load/reload
 * time, not per message. Returns MB_LUA_OK (one value pushed), or
 * MB_LUA_ERR_RUNTIME (missing file, syntax error) / MB_LUA_ERR_MEMORY with
 * nothing pushed and the message in err. */
int mb_lua_vm_load_file(mb_lua_vm *vm, const char *path, const char *chunkname, char *err, size_t errlen);

/* Same for source text in memory (NUL-terminated). chunkname NULL means
 * "=(string)". */
int mb_lua_vm_load_string(mb_lua_vm *vm, const char *code, const char *chunkname, char *err, size_t errlen);

/* Call the function below the top nargs values, like lua_pcall, under the
 * VM's budgets and with a traceback message handler.
 *   MB_LUA_OK: the function and arguments are replaced by nresults values
 *     (LUA_MULTRET allowed).
 *   otherwise: the function and arguments are popped, nothing is pushed, and
 *     err holds the message plus "stack traceback:" lines (file:line of the
 *     script). MB_LUA_ERR_TIMEOUT / MB_LUA_ERR_MEMORY tell the budget that
 *     ended the call; the VM stays usable for the next call.
 * Logs event=lua_slow_call ms=N when the call took more than warn_ms.
 * err may be NULL when errlen is 0. Nested calls (a C function called by
 * Lua calling back into Lua) share the outermost call's deadline, and a
 * timeout inside ends the outermost call too. */
int mb_lua_vm_pcall(mb_lua_vm *vm, int nargs, int nresults, char *err, size_t errlen);

/* Add (or replace) moonbase.<name> = fn in the built-in module, so the host
 * can offer notify, rpc, ... Scripts cannot modify the module table. fn finds
 * its VM with mb_lua_vm_from_state and the host with mb_lua_vm_get_host.
 * Returns MB_LUA_OK, or MB_LUA_ERR_RUNTIME when name is not an identifier or
 * names a built-in (now, mono_ms, uuid, json, null, log). A name
 * "table.fn" sets moonbase.table.fn, creating the (read-only) sub-table on
 * first use (moonbase.leaderboard.create). */
int mb_lua_vm_module_set(mb_lua_vm *vm, const char *name, lua_CFunction fn);

#endif
