/*
 * test_io — the buffered socket layer on socket pairs and loopback:
 * line splitting, caps that keep the stream in step, deadlines, a peer
 * that vanishes, write buffering, transport switching, connect errors.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "smtp/io.h"

struct pair {
	struct io *io;
	int peer;
};

static int pair_setup(void **state)
{
	struct pair *p = calloc(1, sizeof(*p));
	int sv[2];

	if (p == NULL || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return -1;
	if (io_from_fd(sv[0], &p->io) != IO_OK)
		return -1;
	p->peer = sv[1];
	*state = p;
	return 0;
}

static int pair_teardown(void **state)
{
	struct pair *p = *state;

	io_close(p->io);
	if (p->peer >= 0)
		close(p->peer);
	free(p);
	return 0;
}

static void peer_send(struct pair *p, const char *s, size_t len)
{
	assert_int_equal(write(p->peer, s, len), (ssize_t)len);
}

static void test_io_lines(void **state)
{
	struct pair *p = *state;
	char buf[64];
	size_t len;
	static const char in[] = "220 a\r\n250 b\n\r\n354 c\r\r\n";

	peer_send(p, in, sizeof(in) - 1);
	assert_int_equal(io_readline(p->io, buf, sizeof(buf), &len, 1000), 0);
	assert_string_equal(buf, "220 a");
	assert_int_equal(len, 5);
	assert_int_equal(io_readline(p->io, buf, sizeof(buf), &len, 1000), 0);
	assert_string_equal(buf, "250 b");
	assert_int_equal(io_readline(p->io, buf, sizeof(buf), &len, 1000), 0);
	assert_string_equal(buf, "");
	assert_int_equal(len, 0);
	/* only the CR before the LF goes */
	assert_int_equal(io_readline(p->io, buf, sizeof(buf), &len, 1000), 0);
	assert_int_equal(len, 6);
	assert_memory_equal(buf, "354 c\r", 6);
}

static void test_io_line_in_pieces(void **state)
{
	struct pair *p = *state;
	char buf[64];
	size_t len;

	peer_send(p, "25", 2);
	peer_send(p, "0 o", 3);
	peer_send(p, "k\r", 2);
	peer_send(p, "\n", 1);
	assert_int_equal(io_readline(p->io, buf, sizeof(buf), &len, 1000), 0);
	assert_string_equal(buf, "250 ok");
}

static void test_io_nul_in_line(void **state)
{
	struct pair *p = *state;
	char buf[64];
	size_t len;

	peer_send(p, "250 a\0b\r\n", 9);
	assert_int_equal(io_readline(p->io, buf, sizeof(buf), &len, 1000), 0);
	assert_int_equal(len, 7);
	assert_memory_equal(buf, "250 a\0b", 7);
}

/* Lengths around the cap: cap - 1 fits, cap does not; a too-long line
 * is skipped whole and the next one is read normally. */
static void test_io_toolong(void **state)
{
	struct pair *p = *state;
	static const size_t lens[] = { 15, 16, 17, 100, 20000 };
	char buf[16], *line;
	size_t i, len;
	int rc;

	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		line = malloc(lens[i] + 2);
		assert_non_null(line);
		memset(line, 'x', lens[i]);
		memcpy(line + lens[i], "\r\n", 2);
		peer_send(p, line, lens[i] + 2);
		peer_send(p, "250 next\r\n", 10);
		rc = io_readline(p->io, buf, sizeof(buf), &len, 1000);
		if (lens[i] <= sizeof(buf) - 1) {
			assert_int_equal(rc, 0);
			assert_int_equal(len, lens[i]);
		} else {
			assert_int_equal(rc, IO_ERR_TOOLONG);
		}
		assert_int_equal(io_readline(p->io, buf, sizeof(buf), &len,
		    1000), 0);
		assert_string_equal(buf, "250 next");
		free(line);
	}
}

static void test_io_timeout(void **state)
{
	struct pair *p = *state;
	char buf[16];
	size_t len;

	peer_send(p, "250 no end", 10);
	assert_int_equal(io_readline(p->io, buf, sizeof(buf), &len, 50),
	    IO_ERR_TIMEOUT);
	assert_int_equal(io_readline(p->io, buf, sizeof(buf), &len, 0),
	    IO_ERR_TIMEOUT);
}

