/*
 * fuzz_addr — arbitrary bytes as an address list and as a bare address.
 * Every address msg_parse_addrlist returns must pass msg_check_addr and
 * hold nothing that could end or extend an SMTP command (CR, LF, NUL,
 * control characters, '<' or '>' outside quotes). Any violation aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/msg.h"

static void fuzz_safe(const char *a)
{
	int quoted = 0;
	char err[256];

	if (msg_check_addr(a, err, sizeof(err)) != 0)
		abort();
	if (strlen(a) > MSG_MAX_ADDR)
		abort();
	for (const char *p = a; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (c < 0x20 || c == 0x7f)
			abort();
		if (quoted && c == '\\' && p[1]) {
			p++;
			continue;
		}
		if (c == '"')
			quoted = !quoted;
		else if (!quoted && (c == '<' || c == '>' || c == ' '))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char **list = NULL, err[512], *z;
	size_t n = 0;

	if (msg_parse_addrlist((const char *)data, size, &list, &n, err,
	    sizeof(err)) == 0) {
		for (size_t i = 0; i < n; i++)
			fuzz_safe(list[i]);
	} else if (n != 0 || err[0] == '\0') {
		abort();
	}
	for (size_t i = 0; i < n; i++)
		free(list[i]);
	free(list);

	z = malloc(size + 1);
	if (z == NULL)
		return 0;
	memcpy(z, data, size);
	z[size] = '\0';
	if (msg_check_addr(z, err, sizeof(err)) == 0)
		fuzz_safe(z);
	free(z);
	return 0;
}
