/*
 * map.h - small hash maps used across the runtime and modules.
 *
 * mb_smap: string keys (copied and owned by the map) -> void * values
 * (borrowed: the map never frees values). mb_imap: uint64 keys -> void *.
 * Both use open addressing with linear probing and tombstones, and never
 * allocate on lookup. When live entries plus tombstones reach 70% of the
 * slots, put rehashes to a capacity sized on the live entries alone (load
 * <= 50%): the capacity follows the number of entries, not the number of
 * keys ever inserted, so churning keys do not grow a map and an emptied
 * map shrinks again. Only put moves entries: deleting the current entry
 * while iterating is safe; inserting while iterating is not.
 */
#ifndef MB_MAP_H
#define MB_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct mb_smap_slot {
    char *key; /* NULL = empty; MB_SMAP_TOMB = deleted */
    uint64_t hash;
    void *val;
} mb_smap_slot;

typedef struct mb_smap {
    mb_smap_slot *slots;
    size_t cap, count, used;
} mb_smap;

void mb_smap_init(mb_smap *m);
void mb_smap_free(mb_smap *m); /* frees keys, not values */
void *mb_smap_get(const mb_smap *m, const char *key);
/* Insert or replace; returns the previous value or NULL. */
void *mb_smap_put(mb_smap *m, const char *key, void *val);
/* Remove; returns the removed value or NULL. */
void *mb_smap_del(mb_smap *m, const char *key);
/* Iterate: for (size_t i = 0; mb_smap_next(m, &i, &k, &v);) */
bool mb_smap_next(const mb_smap *m, size_t *iter, const char **key, void **val);

typedef struct mb_imap_slot {
    uint64_t key;
    void *val; /* NULL = empty or deleted (values must be non-NULL) */
    int state; /* 0 empty, 1 used, 2 deleted */
} mb_imap_slot;

typedef struct mb_imap {
    mb_imap_slot *slots;
    size_t cap, count, used;
} mb_imap;

void mb_imap_init(mb_imap *m);
void mb_imap_free(mb_imap *m);
void *mb_imap_get(const mb_imap *m, uint64_t key);
void *mb_imap_put(mb_imap *m, uint64_t key, void *val); /* val != NULL */
void *mb_imap_del(mb_imap *m, uint64_t key);
bool mb_imap_next(const mb_imap *m, size_t *iter, uint64_t *key, void **val);

uint64_t mb_hash_bytes(const void *p, size_t n);

/* splitmix64's finaliser: spreads consecutive integers over a table (the
 * mb_imap hash; the matchmaker's tables; the Lua host's RNG seeding). */
static inline uint64_t mb_hash_u64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

#endif
