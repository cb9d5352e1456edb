/*
 * util/clock — the monotonic clock in milliseconds (see clock.h).
 */
#include <time.h>

#include "util/clock.h"

int64_t clock_mono_ms(void)
{
	struct timespec ts;

	/* CLOCK_MONOTONIC cannot fail on Linux with a valid pointer */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
