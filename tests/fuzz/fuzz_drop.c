/*
 * fuzz_drop — feeds arbitrary bytes to the maildrop parser, as the
 * daemon does with whatever is in SPOOL/maildrop/. A block it accepts
 * must format again, parse again to the same envelope, and its length
 * must lie within the input.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fs/drop.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct drop_env e, back;
	char err[256], *text;
	size_t head, len, head2, i;

	if (drop_parse((const char *)data, size, &e, &head, err,
	    sizeof(err)) < 0)
		return 0;
	if (head > size || e.nrcpts == 0 || e.nrcpts > DROP_MAX_RCPTS)
		abort();
	if (drop_format(&e, &text, &len, err, sizeof(err)) < 0)
		abort();
	if (drop_parse(text, len, &back, &head2, err, sizeof(err)) < 0 ||
	    head2 != len || back.nrcpts != e.nrcpts || back.size != e.size ||
	    back.uid != e.uid)
		abort();
	for (i = 0; i < e.nrcpts; i++)
		if (strcmp(back.rcpts[i], e.rcpts[i]) != 0)
			abort();
	free(text);
	drop_env_free(&back);
	drop_env_free(&e);
	return 0;
}
