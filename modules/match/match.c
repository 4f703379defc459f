/*
 * match.c - match lifecycle: create (init), seats (join, leave, reconnect
 * grace, reservations), the tick loop (inputs -> after timers -> tick ->
 * get_state broadcast, encoded once), finishing, and failure containment.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "match_internal.h"
#include <sodium.h>

static mb_smap matches;      /* id -> match */
static mb_smap player_match; /* player id -> match (joined seats) */
static match_state_observer observer;
static void *observer_ud;
static mb_histogram *lateness_h;
static double *m_matches_live, *m_matches_created, *m_matches_finished, *m_matches_failed;
static double *m_states_sent, *m_ticks, *m_states_out;
double *match_m_messages_out;

/* Key of the per-viewer state digests (send_state = "on_change"). */
static unsigned char digest_key[crypto_shorthash_KEYBYTES];

static const double lateness_bounds[] = {0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5};

void match_set_observer(match_state_observer fn, void *ud)
{
    observer = fn;
    observer_ud = ud;
}

int64_t match_now(const match *m) { return m->sim ? m->sim_now : mb_now_ms(); }
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

size_t match_player_count(const match *m)
{
    size_t n = 0;
    for (size_t i = 0; i < m->n_seats; i++) n += m->seats[i].joined;
    return n;
}

seat *match_seat(match *m, const char *player_id)
{
    for (size_t i = 0; i < m->n_seats; i++)
        if (strcmp(m->seats[i].player_id, player_id) == 0) return &m->seats[i];
    return NULL;
}

bool match_has_player(const match *m, const char *player_id)
{
    seat *s = match_seat((match *)m, player_id);
    return s && s->joined;
}

json_t *match_player_ids(const match *m)
{
    json_t *a = json_array();
    for (size_t i = 0; i < m->n_seats; i++)
        if (m->seats[i].joined) json_array_append_new(a, json_string(m->seats[i].player_id));
    return a;
}

static json_t *players_json(const match *m)
{
    json_t *a = json_array();
    for (size_t i = 0; i < m->n_seats; i++) {
        const seat *s = &m->seats[i];
        if (!s->joined) continue;
        json_array_append_new(a, json_pack("{s:s,s:s,s:b}", "player_id", s->player_id, "username",
                                           s->username, "connected", s->connected));
    }
    return a;
}

static const char *status_name(match_status s)
{
    return s == MATCH_WAITING ? "waiting" : s == MATCH_RUNNING ? "running" : "finished";
}

uint64_t match_seed(const match *m) { return m->seed; }
const json_t *match_label(const match *m) { return m->label; }

bool match_is_open(const match *m)
{
    if (m->dead || m->finishing || m->failed || m->status == MATCH_FINISHED) return false;
    size_t taken = 0;
    int64_t now = match_now(m);
    for (size_t i = 0; i < m->n_seats; i++)
        if (m->seats[i].joined || m->seats[i].reserved_until > now) taken++;
    return taken < (size_t)m->v->players_max;
}

static json_t *summary_base(const match *m);

json_t *match_summary(const match *m)
{
    json_t *j = summary_base(m);
    json_object_set_new(j, "label", m->label ? json_deep_copy(m->label) : json_object());
    json_object_set_new(j, "open", json_boolean(match_is_open(m)));
    return j;
}

static json_t *summary_base(const match *m)
{
    return json_pack("{s:s,s:s,s:s,s:i,s:i,s:i,s:i,s:i,s:I,s:I,s:o,s:o}", "match_id", m->id, "mode",
                     m->v->mode, "status", status_name(m->status), "player_count", (int)match_player_count(m),
                     "max_players", m->v->players_max, "min_players", m->v->players_min, "tick_rate",
                     m->v->tick_rate, "script_version", m->v->version, "tick", (json_int_t)m->tick,
                     "created_at", (json_int_t)m->created_at, "players", players_json(m), "started_at",
                     m->started_at ? json_integer(m->started_at) : json_null());
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

/* ------------------------------------------------------------ failure */

static void finalize(match *m, bool call_terminate);

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
    if (m->depth == 0) finalize(m, false);
}

/* --------------------------------------------------------------- seats */

static void seat_release(match *m, seat *s)
{
    if (s->lua_ref != LUA_NOREF && s->lua_ref != LUA_REFNIL && m->vm)
        luaL_unref(mb_lua_vm_state(m->vm), LUA_REGISTRYINDEX, s->lua_ref);
    json_decref(s->metadata);
    if (s->joined && mb_smap_get(&player_match, s->player_id) == m) mb_smap_del(&player_match, s->player_id);
    size_t i = (size_t)(s - m->seats);
    memmove(&m->seats[i], &m->seats[i + 1], (m->n_seats - i - 1) * sizeof *m->seats);
    m->n_seats--;
}

