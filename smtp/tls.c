/*
 * tls — OpenSSL client handshake and the TLS io transport; the STARTTLS
 * and implicit-TLS hooks of the session. See tls.h.
 *
 * Must never: fall back to plain text when TLS was asked for, accept a
 * certificate OpenSSL did not verify (unless pinned or certcheck off was
 * written), match host names itself (SSL_set1_host does), block without
 * a deadline, raise SIGPIPE (the socket BIO below sends with
 * MSG_NOSIGNAL), or keep global state.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "smtp/io.h"
#include "smtp/chat.h"
#include "smtp/tls.h"

struct tls_conn {
	SSL_CTX *ctx;
	SSL *ssl;
	BIO_METHOD *meth;
	int fd;
	long verify_err;        /* the first error the chain check found */
	int have_leaf;          /* info holds the leaf's details */
	struct tls_info info;
};

/* ---- a socket BIO that never raises SIGPIPE -------------------------- */

static int tls_bio_write(BIO *b, const char *buf, size_t len, size_t *done)
{
	int fd = (int)(intptr_t)BIO_get_data(b);
	ssize_t n;

	BIO_clear_retry_flags(b);
	do
		n = send(fd, buf, len, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			BIO_set_retry_write(b);
		return 0;
	}
	*done = (size_t)n;
	return 1;
}

static int tls_bio_read(BIO *b, char *buf, size_t len, size_t *done)
{
	int fd = (int)(intptr_t)BIO_get_data(b);
	ssize_t n;

	BIO_clear_retry_flags(b);
	do
		n = recv(fd, buf, len, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			BIO_set_retry_read(b);
		return 0;
	}
	if (n == 0)
		return 0;       /* EOF: no retry flag */
	*done = (size_t)n;
	return 1;
}

static long tls_bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)b; (void)num; (void)ptr;
	return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int tls_bio_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

/*
 * A fixed type number, not BIO_get_new_index(): that draws from a
 * process-wide counter on every call, and a method is made per
 * connection. After 128 connections OpenSSL 3.0 hands out numbers that
 * spill into the type flag bits (0x100 reads as a descriptor BIO) and
 * later releases return -1 (every flag set). Nothing looks this type up;
 * it only has to stay in the index range.
 */
#define TLS_BIO_TYPE  (0xfe | BIO_TYPE_SOURCE_SINK)

static BIO_METHOD *tls_bio_method(void)
{
	BIO_METHOD *m = BIO_meth_new(TLS_BIO_TYPE, "outboxfs socket");

	if (m == NULL)
		return NULL;
	if (!BIO_meth_set_write_ex(m, tls_bio_write) ||
	    !BIO_meth_set_read_ex(m, tls_bio_read) ||
	    !BIO_meth_set_ctrl(m, tls_bio_ctrl) ||
	    !BIO_meth_set_create(m, tls_bio_create)) {
		BIO_meth_free(m);
		return NULL;
	}
	return m;
}

/* ---- deadlines ------------------------------------------------------- */

/* Waits until FD is ready for what SSL asked (WANT_READ/WANT_WRITE).
 * 0, or IO_ERR_TIMEOUT / IO_ERR_NET. */
static int tls_wait(int fd, int ssl_err, long long deadline)
{
	return io_wait(fd, ssl_err == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN,
	    io_left(deadline));
}

/* ---- the transport --------------------------------------------------- */

static ssize_t tls_io_read(void *ctx, void *buf, size_t len, int timeout_ms)
{
	struct tls_conn *c = ctx;
	long long deadline = io_deadline(timeout_ms);
	size_t n;
	int e, rc;

	for (;;) {
		ERR_clear_error();
		if (SSL_read_ex(c->ssl, buf, len, &n) == 1)
			return (ssize_t)n;
		e = SSL_get_error(c->ssl, 0);
		if (e == SSL_ERROR_ZERO_RETURN)
			return IO_ERR_CLOSED;
		if (e == SSL_ERROR_SYSCALL)
			return errno == 0 || errno == ECONNRESET ?
			    IO_ERR_CLOSED : IO_ERR_NET;
		/* a server that hangs up without close_notify: replies are
		 * line-framed, so nothing is lost that a reader would trust */
		if (e == SSL_ERROR_SSL && ERR_GET_REASON(ERR_peek_error()) ==
		    SSL_R_UNEXPECTED_EOF_WHILE_READING)
			return IO_ERR_CLOSED;
		if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
			return IO_ERR_TLS;
		rc = tls_wait(c->fd, e, deadline);
		if (rc < 0)
			return rc;
	}
}

