/*
 * ostree.c - order-statistic treap (see ostree.h). Written for Moonbase's
 * leaderboards; the idea (a balanced tree whose nodes know their subtree
 * size, as in CLRS's order-statistic trees or the span counts of Redis'
 * zset skiplist) is textbook, the code is ours.
 */
#include "ostree.h"

static inline uint32_t sz(const ost_node *n) { return n ? n->size : 0; }
static inline void upd(ost_node *n) { n->size = 1 + sz(n->l) + sz(n->r); }

static uint32_t next_prio(ost *t)
{
    uint64_t x = t->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    t->rng = x;
    return (uint32_t)(x >> 32);
}

void ost_init(ost *t, ost_cmp cmp, const void *ctx, uint64_t seed)
{
    t->root = NULL;
    t->cmp = cmp;
    t->ctx = ctx;
    t->rng = seed ? seed : 0x9e3779b97f4a7c15ull;
}

size_t ost_size(const ost *t) { return sz(t->root); }

/* Split root into nodes < key (*l) and nodes >= key (*r). */
static void split(const ost *t, ost_node *root, const ost_node *key, ost_node **l, ost_node **r)
{
    if (!root) {
        *l = *r = NULL;
        return;
    }
    if (t->cmp(root, key, t->ctx) < 0) {
        split(t, root->r, key, &root->r, r);
        *l = root;
    } else {
        split(t, root->l, key, l, &root->l);
        *r = root;
    }
    upd(root);
}

static ost_node *merge(ost_node *a, ost_node *b)
{
    if (!a) return b;
    if (!b) return a;
    if (a->prio > b->prio) {
        a->r = merge(a->r, b);
        upd(a);
        return a;
    }
    b->l = merge(a, b->l);
    upd(b);
    return b;
}

static ost_node *insert(const ost *t, ost_node *root, ost_node *n)
{
    if (!root) return n;
    if (n->prio > root->prio) {
        split(t, root, n, &n->l, &n->r);
        upd(n);
        return n;
    }
    if (t->cmp(n, root, t->ctx) < 0) root->l = insert(t, root->l, n);
    else root->r = insert(t, root->r, n);
    upd(root);
    return root;
}

void ost_insert(ost *t, ost_node *n)
{
    n->l = n->r = NULL;
    n->size = 1;
    n->prio = next_prio(t);
    t->root = insert(t, t->root, n);
}

static ost_node *remove_node(const ost *t, ost_node *root, const ost_node *key, ost_node **found)
{
    if (!root) return NULL;
    int c = t->cmp(key, root, t->ctx);
    if (c == 0) {
        *found = root;
        ost_node *m = merge(root->l, root->r);
        root->l = root->r = NULL;
        root->size = 1;
        return m;
    }
    if (c < 0) root->l = remove_node(t, root->l, key, found);
    else root->r = remove_node(t, root->r, key, found);
    upd(root);
    return root;
}

ost_node *ost_remove(ost *t, const ost_node *key)
{
    ost_node *found = NULL;
    t->root = remove_node(t, t->root, key, &found);
    return found;
}

size_t ost_rank(const ost *t, const ost_node *key)
{
    size_t r = 0;
    const ost_node *n = t->root;
    while (n) {
        int c = t->cmp(key, n, t->ctx);
        if (c < 0) n = n->l;
        else if (c > 0) {
            r += sz(n->l) + 1;
            n = n->r;
        } else return r + sz(n->l);
    }
    return r;
}

ost_node *ost_at(const ost *t, size_t i)
{
    ost_node *n = t->root;
    while (n) {
        size_t ls = sz(n->l);
        if (i < ls) n = n->l;
        else if (i == ls) return n;
        else {
            i -= ls + 1;
            n = n->r;
        }
    }
    return NULL;
}

static void clear(ost_node *n, void (*fn)(ost_node *n, void *ud), void *ud)
{
    while (n) { /* recurse left, loop right: the depth stays O(log n) */
        ost_node *r = n->r;
        clear(n->l, fn, ud);
        if (fn) fn(n, ud);
        n = r;
    }
}

void ost_clear(ost *t, void (*fn)(ost_node *n, void *ud), void *ud)
{
    clear(t->root, fn, ud);
    t->root = NULL;
}

static bool check(const ost *t, const ost_node *n, const ost_node *lo, const ost_node *hi)
{
    if (!n) return true;
    if (n->size != 1 + sz(n->l) + sz(n->r)) return false;
    if (n->l && n->l->prio > n->prio) return false;
    if (n->r && n->r->prio > n->prio) return false;
    if (lo && t->cmp(lo, n, t->ctx) >= 0) return false;
    if (hi && t->cmp(n, hi, t->ctx) >= 0) return false;
    return check(t, n->l, lo, n) && check(t, n->r, n, hi);
}

bool ost_check(const ost *t) { return check(t, t->root, NULL, NULL); }
