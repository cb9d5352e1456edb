/*
 * test_wait — the deferred-message heap: pushes, removals from the
 * middle (a message cancelled or touched), key updates, pop order
 * (smallest key first, equal keys first in first out), and a long
 * deterministic mixed sequence checked against a plain array model.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "fs/wait.h"

#define NITEMS 8

struct item {
	int id;
	struct wait_node wn;
};

static struct item *item_of(struct wait_node *w)
{
	return (struct item *)(void *)((char *)w - offsetof(struct item, wn));
}

enum op { PUSH, REMOVE, UPDATE, POP, TOP, END };

struct step {
	enum op op;
	int item;        /* PUSH/REMOVE/UPDATE: which; POP/TOP: expected
	                  * (-1: empty) */
	int64_t key;
};

struct seq_case {
	const char *what;
	struct step steps[24];
};

static const struct seq_case seq_cases[] = {
	{ "pop order by key", {
		{ PUSH, 0, 30 }, { PUSH, 1, 10 }, { PUSH, 2, 20 },
		{ PUSH, 3, 5 }, { TOP, 3, 0 },
		{ POP, 3, 0 }, { POP, 1, 0 }, { POP, 2, 0 }, { POP, 0, 0 },
		{ POP, -1, 0 }, { END, 0, 0 } } },
	{ "equal keys: first in, first out", {
		{ PUSH, 4, 7 }, { PUSH, 2, 7 }, { PUSH, 6, 7 }, { PUSH, 0, 7 },
		{ POP, 4, 0 }, { POP, 2, 0 }, { POP, 6, 0 }, { POP, 0, 0 },
		{ POP, -1, 0 }, { END, 0, 0 } } },
	{ "remove from the middle (cancelled)", {
		{ PUSH, 0, 1 }, { PUSH, 1, 2 }, { PUSH, 2, 3 }, { PUSH, 3, 4 },
		{ PUSH, 4, 5 }, { PUSH, 5, 6 }, { PUSH, 6, 7 },
		{ REMOVE, 3, 0 }, { REMOVE, 1, 0 },
		{ POP, 0, 0 }, { POP, 2, 0 }, { POP, 4, 0 }, { POP, 5, 0 },
		{ POP, 6, 0 }, { POP, -1, 0 }, { END, 0, 0 } } },
	{ "remove the head, the last, twice, and one never pushed", {
		{ PUSH, 0, 10 }, { PUSH, 1, 20 }, { PUSH, 2, 30 },
		{ REMOVE, 0, 0 }, { REMOVE, 0, 0 }, { REMOVE, 7, 0 },
		{ TOP, 1, 0 }, { REMOVE, 2, 0 }, { POP, 1, 0 },
		{ POP, -1, 0 }, { REMOVE, 1, 0 }, { END, 0, 0 } } },
	{ "touched: key made due now (moves up)", {
		{ PUSH, 0, 100 }, { PUSH, 1, 200 }, { PUSH, 2, 300 },
		{ PUSH, 3, 400 }, { UPDATE, 3, 50 }, { TOP, 3, 0 },
		{ POP, 3, 0 }, { POP, 0, 0 }, { END, 0, 0 } } },
	{ "retried later (moves down)", {
		{ PUSH, 0, 100 }, { PUSH, 1, 200 }, { PUSH, 2, 300 },
		{ UPDATE, 0, 250 }, { POP, 1, 0 }, { POP, 0, 0 }, { POP, 2, 0 },
		{ END, 0, 0 } } },
	{ "extreme keys", {
		{ PUSH, 0, INT64_MAX }, { PUSH, 1, INT64_MIN }, { PUSH, 2, 0 },
		{ PUSH, 3, -1 }, { POP, 1, 0 }, { POP, 3, 0 }, { POP, 2, 0 },
		{ POP, 0, 0 }, { END, 0, 0 } } },
	{ "pushed again after removal", {
		{ PUSH, 5, 9 }, { REMOVE, 5, 0 }, { PUSH, 5, 3 }, { PUSH, 6, 4 },
		{ POP, 5, 0 }, { POP, 6, 0 }, { POP, -1, 0 }, { END, 0, 0 } } },
};

