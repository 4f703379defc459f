/*
 * matchmaker.c - matchmaking on the wire: matchmaker.add / remove /
 * matched / removed, one pool (pool.c) per mode configured by the mode's
 * M.matchmaker table, passes on an interval on the loop, the optional Lua
 * hook M.matchmaker_matched(entries) -> ok[, teams], match creation with
 * reserved seats, ticket timeouts, tickets ending with the player's last
 * socket, and GET /v1/matchmaker/stats (also as Prometheus metrics).
 */
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "redis.h"
#include "convert.h"
#include "match.h"
#include "match_ext.h"
#include "modes.h"
#include "pool.h"
#include "server.h"

#define MAX_PROPS 16
#define JOIN_TIMEOUT_MS 15000
#define RECENT 1024

typedef struct ticket {
    uint64_t id;
    char ticket_id[40];
    char player_id[64];
    char username[64];
    char mode[72];
    json_t *properties;
    double skill;
    char *same_vals[MM_SAME_MAX];
    const char *same_ptrs[MM_SAME_MAX];
    int64_t enqueued_ms;
    /* cluster mode (docs/CLUSTER.md "Matchmaker"): every node mirrors the
     * cluster's tickets; node_id holds the socket that added it */
    char node_id[72];
    int64_t created_at; /* epoch ms */
    uint64_t seq;       /* mirror order (reload) */
    bool in_flight;     /* out of the pool: claimed by a pass, or expiring */
} ticket;

typedef struct mode_pool {
    char mode[72];
    mm_pool *pool;
    mm_config cfg;
    char *same_names[MM_SAME_MAX];
    char *skill_prop;
    int version;
    mb_lua_vm *hook_vm; /* runs M.matchmaker_matched, NULL when absent */
    int hook_ref;
    uint64_t formed;
    double waits[RECENT], spreads[RECENT];
    size_t n_recent, recent_pos;
} mode_pool;

typedef struct pass_ctx_fwd pass_ctx_fwd;

static mb_imap tickets;        /* internal id -> ticket */
static mb_smap tickets_by_str; /* ticket_id string -> ticket */
static mode_pool **pools;
static size_t n_pools;
static uint64_t next_id = 1;
static ev_timer pass_w;
static int interval_ms; /* option matchmaker-interval-ms (table at the end) */
static double *m_formed, *m_added, *m_timeouts;

/* ------------------------------------------------------------ helpers */

static void ticket_free(ticket *t)
{
    for (int i = 0; i < MM_SAME_MAX; i++) free(t->same_vals[i]);
    json_decref(t->properties);
    free(t);
}

static void ticket_forget(ticket *t)
{
    mb_imap_del(&tickets, t->id);
    mb_smap_del(&tickets_by_str, t->ticket_id);
    ticket_free(t);
}

static void pool_free(mode_pool *p)
{
    mm_pool_free(p->pool);
    for (int i = 0; i < MM_SAME_MAX; i++) free(p->same_names[i]);
    free(p->skill_prop);
    mb_lua_vm_free(p->hook_vm);
    free(p);
}

static mode_pool *find_pool(const char *mode)
{
    for (size_t i = 0; i < n_pools; i++)
        if (strcmp(pools[i]->mode, mode) == 0) return pools[i];
    return NULL;
}

static double num(json_t *o, const char *k, double def)
{
    json_t *v = json_object_get(o, k);
    return json_is_number(v) ? json_number_value(v) : def;
}

/* Build a pool config from a mode's M.matchmaker table. */
static mode_pool *pool_from_mode(const mode_version *v, char *err, size_t errlen)
{
    json_t *mm = v->matchmaker;
    mode_pool *p = mb_calloc(1, sizeof *p);
    snprintf(p->mode, sizeof p->mode, "%s", v->mode);
    p->version = v->version;
    p->hook_ref = LUA_NOREF;
    json_t *size = json_object_get(mm, "size");
    p->cfg.size_min = (int)num(size, "min", v->players_min);
    p->cfg.size_max = (int)num(size, "max", v->players_max);
    p->cfg.teams = (int)num(mm, "teams", 0);
    const char *skill = json_string_value(json_object_get(mm, "skill"));
    p->cfg.has_skill = skill != NULL;
    p->skill_prop = skill ? mb_strdup(skill) : NULL;
    p->cfg.window = num(mm, "window", 100);
    p->cfg.widen_per_second = num(mm, "widen_per_second", 0);
    p->cfg.max_window = num(mm, "max_window", p->cfg.window > 1000 ? p->cfg.window : 1000);
    if (p->cfg.max_window < p->cfg.window) p->cfg.max_window = p->cfg.window;
    json_t *same = json_object_get(mm, "same");
    size_t i;
    json_t *s;
    json_array_foreach (same, i, s) {
        if (!json_is_string(s) || i >= MM_SAME_MAX) {
            snprintf(err, errlen, "%s: matchmaker.same must be a list of at most %d property names", v->path,
                     MM_SAME_MAX);
            pool_free(p);
            return NULL;
        }
        p->same_names[i] = mb_strdup(json_string_value(s));
        p->cfg.same[i] = p->same_names[i];
        p->cfg.same_count = i + 1;
    }
    json_t *fa = json_object_get(mm, "fill_after_ms");
    p->cfg.fill_after_ms = json_is_number(fa) ? (int64_t)json_number_value(fa) : 10000;
    json_t *to = json_object_get(mm, "timeout_ms");
    p->cfg.timeout_ms = json_is_number(to) ? (int64_t)json_number_value(to) : 120000;
    if (p->cfg.timeout_ms <= 0) p->cfg.timeout_ms = MM_NEVER;
    const char *why = mm_config_check(&p->cfg);
    if (why) {
        snprintf(err, errlen, "%s: matchmaker: %s", v->path, why);
        pool_free(p);
        return NULL;
    }
    p->pool = mm_pool_new(&p->cfg);
    return p;
}

/* Current pool of a mode, (re)built when the mode's version changed. */
static mode_pool *pool_for(const char *mode, char *err, size_t errlen, bool *no_mm)
{
    *no_mm = false;
    mode_version *v = modes_get(mode);
    mode_pool *p = find_pool(mode);
    if (!v || !v->matchmaker) {
        *no_mm = true;
        snprintf(err, errlen, v ? "mode '%s' has no matchmaker configuration" : "unknown mode '%s'", mode);
        return NULL;
    }
    if (p && p->version == v->version) return p;
    mode_pool *np = pool_from_mode(v, err, errlen);
    if (!np) return NULL;
    if (p) {
        /* Move the waiting tickets to the new configuration, keeping their
         * wait time. */
        size_t it = 0;
        void *val;
        while (mb_imap_next(&tickets, &it, NULL, &val)) {
            ticket *t = val;
            if (strcmp(t->mode, mode) != 0 || t->in_flight) continue;
            mm_entry e = {t->id, t->id, t->skill, t->enqueued_ms, NULL};
            if (np->cfg.same_count) {
                for (size_t k = 0; k < np->cfg.same_count; k++) {
                    const char *val2 = json_string_value(json_object_get(t->properties, np->cfg.same[k]));
                    free(t->same_vals[k]);
                    t->same_vals[k] = mb_strdup(val2 ? val2 : "");
                    t->same_ptrs[k] = t->same_vals[k];
                }
                e.same = t->same_ptrs;
            }
            mm_pool_add(np->pool, &e);
        }
        np->formed = p->formed;
        for (size_t k = 0; k < n_pools; k++)
            if (pools[k] == p) pools[k] = np;
        pool_free(p);
    } else {
        pools = mb_realloc(pools, (n_pools + 1) * sizeof *pools);
        pools[n_pools++] = np;
    }
    return np;
}

