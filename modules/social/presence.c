/*
 * presence.c - who is online and what they are doing.
 *
 * A player is online from their first authenticated socket; when the last
 * one closes they stay online for PRESENCE_GRACE_MS, so a reconnect (page
 * reload, network switch) changes nothing for their friends. While online,
 * their relationships (friends, invites, blocks both ways) are cached here,
 * loaded by one query at connect and kept current by friends.c after each
 * committed change; presence.changed goes to the online friends from that
 * cache. Changes are coalesced: presence_flush (before the loop sleeps)
 * sends a player's presence once per iteration, and only when it differs
 * from what their friends last saw.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "ratelimit.h"
#include "social.h"

#define PRESENCE_GRACE_MS 2000
#define METADATA_MAX_BYTES 1024
#define UPDATE_RATE 5.0 /* presence.update per second per player */
#define UPDATE_BURST 10.0
#define GET_MAX_IDS 25 /* the runtime drops query arguments over 1023 bytes */

#define REL_TAG 0x100u       /* map values must be non-NULL */
#define REL_BLOCKED_BY 0x10u /* they blocked me */

typedef struct pres {
    char id[40];
    uint64_t gen; /* tells a reused id from this entry in callbacks */
    char *status;
    json_t *metadata; /* object or NULL */
    char *sent;       /* last presence.changed payload friends got, or NULL */
    int sockets;
    bool loaded, loading, reload, dirty, gone;
    mb_smap rels; /* other id -> (void *)(REL_TAG | social_rel | REL_BLOCKED_BY?) */
    ev_timer grace_w, retry_w;
    int retry_ms;
    mb_bucket rate;
} pres;

static mb_smap players; /* player id -> pres */
static pres **dirty;    /* to flush before the loop sleeps */
static size_t n_dirty, cap_dirty;
static uint64_t next_gen = 1;
static double *m_changed, *m_loads;

/* Cluster (docs/CLUSTER.md): players online on other nodes, as those nodes
 * announce it on the bus ("presence"): player id -> remote_pres. A player is
 * online while any node has them; offline is told when the last one lets go. */
typedef struct remote_pres {
    mb_smap nodes;   /* node id -> last presence.changed payload text (malloc'd) */
    json_t *friends; /* the friend ids the last announcement named */
} remote_pres;
static mb_smap remote;

static bool online_elsewhere(const char *pid)
{
    remote_pres *r = mb_smap_get(&remote, pid);
    return r && r->nodes.count > 0;
}

/* Has another node announced exactly this payload for pid (friends saw it)? */
static bool remote_has(const char *pid, const char *text)
{
    remote_pres *r = mb_smap_get(&remote, pid);
    const char *k;
    void *v;
    for (size_t it = 0; r && mb_smap_next(&r->nodes, &it, &k, &v);)
        if (strcmp(v, text) == 0) return true;
    return false;
}

static const char rels_sql[] = "SELECT other_id::text, state FROM friendships WHERE player_id = $1::uuid"
                               " UNION ALL SELECT player_id::text, 'blocked_by' FROM friendships"
                               " WHERE other_id = $1::uuid AND state = 'blocked'";

/* ------------------------------------------------------------ entries */

static unsigned rel_get(const pres *p, const char *other)
{
    return (unsigned)(uintptr_t)mb_smap_get(&p->rels, other);
}

static void rel_put(pres *p, const char *other, unsigned v)
{
    if ((v & ~REL_TAG) == 0) mb_smap_del(&p->rels, other);
    else mb_smap_put(&p->rels, other, (void *)(uintptr_t)(v | REL_TAG));
}

static bool is_friend(unsigned v) { return (v & 0x0f) == REL_FRIEND && !(v & REL_BLOCKED_BY); }

static void mark_dirty(pres *p)
{
    if (p->dirty) return;
    p->dirty = true;
    if (n_dirty == cap_dirty) {
        cap_dirty = cap_dirty ? cap_dirty * 2 : 64;
        dirty = mb_realloc(dirty, cap_dirty * sizeof *dirty);
    }
    dirty[n_dirty++] = p;
}