static ssize_t tls_io_write(void *ctx, const void *buf, size_t len,
    int timeout_ms)
{
	struct tls_conn *c = ctx;
	long long deadline = io_deadline(timeout_ms);
	size_t n;
	int e, rc;

	if (len == 0)
		return 0;
	for (;;) {
		ERR_clear_error();
		if (SSL_write_ex(c->ssl, buf, len, &n) == 1)
			return (ssize_t)n;
		e = SSL_get_error(c->ssl, 0);
		if (e == SSL_ERROR_ZERO_RETURN)
			return IO_ERR_CLOSED;
		if (e == SSL_ERROR_SYSCALL)
			return errno == 0 || errno == EPIPE ||
			    errno == ECONNRESET ? IO_ERR_CLOSED : IO_ERR_NET;
		if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
			return IO_ERR_TLS;
		rc = tls_wait(c->fd, e, deadline);
		if (rc < 0)
			return rc;
	}
}

static size_t tls_io_pending(void *ctx)
{
	struct tls_conn *c = ctx;
	int n = SSL_pending(c->ssl);

	return n > 0 ? (size_t)n : 0;
}

static void tls_conn_free(struct tls_conn *c)
{
	if (c == NULL)
		return;
	if (c->ssl != NULL)
		SSL_free(c->ssl);       /* frees the BIO too */
	SSL_CTX_free(c->ctx);
	BIO_meth_free(c->meth);
	free(c);
}

static void tls_io_close(void *ctx)
{
	struct tls_conn *c = ctx;

	/* One non-blocking close_notify; the socket closes right after. */
	ERR_clear_error();
	if (SSL_is_init_finished(c->ssl))
		(void)SSL_shutdown(c->ssl);
	tls_conn_free(c);
}

static const struct io_transport tls_transport = {
	.name = "tls",
	.read = tls_io_read,
	.write = tls_io_write,
	.pending = tls_io_pending,
	.close = tls_io_close,
};

/* ---- certificate details --------------------------------------------- */

static void tls_name(X509_NAME *n, char *out, size_t outlen)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p;
	long len;
	size_t i, k = 0;

	out[0] = '\0';
	if (b == NULL)
		return;
	if (X509_NAME_print_ex(b, n, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB)
	    >= 0) {
		len = BIO_get_mem_data(b, &p);
		for (i = 0; len > 0 && i < (size_t)len && k + 1 < outlen; i++)
			out[k++] = p[i] >= 0x20 && p[i] < 0x7f ? p[i] : '?';
		out[k] = '\0';
	}
	BIO_free(b);
}

static void tls_time(const ASN1_TIME *t, char *out, size_t outlen)
{
	struct tm tm;

	out[0] = '\0';
	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1 ||
	    strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, outlen, "?");
}

/* Appends S to OUT (capped, ", "-separated). */
static void tls_append(char *out, size_t outlen, const char *s, size_t slen)
{
	size_t have = strlen(out), i;

	if (have > 0 && have + 2 < outlen) {
		out[have++] = ',';
		out[have++] = ' ';
	}
	for (i = 0; i < slen && have + 1 < outlen; i++)
		out[have++] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	out[have] = '\0';
}

