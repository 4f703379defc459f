/*
 * tickets.c - the matchmaker's tickets and pools: the ticket table (by pool
 * id, by ticket id, by player, by node; the only place a ticket enters or
 * leaves it, so every index stays exact), one pool (pool.c) per mode built
 * from the mode's M.matchmaker table, the figures of formed matches, and
 * matchmaker.removed. Used by matchmaker.c (the module) and cluster_mm.c
 * (cluster mode); declared in tickets.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "modes.h"
#include "pool.h"
#include "server.h"
#include "tickets.h"

static mb_imap tickets;        /* internal id -> ticket */
static mb_smap tickets_by_str; /* ticket_id string -> ticket */
static mb_smap by_player;      /* player_id -> its first ticket (ticket.by_player list) */
static mb_smap by_node;        /* node_id -> its first ticket (ticket.by_node list; cluster mode) */
static mode_pool **pools;
static size_t n_pools;
static uint64_t next_id = 1;
static double *m_formed, *m_added;

/* ------------------------------------------------------------ tickets */

static void ticket_free(ticket *t)
{
    for (int i = 0; i < MM_SAME_MAX; i++) free(t->same_vals[i]);
    json_decref(t->properties);
    free(t);
}

ticket *matchmaker_ticket_new(const mode_pool *p, const char *ticket_id, const char *player_id,
                              const char *username, const char *node_id, json_t *properties, double skill)
{
    ticket *t = mb_calloc(1, sizeof *t);
    t->id = next_id++;
    snprintf(t->ticket_id, sizeof t->ticket_id, "%s", ticket_id);
    snprintf(t->player_id, sizeof t->player_id, "%s", player_id);
    snprintf(t->username, sizeof t->username, "%s", username);
    snprintf(t->mode, sizeof t->mode, "%s", p->mode);
    snprintf(t->node_id, sizeof t->node_id, "%s", node_id);
    t->properties = json_incref(properties);
    t->skill = skill;
    for (size_t i = 0; i < p->cfg.same_count; i++) {
        const char *v = json_string_value(json_object_get(properties, p->cfg.same[i]));
        t->same_vals[i] = mb_strdup(v ? v : "");
        t->same_ptrs[i] = t->same_vals[i];
    }
    return t;
}

mb_status matchmaker_pool_put(mode_pool *p, ticket *t)
{
    mm_entry e = {t->id, t->id, t->skill, t->enqueued_ms, p->cfg.same_count ? t->same_ptrs : NULL};
    return mm_pool_add(p->pool, &e);
}

static ticket_link *link_of(ticket *t, bool node) { return node ? &t->by_node : &t->by_player; }

/* t at the head of the list of key in m */
static void list_add(mb_smap *m, const char *key, ticket *t, bool node)
{
    ticket *head = mb_smap_get(m, key);
    ticket_link *l = link_of(t, node);
    l->prev = NULL;
    l->next = head;
    if (head) link_of(head, node)->prev = t;
    mb_smap_put(m, key, t);
}

static void list_del(mb_smap *m, const char *key, ticket *t, bool node)
{
    ticket_link *l = link_of(t, node);
    if (l->prev) link_of(l->prev, node)->next = l->next;
    else if (l->next) mb_smap_put(m, key, l->next);
    else mb_smap_del(m, key);
    if (l->next) link_of(l->next, node)->prev = l->prev;
    l->prev = l->next = NULL;
}

mb_status matchmaker_ticket_add(mode_pool *p, ticket *t)
{
    if (matchmaker_pool_put(p, t) != MB_OK) {
        ticket_free(t);
        return MB_ERR;
    }
    mb_imap_put(&tickets, t->id, t);
    mb_smap_put(&tickets_by_str, t->ticket_id, t);
    list_add(&by_player, t->player_id, t, false);
    if (t->node_id[0]) list_add(&by_node, t->node_id, t, true);
    return MB_OK;
}

void matchmaker_ticket_forget(ticket *t)
{
    mb_imap_del(&tickets, t->id);
    mb_smap_del(&tickets_by_str, t->ticket_id);
    list_del(&by_player, t->player_id, t, false);
    if (t->node_id[0]) list_del(&by_node, t->node_id, t, true);
    ticket_free(t);
}

ticket *matchmaker_player_first(const char *player_id) { return mb_smap_get(&by_player, player_id); }

