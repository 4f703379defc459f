/*
 * migrate.c - hot reload of running matches: when a mode's new version
 * defines reload(match, state), each running match of that mode is marked
 * (match_mode_reloaded) and moves to the new version at its next tick
 * boundary (match_migrate, called by the tick loop): the state crosses as
 * JSON into a fresh VM, and any failure rolls back to the old version.
 *
 * Not here: loading and watching mode files, version numbers
 * (modes.c), the tick loop that calls match_migrate (tick.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "match_internal.h"

/* Move a running match to the mode's current version at a tick boundary:
 * the state is carried over as JSON into a fresh VM of the new version and
 * handed to its reload(match, state) -> state. Anything that cannot cross
 * (functions in the state, pending match:after timers) keeps the match on
 * its old version, with a warning. */
void match_migrate(match *m)
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
    bool ok = m->match_ref != LUA_NOREF && match_lua_seed(m, (m->seed + m->tick) & MATCH_SEED_MAX) == MB_OK;
    int *seat_refs = mb_malloc((m->n_seats + 1) * sizeof *seat_refs);
    for (size_t i = 0; i < m->n_seats; i++) {
        seat_refs[i] = m->seats[i].lua_ref;
        m->seats[i].lua_ref = LUA_NOREF;
        if (ok && m->seats[i].joined) ok = match_seat_make_player(m, &m->seats[i]) == MB_OK;
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
    match *m;
    while (match_next(&it, &m))
        if (!m->dead && strcmp(m->v->mode, mode) == 0) m->reload_pending = true;
}
