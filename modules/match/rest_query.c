/*
 * rest_query.c - the reading side of /v1/matches that both the routes
 * (match_module.c) and the cluster's node-to-node calls (cluster_glue.c)
 * use: GET /v1/matches over this node's live matches (filters mode, open,
 * limit, label.<key>), and a match that is no longer live read back from
 * PostgreSQL (or from a durable write still queued), each reply with the
 * fields other modules add (match_ext_match_reply).
 *
 * Not here: the routes themselves and asking the other nodes (match_module.c,
 * cluster_glue.c), storing a finished match (calls.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "match_internal.h"

/* ------------------------------------------------------ GET /v1/matches */

/* GET /v1/matches filters: mode, open, limit, label.<key> (exact, ANDed). */
#define LIST_MAX_LABEL_FILTERS 16
typedef struct list_filter {
    const char *mode;
    int open; /* -1 any, 0 full/closed, 1 open */
    long limit;
    const char *label_key[LIST_MAX_LABEL_FILTERS];
    size_t label_key_len[LIST_MAX_LABEL_FILTERS];
    const char *label_value[LIST_MAX_LABEL_FILTERS];
    int n_labels;
} list_filter;

/* Parse the query into f; false with a message in err. */
static mb_status list_parse(const char *(*query_at)(const void *ctx, int i), const void *ctx, list_filter *f,
                            char *err, size_t errlen)
{
    f->mode = NULL;
    f->open = -1;
    f->limit = 1000;
    f->n_labels = 0;
    bool seen_open = false, seen_limit = false;
    const char *arg;
    for (int i = 0; (arg = query_at(ctx, i)); i++) {
        const char *eq = strchr(arg, '=');
        size_t nl = eq ? (size_t)(eq - arg) : strlen(arg);
        const char *val = eq ? eq + 1 : "";
        if (nl == 4 && strncmp(arg, "mode", 4) == 0) {
            if (f->mode) goto twice;
            if (!*val) {
                snprintf(err, errlen, "query parameter 'mode' must not be empty");
                return MB_ERR;
            }
            f->mode = val;
        } else if (nl == 4 && strncmp(arg, "open", 4) == 0) {
            if (seen_open) goto twice;
            seen_open = true;
            if (strcmp(val, "true") == 0) f->open = 1;
            else if (strcmp(val, "false") == 0) f->open = 0;
            else {
                snprintf(err, errlen, "query parameter 'open' must be true or false (got '%.40s')", val);
                return MB_ERR;
            }
        } else if (nl == 5 && strncmp(arg, "limit", 5) == 0) {
            if (seen_limit) goto twice;
            seen_limit = true;
            char *end = NULL;
            long v = strtol(val, &end, 10);
            if (!*val || *end || v < 1 || v > 1000) {
                snprintf(err, errlen, "query parameter 'limit' must be an integer 1..1000 (got '%.40s')",
                         val);
                return MB_ERR;
            }
            f->limit = v;
        } else if (nl > 6 && strncmp(arg, "label.", 6) == 0) {
            const char *k = arg + 6;
            size_t kl = nl - 6;
            if (!match_label_key_ok(k, kl)) {
                snprintf(err, errlen,
                         "label filter '%.*s': the key must be 1..32 characters of A-Z a-z 0-9 _ -",
                         (int)(nl > 60 ? 60 : nl), arg);
                return MB_ERR;
            }
            for (int j = 0; j < f->n_labels; j++)
                if (f->label_key_len[j] == kl && strncmp(f->label_key[j], k, kl) == 0) goto twice;
            if (f->n_labels == LIST_MAX_LABEL_FILTERS) {
                snprintf(err, errlen, "at most %d label filters", LIST_MAX_LABEL_FILTERS);
                return MB_ERR;
            }
            f->label_key[f->n_labels] = k;
            f->label_key_len[f->n_labels] = kl;
            f->label_value[f->n_labels++] = val;
        } else {
            snprintf(err, errlen, "unknown query parameter '%.*s' (known: mode, open, limit, label.<key>)",
                     (int)(nl > 60 ? 60 : nl), arg);
            return MB_ERR;
        }
        continue;
    twice:
        snprintf(err, errlen, "query parameter '%.*s' given twice", (int)(nl > 60 ? 60 : nl), arg);
        return MB_ERR;
    }
    return MB_OK;
}

/* Does label value v equal the query text q? Strings exactly; numbers by
 * value ("3" and "3.0" match 3); booleans "true" / "false". */
static bool label_value_matches(const json_t *v, const char *q)
{
    if (json_is_string(v)) return strcmp(json_string_value(v), q) == 0;
    if (json_is_boolean(v)) return strcmp(q, json_is_true(v) ? "true" : "false") == 0;
    if (json_is_number(v)) {
        char *end = NULL;
        if (!((*q >= '0' && *q <= '9') || *q == '-' || *q == '.')) return false;
        double d = strtod(q, &end);
        return *end == '\0' && d == json_number_value(v);
    }
    return false;
}

static bool list_match(const list_filter *f, match *m)
{
    if (match_is_over(m)) return false;
    if (f->mode && strcmp(f->mode, match_mode(m)) != 0) return false;
    if (f->open >= 0 && match_is_open(m) != (f->open == 1)) return false;
    const json_t *label = match_label(m);
    for (int i = 0; i < f->n_labels; i++) {
        char key[40];
        snprintf(key, sizeof key, "%.*s", (int)f->label_key_len[i], f->label_key[i]);
        const json_t *v = label ? json_object_get(label, key) : NULL;
        if (!v || !label_value_matches(v, f->label_value[i])) return false;
    }
    return true;
}

