/*
 * admin.c - admin JSON routes for the console (all require the admin
 * token): overview, players (search, sessions, kick). Match, script and
 * matchmaker admin routes live with their modules.
 *
 *   GET  /v1/admin/overview
 *   GET  /v1/admin/players?q=<username prefix or player id>&limit=
 *   GET  /v1/admin/players/{id}          sessions of one player
 *   POST /v1/admin/players/{id}/kick     close every socket of the player
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "match.h"
#include "server.h"

static int64_t started_at;
static double last_in, last_out;
static int64_t last_sample_ms;
static double rate_in, rate_out;

/* Sum the labelled message counters from the metrics text. */
static void sample_rates(void)
{
    char *text = mb_metrics_render();
    double in = 0, out = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (!strncmp(line, "moonbase_messages_in_total{", 27)) in += atof(strrchr(line, ' ') + 1);
        else if (!strncmp(line, "moonbase_messages_out_total{", 28)) out += atof(strrchr(line, ' ') + 1);
    }
    free(text);
    int64_t now = mb_now_ms();
    if (last_sample_ms && now > last_sample_ms) {
        double dt = (double)(now - last_sample_ms) / 1000.0;
        rate_in = (in - last_in) / dt;
        rate_out = (out - last_out) / dt;
    }
    last_in = in;
    last_out = out;
    last_sample_ms = now;
}

static ev_timer sample_w;
static void sample_cb(struct ev_loop *l, ev_timer *w, int revents) { sample_rates(); }

static void route_overview(mb_http_req *r)
{
    const mb_db_stats *db = mb_db_get_stats();
    size_t players = 0, it = 0;
    mb_session *s;
    while (mb_session_next(&it, &s)) players += mb_session_authed(s);
    json_t *modes = json_object();
    it = 0;
    match *m;
    size_t live = 0;
    while (match_next(&it, &m)) {
        if (match_is_over(m)) continue;
        live++;
        json_t *c = json_object_get(modes, match_mode(m));
        json_object_set_new(modes, match_mode(m), json_integer(c ? json_integer_value(c) + 1 : 1));
    }
    mb_http_respond(r, 200,
                    json_pack("{s:I,s:I,s:I,s:I,s:o,s:f,s:f,s:{s:b,s:i,s:i,s:i,s:I,s:I}}", "uptime_s",
                              (json_int_t)((mb_now_ms() - started_at) / 1000), "sessions",
                              (json_int_t)mb_session_count(), "authenticated_sessions", (json_int_t)players,
                              "matches", (json_int_t)live, "matches_by_mode", modes, "messages_in_per_s",
                              rate_in, "messages_out_per_s", rate_out, "database", "up", mb_db_available(),
                              "pool_size", db->pool_size, "connected", db->connected, "busy", db->busy,
                              "queued", (json_int_t)db->queued, "durable_pending",
                              (json_int_t)mb_db_durable_pending()));
}

typedef struct player_row {
    json_t *sessions;
} player_row;

static void add_session(mb_session *s, void *ud)
{
    json_array_append_new((json_t *)ud, json_pack("{s:I}", "session_id", (json_int_t)mb_session_id(s)));
}

static void route_players(mb_http_req *r)
{
    const char *q = mb_http_query(r, "q");
    const char *lim = mb_http_query(r, "limit");
    int limit = lim ? atoi(lim) : 50;
    if (limit < 1 || limit > 500) limit = 50;
    /* online players first, from memory */
    json_t *arr = json_array();
    json_t *seen = json_object();
    size_t it = 0;
    mb_session *s;
    while (mb_session_next(&it, &s) && (int)json_array_size(arr) < limit) {
        if (!mb_session_authed(s)) continue;
        const char *pid = mb_session_player(s), *usn = mb_session_username(s);
        if (q && *q && strncmp(usn, q, strlen(q)) != 0 && strcmp(pid, q) != 0) continue;
        json_t *row = json_object_get(seen, pid);
        if (!row) {
            row = json_pack("{s:s,s:s,s:b,s:[]}", "player_id", pid, "username", usn, "online", 1, "sessions");
            json_object_set_new(seen, pid, row);
            json_array_append(arr, row);
        }
        json_array_append_new(json_object_get(row, "sessions"),
                              json_pack("{s:I}", "session_id", (json_int_t)mb_session_id(s)));
    }
    json_decref(seen);
    mb_http_respond(r, 200, json_pack("{s:o}", "players", arr));
}

