/*
 * admin: the spooler's commands for people and scripts, besides `run`.
 *
 *   status [--json] [TASKID]   one line per task (table, or JSON lines with
 *                              the fields of task.h); callbacks still
 *                              waiting in new/ show as pending
 *   retry TASKID               a failed or waiting task is due again now
 *   expect TASKID...           registers submitted tasks (spool.h, expect/):
 *                              idempotent; a taskId the responder would
 *                              refuse is refused here too
 *   purge --older-than DAYS [--files]
 *                              forget done and failed tasks not updated for
 *                              DAYS days; with --files also their downloads
 *
 * Each returns the process exit status and prints its own one-line error.
 */
#ifndef VEO_ADMIN_H
#define VEO_ADMIN_H

#include <stdbool.h>

#include "config.h"

int admin_status(const struct settings *s, bool json, const char *task_id);
int admin_retry(const struct settings *s, const char *task_id);
int admin_purge(const struct settings *s, long days, bool files);
int admin_expect(const struct settings *s, char **task_ids, int n);

#endif