static const char *req_query_at(const void *ctx, int i)
{
    return mb_http_query_at((const mb_http_req *)ctx, i);
}
static const char *json_query_at(const void *ctx, int i)
{
    return json_string_value(json_array_get(ctx, (size_t)i));
}

static json_t *list_run(const list_filter *f0)
{
    const list_filter f = *f0;
    json_t *arr = json_array();
    size_t it = 0;
    match *m;
    while (match_next(&it, &m)) {
        if (!list_match(&f, m)) continue;
        json_t *s = match_summary(m);
        json_object_del(s, "players");
        match_cluster_decorate(s, NULL, NULL);
        json_array_append_new(arr, s);
        if (json_array_size(arr) >= (size_t)f.limit) break;
    }
    return arr;
}

/* Parse the query (query_at(ctx, 0), ...) and list the matching matches. */
static json_t *list_query(const char *(*query_at)(const void *ctx, int i), const void *ctx, char *err,
                          size_t errlen, long *limit)
{
    list_filter f;
    if (list_parse(query_at, ctx, &f, err, errlen) != MB_OK) return NULL;
    *limit = f.limit;
    return list_run(&f);
}

json_t *match_list_request(mb_http_req *r, char *err, size_t errlen, long *limit)
{
    return list_query(req_query_at, r, err, errlen, limit);
}

json_t *match_list_local(json_t *query, char *err, size_t errlen, long *limit)
{
    return list_query(json_query_at, query, err, errlen, limit);
}

/* ------------------------------------------------- GET /v1/matches/{id} */

static match_ext_reply_fn get_extra; /* the vote module adds the match's votes */
void match_ext_match_reply(match_ext_reply_fn fn) { get_extra = fn; }

void match_respond(mb_http_req *r, json_t *j, const char *id)
{
    if (get_extra) get_extra(r, j, id);
    else mb_http_respond(r, 200, j);
}

static json_t *jparse(const char *s)
{
    json_t *j = s ? json_loads(s, JSON_DECODE_ANY, NULL) : NULL;
    return j ? j : json_null();
}

static void get_done(void *ud, const mb_db_result *res)
{
    mb_http_req *r = ud;
    if (!res->ok) {
        mb_http_error(r, res->code == MB_E_UNAVAILABLE ? MB_E_UNAVAILABLE : MB_E_INTERNAL,
                      "could not read the match");
        return;
    }
    if (PQntuples(res->res) == 0) {
        mb_http_error(r, MB_E_NOT_FOUND, "no match '%s'", mb_http_param(r, 0));
        return;
    }
    PGresult *p = res->res;
    json_t *j = json_pack(
        "{s:s,s:s,s:i,s:s,s:o,s:o,s:o,s:o,s:I,s:o,s:o,s:o}", "match_id", PQgetvalue(p, 0, 0), "mode",
        PQgetvalue(p, 0, 1), "script_version", atoi(PQgetvalue(p, 0, 2)), "status", PQgetvalue(p, 0, 5),
        "params", jparse(PQgetvalue(p, 0, 3)), "players", jparse(PQgetvalue(p, 0, 4)), "reason",
        PQgetisnull(p, 0, 6) ? json_null() : json_string(PQgetvalue(p, 0, 6)), "result",
        PQgetisnull(p, 0, 7) ? json_null() : jparse(PQgetvalue(p, 0, 7)), "ticks",
        (json_int_t)atoll(PQgetvalue(p, 0, 8)), "created_at", json_integer(atoll(PQgetvalue(p, 0, 9))),
        "started_at", PQgetisnull(p, 0, 10) ? json_null() : json_integer(atoll(PQgetvalue(p, 0, 10))),
        "finished_at", PQgetisnull(p, 0, 11) ? json_null() : json_integer(atoll(PQgetvalue(p, 0, 11))));
    match_respond(r, j, mb_http_param(r, 0));
}

/* A match that is not live here: finished (PostgreSQL, or a durable write
 * still queued). */
void match_get_stored(mb_http_req *r, const char *id)
{
    if (!mb_uuid_valid(id)) {
        mb_http_error(r, MB_E_NOT_FOUND, "no match '%s'", id);
        return;
    }
    char *const *pp = mb_db_durable_find("match", id);
    if (pp) {
        struct {
            char *const *params;
        } pw = {pp}, *p = &pw;
        json_t *j =
            json_pack("{s:s,s:s,s:i,s:s,s:o,s:o,s:s,s:o,s:o}", "match_id", id, "mode", p->params[1],
                      "script_version", atoi(p->params[2]), "status", "finished", "params",
                      jparse(p->params[3]), "players", jparse(p->params[4]), "reason", p->params[5], "result",
                      jparse(p->params[6]), "finished_at", json_integer(atoll(p->params[10])));
        match_respond(r, j, id);
        return;
    }
    const char *params[] = {id};
    mb_db_query("SELECT id, mode, script_version, params::text, players::text, status, reason,"
                " result::text, ticks,"
                " (extract(epoch from created_at) * 1000)::bigint,"
                " (extract(epoch from started_at) * 1000)::bigint,"
                " (extract(epoch from finished_at) * 1000)::bigint"
                " FROM matches WHERE id = $1::uuid",
                1, params, get_done, r);
}
