/*
 * tally.c - vote specs, ballot intake and vote state. The methods and the
 * result object are in tally_count.c. Rules: docs/VOTING.md.
 */
#include "tally_internal.h"

#include "log.h"
#include "mb.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- names -------------------------------------------------------------- */

static const char *const method_names[] = {
    [VOTE_PLURALITY] = "plurality", [VOTE_APPROVAL] = "approval",   [VOTE_RANKED] = "ranked",
    [VOTE_BORDA] = "borda",         [VOTE_CONDORCET] = "condorcet",
};
static const char *const visibility_names[] = {[VOTE_HIDDEN] = "hidden", [VOTE_LIVE] = "live"};
static const char *const tie_breaker_names[] = {
    [VOTE_TB_FIRST_LISTED] = "first_listed",
    [VOTE_TB_STATUS_QUO] = "status_quo",
    [VOTE_TB_NONE] = "none",
    [VOTE_TB_RANDOM] = "random",
};

const char *vote_method_name(vote_method_t m)
{
    return (unsigned)m < MB_ARRAY_LEN(method_names) ? method_names[m] : "unknown";
}

const char *vote_visibility_name(vote_visibility_t vis)
{
    return (unsigned)vis < MB_ARRAY_LEN(visibility_names) ? visibility_names[vis] : "unknown";
}

const char *vote_tie_breaker_name(vote_tie_breaker_t tb)
{
    return (unsigned)tb < MB_ARRAY_LEN(tie_breaker_names) ? tie_breaker_names[tb] : "unknown";
}

/* Index of s in names[0..count), or -1. */
static int name_index(const char *const *names, size_t count, const char *s)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp(names[i], s) == 0) return (int)i;
    return -1;
}

/* ---- hashing ------------------------------------------------------------ */

/* FNV-1a, 64 bit. Player ids come from the server's eligible list and the
 * authenticated session, not from free client input. */
static uint64_t hash_str(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ULL;
    }
    return h;
}

static int option_find(const vote_t *v, const char *id)
{
    size_t mask = VOTE_OPT_SLOTS - 1;
    for (size_t i = (size_t)hash_str(id) & mask;; i = (i + 1) & mask) {
        int16_t k = v->opt_slot[i];
        if (k < 0) return -1;
        if (strcmp(v->option_ids[k], id) == 0) return k;
    }
}

/* Slot of id in the voter table: either its voter's slot or the empty slot
 * where it would go. */
static size_t voter_slot_of(const vote_t *v, const char *id)
{
    for (size_t i = (size_t)hash_str(id) & v->voter_mask;; i = (i + 1) & v->voter_mask) {
        uint32_t k = v->voter_slot[i];
        if (k == 0 || strcmp(v->voters[k - 1].id, id) == 0) return i;
    }
}

static vote_voter *voter_find(const vote_t *v, const char *id)
{
    if (!id) return NULL;
    uint32_t k = v->voter_slot[voter_slot_of(v, id)];
    return k ? &v->voters[k - 1] : NULL;
}

/* ---- spec validation ---------------------------------------------------- */

static const char *const spec_fields[] = {
    "options",    "method",   "window_ms", "visibility",   "tie_breaker",
    "status_quo", "eligible", "weights",   "veto_enabled", "close_when_all_voted",
};

/* A JSON integer, or a real with no fraction (Lua numbers are doubles). */
static bool json_whole(const json_t *j, int64_t *out)
{
    if (json_is_integer(j)) {
        *out = (int64_t)json_integer_value(j);
        return true;
    }
    if (json_is_real(j)) {
        double d = json_real_value(j);
        if (isfinite(d) && d == floor(d) && fabs(d) < 9.0e15) {
            *out = (int64_t)d;
            return true;
        }
    }
    return false;
}

/* Lua's empty table encodes as {}: accept it where an empty list is meant. */
static bool json_empty_object(const json_t *j) { return json_is_object(j) && json_object_size(j) == 0; }

