/*
 * test_config: the four layers (request > environment > file > default),
 * the file syntax, value rules, and that errors name the key and the source
 * but never a secret.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "tap.h"

#define SECRET_TOKEN	"tok-S3CRET-aaaa"
#define SECRET_HMAC	"hmac-S3CRET-bbbb"
#define SECRET_PREV	"prev-S3CRET-cccc"

static char dir[] = "/tmp/veo-test-config.XXXXXX";

/*
 * strdup() that fails on its n-th call once armed: this definition takes
 * the place of libc's for config.c, linked statically into this test.
 */
static int strdup_fail_at, strdup_calls;

char *
strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d;

	if (strdup_fail_at > 0 && ++strdup_calls == strdup_fail_at)
		return NULL;
	if ((d = malloc(n)) != NULL)
		memcpy(d, s, n);
	return d;
}
static char conf[PATH_MAX];

/* Request parameters for config_resolve(): a NULL-terminated name/value list. */
struct params {
	const char *kv[16];
};

static const char *
param_get(void *ctx, const char *name)
{
	struct params *p = ctx;

	for (int i = 0; p->kv[i] != NULL; i += 2)
		if (strcmp(p->kv[i], name) == 0)
			return p->kv[i + 1];
	return NULL;
}

/* A TAP skip: "ok N # skip why" (tap.h's ok() would put " - " before the '#'). */
static void
skip(const char *why)
{
	printf("ok %d # skip %s\n", ++tap_n, why);
}

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0) {
		printf("Bail out! cannot write %s\n", path);
		exit(1);
	}
}

/* Clears every VEO_ variable this module reads, so the caller's shell cannot leak in. */
static void
clean_env(void)
{
	char name[64];

	for (int k = 0; k < K_COUNT; k++) {
		const char *n = config_key_name(k);
		size_t i;

		strcpy(name, "VEO_");
		for (i = 0; n[i]; i++)
			name[4 + i] = (char)(n[i] >= 'a' && n[i] <= 'z' ? n[i] - 32 : n[i]);
		name[4 + i] = '\0';
		unsetenv(name);
	}
	unsetenv("VEO_CONFIG");
}

/* Loads conf with text and resolves it with p; returns config_resolve's result. */
static int
load_resolve(const char *text, struct params *p, struct config *c, struct settings *s,
    char *err, size_t errlen)
{
	write_file(conf, text);
	setenv("VEO_CONFIG", conf, 1);
	if (config_load(c, err, errlen) < 0)
		return -2;
	return config_resolve(c, p ? param_get : NULL, p, s, err, errlen);
}

static void
test_defaults(void)
{
	struct config c;
	struct settings s;
	char err[256] = "";

	clean_env();
	ok(load_resolve("", NULL, &c, &s, err, sizeof err) == 0, "empty file resolves: %s", err);
	is_str(s.spool_dir, "/var/spool/veo-callback", "default spool_dir");
	is_str(s.download_dir, "/var/lib/veo-callback/videos", "default download_dir");
	ok(s.token == NULL && s.hmac_key == NULL && s.hmac_key_previous == NULL,
	    "secrets unset by default");
	ok(s.allow_from == NULL && s.allow_hosts == NULL && s.ca_file == NULL &&
	    s.on_done == NULL && s.on_failed == NULL, "optional strings unset by default");
	is_int(s.hmac_tolerance, 300, "default hmac_tolerance 300");
	is_int(s.max_body, 64 * 1024, "default max_body 64K");
	ok(s.sync == true, "default sync yes");
	ok(s.https_only == true && s.allow_private == false, "default https_only yes, allow_private no");
	is_int(s.parallel, 16, "default parallel");
	is_int(s.per_host, 16, "default per_host: every result comes from one host");
	is_int(s.min_free, 8 << 20, "default min_free 8M");
	is_int(s.max_file_size, 4LL << 30, "default max_file_size 4G");
	is_str(c.path, conf, "config remembers the file it read");
	config_free(&c);
}

