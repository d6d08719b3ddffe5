#include "sweep.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "advice.h"
#include "authority.h"
#include "callback.h"
#include "claim.h"
#include "entry.h"
#include "fetch.h"
#include "fsutil.h"
#include "hook.h"
#include "log.h"
#include "spool.h"
#include "statepack.h"
#include "task.h"
#include "taskdir.h"
#include "taskid.h"

#define TMP_MAX_AGE 86400
#define PARTIAL_MAX_AGE 86400	/* a .part untouched this long is a leftover */
#define TIDY_EVERY 3600		/* seconds between two full tidyings */
/* Entries of one task taken in a row: a sender storing faster waits a sweep. */
#define TAKE_ROUNDS 8
#define BATCH_MAX 64		/* tasks downloaded together */
#define HOOK_OUTPUT "hooks.log"	/* in spool_dir: the hooks' stdout and stderr */

/* A growing list of taskIds (malloc'd strings). */
struct id_list {
	char **v;
	size_t n, cap;
};

/* Appends a copy of id; on no memory the id is left out (its state still says it). */
static void
id_list_add(struct id_list *l, const char *id)
{
	char *copy;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		char **v = realloc(l->v, cap * sizeof *v);

		if (v == NULL)
			return;
		l->v = v;
		l->cap = cap;
	}
	if ((copy = strdup(id)) != NULL)
		l->v[l->n++] = copy;
}

static void
id_list_clear(struct id_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	l->n = 0;
}

struct sweep {
	const struct settings *s;
	const struct sweep_opts *o;
	struct sweep_stats *st;
	time_t now;
	time_t deadline;
	struct id_list owed;	/* tasks whose hook is owed (task.h) */
	struct id_list upgrade;	/* tasks done in this sweep that want an upgrade */
	bool told_disk_full;	/* reported once a sweep */
	bool told_no_dir;	/* likewise: download directories cannot be made */
	struct authority *auth;	/* kie.ai's API; NULL without api_key */
	bool api_stopped;	/* no more questions this sweep */
};

/*
 * libcurl is set up when a sweep first needs it (something to download,
 * or kie.ai's API to ask): curl_global_init() loads OpenSSL and its
 * configuration, a cost an idle sweep does without.  0: not yet; 1: set
 * up; -1: it could not be.
 */
static int curl_state;

static bool
curl_ready(void)
{
	if (curl_state == 0)
		curl_state = fetch_global_init() == 0 ? 1 : -1;
	return curl_state == 1;
}

void
sweep_global_cleanup(void)
{
	if (curl_state == 1)
		fetch_global_cleanup();
	curl_state = 0;
}

/* A signal asked the run to end (sweep_opts.stop). */
static bool
stopping(const struct sweep *w)
{
	return w->o->stop != NULL && *w->o->stop;
}

/* Remembers when something becomes due next (sweep_stats.next_due). */
static void
note_due(struct sweep *w, long long when)
{
	if (when > 0 && (w->st->next_due == 0 || when < w->st->next_due))
		w->st->next_due = when;
}

/* ---- reporting ---- */

static void
problem(struct sweep *w, const char *task_id, const char *what, const char *detail)
{
	char esc[400];

	log_escape(esc, sizeof esc, detail, strlen(detail));
	log_line("task %s: %s: %s", task_id, what, esc);
	w->st->problems++;
}

static void
verbose(struct sweep *w, const char *task_id, const char *what, const char *detail)
{
	char esc[400];

	if (!w->o->verbose)
		return;
	log_escape(esc, sizeof esc, detail ? detail : "", detail ? strlen(detail) : 0);
	printf("task %s: %s%s%s\n", task_id, what, *esc ? ": " : "", esc);
	fflush(stdout);
}

/* ---- hooks: owed before the state change, paid after it ---- */

static const char *
hook_command(const struct sweep *w, enum task_hook h)
{
	return h == HOOK_ON_DONE ? w->s->on_done : h == HOOK_ON_FAILED ? w->s->on_failed : NULL;
}

/* Remembers that task_id owes a hook, to be paid by pay_hooks(). */
static void
owe_hook(struct sweep *w, const char *task_id)
{
	id_list_add(&w->owed, task_id);
}

struct claim_ref {
	const char *spool_dir, *task_id;
};

static void
touch_one_claim(void *arg)
{
	const struct claim_ref *c = arg;
	static time_t last;
	time_t now = time(NULL);

	if (now - last < CLAIM_REFRESH / 2)
		return;
	last = now;
	claim_touch(c->spool_dir, c->task_id);
}

/* Runs the hook t owes and clears it in the state.  The caller holds the claim. */
static void
pay_hook(struct sweep *w, struct task *t)
{
	const char *cmd = hook_command(w, t->hook_owed);
	char err[256], output[PATH_MAX];
	struct claim_ref ref = { w->s->spool_dir, t->task_id };
	struct hook_opts ho = {
		.timeout = (long)w->s->hook_timeout, .tick = touch_one_claim, .tick_arg = &ref,
		.output = snprintf(output, sizeof output, "%s/%s", w->s->spool_dir,
		    HOOK_OUTPUT) < (int)sizeof output ? output : NULL,
	};

	if (cmd != NULL && hook_run(cmd, t, &ho, err, sizeof err) < 0)
		problem(w, t->task_id, t->hook_owed == HOOK_ON_DONE ? "on_done hook" :
		    "on_failed hook", err);
	t->hook_owed = HOOK_NONE;
	if (task_save(w->s->spool_dir, t, w->s->sync, err, sizeof err) < 0)
		problem(w, t->task_id, "cannot save state", err);
}

/* Pays every hook owed so far, each under the task's claim. */
static void
pay_hooks(struct sweep *w)
{
	char err[256];

	for (size_t i = 0; i < w->owed.n; i++) {
		const char *id = w->owed.v[i];
		struct task t;

		if (claim_task(w->s->spool_dir, id, err, sizeof err) != CLAIM_OK)
			continue;	/* another sweep has it, and pays it */
		if (task_load(w->s->spool_dir, id, &t, err, sizeof err) == 0) {
			if (t.hook_owed != HOOK_NONE)
				pay_hook(w, &t);
			task_free(&t);
		}
		claim_release(w->s->spool_dir, id);
	}
	id_list_clear(&w->owed);
}