static void history_left(match *m, const char *player_id, const char *reason)
{
    size_t i;
    json_t *h;
    json_array_foreach (m->history, i, h) {
        if (strcmp(json_string_value(json_object_get(h, "player_id")), player_id) == 0 &&
            json_is_null(json_object_get(h, "left_at"))) {
            json_object_set_new(h, "left_at", json_integer(mb_wall_ms()));
            json_object_set_new(h, "reason", json_string(reason));
        }
    }
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

static bool seat_make_player(match *m, seat *s)
{
    lua_State *L = mb_lua_vm_state(m->vm);
    lua_pushcfunction(L, build_player);
    lua_pushlightuserdata(L, s);
    char err[512];
    int rc = mb_lua_vm_pcall(m->vm, 1, 1, err, sizeof err);
    if (rc != MB_LUA_OK) {
        match_fail(m, err);
        return false;
    }
    s->lua_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return true;
}

static void seat_set_connected(match *m, seat *s, bool c)
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
static void seat_leave(match *m, seat *s, const char *reason)
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
    history_left(m, pid, reason);
    seat_release(m, s);
    if (was_joined) mb_debug("match_leave", "match=%s player=%s reason=%s", m->id, pid, reason);
}

/* ------------------------------------------------------------- create */

static void tick_cb(struct ev_loop *loop, ev_timer *w, int revents);
static void maybe_autostart(match *m);

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
    return match_first_due_us(mb_now_us(), period_us, (int64_t)mb_cfg()->tick_slot_ms * 1000,
                              randombytes_random());
}

static void match_free(void *ud)
{
    match *m = ud;
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

match *match_create(const char *mode, json_t *params, int *code, char *err, size_t errlen)
{
    return match_create_seeded(mode, params, NULL, code, err, errlen);
}

match *match_create_seeded(const char *mode, json_t *params, const uint64_t *seed, int *code, char *err,
                           size_t errlen)
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
    if (m->match_ref == LUA_NOREF || !match_lua_seed(m, m->seed)) {
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
    int rc = match_pcall(m, MATCH_CTX_INIT, 2, 1, cerr, sizeof cerr);
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
    if (mb_loop() && !observer) {
        ev_init(&m->tick_w, tick_cb);
        m->tick_w.data = m;
        m->next_due_us = first_due_us(m->period_us);
        ev_timer_set(&m->tick_w, (double)(m->next_due_us - mb_now_us()) / 1e6, 0.);
        ev_timer_start(mb_loop(), &m->tick_w);
    } else {
        m->sim = true;
    }
    m->last_step_ms = match_now(m);
    mb_info("match_created", "match=%s mode=%s version=%d seed=%llu", m->id, mode, v->version,
            (unsigned long long)m->seed);
    return m;
}

/* ------------------------------------------------------------- finish */

static void finalize(match *m, bool call_terminate)
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
    broadcast_json(m, "match.finished",
                   json_pack("{s:s,s:O}", "match_id", m->id, "result", m->finish_result));
    for (size_t i = 0; i < m->n_seats; i++) {
        seat *s = &m->seats[i];
        if (s->joined) history_left(m, s->player_id, m->finish_reason);
        if (s->joined && mb_smap_get(&player_match, s->player_id) == m)
            mb_smap_del(&player_match, s->player_id);
    }
    match_notify_vote_ended(m);
    mb_smap_del(&matches, m->id);
    *m_matches_live = (double)matches.count;
    *m_matches_finished += 1;
    mb_info("match_finished", "match=%s mode=%s reason=%s ticks=%llu", m->id, m->v->mode, m->finish_reason,
            (unsigned long long)m->tick);
    if (!m->sim) match_persist(m);
    /* Never free inside a callback that may still be running: defer. */
    if (mb_loop() && !m->sim) mb_defer(match_free, m);
}

void match_end(match *m, json_t *result)
{
    if (m->dead) return;
    json_decref(m->finish_result);
    m->finish_result = result ? json_deep_copy(result) : json_object();
    m->finishing = true;
    snprintf(m->finish_reason, sizeof m->finish_reason, "ended");
    finalize(m, true);
}

static void do_start(match *m)
{
    if (m->status != MATCH_WAITING || m->dead) return;
    m->status = MATCH_RUNNING;
    m->started_at = mb_wall_ms();
    if (match_begin_call(m, MATCH_CTX_START)) match_end_call(m, 0, 0);
    if (m->failed) return;
    broadcast_json(m, "match.started", json_pack("{s:s,s:o}", "match_id", m->id, "players", players_json(m)));
    mb_info("match_started", "match=%s mode=%s players=%zu", m->id, m->v->mode, match_player_count(m));
}

