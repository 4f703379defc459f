/* protocol.c - envelope parsing, validation, registry (see protocol.h). */
#include "protocol.h"
#include "mb.h"
#include "utf8.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_parse.h>

static const char *const codes[MB_E__COUNT] = {
    "bad_request",  "unauthorized", "forbidden", "not_found",   "conflict",
    "rate_limited", "unavailable",  "internal",  "unsupported", "account_banned",
};
static const int statuses[MB_E__COUNT] = {400, 401, 403, 404, 409, 429, 503, 500, 404, 403};

const char *mb_errcode_str(mb_errcode c) { return c < MB_E__COUNT ? codes[c] : "internal"; }
int mb_errcode_http_status(mb_errcode c) { return c < MB_E__COUNT ? statuses[c] : 500; }

/* ---- registry: open-addressing hash of type -> def ---- */
#define REG_CAP 256
static const mb_msg_def *reg[REG_CAP];
static mb_msg_raw_fn reg_raw[REG_CAP]; /* same slots as reg */
static const mb_msg_def *reg_list[REG_CAP];
static size_t reg_n;

static uint32_t hash_str(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

mb_status mb_protocol_register(const mb_msg_def *defs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (reg_n + 1 >= REG_CAP / 2) return MB_ERR;
        uint32_t h = hash_str(defs[i].type) & (REG_CAP - 1);
        while (reg[h]) {
            if (strcmp(reg[h]->type, defs[i].type) == 0) return MB_ERR;
            h = (h + 1) & (REG_CAP - 1);
        }
        reg[h] = &defs[i];
        reg_list[reg_n++] = &defs[i];
    }
    return MB_OK;
}

static int reg_slot(const char *type)
{
    uint32_t h = hash_str(type) & (REG_CAP - 1);
    while (reg[h]) {
        if (strcmp(reg[h]->type, type) == 0) return (int)h;
        h = (h + 1) & (REG_CAP - 1);
    }
    return -1;
}

const mb_msg_def *mb_protocol_find(const char *type)
{
    int h = reg_slot(type);
    return h < 0 ? NULL : reg[h];
}

const mb_msg_def *mb_protocol_lookup(const char *type, mb_msg_raw_fn *raw)
{
    int h = reg_slot(type);
    *raw = h < 0 ? NULL : reg_raw[h];
    return h < 0 ? NULL : reg[h];
}

mb_status mb_protocol_register_raw(const char *type, mb_msg_raw_fn fn)
{
    int h = reg_slot(type);
    if (h < 0 || reg[h]->before_auth || (reg[h]->fields && reg[h]->fields[0].name)) return MB_ERR;
    reg_raw[h] = fn;
    return MB_OK;
}

void mb_protocol_reset(void)
{
    memset(reg, 0, sizeof reg);
    memset(reg_raw, 0, sizeof reg_raw);
    memset(reg_list, 0, sizeof reg_list);
    reg_n = 0;
}

size_t mb_protocol_count(void) { return reg_n; }
const mb_msg_def *mb_protocol_at(size_t i) { return i < reg_n ? reg_list[i] : NULL; }

/* ---- JSON helpers ---- */
int mb_json_depth(const json_t *v)
{
    int best = 0;
    if (json_is_object(v)) {
        const char *k;
        json_t *c;
        json_object_foreach ((json_t *)v, k, c) {
            int d = mb_json_depth(c);
            if (d > best) best = d;
        }
        return best + 1;
    }
    if (json_is_array(v)) {
        size_t i;
        json_t *c;
        json_array_foreach (v, i, c) {
            int d = mb_json_depth(c);
            if (d > best) best = d;
        }
        return best + 1;
    }
    return 0;
}

char *mb_utf8_sanitize(char *s)
{
    unsigned char *p = (unsigned char *)s;
    while (*p) {
        /* left = 4: the NUL fails the continuation checks before any read past it */
        size_t n = mb_utf8_seq(p, 4);
        if (!n) {
            *p++ = '?';
            continue;
        }
        p += n;
    }
    return s;
}

size_t mb_utf8_len(const char *s, size_t bytes)
{
    size_t n = 0;
    for (size_t i = 0; i < bytes; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80) n++;
    return n;
}

