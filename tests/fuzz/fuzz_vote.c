/*
 * fuzz_vote.c - vote spec validation, ballot intake and tallying
 * (modules/vote/tally.h: vote_new, vote_cast, vote_veto_check,
 * vote_mark_vetoed, vote_live_tallies, vote_result, vote_ballots_json).
 *
 * Two input shapes:
 *   - JSON text {"spec": {...}, "eligible": [...], "ballots": [[player,
 *     option_id], ...], "veto": player, "seed": n}: what a script's
 *     match:vote_start and the players' vote.cast messages can carry;
 *   - anything else: bytes drive a valid spec (method, option count,
 *     tie-breaker, weights, voters) and a stream of ballots, so the counting
 *     code sees many well-formed votes.
 * Invariants: vote_new refuses with a reason or gives an open vote; a cast
 * answers NULL or one of the documented reason codes; counted ballots never
 * exceed the eligible players; live tallies and the result name every
 * option; the winner is an option (or null with a tie); a result is
 * reproducible (same ballots and seed); a vetoed vote has no result; every
 * output encodes as JSON.
 */
#include <jansson.h>
#include <math.h>

#include "fuzz_common.h"
#include "tally.h"

static const char *const reasons[] = {VOTE_ERR_NOT_ELIGIBLE,   VOTE_ERR_MALFORMED, VOTE_ERR_EMPTY,
                                      VOTE_ERR_UNKNOWN_OPTION, VOTE_ERR_CLOSED,    VOTE_ERR_VETO_DISABLED};

static int known_reason(const char *r)
{
    for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
        if (strcmp(r, reasons[i]) == 0) return 1;
    return 0;
}

static void check_encodes(const json_t *v, const char *what)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    FUZZ_CHECK(s != NULL, "%s does not encode", what);
    free(s);
}

static int is_option(vote_t *v, const char *id)
{
    json_t *opts = vote_options(v);
    size_t i;
    json_t *o;
    json_array_foreach (opts, i, o) {
        const char *oid = json_string_value(json_object_get(o, "id"));
        if (oid && strcmp(oid, id) == 0) return 1;
    }
    return 0;
}

static void check_per_option(vote_t *v, json_t *obj, const char *what)
{
    FUZZ_CHECK(json_is_object(obj), "%s is not an object", what);
    json_t *opts = vote_options(v);
    size_t i;
    json_t *o;
    json_array_foreach (opts, i, o) {
        const char *oid = json_string_value(json_object_get(o, "id"));
        json_t *n = json_object_get(obj, oid);
        FUZZ_CHECK(json_is_number(n), "%s lacks option %s", what, oid);
        FUZZ_CHECK(json_number_value(n) >= 0 && isfinite(json_number_value(n)), "%s[%s] = %g", what, oid,
                   json_number_value(n));
    }
}

static void cast(vote_t *v, const char *player, json_t *option)
{
    size_t before = vote_total_votes(v);
    const char *r = vote_cast(v, player, option);
    if (r) {
        FUZZ_CHECK(known_reason(r), "unknown reason %s", r);
        FUZZ_CHECK(vote_total_votes(v) == before, "a refused cast changed the count");
        if (!vote_is_open(v)) FUZZ_CHECK(strcmp(r, VOTE_ERR_CLOSED) == 0, "closed vote said %s", r);
    } else {
        FUZZ_CHECK(vote_is_open(v), "a closed vote accepted a ballot");
        FUZZ_CHECK(vote_is_eligible(v, player), "an ineligible player voted");
        FUZZ_CHECK(vote_total_votes(v) == before || vote_total_votes(v) == before + 1, "count jumped");
    }
    FUZZ_CHECK(vote_total_votes(v) <= vote_eligible_count(v), "more ballots than voters");
}

static void finish(vote_t *v, const char *veto, uint64_t seed)
{
    json_t *live = vote_live_tallies(v);
    check_per_option(v, live, "live tallies");
    json_decref(live);
    json_t *start = vote_start_payload(v, "fuzz");
    check_encodes(start, "vote_start payload");
    json_decref(start);

    if (veto) {
        const char *why = vote_veto_check(v, veto);
        mb_status st = vote_mark_vetoed(v, veto);
        FUZZ_CHECK((why == NULL) == (st == MB_OK), "veto check and veto disagree");
        if (st == MB_OK) {
            FUZZ_CHECK(vote_is_vetoed(v) && !vote_is_open(v), "vetoed vote still open");
            FUZZ_CHECK(strcmp(vote_vetoed_by(v), veto) == 0, "vetoed_by");
            json_t *r = vote_result(v, "fuzz", seed);
            FUZZ_CHECK(r == NULL, "a vetoed vote produced a result");
            json_t *o = json_string("x");
            FUZZ_CHECK(vote_cast(v, veto, o) != NULL, "a vetoed vote accepted a ballot");
            json_decref(o);
            return;
        }
        FUZZ_CHECK(known_reason(why), "veto reason %s", why);
    }

    json_t *r1 = vote_result(v, "fuzz", seed);
    FUZZ_CHECK(r1 != NULL, "no result");
    FUZZ_CHECK(!vote_is_open(v), "a result left the vote open");
    check_encodes(r1, "result");
    json_t *w = json_object_get(r1, "winner");
    FUZZ_CHECK(json_is_null(w) || (json_is_string(w) && is_option(v, json_string_value(w))),
               "winner is not an option");
    if (json_is_null(w)) FUZZ_CHECK(json_is_true(json_object_get(r1, "tie")), "no winner without a tie");
    json_t *tv = json_object_get(r1, "total_votes");
    FUZZ_CHECK(json_is_integer(tv) && (size_t)json_integer_value(tv) == vote_total_votes(v), "total_votes");
    json_t *counts = json_object_get(r1, "counts");
    if (!counts) counts = json_object_get(r1, "final_counts");
    if (counts) check_per_option(v, counts, "result counts");
    json_t *r2 = vote_result(v, "fuzz", seed);
    FUZZ_CHECK(json_equal(r1, r2), "the same ballots and seed gave another result");
    json_decref(r1);
    json_decref(r2);

    json_t *ballots = vote_ballots_json(v);
    FUZZ_CHECK(json_is_array(ballots) && json_array_size(ballots) == vote_total_votes(v),
               "ballots list does not match the count");
    check_encodes(ballots, "ballots");
    json_decref(ballots);
    json_t *o = json_string("late");
    FUZZ_CHECK(vote_cast(v, "p0", o) != NULL, "a finished vote accepted a ballot");
    json_decref(o);
}

