/*
 * cluster_mm.c - the matchmaker in cluster mode (docs/CLUSTER.md
 * "Matchmaker"): one pool per mode for the whole cluster. matchmaker.c
 * calls it (cluster_mm.h); it keeps the mirrored tickets in the ticket table
 * and pools of tickets.c (tickets.h), like the single-node path.
 *
 * Redis:
 *   mb:mm:tickets:<mode>  hash ticket_id -> ticket JSON {ticket_id, node_id,
 *                         player_id, username, mode, properties, created_at}
 *   mb:mm:node:<node_id>  hash ticket_id -> mode: the tickets a node added
 *                         (cleanup when the node is lost)
 *   mb:mm:modes           set of the modes that ever had a ticket
 *   mb:mm:lease:<mode>    the pass owner's node id, SET NX PX 3000, renewed
 *                         every second with a compare-and-set
 *   mb:mm:claims:<mode>   hash claim id -> {at, tickets: [ticket JSON]}: the
 *                         groups claimed whose match is not settled yet
 * Bus topics: mm.add (a ticket), mm.del (tickets gone, maybe with a
 * matchmaker.removed to send), mm.matched (a group and its match),
 * mm.stats (the owner's figures, every second).
 *
 * Every node mirrors the cluster's tickets in memory (tickets, pools) from
 * the bus; the lease owner of a mode re-reads the hash when it takes the
 * lease and runs the passes of pool.c on its mirror. A group is claimed in
 * Redis (all its tickets still there, removed in one script), its match is
 * placed on the least loaded node (op mm.create: match_create + seats
 * reserved there), and mm.matched tells every node, which sends
 * matchmaker.matched to its own sockets of the players.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "cluster_mm.h"
#include "match.h"
#include "redis.h"
#include "server.h"
#include "tickets.h"

#define CL_LEASE_MS 3000
#define CL_CREATE_TIMEOUT_MS 3000
#define CL_TOMB_MS 30000
#define CL_CLAIM_STALE_MS 10000 /* a claim unsettled this long: its owner died; the tickets go back */
#define CL_SCAN_COUNT 1000      /* HSCAN COUNT of the pool read: about this many tickets per loop iteration */

typedef struct cl_mode {
    char mode[72];
    bool owner;
    bool loading;        /* the pool is being read (HSCAN): no passes until it is done */
    uint64_t reload_gen; /* the pool read under way; a newer read replaces an older one */
    bool taking;         /* a SET NX for the lease is in flight */
    bool claims_asked;   /* owner: the leftover claims are being taken */
    char owner_id[72];
    double pass_ms, matched_per_s, mean_wait_ms, mean_spread;
    uint64_t formed;
    uint64_t win_matched; /* owner: tickets matched since win_start */
    int64_t win_start;
} cl_mode;

static cl_mode **cl_modes;
static size_t n_cl_modes;
static mb_smap tombs;      /* ticket_id -> epoch ms it went away (no resurrection by a reload) */
static mb_smap gone_nodes; /* node ids that left */
static uint64_t mirror_seq;
static ev_timer lease_w;
static bool cl_on, cl_synced, cl_listing;
static int64_t cl_started_wall;
static json_t *cl_pending_del; /* tickets dropped while Redis was away: [{mode, ticket_id, node_id}] */

static const char LEASE_RENEW[] = "if redis.call('GET', KEYS[1]) == ARGV[1] then "
                                  "redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 else return 0 end";
/* A group's claim. KEYS[1] the mode's hash, KEYS[2] its claims hash,
 * KEYS[1+i] the node hash of ticket ARGV[i] (i >= 2); ARGV[1] the claim id.
 * Every ticket still in the hash: they move into the claim {at (Redis
 * clock, ms), tickets}, 1; else nothing changes, 0. Whoever then removes the
 * claim (HDEL = 1) settles the group: the node hosting its match before it
 * creates it, the owner when that node did not answer, or the next owner
 * that finds it CL_CLAIM_STALE_MS old and puts the tickets back. */
static const char CLAIM[] =
    "local v = {} for i = 2, #ARGV do local t = redis.call('HGET', KEYS[1], ARGV[i]) "
    "if not t then return 0 end v[#v + 1] = t end "
    "for i = 2, #ARGV do redis.call('HDEL', KEYS[1], ARGV[i]) redis.call('HDEL', KEYS[i + 1], ARGV[i]) end "
    "local now = redis.call('TIME') "
    "redis.call('HSET', KEYS[2], ARGV[1], '{\"at\":' .. string.format('%.0f', now[1] * 1000 + math.floor(now[2] / "
    "1000)) .. ',\"tickets\":[' .. table.concat(v, ',') .. ']}') return 1";
/* KEYS[1] a mode's claims hash; ARGV[1] an age (ms): the claims at least
 * that old by the Redis clock, removed and returned. */
static const char CLAIMS_TAKE[] =
    "local t = redis.call('TIME') local now = t[1] * 1000 + math.floor(t[2] / 1000) "
    "local all = redis.call('HGETALL', KEYS[1]) local out = {} for i = 1, #all, 2 do "
    "local at = tonumber(string.match(all[i + 1], '^{\"at\":(%d+)')) "
    "if not at or now - at >= tonumber(ARGV[1]) then redis.call('HDEL', KEYS[1], all[i]) "
    "out[#out + 1] = all[i + 1] end end return out";

static cl_mode *cl_get(const char *mode)
{
    for (size_t i = 0; i < n_cl_modes; i++)
        if (strcmp(cl_modes[i]->mode, mode) == 0) return cl_modes[i];
    cl_mode *m = mb_calloc(1, sizeof *m);
    snprintf(m->mode, sizeof m->mode, "%s", mode);
    m->win_start = mb_now_ms();
    cl_modes = mb_realloc(cl_modes, (n_cl_modes + 1) * sizeof *cl_modes);
    cl_modes[n_cl_modes++] = m;
    return m;
}

bool matchmaker_cluster_passes(const char *mode)
{
    cl_mode *m = cl_get(mode);
    return m->owner && !m->loading && cluster_up();
}

void matchmaker_cluster_pass_timed(const char *mode, double ms) { cl_get(mode)->pass_ms = ms; }

static void lease_step(cl_mode *cm);

