/*
 * match.c - the registry of live matches and a match's life from creation
 * to its end: match_create (the VM, the seed, init), the accessors and the
 * summary other modules read, broadcasts to every seat, match_fail (a
 * script error ends the match), match_post_call (kicks, start and finish
 * that scripts queued, applied at a safe point), match_finalize
 * (terminate, match.finished, the finished match stored), the match's
 * entry in the cluster directory (docs/CLUSTER.md), the option values the
 * runtime reads, and the runtime's init, shutdown and metrics.
 *
 * Not here: seats and joining (seats.c), the tick loop, inputs and timers
 * (tick.c), rendering and sending state (state.c), hot-reload migration
 * (migrate.c), the match.* socket messages (handlers.c), the Lua `match`
 * object (match_lua.c), REST (match_module.c, rest_query.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "match_internal.h"

static mb_smap matches; /* id -> match */
static double *m_matches_live, *m_matches_created, *m_matches_finished, *m_matches_failed;
int match_opt_input_rate, match_opt_tick_slot_ms; /* set by the module options (match_module.c) */

static const double lateness_bounds[] = {0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5};

int64_t match_now(const match *m) { return m->sim ? m->sim_now : mb_now_ms(); }
bool match_failed(const match *m) { return m->failed; }
const char *match_id(const match *m) { return m->id; }
const char *match_mode(const match *m) { return m->v->mode; }
match_status match_get_status(const match *m) { return m->status; }
const mode_version *match_version(const match *m) { return m->v; }
match *match_find(const char *id) { return mb_smap_get(&matches, id); }
size_t match_count(void) { return matches.count; }
bool match_is_over(const match *m) { return m->status == MATCH_FINISHED; }
json_t *match_result(const match *m) { return m->finish_result; }
int match_veto_tokens(const match *m) { return m->v->veto_tokens_per_player; }

bool match_next(size_t *iter, match **out)
{
    void *v;
    if (!mb_smap_next(&matches, iter, NULL, &v)) return false;
    *out = v;
    return true;
}

static const char *status_name(match_status s)
{
    return s == MATCH_WAITING ? "waiting" : s == MATCH_RUNNING ? "running" : "finished";
}

uint64_t match_seed(const match *m) { return m->seed; }
const json_t *match_label(const match *m) { return m->label; }
static json_t *summary_base(const match *m);

static json_t *summary_base(const match *m)
{
    return json_pack("{s:s,s:s,s:s,s:i,s:i,s:i,s:i,s:i,s:I,s:I,s:o,s:o}", "match_id", m->id, "mode",
                     m->v->mode, "status", status_name(m->status), "player_count", (int)match_player_count(m),
                     "max_players", m->v->players_max, "min_players", m->v->players_min, "tick_rate",
                     m->v->tick_rate, "script_version", m->v->version, "tick", (json_int_t)m->tick,
                     "created_at", (json_int_t)m->created_at, "players", match_players_json(m), "started_at",
                     m->started_at ? json_integer(m->started_at) : json_null());
}

json_t *match_summary(const match *m)
{
    json_t *j = summary_base(m);
    json_object_set_new(j, "label", m->label ? json_deep_copy(m->label) : json_object());
    json_object_set_new(j, "open", json_boolean(match_is_open(m)));
    return j;
}

void match_broadcast_frame(match *m, mb_frame *f)
{
    for (size_t i = 0; i < m->n_seats; i++)
        if (m->seats[i].joined && m->seats[i].connected)
            mb_player_send_frame_cached(m->seats[i].player_id, &m->seats[i].sockets, f);
}

