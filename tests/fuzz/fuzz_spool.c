/*
 * fuzz_spool — feeds arbitrary bytes to the spool record parser, the one
 * parser that reads what a crash may have cut short. A parse either fails
 * with a message and nothing to free, or gives a tombstone, or a record
 * that formats to a text which parses again to the same text (the journal is rewritten from
 * parsed records at every mount, so a record must survive the round trip),
 * its check line (spool_check) included.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fs/spool.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct spool_rec r, r2;
	struct spool_check ck, ck2;
	char err[256], *t1 = NULL, *t2 = NULL;
	size_t l1, l2;

	err[0] = '\0';
	if (spool_rec_parse_check((const char *)data, size, &r, &ck, err,
	    sizeof(err)) != 0) {
		if (err[0] == '\0' || memchr(err, '\0', sizeof(err)) == NULL)
			abort();
		return 0;
	}
	if (r.removed) {
		/* A tombstone: only its id counts; the journal writes it with
		 * its own two-line form, not spool_rec_format. */
		spool_rec_free(&r);
		return 0;
	}
	if (spool_rec_format_check(&r, &ck, &t1, &l1) != 0)
		abort();
	if (spool_rec_parse_check(t1, l1, &r2, &ck2, err, sizeof(err)) != 0)
		abort();
	if (ck.set != ck2.set || (ck.set && (ck.stamp != ck2.stamp ||
	    ck.len != ck2.len || ck.crc != ck2.crc)))
		abort();
	if (spool_rec_format_check(&r2, &ck2, &t2, &l2) != 0)
		abort();
	if (l1 != l2 || memcmp(t1, t2, l1) != 0)
		abort();
	free(t1);
	free(t2);
	spool_rec_free(&r);
	spool_rec_free(&r2);
	return 0;
}
