/*
 * xfer: one job's transfer inside the downloader (fetch.h).  Internal to
 * the fetch*.c files, which share it along these seams:
 *
 *   fetch.c        the multi loop: at most o->parallel transfers in flight
 *   fetch_easy.c   setting up an easy handle: the safety options, the
 *                  connect-time address policy, URL and Range of a hop
 *   fetch_body.c   a response: headers, body into .part, hashing,
 *                  sniffing, finalisation, and what comes next (redirect,
 *                  restart from zero, done)
 *   fetch_error.c  turning a failure into a result and one line for people
 *   fetch_split.c  ranges: splitting a slow file over more connections
 *   partinfo.c     the resume sidecar
 *   hasher.c       SHA-256 of what is on disk, in a worker thread
 *
 * There are only o->parallel of these structures (slots), reused, so
 * memory does not grow with the number of jobs or with file sizes.
 *
 * A job is fetched by its lead transfer.  Its file is a set of ranges
 * (lead->pi.range; one, [0, total), until a split): each connection
 * fetches one range and writes it at its own offset (pwrite), so that a
 * slow large file can be split over free slots (helpers, x->lead set),
 * up to per_host connections.  The file state (the .part, its hash, its
 * first bytes, its ranges) lives in the lead; a helper only writes into
 * it.  A connection whose range is done takes the next range nobody
 * fetches; the lead ends the job when every range is done, and stops its
 * helpers whenever the job ends otherwise.
 */
#ifndef VEO_XFER_H
#define VEO_XFER_H

#include <limits.h>
#include <netinet/in.h>
#include <stdbool.h>

#include <curl/curl.h>

#include "digest.h"
#include "fetch.h"
#include "hasher.h"
#include "partinfo.h"
#include "progress.h"
#include "sniff.h"

#define XFER_BUFFER_SIZE (128L * 1024)	/* per transfer: curl's and ours */

/* Never split a range into pieces smaller than this. */
#define SPLIT_MIN	(1LL << 20)

/* What one response (one hop: a redirect, a restart or a next range makes
 * another) left. */
struct hop {
	long			 status;	/* final status, 0 before headers end */
	bool			 body;		/* its body goes into the .part */
	long long		 announced;	/* whole file size, -1 unknown */
	long long		 received;	/* body bytes of this response */
	long long		 discarded;	/* body bytes of an error or redirect */
	size_t			 wlen;		/* bytes waiting in xfer.wbuf */
	bool			 range_end;	/* stopped at the end of its range */
	struct timespec		 began;		/* of the body, for its speed */
	/* set by callbacks */
	enum fetch_result	 outcome;	/* FETCH_OK until something fails */
	bool			 restart;	/* redo from byte 0, without Range */
	char			 refused_ip[INET6_ADDRSTRLEN];	/* last refused at connect */
	const char		*refused_kind;	/* static, from netguard */
	char			 errbuf[CURL_ERROR_SIZE];
};

/* One fetch_run(): what a transfer needs to reach the others. */
struct fetch_ctx {
	const struct fetch_opts	*o;
	CURLM			*multi;
	struct xfer		*xs;		/* the slots */
	size_t			 nslots;
	struct progress		*pg;
	struct hasher		*hasher;
};

struct xfer {
	struct fetch_job	*job;		/* NULL: slot free */
	struct xfer		*lead;		/* a helper: whose job it helps; NULL: x leads */
	struct fetch_ctx	*ctx;
	const struct fetch_opts	*o;
	struct progress		*pg;
	size_t			 slot;		/* index of job, for progress */
	CURL			*easy;
	struct curl_slist	*hdrs;		/* If-Range */
	char			*url;		/* current hop, malloc'd */
	char			 host[128];	/* of url, escaped, for messages */
	char			 name[64];	/* basename of dest, for progress */
	char			 why[256];	/* a helper's failure (the job's is job->error) */
	int			 hops, restarts;
	bool			 ranged;	/* a Range request was sent */
	int			 rng;		/* the range fetched, in lead's pi; -1 none */
	long long		 asked_last;	/* last byte the Range asked for; -1 to the end */
	char			*wbuf;		/* XFER_BUFFER_SIZE, malloc'd on first use */
	struct hop		 hop;
	/* The file, in the lead only. */
	char			 part[PATH_MAX], info[PATH_MAX];
	struct partinfo		 pi;		/* validator, total and ranges */
	struct xfer		*owner[PART_MAX_RANGES];	/* who fetches each range */
	int			 fd;		/* the .part, -1 when not open */
	struct hashed_file	*hf;		/* its SHA-256, NULL until a body */
	unsigned char		 head[SNIFF_LEN];
	size_t			 headlen;
	bool			 sniffed;
	bool			 splittable;	/* ranges accepted, validator known */
	time_t			 checkpointed;	/* ranges last saved */
	double			 conn_speed;	/* bytes/s of one connection, 0 unknown */
	bool			 waiting;	/* out of the multi until its helpers end */
	bool			 sealing;	/* whole: the hasher hashes and syncs it */
};

