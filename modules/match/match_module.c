/*
 * match_module.c - the top of the match module, its face to the runtime:
 * the module record (its options; init and shutdown of the match runtime;
 * start: the mode registry loads the scripts; metrics; a closed session),
 * the match.* message table with its declared payload fields, and the REST
 * routes (/v1/matches, /v1/admin/scripts, /v1/admin/matches). It calls the
 * files below it; none of them calls it.
 *
 * Not here: the match.* message handlers (handlers.c), listing matches and
 * reading a stored one (rest_query.c), persistence of finished matches
 * (calls.c), the option values the runtime reads (match.c), the server
 * script and its RPCs (the rpc module, modules/rpc), the matches
 * themselves (the files match_internal.h lists).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "match_internal.h"

/* --------------------------------------------------------------- REST */

/* POST /v1/matches (Bearer) and POST /v1/admin/matches (admin): a seed is
 * accepted from the admin, or from anyone in development mode. */
static void create_match(mb_http_req *r, bool admin)
{
    /* mode and params: create_fields (validated before this runs) */
    json_t *b = mb_http_body(r);
    const char *mode = json_string_value(json_object_get(b, "mode"));
    json_t *params = json_object_get(b, "params");
    if (json_is_null(params)) params = NULL;
    /* seed stays here: who may send one (403) is decided before its value */
    bool may_seed = admin || !mb_cfg() || strcmp(mb_cfg()->mode, "development") == 0;
    json_t *seed_j = json_object_get(b, "seed");
    uint64_t seed = 0;
    if (seed_j) {
        if (!may_seed) {
            mb_http_error(r, MB_E_FORBIDDEN,
                          "field 'seed' is accepted only in development mode or with the admin token "
                          "(POST /v1/admin/matches)");
            return;
        }
        json_int_t v = json_is_integer(seed_j) ? json_integer_value(seed_j) : -1;
        if (v < 0 || (uint64_t)v > MATCH_SEED_MAX) {
            mb_http_error(r, MB_E_BAD_REQUEST, "field 'seed' must be an integer 0..%llu",
                          (unsigned long long)MATCH_SEED_MAX);
            return;
        }
        seed = (uint64_t)v;
    }
    if (match_cluster_place(r, admin, mode, params, seed_j ? &seed : NULL, admin || seed_j)) return;
    mb_errcode code = MB_E_INTERNAL;
    char err[512];
    match *m = match_create_seeded(mode, params, seed_j ? &seed : NULL, &code, err, sizeof err);
    if (!m) {
        mb_http_error(r, code, "%s", err);
        return;
    }
    json_t *out = json_pack("{s:s,s:s,s:i}", "match_id", match_id(m), "mode", mode, "script_version",
                            match_version(m)->version);
    /* the admin sees the seed (a player in production may not: it predicts
     * every math.random of the match); so does whoever chose it */
    if (admin || seed_j) json_object_set_new(out, "seed", json_integer((json_int_t)match_seed(m)));
    match_cluster_decorate(out, NULL, NULL);
    mb_http_respond(r, 201, out);
}

static void route_create(mb_http_req *r) { create_match(r, false); }
static void route_admin_create(mb_http_req *r) { create_match(r, true); }

static void (*scripts_extra[MATCH_EXT_MAX])(json_t *body); /* the rpc module: "server" */
static size_t n_scripts_extra;
void match_ext_scripts_reply(void (*fn)(json_t *body))
{
    if (n_scripts_extra < MATCH_EXT_MAX) scripts_extra[n_scripts_extra++] = fn;
}

static void route_list(mb_http_req *r)
{
    char err[200];
    long limit = 0;
    json_t *arr = match_list_request(r, err, sizeof err, &limit);
    if (!arr) {
        mb_http_error(r, MB_E_BAD_REQUEST, "%s", err);
        return;
    }
    if (cluster_enabled()) { /* and the other nodes' (cluster_glue.c) */
        json_t *q = json_array();
        const char *a;
        for (int i = 0; (a = mb_http_query_at(r, i)); i++) json_array_append_new(q, json_string(a));
        match_cluster_list(r, arr, q, limit);
        return;
    }
    mb_http_respond(r, 200, json_pack("{s:o}", "matches", arr));
}

static void route_get(mb_http_req *r)
{
    const char *id = mb_http_param(r, 0);
    match *m = match_find(id);
    if (m && !match_is_over(m)) {
        json_t *j = match_summary(m);
        json_object_set_new(j, "result", json_null());
        match_cluster_decorate(j, NULL, NULL);
        match_respond(r, j, id);
        return;
    }
    if (match_cluster_get(r, id)) return; /* cluster: live on another node? */
    match_get_stored(r, id);
}

/* ------------------------------------------------------------- admin */

