/* Unit tests: account input validation (usernames, emails, passwords). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "account.h"

#include <stdlib.h>
#include <string.h>

static void test_username(void **st)
{
    assert_null(account_check_username("ann_01"));
    assert_non_null(account_check_username("ab"));
    assert_non_null(account_check_username("has space"));
    assert_non_null(account_check_username("0123456789012345678901234567890123"));
}

static void test_email(void **st)
{
    assert_null(account_check_email("a@b.co"));
    assert_non_null(account_check_email("nobody"));
    assert_non_null(account_check_email("a@@b.co"));
    assert_non_null(account_check_email("a@b"));
    assert_non_null(account_check_email("a b@c.de"));
    assert_non_null(account_check_email("@b.co"));
}

static void test_password(void **st)
{
    assert_null(account_check_password("correct horse battery"));
    assert_non_null(account_check_password("short"));
    assert_non_null(account_check_password("aaaaaaaaaa"));
    assert_non_null(account_check_password("Password"));
}

static void test_device(void **st)
{
    assert_null(account_check_device_id("device-123"));
    assert_non_null(account_check_device_id("abc"));
    assert_non_null(account_check_device_id("dev ice 123"));
}

static void test_profile(void **st)
{
    (void)st;
    /* display names count characters, not bytes: 64 two-byte letters pass, 65 do not */
    char dn[2 * 65 + 1] = "";
    for (int i = 0; i < 64; i++) strcat(dn, "\xc3\xa9");
    assert_null(account_check_display_name(dn, strlen(dn)));
    strcat(dn, "\xc3\xa9");
    assert_string_equal(account_check_display_name(dn, strlen(dn)),
                        "display_name must be at most 64 characters");

    char *out = (char *)1;
    json_t *arr = json_array();
    assert_string_equal(account_check_metadata(arr, &out), "metadata must be an object");
    assert_null(out);
    json_decref(arr);

    json_t *ok = json_pack("{s:i, s:s}", "level", 3, "title", "ace");
    assert_null(account_check_metadata(ok, &out));
    assert_non_null(out);
    json_t *back = json_loads(out, 0, NULL);
    assert_true(json_equal(back, ok));
    json_decref(back);
    free(out);
    json_decref(ok);

    /* 16 KiB of JSON is the limit */
    char *big = malloc(17000);
    memset(big, 'x', 16999);
    big[16999] = 0;
    json_t *large = json_pack("{s:s}", "pad", big);
    assert_string_equal(account_check_metadata(large, &out), "metadata must be at most 16 KiB of JSON");
    assert_null(out);
    json_decref(large);
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_username), cmocka_unit_test(test_email),   cmocka_unit_test(test_password),
        cmocka_unit_test(test_device),   cmocka_unit_test(test_profile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
