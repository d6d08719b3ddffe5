#include "admin.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "callback.h"
#include "claim.h"
#include "entry.h"
#include "fsutil.h"
#include "log.h"
#include "spool.h"
#include "statepack.h"
#include "task.h"


/* A callback still in new/, as the task it will become. */
static int
task_from_new(const struct settings *s, const char *task_id, struct task *t)
{
	char path[PATH_MAX], err[256];
	char *data = NULL;
	size_t len;
	const char *body;
	struct entry_meta m;
	struct callback cb;
	int rc = -1;

	memset(t, 0, sizeof *t);
	if (spool_path(path, sizeof path, s->spool_dir, "new", task_id) < 0 ||
	    read_file_bounded(path, ENTRY_MAX, &data, &len) < 0)
		return -1;
	if (entry_parse(data, len, &m, &body, err, sizeof err) == 0) {
		if (callback_parse((const unsigned char *)body, m.body_length, &cb, err, sizeof err) == 0)
			rc = task_init_from_callback(t, &cb, &m, s->download_dir,
			    s->download_origin, time(NULL));
		callback_free(&cb);
	}
	if (rc == 0)
		t->state = TASK_PENDING;	/* not judged until a sweep takes it in */
	free(data);
	return rc;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Task ids in state/ and new/, sorted, each once; free with spool_list_free(). */
static char **
all_tasks(const char *spool_dir, size_t *n)
{
	size_t ns, nn, k = 0;
	char **st = spool_list(spool_dir, "state", &ns);
	char **nw = spool_list(spool_dir, "new", &nn);
	char **v = realloc(st, (ns + nn + 1) * sizeof *v);

	*n = 0;
	if (v == NULL) {
		spool_list_free(st, ns);
		spool_list_free(nw, nn);
		return NULL;
	}
	if (nn > 0)
		memcpy(v + ns, nw, nn * sizeof *v);
	free(nw);
	if (nn > 0)
		qsort(v, ns + nn, sizeof *v, cmp_str);
	for (size_t i = 0; i < ns + nn; i++) {	/* drop repeats */
		if (k > 0 && strcmp(v[i], v[k - 1]) == 0)
			free(v[i]);
		else
			v[k++] = v[i];
	}
	*n = k;
	return v;
}

static void
print_row(const struct task *t, enum task_state shown)
{
	char err[61], when[32] = "";
	size_t done = 0;

	for (size_t i = 0; i < t->nfiles; i++)
		done += t->files[i].done;
	const char *why = t->error && t->error[0] ? t->error : task_waiting_for(t);

	log_escape(err, sizeof err, why, strlen(why));
	if (shown == TASK_PENDING && t->next_attempt > time(NULL))
		snprintf(when, sizeof when, "retry in %llds ", (long long)(t->next_attempt - time(NULL)));
	printf("%-36s %-8s %4lld %8ld %3zu/%-3zu %s%s\n", t->task_id, task_state_name(shown),
	    t->code, t->attempts, done, t->nfiles, when, err);
}

/* Prints t as shown (a table row, or a JSON line). */
static void
print_task(const struct task *t, enum task_state shown, bool json)
{
	if (json) {
		char *line = task_to_json(t, shown);

		if (line != NULL)
			printf("%s\n", line);
		free(line);
	} else {
		print_row(t, shown);
	}
}

/* status TASKID: its state file, else its callback waiting in new/. */
static int
show_task(const struct settings *s, const char *id, bool json)
{
	struct task t;
	char err[256];

	if (task_load(s->spool_dir, id, &t, err, sizeof err) < 0 && task_from_new(s, id, &t) < 0)
		return -1;
	print_task(&t, claim_held(s->spool_dir, id) ? TASK_ACTIVE : t.state, json);
	task_free(&t);
	return 0;
}

static int
cmp_key(const void *key, const void *elem)
{
	return strcmp(key, *(char *const *)elem);
}

/*
 * The state of id for status all: from the pack while state/<id> is the
 * file packed (one stat), else read from state/, else from new/.
 */
static int
load_for_status(const struct settings *s, struct statepack *pack, int state_fd,
    const char *id, struct task_buf *buf, struct task *t)
{
	char err[256];
	size_t len;
	const char *packed = state_fd >= 0 ? statepack_get(pack, state_fd, id, &len) : NULL;

	if (packed != NULL && task_parse(packed, len, id, t, err, sizeof err) == 0)
		return 0;
	if (state_fd >= 0 && task_load_at(state_fd, id, buf, t, err, sizeof err) == 0)
		return 0;
	return task_from_new(s, id, t);
}

/*
 * status: every task, in taskId order.  Finished tasks come from the pack
 * (statepack.h) while their state files are unchanged, the others from
 * their state files, read through one open state/ (task_load_at); claim/
 * is listed once instead of looked up per task.
 */
static int
show_all(const struct settings *s, bool json)
{
	size_t n, nclaims;
	char **ids = all_tasks(s->spool_dir, &n);
	char **claims = spool_list(s->spool_dir, "claim", &nclaims);
	struct statepack *pack = statepack_open(s->spool_dir);
	char path[PATH_MAX];
	struct task_buf buf = { NULL, 0 };
	int state_fd = -1;

	if (spool_path(path, sizeof path, s->spool_dir, "state", NULL) == 0)
		state_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (!json)
		printf("%-36s %-8s %4s %8s %7s %s\n", "TASK", "STATE", "CODE", "ATTEMPTS", "FILES", "ERROR");
	for (size_t i = 0; i < n; i++) {
		struct task t;
		bool claimed;

		if (load_for_status(s, pack, state_fd, ids[i], &buf, &t) < 0) {
			free(ids[i]);
			continue;
		}
		claimed = nclaims > 0 && bsearch(ids[i], claims, nclaims, sizeof *claims, cmp_key) &&
		    claim_held(s->spool_dir, ids[i]);
		print_task(&t, claimed ? TASK_ACTIVE : t.state, json);
		task_free(&t);
		free(ids[i]);
	}
	if (state_fd >= 0)
		close(state_fd);
	free(buf.data);
	free(ids);
	spool_list_free(claims, nclaims);
	statepack_close(pack);
	return 0;
}

int
admin_status(const struct settings *s, bool json, const char *task_id)
{
	if (task_id != NULL) {
		if (!taskid_valid(task_id, strlen(task_id)) || show_task(s, task_id, json) < 0) {
			log_line("status: no task '%.128s' in %s", task_id, s->spool_dir);
			return 1;
		}
		return 0;
	}
	if (access(s->spool_dir, R_OK | X_OK) < 0) {
		log_errno("status: spool_dir %s", s->spool_dir);
		return 1;
	}
	return show_all(s, json);
}

int
admin_retry(const struct settings *s, const char *task_id)
{
	struct task t;
	char err[256];
	int rc = 1;

	if (!taskid_valid(task_id, strlen(task_id))) {
		log_line("retry: '%.128s' is not a valid task id", task_id);
		return 2;
	}
	if (claim_task(s->spool_dir, task_id, err, sizeof err) != CLAIM_OK) {
		log_line("retry: task %s is being processed by a sweep; try again shortly", task_id);
		return 1;
	}
	if (task_load(s->spool_dir, task_id, &t, err, sizeof err) < 0) {
		log_line("retry: no state for task %s (%s)", task_id,
		    errno == ENOENT ? "not taken in by a sweep yet" : err);
		goto out;
	}
	if (t.code != 200) {
		log_line("retry: task %s failed at the provider (code %lld): there is nothing to "
		    "download; %s", task_id, t.code, t.advice);
	} else if (t.state == TASK_DONE) {
		log_line("retry: task %s is already done", task_id);
	} else {
		t.state = TASK_PENDING;
		t.attempts = t.forbidden = 0;
		t.next_attempt = t.updated = time(NULL);
		task_set(&t.error, "%s", "");
		task_set(&t.advice, "%s", "");
		if (task_save(s->spool_dir, &t, s->sync, err, sizeof err) < 0)
			log_line("retry: %s", err);
		else
			rc = 0;
	}
	task_free(&t);
out:
	claim_release(s->spool_dir, task_id);
	return rc;
}

/* Removes the files a task downloaded (and their partial pieces), then its directory. */
static void
remove_downloads(const struct task *t)
{
	static const char *suffixes[] = { "", ".part", ".part.info" };
	char path[PATH_MAX];

	for (size_t i = 0; i < t->nfiles; i++)
		for (size_t k = 0; k < 3; k++)
			if (snprintf(path, sizeof path, "%s%s", t->files[i].path, suffixes[k]) <
			    (int)sizeof path)
				unlink(path);
	if (t->dir != NULL && *t->dir)
		rmdir(t->dir);	/* only when empty: we never remove what we did not write */
}

static bool
purgeable(const struct task *t, time_t cutoff)
{
	return (t->state == TASK_DONE || t->state == TASK_FAILED) && t->updated < cutoff;
}

int
admin_purge(const struct settings *s, long days, bool files)
{
	size_t n;
	char **ids = all_tasks(s->spool_dir, &n);
	time_t cutoff = time(NULL) - (time_t)days * 86400;
	char err[256], path[PATH_MAX];
	int removed = 0;

	for (size_t i = 0; i < n; i++) {
		struct task t;

		if (task_load(s->spool_dir, ids[i], &t, err, sizeof err) == 0 &&
		    purgeable(&t, cutoff) &&
		    claim_task(s->spool_dir, ids[i], err, sizeof err) == CLAIM_OK) {
			/* Judged again under the claim: a sweep may have taken in a
			 * new callback for it since the first look. */
			task_free(&t);
			if (task_load(s->spool_dir, ids[i], &t, err, sizeof err) == 0 &&
			    purgeable(&t, cutoff)) {
				if (files)
					remove_downloads(&t);
				spool_path(path, sizeof path, s->spool_dir, "state", ids[i]);
				unlink(path);
				spool_path(path, sizeof path, s->spool_dir, "cur", ids[i]);
				unlink(path);
				removed++;
			}
			claim_release(s->spool_dir, ids[i]);
		}
		task_free(&t);
		free(ids[i]);
	}
	free(ids);
	if (isatty(STDOUT_FILENO))
		printf("purged %d task%s\n", removed, removed == 1 ? "" : "s");
	return 0;
}

int
admin_expect(const struct settings *s, char **task_ids, int n)
{
	char err[256], esc[300];
	int rc = 0;

	if (spool_prepare(s->spool_dir, true, err, sizeof err) < 0) {
		log_line("expect: %s", err);
		return 1;
	}
	for (int i = 0; i < n; i++) {
		if (spool_expect(s->spool_dir, task_ids[i], err, sizeof err) < 0) {
			log_escape(esc, sizeof esc, task_ids[i], strlen(task_ids[i]));
			log_line("expect: '%s': %s", esc, err);
			rc = 2;
		}
	}
	return rc;
}
