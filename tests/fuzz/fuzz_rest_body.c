/*
 * fuzz_rest_body.c - a REST request body through the path of http.c's
 * mb_http_dispatch (size cap, json_loadb with JSON_REJECT_DUPLICATES, object
 * check, mb_json_depth against the default --max-json-depth) and then the
 * checks the account routes run on it (modules/account/account.c:
 * body_str's type/NUL test and account_check_device_id / _username /
 * _email / _password, the email route's `create` and password rules, the
 * refresh token length, PATCH /v1/account's field whitelist, display_name
 * length and metadata size) and POST /v1/matches' mode/params shape.
 *
 * The route handlers themselves are static in account.c (and answer through
 * the database), so this target repeats their short decision code around
 * the real, exported validators. Invariants: every refusal has a reason;
 * whatever a validator accepts really has the documented shape (lengths,
 * character sets, one '@', ...); an accepted PATCH metadata object
 * serialises within 16 KiB; the error body the server would send encodes.
 */
#include <ctype.h>
#include <jansson.h>
#include <sodium.h>

#include "account.h"
#include "fuzz_common.h"
#include "protocol.h"

#define MAX_BODY (1024 * 1024) /* http.c */
#define MAX_DEPTH 32           /* default --max-json-depth */

/* The error body of mb_http_error (vsnprintf into 512 bytes, mb_utf8_sanitize, json_pack):
 * {"error":{"code","message"}} must always be built. Found here once: jansson's error text could
 * cut a UTF-8 sequence and the 400 went out with an empty body (regressions/rest_body/). */
