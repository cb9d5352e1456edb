/*
 * config/keys — the msmtp keywords whose values need more than a table
 * entry: the aliases file, the %U %H %C %M substitutions of `from`, and
 * tls_priorities mapped onto what OpenSSL can do.
 *
 * Must never: look up a name or touch the network (the substitution
 * values come from the caller), print, or read outside the buffer given.
 * Every error names the place (FILE:LINE for an aliases file) and what
 * to write instead.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "config/config_int.h"
#include "util/buf.h"

#define CFG_ALIAS_MAX_FILE   (1024 * 1024)
#define CFG_ALIAS_MAX_LINE   4096u
#define CFG_ALIAS_MAX        10000u
#define CFG_ALIAS_MAX_ADDRS  1000u
#define CFG_ALIAS_MAX_ADDR   320u

/* ---- the aliases file --------------------------------------------------- */

void cfg_aliases_free(struct cfg_aliases *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->n; i++) {
		for (size_t j = 0; j < t->v[i].naddrs; j++)
			free(t->v[i].addrs[j]);
		free(t->v[i].addrs);
		free(t->v[i].local);
	}
	free(t->v);
	free(t->file);
	memset(t, 0, sizeof(*t));
}

/* NULL when S[0..N) can be an aliased address, else why not. */
static const char *keys_addr_problem(const char *s, size_t n)
{
	if (n == 0)
		return "an empty address";
	if (n > CFG_ALIAS_MAX_ADDR)
		return "an address longer than 320 bytes";
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= 0x20 || c == 0x7f)
			return "a space or control character inside an address";
		if (strchr("<>\"(),;:\\", c) != NULL)
			return "one of < > \" ( ) , ; : \\ inside an address";
	}
	if (s[0] == '@' || s[n - 1] == '@')
		return "an address that starts or ends with @";
	return NULL;
}

static const char *keys_local_problem(const char *s, size_t n)
{
	if (n == 0)
		return "nothing before `:`";
	if (n > 64)
		return "a name longer than 64 bytes";
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= 0x20 || c == 0x7f || c == '@' || c == ',' ||
		    c == '<' || c == '>' || c == '"')
			return "a name with a space, a control character or "
			    "one of @ , < > \"";
	}
	return NULL;
}

