/*
 * chat.c - chat channels (see chat.h).
 *
 * Membership is per socket and lives in memory: a channel is an array of
 * session ids (plus an index for O(1) removal and a per-player count for
 * the `members` figure); it exists while someone is in it.
 *
 * Sending: chat.send is checked (joined, length, match seat, block, rate,
 * the optional moonbase.on_chat filter), then queued. Before the loop
 * sleeps, chat_before_sleep() writes every queued message of that
 * iteration with one INSERT; one such statement is in flight at a time, so
 * a channel's messages commit in the order they were sent and a busy
 * server commits bigger groups. When it commits, each message is encoded
 * once and the same bytes go to every member; the sender's socket gets its
 * copy with its cid. When it fails, every sender gets the error and
 * nothing is broadcast; with `unavailable` the rows may have committed
 * anyway, so they are deleted again by the social undo queue and hidden
 * from history until then.
 *
 * Admin (console): GET /v1/admin/chat/channels lists the live channels from
 * memory; GET /v1/admin/chat/{channel_id}/messages reads any channel's
 * history by its storage key (match:<id>, dm:<low>:<high>, rooms).
 */
#include "chat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "match.h"
#include "ratelimit.h"
#include "rpc.h"
#include "social.h"

#define MAX_JOINED 64     /* channels per socket */
#define BATCH_MAX 1000    /* messages per INSERT */
#define PENDING_MAX 20000 /* messages waiting for their INSERT */
#define HISTORY_DEFAULT 50
#define HISTORY_MAX 100

typedef struct channel {
    char key[96];
    chat_kind kind;
    uint64_t *sids;
    size_t n, cap;
    mb_imap pos;     /* session id -> (void *)(index + 1) */
    mb_smap players; /* player id -> (void *)(sockets joined) */
} channel;

typedef struct member {
    uint64_t sid;
    char player[64];
    channel *chans[MAX_JOINED];
    size_t n;
} member;

typedef struct send_item {
    struct send_item *next;
    char id[37];
    uint64_t sid;
    char *cid;
    chat_ref ref;
    char sender[40];
    char *content;
} send_item;

static mb_smap channels; /* key -> channel */
static mb_imap members;  /* session id -> member */
static mb_smap buckets;  /* player id -> mb_bucket (chat.send rate) */
static send_item *q_head, *q_tail;
static size_t q_n;
static bool busy;
static size_t n_memberships;
static int chat_rate, chat_max_length; /* options chat-rate, chat-max-length (table at the end) */
static double *m_messages, *m_batches, *m_failed;
static mb_histogram *commit_h; /* INSERT sent -> result read */
static int64_t commit_started_us;

static const char insert_sql[] =
    "INSERT INTO chat_messages (id, channel_id, sender_id, content)"
    " SELECT x.id, x.channel_id, x.sender_id, x.content"
    " FROM ROWS FROM (jsonb_to_recordset($1::jsonb) AS (id uuid, channel_id text, sender_id uuid,"
    "  content text, peer uuid)) WITH ORDINALITY AS x(id, channel_id, sender_id, content, peer, ord)"
    " WHERE x.peer IS NULL OR NOT EXISTS (SELECT 1 FROM friendships f WHERE f.state = 'blocked' AND"
    "  ((f.player_id = x.sender_id AND f.other_id = x.peer) OR (f.player_id = x.peer AND f.other_id = x.sender_id)))"
    " ORDER BY x.ord RETURNING id::text, " SOCIAL_TS("sent_at");

/* ---------------------------------------------------------- channel ids */

const char *chat_parse(const char *id, const char *player_id, chat_ref *out)
{
    memset(out, 0, sizeof *out);
    size_t n = strlen(id);
    if (n == 0 || n > CHAT_CHANNEL_MAX) return "channel_id must be 1..64 characters";
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == ':' || c == '-'))
            return "channel_id may contain only letters, digits, '.', '_', ':' and '-'";
    }
    if (strncmp(id, "match:", 6) == 0) {
        if (n == 6) return "match channels are named match:<match_id>";
        out->kind = CHAT_MATCH;
        snprintf(out->match_id, sizeof out->match_id, "%s", id + 6);
    } else if (strncmp(id, "dm:", 3) == 0) {
        if (!mb_uuid_valid(id + 3)) return "direct channels are named dm:<player_id>";
        out->kind = CHAT_DM;
        mb_uuid_lower(id + 3, out->peer);
        if (strcmp(out->peer, player_id) == 0) return "a direct channel is with another player";
        snprintf(out->view, sizeof out->view, "dm:%s", out->peer);
        bool low = strcmp(player_id, out->peer) < 0;
        snprintf(out->key, sizeof out->key, "dm:%s:%s", low ? player_id : out->peer,
                 low ? out->peer : player_id);
        return NULL;
    } else out->kind = CHAT_ROOM;
    snprintf(out->view, sizeof out->view, "%s", id);
    snprintf(out->key, sizeof out->key, "%s", id);
    return NULL;
}

