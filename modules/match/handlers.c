/*
 * handlers.c - the match.* WebSocket messages of a player's session:
 * match.join (replies match.joined with the players and the joiner's
 * state), match.input (rate-limited, queued for the next tick,
 * match.input_ack), match.leave, and a player's last socket closing (the
 * reconnect grace starts). match_module.c registers them: match.join's
 * payload arrives validated against the fields declared there; match.input
 * usually arrives as raw payload text (match_on_input_raw), decoded straight
 * into the match's VM.
 *
 * Not here: what joining and leaving do to a match (seats.c), the input
 * queue (tick.c), REST and the message registration (match_module.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "match_internal.h"

void match_on_join(mb_session *sess, const char *cid, json_t *payload)
{
    const char *id = json_string_value(json_object_get(payload, "match_id"));
    const char *pid = mb_session_player(sess);
    match *m = match_find(id);
    if (!m) {
        if (match_cluster_join(sess, cid, id)) return; /* cluster: match.redirect to its node */
        mb_session_error(sess, cid, "match.join", MB_E_NOT_FOUND, "no live match '%s'", id);
        return;
    }
    match *cur = mb_smap_get(&match_by_player, pid);
    if (cur && cur != m) {
        mb_session_error(sess, cid, "match.join", MB_E_CONFLICT,
                         "already in match %s; send match.leave first", cur->id);
        return;
    }
    char reason[256] = "";
    json_t *meta = json_object_get(payload, "metadata");
    join_rc rc = match_do_join(m, pid, mb_session_username(sess), meta, reason, sizeof reason);
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
    bool have_state = match_render_state(m, m->v->per_player_state ? s : NULL);
    if (have_state && s) { /* on_change: the joiner has this state now */
        size_t body_len;
        uint64_t d = match_state_digest(m->out.data, m->out.len, &body_len);
        s->state_sent = false;
        match_state_changed_for(m, s, d, body_len);
    }
    json_t *players = match_players_json(m);
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
    match *m = mb_smap_get(&match_by_player, pid);
    seat *s = m ? match_seat(m, pid) : NULL;
    if (!s || !s->joined || m->dead || !m->vm) {
        mb_session_error(sess, cid, "match.input", MB_E_NOT_FOUND, "not in a match; send match.join first");
        return;
    }
    if (!mb_bucket_take(&s->input_bucket, match_opt_input_rate, match_opt_input_rate, mb_now_ms()) ||
        m->n_inputs >= 64 * (size_t)m->v->players_max) {
        mb_session_error(sess, cid, "match.input", MB_E_RATE_LIMITED,
                         "too many inputs; limit is %d per second", match_opt_input_rate);
        return;
    }
    char err[256];
    int rc = match_enqueue_input(m, pid, payload, len, err, sizeof err);
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
    match *m = mb_smap_get(&match_by_player, pid);
    seat *s = m ? match_seat(m, pid) : NULL;
    if (!s || !s->joined) {
        mb_session_error(sess, cid, "match.leave", MB_E_NOT_FOUND, "not in a match");
        return;
    }
    char id[40];
    snprintf(id, sizeof id, "%s", m->id);
    match_seat_leave(m, s, "left");
    match_post_call(m);
    mb_session_send(sess, "match.left", cid, json_pack("{s:s,s:s}", "match_id", id, "reason", "left"));
}

void match_session_closed(const char *player_id, bool last_socket)
{
    if (!last_socket) return;
    match *m = mb_smap_get(&match_by_player, player_id);
    seat *s = m ? match_seat(m, player_id) : NULL;
    if (!s || !s->joined) return;
    match_seat_set_connected(m, s, false);
    s->state_sent = false; /* a rejoin gets the current state in match.joined */
    s->disconnected_at = match_now(m);
    mb_info("match_disconnect", "match=%s player=%s grace_ms=%d", m->id, player_id, m->v->reconnect_grace_ms);
}
