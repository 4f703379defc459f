/*
 * convert.c - JSON <-> Lua values (see convert.h for the mapping).
 *
 * Both Lua -> JSON paths (jansson tree and direct text) share the table
 * classification, number formatting, UTF-8 check and error paths, so they
 * cannot disagree. Neither allocates Lua memory after the initial stack
 * check, so neither can raise.
 */
#include "convert.h"

#include "state_internal.h"

#include "mb.h"
#include "utf8.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char marker_key = 0; /* registry key of the array marker */

/* Stack slots one nesting level may use: table, key, value, scratch. */
#define SLOTS_PER_LEVEL 4

/* ---- shared helpers ----------------------------------------------------- */

void mb_lua_push_array_marker(lua_State *L)
{
    lua_pushlightuserdata(L, (void *)&marker_key);
    lua_rawget(L, LUA_REGISTRYINDEX);
    if (!lua_isnil(L, -1)) return;
    lua_pop(L, 1);
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "moonbase.json.array");
    lua_setfield(L, -2, "__name");
    lua_pushlightuserdata(L, (void *)&marker_key);
    lua_pushvalue(L, -2);
    lua_rawset(L, LUA_REGISTRYINDEX);
}

/* Does the table at absolute index t carry the array marker? No allocation. */
static bool has_marker(lua_State *L, int t)
{
    if (!lua_getmetatable(L, t)) return false;
    lua_pushlightuserdata(L, (void *)&marker_key);
    lua_rawget(L, LUA_REGISTRYINDEX);
    bool m = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    return m;
}

/* Integer-valued doubles within int64 are written as integers. */
static bool as_integer(double d, long long *out)
{
    if (d != floor(d) || d < -9223372036854775808.0 || d >= 9223372036854775808.0) return false;
    *out = (long long)d;
    return true;
}

/* Decimal digits of u, with a '.' before the last `frac` digits. */
static int fmt_fixed(unsigned long long u, bool neg, int frac, char *buf)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    while (n <= frac) tmp[n++] = '0'; /* 0.05: at least one integer digit */
    int len = 0;
    if (neg) buf[len++] = '-';
    while (n) {
        if (n == frac) buf[len++] = '.';
        buf[len++] = tmp[--n];
    }
    buf[len] = '\0';
    return len;
}

/* Text that reads back as exactly d (finite): integers as integers, short
 * decimals such as 13.25 without printf, else the shorter of %.15g/%.17g.
 * buf must hold 32 bytes. Returns the length. */
static int fmt_number(double d, char *buf)
{
    static const double p10[] = {1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8};
    long long i;
    if (as_integer(d, &i))
        return fmt_fixed(i < 0 ? 0ull - (unsigned long long)i : (unsigned long long)i, i < 0, 0, buf);
    double a = fabs(d);
    if (a >= 1e-4 && a < 1e7) {
        for (int k = 1; k <= 8; k++) {
            double m = nearbyint(a * p10[k]);
            /* IEEE division is correctly rounded, so m / 10^k == a means the
             * decimal m * 10^-k parses back to exactly a. */
            if (m < 9007199254740992.0 && m / p10[k] == a)
                return fmt_fixed((unsigned long long)m, d < 0, k, buf);
        }
    }
    int len = snprintf(buf, 32, "%.15g", d);
    if (strtod(buf, NULL) != d) len = snprintf(buf, 32, "%.17g", d);
    return len;
}

/* ---- traversal context and error paths ---------------------------------- */

enum { PK_INDEX, PK_KEY, PK_NUMKEY };

typedef struct path_ent {
    int kind;
    const char *s; /* PK_KEY: key string (on the Lua stack meanwhile) */
    size_t len;
    double num; /* PK_INDEX / PK_NUMKEY */
} path_ent;

typedef struct enc_ctx {
    lua_State *L;
    int depth; /* containers entered */
    path_ent path[MB_LUA_JSON_MAX_DEPTH + 1];
    const void *seen[MB_LUA_JSON_MAX_DEPTH + 1];
    char *err;
    size_t errlen;
    size_t budget; /* bytes still allowed (jansson path: an estimate) */
} enc_ctx;

