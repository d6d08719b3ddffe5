/*
 * fetch: download many URLs at once with libcurl's multi interface,
 * resumably and safely (DESIGN promises 6, 7 and 8).
 *
 * Each job streams to "<dest>.part"; its SHA-256 is computed by a worker
 * thread reading the file back as it grows (hasher.h); the length is
 * checked against what the server announced; the first bytes are sniffed
 * against the expected media; the file is fsync'd and renamed to dest only
 * when whole.  A "<dest>.part.info" file beside it records the validator
 * (ETag, Last-Modified, total length); when a .part file exists the
 * transfer resumes with a Range request, and restarts from zero if the
 * server ignores the range or the validator no longer matches.  Both side
 * files are removed once dest is in place.
 *
 * A large file that is slow per connection is split over free slots (no
 * job waiting), up to per_host connections for the file, each fetching a
 * range; the sidecar then records the ranges, so that a resume after a
 * crash fetches only what they miss (xfer.h, fetch_split.c).
 *
 * Every connection, redirects included, is checked with netguard: scheme,
 * host list, and the resolved address (at connect time).  Redirects are
 * followed by this module, at most max_redirects.  Memory does not grow
 * with file size.
 */
#ifndef VEO_FETCH_H
#define VEO_FETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "digest.h"
#include "media.h"


enum fetch_result {
	FETCH_OK,
	FETCH_NOT_RUN,		/* deadline passed before it could start */
	FETCH_HTTP,		/* the server answered an error status (http_code) */
	FETCH_NETWORK,		/* DNS, connect, reset, TLS, stall: try again later */
	FETCH_BLOCKED,		/* refused by policy: scheme, host, address, redirects */
	FETCH_TOO_BIG,		/* more than max_file_size */
	FETCH_SHORT,		/* fewer bytes than the server announced */
	FETCH_BAD_CONTENT,	/* not the expected media */
	FETCH_LOCAL,		/* local file system error (permissions, ...) */
	FETCH_STOPPED,		/* stopped at the deadline; .part kept for resume */
	FETCH_DISK_FULL,	/* ENOSPC or EDQUOT writing; .part kept for resume */
};

struct fetch_job;

struct fetch_opts {
	long parallel;			/* files in flight (>= 1) */
	long per_host;			/* connections to one host (>= 1), also
					 * the most a split file uses */
	long long max_file_size;	/* bytes, enforced while streaming */
	bool https_only;
	bool allow_private;		/* skip the public-address rule (tests) */
	const char *allow_hosts;	/* NULL: any host */
	const char *ca_file;		/* extra CA bundle, added to the system's */
	long connect_timeout;		/* seconds */
	long stall_timeout;		/* seconds under min_speed before giving up */
	long min_speed;			/* bytes per second; <= 0: 1 */
	int max_redirects;		/* e.g. 5 */
	time_t deadline;		/* start nothing after this, and stop what
					 * runs (FETCH_STOPPED); 0: no limit */
	bool progress;			/* live per-file progress on stderr */
	/* Called about once a second while transfers run (may be NULL):
	 * the spooler refreshes its task claims from here. */
	void (*tick)(void *arg);
	void *tick_arg;
	/* Called as soon as each job has ended, its out fields set (may be
	 * NULL): the spooler records a task as soon as its own files are done. */
	void (*job_done)(struct fetch_job *job, void *arg);
	void *job_done_arg;
};

struct fetch_job {
	/* in, owned by the caller */
	const char *url;
	const char *dest;		/* final path; its directory must exist */
	enum media_kind expect;
	void *user;			/* for the caller */

	/* out */
	enum fetch_result result;
	long http_code;			/* last HTTP status, 0 if none */
	long long bytes;		/* size of dest when FETCH_OK */
	long long bytes_this_run;	/* body bytes received in this call */
	bool resumed;			/* continued a .part file */
	char sha256[SHA256_HEX_LEN + 1];	/* of the whole file, when FETCH_OK */
	char error[256];		/* one line for people; empty when OK */
};

/* Once per process, before any other call. 0 or -1. */
int fetch_global_init(void);
void fetch_global_cleanup(void);

/*
 * Runs all n jobs, at most o->parallel at a time, and fills their out
 * fields.  Returns 0 when the jobs ran (each has its own result), -1 when
 * libcurl could not be set up at all.
 *
 * The dests must be distinct.  After FETCH_NETWORK, FETCH_SHORT or
 * FETCH_HTTP the .part (if any) is kept for the next call to resume;
 * after FETCH_BAD_CONTENT or FETCH_TOO_BIG it is removed.  A job may be
 * FETCH_BLOCKED without any connection (scheme, host list, redirects) or
 * at connect time (address).  Memory is bounded by o->parallel, not by n
 * or by file sizes.
 */
int fetch_run(struct fetch_job *jobs, size_t n, const struct fetch_opts *o);

/* "ok", "http error", ... for logs and state files. */
const char *fetch_result_name(enum fetch_result r);

#endif
