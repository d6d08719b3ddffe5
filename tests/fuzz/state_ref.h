/*
 * state_ref.h: the state reader as it was before task_parse()
 * (src/spooler/task.c), on yajl's tree, kept as the reference that the new
 * one must agree with: test_task.c compares the two on crafted and mutated
 * state files, fuzz_state.c on whatever the fuzzer makes.
 *
 * ref_task_parse(data, task_id, t): 0 with t filled (free with
 * task_free()), -1 when the old reader refused the text.  The files'
 * media are left at 0 (they come from the URL, by the same code either way).
 */
#ifndef VEO_STATE_REF_H
#define VEO_STATE_REF_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_tree.h>

#include "task.h"

static const char *const ref_hook_names[] = { "", "on_done", "on_failed" };
static const char *const ref_source_names[] = { "callback", "record-info" };
static const char *const ref_await_names[] = { "", "callback", "verify" };
static const char *const ref_upgrade_names[] = { "", "waiting", "requested", "done", "failed" };

static int
ref_name_index(const char *const *names, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s, names[i]) == 0)
			return (int)i;
	return 0;
}
#define REF_INDEX(names, s) ref_name_index(names, sizeof names / sizeof names[0], s)

static const char *
ref_get_str(yajl_val obj, const char *key)
{
	const char *path[] = { key, NULL };
	yajl_val v = yajl_tree_get(obj, path, yajl_t_string);

	return v ? YAJL_GET_STRING(v) : "";
}

static long long
ref_get_int(yajl_val obj, const char *key)
{
	const char *path[] = { key, NULL };
	yajl_val v = yajl_tree_get(obj, path, yajl_t_number);

	return v && YAJL_IS_INTEGER(v) ? YAJL_GET_INTEGER(v) : 0;
}

static int
ref_task_parse(const char *data, const char *task_id, struct task *t)
{
	static const char *const states[] = { "pending", "active", "done", "failed" };
	const char *fb[] = { "fallback", NULL }, *up[] = { "upgrade", NULL };
	const char *fp[] = { "files", NULL }, *dp[] = { "done", NULL };
	char perr[128];
	yajl_val root = yajl_tree_parse(data, perr, sizeof perr), u, arr;
	const char *state;
	int i;

	memset(t, 0, sizeof *t);
	if (root == NULL || !YAJL_IS_OBJECT(root))
		goto bad;
	snprintf(t->task_id, sizeof t->task_id, "%s", ref_get_str(root, "taskId"));
	state = ref_get_str(root, "state");
	for (i = 0; i < 4 && strcmp(state, states[i]) != 0; i++)
		;
	if (strcmp(t->task_id, task_id) != 0 || i == 4)
		goto bad;
	t->state = (enum task_state)i;
	t->code = ref_get_int(root, "code");
	t->msg = strdup(ref_get_str(root, "msg"));
	t->error = strdup(ref_get_str(root, "error"));
	t->advice = strdup(ref_get_str(root, "advice"));
	t->dir = strdup(ref_get_str(root, "dir"));
	t->attempts = (long)ref_get_int(root, "attempts");
	t->forbidden = (long)ref_get_int(root, "forbidden");
	t->next_attempt = ref_get_int(root, "nextAttempt");
	t->first_seen = ref_get_int(root, "firstSeen");
	t->updated = ref_get_int(root, "updated");
	t->duplicates = (unsigned long)ref_get_int(root, "duplicates");
	t->hook_owed = (enum task_hook)REF_INDEX(ref_hook_names, ref_get_str(root, "hookOwed"));
	t->source = (enum task_source)REF_INDEX(ref_source_names, ref_get_str(root, "source"));
	t->expected = ref_get_int(root, "expected");
	t->awaiting = (enum task_await)REF_INDEX(ref_await_names, ref_get_str(root, "awaiting"));
	t->next_ask = ref_get_int(root, "nextAsk");
	t->ask_failures = (long)ref_get_int(root, "askFailures");
	t->no_record = (long)ref_get_int(root, "noRecord");
	t->fallback = yajl_tree_get(root, fb, yajl_t_true) != NULL;
	snprintf(t->resolution, sizeof t->resolution, "%s", ref_get_str(root, "resolution"));
	u = yajl_tree_get(root, up, yajl_t_object);
	t->upgrade = (enum task_upgrade)REF_INDEX(ref_upgrade_names, u ? ref_get_str(u, "state") : "");
	snprintf(t->upgrade_kind, sizeof t->upgrade_kind, "%s", u ? ref_get_str(u, "kind") : "");
	t->upgrade_since = u ? ref_get_int(u, "since") : 0;
	t->upgrade_asked = u ? (long)ref_get_int(u, "asked") : 0;
	t->upgrade_error = strdup(u ? ref_get_str(u, "error") : "");
	snprintf(t->callback_sha256, sizeof t->callback_sha256, "%s",
	    ref_get_str(root, "callbackSha256"));
	arr = yajl_tree_get(root, fp, yajl_t_array);
	for (size_t k = 0; arr && k < arr->u.array.len && k < TASK_MAX_FILES; k++) {
		yajl_val o = arr->u.array.values[k];
		struct task_file *f = &t->files[t->nfiles++];

		snprintf(f->kind, sizeof f->kind, "%s", ref_get_str(o, "kind"));
		f->url = strdup(ref_get_str(o, "url"));
		f->path = strdup(ref_get_str(o, "path"));
		f->bytes = ref_get_int(o, "bytes");
		snprintf(f->sha256, sizeof f->sha256, "%s", ref_get_str(o, "sha256"));
		f->done = yajl_tree_get(o, dp, yajl_t_true) != NULL;
	}
	yajl_tree_free(root);
	return 0;
bad:
	yajl_tree_free(root);
	task_free(t);
	return -1;
}

#endif
