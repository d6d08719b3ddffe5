/*
 * test_task: the spooler's task record (task.h): task_save() and
 * task_load() round trip every field; task_load() refuses damaged state
 * files with an errno other than ENOENT; task_recover() keeps a damaged
 * state aside and rebuilds the task from its stored callback;
 * task_init_from_callback(), task_from_entry(), task_backoff() and
 * task_to_json(); task_parse() reads what the tree reader before it read
 * (tests/fuzz/state_ref.h), on crafted and on mutated state files.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yajl/yajl_tree.h>

#include "advice.h"
#include "callback.h"
#include "digest.h"
#include "entry.h"
#include "fsutil.h"
#include "spool.h"
#include "task.h"
#include "tap.h"
#include "tmptree.h"
#include "../fuzz/state_ref.h"

#define TID	"veo_task_0123abcd"
#define DL	"/videos"
#define SHA_A	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define SHA_B	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* The provider's words may hold anything UTF-8: quotes, escapes, controls. */
#define NASTY_MSG	"say \"hi\" \\ back\\slash\n\ttab \x01\x1f del\x7f " \
			"caf\xc3\xa9 \xe2\x80\xa8 \xf0\x9f\x8e\xac </script> $(id) `id`"

static char base[] = "/tmp/veo-test-task.XXXXXX";

/* A fresh spool, prepared for the spooler, under base. */
static const char *
fresh(const char *name)
{
	return tmptree_spool(base, name);
}

/* Writes len bytes of data to spool/sub/name (replacing it). */
static int
put_file(const char *spool, const char *sub, const char *name, const void *data, size_t len)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof path, "%s/%s/%s", spool, sub, name);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) < 0)
		return -1;
	if (write_all(fd, data, len) < 0) {
		close(fd);
		return -1;
	}
	return close(fd);
}

/* The whole of spool/sub/name, malloc'd; NULL when unreadable. */
static char *
get_file(const char *spool, const char *sub, const char *name, size_t *len)
{
	char path[PATH_MAX], *data = NULL;
	size_t n = 0;

	snprintf(path, sizeof path, "%s/%s/%s", spool, sub, name);
	if (read_file_bounded(path, 4 << 20, &data, &n) < 0)
		return NULL;
	if (len)
		*len = n;
	return data;
}

static bool
exists(const char *spool, const char *sub, const char *name)
{
	char path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof path, "%s/%s/%s", spool, sub, name);
	return lstat(path, &st) == 0;
}

/* A success callback body; msg_json, results and origins are raw JSON. */
static char *
success_body(const char *task_id, const char *msg_json, const char *results, const char *origins)
{
	char *s = NULL;

	if (asprintf(&s, "{\"code\":200,\"msg\":%s,\"data\":{\"taskId\":\"%s\",\"info\":"
	    "{\"resultUrls\":%s,\"originUrls\":%s,\"resolution\":\"1080p\"},"
	    "\"fallbackFlag\":false}}", msg_json, task_id, results, origins) < 0)
		return NULL;
	return s;
}

static char *
failure_body(const char *task_id, long long code, const char *msg_json)
{
	char *s = NULL;

	if (asprintf(&s, "{\"code\":%lld,\"msg\":%s,\"data\":{\"taskId\":\"%s\"}}", code,
	    msg_json, task_id) < 0)
		return NULL;
	return s;
}

/*
 * Stores body for task_id in new/ with spool_store(), then takes it: it
 * ends in taking/ (sub "taking") or, after spool_take_done(), in cur/.
 */
static int
put_entry(const char *spool, const char *sub, const char *task_id, long long code,
    const char *body)
{
	struct spool_item it = { task_id, code, (const unsigned char *)body, strlen(body),
	    "192.0.2.1", false };
	struct spool_opts o = { false, 0, false };
	struct spool_entry e;
	char err[256];
	enum spool_read r;

	if (spool_store(spool, &it, &o, err, sizeof err) > SPOOL_REPLACED)
		return -1;
	r = spool_take(spool, task_id, &e, err, sizeof err);
	spool_entry_free(&e);
	if (r != SPOOL_READ_OK)
		return -1;
	if (strcmp(sub, "cur") == 0 && spool_take_done(spool, task_id, false, err, sizeof err) < 0)
		return -1;
	return 0;
}

/* Fills f; strings are copied. */
static void
set_file(struct task_file *f, const char *kind, const char *url, const char *path,
    long long bytes, const char *sha, bool done)
{
	snprintf(f->kind, sizeof f->kind, "%s", kind);
	f->url = strdup(url);
	f->path = strdup(path);
	f->bytes = bytes;
	snprintf(f->sha256, sizeof f->sha256, "%s", sha);
	f->done = done;
}

/* A task with every field set to something other than its zero value. */
static void
full_task(struct task *t, const char *task_id)
{
	memset(t, 0, sizeof *t);
	snprintf(t->task_id, sizeof t->task_id, "%s", task_id);
	t->state = TASK_FAILED;
	t->code = 200;
	t->msg = strdup(NASTY_MSG);
	t->error = strdup("HTTP 503 from \"cdn\"");
	t->advice = strdup("check allow_hosts\nthen run retry");
	t->dir = strdup(DL "/" TID);
	t->attempts = 7;
	t->forbidden = 2;
	t->first_seen = 1700000000;
	t->updated = 1700000123;
	t->next_attempt = 1700009999;
	t->duplicates = 42;
	t->hook_owed = HOOK_ON_FAILED;
	snprintf(t->callback_sha256, sizeof t->callback_sha256, "%s", SHA_B);
	set_file(&t->files[0], "result", "https://cdn.example.com/v/a.mp4?sig=\"x\"&y=1",
	    DL "/" TID "/result-0.mp4", 5000000000LL, SHA_A, true);
	set_file(&t->files[1], "result", "https://cdn.example.com/v/b.webm",
	    DL "/" TID "/result-1.webm", 0, "", false);
	set_file(&t->files[2], "origin", "https://cdn.example.com/i/c.PNG",
	    DL "/" TID "/origin-0.png", 123, SHA_B, true);
	t->nfiles = 3;
}

