#include "kie.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "cabundle.h"
#include "log.h"

#ifndef VEO_VERSION
#define VEO_VERSION "0"
#endif

#define MIN_KEY_LEN	8		/* so that "***" never hides ordinary text */
#define MAX_URLS	64
#define MAX_URL_LEN	4096
#define MAX_TEXT	2048		/* msg, errorMessage: bytes kept */
#define MAX_BACKOFF	3600L

struct kie {
	CURL *easy;
	char *base;			/* no trailing slash */
	struct curl_slist *get_hdrs;	/* Authorization, Accept */
	struct curl_slist *post_hdrs;	/* the same and Content-Type */
	const char *key;		/* inside get_hdrs' Authorization line */
	long connect_timeout, request_timeout;
	long long max_answer;
	time_t deadline;
	char errbuf[CURL_ERROR_SIZE];
};

/* An answer's body and the headers we read, for one exchange. */
struct exchange {
	const struct kie *k;
	char *buf;
	size_t len, cap;
	bool too_big;
	long retry_after;
	char ctype[64];
};

enum endpoint { EP_RECORD, EP_1080P, EP_4K };

const char *
kie_verdict_name(enum kie_verdict v)
{
	switch (v) {
	case KIE_GENERATING:	return "generating";
	case KIE_SUCCESS:	return "success";
	case KIE_FAILED:	return "failed";
	case KIE_REQUESTED:	return "requested";
	case KIE_NO_RECORD:	return "no-record";
	case KIE_REFUSED:	return "refused";
	case KIE_THROTTLED:	return "throttled";
	case KIE_UNREACHABLE:	return "unreachable";
	case KIE_AUTH:		return "auth-error";
	case KIE_NOT_ASKED:	return "not-asked";
	}
	return "unknown";
}

bool
kie_verdict_transient(enum kie_verdict v)
{
	return v == KIE_THROTTLED || v == KIE_UNREACHABLE || v == KIE_NOT_ASKED;
}

long
kie_backoff(long poll_interval, int failures, long retry_after, unsigned rnd)
{
	long wait = poll_interval > 0 ? poll_interval : 1;

	for (int i = 1; i < failures && wait < MAX_BACKOFF; i++)
		wait *= 2;
	if (wait > MAX_BACKOFF)
		wait = MAX_BACKOFF;
	if (retry_after > wait)
		wait = retry_after < 86400 ? retry_after : 86400;
	return wait + (long)(rnd % (unsigned long)(wait / 4 + 1));
}

bool
kie_urls_equal(char *const *a, size_t na, char *const *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (strcmp(a[i], b[i]) != 0)
			return false;
	return true;
}

/* ---- answers ---- */

static void
free_list(char **l)
{
	if (l == NULL)
		return;
	for (char **p = l; *p != NULL; p++)
		free(*p);
	free(l);
}

void
kie_answer_free(struct kie_answer *a)
{
	free(a->msg);
	free_list(a->result_urls);
	free_list(a->origin_urls);
	free(a->resolution);
	free(a->error_message);
	memset(a, 0, sizeof *a);
	a->success_flag = -1;
}

char *
kie_answer_take_url(struct kie_answer *a)
{
	char *url;

	if (!a->ready || a->result_urls == NULL || a->result_urls[0] == NULL)
		return NULL;
	url = a->result_urls[0];
	for (size_t i = 0; a->result_urls[i] != NULL; i++)	/* the rest moves up */
		a->result_urls[i] = a->result_urls[i + 1];
	a->n_result--;
	a->result_url = NULL;
	a->ready = false;
	return url;
}

static void __attribute__((format(printf, 3, 4)))
verdict(struct kie_answer *a, enum kie_verdict v, const char *fmt, ...)
{
	va_list ap;

	a->verdict = v;
	if (fmt == NULL) {
		a->error[0] = '\0';
		return;
	}
	va_start(ap, fmt);
	vsnprintf(a->error, sizeof a->error, fmt, ap);
	va_end(ap);
}

