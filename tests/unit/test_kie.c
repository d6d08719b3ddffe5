/*
 * Unit tests for kie, the client of kie.ai's API, against the stand-in
 * tests/lib/kieserver.py (started here, on a loopback port of its
 * choosing): every verdict of the three endpoints, the quirks of the
 * answers, the request headers, deadlines, and the key kept out of every
 * string the client returns.
 */
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "kie.h"
#include "tap.h"

#define KEY "kie-S3CRET-0123456789abcdef"

extern char **environ;

static char dir[] = "/tmp/veo-kie-test.XXXXXX";
static char base[64];
static pid_t server = -1;

static void
path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", dir, name);
}

static void
write_file(const char *name, const char *text)
{
	char p[512], tmp[520];
	FILE *f;

	path(p, sizeof p, name);
	snprintf(tmp, sizeof tmp, "%s.tmp", p);
	if ((f = fopen(tmp, "w")) == NULL || fputs(text, f) == EOF || fclose(f) != 0 ||
	    rename(tmp, p) != 0) {
		printf("Bail out! cannot write %s\n", p);
		exit(1);
	}
}

/* The whole of file name (malloc'd, "" when missing). */
static char *
read_file(const char *name)
{
	char p[512], *buf = NULL;
	size_t len = 0;
	FILE *f, *m = open_memstream(&buf, &len);

	path(p, sizeof p, name);
	if ((f = fopen(p, "r")) != NULL) {
		char chunk[4096];
		size_t n;

		while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
			fwrite(chunk, 1, n, m);
		fclose(f);
	}
	fclose(m);
	return buf;
}

static void
scenario(const char *task, const char *json)
{
	char name[256];

	snprintf(name, sizeof name, "sc/%s.json", task);
	write_file(name, json);
}

/* Lines of the server's log that contain every one of the given words. */
static int
log_count(const char *w1, const char *w2)
{
	char *log = read_file("log"), *save = NULL;
	int n = 0;

	for (char *l = strtok_r(log, "\n", &save); l != NULL; l = strtok_r(NULL, "\n", &save))
		if (strstr(l, w1) != NULL && (w2 == NULL || strstr(l, w2) != NULL))
			n++;
	free(log);
	return n;
}

static const char *
server_script(void)
{
	static char buf[4096];
	const char *env = getenv("KIESERVER");
	char exe[2048];
	ssize_t n;

	if (env != NULL)
		return env;
	if (access("tests/lib/kieserver.py", R_OK) == 0)
		return "tests/lib/kieserver.py";
	/* build/tests/test_kie or build/asan/tests/test_kie */
	if ((n = readlink("/proc/self/exe", exe, sizeof exe - 1)) > 0) {
		exe[n] = '\0';
		for (int up = 3; up <= 4; up++) {
			char *p = exe + strlen(exe);

			for (int i = 0; i < up && p > exe; i++)
				while (--p > exe && *p != '/')
					;
			snprintf(buf, sizeof buf, "%.*s/tests/lib/kieserver.py", (int)(p - exe), exe);
			if (access(buf, R_OK) == 0)
				return buf;
		}
	}
	return NULL;
}

static void
stop_server(void)
{
	char cmd[600];

	if (server > 0) {
		kill(server, SIGTERM);
		waitpid(server, NULL, 0);
		server = -1;
	}
	if (getenv("KEEP_TMP") == NULL) {
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			printf("# could not remove %s\n", dir);
	} else {
		printf("# kept %s\n", dir);
	}
}

static int
start_server(void)
{
	const char *script = server_script();
	char keyf[512], scdir[512], portf[512], logf[512], sc[520];
	char *port;

	if (script == NULL || access("/usr/bin/python3", X_OK) != 0)
		return -1;
	if (mkdtemp(dir) == NULL)
		return -1;
	path(keyf, sizeof keyf, "key");
	path(scdir, sizeof scdir, "sc");
	path(portf, sizeof portf, "port");
	path(logf, sizeof logf, "log");
	snprintf(sc, sizeof sc, "%s", scdir);
	mkdir(sc, 0700);
	write_file("key", KEY "\n");
	{
		char *argv[] = { "python3", (char *)script, "--key-file", keyf, "--scenarios",
		    scdir, portf, logf, NULL };

		if (posix_spawn(&server, "/usr/bin/python3", NULL, NULL, argv, environ) != 0)
			return -1;
	}
	for (int i = 0; i < 200 && access(portf, R_OK) != 0; i++)
		usleep(50000);
	port = read_file("port");
	snprintf(base, sizeof base, "http://127.0.0.1:%d", atoi(port));
	free(port);
	return strcmp(base, "http://127.0.0.1:0") == 0 ? -1 : 0;
}