/* Every parent <= its children, and every pos names its slot. */
static void check_heap(const struct wait_heap *h)
{
	size_t i;

	for (i = 0; i < h->n; i++) {
		assert_int_equal(h->v[i]->pos, i + 1);
		if (i > 0) {
			const struct wait_node *p = h->v[(i - 1) / 2];

			assert_true(p->at < h->v[i]->at ||
			    (p->at == h->v[i]->at && p->seq < h->v[i]->seq));
		}
	}
}

static void test_sequences(void **state)
{
	size_t c, s;

	(void)state;
	for (c = 0; c < sizeof(seq_cases) / sizeof(seq_cases[0]); c++) {
		struct item items[NITEMS];
		struct wait_heap h;
		struct wait_node *w;
		int i;

		for (i = 0; i < NITEMS; i++) {
			items[i].id = i;
			items[i].wn.pos = 0;
		}
		wait_init(&h);
		for (s = 0; seq_cases[c].steps[s].op != END; s++) {
			const struct step *st = &seq_cases[c].steps[s];
			int got;

			switch (st->op) {
			case PUSH:
				assert_int_equal(wait_push(&h,
				    &items[st->item].wn, st->key), 0);
				break;
			case REMOVE:
				wait_remove(&h, &items[st->item].wn);
				assert_int_equal(items[st->item].wn.pos, 0);
				break;
			case UPDATE:
				wait_update(&h, &items[st->item].wn, st->key);
				break;
			case POP:
			case TOP:
				w = st->op == POP ? wait_pop(&h) : wait_top(&h);
				got = w ? item_of(w)->id : -1;
				if (got != st->item)
					fail_msg("%s, step %zu: got %d, want %d",
					    seq_cases[c].what, s, got, st->item);
				if (w && st->op == POP)
					assert_int_equal(w->pos, 0);
				break;
			case END:
				break;
			}
			check_heap(&h);
		}
		wait_free(&h);
	}
}

/* A long mixed sequence against an array model: the heap's top is
 * always the model's smallest (key, order of insertion). */
#define NMODEL 500

static void test_against_model(void **state)
{
	static struct item items[NMODEL];
	static int in[NMODEL];
	static uint64_t order[NMODEL];
	struct wait_heap h;
	struct wait_node *w;
	uint64_t ord = 0, rnd = 12345;
	int i, k, best, n = 0;

	(void)state;
	wait_init(&h);
	for (i = 0; i < NMODEL; i++) {
		items[i].id = i;
		items[i].wn.pos = 0;
		in[i] = 0;
	}
	for (k = 0; k < 20000; k++) {
		rnd = rnd * 6364136223846793005ULL + 1442695040888963407ULL;
		i = (int)((rnd >> 33) % NMODEL);
		switch ((rnd >> 20) % 4) {
		case 0:
		case 1:
			if (in[i])
				break;
			assert_int_equal(wait_push(&h, &items[i].wn,
			    (int64_t)((rnd >> 40) % 50)), 0);
			in[i] = 1;
			order[i] = ord++;
			n++;
			break;
		case 2:
			if (in[i])
				n--;
			wait_remove(&h, &items[i].wn);
			in[i] = 0;
			break;
		default:
			best = -1;
			for (i = 0; i < NMODEL; i++)
				if (in[i] && (best < 0 ||
				    items[i].wn.at < items[best].wn.at ||
				    (items[i].wn.at == items[best].wn.at &&
				    order[i] < order[best])))
					best = i;
			w = wait_pop(&h);
			assert_int_equal(w ? item_of(w)->id : -1, best);
			if (best >= 0) {
				in[best] = 0;
				n--;
			}
			break;
		}
		assert_int_equal(h.n, (size_t)n);
		if (k % 97 == 0)
			check_heap(&h);
	}
	while (wait_pop(&h) != NULL)
		;
	for (i = 0; i < NMODEL; i++)
		assert_int_equal(items[i].wn.pos, 0);
	wait_free(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sequences),
		cmocka_unit_test(test_against_model),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