/* ---- recording a task ---- */

/* Removes the partial downloads of a task that will never resume them. */
static void
drop_partials(const struct task *t)
{
	int fd = open(t->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return;
	for (size_t i = 0; i < t->nfiles; i++) {
		const char *base = strrchr(t->files[i].path, '/');

		taskdir_remove_partial(fd, base ? base + 1 : t->files[i].path);
	}
	close(fd);
}

/*
 * Saves t.  When it has just ended, the hook it calls for is recorded as
 * owed in the same save (so a crash cannot lose it) and paid later.
 */
static int
commit(struct sweep *w, struct task *t, bool ended)
{
	char err[256];
	enum task_hook h = t->state == TASK_DONE ? HOOK_ON_DONE : HOOK_ON_FAILED;

	t->updated = w->now;
	if (ended && hook_command(w, h) != NULL)
		t->hook_owed = h;
	if (task_save(w->s->spool_dir, t, w->s->sync, err, sizeof err) < 0) {
		problem(w, t->task_id, "cannot save state", err);
		return -1;
	}
	if (!ended)
		return 0;
	if (t->state == TASK_DONE) {
		w->st->done++;
		verbose(w, t->task_id, "done", NULL);
	} else {
		char line[700];

		w->st->failed++;
		snprintf(line, sizeof line, "%s; advice: %s", t->error, t->advice);
		problem(w, t->task_id, "failed", line);
		drop_partials(t);
	}
	if (t->hook_owed != HOOK_NONE)
		owe_hook(w, t->task_id);
	if (t->state == TASK_DONE && t->upgrade == UPGRADE_WAITING)
		id_list_add(&w->upgrade, t->task_id);
	return 0;
}

static void
fail_task(struct task *t, const char *advice, const char *error)
{
	t->state = TASK_FAILED;
	task_set(&t->error, "%s", error);
	task_set(&t->advice, "%s", advice);
}

/*
 * Loads the state of task_id; a damaged one is reported once, kept aside
 * and rebuilt from the stored callback (task_recover).  The caller holds
 * the claim.  0 with t loaded, -1 (errno ENOENT when there is no state).
 */
static int
load_task(struct sweep *w, const char *task_id, struct task *t)
{
	char err[256], report[600];
	int rc;

	if (task_load(w->s->spool_dir, task_id, t, err, sizeof err) == 0)
		return 0;
	if (errno == ENOENT)
		return -1;
	rc = task_recover(w->s->spool_dir, task_id, err, w->s->download_dir,
	    w->s->download_origin, w->now, t, report, sizeof report);
	problem(w, task_id, "damaged state", report);
	if (rc < 0 || commit(w, t, t->state == TASK_FAILED) < 0) {
		task_free(t);
		errno = EINVAL;
		return -1;
	}
	return 0;
}

/* ---- 1. taking in new callbacks ---- */

/*
 * A different callback for a task that already had files: keep what was
 * fetched for an unchanged URL, and give a changed URL a new file name so
 * that the earlier video is never overwritten.
 */
static void
carry_over(struct task *t, const struct task *prev)
{
	for (size_t i = 0; i < t->nfiles; i++) {
		struct task_file *f = &t->files[i];

		for (size_t j = 0; j < prev->nfiles; j++) {
			const struct task_file *p = &prev->files[j];

			if (strcmp(f->path, p->path) != 0)
				continue;
			if (strcmp(f->url, p->url) == 0) {
				f->done = p->done;
				f->bytes = p->bytes;
				memcpy(f->sha256, p->sha256, sizeof f->sha256);
			} else {
				char *dot = strrchr(f->path, '.');

				task_set(&f->path, "%.*s-%.8s%s", (int)(dot - f->path), f->path,
				    t->callback_sha256, dot);
			}
		}
	}
}

/* True when every file of t is one prev had already downloaded. */
static bool
nothing_new(const struct task *t)
{
	for (size_t i = 0; i < t->nfiles; i++)
		if (!t->files[i].done)
			return false;
	return t->nfiles > 0;
}

static void
adopt_callback(struct sweep *w, struct task *t, bool had_state,
    const struct callback *cb, const struct entry_meta *m)
{
	struct task prev = *t;	/* owns the old strings until freed below */
	struct task fresh = { 0 };

	fresh.first_seen = had_state ? prev.first_seen : 0;
	fresh.duplicates = had_state ? prev.duplicates : 0;
	if (task_init_from_callback(&fresh, cb, m, w->s->download_dir, w->s->download_origin,
	    w->now) == 0 && had_state)
		carry_over(&fresh, &prev);
	if (fresh.state == TASK_PENDING)
		fresh.awaiting = authority_await_for_callback(w->s);
	if (had_state) {
		fresh.hook_owed = prev.hook_owed;	/* still owed for the earlier end */
		fresh.expected = prev.expected;
		/* Recovered (or confirmed) and downloaded already: nothing to do again. */
		if (prev.state == TASK_DONE && nothing_new(&fresh)) {
			fresh.state = TASK_DONE;
			fresh.awaiting = AWAIT_NONE;
		}
		task_free(&prev);
	}
	authority_plan_upgrade(w->s, &fresh, w->now);
	*t = fresh;
}

/*
 * A 4K callback (by its shape), or a failure callback for a task already
 * done: never the original's result, never undoing a finished task.  The
 * 4K files join the task; a failure is recorded on it.  True when handled.
 */
static bool
adopt_extra(struct sweep *w, struct task *t, const struct callback *cb)
{
	char line[400];

	if (cb->is_4k && cb->code == 200) {
		task_drop_files(t, "4k");
		if (task_add_files(t, "4k", cb->result_urls.v, cb->result_urls.n) < 0)
			return false;
		snprintf(t->upgrade_kind, sizeof t->upgrade_kind, "4k");
		t->upgrade = UPGRADE_DONE;
		if (t->state == TASK_DONE) {
			t->state = TASK_PENDING;
			t->next_attempt = w->now;
		}
		verbose(w, t->task_id, "4K callback taken in", NULL);
		return true;
	}
	if (cb->code == 200 || t->state != TASK_DONE)
		return false;
	log_escape(line, sizeof line, cb->msg ? cb->msg : "", cb->msg ? strlen(cb->msg) : 0);
	if (strcmp(t->upgrade_kind, "4k") == 0 && t->upgrade == UPGRADE_REQUESTED) {
		t->upgrade = UPGRADE_FAILED;
		task_set(&t->upgrade_error, "the 4K version failed (code %lld): %s", cb->code, line);
	}
	problem(w, t->task_id, "failure callback for a finished task, kept done", line);
	return true;
}

/* A callback listed more URLs than are downloaded: say so once, at take-in. */
static void
report_dropped(struct sweep *w, const char *task_id, const char *kind,
    const struct url_list *l)
{
	char line[200];

	if (l->dropped == 0)
		return;
	snprintf(line, sizeof line, "the callback lists %zu %s URLs; the first %d are "
	    "downloaded", l->n + l->dropped, kind, CALLBACK_MAX_URLS);
	problem(w, task_id, "too many URLs", line);
}

/*
 * Records one taken entry in the task's state.  Returns 0 once the state
 * holds it (the caller may then retire the entry), -1 otherwise.
 */
static int
adopt_entry(struct sweep *w, const char *task_id, const struct spool_entry *e,
    const struct callback *cb)
{
	struct task t;
	bool had_state, same;
	int rc;

	had_state = load_task(w, task_id, &t) == 0;
	same = had_state && strcmp(t.callback_sha256, e->meta.body_sha256) == 0;
	if (!same && had_state && adopt_extra(w, &t, cb)) {
		rc = commit(w, &t, false);
		task_free(&t);
		return rc;
	}
	if (same) {
		/* Promise 4: the same callback again changes nothing but a count. */
		t.duplicates += e->meta.duplicates + 1;
		w->st->duplicates++;
		verbose(w, task_id, "duplicate callback, nothing to do", NULL);
	} else {
		adopt_callback(w, &t, had_state, cb, &e->meta);
		w->st->taken_in++;
		verbose(w, task_id, "taken in", NULL);
		report_dropped(w, task_id, "result", &cb->result_urls);
		report_dropped(w, task_id, "origin", &cb->origin_urls);
	}
	rc = commit(w, &t, !same && t.state == TASK_FAILED);
	task_free(&t);
	return rc;
}

/*
 * Takes one entry of task_id into its state.  Returns the take's result;
 * an entry that cannot be parsed goes to bad/.
 */
static enum spool_read
take_one(struct sweep *w, const char *task_id)
{
	char err[256];
	struct spool_entry e;
	struct callback cb = { 0 };
	enum spool_read r = spool_take(w->s->spool_dir, task_id, &e, err, sizeof err);

	if (r == SPOOL_READ_OK && callback_parse((const unsigned char *)e.body,
	    e.meta.body_length, &cb, err, sizeof err) < 0)
		r = SPOOL_READ_DAMAGED;
	if (r == SPOOL_READ_OK && adopt_entry(w, task_id, &e, &cb) < 0)
		r = SPOOL_READ_ERROR;	/* stays in taking/ for the next sweep */
	else if (r == SPOOL_READ_OK &&
	    spool_take_done(w->s->spool_dir, task_id, w->s->sync, err, sizeof err) < 0) {
		problem(w, task_id, "cannot move entry to cur/", err);
		r = SPOOL_READ_ERROR;
	}
	if (r == SPOOL_READ_DAMAGED) {
		problem(w, task_id, "damaged spool entry moved to bad/", err);
		if (spool_take_refuse(w->s->spool_dir, task_id, err, sizeof err) < 0)
			problem(w, task_id, "cannot move damaged entry", err);
	}
	if (r == SPOOL_READ_ERROR)
		problem(w, task_id, "cannot take spool entry", err);
	callback_free(&cb);
	spool_entry_free(&e);
	return r;
}

/*
 * Takes the task's waiting entries in order (spool.h, "Taking"): one left
 * in taking/ by a crash, then new/, then any stored meanwhile.
 */
static void
take_in_claimed(struct sweep *w, const char *task_id)
{
	for (int round = 0; round < TAKE_ROUNDS; round++) {
		enum spool_read r = take_one(w, task_id);

		if (r == SPOOL_READ_NONE || r == SPOOL_READ_ERROR)
			break;
	}
}

/* The taskIds with an entry waiting in sub ("taking": a crash's; "new"). */
static void
take_in_dir(struct sweep *w, const char *sub)
{
	size_t n;
	char **names = spool_list(w->s->spool_dir, sub, &n);
	char err[256];

	for (size_t i = 0; i < n; i++) {
		enum claim_result c = claim_task(w->s->spool_dir, names[i], err, sizeof err);

		if (c == CLAIM_ERROR)
			problem(w, names[i], "cannot claim", err);
		if (c != CLAIM_OK)
			continue;
		take_in_claimed(w, names[i]);
		claim_release(w->s->spool_dir, names[i]);
	}
	spool_list_free(names, n);
}

/* A registered task becomes a pending task waiting for its callback. */
static void
register_expected(struct sweep *w, const char *task_id, time_t when)
{
	struct task t;

	if (load_task(w, task_id, &t) == 0) {
		/* Its callback came first, or it was registered before. */
		if (t.expected == 0) {
			t.expected = when;
			commit(w, &t, false);
		}
		task_free(&t);
		return;
	}
	memset(&t, 0, sizeof t);
	snprintf(t.task_id, sizeof t.task_id, "%.*s", TASKID_MAX, task_id);
	task_set(&t.msg, "%s", "");
	task_set(&t.error, "%s", "");
	task_set(&t.advice, "%s", "");
	task_set(&t.upgrade_error, "%s", "");
	task_set(&t.dir, "%s/%s", w->s->download_dir, task_id);
	t.state = TASK_PENDING;
	t.awaiting = AWAIT_CALLBACK;
	t.first_seen = t.expected = when;
	t.next_ask = when + w->s->recover_after;
	if (t.msg && t.error && t.advice && t.dir && t.upgrade_error) {
		commit(w, &t, false);
		verbose(w, task_id, "registered, waiting for the callback", NULL);
	}
	task_free(&t);
}

/*
 * spool_dir/expect/: each valid name becomes a task waiting for its
 * callback; a name the responder would refuse is reported and moved to
 * bad/; names starting with a dot (a writer's temp file) are left alone.
 */
static void
take_expected(struct sweep *w)
{
	char dir[PATH_MAX], err[256], esc[300];
	DIR *d;
	struct dirent *de;
	struct stat st;
	int fd;

	if (spool_path(dir, sizeof dir, w->s->spool_dir, "expect", NULL) < 0 ||
	    (fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 || (d = fdopendir(fd)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		const char *id = de->d_name;

		if (id[0] == '.')
			continue;
		if (!taskid_valid(id, strlen(id))) {
			char bad[PATH_MAX], uniq[128];

			log_escape(esc, sizeof esc, id, strlen(id));
			problem(w, esc, "refused in expect/", "not a valid taskId (" TASKID_RULE
			    "); moved to bad/");
			unique_name(uniq, sizeof uniq);
			snprintf(bad, sizeof bad, "%s/bad/expect.%s", w->s->spool_dir, uniq);
			(void)renameat(fd, id, AT_FDCWD, bad);
			continue;
		}
		if (fstatat(fd, id, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    claim_task(w->s->spool_dir, id, err, sizeof err) != CLAIM_OK)
			continue;
		register_expected(w, id, st.st_mtime < w->now ? st.st_mtime : w->now);
		(void)unlinkat(fd, id, 0);
		claim_release(w->s->spool_dir, id);
	}
	closedir(d);
}

static void
take_in(struct sweep *w)
{
	take_in_dir(w, "taking");
	take_in_dir(w, "new");
	take_expected(w);
}

/* ---- 2. downloading ---- */

struct due {
	char *task_id;
	long long next_attempt;
};

static int
cmp_due(const void *a, const void *b)
{
	const struct due *x = a, *y = b;

	return x->next_attempt < y->next_attempt ? -1 : x->next_attempt > y->next_attempt;
}

/* When t wants the sweep next: an attempt, or a question to kie.ai; 0: never. */
static long long
next_due_of(const struct sweep *w, const struct task *t)
{
	long long ask = 0;

	if (w->auth != NULL && (t->state == TASK_PENDING || t->upgrade == UPGRADE_WAITING)) {
		ask = t->next_ask;
		if (t->state == TASK_PENDING && t->awaiting == AWAIT_CALLBACK &&
		    ask < t->expected + w->s->recover_after)
			ask = t->expected + w->s->recover_after;
	}
	if (t->state == TASK_PENDING && t->awaiting == AWAIT_NONE &&
	    (ask == 0 || t->next_attempt < ask))
		return t->next_attempt > 0 ? t->next_attempt : 1;
	return ask;
}

/*
 * A mark in pending/ whose task is finished (or gone): a crash between a
 * save and the mark's removal, or a purge.  Dropped under the task's claim,
 * so that it cannot race a save that makes the task wanted again.
 */
static void
drop_stale_mark(struct sweep *w, const char *task_id)
{
	char err[256];
	struct task t;

	if (claim_task(w->s->spool_dir, task_id, err, sizeof err) != CLAIM_OK)
		return;
	if (task_load(w->s->spool_dir, task_id, &t, err, sizeof err) == 0) {
		if (!task_wanted(&t))
			task_unmark(w->s->spool_dir, task_id);
		task_free(&t);
	} else if (errno == ENOENT) {
		task_unmark(w->s->spool_dir, task_id);
	}
	claim_release(w->s->spool_dir, task_id);
}

/*
 * Reads the state of every task marked in pending/ (task.h; finished tasks
 * are not read): a damaged one is rebuilt, a hook still owed (a crash
 * between the save and the hook) is queued, and the pending tasks whose
 * next attempt is due are returned, oldest first.
 */
static struct due *
due_tasks(struct sweep *w, size_t *ndue, char ***ask, size_t *nask)
{
	size_t n;
	char **names = spool_list(w->s->spool_dir, "pending", &n);
	struct due *due = calloc(n ? n : 1, sizeof *due);
	char err[256];

	*ndue = 0;
	*nask = 0;
	*ask = calloc(n ? n : 1, sizeof **ask);
	for (size_t i = 0; due != NULL && *ask != NULL && i < n; i++) {
		struct task t;
		int loaded = task_load(w->s->spool_dir, names[i], &t, err, sizeof err);

		if (loaded < 0 && errno != ENOENT &&
		    claim_task(w->s->spool_dir, names[i], err, sizeof err) == CLAIM_OK) {
			loaded = load_task(w, names[i], &t);
			claim_release(w->s->spool_dir, names[i]);
		}
		if (loaded < 0 && errno == ENOENT)
			drop_stale_mark(w, names[i]);
		if (loaded < 0)
			continue;
		if (!task_wanted(&t)) {
			drop_stale_mark(w, names[i]);
			task_free(&t);
			continue;
		}
		if (t.hook_owed != HOOK_NONE)
			owe_hook(w, names[i]);
		if (w->auth != NULL && authority_due(w->s, &t, w->now))
			(*ask)[(*nask)++] = strdup(names[i]);
		note_due(w, next_due_of(w, &t));
		if (t.state == TASK_PENDING && t.awaiting == AWAIT_NONE &&
		    t.next_attempt <= w->now) {
			due[*ndue].task_id = names[i];
			due[*ndue].next_attempt = t.next_attempt;
			names[i] = NULL;
			(*ndue)++;
		}
		task_free(&t);
	}
	spool_list_free(names, n);
	if (*ndue > 1)
		qsort(due, *ndue, sizeof *due, cmp_due);
	return due;
}

/*
 * Tasks claimed together and their transfers.  A task is recorded as soon
 * as its own jobs have ended (fetch_opts.job_done), not when the batch does.
 */
struct batch {
	struct sweep *w;
	struct fetch_opts *fo;		/* of the running fetch_run() */
	time_t stop_seen;		/* when touch_claims() first saw a stop request */
	struct task tasks[BATCH_MAX];
	int dir_fd[BATCH_MAX];		/* the task's directory, -1 when none */
	size_t left[BATCH_MAX];		/* its jobs still running */
	bool open[BATCH_MAX];		/* claimed and not yet recorded */
	size_t ntasks;
	struct fetch_job jobs[BATCH_MAX * TASK_MAX_FILES];
	size_t njobs;
};

/* The task a job belongs to (its user pointer is one of the task's files). */
static size_t
task_of(const struct batch *b, const struct fetch_job *j)
{
	const struct task_file *f = j->user;

	for (size_t i = 0; i < b->ntasks; i++)
		if (f >= b->tasks[i].files && f < b->tasks[i].files + b->tasks[i].nfiles)
			return i;
	return b->ntasks;
}

/* The worst outcome among a task's transfers: fail beats expired beats retry. */
struct outcome {
	const struct fetch_job *job;
	struct transfer_policy policy;
};

static void
worse(struct outcome *o, const struct fetch_job *j, struct transfer_policy p)
{
	static const int rank[] = {
		[VERDICT_DONE] = 0, [VERDICT_NOT_RUN] = 0, [VERDICT_WAIT] = 1,
		[VERDICT_RETRY] = 1, [VERDICT_FORBIDDEN] = 2, [VERDICT_EXPIRED] = 3,
		[VERDICT_FAIL] = 3,
	};

	if (o->job == NULL || rank[p.verdict] > rank[o->policy.verdict]) {
		o->job = j;
		o->policy = p;
	}
}

/* Records the whole files of task i; returns the worst outcome of the rest. */
static struct outcome
collect(struct batch *b, size_t i)
{
	struct outcome o = { NULL, { VERDICT_NOT_RUN, "" } };

	for (size_t k = 0; k < b->njobs; k++) {
		const struct fetch_job *j = &b->jobs[k];
		struct task_file *f = j->user;
		struct transfer_policy p = advice_for_transfer(j->result, j->http_code);

		if (task_of(b, j) != i)
			continue;
		if (p.verdict == VERDICT_DONE) {
			f->done = true;
			f->bytes = j->bytes;
			memcpy(f->sha256, j->sha256, sizeof f->sha256);
		} else if (p.verdict != VERDICT_NOT_RUN) {
			worse(&o, j, p);
		}
	}
	return o;
}

/*
 * A failure that no attempt of the task can fix (a full disk, a download
 * directory that cannot be made, a link planted as the task's directory):
 * recorded on the task, no attempt counted.  *told, when given, makes the
 * report once a sweep for a problem all tasks share.
 */
static void
wait_for_machine(struct sweep *w, struct task *t, const char *error, const char *advice,
    bool *told)
{
	task_set(&t->error, "%s", error);
	task_set(&t->advice, "%s", advice);
	if (told == NULL || !*told) {
		char line[700];

		snprintf(line, sizeof line, "%s; %s", error, advice);
		problem(w, t->task_id, "waiting", line);
		if (told != NULL)
			*told = true;
	}
}

/* What the jobs of task i came to, and the task's next state. */
static void
decide(struct sweep *w, struct batch *b, size_t i)
{
	struct task *t = &b->tasks[i];
	struct outcome o = collect(b, i);
	bool all_done = true;

	for (size_t k = 0; k < t->nfiles; k++)
		all_done &= t->files[k].done;
	if (all_done) {
		t->state = TASK_DONE;
		task_set(&t->error, "%s", "");
		task_set(&t->advice, "%s", "");
		return;
	}
	switch (o.policy.verdict) {
	case VERDICT_DONE:
	case VERDICT_NOT_RUN:
		return;		/* nothing ran: no attempt counted */
	case VERDICT_WAIT:
		wait_for_machine(w, t, o.job->error, o.policy.advice, &w->told_disk_full);
		return;
	case VERDICT_EXPIRED:
	case VERDICT_FAIL:
		fail_task(t, o.policy.advice, o.job->error);
		return;
	case VERDICT_FORBIDDEN:
		if (++t->forbidden >= FORBIDDEN_MAX) {
			char why[300];

			snprintf(why, sizeof why, "%s (%d times)", o.job->error, FORBIDDEN_MAX);
			fail_task(t, o.policy.advice, why);
			return;
		}
		break;
	case VERDICT_RETRY:
		break;
	}
	t->attempts++;
	task_set(&t->error, "%s", o.job->error);
	if (t->attempts >= w->s->max_attempts) {
		char why[400];

		snprintf(why, sizeof why, "gave up after %ld attempts; last error: %s",
		    t->attempts, t->error);
		fail_task(t, advice_gave_up, why);
		return;
	}
	t->next_attempt = w->now + task_backoff(t->attempts, (unsigned)rand());
	note_due(w, t->next_attempt);
	w->st->retrying++;
	verbose(w, t->task_id, "will retry", t->error);
}

/* Decides task i, saves it and lets its claim go. */
static void
finish_task(struct sweep *w, struct batch *b, size_t i)
{
	struct task *t = &b->tasks[i];

	if (!b->open[i])
		return;
	w->now = time(NULL);
	decide(w, b, i);
	commit(w, t, t->state != TASK_PENDING);
	claim_release(w->s->spool_dir, t->task_id);
	if (b->dir_fd[i] >= 0)
		close(b->dir_fd[i]);
	b->dir_fd[i] = -1;
	b->open[i] = false;
}

static void
job_done(struct fetch_job *j, void *arg)
{
	struct batch *b = arg;
	size_t i = task_of(b, j);

	if (i < b->ntasks && b->left[i] > 0 && --b->left[i] == 0)
		finish_task(b->w, b, i);
}

/*
 * Clears the final name of a file this task has not downloaded: whatever
 * is there (an earlier callback's video, a planted file, a link, a
 * directory) is moved aside and the file fetched again.
 */
static void
clear_final_name(struct sweep *w, const struct task *t, int dirfd, const char *name)
{
	char aside[512], line[700];
	int r = taskdir_set_aside(dirfd, name, aside, sizeof aside);

	if (r > 0) {
		snprintf(line, sizeof line, "%s was not downloaded for this callback; kept as "
		    "%s, fetching the file again", name, aside);
		problem(w, t->task_id, "moved aside", line);
	} else if (r < 0) {
		snprintf(line, sizeof line, "cannot move %s aside: %s", name, strerror(errno));
		problem(w, t->task_id, "download directory", line);
	}
	taskdir_clear_partial_links(dirfd, name);
}

/* Queues the missing files of task i. */
static void
add_jobs(struct sweep *w, struct batch *b, size_t i)
{
	struct task *t = &b->tasks[i];
	char err[400];
	const char *advice;

	if ((b->dir_fd[i] = taskdir_open(w->s->download_dir, t->dir, err, sizeof err,
	    &advice)) < 0) {
		wait_for_machine(w, t, err, advice, b->dir_fd[i] == -2 ? NULL : &w->told_no_dir);
		b->dir_fd[i] = -1;
		return;
	}
	for (size_t k = 0; k < t->nfiles; k++) {
		struct task_file *f = &t->files[k];
		struct fetch_job *j = &b->jobs[b->njobs];
		const char *base = strrchr(f->path, '/');

		if (f->done)
			continue;
		clear_final_name(w, t, b->dir_fd[i], base ? base + 1 : f->path);
		memset(j, 0, sizeof *j);
		j->url = f->url;
		j->dest = f->path;
		j->expect = f->media;
		j->user = f;
		b->njobs++;
		b->left[i]++;
	}
}

static bool
claim_due(struct sweep *w, struct batch *b, const char *task_id)
{
	size_t i = b->ntasks;
	struct task *t = &b->tasks[i];
	char err[256];
	enum claim_result c = claim_task(w->s->spool_dir, task_id, err, sizeof err);

	if (c != CLAIM_OK) {
		if (c == CLAIM_ERROR)
			problem(w, task_id, "cannot claim", err);
		return false;
	}
	/* Re-read under the claim: another host may have just finished it, or
	 * taken in a callback that record-info must confirm first. */
	if (load_task(w, task_id, t) < 0 || t->state != TASK_PENDING ||
	    t->awaiting != AWAIT_NONE || t->next_attempt > w->now) {
		task_free(t);
		claim_release(w->s->spool_dir, task_id);
		return false;
	}
	b->ntasks++;
	b->open[i] = true;
	b->left[i] = 0;
	add_jobs(w, b, i);
	return true;
}

/*
 * A stop request while transfers run: nothing new starts (the deadline
 * moves to now), and the engine is given a moment to end what runs.  If
 * transfers still run after that, the process ends here: the claims are
 * let go, the tasks' states are those saved before the batch (nothing
 * counted), and each .part with its .part.info is resumed by the next run,
 * as after a kill -9.
 */
static void
stop_transfers(struct batch *b, time_t now)
{
	if (b->stop_seen == 0) {
		b->stop_seen = now;
		if (b->fo != NULL)
			b->fo->deadline = now;
		return;
	}
	if (now - b->stop_seen < 2)
		return;
	for (size_t i = 0; i < b->ntasks; i++)
		if (b->open[i])
			claim_release(b->w->s->spool_dir, b->tasks[i].task_id);
	fflush(stdout);
	_exit(0);
}

static void
touch_claims(void *arg)
{
	struct batch *b = arg;
	static time_t last;
	time_t now = time(NULL);

	if (stopping(b->w))
		stop_transfers(b, now);
	if (now - last < CLAIM_REFRESH)
		return;
	last = now;
	for (size_t i = 0; i < b->ntasks; i++)
		if (b->open[i])
			claim_touch(b->w->s->spool_dir, b->tasks[i].task_id);
}

static void
fetch_batch(struct sweep *w, struct batch *b)
{
	struct fetch_opts fo = {
		.parallel = w->s->parallel, .per_host = w->s->per_host,
		.max_file_size = w->s->max_file_size, .https_only = w->s->https_only,
		.allow_private = w->s->allow_private, .allow_hosts = w->s->allow_hosts,
		.ca_file = w->s->ca_file, .connect_timeout = w->s->connect_timeout,
		.stall_timeout = w->s->stall_timeout, .min_speed = w->s->min_speed,
		.max_redirects = 5, .deadline = w->deadline, .progress = w->o->progress,
		.tick = touch_claims, .tick_arg = b,
		.job_done = job_done, .job_done_arg = b,
	};

	b->fo = &fo;
	b->stop_seen = 0;
	/* Tasks with nothing to fetch (all there, or no directory) end now. */
	for (size_t i = 0; i < b->ntasks; i++)
		if (b->left[i] == 0)
			finish_task(w, b, i);
	if (b->njobs > 0 && (!curl_ready() || fetch_run(b->jobs, b->njobs, &fo) < 0))
		problem(w, "-", "download engine", "libcurl could not be set up");
	b->fo = NULL;
	for (size_t i = 0; i < b->ntasks; i++) {
		finish_task(w, b, i);
		task_free(&b->tasks[i]);
	}
	b->ntasks = b->njobs = 0;
	pay_hooks(w);
}

static int
save_for_authority(struct task *t, void *arg)
{
	struct sweep *w = arg;
	char err[256];

	if (task_save(w->s->spool_dir, t, w->s->sync, err, sizeof err) == 0)
		return 0;
	problem(w, t->task_id, "cannot save state", err);
	return -1;
}

/* Asks kie.ai about one task under its claim; false when the API is done for this sweep. */
static bool
ask_one(struct sweep *w, const char *task_id)
{
	char err[256], report[400];
	struct task t;
	enum authority_result r = AUTHORITY_NOTHING;

	if (claim_task(w->s->spool_dir, task_id, err, sizeof err) != CLAIM_OK)
		return true;
	if (load_task(w, task_id, &t) == 0) {
		w->now = time(NULL);
		r = authority_ask(w->auth, &t, w->now, save_for_authority, w, report,
		    sizeof report);
		if (report[0] != '\0')
			problem(w, task_id, r == AUTHORITY_STOP ? "kie.ai API" : "record-info",
			    report);
		if (r == AUTHORITY_CHANGED)
			commit(w, &t, t.state == TASK_FAILED);
		if (t.state == TASK_PENDING)
			note_due(w, t.awaiting == AWAIT_NONE ? t.next_attempt : t.next_ask);
		task_free(&t);
	}
	claim_release(w->s->spool_dir, task_id);
	return r != AUTHORITY_STOP;
}

/*
 * The questions due to kie.ai (recovery, confirmation, upgrades), before
 * the downloads: a task they make downloadable joins this sweep's.
 */
static void
ask_authority(struct sweep *w, char **ask, size_t nask)
{
	for (size_t i = 0; i < nask; i++)
		if (ask[i] != NULL && !w->api_stopped && time(NULL) < w->deadline &&
		    !stopping(w) && !ask_one(w, ask[i]))
			w->api_stopped = true;
	pay_hooks(w);
}

/* Appends the tasks that became due since the list was made (after the questions). */
static struct due *
add_newly_due(struct sweep *w, struct due *due, size_t *ndue, char **asked, size_t nasked)
{
	char err[256];
	struct due *more = realloc(due, (*ndue + nasked + 1) * sizeof *due);

	if (more == NULL)
		return due;
	for (size_t i = 0; i < nasked; i++) {
		struct task t;

		if (asked[i] == NULL ||
		    task_load(w->s->spool_dir, asked[i], &t, err, sizeof err) < 0)
			continue;
		if (t.state == TASK_PENDING && t.awaiting == AWAIT_NONE &&
		    t.next_attempt <= w->now && (more[*ndue].task_id = strdup(asked[i])) != NULL)
			more[(*ndue)++].next_attempt = t.next_attempt;
		task_free(&t);
	}
	return more;
}

static void
download(struct sweep *w)
{
	size_t ndue, nask, i = 0;
	char **ask;
	struct due *due = due_tasks(w, &ndue, &ask, &nask);
	struct batch *b = NULL;		/* some MB: only when something is due */
	size_t per_batch = (size_t)w->s->parallel * 4;

	pay_hooks(w);		/* owed by earlier sweeps that died */
	if (ask != NULL) {
		ask_authority(w, ask, nask);
		if (due != NULL)
			due = add_newly_due(w, due, &ndue, ask, nask);
		for (size_t k = 0; k < nask; k++)
			free(ask[k]);
		free(ask);
	}
	if (per_batch > BATCH_MAX)
		per_batch = BATCH_MAX;
	if (ndue > 0 && (b = calloc(1, sizeof *b)) != NULL)
		b->w = w;
	while (b != NULL && i < ndue && time(NULL) < w->deadline && !stopping(w)) {
		w->now = time(NULL);
		for (; i < ndue && b->ntasks < per_batch; i++)
			claim_due(w, b, due[i].task_id);
		fetch_batch(w, b);
	}
	for (size_t k = 0; k < ndue; k++)
		free(due[k].task_id);
	free(due);
	free(b);
}

/* ---- 3. tasks too old to finish ---- */

static bool
expired(const struct sweep *w, const struct task *t)
{
	return t->state == TASK_PENDING && w->now - t->first_seen > TASK_MAX_AGE;
}

/*
 * Tidying judges a task, claims it, and judges it again under the claim
 * before it changes anything: between the look and the claim another
 * sweep may have finished it or taken in a new callback.
 */
static void
expire_old(struct sweep *w)
{
	size_t n;
	char **names = spool_list(w->s->spool_dir, "pending", &n);
	char err[256];

	for (size_t i = 0; i < n; i++) {
		struct task t;

		if (task_load(w->s->spool_dir, names[i], &t, err, sizeof err) < 0)
			continue;
		if (expired(w, &t) &&
		    claim_task(w->s->spool_dir, names[i], err, sizeof err) == CLAIM_OK) {
			task_free(&t);
			if (task_load(w->s->spool_dir, names[i], &t, err, sizeof err) == 0 &&
			    expired(w, &t)) {
				fail_task(&t, advice_expired, "not downloaded within 14 days");
				commit(w, &t, true);
			}
			claim_release(w->s->spool_dir, names[i]);
		}
		task_free(&t);
	}
	spool_list_free(names, n);
	pay_hooks(w);
}

/* ---- 4. tidying ---- */

static void
remove_older(const char *dir, time_t cutoff)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char path[PATH_MAX];
	struct stat st;

	while (d != NULL && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' && (de->d_name[1] == '\0' || de->d_name[1] == '.'))
			continue;
		if (snprintf(path, sizeof path, "%s/%s", dir, de->d_name) < (int)sizeof path &&
		    lstat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_mtime < cutoff)
			unlink(path);
	}
	if (d != NULL)
		closedir(d);
}

static bool
forgettable(const struct task *t, time_t cutoff)
{
	return (t->state == TASK_DONE || t->state == TASK_FAILED) && t->updated < cutoff &&
	    t->hook_owed == HOOK_NONE;
}

/*
 * Forgets done and failed tasks older than keep_days, with their leftovers,
 * under their claim (as expire_old).  Only state files not written since
 * the cutoff are read (a state's mtime is its last save), so the cost is a
 * listing plus what there is to forget.
 */
static void
forget_old(struct sweep *w, time_t cutoff)
{
	char path[PATH_MAX], err[256];
	size_t n;
	char **names = spool_list(w->s->spool_dir, "state", &n);
	struct stat sb;

	for (size_t i = 0; i < n; i++) {
		struct task t;

		if (spool_path(path, sizeof path, w->s->spool_dir, "state", names[i]) < 0 ||
		    lstat(path, &sb) < 0 || sb.st_mtime >= cutoff)
			continue;
		if (task_load(w->s->spool_dir, names[i], &t, err, sizeof err) == 0 &&
		    forgettable(&t, cutoff) &&
		    claim_task(w->s->spool_dir, names[i], err, sizeof err) == CLAIM_OK) {
			task_free(&t);
			if (task_load(w->s->spool_dir, names[i], &t, err, sizeof err) == 0 &&
			    forgettable(&t, cutoff)) {
				drop_partials(&t);
				spool_path(path, sizeof path, w->s->spool_dir, "state", names[i]);
				unlink(path);
				spool_path(path, sizeof path, w->s->spool_dir, "cur", names[i]);
				unlink(path);
				task_unmark(w->s->spool_dir, names[i]);
			}
			claim_release(w->s->spool_dir, names[i]);
		}
		task_free(&t);
	}
	spool_list_free(names, n);
	if (spool_path(path, sizeof path, w->s->spool_dir, "old", NULL) == 0)
		remove_older(path, cutoff);
}

/* True at most once an hour (a marker file's mtime), for the costly tidying. */
static bool
tidy_due(struct sweep *w)
{
	char path[PATH_MAX];
	struct stat st;
	int fd;

	if (spool_path(path, sizeof path, w->s->spool_dir, "tidied", NULL) < 0)
		return false;
	if (stat(path, &st) == 0 && w->now - st.st_mtime < TIDY_EVERY && st.st_mtime <= w->now)
		return false;
	if ((fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0660)) >= 0)
		close(fd);
	utimensat(AT_FDCWD, path, NULL, AT_SYMLINK_NOFOLLOW);
	return true;
}

/*
 * At most once an hour: pending tasks too old to finish fail, finished
 * tasks older than keep_days are forgotten, stale temp and partial files
 * go, and the finished tasks' states are packed for status (statepack.h).
 * Other sweeps skip all of it.
 */
static void
tidy(struct sweep *w)
{
	char path[PATH_MAX], err[256];

	if (!tidy_due(w))
		return;
	expire_old(w);
	if (spool_path(path, sizeof path, w->s->spool_dir, "tmp", NULL) == 0)
		remove_older(path, w->now - TMP_MAX_AGE);
	if (w->s->keep_days > 0)
		forget_old(w, w->now - (time_t)w->s->keep_days * 86400);
	taskdir_remove_stray(w->s->download_dir, w->now - PARTIAL_MAX_AGE);
	if (statepack_write(w->s->spool_dir, w->deadline, w->s->sync, w->s->min_free, err,
	    sizeof err) < 0)
		verbose(w, "-", "state pack for status not written", err);
}

#define INDEXED "pending/.indexed"	/* the pending/ index is complete */

/*
 * A spool from before pending/ (every state file in state/, none marked):
 * marks each task a sweep must look at, once, then records that it did.
 * Interrupted, it starts over at the next sweep; marks are idempotent.
 */
static void
index_spool(struct sweep *w)
{
	char path[PATH_MAX], err[256];
	size_t n;
	char **names;
	int fd;

	if (spool_path(path, sizeof path, w->s->spool_dir, INDEXED, NULL) < 0 ||
	    access(path, F_OK) == 0)
		return;
	names = spool_list(w->s->spool_dir, "state", &n);
	for (size_t i = 0; i < n; i++) {
		struct task t;
		int loaded = task_load(w->s->spool_dir, names[i], &t, err, sizeof err);

		/* A damaged state is marked too: the next due_tasks() rebuilds it. */
		if ((loaded == 0 && task_wanted(&t)) || (loaded < 0 && errno != ENOENT))
			task_mark(w->s->spool_dir, names[i], false);
		if (loaded == 0)
			task_free(&t);
	}
	spool_list_free(names, n);
	if (spool_path(err, sizeof err, w->s->spool_dir, "pending", NULL) == 0)
		fsync_dir(err);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0660)) >= 0)
		close(fd);
	if (n > 0)
		verbose(w, "-", "spool upgraded: pending tasks indexed in pending/", NULL);
}

