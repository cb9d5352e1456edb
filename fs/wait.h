/*
 * wait — deferred messages ordered by their next attempt: a binary
 * min-heap of nodes embedded in the messages (intrusive), so that the
 * delivery threads find the due ones in O(log N) instead of walking
 * every deferred message on every pick.
 *
 * Pure data structure: no lock (the caller holds whatever guards the
 * heap and its nodes, ob->mu for the outbox), no I/O. A node is in at
 * most one heap at a time. Error convention: -1 means out of memory,
 * and the heap is then unchanged.
 */
#ifndef OUTBOXFS_WAIT_H
#define OUTBOXFS_WAIT_H

#include <stddef.h>
#include <stdint.h>

struct wait_node {
	int64_t at;          /* the key: when the next attempt is due */
	uint32_t seq;        /* equal keys: first in, first out (after 2^32
	                      * pushes the order of equal keys may turn) */
	uint32_t pos;        /* index in the heap + 1; 0: not in a heap */
};

struct wait_heap {
	struct wait_node **v;
	size_t n, cap;
	uint64_t seq;
};

/* An empty heap; wait_free releases its array and never touches the
 * nodes (they may be freed first). */
void wait_init(struct wait_heap *h);
void wait_free(struct wait_heap *h);

/* Adds X (not in a heap) with key AT. Returns 0, or -1 without memory. */
int wait_push(struct wait_heap *h, struct wait_node *x, int64_t at);
/* Takes X out of H wherever it sits; nothing when X is not in a heap. */
void wait_remove(struct wait_heap *h, struct wait_node *x);
/* Gives X (in H) the key AT and moves it to its place. */
void wait_update(struct wait_heap *h, struct wait_node *x, int64_t at);
/* The node with the smallest key (the oldest of equal ones), borrowed;
 * NULL when empty. wait_pop also takes it out. */
struct wait_node *wait_top(const struct wait_heap *h);
struct wait_node *wait_pop(struct wait_heap *h);

#endif
