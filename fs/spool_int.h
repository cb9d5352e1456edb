/*
 * spool_int.h — what the spool's own files (spool.c: the journal, the
 * group commit and the message files; spool_rec.c: records as text;
 * spool_load.c: what a mount reads) share, and nothing else uses.
 */
#ifndef OUTBOXFS_SPOOL_INT_H
#define OUTBOXFS_SPOOL_INT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "fs/spool.h"

/* The first line of a journal in the framed format (version 2). */
#define SPOOL_JHEAD "outboxfs-journal 2\n"
#define SPOOL_JHEAD_LEN (sizeof(SPOOL_JHEAD) - 1)

/* The id named in a record that failed to parse, if it can be read:
 * 0 and *ID, or -1. */
int spool_guess_id(const char *p, size_t n, uint64_t *id);

/* The offset after the journal FD's last byte that is not zero (FD's
 * size SIZE): where the next record goes. -1 on a read error. */
int64_t spool_journal_end(int fd, uint64_t size);

/* ID as the name of its files in msg/ and log/. */
void spool_idname(uint64_t id, char *buf, size_t cap);

/* Reads up to CAP bytes at OFF into BUF (fewer only at the end of the
 * file); -1 with errno, *GOT (GOT may be NULL) then the bytes read
 * before the error. */
ssize_t spool_pread_upto(int fd, char *buf, size_t cap, uint64_t off,
    size_t *got);

#endif
