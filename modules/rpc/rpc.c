/*
 * rpc.c - the server script (scripts/server.lua, optional): one VM for
 * server-wide Lua. It registers RPCs with moonbase.rpc(name, fn); clients
 * call POST /v1/rpc/{name} with a JSON object body and receive fn's
 * return value as the JSON body. fn(ctx, payload) gets ctx.player_id and
 * ctx.username. Returning nil, "message" answers 400 with that message;
 * an error raised by fn answers 500 (details in the server log).
 * Hot reload: a changed server.lua is loaded into a fresh VM that replaces
 * the old one only when it loads cleanly.
 *
 * The module requires match: the mode registry (modes.h) loads and
 * watches the scripts folder, and match_ext.h gives the Lua contexts and
 * the "server" field of GET /v1/admin/scripts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "convert.h"
#include "match.h"
#include "match_ext.h"
#include "modes.h"
#include "rpc.h"
#include "server.h"
#include "task.h"
#include <sodium.h>

static struct {
    mb_lua_vm *vm;
    int table_ref;
    char *error;
    int64_t loaded_at, error_at;
    int version;
    double *calls, *errors;
    mb_buf out; /* response text, reused from call to call */
} S;

/* Registration happens when server.lua loads (its top level), so the set
 * of RPCs and the chat filter do not change with traffic. */
static int l_rpc(lua_State *L)
{
    match_lua_check_context(L, MATCH_CTX_BIT(MATCH_CTX_LOAD), "moonbase.rpc");
    const char *name = luaL_checkstring(L, 1);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    size_t n = strlen(name);
    if (n == 0 || n > 64) return luaL_error(L, "rpc name must be 1..64 characters");
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '-' || c == '.'))
            return luaL_error(L, "rpc name may contain only letters, digits, '_', '-' and '.'");
    }
    lua_getfield(L, LUA_REGISTRYINDEX, "moonbase.rpc");
    if (!lua_istable(L, -1)) return luaL_error(L, "moonbase.rpc is only available in scripts/server.lua");
    lua_pushvalue(L, 1);
    lua_pushvalue(L, 2);
    lua_rawset(L, -3);
    return 0;
}

/* moonbase.on_chat(fn): fn(ctx, channel_id, content) -> content | nil, reason */
static int l_on_chat(lua_State *L)
{
    match_lua_check_context(L, MATCH_CTX_BIT(MATCH_CTX_LOAD), "moonbase.on_chat");
    luaL_checktype(L, 1, LUA_TFUNCTION);
    lua_getfield(L, LUA_REGISTRYINDEX, "moonbase.rpc");
    if (!lua_istable(L, -1)) return luaL_error(L, "moonbase.on_chat is only available in scripts/server.lua");
    lua_pop(L, 1);
    lua_pushvalue(L, 1);
    lua_setfield(L, LUA_REGISTRYINDEX, "moonbase.on_chat");
    return 0;
}

static void restart_if_killed(void);

rpc_chat_verdict rpc_chat_filter(const char *player_id, const char *username, const char *channel_id,
                                 const char *content, char **out, char *reason, size_t rlen)
{
    *out = NULL;
    if (!S.vm) return RPC_CHAT_ACCEPT;
    lua_State *L = mb_lua_vm_state(S.vm);
    lua_getfield(L, LUA_REGISTRYINDEX, "moonbase.on_chat");
    if (lua_type(L, -1) != LUA_TFUNCTION) {
        lua_pop(L, 1);
        return RPC_CHAT_ACCEPT;
    }
    lua_createtable(L, 0, 2);
    lua_pushstring(L, player_id);
    lua_setfield(L, -2, "player_id");
    lua_pushstring(L, username);
    lua_setfield(L, -2, "username");
    lua_pushstring(L, channel_id);
    lua_pushstring(L, content);
    char err[2048];
    mb_lua_status rc = match_lua_pcall_in(S.vm, MATCH_CTX_ON_CHAT, 3, 2, err, sizeof err);
    if (rc != MB_LUA_OK) {
        char q[1024];
        mb_error("on_chat_failed", "error=%s", mb_log_quote(q, sizeof q, err));
        snprintf(reason, rlen, "message filter failed");
        restart_if_killed();
        return RPC_CHAT_FAILED;
    }
    rpc_chat_verdict result = RPC_CHAT_ACCEPT;
    if (lua_type(L, -2) == LUA_TSTRING) {
        size_t l;
        const char *c = lua_tolstring(L, -2, &l);
        *out = mb_strndup(c, l);
        result = RPC_CHAT_ACCEPT;
    } else {
        snprintf(reason, rlen, "%s",
                 lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "message rejected");
        result = RPC_CHAT_REJECTED;
    }
    lua_pop(L, 2);
    return result;
}

static int l_rpc_unavailable(lua_State *L)
{
    return luaL_error(L, "moonbase.rpc is only available in scripts/server.lua");
}

/* Runs protected: create the registry table of RPCs. */
static int make_table(lua_State *L)
{
    lua_newtable(L);
    lua_setfield(L, LUA_REGISTRYINDEX, "moonbase.rpc");
    return 0;
}