static void broadcast_json(match *m, const char *type, json_t *payload /* steals */)
{
    mb_frame *f = mb_frame_envelope(type, NULL, payload);
    json_decref(payload);
    match_broadcast_frame(m, f);
    mb_frame_unref(f);
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
    *m_matches_failed += 1;
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

/* ------------------------------------------------------------ create */

/* When a new match first ticks (one to two periods from now). Phases are
 * spread over the period, so matches created together (one matchmaker pass)
 * do not all tick at once, but snapped to --tick-slot-ms slots on a grid
 * shared by every match of the same tick rate: the matches of one slot tick
 * in one loop iteration and their sends go out back to back. A burst of
 * sends is cheaper for the kernel than the same sends spread out (the
 * receiving side is woken once per burst; tests/bench/bench_send: 8.5-10 us
 * per send when spread like 100 separate matches, 6.5-7 us in 20 slots).
 * The cost is lateness within a slot: the last match of a slot waits for
 * the others' tick work. */
int64_t match_first_due_us(int64_t now, int64_t period_us, int64_t slot_us, uint32_t rnd)
{
    if (slot_us <= 0 || slot_us >= period_us) return now + period_us + (int64_t)(rnd % (uint32_t)period_us);
    int64_t slots = period_us / slot_us;
    int64_t grid = (now + period_us) / period_us * period_us; /* a period boundary 0..1 period ahead */
    int64_t due = grid + (int64_t)(rnd % (uint64_t)slots) * slot_us;
    if (due < now + period_us) due += period_us; /* never sooner than one period */
    return due;
}

static int64_t first_due_us(int64_t period_us)
{
    return match_first_due_us(mb_now_us(), period_us, (int64_t)match_opt_tick_slot_ms * 1000,
                              randombytes_random());
}

static void match_free(void *ud)
{
    match *m = ud;
    if (!m) return;
    free(m->inputs); /* their refs go with the VM */
    free(m->spare_inputs);
    for (size_t i = 0; i < m->n_seats; i++) json_decref(m->seats[i].metadata);
    free(m->seats);
    free(m->afters);
    free(m->kicks);
    json_decref(m->label);
    mb_lua_vm_free(m->vm);
    mode_version_unref(m->v);
    json_decref(m->params);
    json_decref(m->history);
    json_decref(m->finish_result);
    mb_buf_free(&m->out);
    free(m);
}

match *match_create(const char *mode, json_t *params, mb_errcode *code, char *err, size_t errlen)
{
    return match_create_seeded(mode, params, NULL, code, err, errlen);
}

match *match_create_seeded(const char *mode, json_t *params, const uint64_t *seed, mb_errcode *code,
                           char *err, size_t errlen)
{
    mode_version *v = modes_get(mode);
    if (!v) {
        *code = MB_E_NOT_FOUND;
        if (modes_is_retired(mode))
            snprintf(
                err, errlen,
                "mode '%s' is retired: its file modes/%s.lua was deleted or renamed (running matches finish;"
                " put the file back to bring the mode back)",
                mode, mode);
        else snprintf(err, errlen, "unknown mode '%s'", mode);
        return NULL;
    }
    match *m = mb_calloc(1, sizeof *m);
    mb_uuid(m->id);
    m->v = v;
    mode_version_ref(v);
    m->params = params ? json_deep_copy(params) : json_object();
    m->history = json_array();
    m->created_at = mb_wall_ms();
    m->created_mono = mb_now_ms();
    m->mode_ref = m->state_ref = m->match_ref = LUA_NOREF;
    char verr[2048];
    m->vm = modes_new_vm(v, verr, sizeof verr);
    if (!m->vm) {
        *code = MB_E_INTERNAL;
        snprintf(err, errlen, "mode '%s' failed to load: %s", mode, verr);
        match_free(m);
        return NULL;
    }
    lua_State *L = mb_lua_vm_state(m->vm);
    m->mode_ref = luaL_ref(L, LUA_REGISTRYINDEX); /* the mode table left by modes_new_vm */
    mb_lua_vm_set_host(m->vm, m);
    char name[96];
    snprintf(name, sizeof name, "%s@%d match=%s", v->mode, v->version, m->id);
    mb_lua_vm_set_name(m->vm, name);
    if (seed) m->seed = *seed;
    else randombytes_buf(&m->seed, sizeof m->seed);
    m->seed &= MATCH_SEED_MAX;
    match_lua_setup(m);
    if (m->match_ref == LUA_NOREF || match_lua_seed(m, m->seed) != MB_OK) {
        *code = MB_E_INTERNAL;
        snprintf(err, errlen, "%s creating the match",
                 m->match_ref == LUA_NOREF ? "out of memory" : "math.randomseed failed");
        match_free(m);
        return NULL;
    }
    /* init(match, params) -> state: no state argument yet */
    lua_rawgeti(L, LUA_REGISTRYINDEX, m->mode_ref);
    lua_pushstring(L, "init");
    lua_rawget(L, -2);
    lua_remove(L, -2);
    lua_rawgeti(L, LUA_REGISTRYINDEX, m->match_ref);
    lua_pushstring(L, "params");
    lua_rawget(L, -2);
    char cerr[4096];
    mb_lua_status rc = match_pcall(m, MATCH_CTX_INIT, 2, 1, cerr, sizeof cerr);
    if (rc != MB_LUA_OK || lua_type(L, -1) != LUA_TTABLE) {
        if (rc == MB_LUA_OK) {
            lua_pop(L, 1);
            snprintf(cerr, sizeof cerr, "%s: init must return a table (the state)", v->path);
        }
        char q[2048];
        mb_error("match_init_failed", "mode=%s version=%d error=%s", mode, v->version,
                 mb_log_quote(q, sizeof q, cerr));
        match_script_error_record(mode, v->version, m->id, 0, cerr);
        *code = MB_E_INTERNAL;
        snprintf(err, errlen, "mode '%s' init failed: %.*s", mode, (int)strcspn(cerr, "\n"), cerr);
        match_free(m);
        return NULL;
    }
    m->state_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    mb_lua_vm_set_time_ms(m->vm, modes_callback_ms(v)); /* init is done */
    m->status = MATCH_WAITING;
    m->period_us = 1000000 / v->tick_rate;
    mb_smap_put(&matches, m->id, m);
    *m_matches_live = (double)matches.count;
    *m_matches_created += 1;
    if (mb_loop() && !match_observer) {
        ev_init(&m->tick_w, match_tick_cb);
        m->tick_w.data = m;
        m->next_due_us = first_due_us(m->period_us);
        ev_timer_set(&m->tick_w, (double)(m->next_due_us - mb_now_us()) / 1e6, 0.);
        ev_timer_start(mb_loop(), &m->tick_w);
    } else {
        m->sim = true;
    }
    m->last_step_ms = match_now(m);
    match_cluster_added(m);
    mb_info("match_created", "match=%s mode=%s version=%d seed=%llu", m->id, mode, v->version,
            (unsigned long long)m->seed);
    return m;
}

/* ------------------------------------------------------------ finish */

static match_finish_gate finish_gate;

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
    else broadcast_json(m, "match.finished", fin);
    json_decref(ids);
    for (size_t i = 0; i < m->n_seats; i++) {
        seat *s = &m->seats[i];
        if (s->joined) match_history_left(m, s->player_id, m->finish_reason);
        if (s->joined && mb_smap_get(&match_by_player, s->player_id) == m)
            mb_smap_del(&match_by_player, s->player_id);
    }
    match_ext_notify_ended(m);
    mb_smap_del(&matches, m->id);
    match_cluster_removed(m);
    *m_matches_live = (double)matches.count;
    *m_matches_finished += 1;
    mb_info("match_finished", "match=%s mode=%s reason=%s ticks=%llu", m->id, m->v->mode, m->finish_reason,
            (unsigned long long)m->tick);
    if (!m->sim) persist(m);
    /* Never free inside a callback that may still be running: defer. */
    if (mb_loop() && !m->sim) mb_defer(match_free, m);
}