/* Parses one line (NUL-terminated, comment removed) into T. */
static int keys_alias_line(struct cfg_aliases *t, const char *where,
    unsigned lineno, char *s, char *err, size_t errlen)
{
	char *colon, *e, *p;
	const char *why;
	struct cfg_alias *a;
	size_t n;

	while (cfg_is_space(*s))
		s++;
	e = s + strlen(s);
	while (e > s && cfg_is_space(e[-1]))
		*--e = '\0';
	if (*s == '\0')
		return 0;
	colon = strchr(s, ':');
	if (colon == NULL) {
		cfg_err(err, errlen, "%s:%u: no `:` on the line; write "
		    "`local: address[, address...]`", where, lineno);
		return -1;
	}
	e = colon;
	while (e > s && cfg_is_space(e[-1]))
		e--;
	n = (size_t)(e - s);
	if ((why = keys_local_problem(s, n)) != NULL) {
		cfg_err(err, errlen, "%s:%u: %s; write `local: address[, "
		    "address...]`", where, lineno, why);
		return -1;
	}
	for (size_t i = 0; i < t->n; i++)
		if (strlen(t->v[i].local) == n &&
		    strncasecmp(t->v[i].local, s, n) == 0) {
			cfg_err(err, errlen, "%s:%u: `%.64s` is already "
			    "defined at line %u; keep one line for it",
			    where, lineno, t->v[i].local, t->v[i].line);
			return -1;
		}
	if (t->n >= CFG_ALIAS_MAX) {
		cfg_err(err, errlen, "%s:%u: more than %u aliases", where,
		    lineno, CFG_ALIAS_MAX);
		return -1;
	}
	if ((t->n & (t->n - 1)) == 0) {
		size_t cap = t->n ? t->n * 2 : 1;
		struct cfg_alias *nv = realloc(t->v, cap * sizeof(*nv));

		if (nv == NULL)
			goto oom;
		t->v = nv;
	}
	a = &t->v[t->n];
	memset(a, 0, sizeof(*a));
	a->line = lineno;
	a->local = strndup(s, n);
	if (a->local == NULL)
		goto oom;
	t->n++;
	p = colon + 1;
	for (;;) {
		char *comma = strchr(p, ',');
		char *q = comma != NULL ? comma : p + strlen(p);
		char **na;

		while (cfg_is_space(*p))
			p++;
		while (q > p && cfg_is_space(q[-1]))
			q--;
		n = (size_t)(q - p);
		if ((why = keys_addr_problem(p, n)) != NULL) {
			cfg_err(err, errlen, "%s:%u: %s in the list of `%s`; "
			    "write `%s: alice@example.com, bob@example.com`",
			    where, lineno, why, a->local, a->local);
			return -1;
		}
		if (a->naddrs >= CFG_ALIAS_MAX_ADDRS) {
			cfg_err(err, errlen, "%s:%u: more than %u addresses "
			    "for `%s`", where, lineno, CFG_ALIAS_MAX_ADDRS,
			    a->local);
			return -1;
		}
		na = realloc(a->addrs, (a->naddrs + 1) * sizeof(*na));
		if (na == NULL)
			goto oom;
		a->addrs = na;
		if ((a->addrs[a->naddrs] = strndup(p, n)) == NULL)
			goto oom;
		a->naddrs++;
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	return 0;
oom:
	cfg_err(err, errlen, "%s:%u: out of memory", where, lineno);
	return -1;
}

int cfg_aliases_parse(const char *name, const char *buf, size_t len,
    struct cfg_aliases *out, char *err, size_t errlen)
{
	char line[CFG_ALIAS_MAX_LINE + 1];
	size_t pos = 0;
	unsigned lineno = 0;

	memset(out, 0, sizeof(*out));
	if (name == NULL)
		name = "(aliases)";
	if ((out->file = strdup(name)) == NULL) {
		cfg_err(err, errlen, "%s: out of memory", name);
		return -1;
	}
	if (buf == NULL)
		len = 0;
	while (pos < len) {
		const char *start = buf + pos;
		const char *nl = memchr(start, '\n', len - pos);
		size_t n = nl != NULL ? (size_t)(nl - start) : len - pos;
		char *hash;

		pos += n + (nl != NULL);
		lineno++;
		if (n > 0 && start[n - 1] == '\r')
			n--;
		if (n > CFG_ALIAS_MAX_LINE) {
			cfg_err(err, errlen, "%s:%u: the line is longer than "
			    "%u bytes; split the list", name, lineno,
			    CFG_ALIAS_MAX_LINE);
			return -1;
		}
		if (memchr(start, '\0', n) != NULL) {
			cfg_err(err, errlen, "%s:%u: the line contains a NUL "
			    "byte; an aliases file is plain text", name,
			    lineno);
			return -1;
		}
		memcpy(line, start, n);
		line[n] = '\0';
		if ((hash = strchr(line, '#')) != NULL)
			*hash = '\0';
		if (keys_alias_line(out, name, lineno, line, err, errlen) != 0)
			return -1;
	}
	return 0;
}

const char *const *cfg_alias_lookup(const struct cfg_aliases *t,
    const char *local, size_t *n)
{
	const struct cfg_alias *def = NULL;

	*n = 0;
	if (t == NULL || local == NULL)
		return NULL;
	for (size_t i = 0; i < t->n; i++) {
		if (strcasecmp(t->v[i].local, local) == 0) {
			*n = t->v[i].naddrs;
			return (const char *const *)t->v[i].addrs;
		}
		if (strcasecmp(t->v[i].local, "default") == 0)
			def = &t->v[i];
	}
	if (def == NULL)
		return NULL;
	*n = def->naddrs;
	return (const char *const *)def->addrs;
}

/* Reads PATH (at most CFG_ALIAS_MAX_FILE bytes) into a new table. */
static int keys_aliases_read(const char *path, struct cfg_aliases *t,
    char *err, size_t errlen)
{
	char ebuf[128];
	struct stat st;
	struct buf text;
	int fd, rc, saved;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		cfg_err(err, errlen, "%s: cannot open the aliases file: %s; "
		    "fix the `aliases` line or create the file", path,
		    strerror_r(errno, ebuf, sizeof(ebuf)));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > CFG_ALIAS_MAX_FILE) {
		close(fd);
		cfg_err(err, errlen, "%s: not a regular file of at most %d "
		    "bytes; point `aliases` at the aliases file", path,
		    CFG_ALIAS_MAX_FILE);
		return -1;
	}
	/* the size it had: a file that grows meanwhile is refused */
	buf_init(&text, (size_t)st.st_size);
	if (buf_reserve(&text, (size_t)st.st_size) == NULL) {
		close(fd);
		cfg_err(err, errlen, "%s: out of memory", path);
		return -1;
	}
	rc = buf_read_fd(&text, fd);
	saved = errno;
	close(fd);
	if (rc < 0 && saved == EMSGSIZE) {
		cfg_err(err, errlen, "%s: the file grew while it was read; "
		    "try again", path);
	} else if (rc < 0) {
		cfg_err(err, errlen, "%s: cannot read: %s", path,
		    strerror_r(saved, ebuf, sizeof(ebuf)));
	} else {
		rc = cfg_aliases_parse(path, text.p, text.len, t, err,
		    errlen);
	}
	buf_free(&text);
	return rc;
}