mb_status mb_envelope_parse(const char *data, size_t len, int max_depth, mb_envelope *env, char *err,
                            size_t errlen)
{
    memset(env, 0, sizeof *env);
    json_error_t jerr;
    /* \u0000 is valid JSON: accept it here (so the reply can carry the cid)
     * and refuse it where it matters (cid, type, declared string fields). */
    env->root = json_loadb(data, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    if (!env->root) {
        snprintf(err, errlen, "invalid JSON: %s at position %d", jerr.text, jerr.position);
        return MB_ERR;
    }
    if (!json_is_object(env->root)) {
        snprintf(err, errlen, "message must be a JSON object");
        return MB_ERR;
    }
    json_t *cid = json_object_get(env->root, "cid");
    if (cid) {
        if (!json_is_string(cid) || json_string_length(cid) == 0 || json_string_length(cid) > 128 ||
            strlen(json_string_value(cid)) != json_string_length(cid)) {
            snprintf(err, errlen, "cid must be a string of 1..128 characters");
            return MB_ERR;
        }
        env->cid = json_string_value(cid);
    }
    json_t *type = json_object_get(env->root, "type");
    if (!type) {
        snprintf(err, errlen, "missing field 'type'");
        return MB_ERR;
    }
    if (!json_is_string(type) || json_string_length(type) == 0 || json_string_length(type) > 64 ||
        strlen(json_string_value(type)) != json_string_length(type)) {
        snprintf(err, errlen, "field 'type' must be a string of 1..64 characters");
        return MB_ERR;
    }
    env->type = json_string_value(type);
    json_t *payload = json_object_get(env->root, "payload");
    if (payload && !json_is_object(payload)) {
        snprintf(err, errlen, "field 'payload' must be an object");
        return MB_ERR;
    }
    if (mb_json_depth(env->root) > max_depth) {
        snprintf(err, errlen, "JSON nested deeper than %d levels", max_depth);
        return MB_ERR;
    }
    if (!payload) {
        payload = json_object();
        json_object_set_new(env->root, "payload", payload);
    }
    env->payload = payload;
    return MB_OK;
}

/* ---- envelope scan: yajl events, no tree ---- */

enum { K_OTHER, K_TYPE, K_CID, K_PAYLOAD };

typedef struct scan_ctx {
    yajl_handle h;
    mb_envelope_view *v;
    int depth, max_depth;
    int key;           /* top-level key whose value comes next */
    unsigned seen;     /* bit per K_* */
    size_t payload_at; /* offset of the payload's '{' */
    int roots;         /* top-level values seen */
    size_t root_end;   /* offset just past the envelope's '}' */
} scan_ctx;

/* A top-level value other than an object payload: type and cid strings are
 * taken by on_str; anything else there means "use the full parser". */
static int sc_scalar_at_top(scan_ctx *c) { return c->depth > 1 ? 1 : 0; }
static int sc_null(void *ctx) { return sc_scalar_at_top(ctx); }
static int sc_bool(void *ctx, int b)
{
    (void)b;
    return sc_scalar_at_top(ctx);
}
/* Numbers jansson cannot hold (integers beyond int64, reals that overflow
 * a double) make the message invalid JSON there: leave them to it. */
static bool number_fits(const char *s, size_t l)
{
    bool neg = s[0] == '-';
    if (!memchr(s, '.', l) && !memchr(s, 'e', l) && !memchr(s, 'E', l)) {
        size_t digits = l - neg;
        if (digits < 19) return true;
        if (digits > 19) return false;
        return memcmp(s + neg, neg ? "9223372036854775808" : "9223372036854775807", 19) <= 0;
    }
    char buf[128];
    if (l >= sizeof buf) return false;
    memcpy(buf, s, l);
    buf[l] = '\0';
    return isfinite(strtod(buf, NULL));
}
static int sc_num(void *ctx, const char *s, size_t l)
{
    if (!number_fits(s, l)) return 0;
    return sc_scalar_at_top(ctx);
}
static int sc_str(void *ctx, const unsigned char *s, size_t l)
{
    scan_ctx *c = ctx;
    if (c->depth != 1) return 1;
    if (c->key == K_TYPE) {
        if (l == 0 || l > 64 || memchr(s, 0, l)) return 0;
        memcpy(c->v->type, s, l);
        c->v->type[l] = '\0';
        return 1;
    }
    if (c->key == K_CID) {
        if (l == 0 || l > 128 || memchr(s, 0, l)) return 0;
        memcpy(c->v->cid, s, l);
        c->v->cid[l] = '\0';
        c->v->has_cid = true;
        return 1;
    }
    return c->key == K_OTHER;
}
static int sc_open(scan_ctx *c, bool map)
{
    if (c->depth == 0 && c->roots) return 0; /* a second value: trailing garbage */
    if (++c->depth > c->max_depth) return 0;
    if (c->depth == 1) return map; /* the envelope itself must be an object */
    if (c->depth == 2) {
        if (c->key == K_PAYLOAD) {
            if (!map) return 0;
            c->payload_at = yajl_get_bytes_consumed(c->h) - 1;
        } else if (c->key != K_OTHER) {
            return 0;
        }
    }
    return 1;
}
static int sc_close(scan_ctx *c)
{
    if (c->depth == 2 && c->key == K_PAYLOAD) {
        size_t end = yajl_get_bytes_consumed(c->h);
        c->v->payload = c->v->data + c->payload_at;
        c->v->payload_len = end - c->payload_at;
    }
    if (--c->depth == 0) {
        c->roots++;
        c->root_end = yajl_get_bytes_consumed(c->h);
    }
    return 1;
}
static int sc_start_map(void *ctx) { return sc_open(ctx, true); }
static int sc_start_array(void *ctx) { return sc_open(ctx, false); }
static int sc_end(void *ctx) { return sc_close(ctx); }
static int sc_key(void *ctx, const unsigned char *s, size_t l)
{
    scan_ctx *c = ctx;
    if (memchr(s, 0, l)) return 0; /* jansson refuses NUL in keys */
    if (c->depth != 1) return 1;
    int k = l == 4 && memcmp(s, "type", 4) == 0      ? K_TYPE
            : l == 3 && memcmp(s, "cid", 3) == 0     ? K_CID
            : l == 7 && memcmp(s, "payload", 7) == 0 ? K_PAYLOAD
                                                     : K_OTHER;
    /* Unknown or repeated top-level keys: leave the verdict to jansson. */
    if (k == K_OTHER || (c->seen & (1u << k))) return 0;
    c->seen |= 1u << k;
    c->key = k;
    return 1;
}

static yajl_alloc_funcs scratch_funcs = {mb_scratch_malloc, mb_scratch_realloc, mb_scratch_free, NULL};

static const yajl_callbacks scan_callbacks = {
    sc_null, sc_bool, NULL, NULL, sc_num, sc_str, sc_start_map, sc_key, sc_end, sc_start_array, sc_end,
};

mb_status mb_envelope_scan(const char *data, size_t len, int max_depth, mb_envelope_view *v)
{
    memset(v, 0, sizeof *v);
    v->data = data;
    /* Strict UTF-8 (no overlong forms, surrogates or code points past
     * U+10FFFF), as jansson reads it; yajl's own check lets overlongs through. */
    if (!mb_utf8_valid(data, len)) return MB_ERR;
    /* yajl reads \v and \f as whitespace, JSON (and jansson) does not; raw
     * control bytes are invalid inside strings anyway */
    if (memchr(data, '\v', len) || memchr(data, '\f', len)) return MB_ERR;
    /* yajl turns a lone surrogate escape into '?', jansson refuses it:
     * any surrogate escape goes the jansson way. */
    for (const char *p = data, *end = data + len; (p = memchr(p, '\\', (size_t)(end - p))) != NULL; p += 2) {
        if (end - p >= 3 && p[1] == 'u' && (p[2] == 'd' || p[2] == 'D')) return MB_ERR;
        if (end - p < 2) break;
    }
    scan_ctx c = {.v = v, .max_depth = max_depth};
    c.h = yajl_alloc(&scan_callbacks, &scratch_funcs, &c);
    if (!c.h) return MB_ERR;
    yajl_config(c.h, yajl_dont_validate_strings, 1); /* checked above, strictly */
    yajl_status st = yajl_parse(c.h, (const unsigned char *)data, len);
    if (st == yajl_status_ok) st = yajl_complete_parse(c.h);
    yajl_free(c.h);
    if (st != yajl_status_ok || c.roots != 1 || !(c.seen & (1u << K_TYPE)) || !v->type[0]) return MB_ERR;
    /* yajl misses an unterminated string after the object: only JSON
     * whitespace may follow it */
    for (size_t i = c.root_end; i < len; i++)
        if (data[i] != ' ' && data[i] != '\t' && data[i] != '\n' && data[i] != '\r') return MB_ERR;
    return MB_OK;
}

void mb_envelope_free(mb_envelope *env)
{
    if (!env) return;
    json_decref(env->root);
    memset(env, 0, sizeof *env);
}

static const char *type_name(mb_field_type t)
{
    switch (t) {
    case MB_F_STRING: return "a string";
    case MB_F_INTEGER: return "an integer";
    case MB_F_NUMBER: return "a number";
    case MB_F_BOOL: return "a boolean";
    case MB_F_OBJECT: return "an object";
    case MB_F_ARRAY: return "an array";
    case MB_F_STRING_OR_ARRAY: return "a string or an array";
    case MB_F_ANY: return "a value";
    }
    return "a value";
}

const char *mb_field_type_name(mb_field_type t)
{
    switch (t) {
    case MB_F_STRING: return "string";
    case MB_F_INTEGER: return "integer";
    case MB_F_NUMBER: return "number";
    case MB_F_BOOL: return "boolean";
    case MB_F_OBJECT: return "object";
    case MB_F_ARRAY: return "array";
    case MB_F_STRING_OR_ARRAY: return "string|array";
    case MB_F_ANY: return "any";
    }
    return "any";
}

mb_status mb_validate_closed(const mb_field *fields, json_t *payload, char *err, size_t errlen)
{
    const char *key;
    json_t *v;
    json_object_foreach (payload, key, v) {
        const mb_field *f = fields;
        while (f && f->name && strcmp(f->name, key) != 0) f++;
        if (f && f->name) continue;
        char names[256];
        size_t o = 0;
        names[0] = '\0';
        for (f = fields; f && f->name && o < sizeof names; f++)
            o += (size_t)snprintf(names + o, sizeof names - o, "%s%s", f == fields ? "" : ", ", f->name);
        snprintf(err, errlen, "unknown field '%.64s' (%s)", key, names);
        mb_utf8_sanitize(err);
        return MB_ERR;
    }
    return MB_OK;
}

mb_status mb_validate(const mb_field *fields, json_t *payload, char *err, size_t errlen)
{
    for (const mb_field *f = fields; f && f->name; f++) {
        json_t *v = json_object_get(payload, f->name);
        if (!v || json_is_null(v)) {
            if (f->required) {
                snprintf(err, errlen, "missing field '%s'", f->name);
                return MB_ERR;
            }
            continue;
        }
        bool ok = false;
        switch (f->type) {
        case MB_F_STRING: ok = json_is_string(v); break;
        case MB_F_INTEGER: ok = json_is_integer(v); break;
        case MB_F_NUMBER: ok = json_is_number(v); break;
        case MB_F_BOOL: ok = json_is_boolean(v); break;
        case MB_F_OBJECT: ok = json_is_object(v); break;
        case MB_F_ARRAY: ok = json_is_array(v); break;
        case MB_F_STRING_OR_ARRAY: ok = json_is_string(v) || json_is_array(v); break;
        case MB_F_ANY: ok = true; break;
        }
        if (!ok) {
            snprintf(err, errlen, "field '%s' must be %s", f->name, type_name(f->type));
            return MB_ERR;
        }
        if (json_is_string(v)) {
            size_t n = mb_utf8_len(json_string_value(v), json_string_length(v));
            if ((f->min > 0 && (double)n < f->min) || (f->max > 0 && (double)n > f->max)) {
                if (f->min > 0 && f->max > 0)
                    snprintf(err, errlen, "field '%s' must be %g..%g characters long", f->name, f->min,
                             f->max);
                else if (f->max > 0)
                    snprintf(err, errlen, "field '%s' must be at most %g characters long", f->name, f->max);
                else snprintf(err, errlen, "field '%s' must be at least %g characters long", f->name, f->min);
                return MB_ERR;
            }
            if (memchr(json_string_value(v), '\0', json_string_length(v))) {
                snprintf(err, errlen, "field '%s' must not contain NUL characters", f->name);
                return MB_ERR;
            }
        } else if (json_is_number(v) && (f->min != 0 || f->max != 0)) {
            double d = json_number_value(v);
            if (!isfinite(d) || d < f->min || d > f->max) {
                snprintf(err, errlen, "field '%s' must be in %g..%g", f->name, f->min, f->max);
                return MB_ERR;
            }
        } else if (json_is_array(v) && f->max > 0 && (double)json_array_size(v) > f->max) {
            snprintf(err, errlen, "field '%s' has more than %g items", f->name, f->max);
            return MB_ERR;
        } else if (json_is_object(v) && f->max > 0 && (double)json_object_size(v) > f->max) {
            snprintf(err, errlen, "field '%s' has more than %g members", f->name, f->max);
            return MB_ERR;
        }
        const char *why = f->check ? f->check(v) : NULL;
        if (why) {
            snprintf(err, errlen, "%s", why);
            return MB_ERR;
        }
    }
    return MB_OK;
}

char *mb_envelope_encode(const char *type, const char *cid, const json_t *payload, size_t *len)
{
    json_t *env = json_object();
    if (cid) json_object_set_new(env, "cid", json_string(cid));
    json_object_set_new(env, "type", json_string(type));
    if (payload) json_object_set(env, "payload", (json_t *)payload);
    else json_object_set_new(env, "payload", json_object());
    char *s = json_dumps(env, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(env);
    if (!s) s = mb_strdup("{}");
    *len = strlen(s);
    return s;
}

json_t *mb_error_payload(mb_errcode code, const char *message, const char *request_type)
{
    json_t *p = json_object();
    json_object_set_new(p, "code", json_string(mb_errcode_str(code)));
    char *msg = mb_strdup(message ? message : mb_errcode_str(code));
    json_object_set_new(p, "message", json_string(mb_utf8_sanitize(msg)));
    free(msg);
    json_t *rt = request_type ? json_string(request_type) : NULL;
    if (rt) json_object_set_new(p, "request_type", rt);
    else json_object_set_new(p, "request_type", json_null());
    return p;
}
