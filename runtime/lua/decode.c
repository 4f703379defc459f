/*
 * decode.c - JSON text -> Lua value in one pass: a recursive-descent parser
 * that builds the tables as it reads (no intermediate tree, no allocation
 * outside the VM). The mapping is the one of mb_lua_push_json (convert.h):
 * objects and arrays become tables, null in an object leaves the key out,
 * null in an array is moonbase.null, an empty array carries the array
 * marker, numbers are Lua numbers. Differences from the jansson path, all
 * stricter or equal: a duplicate key is an error ("duplicate key"), and so
 * is nesting deeper than the caller's limit. The grammar is RFC 8259's:
 * whitespace is space, tab, CR and LF; strings are strict UTF-8 without raw
 * control bytes; a \u escape of a surrogate must be half of a pair.
 *
 * The parse runs inside lua_pcall, so an allocation refused by the VM's
 * memory cap unwinds out of it; the parser itself allocates nothing.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "convert.h"
#include "mb.h"
#include "decode_internal.h"
#include "state_internal.h"
#include "utf8.h"

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
    int ref; /* out: registry reference (ref mode) */
    bool want_ref, failed;
    mb_lua_vm *vm;
    const char *why; /* why the parse failed */
    char why_buf[160];
    const unsigned char *text;
    size_t len, pos;
    level lv[MB_LUA_JSON_MAX_DEPTH + 1];
} dec;

static bool syntax(dec *d)
{
    snprintf(d->why_buf, sizeof d->why_buf, "parse error at position %zu", d->pos);
    d->why = d->why_buf;
    return false;
}

static void skip_ws(dec *d)
{
    while (d->pos < d->len) {
        unsigned char c = d->text[d->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') return;
        d->pos++;
    }
}

/* The value on top of the stack goes where the current container wants it
 * (at depth 0 it stays on the stack). */
static bool put(dec *d)
{
    lua_State *L = d->L;
    if (d->depth == 0) return true;
    level *l = &d->lv[d->depth];
    if (l->array) {
        lua_rawseti(L, -2, ++l->n);
        return true;
    }
    /* stack: table, key, value */
    lua_pushvalue(L, -2);
    lua_rawget(L, -4);
    if (!lua_isnil(L, -1)) {
        snprintf(d->why_buf, sizeof d->why_buf, "duplicate key \"%.64s\"", lua_tostring(L, -3));
        d->why = d->why_buf;
        lua_pop(L, 1);
        return false;
    }
    lua_pop(L, 1);
    lua_rawset(L, -3);
    return true;
}

static int hex4(const unsigned char *p)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        int c = p[i], h = c >= '0' && c <= '9'   ? c - '0'
                          : c >= 'a' && c <= 'f' ? c - 'a' + 10
                          : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                                 : -1;
        if (h < 0) return -1;
        v = v * 16 + h;
    }
    return v;
}

/* A string at d->pos (its opening quote) pushed onto the stack. Without
 * escapes it is pushed straight from the text. */
