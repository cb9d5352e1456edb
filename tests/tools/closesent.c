/*
 * closesent — close-to-sent latency through a mounted outbox, for make
 * bench: writes N messages one at a time into DIR, each with the text of
 * MSGFILE, and after each close waits for NAME.status to say a final
 * state. Prints the p50, p95 and max in milliseconds.
 *
 *   closesent DIR N MSGFILE
 *
 * The wait is the one outboxfs(1) documents for programs: poll(2) on the
 * open status file, which says readable once the status changed, and a
 * read from offset 0 for the new text. The status file is opened before
 * the message is closed (not timed), so the daemon sees one read per
 * change of state and nothing in between. A message that is not final
 * within 30 s ends the run with exit status 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/tools/benchtime.h"

#define CLOSESENT_MAX_MSG 65536
#define CLOSESENT_TIMEOUT_MS 30000

/* 1 when the status text read from FD at offset 0 says a final state,
 * 0 when not, -1 on a read error. */
static int closesent_final(int fd)
{
	char buf[64];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

	if (n < 0)
		return -1;
	buf[n] = '\0';
	return strncmp(buf, "state: sent\n", 12) == 0 ||
	    strncmp(buf, "state: failed\n", 14) == 0 ||
	    strncmp(buf, "state: partial\n", 15) == 0;
}

/* Reads MSGFILE whole into BUF (CAP bytes); its length, or -1. */
static ssize_t closesent_load(const char *path, char *buf, size_t cap)
{
	ssize_t n, len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	while ((size_t)len < cap &&
	    (n = read(fd, buf + len, cap - (size_t)len)) > 0)
		len += n;
	close(fd);
	return (size_t)len < cap ? len : -1;
}

/* One message: its close-to-final time in *MS. 0, or -1 with a reason
 * printed. */
static int closesent_one(const char *dir, int i, const char *msg, size_t len,
    double *ms)
{
	char path[4096], spath[4200];
	struct pollfd pfd;
	double t0, left;
	int fd, sfd, rc;

	snprintf(path, sizeof(path), "%s/lat-%d-%d", dir, (int)getpid(), i);
	snprintf(spath, sizeof(spath), "%s.status", path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		perror(path);
		return -1;
	}
	sfd = open(spath, O_RDONLY | O_CLOEXEC);
	if (sfd < 0) {
		perror(spath);
		close(fd);
		return -1;
	}
	if (write(fd, msg, len) != (ssize_t)len) {
		perror(path);
		close(fd);
		close(sfd);
		return -1;
	}
	if (close(fd) < 0) {
		perror(path);
		close(sfd);
		return -1;
	}
	t0 = benchtime_ms(CLOCK_MONOTONIC);
	pfd.fd = sfd;
	pfd.events = POLLIN;
	while ((rc = closesent_final(sfd)) == 0) {
		left = CLOSESENT_TIMEOUT_MS - (benchtime_ms(CLOCK_MONOTONIC) - t0);
		if (left <= 0) {
			fprintf(stderr, "closesent: %s not final in 30 s\n",
			    path);
			close(sfd);
			return -1;
		}
		if (poll(&pfd, 1, (int)left + 1) < 0 && errno != EINTR) {
			perror("poll");
			close(sfd);
			return -1;
		}
	}
	*ms = benchtime_ms(CLOCK_MONOTONIC) - t0;
	close(sfd);
	if (rc < 0) {
		perror(spath);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static char msg[CLOSESENT_MAX_MSG];
	double *lat;
	ssize_t len;
	long n;
	int i;

	if (argc != 4) {
		fprintf(stderr, "usage: closesent DIR N MSGFILE\n");
		return 2;
	}
	n = strtol(argv[2], NULL, 10);
	len = closesent_load(argv[3], msg, sizeof(msg));
	if (len <= 0) {
		fprintf(stderr, "closesent: %s: cannot read it, or it is "
		    "empty or over %d bytes\n", argv[3], CLOSESENT_MAX_MSG);
		return 2;
	}
	if (n <= 0 || n > 1000000 ||
	    (lat = calloc((size_t)n, sizeof(*lat))) == NULL)
		return 2;
	for (i = 0; i < n; i++)
		if (closesent_one(argv[1], i, msg, (size_t)len, &lat[i]) < 0) {
			free(lat);
			return 1;
		}
	qsort(lat, (size_t)n, sizeof(*lat), benchtime_cmp);
	printf("%.2f %.2f %.2f\n", lat[n / 2], lat[n * 95 / 100], lat[n - 1]);
	free(lat);
	return 0;
}