static void set_status(pres *p, const char *status, json_t *metadata /* steals */)
{
    free(p->status);
    p->status = mb_strdup(status);
    json_decref(p->metadata);
    p->metadata = metadata;
    mark_dirty(p);
}

static void pres_free(pres *p)
{
    ev_timer_stop(mb_loop(), &p->grace_w);
    ev_timer_stop(mb_loop(), &p->retry_w);
    mb_smap_free(&p->rels);
    free(p->status);
    free(p->sent);
    json_decref(p->metadata);
    free(p);
}

/* Relationship reads are grouped: every player coming online in one loop
 * iteration is read by one query (a reconnect storm costs a few queries,
 * not one per player), sent from presence_flush. */
typedef struct load_ref {
    char id[40];
    uint64_t gen;
} load_ref;

typedef struct load_batch {
    load_ref *refs;
    size_t n;
} load_batch;

static load_ref *load_q;
static size_t n_load_q, cap_load_q;

#define LOAD_BATCH_MAX 500

static const char rels_batch_sql[] =
    "SELECT player_id::text, other_id::text, state FROM friendships WHERE player_id = ANY($1::uuid[])"
    " UNION ALL SELECT other_id::text, player_id::text, 'blocked_by' FROM friendships"
    " WHERE other_id = ANY($1::uuid[]) AND state = 'blocked'";

static void load_rels(pres *p)
{
    if (p->loading) {
        p->reload = true;
        return;
    }
    p->loading = true;
    p->reload = false;
    if (n_load_q == cap_load_q) {
        cap_load_q = cap_load_q ? cap_load_q * 2 : 64;
        load_q = mb_realloc(load_q, cap_load_q * sizeof *load_q);
    }
    snprintf(load_q[n_load_q].id, sizeof load_q[n_load_q].id, "%s", p->id);
    load_q[n_load_q++].gen = p->gen;
}

static void retry_cb(struct ev_loop *loop, ev_timer *w, int revents) { load_rels(w->data); }

static void rels_loaded(void *ud, const mb_db_result *res)
{
    load_batch *b = ud;
    mb_smap mine; /* id -> pres of this batch still waiting for it */
    mb_smap_init(&mine);
    for (size_t i = 0; i < b->n; i++) {
        pres *p = mb_smap_get(&players, b->refs[i].id);
        if (!p || p->gen != b->refs[i].gen || p->gone) continue;
        p->loading = false;
        if (!res->ok) {
            /* Keep what we had (if anything) and try again with backoff. */
            p->retry_ms = p->retry_ms ? (p->retry_ms * 2 > 5000 ? 5000 : p->retry_ms * 2) : 250;
            ev_timer_set(&p->retry_w, p->retry_ms / 1000.0, 0.);
            ev_timer_start(mb_loop(), &p->retry_w);
            continue;
        }
        p->retry_ms = 0;
        if (p->reload) { /* a change committed while we read: read again */
            load_rels(p);
            continue;
        }
        mb_smap_free(&p->rels);
        mb_smap_init(&p->rels);
        p->loaded = true;
        mark_dirty(p); /* announce to friends now that we know them */
        mb_smap_put(&mine, p->id, p);
    }
    for (int i = 0; res->ok && mine.count && i < PQntuples(res->res); i++) {
        pres *p = mb_smap_get(&mine, PQgetvalue(res->res, i, 0));
        if (!p) continue;
        const char *other = PQgetvalue(res->res, i, 1);
        const char *st = PQgetvalue(res->res, i, 2);
        unsigned v = rel_get(p, other) & ~REL_TAG;
        if (strcmp(st, "blocked_by") == 0) v |= REL_BLOCKED_BY;
        else v = (v & ~0x0fu) | (unsigned)social_rel_parse(st);
        rel_put(p, other, v);
    }
    mb_smap_free(&mine);
    free(b->refs);
    free(b);
}