/* ---------------------------------------------------------- messages */

static void cl_add(mb_session *s, const char *cid, mode_pool *p, json_t *props);
static void cl_remove(mb_session *s, const char *cid, ticket *t);
static void cl_session_closed(const char *player_id);
static bool cl_group(pass_ctx_fwd *c, ticket **ts, size_t n, int *teams);
static void cl_expired(ticket *t);
static bool cl_passes(const char *mode);
static void cl_pass_timed(const char *mode, double ms);

static int player_tickets(const char *player_id, const char *mode)
{
    int n = 0;
    size_t it = 0;
    void *v;
    while (mb_imap_next(&tickets, &it, NULL, &v)) {
        ticket *t = v;
        if (strcmp(t->player_id, player_id) == 0 && (!mode || strcmp(t->mode, mode) == 0)) n++;
    }
    return n;
}

static void on_add(mb_session *s, const char *cid, json_t *payload)
{
    const char *mode = json_string_value(json_object_get(payload, "mode"));
    json_t *props = json_object_get(payload, "properties");
    char err[512];
    bool no_mm;
    mode_pool *p = pool_for(mode, err, sizeof err, &no_mm);
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
        cl_add(s, cid, p, props);
        goto out;
    }
    ticket *t = mb_calloc(1, sizeof *t);
    t->id = next_id++;
    mb_uuid(t->ticket_id);
    snprintf(t->player_id, sizeof t->player_id, "%s", mb_session_player(s));
    snprintf(t->username, sizeof t->username, "%s", mb_session_username(s));
    snprintf(t->mode, sizeof t->mode, "%s", mode);
    t->properties = json_incref(props);
    t->skill = skill;
    t->enqueued_ms = mb_now_ms();
    mm_entry e = {t->id, t->id, skill, t->enqueued_ms, NULL};
    for (size_t i = 0; i < p->cfg.same_count; i++) {
        t->same_vals[i] = mb_strdup(json_string_value(json_object_get(props, p->cfg.same[i])));
        t->same_ptrs[i] = t->same_vals[i];
    }
    if (p->cfg.same_count) e.same = t->same_ptrs;
    if (mm_pool_add(p->pool, &e) != MB_OK) {
        ticket_free(t);
        mb_session_error(s, cid, "matchmaker.add", MB_E_INTERNAL, "could not add the ticket");
        goto out;
    }
    mb_imap_put(&tickets, t->id, t);
    mb_smap_put(&tickets_by_str, t->ticket_id, t);
    *m_added += 1;
    mb_session_send(s, "matchmaker.ticket", cid,
                    json_pack("{s:s,s:s}", "ticket_id", t->ticket_id, "mode", mode));
out:
    json_decref(props);
}

/* matchmaker.removed {ticket_id, mode, reason} to every socket of the player. */
static void send_removed(const char *player_id, const char *ticket_id, const char *mode, const char *reason)
{
    json_t *p = json_pack("{s:s,s:s,s:s}", "ticket_id", ticket_id, "mode", mode, "reason", reason);
    mb_player_send(player_id, "matchmaker.removed", p);
    json_decref(p);
}

static void remove_ticket(ticket *t, const char *reason, bool notify)
{
    mode_pool *p = find_pool(t->mode);
    if (p) mm_pool_remove(p->pool, t->id);
    if (notify) send_removed(t->player_id, t->ticket_id, t->mode, reason);
    ticket_forget(t);
}

static void on_remove(mb_session *s, const char *cid, json_t *payload)
{
    const char *id = json_string_value(json_object_get(payload, "ticket_id"));
    ticket *t = mb_smap_get(&tickets_by_str, id);
    if (!t || strcmp(t->player_id, mb_session_player(s)) != 0) {
        mb_session_error(s, cid, "matchmaker.remove", MB_E_NOT_FOUND, "no ticket '%s' of yours", id);
        return;
    }
    if (cluster_enabled()) {
        cl_remove(s, cid, t);
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
        cl_session_closed(mb_session_player(s));
        return;
    }
    for (;;) {
        ticket *found = NULL;
        size_t it = 0;
        void *v;
        while (mb_imap_next(&tickets, &it, NULL, &v))
            if (strcmp(((ticket *)v)->player_id, mb_session_player(s)) == 0) {
                found = v;
                break;
            }
        if (!found) break;
        remove_ticket(found, "disconnected", false);
    }
}

/* ------------------------------------------------------------- passes */

struct pass_ctx_fwd {
    mode_pool *p;
    int64_t now;
};
typedef pass_ctx_fwd pass_ctx;

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
    for (size_t i = 0; i < n; i++) ts[i] = mb_imap_get(&tickets, entries[i].owner);
    if (p->hook_ref != LUA_REFNIL && !run_hook(p, ts, n, teams)) {
        free(ts);
        return false;
    }
    if (cluster_enabled()) {
        bool ok = cl_group(c, ts, n, teams);
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
            send_removed(ts[i]->player_id, ts[i]->ticket_id, p->mode, "match_failed");
            ticket_forget(ts[i]);
        }
        json_decref(players);
        free(ts);
        return true;
    }
    for (size_t i = 0; i < n; i++) match_reserve(m, ts[i]->player_id, JOIN_TIMEOUT_MS);
    for (size_t i = 0; i < n; i++) {
        json_t *msg = json_pack("{s:s,s:s,s:O}", "match_id", match_id(m), "ticket_id", ts[i]->ticket_id,
                                "players", players);
        if (cluster_enabled()) { /* the match is on this node: docs/CLUSTER.md */
            json_object_set_new(msg, "node_id", json_string(cluster_node_id()));
            json_object_set_new(msg, "url", json_string(cluster_public_url()));
        }
        mb_player_send(ts[i]->player_id, "matchmaker.matched", msg);
        json_decref(msg);
        double wait = (double)(c->now - ts[i]->enqueued_ms);
        p->waits[p->recent_pos] = wait;
        p->spreads[p->recent_pos] = p->cfg.has_skill ? hi - lo : 0;
        p->recent_pos = (p->recent_pos + 1) % RECENT;
        if (p->n_recent < RECENT) p->n_recent++;
        ticket_forget(ts[i]);
    }
    p->formed++;
    *m_formed += 1;
    mb_info("matchmaker_matched", "mode=%s match=%s players=%zu spread=%.1f", p->mode, match_id(m), n,
            p->cfg.has_skill ? hi - lo : 0.0);
    json_decref(players);
    free(ts);
    return true;
}

static void on_expired(void *ud, const mm_entry *e)
{
    ticket *t = mb_imap_get(&tickets, e->owner);
    if (!t) return;
    *m_timeouts += 1;
    if (cluster_enabled()) {
        cl_expired(t);
        return;
    }
    send_removed(t->player_id, t->ticket_id, t->mode, "timeout");
    ticket_forget(t);
}