/* The id player_id uses for a channel (DM ids name the other side). */
static void view_for(const chat_ref *ref, const char *key, const char *player_id,
                     char out[CHAT_CHANNEL_MAX + 1])
{
    if (ref->kind != CHAT_DM) {
        /* keys of rooms and match channels are channel ids (<= CHAT_CHANNEL_MAX) */
        size_t n = strnlen(key, CHAT_CHANNEL_MAX);
        memcpy(out, key, n);
        out[n] = '\0';
        return;
    }
    /* key = dm:<a>:<b> */
    const char *a = key + 3, *b = key + 3 + 37;
    snprintf(out, CHAT_CHANNEL_MAX + 1, "dm:%.36s", strncmp(player_id, a, 36) == 0 ? b : a);
}

/* Seated in the match now? */
static bool in_match(const chat_ref *ref, const char *player_id)
{
    match *m = match_find(ref->match_id);
    return m && match_has_player(m, player_id);
}

/* ----------------------------------------------------------- membership */

static channel *channel_get(const chat_ref *ref, bool create)
{
    channel *ch = mb_smap_get(&channels, ref->key);
    if (ch || !create) return ch;
    ch = mb_calloc(1, sizeof *ch);
    snprintf(ch->key, sizeof ch->key, "%s", ref->key);
    ch->kind = ref->kind;
    mb_imap_init(&ch->pos);
    mb_smap_init(&ch->players);
    mb_smap_put(&channels, ch->key, ch);
    return ch;
}

static void channel_free(channel *ch)
{
    mb_imap_free(&ch->pos);
    mb_smap_free(&ch->players);
    free(ch->sids);
    free(ch);
}

static void channel_add(channel *ch, member *mb)
{
    if (ch->n == ch->cap) {
        ch->cap = ch->cap ? ch->cap * 2 : 8;
        ch->sids = mb_realloc(ch->sids, ch->cap * sizeof *ch->sids);
    }
    ch->sids[ch->n++] = mb->sid;
    mb_imap_put(&ch->pos, mb->sid, (void *)(uintptr_t)ch->n);
    uintptr_t k = (uintptr_t)mb_smap_get(&ch->players, mb->player);
    mb_smap_put(&ch->players, mb->player, (void *)(k + 1));
    mb->chans[mb->n++] = ch;
    n_memberships++;
}

static void channel_remove(channel *ch, member *mb)
{
    uintptr_t pos = (uintptr_t)mb_imap_del(&ch->pos, mb->sid);
    if (pos) {
        size_t i = pos - 1;
        ch->sids[i] = ch->sids[--ch->n];
        if (i < ch->n) mb_imap_put(&ch->pos, ch->sids[i], (void *)(uintptr_t)(i + 1));
        uintptr_t k = (uintptr_t)mb_smap_get(&ch->players, mb->player);
        if (k > 1) mb_smap_put(&ch->players, mb->player, (void *)(k - 1));
        else mb_smap_del(&ch->players, mb->player);
        n_memberships--;
    }
    for (size_t j = 0; j < mb->n; j++)
        if (mb->chans[j] == ch) {
            mb->chans[j] = mb->chans[--mb->n];
            break;
        }
    if (ch->n == 0) {
        mb_smap_del(&channels, ch->key);
        channel_free(ch);
    }
}

static member *member_get(mb_session *s, bool create)
{
    member *mb = mb_imap_get(&members, mb_session_id(s));
    if (mb || !create) return mb;
    mb = mb_calloc(1, sizeof *mb);
    mb->sid = mb_session_id(s);
    snprintf(mb->player, sizeof mb->player, "%s", mb_session_player(s));
    mb_imap_put(&members, mb->sid, mb);
    return mb;
}

static bool joined(const member *mb, const channel *ch)
{
    return mb && ch && mb_imap_get(&ch->pos, mb->sid) != NULL;
}

static void session_closed(mb_session *s)
{
    member *mb = mb_imap_del(&members, mb_session_id(s));
    if (mb) {
        while (mb->n) channel_remove(mb->chans[mb->n - 1], mb);
        free(mb);
    }
    const char *pid = mb_session_player(s);
    if (!mb_player_online(pid)) free(mb_smap_del(&buckets, pid));
}

