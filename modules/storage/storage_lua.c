/*
 * storage_lua.c - moonbase.storage.read / write / list / delete for scripts
 * (docs/STORAGE.md "Lua", docs/LUA_API.md).
 *
 * In server.lua's RPC handlers the call waits for PostgreSQL without
 * blocking the loop: the RPC runs as a task (runtime/lua/task.h), the call
 * suspends it and the answer resumes it, so the function returns the
 * result directly. These calls act as the server: permissions are not
 * checked and each item names its owner (owner_id; absent = the server's
 * object). Failures return nil, "<code>: <message>" (code: bad_request,
 * conflict, forbidden, unavailable, internal).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert.h"
#include "match.h"
#include "match_ext.h"
#include "storage.h"
#include "task.h"

/* Where the calls may run: RPC handlers (each runs as a task: the call
 * waits); match callbacks (writes and deletes are queued, reads answer
 * through a callback at a later tick): not in get_state (pure) nor reload
 * (may be rolled back); reads not in terminate (no later tick). */
#define RPC_CTX MATCH_CTX_BIT(MATCH_CTX_RPC)
#define MATCH_WRITE_CTX \
    (MATCH_CTX_EVENTS | MATCH_CTX_BIT(MATCH_CTX_INIT) | MATCH_CTX_BIT(MATCH_CTX_TERMINATE))
#define MATCH_READ_CTX (MATCH_CTX_EVENTS | MATCH_CTX_BIT(MATCH_CTX_INIT))
#define MATCH_QUEUE_MAX 1000 /* queued write batches per match */

static size_t pending; /* operations started from scripts, not answered yet */

size_t storage_lua_pending(void) { return pending; }

typedef struct lua_op {
    mb_lua_task *task;
    int kind; /* 'r' read, 'w' write, 'l' list, 'd' delete */
} lua_op;

static int fail(lua_State *L, const char *code, const char *msg)
{
    lua_pushnil(L);
    lua_pushfstring(L, "%s: %s", code, msg);
    return 2;
}

/* The answer: push the results on the VM's main stack and resume. */
static void lua_op_done(void *ud, const storage_result *r)
{
    lua_op *o = ud;
    pending--;
    mb_lua_vm *vm = mb_lua_task_vm(o->task);
    lua_State *L = mb_lua_vm_state(vm);
    int n = 2;
    if (!r->ok) {
        lua_pushnil(L);
        lua_pushfstring(L, "%s: %s", mb_errcode_str(r->code), r->message);
    } else {
        char err[256];
        if (mb_lua_push_json_text(vm, r->json, r->len, 0, err, sizeof err) != MB_LUA_OK) {
            lua_pushnil(L);
            lua_pushfstring(L, "internal: the answer does not fit in the script: %s", err);
        } else if (o->kind == 'd') {
            lua_getfield(L, -1, "deleted");
            lua_remove(L, -2);
            n = 1;
        } else if (o->kind == 'l') {
            lua_getfield(L, -1, "objects");
            lua_getfield(L, -2, "cursor");
            lua_remove(L, -3);
            if (lua_type(L, -1) == LUA_TLIGHTUSERDATA) { /* moonbase.null: no more */
                lua_pop(L, 1);
                lua_pushnil(L);
            }
        } else {
            lua_getfield(L, -1, "objects");
            lua_remove(L, -2);
            n = 1;
        }
    }
    mb_lua_task *t = o->task;
    free(o);
    mb_lua_task_resume(t, n);
}

/* Is the running callback a match's (true) or an RPC's? Raises for any
 * other context. */
static bool in_match(lua_State *L, unsigned allowed, const char *what)
{
    match_lua_check_context(L, RPC_CTX | allowed, what);
    mb_lua_vm *vm = mb_lua_vm_from_state(L);
    return mb_lua_vm_context(vm) != MATCH_CTX_RPC;
}

static int not_waitable(lua_State *L, const char *what)
{
    lua_pushnil(L);
    lua_pushfstring(L,
                    "bad_request: %s must be called from the RPC handler itself (not from a coroutine the "
                    "script made)",
                    what);
    return 2;
}

/* Arg 1 as a jansson batch checked for the server, or NULL with nil, err pushed. */
static json_t *batch_arg(lua_State *L, bool objects, bool versions, const char *what)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    char err[512];
    json_t *v = mb_lua_to_json(L, 1, err, sizeof err);
    if (!v) {
        fail(L, "bad_request", err);
        return NULL;
    }
    json_t *b = objects ? storage_check_objects(v, NULL, what, err, sizeof err)
                        : storage_check_ids(v, NULL, versions, what, err, sizeof err);
    json_decref(v);
    if (!b) fail(L, "bad_request", err);
    return b;
}

