#include "xfer.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

void
xfer_fail(struct xfer *x, enum fetch_result r, const char *fmt, ...)
{
	va_list ap;

	if (x->hop.outcome != FETCH_OK)
		return;
	x->hop.outcome = r;
	va_start(ap, fmt);
	/* A helper's failure is its own: the job's line is the lead's. */
	if (x->lead != NULL)
		vsnprintf(x->why, sizeof x->why, fmt, ap);
	else
		vsnprintf(x->job->error, sizeof x->job->error, fmt, ap);
	va_end(ap);
}

long
xfer_min_speed(const struct fetch_opts *o)
{
	return o->min_speed > 0 ? o->min_speed : 1L;
}

long
xfer_stall_time(const struct fetch_opts *o)
{
	return o->stall_timeout > 0 ? o->stall_timeout : 60L;
}

void
xfer_http_error(struct xfer *x)
{
	const char *why;

	switch (x->hop.status) {
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
		why = x->hop.status >= 500 ? ": server error, try later" : "";
		break;
	}
	xfer_fail(x, FETCH_HTTP, "HTTP %ld from %s%s", x->hop.status, x->host, why);
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
	const char *ip = x->hop.refused_ip;

	/* Name the host too unless it is the address itself ("[::1]"). */
	if (strcmp(x->host, ip) != 0 && !(hlen == strlen(ip) + 2 &&
	    x->host[0] == '[' && strncmp(x->host + 1, ip, hlen - 2) == 0))
		snprintf(name, sizeof name, "%s ", x->host);
	xfer_fail(x, FETCH_BLOCKED, "refused to connect to %s%s%s%s%s: %s (set "
	    "allow_private = yes only for testing)", name, name[0] ? "(" : "",
	    ip, name[0] ? ")" : "", x->hops > 0 ? " after a redirect" : "",
	    x->hop.refused_kind);
}

void
xfer_curl_error(struct xfer *x, CURLcode rc)
{
	char a[16], b[16], detail[sizeof x->hop.errbuf];
	long long got = xfer_reached(x);
	curl_off_t connect = 0, pretransfer = 0;
	long long size;
	long oserr = 0;

	/* curl's message may quote the peer (certificate names): escape it. */
	log_escape(detail, sizeof detail, x->hop.errbuf, strlen(x->hop.errbuf));
	curl_easy_getinfo(x->easy, CURLINFO_CONNECT_TIME_T, &connect);
	switch (rc) {
	case CURLE_COULDNT_CONNECT:
		if (x->hop.refused_kind != NULL) {
			refused(x);
			return;
		}
		curl_easy_getinfo(x->easy, CURLINFO_OS_ERRNO, &oserr);
		xfer_fail(x, FETCH_NETWORK, "cannot connect to %s: %s", x->host,
		    oserr != 0 ? strerror((int)oserr) : detail);
		return;
	case CURLE_COULDNT_RESOLVE_HOST:
		xfer_fail(x, FETCH_NETWORK, "cannot resolve host %s", x->host);
		return;
	case CURLE_OPERATION_TIMEDOUT:
		/*
		 * A reused connection has no connect time of its own: whether
		 * the request went out (pretransfer) tells a stall from a
		 * connection that never came.
		 */
		curl_easy_getinfo(x->easy, CURLINFO_PRETRANSFER_TIME_T, &pretransfer);
		if (connect > 0 || pretransfer > 0 || x->hop.status != 0 || got > 0)
			xfer_fail(x, FETCH_NETWORK, "too slow: under %s/s for %ld s (after %s)",
			    progress_bytes(b, sizeof b, xfer_min_speed(x->o)),
			    xfer_stall_time(x->o), progress_bytes(a, sizeof a, got));
		else
			xfer_fail(x, FETCH_NETWORK, "timed out connecting to %s", x->host);
		return;
	case CURLE_PARTIAL_FILE:
		if (x->hop.announced >= 0)
			xfer_fail(x, FETCH_SHORT, "server announced %lld bytes but sent %lld",
			    x->hop.announced, got);
		else
			xfer_fail(x, FETCH_SHORT, "transfer from %s ended early after %s",
			    x->host, progress_bytes(a, sizeof a, got));
		return;
	case CURLE_FILESIZE_EXCEEDED:
		/* curl stops at the Content-Length header, before headers_done(). */
		size = xfer_header_ll(x->easy, "Content-Length");
		xfer_fail(x, FETCH_TOO_BIG, "file is %s, more than max_file_size (%s)",
		    size > 0 ? progress_bytes(a, sizeof a, size) : "too large",
		    progress_bytes(b, sizeof b, x->o->max_file_size));
		return;
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
		if (strstr(x->hop.errbuf, "reset") != NULL) {
			xfer_fail(x, FETCH_NETWORK, "connection reset by %s after %s",
			    x->host, progress_bytes(a, sizeof a, got));
			return;
		}
		break;
	case CURLE_GOT_NOTHING:
		xfer_fail(x, FETCH_NETWORK, "%s closed the connection without answering",
		    x->host);
		return;
	case CURLE_PEER_FAILED_VERIFICATION:
		xfer_fail(x, FETCH_NETWORK, "TLS certificate of %s not trusted (ca_file "
		    "adds a CA): %s", x->host, detail);
		return;
	case CURLE_UNSUPPORTED_PROTOCOL:
		xfer_fail(x, FETCH_BLOCKED, "protocol refused for %s: %s", x->host, detail);
		return;
	default:
		break;
	}
	xfer_fail(x, FETCH_NETWORK, "%s from %s after %s: %s", curl_easy_strerror(rc),
	    x->host, progress_bytes(a, sizeof a, got), detail);
}

void
xfer_write_failed(struct xfer *x, const char *path)
{
	int saved = errno;
	char dir[PATH_MAX], *slash;

	if (saved != ENOSPC && saved != EDQUOT) {
		xfer_fail(x, FETCH_LOCAL, "cannot write %s: %s", path, strerror(saved));
		return;
	}
	snprintf(dir, sizeof dir, "%s", path);
	if ((slash = strrchr(dir, '/')) != NULL)
		*slash = '\0';
	xfer_fail(x, FETCH_DISK_FULL, "the disk holding %s is full (%s); the partial file is "
	    "kept and resumes", dir, strerror(saved));
}