/* Compares every stored field of a and b; names the first difference in why. */
static bool
same_task(const struct task *a, const struct task *b, char *why, size_t whylen)
{
#define DIFF(cond, name) do { if (cond) { snprintf(why, whylen, "%s differs", name); return false; } } while (0)
#define SDIFF(x, y, name) DIFF(!(x) || !(y) || strcmp((x), (y)) != 0, name)
	SDIFF(a->task_id, b->task_id, "taskId");
	DIFF(a->state != b->state, "state");
	DIFF(a->code != b->code, "code");
	SDIFF(a->msg, b->msg, "msg");
	SDIFF(a->error, b->error, "error");
	SDIFF(a->advice, b->advice, "advice");
	SDIFF(a->dir, b->dir, "dir");
	DIFF(a->attempts != b->attempts, "attempts");
	DIFF(a->forbidden != b->forbidden, "forbidden");
	DIFF(a->first_seen != b->first_seen, "firstSeen");
	DIFF(a->updated != b->updated, "updated");
	DIFF(a->next_attempt != b->next_attempt, "nextAttempt");
	DIFF(a->duplicates != b->duplicates, "duplicates");
	DIFF(a->hook_owed != b->hook_owed, "hookOwed");
	SDIFF(a->callback_sha256, b->callback_sha256, "callbackSha256");
	DIFF(a->nfiles != b->nfiles, "number of files");
	for (size_t i = 0; i < a->nfiles; i++) {
		const struct task_file *f = &a->files[i], *g = &b->files[i];

		SDIFF(f->kind, g->kind, "file kind");
		SDIFF(f->url, g->url, "file url");
		SDIFF(f->path, g->path, "file path");
		DIFF(f->bytes != g->bytes, "file bytes");
		SDIFF(f->sha256, g->sha256, "file sha256");
		DIFF(f->done != g->done, "file done");
	}
#undef SDIFF
#undef DIFF
	snprintf(why, whylen, "all fields equal");
	return true;
}

/* ---- save and load ---- */

static void
test_round_trip(void)
{
	const char *sp = fresh("roundtrip");
	struct task t, u;
	char err[256] = "", why[64];
	char *data;
	size_t len = 0;

	/* Every field, spelled out once. */
	full_task(&t, TID);
	ok(task_save(sp, &t, true, err, sizeof err) == 0, "task_save: %s", err);
	ok(task_load(sp, TID, &u, err, sizeof err) == 0, "task_load of what was saved: %s", err);
	is_str(u.task_id, TID, "taskId");
	is_str(task_state_name(u.state), "failed", "state");
	is_int(u.code, 200, "code");
	is_str(u.msg, NASTY_MSG, "msg with quotes, backslashes, controls, any UTF-8: verbatim");
	is_str(u.error, t.error, "error");
	is_str(u.advice, t.advice, "advice (with a newline)");
	is_str(u.dir, t.dir, "dir");
	is_int(u.attempts, 7, "attempts");
	is_int(u.forbidden, 2, "forbidden");
	is_int(u.first_seen, 1700000000, "firstSeen");
	is_int(u.updated, 1700000123, "updated");
	is_int(u.next_attempt, 1700009999, "nextAttempt");
	is_int(u.duplicates, 42, "duplicates");
	is_int(u.hook_owed, HOOK_ON_FAILED, "hookOwed on_failed");
	is_str(u.callback_sha256, SHA_B, "callbackSha256");
	is_int(u.nfiles, 3, "three files");
	is_str(u.files[0].kind, "result", "file 0 kind");
	is_str(u.files[0].url, t.files[0].url, "file 0 url (quotes, query)");
	is_str(u.files[0].path, t.files[0].path, "file 0 path");
	is_int(u.files[0].bytes, 5000000000LL, "file 0 bytes beyond 32 bits");
	is_str(u.files[0].sha256, SHA_A, "file 0 sha256");
	ok(u.files[0].done, "file 0 done");
	is_int(u.files[0].media, MEDIA_VIDEO, "file 0 media from the URL: video");
	ok(!u.files[1].done && u.files[1].bytes == 0 && u.files[1].sha256[0] == '\0',
	    "file 1 not done, 0 bytes, no sha256");
	is_str(u.files[2].kind, "origin", "file 2 kind origin");
	is_int(u.files[2].media, MEDIA_IMAGE, "file 2 media from the URL (.PNG): image");
	ok(same_task(&t, &u, why, sizeof why), "round trip: %s", why);
	task_free(&u);

	/* The file is one line of JSON ending in a newline; no temp file is left. */
	data = get_file(sp, "state", TID, &len);
	ok(data != NULL && len > 2 && data[0] == '{' && data[len - 1] == '\n' &&
	    memchr(data, '\n', len - 1) == NULL, "state/<taskId> is one line of JSON");
	free(data);
	is_int(tmptree_count(sp, "bad", "", NULL, 0), 0, "bad/ untouched");
	is_int(tmptree_count(sp, "tmp", "", NULL, 0), 0, "tmp/ empty after task_save");

	/* Each state and each owed hook survives; "active" is stored as pending. */
	{
		static const struct { enum task_state st; enum task_hook h; enum task_state want; } v[] = {
			{ TASK_PENDING, HOOK_NONE, TASK_PENDING },
			{ TASK_DONE, HOOK_ON_DONE, TASK_DONE },
			{ TASK_FAILED, HOOK_ON_FAILED, TASK_FAILED },
			{ TASK_ACTIVE, HOOK_NONE, TASK_PENDING },
		};

		for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
			t.state = v[i].st;
			t.hook_owed = v[i].h;
			ok(task_save(sp, &t, false, err, sizeof err) == 0 &&
			    task_load(sp, TID, &u, err, sizeof err) == 0 &&
			    u.state == v[i].want && u.hook_owed == v[i].h,
			    "state %s with hookOwed %d loads as %s", task_state_name(v[i].st), v[i].h,
			    task_state_name(v[i].want));
			task_free(&u);
		}
	}

	/* A save replaces the earlier state. */
	t.state = TASK_DONE;
	t.attempts = 8;
	task_set(&t.msg, "%s", "second");
	ok(task_save(sp, &t, true, err, sizeof err) == 0 &&
	    task_load(sp, TID, &u, err, sizeof err) == 0 && u.attempts == 8 &&
	    strcmp(u.msg, "second") == 0, "a second save replaces the first");
	task_free(&u);

	/* No files and empty strings. */
	task_free(&t);
	snprintf(t.task_id, sizeof t.task_id, "%s", "t2");
	t.msg = strdup("");
	t.error = strdup("");
	t.advice = strdup("");
	t.dir = strdup("");
	ok(task_save(sp, &t, false, err, sizeof err) == 0 &&
	    task_load(sp, "t2", &u, err, sizeof err) == 0 && same_task(&t, &u, why, sizeof why),
	    "a task without files round-trips: %s", why);
	ok(u.msg && u.error && u.advice && u.dir, "loaded strings are never NULL");
	task_free(&u);
	task_free(&t);
	ok(t.msg == NULL && t.nfiles == 0, "task_free zeroes the task");

	/* The most files a task can have. */
	full_task(&t, "t3");
	for (size_t i = 3; i < TASK_MAX_FILES; i++) {
		char url[64], path[64];

		snprintf(url, sizeof url, "https://h.example/%zu.mp4", i);
		snprintf(path, sizeof path, "/v/t3/result-%zu.mp4", i);
		set_file(&t.files[i], "result", url, path, (long long)i, "", i % 2 == 0);
	}
	t.nfiles = TASK_MAX_FILES;
	ok(task_save(sp, &t, false, err, sizeof err) == 0 &&
	    task_load(sp, "t3", &u, err, sizeof err) == 0 && same_task(&t, &u, why, sizeof why),
	    "TASK_MAX_FILES (%d) files round-trip: %s", TASK_MAX_FILES, why);
	task_free(&u);

	/* A spool without state/: -1 with a reason, nothing left in tmp/. */
	{
		char path[PATH_MAX];

		snprintf(path, sizeof path, "%s/nostate", sp);
		mkdir(path, 0700);
		snprintf(path, sizeof path, "%s/nostate/tmp", sp);
		mkdir(path, 0700);
		snprintf(path, sizeof path, "%s/nostate", sp);
		err[0] = '\0';
		ok(task_save(path, &t, true, err, sizeof err) == -1 && err[0] != '\0',
		    "no state/ directory: -1: %s", err);
		is_int(tmptree_count(path, "tmp", "", NULL, 0), 0, "the temp file is removed");
	}
	task_free(&t);
}

