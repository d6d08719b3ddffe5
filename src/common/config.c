#include "config.h"

#include "bounds.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "numparse.h"

#define DEFAULT_CONFIG_FILE "/etc/veo-callback.conf"
#define MAX_CONFIG_FILE (1 << 20)

/* T_CHOICE: one of a list; T_AUTH: unset, or "none" (sets a bool); T_LOG: a log
 * destination (log.h). */
enum key_type { T_STRING, T_SIZE, T_INT, T_BOOL, T_CHOICE, T_AUTH, T_LOG };

struct key_def {
	const char *name;
	enum key_type type;
	const char *def;	/* NULL: unset by default */
	size_t offset;		/* into struct settings */
	long long min, max;	/* for T_SIZE and T_INT */
	bool secret;
	bool process_only;	/* file and environment only, never a request parameter */
};

#define S(f) offsetof(struct settings, f)
static const struct key_def keys[K_COUNT] = {
	[K_SPOOL_DIR]        = { "spool_dir", T_STRING, "/var/spool/veo-callback", S(spool_dir), 0, 0, false, false },
	[K_DOWNLOAD_DIR]     = { "download_dir", T_STRING, "/var/lib/veo-callback/videos", S(download_dir), 0, 0, false, false },
	[K_TOKEN]            = { "token", T_STRING, NULL, S(token), 0, 0, true, false },
	[K_HMAC_KEY]         = { "hmac_key", T_STRING, NULL, S(hmac_key), 0, 0, true, false },
	[K_HMAC_KEY_PREVIOUS]= { "hmac_key_previous", T_STRING, NULL, S(hmac_key_previous), 0, 0, true, false },
	[K_HMAC_TOLERANCE]   = { "hmac_tolerance", T_INT, "300", S(hmac_tolerance), 1, 86400, false, false },
	[K_ALLOW_FROM]       = { "allow_from", T_STRING, NULL, S(allow_from), 0, 0, false, false },
	[K_MAX_BODY]         = { "max_body", T_SIZE, "64K", S(max_body), 256, CALLBACK_BODY_MAX, false, false },
	[K_SYNC]             = { "sync", T_BOOL, "yes", S(sync), 0, 0, false, false },
	[K_MIN_FREE]         = { "min_free", T_SIZE, "8M", S(min_free), 0, LLONG_MAX, false, false },
	[K_RETRY_AFTER]      = { "retry_after", T_INT, "30", S(retry_after), 1, 3600, false, false },
	[K_PARALLEL]         = { "parallel", T_INT, "16", S(parallel), 1, 64, false, false },
	/* Every result comes from one host (kie.ai's CDN): let them all reach it. */
	[K_PER_HOST]         = { "per_host", T_INT, "16", S(per_host), 1, 16, false, false },
	[K_MAX_FILE_SIZE]    = { "max_file_size", T_SIZE, "4G", S(max_file_size), 1, LLONG_MAX, false, false },
	[K_ALLOW_HOSTS]      = { "allow_hosts", T_STRING, NULL, S(allow_hosts), 0, 0, false, false },
	[K_ALLOW_PRIVATE]    = { "allow_private", T_BOOL, "no", S(allow_private), 0, 0, false, false },
	[K_HTTPS_ONLY]       = { "https_only", T_BOOL, "yes", S(https_only), 0, 0, false, false },
	[K_CA_FILE]          = { "ca_file", T_STRING, NULL, S(ca_file), 0, 0, false, false },
	[K_DOWNLOAD_ORIGIN]  = { "download_origin", T_BOOL, "yes", S(download_origin), 0, 0, false, false },
	[K_MAX_ATTEMPTS]     = { "max_attempts", T_INT, "10", S(max_attempts), 1, 1000, false, false },
	[K_KEEP_DAYS]        = { "keep_days", T_INT, "30", S(keep_days), 0, 36500, false, false },
	[K_CONNECT_TIMEOUT]  = { "connect_timeout", T_INT, "15", S(connect_timeout), 1, 600, false, false },
	[K_STALL_TIMEOUT]    = { "stall_timeout", T_INT, "60", S(stall_timeout), 1, 3600, false, false },
	[K_MIN_SPEED]        = { "min_speed", T_SIZE, "1K", S(min_speed), 1, 1 << 30, false, false },
	[K_MAX_TIME]         = { "max_time", T_INT, "50", S(max_time), 1, 86400, false, false },
	[K_ON_DONE]          = { "on_done", T_STRING, NULL, S(on_done), 0, 0, false, false },
	[K_ON_FAILED]        = { "on_failed", T_STRING, NULL, S(on_failed), 0, 0, false, false },
	[K_HOOK_TIMEOUT]     = { "hook_timeout", T_INT, "60", S(hook_timeout), 1, 86400, false, false },
	[K_API_KEY]          = { "api_key", T_STRING, NULL, S(api_key), 0, 0, true, false },
	[K_API_BASE]         = { "api_base", T_STRING, "https://api.kie.ai", S(api_base), 0, 0, false, false },
	[K_RECOVER_AFTER]    = { "recover_after", T_INT, "900", S(recover_after), 0, 1209600, false, false },
	[K_POLL_INTERVAL]    = { "poll_interval", T_INT, "60", S(poll_interval), 1, 86400, false, false },
	[K_VERIFY]           = { "verify", T_BOOL, "yes", S(verify), 0, 0, false, false },
	[K_UPGRADE]          = { "upgrade", T_CHOICE, "none", S(upgrade), 0, 0, false, false },
	[K_CALLBACK_URL]     = { "callback_url", T_STRING, NULL, S(callback_url), 0, 0, true, false },
	[K_LOG]              = { "log", T_LOG, "auto", S(log), 0, 0, false, true },
	[K_AUTH]             = { "auth", T_AUTH, NULL, S(auth_none), 0, 0, false, false },
};
#undef S

