/*
 * vm.c - the top of the Lua host: VM lifecycle (new/free open the sandbox,
 * the moonbase module and the decoder), time budget hook, compiled-code
 * containment, protected calls and loading (see vm.h). The VM's state and
 * allocator are in state.c.
 */
#include "vm.h"

#include "cstack.h"
#include "decode_internal.h"
#include "module_internal.h"
#include "sandbox_internal.h"
#include "source.h"
#include "state_internal.h"

#include "log.h"
#include "mb.h"

#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include <luajit.h>
#include <lualib.h>

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

/* Raise "file:line: script timed out (limit N ms)" naming the line that
 * was running. In a hook, level 0 is the Lua function being executed (the
 * hook has no frame of its own): luaL_error's level 1 would name its
 * caller. */
static void raise_timeout(lua_State *L, mb_lua_vm *vm, bool first)
{
    lua_Debug d;
    memset(&d, 0, sizeof d);
    char where[160] = "";
    if (lua_getstack(L, 0, &d) && lua_getinfo(L, "Sl", &d) && d.currentline > 0)
        snprintf(where, sizeof where, "%s:%d: ", d.short_src, d.currentline);
    if (first) {
        snprintf(vm->timeout_where, sizeof vm->timeout_where, "%s", where);
        lua_pushfstring(L, "%sscript timed out (limit %d ms)", where, (int)vm->lim.time_ms);
    } else {
        lua_pushfstring(L, "%sscript timed out", where);
    }
    lua_error(L);
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
        raise_timeout(L, vm, true);
    }
    raise_timeout(L, vm, false);
}

/* ---- compiled code: CPU-time signal and hard stop ------------------------
 *
 * The count hook above does not run inside LuaJIT's compiled traces, and a
 * looping trace never returns to the interpreter. For VMs with the JIT on:
 *  - one POSIX timer on the loop thread's CPU clock (CLOCK_THREAD_CPUTIME_ID,
 *    SIGEV_THREAD_ID) fires every MB_LUA_TICK_NS of CPU time the thread
 *    uses, armed once while a JIT VM exists (no system call per call);
 *  - its handler looks at the running call (mb_lua_running): past the deadline
 *    it sets vm->expired, so the allocator refuses growth (a compiled loop
 *    that allocates raises "not enough memory", an ordinary error, and the
 *    VM survives); interpreted code is stopped by the hook as before;
 *  - past the deadline plus MB_LUA_KILL_GRACE_US, when the interrupted PC
 *    lies outside every loaded object's text (so in JIT machine code: not
 *    in LuaJIT's interpreter, libc, the allocator or a host C function),
 *    it siglongjmps to the outermost mb_lua_vm_pcall of that VM. The
 *    lua_State is then inconsistent: it is never touched again, its memory
 *    is freed block by block (kill_vm) and a bare state stands in.
 * See docs/LUA_API.md "Compiled code" for the reasoning and the limits. */

#define MB_LUA_TICK_NS 2000000L   /* 2 ms of the loop thread's CPU time */
#define MB_LUA_KILL_GRACE_US 2000 /* the hook's chance before a hard stop */

#if defined(__linux__) && (defined(__x86_64__) || defined(__aarch64__))
#define MB_LUA_CAN_CONTAIN 1
#else
#define MB_LUA_CAN_CONTAIN 0
#endif

static uint64_t g_kills;

#if MB_LUA_CAN_CONTAIN
static struct {
    uintptr_t lo, hi;
} g_text[512];
static volatile int g_n_text;
static bool g_contain_tried, g_contain_ok;
static pid_t g_contain_tid;
static timer_t g_timer;
static int g_signo;
static unsigned g_jit_vms;

static int text_cb(struct dl_phdr_info *info, size_t size, void *data)
{
    MB_UNUSED(size);
    int *n = data;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X)) continue;
        if (*n == (int)MB_ARRAY_LEN(g_text)) return 1;
        g_text[*n].lo = (uintptr_t)info->dlpi_addr + ph->p_vaddr;
        g_text[*n].hi = g_text[*n].lo + ph->p_memsz;
        (*n)++;
    }
    return 0;
}

/* Executable ranges of every loaded object (refreshed at each JIT VM's
 * creation, never in the handler; the signal is blocked meanwhile). */
