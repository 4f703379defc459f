/*
 * vm.c - VM lifecycle, counting allocator, time budget hook, protected
 * calls and loading (see vm.h).
 */
#include "vm_internal.h"

#include "log.h"
#include "mb.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <luajit.h>

static size_t g_mem_total; /* all live VMs; loop thread only */

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

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
 * never fails (LuaJIT's GC relies on it). */
static void *vm_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    mb_lua_vm *vm = ud;
    size_t old = ptr ? osize : 0;

    if (nsize == 0) {
        free(ptr);
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
    }
    void *p = realloc(ptr, nsize);
    if (!p) {
        if (nsize <= old) return ptr; /* a failed shrink keeps the old block */
        vm->mem_refused = true;       /* the system is out: still recoverable */
        return NULL;
    }
    vm->mem_used = vm->mem_used - old + nsize;
    g_mem_total = g_mem_total - old + nsize;
    return p;
}

void mb_lua_vm_update_limit(mb_lua_vm *vm)
{
    bool strict = vm->depth > 0 && !vm->in_handler;
    vm->mem_limit = vm->lim.mem_bytes + (strict ? 0 : MB_LUA_HOST_HEADROOM);
}

mb_lua_vm *mb_lua_vm_from_state(lua_State *L)
{
    void *ud = NULL;
    if (!L || lua_getallocf(L, &ud) != vm_alloc) return NULL;
    return ud;
}

size_t mb_lua_vm_mem_used(const mb_lua_vm *vm)
{
    return vm->mem_used;
}

size_t mb_lua_mem_total(void)
{
    return g_mem_total;
}

/* ---- time budget -------------------------------------------------------- */

/* LuaJIT has no emergency GC: when garbage piles up near the cap an
 * allocation fails although the live data would fit. Collect fully before
 * that happens, at most once per 1/8 of the cap of growth. Called from the
 * hook (an instruction boundary) and before calls and loads. */
static void pressure_gc(mb_lua_vm *vm)
{
    size_t cap = vm->lim.mem_bytes;
    if (vm->mem_used < vm->gc_mark) vm->gc_mark = vm->mem_used;
    if (vm->mem_used > cap / 4 * 3 && vm->mem_used - vm->gc_mark > cap / 8) {
        lua_gc(vm->L, LUA_GCCOLLECT, 0);
        vm->gc_mark = vm->mem_used;
    }
}

static void vm_hook(lua_State *L, lua_Debug *ar)
{
    MB_UNUSED(ar);
    mb_lua_vm *vm = mb_lua_vm_from_state(L);
    if (!vm || vm->depth == 0) return;

    if (!vm->abort) {
        if (mb_now_us() < vm->deadline_us) {
            pressure_gc(vm);
            return;
        }
        vm->abort = MB_LUA_ERR_TIMEOUT;
        /* From now on every instruction raises, so a pcall, xpcall handler
         * or coroutine.resume in the script cannot keep running. */
        lua_sethook(L, vm_hook, LUA_MASKCOUNT, 1);
        luaL_error(L, "script timed out (limit %u ms)", vm->lim.time_ms);
    }
    lua_pushliteral(L, "script timed out");
    lua_error(L);
}

