/*
 * config_int — what the files of config/ share with each other and
 * nothing else: error texts, the keyword table (table.c) and the list of
 * accounts (config.c) as the parser (parse.c) uses them. Included only
 * by the files of config/.
 *
 * Error convention: as config.h (0 or -1 with ERR filled); pointers are
 * NULL with ERR filled, or NULL meaning "none" where the comment says so.
 */
#ifndef OUTBOXFS_CONFIG_INT_H
#define OUTBOXFS_CONFIG_INT_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

#define CFG_NELEM(a) (sizeof(a) / sizeof((a)[0]))

static inline int cfg_is_space(char c)
{
	return c == ' ' || c == '\t';
}

/* The printf-style text into ERR (ERRLEN bytes, always NUL-terminated; a
 * long text is cut). ERR may be NULL. */
void cfg_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Writes "FILE:LINE: account NAME: " (or "account NAME: " when A has no
 * file) and then the printf-style text into ERR (ERRLEN bytes, always
 * NUL-terminated; a long text is cut). ERR may be NULL.
 */
void cfg_acct_err(const struct cfg_account *a, char *err, size_t errlen,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* ---- the keyword table (table.c) -------------------------------------- */

struct cfg_kw;                  /* one keyword: opaque outside table.c */

/* The keyword NAME, or NULL for none. Static. */
const struct cfg_kw *cfg_kw_find(const char *name);

/* The CFG_K_ key KW sets (two spellings may share one). */
enum cfg_key cfg_kw_key(const struct cfg_kw *kw);

/* Why outboxfs refuses the msmtp keyword NAME, or NULL. Static text. */
const char *cfg_kw_refused(const char *name);

/* 1 when NAME is an msmtp keyword outboxfs reads without effect. */
int cfg_kw_ignored(const char *name);

/* The known keyword nearest to WORD, or NULL if none is close. */
const char *cfg_suggest(const char *word);

/*
 * Sets KW on A from VAL (already unquoted). WHERE prefixes messages
 * ("FILE:LINE" or "-o KEY"). Values are echoed in messages only for
 * keywords that cannot hold a secret.
 */
int cfg_apply(struct cfg_account *a, const struct cfg_kw *kw,
    const char *val, const char *where, char *err, size_t errlen);

/* Copies (deep) from SRC to DST every keyword whose CFG_BIT is in MASK;
 * DST's set bits are the caller's. -1 without memory. */
int cfg_copy_keys(struct cfg_account *dst, const struct cfg_account *src,
    uint64_t mask);

/* A's fields to outboxfs's defaults (nothing allocated). */
void cfg_account_defaults(struct cfg_account *a);

/* Frees what A holds (a password wiped first) and zeroes it. */
void cfg_account_clear(struct cfg_account *a);

/* ---- the accounts (config.c) ------------------------------------------ */

/* NULL if NAME (LEN bytes) can be an account (and a directory) name,
 * else why not. Static text. */
const char *cfg_name_problem(const char *name, size_t len);

/* The account called NAME, or NULL. Borrowed from CFG. */
struct cfg_account *cfg_find(const struct cfg *cfg, const char *name);

/* As cfg_find, also following "account default : X". */
struct cfg_account *cfg_resolve(const struct cfg *cfg, const char *name);

/* Appends a copy of cfg->defaults named NAME (length LEN); WHERE
 * prefixes messages. The array may move: earlier pointers into it are
 * stale. */
struct cfg_account *cfg_append(struct cfg *cfg, const char *name,
    size_t len, const char *where, char *err, size_t errlen);

#endif
