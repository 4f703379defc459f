/*
 * cstack.c - the C stack guard (see cstack.h).
 *
 * Two measures, both in bytes (a depth counter would need restoring on
 * every error that unwinds through a wrapper, and bytes stay meaningful
 * under ASan, whose frames are several times larger):
 *   - relative: the outermost mb_lua_vm_pcall records its stack address
 *     (vm->cstack_base); nested calls may use MB_LUA_CSTACK_LIMIT below it;
 *   - absolute: MB_LUA_CSTACK_RESERVE (a quarter of a smaller stack) must
 *     stay free above the end of the thread's stack (covers a small stack,
 *     e.g. a thread's or `ulimit -s`).
 * Nothing is counted, so nothing needs restoring when an error unwinds.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "cstack.h"

#include "state_internal.h"

#include <pthread.h>

#include <lauxlib.h>

static _Thread_local uintptr_t t_stack_low, t_stack_high; /* the thread's stack; 0 = unknown */
static _Thread_local size_t t_reserve;
static _Thread_local bool t_stack_known;

void mb_lua_cstack_init(void)
{
    if (t_stack_known) return;
    t_stack_known = true;
    pthread_attr_t attr;
    if (pthread_getattr_np(pthread_self(), &attr) != 0) return;
    void *addr = NULL;
    size_t size = 0;
    if (pthread_attr_getstack(&attr, &addr, &size) == 0 && addr) {
        t_stack_low = (uintptr_t)addr;
        t_stack_high = (uintptr_t)addr + size;
        /* a small stack (a thread's) keeps a quarter free */
        t_reserve = size / 4 < MB_LUA_CSTACK_RESERVE ? size / 4 : MB_LUA_CSTACK_RESERVE;
    }
    pthread_attr_destroy(&attr);
}

__attribute__((noinline)) bool mb_lua_cstack_exceeded(uintptr_t base)
{
    uintptr_t sp = MB_LUA_CSTACK_HERE();
    if (base && base > sp && base - sp > MB_LUA_CSTACK_LIMIT) return true;
    if (!t_stack_known) mb_lua_cstack_init();
    /* only on the thread's own stack (not, say, a stack of a user-level
     * context, whose end is unknown: the relative measure covers it) */
    if (t_stack_low && sp >= t_stack_low && sp < t_stack_high && sp - t_stack_low < t_reserve) return true;
    return false;
}

void mb_lua_cstack_check(lua_State *L, const char *what)
{
    mb_lua_vm *vm = mb_lua_vm_from_state(L);
    uintptr_t base = vm && vm->depth > 0 ? vm->cstack_base : 0;
    if (mb_lua_cstack_exceeded(base))
        luaL_error(L,
                   "C stack overflow in %s: too many nested coroutine, gsub, sort, format, load or "
                   "require calls (limit %d KiB of C stack)",
                   what, (int)(MB_LUA_CSTACK_LIMIT >> 10));
}