/* GET base/_control/what, answer ignored. */
static void
control(const char *what)
{
	char url[256];
	CURL *e = curl_easy_init();
	FILE *null = fopen("/dev/null", "w");

	snprintf(url, sizeof url, "%s/_control/%s", base, what);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_PROXY, "");
	curl_easy_setopt(e, CURLOPT_WRITEDATA, null);
	curl_easy_perform(e);
	curl_easy_cleanup(e);
	fclose(null);
}

static struct kie *
client(const char *key, long timeout, time_t deadline)
{
	struct kie_opts o = { .api_base = base, .api_key = key, .request_timeout = timeout,
	    .connect_timeout = 5, .deadline = deadline };
	char err[256];
	struct kie *k = kie_new(&o, err, sizeof err);

	if (k == NULL)
		printf("# kie_new: %s\n", err);
	return k;
}

/* Nothing the client hands back holds the key. */
static bool
keyless(const struct kie_answer *a)
{
	const char *texts[] = { a->error, a->msg, a->error_message, a->resolution };

	for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
		if (texts[i] != NULL && strstr(texts[i], KEY) != NULL)
			return false;
	return true;
}

static int keyleaks;

static void
check(const char *what, enum kie_verdict got, const struct kie_answer *a,
    enum kie_verdict want)
{
	if (!keyless(a))
		keyleaks++;
	if (!ok(got == want && a->verdict == want, "%s: %s", what, kie_verdict_name(want)))
		printf("#   got: %s (%s)\n", kie_verdict_name(got), a->error);
}

/* ---- record-info ---- */

