/*
 * io — buffered, deadline-bounded byte stream to an SMTP server.
 *
 * The socket is non-blocking from connect on; every wait is a poll()
 * bounded by the caller's deadline, so no read or write can hang past
 * its timeout. Reads are buffered (IO_RBUF) and lines are capped by the
 * caller's buffer; writes are buffered (IO_WBUF) and reach the network
 * only on io_flush or when the buffer fills. The plain TCP transport
 * lives here; TLS replaces it with io_set_transport.
 *
 * Must never block without a deadline, raise SIGPIPE, or keep bytes of
 * one connection readable after a transport switch (STARTTLS injection).
 * What was written is wiped from the write buffer once sent (or dropped):
 * AUTH lines carry credentials, and nothing else may read them later.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "smtp/io.h"
#include "util/clock.h"

#define IO_RBUF  8192
#define IO_WBUF  65536

struct io {
	int fd;
	int last_errno;
	const struct io_transport *t;
	void *ctx;
	size_t rpos, rlen;
	size_t wlen;
	size_t flushed;          /* bytes of the last io_flush handed to
	                          * the kernel (all of them on success) */
	char rbuf[IO_RBUF];
	char wbuf[IO_WBUF];
};

long long io_deadline(int timeout_ms)
{
	return timeout_ms < 0 ? -1 : clock_mono_ms() + timeout_ms;
}

int io_left(long long deadline)
{
	long long left;

	if (deadline < 0)
		return -1;
	left = deadline - clock_mono_ms();
	if (left < 0)
		return 0;
	return left > 0x7fffffff ? 0x7fffffff : (int)left;
}

int io_wait(int fd, short events, int timeout_ms)
{
	long long deadline = io_deadline(timeout_ms);
	struct pollfd pfd;
	int rc;

	for (;;) {
		pfd.fd = fd;
		pfd.events = events;
		pfd.revents = 0;
		rc = poll(&pfd, 1, io_left(deadline));
		if (rc > 0)
			return 0;
		if (rc == 0)
			return IO_ERR_TIMEOUT;
		if (errno != EINTR)
			return IO_ERR_NET;
	}
}

/* The plain TCP transport; its ctx is the struct io itself. */

static ssize_t io_tcp_read(void *ctx, void *buf, size_t len, int timeout_ms)
{
	struct io *io = ctx;
	long long deadline = io_deadline(timeout_ms);
	ssize_t n;
	int rc;

	for (;;) {
		n = recv(io->fd, buf, len, 0);
		if (n > 0)
			return n;
		if (n == 0)
			return IO_ERR_CLOSED;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			io->last_errno = errno;
			return errno == ECONNRESET ? IO_ERR_CLOSED : IO_ERR_NET;
		}
		rc = io_wait(io->fd, POLLIN, io_left(deadline));
		if (rc < 0) {
			io->last_errno = errno;
			return rc;
		}
	}
}

static ssize_t io_tcp_write(void *ctx, const void *buf, size_t len,
    int timeout_ms)
{
	struct io *io = ctx;
	long long deadline = io_deadline(timeout_ms);
	ssize_t n;
	int rc;

	for (;;) {
		n = send(io->fd, buf, len, MSG_NOSIGNAL);
		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			io->last_errno = errno;
			return (errno == EPIPE || errno == ECONNRESET) ?
			    IO_ERR_CLOSED : IO_ERR_NET;
		}
		rc = io_wait(io->fd, POLLOUT, io_left(deadline));
		if (rc < 0) {
			io->last_errno = errno;
			return rc;
		}
	}
}

static size_t io_tcp_pending(void *ctx)
{
	(void)ctx;
	return 0;
}

static void io_tcp_close(void *ctx)
{
	(void)ctx;      /* the fd is closed by io_close */
}

static const struct io_transport io_tcp = {
	.name = "tcp",
	.read = io_tcp_read,
	.write = io_tcp_write,
	.pending = io_tcp_pending,
	.close = io_tcp_close,
};

static int io_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -1;
	return 0;
}

