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

/* Reads [0, offset) of the open .part into the hash and the sniff buffer. */
static int
seed_hash(struct xfer *x)
{
	unsigned char *buf;
	long long left = x->offset;
	int rc = -1;

	if ((buf = malloc(READ_CHUNK)) == NULL)
		return -1;
	while (left > 0) {
		size_t want = left < READ_CHUNK ? (size_t)left : READ_CHUNK;
		ssize_t n = read(x->hop.fd, buf, want);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto err;	/* shrank under us: give up this run */
		if (x->hop.headlen < SNIFF_LEN) {
			size_t k = SNIFF_LEN - x->hop.headlen;

			if (k > (size_t)n)
				k = (size_t)n;
			memcpy(x->hop.head + x->hop.headlen, buf, k);
			x->hop.headlen += k;
		}
		if (sha256_update(x->hop.sha, buf, (size_t)n) < 0)
			goto err;
		left -= n;
	}
	rc = 0;
err:
	free(buf);
	return rc;
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
	const char *etag = xfer_header_str(x->easy, "ETag");
	const char *lastmod = xfer_header_str(x->easy, "Last-Modified");

	if (x->pi.etag[0] != '\0')
		return etag != NULL && strcmp(etag, x->pi.etag) == 0;
	if (x->pi.lastmod[0] != '\0')
		return lastmod != NULL && strcmp(lastmod, x->pi.lastmod) == 0;
	return true;	/* size alone: checked against Content-Range */
}

/*
 * A 206 answers our Range: it must start where .part ends and describe
 * the same whole file; then the hash is seeded from what is on disk.
 */
static int
accept_partial(struct xfer *x)
{
	const char *cr = xfer_header_str(x->easy, "Content-Range");
	long long first, last, total;

	if (!x->ranged) {
		xfer_fail(x, FETCH_HTTP, "HTTP 206 from %s to a request without a range",
		    x->host);
		return -1;
	}
	if (cr == NULL || sscanf(cr, "bytes %lld-%lld/%lld", &first, &last, &total) != 3 ||
	    first != x->offset || last < first || last >= total ||
	    (x->pi.total >= 0 && total != x->pi.total) || !same_version(x)) {
		/* Not the continuation we asked for: start over, once, never splice. */
		x->hop.restart = true;
		return -1;
	}
	x->hop.announced = total;
	if (check_announced(x) < 0)
		return -1;
	/* Writing goes on at offset; nothing may linger beyond it. */
	if ((x->hop.fd = open(x->part, O_RDWR | O_CLOEXEC | O_NOFOLLOW)) < 0 ||
	    ftruncate(x->hop.fd, x->offset) < 0 || seed_hash(x) < 0) {
		x->hop.restart = true;
		return -1;
	}
	x->job->resumed = true;
	return 0;
}

