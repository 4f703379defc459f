/*
 * lb_rest.c - leaderboard REST routes and the module table
 * (docs/REST.md "Leaderboards", docs/LEADERBOARDS.md); the module's init
 * starts both halves: the Lua functions (lb_lua.c) and the boards
 * (leaderboard.c).
 *
 * Not here: the boards, the write queue and the hooks' work
 * (leaderboard.c), moonbase.leaderboard.* (lb_lua.c). This file sits on
 * top of both: lb_rest.c -> lb_lua.c -> leaderboard.c.
 *
 * Reads answer from memory at once. Writes (create, submit, reset) are
 * queued and answered once their batch committed (leaderboard.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb_internal.h"
#include "leaderboard.h"

/* ------------------------------------------------------------ checks */

static const char *field_id(const json_t *v) { return lb_check_id(json_string_value(v)); }
static const char *field_sort(const json_t *v)
{
    const char *s = json_string_value(v);
    return strcmp(s, "desc") == 0 || strcmp(s, "asc") == 0 ? NULL : "sort must be \"desc\" or \"asc\"";
}
static const char *field_operator(const json_t *v)
{
    return lb_op_parse(json_string_value(v)) < 0 ? "operator must be \"best\", \"set\" or \"incr\"" : NULL;
}
static const char *field_reset(const json_t *v)
{
    static char why[200];
    lb_cron c;
    char err[160];
    if (lb_cron_parse(json_string_value(v), &c, err, sizeof err) == MB_OK) return NULL;
    snprintf(why, sizeof why, "reset: %s", err); /* one loop thread: a static buffer is safe */
    return why;
}
static const char *field_metadata(const json_t *v) { return lb_check_metadata(v); }
static const char *field_uuid(const json_t *v)
{
    return mb_uuid_valid(json_string_value(v)) ? NULL : "owner_id must be a player id (UUID)";
}
static const char *field_count(const json_t *v)
{
    const char *s = json_string_value(v);
    char *end = NULL;
    errno = 0;
    long long n = strtoll(s, &end, 10);
    return errno || *end || n < 0 || n > 1000000000 ? "must be a non-negative integer" : NULL;
}

#define SCORE_MIN (-9007199254740992.0)
#define SCORE_MAX 9007199254740992.0

static long long query_num(mb_http_req *r, const char *name, long long def, long long max)
{
    const char *v = mb_http_query(r, name);
    if (!v || !*v) return def;
    long long n = strtoll(v, NULL, 10); /* declared: a non-negative integer */
    return n > max ? max : n;
}

/* The player id of path segment 1, lower-cased into low, or answer 400. */
static mb_status path_owner(mb_http_req *r, char low[37])
{
    const char *owner = mb_http_param(r, 1);
    if (!mb_uuid_valid(owner)) {
        mb_http_error(r, MB_E_BAD_REQUEST, "owner_id must be a player id (UUID)");
        return MB_ERR;
    }
    mb_uuid_lower(owner, low);
    return MB_OK;
}

/* The board of path segment 0, or answer 404. */
static lb_board *path_board(mb_http_req *r)
{
    const char *id = mb_http_param(r, 0);
    lb_board *b = lb_board_get(id);
    if (!b) mb_http_error(r, MB_E_NOT_FOUND, "no leaderboard '%s'", lb_check_id(id) ? "?" : id);
    return b;
}

/* -------------------------------------------------------------- admin */

static const mb_field create_fields[] = {
    {"id", MB_F_STRING, true, 0, 0, field_id, "1..64 of A-Z a-z 0-9 _ . : -"},
    {"sort", MB_F_STRING, false, 0, 0, field_sort, "desc|asc"},
    {"operator", MB_F_STRING, false, 0, 0, field_operator, "best|set|incr"},
    {"reset", MB_F_STRING, false, 1, 128, field_reset, "cron"},
    {"client_submit", MB_F_BOOL, false},
    {"metadata", MB_F_OBJECT, false, 0, 0, field_metadata, "object of at most 4096 bytes of JSON"},
    {NULL},
};

/* Every field: create_fields. Idempotent: an existing id answers 200 with
 * the board as it is (created: false), a new one 201. */
static void route_create(mb_http_req *r)
{
    if (!lb_board_get(json_string_value(json_object_get(mb_http_body(r), "id"))) &&
        lb_board_count() >= LB_MAX_BOARDS) {
        mb_http_error(r, MB_E_CONFLICT, "at most %d leaderboards", LB_MAX_BOARDS);
        return;
    }
    lb_create_rest(r, NULL);
}

static void route_admin_list(mb_http_req *r)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < lb_board_count(); i++) {
        lb_board *b = lb_board_get(lb_board_at(i)->id);
        json_array_append_new(arr, lb_board_json(b));
    }
    mb_http_respond(r, 200, json_pack("{s:o}", "leaderboards", arr));
}

static void route_reset(mb_http_req *r)
{
    if (path_board(r)) lb_reset_rest(r, mb_http_param(r, 0));
}

static const mb_field clock_fields[] = {
    {"offset_ms", MB_F_INTEGER, true, -3.2e11, 3.2e11},
    {NULL},
};

