/*
 * pool.c - matchmaking pool: ticket storage and the pass (see pool.h).
 *
 * Storage. Tickets live in slots (arrays indexed by slot: cold ticket data
 * in `tk`, hot `pos` and `state` apart so compaction touches little memory).
 * An id -> slot hash table serves lookups. Each bucket (one per distinct
 * tuple of `same` values) keeps:
 *   sk[]   its tickets sorted by skill (by enqueue time without skill),
 *   age[]  the same tickets sorted by enqueue time,
 *   pend[] slots added since the last fold, in insertion order.
 * Removal only marks the slot DEAD. bucket_fold() sorts the pending tickets
 * (stable LSD radix sort) and merges them into sk[] and age[] while dropping
 * the dead ones, once per pass (or when a bucket's backlog grows larger
 * than the bucket, so a pool that is never passed stays bounded). Ties keep
 * insertion order, so everything is deterministic.
 *
 * Pass, per bucket (see bucket_pass): windows are computed once per ticket,
 * seeds are visited in age order, and for each seed the candidates are found
 * by walking outwards in sk[] from the seed's position. Tickets taken by an
 * earlier group of the same pass are skipped through "next free" links with
 * path halving (nl/nr), so the many removals of a busy pass cost near O(1)
 * each and the pass never goes quadratic. Ids removed during a pass stay in
 * the id table as "zombies" until the end of the pass (see id_lookup).
 */
#include "pool.h"
#include "teams.h"
#include "log.h"
#include "map.h"

#include <math.h>
#include <string.h>

enum { ST_FREE = 0, ST_LIVE = 1, ST_DEAD = 2 };

#define NO_SLOT UINT32_MAX
/* Exact search: at most this many eligible candidates per side of a seed. */
#define EXACT_CAP 64
/* A seed walks over at most this many tickets per side (ineligible ones
 * included) so that a pathological bucket cannot stall a pass. */
#define WALK_CAP 16384
/* Fold a bucket outside a pass when its backlog exceeds this and its size. */
#define FOLD_BACKLOG 4096

/* Everything a pass needs of a ticket, so that it never touches the cold
 * per-slot data (one cache miss per member saved on busy passes). */
typedef struct {
    double key; /* skill (has_skill) or enqueue time as a double */
    int64_t enq;
    uint64_t id;
    uint64_t owner;
    uint32_t slot;
} mm_sk;

typedef struct {
    int64_t enq;
    uint32_t slot;
} mm_age;

typedef struct {
    mm_entry e; /* e.same points at the bucket's values */
    uint32_t bucket;
} mm_ticket;

typedef struct {
    uint64_t key;
    uint32_t val; /* NO_SLOT: empty */
} mm_hent;

typedef struct {
    mm_hent *e;
    size_t mask; /* capacity - 1, capacity a power of two */
    size_t used;
} mm_htab;

typedef struct {
    uint64_t key;
    uint32_t idx;
} mm_kv;

typedef struct mm_bucket {
    uint64_t hash;
    char **values; /* same_count owned strings */
    mm_sk *sk;     /* n, sorted by key */
    mm_age *age;   /* n, sorted by enq */
    size_t n, cap;
    uint32_t *pend;
    size_t npend, pend_cap;
    size_t dead; /* DEAD slots still listed in sk/age/pend */
} mm_bucket;

struct mm_pool {
    mm_config cfg; /* same[] owned */
    int min_group; /* smallest group size a pass may ever form */

    mm_ticket *tk;
    int32_t *pos; /* index in bucket sk[], -1 while pending */
    uint8_t *state;
    size_t nslots, slot_cap;
    uint32_t *free_slots;
    size_t nfree;

    mm_htab ids;    /* ticket_id -> slot; may hold zombies, see below */
    mm_kv *zombies; /* (ticket_id, slot) killed in a pass, still in `ids` */
    size_t nzombies, zombie_cap;
    mm_htab bmap; /* bucket hash -> bucket index (hash may collide) */
    mm_bucket **buckets;
    size_t nbuckets, bucket_cap;

    size_t count;
    bool busy; /* inside a callback or a pass */

    /* Scratch, grown on demand and reused across passes. */
    int32_t *nl, *nr;
    double *win;
    size_t skip_cap;
    mm_kv *kv, *kv_tmp;
    size_t kv_cap;
    int32_t cand[2 * MM_SIZE_LIMIT + 1]; /* per side <= max(EXACT_CAP, k - 1) */
    int32_t side[MM_SIZE_LIMIT];
    int32_t members[MM_SIZE_LIMIT];
    mm_entry ents[MM_SIZE_LIMIT];
    double skills[MM_SIZE_LIMIT];
    int teams_out[MM_SIZE_LIMIT];
};

/* ---- configuration ------------------------------------------------------ */

