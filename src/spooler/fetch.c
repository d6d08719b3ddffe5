#include "fetch.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "cabundle.h"
#include "fsutil.h"
#include "log.h"
#include "netguard.h"
#include "progress.h"
#include "sniff.h"

#ifndef VEO_VERSION
#define VEO_VERSION "0"
#endif

#define BUFFER_SIZE	(128L * 1024)	/* per transfer: curl's and ours */
#define DISCARD_MAX	(64 * 1024)	/* error or redirect body read, then hang up */
#define INFO_MAX	4096		/* size limit of a .part.info file */
#define READ_CHUNK	(64 * 1024)	/* reading a .part back to seed the hash */

/* The validator of a partial download, kept in "<dest>.part.info". */
struct partinfo {
	char		etag[256];	/* "" when none */
	char		lastmod[64];	/* "" when none */
	long long	total;		/* -1 when unknown */
};

/*
 * One job's transfer: everything the callbacks need.  There are only
 * o->parallel of these, reused, so memory does not grow with the jobs.
 */
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

	/* the current response */
	long			 status;	/* final status, 0 before headers end */
	bool			 body;		/* its body goes into .part */
	long long		 announced;	/* whole file size, -1 unknown */
	long long		 received;	/* body bytes written to .part */
	long long		 discarded;	/* body bytes of an error or redirect */
	int			 fd;
	char			*wbuf;		/* BUFFER_SIZE: curl hands out 16 KiB */
	size_t			 wlen;
	struct sha256_stream	*sha;
	unsigned char		 head[SNIFF_LEN];
	size_t			 headlen;
	bool			 sniffed;

	/* set by callbacks */
	enum fetch_result	 fail;		/* FETCH_OK, or why a callback aborted */
	bool			 restart;	/* redo from byte 0, without Range */
	char			 refused_ip[INET6_ADDRSTRLEN];	/* last refused at connect */
	const char		*refused_kind;	/* static, from netguard */
	char			 errbuf[CURL_ERROR_SIZE];
};

enum { DONE, AGAIN };

const char *
fetch_result_name(enum fetch_result r)
{
	switch (r) {
	case FETCH_OK:		return "ok";
	case FETCH_NOT_RUN:	return "not run";
	case FETCH_HTTP:	return "http error";
	case FETCH_NETWORK:	return "network error";
	case FETCH_BLOCKED:	return "blocked";
	case FETCH_TOO_BIG:	return "too big";
	case FETCH_SHORT:	return "short";
	case FETCH_BAD_CONTENT:	return "bad content";
	case FETCH_LOCAL:	return "local error";
	}
	return "unknown";
}

int
fetch_global_init(void)
{
	const curl_version_info_data *v;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -1;
	v = curl_version_info(CURLVERSION_NOW);
	/* CURLOPT_PROTOCOLS_STR needs 7.85; https needs a TLS backend. */
	if (v->version_num < 0x075500 || !(v->features & CURL_VERSION_SSL)) {
		curl_global_cleanup();
		return -1;
	}
	return 0;
}

void
fetch_global_cleanup(void)
{
	curl_global_cleanup();
}

/* Records the outcome of x's job; the first failure recorded wins. */
static void __attribute__((format(printf, 3, 4)))
fail(struct xfer *x, enum fetch_result r, const char *fmt, ...)
{
	va_list ap;

	if (x->fail != FETCH_OK)
		return;
	x->fail = r;
	va_start(ap, fmt);
	vsnprintf(x->job->error, sizeof x->job->error, fmt, ap);
	va_end(ap);
}

static const char *
bytes(char *buf, size_t len, long long n)
{
	return progress_bytes(buf, len, n);
}

/* ---- the .part.info sidecar ---- */

/* Header values go back into a request: printable ASCII only. */
static bool
header_safe(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return false;
	return true;
}