/* A ticket of a mode whose pass owner nobody knows yet: ask for the lease
 * now instead of at the next lease tick (up to a second later: the first
 * tickets of a fresh mode waited that long, the p99 tail of the
 * cluster-matchmaker bench). Only once the mirror is synced with Redis
 * (modes_done), so the reload on taking cannot miss this node's own tickets
 * after a Redis restart. */
static void lease_soon(const char *mode)
{
    cl_mode *cm = cl_get(mode);
    if (!cm->owner && !cm->taking && !cm->owner_id[0] && cl_synced && cluster_up()) lease_step(cm);
}

static void mirror_remove(ticket *t);

static void tomb(const char *ticket_id) { mb_smap_put(&tombs, ticket_id, (void *)(uintptr_t)mb_wall_ms()); }

/* Put a ticket (JSON as stored in Redis) into this node's mirror. NULL when
 * it is known already, went away meanwhile, or its mode has no pool. A
 * ticket put back from an unsettled claim ("restored") that this node holds
 * in flight (it claimed the group, then lost track of it) goes back into
 * the pool. */
static ticket *mirror_add(json_t *tj)
{
    ticket *known = matchmaker_ticket_find(json_string_value(json_object_get(tj, "ticket_id")));
    if (known && known->in_flight && json_is_true(json_object_get(tj, "restored"))) {
        mode_pool *kp = matchmaker_find_pool(known->mode);
        known->in_flight = false;
        if (!kp || matchmaker_pool_put(kp, known) != MB_OK) mirror_remove(known);
        return NULL;
    }
    const char *tid = json_string_value(json_object_get(tj, "ticket_id"));
    const char *mode = json_string_value(json_object_get(tj, "mode"));
    const char *player = json_string_value(json_object_get(tj, "player_id"));
    const char *node = json_string_value(json_object_get(tj, "node_id"));
    json_t *props = json_object_get(tj, "properties");
    if (!tid || strlen(tid) >= 40 || !mode || !player || !node || !json_is_object(props)) return NULL;
    if (matchmaker_ticket_find(tid) || mb_smap_get(&tombs, tid)) return NULL;
    char err[256];
    bool no_mm;
    mode_pool *p = matchmaker_pool_for(mode, err, sizeof err, &no_mm);
    if (!p) return NULL;
    const char *un = json_string_value(json_object_get(tj, "username"));
    ticket *t = matchmaker_ticket_new(p, tid, player, un ? un : "", node, props,
                                      p->cfg.has_skill ? matchmaker_json_num(props, p->skill_prop, 0) : 0);
    t->created_at = json_integer_value(json_object_get(tj, "created_at"));
    int64_t waited = mb_wall_ms() - t->created_at;
    t->enqueued_ms = mb_now_ms() - (waited > 0 ? waited : 0); /* the original wait, on this clock */
    t->seq = ++mirror_seq;
    if (matchmaker_ticket_add(p, t) != MB_OK) return NULL;
    lease_soon(mode);
    return t;
}

static void mirror_remove(ticket *t)
{
    mode_pool *p = matchmaker_find_pool(t->mode);
    if (p && !t->in_flight) mm_pool_remove(p->pool, t->id);
    tomb(t->ticket_id);
    matchmaker_ticket_forget(t);
}

static json_t *ticket_ref(const ticket *t)
{
    return json_pack("{s:s,s:s,s:s}", "ticket_id", t->ticket_id, "player_id", t->player_id, "node_id",
                     t->node_id);
}

static void redis_forget(const char *mode, const char *tid, const char *node)
{
    mb_redis_command(NULL, NULL, "HDEL mb:mm:tickets:%s %s", mode, tid);
    mb_redis_command(NULL, NULL, "HDEL mb:mm:node:%s %s", node, tid);
}

/* mm.del {mode, tickets: [{ticket_id, player_id}], reason, notify} */
static void bus_del(const char *from, json_t *d)
{
    const char *mode = json_string_value(json_object_get(d, "mode"));
    const char *reason = json_string_value(json_object_get(d, "reason"));
    bool notify = json_is_true(json_object_get(d, "notify"));
    size_t i;
    json_t *e;
    json_array_foreach (json_object_get(d, "tickets"), i, e) {
        const char *tid = json_string_value(json_object_get(e, "ticket_id"));
        const char *pl = json_string_value(json_object_get(e, "player_id"));
        if (!tid) continue;
        ticket *t = matchmaker_ticket_find(tid);
        if (t) mirror_remove(t);
        else tomb(tid);
        if (notify && pl && mode) matchmaker_send_removed(pl, tid, mode, reason ? reason : "removed");
    }
}

/* Run a bus handler here and publish to the others. data stolen. */
static void cl_publish(const char *topic, void (*fn)(const char *, json_t *), json_t *data)
{
    fn(cluster_node_id(), data);
    cluster_broadcast(topic, data);
}

static void cl_drop(ticket **ts, size_t n, const char *reason, bool notify)
{
    if (!n) return;
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++) {
        if (cluster_up()) {
            redis_forget(ts[i]->mode, ts[i]->ticket_id, ts[i]->node_id);
        } else { /* told to Redis and the others when it is back */
            json_t *r = ticket_ref(ts[i]);
            json_object_set_new(r, "mode", json_string(ts[i]->mode));
            json_array_append_new(cl_pending_del, r);
        }
        json_array_append_new(list, ticket_ref(ts[i]));
    }
    json_t *d = json_pack("{s:s,s:o,s:s,s:b}", "mode", ts[0]->mode, "tickets", list, "reason", reason,
                          "notify", notify);
    cl_publish("mm.del", bus_del, d);
}

static void bus_add(const char *from, json_t *d)
{
    ticket *t = mirror_add(d);
    /* a ticket of this node put back from an unsettled claim while its player is gone: it goes */
    if (t && json_is_true(json_object_get(d, "restored")) && strcmp(t->node_id, cluster_node_id()) == 0 &&
        !mb_player_online(t->player_id))
        cl_drop(&t, 1, "disconnected", false);
}