static void
test_record(struct kie *k)
{
	struct kie_answer a = { 0 };
	enum kie_verdict v;

	scenario("r_ok", "{\"record\":{\"flags\":[1],\"resultUrls\":[\"https://cdn.test/r0.mp4\","
	    "\"https://cdn.test/r1.mp4\"],\"originUrls\":[\"https://cdn.test/o0.mp4\"],"
	    "\"resolution\":\"1080p\"}}");
	v = kie_record_info(k, "r_ok", &a);
	check("successFlag 1", v, &a, KIE_SUCCESS);
	is_int(a.success_flag, 1, "successFlag 1: success_flag");
	is_int((long long)a.n_result, 2, "successFlag 1: two resultUrls");
	is_str(a.result_urls ? a.result_urls[1] : NULL, "https://cdn.test/r1.mp4", "resultUrls[1]");
	ok(a.result_urls != NULL && a.result_urls[2] == NULL, "resultUrls is NULL-terminated");
	is_int((long long)a.n_origin, 1, "one originUrl");
	is_str(a.origin_urls ? a.origin_urls[0] : NULL, "https://cdn.test/o0.mp4", "originUrls[0]");
	is_str(a.resolution, "1080p", "resolution");
	ok(!a.fallback && a.error_code == 0 && a.error_message == NULL && a.error[0] == '\0',
	    "no fallback, no error on success");
	is_int(a.http_status, 200, "HTTP 200");
	is_int(a.code, 200, "body code 200");

	scenario("r_gen", "{\"record\":{\"flags\":[0,0,1],\"resultUrls\":[\"https://cdn.test/g.mp4\"]}}");
	v = kie_record_info(k, "r_gen", &a);
	check("successFlag 0 (first)", v, &a, KIE_GENERATING);
	ok(a.n_result == 0 && a.result_urls == NULL && a.success_flag == 0,
	    "generating: no URLs, success_flag 0");
	v = kie_record_info(k, "r_gen", &a);
	check("successFlag 0 (second)", v, &a, KIE_GENERATING);
	v = kie_record_info(k, "r_gen", &a);
	check("generating then successFlag 1", v, &a, KIE_SUCCESS);
	is_str(a.result_urls ? a.result_urls[0] : NULL, "https://cdn.test/g.mp4",
	    "generating then success: the URL");

	scenario("r_f2", "{\"record\":{\"flags\":[2],\"errorCode\":400,\"errorMessage\":"
	    "\"Request temporarily unavailable due to high traffic on Google models.\"}}");
	v = kie_record_info(k, "r_f2", &a);
	check("successFlag 2", v, &a, KIE_FAILED);
	ok(a.success_flag == 2 && a.error_code == 400, "successFlag 2: flag and errorCode 400");
	is_str(a.error_message, "Request temporarily unavailable due to high traffic on Google models.",
	    "successFlag 2: errorMessage kept raw");
	ok(strstr(a.error, "successFlag 2") && strstr(a.error, "errorCode 400") &&
	    strstr(a.error, "high traffic"), "successFlag 2: error names flag, code and message");

	scenario("r_f3", "{\"record\":{\"flags\":[3],\"errorCode\":501,\"errorMessage\":"
	    "\"The Google model was unable to generate audio for this request.\"}}");
	v = kie_record_info(k, "r_f3", &a);
	check("successFlag 3", v, &a, KIE_FAILED);
	ok(a.success_flag == 3 && a.error_code == 501, "successFlag 3: flag and errorCode 501");

	/* Quirks: lists as strings, string numbers, "null", fallbackFlag. */
	scenario("r_quirk", "{\"record\":{\"flags\":[1],\"resultUrls\":[\"https://cdn.test/q.mp4\"],"
	    "\"originUrls\":[\"https://cdn.test/qo.mp4\"],\"urlsAsString\":true,"
	    "\"data\":{\"successFlag\":\"1\",\"errorCode\":\"null\",\"fallbackFlag\":true,"
	    "\"completeTime\":1749711595}}}");
	v = kie_record_info(k, "r_quirk", &a);
	check("lists as JSON strings, successFlag \"1\", errorCode \"null\"", v, &a, KIE_SUCCESS);
	ok(a.n_result == 1 && a.n_origin == 1 && strcmp(a.result_urls[0], "https://cdn.test/q.mp4") == 0,
	    "string-held lists are read");
	ok(a.fallback && a.error_code == 0, "fallbackFlag true; errorCode \"null\" is 0");

	scenario("r_fail_str", "{\"record\":{\"flags\":[3],\"data\":{\"errorCode\":\"422\"}}}");
	v = kie_record_info(k, "r_fail_str", &a);
	check("errorCode as a string", v, &a, KIE_FAILED);
	is_int(a.error_code, 422, "errorCode \"422\" read as 422");

	scenario("r_nourls", "{\"record\":{\"flags\":[1]}}");
	v = kie_record_info(k, "r_nourls", &a);
	check("successFlag 1 without resultUrls: ask later", v, &a, KIE_THROTTLED);

	scenario("r_other", "{\"record\":{\"flags\":[1],\"resultUrls\":[\"https://cdn.test/x.mp4\"],"
	    "\"data\":{\"taskId\":\"someone_else\"}}}");
	v = kie_record_info(k, "r_other", &a);
	check("the record of another taskId is not believed", v, &a, KIE_THROTTLED);

	scenario("r_flag9", "{\"record\":{\"flags\":[9]}}");
	v = kie_record_info(k, "r_flag9", &a);
	check("unknown successFlag", v, &a, KIE_THROTTLED);

	scenario("r_badurl", "{\"record\":{\"flags\":[1],\"resultUrls\":[\"https://cdn.test/a b.mp4\"]}}");
	v = kie_record_info(k, "r_badurl", &a);
	check("a URL with a blank is malformed", v, &a, KIE_THROTTLED);

	kie_answer_free(&a);
}

static void
test_no_record(struct kie *k)
{
	static const char *const shapes[] = { "422-null", "422-notexist", "422-14days", "null", "404" };
	struct kie_answer a = { 0 };
	enum kie_verdict v;
	char name[64], json[128];

	v = kie_record_info(k, "never_heard_of", &a);
	check("unknown task (422 record is null)", v, &a, KIE_NO_RECORD);
	is_int(a.code, 422, "unknown task: body code 422 under HTTP 200");
	ok(strstr(a.error, "record is null") != NULL, "unknown task: error quotes kie.ai's msg");
	for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
		snprintf(name, sizeof name, "nr_%zu", i);
		snprintf(json, sizeof json, "{\"record\":{\"missing\":\"%s\"}}", shapes[i]);
		scenario(name, json);
		v = kie_record_info(k, name, &a);
		snprintf(json, sizeof json, "no record, shape %s", shapes[i]);
		check(json, v, &a, KIE_NO_RECORD);
	}
	kie_answer_free(&a);
}