static void
copy_value(char *dst, size_t len, const char *src)
{
	if (src == NULL || strlen(src) >= len || !header_safe(src))
		dst[0] = '\0';
	else
		memcpy(dst, src, strlen(src) + 1);
}

static bool
strong_etag(const char *etag)
{
	return etag[0] == '"';
}

/*
 * Reads path into pi; -1 when missing or incomplete.  The last line must
 * be "end", so that a file cut short by a crash is not believed.
 */
static int
info_load(const char *path, struct partinfo *pi)
{
	char *buf = NULL, *line, *save = NULL;
	size_t len;
	int rc = -1;

	memset(pi, 0, sizeof *pi);
	pi->total = -1;
	if (read_file_bounded(path, INFO_MAX, &buf, &len) < 0)
		return -1;
	if (len < 5 || strcmp(buf + len - 4, "end\n") != 0 ||
	    strncmp(buf, "veo-part 1\n", 11) != 0)
		goto err;
	for (line = strtok_r(buf, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "length ", 7) == 0)
			pi->total = strtoll(line + 7, NULL, 10);
		else if (strncmp(line, "etag ", 5) == 0)
			copy_value(pi->etag, sizeof pi->etag, line + 5);
		else if (strncmp(line, "last-modified ", 14) == 0)
			copy_value(pi->lastmod, sizeof pi->lastmod, line + 14);
	}
	rc = 0;
err:
	free(buf);
	return rc;
}

/* Can a later run resume against this validator? */
static bool
info_usable(const struct partinfo *pi)
{
	return strong_etag(pi->etag) || pi->lastmod[0] != '\0' || pi->total >= 0;
}

/* Writes x->info for the response that just started, or removes it. */
static int
info_save(struct xfer *x, const struct partinfo *pi)
{
	char buf[INFO_MAX];
	int fd = -1, n, rc = -1;

	if (!info_usable(pi)) {
		if (unlink(x->info) < 0 && errno != ENOENT)
			return -1;
		return 0;
	}
	n = snprintf(buf, sizeof buf, "veo-part 1\nlength %lld\n%s%s%s%s%s%send\n",
	    pi->total,
	    pi->etag[0] ? "etag " : "", pi->etag, pi->etag[0] ? "\n" : "",
	    pi->lastmod[0] ? "last-modified " : "", pi->lastmod,
	    pi->lastmod[0] ? "\n" : "");
	fd = open(x->info, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		goto err;
	if (write_all(fd, buf, (size_t)n) < 0 || fsync(fd) < 0)
		goto err;
	rc = 0;
err:
	if (fd >= 0)
		close(fd);
	return rc;
}

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
	snprintf(x->refused_ip, sizeof x->refused_ip, "?");
	if (in != NULL)
		inet_ntop(a->family, in, x->refused_ip, sizeof x->refused_ip);
	x->refused_kind = kind;
	return CURL_SOCKET_BAD;
}

static long long
header_ll(CURL *e, const char *name)
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

static const char *
header_str(CURL *e, const char *name)
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
		ssize_t n = read(x->fd, buf, want);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto err;	/* shrank under us: give up this run */
		if (x->headlen < SNIFF_LEN) {
			size_t k = SNIFF_LEN - x->headlen;

			if (k > (size_t)n)
				k = (size_t)n;
			memcpy(x->head + x->headlen, buf, k);
			x->headlen += k;
		}
		if (sha256_update(x->sha, buf, (size_t)n) < 0)
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

	if (x->o->max_file_size <= 0 || x->announced <= x->o->max_file_size)
		return 0;
	fail(x, FETCH_TOO_BIG, "file is %s, more than max_file_size (%s)",
	    bytes(a, sizeof a, x->announced), bytes(b, sizeof b, x->o->max_file_size));
	return -1;
}

/*
 * A 206 answers our Range: it must start where .part ends and describe
 * the same whole file; then the hash is seeded from what is on disk.
 */