static void load_flush(void)
{
    while (n_load_q) {
        size_t k = n_load_q > LOAD_BATCH_MAX ? LOAD_BATCH_MAX : n_load_q;
        load_batch *b = mb_malloc(sizeof *b);
        b->n = k;
        b->refs = mb_malloc(k * sizeof *b->refs);
        memcpy(b->refs, load_q, k * sizeof *b->refs);
        memmove(load_q, load_q + k, (n_load_q - k) * sizeof *load_q);
        n_load_q -= k;
        char *lit = mb_malloc(k * 37 + 3), *o = lit;
        *o++ = '{';
        for (size_t i = 0; i < k; i++) o += sprintf(o, "%s%.36s", i ? "," : "", b->refs[i].id);
        *o++ = '}';
        *o = '\0';
        *m_loads += 1;
        const char *params[] = {lit};
        mb_db_query(rels_batch_sql, 1, params, rels_loaded, b);
        free(lit);
    }
}

static void grace_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    pres *p = w->data;
    if (p->sockets > 0) return;
    p->gone = true;
    set_status(p, "offline", NULL); /* flushed (and freed) before the loop sleeps */
}

static pres *pres_get(const char *player_id, bool create)
{
    pres *p = mb_smap_get(&players, player_id);
    if (p || !create) return p;
    p = mb_calloc(1, sizeof *p);
    snprintf(p->id, sizeof p->id, "%s", player_id);
    p->gen = next_gen++;
    p->status = mb_strdup("online");
    mb_smap_init(&p->rels);
    ev_init(&p->grace_w, grace_cb);
    p->grace_w.data = p;
    ev_init(&p->retry_w, retry_cb);
    p->retry_w.data = p;
    mb_bucket_init(&p->rate, UPDATE_BURST, mb_now_ms());
    mb_smap_put(&players, p->id, p);
    return p;
}

/* Cluster: a player already online on another node keeps the status set
 * there when a socket of theirs arrives here. */
static void inherit_remote(pres *p)
{
    remote_pres *r = mb_smap_get(&remote, p->id);
    const char *k;
    void *v;
    size_t it = 0;
    if (!r || !mb_smap_next(&r->nodes, &it, &k, &v)) return;
    json_t *o = json_loads(v, 0, NULL);
    const char *st = json_string_value(json_object_get(o, "status"));
    if (st && strcmp(st, "offline") != 0) {
        free(p->status);
        p->status = mb_strdup(st);
        json_t *md = json_object_get(o, "metadata");
        json_decref(p->metadata);
        p->metadata = json_is_object(md) ? json_incref(md) : NULL;
    }
    json_decref(o);
}

/* Online for others: has a live entry that is not on its way out. */
static pres *online(const char *player_id)
{
    pres *p = mb_smap_get(&players, player_id);
    return p && !p->gone ? p : NULL;
}

/* ------------------------------------------------------------ sessions */

void presence_session_authed(mb_session *s)
{
    const char *pid = mb_session_player(s);
    if (strlen(pid) >= 40) return;
    pres *p = mb_smap_get(&players, pid);
    if (p && p->gone) {
        /* Grace ran out in this very iteration: let the old entry flush
         * its offline, start a fresh one. */
        mb_smap_del(&players, pid);
        p = NULL;
    }
    if (!p) {
        p = pres_get(pid, true);
        inherit_remote(p);
        load_rels(p);
    }
    p->sockets++;
    ev_timer_stop(mb_loop(), &p->grace_w);
}

void presence_session_closed(mb_session *s)
{
    pres *p = online(mb_session_player(s));
    if (!p || p->sockets <= 0) return;
    if (--p->sockets > 0) return;
    ev_timer_set(&p->grace_w, PRESENCE_GRACE_MS / 1000.0, 0.);
    ev_timer_start(mb_loop(), &p->grace_w);
}

/* ---------------------------------------------------------- fan-out */

static json_t *payload_of(const pres *p, bool full)
{
    json_t *o = json_pack("{s:s,s:s}", "player_id", p->id, "status", p->status);
    if (full && p->metadata) json_object_set(o, "metadata", p->metadata);
    return o;
}

static void announce(const pres *p, const char *text);