/* Every "try again later" answer, then the normal answer behind it. */
static void
test_throttled(struct kie *k)
{
	static const struct {
		const char *entry, *name;
		enum kie_verdict want;
	} cases[] = {
		{ "429", "HTTP 429", KIE_THROTTLED },
		{ "455", "HTTP 455", KIE_THROTTLED },
		{ "500", "HTTP 500", KIE_THROTTLED },
		{ "503", "HTTP 503", KIE_THROTTLED },
		{ "\"code:429\"", "body code 429 under HTTP 200", KIE_THROTTLED },
		{ "\"code:455\"", "body code 455 under HTTP 200", KIE_THROTTLED },
		{ "\"code:500\"", "body code 500 under HTTP 200", KIE_THROTTLED },
		{ "\"html\"", "HTTP 502 HTML page", KIE_THROTTLED },
		{ "\"html200\"", "HTTP 200 HTML page", KIE_THROTTLED },
		{ "\"cloudflare\"", "Cloudflare 403 error code: 1010", KIE_THROTTLED },
		{ "\"garbage\"", "cut JSON", KIE_THROTTLED },
		{ "\"big\"", "2 MiB answer", KIE_THROTTLED },
		{ "\"cut\"", "answer cut short", KIE_THROTTLED },
		{ "\"reset\"", "connection closed without answer", KIE_UNREACHABLE },
	};
	struct kie_answer a = { 0 };
	enum kie_verdict v;
	char json[256], name[64], what[128];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		snprintf(name, sizeof name, "th_%zu", i);
		snprintf(json, sizeof json, "{\"record\":{\"errors\":[%s],\"flags\":[1],"
		    "\"resultUrls\":[\"https://cdn.test/t.mp4\"]}}", cases[i].entry);
		scenario(name, json);
		if (cases[i].want == KIE_UNREACHABLE) {
			/* On a fresh connection: libcurl asks again, once, when a
			 * reused one closes without answer. */
			struct kie *fresh = client(KEY, 10, 0);

			v = kie_record_info(fresh, name, &a);
			kie_free(fresh);
		} else {
			v = kie_record_info(k, name, &a);
		}
		check(cases[i].name, v, &a, cases[i].want);
		ok(kie_verdict_transient(v), "%s: transient, not the task's fault", cases[i].name);
		v = kie_record_info(k, name, &a);
		snprintf(what, sizeof what, "%s, then success", cases[i].name);
		check(what, v, &a, KIE_SUCCESS);
	}

	scenario("th_ra", "{\"record\":{\"errors\":[429]}}");
	kie_record_info(k, "th_ra", &a);
	is_int(a.retry_after, 7, "Retry-After of a 429 is kept");
	is_int(a.http_status, 429, "HTTP 429 kept");

	scenario("th_cf", "{\"record\":{\"errors\":[\"cloudflare\"]}}");
	kie_record_info(k, "th_cf", &a);
	ok(strstr(a.error, "Cloudflare") != NULL && strstr(a.error, "1010") != NULL,
	    "Cloudflare refusal said so: %s", a.error);
	scenario("th_html", "{\"record\":{\"errors\":[\"html200\"]}}");
	kie_record_info(k, "th_html", &a);
	ok(strstr(a.error, "not its JSON envelope") != NULL && strstr(a.error, "text/html") != NULL,
	    "HTML answer said so: %s", a.error);
	scenario("th_402", "{\"record\":{\"errors\":[\"code:402\"]}}");
	v = kie_record_info(k, "th_402", &a);
	check("record-info body code 402", v, &a, KIE_REFUSED);
	kie_answer_free(&a);
}