const char *mm_config_check(const mm_config *c)
{
    if (!c) return "missing matchmaker configuration";
    if (c->size_min < 1) return "size.min must be >= 1";
    if (c->size_max < c->size_min) return "size.max must be >= size.min";
    if (c->size_max > MM_SIZE_LIMIT) return "size.max must be <= 256";
    if (c->teams < 0) return "teams must be >= 0";
    if (c->teams > 0 && c->size_max % c->teams != 0) return "teams must divide size.max";
    if (c->has_skill) {
        if (!isfinite(c->window) || c->window < 0) return "window must be a finite number >= 0";
        if (!isfinite(c->widen_per_second) || c->widen_per_second < 0)
            return "widen_per_second must be a finite number >= 0";
        if (!isfinite(c->max_window) || c->max_window < c->window)
            return "max_window must be a finite number >= window";
    }
    if (c->same_count > MM_SAME_MAX) return "same lists more than 8 properties";
    for (size_t i = 0; i < c->same_count; i++) {
        if (!c->same[i] || !c->same[i][0]) return "same property names must be non-empty strings";
        for (size_t j = 0; j < i; j++)
            if (strcmp(c->same[i], c->same[j]) == 0) return "same property names must be distinct";
    }
    if (c->fill_after_ms < 0 && c->fill_after_ms != MM_NEVER) return "fill_after_ms must be >= 0";
    if (c->timeout_ms <= 0 && c->timeout_ms != MM_NEVER) return "timeout_ms must be > 0";
    return NULL;
}

/* ---- hashing ------------------------------------------------------------ */

/* mb_hash_u64 (map.h, splitmix64's finaliser): consecutive ids spread over the table. */

static void ht_init(mm_htab *t, size_t cap)
{
    t->e = mb_malloc(cap * sizeof *t->e);
    for (size_t i = 0; i < cap; i++) t->e[i].val = NO_SLOT;
    t->mask = cap - 1;
    t->used = 0;
}

static void ht_insert_raw(mm_htab *t, uint64_t key, uint32_t val)
{
    size_t i = mb_hash_u64(key) & t->mask;
    while (t->e[i].val != NO_SLOT) i = (i + 1) & t->mask;
    t->e[i].key = key;
    t->e[i].val = val;
    t->used++;
}

static void ht_put(mm_htab *t, uint64_t key, uint32_t val)
{
    if ((t->used + 1) * 2 > t->mask + 1) {
        mm_hent *old = t->e;
        size_t oldcap = t->mask + 1;
        ht_init(t, oldcap * 2);
        for (size_t i = 0; i < oldcap; i++)
            if (old[i].val != NO_SLOT) ht_insert_raw(t, old[i].key, old[i].val);
        mb_free(old);
    }
    ht_insert_raw(t, key, val);
}

/* Delete the entry (key, val); backward-shift so probes need no tombstones. */
static void ht_del(mm_htab *t, uint64_t key, uint32_t val)
{
    size_t i = mb_hash_u64(key) & t->mask;
    while (t->e[i].val != NO_SLOT && !(t->e[i].key == key && t->e[i].val == val)) i = (i + 1) & t->mask;
    if (t->e[i].val == NO_SLOT) return;
    for (size_t j = i;;) {
        j = (j + 1) & t->mask;
        if (t->e[j].val == NO_SLOT) break;
        size_t h = mb_hash_u64(t->e[j].key) & t->mask;
        /* Entry j may move to hole i unless its home lies cyclically in (i, j]. */
        bool stays = (i <= j) ? (h > i && h <= j) : (h > i || h <= j);
        if (!stays) {
            t->e[i] = t->e[j];
            i = j;
        }
    }
    t->e[i].val = NO_SLOT;
    t->used--;
}

static uint64_t values_hash(const char *const *v, size_t n)
{
    /* FNV-1a over the values with their NUL terminators: injective input. */
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) {
        const unsigned char *s = (const unsigned char *)v[i];
        do {
            h ^= *s;
            h *= 0x100000001b3ULL;
        } while (*s++);
    }
    return h;
}

/* ---- buckets and slots -------------------------------------------------- */

static bool values_equal(char **a, const char *const *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(a[i], b[i]) != 0) return false;
    return true;
}

static uint32_t bucket_get(mm_pool *p, const char *const *values)
{
    size_t ns = p->cfg.same_count;
    uint64_t h = values_hash(values, ns);
    const mm_htab *t = &p->bmap;
    for (size_t i = mb_hash_u64(h) & t->mask; t->e[i].val != NO_SLOT; i = (i + 1) & t->mask) {
        if (t->e[i].key != h) continue;
        mm_bucket *b = p->buckets[t->e[i].val];
        if (values_equal(b->values, values, ns)) return t->e[i].val;
    }

    mm_bucket *b = mb_calloc(1, sizeof *b);
    b->hash = h;
    if (ns > 0) {
        b->values = mb_malloc(ns * sizeof *b->values);
        for (size_t i = 0; i < ns; i++) b->values[i] = mb_strdup(values[i]);
    }
    uint32_t idx = 0;
    while (idx < p->nbuckets && p->buckets[idx]) idx++;
    if (idx == p->nbuckets) {
        if (p->nbuckets == p->bucket_cap) {
            p->bucket_cap = p->bucket_cap ? p->bucket_cap * 2 : 8;
            p->buckets = mb_realloc(p->buckets, p->bucket_cap * sizeof *p->buckets);
        }
        p->nbuckets++;
    }
    p->buckets[idx] = b;
    ht_put(&p->bmap, h, idx);
    return idx;
}