/* Development mode only (403 in production, before the body matters). */
static void route_clock(mb_http_req *r)
{
    if (mb_config_production(mb_cfg())) {
        mb_http_error(r, MB_E_FORBIDDEN, "the leaderboard clock can only be moved in development mode");
        return;
    }
    lb_set_clock_offset((int64_t)json_integer_value(json_object_get(mb_http_body(r), "offset_ms")));
    for (size_t i = 0; i < lb_board_count(); i++) lb_board_get(lb_board_at(i)->id); /* due resets now */
    char now[32];
    lb_iso(lb_now_ms(), now);
    mb_info("leaderboard_clock", "offset_ms=%lld", (long long)lb_clock_offset());
    mb_http_respond(r, 200, json_pack("{s:I,s:s}", "offset_ms", (json_int_t)lb_clock_offset(), "now", now));
}

static const mb_field admin_submit_fields[] = {
    {"owner_id", MB_F_STRING, true, 0, 0, field_uuid, "uuid"},
    {"score", MB_F_INTEGER, true, SCORE_MIN, SCORE_MAX},
    {"subscore", MB_F_INTEGER, false, SCORE_MIN, SCORE_MAX},
    {"username", MB_F_STRING, false, 1, 64},
    {"metadata", MB_F_OBJECT, false, 0, 0, field_metadata, "object of at most 4096 bytes of JSON"},
    {NULL},
};

static void submit(mb_http_req *r, const char *owner, const char *username)
{
    json_t *body = mb_http_body(r);
    lb_submit s = {.username = username,
                   .score = json_integer_value(json_object_get(body, "score")),
                   .subscore = json_integer_value(json_object_get(body, "subscore")),
                   .metadata = json_object_get(body, "metadata")};
    mb_uuid_lower(owner, s.owner);
    lb_submit_rest(r, mb_http_param(r, 0), &s);
}

/* Every field: admin_submit_fields. Authoritative: any board, any owner. */
static void route_admin_submit(mb_http_req *r)
{
    if (!path_board(r)) return;
    json_t *body = mb_http_body(r);
    submit(r, json_string_value(json_object_get(body, "owner_id")),
           json_string_value(json_object_get(body, "username")));
}

/* ------------------------------------------------------------- client */

static const mb_field client_submit_fields[] = {
    {"score", MB_F_INTEGER, true, SCORE_MIN, SCORE_MAX},
    {"subscore", MB_F_INTEGER, false, SCORE_MIN, SCORE_MAX},
    {"metadata", MB_F_OBJECT, false, 0, 0, field_metadata, "object of at most 4096 bytes of JSON"},
    {NULL},
};

/* Every field: client_submit_fields; the board must allow client submits
 * (403 otherwise). */
static void route_submit(mb_http_req *r)
{
    lb_board *b = path_board(r);
    if (!b) return;
    if (!b->client_submit) {
        mb_http_error(r, MB_E_FORBIDDEN, "leaderboard '%s' takes scores from the server only", b->id);
        return;
    }
    submit(r, mb_http_player(r), mb_http_username(r));
}

static void route_list(mb_http_req *r) { route_admin_list(r); }

static const mb_field top_query[] = {
    {"limit", MB_F_STRING, false, 0, 12, field_count, "integer"},
    {"cursor", MB_F_STRING, false, 0, 200},
    {"period", MB_F_STRING, false, 0, 12, field_count, "integer"},
    {"offset", MB_F_STRING, false, 0, 12, field_count, "integer"},
    {NULL},
};

/* The top from a cursor; ?period=N (a closed period) reads the archive
 * from PostgreSQL instead, paged with ?offset=. */
static void route_top(mb_http_req *r)
{
    lb_board *b = path_board(r);
    if (!b) return;
    long long limit = query_num(r, "limit", 10, LB_READ_MAX);
    if (limit < 1) limit = 1;
    const char *period = mb_http_query(r, "period");
    if (period && *period && atoi(period) != b->period) {
        lb_read_archive(r, b, atoi(period), (size_t)limit, (size_t)query_num(r, "offset", 0, 1000000000));
        return;
    }
    char err[128];
    size_t len;
    char *text = lb_read_top(b, (size_t)limit, mb_http_query(r, "cursor"), &len, err, sizeof err);
    if (!text) mb_http_error(r, MB_E_BAD_REQUEST, "%s", err);
    else mb_http_respond_json(r, 200, text, len);
    free(text);
}

static const mb_field around_query[] = {
    {"n", MB_F_STRING, false, 0, 12, field_count, "integer"},
    {NULL},
};

static void route_around(mb_http_req *r)
{
    lb_board *b = path_board(r);
    if (!b) return;
    char low[37];
    if (path_owner(r, low) != MB_OK) return;
    size_t len;
    char *text = lb_read_around(b, low, (size_t)query_num(r, "n", 25, 50), &len);
    mb_http_respond_json(r, 200, text, len);
    free(text);
}

