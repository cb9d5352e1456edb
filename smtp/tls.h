/*
 * tls — TLS for the SMTP client: a client handshake on a connected
 * socket, then an io transport (io.h) that encrypts from there on.
 *
 * Safe by default: TLS 1.2 or newer, the certificate verified against
 * the system store (or tls_trust_file) with the host name (or IP address)
 * checked by OpenSSL; a pinned SHA-256 fingerprint replaces the CA check;
 * no verification only when tls_certcheck off was written.
 *
 * Also the session hooks smtp_tls_connect and smtp_starttls (see
 * session.h), which talk to the server through chat.h. Knows nothing of
 * FUSE or the spool.
 *
 * Error convention: 0 on success, -1 with one line in err that says what
 * failed and, where the user can act, what to do.
 */
#ifndef OUTBOXFS_TLS_H
#define OUTBOXFS_TLS_H

#include <stddef.h>

struct io;
struct smtp_error;
struct smtp_session;

struct tls_params {
	const char *host;           /* name (or IP literal) to verify, SNI
	                             * (tls_host_override when given) */
	int certcheck;              /* 0 only when the user wrote off */
	const char *trust_file;     /* NULL or "system": the system store */
	const char *fingerprint;    /* SHA-256 "AB:CD:.."; replaces the CA */
	const char *cert_file;      /* client certificate (PEM), or NULL */
	const char *key_file;       /* its key (PEM), or NULL */
	const char *crl_file;       /* PEM CRLs, checked for the whole chain */
	int min_version, max_version;   /* 0: TLS 1.2 / the newest */
	int seclevel;               /* 0: OpenSSL's; else at least this */
	int no_tickets;
};

/* What the handshake negotiated and the server's certificate. */
struct tls_info {
	char version[16];           /* "TLSv1.3" */
	char cipher[64];            /* "TLS_AES_256_GCM_SHA384" */
	int verified;               /* 1: CA chain and name, or the pin */
	int pinned;                 /* 1: verified by tls_fingerprint */
	char subject[256];          /* RFC 2253: "CN=mail.example.com" */
	char issuer[256];
	char names[256];            /* names the certificate is for */
	char not_before[24];        /* "2026-11-28T16:00:00Z" */
	char not_after[24];
	char fingerprint[96];       /* SHA-256 of the DER, "AB:CD:..." */
};

/*
 * Runs a TLS client handshake over IO's socket within timeout_ms and, on
 * success, makes TLS IO's transport (io_set_transport). INFO, if not
 * NULL, is filled also when verification fails (so the error can show
 * the certificate). IO must have nothing buffered.
 */
int tls_start(struct io *io, const struct tls_params *p, int timeout_ms,
    struct tls_info *info, char *err, size_t errlen);

/* INFO of IO's TLS transport; -1 when IO does not speak TLS. */
int tls_get_info(const struct io *io, struct tls_info *info);

/* The same for a session (for `outboxfs --probe`). */
int smtp_tls_info(const struct smtp_session *s, struct tls_info *info);

/*
 * The session hooks (session.h): the handshake right after connect for
 * implicit TLS; STARTTLS after the first EHLO (offered, 220, nothing
 * sent ahead of the handshake). 0, or -1 with *err filled.
 */
int smtp_tls_connect(struct smtp_session *s, struct smtp_error *err);
int smtp_starttls(struct smtp_session *s, struct smtp_error *err);

/*
 * Normalizes a tls_fingerprint as written ("ab:cd:.." or "ABCD..") into
 * upper-case hex with colons. -1 unless it is a SHA-256 (32 bytes).
 */
int tls_fingerprint_norm(const char *in, char *out, size_t outlen);

#endif