static mb_status parse_options(vote_t *v, json_t *options, char *err, size_t errlen)
{
    if (!options) {
        mb_set_err(err, errlen, "options: is required");
        return MB_ERR;
    }
    if (!json_is_array(options)) {
        mb_set_err(err, errlen, "options: must be an array of {id, label} objects");
        return MB_ERR;
    }
    size_t n = json_array_size(options);
    if (n < VOTE_MIN_OPTIONS || n > VOTE_MAX_OPTIONS) {
        mb_set_err(err, errlen, "options: must have %d to %d options, got %zu", VOTE_MIN_OPTIONS,
                   VOTE_MAX_OPTIONS, n);
        return MB_ERR;
    }
    v->options = json_deep_copy(options);
    if (!v->options) {
        mb_set_err(err, errlen, "options: could not copy");
        return MB_ERR;
    }
    v->n = n;
    v->option_ids = mb_calloc(n, sizeof(*v->option_ids));
    for (size_t i = 0; i < VOTE_OPT_SLOTS; i++) v->opt_slot[i] = -1;
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(v->options, i);
        if (!json_is_object(o)) {
            mb_set_err(err, errlen, "options[%zu]: must be an object with string id and label", i);
            return MB_ERR;
        }
        json_t *id = json_object_get(o, "id");
        json_t *label = json_object_get(o, "label");
        if (!json_is_string(id) || json_string_length(id) == 0) {
            mb_set_err(err, errlen, "options[%zu].id: must be a non-empty string", i);
            return MB_ERR;
        }
        if (!json_is_string(label)) {
            mb_set_err(err, errlen, "options[%zu].label: must be a string", i);
            return MB_ERR;
        }
        const char *s = json_string_value(id);
        int dup = option_find(v, s);
        if (dup >= 0) {
            mb_set_err(err, errlen, "options[%zu].id: \"%.64s\" repeats options[%d].id", i, s, dup);
            return MB_ERR;
        }
        v->option_ids[i] = s;
        size_t mask = VOTE_OPT_SLOTS - 1, slot = (size_t)hash_str(s) & mask;
        while (v->opt_slot[slot] >= 0) slot = (slot + 1) & mask;
        v->opt_slot[slot] = (int16_t)i;
    }
    return MB_OK;
}

static mb_status parse_enum(const json_t *spec, const char *field, const char *const *names, size_t count,
                            int dflt, int *out, char *err, size_t errlen)
{
    json_t *j = json_object_get(spec, field);
    if (!j) {
        if (dflt < 0) {
            mb_set_err(err, errlen, "%s: is required", field);
            return MB_ERR;
        }
        *out = dflt;
        return MB_OK;
    }
    int k = json_is_string(j) ? name_index(names, count, json_string_value(j)) : -1;
    if (k < 0) {
        char allowed[160] = "";
        for (size_t i = 0; i < count; i++) {
            size_t used = strlen(allowed);
            snprintf(allowed + used, sizeof(allowed) - used, "%s\"%s\"", i ? ", " : "", names[i]);
        }
        mb_set_err(err, errlen, "%s: must be one of %s", field, allowed);
        return MB_ERR;
    }
    *out = k;
    return MB_OK;
}

static mb_status parse_bool(const json_t *spec, const char *field, bool dflt, bool *out, char *err,
                            size_t errlen)
{
    json_t *j = json_object_get(spec, field);
    if (!j) {
        *out = dflt;
        return MB_OK;
    }
    if (!json_is_boolean(j)) {
        mb_set_err(err, errlen, "%s: must be true or false", field);
        return MB_ERR;
    }
    *out = json_is_true(j);
    return MB_OK;
}

/* Convert a validated weight to micro-units; MB_ERR with a message naming
 * the player when it is out of range. */
static mb_status weight_micro(const char *player, const json_t *j, int64_t *out, char *err, size_t errlen)
{
    double d;
    if (json_is_integer(j)) d = (double)json_integer_value(j);
    else if (json_is_real(j)) d = json_real_value(j);
    else {
        mb_set_err(err, errlen, "weights[\"%.64s\"]: must be a number", player);
        return MB_ERR;
    }
    if (!isfinite(d) || d <= 0) {
        mb_set_err(err, errlen, "weights[\"%.64s\"]: must be a finite number > 0", player);
        return MB_ERR;
    }
    if (d > VOTE_MAX_WEIGHT) {
        mb_set_err(err, errlen, "weights[\"%.64s\"]: %g is above the maximum weight %d", player, d,
                   VOTE_MAX_WEIGHT);
        return MB_ERR;
    }
    int64_t micro = llround(d * VOTE_WEIGHT_SCALE);
    if (micro < 1) {
        mb_set_err(err, errlen, "weights[\"%.64s\"]: %g is below the weight precision (0.000001)", player, d);
        return MB_ERR;
    }
    *out = micro;
    return MB_OK;
}