static void bucket_free(mm_pool *p, uint32_t idx)
{
    mm_bucket *b = p->buckets[idx];
    ht_del(&p->bmap, b->hash, idx);
    for (size_t i = 0; i < p->cfg.same_count; i++) mb_free(b->values[i]);
    mb_free(b->values);
    mb_free(b->sk);
    mb_free(b->age);
    mb_free(b->pend);
    mb_free(b);
    p->buckets[idx] = NULL;
    while (p->nbuckets > 0 && !p->buckets[p->nbuckets - 1]) p->nbuckets--;
}

static uint32_t slot_alloc(mm_pool *p)
{
    if (p->nfree > 0) return p->free_slots[--p->nfree];
    if (p->nslots == p->slot_cap) {
        p->slot_cap = p->slot_cap ? p->slot_cap * 2 : 64;
        p->tk = mb_realloc(p->tk, p->slot_cap * sizeof *p->tk);
        p->pos = mb_realloc(p->pos, p->slot_cap * sizeof *p->pos);
        p->state = mb_realloc(p->state, p->slot_cap * sizeof *p->state);
        p->free_slots = mb_realloc(p->free_slots, p->slot_cap * sizeof *p->free_slots);
    }
    return (uint32_t)p->nslots++;
}

static void slot_release(mm_pool *p, uint32_t slot)
{
    p->state[slot] = ST_FREE;
    p->free_slots[p->nfree++] = slot;
}

/*
 * Id lookup. Inside passes and expiry, killed tickets are not deleted from
 * `ids` one by one (a random probe and shift each, the main cost of a busy
 * pass): they stay as zombies, skipped here because their slot is no longer
 * live or now holds another ticket, and zombies_purge() clears them at the
 * end, by rebuilding the table when they outnumber the live tickets.
 */
static uint32_t id_lookup(const mm_pool *p, uint64_t id)
{
    const mm_htab *t = &p->ids;
    for (size_t i = mb_hash_u64(id) & t->mask; t->e[i].val != NO_SLOT; i = (i + 1) & t->mask) {
        uint32_t s = t->e[i].val;
        if (t->e[i].key == id && p->state[s] == ST_LIVE && p->tk[s].e.ticket_id == id) return s;
    }
    return NO_SLOT;
}

static void zombie_add(mm_pool *p, uint64_t id, uint32_t slot)
{
    if (p->nzombies == p->zombie_cap) {
        p->zombie_cap = p->zombie_cap ? p->zombie_cap * 2 : 256;
        p->zombies = mb_realloc(p->zombies, p->zombie_cap * sizeof *p->zombies);
    }
    p->zombies[p->nzombies++] = (mm_kv){id, slot};
}

static void zombies_purge(mm_pool *p)
{
    if (p->nzombies == 0) return;
    if (p->nzombies <= p->count) {
        for (size_t i = 0; i < p->nzombies; i++) ht_del(&p->ids, p->zombies[i].key, p->zombies[i].idx);
    } else {
        size_t cap = 64;
        while (cap < 2 * (p->count + 1)) cap *= 2;
        mb_free(p->ids.e);
        ht_init(&p->ids, cap);
        for (uint32_t s = 0; s < p->nslots; s++)
            if (p->state[s] == ST_LIVE) ht_insert_raw(&p->ids, p->tk[s].e.ticket_id, s);
    }
    p->nzombies = 0;
}

/* Take a live ticket out: lookups fail at once, storage is reclaimed by the
 * next fold of its bucket. `defer`: leave a zombie in `ids` (see above). */
static void ticket_kill(mm_pool *p, uint32_t slot, bool defer)
{
    if (defer) zombie_add(p, p->tk[slot].e.ticket_id, slot);
    else ht_del(&p->ids, p->tk[slot].e.ticket_id, slot);
    p->state[slot] = ST_DEAD;
    p->buckets[p->tk[slot].bucket]->dead++;
    p->count--;
}

/* ---- folding: sort pending, merge, compact ------------------------------ */

static uint64_t double_key(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    /* IEEE order -> unsigned order: flip all bits of negatives, the sign of
     * positives. (-0.0 is normalised away at add; NaN is refused.) */
    return (u & 0x8000000000000000ULL) ? ~u : (u | 0x8000000000000000ULL);
}

static uint64_t int_key(int64_t v) { return (uint64_t)v ^ 0x8000000000000000ULL; }

/* Stable LSD radix sort of a[0..n) by key, 8 bits at a time, skipping the
 * bytes on which all keys agree (most of them for skills in one range). */
