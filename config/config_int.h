/*
 * config_int — what the files of config/ share with each other and
 * nothing else: the error text of an account. Included only by the
 * files of config/.
 */
#ifndef OUTBOXFS_CONFIG_INT_H
#define OUTBOXFS_CONFIG_INT_H

#include <stddef.h>

#include "config/config.h"

/*
 * Writes "FILE:LINE: account NAME: " (or "account NAME: " when A has no
 * file) and then the printf-style text into ERR (ERRLEN bytes, always
 * NUL-terminated; a long text is cut). ERR may be NULL.
 */
void cfg_acct_err(const struct cfg_account *a, char *err, size_t errlen,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#endif
