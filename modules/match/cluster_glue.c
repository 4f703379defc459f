/*
 * cluster_glue.c - the match module in cluster mode (docs/CLUSTER.md):
 * placement of POST /v1/matches on the least loaded node, GET
 * /v1/matches and GET /v1/matches/{id} across nodes, match.redirect for a
 * match.join that reaches a node not hosting the match, and the matches of
 * a lost node recorded as finished with reason "node_lost".
 *
 * Node-to-node operations (cluster_call): "match.create" {mode, params,
 * seed?, admin} -> {status, body} | {status, error}; "match.list" {query:
 * ["mode=x", ...]} -> {matches}; "match.get" {match_id} -> summary | null.
 *
 * Without --redis-url every entry point returns at its first line
 * (cluster_enabled() is false) and the callers keep their one-node path.
 *
 * Not here: the match directory (a live match recorded with its node,
 * match_cluster_added/removed) and match_cluster_decorate, which the
 * registry's files below call (match.c); the local listing and a stored
 * match (rest_query.c), which this file calls for the other nodes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "match_internal.h"

#define CALL_TIMEOUT_MS 3000

/* ------------------------------------------------------- match.join */
typedef struct join_ctx {
    uint64_t sid;
    char *cid, *match_id;
} join_ctx;

static void join_where(void *ud, const cluster_node *n, bool unavailable)
{
    join_ctx *j = ud;
    mb_session *s = mb_session_get(j->sid);
    if (s) {
        if (n && strcmp(n->node_id, cluster_node_id()) != 0)
            mb_session_send(
                s, "match.redirect", j->cid,
                json_pack("{s:s,s:s,s:s}", "match_id", j->match_id, "node_id", n->node_id, "url", n->url));
        else if (unavailable && !match_find(j->match_id))
            mb_session_error(
                s, j->cid, "match.join", MB_E_UNAVAILABLE,
                "match '%s' is not on this node and the cluster directory (Redis) is unreachable",
                j->match_id);
        else if (match_find(j->match_id)) /* created here meanwhile: join again to play */
            mb_session_error(s, j->cid, "match.join", MB_E_CONFLICT,
                             "match '%s' is on this node: send match.join again", j->match_id);
        else mb_session_error(s, j->cid, "match.join", MB_E_NOT_FOUND, "no live match '%s'", j->match_id);
    }
    free(j->cid);
    free(j->match_id);
    free(j);
}

bool match_cluster_join(mb_session *s, const char *cid, const char *match_id)
{
    if (!cluster_enabled() || !mb_uuid_valid(match_id)) return false;
    join_ctx *j = mb_calloc(1, sizeof *j);
    j->sid = mb_session_id(s);
    j->cid = cid ? mb_strdup(cid) : NULL;
    j->match_id = mb_strdup(match_id);
    cluster_match_where(match_id, join_where, j);
    return true;
}

/* -------------------------------------------------- POST /v1/matches */
static json_t *error_body(mb_errcode code, const char *msg)
{
    return json_pack("{s:{s:s,s:s}}", "error", "code", mb_errcode_str(code), "message", msg);
}

/* Create here for a node-to-node request (the placing node checked the
 * caller's rights and the seed). */
static json_t *create_here(json_t *args)
{
    const char *mode = json_string_value(json_object_get(args, "mode"));
    json_t *params = json_object_get(args, "params");
    if (json_is_null(params)) params = NULL;
    json_t *seed_j = json_object_get(args, "seed");
    uint64_t seed = json_is_integer(seed_j) ? (uint64_t)json_integer_value(seed_j) : 0;
    mb_errcode code = MB_E_INTERNAL;
    char err[512];
    match *m = mode ? match_create_seeded(mode, params, json_is_integer(seed_j) ? &seed : NULL, &code, err,
                                          sizeof err)
                    : NULL;
    if (!m) {
        if (!mode) snprintf(err, sizeof err, "field 'mode' is required");
        json_t *e = error_body(code, err);
        json_object_set_new(e, "status", json_integer(mb_errcode_http_status((mb_errcode)code)));
        return e;
    }
    json_t *body = json_pack("{s:s,s:s,s:i}", "match_id", match_id(m), "mode", mode, "script_version",
                             match_version(m)->version);
    if (json_is_true(json_object_get(args, "show_seed")))
        json_object_set_new(body, "seed", json_integer((json_int_t)match_seed(m)));
    match_cluster_decorate(body, NULL, NULL);
    return json_pack("{s:i,s:o}", "status", 201, "body", body);
}

static void op_create(cluster_req *req, const char *from, json_t *args)
{
    cluster_respond(req, create_here(args));
}