/* task_load() of state/<name> holding data: must fail, not with ENOENT. */
static void
load_damaged(const char *sp, const char *name, const void *data, size_t len, const char *what)
{
	struct task u;
	char err[256] = "";
	int rc, e;

	if (put_file(sp, "state", name, data, len) < 0) {
		ok(0, "%s: write state file", what);
		return;
	}
	errno = 0;
	rc = task_load(sp, name, &u, err, sizeof err);
	e = errno;
	ok(rc == -1 && e != ENOENT && e != 0 && err[0] != '\0', "%s: -1, errno %d (not ENOENT): %s",
	    what, e, err);
	ok(u.msg == NULL && u.nfiles == 0, "%s: nothing left to free", what);
	task_free(&u);
}

static void
test_load_damaged(void)
{
	const char *sp = fresh("damaged");
	struct task t, u;
	char err[256] = "", path[PATH_MAX], *good;
	size_t len = 0;
	int rc;

	/* A missing state: ENOENT. */
	errno = 0;
	rc = task_load(sp, TID, &u, err, sizeof err);
	ok(rc == -1 && errno == ENOENT, "missing state: -1 with ENOENT: %s", err);
	task_free(&u);

	/* A good state file to damage. */
	full_task(&t, TID);
	task_save(sp, &t, false, err, sizeof err);
	task_free(&t);
	good = get_file(sp, "state", TID, &len);
	if (good == NULL) {
		ok(0, "saved state readable");
		return;
	}
	load_damaged(sp, TID, good, len / 2, "truncated JSON");
	load_damaged(sp, TID, good, len - 3, "JSON missing its last brace");
	load_damaged(sp, TID, "\x7f" "ELF\x02\x01\x01\0\0garbage", 14, "binary garbage");
	load_damaged(sp, TID, "", 0, "empty file");
	load_damaged(sp, TID, "\n", 1, "a lone newline");
	load_damaged(sp, TID, "[1,2,3]\n", 8, "a JSON array, not an object");
	load_damaged(sp, TID, "\"pending\"\n", 10, "a JSON string, not an object");
	free(good);

	/* Well-formed JSON that is not this task's state. */
	{
		struct task w;
		char *other, *json;

		full_task(&w, "some_other_task");
		json = task_to_json(&w, TASK_PENDING);
		load_damaged(sp, TID, json, strlen(json), "state whose taskId differs from its name");
		free(json);
		task_free(&w);

		full_task(&w, TID);
		json = task_to_json(&w, TASK_PENDING);
		if (json != NULL && (other = strdup(json)) != NULL) {
			char *p = strstr(other, "\"state\":\"pending\"");

			if (p != NULL)
				memcpy(p, "\"state\":\"pendign\"", 17);
			load_damaged(sp, TID, other, strlen(other), "unknown state name");
			p = strstr(other, "\"state\":\"pendign\"");
			if (p != NULL)
				memcpy(p, "\"stat\":\"pending\" ", 17);
			load_damaged(sp, TID, other, strlen(other), "no state at all");
			free(other);
		}
		free(json);
		task_free(&w);
		load_damaged(sp, TID, "{}", 2, "an empty object");
	}

	/* A directory at state/<taskId>. */
	snprintf(path, sizeof path, "%s/state/dir_task", sp);
	mkdir(path, 0700);
	errno = 0;
	rc = task_load(sp, "dir_task", &u, err, sizeof err);
	ok(rc == -1 && errno != ENOENT && errno != 0, "a directory at state/<taskId>: -1, errno %d: %s",
	    errno, err);
	task_free(&u);

	/* A symbolic link to a good state is not followed. */
	full_task(&t, "link_task");
	task_save(sp, &t, false, err, sizeof err);
	task_free(&t);
	{
		char from[PATH_MAX], to[PATH_MAX];

		snprintf(from, sizeof from, "%s/state/link_task", sp);
		snprintf(to, sizeof to, "%s/state/link_task.real", sp);
		rename(from, to);
		if (symlink(to, from) < 0)
			ok(0, "symlink");
		errno = 0;
		rc = task_load(sp, "link_task", &u, err, sizeof err);
		ok(rc == -1 && errno != ENOENT && errno != 0, "a symlink at state/<taskId>: -1, errno %d: %s",
		    errno, err);
		task_free(&u);
	}

	/* Larger than any state can be. */
	{
		size_t big = (1 << 20) + 16;
		char *blob = malloc(big);

		if (blob != NULL) {
			memset(blob, ' ', big);
			blob[0] = '{';
			blob[big - 1] = '}';
			load_damaged(sp, "big_task", blob, big, "a state file over 1 MiB");
			free(blob);
		}
	}
}

/* ---- recovery ---- */

/*
 * A damaged state kept aside and the task rebuilt: from cur/, else taking/,
 * else nothing (-1).
 */