static void http_error(mb_errcode code, const char *text)
{
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

/* account.c's body_str: NULL + *bad when present but not a NUL-free string. */
static const char *body_str(json_t *body, const char *name, int required, int *bad)
{
    json_t *v = json_object_get(body, name);
    if (!v || json_is_null(v)) {
        if (required) {
            http_error(MB_E_BAD_REQUEST, "missing field");
            *bad = 1;
        }
        return NULL;
    }
    if (!json_is_string(v) || memchr(json_string_value(v), 0, json_string_length(v))) {
        http_error(MB_E_BAD_REQUEST, "field must be a string");
        *bad = 1;
        return NULL;
    }
    return json_string_value(v);
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

static void route_device(json_t *body)
{
    int bad = 0;
    const char *dev = body_str(body, "device_id", 1, &bad);
    if (bad) return;
    const char *usn = body_str(body, "username", 0, &bad);
    if (bad) return;
    const char *why = account_check_device_id(dev);
    if (!why && usn) why = account_check_username(usn);
    if (why) {
        http_error(MB_E_BAD_REQUEST, why);
        return;
    }
    check_device_ok(dev);
    if (usn) check_username_ok(usn);
}

static void route_email(json_t *body)
{
    int bad = 0;
    const char *email = body_str(body, "email", 1, &bad);
    if (bad) return;
    const char *pw = body_str(body, "password", 1, &bad);
    if (bad) return;
    const char *usn = body_str(body, "username", 0, &bad);
    if (bad) return;
    json_t *cr = json_object_get(body, "create");
    if (cr && !json_is_boolean(cr)) {
        http_error(MB_E_BAD_REQUEST, "field 'create' must be a boolean");
        return;
    }
    const char *why = account_check_email(email);
    if (!why && json_is_true(cr)) why = account_check_password(pw);
    else if (!why && (strlen(pw) == 0 || strlen(pw) > 128)) why = "password must be 1..128 characters";
    if (!why && usn) why = account_check_username(usn);
    if (why) {
        http_error(MB_E_BAD_REQUEST, why);
        return;
    }
    check_email_ok(email);
    if (json_is_true(cr)) check_password_ok(pw);
    FUZZ_CHECK(strlen(pw) >= 1 && strlen(pw) <= 128, "password length");
    if (usn) check_username_ok(usn);
    /* the login bucket key: lower-cased email */
    char *key = strdup(email);
    for (char *p = key; *p; p++) *p = (char)tolower((unsigned char)*p);
    FUZZ_CHECK(strlen(key) == strlen(email), "lower-casing changed the length");
    free(key);
}

static void route_refresh_or_logout(json_t *body)
{
    int bad = 0;
    const char *tok = body_str(body, "refresh_token", 1, &bad);
    if (bad) return;
    if (strlen(tok) < 16 || strlen(tok) > 128) {
        http_error(MB_E_UNAUTHORIZED, "refresh token invalid, expired or revoked");
        return;
    }
    unsigned char h[crypto_hash_sha256_BYTES];
    char hex[65];
    crypto_hash_sha256(h, (const unsigned char *)tok, strlen(tok));
    sodium_bin2hex(hex, sizeof hex, h, sizeof h);
    FUZZ_CHECK(strlen(hex) == 64, "token hash");
}

static void route_patch_account(json_t *body)
{
    const char *key;
    json_t *v;
    json_object_foreach (body, key, v) {
        if (strcmp(key, "username") && strcmp(key, "display_name") && strcmp(key, "metadata")) {
            char msg[512];
            snprintf(msg, sizeof msg, "unknown field '%s' (username, display_name, metadata)", key);
            http_error(MB_E_BAD_REQUEST, msg);
            return;
        }
    }
    int bad = 0;
    const char *usn = body_str(body, "username", 0, &bad);
    if (bad) return;
    const char *dn = body_str(body, "display_name", 0, &bad);
    if (bad) return;
    const char *why = usn ? account_check_username(usn) : NULL;
    if (!why && dn && mb_utf8_len(dn, strlen(dn)) > 64) why = "display_name must be at most 64 characters";
    json_t *meta = json_object_get(body, "metadata");
    char *meta_s = NULL;
    if (!why && meta) {
        if (!json_is_object(meta)) why = "metadata must be an object";
        else {
            meta_s = json_dumps(meta, JSON_COMPACT);
            FUZZ_CHECK(meta_s != NULL, "metadata object does not serialise");
            if (strlen(meta_s) > 16384) why = "metadata must be at most 16 KiB of JSON";
        }
    }
    if (why) {
        free(meta_s);
        http_error(MB_E_BAD_REQUEST, why);
        return;
    }
    if (usn) check_username_ok(usn);
    if (meta_s) {
        /* what PostgreSQL receives as $4::jsonb must be JSON again */
        json_t *back = json_loads(meta_s, 0, NULL);
        FUZZ_CHECK(json_is_object(back), "metadata text does not parse back");
        json_decref(back);
    }
    free(meta_s);
}

static void route_match_create(json_t *body)
{
    const char *mode = json_string_value(json_object_get(body, "mode"));
    json_t *params = json_object_get(body, "params");
    if (!mode) {
        http_error(MB_E_BAD_REQUEST, "field 'mode' (string) is required");
        return;
    }
    if (params && !json_is_object(params)) http_error(MB_E_BAD_REQUEST, "field 'params' must be an object");
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (sodium_init() < 0) abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > MAX_BODY) {
        http_error(MB_E_BAD_REQUEST, "request body over 1048576 bytes");
        return 0;
    }
    if (size == 0) return 0; /* no body: handlers see NULL */
    json_error_t jerr;
    json_t *body = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
    if (!body) {
        char msg[512];
        snprintf(msg, sizeof msg, "invalid JSON body: %s", jerr.text);
        http_error(MB_E_BAD_REQUEST, msg);
        return 0;
    }
    if (!json_is_object(body)) {
        http_error(MB_E_BAD_REQUEST, "JSON body must be an object");
        json_decref(body);
        return 0;
    }
    if (mb_json_depth(body) > MAX_DEPTH) {
        http_error(MB_E_BAD_REQUEST, "JSON nested deeper than 32 levels");
        json_decref(body);
        return 0;
    }
    route_device(body);
    route_email(body);
    route_refresh_or_logout(body);
    route_patch_account(body);
    route_match_create(body);

    /* the validators on every string member, whatever its name */
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
