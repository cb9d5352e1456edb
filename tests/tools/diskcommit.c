/*
 * diskcommit — the disk bound of make bench: what one group commit of a
 * batch of messages costs on a file system, done the way the outboxfs
 * spool makes a batch durable (fs/spool.c, spool_sync_fds): write BATCH
 * files of SIZE bytes into DIR/msg/, start the writeback of all of them
 * (sync_file_range), then one fdatasync per file and one fsync of
 * DIR/msg/ (never syncfs: only these bytes); then append one record per
 * file to the journal DIR/journal and fdatasync it.
 *
 *   diskcommit DIR SIZE BATCH ROUNDS
 *
 * Runs ROUNDS batches (new file names each round; every file is removed
 * after the last round) and prints the median, minimum and
 * maximum milliseconds of one commit (write + sync): "MED MIN MAX".
 * DIR must be on the spool's file system and hold nothing else of value:
 * it is made if missing, and its msg/ and journal are the tool's own.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/tools/benchtime.h"

#define DISKCOMMIT_REC 160       /* about one journal record */

static int diskcommit_write_all(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* One timed batch: files ROUND-0 .. ROUND-(BATCH-1). -1 with errno. */
static int diskcommit_batch(int msgfd, int jfd, const char *data, size_t size,
    long batch, long round, const char *rec)
{
	char name[64];
	long i;
	int fd, rc = 0;
	int *fds = calloc((size_t)batch, sizeof(*fds));

	if (fds == NULL)
		return -1;
	for (i = 0; i < batch; i++)
		fds[i] = -1;
	for (i = 0; i < batch && rc == 0; i++) {
		snprintf(name, sizeof(name), "%ld-%ld", round, i);
		fd = openat(msgfd, name, O_WRONLY | O_CREAT | O_TRUNC |
		    O_CLOEXEC, 0600);
		if (fd < 0 || diskcommit_write_all(fd, data, size) < 0)
			rc = -1;
		fds[i] = fd;
		if (rc == 0 && diskcommit_write_all(jfd, rec,
		    DISKCOMMIT_REC) < 0)
			rc = -1;
	}
	for (i = 0; i < batch && rc == 0; i++)
		(void)sync_file_range(fds[i], 0, 0, SYNC_FILE_RANGE_WRITE);
	for (i = 0; i < batch && rc == 0; i++)
		rc = fdatasync(fds[i]);
	if (rc == 0)
		rc = fsync(msgfd);
	if (rc == 0)
		rc = fdatasync(jfd);
	for (i = 0; i < batch; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(fds);
	return rc;
}

static void diskcommit_clean(int msgfd, long batch, long round)
{
	char name[64];
	long i;

	for (i = 0; i < batch; i++) {
		snprintf(name, sizeof(name), "%ld-%ld", round, i);
		unlinkat(msgfd, name, 0);
	}
}

int main(int argc, char **argv)
{
	char path[4096], *data, rec[DISKCOMMIT_REC];
	long size, batch, rounds, r;
	double *t, t0;
	int dirfd, msgfd, jfd;

	if (argc != 5) {
		fprintf(stderr, "usage: diskcommit DIR SIZE BATCH ROUNDS\n");
		return 2;
	}
	size = strtol(argv[2], NULL, 10);
	batch = strtol(argv[3], NULL, 10);
	rounds = strtol(argv[4], NULL, 10);
	if (size <= 0 || size > 64L << 20 || batch <= 0 || batch > 100000 ||
	    rounds <= 0 || rounds > 10000) {
		fprintf(stderr, "diskcommit: SIZE, BATCH or ROUNDS out of "
		    "range\n");
		return 2;
	}
	if ((mkdir(argv[1], 0700) < 0 && errno != EEXIST) ||
	    snprintf(path, sizeof(path), "%s/msg", argv[1]) >=
	    (int)sizeof(path) || (mkdir(path, 0700) < 0 && errno != EEXIST)) {
		perror(argv[1]);
		return 2;
	}
	dirfd = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	msgfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	jfd = dirfd < 0 ? -1 : openat(dirfd, "journal", O_WRONLY | O_CREAT |
	    O_APPEND | O_CLOEXEC, 0600);
	data = malloc((size_t)size);
	t = calloc((size_t)rounds, sizeof(*t));
	if (dirfd < 0 || msgfd < 0 || jfd < 0 || data == NULL || t == NULL) {
		perror("diskcommit");
		return 2;
	}
	memset(data, 'x', (size_t)size);
	memset(rec, 'r', sizeof(rec));
	rec[sizeof(rec) - 1] = '\n';
	fsync(dirfd);
	for (r = 0; r < rounds; r++) {
		t0 = benchtime_ms(CLOCK_MONOTONIC);
		if (diskcommit_batch(msgfd, jfd, data, (size_t)size, batch,
		    r, rec) < 0) {
			perror("diskcommit: commit");
			return 1;
		}
		t[r] = benchtime_ms(CLOCK_MONOTONIC) - t0;
	}
	for (r = 0; r < rounds; r++)
		diskcommit_clean(msgfd, batch, r);
	qsort(t, (size_t)rounds, sizeof(*t), benchtime_cmp);
	printf("%.3f %.3f %.3f\n", t[rounds / 2], t[0], t[rounds - 1]);
	free(t);
	free(data);
	close(jfd);
	close(msgfd);
	close(dirfd);
	return 0;
}
