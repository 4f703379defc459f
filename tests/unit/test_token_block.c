/* Unit tests: the runtime's revocation table (mb_token_block) as mb_token_verify applies it,
 * cached or not: deleted and banned accounts, token versions, expiry and the size bound. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jwt.h"
#include "server.h"

/* No key was loaded (mb_core_keys_init not called): the runtime signs and
 * verifies with the empty key, and so do these tokens. */
static char *token(const char *sub, int tv)
{
    json_t *c = json_pack("{s:s,s:s,s:I,s:I}", "sub", sub, "usn", "u", "iat",
                          (json_int_t)(mb_wall_ms() / 1000), "exp", (json_int_t)(mb_wall_ms() / 1000 + 600));
    if (tv >= 0) json_object_set_new(c, "tv", json_integer(tv));
    char *t = mb_jwt_sign(c, (const unsigned char *)"", 0);
    json_decref(c);
    return t;
}

static const char *verify(const char *t)
{
    char pid[64], usn[64];
    static char why[128];
    return mb_token_verify(t, pid, usn, why, sizeof why) == MB_OK ? NULL : why;
}

static int64_t later(void) { return mb_wall_ms() + 60000; }

static void test_states(void **st)
{
    char *a = token("acc-a", -1), *b1 = token("acc-b", 1), *b2 = token("acc-b", 2), *c = token("acc-c", 0);
    /* verified once first: the cached path must refuse too */
    assert_null(verify(a));
    assert_null(verify(b1));
    assert_null(verify(c));
    assert_int_equal(mb_token_block("acc-a", MB_TOKENS_DELETED, 0, later()), MB_OK);
    assert_string_equal(verify(a), "account deleted");
    assert_int_equal(mb_token_blocked("acc-a"), MB_TOKENS_DELETED);
    assert_int_equal(mb_token_block("acc-b", MB_TOKENS_BANNED, 2, later()), MB_OK);
    assert_string_equal(verify(b1), "account banned");
    assert_string_equal(verify(b2), "account banned");
    /* unban: versions below 2 stay refused, 2 is accepted (cached or not) */
    assert_int_equal(mb_token_block("acc-b", MB_TOKENS_REVOKED, 2, later()), MB_OK);
    assert_string_equal(verify(b1), "session revoked");
    assert_null(verify(b2));
    assert_null(verify(b2));
    assert_null(verify(c)); /* another account is untouched */
    /* an entry whose time has passed is gone */
    assert_int_equal(mb_token_block("acc-c", MB_TOKENS_BANNED, 0, mb_wall_ms() - 1), MB_OK);
    assert_null(verify(c));
    assert_int_equal(mb_token_blocked("acc-c"), MB_TOKENS_OK);
    /* a negative or non-integer tv is malformed */
    char *bad = token("acc-d", -1);
    json_t *cl =
        json_pack("{s:s,s:I,s:s}", "sub", "acc-d", "exp", (json_int_t)(mb_wall_ms() / 1000 + 600), "tv", "1");
    char *bad2 = mb_jwt_sign(cl, (const unsigned char *)"", 0);
    json_decref(cl);
    assert_string_equal(verify(bad2), "malformed token");
    assert_int_equal(mb_token_block("acc-a", MB_TOKENS_OK, 0, 0), MB_OK);
    assert_int_equal(mb_token_block("acc-b", MB_TOKENS_OK, 0, 0), MB_OK);
    assert_null(verify(a));
    assert_int_equal(mb_token_block_count(), 0);
    free(a), free(b1), free(b2), free(c), free(bad), free(bad2);
}

static void test_bound(void **st)
{
    char id[64];
    int64_t soon = mb_wall_ms() + 600000;
    for (int i = 0; i < MB_TOKEN_BLOCK_MAX / 2; i++) {
        snprintf(id, sizeof id, "p%d", i);
        assert_int_equal(mb_token_block(id, MB_TOKENS_REVOKED, 1, soon), MB_OK);
    }
    /* the other half expires shortly (2 s: inserting them takes well under that, even under
     * valgrind) */
    int64_t brief = mb_wall_ms() + 2000;
    for (int i = 0; i < MB_TOKEN_BLOCK_MAX / 2; i++) {
        snprintf(id, sizeof id, "b%d", i);
        assert_int_equal(mb_token_block(id, MB_TOKENS_REVOKED, 1, brief), MB_OK);
    }
    assert_int_equal(mb_token_block_count(), MB_TOKEN_BLOCK_MAX);
    /* full of live entries: refused, the table does not grow; replacing one needs no room */
    assert_false(mb_token_block_room());
    assert_int_equal(mb_token_block("one-more", MB_TOKENS_DELETED, 0, soon), MB_ERR);
    assert_int_equal(mb_token_blocked("one-more"), MB_TOKENS_OK);
    assert_int_equal(mb_token_block("p1", MB_TOKENS_BANNED, 1, soon), MB_OK);
    assert_int_equal(mb_token_block_count(), MB_TOKEN_BLOCK_MAX);
    /* once the brief ones expired (wait for the clock to pass them), a sweep makes room */
    while (mb_wall_ms() <= brief) {
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    assert_true(mb_token_block_room());
    assert_int_equal(mb_token_block_count(), MB_TOKEN_BLOCK_MAX / 2);
    assert_int_equal(mb_token_block("one-more", MB_TOKENS_DELETED, 0, soon), MB_OK);
    assert_int_equal(mb_token_blocked("one-more"), MB_TOKENS_DELETED);
    mb_token_block("one-more", MB_TOKENS_OK, 0, 0);
    for (int i = 0; i < MB_TOKEN_BLOCK_MAX / 2; i++) {
        snprintf(id, sizeof id, "p%d", i);
        mb_token_block(id, MB_TOKENS_OK, 0, 0);
    }
    assert_int_equal(mb_token_block_count(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_states),
        cmocka_unit_test(test_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
