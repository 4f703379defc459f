/* Unit tests: HS256 JWT signing and every rejection path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "jwt.h"

static const unsigned char key[] = "0123456789abcdef0123456789abcdef";
#define KL (sizeof key - 1)

static char *make(int64_t exp)
{
    json_t *c = json_pack("{s:s,s:s,s:I}", "sub", "player-1", "usn", "ann", "exp", (json_int_t)exp);
    char *t = mb_jwt_sign(c, key, KL);
    json_decref(c);
    return t;
}

static char *b64(const char *s)
{
    size_t cap = sodium_base64_ENCODED_LEN(strlen(s), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *o = malloc(cap);
    sodium_bin2base64(o, cap, (const unsigned char *)s, strlen(s), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return o;
}

static void test_roundtrip(void **st)
{
    char *t = make(2000);
    json_t *claims = NULL;
    assert_int_equal(mb_jwt_verify(t, key, KL, 1000, &claims), MB_JWT_OK);
    assert_string_equal(json_string_value(json_object_get(claims, "sub")), "player-1");
    json_decref(claims);
    free(t);
}

static void test_expired(void **st)
{
    char *t = make(1000);
    json_t *claims = NULL;
    assert_int_equal(mb_jwt_verify(t, key, KL, 1000, &claims), MB_JWT_EXPIRED);
    assert_null(claims);
    free(t);
}

static void test_wrong_key(void **st)
{
    char *t = make(2000);
    json_t *claims = NULL;
    const unsigned char other[] = "fedcba9876543210fedcba9876543210";
    assert_int_equal(mb_jwt_verify(t, other, KL, 1000, &claims), MB_JWT_BAD_SIGNATURE);
    free(t);
}

static void test_tampered_payload(void **st)
{
    char *t = make(2000);
    char *d1 = strchr(t, '.'), *d2 = strchr(d1 + 1, '.');
    char *forged_payload = b64("{\"sub\":\"admin\",\"exp\":99999999999}");
    char *forged = malloc(strlen(t) + strlen(forged_payload) + 8);
    sprintf(forged, "%.*s.%s%s", (int)(d1 - t), t, forged_payload, d2);
    json_t *claims = NULL;
    assert_int_equal(mb_jwt_verify(forged, key, KL, 1000, &claims), MB_JWT_BAD_SIGNATURE);
    free(forged);
    free(forged_payload);
    free(t);
}

static void test_alg_none(void **st)
{
    char *h = b64("{\"alg\":\"none\",\"typ\":\"JWT\"}");
    char *p = b64("{\"sub\":\"x\",\"exp\":99999999999}");
    char tok[512];
    snprintf(tok, sizeof tok, "%s.%s.", h, p);
    json_t *claims = NULL;
    assert_int_equal(mb_jwt_verify(tok, key, KL, 1000, &claims), MB_JWT_BAD_ALG);
    free(h);
    char *h2 = b64("{\"alg\":\"HS512\"}");
    snprintf(tok, sizeof tok, "%s.%s.abc", h2, p);
    assert_int_equal(mb_jwt_verify(tok, key, KL, 1000, &claims), MB_JWT_BAD_ALG);
    free(h2);
    char *h3 = b64("{\"alg\":\"RS256\"}");
    snprintf(tok, sizeof tok, "%s.%s.abc", h3, p);
    assert_int_equal(mb_jwt_verify(tok, key, KL, 1000, &claims), MB_JWT_BAD_ALG);
    free(h3);
    free(p);
}

static void test_malformed(void **st)
{
    json_t *claims = NULL;
    const char *bad[] = {"", "abc", "a.b", "a.b.c.d", "!!!.???.***", "e30.e30.e30"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_not_equal(mb_jwt_verify(bad[i], key, KL, 1000, &claims), MB_JWT_OK);
    assert_int_equal(mb_jwt_verify(NULL, key, KL, 1000, &claims), MB_JWT_MALFORMED);
}

static void test_missing_claims(void **st)
{
    json_t *c = json_pack("{s:s}", "sub", "p");
    char *t = mb_jwt_sign(c, key, KL);
    json_t *claims = NULL;
    assert_int_equal(mb_jwt_verify(t, key, KL, 1000, &claims), MB_JWT_MALFORMED);
    json_decref(c);
    free(t);
}

static void test_non_alphabet_bytes(void **st)
{
    /* libsodium decodes bytes >= 0x80 like '_': such a token must not verify. */
    char *t = make(2000);
    char *sig = strrchr(t, '.') + 1;
    size_t n = strlen(t);
    char *alt = malloc(n + 2);
    memcpy(alt, t, (size_t)(sig - t));
    size_t o = (size_t)(sig - t);
    alt[o++] = (char)0xC3; /* a high byte in front of a valid signature */
    strcpy(alt + o, sig);
    json_t *claims = NULL;
    assert_int_not_equal(mb_jwt_verify(alt, key, KL, 1000, &claims), MB_JWT_OK);
    assert_null(claims);
    free(alt);
    free(t);
}

int main(void)
{
    if (sodium_init() < 0) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),      cmocka_unit_test(test_expired),
        cmocka_unit_test(test_wrong_key),      cmocka_unit_test(test_tampered_payload),
        cmocka_unit_test(test_alg_none),       cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_missing_claims), cmocka_unit_test(test_non_alphabet_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
