/* Unit tests: REST body parsing and declared-field validation (runtime/http.c
 * mb_http_parse_body / mb_http_validate_body / mb_http_validate_query,
 * protocol.c mb_validate_closed). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "mb.h"
#include "protocol.h"

static void route_nop(mb_http_req *r) { (void)r; }

static const char *not_bob(const json_t *v)
{
    return strcmp(json_string_value(v), "bob") == 0 ? "name must not be bob" : NULL;
}

static const mb_field fields[] = {
    {"name", MB_F_STRING, true, 1, 8, not_bob, "not bob"},
    {"note", MB_F_STRING, false, 0, 4, NULL, NULL},
    {"tags", MB_F_ARRAY, false, 0, 2, NULL, NULL},
    {"on", MB_F_BOOL, false, 0, 0, NULL, NULL},
    {NULL},
};
static const mb_route open_route = {"POST", "/x", route_nop, MB_AUTH_NONE, false, fields, 0};
static const mb_route closed_route = {
    "POST", "/x", route_nop, MB_AUTH_NONE, false, fields, MB_BODY_REQUIRED | MB_BODY_CLOSED};
static const mb_route undeclared = {"POST", "/x", route_nop, MB_AUTH_NONE, false};

/* Parse s, validate it against route: the error text, or "" when accepted. */
static const char *check(const mb_route *route, const char *s)
{
    static char err[512];
    json_t *body = NULL;
    err[0] = '\0';
    if (s && mb_http_parse_body(s, strlen(s), 32, &body, err, sizeof err) < 0) {
        json_decref(body);
        return err;
    }
    if (mb_http_validate_body(route, body, err, sizeof err) == 0) err[0] = '\0';
    json_decref(body);
    return err;
}

static void test_parse(void **st)
{
    (void)st;
    assert_string_equal(check(&open_route, "[1]"), "JSON body must be an object");
    assert_non_null(strstr(check(&open_route, "{\"name\": 1, \"name\": 2}"), "invalid JSON body: duplicate"));
    char deep[100] = "{\"a\":";
    for (int i = 0; i < 40; i++) strcat(deep, "[");
    assert_non_null(strstr(check(&undeclared, deep), "invalid JSON body")); /* unterminated */
    for (int i = 0; i < 40; i++) strcat(deep, "]");
    strcat(deep, "}");
    assert_string_equal(check(&undeclared, deep), "JSON nested deeper than 32 levels");
}

static void test_declared(void **st)
{
    (void)st;
    assert_string_equal(check(&open_route, "{\"name\": \"ann\"}"), "");
    assert_string_equal(check(&open_route, "{\"name\": \"ann\", \"extra\": 1}"), ""); /* open body */
    assert_string_equal(check(&open_route, "{}"), "missing field 'name'");
    assert_string_equal(check(&open_route, NULL), "missing field 'name'"); /* no body at all */
    assert_string_equal(check(&open_route, "{\"name\": null}"), "missing field 'name'");
    assert_string_equal(check(&open_route, "{\"name\": 5}"), "field 'name' must be a string");
    assert_string_equal(check(&open_route, "{\"name\": \"123456789\"}"),
                        "field 'name' must be 1..8 characters long");
    assert_string_equal(check(&open_route, "{\"name\": \"ann\", \"note\": \"12345\"}"),
                        "field 'note' must be at most 4 characters long");
    /* \u0000 never reaches the fields: the REST parser refuses it (the socket's accepts it and the
     * field check says "must not contain NUL characters") */
    assert_non_null(strstr(check(&open_route, "{\"name\": \"a\\u0000b\"}"), "invalid JSON body"));
    assert_string_equal(check(&open_route, "{\"name\": \"bob\"}"),
                        "name must not be bob"); /* the field's check */
    assert_string_equal(check(&open_route, "{\"name\": \"ann\", \"tags\": [1, 2, 3]}"),
                        "field 'tags' has more than 2 items");
    assert_string_equal(check(&open_route, "{\"name\": \"ann\", \"on\": \"yes\"}"),
                        "field 'on' must be a boolean");
    assert_string_equal(check(&open_route, "{\"name\": \"ann\", \"note\": null}"), ""); /* null = absent */
}

static void test_closed_required(void **st)
{
    (void)st;
    assert_string_equal(check(&closed_route, NULL), "JSON body required");
    assert_string_equal(check(&closed_route, "{\"name\": \"ann\", \"x\": 1}"),
                        "unknown field 'x' (name, note, tags, on)");
    /* unknown members are refused before the declared ones are checked */
    assert_string_equal(check(&closed_route, "{\"x\": 1}"), "unknown field 'x' (name, note, tags, on)");
    assert_string_equal(check(&closed_route, "{\"name\": \"ann\"}"), "");
    assert_string_equal(check(&undeclared, NULL), "");
    assert_string_equal(check(&undeclared, "{\"anything\": [1]}"), "");
}

static const char *digits_only(const json_t *v)
{
    const char *s = json_string_value(v);
    return strspn(s, "0123456789") == strlen(s) ? NULL : "n must be digits";
}
static const mb_field query[] = {
    {"n", MB_F_STRING, false, 0, 0, digits_only, "digits"},
    {"q", MB_F_STRING, false, 0, 3, NULL, NULL},
    {"need", MB_F_STRING, true, 0, 0, NULL, NULL},
    {NULL},
};
static const mb_route query_route = {"GET", "/x", route_nop, MB_AUTH_NONE, false, NULL, 0, query};

/* ctx: "name=value&..." (no decoding) */
static const char *get_param(const void *ctx, const char *name)
{
    static char out[64];
    const char *p = ctx;
    size_t nl = strlen(name);
    while (p && *p) {
        if (strncmp(p, name, nl) == 0 && p[nl] == '=') {
            size_t l = strcspn(p + nl + 1, "&");
            snprintf(out, sizeof out, "%.*s", (int)l, p + nl + 1);
            return out;
        }
        p = strchr(p, '&');
        if (p) p++;
    }
    return NULL;
}

static const char *checkq(const char *qs)
{
    static char err[256];
    err[0] = '\0';
    if (mb_http_validate_query(&query_route, get_param, qs, err, sizeof err) == 0) err[0] = '\0';
    return err;
}

static void test_query(void **st)
{
    (void)st;
    assert_string_equal(checkq("need=1"), "");
    assert_string_equal(checkq("need=1&n=42&q=abc"), "");
    assert_string_equal(checkq("n=42"), "query parameter 'need' is required");
    assert_string_equal(checkq("need="), "query parameter 'need' is required"); /* empty = absent */
    assert_string_equal(checkq("need=1&n="), "");
    assert_string_equal(checkq("need=1&n=4x"), "n must be digits");
    assert_string_equal(checkq("need=1&q=abcd"), "query parameter 'q' must be at most 3 characters");
    assert_string_equal(checkq("need=1&n=\xff"), "n must be digits"); /* not UTF-8: the check still judges */
    assert_int_equal(mb_http_validate_query(&open_route, get_param, "x=1", (char[8]){0}, 8),
                     0); /* none declared */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_declared),
        cmocka_unit_test(test_closed_required),
        cmocka_unit_test(test_query),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
