/*
 * account.h - accounts and authentication over REST:
 *   POST /v1/auth/device, /v1/auth/email, /v1/auth/refresh, /v1/auth/logout
 *   GET/PATCH/DELETE /v1/account
 *   /v1/admin/accounts... (lifecycle.c)
 *
 *   account.c    sign-in, refresh, logout, GET/PATCH /v1/account, the
 *                account module record
 *   lifecycle.c  deletion, bans, revocation, the admin routes and their
 *                module record (account_admin), the revoked-token load
 *   validate.c   the rules of the fields (account_check_*, account_field_*)
 *
 * The calls run one way: account.c -> lifecycle.c -> validate.c.
 * Session tokens are HS256 JWTs (runtime), refresh tokens are random,
 * stored as SHA-256 hashes, rotated on every refresh and revocable.
 */
#ifndef MB_ACCOUNT_H
#define MB_ACCOUNT_H

#include "server.h"

extern const mb_module account_module;
/* Admin account routes (lifecycle.c): search, view, edit, ban, delete. */
extern const mb_module account_admin_module;

/* lifecycle.c: DELETE /v1/account, the admin routes, and the start-up load
 * of revoked tokens into the runtime's table (blocking, before serving). */
void account_route_delete(mb_http_req *r);
mb_status account_lifecycle_load(void);

/* validate.c: the validation helpers (also for unit tests). Return NULL
 * when valid, else a client-facing reason. */
const char *account_check_username(const char *u);
const char *account_check_email(const char *e);
const char *account_check_password(const char *p);
const char *account_check_device_id(const char *d);
/* The profile fields of both PATCH routes (the player's and the admin's):
 * a display name of at most 64 characters; metadata an object of at most
 * 16 KiB of JSON, returned compact in *json_out (the caller frees it; NULL
 * when invalid). */
const char *account_check_display_name(const char *dn, size_t len);
const char *account_check_metadata(json_t *meta, char **json_out);

/* The same rules as mb_field checks (protocol.h) for the routes' declared
 * body fields; the value has the declared type (string; any for metadata). */
const char *account_field_username(const json_t *v);
const char *account_field_display_name(const json_t *v);
const char *account_field_metadata(const json_t *v);

/* The declared bodies of the account routes (for the REST body fuzzer):
 * POST /v1/auth/device, POST /v1/auth/email, PATCH /v1/account. */
extern const mb_field account_device_fields[];
extern const mb_field account_email_fields[];
extern const mb_field account_patch_fields[];

#endif