static void
test_recover(void)
{
	const char *sp = fresh("recover");
	static const char junk[] = "{\"taskId\":\"" TID "\",\"state\":\"pend";
	char report[512] = "", kept[256] = "", *body, *body2, *data;
	struct task t;
	size_t len = 0;
	int rc;

	/* From cur/: the entry a sweep took in. */
	body = success_body(TID, "\"made \\\"it\\\"\"",
	    "[\"https://cdn.example.com/v/a.mp4\",\"https://cdn.example.com/v/b.mov\"]",
	    "[\"https://cdn.example.com/o/c.jpg\"]");
	ok(body && put_entry(sp, "cur", TID, 200, body) == 0, "callback stored and taken into cur/");
	put_file(sp, "state", TID, junk, sizeof junk - 1);
	rc = task_recover(sp, TID, "truncated", DL, true, 1800000000, &t, report, sizeof report);
	is_int(rc, 0, "task_recover from cur/: 0");
	ok(strstr(report, "truncated") && strstr(report, "bad/" TID ".state.") &&
	    strstr(report, "rebuilt"), "report says why, where it was kept and that it was rebuilt: %s",
	    report);
	ok(!exists(sp, "state", TID), "state/<taskId> moved away");
	is_int(tmptree_count(sp, "bad", TID ".state.", kept, sizeof kept), 1, "one bad/<taskId>.state.<unique>");
	data = get_file(sp, "bad", kept, &len);
	ok(data && len == sizeof junk - 1 && memcmp(data, junk, len) == 0,
	    "the damaged bytes are kept as they were");
	free(data);
	ok(strstr(report, kept) != NULL, "report names the kept file");
	is_str(t.task_id, TID, "rebuilt: taskId");
	is_str(task_state_name(t.state), "pending", "rebuilt: pending");
	is_int(t.code, 200, "rebuilt: code");
	is_str(t.msg, "made \"it\"", "rebuilt: msg");
	is_int(t.nfiles, 3, "rebuilt: two results and one origin");
	is_str(t.files[1].path, DL "/" TID "/result-1.mov", "rebuilt: file path");
	ok(t.files[0].done == false && t.attempts == 0, "rebuilt: nothing done, no attempts");
	is_int(t.first_seen, 1800000000, "rebuilt: firstSeen now");
	{
		char sha[SHA256_HEX_LEN + 1];

		sha256_hex(body, strlen(body), sha);
		is_str(t.callback_sha256, sha, "rebuilt: callbackSha256 is the stored body's");
	}
	ok(exists(sp, "cur", TID), "the stored callback stays in cur/");
	task_free(&t);

	/* Without origin downloads. */
	put_file(sp, "state", TID, "", 0);
	rc = task_recover(sp, TID, "empty", DL, false, 1800000000, &t, report, sizeof report);
	ok(rc == 0 && t.nfiles == 2, "download_origin false: only the two results");
	is_int(tmptree_count(sp, "bad", TID ".state.", NULL, 0), 2, "a second damaged state kept under another name");
	task_free(&t);

	/* From taking/ when cur/ has none (a crash between take and done). */
	body2 = failure_body("t_taking", 501, "\"generation failed\"");
	ok(body2 && put_entry(sp, "taking", "t_taking", 501, body2) == 0, "callback left in taking/");
	put_file(sp, "state", "t_taking", "garbage", 7);
	rc = task_recover(sp, "t_taking", "garbled", DL, true, 1800000000, &t, report, sizeof report);
	ok(rc == 0 && strcmp(t.task_id, "t_taking") == 0, "task_recover from taking/: 0: %s", report);
	ok(t.state == TASK_FAILED && t.code == 501 && strcmp(t.msg, "generation failed") == 0,
	    "rebuilt from taking/: the failure callback");
	task_free(&t);
	free(body2);

	/* cur/ preferred to taking/ when both hold one. */
	body2 = success_body("t_both", "\"in taking\"", "[\"https://cdn.example.com/v/t.mp4\"]", "[]");
	ok(put_entry(sp, "cur", "t_both", 501, "{\"code\":501,\"msg\":\"in cur\",\"data\":{\"taskId\":\"t_both\"}}") == 0 &&
	    put_entry(sp, "taking", "t_both", 200, body2) == 0, "callbacks in cur/ and taking/");
	put_file(sp, "state", "t_both", "{", 1);
	rc = task_recover(sp, "t_both", "damaged", DL, true, 1800000000, &t, report, sizeof report);
	ok(rc == 0 && t.msg && strcmp(t.msg, "in cur") == 0, "cur/ comes first");
	task_free(&t);

	/* A damaged entry in cur/: falls back to taking/. */
	put_file(sp, "cur", "t_both", "VEO-CALLBACK-ENTRY 1\nnonsense", 29);
	put_file(sp, "state", "t_both", "{", 1);
	rc = task_recover(sp, "t_both", "damaged", DL, true, 1800000000, &t, report, sizeof report);
	ok(rc == 0 && t.msg && strcmp(t.msg, "in taking") == 0 && t.nfiles == 1,
	    "a damaged cur/ entry: rebuilt from taking/");
	task_free(&t);
	free(body2);

	/* No stored callback at all: -1, still kept aside, and said so. */
	put_file(sp, "state", "t_none", "nope", 4);
	report[0] = '\0';
	rc = task_recover(sp, "t_none", "garbled", DL, true, 1800000000, &t, report, sizeof report);
	is_int(rc, -1, "no stored callback: -1");
	ok(strstr(report, "no stored callback") && strstr(report, "bad/t_none.state."),
	    "report says so and names the kept file: %s", report);
	ok(!exists(sp, "state", "t_none") && tmptree_count(sp, "bad", "t_none.state.", NULL, 0) == 1,
	    "the damaged state is kept aside anyway");
	ok(t.msg == NULL && t.nfiles == 0, "t holds nothing to free");
	task_free(&t);

	/* A stored callback whose body does not parse: nothing to rebuild from. */
	put_file(sp, "state", "t_badbody", "x", 1);
	ok(put_entry(sp, "cur", "t_badbody", 200, "{\"code\":200,\"msg\":\"no data\"}") == 0,
	    "an unparseable callback in cur/");
	rc = task_recover(sp, "t_badbody", "garbled", DL, true, 1800000000, &t, report, sizeof report);
	ok(rc == -1 && strstr(report, "no stored callback"), "unparseable callback: -1: %s", report);
	task_free(&t);

	/* A state that is not there cannot be moved aside: -1, said so. */
	report[0] = '\0';
	rc = task_recover(sp, "t_gone", "vanished", DL, true, 1800000000, &t, report, sizeof report);
	ok(rc == -1 && strstr(report, "could not be moved aside"), "missing state: -1: %s", report);
	task_free(&t);

	/* A directory at state/<taskId> is moved aside too. */
	free(body);
	{
		char path[PATH_MAX];

		snprintf(path, sizeof path, "%s/state/t_dir", sp);
		mkdir(path, 0700);
	}
	body = success_body("t_dir", "\"d\"", "[\"https://cdn.example.com/v/d.mp4\"]", "null");
	ok(put_entry(sp, "cur", "t_dir", 200, body) == 0, "callback for t_dir in cur/");
	rc = task_recover(sp, "t_dir", "is a directory", DL, true, 1800000000, &t, report, sizeof report);
	ok(rc == 0 && !exists(sp, "state", "t_dir") && tmptree_count(sp, "bad", "t_dir.state.", NULL, 0) == 1,
	    "a directory at state/<taskId>: kept aside, rebuilt: %s", report);
	task_free(&t);
	free(body);
}

/* ---- from a callback ---- */

/* Parses body into cb and a matching entry_meta. */
static int
parse(const char *body, struct callback *cb, struct entry_meta *m, unsigned long dups)
{
	char err[256];

	memset(m, 0, sizeof *m);
	if (callback_parse((const unsigned char *)body, strlen(body), cb, err, sizeof err) < 0) {
		printf("# callback_parse: %s\n", err);
		return -1;
	}
	snprintf(m->task_id, sizeof m->task_id, "%s", cb->task_id);
	m->code = cb->code;
	m->duplicates = dups;
	m->body_length = strlen(body);
	sha256_hex(body, strlen(body), m->body_sha256);
	return 0;
}

