/*
 * retry — when to try a deferred message again (Postfix's rule).
 *
 * The delay is the message's age clamped to [min, max] seconds plus up
 * to a tenth of it as jitter, so messages deferred together spread out.
 * Pure functions: no clock, no randomness of their own, no I/O.
 */
#ifndef OUTBOXFS_RETRY_H
#define OUTBOXFS_RETRY_H

#include <stdint.h>

/*
 * Seconds to wait before the next attempt of a message AGE seconds old.
 * JITTER in [0, 1000) picks the jitter (0: none, 999: about +10%).
 * MIN 0 is taken as 1; MAX below MIN is taken as MIN.
 */
unsigned retry_delay(int64_t age, unsigned min, unsigned max,
    unsigned jitter);

/* 1 when a message AGE seconds old has outlived MAX_QUEUE_TIME seconds
 * (0: never expires). */
int retry_expired(int64_t age, unsigned max_queue_time);

#endif
