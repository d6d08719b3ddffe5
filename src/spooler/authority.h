/*
 * authority: the spooler's questions to kie.ai about one task, through the
 * API client (kie.h), with the user's api_key.  record-info is the
 * provider's "final authority" on a task:
 *
 *  - recovery: a task registered with `expect` (AWAIT_CALLBACK) whose
 *    callback has not come recover_after seconds after it was registered
 *    is looked up; success gives it the record's URLs (source record-info),
 *    a failure fails it with kie.ai's errorMessage and the advice the
 *    callback path gives for that code, "no record" fails it after
 *    NO_RECORD_MAX answers;
 *  - confirmation: with verify, a success callback (AWAIT_VERIFY) is
 *    checked against record-info before anything is downloaded; different
 *    URLs are replaced by record-info's (reported), a failed or unknown
 *    record fails the task as a possibly forged callback;
 *  - upgrades: setting upgrade = 1080p asks get-1080p-video for each result
 *    until it is ready (at most UPGRADE_MAX_WAIT); upgrade = 4k asks
 *    get-4k-video once per result (it costs credits) and waits for the 4K
 *    callback, asking once more after FOURK_WAIT without one.
 *
 * Throttling, an unreachable API and the like are never the task's fault:
 * the question is asked again later (poll_interval, backing off), and the
 * task is not downloaded meanwhile.  The api_key appears in no report.
 */
#ifndef VEO_AUTHORITY_H
#define VEO_AUTHORITY_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "config.h"
#include "task.h"

#define NO_RECORD_MAX 3			/* "no record" answers before failing */
#define UPGRADE_MAX_WAIT 3600		/* seconds a 1080p version is waited for */
#define FOURK_WAIT 1800			/* seconds before a 4K request is repeated */

struct authority;

enum authority_result {
	AUTHORITY_NOTHING,	/* nothing was due, or nothing changed */
	AUTHORITY_CHANGED,	/* t changed: save it */
	AUTHORITY_STOP,		/* ask nothing more this sweep (report says why, or
				 * is "" for a deadline or throttling) */
};

/*
 * A client for the settings' api_key, or NULL: with err "" when no api_key
 * is set (the API is off), with a reason when the client cannot start.
 * deadline bounds every question (0: none).
 */
struct authority *authority_new(const struct settings *s, time_t deadline, char *err,
    size_t errlen);
void authority_free(struct authority *a);

/* Does t wait for a question that is due at now? */
bool authority_due(const struct settings *s, const struct task *t, time_t now);

/*
 * Asks kie.ai what t waits for (the caller holds t's claim) and updates t.
 * A question that costs credits (4K) is first recorded in t and saved with
 * save(t, save_arg), and not sent when that fails.  report gets one line
 * for people when something worth saying happened (a URL mismatch, a
 * refused key), else "".
 */
enum authority_result authority_ask(struct authority *a, struct task *t, time_t now,
    int (*save)(struct task *, void *), void *save_arg, char *report, size_t reportlen);

/*
 * What a new success callback waits for under these settings: AWAIT_VERIFY
 * with an api_key and verify, else AWAIT_NONE.
 */
enum task_await authority_await_for_callback(const struct settings *s);

/* Sets t's upgrade to waiting when the settings want one and t can have it. */
void authority_plan_upgrade(const struct settings *s, struct task *t, time_t now);

#endif