/* Apply what scripts asked for during a callback (safe point). */
void match_post_call(match *m)
{
    for (int round = 0; round < 16 && !m->dead; round++) {
        if (m->failed) {
            finalize(m, false);
            return;
        }
        if (m->n_kicks) {
            kick_item k = m->kicks[0];
            memmove(m->kicks, m->kicks + 1, (m->n_kicks - 1) * sizeof *m->kicks);
            m->n_kicks--;
            seat *s = match_seat(m, k.player_id);
            if (s && s->joined) {
                bool connected = s->connected;
                seat_leave(m, s, "kicked");
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
            finalize(m, true);
            return;
        }
        return;
    }
    if (m->n_kicks) m->n_kicks = 0; /* a script kicking in a loop: drop the rest */
}

/* ------------------------------------------------------------- state */

/* Call get_state(match, state, viewer) and append the payload JSON
 * (object with "tick") to m->out. viewer_ref LUA_NOREF = nil. */
static bool render_state(match *m, seat *viewer)
{
    if (!match_begin_call(m, MATCH_CTX_GET_STATE)) return false;
    lua_State *L = mb_lua_vm_state(m->vm);
    if (viewer) match_push_player(m, viewer);
    else lua_pushnil(L);
    if (!match_end_call(m, 1, 1)) return false;
    mb_buf *b = &m->out;
    char num[32];
    int nl = snprintf(num, sizeof num, "{\"tick\":%llu", (unsigned long long)m->tick);
    size_t start = b->len;
    mb_buf_append(b, num, (size_t)nl);
    size_t body = b->len;
    char err[256];
    bool ok = lua_type(L, -1) == LUA_TTABLE && mb_lua_encode_json(L, -1, b, err, sizeof err) == MB_OK;
    if (ok && b->data[body] != '{') {
        ok = false;
        snprintf(err, sizeof err, "must return a table with string keys (an object)");
    }
    lua_pop(L, 1);
    if (!ok) {
        b->len = start;
        if (lua_type(L, -1) != LUA_TTABLE && strstr(err, "must") == NULL)
            snprintf(err, sizeof err, "must return a table");
        char msg[512];
        snprintf(msg, sizeof msg, "%s: get_state %s", m->v->path, err);
        match_fail(m, msg);
        return false;
    }
    /* splice: {"tick":N + {...}  ->  {"tick":N,...} */
    if (b->data[body + 1] == '}') {
        b->data[body] = '}';
        b->len = body + 1;
    } else {
        b->data[body] = ',';
    }
    return true;
}

static mb_frame *state_frame(match *m)
{
    static const char pre[] = "{\"type\":\"match.state\",\"payload\":";
    mb_buf_reset(&m->out);
    mb_buf_append(&m->out, pre, sizeof pre - 1);
    size_t pstart = m->out.len;
    if (!render_state(m, NULL)) return NULL;
    if (observer) observer(m, m->out.data + pstart, m->out.len - pstart, observer_ud);
    mb_buf_putc(&m->out, '}');
    return mb_frame_new(m->out.data, m->out.len);
}

/* Digest of a state payload {"tick":N,...} without its tick, so equal
 * states of different ticks compare equal (send_state = "on_change"). */
static uint64_t state_digest(const char *payload, size_t len, size_t *body_len)
{
    size_t i = sizeof "{\"tick\":" - 1;
    while (i < len && payload[i] >= '0' && payload[i] <= '9') i++;
    if (i > len) i = len;
    unsigned char h[crypto_shorthash_BYTES];
    crypto_shorthash(h, (const unsigned char *)payload + i, len - i, digest_key);
    uint64_t d;
    memcpy(&d, h, sizeof d);
    *body_len = len - i;
    return d;
}

/* on_change: false when this viewer already got a state with this body;
 * otherwise remembers it as sent. Always true for send_state = "always". */
static bool state_changed_for(match *m, seat *s, uint64_t digest, size_t body_len)
{
    if (!m->v->send_on_change) return true;
    if (s->state_sent && s->state_digest == digest && s->state_len == body_len) return false;
    s->state_sent = true;
    s->state_digest = digest;
    s->state_len = body_len;
    return true;
}

static void send_states(match *m)
{
    size_t connected = 0;
    for (size_t i = 0; i < m->n_seats; i++) connected += m->seats[i].joined && m->seats[i].connected;
    if (!connected && !observer) return;
    if (!m->v->per_player_state) {
        static const size_t pre_len = sizeof "{\"type\":\"match.state\",\"payload\":" - 1;
        mb_frame *f = state_frame(m);
        if (!f) return;
        if (!m->v->send_on_change) {
            match_broadcast_frame(m, f);
            *m_states_sent += (double)connected;
            *m_states_out += (double)connected;
        } else {
            size_t body_len;
            uint64_t d = state_digest(m->out.data + pre_len, m->out.len - pre_len - 1, &body_len);
            for (size_t i = 0; i < m->n_seats; i++) {
                seat *s = &m->seats[i];
                if (!s->joined || !s->connected || !state_changed_for(m, s, d, body_len)) continue;
                mb_player_send_frame_cached(s->player_id, &s->sockets, f);
                *m_states_sent += 1;
                *m_states_out += 1;
            }
        }
        mb_frame_unref(f);
        return;
    }
    if (observer) { /* simulate prints the nil-viewer view */
        mb_frame *f = state_frame(m);
        if (!f) return;
        mb_frame_unref(f);
    }
    for (size_t i = 0; i < m->n_seats && !m->dead; i++) {
        seat *s = &m->seats[i];
        if (!s->joined || !s->connected) continue;
        static const char pre[] = "{\"type\":\"match.state\",\"payload\":";
        mb_buf_reset(&m->out);
        mb_buf_append(&m->out, pre, sizeof pre - 1);
        if (!render_state(m, s)) return;
        size_t body_len;
        uint64_t d = state_digest(m->out.data + sizeof pre - 1, m->out.len - (sizeof pre - 1), &body_len);
        if (!state_changed_for(m, s, d, body_len)) continue;
        mb_buf_putc(&m->out, '}');
        mb_frame *f = mb_frame_new(m->out.data, m->out.len);
        mb_player_send_frame_cached(s->player_id, &s->sockets, f);
        *m_states_sent += 1;
        *m_states_out += 1;
        mb_frame_unref(f);
    }
}

json_t *match_state_json(match *m)
{
    if (m->dead || m->admin_view) return NULL;
    mb_buf_reset(&m->out);
    m->admin_view = true; /* get_state may do nothing (its context); its errors are only logged */
    bool ok = render_state(m, NULL);
    m->admin_view = false;
    if (!ok) return NULL;
    return json_loadb(m->out.data, m->out.len, 0, NULL);
}

/* --------------------------------------------------------------- tick */

static void run_inputs(match *m)
{
    size_t n = m->n_inputs;
    if (n == 0) return;
    /* The queue is taken whole (a callback may queue more for the next
     * tick); a spare array is kept so a steady flow allocates nothing. */
    input_item *items = m->inputs;
    size_t cap = m->cap_inputs;
    m->inputs = m->spare_inputs;
    m->cap_inputs = m->cap_spare;
    m->spare_inputs = NULL;
    m->cap_spare = 0;
    m->n_inputs = 0;
    for (size_t i = 0; i < n; i++) {
        seat *s = m->dead || m->failed ? NULL : match_seat(m, items[i].player_id);
        lua_State *L = m->vm ? mb_lua_vm_state(m->vm) : NULL;
        if (s && s->joined && match_begin_call(m, MATCH_CTX_INPUT)) {
            match_push_player(m, s);
            lua_rawgeti(L, LUA_REGISTRYINDEX, items[i].ref);
            luaL_unref(L, LUA_REGISTRYINDEX, items[i].ref);
            match_end_call(m, 2, 0);
            match_post_call(m);
        } else if (L) {
            luaL_unref(L, LUA_REGISTRYINDEX, items[i].ref);
        }
    }
    if (!m->spare_inputs && cap <= 256) {
        m->spare_inputs = items;
        m->cap_spare = cap;
    } else {
        free(items);
    }
}

/* A timer cancelled while run_afters iterates keeps its slot (ref
 * LUA_NOREF, due at once) until the loop or its final sweep drops it. */
bool match_cancel_timer(match *m, uint64_t id)
{
    for (size_t i = 0; i < m->n_afters; i++) {
        after_item *a = &m->afters[i];
        if (a->id != id || a->ref == LUA_NOREF) continue;
        if (m->vm) luaL_unref(mb_lua_vm_state(m->vm), LUA_REGISTRYINDEX, a->ref);
        if (m->in_afters) {
            a->ref = LUA_NOREF;
            a->due_ms = INT64_MIN;
        } else {
            *a = m->afters[--m->n_afters];
        }
        return true;
    }
    return false;
}

static void run_afters(match *m, int64_t now)
{
    lua_State *L = mb_lua_vm_state(m->vm);
    m->in_afters = true;
    for (size_t i = 0; i < m->n_afters && !m->dead && !m->failed;) {
        if (m->afters[i].due_ms > now) {
            i++;
            continue;
        }
        int ref = m->afters[i].ref;
        m->afters[i] = m->afters[--m->n_afters];
        if (ref == LUA_NOREF) continue; /* cancelled */
        lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
        luaL_unref(L, LUA_REGISTRYINDEX, ref);
        lua_rawgeti(L, LUA_REGISTRYINDEX, m->match_ref);
        lua_rawgeti(L, LUA_REGISTRYINDEX, m->state_ref);
        char err[4096];
        m->depth++;
        int rc = match_pcall(m, MATCH_CTX_TIMER, 2, 0, err, sizeof err);
        m->depth--;
        if (rc != MB_LUA_OK) match_fail(m, err);
        match_post_call(m);
    }
    m->in_afters = false;
    for (size_t i = 0; i < m->n_afters;) { /* cancelled behind the loop */
        if (m->afters[i].ref == LUA_NOREF) m->afters[i] = m->afters[--m->n_afters];
        else i++;
    }
}

static void check_seats(match *m, int64_t now)
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
            seat_leave(m, s, "disconnected");
            match_post_call(m);
            continue; /* seats shifted */
        }
        i++;
    }
}

