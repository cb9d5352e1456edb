/*
 * config/parse — the msmtprc syntax: one `keyword value` a line, `#`
 * comments, double quotes, `defaults`, `account NAME [: PARENT,...]` and
 * `account default : NAME`; each value handed to the keyword table
 * (table.c). A file is read whole (at most CFG_MAX_FILE bytes) and refused
 * when it holds a password others could read, as msmtp does.
 *
 * Must never: print, read outside the buffer it is given, echo a line
 * that may hold a password into a message, or leave the file's bytes in
 * memory it frees (they are wiped).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "config/config_int.h"
#include "util/buf.h"

/* ---- the parser's state ----------------------------------------------- */

#define CFG_NONE    ((size_t)-1)
#define CFG_DEFS    ((size_t)-2)

struct cfg_parser {
	struct cfg *cfg;
	unsigned line;
	size_t cur;                 /* index, CFG_DEFS or CFG_NONE */
	char where[320];            /* "FILE:LINE"; a long path keeps its tail */
	char *err;
	size_t errlen;

	unsigned password_line;     /* first line holding a password */
	unsigned passwordeval_line;

	/* "account default : X" waits to see whether keywords follow. */
	int alias_pending;
	int alias_touched;
	unsigned default_line;      /* line of the default choice, or 0 */

	struct buf ignored;         /* becomes cfg->ignored */
};

/* The notes of msmtp keywords read without effect: enough to make the
 * point. */
#define CFG_IGNORED_MAX (64u * 1024 - 1)

static struct cfg_account *cfg_cur(struct cfg_parser *p)
{
	if (p->cur == CFG_DEFS)
		return &p->cfg->defaults;
	if (p->cur == CFG_NONE)
		return NULL;
	return &p->cfg->accounts[p->cur];
}

/* Remembers an msmtp keyword read without effect, for the warning at
 * mount ("FILE:LINE: KEYWORD"). */
static int cfg_note_ignored(struct cfg_parser *p, const char *kw)
{
	if (buf_printf(&p->ignored, "%s: %s\n", p->where, kw) == 0)
		return 0;
	if (errno == EMSGSIZE) {
		/* past the cap: this note is left out, a shorter one may
		 * still fit */
		buf_truncate(&p->ignored, p->ignored.len);
		return 0;
	}
	cfg_err(p->err, p->errlen, "%s: out of memory", p->where);
	return -1;
}

/* ---- sections --------------------------------------------------------- */

/* Ends the section in progress: an untouched "account default : X" is
 * only a choice of default account, not an account of its own. */
static int cfg_close_section(struct cfg_parser *p)
{
	struct cfg *cfg = p->cfg;

	if (p->alias_pending && !p->alias_touched) {
		/* The account was the last one appended. */
		cfg_account_clear(&cfg->accounts[cfg->naccounts - 1]);
		cfg->naccounts--;
	} else if (p->alias_pending) {
		free(cfg->default_account);
		cfg->default_account = NULL;
	}
	p->alias_pending = 0;
	p->alias_touched = 0;
	p->cur = CFG_NONE;
	return 0;
}