static void fan_out(pres *p)
{
    json_t *pl = payload_of(p, true);
    char *text = json_dumps(pl, JSON_COMPACT);
    json_decref(pl);
    /* Friends never saw this player online: nothing to tell about offline. */
    bool skip = (!p->sent && p->gone) || (p->sent && strcmp(p->sent, text) == 0);
    if (skip) {
        free(text);
        return;
    }
    /* cluster: still online on another node (friends here keep that), or
     * another node told them this very payload already */
    bool quiet = p->gone ? online_elsewhere(p->id) : remote_has(p->id, text);
    mb_frame *f = mb_frame_envelope_raw("presence.changed", text, strlen(text));
    size_t it = 0;
    const char *other;
    void *v;
    int n = 0;
    while (!quiet && mb_smap_next(&p->rels, &it, &other, &v))
        if (is_friend((unsigned)(uintptr_t)v) && online(other)) n += mb_player_send_frame(other, f);
    mb_frame_unref(f);
    if (cluster_enabled()) announce(p, text);
    *mb_metric_msg_out("presence.changed") += n;
    *m_changed += 1;
    free(p->sent);
    p->sent = text;
}

void presence_flush(void)
{
    load_flush();
    /* Entries may be freed here, and fan-out never marks others dirty. */
    for (size_t i = 0; i < n_dirty; i++) {
        pres *p = dirty[i];
        p->dirty = false;
        if (p->loaded) fan_out(p);
        if (p->gone) {
            if (mb_smap_get(&players, p->id) == p) mb_smap_del(&players, p->id);
            pres_free(p);
        }
    }
    n_dirty = 0;
}

void presence_tell(const char *to, const char *about, bool hide)
{
    pres *p = online(about);
    if (!p || !online(to)) return;
    json_t *pl = hide ? json_pack("{s:s,s:s}", "player_id", p->id, "status", "offline") : payload_of(p, true);
    mb_player_send(to, "presence.changed", pl);
    json_decref(pl);
}

/* ----------------------------------------------------- relationships */

bool presence_blocked(const char *a, const char *b)
{
    pres *p = online(a);
    if (!p || !p->loaded) return false;
    unsigned v = rel_get(p, b);
    return (v & REL_BLOCKED_BY) || (v & 0x0f) == REL_BLOCKED;
}

static void rel_set_here(const char *a, const char *b, int state, int blocked_by);

void presence_rel_set(const char *a, const char *b, int state, int blocked_by)
{
    /* cluster: a may be online on another node (its cache there, and a friend
     * just made learns a's presence from there) */
    if (cluster_enabled())
        cluster_broadcast("presence_rel", json_pack("{s:s,s:s,s:i,s:i}", "a", a, "b", b, "state", state,
                                                    "blocked_by", blocked_by));
    rel_set_here(a, b, state, blocked_by);
}

static void rel_set_here(const char *a, const char *b, int state, int blocked_by)
{
    pres *p = online(a);
    if (!p) return;
    if (p->loading) {
        p->reload = true;
        return;
    }
    if (!p->loaded) return; /* the pending retry reads everything */
    unsigned v = rel_get(p, b) & ~REL_TAG;
    if (state >= 0) v = (v & ~0x0fu) | (unsigned)state;
    if (blocked_by == 1) v |= REL_BLOCKED_BY;
    else if (blocked_by == 0) v &= ~REL_BLOCKED_BY;
    rel_put(p, b, v);
    if (cluster_enabled() && p->sent) announce(p, p->sent); /* the other nodes learn the new friend list */
}

void presence_rel_stale(const char *a)
{
    pres *p = online(a);
    if (p && !ev_is_active(&p->retry_w)) load_rels(p);
}

/* ------------------------------------------------------------ cluster */

/* This node's change of p, to the other nodes: the payload and p's friends. */
static void announce(const pres *p, const char *text)
{
    json_t *friends = json_array();
    size_t it = 0;
    const char *other;
    void *v;
    while (mb_smap_next(&p->rels, &it, &other, &v))
        if (is_friend((unsigned)(uintptr_t)v)) json_array_append_new(friends, json_string(other));
    cluster_broadcast("presence", json_pack("{s:s,s:s,s:b,s:o}", "player_id", p->id, "payload", text, "gone",
                                            p->gone, "friends", friends));
}

