/* Unit tests: envelope parsing, validation, registry, encoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mb.h"
#include "protocol.h"

static int parse(const char *s, mb_envelope *env, char *err)
{
    return mb_envelope_parse(s, strlen(s), 32, env, err, 256);
}

static void test_valid_envelope(void **st)
{
    mb_envelope env;
    char err[256];
    assert_int_equal(parse("{\"cid\":\"7\",\"type\":\"chat.send\",\"payload\":{\"a\":1}}", &env, err), 0);
    assert_string_equal(env.type, "chat.send");
    assert_string_equal(env.cid, "7");
    assert_int_equal(json_integer_value(json_object_get(env.payload, "a")), 1);
    mb_envelope_free(&env);
}

static void test_payload_optional(void **st)
{
    mb_envelope env;
    char err[256];
    assert_int_equal(parse("{\"type\":\"session.heartbeat\"}", &env, err), 0);
    assert_null(env.cid);
    assert_true(json_is_object(env.payload));
    assert_int_equal(json_object_size(env.payload), 0);
    mb_envelope_free(&env);
}

static void test_invalid_json(void **st)
{
    mb_envelope env;
    char err[256];
    assert_int_equal(parse("{\"type\":", &env, err), -1);
    assert_non_null(strstr(err, "invalid JSON"));
    mb_envelope_free(&env);
    assert_int_equal(parse("[1,2]", &env, err), -1);
    assert_non_null(strstr(err, "object"));
    mb_envelope_free(&env);
}

static void test_missing_type_keeps_cid(void **st)
{
    mb_envelope env;
    char err[256];
    assert_int_equal(parse("{\"cid\":\"x1\",\"payload\":{}}", &env, err), -1);
    assert_string_equal(err, "missing field 'type'");
    assert_string_equal(env.cid, "x1");
    mb_envelope_free(&env);
}

static void test_bad_field_types(void **st)
{
    mb_envelope env;
    char err[256];
    assert_int_equal(parse("{\"type\":5}", &env, err), -1);
    assert_non_null(strstr(err, "'type' must be a string"));
    mb_envelope_free(&env);
    assert_int_equal(parse("{\"type\":\"a\",\"payload\":[]}", &env, err), -1);
    assert_non_null(strstr(err, "'payload' must be an object"));
    mb_envelope_free(&env);
    assert_int_equal(parse("{\"type\":\"a\",\"cid\":12}", &env, err), -1);
    assert_non_null(strstr(err, "cid"));
    mb_envelope_free(&env);
}

static void test_depth_limit(void **st)
{
    char buf[512] = "{\"type\":\"a\",\"payload\":{\"x\":";
    for (int i = 0; i < 40; i++) strcat(buf, "[");
    for (int i = 0; i < 40; i++) strcat(buf, "]");
    strcat(buf, "}}");
    mb_envelope env;
    char err[256];
    assert_int_equal(parse(buf, &env, err), -1);
    assert_non_null(strstr(err, "nested deeper"));
    mb_envelope_free(&env);
}

static void test_duplicate_keys_rejected(void **st)
{
    mb_envelope env;
    char err[256];
    assert_int_equal(parse("{\"type\":\"a\",\"type\":\"b\"}", &env, err), -1);
    mb_envelope_free(&env);
}

static int scan(const char *s, mb_envelope_view *v) { return mb_envelope_scan(s, strlen(s), 32, v); }

/* {"type":"a","payload":{"a":[[...]]}} with k arrays (or "payload":[[...]] when !in_object) */
static void nest_env(char *buf, size_t cap, int k, bool in_object)
{
    int n = snprintf(buf, cap, "{\"type\":\"a\",\"payload\":%s", in_object ? "{\"a\":" : "");
    for (int i = 0; i < k; i++) buf[n++] = '[';
    for (int i = 0; i < k; i++) buf[n++] = ']';
    snprintf(buf + n, cap - (size_t)n, "%s}", in_object ? "}" : "");
}