/* The DNS names and IP addresses of the certificate, else its CN. */
static void tls_names(X509 *x, char *out, size_t outlen)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name,
	    NULL, NULL);
	int i, n;

	out[0] = '\0';
	n = gens ? sk_GENERAL_NAME_num(gens) : 0;
	for (i = 0; i < n; i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		char ip[INET6_ADDRSTRLEN];

		if (g->type == GEN_DNS) {
			tls_append(out, outlen,
			    (const char *)ASN1_STRING_get0_data(g->d.dNSName),
			    (size_t)ASN1_STRING_length(g->d.dNSName));
		} else if (g->type == GEN_IPADD) {
			int l = ASN1_STRING_length(g->d.iPAddress);
			const unsigned char *a =
			    ASN1_STRING_get0_data(g->d.iPAddress);

			if ((l == 4 && inet_ntop(AF_INET, a, ip, sizeof(ip))) ||
			    (l == 16 && inet_ntop(AF_INET6, a, ip, sizeof(ip))))
				tls_append(out, outlen, ip, strlen(ip));
		}
	}
	GENERAL_NAMES_free(gens);
	if (out[0] == '\0') {
		X509_NAME *sn = X509_get_subject_name(x);
		int idx = X509_NAME_get_index_by_NID(sn, NID_commonName, -1);

		if (idx >= 0) {
			ASN1_STRING *d = X509_NAME_ENTRY_get_data(
			    X509_NAME_get_entry(sn, idx));

			tls_append(out, outlen,
			    (const char *)ASN1_STRING_get0_data(d),
			    (size_t)ASN1_STRING_length(d));
		}
	}
	if (out[0] == '\0')
		snprintf(out, outlen, "no name");
}

static int tls_fingerprint_of(X509 *x, char *out, size_t outlen)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;

	out[0] = '\0';
	if (X509_digest(x, EVP_sha256(), md, &mdlen) != 1 ||
	    outlen < (size_t)mdlen * 3)
		return -1;
	for (i = 0; i < mdlen; i++)
		snprintf(out + 3 * i, outlen - 3 * i, i + 1 < mdlen ?
		    "%02X:" : "%02X", md[i]);
	return 0;
}

static void tls_cert_info(X509 *x, struct tls_info *info)
{
	tls_name(X509_get_subject_name(x), info->subject,
	    sizeof(info->subject));
	tls_name(X509_get_issuer_name(x), info->issuer, sizeof(info->issuer));
	tls_names(x, info->names, sizeof(info->names));
	tls_time(X509_get0_notBefore(x), info->not_before,
	    sizeof(info->not_before));
	tls_time(X509_get0_notAfter(x), info->not_after,
	    sizeof(info->not_after));
	(void)tls_fingerprint_of(x, info->fingerprint,
	    sizeof(info->fingerprint));
}

int tls_fingerprint_norm(const char *in, char *out, size_t outlen)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t nhex = 0, k = 0;
	const char *p;

	if (in == NULL || outlen < 96)
		return -1;
	for (p = in; *p; p++) {
		const char *h;

		if (*p == ':' || *p == ' ')
			continue;
		h = strchr(hex, *p >= 'a' && *p <= 'f' ? *p - 32 : *p);
		if (h == NULL || *p == '\0' || nhex >= 64)
			return -1;
		if (nhex > 0 && nhex % 2 == 0)
			out[k++] = ':';
		out[k++] = *h;
		nhex++;
	}
	out[k] = '\0';
	return nhex == 64 ? 0 : -1;
}

/* ---- the handshake --------------------------------------------------- */

static int tls_is_ip(const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, host, buf) == 1 ||
	    inet_pton(AF_INET6, host, buf) == 1;
}

/* The last OpenSSL error as text, or FALLBACK. */
static void tls_ssl_error(char *out, size_t outlen, const char *fallback)
{
	unsigned long e = ERR_peek_last_error();

	if (e == 0) {
		snprintf(out, outlen, "%s", fallback);
		return;
	}
	ERR_error_string_n(e, out, outlen);
	/* "error:0A00010B:SSL routines::wrong version number": keep the
	 * reason, the codes mean nothing to a user */
	{
		char *r = strrchr(out, ':');

		if (r != NULL && r[1] != '\0')
			memmove(out, r + 1, strlen(r + 1) + 1);
	}
}