#define BEGIN(what)                          \
    mb_lua_task *t = mb_lua_task_current(L); \
    if (!t) return not_waitable(L, what);

static int match_read(lua_State *L);
static int match_queue(lua_State *L, int kind, json_t *batch);

/* moonbase.storage.read(ids) -> objects | nil, err
 * in a match: read(ids, fn) -> true | nil, err; later fn(match, state, objects | nil, err) */
static int l_read(lua_State *L)
{
    if (in_match(L, MATCH_READ_CTX, "moonbase.storage.read")) return match_read(L);
    BEGIN("moonbase.storage.read");
    json_t *b = batch_arg(L, false, false, "ids");
    if (!b) return 2;
    lua_op *o = mb_calloc(1, sizeof *o);
    o->task = t;
    o->kind = 'r';
    pending++;
    storage_read(NULL, b, lua_op_done, o);
    json_decref(b);
    return mb_lua_task_yield(L);
}

/* moonbase.storage.write(objects) -> acks | nil, err */
static int l_write(lua_State *L)
{
    bool m = in_match(L, MATCH_WRITE_CTX, "moonbase.storage.write");
    mb_lua_task *t = m ? NULL : mb_lua_task_current(L);
    if (!m && !t) return not_waitable(L, "moonbase.storage.write");
    json_t *b = batch_arg(L, true, true, "objects");
    if (!b) return 2;
    if (m) return match_queue(L, 'w', b);
    lua_op *o = mb_calloc(1, sizeof *o);
    o->task = t;
    o->kind = 'w';
    pending++;
    storage_write(NULL, b, lua_op_done, o);
    json_decref(b);
    return mb_lua_task_yield(L);
}

/* moonbase.storage.delete(ids) -> count | nil, err */
static int l_delete(lua_State *L)
{
    bool m = in_match(L, MATCH_WRITE_CTX, "moonbase.storage.delete");
    mb_lua_task *t = m ? NULL : mb_lua_task_current(L);
    if (!m && !t) return not_waitable(L, "moonbase.storage.delete");
    json_t *b = batch_arg(L, false, true, "ids");
    if (!b) return 2;
    if (m) return match_queue(L, 'd', b);
    lua_op *o = mb_calloc(1, sizeof *o);
    o->task = t;
    o->kind = 'd';
    pending++;
    storage_delete(NULL, b, lua_op_done, o);
    json_decref(b);
    return mb_lua_task_yield(L);
}

/* moonbase.storage.list(collection, owner_id?, limit?, cursor?) -> objects, cursor | nil, err
 * owner_id nil: the server's objects; "*": every owner. */
static int l_list(lua_State *L)
{
    match_lua_check_context(L, RPC_CTX, "moonbase.storage.list");
    BEGIN("moonbase.storage.list");
    const char *c = luaL_checkstring(L, 1);
    const char *owner = luaL_optstring(L, 2, NULL);
    lua_Integer limit = luaL_optinteger(L, 3, 25);
    const char *cursor = luaL_optstring(L, 4, NULL);
    const char *why = storage_check_collection(c);
    if (why) return fail(L, "bad_request", why);
    bool all = owner && strcmp(owner, "*") == 0;
    if (owner && !all && !mb_uuid_valid(owner))
        return fail(L, "bad_request", "owner_id must be a player id, nil or \"*\"");
    if (limit < 1 || limit > 1000) return fail(L, "bad_request", "limit must be 1..1000");
    if (cursor && (strlen(cursor) < 38 || cursor[36] != ':'))
        return fail(L, "bad_request", "cursor is not one this server returned");
    lua_op *o = mb_calloc(1, sizeof *o);
    o->task = t;
    o->kind = 'l';
    pending++;
    storage_list(NULL, c, all ? NULL : owner, all, (int)limit, cursor, lua_op_done, o);
    return mb_lua_task_yield(L);
}

/* ------------------------------------------------- match callbacks */

/* A match's queued writes: one batch in flight at a time, in the order the
 * script made them; retried while PostgreSQL is unavailable; a batch
 * refused for good (conflict, forbidden, bad owner) is logged and dropped.
 * match.finished waits until the queue is empty (finish_gate). */
