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
 *   partinfo.c     the resume sidecar
 *
 * There are only o->parallel of these structures, reused, so memory does
 * not grow with the number of jobs or with file sizes.
 */
#ifndef VEO_XFER_H
#define VEO_XFER_H

#include <limits.h>
#include <netinet/in.h>
#include <stdbool.h>

#include <curl/curl.h>

#include "digest.h"
#include "fetch.h"
#include "partinfo.h"
#include "progress.h"
#include "sniff.h"

#define XFER_BUFFER_SIZE (128L * 1024)	/* per transfer: curl's and ours */

/* What one response (one hop: a redirect or a restart makes another) left. */
struct hop {
	long			 status;	/* final status, 0 before headers end */
	bool			 body;		/* its body goes into .part */
	long long		 announced;	/* whole file size, -1 unknown */
	long long		 received;	/* body bytes written to .part */
	long long		 discarded;	/* body bytes of an error or redirect */
	int			 fd;		/* the .part, -1 when not open */
	size_t			 wlen;		/* bytes waiting in xfer.wbuf */
	struct sha256_stream	*sha;
	unsigned char		 head[SNIFF_LEN];
	size_t			 headlen;
	bool			 sniffed;
	/* set by callbacks */
	enum fetch_result	 outcome;	/* FETCH_OK until something fails */
	bool			 restart;	/* redo from byte 0, without Range */
	char			 refused_ip[INET6_ADDRSTRLEN];	/* last refused at connect */
	const char		*refused_kind;	/* static, from netguard */
	char			 errbuf[CURL_ERROR_SIZE];
};

struct xfer {
	struct fetch_job	*job;		/* NULL: slot free */
	const struct fetch_opts	*o;
	struct progress		*pg;
	size_t			 slot;		/* index of job, for progress */
	CURL			*easy;
	struct curl_slist	*hdrs;		/* If-Range */
	char			*url;		/* current hop, malloc'd */
	char			 host[128];	/* of url, escaped, for messages */
	char			 name[64];	/* basename of dest, for progress */
	int			 hops, restarts;
	char			 part[PATH_MAX], info[PATH_MAX];
	struct partinfo		 pi;		/* validator sent with the Range */
	bool			 ranged;	/* a Range request was sent */
	long long		 offset;	/* .part bytes before this response */
	char			*wbuf;		/* XFER_BUFFER_SIZE, malloc'd on first use */
	struct hop		 hop;
};

/* What drain() does with a transfer that libcurl reports finished. */
enum xfer_next { XFER_DONE, XFER_AGAIN };

/* fetch_easy.c */
void fetch_job_reset(struct fetch_job *job);
void xfer_init(struct xfer *x, struct fetch_job *job, const struct fetch_opts *o,
    struct progress *pg, size_t slot);
/* Prepares and adds x's first request; -1 when the job already ended. */
int xfer_start(struct xfer *x, CURLM *multi);
/* Sets x->url to url (copied) and x->host for messages.  0 or -1. */
int xfer_set_url(struct xfer *x, const char *url);
/* Drops the Range of a resumed request: the next one starts from zero. */
void xfer_clear_range(struct xfer *x);

/* fetch_body.c: libcurl's callbacks, and the end of a hop */
size_t xfer_on_header(char *buf, size_t size, size_t n, void *arg);
size_t xfer_on_write(char *buf, size_t size, size_t n, void *arg);
int xfer_on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow,
    curl_off_t ultotal, curl_off_t ulnow);
/* Forgets the response of the last hop, before the next request. */
void xfer_reset_hop(struct xfer *x);
/* For CURLMSG_DONE: XFER_DONE with hop.outcome final (FETCH_OK too), or XFER_AGAIN. */
enum xfer_next xfer_done(struct xfer *x, CURLcode rc);
/* Records the result in the job and releases everything x holds. */
void xfer_finish(struct xfer *x, CURLM *multi);
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
