/*
 * io — a buffered, deadline-bounded byte stream to an SMTP server.
 *
 * The bytes travel over a transport (plain TCP today, TLS after STARTTLS
 * or for implicit TLS); the protocol code above only sees lines and
 * buffers. Knows nothing of SMTP, FUSE or the spool.
 *
 * Error convention: functions returning int return 0 on success or a
 * negative enum io_err; *err text, where a buffer is given, says what
 * happened ("connect to 127.0.0.1:25: Connection refused").
 */
#ifndef OUTBOXFS_IO_H
#define OUTBOXFS_IO_H

#include <stddef.h>
#include <sys/types.h>

enum io_err {
	IO_OK = 0,
	IO_ERR_CONNECT = -1,    /* name lookup or connect failed */
	IO_ERR_TIMEOUT = -2,    /* deadline passed */
	IO_ERR_CLOSED = -3,     /* peer closed the connection */
	IO_ERR_NET = -4,        /* other socket error (errno saved) */
	IO_ERR_TLS = -5,        /* TLS layer error */
	IO_ERR_TOOLONG = -6,    /* a line longer than the caller's buffer */
	IO_ERR_NOMEM = -7,
};

/*
 * A transport moves bytes; read and write may return fewer than asked.
 * They return the count, or a negative enum io_err. timeout_ms < 0 waits
 * forever (never used by the client). The socket is non-blocking: a
 * transport waits with poll() on io_fd() and must not raise SIGPIPE.
 */
struct io_transport {
	const char *name;                      /* "tcp", "tls" */
	ssize_t (*read)(void *ctx, void *buf, size_t len, int timeout_ms);
	ssize_t (*write)(void *ctx, const void *buf, size_t len, int timeout_ms);
	/* Bytes the transport holds already decrypted (TLS), else 0. */
	size_t (*pending)(void *ctx);
	void (*close)(void *ctx);              /* frees ctx, does not close fd */
};

struct io;

/*
 * Connects to HOST:PORT (IPv4 or IPv6, each address in turn) within
 * timeout_ms, sets TCP_NODELAY. *out owned by the caller (io_close).
 */
int io_connect(const char *host, const char *port, int timeout_ms,
    struct io **out, char *err, size_t errlen);

/* io_connect, with the socket bound to SOURCE (an IP literal) first when
 * SOURCE is not NULL; only addresses of SOURCE's family are tried. HOST
 * may be an IPv6 literal in brackets. */
int io_connect_from(const char *host, const char *port, const char *source,
    int timeout_ms, struct io **out, char *err, size_t errlen);

/* Wraps an already-connected socket (e.g. a socketpair in unit tests).
 * The io owns FD from now on. */
int io_from_fd(int fd, struct io **out);

int io_fd(const struct io *io);

/*
 * Reads one line ending in LF. The line (without CR LF / LF) is copied to
 * BUF, NUL-terminated, its length in *len. A line longer than cap - 1 is
 * read to its end and discarded: IO_ERR_TOOLONG, and the stream stays in
 * step.
 */
int io_readline(struct io *io, char *buf, size_t cap, size_t *len,
    int timeout_ms);

/* Appends to the write buffer (flushing as it fills, within timeout_ms). */
int io_write(struct io *io, const void *buf, size_t len, int timeout_ms);

/* Sends everything buffered. */
int io_flush(struct io *io, int timeout_ms);
/* Bytes written and not flushed yet; bytes that can still be written
 * without a flush. */
size_t io_buffered(const struct io *io);
size_t io_room(const struct io *io);
/* Drops what was written after the first LEN bytes not flushed yet. */
void io_unwrite(struct io *io, size_t len);
/* Bytes the last io_flush handed to the kernel before it returned (all
 * of them when it succeeded; fewer when it failed). */
size_t io_flushed(const struct io *io);

/* Bytes received and buffered but not yet read by the caller, in this
 * layer and in the transport (STARTTLS response-injection check). */
size_t io_pending(const struct io *io);

/*
 * Replaces the transport (STARTTLS, implicit TLS). Fails if bytes are
 * pending. The io keeps ownership of CTX and calls t->close at io_close.
 */
int io_set_transport(struct io *io, const struct io_transport *t, void *ctx);

/* The errno behind the last IO_ERR_NET / IO_ERR_CLOSED, or 0. */
int io_last_errno(const struct io *io);

/* A short static text for an enum io_err ("timed out"). */
const char *io_err_text(int e);

/* The current transport's name: "tcp" or "tls". Borrowed. */
const char *io_transport_name(const struct io *io);

/* The ctx given to io_set_transport when T is the current transport,
 * else NULL (TLS details for the status line and the probe). Borrowed. */
void *io_transport_ctx(const struct io *io, const struct io_transport *t);

/* Closes the socket and frees everything. NULL is fine. */
void io_close(struct io *io);

/* Deadlines, shared with the TLS transport and the session, on the
 * monotonic clock (util/clock.h) in milliseconds: a deadline timeout_ms
 * from now (-1 when timeout_ms < 0: none); the milliseconds left until
 * DEADLINE, never negative (-1 for none). */
long long io_deadline(int timeout_ms);
int io_left(long long deadline);

/* Waits until FD is ready for EVENTS (POLLIN, POLLOUT) within
 * timeout_ms, retrying after signals. 0, IO_ERR_TIMEOUT or IO_ERR_NET. */
int io_wait(int fd, short events, int timeout_ms);

#endif
