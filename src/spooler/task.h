/*
 * task: the spooler's durable record of one task, state/<taskId> in the
 * spool, a JSON object (the same object `veo-spooler status --json`
 * prints, one a line):
 *
 *   {"taskId":"...","state":"pending|active|done|failed","code":200,
 *    "msg":"...","attempts":0,"error":"","advice":"","nextAttempt":0,
 *    "firstSeen":0,"updated":0,"duplicates":0,"forbidden":0,"hookOwed":"",
 *    "source":"callback|record-info","expected":0,"awaiting":"|callback|verify",
 *    "nextAsk":0,"askFailures":0,"noRecord":0,"fallback":false,"resolution":"",
 *    "upgrade":{"kind":"1080p|4k","state":"|waiting|requested|done|failed",
 *               "since":0,"asked":0,"error":""},
 *    "callbackSha256":"...","dir":"/videos/<taskId>",
 *    "files":[{"kind":"result","url":"...","path":"...","bytes":0,
 *              "sha256":"","done":false}]}
 *
 * File kinds: "result", "origin", "1080p", "4k".
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

/* results, origins, and their 1080p or 4K versions */
#define TASK_MAX_FILES (3 * CALLBACK_MAX_URLS)
#define TASK_MAX_AGE (14 * 86400)	/* the provider keeps results 14 days */
/*
 * The largest state file task_load() reads, and so the largest task_save()
 * writes: a state record holds the callback's msg and URLs (each once, and
 * never longer than in the body, which is at most ENTRY_MAX), plus our own
 * paths and messages.  At 1 MiB a callback over about 2 MiB (max_body goes
 * up to 16M) was stored, taken in, and then never readable again.
 */
#define TASK_STATE_MAX (2 * ENTRY_MAX)

enum task_state { TASK_PENDING, TASK_ACTIVE, TASK_DONE, TASK_FAILED };

/* A hook recorded as owed before the state change that calls for it. */
enum task_hook { HOOK_NONE, HOOK_ON_DONE, HOOK_ON_FAILED };

/* Where the task's URLs came from. */
enum task_source { SOURCE_CALLBACK, SOURCE_RECORD_INFO };

/* What a pending task waits for before anything is downloaded. */
enum task_await {
	AWAIT_NONE,
	AWAIT_CALLBACK,		/* registered (expect), no callback yet */
	AWAIT_VERIFY,		/* a success callback, not yet confirmed by record-info */
};

/* A 1080p or 4K version asked of the provider (setting "upgrade"). */
enum task_upgrade {
	UPGRADE_STATE_NONE,	/* not wanted, or not possible (fallback video) */
	UPGRADE_WAITING,	/* 1080p: asking until ready; 4K: not asked yet */
	UPGRADE_REQUESTED,	/* 4K: asked, waiting for its callback */
	UPGRADE_DONE,		/* its files are part of the task */
	UPGRADE_FAILED,		/* recorded; the task keeps its original files */
};

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
	/*
	 * Identical callbacks taken in again after the first (a repeat the
	 * responder answers while the entry still waits in new/ writes nothing
	 * and is not counted; entries of older responders add their count).
	 */
	unsigned long duplicates;
	enum task_hook hook_owed;	/* run, then cleared, by the sweep */
	/* the provider's API (api_key): recovery, confirmation, upgrades */
	enum task_source source;
	enum task_await awaiting;
	long long expected;		/* when registered with expect; 0: never */
	long long next_ask;		/* no question to the API before this */
	long ask_failures;		/* transient API failures in a row */
	long no_record;			/* "no record" answers so far */
	bool fallback;			/* made by the fallback model: no 1080p */
	char resolution[16];		/* of the results, "" when unknown */
	enum task_upgrade upgrade;
	char upgrade_kind[8];		/* "1080p" or "4k" */
	long long upgrade_since;	/* when the upgrade was first asked */
	long upgrade_asked;		/* 4K requests sent (they cost credits) */
	char *upgrade_error;		/* owned; "" when none */
	char callback_sha256[SHA256_HEX_LEN + 1];
	struct task_file files[TASK_MAX_FILES];
	size_t nfiles;
};

/*
 * Loads spool_dir/state/<task_id>.  -1 with errno ENOENT when there is
 * none; -1 with another errno (EINVAL: damaged) when it cannot be read.
 */
int task_load(const char *spool_dir, const char *task_id, struct task *t,
    char *err, size_t errlen);

/*
 * Reads the state of task_id from the len bytes of a state file's text
 * (task_load() without the file).  0; or -1 with errno EINVAL when the
 * text is not a state of task_id, ENOMEM, and a reason in err.  On -1, t
 * holds nothing to free.
 */
int task_parse(const char *data, size_t len, const char *task_id, struct task *t,
    char *err, size_t errlen);

/* A buffer task_load_at() reads state files into, kept from one to the next. */
struct task_buf {
	char *data;		/* malloc'd; free() when done */
	size_t cap;
};

/*
 * task_load() of state_fd/<task_id>, state_fd being spool_dir/state open:
 * for reading many states in a row (status), through b, with no path to
 * walk and no allocation but the task's.
 */
int task_load_at(int state_fd, const char *task_id, struct task_buf *b, struct task *t,
    char *err, size_t errlen);

/*
 * Writes t durably to spool_dir/state/<taskId>.  0, or -1 with err.
 *
 * It also keeps the index of the tasks a sweep must look at: the empty
 * file spool_dir/pending/<taskId> exists whenever the saved state is one
 * task_wanted() accepts.  It is created before the state is renamed into
 * place and removed only after, so a crash can leave a marker too many
 * (a sweep drops it), never one too few.  Finished tasks thus cost a
 * sweep nothing.
 */
int task_save(const char *spool_dir, const struct task *t, bool sync,
    char *err, size_t errlen);

/* True when a sweep must look at t: pending, a hook owed, an upgrade under way. */
bool task_wanted(const struct task *t);

/*
 * Marks task_id as wanted (creates pending/<task_id>; with sync, durably).
 * 0, or -1 with errno.  task_unmark() removes the mark.
 */
int task_mark(const char *spool_dir, const char *task_id, bool sync);
void task_unmark(const char *spool_dir, const char *task_id);

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

/*
 * Appends a file of kind ("result", "origin", "1080p", "4k") for each of
 * the n URLs, named <dir>/<kind>-<i>.<ext>, i counting on from the files
 * of that kind already there.  0, or -1 out of memory.
 */
int task_add_files(struct task *t, const char *kind, char *const *urls, size_t n);

/* Removes the files of kind from t (their downloads stay on disk). */
void task_drop_files(struct task *t, const char *kind);

/* Points urls[] at the URLs of t's files of kind (at most max); their count. */
size_t task_urls(const struct task *t, const char *kind, char **urls, size_t max);

/* Why a pending task is not downloading: "" or e.g. "waiting for the callback". */
const char *task_waiting_for(const struct task *t);

/* The task as one line of JSON (no newline); malloc'd, caller frees. */
char *task_to_json(const struct task *t, enum task_state shown);

/* Replaces *dst (owned) by a formatted copy. */
void task_set(char **dst, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Seconds to wait after the n-th failed attempt: 1 min doubling to 6 h, +-25 % jitter. */
long long task_backoff(long attempts, unsigned random);

const char *task_state_name(enum task_state s);

#endif
