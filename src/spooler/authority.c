#include "authority.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "advice.h"
#include "kie.h"
#include "log.h"

struct authority {
	const struct settings *s;
	struct kie *kie;
};

static const char advice_forged[] =
    "kie.ai's record-info does not confirm this success callback, which may be forged "
    "(kie.ai signs only the taskId and timestamp, never the URLs): check the task in "
    "kie.ai/logs, then run veo-spooler retry with the task id";

static const char advice_no_record[] =
    "kie.ai has no record of this task: check that the taskId is the one generate "
    "returned and look it up in kie.ai/logs (records are kept 14 days)";

struct authority *
authority_new(const struct settings *s, time_t deadline, char *err, size_t errlen)
{
	struct authority *a;
	struct kie_opts ko = {
		.api_base = s->api_base, .api_key = s->api_key, .ca_file = s->ca_file,
		.connect_timeout = (long)s->connect_timeout, .deadline = deadline,
	};

	err[0] = '\0';
	if (s->api_key == NULL || s->api_key[0] == '\0')
		return NULL;
	if ((a = calloc(1, sizeof *a)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	a->s = s;
	if ((a->kie = kie_new(&ko, err, errlen)) == NULL) {
		free(a);
		return NULL;
	}
	return a;
}

void
authority_free(struct authority *a)
{
	if (a == NULL)
		return;
	kie_free(a->kie);
	free(a);
}

enum task_await
authority_await_for_callback(const struct settings *s)
{
	return s->api_key != NULL && s->api_key[0] != '\0' && s->verify ? AWAIT_VERIFY :
	    AWAIT_NONE;
}

void
authority_plan_upgrade(const struct settings *s, struct task *t, time_t now)
{
	const char *kind = s->upgrade == UPGRADE_1080P ? "1080p" : "4k";

	if (s->api_key == NULL || s->upgrade == UPGRADE_NONE || t->code != 200 ||
	    t->upgrade != UPGRADE_STATE_NONE || t->fallback)
		return;
	if (s->upgrade == UPGRADE_1080P && strcmp(t->resolution, "1080p") == 0)
		return;		/* generated at 1080p: the result is the 1080p file */
	t->upgrade = UPGRADE_WAITING;
	snprintf(t->upgrade_kind, sizeof t->upgrade_kind, "%s", kind);
	t->upgrade_since = 0;
	t->next_ask = now;
}

static bool
upgrade_due(const struct task *t)
{
	return t->state == TASK_DONE &&
	    (t->upgrade == UPGRADE_WAITING || t->upgrade == UPGRADE_REQUESTED);
}

bool
authority_due(const struct settings *s, const struct task *t, time_t now)
{
	if (s->api_key == NULL || t->next_ask > now)
		return false;
	if (t->state == TASK_PENDING && t->awaiting == AWAIT_CALLBACK)
		return now >= t->expected + s->recover_after;
	if (t->state == TASK_PENDING && t->awaiting == AWAIT_VERIFY)
		return true;
	return upgrade_due(t);
}

/* ---- answers that say nothing about the task ---- */

/*
 * THROTTLED, UNREACHABLE, REFUSED: ask later, backing off.  AUTH and
 * NOT_ASKED stop the API work of this sweep; so does a 429 or 455.
 */
static enum authority_result
ask_later(struct authority *a, struct task *t, const struct kie_answer *ans, time_t now,
    char *report, size_t reportlen)
{
	if (ans->verdict == KIE_AUTH) {
		snprintf(report, reportlen, "%s", ans->error);
		return AUTHORITY_STOP;
	}
	if (ans->verdict == KIE_NOT_ASKED)
		return AUTHORITY_STOP;
	t->ask_failures++;
	t->next_ask = now + kie_backoff((long)a->s->poll_interval, (int)t->ask_failures,
	    ans->retry_after, (unsigned)rand());
	if (ans->code == 429 || ans->code == 455 || ans->http_status == 429 ||
	    ans->http_status == 455)
		return AUTHORITY_STOP;
	return AUTHORITY_CHANGED;
}

static void
fail_with(struct task *t, long long code, const char *error, const char *advice)
{
	t->state = TASK_FAILED;
	t->awaiting = AWAIT_NONE;
	if (code != 0)
		t->code = code;
	task_set(&t->error, "%s", error);
	task_set(&t->advice, "%s", advice);
}

/* The record's URLs become t's files; what was there before is dropped. */
static int
take_urls(struct authority *a, struct task *t, const struct kie_answer *ans)
{
	task_drop_files(t, "result");
	task_drop_files(t, "origin");
	if (task_add_files(t, "result", ans->result_urls, ans->n_result) < 0 ||
	    (a->s->download_origin &&
	    task_add_files(t, "origin", ans->origin_urls, ans->n_origin) < 0))
		return -1;
	return 0;
}

/* ---- recovery: a registered task whose callback never came ---- */

static enum authority_result
recover(struct authority *a, struct task *t, const struct kie_answer *ans, time_t now,
    char *report, size_t reportlen)
{
	char why[400];

	switch (ans->verdict) {
	case KIE_SUCCESS:
		if (take_urls(a, t, ans) < 0)
			return AUTHORITY_NOTHING;
		t->source = SOURCE_RECORD_INFO;
		t->awaiting = AWAIT_NONE;
		t->code = 200;
		t->fallback = ans->fallback;
		snprintf(t->resolution, sizeof t->resolution, "%s",
		    ans->resolution ? ans->resolution : "");
		task_set(&t->msg, "%s", "recovered from record-info: the callback never came");
		t->next_attempt = now;
		authority_plan_upgrade(a->s, t, now);
		return AUTHORITY_CHANGED;
	case KIE_GENERATING:
		t->next_ask = now + a->s->poll_interval;
		t->ask_failures = 0;
		return AUTHORITY_CHANGED;
	case KIE_FAILED:
		snprintf(why, sizeof why, "kie.ai reports the task failed: %s",
		    ans->error_message ? ans->error_message : "no message");
		task_set(&t->msg, "%s", ans->error_message ? ans->error_message : "");
		t->source = SOURCE_RECORD_INFO;
		fail_with(t, ans->error_code ? ans->error_code : 501, why,
		    advice_for_code(ans->error_code ? ans->error_code : 501, ans->error_message));
		return AUTHORITY_CHANGED;
	case KIE_NO_RECORD:
		t->next_ask = now + a->s->poll_interval;
		if (++t->no_record >= NO_RECORD_MAX) {
			snprintf(why, sizeof why, "kie.ai has no record of this task (%ld answers)",
			    t->no_record);
			fail_with(t, 0, why, advice_no_record);
		}
		return AUTHORITY_CHANGED;
	default:
		return ask_later(a, t, ans, now, report, reportlen);
	}
}

/* ---- confirmation: a success callback checked against record-info ---- */

static enum authority_result
confirm(struct authority *a, struct task *t, const struct kie_answer *ans, time_t now,
    char *report, size_t reportlen)
{
	char *mine[TASK_MAX_FILES];
	size_t n = task_urls(t, "result", mine, TASK_MAX_FILES);

	switch (ans->verdict) {
	case KIE_SUCCESS:
		if (!kie_urls_equal(mine, n, ans->result_urls, ans->n_result)) {
			if (take_urls(a, t, ans) < 0)
				return AUTHORITY_NOTHING;
			t->source = SOURCE_RECORD_INFO;
			snprintf(report, reportlen, "the callback's URLs differ from record-info's: "
			    "downloading record-info's");
		}
		t->awaiting = AWAIT_NONE;
		t->ask_failures = 0;
		t->next_attempt = now;
		return AUTHORITY_CHANGED;
	case KIE_FAILED:
	case KIE_NO_RECORD:
		fail_with(t, 0, ans->verdict == KIE_FAILED ?
		    "a success callback came, but kie.ai's record-info says the task failed" :
		    "a success callback came, but kie.ai's record-info has no record of the task",
		    advice_forged);
		return AUTHORITY_CHANGED;
	case KIE_GENERATING:
		t->next_ask = now + a->s->poll_interval;
		return AUTHORITY_CHANGED;
	default:
		return ask_later(a, t, ans, now, report, reportlen);
	}
}

/* ---- upgrades: 1080p and 4K versions of the results ---- */

static void
upgrade_failed(struct task *t, const char *why)
{
	t->upgrade = UPGRADE_FAILED;
	task_set(&t->upgrade_error, "%s", why);
}

/* The new files are fetched by the next downloads; the task is done again after. */
static enum authority_result
upgrade_ready(struct task *t, char *const *urls, size_t n, time_t now)
{
	task_drop_files(t, t->upgrade_kind);
	if (task_add_files(t, t->upgrade_kind, urls, n) < 0)
		return AUTHORITY_NOTHING;
	t->upgrade = UPGRADE_DONE;
	t->state = TASK_PENDING;
	t->next_attempt = now;
	return AUTHORITY_CHANGED;
}

/*
 * Asks for the 1080p version of each result.  Each ready URL is moved out
 * of its answer into ready[] (nothing is copied, so nothing can fail here)
 * and freed below, after upgrade_ready() has copied them all into t.
 */
static enum authority_result
ask_1080p(struct authority *a, struct task *t, time_t now, char *report, size_t reportlen)
{
	char *results[TASK_MAX_FILES], *ready[TASK_MAX_FILES];
	size_t n = task_urls(t, "result", results, TASK_MAX_FILES), got = 0;
	struct kie_answer ans = { 0 };
	enum authority_result r = AUTHORITY_CHANGED;

	if (t->upgrade_since == 0)
		t->upgrade_since = now;
	for (; got < n; got++) {
		kie_get_1080p(a->kie, t->task_id, (int)got, &ans);
		if ((ready[got] = kie_answer_take_url(&ans)) == NULL)
			break;
	}
	if (got == n && n > 0)
		r = upgrade_ready(t, ready, n, now);
	else if (ans.verdict == KIE_NO_RECORD || ans.verdict == KIE_REFUSED)
		upgrade_failed(t, ans.error);
	else if (ans.verdict == KIE_GENERATING && now - t->upgrade_since >= UPGRADE_MAX_WAIT)
		upgrade_failed(t, "the 1080p version was not ready after an hour");
	else if (ans.verdict == KIE_GENERATING)
		t->next_ask = now + a->s->poll_interval;
	else
		r = ask_later(a, t, &ans, now, report, reportlen);
	for (size_t i = 0; i < got; i++)
		free(ready[i]);
	kie_answer_free(&ans);
	return r;
}

static enum authority_result
ask_4k(struct authority *a, struct task *t, time_t now, int (*save)(struct task *, void *),
    void *save_arg, char *report, size_t reportlen)
{
	struct kie_answer ans = { 0 };
	enum authority_result r = AUTHORITY_CHANGED;

	if (t->upgrade == UPGRADE_REQUESTED && t->upgrade_asked >= 2) {
		upgrade_failed(t, "no 4K callback came and kie.ai gave no 4K URL after two requests");
		return AUTHORITY_CHANGED;
	}
	/* It costs credits: the request is on record before it is sent. */
	t->upgrade_asked++;
	t->upgrade = UPGRADE_REQUESTED;
	if (t->upgrade_since == 0)
		t->upgrade_since = now;
	t->next_ask = now + FOURK_WAIT;
	if (save(t, save_arg) < 0)
		return AUTHORITY_NOTHING;
	kie_get_4k(a->kie, t->task_id, 0, a->s->callback_url, &ans);
	if (ans.verdict == KIE_SUCCESS)
		r = upgrade_ready(t, ans.result_urls, ans.n_result, now);
	else if (ans.verdict == KIE_NO_RECORD || ans.verdict == KIE_REFUSED)
		upgrade_failed(t, ans.error);
	else if (ans.verdict != KIE_REQUESTED && ans.verdict != KIE_GENERATING)
		r = ask_later(a, t, &ans, now, report, reportlen);
	kie_answer_free(&ans);
	return r;
}

enum authority_result
authority_ask(struct authority *a, struct task *t, time_t now,
    int (*save)(struct task *, void *), void *save_arg, char *report, size_t reportlen)
{
	struct kie_answer ans = { 0 };
	enum authority_result r;

	report[0] = '\0';
	if (!authority_due(a->s, t, now))
		return AUTHORITY_NOTHING;
	if (upgrade_due(t))
		return strcmp(t->upgrade_kind, "4k") == 0 ?
		    ask_4k(a, t, now, save, save_arg, report, reportlen) :
		    ask_1080p(a, t, now, report, reportlen);
	kie_record_info(a->kie, t->task_id, &ans);
	r = t->awaiting == AWAIT_CALLBACK ? recover(a, t, &ans, now, report, reportlen) :
	    confirm(a, t, &ans, now, report, reportlen);
	kie_answer_free(&ans);
	return r;
}