static void tls_verify_error(long v, const struct tls_params *p,
    const struct tls_info *info, char *err, size_t errlen)
{
	const char *fp = info->fingerprint[0] ? info->fingerprint : "?";

	switch (v) {
	case X509_V_ERR_HOSTNAME_MISMATCH:
	case X509_V_ERR_IP_ADDRESS_MISMATCH:
		snprintf(err, errlen, "certificate verify failed: hostname "
		    "mismatch (certificate is for %s, connected to %s)",
		    info->names, p->host);
		break;
	case X509_V_ERR_CERT_HAS_EXPIRED:
		snprintf(err, errlen, "certificate verify failed: "
		    "certificate expired on %s (subject %s)",
		    info->not_after, info->subject);
		break;
	case X509_V_ERR_CERT_NOT_YET_VALID:
		snprintf(err, errlen, "certificate verify failed: "
		    "certificate not valid before %s (subject %s)",
		    info->not_before, info->subject);
		break;
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
		snprintf(err, errlen, "certificate verify failed: self-signed "
		    "certificate (subject %s); to trust it set tls_trust_file "
		    "or tls_fingerprint %s", info->subject, fp);
		break;
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
		snprintf(err, errlen, "certificate verify failed: unknown CA "
		    "(issuer %s); set tls_trust_file to that CA, or "
		    "tls_fingerprint %s", info->issuer, fp);
		break;
	default:
		snprintf(err, errlen, "certificate verify failed: %s "
		    "(subject %s, issuer %s)", X509_verify_cert_error_string(v),
		    info->subject, info->issuer);
		break;
	}
}

/*
 * Records what OpenSSL found wrong and the server's certificate, so a
 * refused handshake can say why and show the fingerprint to pin: with
 * a failed check the certificate never reaches the session. Does not
 * change the verdict.
 */
static int tls_verify_cb(int ok, X509_STORE_CTX *xs)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(xs,
	    SSL_get_ex_data_X509_STORE_CTX_idx());
	struct tls_conn *c = ssl ? SSL_get_app_data(ssl) : NULL;
	X509 *leaf = X509_STORE_CTX_get0_cert(xs);

	if (c == NULL)
		return ok;
	if (!c->have_leaf && leaf != NULL) {
		tls_cert_info(leaf, &c->info);
		c->have_leaf = 1;
	}
	if (!ok && c->verify_err == X509_V_OK)
		c->verify_err = X509_STORE_CTX_get_error(xs);
	return ok;
}

/* Adds every CRL of the PEM file PATH to CTX's store and turns on CRL
 * checks for the leaf and the chain (a certificate whose issuer has no
 * CRL in the file then fails: the file must cover the chain). */
static int tls_load_crls(SSL_CTX *ctx, const char *path, char *err,
    size_t errlen)
{
	X509_STORE *st = SSL_CTX_get_cert_store(ctx);
	X509_LOOKUP *lk;
	char why[200];

	ERR_clear_error();
	lk = st != NULL ? X509_STORE_add_lookup(st, X509_LOOKUP_file()) : NULL;
	if (lk == NULL || X509_load_crl_file(lk, path, X509_FILETYPE_PEM) <= 0) {
		tls_ssl_error(why, sizeof(why), "unreadable or no CRL in it");
		snprintf(err, errlen, "cannot load tls_crl_file %s: %s", path,
		    why);
		return -1;
	}
	X509_STORE_set_flags(st, X509_V_FLAG_CRL_CHECK |
	    X509_V_FLAG_CRL_CHECK_ALL);
	return 0;
}