/*
 * A copy of s with at most max bytes (cut on a UTF-8 character boundary)
 * and every occurrence of the key replaced by "***".  NULL when s is NULL
 * or empty, or memory ran out.
 */
static char *
clean_text(const struct kie *k, const char *s, size_t max)
{
	size_t n, klen = strlen(k->key), o = 0;
	char *out;

	if (s == NULL || *s == '\0')
		return NULL;
	n = strlen(s);
	if (n > max) {
		n = max;
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
	}
	if ((out = malloc(n + 1)) == NULL)
		return NULL;
	for (size_t i = 0; i < n;) {
		if (n - i >= klen && memcmp(s + i, k->key, klen) == 0) {
			memcpy(out + o, "***", 3);
			o += 3;
			i += klen;
		} else {
			out[o++] = s[i++];
		}
	}
	out[o] = '\0';
	return out;
}

/* Server text made safe for an error line: key removed, escaped, short. */
static const char *
quote(const struct kie *k, const char *s, char *buf, size_t len)
{
	char *c = clean_text(k, s, 200);

	if (c == NULL)
		return strcpy(buf, "");
	log_escape(buf, len, c, strlen(c));
	free(c);
	return buf;
}

/* ---- the client ---- */

static int
check_key(const char *key, char *err, size_t errlen)
{
	if (key == NULL || *key == '\0') {
		snprintf(err, errlen, "api_key is not set");
		return -1;
	}
	for (const char *p = key; *p != '\0'; p++) {
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f) {
			snprintf(err, errlen, "api_key contains a blank, control or non-ASCII "
			    "character (not shown): copy it again from kie.ai");
			return -1;
		}
	}
	if (strlen(key) < MIN_KEY_LEN) {
		snprintf(err, errlen, "api_key is too short (under %d characters) to be a "
		    "kie.ai API key", MIN_KEY_LEN);
		return -1;
	}
	return 0;
}

static char *
base_url(const char *base, char *err, size_t errlen)
{
	size_t n;
	char *b;

	if (base == NULL || *base == '\0')
		base = KIE_DEFAULT_BASE;
	n = strlen(base);
	if ((strncasecmp(base, "https://", 8) != 0 && strncasecmp(base, "http://", 7) != 0) ||
	    strpbrk(base, "?# \t\r\n") != NULL) {
		char esc[80];

		snprintf(err, errlen, "api_base \"%s\" is not an http(s) URL without query "
		    "(e.g. %s)", log_escape(esc, sizeof esc, base, n), KIE_DEFAULT_BASE);
		return NULL;
	}
	while (n > 0 && base[n - 1] == '/')
		n--;
	if ((b = strndup(base, n)) == NULL)
		snprintf(err, errlen, "out of memory");
	return b;
}

static void
wipe_list(struct curl_slist *l)
{
	for (struct curl_slist *p = l; p != NULL; p = p->next)
		OPENSSL_cleanse(p->data, strlen(p->data));
	curl_slist_free_all(l);
}

static struct curl_slist *
header_list(const char *auth, bool post)
{
	struct curl_slist *l = NULL, *t;

	if ((t = curl_slist_append(l, auth)) == NULL)
		return NULL;
	l = t;
	if ((t = curl_slist_append(l, "Accept: application/json")) == NULL)
		goto fail;
	if (post && (t = curl_slist_append(l, "Content-Type: application/json")) == NULL)
		goto fail;
	return l;
fail:
	wipe_list(l);
	return NULL;
}

static size_t
on_write(char *data, size_t size, size_t n, void *arg)
{
	struct exchange *x = arg;
	size_t len = size * n;

	if ((long long)(x->len + len) > x->k->max_answer) {
		x->too_big = true;
		return 0;
	}
	if (x->len + len + 1 > x->cap) {
		size_t cap = x->cap ? x->cap : 4096;
		char *b;

		while (cap < x->len + len + 1)
			cap *= 2;
		if ((b = realloc(x->buf, cap)) == NULL)
			return 0;
		x->buf = b;
		x->cap = cap;
	}
	memcpy(x->buf + x->len, data, len);
	x->len += len;
	x->buf[x->len] = '\0';
	return len;
}