static void fail(enc_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Write "<message> at <path>" into c->err. */
static void fail(enc_ctx *c, const char *fmt, ...)
{
    if (!c->err || c->errlen == 0) return;
    char msg[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    char p[320];
    size_t n = 0;
    p[n++] = '$';
    for (int i = 0; i < c->depth && n < sizeof p - 48; i++) {
        const path_ent *e = &c->path[i];
        char num[32];
        if (e->kind == PK_INDEX || e->kind == PK_NUMKEY) {
            fmt_number(e->num, num);
            n += (size_t)snprintf(p + n, sizeof p - n, "[%s]", num);
            continue;
        }
        bool ident = e->len > 0 && e->len <= 40;
        for (size_t k = 0; k < e->len && ident; k++) {
            char ch = e->s[k];
            ident = ch == '_' || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                    (k > 0 && ch >= '0' && ch <= '9');
        }
        if (ident) n += (size_t)snprintf(p + n, sizeof p - n, ".%.*s", (int)e->len, e->s);
        else n += (size_t)snprintf(p + n, sizeof p - n, "[\"%.*s\"]", (int)(e->len > 24 ? 24 : e->len), e->s);
    }
    if (n >= sizeof p) n = sizeof p - 1;
    p[n] = '\0';
    snprintf(c->err, c->errlen, "%s at %s", msg, p);
}

static bool enter(enc_ctx *c, int t)
{
    const void *ptr = lua_topointer(c->L, t);
    for (int i = 0; i < c->depth; i++) {
        if (c->seen[i] == ptr) {
            fail(c, "table cycle");
            return false;
        }
    }
    if (c->depth >= MB_LUA_JSON_MAX_DEPTH) {
        fail(c, "nesting deeper than %d", MB_LUA_JSON_MAX_DEPTH);
        return false;
    }
    c->seen[c->depth] = ptr;
    return true;
}

typedef struct table_shape {
    bool array;
    size_t n; /* array length */
} table_shape;

/* Does the string key look like the text of a number key (e.g. "1")? */
static bool numeric_twin(const char *s, size_t len, double *d)
{
    if (len == 0 || len > 30 || !((s[0] >= '0' && s[0] <= '9') || s[0] == '-')) return false;
    char tmp[32], back[32];
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    char *end;
    *d = strtod(tmp, &end);
    if (end != tmp + len || !isfinite(*d)) return false;
    fmt_number(*d, back);
    return strcmp(back, tmp) == 0;
}

/* After an object was written: if it had number keys and string keys that
 * look like numbers, make sure no two became the same text ({[1]=.., ["1"]=..}). */
static bool check_twins(enc_ctx *c, int t)
{
    lua_State *L = c->L;
    lua_pushnil(L);
    while (lua_next(L, t)) {
        lua_pop(L, 1);
        size_t len;
        double d;
        if (lua_type(L, -1) != LUA_TSTRING) continue;
        const char *s = lua_tolstring(L, -1, &len);
        if (!numeric_twin(s, len, &d)) continue;
        lua_pushnumber(L, d);
        lua_rawget(L, t);
        bool clash = !lua_isnil(L, -1);
        lua_pop(L, 1);
        if (clash) {
            fail(c, "duplicate key \"%s\" (number and string)", s);
            lua_pop(L, 1);
            return false;
        }
    }
    return true;
}

/* Decide array vs object for the table at absolute index t. A table whose
 * first key is not a number is an object at once (the common case); key
 * types are checked while the object is written. */
static bool classify(enc_ctx *c, int t, table_shape *shape)
{
    lua_State *L = c->L;
    bool marked = has_marker(L, t);
    shape->array = false;
    shape->n = 0;
    lua_pushnil(L);
    if (!lua_next(L, t)) {
        shape->array = marked;
        return true;
    }
    if (!marked && lua_type(L, -2) != LUA_TNUMBER) {
        lua_pop(L, 2);
        return true;
    }
    lua_pop(L, 1);
    size_t count = 0, maxk = 0;
    bool posint = true;
    do {
        int kt = lua_type(L, -1);
        if (kt == LUA_TNUMBER) {
            double d = lua_tonumber(L, -1);
            if (posint && d >= 1 && d <= 9007199254740992.0 && d == floor(d)) {
                if ((size_t)d > maxk) maxk = (size_t)d;
            } else {
                posint = false;
            }
        } else if (kt == LUA_TSTRING) {
            posint = false;
        } else {
            fail(c, "cannot use a %s as a key", lua_typename(L, kt));
            lua_pop(L, 1);
            return false;
        }
        count++;
        if (!posint && !marked) { /* an object: stop early */
            lua_pop(L, 1);
            return true;
        }
        if (!lua_next(L, t)) break;
        lua_pop(L, 1);
    } while (true);
    if (marked && (!posint || maxk != count)) {
        fail(c, "array-marked table has keys other than 1..n");
        return false;
    }
    shape->array = posint && maxk == count;
    shape->n = shape->array ? count : 0;
    return true;
}

/* Key bookkeeping while an object is written. */
typedef struct key_seen {
    bool num;  /* a number key was written */
    bool twin; /* a string key looking like a number was written */
} key_seen;

/* Check the key at the top-1 of the stack (lua_next position); a string
 * key's text in *key (NULL for a number key). */
static bool object_key(enc_ctx *c, int d, key_seen *ks, const char **key, size_t *klen)
{
    lua_State *L = c->L;
    int kt = lua_type(L, -2);
    if (kt == LUA_TSTRING) {
        *key = lua_tolstring(L, -2, klen);
        c->path[d] = (path_ent){PK_KEY, *key, *klen, 0};
        if (((*key)[0] >= '0' && (*key)[0] <= '9') || (*key)[0] == '-') ks->twin = true;
        return true;
    }
    if (kt == LUA_TNUMBER) {
        c->path[d] = (path_ent){PK_NUMKEY, NULL, 0, lua_tonumber(L, -2)};
        ks->num = true;
        *key = NULL;
        return true;
    }
    c->depth = d; /* the path ends at the table: the key has no text */
    fail(c, "cannot use a %s as a key", lua_typename(L, kt));
    c->depth = d + 1;
    return false;
}

/* Number key -> key text. */
static int number_key(double d, char *buf) { return fmt_number(d, buf); }

/* ---- Lua -> jansson ----------------------------------------------------- */

static json_t *to_json(enc_ctx *c, int idx);

static json_t *table_to_json(enc_ctx *c, int t)
{
    lua_State *L = c->L;
    if (!enter(c, t)) return NULL;
    table_shape shape;
    if (!classify(c, t, &shape)) return NULL;
    int d = c->depth++;
    json_t *out;
    if (shape.array) {
        out = json_array();
        for (size_t i = 1; i <= shape.n; i++) {
            c->path[d].kind = PK_INDEX;
            c->path[d].num = (double)i;
            lua_rawgeti(L, t, (int)i);
            json_t *v = to_json(c, lua_gettop(L));
            lua_pop(L, 1);
            if (!v) goto fail;
            if (json_array_append_new(out, v) != 0) {
                fail(c, "out of memory");
                goto fail;
            }
        }
    } else {
        out = json_object();
        key_seen ks = {false, false};
        lua_pushnil(L);
        while (lua_next(L, t)) {
            char num[32];
            const char *key;
            size_t klen;
            if (!object_key(c, d, &ks, &key, &klen)) {
                lua_pop(L, 2);
                goto fail;
            }
            if (key) {
                if (!mb_utf8_valid(key, klen)) {
                    fail(c, "key is not valid UTF-8");
                    lua_pop(L, 2);
                    goto fail;
                }
            } else {
                klen = (size_t)number_key(lua_tonumber(L, -2), num);
                key = num;
            }
            if (c->budget < klen + 4) {
                fail(c, "output larger than %zu bytes", MB_LUA_JSON_MAX_BYTES);
                lua_pop(L, 2);
                goto fail;
            }
            c->budget -= klen + 4;
            json_t *v = to_json(c, lua_gettop(L));
            lua_pop(L, 1);
            if (!v) {
                lua_pop(L, 1);
                goto fail;
            }
            if (json_object_setn_new_nocheck(out, key, klen, v) != 0) {
                fail(c, "out of memory");
                lua_pop(L, 1);
                goto fail;
            }
        }
        if (ks.num && ks.twin && !check_twins(c, t)) goto fail;
    }
    c->depth--;
    return out;
fail:
    json_decref(out);
    return NULL;
}

static json_t *to_json(enc_ctx *c, int idx)
{
    lua_State *L = c->L;
    if (c->budget < 8) {
        fail(c, "output larger than %zu bytes", MB_LUA_JSON_MAX_BYTES);
        return NULL;
    }
    c->budget -= 8;
    switch (lua_type(L, idx)) {
    case LUA_TNIL: return json_null();
    case LUA_TBOOLEAN: return json_boolean(lua_toboolean(L, idx));
    case LUA_TNUMBER: {
        double d = lua_tonumber(L, idx);
        long long i;
        if (!isfinite(d)) {
            fail(c, "cannot encode NaN or infinity");
            return NULL;
        }
        if (as_integer(d, &i)) return json_integer((json_int_t)i);
        return json_real(d);
    }
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        if (!mb_utf8_valid(s, len)) {
            fail(c, "string is not valid UTF-8");
            return NULL;
        }
        if (c->budget < len) {
            fail(c, "output larger than %zu bytes", MB_LUA_JSON_MAX_BYTES);
            return NULL;
        }
        c->budget -= len;
        return json_stringn_nocheck(s, len);
    }
    case LUA_TLIGHTUSERDATA:
        if (lua_touserdata(L, idx) == NULL) return json_null();
        fail(c, "cannot encode lightuserdata");
        return NULL;
    case LUA_TTABLE: return table_to_json(c, idx);
    default: fail(c, "cannot encode %s", luaL_typename(L, idx)); return NULL;
    }
}

static mb_status start(enc_ctx *c, lua_State *L, char *err, size_t errlen)
{
    c->L = L;
    c->depth = 0;
    c->err = err;
    c->errlen = errlen;
    c->budget = MB_LUA_JSON_MAX_BYTES;
    if (err && errlen) err[0] = '\0';
    if (!lua_checkstack(L, SLOTS_PER_LEVEL * (MB_LUA_JSON_MAX_DEPTH + 2))) {
        if (err && errlen) snprintf(err, errlen, "lua stack overflow");
        return MB_ERR;
    }
    return MB_OK;
}

json_t *mb_lua_to_json(lua_State *L, int idx, char *err, size_t errlen)
{
    enc_ctx c;
    if (idx < 0 && idx > LUA_REGISTRYINDEX) idx = lua_gettop(L) + idx + 1;
    if (start(&c, L, err, errlen) != MB_OK) return NULL;
    int top = lua_gettop(L);
    json_t *v = to_json(&c, idx);
    lua_settop(L, top);
    return v;
}

/* ---- Lua -> JSON text --------------------------------------------------- */

/* 1 for bytes a JSON string carries verbatim without a UTF-8 check. */
static const unsigned char plain_char[256] = {
    ['\x20'] = 1,
    1,
    0 /* " */,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    0 /* \\ */,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1, /* 0x70..0x7f */
};

static bool put_string(enc_ctx *c, mb_buf *out, const char *s, size_t len, bool is_key)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    mb_buf_reserve(out, len + 2);
    out->data[out->len++] = '"';
    size_t run = 0; /* start of bytes to copy verbatim */
    size_t i = 0;
    while (i < len) {
        while (i < len && plain_char[p[i]]) i++;
        if (i == len) break;
        unsigned char ch = p[i];
        if (ch >= 0x80) {
            size_t n = mb_utf8_seq(p + i, len - i);
            if (!n) {
                fail(c, is_key ? "key is not valid UTF-8" : "string is not valid UTF-8");
                return false;
            }
            i += n;
            continue;
        }
        mb_buf_append(out, s + run, i - run);
        char esc[6] = {'\\', 0};
        size_t en = 2;
        switch (ch) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        default:
            esc[1] = 'u';
            mb_buf_append(out, esc, 2);
            esc[0] = '0';
            esc[1] = '0';
            esc[2] = hex[ch >> 4];
            esc[3] = hex[ch & 15];
            en = 4;
        }
        mb_buf_append(out, esc, en);
        run = ++i;
    }
    mb_buf_append(out, s + run, len - run);
    mb_buf_putc(out, '"');
    return true;
}