/* Message handler of mb_lua_vm_pcall: message plus traceback. */
static int l_traceback(lua_State *L)
{
    mb_lua_vm *vm = mb_lua_vm_from_state(L);
    if (vm) {
        vm->in_handler = true; /* the traceback may use the headroom */
        mb_lua_vm_update_limit(vm);
    }
    const char *msg = lua_tostring(L, 1);
    if (!msg) {
        if (lua_isnoneornil(L, 1))
            msg = "nil error";
        else
            msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    luaL_traceback(L, L, msg, 1);
    return 1;
}

/* ---- lifecycle ---------------------------------------------------------- */

static int l_panic(lua_State *L)
{
    const char *msg = lua_tostring(L, -1);
    char q[512];
    mb_error("lua_panic", "msg=%s", mb_log_quote(q, sizeof q, msg ? msg : "?"));
    abort();
    return 0;
}

static int vm_init(lua_State *L)
{
    mb_lua_vm *vm = lua_touserdata(L, 1);
    mb_lua_sandbox_open(L, vm);
    mb_lua_module_open(L, vm);
    lua_pushcfunction(L, l_traceback);
    vm->ref_traceback = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pushboolean(L, 1);
    vm->ref_stash = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pushcfunction(L, mb_lua_decode_cb);
    vm->ref_decode = luaL_ref(L, LUA_REGISTRYINDEX);
    return 0;
}

mb_lua_vm *mb_lua_vm_new(const mb_lua_limits *lim, const char *lib_dir, char *err, size_t errlen)
{
    mb_lua_vm *vm = mb_calloc(1, sizeof *vm);
    if (lim) vm->lim = *lim;
    if (!vm->lim.mem_bytes) vm->lim.mem_bytes = MB_LUA_DEFAULT_MEM_BYTES;
    if (!vm->lim.time_ms) vm->lim.time_ms = MB_LUA_DEFAULT_TIME_MS;
    if (!vm->lim.warn_ms) vm->lim.warn_ms = MB_LUA_DEFAULT_WARN_MS;
    vm->lib_dir = lib_dir ? mb_strdup(lib_dir) : NULL;
    vm->name = mb_strdup("lua");
    vm->ref_traceback = vm->ref_module = vm->ref_stash = vm->ref_decode = LUA_NOREF;

    vm->depth = 1; /* set-up counts against the strict cap */
    mb_lua_vm_update_limit(vm);
    vm->L = lua_newstate(vm_alloc, vm);
    if (!vm->L) {
        set_err(err, errlen, "cannot create lua state (memory limit %zu bytes)", vm->lim.mem_bytes);
        mb_lua_vm_free(vm);
        return NULL;
    }
    lua_atpanic(vm->L, l_panic);
    /* The JIT stays off: count hooks do not fire inside compiled traces. */
    luaJIT_setmode(vm->L, 0, LUAJIT_MODE_ENGINE | LUAJIT_MODE_OFF);

    int st = lua_cpcall(vm->L, vm_init, vm);
    vm->depth = 0;
    mb_lua_vm_update_limit(vm);
    if (st != 0) {
        const char *msg = lua_tostring(vm->L, -1);
        set_err(err, errlen, "cannot set up lua state: %s", msg ? msg : "?");
        mb_lua_vm_free(vm);
        return NULL;
    }
    lua_sethook(vm->L, vm_hook, LUA_MASKCOUNT, MB_LUA_HOOK_INSTRUCTIONS);
    lua_gc(vm->L, LUA_GCCOLLECT, 0);
    return vm;
}

void mb_lua_vm_free(mb_lua_vm *vm)
{
    if (!vm) return;
    if (vm->L) {
        lua_close(vm->L);
        if (vm->mem_used != 0)
            mb_warn("lua_mem_leak", "bytes=%zu", vm->mem_used); /* allocator bug */
    }
    mb_free(vm->lib_dir);
    mb_free(vm->name);
    mb_free(vm);
}

lua_State *mb_lua_vm_state(mb_lua_vm *vm)
{
    return vm->L;
}

const mb_lua_limits *mb_lua_vm_limits(const mb_lua_vm *vm)
{
    return &vm->lim;
}

void mb_lua_vm_set_host(mb_lua_vm *vm, void *host)
{
    vm->host = host;
}

void *mb_lua_vm_get_host(const mb_lua_vm *vm)
{
    return vm->host;
}

void mb_lua_vm_set_context(mb_lua_vm *vm, int context)
{
    vm->context = context;
}

int mb_lua_vm_context(const mb_lua_vm *vm)
{
    return vm->context;
}

void mb_lua_vm_set_name(mb_lua_vm *vm, const char *name)
{
    mb_free(vm->name);
    vm->name = mb_strdup(name ? name : "lua");
}

const char *mb_lua_vm_name(const mb_lua_vm *vm)
{
    return vm->name;
}

/* ---- loading ------------------------------------------------------------ */

char *mb_lua_read_file(const char *path, size_t max, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        set_err(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        set_err(err, errlen, "cannot read %s: not a regular file", path);
        fclose(f);
        return NULL;
    }
    if ((uint64_t)st.st_size > max) {
        set_err(err, errlen, "cannot read %s: larger than %zu bytes", path, max);
        fclose(f);
        return NULL;
    }
    size_t n = (size_t)st.st_size;
    char *buf = mb_malloc(n + 1);
    size_t got = fread(buf, 1, n, f);
    int bad = ferror(f);
    fclose(f);
    if (bad || got != n) {
        set_err(err, errlen, "cannot read %s: short read", path);
        mb_free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

int mb_lua_load_text(lua_State *L, const char *code, size_t len, const char *chunkname)
{
    /* Mode "t" already refuses binary chunks; the explicit check keeps the
     * message plain. */
    if (len > 0 && code[0] == LUA_SIGNATURE[0]) {
        lua_pushfstring(L, "%s: binary (bytecode) chunks are not allowed", chunkname);
        return LUA_ERRSYNTAX;
    }
    return luaL_loadbufferx(L, code, len, chunkname, "t");
}

static int load_status(mb_lua_vm *vm, int st, char *err, size_t errlen)
{
    if (st == 0) return MB_LUA_OK;
    const char *msg = lua_tostring(vm->L, -1);
    set_err(err, errlen, "%s", msg ? msg : "load failed");
    lua_pop(vm->L, 1);
    return st == LUA_ERRMEM ? MB_LUA_ERR_MEMORY : MB_LUA_ERR_RUNTIME;
}

static int load_buffer(mb_lua_vm *vm, const char *code, size_t len, const char *chunkname,
                       char *err, size_t errlen)
{
    if (!lua_checkstack(vm->L, 2)) {
        set_err(err, errlen, "lua stack overflow");
        return MB_LUA_ERR_RUNTIME;
    }
    if (vm->depth == 0) pressure_gc(vm);
    vm->depth++; /* compile under the strict cap */
    mb_lua_vm_update_limit(vm);
    int st = mb_lua_load_text(vm->L, code, len, chunkname);
    vm->depth--;
    mb_lua_vm_update_limit(vm);
    return load_status(vm, st, err, errlen);
}

int mb_lua_vm_load_file(mb_lua_vm *vm, const char *path, const char *chunkname, char *err,
                        size_t errlen)
{
    size_t len = 0;
    char *code = mb_lua_read_file(path, MB_LUA_MAX_SOURCE_BYTES, &len, err, errlen);
    if (!code) return MB_LUA_ERR_RUNTIME;
    char *name = chunkname ? NULL : mb_sprintf("@%s", path);
    int rc = load_buffer(vm, code, len, chunkname ? chunkname : name, err, errlen);
    mb_free(name);
    mb_free(code);
    return rc;
}

int mb_lua_vm_load_string(mb_lua_vm *vm, const char *code, const char *chunkname, char *err,
                          size_t errlen)
{
    return load_buffer(vm, code, strlen(code), chunkname ? chunkname : "=(string)", err, errlen);
}

/* ---- protected calls ---------------------------------------------------- */

int mb_lua_vm_pcall(mb_lua_vm *vm, int nargs, int nresults, char *err, size_t errlen)
{
    lua_State *L = vm->L;
    int base = lua_gettop(L) - nargs - 1; /* slot below the function */
    if (base < 0) {
        set_err(err, errlen, "mb_lua_vm_pcall: no function on the stack");
        return MB_LUA_ERR_RUNTIME;
    }
    if (!lua_checkstack(L, 1)) {
        lua_settop(L, base);
        set_err(err, errlen, "lua stack overflow");
        return MB_LUA_ERR_RUNTIME;
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, vm->ref_traceback);
    lua_insert(L, base + 1);

    bool outer = vm->depth == 0;
    int64_t t0 = 0;
    if (outer) {
        t0 = mb_now_us();
        vm->deadline_us = t0 + (int64_t)vm->lim.time_ms * 1000;
        vm->abort = 0;
        vm->mem_refused = false;
        pressure_gc(vm);
    }
    vm->depth++;
    mb_lua_vm_update_limit(vm);
    int st = lua_pcall(L, nargs, nresults, base + 1);
    vm->depth--;
    vm->in_handler = false; /* the handler (if any) has finished */
    mb_lua_vm_update_limit(vm);

    int rc;
    if (vm->abort)
        rc = MB_LUA_ERR_TIMEOUT;
    else if (st == LUA_ERRMEM)
        rc = MB_LUA_ERR_MEMORY;
    else if (st != 0 && vm->mem_refused && lua_isstring(L, -1) &&
             strstr(lua_tostring(L, -1), "not enough memory"))
        rc = MB_LUA_ERR_MEMORY; /* rethrown by the script after a refusal */
    else
        rc = st == 0 ? MB_LUA_OK : MB_LUA_ERR_RUNTIME;

    if (rc == MB_LUA_OK) {
        lua_remove(L, base + 1);
    } else {
        const char *msg = st != 0 ? lua_tostring(L, -1) : NULL;
        if (rc == MB_LUA_ERR_MEMORY && st == LUA_ERRMEM)
            set_err(err, errlen, "not enough memory (limit %zu bytes)", vm->lim.mem_bytes);
        else if (msg)
            set_err(err, errlen, "%s", msg);
        else
            set_err(err, errlen, "script timed out (limit %u ms)", vm->lim.time_ms);
        lua_settop(L, base);
    }

    if (outer) {
        /* The failed call's garbage may sit right at the cap: free it now
         * rather than fail the next call's first allocation. */
        if (rc == MB_LUA_ERR_MEMORY) {
            lua_gc(L, LUA_GCCOLLECT, 0);
            vm->gc_mark = vm->mem_used;
        }
        if (vm->abort) {
            vm->abort = 0;
            lua_sethook(L, vm_hook, LUA_MASKCOUNT, MB_LUA_HOOK_INSTRUCTIONS);
        }
        int64_t ms = (mb_now_us() - t0) / 1000;
        if (ms > (int64_t)vm->lim.warn_ms) {
            char q[256];
            mb_warn("lua_slow_call", "ms=%lld script=%s status=%s", (long long)ms,
                    mb_log_quote(q, sizeof q, vm->name), mb_lua_status_name(rc));
        }
    }
    return rc;
}

/* ---- module ------------------------------------------------------------- */

static const char *const builtin_names[] = { "now", "mono_ms", "uuid", "json", "null", "log" };

struct module_set_args {
    mb_lua_vm *vm;
    const char *name;
    lua_CFunction fn;
};

static int module_set_cb(lua_State *L)
{
    struct module_set_args *a = lua_touserdata(L, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, a->vm->ref_module);
    lua_pushstring(L, a->name);
    lua_pushcfunction(L, a->fn);
    lua_rawset(L, -3);
    return 0;
}

static bool is_alpha_(char c)
{
    return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

int mb_lua_vm_module_set(mb_lua_vm *vm, const char *name, lua_CFunction fn)
{
    if (!name || !fn || !is_alpha_(name[0])) return MB_LUA_ERR_RUNTIME;
    for (const char *p = name; *p; p++)
        if (!is_alpha_(*p) && !(*p >= '0' && *p <= '9')) return MB_LUA_ERR_RUNTIME;
    for (size_t i = 0; i < MB_ARRAY_LEN(builtin_names); i++)
        if (strcmp(name, builtin_names[i]) == 0) return MB_LUA_ERR_RUNTIME;
    struct module_set_args a = { vm, name, fn };
    int st = lua_cpcall(vm->L, module_set_cb, &a);
    if (st != 0) {
        lua_pop(vm->L, 1);
        return st == LUA_ERRMEM ? MB_LUA_ERR_MEMORY : MB_LUA_ERR_RUNTIME;
    }
    return MB_LUA_OK;
}
