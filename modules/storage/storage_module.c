/*
 * storage_module.c - the storage module's face to the runtime: the module
 * record (its options, init and destroy of both halves below), the player
 * REST routes (/v1/storage...) and the admin REST routes
 * (/v1/admin/storage...) of the console.
 *
 * Not here: batch validation and the four operations (storage.c), the Lua
 * functions for scripts (storage_lua.c). This file sits on top of both:
 * storage_module.c -> storage_lua.c -> storage.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage.h"

enum { ADMIN_READ, ADMIN_WRITE, ADMIN_DELETE }; /* the one-object admin routes */

/* --------------------------------------------------------------- REST */

static void rest_done(void *ud, const storage_result *r)
{
    mb_http_req *req = ud;
    if (r->ok) mb_http_respond_json(req, 200, r->json, r->len);
    else mb_http_error(req, r->code, "%s", r->message);
}

static const mb_field write_fields[] = {
    {"objects", MB_F_ARRAY, true, 0, 0, NULL, NULL},
    {NULL},
};
static const mb_field ids_fields[] = {
    {"ids", MB_F_ARRAY, true, 0, 0, NULL, NULL},
    {NULL},
};

/* The items of the arrays are checked by storage_check_* (the table
 * declares only the arrays): batch size from configuration, members. */
static void route_write(mb_http_req *r)
{
    char err[512];
    json_t *b = storage_check_objects(json_object_get(mb_http_body(r), "objects"), mb_http_player(r),
                                      "objects", err, sizeof err);
    if (!b) {
        mb_http_error(r, MB_E_BAD_REQUEST, "%s", err);
        return;
    }
    storage_write(mb_http_player(r), b, rest_done, r);
    json_decref(b);
}

static void route_read(mb_http_req *r)
{
    char err[512];
    json_t *b =
        storage_check_ids(json_object_get(mb_http_body(r), "ids"), NULL, false, "ids", err, sizeof err);
    if (!b) {
        mb_http_error(r, MB_E_BAD_REQUEST, "%s", err);
        return;
    }
    /* A player reads its own objects (no owner_id) and anybody's public
     * ones, the server's included (owner_id null). */
    const json_t *ids = json_object_get(mb_http_body(r), "ids");
    for (size_t i = 0; i < json_array_size(b); i++)
        if (!json_object_get(json_array_get(ids, i), "owner_id"))
            json_object_set_new(json_array_get(b, i), "owner_id", json_string(mb_http_player(r)));
    storage_read(mb_http_player(r), b, rest_done, r);
    json_decref(b);
}

static void route_delete(mb_http_req *r)
{
    char err[512];
    json_t *b = storage_check_ids(json_object_get(mb_http_body(r), "ids"), mb_http_player(r), true, "ids",
                                  err, sizeof err);
    if (!b) {
        mb_http_error(r, MB_E_BAD_REQUEST, "%s", err);
        return;
    }
    storage_delete(mb_http_player(r), b, rest_done, r);
    json_decref(b);
}

static const char *field_owner(const json_t *v)
{
    const char *s = json_string_value(v);
    return strcmp(s, "server") == 0 || mb_uuid_valid(s) ? NULL
                                                        : "owner_id must be a player id (UUID) or 'server'";
}
static const char *field_limit(const json_t *v)
{
    const char *s = json_string_value(v);
    char *end = NULL;
    errno = 0;
    long n = strtol(s, &end, 10);
    return errno || *end || n < 1 || n > 100 ? "limit must be an integer 1..100" : NULL;
}
static const char *field_cursor(const json_t *v)
{
    const char *s = json_string_value(v);
    if (strlen(s) < 38 || s[36] != ':') return "cursor is not one this server returned";
    char u[37];
    memcpy(u, s, 36);
    u[36] = '\0';
    return mb_uuid_valid(u) ? NULL : "cursor is not one this server returned";
}
static const mb_field list_query[] = {
    {"owner_id", MB_F_STRING, false, 0, 36, field_owner, "uuid|server"},
    {"limit", MB_F_STRING, false, 0, 3, field_limit, "1..100"},
    {"cursor", MB_F_STRING, false, 0, 1024, field_cursor, "cursor"},
    {NULL},
};

static int query_limit(mb_http_req *r)
{
    const char *l = mb_http_query(r, "limit");
    return l && *l ? atoi(l) : 25;
}

/* GET /v1/storage/{collection}: owner_id= (default: the caller; 'server').
 * The admin route (admin true) lists every owner unless owner_id= and reads
 * as nobody in particular. */
static void list_route(mb_http_req *r, bool admin)
{
    const char *c = mb_http_param(r, 0);
    const char *why = storage_check_collection(c);
    if (why) {
        mb_http_error(r, MB_E_BAD_REQUEST, "%s", why);
        return;
    }
    const char *owner = mb_http_query(r, "owner_id");
    bool all = admin && (!owner || !*owner);
    if (!admin && (!owner || !*owner)) owner = mb_http_player(r);
    else if (!all && strcmp(owner, "server") == 0) owner = NULL;
    const char *cursor = mb_http_query(r, "cursor");
    storage_list(admin ? NULL : mb_http_player(r), c, all ? NULL : owner, all, query_limit(r),
                 cursor && *cursor ? cursor : NULL, rest_done, r);
}

static void route_list(mb_http_req *r) { list_route(r, false); }

/* ---- admin (console) */

