/*
 * jwt.h - HS256 JSON Web Tokens for sessions (libsodium HMAC-SHA256,
 * constant-time comparison, base64url without padding).
 *
 * Claims we issue: sub (player id), usn (username), iat, exp (seconds).
 * Verification accepts only {"alg":"HS256"} headers (typ optional, must be
 * "JWT" when present), checks the signature in constant time, then exp.
 */
#ifndef MB_JWT_H
#define MB_JWT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define MB_JWT_KEY_MAX 128

typedef enum {
    MB_JWT_OK = 0,
    MB_JWT_MALFORMED,
    MB_JWT_BAD_ALG,
    MB_JWT_BAD_SIGNATURE,
    MB_JWT_EXPIRED,
} mb_jwt_result;

/* Sign claims (borrowed) into a newly allocated token string. */
char *mb_jwt_sign(const json_t *claims, const unsigned char *key, size_t keylen);
/* Verify token; on MB_JWT_OK *claims_out receives a new reference to the
 * claims object. now_s is the current Unix time in seconds. */
mb_jwt_result mb_jwt_verify(const char *token, const unsigned char *key, size_t keylen, int64_t now_s,
                            json_t **claims_out);
const char *mb_jwt_result_str(mb_jwt_result r);

#endif
