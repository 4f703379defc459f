/*
 * notifications.c - stored notifications and their live delivery.
 *
 * Three writers: friends.c (inside the friend SQL functions), the admin
 * REST API and scripts (moonbase.notify). The last two go through one
 * queue that notifications_flush() (before the loop sleeps) turns into a
 * single multi-row INSERT, one statement in flight at a time: a group
 * commit. Each row's notification.new goes out only after that statement
 * committed. Ids are made here, so the INSERT is idempotent: a script's
 * notification whose statement failed with `unavailable` is simply sent
 * again (for up to SCRIPT_RETRY_MS) until PostgreSQL is back; an admin
 * request gets 503 instead, and its row, if it did commit, is removed by
 * the undo queue (social.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "convert.h"
#include "match_ext.h"
#include "social.h"

#define QUEUE_MAX 50000
#define BATCH_MAX 500
#define SCRIPT_RETRY_MS (5 * 60 * 1000)
#define TYPE_MAX 64
#define SUBJECT_MAX 256
#define CONTENT_MAX_BYTES 16384
#define LIST_DEFAULT 50
#define LIST_MAX 100
#define READ_MAX_IDS 100

typedef struct notif {
    struct notif *next;
    char id[37];
    char player[37];
    char *type, *subject;
    json_t *content;
    mb_http_req *req; /* admin: answered after the commit; NULL: script */
    int attempts;
    int64_t queued_ms;
} notif;

static notif *q_head, *q_tail;
static size_t q_n;
static bool busy;
static ev_timer retry_w;
static int retry_ms;
static double *m_created, *m_delivered, *m_dropped;

static const char insert_sql[] =
    "WITH x AS (SELECT * FROM ROWS FROM (jsonb_to_recordset($1::jsonb) AS (id uuid, player_id uuid,"
    "  type text, subject text, content jsonb)) WITH ORDINALITY AS t(id, player_id, type, subject, content, ord)),"
    " ins AS (INSERT INTO notifications (id, player_id, type, subject, content)"
    "  SELECT x.id, x.player_id, x.type, x.subject, x.content FROM x"
    "  WHERE EXISTS (SELECT 1 FROM accounts a WHERE a.id = x.player_id) ORDER BY x.ord"
    "  ON CONFLICT (id) DO NOTHING RETURNING id, created_at)"
    " SELECT x.id::text, COALESCE(ins.created_at, n.created_at) IS NOT NULL,"
    "  " SOCIAL_TS(
        "COALESCE(ins.created_at, n.created_at)") " FROM x LEFT JOIN ins ON ins.id = x.id LEFT JOIN notifications n ON n.id = x.id ORDER BY x.ord";

/* ---------------------------------------------------------- validation */

static const char *check_type(const char *t, size_t len)
{
    if (len == 0 || len > TYPE_MAX) return "type must be 1..64 characters";
    for (size_t i = 0; i < len; i++) {
        char c = t[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '.' || c == ':' || c == '-'))
            return "type may contain only letters, digits, '_', '.', ':' and '-'";
    }
    return NULL;
}

static const char *check_subject(const char *s, size_t len)
{
    if (strlen(s) != len) return "subject must not contain NUL";
    size_t n = mb_utf8_len(s, len);
    if (n == 0 || n > SUBJECT_MAX) return "subject must be 1..256 characters";
    return NULL;
}

static const char *check_content(const json_t *c)
{
    if (!json_is_object(c)) return "content must be a JSON object";
    char *t = json_dumps(c, JSON_COMPACT);
    size_t n = strlen(t);
    bool nul = strstr(t, "\\u0000") != NULL;
    free(t);
    if (n > CONTENT_MAX_BYTES) return "content must be at most 16384 bytes of JSON";
    if (nul) return "content must not contain NUL characters";
    return NULL;
}

/* ------------------------------------------------------------ delivery */

static void deliver_here(const char *player_id, const char *id, const char *type, const char *subject,
                         const char *content_json);

void notifications_deliver(const char *player_id, const char *id, const char *type, const char *subject,
                           const char *content_json)
{
    /* cluster: the player's sockets on other nodes too (docs/CLUSTER.md) */
    if (cluster_enabled())
        cluster_broadcast("notification",
                          json_pack("{s:s,s:s,s:s,s:s,s:s}", "player_id", player_id, "id", id, "type", type,
                                    "subject", subject, "content", content_json));
    deliver_here(player_id, id, type, subject, content_json);
}