static void
test_auth(void)
{
	struct kie *bad = client("wrong-key-not-valid", 10, 0);
	struct kie_answer a = { 0 };
	enum kie_verdict v;

	scenario("au", "{\"record\":{\"flags\":[1],\"resultUrls\":[\"https://cdn.test/a.mp4\"]}}");
	v = kie_record_info(bad, "au", &a);
	check("wrong key (HTTP 401)", v, &a, KIE_AUTH);
	ok(strstr(a.error, "api_key") != NULL, "the 401 error names api_key: %s", a.error);
	ok(!kie_verdict_transient(v), "401 is not a transient answer");
	control("auth-style?style=body");
	v = kie_record_info(bad, "au", &a);
	check("wrong key (body code 401 under HTTP 200)", v, &a, KIE_AUTH);
	ok(strstr(a.error, "api_key") != NULL, "body 401: the error names api_key");
	v = kie_get_1080p(bad, "au", 0, &a);
	check("wrong key on 1080p", v, &a, KIE_AUTH);
	v = kie_get_4k(bad, "au", 0, NULL, &a);
	check("wrong key on 4k", v, &a, KIE_AUTH);
	control("auth-style?style=http");
	is_int(log_count("auth=bad", NULL), 4, "the stand-in saw four requests with a wrong key");
	kie_answer_free(&a);
	kie_free(bad);
}

/* ---- 1080p and 4K ---- */

static void
test_1080p(struct kie *k)
{
	struct kie_answer a = { 0 };
	enum kie_verdict v;

	scenario("p1", "{\"1080p\":{\"notReady\":2,\"resultUrls\":[\"https://cdn.test/p0.mp4\","
	    "\"https://cdn.test/p1.mp4\"]}}");
	v = kie_get_1080p(k, "p1", 1, &a);
	check("1080p: 400 processing", v, &a, KIE_GENERATING);
	ok(!a.ready && a.result_url == NULL && a.code == 400, "not ready: no URL, body code 400");
	v = kie_get_1080p(k, "p1", 1, &a);
	check("1080p: processing again", v, &a, KIE_GENERATING);
	v = kie_get_1080p(k, "p1", 1, &a);
	check("1080p: ready", v, &a, KIE_SUCCESS);
	ok(a.ready, "ready flag set");
	is_str(a.result_url, "https://cdn.test/p1.mp4", "resultUrl of index 1 (one string)");
	ok(a.n_result == 1 && a.result_urls[0] == a.result_url, "also as a one-element list");
	is_int(log_count("get-1080p-video", "taskId=p1&index=1"), 3, "index sent in the query");
	{
		char *url = kie_answer_take_url(&a);

		is_str(url, "https://cdn.test/p1.mp4", "kie_answer_take_url: the URL, now ours");
		ok(!a.ready && a.result_url == NULL && a.n_result == 0 && a.result_urls[0] == NULL,
		    "and the answer no longer holds it");
		ok(kie_answer_take_url(&a) == NULL, "a second take: NULL");
		free(url);
	}
	v = kie_get_1080p(k, "p1", 0, &a);
	check("1080p: index 0 is counted apart", v, &a, KIE_GENERATING);

	scenario("p500", "{\"1080p\":{\"notReady\":1,\"notReadyCode\":500}}");
	v = kie_get_1080p(k, "p500", 0, &a);
	check("1080p: body 500 while processing is not ready", v, &a, KIE_GENERATING);
	v = kie_get_1080p(k, "p500", 0, &a);
	check("1080p: then ready", v, &a, KIE_SUCCESS);

	scenario("p429", "{\"1080p\":{\"errors\":[429,\"cloudflare\"]}}");
	v = kie_get_1080p(k, "p429", 0, &a);
	check("1080p: 429", v, &a, KIE_THROTTLED);
	ok(kie_answer_take_url(&a) == NULL, "kie_answer_take_url of an answer not ready: NULL");
	v = kie_get_1080p(k, "p429", 0, &a);
	check("1080p: Cloudflare", v, &a, KIE_THROTTLED);

	scenario("pmiss", "{\"1080p\":{\"missing\":\"422-notexist\"}}");
	v = kie_get_1080p(k, "pmiss", 0, &a);
	check("1080p: 422 record does not exist", v, &a, KIE_NO_RECORD);
	v = kie_get_1080p(k, "no_such_p", 0, &a);
	check("1080p: unknown task", v, &a, KIE_NO_RECORD);
	scenario("p402", "{\"1080p\":{\"refuse\":{\"code\":402,\"msg\":\"Credits insufficient\"}}}");
	v = kie_get_1080p(k, "p402", 0, &a);
	check("1080p: 402 credits", v, &a, KIE_REFUSED);
	ok(strstr(a.error, "402") && strstr(a.error, "Credits insufficient"),
	    "402: error has code and msg: %s", a.error);
	kie_answer_free(&a);
}