static mb_status parse_weights(const json_t *weights, char *err, size_t errlen)
{
    if (!weights || (json_is_array(weights) && json_array_size(weights) == 0)) return MB_OK;
    if (!json_is_object(weights)) {
        mb_set_err(err, errlen, "weights: must be an object {player_id: weight}");
        return MB_ERR;
    }
    const char *player;
    json_t *w;
    json_object_foreach ((json_t *)weights, player, w) {
        int64_t micro;
        if (weight_micro(player, w, &micro, err, errlen) != MB_OK) return MB_ERR;
    }
    return MB_OK;
}

/* Build the voter table from the eligible list (duplicates count once). */
static mb_status parse_eligible(vote_t *v, json_t *list, const char *what, const json_t *weights, char *err,
                                size_t errlen)
{
    size_t n = 0;
    if (list && !json_empty_object(list)) {
        if (!json_is_array(list)) {
            mb_set_err(err, errlen, "%s: must be an array of player id strings", what);
            return MB_ERR;
        }
        n = json_array_size(list);
    }
    if (n > VOTE_MAX_ELIGIBLE) {
        mb_set_err(err, errlen, "%s: at most %d players, got %zu", what, VOTE_MAX_ELIGIBLE, n);
        return MB_ERR;
    }
    size_t cap = 16;
    while (cap < 2 * n) cap <<= 1;
    v->voter_mask = cap - 1;
    v->voter_slot = mb_calloc(cap, sizeof(*v->voter_slot));
    v->voters = mb_calloc(n ? n : 1, sizeof(*v->voters));
    for (size_t i = 0; i < n; i++) {
        json_t *p = json_array_get(list, i);
        if (!json_is_string(p) || json_string_length(p) == 0) {
            mb_set_err(err, errlen, "%s[%zu]: must be a non-empty player id string", what, i);
            return MB_ERR;
        }
        const char *id = json_string_value(p);
        size_t slot = voter_slot_of(v, id);
        if (v->voter_slot[slot]) continue; /* listed twice: one voter */
        vote_voter *vv = &v->voters[v->n_voters];
        vv->id = mb_strdup(id);
        vv->weight = VOTE_WEIGHT_SCALE;
        json_t *w = weights && json_is_object(weights) ? json_object_get(weights, id) : NULL;
        if (w) weight_micro(id, w, &vv->weight, err, errlen); /* validated already */
        v->voter_slot[slot] = (uint32_t)++v->n_voters;
    }
    return MB_OK;
}

static mb_status parse_spec(vote_t *v, json_t *spec, json_t *default_eligible, char *err, size_t errlen)
{
    if (!json_is_object(spec)) {
        mb_set_err(err, errlen, "vote spec: must be an object");
        return MB_ERR;
    }
    const char *key;
    json_t *val;
    json_object_foreach (spec, key, val) {
        if (name_index(spec_fields, MB_ARRAY_LEN(spec_fields), key) < 0) {
            mb_set_err(err, errlen, "%.64s: unknown field in vote spec", key);
            return MB_ERR;
        }
    }
    if (parse_options(v, json_object_get(spec, "options"), err, errlen) != MB_OK) return MB_ERR;

    int k;
    if (parse_enum(spec, "method", method_names, MB_ARRAY_LEN(method_names), -1, &k, err, errlen) != MB_OK)
        return MB_ERR;
    v->method = (vote_method_t)k;
    if (parse_enum(spec, "visibility", visibility_names, MB_ARRAY_LEN(visibility_names), VOTE_HIDDEN, &k, err,
                   errlen) != MB_OK)
        return MB_ERR;
    v->visibility = (vote_visibility_t)k;
    if (parse_enum(spec, "tie_breaker", tie_breaker_names, MB_ARRAY_LEN(tie_breaker_names),
                   VOTE_TB_FIRST_LISTED, &k, err, errlen) != MB_OK)
        return MB_ERR;
    v->tie_breaker = (vote_tie_breaker_t)k;

    v->window_ms = VOTE_DEFAULT_WINDOW_MS;
    json_t *win = json_object_get(spec, "window_ms");
    if (win && (!json_whole(win, &v->window_ms) || v->window_ms < VOTE_MIN_WINDOW_MS ||
                v->window_ms > VOTE_MAX_WINDOW_MS)) {
        mb_set_err(err, errlen, "window_ms: must be an integer from %d to %d", VOTE_MIN_WINDOW_MS,
                   VOTE_MAX_WINDOW_MS);
        return MB_ERR;
    }

    v->status_quo = -1;
    json_t *sq = json_object_get(spec, "status_quo");
    if (sq) {
        if (!json_is_string(sq)) {
            mb_set_err(err, errlen, "status_quo: must be an option id string");
            return MB_ERR;
        }
        v->status_quo = option_find(v, json_string_value(sq));
        if (v->status_quo < 0) {
            mb_set_err(err, errlen, "status_quo: \"%.64s\" is not an option id", json_string_value(sq));
            return MB_ERR;
        }
    } else if (v->tie_breaker == VOTE_TB_STATUS_QUO) {
        mb_set_err(err, errlen, "status_quo: is required when tie_breaker is \"status_quo\"");
        return MB_ERR;
    }

    if (parse_bool(spec, "veto_enabled", false, &v->veto_enabled, err, errlen) != MB_OK ||
        parse_bool(spec, "close_when_all_voted", true, &v->close_when_all_voted, err, errlen) != MB_OK)
        return MB_ERR;

    json_t *weights = json_object_get(spec, "weights");
    if (parse_weights(weights, err, errlen) != MB_OK) return MB_ERR;

    json_t *eligible = json_object_get(spec, "eligible");
    if (eligible) return parse_eligible(v, eligible, "eligible", weights, err, errlen);
    return parse_eligible(v, default_eligible, "default eligible list", weights, err, errlen);
}