static void remote_notification(const char *from, json_t *d)
{
    const char *f[5];
    static const char *const names[] = {"player_id", "id", "type", "subject", "content"};
    for (int i = 0; i < 5; i++)
        if (!(f[i] = json_string_value(json_object_get(d, names[i])))) return;
    deliver_here(f[0], f[1], f[2], f[3], f[4]);
}

static void deliver_here(const char *player_id, const char *id, const char *type, const char *subject,
                         const char *content_json)
{
    if (!mb_player_online(player_id)) return;
    json_t *c = json_loads(content_json, 0, NULL);
    json_t *p = json_pack("{s:s,s:s,s:s,s:o}", "id", id, "type", type, "subject", subject, "content",
                          c ? c : json_object());
    *m_delivered += mb_player_send(player_id, "notification.new", p);
    json_decref(p);
}

static json_t *item_json(const notif *n, const char *created_at)
{
    return json_pack("{s:s,s:s,s:s,s:s,s:O,s:n,s:s,s:b}", "id", n->id, "player_id", n->player, "type",
                     n->type, "subject", n->subject, "content", n->content, "sender_id", "created_at",
                     created_at, "read", 0);
}

/* ------------------------------------------------------------- queue */

static void notif_free(notif *n)
{
    free(n->type);
    free(n->subject);
    json_decref(n->content);
    free(n);
}

static void enqueue(notif *n)
{
    n->queued_ms = mb_now_ms();
    if (q_tail) q_tail->next = n;
    else q_head = n;
    q_tail = n;
    q_n++;
}

/* Put a failed batch's script items back at the head, in order. */
static void requeue_front(notif *list)
{
    notif *last = list;
    size_t k = 1;
    while (last->next) {
        last = last->next;
        k++;
    }
    last->next = q_head;
    q_head = list;
    if (!q_tail) q_tail = last;
    q_n += k;
}

static void schedule_retry(void)
{
    retry_ms = retry_ms ? (retry_ms * 2 > 5000 ? 5000 : retry_ms * 2) : 250;
    ev_timer_stop(mb_loop(), &retry_w);
    ev_timer_set(&retry_w, retry_ms / 1000.0, 0.);
    ev_timer_start(mb_loop(), &retry_w);
}

static void batch_done(void *ud, const mb_db_result *res)
{
    notif *list = ud, *retry = NULL, **rtail = &retry;
    busy = false;
    int rows = res->ok ? PQntuples(res->res) : 0;
    int i = 0;
    for (notif *n = list, *next; n; n = next, i++) {
        next = n->next;
        n->next = NULL;
        if (res->ok) {
            bool ok = i < rows && strcmp(PQgetvalue(res->res, i, 0), n->id) == 0 &&
                      PQgetvalue(res->res, i, 1)[0] == 't';
            if (ok) {
                *m_created += 1;
                char *text = json_dumps(n->content, JSON_COMPACT);
                if (n->req) mb_http_respond(n->req, 201, item_json(n, PQgetvalue(res->res, i, 2)));
                notifications_deliver(n->player, n->id, n->type, n->subject, text);
                free(text);
            } else if (n->req) {
                mb_http_error(n->req, MB_E_NOT_FOUND, "no such player");
            } else {
                *m_dropped += 1;
                mb_warn("notification_dropped", "id=%s player=%s reason=\"no such player\"", n->id,
                        n->player);
            }
        } else if (n->req) {
            if (res->code == MB_E_UNAVAILABLE) social_undo_add("notifications", n->id);
            mb_http_db_error(n->req, res, NULL);
        } else if (res->code == MB_E_UNAVAILABLE && mb_now_ms() - n->queued_ms < SCRIPT_RETRY_MS) {
            n->attempts++;
            *rtail = n;
            rtail = &n->next;
            continue;
        } else {
            *m_dropped += 1;
            mb_error("notification_dropped", "id=%s player=%s attempts=%d reason=\"%s\"", n->id, n->player,
                     n->attempts + 1,
                     res->code == MB_E_UNAVAILABLE ? "database unavailable too long" : "database error");
        }
        notif_free(n);
    }
    if (retry) {
        requeue_front(retry);
        schedule_retry();
    } else if (res->ok) retry_ms = 0;
}

