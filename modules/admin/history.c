/*
 * history.c - admin routes for what is over: finished matches read back
 * from PostgreSQL (mode, players, duration, result, reason, votes) and the
 * last runtime errors of each mode's match scripts (kept in memory by the
 * match module, script_errors.c). All require the admin token.
 *
 *   GET /v1/admin/history/matches?player=&mode=&limit=&before=
 *   GET /v1/admin/history/matches/{id}
 *   GET /v1/admin/scripts/errors?mode=&limit=
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "match.h"
#include "server.h"

#define HISTORY_DEFAULT 20
#define HISTORY_MAX 100

static bool is_mode_name(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 64) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '-'))
            return false;
    }
    return true;
}

/* A query parameter, NULL when absent or empty. */
static const char *qparam(mb_http_req *r, const char *name)
{
    const char *v = mb_http_query(r, name);
    return v && *v ? v : NULL;
}

/* limit=: absent -> def; otherwise a whole number in 1..max, or MB_ERR with a 400 sent. */
static mb_status parse_limit(mb_http_req *r, long def, long max, long *out)
{
    const char *v = qparam(r, "limit");
    if (!v) {
        *out = def;
        return MB_OK;
    }
    char *end;
    long n = strtol(v, &end, 10);
    if (*end || end == v || n < 1 || n > max) {
        mb_http_error(r, MB_E_BAD_REQUEST, "limit must be a whole number from 1 to %ld (got '%.40s')", max,
                      v);
        return MB_ERR;
    }
    *out = n;
    return MB_OK;
}

static json_t *jparse(const PGresult *p, int row, int col)
{
    if (PQgetisnull(p, row, col)) return json_null();
    json_t *j = json_loads(PQgetvalue(p, row, col), JSON_DECODE_ANY, NULL);
    return j ? j : json_null();
}

static json_t *jms(const PGresult *p, int row, int col)
{
    return PQgetisnull(p, row, col) ? json_null() : json_integer(atoll(PQgetvalue(p, row, col)));
}

/* Columns shared by both queries, from offset c of the row. */
#define MATCH_COLUMNS                                                                                        \
    "m.id::text, m.mode, m.script_version, m.players::text, m.reason, m.result::text, m.ticks,"              \
    " (extract(epoch from m.created_at) * 1000)::bigint, (extract(epoch from m.started_at) * 1000)::bigint," \
    " (extract(epoch from m.finished_at) * 1000)::bigint"

static json_t *match_row(const PGresult *p, int row, int c)
{
    json_t *started = jms(p, row, c + 8), *finished = jms(p, row, c + 9);
    json_t *duration = json_is_integer(started) && json_is_integer(finished)
                           ? json_integer(json_integer_value(finished) - json_integer_value(started))
                           : json_null();
    return json_pack("{s:s,s:s,s:i,s:o,s:o,s:o,s:I,s:o,s:o,s:o,s:o}", "match_id", PQgetvalue(p, row, c),
                     "mode", PQgetvalue(p, row, c + 1), "script_version", atoi(PQgetvalue(p, row, c + 2)),
                     "players", jparse(p, row, c + 3), "reason",
                     PQgetisnull(p, row, c + 4) ? json_null() : json_string(PQgetvalue(p, row, c + 4)),
                     "result", jparse(p, row, c + 5), "ticks", (json_int_t)atoll(PQgetvalue(p, row, c + 6)),
                     "created_at", jms(p, row, c + 7), "started_at", started, "finished_at", finished,
                     "duration_ms", duration);
}

/* ------------------------------------------- GET /v1/admin/history/matches */

typedef struct list_ctx {
    mb_http_req *r;
    long limit;
    char before[40];
} list_ctx;

