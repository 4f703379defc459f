/*
 * module_internal.h - what vm.c and sandbox.c need of module.c. Not part of
 * the public API.
 */
#ifndef MB_LUA_MODULE_INTERNAL_H
#define MB_LUA_MODULE_INTERNAL_H

#include "state.h"

/* module.c: build the moonbase and cjson module tables and store them in
 * the registry (vm->ref_module and the private require cache). */
void mb_lua_module_open(lua_State *L, mb_lua_vm *vm);
/* Push the script-visible (read-only) module named "moonbase" or "cjson";
 * returns false (nothing pushed) when name is not built in. */
bool mb_lua_module_push_builtin(lua_State *L, const char *name);
/* mb_lua_vm_module_set's protected part: arg 1 is a light userdata
 * pointing to this. */
typedef struct mb_lua_module_set_args {
    mb_lua_vm *vm;
    const char *name; /* "fn" or "lib.fn" */
    lua_CFunction fn;
} mb_lua_module_set_args;
int mb_lua_module_set_cb(lua_State *L);
/* Log `level` with the script's arguments from index first on (print, log). */
void mb_lua_module_log(lua_State *L, int level, int first);

#endif