/* PostgreSQL is away: answer queued admin requests now (nothing of theirs
 * was sent) and give up script notifications queued too long ago. */
static void fail_queued_while_down(void)
{
    notif **pp = &q_head;
    q_tail = NULL;
    int64_t now = mb_now_ms();
    while (*pp) {
        notif *n = *pp;
        if (n->req || now - n->queued_ms >= SCRIPT_RETRY_MS) {
            *pp = n->next;
            q_n--;
            if (n->req) mb_http_error(n->req, MB_E_UNAVAILABLE, "database unavailable; retry shortly");
            else {
                *m_dropped += 1;
                mb_error("notification_dropped", "id=%s player=%s reason=\"database unavailable too long\"",
                         n->id, n->player);
            }
            notif_free(n);
        } else {
            q_tail = n;
            pp = &n->next;
        }
    }
}

void notifications_flush(void)
{
    if (busy || !q_head || ev_is_active(&retry_w)) return;
    if (!mb_db_available()) {
        fail_queued_while_down();
        if (q_head) schedule_retry();
        return;
    }
    json_t *rows = json_array();
    notif *list = q_head, *last = NULL;
    size_t k = 0;
    for (notif *n = q_head; n && k < BATCH_MAX; n = n->next, k++) {
        json_array_append_new(rows, json_pack("{s:s,s:s,s:s,s:s,s:O}", "id", n->id, "player_id", n->player,
                                              "type", n->type, "subject", n->subject, "content", n->content));
        last = n;
    }
    /* q_head was not NULL, so the loop ran at least once and last is set */
    // cppcheck-suppress nullPointer
    q_head = last->next;
    if (!q_head) q_tail = NULL;
    last->next = NULL;
    q_n -= k;
    char *param = json_dumps(rows, JSON_COMPACT);
    json_decref(rows);
    const char *p[] = {param};
    busy = true;
    mb_db_query(insert_sql, 1, p, batch_done, list);
    free(param);
}

/* Nothing to do: the prepare hook flushes next. */
static void retry_cb(struct ev_loop *loop, ev_timer *w, int revents) {}

static notif *notif_new(const char *player, const char *type, const char *subject,
                        json_t *content /* steals */)
{
    notif *n = mb_calloc(1, sizeof *n);
    mb_uuid(n->id);
    mb_uuid_lower(player, n->player);
    n->type = mb_strdup(type);
    n->subject = mb_strdup(subject);
    n->content = content;
    return n;
}

/* ------------------------------------------------ moonbase.notify (Lua) */

/* Allowed where a match runs its events, in init and terminate, and in
 * the matchmaker hook and server.lua handlers; not at a file's top level
 * (it runs for every VM of the file), in get_state (pure) or in reload
 * (which may be rolled back). */
#define NOTIFY_CONTEXTS                                                                      \
    (MATCH_CTX_EVENTS | MATCH_CTX_BIT(MATCH_CTX_INIT) | MATCH_CTX_BIT(MATCH_CTX_TERMINATE) | \
     MATCH_CTX_BIT(MATCH_CTX_MATCHMAKER) | MATCH_CTX_BIT(MATCH_CTX_RPC) | MATCH_CTX_BIT(MATCH_CTX_ON_CHAT))

/* moonbase.notify(player_id, type, subject, content?) -> true | nil, err
 * (registered with NOTIFY_CONTEXTS by notifications_init) */
