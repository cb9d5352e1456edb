/*
 * wait — a binary min-heap of intrusive nodes (see wait.h).
 *
 * Must never: allocate anywhere but wait_push, or leave a node's pos
 * out of step with where it sits in the array.
 */
#include <stdlib.h>

#include "fs/wait.h"

void wait_init(struct wait_heap *h)
{
	h->v = NULL;
	h->n = h->cap = 0;
	h->seq = 0;
}

/* The nodes are not touched: they may already be freed. */
void wait_free(struct wait_heap *h)
{
	free(h->v);
	wait_init(h);
}

static int wait_less(const struct wait_node *a, const struct wait_node *b)
{
	return a->at < b->at || (a->at == b->at && a->seq < b->seq);
}

static void wait_place(struct wait_heap *h, size_t i, struct wait_node *x)
{
	h->v[i] = x;
	x->pos = i + 1;
}

static void wait_up(struct wait_heap *h, size_t i)
{
	struct wait_node *x = h->v[i];

	while (i > 0 && wait_less(x, h->v[(i - 1) / 2])) {
		wait_place(h, i, h->v[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	wait_place(h, i, x);
}

static void wait_down(struct wait_heap *h, size_t i)
{
	struct wait_node *x = h->v[i];
	size_t c;

	for (;;) {
		c = 2 * i + 1;
		if (c >= h->n)
			break;
		if (c + 1 < h->n && wait_less(h->v[c + 1], h->v[c]))
			c++;
		if (!wait_less(h->v[c], x))
			break;
		wait_place(h, i, h->v[c]);
		i = c;
	}
	wait_place(h, i, x);
}

int wait_push(struct wait_heap *h, struct wait_node *x, int64_t at)
{
	if (h->n == h->cap) {
		size_t nc = h->cap ? h->cap * 2 : 64;
		struct wait_node **nv;

		if (nc > SIZE_MAX / sizeof(*nv))
			return -1;
		nv = realloc(h->v, nc * sizeof(*nv));
		if (nv == NULL)
			return -1;
		h->v = nv;
		h->cap = nc;
	}
	x->at = at;
	x->seq = h->seq++;
	wait_place(h, h->n++, x);
	wait_up(h, h->n - 1);
	return 0;
}

/* Fills hole I with the last node and restores the order around it. */
static void wait_fill(struct wait_heap *h, size_t i)
{
	struct wait_node *last = h->v[--h->n];

	if (i == h->n)
		return;
	wait_place(h, i, last);
	if (i > 0 && wait_less(last, h->v[(i - 1) / 2]))
		wait_up(h, i);
	else
		wait_down(h, i);
}

void wait_remove(struct wait_heap *h, struct wait_node *x)
{
	size_t i;

	if (x->pos == 0 || x->pos > h->n || h->v[x->pos - 1] != x)
		return;
	i = x->pos - 1;
	x->pos = 0;
	wait_fill(h, i);
}

void wait_update(struct wait_heap *h, struct wait_node *x, int64_t at)
{
	size_t i;

	if (x->pos == 0 || x->pos > h->n || h->v[x->pos - 1] != x)
		return;
	i = x->pos - 1;
	x->at = at;
	if (i > 0 && wait_less(x, h->v[(i - 1) / 2]))
		wait_up(h, i);
	else
		wait_down(h, i);
}

struct wait_node *wait_top(const struct wait_heap *h)
{
	return h->n ? h->v[0] : NULL;
}

struct wait_node *wait_pop(struct wait_heap *h)
{
	struct wait_node *x = wait_top(h);

	if (x)
		wait_remove(h, x);
	return x;
}
