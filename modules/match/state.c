/*
 * state.c - a match's state as players see it: get_state rendered to JSON
 * (once per tick, or once per viewer with per_player_state), the
 * match.state frames sent each tick (send_state = "on_change" skips a
 * viewer whose state body did not change: per-viewer digests), the admin
 * state view (match_state_json), and the observer simulate uses to print
 * each broadcast state.
 *
 * Not here: when states are sent (the tick loop, tick.c), the state in
 * match.joined (handlers.c, with match_render_state).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "match_internal.h"

match_state_observer match_observer;
void *match_observer_ud;
double *match_m_states_sent, *match_m_states_out;
/* Key of the per-viewer state digests (send_state = "on_change"). */
unsigned char match_digest_key[crypto_shorthash_KEYBYTES];

void match_set_observer(match_state_observer fn, void *ud)
{
    match_observer = fn;
    match_observer_ud = ud;
}

/* Call get_state(match, state, viewer) and append the payload JSON
 * (object with "tick") to m->out. viewer_ref LUA_NOREF = nil. */
bool match_render_state(match *m, seat *viewer)
{
    if (!match_begin_call(m, MATCH_CTX_GET_STATE)) return false;
    lua_State *L = mb_lua_vm_state(m->vm);
    if (viewer) match_push_player(m, viewer);
    else lua_pushnil(L);
    if (!match_end_call(m, 1, 1)) return false;
    mb_buf *b = &m->out;
    char num[32]; /* {"tick":N without printf: this runs every tick */
    size_t nl = sizeof num;
    unsigned long long t = (unsigned long long)m->tick;
    do num[--nl] = (char)('0' + t % 10);
    while ((t /= 10) != 0);
    static const char pre[] = "{\"tick\":";
    nl -= sizeof pre - 1;
    memcpy(num + nl, pre, sizeof pre - 1);
    size_t start = b->len;
    mb_buf_append(b, num + nl, sizeof num - nl);
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
    if (!match_render_state(m, NULL)) return NULL;
    if (match_observer) match_observer(m, m->out.data + pstart, m->out.len - pstart, match_observer_ud);
    mb_buf_putc(&m->out, '}');
    return mb_frame_new(m->out.data, m->out.len);
}

/* Digest of a state payload {"tick":N,...} without its tick, so equal
 * states of different ticks compare equal (send_state = "on_change"). */
uint64_t match_state_digest(const char *payload, size_t len, size_t *body_len)
{
    size_t i = sizeof "{\"tick\":" - 1;
    while (i < len && payload[i] >= '0' && payload[i] <= '9') i++;
    if (i > len) i = len;
    unsigned char h[crypto_shorthash_BYTES];
    crypto_shorthash(h, (const unsigned char *)payload + i, len - i, match_digest_key);
    uint64_t d;
    memcpy(&d, h, sizeof d);
    *body_len = len - i;
    return d;
}

/* on_change: false when this viewer already got a state with this body;
 * otherwise remembers it as sent. Always true for send_state = "always". */
bool match_state_changed_for(match *m, seat *s, uint64_t digest, size_t body_len)
{
    if (!m->v->send_on_change) return true;
    if (s->state_sent && s->state_digest == digest && s->state_len == body_len) return false;
    s->state_sent = true;
    s->state_digest = digest;
    s->state_len = body_len;
    return true;
}

void match_send_states(match *m)
{
    size_t connected = 0;
    for (size_t i = 0; i < m->n_seats; i++) connected += m->seats[i].joined && m->seats[i].connected;
    if (!connected && !match_observer) return;
    if (!m->v->per_player_state) {
        static const size_t pre_len = sizeof "{\"type\":\"match.state\",\"payload\":" - 1;
        mb_frame *f = state_frame(m);
        if (!f) return;
        if (!m->v->send_on_change) {
            match_broadcast_frame(m, f);
            *match_m_states_sent += (double)connected;
            *match_m_states_out += (double)connected;
        } else {
            size_t body_len;
            uint64_t d = match_state_digest(m->out.data + pre_len, m->out.len - pre_len - 1, &body_len);
            for (size_t i = 0; i < m->n_seats; i++) {
                seat *s = &m->seats[i];
                if (!s->joined || !s->connected || !match_state_changed_for(m, s, d, body_len)) continue;
                mb_player_send_frame_cached(s->player_id, &s->sockets, f);
                *match_m_states_sent += 1;
                *match_m_states_out += 1;
            }
        }
        mb_frame_unref(f);
        return;
    }
    if (match_observer) { /* simulate prints the nil-viewer view */
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
        if (!match_render_state(m, s)) return;
        size_t body_len;
        uint64_t d =
            match_state_digest(m->out.data + sizeof pre - 1, m->out.len - (sizeof pre - 1), &body_len);
        if (!match_state_changed_for(m, s, d, body_len)) continue;
        mb_buf_putc(&m->out, '}');
        mb_frame *f = mb_frame_new(m->out.data, m->out.len);
        mb_player_send_frame_cached(s->player_id, &s->sockets, f);
        *match_m_states_sent += 1;
        *match_m_states_out += 1;
        mb_frame_unref(f);
    }
}

json_t *match_state_json(match *m)
{
    if (m->dead || m->admin_view) return NULL;
    mb_buf_reset(&m->out);
    m->admin_view = true; /* get_state may do nothing (its context); its errors are only logged */
    bool ok = match_render_state(m, NULL);
    m->admin_view = false;
    if (!ok) return NULL;
    return json_loadb(m->out.data, m->out.len, 0, NULL);
}
