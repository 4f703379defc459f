/*
 * matchmaker.c - matchmaking on the wire: matchmaker.add / remove /
 * matched / removed, one pool (pool.c) per mode configured by the mode's
 * M.matchmaker table, passes on an interval on the loop, the optional Lua
 * hook M.matchmaker_matched(entries) -> ok[, teams], match creation with
 * reserved seats, ticket timeouts, tickets ending with the player's last
 * socket, and GET /v1/matchmaker/stats (also as Prometheus metrics).
 *
 * In cluster mode (--redis-url) the pool is the cluster's: cluster_mm.c
 * mirrors it, holds the pass lease and places the matches; this file calls
 * it where cluster_enabled() (the ticket table and pools both use: tickets.c).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "cluster_mm.h"
#include "convert.h"
#include "match.h"
#include "match_ext.h"
#include "modes.h"
#include "pool.h"
#include "server.h"
#include "tickets.h"

#define MAX_PROPS 16

static ev_timer pass_w;
static int interval_ms; /* option matchmaker-interval-ms (table at the end) */
static double *m_timeouts;

/* ---------------------------------------------------------- messages */

static int player_tickets(const char *player_id, const char *mode)
{
    int n = 0;
    for (ticket *t = matchmaker_player_first(player_id); t; t = t->by_player.next)
        if (!mode || strcmp(t->mode, mode) == 0) n++;
    return n;
}

static void on_add(mb_session *s, const char *cid, json_t *payload)
{
    const char *mode = json_string_value(json_object_get(payload, "mode"));
    json_t *props = json_object_get(payload, "properties");
    char err[512];
    bool no_mm;
    mode_pool *p = matchmaker_pool_for(mode, err, sizeof err, &no_mm);
    if (!p) {
        mb_session_error(s, cid, "matchmaker.add", no_mm ? MB_E_NOT_FOUND : MB_E_INTERNAL, "%s", err);
        return;
    }
    if (!props) props = json_object();
    else json_incref(props);
    const char *k;
    json_t *v;
    json_object_foreach (props, k, v) {
        if (strlen(k) == 0 || strlen(k) > 32) {
            mb_session_error(s, cid, "matchmaker.add", MB_E_BAD_REQUEST,
                             "property names must be 1..32 characters");
            goto out;
        }
        if (json_is_string(v) ? mb_utf8_len(json_string_value(v), json_string_length(v)) > 64
                              : !(json_is_number(v) && isfinite(json_number_value(v)))) {
            mb_session_error(s, cid, "matchmaker.add", MB_E_BAD_REQUEST,
                             "property '%s' must be a finite number or a string of at most 64 characters", k);
            goto out;
        }
    }
    double skill = 0;
    if (p->cfg.has_skill) {
        json_t *sv = json_object_get(props, p->skill_prop);
        if (!json_is_number(sv)) {
            mb_session_error(s, cid, "matchmaker.add", MB_E_BAD_REQUEST,
                             "properties.%s (number) is required by mode '%s'", p->skill_prop, mode);
            goto out;
        }
        skill = json_number_value(sv);
    }
    for (size_t i = 0; i < p->cfg.same_count; i++) {
        if (!json_is_string(json_object_get(props, p->cfg.same[i]))) {
            mb_session_error(s, cid, "matchmaker.add", MB_E_BAD_REQUEST,
                             "properties.%s (string) is required by mode '%s'", p->cfg.same[i], mode);
            goto out;
        }
    }
    if (player_tickets(mb_session_player(s), mode) >= 1) {
        mb_session_error(s, cid, "matchmaker.add", MB_E_CONFLICT,
                         "you already have a ticket for mode '%s'; remove it first", mode);
        goto out;
    }
    if (cluster_enabled()) { /* the cluster's pool: docs/CLUSTER.md "Matchmaker" */
        matchmaker_cluster_add(s, cid, p, props);
        goto out;
    }
    char tid[40];
    mb_uuid(tid);
    ticket *t = matchmaker_ticket_new(p, tid, mb_session_player(s), mb_session_username(s), "", props, skill);
    t->enqueued_ms = mb_now_ms();
    if (matchmaker_ticket_add(p, t) != MB_OK) {
        mb_session_error(s, cid, "matchmaker.add", MB_E_INTERNAL, "could not add the ticket");
        goto out;
    }
    matchmaker_record_added();
    mb_session_send(s, "matchmaker.ticket", cid, json_pack("{s:s,s:s}", "ticket_id", tid, "mode", mode));
out:
    json_decref(props);
}

