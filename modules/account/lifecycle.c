/*
 * lifecycle.c - account deletion, bans and session revocation, and the
 * admin account routes of the console (see account.h, docs/REST.md).
 *
 * Revocation: a ban, a deletion or "sign out everywhere" commits in
 * PostgreSQL (token_version + 1, refresh tokens revoked or deleted, a
 * tombstone for a deleted account), then, on its result, enters the
 * runtime's revocation table (mb_token_block, checked on every token
 * verification), closes the player's sockets and drops its match seat. The
 * table is loaded back at start-up (lifecycle_load, blocking, before the
 * loop serves), so a restart refuses the same tokens.
 *
 *   DELETE /v1/account                        (Bearer) delete my account
 *   GET    /v1/admin/accounts?q=&limit=&after=&banned=   search every account
 *   GET    /v1/admin/accounts/{id}            one account, its sockets and refresh sessions
 *   PATCH  /v1/admin/accounts/{id}            display_name, metadata
 *   POST   /v1/admin/accounts/{id}/ban        {"reason"?}
 *   POST   /v1/admin/accounts/{id}/unban
 *   POST   /v1/admin/accounts/{id}/revoke     sign out everywhere (no ban)
 *   DELETE /v1/admin/accounts/{id}
 *
 * Not here: sign-in and the player's other account routes (account.c,
 * which calls this file for DELETE /v1/account and the start-up load), the
 * field rules (validate.c, called here for the admin PATCH).
 */
#include "account.h"
#include "match.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
#define NIL_UUID "00000000-0000-0000-0000-000000000000"

/* WebSocket close codes (docs/PROTOCOL.md §10). */
#define CLOSE_DELETED 4002
#define CLOSE_BANNED 4003
#define CLOSE_REVOKED 4004

/* ------------------------------------------------------------ helpers */

/* The {id} of an admin route, lower-cased into out; answers 400 when it is
 * not a UUID. */
static mb_status route_id(mb_http_req *r, char out[37])
{
    const char *id = mb_http_param(r, 0);
    if (!mb_uuid_valid(id)) {
        mb_http_error(r, MB_E_BAD_REQUEST, "malformed account id (expected a UUID)");
        return MB_ERR;
    }
    for (int i = 0; i < 36; i++) out[i] = (char)(id[i] >= 'A' && id[i] <= 'F' ? id[i] + 32 : id[i]);
    out[36] = '\0';
    return MB_OK;
}

typedef struct close_ctx {
    int code, n;
    const char *reason;
} close_ctx;

static void close_one(mb_session *s, void *ud)
{
    close_ctx *c = ud;
    mb_session_close(s, c->code, c->reason);
    c->n++;
}

/* ------------------------------------------------------------ actions */

typedef enum { ACT_DELETE, ACT_BAN, ACT_UNBAN, ACT_REVOKE } act_kind;
static const char *const act_names[] = {"delete", "ban", "unban", "revoke"};

typedef struct act_ctx {
    mb_http_req *req;
    act_kind kind;
    bool by_admin;
    char id[64];
} act_ctx;

/* Apply a committed action in memory: refuse the tokens, close sockets,
 * leave the match. Returns the sockets closed. */
static int apply(act_ctx *c, int tv, int64_t until_ms)
{
    mb_tokens_state st = c->kind == ACT_DELETE ? MB_TOKENS_DELETED
                         : c->kind == ACT_BAN  ? MB_TOKENS_BANNED
                                               : MB_TOKENS_REVOKED;
    if (mb_token_block(c->id, st, tv, until_ms) != MB_OK)
        mb_error("token_block_failed", "player=%s action=%s note=\"revocation table full\"", c->id,
                 act_names[c->kind]);
    if (c->kind == ACT_UNBAN) return 0;
    close_ctx cc = {CLOSE_REVOKED, 0, "session revoked"};
    if (c->kind == ACT_DELETE) cc = (close_ctx){CLOSE_DELETED, 0, "account deleted"};
    else if (c->kind == ACT_BAN) cc = (close_ctx){CLOSE_BANNED, 0, "account banned"};
    mb_player_each_session(c->id, close_one, &cc);
    if (c->kind == ACT_DELETE) match_player_removed(c->id, "account_deleted");
    else if (c->kind == ACT_BAN) match_player_removed(c->id, "account_banned");
    return cc.n;
}