vote_t *vote_new(json_t *spec, json_t *default_eligible, char *err, size_t errlen)
{
    mb_set_err(err, errlen, "%s", "");
    vote_t *v = mb_calloc(1, sizeof(*v));
    if (parse_spec(v, spec, default_eligible, err, errlen) != MB_OK) {
        char quoted[160];
        mb_debug("vote_spec_rejected", "error=%s",
                 mb_log_quote(quoted, sizeof(quoted), err && errlen ? err : ""));
        vote_free(v);
        return NULL;
    }
    v->counts = mb_calloc(v->n, sizeof(*v->counts));
    v->open = true;
    return v;
}

void vote_free(vote_t *v)
{
    if (!v) return;
    for (size_t i = 0; i < v->n_voters; i++) {
        mb_free(v->voters[i].id);
        mb_free(v->voters[i].ballot);
    }
    mb_free(v->voters);
    mb_free(v->voter_slot);
    mb_free(v->counts);
    mb_free(v->option_ids);
    json_decref(v->options);
    mb_free(v->vetoed_by);
    mb_free(v);
}

/* ---- intake ------------------------------------------------------------- */

/* Apply (sign = +1) or withdraw (sign = -1) a stored ballot from the
 * running counts. */
static void count_ballot(vote_t *v, const vote_voter *vv, int sign)
{
    int64_t w = sign * vv->weight;
    if (v->method == VOTE_APPROVAL) {
        for (size_t i = 0; i < vv->len; i++) v->counts[vv->ballot[i]] += w;
    } else {
        v->counts[vv->ballot[0]] += w;
    }
}

const char *vote_cast(vote_t *v, const char *player_id, json_t *option_id)
{
    if (!v->open) return VOTE_ERR_CLOSED;
    vote_voter *vv = voter_find(v, player_id);
    if (!vv) return VOTE_ERR_NOT_ELIGIBLE;

    uint8_t ballot[VOTE_MAX_OPTIONS];
    size_t len = 0;
    if (v->method == VOTE_PLURALITY) {
        if (!json_is_string(option_id)) return VOTE_ERR_MALFORMED;
        int k = option_find(v, json_string_value(option_id));
        if (k < 0) return VOTE_ERR_UNKNOWN_OPTION;
        ballot[len++] = (uint8_t)k;
    } else {
        if (!json_is_array(option_id)) return VOTE_ERR_MALFORMED;
        size_t n = json_array_size(option_id);
        if (n == 0) return VOTE_ERR_EMPTY;
        for (size_t i = 0; i < n; i++)
            if (!json_is_string(json_array_get(option_id, i))) return VOTE_ERR_MALFORMED;
        vote_set seen = 0;
        for (size_t i = 0; i < n; i++) {
            int k = option_find(v, json_string_value(json_array_get(option_id, i)));
            if (k < 0) return VOTE_ERR_UNKNOWN_OPTION;
            if (seen & ((vote_set)1 << k)) continue; /* repeat: first position counts */
            seen |= (vote_set)1 << k;
            ballot[len++] = (uint8_t)k;
        }
        if (v->method == VOTE_APPROVAL) { /* a set: store in listing order */
            len = 0;
            for (size_t k = 0; k < v->n; k++)
                if (seen & ((vote_set)1 << k)) ballot[len++] = (uint8_t)k;
        }
    }

    if (vv->len) {
        count_ballot(v, vv, -1);
    } else {
        if (!vv->ballot) vv->ballot = mb_malloc(v->method == VOTE_PLURALITY ? 1 : v->n);
        v->n_ballots++;
        v->ballot_weight += vv->weight;
    }
    memcpy(vv->ballot, ballot, len);
    vv->len = (uint8_t)len;
    count_ballot(v, vv, +1);
    return NULL;
}

