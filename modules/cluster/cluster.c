/*
 * cluster.c - the cluster module (see cluster.h and docs/CLUSTER.md).
 *
 * Redis keys (all prefixed mb:):
 *   mb:node:<id>          this node's registration, JSON, PX 5000, renewed every second
 *   mb:nodes              set of node ids ever registered and not yet cleaned up
 *   mb:match:<match_id>   directory entry of a live match, JSON {"node_id", "mode", ...}
 *   mb:nodematches:<id>   set of the live match ids hosted by node <id>
 *   mb:lock:lost:<id>     who cleans up after node <id> (SET NX PX 30000)
 * Channels:
 *   mb:to:<id>            messages to one node: requests {"from","op","rid","args"} and
 *                         replies {"from","rid","result"} / {"from","rid","error":{code,message}}
 *   mb:bus                messages to every node {"from","topic","data"}
 */
#include "cluster.h"
#include "redis.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HEARTBEAT_S 1.0
#define TTL_MS 5000
#define LOST_LOCK_MS 30000

typedef struct op_entry {
    char *name;
    cluster_op_fn fn;
} op_entry;
typedef struct bus_entry {
    char *topic;
    cluster_bus_fn fn;
} bus_entry;

typedef struct call {
    struct call *next;
    uint64_t rid;
    cluster_reply_fn cb;
    void *ud;
    ev_timer timer;
} call;

struct cluster_req {
    char *from;
    uint64_t rid;
    bool local;
    char *op; /* local calls: run later */
    json_t *args;
};

static bool enabled, first_up_done, refreshing, stopping;
static char *node_id, *public_url, *to_channel;
static int64_t started_at;
static ev_timer hb_w;
static size_t (*match_count_fn)(void);
static cluster_node *nodes;
static size_t n_nodes;
static cluster_node self_node;
static mb_smap local_matches; /* match id -> directory JSON text (malloc'd) */
static op_entry *ops;
static size_t n_ops;
static bus_entry *buses;
static size_t n_buses;
static cluster_lost_fn *lost_fns;
static size_t n_lost;
static cluster_gone_fn *gone_fns;
static size_t n_gone;
static mb_smap gone_seen; /* node ids whose departure the gone hooks were told */
static call *calls;
static uint64_t next_rid;
static double *m_nodes, *m_calls_timeout, *m_bus_in, *m_bus_out;

bool cluster_enabled(void) { return enabled; }
bool cluster_up(void) { return enabled && mb_redis_up(); }
const char *cluster_node_id(void) { return node_id ? node_id : ""; }
const char *cluster_public_url(void) { return public_url ? public_url : ""; }
void cluster_set_match_count_fn(size_t (*fn)(void)) { match_count_fn = fn; }
size_t cluster_node_count(void) { return n_nodes; }
const cluster_node *cluster_node_at(size_t i) { return i < n_nodes ? &nodes[i] : NULL; }

static void refresh_self(void)
{
    self_node.node_id = node_id;
    self_node.url = public_url;
    self_node.started_at = started_at;
    self_node.last_seen = mb_wall_ms();
    self_node.sessions = (int64_t)mb_session_count();
    self_node.matches = match_count_fn ? (int64_t)match_count_fn() : 0;
}

const cluster_node *cluster_node_find(const char *id)
{
    if (!id) return NULL;
    for (size_t i = 0; i < n_nodes; i++)
        if (strcmp(nodes[i].node_id, id) == 0) return &nodes[i];
    if (node_id && strcmp(id, node_id) == 0) {
        refresh_self();
        return &self_node;
    }
    return NULL;
}

const cluster_node *cluster_pick_node(void)
{
    const cluster_node *best = NULL;
    for (size_t i = 0; i < n_nodes; i++) {
        const cluster_node *n = &nodes[i];
        if (strcmp(n->node_id, node_id) == 0) { /* our own figures are exact */
            refresh_self();
            n = &self_node;
        }
        if (!best || n->matches < best->matches ||
            (n->matches == best->matches &&
             (n->sessions < best->sessions ||
              (n->sessions == best->sessions && strcmp(n->node_id, best->node_id) < 0))))
            best = n;
    }
    if (!best) {
        refresh_self();
        best = &self_node;
    }
    return best;
}

static void free_nodes(cluster_node *list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(list[i].node_id);
        free(list[i].url);
    }
    free(list);
}

