/*
 * tally_count.c - the five methods and the result object (docs/VOTING.md,
 * "Methods" and "The result object"). Everything is counted in integer
 * micro-units (vote_sum); doubles appear only in the printed shares.
 */
#include "tally_internal.h"

#include <string.h>

/* ---- option sets -------------------------------------------------------- */

static int set_count(vote_set s) { return __builtin_popcountll(s); }

static int set_first(vote_set s) { return __builtin_ctzll(s); }

static int set_last(vote_set s) { return 63 - __builtin_clzll(s); }

static bool set_has(vote_set s, size_t i) { return (s >> i) & 1; }

static vote_set set_all(size_t n) { return n >= 64 ? ~(vote_set)0 : (((vote_set)1 << n) - 1); }

/* The options of `among` with the largest / smallest tally. */
static vote_set set_top(const vote_sum *t, vote_set among)
{
    vote_set top = 0;
    vote_sum best = 0;
    for (vote_set s = among; s; s &= s - 1) {
        int i = set_first(s);
        if (!top || t[i] > best) {
            top = (vote_set)1 << i;
            best = t[i];
        } else if (t[i] == best) {
            top |= (vote_set)1 << i;
        }
    }
    return top;
}

static vote_set set_bottom(const vote_sum *t, vote_set among)
{
    vote_set low = 0;
    vote_sum worst = 0;
    for (vote_set s = among; s; s &= s - 1) {
        int i = set_first(s);
        if (!low || t[i] < worst) {
            low = (vote_set)1 << i;
            worst = t[i];
        } else if (t[i] == worst) {
            low |= (vote_set)1 << i;
        }
    }
    return low;
}

static json_t *set_json(const vote_t *v, vote_set s)
{
    json_t *a = json_array();
    for (; s; s &= s - 1) json_array_append_new(a, json_string(v->option_ids[set_first(s)]));
    return a;
}

/* ---- deterministic PRNG (splitmix64) for the `random` tie-breaker ------- */

typedef struct vote_rng {
    uint64_t state;
} vote_rng;