static bool parse_string(dec *d)
{
    const unsigned char *t = d->text;
    size_t i = d->pos + 1, start = i;
    bool escapes = false;
    for (;;) {
        if (i >= d->len) return syntax(d);
        unsigned char c = t[i];
        if (c == '"') break;
        if (c < 0x20) return syntax(d);
        if (c == '\\') {
            escapes = true;
            i += 2;
            continue;
        }
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n = mb_utf8_seq(t + i, d->len - i);
        if (!n) {
            d->pos = i;
            d->why = "string is not valid UTF-8";
            return false;
        }
        i += n;
    }
    if (!escapes) {
        lua_pushlstring(d->L, (const char *)t + start, i - start);
        d->pos = i + 1;
        return true;
    }
    luaL_Buffer b;
    luaL_buffinit(d->L, &b);
    for (size_t k = start; k < i;) {
        if (t[k] != '\\') {
            size_t run = k;
            while (run < i && t[run] != '\\') run++;
            luaL_addlstring(&b, (const char *)t + k, run - k);
            k = run;
            continue;
        }
        d->pos = k;
        unsigned char e = t[k + 1];
        k += 2;
        switch (e) {
        case '"': luaL_addchar(&b, '"'); continue;
        case '\\': luaL_addchar(&b, '\\'); continue;
        case '/': luaL_addchar(&b, '/'); continue;
        case 'b': luaL_addchar(&b, '\b'); continue;
        case 'f': luaL_addchar(&b, '\f'); continue;
        case 'n': luaL_addchar(&b, '\n'); continue;
        case 'r': luaL_addchar(&b, '\r'); continue;
        case 't': luaL_addchar(&b, '\t'); continue;
        case 'u': break;
        default: return syntax(d);
        }
        long cp = k + 4 <= i ? hex4(t + k) : -1;
        if (cp < 0) return syntax(d);
        k += 4;
        if (cp >= 0xdc00 && cp <= 0xdfff) return syntax(d); /* a low half alone */
        if (cp >= 0xd800 && cp <= 0xdbff) {                 /* a high half: its low half must follow */
            long lo = k + 6 <= i && t[k] == '\\' && t[k + 1] == 'u' ? hex4(t + k + 2) : -1;
            if (lo < 0xdc00 || lo > 0xdfff) return syntax(d);
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            k += 6;
        }
        char u[4];
        size_t un;
        if (cp < 0x80) {
            u[0] = (char)cp;
            un = 1;
        } else if (cp < 0x800) {
            u[0] = (char)(0xc0 | (cp >> 6));
            u[1] = (char)(0x80 | (cp & 0x3f));
            un = 2;
        } else if (cp < 0x10000) {
            u[0] = (char)(0xe0 | (cp >> 12));
            u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
            u[2] = (char)(0x80 | (cp & 0x3f));
            un = 3;
        } else {
            u[0] = (char)(0xf0 | (cp >> 18));
            u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
            u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
            u[3] = (char)(0x80 | (cp & 0x3f));
            un = 4;
        }
        luaL_addlstring(&b, u, un);
    }
    luaL_pushresult(&b);
    d->pos = i + 1;
    return true;
}

/* RFC 8259 number at d->pos, pushed. Integers of up to 15 digits are exact
 * in a double: no strtod. */
static bool parse_number(dec *d)
{
    const unsigned char *t = d->text;
    size_t i = d->pos, start = i;
    bool neg = t[i] == '-';
    if (neg) i++;
    if (i >= d->len || t[i] < '0' || t[i] > '9') return syntax(d);
    unsigned long long u = 0;
    size_t digits_at = i;
    if (t[i] == '0') {
        i++;
    } else {
        while (i < d->len && t[i] >= '0' && t[i] <= '9') u = u * 10 + (unsigned)(t[i++] - '0');
    }
    bool simple = i - digits_at <= 15;
    if (i < d->len && t[i] == '.') {
        simple = false;
        size_t f = ++i;
        while (i < d->len && t[i] >= '0' && t[i] <= '9') i++;
        if (i == f) return syntax(d);
    }
    if (i < d->len && (t[i] == 'e' || t[i] == 'E')) {
        simple = false;
        i++;
        if (i < d->len && (t[i] == '+' || t[i] == '-')) i++;
        size_t e = i;
        while (i < d->len && t[i] >= '0' && t[i] <= '9') i++;
        if (i == e) return syntax(d);
    }
    d->pos = i;
    double v;
    if (simple) {
        v = neg ? -(double)u : (double)u;
    } else {
        size_t len = i - start;
        char small[128];
        char *buf = len < sizeof small ? small : malloc(len + 1); /* JSON allows any number of digits */
        if (!buf) {
            d->why = "out of memory";
            return false;
        }
        memcpy(buf, t + start, len);
        buf[len] = '\0';
        v = strtod(buf, NULL);
        if (buf != small) free(buf);
        if (!isfinite(v)) {
            d->why = "number out of range";
            return false;
        }
    }
    lua_pushnumber(d->L, v);
    return true;
}

