/*
 * cluster.h - many nodes sharing Redis (docs/CLUSTER.md): membership
 * (registration with a TTL, heartbeat), the live node list, messages to
 * one node with a reply (cluster_call), messages to every node
 * (cluster_broadcast), and the failure of a node (lost hooks).
 *
 * Without --redis-url cluster_enabled() is false and nothing here talks to
 * Redis; callers keep their single-node path (one branch on a bool).
 *
 * This module depends on the runtime only; the modules above it (match,
 * chat, social) call it and register hooks, never the other way round.
 */
#ifndef MB_CLUSTER_H
#define MB_CLUSTER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "server.h"

extern const mb_module cluster_module;

bool cluster_enabled(void);
/* Redis reachable now (cluster mode). */
bool cluster_up(void);
const char *cluster_node_id(void);
const char *cluster_public_url(void);

/* A live node as last seen (the list is refreshed every heartbeat). */
typedef struct cluster_node {
    char *node_id, *url;
    int64_t started_at, last_seen; /* wall ms */
    int64_t sessions, matches;
} cluster_node;
size_t cluster_node_count(void);
const cluster_node *cluster_node_at(size_t i);
const cluster_node *cluster_node_find(const char *node_id);
/* The least loaded live node (fewest matches, then sessions, then id);
 * this node when the list is empty. */
const cluster_node *cluster_pick_node(void);

/* Load figures this node reports (set by the match module). */
void cluster_set_match_count_fn(size_t (*fn)(void));

/* ------------------------------------------------ node-to-node calls */
/* Handler of an op sent by cluster_call: args borrowed; answer exactly
 * once with cluster_respond (now or later). */
typedef struct cluster_req cluster_req;
typedef void (*cluster_op_fn)(cluster_req *req, const char *from_node, json_t *args);
void cluster_on(const char *op, cluster_op_fn fn);
/* result stolen (NULL: null). */
void cluster_respond(cluster_req *req, json_t *result);

/* Reply callback: result borrowed, NULL when the node did not answer in
 * time or Redis is down (then code says why, e.g. MB_E_UNAVAILABLE; with a
 * result code is MB_E__COUNT). Runs exactly
 * once, never from inside cluster_call. */
typedef void (*cluster_reply_fn)(void *ud, json_t *result, mb_errcode code, const char *message);
/* Send op with args (stolen) to node_id; to this node it runs the handler
 * locally (no Redis). */
void cluster_call(const char *node_id, const char *op, json_t *args, int timeout_ms, cluster_reply_fn cb,
                  void *ud);

/* ------------------------------------------------ to every other node */
typedef void (*cluster_bus_fn)(const char *from_node, json_t *data);
void cluster_on_bus(const char *topic, cluster_bus_fn fn);
/* Publish data (stolen) to every other node (not delivered back here).
 * false when Redis is down (nothing sent). */
bool cluster_broadcast(const char *topic, json_t *data);

/* ---------------------------------------------------------- failures */
/* Called on exactly one surviving node when node_id's registration
 * expired (it holds the lock for that node), with the ids of the live
 * matches the directory had on that node (array, borrowed). Also called on
 * a node that restarts under the same id for its own leftovers. */
typedef void (*cluster_lost_fn)(const char *node_id, json_t *match_ids);
void cluster_on_node_lost(cluster_lost_fn fn);
/* Called on every node, once, when node_id leaves the cluster: it stopped
 * gracefully (it says so on the bus) or its registration expired. For
 * state a node keeps about the others (presence). */
typedef void (*cluster_gone_fn)(const char *node_id);
void cluster_on_node_gone(cluster_gone_fn fn);

/* ----------------------------------------------------- the directory */
/* Record a live match hosted here (and forget it when it ends). info
 * (stolen, may be NULL): what a surviving node needs to record the match
 * as lost ({"mode", "script_version", "created_at", "params"}). */
void cluster_match_added(const char *match_id, json_t *info);
void cluster_match_removed(const char *match_id);
/* Which node hosts match_id: cb(ud, node or NULL). NULL also when Redis
 * is down (unavailable true). */
typedef void (*cluster_where_fn)(void *ud, const cluster_node *node, bool unavailable);
void cluster_match_where(const char *match_id, cluster_where_fn cb, void *ud);

#endif
