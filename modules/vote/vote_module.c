/*
 * vote_module.c - in-match voting on the wire: match:vote_start /
 * match:vote_close from scripts, vote.cast / vote.veto from clients,
 * match.vote_start / vote_tally / vote_result / vote_vetoed to players,
 * the script callbacks vote_result and vote_vetoed, live tallies
 * (throttled to 4 per second per vote, one right after the first cast),
 * veto tokens per player per match, and the audit trail in PostgreSQL.
 * Tallying itself is tally.c.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert.h"
#include "match.h"
#include "match_ext.h"
#include "server.h"
#include "tally.h"

#define MAX_OPEN_PER_MATCH 16
#define TALLY_INTERVAL_MS 250

typedef struct vote_entry {
    char id[40];
    char match_id[40];
    char mode[72];
    vote_t *v;
    json_t *spec;
    ev_timer window_w;
    ev_timer tally_w;
    int64_t last_tally_ms;
    bool first_tally_sent;
    int64_t started_at, deadline_ms;
    bool done;
    bool close_scheduled;
} vote_entry;

/* vote id -> entry. A closed or vetoed vote stays here (done, its vote_t
 * freed: a few bytes) until its match ends, so that a late vote.cast or
 * vote.veto answers vote_closed rather than not_found (docs/VOTING.md §4). */
static mb_smap votes;
static mb_smap veto_used; /* "match|player" -> count (as intptr) */

static void entry_free(void *ud)
{
    vote_entry *e = ud;
    vote_free(e->v);
    json_decref(e->spec);
    free(e);
}

static void send_to_match(const char *match_id, const char *type, json_t *payload /* steals */)
{
    match *m = match_find(match_id);
    if (m && !match_is_over(m)) {
        mb_frame *f = mb_frame_envelope(type, NULL, payload);
        match_broadcast_frame(m, f);
        *mb_metric_msg_out(type) += (double)match_player_count(m);
        mb_frame_unref(f);
    }
    json_decref(payload);
}

static void send_tally(vote_entry *e)
{
    int64_t left = e->deadline_ms - mb_now_ms();
    e->last_tally_ms = mb_now_ms();
    e->first_tally_sent = true;
    send_to_match(e->match_id, "match.vote_tally",
                  json_pack("{s:s,s:o,s:I,s:I}", "vote_id", e->id, "tallies", vote_live_tallies(e->v),
                            "time_remaining_ms", (json_int_t)(left > 0 ? left : 0), "total_votes",
                            (json_int_t)vote_total_votes(e->v)));
}

static const char audit_sql[] =
    "INSERT INTO votes (id, match_id, mode, method, spec, ballots, result, vetoed_by, outcome,"
    " started_at, closed_at) VALUES ($1::uuid, $2::uuid, $3, $4, $5::jsonb, $6::jsonb, $7::jsonb,"
    " $8, $9, to_timestamp($10::double precision / 1000), now())"
    " ON CONFLICT (id) DO NOTHING";

static void audit(vote_entry *e, json_t *result, const char *outcome)
{
    char *spec = json_dumps(e->spec, JSON_COMPACT);
    json_t *b = vote_ballots_json(e->v);
    char *ballots = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    char *res = result ? json_dumps(result, JSON_COMPACT) : NULL;
    char started[32];
    snprintf(started, sizeof started, "%lld", (long long)e->started_at);
    const char *p[] = {e->id,   e->match_id, e->mode, vote_method_name(vote_method(e->v)),
                       spec,    ballots,     res,     vote_vetoed_by(e->v),
                       outcome, started};
    mb_db_durable("vote", audit_sql, 10, p);
    free(spec);
    free(ballots);
    free(res);
}

/* Closed or vetoed: timers off; the entry stays in `votes` as a tombstone. */
static void entry_finish(vote_entry *e)
{
    e->done = true;
    ev_timer_stop(mb_loop(), &e->window_w);
    ev_timer_stop(mb_loop(), &e->tally_w);
}

