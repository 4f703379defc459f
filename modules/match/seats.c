/*
 * seats.c - a match's seats and the safe point after each callback:
 * joining (match_do_join: capacity, join_attempt, join, auto-start),
 * matchmaker reservations, leaving (the leave callback, the history
 * entry), the per-tick check that expires reservations and ends the
 * reconnect grace of disconnected players, the removal of a deleted or
 * banned account, and match_post_call: what scripts queued during a
 * callback (kicks, start, finish), applied once it returned. The safe
 * point is here because a kick is a seat leaving and the seat changes
 * here call it in turn.
 *
 * Not here: the seat queries and the player index (match.c), the
 * match.join / match.leave socket messages that call into this file
 * (handlers.c), the Lua player table's methods (match_lua.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "match_internal.h"

static void maybe_autostart(match *m);

/* ------------------------------------------------------------- seats */

static void seat_release(match *m, seat *s)
{
    if (s->lua_ref != LUA_NOREF && s->lua_ref != LUA_REFNIL && m->vm)
        luaL_unref(mb_lua_vm_state(m->vm), LUA_REGISTRYINDEX, s->lua_ref);
    json_decref(s->metadata);
    if (s->joined && mb_smap_get(&match_by_player, s->player_id) == m)
        mb_smap_del(&match_by_player, s->player_id);
    size_t i = (size_t)(s - m->seats);
    memmove(&m->seats[i], &m->seats[i + 1], (m->n_seats - i - 1) * sizeof *m->seats);
    m->n_seats--;
}

static seat *seat_add(match *m, const char *player_id, const char *username)
{
    if (m->n_seats == m->cap_seats) {
        m->cap_seats = m->cap_seats ? m->cap_seats * 2 : 8;
        m->seats = mb_realloc(m->seats, m->cap_seats * sizeof *m->seats);
    }
    seat *s = &m->seats[m->n_seats++];
    memset(s, 0, sizeof *s);
    snprintf(s->player_id, sizeof s->player_id, "%s", player_id);
    snprintf(s->username, sizeof s->username, "%s", username ? username : "");
    s->lua_ref = LUA_NOREF;
    return s;
}

/* Runs in a protected call: builds {id, username, metadata, connected}. */
static int build_player(lua_State *L)
{
    seat *s = lua_touserdata(L, 1);
    lua_createtable(L, 0, 4);
    lua_pushstring(L, s->player_id);
    lua_setfield(L, -2, "id");
    lua_pushstring(L, s->username);
    lua_setfield(L, -2, "username");
    if (s->metadata) mb_lua_push_json(L, s->metadata);
    else lua_newtable(L);
    lua_setfield(L, -2, "metadata");
    lua_pushboolean(L, s->connected);
    lua_setfield(L, -2, "connected");
    return 1;
}

mb_status match_seat_make_player(match *m, seat *s)
{
    lua_State *L = mb_lua_vm_state(m->vm);
    lua_pushcfunction(L, build_player);
    lua_pushlightuserdata(L, s);
    char err[512];
    int rc = mb_lua_vm_pcall(m->vm, 1, 1, err, sizeof err);
    if (rc != MB_LUA_OK) {
        match_fail(m, err);
        return MB_ERR;
    }
    s->lua_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return MB_OK;
}

void match_seat_set_connected(match *m, seat *s, bool c)
{
    s->connected = c;
    if (s->lua_ref == LUA_NOREF || !m->vm) return;
    lua_State *L = mb_lua_vm_state(m->vm);
    lua_rawgeti(L, LUA_REGISTRYINDEX, s->lua_ref);
    lua_pushstring(L, "connected");
    lua_pushboolean(L, c);
    lua_rawset(L, -3);
    lua_pop(L, 1);
}

/* Run leave(match, state, player, reason) and drop the seat. */
void match_seat_leave(match *m, seat *s, const char *reason)
{
    char pid[64];
    snprintf(pid, sizeof pid, "%s", s->player_id);
    if (s->joined && match_begin_call(m, MATCH_CTX_LEAVE)) {
        match_push_player(m, s);
        lua_pushstring(mb_lua_vm_state(m->vm), reason);
        match_end_call(m, 2, 0);
    }
    s = match_seat(m, pid); /* the call may have moved seats? no: seats change only here */
    if (!s) return;
    bool was_joined = s->joined;
    match_history_left(m, pid, reason);
    seat_release(m, s);
    if (was_joined) mb_debug("match_leave", "match=%s player=%s reason=%s", m->id, pid, reason);
}

