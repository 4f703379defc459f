/*
 * bench_lua.c - what the sandbox costs, and the JSON encoders.
 *
 *   build-lua/runtime/lua/bench_lua [scale]
 *
 * 1. Three workloads in four setups:
 *      jit      plain luaL_newstate, JIT on (what LuaJIT can do)
 *      interp   plain luaL_newstate, JIT off, no hook
 *      counted  lua_newstate with a counting realloc allocator, JIT off
 *      mb_lua   mb_lua_vm (JIT off, count hook with deadline, capped allocator)
 *      mb_jit   mb_lua_vm with .jit = true (the default for match scripts)
 * 2. Per-call overhead: mb_lua_vm_pcall vs lua_pcall of an empty function.
 * 4. A script-heavy tick: 1,000 vector operations and a table.sort of 64
 *    entities per call, 2,000 calls through mb_lua_vm_pcall, JIT off vs on;
 *    then the same tick "cold": 10 VMs in turn with 16 MiB written between
 *    two ticks, as a server runs one tick per match every 50 ms
 *    (EVICT_KB=N writes N KiB instead; `bench_lua 1 tick` runs only 4).
 * 3. Encoding a typical state (8 players with x, y, hp, name): the direct
 *    encoder mb_lua_encode_json vs mb_lua_to_json + json_dumps.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>
#include <luajit.h>
#include <lualib.h>

#include "convert.h"
#include "mb.h"
#include "vm.h"

static const struct {
    const char *name;
    const char *code;
} workloads[] = {
    {"numeric loop", "local n = 0 for i = 1, 3e7 * S do n = n + i % 7 end return n"},
    {"table-heavy",
     "local s = 0 for r = 1, 10 * S do local t = {} for i = 1, 2e4 do t[i] = {x = i, y = i * 2, "
     "name = 'p' .. (i % 10)} end for i = 1, #t do s = s + t[i].x + #t[i].name end end return s"},
    {"function calls",
     "local function f(a) return a + 1 end local n = 0 for i = 1, 1e7 * S do n = f(n) end return n"},
};

static size_t g_counted;

static void *counting_alloc(void *ud, void *p, size_t o, size_t n)
{
    (void)ud;
    if (n == 0) {
        if (p) g_counted -= o;
        free(p);
        return NULL;
    }
    void *q = realloc(p, n);
    if (q) g_counted += n - (p ? o : 0);
    return q;
}

static double run_plain(lua_State *L, const char *code, double scale)
{
    lua_pushnumber(L, scale);
    lua_setglobal(L, "S");
    int64_t t0 = mb_now_us();
    if (luaL_loadstring(L, code) || lua_pcall(L, 0, 1, 0)) {
        fprintf(stderr, "error: %s\n", lua_tostring(L, -1));
        exit(1);
    }
    lua_pop(L, 1);
    return (double)(mb_now_us() - t0) / 1000.0;
}

static double run_vm(mb_lua_vm *vm, const char *code, double scale)
{
    lua_State *L = mb_lua_vm_state(vm);
    char err[512];
    lua_pushnumber(L, scale);
    lua_setglobal(L, "S");
    int64_t t0 = mb_now_us();
    if (mb_lua_vm_load_string(vm, code, "=bench", err, sizeof err) != MB_LUA_OK ||
        mb_lua_vm_pcall(vm, 0, 1, err, sizeof err) != MB_LUA_OK) {
        fprintf(stderr, "error: %s\n", err);
        exit(1);
    }
    lua_pop(L, 1);
    return (double)(mb_now_us() - t0) / 1000.0;
}

static void bench_workloads(double scale)
{
    mb_lua_limits lim = {.mem_bytes = 256u << 20, .time_ms = 600000, .warn_ms = 600000};
    printf("== workloads (ms, best of 3; ratio vs interp) ==\n");
    printf("%-16s %9s %9s %9s %9s %9s   %s\n", "workload", "jit", "interp", "counted", "mb_lua", "mb_jit",
           "mb_lua/interp");
    mb_lua_limits jlim = lim;
    jlim.jit = true;
    for (size_t w = 0; w < MB_ARRAY_LEN(workloads); w++) {
        double best[5] = {1e18, 1e18, 1e18, 1e18, 1e18};
        for (int rep = 0; rep < 3; rep++) {
            for (int mode = 0; mode < 5; mode++) {
                double ms;
                if (mode >= 3) {
                    mb_lua_vm *vm = mb_lua_vm_new(mode == 4 ? &jlim : &lim, NULL, NULL, 0);
                    ms = run_vm(vm, workloads[w].code, scale);
                    mb_lua_vm_free(vm);
                } else {
                    lua_State *L = mode == 2 ? lua_newstate(counting_alloc, NULL) : luaL_newstate();
                    luaL_openlibs(L);
                    luaJIT_setmode(L, 0, LUAJIT_MODE_ENGINE | (mode == 0 ? LUAJIT_MODE_ON : LUAJIT_MODE_OFF));
                    ms = run_plain(L, workloads[w].code, scale);
                    lua_close(L);
                }
                if (ms < best[mode]) best[mode] = ms;
            }
        }
        printf("%-16s %9.1f %9.1f %9.1f %9.1f %9.1f   %.2fx\n", workloads[w].name, best[0], best[1], best[2],
               best[3], best[4], best[3] / best[1]);
    }
}

/* A tick of a physics-ish mode: 200 entities, 5 vector operations each
 * (1,000 in all: add, scale, length, normalise, distance to a target),
 * then a table.sort of 64 of them by distance. */
