/*
 * task: the spooler's durable record of one task, state/<taskId> in the
 * spool, a JSON object (the same object `veo-spooler status --json`
 * prints, one a line):
 *
 *   {"taskId":"...","state":"pending|active|done|failed","code":200,
 *    "msg":"...","attempts":0,"error":"","advice":"","nextAttempt":0,
 *    "firstSeen":0,"updated":0,"duplicates":0,"forbidden":0,"hookOwed":"",
 *    "callbackSha256":"...","dir":"/videos/<taskId>",
 *    "files":[{"kind":"result","url":"...","path":"...","bytes":0,
 *              "sha256":"","done":false}]}
 *
 * "active" is never stored: status reports it while a sweep holds the
 * task's claim.  Times are Unix seconds.  A state file is replaced
 * atomically (temp file, fsync, rename, directory fsync).
 */
#ifndef VEO_TASK_H
#define VEO_TASK_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "callback.h"
#include "digest.h"
#include "entry.h"
#include "media.h"
#include "spool.h"

#define TASK_MAX_FILES (2 * CALLBACK_MAX_URLS)
#define TASK_MAX_AGE (14 * 86400)	/* the provider keeps results 14 days */

enum task_state { TASK_PENDING, TASK_ACTIVE, TASK_DONE, TASK_FAILED };

/* A hook recorded as owed before the state change that calls for it. */
enum task_hook { HOOK_NONE, HOOK_ON_DONE, HOOK_ON_FAILED };

struct task_file {
	char kind[8];			/* "result" or "origin" */
	char *url;			/* owned */
	char *path;			/* owned; absolute */
	enum media_kind media;		/* from the URL's extension */
	long long bytes;
	char sha256[SHA256_HEX_LEN + 1];
	bool done;
};

struct task {
	char task_id[TASKID_MAX + 1];
	enum task_state state;
	long long code;
	char *msg;			/* owned; the provider's words */
	char *error;			/* owned; last error, "" when none */
	char *advice;			/* owned; what a person can do, "" when none */
	char *dir;			/* owned; download directory of the task */
	long attempts;
	long forbidden;			/* HTTP 403 answers so far */
	long long first_seen, updated, next_attempt;
	unsigned long duplicates;
	enum task_hook hook_owed;	/* run, then cleared, by the sweep */
	char callback_sha256[SHA256_HEX_LEN + 1];
	struct task_file files[TASK_MAX_FILES];
	size_t nfiles;
};

/* Loads spool_dir/state/<task_id>.  -1 with errno ENOENT when there is none. */
int task_load(const char *spool_dir, const char *task_id, struct task *t,
    char *err, size_t errlen);

/* Writes t durably to spool_dir/state/<taskId>.  0, or -1 with err. */
int task_save(const char *spool_dir, const struct task *t, bool sync,
    char *err, size_t errlen);

/* Frees what t owns and zeroes it. */
void task_free(struct task *t);

/*
 * (Re)initialises t from a callback and its entry: pending with one file a
 * URL for code 200, failed with advice otherwise.  Keeps firstSeen and
 * duplicates of a t that was loaded before.
 */
int task_init_from_callback(struct task *t, const struct callback *cb,
    const struct entry_meta *m, const char *download_dir, bool download_origin,
    time_t now);

/*
 * (Re)initialises t from a stored entry, as task_init_from_callback()
 * does after parsing its body.  0, or -1 with err (a damaged body).
 */
int task_from_entry(struct task *t, const struct spool_entry *e,
    const char *download_dir, bool download_origin, time_t now, char *err, size_t errlen);

/*
 * A state file that task_load() could not read (other than missing): keeps
 * it aside as spool_dir/bad/<taskId>.state.<unique> and rebuilds t from the
 * task's stored callback (cur/, else taking/), as a sweep would take it in
 * for the first time.  Returns 0 with t rebuilt, or -1 when there was
 * nothing to rebuild from; either way report holds one line for people.
 * The caller holds the task's claim and saves t.
 */
int task_recover(const char *spool_dir, const char *task_id, const char *why,
    const char *download_dir, bool download_origin, time_t now, struct task *t,
    char *report, size_t reportlen);

/* The task as one line of JSON (no newline); malloc'd, caller frees. */
char *task_to_json(const struct task *t, enum task_state shown);

/* Replaces *dst (owned) by a formatted copy. */
void task_set(char **dst, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Seconds to wait after the n-th failed attempt: 1 min doubling to 6 h, +-25 % jitter. */
long long task_backoff(long attempts, unsigned random);

const char *task_state_name(enum task_state s);

#endif
