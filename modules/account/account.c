/*
 * account.c - REST authentication and account routes (see account.h):
 * device and email sign-in, refresh, logout, GET/PATCH /v1/account, the
 * declared bodies of these routes, and the account module record.
 *
 * Not here: the validation rules of usernames, emails, passwords, device
 * ids and profile fields (validate.c, also used by lifecycle.c), DELETE
 * /v1/account, bans and the admin routes (lifecycle.c). The calls run one
 * way: account.c -> lifecycle.c -> validate.c.
 */
#include "account.h"

#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ratelimit.h"

/* ------------------------------------------------- declared body fields */

static const char *field_email(const json_t *v) { return account_check_email(json_string_value(v)); }
static const char *field_device_id(const json_t *v) { return account_check_device_id(json_string_value(v)); }

const mb_field account_device_fields[] = {
    {"device_id", MB_F_STRING, true, 0, 0, field_device_id, "device_id"},
    {"username", MB_F_STRING, false, 0, 0, account_field_username, "username"},
    {NULL},
};
/* password: 8..128 and not weak when create is true, else 1..128 bytes
 * (a cross-field rule: route_email checks it) */
const mb_field account_email_fields[] = {
    {"email", MB_F_STRING, true, 0, 0, field_email, "email"},
    {"password", MB_F_STRING, true, 0, 0, NULL, NULL},
    {"username", MB_F_STRING, false, 0, 0, account_field_username, "username"},
    {"create", MB_F_BOOL, false, 0, 0, NULL, NULL},
    {NULL},
};
static const mb_field refresh_fields[] = {
    {"refresh_token", MB_F_STRING, true, 0, 0, NULL, NULL},
    {NULL},
};
const mb_field account_patch_fields[] = {
    {"username", MB_F_STRING, false, 0, 0, account_field_username, "username"},
    {"display_name", MB_F_STRING, false, 0, 0, account_field_display_name, NULL},
    {"metadata", MB_F_ANY, false, 0, 0, account_field_metadata, "object of at most 16 KiB"},
    {NULL},
};

/* ------------------------------------------------------------ helpers */

typedef struct auth_ctx {
    mb_http_req *req;
    char *email, *password, *username, *device_id;
    char *pw_hash; /* from db (verify) or computed (create) */
    bool create, pw_ok, retried;
    char account_id[64], account_name[64];
    bool created;
    int tv;           /* accounts.token_version: the token's "tv" claim */
    char *ban_reason; /* set when the account is banned */
    char refresh[64], refresh_hash[65];
} auth_ctx;

static void ctx_free(auth_ctx *c)
{
    if (c->password) {
        sodium_memzero(c->password, strlen(c->password));
        free(c->password);
    }
    free(c->email);
    free(c->username);
    free(c->device_id);
    free(c->pw_hash);
    free(c->ban_reason);
    sodium_memzero(c->refresh, sizeof c->refresh);
    free(c);
}

static void hash_token(const char *tok, char out[65])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, (const unsigned char *)tok, strlen(tok));
    sodium_bin2hex(out, 65, h, sizeof h);
}

