/*
 * sinkwait — waits until a local test server has accepted a number of
 * messages, for make bench: the one process that watches while outboxfs
 * works, so that watching costs the daemon next to nothing.
 *
 *   sinkwait COUNTER              prints how many were accepted so far
 *   sinkwait COUNTER WANT SECONDS waits until WANT were accepted
 *
 * COUNTER is either the output file of Postfix's smtp-sink -c, which
 * appends "sess=N quit=N mesg=N\r" after every message (only its last
 * 64 bytes are read, every 5 ms), or a directory where testsmtpd saves
 * N.eml + N.env per message (the .env files are counted, every 100 ms:
 * a listing costs more). It never reads the mount.
 *
 * Prints "COUNT SECONDS": the count seen last, and the wall-clock time
 * (seconds since the epoch, as bash's EPOCHREALTIME) when it first saw
 * WANT. Exit status 0 when WANT was reached, 1 at the deadline, 2 on a
 * usage or read error.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tests/tools/benchtime.h"

#define SINKWAIT_TAIL 64

/* The last mesg=N in the smtp-sink counter file FD; -1 on a read error. */
static long sinkwait_sink(int fd)
{
	char buf[SINKWAIT_TAIL + 1], *p, *last = NULL;
	struct stat st;
	off_t at;
	ssize_t n;

	if (fstat(fd, &st) < 0)
		return -1;
	at = st.st_size > SINKWAIT_TAIL ? st.st_size - SINKWAIT_TAIL : 0;
	n = pread(fd, buf, SINKWAIT_TAIL, at);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	for (p = buf; (p = strstr(p, "mesg=")) != NULL; p += 5)
		last = p;
	return last ? strtol(last + 5, NULL, 10) : 0;
}

/* How many NAME.env files directory DIR holds; -1 on an error. */
static long sinkwait_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t len;
	long n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		len = strlen(e->d_name);
		if (len > 4 && strcmp(e->d_name + len - 4, ".env") == 0)
			n++;
	}
	closedir(d);
	return n;
}

int main(int argc, char **argv)
{
	struct timespec nap;
	struct stat st;
	double deadline, seen;
	long want = 0, got;
	int fd = -1, isdir;

	if (argc != 2 && argc != 4) {
		fprintf(stderr, "usage: sinkwait COUNTER [WANT SECONDS]\n");
		return 2;
	}
	if (stat(argv[1], &st) < 0) {
		perror(argv[1]);
		return 2;
	}
	isdir = S_ISDIR(st.st_mode);
	if (!isdir && (fd = open(argv[1], O_RDONLY | O_CLOEXEC)) < 0) {
		perror(argv[1]);
		return 2;
	}
	nap.tv_sec = 0;
	nap.tv_nsec = isdir ? 100000000 : 5000000;
	deadline = benchtime_ms(CLOCK_MONOTONIC);
	if (argc == 4) {
		want = strtol(argv[2], NULL, 10);
		deadline += strtod(argv[3], NULL) * 1e3;
	}
	for (;;) {
		got = isdir ? sinkwait_dir(argv[1]) : sinkwait_sink(fd);
		if (got < 0) {
			perror(argv[1]);
			return 2;
		}
		if (got >= want || benchtime_ms(CLOCK_MONOTONIC) >= deadline)
			break;
		nanosleep(&nap, NULL);
	}
	seen = benchtime_ms(CLOCK_REALTIME) / 1e3;
	printf("%ld %.6f\n", got, seen);
	if (fd >= 0)
		close(fd);
	return got >= want ? 0 : 1;
}
