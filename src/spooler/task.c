#include "task.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_parse.h>

#include "advice.h"
#include "fsutil.h"
#include "spool.h"

#define STATE_MAX TASK_STATE_MAX

static const char *const state_names[] = {
	[TASK_PENDING] = "pending", [TASK_ACTIVE] = "active", [TASK_DONE] = "done",
	[TASK_FAILED] = "failed",
};

const char *
task_state_name(enum task_state s)
{
	return state_names[s];
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

/*
 * A state file is read in one pass of yajl's event parser, straight into
 * struct task: no tree, no lookups, no allocation but the task's own
 * strings (status reads every state file; a sweep every pending one).
 *
 * It accepts what the tree reader before it accepted (that reader is kept
 * as tests/fuzz/state_ref.h; test_task and fuzz_state compare the two):
 * the top level must be an object; the first occurrence of a key counts
 * and later ones are skipped; a value of another type than its field's
 * reads as "", 0 or false, and a number counts only as an integer in
 * range (no fraction, no exponent); unknown keys are skipped with
 * whatever they hold; comments are allowed; a string ends at a NUL it
 * holds; and the text ends at its first NUL byte.
 */

enum top_key {
	K_TASK_ID, K_STATE, K_CODE, K_MSG, K_ATTEMPTS, K_ERROR, K_ADVICE, K_NEXT_ATTEMPT,
	K_FIRST_SEEN, K_UPDATED, K_DUPLICATES, K_FORBIDDEN, K_HOOK_OWED, K_SOURCE,
	K_EXPECTED, K_AWAITING, K_NEXT_ASK, K_ASK_FAILURES, K_NO_RECORD, K_FALLBACK,
	K_RESOLUTION, K_UPGRADE, K_CALLBACK_SHA256, K_DIR, K_FILES, K_TOP_KEYS
};
static const char *const top_keys[K_TOP_KEYS] = {
	"taskId", "state", "code", "msg", "attempts", "error", "advice", "nextAttempt",
	"firstSeen", "updated", "duplicates", "forbidden", "hookOwed", "source",
	"expected", "awaiting", "nextAsk", "askFailures", "noRecord", "fallback",
	"resolution", "upgrade", "callbackSha256", "dir", "files",
};

enum upgrade_key { U_KIND, U_STATE, U_SINCE, U_ASKED, U_ERROR, K_UPGRADE_KEYS };
static const char *const upgrade_keys[K_UPGRADE_KEYS] = {
	"kind", "state", "since", "asked", "error",
};

enum file_key { F_KIND, F_URL, F_PATH, F_BYTES, F_SHA256, F_DONE, K_FILE_KEYS };
static const char *const file_keys[K_FILE_KEYS] = {
	"kind", "url", "path", "bytes", "sha256", "done",
};

/* Where in the state file the parser is. */
enum level {
	L_START,	/* before the top-level value */
	L_TOP,		/* in the top-level object */
	L_UPGRADE,	/* in its "upgrade" object */
	L_FILES,	/* in its "files" array */
	L_FILE,		/* in one object of that array */
	L_END,		/* after the top-level object */
};

struct reader {
	struct task *t;
	enum level level;
	int key;		/* the key whose value comes next; -1: skip that value */
	uint64_t top_seen;	/* keys of the top-level object read so far */
	uint64_t sub_seen;	/* keys of the upgrade or file object read so far */
	size_t skip;		/* > 0: how deep inside a skipped value */
	struct task_file *file;	/* the file whose object is being read */
	bool state_ok;		/* "state" named a state */
	bool not_object;	/* the top-level value is not an object */
	bool nomem;
};

/* The index of key (len bytes, up to a NUL) among n keys; -1 when none. */
static int
key_index(const char *const *keys, int n, const unsigned char *key, size_t len)
{
	len = strnlen((const char *)key, len);
	for (int i = 0; i < n; i++)
		if (strlen(keys[i]) == len && memcmp(keys[i], key, len) == 0)
			return i;
	return -1;
}

/* An integer as yajl's tree reader took it: digits, an optional '-', in range. */
static bool
json_integer(const char *s, size_t len, long long *out)
{
	unsigned long long v = 0, lim = LLONG_MAX;
	size_t i = 0;
	bool neg = len > 0 && s[0] == '-';

	if (neg)
		i++;
	if (i == len)
		return false;
	for (; i < len; i++) {
		unsigned d = (unsigned)(s[i] - '0');

		if (d > 9 || v > (lim - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = neg ? -(long long)v : (long long)v;
	return true;
}

/* A new file, every field at its default, for an element of "files". */
static void
add_file(struct reader *r)
{
	struct task *t = r->t;
	struct task_file *f;

	r->file = NULL;
	if (t->nfiles >= TASK_MAX_FILES)
		return;
	f = &t->files[t->nfiles++];
	memset(f, 0, sizeof *f);	/* url and path: "" unless given (finish_task) */
	r->file = f;
}

/* Replaces the owned string *dst by a copy of s (len bytes, up to a NUL). */
static void
take_owned(struct reader *r, char **dst, const unsigned char *s, size_t len)
{
	free(*dst);
	if ((*dst = strndup((const char *)s, len)) == NULL)
		r->nomem = true;
}

static void
take_fixed(char *dst, size_t size, const unsigned char *s, size_t len)
{
	snprintf(dst, size, "%.*s", (int)(len < INT_MAX ? len : INT_MAX), (const char *)s);
}

/* The index of s (len bytes, up to a NUL) among n names, or 0 (every table's default). */
static int
name_index_n(const char *const *names, size_t n, const unsigned char *s, size_t len)
{
	int i = key_index(names, (int)n, s, len);

	return i < 0 ? 0 : i;
}

/*
 * Whether the scalar now read is the value of a field (r->key), and not
 * skipped: inside a skipped value, an element of "files" (a file with
 * defaults), or the whole document (not an object).
 */
static bool
scalar_wanted(struct reader *r)
{
	if (r->skip > 0)
		return false;
	switch (r->level) {
	case L_START:
		r->not_object = true;
		return false;
	case L_FILES:
		add_file(r);
		return false;
	case L_TOP:
	case L_UPGRADE:
		return r->key >= 0;
	case L_FILE:
		return r->key >= 0 && r->file != NULL;
	case L_END:
		break;
	}
	return false;
}

static int
on_string(void *ctx, const unsigned char *s, size_t len)
{
	struct reader *r = ctx;
	struct task *t = r->t;

	if (!scalar_wanted(r))
		return !r->not_object && !r->nomem;
	if (r->level == L_UPGRADE) {
		switch (r->key) {
		case U_KIND: take_fixed(t->upgrade_kind, sizeof t->upgrade_kind, s, len); break;
		case U_STATE:
			t->upgrade = (enum task_upgrade)name_index_n(upgrade_names, UPGRADE_FAILED + 1,
			    s, len);
			break;
		case U_ERROR: take_owned(r, &t->upgrade_error, s, len); break;
		}
	} else if (r->level == L_FILE) {
		switch (r->key) {
		case F_KIND: take_fixed(r->file->kind, sizeof r->file->kind, s, len); break;
		case F_URL: take_owned(r, &r->file->url, s, len); break;
		case F_PATH: take_owned(r, &r->file->path, s, len); break;
		case F_SHA256: take_fixed(r->file->sha256, sizeof r->file->sha256, s, len); break;
		}
	} else {
		switch (r->key) {
		case K_TASK_ID: take_fixed(t->task_id, sizeof t->task_id, s, len); break;
		case K_STATE: {
			int i = key_index(state_names, TASK_FAILED + 1, s, len);

			r->state_ok = i >= 0;
			t->state = i >= 0 ? (enum task_state)i : TASK_PENDING;
			break;
		}
		case K_MSG: take_owned(r, &t->msg, s, len); break;
		case K_ERROR: take_owned(r, &t->error, s, len); break;
		case K_ADVICE: take_owned(r, &t->advice, s, len); break;
		case K_DIR: take_owned(r, &t->dir, s, len); break;
		case K_HOOK_OWED:
			t->hook_owed = (enum task_hook)name_index_n(hook_names, HOOK_ON_FAILED + 1, s, len);
			break;
		case K_SOURCE:
			t->source = (enum task_source)name_index_n(source_names, SOURCE_RECORD_INFO + 1,
			    s, len);
			break;
		case K_AWAITING:
			t->awaiting = (enum task_await)name_index_n(await_names, AWAIT_VERIFY + 1, s, len);
			break;
		case K_RESOLUTION: take_fixed(t->resolution, sizeof t->resolution, s, len); break;
		case K_CALLBACK_SHA256:
			take_fixed(t->callback_sha256, sizeof t->callback_sha256, s, len);
			break;
		}
	}
	return !r->nomem;
}

static int
on_number(void *ctx, const char *s, size_t len)
{
	struct reader *r = ctx;
	struct task *t = r->t;
	long long v = 0;

	if (!scalar_wanted(r))
		return !r->not_object && !r->nomem;
	if (!json_integer(s, len, &v))
		return 1;	/* not an integer: the field stays 0 */
	if (r->level == L_UPGRADE) {
		if (r->key == U_SINCE)
			t->upgrade_since = v;
		else if (r->key == U_ASKED)
			t->upgrade_asked = (long)v;
	} else if (r->level == L_FILE) {
		if (r->key == F_BYTES)
			r->file->bytes = v;
	} else {
		switch (r->key) {
		case K_CODE: t->code = v; break;
		case K_ATTEMPTS: t->attempts = (long)v; break;
		case K_FORBIDDEN: t->forbidden = (long)v; break;
		case K_NEXT_ATTEMPT: t->next_attempt = v; break;
		case K_FIRST_SEEN: t->first_seen = v; break;
		case K_UPDATED: t->updated = v; break;
		case K_DUPLICATES: t->duplicates = (unsigned long)v; break;
		case K_EXPECTED: t->expected = v; break;
		case K_NEXT_ASK: t->next_ask = v; break;
		case K_ASK_FAILURES: t->ask_failures = (long)v; break;
		case K_NO_RECORD: t->no_record = (long)v; break;
		}
	}
	return 1;
}

static int
on_boolean(void *ctx, int b)
{
	struct reader *r = ctx;

	if (!scalar_wanted(r))
		return !r->not_object && !r->nomem;
	if (r->level == L_TOP && r->key == K_FALLBACK)
		r->t->fallback = b != 0;
	else if (r->level == L_FILE && r->key == F_DONE)
		r->file->done = b != 0;
	return 1;
}

static int
on_null(void *ctx)
{
	struct reader *r = ctx;

	scalar_wanted(r);
	return !r->not_object && !r->nomem;
}

static int
on_map_key(void *ctx, const unsigned char *key, size_t len)
{
	struct reader *r = ctx;
	uint64_t *seen = &r->sub_seen;

	if (r->skip > 0)
		return 1;
	if (r->level == L_TOP) {
		r->key = key_index(top_keys, K_TOP_KEYS, key, len);
		seen = &r->top_seen;
	} else if (r->level == L_UPGRADE) {
		r->key = key_index(upgrade_keys, K_UPGRADE_KEYS, key, len);
	} else {
		r->key = key_index(file_keys, K_FILE_KEYS, key, len);
	}
	if (r->key >= 0 && (*seen & (UINT64_C(1) << r->key)) != 0)
		r->key = -1;		/* the first one counts */
	else if (r->key >= 0)
		*seen |= UINT64_C(1) << r->key;
	return 1;
}

static int
on_start_map(void *ctx)
{
	struct reader *r = ctx;

	if (r->skip > 0) {
		r->skip++;
		return 1;
	}
	if (r->level == L_START) {
		r->level = L_TOP;
		return 1;
	}
	if (r->level == L_TOP && r->key == K_UPGRADE) {
		r->level = L_UPGRADE;
		r->sub_seen = 0;
		return 1;
	}
	if (r->level == L_FILES) {
		add_file(r);
		if (r->file != NULL) {
			r->level = L_FILE;
			r->sub_seen = 0;
			return !r->nomem;
		}
	}
	r->skip = 1;
	return !r->nomem;
}

static int
on_start_array(void *ctx)
{
	struct reader *r = ctx;

	if (r->skip > 0) {
		r->skip++;
		return 1;
	}
	if (r->level == L_START) {
		r->not_object = true;
		return 0;
	}
	if (r->level == L_TOP && r->key == K_FILES) {
		r->level = L_FILES;
		return 1;
	}
	if (r->level == L_FILES)
		add_file(r);	/* not an object: a file with every field at its default */
	r->skip = 1;
	return !r->nomem;
}

static int
on_end(void *ctx)
{
	struct reader *r = ctx;

	if (r->skip > 0) {
		r->skip--;
		return 1;
	}
	switch (r->level) {
	case L_TOP: r->level = L_END; break;
	case L_UPGRADE: case L_FILES: r->level = L_TOP; break;
	case L_FILE: r->level = L_FILES; break;
	case L_START: case L_END: break;
	}
	return 1;
}

static const yajl_callbacks reader_callbacks = {
	.yajl_null = on_null,
	.yajl_boolean = on_boolean,
	.yajl_number = on_number,
	.yajl_string = on_string,
	.yajl_start_map = on_start_map,
	.yajl_map_key = on_map_key,
	.yajl_end_map = on_end,
	.yajl_start_array = on_start_array,
	.yajl_end_array = on_end,
};

/* s, or "" when no key gave it: a task's strings are never NULL.  NULL out of memory. */
static char *
or_empty(char *s)
{
	return s != NULL ? s : strdup("");
}

/* Gives the strings no key gave "", and files their media.  False out of memory. */
static bool
finish_task(struct task *t)
{
	t->msg = or_empty(t->msg);
	t->error = or_empty(t->error);
	t->advice = or_empty(t->advice);
	t->dir = or_empty(t->dir);
	t->upgrade_error = or_empty(t->upgrade_error);
	if (!t->msg || !t->error || !t->advice || !t->dir || !t->upgrade_error)
		return false;
	for (size_t i = 0; i < t->nfiles; i++) {
		struct task_file *f = &t->files[i];

		f->url = or_empty(f->url);
		f->path = or_empty(f->path);
		if (f->url == NULL || f->path == NULL)
			return false;
		media_suffix(f->url, &f->media);
	}
	return true;
}

int
task_parse(const char *data, size_t len, const char *task_id, struct task *t,
    char *err, size_t errlen)
{
	struct reader r = { .t = t, .level = L_START, .key = -1 };
	yajl_handle h;
	bool parsed;

	memset(t, 0, sizeof *t);
	if ((h = yajl_alloc(&reader_callbacks, NULL, &r)) == NULL) {
		snprintf(err, errlen, "out of memory");
		errno = ENOMEM;
		return -1;
	}
	yajl_config(h, yajl_allow_comments, 1);
	len = strnlen(data, len);
	parsed = yajl_parse(h, (const unsigned char *)data, len) == yajl_status_ok &&
	    yajl_complete_parse(h) == yajl_status_ok && r.level == L_END;
	yajl_free(h);
	if (r.nomem || (parsed && !finish_task(t))) {
		snprintf(err, errlen, "out of memory");
		errno = ENOMEM;
	} else if (!parsed || !r.state_ok || strcmp(t->task_id, task_id) != 0) {
		snprintf(err, errlen, "damaged state file");
		errno = EINVAL;
	} else {
		return 0;
	}
	task_free(t);
	return -1;
}

int
task_load(const char *spool_dir, const char *task_id, struct task *t,
    char *err, size_t errlen)
{
	char path[PATH_MAX], why[64];
	char *data = NULL;
	size_t len;
	int rc;

	memset(t, 0, sizeof *t);
	if (spool_path(path, sizeof path, spool_dir, "state", task_id) < 0) {
		snprintf(err, errlen, "path too long");
		return -1;
	}
	if (read_file_bounded(path, STATE_MAX, &data, &len) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if ((rc = task_parse(data, len, task_id, t, why, sizeof why)) < 0) {
		int saved = errno;

		if (saved == ENOMEM)
			snprintf(err, errlen, "%s", why);
		else
			snprintf(err, errlen, "%s: %s", path, why);
		errno = saved;
	}
	free(data);
	return rc;
}

int
task_load_at(int state_fd, const char *task_id, struct task_buf *b, struct task *t,
    char *err, size_t errlen)
{
	/* O_NONBLOCK: a FIFO in state/ must not hang a status; only a regular file is read. */
	int fd = openat(state_fd, task_id, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	size_t len = 0;
	struct stat st;
	ssize_t n;

	memset(t, 0, sizeof *t);
	if (fd < 0)
		goto fail;
	if (fstat(fd, &st) < 0)
		goto fail;
	if (!S_ISREG(st.st_mode)) {
		errno = EINVAL;
		goto fail;
	}
	for (;;) {
		/* Room for the whole file and a byte more, so that one read sees its end. */
		size_t want = (size_t)st.st_size + 2 > len + 4096 ? (size_t)st.st_size + 2 : len + 4096;

		if (want > STATE_MAX + 2) {
			errno = EFBIG;
			goto fail;
		}
		if (b->cap < want) {
			char *nb = realloc(b->data, want);

			if (nb == NULL)
				goto fail;
			b->data = nb;
			b->cap = want;
		}
		while ((n = read(fd, b->data + len, b->cap - 1 - len)) < 0 && errno == EINTR)
			;
		if (n < 0)
			goto fail;
		len += (size_t)n;
		/* A regular file is read when a read gives less than asked. */
		if (len < b->cap - 1)
			break;
	}
	close(fd);
	if (len > STATE_MAX) {
		snprintf(err, errlen, "state/%s: %s", task_id, strerror(EFBIG));
		errno = EFBIG;
		return -1;
	}
	b->data[len] = '\0';
	return task_parse(b->data, len, task_id, t, err, errlen);
fail:
	{
		int saved = errno;

		snprintf(err, errlen, "state/%s: %s", task_id, strerror(saved));
		if (fd >= 0)
			close(fd);
		errno = saved;
	}
	return -1;
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