static int tls_setup_ctx(struct tls_conn *c, const struct tls_params *p,
    char *err, size_t errlen)
{
	char why[200];

	c->ctx = SSL_CTX_new(TLS_client_method());
	if (c->ctx == NULL) {
		snprintf(err, errlen, "TLS: cannot create context");
		return -1;
	}
	SSL_CTX_set_min_proto_version(c->ctx, p->min_version >= TLS1_2_VERSION ?
	    p->min_version : TLS1_2_VERSION);
	if (p->max_version != 0)
		SSL_CTX_set_max_proto_version(c->ctx, p->max_version);
	if (p->seclevel > SSL_CTX_get_security_level(c->ctx))
		SSL_CTX_set_security_level(c->ctx, p->seclevel);
	if (p->no_tickets)
		SSL_CTX_set_options(c->ctx, SSL_OP_NO_TICKET);
	/* partial writes: a write that fails after whole records went
	 * out says how many bytes did (io_flushed: whether a "." ahead of
	 * an envelope reached the server) */
	SSL_CTX_set_mode(c->ctx, SSL_MODE_AUTO_RETRY |
	    SSL_MODE_ENABLE_PARTIAL_WRITE);
	if (p->trust_file == NULL || strcmp(p->trust_file, "system") == 0) {
		if (SSL_CTX_set_default_verify_paths(c->ctx) != 1) {
			snprintf(err, errlen, "TLS: cannot load the system's "
			    "trusted certificates");
			return -1;
		}
	} else if (SSL_CTX_load_verify_locations(c->ctx, p->trust_file,
	    NULL) != 1) {
		tls_ssl_error(why, sizeof(why), "unreadable");
		snprintf(err, errlen, "cannot load tls_trust_file %s: %s",
		    p->trust_file, why);
		return -1;
	}
	if (p->crl_file != NULL && tls_load_crls(c->ctx, p->crl_file, err,
	    errlen) != 0)
		return -1;
	if (p->cert_file != NULL || p->key_file != NULL) {
		if (p->cert_file == NULL || p->key_file == NULL) {
			snprintf(err, errlen, "a client certificate needs both "
			    "tls_cert_file and tls_key_file");
			return -1;
		}
		if (SSL_CTX_use_certificate_chain_file(c->ctx,
		    p->cert_file) != 1) {
			tls_ssl_error(why, sizeof(why), "unreadable");
			snprintf(err, errlen, "cannot load tls_cert_file %s: "
			    "%s", p->cert_file, why);
			return -1;
		}
		if (SSL_CTX_use_PrivateKey_file(c->ctx, p->key_file,
		    SSL_FILETYPE_PEM) != 1 ||
		    SSL_CTX_check_private_key(c->ctx) != 1) {
			tls_ssl_error(why, sizeof(why), "unreadable");
			snprintf(err, errlen, "cannot load tls_key_file %s: "
			    "%s", p->key_file, why);
			return -1;
		}
	}
	/* Pinned or unchecked: the handshake goes on and the result is
	 * judged afterwards; else OpenSSL aborts on a bad certificate. */
	SSL_CTX_set_verify(c->ctx, p->fingerprint != NULL || !p->certcheck ?
	    SSL_VERIFY_NONE : SSL_VERIFY_PEER, tls_verify_cb);
	return 0;
}

static int tls_setup_ssl(struct tls_conn *c, const struct tls_params *p,
    char *err, size_t errlen)
{
	BIO *bio;

	c->ssl = SSL_new(c->ctx);
	c->meth = tls_bio_method();
	if (c->ssl == NULL || c->meth == NULL ||
	    (bio = BIO_new(c->meth)) == NULL) {
		snprintf(err, errlen, "TLS: out of memory");
		return -1;
	}
	BIO_set_data(bio, (void *)(intptr_t)c->fd);
	SSL_set_app_data(c->ssl, c);
	SSL_set_bio(c->ssl, bio, bio);
	if (tls_is_ip(p->host)) {
		if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl),
		    p->host) != 1) {
			snprintf(err, errlen, "TLS: cannot check address %s",
			    p->host);
			return -1;
		}
	} else {
		SSL_set_hostflags(c->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		if (SSL_set1_host(c->ssl, p->host) != 1 ||
		    SSL_set_tlsext_host_name(c->ssl, p->host) != 1) {
			snprintf(err, errlen, "TLS: cannot check host name %s",
			    p->host);
			return -1;
		}
	}
	return 0;
}