/* Keeps Retry-After (seconds) and Content-Type of the answer. */
static size_t
on_header(char *data, size_t size, size_t n, void *arg)
{
	struct exchange *x = arg;
	size_t len = size * n;

	if (len > 12 && strncasecmp(data, "Retry-After:", 12) == 0) {
		char tmp[32], *end;
		long v;

		snprintf(tmp, sizeof tmp, "%.*s", (int)(len - 12 < 31 ? len - 12 : 31), data + 12);
		errno = 0;
		v = strtol(tmp, &end, 10);
		if (errno == 0 && end != tmp && v > 0)
			x->retry_after = v < 86400 ? v : 86400;
	} else if (len > 13 && strncasecmp(data, "Content-Type:", 13) == 0) {
		const char *s = data + 13;
		size_t m = len - 13;

		while (m > 0 && (*s == ' ' || *s == '\t'))
			s++, m--;
		while (m > 0 && (s[m - 1] == '\r' || s[m - 1] == '\n' || s[m - 1] == ' '))
			m--;
		log_escape(x->ctype, sizeof x->ctype, s, m);
	}
	return len;
}

#define SET(opt, val) do { \
	if (curl_easy_setopt(e, opt, val) != CURLE_OK) \
		goto fail; \
} while (0)

struct kie *
kie_new(const struct kie_opts *o, char *err, size_t errlen)
{
	struct kie *k;
	char *auth = NULL;
	CURL *e;
	size_t alen;

	if (check_key(o->api_key, err, errlen) < 0)
		return NULL;
	if ((k = calloc(1, sizeof *k)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	k->connect_timeout = o->connect_timeout > 0 ? o->connect_timeout : 15;
	k->request_timeout = o->request_timeout > 0 ? o->request_timeout : 30;
	k->max_answer = o->max_answer > 0 ? o->max_answer : 1 << 20;
	k->deadline = o->deadline;
	if ((k->base = base_url(o->api_base, err, errlen)) == NULL)
		goto fail_quiet;
	alen = strlen("Authorization: Bearer ") + strlen(o->api_key) + 1;
	if ((auth = malloc(alen)) == NULL)
		goto fail;
	snprintf(auth, alen, "Authorization: Bearer %s", o->api_key);
	k->get_hdrs = header_list(auth, false);
	k->post_hdrs = header_list(auth, true);
	OPENSSL_cleanse(auth, alen);
	free(auth);
	if (k->get_hdrs == NULL || k->post_hdrs == NULL)
		goto fail;
	k->key = k->get_hdrs->data + strlen("Authorization: Bearer ");
	if ((e = k->easy = curl_easy_init()) == NULL)
		goto fail;
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_FOLLOWLOCATION, 0L);	/* the key would follow */
	SET(CURLOPT_PROXY, "");			/* never from the environment */
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	if (cabundle_setopt(e, o->ca_file) != CURLE_OK)	/* ca_file and the system's store */
		goto fail;
	SET(CURLOPT_ACCEPT_ENCODING, "");	/* gzip and whatever libcurl decodes */
	SET(CURLOPT_USERAGENT, "veo-spooler/" VEO_VERSION);
	SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)k->max_answer);
	SET(CURLOPT_FAILONERROR, 0L);
	SET(CURLOPT_WRITEFUNCTION, on_write);
	SET(CURLOPT_HEADERFUNCTION, on_header);
	SET(CURLOPT_ERRORBUFFER, k->errbuf);
	return k;
fail:
	snprintf(err, errlen, "cannot set up libcurl for kie.ai's API");
fail_quiet:
	kie_free(k);
	return NULL;
}

#undef SET