static int cfg_parse_account(struct cfg_parser *p, char *arg)
{
	struct cfg *cfg = p->cfg;
	char *colon = strchr(arg, ':');
	char *name = arg, *end;
	size_t len, idx, nparents = 0;
	size_t *parent = NULL;
	const char *why;
	struct cfg_account *a, *other;
	int rc = -1;

	if (colon != NULL)
		*colon = '\0';
	end = name + strlen(name);
	while (end > name && cfg_is_space(end[-1]))
		*--end = '\0';
	len = (size_t)(end - name);
	if (len == 0) {
		cfg_err(p->err, p->errlen, "%s: `account` needs a name; write "
		    "`account NAME` or `account NAME : PARENT`", p->where);
		return -1;
	}
	why = cfg_name_problem(name, len);
	if (why != NULL) {
		cfg_err(p->err, p->errlen, "%s: account name `%.64s` %s; use "
		    "letters, digits, `-`, `_`, `.` or `@`", p->where, name,
		    why);
		return -1;
	}
	other = cfg_find(cfg, name);
	if (other != NULL ||
	    (strcmp(name, "default") == 0 && p->default_line != 0)) {
		cfg_err(p->err, p->errlen, "%s: account `%s` is already defined "
		    "at line %u; give this one another name", p->where, name,
		    other != NULL ? other->line : p->default_line);
		return -1;
	}

	if (cfg_close_section(p) != 0)
		return -1;

	/* Resolve every parent (by index: the array may move) before
	 * creating anything. */
	if (colon != NULL) {
		char *s = colon + 1;
		/* At most one parent per two bytes of the line. */
		parent = malloc((strlen(s) / 2 + 1) * sizeof(*parent));
		if (parent == NULL) {
			cfg_err(p->err, p->errlen, "%s: out of memory", p->where);
			return -1;
		}
		for (;;) {
			char *comma = strchr(s, ',');
			char *e = comma != NULL ? comma : s + strlen(s);
			const struct cfg_account *par;

			while (cfg_is_space(*s))
				s++;
			while (e > s && cfg_is_space(e[-1]))
				e--;
			*e = '\0';
			if (*s == '\0') {
				cfg_err(p->err, p->errlen, "%s: account `%s` "
				    "lists an empty parent; write `account %s : "
				    "PARENT[,PARENT...]`", p->where, name, name);
				goto out;
			}
			if (strcmp(s, name) == 0) {
				cfg_err(p->err, p->errlen, "%s: account `%s` "
				    "cannot inherit from itself; name an account "
				    "defined above it", p->where, name);
				goto out;
			}
			par = cfg_resolve(cfg, s);
			if (par == NULL) {
				cfg_err(p->err, p->errlen, "%s: account `%s` "
				    "inherits from `%.64s`, which is not defined "
				    "above this line; define `account %.64s` "
				    "first or fix the name", p->where, name, s, s);
				goto out;
			}
			parent[nparents++] = (size_t)(par - cfg->accounts);
			if (comma == NULL)
				break;
			s = comma + 1;
		}
	}

	if (strcmp(name, "default") == 0 && nparents == 1) {
		char *target = strdup(cfg->accounts[parent[0]].name);
		if (target == NULL) {
			cfg_err(p->err, p->errlen, "%s: out of memory",
			    p->where);
			goto out;
		}
		free(cfg->default_account);
		cfg->default_account = target;
		p->alias_pending = 1;
	}

	a = cfg_append(cfg, name, len, p->where, p->err, p->errlen);
	if (a == NULL)
		goto out;
	a->line = p->line;
	idx = cfg->naccounts - 1;

	for (size_t j = 0; j < nparents; j++) {
		const struct cfg_account *par = &cfg->accounts[parent[j]];
		a = &cfg->accounts[idx];
		if (cfg_copy_keys(a, par, par->set) != 0) {
			cfg_err(p->err, p->errlen, "%s: out of memory",
			    p->where);
			goto out;
		}
		a->set |= par->set;
	}
	if (strcmp(name, "default") == 0)
		p->default_line = p->line;
	p->cur = idx;
	rc = 0;
out:
	free(parent);
	return rc;
}

/* ---- one line --------------------------------------------------------- */

/*
 * Removes the double quotes around an argument. Inside them, \" stands
 * for " and \\ for \; any other backslash is kept as written.
 */
static int cfg_unquote(struct cfg_parser *p, const char *kwname, char *arg)
{
	size_t n = strlen(arg), o = 0, i = 1;

	if (n == 0 || arg[0] != '"')
		return 0;
	while (i < n) {
		if (arg[i] == '\\' && i + 1 < n &&
		    (arg[i + 1] == '"' || arg[i + 1] == '\\')) {
			arg[o++] = arg[i + 1];
			i += 2;
			continue;
		}
		if (arg[i] == '"')
			break;
		arg[o++] = arg[i++];
	}
	if (i >= n) {
		cfg_err(p->err, p->errlen, "%s: the value of %s has no closing "
		    "`\"`; end it with `\"` (write `\\\"` for a quote inside)",
		    p->where, kwname);
		return -1;
	}
	if (i != n - 1) {
		cfg_err(p->err, p->errlen, "%s: text after the closing `\"` of "
		    "%s; put the whole value inside the quotes", p->where,
		    kwname);
		return -1;
	}
	arg[o] = '\0';
	return 0;
}