static void
test_4k(struct kie *k)
{
	struct kie_answer a = { 0 };
	enum kie_verdict v;

	scenario("k1", "{\"4k\":{\"processing\":1,\"resultUrls\":[\"https://cdn.test/k.mp4\"]}}");
	v = kie_get_4k(k, "k1", 0, "https://me.test/veo?token=t0k", &a);
	check("4k: first answer", v, &a, KIE_REQUESTED);
	ok(a.n_result == 0 && a.code == 200, "requested: no URL yet, code 200");
	is_int(log_count("\"callBackUrl\":\"https://me.test/veo?...\"", "\"index\":0"), 1,
	    "4k: POSTed taskId, index and callBackUrl");
	v = kie_get_4k(k, "k1", 0, NULL, &a);
	check("4k: 422 processing", v, &a, KIE_GENERATING);
	is_int(a.code, 422, "processing: body code 422");
	v = kie_get_4k(k, "k1", 0, NULL, &a);
	check("4k: 422 with resultUrls is done", v, &a, KIE_SUCCESS);
	is_int(a.code, 422, "done: body code still 422");
	is_str(a.n_result ? a.result_urls[0] : NULL, "https://cdn.test/k.mp4", "4k: resultUrls[0]");
	is_int(log_count("get-4k-video", "\"callBackUrl\""), 1, "no callBackUrl when NULL");

	scenario("kmiss", "{\"4k\":{\"missing\":\"422-14days\"}}");
	v = kie_get_4k(k, "kmiss", 0, NULL, &a);
	check("4k: older than 14 days", v, &a, KIE_NO_RECORD);
	scenario("k400", "{\"4k\":{\"refuse\":{\"code\":400,\"msg\":\"not available\"}}}");
	v = kie_get_4k(k, "k400", 0, NULL, &a);
	check("4k: 400", v, &a, KIE_REFUSED);
	scenario("k5xx", "{\"4k\":{\"errors\":[\"code:500\",455]}}");
	v = kie_get_4k(k, "k5xx", 0, NULL, &a);
	check("4k: body 500", v, &a, KIE_THROTTLED);
	v = kie_get_4k(k, "k5xx", 0, NULL, &a);
	check("4k: HTTP 455", v, &a, KIE_THROTTLED);
	v = kie_get_4k(k, "k5xx", 0, NULL, &a);
	check("4k: then requested", v, &a, KIE_REQUESTED);
	kie_answer_free(&a);
}

/* ---- limits, setup, secrets ---- */

static void
test_time(void)
{
	struct kie_answer a = { 0 };
	struct kie *k;
	enum kie_verdict v;
	time_t t0;
	int before;

	k = client(KEY, 10, time(NULL) - 1);
	before = log_count("record-info", NULL);
	v = kie_record_info(k, "r_ok", &a);
	check("deadline passed", v, &a, KIE_NOT_ASKED);
	is_int(log_count("record-info", NULL), before, "deadline passed: nothing sent");
	kie_free(k);

	scenario("slow", "{\"record\":{\"errors\":[\"slow:4\",\"slow:4\"],\"flags\":[0]}}");
	k = client(KEY, 10, time(NULL) + 2);
	t0 = time(NULL);
	v = kie_record_info(k, "slow", &a);
	check("a slow answer is cut at the deadline", v, &a, KIE_UNREACHABLE);
	ok(time(NULL) - t0 <= 3, "the deadline held (%lld s)", (long long)(time(NULL) - t0));
	ok(strstr(a.error, "time limit") != NULL, "error says the time limit: %s", a.error);
	kie_free(k);

	k = client(KEY, 1, 0);
	t0 = time(NULL);
	v = kie_record_info(k, "slow", &a);
	check("request_timeout 1 s", v, &a, KIE_UNREACHABLE);
	ok(time(NULL) - t0 <= 2, "request_timeout held (%lld s)", (long long)(time(NULL) - t0));
	kie_free(k);
	kie_answer_free(&a);
}

