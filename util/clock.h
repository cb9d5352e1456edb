/*
 * util/clock — the one reader of the monotonic clock, for deadlines,
 * timeouts and settle times in every part (fs/, smtp/, config/,
 * outboxfs-sendmail).
 *
 * Must never: be used for a time that is shown or stored (the spool and
 * the status files use the wall clock, which this is not), or include
 * anything of FUSE, the network or the spool: smtp/ and config/ link it.
 */
#ifndef OUTBOXFS_UTIL_CLOCK_H
#define OUTBOXFS_UTIL_CLOCK_H

#include <stdint.h>

/* CLOCK_MONOTONIC in milliseconds: only differences mean anything. */
int64_t clock_mono_ms(void);

#endif