/* One key through all four layers. */
static void
test_precedence(void)
{
	struct params p = { { NULL } };
	struct config c;
	struct settings s;
	enum config_source src;
	char err[256] = "";
	const char *file = "spool_dir = /file/spool\nmax_body = 128K\nsync = no\n"
	    "hmac_tolerance = 60\ntoken = file-token\nparallel = 8\n";

	clean_env();
	ok(load_resolve(file, NULL, &c, &s, err, sizeof err) == 0, "file layer resolves: %s", err);
	is_str(s.spool_dir, "/file/spool", "file beats default: spool_dir");
	is_int(s.max_body, 128 * 1024, "file beats default: max_body");
	ok(s.sync == false, "file beats default: sync");
	is_int(s.hmac_tolerance, 60, "file beats default: hmac_tolerance");
	is_str(s.token, "file-token", "file beats default: token");
	config_raw(&c, NULL, NULL, K_MAX_BODY, &src);
	is_int(src, SRC_FILE, "max_body source is the file");
	config_raw(&c, NULL, NULL, K_RETRY_AFTER, &src);
	is_int(src, SRC_DEFAULT, "retry_after source is the default");
	config_free(&c);

	setenv("VEO_SPOOL_DIR", "/env/spool", 1);
	setenv("VEO_MAX_BODY", "1M", 1);
	setenv("VEO_SYNC", "on", 1);
	setenv("VEO_TOKEN", "env-token", 1);
	ok(load_resolve(file, NULL, &c, &s, err, sizeof err) == 0, "env layer resolves: %s", err);
	is_str(s.spool_dir, "/env/spool", "env beats file: spool_dir");
	is_int(s.max_body, 1 << 20, "env beats file: max_body");
	ok(s.sync == true, "env beats file: sync");
	is_str(s.token, "env-token", "env beats file: token");
	is_int(s.hmac_tolerance, 60, "file still used where env is silent");
	config_raw(&c, NULL, NULL, K_SYNC, &src);
	is_int(src, SRC_ENV, "sync source is the environment");
	config_free(&c);

	/* The environment is read at load time, not at resolve time. */
	setenv("VEO_PARALLEL", "2", 1);
	ok(load_resolve(file, NULL, &c, &s, err, sizeof err) == 0, "reload");
	setenv("VEO_PARALLEL", "3", 1);
	ok(config_resolve(&c, NULL, NULL, &s, err, sizeof err) == 0 && s.parallel == 2,
	    "environment captured by config_load");
	unsetenv("VEO_PARALLEL");
	config_free(&c);
	ok(load_resolve(file, NULL, &c, &s, err, sizeof err) == 0, "reload without VEO_PARALLEL");

	/* Request parameters beat everything, and only for their own keys. */
	p = (struct params){ { "VEO_SPOOL_DIR", "/req/spool", "VEO_SYNC", "false",
	    "VEO_TOKEN", "req-token", "VEO_HMAC_TOLERANCE", "5", "veo_max_body", "2M",
	    "VEO_BOGUS", "x", NULL } };
	ok(config_resolve(&c, param_get, &p, &s, err, sizeof err) == 0, "request layer resolves: %s", err);
	is_str(s.spool_dir, "/req/spool", "request beats env: spool_dir");
	ok(s.sync == false, "request beats env: sync");
	is_str(s.token, "req-token", "request beats env: token");
	ok(s.token == p.kv[5], "settings point into the request parameters");
	is_int(s.hmac_tolerance, 5, "request beats file: hmac_tolerance");
	is_int(s.max_body, 1 << 20, "parameter names are upper case: veo_max_body ignored");
	is_int(s.parallel, 8, "file still used where request and env are silent");
	is_int(s.retry_after, 30, "default used where every layer is silent");
	config_raw(&c, param_get, &p, K_SPOOL_DIR, &src);
	is_str(config_source_name(src), "request", "spool_dir source is the request");
	config_raw(&c, param_get, &p, K_HMAC_TOLERANCE, &src);
	is_str(config_source_name(src), "request", "hmac_tolerance source is the request");
	config_raw(&c, param_get, &p, K_MAX_BODY, &src);
	is_str(config_source_name(src), "environment", "max_body source is the environment");
	config_raw(&c, param_get, &p, K_PARALLEL, &src);
	is_str(config_source_name(src), "file", "parallel source is the file");
	config_raw(&c, param_get, &p, K_KEEP_DAYS, &src);
	is_str(config_source_name(src), "default", "keep_days source is the default");

	/* Without a param callback the request layer is skipped. */
	ok(config_resolve(&c, NULL, &p, &s, err, sizeof err) == 0 &&
	    strcmp(s.spool_dir, "/env/spool") == 0, "NULL param callback: no request layer");
	config_free(&c);
	clean_env();
}