static mm_kv *kv_sort(mm_kv *a, mm_kv *tmp, size_t n)
{
    if (n < 32) {
        for (size_t i = 1; i < n; i++) {
            mm_kv x = a[i];
            size_t j = i;
            while (j > 0 && a[j - 1].key > x.key) {
                a[j] = a[j - 1];
                j--;
            }
            a[j] = x;
        }
        return a;
    }
    size_t cnt[8][256];
    memset(cnt, 0, sizeof cnt);
    for (size_t i = 0; i < n; i++)
        for (int d = 0; d < 8; d++) cnt[d][(a[i].key >> (8 * d)) & 0xff]++;
    for (int d = 0; d < 8; d++) {
        if (cnt[d][(a[0].key >> (8 * d)) & 0xff] == n) continue;
        size_t sum = 0;
        for (int v = 0; v < 256; v++) {
            size_t c = cnt[d][v];
            cnt[d][v] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++) tmp[cnt[d][(a[i].key >> (8 * d)) & 0xff]++] = a[i];
        mm_kv *t = a;
        a = tmp;
        tmp = t;
    }
    return a;
}

static void kv_reserve(mm_pool *p, size_t n)
{
    if (n <= p->kv_cap) return;
    p->kv_cap = n > 2 * p->kv_cap ? n : 2 * p->kv_cap;
    mb_free(p->kv);
    mb_free(p->kv_tmp);
    p->kv = mb_malloc(p->kv_cap * sizeof *p->kv);
    p->kv_tmp = mb_malloc(p->kv_cap * sizeof *p->kv_tmp);
}

static double sort_key(const mm_pool *p, const mm_ticket *t)
{
    return p->cfg.has_skill ? t->e.skill : (double)t->e.enqueued_ms;
}

/*
 * Fold pending tickets into sk[]/age[] and drop dead ones. Both merges run
 * back to front in place; ties put the older entries first, so equal keys
 * stay in insertion order. Returns false when the bucket became empty and
 * was destroyed.
 */
static bool bucket_fold(mm_pool *p, uint32_t bidx)
{
    mm_bucket *b = p->buckets[bidx];
    if (b->npend == 0 && b->dead == 0) return true;

    /* Live pending slots, insertion order kept; dead pending ones are listed
     * nowhere else, so release them now. */
    size_t m = 0;
    for (size_t j = 0; j < b->npend; j++) {
        uint32_t s = b->pend[j];
        if (p->state[s] == ST_LIVE) b->pend[m++] = s;
        else slot_release(p, s);
    }
    b->npend = 0;

    /* Compact both arrays forward; each dead slot appears once in each, so
     * it is released while compacting age[]. */
    size_t n = b->n;
    if (b->dead > 0) {
        n = 0;
        for (size_t i = 0; i < b->n; i++)
            if (p->state[b->sk[i].slot] == ST_LIVE) b->sk[n++] = b->sk[i];
        size_t na = 0;
        for (size_t i = 0; i < b->n; i++) {
            uint32_t s = b->age[i].slot;
            if (p->state[s] == ST_LIVE) b->age[na++] = b->age[i];
            else slot_release(p, s);
        }
        b->n = n;
        b->dead = 0;
    }

    size_t total = n + m;
    if (total == 0) {
        bucket_free(p, bidx);
        return false;
    }
    if (total > b->cap) {
        b->cap = total > 2 * b->cap ? total : 2 * b->cap;
        b->sk = mb_realloc(b->sk, b->cap * sizeof *b->sk);
        b->age = mb_realloc(b->age, b->cap * sizeof *b->age);
    }

    if (m > 0) {
        kv_reserve(p, m);

        /* sk[] */
        for (size_t j = 0; j < m; j++)
            p->kv[j] = (mm_kv){double_key(sort_key(p, &p->tk[b->pend[j]])), b->pend[j]};
        const mm_kv *sorted = kv_sort(p->kv, p->kv_tmp, m);
        for (size_t i = n, j = m, k = total; j > 0;) {
            const mm_ticket *t = &p->tk[sorted[j - 1].idx];
            double key = sort_key(p, t);
            if (i > 0 && b->sk[i - 1].key > key) b->sk[--k] = b->sk[--i];
            else b->sk[--k] = (mm_sk){key, t->e.enqueued_ms, t->e.ticket_id, t->e.owner, sorted[--j].idx};
        }

        /* age[]: the pending list is usually already in time order (a
         * monotonic caller clock), so sort only when it is not. */
        bool in_order = true;
        for (size_t j = 0; j < m; j++) {
            p->kv[j] = (mm_kv){int_key(p->tk[b->pend[j]].e.enqueued_ms), b->pend[j]};
            if (j > 0 && p->kv[j].key < p->kv[j - 1].key) in_order = false;
        }
        sorted = in_order ? p->kv : kv_sort(p->kv, p->kv_tmp, m);
        for (size_t i = n, j = m, k = total; j > 0;) {
            int64_t enq = p->tk[sorted[j - 1].idx].e.enqueued_ms;
            if (i > 0 && b->age[i - 1].enq > enq) b->age[--k] = b->age[--i];
            else b->age[--k] = (mm_age){enq, sorted[--j].idx};
        }
    }
    for (size_t k = 0; k < total; k++) p->pos[b->sk[k].slot] = (int32_t)k;
    b->n = total;
    return true;
}

