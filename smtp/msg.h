/*
 * msg — from the bytes a user wrote to what goes on the wire.
 *
 * msg_prepare reads a message file once, in bounded memory: it parses and
 * checks the header block, collects the envelope recipients from To, Cc
 * and Bcc, and scans the body (8-bit bytes, line lengths, size). The
 * header sent is rebuilt: Bcc removed, From, Date, Message-ID added when
 * missing, non-ASCII encoded (RFC 2047), MIME headers added for a
 * non-ASCII body. For a server without 8BITMIME, 8-bit text under the
 * user's own MIME headers is re-encoded quoted-printable (msg_7bit.c),
 * or the message is refused before MAIL FROM. msg_stream then produces the DATA bytes incrementally:
 * CRLF line ends only, dot-stuffed, never a bare CR or LF, the body
 * re-read from the file so a 50 MB message never sits in memory. It does
 * not add the final "." line; the client does.
 *
 * Knows nothing of FUSE, the spool or the network.
 *
 * Error convention: int functions return 0 on success, -1 on error with a
 * one-line reason in err ("no recipient: add a To:, Cc: or Bcc: line").
 */
#ifndef OUTBOXFS_MSG_H
#define OUTBOXFS_MSG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define MSG_MAX_HEADER   (256 * 1024)   /* header block cap, bytes */
#define MSG_MAX_RCPTS    1000
#define MSG_MAX_ADDR     320            /* RFC 5321: 64 + 1 + 255 */

/* What an alias stands for: NULL when LOCAL has no alias (and there is
 * no `default`); else *n addresses, borrowed from CTX. */
typedef const char *const *msg_alias_fn(void *ctx, const char *local,
    size_t *n);

enum msg_hdr_mode {
	MSG_HDR_AUTO = 0,         /* add the header when missing */
	MSG_HDR_ON,               /* always set it (From only) */
	MSG_HDR_OFF,              /* never add it */
};

/* Zero is what outboxfs did before these keys existed: From, Date and
 * Message-ID added when missing, Bcc removed, no DSN. */
struct msg_params {
	const char *from;         /* account's from: envelope sender and
	                           * From: when missing; may be NULL */
	const char *domain;       /* for Message-ID; NULL: "localhost" */
	uint64_t max_size;        /* 0: unlimited */
	time_t now;               /* for Date: and Message-ID */
	/* The envelope given by the submitter (outboxfs-sendmail -f and
	 * its recipients), NULL: none. env_from is the envelope sender
	 * (instead of from) and From: when the message has none; with
	 * env_rcpts the message goes to those and To/Cc/Bcc are not read
	 * for recipients (Bcc is still removed). */
	const char *env_from;
	const char *const *env_rcpts;
	size_t env_nrcpts;

	int no_from_override;     /* allow_from_override off: from wins
	                           * over env_from */
	/* Appended as "@DOMAIN" to every address without '@' (headers,
	 * envelope, aliases); NULL: such an address is an error. */
	const char *qualify_domain;
	msg_alias_fn *alias;      /* envelope recipients without '@' */
	void *alias_ctx;
	enum msg_hdr_mode set_from;   /* set_from_header */
	const char *from_full_name;   /* display name of an added From: */
	int undisclosed;          /* To/Cc/Bcc replaced by
	                           * "To: undisclosed-recipients:;" */
	int keep_bcc;             /* remove_bcc_headers off */
	int no_date;              /* set_date_header off */
	int no_msgid;             /* set_msgid_header off */
	const char *message_id;   /* the Message-ID to add to a message
	                           * without one: the one it was first
	                           * given (a retry); NULL: a new one */
	const char *dsn_notify;   /* "NEVER" or "SUCCESS,FAILURE,DELAY" */
	const char *dsn_ret;      /* "HDRS" or "FULL" */
	const char *dsn_envid;    /* ENVID (as given, xtext-encoded here);
	                           * NULL: the Message-ID when DSN is asked */
};

enum msg_body {
	MSG_BODY_7BIT = 0,        /* ASCII, lines <= 998: sent as written */
	MSG_BODY_8BIT,            /* 8-bit, lines <= 998: 8bit if the server
	                           * has 8BITMIME, else quoted-printable */
	MSG_BODY_QP,              /* has lines > 998: always quoted-printable */
	MSG_BODY_ASIS,            /* the user wrote MIME headers: sent as is */
};

