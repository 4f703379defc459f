/*
 * matchmaker_internal.h - what the two halves of the matchmaker module share
 * and nobody else sees:
 *
 *   matchmaker.c  the module: matchmaker.add / remove, one pool (pool.c) per
 *                 mode, the passes, the Lua hook, match creation on this
 *                 node, the ticket table and its indexes (by ticket id, by
 *                 player, by node), GET /v1/matchmaker/stats, the metrics
 *   cluster_mm.c  cluster mode (docs/CLUSTER.md "Matchmaker"): the tickets
 *                 mirrored from Redis and the bus, the pass-owner lease,
 *                 claims, op mm.create, the pool read when the lease is
 *                 taken, the tickets of a node that is gone
 *
 * matchmaker.c calls cluster_mm.c only where cluster_enabled() is true;
 * cluster_mm.c keeps its tickets in matchmaker.c's table through the
 * functions below, never through the maps themselves, so the indexes stay
 * exact (a ticket claimed or expiring stays in them, in flight, until it is
 * forgotten). Everything runs on the loop thread.
 */
#ifndef MB_MATCHMAKER_INTERNAL_H
#define MB_MATCHMAKER_INTERNAL_H

#include "pool.h"
#include "server.h"
#include "vm.h"

#define MATCHMAKER_JOIN_TIMEOUT_MS 15000 /* seats of a formed group are reserved this long */
#define MATCHMAKER_RECENT 1024           /* matched tickets behind mean_wait_ms / mean_skill_spread */

typedef struct ticket ticket;

/* A ticket's place in one list (a player's tickets, a node's tickets). */
typedef struct ticket_link {
    ticket *prev, *next;
} ticket_link;

struct ticket {
    uint64_t id; /* the pool entry's id */
    char ticket_id[40];
    char player_id[64];
    char username[64];
    char mode[72];
    json_t *properties;
    double skill;
    char *same_vals[MM_SAME_MAX];
    const char *same_ptrs[MM_SAME_MAX];
    int64_t enqueued_ms;
    ticket_link by_player; /* the tickets of player_id */
    ticket_link by_node;   /* the tickets of node_id (cluster mode: node_id not empty) */
    /* cluster mode (docs/CLUSTER.md "Matchmaker"): every node mirrors the
     * cluster's tickets; node_id holds the socket that added it */
    char node_id[72];
    int64_t created_at; /* epoch ms */
    uint64_t seq;       /* mirror order (reload) */
    bool in_flight;     /* out of the pool: claimed by a pass, or expiring */
};

typedef struct mode_pool {
    char mode[72];
    mm_pool *pool;
    mm_config cfg;
    char *same_names[MM_SAME_MAX];
    char *skill_prop;
    int version;
    mb_lua_vm *hook_vm; /* runs M.matchmaker_matched, NULL when absent */
    int hook_ref;
    uint64_t formed;
    double waits[MATCHMAKER_RECENT], spreads[MATCHMAKER_RECENT];
    size_t n_recent, recent_pos;
} mode_pool;

/* ---- matchmaker.c: tickets */

/* A new ticket in no table yet: the strings copied, properties referenced,
 * the `same` values read from properties as p's configuration names them,
 * a fresh pool id. enqueued_ms and the cluster fields are the caller's. */
ticket *matchmaker_ticket_new(const mode_pool *p, const char *ticket_id, const char *player_id,
                              const char *username, const char *node_id, json_t *properties, double skill);
/* Into p's pool and every table. MB_ERR when the pool refuses it: the
 * ticket is freed. */
mb_status matchmaker_ticket_add(mode_pool *p, ticket *t);
/* A ticket of the tables back into p's pool (it was out: in flight). */
mb_status matchmaker_pool_put(mode_pool *p, ticket *t);
/* Out of every table, and freed (the caller took it out of the pool). */
void matchmaker_ticket_forget(ticket *t);
ticket *matchmaker_ticket_find(const char *ticket_id);
/* Every ticket: for (size_t it = 0; (t = matchmaker_ticket_next(&it));).
 * Forgetting the ticket just returned is safe; adding one is not. */
ticket *matchmaker_ticket_next(size_t *iter);
/* The first of a player's tickets (every node's, in cluster mode), then
 * t->by_player.next; the first of a node's tickets, then t->by_node.next.
 * NULL when none. Forgetting a ticket of the list ends the walk. */
ticket *matchmaker_player_first(const char *player_id);
ticket *matchmaker_node_first(const char *node_id);

/* ---- matchmaker.c: pools, figures, messages */

mode_pool *matchmaker_find_pool(const char *mode);
/* The mode's current pool, (re)built when the mode's version changed; NULL
 * with a reason in err (no_mm: the mode is unknown or has no matchmaker). */
mode_pool *matchmaker_pool_for(const char *mode, char *err, size_t errlen, bool *no_mm);
/* A matched ticket's wait and its group's skill spread (p's recent figures). */
void matchmaker_record_wait(mode_pool *p, double wait_ms, double spread);
/* A match formed (p may be NULL: the counter only). */
void matchmaker_record_formed(mode_pool *p);
void matchmaker_record_added(void);
void matchmaker_pool_means(const mode_pool *p, double *mean_wait_ms, double *mean_spread);
/* matchmaker.removed {ticket_id, mode, reason} to every socket of the player here. */
void matchmaker_send_removed(const char *player_id, const char *ticket_id, const char *mode,
                             const char *reason);
/* o[k] when it is a number, else def. */
double matchmaker_json_num(json_t *o, const char *k, double def);

/* ---- cluster_mm.c (cluster mode only) */

void matchmaker_cluster_init(void);
void matchmaker_cluster_destroy(void); /* nothing when init did not run */
/* matchmaker.add, checked: into Redis, the mirrors, then the reply. */
void matchmaker_cluster_add(mb_session *s, const char *cid, mode_pool *p, json_t *props);
/* matchmaker.remove of the player's ticket t: Redis decides. */
void matchmaker_cluster_remove(mb_session *s, const char *cid, ticket *t);
/* The player's last socket on this node closed: this node's tickets go. */
void matchmaker_cluster_session_closed(const char *player_id);
/* A pass formed a group (hook accepted): claim it, place its match. The
 * tickets stay in the tables, in flight. */
bool matchmaker_cluster_group(mode_pool *p, ticket **ts, size_t n, int *teams);
/* mm_pool_expire timed t out (out of the pool). */
void matchmaker_cluster_expired(ticket *t);
/* This node runs the mode's passes now (holds the lease, pool read). */
bool matchmaker_cluster_passes(const char *mode);
void matchmaker_cluster_pass_timed(const char *mode, double ms);
/* The pass owner's figures into the stats object m of a mode. */
void matchmaker_cluster_stats(const char *mode, json_t *m);

#endif