static void collect_text(void)
{
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, g_signo);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    int n = 0;
    dl_iterate_phdr(text_cb, &n);
    g_n_text = n;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static bool pc_in_mcode(void *uctx)
{
    const ucontext_t *uc = uctx;
#if defined(__x86_64__)
    uintptr_t pc = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
#else
    uintptr_t pc = (uintptr_t)uc->uc_mcontext.pc;
#endif
    int n = g_n_text;
    if (n == 0) return false;
    for (int i = 0; i < n; i++)
        if (pc >= g_text[i].lo && pc < g_text[i].hi) return false;
    return true;
}

static void on_cpu_tick(int sig, siginfo_t *si, void *uctx)
{
    MB_UNUSED(sig);
    MB_UNUSED(si);
    int saved = errno;
    mb_lua_vm *vm = mb_lua_running;
    if (vm && vm->jmp) {
        int64_t now = mb_now_us();
        if (now >= vm->deadline_us) {
            /* The grace gives the hook (interpreted code) and the
             * allocator (allocating compiled loops, see mb_lua_alloc) the
             * chance to stop the call softly first. */
            if (now >= vm->deadline_us + MB_LUA_KILL_GRACE_US && pc_in_mcode(uctx)) {
                mb_lua_running = NULL;
                siglongjmp(*vm->jmp, 1); /* to run_pcall; the signal stays blocked */
            }
            vm->expired = 1;
        }
    }
    errno = saved;
}

/* Set up the signal and the timer once, on the first JIT VM's thread. */
static bool contain_init(void)
{
    pid_t tid = gettid();
    if (g_contain_tried) return g_contain_ok && tid == g_contain_tid;
    g_contain_tried = true;
    g_signo = SIGRTMIN + 4;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_cpu_tick;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = g_signo;
    sev._sigev_un._tid = tid;
    if (sigaction(g_signo, &sa, NULL) != 0 || timer_create(CLOCK_THREAD_CPUTIME_ID, &sev, &g_timer) != 0) {
        mb_warn("lua_jit_off", "reason=\"no CPU-time timer: %s\"", strerror(errno));
        return false;
    }
    g_contain_tid = tid;
    g_contain_ok = true;
    return true;
}

static void arm_timer(bool on)
{
    struct itimerspec its;
    memset(&its, 0, sizeof its);
    if (on) its.it_value.tv_nsec = its.it_interval.tv_nsec = MB_LUA_TICK_NS;
    timer_settime(g_timer, 0, &its, NULL);
}

/* A JIT VM is being created: true when compiled code can be contained. */
static bool jit_acquire(void)
{
    if (!contain_init()) return false;
    collect_text();
    if (g_jit_vms++ == 0) arm_timer(true);
    return true;
}

static void jit_release(void)
{
    if (--g_jit_vms == 0) arm_timer(false);
}

static void unblock_tick_signal(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, g_signo);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}
#else
static bool jit_acquire(void) { return false; }
static void jit_release(void) {}
static void unblock_tick_signal(void) {}
#endif

uint64_t mb_lua_vm_kills(void) { return g_kills; }

/* lua_pcall at the boundary of an outermost call. For a JIT VM a hard stop
 * returns here through siglongjmp with *killed set. */
static int run_pcall(mb_lua_vm *vm, int nargs, int nresults, int errfunc, bool outer, bool *killed)
{
    if (!outer) return lua_pcall(vm->L, nargs, nresults, errfunc);
    mb_lua_vm *volatile prev = mb_lua_running;
    if (!vm->jit) {
        mb_lua_running = NULL; /* e.g. a JIT-less VM called from a JIT VM's host function */
        int st = lua_pcall(vm->L, nargs, nresults, errfunc);
        mb_lua_running = prev;
        return st;
    }
    sigjmp_buf jb;
    if (sigsetjmp(jb, 0) != 0) {
        vm->jmp = NULL;
        mb_lua_running = prev;
        *killed = true;
        return LUA_ERRRUN;
    }
    vm->jmp = &jb;
    atomic_signal_fence(memory_order_seq_cst);
    mb_lua_running = vm;
    int st = lua_pcall(vm->L, nargs, nresults, errfunc);
    mb_lua_running = prev;
    atomic_signal_fence(memory_order_seq_cst);
    vm->jmp = NULL;
    return st;
}