static const char tick_code[] =
    "local sqrt = math.sqrt\n"
    "local function vadd(a, b) return { x = a.x + b.x, y = a.y + b.y } end\n"
    "local function vscale(a, s) return { x = a.x * s, y = a.y * s } end\n"
    "local function vlen(a) return sqrt(a.x * a.x + a.y * a.y) end\n"
    "local function vnorm(a) local l = vlen(a) if l == 0 then return a end return vscale(a, 1 / l) end\n"
    "local ents = {}\n"
    "for i = 1, 200 do ents[i] = { pos = { x = i, y = i * 2 }, vel = { x = 1, y = -1 }, d = 0 } end\n"
    "local target = { x = 50, y = 50 }\n"
    "local byd = function(a, b) return a.d < b.d end\n"
    "return function(dt)\n"
    "  for i = 1, #ents do\n"
    "    local e = ents[i]\n"
    "    local v = vnorm(vadd(e.vel, vscale(target, 0.001)))\n"
    "    e.pos = vadd(e.pos, vscale(v, dt))\n"
    "    e.d = vlen({ x = e.pos.x - target.x, y = e.pos.y - target.y })\n"
    "  end\n"
    "  local near = {}\n"
    "  for i = 1, 64 do near[i] = ents[(i * 37) % #ents + 1] end\n"
    "  table.sort(near, byd)\n"
    "  return near[1].d\n"
    "end\n";

/* CPU time of this thread (the machine is shared: wall time is noisy). */
static int64_t cpu_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static double bench_tick_one(bool jit, int ticks)
{
    mb_lua_limits lim = {.jit = jit};
    mb_lua_vm *vm = mb_lua_vm_new(&lim, NULL, NULL, 0);
    lua_State *L = mb_lua_vm_state(vm);
    char err[512];
    if (mb_lua_vm_load_string(vm, tick_code, "=tick", err, sizeof err) ||
        mb_lua_vm_pcall(vm, 0, 1, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
    int fn = luaL_ref(L, LUA_REGISTRYINDEX);
    int64_t t0 = cpu_us();
    for (int i = 0; i < ticks; i++) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, fn);
        lua_pushnumber(L, 0.05);
        if (mb_lua_vm_pcall(vm, 1, 1, err, sizeof err) != MB_LUA_OK) {
            fprintf(stderr, "%s\n", err);
            exit(1);
        }
        lua_pop(L, 1);
    }
    double us = (double)(cpu_us() - t0) / ticks;
    mb_lua_vm_free(vm);
    return us;
}

