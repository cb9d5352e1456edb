/*
 * retry — the retry schedule. Pure arithmetic; the caller supplies the
 * age and the random jitter, so the table in test_retry.c pins it down.
 */
#include "fs/retry.h"

unsigned retry_delay(int64_t age, unsigned min, unsigned max,
    unsigned jitter)
{
	uint64_t d;

	if (min == 0)
		min = 1;
	if (max < min)
		max = min;
	if (age < (int64_t)min)
		d = min;
	else if (age > (int64_t)max)
		d = max;
	else
		d = (uint64_t)age;
	if (jitter >= 1000)
		jitter = 999;
	d += d * jitter / 10000;
	return d > 0xffffffffu ? 0xffffffffu : (unsigned)d;
}

int retry_expired(int64_t age, unsigned max_queue_time)
{
	return max_queue_time != 0 && age > (int64_t)max_queue_time;
}