static bool encode(enc_ctx *c, int idx, mb_buf *out, size_t start_len);

static bool over_budget(enc_ctx *c, mb_buf *out, size_t start_len)
{
    if (out->len - start_len <= MB_LUA_JSON_MAX_BYTES) return false;
    fail(c, "output larger than %zu bytes", MB_LUA_JSON_MAX_BYTES);
    return true;
}

static bool encode_table(enc_ctx *c, int t, mb_buf *out, size_t start_len)
{
    lua_State *L = c->L;
    if (!enter(c, t)) return false;
    table_shape shape;
    if (!classify(c, t, &shape)) return false;
    int d = c->depth++;
    if (shape.array) {
        mb_buf_putc(out, '[');
        for (size_t i = 1; i <= shape.n; i++) {
            if (i > 1) mb_buf_putc(out, ',');
            c->path[d].kind = PK_INDEX;
            c->path[d].num = (double)i;
            lua_rawgeti(L, t, (int)i);
            bool ok = encode(c, lua_gettop(L), out, start_len);
            lua_pop(L, 1);
            if (!ok) return false;
        }
        mb_buf_putc(out, ']');
    } else {
        bool first = true;
        key_seen ks = {false, false};
        mb_buf_putc(out, '{');
        lua_pushnil(L);
        while (lua_next(L, t)) {
            if (!first) mb_buf_putc(out, ',');
            first = false;
            const char *key;
            size_t klen;
            bool ok = object_key(c, d, &ks, &key, &klen);
            if (ok && key) {
                ok = put_string(c, out, key, klen, true);
            } else if (ok) {
                char num[34];
                int n = number_key(lua_tonumber(L, -2), num + 1);
                num[0] = '"';
                num[n + 1] = '"';
                mb_buf_append(out, num, (size_t)n + 2);
            }
            if (ok) {
                mb_buf_putc(out, ':');
                ok = encode(c, lua_gettop(L), out, start_len);
            }
            lua_pop(L, 1);
            if (!ok) {
                lua_pop(L, 1);
                return false;
            }
        }
        if (ks.num && ks.twin && !check_twins(c, t)) return false;
        mb_buf_putc(out, '}');
    }
    c->depth--;
    return true;
}

