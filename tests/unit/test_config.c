/* Unit tests: configuration precedence and validation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

static void test_defaults(void **st)
{
    mb_config c;
    char err[256];
    char *env[] = {NULL};
    assert_int_equal(mb_config_load(&c, 0, NULL, env, err, sizeof err), MB_CONFIG_OK);
    assert_string_equal(c.host, "127.0.0.1");
    assert_int_equal(c.port, 7350);
    assert_string_equal(c.scripts_dir, "./scripts");
    assert_string_equal(c.data_dir, ".moonbase");
    assert_int_equal(c.max_message_bytes, 65536);
    assert_null(c.database_url);
    mb_config_free(&c);
}

static void test_precedence(void **st)
{
    char path[] = "/tmp/mbcfgXXXXXX";
    int fd = mkstemp(path);
    const char *json = "{\"port\": 9000, \"host\": \"0.0.0.0\", \"log-level\": \"warn\"}";
    assert_int_equal(write(fd, json, strlen(json)), (int)strlen(json));
    close(fd);
    char envcfg[64];
    snprintf(envcfg, sizeof envcfg, "MOONBASE_CONFIG=%s", path);
    char *env[] = {envcfg, "MOONBASE_PORT=9100", "MOONBASE_DATABASE_URL=postgres://x", NULL};
    char *argv[] = {"--port", "9200"};
    mb_config c;
    char err[256];
    assert_int_equal(mb_config_load(&c, 2, argv, env, err, sizeof err), MB_CONFIG_OK);
    assert_int_equal(c.port, 9200);         /* flag wins */
    assert_string_equal(c.host, "0.0.0.0"); /* file beats default */
    assert_string_equal(c.log_level, "warn");
    assert_string_equal(c.database_url, "postgres://x"); /* env */
    mb_config_free(&c);
    char *argv2[] = {"--log-level=debug"};
    assert_int_equal(mb_config_load(&c, 1, argv2, env, err, sizeof err), MB_CONFIG_OK);
    assert_int_equal(c.port, 9100); /* env beats file */
    assert_string_equal(c.log_level, "debug");
    mb_config_free(&c);
    unlink(path);
}

static void test_errors(void **st)
{
    mb_config c;
    char err[256];
    char *env[] = {NULL};
    char *a1[] = {"--port", "99999"};
    assert_int_equal(mb_config_load(&c, 2, a1, env, err, sizeof err), MB_CONFIG_ERR);
    assert_non_null(strstr(err, "port"));
    char *a2[] = {"--bogus", "1"};
    assert_int_equal(mb_config_load(&c, 2, a2, env, err, sizeof err), MB_CONFIG_ERR);
    assert_non_null(strstr(err, "unknown option --bogus"));
    char *a3[] = {"--mode", "staging"};
    assert_int_equal(mb_config_load(&c, 2, a3, env, err, sizeof err), MB_CONFIG_ERR);
    char *a4[] = {"--jwt-secret", "short"};
    assert_int_equal(mb_config_load(&c, 2, a4, env, err, sizeof err), MB_CONFIG_ERR);
    assert_non_null(strstr(err, "32"));
    char *a5[] = {"--port"};
    assert_int_equal(mb_config_load(&c, 1, a5, env, err, sizeof err), MB_CONFIG_ERR);
    char *env2[] = {"MOONBASE_PORT=abc", NULL};
    assert_int_equal(mb_config_load(&c, 0, NULL, env2, err, sizeof err), MB_CONFIG_ERR);
    assert_non_null(strstr(err, "MOONBASE_PORT"));
}

static void test_bad_file(void **st)
{
    mb_config c;
    char err[256];
    char path[] = "/tmp/mbcfgXXXXXX";
    int fd = mkstemp(path);
    assert_int_equal(write(fd, "{\"nope\": 1}", 11), 11);
    close(fd);
    char *argv[] = {"--config", path};
    char *env[] = {NULL};
    assert_int_equal(mb_config_load(&c, 2, argv, env, err, sizeof err), MB_CONFIG_ERR);
    assert_non_null(strstr(err, "unknown option \"nope\""));
    unlink(path);
}

static void test_tls_pair(void **st)
{
    mb_config c;
    char err[256];
    char *env[] = {NULL};
    assert_int_equal(mb_config_load(&c, 0, NULL, env, err, sizeof err), MB_CONFIG_OK);
    assert_null(c.tls_cert); /* plain by default */
    assert_null(c.tls_key);
    mb_config_free(&c);
    char *a1[] = {"--tls-cert", "/c.pem"};
    assert_int_equal(mb_config_load(&c, 2, a1, env, err, sizeof err), MB_CONFIG_ERR);
    assert_non_null(strstr(err, "tls-cert and tls-key go together"));
    char *env2[] = {"MOONBASE_TLS_KEY=/k.pem", NULL};
    assert_int_equal(mb_config_load(&c, 0, NULL, env2, err, sizeof err), MB_CONFIG_ERR);
    assert_non_null(strstr(err, "only tls-key"));
    char *a2[] = {"--tls-cert", "/c.pem", "--tls-key", "/k.pem", "--host", "::"};
    assert_int_equal(mb_config_load(&c, 6, a2, env, err, sizeof err), MB_CONFIG_OK);
    assert_string_equal(c.tls_cert, "/c.pem");
    assert_string_equal(c.tls_key, "/k.pem");
    assert_string_equal(c.host, "::");
    mb_config_free(&c);
    char *a3[] = {"--tls-cert", "", "--tls-key", ""}; /* empty = unset (e.g. MOONBASE_TLS_CERT=) */
    assert_int_equal(mb_config_load(&c, 4, a3, env, err, sizeof err), MB_CONFIG_OK);
    assert_null(c.tls_cert);
    mb_config_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults), cmocka_unit_test(test_precedence), cmocka_unit_test(test_errors),
        cmocka_unit_test(test_bad_file), cmocka_unit_test(test_tls_pair),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