struct msg {
	char *from;               /* envelope sender, bare address */
	char **rcpts;             /* envelope recipients, bare, deduplicated */
	size_t nrcpts;
	char *message_id;         /* "<...>" as sent */
	char *subject;            /* decoded-as-written, for .queue; may be "" */
	char *header;             /* the header block to send, CRLF line ends,
	                           * without the MIME lines msg_stream adds and
	                           * without the blank line */
	size_t header_len;
	off_t body_off;           /* where the body starts in the file */
	uint64_t body_len;        /* bytes of body in the file */
	enum msg_body body;
	int smtputf8;             /* an address is not ASCII */
	uint64_t size;            /* bytes on the wire: the larger of
	                           * size_8bit and size_7bit (max_size) */
	int body_8bit;            /* the body has bytes >= 0x80 (an ASIS
	                           * body is then sent with BODY=8BITMIME
	                           * where the server offers it) */
	char *dsn_notify;         /* NOTIFY= of each RCPT, or NULL */
	char *dsn_ret;            /* RET= of MAIL, or NULL */
	char *dsn_envid;          /* ENVID= of MAIL (xtext), or NULL */
	uint64_t size_8bit;       /* exact DATA bytes (without the final
	                           * ".") to a server with 8BITMIME */
	uint64_t size_7bit;       /* ... and to one without it */
	struct msg_7bit *to7;     /* private: how 8-bit bytes the MIME lines
	                           * leave alone are made 7-bit, or why they
	                           * cannot be; NULL when there are none */
	char *img;                /* the whole file (msg_keep_image), or
	                           * NULL: msg_stream reads its descriptor */
	size_t img_len;
};

/*
 * Reads the message from FD (from offset 0; FD stays open and owned by
 * the caller; msg_stream reads it again). Fills *m (zeroed first); on
 * error *m holds nothing to free.
 */
int msg_prepare(int fd, const struct msg_params *p, struct msg *m,
    char *err, size_t errlen);

/*
 * Where a message's bytes are: its file open as FD, read with pread(2);
 * or, when IMG is set, the whole file (LEN bytes) that the caller has
 * read already, so that preparing reads nothing more (FD is then not
 * read).
 */
struct msg_src {
	int fd;
	const char *img;
	size_t len;
};

/* msg_prepare from SRC. */
int msg_prepare_src(const struct msg_src *src, const struct msg_params *p,
    struct msg *m, char *err, size_t errlen);

/*
 * Gives M the whole message file IMG (LEN bytes, from malloc; M frees
 * it): msg_stream then sends from it and never reads its descriptor, so
 * a message is read once for preparing and sending.
 */
void msg_keep_image(struct msg *m, char *img, size_t len);

void msg_free(struct msg *m);

/*
 * Whether M can go to a server without 8BITMIME: 0 when it is 7-bit or
 * outboxfs makes it so (a text body or text parts under the user's own
 * MIME headers become quoted-printable); -1 with the error, and what to
 * fix, in err (8-bit data in a part that is not text, "binary", a
 * malformed multipart, 8-bit bytes in a header).
 */
int msg_check_7bit(const struct msg *m, char *err, size_t errlen);

/* The exact DATA size msg_stream produces for EIGHTBIT_OK. */
uint64_t msg_size(const struct msg *m, int eightbit_ok);

/*
 * Parses one address list (the value of a To/Cc/Bcc header, unfolded)
 * and appends each bare address to *list (*n entries, caller frees each
 * and the array). Display names, quoted local parts, comments, groups and
 * angle brackets are understood. Returns -1 with the offending address
 * and the reason in err.
 */
int msg_parse_addrlist(const char *value, size_t len, char ***list,
    size_t *n, char *err, size_t errlen);

/* 0 when ADDR (bare, NUL-terminated) is a valid RFC 5321 mailbox;
 * otherwise -1 with the reason in err. */
int msg_check_addr(const char *addr, char *err, size_t errlen);

/*
 * The DATA stream of a prepared message. eightbit_ok: the server offered
 * 8BITMIME (decides 8bit vs quoted-printable for MSG_BODY_8BIT).
 */
