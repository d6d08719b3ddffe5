/*
 * cli.h: what the test tools in tests/tools share, header-only.
 *
 * Each tool defines usage(why): it prints "<tool>: <why>" and its usage
 * lines on stderr and exits 2.  cli_number() reads the number an option
 * takes with the one strict parser (numparse.h): digits only, 0 to max, so
 * that the tool's field can hold it; anything else is usage(opt).
 */
#ifndef VEO_CLI_H
#define VEO_CLI_H

#include "numparse.h"

static void __attribute__((noreturn)) usage(const char *why);

static inline long long
cli_number(const char *s, long long max, const char *opt)
{
	long long v;

	if (num_parse(s, 0, max, &v) < 0)
		usage(opt);
	return v;
}

#endif