static void
test_init_from_callback(void)
{
	struct callback cb;
	struct entry_meta m;
	struct task t;
	char *body;
	int rc;

	/* Code 200: pending, one file a URL, suffix from the URL's path. */
	body = success_body(TID, "\"ok \\u00e9\"",
	    "[\"https://cdn.example.com/v/a.mp4\",\"https://cdn.example.com/v/B.MOV?x=.png\","
	    "\"https://cdn.example.com/v/noext\",\"https://cdn.example.com/v/evil.sh\","
	    "\"https://cdn.example.com/v/c.webm#frag.gif\"]",
	    "[\"https://cdn.example.com/o/p.JPEG\",\"https://cdn.example.com/o/q.png\"]");
	memset(&t, 0, sizeof t);
	rc = body ? parse(body, &cb, &m, 3) : -1;
	ok(rc == 0, "success callback parses");
	rc = task_init_from_callback(&t, &cb, &m, DL, true, 1800000000);
	is_int(rc, 0, "task_init_from_callback: 0");
	is_str(t.task_id, TID, "taskId");
	is_str(task_state_name(t.state), "pending", "code 200: pending");
	is_int(t.code, 200, "code");
	is_str(t.msg, "ok \xc3\xa9", "msg");
	is_str(t.error, "", "error empty");
	is_str(t.advice, "", "advice empty");
	is_str(t.dir, DL "/" TID, "dir is download_dir/<taskId>");
	ok(t.attempts == 0 && t.forbidden == 0 && t.hook_owed == HOOK_NONE, "no attempts, nothing owed");
	ok(t.first_seen == 1800000000 && t.updated == 1800000000 && t.next_attempt == 1800000000,
	    "firstSeen, updated and nextAttempt now");
	is_int(t.duplicates, 3, "duplicates from the entry");
	is_str(t.callback_sha256, m.body_sha256, "callbackSha256 from the entry");
	is_int(t.nfiles, 7, "five results and two origins");
	{
		static const char *const want[][3] = {
			{ "result", "https://cdn.example.com/v/a.mp4", DL "/" TID "/result-0.mp4" },
			{ "result", "https://cdn.example.com/v/B.MOV?x=.png", DL "/" TID "/result-1.mov" },
			{ "result", "https://cdn.example.com/v/noext", DL "/" TID "/result-2.mp4" },
			{ "result", "https://cdn.example.com/v/evil.sh", DL "/" TID "/result-3.mp4" },
			{ "result", "https://cdn.example.com/v/c.webm#frag.gif", DL "/" TID "/result-4.webm" },
			{ "origin", "https://cdn.example.com/o/p.JPEG", DL "/" TID "/origin-0.jpeg" },
			{ "origin", "https://cdn.example.com/o/q.png", DL "/" TID "/origin-1.png" },
		};
		static const enum media_kind media[] = { MEDIA_VIDEO, MEDIA_VIDEO, MEDIA_VIDEO,
		    MEDIA_VIDEO, MEDIA_VIDEO, MEDIA_IMAGE, MEDIA_IMAGE };

		for (size_t i = 0; i < t.nfiles && i < 7; i++) {
			const struct task_file *f = &t.files[i];

			ok(strcmp(f->kind, want[i][0]) == 0 && strcmp(f->url, want[i][1]) == 0 &&
			    strcmp(f->path, want[i][2]) == 0 && f->media == media[i] && f->bytes == 0 &&
			    f->sha256[0] == '\0' && !f->done, "file %zu: %s", i, f->path ? f->path : "?");
		}
	}

	/* Again on the same t, later, with download_origin false: firstSeen kept. */
	t.attempts = 5;
	t.state = TASK_FAILED;
	task_set(&t.error, "%s", "old error");
	t.files[0].done = true;
	rc = task_init_from_callback(&t, &cb, &m, DL, false, 1800000500);
	ok(rc == 0 && t.nfiles == 5, "download_origin false: no origin files");
	ok(strcmp(t.files[4].kind, "result") == 0, "the last file is a result");
	is_int(t.first_seen, 1800000000, "re-initialised: firstSeen kept");
	is_int(t.updated, 1800000500, "re-initialised: updated now");
	is_int(t.duplicates, 6, "re-initialised: duplicates kept, the entry's added");
	ok(t.state == TASK_PENDING && t.attempts == 0 && strcmp(t.error, "") == 0 && !t.files[0].done,
	    "re-initialised: pending again, attempts, error and files reset");
	task_free(&t);
	callback_free(&cb);
	free(body);

	/* The most URLs a callback can hold: every one becomes a file. */
	{
		char *res = NULL, *ori = NULL, *tmp;

		res = strdup("[");
		ori = strdup("[");
		for (int i = 0; i < CALLBACK_MAX_URLS; i++) {
			if (asprintf(&tmp, "%s%s\"https://h.example/r%d.mp4\"", res, i ? "," : "", i) < 0)
				break;
			free(res);
			res = tmp;
			if (asprintf(&tmp, "%s%s\"https://h.example/o%d.jpg\"", ori, i ? "," : "", i) < 0)
				break;
			free(ori);
			ori = tmp;
		}
		if (asprintf(&tmp, "%s]", res) > 0)
			free(res), res = tmp;
		if (asprintf(&tmp, "%s]", ori) > 0)
			free(ori), ori = tmp;
		body = success_body("t_many", "\"m\"", res, ori);
		memset(&t, 0, sizeof t);
		ok(body && parse(body, &cb, &m, 0) == 0 &&
		    task_init_from_callback(&t, &cb, &m, DL, true, 1) == 0 &&
		    t.nfiles == 2 * CALLBACK_MAX_URLS,
		    "%d results and %d origins: %d files", CALLBACK_MAX_URLS, CALLBACK_MAX_URLS,
		    2 * CALLBACK_MAX_URLS);
		is_str(t.files[2 * CALLBACK_MAX_URLS - 1].path, DL "/t_many/origin-31.jpg", "the last origin file");
		task_free(&t);
		callback_free(&cb);
		free(body), free(res), free(ori);
	}

	/* Code 501: failed with the provider's code in error and advice. */
	body = failure_body("t_501", 501, "\"Video generation failed\"");
	memset(&t, 0, sizeof t);
	ok(parse(body, &cb, &m, 0) == 0 && task_init_from_callback(&t, &cb, &m, DL, true, 7) == 0,
	    "failure callback taken");
	is_str(task_state_name(t.state), "failed", "code 501: failed");
	is_int(t.code, 501, "code 501 kept");
	ok(strstr(t.error, "501") != NULL, "error names the code: %s", t.error);
	is_str(t.advice, advice_for_code(501, "Video generation failed"), "advice for 501");
	ok(t.advice[0] != '\0', "advice not empty");
	is_int(t.nfiles, 0, "no files for a failure");
	is_str(t.msg, "Video generation failed", "msg kept");
	task_free(&t);
	callback_free(&cb);
	free(body);

	/* Code 400 with a policy message: advice picked with the message. */
	body = failure_body("t_400", 400, "\"flagged by content policy\"");
	memset(&t, 0, sizeof t);
	ok(parse(body, &cb, &m, 0) == 0 && task_init_from_callback(&t, &cb, &m, DL, true, 7) == 0 &&
	    t.state == TASK_FAILED && strcmp(t.advice, advice_for_code(400, "flagged by content policy")) == 0,
	    "code 400: failed, advice chosen by the message");
	task_free(&t);
	callback_free(&cb);
	free(body);
}