static void test_envelope_scan(void **st)
{
    mb_envelope_view v;
    const char *m = "{\"type\":\"match.input\",\"cid\":\"c1\",\"payload\":{\"x\":1,\"o\":{\"y\":[1,2]}}}";
    assert_int_equal(scan(m, &v), 0);
    assert_string_equal(v.type, "match.input");
    assert_true(v.has_cid);
    assert_string_equal(v.cid, "c1");
    assert_non_null(v.payload);
    assert_int_equal(v.payload_len, strlen("{\"x\":1,\"o\":{\"y\":[1,2]}}"));
    assert_memory_equal(v.payload, "{\"x\":1,\"o\":{\"y\":[1,2]}}", v.payload_len);
    /* payload first, whitespace, no cid, no payload */
    assert_int_equal(scan(" { \"payload\" : { } , \"type\" : \"t\" } ", &v), 0);
    assert_false(v.has_cid);
    assert_int_equal(v.payload_len, 3);
    assert_memory_equal(v.payload, "{ }", 3);
    assert_int_equal(scan("{\"type\":\"t\"}", &v), 0);
    assert_null(v.payload);
    /* everything unusual is left to mb_envelope_parse */
    const char *refused[] = {
        "",
        "[]",
        "{}",
        "{\"type\":1}",
        "{\"type\":\"\"}",
        "{\"type\":\"a\",\"type\":\"a\"}",
        "{\"type\":\"a\",\"extra\":1}",
        "{\"type\":\"a\",\"payload\":[]}",
        "{\"type\":\"a\",\"payload\":null}",
        "{\"type\":\"a\",\"cid\":\"\"}",
        "{\"type\":\"a\\u0000b\"}",
        "{\"type\":\"a\",\"payload\":{\"n\":1e400}}",
        "{\"type\":\"a\",\"payload\":{\"n\":9223372036854775808}}",
        "{\"type\":\"a\",\"payload\":{\"s\":\"\\ud800\"}}",
        "{\"type\":\"a\",\"payload\":{}",
        "{\"type\":\"a\",\"payload\":{\"k\\u0000\":1}}",
        "{\"type\":\"a\"} x",
        "{\"type\":\"a\",\v\"payload\":{}}",
        "{\"type\":\"a\"} \"x",
        "{\"type\":\"a\"} {}",
        "{\"type\":\"a\"} 1",
        "{\"type\":\"a\",\"payload\":{\"s\":\"\xff\"}}",
        "{\"type\":\"a\",\"payload\":{\"s\":\"\xc1\xa9\"}}",
        "{\"type\":\"a\",\"payload\":{\"s\":\"\xed\xa0\x80\"}}",
    };
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        if (scan(refused[i], &v) != -1) fprintf(stderr, "accepted: %s\n", refused[i]);
        assert_int_equal(scan(refused[i], &v), -1);
    }
    /* integers up to int64 are fine; an escaped backslash before "ud" is not a surrogate */
    assert_int_equal(scan("{\"type\":\"a\",\"payload\":{\"n\":-9223372036854775808,\"s\":\"\\\\ud\"}}", &v),
                     0);
    /* depth: the root counts as one level, as in mb_envelope_parse */
    char deep[200];
    nest_env(deep, sizeof deep, 31, false);
    assert_int_equal(scan(deep, &v), -1); /* payload must be an object */
    mb_envelope env;
    char err[256];
    nest_env(deep, sizeof deep, 30, true); /* root + payload + 30 arrays = 32 levels */
    assert_int_equal(scan(deep, &v), 0);
    assert_int_equal(parse(deep, &env, err), 0);
    mb_envelope_free(&env);
    nest_env(deep, sizeof deep, 31, true); /* 33 levels */
    assert_int_equal(scan(deep, &v), -1);
    assert_int_equal(parse(deep, &env, err), -1);
    assert_non_null(strstr(err, "nested deeper"));
    mb_envelope_free(&env);
}

/* The scratch arena behind the yajl handles: blocks do not overlap, keep
 * their bytes through realloc, big ones go to the heap, and the arena is
 * reused once everything was freed. */