/* --------------------------------------------------------- membership */
static json_t *self_json(void)
{
    refresh_self();
    return json_pack("{s:s,s:s,s:I,s:I,s:I,s:I}", "node_id", node_id, "url", public_url, "started_at",
                     (json_int_t)started_at, "last_seen", (json_int_t)self_node.last_seen, "sessions",
                     (json_int_t)self_node.sessions, "matches", (json_int_t)self_node.matches);
}

static void lost_members_done(void *ud, const redisReply *r);
static void tell_gone(const char *id);

static void lost_lock_done(void *ud, const redisReply *r)
{
    char *id = ud;
    if (r && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "OK") == 0) {
        mb_warn("cluster_node_lost", "node=%s note=\"registration expired; this node cleans up\"", id);
        mb_redis_command(lost_members_done, id, "SMEMBERS mb:nodematches:%s", id);
        return;
    }
    free(id);
}

/* The directory entries of the lost node's matches: read them, run the
 * hooks, then remove them. */
typedef struct lost_ctx {
    char *node;
    json_t *ids;
} lost_ctx;

static void lost_entries_done(void *ud, const redisReply *r)
{
    lost_ctx *c = ud;
    json_t *list = json_array();
    for (size_t i = 0; i < json_array_size(c->ids); i++) {
        const char *mid = json_string_value(json_array_get(c->ids, i));
        json_t *e = NULL;
        if (r && r->type == REDIS_REPLY_ARRAY && i < r->elements && r->element[i]->type == REDIS_REPLY_STRING)
            e = json_loads(r->element[i]->str, 0, NULL);
        if (!json_is_object(e)) {
            json_decref(e);
            e = json_object();
        }
        json_object_set_new(e, "match_id", json_string(mid));
        json_array_append_new(list, e);
    }
    for (size_t i = 0; i < n_lost; i++) lost_fns[i](c->node, list);
    json_decref(list);
    for (size_t i = 0; i < json_array_size(c->ids); i++) {
        const char *mid = json_string_value(json_array_get(c->ids, i));
        if (mb_smap_get(&local_matches, mid)) continue; /* restarted node: ours again */
        mb_redis_command(NULL, NULL, "DEL mb:match:%s", mid);
        mb_redis_command(NULL, NULL, "SREM mb:nodematches:%s %s", c->node, mid);
    }
    if (strcmp(c->node, node_id) != 0) {
        mb_redis_command(NULL, NULL, "DEL mb:nodematches:%s", c->node);
        mb_redis_command(NULL, NULL, "SREM mb:nodes %s", c->node);
    }
    free(c->node);
    json_decref(c->ids);
    free(c);
}

static void lost_members_done(void *ud, const redisReply *r)
{
    char *id = ud;
    json_t *ids = json_array();
    if (r && r->type == REDIS_REPLY_ARRAY)
        for (size_t i = 0; i < r->elements; i++) {
            if (r->element[i]->type != REDIS_REPLY_STRING) continue;
            /* our own leftovers after a restart: only what is not live here */
            if (strcmp(id, node_id) == 0 && mb_smap_get(&local_matches, r->element[i]->str)) continue;
            json_array_append_new(ids, json_string(r->element[i]->str));
        }
    lost_ctx *c = mb_calloc(1, sizeof *c);
    c->node = id;
    c->ids = ids;
    size_t n = json_array_size(ids);
    if (n == 0) {
        lost_entries_done(c, NULL);
        return;
    }
    const char **argv = mb_malloc((n + 1) * sizeof *argv);
    char **keys = mb_malloc(n * sizeof *keys);
    argv[0] = "MGET";
    for (size_t i = 0; i < n; i++) {
        keys[i] = mb_sprintf("mb:match:%s", json_string_value(json_array_get(ids, i)));
        argv[i + 1] = keys[i];
    }
    mb_redis_command_argv(lost_entries_done, c, (int)n + 1, argv, NULL);
    for (size_t i = 0; i < n; i++) free(keys[i]);
    free(keys);
    free(argv);
}

static void node_gone(const char *id)
{
    if (strcmp(id, node_id) == 0) return; /* re-registers at the next heartbeat */
    mb_redis_command(lost_lock_done, mb_strdup(id), "SET mb:lock:lost:%s %s NX PX %d", id, node_id,
                     LOST_LOCK_MS);
}

static int node_cmp(const void *a, const void *b)
{
    return strcmp(((const cluster_node *)a)->node_id, ((const cluster_node *)b)->node_id);
}