/*
 * What drain() does with a transfer that libcurl reports finished: it is
 * over (XFER_DONE: xfer_finish() for a lead, xfer_helper_end() for a
 * helper), makes another request on the same handle (XFER_AGAIN), or is a
 * lead waiting, outside the multi, for its helpers (XFER_WAIT).
 */
enum xfer_next { XFER_DONE, XFER_AGAIN, XFER_WAIT };

/* The lead of x's job (x itself when it leads). */
static inline struct xfer *
xfer_lead(struct xfer *x)
{
	return x->lead != NULL ? x->lead : x;
}

/* fetch_easy.c */
void fetch_job_reset(struct fetch_job *job);
void xfer_init(struct xfer *x, struct fetch_job *job, struct fetch_ctx *c, size_t slot);
/* Prepares and adds x's first request; -1 when the job already ended. */
int xfer_start(struct xfer *x);
/* Sets x->url to url (copied) and x->host for messages.  0 or -1. */
int xfer_set_url(struct xfer *x, const char *url);
/* Asks for the rest of range r of lead's file (Range and If-Range). 0 or -1. */
int xfer_ask_range(struct xfer *x, int r);
/* Drops the Range of a resumed request: the next one starts from zero. */
void xfer_clear_range(struct xfer *x);
/* A new curl handle for x with the safety options.  0 or -1. */
int xfer_new_easy(struct xfer *x);

/* fetch_body.c: libcurl's callbacks, and the end of a hop */
size_t xfer_on_header(char *buf, size_t size, size_t n, void *arg);
size_t xfer_on_write(char *buf, size_t size, size_t n, void *arg);
int xfer_on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow,
    curl_off_t ultotal, curl_off_t ulnow);
/*
 * A .part as long as the length its sidecar recorded (a run killed between
 * the last byte and the rename): hashed, sniffed and put in place without
 * asking the server again.  1 when x's job ended so (hop.outcome says how),
 * 0 when there is no such .part.
 */
int xfer_finish_complete_part(struct xfer *x);
/* Forgets the response of the last hop, before the next request. */
void xfer_reset_hop(struct xfer *x);
/* For CURLMSG_DONE: XFER_DONE with hop.outcome final (FETCH_OK too), XFER_AGAIN or XFER_WAIT. */
enum xfer_next xfer_done(struct xfer *x, CURLcode rc);
/* x has no range left: the next free one (AGAIN), the end of a helper or of
 * the file (DONE), or a lead waiting for its helpers (WAIT). */
enum xfer_next xfer_carry_on(struct xfer *x);
/* Records the result in the job, ends its helpers, releases everything the lead x holds. */
void xfer_finish(struct xfer *x);
/* Writes out what x's buffer holds into the lead's .part.  0 or -1. */
int xfer_flush(struct xfer *x);
/* The lead's file is whole: hash, sync, rename, waiting for each (hop.outcome says how it went). */
void xfer_finalize(struct xfer *lead);
/* A lead sealing its file: true when the hasher is done and the file is in
 * place (or failed): xfer_finish() it. */
bool xfer_reap_sealed(struct xfer *lead);

/* fetch_split.c */
/* [0, n) of lead's file is on disk: the hasher may read it. */
long long xfer_prefix(const struct xfer *lead);
/* The file offset x's stream has reached (its range's, buffered bytes included). */
long long xfer_reached(const struct xfer *x);
/* Bytes of lead's file on disk, all ranges together. */
long long xfer_have(const struct xfer *lead);
/* Are all of lead's ranges on disk? */
bool xfer_all_done(const struct xfer *lead);
/* The first range nobody fetches and not yet done, -1 when none. */
int xfer_unowned_range(const struct xfer *lead);
/* One range [0, total) from pos 0: the start of a whole download. */
void xfer_one_range(struct xfer *lead, long long total);
/*
 * With slot free and no job waiting: splits the slowest large range of a
 * running download and starts a helper on its second half in slot.
 * true when a helper started.
 */
bool xfer_split(struct fetch_ctx *c, struct xfer *slot);
/* Ends helper h: its bytes kept, its range free again.  Returns its lead. */
struct xfer *xfer_helper_end(struct xfer *h);
/* Ends every helper of lead. */
void xfer_end_helpers(struct xfer *lead);
/* A split download's ranges: synced and saved, so that a crash loses no byte
 * the sidecar claims.  Unsplit downloads need no checkpoint. 0 or -1. */
int xfer_checkpoint(struct xfer *lead);
/* Once a second: checkpoints split downloads every few seconds. */
void xfer_tick(struct fetch_ctx *c);
long long xfer_header_ll(CURL *e, const char *name);
const char *xfer_header_str(CURL *e, const char *name);

/* fetch_error.c */
/* Records the outcome of x's job; the first failure recorded wins. */
void xfer_fail(struct xfer *x, enum fetch_result r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void xfer_http_error(struct xfer *x);
/* A write to path failed with errno: FETCH_DISK_FULL for ENOSPC/EDQUOT, else FETCH_LOCAL. */
void xfer_write_failed(struct xfer *x, const char *path);
void xfer_curl_error(struct xfer *x, CURLcode rc);
long xfer_stall_time(const struct fetch_opts *o);
long xfer_min_speed(const struct fetch_opts *o);

#endif