static int l_notify(lua_State *L)
{
    size_t tl, sl;
    const char *pid = luaL_checkstring(L, 1);
    const char *type = luaL_checklstring(L, 2, &tl);
    const char *subject = luaL_checklstring(L, 3, &sl);
    if (!mb_uuid_valid(pid)) return luaL_error(L, "moonbase.notify: player_id must be a player id (UUID)");
    const char *why = check_type(type, tl);
    if (!why) why = check_subject(subject, sl);
    if (why) return luaL_error(L, "moonbase.notify: %s", why);
    json_t *content;
    if (lua_isnoneornil(L, 4)) content = json_object();
    else {
        if (lua_type(L, 4) != LUA_TTABLE) return luaL_error(L, "moonbase.notify: content must be a table");
        char err[256];
        content = mb_lua_to_json(L, 4, err, sizeof err);
        if (!content) return luaL_error(L, "moonbase.notify: content: %s", err);
        why = check_content(content);
        if (why) {
            json_decref(content);
            return luaL_error(L, "moonbase.notify: %s", why);
        }
    }
    if (!mb_loop() || !mb_db_available() || q_n >= QUEUE_MAX) {
        json_decref(content);
        lua_pushnil(L);
        lua_pushstring(L, q_n >= QUEUE_MAX ? "busy" : "unavailable");
        return 2;
    }
    enqueue(notif_new(pid, type, subject, content));
    lua_pushboolean(L, 1);
    return 1;
}

/* ---------------------------------------- POST /v1/admin/notifications */

static const char *field_player(const json_t *v)
{
    return mb_uuid_valid(json_string_value(v)) ? NULL : "player_id (a player id) is required";
}
static const char *field_type(const json_t *v)
{
    return check_type(json_string_value(v), json_string_length(v));
}
static const char *field_subject(const json_t *v)
{
    return check_subject(json_string_value(v), json_string_length(v));
}

const mb_field notifications_admin_fields[] = {
    {"player_id", MB_F_STRING, true, 0, 0, field_player, "uuid"},
    {"type", MB_F_STRING, true, 0, 0, field_type, "1..64 of A-Z a-z 0-9 _ . : -"},
    {"subject", MB_F_STRING, true, 0, 0, field_subject, NULL},
    {"content", MB_F_OBJECT, false, 0, 0, check_content, "object of at most 16384 bytes of JSON"},
    {NULL},
};

/* Every field: notifications_admin_fields. */
void notifications_route_admin(mb_http_req *r)
{
    json_t *b = mb_http_body(r);
    const char *pid = json_string_value(json_object_get(b, "player_id"));
    json_t *type = json_object_get(b, "type");
    json_t *subject = json_object_get(b, "subject");
    json_t *content = json_object_get(b, "content");
    if (!mb_db_available()) {
        mb_http_error(r, MB_E_UNAVAILABLE, "database unavailable; retry shortly");
        return;
    }
    if (q_n >= QUEUE_MAX) {
        mb_http_error(r, MB_E_UNAVAILABLE, "notification queue full; retry shortly");
        return;
    }
    notif *n = notif_new(pid, json_string_value(type), json_string_value(subject),
                         content && !json_is_null(content) ? json_deep_copy(content) : json_object());
    n->req = r;
    enqueue(n);
}

/* --------------------------------------------- GET /v1/notifications */

typedef struct list_ctx {
    mb_http_req *req;
    long long limit;
} list_ctx;

static void list_done(void *ud, const mb_db_result *res)
{
    list_ctx *c = ud;
    if (!res->ok) {
        mb_http_db_error(c->req, res, NULL);
        free(c);
        return;
    }
    json_t *arr = json_array();
    int rows = PQntuples(res->res);
    int shown = rows > c->limit ? (int)c->limit : rows;
    for (int i = 0; i < shown; i++) {
        json_t *content = json_loads(PQgetvalue(res->res, i, 3), 0, NULL);
        json_array_append_new(
            arr, json_pack(
                     "{s:s,s:s,s:s,s:o,s:o,s:s,s:b}", "id", PQgetvalue(res->res, i, 0), "type",
                     PQgetvalue(res->res, i, 1), "subject", PQgetvalue(res->res, i, 2), "content",
                     content ? content : json_object(), "sender_id",
                     PQgetisnull(res->res, i, 4) ? json_null() : json_string(PQgetvalue(res->res, i, 4)),
                     "created_at", PQgetvalue(res->res, i, 5), "read", PQgetvalue(res->res, i, 6)[0] == 't'));
    }
    json_t *next =
        rows > c->limit && shown > 0 ? json_string(PQgetvalue(res->res, shown - 1, 7)) : json_null();
    mb_http_respond(c->req, 200, json_pack("{s:o,s:o}", "notifications", arr, "next_cursor", next));
    free(c);
}