static void act_done(void *ud, const mb_db_result *res)
{
    act_ctx *c = ud;
    if (!res->ok) {
        mb_http_db_error(c->req, res, NULL);
        free(c);
        return;
    }
    if (PQntuples(res->res) == 0 || (c->kind == ACT_DELETE && PQgetvalue(res->res, 0, 0)[0] != 't')) {
        if (c->by_admin) mb_http_error(c->req, MB_E_NOT_FOUND, "no account '%s'", c->id);
        else mb_http_error(c->req, MB_E_UNAUTHORIZED, "account deleted");
        free(c);
        return;
    }
    PGresult *p = res->res;
    json_t *body;
    if (c->kind == ACT_DELETE) {
        int n = apply(c, 0, strtoll(PQgetvalue(p, 0, 2), NULL, 10));
        mb_info("account_deleted", "player=%s by=%s sockets=%d", c->id, c->by_admin ? "admin" : "player", n);
        body = json_pack("{s:s,s:b,s:i}", "player_id", c->id, "deleted", 1, "closed_sockets", n);
    } else {
        /* username, token_version, revoke_until_ms, refresh tokens revoked, banned_at, ban_reason */
        int tv = atoi(PQgetvalue(p, 0, 1));
        int64_t until = PQgetisnull(p, 0, 2) ? 0 : strtoll(PQgetvalue(p, 0, 2), NULL, 10);
        int n = apply(c, tv, until);
        mb_info("account_tokens", "player=%s action=%s by=%s sockets=%d", c->id, act_names[c->kind],
                c->by_admin ? "admin" : "player", n);
        body = json_pack("{s:s,s:s,s:o,s:o,s:i,s:i}", "player_id", c->id, "username", PQgetvalue(p, 0, 0),
                         "banned", json_boolean(!PQgetisnull(p, 0, 4)), "banned_at",
                         PQgetisnull(p, 0, 4) ? json_null() : json_string(PQgetvalue(p, 0, 4)),
                         "closed_sockets", n, "revoked_refresh_tokens", atoi(PQgetvalue(p, 0, 3)));
        json_object_set_new(body, "ban_reason",
                            PQgetisnull(p, 0, 5) ? json_null() : json_string(PQgetvalue(p, 0, 5)));
    }
    mb_http_respond(c->req, 200, body);
    free(c);
}

/* The refresh tokens revoked and the account's token state, for ban,
 * unban and revoke ($1 id, $2 ban reason, $3 token ttl). */
#define TOKENS_RESULT                                                \
    " SELECT a.username, a.token_version,"                           \
    "  (extract(epoch FROM a.tokens_revoked_until) * 1000)::bigint," \
    "  (SELECT count(*) FROM r), " TS("a.banned_at") ", a.ban_reason FROM a"

static const char delete_sql[] =
    "SELECT deleted, username, revoke_until_ms FROM account_delete($1::uuid, $3::int)"
    " WHERE $2::text IS NULL OR true";
static const char ban_sql[] =
    "WITH a AS (UPDATE accounts SET banned_at = COALESCE(banned_at, now()), ban_reason = $2,"
    "  token_version = token_version + 1,"
    "  tokens_revoked_until = now() + make_interval(secs => $3::int), updated_at = now()"
    "  WHERE id = $1::uuid RETURNING *),"
    " r AS (UPDATE refresh_tokens t SET revoked_at = now() FROM a"
    "  WHERE t.account_id = a.id AND t.revoked_at IS NULL RETURNING 1)" TOKENS_RESULT;
static const char unban_sql[] =
    "WITH a AS (UPDATE accounts SET banned_at = NULL, ban_reason = NULL, updated_at = now()"
    "  WHERE id = $1::uuid AND ($2::text IS NULL OR true) AND $3::int > 0 RETURNING *),"
    " r AS (SELECT 1 WHERE false)" TOKENS_RESULT;
static const char revoke_sql[] =
    "WITH a AS (UPDATE accounts SET token_version = token_version + 1,"
    "  tokens_revoked_until = now() + make_interval(secs => $3::int), updated_at = now()"
    "  WHERE id = $1::uuid AND ($2::text IS NULL OR true) RETURNING *),"
    " r AS (UPDATE refresh_tokens t SET revoked_at = now() FROM a"
    "  WHERE t.account_id = a.id AND t.revoked_at IS NULL RETURNING 1)" TOKENS_RESULT;

