/*
 * fuzz_rest_body.c - a REST request body through the runtime's own code:
 * http.c's mb_http_parse_body (json_loadb with JSON_REJECT_DUPLICATES, the
 * object check, mb_json_depth against the default --max-json-depth) and then
 * mb_http_validate_body for every route of the binary that declares a body
 * (the route tables of the modules runtime/main.c assembles, registered as
 * core.c does; see fuzz_modules.h), and mb_http_validate_query for every
 * route that declares query parameters (the body's string members taken as
 * their values). Nothing here repeats a handler's code.
 *
 * Invariants: every refusal has a reason; whatever the validator accepts
 * really has the declared shape (required fields present, each present field
 * of its declared type, strings without NUL and within their length, arrays
 * and objects within their size, no undeclared member when the route is
 * closed, each field's own check passing); the account routes' accepted
 * usernames, emails and device ids have the documented character sets and
 * lengths; an accepted PATCH metadata object serialises within 16 KiB and
 * parses back; the error body the server would send encodes.
 */
#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <sodium.h>

#include "account.h"
#include "fuzz_common.h"
#include "fuzz_modules.h"
#include "http.h"
#include "protocol.h"

#define MAX_BODY (1024 * 1024) /* http.c */
#define MAX_DEPTH 32           /* default --max-json-depth */

/* The error body of mb_http_error (vsnprintf into 512 bytes, mb_utf8_sanitize, json_pack):
 * {"error":{"code","message"}} must always be built. Found here once: jansson's error text could
 * cut a UTF-8 sequence and the 400 went out with an empty body (regressions/rest_body/). */
static void http_error(mb_errcode code, const char *text)
{
    FUZZ_CHECK(text[0] != '\0', "a refusal without a reason");
    char msg[512];
    snprintf(msg, sizeof msg, "%s", text);
    mb_utf8_sanitize(msg);
    FUZZ_CHECK(fuzz_utf8_valid(msg, strlen(msg)), "sanitised message is not UTF-8: %.80s", msg);
    json_t *b = json_pack("{s:{s:s,s:s}}", "error", "code", mb_errcode_str(code), "message", msg);
    FUZZ_CHECK(b != NULL, "error body not built for message \"%.80s\"", msg);
    char *s = json_dumps(b, JSON_COMPACT);
    FUZZ_CHECK(s != NULL, "error body not encoded");
    free(s);
    json_decref(b);
}

static void check_username_ok(const char *u)
{
    size_t n = strlen(u);
    FUZZ_CHECK(n >= 3 && n <= 32, "username of %zu bytes accepted", n);
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK(isalnum((unsigned char)u[i]) || u[i] == '_' || u[i] == '.' || u[i] == '-',
                   "username with byte 0x%02x accepted", (unsigned char)u[i]);
}

static void check_email_ok(const char *e)
{
    size_t n = strlen(e);
    FUZZ_CHECK(n >= 3 && n <= 254, "email of %zu bytes accepted", n);
    const char *at = strchr(e, '@');
    FUZZ_CHECK(at && at != e && !strchr(at + 1, '@'), "email without exactly one '@' accepted");
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK((unsigned char)e[i] > ' ' && e[i] != 0x7f, "email with a control byte accepted");
}

static void check_device_ok(const char *d)
{
    size_t n = strlen(d);
    FUZZ_CHECK(n >= 6 && n <= 128, "device_id of %zu bytes accepted", n);
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK((unsigned char)d[i] >= 0x21 && d[i] != 0x7f, "device_id with a space/control accepted");
}

static void check_password_ok(const char *p)
{
    size_t n = strlen(p);
    FUZZ_CHECK(n >= 8 && n <= 128, "password of %zu bytes accepted", n);
    int same = 1;
    for (size_t i = 1; i < n; i++)
        if (p[i] != p[0]) same = 0;
    FUZZ_CHECK(!same, "one repeated character accepted as a password");
}

static int type_ok(mb_field_type t, const json_t *v)
{
    switch (t) {
    case MB_F_STRING: return json_is_string(v);
    case MB_F_INTEGER: return json_is_integer(v);
    case MB_F_NUMBER: return json_is_number(v);
    case MB_F_BOOL: return json_is_boolean(v);
    case MB_F_OBJECT: return json_is_object(v);
    case MB_F_ARRAY: return json_is_array(v);
    case MB_F_STRING_OR_ARRAY: return json_is_string(v) || json_is_array(v);
    case MB_F_ANY: return 1;
    }
    return 0;
}

