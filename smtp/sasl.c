/*
 * sasl — client side of PLAIN, LOGIN, CRAM-MD5, SCRAM-SHA-1/256, XOAUTH2
 * and OAUTHBEARER. See sasl.h.
 *
 * Must never: do I/O, keep global state, put a secret (or anything
 * derived from one) into an error text, leave a secret in freed memory,
 * or implement a hash, an HMAC or base64 itself: OpenSSL does all three.
 *
 * SASLprep (RFC 4013) is not implemented: user names and passwords are
 * used as the UTF-8 bytes written. For ASCII this is exactly SASLprep
 * (except that control characters are refused); a non-ASCII password
 * works when it is already in NFKC form with no mapped characters, which
 * is how almost every password is typed. outboxfs(1) says so.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "smtp/sasl.h"
#include "util/buf.h"

enum sasl_mech {
	SASL_M_PLAIN,
	SASL_M_LOGIN,
	SASL_M_CRAM_MD5,
	SASL_M_SCRAM_SHA_1,
	SASL_M_SCRAM_SHA_256,
	SASL_M_XOAUTH2,
	SASL_M_OAUTHBEARER,
};

static const struct {
	const char *name;
	enum sasl_mech mech;
} sasl_mechs[] = {
	{ "SCRAM-SHA-256", SASL_M_SCRAM_SHA_256 },
	{ "SCRAM-SHA-1", SASL_M_SCRAM_SHA_1 },
	{ "CRAM-MD5", SASL_M_CRAM_MD5 },
	{ "PLAIN", SASL_M_PLAIN },
	{ "LOGIN", SASL_M_LOGIN },
	{ "XOAUTH2", SASL_M_XOAUTH2 },
	{ "OAUTHBEARER", SASL_M_OAUTHBEARER },
};
/* The first SASL_PICKABLE entries above, strongest first, are what
 * sasl_pick may choose. */
#define SASL_PICKABLE 5

#define SASL_NONCE_BYTES 24
#define SASL_MAX_OUT     (4 * SASL_MAX_FIELD + 256)

/* Where an exchange stands: how many challenges have been answered. */
enum sasl_stage {
	SASL_S_INIT = 0,
	SASL_S_STARTED,        /* initial response sent (or none needed) */
	SASL_S_ONE,            /* one challenge answered */
	SASL_S_TWO,            /* two challenges answered */
	SASL_S_VERIFIED,       /* SCRAM: the server signature checked */
	SASL_S_ERROR,          /* OAuth: the server sent its error */
};

struct sasl {
	enum sasl_mech mech;
	const char *name;
	enum sasl_stage stage;
	char *user;
	char *secret;
	char *host;
	char *port;
	char *nonce;            /* SCRAM client nonce */
	char *client_first_bare;
	char *auth_message;     /* SCRAM AuthMessage, kept for v= */
	unsigned char server_sig[EVP_MAX_MD_SIZE];
	unsigned server_sig_len;
	char server_error[256];
};

/* What every response is built in: capped, and wiped when let go of.
 * A failed append sticks (util/buf), so the builders below append
 * without looking and sasl_buf_take looks once. */
#define SASL_BUF_INIT BUF_INIT_SECRET(SASL_MAX_OUT)

/* SCRAM's saslname: ',' and '=' escaped as =2C and =3D (RFC 5802 5.1). */
static void sasl_buf_saslname(struct buf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == ',')
			buf_adds(b, "=2C");
		else if (*s == '=')
			buf_adds(b, "=3D");
		else
			buf_add(b, s, 1);
	}
}

/* Hands the buffer's bytes to the caller as a sasl_start/step result. */
static int sasl_buf_take(struct buf *b, unsigned char **out,
    size_t *outlen, char *err, size_t errlen)
{
	char *p = buf_take(b, outlen);

	if (p == NULL) {
		snprintf(err, errlen, "SASL: response too long or out of "
		    "memory");
		return -1;
	}
	*out = (unsigned char *)p;
	return 0;
}