void matchmaker_cluster_add(mb_session *s, const char *cid, mode_pool *p, json_t *props)
{
    if (!cluster_up()) {
        mb_session_error(s, cid, "matchmaker.add", MB_E_UNAVAILABLE,
                         "Redis is unreachable: the cluster's matchmaker takes no ticket now");
        return;
    }
    char tid[40];
    mb_uuid(tid);
    json_t *tj = json_pack("{s:s,s:s,s:s,s:s,s:s,s:O,s:I}", "ticket_id", tid, "node_id", cluster_node_id(),
                           "player_id", mb_session_player(s), "username", mb_session_username(s), "mode",
                           p->mode, "properties", props, "created_at", (json_int_t)mb_wall_ms());
    if (!mirror_add(tj)) {
        json_decref(tj);
        mb_session_error(s, cid, "matchmaker.add", MB_E_INTERNAL, "could not add the ticket");
        return;
    }
    char *text = json_dumps(tj, JSON_COMPACT);
    mb_redis_command(NULL, NULL, "HSET mb:mm:tickets:%s %s %s", p->mode, tid, text);
    mb_redis_command(NULL, NULL, "HSET mb:mm:node:%s %s %s", cluster_node_id(), tid, p->mode);
    mb_redis_command(NULL, NULL, "SADD mb:mm:modes %s", p->mode);
    free(text);
    cluster_broadcast("mm.add", tj); /* after the HSET on the same connection */
    matchmaker_record_added();
    mb_session_send(s, "matchmaker.ticket", cid, json_pack("{s:s,s:s}", "ticket_id", tid, "mode", p->mode));
}

typedef struct rm_ctx {
    uint64_t sid;
    char cid[72], tid[40];
    bool has_cid;
} rm_ctx;

/* The HDEL decides: a ticket claimed by a pass (or removed elsewhere)
 * meanwhile is not_found. */
static void rm_done(void *ud, const redisReply *r)
{
    rm_ctx *c = ud;
    mb_session *s = mb_session_get(c->sid);
    const char *cid = c->has_cid ? c->cid : NULL;
    ticket *t = matchmaker_ticket_find(c->tid);
    if (!r || r->type != REDIS_REPLY_INTEGER) {
        if (s)
            mb_session_error(s, cid, "matchmaker.remove", MB_E_UNAVAILABLE,
                             "Redis is unreachable: try again");
    } else if (r->integer == 0) {
        /* gone from Redis (claimed meanwhile, maybe by an owner that died): every node forgets it, so
         * the tickets of that claim put back later (claims_taken) leave this one out */
        if (t && !t->in_flight) cl_drop(&t, 1, "removed", false);
        if (s)
            mb_session_error(s, cid, "matchmaker.remove", MB_E_NOT_FOUND, "no ticket '%s' of yours", c->tid);
    } else {
        if (t) {
            t->in_flight = false;
            cl_drop(&t, 1, "removed", false);
        } else {
            cl_publish("mm.del", bus_del,
                       json_pack("{s:s,s:[{s:s}],s:s,s:b}", "mode", "", "tickets", "ticket_id", c->tid,
                                 "reason", "removed", "notify", false));
        }
        if (s)
            mb_session_send(s, "matchmaker.removed", cid,
                            json_pack("{s:s,s:s}", "ticket_id", c->tid, "reason", "removed"));
    }
    free(c);
}

void matchmaker_cluster_remove(mb_session *s, const char *cid, ticket *t)
{
    if (!cluster_up()) {
        mb_session_error(s, cid, "matchmaker.remove", MB_E_UNAVAILABLE, "Redis is unreachable: try again");
        return;
    }
    if (t->in_flight) { /* claimed by a pass: matched (or back) in a moment */
        mb_session_error(s, cid, "matchmaker.remove", MB_E_NOT_FOUND, "no ticket '%s' of yours",
                         t->ticket_id);
        return;
    }
    rm_ctx *c = mb_calloc(1, sizeof *c);
    c->sid = mb_session_id(s);
    if (cid) {
        c->has_cid = true;
        snprintf(c->cid, sizeof c->cid, "%s", cid);
    }
    snprintf(c->tid, sizeof c->tid, "%s", t->ticket_id);
    mb_redis_command(rm_done, c, "HDEL mb:mm:tickets:%s %s", t->mode, t->ticket_id);
}

/* This node's tickets of a player whose last socket here closed. */
void matchmaker_cluster_session_closed(const char *player_id)
{
    for (;;) { /* a player has a ticket or two: their list, not the cluster's pool */
        ticket *found = NULL;
        for (ticket *t = matchmaker_player_first(player_id); t && !found; t = t->by_player.next)
            if (!t->in_flight && strcmp(t->node_id, cluster_node_id()) == 0) found = t;
        if (!found) break;
        cl_drop(&found, 1, "disconnected", false);
    }
}

/* Called from mm_pool_expire's callback: the ticket is out of the pool. */
void matchmaker_cluster_expired(ticket *t)
{
    t->in_flight = true;
    cl_drop(&t, 1, "timeout", true);
}

/* ---------------------------------------------------------- groups */
typedef struct cl_grp {
    char mode[72];
    char claim[40];  /* the claim's field in mb:mm:claims:<mode> */
    bool on_self;    /* mm.create went to this node */
    json_t *entries; /* [{ticket_id, player_id, node_id}] */
    json_t *params, *players;
    double spread;
} cl_grp;

static void grp_free(cl_grp *g)
{
    json_decref(g->entries);
    json_decref(g->params);
    json_decref(g->players);
    free(g);
}

/* mm.matched {mode, match_id, node_id, url, players, tickets} */
static void bus_matched(const char *from, json_t *d)
{
    const char *mode = json_string_value(json_object_get(d, "mode"));
    size_t i;
    json_t *e;
    json_array_foreach (json_object_get(d, "tickets"), i, e) {
        const char *tid = json_string_value(json_object_get(e, "ticket_id"));
        const char *pl = json_string_value(json_object_get(e, "player_id"));
        if (!tid || !pl) continue;
        ticket *t = matchmaker_ticket_find(tid);
        if (t) mirror_remove(t);
        else tomb(tid);
        json_t *msg = json_pack("{s:O,s:s,s:O,s:O,s:O}", "match_id", json_object_get(d, "match_id"),
                                "ticket_id", tid, "players", json_object_get(d, "players"), "node_id",
                                json_object_get(d, "node_id"), "url", json_object_get(d, "url"));
        if (msg) mb_player_send(pl, "matchmaker.matched", msg);
        json_decref(msg);
    }
    (void)mode;
}