typedef struct place_ctx {
    mb_http_req *r;
    json_t *args;
    bool pinned;
} place_ctx;

static void respond_created(mb_http_req *r, json_t *res)
{
    json_t *status = json_object_get(res, "status");
    int st = json_is_integer(status) ? (int)json_integer_value(status) : 500;
    json_t *body = json_object_get(res, "body");
    if (body) mb_http_respond(r, st, json_incref(body));
    else mb_http_respond(r, st, json_pack("{s:O}", "error", json_object_get(res, "error")));
}

static void place_reply(void *ud, json_t *result, mb_errcode code, const char *message)
{
    place_ctx *p = ud;
    if (result) {
        respond_created(p->r, result);
    } else if (p->pinned) {
        mb_http_error(p->r, code, "the node did not create the match: %s", message ? message : "no answer");
    } else {
        /* documented fallback: the chosen node is unreachable, create here */
        mb_warn("cluster_place_fallback", "reason=\"%s\"", message ? message : "");
        json_t *res = create_here(p->args);
        respond_created(p->r, res);
        json_decref(res);
    }
    json_decref(p->args);
    free(p);
}

bool match_cluster_place(mb_http_req *r, bool admin, const char *mode, json_t *params, const uint64_t *seed,
                         bool show_seed)
{
    json_t *pin = json_object_get(mb_http_body(r), "node_id");
    if (pin && !admin) {
        mb_http_error(r, MB_E_FORBIDDEN,
                      "field 'node_id' (pin the match to a node) needs the admin token: POST "
                      "/v1/admin/matches");
        return true;
    }
    if (!cluster_enabled()) {
        if (pin && strcmp(json_string_value(pin), cluster_node_id()) != 0) {
            mb_http_error(r, MB_E_NOT_FOUND, "no live node '%s' (this server runs alone)",
                          json_string_value(pin));
            return true;
        }
        return false;
    }
    const cluster_node *n;
    if (pin) {
        n = cluster_node_find(json_string_value(pin));
        if (!n) {
            mb_http_error(r, MB_E_NOT_FOUND, "no live node '%s'", json_string_value(pin));
            return true;
        }
    } else {
        n = cluster_up() ? cluster_pick_node() : NULL;
    }
    if (!n || strcmp(n->node_id, cluster_node_id()) == 0) return false; /* here */
    place_ctx *p = mb_calloc(1, sizeof *p);
    p->r = r;
    p->pinned = pin != NULL;
    p->args = json_pack("{s:s,s:O,s:b}", "mode", mode, "params", params ? params : json_null(), "show_seed",
                        show_seed);
    if (seed) json_object_set_new(p->args, "seed", json_integer((json_int_t)*seed));
    cluster_call(n->node_id, "match.create", json_incref(p->args), CALL_TIMEOUT_MS, place_reply, p);
    return true;
}

/* --------------------------------------------------- GET /v1/matches */
static void op_list(cluster_req *req, const char *from, json_t *args)
{
    char err[200];
    long limit = 0;
    json_t *arr = match_list_local(json_object_get(args, "query"), err, sizeof err, &limit);
    if (!arr) {
        cluster_respond(req, json_pack("{s:s}", "error", err));
        return;
    }
    cluster_respond(req, json_pack("{s:o}", "matches", arr));
}

typedef struct list_ctx {
    mb_http_req *r;
    json_t *matches;     /* merged */
    json_t *unavailable; /* node ids that did not answer */
    size_t waiting;
    long limit;
} list_ctx;

typedef struct list_part {
    list_ctx *l;
    char *node_id;
} list_part;

static void list_finish(list_ctx *l)
{
    while (json_array_size(l->matches) > (size_t)l->limit)
        json_array_remove(l->matches, json_array_size(l->matches) - 1);
    json_t *out = json_pack("{s:o}", "matches", l->matches);
    if (json_array_size(l->unavailable)) json_object_set_new(out, "unavailable_nodes", l->unavailable);
    else json_decref(l->unavailable);
    mb_http_respond(l->r, 200, out);
    free(l);
}

static void list_reply(void *ud, json_t *result, mb_errcode code, const char *message)
{
    list_part *p = ud;
    list_ctx *l = p->l;
    json_t *arr = json_object_get(result, "matches");
    if (json_is_array(arr)) json_array_extend(l->matches, arr);
    else json_array_append_new(l->unavailable, json_string(p->node_id));
    free(p->node_id);
    free(p);
    if (--l->waiting == 0) list_finish(l);
}

