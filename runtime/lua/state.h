/*
 * state.h - the types of the Lua host (status codes, limits, the VM handle)
 * and the accessors of a VM's state (state.c). Part of the public API:
 * vm.h includes it, and its description of a VM applies here. The files of
 * runtime/lua below vm.c include this header, not vm.h.
 */
#ifndef MB_LUA_STATE_H
#define MB_LUA_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <lua.h>
#include <lauxlib.h>

/* Status of a call into Lua. MB_LUA_OK == MB_OK and every error is < 0, so
 * `if (rc != MB_OK)` reads the same as elsewhere in Moonbase. */
typedef enum mb_lua_status {
    MB_LUA_OK = 0,
    MB_LUA_ERR_RUNTIME = -1, /* error raised by the script (or a syntax error) */
    MB_LUA_ERR_TIMEOUT = -2, /* the call ran past limits.time_ms */
    MB_LUA_ERR_MEMORY = -3,  /* the VM hit limits.mem_bytes */
} mb_lua_status;

#define MB_LUA_DEFAULT_MEM_BYTES ((size_t)64 << 20)
#define MB_LUA_DEFAULT_TIME_MS 1000u /* mb_lua_vm's own default; hosts pass their budgets */
#define MB_LUA_DEFAULT_WARN_MS 50u
#define MB_LUA_HOST_HEADROOM ((size_t)1 << 20)
#define MB_LUA_HOOK_INSTRUCTIONS 1000

/* Budgets of one VM. A zero field takes its default. */
typedef struct mb_lua_limits {
    size_t mem_bytes; /* memory cap of the lua_State (default 64 MiB) */
    unsigned time_ms; /* hard limit of one outermost call (default 1000) */
    unsigned warn_ms; /* log event=lua_slow_call past this (default 50) */
    bool jit;         /* turn LuaJIT's compiler on (see vm.h, "Compiled code");
                         stays off where the containment is not available */
} mb_lua_limits;

typedef struct mb_lua_vm mb_lua_vm;

/* "ok", "runtime", "timeout", "memory" (or "unknown"). */
const char *mb_lua_status_name(int status);

/* The state, for pushing arguments and reading results with the lua_* API.
 * Read values the script returns with raw accessors (lua_rawget, lua_next):
 * lua_getfield may run script metamethods outside any budget. */
lua_State *mb_lua_vm_state(mb_lua_vm *vm);

/* The VM owning L (any coroutine of it), or NULL when L was not created by
 * mb_lua_vm_new. */
mb_lua_vm *mb_lua_vm_from_state(lua_State *L);

/* Effective limits (defaults filled in). */
const mb_lua_limits *mb_lua_vm_limits(const mb_lua_vm *vm);

/* Change the hard time limit of the following outermost calls (0 = the
 * default). The match host runs init/reload under a larger budget than
 * the per-tick callbacks (see docs/LUA_API.md, "Budgets"). Has no effect
 * on a call already running. */
void mb_lua_vm_set_time_ms(mb_lua_vm *vm, unsigned time_ms);

/* Bytes currently allocated by this VM's lua_State. */
size_t mb_lua_vm_mem_used(const mb_lua_vm *vm);

/* Bytes allocated by all live VMs of the process (0 when none is alive). */
size_t mb_lua_mem_total(void);

/* True when the VM runs with the JIT compiler on. */
bool mb_lua_vm_jit(const mb_lua_vm *vm);

/* True once a call was stopped inside compiled code (see "Compiled code"):
 * the script's state is gone and every later call or load fails with
 * MB_LUA_ERR_TIMEOUT. mb_lua_vm_state still returns a valid (empty)
 * lua_State, so the host's pending pushes, pops and unrefs are harmless;
 * the host discards the VM (mb_lua_vm_free) and makes a new one if needed. */
bool mb_lua_vm_killed(const mb_lua_vm *vm);

/* Host slot: an opaque pointer the host attaches (e.g. its match). Borrowed:
 * the VM never frees it. Default NULL. */
void mb_lua_vm_set_host(mb_lua_vm *vm, void *host);
void *mb_lua_vm_get_host(const mb_lua_vm *vm);

/* Call context: a small integer the host stores around each call it makes
 * (which callback of a script runs) and reads back in its host functions to
 * refuse a call from the wrong callback (modules/match: match_ctx). The VM
 * never interprets it. 0 on a new VM. A field store: cheap on every call. */
void mb_lua_vm_set_context(mb_lua_vm *vm, int context);
int mb_lua_vm_context(const mb_lua_vm *vm);

/* A label used in this VM's log lines (script=...), e.g. "arena@3 match=12".
 * Copied. Default "lua". */
void mb_lua_vm_set_name(mb_lua_vm *vm, const char *name);
const char *mb_lua_vm_name(const mb_lua_vm *vm);

#endif