static void sasl_free_str(char **s)
{
	if (*s) {
		explicit_bzero(*s, strlen(*s));
		free(*s);
		*s = NULL;
	}
}

void sasl_wipe(unsigned char *buf, size_t len)
{
	if (buf) {
		explicit_bzero(buf, len);
		free(buf);
	}
}

static int sasl_find(const char *name, enum sasl_mech *mech,
    const char **canon)
{
	size_t i;

	if (!name)
		return -1;
	for (i = 0; i < sizeof(sasl_mechs) / sizeof(sasl_mechs[0]); i++) {
		if (strcasecmp(name, sasl_mechs[i].name) == 0) {
			*mech = sasl_mechs[i].mech;
			*canon = sasl_mechs[i].name;
			return 0;
		}
	}
	return -1;
}

int sasl_supported(const char *name)
{
	enum sasl_mech m;
	const char *c;

	return sasl_find(name, &m, &c) == 0;
}

int sasl_offered(const char *mechs, const char *name)
{
	size_t n = strlen(name);
	const char *p = mechs;

	if (!mechs || n == 0)
		return 0;
	while (*p) {
		size_t w;

		while (*p == ' ')
			p++;
		w = strcspn(p, " ");
		if (w == n && strncasecmp(p, name, n) == 0)
			return 1;
		p += w;
	}
	return 0;
}

const char *sasl_pick(const char *server_mechs)
{
	size_t i;

	for (i = 0; i < SASL_PICKABLE; i++)
		if (sasl_offered(server_mechs, sasl_mechs[i].name))
			return sasl_mechs[i].name;
	return NULL;
}

