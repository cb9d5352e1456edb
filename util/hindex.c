/*
 * util/hindex — see hindex.h.
 */
#include <errno.h>
#include <stdlib.h>

#include "util/hindex.h"

/* Where hash H's probe sequence starts. */
static size_t hindex_start(const struct hindex *x, uint32_t h)
{
	return (size_t)(h * 0x9E3779B1u) & (x->cap - 1);
}

uint32_t hindex_find(const struct hindex *x, uint64_t h,
    int (*eq)(const void *ctx, uint32_t v), const void *ctx)
{
	uint32_t h32 = (uint32_t)h;
	size_t k;

	if (x->cap == 0)
		return 0;
	for (k = hindex_start(x, h32); x->s[k].v; k = (k + 1) & (x->cap - 1))
		if (x->s[k].h == h32 && eq(ctx, x->s[k].v))
			return x->s[k].v;
	return 0;
}

/* V under H into a table with room; no growth. */
static void hindex_put(struct hindex *x, uint32_t h32, uint32_t v)
{
	size_t k = hindex_start(x, h32);

	while (x->s[k].v)
		k = (k + 1) & (x->cap - 1);
	x->s[k].v = v;
	x->s[k].h = h32;
	x->n++;
}

int hindex_add(struct hindex *x, uint64_t h, uint32_t v)
{
	struct hindex old = *x;
	size_t i;

	if ((x->n + 1) * 2 > x->cap) {
		if (x->cap > SIZE_MAX / 2 / sizeof(*x->s)) {
			errno = ENOMEM;
			return -1;
		}
		x->cap = x->cap ? x->cap * 2 : 64;
		x->s = calloc(x->cap, sizeof(*x->s));
		if (x->s == NULL) {
			*x = old;
			errno = ENOMEM;
			return -1;
		}
		x->n = 0;
		for (i = 0; i < old.cap; i++)
			if (old.s[i].v)
				hindex_put(x, old.s[i].h, old.s[i].v);
		free(old.s);
	}
	hindex_put(x, (uint32_t)h, v);
	return 0;
}

void hindex_free(struct hindex *x)
{
	free(x->s);
	x->s = NULL;
	x->cap = x->n = 0;
}