static void remote_free(remote_pres *r)
{
    const char *k;
    void *v;
    for (size_t it = 0; mb_smap_next(&r->nodes, &it, &k, &v);) free(v);
    mb_smap_free(&r->nodes);
    json_decref(r->friends);
    free(r);
}

/* Tell this node's sockets of pid's friends (the ids in friends). */
static void tell_friends(const char *pid, json_t *friends, const char *text)
{
    pres *here = online(pid);
    if (here && here->sent && strcmp(here->sent, text) == 0) return; /* they know it already */
    mb_frame *f = mb_frame_envelope_raw("presence.changed", text, strlen(text));
    int n = 0;
    for (size_t i = 0; i < json_array_size(friends); i++) {
        const char *fid = json_string_value(json_array_get(friends, i));
        if (fid && online(fid)) n += mb_player_send_frame(fid, f);
    }
    mb_frame_unref(f);
    *mb_metric_msg_out("presence.changed") += n;
}

static void remote_presence(const char *from, json_t *d)
{
    const char *pid = json_string_value(json_object_get(d, "player_id"));
    const char *text = json_string_value(json_object_get(d, "payload"));
    json_t *friends = json_object_get(d, "friends");
    bool gone = json_is_true(json_object_get(d, "gone"));
    if (!pid || !text || !json_is_array(friends) || strlen(pid) >= 40) return;
    bool known = !gone && (remote_has(pid, text) ||
                           (online(pid) && online(pid)->sent && strcmp(online(pid)->sent, text) == 0));
    remote_pres *r = mb_smap_get(&remote, pid);
    if (!r && !gone) {
        r = mb_calloc(1, sizeof *r);
        mb_smap_init(&r->nodes);
        mb_smap_put(&remote, pid, r);
    }
    if (r) {
        json_decref(r->friends);
        r->friends = json_incref(friends);
        free(gone ? mb_smap_del(&r->nodes, from) : mb_smap_put(&r->nodes, from, mb_strdup(text)));
        if (r->nodes.count == 0) {
            mb_smap_del(&remote, pid);
            remote_free(r);
        }
    }
    /* offline only when no node has them any more; a payload friends saw
     * from another node is not told twice */
    if (known || (gone && (online(pid) || online_elsewhere(pid)))) return;
    tell_friends(pid, friends, text);
}

/* A node left: its players are offline unless another node has them. */
static void remote_node_gone(const char *node)
{
    const char *pid;
    void *v;
    for (size_t it = 0; mb_smap_next(&remote, &it, &pid, &v);) {
        remote_pres *r = v;
        char *text = mb_smap_del(&r->nodes, node);
        if (!text) continue;
        free(text);
        if (r->nodes.count == 0 && !online(pid)) {
            json_t *pl = json_pack("{s:s,s:s}", "player_id", pid, "status", "offline");
            char *off = json_dumps(pl, JSON_COMPACT);
            json_decref(pl);
            tell_friends(pid, r->friends, off);
            free(off);
        }
        if (r->nodes.count == 0) {
            mb_smap_del(&remote, pid); /* deleting the current entry is safe (map.h) */
            remote_free(r);
        }
    }
}

static void remote_rel(const char *from, json_t *d)
{
    const char *a = json_string_value(json_object_get(d, "a"));
    const char *b = json_string_value(json_object_get(d, "b"));
    if (!a || !b) return;
    int state = (int)json_integer_value(json_object_get(d, "state"));
    rel_set_here(a, b, state, (int)json_integer_value(json_object_get(d, "blocked_by")));
    pres *p = online(a);
    if (state == REL_FRIEND && p && p->sent) /* a new friend b (elsewhere) learns a's presence */
        cluster_broadcast("presence_to", json_pack("{s:s,s:s}", "to", b, "payload", p->sent));
}

static void remote_presence_to(const char *from, json_t *d)
{
    const char *to = json_string_value(json_object_get(d, "to"));
    const char *text = json_string_value(json_object_get(d, "payload"));
    if (!to || !text || !online(to)) return;
    mb_frame *f = mb_frame_envelope_raw("presence.changed", text, strlen(text));
    *mb_metric_msg_out("presence.changed") += mb_player_send_frame(to, f);
    mb_frame_unref(f);
}