static void run_action(mb_http_req *r, act_kind kind, bool by_admin, const char *id, const char *reason)
{
    if (kind != ACT_UNBAN && !mb_token_block_room()) {
        mb_http_error(r, MB_E_UNAVAILABLE, "too many revocations within the token lifetime; retry later");
        return;
    }
    act_ctx *c = mb_calloc(1, sizeof *c);
    c->req = r;
    c->kind = kind;
    c->by_admin = by_admin;
    snprintf(c->id, sizeof c->id, "%s", id);
    char ttl[16];
    snprintf(ttl, sizeof ttl, "%d", mb_cfg()->token_ttl_s);
    const char *p[] = {c->id, reason, ttl};
    switch (kind) {
    case ACT_DELETE: mb_db_query(delete_sql, 3, p, act_done, c); break;
    case ACT_BAN: mb_db_query(ban_sql, 3, p, act_done, c); break;
    case ACT_UNBAN: mb_db_query(unban_sql, 3, p, act_done, c); break;
    case ACT_REVOKE: mb_db_query(revoke_sql, 3, p, act_done, c); break;
    }
}

/* DELETE /v1/account */
void account_route_delete(mb_http_req *r) { run_action(r, ACT_DELETE, false, mb_http_player(r), NULL); }

static void route_admin_delete(mb_http_req *r)
{
    char id[37];
    if (route_id(r, id) == MB_OK) run_action(r, ACT_DELETE, true, id, NULL);
}

static void route_admin_ban(mb_http_req *r)
{
    char id[37];
    if (route_id(r, id) != MB_OK) return;
    json_t *reason = json_object_get(mb_http_body(r), "reason"); /* declared: ban_fields */
    run_action(r, ACT_BAN, true, id, json_is_string(reason) ? json_string_value(reason) : NULL);
}

static void route_admin_unban(mb_http_req *r)
{
    char id[37];
    if (route_id(r, id) == MB_OK) run_action(r, ACT_UNBAN, true, id, NULL);
}

static void route_admin_revoke(mb_http_req *r)
{
    char id[37];
    if (route_id(r, id) == MB_OK) run_action(r, ACT_REVOKE, true, id, NULL);
}

/* ------------------------------------------------------------- search */

typedef struct search_ctx {
    mb_http_req *req;
    int limit;
} search_ctx;

static void count_one(mb_session *s, void *ud)
{
    MB_UNUSED(s);
    MB_UNUSED(ud);
}

static int sockets_of(const char *id) { return mb_player_each_session(id, count_one, NULL); }

static void search_done(void *ud, const mb_db_result *res)
{
    search_ctx *c = ud;
    if (!res->ok) {
        mb_http_db_error(c->req, res, NULL);
        free(c);
        return;
    }
    PGresult *p = res->res;
    int rows = PQntuples(p), shown = rows > c->limit ? c->limit : rows;
    json_t *arr = json_array();
    for (int i = 0; i < shown; i++) {
        const char *id = PQgetvalue(p, i, 0);
        int socks = sockets_of(id);
        json_array_append_new(
            arr, json_pack("{s:s,s:s,s:o,s:o,s:s,s:b,s:o,s:b,s:i}", "player_id", id, "username",
                           PQgetvalue(p, i, 1), "display_name",
                           PQgetisnull(p, i, 2) ? json_null() : json_string(PQgetvalue(p, i, 2)), "email",
                           PQgetisnull(p, i, 3) ? json_null() : json_string(PQgetvalue(p, i, 3)),
                           "created_at", PQgetvalue(p, i, 4), "banned", !PQgetisnull(p, i, 5), "banned_at",
                           PQgetisnull(p, i, 5) ? json_null() : json_string(PQgetvalue(p, i, 5)), "online",
                           socks > 0, "sockets", socks));
    }
    json_t *next = rows > shown && shown > 0 ? json_string(PQgetvalue(p, shown - 1, 1)) : json_null();
    mb_http_respond(c->req, 200, json_pack("{s:o,s:o}", "accounts", arr, "next_cursor", next));
    free(c);
}

