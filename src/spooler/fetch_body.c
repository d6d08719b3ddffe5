#include "xfer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "log.h"
#include "netguard.h"

#define DISCARD_MAX	(64 * 1024)	/* error or redirect body read, then hang up */
#define READ_CHUNK	(64 * 1024)	/* reading a .part back to seed the hash */

long long
xfer_header_ll(CURL *e, const char *name)
{
	struct curl_header *h;
	char *end;
	long long v;

	if (curl_easy_header(e, name, 0, CURLH_HEADER, -1, &h) != CURLHE_OK)
		return -1;
	errno = 0;
	v = strtoll(h->value, &end, 10);
	if (errno != 0 || end == h->value || *end != '\0' || v < 0)
		return -1;
	return v;
}

const char *
xfer_header_str(CURL *e, const char *name)
{
	struct curl_header *h;

	if (curl_easy_header(e, name, 0, CURLH_HEADER, -1, &h) != CURLHE_OK)
		return NULL;
	return h->value;
}

/* Are the first bytes of x's file the media expected?  -1 (x failed) when not. */
static int
judge_head(struct xfer *x)
{
	struct xfer *lead = xfer_lead(x);
	char why[sizeof x->job->error];

	if (sniff_match(x->job->expect, lead->head, lead->headlen))
		return 0;
	xfer_fail(x, FETCH_BAD_CONTENT, "%s", sniff_describe(why, sizeof why,
	    x->job->expect, lead->head, lead->headlen));
	return -1;
}

/*
 * The first bytes of the file as far as they are on disk (a resume): the
 * sniff buffer, judged at once when full.  -1 when they are not the media.
 */
static int
read_head(struct xfer *lead)
{
	long long have = xfer_prefix(lead);
	size_t want = have < SNIFF_LEN ? (size_t)have : SNIFF_LEN;

	lead->headlen = 0;
	lead->sniffed = false;
	if (want == 0)
		return 0;
	if (pread(lead->fd, lead->head, want, 0) != (ssize_t)want)
		return 0;	/* judged at the end, from whatever is there */
	lead->headlen = want;
	if (want < SNIFF_LEN)
		return 0;
	lead->sniffed = true;
	return judge_head(lead);
}