/* Builds an entry for body into e, as the spool stores it; e->data is malloc'd. */
static int
make_entry(struct spool_entry *e, const char *task_id, long long code, const char *body,
    unsigned long dups)
{
	struct entry_meta m;
	char head[ENTRY_HEADER_MAX];
	size_t blen = strlen(body);
	int h;

	memset(e, 0, sizeof *e);
	memset(&m, 0, sizeof m);
	snprintf(m.task_id, sizeof m.task_id, "%s", task_id);
	m.code = code;
	snprintf(m.received, sizeof m.received, "2026-11-27T13:37:52.123456Z");
	entry_set_remote_addr(&m, "203.0.113.9");
	m.body_length = blen;
	sha256_hex(body, blen, m.body_sha256);
	if ((h = entry_format_header(&m, head, sizeof head)) < 0)
		return -1;
	/* With dups, as an older responder wrote it: a duplicates line after the magic. */
	if (dups > 0) {
		char rest[ENTRY_HEADER_MAX];
		size_t ml = strlen(ENTRY_MAGIC) + 1;

		snprintf(rest, sizeof rest, "%s", head + ml);
		h = snprintf(head + ml, sizeof head - ml, "duplicates: %lu\n%s", dups, rest);
		if (h < 0 || (size_t)h >= sizeof head - ml)
			return -1;
		h += (int)ml;
	}
	if ((e->data = malloc((size_t)h + blen + 1)) == NULL)
		return -1;
	memcpy(e->data, head, (size_t)h);
	memcpy(e->data + h, body, blen + 1);
	e->len = (size_t)h + blen;
	{
		char err[128];

		if (entry_parse(e->data, e->len, &e->meta, &e->body, err, sizeof err) < 0)
			return -1;
	}
	return 0;
}

static void
test_from_entry(void)
{
	struct spool_entry e;
	struct task t;
	char err[256] = "", *body;
	int rc;

	body = success_body("t_entry", "\"from an entry\"", "[\"https://cdn.example.com/v/x.m4v\"]",
	    "[\"https://cdn.example.com/o/y.webp\"]");
	ok(make_entry(&e, "t_entry", 200, body, 2) == 0,
	    "entry formatted with entry_format_header, and an older responder's count");
	memset(&t, 0, sizeof t);
	rc = task_from_entry(&t, &e, DL, true, 1234, err, sizeof err);
	is_int(rc, 0, "task_from_entry: 0");
	ok(strcmp(t.task_id, "t_entry") == 0 && t.state == TASK_PENDING && t.nfiles == 2 &&
	    strcmp(t.files[0].path, DL "/t_entry/result-0.m4v") == 0 &&
	    strcmp(t.files[1].path, DL "/t_entry/origin-0.webp") == 0 && t.files[1].media == MEDIA_IMAGE,
	    "task from the entry's body: pending, result-0.m4v, origin-0.webp");
	is_str(t.callback_sha256, e.meta.body_sha256, "callbackSha256 is the entry's body-sha256");
	is_int(t.duplicates, 2, "duplicates from the entry");
	ok(t.first_seen == 1234 && t.updated == 1234, "times are now");
	task_free(&t);
	spool_entry_free(&e);
	free(body);

	/* A body that is not a valid callback: -1 with a reason. */
	ok(make_entry(&e, "t_entry", 200, "{\"code\":200,\"msg\":\"x\",\"data\":{\"taskId\":\"t_entry\"}}", 0) == 0,
	    "entry with a callback lacking resultUrls");
	memset(&t, 0, sizeof t);
	err[0] = '\0';
	rc = task_from_entry(&t, &e, DL, true, 1234, err, sizeof err);
	ok(rc == -1 && err[0] != '\0', "damaged body: -1: %s", err);
	task_free(&t);
	spool_entry_free(&e);

	ok(make_entry(&e, "t_entry", 200, "not json at all", 0) == 0, "entry with a non-JSON body");
	memset(&t, 0, sizeof t);
	err[0] = '\0';
	rc = task_from_entry(&t, &e, DL, true, 1234, err, sizeof err);
	ok(rc == -1 && err[0] != '\0', "non-JSON body: -1: %s", err);
	task_free(&t);
	spool_entry_free(&e);
}

/* ---- backoff ---- */

static void
test_backoff(void)
{
	static const unsigned randoms[] = { 0, 1, 2, 7, 12345, 0x7fffffffu, 0x80000000u, UINT_MAX };
	long long want = 60;
	bool in_bounds = true, ends_reached = true;

	is_int(task_backoff(1, 0), 45, "first failure, lowest jitter: 45 s (60 - 25 %)");
	is_int(task_backoff(1, 30), 75, "first failure, highest jitter: 75 s (60 + 25 %)");
	is_int(task_backoff(2, 0), 90, "second failure: 120 s - 25 %");
	is_int(task_backoff(2, 60), 150, "second failure: 120 s + 25 %");

	/* 1 min doubling up to 6 h, each within +-25 %, both ends reachable. */
	for (long n = 1; n <= 40; n++) {
		long long lo = LLONG_MAX, hi = 0;

		for (size_t i = 0; i < sizeof randoms / sizeof randoms[0]; i++) {
			long long b = task_backoff(n, randoms[i]);

			lo = b < lo ? b : lo;
			hi = b > hi ? b : hi;
		}
		if (lo < want * 3 / 4 || hi > want * 5 / 4) {
			in_bounds = false;
			printf("# attempts %ld: %lld..%lld, want within %lld..%lld\n", n, lo, hi,
			    want * 3 / 4, want * 5 / 4);
		}
		if (task_backoff(n, 0) != want * 3 / 4 || task_backoff(n, (unsigned)(want / 2)) != want * 5 / 4)
			ends_reached = false;
		want = want * 2 > 6 * 3600 ? 6 * 3600 : want * 2;
	}
	ok(in_bounds, "attempts 1..40: within +-25 %% of 1 min doubling, capped at 6 h");
	ok(ends_reached, "attempts 1..40: both -25 %% and +25 %% are reached");
	is_int(task_backoff(9, 0), 15360 * 3 / 4, "attempts 9: 256 min - 25 %");
	is_int(task_backoff(10, 0), 16200, "attempts 10: capped, 6 h - 25 %");
	is_int(task_backoff(10, UINT_MAX) <= 27000, 1, "attempts 10: at most 6 h + 25 %");
	ok(task_backoff(LONG_MAX, UINT_MAX) >= 16200 && task_backoff(LONG_MAX, UINT_MAX) <= 27000,
	    "attempts LONG_MAX: within the 6 h bounds");
	ok(task_backoff(0, 0) >= 45 && task_backoff(0, UINT_MAX) <= 75, "attempts 0: like the first");
	ok(task_backoff(-3, 5) >= 45 && task_backoff(-3, 5) <= 75, "negative attempts: like the first");
}