/* ------------------------------------------------------- join / leave */

static void on_join(mb_session *s, const char *cid, json_t *payload)
{
    const char *pid = mb_session_player(s);
    chat_ref ref;
    const char *why = chat_parse(json_string_value(json_object_get(payload, "channel_id")), pid, &ref);
    if (why) {
        mb_session_error_reason(s, cid, "chat.join", MB_E_BAD_REQUEST, "bad_channel", why);
        return;
    }
    if (ref.kind == CHAT_MATCH && !in_match(&ref, pid)) {
        bool exists = match_find(ref.match_id) != NULL;
        mb_session_error_reason(s, cid, "chat.join", exists ? MB_E_FORBIDDEN : MB_E_NOT_FOUND,
                                exists ? "not_in_match" : "no_match",
                                exists ? "only the players of this match can join its channel"
                                       : "no such match");
        return;
    }
    if (ref.kind == CHAT_DM && presence_blocked(pid, ref.peer)) {
        mb_session_error_reason(s, cid, "chat.join", MB_E_FORBIDDEN, "blocked",
                                "one of you blocked the other");
        return;
    }
    member *mb = member_get(s, true);
    channel *ch = channel_get(&ref, false);
    if (!joined(mb, ch)) {
        if (mb->n >= MAX_JOINED) {
            mb_session_error_reason(s, cid, "chat.join", MB_E_FORBIDDEN, "too_many_channels",
                                    "a connection can be in at most 64 channels");
            return;
        }
        ch = channel_get(&ref, true);
        channel_add(ch, mb);
    }
    if (cid)
        mb_session_send(
            s, "chat.joined", cid,
            json_pack("{s:s,s:I}", "channel_id", ref.view, "members", (json_int_t)ch->players.count));
}

static void on_leave(mb_session *s, const char *cid, json_t *payload)
{
    chat_ref ref;
    const char *why =
        chat_parse(json_string_value(json_object_get(payload, "channel_id")), mb_session_player(s), &ref);
    if (why) {
        mb_session_error_reason(s, cid, "chat.leave", MB_E_BAD_REQUEST, "bad_channel", why);
        return;
    }
    member *mb = member_get(s, false);
    channel *ch = channel_get(&ref, false);
    if (joined(mb, ch)) channel_remove(ch, mb);
    if (cid) mb_session_send(s, "chat.left", cid, json_pack("{s:s}", "channel_id", ref.view));
}

/* ---------------------------------------------------------------- send */

static void item_free(send_item *it)
{
    free(it->cid);
    free(it->content);
    free(it);
}