/* An empty value at any layer switches a string key off. */
static void
test_empty_unsets(void)
{
	struct params p = { { "VEO_HMAC_KEY", "", NULL } };
	struct config c;
	struct settings s;
	char err[256] = "";

	clean_env();
	setenv("VEO_TOKEN", "", 1);
	ok(load_resolve("token = " SECRET_TOKEN "\nhmac_key = " SECRET_HMAC "\nallow_from =\n"
	    "ca_file = \t \n", &p, &c, &s, err, sizeof err) == 0, "empty values resolve: %s", err);
	ok(s.token == NULL, "empty env value unsets the file's token");
	/* A web-server variable that expands to nothing must not switch a secret off. */
	ok(s.hmac_key != NULL && strcmp(s.hmac_key, SECRET_HMAC) == 0,
	    "empty request value counts as absent: the file's hmac_key stays");
	ok(s.allow_from == NULL, "empty file value is unset");
	ok(s.ca_file == NULL, "blank file value is unset");
	config_free(&c);

	/* spool_dir has no meaning unset, so emptying it is an error. */
	clean_env();
	setenv("VEO_SPOOL_DIR", "", 1);
	ok(load_resolve("", NULL, &c, &s, err, sizeof err) == -1 &&
	    strstr(err, "spool_dir") != NULL, "empty spool_dir refused: %s", err);
	config_free(&c);
	clean_env();
	ok(load_resolve("spool_dir = var/spool\n", NULL, &c, &s, err, sizeof err) == -1 &&
	    strstr(err, "spool_dir must be an absolute path") != NULL, "relative spool_dir refused");
	config_free(&c);
	/* Nor download_dir (found by tests/fuzz/fuzz_config.c: "(null)/<taskId>" paths). */
	clean_env();
	ok(load_resolve("download_dir =\n", NULL, &c, &s, err, sizeof err) == -1 &&
	    strstr(err, "download_dir") != NULL, "empty download_dir refused: %s", err);
	config_free(&c);
}

