/*
 * convert.h - JSON <-> Lua values.
 *
 * JSON -> Lua (mb_lua_push_json):
 *   object -> table with string keys      array -> table 1..n
 *   string -> string   number -> number (integers beyond 2^53 lose precision)
 *   true/false -> boolean
 *   null -> nil, except as an array element, where it is moonbase.null (a
 *           lightuserdata NULL, the same value as lua-cjson's cjson.null) so
 *           that indices stay dense. {"a": null} therefore gives a table
 *           without key "a"; a top-level null gives nil.
 *   An empty JSON array gets the array marker (see below) so it encodes back
 *   as [].
 *
 * Lua -> JSON (mb_lua_to_json, mb_lua_encode_json; same rules, same errors):
 *   nil -> null (top level only; nil cannot sit in a table)
 *   moonbase.null -> null      boolean -> true/false
 *   number: integer-valued and within int64 -> integer; NaN/inf -> error;
 *           otherwise a real that parses back to the same double
 *   string: must be valid UTF-8 (else error); written with JSON escapes
 *   table: keys exactly 1..n (n >= 1) -> array; otherwise an object whose
 *          string keys stay and whose number keys become strings (1 -> "1",
 *          1.5 -> "1.5"); a clash such as {[1]=.., ["1"]=..} is an error;
 *          boolean/table/other keys are errors.
 *          The EMPTY TABLE is {} (an object). To get [] the script marks the
 *          table: moonbase.json.array() / moonbase.json.array(t). A marked
 *          table must hold exactly 1..n (n >= 0), else error.
 *   function, userdata, thread, other lightuserdata -> error.
 *   Nesting deeper than MB_LUA_JSON_MAX_DEPTH containers and cycles are
 *   errors; output larger than MB_LUA_JSON_MAX_BYTES is an error.
 * Error messages name the JSONPath of the offending value, e.g.
 *   "cannot encode function at $.players.p1.cb".
 * The Lua side is read with raw access only: no metamethod runs.
 */
#ifndef MB_LUA_CONVERT_H
#define MB_LUA_CONVERT_H

#include <stddef.h>

#include <jansson.h>
#include <lua.h>

#include "buf.h"
#include "mb.h"
#include "state.h"

#define MB_LUA_JSON_MAX_DEPTH 32
#define MB_LUA_JSON_MAX_BYTES ((size_t)16 << 20)
/* Largest string moonbase.json.decode accepts (jansson builds a tree first). */
#define MB_LUA_JSON_MAX_DECODE_BYTES ((size_t)1 << 20)

/* Push v (borrowed; NULL pushes nil) as a Lua value. Raises a Lua error on
 * out of memory or nesting deeper than MB_LUA_JSON_MAX_DEPTH, so call it
 * inside a protected context (a lua_CFunction run by Lua); from host code
 * use mb_lua_push_json_protected. */
void mb_lua_push_json(lua_State *L, const json_t *v);

/* Protected mb_lua_push_json for host code: on MB_LUA_OK one value is
 * pushed; on MB_LUA_ERR_MEMORY / MB_LUA_ERR_RUNTIME (too deep) nothing is
 * pushed and err says why. Counts against the VM's strict memory cap. */
mb_lua_status mb_lua_push_json_protected(mb_lua_vm *vm, const json_t *v, char *err, size_t errlen);

/* Parse JSON text straight into a Lua value (decode.c: yajl events, no
 * jansson tree), with the mapping above; a duplicate object key and nesting
 * deeper than max_depth (<= 0 or above MB_LUA_JSON_MAX_DEPTH: that limit)
 * are errors. Protected like mb_lua_push_json_protected: on MB_LUA_OK one
 * value is pushed; otherwise nothing is and err says why ("invalid JSON:
 * ..." for bad text, MB_LUA_ERR_MEMORY when the VM's cap refused).
 * Strings follow yajl's checks, which are looser than jansson's: overlong
 * UTF-8 forms pass and a lone surrogate escape becomes '?'. A caller that
 * needs jansson's strictness checks the text first (mb_envelope_scan does,
 * for match.input). */
mb_lua_status mb_lua_push_json_text(mb_lua_vm *vm, const char *text, size_t len, int max_depth, char *err,
                                    size_t errlen);
/* The same on L, the running thread of a C function (a VM's main thread or
 * one of its coroutines, e.g. an RPC task): what a lua_CFunction uses to
 * push its result, since the VM's main thread is not the one running. */
mb_lua_status mb_lua_push_json_text_on(lua_State *L, const char *text, size_t len, int max_depth, char *err,
                                       size_t errlen);

/* The same, but the value is stored in the registry: *ref (luaL_ref) on
 * MB_LUA_OK, LUA_NOREF otherwise. Push it later with lua_rawgeti and drop it
 * with luaL_unref (neither allocates). */
mb_lua_status mb_lua_ref_json_text(mb_lua_vm *vm, const char *text, size_t len, int max_depth, int *ref,
                                   char *err, size_t errlen);

/* Convert the value at idx to a new jansson value (caller owns the
 * reference), or NULL with the reason in err. Never raises and never runs
 * Lua code. */
json_t *mb_lua_to_json(lua_State *L, int idx, char *err, size_t errlen);

/* Append the JSON text of the value at idx to out (the fast path: no
 * jansson objects). Returns MB_OK, or MB_ERR with err set and out->len
 * restored to its value on entry. Never raises and never runs Lua code. */
mb_status mb_lua_encode_json(lua_State *L, int idx, mb_buf *out, char *err, size_t errlen);

/* Push the array marker metatable (created on first use, kept in the
 * registry). setmetatable(t, marker) makes t encode as a JSON array. */
void mb_lua_push_array_marker(lua_State *L);

#endif