static void on_send(mb_session *s, const char *cid, json_t *payload)
{
    const char *pid = mb_session_player(s);
    chat_ref ref;
    const char *why = chat_parse(json_string_value(json_object_get(payload, "channel_id")), pid, &ref);
    if (why) {
        mb_session_error_reason(s, cid, "chat.send", MB_E_BAD_REQUEST, "bad_channel", why);
        return;
    }
    if (!joined(member_get(s, false), channel_get(&ref, false))) {
        mb_session_error_reason(s, cid, "chat.send", MB_E_FORBIDDEN, "not_joined",
                                "join the channel (chat.join) before sending to it");
        return;
    }
    json_t *cj = json_object_get(payload, "content");
    const char *content = json_string_value(cj);
    size_t bytes = json_string_length(cj), chars = mb_utf8_len(content, bytes);
    int max = chat_max_length;
    if (strlen(content) != bytes || chars == 0 || chars > (size_t)max) {
        char msg[96];
        snprintf(msg, sizeof msg, "content must be 1..%d characters without NUL", max);
        mb_session_error_reason(s, cid, "chat.send", MB_E_BAD_REQUEST,
                                chars > (size_t)max ? "too_long" : "bad_content", msg);
        return;
    }
    if (ref.kind == CHAT_MATCH && !in_match(&ref, pid)) {
        mb_session_error_reason(s, cid, "chat.send", MB_E_FORBIDDEN, "not_in_match",
                                "you are no longer a player of this match");
        return;
    }
    if (ref.kind == CHAT_DM && presence_blocked(pid, ref.peer)) {
        mb_session_error_reason(s, cid, "chat.send", MB_E_FORBIDDEN, "blocked",
                                "one of you blocked the other");
        return;
    }
    mb_bucket *b = mb_smap_get(&buckets, pid);
    double rate = chat_rate;
    if (!b) {
        b = mb_malloc(sizeof *b);
        mb_bucket_init(b, rate, mb_now_ms());
        mb_smap_put(&buckets, pid, b);
    }
    if (!mb_bucket_take(b, rate, rate, mb_now_ms())) {
        mb_session_error(s, cid, "chat.send", MB_E_RATE_LIMITED, "at most %d chat messages per second",
                         chat_rate);
        return;
    }
    char *filtered = NULL, reason[256];
    rpc_chat_verdict rc =
        rpc_chat_filter(pid, mb_session_username(s), ref.view, content, &filtered, reason, sizeof reason);
    if (rc == RPC_CHAT_ACCEPT && filtered) {
        size_t fb = strlen(filtered), fc = mb_utf8_len(filtered, fb);
        if (fc == 0 || fc > (size_t)max) {
            rc = RPC_CHAT_REJECTED;
            snprintf(reason, sizeof reason, "%s",
                     fc ? "the filtered message is too long" : "message filtered out");
        }
    }
    if (rc != RPC_CHAT_ACCEPT) {
        free(filtered);
        if (rc == RPC_CHAT_FAILED) mb_session_error(s, cid, "chat.send", MB_E_INTERNAL, "%s", reason);
        else mb_session_error_reason(s, cid, "chat.send", MB_E_FORBIDDEN, "rejected", reason);
        return;
    }
    if (!mb_db_available() || q_n >= PENDING_MAX) {
        free(filtered);
        mb_session_error(s, cid, "chat.send", MB_E_UNAVAILABLE,
                         q_n >= PENDING_MAX ? "chat is overloaded; retry shortly"
                                            : "database unavailable; retry shortly");
        return;
    }
    send_item *it = mb_calloc(1, sizeof *it);
    mb_uuid(it->id);
    it->sid = mb_session_id(s);
    it->cid = cid ? mb_strdup(cid) : NULL;
    it->ref = ref;
    snprintf(it->sender, sizeof it->sender, "%s", pid);
    it->content = filtered ? filtered : mb_strdup(content);
    if (q_tail) q_tail->next = it;
    else q_head = it;
    q_tail = it;
    q_n++;
}

/* ------------------------------------------------------- commit, fan-out */

/* chat.message to every member, the sender's socket with its cid. */
static void deliver(const send_item *it, const char *sent_at)
{
    channel *ch = mb_smap_get(&channels, it->ref.key);
    json_t *pl[2] = {NULL, NULL};
    mb_frame *fr[2] = {NULL, NULL};
    const char *a = it->ref.key + 3; /* DM: frame 0 for the lower id, 1 for the higher */
    match *m = it->ref.kind == CHAT_MATCH ? match_find(it->ref.match_id) : NULL;
    int sent = 0;
    for (size_t i = 0; ch && i <= ch->n; i++) {
        mb_session *s;
        bool mine = i == ch->n;
        if (mine) { /* last: the sender's own socket, joined or not */
            if (!it->cid || !(s = mb_session_get(it->sid))) break;
        } else {
            if (ch->sids[i] == it->sid && it->cid) continue;
            if (!(s = mb_session_get(ch->sids[i]))) continue;
        }
        const char *pid = mb_session_player(s);
        if (!mine && m != NULL && !match_has_player(m, pid)) continue;
        if (!mine && it->ref.kind == CHAT_MATCH && !m) continue;
        int w = it->ref.kind == CHAT_DM && strncmp(pid, a, 36) != 0 ? 1 : 0;
        if (!pl[w]) {
            char view[CHAT_CHANNEL_MAX + 1];
            view_for(&it->ref, it->ref.key, pid, view);
            pl[w] = json_pack("{s:s,s:s,s:s,s:s,s:s}", "channel_id", view, "sender_id", it->sender, "content",
                              it->content, "sent_at", sent_at, "message_id", it->id);
        }
        if (mine) {
            mb_session_send(s, "chat.message", it->cid, json_incref(pl[w]));
            continue;
        }
        if (!fr[w]) fr[w] = mb_frame_envelope("chat.message", NULL, pl[w]);
        mb_session_send_frame(s, fr[w]);
        sent++;
    }
    if (!ch && it->cid) { /* everyone left, the sender included: still one reply */
        mb_session *s = mb_session_get(it->sid);
        if (s) {
            char view[CHAT_CHANNEL_MAX + 1];
            view_for(&it->ref, it->ref.key, it->sender, view);
            mb_session_send(s, "chat.message", it->cid,
                            json_pack("{s:s,s:s,s:s,s:s,s:s}", "channel_id", view, "sender_id", it->sender,
                                      "content", it->content, "sent_at", sent_at, "message_id", it->id));
        }
    }
    *mb_metric_msg_out("chat.message") += sent;
    for (int w = 0; w < 2; w++) {
        json_decref(pl[w]);
        mb_frame_unref(fr[w]);
    }
    /* cluster: the members on other nodes (committed first, as here) */
    if (it->sid && cluster_enabled())
        cluster_broadcast("chat",
                          json_pack("{s:i,s:s,s:s,s:s,s:s,s:s,s:s}", "kind", (int)it->ref.kind, "key",
                                    it->ref.key, "match_id", it->ref.match_id, "sender", it->sender,
                                    "content", it->content, "sent_at", sent_at, "message_id", it->id));
}

