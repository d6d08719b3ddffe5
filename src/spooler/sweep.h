/*
 * sweep: one run of the spooler over the spool (veo-spooler run).
 *
 *  1. take in: each new/<taskId> is claimed, compared with the task's
 *     state (same callback -> counted as a duplicate, nothing downloaded;
 *     a different one -> the task starts over from it), moved to
 *     cur/<taskId>, and its state saved;
 *  2. download: tasks due for an attempt are claimed in batches and their
 *     missing files fetched together (fetch.h), until max_time says to
 *     start nothing more;
 *  3. decide: all files whole -> done; 404/410, three 403s, a policy refusal
 *     or too many attempts -> failed with advice; otherwise retried later
 *     with exponential backoff; hooks run on done and failed;
 *  4. tidy, at most hourly: pending tasks too old to finish fail, records of
 *     tasks older than keep_days and stale temp files go, and the finished
 *     tasks' states are packed for status (statepack.h).
 *
 * Only permanent problems reach stderr, one line each, so cron mail is
 * worth reading; transient failures are retried silently (-v shows them).
 */
#ifndef VEO_SWEEP_H
#define VEO_SWEEP_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "config.h"

struct sweep_opts {
	bool verbose;		/* a line per task on stdout */
	bool progress;		/* live transfer display on stderr */
	bool locked;		/* the caller holds the sweep lock (sweep_lock);
				 * otherwise the sweep takes it for itself */
	time_t deadline;	/* 0: now + max_time */
	/* Set (by a signal handler) to stop: nothing new starts, running
	 * transfers end with their .part kept, the sweep returns.  May be NULL. */
	volatile sig_atomic_t *stop;
};

struct sweep_stats {
	int taken_in, duplicates, done, failed, retrying, problems;
	/* The earliest time at which a pending task becomes due (an attempt
	 * or a question to kie.ai), as far as this sweep saw; 0: none. */
	long long next_due;
};

/* Takes the host's sweep lock: the held fd, -2 when another run holds it,
 * -1 with err. */
int sweep_lock(const struct settings *s, char *err, size_t errlen);

/*
 * Runs one sweep with settings s.  libcurl is set up the first time a sweep
 * needs it (fetch_global_init()); sweep_global_cleanup() undoes that, once
 * no sweep runs any more.  Returns 0 when the sweep ran (whatever
 * happened to single tasks), 1 when another sweep holds the lock, and -1
 * with a reason in err when it could not run at all.
 */
int sweep_run(const struct settings *s, const struct sweep_opts *o,
    struct sweep_stats *st, char *err, size_t errlen);
void sweep_global_cleanup(void);

#endif
