/*
 * storage.h - storage objects (modules/storage, docs/STORAGE.md):
 * (collection, key, owner) -> a JSON object value with a version and read /
 * write permissions, in PostgreSQL (migrations/0008_storage.sql).
 *
 *   storage.c         validation, the four operations, the options
 *   storage_lua.c     moonbase.storage.read/write/list/delete for scripts:
 *                     server.lua RPCs wait for the answer in a task
 *                     (runtime/lua/task.h); match callbacks queue writes
 *                     and get reads through a callback
 *   storage_module.c  the module record (init/destroy of both files
 *                     above), player REST (/v1/storage...) and admin REST
 *                     (/v1/admin/storage...)
 *
 * The calls run one way: storage_module.c -> storage_lua.c -> storage.c.
 *
 * Every operation is one SQL statement (one transaction): a batch is
 * written, read or deleted whole or not at all. Loop thread only.
 */
#ifndef MB_STORAGE_H
#define MB_STORAGE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "server.h"

#define STORAGE_NAME_MAX 128 /* characters of a collection or a key */
/* Deepest value: a read's answer ({"objects": [{"value": ...}]}) must decode
 * into Lua, whose decoder stops at 32 levels. */
#define STORAGE_VALUE_DEPTH 29

/* The answer of an operation. ok: json/len is the result as JSON text
 * (the REST body: {"objects": [...]}, with "cursor" for a list,
 * {"deleted": n} for a delete). !ok: code and a client-facing message. */
typedef struct storage_result {
    bool ok;
    bool retry; /* !ok: nothing was written and the same call may succeed later
                   (unavailable, or a deadlock with a concurrent batch) */
    mb_errcode code;
    const char *message;
    const char *json;
    size_t len;
} storage_result;
typedef void (*storage_cb)(void *ud, const storage_result *r);

/* Check a batch and build what the operations take (new reference), or
 * NULL with a client-facing reason in err. caller: the player making the
 * call, or NULL for the server (owner_id taken from each item, absent or
 * null = the server's object). what names the array in errors ("objects",
 * "ids"). */
json_t *storage_check_objects(const json_t *objects, const char *caller, const char *what, char *err,
                              size_t errlen);
/* ids: [{collection, key, owner_id?, version?}]; versions: a version is
 * allowed (delete). A player's id without owner_id means its own object. */
json_t *storage_check_ids(const json_t *ids, const char *caller, bool versions, const char *what, char *err,
                          size_t errlen);
/* A collection name: 1..128 of [A-Za-z0-9_.:-], or NULL with the reason. */
const char *storage_check_collection(const char *s);

/* The operations; cb runs exactly once, later, on the loop. caller NULL:
 * the server (permissions bypassed). batch: from storage_check_* (borrowed). */
void storage_write(const char *caller, const json_t *batch, storage_cb cb, void *ud);
void storage_read(const char *caller, const json_t *batch, storage_cb cb, void *ud);
void storage_delete(const char *caller, const json_t *batch, storage_cb cb, void *ud);
/* One owner's objects of a collection by key (owner NULL: the server's;
 * all_owners: every owner, server callers only), limit objects after the
 * cursor (NULL: from the start). A player sees its own readable objects
 * and other owners' public ones. */
void storage_list(const char *caller, const char *collection, const char *owner, bool all_owners, int limit,
                  const char *cursor, storage_cb cb, void *ud);

/* The options (storage-max-*) and the metrics of the operations
 * (storage_ops_init: once, from the module's init). */
extern const mb_option storage_options[];
void storage_ops_init(void);

/* storage_lua.c */
void storage_lua_init(void);
void storage_lua_destroy(void);
size_t storage_lua_pending(void); /* operations of scripts waiting for PostgreSQL */
size_t storage_lua_queued(void);  /* write batches of matches not committed yet */

/* storage_module.c */
extern const mb_module storage_module;

#endif