void match_check_seats(match *m, int64_t now)
{
    for (size_t i = 0; i < m->n_seats && !m->dead;) {
        seat *s = &m->seats[i];
        if (!s->joined && now >= s->reserved_until) {
            mb_debug("match_reservation_expired", "match=%s player=%s", m->id, s->player_id);
            seat_release(m, s);
            maybe_autostart(m);
            match_post_call(m);
            continue;
        }
        if (s->joined && !s->connected && now - s->disconnected_at >= m->v->reconnect_grace_ms) {
            match_seat_leave(m, s, "disconnected");
            match_post_call(m);
            continue; /* seats shifted */
        }
        i++;
    }
}

/* ------------------------------------------------------- safe point */

static void do_start(match *m)
{
    if (m->status != MATCH_WAITING || m->dead) return;
    m->status = MATCH_RUNNING;
    m->started_at = mb_wall_ms();
    if (match_begin_call(m, MATCH_CTX_START)) match_end_call(m, 0, 0);
    if (m->failed) return;
    match_broadcast_json(m, "match.started",
                         json_pack("{s:s,s:o}", "match_id", m->id, "players", match_players_json(m)));
    mb_info("match_started", "match=%s mode=%s players=%zu", m->id, m->v->mode, match_player_count(m));
}

/* Apply what scripts asked for during a callback (safe point). */
void match_post_call(match *m)
{
    for (int round = 0; round < 16 && !m->dead; round++) {
        if (m->failed) {
            match_finalize(m, false);
            return;
        }
        if (m->n_kicks) {
            kick_item k = m->kicks[0];
            memmove(m->kicks, m->kicks + 1, (m->n_kicks - 1) * sizeof *m->kicks);
            m->n_kicks--;
            seat *s = match_seat(m, k.player_id);
            if (s && s->joined) {
                bool connected = s->connected;
                match_seat_leave(m, s, "kicked");
                if (connected) {
                    json_t *p = json_pack("{s:s,s:s,s:s}", "match_id", m->id, "reason", "kicked", "message",
                                          k.reason);
                    mb_player_send(k.player_id, "match.left", p);
                    json_decref(p);
                }
            }
            continue;
        }
        if (m->start_requested) {
            m->start_requested = false;
            do_start(m);
            continue;
        }
        if (m->finishing) {
            match_finalize(m, true);
            return;
        }
        return;
    }
    if (m->n_kicks) m->n_kicks = 0; /* a script kicking in a loop: drop the rest */
}

/* -------------------------------------------------------------- join */

/* Start once players.min have joined and no matchmaker reservation is
 * still waiting to be claimed (or manual_start leaves it to the script). */
static void maybe_autostart(match *m)
{
    if (m->status != MATCH_WAITING || m->v->manual_start || m->dead) return;
    if (match_player_count(m) < (size_t)m->v->players_min) return;
    for (size_t i = 0; i < m->n_seats; i++)
        if (!m->seats[i].joined) return;
    m->start_requested = true;
}