json_t *presence_json(const char *player_id, bool full)
{
    pres *p = online(player_id);
    if (!p) { /* cluster: online on another node? its last announcement */
        remote_pres *r = mb_smap_get(&remote, player_id);
        const char *k;
        void *v;
        size_t it = 0;
        if (r && mb_smap_next(&r->nodes, &it, &k, &v)) {
            json_t *o = json_loads(v, 0, NULL);
            if (json_is_object(o)) {
                json_object_del(o, "player_id");
                if (!full) json_object_del(o, "metadata");
                return o;
            }
            json_decref(o);
        }
    }
    if (!p) return json_pack("{s:s}", "status", "offline");
    json_t *o = json_pack("{s:s}", "status", p->status);
    if (full && p->metadata) json_object_set(o, "metadata", p->metadata);
    return o;
}

/* -------------------------------------------------- presence.update */

void presence_on_update(mb_session *s, const char *cid, json_t *payload)
{
    const char *pid = mb_session_player(s);
    json_t *st = json_object_get(payload, "status");
    json_t *meta = json_object_get(payload, "metadata");
    if (strlen(json_string_value(st)) != json_string_length(st)) {
        mb_session_error(s, cid, "presence.update", MB_E_BAD_REQUEST, "status must not contain NUL");
        return;
    }
    if (meta && json_is_null(meta)) meta = NULL;
    if (meta) {
        char *t = json_dumps(meta, JSON_COMPACT);
        size_t n = strlen(t);
        free(t);
        if (n > METADATA_MAX_BYTES) {
            mb_session_error(s, cid, "presence.update", MB_E_BAD_REQUEST,
                             "metadata must be at most %d bytes of JSON", METADATA_MAX_BYTES);
            return;
        }
    }
    pres *p = online(pid);
    if (!p) { /* cannot happen for an authenticated socket; be safe */
        mb_session_error(s, cid, "presence.update", MB_E_INTERNAL, "no presence for this session");
        return;
    }
    if (!mb_bucket_take(&p->rate, UPDATE_RATE, UPDATE_BURST, mb_now_ms())) {
        mb_session_error(s, cid, "presence.update", MB_E_RATE_LIMITED,
                         "too many presence updates; at most %g per second", UPDATE_RATE);
        return;
    }
    set_status(p, json_string_value(st), meta ? json_deep_copy(meta) : NULL);
    if (cid) {
        json_t *r = json_pack("{s:s}", "status", p->status);
        if (p->metadata) json_object_set(r, "metadata", p->metadata);
        mb_session_send(s, "presence.updated", cid, r);
    }
}

/* --------------------------------------------------- GET /v1/presence */

typedef struct get_ctx {
    mb_http_req *req;
    char viewer[40];
    char (*ids)[37];
    size_t n;
} get_ctx;

/* What viewer may see of target: full for self and friends, status only
 * for others, "offline" across a block. rel is viewer's relation bits. */
static json_t *view(const char *viewer, const char *target, unsigned rel)
{
    bool blocked = (rel & REL_BLOCKED_BY) || (rel & 0x0f) == REL_BLOCKED;
    bool full = strcmp(viewer, target) == 0 || (rel & 0x0f) == REL_FRIEND;
    json_t *o = blocked ? json_pack("{s:s}", "status", "offline") : presence_json(target, full);
    json_object_set_new(o, "player_id", json_string(target));
    return o;
}

static void respond_get(get_ctx *c, const mb_smap *rels)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < c->n; i++)
        json_array_append_new(arr,
                              view(c->viewer, c->ids[i], (unsigned)(uintptr_t)mb_smap_get(rels, c->ids[i])));
    mb_http_respond(c->req, 200, json_pack("{s:o}", "presences", arr));
    free(c->ids);
    free(c);
}

