/*
 * test_numparse: the one strict integer parser: digits only, a sign only
 * where the range has negatives, range checked, overflow refused.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "numparse.h"
#include "tap.h"

static void
yes(const char *s, long long min, long long max, long long want)
{
	long long v = 12345;

	ok(num_parse(s, min, max, &v) == 0 && v == want, "'%s' in [%lld, %lld] is %lld", s, min, max, want);
}

static void
no(const char *s, long long min, long long max)
{
	long long v = 12345;

	ok(num_parse(s, min, max, &v) < 0 && v == 12345, "'%s' refused in [%lld, %lld], out untouched",
	    s ? s : "(null)", min, max);
}

int
main(void)
{
	long long v;

	yes("0", 0, 10, 0);
	yes("10", 0, 10, 10);
	yes("007", 0, 10, 7);
	yes("9223372036854775807", 0, LLONG_MAX, LLONG_MAX);
	yes("-9223372036854775808", LLONG_MIN, LLONG_MAX, LLONG_MIN);
	yes("-1", -5, 5, -1);
	yes("-0", -5, 5, 0);
	no("11", 0, 10);
	no("9223372036854775808", 0, LLONG_MAX);
	no("18446744073709551616", 0, LLONG_MAX);
	no("99999999999999999999999999", LLONG_MIN, LLONG_MAX);
	no("-9223372036854775809", LLONG_MIN, LLONG_MAX);
	no("-1", 0, 10);	/* no sign where the range has no negatives */
	no("-0", 0, 10);
	no("+1", 0, 10);
	no("+1", -10, 10);
	no("", 0, 10);
	no("-", -10, 10);
	no(" 1", 0, 10);
	no("1 ", 0, 10);
	no("1\n", 0, 10);
	no("0x1", 0, 10);
	no("1e2", 0, 1000);
	no("1.0", 0, 10);
	no("1a", 0, 10);
	no(NULL, 0, 10);
	no("5", 10, 0);	/* empty range */
	/* Length-bounded: the bytes after len are not looked at. */
	ok(num_parse_n("123junk", 3, 0, 1000, &v) == 0 && v == 123, "num_parse_n stops at len");
	ok(num_parse_n("12\0003", 4, 0, 10000, &v) < 0, "an embedded NUL is junk");
	ok(num_parse_n("", 0, 0, 10, &v) < 0, "zero length refused");
	return done_testing();
}