/* A 200 carries the whole file: .part starts empty, the validator is kept. */
static int
accept_whole(struct xfer *x)
{
	struct partinfo pi;

	x->hop.announced = xfer_header_str(x->easy, "Transfer-Encoding") != NULL ? -1 :
	    xfer_header_ll(x->easy, "Content-Length");
	x->offset = 0;
	if (check_announced(x) < 0)
		return -1;
	x->hop.fd = open(x->part, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	/*
	 * The truncation is made durable before the new validator, so that a
	 * crash cannot pair old bytes with a new validator.
	 */
	if (x->hop.fd < 0 || fsync(x->hop.fd) < 0) {
		xfer_write_failed(x, x->part);
		return -1;
	}
	memset(&pi, 0, sizeof pi);
	partinfo_copy_value(pi.etag, sizeof pi.etag, xfer_header_str(x->easy, "ETag"));
	partinfo_copy_value(pi.lastmod, sizeof pi.lastmod, xfer_header_str(x->easy, "Last-Modified"));
	pi.total = x->hop.announced;
	if (partinfo_save(x->info, &pi) < 0) {
		xfer_write_failed(x, x->info);
		return -1;
	}
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
	if ((x->hop.sha = sha256_new()) == NULL) {
		xfer_fail(x, FETCH_LOCAL, "out of memory");
		return -1;
	}
	if ((code == 206 ? accept_partial(x) : accept_whole(x)) < 0)
		return -1;
	x->hop.body = true;
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

/* Collects the first bytes and judges them as soon as there are enough. */
static int
sniff_feed(struct xfer *x, const char *buf, size_t len)
{
	size_t k = SNIFF_LEN - x->hop.headlen;
	char why[sizeof x->job->error];

	if (x->hop.sniffed)
		return 0;
	if (k > len)
		k = len;
	memcpy(x->hop.head + x->hop.headlen, buf, k);
	x->hop.headlen += k;
	if (x->hop.headlen < SNIFF_LEN)
		return 0;
	x->hop.sniffed = true;
	if (sniff_match(x->job->expect, x->hop.head, x->hop.headlen))
		return 0;
	xfer_fail(x, FETCH_BAD_CONTENT, "%s", sniff_describe(why, sizeof why,
	    x->job->expect, x->hop.head, x->hop.headlen));
	return -1;
}

/* Writes out what buffer_write() holds; the .part is then all we received. */
static int
flush_part(struct xfer *x)
{
	size_t len = x->hop.wlen;

	x->hop.wlen = 0;
	if (x->hop.fd < 0 || len == 0)
		return 0;
	return write_all(x->hop.fd, x->wbuf, len);
}

/* Appends to .part through a buffer: curl's 16 KiB pieces cost a syscall each. */
static int
buffer_write(struct xfer *x, const char *buf, size_t len)
{
	if (x->wbuf == NULL && (x->wbuf = malloc(XFER_BUFFER_SIZE)) == NULL)
		return -1;
	if (x->hop.wlen + len > XFER_BUFFER_SIZE && flush_part(x) < 0)
		return -1;
	if (len >= XFER_BUFFER_SIZE)
		return write_all(x->hop.fd, buf, len);
	memcpy(x->wbuf + x->hop.wlen, buf, len);
	x->hop.wlen += len;
	return 0;
}

size_t
xfer_on_write(char *buf, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * n;
	char a[16];

	if (!x->hop.body) {
		/* An error page or a redirect's body: never stored. */
		x->hop.discarded += (long long)len;
		return x->hop.discarded > DISCARD_MAX ? 0 : len;
	}
	if (x->o->max_file_size > 0 &&
	    x->offset + x->hop.received + (long long)len > x->o->max_file_size) {
		xfer_fail(x, FETCH_TOO_BIG, "more than max_file_size (%s) and still "
		    "sending: stopped", progress_bytes(a, sizeof a, x->o->max_file_size));
		return 0;
	}
	if (sniff_feed(x, buf, len) < 0)
		return 0;
	if (sha256_update(x->hop.sha, buf, len) < 0 || buffer_write(x, buf, len) < 0) {
		xfer_write_failed(x, x->part);
		return 0;
	}
	x->hop.received += (long long)len;
	x->job->bytes_this_run += (long long)len;
	return len;
}

int
xfer_on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
    curl_off_t ulnow)
{
	struct xfer *x = arg;

	if (x->hop.body)
		progress_set(x->pg, x->slot, x->name, x->offset + x->hop.received,
		    x->hop.announced);
	return 0;
}

/* Forgets the response of the last hop, before the next request. */
void
xfer_reset_hop(struct xfer *x)
{
	if (x->hop.fd >= 0)
		close(x->hop.fd);
	sha256_free(x->hop.sha);
	/* A restart truncates and a redirect had no body: nothing is kept. */
	x->hop = (struct hop){ .fd = -1, .announced = -1, .outcome = FETCH_OK };
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
	xfer_reset_hop(x);
	xfer_clear_range(x);
	return XFER_AGAIN;
}

/* The file is whole: durable under its .part name, then renamed in. */
static int
finalize(struct xfer *x)
{
	struct fetch_job *job = x->job;
	char dir[PATH_MAX], *slash;
	int rc;

	if (flush_part(x) < 0 || fsync(x->hop.fd) < 0)
		goto err;		/* xfer_finish() closes fd */
	rc = close(x->hop.fd);
	x->hop.fd = -1;
	if (rc < 0 || rename(x->part, job->dest) < 0)
		goto err;
	snprintf(dir, sizeof dir, "%s", job->dest);
	if ((slash = strrchr(dir, '/')) == NULL)
		snprintf(dir, sizeof dir, ".");
	else
		slash[slash == dir ? 1 : 0] = '\0';
	if (fsync_dir(dir) < 0)
		goto err;
	(void)unlink(x->info);
	if (sha256_final_hex(x->hop.sha, job->sha256) < 0)
		goto err;
	job->bytes = x->offset + x->hop.received;
	return 0;
err:
	xfer_write_failed(x, job->dest);
	return -1;
}

static void
complete(struct xfer *x)
{
	char why[sizeof x->job->error];

	if (x->hop.announced >= 0 && x->offset + x->hop.received != x->hop.announced) {
		xfer_fail(x, FETCH_SHORT, "server announced %lld bytes but sent %lld",
		    x->hop.announced, x->offset + x->hop.received);
		return;
	}
	if (!x->hop.sniffed && !sniff_match(x->job->expect, x->hop.head, x->hop.headlen)) {
		xfer_fail(x, FETCH_BAD_CONTENT, "%s", sniff_describe(why, sizeof why,
		    x->job->expect, x->hop.head, x->hop.headlen));
		return;
	}
	if (x->hop.sha == NULL || x->hop.fd < 0) {
		xfer_fail(x, FETCH_HTTP, "HTTP %ld from %s without a body", x->hop.status,
		    x->host);
		return;
	}
	(void)finalize(x);
}

enum xfer_next
xfer_done(struct xfer *x, CURLcode rc)
{
	long code = x->hop.status;

	/* curl may end a transfer before the headers do (Content-Length too big). */
	if (code == 0)
		curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
	/* A hop that got no answer keeps the status of the one before. */
	if (code != 0)
		x->job->http_code = code;
	if (x->hop.outcome != FETCH_OK)
		return XFER_DONE;
	if (x->hop.restart)
		return restart(x);
	if (x->hop.status >= 300 && x->hop.status < 400)
		return redirect(x);
	if (x->hop.status == 416 && x->ranged)
		return restart(x);
	if (x->hop.status >= 400)
		xfer_http_error(x);
	else if (rc != CURLE_OK)
		xfer_curl_error(x, rc);
	else
		complete(x);
	return XFER_DONE;
}

void
xfer_finish(struct xfer *x, CURLM *multi)
{
	struct fetch_job *job = x->job;
	char line[400], size[16];

	job->result = x->hop.outcome;
	if (x->hop.outcome == FETCH_OK)
		job->error[0] = '\0';
	if (x->easy != NULL) {
		curl_multi_remove_handle(multi, x->easy);
		curl_easy_cleanup(x->easy);
		x->easy = NULL;
	}
	/* Wrong content or over the limit: nothing worth resuming. */
	if (job->result == FETCH_BAD_CONTENT || job->result == FETCH_TOO_BIG) {
		(void)unlink(x->part);
		(void)unlink(x->info);
	} else {
		/* Keep what arrived for the resume; a failure only means less. */
		(void)flush_part(x);
	}
	if (x->hop.fd >= 0)
		close(x->hop.fd);
	x->hop.fd = -1;
	free(x->wbuf);
	x->wbuf = NULL;
	sha256_free(x->hop.sha);
	x->hop.sha = NULL;
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