static void fold_all(mm_pool *p)
{
    for (uint32_t i = 0; i < p->nbuckets; i++)
        if (p->buckets[i]) bucket_fold(p, i);
}

/* Outside passes: keep a bucket's backlog (pending + dead) below its size. */
static void maybe_fold(mm_pool *p, uint32_t bidx)
{
    mm_bucket *b = p->buckets[bidx];
    size_t backlog = b->npend + b->dead;
    if (backlog > FOLD_BACKLOG && backlog > b->n) bucket_fold(p, bidx);
}

/* ---- lifecycle, add, remove, lookups ------------------------------------ */

static bool refuse_busy(const mm_pool *p, const char *call)
{
    if (!p->busy) return false;
    mb_error("mm_pool_reentered", "call=%s", call);
    return true;
}

mm_pool *mm_pool_new(const mm_config *cfg)
{
    const char *err = mm_config_check(cfg);
    if (err) {
        char q[160];
        mb_error("mm_config_invalid", "reason=%s", mb_log_quote(q, sizeof q, err));
        return NULL;
    }
    mm_pool *p = mb_calloc(1, sizeof *p);
    p->cfg = *cfg;
    for (size_t i = 0; i < MM_SAME_MAX; i++)
        p->cfg.same[i] = i < cfg->same_count ? mb_strdup(cfg->same[i]) : NULL;
    if (cfg->fill_after_ms == MM_NEVER) {
        p->min_group = cfg->size_max;
    } else {
        p->min_group = cfg->size_min;
        while (cfg->teams > 0 && p->min_group % cfg->teams != 0) p->min_group++;
    }
    ht_init(&p->ids, 64);
    ht_init(&p->bmap, 16);
    return p;
}

void mm_pool_free(mm_pool *p)
{
    if (!p) return;
    if (refuse_busy(p, "free")) return;
    for (uint32_t i = 0; i < p->nbuckets; i++)
        if (p->buckets[i]) bucket_free(p, i);
    mb_free(p->buckets);
    for (size_t i = 0; i < p->cfg.same_count; i++) mb_free((void *)p->cfg.same[i]);
    mb_free(p->tk);
    mb_free(p->pos);
    mb_free(p->state);
    mb_free(p->free_slots);
    mb_free(p->ids.e);
    mb_free(p->zombies);
    mb_free(p->bmap.e);
    mb_free(p->nl);
    mb_free(p->nr);
    mb_free(p->win);
    mb_free(p->kv);
    mb_free(p->kv_tmp);
    mb_free(p);
}

const mm_config *mm_pool_config(const mm_pool *p) { return &p->cfg; }

mb_status mm_pool_add(mm_pool *p, const mm_entry *t)
{
    if (refuse_busy(p, "add")) return MB_ERR;
    if (id_lookup(p, t->ticket_id) != NO_SLOT) return MB_ERR;
    double skill = t->skill;
    if (p->cfg.has_skill) {
        if (!isfinite(skill)) return MB_ERR;
        skill += 0.0; /* -0.0 -> +0.0, one bit pattern per value for the radix sort */
    }
    size_t ns = p->cfg.same_count;
    if (ns > 0) {
        if (!t->same) return MB_ERR;
        for (size_t i = 0; i < ns; i++)
            if (!t->same[i]) return MB_ERR;
    }

    uint32_t bidx = bucket_get(p, t->same);
    mm_bucket *b = p->buckets[bidx];
    uint32_t slot = slot_alloc(p);
    mm_ticket *tk = &p->tk[slot];
    tk->e = *t;
    tk->e.skill = skill;
    tk->e.same = ns > 0 ? (const char *const *)b->values : NULL;
    tk->bucket = bidx;
    p->pos[slot] = -1;
    p->state[slot] = ST_LIVE;
    if (b->npend == b->pend_cap) {
        b->pend_cap = b->pend_cap ? b->pend_cap * 2 : 16;
        b->pend = mb_realloc(b->pend, b->pend_cap * sizeof *b->pend);
    }
    b->pend[b->npend++] = slot;
    ht_put(&p->ids, t->ticket_id, slot);
    p->count++;
    maybe_fold(p, bidx);
    return MB_OK;
}

mb_status mm_pool_remove(mm_pool *p, uint64_t ticket_id)
{
    if (refuse_busy(p, "remove")) return MB_ERR;
    uint32_t slot = id_lookup(p, ticket_id);
    if (slot == NO_SLOT) return MB_ERR;
    uint32_t bidx = p->tk[slot].bucket;
    ticket_kill(p, slot, false);
    maybe_fold(p, bidx);
    return MB_OK;
}

const mm_entry *mm_pool_find(const mm_pool *p, uint64_t ticket_id)
{
    uint32_t slot = id_lookup(p, ticket_id);
    return slot == NO_SLOT ? NULL : &p->tk[slot].e;
}

size_t mm_pool_count(const mm_pool *p) { return p->count; }