static void bench_tick(void)
{
    const int ticks = 2000;
    double best[2] = {1e18, 1e18};
    for (int rep = 0; rep < 3; rep++)
        for (int j = 0; j < 2; j++) {
            double us = bench_tick_one(j == 1, ticks);
            if (us < best[j]) best[j] = us;
        }
    printf(
        "\n== script-heavy tick (1,000 vector ops + table.sort of 64; %d ticks, best of 3, thread CPU time) ==\n",
        ticks);
    printf("JIT off: %7.1f us/tick   JIT on: %7.1f us/tick   speed-up %.1fx\n", best[0], best[1],
           best[0] / best[1]);
}

/* The same tick as a server runs it: VMS separate VMs (one per match), one
 * tick each in turn, and between two ticks other work that pushes the VMs'
 * data out of the CPU caches (here: writing a 16 MiB buffer, standing for
 * the other matches, the network and other processes during the 50 ms
 * between two ticks of a match). Only the ticks are timed. */
static double bench_tick_cold_one(bool jit, int vms, int rounds, unsigned char *evict, size_t evict_len)
{
    mb_lua_vm **vm = calloc((size_t)vms, sizeof *vm);
    int *fn = calloc((size_t)vms, sizeof *fn);
    char err[512];
    if (!vm || !fn) exit(1);
    for (int v = 0; v < vms; v++) {
        mb_lua_limits lim = {.jit = jit};
        vm[v] = mb_lua_vm_new(&lim, NULL, NULL, 0);
        if (mb_lua_vm_load_string(vm[v], tick_code, "=tick", err, sizeof err) ||
            mb_lua_vm_pcall(vm[v], 0, 1, err, sizeof err)) {
            fprintf(stderr, "%s\n", err);
            exit(1);
        }
        fn[v] = luaL_ref(mb_lua_vm_state(vm[v]), LUA_REGISTRYINDEX);
    }
    int64_t spent = 0;
    for (int r = 0; r < rounds; r++)
        for (int v = 0; v < vms; v++) {
            memset(evict, r + v, evict_len);
            lua_State *L = mb_lua_vm_state(vm[v]);
            int64_t t0 = cpu_us();
            lua_rawgeti(L, LUA_REGISTRYINDEX, fn[v]);
            lua_pushnumber(L, 0.05);
            if (mb_lua_vm_pcall(vm[v], 1, 1, err, sizeof err) != MB_LUA_OK) {
                fprintf(stderr, "%s\n", err);
                exit(1);
            }
            lua_pop(L, 1);
            spent += cpu_us() - t0;
        }
    for (int v = 0; v < vms; v++) mb_lua_vm_free(vm[v]);
    free(vm);
    free(fn);
    return (double)spent / ((double)rounds * vms);
}

static void bench_tick_cold(void)
{
    const int vms = 10, rounds = 40;
    const char *kb = getenv("EVICT_KB");
    size_t evict_len = kb && atoi(kb) > 0 ? (size_t)atoi(kb) << 10 : (size_t)16 << 20;
    unsigned char *evict = malloc(evict_len);
    if (!evict) exit(1);
    double best[2] = {1e18, 1e18};
    for (int rep = 0; rep < 3; rep++)
        for (int j = 0; j < 2; j++) {
            double us = bench_tick_cold_one(j == 1, vms, rounds, evict, evict_len);
            if (us < best[j]) best[j] = us;
        }
    free(evict);
    printf("\n== script-heavy tick, cold (%d VMs in turn, %zu KiB written between ticks; %d ticks each, "
           "best of 3) ==\n",
           vms, evict_len >> 10, rounds);
    printf("JIT off: %7.1f us/tick   JIT on: %7.1f us/tick   speed-up %.1fx\n", best[0], best[1],
           best[0] / best[1]);
}

static int l_empty(lua_State *L)
{
    (void)L;
    return 0;
}

