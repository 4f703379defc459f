/*
 * decode.c - JSON text -> Lua value in one pass, with yajl's event parser:
 * no intermediate tree, no allocation outside the VM except yajl's small
 * parser state. The mapping is the one of mb_lua_push_json (convert.h):
 * objects and arrays become tables, null in an object leaves the key out,
 * null in an array is moonbase.null, an empty array carries the array
 * marker, numbers are Lua numbers. Differences from the jansson path, all
 * stricter or equal: a duplicate key is an error ("duplicate key"), and so
 * is nesting deeper than the caller's limit.
 *
 * The parse runs inside lua_cpcall, so an allocation refused by the VM's
 * memory cap unwinds out of the yajl callbacks; the yajl handle lives
 * outside and is freed by the caller of lua_cpcall either way.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <yajl/yajl_parse.h>

#include "convert.h"
#include "mb.h"
#include "decode_internal.h"
#include "state_internal.h"

typedef struct level {
    int array;  /* 1: array, 0: object */
    int n;      /* array: elements so far */
    bool nulls; /* object: a member was null (held by the placeholder) */
} level;

/* {"a": null} leaves a out, but the key must still count for the duplicate
 * check ({"a": 1, "a": null} is as invalid as any other repeat): a null
 * member is stored as this placeholder and removed when the object ends. */
static const char null_member = 0;

typedef struct dec {
    lua_State *L;
    int depth, max_depth;
    int roots;       /* top-level values seen (a second one is trailing garbage) */
    bool in_main;    /* inside yajl_parse of the text (not yajl_complete_parse) */
    size_t root_end; /* offset just past the top-level value */
    int ref;         /* out: registry reference (ref mode) */
    bool want_ref, failed;
    mb_lua_vm *vm;
    const char *why; /* why a callback cancelled the parse */
    char why_buf[160];
    const unsigned char *text;
    size_t len;
    yajl_handle h;
    level lv[MB_LUA_JSON_MAX_DEPTH + 1];
} dec;

/* The value on top of the stack goes where the current container wants it. */
static int put(dec *d)
{
    lua_State *L = d->L;
    if (d->depth == 0) { /* the top-level value stays on the stack */
        d->root_end = d->in_main ? yajl_get_bytes_consumed(d->h) : d->len;
        if (++d->roots == 1) return 1;
        d->why = "trailing garbage";
        return 0;
    }
    level *l = &d->lv[d->depth];
    if (l->array) {
        lua_rawseti(L, -2, ++l->n);
        return 1;
    }
    /* stack: table, key, value */
    lua_pushvalue(L, -2);
    lua_rawget(L, -4);
    if (!lua_isnil(L, -1)) {
        snprintf(d->why_buf, sizeof d->why_buf, "duplicate key \"%.64s\"", lua_tostring(L, -3));
        d->why = d->why_buf;
        lua_pop(L, 1);
        return 0;
    }
    lua_pop(L, 1);
    lua_rawset(L, -3);
    return 1;
}

static int on_null(void *ctx)
{
    dec *d = ctx;
    lua_State *L = d->L;
    if (d->depth == 0) {
        lua_pushnil(L);
        return put(d);
    }
    if (d->lv[d->depth].array) {
        lua_pushlightuserdata(L, NULL); /* moonbase.null keeps indices dense */
        return put(d);
    }
    d->lv[d->depth].nulls = true;
    lua_pushlightuserdata(L, (void *)&null_member);
    return put(d);
}

static int on_boolean(void *ctx, int b)
{
    dec *d = ctx;
    lua_pushboolean(d->L, b);
    return put(d);
}

static int on_number(void *ctx, const char *s, size_t len)
{
    dec *d = ctx;
    double v;
    /* Integers of up to 15 digits are exact in a double: no strtod. */
    size_t i = s[0] == '-';
    bool simple = len - i >= 1 && len - i <= 15;
    unsigned long long u = 0;
    for (size_t k = i; simple && k < len; k++) {
        if (s[k] < '0' || s[k] > '9') simple = false;
        else u = u * 10 + (unsigned)(s[k] - '0');
    }
    if (simple) {
        v = i ? -(double)u : (double)u;
    } else {
        char small[128];
        char *buf = len < sizeof small ? small : malloc(len + 1); /* JSON allows any number of digits */
        if (!buf) {
            d->why = "out of memory";
            return 0;
        }
        memcpy(buf, s, len);
        buf[len] = '\0';
        v = strtod(buf, NULL);
        if (buf != small) free(buf);
        if (!isfinite(v)) {
            d->why = "number out of range";
            return 0;
        }
    }
    lua_pushnumber(d->L, v);
    return put(d);
}

