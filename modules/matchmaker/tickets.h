/*
 * tickets.h - the matchmaker's tickets and pools (tickets.c), shared by the
 * files of modules/matchmaker and no one else:
 *
 *   tickets.c     the ticket table and its indexes (by pool id, by ticket
 *                 id, by player, by node), one pool (pool.c) per mode, the
 *                 figures of formed matches, matchmaker.removed
 *   cluster_mm.c  cluster mode (cluster_mm.h): the tickets mirrored from
 *                 Redis, the pass-owner lease, claims, op mm.create, the
 *                 pool read, node loss; keeps its tickets in this table
 *   matchmaker.c  the module: messages, passes, the Lua hook, match
 *                 creation on one node, stats; calls cluster_mm.c where
 *                 cluster_enabled()
 *
 * Nobody touches the maps but tickets.c: a ticket enters the table only
 * through matchmaker_ticket_add and leaves it only through
 * matchmaker_ticket_forget, so every index is exact (a ticket claimed by a
 * pass or expiring stays in them, in flight, until it is forgotten).
 * Everything runs on the loop thread.
 */
#ifndef MB_MATCHMAKER_TICKETS_H
#define MB_MATCHMAKER_TICKETS_H

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

/* ---- the ticket table */

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
/* The ticket of a pool entry (mm_entry.owner), NULL when none. */
ticket *matchmaker_ticket_get(uint64_t id);
size_t matchmaker_ticket_count(void);

/* ---- pools, figures, messages */

mode_pool *matchmaker_find_pool(const char *mode);
/* Every pool: for (size_t it = 0; (p = matchmaker_pool_next(&it));). */
mode_pool *matchmaker_pool_next(size_t *iter);
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

/* tickets.c's tables and counters (matchmaker.c's init and destroy) */
void matchmaker_tickets_init(void);
void matchmaker_tickets_destroy(void);

#endif
