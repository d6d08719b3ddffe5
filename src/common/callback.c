#include "callback.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yajl/yajl_parse.h>

#include "numparse.h"

/* Where a value sits in the callback, as far as this module cares. */
enum role {
	R_OTHER,	/* ignored, but still depth-checked */
	/* the objects that hold the fields below */
	R_IN_TOP, R_IN_DATA, R_IN_INFO,
	/* the values: the top-level object, then the fields */
	R_TOP, R_CODE, R_MSG, R_DATA, R_TASKID, R_TASK_ID, R_INFO, R_FALLBACK,
	R_RESULT_URLS, R_ORIGIN_URLS, R_RESOLUTION,
	R_URL		/* an element of a URL array */
};

struct field {
	enum role parent, role;
	const char *key, *path;
	const char *want;	/* the type it must have, for the error message */
	bool nullable;		/* null counts as absent */
};

#define URLS "an array of URL strings"
/* The declared table of keys this module reads, by parent object. */
enum field_id {
	F_CODE, F_MSG, F_DATA, F_TASKID, F_TASK_ID, F_INFO, F_FALLBACK,
	F_RESULT_URLS, F_ORIGIN_URLS, F_RESOLUTION,
	F_FLAT_RESULT_URLS, F_IMAGE_URLS, F_FLAT_IMAGE_URLS,
	NFIELDS
};
static const struct field fields[NFIELDS] = {
	[F_CODE]        = { R_IN_TOP,  R_CODE,        "code",         "code",                 "an integer", false },
	[F_MSG]         = { R_IN_TOP,  R_MSG,         "msg",          "msg",                  "a string",   false },
	[F_DATA]        = { R_IN_TOP,  R_DATA,        "data",         "data",                 "an object",  false },
	[F_TASKID]      = { R_IN_DATA, R_TASKID,      "taskId",       "data.taskId",          "a string",   false },
	[F_TASK_ID]     = { R_IN_DATA, R_TASK_ID,     "task_id",      "data.task_id",         "a string",   false },
	[F_INFO]        = { R_IN_DATA, R_INFO,        "info",         "data.info",            "an object",  true },
	[F_FALLBACK]    = { R_IN_DATA, R_FALLBACK,    "fallbackFlag", "data.fallbackFlag",    "a boolean",  true },
	[F_RESULT_URLS] = { R_IN_INFO, R_RESULT_URLS, "resultUrls",   "data.info.resultUrls", URLS,         true },
	[F_ORIGIN_URLS] = { R_IN_INFO, R_ORIGIN_URLS, "originUrls",   "data.info.originUrls", URLS,         true },
	[F_RESOLUTION]  = { R_IN_INFO, R_RESOLUTION,  "resolution",   "data.info.resolution", "a string",   true },
	/* the 4K callback's two documented shapes: only they carry these */
	[F_FLAT_RESULT_URLS] = { R_IN_DATA, R_RESULT_URLS, "result_urls", "data.result_urls", URLS,  true },
	[F_IMAGE_URLS]       = { R_IN_INFO, R_OTHER,       "imageUrls",   "data.info.imageUrls", "", true },
	[F_FLAT_IMAGE_URLS]  = { R_IN_DATA, R_OTHER,       "image_urls",  "data.image_urls",     "", true },
};
#undef URLS

struct frame {
	enum role container;	/* R_IN_TOP, R_IN_DATA, R_IN_INFO, a URL list, or R_OTHER */
	bool is_map;
	const struct field *key;	/* the pending key inside a map */
};

struct parser {
	struct callback *cb;
	struct frame stack[CALLBACK_MAX_DEPTH + 1];
	int depth;		/* frames in use */
	bool seen[NFIELDS];
	bool started;
	bool in_string_form;	/* parsing the array inside a string */
	char task_id2[TASKID_MAX + 1];	/* data.task_id, when both spellings come */
	char *err;
	size_t errlen;
	struct url_list *urls;	/* the list being filled, if any */
	const char *urls_path;
	bool *nomem;		/* set when an allocation failed (shared with inner parsers) */
};

