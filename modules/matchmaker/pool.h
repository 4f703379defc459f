/*
 * pool.h - the matchmaking pool of one mode: waiting tickets and the
 * algorithm that groups them into matches (DESIGN.md §5, issue 4).
 *
 * Pure C: no sockets, no Lua, no database, no clock of its own. Every
 * function that needs the time takes `now_ms` from the caller (any
 * monotonic millisecond clock, e.g. mb_now_ms()), so tests control time.
 * Single-threaded: one pool is used from one thread (the loop thread).
 *
 * Rules (issue 4, "Behaviour"):
 *  - A ticket's window at time t is
 *        min(max_window, window + widen_per_second * waited_seconds)
 *    where waited_seconds = max(0, t - enqueued_ms) / 1000.
 *  - A group is acceptable when all its `same` values are equal (tickets
 *    live in one bucket per distinct tuple of `same` values, buckets are
 *    never mixed) and its skill spread (max - min) is <= the current window
 *    of EVERY ticket in it. Without a skill property any group from one
 *    bucket is acceptable.
 *  - A pass prefers full groups (size_max) over smaller ones: it first
 *    forms every full group it can, then, only for tickets that have waited
 *    fill_after_ms, groups of size_min..size_max-1 (largest first).
 *  - It prefers the longest-waiting tickets: in each bucket, seeds are
 *    taken oldest first and a group is built around the seed: the feasible
 *    group containing the seed with the smallest skill spread. Without a
 *    skill property the seed is grouped with the next oldest tickets.
 *
 * What the pool does NOT do (the integrator in matchmaker.c does): the
 * per-player ticket limit (default 1 per mode, `conflict`), property
 * parsing and bounds, ticket id allocation, removal on disconnect, match
 * creation, stats/metrics. A ticket here is opaque apart from its id, its
 * owner handle, its skill, its `same` values and its enqueue time.
 *
 * Data structures: per bucket, one array of tickets sorted by skill and one
 * sorted by enqueue time. New tickets are appended to a pending list and
 * removed ones are only marked; both are folded into the sorted arrays once
 * per pass (radix sort of the pending tickets + linear merge + compaction),
 * so a pass costs O(n + groups * window) and never an all-pairs scan.
 * Candidates for a seed are found by walking outwards from its position in
 * the skill order, skipping tickets already taken in this pass through
 * union-find "next free" links. Ids are found through an open-addressing
 * hash table.
 *
 * Cost of a pass: O(n) to fold the changes since the last pass, then per
 * seed its k-1 nearest neighbours on each side (plus the taken ones skipped
 * in near O(1)); only when those do not fit, an exact search over at most
 * 64 eligible neighbours per side, O(m^2). Measured (tests/bench/
 * bench_matchmaker.c): about 12 ms for a pass over 100,000 waiting tickets
 * that forms 25,000 groups, about 5 ms when none can be grouped.
 *
 * Limits (deliberate approximations, they only bite in pathological
 * buckets): the exact search sees at most 64 eligible neighbours per side,
 * and a seed walks over at most 16,384 tickets per side. A group hidden
 * beyond those may be formed by a later seed or pass instead. A pool holds
 * fewer than 2^31 tickets.
 */
#ifndef MM_POOL_H
#define MM_POOL_H

#include "mb.h"
#include "teams.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MM_SAME_MAX 8                      /* at most this many `same` properties */
#define MM_SIZE_LIMIT MM_TEAMS_MAX_PLAYERS /* largest allowed size_max (teams.h) */
#define MM_NEVER ((int64_t)-1)             /* fill_after_ms / timeout_ms: disabled */

/* Matchmaking configuration of one mode (M.matchmaker in the mode script). */
typedef struct mm_config {
    int size_min;                  /* players per match, >= 1 */
    int size_max;                  /* >= size_min, <= MM_SIZE_LIMIT */
    int teams;                     /* 0 = no teams; else divides size_max. Groups
                               smaller than size_max are then only formed with
                               sizes that are multiples of `teams`, so the
                               teams are always of equal size. */
    bool has_skill;                /* false: skill and the window fields are ignored */
    double window;                 /* allowed spread at enqueue time, >= 0 */
    double widen_per_second;       /* growth of a ticket's window per second, >= 0 */
    double max_window;             /* cap of the window, >= window */
    size_t same_count;             /* number of names in `same`, <= MM_SAME_MAX */
    const char *same[MM_SAME_MAX]; /* string properties that must be equal.
                               Borrowed: mm_pool_new copies them. */
    int64_t fill_after_ms;         /* >= 0: after this wait a ticket may be matched
                               in a group smaller than size_max (but never
                               below size_min); MM_NEVER: only full groups */
    int64_t timeout_ms;            /* > 0: mm_pool_expire removes tickets that have
                               waited this long; MM_NEVER: no timeout */
} mm_config;

/*
 * Check a configuration. Returns NULL when it is valid, else a static
 * human-readable reason naming the field, e.g. "size.max must be >= size.min"
 * (suitable for a mode-load error message). Never allocates.
 */
const char *mm_config_check(const mm_config *cfg);