static void pass_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    int64_t now = mb_now_ms();
    for (size_t i = 0; i < n_pools; i++) {
        mode_pool *p = pools[i];
        if (!mm_pool_count(p->pool)) continue;
        if (cluster_enabled() && !cl_passes(p->mode)) continue; /* another node's passes */
        /* pick up a reloaded mode's new configuration */
        char err[256];
        bool no_mm;
        mode_pool *cur = pool_for(p->mode, err, sizeof err, &no_mm);
        if (!cur) continue;
        pass_ctx c = {cur, now};
        double t0 = cluster_enabled() ? mb_now_us() : 0;
        mm_pool_expire(cur->pool, now, on_expired, &c);
        mm_pool_pass(cur->pool, now, on_group, &c);
        if (cluster_enabled()) cl_pass_timed(cur->mode, (mb_now_us() - t0) / 1000.0);
    }
}

/* ================================================================
 * Cluster mode (docs/CLUSTER.md "Matchmaker"): one pool per mode for the
 * whole cluster.
 *
 * Redis:
 *   mb:mm:tickets:<mode>  hash ticket_id -> ticket JSON {ticket_id, node_id,
 *                         player_id, username, mode, properties, created_at}
 *   mb:mm:node:<node_id>  hash ticket_id -> mode: the tickets a node added
 *                         (cleanup when the node is lost)
 *   mb:mm:modes           set of the modes that ever had a ticket
 *   mb:mm:lease:<mode>    the pass owner's node id, SET NX PX 3000, renewed
 *                         every second with a compare-and-set
 * Bus topics: mm.add (a ticket), mm.del (tickets gone, maybe with a
 * matchmaker.removed to send), mm.matched (a group and its match),
 * mm.stats (the owner's figures, every second).
 *
 * Every node mirrors the cluster's tickets in memory (tickets, pools) from
 * the bus; the lease owner of a mode re-reads the hash when it takes the
 * lease and runs the passes of pool.c on its mirror. A group is claimed in
 * Redis (all its tickets still there, removed in one script), its match is
 * placed on the least loaded node (op mm.create: match_create + seats
 * reserved there), and mm.matched tells every node, which sends
 * matchmaker.matched to its own sockets of the players.
 * ================================================================ */
#define CL_LEASE_MS 3000
#define CL_CREATE_TIMEOUT_MS 3000
#define CL_TOMB_MS 30000

typedef struct cl_mode {
    char mode[72];
    bool owner, loading;
    bool taking; /* a SET NX for the lease is in flight */
    char owner_id[72];
    double pass_ms, matched_per_s, mean_wait_ms, mean_spread;
    uint64_t formed;
    uint64_t win_matched; /* owner: tickets matched since win_start */
    int64_t win_start;
} cl_mode;

static cl_mode **cl_modes;
static size_t n_cl_modes;
static mb_smap tombs;      /* ticket_id -> epoch ms it went away (no resurrection by a reload) */
static mb_smap gone_nodes; /* node ids that left */
static uint64_t mirror_seq;
static ev_timer lease_w;
static bool cl_on, cl_synced, cl_listing;
static int64_t cl_started_wall;
static json_t *cl_pending_del; /* tickets dropped while Redis was away: [{mode, ticket_id, node_id}] */

static const char LEASE_RENEW[] = "if redis.call('GET', KEYS[1]) == ARGV[1] then "
                                  "redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 else return 0 end";
/* KEYS[1] the mode's hash, KEYS[1+i] the node hash of ticket ARGV[i] */
static const char CLAIM[] = "for i = 1, #ARGV do if redis.call('HEXISTS', KEYS[1], ARGV[i]) == 0 then "
                            "return 0 end end "
                            "for i = 1, #ARGV do redis.call('HDEL', KEYS[1], ARGV[i]) "
                            "redis.call('HDEL', KEYS[i + 1], ARGV[i]) end return 1";

static cl_mode *cl_get(const char *mode)
{
    for (size_t i = 0; i < n_cl_modes; i++)
        if (strcmp(cl_modes[i]->mode, mode) == 0) return cl_modes[i];
    cl_mode *m = mb_calloc(1, sizeof *m);
    snprintf(m->mode, sizeof m->mode, "%s", mode);
    m->win_start = mb_now_ms();
    cl_modes = mb_realloc(cl_modes, (n_cl_modes + 1) * sizeof *cl_modes);
    cl_modes[n_cl_modes++] = m;
    return m;
}

static bool cl_passes(const char *mode)
{
    cl_mode *m = cl_get(mode);
    return m->owner && !m->loading && cluster_up();
}

static void cl_pass_timed(const char *mode, double ms) { cl_get(mode)->pass_ms = ms; }

static void lease_step(cl_mode *cm);

/* A ticket of a mode whose pass owner nobody knows yet: ask for the lease
 * now instead of at the next lease tick (up to a second later: the first
 * tickets of a fresh mode waited that long, the p99 tail of the
 * cluster-matchmaker bench). Only once the mirror is synced with Redis
 * (modes_done), so the reload on taking cannot miss this node's own tickets
 * after a Redis restart. */
static void lease_soon(const char *mode)
{
    cl_mode *cm = cl_get(mode);
    if (!cm->owner && !cm->taking && !cm->owner_id[0] && cl_synced && cluster_up()) lease_step(cm);
}

static void tomb(const char *ticket_id) { mb_smap_put(&tombs, ticket_id, (void *)(uintptr_t)mb_wall_ms()); }

/* Put a ticket (JSON as stored in Redis) into this node's mirror. NULL when
 * it is known already, went away meanwhile, or its mode has no pool. */
static ticket *mirror_add(json_t *tj)
{
    const char *tid = json_string_value(json_object_get(tj, "ticket_id"));
    const char *mode = json_string_value(json_object_get(tj, "mode"));
    const char *player = json_string_value(json_object_get(tj, "player_id"));
    const char *node = json_string_value(json_object_get(tj, "node_id"));
    json_t *props = json_object_get(tj, "properties");
    if (!tid || strlen(tid) >= 40 || !mode || !player || !node || !json_is_object(props)) return NULL;
    if (mb_smap_get(&tickets_by_str, tid) || mb_smap_get(&tombs, tid)) return NULL;
    char err[256];
    bool no_mm;
    mode_pool *p = pool_for(mode, err, sizeof err, &no_mm);
    if (!p) return NULL;
    ticket *t = mb_calloc(1, sizeof *t);
    t->id = next_id++;
    snprintf(t->ticket_id, sizeof t->ticket_id, "%s", tid);
    snprintf(t->player_id, sizeof t->player_id, "%s", player);
    const char *un = json_string_value(json_object_get(tj, "username"));
    snprintf(t->username, sizeof t->username, "%s", un ? un : "");
    snprintf(t->mode, sizeof t->mode, "%s", mode);
    snprintf(t->node_id, sizeof t->node_id, "%s", node);
    t->properties = json_incref(props);
    t->skill = p->cfg.has_skill ? num(props, p->skill_prop, 0) : 0;
    t->created_at = json_integer_value(json_object_get(tj, "created_at"));
    int64_t waited = mb_wall_ms() - t->created_at;
    t->enqueued_ms = mb_now_ms() - (waited > 0 ? waited : 0); /* the original wait, on this clock */
    t->seq = ++mirror_seq;
    mm_entry e = {t->id, t->id, t->skill, t->enqueued_ms, NULL};
    for (size_t i = 0; i < p->cfg.same_count; i++) {
        const char *v = json_string_value(json_object_get(props, p->cfg.same[i]));
        t->same_vals[i] = mb_strdup(v ? v : "");
        t->same_ptrs[i] = t->same_vals[i];
    }
    if (p->cfg.same_count) e.same = t->same_ptrs;
    if (mm_pool_add(p->pool, &e) != MB_OK) {
        ticket_free(t);
        return NULL;
    }
    mb_imap_put(&tickets, t->id, t);
    mb_smap_put(&tickets_by_str, t->ticket_id, t);
    lease_soon(mode);
    return t;
}