static void
test_new(void)
{
	static const struct {
		const char *key, *base, *want;
	} cases[] = {
		{ NULL, NULL, "api_key is not set" },
		{ "", NULL, "api_key is not set" },
		{ "Xk9q2", NULL, "too short" },
		{ "abcdefgh\r\nX-Evil: 1", NULL, "control" },
		{ "abcdef ghijkl", NULL, "blank" },
		{ KEY, "ftp://api.kie.ai", "api_base" },
		{ KEY, "https://api.kie.ai/?x=1", "api_base" },
	};
	struct kie_opts o = { 0 };
	char err[256];
	struct kie *k;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		o.api_key = cases[i].key;
		o.api_base = cases[i].base;
		err[0] = '\0';
		k = kie_new(&o, err, sizeof err);
		ok(k == NULL && strstr(err, cases[i].want) != NULL &&
		    (cases[i].key == NULL || *cases[i].key == '\0' || strstr(err, cases[i].key) == NULL),
		    "kie_new refuses case %zu: %s", i, err);
	}
	o.api_key = KEY;
	o.api_base = "https://api.kie.ai///";
	k = kie_new(&o, err, sizeof err);
	ok(k != NULL, "trailing slashes of api_base are fine");
	kie_free(k);
	o.api_base = NULL;
	k = kie_new(&o, err, sizeof err);
	ok(k != NULL, "api_base defaults (%s)", KIE_DEFAULT_BASE);
	kie_free(k);
}

static void
test_secret(struct kie *k)
{
	struct kie_answer a = { 0 };
	enum kie_verdict v;

	scenario("echo", "{\"record\":{\"flags\":[3],\"errorCode\":500,\"errorMessage\":"
	    "\"bad key " KEY " here\"}}");
	v = kie_record_info(k, "echo", &a);
	check("an answer that quotes the key", v, &a, KIE_FAILED);
	is_str(a.error_message, "bad key *** here", "the key is replaced in errorMessage");
	ok(strstr(a.error, KEY) == NULL && strstr(a.error, "***") != NULL, "and in the error line");
	kie_answer_free(&a);
	ok(keyleaks == 0, "no answer of this test held the key (%d did)", keyleaks);
	is_int(log_count(KEY, NULL), 0, "the stand-in's log never holds the key");
	is_int(log_count("leak=yes", NULL), 0, "the key travelled only in Authorization");
	is_int(log_count("/api/v1/veo/", "ua=veo-spooler/" VEO_VERSION),
	    log_count("/api/v1/veo/", NULL), "every request says User-Agent veo-spooler/VERSION");
	is_int(log_count("/api/v1/veo/", "gzip=yes"), log_count("/api/v1/veo/", NULL),
	    "every request accepts gzip");
	is_int(log_count("/api/v1/veo/", "auth=none"), 0, "every request carries Authorization");
}

static void
test_pure(void)
{
	char *x[] = { "a", "b", NULL }, *y[] = { "a", "b", NULL }, *z[] = { "b", "a", NULL };

	is_int(kie_backoff(60, 1, 0, 0), 60, "backoff: first failure waits poll_interval");
	is_int(kie_backoff(60, 3, 0, 0), 240, "backoff: doubles per failure");
	is_int(kie_backoff(60, 30, 0, 0), 3600, "backoff: at most an hour");
	is_int(kie_backoff(60, 1, 300, 0), 300, "backoff: at least Retry-After");
	ok(kie_backoff(60, 1, 0, 14) == 74 && kie_backoff(60, 1, 0, 15) == 60 + 15 % 16,
	    "backoff: jitter up to a quarter");
	ok(kie_backoff(0, 1, 0, 0) == 1, "backoff: never zero");
	ok(kie_urls_equal(x, 2, y, 2) && !kie_urls_equal(x, 2, z, 2) && !kie_urls_equal(x, 2, y, 1),
	    "kie_urls_equal: order and length count");
	ok(strcmp(kie_verdict_name(KIE_AUTH), "auth-error") == 0 &&
	    strcmp(kie_verdict_name(KIE_NO_RECORD), "no-record") == 0, "verdict names");
}

int
main(void)
{
	struct kie *k;

	test_pure();
	curl_global_init(CURL_GLOBAL_DEFAULT);
	test_new();
	if (start_server() < 0) {
		printf("ok %d # skip the stand-in tests/lib/kieserver.py could not start\n", ++tap_n);
		stop_server();
		curl_global_cleanup();
		return done_testing();
	}
	if ((k = client(KEY, 10, 0)) == NULL) {
		printf("Bail out! no client\n");
		stop_server();
		return 1;
	}
	test_record(k);
	test_no_record(k);
	test_throttled(k);
	test_auth();
	test_1080p(k);
	test_4k(k);
	test_time();
	test_secret(k);
	kie_free(k);
	stop_server();
	curl_global_cleanup();
	return done_testing();
}