static const char *field_owner_ids(const json_t *v)
{
    const char *p = json_string_value(v);
    int n = 0;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        char one[37];
        if (len != 36) return "owner_ids must be a comma list of 1..100 player ids (UUIDs)";
        memcpy(one, p, 36);
        one[36] = '\0';
        if (!mb_uuid_valid(one) || ++n > 100)
            return "owner_ids must be a comma list of 1..100 player ids (UUIDs)";
        p = e ? e + 1 : p + len;
    }
    return NULL;
}

static const mb_field owners_query[] = {
    {"owner_ids", MB_F_STRING, true, 0, 100 * 37, field_owner_ids, "comma list of uuid"},
    {NULL},
};

/* ?owner_ids=a,b,c (at most 100): their records with ranks, best first
 * (a friends leaderboard). */
static void route_owners(mb_http_req *r)
{
    lb_board *b = path_board(r);
    if (!b) return;
    const char *list = mb_http_query(r, "owner_ids");
    json_t *ids = json_array();
    const char *p = list;
    while (p && *p) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        char one[40];
        if (n != 36 || (memcpy(one, p, 36), one[36] = '\0', !mb_uuid_valid(one))) {
            json_decref(ids);
            mb_http_error(r, MB_E_BAD_REQUEST, "owner_ids must be a comma list of player ids (UUIDs)");
            return;
        }
        if (json_array_size(ids) >= 100) {
            json_decref(ids);
            mb_http_error(r, MB_E_BAD_REQUEST, "at most 100 owner_ids");
            return;
        }
        json_array_append_new(ids, json_string(one));
        p = e ? e + 1 : p + n;
    }
    size_t len;
    char *text = lb_read_owners(b, ids, &len);
    json_decref(ids);
    mb_http_respond_json(r, 200, text, len);
    free(text);
}

static void route_rank(mb_http_req *r)
{
    lb_board *b = path_board(r);
    if (!b) return;
    char low[37];
    if (path_owner(r, low) != MB_OK) return;
    lb_record *rec = lb_find(b, low);
    if (!rec) {
        mb_http_error(r, MB_E_NOT_FOUND, "no record of %s in this period of '%s'", low, b->id);
        return;
    }
    json_t *o = json_object();
    json_object_set_new(o, "leaderboard", lb_board_json(b));
    json_object_set_new(o, "next_reset",
                        json_incref(json_object_get(json_object_get(o, "leaderboard"), "next_reset")));
    json_object_set_new(o, "record", lb_record_json(rec));
    mb_http_respond(r, 200, o);
}

/* ------------------------------------------------------------- module */

static const mb_route routes[] = {
    {"POST", "/v1/admin/leaderboards", route_create, MB_AUTH_ADMIN, false, create_fields,
     MB_BODY_REQUIRED | MB_BODY_CLOSED},
    {"GET", "/v1/admin/leaderboards", route_admin_list, MB_AUTH_ADMIN, false},
    {"PUT", "/v1/admin/leaderboards/clock", route_clock, MB_AUTH_ADMIN, false, clock_fields,
     MB_BODY_REQUIRED | MB_BODY_CLOSED},
    {"POST", "/v1/admin/leaderboards/{id}/reset", route_reset, MB_AUTH_ADMIN, false},
    {"POST", "/v1/admin/leaderboards/{id}/records", route_admin_submit, MB_AUTH_ADMIN, false,
     admin_submit_fields, MB_BODY_REQUIRED | MB_BODY_CLOSED},
    {"GET", "/v1/admin/leaderboards/{id}", route_top, MB_AUTH_ADMIN, false, NULL, 0, top_query},
    {"GET", "/v1/admin/leaderboards/{id}/around/{owner_id}", route_around, MB_AUTH_ADMIN, false, NULL, 0,
     around_query},
    {"GET", "/v1/leaderboards", route_list, MB_AUTH_BEARER, false},
    {"GET", "/v1/leaderboards/{id}", route_top, MB_AUTH_BEARER, false, NULL, 0, top_query},
    {"POST", "/v1/leaderboards/{id}/records", route_submit, MB_AUTH_BEARER, false, client_submit_fields,
     MB_BODY_REQUIRED | MB_BODY_CLOSED},
    {"GET", "/v1/leaderboards/{id}/records", route_owners, MB_AUTH_BEARER, false, NULL, 0, owners_query},
    {"GET", "/v1/leaderboards/{id}/records/{owner_id}", route_rank, MB_AUTH_BEARER, false},
    {"GET", "/v1/leaderboards/{id}/around/{owner_id}", route_around, MB_AUTH_BEARER, false, NULL, 0,
     around_query},
};

/* The two halves: the Lua functions (lb_lua.c) only register with the
 * match module here, so they need nothing of the boards yet. */
static mb_status leaderboard_init(void)
{
    lb_lua_init();
    return lb_init();
}

const mb_module leaderboard_module = {
    .api = MB_MODULE_API,
    .name = "leaderboard",
    .requires = MB_REQUIRES("match"),
    .init = leaderboard_init,
    .shutdown = lb_shutdown,
    .destroy = lb_destroy,
    .routes = routes,
    .n_routes = MB_ARRAY_LEN(routes),
    .before_sleep = lb_before_sleep,
};