int cfg_load_aliases(struct cfg *cfg, char *err, size_t errlen)
{
	for (size_t i = 0; i < cfg->naccounts; i++) {
		struct cfg_account *a = &cfg->accounts[i];
		struct cfg_aliases *t;

		if (a->alias_tab != NULL && (a->aliases == NULL ||
		    strcmp(a->alias_tab->file, a->aliases) != 0)) {
			cfg_aliases_free(a->alias_tab);
			free(a->alias_tab);
			a->alias_tab = NULL;
		}
		if (a->aliases == NULL || a->alias_tab != NULL)
			continue;
		t = calloc(1, sizeof(*t));
		if (t == NULL) {
			cfg_err(err, errlen, "%s: out of memory", a->aliases);
			return -1;
		}
		if (keys_aliases_read(a->aliases, t, err, errlen) != 0) {
			cfg_aliases_free(t);
			free(t);
			return -1;
		}
		a->alias_tab = t;
	}
	return 0;
}

/* ---- %U %H %C %M ------------------------------------------------------- */

int cfg_subst(const char *tmpl, const struct cfg_subst *v, char *out,
    size_t outlen, char *err, size_t errlen)
{
	size_t o = 0;

	if (outlen == 0) {
		cfg_err(err, errlen, "no room");
		return -1;
	}
	for (const char *p = tmpl; *p != '\0'; p++) {
		const char *add;
		char one[2] = { 0, 0 };
		size_t n;

		if (*p != '%') {
			one[0] = *p;
			add = one;
		} else {
			switch (p[1]) {
			case 'U': add = v->user; break;
			case 'H': add = v->host; break;
			case 'C': add = v->canon; break;
			case 'M': add = v->mailname; break;
			case '%': add = "%"; break;
			case '\0':
				cfg_err(err, errlen, "a lone `%%` at the end "
				    "(write `%%%%` for a percent sign)");
				return -1;
			default:
				cfg_err(err, errlen, "`%%%c` is not one of "
				    "%%U %%H %%C %%M %%%%", (unsigned char)p[1]
				    >= 0x20 && (unsigned char)p[1] < 0x7f ?
				    p[1] : '?');
				return -1;
			}
			if (add == NULL || add[0] == '\0') {
				cfg_err(err, errlen, "`%%%c` has no value on "
				    "this machine", p[1]);
				return -1;
			}
			p++;
		}
		n = strlen(add);
		if (n >= outlen - o) {
			cfg_err(err, errlen, "longer than %zu bytes once "
			    "expanded", outlen - 1);
			return -1;
		}
		memcpy(out + o, add, n);
		o += n;
	}
	out[o] = '\0';
	return 0;
}

