#include "task.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "advice.h"
#include "fsutil.h"
#include "spool.h"

/*
 * The largest state file task_load() reads, and so the largest task_save()
 * writes: a state record holds the callback's msg and URLs (each once, and
 * never longer than in the body, which is at most ENTRY_MAX), plus our own
 * paths and messages.  At 1 MiB a callback over about 2 MiB (max_body goes
 * up to 16M) was stored, taken in, and then never readable again.
 */
#define STATE_MAX (2 * ENTRY_MAX)

const char *
task_state_name(enum task_state s)
{
	static const char *names[] = { "pending", "active", "done", "failed" };
	return names[s];
}

static int
state_from_name(const char *s, enum task_state *out)
{
	for (int i = 0; i <= TASK_FAILED; i++)
		if (s != NULL && strcmp(s, task_state_name(i)) == 0)
			return *out = i, 0;
	return -1;
}

void
task_set(char **dst, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	free(*dst);
	*dst = s;
}

void
task_free(struct task *t)
{
	for (size_t i = 0; i < t->nfiles; i++) {
		free(t->files[i].url);
		free(t->files[i].path);
	}
	free(t->msg);
	free(t->error);
	free(t->advice);
	free(t->dir);
	free(t->upgrade_error);
	memset(t, 0, sizeof *t);
}

long long
task_backoff(long attempts, unsigned random)
{
	long long base = 60, cap = 6 * 3600;

	for (long i = 1; i < attempts && base < cap; i++)
		base *= 2;
	if (base > cap)
		base = cap;
	/* +-25 %, so that many tasks failing together do not retry together. */
	return base * 3 / 4 + (long long)(random % (unsigned)(base / 2 + 1));
}

/* The file name suffix of a URL's path, when it is a known media type. */
static const char *
media_suffix(const char *url, enum media_kind *media)
{
	static const struct { const char *ext; enum media_kind kind; } known[] = {
		{ "mp4", MEDIA_VIDEO }, { "mov", MEDIA_VIDEO }, { "webm", MEDIA_VIDEO },
		{ "m4v", MEDIA_VIDEO }, { "jpg", MEDIA_IMAGE }, { "jpeg", MEDIA_IMAGE },
		{ "png", MEDIA_IMAGE }, { "webp", MEDIA_IMAGE }, { "gif", MEDIA_IMAGE },
	};
	const char *found = "mp4";
	CURLU *u = curl_url();
	char *path = NULL;

	*media = MEDIA_VIDEO;
	if (u != NULL && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_PATH, &path, 0) == CURLUE_OK) {
		const char *dot = strrchr(path, '.');

		for (size_t i = 0; dot && i < sizeof known / sizeof known[0]; i++)
			if (strcasecmp(dot + 1, known[i].ext) == 0) {
				found = known[i].ext;
				*media = known[i].kind;
			}
	}
	curl_free(path);
	curl_url_cleanup(u);
	return found;
}

int
task_add_files(struct task *t, const char *kind, char *const *urls, size_t n)
{
	char *seen[TASK_MAX_FILES];
	size_t first = task_urls(t, kind, seen, TASK_MAX_FILES);

	for (size_t i = first; i < first + n && t->nfiles < TASK_MAX_FILES; i++) {
		struct task_file *f = &t->files[t->nfiles];
		const char *ext;

		memset(f, 0, sizeof *f);
		ext = media_suffix(urls[i - first], &f->media);
		snprintf(f->kind, sizeof f->kind, "%s", kind);
		f->url = strdup(urls[i - first]);
		/* Names are ours, never the URL's: kind, index, known suffix. */
		if (asprintf(&f->path, "%s/%s-%zu.%s", t->dir, kind, i, ext) < 0)
			f->path = NULL;
		if (f->url == NULL || f->path == NULL) {
			free(f->url);
			free(f->path);
			return -1;
		}
		t->nfiles++;
	}
	return 0;
}

void
task_drop_files(struct task *t, const char *kind)
{
	size_t k = 0;

	for (size_t i = 0; i < t->nfiles; i++) {
		if (strcmp(t->files[i].kind, kind) == 0) {
			free(t->files[i].url);
			free(t->files[i].path);
			continue;
		}
		t->files[k++] = t->files[i];
	}
	t->nfiles = k;
}

size_t
task_urls(const struct task *t, const char *kind, char **urls, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < t->nfiles && n < max; i++)
		if (strcmp(t->files[i].kind, kind) == 0)
			urls[n++] = t->files[i].url;
	return n;
}

