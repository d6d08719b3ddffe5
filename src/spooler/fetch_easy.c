#include "xfer.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "cabundle.h"
#include "log.h"
#include "netguard.h"

#ifndef VEO_VERSION
#define VEO_VERSION "0"
#endif


/* ---- callbacks ---- */

/*
 * Every connection, redirect hops included, passes here: refuse addresses
 * that are not public before a socket exists, so nothing is ever sent.
 */
static curl_socket_t
open_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct xfer *x = arg;
	const char *kind = netguard_addr_kind(&a->addr);
	const void *in = NULL;

	if (purpose != CURLSOCKTYPE_IPCXN)
		return CURL_SOCKET_BAD;
	if (a->family == AF_INET)
		in = &((struct sockaddr_in *)(void *)&a->addr)->sin_addr;
	else if (a->family == AF_INET6)
		in = &((struct sockaddr_in6 *)(void *)&a->addr)->sin6_addr;
	if (in != NULL && (kind == NULL || x->o->allow_private))
		/* CLOEXEC: the spooler's hooks must not inherit connections. */
		return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
	snprintf(x->hop.refused_ip, sizeof x->hop.refused_ip, "?");
	if (in != NULL)
		inet_ntop(a->family, in, x->hop.refused_ip, sizeof x->hop.refused_ip);
	x->hop.refused_kind = kind;
	return CURL_SOCKET_BAD;
}

/* ---- one transfer ---- */

/* Sets x->url to url (copied) and x->host for messages. */
int
xfer_set_url(struct xfer *x, const char *url)
{
	CURLU *u;
	char *host = NULL, *copy;

	if ((copy = strdup(url)) == NULL)
		return -1;
	free(x->url);
	x->url = copy;
	snprintf(x->host, sizeof x->host, "?");
	if ((u = curl_url()) != NULL &&
	    curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK)
		log_escape(x->host, sizeof x->host, host, strlen(host));
	curl_free(host);
	curl_url_cleanup(u);
	return curl_easy_setopt(x->easy, CURLOPT_URL, x->url) == CURLE_OK ? 0 : -1;
}

/*
 * Asks for the rest of range r of the lead's file: "Range: bytes=POS-" for
 * the last range, "POS-LAST" for one before another, with If-Range (a
 * strong ETag, else Last-Modified), so that a changed file comes back
 * whole (200) instead of spliced.
 */
int
xfer_ask_range(struct xfer *x, int r)
{
	const struct xfer *lead = xfer_lead(x);
	const struct partinfo *pi = &lead->pi;
	const struct part_range *rg = &pi->range[r];
	char range[64], hdr[300];

	x->rng = r;
	/* The range may be cut shorter while this answer comes (a split):
	 * the answer is checked against what was asked. */
	x->asked_last = rg->end < 0 || rg->end == pi->total ? -1 : rg->end - 1;
	if (x->asked_last < 0)
		snprintf(range, sizeof range, "%lld-", rg->pos);
	else
		snprintf(range, sizeof range, "%lld-%lld", rg->pos, x->asked_last);
	if (partinfo_strong_etag(pi->etag))
		snprintf(hdr, sizeof hdr, "If-Range: %s", pi->etag);
	else if (pi->lastmod[0] != '\0')
		snprintf(hdr, sizeof hdr, "If-Range: %s", pi->lastmod);
	else
		hdr[0] = '\0';	/* size alone: checked against Content-Range */
	curl_slist_free_all(x->hdrs);
	x->hdrs = NULL;
	if (hdr[0] != '\0' && (x->hdrs = curl_slist_append(NULL, hdr)) == NULL)
		return -1;
	if (curl_easy_setopt(x->easy, CURLOPT_RANGE, range) != CURLE_OK ||
	    curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->hdrs) != CURLE_OK)
		return -1;
	x->ranged = true;
	return 0;
}

/*
 * What an existing .part and its sidecar let this run resume: the ranges
 * in lead->pi (a plain prefix becomes one range [0, total) written up to
 * the file's size).  false when there is nothing to resume: a 200 will
 * truncate.  Bytes claimed beyond the file's end are not believed.
 */
static bool
load_resume(struct xfer *x)
{
	struct partinfo *pi = &x->pi;
	struct stat st;

	if (stat(x->part, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size == 0 ||
	    partinfo_load(x->info, pi) < 0 || !partinfo_usable(pi))
		return false;
	if (pi->nranges == 0) {
		if (pi->total >= 0 && st.st_size >= pi->total)
			return false;
		pi->nranges = 1;
		pi->range[0] = (struct part_range){ 0, st.st_size, pi->total };
		return true;
	}
	for (size_t i = 0; i < pi->nranges; i++)
		if (pi->range[i].pos > pi->range[i].start && pi->range[i].pos > st.st_size)
			return false;
	return true;
}

/* Asks for the first range not yet on disk, when a .part can be resumed. */
static int
set_range(struct xfer *x)
{
	int r;

	x->ranged = false;
	if (!load_resume(x) || (r = xfer_unowned_range(x)) < 0) {
		memset(&x->pi, 0, sizeof x->pi);
		x->pi.total = -1;
		return 0;	/* nothing worth resuming: a 200 truncates */
	}
	x->owner[r] = x;
	return xfer_ask_range(x, r);
}

void
xfer_clear_range(struct xfer *x)
{
	curl_easy_setopt(x->easy, CURLOPT_RANGE, NULL);
	curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(x->hdrs);
	x->hdrs = NULL;
	x->ranged = false;
	memset(x->owner, 0, sizeof x->owner);
	x->pi.nranges = 0;
	x->rng = -1;
	x->job->resumed = false;
}

#define SET(opt, val) do { \
	if (curl_easy_setopt(e, opt, val) != CURLE_OK) \
		return -1; \
} while (0)