static void test_io_closed(void **state)
{
	struct pair *p = *state;
	char buf[16];
	size_t len;

	peer_send(p, "250 ok\r\n250 half", 16);
	close(p->peer);
	p->peer = -1;
	assert_int_equal(io_readline(p->io, buf, sizeof(buf), &len, 1000), 0);
	assert_int_equal(io_readline(p->io, buf, sizeof(buf), &len, 1000),
	    IO_ERR_CLOSED);
}

static void test_io_write_buffered(void **state)
{
	struct pair *p = *state;
	struct pollfd pfd = { .fd = p->peer, .events = POLLIN };
	char got[64];

	assert_int_equal(io_write(p->io, "MAIL FROM:<a@b>\r\n", 17, 1000), 0);
	assert_int_equal(io_write(p->io, "RCPT TO:<c@d>\r\n", 15, 1000), 0);
	assert_int_equal(poll(&pfd, 1, 0), 0);     /* nothing sent yet */
	assert_int_equal(io_flush(p->io, 1000), 0);
	assert_int_equal(read(p->peer, got, sizeof(got)), 32);
	assert_memory_equal(got, "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n", 32);
	assert_int_equal(io_flush(p->io, 1000), 0); /* empty: no-op */
}

struct drain {
	int fd;
	size_t got;
	unsigned long sum;
};

static void *drain_main(void *arg)
{
	struct drain *d = arg;
	unsigned char buf[4096];
	ssize_t n, i;

	while ((n = read(d->fd, buf, sizeof(buf))) > 0) {
		for (i = 0; i < n; i++)
			d->sum += buf[i] * (unsigned long)((d->got + i) % 251);
		d->got += (size_t)n;
	}
	return NULL;
}

/* Writes larger than the buffer, in odd sizes, arrive whole and in
 * order. */
static void test_io_write_large(void **state)
{
	struct pair *p = *state;
	struct drain d = { .fd = p->peer };
	size_t total = 3 * 1024 * 1024 + 7, off = 0, n, i;
	unsigned long sum = 0;
	unsigned char *data = malloc(total);
	pthread_t th;

	assert_non_null(data);
	for (i = 0; i < total; i++) {
		data[i] = (unsigned char)(i * 7 + i / 256);
		sum += data[i] * (unsigned long)(i % 251);
	}
	assert_int_equal(pthread_create(&th, NULL, drain_main, &d), 0);
	for (n = 1; off < total; n = n * 3 + 1) {
		if (n > total - off)
			n = total - off;
		assert_int_equal(io_write(p->io, data + off, n, 5000), 0);
		off += n;
	}
	assert_int_equal(io_flush(p->io, 5000), 0);
	shutdown(io_fd(p->io), SHUT_WR);
	pthread_join(th, NULL);
	assert_int_equal(d.got, total);
	assert_int_equal(d.sum, sum);
	free(data);
}

/* A peer that never reads: the write ends at the deadline. */
static void test_io_write_timeout(void **state)
{
	struct pair *p = *state;
	size_t len = 256 * 1024;
	char *data = calloc(1, len);
	int rc = 0, i;

	assert_non_null(data);
	for (i = 0; i < 200 && rc == 0; i++) {
		rc = io_write(p->io, data, len, 50);
		if (rc == 0)
			rc = io_flush(p->io, 50);
	}
	assert_int_equal(rc, IO_ERR_TIMEOUT);
	free(data);
}

/* Writing to a closed peer is an error, not SIGPIPE. */
static void test_io_write_closed(void **state)
{
	struct pair *p = *state;

	close(p->peer);
	p->peer = -1;
	assert_int_equal(io_write(p->io, "QUIT\r\n", 6, 1000), 0);
	assert_int_equal(io_flush(p->io, 1000), IO_ERR_CLOSED);
}

/* A transport that upper-cases what it reads, to see it is used. */
static int upper_closed;

