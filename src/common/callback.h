/*
 * callback: parse and validate a kie.ai Veo 3.1 callback body.
 *
 * Accepted (DESIGN.md, "The callback"): a top-level object with an integer
 * "code", a string "msg" and an object "data"; "data.taskId" or
 * "data.task_id" (both present must agree); "data.info" absent, null or an
 * object whose "resultUrls"/"originUrls" are an array of strings, a string
 * holding such an array, null or absent; "resolution" a string or null;
 * "data.fallbackFlag" a boolean, null or absent; any other field, of any
 * type, is ignored here (the stored body keeps it).
 *
 * Rejected, with a message naming the field: invalid JSON or UTF-8, nesting
 * deeper than CALLBACK_MAX_DEPTH, a mistyped or missing required field, a
 * taskId that breaks taskid_valid(), a URL entry that is not an http(s) URL,
 * code 200 without a result URL, and a duplicate of any key this module
 * reads (two parsers that keep different duplicates would see two different
 * callbacks; refusing them is the only unambiguous reading).
 */
#ifndef VEO_CALLBACK_H
#define VEO_CALLBACK_H

#include <stdbool.h>
#include <stddef.h>

#include "taskid.h"

#define CALLBACK_MAX_DEPTH 32
#define CALLBACK_MAX_URLS 32
#define CALLBACK_MAX_URL_LEN 8192

/*
 * A URL list keeps its first CALLBACK_MAX_URLS entries; the rest (still
 * checked) are only counted in dropped, since a 400 would be final for the
 * sender and lose the whole callback.
 */
struct url_list {
	char **v;		/* owned strings */
	size_t n;
	size_t dropped;		/* entries beyond CALLBACK_MAX_URLS */
};

struct callback {
	long long code;
	char task_id[TASKID_MAX + 1];
	char *msg;		/* owned; valid UTF-8, may hold any character */
	char *resolution;	/* owned, or NULL */
	int fallback_flag;	/* 1, 0, or -1 when absent or null */
	struct url_list result_urls;	/* data.info.resultUrls, or the 4K
					 * callback's data.result_urls */
	struct url_list origin_urls;
	bool is_4k;		/* in a 4K callback's shape (data.result_urls,
				 * data.image_urls or data.info.imageUrls) */
};

/* callback_parse() could not get memory: the body may be fine (answer 503). */
#define CALLBACK_NOMEM (-2)

/*
 * Parses len bytes of body into cb (which the caller provides; it need not
 * be initialised).  Returns 0; -1 with a one-line reason in err when the
 * body is refused; CALLBACK_NOMEM when memory ran out.  In every case the
 * caller must call callback_free(cb).
 *
 * Numbers are read as text: a number in a field this module ignores is
 * never a reason to refuse, whatever its size ("1e999", 2^64); "code" must
 * be an integer that fits in a long long.
 */
int callback_parse(const unsigned char *body, size_t len, struct callback *cb,
    char *err, size_t errlen);
void callback_free(struct callback *cb);

/*
 * True when s (len bytes) is an absolute http:// or https:// URL with a
 * non-empty host (after any "user@" and before any ":port", whose port is
 * digits), and holds no control character, space or backslash.
 */
bool url_valid(const char *s, size_t len);

#endif
