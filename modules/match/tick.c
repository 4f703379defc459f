/*
 * tick.c - the tick loop of a match: the input queue (inputs are decoded
 * into the match's VM on arrival and run at the next tick), running the
 * due match:after timers, and one step: seats checked -> inputs -> hot
 * reload -> timers -> tick() -> state sent -> empty and max_duration ends.
 * The libev timer keeps each match on its schedule (lateness histogram);
 * simulate drives the same step on a simulated clock (match_sim_step).
 *
 * Not here: the first tick's schedule (match_first_due_us, life.c), the
 * seat check (seats.c), rendering state (state.c), the migration itself
 * (migrate.c), queueing and cancelling timers (match_lua.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "match_internal.h"

mb_histogram *match_lateness_h;
double *match_m_ticks;

/* ------------------------------------------------------------ inputs */

/* Decode an input (JSON text) into the match's VM and queue it for the
 * next tick. Returns MB_LUA_OK, or the decoder's status with err set. */
mb_lua_status match_enqueue_input(match *m, const char *player_id, const char *text, size_t len, char *err,
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
    size_t n = strnlen(player_id, sizeof it->player_id - 1); /* no printf per input */
    memcpy(it->player_id, player_id, n);
    it->player_id[n] = '\0';
    it->ref = ref;
    return MB_LUA_OK;
}

void match_sim_input(match *m, const char *player_id, json_t *input)
{
    if (m->dead || !m->vm) return;
    char *text = json_dumps(input, JSON_ENCODE_ANY | JSON_COMPACT);
    char err[256];
    int rc =
        text ? match_enqueue_input(m, player_id, text, strlen(text), err, sizeof err) : MB_LUA_ERR_MEMORY;
    if (!text) snprintf(err, sizeof err, "out of memory");
    free(text);
    if (rc != MB_LUA_OK) match_fail(m, err);
}

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

/* ------------------------------------------------------------ timers */

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

/* -------------------------------------------------------------- tick */

static void step(match *m, int64_t now)
{
    if (m->dead) return;
    int64_t dt = now - m->last_step_ms;
    m->last_step_ms = now;
    m->tick++;
    *match_m_ticks += 1;
    match_check_seats(m, now);
    if (m->dead) return;
    /* Inputs received before a reload are decoded in the old VM: they run
     * there, then the match migrates (no pending input crosses VMs). */
    run_inputs(m);
    if (m->dead) return;
    if (m->reload_pending) match_migrate(m);
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
    match_send_states(m);
    if (m->dead) return;
    if (m->failed) {
        match_finalize(m, false);
        return;
    }
    size_t connected = 0;
    for (size_t i = 0; i < m->n_seats; i++) connected += m->seats[i].joined && m->seats[i].connected;
    if (connected == 0 && !m->sim) {
        if (!m->empty_since) m->empty_since = now;
        else if (now - m->empty_since >= m->v->empty_timeout_ms) {
            m->finish_result = json_pack("{s:s}", "reason", "empty");
            snprintf(m->finish_reason, sizeof m->finish_reason, "empty");
            match_finalize(m, true);
            return;
        }
    } else m->empty_since = 0;
    if (m->v->max_duration_ms && now - (m->sim ? 0 : m->created_mono) >= m->v->max_duration_ms) {
        json_decref(m->finish_result);
        m->finish_result = json_pack("{s:s}", "reason", "max_duration");
        snprintf(m->finish_reason, sizeof m->finish_reason, "max_duration");
        match_finalize(m, true);
    }
}

void match_tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    match *m = w->data;
    int64_t now_us = mb_now_us();
    double late = (double)(now_us - m->next_due_us) / 1e6;
    mb_histogram_observe(match_lateness_h, late > 0 ? late : 0);
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