ticket *matchmaker_node_first(const char *node_id) { return mb_smap_get(&by_node, node_id); }

ticket *matchmaker_ticket_find(const char *ticket_id) { return mb_smap_get(&tickets_by_str, ticket_id); }

ticket *matchmaker_ticket_next(size_t *iter)
{
    void *v;
    return mb_imap_next(&tickets, iter, NULL, &v) ? v : NULL;
}

static void pool_free(mode_pool *p)
{
    mm_pool_free(p->pool);
    for (int i = 0; i < MM_SAME_MAX; i++) free(p->same_names[i]);
    free(p->skill_prop);
    mb_lua_vm_free(p->hook_vm);
    free(p);
}

mode_pool *matchmaker_find_pool(const char *mode)
{
    for (size_t i = 0; i < n_pools; i++)
        if (strcmp(pools[i]->mode, mode) == 0) return pools[i];
    return NULL;
}

double matchmaker_json_num(json_t *o, const char *k, double def)
{
    json_t *v = json_object_get(o, k);
    return json_is_number(v) ? json_number_value(v) : def;
}

/* Build a pool config from a mode's M.matchmaker table. */
static mode_pool *pool_from_mode(const mode_version *v, char *err, size_t errlen)
{
    json_t *mm = v->matchmaker;
    mode_pool *p = mb_calloc(1, sizeof *p);
    snprintf(p->mode, sizeof p->mode, "%s", v->mode);
    p->version = v->version;
    p->hook_ref = LUA_NOREF;
    json_t *size = json_object_get(mm, "size");
    p->cfg.size_min = (int)matchmaker_json_num(size, "min", v->players_min);
    p->cfg.size_max = (int)matchmaker_json_num(size, "max", v->players_max);
    p->cfg.teams = (int)matchmaker_json_num(mm, "teams", 0);
    const char *skill = json_string_value(json_object_get(mm, "skill"));
    p->cfg.has_skill = skill != NULL;
    p->skill_prop = skill ? mb_strdup(skill) : NULL;
    p->cfg.window = matchmaker_json_num(mm, "window", 100);
    p->cfg.widen_per_second = matchmaker_json_num(mm, "widen_per_second", 0);
    p->cfg.max_window = matchmaker_json_num(mm, "max_window", p->cfg.window > 1000 ? p->cfg.window : 1000);
    if (p->cfg.max_window < p->cfg.window) p->cfg.max_window = p->cfg.window;
    json_t *same = json_object_get(mm, "same");
    size_t i;
    json_t *s;
    json_array_foreach (same, i, s) {
        if (!json_is_string(s) || i >= MM_SAME_MAX) {
            snprintf(err, errlen, "%s: matchmaker.same must be a list of at most %d property names", v->path,
                     MM_SAME_MAX);
            pool_free(p);
            return NULL;
        }
        p->same_names[i] = mb_strdup(json_string_value(s));
        p->cfg.same[i] = p->same_names[i];
        p->cfg.same_count = i + 1;
    }
    json_t *fa = json_object_get(mm, "fill_after_ms");
    p->cfg.fill_after_ms = json_is_number(fa) ? (int64_t)json_number_value(fa) : 10000;
    json_t *to = json_object_get(mm, "timeout_ms");
    p->cfg.timeout_ms = json_is_number(to) ? (int64_t)json_number_value(to) : 120000;
    if (p->cfg.timeout_ms <= 0) p->cfg.timeout_ms = MM_NEVER;
    const char *why = mm_config_check(&p->cfg);
    if (why) {
        snprintf(err, errlen, "%s: matchmaker: %s", v->path, why);
        pool_free(p);
        return NULL;
    }
    p->pool = mm_pool_new(&p->cfg);
    return p;
}