static void test_scratch_arena(void **st)
{
    unsigned char *a = mb_scratch_malloc(NULL, 100), *b = mb_scratch_malloc(NULL, 3000);
    assert_non_null(a);
    assert_non_null(b);
    memset(a, 0xAA, 100);
    memset(b, 0xBB, 3000);
    assert_true(b >= a + 100 || a >= b + 3000);
    b = mb_scratch_realloc(NULL, b, 6000); /* the newest block grows */
    for (int i = 0; i < 3000; i++) assert_int_equal(b[i], 0xBB);
    memset(b, 0xCC, 6000);
    a = mb_scratch_realloc(NULL, a, 500); /* an older block moves */
    for (int i = 0; i < 100; i++) assert_int_equal(a[i], 0xAA);
    memset(a, 0xAA, 500);
    unsigned char *big = mb_scratch_malloc(NULL, 100000); /* larger than the arena */
    assert_non_null(big);
    memset(big, 1, 100000);
    unsigned char *grow = mb_scratch_realloc(NULL, mb_scratch_malloc(NULL, 16), 40000); /* moves out */
    assert_non_null(grow);
    memset(grow, 2, 40000);
    for (int i = 0; i < 6000; i++) assert_int_equal(b[i], 0xCC);
    for (int i = 0; i < 500; i++) assert_int_equal(a[i], 0xAA);
    mb_scratch_free(NULL, big);
    mb_scratch_free(NULL, grow);
    mb_scratch_free(NULL, a);
    unsigned char *first = b;
    mb_scratch_free(NULL, b);
    unsigned char *again = mb_scratch_malloc(NULL, 8);
    assert_non_null(again);
#if !defined(__SANITIZE_ADDRESS__)
    assert_true(again <= first); /* everything was freed: the arena starts over */
#else
    (void)first;
#endif
    mb_scratch_free(NULL, again);
    mb_scratch_free(NULL, NULL);
}

static const mb_field fields[] = {
    {"name", MB_F_STRING, true, 1, 5},
    {"n", MB_F_INTEGER, false, 0, 10},
    {"opt", MB_F_STRING_OR_ARRAY, false, 0, 3},
    {NULL},
};

static void test_validate(void **st)
{
    char err[256];
    json_t *p = json_pack("{s:s,s:i}", "name", "abc", "n", 3);
    assert_int_equal(mb_validate(fields, p, err, sizeof err), 0);
    json_object_set_new(p, "n", json_integer(11));
    assert_int_equal(mb_validate(fields, p, err, sizeof err), -1);
    assert_non_null(strstr(err, "'n' must be in"));
    json_object_set_new(p, "n", json_string("3"));
    assert_int_equal(mb_validate(fields, p, err, sizeof err), -1);
    assert_non_null(strstr(err, "'n' must be an integer"));
    json_object_del(p, "n");
    json_object_set_new(p, "name", json_string("abcdef"));
    assert_int_equal(mb_validate(fields, p, err, sizeof err), -1);
    assert_non_null(strstr(err, "'name' must be 1..5 characters"));
    /* 5 code points of multi-byte UTF-8 are fine */
    json_object_set_new(p, "name", json_string("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"));
    assert_int_equal(mb_validate(fields, p, err, sizeof err), 0);
    json_object_set_new(p, "opt", json_pack("[s,s,s,s]", "a", "b", "c", "d"));
    assert_int_equal(mb_validate(fields, p, err, sizeof err), -1);
    assert_non_null(strstr(err, "more than 3 items"));
    json_object_set_new(p, "opt", json_integer(1));
    assert_int_equal(mb_validate(fields, p, err, sizeof err), -1);
    json_object_del(p, "opt");
    json_object_del(p, "name");
    assert_int_equal(mb_validate(fields, p, err, sizeof err), -1);
    assert_string_equal(err, "missing field 'name'");
    json_decref(p);
}

static void dummy(struct mb_session *s, const char *cid, json_t *p) {}

static void test_registry(void **st)
{
    static const mb_msg_def defs[] = {{"a.b", fields, dummy, false}, {"c.d", fields, dummy, true}};
    static const mb_msg_def dup[] = {{"a.b", fields, dummy, false}};
    mb_protocol_reset();
    assert_int_equal(mb_protocol_register(defs, 2), 0);
    assert_ptr_equal(mb_protocol_find("a.b"), &defs[0]);
    assert_ptr_equal(mb_protocol_find("c.d"), &defs[1]);
    assert_null(mb_protocol_find("x.y"));
    assert_int_equal(mb_protocol_register(dup, 1), -1);
    assert_int_equal(mb_protocol_count(), 2);
    mb_protocol_reset();
}