int
task_init_from_callback(struct task *t, const struct callback *cb,
    const struct entry_meta *m, const char *download_dir, bool download_origin,
    time_t now)
{
	long long first = t->first_seen ? t->first_seen : now;
	unsigned long dups = t->duplicates;

	task_free(t);
	snprintf(t->task_id, sizeof t->task_id, "%s", cb->task_id);
	memcpy(t->callback_sha256, m->body_sha256, sizeof t->callback_sha256);
	t->first_seen = first;
	t->duplicates = dups + m->duplicates;
	t->updated = t->next_attempt = now;
	t->code = cb->code;
	task_set(&t->msg, "%s", cb->msg ? cb->msg : "");
	task_set(&t->error, "%s", "");
	task_set(&t->dir, "%s/%s", download_dir, cb->task_id);
	task_set(&t->upgrade_error, "%s", "");
	t->fallback = cb->fallback_flag == 1;
	snprintf(t->resolution, sizeof t->resolution, "%s", cb->resolution ? cb->resolution : "");
	if (cb->code != 200) {
		t->state = TASK_FAILED;
		task_set(&t->error, "the provider reported code %lld", cb->code);
		task_set(&t->advice, "%s", advice_for_code(cb->code, cb->msg));
	} else {
		t->state = TASK_PENDING;
		task_set(&t->advice, "%s", "");
		if (task_add_files(t, "result", cb->result_urls.v, cb->result_urls.n) < 0 ||
		    (download_origin && task_add_files(t, "origin", cb->origin_urls.v,
		    cb->origin_urls.n) < 0))
			return -1;
	}
	return t->msg && t->error && t->advice && t->dir && t->upgrade_error ? 0 : -1;
}

int
task_from_entry(struct task *t, const struct spool_entry *e, const char *download_dir,
    bool download_origin, time_t now, char *err, size_t errlen)
{
	struct callback cb;
	int rc = -1;

	if (callback_parse((const unsigned char *)e->body, e->meta.body_length, &cb, err,
	    errlen) == 0) {
		rc = task_init_from_callback(t, &cb, &e->meta, download_dir, download_origin, now);
		if (rc < 0)
			snprintf(err, errlen, "out of memory");
	}
	callback_free(&cb);
	return rc;
}

/* Moves state/<task_id> to bad/<task_id>.state.<unique>; the name goes to kept. */
static int
keep_damaged(const char *spool_dir, const char *task_id, char *kept, size_t keptlen)
{
	char from[PATH_MAX], to[PATH_MAX], uniq[128];

	unique_name(uniq, sizeof uniq);
	snprintf(kept, keptlen, "bad/%s.state.%s", task_id, uniq);
	if (spool_path(from, sizeof from, spool_dir, "state", task_id) < 0 ||
	    snprintf(to, sizeof to, "%s/%s", spool_dir, kept) >= (int)sizeof to)
		return -1;
	return rename(from, to);
}

int
task_recover(const char *spool_dir, const char *task_id, const char *why,
    const char *download_dir, bool download_origin, time_t now, struct task *t,
    char *report, size_t reportlen)
{
	static const char *const sources[] = { "cur", "taking" };
	char kept[TASKID_MAX + 160], err[256];
	struct spool_entry e;
	int rc = -1;

	memset(t, 0, sizeof *t);
	if (keep_damaged(spool_dir, task_id, kept, sizeof kept) < 0) {
		snprintf(report, reportlen, "state file damaged (%s) and could not be moved "
		    "aside: %s", why, strerror(errno));
		return -1;
	}
	for (size_t i = 0; rc < 0 && i < sizeof sources / sizeof sources[0]; i++) {
		if (spool_read(spool_dir, sources[i], task_id, &e, err, sizeof err) == SPOOL_READ_OK)
			rc = task_from_entry(t, &e, download_dir, download_origin, now, err,
			    sizeof err);
		spool_entry_free(&e);
	}
	if (rc == 0)
		snprintf(report, reportlen, "state file damaged (%s): kept as %s, task rebuilt "
		    "from its stored callback", why, kept);
	else
		snprintf(report, reportlen, "state file damaged (%s): kept as %s; no stored "
		    "callback to rebuild the task from", why, kept);
	return rc;
}

/* ---- JSON out ---- */