static void remove_ticket(ticket *t, const char *reason, bool notify)
{
    mode_pool *p = matchmaker_find_pool(t->mode);
    if (p) mm_pool_remove(p->pool, t->id);
    if (notify) matchmaker_send_removed(t->player_id, t->ticket_id, t->mode, reason);
    matchmaker_ticket_forget(t);
}

static void on_remove(mb_session *s, const char *cid, json_t *payload)
{
    const char *id = json_string_value(json_object_get(payload, "ticket_id"));
    ticket *t = matchmaker_ticket_find(id);
    if (!t || strcmp(t->player_id, mb_session_player(s)) != 0) {
        mb_session_error(s, cid, "matchmaker.remove", MB_E_NOT_FOUND, "no ticket '%s' of yours", id);
        return;
    }
    if (cluster_enabled()) {
        matchmaker_cluster_remove(s, cid, t);
        return;
    }
    char tid[40];
    snprintf(tid, sizeof tid, "%s", t->ticket_id);
    remove_ticket(t, "removed", false);
    mb_session_send(s, "matchmaker.removed", cid,
                    json_pack("{s:s,s:s}", "ticket_id", tid, "reason", "removed"));
}

static void session_closed(mb_session *s)
{
    if (mb_player_online(mb_session_player(s))) return; /* another socket remains */
    if (cluster_enabled()) {
        matchmaker_cluster_session_closed(mb_session_player(s));
        return;
    }
    ticket *t;
    while ((t = matchmaker_player_first(mb_session_player(s)))) remove_ticket(t, "disconnected", false);
}

/* ------------------------------------------------------------- passes */

typedef struct pass_ctx {
    mode_pool *p;
    int64_t now;
} pass_ctx;

/* M.matchmaker_matched(entries) -> ok[, teams] */
static bool run_hook(mode_pool *p, ticket **ts, size_t n, int *teams)
{
    mode_version *v = modes_get(p->mode);
    if (!v) return true;
    if (!p->hook_vm) {
        char err[1024];
        p->hook_vm = modes_new_vm(v, err, sizeof err);
        if (!p->hook_vm) return true;
        lua_State *L = mb_lua_vm_state(p->hook_vm);
        lua_pushstring(L, "matchmaker_matched");
        lua_rawget(L, -2);
        if (lua_type(L, -1) != LUA_TFUNCTION) {
            lua_pop(L, 2);
            mb_lua_vm_free(p->hook_vm);
            p->hook_vm = NULL;
            p->hook_ref = LUA_REFNIL;
            return true;
        }
        p->hook_ref = luaL_ref(L, LUA_REGISTRYINDEX);
        lua_pop(L, 1);
        mb_lua_vm_set_time_ms(p->hook_vm, modes_callback_ms(NULL)); /* loaded: callback budget */
    }
    json_t *entries = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_pack("{s:s,s:s,s:s,s:O}", "player_id", ts[i]->player_id, "ticket_id",
                              ts[i]->ticket_id, "username", ts[i]->username, "properties", ts[i]->properties);
        json_object_set_new(e, "team", teams ? json_integer(teams[i] + 1) : json_null());
        json_array_append_new(entries, e);
    }
    lua_State *L = mb_lua_vm_state(p->hook_vm);
    lua_rawgeti(L, LUA_REGISTRYINDEX, p->hook_ref);
    char err[1024];
    bool accept = true;
    if (mb_lua_push_json_protected(p->hook_vm, entries, err, sizeof err) != MB_LUA_OK) {
        lua_pop(L, 1);
    } else if (match_lua_pcall_in(p->hook_vm, MATCH_CTX_MATCHMAKER, 1, 2, err, sizeof err) != MB_LUA_OK) {
        char q[1024];
        mb_error("matchmaker_hook_failed", "mode=%s error=%s", p->mode, mb_log_quote(q, sizeof q, err));
        if (mb_lua_vm_killed(p->hook_vm)) { /* stopped in compiled code: a fresh VM next time */
            mb_lua_vm_free(p->hook_vm);
            p->hook_vm = NULL;
            p->hook_ref = LUA_REFNIL;
        }
    } else {
        accept = lua_toboolean(L, -2);
        if (accept && teams && lua_type(L, -1) == LUA_TTABLE) {
            for (size_t i = 0; i < n; i++) {
                lua_rawgeti(L, -1, (int)i + 1);
                if (lua_type(L, -1) == LUA_TNUMBER) {
                    int tm = (int)lua_tonumber(L, -1) - 1;
                    if (tm >= 0 && tm < p->cfg.teams) teams[i] = tm;
                }
                lua_pop(L, 1);
            }
        }
        lua_pop(L, 2);
    }
    json_decref(entries);
    return accept;
}

