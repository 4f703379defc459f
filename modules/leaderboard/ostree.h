/*
 * ostree.h - an order-statistic tree: a treap (binary search tree ordered
 * by a caller's comparison, heap-ordered by random priorities) whose nodes
 * count their subtree. Insert, remove, rank of a key and the node at a rank
 * are O(log n) expected. Intrusive: the caller embeds ost_node in its own
 * record and owns the memory. Keys must be unique under cmp (leaderboards
 * make them unique with a sequence number and the owner id).
 *
 * Pure C, no allocation, no I/O: unit-tested in tests/unit/test_lb_ostree.c
 * (including a differential test against a sorted array).
 */
#ifndef MB_LB_OSTREE_H
#define MB_LB_OSTREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ost_node {
    struct ost_node *l, *r;
    uint32_t prio;
    uint32_t size; /* nodes in this subtree, itself included */
} ost_node;

/* < 0, 0, > 0 as a sorts before, with, after b. */
typedef int (*ost_cmp)(const ost_node *a, const ost_node *b, const void *ctx);

typedef struct ost {
    ost_node *root;
    ost_cmp cmp;
    const void *ctx;
    uint64_t rng; /* xorshift state for priorities */
} ost;

void ost_init(ost *t, ost_cmp cmp, const void *ctx, uint64_t seed);
size_t ost_size(const ost *t);
/* Insert n (its key must not be in the tree). */
void ost_insert(ost *t, ost_node *n);
/* Remove the node whose key equals key's (key may be that node itself).
 * Returns the removed node or NULL when absent. */
ost_node *ost_remove(ost *t, const ost_node *key);
/* Number of nodes that sort strictly before key (key need not be in the
 * tree): the 0-based rank of a present key. */
size_t ost_rank(const ost *t, const ost_node *key);
/* The node at 0-based rank i, or NULL when i >= size. */
ost_node *ost_at(const ost *t, size_t i);
/* Empty the tree, calling fn on every node (post-order: fn may free it). */
void ost_clear(ost *t, void (*fn)(ost_node *n, void *ud), void *ud);
/* Check the invariants (order, heap, sizes): true when they hold (tests). */
bool ost_check(const ost *t);

#endif