static void mget_done(void *ud, const redisReply *r)
{
    json_t *ids = ud;
    refreshing = false;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != json_array_size(ids)) {
        json_decref(ids);
        return;
    }
    cluster_node *list = mb_calloc(r->elements ? r->elements : 1, sizeof *list);
    size_t n = 0;
    for (size_t i = 0; i < r->elements; i++) {
        const char *id = json_string_value(json_array_get(ids, i));
        redisReply *e = r->element[i];
        json_t *j = e->type == REDIS_REPLY_STRING ? json_loads(e->str, 0, NULL) : NULL;
        if (!json_is_object(j)) {
            json_decref(j);
            if (e->type == REDIS_REPLY_NIL) {
                tell_gone(id);
                node_gone(id);
            }
            continue;
        }
        mb_smap_del(&gone_seen, id); /* (back) in the cluster */
        cluster_node *nd = &list[n++];
        nd->node_id = mb_strdup(id);
        const char *url = json_string_value(json_object_get(j, "url"));
        nd->url = mb_strdup(url ? url : "");
        nd->started_at = json_integer_value(json_object_get(j, "started_at"));
        nd->last_seen = json_integer_value(json_object_get(j, "last_seen"));
        nd->sessions = json_integer_value(json_object_get(j, "sessions"));
        nd->matches = json_integer_value(json_object_get(j, "matches"));
        json_decref(j);
    }
    json_decref(ids);
    qsort(list, n, sizeof *list, node_cmp);
    /* a node in the last list and not in this one left (another node may
     * have cleaned it up before this one saw its registration expire) */
    for (size_t i = 0; i < n_nodes; i++) {
        bool still = false;
        for (size_t k = 0; k < n && !still; k++) still = strcmp(nodes[i].node_id, list[k].node_id) == 0;
        if (!still) tell_gone(nodes[i].node_id);
    }
    free_nodes(nodes, n_nodes);
    nodes = list;
    n_nodes = n;
    *m_nodes = (double)n;
}

static void members_done(void *ud, const redisReply *r)
{
    if (!r || r->type != REDIS_REPLY_ARRAY || stopping) {
        refreshing = false;
        return;
    }
    size_t n = r->elements;
    json_t *ids = json_array();
    const char **argv = mb_malloc((n + 1) * sizeof *argv);
    char **keys = mb_malloc((n + 1) * sizeof *keys);
    argv[0] = "MGET";
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (r->element[i]->type != REDIS_REPLY_STRING) continue;
        json_array_append_new(ids, json_string(r->element[i]->str));
        keys[k] = mb_sprintf("mb:node:%s", r->element[i]->str);
        argv[k + 1] = keys[k];
        k++;
    }
    if (k == 0) {
        json_decref(ids);
        refreshing = false;
        free_nodes(nodes, n_nodes);
        nodes = NULL;
        n_nodes = 0;
    } else {
        mb_redis_command_argv(mget_done, ids, (int)k + 1, argv, NULL);
    }
    for (size_t i = 0; i < k; i++) free(keys[i]);
    free(keys);
    free(argv);
}

static void heartbeat(void)
{
    if (!mb_redis_up() || stopping) return;
    json_t *self = self_json();
    char *j = json_dumps(self, JSON_COMPACT);
    json_decref(self);
    mb_redis_command(NULL, NULL, "SET mb:node:%s %s PX %d", node_id, j, TTL_MS);
    free(j);
    mb_redis_command(NULL, NULL, "SADD mb:nodes %s", node_id);
    if (!refreshing) {
        refreshing = true;
        mb_redis_command(members_done, NULL, "SMEMBERS mb:nodes");
    }
}

static void hb_cb(struct ev_loop *l, ev_timer *w, int revents) { heartbeat(); }

static void directory_put(const char *mid, const char *info)
{
    mb_redis_command(NULL, NULL, "SET mb:match:%s %s", mid, info);
    mb_redis_command(NULL, NULL, "SADD mb:nodematches:%s %s", node_id, mid);
}

/* Redis is (again) reachable: register now, put back our directory
 * entries (Redis may have restarted empty), clean up our own leftovers
 * from before a restart under the same id. */
/* After an outage: entries of our matches that ended meanwhile (their DEL
 * could not be sent) are dropped without telling anyone. */