int cfg_resolve_from(const struct cfg_account *a, const struct cfg_subst *v,
    char **out, char *err, size_t errlen)
{
	char tmpl[CFG_MAX_LINE + 8], buf[CFG_MAX_LINE + 1], why[160];
	int n;

	*out = NULL;
	if (a->auto_from) {
		/* msmtp: user@maildomain, or the user alone. */
		if (a->maildomain != NULL && a->maildomain[0] != '\0')
			n = snprintf(tmpl, sizeof(tmpl), "%%U@%s",
			    a->maildomain);
		else
			n = snprintf(tmpl, sizeof(tmpl), "%%U");
		if (n < 0 || (size_t)n >= sizeof(tmpl)) {
			cfg_acct_err(a, err, errlen, "maildomain is too "
			    "long");
			return -1;
		}
		/* a % in maildomain is taken literally */
		if (a->maildomain != NULL && strchr(a->maildomain, '%')) {
			n = snprintf(buf, sizeof(buf), "%s@%s",
			    v->user != NULL ? v->user : "", a->maildomain);
			if (n < 0 || (size_t)n >= sizeof(buf) ||
			    v->user == NULL || v->user[0] == '\0') {
				cfg_acct_err(a, err, errlen,
				    "auto_from: no user name");
				return -1;
			}
			*out = strdup(buf);
			return *out != NULL ? 0 : -1;
		}
	} else if (a->from != NULL) {
		n = snprintf(tmpl, sizeof(tmpl), "%s", a->from);
		if (n < 0 || (size_t)n >= sizeof(tmpl))
			return -1;
	} else {
		return 0;
	}
	if (cfg_subst(tmpl, v, buf, sizeof(buf), why, sizeof(why)) != 0) {
		cfg_acct_err(a, err, errlen, "%s `%.100s`: %s",
		    a->auto_from ? "auto_from" : "from", tmpl, why);
		return -1;
	}
	*out = strdup(buf);
	if (*out == NULL) {
		cfg_err(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

/* ---- tls_priorities ------------------------------------------------------ */

#define KEYS_TLS12 0x0303
#define KEYS_TLS13 0x0304

int cfg_tls_priorities(const char *s, struct cfg_tls_prio *out, char *err,
    size_t errlen)
{
	/* Which of TLS 1.2 and 1.3 are on: GnuTLS's NORMAL has both. */
	int v12 = 1, v13 = 1, first = 1;
	const char *p = s;

	memset(out, 0, sizeof(*out));
	if (s == NULL || s[0] == '\0')
		return 0;
	while (*p != '\0') {
		const char *e = strchr(p, ':');
		size_t n = e != NULL ? (size_t)(e - p) : strlen(p);
		char el[64];

		if (n == 0 || n >= sizeof(el)) {
			cfg_err(err, errlen, "an empty or overlong element; "
			    "write e.g. `NORMAL:-VERS-TLS1.2`");
			return -1;
		}
		memcpy(el, p, n);
		el[n] = '\0';
		if (first && (strcmp(el, "NORMAL") == 0 ||
		    strcmp(el, "PFS") == 0 || strcmp(el, "PERFORMANCE") == 0)) {
			/* OpenSSL's defaults */
		} else if (first && (strcmp(el, "SECURE128") == 0 ||
		    strcmp(el, "SECURE") == 0)) {
			out->seclevel = 3;
		} else if (first && strcmp(el, "SECURE192") == 0) {
			out->seclevel = 4;
		} else if (first && strcmp(el, "SECURE256") == 0) {
			out->seclevel = 5;
		} else if (strcmp(el, "-VERS-ALL") == 0 ||
		    strcmp(el, "-VERS-TLS-ALL") == 0) {
			v12 = v13 = 0;
		} else if (strcmp(el, "+VERS-ALL") == 0 ||
		    strcmp(el, "+VERS-TLS-ALL") == 0) {
			v12 = v13 = 1;
		} else if (strcmp(el, "+VERS-TLS1.2") == 0) {
			v12 = 1;
		} else if (strcmp(el, "-VERS-TLS1.2") == 0) {
			v12 = 0;
		} else if (strcmp(el, "+VERS-TLS1.3") == 0) {
			v13 = 1;
		} else if (strcmp(el, "-VERS-TLS1.3") == 0) {
			v13 = 0;
		} else if (strcmp(el, "-VERS-TLS1.0") == 0 ||
		    strcmp(el, "-VERS-TLS1.1") == 0 ||
		    strcmp(el, "-VERS-SSL3.0") == 0) {
			/* never used by outboxfs anyway */
		} else if (strcmp(el, "+VERS-TLS1.0") == 0 ||
		    strcmp(el, "+VERS-TLS1.1") == 0 ||
		    strcmp(el, "+VERS-SSL3.0") == 0) {
			cfg_err(err, errlen, "`%s`: outboxfs never uses TLS "
			    "below 1.2; remove the element", el);
			return -1;
		} else if (strcmp(el, "%COMPAT") == 0) {
			/* OpenSSL's interoperability workarounds are on */
		} else if (strcmp(el, "%NO_TICKETS") == 0) {
			out->no_tickets = 1;
		} else {
			cfg_err(err, errlen, "`%.60s` has no OpenSSL "
			    "equivalent that outboxfs maps (it maps NORMAL, "
			    "PFS, PERFORMANCE, SECURE128, SECURE192, SECURE256, "
			    "the +VERS-/-VERS- elements of TLS 1.2 and 1.3, "
			    "%%COMPAT and %%NO_TICKETS); remove it", el);
			return -1;
		}
		first = 0;
		if (e == NULL)
			break;
		p = e + 1;
		if (*p == '\0') {
			cfg_err(err, errlen, "a trailing `:`; remove it");
			return -1;
		}
	}
	if (!v12 && !v13) {
		cfg_err(err, errlen, "no TLS version is left on; keep "
		    "+VERS-TLS1.2 or +VERS-TLS1.3");
		return -1;
	}
	out->min_version = v12 ? KEYS_TLS12 : KEYS_TLS13;
	out->max_version = v13 ? KEYS_TLS13 : KEYS_TLS12;
	return 0;
}

int cfg_dh_seclevel(unsigned bits)
{
	if (bits == 0)
		return 0;
	if (bits <= 1024)
		return 1;
	if (bits <= 2048)
		return 2;
	if (bits <= 3072)
		return 3;
	if (bits <= 7680)
		return 4;
	return 5;
}