static void get_rels_done(void *ud, const mb_db_result *res)
{
    get_ctx *c = ud;
    if (!res->ok) {
        mb_http_db_error(c->req, res, NULL);
        free(c->ids);
        free(c);
        return;
    }
    mb_smap rels;
    mb_smap_init(&rels);
    for (int i = 0; i < PQntuples(res->res); i++) {
        const char *other = PQgetvalue(res->res, i, 0);
        const char *st = PQgetvalue(res->res, i, 1);
        unsigned v = (unsigned)(uintptr_t)mb_smap_get(&rels, other) & ~REL_TAG;
        if (strcmp(st, "blocked_by") == 0) v |= REL_BLOCKED_BY;
        else v |= (unsigned)social_rel_parse(st);
        mb_smap_put(&rels, other, (void *)(uintptr_t)(v | REL_TAG));
    }
    respond_get(c, &rels);
    mb_smap_free(&rels);
}

void presence_route_get(mb_http_req *r)
{
    const char *q = mb_http_query(r, "ids");
    if (!q || !*q) {
        mb_http_error(r, MB_E_BAD_REQUEST, "query parameter 'ids' (comma-separated player ids) is required");
        return;
    }
    get_ctx *c = mb_calloc(1, sizeof *c);
    c->req = r;
    snprintf(c->viewer, sizeof c->viewer, "%s", mb_http_player(r));
    c->ids = mb_malloc(GET_MAX_IDS * sizeof *c->ids);
    for (const char *p = q; *p;) {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        char one[40] = "";
        if (l == 36) {
            memcpy(one, p, 36);
            one[36] = '\0';
        }
        if (l != 36 || !mb_uuid_valid(one) || c->n >= GET_MAX_IDS) {
            if (c->n >= GET_MAX_IDS) mb_http_error(r, MB_E_BAD_REQUEST, "at most %d ids", GET_MAX_IDS);
            else mb_http_error(r, MB_E_BAD_REQUEST, "ids must be player ids (UUIDs), comma-separated");
            free(c->ids);
            free(c);
            return;
        }
        mb_uuid_lower(one, c->ids[c->n++]);
        p += l;
        if (*p == ',') p++;
    }
    pres *me = online(c->viewer);
    if (me && me->loaded) {
        respond_get(c, &me->rels);
        return;
    }
    /* Not online (a REST-only client): read the relationships. */
    const char *params[] = {c->viewer};
    mb_db_query(rels_sql, 1, params, get_rels_done, c);
}

/* ------------------------------------------------------------- module */

void presence_init(void)
{
    mb_smap_init(&players);
    mb_smap_init(&remote);
    if (cluster_enabled()) {
        cluster_on_bus("presence", remote_presence);
        cluster_on_bus("presence_rel", remote_rel);
        cluster_on_bus("presence_to", remote_presence_to);
        cluster_on_node_gone(remote_node_gone);
    }
    mb_metric_table_smap("presence_players", &players);
    m_changed = mb_metric("moonbase_presence_changes_total", "", MB_COUNTER,
                          "presence changes fanned out to friends");
    m_loads = mb_metric("moonbase_presence_relationship_loads_total", "", MB_COUNTER,
                        "relationship queries for players coming online (one per group)");
}

void presence_destroy(void)
{
    /* Entries already gone are only in the dirty list. */
    for (size_t i = 0; i < n_dirty; i++)
        if (dirty[i]->gone && mb_smap_get(&players, dirty[i]->id) != dirty[i]) pres_free(dirty[i]);
    size_t it = 0;
    void *v;
    while (mb_smap_next(&players, &it, NULL, &v)) pres_free(v);
    mb_smap_free(&players);
    for (size_t i = 0; mb_smap_next(&remote, &i, NULL, &v);) remote_free(v);
    mb_smap_free(&remote);
    free(dirty);
    dirty = NULL;
    n_dirty = cap_dirty = 0;
    free(load_q);
    load_q = NULL;
    n_load_q = cap_load_q = 0;
}

char *presence_metrics(void)
{
    size_t online_n = 0;
    size_t it = 0;
    void *v;
    while (mb_smap_next(&players, &it, NULL, &v))
        if (!((pres *)v)->gone) online_n++;
    return mb_sprintf("# HELP moonbase_presence_online players online (including the reconnect grace)\n"
                      "# TYPE moonbase_presence_online gauge\nmoonbase_presence_online %zu\n",
                      online_n);
}