static void prune_done(void *ud, const redisReply *r)
{
    if (!r || r->type != REDIS_REPLY_ARRAY) return;
    for (size_t i = 0; i < r->elements; i++) {
        const char *mid = r->element[i]->str;
        if (r->element[i]->type != REDIS_REPLY_STRING || mb_smap_get(&local_matches, mid)) continue;
        mb_redis_command(NULL, NULL, "DEL mb:match:%s", mid);
        mb_redis_command(NULL, NULL, "SREM mb:nodematches:%s %s", node_id, mid);
    }
}

static void on_redis_up(void)
{
    if (!first_up_done) {
        first_up_done = true;
        mb_redis_command(lost_members_done, mb_strdup(node_id), "SMEMBERS mb:nodematches:%s", node_id);
    } else {
        mb_redis_command(prune_done, NULL, "SMEMBERS mb:nodematches:%s", node_id);
    }
    const char *k;
    void *v;
    for (size_t it = 0; mb_smap_next(&local_matches, &it, &k, &v);) directory_put(k, v);
    refreshing = false;
    heartbeat();
}

/* --------------------------------------------------------- directory */
void cluster_match_added(const char *mid, json_t *info)
{
    if (!enabled) {
        json_decref(info);
        return;
    }
    if (!info) info = json_object();
    json_object_set_new(info, "node_id", json_string(node_id));
    char *text = json_dumps(info, JSON_COMPACT);
    json_decref(info);
    free(mb_smap_put(&local_matches, mid, text));
    if (mb_redis_up()) directory_put(mid, text);
}

void cluster_match_removed(const char *mid)
{
    if (!enabled) return;
    free(mb_smap_del(&local_matches, mid));
    if (!mb_redis_up()) return;
    mb_redis_command(NULL, NULL, "DEL mb:match:%s", mid);
    mb_redis_command(NULL, NULL, "SREM mb:nodematches:%s %s", node_id, mid);
}

typedef struct where_ctx {
    cluster_where_fn cb;
    void *ud;
} where_ctx;

static void where_unavailable(void *ud)
{
    where_ctx *w = ud;
    w->cb(w->ud, NULL, true);
    free(w);
}

static void where_done(void *ud, const redisReply *r)
{
    where_ctx *w = ud;
    if (!r) {
        w->cb(w->ud, NULL, true);
        free(w);
        return;
    }
    const cluster_node *n = NULL;
    if (r->type == REDIS_REPLY_STRING) {
        json_t *j = json_loads(r->str, 0, NULL);
        n = cluster_node_find(json_string_value(json_object_get(j, "node_id")));
        json_decref(j);
    }
    w->cb(w->ud, n, false);
    free(w);
}

void cluster_match_where(const char *mid, cluster_where_fn cb, void *ud)
{
    where_ctx *w = mb_malloc(sizeof *w);
    w->cb = cb;
    w->ud = ud;
    if (!cluster_up()) {
        mb_defer(where_unavailable, w);
        return;
    }
    mb_redis_command(where_done, w, "GET mb:match:%s", mid);
}

/* -------------------------------------------------------------- calls */
void cluster_on(const char *op, cluster_op_fn fn)
{
    ops = mb_realloc(ops, (n_ops + 1) * sizeof *ops);
    ops[n_ops++] = (op_entry){mb_strdup(op), fn};
}

void cluster_on_bus(const char *topic, cluster_bus_fn fn)
{
    buses = mb_realloc(buses, (n_buses + 1) * sizeof *buses);
    buses[n_buses++] = (bus_entry){mb_strdup(topic), fn};
}

void cluster_on_node_gone(cluster_gone_fn fn)
{
    gone_fns = mb_realloc(gone_fns, (n_gone + 1) * sizeof *gone_fns);
    gone_fns[n_gone++] = fn;
}

static void tell_gone(const char *id)
{
    if (strcmp(id, node_id) == 0 || mb_smap_get(&gone_seen, id)) return;
    mb_smap_put(&gone_seen, id, (void *)1);
    mb_info("cluster_node_gone", "node=%s", id);
    for (size_t i = 0; i < n_gone; i++) gone_fns[i](id);
}

static void on_node_left(const char *from, json_t *data) { tell_gone(from); }

void cluster_on_node_lost(cluster_lost_fn fn)
{
    lost_fns = mb_realloc(lost_fns, (n_lost + 1) * sizeof *lost_fns);
    lost_fns[n_lost++] = fn;
}

