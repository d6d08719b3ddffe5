/*
 * taskid: the rule that makes a provider's taskId safe as a file name.
 *
 * A taskId names a spool entry, a state file and a download directory, so
 * it is checked before it reaches any path: 1 to TASKID_MAX bytes of
 * [A-Za-z0-9._-], not starting with a dot (no "..", no hidden names, no
 * slash, nothing a shell or a log line would interpret).
 */
#ifndef VEO_TASKID_H
#define VEO_TASKID_H

#include <stdbool.h>
#include <stddef.h>

#define TASKID_MAX 128

/* True when the len bytes at s form a valid taskId. */
bool taskid_valid(const char *s, size_t len);

/* The rule in words, for error messages. */
#define TASKID_RULE "1 to 128 characters of A-Z a-z 0-9 . _ - and not start with a dot"

#endif