/* A message committed on another node: to this node's members. */
static void remote_chat(const char *from, json_t *d)
{
    const char *key = json_string_value(json_object_get(d, "key"));
    const char *sender = json_string_value(json_object_get(d, "sender"));
    const char *content = json_string_value(json_object_get(d, "content"));
    const char *sent_at = json_string_value(json_object_get(d, "sent_at"));
    const char *mid = json_string_value(json_object_get(d, "message_id"));
    const char *match_id = json_string_value(json_object_get(d, "match_id"));
    if (!key || !sender || !content || !sent_at || !mid || !mb_smap_get(&channels, key)) return;
    send_item it = {0};
    it.ref.kind = (chat_kind)json_integer_value(json_object_get(d, "kind"));
    snprintf(it.ref.key, sizeof it.ref.key, "%s", key);
    snprintf(it.ref.match_id, sizeof it.ref.match_id, "%s", match_id ? match_id : "");
    snprintf(it.id, sizeof it.id, "%s", mid);
    snprintf(it.sender, sizeof it.sender, "%s", sender);
    it.content = (char *)content; /* borrowed: deliver only reads it */
    deliver(&it, sent_at);
}

static void batch_done(void *ud, const mb_db_result *res)
{
    send_item *list = ud;
    busy = false;
    mb_histogram_observe(commit_h, (double)(mb_now_us() - commit_started_us) / 1e6);
    *m_batches += 1;
    mb_smap rows;
    mb_smap_init(&rows);
    if (res->ok)
        for (int i = 0; i < PQntuples(res->res); i++)
            mb_smap_put(&rows, PQgetvalue(res->res, i, 0), (void *)(uintptr_t)(i + 1));
    for (send_item *it = list, *next; it; it = next) {
        next = it->next;
        uintptr_t row = res->ok ? (uintptr_t)mb_smap_get(&rows, it->id) : 0;
        mb_session *s = mb_session_get(it->sid);
        if (row) {
            *m_messages += 1;
            deliver(it, PQgetvalue(res->res, (int)row - 1, 1));
        } else if (res->ok) { /* the block check in the INSERT left it out */
            if (s)
                mb_session_error_reason(s, it->cid, "chat.send", MB_E_FORBIDDEN, "blocked",
                                        "one of you blocked the other");
        } else {
            *m_failed += 1;
            if (res->code == MB_E_UNAVAILABLE) social_undo_add("chat_messages", it->id);
            if (s)
                mb_session_error(
                    s, it->cid, "chat.send", res->code == MB_E_UNAVAILABLE ? MB_E_UNAVAILABLE : MB_E_INTERNAL,
                    res->code == MB_E_UNAVAILABLE ? "database unavailable; the message was not sent"
                                                  : "the message could not be stored");
        }
        item_free(it);
    }
    mb_smap_free(&rows);
}

static void chat_before_sleep(void)
{
    if (busy || !q_head) return;
    json_t *rows = json_array();
    send_item *list = q_head, *last = NULL;
    size_t k = 0;
    for (send_item *it = q_head; it && k < BATCH_MAX; it = it->next, k++) {
        json_array_append_new(rows,
                              json_pack("{s:s,s:s,s:s,s:s,s:o}", "id", it->id, "channel_id", it->ref.key,
                                        "sender_id", it->sender, "content", it->content, "peer",
                                        it->ref.kind == CHAT_DM ? json_string(it->ref.peer) : json_null()));
        last = it;
    }
    /* q_head was not NULL, so the loop ran at least once and last is set */
    // cppcheck-suppress nullPointer
    q_head = last->next;
    if (!q_head) q_tail = NULL;
    last->next = NULL;
    q_n -= k;
    char *param = json_dumps(rows, JSON_COMPACT);
    json_decref(rows);
    const char *p[] = {param};
    busy = true;
    commit_started_us = mb_now_us();
    mb_db_query(insert_sql, 1, p, batch_done, list);
    free(param);
}

/* ------------------------------------ GET /v1/chat/{channel_id}/messages */