static void list_done(void *ud, const mb_db_result *res)
{
    list_ctx *c = ud;
    if (!res->ok) {
        mb_http_db_error(c->r, res, NULL);
        free(c);
        return;
    }
    const PGresult *p = res->res;
    int rows = PQntuples(p);
    if (c->before[0] && (rows == 0 || atoi(PQgetvalue(p, 0, 0)) == 0)) {
        mb_http_error(c->r, MB_E_BAD_REQUEST,
                      "before: no finished match '%s' (use next_cursor of the previous page)", c->before);
        free(c);
        return;
    }
    json_t *arr = json_array();
    int shown = 0;
    for (int i = 0; i < rows && shown < c->limit; i++) {
        if (PQgetisnull(p, i, 1)) continue; /* the one empty row of the LEFT JOIN */
        json_t *m = match_row(p, i, 1);
        json_object_set_new(m, "votes", jparse(p, i, 11));
        json_array_append_new(arr, m);
        shown++;
    }
    json_t *next = json_null();
    if (rows > c->limit && shown > 0)
        next = json_string(
            json_string_value(json_object_get(json_array_get(arr, (size_t)shown - 1), "match_id")));
    mb_http_respond(c->r, 200, json_pack("{s:o,s:o}", "matches", arr, "next_cursor", next));
    free(c);
}

/* "abc_1%" -> "abc!_1!%%" for LIKE ... ESCAPE '!' (a prefix, lower-cased). */
static char *like_prefix(const char *s)
{
    size_t n = strlen(s);
    char *out = mb_malloc(2 * n + 2), *o = out;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch == '!' || ch == '%' || ch == '_') *o++ = '!';
        *o++ = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
    }
    *o++ = '%';
    *o = 0;
    return out;
}

static const char *field_mode(const json_t *v)
{
    return is_mode_name(json_string_value(v)) ? NULL : "mode must be a mode name: 1 to 64 of A-Z a-z 0-9 _ -";
}
static const char *field_player(const json_t *v)
{
    const char *s = json_string_value(v);
    return strlen(s) > 64 || strpbrk(s, "\t\r\n")
               ? "player must be a player id or a username prefix (at most 64 characters)"
               : NULL;
}
static const char *field_before(const json_t *v)
{
    return mb_uuid_valid(json_string_value(v))
               ? NULL
               : "before must be a match_id (the next_cursor of the previous page)";
}

/* limit= stays in parse_limit: its message quotes the value and the maximum differs per route */
static const mb_field history_query[] = {
    {"mode", MB_F_STRING, false, 0, 0, field_mode, "mode name"},
    {"player", MB_F_STRING, false, 0, 0, field_player, "player id or username prefix"},
    {"before", MB_F_STRING, false, 0, 0, field_before, "match_id (uuid)"},
    {NULL},
};
static const mb_field script_errors_query[] = {
    {"mode", MB_F_STRING, false, 0, 0, field_mode, "mode name"},
    {NULL},
};

/* mode=, player=, before=: history_query */
static void route_history(mb_http_req *r)
{
    const char *mode = qparam(r, "mode"), *player = qparam(r, "player"), *before = qparam(r, "before");
    long limit;
    if (parse_limit(r, HISTORY_DEFAULT, HISTORY_MAX, &limit) != MB_OK) return;
    list_ctx *c = mb_calloc(1, sizeof *c);
    c->r = r;
    c->limit = limit;
    if (before) snprintf(c->before, sizeof c->before, "%s", before);
    char lim[24];
    snprintf(lim, sizeof lim, "%ld", limit + 1);
    char *like = player && !mb_uuid_valid(player) ? like_prefix(player) : NULL;
    const char *p[] = {mode, player && !like ? player : NULL, like, before, lim};
    mb_db_query(
        "SELECT (SELECT count(*) FROM matches WHERE id = $4::uuid), x.* FROM (SELECT 1) one"
        " LEFT JOIN LATERAL (SELECT " MATCH_COLUMNS ","
        "  (SELECT coalesce(jsonb_agg(jsonb_build_object('vote_id', v.id, 'method', v.method,"
        "    'outcome', v.outcome, 'winner', v.result->'winner', 'total_votes', v.result->'total_votes',"
        "    'vetoed_by', v.vetoed_by) ORDER BY v.started_at), '[]'::jsonb)"
        "   FROM votes v WHERE v.match_id = m.id)::text"
        "  FROM matches m"
        "  WHERE ($1::text IS NULL OR m.mode = $1)"
        "  AND ($2::text IS NULL OR m.players @> jsonb_build_array(jsonb_build_object('player_id', lower($2::text))))"
        "  AND ($3::text IS NULL OR EXISTS (SELECT 1 FROM jsonb_array_elements(m.players) e"
        "       WHERE lower(e->>'username') LIKE $3 ESCAPE '!'))"
        "  AND ($4::uuid IS NULL OR (m.finished_at, m.id) <"
        "       (SELECT finished_at, id FROM matches WHERE id = $4::uuid))"
        "  ORDER BY m.finished_at DESC, m.id DESC LIMIT $5::int) x ON true",
        5, p, list_done, c);
    free(like);
}