static void
test_file_syntax(void)
{
	struct config c;
	struct settings s;
	char err[256] = "";

	clean_env();
	ok(load_resolve("# a comment\n\n   \n\t# indented comment\n"
	    "  spool_dir\t=\t/a/b  \r\n"
	    "token=a=b#c d\n"
	    "#token = commented\n"
	    "download_dir = /first\n"
	    "download_dir = /second\n"
	    "max_body = 1K", NULL, &c, &s, err, sizeof err) == 0, "comments, blanks, CRLF: %s", err);
	is_str(s.spool_dir, "/a/b", "blanks and CR around key and value trimmed");
	is_str(s.token, "a=b#c d", "value keeps '=', '#' and inner blanks");
	is_str(s.download_dir, "/second", "a later line overrides an earlier one");
	is_int(s.max_body, 1024, "last line without a newline is read");
	config_free(&c);

	ok(load_resolve("spool_dir = /x\n# ok\nbogus_key = 1\n", NULL, &c, &s, err, sizeof err) == -2,
	    "unknown key refused");
	ok(strstr(err, conf) != NULL && strstr(err, ":3:") != NULL &&
	    strstr(err, "unknown key 'bogus_key'") != NULL, "error names file:line and key: %s", err);
	config_free(&c);

	ok(load_resolve("Spool_Dir = /x\n", NULL, &c, &s, err, sizeof err) == -2 &&
	    strstr(err, ":1: unknown key 'Spool_Dir'") != NULL, "keys are case-sensitive");
	config_free(&c);

	ok(load_resolve("\n\nhmac_key " SECRET_HMAC "\n", NULL, &c, &s, err, sizeof err) == -2 &&
	    strstr(err, ":3:") != NULL && strstr(err, SECRET_HMAC) == NULL,
	    "line without '=' refused, its text not shown: %s", err);
	config_free(&c);

	ok(load_resolve("token = " SECRET_TOKEN "\nhmac_kee = " SECRET_HMAC "\n", NULL, &c, &s,
	    err, sizeof err) == -2 && strstr(err, ":2: unknown key 'hmac_kee'") != NULL &&
	    strstr(err, SECRET_HMAC) == NULL && strstr(err, SECRET_TOKEN) == NULL,
	    "misspelt secret key: error shows the key, not the value");
	config_free(&c);

	{
		char *big = malloc(5000);

		strcpy(big, "token = ");
		memset(big + 8, 'S', 4990);
		strcpy(big + 4998, "\n");
		ok(load_resolve(big, NULL, &c, &s, err, sizeof err) == -2 &&
		    strstr(err, ":1: line too long") != NULL && strstr(err, "SSSS") == NULL,
		    "over-long line refused without showing it: %s", err);
		config_free(&c);
		free(big);
	}
}

/* Bad typed values: the error names key and source, and keeps secrets out. */
static void
test_bad_values(void)
{
	static const struct {
		const char *file, *env_name, *env_val, *req_name, *req_val, *want;
	} cases[] = {
		{ "sync = maybe\n", NULL, NULL, NULL, NULL, "sync (from file): bad value 'maybe'" },
		{ "", "VEO_SYNC", "", NULL, NULL, "sync (from environment)" },
		{ "", "VEO_HTTPS_ONLY", "yess", NULL, NULL, "https_only (from environment): bad value 'yess'" },
		{ "", NULL, NULL, "VEO_ALLOW_PRIVATE", "2", "allow_private (from request)" },
		{ "max_body = 12Q\n", NULL, NULL, NULL, NULL, "max_body (from file): bad value '12Q'" },
		{ "max_body = 100\n", NULL, NULL, NULL, NULL, "max_body (from file)" },
		{ "max_body = 17M\n", NULL, NULL, NULL, NULL, "max_body (from file)" },
		{ "", "VEO_MAX_BODY", "-1", NULL, NULL, "max_body (from environment)" },
		{ "", "VEO_MIN_FREE", "1.5M", NULL, NULL, "min_free (from environment)" },
		{ "", NULL, NULL, "VEO_MAX_FILE_SIZE", "0", "max_file_size (from request)" },
		{ "hmac_tolerance = 0\n", NULL, NULL, NULL, NULL, "hmac_tolerance (from file)" },
		{ "hmac_tolerance = 86401\n", NULL, NULL, NULL, NULL, "hmac_tolerance (from file)" },
		{ "", "VEO_HMAC_TOLERANCE", "5m", NULL, NULL, "hmac_tolerance (from environment): bad value '5m'" },
		{ "", NULL, NULL, "VEO_PARALLEL", "65", "parallel (from request)" },
		{ "", NULL, NULL, "VEO_PARALLEL", "-4", "parallel (from request)" },
		{ "", NULL, NULL, "VEO_PARALLEL", " 4", "parallel (from request)" },
		{ "", NULL, NULL, "VEO_RETRY_AFTER", "99999999999999999999", "retry_after (from request)" },
		{ "", "VEO_KEEP_DAYS", "0x10", NULL, NULL, "keep_days (from environment)" },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct params p = { { "VEO_HMAC_KEY_PREVIOUS", SECRET_PREV, NULL } };
		struct config c;
		struct settings s;
		char err[256] = "", text[256];
		int rc;

		clean_env();
		setenv("VEO_TOKEN", SECRET_TOKEN, 1);
		if (cases[i].env_name)
			setenv(cases[i].env_name, cases[i].env_val, 1);
		if (cases[i].req_name)
			p.kv[2] = cases[i].req_name, p.kv[3] = cases[i].req_val, p.kv[4] = NULL;
		snprintf(text, sizeof text, "hmac_key = %s\n%s", SECRET_HMAC, cases[i].file);
		rc = load_resolve(text, &p, &c, &s, err, sizeof err);
		if (!ok(rc == -1 && strstr(err, cases[i].want) != NULL &&
		    strstr(err, "S3CRET") == NULL, "bad value %zu names key and source", i))
			printf("#   rc %d, error: %s\n#   want: %s\n", rc, err, cases[i].want);
		config_free(&c);
	}
	clean_env();
}

