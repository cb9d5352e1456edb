/*
 * util/hindex — an open-addressing index from a 64-bit hash to a small
 * number (1 .. 2^32-1) that names the caller's item: the one hash table
 * for lookups that only ever add (the spool loader's ids, the kept
 * strings). The caller keeps the items and says, through EQ, whether
 * the one a slot names is the one sought. Half full at most; it grows
 * by doubling. Nothing is ever removed (a table that removes, such as
 * the outbox's names, chains its items instead).
 *
 * Error convention: hindex_add returns 0, or -1 with errno ENOMEM, and
 * the index is then unchanged.
 */
#ifndef OUTBOXFS_UTIL_HINDEX_H
#define OUTBOXFS_UTIL_HINDEX_H

#include <stddef.h>
#include <stdint.h>

struct hindex_slot {
	uint32_t v;                 /* the item's number, 0: empty */
	uint32_t h;                 /* its hash's low half, to regrow */
};

struct hindex {
	struct hindex_slot *s;
	size_t cap, n;
};

#define HINDEX_INIT { NULL, 0, 0 }

/* The number of the item of hash H that EQ(CTX, number) says is the
 * one sought, or 0. */
uint32_t hindex_find(const struct hindex *x, uint64_t h,
    int (*eq)(const void *ctx, uint32_t v), const void *ctx);

/* Adds V (not 0) under hash H; V must not be in the index yet. */
int hindex_add(struct hindex *x, uint64_t h, uint32_t v);

void hindex_free(struct hindex *x);

#endif