static int parse_error(struct parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
parse_error(struct parser *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->err, p->errlen, fmt, ap);
	va_end(ap);
	return 0;	/* yajl: cancel the parse */
}

/*
 * The authority (between "//" and the path) names a host: "user@" and
 * ":port" aside, something is left ("https://@/x", "https://:443/x" have
 * none), a bracketed IPv6 literal is closed, and a port is digits.
 */
static bool
authority_has_host(const char *a, size_t len)
{
	const char *at = NULL, *host, *end = a + len, *colon;

	for (const char *p = a; p < end; p++)
		if (*p == '@')
			at = p;
	host = at ? at + 1 : a;
	if (host < end && *host == '[') {
		const char *close = memchr(host, ']', (size_t)(end - host));

		if (close == NULL || close == host + 1)
			return false;
		colon = close + 1 < end ? close + 1 : NULL;
		if (colon != NULL && *colon != ':')
			return false;
	} else {
		colon = memchr(host, ':', (size_t)(end - host));
		if ((colon ? colon : end) == host)
			return false;
	}
	for (const char *p = colon ? colon + 1 : end; p < end; p++)
		if (*p < '0' || *p > '9')
			return false;
	return true;
}

static int
out_of_memory(struct parser *p)
{
	*p->nomem = true;
	return parse_error(p, "%s", "out of memory");
}

bool
url_valid(const char *s, size_t len)
{
	size_t skip, alen;

	if (len > 8 && strncasecmp(s, "https://", 8) == 0)
		skip = 8;
	else if (len > 7 && strncasecmp(s, "http://", 7) == 0)
		skip = 7;
	else
		return false;
	if (len > CALLBACK_MAX_URL_LEN)
		return false;
	/* s need not be NUL-terminated (yajl's strings are not). */
	for (alen = 0; skip + alen < len; alen++)
		if (s[skip + alen] == '/' || s[skip + alen] == '?' || s[skip + alen] == '#')
			break;
	if (!authority_has_host(s + skip, alen))
		return false;	/* no host */
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= 0x20 || c == 0x7f || c == '\\')
			return false;
	}
	return true;
}

/*
 * Strict UTF-8 (RFC 3629): yajl checks only the byte patterns, so overlong
 * forms, surrogates and code points above U+10FFFF would pass it.  Returns
 * the offset of the first bad byte, or len.
 */
static size_t
utf8_check(const unsigned char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned char c = s[i];
		size_t n;
		unsigned char lo = 0x80, hi = 0xbf;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			n = 1;
		else if (c >= 0xe0 && c <= 0xef)
			n = 2;
		else if (c >= 0xf0 && c <= 0xf4)
			n = 3;
		else
			return i;
		if (c == 0xe0)
			lo = 0xa0;	/* overlong */
		else if (c == 0xed)
			hi = 0x9f;	/* surrogates */
		else if (c == 0xf0)
			lo = 0x90;	/* overlong */
		else if (c == 0xf4)
			hi = 0x8f;	/* above U+10FFFF */
		if (len - i <= n || s[i + 1] < lo || s[i + 1] > hi)
			return i;
		for (size_t k = 2; k <= n; k++)
			if (s[i + k] < 0x80 || s[i + k] > 0xbf)
				return i;
		i += n + 1;
	}
	return len;
}

/* The role of the value about to come: a map entry's key, or an array element. */
static const struct field *
current(struct parser *p, enum role *role)
{
	struct frame *f;

	if (p->depth == 0) {
		*role = R_TOP;
		return NULL;
	}
	f = &p->stack[p->depth - 1];
	if (f->is_map) {
		*role = f->key ? f->key->role : R_OTHER;
		return f->key;
	}
	*role = (f->container == R_RESULT_URLS || f->container == R_ORIGIN_URLS) ? R_URL : R_OTHER;
	return NULL;
}

/*
 * The value at the current position has a type its place does not take.
 * Returns 1 (go on) for places this module ignores.
 */
static int
wrong_type(struct parser *p, enum role r, const struct field *fd)
{
	if (r == R_TOP)
		return parse_error(p, "%s", "top level must be an object");
	if (r == R_URL)
		return parse_error(p, "%s: entries must be strings", p->urls_path);
	if (fd == NULL || r == R_OTHER)
		return 1;	/* read only to be seen, of any type */
	return parse_error(p, "%s must be %s", fd->path, fd->want);
}