typedef struct hist_ctx {
    mb_http_req *req;
    chat_ref ref;
    char me[40];
    char before[37];
    long long limit;
    bool admin; /* admin route: channel_id is ref.key, rows carry sender_username */
} hist_ctx;

static void history_done(void *ud, const mb_db_result *res)
{
    hist_ctx *c = ud;
    if (!res->ok) {
        mb_http_db_error(c->req, res, NULL);
        free(c);
        return;
    }
    int rows = PQntuples(res->res);
    int shown = rows > c->limit ? (int)c->limit : rows;
    const char *chan = c->admin ? c->ref.key : c->ref.view;
    json_t *arr = json_array();
    for (int i = 0; i < shown; i++) {
        json_t *m = json_pack("{s:s,s:s,s:s,s:s,s:s}", "message_id", PQgetvalue(res->res, i, 0), "channel_id",
                              chan, "sender_id", PQgetvalue(res->res, i, 1), "content",
                              PQgetvalue(res->res, i, 2), "sent_at", PQgetvalue(res->res, i, 3));
        if (c->admin)
            json_object_set_new(m, "sender_username",
                                PQgetisnull(res->res, i, 4) ? json_null()
                                                            : json_string(PQgetvalue(res->res, i, 4)));
        json_array_append_new(arr, m);
    }
    json_t *next = rows > shown && shown > 0 ? json_string(PQgetvalue(res->res, shown - 1, 0)) : json_null();
    mb_http_respond(c->req, 200,
                    json_pack("{s:s,s:o,s:o}", "channel_id", chan, "messages", arr, "next_cursor", next));
    free(c);
}

static void history_query(hist_ctx *c)
{
    char lim[24];
    snprintf(lim, sizeof lim, "%lld", c->limit + 1);
    char *undo = social_undo_ids("chat_messages");
    const char *p[] = {c->ref.key, c->before[0] ? c->before : NULL, undo, lim};
    if (c->admin)
        mb_db_query(
            "SELECT m.id::text, m.sender_id::text, m.content, " SOCIAL_TS(
                "m.sent_at") ", a.username"
                             " FROM chat_messages m LEFT JOIN accounts a ON a.id = m.sender_id"
                             " WHERE m.channel_id = $1 AND ($2::uuid IS NULL OR"
                             "  m.seq < (SELECT seq FROM chat_messages WHERE id = $2::uuid AND channel_id = $1))"
                             " AND NOT (m.id = ANY($3::uuid[])) ORDER BY m.seq DESC LIMIT $4::int",
            4, p, history_done, c);
    else
        mb_db_query(
            "SELECT id::text, sender_id::text, content, " SOCIAL_TS(
                "sent_at") " FROM chat_messages"
                           " WHERE channel_id = $1 AND ($2::uuid IS NULL OR"
                           "  seq < (SELECT seq FROM chat_messages WHERE id = $2::uuid AND channel_id = $1))"
                           " AND NOT (id = ANY($3::uuid[])) ORDER BY seq DESC LIMIT $4::int",
            4, p, history_done, c);
    free(undo);
}

static void access_done(void *ud, const mb_db_result *res)
{
    hist_ctx *c = ud;
    if (!res->ok) {
        mb_http_db_error(c->req, res, NULL);
        free(c);
    } else if (PQntuples(res->res) == 0) {
        mb_http_error(c->req, MB_E_FORBIDDEN, "only the players of this match can read its channel");
        free(c);
    } else history_query(c);
}

static const char *field_before(const json_t *v)
{
    return mb_uuid_valid(json_string_value(v)) ? NULL : "before must be a message_id";
}

/* limit= and before= of both history routes */
static const mb_field history_query_fields[] = {
    {"limit", MB_F_STRING, false, 0, 0, social_field_limit, "integer >= 1 (at most 100 are returned)"},
    {"before", MB_F_STRING, false, 0, 0, field_before, "message_id (uuid)"},
    {NULL},
};