static int on_string(void *ctx, const unsigned char *s, size_t len)
{
    dec *d = ctx;
    lua_pushlstring(d->L, (const char *)s, len);
    return put(d);
}

static int open_container(dec *d, int array)
{
    if (d->depth == 0 && d->roots) {
        d->why = "trailing garbage";
        return 0;
    }
    if (d->depth >= d->max_depth) {
        snprintf(d->why_buf, sizeof d->why_buf, "JSON nested deeper than %d levels", d->max_depth);
        d->why = d->why_buf;
        return 0;
    }
    luaL_checkstack(d->L, 4, "JSON too deep");
    /* Room for a few members up front: inputs are small objects, and
     * growing from 0 rehashes at 1, 2 and 4. */
    if (array) lua_createtable(d->L, 4, 0);
    else lua_createtable(d->L, 0, 4);
    d->depth++;
    d->lv[d->depth].array = array;
    d->lv[d->depth].n = 0;
    d->lv[d->depth].nulls = false;
    return 1;
}

static int on_start_map(void *ctx) { return open_container(ctx, 0); }
static int on_start_array(void *ctx) { return open_container(ctx, 1); }

static int on_map_key(void *ctx, const unsigned char *s, size_t len)
{
    dec *d = ctx;
    lua_pushlstring(d->L, (const char *)s, len);
    return 1;
}

static int on_end_map(void *ctx)
{
    dec *d = ctx;
    lua_State *L = d->L;
    if (d->lv[d->depth].nulls) { /* drop the placeholders of null members */
        lua_pushnil(L);
        while (lua_next(L, -2)) {
            bool ph = lua_touserdata(L, -1) == (void *)&null_member;
            lua_pop(L, 1);
            if (ph) { /* clearing a field during traversal is allowed */
                lua_pushvalue(L, -1);
                lua_pushnil(L);
                lua_rawset(L, -4);
            }
        }
    }
    d->depth--;
    return put(d);
}

static int on_end_array(void *ctx)
{
    dec *d = ctx;
    if (d->lv[d->depth].n == 0) {
        mb_lua_push_array_marker(d->L);
        lua_setmetatable(d->L, -2);
    }
    d->depth--;
    return put(d);
}

static yajl_alloc_funcs scratch_funcs = {mb_scratch_malloc, mb_scratch_realloc, mb_scratch_free, NULL};

static const yajl_callbacks callbacks = {
    on_null,      on_boolean, NULL,       NULL,           on_number,    on_string,
    on_start_map, on_map_key, on_end_map, on_start_array, on_end_array,
};

int mb_lua_decode_cb(lua_State *L)
{
    dec *d = lua_touserdata(L, 1);
    lua_settop(L, 0);
    d->L = L;
    d->in_main = true;
    yajl_status st = yajl_parse(d->h, d->text, d->len);
    d->in_main = false;
    if (st == yajl_status_ok) st = yajl_complete_parse(d->h);
    /* yajl misses an unterminated string after the value ("{} \"x"): only
     * JSON whitespace may follow it */
    if (st == yajl_status_ok && d->roots == 1) {
        for (size_t i = d->root_end; i < d->len; i++) {
            unsigned char ch = d->text[i];
            if (ch != ' ' && ch != '\t' && ch != '\n' && ch != '\r') {
                d->why = "trailing garbage";
                st = yajl_status_error;
                break;
            }
        }
    }
    if (st != yajl_status_ok) {
        d->failed = true;
        return 0;
    }
    if (d->want_ref) d->ref = luaL_ref(L, LUA_REGISTRYINDEX);
    else lua_rawseti(L, LUA_REGISTRYINDEX, d->vm->ref_stash);
    return 0;
}