static char *sasl_strdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* 1 when S holds a byte below 0x20 or 0x7f (never valid in these). */
static int sasl_has_ctl(const char *s)
{
	for (; s && *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

int sasl_new(const struct sasl_params *p, struct sasl **out, char *err,
    size_t errlen)
{
	struct sasl *s;
	enum sasl_mech mech;
	const char *canon;

	*out = NULL;
	if (sasl_find(p->mech, &mech, &canon) != 0) {
		snprintf(err, errlen, "unknown authentication mechanism %s",
		    p->mech ? p->mech : "(none)");
		return -1;
	}
	if (!p->user || !*p->user) {
		snprintf(err, errlen, "%s needs a user name: set user", canon);
		return -1;
	}
	if (!p->secret) {
		snprintf(err, errlen, "%s needs a %s: set password or "
		    "passwordeval", canon,
		    mech == SASL_M_XOAUTH2 || mech == SASL_M_OAUTHBEARER ?
		    "token" : "password");
		return -1;
	}
	if (strlen(p->user) > SASL_MAX_FIELD ||
	    strlen(p->secret) > SASL_MAX_FIELD) {
		snprintf(err, errlen, "%s: user name or password longer than "
		    "%u bytes", canon, SASL_MAX_FIELD);
		return -1;
	}
	/* NUL cannot occur in a C string; a control byte would break the
	 * framing of PLAIN, the OAuth key/value lists or SCRAM. */
	if (sasl_has_ctl(p->user) || sasl_has_ctl(p->secret) ||
	    sasl_has_ctl(p->host) || sasl_has_ctl(p->port)) {
		snprintf(err, errlen, "%s: user name or password holds a "
		    "control character", canon);
		return -1;
	}
	if (mech == SASL_M_CRAM_MD5 && strchr(p->user, ' ')) {
		snprintf(err, errlen, "CRAM-MD5: the user name cannot hold "
		    "a space");
		return -1;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		goto nomem;
	s->mech = mech;
	s->name = canon;
	s->user = sasl_strdup(p->user);
	s->secret = sasl_strdup(p->secret);
	s->host = sasl_strdup(p->host);
	s->port = sasl_strdup(p->port);
	if (!s->user || !s->secret || (p->host && !s->host) ||
	    (p->port && !s->port))
		goto nomem;
	if (mech == SASL_M_SCRAM_SHA_1 || mech == SASL_M_SCRAM_SHA_256) {
		if (p->test_nonce) {
			s->nonce = sasl_strdup(p->test_nonce);
		} else {
			unsigned char r[SASL_NONCE_BYTES];

			if (RAND_bytes(r, sizeof(r)) != 1) {
				sasl_free(s);
				snprintf(err, errlen, "SCRAM: no random bytes "
				    "for the nonce");
				return -1;
			}
			/* base64 never yields ',', the one byte a nonce
			 * cannot hold */
			if (sasl_b64_encode(r, sizeof(r), &s->nonce) != 0)
				s->nonce = NULL;
			explicit_bzero(r, sizeof(r));
		}
		if (!s->nonce)
			goto nomem;
	}
	*out = s;
	return 0;
nomem:
	sasl_free(s);
	snprintf(err, errlen, "SASL: out of memory");
	return -1;
}

const char *sasl_name(const struct sasl *s)
{
	return s->name;
}

const char *sasl_server_error(const struct sasl *s)
{
	return s->server_error;
}

void sasl_free(struct sasl *s)
{
	if (!s)
		return;
	sasl_free_str(&s->user);
	sasl_free_str(&s->secret);
	sasl_free_str(&s->host);
	sasl_free_str(&s->port);
	sasl_free_str(&s->nonce);
	sasl_free_str(&s->client_first_bare);
	sasl_free_str(&s->auth_message);
	explicit_bzero(s, sizeof(*s));
	free(s);
}

/* ---- base64 ---------------------------------------------------------- */

int sasl_b64_encode(const unsigned char *in, size_t len, char **out)
{
	size_t olen;
	char *o;

	*out = NULL;
	if (len > SASL_MAX_OUT)
		return -1;
	olen = 4 * ((len + 2) / 3);
	o = malloc(olen + 1);
	if (!o)
		return -1;
	if (EVP_EncodeBlock((unsigned char *)o, in, (int)len) != (int)olen) {
		free(o);
		return -1;
	}
	o[olen] = '\0';
	*out = o;
	return 0;
}

static int sasl_b64_char(unsigned char c)
{
	return isascii(c) && (isalnum(c) || c == '+' || c == '/');
}

int sasl_b64_decode(const char *in, size_t len, unsigned char **out,
    size_t *outlen)
{
	size_t i, pad = 0, olen;
	unsigned char *o;
	int n;

	*out = NULL;
	*outlen = 0;
	if (len % 4 != 0 || len > SASL_MAX_OUT)
		return -1;
	/* EVP_DecodeBlock skips white space and counts padding as zero
	 * bytes: check the input is canonical first, then drop the pad. */
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c == '=' && i + 2 >= len) {
			pad++;
			continue;
		}
		if (pad || !sasl_b64_char(c))
			return -1;
	}
	olen = len / 4 * 3;
	o = malloc(olen + 1);
	if (!o)
		return -1;
	if (len > 0) {
		n = EVP_DecodeBlock(o, (const unsigned char *)in, (int)len);
		if (n < 0 || (size_t)n != olen) {
			sasl_wipe(o, olen + 1);
			return -1;
		}
	}
	olen -= pad;
	o[olen] = '\0';
	*out = o;
	*outlen = olen;
	return 0;
}

/* ---- simple mechanisms ----------------------------------------------- */

static void sasl_plain(struct sasl *s, struct buf *b)
{
	/* authzid empty, NUL, authcid, NUL, passwd (RFC 4616 2) */
	buf_add(b, "", 1);
	buf_adds(b, s->user);
	buf_add(b, "", 1);
	buf_adds(b, s->secret);
}

static void sasl_xoauth2(struct sasl *s, struct buf *b)
{
	buf_adds(b, "user=");
	buf_adds(b, s->user);
	buf_adds(b, "\001auth=Bearer ");
	buf_adds(b, s->secret);
	buf_adds(b, "\001\001");
}

static void sasl_oauthbearer(struct sasl *s, struct buf *b)
{
	/* gs2-header "n,a=USER," then kvpairs separated by ^A (RFC 7628 3.1) */
	buf_adds(b, "n,a=");
	sasl_buf_saslname(b, s->user);
	buf_adds(b, ",\001");
	if (s->host && *s->host) {
		buf_adds(b, "host=");
		buf_adds(b, s->host);
		buf_adds(b, "\001");
	}
	if (s->port && *s->port) {
		buf_adds(b, "port=");
		buf_adds(b, s->port);
		buf_adds(b, "\001");
	}
	buf_adds(b, "auth=Bearer ");
	buf_adds(b, s->secret);
	buf_adds(b, "\001\001");
}

/* Keeps a printable copy of an OAuth error document for the status. */
static void sasl_keep_error(struct sasl *s, const unsigned char *in,
    size_t inlen)
{
	size_t i, n = 0;

	for (i = 0; i < inlen && n + 1 < sizeof(s->server_error); i++)
		s->server_error[n++] = in[i] >= 0x20 && in[i] < 0x7f ?
		    (char)in[i] : '?';
	s->server_error[n] = '\0';
}

static int sasl_cram_md5(struct sasl *s, const unsigned char *in,
    size_t inlen, struct buf *b, char *err, size_t errlen)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned maclen = 0, i;
	char hex[2 * EVP_MAX_MD_SIZE + 1];

	if (inlen == 0) {
		snprintf(err, errlen, "CRAM-MD5: the server sent an empty "
		    "challenge");
		return -1;
	}
	if (!HMAC(EVP_md5(), s->secret, (int)strlen(s->secret), in, inlen,
	    mac, &maclen)) {
		snprintf(err, errlen, "CRAM-MD5: HMAC-MD5 unavailable");
		return -1;
	}
	for (i = 0; i < maclen; i++)
		snprintf(hex + 2 * i, 3, "%02x", mac[i]);
	buf_adds(b, s->user);
	buf_adds(b, " ");
	buf_adds(b, hex);
	explicit_bzero(mac, sizeof(mac));
	explicit_bzero(hex, sizeof(hex));
	return 0;
}