void
kie_free(struct kie *k)
{
	if (k == NULL)
		return;
	if (k->easy != NULL)
		curl_easy_cleanup(k->easy);
	wipe_list(k->get_hdrs);
	wipe_list(k->post_hdrs);
	free(k->base);
	free(k);
}

void
kie_set_deadline(struct kie *k, time_t deadline)
{
	k->deadline = deadline;
}

/*
 * One exchange: GET url, or POST body when body is not NULL.  Returns 0
 * when an HTTP answer came (a->http_status set, the body in x), or -1 with
 * the verdict set (NOT_ASKED, UNREACHABLE, THROTTLED).
 */
static int
perform(struct kie *k, const char *url, const char *body, struct exchange *x,
    struct kie_answer *a)
{
	CURL *e = k->easy;
	long total = k->request_timeout, conn = k->connect_timeout, status = 0;
	bool by_deadline = false;
	CURLcode rc;

	if (k->deadline != 0) {
		time_t left = k->deadline - time(NULL);

		if (left <= 0) {
			verdict(a, KIE_NOT_ASKED, "kie.ai not asked: the run's time limit was reached");
			return -1;
		}
		if (left < total) {
			total = (long)left;
			by_deadline = true;
		}
	}
	if (conn > total)
		conn = total;
	k->errbuf[0] = '\0';
	if (curl_easy_setopt(e, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, total * 1000L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, conn * 1000L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_WRITEDATA, x) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_HEADERDATA, x) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_HTTPHEADER, body ? k->post_hdrs : k->get_hdrs) != CURLE_OK ||
	    (body != NULL ? curl_easy_setopt(e, CURLOPT_POSTFIELDS, body)
			  : curl_easy_setopt(e, CURLOPT_HTTPGET, 1L)) != CURLE_OK) {
		verdict(a, KIE_UNREACHABLE, "kie.ai not asked: cannot set up the request");
		return -1;
	}
	rc = curl_easy_perform(e);
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	a->http_status = status;
	a->retry_after = x->retry_after;
	if (x->too_big || rc == CURLE_FILESIZE_EXCEEDED) {
		verdict(a, KIE_THROTTLED, "kie.ai's answer is larger than %lld bytes (HTTP %ld)",
		    k->max_answer, status);
		return -1;
	}
	if (rc == CURLE_OPERATION_TIMEDOUT) {
		verdict(a, KIE_UNREACHABLE, "kie.ai did not answer within %ld s%s", total,
		    by_deadline ? " (the run's time limit)" : "");
		return -1;
	}
	if (rc != CURLE_OK) {
		char esc[CURL_ERROR_SIZE];
		const char *why = k->errbuf[0] ? k->errbuf : curl_easy_strerror(rc);

		log_escape(esc, sizeof esc, why, strlen(why));
		if (status != 0)
			verdict(a, KIE_THROTTLED, "kie.ai's answer was cut short (HTTP %ld): %s",
			    status, esc);
		else
			verdict(a, KIE_UNREACHABLE, "cannot reach kie.ai at %s: %s", k->base, esc);
		return -1;
	}
	return 0;
}

/* ---- reading answers ---- */

static yajl_val
get(yajl_val v, const char *name)
{
	if (!YAJL_IS_OBJECT(v))
		return NULL;
	for (size_t i = 0; i < v->u.object.len; i++)
		if (strcmp(v->u.object.keys[i], name) == 0)
			return v->u.object.values[i];
	return NULL;
}

/* An integer, or a string holding one; false otherwise (null, "null"). */
static bool
get_long(yajl_val v, long *out)
{
	char *end;
	long n;

	if (YAJL_IS_INTEGER(v)) {
		long long ll = YAJL_GET_INTEGER(v);

		if (ll < LONG_MIN || ll > LONG_MAX)
			return false;
		*out = (long)ll;
		return true;
	}
	if (!YAJL_IS_STRING(v) || !isdigit((unsigned char)v->u.string[0]))
		return false;
	errno = 0;
	n = strtol(v->u.string, &end, 10);
	if (errno != 0 || *end != '\0')
		return false;
	*out = n;
	return true;
}