int io_from_fd(int fd, struct io **out)
{
	struct io *io;

	*out = NULL;
	if (io_nonblock(fd) < 0)
		return IO_ERR_NET;
	io = calloc(1, sizeof(*io));
	if (io == NULL)
		return IO_ERR_NOMEM;
	io->fd = fd;
	io->t = &io_tcp;
	io->ctx = io;
	*out = io;
	return IO_OK;
}

static void io_addr_name(const struct addrinfo *ai, char *buf, size_t len)
{
	if (getnameinfo(ai->ai_addr, ai->ai_addrlen, buf, len, NULL, 0,
	    NI_NUMERICHOST) != 0)
		snprintf(buf, len, "?");
}

/* One connect attempt within timeout_ms: the fd, or -1 with errno. */
static int io_try(const struct addrinfo *ai, const struct addrinfo *src,
    int timeout_ms)
{
	int fd, rc, soerr = 0, saved;
	socklen_t sl = sizeof(soerr);

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, ai->ai_protocol);
	if (fd < 0)
		return -1;
	if (src != NULL && bind(fd, src->ai_addr, src->ai_addrlen) != 0)
		goto fail;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		return fd;
	if (errno != EINPROGRESS && errno != EINTR)
		goto fail;
	rc = io_wait(fd, POLLOUT, timeout_ms);
	if (rc == IO_ERR_TIMEOUT) {
		errno = ETIMEDOUT;
		goto fail;
	}
	if (rc < 0)
		goto fail;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
		goto fail;
	if (soerr != 0) {
		errno = soerr;
		goto fail;
	}
	return fd;
fail:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

/* "host:port", "[v6]:port" for an IPv6 literal. */
static void io_hostport(const char *host, const char *port, char *buf,
    size_t cap)
{
	if (snprintf(buf, cap, strchr(host, ':') != NULL ? "[%s]:%s" :
	    "%s:%s", host, port) < 0 && cap > 0)
		buf[0] = '\0';
}

/* HOST without the brackets of "[2001:db8::1]" into BUF. */
static const char *io_unbracket(const char *host, char *buf, size_t cap)
{
	size_t n = strlen(host);

	if (n >= 2 && host[0] == '[' && host[n - 1] == ']' && n - 2 < cap) {
		memcpy(buf, host + 1, n - 2);
		buf[n - 2] = '\0';
		return buf;
	}
	return host;
}

int io_connect(const char *host, const char *port, int timeout_ms,
    struct io **out, char *err, size_t errlen)
{
	return io_connect_from(host, port, NULL, timeout_ms, out, err,
	    errlen);
}