static int
add_url(struct parser *p, const unsigned char *s, size_t len)
{
	struct url_list *l = p->urls;
	char **nv;

	if (!url_valid((const char *)s, len))
		return parse_error(p, "%s: every entry must be an http(s) URL", p->urls_path);
	if (l->n >= CALLBACK_MAX_URLS) {
		/* Refusing would be final for the sender: keep the first ones. */
		l->dropped++;
		return 1;
	}
	if ((nv = realloc(l->v, (l->n + 1) * sizeof *nv)) == NULL)
		return out_of_memory(p);
	l->v = nv;
	if ((l->v[l->n] = strndup((const char *)s, len)) == NULL)
		return out_of_memory(p);
	l->n++;
	return 1;
}

static int
push(struct parser *p, bool is_map, enum role container)
{
	if (p->depth >= CALLBACK_MAX_DEPTH)
		return parse_error(p, "nesting deeper than %s levels", "32");
	p->stack[p->depth++] = (struct frame){ container, is_map, NULL };
	return 1;
}

/* A scalar or container is about to be read at the current position. */
static int
check_start(struct parser *p)
{
	if (p->depth == 0 && p->started)
		return parse_error(p, "%s", "trailing data after the top-level object");
	p->started = true;
	return 1;
}

/* Where the value about to be read sits (role and field), checked to be allowed there. */
static int
begin_value(struct parser *p, enum role *r, const struct field **fd)
{
	*fd = current(p, r);
	return check_start(p);
}

static int
on_null(void *ctx)
{
	struct parser *p = ctx;
	enum role r;
	const struct field *fd;

	if (!begin_value(p, &r, &fd))
		return 0;
	return fd != NULL && fd->nullable ? 1 : wrong_type(p, r, fd);
}

static int
on_boolean(void *ctx, int v)
{
	struct parser *p = ctx;
	enum role r;
	const struct field *fd;

	if (!begin_value(p, &r, &fd))
		return 0;
	if (r != R_FALLBACK)
		return wrong_type(p, r, fd);
	p->cb->fallback_flag = v ? 1 : 0;
	return 1;
}

/*
 * Every number, as the text yajl saw: only "code" is converted.  yajl's own
 * conversion would refuse an integer beyond 2^63 or a double beyond
 * DBL_MAX anywhere, also in fields nobody reads, and kie.ai takes a 400 as
 * final.
 */
static int
on_number(void *ctx, const char *s, size_t len)
{
	struct parser *p = ctx;
	enum role r;
	const struct field *fd;
	long long v;

	if (!begin_value(p, &r, &fd))
		return 0;
	if (r != R_CODE)
		return wrong_type(p, r, fd);
	if (num_parse_n(s, len, LLONG_MIN, LLONG_MAX, &v) < 0)
		return parse_error(p, "%s", "code must be an integer");
	p->cb->code = v;
	return 1;
}

static int parse_url_string(struct parser *p, const unsigned char *s, size_t len);

static int
on_string(void *ctx, const unsigned char *s, size_t len)
{
	struct parser *p = ctx;
	enum role r;
	const struct field *fd;
	struct callback *cb = p->cb;

	if (!begin_value(p, &r, &fd))
		return 0;
	/*
	 * An escaped lone surrogate ("\udc00") decodes to bytes that are not
	 * UTF-8: refused in the strings we keep, ignored in fields we ignore.
	 */
	if (r != R_OTHER && utf8_check(s, len) < len)
		return parse_error(p, "%s: escapes decode to invalid UTF-8",
		    fd ? fd->path : r == R_URL ? p->urls_path : "a string");
	switch (r) {
	case R_MSG:
		/* A \u0000 inside ends the copy here; the stored body keeps all. */
		if ((cb->msg = strndup((const char *)s, len)) == NULL)
			return out_of_memory(p);
		return 1;
	case R_RESOLUTION:
		if ((cb->resolution = strndup((const char *)s, len)) == NULL)
			return out_of_memory(p);
		return 1;
	case R_TASKID: case R_TASK_ID:
		if (!taskid_valid((const char *)s, len))
			return parse_error(p, "%s must be " TASKID_RULE, fd->path);
		memcpy(r == R_TASKID ? cb->task_id : p->task_id2, s, len);
		(r == R_TASKID ? cb->task_id : p->task_id2)[len] = '\0';
		return 1;
	case R_RESULT_URLS: case R_ORIGIN_URLS:
		if (p->in_string_form)
			return wrong_type(p, r, fd);
		p->urls = r == R_RESULT_URLS ? &cb->result_urls : &cb->origin_urls;
		p->urls_path = fd->path;
		return parse_url_string(p, s, len);
	case R_URL:
		return add_url(p, s, len);
	default:
		return wrong_type(p, r, fd);
	}
}