void match_set_finish_gate(match_finish_gate fn) { finish_gate = fn; }

mb_lua_vm *match_vm(const match *m) { return m->dead ? NULL : m->vm; }

void match_end(match *m, json_t *result)
{
    if (m->dead) return;
    json_decref(m->finish_result);
    m->finish_result = result ? json_deep_copy(result) : json_object();
    m->finishing = true;
    snprintf(m->finish_reason, sizeof m->finish_reason, "ended");
    match_finalize(m, true);
}

static void do_start(match *m)
{
    if (m->status != MATCH_WAITING || m->dead) return;
    m->status = MATCH_RUNNING;
    m->started_at = mb_wall_ms();
    if (match_begin_call(m, MATCH_CTX_START)) match_end_call(m, 0, 0);
    if (m->failed) return;
    broadcast_json(m, "match.started",
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

/* ----------------------------------------------------------- runtime */

/* Live matches of mode (modes.c asks when a mode's file is retired). */
static int running_matches(const char *mode)
{
    int running = 0;
    size_t it = 0;
    match *m;
    while (match_next(&it, &m))
        if (!match_is_over(m) && strcmp(match_mode(m), mode) == 0) running++;
    return running;
}

void match_runtime_init(void)
{
    modes_set_running_count(running_matches);
    mb_smap_init(&matches);
    mb_smap_init(&match_by_player);
    mb_metric_table_smap("matches", &matches);
    mb_metric_table_smap("match_players", &match_by_player);
    match_lateness_h =
        mb_histogram_new("moonbase_tick_lateness_seconds", "how late match ticks ran versus their schedule",
                         lateness_bounds, MB_ARRAY_LEN(lateness_bounds));
    m_matches_live = mb_metric("moonbase_matches", "", MB_GAUGE, "live matches");
    m_matches_created = mb_metric("moonbase_matches_created_total", "", MB_COUNTER, "matches created");
    m_matches_finished = mb_metric("moonbase_matches_finished_total", "", MB_COUNTER, "matches finished");
    m_matches_failed =
        mb_metric("moonbase_matches_failed_total", "", MB_COUNTER, "matches ended by a script error");
    match_m_states_sent =
        mb_metric("moonbase_match_states_sent_total", "", MB_COUNTER, "match.state messages queued");
    match_m_ticks = mb_metric("moonbase_match_ticks_total", "", MB_COUNTER, "match ticks run");
    /* the same series as mb_metric_msg_out() would create, without its cache
     * (simulate runs without the core) */
    match_m_states_out =
        mb_metric("moonbase_messages_out_total", "type=\"match.state\"", MB_COUNTER, "messages sent by type");
    match_m_messages_out = mb_metric("moonbase_messages_out_total", "type=\"match.message\"", MB_COUNTER,
                                     "messages sent by type");
    randombytes_buf(match_digest_key, sizeof match_digest_key);
}

void match_runtime_shutdown(void)
{
    /* Terminate every live match with reason "shutdown" (results persisted). */
    size_t it = 0;
    void *v;
    match **list = mb_malloc((matches.count + 1) * sizeof *list);
    size_t n = 0;
    while (mb_smap_next(&matches, &it, NULL, &v)) list[n++] = v;
    for (size_t i = 0; i < n; i++) {
        match *m = list[i];
        if (m->dead) continue;
        json_decref(m->finish_result);
        m->finish_result = json_pack("{s:s}", "reason", "shutdown");
        snprintf(m->finish_reason, sizeof m->finish_reason, "shutdown");
        match_finalize(m, true);
    }
    free(list);
}

void match_runtime_destroy(void)
{
    size_t it = 0;
    void *v;
    while (mb_smap_next(&matches, &it, NULL, &v)) {
        match *m = v;
        if (mb_loop() && !m->sim) ev_timer_stop(mb_loop(), &m->tick_w);
        match_free(m);
    }
    mb_smap_free(&matches);
    mb_smap_free(&match_by_player);
    match_script_errors_destroy();
}

/* For simulate: free a finished simulated match. */
void match_sim_free(match *m)
{
    if (!m) return;
    if (!m->dead) mb_smap_del(&matches, m->id);
    match_free(m);
}

/* ------------------------------------------------- cluster directory */

void match_cluster_decorate(json_t *o, const char *node_id, const char *url)
{
    if (!cluster_enabled() || !json_is_object(o)) return;
    json_object_set_new(o, "node_id", json_string(node_id ? node_id : cluster_node_id()));
    json_object_set_new(o, "url", json_string(url ? url : cluster_public_url()));
}

void match_cluster_added(match *m)
{
    if (!cluster_enabled() || m->sim) return;
    /* again at each join: players = who to tell if the node is lost */
    cluster_match_added(m->id,
                        json_pack("{s:s,s:i,s:I,s:O,s:o}", "mode", m->v->mode, "script_version",
                                  m->v->version, "created_at", (json_int_t)m->created_at, "params",
                                  m->params ? m->params : json_null(), "players", match_player_ids(m)));
}

void match_cluster_removed(match *m)
{
    if (!cluster_enabled() || m->sim) return;
    cluster_match_removed(m->id);
}
