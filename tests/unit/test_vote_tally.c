/*
 * test_vote_tally.c - unit tests of modules/vote (the rules of
 * docs/VOTING.md). The worked examples of docs/VOTING.md are the tests named
 * there; keep the numbers in sync.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tally.h"

/* ---- helpers ------------------------------------------------------------ */

static json_t *parse(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &e);
    if (!j) fail_msg("bad JSON in test: %s (%s)", text, e.text);
    return j;
}

/* ["p0", ..., "p<n-1>"] */
static json_t *players(size_t n)
{
    json_t *a = json_array();
    char id[32];
    for (size_t i = 0; i < n; i++) {
        snprintf(id, sizeof(id), "p%zu", i);
        json_array_append_new(a, json_string(id));
    }
    return a;
}

/* A spec with options from a comma-separated id list, the method, and any
 * extra fields given as a JSON object text. */
static json_t *spec_new(const char *method, const char *ids, const char *extra)
{
    json_t *spec = extra ? parse(extra) : json_object();
    json_t *opts = json_array();
    char buf[1024];
    snprintf(buf, sizeof(buf), "%s", ids);
    for (char *save = NULL, *id = strtok_r(buf, ",", &save); id; id = strtok_r(NULL, ",", &save)) {
        char label[80];
        snprintf(label, sizeof(label), "Label %s", id);
        json_array_append_new(opts, json_pack("{s:s, s:s}", "id", id, "label", label));
    }
    json_object_set_new(spec, "options", opts);
    if (method) json_object_set_new(spec, "method", json_string(method));
    return spec;
}

/* An open vote over p0..p<n_eligible-1>; fails the test on a bad spec. */
static vote_t *vote_of(const char *method, const char *ids, const char *extra, size_t n_eligible)
{
    json_t *spec = spec_new(method, ids, extra);
    json_t *elig = players(n_eligible);
    char err[256];
    vote_t *v = vote_new(spec, elig, err, sizeof(err));
    if (!v) fail_msg("vote_new failed: %s", err);
    json_decref(spec);
    json_decref(elig);
    return v;
}

static const char *cast(vote_t *v, const char *player, const char *ballot_json)
{
    json_t *b = ballot_json ? parse(ballot_json) : NULL;
    const char *r = vote_cast(v, player, b);
    json_decref(b);
    return r;
}

static void cast_ok(vote_t *v, const char *player, const char *ballot_json)
{
    const char *r = cast(v, player, ballot_json);
    if (r) fail_msg("cast %s by %s rejected: %s", ballot_json, player, r);
}

/* Cast the same ballot for players p<first> .. p<first+count-1>. */
static void cast_many(vote_t *v, size_t first, size_t count, const char *ballot_json)
{
    json_t *b = parse(ballot_json);
    char id[32];
    for (size_t i = first; i < first + count; i++) {
        snprintf(id, sizeof(id), "p%zu", i);
        const char *r = vote_cast(v, id, b);
        if (r) fail_msg("cast %s by %s rejected: %s", ballot_json, id, r);
    }
    json_decref(b);
}

