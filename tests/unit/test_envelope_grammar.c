/*
 * test_envelope_grammar.c - mb_envelope_scan (yajl events, no tree): the
 * payload's grammar at its edges. Whatever the scan refuses goes to mb_envelope_parse (jansson),
 * so a refusal here is always safe; an acceptance must be valid JSON that
 * jansson reads the same way.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "mb.h"
#include "protocol.h"

static int scan_payload(const char *payload)
{
    char msg[512];
    snprintf(msg, sizeof msg, "{\"type\":\"t\",\"payload\":%s}", payload);
    mb_envelope_view v;
    int rc = mb_envelope_scan(msg, strlen(msg), 32, &v);
    if (rc == 0) {
        /* the payload's bytes are exactly the object given */
        assert_int_equal(v.payload_len, strlen(payload));
        assert_memory_equal(v.payload, payload, v.payload_len);
    }
    return rc;
}

static void test_payload_grammar(void **st)
{
    MB_UNUSED(st);
    const char *valid[] = {
        "{}",
        "{ }",
        "{\"a\":[1,-2.5e+3,0.25,0,-0,1E-2,true,false,null,\"s\",{},[]]}",
        "{\"esc\":\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u00e9 \\u20AC\"}",
        "{\"k\\u0041\":1}",
        "{\"nul in a value\":\"a\\u0000b\"}",
        "{\"utf8\":\"caf\xc3\xa9 \xf0\x9f\x98\x80\"}",
        "{\r\n\t\"a\" : 1 ,\n \"b\" :\t[ ]\n}",
    };
    for (size_t i = 0; i < sizeof valid / sizeof *valid; i++) {
        if (scan_payload(valid[i]) != 0) fprintf(stderr, "refused: %s\n", valid[i]);
        assert_int_equal(scan_payload(valid[i]), 0);
    }
    const char *refused[] = {
        "{\"a\":01}",
        "{\"a\":1.}",
        "{\"a\":.5}",
        "{\"a\":1e}",
        "{\"a\":-}",
        "{\"a\":+1}",
        "{\"a\":tru}",
        "{\"a\":nul}",
        "{\"a\":[1,]}",
        "{\"a\":1,}",
        "{\"a\" 1}",
        "{a:1}",
        "{\"a\":'s'}",
        "{\"a\":\"\\x\"}",
        "{\"a\":\"\\u12g4\"}",
        "{\"a\":\"\\u12\"}",
        "{\"a\":\"tab\there\"}",
        "{\"a\":[1 2]}",
        "{\"a\":{\"b\":1}",
        "{\"a\":\"open}",
        "{\"a\":\"\\uDC00\"}", /* surrogates: jansson's verdict */
    };
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        if (scan_payload(refused[i]) != -1) fprintf(stderr, "accepted: %s\n", refused[i]);
        assert_int_equal(scan_payload(refused[i]), -1);
    }
    /* top-level strings with escapes (type, cid) are read unescaped */
    mb_envelope_view v;
    const char *esc = "{\"type\":\"match\\u002einput\"}";
    assert_int_equal(mb_envelope_scan(esc, strlen(esc), 32, &v), MB_OK);
    assert_string_equal(v.type, "match.input");
    const char *cid = "{\"type\":\"t\",\"cid\":\"c\\\"1\"}";
    assert_int_equal(mb_envelope_scan(cid, strlen(cid), 32, &v), MB_OK);
    assert_string_equal(v.cid, "c\"1");
    /* a type of 64 bytes is taken, 65 is not */
    char t[128];
    snprintf(t, sizeof t, "{\"type\":\"%064d\"}", 0);
    assert_int_equal(mb_envelope_scan(t, strlen(t), 32, &v), 0);
    assert_int_equal(strlen(v.type), 64);
    snprintf(t, sizeof t, "{\"type\":\"%065d\"}", 0);
    assert_int_equal(mb_envelope_scan(t, strlen(t), 32, &v), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_payload_grammar),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