static void collections_done(void *ud, const mb_db_result *res)
{
    mb_http_req *r = ud;
    if (!res->ok) {
        mb_http_db_error(r, res, NULL);
        return;
    }
    json_t *arr = json_array();
    for (int i = 0; i < PQntuples(res->res); i++)
        json_array_append_new(arr, json_pack("{s:s,s:I}", "collection", PQgetvalue(res->res, i, 0), "count",
                                             (json_int_t)strtoll(PQgetvalue(res->res, i, 1), NULL, 10)));
    mb_http_respond(r, 200, json_pack("{s:o}", "collections", arr));
}

static void route_admin_collections(mb_http_req *r)
{
    mb_db_query(
        "SELECT collection, count(*) FROM storage_objects GROUP BY collection ORDER BY collection LIMIT 1000",
        0, NULL, collections_done, r);
}

/* GET /v1/admin/storage/{collection}: every owner unless owner_id= */
static void route_admin_list(mb_http_req *r) { list_route(r, true); }

static const mb_field admin_obj_query[] = {
    {"owner_id", MB_F_STRING, false, 0, 36, field_owner, "uuid|server"},
    {"version", MB_F_STRING, false, 0, 64, NULL, NULL},
    {NULL},
};

/* The one-object batch of /v1/admin/storage/{collection}/{key}: path,
 * ?owner_id= (absent or 'server': the server's) and the body's fields. */
static json_t *admin_item(mb_http_req *r, bool with_body, char *err, size_t errlen)
{
    json_t *it = json_object();
    json_object_set_new(it, "collection", json_string(mb_http_param(r, 0)));
    json_object_set_new(it, "key", json_string(mb_http_param(r, 1)));
    const char *owner = mb_http_query(r, "owner_id");
    if (owner && *owner && strcmp(owner, "server") != 0)
        json_object_set_new(it, "owner_id", json_string(owner));
    const char *ver = mb_http_query(r, "version");
    if (ver && *ver) json_object_set_new(it, "version", json_string(ver));
    json_t *body = mb_http_body(r);
    if (with_body && body) json_object_update(it, body);
    json_t *arr = json_pack("[o]", it);
    json_t *b = with_body ? storage_check_objects(arr, NULL, "objects", err, errlen)
                          : storage_check_ids(arr, NULL, true, "ids", err, errlen);
    json_decref(arr);
    return b;
}

static const mb_field admin_put_fields[] = {
    {"value", MB_F_OBJECT, false, 0, 0, NULL, NULL}, /* required: storage_check_objects says so */
    {"version", MB_F_STRING, false, 1, 64, NULL, NULL},
    {"permission_read", MB_F_STRING, false, 0, 0, NULL, "none|owner|public"},
    {"permission_write", MB_F_STRING, false, 0, 0, NULL, "none|owner"},
    {NULL},
};

static void admin_with_item(mb_http_req *r, int kind)
{
    char err[512];
    json_t *b = admin_item(r, kind == ADMIN_WRITE, err, sizeof err);
    if (!b) {
        /* "objects[0]: x" -> "x" */
        const char *m = strstr(err, "]: ");
        mb_http_error(r, MB_E_BAD_REQUEST, "%s", m ? m + 3 : err);
        return;
    }
    if (kind == ADMIN_WRITE) storage_write(NULL, b, rest_done, r);
    else if (kind == ADMIN_DELETE) storage_delete(NULL, b, rest_done, r);
    else storage_read(NULL, b, rest_done, r);
    json_decref(b);
}

static void route_admin_get(mb_http_req *r) { admin_with_item(r, ADMIN_READ); }
static void route_admin_put(mb_http_req *r) { admin_with_item(r, ADMIN_WRITE); }
static void route_admin_delete(mb_http_req *r) { admin_with_item(r, ADMIN_DELETE); }

static const mb_field admin_get_query[] = {
    {"owner_id", MB_F_STRING, false, 0, 36, field_owner, "uuid|server"},
    {NULL},
};

static const mb_route routes[] = {
    {"PUT", "/v1/storage", route_write, MB_AUTH_BEARER, false, write_fields,
     MB_BODY_REQUIRED | MB_BODY_CLOSED},
    {"POST", "/v1/storage/read", route_read, MB_AUTH_BEARER, false, ids_fields,
     MB_BODY_REQUIRED | MB_BODY_CLOSED},
    {"POST", "/v1/storage/delete", route_delete, MB_AUTH_BEARER, false, ids_fields,
     MB_BODY_REQUIRED | MB_BODY_CLOSED},
    {"GET", "/v1/storage/{collection}", route_list, MB_AUTH_BEARER, false, NULL, 0, list_query},
    {"GET", "/v1/admin/storage", route_admin_collections, MB_AUTH_ADMIN, false},
    {"GET", "/v1/admin/storage/{collection}", route_admin_list, MB_AUTH_ADMIN, false, NULL, 0, list_query},
    {"GET", "/v1/admin/storage/{collection}/{key}", route_admin_get, MB_AUTH_ADMIN, false, NULL, 0,
     admin_get_query},
    {"PUT", "/v1/admin/storage/{collection}/{key}", route_admin_put, MB_AUTH_ADMIN, false, admin_put_fields,
     MB_BODY_CLOSED, admin_get_query},
    {"DELETE", "/v1/admin/storage/{collection}/{key}", route_admin_delete, MB_AUTH_ADMIN, false, NULL, 0,
     admin_obj_query},
};

/* ------------------------------------------------------------- module */

static mb_status storage_init(void)
{
    storage_ops_init();
    storage_lua_init();
    return MB_OK;
}

static void storage_destroy(void) { storage_lua_destroy(); }

const mb_module storage_module = {
    .api = MB_MODULE_API,
    .name = "storage",
    .requires = MB_REQUIRES("match"),
    .options = storage_options,
    .init = storage_init,
    .destroy = storage_destroy,
    .routes = routes,
    .n_routes = MB_ARRAY_LEN(routes),
};
