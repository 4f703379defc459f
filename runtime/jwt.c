/* jwt.c - HS256 JWT sign/verify (see jwt.h). */
#include "jwt.h"
#include "mb.h"

#include <sodium.h>
#include <string.h>

static char *b64url(const unsigned char *bin, size_t len)
{
    size_t cap = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *out = mb_malloc(cap);
    sodium_bin2base64(out, cap, bin, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return out;
}

/* Decode base64url segment [s, s+len) into a new buffer; NULL if invalid. */
static unsigned char *unb64url(const char *s, size_t len, size_t *outlen)
{
    /* libsodium 1.0.18 decodes bytes >= 0x80 as '_': accept only the
     * base64url alphabet, so a token string has exactly one spelling. */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
              c == '_'))
            return NULL;
    }
    unsigned char *out = mb_malloc(len + 1);
    const char *end = NULL;
    if (sodium_base642bin(out, len + 1, s, len, NULL, outlen, &end,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        end != s + len) {
        free(out);
        return NULL;
    }
    out[*outlen] = '\0';
    return out;
}

static void hmac(const unsigned char *key, size_t keylen, const char *msg, size_t len,
                 unsigned char mac[crypto_auth_hmacsha256_BYTES])
{
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key, keylen);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)msg, len);
    crypto_auth_hmacsha256_final(&st, mac);
}

char *mb_jwt_sign(const json_t *claims, const unsigned char *key, size_t keylen)
{
    static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    char *h = b64url((const unsigned char *)header, sizeof header - 1);
    char *c = json_dumps(claims, JSON_COMPACT);
    char *p = b64url((const unsigned char *)c, strlen(c));
    free(c);
    char *signing = mb_sprintf("%s.%s", h, p);
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    hmac(key, keylen, signing, strlen(signing), mac);
    char *sig = b64url(mac, sizeof mac);
    char *tok = mb_sprintf("%s.%s", signing, sig);
    free(h);
    free(p);
    free(signing);
    free(sig);
    return tok;
}

mb_jwt_result mb_jwt_verify(const char *token, const unsigned char *key, size_t keylen, int64_t now_s,
                            json_t **claims_out)
{
    *claims_out = NULL;
    if (!token) return MB_JWT_MALFORMED;
    size_t tlen = strlen(token);
    if (tlen == 0 || tlen > 4096) return MB_JWT_MALFORMED;
    const char *d1 = strchr(token, '.');
    if (!d1) return MB_JWT_MALFORMED;
    const char *d2 = strchr(d1 + 1, '.');
    if (!d2 || strchr(d2 + 1, '.')) return MB_JWT_MALFORMED;

    size_t hlen;
    unsigned char *hjson = unb64url(token, (size_t)(d1 - token), &hlen);
    if (!hjson) return MB_JWT_MALFORMED;
    json_t *hdr = json_loadb((const char *)hjson, hlen, JSON_REJECT_DUPLICATES, NULL);
    free(hjson);
    if (!json_is_object(hdr)) {
        json_decref(hdr);
        return MB_JWT_MALFORMED;
    }
    const char *alg = json_string_value(json_object_get(hdr, "alg"));
    json_t *typ = json_object_get(hdr, "typ");
    int alg_ok = alg && strcmp(alg, "HS256") == 0 &&
                 (!typ || (json_is_string(typ) && strcmp(json_string_value(typ), "JWT") == 0));
    json_decref(hdr);
    if (!alg_ok) return MB_JWT_BAD_ALG;

    size_t slen;
    unsigned char *sig = unb64url(d2 + 1, strlen(d2 + 1), &slen);
    if (!sig) return MB_JWT_MALFORMED;
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    hmac(key, keylen, token, (size_t)(d2 - token), mac);
    int sig_ok = slen == sizeof mac && crypto_verify_32(sig, mac) == 0;
    free(sig);
    if (!sig_ok) return MB_JWT_BAD_SIGNATURE;

    size_t plen;
    unsigned char *pjson = unb64url(d1 + 1, (size_t)(d2 - d1 - 1), &plen);
    if (!pjson) return MB_JWT_MALFORMED;
    json_t *claims = json_loadb((const char *)pjson, plen, JSON_REJECT_DUPLICATES, NULL);
    free(pjson);
    if (!json_is_object(claims) || !json_is_string(json_object_get(claims, "sub")) ||
        !json_is_integer(json_object_get(claims, "exp"))) {
        json_decref(claims);
        return MB_JWT_MALFORMED;
    }
    if (json_integer_value(json_object_get(claims, "exp")) <= now_s) {
        json_decref(claims);
        return MB_JWT_EXPIRED;
    }
    *claims_out = claims;
    return MB_JWT_OK;
}

const char *mb_jwt_result_str(mb_jwt_result r)
{
    switch (r) {
    case MB_JWT_OK: return "ok";
    case MB_JWT_MALFORMED: return "malformed token";
    case MB_JWT_BAD_ALG: return "unsupported token algorithm";
    case MB_JWT_BAD_SIGNATURE: return "invalid token signature";
    case MB_JWT_EXPIRED: return "token expired";
    }
    return "invalid token";
}
