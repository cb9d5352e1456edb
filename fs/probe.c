/* probe — placeholder until --probe lands. */
#include <stdio.h>
#include "fs/probe.h"

int probe_main(int argc, char **argv)
{
	(void)argc; (void)argv;
	fprintf(stderr, "outboxfs: --probe is not built yet\n");
	return 1;
}
