/*
 * calls.c - the calls into a match's mode script and how a match ends:
 * match_begin_call / match_end_call (a callback with match and state; a
 * script error fails the match), match_fail, match_finalize (terminate,
 * match.finished or the finish gate, the ended listeners, the cluster
 * directory, persistence of the finished match) and match_end (ended from
 * outside). These call each other (a failing callback fails the match,
 * failing finalizes it, finalizing calls terminate), so they share a file.
 *
 * Not here: the Lua `match` object, call contexts and protected calls
 * (match_lua.c), what scripts queue for the safe point after a callback
 * (match_post_call, seats.c), the console's error list (script_errors.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "match_internal.h"

double *match_m_finished, *match_m_failed;
static match_finish_gate finish_gate;

void match_set_finish_gate(match_finish_gate fn) { finish_gate = fn; }

/* ------------------------------------------------------------- calls */

/* Push M[name of ctx], match, state. false (nothing pushed) when not
 * defined. */
bool match_begin_call(match *m, match_ctx ctx)
{
    if (m->dead || m->failed || !m->vm) return false;
    lua_State *L = mb_lua_vm_state(m->vm);
    lua_rawgeti(L, LUA_REGISTRYINDEX, m->mode_ref);
    lua_pushstring(L, match_ctx_name(ctx));
    lua_rawget(L, -2);
    lua_remove(L, -2);
    if (lua_type(L, -1) != LUA_TFUNCTION) {
        lua_pop(L, 1);
        return false;
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, m->match_ref);
    lua_pushstring(L, "tick");
    lua_pushnumber(L, (lua_Number)m->tick);
    lua_rawset(L, -3);
    lua_rawgeti(L, LUA_REGISTRYINDEX, m->state_ref);
    m->call_ctx = ctx;
    return true;
}

/* Call with nargs extra arguments (match and state are added here). On a
 * script error the match fails; returns false then (nothing pushed). */
bool match_end_call(match *m, int nargs, int nresults)
{
    char err[4096];
    m->depth++;
    mb_lua_status rc = match_pcall(m, m->call_ctx, nargs + 2, nresults, err, sizeof err);
    m->depth--;
    if (rc != MB_LUA_OK) {
        char msg[4200];
        snprintf(msg, sizeof msg, "%s%s",
                 rc == MB_LUA_ERR_TIMEOUT  ? "time budget exceeded: "
                 : rc == MB_LUA_ERR_MEMORY ? "memory budget exceeded: "
                                           : "",
                 err);
        match_fail(m, msg);
        return false;
    }
    return true;
}

/* ----------------------------------------------------------- failure */

void match_fail(match *m, const char *msg)
{
    if (m->failed || m->dead) return;
    if (m->admin_view) { /* looking at a match does not end it */
        char q[2048];
        mb_warn("match_admin_state_failed", "match=%s mode=%s error=%s", m->id, m->v->mode,
                mb_log_quote(q, sizeof q, msg));
        return;
    }
    m->failed = true;
    char q[2048];
    mb_error("match_script_error", "match=%s mode=%s version=%d tick=%llu error=%s", m->id, m->v->mode,
             m->v->version, (unsigned long long)m->tick, mb_log_quote(q, sizeof q, msg));
    *match_m_failed += 1;
    match_script_error_record(m->v->mode, m->v->version, m->id, m->tick, msg); /* the console's list */
    if (m->finalizing) return; /* terminate failed: the match is ending anyway */
    /* First line only: tracebacks stay in the server log. */
    size_t l = strcspn(msg, "\n");
    char *line = mb_strndup(msg, l);
    json_decref(m->finish_result);
    m->finish_result = json_pack("{s:s}", "error", line);
    free(line);
    m->finishing = true;
    snprintf(m->finish_reason, sizeof m->finish_reason, "error");
    if (m->depth == 0) match_finalize(m, false);
}

/* ------------------------------------------------------------ finish */