static uint64_t rng_next(vote_rng *r)
{
    uint64_t z = (r->state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* A uniformly chosen member of s (s not empty). Rejection sampling keeps it
 * unbiased: only draws below the largest multiple of the count are used. */
static int rng_member(vote_rng *r, vote_set s)
{
    uint64_t k = (uint64_t)set_count(s), x;
    uint64_t limit = UINT64_MAX - UINT64_MAX % k;
    do x = rng_next(r);
    while (x >= limit);
    for (x %= k; x; x--) s &= s - 1;
    return set_first(s);
}

/* ---- tie-breakers (docs/VOTING.md, "Ties") ------------------------------ */

typedef struct vote_pick {
    int winner;            /* option index, -1 for no winner */
    vote_set tied;         /* the tied options, 0 when there was no tie */
    const char *tie_break; /* rule that chose the winner, NULL if none did */
} vote_pick;

/* The winner among `top` (the options at the top of the deciding tally). */
static vote_pick pick_winner(const vote_t *v, vote_set top, vote_rng *rng)
{
    vote_pick pk = {.winner = set_first(top), .tied = 0, .tie_break = NULL};
    if (set_count(top) == 1) return pk;
    pk.tied = top;
    switch (v->tie_breaker) {
    case VOTE_TB_FIRST_LISTED: pk.tie_break = "first_listed"; break;
    case VOTE_TB_STATUS_QUO:
        if (v->status_quo >= 0 && set_has(top, (size_t)v->status_quo)) {
            pk.winner = v->status_quo;
            pk.tie_break = "status_quo";
        } else {
            pk.tie_break = "first_listed"; /* the reported fallback */
        }
        break;
    case VOTE_TB_NONE: pk.winner = -1; break;
    case VOTE_TB_RANDOM:
        pk.winner = rng_member(rng, top);
        pk.tie_break = "random";
        break;
    }
    return pk;
}

/* The option(s) to eliminate among `tied` (two or more) in an IRV round
 * when previous rounds did not separate them. *rule gets the rule's name,
 * or NULL under `none`, which eliminates all of them. */
static vote_set pick_loser(const vote_t *v, vote_set tied, vote_rng *rng, const char **rule)
{
    switch (v->tie_breaker) {
    case VOTE_TB_FIRST_LISTED: *rule = "first_listed"; return (vote_set)1 << set_last(tied);
    case VOTE_TB_STATUS_QUO: {
        vote_set others = tied;
        if (v->status_quo >= 0) others &= ~((vote_set)1 << v->status_quo);
        *rule = "status_quo";
        return (vote_set)1 << set_last(others);
    }
    case VOTE_TB_NONE: *rule = NULL; return tied;
    case VOTE_TB_RANDOM: *rule = "random"; return (vote_set)1 << rng_member(rng, tied);
    }
    *rule = NULL;
    return tied;
}

/* ---- counted ballots, compacted for the counting loops ------------------ */

typedef struct vote_ballots {
    size_t nb;      /* counted ballots */
    size_t stride;  /* bytes per ballot row */
    uint8_t *rank;  /* nb x stride option indices */
    uint8_t *len;   /* nb lengths */
    int64_t *w;     /* nb weights, micro-units */
    vote_sum total; /* weight sum */
} vote_ballots;

static void ballots_load(const vote_t *v, vote_ballots *b)
{
    b->nb = v->n_ballots;
    b->stride = v->n;
    b->rank = mb_malloc(b->nb * b->stride);
    b->len = mb_malloc(b->nb);
    b->w = mb_malloc(b->nb * sizeof(*b->w));
    b->total = 0;
    size_t j = 0;
    for (size_t i = 0; i < v->n_voters; i++) {
        const vote_voter *vv = &v->voters[i];
        if (!vv->len) continue;
        memcpy(b->rank + j * b->stride, vv->ballot, vv->len);
        b->len[j] = vv->len;
        b->w[j] = vv->weight;
        b->total += vv->weight;
        j++;
    }
}

static void ballots_free(vote_ballots *b)
{
    mb_free(b->rank);
    mb_free(b->len);
    mb_free(b->w);
}

/* ---- JSON helpers ------------------------------------------------------- */

/* {option: tally} for the options of s, in listing order. */
static json_t *tallies_json(const vote_t *v, const vote_sum *t, vote_set s)
{
    json_t *o = json_object();
    for (; s; s &= s - 1) {
        int i = set_first(s);
        json_object_set_new(o, v->option_ids[i], vote_sum_json(t[i]));
    }
    return o;
}

static json_t *shares_json(const vote_t *v, const vote_sum *t)
{
    vote_sum total = 0;
    for (size_t i = 0; i < v->n; i++) total += t[i];
    json_t *o = json_object();
    for (size_t i = 0; i < v->n; i++)
        json_object_set_new(o, v->option_ids[i], json_real(total > 0 ? (double)t[i] / (double)total : 0.0));
    return o;
}

/* ---- methods ------------------------------------------------------------ */

/* plurality and approval: the running counts decide. */
static json_t *count_simple(const vote_t *v, vote_rng *rng, vote_sum *deciding, vote_pick *pk)
{
    for (size_t i = 0; i < v->n; i++) deciding[i] = v->counts[i];
    *pk = pick_winner(v, set_top(deciding, set_all(v->n)), rng);
    return json_object();
}

static json_t *count_borda(const vote_t *v, const vote_ballots *b, vote_rng *rng, vote_sum *scores,
                           vote_pick *pk)
{
    memset(scores, 0, v->n * sizeof(*scores));
    for (size_t i = 0; i < b->nb; i++) {
        const uint8_t *rk = b->rank + i * b->stride;
        for (size_t k = 0; k < b->len[i]; k++) scores[rk[k]] += (vote_sum)(v->n - 1 - k) * b->w[i];
    }
    *pk = pick_winner(v, set_top(scores, set_all(v->n)), rng);
    json_t *extra = json_object();
    json_object_set_new(extra, "scores", tallies_json(v, scores, set_all(v->n)));
    return extra;
}

static json_t *count_condorcet(const vote_t *v, const vote_ballots *b, vote_rng *rng, vote_sum *deciding,
                               vote_pick *pk)
{
    size_t n = v->n;
    vote_set all = set_all(n);
    /* Pairwise counts fit in 64 bits (each is at most the total weight, see
     * tally.h), which halves the memory traffic of the hot loop. */
    int64_t *acc = mb_calloc(n * n, sizeof(*acc));
    for (size_t i = 0; i < b->nb; i++) {
        const uint8_t *rk = b->rank + i * b->stride;
        size_t len = b->len[i];
        int64_t w = b->w[i];
        vote_set ranked = 0;
        for (size_t k = 0; k < len; k++) ranked |= (vote_set)1 << rk[k];
        vote_set unranked = all & ~ranked;
        for (size_t k = 0; k < len; k++) {
            int64_t *row = acc + (size_t)rk[k] * n;
            for (size_t j = k + 1; j < len; j++) row[rk[j]] += w;
            for (vote_set s = unranked; s; s &= s - 1) row[set_first(s)] += w;
        }
    }
    vote_sum *pw = mb_calloc(n * n, sizeof(*pw)); /* pw[x*n+y]: x ranked above y */
    vote_sum *p = mb_calloc(n * n, sizeof(*p));   /* widest path strengths */
    for (size_t i = 0; i < n * n; i++) pw[i] = acc[i];
    mb_free(acc);

    int cw = -1;
    for (size_t x = 0; x < n && cw < 0; x++) {
        bool beats_all = true;
        for (size_t y = 0; y < n && beats_all; y++)
            if (y != x && pw[x * n + y] <= pw[y * n + x]) beats_all = false;
        if (beats_all) cw = (int)x;
    }

    /* Schulze: strongest path strengths by a Floyd-Warshall widest path. */
    for (size_t x = 0; x < n; x++)
        for (size_t y = 0; y < n; y++)
            if (x != y && pw[x * n + y] > pw[y * n + x]) p[x * n + y] = pw[x * n + y];
    for (size_t k = 0; k < n; k++)
        for (size_t x = 0; x < n; x++) {
            if (x == k || p[x * n + k] == 0) continue;
            for (size_t y = 0; y < n; y++) {
                if (y == x || y == k) continue;
                vote_sum via = p[x * n + k] < p[k * n + y] ? p[x * n + k] : p[k * n + y];
                if (via > p[x * n + y]) p[x * n + y] = via;
            }
        }
    vote_set potential = 0;
    for (size_t x = 0; x < n; x++) {
        bool ok = true;
        for (size_t y = 0; y < n && ok; y++)
            if (y != x && p[x * n + y] < p[y * n + x]) ok = false;
        if (ok) potential |= (vote_set)1 << x;
    }
    *pk = pick_winner(v, potential, rng);

    for (size_t i = 0; i < n; i++) deciding[i] = v->counts[i];
    json_t *pairwise = json_object();
    for (size_t x = 0; x < n; x++)
        json_object_set_new(pairwise, v->option_ids[x], tallies_json(v, pw + x * n, all));
    json_t *extra = json_object();
    json_object_set_new(extra, "pairwise", pairwise);
    json_object_set_new(extra, "condorcet_winner", cw >= 0 ? json_string(v->option_ids[cw]) : json_null());
    mb_free(pw);
    mb_free(p);
    return extra;
}

static json_t *round_json(const vote_t *v, size_t round, const vote_sum *t, vote_set cont, vote_sum live,
                          vote_sum exhausted, vote_set elim, const char *tie_break)
{
    json_t *r = json_object();
    json_object_set_new(r, "round", json_integer((json_int_t)round));
    json_object_set_new(r, "counts", tallies_json(v, t, cont));
    json_object_set_new(r, "continuing_ballots", vote_sum_json(live));
    json_object_set_new(r, "exhausted", vote_sum_json(exhausted));
    json_object_set_new(r, "eliminated", set_json(v, elim));
    json_object_set_new(r, "tie_break", tie_break ? json_string(tie_break) : json_null());
    return r;
}

/* Instant-runoff. final[] receives final_counts (eliminated options at 0). */
static json_t *count_ranked(const vote_t *v, const vote_ballots *b, vote_rng *rng, vote_sum *final,
                            vote_pick *pk)
{
    size_t n = v->n;
    vote_sum *hist = mb_calloc(n * n, sizeof(*hist)); /* hist[r*n+i]: round r tallies */
    uint8_t *cur = mb_calloc(b->nb ? b->nb : 1, 1);   /* position of each ballot's choice */
    json_t *rounds = json_array();
    vote_set cont = set_all(n);
    vote_sum exhausted = 0;

    /* At most n rounds: every round but the last eliminates at least one. */
    for (size_t r = 0; r < n; r++) {
        vote_sum *t = hist + r * n, live = 0;
        for (size_t i = 0; i < b->nb; i++) {
            const uint8_t *rk = b->rank + i * b->stride;
            size_t c = cur[i], len = b->len[i];
            while (c < len && !set_has(cont, rk[c])) c++;
            cur[i] = (uint8_t)c;
            if (c < len) t[rk[c]] += b->w[i];
        }
        for (vote_set s = cont; s; s &= s - 1) live += t[set_first(s)];
        exhausted = b->total - live;

        vote_set top = set_top(t, cont), elim = 0;
        const char *round_tb = NULL;
        bool decided = true;
        if (b->nb == 0) {
            /* No ballots: one round, an all-way tie at 0. */
            *pk = pick_winner(v, cont, rng);
            round_tb = pk->tie_break;
        } else if (set_count(cont) == 1 || 2 * t[set_first(top)] > live) {
            *pk = (vote_pick){.winner = set_first(top), .tied = 0, .tie_break = NULL};
        } else if (set_count(cont) == 2) {
            /* Two left without a majority: an exact tie. Earlier rounds first. */
            int a = set_first(cont), z = set_last(cont);
            *pk = (vote_pick){.winner = -1, .tied = cont, .tie_break = NULL};
            for (size_t rr = r; rr-- > 0;) {
                vote_sum ta = hist[rr * n + a], tz = hist[rr * n + z];
                if (ta != tz) {
                    pk->winner = ta > tz ? a : z;
                    pk->tie_break = "previous_round";
                    break;
                }
            }
            if (!pk->tie_break) *pk = pick_winner(v, cont, rng);
            round_tb = pk->tie_break;
        } else {
            vote_set low = set_bottom(t, cont);
            for (size_t rr = r; set_count(low) > 1 && rr-- > 0;) {
                low = set_bottom(hist + rr * n, low);
                if (set_count(low) == 1) round_tb = "previous_round";
            }
            if (set_count(low) > 1) low = pick_loser(v, low, rng, &round_tb);
            if (low == cont) {
                /* `none` would eliminate everyone left: unresolved tie. */
                *pk = (vote_pick){.winner = -1, .tied = cont, .tie_break = NULL};
                round_tb = NULL;
            } else {
                elim = low;
                decided = false;
            }
        }
        json_array_append_new(rounds, round_json(v, r + 1, t, cont, live, exhausted, elim, round_tb));
        if (decided) break;
        cont &= ~elim;
    }

    /* The loop's last round was the deciding one: its tallies are final. */
    size_t last = json_array_size(rounds) - 1;
    for (size_t i = 0; i < n; i++) final[i] = set_has(cont, i) ? hist[last * n + i] : 0;

    json_t *extra = json_object();
    json_object_set_new(extra, "rounds", rounds);
    json_object_set_new(extra, "final_counts", tallies_json(v, final, set_all(n)));
    json_object_set_new(extra, "exhausted", vote_sum_json(exhausted));
    mb_free(hist);
    mb_free(cur);
    return extra;
}

/* ---- the result object -------------------------------------------------- */

json_t *vote_result(vote_t *v, const char *vote_id, uint64_t rng_seed)
{
    if (v->vetoed) return NULL;
    v->open = false;

    vote_rng rng = {.state = rng_seed};
    vote_ballots b = {0};
    if (v->method != VOTE_PLURALITY && v->method != VOTE_APPROVAL) ballots_load(v, &b);
    vote_sum deciding[VOTE_MAX_OPTIONS];
    vote_pick pk = {.winner = -1, .tied = 0, .tie_break = NULL};
    json_t *extra = NULL;
    switch (v->method) {
    case VOTE_PLURALITY:
    case VOTE_APPROVAL: extra = count_simple(v, &rng, deciding, &pk); break;
    case VOTE_RANKED: extra = count_ranked(v, &b, &rng, deciding, &pk); break;
    case VOTE_BORDA: extra = count_borda(v, &b, &rng, deciding, &pk); break;
    case VOTE_CONDORCET: extra = count_condorcet(v, &b, &rng, deciding, &pk); break;
    }
    ballots_free(&b);

    vote_sum counts[VOTE_MAX_OPTIONS];
    for (size_t i = 0; i < v->n; i++) counts[i] = v->counts[i];
    json_t *res = json_object();
    json_object_set_new(res, "vote_id", vote_id ? json_string(vote_id) : json_null());
    json_object_set_new(res, "winner", pk.winner >= 0 ? json_string(v->option_ids[pk.winner]) : json_null());
    json_object_set_new(res, "counts", tallies_json(v, counts, set_all(v->n)));
    json_object_set_new(res, "distribution", shares_json(v, deciding));
    json_object_set_new(res, "total_votes", json_integer((json_int_t)v->n_ballots));
    json_object_set_new(res, "total_weight", vote_sum_json(v->ballot_weight));
    json_object_set_new(res, "turnout",
                        json_real(v->n_voters ? (double)v->n_ballots / (double)v->n_voters : 0.0));
    json_object_set_new(res, "tie", json_boolean(pk.tied != 0));
    json_object_set_new(res, "tied", set_json(v, pk.tied));
    json_object_set_new(res, "tie_break", pk.tie_break ? json_string(pk.tie_break) : json_null());
    json_object_update(res, extra);
    json_decref(extra);
    return res;
}