struct msg_stream;

/* *out owned by caller (msg_stream_free). M and FD borrowed until then
 * (FD is not read, and may be -1, when M keeps its image).
 * Without 8BITMIME, -1 with msg_check_7bit's error when M cannot be
 * made 7-bit: the stream never yields a byte >= 0x80 then. */
int msg_stream_open(const struct msg *m, int fd, int eightbit_ok,
    struct msg_stream **out, char *err, size_t errlen);

/* Whether MAIL FROM needs BODY=8BITMIME for this stream. */
int msg_stream_8bit(const struct msg_stream *s);
/* The same for M sent to a server that offers 8BITMIME (EIGHTBIT_OK)
 * or not, before any stream is open. */
int msg_sends_8bit(const struct msg *m, int eightbit_ok);

/*
 * Fills BUF with up to CAP wire bytes (CAP >= 1024). Returns the count, 0
 * at the end (the last line always ended in CRLF), or -1 with err filled
 * (file read error).
 */
ssize_t msg_stream_read(struct msg_stream *s, char *buf, size_t cap,
    char *err, size_t errlen);

void msg_stream_free(struct msg_stream *s);

/*
 * A streaming encoder that turns arbitrary chunks of text into SMTP DATA
 * lines: LF, CRLF and a bare CR all become CRLF; a line starting with '.'
 * gets another '.'. Used by msg_stream; exposed for unit tests.
 */
struct msg_dotstuff {
	int at_bol;               /* next byte starts a line */
	int saw_cr;               /* last input byte was a CR */
};

void msg_dotstuff_init(struct msg_dotstuff *d);

/*
 * Encodes LEN bytes of IN into OUT (which must hold 2 * LEN + 2 bytes);
 * returns the bytes written.
 */
size_t msg_dotstuff(struct msg_dotstuff *d, const char *in, size_t len,
    char *out);

/* Ends the text: writes CRLF if the last line had none (OUT holds 2). */
size_t msg_dotstuff_finish(struct msg_dotstuff *d, char *out);

/*
 * A streaming quoted-printable encoder (RFC 2045 6.7) for a text body:
 * LF, CRLF and a bare CR are hard line breaks (CRLF out); other bytes
 * outside 33..126, and '=', become =XX; a space or tab before a line
 * break is encoded; output lines are at most 76 characters, with soft
 * breaks ("=" CRLF). Used by msg_stream; exposed for unit tests.
 */
struct msg_qp {
	int linelen;              /* characters on the current output line */
	int pending;              /* a space or tab held back, or 0 */
	int saw_cr;               /* last input byte was a CR */
	int nodash;               /* a '-' that starts an output line is
	                           * encoded, so no line looks like a MIME
	                           * boundary; 0 after msg_qp_init */
};

#define MSG_QP_OUT(len) (6 * (size_t)(len) + 16)

void msg_qp_init(struct msg_qp *q);

/* Encodes LEN bytes of IN into OUT (which holds MSG_QP_OUT(LEN) bytes);
 * returns the bytes written. */
size_t msg_qp(struct msg_qp *q, const char *in, size_t len, char *out);

/* Flushes a held-back space (OUT holds 16); the last line may stay
 * without a line end (msg_dotstuff_finish adds it). */
size_t msg_qp_finish(struct msg_qp *q, char *out);

/*
 * "Attach: PATH" pseudo-headers, expanded once when a message is
 * submitted. When the message in IN_FD has no Attach: line, returns 1 and
 * writes nothing. Otherwise writes to OUT_FD a complete new message (the
 * original header without Attach: lines, a multipart/mixed body: the text
 * as its first part, each file as a base64 part) and returns 0. PATH is
 * absolute or starts with "~/" (the home of UID); each file is opened
 * with the permissions of UID/GID and must be a regular file. -1 with err
 * naming the path when one cannot be read; OUT_FD may then hold a partial
 * result for the caller to discard. Both FDs borrowed.
 */
#define MSG_MAX_ATTACH 64

int msg_attach_expand(int in_fd, int out_fd, uid_t uid, gid_t gid,
    char *err, size_t errlen);

#endif