/* Move a running match to the mode's current version at a tick boundary:
 * the state is carried over as JSON into a fresh VM of the new version and
 * handed to its reload(match, state) -> state. Anything that cannot cross
 * (functions in the state, pending match:after timers) keeps the match on
 * its old version, with a warning. */
static void migrate(match *m)
{
    m->reload_pending = false;
    mode_version *nv = modes_get(m->v->mode);
    if (!nv || nv == m->v || !nv->has_reload || m->dead) return;
    char err[2048];
    lua_State *oL = mb_lua_vm_state(m->vm);
    lua_rawgeti(oL, LUA_REGISTRYINDEX, m->state_ref);
    json_t *state = mb_lua_to_json(oL, -1, err, sizeof err);
    lua_pop(oL, 1);
    if (!state) {
        mb_warn("match_reload_skipped", "match=%s mode=%s reason=\"state is not JSON: %s\"", m->id,
                m->v->mode, err);
        return;
    }
    if (m->n_afters) {
        mb_warn("match_reload_skipped", "match=%s mode=%s reason=\"pending match:after timers\"", m->id,
                m->v->mode);
        json_decref(state);
        return;
    }
    mb_lua_vm *vm = modes_new_vm(nv, err, sizeof err);
    if (!vm) {
        json_decref(state);
        mb_warn("match_reload_failed", "match=%s error=\"%s\"", m->id, err);
        return;
    }
    /* Swap in the new VM, rebuilding the match table and player tables. */
    mb_lua_vm *old_vm = m->vm;
    mode_version *old_v = m->v;
    int old_refs[3] = {m->mode_ref, m->state_ref, m->match_ref};
    lua_State *L = mb_lua_vm_state(vm);
    m->vm = vm;
    m->v = nv;
    mode_version_ref(nv);
    m->mode_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    mb_lua_vm_set_host(vm, m);
    match_lua_setup(m);
    /* the new VM continues from a seed of its own, derived from the match's
     * (a replay with the same seed reloads the same way) */
    bool ok = m->match_ref != LUA_NOREF && match_lua_seed(m, (m->seed + m->tick) & MATCH_SEED_MAX);
    int *seat_refs = mb_malloc((m->n_seats + 1) * sizeof *seat_refs);
    for (size_t i = 0; i < m->n_seats; i++) {
        seat_refs[i] = m->seats[i].lua_ref;
        m->seats[i].lua_ref = LUA_NOREF;
        if (ok && m->seats[i].joined) ok = seat_make_player(m, &m->seats[i]);
    }
    if (ok) {
        /* reload(match, state) -> state */
        lua_rawgeti(L, LUA_REGISTRYINDEX, m->mode_ref);
        lua_pushstring(L, "reload");
        lua_rawget(L, -2);
        lua_remove(L, -2);
        lua_rawgeti(L, LUA_REGISTRYINDEX, m->match_ref);
        if (mb_lua_push_json_protected(vm, state, err, sizeof err) != MB_LUA_OK) {
            lua_pop(L, 2);
            ok = false;
        } else if (match_pcall(m, MATCH_CTX_RELOAD, 2, 1, err, sizeof err) != MB_LUA_OK) {
            ok = false;
        } else if (lua_type(L, -1) != LUA_TTABLE) {
            lua_pop(L, 1);
            snprintf(err, sizeof err, "reload must return a table (the state)");
            ok = false;
        } else {
            m->state_ref = luaL_ref(L, LUA_REGISTRYINDEX);
        }
    }
    json_decref(state);
    if (!ok) {
        /* Roll back to the old VM: the match keeps running its version. */
        char q[1024];
        mb_warn("match_reload_failed", "match=%s mode=%s error=%s", m->id, nv->mode,
                mb_log_quote(q, sizeof q, err));
        mb_lua_vm_free(vm);
        mode_version_unref(nv);
        m->vm = old_vm;
        m->v = old_v;
        m->mode_ref = old_refs[0];
        m->state_ref = old_refs[1];
        m->match_ref = old_refs[2];
        for (size_t i = 0; i < m->n_seats; i++) m->seats[i].lua_ref = seat_refs[i];
        free(seat_refs);
        return;
    }
    free(seat_refs);
    mb_lua_vm_set_time_ms(vm, modes_callback_ms(nv)); /* reload is done */
    mb_lua_vm_free(old_vm);
    mb_info("match_reloaded", "match=%s mode=%s from_version=%d to_version=%d", m->id, nv->mode,
            old_v->version, nv->version);
    mode_version_unref(old_v);
}