/* After the last use of a finished entry's ballots: keep only the tombstone. */
static void entry_retire(vote_entry *e)
{
    vote_free(e->v);
    e->v = NULL;
    json_decref(e->spec);
    e->spec = NULL;
}

/* Close now: result to players and script, audit row. */
static void close_vote(vote_entry *e)
{
    if (e->done) return;
    uint64_t seed;
    randombytes_buf(&seed, sizeof seed);
    json_t *result = vote_result(e->v, e->id, seed);
    entry_finish(e);
    if (!result) {
        entry_retire(e);
        return;
    }
    mb_info("vote_closed", "vote=%s match=%s votes=%zu", e->id, e->match_id, vote_total_votes(e->v));
    if (vote_visibility(e->v) == VOTE_LIVE) send_tally(e);
    json_incref(result);
    send_to_match(e->match_id, "match.vote_result", result);
    audit(e, result, "closed");
    entry_retire(e);
    /* The script may finish the match, which frees this entry (deferred). */
    match *m = match_find(e->match_id);
    if (m && !match_is_over(m)) {
        json_t *args = json_pack("[O]", result);
        match_call_json(m, "vote_result", args);
        json_decref(args);
    }
    json_decref(result);
}

static void close_deferred(void *ud)
{
    char *id = ud;
    vote_entry *e = mb_smap_get(&votes, id);
    if (e && !e->done) close_vote(e);
    free(id);
}

static void schedule_close(vote_entry *e)
{
    if (e->close_scheduled || e->done) return;
    e->close_scheduled = true;
    mb_defer(close_deferred, mb_strdup(e->id));
}

static void window_cb(struct ev_loop *loop, ev_timer *w, int revents) { schedule_close(w->data); }

static void tally_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    vote_entry *e = w->data;
    if (!e->done) send_tally(e);
}

/* ------------------------------------------------------- script hooks */

static int open_votes_of(const char *match_id)
{
    int n = 0;
    size_t it = 0;
    void *v;
    while (mb_smap_next(&votes, &it, NULL, &v))
        if (!((vote_entry *)v)->done && strcmp(((vote_entry *)v)->match_id, match_id) == 0) n++;
    return n;
}

static int hook_vote_start(match *m, lua_State *L)
{
    if (!mb_loop()) return luaL_error(L, "vote_start: voting needs the server (not available in simulate)");
    char err[512];
    json_t *spec = mb_lua_to_json(L, 2, err, sizeof err);
    if (!spec || !json_is_object(spec)) {
        json_decref(spec);
        return luaL_error(L, "vote_start: spec must be a table: %s", spec ? "got a list" : err);
    }
    if (open_votes_of(match_id(m)) >= MAX_OPEN_PER_MATCH) {
        json_decref(spec);
        return luaL_error(L, "vote_start: at most %d open votes per match", MAX_OPEN_PER_MATCH);
    }
    json_t *elig = match_player_ids(m);
    vote_t *v = vote_new(spec, elig, err, sizeof err);
    json_decref(elig);
    if (!v) {
        json_decref(spec);
        return luaL_error(L, "vote_start: %s", err);
    }
    vote_entry *e = mb_calloc(1, sizeof *e);
    mb_uuid(e->id);
    snprintf(e->match_id, sizeof e->match_id, "%s", match_id(m));
    snprintf(e->mode, sizeof e->mode, "%s", match_mode(m));
    e->v = v;
    e->spec = spec;
    e->started_at = mb_wall_ms();
    e->deadline_ms = mb_now_ms() + vote_window_ms(v);
    ev_timer_init(&e->window_w, window_cb, (double)vote_window_ms(v) / 1000.0, 0.);
    e->window_w.data = e;
    ev_timer_start(mb_loop(), &e->window_w);
    ev_init(&e->tally_w, tally_cb);
    e->tally_w.data = e;
    mb_smap_put(&votes, e->id, e);
    mb_info("vote_started", "vote=%s match=%s method=%s options=%zu", e->id, e->match_id,
            vote_method_name(vote_method(v)), vote_option_count(v));
    send_to_match(e->match_id, "match.vote_start", vote_start_payload(v, e->id));
    lua_pushstring(L, e->id);
    return 1;
}