/* ---- SCRAM (RFC 5802) ------------------------------------------------ */

static const EVP_MD *sasl_scram_md(const struct sasl *s)
{
	return s->mech == SASL_M_SCRAM_SHA_1 ? EVP_sha1() : EVP_sha256();
}

static void sasl_scram_first(struct sasl *s, struct buf *b)
{
	struct buf bare = SASL_BUF_INIT;

	buf_adds(&bare, "n=");
	sasl_buf_saslname(&bare, s->user);
	buf_adds(&bare, ",r=");
	buf_adds(&bare, s->nonce);
	if (buf_adds(b, "n,,") < 0 || buf_add_buf(b, &bare) < 0) {
		buf_free(&bare);
		return;
	}
	s->client_first_bare = buf_take(&bare, NULL);   /* handed over */
}

/*
 * Finds attribute KEY ("r") in the comma-separated list MSG: its value
 * and length. The list is checked to be printable first.
 */
static const char *sasl_attr(const char *msg, char key, size_t *vlen)
{
	const char *p = msg;

	while (*p) {
		size_t w = strcspn(p, ",");

		if (w >= 2 && p[0] == key && p[1] == '=') {
			*vlen = w - 2;
			return p + 2;
		}
		p += w;
		if (*p == ',')
			p++;
	}
	return NULL;
}

/* Copies a server "e=" value (printable) into err. */
static void sasl_scram_server_error(const char *val, size_t vlen, char *err,
    size_t errlen)
{
	char e[128];
	size_t i, n = 0;

	for (i = 0; i < vlen && n + 1 < sizeof(e); i++)
		e[n++] = val[i] >= 0x20 && val[i] < 0x7f ? val[i] : '?';
	e[n] = '\0';
	snprintf(err, errlen, "SCRAM: the server refused: %s", e);
}

static int sasl_printable(const unsigned char *in, size_t inlen)
{
	size_t i;

	for (i = 0; i < inlen; i++)
		if (in[i] < 0x21 || in[i] > 0x7e)
			return 0;
	return 1;
}

