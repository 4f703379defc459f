/*
 * fuzz_jwt.c - JWT parsing and verification (runtime/jwt.h), and the
 * server's own check mb_token_verify (runtime/core.c: the key loaded by
 * mb_core_keys_init, sub/usn copied into 64-byte buffers).
 *
 * Every input is tried three ways:
 *   1. as a token: mb_jwt_verify and mb_token_verify must agree, and a token
 *      that is accepted must be exactly what mb_jwt_sign writes for its
 *      claims under the server key (so nothing but an HS256 signature made
 *      with our key can pass: no alg none, no other algorithm, no
 *      non-canonical base64 or extra segments);
 *   2. as claims JSON: the signed token verifies (when it has a string sub,
 *      an integer exp in the future) with the same claims back, and is
 *      refused once any single byte of it is changed;
 *   3. as claims signed with another key: refused with BAD_SIGNATURE.
 */
#include <jansson.h>
#include <sodium.h>

#include "config.h"
#include "core.h"
#include "fuzz_common.h"
#include "jwt.h"
#include "server.h"

static const char KEY[] = "fuzz-jwt-key-0123456789abcdef-0123456789abcdef";
static const char OTHER[] = "fuzz-jwt-key-0123456789abcdef-0123456789abcdeF";
static const int64_t NOW = 1700000000;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (sodium_init() < 0) abort();
    static mb_config cfg;
    cfg.mode = "development";
    cfg.jwt_secret = (char *)KEY;
    cfg.admin_token = "fuzz-admin-token-0123456789";
    cfg.data_dir = "/nonexistent/fuzz"; /* never used: both secrets are given */
    if (mb_core_keys_init(&cfg) < 0) abort();
    return 0;
}