static void mirror_remove(ticket *t)
{
    mode_pool *p = find_pool(t->mode);
    if (p && !t->in_flight) mm_pool_remove(p->pool, t->id);
    tomb(t->ticket_id);
    ticket_forget(t);
}

static json_t *ticket_ref(const ticket *t)
{
    return json_pack("{s:s,s:s,s:s}", "ticket_id", t->ticket_id, "player_id", t->player_id, "node_id",
                     t->node_id);
}

static void redis_forget(const char *mode, const char *tid, const char *node)
{
    mb_redis_command(NULL, NULL, "HDEL mb:mm:tickets:%s %s", mode, tid);
    mb_redis_command(NULL, NULL, "HDEL mb:mm:node:%s %s", node, tid);
}

/* mm.del {mode, tickets: [{ticket_id, player_id}], reason, notify} */
static void bus_del(const char *from, json_t *d)
{
    const char *mode = json_string_value(json_object_get(d, "mode"));
    const char *reason = json_string_value(json_object_get(d, "reason"));
    bool notify = json_is_true(json_object_get(d, "notify"));
    size_t i;
    json_t *e;
    json_array_foreach (json_object_get(d, "tickets"), i, e) {
        const char *tid = json_string_value(json_object_get(e, "ticket_id"));
        const char *pl = json_string_value(json_object_get(e, "player_id"));
        if (!tid) continue;
        ticket *t = mb_smap_get(&tickets_by_str, tid);
        if (t) mirror_remove(t);
        else tomb(tid);
        if (notify && pl && mode) send_removed(pl, tid, mode, reason ? reason : "removed");
    }
}

/* Run a bus handler here and publish to the others. data stolen. */
static void cl_publish(const char *topic, void (*fn)(const char *, json_t *), json_t *data)
{
    fn(cluster_node_id(), data);
    cluster_broadcast(topic, data);
}

static void cl_drop(ticket **ts, size_t n, const char *reason, bool notify)
{
    if (!n) return;
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++) {
        if (cluster_up()) {
            redis_forget(ts[i]->mode, ts[i]->ticket_id, ts[i]->node_id);
        } else { /* told to Redis and the others when it is back */
            json_t *r = ticket_ref(ts[i]);
            json_object_set_new(r, "mode", json_string(ts[i]->mode));
            json_array_append_new(cl_pending_del, r);
        }
        json_array_append_new(list, ticket_ref(ts[i]));
    }
    json_t *d = json_pack("{s:s,s:o,s:s,s:b}", "mode", ts[0]->mode, "tickets", list, "reason", reason,
                          "notify", notify);
    cl_publish("mm.del", bus_del, d);
}

static void bus_add(const char *from, json_t *d) { mirror_add(d); }

static void cl_add(mb_session *s, const char *cid, mode_pool *p, json_t *props)
{
    if (!cluster_up()) {
        mb_session_error(s, cid, "matchmaker.add", MB_E_UNAVAILABLE,
                         "Redis is unreachable: the cluster's matchmaker takes no ticket now");
        return;
    }
    char tid[40];
    mb_uuid(tid);
    json_t *tj = json_pack("{s:s,s:s,s:s,s:s,s:s,s:O,s:I}", "ticket_id", tid, "node_id", cluster_node_id(),
                           "player_id", mb_session_player(s), "username", mb_session_username(s), "mode",
                           p->mode, "properties", props, "created_at", (json_int_t)mb_wall_ms());
    if (!mirror_add(tj)) {
        json_decref(tj);
        mb_session_error(s, cid, "matchmaker.add", MB_E_INTERNAL, "could not add the ticket");
        return;
    }
    char *text = json_dumps(tj, JSON_COMPACT);
    mb_redis_command(NULL, NULL, "HSET mb:mm:tickets:%s %s %s", p->mode, tid, text);
    mb_redis_command(NULL, NULL, "HSET mb:mm:node:%s %s %s", cluster_node_id(), tid, p->mode);
    mb_redis_command(NULL, NULL, "SADD mb:mm:modes %s", p->mode);
    free(text);
    cluster_broadcast("mm.add", tj); /* after the HSET on the same connection */
    *m_added += 1;
    mb_session_send(s, "matchmaker.ticket", cid, json_pack("{s:s,s:s}", "ticket_id", tid, "mode", p->mode));
}

typedef struct rm_ctx {
    uint64_t sid;
    char cid[72], tid[40];
    bool has_cid;
} rm_ctx;

/* The HDEL decides: a ticket claimed by a pass (or removed elsewhere)
 * meanwhile is not_found. */
static void rm_done(void *ud, const redisReply *r)
{
    rm_ctx *c = ud;
    mb_session *s = mb_session_get(c->sid);
    const char *cid = c->has_cid ? c->cid : NULL;
    ticket *t = mb_smap_get(&tickets_by_str, c->tid);
    if (!r || r->type != REDIS_REPLY_INTEGER) {
        if (s)
            mb_session_error(s, cid, "matchmaker.remove", MB_E_UNAVAILABLE,
                             "Redis is unreachable: try again");
    } else if (r->integer == 0) {
        if (t && !t->in_flight) mirror_remove(t); /* gone from Redis (claimed by a dead owner): forget it */
        if (s)
            mb_session_error(s, cid, "matchmaker.remove", MB_E_NOT_FOUND, "no ticket '%s' of yours", c->tid);
    } else {
        if (t) {
            t->in_flight = false;
            cl_drop(&t, 1, "removed", false);
        } else {
            cl_publish("mm.del", bus_del,
                       json_pack("{s:s,s:[{s:s}],s:s,s:b}", "mode", "", "tickets", "ticket_id", c->tid,
                                 "reason", "removed", "notify", false));
        }
        if (s)
            mb_session_send(s, "matchmaker.removed", cid,
                            json_pack("{s:s,s:s}", "ticket_id", c->tid, "reason", "removed"));
    }
    free(c);
}

static void cl_remove(mb_session *s, const char *cid, ticket *t)
{
    if (!cluster_up()) {
        mb_session_error(s, cid, "matchmaker.remove", MB_E_UNAVAILABLE, "Redis is unreachable: try again");
        return;
    }
    if (t->in_flight) { /* claimed by a pass: matched (or back) in a moment */
        mb_session_error(s, cid, "matchmaker.remove", MB_E_NOT_FOUND, "no ticket '%s' of yours",
                         t->ticket_id);
        return;
    }
    rm_ctx *c = mb_calloc(1, sizeof *c);
    c->sid = mb_session_id(s);
    if (cid) {
        c->has_cid = true;
        snprintf(c->cid, sizeof c->cid, "%s", cid);
    }
    snprintf(c->tid, sizeof c->tid, "%s", t->ticket_id);
    mb_redis_command(rm_done, c, "HDEL mb:mm:tickets:%s %s", t->mode, t->ticket_id);
}

