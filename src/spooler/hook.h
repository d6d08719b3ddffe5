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
 */
#ifndef VEO_HOOK_H
#define VEO_HOOK_H

#include <stddef.h>

#include "task.h"

/*
 * Runs command for t and waits for it.  Returns 0 when it exited 0, or -1
 * with a one-line reason in err (not found, exit status, killed, timeout).
 */
int hook_run(const char *command, const struct task *t, long timeout,
    char *err, size_t errlen);

#endif