static void set_error(const char *e)
{
    free(S.error);
    S.error = e ? mb_strdup(e) : NULL;
    S.error_at = e ? mb_wall_ms() : 0;
}

static void load_server(const char *mode, const mode_version *v)
{
    if (strcmp(mode, "server") != 0) return;
    const char *dir = modes_scripts_dir();
    char *path = mb_sprintf("%s/server.lua", dir);
    if (access(path, R_OK) != 0) {
        if (S.vm) mb_info("server_script_removed", "path=%s note=\"keeping the loaded version\"", path);
        free(path);
        return;
    }
    char err[2048];
    char *lib = mb_sprintf("%s/lib", dir);
    mb_lua_vm *vm = mb_lua_vm_new(modes_get_limits(), lib, err, sizeof err);
    free(lib);
    bool ok = vm != NULL;
    if (ok) {
        modes_install_lua_functions(vm);
        mb_lua_vm_module_set(vm, "rpc", l_rpc);
        mb_lua_vm_module_set(vm, "on_chat", l_on_chat);
        lua_State *L = mb_lua_vm_state(vm);
        lua_pushcfunction(L, make_table);
        ok = mb_lua_vm_pcall(vm, 0, 0, err, sizeof err) == MB_LUA_OK;
        if (ok) { /* math.random of server.lua: seeded from libsodium like a match's */
            uint64_t seed;
            randombytes_buf(&seed, sizeof seed);
            lua_pushcfunction(L, match_lua_seed_vm);
            lua_pushnumber(L, (lua_Number)(seed & MATCH_SEED_MAX));
            ok = mb_lua_vm_pcall(vm, 1, 0, err, sizeof err) == MB_LUA_OK;
        }
        ok = ok && mb_lua_vm_load_file(vm, path, NULL, err, sizeof err) == MB_LUA_OK &&
             mb_lua_vm_pcall(vm, 0, 0, err, sizeof err) == MB_LUA_OK;
    }
    if (!ok) {
        char q[1024];
        mb_error("script_load_failed", "mode=server path=%s error=%s%s", path, mb_log_quote(q, sizeof q, err),
                 S.vm ? " kept_version=live" : "");
        set_error(err);
        mb_lua_vm_free(vm);
        free(path);
        return;
    }
    mb_lua_vm_set_name(vm, "server.lua");
    mb_lua_vm_set_time_ms(vm, modes_callback_ms(NULL)); /* loaded: RPCs get the callback budget */
    mb_lua_vm_free(S.vm);
    S.vm = vm;
    S.version++;
    S.loaded_at = mb_wall_ms();
    set_error(NULL);
    mb_info("script_loaded", "mode=server path=%s version=%d", path, S.version);
    free(path);
}

/* A call stopped inside compiled code discards the server script's VM
 * (vm.h, mb_lua_vm_killed): load server.lua again (its state starts over). */
static void restart_if_killed(void)
{
    if (!S.vm || !mb_lua_vm_killed(S.vm)) return;
    mb_warn("server_script_restart", "reason=\"stopped in compiled code\"");
    mb_lua_vm_free(S.vm);
    S.vm = NULL;
    load_server("server", NULL);
}

/* GET /v1/admin/scripts: {"server": {loaded, version, rpcs, error, loaded_at}} */
static void add_status(json_t *body)
{
    json_t *names = json_array();
    if (S.vm) {
        lua_State *L = mb_lua_vm_state(S.vm);
        lua_getfield(L, LUA_REGISTRYINDEX, "moonbase.rpc");
        if (lua_istable(L, -1)) {
            lua_pushnil(L);
            while (lua_next(L, -2)) {
                if (lua_type(L, -2) == LUA_TSTRING)
                    json_array_append_new(names, json_string(lua_tostring(L, -2)));
                lua_pop(L, 1);
            }
        }
        lua_pop(L, 1);
    }
    json_object_set_new(body, "server",
                        json_pack("{s:b,s:i,s:o,s:o,s:o}", "loaded", S.vm != NULL, "version", S.version,
                                  "rpcs", names, "error", S.error ? json_string(S.error) : json_null(),
                                  "loaded_at", S.vm ? json_integer(S.loaded_at) : json_null()));
}

/* An RPC waiting for its handler (a task) to finish. */
typedef struct rpc_call {
    mb_http_req *req;
    char name[72];
} rpc_call;

static void rpc_task_done(void *ud, mb_lua_vm *vm, int rc, const char *err);

