/*
 * friends.c - /v1/friends: request / accept, remove / decline / cancel /
 * unblock, block, list. Each change is one call of a SQL function
 * (migrations/0004_social.sql) that runs the state machine in one
 * transaction, creates the friend_request / friend_accepted notification
 * in that same transaction, and says what it did. Only after it committed
 * do we answer 2xx, deliver the notification live and update the
 * presence cache of the players online.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "social.h"

typedef struct fr_ctx {
    mb_http_req *req;
    char me[40];
    char peer[40]; /* "" when addressed by username */
} fr_ctx;

static fr_ctx *ctx_new(mb_http_req *r)
{
    fr_ctx *c = mb_calloc(1, sizeof *c);
    c->req = r;
    snprintf(c->me, sizeof c->me, "%s", mb_http_player(r));
    return c;
}

/* A failed write may have committed: re-read both players' caches. */
static bool failed(fr_ctx *c, const mb_db_result *res)
{
    if (res->ok && PQntuples(res->res) == 1) return false;
    if (res->ok) mb_http_error(c->req, MB_E_INTERNAL, "internal error");
    else {
        if (res->code == MB_E_UNAVAILABLE) {
            presence_rel_stale(c->me);
            if (c->peer[0]) presence_rel_stale(c->peer);
        }
        mb_http_db_error(c->req, res, NULL);
    }
    free(c);
    return true;
}

static const char *col(const mb_db_result *res, int i)
{
    return PQgetisnull(res->res, 0, i) ? NULL : PQgetvalue(res->res, 0, i);
}

static bool str_eq(const char *a, const char *b) { return a && b && strcmp(a, b) == 0; }

/* Path parameter {player_id}: a UUID and not the caller. */
static mb_status path_peer(mb_http_req *r, fr_ctx *c)
{
    const char *id = mb_http_param(r, 0);
    if (!mb_uuid_valid(id)) {
        mb_http_error(r, MB_E_BAD_REQUEST, "player_id must be a player id (UUID)");
        return MB_ERR;
    }
    mb_uuid_lower(id, c->peer);
    if (strcmp(c->peer, c->me) == 0) {
        mb_http_error(r, MB_E_BAD_REQUEST, "that is your own player id");
        return MB_ERR;
    }
    return MB_OK;
}

/* --------------------------------------------------- POST /v1/friends */

static void add_done(void *ud, const mb_db_result *res)
{
    fr_ctx *c = ud;
    if (failed(c, res)) return;
    const char *outcome = col(res, 0), *peer = col(res, 1), *name = col(res, 2), *state = col(res, 3);
    mb_http_req *r = c->req;
    if (str_eq(outcome, "not_found")) mb_http_error(r, MB_E_NOT_FOUND, "no such player");
    else if (str_eq(outcome, "self")) mb_http_error(r, MB_E_BAD_REQUEST, "you cannot befriend yourself");
    else if (str_eq(outcome, "blocked_by"))
        mb_http_error(r, MB_E_FORBIDDEN, "this player does not accept friend requests from you");
    else if (str_eq(outcome, "you_blocked"))
        mb_http_error(r, MB_E_CONFLICT, "you blocked this player; DELETE /v1/friends/%s to unblock first",
                      peer);
    else if (str_eq(outcome, "limit"))
        mb_http_error(r, MB_E_CONFLICT, "your friend list is full (%d friends and invites)",
                      SOCIAL_MAX_FRIENDS);
    else if (str_eq(outcome, "peer_limit"))
        mb_http_error(r, MB_E_CONFLICT, "that player's friend list is full");
    else if (peer && name && state) {
        bool accepted = str_eq(outcome, "accepted");
        if (str_eq(outcome, "requested")) {
            presence_rel_set(c->me, peer, REL_INVITE_SENT, -1);
            presence_rel_set(peer, c->me, REL_INVITE_RECEIVED, -1);
        } else if (accepted) {
            presence_rel_set(c->me, peer, REL_FRIEND, -1);
            presence_rel_set(peer, c->me, REL_FRIEND, -1);
        }
        mb_info("friend_add", "player=%s peer=%s outcome=%s", c->me, peer, outcome);
        mb_http_respond(r, 200,
                        json_pack("{s:s,s:s,s:s}", "player_id", peer, "username", name, "state", state));
        if (col(res, 4) && col(res, 5) && col(res, 6) && col(res, 7))
            notifications_deliver(peer, col(res, 4), col(res, 5), col(res, 6), col(res, 7));
        if (accepted) { /* new friends see each other right away */
            presence_tell(c->me, peer, false);
            presence_tell(peer, c->me, false);
        }
    } else mb_http_error(r, MB_E_INTERNAL, "internal error");
    free(c);
}

static const char *field_player_id(const json_t *v)
{
    return mb_uuid_valid(json_string_value(v)) ? NULL : "player_id must be a player id (UUID)";
}

const mb_field friends_add_fields[] = {
    {"player_id", MB_F_STRING, false, 0, 0, field_player_id, "uuid"},
    {"username", MB_F_STRING, false, 1, 64, NULL, NULL},
    {NULL},
};