/* This node's tickets of a player whose last socket here closed. */
static void cl_session_closed(const char *player_id)
{
    for (;;) {
        ticket *found = NULL;
        size_t it = 0;
        void *v;
        while (mb_imap_next(&tickets, &it, NULL, &v)) {
            ticket *t = v;
            if (!t->in_flight && strcmp(t->player_id, player_id) == 0 &&
                strcmp(t->node_id, cluster_node_id()) == 0) {
                found = t;
                break;
            }
        }
        if (!found) break;
        cl_drop(&found, 1, "disconnected", false);
    }
}

/* Called from mm_pool_expire's callback: the ticket is out of the pool. */
static void cl_expired(ticket *t)
{
    t->in_flight = true;
    cl_drop(&t, 1, "timeout", true);
}

/* ---------------------------------------------------------- groups */
typedef struct cl_grp {
    char mode[72];
    json_t *entries; /* [{ticket_id, player_id, node_id}] */
    json_t *params, *players;
    double spread;
} cl_grp;

static void grp_free(cl_grp *g)
{
    json_decref(g->entries);
    json_decref(g->params);
    json_decref(g->players);
    free(g);
}

/* mm.matched {mode, match_id, node_id, url, players, tickets} */
static void bus_matched(const char *from, json_t *d)
{
    const char *mode = json_string_value(json_object_get(d, "mode"));
    size_t i;
    json_t *e;
    json_array_foreach (json_object_get(d, "tickets"), i, e) {
        const char *tid = json_string_value(json_object_get(e, "ticket_id"));
        const char *pl = json_string_value(json_object_get(e, "player_id"));
        if (!tid || !pl) continue;
        ticket *t = mb_smap_get(&tickets_by_str, tid);
        if (t) mirror_remove(t);
        else tomb(tid);
        json_t *msg = json_pack("{s:O,s:s,s:O,s:O,s:O}", "match_id", json_object_get(d, "match_id"),
                                "ticket_id", tid, "players", json_object_get(d, "players"), "node_id",
                                json_object_get(d, "node_id"), "url", json_object_get(d, "url"));
        if (msg) mb_player_send(pl, "matchmaker.matched", msg);
        json_decref(msg);
    }
    (void)mode;
}

static void grp_release(cl_grp *g)
{
    size_t i;
    json_t *e;
    json_array_foreach (g->entries, i, e) {
        ticket *t = mb_smap_get(&tickets_by_str, json_string_value(json_object_get(e, "ticket_id")));
        if (!t || !t->in_flight) continue;
        t->in_flight = false;
        mode_pool *p = find_pool(t->mode);
        mm_entry me = {t->id, t->id, t->skill, t->enqueued_ms, p && p->cfg.same_count ? t->same_ptrs : NULL};
        if (!p || mm_pool_add(p->pool, &me) != MB_OK) mirror_remove(t);
    }
}

static void create_done(void *ud, json_t *result, mb_errcode code, const char *message)
{
    cl_grp *g = ud;
    if (!cl_on) { /* the cluster module ends its pending calls after this module is gone */
        grp_free(g);
        return;
    }
    const char *mid = json_string_value(json_object_get(result, "match_id"));
    if (!mid) {
        const char *why = json_string_value(json_object_get(result, "error"));
        mb_error("matchmaker_match_failed", "mode=%s error=\"%s\"", g->mode,
                 why       ? why
                 : message ? message
                           : "?");
        cl_publish("mm.del", bus_del,
                   json_pack("{s:s,s:O,s:s,s:b}", "mode", g->mode, "tickets", g->entries, "reason",
                             "match_failed", "notify", true));
        grp_free(g);
        return;
    }
    mode_pool *p = find_pool(g->mode);
    cl_mode *cm = cl_get(g->mode);
    size_t n = json_array_size(g->entries);
    int64_t wall = mb_wall_ms();
    if (p) {
        for (size_t i = 0; i < n; i++) {
            ticket *t =
                mb_smap_get(&tickets_by_str,
                            json_string_value(json_object_get(json_array_get(g->entries, i), "ticket_id")));
            p->waits[p->recent_pos] = t ? (double)(wall - t->created_at) : 0;
            p->spreads[p->recent_pos] = g->spread;
            p->recent_pos = (p->recent_pos + 1) % RECENT;
            if (p->n_recent < RECENT) p->n_recent++;
        }
        p->formed++;
    }
    cm->win_matched += n;
    *m_formed += 1;
    /* the hosting node has published mm.matched (one hop less than from here) */
    mb_info("matchmaker_matched", "mode=%s match=%s node=%s players=%zu spread=%.1f", g->mode, mid,
            json_string_value(json_object_get(result, "node_id")), n, g->spread);
    grp_free(g);
}

static void claim_done(void *ud, const redisReply *r)
{
    cl_grp *g = ud;
    if (!r || r->type != REDIS_REPLY_INTEGER || r->integer != 1) {
        if (r && r->type == REDIS_REPLY_ERROR) mb_error("matchmaker_claim_failed", "error=\"%s\"", r->str);
        grp_release(g); /* a ticket went away meanwhile: the others wait on */
        grp_free(g);
        return;
    }
    const cluster_node *n = cluster_pick_node();
    json_t *reserve = json_array();
    size_t i;
    json_t *e;
    json_array_foreach (g->entries, i, e) {
        json_array_append(reserve, json_object_get(e, "player_id"));
    }
    cluster_call(n->node_id, "mm.create",
                 json_pack("{s:s,s:O,s:o,s:O}", "mode", g->mode, "params", g->params, "reserve", reserve,
                           "tickets", g->entries),
                 CL_CREATE_TIMEOUT_MS, create_done, g);
}

/* The owner's pass formed a group (hook accepted): claim it in Redis, then
 * place its match. */