/* q with LIKE's wildcards escaped (backslash is the escape character). */
static char *like_escape(const char *q)
{
    char *o = mb_malloc(strlen(q) * 2 + 1), *w = o;
    for (const char *s = q; *s; s++) {
        if (*s == '%' || *s == '_' || *s == '\\') *w++ = '\\';
        *w++ = *s;
    }
    *w = '\0';
    return o;
}

static const char *field_limit(const json_t *v)
{
    char *end;
    long l = strtol(json_string_value(v), &end, 10);
    return *end || l < 1 || l > 100 ? "limit must be 1..100" : NULL;
}
static const char *field_banned(const json_t *v)
{
    const char *s = json_string_value(v);
    return strcmp(s, "true") && strcmp(s, "false") ? "banned must be true or false" : NULL;
}
static const char *field_q(const json_t *v)
{
    return strlen(json_string_value(v)) > 254 ? "q must be at most 254 characters, after at most 64" : NULL;
}
static const char *field_after(const json_t *v)
{
    return strlen(json_string_value(v)) > 64 ? "q must be at most 254 characters, after at most 64" : NULL;
}

static const mb_field search_query[] = {
    {"q", MB_F_STRING, false, 0, 0, field_q, "at most 254 bytes"},
    {"limit", MB_F_STRING, false, 0, 0, field_limit, "integer 1..100"},
    {"after", MB_F_STRING, false, 0, 0, field_after, "username (at most 64 bytes)"},
    {"banned", MB_F_STRING, false, 0, 0, field_banned, "true|false"},
    {NULL},
};

/* q=, limit=, after=, banned=: search_query (an empty value counts as absent) */
static void route_admin_search(mb_http_req *r)
{
    const char *q = mb_http_query(r, "q"), *lim = mb_http_query(r, "limit");
    const char *after = mb_http_query(r, "after"), *banned = mb_http_query(r, "banned");
    int limit = lim && *lim ? (int)strtol(lim, NULL, 10) : 50;
    if (banned && !*banned) banned = NULL;
    if (q && !*q) q = NULL;
    char *esc = q ? like_escape(q) : NULL;
    char lims[16];
    snprintf(lims, sizeof lims, "%d", limit + 1);
    search_ctx *c = mb_calloc(1, sizeof *c);
    c->req = r;
    c->limit = limit;
    const char *p[] = {q, esc, after && *after ? after : NULL, banned, lims};
    mb_db_query(
        "SELECT id::text, username, display_name, email, " TS("created_at") ", " TS(
            "banned_at") " FROM accounts WHERE ($1::text IS NULL OR username ILIKE $2 || '%'"
                         "  OR display_name ILIKE '%' || $2 || '%' OR email ILIKE $2 || '%' OR id::text = lower($1))"
                         " AND ($3::text IS NULL OR username > $3)"
                         " AND ($4::text IS NULL OR (banned_at IS NOT NULL) = ($4 = 'true'))"
                         " ORDER BY username LIMIT $5::int",
        5, p, search_done, c);
    free(esc);
}

/* -------------------------------------------------------- one account */

typedef struct one_ctx {
    mb_http_req *req;
    char id[37];
} one_ctx;

static void add_socket(mb_session *s, void *ud)
{
    json_array_append_new((json_t *)ud, json_pack("{s:I,s:s,s:I}", "session_id", (json_int_t)mb_session_id(s),
                                                  "ip", mb_session_ip(s), "connected_at",
                                                  (json_int_t)mb_session_opened_wall_ms(s)));
}

#define ADMIN_ACCOUNT_COLS                                                                                                              \
    "a.id::text, a.username, a.display_name, a.metadata::text, a.email, " TS("a.created_at") ", " TS("a.updated_at") ", " TS(           \
        "a.banned_at") ", a.ban_reason, a.token_version,"                                                                               \
                       " (SELECT count(*) FROM account_devices d WHERE d.account_id = a.id),"                                           \
                       " (SELECT COALESCE(json_agg(json_build_object('created_at', " TS("t.created_at") ", 'expires_at', " TS(          \
                           "t.expires_at") ") ORDER BY t.created_at DESC), '[]')::text"                                                 \
                                           "  FROM (SELECT * FROM refresh_tokens t WHERE t.account_id = a.id AND t.revoked_at IS NULL"  \
                                           "        AND t.expires_at > now() ORDER BY t.created_at DESC LIMIT 20) t),"                  \
                                           " (SELECT count(*) FROM refresh_tokens t WHERE t.account_id = a.id AND t.revoked_at IS NULL" \
                                           "   AND t.expires_at > now())"