/* ---- JSON ---- */

static void
test_to_json(void)
{
	struct task t;
	char *json, perr[128];
	yajl_val root;

	full_task(&t, TID);
	t.state = TASK_PENDING;
	json = task_to_json(&t, TASK_ACTIVE);
	ok(json != NULL && strchr(json, '\n') == NULL, "task_to_json: one line, no newline");
	root = json ? yajl_tree_parse(json, perr, sizeof perr) : NULL;
	ok(root != NULL && YAJL_IS_OBJECT(root), "valid JSON object: %s", root ? "" : perr);
	if (root != NULL) {
		const char *ps[] = { "state", NULL }, *pm[] = { "msg", NULL }, *ph[] = { "hookOwed", NULL };
		const char *pf[] = { "files", NULL }, *pb[] = { "duplicates", NULL };
		yajl_val v = yajl_tree_get(root, ps, yajl_t_string), f;

		is_str(v ? YAJL_GET_STRING(v) : NULL, "active", "shown as active when asked");
		v = yajl_tree_get(root, pm, yajl_t_string);
		is_str(v ? YAJL_GET_STRING(v) : NULL, NASTY_MSG, "msg escaped and intact");
		v = yajl_tree_get(root, ph, yajl_t_string);
		is_str(v ? YAJL_GET_STRING(v) : NULL, "on_failed", "hookOwed named");
		v = yajl_tree_get(root, pb, yajl_t_number);
		ok(v && YAJL_IS_INTEGER(v) && YAJL_GET_INTEGER(v) == 42, "duplicates a number");
		f = yajl_tree_get(root, pf, yajl_t_array);
		ok(f && YAJL_IS_ARRAY(f) && f->u.array.len == 3, "three files");
		yajl_tree_free(root);
	}
	ok(t.state == TASK_PENDING, "the task itself is unchanged");
	free(json);

	json = task_to_json(&t, TASK_PENDING);
	ok(json && strstr(json, "\"state\":\"pending\""), "shown as pending when asked");
	free(json);

	/* Owed hooks by name. */
	t.hook_owed = HOOK_NONE;
	json = task_to_json(&t, TASK_DONE);
	ok(json && strstr(json, "\"hookOwed\":\"\"") && strstr(json, "\"state\":\"done\""),
	    "no hook owed: \"\"; shown done");
	free(json);
	t.hook_owed = HOOK_ON_DONE;
	json = task_to_json(&t, TASK_DONE);
	ok(json && strstr(json, "\"hookOwed\":\"on_done\""), "on_done owed");
	free(json);

	/* A message that is not UTF-8 (cannot come from the parser) still gives valid JSON. */
	task_set(&t.msg, "%s", "bad \xff\xfe bytes");
	json = task_to_json(&t, TASK_PENDING);
	root = json ? yajl_tree_parse(json, perr, sizeof perr) : NULL;
	ok(root != NULL, "invalid UTF-8 in msg: still valid JSON");
	yajl_tree_free(root);
	free(json);

	/* NULL strings (a zeroed task) are written as "". */
	task_free(&t);
	snprintf(t.task_id, sizeof t.task_id, "%s", "t_zero");
	json = task_to_json(&t, TASK_PENDING);
	ok(json && strstr(json, "\"msg\":\"\"") && strstr(json, "\"files\":[]"),
	    "a zeroed task: empty strings, no files");
	free(json);
	is_str(task_state_name(TASK_PENDING), "pending", "state name pending");
	is_str(task_state_name(TASK_ACTIVE), "active", "state name active");
	is_str(task_state_name(TASK_DONE), "done", "state name done");
	is_str(task_state_name(TASK_FAILED), "failed", "state name failed");
}

static size_t parse_read;	/* how many texts parse_agrees() saw both read */

/* Whether task_parse() and the reference reader agree on len bytes of data. */
static bool
parse_agrees(const char *data, size_t len, const char *task_id, char *why, size_t whylen)
{
	struct task a, b;
	char err[256], *copy = malloc(len + 1), *ja = NULL, *jb = NULL;
	int ra, rb;
	bool same;

	if (copy == NULL)
		return false;
	memcpy(copy, data, len);
	copy[len] = '\0';
	ra = task_parse(copy, len, task_id, &a, err, sizeof err);
	rb = ref_task_parse(copy, task_id, &b);
	if (ra == 0)
		ja = task_to_json(&a, a.state);
	if (rb == 0)
		jb = task_to_json(&b, b.state);
	same = ra == rb && (ra < 0 || (ja && jb && strcmp(ja, jb) == 0 && a.nfiles == b.nfiles));
	if (same && ra == 0)
		parse_read++;
	if (!same)
		snprintf(why, whylen, "new %d, reference %d: %.300s | %.300s", ra, rb,
		    ja ? ja : err, jb ? jb : "-");
	if (ra == 0)
		task_free(&a);
	if (rb == 0)
		task_free(&b);
	free(ja);
	free(jb);
	free(copy);
	return same;
}