static int hook_vote_close(match *m, lua_State *L)
{
    const char *id = luaL_checkstring(L, 2);
    vote_entry *e = mb_smap_get(&votes, id);
    if (!e || strcmp(e->match_id, match_id(m)) != 0) {
        lua_pushnil(L);
        lua_pushstring(L, "not_found");
        return 2;
    }
    if (e->done) {
        lua_pushnil(L);
        lua_pushstring(L, "vote_closed");
        return 2;
    }
    /* The result reaches the script through vote_result after this
     * callback returns (never re-entrantly). */
    vote_close(e->v);
    schedule_close(e);
    lua_pushboolean(L, 1);
    return 1;
}

static void hook_match_ended(match *m)
{
    size_t it = 0;
    void *v;
    vote_entry **list = NULL;
    size_t n = 0;
    while (mb_smap_next(&votes, &it, NULL, &v)) {
        vote_entry *e = v;
        if (strcmp(e->match_id, match_id(m)) != 0) continue;
        list = mb_realloc(list, (n + 1) * sizeof *list);
        list[n++] = e;
    }
    for (size_t i = 0; i < n; i++) {
        vote_entry *e = list[i];
        if (!e->done) {
            vote_close(e->v);
            uint64_t seed;
            randombytes_buf(&seed, sizeof seed);
            json_t *res = vote_result(e->v, e->id, seed);
            audit(e, res, "cancelled");
            json_decref(res);
            entry_finish(e);
        }
        /* The match is over: its votes are unknown from now on. Freed
         * later, as a caller up the stack (close_vote) may still hold e. */
        mb_smap_del(&votes, e->id);
        mb_defer(entry_free, e);
    }
    free(list);
    /* forget the match's veto token counts */
    char prefix[48];
    snprintf(prefix, sizeof prefix, "%s|", match_id(m));
    size_t plen = strlen(prefix);
    for (;;) {
        const char *k = NULL;
        it = 0;
        bool found = false;
        while (mb_smap_next(&veto_used, &it, &k, NULL))
            if (strncmp(k, prefix, plen) == 0) {
                found = true;
                break;
            }
        if (!found) break;
        char *key = mb_strdup(k);
        mb_smap_del(&veto_used, key);
        free(key);
    }
}

/* ----------------------------------------------------------- messages */

static mb_errcode reason_code(const char *reason)
{
    if (!strcmp(reason, "not_found")) return MB_E_NOT_FOUND;
    if (!strcmp(reason, "vote_closed")) return MB_E_CONFLICT;
    if (!strcmp(reason, "not_eligible") || !strcmp(reason, "no_tokens") || !strcmp(reason, "veto_disabled"))
        return MB_E_FORBIDDEN;
    return MB_E_BAD_REQUEST;
}

static const char *reason_message(const char *reason)
{
    if (!strcmp(reason, "not_found")) return "no such vote";
    if (!strcmp(reason, "vote_closed")) return "the vote is closed";
    if (!strcmp(reason, "not_eligible")) return "you are not eligible in this vote";
    if (!strcmp(reason, "malformed")) return "option_id has the wrong type for this voting method";
    if (!strcmp(reason, "empty")) return "the ballot is empty";
    if (!strcmp(reason, "unknown_option")) return "option_id names an option that is not in this vote";
    if (!strcmp(reason, "no_tokens")) return "no veto tokens left in this match";
    if (!strcmp(reason, "veto_disabled")) return "this vote cannot be vetoed";
    return reason;
}

static void reject(mb_session *s, const char *cid, const char *type, const char *reason)
{
    mb_session_error_reason(s, cid, type, reason_code(reason), reason, reason_message(reason));
}