/* The values a T_CHOICE key takes; the index is stored (an int). */
static const char *const choices[K_COUNT][4] = {
	[K_UPGRADE] =		/* enum upgrade */
	    { "none", "1080p", "4k", NULL },
};

const char *
config_key_name(enum config_key k)
{
	return keys[k].name;
}

bool
config_key_secret(enum config_key k)
{
	return keys[k].secret;
}

const char *
config_source_name(enum config_source s)
{
	static const char *names[] = { "default", "file", "environment", "request" };
	return names[s];
}

static int
key_index(const char *name, size_t len)
{
	for (int k = 0; k < K_COUNT; k++)
		if (strlen(keys[k].name) == len && strncmp(keys[k].name, name, len) == 0)
			return k;
	return -1;
}

/* "spool_dir" -> "VEO_SPOOL_DIR" */
static void
param_name(enum config_key k, char *buf, size_t len)
{
	size_t o = 0;

	for (const char *p = "VEO_"; *p && o + 1 < len; p++)
		buf[o++] = *p;
	for (const char *p = keys[k].name; *p && o + 1 < len; p++)
		buf[o++] = (char)toupper((unsigned char)*p);
	buf[o] = '\0';
}

static char *
trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
		*--e = '\0';
	return s;
}

static int
load_file(struct config *c, const char *path, bool must_exist, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	char line[4096];
	int lineno = 0;

	if (f == NULL) {
		if (errno == ENOENT && !must_exist)
			return 0;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if ((c->path = strdup(path)) == NULL)
		goto oom;
	while (fgets(line, sizeof line, f) != NULL) {
		char *s, *eq, *name, *value;
		int k;

		lineno++;
		if (strchr(line, '\n') == NULL && !feof(f)) {
			snprintf(err, errlen, "%s:%d: line too long", path, lineno);
			goto fail;
		}
		s = trim(line);
		if (*s == '\0' || *s == '#')
			continue;
		if ((eq = strchr(s, '=')) == NULL) {
			snprintf(err, errlen, "%s:%d: expected 'key = value'", path, lineno);
			goto fail;
		}
		*eq = '\0';
		name = trim(s);
		value = trim(eq + 1);
		if ((k = key_index(name, strlen(name))) < 0) {
			snprintf(err, errlen, "%s:%d: unknown key '%.64s'", path, lineno, name);
			goto fail;
		}
		free(c->file_value[k]);
		/* Unchecked, a failed copy would silently unset the key (a token!). */
		if ((c->file_value[k] = strdup(value)) == NULL)
			goto oom;
	}
	/* A read error is not the end of the file: half a config may lack the token. */
	if (ferror(f)) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	fclose(f);
	return 0;
oom:
	snprintf(err, errlen, "%s: out of memory", path);
fail:
	fclose(f);
	return -1;
}

int
config_load(struct config *c, char *err, size_t errlen)
{
	const char *path = getenv("VEO_CONFIG");

	memset(c, 0, sizeof *c);
	if (path != NULL && *path != '\0') {
		if (load_file(c, path, true, err, errlen) < 0)
			return -1;
	} else if (load_file(c, DEFAULT_CONFIG_FILE, false, err, errlen) < 0) {
		return -1;
	}
	for (int k = 0; k < K_COUNT; k++) {
		char name[64];
		const char *v;

		param_name(k, name, sizeof name);
		if ((v = getenv(name)) != NULL && (c->env_value[k] = strdup(v)) == NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
	}
	return 0;
}

void
config_free(struct config *c)
{
	for (int k = 0; k < K_COUNT; k++) {
		free(c->file_value[k]);
		free(c->env_value[k]);
	}
	free(c->path);
	memset(c, 0, sizeof *c);
}

const char *
config_raw(const struct config *c, config_param_fn param, void *ctx,
    enum config_key k, enum config_source *src)
{
	const char *v;

	if (param != NULL && !keys[k].process_only) {
		char name[64];

		param_name(k, name, sizeof name);
		/*
		 * An empty request parameter counts as absent: nginx sends
		 * "fastcgi_param VEO_TOKEN $unset_var;" as "", and that must
		 * not switch a secret off.
		 */
		if ((v = param(ctx, name)) != NULL && *v != '\0') {
			*src = SRC_REQUEST;
			return v;
		}
	}
	if (c->env_value[k] != NULL) {
		*src = SRC_ENV;
		return c->env_value[k];
	}
	if (c->file_value[k] != NULL) {
		*src = SRC_FILE;
		return c->file_value[k];
	}
	*src = SRC_DEFAULT;
	return keys[k].def;
}

int
config_parse_size(const char *s, long long *out)
{
	size_t digits = strspn(s, "0123456789");
	const char *end = s + digits;
	long long v, mul = 1;

	if (num_parse_n(s, digits, 0, LLONG_MAX, &v) < 0)
		return -1;
	switch (toupper((unsigned char)*end)) {
	case '\0': break;
	case 'K': mul = 1LL << 10; end++; break;
	case 'M': mul = 1LL << 20; end++; break;
	case 'G': mul = 1LL << 30; end++; break;
	case 'T': mul = 1LL << 40; end++; break;
	default: return -1;
	}
	if (mul > 1 && (*end == 'i' || *end == 'I'))
		end++;
	if (mul > 1 && (*end == 'b' || *end == 'B'))
		end++;
	if (*end != '\0' || v > LLONG_MAX / mul)
		return -1;
	*out = v * mul;
	return 0;
}

int
config_parse_bool(const char *s, bool *out)
{
	static const char *yes[] = { "yes", "true", "on", "1" };
	static const char *no[] = { "no", "false", "off", "0" };

	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0)
			return *out = true, 0;
		if (strcasecmp(s, no[i]) == 0)
			return *out = false, 0;
	}
	return -1;
}