static const char *field_unread(const json_t *v)
{
    const char *s = json_string_value(v);
    return strcmp(s, "true") && strcmp(s, "1") && strcmp(s, "false") && strcmp(s, "0")
               ? "unread must be true or false"
               : NULL;
}
static const char *field_cursor(const json_t *v)
{
    const char *s = json_string_value(v);
    return strlen(s) > 18 || strspn(s, "0123456789") != strlen(s)
               ? "cursor must be a next_cursor value from a previous page"
               : NULL;
}

const mb_field notifications_list_query[] = {
    {"limit", MB_F_STRING, false, 0, 0, social_field_limit, "integer >= 1 (at most 100 are returned)"},
    {"unread", MB_F_STRING, false, 0, 0, field_unread, "true|false|1|0"},
    {"cursor", MB_F_STRING, false, 0, 0, field_cursor, "next_cursor"},
    {NULL},
};

/* limit=, unread=, cursor=: notifications_list_query */
void notifications_route_list(mb_http_req *r)
{
    long long limit;
    if (social_query_int(r, "limit", LIST_DEFAULT, 1, LIST_MAX, &limit) != MB_OK) return;
    const char *unread = mb_http_query(r, "unread");
    bool only_unread = unread && (!strcmp(unread, "true") || !strcmp(unread, "1"));
    const char *cursor = mb_http_query(r, "cursor");
    if (cursor && !*cursor) cursor = NULL;
    list_ctx *c = mb_calloc(1, sizeof *c);
    c->req = r;
    c->limit = limit;
    char lim[24];
    snprintf(lim, sizeof lim, "%lld", limit + 1);
    char *undo = social_undo_ids("notifications");
    const char *p[] = {mb_http_player(r), only_unread ? "true" : "false", cursor, undo, lim};
    mb_db_query(
        "SELECT id::text, type, subject, content::text, sender_id::text, " SOCIAL_TS(
            "created_at") ", read, seq FROM notifications WHERE player_id = $1::uuid AND (NOT $2::bool OR NOT read)"
                          " AND ($3::bigint IS NULL OR seq < $3::bigint) AND NOT (id = ANY($4::uuid[]))"
                          " ORDER BY seq DESC LIMIT $5::int",
        5, p, list_done, c);
    free(undo);
}

/* -------------------------------------- POST /v1/notifications/read */

static void count_done(void *ud, const mb_db_result *res)
{
    mb_http_req *r = ud;
    if (!res->ok) {
        mb_http_db_error(r, res, NULL);
        return;
    }
    mb_http_respond(r, 200, json_pack("{s:I}", "updated", (json_int_t)atoll(PQcmdTuples(res->res))));
}

static const char *field_ids(const json_t *v)
{
    if (json_array_size(v) == 0)
        return "ids must be an array of 1..100 notification ids (or send {\"all\": true})";
    size_t i;
    json_t *id;
    json_array_foreach (v, i, id)
        if (!json_is_string(id) || !mb_uuid_valid(json_string_value(id)))
            return "ids must be notification ids (UUIDs)";
    return NULL;
}

const mb_field notifications_read_fields[] = {
    {"ids", MB_F_ARRAY, false, 0, READ_MAX_IDS, field_ids, "notification ids (uuid)"},
    {"all", MB_F_BOOL, false, 0, 0, NULL, NULL},
    {NULL},
};

/* Types and formats: notifications_read_fields; left here: ids or all. */
void notifications_route_read(mb_http_req *r)
{
    json_t *b = mb_http_body(r);
    json_t *ids = json_object_get(b, "ids");
    json_t *all = json_object_get(b, "all");
    if (json_is_null(ids)) ids = NULL;
    if (json_is_true(all) && !ids) {
        const char *p[] = {mb_http_player(r)};
        mb_db_query("UPDATE notifications SET read = true WHERE player_id = $1::uuid AND NOT read", 1, p,
                    count_done, r);
        return;
    }
    if (!ids) {
        mb_http_error(r, MB_E_BAD_REQUEST,
                      "ids must be an array of 1..%d notification ids (or send {\"all\": true})",
                      READ_MAX_IDS);
        return;
    }
    char *lit = mb_malloc(json_array_size(ids) * 37 + 3);
    size_t o = 0, i;
    json_t *v;
    lit[o++] = '{';
    json_array_foreach (ids, i, v) {
        if (i) lit[o++] = ',';
        memcpy(lit + o, json_string_value(v), 36);
        o += 36;
    }
    lit[o++] = '}';
    lit[o] = '\0';
    const char *p[] = {mb_http_player(r), lit};
    mb_db_query("UPDATE notifications SET read = true WHERE player_id = $1::uuid AND id = ANY($2::uuid[])"
                " AND NOT read",
                2, p, count_done, r);
    free(lit);
}

