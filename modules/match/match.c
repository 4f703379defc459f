/*
 * match.c - the base of the match runtime: the registry of live matches
 * (id -> match) and the player index (player id -> the match a player is
 * seated in), and what reads a match without running its script: the
 * accessors of match.h, the seat queries (who is seated, is a seat free),
 * the join/leave history, the summary for listings, a frame broadcast to
 * every seat, freeing a match, its entry in the cluster directory
 * (docs/CLUSTER.md), and the module options the runtime reads.
 *
 * It calls no other file of modules/match: every other file builds on it
 * (the layers are listed in match_internal.h).
 *
 * Not here: calling the mode script (match_lua.c, calls.c), creating a
 * match (life.c), seating and unseating players (seats.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "match_internal.h"

static mb_smap matches;  /* id -> match */
mb_smap match_by_player; /* player id -> match (joined seats) */
double *match_m_live;
int match_opt_input_rate, match_opt_tick_slot_ms;

/* ---------------------------------------------------------- registry */

void match_registry_init(void)
{
    mb_smap_init(&matches);
    mb_smap_init(&match_by_player);
    mb_metric_table_smap("matches", &matches);
    mb_metric_table_smap("match_players", &match_by_player);
}

void match_registry_put(match *m)
{
    mb_smap_put(&matches, m->id, m);
    *match_m_live = (double)matches.count;
}

void match_registry_del(match *m)
{
    mb_smap_del(&matches, m->id);
    *match_m_live = (double)matches.count;
}

void match_free(match *m)
{
    if (!m) return;
    free(m->inputs); /* their refs go with the VM */
    free(m->spare_inputs);
    for (size_t i = 0; i < m->n_seats; i++) json_decref(m->seats[i].metadata);
    free(m->seats);
    free(m->afters);
    free(m->kicks);
    json_decref(m->label);
    mb_lua_vm_free(m->vm);
    mode_version_unref(m->v);
    json_decref(m->params);
    json_decref(m->history);
    json_decref(m->finish_result);
    mb_buf_free(&m->out);
    free(m);
}

void match_registry_destroy(void)
{
    size_t it = 0;
    void *v;
    while (mb_smap_next(&matches, &it, NULL, &v)) {
        match *m = v;
        if (mb_loop() && !m->sim) ev_timer_stop(mb_loop(), &m->tick_w);
        match_free(m);
    }
    mb_smap_free(&matches);
    mb_smap_free(&match_by_player);
}

/* --------------------------------------------------------- accessors */

int64_t match_now(const match *m) { return m->sim ? m->sim_now : mb_now_ms(); }
bool match_failed(const match *m) { return m->failed; }
const char *match_id(const match *m) { return m->id; }
const char *match_mode(const match *m) { return m->v->mode; }
match_status match_get_status(const match *m) { return m->status; }
const mode_version *match_version(const match *m) { return m->v; }
match *match_find(const char *id) { return mb_smap_get(&matches, id); }
size_t match_count(void) { return matches.count; }
bool match_is_over(const match *m) { return m->status == MATCH_FINISHED; }
json_t *match_result(const match *m) { return m->finish_result; }
int match_veto_tokens(const match *m) { return m->v->veto_tokens_per_player; }
uint64_t match_seed(const match *m) { return m->seed; }
const json_t *match_label(const match *m) { return m->label; }
mb_lua_vm *match_vm(const match *m) { return m->dead ? NULL : m->vm; }

bool match_next(size_t *iter, match **out)
{
    void *v;
    if (!mb_smap_next(&matches, iter, NULL, &v)) return false;
    *out = v;
    return true;
}

/* ------------------------------------------------------------- seats */

size_t match_player_count(const match *m)
{
    size_t n = 0;
    for (size_t i = 0; i < m->n_seats; i++) n += m->seats[i].joined;
    return n;
}

seat *match_seat(match *m, const char *player_id)
{
    for (size_t i = 0; i < m->n_seats; i++)
        if (strcmp(m->seats[i].player_id, player_id) == 0) return &m->seats[i];
    return NULL;
}

bool match_has_player(const match *m, const char *player_id)
{
    seat *s = match_seat((match *)m, player_id);
    return s && s->joined;
}

json_t *match_player_ids(const match *m)
{
    json_t *a = json_array();
    for (size_t i = 0; i < m->n_seats; i++)
        if (m->seats[i].joined) json_array_append_new(a, json_string(m->seats[i].player_id));
    return a;
}