int64_t mm_pool_oldest_wait_ms(mm_pool *p, int64_t now_ms)
{
    if (refuse_busy(p, "oldest_wait")) return 0;
    fold_all(p);
    bool any = false;
    int64_t oldest = 0;
    for (uint32_t i = 0; i < p->nbuckets; i++) {
        const mm_bucket *b = p->buckets[i];
        if (!b || b->n == 0) continue;
        if (!any || b->age[0].enq < oldest) oldest = b->age[0].enq;
        any = true;
    }
    return any && now_ms > oldest ? now_ms - oldest : 0;
}

static double window_at(const mm_config *c, int64_t enq, int64_t now)
{
    if (!c->has_skill) return INFINITY;
    int64_t waited = now > enq ? now - enq : 0;
    double w = c->window + c->widen_per_second * ((double)waited / 1000.0);
    return w < c->max_window ? w : c->max_window;
}

double mm_pool_window(const mm_pool *p, const mm_entry *e, int64_t now_ms)
{
    return window_at(&p->cfg, e->enqueued_ms, now_ms);
}

bool mm_pool_group_ok(const mm_pool *p, const mm_entry *g, size_t n, int64_t now_ms)
{
    if (n == 0) return false;
    for (size_t i = 1; i < n; i++)
        for (size_t j = 0; j < p->cfg.same_count; j++)
            if (strcmp(g[i].same[j], g[0].same[j]) != 0) return false;
    if (!p->cfg.has_skill) return true;
    double lo = g[0].skill, hi = g[0].skill, minw = INFINITY;
    for (size_t i = 0; i < n; i++) {
        if (g[i].skill < lo) lo = g[i].skill;
        if (g[i].skill > hi) hi = g[i].skill;
        double w = window_at(&p->cfg, g[i].enqueued_ms, now_ms);
        if (w < minw) minw = w;
    }
    return hi - lo <= minw;
}

/* ---- the pass ----------------------------------------------------------- */

/*
 * Positions in a pass are 1-based (u = index in sk[] + 1) so that 0 and
 * n + 1 serve as sentinels of the "next free" links: nr[u] == u and
 * nl[u] == u while u is free; taking u sets nr[u] = u + 1, nl[u] = u - 1.
 */
static int32_t next_free(int32_t *nx, int32_t u)
{
    while (nx[u] != u) {
        nx[u] = nx[nx[u]]; /* path halving */
        u = nx[u];
    }
    return u;
}

static void skip_reserve(mm_pool *p, size_t n)
{
    if (n <= p->skip_cap) return;
    p->skip_cap = n > 2 * p->skip_cap ? n : 2 * p->skip_cap;
    p->nl = mb_realloc(p->nl, p->skip_cap * sizeof *p->nl);
    p->nr = mb_realloc(p->nr, p->skip_cap * sizeof *p->nr);
    p->win = mb_realloc(p->win, p->skip_cap * sizeof *p->win);
}

/*
 * Collect up to `limit` free neighbours of seed u on one side (dir -1 or
 * +1), nearest first, that could share a group with it: distance to the
 * seed within both windows. *more is set when the walk stopped at `limit`
 * with further tickets still within the seed's window.
 */
static size_t collect(mm_pool *p, const mm_bucket *b, int32_t u, int dir, size_t limit, int32_t *out,
                      bool *more)
{
    const int32_t n = (int32_t)b->n;
    const double x = b->sk[u - 1].key, ws = p->win[u];
    int32_t *nx = dir < 0 ? p->nl : p->nr;
    size_t got = 0, walked = 0;
    *more = false;
    for (int32_t v = next_free(nx, u + dir); v >= 1 && v <= n; v = next_free(nx, v + dir)) {
        double d = dir < 0 ? x - b->sk[v - 1].key : b->sk[v - 1].key - x;
        if (d > ws) break;
        if (got == limit) {
            *more = true;
            break;
        }
        /* Bound the walk over ineligible tickets (young ones far away): an
         * approximation that only matters in pathological buckets. */
        if (++walked > WALK_CAP) break;
        if (d <= p->win[v]) out[got++] = v;
    }
    return got;
}

/* Candidates in skill order around the seed: cand[0..m), seed at *sidx. */
static size_t gather(mm_pool *p, const mm_bucket *b, int32_t u, size_t per_side, size_t *sidx, bool *more)
{
    bool more_l, more_r;
    size_t nl = collect(p, b, u, -1, per_side, p->side, &more_l);
    for (size_t i = 0; i < nl; i++) p->cand[i] = p->side[nl - 1 - i];
    p->cand[nl] = u;
    size_t nr = collect(p, b, u, +1, per_side, p->cand + nl + 1, &more_r);
    *sidx = nl;
    *more = more_l || more_r;
    return nl + 1 + nr;
}

/*
 * Among runs of k consecutive candidates containing the seed, the feasible
 * one (spread <= smallest window) with the smallest spread; with
 * `first_fit` the first feasible one starting from the seed's own position
 * (seed oldest, partners the next in order). Writes p->members.
 */