/* ------------------------------------- DELETE /v1/notifications/{id} */

static void delete_done(void *ud, const mb_db_result *res)
{
    mb_http_req *r = ud;
    if (!res->ok) {
        mb_http_db_error(r, res, NULL);
        return;
    }
    if (atoll(PQcmdTuples(res->res)) == 0) {
        mb_http_error(r, MB_E_NOT_FOUND, "no such notification");
        return;
    }
    mb_http_respond(r, 200, json_pack("{s:s,s:b}", "id", mb_http_param(r, 0), "deleted", 1));
}

void notifications_route_delete(mb_http_req *r)
{
    const char *id = mb_http_param(r, 0);
    if (!mb_uuid_valid(id)) {
        mb_http_error(r, MB_E_BAD_REQUEST, "id must be a notification id (UUID)");
        return;
    }
    const char *p[] = {id, mb_http_player(r)};
    mb_db_query("DELETE FROM notifications WHERE id = $1::uuid AND player_id = $2::uuid", 2, p, delete_done,
                r);
}

/* ------------------------------------------------------------- module */

/* Cluster: a node was lost; this node (the one holding the lock) tells
 * each player of each of its live matches (docs/CLUSTER.md). */
static void node_lost(const char *node, json_t *list)
{
    for (size_t i = 0; i < json_array_size(list); i++) {
        json_t *e = json_array_get(list, i);
        json_t *players = json_object_get(e, "players");
        const char *mid = json_string_value(json_object_get(e, "match_id"));
        for (size_t k = 0; mid && k < json_array_size(players); k++) {
            const char *pid = json_string_value(json_array_get(players, k));
            if (!pid || !mb_uuid_valid(pid) || q_n >= QUEUE_MAX) continue;
            const char *mode = json_string_value(json_object_get(e, "mode"));
            enqueue(notif_new(
                pid, "moonbase.match_lost", "Your match ended: its server stopped",
                json_pack("{s:s,s:s,s:s}", "match_id", mid, "node_id", node, "mode", mode ? mode : "")));
        }
    }
}

void notifications_init(void)
{
    /* every VM the match runtime makes gets moonbase.notify (the scripts
     * load in the match module's start, after every module's init) */
    match_ext_add_function("notify", l_notify, NOTIFY_CONTEXTS);
    if (cluster_enabled()) cluster_on_node_lost(node_lost);
    ev_init(&retry_w, retry_cb);
    if (cluster_enabled()) cluster_on_bus("notification", remote_notification);
    m_created = mb_metric("moonbase_notifications_created_total", "", MB_COUNTER,
                          "notifications stored from scripts and the admin API");
    m_delivered = mb_metric("moonbase_notifications_delivered_total", "", MB_COUNTER,
                            "notification.new messages sent to sockets");
    m_dropped = mb_metric("moonbase_notifications_dropped_total", "", MB_COUNTER,
                          "script notifications given up (unknown player, database away too long)");
}

void notifications_destroy(void)
{
    ev_timer_stop(mb_loop(), &retry_w);
    if (q_n)
        mb_warn("notifications_lost", "queued=%zu reason=\"server stopped before they were stored\"", q_n);
    while (q_head) {
        notif *n = q_head;
        q_head = n->next;
        if (n->req) mb_http_error(n->req, MB_E_UNAVAILABLE, "server shutting down");
        notif_free(n);
    }
    q_tail = NULL;
    q_n = 0;
    busy = false;
    retry_ms = 0;
}

char *notifications_metrics(void)
{
    return mb_sprintf("# HELP moonbase_notifications_queued notifications waiting for their INSERT\n"
                      "# TYPE moonbase_notifications_queued gauge\nmoonbase_notifications_queued %zu\n",
                      q_n);
}