typedef struct mq_item {
    int kind; /* 'w' or 'd' */
    json_t *batch;
    struct mq_item *next;
} mq_item;

typedef struct mq {
    char match_id[40];
    mq_item *head, *tail;
    size_t n;
    bool inflight;
    int delay_ms;
    ev_timer retry;
    json_t *held_ids, *held_payload; /* match.finished waiting for the queue */
    struct mq *next;
} mq;

static mq *queues;
static double *m_match_pending, *m_match_dropped;

static void mq_pump(mq *q);

static mq *mq_find(const char *match_id)
{
    for (mq *q = queues; q; q = q->next)
        if (strcmp(q->match_id, match_id) == 0) return q;
    return NULL;
}

static void mq_retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    mq_pump((mq *)w->data);
}

static void update_gauge(void)
{
    size_t n = 0;
    for (mq *q = queues; q; q = q->next) n += q->n;
    *m_match_pending = (double)n;
}

static void mq_free(mq *q)
{
    for (mq **p = &queues; *p; p = &(*p)->next)
        if (*p == q) {
            *p = q->next;
            break;
        }
    if (mb_loop()) ev_timer_stop(mb_loop(), &q->retry);
    while (q->head) {
        mq_item *it = q->head;
        q->head = it->next;
        json_decref(it->batch);
        free(it);
    }
    json_decref(q->held_ids);
    json_decref(q->held_payload);
    free(q);
}

/* The queue is empty: send a held match.finished; forget a queue whose match ended. */
static void mq_drained(mq *q)
{
    if (q->held_payload) {
        for (size_t i = 0; i < json_array_size(q->held_ids); i++)
            mb_player_send(json_string_value(json_array_get(q->held_ids, i)), "match.finished",
                           q->held_payload);
        mb_debug("storage_match_finished_sent", "match=%s", q->match_id);
    }
    if (q->held_payload || !match_find(q->match_id)) mq_free(q);
}

static void mq_done(void *ud, const storage_result *r)
{
    mq *q = ud;
    q->inflight = false;
    if (!r->ok && r->retry) {
        q->delay_ms = q->delay_ms ? (q->delay_ms * 2 > 5000 ? 5000 : q->delay_ms * 2) : 100;
        mb_warn("storage_match_write_retry", "match=%s delay_ms=%d", q->match_id, q->delay_ms);
        ev_timer_set(&q->retry, q->delay_ms / 1000.0, 0);
        ev_timer_start(mb_loop(), &q->retry);
        return;
    }
    q->delay_ms = 0;
    mq_item *it = q->head;
    if (!r->ok) {
        *m_match_dropped += 1;
        char m[600];
        mb_error("storage_match_write_failed", "match=%s code=%s error=%s", q->match_id,
                 mb_errcode_str(r->code), mb_log_quote(m, sizeof m, r->message));
    }
    q->head = it->next;
    if (!q->head) q->tail = NULL;
    q->n--;
    json_decref(it->batch);
    free(it);
    update_gauge();
    if (!q->head) mq_drained(q);
    else mq_pump(q);
}

static void mq_pump(mq *q)
{
    if (q->inflight || !q->head || ev_is_active(&q->retry)) return;
    q->inflight = true;
    if (q->head->kind == 'w') storage_write(NULL, q->head->batch, mq_done, q);
    else storage_delete(NULL, q->head->batch, mq_done, q);
}

static int match_queue(lua_State *L, int kind, json_t *batch)
{
    match *m = mb_lua_vm_get_host(mb_lua_vm_from_state(L));
    if (!m || !mb_loop()) {
        json_decref(batch);
        return fail(L, "unavailable", "no database here (moonbase simulate)");
    }
    mq *q = mq_find(match_id(m));
    if (q && q->n >= MATCH_QUEUE_MAX) {
        json_decref(batch);
        return fail(L, "unavailable", "too many queued storage writes for this match (1000)");
    }
    if (!q) {
        q = mb_calloc(1, sizeof *q);
        snprintf(q->match_id, sizeof q->match_id, "%s", match_id(m));
        ev_init(&q->retry, mq_retry_cb);
        q->retry.data = q;
        q->next = queues;
        queues = q;
    }
    mq_item *it = mb_calloc(1, sizeof *it);
    it->kind = kind;
    it->batch = batch;
    if (q->tail) q->tail->next = it;
    else q->head = it;
    q->tail = it;
    q->n++;
    update_gauge();
    mq_pump(q);
    lua_pushboolean(L, 1);
    return 1;
}