static bool on_group(void *ud, const mm_entry *entries, size_t n, int *teams)
{
    pass_ctx *c = ud;
    mode_pool *p = c->p;
    ticket **ts = mb_malloc(n * sizeof *ts);
    for (size_t i = 0; i < n; i++) ts[i] = matchmaker_ticket_get(entries[i].owner);
    if (p->hook_ref != LUA_REFNIL && !run_hook(p, ts, n, teams)) {
        free(ts);
        return false;
    }
    if (cluster_enabled()) {
        bool ok = matchmaker_cluster_group(p, ts, n, teams);
        free(ts);
        return ok;
    }
    json_t *players = json_array(), *props = json_object();
    int nteams = p->cfg.teams;
    json_t *team_lists = json_array();
    for (int k = 0; k < nteams; k++) json_array_append_new(team_lists, json_array());
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        json_t *pl = json_pack("{s:s,s:s,s:O}", "player_id", ts[i]->player_id, "username", ts[i]->username,
                               "properties", ts[i]->properties);
        json_object_set_new(pl, "team", teams ? json_integer(teams[i] + 1) : json_null());
        json_array_append_new(players, pl);
        json_object_set(props, ts[i]->player_id, ts[i]->properties);
        if (teams)
            json_array_append_new(json_array_get(team_lists, (size_t)teams[i]),
                                  json_string(ts[i]->player_id));
        if (ts[i]->skill < lo) lo = ts[i]->skill;
        if (ts[i]->skill > hi) hi = ts[i]->skill;
    }
    json_t *params =
        json_pack("{s:o,s:o,s:o}", "players", json_incref(players), "teams", team_lists, "properties", props);
    mb_errcode code;
    char err[512];
    match *m = match_create(p->mode, params, &code, err, sizeof err);
    json_decref(params);
    if (!m) {
        mb_error("matchmaker_match_failed", "mode=%s error=\"%s\"", p->mode, err);
        for (size_t i = 0; i < n; i++) {
            matchmaker_send_removed(ts[i]->player_id, ts[i]->ticket_id, p->mode, "match_failed");
            matchmaker_ticket_forget(ts[i]);
        }
        json_decref(players);
        free(ts);
        return true;
    }
    for (size_t i = 0; i < n; i++) match_reserve(m, ts[i]->player_id, MATCHMAKER_JOIN_TIMEOUT_MS);
    for (size_t i = 0; i < n; i++) {
        json_t *msg = json_pack("{s:s,s:s,s:O}", "match_id", match_id(m), "ticket_id", ts[i]->ticket_id,
                                "players", players);
        if (cluster_enabled()) { /* the match is on this node: docs/CLUSTER.md */
            json_object_set_new(msg, "node_id", json_string(cluster_node_id()));
            json_object_set_new(msg, "url", json_string(cluster_public_url()));
        }
        mb_player_send(ts[i]->player_id, "matchmaker.matched", msg);
        json_decref(msg);
        matchmaker_record_wait(p, (double)(c->now - ts[i]->enqueued_ms), p->cfg.has_skill ? hi - lo : 0);
        matchmaker_ticket_forget(ts[i]);
    }
    matchmaker_record_formed(p);
    mb_info("matchmaker_matched", "mode=%s match=%s players=%zu spread=%.1f", p->mode, match_id(m), n,
            p->cfg.has_skill ? hi - lo : 0.0);
    json_decref(players);
    free(ts);
    return true;
}

static void on_expired(void *ud, const mm_entry *e)
{
    ticket *t = matchmaker_ticket_get(e->owner);
    if (!t) return;
    *m_timeouts += 1;
    if (cluster_enabled()) {
        matchmaker_cluster_expired(t);
        return;
    }
    matchmaker_send_removed(t->player_id, t->ticket_id, t->mode, "timeout");
    matchmaker_ticket_forget(t);
}

static void pass_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    int64_t now = mb_now_ms();
    size_t it = 0;
    mode_pool *p;
    while ((p = matchmaker_pool_next(&it))) {
        if (!mm_pool_count(p->pool)) continue;
        if (cluster_enabled() && !matchmaker_cluster_passes(p->mode)) continue; /* another node's passes */
        /* pick up a reloaded mode's new configuration */
        char err[256];
        bool no_mm;
        mode_pool *cur = matchmaker_pool_for(p->mode, err, sizeof err, &no_mm);
        if (!cur) continue;
        pass_ctx c = {cur, now};
        double t0 = cluster_enabled() ? mb_now_us() : 0;
        mm_pool_expire(cur->pool, now, on_expired, &c);
        mm_pool_pass(cur->pool, now, on_group, &c);
        if (cluster_enabled()) matchmaker_cluster_pass_timed(cur->mode, (mb_now_us() - t0) / 1000.0);
    }
}

