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
#include "storage.h"
#include "task.h"

/* Where the waiting calls may run: RPC handlers (each runs as a task). */
#define STORAGE_CONTEXTS MATCH_CTX_BIT(MATCH_CTX_RPC)

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

/* The task to suspend, or NULL (then nil, err is pushed: *ret = 2). */
static mb_lua_task *waitable(lua_State *L, const char *what)
{
    match_lua_check_context(L, STORAGE_CONTEXTS, what);
    return mb_lua_task_current(L);
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

#define BEGIN(what)                     \
    mb_lua_task *t = waitable(L, what); \
    if (!t) return not_waitable(L, what);

/* moonbase.storage.read(ids) -> objects | nil, err */
static int l_read(lua_State *L)
{
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
    BEGIN("moonbase.storage.write");
    json_t *b = batch_arg(L, true, true, "objects");
    if (!b) return 2;
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
    BEGIN("moonbase.storage.delete");
    json_t *b = batch_arg(L, false, true, "ids");
    if (!b) return 2;
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

void storage_lua_init(void)
{
    modes_add_lua_function("storage.read", l_read);
    modes_add_lua_function("storage.write", l_write);
    modes_add_lua_function("storage.list", l_list);
    modes_add_lua_function("storage.delete", l_delete);
}

void storage_lua_destroy(void) {}