static bool best_run(mm_pool *p, const mm_bucket *b, const int32_t *c, size_t m, size_t sidx, size_t k,
                     bool first_fit, double *spread_out)
{
    double best = INFINITY;
    size_t best_start = 0;
    bool found = false;
    size_t lo_start = sidx + 1 >= k ? sidx + 1 - k : 0;
    for (size_t s = sidx + 1; s-- > lo_start;) {
        if (s + k > m) continue;
        double spread = b->sk[c[s + k - 1] - 1].key - b->sk[c[s] - 1].key;
        if (spread >= best) continue;
        double minw = INFINITY;
        for (size_t i = s; i < s + k; i++)
            if (p->win[c[i]] < minw) minw = p->win[c[i]];
        if (spread > minw) continue;
        best = spread;
        best_start = s;
        found = true;
        if (first_fit) break;
    }
    if (found) {
        for (size_t i = 0; i < k; i++) p->members[i] = c[best_start + i];
        *spread_out = best;
    }
    return found;
}

/*
 * Exact search over the candidates c[0..m) (seed at sidx): a group is
 * feasible iff for W = its smallest window all members have window >= W
 * and lie in an interval of length W around the seed. So for each distinct
 * threshold W <= the seed's window, restrict to candidates with window >= W
 * and distance <= W, and take the tightest run of k containing the seed.
 * O(m^2); only used when the nearest neighbours alone do not fit.
 */
static bool exact_group(mm_pool *p, const mm_bucket *b, const int32_t *c, size_t m, size_t sidx, size_t k)
{
    const double x = b->sk[c[sidx] - 1].key, ws = p->win[c[sidx]];
    int32_t elig[2 * MM_SIZE_LIMIT + 1];
    int32_t run[MM_SIZE_LIMIT];
    double best = INFINITY;
    bool found = false;
    for (size_t t = 0; t < m; t++) {
        double W = p->win[c[t]];
        if (W > ws) continue;
        /* Each distinct threshold once: skip if an earlier candidate had it. */
        bool seen = false;
        for (size_t q = 0; q < t && !seen; q++) seen = p->win[c[q]] == W;
        if (seen) continue;
        size_t ne = 0, se = 0;
        for (size_t i = 0; i < m; i++) {
            if (p->win[c[i]] < W || fabs(b->sk[c[i] - 1].key - x) > W) continue;
            if (i == sidx) se = ne;
            elig[ne++] = c[i];
        }
        if (ne < k) continue;
        double spread;
        if (best_run(p, b, elig, ne, se, k, false, &spread) && spread < best) {
            best = spread;
            memcpy(run, p->members, k * sizeof *run);
            found = true;
        }
    }
    if (found) memcpy(p->members, run, k * sizeof *run);
    return found;
}

/* Find a group of exactly k around seed u; members in p->members. */
static bool find_group(mm_pool *p, const mm_bucket *b, int32_t u, size_t k)
{
    if (k == 1) {
        p->members[0] = u;
        return true;
    }
    size_t sidx, m;
    bool more;
    double spread;
    bool first_fit = !p->cfg.has_skill;
    m = gather(p, b, u, k - 1, &sidx, &more);
    if (m < k) return false; /* every candidate within reach was gathered */
    if (best_run(p, b, p->cand, m, sidx, k, first_fit, &spread)) return true;
    if (!p->cfg.has_skill) return false; /* every run fits without skill */
    if (more) {
        size_t per_side = k - 1 > EXACT_CAP ? k - 1 : EXACT_CAP;
        m = gather(p, b, u, per_side, &sidx, &more);
    } else {
        /* All candidates are in hand; with one common window the exact
         * search would only repeat the runs just tried. */
        bool one_window = true;
        for (size_t i = 0; i < m && one_window; i++) one_window = p->win[p->cand[i]] == p->win[u];
        if (one_window) return false;
    }
    return m >= k && exact_group(p, b, p->cand, m, sidx, k);
}

/* Take position u out of the rest of this pass. */
static void take(mm_pool *p, int32_t u)
{
    p->nr[u] = u + 1;
    p->nl[u] = u - 1;
}

/*
 * Offer p->members[0..k) to the callback. Accepted: the tickets leave the
 * pool. Rejected: the seed u sits out the rest of the pass (neither seed nor
 * member), so every later candidate differs from this one.
 */