static void grp_release(cl_grp *g)
{
    size_t i;
    json_t *e;
    json_array_foreach (g->entries, i, e) {
        ticket *t = matchmaker_ticket_find(json_string_value(json_object_get(e, "ticket_id")));
        if (!t || !t->in_flight) continue;
        t->in_flight = false;
        mode_pool *p = matchmaker_find_pool(t->mode);
        if (!p || matchmaker_pool_put(p, t) != MB_OK) mirror_remove(t);
    }
}

/* The owner removed an unanswered group's claim: 1, the group failed here
 * (its players are told); 0, the hosting node created the match late or the
 * next owner put the tickets back; NULL (Redis away), the claim stays for
 * the owner after Redis is back. */
static void unclaim_done(void *ud, const redisReply *r)
{
    cl_grp *g = ud;
    if (cl_on && r && r->type == REDIS_REPLY_INTEGER && r->integer == 1)
        cl_publish("mm.del", bus_del,
                   json_pack("{s:s,s:O,s:s,s:b}", "mode", g->mode, "tickets", g->entries, "reason",
                             "match_failed", "notify", true));
    grp_free(g);
}

static void grp_place(cl_grp *g, const char *node_id);

static void create_done(void *ud, json_t *result, mb_errcode code, const char *message)
{
    cl_grp *g = ud;
    if (!cl_on) { /* the cluster module ends its pending calls after this module is gone */
        grp_free(g);
        return;
    }
    const char *mid = json_string_value(json_object_get(result, "match_id"));
    if (!result && !g->on_self) {
        /* the chosen node did not answer (e.g. it died: it stays in the node list until its
         * registration expires, 5 s): this node creates the match. If that node still creates it
         * late, the claim decides: only one of the two removes it and creates the match. */
        mb_warn("matchmaker_create_retry", "mode=%s error=\"%s\"", g->mode, message ? message : "no answer");
        grp_place(g, cluster_node_id());
        return;
    }
    if (!mid) {
        const char *why = json_string_value(json_object_get(result, "error"));
        mb_error("matchmaker_match_failed", "mode=%s error=\"%s\"", g->mode,
                 why       ? why
                 : message ? message
                           : "?");
        if (json_is_true(json_object_get(result, "settled"))) { /* the hosting node told the players */
            grp_free(g);
            return;
        }
        /* no answer, or the hosting node could not settle the claim: settle it here */
        mb_redis_command(unclaim_done, g, "HDEL mb:mm:claims:%s %s", g->mode, g->claim);
        return;
    }
    mode_pool *p = matchmaker_find_pool(g->mode);
    cl_mode *cm = cl_get(g->mode);
    size_t n = json_array_size(g->entries);
    int64_t wall = mb_wall_ms();
    if (p) {
        for (size_t i = 0; i < n; i++) {
            ticket *t = matchmaker_ticket_find(
                json_string_value(json_object_get(json_array_get(g->entries, i), "ticket_id")));
            matchmaker_record_wait(p, t ? (double)(wall - t->created_at) : 0, g->spread);
        }
    }
    matchmaker_record_formed(p);
    cm->win_matched += n;
    /* the hosting node has published mm.matched (one hop less than from here) */
    mb_info("matchmaker_matched", "mode=%s match=%s node=%s players=%zu spread=%.1f", g->mode, mid,
            json_string_value(json_object_get(result, "node_id")), n, g->spread);
    grp_free(g);
}

static void claim_done(void *ud, const redisReply *r)
{
    cl_grp *g = ud;
    if (!r || r->type != REDIS_REPLY_INTEGER || r->integer != 1) {
        if (r && r->type == REDIS_REPLY_ERROR) mb_error("matchmaker_claim_failed", "error=\"%s\"", r->str);
        grp_release(g); /* a ticket went away meanwhile: the others wait on */
        grp_free(g);
        return;
    }
    grp_place(g, cluster_pick_node()->node_id);
}

/* op mm.create of a claimed group to the node that will host its match */
static void grp_place(cl_grp *g, const char *node_id)
{
    g->on_self = strcmp(node_id, cluster_node_id()) == 0;
    json_t *reserve = json_array();
    size_t i;
    json_t *e;
    json_array_foreach (g->entries, i, e) {
        json_array_append(reserve, json_object_get(e, "player_id"));
    }
    cluster_call(node_id, "mm.create",
                 json_pack("{s:s,s:s,s:O,s:o,s:O}", "mode", g->mode, "claim", g->claim, "params", g->params,
                           "reserve", reserve, "tickets", g->entries),
                 CL_CREATE_TIMEOUT_MS, create_done, g);
}

/* The owner's pass formed a group (hook accepted): claim it in Redis, then
 * place its match. */
bool matchmaker_cluster_group(mode_pool *p, ticket **ts, size_t n, int *teams)
{
    cl_grp *g = mb_calloc(1, sizeof *g);
    snprintf(g->mode, sizeof g->mode, "%s", p->mode);
    g->entries = json_array();
    g->players = json_array();
    json_t *props = json_object(), *team_lists = json_array();
    for (int k = 0; k < p->cfg.teams; k++) json_array_append_new(team_lists, json_array());
    double lo = INFINITY, hi = -INFINITY;
    mb_uuid(g->claim);
    /* EVAL CLAIM n+2 <mode hash> <claims hash> <node hash>... <claim id> <ticket id>... */
    const char **argv = mb_malloc((6 + 2 * n) * sizeof *argv);
    char **keys = mb_malloc((n + 2) * sizeof *keys);
    char nk[32];
    snprintf(nk, sizeof nk, "%zu", n + 2);
    argv[0] = "EVAL";
    argv[1] = CLAIM;
    argv[2] = nk;
    keys[0] = mb_sprintf("mb:mm:tickets:%s", p->mode);
    keys[1] = mb_sprintf("mb:mm:claims:%s", p->mode);
    argv[3] = keys[0];
    argv[4] = keys[1];
    argv[5 + n] = g->claim;
    for (size_t i = 0; i < n; i++) {
        ticket *t = ts[i];
        t->in_flight = true;
        json_array_append_new(g->entries, ticket_ref(t));
        json_t *pl = json_pack("{s:s,s:s,s:O}", "player_id", t->player_id, "username", t->username,
                               "properties", t->properties);
        json_object_set_new(pl, "team", teams ? json_integer(teams[i] + 1) : json_null());
        json_array_append_new(g->players, pl);
        json_object_set(props, t->player_id, t->properties);
        if (teams)
            json_array_append_new(json_array_get(team_lists, (size_t)teams[i]), json_string(t->player_id));
        if (t->skill < lo) lo = t->skill;
        if (t->skill > hi) hi = t->skill;
        keys[i + 2] = mb_sprintf("mb:mm:node:%s", t->node_id);
        argv[5 + i] = keys[i + 2];
        argv[6 + n + i] = t->ticket_id;
    }
    g->spread = p->cfg.has_skill ? hi - lo : 0;
    g->params = json_pack("{s:O,s:o,s:o}", "players", g->players, "teams", team_lists, "properties", props);
    mb_redis_command_argv(claim_done, g, (int)(6 + 2 * n), argv, NULL);
    for (size_t i = 0; i < n + 2; i++) free(keys[i]);
    free(keys);
    free(argv);
    return true;
}