/* json_equal against expected JSON text (integers and reals differ). */
static void assert_json(json_t *actual, const char *expected_text)
{
    json_t *expected = parse(expected_text);
    if (!json_equal(actual, expected)) {
        char *a = actual ? json_dumps(actual, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
        fail_msg("JSON differs\n  expected: %s\n  actual:   %s", expected_text, a ? a : "(null)");
    }
    json_decref(expected);
}

static void assert_field(json_t *obj, const char *key, const char *expected_text)
{
    json_t *f = json_object_get(obj, key);
    if (!f) fail_msg("missing field %s", key);
    assert_json(f, expected_text);
}

static void assert_near(json_t *j, double expected)
{
    if (!json_is_real(j)) fail_msg("expected a real near %g", expected);
    if (fabs(json_real_value(j) - expected) > 1e-9)
        fail_msg("expected %.12g, got %.12g", expected, json_real_value(j));
}

static void assert_shares(json_t *res, const char *key, const char *ids, const double *expected)
{
    json_t *o = json_object_get(res, key);
    assert_non_null(o);
    char buf[1024];
    snprintf(buf, sizeof(buf), "%s", ids);
    size_t k = 0;
    for (char *save = NULL, *id = strtok_r(buf, ",", &save); id; id = strtok_r(NULL, ",", &save))
        assert_near(json_object_get(o, id), expected[k++]);
    assert_int_equal(json_object_size(o), k);
}

static const char *winner(json_t *res)
{
    json_t *w = json_object_get(res, "winner");
    assert_non_null(w);
    return json_is_null(w) ? NULL : json_string_value(w);
}

/* ---- spec --------------------------------------------------------------- */

static void test_spec_defaults(void **state)
{
    vote_t *v = vote_of("plurality", "jungle,volcano", NULL, 3);
    assert_int_equal(vote_method(v), VOTE_PLURALITY);
    assert_int_equal(vote_visibility(v), VOTE_HIDDEN);
    assert_int_equal(vote_tie_breaker(v), VOTE_TB_FIRST_LISTED);
    assert_int_equal(vote_window_ms(v), 15000);
    assert_false(vote_veto_enabled(v));
    assert_true(vote_close_when_all_voted(v));
    assert_true(vote_is_open(v));
    assert_int_equal(vote_eligible_count(v), 3);
    assert_true(vote_is_eligible(v, "p2"));
    assert_false(vote_is_eligible(v, "p3"));
    assert_int_equal(vote_option_count(v), 2);
    assert_int_equal(json_array_size(vote_options(v)), 2);

    json_t *start = vote_start_payload(v, "v1");
    assert_json(start, "{\"vote_id\":\"v1\",\"options\":[{\"id\":\"jungle\",\"label\":\"Label "
                       "jungle\"},{\"id\":\"volcano\",\"label\":\"Label volcano\"}],"
                       "\"window_ms\":15000,\"method\":\"plurality\",\"visibility\":\"hidden\","
                       "\"tie_breaker\":\"first_listed\",\"veto_enabled\":false}");
    json_decref(start);
    vote_free(v);
}

static void test_spec_all_fields(void **state)
{
    vote_t *v = vote_of("ranked", "a,b,c",
                        "{\"window_ms\":2500,\"visibility\":\"live\",\"tie_breaker\":\"status_quo\","
                        "\"status_quo\":\"b\",\"eligible\":[\"x\",\"y\"],\"weights\":{\"x\":2.5,"
                        "\"nobody\":3},\"veto_enabled\":true,\"close_when_all_voted\":false}",
                        5);
    assert_int_equal(vote_method(v), VOTE_RANKED);
    assert_int_equal(vote_visibility(v), VOTE_LIVE);
    assert_int_equal(vote_tie_breaker(v), VOTE_TB_STATUS_QUO);
    assert_int_equal(vote_window_ms(v), 2500);
    assert_true(vote_veto_enabled(v));
    assert_false(vote_close_when_all_voted(v));
    /* eligible replaces the default list; weights of others are ignored */
    assert_int_equal(vote_eligible_count(v), 2);
    assert_true(vote_is_eligible(v, "x"));
    assert_false(vote_is_eligible(v, "p0"));
    assert_false(vote_is_eligible(v, "nobody"));
    cast_ok(v, "x", "[\"c\"]");
    cast_ok(v, "y", "[\"a\"]");
    json_t *ballots = vote_ballots_json(v);
    assert_json(ballots, "[{\"player_id\":\"x\",\"ballot\":[\"c\"],\"weight\":2.5},"
                         "{\"player_id\":\"y\",\"ballot\":[\"a\"],\"weight\":1}]");
    json_decref(ballots);
    json_t *start = vote_start_payload(v, "v9");
    assert_field(start, "visibility", "\"live\"");
    assert_field(start, "tie_breaker", "\"status_quo\"");
    assert_field(start, "method", "\"ranked\"");
    assert_field(start, "window_ms", "2500");
    assert_field(start, "veto_enabled", "true");
    json_decref(start);
    assert_string_equal(vote_method_name(VOTE_CONDORCET), "condorcet");
    assert_string_equal(vote_visibility_name(VOTE_LIVE), "live");
    assert_string_equal(vote_tie_breaker_name(VOTE_TB_RANDOM), "random");
    vote_free(v);
}

/* Lua-shaped input: whole doubles, {} for an empty list, extra option keys. */
static void test_spec_lua_shapes(void **state)
{
    json_t *spec = parse("{\"method\":\"approval\",\"window_ms\":3000.0,\"eligible\":{},"
                         "\"weights\":[],\"options\":[{\"id\":\"a\",\"label\":\"A\",\"icon\":7},"
                         "{\"id\":\"b\",\"label\":\"\"}]}");
    char err[256];
    vote_t *v = vote_new(spec, NULL, err, sizeof(err));
    json_decref(spec);
    if (!v) fail_msg("rejected: %s", err);
    assert_int_equal(vote_window_ms(v), 3000);
    assert_int_equal(vote_eligible_count(v), 0);
    json_t *start = vote_start_payload(v, "v");
    assert_field(start, "options",
                 "[{\"id\":\"a\",\"label\":\"A\",\"icon\":7},{\"id\":\"b\",\"label\":\"\"}]");
    json_decref(start);
    vote_free(v);

    /* no eligible field and no default list: nobody may vote */
    spec = spec_new("plurality", "a,b", NULL);
    v = vote_new(spec, NULL, err, sizeof(err));
    json_decref(spec);
    assert_non_null(v);
    assert_int_equal(vote_eligible_count(v), 0);
    vote_free(v);
}

static void test_spec_eligible_dedupe(void **state)
{
    vote_t *v = vote_of("plurality", "a,b", "{\"eligible\":[\"x\",\"y\",\"x\"]}", 0);
    assert_int_equal(vote_eligible_count(v), 2);
    cast_ok(v, "x", "\"a\"");
    cast_ok(v, "y", "\"a\"");
    assert_true(vote_all_voted(v));
    json_t *res = vote_result(v, "v", 1);
    assert_near(json_object_get(res, "turnout"), 1.0);
    json_decref(res);
    vote_free(v);
}

static void test_spec_errors(void **state)
{
    static const struct {
        const char *spec;
        const char *err_has;
    } cases[] = {
        {"[]", "must be an object"},
        {"{\"method\":\"plurality\"}", "options: is required"},
        {"{\"method\":\"plurality\",\"options\":{}}", "options: must be an array"},
        {"{\"method\":\"plurality\",\"options\":[{\"id\":\"a\",\"label\":\"A\"}]}",
         "options: must have 2 to 64 options, got 1"},
        {"{\"method\":\"plurality\",\"options\":[\"a\",\"b\"]}", "options[0]"},
        {"{\"method\":\"plurality\",\"options\":[{\"id\":\"a\",\"label\":\"A\"},{\"id\":\"\","
         "\"label\":\"B\"}]}",
         "options[1].id: must be a non-empty string"},
        {"{\"method\":\"plurality\",\"options\":[{\"id\":1,\"label\":\"A\"},{\"id\":\"b\","
         "\"label\":\"B\"}]}",
         "options[0].id"},
        {"{\"method\":\"plurality\",\"options\":[{\"id\":\"a\"},{\"id\":\"b\",\"label\":\"B\"}]}",
         "options[0].label: must be a string"},
        {"{\"method\":\"plurality\",\"options\":[{\"id\":\"a\",\"label\":\"A\"},{\"id\":\"a\","
         "\"label\":\"B\"}]}",
         "options[1].id: \"a\" repeats options[0].id"},
        {"{\"options\":[{\"id\":\"a\",\"label\":\"A\"},{\"id\":\"b\",\"label\":\"B\"}]}",
         "method: is required"},
        {"{\"method\":\"stv\"}", "method: must be one of"},
        {"{\"method\":\"plurality\",\"window_ms\":0}", "window_ms: must be an integer from 1"},
        {"{\"method\":\"plurality\",\"window_ms\":3600001}", "window_ms"},
        {"{\"method\":\"plurality\",\"window_ms\":\"15000\"}", "window_ms"},
        {"{\"method\":\"plurality\",\"window_ms\":1.5}", "window_ms"},
        {"{\"method\":\"plurality\",\"visibility\":\"public\"}",
         "visibility: must be one of \"hidden\", \"live\""},
        {"{\"method\":\"plurality\",\"tie_breaker\":\"coin\"}", "tie_breaker: must be one of"},
        {"{\"method\":\"plurality\",\"tie_breaker\":\"status_quo\"}",
         "status_quo: is required when tie_breaker is \"status_quo\""},
        {"{\"method\":\"plurality\",\"status_quo\":\"zz\"}", "status_quo: \"zz\" is not an option"},
        {"{\"method\":\"plurality\",\"status_quo\":1}", "status_quo: must be an option id"},
        {"{\"method\":\"plurality\",\"eligible\":\"p0\"}", "eligible: must be an array"},
        {"{\"method\":\"plurality\",\"eligible\":[\"p0\",3]}", "eligible[1]"},
        {"{\"method\":\"plurality\",\"eligible\":[\"\"]}", "eligible[0]"},
        {"{\"method\":\"plurality\",\"weights\":[1]}", "weights: must be an object"},
        {"{\"method\":\"plurality\",\"weights\":{\"p0\":0}}", "weights[\"p0\"]: must be a finite"},
        {"{\"method\":\"plurality\",\"weights\":{\"p0\":-1.5}}", "weights[\"p0\"]"},
        {"{\"method\":\"plurality\",\"weights\":{\"p0\":\"2\"}}", "weights[\"p0\"]: must be a number"},
        {"{\"method\":\"plurality\",\"weights\":{\"p0\":1000001}}", "above the maximum weight"},
        {"{\"method\":\"plurality\",\"weights\":{\"p0\":1e-9}}", "below the weight precision"},
        {"{\"method\":\"plurality\",\"veto_enabled\":1}", "veto_enabled: must be true or false"},
        {"{\"method\":\"plurality\",\"close_when_all_voted\":\"yes\"}", "close_when_all_voted"},
        {"{\"method\":\"plurality\",\"id\":\"v1\"}", "id: unknown field"},
        {"{\"method\":\"plurality\",\"colour\":\"red\"}", "colour: unknown field in vote spec"},
    };
    for (size_t i = 0; i < MB_ARRAY_LEN(cases); i++) {
        json_t *spec = parse(cases[i].spec);
        /* add two valid options unless the case is about options */
        if (json_is_object(spec) && !json_object_get(spec, "options") && !strstr(cases[i].err_has, "options"))
            json_object_set_new(spec, "options",
                                parse("[{\"id\":\"a\",\"label\":\"A\"},{\"id\":\"b\","
                                      "\"label\":\"B\"}]"));
        char err[256] = "";
        vote_t *v = vote_new(spec, NULL, err, sizeof(err));
        if (v) fail_msg("case %zu accepted: %s", i, cases[i].spec);
        if (!strstr(err, cases[i].err_has))
            fail_msg("case %zu: error \"%s\" lacks \"%s\"", i, err, cases[i].err_has);
        json_decref(spec);
    }

    /* 65 options */
    json_t *opts = json_array();
    for (int i = 0; i < 65; i++) {
        char id[16];
        snprintf(id, sizeof(id), "o%d", i);
        json_array_append_new(opts, json_pack("{s:s, s:s}", "id", id, "label", id));
    }
    json_t *spec = json_pack("{s:o, s:s}", "options", opts, "method", "plurality");
    char err[256];
    assert_null(vote_new(spec, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "got 65"));
    /* 64 is allowed */
    json_array_remove(opts, 64);
    vote_t *v = vote_new(spec, NULL, err, sizeof(err));
    assert_non_null(v);
    assert_int_equal(vote_option_count(v), 64);
    vote_free(v);
    json_decref(spec);

    /* a bad default eligible list from the integrator */
    spec = spec_new("plurality", "a,b", NULL);
    json_t *bad = parse("[\"p0\", null]");
    assert_null(vote_new(spec, bad, err, sizeof(err)));
    assert_non_null(strstr(err, "default eligible list[1]"));
    json_decref(bad);
    json_decref(spec);
}

/* ---- intake ------------------------------------------------------------- */

static void test_intake_reason_codes(void **state)
{
    vote_t *p = vote_of("plurality", "a,b", NULL, 2);
    assert_string_equal(cast(p, "stranger", "\"a\""), "not_eligible");
    json_t *a = json_string("a");
    assert_string_equal(vote_cast(p, NULL, a), "not_eligible");
    json_decref(a);
    assert_string_equal(cast(p, "p0", "[\"a\"]"), "malformed");
    assert_string_equal(cast(p, "p0", "3"), "malformed");
    assert_string_equal(cast(p, "p0", NULL), "malformed");
    assert_string_equal(cast(p, "p0", "\"zz\""), "unknown_option");
    assert_string_equal(cast(p, "p0", "\"\""), "unknown_option");
    assert_int_equal(vote_total_votes(p), 0);
    cast_ok(p, "p0", "\"a\"");
    vote_close(p);
    assert_false(vote_is_open(p));
    assert_string_equal(cast(p, "p1", "\"a\""), "vote_closed");
    assert_string_equal(cast(p, "stranger", "\"a\""), "vote_closed");
    assert_int_equal(vote_total_votes(p), 1);
    vote_free(p);

    static const char *const list_methods[] = {"approval", "ranked", "borda", "condorcet"};
    for (size_t m = 0; m < MB_ARRAY_LEN(list_methods); m++) {
        vote_t *v = vote_of(list_methods[m], "a,b,c", NULL, 2);
        assert_string_equal(cast(v, "p9", "[\"a\"]"), "not_eligible");
        assert_string_equal(cast(v, "p0", "\"a\""), "malformed");
        assert_string_equal(cast(v, "p0", "{\"a\":1}"), "malformed");
        assert_string_equal(cast(v, "p0", "[\"a\", 2]"), "malformed");
        assert_string_equal(cast(v, "p0", "[\"zz\", 2]"), "malformed");
        assert_string_equal(cast(v, "p0", "[]"), "empty");
        assert_string_equal(cast(v, "p0", "[\"a\",\"zz\"]"), "unknown_option");
        assert_string_equal(cast(v, "p0", "[\"a\",\"\"]"), "unknown_option");
        assert_int_equal(vote_total_votes(v), 0);
        cast_ok(v, "p0", "[\"c\",\"a\"]");
        assert_int_equal(vote_total_votes(v), 1);
        vote_free(v);
    }
}

static void test_intake_replace(void **state)
{
    vote_t *v = vote_of("plurality", "a,b", NULL, 2);
    cast_ok(v, "p0", "\"a\"");
    cast_ok(v, "p0", "\"b\"");
    assert_int_equal(vote_total_votes(v), 1);
    json_t *live = vote_live_tallies(v);
    assert_json(live, "{\"a\":0,\"b\":1}");
    json_decref(live);
    json_t *res = vote_result(v, "v", 1);
    assert_string_equal(winner(res), "b");
    assert_field(res, "counts", "{\"a\":0,\"b\":1}");
    assert_field(res, "total_votes", "1");
    json_decref(res);
    vote_free(v);

    /* approval: the new set replaces the old one entirely */
    v = vote_of("approval", "a,b,c", NULL, 2);
    cast_ok(v, "p0", "[\"a\",\"b\"]");
    cast_ok(v, "p0", "[\"c\"]");
    live = vote_live_tallies(v);
    assert_json(live, "{\"a\":0,\"b\":0,\"c\":1}");
    json_decref(live);
    vote_free(v);
}

static void test_intake_invalid_keeps_earlier(void **state)
{
    vote_t *v = vote_of("ranked", "a,b,c", NULL, 2);
    cast_ok(v, "p0", "[\"b\",\"a\"]");
    assert_string_equal(cast(v, "p0", "[\"c\",\"nope\"]"), "unknown_option");
    assert_string_equal(cast(v, "p0", "[]"), "empty");
    assert_string_equal(cast(v, "p0", "\"c\""), "malformed");
    assert_int_equal(vote_total_votes(v), 1);
    json_t *ballots = vote_ballots_json(v);
    assert_json(ballots, "[{\"player_id\":\"p0\",\"ballot\":[\"b\",\"a\"],\"weight\":1}]");
    json_decref(ballots);
    json_t *live = vote_live_tallies(v);
    assert_json(live, "{\"a\":0,\"b\":1,\"c\":0}");
    json_decref(live);
    vote_free(v);
}

static void test_intake_duplicates_count_once(void **state)
{
    /* borda over a,b,c: ["b","a","b"] is b (2 points), a (1 point) */
    vote_t *v = vote_of("borda", "a,b,c", NULL, 1);
    cast_ok(v, "p0", "[\"b\",\"a\",\"b\",\"b\"]");
    json_t *ballots = vote_ballots_json(v);
    assert_json(ballots, "[{\"player_id\":\"p0\",\"ballot\":[\"b\",\"a\"],\"weight\":1}]");
    json_decref(ballots);
    json_t *res = vote_result(v, "v", 1);
    assert_field(res, "scores", "{\"a\":1,\"b\":2,\"c\":0}");
    json_decref(res);
    vote_free(v);

    /* approval: a set; stored in listing order, counted once */
    v = vote_of("approval", "a,b,c", NULL, 1);
    cast_ok(v, "p0", "[\"c\",\"a\",\"c\"]");
    ballots = vote_ballots_json(v);
    assert_json(ballots, "[{\"player_id\":\"p0\",\"ballot\":[\"a\",\"c\"],\"weight\":1}]");
    json_decref(ballots);
    res = vote_result(v, "v", 1);
    assert_field(res, "counts", "{\"a\":1,\"b\":0,\"c\":1}");
    json_decref(res);
    vote_free(v);
}

static void test_intake_partial_rankings(void **state)
{
    /* condorcet: ranked above unranked; two unranked are not compared */
    vote_t *v = vote_of("condorcet", "a,b,c,d", NULL, 1);
    cast_ok(v, "p0", "[\"c\",\"a\"]");
    json_t *res = vote_result(v, "v", 1);
    assert_field(res, "pairwise",
                 "{\"a\":{\"a\":0,\"b\":1,\"c\":0,\"d\":1},\"b\":{\"a\":0,\"b\":0,\"c\":0,\"d\":0},"
                 "\"c\":{\"a\":1,\"b\":1,\"c\":0,\"d\":1},\"d\":{\"a\":0,\"b\":0,\"c\":0,\"d\":0}}");
    assert_string_equal(winner(res), "c");
    assert_field(res, "condorcet_winner", "\"c\"");
    json_decref(res);
    vote_free(v);

    /* ranked: a partial ballot exhausts when its options are gone */
    v = vote_of("ranked", "a,b,c", NULL, 5);
    cast_many(v, 0, 2, "[\"a\"]");
    cast_many(v, 2, 2, "[\"b\"]");
    cast_many(v, 4, 1, "[\"c\"]");
    res = vote_result(v, "v", 1);
    /* round 1: a2 b2 c1; c out; round 2: a2 b2 tie, round 1 equal -> first_listed */
    assert_string_equal(winner(res), "a");
    assert_field(res, "exhausted", "1");
    assert_field(res, "total_votes", "5");
    assert_field(res, "tie_break", "\"first_listed\"");
    json_decref(res);
    vote_free(v);
}

static void test_all_voted_and_eligibility(void **state)
{
    vote_t *v = vote_of("plurality", "a,b", NULL, 2);
    assert_false(vote_all_voted(v));
    cast_ok(v, "p0", "\"a\"");
    cast_ok(v, "p0", "\"b\""); /* a replacement is still one ballot */
    assert_false(vote_all_voted(v));
    assert_string_equal(cast(v, "p1", "\"x\""), "unknown_option");
    assert_false(vote_all_voted(v));
    cast_ok(v, "p1", "\"a\"");
    assert_true(vote_all_voted(v));
    vote_free(v);

    /* nobody eligible: never "all voted", turnout 0 */
    v = vote_of("plurality", "a,b", "{\"eligible\":[]}", 4);
    assert_int_equal(vote_eligible_count(v), 0);
    assert_false(vote_all_voted(v));
    assert_string_equal(cast(v, "p0", "\"a\""), "not_eligible");
    json_t *res = vote_result(v, "v", 1);
    assert_near(json_object_get(res, "turnout"), 0.0);
    assert_field(res, "total_votes", "0");
    json_decref(res);
    vote_free(v);
}

static void test_live_tallies(void **state)
{
    vote_t *v = vote_of("ranked", "a,b,c", "{\"weights\":{\"p1\":0.5}}", 3);
    json_t *live = vote_live_tallies(v);
    assert_json(live, "{\"a\":0,\"b\":0,\"c\":0}");
    json_decref(live);
    cast_ok(v, "p0", "[\"b\",\"a\"]");
    cast_ok(v, "p1", "[\"b\",\"c\"]");
    cast_ok(v, "p2", "[\"c\"]");
    live = vote_live_tallies(v);
    assert_json(live, "{\"a\":0,\"b\":1.5,\"c\":1}"); /* first preferences, weighted */
    json_decref(live);
    assert_int_equal(vote_total_votes(v), 3);
    vote_free(v);

    v = vote_of("approval", "a,b,c", "{\"weights\":{\"p1\":2}}", 2);
    cast_ok(v, "p0", "[\"a\",\"b\"]");
    cast_ok(v, "p1", "[\"b\",\"c\"]");
    live = vote_live_tallies(v);
    assert_json(live, "{\"a\":1,\"b\":3,\"c\":2}");
    json_decref(live);
    vote_free(v);
}

static void test_veto(void **state)
{
    vote_t *off = vote_of("plurality", "a,b", NULL, 2);
    assert_string_equal(vote_veto_check(off, "p0"), "veto_disabled");
    assert_int_equal(vote_mark_vetoed(off, "p0"), MB_ERR);
    assert_true(vote_is_open(off));
    assert_false(vote_is_vetoed(off));
    vote_free(off);

    vote_t *v = vote_of("plurality", "a,b", "{\"veto_enabled\":true}", 2);
    cast_ok(v, "p0", "\"a\"");
    assert_string_equal(vote_veto_check(v, "stranger"), "not_eligible");
    assert_int_equal(vote_mark_vetoed(v, "stranger"), MB_ERR);
    assert_true(vote_is_open(v));
    assert_null(vote_veto_check(v, "p1"));
    assert_null(vote_vetoed_by(v));
    assert_int_equal(vote_mark_vetoed(v, "p1"), MB_OK);
    assert_true(vote_is_vetoed(v));
    assert_false(vote_is_open(v));
    assert_string_equal(vote_vetoed_by(v), "p1");
    assert_string_equal(cast(v, "p1", "\"b\""), "vote_closed");
    assert_string_equal(vote_veto_check(v, "p0"), "vote_closed");
    assert_null(vote_result(v, "v", 1)); /* no result for a vetoed vote */
    vote_free(v);

    /* a closed vote cannot be vetoed */
    v = vote_of("plurality", "a,b", "{\"veto_enabled\":true}", 2);
    vote_close(v);
    assert_string_equal(vote_veto_check(v, "p0"), "vote_closed");
    assert_int_equal(vote_mark_vetoed(v, "p0"), MB_ERR);
    assert_false(vote_is_vetoed(v));
    vote_free(v);
}

static void test_result_closes_vote(void **state)
{
    vote_t *v = vote_of("plurality", "a,b", NULL, 2);
    cast_ok(v, "p0", "\"b\"");
    json_t *r1 = vote_result(v, "v", 1);
    assert_false(vote_is_open(v));
    assert_string_equal(cast(v, "p1", "\"a\""), "vote_closed");
    json_t *r2 = vote_result(v, "v", 2);
    assert_true(json_equal(r1, r2));
    assert_field(r1, "vote_id", "\"v\"");
    json_decref(r1);
    json_decref(r2);
    /* a missing id is a JSON null, not a missing key */
    r1 = vote_result(v, NULL, 1);
    assert_field(r1, "vote_id", "null");
    json_decref(r1);
    r1 = vote_start_payload(v, NULL);
    assert_field(r1, "vote_id", "null");
    json_decref(r1);
    vote_free(v);
}

/* ---- plurality and approval --------------------------------------------- */

/* docs/VOTING.md worked example "Jungle or volcano". */
static void test_plurality_jungle_volcano(void **state)
{
    vote_t *v = vote_of("plurality", "jungle,volcano", NULL, 3);
    cast_ok(v, "p0", "\"jungle\"");
    cast_ok(v, "p1", "\"volcano\"");
    cast_ok(v, "p2", "\"jungle\"");
    assert_true(vote_all_voted(v));
    json_t *res = vote_result(v, "7", 1);
    assert_field(res, "vote_id", "\"7\"");
    assert_string_equal(winner(res), "jungle");
    assert_field(res, "counts", "{\"jungle\":2,\"volcano\":1}");
    assert_shares(res, "distribution", "jungle,volcano", (double[]){2.0 / 3, 1.0 / 3});
    assert_field(res, "total_votes", "3");
    assert_field(res, "total_weight", "3");
    assert_near(json_object_get(res, "turnout"), 1.0);
    assert_field(res, "tie", "false");
    assert_field(res, "tied", "[]");
    assert_field(res, "tie_break", "null");
    assert_int_equal(json_object_size(res), 10); /* no method extras */
    json_decref(res);
    vote_free(v);
}

static void test_approval(void **state)
{
    vote_t *v = vote_of("approval", "a,b,c,d", "{\"weights\":{\"p2\":3}}", 5);
    cast_ok(v, "p0", "[\"a\",\"b\"]");
    cast_ok(v, "p1", "[\"b\"]");
    cast_ok(v, "p2", "[\"c\",\"a\"]"); /* weight 3 */
    json_t *res = vote_result(v, "v", 1);
    assert_string_equal(winner(res), "a"); /* a 4, b 2, c 3 */
    assert_field(res, "counts", "{\"a\":4,\"b\":2,\"c\":3,\"d\":0}");
    /* share of all approvals (9) */
    assert_shares(res, "distribution", "a,b,c,d", (double[]){4.0 / 9, 2.0 / 9, 3.0 / 9, 0});
    assert_field(res, "total_votes", "3");
    assert_field(res, "total_weight", "5");
    assert_near(json_object_get(res, "turnout"), 0.6);
    assert_field(res, "tie", "false");
    json_decref(res);
    vote_free(v);
}

/* ---- tie-breakers -------------------------------------------------------- */

/* a and c tied at 2, b at 1 */
static vote_t *tied_plurality(const char *extra)
{
    vote_t *v = vote_of("plurality", "a,b,c", extra, 5);
    cast_many(v, 0, 2, "\"c\"");
    cast_many(v, 2, 1, "\"b\"");
    cast_many(v, 3, 2, "\"a\"");
    return v;
}

static void test_tie_first_listed(void **state)
{
    vote_t *v = tied_plurality(NULL);
    json_t *res = vote_result(v, "v", 1);
    assert_string_equal(winner(res), "a");
    assert_field(res, "tie", "true");
    assert_field(res, "tied", "[\"a\",\"c\"]");
    assert_field(res, "tie_break", "\"first_listed\"");
    json_decref(res);
    vote_free(v);
}

static void test_tie_status_quo(void **state)
{
    vote_t *v = tied_plurality("{\"tie_breaker\":\"status_quo\",\"status_quo\":\"c\"}");
    json_t *res = vote_result(v, "v", 1);
    assert_string_equal(winner(res), "c");
    assert_field(res, "tie", "true");
    assert_field(res, "tied", "[\"a\",\"c\"]");
    assert_field(res, "tie_break", "\"status_quo\"");
    json_decref(res);
    vote_free(v);

    /* status quo not among the tied: falls back to first_listed, reported */
    v = tied_plurality("{\"tie_breaker\":\"status_quo\",\"status_quo\":\"b\"}");
    res = vote_result(v, "v", 1);
    assert_string_equal(winner(res), "a");
    assert_field(res, "tie", "true");
    assert_field(res, "tie_break", "\"first_listed\"");
    json_decref(res);
    vote_free(v);

    /* the status quo never overrides a clear winner */
    v = vote_of("plurality", "a,b", "{\"tie_breaker\":\"status_quo\",\"status_quo\":\"b\"}", 3);
    cast_many(v, 0, 2, "\"a\"");
    cast_many(v, 2, 1, "\"b\"");
    res = vote_result(v, "v", 1);
    assert_string_equal(winner(res), "a");
    assert_field(res, "tie", "false");
    assert_field(res, "tie_break", "null");
    json_decref(res);
    vote_free(v);
}

static void test_tie_none(void **state)
{
    vote_t *v = tied_plurality("{\"tie_breaker\":\"none\"}");
    json_t *res = vote_result(v, "v", 1);
    assert_null(winner(res));
    assert_field(res, "winner", "null");
    assert_field(res, "tie", "true");
    assert_field(res, "tied", "[\"a\",\"c\"]");
    assert_field(res, "tie_break", "null");
    json_decref(res);
    vote_free(v);
}

static void test_tie_random(void **state)
{
    /* reproducible: the same seed gives the same result */
    for (uint64_t seed = 0; seed < 20; seed++) {
        vote_t *v = tied_plurality("{\"tie_breaker\":\"random\"}");
        json_t *r1 = vote_result(v, "v", seed);
        json_t *r2 = vote_result(v, "v", seed);
        assert_true(json_equal(r1, r2));
        assert_field(r1, "tie_break", "\"random\"");
        assert_field(r1, "tied", "[\"a\",\"c\"]");
        const char *w = winner(r1);
        assert_true(strcmp(w, "a") == 0 || strcmp(w, "c") == 0); /* never b */
        json_decref(r1);
        json_decref(r2);
        vote_free(v);
    }
    /* uniform-ish: a 3-way tie at 0 over 3000 seeds */
    vote_t *v = vote_of("plurality", "x,y,z", "{\"tie_breaker\":\"random\"}", 0);
    int wins[3] = {0};
    for (uint64_t seed = 0; seed < 3000; seed++) {
        json_t *res = vote_result(v, "v", seed * 7919 + 13);
        wins[winner(res)[0] - 'x']++;
        json_decref(res);
    }
    for (int i = 0; i < 3; i++)
        if (wins[i] < 850 || wins[i] > 1150)
            fail_msg("random tie-break not uniform: %d %d %d", wins[0], wins[1], wins[2]);
    vote_free(v);
}

/* ---- ranked (instant-runoff) -------------------------------------------- */

/* docs/VOTING.md worked example "Tennessee" (100 voters). */
static vote_t *tennessee(const char *method)
{
    vote_t *v = vote_of(method, "memphis,nashville,chattanooga,knoxville", NULL, 100);
    cast_many(v, 0, 42, "[\"memphis\",\"nashville\",\"chattanooga\",\"knoxville\"]");
    cast_many(v, 42, 26, "[\"nashville\",\"chattanooga\",\"knoxville\",\"memphis\"]");
    cast_many(v, 68, 15, "[\"chattanooga\",\"knoxville\",\"nashville\",\"memphis\"]");
    cast_many(v, 83, 17, "[\"knoxville\",\"chattanooga\",\"nashville\",\"memphis\"]");
    return v;
}

static void test_tennessee_ranked(void **state)
{
    vote_t *v = tennessee("ranked");
    json_t *res = vote_result(v, "tn", 1);
    assert_string_equal(winner(res), "knoxville");
    assert_field(res, "counts", "{\"memphis\":42,\"nashville\":26,\"chattanooga\":15,\"knoxville\":17}");
    assert_field(res, "rounds",
                 "[{\"round\":1,\"counts\":{\"memphis\":42,\"nashville\":26,\"chattanooga\":15,"
                 "\"knoxville\":17},\"continuing_ballots\":100,\"exhausted\":0,\"eliminated\":["
                 "\"chattanooga\"],\"tie_break\":null},"
                 "{\"round\":2,\"counts\":{\"memphis\":42,\"nashville\":26,\"knoxville\":32},"
                 "\"continuing_ballots\":100,\"exhausted\":0,\"eliminated\":[\"nashville\"],"
                 "\"tie_break\":null},"
                 "{\"round\":3,\"counts\":{\"memphis\":42,\"knoxville\":58},\"continuing_ballots\":100,"
                 "\"exhausted\":0,\"eliminated\":[],\"tie_break\":null}]");
    assert_field(res, "final_counts", "{\"memphis\":42,\"nashville\":0,\"chattanooga\":0,\"knoxville\":58}");
    assert_shares(res, "distribution", "memphis,nashville,chattanooga,knoxville",
                  (double[]){0.42, 0, 0, 0.58});
    assert_field(res, "exhausted", "0");
    assert_field(res, "total_votes", "100");
    assert_field(res, "tie", "false");
    assert_field(res, "tied", "[]");
    assert_field(res, "tie_break", "null");
    json_decref(res);
    vote_free(v);
}

static void test_tennessee_borda(void **state)
{
    vote_t *v = tennessee("borda");
    json_t *res = vote_result(v, "tn", 1);
    assert_string_equal(winner(res), "nashville");
    assert_field(res, "scores", "{\"memphis\":126,\"nashville\":194,\"chattanooga\":173,\"knoxville\":107}");
    assert_shares(res, "distribution", "memphis,nashville,chattanooga,knoxville",
                  (double[]){126.0 / 600, 194.0 / 600, 173.0 / 600, 107.0 / 600});
    assert_field(res, "counts", "{\"memphis\":42,\"nashville\":26,\"chattanooga\":15,\"knoxville\":17}");
    assert_field(res, "tie", "false");
    json_decref(res);
    vote_free(v);
}

static void test_tennessee_condorcet(void **state)
{
    vote_t *v = tennessee("condorcet");
    json_t *res = vote_result(v, "tn", 1);
    assert_string_equal(winner(res), "nashville");
    assert_field(res, "condorcet_winner", "\"nashville\"");
    assert_field(res, "pairwise",
                 "{\"memphis\":{\"memphis\":0,\"nashville\":42,\"chattanooga\":42,\"knoxville\":42},"
                 "\"nashville\":{\"memphis\":58,\"nashville\":0,\"chattanooga\":68,\"knoxville\":68},"
                 "\"chattanooga\":{\"memphis\":58,\"nashville\":32,\"chattanooga\":0,"
                 "\"knoxville\":83},"
                 "\"knoxville\":{\"memphis\":58,\"nashville\":32,\"chattanooga\":17,"
                 "\"knoxville\":0}}");
    /* condorcet distribution: first preferences (display only) */
    assert_shares(res, "distribution", "memphis,nashville,chattanooga,knoxville",
                  (double[]){0.42, 0.26, 0.15, 0.17});
    assert_field(res, "tie", "false");
    json_decref(res);
    vote_free(v);
}

/* The same electorate as four weighted voters; plurality picks memphis. */
static void test_tennessee_weighted(void **state)
{
    static const char *const methods[] = {"ranked", "borda", "condorcet", "plurality"};
    static const char *const winners[] = {"knoxville", "nashville", "nashville", "memphis"};
    for (size_t m = 0; m < 4; m++) {
        bool plurality = strcmp(methods[m], "plurality") == 0;
        vote_t *v = vote_of(methods[m], "memphis,nashville,chattanooga,knoxville",
                            "{\"weights\":{\"p0\":42,\"p1\":26,\"p2\":15,\"p3\":17}}", 4);
        cast_ok(v, "p0",
                plurality ? "\"memphis\"" : "[\"memphis\",\"nashville\",\"chattanooga\",\"knoxville\"]");
        cast_ok(v, "p1",
                plurality ? "\"nashville\"" : "[\"nashville\",\"chattanooga\",\"knoxville\",\"memphis\"]");
        cast_ok(v, "p2",
                plurality ? "\"chattanooga\"" : "[\"chattanooga\",\"knoxville\",\"nashville\",\"memphis\"]");
        cast_ok(v, "p3",
                plurality ? "\"knoxville\"" : "[\"knoxville\",\"chattanooga\",\"nashville\",\"memphis\"]");
        json_t *res = vote_result(v, "tn", 1);
        assert_string_equal(winner(res), winners[m]);
        assert_field(res, "total_votes", "4");
        assert_field(res, "total_weight", "100");
        assert_field(res, "counts", "{\"memphis\":42,\"nashville\":26,\"chattanooga\":15,\"knoxville\":17}");
        json_decref(res);
        vote_free(v);
    }
}

static void test_ranked_majority_round_one(void **state)
{
    vote_t *v = vote_of("ranked", "a,b,c", NULL, 5);
    cast_many(v, 0, 3, "[\"b\",\"a\"]");
    cast_many(v, 3, 2, "[\"a\",\"b\"]");
    json_t *res = vote_result(v, "v", 1);
    assert_string_equal(winner(res), "b");
    assert_int_equal(json_array_size(json_object_get(res, "rounds")), 1);
    assert_field(res, "final_counts", "{\"a\":2,\"b\":3,\"c\":0}");
    json_decref(res);
    vote_free(v);

    /* exactly half is not a majority */
    v = vote_of("ranked", "a,b,c", NULL, 4);
    cast_many(v, 0, 2, "[\"a\"]");
    cast_many(v, 2, 1, "[\"b\"]");
    cast_many(v, 3, 1, "[\"c\",\"b\"]");
    res = vote_result(v, "v", 1);
    /* r1: a2 b1 c1 -> b/c tie, first_listed drops c; r2: a2 b2 -> r1 a2>b1 */
    assert_string_equal(winner(res), "a");
    assert_int_equal(json_array_size(json_object_get(res, "rounds")), 2);
    assert_field(res, "tie_break", "\"previous_round\"");
    json_decref(res);
    vote_free(v);
}

/* zero-vote options are eliminated one per round */
static void test_ranked_zero_vote_elimination(void **state)
{
    vote_t *v = vote_of("ranked", "a,b,c,d,e", NULL, 5);
    cast_many(v, 0, 2, "[\"a\"]");
    cast_many(v, 2, 2, "[\"b\"]");
    cast_many(v, 4, 1, "[\"c\",\"a\"]");
    json_t *res = vote_result(v, "v", 1);
    json_t *rounds = json_object_get(res, "rounds");
    assert_int_equal(json_array_size(rounds), 4);
    assert_field(json_array_get(rounds, 0), "counts", "{\"a\":2,\"b\":2,\"c\":1,\"d\":0,\"e\":0}");
    assert_field(json_array_get(rounds, 0), "eliminated", "[\"e\"]");
    assert_field(json_array_get(rounds, 0), "tie_break", "\"first_listed\"");
    assert_field(json_array_get(rounds, 1), "eliminated", "[\"d\"]");
    assert_field(json_array_get(rounds, 1), "tie_break", "null");
    assert_field(json_array_get(rounds, 2), "eliminated", "[\"c\"]");
    assert_field(json_array_get(rounds, 3), "counts", "{\"a\":3,\"b\":2}");
    assert_field(json_array_get(rounds, 3), "eliminated", "[]");
    assert_string_equal(winner(res), "a");
    assert_field(res, "tie", "false");
    json_decref(res);
    vote_free(v);
}

/* Elimination tie narrowed by the previous round; exhausted ballots. */
static void test_ranked_elimination_previous_round(void **state)
{
    vote_t *v = vote_of("ranked", "a,b,c,d", NULL, 14);
    cast_many(v, 0, 5, "[\"a\"]");
    cast_many(v, 5, 3, "[\"b\"]");
    cast_many(v, 8, 4, "[\"c\"]");
    cast_many(v, 12, 1, "[\"d\",\"b\"]");
    cast_many(v, 13, 1, "[\"d\"]");
    json_t *res = vote_result(v, "v", 1);
    assert_field(res, "rounds",
                 "[{\"round\":1,\"counts\":{\"a\":5,\"b\":3,\"c\":4,\"d\":2},\"continuing_ballots\":14,"
                 "\"exhausted\":0,\"eliminated\":[\"d\"],\"tie_break\":null},"
                 "{\"round\":2,\"counts\":{\"a\":5,\"b\":4,\"c\":4},\"continuing_ballots\":13,"
                 "\"exhausted\":1,\"eliminated\":[\"b\"],\"tie_break\":\"previous_round\"},"
                 "{\"round\":3,\"counts\":{\"a\":5,\"c\":4},\"continuing_ballots\":9,\"exhausted\":5,"
                 "\"eliminated\":[],\"tie_break\":null}]");
    assert_string_equal(winner(res), "a");
    assert_field(res, "exhausted", "5");
    assert_field(res, "total_votes", "14"); /* exhausted ballots still count */
    assert_field(res, "total_weight", "14");
    assert_field(res, "final_counts", "{\"a\":5,\"b\":0,\"c\":4,\"d\":0}");
    assert_shares(res, "distribution", "a,b,c,d", (double[]){5.0 / 9, 0, 4.0 / 9, 0});
    assert_field(res, "tie", "false"); /* elimination ties do not set tie */
    json_decref(res);
    vote_free(v);
}

/* a4 b3 c2 d2 single-choice ballots: c and d tie for last in round 1 */
static json_t *elimination_tie(const char *extra, uint64_t seed)
{
    vote_t *v = vote_of("ranked", "a,b,c,d", extra, 11);
    cast_many(v, 0, 4, "[\"a\"]");
    cast_many(v, 4, 3, "[\"b\"]");
    cast_many(v, 7, 2, "[\"c\"]");
    cast_many(v, 9, 2, "[\"d\"]");
    json_t *res = vote_result(v, "v", seed);
    vote_free(v);
    return res;
}

static json_t *first_round(json_t *res) { return json_array_get(json_object_get(res, "rounds"), 0); }

static void test_ranked_elimination_tie_breakers(void **state)
{
    json_t *res = elimination_tie(NULL, 1);
    assert_field(first_round(res), "eliminated", "[\"d\"]");
    assert_field(first_round(res), "tie_break", "\"first_listed\"");
    assert_string_equal(winner(res), "a");
    assert_field(res, "tie", "false");
    json_decref(res);

    res = elimination_tie("{\"tie_breaker\":\"status_quo\",\"status_quo\":\"d\"}", 1);
    assert_field(first_round(res), "eliminated", "[\"c\"]"); /* latest other than the sq */
    assert_field(first_round(res), "tie_break", "\"status_quo\"");
    json_decref(res);

    res = elimination_tie("{\"tie_breaker\":\"status_quo\",\"status_quo\":\"a\"}", 1);
    assert_field(first_round(res), "eliminated", "[\"d\"]");
    json_decref(res);

    res = elimination_tie("{\"tie_breaker\":\"none\"}", 1);
    assert_field(first_round(res), "eliminated", "[\"c\",\"d\"]"); /* together */
    assert_field(first_round(res), "tie_break", "null");
    assert_int_equal(json_array_size(json_object_get(res, "rounds")), 2);
    assert_string_equal(winner(res), "a");
    json_decref(res);

    /* random: reproducible per seed, and both losers happen */
    int saw_c = 0, saw_d = 0;
    for (uint64_t seed = 0; seed < 64; seed++) {
        json_t *r1 = elimination_tie("{\"tie_breaker\":\"random\"}", seed);
        json_t *r2 = elimination_tie("{\"tie_breaker\":\"random\"}", seed);
        assert_true(json_equal(r1, r2));
        assert_field(first_round(r1), "tie_break", "\"random\"");
        json_t *e = json_object_get(first_round(r1), "eliminated");
        assert_int_equal(json_array_size(e), 1);
        const char *out = json_string_value(json_array_get(e, 0));
        if (strcmp(out, "c") == 0) saw_c++;
        else if (strcmp(out, "d") == 0) saw_d++;
        else fail_msg("random eliminated %s", out);
        json_decref(r1);
        json_decref(r2);
    }
    assert_true(saw_c > 10 && saw_d > 10);
}

/* a2 b2 c2 d1: d out; then a, b, c tie in round 2 and in round 1 */
static json_t *three_way(const char *extra)
{
    vote_t *v = vote_of("ranked", "a,b,c,d", extra, 7);
    cast_many(v, 0, 2, "[\"a\"]");
    cast_many(v, 2, 2, "[\"b\"]");
    cast_many(v, 4, 2, "[\"c\"]");
    cast_many(v, 6, 1, "[\"d\"]");
    json_t *res = vote_result(v, "v", 1);
    vote_free(v);
    return res;
}

static void test_ranked_none_eliminating_everyone(void **state)
{
    json_t *res = three_way("{\"tie_breaker\":\"none\"}");
    assert_null(winner(res));
    assert_field(res, "tie", "true");
    assert_field(res, "tied", "[\"a\",\"b\",\"c\"]");
    assert_field(res, "tie_break", "null");
    assert_field(res, "rounds",
                 "[{\"round\":1,\"counts\":{\"a\":2,\"b\":2,\"c\":2,\"d\":1},"
                 "\"continuing_ballots\":7,\"exhausted\":0,\"eliminated\":[\"d\"],"
                 "\"tie_break\":null},"
                 "{\"round\":2,\"counts\":{\"a\":2,\"b\":2,\"c\":2},\"continuing_ballots\":6,"
                 "\"exhausted\":1,\"eliminated\":[],\"tie_break\":null}]");
    assert_field(res, "final_counts", "{\"a\":2,\"b\":2,\"c\":2,\"d\":0}");
    assert_field(res, "exhausted", "1");
    json_decref(res);
}

/* final round: two left, exactly tied */
static void test_ranked_final_tie_previous_round(void **state)
{
    /* r1: a2 b3 c1 (c -> a); r2: a3 b3; round 1 had b ahead: b wins */
    vote_t *v = vote_of("ranked", "a,b,c", NULL, 6);
    cast_many(v, 0, 2, "[\"a\"]");
    cast_many(v, 2, 3, "[\"b\"]");
    cast_many(v, 5, 1, "[\"c\",\"a\"]");
    json_t *res = vote_result(v, "v", 1);
    assert_string_equal(winner(res), "b");
    assert_field(res, "tie", "true");
    assert_field(res, "tied", "[\"a\",\"b\"]");
    assert_field(res, "tie_break", "\"previous_round\"");
    json_t *last = json_array_get(json_object_get(res, "rounds"), 1);
    assert_field(last, "counts", "{\"a\":3,\"b\":3}");
    assert_field(last, "eliminated", "[]");
    assert_field(last, "tie_break", "\"previous_round\"");
    json_decref(res);
    vote_free(v);
}

static void test_ranked_final_tie_tie_breaker(void **state)
{
    /* three_way with first_listed: c out in round 2, a2 b2 in every round */
    json_t *res = three_way(NULL);
    assert_string_equal(winner(res), "a");
    assert_field(res, "tie", "true");
    assert_field(res, "tied", "[\"a\",\"b\"]");
    assert_field(res, "tie_break", "\"first_listed\"");
    json_t *rounds = json_object_get(res, "rounds");
    assert_int_equal(json_array_size(rounds), 3);
    assert_field(json_array_get(rounds, 1), "eliminated", "[\"c\"]");
    assert_field(json_array_get(rounds, 1), "tie_break", "\"first_listed\"");
    assert_field(json_array_get(rounds, 2), "tie_break", "\"first_listed\"");
    json_decref(res);

    res = three_way("{\"tie_breaker\":\"status_quo\",\"status_quo\":\"b\"}");
    /* round 2 drops c (latest other than b); final a vs b: the sq wins */
    assert_string_equal(winner(res), "b");
    assert_field(res, "tie_break", "\"status_quo\"");
    json_decref(res);

    /* two options only, one ballot each, none: no winner */
    vote_t *v = vote_of("ranked", "a,b", "{\"tie_breaker\":\"none\"}", 2);
    cast_ok(v, "p0", "[\"a\",\"b\"]");
    cast_ok(v, "p1", "[\"b\",\"a\"]");
    res = vote_result(v, "v", 1);
    assert_null(winner(res));
    assert_field(res, "tie", "true");
    assert_field(res, "tied", "[\"a\",\"b\"]");
    assert_field(res, "tie_break", "null");
    json_decref(res);
    vote_free(v);
}

/* ---- borda -------------------------------------------------------------- */

static void test_borda_points(void **state)
{
    /* 4 options: 3, 2, 1, 0 points; unranked get 0; weight multiplies */
    vote_t *v = vote_of("borda", "a,b,c,d", "{\"weights\":{\"p2\":0.5}}", 3);
    cast_ok(v, "p0", "[\"c\",\"a\"]");             /* c3 a2 */
    cast_ok(v, "p1", "[\"a\",\"b\",\"c\",\"d\"]"); /* a3 b2 c1 */
    cast_ok(v, "p2", "[\"d\",\"b\"]");             /* x0.5: d1.5 b1 */
    json_t *res = vote_result(v, "v", 1);
    assert_field(res, "scores", "{\"a\":5,\"b\":3,\"c\":4,\"d\":1.5}");
    assert_string_equal(winner(res), "a");
    assert_shares(res, "distribution", "a,b,c,d", (double[]){5 / 13.5, 3 / 13.5, 4 / 13.5, 1.5 / 13.5});
    assert_field(res, "counts", "{\"a\":1,\"b\":0,\"c\":1,\"d\":0.5}");
    assert_field(res, "total_weight", "2.5");
    json_decref(res);
    vote_free(v);
}

/* ---- condorcet (Schulze) ------------------------------------------------ */

static void test_schulze_cycle_unique_winner(void **state)
{
    /* a>b>c x4, b>c>a x3, c>a>b x2: a cycle, Schulze picks a */
    vote_t *v = vote_of("condorcet", "a,b,c", NULL, 9);
    cast_many(v, 0, 4, "[\"a\",\"b\",\"c\"]");
    cast_many(v, 4, 3, "[\"b\",\"c\",\"a\"]");
    cast_many(v, 7, 2, "[\"c\",\"a\",\"b\"]");
    json_t *res = vote_result(v, "v", 1);
    assert_field(res, "pairwise",
                 "{\"a\":{\"a\":0,\"b\":6,\"c\":4},\"b\":{\"a\":3,\"b\":0,\"c\":7},"
                 "\"c\":{\"a\":5,\"b\":2,\"c\":0}}");
    assert_field(res, "condorcet_winner", "null");
    assert_string_equal(winner(res), "a");
    assert_field(res, "tie", "false");
    json_decref(res);
    vote_free(v);
}

/* The 45-voter, 5-candidate Schulze example of the method's literature. */
static void test_schulze_five_candidates(void **state)
{
    static const struct {
        size_t count;
        const char *ballot;
    } groups[] = {
        {5, "[\"A\",\"C\",\"B\",\"E\",\"D\"]"}, {5, "[\"A\",\"D\",\"E\",\"C\",\"B\"]"},
        {8, "[\"B\",\"E\",\"D\",\"A\",\"C\"]"}, {3, "[\"C\",\"A\",\"B\",\"E\",\"D\"]"},
        {7, "[\"C\",\"A\",\"E\",\"B\",\"D\"]"}, {2, "[\"C\",\"B\",\"A\",\"D\",\"E\"]"},
        {7, "[\"D\",\"C\",\"E\",\"B\",\"A\"]"}, {8, "[\"E\",\"B\",\"A\",\"D\",\"C\"]"},
    };
    vote_t *v = vote_of("condorcet", "A,B,C,D,E", NULL, 45);
    size_t next = 0;
    for (size_t g = 0; g < MB_ARRAY_LEN(groups); g++) {
        cast_many(v, next, groups[g].count, groups[g].ballot);
        next += groups[g].count;
    }
    json_t *res = vote_result(v, "v", 1);
    json_t *pw = json_object_get(res, "pairwise");
    assert_field(json_object_get(pw, "A"), "B", "20");
    assert_field(json_object_get(pw, "A"), "C", "26");
    assert_field(json_object_get(pw, "B"), "D", "33");
    assert_field(json_object_get(pw, "E"), "D", "31");
    assert_field(json_object_get(pw, "D"), "B", "12");
    assert_field(res, "condorcet_winner", "null");
    assert_string_equal(winner(res), "E");
    assert_field(res, "tie", "false");
    json_decref(res);
    vote_free(v);
}

static void test_schulze_tie(void **state)
{
    /* a perfect 3-cycle: every option a potential winner */
    vote_t *v = vote_of("condorcet", "a,b,c", NULL, 3);
    cast_ok(v, "p0", "[\"a\",\"b\",\"c\"]");
    cast_ok(v, "p1", "[\"b\",\"c\",\"a\"]");
    cast_ok(v, "p2", "[\"c\",\"a\",\"b\"]");
    json_t *res = vote_result(v, "v", 1);
    assert_field(res, "condorcet_winner", "null");
    assert_field(res, "tie", "true");
    assert_field(res, "tied", "[\"a\",\"b\",\"c\"]");
    assert_string_equal(winner(res), "a");
    assert_field(res, "tie_break", "\"first_listed\"");
    json_decref(res);
    vote_free(v);

    /* a head-to-head tie between two options, none: no winner */
    v = vote_of("condorcet", "a,b,c", "{\"tie_breaker\":\"none\"}", 2);
    cast_ok(v, "p0", "[\"a\",\"b\",\"c\"]");
    cast_ok(v, "p1", "[\"b\",\"a\",\"c\"]");
    res = vote_result(v, "v", 1);
    assert_null(winner(res));
    assert_field(res, "tied", "[\"a\",\"b\"]");
    assert_field(res, "condorcet_winner", "null");
    json_decref(res);
    vote_free(v);
}

/* ---- weights: exact fractional ties -------------------------------------- */

/* docs/VOTING.md worked example "A weighted tie". */
static void test_weighted_exact_tie(void **state)
{
    /* the float sum drifts: this is why tallies are integers */
    volatile double a = 0.1, b = 0.2;
    assert_true(a + b != 0.3);

    vote_t *v = vote_of("plurality", "ruins,harbor", "{\"weights\":{\"p0\":0.1,\"p1\":0.2,\"p2\":0.3}}", 3);
    cast_ok(v, "p0", "\"harbor\"");
    cast_ok(v, "p1", "\"harbor\"");
    cast_ok(v, "p2", "\"ruins\"");
    json_t *res = vote_result(v, "w", 1);
    assert_field(res, "counts", "{\"ruins\":0.3,\"harbor\":0.3}");
    assert_field(res, "tie", "true");
    assert_field(res, "tied", "[\"ruins\",\"harbor\"]");
    assert_string_equal(winner(res), "ruins");
    assert_field(res, "tie_break", "\"first_listed\"");
    assert_field(res, "total_votes", "3");
    assert_field(res, "total_weight", "0.6");
    assert_shares(res, "distribution", "ruins,harbor", (double[]){0.5, 0.5});
    json_decref(res);
    vote_free(v);

    /* ranked and borda see the same exact tie */
    static const char *const methods[] = {"ranked", "borda", "condorcet"};
    for (size_t m = 0; m < 3; m++) {
        v = vote_of(methods[m], "ruins,harbor",
                    "{\"weights\":{\"p0\":0.1,\"p1\":0.2,\"p2\":0.3},\"tie_breaker\":\"none\"}", 3);
        cast_ok(v, "p0", "[\"harbor\"]");
        cast_ok(v, "p1", "[\"harbor\"]");
        cast_ok(v, "p2", "[\"ruins\"]");
        res = vote_result(v, "w", 1);
        assert_null(winner(res));
        assert_field(res, "tie", "true");
        json_decref(res);
        vote_free(v);
    }

    /* a tiny real difference is not a tie */
    v = vote_of("plurality", "ruins,harbor", "{\"weights\":{\"p0\":0.1,\"p1\":0.2,\"p2\":0.300001}}", 3);
    cast_ok(v, "p0", "\"harbor\"");
    cast_ok(v, "p1", "\"harbor\"");
    cast_ok(v, "p2", "\"ruins\"");
    res = vote_result(v, "w", 1);
    assert_string_equal(winner(res), "ruins");
    assert_field(res, "tie", "false");
    json_decref(res);
    vote_free(v);
}

static void test_weight_rounding(void **state)
{
    /* weights are kept to 6 decimal places: one that rounds to 0 is refused */
    json_t *spec = spec_new("plurality", "a,b", "{\"weights\":{\"p0\":0.0000004999}}");
    char err[128];
    assert_null(vote_new(spec, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "weights[\"p0\"]"));
    json_decref(spec);
    /* 0.0000005 rounds up to the smallest weight */
    spec = spec_new("plurality", "a,b", "{\"weights\":{\"p0\":0.0000005}}");
    vote_t *v = vote_new(spec, NULL, err, sizeof(err));
    assert_non_null(v);
    vote_free(v);
    json_decref(spec);

    spec = spec_new("plurality", "a,b", "{\"weights\":{\"p1\":1000000,\"p2\":0.1234567}}");
    json_t *elig = players(3);
    v = vote_new(spec, elig, err, sizeof(err));
    assert_non_null(v);
    cast_ok(v, "p1", "\"a\"");
    cast_ok(v, "p2", "\"a\"");
    json_t *ballots = vote_ballots_json(v);
    assert_field(json_array_get(ballots, 0), "weight", "1000000");
    assert_near(json_object_get(json_array_get(ballots, 1), "weight"), 0.123457);
    json_decref(ballots);
    json_decref(spec);
    json_decref(elig);
    vote_free(v);
}

/* ---- zero votes ---------------------------------------------------------- */

static void test_zero_votes_every_method(void **state)
{
    static const char *const methods[] = {"plurality", "approval", "ranked", "borda", "condorcet"};
    for (size_t m = 0; m < MB_ARRAY_LEN(methods); m++) {
        vote_t *v = vote_of(methods[m], "a,b,c", NULL, 4);
        json_t *res = vote_result(v, "z", 1);
        assert_string_equal(winner(res), "a");
        assert_field(res, "counts", "{\"a\":0,\"b\":0,\"c\":0}");
        assert_field(res, "distribution", "{\"a\":0.0,\"b\":0.0,\"c\":0.0}");
        assert_field(res, "total_votes", "0");
        assert_field(res, "total_weight", "0");
        assert_near(json_object_get(res, "turnout"), 0.0);
        assert_field(res, "tie", "true");
        assert_field(res, "tied", "[\"a\",\"b\",\"c\"]");
        assert_field(res, "tie_break", "\"first_listed\"");
        if (strcmp(methods[m], "ranked") == 0) {
            assert_field(res, "rounds",
                         "[{\"round\":1,\"counts\":{\"a\":0,\"b\":0,\"c\":0},"
                         "\"continuing_ballots\":0,\"exhausted\":0,\"eliminated\":[],"
                         "\"tie_break\":\"first_listed\"}]");
            assert_field(res, "final_counts", "{\"a\":0,\"b\":0,\"c\":0}");
            assert_field(res, "exhausted", "0");
        }
        if (strcmp(methods[m], "borda") == 0) assert_field(res, "scores", "{\"a\":0,\"b\":0,\"c\":0}");
        if (strcmp(methods[m], "condorcet") == 0) assert_field(res, "condorcet_winner", "null");
        json_decref(res);
        vote_free(v);
    }

    /* with none: no winner, everyone tied */
    vote_t *v = vote_of("ranked", "a,b,c", "{\"tie_breaker\":\"none\"}", 4);
    json_t *res = vote_result(v, "z", 1);
    assert_null(winner(res));
    assert_field(res, "tied", "[\"a\",\"b\",\"c\"]");
    assert_field(res, "tie_break", "null");
    json_decref(res);
    vote_free(v);
}

/* ---- scale --------------------------------------------------------------- */

static void test_many_voters(void **state)
{
    /* 100,000 voters: lookups are hashed, not quadratic */
    const size_t n = 100000;
    vote_t *v = vote_of("plurality", "a,b,c", NULL, n);
    json_t *a = json_string("a"), *b = json_string("b");
    char id[32];
    for (size_t i = 0; i < n; i++) {
        snprintf(id, sizeof(id), "p%zu", i);
        assert_null(vote_cast(v, id, i % 3 ? a : b));
    }
    assert_true(vote_all_voted(v));
    json_t *res = vote_result(v, "big", 1);
    assert_string_equal(winner(res), "a");
    assert_field(res, "counts", "{\"a\":66666,\"b\":33334,\"c\":0}");
    assert_field(res, "total_votes", "100000");
    json_decref(res);
    json_decref(a);
    json_decref(b);
    vote_free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_defaults),
        cmocka_unit_test(test_spec_all_fields),
        cmocka_unit_test(test_spec_lua_shapes),
        cmocka_unit_test(test_spec_eligible_dedupe),
        cmocka_unit_test(test_spec_errors),
        cmocka_unit_test(test_intake_reason_codes),
        cmocka_unit_test(test_intake_replace),
        cmocka_unit_test(test_intake_invalid_keeps_earlier),
        cmocka_unit_test(test_intake_duplicates_count_once),
        cmocka_unit_test(test_intake_partial_rankings),
        cmocka_unit_test(test_all_voted_and_eligibility),
        cmocka_unit_test(test_live_tallies),
        cmocka_unit_test(test_veto),
        cmocka_unit_test(test_result_closes_vote),
        cmocka_unit_test(test_plurality_jungle_volcano),
        cmocka_unit_test(test_approval),
        cmocka_unit_test(test_tie_first_listed),
        cmocka_unit_test(test_tie_status_quo),
        cmocka_unit_test(test_tie_none),
        cmocka_unit_test(test_tie_random),
        cmocka_unit_test(test_tennessee_ranked),
        cmocka_unit_test(test_tennessee_borda),
        cmocka_unit_test(test_tennessee_condorcet),
        cmocka_unit_test(test_tennessee_weighted),
        cmocka_unit_test(test_ranked_majority_round_one),
        cmocka_unit_test(test_ranked_zero_vote_elimination),
        cmocka_unit_test(test_ranked_elimination_previous_round),
        cmocka_unit_test(test_ranked_elimination_tie_breakers),
        cmocka_unit_test(test_ranked_none_eliminating_everyone),
        cmocka_unit_test(test_ranked_final_tie_previous_round),
        cmocka_unit_test(test_ranked_final_tie_tie_breaker),
        cmocka_unit_test(test_borda_points),
        cmocka_unit_test(test_schulze_cycle_unique_winner),
        cmocka_unit_test(test_schulze_five_candidates),
        cmocka_unit_test(test_schulze_tie),
        cmocka_unit_test(test_weighted_exact_tie),
        cmocka_unit_test(test_weight_rounding),
        cmocka_unit_test(test_zero_votes_every_method),
        cmocka_unit_test(test_many_voters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