static void route_admin_scripts(mb_http_req *r)
{
    json_t *arr = json_array();
    mode_status st;
    for (size_t i = 0; modes_status_at(i, &st); i++) {
        json_t *o = json_pack("{s:s}", "mode", st.mode);
        if (st.current) {
            json_object_set_new(o, "version", json_integer(st.current->version));
            json_object_set_new(o, "path", json_string(st.current->path));
            json_object_set_new(o, "loaded_at", json_integer(st.current->loaded_at));
            json_object_set_new(o, "tick_rate", json_integer(st.current->tick_rate));
        } else {
            json_object_set_new(o, "version", json_null());
        }
        json_object_set_new(o, "error", st.error ? json_string(st.error) : json_null());
        json_object_set_new(o, "error_at", st.error ? json_integer(st.error_at) : json_null());
        /* "retired": the file was deleted or renamed (no new matches); "failed": never loaded;
         * "ok": a version is live (error may still tell of a later failed reload). */
        json_object_set_new(o, "status", json_string(st.retired ? "retired" : st.current ? "ok" : "failed"));
        json_object_set_new(o, "retired_at", st.retired ? json_integer(st.retired_at) : json_null());
        json_array_append_new(arr, o);
    }
    json_t *body = json_pack("{s:o}", "modes", arr);
    for (size_t i = 0; i < n_scripts_extra; i++) scripts_extra[i](body);
    mb_http_respond(r, 200, body);
}

static void route_admin_reload(mb_http_req *r)
{
    int failures = modes_reload_all();
    mb_info("scripts_reload", "trigger=admin failures=%d", failures);
    route_admin_scripts(r);
}

static void route_admin_matches(mb_http_req *r)
{
    json_t *arr = json_array();
    size_t it = 0;
    match *m;
    while (match_next(&it, &m)) {
        if (match_is_over(m)) continue;
        json_t *j = match_summary(m);
        json_object_set_new(j, "seed", json_integer((json_int_t)match_seed(m)));
        match_cluster_decorate(j, NULL, NULL);
        json_array_append_new(arr, j);
    }
    mb_http_respond(r, 200, json_pack("{s:o}", "matches", arr));
}

static void route_admin_match_state(mb_http_req *r)
{
    match *m = match_find(mb_http_param(r, 0));
    if (!m || match_is_over(m)) {
        mb_http_error(r, MB_E_NOT_FOUND, "no live match '%s'", mb_http_param(r, 0));
        return;
    }
    json_t *st = match_state_json(m);
    json_t *j = match_summary(m);
    json_object_set_new(j, "seed", json_integer((json_int_t)match_seed(m)));
    json_object_set_new(j, "state", st ? st : json_null());
    mb_http_respond(r, 200, j);
}

static void route_admin_match_end(mb_http_req *r)
{
    match *m = match_find(mb_http_param(r, 0));
    if (!m || match_is_over(m)) {
        mb_http_error(r, MB_E_NOT_FOUND, "no live match '%s'", mb_http_param(r, 0));
        return;
    }
    json_t *res = json_pack("{s:s}", "reason", "ended_by_admin");
    match_end(m, res);
    json_decref(res);
    mb_http_respond(r, 200, json_pack("{s:s,s:s}", "match_id", mb_http_param(r, 0), "status", "finished"));
}

/* ------------------------------------------------------------- module */

static const mb_field join_fields[] = {
    {"match_id", MB_F_STRING, true, 1, 64},
    {"metadata", MB_F_OBJECT, false, 0, 32},
    {NULL},
};
static const mb_field no_fields[] = {{NULL}};

static const mb_msg_def messages[] = {
    {"match.join", join_fields, match_on_join, false},
    {"match.input", no_fields, match_on_input, false},
    {"match.leave", no_fields, match_on_leave, false},
};

static const mb_field create_fields[] = {
    {"mode", MB_F_STRING, true, 0, 0, NULL, NULL},
    {"params", MB_F_OBJECT, false, 0, 0, NULL, NULL},
    /* checked by create_match: 403 for a player outside development mode first */
    {"seed", MB_F_ANY, false, 0, 0, NULL, "integer 0..9007199254740991"},
    {"node_id", MB_F_STRING, false, 1, 64}, /* admin: pin to a cluster node (docs/CLUSTER.md) */
    {NULL},
};