static bool encode(enc_ctx *c, int idx, mb_buf *out, size_t start_len)
{
    lua_State *L = c->L;
    if (over_budget(c, out, start_len)) return false;
    switch (lua_type(L, idx)) {
    case LUA_TNIL: mb_buf_append(out, "null", 4); return true;
    case LUA_TBOOLEAN:
        if (lua_toboolean(L, idx)) mb_buf_append(out, "true", 4);
        else mb_buf_append(out, "false", 5);
        return true;
    case LUA_TNUMBER: {
        double d = lua_tonumber(L, idx);
        if (!isfinite(d)) {
            fail(c, "cannot encode NaN or infinity");
            return false;
        }
        mb_buf_reserve(out, 32);
        out->len += (size_t)fmt_number(d, out->data + out->len);
        return true;
    }
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        if (len > MB_LUA_JSON_MAX_BYTES || out->len - start_len + len > MB_LUA_JSON_MAX_BYTES) {
            fail(c, "output larger than %zu bytes", MB_LUA_JSON_MAX_BYTES);
            return false;
        }
        return put_string(c, out, s, len, false);
    }
    case LUA_TLIGHTUSERDATA:
        if (lua_touserdata(L, idx) == NULL) {
            mb_buf_append(out, "null", 4);
            return true;
        }
        fail(c, "cannot encode lightuserdata");
        return false;
    case LUA_TTABLE: return encode_table(c, idx, out, start_len);
    default: fail(c, "cannot encode %s", luaL_typename(L, idx)); return false;
    }
}