static void on_cast(mb_session *s, const char *cid, json_t *payload)
{
    const char *id = json_string_value(json_object_get(payload, "vote_id"));
    vote_entry *e = mb_smap_get(&votes, id);
    if (!e || e->done) {
        reject(s, cid, "vote.cast", e ? "vote_closed" : "not_found");
        return;
    }
    const char *why = vote_cast(e->v, mb_session_player(s), json_object_get(payload, "option_id"));
    if (why) {
        reject(s, cid, "vote.cast", why);
        return;
    }
    if (cid)
        mb_session_send(
            s, "vote.accepted", cid,
            json_pack("{s:s,s:I}", "vote_id", e->id, "total_votes", (json_int_t)vote_total_votes(e->v)));
    if (vote_visibility(e->v) == VOTE_LIVE) {
        int64_t now = mb_now_ms();
        if (!e->first_tally_sent || now - e->last_tally_ms >= TALLY_INTERVAL_MS) {
            ev_timer_stop(mb_loop(), &e->tally_w);
            send_tally(e);
        } else if (!ev_is_active(&e->tally_w)) {
            ev_timer_set(&e->tally_w, (double)(TALLY_INTERVAL_MS - (now - e->last_tally_ms)) / 1000.0, 0.);
            ev_timer_start(mb_loop(), &e->tally_w);
        }
    }
    if (vote_close_when_all_voted(e->v) && vote_all_voted(e->v)) {
        vote_close(e->v);
        schedule_close(e);
    }
}

static void on_veto(mb_session *s, const char *cid, json_t *payload)
{
    const char *id = json_string_value(json_object_get(payload, "vote_id"));
    const char *pid = mb_session_player(s);
    vote_entry *e = mb_smap_get(&votes, id);
    if (!e || e->done) {
        reject(s, cid, "vote.veto", e ? "vote_closed" : "not_found");
        return;
    }
    const char *why = vote_veto_check(e->v, pid);
    if (why) {
        reject(s, cid, "vote.veto", why);
        return;
    }
    match *m = match_find(e->match_id);
    int tokens = m ? match_veto_tokens(m) : 0;
    char key[128];
    snprintf(key, sizeof key, "%s|%s", e->match_id, pid);
    intptr_t used = (intptr_t)mb_smap_get(&veto_used, key);
    if (tokens <= 0 || used >= tokens) {
        reject(s, cid, "vote.veto", "no_tokens");
        return;
    }
    if (vote_mark_vetoed(e->v, pid) != MB_OK) {
        reject(s, cid, "vote.veto", "vote_closed");
        return;
    }
    mb_smap_put(&veto_used, key, (void *)(used + 1));
    mb_info("vote_vetoed", "vote=%s match=%s by=%s", e->id, e->match_id, pid);
    entry_finish(e);
    audit(e, NULL, "vetoed");
    entry_retire(e);
    if (cid)
        mb_session_send(s, "vote.veto_accepted", cid,
                        json_pack("{s:s,s:i}", "vote_id", e->id, "tokens_left", (int)(tokens - used - 1)));
    send_to_match(e->match_id, "match.vote_vetoed",
                  json_pack("{s:s,s:s}", "vote_id", e->id, "vetoed_by", pid));
    if (m && !match_is_over(m)) {
        json_t *args = json_pack("[s,s]", e->id, pid);
        match_call_json(m, "vote_vetoed", args);
        json_decref(args);
    }
}

/* ------------------------------------------------- GET /v1/matches/{id} */

typedef struct get_ctx {
    mb_http_req *r;
    json_t *j;
    char id[40];
} get_ctx;