static bool literal(dec *d, const char *word, size_t n)
{
    if (d->len - d->pos < n || memcmp(d->text + d->pos, word, n) != 0) return syntax(d);
    d->pos += n;
    return true;
}

static bool open_container(dec *d, int array)
{
    if (d->depth >= d->max_depth) {
        snprintf(d->why_buf, sizeof d->why_buf, "JSON nested deeper than %d levels", d->max_depth);
        d->why = d->why_buf;
        return false;
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
    d->pos++;
    return true;
}

static void close_object(dec *d)
{
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
}

static void close_array(dec *d)
{
    if (d->lv[d->depth].n == 0) {
        mb_lua_push_array_marker(d->L);
        lua_setmetatable(d->L, -2);
    }
    d->depth--;
}

static bool parse_value(dec *d);

/* The members of the object just opened, up to its closing brace. */
static bool parse_members(dec *d)
{
    skip_ws(d);
    if (d->pos < d->len && d->text[d->pos] == '}') {
        d->pos++;
        return true;
    }
    for (;;) {
        if (d->pos >= d->len || d->text[d->pos] != '"') return syntax(d);
        if (!parse_string(d)) return false;
        skip_ws(d);
        if (d->pos >= d->len || d->text[d->pos] != ':') return syntax(d);
        d->pos++;
        skip_ws(d);
        if (!parse_value(d) || !put(d)) return false;
        skip_ws(d);
        if (d->pos >= d->len) return syntax(d);
        unsigned char c = d->text[d->pos++];
        if (c == '}') return true;
        if (c != ',') return syntax(d);
        skip_ws(d);
    }
}

static bool parse_elements(dec *d)
{
    skip_ws(d);
    if (d->pos < d->len && d->text[d->pos] == ']') {
        d->pos++;
        return true;
    }
    for (;;) {
        if (!parse_value(d) || !put(d)) return false;
        skip_ws(d);
        if (d->pos >= d->len) return syntax(d);
        unsigned char c = d->text[d->pos++];
        if (c == ']') return true;
        if (c != ',') return syntax(d);
        skip_ws(d);
    }
}

/* One value at d->pos (whitespace skipped), pushed onto the stack. */
static bool parse_value(dec *d)
{
    lua_State *L = d->L;
    if (d->pos >= d->len) return syntax(d);
    switch (d->text[d->pos]) {
    case '{':
        if (!open_container(d, 0) || !parse_members(d)) return false;
        close_object(d);
        return true;
    case '[':
        if (!open_container(d, 1) || !parse_elements(d)) return false;
        close_array(d);
        return true;
    case '"': return parse_string(d);
    case 't':
        if (!literal(d, "true", 4)) return false;
        lua_pushboolean(L, 1);
        return true;
    case 'f':
        if (!literal(d, "false", 5)) return false;
        lua_pushboolean(L, 0);
        return true;
    case 'n':
        if (!literal(d, "null", 4)) return false;
        if (d->depth == 0) {
            lua_pushnil(L);
        } else if (d->lv[d->depth].array) {
            lua_pushlightuserdata(L, NULL); /* moonbase.null keeps indices dense */
        } else {
            /* {"a": null} leaves a out, but the key still counts for the
             * duplicate check: a placeholder, dropped when the object ends */
            d->lv[d->depth].nulls = true;
            lua_pushlightuserdata(L, (void *)&null_member);
        }
        return true;
    default: return parse_number(d);
    }
}

int mb_lua_decode_cb(lua_State *L)
{
    dec *d = lua_touserdata(L, 1);
    lua_settop(L, 0);
    d->L = L;
    d->pos = 0;
    skip_ws(d);
    bool ok = parse_value(d);
    if (ok) {
        skip_ws(d);
        if (d->pos < d->len) {
            d->why = "trailing garbage";
            ok = false;
        }
    }
    if (!ok) {
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
        if (err && errlen) snprintf(err, errlen, "invalid JSON: %s", d->why ? d->why : "syntax error");
        rc = MB_LUA_ERR_RUNTIME;
    }
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
