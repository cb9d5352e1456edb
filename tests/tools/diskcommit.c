/*
 * diskcommit — the disk bound of make bench: what one group commit of a
 * batch of messages costs on a file system, made by the spool's own code
 * (fs/spool.c): BATCH message files of SIZE bytes written into a spool
 * in DIR with a journal record each, then spool_sync_fds, as the
 * committer makes a batch durable (writeback started for all, fdatasync
 * by up to 7 helper threads at once while the journal is synced; never
 * syncfs). The files are
 * made, and their names synced, before the clock starts, as the daemon
 * reserves message files ahead.
 *
 *   diskcommit DIR SIZE BATCH ROUNDS
 *
 * Runs ROUNDS batches (new ids each round; every file is removed after
 * the last round) and prints the median, minimum and maximum
 * milliseconds of one commit (write + sync): "MED MIN MAX". DIR must be
 * on the spool's file system and hold nothing else of value: a spool is
 * made there if missing.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs/spool.h"
#include "tests/tools/benchtime.h"

/* The files of one batch, ids ROUND*BATCH+1 ..., made and their names
 * synced before the clock starts, as the daemon reserves them ahead. */
static int diskcommit_files(struct spool *sp, long batch, long round,
    int *fds)
{
	long i;

	for (i = 0; i < batch; i++)
		fds[i] = -1;
	for (i = 0; i < batch; i++) {
		fds[i] = spool_create_msg(sp, (uint64_t)(round * batch + i + 1));
		if (fds[i] < 0)
			return -1;
	}
	return spool_sync_fds(sp, NULL, 0);
}

/* One timed batch: the bytes and a record of each file, then the
 * commit. -1 with errno. */
static int diskcommit_batch(struct spool *sp, const char *data, size_t size,
    long batch, long round, const int *fds)
{
	struct spool_rec r;
	char name[32];
	long i;

	for (i = 0; i < batch; i++) {
		memset(&r, 0, sizeof(r));
		r.id = (uint64_t)(round * batch + i + 1);
		snprintf(name, sizeof(name), "m%ld-%ld", round, i);
		r.name = name;
		r.state = OB_QUEUED;
		if (spool_write_all(fds[i], data, size) < 0 ||
		    spool_write_rec(sp, &r) < 0)
			return -1;
	}
	return spool_sync_fds(sp, fds, (size_t)batch);
}

static void diskcommit_close(const int *fds, long batch)
{
	long i;

	for (i = 0; i < batch; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

int main(int argc, char **argv)
{
	long size, batch, rounds, r, i;
	struct spool sp;
	char err[512], *data, name[32];
	double *t, t0;
	int *fds;

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
	if (spool_open(&sp, argv[1], err, sizeof(err)) < 0) {
		fprintf(stderr, "diskcommit: %s\n", err);
		return 2;
	}
	data = malloc((size_t)size);
	t = calloc((size_t)rounds, sizeof(*t));
	fds = calloc((size_t)batch, sizeof(*fds));
	if (data == NULL || t == NULL || fds == NULL) {
		perror("diskcommit");
		return 2;
	}
	memset(data, 'x', (size_t)size);
	for (r = 0; r < rounds; r++) {
		if (diskcommit_files(&sp, batch, r, fds) < 0) {
			perror("diskcommit: files");
			return 1;
		}
		t0 = benchtime_ms(CLOCK_MONOTONIC);
		if (diskcommit_batch(&sp, data, (size_t)size, batch, r,
		    fds) < 0) {
			perror("diskcommit: commit");
			return 1;
		}
		t[r] = benchtime_ms(CLOCK_MONOTONIC) - t0;
		diskcommit_close(fds, batch);
	}
	for (i = 0; i < rounds * batch; i++) {
		snprintf(name, sizeof(name), "%ld", i + 1);
		unlinkat(sp.msgfd, name, 0);
	}
	spool_close(&sp);
	qsort(t, (size_t)rounds, sizeof(*t), benchtime_cmp);
	printf("%.3f %.3f %.3f\n", t[rounds / 2], t[0], t[rounds - 1]);
	free(fds);
	free(t);
	free(data);
	return 0;
}