static bool
url_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > MAX_URL_LEN)
		return false;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p <= ' ' || *p == 0x7f)
			return false;
	return true;
}

/*
 * The URL list in v: absent, null, an array of strings, a string holding
 * such an array, or one URL as a string.  0 with *out NULL-terminated (or
 * NULL when empty), -1 when malformed or out of memory.
 */
static int
url_list(yajl_val v, char ***out, size_t *count)
{
	yajl_val tree = NULL, arr = v;
	char **l = NULL;
	size_t n = 0;
	int rc = -1;

	*out = NULL;
	*count = 0;
	if (v == NULL || YAJL_IS_NULL(v))
		return 0;
	if (YAJL_IS_STRING(v)) {
		const char *s = v->u.string;

		while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
			s++;
		if (*s == '\0')
			return 0;
		if (*s != '[') {
			if (!url_ok(s) || (l = calloc(2, sizeof *l)) == NULL ||
			    (l[0] = strdup(s)) == NULL)
				goto out;
			*out = l;
			*count = 1;
			return 0;
		}
		if ((tree = yajl_tree_parse(s, NULL, 0)) == NULL)
			return -1;
		arr = tree;
	}
	if (!YAJL_IS_ARRAY(arr) || arr->u.array.len > MAX_URLS)
		goto out;
	if (arr->u.array.len == 0) {
		rc = 0;
		goto out;
	}
	if ((l = calloc(arr->u.array.len + 1, sizeof *l)) == NULL)
		goto out;
	for (size_t i = 0; i < arr->u.array.len; i++) {
		yajl_val u = arr->u.array.values[i];

		if (!YAJL_IS_STRING(u) || !url_ok(u->u.string) ||
		    (l[n] = strdup(u->u.string)) == NULL)
			goto out;
		n++;
	}
	*out = l;
	*count = n;
	l = NULL;
	rc = 0;
out:
	free_list(l);
	if (tree != NULL)
		yajl_tree_free(tree);
	return rc;
}

/* True when a 422's msg speaks of a missing or expired record. */
static bool
record_msg(const char *msg)
{
	static const char *const words[] = { "record", "not exist", "14 days", "not found" };

	if (msg == NULL)
		return false;
	for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
		if (strcasestr(msg, words[i]) != NULL)
			return true;
	return false;
}

/* The parts every endpoint shares: transport, HTTP status, envelope.
 * Returns the parsed tree when the endpoint has to decide, NULL when the
 * verdict is set. */
static yajl_val
envelope(struct kie *k, struct exchange *x, struct kie_answer *a)
{
	long status = a->http_status;
	char q[96];
	yajl_val tree, code;

	if (status == 401) {
		verdict(a, KIE_AUTH, "kie.ai refused the api_key (HTTP 401): set api_key to a "
		    "valid key from https://kie.ai/api-key");
		return NULL;
	}
	if (status == 429 || status == 455 || status >= 500) {
		verdict(a, KIE_THROTTLED, "kie.ai is %s (HTTP %ld): asking again later",
		    status == 429 ? "rate limiting" : status == 455 ? "under maintenance" :
		    "failing", status);
		return NULL;
	}
	if (status >= 300 && status < 400) {
		verdict(a, KIE_THROTTLED, "kie.ai answered a redirect (HTTP %ld), not followed: "
		    "check api_base", status);
		return NULL;
	}
	tree = x->buf != NULL ? yajl_tree_parse(x->buf, NULL, 0) : NULL;
	if (tree == NULL || (code = get(tree, "code")) == NULL || !get_long(code, &a->code)) {
		if (tree != NULL)
			yajl_tree_free(tree);
		a->code = 0;
		if (status == 403)
			verdict(a, KIE_THROTTLED, "kie.ai's front (Cloudflare) refused the request "
			    "(HTTP 403: \"%s\"): asking again later",
			    quote(k, x->buf, q, 64));
		else
			verdict(a, KIE_THROTTLED, "kie.ai's answer is not its JSON envelope "
			    "(HTTP %ld, %s): asking again later", status,
			    x->ctype[0] ? x->ctype : "no Content-Type");
		return NULL;
	}
	{
		yajl_val m = get(tree, "msg");

		if (YAJL_IS_STRING(m))
			a->msg = clean_text(k, m->u.string, MAX_TEXT);
	}
	if (a->code == 401) {
		verdict(a, KIE_AUTH, "kie.ai refused the api_key (code 401: \"%s\"): set api_key "
		    "to a valid key from https://kie.ai/api-key", quote(k, a->msg, q, sizeof q));
		goto done;
	}
	if (a->code == 429 || a->code == 455) {
		verdict(a, KIE_THROTTLED, "kie.ai is %s (code %ld: \"%s\"): asking again later",
		    a->code == 429 ? "rate limiting" : "under maintenance", a->code,
		    quote(k, a->msg, q, sizeof q));
		goto done;
	}
	return tree;
done:
	yajl_tree_free(tree);
	return NULL;
}

