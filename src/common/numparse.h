/*
 * numparse: the one strict parser of decimal integers, for every number
 * that comes from outside (request parameters, headers, configuration,
 * command lines, spool entries, JSON).
 *
 * Accepted: one or more ASCII digits, nothing else: no blank, no '+', no
 * trailing junk, no base prefix.  A leading '-' only when the range allows
 * negative numbers (min < 0).  The value must lie in [min, max]; overflow is
 * refused, never wrapped or clamped.
 */
#ifndef VEO_NUMPARSE_H
#define VEO_NUMPARSE_H

#include <stddef.h>

/* Parses the len bytes at s.  0 with *out set, or -1 (then *out is untouched). */
int num_parse_n(const char *s, size_t len, long long min, long long max, long long *out);

/* As num_parse_n() for a NUL-terminated string (NULL is refused). */
int num_parse(const char *s, long long min, long long max, long long *out);

#endif