static void rpc_route(mb_http_req *r)
{
    const char *name = mb_http_param(r, 0);
    if (!S.vm) {
        mb_http_error(r, MB_E_NOT_FOUND, "no rpc '%s' (scripts/server.lua is not loaded)", name);
        return;
    }
    lua_State *L = mb_lua_vm_state(S.vm);
    lua_getfield(L, LUA_REGISTRYINDEX, "moonbase.rpc");
    lua_pushstring(L, name);
    lua_rawget(L, -2);
    lua_remove(L, -2);
    if (lua_type(L, -1) != LUA_TFUNCTION) {
        lua_pop(L, 1);
        mb_http_error(r, MB_E_NOT_FOUND, "no rpc '%s'", name);
        return;
    }
    *S.calls += 1;
    lua_createtable(L, 0, 2);
    lua_pushstring(L, mb_http_player(r));
    lua_setfield(L, -2, "player_id");
    lua_pushstring(L, mb_http_username(r));
    lua_setfield(L, -2, "username");
    char err[4096];
    json_t *body = mb_http_body(r);
    json_t *empty = NULL;
    if (!body) body = empty = json_object();
    mb_lua_status rc = mb_lua_push_json_protected(S.vm, body, err, sizeof err);
    json_decref(empty);
    if (rc != MB_LUA_OK) {
        lua_pop(L, 2);
        mb_http_error(r, MB_E_BAD_REQUEST, "payload too large for the script: %s", err);
        return;
    }
    /* The handler runs as a task (runtime/lua/task.h): a host call such as
     * moonbase.storage.read may suspend it while PostgreSQL answers; the
     * reply is sent when it finishes (rpc_task_done). */
    rpc_call *c = mb_calloc(1, sizeof *c);
    c->req = r;
    snprintf(c->name, sizeof c->name, "%s", name);
    mb_lua_task_start(S.vm, MATCH_CTX_RPC, 2, 2, rpc_task_done, c);
}

static void rpc_task_done(void *ud, mb_lua_vm *vm, int rc, const char *err_in)
{
    rpc_call *c = ud;
    mb_http_req *r = c->req;
    const char *name = c->name;
    lua_State *L = mb_lua_vm_state(vm);
    char err[4096];
    if (rc != MB_LUA_OK) {
        *S.errors += 1;
        char q[2048];
        mb_error("rpc_failed", "rpc=%s player=%s status=%s error=%s", name, mb_http_player(r),
                 mb_lua_status_name(rc), mb_log_quote(q, sizeof q, err_in));
        mb_http_error(r, MB_E_INTERNAL, "rpc '%s' failed", name);
        free(c);
        if (vm == S.vm) restart_if_killed();
        return;
    }
    if (lua_isnil(L, -2) && lua_type(L, -1) == LUA_TSTRING) {
        mb_http_error(r, MB_E_BAD_REQUEST, "%s", lua_tostring(L, -1));
        free(c);
        return;
    }
    if (lua_type(L, -2) == LUA_TTABLE) {
        /* The common case, written straight to JSON text (no jansson tree,
         * no json_dumps). */
        mb_buf_reset(&S.out);
        bool ok = mb_lua_encode_json(L, -2, &S.out, err, sizeof err) == MB_OK;
        if (ok) mb_http_respond_json(r, 200, S.out.data, S.out.len);
        if (S.out.cap > 64 * 1024) mb_buf_free(&S.out); /* keep no large buffer */
        if (ok) {
            free(c);
            return;
        }
        /* Not JSON: the path below answers, with mb_lua_to_json's message
         * (the encoder words a few errors differently). */
    }
    /* nil, a lone string/number/boolean (jansson answers "{}" for these:
     * json_dumps encodes only objects and arrays), or an error. */
    json_t *out = lua_isnil(L, -2) ? json_null() : mb_lua_to_json(L, -2, err, sizeof err);
    if (!out) {
        *S.errors += 1;
        mb_error("rpc_bad_result", "rpc=%s error=\"%s\"", name, err);
        mb_http_error(r, MB_E_INTERNAL, "rpc '%s' returned a value that is not JSON: %s", name, err);
        free(c);
        return;
    }
    mb_http_respond(r, 200, out);
    free(c);
}

/* server.lua loads with the modes (modes_init, in the match module's
 * start), through the reload callback registered here. */
static mb_status rpc_init(void)
{
    memset(&S, 0, sizeof S);
    S.calls = mb_metric("moonbase_rpc_calls_total", "", MB_COUNTER, "Lua RPC calls");
    S.errors = mb_metric("moonbase_rpc_errors_total", "", MB_COUNTER, "Lua RPC calls that failed");
    match_ext_add_function("rpc", l_rpc_unavailable, MATCH_CTX_ANY);
    match_ext_scripts_reply(add_status);
    modes_on_reload(load_server);
    return MB_OK;
}

static void rpc_destroy(void)
{
    mb_lua_vm_free(S.vm);
    free(S.error);
    mb_buf_free(&S.out);
    memset(&S, 0, sizeof S);
}

static const mb_route routes[] = {
    {"POST", "/v1/rpc/{name}", rpc_route, MB_AUTH_BEARER, false},
};

const mb_module rpc_module = {
    .api = MB_MODULE_API,
    .name = "rpc",
    .requires = MB_REQUIRES("match"),
    .init = rpc_init,
    .destroy = rpc_destroy,
    .routes = routes,
    .n_routes = MB_ARRAY_LEN(routes),
};