static bool offer(mm_pool *p, mm_bucket *b, int32_t u, size_t k, mm_group_fn fn, void *ud)
{
    int32_t *mem = p->members;
    /* Oldest first (stable on skill order for equal times). */
    for (size_t i = 1; i < k; i++) {
        int32_t v = mem[i];
        size_t j = i;
        while (j > 0 && b->sk[mem[j - 1] - 1].enq > b->sk[v - 1].enq) {
            mem[j] = mem[j - 1];
            j--;
        }
        mem[j] = v;
    }
    const char *const *same = p->cfg.same_count > 0 ? (const char *const *)b->values : NULL;
    for (size_t i = 0; i < k; i++) {
        const mm_sk *e = &b->sk[mem[i] - 1];
        p->ents[i] =
            (mm_entry){e->id, e->owner, p->cfg.has_skill ? e->key : p->tk[e->slot].e.skill, e->enq, same};
        p->skills[i] = p->ents[i].skill;
    }
    int *teams = NULL;
    if (p->cfg.teams > 0) {
        mm_teams_balance(p->skills, k, p->cfg.teams, p->teams_out);
        teams = p->teams_out;
    }
    if (!fn(ud, p->ents, k, teams)) {
        take(p, u);
        return false;
    }
    /* ticket_kill() without touching the cold slot data. */
    for (size_t i = 0; i < k; i++) {
        const mm_sk *e = &b->sk[mem[i] - 1];
        take(p, mem[i]);
        zombie_add(p, e->id, e->slot);
        p->state[e->slot] = ST_DEAD;
    }
    b->dead += k;
    p->count -= k;
    return true;
}

static size_t bucket_pass(mm_pool *p, uint32_t bidx, int64_t now, mm_group_fn fn, void *ud)
{
    mm_bucket *b = p->buckets[bidx];
    const mm_config *c = &p->cfg;
    const size_t n = b->n, kmax = (size_t)c->size_max;
    if (n < (size_t)p->min_group) return 0;

    skip_reserve(p, n + 2);
    for (size_t u = 0; u <= n + 1; u++) p->nl[u] = p->nr[u] = (int32_t)u;
    for (size_t u = 1; u <= n; u++) p->win[u] = window_at(c, b->sk[u - 1].enq, now);

    size_t formed = 0, free_left = n;

    /* Phase 1: full groups, seeds oldest first. Seeds are scattered over
     * sk[], so fetch a few seeds ahead: the loop is bound by memory latency. */
    for (size_t a = 0; a < n && free_left >= kmax; a++) {
        if (a + 16 < n) __builtin_prefetch(&p->pos[b->age[a + 16].slot]);
        if (a + 8 < n) {
            int32_t ua = p->pos[b->age[a + 8].slot] + 1;
            __builtin_prefetch(&b->sk[ua - 1]);
            __builtin_prefetch(&p->win[ua]);
            __builtin_prefetch(&p->nr[ua]);
            __builtin_prefetch(&p->nl[ua]);
        }
        uint32_t s = b->age[a].slot;
        int32_t u = p->pos[s] + 1;
        if (p->nr[u] != u) continue; /* in an older seed's group, or rejected */
        if (!find_group(p, b, u, kmax)) continue;
        if (offer(p, b, u, kmax, fn, ud)) {
            formed++;
            free_left -= kmax;
        } else {
            free_left--;
        }
    }

    /* Phase 2: smaller groups, largest first, only for seeds that have
     * waited fill_after_ms (age order: stop at the first younger one). */
    if (c->fill_after_ms == MM_NEVER || (size_t)p->min_group >= kmax) return formed;
    for (size_t a = 0; a < n && free_left >= (size_t)p->min_group; a++) {
        if (now - b->age[a].enq < c->fill_after_ms) break;
        uint32_t s = b->age[a].slot;
        int32_t u = p->pos[s] + 1;
        if (p->nr[u] != u) continue;
        for (size_t k = kmax - 1; k >= (size_t)p->min_group; k--) {
            if ((c->teams > 0 && k % (size_t)c->teams != 0) || k > free_left) continue;
            if (!find_group(p, b, u, k)) continue;
            if (offer(p, b, u, k, fn, ud)) {
                formed++;
                free_left -= k;
            } else {
                free_left--;
            }
            break;
        }
    }
    return formed;
}

size_t mm_pool_pass(mm_pool *p, int64_t now_ms, mm_group_fn on_group, void *ud)
{
    if (refuse_busy(p, "pass") || !on_group) return 0;
    fold_all(p);
    p->busy = true;
    size_t formed = 0;
    for (uint32_t i = 0; i < p->nbuckets; i++)
        if (p->buckets[i]) formed += bucket_pass(p, i, now_ms, on_group, ud);
    p->busy = false;
    zombies_purge(p);
    return formed;
}

size_t mm_pool_expire(mm_pool *p, int64_t now_ms, mm_expired_fn on_expired, void *ud)
{
    if (refuse_busy(p, "expire") || p->cfg.timeout_ms == MM_NEVER) return 0;
    fold_all(p);
    p->busy = true;
    size_t removed = 0;
    for (uint32_t i = 0; i < p->nbuckets; i++) {
        const mm_bucket *b = p->buckets[i];
        if (!b) continue;
        /* After the fold every listed ticket is live; age order lets us stop
         * at the first one that has not timed out. */
        for (size_t a = 0; a < b->n; a++) {
            if (now_ms - b->age[a].enq < p->cfg.timeout_ms) break;
            uint32_t s = b->age[a].slot;
            mm_entry e = p->tk[s].e;
            ticket_kill(p, s, true);
            removed++;
            if (on_expired) on_expired(ud, &e);
        }
    }
    p->busy = false;
    zombies_purge(p);
    return removed;
}
