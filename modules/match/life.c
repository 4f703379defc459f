/*
 * life.c - a match's life as the rest of the server starts and stops it:
 * match_create (the VM, the seed, init, the first tick on the slot grid),
 * match_call_json (other modules call a callback: vote_result, ...), and
 * the runtime's init (its metrics), shutdown (every live match terminated
 * with reason "shutdown") and destroy, and freeing an offline match.
 *
 * Not here: the registry and reading a match (match.c), how a match ends
 * (calls.c), the tick loop the new match's timer runs (tick.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "match_internal.h"

static double *m_matches_created;

static const double lateness_bounds[] = {0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5};

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
    match_registry_put(m);
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

/* ------------------------------------------------------------ calls */

bool match_call_json(match *m, const char *name, json_t *args)
{
    match_ctx ctx;
    if (strcmp(name, "vote_result") == 0) ctx = MATCH_CTX_VOTE_RESULT;
    else if (strcmp(name, "vote_vetoed") == 0) ctx = MATCH_CTX_VOTE_VETOED;
    else {
        mb_warn("match_call_refused", "match=%s callback=%s note=\"not a callback other modules may call\"",
                m->id, name);
        return false;
    }
    if (!match_begin_call(m, ctx)) return false;
    size_t n = json_array_size(args);
    for (size_t i = 0; i < n; i++) {
        char err[256];
        if (mb_lua_push_json_protected(m->vm, json_array_get(args, i), err, sizeof err) != MB_LUA_OK) {
            lua_pop(mb_lua_vm_state(m->vm), 3 + (int)i);
            match_fail(m, err);
            match_post_call(m);
            return false;
        }
    }
    bool ok = match_end_call(m, (int)n, 0);
    match_post_call(m);
    return ok;
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
    match_registry_init();
    match_lateness_h =
        mb_histogram_new("moonbase_tick_lateness_seconds", "how late match ticks ran versus their schedule",
                         lateness_bounds, MB_ARRAY_LEN(lateness_bounds));
    match_m_live = mb_metric("moonbase_matches", "", MB_GAUGE, "live matches");
    m_matches_created = mb_metric("moonbase_matches_created_total", "", MB_COUNTER, "matches created");
    match_m_finished = mb_metric("moonbase_matches_finished_total", "", MB_COUNTER, "matches finished");
    match_m_failed =
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
    match *v;
    match **list = mb_malloc((match_count() + 1) * sizeof *list);
    size_t n = 0;
    while (match_next(&it, &v)) list[n++] = v;
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
    match_registry_destroy();
    match_script_errors_destroy();
}

/* For simulate: free a finished simulated match. */
void match_sim_free(match *m)
{
    if (!m) return;
    if (!m->dead) match_registry_del(m);
    match_free(m);
}