/* Current pool of a mode, (re)built when the mode's version changed. */
mode_pool *matchmaker_pool_for(const char *mode, char *err, size_t errlen, bool *no_mm)
{
    *no_mm = false;
    mode_version *v = modes_get(mode);
    mode_pool *p = matchmaker_find_pool(mode);
    if (!v || !v->matchmaker) {
        *no_mm = true;
        snprintf(err, errlen, v ? "mode '%s' has no matchmaker configuration" : "unknown mode '%s'", mode);
        return NULL;
    }
    if (p && p->version == v->version) return p;
    mode_pool *np = pool_from_mode(v, err, errlen);
    if (!np) return NULL;
    if (p) {
        /* Move the waiting tickets to the new configuration, keeping their
         * wait time. */
        size_t it = 0;
        ticket *t;
        while ((t = matchmaker_ticket_next(&it))) {
            if (strcmp(t->mode, mode) != 0 || t->in_flight) continue;
            for (size_t k = 0; k < np->cfg.same_count; k++) {
                const char *val2 = json_string_value(json_object_get(t->properties, np->cfg.same[k]));
                free(t->same_vals[k]);
                t->same_vals[k] = mb_strdup(val2 ? val2 : "");
                t->same_ptrs[k] = t->same_vals[k];
            }
            matchmaker_pool_put(np, t);
        }
        np->formed = p->formed;
        for (size_t k = 0; k < n_pools; k++)
            if (pools[k] == p) pools[k] = np;
        pool_free(p);
    } else {
        pools = mb_realloc(pools, (n_pools + 1) * sizeof *pools);
        pools[n_pools++] = np;
    }
    return np;
}

mode_pool *matchmaker_pool_next(size_t *iter) { return *iter < n_pools ? pools[(*iter)++] : NULL; }

ticket *matchmaker_ticket_get(uint64_t id) { return mb_imap_get(&tickets, id); }

size_t matchmaker_ticket_count(void) { return tickets.count; }

/* matchmaker.removed {ticket_id, mode, reason} to every socket of the player. */
void matchmaker_send_removed(const char *player_id, const char *ticket_id, const char *mode,
                             const char *reason)
{
    json_t *p = json_pack("{s:s,s:s,s:s}", "ticket_id", ticket_id, "mode", mode, "reason", reason);
    mb_player_send(player_id, "matchmaker.removed", p);
    json_decref(p);
}

/* ------------------------------------------------------------ figures */

void matchmaker_record_wait(mode_pool *p, double wait_ms, double spread)
{
    p->waits[p->recent_pos] = wait_ms;
    p->spreads[p->recent_pos] = spread;
    p->recent_pos = (p->recent_pos + 1) % MATCHMAKER_RECENT;
    if (p->n_recent < MATCHMAKER_RECENT) p->n_recent++;
}

void matchmaker_record_formed(mode_pool *p)
{
    if (p) p->formed++;
    *m_formed += 1;
}

void matchmaker_record_added(void) { *m_added += 1; }

void matchmaker_pool_means(const mode_pool *p, double *mean_wait_ms, double *mean_spread)
{
    double wsum = 0, ssum = 0;
    for (size_t k = 0; k < p->n_recent; k++) {
        wsum += p->waits[k];
        ssum += p->spreads[k];
    }
    *mean_wait_ms = p->n_recent ? wsum / (double)p->n_recent : 0.0;
    *mean_spread = p->n_recent ? ssum / (double)p->n_recent : 0.0;
}

/* ------------------------------------------------------------ life */

void matchmaker_tickets_init(void)
{
    mb_imap_init(&tickets);
    mb_smap_init(&tickets_by_str);
    mb_smap_init(&by_player);
    mb_smap_init(&by_node);
    mb_metric_table_imap("matchmaker_tickets", &tickets);
    mb_metric_table_smap("matchmaker_ticket_ids", &tickets_by_str);
    mb_metric_table_smap("matchmaker_ticket_players", &by_player);
    mb_metric_table_smap("matchmaker_ticket_nodes", &by_node);
    m_formed =
        mb_metric("moonbase_matchmaker_matches_total", "", MB_COUNTER, "matches formed by the matchmaker");
    m_added = mb_metric("moonbase_matchmaker_tickets_added_total", "", MB_COUNTER, "tickets submitted");
}

void matchmaker_tickets_destroy(void)
{
    size_t it = 0;
    void *v;
    while (mb_imap_next(&tickets, &it, NULL, &v)) ticket_free(v);
    mb_imap_free(&tickets);
    mb_smap_free(&tickets_by_str);
    mb_smap_free(&by_player);
    mb_smap_free(&by_node);
    for (size_t i = 0; i < n_pools; i++) pool_free(pools[i]);
    free(pools);
    pools = NULL;
    n_pools = 0;
}
