/*
 * state.c - the bottom of the Lua host: a VM's state (state_internal.h),
 * its counting, block-tracking allocator, the memory cap in force and the
 * plain accessors of vm.h/state.h. Every other file of runtime/lua builds
 * on this one; it calls none of them.
 */
#include "state_internal.h"

#include "mb.h"

#include <stdlib.h>
#include <string.h>

static size_t g_mem_total;          /* all live VMs; loop thread only */
mb_lua_vm *volatile mb_lua_running; /* JIT VM of the running outermost call (vm.c) */

const char *mb_lua_status_name(int status)
{
    switch (status) {
    case MB_LUA_OK: return "ok";
    case MB_LUA_ERR_RUNTIME: return "runtime";
    case MB_LUA_ERR_TIMEOUT: return "timeout";
    case MB_LUA_ERR_MEMORY: return "memory";
    default: return "unknown";
    }
}

/* ---- allocator ---------------------------------------------------------- */

/* Lua's allocator contract: nsize == 0 frees; otherwise returns a block of
 * nsize bytes or NULL, which makes Lua raise "not enough memory". Shrinking
 * never fails (LuaJIT's GC relies on it). Every block carries an
 * mb_lua_blk header linking it into vm->blocks (see kill_vm). */
static void blk_link(mb_lua_vm *vm, mb_lua_blk *b)
{
    b->prev = &vm->blocks;
    b->next = vm->blocks.next;
    b->next->prev = b;
    vm->blocks.next = b;
}

static void blk_unlink(mb_lua_blk *b)
{
    b->prev->next = b->next;
    b->next->prev = b->prev;
}

void *mb_lua_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    mb_lua_vm *vm = ud;
    size_t old = ptr ? osize : 0;
    mb_lua_blk *b = ptr ? (mb_lua_blk *)ptr - 1 : NULL;

    if (nsize == 0) {
        if (b) {
            blk_unlink(b);
            free(b);
        }
        vm->mem_used -= old;
        g_mem_total -= old;
        return NULL;
    }
    if (nsize > old) {
        size_t grow = nsize - old;
        if (vm->mem_used > vm->mem_limit || grow > vm->mem_limit - vm->mem_used) {
            vm->mem_refused = true;
            return NULL;
        }
        /* Past the deadline (seen here every 64 allocations, or by the
         * CPU-time signal): a compiled loop that allocates gets "not
         * enough memory" at its next allocation, an ordinary error that
         * unwinds the trace; the call then ends as a timeout and the VM
         * survives. Only inside a JIT VM's outermost call (mb_lua_running). */
        if (vm == mb_lua_running && (++vm->nalloc & 63) == 0 && mb_now_us() >= vm->deadline_us)
            vm->expired = 1;
        if (vm->expired && !vm->in_handler) return NULL;
    }
    if (b) blk_unlink(b);
    mb_lua_blk *nb = realloc(b, sizeof *nb + nsize);
    if (!nb) {
        if (b) blk_link(vm, b);
        if (nsize <= old) return ptr; /* a failed shrink keeps the old block */
        vm->mem_refused = true;       /* the system is out: still recoverable */
        return NULL;
    }
    blk_link(vm, nb);
    vm->mem_used = vm->mem_used - old + nsize;
    g_mem_total = g_mem_total - old + nsize;
    return nb + 1;
}

/* Free every block of the VM at once (its lua_State is abandoned). */
void mb_lua_blk_free_all(mb_lua_vm *vm)
{
    mb_lua_blk *b = vm->blocks.next;
    while (b != &vm->blocks) {
        mb_lua_blk *n = b->next;
        free(b);
        b = n;
    }
    vm->blocks.prev = vm->blocks.next = &vm->blocks;
    g_mem_total -= vm->mem_used;
    vm->mem_used = 0;
}

void mb_lua_vm_update_limit(mb_lua_vm *vm)
{
    bool strict = vm->depth > 0 && !vm->in_handler;
    vm->mem_limit = vm->lim.mem_bytes + (strict ? 0 : MB_LUA_HOST_HEADROOM);
}

mb_lua_vm *mb_lua_vm_from_state(lua_State *L)
{
    void *ud = NULL;
    if (!L || lua_getallocf(L, &ud) != mb_lua_alloc) return NULL;
    return ud;
}

size_t mb_lua_vm_mem_used(const mb_lua_vm *vm) { return vm->mem_used; }

size_t mb_lua_mem_total(void) { return g_mem_total; }

/* ---- accessors ---------------------------------------------------------- */

bool mb_lua_vm_jit(const mb_lua_vm *vm) { return vm->jit; }

bool mb_lua_vm_killed(const mb_lua_vm *vm) { return vm->killed; }

lua_State *mb_lua_vm_state(mb_lua_vm *vm) { return vm->L; }

const mb_lua_limits *mb_lua_vm_limits(const mb_lua_vm *vm) { return &vm->lim; }

void mb_lua_vm_set_time_ms(mb_lua_vm *vm, unsigned time_ms)
{
    vm->lim.time_ms = time_ms ? time_ms : MB_LUA_DEFAULT_TIME_MS;
}

void mb_lua_vm_set_host(mb_lua_vm *vm, void *host) { vm->host = host; }

void *mb_lua_vm_get_host(const mb_lua_vm *vm) { return vm->host; }

void mb_lua_vm_set_context(mb_lua_vm *vm, int context) { vm->context = context; }

int mb_lua_vm_context(const mb_lua_vm *vm) { return vm->context; }

void mb_lua_vm_set_name(mb_lua_vm *vm, const char *name)
{
    mb_free(vm->name);
    vm->name = mb_strdup(name ? name : "lua");
}

const char *mb_lua_vm_name(const mb_lua_vm *vm) { return vm->name; }
