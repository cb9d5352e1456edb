/* outboxfs — placeholder until the daemon lands. */
#include <stdio.h>

int main(void)
{
	fprintf(stderr, "outboxfs: the daemon is not built yet\n");
	return 1;
}
