/*
 * state.c - the bottom of the Lua host: a VM's state (state_internal.h),
 * its counting allocator (a per-VM pool), the memory cap in force and the
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
 * never fails (LuaJIT's GC relies on it). Lua gives the block's size on
 * every free and resize (osize), so the pool (state_internal.h) needs no
 * header on a small block: its size class says which free list it goes to.
 * Every chunk and every large block is listed, so kill_vm can free a VM
 * wholesale. */

typedef struct mb_lua_chunk {
    struct mb_lua_chunk *next;
    size_t size; /* the header stays 16 bytes: blocks after it are 16-byte aligned */
} mb_lua_chunk;

_Static_assert(sizeof(mb_lua_chunk) % MB_LUA_POOL_GRAIN == 0, "chunk header keeps blocks aligned");

/* Blocks up to this size come from the pool. Under AddressSanitizer none
 * does: every block is its own malloc, so ASan sees each Lua block's
 * bounds and lifetime (as with the scratch arena in alloc.c). */
#if defined(__SANITIZE_ADDRESS__)
#define SMALL_MAX 0
#else
#define SMALL_MAX MB_LUA_POOL_MAX
#endif

/* Chunks grow from 4 KiB (a VM that does little stays small) to 64 KiB. */
#define CHUNK_FIRST 4096
#define CHUNK_MAX 65536

static size_t size_class(size_t n) { return (n - 1) / MB_LUA_POOL_GRAIN; }

void mb_lua_pool_init(mb_lua_vm *vm)
{
    mb_lua_pool *p = &vm->pool;
    memset(p, 0, sizeof *p);
    p->large.prev = p->large.next = &p->large;
    p->next_chunk = CHUNK_FIRST;
}

static void small_put(mb_lua_pool *p, void *b, size_t c)
{
    *(void **)b = p->free[c];
    p->free[c] = b;
}

static void *small_get(mb_lua_pool *p, size_t c)
{
    void *b = p->free[c];
    if (b) {
        p->free[c] = *(void **)b;
        return b;
    }
    size_t sz = (c + 1) * MB_LUA_POOL_GRAIN;
    if ((size_t)(p->bump_end - p->bump) < sz) {
        /* the rest of the chunk (a multiple of 16, smaller than any
         * class it could not serve) becomes a free block of its size */
        size_t rest = (size_t)(p->bump_end - p->bump);
        if (rest >= MB_LUA_POOL_GRAIN) small_put(p, p->bump, size_class(rest));
        p->bump = p->bump_end = NULL;
        mb_lua_chunk *ch = malloc(p->next_chunk);
        if (!ch) return NULL;
        ch->size = p->next_chunk;
        ch->next = p->chunks;
        p->chunks = ch;
        p->bump = (char *)(ch + 1);
        p->bump_end = (char *)ch + ch->size;
        if (p->next_chunk < CHUNK_MAX) p->next_chunk *= 2;
    }
    b = p->bump;
    p->bump += sz;
    return b;
}

static void blk_link(mb_lua_pool *p, mb_lua_blk *b)
{
    b->prev = &p->large;
    b->next = p->large.next;
    b->next->prev = b;
    p->large.next = b;
}

static void blk_unlink(mb_lua_blk *b)
{
    b->prev->next = b->next;
    b->next->prev = b->prev;
}

static void pool_free(mb_lua_pool *p, void *ptr, size_t size)
{
    if (size <= SMALL_MAX) {
        small_put(p, ptr, size_class(size));
        return;
    }
    mb_lua_blk *b = (mb_lua_blk *)ptr - 1;
    blk_unlink(b);
    free(b);
}

/* A block of nsize bytes holding the first bytes of ptr (old bytes; ptr
 * NULL: a new block); ptr is given back unless the result is ptr. NULL
 * when the system is out of memory (ptr then stays as it was). */
static void *pool_resize(mb_lua_pool *p, void *ptr, size_t old, size_t nsize)
{
    if (ptr && old > SMALL_MAX && nsize > SMALL_MAX) {
        mb_lua_blk *b = (mb_lua_blk *)ptr - 1;
        blk_unlink(b);
        mb_lua_blk *nb = realloc(b, sizeof *nb + nsize);
        if (!nb) {
            blk_link(p, b);
            return NULL;
        }
        blk_link(p, nb);
        return nb + 1;
    }
    if (ptr && old <= SMALL_MAX && nsize <= SMALL_MAX && size_class(old) == size_class(nsize)) return ptr;
    void *np;
    if (nsize <= SMALL_MAX) {
        np = small_get(p, size_class(nsize));
    } else {
        mb_lua_blk *nb = malloc(sizeof *nb + nsize);
        if (!nb) return NULL;
        blk_link(p, nb);
        np = nb + 1;
    }
    if (np && ptr) {
        memcpy(np, ptr, old < nsize ? old : nsize);
        pool_free(p, ptr, old);
    }
    return np;
}

void *mb_lua_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    mb_lua_vm *vm = ud;
    size_t old = ptr ? osize : 0;

    if (nsize == 0) {
        if (ptr) pool_free(&vm->pool, ptr, old);
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
    void *np = pool_resize(&vm->pool, ptr, old, nsize);
    if (!np) {
        if (nsize <= old) return ptr; /* a failed shrink keeps the old block */
        vm->mem_refused = true;       /* the system is out: still recoverable */
        return NULL;
    }
    vm->mem_used = vm->mem_used - old + nsize;
    g_mem_total = g_mem_total - old + nsize;
    return np;
}

/* Free every block of the VM at once (its lua_State is abandoned). */
void mb_lua_blk_free_all(mb_lua_vm *vm)
{
    mb_lua_pool *p = &vm->pool;
    mb_lua_blk *b = p->large.next;
    while (b != &p->large) {
        mb_lua_blk *n = b->next;
        free(b);
        b = n;
    }
    mb_lua_chunk *ch = p->chunks;
    while (ch) {
        mb_lua_chunk *n = ch->next;
        free(ch);
        ch = n;
    }
    mb_lua_pool_init(vm);
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
