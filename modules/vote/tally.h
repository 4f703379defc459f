/*
 * tally.h - the vote tallying engine: spec validation, ballot intake and
 * exact tallying for every method of docs/VOTING.md (plurality, approval,
 * ranked / instant-runoff, borda, condorcet / Schulze).
 *
 * Pure C: no sockets, no database, no Lua, no clock. The integrator owns
 * vote ids, timers, veto tokens, throttling of live tallies and delivery
 * of messages; this file owns the rules.
 *
 * Context: single-threaded. A vote_t is used from one thread (the loop
 * thread) only; nothing here blocks or allocates without bound beyond the
 * sizes documented below.
 *
 * Exactness: every weight is converted once, at vote_new(), to an integer
 * number of micro-units (weight x 1,000,000 rounded to the nearest integer).
 * All sums and comparisons are done on integers (128-bit accumulators), so
 * ties are detected exactly: 0.1 + 0.2 ties with 0.3. Doubles appear only
 * when a result is printed. With at most VOTE_MAX_ELIGIBLE voters of weight
 * at most VOTE_MAX_WEIGHT, every per-option tally is at most 10^18 micro-units
 * and every Borda score at most 63 x 10^18: overflow is impossible.
 *
 * JSON ownership follows jansson: "borrows" means the caller keeps its
 * reference, "new reference" means the caller must json_decref() the value.
 */
#ifndef MB_VOTE_TALLY_H
#define MB_VOTE_TALLY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mb.h"

typedef struct vote_t vote_t;

typedef enum vote_method_t {
    VOTE_PLURALITY = 0,
    VOTE_APPROVAL,
    VOTE_RANKED, /* instant-runoff */
    VOTE_BORDA,
    VOTE_CONDORCET /* Schulze */
} vote_method_t;

typedef enum vote_visibility_t { VOTE_HIDDEN = 0, VOTE_LIVE } vote_visibility_t;

typedef enum vote_tie_breaker_t {
    VOTE_TB_FIRST_LISTED = 0,
    VOTE_TB_STATUS_QUO,
    VOTE_TB_NONE,
    VOTE_TB_RANDOM
} vote_tie_breaker_t;

/* Limits (validated by vote_new). */
#define VOTE_MIN_OPTIONS 2
#define VOTE_MAX_OPTIONS 64
#define VOTE_MIN_WINDOW_MS 1
#define VOTE_MAX_WINDOW_MS 3600000
#define VOTE_DEFAULT_WINDOW_MS 15000
#define VOTE_MAX_ELIGIBLE 1000000
/* Weights: > 0, at most VOTE_MAX_WEIGHT, stored in units of
 * 1 / VOTE_WEIGHT_SCALE (6 decimal places); a weight that rounds to 0
 * micro-units (below 0.0000005) is rejected. */
#define VOTE_WEIGHT_SCALE 1000000
#define VOTE_MAX_WEIGHT 1000000

/* Reason codes returned by vote_cast() / vote_veto_check(); the strings are
 * the `reason` of the `error` reply (docs/VOTING.md, "Intake errors"). */
#define VOTE_ERR_NOT_ELIGIBLE "not_eligible"
#define VOTE_ERR_MALFORMED "malformed"
#define VOTE_ERR_EMPTY "empty"
#define VOTE_ERR_UNKNOWN_OPTION "unknown_option"
#define VOTE_ERR_CLOSED "vote_closed"
#define VOTE_ERR_VETO_DISABLED "veto_disabled"

/* ---- lifecycle ---------------------------------------------------------- */

/*
 * Validate a vote spec (docs/VOTING.md, "Spec fields") and create an open
 * vote.
 *
 *   spec              borrows. A JSON object; unknown fields, wrong types
 *                     and out-of-range values are rejected.
 *   default_eligible  borrows; may be NULL (= nobody). Array of player id
 *                     strings used when the spec has no `eligible` field
 *                     (normally the match's players when the vote starts).
 *   err, errlen       receives a human-readable message naming the field on
 *                     failure (always NUL-terminated when errlen > 0).
 *
 * Returns a new vote (free with vote_free), or NULL when the spec is invalid.
 * Nothing of spec is retained: options are deep-copied.
 */
vote_t *vote_new(json_t *spec, json_t *default_eligible, char *err, size_t errlen);

/* Free a vote and everything it owns. NULL is a no-op. */
void vote_free(vote_t *v);

/* ---- intake ------------------------------------------------------------- */