static const mb_route routes[] = {
    {"POST", "/v1/matches", route_create, MB_AUTH_BEARER, false, create_fields, 0},
    {"GET", "/v1/matches", route_list, MB_AUTH_BEARER, false},
    {"GET", "/v1/matches/{id}", route_get, MB_AUTH_BEARER, false},
    {"GET", "/v1/admin/scripts", route_admin_scripts, MB_AUTH_ADMIN, false},
    {"POST", "/v1/admin/scripts/reload", route_admin_reload, MB_AUTH_ADMIN, false},
    {"GET", "/v1/admin/matches", route_admin_matches, MB_AUTH_ADMIN, false},
    {"POST", "/v1/admin/matches", route_admin_create, MB_AUTH_ADMIN, false, create_fields, 0},
    {"GET", "/v1/admin/matches/{id}", route_admin_match_state, MB_AUTH_ADMIN, false},
    {"POST", "/v1/admin/matches/{id}/end", route_admin_match_end, MB_AUTH_ADMIN, false},
};

static void on_mode_reload(const char *mode, const mode_version *v)
{
    if (v && v->has_reload) match_mode_reloaded(mode);
}

static int lua_memory_mb, lua_time_ms, lua_init_time_ms, lua_jit, lua_warn_ms;

static const mb_option options[] = {
    {"input-rate", MB_OPT_I(match_opt_input_rate), "60", 1, 10000, "match.input per second per player"},
    {"tick-slot-ms", MB_OPT_I(match_opt_tick_slot_ms), "2", 0, 1000,
     "matches tick in slots this wide (0: any phase); see docs/PERFORMANCE.md"},
    {"lua-memory-mb", MB_OPT_I(lua_memory_mb), "64", 4, 4096, "memory cap of each match's Lua VM, MiB"},
    {"lua-time-ms", MB_OPT_I(lua_time_ms), "0", 0, 60000,
     "hard time limit of one Lua callback (tick, input, join, RPC...); 0 = min(50 ms, the mode's tick period); see docs/LUA_API.md"},
    {"lua-jit", MB_OPT_I(lua_jit), "1", 0, 1,
     "LuaJIT's compiler for match and server scripts (1 on, 0 off); see docs/LUA_API.md"},
    {"lua-init-time-ms", MB_OPT_I(lua_init_time_ms), "1000", 10, 60000,
     "hard time limit of loading a script and of init/reload"},
    {"lua-warn-ms", MB_OPT_I(lua_warn_ms), "50", 1, 60000, "log Lua callbacks slower than this"},
    {NULL},
};

static mb_status module_init(void)
{
    modes_set_limits((size_t)lua_memory_mb << 20, (unsigned)lua_time_ms, (unsigned)lua_init_time_ms,
                     (unsigned)lua_warn_ms);
    modes_set_jit(lua_jit != 0);
    match_runtime_init();
    /* match.input skips the jansson tree: its payload text is decoded
     * straight into the match's VM (the hot path: one per player input). */
    if (mb_protocol_register_raw("match.input", match_on_input_raw) != MB_OK) return MB_ERR;
    modes_on_reload(on_mode_reload);
    match_cluster_init();
    return MB_OK;
}

/* Scripts load once every module's init ran: the Lua functions other
 * modules add (moonbase.notify, ...) are in place by then. */
static mb_status module_start(void)
{
    int failures = modes_init(mb_cfg()->scripts_dir, true);
    if (failures) mb_warn("scripts_failed_at_start", "count=%d", failures);
    return MB_OK;
}

static void module_shutdown(void) { match_runtime_shutdown(); }

static void module_destroy(void)
{
    match_runtime_destroy();
    modes_shutdown();
}

static void module_session_closed(mb_session *s)
{
    match_session_closed(mb_session_player(s), !mb_player_online(mb_session_player(s)));
}

static char *module_metrics(void)
{
    return mb_sprintf(
        "# HELP moonbase_lua_memory_bytes memory used by all Lua VMs\n"
        "# TYPE moonbase_lua_memory_bytes gauge\nmoonbase_lua_memory_bytes %zu\n"
        "# HELP moonbase_db_durable_queue durable writes waiting for PostgreSQL\n"
        "# TYPE moonbase_db_durable_queue gauge\nmoonbase_db_durable_queue %zu\n"
        "# HELP moonbase_lua_vm_killed_total Lua VMs stopped inside compiled code (each leaks its machine code, <= 512 KiB)\n"
        "# TYPE moonbase_lua_vm_killed_total counter\nmoonbase_lua_vm_killed_total %llu\n",
        mb_lua_mem_total(), mb_db_durable_pending(), (unsigned long long)mb_lua_vm_kills());
}

const mb_module match_module = {
    .api = MB_MODULE_API,
    .name = "match",
    .requires = MB_REQUIRES("cluster"),
    .init = module_init,
    .start = module_start,
    .shutdown = module_shutdown,
    .destroy = module_destroy,
    .messages = messages,
    .n_messages = MB_ARRAY_LEN(messages),
    .routes = routes,
    .n_routes = MB_ARRAY_LEN(routes),
    .session_closed = module_session_closed,
    .metrics = module_metrics,
    .options = options,
};