static void bench_calls_one(bool jit)
{
    const int n = 1000000;
    mb_lua_limits lim = {.jit = jit};
    mb_lua_vm *vm = mb_lua_vm_new(&lim, NULL, NULL, 0);
    lua_State *L = mb_lua_vm_state(vm);
    char err[256];
    mb_lua_vm_load_string(vm, "return function(a, b) return a end", NULL, err, sizeof err);
    mb_lua_vm_pcall(vm, 0, 1, err, sizeof err);
    int fn = luaL_ref(L, LUA_REGISTRYINDEX);

    int64_t t0 = mb_now_us();
    for (int i = 0; i < n; i++) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, fn);
        lua_pushnumber(L, i);
        lua_pushnumber(L, i);
        if (mb_lua_vm_pcall(vm, 2, 1, err, sizeof err) != MB_LUA_OK) exit(1);
        lua_pop(L, 1);
    }
    double mb_ns = (double)(mb_now_us() - t0) * 1000.0 / n;

    t0 = mb_now_us();
    for (int i = 0; i < n; i++) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, fn);
        lua_pushnumber(L, i);
        lua_pushnumber(L, i);
        if (lua_pcall(L, 2, 1, 0) != 0) exit(1);
        lua_pop(L, 1);
    }
    double raw_ns = (double)(mb_now_us() - t0) * 1000.0 / n;
    (void)l_empty;
    printf("mb_lua_vm_pcall (JIT %s): %.0f ns/call   lua_pcall: %.0f ns/call\n",
           jit ? "on, sigsetjmp boundary" : "off", mb_ns, raw_ns);
    mb_lua_vm_free(vm);
}

static void bench_calls(void)
{
    printf("\n== calls ==\n");
    bench_calls_one(false);
    bench_calls_one(true);
}

static void bench_encode(void)
{
    const int n = 200000;
    mb_lua_vm *vm = mb_lua_vm_new(NULL, NULL, NULL, 0);
    lua_State *L = mb_lua_vm_state(vm);
    char err[256];
    const char *state =
        "local p = {} for i = 1, 8 do p['player-' .. i] = {x = i * 13.25, y = 200 - i * 7.5, hp = 100 - i, "
        "name = 'Player ' .. i} end return {tick = 1234, players = p}";
    if (mb_lua_vm_load_string(vm, state, NULL, err, sizeof err) ||
        mb_lua_vm_pcall(vm, 0, 1, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
    int idx = lua_gettop(L);

    mb_buf b = MB_BUF_INIT;
    int64_t t0 = mb_now_us();
    for (int i = 0; i < n; i++) {
        mb_buf_reset(&b);
        if (mb_lua_encode_json(L, idx, &b, err, sizeof err) != MB_OK) exit(1);
    }
    double fast_ns = (double)(mb_now_us() - t0) * 1000.0 / n;
    size_t fast_len = b.len;

    size_t jlen = 0;
    t0 = mb_now_us();
    for (int i = 0; i < n; i++) {
        json_t *j = mb_lua_to_json(L, idx, err, sizeof err);
        char *s = json_dumps(j, JSON_COMPACT);
        jlen = strlen(s);
        free(s);
        json_decref(j);
    }
    double jansson_ns = (double)(mb_now_us() - t0) * 1000.0 / n;
    printf("\n== encode state (8 players: x, y, hp, name) ==\n");
    printf("mb_lua_encode_json:         %6.0f ns/op  (%zu bytes)\n", fast_ns, fast_len);
    printf("mb_lua_to_json + json_dumps: %6.0f ns/op  (%zu bytes)\n", jansson_ns, jlen);
    printf("speed-up: %.1fx\n", jansson_ns / fast_ns);
    mb_buf_free(&b);
    mb_lua_vm_free(vm);
}

int main(int argc, char **argv)
{
    double scale = argc > 1 ? atof(argv[1]) : 1.0;
    if (scale <= 0) scale = 1.0;
    if (argc > 2 && strcmp(argv[2], "tick") == 0) {
        bench_tick();
        bench_tick_cold();
        return 0;
    }
    bench_workloads(scale);
    bench_tick();
    bench_tick_cold();
    bench_calls();
    bench_encode();
    return 0;
}