void match_cluster_list(mb_http_req *r, json_t *local, json_t *query, long limit)
{
    list_ctx *l = mb_calloc(1, sizeof *l);
    l->r = r;
    l->matches = local;
    l->unavailable = json_array();
    l->limit = limit;
    l->waiting = 1; /* held until every call is sent */
    if (cluster_up())
        for (size_t i = 0; i < cluster_node_count(); i++) {
            const cluster_node *n = cluster_node_at(i);
            if (strcmp(n->node_id, cluster_node_id()) == 0) continue;
            list_part *p = mb_calloc(1, sizeof *p);
            p->l = l;
            p->node_id = mb_strdup(n->node_id);
            l->waiting++;
            cluster_call(n->node_id, "match.list", json_pack("{s:O}", "query", query), CALL_TIMEOUT_MS,
                         list_reply, p);
        }
    json_decref(query);
    if (--l->waiting == 0) list_finish(l);
}

/* ---------------------------------------------- GET /v1/matches/{id} */
static void op_get(cluster_req *req, const char *from, json_t *args)
{
    match *m = match_find(json_string_value(json_object_get(args, "match_id")));
    if (!m || match_is_over(m)) {
        cluster_respond(req, NULL);
        return;
    }
    json_t *j = match_summary(m);
    json_object_set_new(j, "result", json_null());
    match_cluster_decorate(j, NULL, NULL);
    cluster_respond(req, j);
}

typedef struct get_ctx {
    mb_http_req *r;
    char *id;
} get_ctx;

static void get_reply(void *ud, json_t *result, mb_errcode code, const char *message)
{
    get_ctx *g = ud;
    if (json_is_object(result)) mb_http_respond(g->r, 200, json_incref(result));
    else match_get_stored(g->r, g->id); /* finished meanwhile, or the node is gone */
    free(g->id);
    free(g);
}

static void get_where(void *ud, const cluster_node *n, bool unavailable)
{
    get_ctx *g = ud;
    if (n && strcmp(n->node_id, cluster_node_id()) != 0) {
        cluster_call(n->node_id, "match.get", json_pack("{s:s}", "match_id", g->id), CALL_TIMEOUT_MS,
                     get_reply, g);
        return;
    }
    match_get_stored(g->r, g->id);
    free(g->id);
    free(g);
}

bool match_cluster_get(mb_http_req *r, const char *id)
{
    if (!cluster_enabled() || !mb_uuid_valid(id)) return false;
    get_ctx *g = mb_calloc(1, sizeof *g);
    g->r = r;
    g->id = mb_strdup(id);
    cluster_match_where(id, get_where, g);
    return true;
}

/* ------------------------------------------------------- node lost */
static const char lost_sql[] =
    "INSERT INTO matches (id, mode, script_version, params, status, reason, result, created_at, finished_at)"
    " VALUES ($1::uuid, $2, $3::int, $4::jsonb, 'finished', 'node_lost', $5::jsonb,"
    " to_timestamp($6::double precision / 1000), now()) ON CONFLICT (id) DO NOTHING";

static void on_node_lost(const char *node, json_t *list)
{
    for (size_t i = 0; i < json_array_size(list); i++) {
        json_t *e = json_array_get(list, i);
        const char *mid = json_string_value(json_object_get(e, "match_id"));
        const char *mode = json_string_value(json_object_get(e, "mode"));
        if (!mid || !mb_uuid_valid(mid)) continue;
        char *p[6];
        p[0] = mb_strdup(mid);
        p[1] = mb_strdup(mode ? mode : "?");
        p[2] = mb_sprintf("%d", (int)json_integer_value(json_object_get(e, "script_version")));
        json_t *params = json_object_get(e, "params");
        p[3] = json_is_object(params) ? json_dumps(params, JSON_COMPACT) : mb_strdup("{}");
        json_t *res = json_pack("{s:s,s:s}", "reason", "node_lost", "node_id", node);
        p[4] = json_dumps(res, JSON_COMPACT);
        json_decref(res);
        json_int_t created = json_integer_value(json_object_get(e, "created_at"));
        p[5] = mb_sprintf("%lld", (long long)(created > 0 ? created : mb_wall_ms()));
        mb_warn("match_node_lost", "match=%s node=%s mode=%s", mid, node, p[1]);
        mb_db_durable("match_lost", lost_sql, 6, (const char *const *)p);
        for (int k = 0; k < 6; k++) free(p[k]);
    }
}

static size_t count_matches(void) { return match_count(); }

void match_cluster_init(void)
{
    if (!cluster_enabled()) return;
    cluster_set_match_count_fn(count_matches);
    cluster_on("match.create", op_create);
    cluster_on("match.list", op_list);
    cluster_on("match.get", op_get);
    cluster_on_node_lost(on_node_lost);
}
