/*
 * social.c - what the parts of the social module share (see social.h): the
 * query and relation helpers, and the undo queue for writes whose commit
 * is in doubt (also used by the chat module).
 *
 * Not here: the module table and its hooks (social_module.c), presence,
 * friends and notifications (presence.c, friends.c, notifications.c). This
 * file calls none of them; they all call it.
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

void social_undo_init(void)
{
    m_undo = mb_metric("moonbase_social_undo_pending", "", MB_GAUGE,
                       "writes in doubt waiting for their compensating delete");
    ev_init(&undo_w, undo_cb);
    undo_w.repeat = 0.25;
}

void social_undo_destroy(void)
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
}