static int
parse_int(const char *s, long long *out)
{
	return num_parse(s, 0, LLONG_MAX, out);
}

static int
resolve_choice(enum config_key k, const char *v, int *out)
{
	for (int i = 0; choices[k][i] != NULL; i++)
		if (strcasecmp(v, choices[k][i]) == 0)
			return *out = i, 0;
	return -1;
}

static int
resolve_key(const struct key_def *d, const char *v, struct settings *s)
{
	char *field = (char *)s + d->offset;
	long long n;
	bool b;

	switch (d->type) {
	case T_STRING:
		/* An empty value means unset, so a layer can switch a key off. */
		*(const char **)field = (v != NULL && *v != '\0') ? v : NULL;
		return 0;
	case T_BOOL:
		if (config_parse_bool(v, &b) < 0)
			return -1;
		*(bool *)field = b;
		return 0;
	case T_AUTH:
		/* Only "none" is a value: running without authentication is said, never implied. */
		if (v != NULL && *v != '\0' && strcmp(v, "none") != 0)
			return -1;
		*(bool *)field = v != NULL && *v != '\0';
		return 0;
	case T_LOG:
		if (v == NULL || *v == '\0')
			v = "auto";
		if (strcmp(v, "auto") != 0 && strcmp(v, "syslog") != 0 && strcmp(v, "stderr") != 0 &&
		    strcmp(v, "off") != 0 && v[0] != '/')
			return -1;
		*(const char **)field = v;
		return 0;
	case T_SIZE:
	case T_INT:
		if ((d->type == T_SIZE ? config_parse_size(v, &n) : parse_int(v, &n)) < 0)
			return -1;
		if (n < d->min || n > d->max)
			return -1;
		*(long long *)field = n;
		return 0;
	case T_CHOICE:
		return resolve_choice((enum config_key)(d - keys), v, (int *)field);
	}
	return -1;
}