/* Decode on L: the VM's main thread or one of its coroutines (a task). */
static mb_lua_status run(mb_lua_vm *vm, lua_State *L, dec *d, char *err, size_t errlen)
{
    d->vm = vm;
    if (!lua_checkstack(L, 2)) {
        if (err && errlen) snprintf(err, errlen, "lua stack overflow");
        return MB_LUA_ERR_RUNTIME;
    }
    d->h = yajl_alloc(&callbacks, &scratch_funcs, d);
    if (!d->h) {
        if (err && errlen) snprintf(err, errlen, "out of memory");
        return MB_LUA_ERR_MEMORY;
    }

    vm->depth++;
    mb_lua_vm_update_limit(vm);
    /* A function made once at VM start: lua_cpcall would allocate a closure
     * per call (this runs for every match input). Neither push allocates. */
    lua_rawgeti(L, LUA_REGISTRYINDEX, vm->ref_decode);
    lua_pushlightuserdata(L, d);
    int st = lua_pcall(L, 1, 0, 0);
    vm->depth--;
    mb_lua_vm_update_limit(vm);
    mb_lua_status rc = MB_LUA_OK;
    if (st != 0) {
        const char *msg = lua_tostring(L, -1);
        if (err && errlen) snprintf(err, errlen, "%s", msg ? msg : "decode failed");
        rc = st == LUA_ERRMEM ? MB_LUA_ERR_MEMORY : MB_LUA_ERR_RUNTIME;
        lua_pop(L, 1);
    } else if (d->failed) {
        if (err && errlen) {
            if (d->why) {
                snprintf(err, errlen, "invalid JSON: %s", d->why);
            } else {
                unsigned char *m = yajl_get_error(d->h, 0, d->text, d->len);
                size_t at = yajl_get_bytes_consumed(d->h);
                snprintf(err, errlen, "invalid JSON: %s at position %zu", m ? (char *)m : "syntax error", at);
                /* yajl's messages end with a newline */
                size_t el = strlen(err);
                char *nl = memchr(err, '\n', el);
                if (nl) memmove(nl, nl + 1, el - (size_t)(nl - err));
                if (m) yajl_free_error(d->h, m);
            }
        }
        rc = MB_LUA_ERR_RUNTIME;
    }
    yajl_free(d->h);
    return rc;
}

static mb_lua_status push_text(mb_lua_vm *vm, lua_State *L, const char *text, size_t len, int max_depth,
                               char *err, size_t errlen)
{
    dec d;
    memset(&d, 0, sizeof d);
    d.text = (const unsigned char *)text;
    d.len = len;
    d.max_depth = max_depth > 0 && max_depth < MB_LUA_JSON_MAX_DEPTH ? max_depth : MB_LUA_JSON_MAX_DEPTH;
    mb_lua_status rc = run(vm, L, &d, err, errlen);
    if (rc != MB_LUA_OK) return rc;
    /* The stash slot exists already, so neither access allocates. */
    lua_rawgeti(L, LUA_REGISTRYINDEX, vm->ref_stash);
    lua_pushboolean(L, 1);
    lua_rawseti(L, LUA_REGISTRYINDEX, vm->ref_stash);
    return MB_LUA_OK;
}

mb_lua_status mb_lua_push_json_text(mb_lua_vm *vm, const char *text, size_t len, int max_depth, char *err,
                                    size_t errlen)
{
    return push_text(vm, vm->L, text, len, max_depth, err, errlen);
}

mb_lua_status mb_lua_push_json_text_on(lua_State *L, const char *text, size_t len, int max_depth, char *err,
                                       size_t errlen)
{
    return push_text(mb_lua_vm_from_state(L), L, text, len, max_depth, err, errlen);
}

mb_lua_status mb_lua_ref_json_text(mb_lua_vm *vm, const char *text, size_t len, int max_depth, int *ref,
                                   char *err, size_t errlen)
{
    dec d;
    memset(&d, 0, sizeof d);
    d.text = (const unsigned char *)text;
    d.len = len;
    d.want_ref = true;
    d.ref = LUA_NOREF;
    d.max_depth = max_depth > 0 && max_depth < MB_LUA_JSON_MAX_DEPTH ? max_depth : MB_LUA_JSON_MAX_DEPTH;
    mb_lua_status rc = run(vm, vm->L, &d, err, errlen);
    *ref = rc == MB_LUA_OK ? d.ref : LUA_NOREF;
    return rc;
}