/* -------------------------------------------------------------- stats */

static json_t *stats_json(void)
{
    json_t *modes = json_object();
    int64_t now = mb_now_ms();
    size_t it = 0;
    mode_pool *p;
    while ((p = matchmaker_pool_next(&it))) {
        double mean_wait, mean_spread;
        matchmaker_pool_means(p, &mean_wait, &mean_spread);
        json_t *m =
            json_pack("{s:I,s:I,s:I,s:f,s:f}", "tickets", (json_int_t)mm_pool_count(p->pool),
                      "oldest_wait_ms", (json_int_t)mm_pool_oldest_wait_ms(p->pool, now), "matches_formed",
                      (json_int_t)p->formed, "mean_wait_ms", mean_wait, "mean_skill_spread", mean_spread);
        if (cluster_enabled())
            matchmaker_cluster_stats(p->mode, m); /* the cluster's pool, as mirrored here */
        json_object_set_new(modes, p->mode, m);
    }
    json_t *out = json_pack("{s:o,s:I}", "modes", modes, "tickets", (json_int_t)matchmaker_ticket_count());
    if (cluster_enabled()) json_object_set_new(out, "node_id", json_string(cluster_node_id()));
    return out;
}

static void route_stats(mb_http_req *r) { mb_http_respond(r, 200, stats_json()); }

static char *metrics(void)
{
    char *out = mb_strdup("# HELP moonbase_matchmaker_tickets waiting tickets by mode\n"
                          "# TYPE moonbase_matchmaker_tickets gauge\n");
    int64_t now = mb_now_ms();
    size_t it = 0;
    mode_pool *p;
    while ((p = matchmaker_pool_next(&it))) {
        char *n = mb_sprintf("%smoonbase_matchmaker_tickets{mode=\"%s\"} %zu\n"
                             "moonbase_matchmaker_oldest_wait_seconds{mode=\"%s\"} %.3f\n"
                             "moonbase_matchmaker_matches_formed{mode=\"%s\"} %llu\n",
                             out, p->mode, mm_pool_count(p->pool), p->mode,
                             (double)mm_pool_oldest_wait_ms(p->pool, now) / 1000.0, p->mode,
                             (unsigned long long)p->formed);
        free(out);
        out = n;
    }
    return out;
}

/* ------------------------------------------------------------- module */

static const mb_field add_fields[] = {
    {"mode", MB_F_STRING, true, 1, 64},
    {"properties", MB_F_OBJECT, false, 0, MAX_PROPS},
    {NULL},
};
static const mb_field remove_fields[] = {
    {"ticket_id", MB_F_STRING, true, 1, 64},
    {NULL},
};

static const mb_msg_def messages[] = {
    {"matchmaker.add", add_fields, on_add, false},
    {"matchmaker.remove", remove_fields, on_remove, false},
};

static const mb_route routes[] = {
    {"GET", "/v1/matchmaker/stats", route_stats, MB_AUTH_BEARER, false},
    {"GET", "/v1/admin/matchmaker", route_stats, MB_AUTH_ADMIN, false},
};

static mb_status mm_init(void)
{
    matchmaker_tickets_init();
    m_timeouts = mb_metric("moonbase_matchmaker_timeouts_total", "", MB_COUNTER, "tickets that timed out");
    double iv = interval_ms / 1000.0;
    ev_timer_init(&pass_w, pass_cb, iv, iv);
    ev_timer_start(mb_loop(), &pass_w);
    if (cluster_enabled()) matchmaker_cluster_init();
    return MB_OK;
}

static void mm_destroy(void)
{
    ev_timer_stop(mb_loop(), &pass_w);
    matchmaker_cluster_destroy();
    matchmaker_tickets_destroy();
}

static const mb_option options[] = {
    {"matchmaker-interval-ms", MB_OPT_I(interval_ms), "100", 10, 10000, "matchmaker pass interval"},
    {NULL},
};

const mb_module matchmaker_module = {
    .api = MB_MODULE_API,
    .name = "matchmaker",
    .requires = MB_REQUIRES("match", "cluster"),
    .options = options,
    .init = mm_init,
    .destroy = mm_destroy,
    .messages = messages,
    .n_messages = MB_ARRAY_LEN(messages),
    .routes = routes,
    .n_routes = MB_ARRAY_LEN(routes),
    .session_closed = session_closed,
    .metrics = metrics,
};