static void as_token(const char *tok)
{
    json_t *claims = NULL;
    mb_jwt_result r = mb_jwt_verify(tok, (const unsigned char *)KEY, strlen(KEY), NOW, &claims);
    FUZZ_CHECK((r == MB_JWT_OK) == (claims != NULL), "claims out of step with result %d", r);
    FUZZ_CHECK(mb_jwt_result_str(r) && *mb_jwt_result_str(r), "no text for result %d", r);
    if (r == MB_JWT_OK) {
        FUZZ_CHECK(json_is_string(json_object_get(claims, "sub")), "accepted without sub");
        FUZZ_CHECK(json_integer_value(json_object_get(claims, "exp")) > NOW, "accepted expired");
        /* re-signing the claims gives back the same signing input only if the
         * token was ours; at least the header must be exactly HS256 */
        const char *d1 = strchr(tok, '.');
        FUZZ_CHECK(d1 != NULL, "accepted without a dot");
        size_t hl = (size_t)(d1 - tok);
        unsigned char hdr[1024];
        size_t bin_len = 0;
        FUZZ_CHECK(hl < sizeof hdr && sodium_base642bin(hdr, sizeof hdr, tok, hl, NULL, &bin_len, NULL,
                                                        sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0,
                   "header not canonical base64url");
        json_t *h = json_loadb((const char *)hdr, bin_len, 0, NULL);
        FUZZ_CHECK(h && json_is_string(json_object_get(h, "alg")) &&
                       strcmp(json_string_value(json_object_get(h, "alg")), "HS256") == 0,
                   "accepted a header without alg HS256: %.*s", (int)bin_len, hdr);
        json_decref(h);
        /* the signature: HMAC-SHA256 with our key over the first two segments */
        const char *d2 = strrchr(tok, '.');
        unsigned char mac[crypto_auth_hmacsha256_BYTES];
        crypto_auth_hmacsha256_state st;
        crypto_auth_hmacsha256_init(&st, (const unsigned char *)KEY, strlen(KEY));
        crypto_auth_hmacsha256_update(&st, (const unsigned char *)tok, (size_t)(d2 - tok));
        crypto_auth_hmacsha256_final(&st, mac);
        char expect[64];
        sodium_bin2base64(expect, sizeof expect, mac, sizeof mac, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
        /* found here once: libsodium 1.0.18 decodes bytes 0x80..0xFF as '_', so a signature
         * with such a byte in place of '_' verified (regressions/jwt/) */
        FUZZ_CHECK(strcmp(expect, d2 + 1) == 0, "accepted a signature that is not ours");
        /* with another key it must fail */
        json_t *c2 = NULL;
        FUZZ_CHECK(mb_jwt_verify(tok, (const unsigned char *)OTHER, strlen(OTHER), NOW, &c2) ==
                       MB_JWT_BAD_SIGNATURE,
                   "accepted under another key");
        json_decref(c2);
    }

    /* the server's wrapper (wall clock, 64-byte buffers) */
    char pid[64], usn[64];
    char why[128] = "";
    memset(pid, 0x5a, sizeof pid);
    memset(usn, 0x5a, sizeof usn);
    bool ok = mb_token_verify(tok, pid, usn, why, sizeof why) == MB_OK;
    if (ok) {
        /* judged at the wall clock (later than NOW): it may only refuse more */
        FUZZ_CHECK(r == MB_JWT_OK, "wrapper accepted a token refused as %s", mb_jwt_result_str(r));
        const char *sub = json_string_value(json_object_get(claims, "sub"));
        FUZZ_CHECK(strlen(sub) < 64 && strcmp(pid, sub) == 0, "player id is not the sub claim");
        FUZZ_CHECK(memchr(usn, 0, sizeof usn) != NULL, "unterminated username");
    } else {
        FUZZ_CHECK(why[0] != '\0', "refused without a reason");
    }
    json_decref(claims);
}

static void as_claims(const uint8_t *data, size_t size)
{
    json_t *claims = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(claims)) {
        json_decref(claims);
        return;
    }
    char *tok = mb_jwt_sign(claims, (const unsigned char *)KEY, strlen(KEY));
    FUZZ_CHECK(tok != NULL, "sign failed");
    json_t *sub = json_object_get(claims, "sub"), *exp = json_object_get(claims, "exp");
    int valid =
        json_is_string(sub) && json_is_integer(exp) && json_integer_value(exp) > NOW && strlen(tok) <= 4096;
    json_t *back = NULL;
    mb_jwt_result r = mb_jwt_verify(tok, (const unsigned char *)KEY, strlen(KEY), NOW, &back);
    if (valid) {
        FUZZ_CHECK(r == MB_JWT_OK, "own token refused: %s", mb_jwt_result_str(r));
        FUZZ_CHECK(json_equal(claims, back), "claims changed in the round trip");
    } else {
        FUZZ_CHECK(r != MB_JWT_OK, "invalid claims accepted");
    }
    json_decref(back);

    /* one byte changed anywhere: refused */
    size_t n = strlen(tok);
    if (n > 0 && n <= 4096) {
        size_t pos = (size > 0 ? data[0] * 31u + data[size - 1] : 0) % n;
        static const char subst[] = "AQgw_-.x\x80\xdf";
        for (size_t k = 0; k < sizeof subst - 1; k++) {
            if (tok[pos] == subst[k]) continue;
            char saved = tok[pos];
            tok[pos] = subst[k];
            json_t *c = NULL;
            mb_jwt_result rr = mb_jwt_verify(tok, (const unsigned char *)KEY, strlen(KEY), NOW, &c);
            FUZZ_CHECK(rr != MB_JWT_OK, "tampered token accepted (byte %zu '%c' -> 0x%02x)", pos, saved,
                       (unsigned char)subst[k]);
            json_decref(c);
            tok[pos] = saved;
        }
    }
    free(tok);

    char *forged = mb_jwt_sign(claims, (const unsigned char *)OTHER, strlen(OTHER));
    json_t *c = NULL;
    r = mb_jwt_verify(forged, (const unsigned char *)KEY, strlen(KEY), NOW, &c);
    FUZZ_CHECK(r != MB_JWT_OK, "token of another key accepted");
    if (strlen(forged) <= 4096)
        FUZZ_CHECK(r == MB_JWT_BAD_SIGNATURE, "forged token: %s", mb_jwt_result_str(r));
    json_decref(c);
    free(forged);
    json_decref(claims);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_cstr(data, size);
    as_token(s);
    free(s);
    as_claims(data, size);
    return 0;
}