static void
test_missing_files(void)
{
	struct config c;
	char err[256] = "", path[PATH_MAX + 16];

	clean_env();
	snprintf(path, sizeof path, "%s/does-not-exist.conf", dir);
	setenv("VEO_CONFIG", path, 1);
	ok(config_load(&c, err, sizeof err) == -1, "missing $VEO_CONFIG is an error");
	ok(strstr(err, path) != NULL && strstr(err, "No such file") != NULL,
	    "error names the file: %s", err);
	config_free(&c);

	/* A directory cannot be read as a file: that must not pass as empty. */
	setenv("VEO_CONFIG", dir, 1);
	err[0] = '\0';
	ok(config_load(&c, err, sizeof err) == -1 && strstr(err, dir) != NULL,
	    "unreadable $VEO_CONFIG (a directory) is an error: %s", err);
	config_free(&c);

	if (access("/etc/veo-callback.conf", F_OK) == 0) {
		skip("/etc/veo-callback.conf exists; missing-default case not testable here");
		skip("/etc/veo-callback.conf exists");
	} else {
		unsetenv("VEO_CONFIG");
		ok(config_load(&c, err, sizeof err) == 0, "missing default file is not an error");
		ok(c.path == NULL, "no file recorded");
		config_free(&c);
	}
	if (access("/etc/veo-callback.conf", F_OK) == 0) {
		skip("/etc/veo-callback.conf exists");
	} else {
		/* An empty VEO_CONFIG means "not set": the default applies. */
		setenv("VEO_CONFIG", "", 1);
		ok(config_load(&c, err, sizeof err) == 0 && c.path == NULL,
		    "empty $VEO_CONFIG falls back to the default file");
		config_free(&c);
	}
	clean_env();
}

static void
test_sizes(void)
{
	static const struct { const char *s; long long want; } good[] = {
		{ "0", 0 }, { "100", 100 }, { "64K", 65536 }, { "64k", 65536 },
		{ "64KiB", 65536 }, { "64KB", 65536 }, { "64kb", 65536 }, { "1M", 1 << 20 },
		{ "100m", 100LL << 20 }, { "4G", 4LL << 30 }, { "1T", 1LL << 40 },
		{ "9223372036854775807", LLONG_MAX }, { "8589934591G", 8589934591LL << 30 },
	};
	static const char *bad[] = {
		"", "K", "-1", "+1", " 1", "1 ", "1 K", "1.5M", "1X", "1Ki B", "1KK",
		"0x10", "9223372036854775808", "8589934592G", "99999999999999999999K", "1iB",
	};

	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		long long v = -7;

		ok(config_parse_size(good[i].s, &v) == 0 && v == good[i].want,
		    "size '%s' = %lld", good[i].s, good[i].want);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		long long v = -7;

		ok(config_parse_size(bad[i], &v) == -1 && v == -7, "size '%s' refused", bad[i]);
	}
}

