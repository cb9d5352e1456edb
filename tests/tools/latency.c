/*
 * latency — close-to-sent latency through a mounted outbox, for make
 * bench: writes N small messages one at a time into DIR, and after each
 * close polls NAME.status (every 200 us) until its state is final;
 * prints the p50, p95 and max in milliseconds. A message that is not
 * final within 30 s ends the run with exit status 1.
 *
 *   latency DIR N [TO]
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double lat_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int lat_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* 1 when the status file at PATH says a final state. */
static int lat_final(const char *path)
{
	char buf[256];
	ssize_t n;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	return strncmp(buf, "state: sent", 11) == 0 ||
	    strncmp(buf, "state: failed", 13) == 0 ||
	    strncmp(buf, "state: partial", 14) == 0;
}

int main(int argc, char **argv)
{
	const char *dir, *to;
	char path[4096], spath[4200], msg[512];
	double *lat, t0, t1;
	struct timespec nap = { 0, 200 * 1000 };
	int n, i, fd, len;

	if (argc < 3) {
		fprintf(stderr, "usage: latency DIR N [TO]\n");
		return 2;
	}
	dir = argv[1];
	n = atoi(argv[2]);
	to = argc > 3 ? argv[3] : "bob@example.com";
	if (n <= 0 || (lat = calloc((size_t)n, sizeof(*lat))) == NULL)
		return 2;
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/lat-%d-%d", dir, (int)getpid(),
		    i);
		snprintf(spath, sizeof(spath), "%s.status", path);
		len = snprintf(msg, sizeof(msg), "To: %s\nSubject: latency %d"
		    "\n\nmessage %d\n", to, i, i);
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
		if (fd < 0 || write(fd, msg, (size_t)len) != len) {
			perror(path);
			return 1;
		}
		close(fd);
		t0 = lat_now_ms();
		while (!lat_final(spath)) {
			if (lat_now_ms() - t0 > 30000) {
				fprintf(stderr, "latency: %s not final in 30 s\n",
				    path);
				return 1;
			}
			nanosleep(&nap, NULL);
		}
		t1 = lat_now_ms();
		lat[i] = t1 - t0;
	}
	qsort(lat, (size_t)n, sizeof(*lat), lat_cmp);
	printf("%.2f %.2f %.2f\n", lat[n / 2], lat[(n * 95) / 100 < n ?
	    (n * 95) / 100 : n - 1], lat[n - 1]);
	free(lat);
	return 0;
}