int io_connect_from(const char *host, const char *port, const char *source,
    int timeout_ms, struct io **out, char *err, size_t errlen)
{
	struct addrinfo hints, *res = NULL, *ai, *src = NULL;
	long long deadline = io_deadline(timeout_ms);
	char addr[64] = "", ebuf[128], hb[300], hp[320];
	int rc, fd = -1, last = 0, left, one = 1;
	size_t naddr = 0;

	*out = NULL;
	host = io_unbracket(host, hb, sizeof(hb));
	io_hostport(host, port, hp, sizeof(hp));
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if (source != NULL) {
		char sb[300];

		hints.ai_family = AF_UNSPEC;
		hints.ai_flags = AI_NUMERICHOST | AI_PASSIVE;
		rc = getaddrinfo(io_unbracket(source, sb, sizeof(sb)), NULL,
		    &hints, &src);
		if (rc != 0 || src == NULL) {
			snprintf(err, errlen, "source_ip %s is not an IP "
			    "address: %s", source, rc == 0 ? "none" :
			    gai_strerror(rc));
			return IO_ERR_CONNECT;
		}
		hints.ai_flags = 0;
	}
	hints.ai_family = src != NULL ? src->ai_family : AF_UNSPEC;
	/* No AI_ADDRCONFIG: it hides ::1 on hosts with IPv6 on loopback
	 * only; an unusable family just fails fast and the next is tried. */
	/* getaddrinfo has no timeout of its own; the resolver's apply. */
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0) {
		snprintf(err, errlen, "cannot resolve %s%s%s: %s", hp,
		    src != NULL ? " for source_ip " : "",
		    src != NULL ? source : "",
		    rc == EAI_SYSTEM ? strerror_r(errno, ebuf, sizeof(ebuf)) :
		    gai_strerror(rc));
		if (src != NULL)
			freeaddrinfo(src);
		return IO_ERR_CONNECT;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next)
		naddr++;
	for (ai = res; ai != NULL && fd < 0; ai = ai->ai_next, naddr--) {
		/* Share what is left among the addresses not yet tried, so
		 * one black-holed address cannot use up the whole budget. */
		left = io_left(deadline);
		if (left == 0 && deadline >= 0) {
			last = ETIMEDOUT;
			break;
		}
		if (left > 0 && naddr > 1)
			left /= (int)naddr;
		io_addr_name(ai, addr, sizeof(addr));
		fd = io_try(ai, src, left);
		if (fd < 0)
			last = errno;
	}
	freeaddrinfo(res);
	if (src != NULL)
		freeaddrinfo(src);
	if (fd < 0) {
		if (last == ETIMEDOUT)
			snprintf(err, errlen, "connect to %s (%s): timed out "
			    "after %d ms", hp, addr, timeout_ms);
		else
			snprintf(err, errlen, "connect to %s (%s)%s%s: %s",
			    hp, addr, source != NULL ? " from " : "",
			    source != NULL ? source : "",
			    strerror_r(last, ebuf, sizeof(ebuf)));
		return last == ETIMEDOUT ? IO_ERR_TIMEOUT : IO_ERR_CONNECT;
	}
	/* Commands are written whole by io_flush: no need to wait for more. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	rc = io_from_fd(fd, out);
	if (rc < 0) {
		close(fd);
		snprintf(err, errlen, "connect to %s: out of memory", hp);
	}
	return rc;
}

int io_fd(const struct io *io)
{
	return io->fd;
}

int io_last_errno(const struct io *io)
{
	return io->last_errno;
}

const char *io_err_text(int e)
{
	switch (e) {
	case IO_OK:             return "ok";
	case IO_ERR_CONNECT:    return "connect failed";
	case IO_ERR_TIMEOUT:    return "timed out";
	case IO_ERR_CLOSED:     return "connection closed by server";
	case IO_ERR_NET:        return "network error";
	case IO_ERR_TLS:        return "TLS error";
	case IO_ERR_TOOLONG:    return "line too long";
	case IO_ERR_NOMEM:      return "out of memory";
	}
	return "unknown error";
}

/* Reads more bytes into rbuf (which must have room). */
static int io_fill(struct io *io, long long deadline)
{
	ssize_t n;

	if (io->rpos > 0) {
		memmove(io->rbuf, io->rbuf + io->rpos, io->rlen - io->rpos);
		io->rlen -= io->rpos;
		io->rpos = 0;
	}
	/* A passed deadline still tries once: bytes may be waiting. */
	n = io->t->read(io->ctx, io->rbuf + io->rlen,
	    sizeof(io->rbuf) - io->rlen, io_left(deadline));
	if (n < 0)
		return (int)n;
	io->rlen += (size_t)n;
	return IO_OK;
}

int io_readline(struct io *io, char *buf, size_t cap, size_t *len,
    int timeout_ms)
{
	long long deadline = io_deadline(timeout_ms);
	size_t have = 0;        /* bytes of this line copied so far */
	int toolong = 0, rc;

	*len = 0;
	if (cap == 0)
		return IO_ERR_TOOLONG;
	buf[0] = '\0';
	for (;;) {
		char *start = io->rbuf + io->rpos;
		size_t avail = io->rlen - io->rpos;
		char *nl = memchr(start, '\n', avail);
		size_t take = nl != NULL ? (size_t)(nl - start) : avail;

		if (!toolong) {
			/* cap, not cap - 1: a CR in the last byte goes. */
			if (have + take > cap) {
				toolong = 1;
			} else {
				memcpy(buf + have, start, take);
				have += take;
			}
		}
		io->rpos += take;
		if (nl != NULL) {
			io->rpos++;     /* the LF */
			break;
		}
		io->rpos = io->rlen = 0;
		rc = io_fill(io, deadline);
		if (rc < 0)
			return rc;
	}
	if (!toolong && have > 0 && buf[have - 1] == '\r')
		have--;
	if (toolong || have > cap - 1)
		return IO_ERR_TOOLONG;
	buf[have] = '\0';
	*len = have;
	return IO_OK;
}