static int cfg_line(struct cfg_parser *p, char *s)
{
	char *e, *kw, *arg;
	const struct cfg_kw *k;
	struct cfg_account *a;

	while (cfg_is_space(*s))
		s++;
	e = s + strlen(s);
	while (e > s && cfg_is_space(e[-1]))
		*--e = '\0';
	if (*s == '\0' || *s == '#')
		return 0;

	kw = s;
	while (*s != '\0' && !cfg_is_space(*s))
		s++;
	if (*s != '\0')
		*s++ = '\0';
	while (cfg_is_space(*s))
		s++;
	arg = s;

	if (strcmp(kw, "defaults") == 0) {
		if (*arg != '\0') {
			cfg_err(p->err, p->errlen, "%s: `defaults` takes no "
			    "value; write `defaults` alone on its line, or "
			    "`account NAME` to start an account", p->where);
			return -1;
		}
		if (cfg_close_section(p) != 0)
			return -1;
		p->cur = CFG_DEFS;
		return 0;
	}
	if (strcmp(kw, "account") == 0)
		return cfg_parse_account(p, arg);

	k = cfg_kw_find(kw);
	if (k == NULL) {
		const char *why = cfg_kw_refused(kw);
		int ignored = cfg_kw_ignored(kw);

		if (why != NULL) {
			cfg_err(p->err, p->errlen, "%s: %s: %s", p->where, kw,
			    why);
			return -1;
		}
		if (strcmp(kw, "protocol") == 0 && cfg_unquote(p, kw, arg) != 0)
			return -1;
		if (strcmp(kw, "protocol") == 0 && strcmp(arg, "smtp") != 0) {
			cfg_err(p->err, p->errlen, "%s: outboxfs speaks SMTP "
			    "only; write `protocol smtp` or remove the line",
			    p->where);
			return -1;
		}
		if (ignored || strcmp(kw, "protocol") == 0) {
			if (cfg_cur(p) == NULL)
				goto no_section;
			if (ignored)
				return cfg_note_ignored(p, kw);
			return 0;
		}
		{
			const char *near = cfg_suggest(kw);
			if (near != NULL)
				cfg_err(p->err, p->errlen, "%s: unknown keyword "
				    "`%.64s`; did you mean `%s`?", p->where, kw,
				    near);
			else
				cfg_err(p->err, p->errlen, "%s: unknown keyword "
				    "`%.64s`; outboxfs.conf(5) lists the "
				    "keywords", p->where, kw);
		}
		return -1;
	}
	a = cfg_cur(p);
	if (a == NULL)
		goto no_section;
	if (cfg_unquote(p, kw, arg) != 0)
		return -1;
	if (cfg_kw_key(k) == CFG_K_PASSWORD && arg[0] != '\0' &&
	    !p->password_line)
		p->password_line = p->line;
	if (cfg_kw_key(k) == CFG_K_PASSWORDEVAL && arg[0] != '\0' &&
	    !p->passwordeval_line)
		p->passwordeval_line = p->line;
	if (p->alias_pending)
		p->alias_touched = 1;
	return cfg_apply(a, k, arg, p->where, p->err, p->errlen);

no_section:
	cfg_err(p->err, p->errlen, "%s: `%.64s` comes before any `defaults` "
	    "or `account` line; start the file with `defaults` or "
	    "`account NAME`", p->where, kw);
	return -1;
}

/* ---- a buffer, a file ------------------------------------------------- */

static void cfg_set_where(struct cfg_parser *p)
{
	const char *f = p->cfg->file;
	size_t lf = strlen(f);
	int n;

	/* Keep the tail of a long path: it is the part that tells files
	 * apart. */
	if (lf > 256)
		n = snprintf(p->where, sizeof(p->where), "...%s:%u",
		    f + lf - 253, p->line);
	else
		n = snprintf(p->where, sizeof(p->where), "%s:%u", f, p->line);
	if (n < 0 || (size_t)n >= sizeof(p->where))
		p->where[sizeof(p->where) - 1] = '\0';
}

static int cfg_parse(const char *name, const char *buf, size_t len,
    struct cfg *out, struct cfg_parser *p, char *err, size_t errlen)
{
	char line[CFG_MAX_LINE + 1];
	size_t pos = 0;
	int rc = 0;

	cfg_init(out);
	memset(p, 0, sizeof(*p));
	p->cfg = out;
	p->cur = CFG_NONE;
	p->err = err;
	p->errlen = errlen;
	buf_init(&p->ignored, CFG_IGNORED_MAX);
	if (err != NULL && errlen > 0)
		err[0] = '\0';

	out->file = strdup(name != NULL ? name : "(config)");
	if (out->file == NULL) {
		cfg_err(err, errlen, "%s: out of memory", name);
		return -1;
	}
	out->defaults.file = out->file;
	if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
		pos = 3;        /* a UTF-8 byte order mark from an editor */

