/* Unit tests: the module registry's declarations (runtime/module.h):
 * .requires checked against the module list, and .options tables parsed
 * with the runtime's (flag > environment > config file > default). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core.h"

static mb_status ok_init(void) { return MB_OK; }
static void no_destroy(void) {}

static int a_rate;
static char *a_name;
static const mb_option a_options[] = {
    {"alpha-rate", MB_OPT_I(a_rate), "7", 1, 100, "alpha's rate"},
    {"alpha-name", MB_OPT_S(a_name), NULL, 0, 0, "alpha's name"},
    {NULL},
};
static const mb_module mod_a = {
    .api = MB_MODULE_API, .name = "alpha", .init = ok_init, .destroy = no_destroy, .options = a_options};
static const mb_module mod_b = {.api = MB_MODULE_API,
                                .name = "beta",
                                .init = ok_init,
                                .destroy = no_destroy,
                                .requires = MB_REQUIRES("alpha")};
static const mb_module mod_c = {.api = MB_MODULE_API,
                                .name = "gamma",
                                .init = ok_init,
                                .destroy = no_destroy,
                                .requires = MB_REQUIRES("alpha", "delta")};

static void test_requires(void **st)
{
    char err[256];
    const mb_module *good[] = {&mod_a, &mod_b, NULL};
    assert_int_equal(mb_modules_check(good, err, sizeof err), MB_OK);

    const mb_module *order[] = {&mod_b, &mod_a, NULL};
    assert_int_equal(mb_modules_check(order, err, sizeof err), MB_ERR);
    assert_string_equal(err,
                        "module beta requires module alpha, which must come before it in the module list "
                        "(runtime/main.c)");

    const mb_module *missing[] = {&mod_a, &mod_c, NULL};
    assert_int_equal(mb_modules_check(missing, err, sizeof err), MB_ERR);
    assert_string_equal(err, "module gamma requires module delta, which is not registered");

    const mb_module *twice[] = {&mod_a, &mod_b, &mod_a, NULL};
    assert_int_equal(mb_modules_check(twice, err, sizeof err), MB_ERR);
    assert_string_equal(err, "module alpha is listed twice");

    mb_module bad = mod_a;
    bad.api = 99;
    const mb_module *invalid[] = {&bad, NULL};
    assert_int_equal(mb_modules_check(invalid, err, sizeof err), MB_ERR);
    assert_non_null(strstr(err, "module alpha is invalid"));

    /* the configuration is not loaded with a bad list */
    mb_config c;
    char *env[] = {NULL};
    assert_int_equal(mb_core_config_load(&c, order, 0, NULL, env, err, sizeof err), MB_CONFIG_ERR);
    assert_non_null(strstr(err, "must come before it"));
}

static void test_module_options(void **st)
{
    const mb_module *mods[] = {&mod_a, &mod_b, NULL};
    mb_config c;
    char err[256];
    char *env0[] = {NULL};
    assert_int_equal(mb_core_config_load(&c, mods, 0, NULL, env0, err, sizeof err), MB_CONFIG_OK);
    assert_int_equal(a_rate, 7); /* default */
    assert_null(a_name);
    assert_int_equal(c.port, 7350); /* the runtime's table still applies */
    mb_config_free(&c);

    char path[] = "/tmp/mbmodcfgXXXXXX";
    int fd = mkstemp(path);
    const char *json = "{\"alpha-rate\": 11, \"alpha-name\": \"file\"}";
    assert_int_equal(write(fd, json, strlen(json)), (int)strlen(json));
    close(fd);
    char envcfg[64];
    snprintf(envcfg, sizeof envcfg, "MOONBASE_CONFIG=%s", path);
    char *env[] = {envcfg, "MOONBASE_ALPHA_RATE=12", NULL};
    assert_int_equal(mb_core_config_load(&c, mods, 0, NULL, env, err, sizeof err), MB_CONFIG_OK);
    assert_int_equal(a_rate, 12);        /* env beats file */
    assert_string_equal(a_name, "file"); /* file beats default */
    mb_config_free(&c);
    assert_null(a_name); /* module strings are freed with the config */

    char *argv[] = {"--alpha-rate", "13", "--alpha-name=flag"};
    assert_int_equal(mb_core_config_load(&c, mods, 3, argv, env, err, sizeof err), MB_CONFIG_OK);
    assert_int_equal(a_rate, 13); /* flag wins */
    assert_string_equal(a_name, "flag");
    mb_config_free(&c);

    char *bad[] = {"--alpha-rate", "500"};
    assert_int_equal(mb_core_config_load(&c, mods, 2, bad, env0, err, sizeof err), MB_CONFIG_ERR);
    assert_string_equal(err, "flag: option alpha-rate must be an integer in 1..100 (got \"500\")");
    unlink(path);
}

static int dup_port;
static const mb_option dup_options[] = {{"port", MB_OPT_I(dup_port), "1", 1, 9, "taken"}, {NULL}};
static const mb_module mod_dup = {
    .api = MB_MODULE_API, .name = "dup", .init = ok_init, .destroy = no_destroy, .options = dup_options};

static void test_option_declared_twice(void **st)
{
    const mb_module *mods[] = {&mod_dup, NULL};
    mb_config c;
    char err[256];
    char *env[] = {NULL};
    assert_int_equal(mb_core_config_load(&c, mods, 0, NULL, env, err, sizeof err), MB_CONFIG_ERR);
    assert_string_equal(err, "option port is declared twice (runtime or module tables)");
}

static void test_help_lists_module_options(void **st)
{
    const mb_module *mods[] = {&mod_a, NULL};
    char path[] = "/tmp/mbmodhelpXXXXXX";
    int fd = mkstemp(path);
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    dup2(fd, STDOUT_FILENO);
    mb_config c;
    char err[256];
    char *env[] = {NULL};
    char *argv[] = {"--help"};
    mb_config_status rc = mb_core_config_load(&c, mods, 1, argv, env, err, sizeof err);
    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    assert_int_equal(rc, MB_CONFIG_HELP);
    char text[16384];
    ssize_t n = pread(fd, text, sizeof text - 1, 0);
    close(fd);
    unlink(path);
    assert_true(n > 0);
    text[n] = '\0';
    assert_non_null(strstr(text, "--port"));
    assert_non_null(strstr(text, "Options of module alpha:\n  --alpha-rate"));
    assert_non_null(strstr(text, "env MOONBASE_ALPHA_RATE, default 7"));
    mb_config_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_requires),
        cmocka_unit_test(test_module_options),
        cmocka_unit_test(test_option_declared_twice),
        cmocka_unit_test(test_help_lists_module_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