/*
 * Record the ballot of player_id.
 *
 *   player_id  borrows (copied as needed).
 *   option_id  borrows. plurality: a string; approval: a list read as a
 *              set; ranked/borda/condorcet: a list in preference order.
 *
 * Returns NULL when accepted (the ballot replaces the player's earlier one),
 * else a static reason code, checked in this order: VOTE_ERR_CLOSED,
 * VOTE_ERR_NOT_ELIGIBLE, VOTE_ERR_MALFORMED (wrong JSON type, or a list
 * element that is not a string), VOTE_ERR_EMPTY (empty list),
 * VOTE_ERR_UNKNOWN_OPTION. A rejected cast changes nothing: the earlier
 * ballot stays. Repeated ids in a list count once, at their first position.
 */
const char *vote_cast(vote_t *v, const char *player_id, json_t *option_id);

/* Whether player_id may vote in v (listed in eligible). */
bool vote_is_eligible(const vote_t *v, const char *player_id);

/* Whether every eligible player has a counted ballot. False when nobody is
 * eligible (such a vote runs its window). */
bool vote_all_voted(const vote_t *v);

/* Number of counted ballots so far (people, not weight). */
size_t vote_total_votes(const vote_t *v);

/* Number of distinct eligible players (the turnout denominator). */
size_t vote_eligible_count(const vote_t *v);

/* ---- state: close and veto ---------------------------------------------- */

bool vote_is_open(const vote_t *v);

/* Close the vote (window elapsed, everyone voted, or the script closed it).
 * Later casts get VOTE_ERR_CLOSED. Idempotent. */
void vote_close(vote_t *v);

/*
 * Vote-level checks for a `vote.veto` by player_id (the integrator checks
 * the mode's veto_tokens_per_player and the player's remaining tokens).
 * Returns NULL when allowed, else VOTE_ERR_VETO_DISABLED, VOTE_ERR_CLOSED or
 * VOTE_ERR_NOT_ELIGIBLE (in that order). Changes nothing.
 */
const char *vote_veto_check(const vote_t *v, const char *player_id);

/*
 * Cancel the vote by a veto of player_id (borrows; copied). Runs
 * vote_veto_check() first: on failure returns MB_ERR and changes nothing.
 * On success the vote is closed and vetoed: later casts get VOTE_ERR_CLOSED
 * and vote_result() returns NULL.
 */
mb_status vote_mark_vetoed(vote_t *v, const char *player_id);

bool vote_is_vetoed(const vote_t *v);
/* The vetoing player id (owned by v), or NULL when not vetoed. */
const char *vote_vetoed_by(const vote_t *v);

/* ---- accessors ---------------------------------------------------------- */

vote_method_t vote_method(const vote_t *v);
vote_visibility_t vote_visibility(const vote_t *v);
vote_tie_breaker_t vote_tie_breaker(const vote_t *v);
bool vote_veto_enabled(const vote_t *v);
bool vote_close_when_all_voted(const vote_t *v);
int64_t vote_window_ms(const vote_t *v);
size_t vote_option_count(const vote_t *v);
/* The options array as given in the spec. Borrowed: owned by v, valid until
 * vote_free(); do not modify or decref. */
json_t *vote_options(const vote_t *v);

/* Wire names ("ranked", "live", "first_listed", ...). Static strings. */
const char *vote_method_name(vote_method_t m);
const char *vote_visibility_name(vote_visibility_t vis);
const char *vote_tie_breaker_name(vote_tie_breaker_t tb);

/* ---- output ------------------------------------------------------------- */

/*
 * The payload of match.vote_start. New reference:
 *   {vote_id, options, window_ms, method, visibility, tie_breaker, veto_enabled}
 * vote_id borrows (copied into the object; NULL gives a JSON null).
 */
json_t *vote_start_payload(const vote_t *v, const char *vote_id);

/*
 * The current `counts` object of a live tally (every option, in listing
 * order): weighted votes (plurality), weighted approvals (approval) or
 * weighted first preferences (ranked, borda, condorcet). New reference.
 * Tallies are JSON integers when whole, reals otherwise.
 */
json_t *vote_live_tallies(const vote_t *v);

/*
 * Tally the vote and return the result object of docs/VOTING.md ("The
 * result object"). New reference; NULL when the vote was vetoed (no result
 * is produced for a vetoed vote).
 *
 *   vote_id   borrows (copied into the object; NULL gives a JSON null).
 *   rng_seed  seeds the deterministic PRNG used by the `random` tie-breaker;
 *             the same ballots and seed give the same result.
 *
 * Closes the vote if it is still open (a result is final). May be called
 * again; without `random` ties the result is identical.
 */
json_t *vote_result(vote_t *v, const char *vote_id, uint64_t rng_seed);

/*
 * The counted ballots for the audit trail, in eligible-list order. New
 * reference: [{player_id, ballot, weight}], where ballot is normalised (a
 * string for plurality, a list without repeats otherwise; approval lists in
 * option listing order) and weight is the stored (rounded) weight.
 */
json_t *vote_ballots_json(const vote_t *v);

#endif