static void test_encode(void **st)
{
    size_t len;
    json_t *p = json_pack("{s:s}", "player_id", "p1");
    char *s = mb_envelope_encode("session.connected", "c\"1", p, &len);
    assert_string_equal(
        s, "{\"cid\":\"c\\\"1\",\"type\":\"session.connected\",\"payload\":{\"player_id\":\"p1\"}}");
    assert_int_equal(len, strlen(s));
    free(s);
    s = mb_envelope_encode("x", NULL, NULL, &len);
    assert_string_equal(s, "{\"type\":\"x\",\"payload\":{}}");
    free(s);
    json_decref(p);
}

static void test_error_payload(void **st)
{
    json_t *e = mb_error_payload(MB_E_RATE_LIMITED, "slow", "chat.send");
    assert_string_equal(json_string_value(json_object_get(e, "code")), "rate_limited");
    assert_string_equal(json_string_value(json_object_get(e, "request_type")), "chat.send");
    json_decref(e);
    assert_int_equal(mb_errcode_http_status(MB_E_UNAVAILABLE), 503);
    assert_int_equal(mb_errcode_http_status(MB_E_CONFLICT), 409);
    assert_string_equal(mb_errcode_str(MB_E_UNSUPPORTED), "unsupported");
}

static void test_nul_in_strings(void **st)
{
    mb_envelope env;
    char err[256];
    /* a NUL inside the payload parses (and keeps the cid for the reply) */
    assert_int_equal(parse("{\"cid\":\"n1\",\"type\":\"a.b\",\"payload\":{\"s\":\"x\\u0000y\"}}", &env, err),
                     0);
    assert_string_equal(env.cid, "n1");
    assert_int_equal(json_string_length(json_object_get(env.payload, "s")), 3);
    /* but a declared string field refuses it */
    static const mb_field f[] = {{"s", MB_F_STRING, true, 0, 0}, {NULL}};
    assert_int_equal(mb_validate(f, env.payload, err, sizeof err), -1);
    assert_non_null(strstr(err, "NUL"));
    mb_envelope_free(&env);
    /* and cid/type may not hold one */
    assert_int_equal(parse("{\"cid\":\"a\\u0000\",\"type\":\"x\"}", &env, err), -1);
    mb_envelope_free(&env);
    assert_int_equal(parse("{\"type\":\"x\\u0000y\"}", &env, err), -1);
    mb_envelope_free(&env);
}

static void test_utf8_sanitize(void **st)
{
    char a[] = "ok \xc3\xa9 \xf0\x9f\x9a\x80";
    assert_string_equal(mb_utf8_sanitize(a), "ok \xc3\xa9 \xf0\x9f\x9a\x80");
    char b[] = "cut \xf0\x9f"; /* truncated 4-byte sequence */
    assert_string_equal(mb_utf8_sanitize(b), "cut ??");
    char c[] = "\xff\xc0\x80x\xed\xa0\x80"; /* invalid lead, overlong, surrogate */
    assert_string_equal(mb_utf8_sanitize(c), "???x???");
    json_t *e = mb_error_payload(MB_E_BAD_REQUEST, "near '\"\xf0'", NULL);
    assert_string_equal(json_string_value(json_object_get(e, "message")), "near '\"?'");
    json_decref(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_envelope),
        cmocka_unit_test(test_payload_optional),
        cmocka_unit_test(test_invalid_json),
        cmocka_unit_test(test_missing_type_keeps_cid),
        cmocka_unit_test(test_bad_field_types),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_duplicate_keys_rejected),
        cmocka_unit_test(test_envelope_scan),
        cmocka_unit_test(test_scratch_arena),
        cmocka_unit_test(test_validate),
        cmocka_unit_test(test_registry),
        cmocka_unit_test(test_encode),
        cmocka_unit_test(test_error_payload),
        cmocka_unit_test(test_utf8_sanitize),
        cmocka_unit_test(test_nul_in_strings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
