/* Unit tests: account input validation (usernames, emails, passwords). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "account.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_username),
        cmocka_unit_test(test_email),
        cmocka_unit_test(test_password),
        cmocka_unit_test(test_device),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