static bool finish_gate(const char *match_id, json_t *player_ids, json_t *payload)
{
    mq *q = mq_find(match_id);
    if (!q) return false;
    if (!q->head) { /* all committed: nothing to wait for */
        mq_free(q);
        return false;
    }
    q->held_ids = json_incref(player_ids);
    q->held_payload = json_incref(payload);
    mb_debug("storage_match_finished_held", "match=%s queued=%zu", match_id, q->n);
    return true;
}

/* A read from a match: answered at the match's next tick. */
typedef struct mread {
    char match_id[40];
    mb_lua_vm *vm; /* the match's VM when asked: a hot reload replaces it */
    int ref;       /* the callback, in that VM */
} mread;

/* fn(match, state) as a timer: calls upvalue 1 with (match, state, upvalue 2, upvalue 3). */
static int call_bound(lua_State *L)
{
    lua_settop(L, 2);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_pushvalue(L, lua_upvalueindex(2));
    lua_pushvalue(L, lua_upvalueindex(3));
    lua_call(L, 4, 0);
    return 0;
}

static void mread_done(void *ud, const storage_result *r)
{
    mread *o = ud;
    pending--;
    match *m = match_find(o->match_id);
    if (!m || match_vm(m) != o->vm) {
        mb_info("storage_match_read_dropped", "match=%s reason=%s", o->match_id, m ? "reloaded" : "ended");
        free(o);
        return;
    }
    lua_State *L = mb_lua_vm_state(o->vm);
    lua_rawgeti(L, LUA_REGISTRYINDEX, o->ref);
    luaL_unref(L, LUA_REGISTRYINDEX, o->ref);
    char err[256];
    if (!r->ok) {
        lua_pushnil(L);
        lua_pushfstring(L, "%s: %s", mb_errcode_str(r->code), r->message);
    } else if (mb_lua_push_json_text(o->vm, r->json, r->len, 0, err, sizeof err) != MB_LUA_OK) {
        lua_pushnil(L);
        lua_pushfstring(L, "internal: the answer does not fit in the script: %s", err);
    } else {
        lua_getfield(L, -1, "objects");
        lua_remove(L, -2);
        lua_pushnil(L);
    }
    lua_pushcclosure(L, call_bound, 3);
    match_after_now(m);
    free(o);
}

static int match_read(lua_State *L)
{
    luaL_checktype(L, 2, LUA_TFUNCTION);
    match *m = mb_lua_vm_get_host(mb_lua_vm_from_state(L));
    if (!m || !mb_loop()) return fail(L, "unavailable", "no database here (moonbase simulate)");
    lua_settop(L, 2);
    json_t *b = batch_arg(L, false, false, "ids");
    if (!b) return 2;
    mread *o = mb_calloc(1, sizeof *o);
    snprintf(o->match_id, sizeof o->match_id, "%s", match_id(m));
    o->vm = mb_lua_vm_from_state(L);
    lua_pushvalue(L, 2);
    o->ref = luaL_ref(L, LUA_REGISTRYINDEX);
    pending++;
    storage_read(NULL, b, mread_done, o);
    json_decref(b);
    lua_pushboolean(L, 1);
    return 1;
}

size_t storage_lua_queued(void)
{
    size_t n = 0;
    for (mq *q = queues; q; q = q->next) n += q->n;
    return n;
}

void storage_lua_init(void)
{
    m_match_pending = mb_metric("moonbase_storage_match_writes_queued", "", MB_GAUGE,
                                "storage write batches from matches not committed yet");
    m_match_dropped = mb_metric("moonbase_storage_match_writes_dropped_total", "", MB_COUNTER,
                                "storage write batches from matches refused for good (logged)");
    match_set_finish_gate(finish_gate);

    match_ext_add_function("storage.read", l_read, MATCH_CTX_ANY);     /* checks its contexts itself */
    match_ext_add_function("storage.write", l_write, MATCH_CTX_ANY);   /* checks its contexts itself */
    match_ext_add_function("storage.list", l_list, MATCH_CTX_ANY);     /* checks its contexts itself */
    match_ext_add_function("storage.delete", l_delete, MATCH_CTX_ANY); /* checks its contexts itself */
}

void storage_lua_destroy(void)
{
    while (queues) {
        if (queues->n)
            mb_error("storage_match_writes_lost", "match=%s batches=%zu", queues->match_id, queues->n);
        mq_free(queues);
    }
}
