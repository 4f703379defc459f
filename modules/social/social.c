/*
 * social.c - the social module (presence, friends, notifications): its
 * table for the runtime, helpers the three parts share, and the undo queue
 * for writes whose commit is in doubt (see social.h).
 */
#include "social.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ----------------------------------------------------------- helpers */

mb_status social_query_int(mb_http_req *r, const char *name, long long def, long long min, long long max,
                           long long *out)
{
    const char *v = mb_http_query(r, name);
    if (!v || !*v) {
        *out = def;
        return MB_OK;
    }
    char *end = NULL;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (errno || *end || n < min) {
        mb_http_error(r, MB_E_BAD_REQUEST, "query parameter '%s' must be an integer >= %lld", name, min);
        return MB_ERR;
    }
    *out = n > max ? max : n;
    return MB_OK;
}

const char *social_field_limit(const json_t *v)
{
    const char *s = json_string_value(v);
    char *end = NULL;
    errno = 0;
    long long n = strtoll(s, &end, 10);
    return errno || *end || n < 1 ? "query parameter 'limit' must be an integer >= 1" : NULL;
}

static const char *const rel_names[] = {"none", "friend", "invite_sent", "invite_received", "blocked"};

const char *social_rel_name(social_rel r)
{
    return (unsigned)r < MB_ARRAY_LEN(rel_names) ? rel_names[r] : "none";
}

social_rel social_rel_parse(const char *s)
{
    for (size_t i = 1; s && i < MB_ARRAY_LEN(rel_names); i++)
        if (strcmp(s, rel_names[i]) == 0) return (social_rel)i;
    return REL_NONE;
}

/* -------------------------------------------------------- undo queue */

typedef struct undo_list {
    const char *table;
    const char *delete_sql; /* a fixed statement per table: no SQL is built from strings */
    char (*ids)[37];
    size_t n, cap;
    size_t inflight; /* the first `inflight` ids are being deleted now */
} undo_list;

static undo_list undo[2] = {
    {.table = "chat_messages", .delete_sql = "DELETE FROM chat_messages WHERE id = ANY($1::uuid[])"},
    {.table = "notifications", .delete_sql = "DELETE FROM notifications WHERE id = ANY($1::uuid[])"},
};
static ev_timer undo_w;
static double *m_undo;

static undo_list *undo_find(const char *table)
{
    for (size_t i = 0; i < MB_ARRAY_LEN(undo); i++)
        if (strcmp(undo[i].table, table) == 0) return &undo[i];
    return NULL;
}

size_t social_undo_pending(void)
{
    size_t n = 0;
    for (size_t i = 0; i < MB_ARRAY_LEN(undo); i++) n += undo[i].n;
    return n;
}

static char *ids_literal(const undo_list *u, size_t count)
{
    char *s = mb_malloc(count * 37 + 3);
    size_t o = 0;
    s[o++] = '{';
    for (size_t i = 0; i < count; i++) {
        if (i) s[o++] = ',';
        memcpy(s + o, u->ids[i], 36);
        o += 36;
    }
    s[o++] = '}';
    s[o] = '\0';
    return s;
}

char *social_undo_ids(const char *table)
{
    undo_list *u = undo_find(table);
    return u ? ids_literal(u, u->n) : mb_strdup("{}");
}

static void undo_done(void *ud, const mb_db_result *res)
{
    undo_list *u = ud;
    size_t k = u->inflight;
    u->inflight = 0;
    if (!res->ok) return; /* the timer tries again */
    mb_info("social_undo_done", "table=%s rows=%s ids=%zu", u->table, PQcmdTuples(res->res), k);
    memmove(u->ids, u->ids + k, (u->n - k) * sizeof *u->ids);
    u->n -= k;
    *m_undo = (double)social_undo_pending();
}

static void undo_pump(void)
{
    for (size_t i = 0; i < MB_ARRAY_LEN(undo); i++) {
        undo_list *u = &undo[i];
        if (!u->n || u->inflight || !mb_db_available()) continue;
        u->inflight = u->n > 1000 ? 1000 : u->n;
        char *lit = ids_literal(u, u->inflight);
        const char *p[] = {lit};
        mb_db_query(u->delete_sql, 1, p, undo_done, u);
        free(lit);
    }
}