static void
refused(struct kie *k, struct kie_answer *a, enum kie_verdict v, const char *what)
{
	char q[96];

	verdict(a, v, "%s (code %ld: \"%s\")", what, a->code, quote(k, a->msg, q, sizeof q));
}

/* record-info's data object, when the body code is 200. */
static void
read_record(struct kie *k, const char *task_id, yajl_val data, struct kie_answer *a)
{
	yajl_val resp = get(data, "response"), v;
	long flag;
	char q[160];

	if ((v = get(data, "taskId")) != NULL && YAJL_IS_STRING(v) &&
	    strcmp(v->u.string, task_id) != 0) {
		verdict(a, KIE_THROTTLED, "kie.ai's answer is the record of another task");
		return;
	}
	if (!get_long(get(data, "successFlag"), &flag) || flag < 0 || flag > 3) {
		verdict(a, KIE_THROTTLED, "kie.ai's answer has no known successFlag");
		return;
	}
	a->success_flag = (int)flag;
	if (get_long(get(data, "errorCode"), &a->error_code) == false)
		a->error_code = 0;
	if ((v = get(data, "errorMessage")) != NULL && YAJL_IS_STRING(v))
		a->error_message = clean_text(k, v->u.string, MAX_TEXT);
	v = get(data, "fallbackFlag");
	a->fallback = YAJL_IS_TRUE(v) || (YAJL_IS_STRING(v) && strcmp(v->u.string, "true") == 0);
	if (YAJL_IS_OBJECT(resp)) {
		if ((v = get(resp, "resolution")) != NULL && YAJL_IS_STRING(v) && *v->u.string)
			a->resolution = clean_text(k, v->u.string, 32);
		if ((v = get(resp, "taskId")) != NULL && YAJL_IS_STRING(v) &&
		    strcmp(v->u.string, task_id) != 0) {
			verdict(a, KIE_THROTTLED, "kie.ai's answer is the record of another task");
			return;
		}
		if (url_list(get(resp, "resultUrls"), &a->result_urls, &a->n_result) < 0 ||
		    url_list(get(resp, "originUrls"), &a->origin_urls, &a->n_origin) < 0) {
			verdict(a, KIE_THROTTLED, "kie.ai's answer has malformed URL lists");
			return;
		}
	}
	switch (flag) {
	case 0:
		verdict(a, KIE_GENERATING, NULL);
		return;
	case 1:
		if (a->n_result == 0)
			verdict(a, KIE_THROTTLED, "kie.ai says success (successFlag 1) but gives "
			    "no resultUrls yet");
		else
			verdict(a, KIE_SUCCESS, NULL);
		return;
	default:
		verdict(a, KIE_FAILED, "generation failed (successFlag %ld, errorCode %ld): \"%s\"",
		    flag, a->error_code, quote(k, a->error_message, q, sizeof q));
		return;
	}
}

