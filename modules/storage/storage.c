/*
 * storage.c - storage objects: batch validation, the four operations
 * (each one SQL statement, so one transaction), their options and
 * metrics. The rules (permissions, conditional writes) are in the SQL
 * functions of migrations/0008_storage.sql and docs/STORAGE.md.
 *
 * Not here: the module record and the REST routes (storage_module.c), the
 * Lua functions (storage_lua.c); both build on this file, which calls
 * neither.
 */
#include "storage.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

#define NIL_UUID "00000000-0000-0000-0000-000000000000"
#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
/* One stored object as JSON text (read and list). */
#define OBJ_JSON                                                                                              \
    "jsonb_build_object('collection', s.collection, 'key', s.key, 'owner_id', s.owner_id, 'value', s.value, " \
    "'version', s.version, 'permission_read', (ARRAY['none','owner','public'])[s.permission_read + 1], "      \
    "'permission_write', (ARRAY['none','owner'])[s.permission_write + 1], 'created_at', " TS(                 \
        "s.created_at") ", 'updated_at', " TS("s.updated_at") ")::text"
/* Who may read a row: $1 the caller, NULL = the server. */
#define READABLE \
    "($1::uuid IS NULL OR s.permission_read = 2 OR (s.permission_read = 1 AND s.owner_id = $1::uuid))"

static double *m_ops[4], *m_conflicts;
/* Options storage-max-value-bytes and storage-max-batch (table at the end). */
static int storage_max_value_bytes = 65536, storage_max_batch = 100;
enum { OP_WRITE, OP_READ, OP_LIST, OP_DELETE };

/* ------------------------------------------------------------ checks */

const char *storage_check_collection(const char *s)
{
    size_t n = mb_utf8_len(s, strlen(s));
    if (n < 1 || n > STORAGE_NAME_MAX) return "collection must be 1..128 characters";
    for (const char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("_.:-", *p))
            return "collection may contain only letters, digits, '_', '.', ':' and '-'";
    return NULL;
}

static const char *check_key(const char *s, size_t bytes)
{
    if (strlen(s) != bytes) return "key must not contain NUL";
    size_t n = mb_utf8_len(s, strlen(s));
    if (n < 1 || n > STORAGE_NAME_MAX) return "key must be 1..128 characters";
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) return "key must not contain control characters";
    return NULL;
}

static const char *const read_names[] = {"none", "owner", "public"};
static const char *const write_names[] = {"none", "owner"};

static int perm_parse(const json_t *v, const char *const *names, int n)
{
    const char *s = json_string_value(v);
    for (int i = 0; s && i < n; i++)
        if (strcmp(s, names[i]) == 0) return i;
    return -1;
}

static bool is_member(const char *k, const char *const *names)
{
    for (; *names; names++)
        if (strcmp(k, *names) == 0) return true;
    return false;
}

/* The owner an item names: its owner_id for the server (absent/null = the
 * server's own), the caller for a player (who may name only itself).
 * out: "" for the server. Returns NULL or the reason. */
static const char *item_owner(const json_t *item, const char *caller, char out[37])
{
    const json_t *o = json_object_get(item, "owner_id");
    out[0] = '\0';
    if (o && !json_is_null(o)) {
        if (!json_is_string(o) || !mb_uuid_valid(json_string_value(o)))
            return "owner_id must be a player id (UUID) or null";
        const char *s = json_string_value(o);
        mb_uuid_lower(s, out);
        if (caller && strcasecmp(out, caller) != 0)
            return "owner_id: a player reaches only its own objects here";
    } else if (caller) {
        mb_uuid_lower(caller, out);
        if (o && json_is_null(o)) return "owner_id: a player reaches only its own objects here";
    }
    return NULL;
}

static const char *check_version(const json_t *v, bool star)
{
    if (!json_is_string(v)) return "version must be a string";
    size_t n = json_string_length(v);
    if (n < 1 || n > 64) return "version must be 1..64 characters";
    if (!star && strcmp(json_string_value(v), "*") == 0) return "version \"*\" is for writes only";
    return NULL;
}