static int
on_start_map(void *ctx)
{
	struct parser *p = ctx;
	enum role r;
	const struct field *fd;

	if (!begin_value(p, &r, &fd))
		return 0;
	switch (r) {
	case R_TOP: return push(p, true, R_IN_TOP);
	case R_DATA: return push(p, true, R_IN_DATA);
	case R_INFO: return push(p, true, R_IN_INFO);
	case R_OTHER: return push(p, true, R_OTHER);
	default: return wrong_type(p, r, fd);
	}
}

static int
on_map_key(void *ctx, const unsigned char *key, size_t len)
{
	struct parser *p = ctx;
	struct frame *f = &p->stack[p->depth - 1];

	f->key = NULL;
	for (size_t i = 0; i < NFIELDS; i++) {
		if (fields[i].parent != f->container || strlen(fields[i].key) != len ||
		    memcmp(fields[i].key, key, len) != 0)
			continue;
		if (p->seen[i])
			return parse_error(p, "duplicate key %s", fields[i].path);
		p->seen[i] = true;
		f->key = &fields[i];
		break;
	}
	return 1;
}

static int
on_end(void *ctx)
{
	struct parser *p = ctx;

	p->depth--;
	return 1;
}

static int
on_start_array(void *ctx)
{
	struct parser *p = ctx;
	enum role r;
	const struct field *fd;

	if (!begin_value(p, &r, &fd))
		return 0;
	switch (r) {
	case R_RESULT_URLS: case R_ORIGIN_URLS:
		p->urls = r == R_RESULT_URLS ? &p->cb->result_urls : &p->cb->origin_urls;
		p->urls_path = fd->path;
		return push(p, false, r);
	case R_OTHER: return push(p, false, R_OTHER);
	default: return wrong_type(p, r, fd);
	}
}

static const yajl_callbacks handlers = {
	on_null, on_boolean, NULL, NULL, on_number, on_string,
	on_start_map, on_map_key, on_end, on_start_array, on_end,
};

/* yajl's allocations, so that running out of memory is told from bad JSON. */
static void *
y_malloc(void *ctx, size_t n)
{
	void *m = malloc(n);

	if (m == NULL)
		*(bool *)ctx = true;
	return m;
}

static void *
y_realloc(void *ctx, void *old, size_t n)
{
	void *m = realloc(old, n);

	if (m == NULL)
		*(bool *)ctx = true;
	return m;
}

static void
y_free(void *ctx, void *m)
{
	(void)ctx;
	free(m);
}

/* Runs yajl over buf with parser p; returns 0 or -1 with p->err set. */
static int
run_yajl(struct parser *p, const unsigned char *buf, size_t len)
{
	yajl_alloc_funcs af = { y_malloc, y_realloc, y_free, p->nomem };
	yajl_handle h = yajl_alloc(&handlers, &af, p);
	yajl_status st;
	int rc = 0;

	if (h == NULL) {
		*p->nomem = true;
		snprintf(p->err, p->errlen, "out of memory");
		return -1;
	}
	/* Defaults kept on purpose: UTF-8 validated, no comments, one value. */
	st = yajl_parse(h, buf, len);
	if (st == yajl_status_ok)
		st = yajl_complete_parse(h);
	if (st == yajl_status_error) {
		unsigned char *msg = yajl_get_error(h, 0, buf, len);
		char *nl;

		snprintf(p->err, p->errlen, "invalid JSON: %s", (char *)msg);
		if ((nl = strchr(p->err, '\n')) != NULL)
			*nl = '\0';
		yajl_free_error(h, msg);
		rc = -1;
	} else if (st != yajl_status_ok) {
		rc = -1;	/* a handler cancelled: p->err says why */
	}
	yajl_free(h);
	return rc;
}

