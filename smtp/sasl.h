/*
 * sasl — the client side of the SASL mechanisms SMTP AUTH uses (RFC 4954):
 * PLAIN (RFC 4616), LOGIN, CRAM-MD5 (RFC 2195), SCRAM-SHA-1 and
 * SCRAM-SHA-256 (RFC 5802, 7677), XOAUTH2 and OAUTHBEARER (RFC 7628).
 *
 * Pure computation: no I/O, no transcript. Challenges go in and responses
 * come out already base64-decoded; the SMTP client does the encoding with
 * sasl_b64_encode / sasl_b64_decode. Every response holds a secret or
 * something derived from one: it is wiped when freed and must never be
 * logged. No global state; one struct sasl per exchange.
 *
 * Error convention: int functions return 0 on success, -1 on error with
 * one line in err ("SCRAM: the server's nonce does not start with ours").
 * An error text never contains the secret.
 */
#ifndef OUTBOXFS_SASL_H
#define OUTBOXFS_SASL_H

#include <stddef.h>

/* Highest SCRAM iteration count accepted from a server: a hostile server
 * must not make us spend minutes in PBKDF2. */
#define SASL_SCRAM_MAX_ITER   100000u
/* Longest user name, secret or challenge handled, bytes. */
#define SASL_MAX_FIELD        8192u

struct sasl_params {
	const char *mech;        /* "PLAIN", ... (case-insensitive) */
	const char *user;
	const char *secret;      /* password, or the OAuth token */
	const char *host;        /* OAUTHBEARER host=; may be NULL */
	const char *port;        /* OAUTHBEARER port=; may be NULL */
	/* Tests only: the SCRAM client nonce to use instead of 24 bytes from
	 * RAND_bytes. NULL in the daemon. */
	const char *test_nonce;
};

struct sasl;

/*
 * Picks the strongest mechanism in SERVER_MECHS (the EHLO AUTH list,
 * space-separated) that we have, in the order SCRAM-SHA-256, SCRAM-SHA-1,
 * CRAM-MD5, PLAIN, LOGIN. XOAUTH2 and OAUTHBEARER are never picked: their
 * secret is a token, so the user must name them. Returns a static string,
 * or NULL when nothing matches.
 */
const char *sasl_pick(const char *server_mechs);

/* 1 when NAME is a mechanism we implement (case-insensitive). */
int sasl_supported(const char *name);

/* 1 when MECHS (space-separated) lists NAME (case-insensitive). */
int sasl_offered(const char *mechs, const char *name);

/*
 * Starts an exchange. P's strings are copied (the copy of the secret is
 * wiped by sasl_free). *out owned by the caller: sasl_free.
 */
int sasl_new(const struct sasl_params *p, struct sasl **out, char *err,
    size_t errlen);

/* The canonical upper-case name: "SCRAM-SHA-256". Borrowed from S. */
const char *sasl_name(const struct sasl *s);

/*
 * The initial response to send with the AUTH command. *out is NULL when
 * the mechanism waits for the server's first challenge (LOGIN, CRAM-MD5).
 * *out (NUL-terminated, *outlen bytes) owned by the caller: sasl_wipe.
 */
int sasl_start(struct sasl *s, unsigned char **out, size_t *outlen,
    char *err, size_t errlen);

/*
 * One server challenge (a 334 reply, decoded) in, the response out.
 * *out (NUL-terminated, may be empty) owned by the caller: sasl_wipe.
 * Fails on anything a correct server would not send (SCRAM: wrong nonce,
 * missing fields, iteration count 0 or above SASL_SCRAM_MAX_ITER, a
 * wrong server signature, "e=" errors).
 */
int sasl_step(struct sasl *s, const unsigned char *in, size_t inlen,
    unsigned char **out, size_t *outlen, char *err, size_t errlen);

/*
 * The server accepted (235). Fails when the mechanism required the server
 * to prove itself and it has not (SCRAM without a verified "v=").
 */
int sasl_done(const struct sasl *s, char *err, size_t errlen);

/* For an OAuth mechanism, the server's error (a JSON document) seen in a
 * challenge, sanitized, or "". Borrowed from S. */
const char *sasl_server_error(const struct sasl *s);

/* Wipes and frees S. NULL is fine. */
void sasl_free(struct sasl *s);

/* Wipes LEN bytes of BUF and frees it. NULL is fine. */
void sasl_wipe(unsigned char *buf, size_t len);

/*
 * Base64 (RFC 4648, with padding). Encode: *out NUL-terminated, owned by
 * the caller (sasl_wipe with strlen). Decode accepts only the canonical
 * alphabet with correct padding (no white space); *out NUL-terminated,
 * owned by the caller (sasl_wipe). Return 0, or -1 for bad input or no
 * memory.
 */
int sasl_b64_encode(const unsigned char *in, size_t len, char **out);
int sasl_b64_decode(const char *in, size_t len, unsigned char **out,
    size_t *outlen);

#endif
