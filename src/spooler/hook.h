/*
 * hook: run the user's on_done / on_failed command for a task.
 *
 * The command is split on blanks into a program and its arguments (no
 * quoting, no shell: the program path must be absolute) and started with
 * execve(2) in a new process group, with an environment of only PATH and:
 *
 *   VEO_TASK_ID  VEO_STATE ("done"/"failed")  VEO_DIR  VEO_CODE
 *   VEO_MSG (the provider's message, verbatim)  VEO_ERROR
 *   VEO_FILES    downloaded paths, one a line
 *
 * Nothing from the payload is ever interpreted: it only travels in the
 * environment.  The hook gets timeout seconds, then SIGTERM, then SIGKILL.
 * Its stdin is /dev/null and its stdout and stderr go to an output file
 * (appended) or /dev/null, never to the spooler's own: a background child
 * the hook leaves behind cannot hold cron's pipe open.
 *
 * Hooks run at least once (the sweep records a hook as owed before the
 * state change and clears it after the hook ran), so a crash may run one
 * twice: hooks must be idempotent.
 */
#ifndef VEO_HOOK_H
#define VEO_HOOK_H

#include <stddef.h>

#include "task.h"

struct hook_opts {
	long timeout;			/* seconds */
	const char *output;		/* file for stdout and stderr; NULL: /dev/null */
	/* Called about once a second while the hook runs (may be NULL): the
	 * spooler refreshes the task's claim from here. */
	void (*tick)(void *arg);
	void *tick_arg;
};

/*
 * Runs command for t and waits for it.  Returns 0 when it exited 0, or -1
 * with a one-line reason in err (not found, exit status, killed, timeout).
 */
int hook_run(const char *command, const struct task *t, const struct hook_opts *o,
    char *err, size_t errlen);

#endif
