#include "sweep.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "advice.h"
#include "callback.h"
#include "claim.h"
#include "entry.h"
#include "fetch.h"
#include "fsutil.h"
#include "hook.h"
#include "log.h"
#include "spool.h"
#include "task.h"

#define TMP_MAX_AGE 86400
/* Entries of one task taken in a row: a sender storing faster waits a sweep. */
#define TAKE_ROUNDS 8

struct sweep {
	const struct settings *s;
	const struct sweep_opts *o;
	struct sweep_stats *st;
	time_t now;
	time_t deadline;
};

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

/* ---- finishing a task ---- */

static void
run_hook(struct sweep *w, const struct task *t)
{
	const char *cmd = t->state == TASK_DONE ? w->s->on_done : w->s->on_failed;
	char err[256];

	if (cmd == NULL)
		return;
	if (hook_run(cmd, t, (long)w->s->hook_timeout, err, sizeof err) < 0)
		problem(w, t->task_id, t->state == TASK_DONE ? "on_done hook" : "on_failed hook", err);
}

/* Saves t; reports and runs the hook when it has just ended. */
static int
commit(struct sweep *w, struct task *t, bool ended)
{
	char err[256];

	t->updated = w->now;
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
	}
	run_hook(w, t);
	return 0;
}

static void
fail_task(struct task *t, const char *advice, const char *error)
{
	t->state = TASK_FAILED;
	task_set(&t->error, "%s", error);
	task_set(&t->advice, "%s", advice);
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
	if (had_state)
		task_free(&prev);
	*t = fresh;
}

/*
 * Records one taken entry in the task's state.  Returns 0 once the state
 * holds it (the caller may then retire the entry), -1 otherwise.
 */
static int
adopt_entry(struct sweep *w, const char *task_id, const struct spool_entry *e,
    const struct callback *cb)
{
	char err[256];
	struct task t;
	bool had_state, same;
	int rc;

	had_state = task_load(w->s->spool_dir, task_id, &t, err, sizeof err) == 0;
	if (!had_state && errno != ENOENT)
		problem(w, task_id, "state file unreadable, starting over", err);
	same = had_state && strcmp(t.callback_sha256, e->meta.body_sha256) == 0;
	if (same) {
		/* Promise 4: the same callback again changes nothing but a count. */
		t.duplicates += e->meta.duplicates + 1;
		w->st->duplicates++;
		verbose(w, task_id, "duplicate callback, nothing to do", NULL);
	} else {
		adopt_callback(w, &t, had_state, cb, &e->meta);
		w->st->taken_in++;
		verbose(w, task_id, "taken in", NULL);
	}
	rc = commit(w, &t, !same && t.state == TASK_FAILED);
	task_free(&t);
	return rc;
}

/*
 * Takes the task's waiting entries one by one (spool.h, "Taking"): one
 * left in taking/ by a crash, then new/, then any stored meanwhile.
 */
/*
 * Takes one entry of task_id into its state.  Returns the take's result;
 * an entry that cannot be parsed goes to bad/.
 */
static enum spool_take_result
take_one(struct sweep *w, const char *task_id)
{
	char err[256];
	struct spool_entry e;
	struct callback cb = { 0 };
	enum spool_take_result r = spool_take(w->s->spool_dir, task_id, &e, err, sizeof err);

	if (r == SPOOL_TAKEN && callback_parse((const unsigned char *)e.body,
	    e.meta.body_length, &cb, err, sizeof err) < 0)
		r = SPOOL_DAMAGED;
	if (r == SPOOL_TAKEN && adopt_entry(w, task_id, &e, &cb) < 0)
		r = SPOOL_TAKE_ERROR;	/* stays in taking/ for the next sweep */
	else if (r == SPOOL_TAKEN &&
	    spool_take_done(w->s->spool_dir, task_id, w->s->sync, err, sizeof err) < 0) {
		problem(w, task_id, "cannot move entry to cur/", err);
		r = SPOOL_TAKE_ERROR;
	}
	if (r == SPOOL_DAMAGED) {
		problem(w, task_id, "damaged spool entry moved to bad/", err);
		if (spool_take_refuse(w->s->spool_dir, task_id, err, sizeof err) < 0)
			problem(w, task_id, "cannot move damaged entry", err);
	}
	if (r == SPOOL_TAKE_ERROR)
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
		enum spool_take_result r = take_one(w, task_id);

		if (r == SPOOL_NONE || r == SPOOL_TAKE_ERROR)
			break;
	}
}

/* The taskIds with an entry waiting: in taking/ (a crash's) and in new/. */
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

