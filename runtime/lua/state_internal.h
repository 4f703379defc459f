/*
 * state_internal.h - a VM's state, shared by every file of runtime/lua (the
 * bottom layer: state.c). Not part of the public API.
 */
#ifndef MB_LUA_STATE_INTERNAL_H
#define MB_LUA_STATE_INTERNAL_H

#include "state.h"

#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>

/* A VM's memory (state.c): blocks up to MB_LUA_POOL_MAX bytes are carved
 * from the VM's own chunks, in 16-byte size classes with a free list each
 * (Lua passes the old size on every free and resize, so a small block needs
 * no header); a larger block is malloc'd with an mb_lua_blk header linking
 * it into a list. Either way everything a VM owns can be released at once,
 * without lua_close, when it was stopped inside compiled code and its
 * lua_State is inconsistent (vm.c kill_vm). 16 bytes keep blocks 16-byte
 * aligned. */
#define MB_LUA_POOL_GRAIN 16
#define MB_LUA_POOL_MAX 512
#define MB_LUA_POOL_CLASSES (MB_LUA_POOL_MAX / MB_LUA_POOL_GRAIN)

typedef struct mb_lua_blk {
    struct mb_lua_blk *prev, *next;
} mb_lua_blk;

typedef struct mb_lua_pool {
    void *free[MB_LUA_POOL_CLASSES]; /* class c holds blocks of (c + 1) * 16 bytes */
    char *bump, *bump_end;           /* the unused rest of the newest chunk */
    struct mb_lua_chunk *chunks;     /* every chunk, newest first */
    size_t next_chunk;               /* size of the next chunk (grows to a cap) */
    mb_lua_blk large;                /* sentinel of the list of large blocks */
} mb_lua_pool;

struct mb_lua_vm {
    lua_State *L;
    mb_lua_limits lim;
    char *lib_dir; /* NULL: require of files fails */
    char *name;    /* log label */
    void *host;    /* borrowed */
    int context;   /* mb_lua_vm_set_context: host-defined, 0 on a new VM */

    size_t mem_used;  /* bytes the allocator handed out */
    size_t mem_limit; /* cap in force right now (strict or with headroom) */
    bool mem_refused; /* an allocation was refused during the current call */
    size_t gc_mark;   /* mem_used after the last pressure-driven full GC */

    int depth;               /* nesting of mb_lua_vm_pcall / loads */
    int64_t deadline_us;     /* monotonic, for the outermost call */
    int abort;               /* MB_LUA_ERR_TIMEOUT once the deadline passed */
    bool in_handler;         /* building a traceback: allow the headroom */
    uintptr_t cstack_base;   /* C stack guard (cstack.c): stack address at the outermost call */
    char timeout_where[160]; /* "file:line: " of the first timeout of this call */

    mb_lua_pool pool;              /* every block of this VM (state.c) */
    bool jit;                      /* JIT compiler on (containment armed) */
    bool killed;                   /* stopped inside compiled code: L is a bare stand-in */
    volatile sig_atomic_t expired; /* past the deadline (signal or allocator saw it) */
    unsigned nalloc;               /* growths, to check the clock every 64 */
    sigjmp_buf *jmp;               /* boundary of the running outermost call (JIT VMs) */
    char trace_where[160];         /* "file:line" where the last trace started recording */

    int ref_traceback; /* registry ref of the message handler */
    int ref_module;    /* registry ref of the real moonbase table */
    int ref_stash;     /* registry slot (holds true) for protected pushes */
    int ref_decode;    /* registry ref of mb_lua_decode_cb (made once: no closure per decode) */

    int tasks;   /* task.c: tasks started and not ended */
    int n_spare; /* task.c: coroutines that finished cleanly, kept for the next tasks */
    struct {
        lua_State *co;
        int ref;
    } spare[8];
    bool free_pending; /* mb_lua_vm_free was called with tasks pending: free after the last */
};

/* Set the allocator cap for the current phase (strict during calls). */
void mb_lua_vm_update_limit(mb_lua_vm *vm);

/* The counting allocator of every VM's lua_State (ud: the mb_lua_vm). */
void *mb_lua_alloc(void *ud, void *ptr, size_t osize, size_t nsize);

/* Make the VM's pool empty (before its first lua_newstate). */
void mb_lua_pool_init(mb_lua_vm *vm);

/* Free every block of the VM at once (its lua_State is abandoned). */
void mb_lua_blk_free_all(mb_lua_vm *vm);

/* The JIT VM of the running outermost call (set by vm.c around it, read by
 * the allocator and the CPU-time signal handler), or NULL. */
extern mb_lua_vm *volatile mb_lua_running;

#endif