/* Create a claimed group's match here, reserve the seats, publish
 * mm.matched (every node tells its sockets) -> {match_id, node_id, url}; a
 * failure tells the players here too -> {error, settled}. */
static void create_claimed(cluster_req *req, json_t *args)
{
    const char *mode = json_string_value(json_object_get(args, "mode"));
    mb_errcode code;
    char err[512] = "";
    match *m = mode ? match_create(mode, json_object_get(args, "params"), &code, err, sizeof err) : NULL;
    if (!m) {
        if (mode)
            cl_publish("mm.del", bus_del,
                       json_pack("{s:s,s:O,s:s,s:b}", "mode", mode, "tickets",
                                 json_object_get(args, "tickets"), "reason", "match_failed", "notify", true));
        cluster_respond(req,
                        json_pack("{s:s,s:b}", "error", *err ? err : "bad request", "settled", mode != NULL));
        return;
    }
    size_t i;
    json_t *pl;
    json_array_foreach (json_object_get(args, "reserve"), i, pl) {
        if (json_is_string(pl)) match_reserve(m, json_string_value(pl), MATCHMAKER_JOIN_TIMEOUT_MS);
    }
    cl_publish("mm.matched", bus_matched,
               json_pack("{s:s,s:s,s:s,s:s,s:O,s:O}", "mode", mode, "match_id", match_id(m), "node_id",
                         cluster_node_id(), "url", cluster_public_url(), "players",
                         json_object_get(json_object_get(args, "params"), "players"), "tickets",
                         json_object_get(args, "tickets")));
    cluster_respond(req, json_pack("{s:s,s:s,s:s}", "match_id", match_id(m), "node_id", cluster_node_id(),
                                   "url", cluster_public_url()));
}

typedef struct create_ctx {
    cluster_req *req;
    json_t *args;
} create_ctx;

/* The claim removed by this node (1): the group is ours to create. 0: the
 * owner settled it, or the next owner put its tickets back. */
static void create_unclaimed(void *ud, const redisReply *r)
{
    create_ctx *c = ud;
    if (r && r->type == REDIS_REPLY_INTEGER && r->integer == 1) {
        create_claimed(c->req, c->args);
    } else if (r && r->type == REDIS_REPLY_INTEGER) {
        mb_info("matchmaker_claim_settled_elsewhere", "mode=%s claim=%s",
                json_string_value(json_object_get(c->args, "mode")),
                json_string_value(json_object_get(c->args, "claim")));
        cluster_respond(c->req,
                        json_pack("{s:s,s:b}", "error", "the claim was settled elsewhere", "settled", 1));
    } else {
        cluster_respond(c->req, json_pack("{s:s}", "error", "Redis is unreachable"));
    }
    json_decref(c->args);
    free(c);
}

/* op mm.create {mode, claim, params, reserve: [player ids], tickets} on the
 * node chosen to host the match: removes the claim (which settles the
 * group), then creates the match (create_claimed). */
static void op_create(cluster_req *req, const char *from, json_t *args)
{
    const char *mode = json_string_value(json_object_get(args, "mode"));
    const char *claim = json_string_value(json_object_get(args, "claim"));
    if (!mode || !claim) {
        cluster_respond(req, json_pack("{s:s}", "error", "bad request"));
        return;
    }
    create_ctx *c = mb_calloc(1, sizeof *c);
    c->req = req;
    c->args = json_incref(args);
    mb_redis_command(create_unclaimed, c, "HDEL mb:mm:claims:%s %s", mode, claim);
}

/* ---------------------------------------------------------- reload */
/* The pool read: HSCAN of the mode's hash, CL_SCAN_COUNT at a time, the
 * next batch asked for from the reply of the previous one, so the loop
 * serves everything else between batches (one HGETALL of 100,000 tickets
 * stalled it for most of a second). The passes of the mode stay off
 * (loading) until the last batch. HSCAN returns every ticket that is in the
 * hash during the whole scan (maybe twice: mirror_add ignores a known one);
 * a ticket mirrored before the scan began and seen in no batch is gone. */
typedef struct reload_ctx {
    char mode[72];
    uint64_t seq;    /* mirror_seq when the read began */
    uint64_t gen;    /* cl_mode.reload_gen of this read */
    mb_smap present; /* ticket ids seen in a batch */
    size_t dead, batches;
    int64_t t0_us;
    int64_t idle_us; /* since when the read waits for Redis (wait_ms), parsing done */
    double wait_ms, load_ms, max_batch_ms;
} reload_ctx;

/* A node this one saw leave (and not back). Tickets of a node that died
 * before this one started are removed by the node-lost cleanup (which
 * publishes mm.del), not guessed from a node list that may be a heartbeat
 * old. */
static bool node_dead(const char *node) { return !cluster_node_find(node) && mb_smap_get(&gone_nodes, node); }

static void reload_free(reload_ctx *c)
{
    mb_smap_free(&c->present);
    free(c);
}

static void scan_done(void *ud, const redisReply *r);

static void scan_next(reload_ctx *c, const char *cursor)
{
    mb_redis_command(scan_done, c, "HSCAN mb:mm:tickets:%s %s COUNT %d", c->mode, cursor, CL_SCAN_COUNT);
}

/* The last batch came: the tickets mirrored before the read and seen in no
 * batch are no longer in Redis. */