static int sasl_scram_final(struct sasl *s, const char *msg,
    struct buf *b, char *err, size_t errlen)
{
	const EVP_MD *md = sasl_scram_md(s);
	size_t hlen = (size_t)EVP_MD_get_size(md);
	const char *r, *salt64, *it, *v;
	size_t rlen, saltlen64, itlen, vlen, nlen = strlen(s->nonce);
	unsigned char *salt = NULL;
	size_t saltlen;
	unsigned long iter = 0;
	size_t i;
	unsigned char salted[EVP_MAX_MD_SIZE], ckey[EVP_MAX_MD_SIZE];
	unsigned char stored[EVP_MAX_MD_SIZE], csig[EVP_MAX_MD_SIZE];
	unsigned char skey[EVP_MAX_MD_SIZE], proof[EVP_MAX_MD_SIZE];
	unsigned int mlen;
	struct buf without = SASL_BUF_INIT, am = SASL_BUF_INIT;
	char *proof64 = NULL;
	int rc = -1;

	if ((v = sasl_attr(msg, 'e', &vlen)) != NULL) {
		sasl_scram_server_error(v, vlen, err, errlen);
		return -1;
	}
	if (strncmp(msg, "m=", 2) == 0) {
		snprintf(err, errlen, "SCRAM: the server asks for an "
		    "extension we do not know (m=)");
		return -1;
	}
	/* server-first-message = "r=" nonce "," "s=" salt "," "i=" count */
	if (strncmp(msg, "r=", 2) != 0) {
		snprintf(err, errlen, "SCRAM: the server's first message "
		    "does not start with r=");
		return -1;
	}
	r = sasl_attr(msg, 'r', &rlen);
	salt64 = sasl_attr(msg, 's', &saltlen64);
	it = sasl_attr(msg, 'i', &itlen);
	if (!r || !salt64 || !it) {
		snprintf(err, errlen, "SCRAM: the server's first message "
		    "lacks %s", !salt64 ? "the salt (s=)" :
		    !it ? "the iteration count (i=)" : "the nonce (r=)");
		return -1;
	}
	if (rlen <= nlen || strncmp(r, s->nonce, nlen) != 0) {
		snprintf(err, errlen, "SCRAM: the server's nonce does not "
		    "start with ours and add its own");
		return -1;
	}
	if (itlen == 0 || itlen > 9) {
		snprintf(err, errlen, "SCRAM: bad iteration count");
		return -1;
	}
	for (i = 0; i < itlen; i++) {
		if (it[i] < '0' || it[i] > '9') {
			snprintf(err, errlen, "SCRAM: bad iteration count");
			return -1;
		}
		iter = iter * 10 + (unsigned long)(it[i] - '0');
	}
	if (iter == 0 || iter > SASL_SCRAM_MAX_ITER) {
		snprintf(err, errlen, "SCRAM: the server asks for %lu "
		    "iterations; accepted are 1 to %u", iter,
		    SASL_SCRAM_MAX_ITER);
		return -1;
	}
	if (sasl_b64_decode(salt64, saltlen64, &salt, &saltlen) != 0 ||
	    saltlen == 0) {
		snprintf(err, errlen, "SCRAM: the salt is not valid base64");
		goto out;
	}

	/* client-final-message-without-proof: c=biws ("n,," in base64) */
	buf_adds(&without, "c=biws,r=");
	buf_add(&without, r, rlen);
	buf_adds(&am, s->client_first_bare);
	buf_adds(&am, ",");
	buf_adds(&am, msg);
	buf_adds(&am, ",");
	if (buf_add_buf(&am, &without) < 0) {
		snprintf(err, errlen, "SCRAM: out of memory");
		goto out;
	}