static ssize_t upper_read(void *ctx, void *buf, size_t len, int tmo)
{
	int fd = *(int *)ctx;
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	ssize_t n, i;

	if (poll(&pfd, 1, tmo) <= 0)
		return IO_ERR_TIMEOUT;
	n = read(fd, buf, len);
	if (n <= 0)
		return IO_ERR_CLOSED;
	for (i = 0; i < n; i++)
		if (((char *)buf)[i] >= 'a' && ((char *)buf)[i] <= 'z')
			((char *)buf)[i] -= 32;
	return n;
}

static ssize_t upper_write(void *ctx, const void *buf, size_t len, int tmo)
{
	(void)tmo;
	return write(*(int *)ctx, buf, len);
}

static size_t upper_pending(void *ctx)
{
	(void)ctx;
	return 0;
}

static void upper_close(void *ctx)
{
	(void)ctx;
	upper_closed++;
}

static const struct io_transport upper = {
	"upper", upper_read, upper_write, upper_pending, upper_close,
};

static void test_io_transport_switch(void **state)
{
	struct pair *p = *state;
	int fd = io_fd(p->io);
	char buf[32];
	size_t len;

	upper_closed = 0;
	assert_string_equal(io_transport_name(p->io), "tcp");
	/* bytes pending (STARTTLS injection): the switch is refused */
	peer_send(p, "220 go\r\n250 injected\r\n", 22);
	assert_int_equal(io_readline(p->io, buf, sizeof(buf), &len, 1000), 0);
	assert_int_equal(io_pending(p->io), 14);
	assert_true(io_set_transport(p->io, &upper, &fd) < 0);
	assert_int_equal(io_readline(p->io, buf, sizeof(buf), &len, 1000), 0);
	assert_int_equal(io_pending(p->io), 0);
	assert_int_equal(io_set_transport(p->io, &upper, &fd), 0);
	assert_string_equal(io_transport_name(p->io), "upper");
	peer_send(p, "250 hello\r\n", 11);
	assert_int_equal(io_readline(p->io, buf, sizeof(buf), &len, 1000), 0);
	assert_string_equal(buf, "250 HELLO");
	io_close(p->io);
	p->io = NULL;
	assert_int_equal(upper_closed, 1);
	/* teardown closes a NULL io: fine */
}

/* A transport that remembers where the io's write buffer handed it
 * bytes from, to look at that memory after the flush. */
struct spy {
	int fd;
	const char *seen;
	size_t seen_len;
};

static ssize_t spy_write(void *ctx, const void *buf, size_t len, int tmo)
{
	struct spy *sp = ctx;

	(void)tmo;
	sp->seen = buf;
	sp->seen_len = len;
	return write(sp->fd, buf, len);
}

static ssize_t spy_read(void *ctx, void *buf, size_t len, int tmo)
{
	(void)ctx; (void)buf; (void)len; (void)tmo;
	return IO_ERR_CLOSED;
}

static const struct io_transport spy_transport = {
	"spy", spy_read, spy_write, upper_pending, upper_close,
};

/* An AUTH line carries credentials: once sent, the write buffer must
 * not hold it any more. */
static void test_io_flush_wipes(void **state)
{
	struct pair *p = *state;
	static const char line[] = "AUTH PLAIN AGJvYgBzM2NyM3Q=\r\n";
	struct spy sp = { io_fd(p->io), NULL, 0 };
	char got[64];
	size_t i;

	assert_int_equal(io_set_transport(p->io, &spy_transport, &sp), 0);
	assert_int_equal(io_write(p->io, line, sizeof(line) - 1, 1000), 0);
	assert_null(sp.seen);           /* buffered, not yet sent */
	assert_int_equal(io_flush(p->io, 1000), 0);
	assert_int_equal(sp.seen_len, sizeof(line) - 1);
	assert_int_equal(read(p->peer, got, sizeof(got)),
	    (ssize_t)sizeof(line) - 1);
	assert_memory_equal(got, line, sizeof(line) - 1);
	/* sp.seen points into the io's buffer, still allocated */
	for (i = 0; i < sp.seen_len; i++)
		assert_int_equal(sp.seen[i], 0);
}