static int l_panic(lua_State *L);

/* After a hard stop: the lua_State was left inside machine code. Free its
 * memory wholesale and put a bare state in its place. */
static void kill_vm(mb_lua_vm *vm)
{
    unblock_tick_signal(); /* we left the handler by a jump */
    g_kills++;
    vm->killed = true;
    vm->L = NULL;
    mb_lua_blk_free_all(vm);
    vm->depth = 0;
    vm->in_handler = false;
    vm->expired = 0;
    vm->abort = 0;
    if (vm->jit) jit_release();
    vm->jit = false;
    vm->ref_traceback = vm->ref_module = vm->ref_stash = vm->ref_decode = LUA_NOREF;
    vm->n_spare = 0; /* task.c's spare coroutines lived in the old state */
    mb_lua_vm_update_limit(vm);
    vm->L = lua_newstate(mb_lua_alloc, vm);
    if (!vm->L) {
        mb_error("lua_panic", "msg=\"cannot create the stand-in state of a stopped VM\"");
        abort();
    }
    lua_atpanic(vm->L, l_panic);
    luaJIT_setmode(vm->L, 0, LUAJIT_MODE_ENGINE | LUAJIT_MODE_OFF);
    char q[256];
    mb_warn("lua_vm_killed", "script=%s limit_ms=%u note=\"stopped inside compiled code; state discarded\"",
            mb_log_quote(q, sizeof q, vm->name), vm->lim.time_ms);
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
        if (lua_isnoneornil(L, 1)) msg = "nil error";
        else msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
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

/* Where did the last trace start recording? A loop stopped hard inside
 * machine code has no interpreter frame to ask: its trace is, nearly
 * always, the last one started before it ran away. */
static int l_trace_where(lua_State *L)
{
    mb_lua_vm *vm = mb_lua_vm_from_state(L);
    const char *src = lua_tostring(L, 1);
    int line = (int)lua_tointeger(L, 2);
    if (!vm || !src || line <= 0) return 0;
    /* the same text as lua_getinfo's short_src (LUA_IDSIZE 60) */
    size_t n = strlen(src);
    if (src[0] == '=') {
        snprintf(vm->trace_where, sizeof vm->trace_where, "%.59s:%d", src + 1, line);
    } else if (src[0] == '@') {
        if (n - 1 <= 59) snprintf(vm->trace_where, sizeof vm->trace_where, "%s:%d", src + 1, line);
        else snprintf(vm->trace_where, sizeof vm->trace_where, "...%s:%d", src + n - 56, line);
    } else {
        size_t len = strcspn(src, "\r\n");
        bool cut = len < n || len > 44;
        if (len > 44) len = 44;
        snprintf(vm->trace_where, sizeof vm->trace_where, "[string \"%.*s%s\"]:%d", (int)len, src,
                 cut ? "..." : "", line);
    }
    return 0;
}

/* false past the deadline: the watcher must not allocate then (its error
 * would be printed on stderr by LuaJIT). */
static int l_trace_live(lua_State *L)
{
    mb_lua_vm *vm = mb_lua_vm_from_state(L);
    lua_pushboolean(L, vm && !vm->expired);
    return 1;
}

static const char trace_watch_lua[] = "local record, live = ...\n"
                                      "jit.opt.start('sizemcode=64', 'maxmcode=512')\n"
                                      "local funcinfo = require('jit.util').funcinfo\n"
                                      "jit.attach(function(what, tr, func, pc)\n"
                                      "  if what == 'start' and live() then\n"
                                      "    local i = funcinfo(func, pc)\n"
                                      "    record(i.source, i.currentline)\n"
                                      "  end\n"
                                      "end, 'trace')\n";

static int vm_init(lua_State *L)
{
    mb_lua_vm *vm = lua_touserdata(L, 1);
    if (vm->jit) {
        /* luaopen_jit initialises the compiler (CPU features, default
         * parameters): without it traces are never recorded. maxmcode
         * bounds the machine code a VM stopped hard leaks (docs/LUA_API.md).
         * The sandbox then drops the jit global. */
        lua_pushcfunction(L, luaopen_jit);
        lua_pushliteral(L, LUA_JITLIBNAME);
        lua_call(L, 1, 0);
        /* package only to reach jit.util (preloaded); the sandbox drops
         * the package and jit globals and replaces require. */
        lua_pushcfunction(L, luaopen_package);
        lua_pushliteral(L, LUA_LOADLIBNAME);
        lua_call(L, 1, 0);
        luaL_loadstring(L, trace_watch_lua);
        lua_pushcfunction(L, l_trace_where);
        lua_pushcfunction(L, l_trace_live);
        lua_call(L, 2, 0);
    }
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
    mb_lua_pool_init(vm);

    vm->depth = 1; /* set-up counts against the strict cap */
    mb_lua_vm_update_limit(vm);
    vm->L = lua_newstate(mb_lua_alloc, vm);
    if (!vm->L) {
        mb_set_err(err, errlen, "cannot create lua state (memory limit %zu bytes)", vm->lim.mem_bytes);
        mb_lua_vm_free(vm);
        return NULL;
    }
    lua_atpanic(vm->L, l_panic);
    /* The count hook does not fire inside compiled traces: the compiler is
     * on only where the CPU-time signal can stop them (jit_acquire). */
    vm->jit = vm->lim.jit && jit_acquire();
    vm->lim.jit = vm->jit;
    /* The order matters: the engine is switched on here, before vm_init's
     * luaopen_jit, and LuaJIT then hot-counts loops only, never function
     * entries. So hot loops are compiled (and the functions they call, as
     * part of their traces), while a function called from C (every mode
     * callback) stays in the interpreter, where the count hook stops it
     * precisely. Switching the engine on after luaopen_jit makes callbacks
     * compile too: tried (docs/LUA_API.md "What the compiler compiles"), it
     * saved nothing measurable and let a runaway loop of C string calls run
     * 9.5 s past a 200 ms budget (test_lua_vm_jit test_runaway_loops). */
    luaJIT_setmode(vm->L, 0, LUAJIT_MODE_ENGINE | (vm->jit ? LUAJIT_MODE_ON : LUAJIT_MODE_OFF));

    int st = lua_cpcall(vm->L, vm_init, vm);
    vm->depth = 0;
    mb_lua_vm_update_limit(vm);
    if (st != 0) {
        const char *msg = lua_tostring(vm->L, -1);
        mb_set_err(err, errlen, "cannot set up lua state: %s", msg ? msg : "?");
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
    if (vm->tasks > 0) { /* task.c frees it after its last task ends */
        vm->free_pending = true;
        return;
    }
    if (vm->L) {
        lua_close(vm->L);
        if (vm->mem_used != 0) mb_warn("lua_mem_leak", "bytes=%zu", vm->mem_used); /* allocator bug */
    }
    mb_lua_blk_free_all(vm); /* nothing left unless the state could not be created */
    if (vm->jit) jit_release();
    mb_free(vm->lib_dir);
    mb_free(vm->name);
    mb_free(vm);
}

/* ---- loading ------------------------------------------------------------ */

static mb_lua_status load_status(mb_lua_vm *vm, int st, char *err, size_t errlen)
{
    if (st == 0) return MB_LUA_OK;
    const char *msg = lua_tostring(vm->L, -1);
    mb_set_err(err, errlen, "%s", msg ? msg : "load failed");
    lua_pop(vm->L, 1);
    return st == LUA_ERRMEM ? MB_LUA_ERR_MEMORY : MB_LUA_ERR_RUNTIME;
}

static mb_lua_status load_buffer(mb_lua_vm *vm, const char *code, size_t len, const char *chunkname,
                                 char *err, size_t errlen)
{
    if (!lua_checkstack(vm->L, 2)) {
        mb_set_err(err, errlen, "lua stack overflow");
        return MB_LUA_ERR_RUNTIME;
    }
    if (vm->killed) {
        mb_set_err(err, errlen, "the script was stopped in compiled code; this VM is discarded");
        return MB_LUA_ERR_TIMEOUT;
    }
    if (vm->depth == 0) pressure_gc(vm);
    vm->depth++; /* compile under the strict cap */
    mb_lua_vm_update_limit(vm);
    int st = mb_lua_load_text(vm->L, code, len, chunkname);
    vm->depth--;
    mb_lua_vm_update_limit(vm);
    return load_status(vm, st, err, errlen);
}

mb_lua_status mb_lua_vm_load_file(mb_lua_vm *vm, const char *path, const char *chunkname, char *err,
                                  size_t errlen)
{
    size_t len = 0;
    char *code = mb_lua_read_file(path, MB_LUA_MAX_SOURCE_BYTES, &len, err, errlen);
    if (!code) return MB_LUA_ERR_RUNTIME;
    char *name = chunkname ? NULL : mb_sprintf("@%s", path);
    mb_lua_status rc = load_buffer(vm, code, len, chunkname ? chunkname : name, err, errlen);
    mb_free(name);
    mb_free(code);
    return rc;
}

mb_lua_status mb_lua_vm_load_string(mb_lua_vm *vm, const char *code, const char *chunkname, char *err,
                                    size_t errlen)
{
    return load_buffer(vm, code, strlen(code), chunkname ? chunkname : "=(string)", err, errlen);
}

/* ---- protected calls ---------------------------------------------------- */

/* "file:line: " of the first Lua frame of a traceback ("\n\tfile:12: in
 * ..."), or "" . */
static void first_lua_line(const char *tb, char *out, size_t cap)
{
    out[0] = '\0';
    for (const char *p = strstr(tb, "\n\t"); p; p = strstr(p + 1, "\n\t")) {
        const char *s = p + 2;
        if (s[0] == '[') continue; /* [C] or [string ...]: no file line */
        const char *c = strchr(s, ':');
        const char *nl = strchr(s, '\n');
        if (!c || (nl && c > nl)) continue;
        const char *d = c + 1;
        while (*d >= '0' && *d <= '9') d++;
        if (d == c + 1 || *d != ':') continue;
        snprintf(out, cap, "%.*s: ", (int)(d - s), s);
        return;
    }
}

mb_lua_status mb_lua_vm_pcall(mb_lua_vm *vm, int nargs, int nresults, char *err, size_t errlen)
{
    lua_State *L = vm->L;
    int base = lua_gettop(L) - nargs - 1; /* slot below the function */
    if (base < 0) {
        mb_set_err(err, errlen, "mb_lua_vm_pcall: no function on the stack");
        return MB_LUA_ERR_RUNTIME;
    }
    if (vm->killed) {
        lua_settop(L, base);
        mb_set_err(err, errlen, "the script was stopped in compiled code; this VM is discarded");
        return MB_LUA_ERR_TIMEOUT;
    }
    if (!lua_checkstack(L, 1)) {
        lua_settop(L, base);
        mb_set_err(err, errlen, "lua stack overflow");
        return MB_LUA_ERR_RUNTIME;
    }
    /* C stack guard (cstack.c): a host function calling back into Lua
     * nests on the C stack like coroutine.resume does. */
    if (vm->depth > 0 && mb_lua_cstack_exceeded(vm->cstack_base)) {
        lua_settop(L, base);
        mb_set_err(err, errlen, "C stack overflow: too many nested calls into Lua");
        return MB_LUA_ERR_RUNTIME;
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, vm->ref_traceback);
    lua_insert(L, base + 1);

    bool outer = vm->depth == 0;
    if (outer) vm->cstack_base = MB_LUA_CSTACK_HERE(); /* C stack guard (cstack.c) */
    int64_t t0 = 0;
    if (outer) {
        t0 = mb_now_us();
        vm->deadline_us = t0 + (int64_t)vm->lim.time_ms * 1000;
        vm->abort = 0;
        vm->expired = 0;
        vm->timeout_where[0] = '\0';
        vm->trace_where[0] = '\0';
        vm->mem_refused = false;
        pressure_gc(vm);
    }
    vm->depth++;
    mb_lua_vm_update_limit(vm);
    bool killed = false;
    int st = run_pcall(vm, nargs, nresults, base + 1, outer, &killed);
    if (killed) {
        kill_vm(vm);
        mb_set_err(err, errlen,
                   "%s%sscript timed out (limit %u ms)\n(stopped inside compiled code, near the start of "
                   "its last trace; the VM was discarded)",
                   vm->trace_where, vm->trace_where[0] ? ": " : "", vm->lim.time_ms);
        int64_t ms = (mb_now_us() - t0) / 1000;
        char q[256];
        mb_warn("lua_slow_call", "ms=%lld script=%s status=timeout", (long long)ms,
                mb_log_quote(q, sizeof q, vm->name));
        return MB_LUA_ERR_TIMEOUT;
    }
    vm->depth--;
    vm->in_handler = false; /* the handler (if any) has finished */
    mb_lua_vm_update_limit(vm);

    mb_lua_status rc;
    if (vm->abort || (st != 0 && vm->expired)) rc = MB_LUA_ERR_TIMEOUT;
    else if (st == LUA_ERRMEM) rc = MB_LUA_ERR_MEMORY;
    else if (st != 0 && vm->mem_refused && lua_isstring(L, -1) &&
             strstr(lua_tostring(L, -1), "not enough memory"))
        rc = MB_LUA_ERR_MEMORY; /* rethrown by the script after a refusal */
    else rc = st == 0 ? MB_LUA_OK : MB_LUA_ERR_RUNTIME;

    if (rc == MB_LUA_OK) {
        lua_remove(L, base + 1);
    } else {
        const char *msg = st != 0 ? lua_tostring(L, -1) : NULL;
        if (rc == MB_LUA_ERR_TIMEOUT && msg) {
            /* The first abort names the looping line; a script that caught
             * it got a second, shorter one. Report the first, with the
             * traceback of the error that ended the call. A compiled loop
             * stopped by a refused allocation: name the traceback's first
             * Lua line. */
            const char *tb = strchr(msg, '\n');
            char where[160];
            snprintf(where, sizeof where, "%s", vm->timeout_where);
            if (!where[0] && tb) first_lua_line(tb, where, sizeof where);
            if (!where[0] && vm->trace_where[0]) /* a refused allocation in a trace */
                snprintf(where, sizeof where, "%.150s: ", vm->trace_where);
            mb_set_err(err, errlen, "%sscript timed out (limit %u ms)%s", where, vm->lim.time_ms,
                       tb ? tb : "");
        } else if (rc == MB_LUA_ERR_MEMORY && st == LUA_ERRMEM)
            mb_set_err(err, errlen, "not enough memory (limit %zu bytes)", vm->lim.mem_bytes);
        else if (msg) mb_set_err(err, errlen, "%s", msg);
        else mb_set_err(err, errlen, "%sscript timed out (limit %u ms)", vm->timeout_where, vm->lim.time_ms);
        lua_settop(L, base);
    }

    if (outer) {
        vm->expired = 0; /* loads and host pushes allocate normally again */
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

static const char *const builtin_names[] = {"now", "mono_ms", "uuid", "json", "null", "log"};

static bool is_alpha_(char c) { return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

mb_lua_status mb_lua_vm_module_set(mb_lua_vm *vm, const char *name, lua_CFunction fn)
{
    if (!name || !fn || !is_alpha_(name[0]) || vm->killed) return MB_LUA_ERR_RUNTIME;
    const char *dot = strchr(name, '.');
    if (dot && (!is_alpha_(dot[1]) || strchr(dot + 1, '.'))) return MB_LUA_ERR_RUNTIME;
    for (const char *p = name; *p; p++)
        if (!is_alpha_(*p) && !(*p >= '0' && *p <= '9') && p != dot) return MB_LUA_ERR_RUNTIME;
    size_t first = dot ? (size_t)(dot - name) : strlen(name);
    for (size_t i = 0; i < MB_ARRAY_LEN(builtin_names); i++)
        if (strlen(builtin_names[i]) == first && strncmp(name, builtin_names[i], first) == 0)
            return MB_LUA_ERR_RUNTIME;
    mb_lua_module_set_args a = {vm, name, fn};
    int st = lua_cpcall(vm->L, mb_lua_module_set_cb, &a);
    if (st != 0) {
        lua_pop(vm->L, 1);
        return st == LUA_ERRMEM ? MB_LUA_ERR_MEMORY : MB_LUA_ERR_RUNTIME;
    }
    return MB_LUA_OK;
}