static void
test_bools(void)
{
	static const char *yes[] = { "yes", "YES", "true", "True", "on", "ON", "1" };
	static const char *no[] = { "no", "No", "false", "FALSE", "off", "Off", "0" };
	static const char *bad[] = { "", "y", "n", "2", "yes ", " no", "enabled", "10" };

	for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
		bool b = false;

		ok(config_parse_bool(yes[i], &b) == 0 && b == true, "bool '%s' is true", yes[i]);
	}
	for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
		bool b = true;

		ok(config_parse_bool(no[i], &b) == 0 && b == false, "bool '%s' is false", no[i]);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		bool b = true;

		ok(config_parse_bool(bad[i], &b) == -1 && b == true, "bool '%s' refused", bad[i]);
	}
}

/* --check-config output: every key and its layer, secrets masked. */
static void
test_print(void)
{
	struct config c;
	char err[256] = "", *out = NULL;
	size_t len = 0;
	FILE *f;

	clean_env();
	setenv("VEO_TOKEN", SECRET_TOKEN, 1);
	setenv("VEO_HMAC_KEY_PREVIOUS", "", 1);
	write_file(conf, "hmac_key = " SECRET_HMAC "\nspool_dir = /srv/spool\n");
	setenv("VEO_CONFIG", conf, 1);
	if (config_load(&c, err, sizeof err) < 0 || (f = open_memstream(&out, &len)) == NULL) {
		ok(0, "config_print set-up: %s", err);
		config_free(&c);
		return;
	}
	config_print(f, &c);
	fclose(f);
	ok(strstr(out, "S3CRET") == NULL, "config_print never shows a secret");
	ok(strstr(out, "\ntoken ") != NULL && strstr(strstr(out, "\ntoken "), "********") != NULL &&
	    strstr(strstr(out, "\ntoken "), "# environment") != NULL, "token masked, from environment");
	ok(strstr(out, "hmac_key ") != NULL && strstr(strstr(out, "hmac_key "), "# file") != NULL,
	    "hmac_key from file");
	ok(strstr(out, "/srv/spool") != NULL, "plain values shown");
	ok(strstr(out, "(unset)") != NULL, "unset keys say so");
	ok(strstr(out, conf) != NULL, "the file read is named");
	free(out);
	config_free(&c);
	clean_env();
}