static void reload_finish(reload_ctx *c, cl_mode *cm)
{
    int64_t t0 = mb_now_us();
    ticket **stale = NULL;
    size_t n = 0, it = 0;
    ticket *t;
    while ((t = matchmaker_ticket_next(&it))) {
        if (strcmp(t->mode, c->mode) == 0 && t->seq <= c->seq && !t->in_flight &&
            !mb_smap_get(&c->present, t->ticket_id)) {
            stale = mb_realloc(stale, (n + 1) * sizeof *stale);
            stale[n++] = t;
        }
    }
    for (size_t i = 0; i < n;
         i++) { /* no tombstone: a node putting it back after a Redis restart re-announces it */
        mode_pool *p = matchmaker_find_pool(stale[i]->mode);
        if (p) mm_pool_remove(p->pool, stale[i]->id);
        matchmaker_ticket_forget(stale[i]);
    }
    free(stale);
    cm->loading = false;
    c->load_ms += (double)(mb_now_us() - t0) / 1000.0;
    mb_info("matchmaker_pool_read",
            "mode=%s tickets=%zu stale=%zu owner=%d batches=%zu wait_ms=%.1f load_ms=%.1f max_batch_ms=%.1f "
            "read_ms=%.1f",
            c->mode, c->present.count + c->dead, n, cm->owner, c->batches, c->wait_ms, c->load_ms,
            c->max_batch_ms, (double)(mb_now_us() - c->t0_us) / 1000.0);
    reload_free(c);
}

/* One HSCAN reply: [cursor, [ticket_id, JSON, ...]]. */
static void scan_done(void *ud, const redisReply *r)
{
    reload_ctx *c = ud;
    cl_mode *cm = cl_get(c->mode);
    if (c->gen != cm->reload_gen) { /* a newer read of the pool replaced this one */
        reload_free(c);
        return;
    }
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[0]->type != REDIS_REPLY_STRING ||
        r->element[1]->type != REDIS_REPLY_ARRAY) {
        mb_warn("matchmaker_pool_read_failed", "mode=%s batches=%zu error=\"%s\"", c->mode, c->batches,
                r && r->type == REDIS_REPLY_ERROR ? r->str : "Redis unreachable");
        cm->loading = false; /* as after a failed read: Redis away, the lease goes too */
        reload_free(c);
        return;
    }
    int64_t t_reply = mb_now_us();
    c->wait_ms += (double)(t_reply - c->idle_us) / 1000.0;
    c->batches++;
    bool last = strcmp(r->element[0]->str, "0") == 0;
    if (!last) scan_next(c, r->element[0]->str); /* Redis reads the next batch while this one is parsed */
    const redisReply *kv = r->element[1];
    for (size_t i = 0; i + 1 < kv->elements; i += 2) {
        if (kv->element[i]->type != REDIS_REPLY_STRING || kv->element[i + 1]->type != REDIS_REPLY_STRING)
            continue;
        const char *tid = kv->element[i]->str;
        json_t *tj = json_loads(kv->element[i + 1]->str, 0, NULL);
        const char *node = json_string_value(json_object_get(tj, "node_id"));
        if (!node || node_dead(node)) {
            if (node) redis_forget(c->mode, tid, node);
            c->dead++;
        } else {
            mb_smap_put(&c->present, tid, (void *)1);
            mirror_add(tj);
        }
        json_decref(tj);
    }
    double ms = (double)(mb_now_us() - t_reply) / 1000.0;
    c->load_ms += ms;
    if (ms > c->max_batch_ms) c->max_batch_ms = ms;
    c->idle_us = mb_now_us();
    if (last) reload_finish(c, cm);
}

static void reload(const char *mode)
{
    cl_mode *cm = cl_get(mode);
    reload_ctx *c = mb_calloc(1, sizeof *c);
    snprintf(c->mode, sizeof c->mode, "%s", mode);
    c->seq = mirror_seq;
    c->gen = ++cm->reload_gen;
    mb_smap_init(&c->present);
    c->t0_us = c->idle_us = mb_now_us();
    cm->loading = true;
    scan_next(c, "0");
}

/* ----------------------------------------------------------- lease */
static void stats_publish(cl_mode *cm)
{
    int64_t now = mb_now_ms();
    double secs = (double)(now - cm->win_start) / 1000.0;
    if (secs >= 1.0) {
        cm->matched_per_s = (double)cm->win_matched / secs;
        cm->win_matched = 0;
        cm->win_start = now;
    }
    mode_pool *p = matchmaker_find_pool(cm->mode);
    double mean_wait = 0, mean_spread = 0;
    if (p) matchmaker_pool_means(p, &mean_wait, &mean_spread);
    cluster_broadcast("mm.stats",
                      json_pack("{s:s,s:f,s:f,s:I,s:f,s:f}", "mode", cm->mode, "pass_ms", cm->pass_ms,
                                "matched_per_s", cm->matched_per_s, "formed", (json_int_t)(p ? p->formed : 0),
                                "mean_wait_ms", mean_wait, "mean_spread", mean_spread));
}

static void bus_stats(const char *from, json_t *d)
{
    const char *mode = json_string_value(json_object_get(d, "mode"));
    if (!mode) return;
    cl_mode *cm = cl_get(mode);
    if (cm->owner) return;
    snprintf(cm->owner_id, sizeof cm->owner_id, "%s", from);
    cm->pass_ms = matchmaker_json_num(d, "pass_ms", 0);
    cm->matched_per_s = matchmaker_json_num(d, "matched_per_s", 0);
    cm->formed = (uint64_t)matchmaker_json_num(d, "formed", 0);
    cm->mean_wait_ms = matchmaker_json_num(d, "mean_wait_ms", 0);
    cm->mean_spread = matchmaker_json_num(d, "mean_spread", 0);
}

/* Put back the tickets of claims nobody settled (their owner died between
 * the claim and the match): each ticket whose node is live goes back into
 * the mode's hash and every mirror with its created_at ("restored": a node
 * that holds it in flight puts it back into its pool); the others (node
 * gone, or removed meanwhile) go. */