static int listen_on(int family, char *port, size_t plen)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd = socket(family, SOCK_STREAM, 0);

	if (fd < 0)
		return -1;
	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;

		in->sin_family = AF_INET;
		in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sl = sizeof(*in);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

		in6->sin6_family = AF_INET6;
		in6->sin6_addr = in6addr_loopback;
		sl = sizeof(*in6);
	}
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 4) < 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
		close(fd);
		return -1;
	}
	snprintf(port, plen, "%u", ntohs(family == AF_INET ?
	    ((struct sockaddr_in *)&ss)->sin_port :
	    ((struct sockaddr_in6 *)&ss)->sin6_port));
	return fd;
}

static void connect_check(int family, const char *host)
{
	char port[16], err[256] = "", buf[32];
	struct io *io = NULL;
	int lfd = listen_on(family, port, sizeof(port)), cfd, one = 0;
	socklen_t sl = sizeof(one);
	size_t len;

	if (lfd < 0) {
		if (family == AF_INET6) {
			print_message("no IPv6 loopback here: not tested\n");
			return;
		}
		fail_msg("cannot listen on %s", host);
	}
	assert_int_equal(io_connect(host, port, 2000, &io, err, sizeof(err)),
	    0);
	cfd = accept(lfd, NULL, NULL);
	assert_true(cfd >= 0);
	assert_int_equal(getsockopt(io_fd(io), IPPROTO_TCP, TCP_NODELAY, &one,
	    &sl), 0);
	assert_int_equal(one, 1);
	assert_int_equal(write(cfd, "220 hi\r\n", 8), 8);
	assert_int_equal(io_readline(io, buf, sizeof(buf), &len, 1000), 0);
	assert_string_equal(buf, "220 hi");
	io_close(io);
	close(cfd);
	close(lfd);
}

static void test_io_connect_v4(void **state)
{
	(void)state;
	connect_check(AF_INET, "127.0.0.1");
}

static void test_io_connect_v6(void **state)
{
	(void)state;
	connect_check(AF_INET6, "::1");
}

static void test_io_connect_refused(void **state)
{
	char port[16], err[256] = "";
	struct io *io = (struct io *)&io;
	int lfd = listen_on(AF_INET, port, sizeof(port));

	(void)state;
	assert_true(lfd >= 0);
	close(lfd);             /* the port is now (almost surely) closed */
	assert_int_equal(io_connect("127.0.0.1", port, 2000, &io, err,
	    sizeof(err)), IO_ERR_CONNECT);
	assert_null(io);
	assert_non_null(strstr(err, "127.0.0.1"));
	assert_non_null(strstr(err, strerror(ECONNREFUSED)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_io_lines, pair_setup,
		    pair_teardown),
		cmocka_unit_test_setup_teardown(test_io_line_in_pieces,
		    pair_setup, pair_teardown),
		cmocka_unit_test_setup_teardown(test_io_nul_in_line,
		    pair_setup, pair_teardown),
		cmocka_unit_test_setup_teardown(test_io_toolong, pair_setup,
		    pair_teardown),
		cmocka_unit_test_setup_teardown(test_io_timeout, pair_setup,
		    pair_teardown),
		cmocka_unit_test_setup_teardown(test_io_closed, pair_setup,
		    pair_teardown),
		cmocka_unit_test_setup_teardown(test_io_write_buffered,
		    pair_setup, pair_teardown),
		cmocka_unit_test_setup_teardown(test_io_write_large,
		    pair_setup, pair_teardown),
		cmocka_unit_test_setup_teardown(test_io_write_timeout,
		    pair_setup, pair_teardown),
		cmocka_unit_test_setup_teardown(test_io_write_closed,
		    pair_setup, pair_teardown),
		cmocka_unit_test_setup_teardown(test_io_flush_wipes,
		    pair_setup, pair_teardown),
		cmocka_unit_test_setup_teardown(test_io_transport_switch,
		    pair_setup, pair_teardown),
		cmocka_unit_test(test_io_connect_v4),
		cmocka_unit_test(test_io_connect_v6),
		cmocka_unit_test(test_io_connect_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