/* The keys of kie.ai's API: defaults, values, errors, check-config. */
static void
test_api_keys(void)
{
	static const struct {
		const char *text, *want;
	} bad[] = {
		{ "upgrade = 8k\n", "upgrade (from file): bad value '8k': expected none, 1080p or 4k" },
		{ "upgrade = \n", "upgrade (from file)" },
		{ "poll_interval = 0\n", "poll_interval (from file)" },
		{ "recover_after = 1209601\n", "recover_after (from file)" },
		{ "verify = sometimes\n", "verify (from file)" },
		{ "api_base = api.kie.ai\n", "api_base must be an http:// or https:// URL" },
		{ "callback_url = me.example/cb?token=" SECRET_TOKEN "\n",
		  "callback_url must be an http:// or https:// URL" },
		{ "api_key = " SECRET_TOKEN "\nupgrade = \n", "upgrade (from file)" },
	};
	struct config c;
	struct settings s;
	char err[256] = "", *out = NULL;
	size_t len = 0;
	FILE *f;

	clean_env();
	ok(load_resolve("", NULL, &c, &s, err, sizeof err) == 0, "API keys: defaults resolve: %s", err);
	ok(s.api_key == NULL && s.callback_url == NULL, "api_key and callback_url unset by default");
	is_str(s.api_base, "https://api.kie.ai", "default api_base");
	is_int(s.recover_after, 900, "default recover_after 900");
	is_int(s.poll_interval, 60, "default poll_interval 60");
	ok(s.verify, "default verify yes");
	is_int(s.upgrade, UPGRADE_NONE, "default upgrade none");
	config_free(&c);

	ok(load_resolve("api_key = " SECRET_HMAC "\nupgrade = 4K\napi_base = http://127.0.0.1:9\n"
	    "callback_url = https://me.example/cb?token=" SECRET_TOKEN "\nverify = no\n"
	    "recover_after = 0\npoll_interval = 1\n", NULL, &c, &s, err, sizeof err) == 0,
	    "API keys set in the file: %s", err);
	is_str(s.api_key, SECRET_HMAC, "api_key read");
	is_int(s.upgrade, UPGRADE_4K, "upgrade 4K (any case) is UPGRADE_4K");
	ok(!s.verify && s.recover_after == 0 && s.poll_interval == 1, "verify, recover_after, poll_interval read");
	is_str(s.api_base, "http://127.0.0.1:9", "api_base read");
	config_free(&c);
	setenv("VEO_UPGRADE", "1080p", 1);
	ok(load_resolve("", NULL, &c, &s, err, sizeof err) == 0 && s.upgrade == UPGRADE_1080P,
	    "VEO_UPGRADE=1080p is UPGRADE_1080P");
	config_free(&c);
	clean_env();

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int rc = load_resolve(bad[i].text, NULL, &c, &s, err, sizeof err);

		ok(rc == -1 && strstr(err, bad[i].want) != NULL && strstr(err, "S3CRET") == NULL,
		    "refused, without secrets: %s", err);
		config_free(&c);
	}

	/* check-config: both secrets masked; what upgrade needs is said. */
	write_file(conf, "api_key = " SECRET_HMAC "\nupgrade = 4k\n");
	setenv("VEO_CONFIG", conf, 1);
	setenv("VEO_CALLBACK_URL", "https://me.example/cb?token=" SECRET_TOKEN, 1);
	if (config_load(&c, err, sizeof err) < 0 || (f = open_memstream(&out, &len)) == NULL) {
		ok(0, "config_print set-up: %s", err);
		config_free(&c);
		return;
	}
	config_print(f, &c);
	fclose(f);
	ok(strstr(out, "S3CRET") == NULL && strstr(out, "me.example") == NULL,
	    "check-config shows neither api_key nor callback_url");
	ok(strstr(out, "\napi_key ") != NULL && strstr(strstr(out, "\napi_key "), "********") != NULL,
	    "api_key masked");
	ok(strstr(out, "needs") == NULL, "upgrade = 4k with api_key and callback_url: no note");
	free(out);
	config_free(&c);
	unsetenv("VEO_CALLBACK_URL");
	write_file(conf, "upgrade = 4k\n");
	if (config_load(&c, err, sizeof err) < 0 || (f = open_memstream(&out, &len)) == NULL) {
		ok(0, "config_print set-up: %s", err);
		config_free(&c);
		return;
	}
	config_print(f, &c);
	fclose(f);
	ok(strstr(out, "# note: upgrade = 4k needs api_key") != NULL &&
	    strstr(out, "# note: upgrade = 4k needs callback_url") != NULL,
	    "check-config says that upgrade = 4k needs api_key and callback_url");
	free(out);
	config_free(&c);
	clean_env();
}

/*
 * Running out of memory while reading the file is an error, never a key
 * silently unset: an unset token would let every callback in (fail open).
 */
static void
test_load_out_of_memory(void)
{
	struct config c;
	char err[256];
	int failed_all = 1;

	clean_env();
	write_file(conf, "spool_dir = /s\ntoken = tok-oom-1\nhmac_key = k-oom-2\n");
	setenv("VEO_CONFIG", conf, 1);
	/* Copies: the path, then one a key; each one failing in turn. */
	for (int n = 1; n <= 4; n++) {
		int rc;

		strdup_fail_at = n;
		strdup_calls = 0;
		err[0] = '\0';
		rc = config_load(&c, err, sizeof err);
		if (rc != -1 || strstr(err, "out of memory") == NULL) {
			failed_all = 0;
			printf("# copy %d failing: config_load returned %d, err '%s', token %s\n", n, rc, err,
			    c.file_value[K_TOKEN] ? "set" : "unset");
		}
		config_free(&c);
	}
	strdup_fail_at = 0;
	ok(failed_all, "every failing copy while loading the file is an error naming memory");
	ok(config_load(&c, err, sizeof err) == 0 && c.file_value[K_TOKEN] != NULL,
	    "with memory, the same file loads with its token");
	config_free(&c);
}