static call *call_take(uint64_t rid)
{
    for (call **p = &calls; *p; p = &(*p)->next)
        if ((*p)->rid == rid) {
            call *c = *p;
            *p = c->next;
            ev_timer_stop(mb_loop(), &c->timer);
            return c;
        }
    return NULL;
}

static void call_finish(uint64_t rid, json_t *result, mb_errcode code, const char *message)
{
    call *c = call_take(rid);
    if (!c) return; /* timed out already */
    c->cb(c->ud, result, code, message);
    free(c);
}

static void call_timeout(struct ev_loop *l, ev_timer *w, int revents)
{
    call *c = w->data;
    (*m_calls_timeout)++;
    call_finish(c->rid, NULL, MB_E_UNAVAILABLE, "the node did not answer in time");
}

static cluster_op_fn find_op(const char *op)
{
    for (size_t i = 0; i < n_ops; i++)
        if (strcmp(ops[i].name, op) == 0) return ops[i].fn;
    return NULL;
}

static void send_to(const char *node, json_t *msg)
{
    char *text = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    char *ch = mb_sprintf("mb:to:%s", node);
    mb_redis_publish(ch, text, strlen(text));
    free(ch);
    free(text);
}

static void run_local(void *ud)
{
    cluster_req *req = ud;
    cluster_op_fn fn = find_op(req->op);
    json_t *args = req->args;
    req->args = NULL;
    if (!fn) {
        call_finish(req->rid, NULL, MB_E_NOT_FOUND, "unknown cluster operation");
        free(req->op);
        free(req->from);
        free(req);
    } else {
        fn(req, node_id, args);
    }
    json_decref(args);
}

void cluster_respond(cluster_req *req, json_t *result)
{
    if (!result) result = json_null();
    if (req->local) {
        call_finish(req->rid, result, MB_E__COUNT, NULL);
        json_decref(result);
    } else {
        send_to(req->from,
                json_pack("{s:s,s:I,s:o}", "from", node_id, "rid", (json_int_t)req->rid, "result", result));
    }
    free(req->op);
    free(req->from);
    free(req);
}

typedef struct unavailable_ctx {
    cluster_reply_fn cb;
    void *ud;
} unavailable_ctx;

static void call_unavailable(void *ud)
{
    unavailable_ctx *u = ud;
    u->cb(u->ud, NULL, MB_E_UNAVAILABLE, "Redis is unreachable: other nodes cannot be reached");
    free(u);
}

static void publish_counted(void *ud, const redisReply *r)
{
    uint64_t rid = (uint64_t)(uintptr_t)ud;
    if (r && r->type == REDIS_REPLY_INTEGER && r->integer == 0)
        call_finish(rid, NULL, MB_E_UNAVAILABLE, "the node is not connected to Redis");
}

void cluster_call(const char *node, const char *op, json_t *args, int timeout_ms, cluster_reply_fn cb,
                  void *ud)
{
    bool local = node_id && strcmp(node, node_id) == 0;
    if (!local && !cluster_up()) {
        json_decref(args);
        unavailable_ctx *u = mb_malloc(sizeof *u);
        u->cb = cb;
        u->ud = ud;
        mb_defer(call_unavailable, u);
        return;
    }
    call *c = mb_calloc(1, sizeof *c);
    c->rid = ++next_rid;
    c->cb = cb;
    c->ud = ud;
    ev_timer_init(&c->timer, call_timeout, timeout_ms / 1000.0, 0);
    c->timer.data = c;
    ev_timer_start(mb_loop(), &c->timer);
    c->next = calls;
    calls = c;
    if (local) {
        cluster_req *req = mb_calloc(1, sizeof *req);
        req->local = true;
        req->rid = c->rid;
        req->op = mb_strdup(op);
        req->from = mb_strdup(node_id);
        req->args = args ? args : json_object();
        mb_defer(run_local, req);
        return;
    }
    json_t *msg = json_pack("{s:s,s:s,s:I,s:o}", "from", node_id, "op", op, "rid", (json_int_t)c->rid, "args",
                            args ? args : json_object());
    char *text = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    char *ch = mb_sprintf("mb:to:%s", node);
    mb_redis_command(publish_counted, (void *)(uintptr_t)c->rid, "PUBLISH %s %s", ch, text);
    free(ch);
    free(text);
}