/* Opens the lead's .part (truncated for a whole file) and starts its hash. */
static int
open_part(struct xfer *lead, bool truncate)
{
	int flags = O_RDWR | O_CLOEXEC | O_NOFOLLOW | (truncate ? O_CREAT | O_TRUNC : 0);

	hasher_drop(lead->hf);
	lead->hf = NULL;
	if (lead->fd >= 0)
		close(lead->fd);
	if ((lead->fd = open(lead->part, flags, 0644)) < 0)
		return -1;
	if ((lead->hf = hasher_add(lead->ctx->hasher, lead->fd)) == NULL) {
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

/* Refuses a file announced larger than max_file_size, before any work. */
static int
check_announced(struct xfer *x)
{
	char a[16], b[16];

	if (x->o->max_file_size <= 0 || x->hop.announced <= x->o->max_file_size)
		return 0;
	xfer_fail(x, FETCH_TOO_BIG, "file is %s, more than max_file_size (%s)",
	    progress_bytes(a, sizeof a, x->hop.announced), progress_bytes(b, sizeof b, x->o->max_file_size));
	return -1;
}

/*
 * Is this 206 a piece of the version the .part holds?  A server that
 * ignores If-Range answers 206 for a changed file too: its validator
 * (ETag, else Last-Modified) must be the one saved with the .part.
 */
static bool
same_version(struct xfer *x)
{
	const struct partinfo *pi = &xfer_lead(x)->pi;
	const char *etag = xfer_header_str(x->easy, "ETag");
	const char *lastmod = xfer_header_str(x->easy, "Last-Modified");

	if (pi->etag[0] != '\0')
		return etag != NULL && strcmp(etag, pi->etag) == 0;
	if (pi->lastmod[0] != '\0')
		return lastmod != NULL && strcmp(lastmod, pi->lastmod) == 0;
	return true;	/* size alone: checked against Content-Range */
}

/* May this download be split?  Its length known, a validator to keep the
 * pieces of one version, and a server that serves ranges. */
static bool
splittable(struct xfer *lead)
{
	const char *ar = xfer_header_str(lead->easy, "Accept-Ranges");

	return lead->pi.total > 0 && (partinfo_strong_etag(lead->pi.etag) ||
	    lead->pi.lastmod[0] != '\0') &&
	    (lead->hop.status == 206 || (ar != NULL && strcmp(ar, "bytes") == 0));
}

/* A range answer we cannot use: the lead starts over, a helper gives up. */
static int
wrong_range(struct xfer *x)
{
	if (x->lead == NULL)
		x->hop.restart = true;	/* once, from zero, never spliced */
	else
		xfer_fail(x, FETCH_NETWORK, "%s answered a range request with another "
		    "range or version", x->host);
	return -1;
}

/*
 * A 206 answers our Range: it must start where the range's bytes on disk
 * end, go where we asked, and describe the same whole file.
 */
static int
accept_partial(struct xfer *x)
{
	struct xfer *lead = xfer_lead(x);
	const char *cr = xfer_header_str(x->easy, "Content-Range");
	const struct part_range *rg;
	long long first, last, total;

	if (!x->ranged || x->rng < 0) {
		xfer_fail(x, FETCH_HTTP, "HTTP 206 from %s to a request without a range",
		    x->host);
		return -1;
	}
	rg = &lead->pi.range[x->rng];
	if (cr == NULL || sscanf(cr, "bytes %lld-%lld/%lld", &first, &last, &total) != 3 ||
	    first != rg->pos || last < first || last >= total ||
	    (lead->pi.total >= 0 && total != lead->pi.total) ||
	    last != (x->asked_last >= 0 ? x->asked_last : total - 1) || !same_version(x))
		return wrong_range(x);
	x->hop.announced = total;
	if (check_announced(x) < 0)
		return -1;
	if (x->lead != NULL)
		return 0;		/* writes into the lead's open .part */
	if (lead->pi.total < 0) {	/* a prefix of unknown length: now known */
		lead->pi.total = total;
		lead->pi.range[x->rng].end = total;
	}
	if (lead->fd < 0) {
		if (open_part(lead, false) < 0) {
			x->hop.restart = true;	/* vanished since: start over */
			return -1;
		}
		x->job->resumed = true;
		if (read_head(lead) < 0)
			return -1;
	}
	hasher_ready(lead->hf, xfer_prefix(lead));
	lead->splittable = splittable(lead);
	return 0;
}

/* A 200 carries the whole file: .part starts empty, the validator is kept. */
static int
accept_whole(struct xfer *x)
{
	struct partinfo pi;

	if (x->lead != NULL) {
		xfer_fail(x, FETCH_NETWORK, "%s sent the whole file to a range request",
		    x->host);
		return -1;
	}
	/* Helpers write into the .part: they stop first (restart(), outside
	 * libcurl's callbacks). */
	for (size_t i = 0; i < x->pi.nranges; i++)
		if (x->owner[i] != NULL && x->owner[i] != x) {
			x->hop.restart = true;
			return -1;
		}
	x->hop.announced = xfer_header_str(x->easy, "Transfer-Encoding") != NULL ? -1 :
	    xfer_header_ll(x->easy, "Content-Length");
	if (check_announced(x) < 0)
		return -1;
	/*
	 * The truncation is made durable before the new validator, so that a
	 * crash cannot pair old bytes with a new validator.
	 */
	if (open_part(x, true) < 0 || fsync(x->fd) < 0) {
		xfer_write_failed(x, x->part);
		return -1;
	}
	x->headlen = 0;
	x->sniffed = false;
	memset(&pi, 0, sizeof pi);
	partinfo_copy_value(pi.etag, sizeof pi.etag, xfer_header_str(x->easy, "ETag"));
	partinfo_copy_value(pi.lastmod, sizeof pi.lastmod, xfer_header_str(x->easy, "Last-Modified"));
	pi.total = x->hop.announced;
	if (partinfo_save(x->info, &pi) < 0) {
		xfer_write_failed(x, x->info);
		return -1;
	}
	x->pi = pi;
	xfer_one_range(x, pi.total);
	/* After a restart (ranges answered wrongly) the file comes whole, on
	 * one connection: a server that lies about ranges still delivers. */
	x->splittable = x->restarts == 0 && splittable(x);
	return 0;
}

/* The header block of a response is complete: decide where its body goes. */
static int
headers_done(struct xfer *x)
{
	long code = 0;

	/* Trailers of a chunked body end with a blank line too. */
	if (x->hop.status != 0)
		return 0;
	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
	if (code < 200)
		return 0;		/* interim 1xx; the real one follows */
	x->hop.status = code;
	if (code / 100 != 2)
		return 0;		/* redirect or error: decided when done */
	if ((code == 206 ? accept_partial(x) : accept_whole(x)) < 0)
		return -1;
	x->hop.body = true;
	clock_gettime(CLOCK_MONOTONIC, &x->hop.began);
	return 0;
}

size_t
xfer_on_header(char *buf, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;

	/* Only the blank line ending a block matters: curl keeps the headers. */
	if (n > 0 && (buf[0] == '\r' || buf[0] == '\n'))
		return headers_done(x) == 0 ? size * n : 0;
	return size * n;
}

/*
 * Collects the first bytes of the file (those written at offset `at`) and
 * judges them as soon as there are enough.
 */
static int
sniff_feed(struct xfer *x, long long at, const char *buf, size_t len)
{
	struct xfer *lead = xfer_lead(x);
	size_t k = SNIFF_LEN - lead->headlen;

	if (lead->sniffed || at != (long long)lead->headlen)
		return 0;
	if (k > len)
		k = len;
	memcpy(lead->head + lead->headlen, buf, k);
	lead->headlen += k;
	if (lead->headlen < SNIFF_LEN)
		return 0;
	lead->sniffed = true;
	return judge_head(x);
}

/* Writes buf at the end of x's range on disk, and tells the hasher. */
static int
write_range(struct xfer *x, const char *buf, size_t len)
{
	struct xfer *lead = xfer_lead(x);
	struct part_range *rg = &lead->pi.range[x->rng];

	while (len > 0) {
		ssize_t n = pwrite(lead->fd, buf, len, (off_t)rg->pos);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		rg->pos += n;
		buf += n;
		len -= (size_t)n;
	}
	hasher_ready(lead->hf, xfer_prefix(lead));
	return 0;
}

int
xfer_flush(struct xfer *x)
{
	size_t len = x->hop.wlen;

	x->hop.wlen = 0;
	if (len == 0 || x->rng < 0 || xfer_lead(x)->fd < 0)
		return 0;
	return write_range(x, x->wbuf, len);
}

/* Writes through a buffer: curl's 16 KiB pieces would cost a syscall each. */
static int
buffer_write(struct xfer *x, const char *buf, size_t len)
{
	if (x->wbuf == NULL && (x->wbuf = malloc(XFER_BUFFER_SIZE)) == NULL)
		return -1;
	if (x->hop.wlen + len > XFER_BUFFER_SIZE && xfer_flush(x) < 0)
		return -1;
	if (len >= XFER_BUFFER_SIZE)
		return write_range(x, buf, len);
	memcpy(x->wbuf + x->hop.wlen, buf, len);
	x->hop.wlen += len;
	return 0;
}

size_t
xfer_on_write(char *buf, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * n;
	const struct part_range *rg;
	long long at;
	char a[16];

	if (!x->hop.body) {
		/* An error page or a redirect's body: never stored. */
		x->hop.discarded += (long long)len;
		return x->hop.discarded > DISCARD_MAX ? 0 : len;
	}
	rg = &xfer_lead(x)->pi.range[x->rng];
	at = rg->pos + (long long)x->hop.wlen;		/* where buf goes in the file */
	if (rg->end >= 0 && at + (long long)len > rg->end) {
		/* The range was split while its bytes came: stop at its end. */
		len = (size_t)(rg->end - at);
		x->hop.range_end = true;
	}
	if (x->o->max_file_size > 0 && at + (long long)len > x->o->max_file_size) {
		xfer_fail(x, FETCH_TOO_BIG, "more than max_file_size (%s) and still "
		    "sending: stopped", progress_bytes(a, sizeof a, x->o->max_file_size));
		return 0;
	}
	if (sniff_feed(x, at, buf, len) < 0)
		return 0;
	if (buffer_write(x, buf, len) < 0) {
		xfer_write_failed(x, x->part[0] != '\0' ? x->part : xfer_lead(x)->part);
		return 0;
	}
	x->hop.received += (long long)len;
	x->job->bytes_this_run += (long long)len;
	/* Less than curl gave ends the transfer (a write error we expect). */
	return x->hop.range_end ? 0 : size * n;
}

int
xfer_on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
    curl_off_t ulnow)
{
	struct xfer *x = arg;

	if (x->hop.body && x->lead == NULL)
		progress_set(x->pg, x->slot, x->name, xfer_have(x) + (long long)x->hop.wlen,
		    x->pi.total);
	return 0;
}

/* Forgets the response of the last hop, before the next request. */
void
xfer_reset_hop(struct xfer *x)
{
	/* The file (fd, hash, head, ranges) is the lead's, across hops. */
	x->hop = (struct hop){ .announced = -1, .outcome = FETCH_OK };
	if (x->lead != NULL)
		x->why[0] = '\0';
	else
		x->job->error[0] = '\0';
}

/* ---- deciding how a transfer ended ---- */

static enum xfer_next
redirect(struct xfer *x)
{
	char *loc = NULL, why[200];

	curl_easy_getinfo(x->easy, CURLINFO_REDIRECT_URL, &loc);
	if (loc == NULL) {
		xfer_fail(x, FETCH_HTTP, "HTTP %ld from %s without a usable Location",
		    x->hop.status, x->host);
		return XFER_DONE;
	}
	if (x->hops >= x->o->max_redirects) {
		xfer_fail(x, FETCH_BLOCKED, "too many redirects (more than %d), the "
		    "last from %s", x->o->max_redirects, x->host);
		return XFER_DONE;
	}
	if (netguard_url_check(loc, x->o->https_only, x->o->allow_hosts,
	    why, sizeof why) < 0) {
		xfer_fail(x, FETCH_BLOCKED, "redirect from %s refused: %s", x->host, why);
		return XFER_DONE;
	}
	if (xfer_set_url(x, loc) < 0) {
		xfer_fail(x, FETCH_LOCAL, "out of memory");
		return XFER_DONE;
	}
	x->hops++;
	xfer_reset_hop(x);
	return XFER_AGAIN;
}

/* Range answer unusable (416, wrong Content-Range): once more from zero. */
static enum xfer_next
restart(struct xfer *x)
{
	if (x->restarts++ > 0) {
		xfer_fail(x, FETCH_NETWORK, "%s keeps answering the range request "
		    "wrongly", x->host);
		return XFER_DONE;
	}
	xfer_end_helpers(x);
	xfer_reset_hop(x);
	xfer_clear_range(x);
	return XFER_AGAIN;
}

static void
parent_dir(char *dir, size_t len, const char *path)
{
	char *slash;

	snprintf(dir, len, "%s", path);
	if ((slash = strrchr(dir, '/')) == NULL)
		snprintf(dir, len, ".");
	else
		slash[slash == dir ? 1 : 0] = '\0';
}

/*
 * The file is whole, hashed and synced under its .part name: renamed in,
 * the rename made durable, the sidecar removed.
 */
static void
put_in_place(struct xfer *lead)
{
	struct fetch_job *job = lead->job;
	char dir[PATH_MAX];
	int rc = close(lead->fd);

	lead->fd = -1;
	if (rc < 0 || rename(lead->part, job->dest) < 0)
		goto err;
	parent_dir(dir, sizeof dir, job->dest);
	if (fsync_dir(dir) < 0)
		goto err;
	(void)unlink(lead->info);
	job->bytes = lead->pi.total;
	return;
err:
	job->sha256[0] = '\0';
	xfer_write_failed(lead, job->dest);
}

/* The hasher's answer for a sealed file (hasher_sealed()): in place, or failed. */
static void
sealed(struct xfer *lead, int rc)
{
	lead->hf = NULL;
	lead->sealing = false;
	if (rc < 0) {
		xfer_fail(lead, FETCH_LOCAL, "cannot read back or sync %s: %s", lead->part,
		    strerror(errno));
		return;
	}
	put_in_place(lead);
}

/* Wakes the transfer loop from the hasher's thread. */
static void
wake_loop(void *multi)
{
	curl_multi_wakeup(multi);
}

void
xfer_finalize(struct xfer *lead)
{
	struct hashed_file *hf = lead->hf;
	int rc, saved;

	/* Synchronous: only for a .part found complete, before any transfer. */
	hasher_ready(hf, lead->pi.total);
	if (fsync(lead->fd) < 0) {
		saved = errno;
		hasher_drop(hf);
		errno = saved;
		rc = -1;
	} else {
		rc = hasher_result(hf, lead->job->sha256) < 0 ? -1 : 1;
	}
	sealed(lead, rc);
}

bool
xfer_reap_sealed(struct xfer *lead)
{
	int rc;

	if (!lead->sealing || (rc = hasher_sealed(lead->hf, lead->job->sha256)) == 0)
		return false;
	sealed(lead, rc);
	return true;
}

/* Is what the sidecar describes already the whole file? */
static bool
part_complete(struct xfer *x)
{
	struct stat st;

	if (partinfo_load(x->info, &x->pi) < 0 || x->pi.total <= 0 ||
	    lstat(x->part, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size != x->pi.total)
		return false;
	if (x->pi.nranges == 0) {
		x->pi.nranges = 1;
		x->pi.range[0] = (struct part_range){ 0, st.st_size, st.st_size };
	}
	return xfer_all_done(x);
}

int
xfer_finish_complete_part(struct xfer *x)
{
	if (!part_complete(x)) {
		memset(&x->pi, 0, sizeof x->pi);
		x->pi.total = -1;
		return 0;
	}
	x->hop.announced = x->pi.total;
	x->job->resumed = true;
	if (open_part(x, false) < 0) {
		xfer_fail(x, FETCH_LOCAL, "cannot read %s: %s", x->part, strerror(errno));
		return 1;
	}
	if (read_head(x) < 0 || (!x->sniffed && judge_head(x) < 0))
		return 1;
	xfer_finalize(x);
	return 1;
}

/* Every range is on disk: the lead checks the whole and puts it in place. */
static enum xfer_next
whole(struct xfer *lead)
{
	/* A file shorter than the sniff buffer is judged on what there is. */
	if (!lead->sniffed && judge_head(lead) < 0)
		return XFER_DONE;
	/* Hashing the rest and the fsync happen in the hasher's thread. */
	hasher_seal(lead->hf, lead->pi.total, wake_loop, lead->ctx->multi);
	lead->sealing = true;
	return XFER_WAIT;
}

/*
 * x has no range (its own is done): it takes the next one nobody fetches;
 * else a helper is done, and the lead finishes the file or waits for its
 * helpers.
 */
enum xfer_next
xfer_carry_on(struct xfer *x)
{
	struct xfer *lead = xfer_lead(x);
	int next = xfer_unowned_range(lead);

	if (next >= 0) {
		xfer_reset_hop(x);
		lead->owner[next] = x;
		if (xfer_ask_range(x, next) < 0) {
			xfer_fail(x, FETCH_LOCAL, "cannot set up libcurl (out of memory?)");
			return XFER_DONE;
		}
		return XFER_AGAIN;
	}
	if (x->lead != NULL)
		return XFER_DONE;
	return xfer_all_done(lead) ? whole(lead) : XFER_WAIT;
}

/* x's response ended without an error of its own: is its range whole? */
static enum xfer_next
range_done(struct xfer *x)
{
	struct xfer *lead = xfer_lead(x);
	struct part_range *rg;
	char a[16];

	if (!x->hop.body || x->rng < 0) {
		xfer_fail(x, FETCH_HTTP, "HTTP %ld from %s without a body", x->hop.status,
		    x->host);
		return XFER_DONE;
	}
	rg = &lead->pi.range[x->rng];
	if (rg->end < 0) {		/* no length announced: the body ends the file */
		rg->end = rg->pos;
		lead->pi.total = rg->pos;
	}
	if (rg->pos != rg->end) {
		if (lead->pi.nranges == 1)
			xfer_fail(x, FETCH_SHORT, "server announced %lld bytes but sent %lld",
			    lead->pi.total, rg->pos);
		else
			xfer_fail(x, FETCH_SHORT, "%s ended the range from byte %lld early, "
			    "after %s", x->host, rg->start, progress_bytes(a, sizeof a,
			    rg->pos - rg->start));
		return XFER_DONE;
	}
	lead->owner[x->rng] = NULL;
	x->rng = -1;
	return xfer_carry_on(x);
}

enum xfer_next
xfer_done(struct xfer *x, CURLcode rc)
{
	long code = x->hop.status;

	/* curl may end a transfer before the headers do (Content-Length too big). */
	if (code == 0)
		curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
	/* A hop that got no answer keeps the status of the one before. */
	if (code != 0 && x->lead == NULL)
		x->job->http_code = code;
	if (x->hop.outcome != FETCH_OK)
		return XFER_DONE;
	if (x->hop.restart)
		return restart(x);
	if (x->hop.status >= 300 && x->hop.status < 400)
		return redirect(x);
	if (x->hop.status == 416 && x->ranged) {
		if (x->lead == NULL)
			return restart(x);
		xfer_fail(x, FETCH_NETWORK, "%s refused a range request (416)", x->host);
		return XFER_DONE;
	}
	if (x->hop.status >= 400) {
		xfer_http_error(x);
		return XFER_DONE;
	}
	if (x->hop.body && xfer_flush(x) < 0) {
		xfer_write_failed(x, xfer_lead(x)->part);
		return XFER_DONE;
	}
	/* Stopping at a range's end is a write error we asked for. */
	if (rc != CURLE_OK && !x->hop.range_end) {
		xfer_curl_error(x, rc);
		return XFER_DONE;
	}
	return range_done(x);
}

void
xfer_finish(struct xfer *x)
{
	struct fetch_job *job = x->job;
	char line[400], size[16];

	job->result = x->hop.outcome;
	if (x->hop.outcome == FETCH_OK)
		job->error[0] = '\0';
	xfer_end_helpers(x);
	if (x->easy != NULL) {
		curl_multi_remove_handle(x->ctx->multi, x->easy);
		curl_easy_cleanup(x->easy);
		x->easy = NULL;
	}
	/* Wrong content or over the limit: nothing worth resuming. */
	if (job->result == FETCH_BAD_CONTENT || job->result == FETCH_TOO_BIG) {
		(void)unlink(x->part);
		(void)unlink(x->info);
	} else if (job->result != FETCH_OK) {
		/* Keep what arrived for the resume; a failure only means less. */
		(void)xfer_flush(x);
		(void)xfer_checkpoint(x);
	}
	if (x->fd >= 0)
		close(x->fd);
	x->fd = -1;
	hasher_drop(x->hf);
	x->hf = NULL;
	free(x->wbuf);
	x->wbuf = NULL;
	curl_slist_free_all(x->hdrs);
	x->hdrs = NULL;
	free(x->url);
	x->url = NULL;
	if (x->pg != NULL) {
		if (job->result == FETCH_OK)
			snprintf(line, sizeof line, "%s: %s", x->name,
			    progress_bytes(size, sizeof size, job->bytes));
		else
			snprintf(line, sizeof line, "%s: %s: %s", x->name,
			    fetch_result_name(job->result), job->error);
		progress_end(x->pg, x->slot, line);
	}
	if (x->o->job_done != NULL)
		x->o->job_done(job, x->o->job_done_arg);
	x->job = NULL;
}