/* Judges the certificate after a handshake that did not abort. */
static int tls_check_peer(struct tls_conn *c, const struct tls_params *p,
    char *err, size_t errlen)
{
	struct tls_info *info = &c->info;
	char want[96];
	long v = SSL_get_verify_result(c->ssl);

	if (p->fingerprint != NULL) {
		if (tls_fingerprint_norm(p->fingerprint, want,
		    sizeof(want)) != 0) {
			snprintf(err, errlen, "tls_fingerprint %s is not a "
			    "SHA-256 fingerprint (32 bytes as AB:CD:...)",
			    p->fingerprint);
			return -1;
		}
		if (strcmp(want, info->fingerprint) != 0) {
			snprintf(err, errlen, "certificate fingerprint "
			    "mismatch: the server's is %s, tls_fingerprint "
			    "is %s",
			    info->fingerprint, want);
			return -1;
		}
		info->verified = 1;
		info->pinned = 1;
		return 0;
	}
	if (!p->certcheck) {
		info->verified = 0;
		return 0;
	}
	if (v != X509_V_OK) {
		tls_verify_error(v, p, info, err, errlen);
		return -1;
	}
	info->verified = 1;
	return 0;
}

int tls_start(struct io *io, const struct tls_params *p, int timeout_ms,
    struct tls_info *info, char *err, size_t errlen)
{
	long long deadline = io_deadline(timeout_ms);
	struct tls_conn *c;
	X509 *peer;
	char why[200], ebuf[128];
	int rc, e;

	if (info != NULL)
		memset(info, 0, sizeof(*info));
	if (p->host == NULL || p->host[0] == '\0') {
		snprintf(err, errlen, "TLS: no host name to verify");
		return -1;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		snprintf(err, errlen, "TLS: out of memory");
		return -1;
	}
	c->fd = io_fd(io);
	ERR_clear_error();
	if (tls_setup_ctx(c, p, err, errlen) < 0 ||
	    tls_setup_ssl(c, p, err, errlen) < 0)
		goto fail;
	for (;;) {
		ERR_clear_error();
		errno = 0;
		rc = SSL_connect(c->ssl);
		if (rc == 1)
			break;
		e = SSL_get_error(c->ssl, rc);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
			rc = tls_wait(c->fd, e, deadline);
			if (rc == IO_ERR_TIMEOUT) {
				snprintf(err, errlen, "TLS handshake with %s: "
				    "no answer within %d s", p->host,
				    (timeout_ms + 999) / 1000);
				goto fail;
			}
			if (rc < 0) {
				snprintf(err, errlen, "TLS handshake with %s: "
				    "%s", p->host,
				    strerror_r(errno, ebuf, sizeof(ebuf)));
				goto fail;
			}
			continue;
		}
		/* a certificate OpenSSL refused: say why, with its details */
		if (c->verify_err != X509_V_OK && c->have_leaf) {
			tls_verify_error(c->verify_err, p, &c->info, err,
			    errlen);
		} else if (e == SSL_ERROR_SYSCALL ||
		    e == SSL_ERROR_ZERO_RETURN) {
			snprintf(err, errlen, "TLS handshake with %s: %s",
			    p->host, errno ? strerror_r(errno, ebuf,
			    sizeof(ebuf)) :
			    "connection closed by server");
		} else {
			tls_ssl_error(why, sizeof(why), "failed");
			snprintf(err, errlen, "TLS handshake with %s failed: "
			    "%s", p->host, why);
		}
		goto fail;
	}
	peer = SSL_get0_peer_certificate(c->ssl);
	if (peer == NULL) {
		snprintf(err, errlen, "TLS: the server sent no certificate");
		goto fail;
	}
	tls_cert_info(peer, &c->info);
	snprintf(c->info.version, sizeof(c->info.version), "%s",
	    SSL_get_version(c->ssl));
	snprintf(c->info.cipher, sizeof(c->info.cipher), "%s",
	    SSL_get_cipher_name(c->ssl));
	if (tls_check_peer(c, p, err, errlen) < 0)
		goto fail;
	if (io_set_transport(io, &tls_transport, c) < 0) {
		snprintf(err, errlen, "TLS: bytes arrived before the "
		    "handshake");
		goto fail;
	}
	if (info != NULL)
		*info = c->info;
	return 0;
fail:
	if (info != NULL)
		*info = c->info;
	tls_conn_free(c);
	ERR_clear_error();
	return -1;
}

int tls_get_info(const struct io *io, struct tls_info *info)
{
	const struct tls_conn *c = io_transport_ctx(io, &tls_transport);

	if (c == NULL)
		return -1;
	*info = c->info;
	return 0;
}