typedef struct find_ctx {
    mb_http_req *r;
    char id[64];
} find_ctx;

static void player_done(void *ud, const mb_db_result *res)
{
    find_ctx *c = ud;
    json_t *sessions = json_array();
    mb_player_each_session(c->id, add_session, sessions);
    if (!res->ok || PQntuples(res->res) == 0) {
        if (!res->ok && res->code == MB_E_UNAVAILABLE && json_array_size(sessions)) {
            mb_http_respond(
                c->r, 200, json_pack("{s:s,s:o,s:b}", "player_id", c->id, "sessions", sessions, "online", 1));
        } else {
            json_decref(sessions);
            if (!res->ok)
                mb_http_error(c->r, res->code == MB_E_UNAVAILABLE ? MB_E_UNAVAILABLE : MB_E_INTERNAL,
                              "lookup failed");
            else mb_http_error(c->r, MB_E_NOT_FOUND, "no player '%s'", c->id);
        }
        free(c);
        return;
    }
    mb_http_respond(c->r, 200,
                    json_pack("{s:s,s:s,s:s,s:o,s:b}", "player_id", PQgetvalue(res->res, 0, 0), "username",
                              PQgetvalue(res->res, 0, 1), "created_at", PQgetvalue(res->res, 0, 2),
                              "sessions", sessions, "online", json_array_size(sessions) > 0));
    free(c);
}

static void route_player(mb_http_req *r)
{
    const char *id = mb_http_param(r, 0);
    if (!mb_uuid_valid(id)) {
        mb_http_error(r, MB_E_NOT_FOUND, "no player '%s'", id);
        return;
    }
    find_ctx *c = mb_calloc(1, sizeof *c);
    c->r = r;
    snprintf(c->id, sizeof c->id, "%s", id);
    const char *p[] = {id};
    mb_db_query("SELECT id, username, created_at::text FROM accounts WHERE id = $1::uuid", 1, p, player_done,
                c);
}

static void kick_one(mb_session *s, void *ud)
{
    mb_session_close(s, 4001, "kicked by an administrator");
    (*(int *)ud)++;
}

static void route_kick(mb_http_req *r)
{
    int n = 0;
    mb_player_each_session(mb_http_param(r, 0), kick_one, &n);
    mb_info("admin_kick", "player=%s sockets=%d", mb_http_param(r, 0), n);
    json_t *out = json_pack("{s:s,s:i}", "player_id", mb_http_param(r, 0), "closed_sockets", n);
    /* cluster: the other nodes close theirs (closed_sockets counts this node's) */
    if (cluster_enabled())
        json_object_set_new(
            out, "other_nodes_told",
            json_boolean(cluster_broadcast("kick", json_pack("{s:s}", "player_id", mb_http_param(r, 0)))));
    mb_http_respond(r, 200, out);
}

static void remote_kick(const char *from, json_t *d)
{
    const char *pid = json_string_value(json_object_get(d, "player_id"));
    int n = 0;
    if (pid) mb_player_each_session(pid, kick_one, &n);
    if (n) mb_info("admin_kick", "player=%s sockets=%d from_node=%s", pid, n, from);
}

static const mb_route routes[] = {
    {"GET", "/v1/admin/overview", route_overview, MB_AUTH_ADMIN, false},
    {"GET", "/v1/admin/players", route_players, MB_AUTH_ADMIN, false},
    {"GET", "/v1/admin/players/{id}", route_player, MB_AUTH_ADMIN, false},
    {"POST", "/v1/admin/players/{id}/kick", route_kick, MB_AUTH_ADMIN, false},
};

static mb_status admin_init(void)
{
    if (cluster_enabled()) cluster_on_bus("kick", remote_kick);
    started_at = mb_now_ms();
    ev_timer_init(&sample_w, sample_cb, 1.0, 1.0);
    ev_timer_start(mb_loop(), &sample_w);
    return MB_OK;
}

static void admin_destroy(void) { ev_timer_stop(mb_loop(), &sample_w); }

const mb_module admin_module = {
    .api = MB_MODULE_API,
    .name = "admin",
    .requires = MB_REQUIRES("match", "cluster"),
    .init = admin_init,
    .destroy = admin_destroy,
    .routes = routes,
    .n_routes = MB_ARRAY_LEN(routes),
};