static void claims_taken(void *ud, const redisReply *r)
{
    cl_mode *cm = ud;
    cm->claims_asked = false;
    if (!cl_on || !r || r->type != REDIS_REPLY_ARRAY || !r->elements) return;
    size_t back = 0, dropped = 0;
    for (size_t i = 0; i < r->elements; i++) {
        if (r->element[i]->type != REDIS_REPLY_STRING) continue;
        json_t *claim = json_loads(r->element[i]->str, 0, NULL);
        size_t k;
        json_t *tj;
        json_array_foreach (json_object_get(claim, "tickets"), k, tj) {
            const char *tid = json_string_value(json_object_get(tj, "ticket_id"));
            const char *node = json_string_value(json_object_get(tj, "node_id"));
            const char *player = json_string_value(json_object_get(tj, "player_id"));
            if (!tid || !node || !player) continue;
            bool mine = strcmp(node, cluster_node_id()) == 0;
            if (!cluster_node_find(node) || mb_smap_get(&tombs, tid) || (mine && !mb_player_online(player))) {
                dropped++; /* its node is gone, or it was removed (socket closed) meanwhile */
                cl_publish("mm.del", bus_del,
                           json_pack("{s:s,s:[{s:s,s:s}],s:s,s:b}", "mode", cm->mode, "tickets", "ticket_id",
                                     tid, "player_id", player, "reason", "disconnected", "notify", false));
                continue;
            }
            char *text = json_dumps(tj, JSON_COMPACT);
            mb_redis_command(NULL, NULL, "HSET mb:mm:tickets:%s %s %s", cm->mode, tid, text);
            mb_redis_command(NULL, NULL, "HSET mb:mm:node:%s %s %s", node, tid, cm->mode);
            free(text);
            json_t *msg = json_deep_copy(tj);
            json_object_set_new(msg, "restored", json_true());
            cl_publish("mm.add", bus_add, msg); /* after the HSET on the same connection */
            back++;
        }
        json_decref(claim);
    }
    mb_warn("matchmaker_claims_restored", "mode=%s claims=%zu tickets=%zu dropped=%zu", cm->mode, r->elements,
            back, dropped);
}

static void claims_check(cl_mode *cm)
{
    if (cm->claims_asked || cm->loading) return;
    cm->claims_asked = true;
    char *key = mb_sprintf("mb:mm:claims:%s", cm->mode);
    char age[16];
    snprintf(age, sizeof age, "%d", CL_CLAIM_STALE_MS);
    const char *argv[] = {"EVAL", CLAIMS_TAKE, "1", key, age};
    mb_redis_command_argv(claims_taken, cm, 5, argv, NULL);
    free(key);
}

static void renew_done(void *ud, const redisReply *r)
{
    cl_mode *cm = ud;
    if (r && r->type == REDIS_REPLY_INTEGER && r->integer == 1) {
        stats_publish(cm);
        claims_check(cm);
        return;
    }
    if (cm->owner) mb_warn("matchmaker_lease_lost", "mode=%s", cm->mode);
    cm->owner = false; /* another node has it, or Redis is away: stop passing */
    cm->owner_id[0] = '\0';
}

static void take_done(void *ud, const redisReply *r)
{
    cl_mode *cm = ud;
    cm->taking = false;
    if (!r) return;
    if (r->type == REDIS_REPLY_NIL ||
        (r->type == REDIS_REPLY_STRING && strcmp(r->str, cluster_node_id()) == 0)) {
        if (!cm->owner) mb_info("matchmaker_lease_taken", "mode=%s", cm->mode);
        cm->owner = true;
        snprintf(cm->owner_id, sizeof cm->owner_id, "%s", cluster_node_id());
        cm->win_start = mb_now_ms();
        cm->win_matched = 0;
        reload(cm->mode); /* the hash is the truth: our mirror may have missed messages */
    } else if (r->type == REDIS_REPLY_STRING) {
        snprintf(cm->owner_id, sizeof cm->owner_id, "%s", r->str);
    } else if (r->type == REDIS_REPLY_ERROR) {
        mb_error("matchmaker_lease_failed", "mode=%s error=\"%s\"", cm->mode, r->str);
    }
}

static void lease_step(cl_mode *cm)
{
    char ms[16];
    snprintf(ms, sizeof ms, "%d", CL_LEASE_MS);
    if (cm->owner) {
        char *key = mb_sprintf("mb:mm:lease:%s", cm->mode);
        const char *argv[] = {"EVAL", LEASE_RENEW, "1", key, cluster_node_id(), ms};
        mb_redis_command_argv(renew_done, cm, 6, argv, NULL);
        free(key);
    } else {
        if (cm->taking) return;
        cm->taking = true;
        mb_redis_command(take_done, cm, "SET mb:mm:lease:%s %s NX PX %d GET", cm->mode, cluster_node_id(),
                         CL_LEASE_MS);
    }
}

static void modes_done(void *ud, const redisReply *r)
{
    cl_listing = false;
    if (!r || r->type != REDIS_REPLY_ARRAY) return;
    bool resync = !cl_synced;
    cl_synced = true;
    if (resync) {
        /* (re)connected: what was dropped meanwhile goes; our own waiting tickets are put back
         * (Redis may have restarted empty) before any reload reads the pools */
        size_t i;
        json_t *e;
        json_array_foreach (cl_pending_del, i, e) {
            const char *mode = json_string_value(json_object_get(e, "mode"));
            const char *tid = json_string_value(json_object_get(e, "ticket_id"));
            redis_forget(mode, tid, json_string_value(json_object_get(e, "node_id")));
            cluster_broadcast("mm.del", json_pack("{s:s,s:[O],s:s,s:b}", "mode", mode, "tickets", e, "reason",
                                                  "disconnected", "notify", false));
        }
        json_array_clear(cl_pending_del);
        for (ticket *t = matchmaker_node_first(cluster_node_id()); t; t = t->by_node.next) {
            json_t *tj =
                json_pack("{s:s,s:s,s:s,s:s,s:s,s:O,s:I}", "ticket_id", t->ticket_id, "node_id", t->node_id,
                          "player_id", t->player_id, "username", t->username, "mode", t->mode, "properties",
                          t->properties, "created_at", (json_int_t)t->created_at);
            char *text = json_dumps(tj, JSON_COMPACT);
            mb_redis_command(NULL, NULL, "HSET mb:mm:tickets:%s %s %s", t->mode, t->ticket_id, text);
            mb_redis_command(NULL, NULL, "HSET mb:mm:node:%s %s %s", t->node_id, t->ticket_id, t->mode);
            mb_redis_command(NULL, NULL, "SADD mb:mm:modes %s", t->mode);
            free(text);
            cluster_broadcast("mm.add", tj);
        }
    }
    for (size_t i = 0; i < r->elements; i++) {
        if (r->element[i]->type != REDIS_REPLY_STRING) continue;
        char err[256];
        bool no_mm;
        if (!matchmaker_pool_for(r->element[i]->str, err, sizeof err, &no_mm)) continue;
        cl_mode *cm = cl_get(r->element[i]->str);
        if (resync && !cm->owner) reload(cm->mode); /* (re)joined: catch up with the pool */
        lease_step(cm);
    }
}