static bool cl_group(pass_ctx_fwd *c, ticket **ts, size_t n, int *teams)
{
    mode_pool *p = c->p;
    cl_grp *g = mb_calloc(1, sizeof *g);
    snprintf(g->mode, sizeof g->mode, "%s", p->mode);
    g->entries = json_array();
    g->players = json_array();
    json_t *props = json_object(), *team_lists = json_array();
    for (int k = 0; k < p->cfg.teams; k++) json_array_append_new(team_lists, json_array());
    double lo = INFINITY, hi = -INFINITY;
    const char **argv = mb_malloc((4 + 2 * n) * sizeof *argv);
    char **keys = mb_malloc((n + 1) * sizeof *keys);
    char nk[32];
    snprintf(nk, sizeof nk, "%zu", n + 1);
    argv[0] = "EVAL";
    argv[1] = CLAIM;
    argv[2] = nk;
    keys[0] = mb_sprintf("mb:mm:tickets:%s", p->mode);
    argv[3] = keys[0];
    for (size_t i = 0; i < n; i++) {
        ticket *t = ts[i];
        t->in_flight = true;
        json_array_append_new(g->entries, ticket_ref(t));
        json_t *pl = json_pack("{s:s,s:s,s:O}", "player_id", t->player_id, "username", t->username,
                               "properties", t->properties);
        json_object_set_new(pl, "team", teams ? json_integer(teams[i] + 1) : json_null());
        json_array_append_new(g->players, pl);
        json_object_set(props, t->player_id, t->properties);
        if (teams)
            json_array_append_new(json_array_get(team_lists, (size_t)teams[i]), json_string(t->player_id));
        if (t->skill < lo) lo = t->skill;
        if (t->skill > hi) hi = t->skill;
        keys[i + 1] = mb_sprintf("mb:mm:node:%s", t->node_id);
        argv[4 + i] = keys[i + 1];
        argv[4 + n + i] = t->ticket_id;
    }
    g->spread = p->cfg.has_skill ? hi - lo : 0;
    g->params = json_pack("{s:O,s:o,s:o}", "players", g->players, "teams", team_lists, "properties", props);
    mb_redis_command_argv(claim_done, g, (int)(4 + 2 * n), argv, NULL);
    for (size_t i = 0; i <= n; i++) free(keys[i]);
    free(keys);
    free(argv);
    return true;
}

/* op mm.create {mode, params, reserve: [player ids], tickets} on the node
 * chosen to host the match: creates it, reserves the seats, publishes
 * mm.matched (every node tells its sockets) -> {match_id, node_id, url} |
 * {error} */
static void op_create(cluster_req *req, const char *from, json_t *args)
{
    const char *mode = json_string_value(json_object_get(args, "mode"));
    mb_errcode code;
    char err[512] = "";
    match *m = mode ? match_create(mode, json_object_get(args, "params"), &code, err, sizeof err) : NULL;
    if (!m) {
        cluster_respond(req, json_pack("{s:s}", "error", *err ? err : "bad request"));
        return;
    }
    size_t i;
    json_t *pl;
    json_array_foreach (json_object_get(args, "reserve"), i, pl) {
        if (json_is_string(pl)) match_reserve(m, json_string_value(pl), JOIN_TIMEOUT_MS);
    }
    cl_publish("mm.matched", bus_matched,
               json_pack("{s:s,s:s,s:s,s:s,s:O,s:O}", "mode", mode, "match_id", match_id(m), "node_id",
                         cluster_node_id(), "url", cluster_public_url(), "players",
                         json_object_get(json_object_get(args, "params"), "players"), "tickets",
                         json_object_get(args, "tickets")));
    cluster_respond(req, json_pack("{s:s,s:s,s:s}", "match_id", match_id(m), "node_id", cluster_node_id(),
                                   "url", cluster_public_url()));
}

/* ---------------------------------------------------------- reload */
typedef struct reload_ctx {
    char mode[72];
    uint64_t seq;
    int64_t t0_us;
} reload_ctx;

/* A node this one saw leave (and not back). Tickets of a node that died
 * before this one started are removed by the node-lost cleanup (which
 * publishes mm.del), not guessed from a node list that may be a heartbeat
 * old. */
static bool node_dead(const char *node, int64_t created_at)
{
    (void)created_at;
    return !cluster_node_find(node) && mb_smap_get(&gone_nodes, node);
}

static void reload_done(void *ud, const redisReply *r)
{
    reload_ctx *c = ud;
    cl_mode *cm = cl_get(c->mode);
    cm->loading = false;
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        free(c);
        return;
    }
    mb_smap present;
    mb_smap_init(&present);
    int64_t t_reply = mb_now_us();
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        if (r->element[i]->type != REDIS_REPLY_STRING || r->element[i + 1]->type != REDIS_REPLY_STRING)
            continue;
        json_t *tj = json_loads(r->element[i + 1]->str, 0, NULL);
        const char *node = json_string_value(json_object_get(tj, "node_id"));
        if (!node || node_dead(node, json_integer_value(json_object_get(tj, "created_at")))) {
            if (node) redis_forget(c->mode, r->element[i]->str, node);
        } else {
            mb_smap_put(&present, r->element[i]->str, (void *)1);
            mirror_add(tj);
        }
        json_decref(tj);
    }
    /* mirrored before the read and no longer in Redis: gone */
    ticket **stale = NULL;
    size_t n = 0, it = 0;
    void *v;
    while (mb_imap_next(&tickets, &it, NULL, &v)) {
        ticket *t = v;
        if (strcmp(t->mode, c->mode) == 0 && t->seq <= c->seq && !t->in_flight &&
            !mb_smap_get(&present, t->ticket_id)) {
            stale = mb_realloc(stale, (n + 1) * sizeof *stale);
            stale[n++] = t;
        }
    }
    for (size_t i = 0; i < n;
         i++) { /* no tombstone: a node putting it back after a Redis restart re-announces it */
        mode_pool *p = find_pool(stale[i]->mode);
        if (p) mm_pool_remove(p->pool, stale[i]->id);
        ticket_forget(stale[i]);
    }
    free(stale);
    mb_smap_free(&present);
    mb_info("matchmaker_pool_read", "mode=%s tickets=%zu stale=%zu owner=%d wait_ms=%.1f load_ms=%.1f",
            c->mode, r->elements / 2, n, cm->owner, (double)(t_reply - c->t0_us) / 1000.0,
            (double)(mb_now_us() - t_reply) / 1000.0);
    free(c);
}

static void reload(const char *mode)
{
    reload_ctx *c = mb_calloc(1, sizeof *c);
    snprintf(c->mode, sizeof c->mode, "%s", mode);
    c->seq = mirror_seq;
    c->t0_us = mb_now_us();
    cl_get(mode)->loading = true;
    mb_redis_command(reload_done, c, "HGETALL mb:mm:tickets:%s", mode);
}

/* ----------------------------------------------------------- lease */
static void stats_publish(cl_mode *cm)
{
    int64_t now = mb_now_ms();
    double secs = (double)(now - cm->win_start) / 1000.0;
    if (secs >= 1.0) {
        cm->matched_per_s = (double)cm->win_matched / secs;
        cm->win_matched = 0;
        cm->win_start = now;
    }
    mode_pool *p = find_pool(cm->mode);
    double wsum = 0, ssum = 0;
    size_t nr = p ? p->n_recent : 0;
    for (size_t k = 0; k < nr; k++) {
        wsum += p->waits[k];
        ssum += p->spreads[k];
    }
    cluster_broadcast("mm.stats",
                      json_pack("{s:s,s:f,s:f,s:I,s:f,s:f}", "mode", cm->mode, "pass_ms", cm->pass_ms,
                                "matched_per_s", cm->matched_per_s, "formed", (json_int_t)(p ? p->formed : 0),
                                "mean_wait_ms", nr ? wsum / (double)nr : 0.0, "mean_spread",
                                nr ? ssum / (double)nr : 0.0));
}