static void new_refresh(auth_ctx *c)
{
    unsigned char raw[32];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2base64(c->refresh, sizeof c->refresh, raw, sizeof raw,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    hash_token(c->refresh, c->refresh_hash);
}

/* 403 account_banned for a banned account's sign-in. */
static void respond_banned(auth_ctx *c)
{
    mb_info("signin_banned", "player=%s ip=%s", c->account_id, mb_http_ip(c->req));
    if (c->ban_reason && *c->ban_reason)
        mb_http_error(c->req, MB_E_ACCOUNT_BANNED, "account banned: %s", c->ban_reason);
    else mb_http_error(c->req, MB_E_ACCOUNT_BANNED, "account banned");
    ctx_free(c);
}

static void respond_session(auth_ctx *c, int status)
{
    /* A ban or deletion that committed after this sign-in read the account
     * is already in the revocation table: refuse instead of issuing. */
    mb_tokens_state st = mb_token_blocked(c->account_id);
    if (st == MB_TOKENS_BANNED) {
        respond_banned(c);
        return;
    }
    if (st == MB_TOKENS_DELETED) {
        mb_http_error(c->req, MB_E_UNAUTHORIZED, "account deleted");
        ctx_free(c);
        return;
    }
    char *tok = mb_token_issue(c->account_id, c->account_name, c->tv);
    json_t *body = json_pack("{s:s,s:s,s:s,s:s,s:i,s:b}", "token", tok, "refresh_token", c->refresh,
                             "player_id", c->account_id, "username", c->account_name, "expires_in",
                             mb_cfg()->token_ttl_s, "created", c->created);
    free(tok);
    mb_http_respond(c->req, status, body);
    ctx_free(c);
}

static void token_stored(void *ud, const mb_db_result *res)
{
    auth_ctx *c = ud;
    if (!res->ok) {
        /* foreign key: the account was deleted meanwhile */
        if (strcmp(res->sqlstate, "23503") == 0) mb_http_error(c->req, MB_E_UNAUTHORIZED, "account deleted");
        else mb_http_db_error(c->req, res, "conflict");
        ctx_free(c);
        return;
    }
    respond_session(c, c->created ? 201 : 200);
}

/* Store a fresh refresh token for c->account_id, then respond. */
static void issue_tokens(auth_ctx *c)
{
    new_refresh(c);
    char ttl[32];
    snprintf(ttl, sizeof ttl, "%d", mb_cfg()->refresh_ttl_s);
    const char *p[] = {c->refresh_hash, c->account_id, ttl};
    mb_db_query("INSERT INTO refresh_tokens (token_hash, account_id, expires_at) "
                "VALUES ($1, $2, now() + make_interval(secs => $3::int))",
                3, p, token_stored, c);
}

/* A declared string field of the validated body, or NULL when absent. */
static const char *body_str(mb_http_req *r, const char *name)
{
    return json_string_value(json_object_get(mb_http_body(r), name));
}

/* ------------------------------------------------------------- device */

static void device_done(void *ud, const mb_db_result *res);

static void device_query(auth_ctx *c)
{
    const char *p[] = {c->device_id, c->username};
    mb_db_query(
        "WITH existing AS ("
        "  SELECT a.id, a.username, a.banned_at IS NOT NULL AS banned, a.ban_reason, a.token_version"
        "  FROM account_devices d JOIN accounts a ON a.id = d.account_id"
        "  WHERE d.device_id = $1),"
        " new_acc AS ("
        "  INSERT INTO accounts (username)"
        "  SELECT COALESCE($2, 'player_' || substr(md5(random()::text || clock_timestamp()::text), 1, 10))"
        "  WHERE NOT EXISTS (SELECT 1 FROM existing) RETURNING id, username),"
        " new_dev AS ("
        "  INSERT INTO account_devices (device_id, account_id) SELECT $1, id FROM new_acc RETURNING 1)"
        " SELECT id, username, false, banned, ban_reason, token_version FROM existing"
        " UNION ALL SELECT id, username, true, false, NULL, 0 FROM new_acc",
        2, p, device_done, c);
}

static void device_done(void *ud, const mb_db_result *res)
{
    auth_ctx *c = ud;
    if (!res->ok) {
        /* Two first-time requests for one device race on the device key:
         * retry once, the second attempt finds the account. */
        if (res->code == MB_E_CONFLICT && !c->retried && strstr(res->message, "account_devices") != NULL) {
            c->retried = true;
            device_query(c);
            return;
        }
        mb_http_db_error(c->req, res, "username already taken");
        ctx_free(c);
        return;
    }
    if (PQntuples(res->res) < 1) {
        mb_http_error(c->req, MB_E_INTERNAL, "internal error");
        ctx_free(c);
        return;
    }
    snprintf(c->account_id, sizeof c->account_id, "%s", PQgetvalue(res->res, 0, 0));
    snprintf(c->account_name, sizeof c->account_name, "%s", PQgetvalue(res->res, 0, 1));
    c->created = PQgetvalue(res->res, 0, 2)[0] == 't';
    c->tv = atoi(PQgetvalue(res->res, 0, 5));
    if (PQgetvalue(res->res, 0, 3)[0] == 't') {
        c->ban_reason = PQgetisnull(res->res, 0, 4) ? NULL : mb_strdup(PQgetvalue(res->res, 0, 4));
        respond_banned(c);
        return;
    }
    issue_tokens(c);
}

static void route_device(mb_http_req *r)
{
    const char *dev = body_str(r, "device_id");
    const char *usn = body_str(r, "username");
    auth_ctx *c = mb_calloc(1, sizeof *c);
    c->req = r;
    c->device_id = mb_strdup(dev);
    c->username = usn ? mb_strdup(usn) : NULL;
    device_query(c);
}

/* -------------------------------------------------------------- email */

static mb_smap login_buckets; /* email -> failed-login bucket */

static bool login_allowed(const char *email)
{
    mb_bucket *b = mb_smap_get(&login_buckets, email);
    if (!b) return true;
    /* peek: 5 failures per minute per account */
    mb_bucket tmp = *b;
    return mb_bucket_take(&tmp, 5.0 / 60.0, 5, mb_now_ms());
}

static int64_t login_swept_ms;

static void login_failed(const char *email)
{
    mb_bucket *b = mb_smap_get(&login_buckets, email);
    if (!b) {
        /* forget accounts whose bucket refilled (same as no failure), at most every 10 s */
        if (mb_now_ms() - login_swept_ms >= 10000) {
            login_swept_ms = mb_now_ms();
            mb_bucket_sweep(&login_buckets, 5.0 / 60.0, 5, login_swept_ms);
        }
        if (login_buckets.count > 100000) {
            size_t it = 0;
            void *v;
            while (mb_smap_next(&login_buckets, &it, NULL, &v)) free(v);
            mb_smap_free(&login_buckets);
        }
        b = mb_malloc(sizeof *b);
        mb_bucket_init(b, 5, mb_now_ms());
        mb_smap_put(&login_buckets, email, b);
    }
    mb_bucket_take(b, 5.0 / 60.0, 5, mb_now_ms());
}

static void work_hash(void *ud)
{
    auth_ctx *c = ud;
    char out[crypto_pwhash_STRBYTES];
    if (crypto_pwhash_str(out, c->password, strlen(c->password), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) == 0)
        c->pw_hash = mb_strdup(out);
}

static void work_verify(void *ud)
{
    auth_ctx *c = ud;
    c->pw_ok = c->pw_hash && crypto_pwhash_str_verify(c->pw_hash, c->password, strlen(c->password)) == 0;
}

static void email_created(void *ud, const mb_db_result *res)
{
    auth_ctx *c = ud;
    if (!res->ok) {
        mb_http_db_error(c->req, res, "email or username already taken");
        ctx_free(c);
        return;
    }
    snprintf(c->account_id, sizeof c->account_id, "%s", PQgetvalue(res->res, 0, 0));
    snprintf(c->account_name, sizeof c->account_name, "%s", PQgetvalue(res->res, 0, 1));
    c->created = true;
    issue_tokens(c);
}

static void hash_done(void *ud)
{
    auth_ctx *c = ud;
    if (!c->pw_hash) {
        mb_http_error(c->req, MB_E_INTERNAL, "could not hash the password");
        ctx_free(c);
        return;
    }
    const char *p[] = {c->username, c->email, c->pw_hash};
    mb_db_query(
        "INSERT INTO accounts (username, email, password_hash) VALUES "
        "(COALESCE($1, 'player_' || substr(md5(random()::text || clock_timestamp()::text), 1, 10)), $2, $3) "
        "RETURNING id, username",
        3, p, email_created, c);
}

static void verify_done(void *ud)
{
    auth_ctx *c = ud;
    if (!c->pw_ok) {
        login_failed(c->email);
        mb_info("login_failed", "ip=%s", mb_http_ip(c->req));
        mb_http_error(c->req, MB_E_UNAUTHORIZED, "invalid email or password");
        ctx_free(c);
        return;
    }
    if (c->ban_reason) { /* only told to whoever knows the password */
        respond_banned(c);
        return;
    }
    issue_tokens(c);
}

static void email_found(void *ud, const mb_db_result *res)
{
    auth_ctx *c = ud;
    if (!res->ok) {
        mb_http_db_error(c->req, res, "conflict");
        ctx_free(c);
        return;
    }
    if (PQntuples(res->res) == 0) {
        if (!c->create) {
            login_failed(c->email);
            mb_http_error(c->req, MB_E_UNAUTHORIZED, "invalid email or password");
            ctx_free(c);
            return;
        }
        mb_worker_submit(work_hash, hash_done, c);
        return;
    }
    snprintf(c->account_id, sizeof c->account_id, "%s", PQgetvalue(res->res, 0, 0));
    snprintf(c->account_name, sizeof c->account_name, "%s", PQgetvalue(res->res, 0, 1));
    c->pw_hash = PQgetisnull(res->res, 0, 2) ? NULL : mb_strdup(PQgetvalue(res->res, 0, 2));
    c->tv = atoi(PQgetvalue(res->res, 0, 4));
    if (PQgetvalue(res->res, 0, 3)[0] == 't')
        c->ban_reason = mb_strdup(PQgetisnull(res->res, 0, 5) ? "" : PQgetvalue(res->res, 0, 5));
    mb_worker_submit(work_verify, verify_done, c);
}

static void route_email(mb_http_req *r)
{
    const char *email = body_str(r, "email");
    const char *pw = body_str(r, "password");
    const char *usn = body_str(r, "username");
    json_t *cr = json_object_get(mb_http_body(r), "create");
    /* the one rule the declaration cannot hold: the password's depends on create */
    const char *why = NULL;
    if (json_is_true(cr)) why = account_check_password(pw);
    else if (strlen(pw) == 0 || strlen(pw) > 128) why = "password must be 1..128 characters";
    if (why) {
        mb_http_error(r, MB_E_BAD_REQUEST, "%s", why);
        return;
    }
    auth_ctx *c = mb_calloc(1, sizeof *c);
    c->req = r;
    c->email = mb_strdup(email);
    for (char *p = c->email; *p; p++) *p = (char)tolower((unsigned char)*p);
    if (!login_allowed(c->email)) {
        mb_http_error(r, MB_E_RATE_LIMITED, "too many failed logins for this account; retry later");
        ctx_free(c);
        return;
    }
    c->password = mb_strdup(pw);
    c->username = usn ? mb_strdup(usn) : NULL;
    c->create = json_is_true(cr);
    const char *p[] = {c->email};
    mb_db_query("SELECT id, username, password_hash, banned_at IS NOT NULL, token_version, ban_reason"
                " FROM accounts WHERE email = $1",
                1, p, email_found, c);
}

/* ------------------------------------------------------ refresh/logout */

static void refresh_done(void *ud, const mb_db_result *res)
{
    auth_ctx *c = ud;
    if (!res->ok) {
        mb_http_db_error(c->req, res, "conflict");
        ctx_free(c);
        return;
    }
    if (PQntuples(res->res) == 0) {
        mb_http_error(c->req, MB_E_UNAUTHORIZED, "refresh token invalid, expired or revoked");
        ctx_free(c);
        return;
    }
    snprintf(c->account_id, sizeof c->account_id, "%s", PQgetvalue(res->res, 0, 0));
    snprintf(c->account_name, sizeof c->account_name, "%s", PQgetvalue(res->res, 0, 1));
    c->tv = atoi(PQgetvalue(res->res, 0, 2));
    respond_session(c, 200);
}

static void route_refresh(mb_http_req *r)
{
    const char *tok = body_str(r, "refresh_token");
    if (strlen(tok) < 16 || strlen(tok) > 128) {
        mb_http_error(r, MB_E_UNAUTHORIZED, "refresh token invalid, expired or revoked");
        return;
    }
    auth_ctx *c = mb_calloc(1, sizeof *c);
    c->req = r;
    char old_hash[65];
    hash_token(tok, old_hash);
    new_refresh(c);
    char ttl[32];
    snprintf(ttl, sizeof ttl, "%d", mb_cfg()->refresh_ttl_s);
    /* Rotate atomically: revoke the old token and store the new one in one
     * statement, so a failure never leaves the player without a token. */
    const char *p[] = {old_hash, c->refresh_hash, ttl};
    mb_db_query(
        "WITH old AS (UPDATE refresh_tokens SET revoked_at = now()"
        "  WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > now()"
        "  AND NOT EXISTS (SELECT 1 FROM accounts b WHERE b.id = account_id AND b.banned_at IS NOT NULL)"
        "  RETURNING account_id),"
        " ins AS (INSERT INTO refresh_tokens (token_hash, account_id, expires_at)"
        "  SELECT $2, account_id, now() + make_interval(secs => $3::int) FROM old"
        "  RETURNING account_id)"
        " SELECT a.id, a.username, a.token_version FROM ins JOIN accounts a ON a.id = ins.account_id"
        " WHERE a.banned_at IS NULL",
        3, p, refresh_done, c);
}

static void logout_done(void *ud, const mb_db_result *res)
{
    mb_http_req *r = ud;
    if (!res->ok) {
        mb_http_db_error(r, res, "conflict");
        return;
    }
    mb_http_respond(r, 200, json_pack("{s:b}", "revoked", PQcmdTuples(res->res)[0] != '0'));
}

static void route_logout(mb_http_req *r)
{
    const char *tok = body_str(r, "refresh_token");
    char h[65];
    hash_token(tok, h);
    const char *p[] = {h};
    mb_db_query("UPDATE refresh_tokens SET revoked_at = now() WHERE token_hash = $1 AND revoked_at IS NULL",
                1, p, logout_done, r);
}

/* ------------------------------------------------------------ account */

static json_t *account_row(PGresult *res)
{
    json_t *meta = json_loads(PQgetvalue(res, 0, 3), 0, NULL);
    json_t *o = json_pack("{s:s,s:s,s:o,s:o,s:o,s:s,s:s}", "player_id", PQgetvalue(res, 0, 0), "username",
                          PQgetvalue(res, 0, 1), "display_name",
                          PQgetisnull(res, 0, 2) ? json_null() : json_string(PQgetvalue(res, 0, 2)),
                          "metadata", meta ? meta : json_object(), "email",
                          PQgetisnull(res, 0, 4) ? json_null() : json_string(PQgetvalue(res, 0, 4)),
                          "created_at", PQgetvalue(res, 0, 5), "updated_at", PQgetvalue(res, 0, 6));
    return o;
}

#define ACCOUNT_COLS                                                                \
    "id, username, display_name, metadata::text, email, "                           \
    "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), " \
    "to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

static void account_done(void *ud, const mb_db_result *res)
{
    mb_http_req *r = ud;
    if (!res->ok) {
        mb_http_db_error(r, res, "username already taken");
        return;
    }
    if (PQntuples(res->res) == 0) {
        mb_http_error(r, MB_E_NOT_FOUND, "account not found");
        return;
    }
    mb_http_respond(r, 200, account_row(res->res));
}

static void route_get_account(mb_http_req *r)
{
    const char *p[] = {mb_http_player(r)};
    mb_db_query("SELECT " ACCOUNT_COLS " FROM accounts WHERE id = $1::uuid", 1, p, account_done, r);
}

static void route_patch_account(mb_http_req *r)
{
    json_t *b = mb_http_body(r);
    const char *usn = body_str(r, "username");
    const char *dn = body_str(r, "display_name");
    json_t *meta = json_object_get(b, "metadata");
    char *meta_s = NULL;
    if (meta && !json_is_null(meta) && account_check_metadata(meta, &meta_s)) { /* validated: cannot fail */
        mb_http_error(r, MB_E_INTERNAL, "internal error");
        return;
    }
    const char *p[] = {mb_http_player(r), usn, dn, meta_s};
    mb_db_query("UPDATE accounts SET username = COALESCE($2, username),"
                " display_name = COALESCE($3, display_name),"
                " metadata = COALESCE($4::jsonb, metadata), updated_at = now()"
                " WHERE id = $1::uuid RETURNING " ACCOUNT_COLS,
                4, p, account_done, r);
    free(meta_s);
}

/* ------------------------------------------------------------- module */

static mb_status account_init(void)
{
    mb_smap_init(&login_buckets);
    mb_metric_table_smap("login_fail_buckets", &login_buckets);
    return account_lifecycle_load();
}

static void account_destroy(void)
{
    size_t it = 0;
    void *v;
    while (mb_smap_next(&login_buckets, &it, NULL, &v)) free(v);
    mb_smap_free(&login_buckets);
}

static const mb_route routes[] = {
    {"POST", "/v1/auth/device", route_device, MB_AUTH_NONE, true, account_device_fields, 0},
    {"POST", "/v1/auth/email", route_email, MB_AUTH_NONE, true, account_email_fields, 0},
    {"POST", "/v1/auth/refresh", route_refresh, MB_AUTH_NONE, true, refresh_fields, 0},
    {"POST", "/v1/auth/logout", route_logout, MB_AUTH_NONE, true, refresh_fields, 0},
    {"GET", "/v1/account", route_get_account, MB_AUTH_BEARER, false},
    {"PATCH", "/v1/account", route_patch_account, MB_AUTH_BEARER, false, account_patch_fields,
     MB_BODY_REQUIRED | MB_BODY_CLOSED},
    {"DELETE", "/v1/account", account_route_delete, MB_AUTH_BEARER, false},
};

const mb_module account_module = {
    .api = MB_MODULE_API,
    .name = "account",
    .init = account_init,
    .destroy = account_destroy,
    .routes = routes,
    .n_routes = MB_ARRAY_LEN(routes),
};