static const char *const hook_names[] = {
	[HOOK_NONE] = "", [HOOK_ON_DONE] = "on_done", [HOOK_ON_FAILED] = "on_failed",
};
static const char *const source_names[] = {
	[SOURCE_CALLBACK] = "callback", [SOURCE_RECORD_INFO] = "record-info",
};
static const char *const await_names[] = {
	[AWAIT_NONE] = "", [AWAIT_CALLBACK] = "callback", [AWAIT_VERIFY] = "verify",
};
static const char *const upgrade_names[] = {
	[UPGRADE_STATE_NONE] = "", [UPGRADE_WAITING] = "waiting",
	[UPGRADE_REQUESTED] = "requested", [UPGRADE_DONE] = "done",
	[UPGRADE_FAILED] = "failed",
};

/* The index of s in names (n of them), or 0 (every table's default). */
static int
name_index(const char *const *names, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s, names[i]) == 0)
			return (int)i;
	return 0;
}
#define NAME_INDEX(names, s) name_index(names, sizeof names / sizeof names[0], s)

static void
gen_str(yajl_gen g, const char *key, const char *val)
{
	yajl_gen_string(g, (const unsigned char *)key, strlen(key));
	val = val ? val : "";
	/* Invalid UTF-8 cannot reach here (the parser checked it); "" if it did. */
	if (yajl_gen_string(g, (const unsigned char *)val, strlen(val)) != yajl_gen_status_ok)
		yajl_gen_string(g, (const unsigned char *)"", 0);
}

static void
gen_int(yajl_gen g, const char *key, long long val)
{
	yajl_gen_string(g, (const unsigned char *)key, strlen(key));
	yajl_gen_integer(g, val);
}