static void bus_stats(const char *from, json_t *d)
{
    const char *mode = json_string_value(json_object_get(d, "mode"));
    if (!mode) return;
    cl_mode *cm = cl_get(mode);
    if (cm->owner) return;
    snprintf(cm->owner_id, sizeof cm->owner_id, "%s", from);
    cm->pass_ms = num(d, "pass_ms", 0);
    cm->matched_per_s = num(d, "matched_per_s", 0);
    cm->formed = (uint64_t)num(d, "formed", 0);
    cm->mean_wait_ms = num(d, "mean_wait_ms", 0);
    cm->mean_spread = num(d, "mean_spread", 0);
}

static void renew_done(void *ud, const redisReply *r)
{
    cl_mode *cm = ud;
    if (r && r->type == REDIS_REPLY_INTEGER && r->integer == 1) {
        stats_publish(cm);
        return;
    }
    if (cm->owner) mb_warn("matchmaker_lease_lost", "mode=%s", cm->mode);
    cm->owner = false; /* another node has it, or Redis is away: stop passing */
    cm->owner_id[0] = '\0';
}

static void take_done(void *ud, const redisReply *r)
{
    cl_mode *cm = ud;
    cm->taking = false;
    if (!r) return;
    if (r->type == REDIS_REPLY_NIL ||
        (r->type == REDIS_REPLY_STRING && strcmp(r->str, cluster_node_id()) == 0)) {
        if (!cm->owner) mb_info("matchmaker_lease_taken", "mode=%s", cm->mode);
        cm->owner = true;
        snprintf(cm->owner_id, sizeof cm->owner_id, "%s", cluster_node_id());
        cm->win_start = mb_now_ms();
        cm->win_matched = 0;
        reload(cm->mode); /* the hash is the truth: our mirror may have missed messages */
    } else if (r->type == REDIS_REPLY_STRING) {
        snprintf(cm->owner_id, sizeof cm->owner_id, "%s", r->str);
    } else if (r->type == REDIS_REPLY_ERROR) {
        mb_error("matchmaker_lease_failed", "mode=%s error=\"%s\"", cm->mode, r->str);
    }
}

static void lease_step(cl_mode *cm)
{
    char ms[16];
    snprintf(ms, sizeof ms, "%d", CL_LEASE_MS);
    if (cm->owner) {
        char *key = mb_sprintf("mb:mm:lease:%s", cm->mode);
        const char *argv[] = {"EVAL", LEASE_RENEW, "1", key, cluster_node_id(), ms};
        mb_redis_command_argv(renew_done, cm, 6, argv, NULL);
        free(key);
    } else {
        if (cm->taking) return;
        cm->taking = true;
        mb_redis_command(take_done, cm, "SET mb:mm:lease:%s %s NX PX %d GET", cm->mode, cluster_node_id(),
                         CL_LEASE_MS);
    }
}

static void modes_done(void *ud, const redisReply *r)
{
    cl_listing = false;
    if (!r || r->type != REDIS_REPLY_ARRAY) return;
    bool resync = !cl_synced;
    cl_synced = true;
    if (resync) {
        /* (re)connected: what was dropped meanwhile goes; our own waiting tickets are put back
         * (Redis may have restarted empty) before any reload reads the pools */
        size_t i;
        json_t *e;
        json_array_foreach (cl_pending_del, i, e) {
            const char *mode = json_string_value(json_object_get(e, "mode"));
            const char *tid = json_string_value(json_object_get(e, "ticket_id"));
            redis_forget(mode, tid, json_string_value(json_object_get(e, "node_id")));
            cluster_broadcast("mm.del", json_pack("{s:s,s:[O],s:s,s:b}", "mode", mode, "tickets", e, "reason",
                                                  "disconnected", "notify", false));
        }
        json_array_clear(cl_pending_del);
        size_t it = 0;
        void *v;
        while (mb_imap_next(&tickets, &it, NULL, &v)) {
            ticket *t = v;
            if (strcmp(t->node_id, cluster_node_id()) != 0) continue;
            json_t *tj =
                json_pack("{s:s,s:s,s:s,s:s,s:s,s:O,s:I}", "ticket_id", t->ticket_id, "node_id", t->node_id,
                          "player_id", t->player_id, "username", t->username, "mode", t->mode, "properties",
                          t->properties, "created_at", (json_int_t)t->created_at);
            char *text = json_dumps(tj, JSON_COMPACT);
            mb_redis_command(NULL, NULL, "HSET mb:mm:tickets:%s %s %s", t->mode, t->ticket_id, text);
            mb_redis_command(NULL, NULL, "HSET mb:mm:node:%s %s %s", t->node_id, t->ticket_id, t->mode);
            mb_redis_command(NULL, NULL, "SADD mb:mm:modes %s", t->mode);
            free(text);
            cluster_broadcast("mm.add", tj);
        }
    }
    for (size_t i = 0; i < r->elements; i++) {
        if (r->element[i]->type != REDIS_REPLY_STRING) continue;
        char err[256];
        bool no_mm;
        if (!pool_for(r->element[i]->str, err, sizeof err, &no_mm)) continue;
        cl_mode *cm = cl_get(r->element[i]->str);
        if (resync && !cm->owner) reload(cm->mode); /* (re)joined: catch up with the pool */
        lease_step(cm);
    }
}

static void purge_tombs(void)
{
    int64_t old = mb_wall_ms() - CL_TOMB_MS;
    size_t n = 0, cap = 0, it = 0;
    char **dead = NULL;
    const char *k;
    void *v;
    while (mb_smap_next(&tombs, &it, &k, &v)) {
        if ((int64_t)(uintptr_t)v >= old) continue;
        if (n == cap) dead = mb_realloc(dead, (cap = cap ? 2 * cap : 64) * sizeof *dead);
        dead[n++] = mb_strdup(k);
    }
    for (size_t i = 0; i < n; i++) {
        mb_smap_del(&tombs, dead[i]);
        free(dead[i]);
    }
    free(dead);
}

static void lease_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    purge_tombs();
    static uint64_t seen_reconnects;
    if (!cluster_up() || mb_redis_reconnects() != seen_reconnects) { /* lost Redis, even briefly */
        seen_reconnects = mb_redis_reconnects();
        cl_synced = false;
        for (size_t i = 0; i < n_cl_modes; i++) cl_modes[i]->owner = false; /* the lease runs out meanwhile */
        if (!cluster_up()) return;
    }
    if (cl_listing) return;
    cl_listing = true;
    mb_redis_command(modes_done, NULL, "SMEMBERS mb:mm:modes");
}

/* ------------------------------------------------------- node loss */
/* Every node: a node left; its tickets go from the mirror (their players
 * left with its sockets), and from Redis where we own the mode. */
static void cl_node_gone(const char *node)
{
    mb_smap_put(&gone_nodes, node, (void *)1);
    ticket **list = NULL;
    size_t n = 0, it = 0;
    void *v;
    while (mb_imap_next(&tickets, &it, NULL, &v)) {
        ticket *t = v;
        if (strcmp(t->node_id, node) != 0 || t->in_flight) continue;
        list = mb_realloc(list, (n + 1) * sizeof *list);
        list[n++] = t;
    }
    for (size_t i = 0; i < n; i++) {
        if (cl_get(list[i]->mode)->owner && cluster_up())
            redis_forget(list[i]->mode, list[i]->ticket_id, node);
        mirror_remove(list[i]);
    }
    free(list);
    if (n) mb_info("matchmaker_node_tickets_dropped", "node=%s tickets=%zu", node, n);
}