static void one_done(void *ud, const mb_db_result *res)
{
    one_ctx *c = ud;
    if (!res->ok) {
        mb_http_db_error(c->req, res, "username already taken");
        free(c);
        return;
    }
    PGresult *p = res->res;
    if (PQntuples(p) == 0) {
        mb_http_error(c->req, MB_E_NOT_FOUND, "no account '%s'", c->id);
        free(c);
        return;
    }
#define OPT(i) (PQgetisnull(p, 0, i) ? json_null() : json_string(PQgetvalue(p, 0, i)))
    json_t *meta = json_loads(PQgetvalue(p, 0, 3), 0, NULL);
    json_t *refresh = json_loads(PQgetvalue(p, 0, 11), 0, NULL);
    json_t *socks = json_array();
    mb_player_each_session(c->id, add_socket, socks);
    json_t *o = json_pack(
        "{s:s,s:s,s:o,s:o,s:o,s:s,s:s,s:b,s:o,s:o,s:i,s:i,s:b,s:o,s:o,s:i}", "player_id", PQgetvalue(p, 0, 0),
        "username", PQgetvalue(p, 0, 1), "display_name", OPT(2), "metadata", meta ? meta : json_object(),
        "email", OPT(4), "created_at", PQgetvalue(p, 0, 5), "updated_at", PQgetvalue(p, 0, 6), "banned",
        !PQgetisnull(p, 0, 7), "banned_at", OPT(7), "ban_reason", OPT(8), "token_version",
        atoi(PQgetvalue(p, 0, 9)), "devices", atoi(PQgetvalue(p, 0, 10)), "online",
        json_array_size(socks) > 0, "sockets", socks, "refresh_sessions", refresh ? refresh : json_array(),
        "active_refresh_tokens", atoi(PQgetvalue(p, 0, 12)));
#undef OPT
    mb_http_respond(c->req, 200, o);
    free(c);
}

static void route_admin_get(mb_http_req *r)
{
    one_ctx *c = mb_calloc(1, sizeof *c);
    c->req = r;
    if (route_id(r, c->id) != MB_OK) {
        free(c);
        return;
    }
    const char *p[] = {c->id};
    mb_db_query("SELECT " ADMIN_ACCOUNT_COLS " FROM accounts a WHERE a.id = $1::uuid", 1, p, one_done, c);
}

/* PATCH: display_name (string <= 64 characters, or null to clear) and
 * metadata (object <= 16 KiB as JSON, replaces the old one). */
static void route_admin_patch(mb_http_req *r)
{
    one_ctx *c = mb_calloc(1, sizeof *c);
    c->req = r;
    if (route_id(r, c->id) != MB_OK) {
        free(c);
        return;
    }
    /* types, sizes and unknown fields: admin_patch_fields; left here: at least one field */
    json_t *b = mb_http_body(r);
    const char *why = json_object_size(b) ? NULL : "JSON body with display_name and/or metadata required";
    json_t *dn = json_object_get(b, "display_name");
    json_t *meta = json_object_get(b, "metadata");
    char *meta_s = NULL;
    if (!why && meta && !json_is_null(meta)) why = account_check_metadata(meta, &meta_s);
    if (why) {
        free(c);
        mb_http_error(r, MB_E_BAD_REQUEST, "%s", why);
        return;
    }
    const char *p[] = {c->id, dn ? "1" : NULL, json_is_string(dn) ? json_string_value(dn) : NULL, meta_s};
    mb_db_query("WITH a AS (UPDATE accounts SET"
                " display_name = CASE WHEN $2::text IS NULL THEN display_name ELSE $3 END,"
                " metadata = COALESCE($4::jsonb, metadata), updated_at = now()"
                " WHERE id = $1::uuid RETURNING *)"
                " SELECT " ADMIN_ACCOUNT_COLS " FROM a",
                4, p, one_done, c);
    free(meta_s);
}

/* ------------------------------------------------------------ routes */