/* Some senders put the URL array inside a string: parse that string as one. */
static int
parse_url_string(struct parser *outer, const unsigned char *s, size_t len)
{
	struct parser in = { .cb = outer->cb, .err = outer->err, .errlen = outer->errlen,
	    .urls = outer->urls, .urls_path = outer->urls_path, .in_string_form = true,
	    .nomem = outer->nomem };
	static const struct field list = { R_OTHER, R_RESULT_URLS, "", "", "an array of URL strings", true };
	struct field as_list = list;

	if (len == 0)
		return 1;	/* "" is an empty list */
	/*
	 * The inner document must be exactly one array of strings: seed the
	 * stack with a map frame whose pending key is a URL list.
	 */
	as_list.role = outer->urls == &outer->cb->result_urls ? R_RESULT_URLS : R_ORIGIN_URLS;
	as_list.path = outer->urls_path;
	in.stack[0] = (struct frame){ R_OTHER, true, &as_list };
	in.depth = 1;
	in.started = true;
	if (run_yajl(&in, s, len) < 0) {
		char inner[160];

		snprintf(inner, sizeof inner, "%s", outer->err);
		snprintf(outer->err, outer->errlen, "%s (string form): %s", outer->urls_path, inner);
		return 0;
	}
	return 1;
}

static int
check_required(struct parser *p)
{
	struct callback *cb = p->cb;

	if (!p->seen[F_CODE])
		return parse_error(p, "%s", "code is missing");
	if (!p->seen[F_MSG])
		return parse_error(p, "%s", "msg is missing");
	if (!p->seen[F_DATA])
		return parse_error(p, "%s", "data is missing");
	if (!p->seen[F_TASKID] && !p->seen[F_TASK_ID])
		return parse_error(p, "%s", "data.taskId is missing");
	if (!p->seen[F_TASKID])
		memcpy(cb->task_id, p->task_id2, sizeof cb->task_id);
	else if (p->seen[F_TASK_ID] && strcmp(cb->task_id, p->task_id2) != 0)
		return parse_error(p, "%s", "data.taskId and data.task_id differ");
	cb->is_4k = p->seen[F_FLAT_RESULT_URLS] || p->seen[F_IMAGE_URLS] ||
	    p->seen[F_FLAT_IMAGE_URLS];
	if (cb->code == 200 && cb->result_urls.n == 0)
		return parse_error(p, "%s", "code 200 needs at least one URL in data.info.resultUrls");
	return 1;
}

int
callback_parse(const unsigned char *body, size_t len, struct callback *cb,
    char *err, size_t errlen)
{
	bool nomem = false;
	struct parser p = { .cb = cb, .err = err, .errlen = errlen, .nomem = &nomem };
	size_t bad;

	memset(cb, 0, sizeof *cb);
	cb->fallback_flag = -1;
	if (errlen > 0)
		err[0] = '\0';
	if (len == 0) {
		snprintf(err, errlen, "empty body");
		return -1;
	}
	if ((bad = utf8_check(body, len)) < len) {
		snprintf(err, errlen, "invalid UTF-8 at byte %zu", bad);
		return -1;
	}
	if (run_yajl(&p, body, len) < 0)
		return nomem ? CALLBACK_NOMEM : -1;
	return check_required(&p) ? 0 : -1;
}

static void
url_list_free(struct url_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = l->dropped = 0;
}

void
callback_free(struct callback *cb)
{
	free(cb->msg);
	free(cb->resolution);
	url_list_free(&cb->result_urls);
	url_list_free(&cb->origin_urls);
	cb->msg = cb->resolution = NULL;
}