void match_mode_reloaded(const char *mode)
{
    size_t it = 0;
    void *v;
    while (mb_smap_next(&matches, &it, NULL, &v)) {
        match *m = v;
        if (!m->dead && strcmp(m->v->mode, mode) == 0) m->reload_pending = true;
    }
}

static void step(match *m, int64_t now)
{
    if (m->dead) return;
    int64_t dt = now - m->last_step_ms;
    m->last_step_ms = now;
    m->tick++;
    *m_ticks += 1;
    check_seats(m, now);
    if (m->dead) return;
    /* Inputs received before a reload are decoded in the old VM: they run
     * there, then the match migrates (no pending input crosses VMs). */
    run_inputs(m);
    if (m->dead) return;
    if (m->reload_pending) migrate(m);
    run_afters(m, now);
    if (m->dead) return;
    if (match_begin_call(m, MATCH_CTX_TICK)) {
        lua_State *L = mb_lua_vm_state(m->vm);
        lua_pushnumber(L, (lua_Number)m->tick);
        lua_pushnumber(L, (lua_Number)dt);
        match_end_call(m, 2, 0);
    }
    match_post_call(m);
    if (m->dead) return;
    send_states(m);
    if (m->dead) return;
    if (m->failed) {
        finalize(m, false);
        return;
    }
    size_t connected = 0;
    for (size_t i = 0; i < m->n_seats; i++) connected += m->seats[i].joined && m->seats[i].connected;
    if (connected == 0 && !m->sim) {
        if (!m->empty_since) m->empty_since = now;
        else if (now - m->empty_since >= m->v->empty_timeout_ms) {
            m->finish_result = json_pack("{s:s}", "reason", "empty");
            snprintf(m->finish_reason, sizeof m->finish_reason, "empty");
            finalize(m, true);
            return;
        }
    } else m->empty_since = 0;
    if (m->v->max_duration_ms && now - (m->sim ? 0 : m->created_mono) >= m->v->max_duration_ms) {
        json_decref(m->finish_result);
        m->finish_result = json_pack("{s:s}", "reason", "max_duration");
        snprintf(m->finish_reason, sizeof m->finish_reason, "max_duration");
        finalize(m, true);
    }
}

