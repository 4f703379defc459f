/*
 * tally_internal.h - the vote_t layout shared by tally.c (spec, intake,
 * state) and tally_count.c (the methods and the result object). Not part of
 * the module's API: include tally.h instead.
 */
#ifndef MB_VOTE_TALLY_INTERNAL_H
#define MB_VOTE_TALLY_INTERNAL_H

#include "tally.h"

/* 128-bit accumulator: sums of micro-unit weights (Borda points included)
 * never overflow it; see the bounds in tally.h. */
__extension__ typedef __int128 vote_sum;

/* Option sets are bit masks: VOTE_MAX_OPTIONS is 64, bit i = option i, so
 * iterating bits upwards is listing order. */
typedef uint64_t vote_set;

/* Slots of the option-id hash table (power of two, > 2 x VOTE_MAX_OPTIONS). */
#define VOTE_OPT_SLOTS 256

typedef struct vote_voter {
    char *id;        /* owned */
    int64_t weight;  /* micro-units, 1 .. VOTE_MAX_WEIGHT * VOTE_WEIGHT_SCALE */
    uint8_t *ballot; /* option indices, most preferred first (approval: listing
                        order); allocated on the first cast, reused after */
    uint8_t len;     /* 0 = no counted ballot */
} vote_voter;

struct vote_t {
    json_t *options;                  /* owned deep copy of spec.options */
    const char **option_ids;          /* n borrowed pointers into options */
    size_t n;                         /* number of options, 2..64 */
    int16_t opt_slot[VOTE_OPT_SLOTS]; /* option index or -1 */

    vote_method_t method;
    vote_visibility_t visibility;
    vote_tie_breaker_t tie_breaker;
    int status_quo; /* option index, -1 when unset */
    int64_t window_ms;
    bool veto_enabled;
    bool close_when_all_voted;

    vote_voter *voters; /* the distinct eligible players, in listing order */
    size_t n_voters;
    uint32_t *voter_slot; /* hash table: voter index + 1, 0 = empty */
    size_t voter_mask;    /* table size - 1 */

    /* Running tallies, kept current by vote_cast (live tallies, counts). */
    int64_t *counts;       /* per option: first preferences / approvals */
    size_t n_ballots;      /* counted ballots */
    int64_t ballot_weight; /* sum of their weights */

    bool open;
    bool vetoed;
    char *vetoed_by;
};

/* A micro-unit tally as JSON: an integer when whole, a real otherwise.
 * New reference. */
json_t *vote_sum_json(vote_sum micro);

#endif