mb_status mb_lua_encode_json(lua_State *L, int idx, mb_buf *out, char *err, size_t errlen)
{
    enc_ctx c;
    if (idx < 0 && idx > LUA_REGISTRYINDEX) idx = lua_gettop(L) + idx + 1;
    if (start(&c, L, err, errlen) != MB_OK) return MB_ERR;
    int top = lua_gettop(L);
    size_t start_len = out->len;
    bool ok = encode(&c, idx, out, start_len);
    lua_settop(L, top);
    if (!ok) {
        out->len = start_len;
        return MB_ERR;
    }
    return MB_OK;
}

/* ---- JSON -> Lua -------------------------------------------------------- */

static void push_value(lua_State *L, const json_t *v, int depth)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        if (depth >= MB_LUA_JSON_MAX_DEPTH)
            luaL_error(L, "JSON nesting deeper than %d", MB_LUA_JSON_MAX_DEPTH);
        luaL_checkstack(L, 3, "JSON too deep");
        lua_createtable(L, 0, (int)json_object_size(v));
        for (void *it = json_object_iter((json_t *)v); it; it = json_object_iter_next((json_t *)v, it)) {
            const json_t *val = json_object_iter_value(it);
            if (json_is_null(val)) continue;
            lua_pushlstring(L, json_object_iter_key(it), json_object_iter_key_len(it));
            push_value(L, val, depth + 1);
            lua_rawset(L, -3);
        }
        return;
    }
    case JSON_ARRAY: {
        if (depth >= MB_LUA_JSON_MAX_DEPTH)
            luaL_error(L, "JSON nesting deeper than %d", MB_LUA_JSON_MAX_DEPTH);
        luaL_checkstack(L, 3, "JSON too deep");
        size_t n = json_array_size(v);
        lua_createtable(L, (int)n, 0);
        for (size_t i = 0; i < n; i++) {
            const json_t *el = json_array_get(v, i);
            if (json_is_null(el)) lua_pushlightuserdata(L, NULL);
            else push_value(L, el, depth + 1);
            lua_rawseti(L, -2, (int)i + 1);
        }
        if (n == 0) {
            mb_lua_push_array_marker(L);
            lua_setmetatable(L, -2);
        }
        return;
    }
    case JSON_STRING: lua_pushlstring(L, json_string_value(v), json_string_length(v)); return;
    case JSON_INTEGER: lua_pushnumber(L, (lua_Number)json_integer_value(v)); return;
    case JSON_REAL: lua_pushnumber(L, json_real_value(v)); return;
    case JSON_TRUE: lua_pushboolean(L, 1); return;
    case JSON_FALSE: lua_pushboolean(L, 0); return;
    case JSON_NULL: lua_pushnil(L); return;
    }
}