bool vote_is_eligible(const vote_t *v, const char *player_id) { return voter_find(v, player_id) != NULL; }

bool vote_all_voted(const vote_t *v) { return v->n_voters > 0 && v->n_ballots == v->n_voters; }

size_t vote_total_votes(const vote_t *v) { return v->n_ballots; }

size_t vote_eligible_count(const vote_t *v) { return v->n_voters; }

/* ---- state -------------------------------------------------------------- */

bool vote_is_open(const vote_t *v) { return v->open; }

void vote_close(vote_t *v) { v->open = false; }

const char *vote_veto_check(const vote_t *v, const char *player_id)
{
    if (!v->veto_enabled) return VOTE_ERR_VETO_DISABLED;
    if (!v->open) return VOTE_ERR_CLOSED;
    if (!voter_find(v, player_id)) return VOTE_ERR_NOT_ELIGIBLE;
    return NULL;
}

mb_status vote_mark_vetoed(vote_t *v, const char *player_id)
{
    if (vote_veto_check(v, player_id)) return MB_ERR;
    v->open = false;
    v->vetoed = true;
    v->vetoed_by = mb_strdup(player_id);
    return MB_OK;
}

bool vote_is_vetoed(const vote_t *v) { return v->vetoed; }

const char *vote_vetoed_by(const vote_t *v) { return v->vetoed_by; }

/* ---- accessors ---------------------------------------------------------- */

vote_method_t vote_method(const vote_t *v) { return v->method; }

vote_visibility_t vote_visibility(const vote_t *v) { return v->visibility; }

vote_tie_breaker_t vote_tie_breaker(const vote_t *v) { return v->tie_breaker; }

bool vote_veto_enabled(const vote_t *v) { return v->veto_enabled; }

bool vote_close_when_all_voted(const vote_t *v) { return v->close_when_all_voted; }

int64_t vote_window_ms(const vote_t *v) { return v->window_ms; }

size_t vote_option_count(const vote_t *v) { return v->n; }

json_t *vote_options(const vote_t *v) { return v->options; }

/* ---- output ------------------------------------------------------------- */

json_t *vote_sum_json(vote_sum micro)
{
    vote_sum whole = micro / VOTE_WEIGHT_SCALE, frac = micro % VOTE_WEIGHT_SCALE;
    if (frac == 0) return json_integer((json_int_t)whole);
    return json_real((double)whole + (double)frac / VOTE_WEIGHT_SCALE);
}

json_t *vote_start_payload(const vote_t *v, const char *vote_id)
{
    return json_pack("{s:s?, s:o, s:I, s:s, s:s, s:s, s:b}", "vote_id", vote_id, "options",
                     json_deep_copy(v->options), "window_ms", (json_int_t)v->window_ms, "method",
                     vote_method_name(v->method), "visibility", vote_visibility_name(v->visibility),
                     "tie_breaker", vote_tie_breaker_name(v->tie_breaker), "veto_enabled", v->veto_enabled);
}

json_t *vote_live_tallies(const vote_t *v)
{
    json_t *counts = json_object();
    for (size_t i = 0; i < v->n; i++)
        json_object_set_new(counts, v->option_ids[i], vote_sum_json(v->counts[i]));
    return counts;
}

json_t *vote_ballots_json(const vote_t *v)
{
    json_t *out = json_array();
    for (size_t i = 0; i < v->n_voters; i++) {
        const vote_voter *vv = &v->voters[i];
        if (!vv->len) continue;
        json_t *ballot;
        if (v->method == VOTE_PLURALITY) {
            ballot = json_string(v->option_ids[vv->ballot[0]]);
        } else {
            ballot = json_array();
            for (size_t k = 0; k < vv->len; k++)
                json_array_append_new(ballot, json_string(v->option_ids[vv->ballot[k]]));
        }
        json_array_append_new(out, json_pack("{s:s, s:o, s:o}", "player_id", vv->id, "ballot", ballot,
                                             "weight", vote_sum_json(vv->weight)));
    }
    return out;
}