static void from_json(json_t *in)
{
    json_t *spec = json_object_get(in, "spec");
    json_t *elig = json_object_get(in, "eligible");
    char err[256] = "";
    vote_t *v = vote_new(spec, elig, err, sizeof err);
    if (!v) {
        FUZZ_CHECK(err[0], "spec refused without a reason");
        return;
    }
    FUZZ_CHECK(vote_is_open(v) && !vote_is_vetoed(v), "a new vote is not open");
    FUZZ_CHECK(vote_option_count(v) >= VOTE_MIN_OPTIONS && vote_option_count(v) <= VOTE_MAX_OPTIONS,
               "option count %zu", vote_option_count(v));
    FUZZ_CHECK(vote_window_ms(v) >= VOTE_MIN_WINDOW_MS && vote_window_ms(v) <= VOTE_MAX_WINDOW_MS,
               "window %lld", (long long)vote_window_ms(v));
    json_t *ballots = json_object_get(in, "ballots");
    size_t i;
    json_t *b;
    json_array_foreach (ballots, i, b) {
        const char *p = json_string_value(json_array_get(b, 0));
        if (!p) continue;
        cast(v, p, json_array_get(b, 1));
        if (i > 4096) break;
    }
    json_t *seed = json_object_get(in, "seed");
    finish(v, json_string_value(json_object_get(in, "veto")),
           json_is_integer(seed) ? (uint64_t)json_integer_value(seed) : 1);
    vote_free(v);
}

/* bytes -> a valid vote and ballots */
static void from_bytes(const uint8_t *d, size_t n)
{
    if (n < 4) return;
    static const char *const methods[] = {"plurality", "approval", "ranked", "borda", "condorcet"};
    static const char *const tbs[] = {"first_listed", "status_quo", "none", "random"};
    size_t method = d[0] % 5, nopt = 2 + d[1] % 12, nvoters = 1 + d[2] % 24;
    json_t *opts = json_array();
    for (size_t i = 0; i < nopt; i++) {
        char id[8];
        snprintf(id, sizeof id, "o%zu", i);
        json_array_append_new(opts, json_pack("{s:s,s:s}", "id", id, "label", id));
    }
    json_t *elig = json_array(), *weights = json_object();
    for (size_t i = 0; i < nvoters; i++) {
        char id[8];
        snprintf(id, sizeof id, "p%zu", i);
        json_array_append_new(elig, json_string(id));
        if (d[3] & 1) json_object_set_new(weights, id, json_real(0.5 + (double)((d[3] >> 1) + i % 7) / 4.0));
    }
    json_t *spec =
        json_pack("{s:o,s:s,s:s,s:s,s:o,s:o,s:b,s:b}", "options", opts, "method", methods[method],
                  "tie_breaker", tbs[(d[3] >> 2) % 4], "status_quo", "o0", "eligible", elig, "weights",
                  weights, "veto_enabled", (d[3] >> 4) & 1, "close_when_all_voted", (d[3] >> 5) & 1);
    char err[256];
    vote_t *v = vote_new(spec, NULL, err, sizeof err);
    FUZZ_CHECK(v != NULL, "a valid generated spec was refused: %s", err);
    size_t i = 4;
    while (i + 1 < n) {
        char pid[8];
        snprintf(pid, sizeof pid, "p%zu", (size_t)(d[i] % (nvoters + 1))); /* one id beyond: not eligible */
        size_t len = d[i + 1] % 6;
        i += 2;
        json_t *opt;
        if (method == 0 && len != 5) {
            char oid[8];
            snprintf(oid, sizeof oid, "o%zu", (size_t)(i < n ? d[i] % (nopt + 1) : 0));
            opt = json_string(oid);
            i++;
        } else {
            opt = json_array();
            for (size_t k = 0; k < len && i < n; k++, i++) {
                char oid[8];
                snprintf(oid, sizeof oid, "o%zu", (size_t)(d[i] % (nopt + 1)));
                json_array_append_new(opt, json_string(oid));
            }
        }
        cast(v, pid, opt);
        json_decref(opt);
    }
    finish(v, (d[3] & 0x40) ? "p0" : NULL, d[n - 1]);
    vote_free(v);
    json_decref(spec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *in = json_loadb((const char *)data, size, 0, NULL);
    if (json_is_object(in)) from_json(in);
    else from_bytes(data, size);
    json_decref(in);
    return 0;
}