	if (PKCS5_PBKDF2_HMAC(s->secret, (int)strlen(s->secret), salt,
	    (int)saltlen, (int)iter, md, (int)hlen, salted) != 1 ||
	    !HMAC(md, salted, (int)hlen, (const unsigned char *)"Client Key",
	    10, ckey, &mlen) ||
	    EVP_Digest(ckey, hlen, stored, NULL, md, NULL) != 1 ||
	    !HMAC(md, stored, (int)hlen, (const unsigned char *)am.p, am.len,
	    csig, &mlen) ||
	    !HMAC(md, salted, (int)hlen, (const unsigned char *)"Server Key",
	    10, skey, &mlen) ||
	    !HMAC(md, skey, (int)hlen, (const unsigned char *)am.p, am.len,
	    s->server_sig, &mlen)) {
		snprintf(err, errlen, "SCRAM: hash computation failed");
		goto out;
	}
	s->server_sig_len = (unsigned)hlen;
	for (i = 0; i < hlen; i++)
		proof[i] = ckey[i] ^ csig[i];
	if (sasl_b64_encode(proof, hlen, &proof64) != 0) {
		snprintf(err, errlen, "SCRAM: out of memory");
		goto out;
	}
	buf_add_buf(b, &without);
	buf_adds(b, ",p=");
	buf_adds(b, proof64);
	s->auth_message = buf_take(&am, NULL);   /* handed over */
	rc = 0;
out:
	sasl_wipe(salt, saltlen + 1);
	if (proof64)
		sasl_wipe((unsigned char *)proof64, strlen(proof64));
	buf_free(&without);
	buf_free(&am);
	explicit_bzero(salted, sizeof(salted));
	explicit_bzero(ckey, sizeof(ckey));
	explicit_bzero(stored, sizeof(stored));
	explicit_bzero(csig, sizeof(csig));
	explicit_bzero(skey, sizeof(skey));
	explicit_bzero(proof, sizeof(proof));
	return rc;
}

static int sasl_scram_verify(struct sasl *s, const char *msg, char *err,
    size_t errlen)
{
	const char *v;
	size_t vlen, siglen;
	unsigned char *sig = NULL;
	int ok;

	if ((v = sasl_attr(msg, 'e', &vlen)) != NULL) {
		sasl_scram_server_error(v, vlen, err, errlen);
		return -1;
	}
	if (strncmp(msg, "v=", 2) != 0) {
		snprintf(err, errlen, "SCRAM: the server's final message "
		    "has no signature (v=)");
		return -1;
	}
	v = sasl_attr(msg, 'v', &vlen);
	if (sasl_b64_decode(v, vlen, &sig, &siglen) != 0) {
		snprintf(err, errlen, "SCRAM: the server signature is not "
		    "valid base64");
		return -1;
	}
	ok = siglen == s->server_sig_len &&
	    CRYPTO_memcmp(sig, s->server_sig, siglen) == 0;
	sasl_wipe(sig, siglen + 1);
	if (!ok) {
		snprintf(err, errlen, "SCRAM: wrong server signature: the "
		    "server does not know the password (impostor?)");
		return -1;
	}
	return 0;
}

/* ---- the exchange ---------------------------------------------------- */

int sasl_start(struct sasl *s, unsigned char **out, size_t *outlen,
    char *err, size_t errlen)
{
	struct buf b = SASL_BUF_INIT;

	*out = NULL;
	*outlen = 0;
	if (s->stage != SASL_S_INIT) {
		snprintf(err, errlen, "SASL: exchange already started");
		return -1;
	}
	s->stage = SASL_S_STARTED;
	switch (s->mech) {
	case SASL_M_LOGIN:
	case SASL_M_CRAM_MD5:
		return 0;
	case SASL_M_PLAIN:
		sasl_plain(s, &b);
		break;
	case SASL_M_XOAUTH2:
		sasl_xoauth2(s, &b);
		break;
	case SASL_M_OAUTHBEARER:
		sasl_oauthbearer(s, &b);
		break;
	case SASL_M_SCRAM_SHA_1:
	case SASL_M_SCRAM_SHA_256:
		sasl_scram_first(s, &b);
		break;
	}
	return sasl_buf_take(&b, out, outlen, err, errlen);
}