typedef struct lost_ctx {
    char node[72];
} lost_ctx;

static void lost_tickets_done(void *ud, const redisReply *r)
{
    lost_ctx *c = ud;
    bool self = strcmp(c->node, cluster_node_id()) == 0;
    size_t dropped = 0;
    if (r && r->type == REDIS_REPLY_ARRAY)
        for (size_t i = 0; i + 1 < r->elements; i += 2) {
            const char *tid = r->element[i]->str, *mode = r->element[i + 1]->str;
            if (r->element[i]->type != REDIS_REPLY_STRING || r->element[i + 1]->type != REDIS_REPLY_STRING)
                continue;
            ticket *mine = self ? mb_smap_get(&tickets_by_str, tid) : NULL;
            if (mine && mine->created_at >= cl_started_wall) continue; /* a ticket of this run */
            redis_forget(mode, tid, c->node);
            cl_publish("mm.del", bus_del,
                       json_pack("{s:s,s:[{s:s}],s:s,s:b}", "mode", mode, "tickets", "ticket_id", tid,
                                 "reason", "node_lost", "notify", false));
            dropped++;
        }
    if (dropped) mb_info("matchmaker_lost_tickets", "node=%s tickets=%zu", c->node, dropped);
    free(c);
}

static void cl_node_lost(const char *node, json_t *match_ids)
{
    (void)match_ids;
    lost_ctx *c = mb_calloc(1, sizeof *c);
    snprintf(c->node, sizeof c->node, "%s", node);
    mb_redis_command(lost_tickets_done, c, "HGETALL mb:mm:node:%s", node);
}

static void cl_init(void)
{
    cl_on = true;
    cl_started_wall = mb_wall_ms();
    cl_pending_del = json_array();
    mb_smap_init(&tombs);
    mb_smap_init(&gone_nodes);
    cluster_on("mm.create", op_create);
    cluster_on_bus("mm.add", bus_add);
    cluster_on_bus("mm.del", bus_del);
    cluster_on_bus("mm.matched", bus_matched);
    cluster_on_bus("mm.stats", bus_stats);
    cluster_on_node_gone(cl_node_gone);
    cluster_on_node_lost(cl_node_lost);
    ev_timer_init(&lease_w, lease_cb, 0.2, 1.0);
    ev_timer_start(mb_loop(), &lease_w);
}

static void cl_destroy(void)
{
    ev_timer_stop(mb_loop(), &lease_w);
    for (size_t i = 0; i < n_cl_modes; i++) free(cl_modes[i]);
    free(cl_modes);
    cl_modes = NULL;
    n_cl_modes = 0;
    mb_smap_free(&tombs);
    mb_smap_free(&gone_nodes);
    json_decref(cl_pending_del);
    cl_pending_del = NULL;
    cl_on = cl_synced = cl_listing = false;
    mirror_seq = 0;
}

/* -------------------------------------------------------------- stats */

static json_t *stats_json(void)
{
    json_t *modes = json_object();
    int64_t now = mb_now_ms();
    for (size_t i = 0; i < n_pools; i++) {
        mode_pool *p = pools[i];
        double wsum = 0, ssum = 0;
        for (size_t k = 0; k < p->n_recent; k++) {
            wsum += p->waits[k];
            ssum += p->spreads[k];
        }
        json_t *m =
            json_pack("{s:I,s:I,s:I,s:f,s:f}", "tickets", (json_int_t)mm_pool_count(p->pool),
                      "oldest_wait_ms", (json_int_t)mm_pool_oldest_wait_ms(p->pool, now), "matches_formed",
                      (json_int_t)p->formed, "mean_wait_ms", p->n_recent ? wsum / (double)p->n_recent : 0.0,
                      "mean_skill_spread", p->n_recent ? ssum / (double)p->n_recent : 0.0);
        if (cluster_enabled()) { /* the cluster's pool, as mirrored here; figures of its pass owner */
            cl_mode *cm = cl_get(p->mode);
            json_object_set_new(m, "pass_owner", *cm->owner_id ? json_string(cm->owner_id) : json_null());
            json_object_set_new(m, "pass_ms", json_real(cm->pass_ms));
            json_object_set_new(m, "matched_per_s", json_real(cm->matched_per_s));
            if (!cm->owner) {
                json_object_set_new(m, "matches_formed", json_integer((json_int_t)cm->formed));
                json_object_set_new(m, "mean_wait_ms", json_real(cm->mean_wait_ms));
                json_object_set_new(m, "mean_skill_spread", json_real(cm->mean_spread));
            }
        }
        json_object_set_new(modes, p->mode, m);
    }
    json_t *out = json_pack("{s:o,s:I}", "modes", modes, "tickets", (json_int_t)tickets.count);
    if (cluster_enabled()) json_object_set_new(out, "node_id", json_string(cluster_node_id()));
    return out;
}

static void route_stats(mb_http_req *r) { mb_http_respond(r, 200, stats_json()); }

static char *metrics(void)
{
    char *out = mb_strdup("# HELP moonbase_matchmaker_tickets waiting tickets by mode\n"
                          "# TYPE moonbase_matchmaker_tickets gauge\n");
    int64_t now = mb_now_ms();
    for (size_t i = 0; i < n_pools; i++) {
        char *n = mb_sprintf("%smoonbase_matchmaker_tickets{mode=\"%s\"} %zu\n"
                             "moonbase_matchmaker_oldest_wait_seconds{mode=\"%s\"} %.3f\n"
                             "moonbase_matchmaker_matches_formed{mode=\"%s\"} %llu\n",
                             out, pools[i]->mode, mm_pool_count(pools[i]->pool), pools[i]->mode,
                             (double)mm_pool_oldest_wait_ms(pools[i]->pool, now) / 1000.0, pools[i]->mode,
                             (unsigned long long)pools[i]->formed);
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
    mb_imap_init(&tickets);
    mb_smap_init(&tickets_by_str);
    mb_metric_table_imap("matchmaker_tickets", &tickets);
    mb_metric_table_smap("matchmaker_ticket_ids", &tickets_by_str);
    m_formed =
        mb_metric("moonbase_matchmaker_matches_total", "", MB_COUNTER, "matches formed by the matchmaker");
    m_added = mb_metric("moonbase_matchmaker_tickets_added_total", "", MB_COUNTER, "tickets submitted");
    m_timeouts = mb_metric("moonbase_matchmaker_timeouts_total", "", MB_COUNTER, "tickets that timed out");
    double iv = interval_ms / 1000.0;
    ev_timer_init(&pass_w, pass_cb, iv, iv);
    ev_timer_start(mb_loop(), &pass_w);
    if (cluster_enabled()) cl_init();
    return MB_OK;
}

static void mm_destroy(void)
{
    ev_timer_stop(mb_loop(), &pass_w);
    if (cl_on) cl_destroy();
    size_t it = 0;
    void *v;
    while (mb_imap_next(&tickets, &it, NULL, &v)) ticket_free(v);
    mb_imap_free(&tickets);
    mb_smap_free(&tickets_by_str);
    for (size_t i = 0; i < n_pools; i++) pool_free(pools[i]);
    free(pools);
    pools = NULL;
    n_pools = 0;
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