static int
accept_partial(struct xfer *x)
{
	const char *cr = header_str(x->easy, "Content-Range");
	long long first, last, total;

	if (!x->ranged) {
		fail(x, FETCH_HTTP, "HTTP 206 from %s to a request without a range",
		    x->host);
		return -1;
	}
	if (cr == NULL || sscanf(cr, "bytes %lld-%lld/%lld", &first, &last, &total) != 3 ||
	    first != x->offset || last < first || last >= total ||
	    (x->pi.total >= 0 && total != x->pi.total)) {
		/* Not the continuation we asked for: start over, once. */
		x->restart = true;
		return -1;
	}
	x->announced = total;
	if (check_announced(x) < 0)
		return -1;
	/* Writing goes on at offset; nothing may linger beyond it. */
	if ((x->fd = open(x->part, O_RDWR | O_CLOEXEC | O_NOFOLLOW)) < 0 ||
	    ftruncate(x->fd, x->offset) < 0 || seed_hash(x) < 0) {
		x->restart = true;
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

	x->announced = header_str(x->easy, "Transfer-Encoding") != NULL ? -1 :
	    header_ll(x->easy, "Content-Length");
	x->offset = 0;
	if (check_announced(x) < 0)
		return -1;
	x->fd = open(x->part, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	/*
	 * The truncation is made durable before the new validator, so that a
	 * crash cannot pair old bytes with a new validator.
	 */
	if (x->fd < 0 || fsync(x->fd) < 0) {
		fail(x, FETCH_LOCAL, "cannot write %s: %s", x->part, strerror(errno));
		return -1;
	}
	memset(&pi, 0, sizeof pi);
	copy_value(pi.etag, sizeof pi.etag, header_str(x->easy, "ETag"));
	copy_value(pi.lastmod, sizeof pi.lastmod, header_str(x->easy, "Last-Modified"));
	pi.total = x->announced;
	if (info_save(x, &pi) < 0) {
		fail(x, FETCH_LOCAL, "cannot write %s: %s", x->info, strerror(errno));
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
	if (x->status != 0)
		return 0;
	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
	if (code < 200)
		return 0;		/* interim 1xx; the real one follows */
	x->status = code;
	if (code / 100 != 2)
		return 0;		/* redirect or error: decided when done */
	if ((x->sha = sha256_new()) == NULL) {
		fail(x, FETCH_LOCAL, "out of memory");
		return -1;
	}
	if ((code == 206 ? accept_partial(x) : accept_whole(x)) < 0)
		return -1;
	x->body = true;
	return 0;
}

static size_t
on_header(char *buf, size_t size, size_t n, void *arg)
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
	size_t k = SNIFF_LEN - x->headlen;
	char why[sizeof x->job->error];

	if (x->sniffed)
		return 0;
	if (k > len)
		k = len;
	memcpy(x->head + x->headlen, buf, k);
	x->headlen += k;
	if (x->headlen < SNIFF_LEN)
		return 0;
	x->sniffed = true;
	if (sniff_match(x->job->expect, x->head, x->headlen))
		return 0;
	fail(x, FETCH_BAD_CONTENT, "%s", sniff_describe(why, sizeof why,
	    x->job->expect, x->head, x->headlen));
	return -1;
}

/* Writes out what buffer_write() holds; the .part is then all we received. */
static int
flush_part(struct xfer *x)
{
	size_t len = x->wlen;

	x->wlen = 0;
	if (x->fd < 0 || len == 0)
		return 0;
	return write_all(x->fd, x->wbuf, len);
}

/* Appends to .part through a buffer: curl's 16 KiB pieces cost a syscall each. */
static int
buffer_write(struct xfer *x, const char *buf, size_t len)
{
	if (x->wbuf == NULL && (x->wbuf = malloc(BUFFER_SIZE)) == NULL)
		return -1;
	if (x->wlen + len > BUFFER_SIZE && flush_part(x) < 0)
		return -1;
	if (len >= BUFFER_SIZE)
		return write_all(x->fd, buf, len);
	memcpy(x->wbuf + x->wlen, buf, len);
	x->wlen += len;
	return 0;
}

static size_t
on_write(char *buf, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * n;
	char a[16];

	if (!x->body) {
		/* An error page or a redirect's body: never stored. */
		x->discarded += (long long)len;
		return x->discarded > DISCARD_MAX ? 0 : len;
	}
	if (x->o->max_file_size > 0 &&
	    x->offset + x->received + (long long)len > x->o->max_file_size) {
		fail(x, FETCH_TOO_BIG, "more than max_file_size (%s) and still "
		    "sending: stopped", bytes(a, sizeof a, x->o->max_file_size));
		return 0;
	}
	if (sniff_feed(x, buf, len) < 0)
		return 0;
	if (sha256_update(x->sha, buf, len) < 0 || buffer_write(x, buf, len) < 0) {
		fail(x, FETCH_LOCAL, "cannot write %s: %s", x->part, strerror(errno));
		return 0;
	}
	x->received += (long long)len;
	x->job->bytes_this_run += (long long)len;
	return len;
}

static int
on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
    curl_off_t ulnow)
{
	struct xfer *x = arg;

	if (x->body)
		progress_set(x->pg, x->slot, x->name, x->offset + x->received,
		    x->announced);
	return 0;
}

/* ---- one transfer ---- */

/* Sets x->url to url (copied) and x->host for messages. */
static int
set_url(struct xfer *x, const char *url)
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

/* Forgets the response of the last hop, before the next request. */
static void
reset_response(struct xfer *x)
{
	if (x->fd >= 0)
		close(x->fd);
	x->fd = -1;
	x->wlen = 0;		/* a restart truncates; a redirect had no body */
	sha256_free(x->sha);
	x->sha = NULL;
	x->status = 0;
	x->body = false;
	x->announced = -1;
	x->received = 0;
	x->discarded = 0;
	x->headlen = 0;
	x->sniffed = false;
	x->fail = FETCH_OK;
	x->restart = false;
	x->refused_ip[0] = '\0';
	x->refused_kind = NULL;
	x->errbuf[0] = '\0';
	x->job->error[0] = '\0';
}

/*
 * Asks for the rest of an existing .part, when its validator is known:
 * "Range: bytes=N-" and If-Range (a strong ETag, else Last-Modified), so
 * that a changed file comes back whole (200) instead of spliced.
 */
static int
set_range(struct xfer *x)
{
	char range[32], hdr[300];
	struct stat st;

	x->ranged = false;
	x->offset = 0;
	if (stat(x->part, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size == 0 ||
	    info_load(x->info, &x->pi) < 0 || !info_usable(&x->pi) ||
	    (x->pi.total >= 0 && st.st_size >= x->pi.total))
		return 0;	/* nothing worth resuming: a 200 truncates */
	x->offset = st.st_size;
	snprintf(range, sizeof range, "%lld-", (long long)st.st_size);
	if (strong_etag(x->pi.etag))
		snprintf(hdr, sizeof hdr, "If-Range: %s", x->pi.etag);
	else if (x->pi.lastmod[0] != '\0')
		snprintf(hdr, sizeof hdr, "If-Range: %s", x->pi.lastmod);
	else
		hdr[0] = '\0';	/* size alone: checked against Content-Range */
	if (hdr[0] != '\0' && (x->hdrs = curl_slist_append(NULL, hdr)) == NULL)
		return -1;
	if (curl_easy_setopt(x->easy, CURLOPT_RANGE, range) != CURLE_OK ||
	    curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->hdrs) != CURLE_OK)
		return -1;
	x->ranged = true;
	return 0;
}

static void
clear_range(struct xfer *x)
{
	curl_easy_setopt(x->easy, CURLOPT_RANGE, NULL);
	curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(x->hdrs);
	x->hdrs = NULL;
	x->ranged = false;
	x->offset = 0;
	x->job->resumed = false;
}

static long
stall_time(const struct fetch_opts *o)
{
	return o->stall_timeout > 0 ? o->stall_timeout : 60L;
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
	SET(CURLOPT_LOW_SPEED_LIMIT, 1L);
	SET(CURLOPT_LOW_SPEED_TIME, stall_time(o));
	SET(CURLOPT_FAILONERROR, 0L);		/* the status is read by us */
	SET(CURLOPT_HEADERFUNCTION, on_header);
	SET(CURLOPT_HEADERDATA, x);
	SET(CURLOPT_WRITEFUNCTION, on_write);
	SET(CURLOPT_WRITEDATA, x);
	SET(CURLOPT_ERRORBUFFER, x->errbuf);
	SET(CURLOPT_BUFFERSIZE, BUFFER_SIZE);
	SET(CURLOPT_USERAGENT, "veo-spooler/" VEO_VERSION);
	if (x->pg != NULL) {
		SET(CURLOPT_NOPROGRESS, 0L);
		SET(CURLOPT_XFERINFOFUNCTION, on_progress);
		SET(CURLOPT_XFERINFODATA, x);
	}
	return 0;
}

#undef SET

static void
job_reset(struct fetch_job *job)
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

static void
xfer_init(struct xfer *x, struct fetch_job *job, const struct fetch_opts *o,
    struct progress *pg, size_t slot)
{
	const char *base;

	memset(x, 0, sizeof *x);
	x->job = job;
	x->o = o;
	x->pg = pg;
	x->slot = slot;
	x->fd = -1;
	x->announced = -1;
	job->error[0] = '\0';
	base = job->dest != NULL ? strrchr(job->dest, '/') : NULL;
	base = base != NULL ? base + 1 : job->dest != NULL ? job->dest : "?";
	log_escape(x->name, sizeof x->name, base, strlen(base));
}

/* Prepares and adds x's first request; -1 when the job already ended. */
static int
xfer_start(struct xfer *x, CURLM *multi)
{
	struct fetch_job *job = x->job;
	char why[200];

	if (netguard_url_check(job->url, x->o->https_only, x->o->allow_hosts,
	    why, sizeof why) < 0) {
		fail(x, FETCH_BLOCKED, "%s", why);
		return -1;
	}
	if (job->dest == NULL ||
	    (size_t)snprintf(x->part, sizeof x->part, "%s.part", job->dest) >= sizeof x->part ||
	    (size_t)snprintf(x->info, sizeof x->info, "%s.part.info", job->dest) >= sizeof x->info) {
		fail(x, FETCH_LOCAL, "destination path missing or too long");
		return -1;
	}
	if ((x->easy = curl_easy_init()) == NULL || setup_easy(x) < 0 ||
	    set_url(x, job->url) < 0 || set_range(x) < 0 ||
	    curl_multi_add_handle(multi, x->easy) != CURLM_OK) {
		fail(x, FETCH_LOCAL, "cannot set up libcurl (out of memory?)");
		return -1;
	}
	return 0;
}

/* ---- deciding how a transfer ended ---- */

static int
redirect(struct xfer *x)
{
	char *loc = NULL, why[200];

	curl_easy_getinfo(x->easy, CURLINFO_REDIRECT_URL, &loc);
	if (loc == NULL) {
		fail(x, FETCH_HTTP, "HTTP %ld from %s without a usable Location",
		    x->status, x->host);
		return DONE;
	}
	if (x->hops >= x->o->max_redirects) {
		fail(x, FETCH_BLOCKED, "too many redirects (more than %d), the "
		    "last from %s", x->o->max_redirects, x->host);
		return DONE;
	}
	if (netguard_url_check(loc, x->o->https_only, x->o->allow_hosts,
	    why, sizeof why) < 0) {
		fail(x, FETCH_BLOCKED, "redirect from %s refused: %s", x->host, why);
		return DONE;
	}
	if (set_url(x, loc) < 0) {
		fail(x, FETCH_LOCAL, "out of memory");
		return DONE;
	}
	x->hops++;
	reset_response(x);
	return AGAIN;
}

/* Range answer unusable (416, wrong Content-Range): once more from zero. */
static int
restart(struct xfer *x)
{
	if (x->restarts++ > 0) {
		fail(x, FETCH_NETWORK, "%s keeps answering the range request "
		    "wrongly", x->host);
		return DONE;
	}
	reset_response(x);
	clear_range(x);
	return AGAIN;
}

static void
http_error(struct xfer *x)
{
	const char *why;

	switch (x->status) {
	case 404:
	case 410:
		why = ": the file is gone (URLs expire after 14 days)";
		break;
	case 401:
	case 403:
		why = ": access denied (the link may have expired)";
		break;
	case 429:
		why = ": too many requests, try later";
		break;
	default:
		why = x->status >= 500 ? ": server error, try later" : "";
		break;
	}
	fail(x, FETCH_HTTP, "HTTP %ld from %s%s", x->status, x->host, why);
}

/*
 * The connect-time address check refused every address of the host:
 * "refused to connect to evil.test (127.0.0.1): loopback address ...".
 */
static void
refused(struct xfer *x)
{
	char name[sizeof x->host + 8] = "";
	size_t hlen = strlen(x->host);
	const char *ip = x->refused_ip;

	/* Name the host too unless it is the address itself ("[::1]"). */
	if (strcmp(x->host, ip) != 0 && !(hlen == strlen(ip) + 2 &&
	    x->host[0] == '[' && strncmp(x->host + 1, ip, hlen - 2) == 0))
		snprintf(name, sizeof name, "%s ", x->host);
	fail(x, FETCH_BLOCKED, "refused to connect to %s%s%s%s%s: %s (set "
	    "allow_private = yes only for testing)", name, name[0] ? "(" : "",
	    ip, name[0] ? ")" : "", x->hops > 0 ? " after a redirect" : "",
	    x->refused_kind);
}

static void
curl_error(struct xfer *x, CURLcode rc)
{
	char a[16], b[16], detail[sizeof x->errbuf];
	long long got = x->offset + x->received;
	curl_off_t connect = 0;
	long long size;
	long oserr = 0;

	/* curl's message may quote the peer (certificate names): escape it. */
	log_escape(detail, sizeof detail, x->errbuf, strlen(x->errbuf));
	curl_easy_getinfo(x->easy, CURLINFO_CONNECT_TIME_T, &connect);
	switch (rc) {
	case CURLE_COULDNT_CONNECT:
		if (x->refused_kind != NULL) {
			refused(x);
			return;
		}
		curl_easy_getinfo(x->easy, CURLINFO_OS_ERRNO, &oserr);
		fail(x, FETCH_NETWORK, "cannot connect to %s: %s", x->host,
		    oserr != 0 ? strerror((int)oserr) : detail);
		return;
	case CURLE_COULDNT_RESOLVE_HOST:
		fail(x, FETCH_NETWORK, "cannot resolve host %s", x->host);
		return;
	case CURLE_OPERATION_TIMEDOUT:
		if (connect > 0)
			fail(x, FETCH_NETWORK, "stalled: no data for %ld s (after %s)",
			    stall_time(x->o), bytes(a, sizeof a, got));
		else
			fail(x, FETCH_NETWORK, "timed out connecting to %s", x->host);
		return;
	case CURLE_PARTIAL_FILE:
		if (x->announced >= 0)
			fail(x, FETCH_SHORT, "server announced %lld bytes but sent %lld",
			    x->announced, got);
		else
			fail(x, FETCH_SHORT, "transfer from %s ended early after %s",
			    x->host, bytes(a, sizeof a, got));
		return;
	case CURLE_FILESIZE_EXCEEDED:
		/* curl stops at the Content-Length header, before headers_done(). */
		size = header_ll(x->easy, "Content-Length");
		fail(x, FETCH_TOO_BIG, "file is %s, more than max_file_size (%s)",
		    size > 0 ? bytes(a, sizeof a, size) : "too large",
		    bytes(b, sizeof b, x->o->max_file_size));
		return;
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
		if (strstr(x->errbuf, "reset") != NULL) {
			fail(x, FETCH_NETWORK, "connection reset by %s after %s",
			    x->host, bytes(a, sizeof a, got));
			return;
		}
		break;
	case CURLE_GOT_NOTHING:
		fail(x, FETCH_NETWORK, "%s closed the connection without answering",
		    x->host);
		return;
	case CURLE_PEER_FAILED_VERIFICATION:
		fail(x, FETCH_NETWORK, "TLS certificate of %s not trusted (ca_file "
		    "adds a CA): %s", x->host, detail);
		return;
	case CURLE_UNSUPPORTED_PROTOCOL:
		fail(x, FETCH_BLOCKED, "protocol refused for %s: %s", x->host, detail);
		return;
	default:
		break;
	}
	fail(x, FETCH_NETWORK, "%s from %s after %s: %s", curl_easy_strerror(rc),
	    x->host, bytes(a, sizeof a, got), detail);
}

/* The file is whole: durable under its .part name, then renamed in. */
static int
finalize(struct xfer *x)
{
	struct fetch_job *job = x->job;
	char dir[PATH_MAX], *slash;
	int rc;

	if (flush_part(x) < 0 || fsync(x->fd) < 0)
		goto err;		/* xfer_finish() closes fd */
	rc = close(x->fd);
	x->fd = -1;
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
	if (sha256_final_hex(x->sha, job->sha256) < 0)
		goto err;
	job->bytes = x->offset + x->received;
	return 0;
err:
	fail(x, FETCH_LOCAL, "cannot store %s: %s", job->dest, strerror(errno));
	return -1;
}

static void
complete(struct xfer *x)
{
	char why[sizeof x->job->error];

	if (x->announced >= 0 && x->offset + x->received != x->announced) {
		fail(x, FETCH_SHORT, "server announced %lld bytes but sent %lld",
		    x->announced, x->offset + x->received);
		return;
	}
	if (!x->sniffed && !sniff_match(x->job->expect, x->head, x->headlen)) {
		fail(x, FETCH_BAD_CONTENT, "%s", sniff_describe(why, sizeof why,
		    x->job->expect, x->head, x->headlen));
		return;
	}
	if (x->sha == NULL || x->fd < 0) {
		fail(x, FETCH_HTTP, "HTTP %ld from %s without a body", x->status,
		    x->host);
		return;
	}
	(void)finalize(x);
}

/* Called for CURLMSG_DONE: DONE with x->fail set (FETCH_OK too), or AGAIN. */
static int
xfer_done(struct xfer *x, CURLcode rc)
{
	long code = x->status;

	/* curl may end a transfer before the headers do (Content-Length too big). */
	if (code == 0)
		curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
	/* A hop that got no answer keeps the status of the one before. */
	if (code != 0)
		x->job->http_code = code;
	if (x->fail != FETCH_OK)
		return DONE;
	if (x->restart)
		return restart(x);
	if (x->status >= 300 && x->status < 400)
		return redirect(x);
	if (x->status == 416 && x->ranged)
		return restart(x);
	if (x->status >= 400)
		http_error(x);
	else if (rc != CURLE_OK)
		curl_error(x, rc);
	else
		complete(x);
	return DONE;
}

/* Records the result and releases everything x holds. */
static void
xfer_finish(struct xfer *x, CURLM *multi)
{
	struct fetch_job *job = x->job;
	char line[400], size[16];

	job->result = x->fail;
	if (x->fail == FETCH_OK)
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
	if (x->fd >= 0)
		close(x->fd);
	x->fd = -1;
	free(x->wbuf);
	x->wbuf = NULL;
	sha256_free(x->sha);
	x->sha = NULL;
	curl_slist_free_all(x->hdrs);
	x->hdrs = NULL;
	free(x->url);
	x->url = NULL;
	if (x->pg != NULL) {
		if (job->result == FETCH_OK)
			snprintf(line, sizeof line, "%s: %s", x->name,
			    bytes(size, sizeof size, job->bytes));
		else
			snprintf(line, sizeof line, "%s: %s: %s", x->name,
			    fetch_result_name(job->result), job->error);
		progress_end(x->pg, x->slot, line);
	}
	x->job = NULL;
}

/* ---- the multi loop ---- */

/* Reads finished transfers; returns how many ended for good. */
static size_t
drain(CURLM *multi)
{
	CURLMsg *msg;
	size_t ended = 0;
	int left;

	while ((msg = curl_multi_info_read(multi, &left)) != NULL) {
		struct xfer *x;
		char *priv = NULL;
		CURLcode rc;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
		x = (struct xfer *)(void *)priv;
		/* msg is invalid once the handle is removed: copy first. */
		rc = msg->data.result;
		curl_multi_remove_handle(multi, x->easy);
		if (xfer_done(x, rc) == AGAIN) {
			/* Next hop, or a restart from zero: same job, same slot. */
			if (curl_multi_add_handle(multi, x->easy) == CURLM_OK)
				continue;
			fail(x, FETCH_LOCAL, "cannot set up libcurl (out of memory?)");
		}
		xfer_finish(x, multi);
		ended++;
	}
	return ended;
}

static struct xfer *
free_slot(struct xfer *xs, size_t nslots)
{
	for (size_t i = 0; i < nslots; i++)
		if (xs[i].job == NULL)
			return &xs[i];
	return NULL;
}

int
fetch_run(struct fetch_job *jobs, size_t n, const struct fetch_opts *o)
{
	CURLM *multi = NULL;
	struct xfer *xs = NULL, *x;
	struct progress *pg = NULL;
	size_t next = 0, active = 0, i;
	size_t parallel = o->parallel > 0 ? (size_t)o->parallel : 1;
	time_t ticked = time(NULL), now;
	int still, rc = -1;

	for (i = 0; i < n; i++)
		job_reset(&jobs[i]);
	if ((multi = curl_multi_init()) == NULL ||
	    (xs = calloc(parallel, sizeof *xs)) == NULL ||
	    (o->progress && (pg = progress_new(n)) == NULL))
		goto err;
	curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS,
	    o->per_host > 0 ? o->per_host : 1L);
	for (;;) {
		/* Fill up to parallel, but start nothing after the deadline. */
		while (next < n && active < parallel &&
		    (o->deadline == 0 || time(NULL) < o->deadline) &&
		    (x = free_slot(xs, parallel)) != NULL) {
			xfer_init(x, &jobs[next], o, pg, next);
			if (xfer_start(x, multi) == 0)
				active++;
			else
				xfer_finish(x, multi);
			next++;
		}
		if (active == 0)
			break;
		if (curl_multi_perform(multi, &still) != CURLM_OK)
			break;
		active -= drain(multi);
		if (active > 0 && curl_multi_poll(multi, NULL, 0, 1000, NULL) != CURLM_OK)
			break;
		/* The poll wakes at least once a second, so does the tick. */
		if (o->tick != NULL && (now = time(NULL)) != ticked) {
			ticked = now;
			o->tick(o->tick_arg);
		}
	}
	/* Only after a libcurl failure are some still running. */
	for (i = 0; i < parallel; i++) {
		if (xs[i].job == NULL)
			continue;
		fail(&xs[i], FETCH_NETWORK, "libcurl failed during the transfer");
		xfer_finish(&xs[i], multi);
	}
	rc = 0;
err:
	progress_free(pg);
	free(xs);
	if (multi != NULL)
		curl_multi_cleanup(multi);
	return rc;
}