join_rc match_do_join(match *m, const char *player_id, const char *username, json_t *metadata, char *reason,
                      size_t rlen)
{
    if (m->dead || m->status == MATCH_FINISHED) {
        snprintf(reason, rlen, "match has finished");
        return J_NOT_FOUND;
    }
    seat *s = match_seat(m, player_id);
    if (s && s->joined) { /* rejoin within grace, or a second join */
        if (!s->connected) {
            match_seat_set_connected(m, s, true);
            mb_info("match_rejoin", "match=%s player=%s", m->id, player_id);
        }
        return J_OK;
    }
    size_t taken = 0;
    int64_t now = match_now(m);
    for (size_t i = 0; i < m->n_seats; i++)
        if (m->seats[i].joined || (m->seats[i].reserved_until > now && &m->seats[i] != s)) taken++;
    if (taken >= (size_t)m->v->players_max) {
        snprintf(reason, rlen, "match is full (%d players)", m->v->players_max);
        return J_CONFLICT;
    }
    if (!s) s = seat_add(m, player_id, username);
    else snprintf(s->username, sizeof s->username, "%s", username ? username : "");
    json_decref(s->metadata);
    s->metadata = metadata ? json_incref(metadata) : json_object();
    if (match_seat_make_player(m, s) != MB_OK) return J_INTERNAL;
    /* join_attempt(match, state, player, metadata) -> ok[, reason] */
    if (match_begin_call(m, MATCH_CTX_JOIN_ATTEMPT)) {
        lua_State *L = mb_lua_vm_state(m->vm);
        match_push_player(m, s);
        lua_pushstring(L, "metadata");
        lua_rawget(L, -2);
        if (!match_end_call(m, 2, 2)) return J_INTERNAL;
        bool refused = lua_type(L, -2) == LUA_TBOOLEAN ? !lua_toboolean(L, -2)
                                                       : (lua_isnil(L, -2) && lua_type(L, -1) == LUA_TSTRING);
        if (refused) {
            const char *r = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "join refused";
            snprintf(reason, rlen, "%s", r);
            lua_pop(L, 2);
            s = match_seat(m, player_id);
            if (s) seat_release(m, s);
            return J_FORBIDDEN;
        }
        lua_pop(L, 2);
        s = match_seat(m, player_id);
        if (!s) return J_INTERNAL;
    }
    s->joined = true;
    s->reserved_until = 0;
    mb_bucket_init(&s->input_bucket, match_opt_input_rate ? match_opt_input_rate : 1000, now);
    match_seat_set_connected(m, s, true);
    mb_smap_put(&match_by_player, player_id, m);
    json_array_append_new(m->history,
                          json_pack("{s:s,s:s,s:I,s:n,s:n}", "player_id", player_id, "username", s->username,
                                    "joined_at", (json_int_t)mb_wall_ms(), "left_at", "reason"));
    if (match_begin_call(m, MATCH_CTX_JOIN)) {
        match_push_player(m, s);
        match_end_call(m, 1, 0);
    }
    match_post_call(m);
    if (m->dead) {
        snprintf(reason, rlen, "match ended");
        return m->failed ? J_INTERNAL : J_NOT_FOUND;
    }
    maybe_autostart(m);
    match_cluster_added(m); /* the directory entry lists the players (docs/CLUSTER.md) */
    mb_info("match_join", "match=%s player=%s players=%zu", m->id, player_id, match_player_count(m));
    return J_OK;
}

mb_status match_sim_join(match *m, const char *player_id, const char *username, char *err, size_t errlen)
{
    join_rc rc = match_do_join(m, player_id, username, NULL, err, errlen);
    if (rc == J_OK) match_post_call(m);
    return rc == J_OK ? MB_OK : MB_ERR;
}

void match_reserve(match *m, const char *player_id, int timeout_ms)
{
    seat *s = match_seat(m, player_id);
    if (s) return;
    s = seat_add(m, player_id, "");
    s->reserved_until = match_now(m) + timeout_ms;
}

/* --------------------------------------------------- account removed */

/* The account of player_id was deleted or banned: it leaves its match now
 * (leave() runs with reason, as after the reconnect grace) and its seat
 * reservations elsewhere are released. Returns the seats dropped. */
int match_player_removed(const char *player_id, const char *reason)
{
    char **ids = NULL;
    size_t n_ids = 0, it = 0;
    match *m;
    while (match_next(&it, &m))
        if (!m->dead && match_seat(m, player_id)) {
            ids = mb_realloc(ids, (n_ids + 1) * sizeof *ids);
            ids[n_ids++] = mb_strdup(m->id);
        }
    int n = 0;
    for (size_t i = 0; i < n_ids; i++) {
        m = match_find(ids[i]);
        seat *s = m && !m->dead ? match_seat(m, player_id) : NULL;
        if (s) {
            if (s->joined) match_seat_leave(m, s, reason);
            else seat_release(m, s);
            match_post_call(m);
            n++;
        }
        free(ids[i]);
    }
    free(ids);
    if (n) mb_info("match_player_removed", "player=%s seats=%d reason=%s", player_id, n, reason);
    return n;
}