/* "expected none, 1080p or 4k" */
static const char *
choice_text(const struct key_def *d)
{
	static char buf[128];
	const char *const *c = choices[d - keys];
	size_t o = (size_t)snprintf(buf, sizeof buf, "expected %s", c[0]);

	for (int i = 1; c[i] != NULL && o < sizeof buf; i++)
		o += (size_t)snprintf(buf + o, sizeof buf - o, "%s%s",
		    c[i + 1] != NULL ? ", " : " or ", c[i]);
	return buf;
}

static const char *
rule_text(const struct key_def *d)
{
	switch (d->type) {
	case T_BOOL: return "expected yes or no";
	case T_SIZE: return "expected a size such as 64K, 100M or 4G, within limits";
	case T_INT: return "expected a whole number within limits";
	case T_CHOICE: return choice_text(d);
	case T_AUTH: return "the only value is none (run without authentication on purpose)";
	case T_LOG: return "expected auto, syslog, stderr, off or an absolute file path";
	default: return "invalid";
	}
}

static bool
http_url(const char *s)
{
	return s != NULL && (strncasecmp(s, "https://", 8) == 0 || strncasecmp(s, "http://", 7) == 0);
}

int
config_resolve(const struct config *c, config_param_fn param, void *ctx,
    struct settings *s, char *err, size_t errlen)
{
	memset(s, 0, sizeof *s);
	for (int k = 0; k < K_COUNT; k++) {
		enum config_source src;
		const char *v = config_raw(c, param, ctx, k, &src);

		if (resolve_key(&keys[k], v, s) < 0) {
			/* Secrets never reach a message; other values are ours to show. */
			snprintf(err, errlen, "%s (from %s): bad value '%.40s': %s",
			    keys[k].name, config_source_name(src),
			    keys[k].secret ? "***" : v, rule_text(&keys[k]));
			return -1;
		}
	}
	if (s->spool_dir == NULL || s->spool_dir[0] != '/') {
		snprintf(err, errlen, "spool_dir must be an absolute path");
		return -1;
	}
	/* Empty unsets a key; unset, the spooler would format paths from NULL. */
	if (s->download_dir == NULL) {
		snprintf(err, errlen, "download_dir must not be empty");
		return -1;
	}
	/* Values not shown: callback_url is secret (it may carry ?token=). */
	if (s->api_base != NULL && !http_url(s->api_base)) {
		snprintf(err, errlen, "api_base must be an http:// or https:// URL");
		return -1;
	}
	if (s->callback_url != NULL && !http_url(s->callback_url)) {
		snprintf(err, errlen, "callback_url must be an http:// or https:// URL");
		return -1;
	}
	return 0;
}

/* What the keys of kie.ai's API need of each other. */
static void
print_notes(FILE *out, const struct config *c)
{
	enum config_source src;
	const char *key = config_raw(c, NULL, NULL, K_API_KEY, &src);
	const char *up = config_raw(c, NULL, NULL, K_UPGRADE, &src);
	const char *cb = config_raw(c, NULL, NULL, K_CALLBACK_URL, &src);
	int upgrade = UPGRADE_NONE;

	if (up != NULL)
		resolve_choice(K_UPGRADE, up, &upgrade);
	if (upgrade != UPGRADE_NONE && (key == NULL || *key == '\0'))
		fprintf(out, "# note: upgrade = %s needs api_key\n", choices[K_UPGRADE][upgrade]);
	if (upgrade == UPGRADE_4K && (cb == NULL || *cb == '\0'))
		fprintf(out, "# note: upgrade = 4k needs callback_url, where kie.ai posts the "
		    "4K video's callback\n");
}

void
config_print(FILE *out, const struct config *c)
{
	for (int k = 0; k < K_COUNT; k++) {
		enum config_source src;
		const char *v = config_raw(c, NULL, NULL, k, &src);

		fprintf(out, "%-18s = %-36s # %s\n", keys[k].name,
		    v == NULL || *v == '\0' ? "(unset)" : keys[k].secret ? "********" : v,
		    config_source_name(src));
	}
	print_notes(out, c);
	fprintf(out, "# configuration file: %s\n", c->path ? c->path : "(none read)");
}