/*
 * One ticket. As input of mm_pool_add everything is borrowed (the pool
 * copies what it keeps). As output (callbacks, mm_pool_find) it is owned by
 * the pool: see the lifetime stated at each function.
 */
typedef struct mm_entry {
    uint64_t ticket_id;      /* caller-assigned, unique within the pool */
    uint64_t owner;          /* caller's session/player handle, opaque here */
    double skill;            /* must be finite when cfg.has_skill */
    int64_t enqueued_ms;     /* caller clock at enqueue */
    const char *const *same; /* cfg.same_count strings (non-NULL), in the
                               order of cfg.same; NULL when same_count is 0 */
} mm_entry;

typedef struct mm_pool mm_pool;

/*
 * Candidate group callback of mm_pool_pass. `entries` (n of them, oldest
 * first) and `teams_out` are owned by the pool and valid only during the
 * call. When cfg.teams > 0, teams_out[i] holds a suggested team (0 ..
 * teams-1) for entries[i], balanced by skill sum with equal team sizes; the
 * callback may overwrite it (Lua `matchmaker_matched` hook) and must copy
 * what it keeps. teams_out is NULL when cfg.teams is 0.
 *
 * Return true to accept: the pool removes the n tickets as soon as the
 * callback returns, before forming the next group; afterwards it owns
 * nothing of them (mm_pool_find returns NULL, ids may be reused).
 * Return false to reject: the tickets stay in the pool for the next pass.
 * The candidate's seed (the ticket it was built around, normally
 * entries[0]) sits out the rest of this pass, neither seed nor member, so
 * no candidate is offered twice in one pass; the other tickets remain
 * available to later seeds.
 *
 * The callback must not call mm_pool_add / remove / pass / expire / free on
 * this pool (they fail and log an error); mm_pool_find / count / config /
 * window are allowed.
 */
typedef bool (*mm_group_fn)(void *ud, const mm_entry *entries, size_t n, int *teams_out);

/* Expiry callback of mm_pool_expire: `entry` is pool-owned and valid only
 * during the call; the ticket is already out of the pool. */
typedef void (*mm_expired_fn)(void *ud, const mm_entry *entry);

/*
 * Create an empty pool. `cfg` is borrowed (copied, names included).
 * Returns NULL, after logging the reason, when mm_config_check(cfg) fails.
 */
mm_pool *mm_pool_new(const mm_config *cfg);

/* Free the pool and every ticket still in it (no callbacks). NULL is a no-op.
 * Not from inside a callback of this pool. */
void mm_pool_free(mm_pool *pool);

/* The pool's copy of its configuration; valid until mm_pool_free. */
const mm_config *mm_pool_config(const mm_pool *pool);

/*
 * Add a ticket. `ticket` and its strings are borrowed (copied).
 * Returns MB_ERR when ticket_id is already in the pool, when skill is not
 * finite (with has_skill), when a `same` value is missing, or from inside a
 * callback; MB_OK otherwise. Amortised O(1) (occasionally folds the pending
 * list of a bucket, O(bucket size)).
 */
mb_status mm_pool_add(mm_pool *pool, const mm_entry *ticket);

/* Remove a waiting ticket. MB_ERR when absent (or from inside a callback). */
mb_status mm_pool_remove(mm_pool *pool, uint64_t ticket_id);

/*
 * Look up a waiting ticket. Returns NULL when absent. The entry is owned by
 * the pool and valid until the next call that modifies it (add, remove,
 * pass, expire, oldest_wait, free).
 */
const mm_entry *mm_pool_find(const mm_pool *pool, uint64_t ticket_id);

/* Number of waiting tickets. O(1). */
size_t mm_pool_count(const mm_pool *pool);

/* How long the oldest waiting ticket has waited at now_ms (0 when empty).
 * Folds pending changes (hence not const): O(changes since last pass). */
int64_t mm_pool_oldest_wait_ms(mm_pool *pool, int64_t now_ms);

/* The window of `e` at now_ms by the rule above (+infinity without skill). */
double mm_pool_window(const mm_pool *pool, const mm_entry *e, int64_t now_ms);

/*
 * Whether `entries` (n >= 1) form an acceptable group at now_ms: same
 * values all equal and spread within every window. Size is not checked.
 * For tests, benchmarks and integrators re-checking a hook's choice.
 */
bool mm_pool_group_ok(const mm_pool *pool, const mm_entry *entries, size_t n, int64_t now_ms);

/*
 * One matchmaking pass at now_ms: form groups as described at the top of
 * this file and offer each to `on_group` (see mm_group_fn; required).
 * Returns the number of accepted groups. Not reentrant.
 */
size_t mm_pool_pass(mm_pool *pool, int64_t now_ms, mm_group_fn on_group, void *ud);

/*
 * Remove every ticket that has waited >= timeout_ms at now_ms and report
 * each to `on_expired` (may be NULL), oldest first per bucket. Returns the
 * number removed; 0 when timeout_ms is MM_NEVER. Not reentrant.
 */
size_t mm_pool_expire(mm_pool *pool, int64_t now_ms, mm_expired_fn on_expired, void *ud);

#endif
