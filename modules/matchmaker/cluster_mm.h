/*
 * cluster_mm.h - the matchmaker in cluster mode (cluster_mm.c, docs/CLUSTER.md
 * "Matchmaker"): what matchmaker.c calls where cluster_enabled(). Shared by
 * the files of modules/matchmaker and no one else.
 */
#ifndef MB_MATCHMAKER_CLUSTER_MM_H
#define MB_MATCHMAKER_CLUSTER_MM_H

#include "server.h"
#include "tickets.h"

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