/* -------------------------------------- GET /v1/admin/history/matches/{id} */

static void one_done(void *ud, const mb_db_result *res)
{
    mb_http_req *r = ud;
    if (!res->ok) {
        mb_http_db_error(r, res, NULL);
        return;
    }
    const PGresult *p = res->res;
    if (PQntuples(p) == 0) {
        const char *id = mb_http_param(r, 0);
        match *live = match_find(id);
        if (live && !match_is_over(live))
            mb_http_error(r, MB_E_NOT_FOUND, "match '%s' is still live (GET /v1/admin/matches/{id})", id);
        else mb_http_error(r, MB_E_NOT_FOUND, "no finished match '%s'", id);
        return;
    }
    json_t *m = match_row(p, 0, 0);
    json_object_set_new(m, "params", jparse(p, 0, 10));
    json_object_set_new(m, "votes", jparse(p, 0, 11));
    mb_http_respond(r, 200, m);
}

static void route_history_one(mb_http_req *r)
{
    const char *id = mb_http_param(r, 0);
    if (!mb_uuid_valid(id)) {
        mb_http_error(r, MB_E_BAD_REQUEST, "match id must be a UUID (got '%.40s')", id);
        return;
    }
    const char *p[] = {id};
    mb_db_query(
        "SELECT " MATCH_COLUMNS ", m.params::text,"
        " (SELECT coalesce(jsonb_agg(jsonb_build_object('vote_id', v.id, 'method', v.method,"
        "   'outcome', v.outcome, 'spec', v.spec, 'ballots', v.ballots, 'result', v.result,"
        "   'vetoed_by', v.vetoed_by,"
        "   'started_at', (extract(epoch from v.started_at) * 1000)::bigint,"
        "   'closed_at', (extract(epoch from v.closed_at) * 1000)::bigint) ORDER BY v.started_at), '[]'::jsonb)"
        "  FROM votes v WHERE v.match_id = m.id)::text"
        " FROM matches m WHERE m.id = $1::uuid",
        1, p, one_done, r);
}

/* ------------------------------------------------ GET /v1/admin/scripts/errors */

static void route_script_errors(mb_http_req *r)
{
    const char *mode = qparam(r, "mode"); /* declared: script_errors_query */
    long limit;
    if (parse_limit(r, MATCH_SCRIPT_ERRORS_MAX, MATCH_SCRIPT_ERRORS_MAX, &limit) != MB_OK) return;
    mb_http_respond(r, 200, match_script_errors_json(mode, (size_t)limit));
}

static const mb_route routes[] = {
    {"GET", "/v1/admin/history/matches", route_history, MB_AUTH_ADMIN, false, NULL, 0, history_query},
    {"GET", "/v1/admin/history/matches/{id}", route_history_one, MB_AUTH_ADMIN, false},
    {"GET", "/v1/admin/scripts/errors", route_script_errors, MB_AUTH_ADMIN, false, NULL, 0,
     script_errors_query},
};

static mb_status history_init(void) { return MB_OK; }
static void history_destroy(void) {}

const mb_module admin_history_module = {
    .api = MB_MODULE_API,
    .name = "admin_history",
    .requires = MB_REQUIRES("match"),
    .init = history_init,
    .destroy = history_destroy,
    .routes = routes,
    .n_routes = MB_ARRAY_LEN(routes),
};