static void route_history(mb_http_req *r)
{
    hist_ctx *c = mb_calloc(1, sizeof *c);
    c->req = r;
    snprintf(c->me, sizeof c->me, "%s", mb_http_player(r));
    const char *why = chat_parse(mb_http_param(r, 0), c->me, &c->ref);
    const char *before = mb_http_query(r, "before");
    if (!why && before && *before) mb_uuid_lower(before, c->before); /* declared: history_query_fields */
    if (why) {
        mb_http_error(r, MB_E_BAD_REQUEST, "%s", why);
        free(c);
        return;
    }
    if (social_query_int(r, "limit", HISTORY_DEFAULT, 1, HISTORY_MAX, &c->limit) != MB_OK) {
        free(c);
        return;
    }
    if (c->ref.kind != CHAT_MATCH || in_match(&c->ref, c->me)) {
        history_query(c);
        return;
    }
    /* Not seated now: allowed for a player of the finished match. */
    if (match_find(c->ref.match_id) || !mb_uuid_valid(c->ref.match_id)) {
        mb_http_error(r, MB_E_FORBIDDEN, "only the players of this match can read its channel");
        free(c);
        return;
    }
    const char *p[] = {c->ref.match_id, c->me};
    mb_db_query("SELECT 1 FROM matches WHERE id = $1::uuid"
                " AND players @> jsonb_build_array(jsonb_build_object('player_id', $2::text))",
                2, p, access_done, c);
}

/* ------------------------------------------------------------ admin routes */

/* GET /v1/admin/chat/channels: live channels (at least one member), most
 * members first, at most ADMIN_CHANNELS_MAX. */
#define ADMIN_CHANNELS_MAX 500

static const char *kind_name(chat_kind k) { return k == CHAT_MATCH ? "match" : k == CHAT_DM ? "dm" : "room"; }

static int channel_cmp(const void *x, const void *y)
{
    const channel *a = *(channel *const *)x, *b = *(channel *const *)y;
    if (a->players.count != b->players.count) return a->players.count < b->players.count ? 1 : -1;
    return strcmp(a->key, b->key);
}

static void route_admin_channels(mb_http_req *r)
{
    size_t n = 0, it = 0;
    void *v;
    channel **all = mb_malloc((channels.count ? channels.count : 1) * sizeof *all);
    while (mb_smap_next(&channels, &it, NULL, &v))
        if (((channel *)v)->n > 0 && n < channels.count) all[n++] = v;
    qsort(all, n, sizeof *all, channel_cmp);
    json_t *arr = json_array();
    for (size_t i = 0; i < n && i < ADMIN_CHANNELS_MAX; i++) {
        const channel *ch = all[i];
        json_t *o = json_pack("{s:s,s:s,s:I,s:I}", "channel_id", ch->key, "kind", kind_name(ch->kind),
                              "members", (json_int_t)ch->players.count, "sockets", (json_int_t)ch->n);
        if (ch->kind == CHAT_MATCH) json_object_set_new(o, "match_id", json_string(ch->key + 6));
        if (ch->kind == CHAT_DM) { /* key = dm:<low>:<high> */
            char a[37], b[37];
            snprintf(a, sizeof a, "%.36s", ch->key + 3);
            snprintf(b, sizeof b, "%.36s", ch->key + 3 + 37);
            json_object_set_new(o, "player_ids", json_pack("[s,s]", a, b));
        }
        json_array_append_new(arr, o);
    }
    free(all);
    mb_http_respond(r, 200, json_pack("{s:o,s:I}", "channels", arr, "total", (json_int_t)n));
}

/* A storage key as the admin names it: rooms and match:<id> as players do,
 * direct channels as dm:<a>:<b> (either order, any case). NULL or why not. */
static const char *admin_key(const char *id, chat_ref *out)
{
    memset(out, 0, sizeof *out);
    size_t n = strlen(id);
    if (strncmp(id, "dm:", 3) == 0) {
        char a[37], b[37];
        if (n != 3 + 36 + 1 + 36 || id[3 + 36] != ':')
            return "direct channels are named dm:<player_id>:<player_id>";
        memcpy(a, id + 3, 36);
        a[36] = '\0';
        memcpy(b, id + 3 + 37, 36);
        b[36] = '\0';
        if (!mb_uuid_valid(a) || !mb_uuid_valid(b))
            return "direct channels are named dm:<player_id>:<player_id>";
        char la[37], lb[37];
        mb_uuid_lower(a, la);
        mb_uuid_lower(b, lb);
        bool low = strcmp(la, lb) < 0;
        out->kind = CHAT_DM;
        snprintf(out->key, sizeof out->key, "dm:%s:%s", low ? la : lb, low ? lb : la);
        return NULL;
    }
    return chat_parse(id, "", out);
}

/* GET /v1/admin/chat/{channel_id}/messages?limit=&before= */
static void route_admin_messages(mb_http_req *r)
{
    hist_ctx *c = mb_calloc(1, sizeof *c);
    c->req = r;
    c->admin = true;
    const char *why = admin_key(mb_http_param(r, 0), &c->ref);
    const char *before = mb_http_query(r, "before");
    if (!why && before && *before) mb_uuid_lower(before, c->before); /* declared: history_query_fields */
    if (why) {
        mb_http_error(r, MB_E_BAD_REQUEST, "%s", why);
        free(c);
        return;
    }
    if (social_query_int(r, "limit", HISTORY_DEFAULT, 1, HISTORY_MAX, &c->limit) != MB_OK) {
        free(c);
        return;
    }
    history_query(c);
}

