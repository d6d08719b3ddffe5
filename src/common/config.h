/*
 * config: the settings of both programs, from four layers.
 *
 * Layers, strongest first: request parameter (FastCGI/CGI "VEO_<KEY>"),
 * process environment ("VEO_<KEY>"), the configuration file ($VEO_CONFIG,
 * else /etc/veo-callback.conf; a missing default file is not an error), and
 * the built-in default.  "log" is the exception: it is read from the
 * environment and the file only, since it is set up once per process.
 * An empty request parameter counts as absent (so a
 * web server variable that expands to nothing cannot switch a secret off);
 * an empty value in the environment or file unsets a key.  The file holds "key = value" lines; a line whose
 * first non-blank character is '#' is a comment.  Unknown keys and bad
 * values are errors that name the key and where it came from.
 *
 * Ownership: a struct config owns the file and environment strings it
 * loaded.  A struct settings holds pointers into its config and into the
 * request parameters it was resolved with, so it is valid only while both
 * live (for the responder: for one request).
 */
#ifndef VEO_CONFIG_H
#define VEO_CONFIG_H

#include <stdbool.h>
#include <stdio.h>

enum config_key {
	K_SPOOL_DIR, K_DOWNLOAD_DIR,
	K_TOKEN, K_HMAC_KEY, K_HMAC_KEY_PREVIOUS, K_HMAC_TOLERANCE, K_ALLOW_FROM,
	K_MAX_BODY, K_SYNC, K_MIN_FREE, K_RETRY_AFTER,
	K_PARALLEL, K_MAX_FILE_SIZE, K_ALLOW_HOSTS, K_ALLOW_PRIVATE, K_HTTPS_ONLY,
	K_CA_FILE, K_DOWNLOAD_ORIGIN, K_MAX_ATTEMPTS, K_KEEP_DAYS,
	K_CONNECT_TIMEOUT, K_STALL_TIMEOUT, K_MIN_SPEED, K_MAX_TIME,
	K_ON_DONE, K_ON_FAILED, K_HOOK_TIMEOUT,
	K_API_KEY, K_API_BASE, K_RECOVER_AFTER, K_POLL_INTERVAL, K_VERIFY, K_UPGRADE,
	K_CALLBACK_URL,
	K_LOG, K_AUTH,
	K_COUNT
};

enum config_source { SRC_DEFAULT, SRC_FILE, SRC_ENV, SRC_REQUEST };

/* The values of "upgrade", in the order config.c lists them. */
enum upgrade { UPGRADE_NONE, UPGRADE_1080P, UPGRADE_4K };

/* The typed, validated view that the programs use. */
struct settings {
	const char *spool_dir;		/* where callbacks are stored */
	const char *download_dir;	/* where videos go, one directory a task */
	const char *token;		/* NULL: no ?token= required */
	const char *hmac_key;		/* NULL: signatures not required */
	const char *hmac_key_previous;	/* also accepted, during a key change */
	long long hmac_tolerance;	/* seconds either way */
	const char *allow_from;		/* NULL or a CIDR list */
	long long max_body;		/* bytes */
	bool sync;			/* fsync entries and directories */
	long long min_free;		/* refuse writes below this much free space */
	long long retry_after;		/* seconds, in 503 replies */
	long long parallel;		/* transfers in flight */
	long long max_file_size;	/* bytes, enforced while streaming */
	const char *allow_hosts;	/* NULL or host list */
	bool allow_private;		/* lift the public-address rule (tests) */
	bool https_only;		/* refuse plain http */
	const char *ca_file;		/* extra trusted CAs */
	bool download_origin;		/* also fetch originUrls */
	long long max_attempts;
	long long keep_days;
	long long connect_timeout;	/* seconds */
	long long stall_timeout;	/* seconds below min_speed before giving up */
	long long min_speed;		/* bytes per second, averaged over stall_timeout */
	long long max_time;		/* seconds a sweep may start transfers */
	const char *on_done;		/* hook commands, run with execve */
	const char *on_failed;
	long long hook_timeout;		/* seconds */
	/* kie.ai's API (veo-spooler); nothing below is used without api_key. */
	const char *api_key;		/* NULL: the API is never asked */
	const char *api_base;		/* an http(s) URL */
	long long recover_after;	/* seconds without a callback, then ask */
	long long poll_interval;	/* least seconds between two questions */
	bool verify;			/* confirm callbacks with record-info */
	int upgrade;			/* enum upgrade */
	const char *callback_url;	/* callBackUrl of 4K requests; secret
					 * (it may carry ?token=) */
	const char *log;		/* auto, syslog, stderr, off or a file path (log.h) */
	bool auth_none;			/* "auth = none": store without token/HMAC/allow_from */
};

struct config {
	char *file_value[K_COUNT];	/* owned */
	char *env_value[K_COUNT];	/* owned */
	char *path;			/* file that was read, or NULL; owned */
};

/* Looks up a request parameter such as "VEO_TOKEN"; NULL when absent. */
typedef const char *(*config_param_fn)(void *ctx, const char *name);

/*
 * Loads the file and the environment into c.  On error returns -1 with a
 * message in err naming the file, line and key.
 */
int config_load(struct config *c, char *err, size_t errlen);
void config_free(struct config *c);

/*
 * Resolves the layers into s, with request parameters from param (may be
 * NULL).  Returns 0, or -1 with err naming the key, value source and rule.
 */
int config_resolve(const struct config *c, config_param_fn param, void *ctx,
    struct settings *s, char *err, size_t errlen);

/* Key metadata, for --check-config and the man page. */
const char *config_key_name(enum config_key k);
bool config_key_secret(enum config_key k);
/* The raw value of key k after layering, and its source; NULL if unset. */
const char *config_raw(const struct config *c, config_param_fn param, void *ctx,
    enum config_key k, enum config_source *src);
const char *config_source_name(enum config_source s);

/*
 * Prints every key with its effective value (secrets as ********), and the
 * layer it came from, one a line, then the file that was read.
 */
void config_print(FILE *out, const struct config *c);

/* Parses "64K", "4G", "100" (binary units).  0 or -1. */
int config_parse_size(const char *s, long long *out);
/* Parses yes/no/true/false/on/off/1/0.  0 or -1. */
int config_parse_bool(const char *s, bool *out);

#endif