/* Types and formats: friends_add_fields; left here: exactly one of the two. */
void friends_route_add(mb_http_req *r)
{
    json_t *b = mb_http_body(r);
    json_t *pid = json_object_get(b, "player_id");
    json_t *usn = json_object_get(b, "username");
    if (json_is_null(pid)) pid = NULL;
    if (json_is_null(usn)) usn = NULL;
    if (!pid == !usn) {
        mb_http_error(r, MB_E_BAD_REQUEST, "send exactly one of 'player_id' or 'username'");
        return;
    }
    fr_ctx *c = ctx_new(r);
    if (pid) mb_uuid_lower(json_string_value(pid), c->peer);
    char max[16];
    snprintf(max, sizeof max, "%d", SOCIAL_MAX_FRIENDS);
    const char *p[] = {c->me, pid ? c->peer : NULL, usn ? json_string_value(usn) : NULL, max};
    mb_db_query("SELECT outcome, peer_id::text, peer_name, new_state, n_id::text, n_type, n_subject,"
                " n_content::text FROM social_friend_add($1::uuid, $2::uuid, $3, $4::int)",
                4, p, add_done, c);
}

/* ---------------------------------------- DELETE /v1/friends/{player_id} */

static void remove_done(void *ud, const mb_db_result *res)
{
    fr_ctx *c = ud;
    if (failed(c, res)) return;
    const char *outcome = col(res, 0), *mine = col(res, 1), *theirs = col(res, 2);
    if (str_eq(outcome, "not_found")) {
        mb_http_error(c->req, MB_E_NOT_FOUND, "no friendship, invite or block with this player");
        free(c);
        return;
    }
    presence_rel_set(c->me, c->peer, REL_NONE, -1);
    if (str_eq(outcome, "unblocked")) presence_rel_set(c->peer, c->me, -1, 0);
    else if (!str_eq(theirs, "blocked")) presence_rel_set(c->peer, c->me, REL_NONE, -1);
    mb_info("friend_remove", "player=%s peer=%s outcome=%s was=%s", c->me, c->peer, outcome,
            mine ? mine : "");
    mb_http_respond(c->req, 200,
                    json_pack("{s:s,s:s,s:s}", "player_id", c->peer, "state", "none", "previous_state",
                              mine ? mine : "none"));
    free(c);
}

void friends_route_remove(mb_http_req *r)
{
    fr_ctx *c = ctx_new(r);
    if (path_peer(r, c) != MB_OK) {
        free(c);
        return;
    }
    const char *p[] = {c->me, c->peer};
    mb_db_query("SELECT outcome, prev_mine, prev_theirs FROM social_friend_remove($1::uuid, $2::uuid)", 2, p,
                remove_done, c);
}

/* ------------------------------------ POST /v1/friends/{player_id}/block */

static void block_done(void *ud, const mb_db_result *res)
{
    fr_ctx *c = ud;
    if (failed(c, res)) return;
    const char *outcome = col(res, 0), *name = col(res, 1), *mine = col(res, 2), *theirs = col(res, 3);
    if (str_eq(outcome, "not_found") || !name) {
        mb_http_error(c->req, MB_E_NOT_FOUND, "no such player");
        free(c);
        return;
    }
    presence_rel_set(c->me, c->peer, REL_BLOCKED, -1);
    presence_rel_set(c->peer, c->me, str_eq(theirs, "blocked") ? -1 : REL_NONE, 1);
    mb_info("friend_block", "player=%s peer=%s was=%s", c->me, c->peer, mine ? mine : "none");
    mb_http_respond(c->req, 200,
                    json_pack("{s:s,s:s,s:s}", "player_id", c->peer, "username", name, "state", "blocked"));
    /* A former friend stops seeing us: last thing they hear is offline. */
    if (str_eq(mine, "friend")) presence_tell(c->peer, c->me, true);
    free(c);
}

void friends_route_block(mb_http_req *r)
{
    fr_ctx *c = ctx_new(r);
    if (path_peer(r, c) != MB_OK) {
        free(c);
        return;
    }
    const char *p[] = {c->me, c->peer};
    mb_db_query(
        "SELECT outcome, peer_name, prev_mine, prev_theirs FROM social_friend_block($1::uuid, $2::uuid)", 2,
        p, block_done, c);
}

/* ---------------------------------------------------- GET /v1/friends */

static void list_done(void *ud, const mb_db_result *res)
{
    mb_http_req *r = ud;
    if (!res->ok) {
        mb_http_db_error(r, res, NULL);
        return;
    }
    json_t *arr = json_array();
    for (int i = 0; i < PQntuples(res->res); i++) {
        const char *other = PQgetvalue(res->res, i, 0);
        const char *state = PQgetvalue(res->res, i, 2);
        bool friend = strcmp(state, "friend") == 0;
        json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:o,s:s}", "player_id", other, "username",
                                             PQgetvalue(res->res, i, 1), "state", state, "presence",
                                             friend ? presence_json(other, true) : json_null(), "updated_at",
                                             PQgetvalue(res->res, i, 3)));
    }
    mb_http_respond(r, 200, json_pack("{s:o}", "friends", arr));
}

static const char *field_state(const json_t *v)
{
    return social_rel_parse(json_string_value(v)) == REL_NONE
               ? "state must be friend, invite_sent, invite_received or blocked"
               : NULL;
}

const mb_field friends_list_query[] = {
    {"state", MB_F_STRING, false, 0, 0, field_state, "friend|invite_sent|invite_received|blocked"},
    {NULL},
};

/* state=: friends_list_query */
void friends_route_list(mb_http_req *r)
{
    const char *state = mb_http_query(r, "state");
    if (state && !*state) state = NULL;
    const char *p[] = {mb_http_player(r), state};
    mb_db_query(
        "SELECT f.other_id::text, a.username, f.state, " SOCIAL_TS(
            "f.updated_at") " FROM friendships f JOIN accounts a ON a.id = f.other_id"
                            " WHERE f.player_id = $1::uuid AND ($2::text IS NULL OR f.state = $2)"
                            " ORDER BY f.state = 'friend' DESC, lower(a.username), f.other_id LIMIT 5000",
        2, p, list_done, r);
}