/* ------------------------------------------------------------- module */

static const mb_field channel_fields[] = {
    {"channel_id", MB_F_STRING, true, 0, 0},
    {NULL},
};
static const mb_field send_fields[] = {
    {"channel_id", MB_F_STRING, true, 0, 0},
    {"content", MB_F_STRING, true, 0, 0}, /* length checked against --chat-max-length */
    {NULL},
};

static const mb_msg_def messages[] = {
    {"chat.join", channel_fields, on_join, false},
    {"chat.leave", channel_fields, on_leave, false},
    {"chat.send", send_fields, on_send, false},
};

static const mb_route routes[] = {
    {"GET", "/v1/chat/{channel_id}/messages", route_history, MB_AUTH_BEARER, false, NULL, 0,
     history_query_fields},
    {"GET", "/v1/admin/chat/channels", route_admin_channels, MB_AUTH_ADMIN, false},
    {"GET", "/v1/admin/chat/{channel_id}/messages", route_admin_messages, MB_AUTH_ADMIN, false, NULL, 0,
     history_query_fields},
};

static mb_status chat_init(void)
{
    if (cluster_enabled()) cluster_on_bus("chat", remote_chat);
    mb_smap_init(&channels);
    mb_imap_init(&members);
    mb_smap_init(&buckets);
    mb_metric_table_smap("chat_channels", &channels);
    mb_metric_table_imap("chat_members", &members);
    mb_metric_table_smap("chat_rate_buckets", &buckets);
    m_messages =
        mb_metric("moonbase_chat_messages_total", "", MB_COUNTER, "chat messages committed and sent");
    m_batches =
        mb_metric("moonbase_chat_commits_total", "", MB_COUNTER, "chat INSERT statements (group commits)");
    m_failed = mb_metric("moonbase_chat_failed_total", "", MB_COUNTER,
                         "chat messages refused because the INSERT failed");
    static const double bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1};
    commit_h =
        mb_histogram_new("moonbase_chat_commit_seconds", "chat group commit: INSERT sent to result read",
                         bounds, MB_ARRAY_LEN(bounds));
    return MB_OK;
}

static void chat_destroy(void)
{
    size_t it = 0;
    void *v;
    while (mb_smap_next(&channels, &it, NULL, &v)) channel_free(v);
    mb_smap_free(&channels);
    it = 0;
    while (mb_imap_next(&members, &it, NULL, &v)) free(v);
    mb_imap_free(&members);
    it = 0;
    while (mb_smap_next(&buckets, &it, NULL, &v)) free(v);
    mb_smap_free(&buckets);
    while (q_head) {
        send_item *next = q_head->next;
        item_free(q_head);
        q_head = next;
    }
    q_tail = NULL;
    q_n = 0;
    busy = false;
    n_memberships = 0;
}

static char *chat_metrics(void)
{
    return mb_sprintf("# HELP moonbase_chat_channels channels with at least one member\n"
                      "# TYPE moonbase_chat_channels gauge\nmoonbase_chat_channels %zu\n"
                      "# HELP moonbase_chat_members channel memberships (sockets x channels)\n"
                      "# TYPE moonbase_chat_members gauge\nmoonbase_chat_members %zu\n"
                      "# HELP moonbase_chat_pending messages waiting for their INSERT\n"
                      "# TYPE moonbase_chat_pending gauge\nmoonbase_chat_pending %zu\n",
                      channels.count, n_memberships, q_n);
}

static const mb_option options[] = {
    {"chat-rate", MB_OPT_I(chat_rate), "10", 1, 10000, "chat.send per second per player"},
    {"chat-max-length", MB_OPT_I(chat_max_length), "2000", 1, 100000, "longest chat message, characters"},
    {NULL},
};

const mb_module chat_module = {
    .api = MB_MODULE_API,
    .name = "chat",
    .requires = MB_REQUIRES("match", "social", "rpc", "cluster"),
    .options = options,
    .init = chat_init,
    .destroy = chat_destroy,
    .messages = messages,
    .n_messages = MB_ARRAY_LEN(messages),
    .routes = routes,
    .n_routes = MB_ARRAY_LEN(routes),
    .session_closed = session_closed,
    .before_sleep = chat_before_sleep,
    .metrics = chat_metrics,
};
