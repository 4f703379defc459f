/* map.c - open-addressing hash maps (see map.h). */
#include "map.h"
#include "mb.h"

#include <stdlib.h>
#include <string.h>

static char tomb_marker;
#define TOMB (&tomb_marker)

uint64_t mb_hash_bytes(const void *p, size_t n)
{
    /* FNV-1a 64 with a final avalanche (splitmix64 finaliser). */
    const unsigned char *b = p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebull;
    h ^= h >> 31;
    return h;
}

void mb_smap_init(mb_smap *m) { memset(m, 0, sizeof *m); }

void mb_smap_free(mb_smap *m)
{
    if (!m) return;
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].key && m->slots[i].key != TOMB) free(m->slots[i].key);
    free(m->slots);
    memset(m, 0, sizeof *m);
}

/* Capacity for a rehash that must hold `count` live entries: the smallest
 * power of two >= 16 that keeps the load at most 50%. It depends on the
 * live entries only, not on the current capacity: a map whose keys churn
 * (put/del with a steady count) fills up with tombstones and is rehashed
 * at the same size instead of doubling each time (capacity used to grow
 * with the number of keys ever inserted), and one that emptied after a
 * burst shrinks back on its next rehash. Rehashing only ever happens in
 * put, so deleting during an iteration stays safe. */
static size_t rehash_cap(size_t count)
{
    size_t ncap = 16;
    while (count * 2 >= ncap) ncap *= 2;
    return ncap;
}

static void smap_grow(mb_smap *m)
{
    size_t ncap = rehash_cap(m->count + 1);
    mb_smap_slot *old = m->slots;
    size_t ocap = m->cap;
    m->slots = mb_calloc(ncap, sizeof *m->slots);
    m->cap = ncap;
    m->used = m->count;
    for (size_t i = 0; i < ocap; i++) {
        if (!old[i].key || old[i].key == TOMB) continue;
        size_t j = old[i].hash & (ncap - 1);
        while (m->slots[j].key) j = (j + 1) & (ncap - 1);
        m->slots[j] = old[i];
    }
    free(old);
}

static mb_smap_slot *smap_find(const mb_smap *m, const char *key, uint64_t h)
{
    if (!m->cap) return NULL;
    size_t j = h & (m->cap - 1);
    while (m->slots[j].key) {
        if (m->slots[j].key != TOMB && m->slots[j].hash == h && strcmp(m->slots[j].key, key) == 0)
            return &m->slots[j];
        j = (j + 1) & (m->cap - 1);
    }
    return NULL;
}

void *mb_smap_get(const mb_smap *m, const char *key)
{
    mb_smap_slot *s = smap_find(m, key, mb_hash_bytes(key, strlen(key)));
    return s ? s->val : NULL;
}

void *mb_smap_put(mb_smap *m, const char *key, void *val)
{
    uint64_t h = mb_hash_bytes(key, strlen(key));
    mb_smap_slot *s = smap_find(m, key, h);
    if (s) {
        void *old = s->val;
        s->val = val;
        return old;
    }
    if ((m->used + 1) * 10 >= m->cap * 7) smap_grow(m);
    size_t j = h & (m->cap - 1);
    while (m->slots[j].key && m->slots[j].key != TOMB) j = (j + 1) & (m->cap - 1);
    if (!m->slots[j].key) m->used++;
    m->slots[j].key = mb_strdup(key);
    m->slots[j].hash = h;
    m->slots[j].val = val;
    m->count++;
    return NULL;
}

void *mb_smap_del(mb_smap *m, const char *key)
{
    mb_smap_slot *s = smap_find(m, key, mb_hash_bytes(key, strlen(key)));
    if (!s) return NULL;
    void *v = s->val;
    free(s->key);
    s->key = TOMB;
    s->val = NULL;
    m->count--;
    return v;
}

bool mb_smap_next(const mb_smap *m, size_t *iter, const char **key, void **val)
{
    for (; *iter < m->cap; (*iter)++) {
        mb_smap_slot *s = &m->slots[*iter];
        if (s->key && s->key != TOMB) {
            if (key) *key = s->key;
            if (val) *val = s->val;
            (*iter)++;
            return true;
        }
    }
    return false;
}

void mb_imap_init(mb_imap *m) { memset(m, 0, sizeof *m); }

void mb_imap_free(mb_imap *m)
{
    if (!m) return;
    free(m->slots);
    memset(m, 0, sizeof *m);
}

static void imap_grow(mb_imap *m)
{
    size_t ncap = rehash_cap(m->count + 1);
    mb_imap_slot *old = m->slots;
    size_t ocap = m->cap;
    m->slots = mb_calloc(ncap, sizeof *m->slots);
    m->cap = ncap;
    m->used = m->count;
    for (size_t i = 0; i < ocap; i++) {
        if (old[i].state != 1) continue;
        size_t j = mb_hash_u64(old[i].key) & (ncap - 1);
        while (m->slots[j].state) j = (j + 1) & (ncap - 1);
        m->slots[j] = old[i];
    }
    free(old);
}

static mb_imap_slot *imap_find(const mb_imap *m, uint64_t key)
{
    if (!m->cap) return NULL;
    size_t j = mb_hash_u64(key) & (m->cap - 1);
    while (m->slots[j].state) {
        if (m->slots[j].state == 1 && m->slots[j].key == key) return &m->slots[j];
        j = (j + 1) & (m->cap - 1);
    }
    return NULL;
}

void *mb_imap_get(const mb_imap *m, uint64_t key)
{
    mb_imap_slot *s = imap_find(m, key);
    return s ? s->val : NULL;
}

void *mb_imap_put(mb_imap *m, uint64_t key, void *val)
{
    mb_imap_slot *s = imap_find(m, key);
    if (s) {
        void *old = s->val;
        s->val = val;
        return old;
    }
    if ((m->used + 1) * 10 >= m->cap * 7) imap_grow(m);
    size_t j = mb_hash_u64(key) & (m->cap - 1);
    while (m->slots[j].state == 1) j = (j + 1) & (m->cap - 1);
    if (m->slots[j].state == 0) m->used++;
    m->slots[j].state = 1;
    m->slots[j].key = key;
    m->slots[j].val = val;
    m->count++;
    return NULL;
}

void *mb_imap_del(mb_imap *m, uint64_t key)
{
    mb_imap_slot *s = imap_find(m, key);
    if (!s) return NULL;
    void *v = s->val;
    s->state = 2;
    s->val = NULL;
    m->count--;
    return v;
}

bool mb_imap_next(const mb_imap *m, size_t *iter, uint64_t *key, void **val)
{
    for (; *iter < m->cap; (*iter)++) {
        mb_imap_slot *s = &m->slots[*iter];
        if (s->state == 1) {
            if (key) *key = s->key;
            if (val) *val = s->val;
            (*iter)++;
            return true;
        }
    }
    return false;
}