static void on_direct(void *ud, const char *channel, const char *data, size_t len)
{
    json_t *m = json_loadb(data, len, 0, NULL);
    const char *from = json_string_value(json_object_get(m, "from"));
    json_t *rid_j = json_object_get(m, "rid");
    if (!from || !json_is_integer(rid_j)) {
        mb_warn("cluster_bad_message", "channel=%s", channel);
        json_decref(m);
        return;
    }
    uint64_t rid = (uint64_t)json_integer_value(rid_j);
    const char *op = json_string_value(json_object_get(m, "op"));
    if (op) {
        cluster_op_fn fn = find_op(op);
        if (!fn) {
            send_to(from, json_pack("{s:s,s:I,s:{s:s,s:s}}", "from", node_id, "rid", (json_int_t)rid, "error",
                                    "code", "not_found", "message", "unknown cluster operation"));
        } else {
            cluster_req *req = mb_calloc(1, sizeof *req);
            req->from = mb_strdup(from);
            req->rid = rid;
            json_t *args = json_object_get(m, "args");
            fn(req, from, args);
        }
    } else {
        json_t *err = json_object_get(m, "error");
        if (err) {
            const char *code = json_string_value(json_object_get(err, "code"));
            call_finish(rid, NULL, code && strcmp(code, "not_found") == 0 ? MB_E_NOT_FOUND : MB_E_INTERNAL,
                        json_string_value(json_object_get(err, "message")));
        } else {
            call_finish(rid, json_object_get(m, "result"), MB_E__COUNT, NULL);
        }
    }
    json_decref(m);
}

/* ---------------------------------------------------------------- bus */
bool cluster_broadcast(const char *topic, json_t *data)
{
    if (!cluster_up()) {
        json_decref(data);
        return false;
    }
    json_t *msg =
        json_pack("{s:s,s:s,s:o}", "from", node_id, "topic", topic, "data", data ? data : json_null());
    char *text = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    bool ok = mb_redis_publish("mb:bus", text, strlen(text));
    free(text);
    (*m_bus_out)++;
    return ok;
}

static void on_bus(void *ud, const char *channel, const char *data, size_t len)
{
    json_t *m = json_loadb(data, len, 0, NULL);
    const char *from = json_string_value(json_object_get(m, "from"));
    const char *topic = json_string_value(json_object_get(m, "topic"));
    if (from && topic && strcmp(from, node_id) != 0) {
        (*m_bus_in)++;
        for (size_t i = 0; i < n_buses; i++)
            if (strcmp(buses[i].topic, topic) == 0) buses[i].fn(from, json_object_get(m, "data"));
    }
    json_decref(m);
}

/* --------------------------------------------------------------- REST */
static json_t *node_json(const cluster_node *n)
{
    return json_pack("{s:s,s:s,s:I,s:I,s:I,s:I}", "node_id", n->node_id, "url", n->url, "started_at",
                     (json_int_t)n->started_at, "last_seen", (json_int_t)n->last_seen, "sessions",
                     (json_int_t)n->sessions, "matches", (json_int_t)n->matches);
}

/* GET /v1/cluster (admin): the live nodes as of the last heartbeat (this
 * node's own figures are current). Single-node mode: this node alone. */
static void route_cluster(mb_http_req *r)
{
    json_t *arr = json_array();
    bool self_listed = false;
    for (size_t i = 0; i < n_nodes; i++) {
        if (strcmp(nodes[i].node_id, node_id) == 0) {
            refresh_self();
            json_array_append_new(arr, node_json(&self_node));
            self_listed = true;
        } else {
            json_array_append_new(arr, node_json(&nodes[i]));
        }
    }
    if (!self_listed) {
        refresh_self();
        json_array_append_new(arr, node_json(&self_node));
    }
    json_t *out = json_pack("{s:s,s:b,s:o}", "node_id", node_id, "cluster", enabled, "nodes", arr);
    if (enabled) json_object_set_new(out, "redis", json_string(mb_redis_up() ? "ok" : "unreachable"));
    mb_http_respond(r, 200, out);
}

static const mb_route routes[] = {
    {"GET", "/v1/cluster", route_cluster, MB_AUTH_ADMIN, false},
};

/* ------------------------------------------------------------- module */
static char *default_host(void)
{
    char h[256] = "localhost";
    if (gethostname(h, sizeof h - 1) != 0) snprintf(h, sizeof h, "localhost");
    h[sizeof h - 1] = '\0';
    return mb_strdup(h);
}

