/*
 * tap.h: the Test Anything Protocol for the C unit tests, header-only.
 *
 *   ok(cond, fmt, ...)            one test point
 *   is_int(got, want, name)       with a diagnostic on failure
 *   is_str(got, want, name)
 *   return done_testing();        prints the plan; exit status 0 iff all passed
 */
#ifndef VEO_TAP_H
#define VEO_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int tap_n, tap_failed;

static int __attribute__((format(printf, 2, 3)))
ok(int cond, const char *fmt, ...)
{
	va_list ap;

	tap_n++;
	printf("%sok %d - ", cond ? "" : "not ", tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!cond)
		tap_failed++;
	return cond;
}

#define is_int(got, want, name) do { \
	long long g_ = (got), w_ = (want); \
	if (!ok(g_ == w_, "%s", name)) \
		printf("#   got: %lld\n#   expected: %lld\n", g_, w_); \
} while (0)

#define is_str(got, want, name) do { \
	const char *g_ = (got), *w_ = (want); \
	if (!ok(g_ && w_ ? strcmp(g_, w_) == 0 : g_ == w_, "%s", name)) \
		printf("#   got: '%s'\n#   expected: '%s'\n", g_ ? g_ : "(null)", w_ ? w_ : "(null)"); \
} while (0)

static inline int
done_testing(void)
{
	printf("1..%d\n", tap_n);
	fflush(stdout);
	return tap_failed ? 1 : 0;
}

#endif
