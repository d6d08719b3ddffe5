/*
 * fail-strdup: an LD_PRELOAD shim for out-of-memory tests.  The N-th
 * strdup(3) ($VEO_FAIL_STRDUP_NTH, default 1) of a string that contains
 * $VEO_FAIL_STRDUP_MATCH returns NULL with errno ENOMEM, as strdup does
 * when memory runs out; every other call is the real one.  Without
 * $VEO_FAIL_STRDUP_MATCH it changes nothing.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

char *
strdup(const char *s)
{
	static char *(*real)(const char *);
	static int seen, done;
	const char *match = getenv("VEO_FAIL_STRDUP_MATCH"), *nth = getenv("VEO_FAIL_STRDUP_NTH");

	if (real == NULL)
		real = (char *(*)(const char *))dlsym(RTLD_NEXT, "strdup");
	if (!done && match != NULL && strstr(s, match) != NULL &&
	    ++seen >= (nth != NULL ? atoi(nth) : 1)) {
		done = 1;
		errno = ENOMEM;
		return NULL;
	}
	return real(s);
}
