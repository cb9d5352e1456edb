/*
 * unit_helpers — small helpers more than one unit test needs: a substring
 * assertion, and the line I/O of the scripted SMTP peers that test_client
 * and test_tls run on the far end of a socket pair. Include after
 * <cmocka.h>. Everything here is static inline: a test that uses only
 * part of it compiles without warnings.
 */
#ifndef OUTBOXFS_UNIT_HELPERS_H
#define OUTBOXFS_UNIT_HELPERS_H

#include <poll.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

/* Fails the test unless HAY contains NEEDLE. */
static inline void assert_contains(const char *hay, const char *needle)
{
	if (strstr(hay, needle) == NULL)
		fail_msg("got \"%s\", want it to contain \"%s\"", hay, needle);
}

/*
 * One line from FD into LINE (CAP bytes, without CR LF; a longer line is
 * cut). RBUF (RCAP bytes, *RLEN used) keeps what was read past the line
 * for the next call. 0, or -1 on EOF, a full RBUF without a line end, or
 * TIMEOUT_MS without a byte.
 */
static inline int peer_read_line(int fd, char *rbuf, size_t rcap,
    size_t *rlen, char *line, size_t cap, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char *nl;
	ssize_t n;
	size_t len;

	for (;;) {
		nl = memchr(rbuf, '\n', *rlen);
		if (nl != NULL) {
			len = (size_t)(nl - rbuf);
			if (len > 0 && rbuf[len - 1] == '\r')
				len--;
			if (len >= cap)
				len = cap - 1;
			memcpy(line, rbuf, len);
			line[len] = '\0';
			*rlen -= (size_t)(nl - rbuf) + 1;
			memmove(rbuf, nl + 1, *rlen);
			return 0;
		}
		if (*rlen == rcap || poll(&pfd, 1, timeout_ms) <= 0)
			return -1;
		n = read(fd, rbuf + *rlen, rcap - *rlen);
		if (n <= 0)
			return -1;
		*rlen += (size_t)n;
	}
}

/* Writes S, and CR LF when CRLF is set. 0, or -1 when a write failed. */
static inline int peer_write_text(int fd, const char *s, int crlf)
{
	size_t len = strlen(s);

	if (write(fd, s, len) != (ssize_t)len ||
	    (crlf && write(fd, "\r\n", 2) != 2))
		return -1;
	return 0;
}

#endif