static void
test_parse_reference(void)
{
	static const char *const crafted[] = {
		"{\"taskId\":\"t\",\"state\":\"done\"}",
		"{\"taskId\":\"t\",\"state\":\"done\",\"state\":\"failed\",\"code\":1,\"code\":2}",
		"{\"taskId\":\"t\",\"state\":\"active\",\"msg\":5,\"msg\":\"late\",\"error\":null}",
		"{\"state\":\"done\",\"taskId\":\"t\",\"taskId\":\"u\"}",
		"{\"taskId\":\"u\",\"taskId\":\"t\",\"state\":\"done\"}",
		"{\"taskId\":\"t\",\"state\":\"Done\"}",
		"{\"taskId\":\"t\"}",
		"{\"taskId\":\"t\",\"state\":\"done\",\"attempts\":1.5,\"code\":1e3,\"updated\":-0,"
		    "\"firstSeen\":9223372036854775807,\"nextAttempt\":9223372036854775808,"
		    "\"expected\":-9223372036854775808,\"nextAsk\":-9223372036854775807,"
		    "\"duplicates\":-1,\"forbidden\":\"3\",\"noRecord\":true}",
		"{\"taskId\":\"t\",\"state\":\"done\",\"fallback\":true,\"fallback\":false}",
		"{\"taskId\":\"t\",\"state\":\"done\",\"fallback\":1}",
		"{\"taskId\":\"t\",\"state\":\"done\",\"upgrade\":[1],\"upgrade\":{\"state\":\"done\"}}",
		"{\"taskId\":\"t\",\"state\":\"done\",\"upgrade\":{\"kind\":\"4k\",\"kind\":\"1080p\","
		    "\"state\":\"requested\",\"since\":5,\"asked\":2,\"error\":\"e\",\"x\":{\"state\":1}}}",
		"{\"taskId\":\"t\",\"state\":\"done\",\"upgrade\":{\"state\":\"bogus\",\"error\":[\"e\"]}}",
		"{\"taskId\":\"t\",\"state\":\"done\",\"files\":{\"kind\":\"result\"}}",
		"{\"taskId\":\"t\",\"state\":\"done\",\"files\":[1,null,\"x\",[{\"url\":\"u\"}],{},"
		    "{\"kind\":\"result\",\"url\":\"https://h/a.mp4\",\"path\":\"/d/a\",\"bytes\":10,"
		    "\"sha256\":\"ab\",\"done\":true,\"done\":false,\"url\":\"late\"}],\"files\":[]}",
		"{\"taskId\":\"t\",\"state\":\"done\",\"files\":[{\"kind\":\"resultresultresult\","
		    "\"sha256\":\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdefXX\"}]}",
		"{\"taskId\":\"t\",\"state\":\"done\",\"hookOwed\":\"on_done\",\"source\":\"record-info\","
		    "\"awaiting\":\"verify\",\"hookOwed\":\"on_failed\",\"source\":\"x\"}",
		"{\"taskId\":\"t\",\"state\":\"pending\",\"awaiting\":\"callback\",\"reason\":\"stale\"}",
		"{\"taskId\":\"t\",\"state\":\"done\",\"resolution\":\"0123456789abcdefghij\"}",
		"{\"taskId\":\"t\",\"state\":\"done\",\"deep\":{\"a\":[[[{\"state\":\"x\"}]]],"
		    "\"files\":[1]},\"files\":[{\"kind\":\"origin\"}]}",
		"/* c */ {\"taskId\":\"t\", // line\n \"state\" : \"done\" } \n",
		"{ \"taskId\" : \"t\" , \"state\" : \"failed\" , \"msg\" : \"a\\u0000b\" }",
		"{\"taskId\":\"t\\u0000x\",\"state\":\"done\\u0000y\"}",
		"{\"taskId\\u0000z\":\"t\",\"state\":\"done\"}",
		"{\"taskId\":\"t\",\"state\":\"done\",\"msg\":\"caf\xc3\xa9 \\ud83c\\udfac \\\"q\\\"\"}",
		"{\"taskId\":\"t\",\"state\":\"done\",\"msg\":\"bad \xc3\x28 utf8\"}",
		"{\"taskId\":\"t\",\"state\":\"done\"} {\"taskId\":\"t\"}",
		"{\"taskId\":\"t\",\"state\":\"done\"} x",
		"{\"taskId\":\"t\",\"state\":\"done\"",
		"[{\"taskId\":\"t\",\"state\":\"done\"}]",
		"\"t\"", "5", "null", "", " ", "{}", "{\"taskId\":\"t\",\"state\":\"done\",}",
		"{\"taskId\":\"t\",\"state\":\"done\",\"files\":[{\"done\":true},2,3,4,5,6,7,8,9,10,11,12,"
		    "13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,"
		    "41,42,43,44,45,46,47,48,49,50]}",
	};
	char why[800], *json;
	struct task t;
	unsigned seed = 12345;
	size_t bad = 0, n;

	for (size_t i = 0; i < sizeof crafted / sizeof crafted[0]; i++)
		if (!ok(parse_agrees(crafted[i], strlen(crafted[i]), "t", why, sizeof why),
		    "task_parse agrees with the tree reader: crafted state %zu", i))
			printf("#   %s\n", why);
	/* A NUL inside the text: it ends there, for both. */
	ok(parse_agrees("{\"taskId\":\"t\",\"state\":\"done\"}\0garbage", 37, "t", why, sizeof why),
	    "a NUL byte ends the text");
	ok(parse_agrees("{\"taskId\":\"t\",\0\"state\":\"done\"}", 31, "t", why, sizeof why),
	    "a NUL byte inside the object: refused by both");

	/* Random damage to a full state: flipped, dropped and repeated bytes. */
	full_task(&t, "t");
	t.state = TASK_PENDING;
	t.awaiting = AWAIT_VERIFY;
	t.upgrade = UPGRADE_REQUESTED;
	snprintf(t.upgrade_kind, sizeof t.upgrade_kind, "4k");
	t.upgrade_error = strdup("nope");
	json = task_to_json(&t, TASK_PENDING);
	task_free(&t);
	n = json ? strlen(json) : 0;
	parse_read = 0;
	for (int round = 0; json != NULL && round < 20000; round++) {
		static const char tokens[] = "{}[],:\"0-1.e\\ ntf";
		char buf[4096];
		size_t len = n < sizeof buf ? n : sizeof buf;

		memcpy(buf, json, len);
		for (int k = 0, edits = 1 + rand_r(&seed) % 4; k < edits; k++) {
			size_t at = (size_t)rand_r(&seed) % len, span = 1 + (size_t)rand_r(&seed) % 40;

			switch (rand_r(&seed) % 4) {
			case 0:		/* a structural byte */
				buf[at] = tokens[rand_r(&seed) % (sizeof tokens - 1)];
				break;
			case 1:		/* a range dropped */
				if (at + span > len)
					span = len - at;
				memmove(buf + at, buf + at + span, len - at - span);
				len -= span;
				break;
			case 2:		/* a range repeated (keys twice) */
				if (at + span > len)
					span = len - at;
				if (len + span < sizeof buf) {
					memmove(buf + at + span, buf + at, len - at);
					len += span;
				}
				break;
			default:	/* any byte */
				buf[at] = (char)(rand_r(&seed) & 0xff);
				break;
			}
			if (len == 0)
				break;
		}
		if (!parse_agrees(buf, len, "t", why, sizeof why) && bad++ < 5)
			printf("#   mutation %d: %s\n", round, why);
	}
	ok(json != NULL && bad == 0, "task_parse agrees with the tree reader on 20000 mutated states "
	    "(%zu differ)", bad);
	/* Most damage is refused by both; enough must still be read to compare fields. */
	ok(parse_read > 2000, "of which %zu were read by both", parse_read);
	free(json);
}

int
main(void)
{
	tmptree_make(base);
	test_round_trip();
	test_load_damaged();
	test_recover();
	test_init_from_callback();
	test_from_entry();
	test_backoff();
	test_to_json();
	test_parse_reference();
	tmptree_remove(base);
	return done_testing();
}