static void
decide_record(struct kie *k, const char *task_id, yajl_val tree, struct kie_answer *a)
{
	yajl_val data = get(tree, "data");

	if (a->code == 200) {
		if (data == NULL || YAJL_IS_NULL(data))
			refused(k, a, KIE_NO_RECORD, "kie.ai has no record of this task (data: null)");
		else if (!YAJL_IS_OBJECT(data))
			verdict(a, KIE_THROTTLED, "kie.ai's answer has no data object");
		else
			read_record(k, task_id, data, a);
	} else if (a->code == 404 || a->code == 422) {
		refused(k, a, KIE_NO_RECORD, "kie.ai has no record of this task");
	} else if (a->code >= 500) {
		refused(k, a, KIE_THROTTLED, "kie.ai failed to answer, asking again later");
	} else {
		refused(k, a, KIE_REFUSED, "kie.ai refused the question");
	}
}

static void
decide_1080p(struct kie *k, yajl_val tree, struct kie_answer *a)
{
	yajl_val url = get(get(tree, "data"), "resultUrl");

	if (YAJL_IS_STRING(url) && *url->u.string != '\0') {
		if (!url_ok(url->u.string) || (a->result_urls = calloc(2, sizeof (char *))) == NULL ||
		    (a->result_urls[0] = strdup(url->u.string)) == NULL) {
			verdict(a, KIE_THROTTLED, "kie.ai's answer has a malformed resultUrl");
			return;
		}
		a->n_result = 1;
		a->ready = true;
		a->result_url = a->result_urls[0];
		verdict(a, KIE_SUCCESS, NULL);
	} else if (a->code == 404 || (a->code == 422 && record_msg(a->msg))) {
		refused(k, a, KIE_NO_RECORD, "kie.ai has no record of this task");
	} else if (a->code == 402 || a->code == 433 || a->code == 505) {
		refused(k, a, KIE_REFUSED, "kie.ai refused the 1080p video");
	} else {
		verdict(a, KIE_GENERATING, NULL);
	}
}

static void
decide_4k(struct kie *k, yajl_val tree, struct kie_answer *a)
{
	yajl_val data = get(tree, "data"), urls = get(data, "resultUrls");

	if (urls == NULL)
		urls = get(data, "result_urls");
	if (url_list(urls, &a->result_urls, &a->n_result) < 0) {
		verdict(a, KIE_THROTTLED, "kie.ai's answer has malformed resultUrls");
	} else if (a->n_result > 0) {
		verdict(a, KIE_SUCCESS, NULL);
	} else if (a->code == 200) {
		verdict(a, KIE_REQUESTED, NULL);
	} else if (a->code == 404 || (a->code == 422 && record_msg(a->msg))) {
		refused(k, a, KIE_NO_RECORD, "kie.ai has no record of this task");
	} else if (a->code == 422) {
		verdict(a, KIE_GENERATING, NULL);
	} else if (a->code >= 500) {
		refused(k, a, KIE_THROTTLED, "kie.ai failed to answer, asking again later");
	} else {
		refused(k, a, KIE_REFUSED, "kie.ai refused the 4K video");
	}
}

static enum kie_verdict
ask(struct kie *k, enum endpoint ep, const char *task_id, const char *url, const char *body,
    struct kie_answer *a)
{
	struct exchange x = { .k = k };
	yajl_val tree;

	if (perform(k, url, body, &x, a) == 0 && (tree = envelope(k, &x, a)) != NULL) {
		switch (ep) {
		case EP_RECORD: decide_record(k, task_id, tree, a); break;
		case EP_1080P: decide_1080p(k, tree, a); break;
		case EP_4K: decide_4k(k, tree, a); break;
		}
		yajl_tree_free(tree);
	}
	free(x.buf);
	if (a->verdict != KIE_SUCCESS) {
		a->ready = false;
		a->result_url = NULL;
	}
	return a->verdict;
}