/* Common part of an item: collection, key, owner; adds them to out. */
static const char *check_ident(const json_t *item, const char *caller, json_t *out)
{
    const json_t *c = json_object_get(item, "collection"), *k = json_object_get(item, "key");
    if (!c) return "missing field 'collection'";
    if (!json_is_string(c)) return "collection must be a string";
    const char *why = storage_check_collection(json_string_value(c));
    if (why) return why;
    if (!k) return "missing field 'key'";
    if (!json_is_string(k)) return "key must be a string";
    if ((why = check_key(json_string_value(k), json_string_length(k)))) return why;
    char owner[37];
    if ((why = item_owner(item, caller, owner))) return why;
    json_object_set(out, "collection", (json_t *)c);
    json_object_set(out, "key", (json_t *)k);
    json_object_set_new(out, "owner_id", owner[0] ? json_string(owner) : json_null());
    return NULL;
}

/* Nesting of a JSON value (a scalar is 0, {} is 1). */
static int depth_of(const json_t *v)
{
    int d = 0;
    if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach ((json_t *)v, k, x) {
            int c = depth_of(x);
            if (c > d) d = c;
        }
        return d + 1;
    }
    for (size_t i = 0; json_is_array(v) && i < json_array_size(v); i++) {
        int c = depth_of(json_array_get(v, i));
        if (c > d) d = c;
    }
    return json_is_array(v) ? d + 1 : 0;
}

/* Two items naming the same object? */
static bool same_object(const json_t *a, const json_t *b)
{
    const json_t *oa = json_object_get(a, "owner_id"), *ob = json_object_get(b, "owner_id");
    return json_equal(json_object_get(a, "collection"), json_object_get(b, "collection")) &&
           json_equal(json_object_get(a, "key"), json_object_get(b, "key")) && json_equal(oa, ob);
}

static json_t *check_batch(const json_t *arr, const char *caller, const char *what, bool objects,
                           bool versions, char *err, size_t errlen)
{
    static const char *const obj_fields[] = {
        "collection", "key", "owner_id", "value", "version", "permission_read", "permission_write", NULL};
    static const char *const id_fields[] = {"collection", "key", "owner_id", "version", NULL};
    const char *const *fields = objects ? obj_fields : id_fields;
    int max = storage_max_batch;
    size_t maxv = (size_t)storage_max_value_bytes;
    if (!json_is_array(arr)) {
        snprintf(err, errlen, "%s must be an array", what);
        return NULL;
    }
    size_t n = json_array_size(arr);
    if (n < 1 || n > (size_t)max) {
        snprintf(err, errlen, "%s must hold 1..%d items (--storage-max-batch), not %zu", what, max, n);
        return NULL;
    }
    json_t *out = json_array();
    for (size_t i = 0; i < n; i++) {
        const json_t *item = json_array_get(arr, i);
        const char *why = NULL;
        char buf[200];
        json_t *o = json_object();
        json_array_append_new(out, o);
        if (!json_is_object(item)) {
            why = "must be an object";
            goto bad;
        }
        const char *k;
        json_t *v;
        json_object_foreach ((json_t *)item, k, v) {
            if (!is_member(k, fields) || (!versions && strcmp(k, "version") == 0)) {
                snprintf(buf, sizeof buf, "unknown field '%.64s' (%s)", k,
                         objects
                             ? "collection, key, owner_id, value, version, permission_read, permission_write"
                         : versions ? "collection, key, owner_id, version"
                                    : "collection, key, owner_id");
                why = buf;
                goto bad;
            }
        }
        if ((why = check_ident(item, caller, o))) goto bad;
        const json_t *ver = json_object_get(item, "version");
        if (ver && !json_is_null(ver)) {
            if ((why = check_version(ver, objects))) goto bad;
            json_object_set(o, "version", (json_t *)ver);
        }
        if (objects) {
            const json_t *val = json_object_get(item, "value");
            if (!val) {
                why = "missing field 'value'";
                goto bad;
            }
            if (!json_is_object(val)) {
                why = "value must be a JSON object";
                goto bad;
            }
            char *text = json_dumps(val, JSON_COMPACT);
            size_t len = text ? strlen(text) : 0;
            free(text);
            if (len > maxv) {
                snprintf(buf, sizeof buf,
                         "value is %zu bytes of JSON, over the limit of %zu (--storage-max-value-bytes)", len,
                         maxv);
                why = buf;
                goto bad;
            }
            if (depth_of(val) > STORAGE_VALUE_DEPTH) {
                snprintf(buf, sizeof buf, "value is nested deeper than %d levels", STORAGE_VALUE_DEPTH);
                why = buf;
                goto bad;
            }
            json_object_set(o, "value", (json_t *)val);
            const json_t *pr = json_object_get(item, "permission_read");
            const json_t *pw = json_object_get(item, "permission_write");
            int r = 1, w = 1;
            if (pr && (r = perm_parse(pr, read_names, 3)) < 0) {
                why = "permission_read must be \"none\", \"owner\" or \"public\"";
                goto bad;
            }
            if (pw && (w = perm_parse(pw, write_names, 2)) < 0) {
                why = "permission_write must be \"none\" or \"owner\"";
                goto bad;
            }
            json_object_set_new(o, "permission_read", json_integer(r));
            json_object_set_new(o, "permission_write", json_integer(w));
        }
        for (size_t j = 0; j < i; j++)
            if (same_object(json_array_get(out, j), o)) {
                snprintf(buf, sizeof buf, "names the same object as %s[%zu]", what, j);
                why = buf;
                goto bad;
            }
        continue;
    bad:
        snprintf(err, errlen, "%s[%zu]: %s", what, i, why);
        json_decref(out);
        return NULL;
    }
    return out;
}