static int
prepare(const struct settings *s, char *err, size_t errlen)
{
	if (spool_prepare(s->spool_dir, true, err, errlen) < 0)
		return -1;
	if (mkdir_exist_ok(s->download_dir, 0775) < 0) {
		snprintf(err, errlen, "download_dir %s: %s", s->download_dir, strerror(errno));
		return -1;
	}
	return 0;
}

int
sweep_lock(const struct settings *s, char *err, size_t errlen)
{
	if (prepare(s, err, errlen) < 0)
		return -1;
	return claim_sweep_lock(s->spool_dir, err, errlen);
}

int
sweep_run(const struct settings *s, const struct sweep_opts *o,
    struct sweep_stats *st, char *err, size_t errlen)
{
	struct sweep w = { .s = s, .o = o, .st = st, .now = time(NULL) };
	int lock = -1;

	memset(st, 0, sizeof *st);
	w.deadline = o->deadline != 0 ? o->deadline : w.now + (time_t)s->max_time;
	if (prepare(s, err, errlen) < 0)
		return -1;
	if (!o->locked && (lock = claim_sweep_lock(s->spool_dir, err, errlen)) < 0)
		return lock == -2 ? 1 : -1;
	srand((unsigned)(w.now ^ getpid()));
	index_spool(&w);
	err[0] = '\0';
	if (s->api_key != NULL && s->api_key[0] != '\0' && !curl_ready())
		snprintf(err, errlen, "libcurl could not be set up");
	else
		w.auth = authority_new(s, w.deadline, err, errlen);
	if (w.auth == NULL && err[0] != '\0')
		problem(&w, "-", "kie.ai API off for this sweep", err);
	take_in(&w);
	pay_hooks(&w);
	download(&w);
	if (w.auth != NULL && w.upgrade.n > 0) {
		/* Upgrades of what was just finished are asked for at once. */
		ask_authority(&w, w.upgrade.v, w.upgrade.n);
		download(&w);
	}
	w.now = time(NULL);
	tidy(&w);
	authority_free(w.auth);
	id_list_clear(&w.owed);
	id_list_clear(&w.upgrade);
	free(w.owed.v);
	free(w.upgrade.v);
	if (lock >= 0)
		close(lock);
	return 0;
}
