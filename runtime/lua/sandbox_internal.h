/*
 * sandbox_internal.h - what vm.c needs of sandbox.c. Not part of the public API.
 */
#ifndef MB_LUA_SANDBOX_INTERNAL_H
#define MB_LUA_SANDBOX_INTERNAL_H

#include "state.h"

/* sandbox.c: open the allowed libraries and install the base replacements
 * and require. Runs inside lua_cpcall during mb_lua_vm_new. */
void mb_lua_sandbox_open(lua_State *L, mb_lua_vm *vm);

#endif