json_t *storage_check_objects(const json_t *objects, const char *caller, const char *what, char *err,
                              size_t errlen)
{
    return check_batch(objects, caller, what, true, true, err, errlen);
}

json_t *storage_check_ids(const json_t *ids, const char *caller, bool versions, const char *what, char *err,
                          size_t errlen)
{
    return check_batch(ids, caller, what, false, versions, err, errlen);
}

/* -------------------------------------------------------- operations */

typedef struct op {
    int kind;
    storage_cb cb;
    void *ud;
    json_t *batch; /* write/delete: to name the refused item */
    int limit;     /* list */
} op;

static op *op_new(int kind, storage_cb cb, void *ud, const json_t *batch)
{
    op *o = mb_calloc(1, sizeof *o);
    o->kind = kind;
    o->cb = cb;
    o->ud = ud;
    o->batch = batch ? json_incref((json_t *)batch) : NULL;
    *m_ops[kind] += 1;
    return o;
}

static bool op_retry; /* set by op_db_error around op_fail: the failure may pass on a retry */

static void op_fail(op *o, mb_errcode code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void op_fail(op *o, mb_errcode code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    storage_result r = {.ok = false, .retry = op_retry, .code = code, .message = msg};
    op_retry = false;
    o->cb(o->ud, &r);
    json_decref(o->batch);
    free(o);
}

static void op_ok(op *o, const char *json, size_t len)
{
    storage_result r = {.ok = true, .json = json, .len = len};
    o->cb(o->ud, &r);
    json_decref(o->batch);
    free(o);
}

/* A failed statement: unavailable, a concurrent create, or a bug. */
static void op_db_error(op *o, const mb_db_result *res)
{
    if (res->code == MB_E_UNAVAILABLE) {
        op_retry = true;
        /* a statement cut off either committed whole or not at all */
        op_fail(o, MB_E_UNAVAILABLE, "database unavailable; retry shortly (a batch is never half written)");
    } else if (strcmp(res->sqlstate, "40P01") == 0 || strcmp(res->sqlstate, "40001") == 0) {
        /* two batches locking the same objects in opposite orders */
        *m_conflicts += 1;
        op_retry = true;
        op_fail(o, MB_E_CONFLICT, "a concurrent batch held the same objects; nothing was written, retry");
    } else if (strcmp(res->sqlstate, "23505") == 0) {
        *m_conflicts += 1;
        op_retry = true; /* a write without a version passes the second time */
        op_fail(o, MB_E_CONFLICT,
                "an object of the batch was created by another write at the same time; "
                "nothing was written");
    } else if (strcmp(res->sqlstate, "23503") == 0)
        op_fail(o, MB_E_BAD_REQUEST, "owner_id names no player; nothing was written");
    else op_fail(o, MB_E_INTERNAL, "internal error");
}

static const char *col(const mb_db_result *res, int row, int i)
{
    return PQgetisnull(res->res, row, i) ? NULL : PQgetvalue(res->res, row, i);
}

/* "objects[2] (collection/key)" */
static void name_item(const op *o, int idx, const char *what, char *out, size_t cap)
{
    const json_t *it = json_array_get(o->batch, (size_t)idx);
    snprintf(out, cap, "%s[%d] (%.128s/%.128s)", what, idx,
             json_string_value(json_object_get(it, "collection")),
             json_string_value(json_object_get(it, "key")));
}

static void write_done(void *ud, const mb_db_result *res)
{
    op *o = ud;
    if (!res->ok) {
        op_db_error(o, res);
        return;
    }
    int n = PQntuples(res->res);
    const char *outcome = n > 0 ? col(res, 0, 0) : NULL;
    if (outcome && strcmp(outcome, "ok") != 0) {
        int idx = atoi(col(res, 0, 1));
        char name[300];
        name_item(o, idx, "objects", name, sizeof name);
        const json_t *it = json_array_get(o->batch, (size_t)idx);
        const char *want = json_string_value(json_object_get(it, "version"));
        if (strcmp(outcome, "forbidden") == 0)
            op_fail(o, MB_E_FORBIDDEN,
                    "%s: permission_write is none (only the server may change it); nothing was written",
                    name);
        else {
            *m_conflicts += 1;
            if (want && strcmp(want, "*") == 0)
                op_fail(o, MB_E_CONFLICT,
                        "%s: the object already exists (version \"*\"); nothing was written", name);
            else
                op_fail(o, MB_E_CONFLICT, "%s: version mismatch (the object %s); nothing was written", name,
                        col(res, 0, 5) ? "has another version" : "does not exist");
        }
        return;
    }
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) {
        const char *owner = col(res, i, 4);
        json_array_append_new(
            arr, json_pack("{s:s,s:s,s:o,s:s,s:s,s:s}", "collection", col(res, i, 2), "key", col(res, i, 3),
                           "owner_id", owner ? json_string(owner) : json_null(), "version", col(res, i, 5),
                           "created_at", col(res, i, 6), "updated_at", col(res, i, 7)));
    }
    json_t *body = json_pack("{s:o}", "objects", arr);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    op_ok(o, text, strlen(text));
    free(text);
}

