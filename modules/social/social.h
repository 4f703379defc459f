/*
 * social.h - presence, friends and notifications (modules/social), and the
 * few calls the chat module makes into them.
 *
 *   social.c         shared helpers, the undo queue (the base: it calls
 *                    none of the files below)
 *   presence.c       online/offline, presence.update, presence.changed
 *                    fan-out to online friends, the relationship cache,
 *                    GET /v1/presence
 *   friends.c        /v1/friends REST (the state machine is SQL functions
 *                    in migrations/0004_social.sql)
 *   notifications.c  stored notifications, live notification.new, REST,
 *                    admin REST, moonbase.notify for scripts
 *   social_module.c  the module table and its hooks (on top of the others)
 *
 * Everything runs on the loop thread. Player ids are lower-case UUID text.
 * Durability: a 2xx, a presence or friend change and a notification.new are
 * only produced for rows whose statement committed (see docs/SOCIAL.md).
 */
#ifndef MB_SOCIAL_H
#define MB_SOCIAL_H

#include <jansson.h>
#include <lua.h>
#include <stdbool.h>

#include "server.h"

/* A player's relation towards another, as stored in friendships.state. */
typedef enum {
    REL_NONE = 0,
    REL_FRIEND,
    REL_INVITE_SENT,
    REL_INVITE_RECEIVED,
    REL_BLOCKED, /* I blocked them */
} social_rel;

#define SOCIAL_MAX_FRIENDS 1000 /* friend + invite rows per player */

/* RFC 3339 UTC with milliseconds, e.g. 2026-04-15T10:30:00.000Z. */
#define SOCIAL_TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

/* ---------------------------------------------------------- social.c */

/* Read ?name= as an integer in [min, max] (values above max are clamped);
 * def when absent. On a bad value answers 400 and returns MB_ERR. */
/* The declared check of a query parameter limit= (an integer >= 1;
 * social_query_int caps it at the route's maximum). */
const char *social_field_limit(const json_t *v);
mb_status social_query_int(mb_http_req *r, const char *name, long long def, long long min, long long max,
                           long long *out);
const char *social_rel_name(social_rel r);
social_rel social_rel_parse(const char *s); /* unknown -> REL_NONE */

/* Undo queue for writes whose commit is in doubt: a statement that failed
 * with `unavailable` may or may not have committed, and its client was told
 * it did not. social_undo_add() queues "DELETE FROM table WHERE id = ..."
 * which is retried until it commits; readers exclude the queued ids
 * meanwhile. table is a literal ("chat_messages", "notifications"). */
void social_undo_add(const char *table, const char *id);
/* Ids of table still queued, as a PostgreSQL uuid[] literal ("{}" when
 * none). Caller frees. */
char *social_undo_ids(const char *table);
size_t social_undo_pending(void);
/* The queue's metric and timer (module init); destroy logs what is left. */
void social_undo_init(void);
void social_undo_destroy(void);

/* -------------------------------------------------------- presence.c */

void presence_init(void);
void presence_destroy(void);
void presence_session_authed(mb_session *s);
void presence_session_closed(mb_session *s);
void presence_flush(void); /* before_sleep: fan out changed presences */
void presence_on_update(mb_session *s, const char *cid, json_t *payload);
void presence_route_get(mb_http_req *r);
char *presence_metrics(void);

/* Is there a block between a and b, either way? false also when it is not
 * known (a's relationships are not in memory: a is offline or loading). */
bool presence_blocked(const char *a, const char *b);
/* a's presence as {status, metadata?} (new reference); metadata only when
 * full. Offline players read {status: "offline"}. */
json_t *presence_json(const char *player_id, bool full);
/* A committed change of a's relation towards b: update a's cached
 * relationships (when a is online). state: social_rel or -1 to keep;
 * blocked_by: b blocks a (1), not (0), keep (-1). */
void presence_rel_set(const char *a, const char *b, int state, int blocked_by);
/* The cache of a may be wrong (a write whose commit is in doubt): reload. */
void presence_rel_stale(const char *a);
/* Send `to` a presence.changed with about's current presence (new
 * friends; status "offline" when hide). */
void presence_tell(const char *to, const char *about, bool hide);

/* --------------------------------------------------------- friends.c */

void friends_route_add(mb_http_req *r);
/* POST /v1/friends's declared body (player_id or username) */
extern const mb_field friends_add_fields[];
/* GET /v1/friends's declared query (state) */
extern const mb_field friends_list_query[];
void friends_route_remove(mb_http_req *r);
void friends_route_block(mb_http_req *r);
void friends_route_list(mb_http_req *r);

/* --------------------------------------------------- notifications.c */

void notifications_init(void);
void notifications_destroy(void);
void notifications_flush(void); /* before_sleep: group-commit queued inserts */
/* Send notification.new {id, type, subject, content} to every socket of
 * player_id. content_json is the stored JSON object text. */
void notifications_deliver(const char *player_id, const char *id, const char *type, const char *subject,
                           const char *content_json);
void notifications_route_list(mb_http_req *r);
void notifications_route_read(mb_http_req *r);
/* POST /v1/notifications/read's declared body (ids or all) */
extern const mb_field notifications_read_fields[];
/* GET /v1/notifications's declared query (limit, unread, cursor) */
extern const mb_field notifications_list_query[];
/* POST /v1/admin/notifications's declared body */
extern const mb_field notifications_admin_fields[];
void notifications_route_delete(mb_http_req *r);
void notifications_route_admin(mb_http_req *r);
char *notifications_metrics(void);

#endif