static int io_send_all(struct io *io, const char *p, size_t len,
    long long deadline)
{
	ssize_t n;

	while (len > 0) {
		n = io->t->write(io->ctx, p, len, io_left(deadline));
		if (n < 0)
			return (int)n;
		p += n;
		len -= (size_t)n;
	}
	return IO_OK;
}

/* Sends the write buffer, then wipes it whatever happened: on error the
 * stream is unusable anyway (io->flushed says how far it got). */
static int io_send_wbuf(struct io *io, long long deadline)
{
	const char *p = io->wbuf;
	size_t len = io->wlen;
	ssize_t n;
	int rc = IO_OK;

	io->flushed = 0;
	while (len > 0) {
		n = io->t->write(io->ctx, p, len, io_left(deadline));
		if (n < 0) {
			rc = (int)n;
			break;
		}
		p += n;
		len -= (size_t)n;
		io->flushed += (size_t)n;
	}
	explicit_bzero(io->wbuf, io->wlen);
	io->wlen = 0;
	return rc;
}

int io_flush(struct io *io, int timeout_ms)
{
	io->flushed = 0;
	if (io->wlen == 0)
		return IO_OK;
	return io_send_wbuf(io, io_deadline(timeout_ms));
}

size_t io_buffered(const struct io *io)
{
	return io->wlen;
}

size_t io_room(const struct io *io)
{
	return sizeof(io->wbuf) - io->wlen;
}

void io_unwrite(struct io *io, size_t len)
{
	if (len < io->wlen) {
		explicit_bzero(io->wbuf + len, io->wlen - len);
		io->wlen = len;
	}
}

size_t io_flushed(const struct io *io)
{
	return io->flushed;
}

int io_write(struct io *io, const void *buf, size_t len, int timeout_ms)
{
	long long deadline = io_deadline(timeout_ms);
	const char *p = buf;
	size_t room;
	int rc;

	while (len > 0) {
		room = sizeof(io->wbuf) - io->wlen;
		if (room == 0) {
			rc = io_send_wbuf(io, deadline);
			if (rc < 0)
				return rc;
			continue;
		}
		if (io->wlen == 0 && len >= sizeof(io->wbuf))
			return io_send_all(io, p, len, deadline);
		if (room > len)
			room = len;
		memcpy(io->wbuf + io->wlen, p, room);
		io->wlen += room;
		p += room;
		len -= room;
	}
	return IO_OK;
}

size_t io_pending(const struct io *io)
{
	return (io->rlen - io->rpos) + io->t->pending(io->ctx);
}

int io_set_transport(struct io *io, const struct io_transport *t, void *ctx)
{
	if (io_pending(io) > 0 || io->wlen > 0)
		return IO_ERR_NET;
	if (io->t->close != NULL)
		io->t->close(io->ctx);
	io->t = t;
	io->ctx = ctx;
	io->rpos = io->rlen = 0;
	return IO_OK;
}

const char *io_transport_name(const struct io *io)
{
	return io->t->name;
}

void *io_transport_ctx(const struct io *io, const struct io_transport *t)
{
	return io->t == t ? io->ctx : NULL;
}

void io_close(struct io *io)
{
	if (io == NULL)
		return;
	if (io->t->close != NULL)
		io->t->close(io->ctx);
	if (io->fd >= 0)
		close(io->fd);
	explicit_bzero(io->wbuf, io->wlen);
	free(io);
}