int sasl_step(struct sasl *s, const unsigned char *in, size_t inlen,
    unsigned char **out, size_t *outlen, char *err, size_t errlen)
{
	struct buf b = SASL_BUF_INIT;
	char *msg = NULL;
	enum sasl_stage at = s->stage;

	*out = NULL;
	*outlen = 0;
	if (at == SASL_S_INIT) {
		snprintf(err, errlen, "SASL: challenge before the start");
		return -1;
	}
	if (inlen > SASL_MAX_OUT) {
		snprintf(err, errlen, "%s: the server's challenge is too "
		    "long", s->name);
		return -1;
	}
	switch (s->mech) {
	case SASL_M_PLAIN:
		/* the initial response went with AUTH: an empty challenge
		 * means the server did not take it; anything else is wrong */
		if (at != SASL_S_STARTED || inlen != 0)
			goto unexpected;
		sasl_plain(s, &b);
		break;
	case SASL_M_LOGIN:
		/* "Username:", then "Password:"; the prompts are not
		 * standard, so only their order counts */
		if (at == SASL_S_STARTED)
			buf_adds(&b, s->user);
		else if (at == SASL_S_ONE)
			buf_adds(&b, s->secret);
		else
			goto unexpected;
		break;
	case SASL_M_CRAM_MD5:
		if (at != SASL_S_STARTED)
			goto unexpected;
		if (sasl_cram_md5(s, in, inlen, &b, err, errlen) != 0)
			goto fail;
		break;
	case SASL_M_XOAUTH2:
	case SASL_M_OAUTHBEARER:
		/* the only challenge is the server's error: answer with an
		 * empty response (XOAUTH2) or ^A (RFC 7628 3.2.3) so it
		 * sends its final 5xx */
		if (at != SASL_S_STARTED)
			goto unexpected;
		sasl_keep_error(s, in, inlen);
		if (s->mech == SASL_M_OAUTHBEARER)
			buf_adds(&b, "\001");
		s->stage = SASL_S_ERROR;
		return sasl_buf_take(&b, out, outlen, err, errlen);
	case SASL_M_SCRAM_SHA_1:
	case SASL_M_SCRAM_SHA_256:
		if (at != SASL_S_STARTED && at != SASL_S_ONE)
			goto unexpected;
		if (inlen == 0 || !sasl_printable(in, inlen)) {
			snprintf(err, errlen, "%s: the server's message is "
			    "empty or not printable", s->name);
			goto fail;
		}
		msg = strndup((const char *)in, inlen);
		if (!msg) {
			snprintf(err, errlen, "SASL: out of memory");
			goto fail;
		}
		if (at == SASL_S_STARTED) {
			if (sasl_scram_final(s, msg, &b, err, errlen) != 0)
				goto fail;
		} else {
			if (sasl_scram_verify(s, msg, err, errlen) != 0)
				goto fail;
			s->stage = SASL_S_VERIFIED;
			free(msg);
			return sasl_buf_take(&b, out, outlen, err, errlen);
		}
		free(msg);
		msg = NULL;
		break;
	}
	s->stage = at == SASL_S_STARTED ? SASL_S_ONE : SASL_S_TWO;
	return sasl_buf_take(&b, out, outlen, err, errlen);
unexpected:
	snprintf(err, errlen, "%s: unexpected challenge from the server",
	    s->name);
fail:
	free(msg);
	buf_free(&b);
	return -1;
}

int sasl_done(const struct sasl *s, char *err, size_t errlen)
{
	if ((s->mech == SASL_M_SCRAM_SHA_1 || s->mech == SASL_M_SCRAM_SHA_256)
	    && s->stage != SASL_S_VERIFIED) {
		snprintf(err, errlen, "%s: the server accepted without "
		    "proving it knows the password (no server signature)",
		    s->name);
		return -1;
	}
	if (s->stage == SASL_S_ERROR) {
		snprintf(err, errlen, "%s: the server accepted after "
		    "reporting an error", s->name);
		return -1;
	}
	return 0;
}