	while (pos < len) {
		const char *start = buf + pos;
		const char *nl = memchr(start, '\n', len - pos);
		size_t n = nl != NULL ? (size_t)(nl - start) : len - pos;

		pos += n + (nl != NULL);
		p->line++;
		cfg_set_where(p);
		if (n > 0 && start[n - 1] == '\r')
			n--;
		if (n > CFG_MAX_LINE) {
			cfg_err(err, errlen, "%s: the line is longer than %u "
			    "bytes; shorten it (a long password belongs in "
			    "passwordeval)", p->where, CFG_MAX_LINE);
			rc = -1;
			break;
		}
		if (memchr(start, '\0', n) != NULL) {
			cfg_err(err, errlen, "%s: the line contains a NUL byte; "
			    "the configuration must be plain text", p->where);
			rc = -1;
			break;
		}
		memcpy(line, start, n);
		line[n] = '\0';
		rc = cfg_line(p, line);
		if (rc != 0)
			break;
	}
	explicit_bzero(line, sizeof(line));
	if (rc == 0)
		rc = cfg_close_section(p);
	if (rc == 0 && p->ignored.len > 0)
		out->ignored = buf_take(&p->ignored, NULL);
	buf_free(&p->ignored);
	if (rc != 0)
		cfg_free(out);
	return rc;
}

int cfg_parse_buffer(const char *name, const char *buf, size_t len,
    struct cfg *out, char *err, size_t errlen)
{
	struct cfg_parser p;

	if (buf == NULL)
		len = 0;
	return cfg_parse(name, buf != NULL ? buf : "", len, out, &p, err,
	    errlen);
}

/* The whole file into B, a secret buffer of cap CFG_MAX_FILE; EFBIG
 * when it is longer. */
static int cfg_read_all(int fd, struct buf *b)
{
	if (buf_read_fd(b, fd) == 0)
		return 0;
	if (errno == EMSGSIZE)
		errno = EFBIG;
	return -1;
}

int cfg_parse_file(const char *path, struct cfg *out, char *err,
    size_t errlen)
{
	struct cfg_parser p;
	struct stat st;
	struct buf text = BUF_INIT_SECRET(CFG_MAX_FILE);
	char ebuf[128];
	int fd, rc, saved;

	memset(out, 0, sizeof(*out));
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		saved = errno;
		cfg_err(err, errlen, "%s: cannot open: %s; check the path, or "
		    "create the file (mode 600)", path,
		    strerror_r(saved, ebuf, sizeof(ebuf)));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		cfg_err(err, errlen, "%s: not a regular file; point -o config= "
		    "at the configuration file itself", path);
		return -1;
	}
	if (st.st_size > CFG_MAX_FILE || cfg_read_all(fd, &text) != 0) {
		saved = st.st_size > CFG_MAX_FILE ? EFBIG : errno;
		buf_free(&text);
		close(fd);
		if (saved == EFBIG)
			cfg_err(err, errlen, "%s: larger than %d bytes; a "
			    "configuration file is a few lines", path,
			    CFG_MAX_FILE);
		else
			cfg_err(err, errlen, "%s: cannot read: %s", path,
			    strerror_r(saved, ebuf, sizeof(ebuf)));
		return -1;
	}
	close(fd);

	rc = cfg_parse(path, text.p, text.len, out, &p, err, errlen);
	buf_free(&text);
	if (rc != 0)
		return rc;

	/* msmtp's rule: a secret lives only in a file no one else can use. */
	if (p.password_line != 0 && (st.st_mode & (S_IRWXG | S_IRWXO))) {
		cfg_err(err, errlen, "%s:%u: this file holds a password but "
		    "group or others have access to it (mode %04o); run "
		    "`chmod 600 %s`", path, p.password_line,
		    (unsigned)(st.st_mode & 07777), path);
		cfg_free(out);
		return -1;
	}
	if (p.password_line != 0 && st.st_uid != geteuid()) {
		cfg_err(err, errlen, "%s:%u: this file holds a password but "
		    "belongs to uid %u, not to you; copy it to a file of your "
		    "own and run `chmod 600` on it", path, p.password_line,
		    (unsigned)st.st_uid);
		cfg_free(out);
		return -1;
	}
	if (p.passwordeval_line != 0 && (st.st_mode & (S_IWGRP | S_IWOTH))) {
		cfg_err(err, errlen, "%s:%u: this file runs a passwordeval "
		    "command but group or others may change it (mode %04o); "
		    "run `chmod go-w %s`", path, p.passwordeval_line,
		    (unsigned)(st.st_mode & 07777), path);
		cfg_free(out);
		return -1;
	}
	if (cfg_load_aliases(out, err, errlen) != 0) {
		cfg_free(out);
		return -1;
	}
	return 0;
}
