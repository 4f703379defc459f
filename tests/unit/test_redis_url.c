/* Unit tests: --redis-url parsing (runtime/redis.c) and the cluster options (config.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "redis.h"

static void ok(const char *url, const char *host, int port, int db)
{
    char *h = NULL, err[200];
    int p = -1, d = -1;
    assert_int_equal(mb_redis_parse_url(url, &h, &p, &d, err, sizeof err), MB_OK);
    assert_string_equal(h, host);
    assert_int_equal(p, port);
    assert_int_equal(d, db);
    free(h);
}

static void bad(const char *url)
{
    char *h = NULL, err[200] = "";
    int p, d;
    assert_int_equal(mb_redis_parse_url(url, &h, &p, &d, err, sizeof err), MB_ERR);
    assert_null(h);
    assert_non_null(strstr(err, "redis://HOST:PORT[/DB]"));
}

static void test_valid(void **st)
{
    ok("redis://127.0.0.1:6390", "127.0.0.1", 6390, 0);
    ok("redis://127.0.0.1:6390/3", "127.0.0.1", 6390, 3);
    ok("redis://cache.internal", "cache.internal", 6379, 0);
    ok("redis://[::1]:7000/1", "::1", 7000, 1);
    ok("redis://10.0.0.2:6379/", "10.0.0.2", 6379, 0);
}

static void test_invalid(void **st)
{
    bad(NULL);
    bad("");
    bad("http://127.0.0.1:6379");
    bad("redis://");
    bad("redis://:6379");
    bad("redis://127.0.0.1:0");
    bad("redis://127.0.0.1:65536");
    bad("redis://127.0.0.1:63x9");
    bad("redis://127.0.0.1:6379/x");
    bad("redis://127.0.0.1:6379/-1");
    bad("redis://user:pw@127.0.0.1:6379");
    bad("redis://[::1");
}

static int load(const char *const *args, int n, mb_config *cfg, char *err, size_t errlen)
{
    return mb_config_load(cfg, n, (char **)args, NULL, err, errlen);
}

static void test_config(void **st)
{
    mb_config cfg;
    char err[512];
    const char *a[] = {"--redis-url", "redis://127.0.0.1:6390", "--node-id",
                       "node1",       "--public-url",           "https://eu1.example.com"};
    assert_int_equal(load(a, 6, &cfg, err, sizeof err), MB_OK);
    assert_string_equal(cfg.redis_url, "redis://127.0.0.1:6390");
    assert_string_equal(cfg.node_id, "node1");
    assert_string_equal(cfg.public_url, "https://eu1.example.com");
    assert_int_equal(cfg.redis_grace_ms, 10000);
    mb_config_free(&cfg);

    const char *none[] = {"--port", "7351"};
    assert_int_equal(load(none, 2, &cfg, err, sizeof err), MB_OK);
    assert_null(cfg.redis_url); /* one node, no Redis */
    assert_null(cfg.node_id);
    mb_config_free(&cfg);

    const char *empty[] = {"--redis-url", ""};
    assert_int_equal(load(empty, 2, &cfg, err, sizeof err), MB_OK);
    assert_null(cfg.redis_url);
    mb_config_free(&cfg);

    const char *badid[] = {"--node-id", "a b"};
    assert_int_equal(load(badid, 2, &cfg, err, sizeof err), MB_ERR);
    assert_non_null(strstr(err, "node-id"));
    const char *colon[] = {"--node-id", "a:b"};
    assert_int_equal(load(colon, 2, &cfg, err, sizeof err), MB_ERR);
    const char *badurl[] = {"--public-url", "ws://x"};
    assert_int_equal(load(badurl, 2, &cfg, err, sizeof err), MB_ERR);
    assert_non_null(strstr(err, "public-url"));
}

static void test_env(void **st)
{
    mb_config cfg;
    char err[512];
    char *envp[] = {"MOONBASE_REDIS_URL=redis://127.0.0.1:6391/2", "MOONBASE_NODE_ID=env-node",
                    "MOONBASE_REDIS_GRACE_MS=2500", NULL};
    assert_int_equal(mb_config_load(&cfg, 0, NULL, envp, err, sizeof err), MB_OK);
    assert_string_equal(cfg.redis_url, "redis://127.0.0.1:6391/2");
    assert_string_equal(cfg.node_id, "env-node");
    assert_int_equal(cfg.redis_grace_ms, 2500);
    mb_config_free(&cfg);
}

/* Without mb_redis_start nothing is configured and commands fail (later, on the loop). */
static void test_unconfigured(void **st)
{
    assert_false(mb_redis_configured());
    assert_false(mb_redis_up());
    assert_false(mb_redis_publish("mb:bus", "x", 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid), cmocka_unit_test(test_invalid),      cmocka_unit_test(test_config),
        cmocka_unit_test(test_env),   cmocka_unit_test(test_unconfigured),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