void mb_lua_push_json(lua_State *L, const json_t *v)
{
    if (!v) {
        lua_pushnil(L);
        return;
    }
    push_value(L, v, 0);
}

struct push_args {
    mb_lua_vm *vm;
    const json_t *v;
};

static int push_protected_cb(lua_State *L)
{
    struct push_args *a = lua_touserdata(L, 1);
    mb_lua_push_json(L, a->v);
    lua_rawseti(L, LUA_REGISTRYINDEX, a->vm->ref_stash);
    return 0;
}

mb_lua_status mb_lua_push_json_protected(mb_lua_vm *vm, const json_t *v, char *err, size_t errlen)
{
    lua_State *L = vm->L;
    struct push_args a = {vm, v};
    if (!lua_checkstack(L, 2)) {
        if (err && errlen) snprintf(err, errlen, "lua stack overflow");
        return MB_LUA_ERR_RUNTIME;
    }
    vm->depth++;
    mb_lua_vm_update_limit(vm);
    int st = lua_cpcall(L, push_protected_cb, &a);
    vm->depth--;
    mb_lua_vm_update_limit(vm);
    if (st != 0) {
        const char *msg = lua_tostring(L, -1);
        if (err && errlen) snprintf(err, errlen, "%s", msg ? msg : "push failed");
        lua_pop(L, 1);
        return st == LUA_ERRMEM ? MB_LUA_ERR_MEMORY : MB_LUA_ERR_RUNTIME;
    }
    /* The stash slot exists already, so neither access allocates. */
    lua_rawgeti(L, LUA_REGISTRYINDEX, vm->ref_stash);
    lua_pushboolean(L, 1);
    lua_rawseti(L, LUA_REGISTRYINDEX, vm->ref_stash);
    return MB_LUA_OK;
}
