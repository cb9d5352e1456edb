/*
 * benchtime — the clock and the sort the make bench tools share
 * (closesent, diskcommit, sinkwait). Header only: each tool stays one
 * file that the Makefile builds alone.
 */
#ifndef OUTBOXFS_BENCHTIME_H
#define OUTBOXFS_BENCHTIME_H

#include <time.h>

/* CLOCK in milliseconds: CLOCK_MONOTONIC for a span, CLOCK_REALTIME for
 * a moment a shell compares with its EPOCHREALTIME. */
static inline double benchtime_ms(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* qsort(3) order of doubles, smallest first. */
static inline int benchtime_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

#endif