int smtp_tls_info(const struct smtp_session *s, struct tls_info *info)
{
	if (s == NULL || s->io == NULL)
		return -1;
	return tls_get_info(s->io, info);
}

/* ---- the session hooks ----------------------------------------------- */

static void tls_params_of(const struct smtp_session *s, struct tls_params *t)
{
	const struct smtp_params *p = s->p;

	memset(t, 0, sizeof(*t));
	t->host = p->host;
	t->certcheck = p->tls_certcheck;
	t->trust_file = p->tls_trust_file;
	t->fingerprint = p->tls_fingerprint;
	t->cert_file = p->tls_cert_file;
	t->key_file = p->tls_key_file;
	if (p->tls_host != NULL && p->tls_host[0] != '\0')
		t->host = p->tls_host;
	t->crl_file = p->tls_crl_file;
	t->min_version = p->tls_min_version;
	t->max_version = p->tls_max_version;
	t->seclevel = p->tls_seclevel;
	t->no_tickets = p->tls_no_tickets;
}

static void tls_set_desc(struct smtp_session *s, const char *how,
    const struct tls_info *info)
{
	snprintf(s->tls_desc, sizeof(s->tls_desc), "%s %s %s %s", how,
	    info->version, info->cipher, info->pinned ? "pinned" :
	    info->verified ? "verified" : "unverified");
}

static int tls_handshake(struct smtp_session *s, const char *step,
    const char *how, struct smtp_error *err)
{
	struct tls_params t;
	struct tls_info info;
	char why[400];

	tls_params_of(s, &t);
	if (tls_start(s->io, &t, smtp_timeout_connect(s), &info, why,
	    sizeof(why)) < 0) {
		smtp_state(s, SMTP_ST_BROKEN);
		return smtp_fail(err, SMTP_FAIL_TLS, 1, step, "%s", why);
	}
	tls_set_desc(s, how, &info);
	return 0;
}

int smtp_tls_connect(struct smtp_session *s, struct smtp_error *err)
{
	return tls_handshake(s, "TLS", "tls", err);
}

/* 1 when bytes sit unread in the kernel's socket buffer. */
static int tls_socket_has_bytes(int fd)
{
	char b;
	ssize_t n;

	do
		n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	return n > 0;
}

int smtp_starttls(struct smtp_session *s, struct smtp_error *err)
{
	const char *last;

	if (!s->caps.starttls)
		return smtp_fail(err, SMTP_FAIL_TLS, 1, "STARTTLS",
		    "the server does not offer STARTTLS; not sending in "
		    "plain text (set tls off only for a trusted network)");
	if (smtp_cmd(s, "STARTTLS", "STARTTLS", NULL, err) < 0 ||
	    smtp_read_reply(s, "STARTTLS", smtp_timeout_command(s), err) < 0)
		return -1;
	if (s->reply.code != 220) {
		last = s->reply.nlines ?
		    reply_line(&s->reply, s->reply.nlines - 1) : "";
		if (s->reply.code == 421)
			smtp_state(s, SMTP_ST_BROKEN);
		smtp_fail(err, SMTP_FAIL_TLS, 1, "STARTTLS", "server answered "
		    "STARTTLS with %s; not sending in plain text", last);
		err->code = s->reply.code;
		snprintf(err->enh, sizeof(err->enh), "%s", s->reply.enh);
		return -1;
	}
	/* Nothing may follow the 220 before our ClientHello: bytes already
	 * here were sent in plain text and would be read as if protected
	 * (CVE-2011-0411). Drop the connection. */
	if (io_pending(s->io) > 0 || tls_socket_has_bytes(io_fd(s->io))) {
		smtp_state(s, SMTP_ST_BROKEN);
		return smtp_fail(err, SMTP_FAIL_PROTO, 1, "STARTTLS",
		    "the server sent data after its 220 answer to STARTTLS, "
		    "before TLS began (response injection); connection "
		    "dropped");
	}
	return tls_handshake(s, "STARTTLS", "starttls", err);
}