/* <base>/api/v1/veo/<path>[?taskId=<escaped>[&index=N]] (no query when
 * task_id is NULL, no index when index < 0); NULL on failure. */
static char *
endpoint_url(struct kie *k, const char *path, const char *task_id, int index)
{
	char *esc = NULL, *url = NULL;
	int r;

	if (task_id != NULL && (esc = curl_easy_escape(k->easy, task_id, 0)) == NULL)
		return NULL;
	if (esc == NULL)
		r = asprintf(&url, "%s/api/v1/veo/%s", k->base, path);
	else if (index < 0)
		r = asprintf(&url, "%s/api/v1/veo/%s?taskId=%s", k->base, path, esc);
	else
		r = asprintf(&url, "%s/api/v1/veo/%s?taskId=%s&index=%d", k->base, path, esc, index);
	curl_free(esc);
	return r < 0 ? NULL : url;
}

static void
start(struct kie_answer *a)
{
	kie_answer_free(a);
	a->verdict = KIE_UNREACHABLE;
}

enum kie_verdict
kie_record_info(struct kie *k, const char *task_id, struct kie_answer *a)
{
	char *url;
	enum kie_verdict v;

	start(a);
	if ((url = endpoint_url(k, "record-info", task_id, -1)) == NULL) {
		verdict(a, KIE_UNREACHABLE, "kie.ai not asked: out of memory");
		return a->verdict;
	}
	v = ask(k, EP_RECORD, task_id, url, NULL, a);
	free(url);
	return v;
}

enum kie_verdict
kie_get_1080p(struct kie *k, const char *task_id, int index, struct kie_answer *a)
{
	char *url;
	enum kie_verdict v;

	start(a);
	if ((url = endpoint_url(k, "get-1080p-video", task_id, index < 0 ? 0 : index)) == NULL) {
		verdict(a, KIE_UNREACHABLE, "kie.ai not asked: out of memory");
		return a->verdict;
	}
	v = ask(k, EP_1080P, task_id, url, NULL, a);
	free(url);
	return v;
}

/* {"taskId":..,"index":N,"callBackUrl":..}, malloc'd; NULL on failure. */
static char *
body_4k(const char *task_id, int index, const char *callback_url)
{
	yajl_gen g = yajl_gen_alloc(NULL);
	const unsigned char *buf;
	size_t len;
	char *out = NULL;

#define STR(s) yajl_gen_string(g, (const unsigned char *)(s), strlen(s))
	if (g == NULL)
		return NULL;
	if (yajl_gen_map_open(g) != yajl_gen_status_ok ||
	    STR("taskId") != yajl_gen_status_ok || STR(task_id) != yajl_gen_status_ok ||
	    STR("index") != yajl_gen_status_ok ||
	    yajl_gen_integer(g, index) != yajl_gen_status_ok ||
	    (callback_url != NULL &&
	     (STR("callBackUrl") != yajl_gen_status_ok ||
	      STR(callback_url) != yajl_gen_status_ok)) ||
	    yajl_gen_map_close(g) != yajl_gen_status_ok ||
	    yajl_gen_get_buf(g, &buf, &len) != yajl_gen_status_ok)
		goto out;
#undef STR
	out = strndup((const char *)buf, len);
out:
	yajl_gen_free(g);
	return out;
}

enum kie_verdict
kie_get_4k(struct kie *k, const char *task_id, int index, const char *callback_url,
    struct kie_answer *a)
{
	char *url, *body;
	enum kie_verdict v;

	start(a);
	url = endpoint_url(k, "get-4k-video", NULL, -1);
	body = body_4k(task_id, index < 0 ? 0 : index, callback_url);
	if (url == NULL || body == NULL) {
		free(url);
		free(body);
		verdict(a, KIE_UNREACHABLE, "kie.ai not asked: out of memory");
		return a->verdict;
	}
	v = ask(k, EP_4K, task_id, url, body, a);
	free(url);
	free(body);
	return v;
}
