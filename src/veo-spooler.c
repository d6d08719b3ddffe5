/* veo-spooler: placeholder main until the spooler issue lands. */
#include <stdio.h>

int
main(void)
{
	fputs("veo-spooler: not built yet\n", stderr);
	return 1;
}
