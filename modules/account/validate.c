/*
 * validate.c - the account rules shared by the player's routes (account.c)
 * and the admin's (lifecycle.c): usernames, emails, passwords, device ids,
 * display names and metadata (account_check_*), and the same rules as
 * mb_field checks for declared body fields (account_field_*). Declared in
 * account.h; tests/unit/test_account_validate.c tests them.
 *
 * Not here: the routes and their declared bodies (account.c,
 * lifecycle.c). This file calls neither; both call it.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "account.h"

/* ------------------------------------------------------- validation */

const char *account_check_display_name(const char *dn, size_t len)
{
    return mb_utf8_len(dn, len) > 64 ? "display_name must be at most 64 characters" : NULL;
}

const char *account_check_metadata(json_t *meta, char **json_out)
{
    *json_out = NULL;
    if (!json_is_object(meta)) return "metadata must be an object";
    char *text = json_dumps(meta, JSON_COMPACT);
    if (!text) return "metadata must be an object";
    if (strlen(text) > 16384) {
        free(text);
        return "metadata must be at most 16 KiB of JSON";
    }
    *json_out = text;
    return NULL;
}

const char *account_check_username(const char *u)
{
    size_t n = strlen(u);
    if (n < 3 || n > 32) return "username must be 3..32 characters";
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)u[i]) && u[i] != '_' && u[i] != '.' && u[i] != '-')
            return "username may contain only letters, digits, '_', '.' and '-'";
    return NULL;
}

const char *account_check_email(const char *e)
{
    size_t n = strlen(e);
    if (n < 3 || n > 254) return "email must be 3..254 characters";
    const char *at = strchr(e, '@');
    if (!at || at == e || strchr(at + 1, '@')) return "email must contain exactly one '@'";
    const char *dot = strrchr(at + 1, '.');
    if (!dot || dot == at + 1 || dot[1] == '\0') return "email domain is not valid";
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)e[i] <= ' ' || e[i] == 0x7f) return "email must not contain spaces";
    return NULL;
}

const char *account_check_password(const char *p)
{
    size_t n = strlen(p);
    if (n < 8) return "password must be at least 8 characters";
    if (n > 128) return "password must be at most 128 characters";
    bool same = true;
    for (size_t i = 1; i < n; i++)
        if (p[i] != p[0]) same = false;
    if (same) return "password is too weak";
    static const char *common[] = {"password",   "12345678",  "123456789", "1234567890",
                                   "qwertyuiop", "qwerty123", "password1", "iloveyou",
                                   "11111111",   "abcdefgh",  "letmein1",  "moonbase"};
    for (size_t i = 0; i < MB_ARRAY_LEN(common); i++)
        if (strcasecmp(p, common[i]) == 0) return "password is too common";
    return NULL;
}

const char *account_check_device_id(const char *d)
{
    size_t n = strlen(d);
    if (n < 6 || n > 128) return "device_id must be 6..128 characters";
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)d[i] < 0x21 || d[i] == 0x7f) return "device_id must be printable without spaces";
    return NULL;
}

/* ------------------------------------------------- declared body fields */

const char *account_field_username(const json_t *v) { return account_check_username(json_string_value(v)); }
const char *account_field_display_name(const json_t *v)
{
    return account_check_display_name(json_string_value(v), json_string_length(v));
}
const char *account_field_metadata(const json_t *v)
{
    char *text = NULL;
    const char *why = account_check_metadata((json_t *)v, &text);
    free(text);
    return why;
}