static const char persist_sql[] =
    "INSERT INTO matches (id, mode, script_version, params, players, status, reason,"
    " result, ticks, created_at, started_at, finished_at) VALUES ($1::uuid, $2, $3::int,"
    " $4::jsonb, $5::jsonb, 'finished', $6, $7::jsonb, $8::bigint,"
    " to_timestamp($9::double precision / 1000),"
    " to_timestamp($10::double precision / 1000),"
    " to_timestamp($11::double precision / 1000))"
    " ON CONFLICT (id) DO UPDATE SET result = EXCLUDED.result, players = EXCLUDED.players,"
    " finished_at = EXCLUDED.finished_at, reason = EXCLUDED.reason";

/* Store a finished match; retried by the runtime while PostgreSQL is away
 * (GET /v1/matches/{id} reads it back: match_get_stored, rest_query.c). */
static void persist(match *m)
{
    char *p[11];
    p[0] = mb_strdup(m->id);
    p[1] = mb_strdup(m->v->mode);
    p[2] = mb_sprintf("%d", m->v->version);
    p[3] = json_dumps(m->params, JSON_COMPACT);
    p[4] = json_dumps(m->history, JSON_COMPACT);
    p[5] = mb_strdup(m->finish_reason);
    p[6] = json_dumps(m->finish_result, JSON_COMPACT | JSON_ENCODE_ANY);
    p[7] = mb_sprintf("%llu", (unsigned long long)m->tick);
    p[8] = mb_sprintf("%lld", (long long)m->created_at);
    p[9] = m->started_at ? mb_sprintf("%lld", (long long)m->started_at) : NULL;
    p[10] = mb_sprintf("%lld", (long long)m->finished_at);
    mb_db_durable("match", persist_sql, 11, (const char *const *)p);
    for (int i = 0; i < 11; i++) free(p[i]);
}

static void free_deferred(void *ud) { match_free(ud); }

void match_finalize(match *m, bool call_terminate)
{
    if (m->dead || m->finalizing) return;
    m->finalizing = true; /* a failing terminate must not finalize again */
    if (call_terminate && match_begin_call(m, MATCH_CTX_TERMINATE)) {
        lua_pushstring(mb_lua_vm_state(m->vm), m->finish_reason);
        match_end_call(m, 1, 0);
    }
    m->dead = true;
    m->status = MATCH_FINISHED;
    m->finished_at = mb_wall_ms();
    if (!m->finish_result) m->finish_result = json_object();
    /* unconditionally: a tick that already fired may be pending in this
     * loop iteration, and the match is freed before the loop sleeps */
    if (mb_loop() && !m->sim) ev_timer_stop(mb_loop(), &m->tick_w);
    json_t *fin = json_pack("{s:s,s:O}", "match_id", m->id, "result", m->finish_result);
    json_t *ids = finish_gate && !m->sim ? match_player_ids(m) : NULL;
    if (ids && finish_gate(m->id, ids, fin)) json_decref(fin); /* the gate sends it later */
    else match_broadcast_json(m, "match.finished", fin);
    json_decref(ids);
    for (size_t i = 0; i < m->n_seats; i++) {
        seat *s = &m->seats[i];
        if (s->joined) match_history_left(m, s->player_id, m->finish_reason);
        if (s->joined && mb_smap_get(&match_by_player, s->player_id) == m)
            mb_smap_del(&match_by_player, s->player_id);
    }
    match_ext_notify_ended(m);
    match_registry_del(m);
    match_cluster_removed(m);
    *match_m_finished += 1;
    mb_info("match_finished", "match=%s mode=%s reason=%s ticks=%llu", m->id, m->v->mode, m->finish_reason,
            (unsigned long long)m->tick);
    if (!m->sim) persist(m);
    /* Never free inside a callback that may still be running: defer. */
    if (mb_loop() && !m->sim) mb_defer(free_deferred, m);
}

void match_end(match *m, json_t *result)
{
    if (m->dead) return;
    json_decref(m->finish_result);
    m->finish_result = result ? json_deep_copy(result) : json_object();
    m->finishing = true;
    snprintf(m->finish_reason, sizeof m->finish_reason, "ended");
    match_finalize(m, true);
}