/* The options every request of every hop carries: the safety rules. */
static int
setup_easy(struct xfer *x)
{
	const struct fetch_opts *o = x->o;
	const char *protos = o->https_only ? "https" : "http,https";
	CURL *e = x->easy;

	SET(CURLOPT_PRIVATE, x);
	SET(CURLOPT_PROTOCOLS_STR, protos);
	SET(CURLOPT_REDIR_PROTOCOLS_STR, protos);
	SET(CURLOPT_FOLLOWLOCATION, 0L);	/* we follow, checking each hop */
	SET(CURLOPT_PROXY, "");			/* never from the environment */
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_OPENSOCKETFUNCTION, open_socket);
	SET(CURLOPT_OPENSOCKETDATA, x);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	if (cabundle_setopt(e, o->ca_file) != CURLE_OK)	/* ca_file and the system's store */
		return -1;
	if (o->max_file_size > 0)
		SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)o->max_file_size);
	SET(CURLOPT_CONNECTTIMEOUT, o->connect_timeout > 0 ? o->connect_timeout : 30L);
	SET(CURLOPT_LOW_SPEED_LIMIT, xfer_min_speed(o));
	SET(CURLOPT_LOW_SPEED_TIME, xfer_stall_time(o));
	SET(CURLOPT_FAILONERROR, 0L);		/* the status is read by us */
	SET(CURLOPT_HEADERFUNCTION, xfer_on_header);
	SET(CURLOPT_HEADERDATA, x);
	SET(CURLOPT_WRITEFUNCTION, xfer_on_write);
	SET(CURLOPT_WRITEDATA, x);
	SET(CURLOPT_ERRORBUFFER, x->hop.errbuf);
	SET(CURLOPT_BUFFERSIZE, XFER_BUFFER_SIZE);
	SET(CURLOPT_USERAGENT, "veo-spooler/" VEO_VERSION);
	if (x->pg != NULL) {
		SET(CURLOPT_NOPROGRESS, 0L);
		SET(CURLOPT_XFERINFOFUNCTION, xfer_on_progress);
		SET(CURLOPT_XFERINFODATA, x);
	}
	return 0;
}

#undef SET

void
fetch_job_reset(struct fetch_job *job)
{
	job->result = FETCH_NOT_RUN;
	job->http_code = 0;
	job->bytes = 0;
	job->bytes_this_run = 0;
	job->resumed = false;
	job->sha256[0] = '\0';
	snprintf(job->error, sizeof job->error,
	    "not started: the time limit of this run was reached");
}

void
xfer_init(struct xfer *x, struct fetch_job *job, struct fetch_ctx *c, size_t slot)
{
	const char *base;

	memset(x, 0, sizeof *x);
	x->job = job;
	x->ctx = c;
	x->o = c->o;
	x->pg = c->pg;
	x->slot = slot;
	x->fd = -1;
	x->rng = -1;
	x->hop.announced = -1;
	job->error[0] = '\0';
	base = job->dest != NULL ? strrchr(job->dest, '/') : NULL;
	base = base != NULL ? base + 1 : job->dest != NULL ? job->dest : "?";
	log_escape(x->name, sizeof x->name, base, strlen(base));
}

int
xfer_new_easy(struct xfer *x)
{
	return (x->easy = curl_easy_init()) == NULL || setup_easy(x) < 0 ? -1 : 0;
}

/* Prepares and adds x's first request; -1 when the job already ended. */
int
xfer_start(struct xfer *x)
{
	struct fetch_job *job = x->job;
	char why[200];

	if (netguard_url_check(job->url, x->o->https_only, x->o->allow_hosts,
	    why, sizeof why) < 0) {
		xfer_fail(x, FETCH_BLOCKED, "%s", why);
		return -1;
	}
	if (job->dest == NULL ||
	    (size_t)snprintf(x->part, sizeof x->part, "%s.part", job->dest) >= sizeof x->part ||
	    (size_t)snprintf(x->info, sizeof x->info, "%s.part.info", job->dest) >= sizeof x->info) {
		xfer_fail(x, FETCH_LOCAL, "destination path missing or too long");
		return -1;
	}
	if (xfer_finish_complete_part(x))
		return -1;	/* ended without a request */
	if (xfer_new_easy(x) < 0 || xfer_set_url(x, job->url) < 0 || set_range(x) < 0 ||
	    curl_multi_add_handle(x->ctx->multi, x->easy) != CURLM_OK) {
		xfer_fail(x, FETCH_LOCAL, "cannot set up libcurl (out of memory?)");
		return -1;
	}
	return 0;
}