static void
take_in(struct sweep *w)
{
	take_in_dir(w, "taking");
	take_in_dir(w, "new");
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

/* Pending tasks whose next attempt is due, oldest first. */
static struct due *
due_tasks(struct sweep *w, size_t *ndue)
{
	size_t n;
	char **names = spool_list(w->s->spool_dir, "state", &n);
	struct due *due = calloc(n ? n : 1, sizeof *due);
	char err[256];

	*ndue = 0;
	for (size_t i = 0; due != NULL && i < n; i++) {
		struct task t;

		if (task_load(w->s->spool_dir, names[i], &t, err, sizeof err) < 0)
			continue;
		if (t.state == TASK_PENDING && t.next_attempt <= w->now) {
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

struct batch {
	struct task tasks[64];
	size_t ntasks;
	struct fetch_job jobs[64 * TASK_MAX_FILES];
	size_t njobs;
};

/* A file whose final name exists was completed by a sweep that died before saving. */
static bool
already_whole(struct task_file *f)
{
	struct stat st;
	struct sha256_stream *h;
	FILE *fp;
	char buf[65536];
	size_t n;

	if (stat(f->path, &st) < 0 || !S_ISREG(st.st_mode) || (fp = fopen(f->path, "re")) == NULL)
		return false;
	if ((h = sha256_new()) == NULL) {
		fclose(fp);
		return false;
	}
	while ((n = fread(buf, 1, sizeof buf, fp)) > 0)
		sha256_update(h, buf, n);
	fclose(fp);
	sha256_final_hex(h, f->sha256);
	sha256_free(h);
	f->bytes = st.st_size;
	f->done = true;
	return true;
}

static void
add_jobs(struct sweep *w, struct batch *b, struct task *t)
{
	mkdir_exist_ok(w->s->download_dir, 0775);
	if (mkdir_exist_ok(t->dir, 0775) < 0) {
		problem(w, t->task_id, "cannot create download directory", strerror(errno));
		return;
	}
	for (size_t i = 0; i < t->nfiles; i++) {
		struct task_file *f = &t->files[i];
		struct fetch_job *j = &b->jobs[b->njobs];

		if (f->done || already_whole(f))
			continue;
		memset(j, 0, sizeof *j);
		j->url = f->url;
		j->dest = f->path;
		j->expect = f->media;
		j->user = f;
		b->njobs++;
	}
}

static bool
claim_due(struct sweep *w, struct batch *b, const char *task_id)
{
	struct task *t = &b->tasks[b->ntasks];
	char err[256];
	enum claim_result c = claim_task(w->s->spool_dir, task_id, err, sizeof err);

	if (c != CLAIM_OK) {
		if (c == CLAIM_ERROR)
			problem(w, task_id, "cannot claim", err);
		return false;
	}
	/* Re-read under the claim: another host may have just finished it. */
	if (task_load(w->s->spool_dir, task_id, t, err, sizeof err) < 0 ||
	    t->state != TASK_PENDING || t->next_attempt > w->now) {
		task_free(t);
		claim_release(w->s->spool_dir, task_id);
		return false;
	}
	b->ntasks++;
	add_jobs(w, b, t);
	return true;
}

static void
touch_claims(void *arg)
{
	struct batch *b = ((void **)arg)[0];
	const struct sweep *w = ((void **)arg)[1];
	static time_t last;
	time_t now = time(NULL);

	if (now - last < 60)
		return;
	last = now;
	for (size_t i = 0; i < b->ntasks; i++)
		claim_touch(w->s->spool_dir, b->tasks[i].task_id);
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
		[VERDICT_DONE] = 0, [VERDICT_NOT_RUN] = 0, [VERDICT_WAIT] = 1, [VERDICT_RETRY] = 1,
		[VERDICT_FORBIDDEN] = 2, [VERDICT_EXPIRED] = 3, [VERDICT_FAIL] = 3,
	};

	if (o->job == NULL || rank[p.verdict] > rank[o->policy.verdict]) {
		o->job = j;
		o->policy = p;
	}
}

/* Records the whole files of t's jobs; returns the worst outcome of the rest. */
static struct outcome
collect(struct task *t, struct batch *b)
{
	struct outcome o = { NULL, { VERDICT_NOT_RUN, "" } };

	for (size_t i = 0; i < b->njobs; i++) {
		const struct fetch_job *j = &b->jobs[i];
		struct task_file *f = j->user;
		struct transfer_policy p = advice_for_transfer(j->result, j->http_code);

		if (f < t->files || f >= t->files + t->nfiles)
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

/* What the jobs of t came to, and the task's next state. */
static void
decide(struct sweep *w, struct task *t, struct batch *b)
{
	struct outcome o = collect(t, b);
	bool all_done = true;

	for (size_t i = 0; i < t->nfiles; i++)
		all_done &= t->files[i].done;
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
		task_set(&t->error, "%s", o.job->error);
		task_set(&t->advice, "%s", o.policy.advice);
		return;		/* the machine's problem, not the task's */
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
	w->st->retrying++;
	verbose(w, t->task_id, "will retry", t->error);
}

static void
finish_batch(struct sweep *w, struct batch *b)
{
	w->now = time(NULL);
	for (size_t i = 0; i < b->ntasks; i++) {
		struct task *t = &b->tasks[i];

		decide(w, t, b);
		commit(w, t, t->state != TASK_PENDING);
		claim_release(w->s->spool_dir, t->task_id);
		task_free(t);
	}
	b->ntasks = b->njobs = 0;
}

static void
fetch_batch(struct sweep *w, struct batch *b)
{
	void *tick_arg[2] = { b, w };
	struct fetch_opts fo = {
		.parallel = w->s->parallel, .per_host = 2,
		.max_file_size = w->s->max_file_size, .https_only = w->s->https_only,
		.allow_private = w->s->allow_private, .allow_hosts = w->s->allow_hosts,
		.ca_file = w->s->ca_file, .connect_timeout = w->s->connect_timeout,
		.stall_timeout = w->s->stall_timeout, .min_speed = w->s->min_speed,
		.max_redirects = 5,
		.deadline = w->deadline, .progress = w->o->progress,
		.tick = touch_claims, .tick_arg = tick_arg,
	};

	if (b->njobs > 0 && fetch_run(b->jobs, b->njobs, &fo) < 0)
		problem(w, "-", "download engine", "libcurl could not be set up");
	finish_batch(w, b);
}

static void
download(struct sweep *w)
{
	size_t ndue, i = 0;
	struct due *due = due_tasks(w, &ndue);
	struct batch *b = calloc(1, sizeof *b);
	size_t per_batch = (size_t)w->s->parallel * 4;

	if (per_batch > sizeof b->tasks / sizeof b->tasks[0])
		per_batch = sizeof b->tasks / sizeof b->tasks[0];
	while (b != NULL && i < ndue && time(NULL) < w->deadline) {
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

static void
expire_old(struct sweep *w)
{
	size_t n;
	char **names = spool_list(w->s->spool_dir, "state", &n);
	char err[256];

	for (size_t i = 0; i < n; i++) {
		struct task t;

		if (task_load(w->s->spool_dir, names[i], &t, err, sizeof err) < 0)
			continue;
		if (t.state == TASK_PENDING && w->now - t.first_seen > TASK_MAX_AGE &&
		    claim_task(w->s->spool_dir, names[i], err, sizeof err) == CLAIM_OK) {
			fail_task(&t, advice_expired, "not downloaded within 14 days");
			commit(w, &t, true);
			claim_release(w->s->spool_dir, names[i]);
		}
		task_free(&t);
	}
	spool_list_free(names, n);
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

static void
tidy(struct sweep *w)
{
	char path[PATH_MAX];

	if (spool_path(path, sizeof path, w->s->spool_dir, "tmp", NULL) == 0)
		remove_older(path, w->now - TMP_MAX_AGE);
	if (w->s->keep_days > 0) {
		time_t cutoff = w->now - (time_t)w->s->keep_days * 86400;
		size_t n;
		char **names = spool_list(w->s->spool_dir, "state", &n);
		char err[256];

		for (size_t i = 0; i < n; i++) {
			struct task t;

			if (task_load(w->s->spool_dir, names[i], &t, err, sizeof err) == 0 &&
			    (t.state == TASK_DONE || t.state == TASK_FAILED) && t.updated < cutoff) {
				spool_path(path, sizeof path, w->s->spool_dir, "state", names[i]);
				unlink(path);
				spool_path(path, sizeof path, w->s->spool_dir, "cur", names[i]);
				unlink(path);
			}
			task_free(&t);
		}
		spool_list_free(names, n);
		if (spool_path(path, sizeof path, w->s->spool_dir, "old", NULL) == 0)
			remove_older(path, cutoff);
	}
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
sweep_run(const struct settings *s, const struct sweep_opts *o,
    struct sweep_stats *st, char *err, size_t errlen)
{
	struct sweep w = { s, o, st, time(NULL), 0 };
	int lock;

	memset(st, 0, sizeof *st);
	w.deadline = w.now + (time_t)s->max_time;
	if (prepare(s, err, errlen) < 0)
		return -1;
	if ((lock = claim_sweep_lock(s->spool_dir, err, errlen)) < 0)
		return lock == -2 ? 1 : -1;
	srand((unsigned)(w.now ^ getpid()));
	take_in(&w);
	download(&w);
	w.now = time(NULL);
	expire_old(&w);
	tidy(&w);
	close(lock);
	return 0;
}