static void tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    match *m = w->data;
    int64_t now_us = mb_now_us();
    double late = (double)(now_us - m->next_due_us) / 1e6;
    mb_histogram_observe(lateness_h, late > 0 ? late : 0);
    m->next_due_us += m->period_us;
    if (m->next_due_us < now_us - 5 * m->period_us) m->next_due_us = now_us; /* far behind: resync */
    step(m, now_us / 1000);
    if (m->dead) return;
    /* libev counts the delay from its loop time, which is as old as this
     * iteration: refresh it so the timer lands on next_due_us (matches of
     * one tick slot then fire together). */
    ev_now_update(loop);
    int64_t delay = m->next_due_us - mb_now_us();
    ev_timer_set(w, delay > 0 ? (double)delay / 1e6 : 0., 0.);
    ev_timer_start(loop, w);
}

void match_sim_step(match *m, int64_t now_ms)
{
    m->sim_now = now_ms;
    step(m, now_ms);
}

/* --------------------------------------------------------------- join */

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

typedef enum { J_OK, J_NOT_FOUND, J_FORBIDDEN, J_CONFLICT, J_INTERNAL } join_rc;

static join_rc do_join(match *m, const char *player_id, const char *username, json_t *metadata, char *reason,
                       size_t rlen)
{
    if (m->dead || m->status == MATCH_FINISHED) {
        snprintf(reason, rlen, "match has finished");
        return J_NOT_FOUND;
    }
    seat *s = match_seat(m, player_id);
    if (s && s->joined) { /* rejoin within grace, or a second join */
        if (!s->connected) {
            seat_set_connected(m, s, true);
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
    if (!seat_make_player(m, s)) return J_INTERNAL;
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
    mb_bucket_init(&s->input_bucket, mb_cfg() ? mb_cfg()->input_rate : 1000, now);
    seat_set_connected(m, s, true);
    mb_smap_put(&player_match, player_id, m);
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
    mb_info("match_join", "match=%s player=%s players=%zu", m->id, player_id, match_player_count(m));
    return J_OK;
}

bool match_sim_join(match *m, const char *player_id, const char *username, char *err, size_t errlen)
{
    join_rc rc = do_join(m, player_id, username, NULL, err, errlen);
    if (rc == J_OK) match_post_call(m);
    return rc == J_OK;
}

/* Decode an input (JSON text) into the match's VM and queue it for the
 * next tick. Returns MB_LUA_OK, or the decoder's status with err set. */
static int enqueue_input(match *m, const char *player_id, const char *text, size_t len, char *err,
                         size_t errlen)
{
    int ref;
    int rc = mb_lua_ref_json_text(m->vm, text, len, 0, &ref, err, errlen);
    if (rc != MB_LUA_OK) return rc;
    if (m->n_inputs == m->cap_inputs) {
        m->cap_inputs = m->cap_inputs ? m->cap_inputs * 2 : 16;
        m->inputs = mb_realloc(m->inputs, m->cap_inputs * sizeof *m->inputs);
    }
    input_item *it = &m->inputs[m->n_inputs++];
    snprintf(it->player_id, sizeof it->player_id, "%s", player_id);
    it->ref = ref;
    return MB_LUA_OK;
}

void match_sim_input(match *m, const char *player_id, json_t *input)
{
    if (m->dead || !m->vm) return;
    char *text = json_dumps(input, JSON_ENCODE_ANY | JSON_COMPACT);
    char err[256];
    int rc = text ? enqueue_input(m, player_id, text, strlen(text), err, sizeof err) : MB_LUA_ERR_MEMORY;
    if (!text) snprintf(err, sizeof err, "out of memory");
    free(text);
    if (rc != MB_LUA_OK) match_fail(m, err);
}

void match_reserve(match *m, const char *player_id, int timeout_ms)
{
    seat *s = match_seat(m, player_id);
    if (s) return;
    s = seat_add(m, player_id, "");
    s->reserved_until = match_now(m) + timeout_ms;
}

/* ---------------------------------------------------- socket handlers */

void match_on_join(mb_session *sess, const char *cid, json_t *payload)
{
    const char *id = json_string_value(json_object_get(payload, "match_id"));
    const char *pid = mb_session_player(sess);
    match *m = match_find(id);
    if (!m) {
        mb_session_error(sess, cid, "match.join", MB_E_NOT_FOUND, "no live match '%s'", id);
        return;
    }
    match *cur = mb_smap_get(&player_match, pid);
    if (cur && cur != m) {
        mb_session_error(sess, cid, "match.join", MB_E_CONFLICT,
                         "already in match %s; send match.leave first", cur->id);
        return;
    }
    char reason[256] = "";
    json_t *meta = json_object_get(payload, "metadata");
    join_rc rc = do_join(m, pid, mb_session_username(sess), meta, reason, sizeof reason);
    if (rc != J_OK) {
        static const mb_errcode codes[] = {MB_E_INTERNAL, MB_E_NOT_FOUND, MB_E_FORBIDDEN, MB_E_CONFLICT,
                                           MB_E_INTERNAL};
        mb_session_error(sess, cid, "match.join", codes[rc], "%s",
                         rc == J_INTERNAL ? "the match script failed" : reason);
        return;
    }
    /* Reply with the joiner's view, then start if enough players joined. */
    seat *s = match_seat(m, pid);
    mb_buf_reset(&m->out);
    bool have_state = render_state(m, m->v->per_player_state ? s : NULL);
    if (have_state && s) { /* on_change: the joiner has this state now */
        size_t body_len;
        uint64_t d = state_digest(m->out.data, m->out.len, &body_len);
        s->state_sent = false;
        state_changed_for(m, s, d, body_len);
    }
    json_t *players = players_json(m);
    char *pj = json_dumps(players, JSON_COMPACT);
    json_decref(players);
    mb_buf st = MB_BUF_INIT;
    mb_buf_puts(&st, "{");
    if (cid) {
        json_t *c = json_string(cid);
        char *cs = json_dumps(c, JSON_ENCODE_ANY);
        mb_buf_puts(&st, "\"cid\":");
        mb_buf_puts(&st, cs);
        mb_buf_puts(&st, ",");
        free(cs);
        json_decref(c);
    }
    mb_buf_puts(&st, "\"type\":\"match.joined\",\"payload\":{\"match_id\":\"");
    mb_buf_puts(&st, m->id);
    mb_buf_puts(&st, "\",\"mode\":\"");
    mb_buf_puts(&st, m->v->mode);
    mb_buf_puts(&st, "\",\"players\":");
    mb_buf_puts(&st, pj);
    mb_buf_puts(&st, ",\"state\":");
    if (have_state) mb_buf_append(&st, m->out.data, m->out.len);
    else mb_buf_puts(&st, "null");
    mb_buf_puts(&st, "}}");
    free(pj);
    mb_frame *f = mb_frame_new(st.data, st.len);
    mb_buf_free(&st);
    *mb_metric_msg_out("match.joined") += 1;
    mb_session_send_frame(sess, f);
    mb_frame_unref(f);
    if (!m->dead) match_post_call(m); /* auto-start */
}

void match_on_input_raw(mb_session *sess, const char *cid, const char *payload, size_t len)
{
    const char *pid = mb_session_player(sess);
    match *m = mb_smap_get(&player_match, pid);
    seat *s = m ? match_seat(m, pid) : NULL;
    if (!s || !s->joined || m->dead || !m->vm) {
        mb_session_error(sess, cid, "match.input", MB_E_NOT_FOUND, "not in a match; send match.join first");
        return;
    }
    if (!mb_bucket_take(&s->input_bucket, mb_cfg()->input_rate, mb_cfg()->input_rate, mb_now_ms()) ||
        m->n_inputs >= 64 * (size_t)m->v->players_max) {
        mb_session_error(sess, cid, "match.input", MB_E_RATE_LIMITED,
                         "too many inputs; limit is %d per second", mb_cfg()->input_rate);
        return;
    }
    char err[256];
    int rc = enqueue_input(m, pid, payload, len, err, sizeof err);
    if (rc == MB_LUA_ERR_MEMORY) {
        mb_session_error(sess, cid, "match.input", MB_E_UNAVAILABLE, "the match is out of script memory");
        return;
    }
    if (rc != MB_LUA_OK) {
        mb_session_error(sess, cid, "match.input", MB_E_BAD_REQUEST, "%s", err);
        return;
    }
    if (cid)
        mb_session_send(sess, "match.input_ack", cid,
                        json_pack("{s:s,s:I}", "match_id", m->id, "tick", (json_int_t)m->tick));
}

/* The jansson path (envelopes the scan leaves to the full parser). */
void match_on_input(mb_session *sess, const char *cid, json_t *payload)
{
    char *text = json_dumps(payload, JSON_COMPACT);
    if (!text) {
        mb_session_error(sess, cid, "match.input", MB_E_INTERNAL, "out of memory");
        return;
    }
    match_on_input_raw(sess, cid, text, strlen(text));
    free(text);
}

void match_on_leave(mb_session *sess, const char *cid, json_t *payload)
{
    const char *pid = mb_session_player(sess);
    match *m = mb_smap_get(&player_match, pid);
    seat *s = m ? match_seat(m, pid) : NULL;
    if (!s || !s->joined) {
        mb_session_error(sess, cid, "match.leave", MB_E_NOT_FOUND, "not in a match");
        return;
    }
    char id[40];
    snprintf(id, sizeof id, "%s", m->id);
    seat_leave(m, s, "left");
    match_post_call(m);
    mb_session_send(sess, "match.left", cid, json_pack("{s:s,s:s}", "match_id", id, "reason", "left"));
}

void match_session_closed(const char *player_id, bool last_socket)
{
    if (!last_socket) return;
    match *m = mb_smap_get(&player_match, player_id);
    seat *s = m ? match_seat(m, player_id) : NULL;
    if (!s || !s->joined) return;
    seat_set_connected(m, s, false);
    s->state_sent = false; /* a rejoin gets the current state in match.joined */
    s->disconnected_at = match_now(m);
    mb_info("match_disconnect", "match=%s player=%s grace_ms=%d", m->id, player_id, m->v->reconnect_grace_ms);
}

/* ------------------------------------------------------------ runtime */

void match_runtime_init(void)
{
    mb_smap_init(&matches);
    mb_smap_init(&player_match);
    mb_metric_table_smap("matches", &matches);
    mb_metric_table_smap("match_players", &player_match);
    lateness_h =
        mb_histogram_new("moonbase_tick_lateness_seconds", "how late match ticks ran versus their schedule",
                         lateness_bounds, MB_ARRAY_LEN(lateness_bounds));
    m_matches_live = mb_metric("moonbase_matches", "", MB_GAUGE, "live matches");
    m_matches_created = mb_metric("moonbase_matches_created_total", "", MB_COUNTER, "matches created");
    m_matches_finished = mb_metric("moonbase_matches_finished_total", "", MB_COUNTER, "matches finished");
    m_matches_failed =
        mb_metric("moonbase_matches_failed_total", "", MB_COUNTER, "matches ended by a script error");
    m_states_sent =
        mb_metric("moonbase_match_states_sent_total", "", MB_COUNTER, "match.state messages queued");
    m_ticks = mb_metric("moonbase_match_ticks_total", "", MB_COUNTER, "match ticks run");
    /* the same series as mb_metric_msg_out() would create, without its cache
     * (simulate runs without the core) */
    m_states_out =
        mb_metric("moonbase_messages_out_total", "type=\"match.state\"", MB_COUNTER, "messages sent by type");
    match_m_messages_out = mb_metric("moonbase_messages_out_total", "type=\"match.message\"", MB_COUNTER,
                                     "messages sent by type");
    randombytes_buf(digest_key, sizeof digest_key);
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
        finalize(m, true);
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
    mb_smap_free(&player_match);
    match_script_errors_free();
}

/* For simulate: free a finished simulated match. */
void match_sim_free(match *m)
{
    if (!m->dead) mb_smap_del(&matches, m->id);
    match_free(m);
}

/* ------------------------------------------------- account removed */

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
            if (s->joined) seat_leave(m, s, reason);
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