/* log (process-wide, never from a request) and auth (only "none"). */
static void
test_log_and_auth(void)
{
	struct params p = { { "VEO_LOG", "/tmp/evil.log", "VEO_AUTH", "none", NULL } };
	struct config c;
	struct settings s;
	char err[256] = "";

	clean_env();
	ok(load_resolve("", NULL, &c, &s, err, sizeof err) == 0, "defaults resolve: %s", err);
	is_str(s.log, "auto", "log defaults to auto");
	ok(!s.auth_none, "auth unset by default: authentication required");
	config_free(&c);
	ok(load_resolve("", &p, &c, &s, err, sizeof err) == 0, "with request parameters: %s", err);
	is_str(s.log, "auto", "VEO_LOG as a request parameter is not taken");
	ok(s.auth_none, "VEO_AUTH=none as a request parameter is taken");
	config_free(&c);
	for (int i = 0; i < 5; i++) {
		static const char *good[] = { "syslog", "stderr", "off", "/var/log/veo.log", "auto" };
		char text[64];

		snprintf(text, sizeof text, "log = %s\n", good[i]);
		ok(load_resolve(text, NULL, &c, &s, err, sizeof err) == 0 && strcmp(s.log, good[i]) == 0,
		    "log = %s accepted", good[i]);
		config_free(&c);
	}
	ok(load_resolve("log = relative.log\n", NULL, &c, &s, err, sizeof err) == -1 &&
	    strstr(err, "log") != NULL, "log = relative path refused: %s", err);
	config_free(&c);
	ok(load_resolve("auth = none\n", NULL, &c, &s, err, sizeof err) == 0 && s.auth_none,
	    "auth = none accepted");
	config_free(&c);
	ok(load_resolve("auth = token\n", NULL, &c, &s, err, sizeof err) == -1 &&
	    strstr(err, "auth") != NULL && strstr(err, "none") != NULL,
	    "auth = anything else refused, naming the one value: %s", err);
	config_free(&c);
	ok(load_resolve("hmac_tolerance = +60\n", NULL, &c, &s, err, sizeof err) == -1,
	    "a signed number refused");
	config_free(&c);
	ok(load_resolve("max_body = 99999999999999999999K\n", NULL, &c, &s, err, sizeof err) == -1,
	    "an overflowing size refused");
	config_free(&c);
}

static void
test_key_meta(void)
{
	int secrets = 0;

	is_str(config_key_name(K_SPOOL_DIR), "spool_dir", "key name spool_dir");
	is_str(config_key_name(K_HMAC_KEY_PREVIOUS), "hmac_key_previous", "key name hmac_key_previous");
	ok(config_key_secret(K_TOKEN) && config_key_secret(K_HMAC_KEY) &&
	    config_key_secret(K_HMAC_KEY_PREVIOUS), "token and HMAC keys are secret");
	ok(config_key_secret(K_API_KEY) && config_key_secret(K_CALLBACK_URL),
	    "api_key and callback_url (it may carry ?token=) are secret");
	for (int k = 0; k < K_COUNT; k++)
		secrets += config_key_secret(k);
	is_int(secrets, 5, "no other key is secret");
	is_str(config_source_name(SRC_DEFAULT), "default", "source name default");
	is_str(config_source_name(SRC_FILE), "file", "source name file");
	is_str(config_source_name(SRC_ENV), "environment", "source name environment");
	is_str(config_source_name(SRC_REQUEST), "request", "source name request");
}

int
main(void)
{
	if (mkdtemp(dir) == NULL) {
		printf("Bail out! mkdtemp\n");
		return 1;
	}
	snprintf(conf, sizeof conf, "%s/veo.conf", dir);
	test_defaults();
	test_precedence();
	test_empty_unsets();
	test_file_syntax();
	test_bad_values();
	test_missing_files();
	test_sizes();
	test_bools();
	test_key_meta();
	test_print();
	test_api_keys();
	test_load_out_of_memory();
	test_log_and_auth();
	unlink(conf);
	rmdir(dir);
	return done_testing();
}