json_t *match_players_json(const match *m)
{
    json_t *a = json_array();
    for (size_t i = 0; i < m->n_seats; i++) {
        const seat *s = &m->seats[i];
        if (!s->joined) continue;
        json_array_append_new(a, json_pack("{s:s,s:s,s:b}", "player_id", s->player_id, "username",
                                           s->username, "connected", s->connected));
    }
    return a;
}

bool match_is_open(const match *m)
{
    if (m->dead || m->finishing || m->failed || m->status == MATCH_FINISHED) return false;
    size_t taken = 0;
    int64_t now = match_now(m);
    for (size_t i = 0; i < m->n_seats; i++)
        if (m->seats[i].joined || m->seats[i].reserved_until > now) taken++;
    return taken < (size_t)m->v->players_max;
}

void match_history_left(match *m, const char *player_id, const char *reason)
{
    size_t i;
    json_t *h;
    json_array_foreach (m->history, i, h) {
        if (strcmp(json_string_value(json_object_get(h, "player_id")), player_id) == 0 &&
            json_is_null(json_object_get(h, "left_at"))) {
            json_object_set_new(h, "left_at", json_integer(mb_wall_ms()));
            json_object_set_new(h, "reason", json_string(reason));
        }
    }
}

/* A label key (match:set_label, the label.<key> filters of GET
 * /v1/matches): 1..MATCH_LABEL_MAX_KEY characters of A-Z a-z 0-9 _ -. */
bool match_label_key_ok(const char *k, size_t n)
{
    if (n == 0 || n > MATCH_LABEL_MAX_KEY) return false;
    for (size_t i = 0; i < n; i++) {
        char c = k[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '-'))
            return false;
    }
    return true;
}

/* ----------------------------------------------------------- summary */

static const char *status_name(match_status s)
{
    return s == MATCH_WAITING ? "waiting" : s == MATCH_RUNNING ? "running" : "finished";
}

static json_t *summary_base(const match *m)
{
    return json_pack("{s:s,s:s,s:s,s:i,s:i,s:i,s:i,s:i,s:I,s:I,s:o,s:o}", "match_id", m->id, "mode",
                     m->v->mode, "status", status_name(m->status), "player_count", (int)match_player_count(m),
                     "max_players", m->v->players_max, "min_players", m->v->players_min, "tick_rate",
                     m->v->tick_rate, "script_version", m->v->version, "tick", (json_int_t)m->tick,
                     "created_at", (json_int_t)m->created_at, "players", match_players_json(m), "started_at",
                     m->started_at ? json_integer(m->started_at) : json_null());
}

json_t *match_summary(const match *m)
{
    json_t *j = summary_base(m);
    json_object_set_new(j, "label", m->label ? json_deep_copy(m->label) : json_object());
    json_object_set_new(j, "open", json_boolean(match_is_open(m)));
    return j;
}

/* --------------------------------------------------------- broadcast */

void match_broadcast_frame(match *m, mb_frame *f)
{
    for (size_t i = 0; i < m->n_seats; i++)
        if (m->seats[i].joined && m->seats[i].connected)
            mb_player_send_frame_cached(m->seats[i].player_id, &m->seats[i].sockets, f);
}

void match_broadcast_json(match *m, const char *type, json_t *payload /* steals */)
{
    mb_frame *f = mb_frame_envelope(type, NULL, payload);
    json_decref(payload);
    match_broadcast_frame(m, f);
    mb_frame_unref(f);
}

/* ------------------------------------------------- cluster directory */

void match_cluster_decorate(json_t *o, const char *node_id, const char *url)
{
    if (!cluster_enabled() || !json_is_object(o)) return;
    json_object_set_new(o, "node_id", json_string(node_id ? node_id : cluster_node_id()));
    json_object_set_new(o, "url", json_string(url ? url : cluster_public_url()));
}

void match_cluster_added(match *m)
{
    if (!cluster_enabled() || m->sim) return;
    /* again at each join: players = who to tell if the node is lost */
    cluster_match_added(m->id,
                        json_pack("{s:s,s:i,s:I,s:O,s:o}", "mode", m->v->mode, "script_version",
                                  m->v->version, "created_at", (json_int_t)m->created_at, "params",
                                  m->params ? m->params : json_null(), "players", match_player_ids(m)));
}

void match_cluster_removed(match *m)
{
    if (!cluster_enabled() || m->sim) return;
    cluster_match_removed(m->id);
}