void storage_write(const char *caller, const json_t *batch, storage_cb cb, void *ud)
{
    op *o = op_new(OP_WRITE, cb, ud, batch);
    char *text = json_dumps(batch, JSON_COMPACT);
    const char *p[] = {caller, text};
    mb_db_query("SELECT outcome, idx, o_collection, o_key, o_owner_id::text, o_version, " TS(
                    "o_created_at") ", " TS("o_updated_at") " FROM storage_write($1::uuid, $2::jsonb)",
                2, p, write_done, o);
    free(text);
}

/* Rows of one JSON object each (column 0) -> {"objects":[...]} (+ cursor). */
static void objects_done(void *ud, const mb_db_result *res)
{
    op *o = ud;
    if (!res->ok) {
        op_db_error(o, res);
        return;
    }
    int n = PQntuples(res->res);
    bool more = o->kind == OP_LIST && n > o->limit;
    if (more) n = o->limit;
    mb_buf b = MB_BUF_INIT;
    mb_buf_puts(&b, "{\"objects\":[");
    for (int i = 0; i < n; i++) {
        if (i) mb_buf_puts(&b, ",");
        mb_buf_puts(&b, PQgetvalue(res->res, i, 0));
    }
    mb_buf_puts(&b, "]");
    if (o->kind == OP_LIST) {
        mb_buf_puts(&b, ",\"cursor\":");
        if (more) { /* the last object returned: <owner uuid>:<key> */
            char *c = mb_sprintf("%s:%s", PQgetvalue(res->res, n - 1, 1), PQgetvalue(res->res, n - 1, 2));
            json_t *s = json_string(c);
            char *t = json_dumps(s, JSON_ENCODE_ANY);
            mb_buf_puts(&b, t);
            free(t);
            json_decref(s);
            free(c);
        } else mb_buf_puts(&b, "null");
    }
    mb_buf_puts(&b, "}");
    op_ok(o, b.data, b.len);
    mb_buf_free(&b);
}