static void purge_tombs(void)
{
    int64_t old = mb_wall_ms() - CL_TOMB_MS;
    size_t n = 0, cap = 0, it = 0;
    char **dead = NULL;
    const char *k;
    void *v;
    while (mb_smap_next(&tombs, &it, &k, &v)) {
        if ((int64_t)(uintptr_t)v >= old) continue;
        if (n == cap) dead = mb_realloc(dead, (cap = cap ? 2 * cap : 64) * sizeof *dead);
        dead[n++] = mb_strdup(k);
    }
    for (size_t i = 0; i < n; i++) {
        mb_smap_del(&tombs, dead[i]);
        free(dead[i]);
    }
    free(dead);
}

static void lease_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    purge_tombs();
    static uint64_t seen_reconnects;
    if (!cluster_up() || mb_redis_reconnects() != seen_reconnects) { /* lost Redis, even briefly */
        seen_reconnects = mb_redis_reconnects();
        cl_synced = false;
        for (size_t i = 0; i < n_cl_modes; i++) cl_modes[i]->owner = false; /* the lease runs out meanwhile */
        if (!cluster_up()) return;
    }
    if (cl_listing) return;
    cl_listing = true;
    mb_redis_command(modes_done, NULL, "SMEMBERS mb:mm:modes");
}

/* ------------------------------------------------------- node loss */
/* Every node: a node left; its tickets go from the mirror (their players
 * left with its sockets), and from Redis where we own the mode. */
static void cl_node_gone(const char *node)
{
    mb_smap_put(&gone_nodes, node, (void *)1);
    ticket **list = NULL;
    size_t n = 0;
    for (ticket *t = matchmaker_node_first(node); t; t = t->by_node.next) {
        if (t->in_flight) continue;
        list = mb_realloc(list, (n + 1) * sizeof *list);
        list[n++] = t;
    }
    for (size_t i = 0; i < n; i++) {
        if (cl_get(list[i]->mode)->owner && cluster_up())
            redis_forget(list[i]->mode, list[i]->ticket_id, node);
        mirror_remove(list[i]);
    }
    free(list);
    if (n) mb_info("matchmaker_node_tickets_dropped", "node=%s tickets=%zu", node, n);
}

typedef struct lost_ctx {
    char node[72];
} lost_ctx;

static void lost_tickets_done(void *ud, const redisReply *r)
{
    lost_ctx *c = ud;
    bool self = strcmp(c->node, cluster_node_id()) == 0;
    size_t dropped = 0;
    if (r && r->type == REDIS_REPLY_ARRAY)
        for (size_t i = 0; i + 1 < r->elements; i += 2) {
            const char *tid = r->element[i]->str, *mode = r->element[i + 1]->str;
            if (r->element[i]->type != REDIS_REPLY_STRING || r->element[i + 1]->type != REDIS_REPLY_STRING)
                continue;
            ticket *mine = self ? matchmaker_ticket_find(tid) : NULL;
            if (mine && mine->created_at >= cl_started_wall) continue; /* a ticket of this run */
            redis_forget(mode, tid, c->node);
            cl_publish("mm.del", bus_del,
                       json_pack("{s:s,s:[{s:s}],s:s,s:b}", "mode", mode, "tickets", "ticket_id", tid,
                                 "reason", "node_lost", "notify", false));
            dropped++;
        }
    if (dropped) mb_info("matchmaker_lost_tickets", "node=%s tickets=%zu", c->node, dropped);
    free(c);
}

static void cl_node_lost(const char *node, json_t *match_ids)
{
    (void)match_ids;
    lost_ctx *c = mb_calloc(1, sizeof *c);
    snprintf(c->node, sizeof c->node, "%s", node);
    mb_redis_command(lost_tickets_done, c, "HGETALL mb:mm:node:%s", node);
}

void matchmaker_cluster_init(void)
{
    cl_on = true;
    cl_started_wall = mb_wall_ms();
    cl_pending_del = json_array();
    mb_smap_init(&tombs);
    mb_smap_init(&gone_nodes);
    cluster_on("mm.create", op_create);
    cluster_on_bus("mm.add", bus_add);
    cluster_on_bus("mm.del", bus_del);
    cluster_on_bus("mm.matched", bus_matched);
    cluster_on_bus("mm.stats", bus_stats);
    cluster_on_node_gone(cl_node_gone);
    cluster_on_node_lost(cl_node_lost);
    ev_timer_init(&lease_w, lease_cb, 0.2, 1.0);
    ev_timer_start(mb_loop(), &lease_w);
}

void matchmaker_cluster_destroy(void)
{
    if (!cl_on) return;
    ev_timer_stop(mb_loop(), &lease_w);
    for (size_t i = 0; i < n_cl_modes; i++) free(cl_modes[i]);
    free(cl_modes);
    cl_modes = NULL;
    n_cl_modes = 0;
    mb_smap_free(&tombs);
    mb_smap_free(&gone_nodes);
    json_decref(cl_pending_del);
    cl_pending_del = NULL;
    cl_on = cl_synced = cl_listing = false;
    mirror_seq = 0;
}

void matchmaker_cluster_stats(const char *mode, json_t *m)
{
    cl_mode *cm = cl_get(mode); /* figures of the pass owner */
    json_object_set_new(m, "pass_owner", *cm->owner_id ? json_string(cm->owner_id) : json_null());
    json_object_set_new(m, "pass_ms", json_real(cm->pass_ms));
    json_object_set_new(m, "matched_per_s", json_real(cm->matched_per_s));
    if (!cm->owner) {
        json_object_set_new(m, "matches_formed", json_integer((json_int_t)cm->formed));
        json_object_set_new(m, "mean_wait_ms", json_real(cm->mean_wait_ms));
        json_object_set_new(m, "mean_skill_spread", json_real(cm->mean_spread));
    }
}