static json_t *open_votes_json(const char *mid)
{
    json_t *arr = json_array();
    size_t it = 0;
    void *v;
    while (mb_smap_next(&votes, &it, NULL, &v)) {
        vote_entry *e = v;
        if (e->done || strcmp(e->match_id, mid) != 0) continue;
        json_t *o = vote_start_payload(e->v, e->id);
        json_object_set_new(o, "status", json_string("open"));
        json_object_set_new(o, "total_votes", json_integer((json_int_t)vote_total_votes(e->v)));
        json_array_append_new(arr, o);
    }
    return arr;
}

static void votes_done(void *ud, const mb_db_result *res)
{
    get_ctx *c = ud;
    json_t *arr = open_votes_json(c->id);
    if (res->ok) {
        for (int i = 0; i < PQntuples(res->res); i++) {
            json_t *result = json_loads(PQgetvalue(res->res, i, 2), 0, NULL);
            json_array_append_new(
                arr,
                json_pack("{s:s,s:s,s:s,s:o,s:o,s:I}", "vote_id", PQgetvalue(res->res, i, 0), "method",
                          PQgetvalue(res->res, i, 1), "status", PQgetvalue(res->res, i, 4), "result",
                          result ? result : json_null(), "vetoed_by",
                          PQgetisnull(res->res, i, 3) ? json_null() : json_string(PQgetvalue(res->res, i, 3)),
                          "started_at", (json_int_t)atoll(PQgetvalue(res->res, i, 5))));
        }
        json_object_set_new(c->j, "votes", arr);
    } else {
        json_decref(arr);
        json_object_set_new(c->j, "votes", json_null());
        json_object_set_new(c->j, "votes_error", json_string("database unavailable"));
    }
    mb_http_respond(c->r, 200, c->j);
    free(c);
}

static void get_extra(mb_http_req *r, json_t *j, const char *id)
{
    get_ctx *c = mb_calloc(1, sizeof *c);
    c->r = r;
    c->j = j;
    snprintf(c->id, sizeof c->id, "%s", id);
    const char *p[] = {id};
    mb_db_query("SELECT id, method, result::text, vetoed_by, outcome,"
                " (extract(epoch from started_at) * 1000)::bigint"
                " FROM votes WHERE match_id = $1::uuid ORDER BY started_at, id",
                1, p, votes_done, c);
}

/* ------------------------------------------------------------- module */

static const mb_field cast_fields[] = {
    {"vote_id", MB_F_STRING, true, 1, 64},
    {"option_id", MB_F_ANY, true, 0, 0},
    {NULL},
};
static const mb_field veto_fields[] = {
    {"vote_id", MB_F_STRING, true, 1, 64},
    {NULL},
};

static const mb_msg_def messages[] = {
    {"vote.cast", cast_fields, on_cast, false},
    {"vote.veto", veto_fields, on_veto, false},
};

static mb_status vote_init(void)
{
    mb_smap_init(&votes);
    mb_smap_init(&veto_used);
    mb_metric_table_smap("votes", &votes);
    mb_metric_table_smap("vote_veto_used", &veto_used);
    /* match:vote_start / match:vote_close only while the match runs its events */
    match_ext_add_method("vote_start", hook_vote_start, MATCH_CTX_EVENTS);
    match_ext_add_method("vote_close", hook_vote_close, MATCH_CTX_EVENTS);
    match_ext_on_ended(hook_match_ended);
    match_ext_match_reply(get_extra);
    return MB_OK;
}

static void vote_destroy(void)
{
    size_t it = 0;
    void *v;
    while (mb_smap_next(&votes, &it, NULL, &v)) {
        vote_entry *e = v;
        ev_timer_stop(mb_loop(), &e->window_w);
        ev_timer_stop(mb_loop(), &e->tally_w);
        entry_free(e);
    }
    mb_smap_free(&votes);
    mb_smap_free(&veto_used);
}

const mb_module vote_module = {
    .api = MB_MODULE_API,
    .name = "vote",
    .requires = MB_REQUIRES("match"),
    .init = vote_init,
    .destroy = vote_destroy,
    .messages = messages,
    .n_messages = MB_ARRAY_LEN(messages),
};
