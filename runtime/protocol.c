/* protocol.c - envelope parsing, validation, registry (see protocol.h). */
#include "protocol.h"
#include "mb.h"
#include "utf8.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* ---- envelope scan: one pass over the text, no tree ---- */

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

typedef struct scan {
    const char *p, *end;
    int depth, max_depth;
} scan;

static void sc_ws(scan *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) c->p++;
}

/* A string at c->p (its quote). The text is valid UTF-8 already. Anything
 * jansson reads differently from a plain reading is refused (the caller
 * then takes jansson's path): a surrogate escape, and in a key (is_key)
 * an escaped NUL. *escaped says whether the string had escapes. */
static bool sc_string(scan *c, bool is_key, bool *escaped)
{
    const char *p = c->p + 1;
    *escaped = false;
    for (;;) {
        if (p >= c->end) return false;
        unsigned char ch = (unsigned char)*p;
        if (ch == '"') break;
        if (ch < 0x20) return false;
        if (ch != '\\') {
            p++;
            continue;
        }
        *escaped = true;
        if (c->end - p < 2) return false;
        char e = p[1];
        if (e == 'u') {
            if (c->end - p < 6) return false;
            for (int i = 2; i < 6; i++)
                if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f') ||
                      (p[i] >= 'A' && p[i] <= 'F')))
                    return false;
            if (p[2] == 'd' || p[2] == 'D') return false;              /* surrogates: jansson's verdict */
            if (is_key && memcmp(p + 2, "0000", 4) == 0) return false; /* jansson refuses NUL in keys */
            p += 6;
            continue;
        }
        if (!strchr("\"\\/bfnrt", e) || e == '\0') return false;
        p += 2;
    }
    c->p = p + 1;
    return true;
}

static bool sc_number(scan *c)
{
    const char *p = c->p, *start = p;
    if (p < c->end && *p == '-') p++;
    if (p >= c->end || *p < '0' || *p > '9') return false;
    if (*p == '0') p++;
    else
        while (p < c->end && *p >= '0' && *p <= '9') p++;
    if (p < c->end && *p == '.') {
        const char *f = ++p;
        while (p < c->end && *p >= '0' && *p <= '9') p++;
        if (p == f) return false;
    }
    if (p < c->end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < c->end && (*p == '+' || *p == '-')) p++;
        const char *e = p;
        while (p < c->end && *p >= '0' && *p <= '9') p++;
        if (p == e) return false;
    }
    if (!number_fits(start, (size_t)(p - start))) return false;
    c->p = p;
    return true;
}

static bool sc_literal(scan *c, const char *w, size_t n)
{
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, w, n) != 0) return false;
    c->p += n;
    return true;
}

/* Any JSON value at c->p (whitespace skipped), nested at most max_depth. */
static bool sc_value(scan *c)
{
    if (c->p >= c->end) return false;
    bool esc;
    char open = *c->p;
    switch (open) {
    case '"': return sc_string(c, false, &esc);
    case 't': return sc_literal(c, "true", 4);
    case 'f': return sc_literal(c, "false", 5);
    case 'n': return sc_literal(c, "null", 4);
    case '{':
    case '[': break;
    default: return sc_number(c);
    }
    if (++c->depth > c->max_depth) return false;
    char close = open == '{' ? '}' : ']';
    c->p++;
    sc_ws(c);
    if (c->p < c->end && *c->p == close) {
        c->p++;
        c->depth--;
        return true;
    }
    for (;;) {
        if (open == '{') {
            if (c->p >= c->end || *c->p != '"' || !sc_string(c, true, &esc)) return false;
            sc_ws(c);
            if (c->p >= c->end || *c->p != ':') return false;
            c->p++;
            sc_ws(c);
        }
        if (!sc_value(c)) return false;
        sc_ws(c);
        if (c->p >= c->end) return false;
        char ch = *c->p++;
        if (ch == close) break;
        if (ch != ',') return false;
        sc_ws(c);
    }
    c->depth--;
    return true;
}

/* A top-level string value (type, cid): 1..max bytes, no escapes (an
 * escaped one goes the jansson way), copied to out. */
static bool sc_top_string(scan *c, char *out, size_t max)
{
    const char *start = c->p + 1;
    bool esc;
    if (c->p >= c->end || *c->p != '"' || !sc_string(c, false, &esc) || esc) return false;
    size_t l = (size_t)(c->p - 1 - start);
    if (l == 0 || l > max) return false;
    memcpy(out, start, l);
    out[l] = '\0';
    return true;
}

mb_status mb_envelope_scan(const char *data, size_t len, int max_depth, mb_envelope_view *v)
{
    memset(v, 0, sizeof *v);
    v->data = data;
    /* Strict UTF-8 (no overlong forms, surrogates or code points past
     * U+10FFFF), as jansson reads it. */
    if (!mb_utf8_valid(data, len)) return MB_ERR;
    scan c = {.p = data, .end = data + len, .depth = 1, .max_depth = max_depth};
    if (max_depth < 1) return MB_ERR;
    sc_ws(&c);
    if (c.p >= c.end || *c.p != '{') return MB_ERR;
    c.p++;
    unsigned seen = 0; /* bit 0 type, 1 cid, 2 payload */
    sc_ws(&c);
    if (c.p < c.end && *c.p == '}') return MB_ERR; /* no type */
    for (;;) {
        /* the only keys: type, cid, payload, each once, written plainly */
        int k = -1;
        if (c.end - c.p >= 6 && memcmp(c.p, "\"type\"", 6) == 0) k = 0, c.p += 6;
        else if (c.end - c.p >= 5 && memcmp(c.p, "\"cid\"", 5) == 0) k = 1, c.p += 5;
        else if (c.end - c.p >= 9 && memcmp(c.p, "\"payload\"", 9) == 0) k = 2, c.p += 9;
        if (k < 0 || (seen & (1u << k))) return MB_ERR;
        seen |= 1u << k;
        sc_ws(&c);
        if (c.p >= c.end || *c.p != ':') return MB_ERR;
        c.p++;
        sc_ws(&c);
        if (k == 0 && !sc_top_string(&c, v->type, sizeof v->type - 1)) return MB_ERR;
        if (k == 1) {
            if (!sc_top_string(&c, v->cid, sizeof v->cid - 1)) return MB_ERR;
            v->has_cid = true;
        }
        if (k == 2) {
            if (c.p >= c.end || *c.p != '{') return MB_ERR;
            const char *at = c.p;
            if (!sc_value(&c)) return MB_ERR;
            v->payload = at;
            v->payload_len = (size_t)(c.p - at);
        }
        sc_ws(&c);
        if (c.p >= c.end) return MB_ERR;
        char ch = *c.p++;
        if (ch == '}') break;
        if (ch != ',') return MB_ERR;
        sc_ws(&c);
    }
    if (!(seen & 1u)) return MB_ERR;
    sc_ws(&c); /* only JSON whitespace may follow */
    return c.p == c.end ? MB_OK : MB_ERR;
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