void storage_read(const char *caller, const json_t *batch, storage_cb cb, void *ud)
{
    op *o = op_new(OP_READ, cb, ud, NULL);
    char *text = json_dumps(batch, JSON_COMPACT);
    const char *p[] = {caller, text};
    mb_db_query("SELECT " OBJ_JSON " FROM jsonb_array_elements($2::jsonb) WITH ORDINALITY AS t(e, n)"
                " JOIN storage_objects s ON s.collection = t.e->>'collection' AND s.key = t.e->>'key'"
                " AND s.owner_key = coalesce((t.e->>'owner_id')::uuid, '" NIL_UUID "'::uuid)"
                " WHERE " READABLE " ORDER BY t.n",
                2, p, objects_done, o);
    free(text);
}

void storage_list(const char *caller, const char *collection, const char *owner, bool all_owners, int limit,
                  const char *cursor, storage_cb cb, void *ud)
{
    op *o = op_new(OP_LIST, cb, ud, NULL);
    o->limit = limit;
    char after_owner[37] = NIL_UUID;
    const char *after_key = "";
    if (cursor && strlen(cursor) > 37 && cursor[36] == ':') {
        memcpy(after_owner, cursor, 36);
        after_key = cursor + 37;
    }
    char lim[16];
    snprintf(lim, sizeof lim, "%d", limit + 1);
    const char *p[] = {caller, collection, owner, all_owners ? "t" : "f", after_owner, after_key, lim};
    mb_db_query("SELECT " OBJ_JSON ", s.owner_key::text, s.key FROM storage_objects s"
                " WHERE s.collection = $2 AND ($4::bool OR s.owner_key = coalesce($3::uuid, '" NIL_UUID
                "'::uuid))"
                " AND (s.owner_key, s.key) > ($5::uuid, $6::text) AND " READABLE
                " ORDER BY s.owner_key, s.key LIMIT $7::int",
                7, p, objects_done, o);
}

static void delete_done(void *ud, const mb_db_result *res)
{
    op *o = ud;
    if (!res->ok) {
        op_db_error(o, res);
        return;
    }
    const char *outcome = PQntuples(res->res) > 0 ? col(res, 0, 0) : NULL;
    if (!outcome) {
        op_fail(o, MB_E_INTERNAL, "internal error");
        return;
    }
    if (strcmp(outcome, "ok") != 0) {
        char name[300];
        name_item(o, atoi(col(res, 0, 1)), "ids", name, sizeof name);
        if (strcmp(outcome, "forbidden") == 0)
            op_fail(o, MB_E_FORBIDDEN,
                    "%s: permission_write is none (only the server may delete it); nothing was deleted",
                    name);
        else {
            *m_conflicts += 1;
            op_fail(o, MB_E_CONFLICT,
                    "%s: version mismatch (the object changed or does not exist); nothing was deleted", name);
        }
        return;
    }
    char body[64];
    int len = snprintf(body, sizeof body, "{\"deleted\":%s}", col(res, 0, 2));
    op_ok(o, body, (size_t)len);
}

void storage_delete(const char *caller, const json_t *batch, storage_cb cb, void *ud)
{
    op *o = op_new(OP_DELETE, cb, ud, batch);
    char *text = json_dumps(batch, JSON_COMPACT);
    const char *p[] = {caller, text};
    mb_db_query("SELECT outcome, idx, deleted FROM storage_delete($1::uuid, $2::jsonb)", 2, p, delete_done,
                o);
    free(text);
}

/* --------------------------------------------------------- options */

/* Options of this module (moonbase --help, MOONBASE_STORAGE_*, config
 * keys); the module record (storage_module.c) hands them to the runtime. */
const mb_option storage_options[] = {
    {"storage-max-value-bytes", MB_OPT_I(storage_max_value_bytes), "65536", 2, 1048576,
     "largest storage object value (JSON bytes); see docs/STORAGE.md"},
    {"storage-max-batch", MB_OPT_I(storage_max_batch), "100", 1, 1000,
     "storage objects per read/write/delete batch"},
    {NULL},
};

void storage_ops_init(void)
{
    static const char *const names[] = {"write", "read", "list", "delete"};
    for (int i = 0; i < 4; i++) {
        char labels[32];
        snprintf(labels, sizeof labels, "op=\"%s\"", names[i]);
        m_ops[i] = mb_metric("moonbase_storage_ops_total", labels, MB_COUNTER, "storage operations started");
    }
    m_conflicts = mb_metric("moonbase_storage_conflicts_total", "", MB_COUNTER,
                            "storage writes and deletes refused by a version check");
}