/* An accepted body has the declared shape (checked independently of mb_validate). */
static void check_accepted(const mb_route *rt, json_t *body)
{
    for (const mb_field *f = rt->body; f && f->name; f++) {
        json_t *v = json_object_get(body, f->name);
        if (!v || json_is_null(v)) {
            FUZZ_CHECK(!f->required, "%s %s: required field '%s' missing but accepted", rt->method,
                       rt->pattern, f->name);
            continue;
        }
        FUZZ_CHECK(type_ok(f->type, v), "%s %s: field '%s' of the wrong type accepted", rt->method,
                   rt->pattern, f->name);
        if (json_is_string(v)) {
            const char *s = json_string_value(v);
            size_t n = mb_utf8_len(s, json_string_length(v));
            FUZZ_CHECK(!memchr(s, 0, json_string_length(v)), "field '%s' with NUL accepted", f->name);
            FUZZ_CHECK(!(f->max > 0 && (double)n > f->max) && !(f->min > 0 && (double)n < f->min),
                       "field '%s' of %zu characters accepted", f->name, n);
        } else if (json_is_array(v) && f->max > 0) {
            FUZZ_CHECK((double)json_array_size(v) <= f->max, "field '%s': too many items accepted", f->name);
        } else if (json_is_number(v) && (f->min != 0 || f->max != 0)) {
            double d = json_number_value(v);
            FUZZ_CHECK(isfinite(d) && d >= f->min && d <= f->max, "field '%s' out of range accepted",
                       f->name);
        }
        if (f->check)
            FUZZ_CHECK(f->check(v) == NULL, "field '%s' accepted though its check refuses it", f->name);
    }
    if (rt->body_rules & MB_BODY_CLOSED) {
        const char *k;
        json_t *v;
        json_object_foreach (body, k, v) {
            const mb_field *f = rt->body;
            while (f->name && strcmp(f->name, k) != 0) f++;
            FUZZ_CHECK(f->name != NULL, "%s %s: undeclared member accepted", rt->method, rt->pattern);
        }
    }
    /* the account routes: what their fields' checks promise */
    const char *usn = json_string_value(json_object_get(body, "username"));
    if (rt->body == account_device_fields) {
        check_device_ok(json_string_value(json_object_get(body, "device_id")));
        if (usn) check_username_ok(usn);
    } else if (rt->body == account_email_fields) {
        check_email_ok(json_string_value(json_object_get(body, "email")));
        if (usn) check_username_ok(usn);
    } else if (rt->body == account_patch_fields) {
        if (usn) check_username_ok(usn);
        json_t *meta = json_object_get(body, "metadata");
        if (meta && !json_is_null(meta)) {
            char *text = NULL;
            FUZZ_CHECK(account_check_metadata(meta, &text) == NULL && text, "accepted metadata refused");
            FUZZ_CHECK(strlen(text) <= 16384, "metadata over 16 KiB accepted");
            /* what PostgreSQL receives as $4::jsonb must be JSON again */
            json_t *back = json_loads(text, 0, NULL);
            FUZZ_CHECK(json_is_object(back), "metadata text does not parse back");
            json_decref(back);
            free(text);
        }
    }
}

/* Query parameters from the body's string members (NUL-free), for mb_http_validate_query. */
static const char *body_as_query(const void *ctx, const char *name)
{
    json_t *v = json_object_get((const json_t *)ctx, name);
    if (!json_is_string(v) || memchr(json_string_value(v), 0, json_string_length(v))) return NULL;
    return json_string_value(v);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (sodium_init() < 0) abort();
    /* the route tables, as core.c registers them (no init: only declarations are used) */
    for (const mb_module *const *m = fuzz_modules; *m; m++) mb_http_register((*m)->routes, (*m)->n_routes);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > MAX_BODY) {
        http_error(MB_E_BAD_REQUEST, "request body over 1048576 bytes");
        return 0;
    }
    json_t *body = NULL;
    char err[512];
    if (size > 0 && mb_http_parse_body((const char *)data, size, MAX_DEPTH, &body, err, sizeof err) < 0) {
        http_error(MB_E_BAD_REQUEST, err);
        json_decref(body);
        return 0;
    }
    if (size > 0)
        FUZZ_CHECK(json_is_object(body) && mb_json_depth(body) <= MAX_DEPTH, "parse accepted a bad body");
    /* size 0: no body (handlers see NULL) */
    size_t declared = 0;
    for (size_t i = 0; i < mb_http_route_count(); i++) {
        const mb_route *rt = mb_http_route_at(i);
        if (rt->query && body) {
            err[0] = '\0';
            if (mb_http_validate_query(rt, body_as_query, body, err, sizeof err) < 0)
                http_error(MB_E_BAD_REQUEST, err);
        }
        if (!rt->body && !rt->body_rules) continue;
        declared++;
        err[0] = '\0';
        if (mb_http_validate_body(rt, body, err, sizeof err) < 0) http_error(MB_E_BAD_REQUEST, err);
        else if (body) check_accepted(rt, body);
    }
    FUZZ_CHECK(declared >= 8, "only %zu routes declare a body: is the route table registered?", declared);

    /* the account validators on every string member, whatever its name */
    const char *k;
    json_t *v;
    json_object_foreach (body, k, v) {
        if (!json_is_string(v) || memchr(json_string_value(v), 0, json_string_length(v))) continue;
        const char *s = json_string_value(v);
        if (!account_check_username(s)) check_username_ok(s);
        if (!account_check_email(s)) check_email_ok(s);
        if (!account_check_password(s)) check_password_ok(s);
        if (!account_check_device_id(s)) check_device_ok(s);
    }
    json_decref(body);
    return 0;
}
