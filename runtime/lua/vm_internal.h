/*
 * vm_internal.h - what vm.c, sandbox.c, module.c and convert.c share about
 * a VM. Not part of the public API.
 */
#ifndef MB_LUA_VM_INTERNAL_H
#define MB_LUA_VM_INTERNAL_H

#include "vm.h"

#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>

/* Header of every block the allocator hands out: a VM's blocks form a
 * circular list, so a VM stopped inside compiled code (its lua_State left
 * inconsistent) can be released without lua_close. 16 bytes keep the
 * block 16-byte aligned. */
typedef struct mb_lua_blk {
    struct mb_lua_blk *prev, *next;
} mb_lua_blk;

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

    mb_lua_blk blocks;             /* sentinel of the list of this VM's blocks */
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
};

/* decode.c: the protected body of mb_lua_push_json_text (light userdata
 * argument: its parse state). */
int mb_lua_decode_cb(lua_State *L);

/* Set the allocator cap for the current phase (strict during calls). */
void mb_lua_vm_update_limit(mb_lua_vm *vm);

/* sandbox.c: open the allowed libraries and install the base replacements
 * and require. Runs inside lua_cpcall during mb_lua_vm_new. */
void mb_lua_sandbox_open(lua_State *L, mb_lua_vm *vm);

/* module.c: build the moonbase and cjson module tables and store them in
 * the registry (vm->ref_module and the private require cache). */
void mb_lua_module_open(lua_State *L, mb_lua_vm *vm);
/* Push the script-visible (read-only) module named "moonbase" or "cjson";
 * returns 0 when name is not built in. */
int mb_lua_module_push_builtin(lua_State *L, const char *name);
/* Log `level` with the script's arguments from index first on (print, log). */
void mb_lua_module_log(lua_State *L, int level, int first);

/* Compile text in `code` with mode "t", refusing bytecode. Returns the
 * lua_load status and pushes the function or an error message. */
int mb_lua_load_text(lua_State *L, const char *code, size_t len, const char *chunkname);

/* Read a whole regular file (at most max bytes) into a malloc'd buffer.
 * Returns NULL with errno-style message in err. */
char *mb_lua_read_file(const char *path, size_t max, size_t *len, char *err, size_t errlen);

#define MB_LUA_MAX_SOURCE_BYTES ((size_t)8 << 20)

#endif