static void undo_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    undo_pump();
    if (!social_undo_pending()) ev_timer_stop(loop, w);
}

void social_undo_add(const char *table, const char *id)
{
    undo_list *u = undo_find(table);
    if (!u) return;
    if (u->n == u->cap) {
        u->cap = u->cap ? u->cap * 2 : 64;
        u->ids = mb_realloc(u->ids, u->cap * sizeof *u->ids);
    }
    snprintf(u->ids[u->n++], 37, "%s", id);
    *m_undo = (double)social_undo_pending();
    if (!ev_is_active(&undo_w)) ev_timer_again(mb_loop(), &undo_w);
}

/* ------------------------------------------------------------- module */

static const mb_field update_fields[] = {
    {"status", MB_F_STRING, true, 1, 32},
    {"metadata", MB_F_OBJECT, false, 0, 16},
    {NULL},
};

static const mb_msg_def messages[] = {
    {"presence.update", update_fields, presence_on_update, false},
};

static const mb_route routes[] = {
    {"GET", "/v1/presence", presence_route_get, MB_AUTH_BEARER, false},
    {"POST", "/v1/friends", friends_route_add, MB_AUTH_BEARER, false, friends_add_fields, 0},
    {"GET", "/v1/friends", friends_route_list, MB_AUTH_BEARER, false, NULL, 0, friends_list_query},
    {"DELETE", "/v1/friends/{player_id}", friends_route_remove, MB_AUTH_BEARER, false},
    {"POST", "/v1/friends/{player_id}/block", friends_route_block, MB_AUTH_BEARER, false},
    {"GET", "/v1/notifications", notifications_route_list, MB_AUTH_BEARER, false, NULL, 0,
     notifications_list_query},
    {"POST", "/v1/notifications/read", notifications_route_read, MB_AUTH_BEARER, false,
     notifications_read_fields, 0},
    {"DELETE", "/v1/notifications/{id}", notifications_route_delete, MB_AUTH_BEARER, false},
    {"POST", "/v1/admin/notifications", notifications_route_admin, MB_AUTH_ADMIN, false,
     notifications_admin_fields, 0},
};

static mb_status social_init(void)
{
    m_undo = mb_metric("moonbase_social_undo_pending", "", MB_GAUGE,
                       "writes in doubt waiting for their compensating delete");
    ev_init(&undo_w, undo_cb);
    undo_w.repeat = 0.25;
    presence_init();
    notifications_init();
    return MB_OK;
}

static void social_destroy(void)
{
    ev_timer_stop(mb_loop(), &undo_w);
    for (size_t i = 0; i < MB_ARRAY_LEN(undo); i++) {
        if (undo[i].n)
            mb_error("social_undo_lost",
                     "table=%s ids=%zu note=\"rows whose commit was in doubt may remain\"", undo[i].table,
                     undo[i].n);
        free(undo[i].ids);
        undo[i].ids = NULL;
        undo[i].n = undo[i].cap = undo[i].inflight = 0;
    }
    notifications_destroy();
    presence_destroy();
}

static void social_before_sleep(void)
{
    presence_flush();
    notifications_flush();
}

static char *social_metrics(void)
{
    char *a = presence_metrics(), *b = notifications_metrics();
    char *out = mb_sprintf("%s%s", a, b);
    free(a);
    free(b);
    return out;
}

const mb_module social_module = {
    .api = MB_MODULE_API,
    .name = "social",
    .requires = MB_REQUIRES("match", "cluster"),
    .init = social_init,
    .destroy = social_destroy,
    .messages = messages,
    .n_messages = MB_ARRAY_LEN(messages),
    .routes = routes,
    .n_routes = MB_ARRAY_LEN(routes),
    .session_authed = presence_session_authed,
    .session_closed = presence_session_closed,
    .before_sleep = social_before_sleep,
    .metrics = social_metrics,
};