static mb_status cluster_init(void)
{
    const mb_config *cfg = mb_cfg();
    mb_smap_init(&local_matches);
    mb_smap_init(&gone_seen);
    started_at = mb_wall_ms();
    stopping = false;
    char *hn = default_host();
    node_id = cfg && cfg->node_id ? mb_strdup(cfg->node_id) : mb_sprintf("%s-%d", hn, cfg ? cfg->port : 0);
    if (cfg && cfg->public_url && *cfg->public_url) {
        size_t n = strlen(cfg->public_url);
        while (n > 0 && cfg->public_url[n - 1] == '/') n--;
        public_url = mb_strndup(cfg->public_url, n);
    } else {
        const char *h = cfg ? cfg->host : "127.0.0.1";
        bool any = !h || !*h || strcmp(h, "0.0.0.0") == 0 || strcmp(h, "::") == 0;
        const char *scheme = cfg && cfg->tls_cert ? "https" : "http";
        if (any) public_url = mb_sprintf("%s://%s:%d", scheme, hn, cfg ? cfg->port : 0);
        else if (strchr(h, ':')) public_url = mb_sprintf("%s://[%s]:%d", scheme, h, cfg->port);
        else public_url = mb_sprintf("%s://%s:%d", scheme, h, cfg->port);
    }
    free(hn);
    m_nodes = mb_metric("moonbase_cluster_nodes", "", MB_GAUGE, "live cluster nodes (cluster mode)");
    m_calls_timeout = mb_metric("moonbase_cluster_call_timeouts_total", "", MB_COUNTER,
                                "node-to-node calls that got no answer in time");
    m_bus_in = mb_metric("moonbase_cluster_bus_in_total", "", MB_COUNTER, "cluster bus messages received");
    m_bus_out = mb_metric("moonbase_cluster_bus_out_total", "", MB_COUNTER, "cluster bus messages published");
    enabled = cfg && cfg->redis_url && *cfg->redis_url;
    if (!enabled) return MB_OK;
    to_channel = mb_sprintf("mb:to:%s", node_id);
    mb_redis_set_up_hook(on_redis_up);
    mb_redis_subscribe(to_channel, on_direct, NULL);
    mb_redis_subscribe("mb:bus", on_bus, NULL);
    cluster_on_bus("cluster.node_left", on_node_left);
    ev_timer_init(&hb_w, hb_cb, HEARTBEAT_S, HEARTBEAT_S);
    ev_timer_start(mb_loop(), &hb_w);
    mb_info("cluster_node", "node=%s url=%s", node_id, public_url);
    return MB_OK;
}

/* Graceful stop: leave the cluster at once (the others need not wait for
 * the registration to expire). */
static void cluster_shutdown(void)
{
    if (!enabled) return;
    ev_timer_stop(mb_loop(), &hb_w);
    cluster_broadcast("cluster.node_left", NULL); /* the others drop what they keep about us */
    if (mb_redis_up()) {
        mb_redis_command(NULL, NULL, "DEL mb:node:%s", node_id);
        mb_redis_command(NULL, NULL, "SREM mb:nodes %s", node_id);
    }
    stopping = true;
}

static void cluster_destroy(void)
{
    if (enabled) ev_timer_stop(mb_loop(), &hb_w);
    while (calls) call_finish(calls->rid, NULL, MB_E_UNAVAILABLE, "the server is stopping");
    const char *k;
    void *v;
    for (size_t it = 0; mb_smap_next(&local_matches, &it, &k, &v);) free(v);
    mb_smap_free(&local_matches);
    free_nodes(nodes, n_nodes);
    nodes = NULL;
    n_nodes = 0;
    for (size_t i = 0; i < n_ops; i++) free(ops[i].name);
    free(ops);
    ops = NULL;
    n_ops = 0;
    for (size_t i = 0; i < n_buses; i++) free(buses[i].topic);
    free(buses);
    buses = NULL;
    n_buses = 0;
    free(lost_fns);
    lost_fns = NULL;
    n_lost = 0;
    free(gone_fns);
    gone_fns = NULL;
    n_gone = 0;
    mb_smap_free(&gone_seen);
    free(node_id);
    free(public_url);
    free(to_channel);
    node_id = public_url = to_channel = NULL;
    enabled = first_up_done = refreshing = false;
}

const mb_module cluster_module = {
    .api = MB_MODULE_API,
    .name = "cluster",
    .init = cluster_init,
    .shutdown = cluster_shutdown,
    .destroy = cluster_destroy,
    .routes = routes,
    .n_routes = MB_ARRAY_LEN(routes),
};