static const mb_field ban_fields[] = {
    {"reason", MB_F_STRING, false, 0, 256, NULL, NULL},
    {NULL},
};
/* display_name null clears it (a null field counts as absent for the check) */
static const mb_field admin_patch_fields[] = {
    {"display_name", MB_F_STRING, false, 0, 0, account_field_display_name, NULL},
    {"metadata", MB_F_ANY, false, 0, 0, account_field_metadata, "object of at most 16 KiB"},
    {NULL},
};

static const mb_route admin_routes[] = {
    {"GET", "/v1/admin/accounts", route_admin_search, MB_AUTH_ADMIN, false, NULL, 0, search_query},
    {"GET", "/v1/admin/accounts/{id}", route_admin_get, MB_AUTH_ADMIN, false},
    {"PATCH", "/v1/admin/accounts/{id}", route_admin_patch, MB_AUTH_ADMIN, false, admin_patch_fields,
     MB_BODY_CLOSED},
    {"DELETE", "/v1/admin/accounts/{id}", route_admin_delete, MB_AUTH_ADMIN, false},
    {"POST", "/v1/admin/accounts/{id}/ban", route_admin_ban, MB_AUTH_ADMIN, false, ban_fields,
     MB_BODY_CLOSED},
    {"POST", "/v1/admin/accounts/{id}/unban", route_admin_unban, MB_AUTH_ADMIN, false},
    {"POST", "/v1/admin/accounts/{id}/revoke", route_admin_revoke, MB_AUTH_ADMIN, false},
};

static mb_status admin_accounts_init(void) { return MB_OK; }
static void admin_accounts_destroy(void) {}

/* A module of its own so that account.c's route table stays one array. */
const mb_module account_admin_module = {
    .api = MB_MODULE_API,
    .name = "account_admin",
    .requires = MB_REQUIRES("match"),
    .init = admin_accounts_init,
    .destroy = admin_accounts_destroy,
    .routes = admin_routes,
    .n_routes = MB_ARRAY_LEN(admin_routes),
};

/* ----------------------------------------------------------- start-up */

/* Load the live revocations (blocking; start-up only, before the loop
 * serves, like the migrations). Also prunes expired tombstones. */
mb_status account_lifecycle_load(void)
{
    const char *keys[] = {"dbname", "connect_timeout", "application_name", NULL};
    const char *vals[] = {mb_cfg()->database_url, "5", "moonbase-revocations", NULL};
    PGconn *pg = PQconnectdbParams(keys, vals, 1);
    if (PQstatus(pg) != CONNECTION_OK) {
        char m[512];
        mb_error("revocations_load_failed", "error=%s", mb_log_quote(m, sizeof m, PQerrorMessage(pg)));
        PQfinish(pg);
        return MB_ERR;
    }
    PQclear(PQexec(pg, "DELETE FROM account_tombstones WHERE revoke_until < now()"));
    PGresult *res =
        PQexec(pg, "SELECT account_id::text, 3, 0, (extract(epoch FROM revoke_until) * 1000)::bigint"
                   " FROM account_tombstones"
                   " UNION ALL SELECT id::text, CASE WHEN banned_at IS NULL THEN 1 ELSE 2 END,"
                   "  token_version, (extract(epoch FROM tokens_revoked_until) * 1000)::bigint"
                   " FROM accounts WHERE tokens_revoked_until > now()");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        char m[512];
        mb_error("revocations_load_failed", "error=%s", mb_log_quote(m, sizeof m, PQresultErrorMessage(res)));
        PQclear(res);
        PQfinish(pg);
        return MB_ERR;
    }
    int n = PQntuples(res), loaded = 0;
    for (int i = 0; i < n; i++) {
        int st = atoi(PQgetvalue(res, i, 1));
        if (mb_token_block(PQgetvalue(res, i, 0),
                           st == 3   ? MB_TOKENS_DELETED
                           : st == 2 ? MB_TOKENS_BANNED
                                     : MB_TOKENS_REVOKED,
                           atoi(PQgetvalue(res, i, 2)), strtoll(PQgetvalue(res, i, 3), NULL, 10)) == MB_OK)
            loaded++;
    }
    PQclear(res);
    PQfinish(pg);
    mb_info("revocations_loaded", "entries=%d", loaded);
    if (loaded < n) {
        mb_error("revocations_load_failed", "rows=%d loaded=%d note=\"revocation table full\"", n, loaded);
        return MB_ERR;
    }
    return MB_OK;
}
