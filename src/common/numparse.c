#include "numparse.h"

#include <limits.h>
#include <string.h>

int
num_parse_n(const char *s, size_t len, long long min, long long max, long long *out)
{
	unsigned long long v = 0, limit;
	size_t i = 0;
	int neg = 0;

	if (s == NULL || min > max)
		return -1;
	if (len > 0 && s[0] == '-') {
		if (min >= 0)
			return -1;
		neg = 1;
		i = 1;
	}
	if (i == len)
		return -1;
	/* The magnitude allowed in this direction; LLONG_MIN's is LLONG_MAX + 1. */
	limit = neg ? (unsigned long long)LLONG_MAX + 1 : (unsigned long long)LLONG_MAX;
	for (; i < len; i++) {
		unsigned d = (unsigned char)s[i] - '0';

		if (d > 9)
			return -1;
		if (v > (limit - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	if (neg) {
		long long n = v == (unsigned long long)LLONG_MAX + 1 ? LLONG_MIN : -(long long)v;

		if (n < min || n > max)
			return -1;
		*out = n;
	} else {
		if ((long long)v < min || (long long)v > max)
			return -1;
		*out = (long long)v;
	}
	return 0;
}

int
num_parse(const char *s, long long min, long long max, long long *out)
{
	return s == NULL ? -1 : num_parse_n(s, strlen(s), min, max, out);
}