static void
gen_files(yajl_gen g, const struct task *t)
{
	yajl_gen_string(g, (const unsigned char *)"files", 5);
	yajl_gen_array_open(g);
	for (size_t i = 0; i < t->nfiles; i++) {
		const struct task_file *f = &t->files[i];

		yajl_gen_map_open(g);
		gen_str(g, "kind", f->kind);
		gen_str(g, "url", f->url);
		gen_str(g, "path", f->path);
		gen_int(g, "bytes", f->bytes);
		gen_str(g, "sha256", f->sha256);
		yajl_gen_string(g, (const unsigned char *)"done", 4);
		yajl_gen_bool(g, f->done);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
}

const char *
task_waiting_for(const struct task *t)
{
	if (t->state != TASK_PENDING)
		return "";
	switch (t->awaiting) {
	case AWAIT_CALLBACK:
		return "waiting for the callback";
	case AWAIT_VERIFY:
		return "waiting for record-info to confirm the callback";
	case AWAIT_NONE:
		break;
	}
	return "";
}

static void
gen_upgrade(yajl_gen g, const struct task *t)
{
	yajl_gen_string(g, (const unsigned char *)"upgrade", 7);
	yajl_gen_map_open(g);
	gen_str(g, "kind", t->upgrade_kind);
	gen_str(g, "state", upgrade_names[t->upgrade]);
	gen_int(g, "since", t->upgrade_since);
	gen_int(g, "asked", t->upgrade_asked);
	gen_str(g, "error", t->upgrade_error);
	yajl_gen_map_close(g);
}

char *
task_to_json(const struct task *t, enum task_state shown)
{
	yajl_gen g = yajl_gen_alloc(NULL);
	const unsigned char *buf;
	size_t len;
	char *out = NULL;

	if (g == NULL)
		return NULL;
	yajl_gen_config(g, yajl_gen_validate_utf8, 1);
	yajl_gen_map_open(g);
	gen_str(g, "taskId", t->task_id);
	gen_str(g, "state", task_state_name(shown));
	gen_int(g, "code", t->code);
	gen_str(g, "msg", t->msg);
	gen_int(g, "attempts", t->attempts);
	gen_str(g, "error", t->error);
	gen_str(g, "advice", t->advice);
	gen_int(g, "nextAttempt", t->next_attempt);
	gen_int(g, "firstSeen", t->first_seen);
	gen_int(g, "updated", t->updated);
	gen_int(g, "duplicates", (long long)t->duplicates);
	gen_int(g, "forbidden", t->forbidden);
	gen_str(g, "hookOwed", hook_names[t->hook_owed]);
	gen_str(g, "source", source_names[t->source]);
	gen_int(g, "expected", t->expected);
	gen_str(g, "awaiting", await_names[t->awaiting]);
	gen_str(g, "reason", task_waiting_for(t));
	gen_int(g, "nextAsk", t->next_ask);
	gen_int(g, "askFailures", t->ask_failures);
	gen_int(g, "noRecord", t->no_record);
	yajl_gen_string(g, (const unsigned char *)"fallback", 8);
	yajl_gen_bool(g, t->fallback);
	gen_str(g, "resolution", t->resolution);
	gen_upgrade(g, t);
	gen_str(g, "callbackSha256", t->callback_sha256);
	gen_str(g, "dir", t->dir);
	gen_files(g, t);
	yajl_gen_map_close(g);
	if (yajl_gen_get_buf(g, &buf, &len) == yajl_gen_status_ok)
		out = strndup((const char *)buf, len);
	yajl_gen_free(g);
	return out;
}

/* ---- JSON in ---- */

static const char *
get_str(yajl_val obj, const char *key)
{
	const char *path[] = { key, NULL };
	yajl_val v = yajl_tree_get(obj, path, yajl_t_string);

	return v ? YAJL_GET_STRING(v) : "";
}

static long long
get_int(yajl_val obj, const char *key)
{
	const char *path[] = { key, NULL };
	yajl_val v = yajl_tree_get(obj, path, yajl_t_number);

	return v && YAJL_IS_INTEGER(v) ? YAJL_GET_INTEGER(v) : 0;
}

static int
load_files(struct task *t, yajl_val root)
{
	const char *path[] = { "files", NULL };
	yajl_val arr = yajl_tree_get(root, path, yajl_t_array);

	for (size_t i = 0; arr && i < arr->u.array.len && i < TASK_MAX_FILES; i++) {
		yajl_val o = arr->u.array.values[i];
		struct task_file *f = &t->files[t->nfiles];
		const char *dpath[] = { "done", NULL };

		snprintf(f->kind, sizeof f->kind, "%s", get_str(o, "kind"));
		f->url = strdup(get_str(o, "url"));
		f->path = strdup(get_str(o, "path"));
		media_suffix(f->url ? f->url : "", &f->media);
		f->bytes = get_int(o, "bytes");
		snprintf(f->sha256, sizeof f->sha256, "%s", get_str(o, "sha256"));
		f->done = yajl_tree_get(o, dpath, yajl_t_true) != NULL;
		t->nfiles++;
		if (f->url == NULL || f->path == NULL)
			return -1;
	}
	return 0;
}

/* The fields about the provider's API; all optional (older state files). */
static void
load_provider_fields(struct task *t, yajl_val root)
{
	const char *fb[] = { "fallback", NULL }, *up[] = { "upgrade", NULL };
	yajl_val u = yajl_tree_get(root, up, yajl_t_object);

	t->source = (enum task_source)NAME_INDEX(source_names, get_str(root, "source"));
	t->expected = get_int(root, "expected");
	t->awaiting = (enum task_await)NAME_INDEX(await_names, get_str(root, "awaiting"));
	t->next_ask = get_int(root, "nextAsk");
	t->ask_failures = (long)get_int(root, "askFailures");
	t->no_record = (long)get_int(root, "noRecord");
	t->fallback = yajl_tree_get(root, fb, yajl_t_true) != NULL;
	snprintf(t->resolution, sizeof t->resolution, "%s", get_str(root, "resolution"));
	t->upgrade = (enum task_upgrade)NAME_INDEX(upgrade_names, u ? get_str(u, "state") : "");
	snprintf(t->upgrade_kind, sizeof t->upgrade_kind, "%s", u ? get_str(u, "kind") : "");
	t->upgrade_since = u ? get_int(u, "since") : 0;
	t->upgrade_asked = u ? (long)get_int(u, "asked") : 0;
	t->upgrade_error = strdup(u ? get_str(u, "error") : "");
}

int
task_load(const char *spool_dir, const char *task_id, struct task *t,
    char *err, size_t errlen)
{
	char path[PATH_MAX], perr[128];
	char *data = NULL;
	size_t len;
	yajl_val root;
	int rc = -1;

	memset(t, 0, sizeof *t);
	if (spool_path(path, sizeof path, spool_dir, "state", task_id) < 0) {
		snprintf(err, errlen, "path too long");
		return -1;
	}
	if (read_file_bounded(path, STATE_MAX, &data, &len) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if ((root = yajl_tree_parse(data, perr, sizeof perr)) == NULL || !YAJL_IS_OBJECT(root)) {
		snprintf(err, errlen, "%s: damaged state file", path);
		errno = EINVAL;
		goto out;
	}
	snprintf(t->task_id, sizeof t->task_id, "%s", get_str(root, "taskId"));
	if (strcmp(t->task_id, task_id) != 0 ||
	    state_from_name(get_str(root, "state"), &t->state) < 0) {
		snprintf(err, errlen, "%s: damaged state file", path);
		errno = EINVAL;
		goto out;
	}
	t->code = get_int(root, "code");
	t->msg = strdup(get_str(root, "msg"));
	t->error = strdup(get_str(root, "error"));
	t->advice = strdup(get_str(root, "advice"));
	t->dir = strdup(get_str(root, "dir"));
	t->attempts = (long)get_int(root, "attempts");
	t->forbidden = (long)get_int(root, "forbidden");
	t->next_attempt = get_int(root, "nextAttempt");
	t->first_seen = get_int(root, "firstSeen");
	t->updated = get_int(root, "updated");
	t->duplicates = (unsigned long)get_int(root, "duplicates");
	t->hook_owed = (enum task_hook)NAME_INDEX(hook_names, get_str(root, "hookOwed"));
	load_provider_fields(t, root);
	snprintf(t->callback_sha256, sizeof t->callback_sha256, "%s", get_str(root, "callbackSha256"));
	if (load_files(t, root) < 0 || !t->msg || !t->error || !t->advice || !t->dir ||
	    !t->upgrade_error) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	rc = 0;
out:
	yajl_tree_free(root);
	free(data);
	if (rc < 0)
		task_free(t);
	return rc;
}

bool
task_wanted(const struct task *t)
{
	return t->state == TASK_PENDING || t->state == TASK_ACTIVE || t->hook_owed != HOOK_NONE ||
	    t->upgrade == UPGRADE_WAITING || t->upgrade == UPGRADE_REQUESTED;
}

int
task_mark(const char *spool_dir, const char *task_id, bool sync)
{
	char path[PATH_MAX], dir[PATH_MAX];
	int fd;

	if (spool_path(path, sizeof path, spool_dir, "pending", task_id) < 0 ||
	    spool_path(dir, sizeof dir, spool_dir, "pending", NULL) < 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (access(path, F_OK) == 0)
		return 0;
	if ((fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0660)) < 0)
		return -1;
	close(fd);
	return sync ? fsync_dir(dir) : 0;
}

void
task_unmark(const char *spool_dir, const char *task_id)
{
	char path[PATH_MAX];

	if (spool_path(path, sizeof path, spool_dir, "pending", task_id) == 0)
		unlink(path);
}

int
task_save(const char *spool_dir, const struct task *t, bool sync, char *err, size_t errlen)
{
	char tmp[PATH_MAX], dest[PATH_MAX], dir[PATH_MAX], name[128];
	char *json = task_to_json(t, t->state == TASK_ACTIVE ? TASK_PENDING : t->state);
	int fd = -1, rc = -1;

	unique_name(name, sizeof name);
	/* Never write what task_load() would refuse to read back. */
	if (json != NULL && strlen(json) + 1 > STATE_MAX) {
		snprintf(err, errlen, "state of %s would exceed %d bytes", t->task_id, STATE_MAX);
		goto out;
	}
	if (json == NULL || spool_path(tmp, sizeof tmp, spool_dir, "tmp", name) < 0 ||
	    spool_path(dest, sizeof dest, spool_dir, "state", t->task_id) < 0 ||
	    spool_path(dir, sizeof dir, spool_dir, "state", NULL) < 0) {
		snprintf(err, errlen, "cannot format state of %s", t->task_id);
		goto out;
	}
	if (task_wanted(t) && task_mark(spool_dir, t->task_id, sync) < 0) {
		snprintf(err, errlen, "pending/%s: %s", t->task_id, strerror(errno));
		goto out;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0660);
	if (fd < 0 || write_all(fd, json, strlen(json)) < 0 || write_all(fd, "\n", 1) < 0 ||
	    (sync && fsync(fd) < 0) || close(fd) < 0) {
		snprintf(err, errlen, "write %s: %s", tmp, strerror(errno));
		if (fd >= 0)
			close(fd);
		unlink(tmp);
		goto out;
	}
	if (rename(tmp, dest) < 0 || (sync && fsync_dir(dir) < 0)) {
		snprintf(err, errlen, "rename %s: %s", dest, strerror(errno));
		unlink(tmp);
		goto out;
	}
	if (!task_wanted(t))
		task_unmark(spool_dir, t->task_id);
	rc = 0;
out:
	free(json);
	return rc;
}
