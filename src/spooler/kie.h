/*
 * kie: the client for kie.ai's Veo 3.1 API, the authority on a task
 * (docs/DESIGN.md promise 9; the API as kie.ai documents it at
 * docs.kie.ai, veo3-api pages, with the quirks real answers showed).
 *
 * Three questions, each one blocking HTTP exchange:
 *   kie_record_info()  GET  <api_base>/api/v1/veo/record-info?taskId=ID
 *   kie_get_1080p()    GET  <api_base>/api/v1/veo/get-1080p-video?taskId=ID&index=N
 *   kie_get_4k()       POST <api_base>/api/v1/veo/get-4k-video
 *                           {"taskId":ID,"index":N,"callBackUrl":URL}
 *                      (kie.ai charges credits for it: the caller asks once
 *                      per result, and again only with cause)
 *
 * Every request carries "Authorization: Bearer <api_key>", "User-Agent:
 * veo-spooler/VERSION" and accepts gzip.  It ends within connect_timeout
 * (connecting) and request_timeout (in all), and never past the deadline:
 * a request that cannot start before the deadline is not sent
 * (KIE_NOT_ASKED), one under way is cut at it.  No redirect is followed
 * (the key would go along), no proxy is taken from the environment, https
 * is verified (ca_file added to the system's CAs), only http and https are
 * spoken, and an answer over max_answer bytes (decoded) is refused.
 *
 * Verdicts.  The body's "code" decides, read together with the HTTP status,
 * in this order:
 *   no HTTP answer (DNS, connect, TLS, timeout, reset)     KIE_UNREACHABLE
 *   HTTP 401, or body code 401                             KIE_AUTH
 *   HTTP 429, 455 or 5xx; HTTP 3xx; a body that is not a JSON object with
 *   an integer code (an HTML page, Cloudflare's 403 "error code: 1010",
 *   a cut or oversized body); body code 429, 455           KIE_THROTTLED
 *   then per endpoint:
 *   record-info  code 200, successFlag 0                   KIE_GENERATING
 *                code 200, successFlag 1 and resultUrls    KIE_SUCCESS
 *                code 200, successFlag 2 or 3              KIE_FAILED
 *                code 200 with data null; 404; 422         KIE_NO_RECORD
 *                code 5xx; a JSON answer not understood
 *                (other successFlag, success without URLs,
 *                another task's record)                    KIE_THROTTLED
 *                any other code (400, 402, 433, ...)       KIE_REFUSED
 *   1080p        a non-empty data.resultUrl, whatever code KIE_SUCCESS
 *                404; 422 whose msg is about the record    KIE_NO_RECORD
 *                402, 433, 505                             KIE_REFUSED
 *                anything else (200 without URL, 400 or 5xx
 *                "1080P is processing", other 422)         KIE_GENERATING
 *   4k           data.resultUrls[0], whatever code (a done
 *                4K answers 422)                           KIE_SUCCESS
 *                code 200 without resultUrls               KIE_REQUESTED
 *                404; 422 whose msg is about the record    KIE_NO_RECORD
 *                another 422 ("4k is processing")          KIE_GENERATING
 *                code 5xx                                  KIE_THROTTLED
 *                any other code (400, 402, 433, 505, ...)  KIE_REFUSED
 * THROTTLED, UNREACHABLE and NOT_ASKED say nothing about the task: ask
 * later (kie_backoff()), never fail the task for them.  AUTH says nothing
 * about the task either: the operator's api_key is wrong.
 *
 * URL lists are accepted as a JSON array of strings or as a string holding
 * one; errorCode as a number, a numeric string, null or "null"; successFlag
 * as a number or a numeric string.
 *
 * Secrets.  The api_key is kept only in the request header lists (wiped by
 * kie_free()).  It appears in no error string and no answer field: text
 * taken from an answer has every occurrence of the key replaced by "***".
 *
 * Ownership.  kie_new() copies what it needs from its options; the struct
 * kie owns a libcurl easy handle (connections are reused between calls).
 * An answer owns its strings; kie_answer_free() releases them, and is safe
 * on a zeroed answer.  Each call clears the answer it is given (freeing
 * what it held first), so an answer may be reused.  Not thread-safe: one
 * struct kie per thread.  curl_global_init() must have run
 * (fetch_global_init() does it).
 */
#ifndef VEO_KIE_H
#define VEO_KIE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define KIE_DEFAULT_BASE "https://api.kie.ai"

enum kie_verdict {
	KIE_GENERATING,		/* record-info successFlag 0; 1080p/4K being made */
	KIE_SUCCESS,		/* record-info successFlag 1; 1080p/4K URL(s) ready */
	KIE_FAILED,		/* record-info successFlag 2 or 3 */
	KIE_REQUESTED,		/* 4K: kie.ai took the request (its first answer) */
	KIE_NO_RECORD,		/* unknown or expired taskId (14 days) */
	KIE_REFUSED,		/* another body code: see code and msg */
	KIE_THROTTLED,		/* back off: 429, 455, 5xx, not JSON, Cloudflare */
	KIE_UNREACHABLE,	/* no answer: DNS, connect, TLS, timeout, local */
	KIE_AUTH,		/* 401: the api_key was refused */
	KIE_NOT_ASKED,		/* the deadline had passed: nothing was sent */
};

struct kie_opts {
	const char *api_base;		/* NULL: KIE_DEFAULT_BASE */
	const char *api_key;		/* required */
	const char *ca_file;		/* extra trusted CAs, or NULL */
	long connect_timeout;		/* seconds; <= 0: 15 */
	long request_timeout;		/* seconds for a whole exchange; <= 0: 30 */
	long long max_answer;		/* bytes, decoded; <= 0: 1 MiB */
	time_t deadline;		/* nothing runs past it; 0: none */
};

/* What one question got.  Strings are NUL-terminated and owned. */
struct kie_answer {
	enum kie_verdict verdict;
	long http_status;		/* 0: no HTTP answer */
	long code;			/* the body's code; 0: none */
	char *msg;			/* the body's msg, raw (escape before
					 * printing); NULL when absent */
	long retry_after;		/* seconds from Retry-After; 0: none */
	char error[320];		/* one line for people, escaped, safe to
					 * print; "" for GENERATING, SUCCESS,
					 * REQUESTED */

	/* record-info */
	int success_flag;		/* 0..3; -1: absent */
	char **result_urls;		/* resultUrls; 1080p: its one resultUrl;
					 * 4K: resultUrls.  NULL-terminated
					 * array, or NULL when none */
	size_t n_result;
	char **origin_urls;		/* record-info originUrls, as above */
	size_t n_origin;
	char *resolution;		/* "720p", "1080p"; NULL when absent */
	long error_code;		/* errorCode; 0 when null or absent */
	char *error_message;		/* errorMessage, raw; NULL when empty */
	bool fallback;			/* fallbackFlag */

	/* 1080p */
	bool ready;			/* verdict == KIE_SUCCESS */
	const char *result_url;		/* result_urls[0] when ready, else NULL */
};

struct kie;

/*
 * A client for o->api_base with o->api_key.  NULL with a reason in err
 * (never containing the key) when the options are unusable: no key, a key
 * with blanks or control characters, an api_base that is not an http(s)
 * URL, or libcurl failing to start.
 */
struct kie *kie_new(const struct kie_opts *o, char *err, size_t errlen);
void kie_free(struct kie *k);

/* Moves the deadline (0: none), e.g. for the next sweep. */
void kie_set_deadline(struct kie *k, time_t deadline);

/* The questions; each returns a->verdict.  task_id is sent URL-escaped. */
enum kie_verdict kie_record_info(struct kie *k, const char *task_id, struct kie_answer *a);
enum kie_verdict kie_get_1080p(struct kie *k, const char *task_id, int index,
    struct kie_answer *a);
/* callback_url may be NULL (then no callBackUrl is sent). */
enum kie_verdict kie_get_4k(struct kie *k, const char *task_id, int index,
    const char *callback_url, struct kie_answer *a);

void kie_answer_free(struct kie_answer *a);

/* A ready 1080p answer's URL, moved out of a (which is then not ready and
 * no longer lists it): the caller's to free.  NULL when a is not ready. */
char *kie_answer_take_url(struct kie_answer *a);

/* "generating", "success", "failed", "requested", "no-record", "refused",
 * "throttled", "unreachable", "auth-error", "not-asked". */
const char *kie_verdict_name(enum kie_verdict v);

/* True for THROTTLED, UNREACHABLE and NOT_ASKED: ask again later; not a
 * statement about the task. */
bool kie_verdict_transient(enum kie_verdict v);

/*
 * Seconds to wait before asking about a task again after `failures`
 * transient answers in a row (1 for the first): poll_interval doubled per
 * failure up to one hour, at least retry_after, plus up to a quarter more
 * as jitter drawn from rnd (any random number).
 */
long kie_backoff(long poll_interval, int failures, long retry_after, unsigned rnd);

/* True when both lists hold the same URLs in the same order. */
bool kie_urls_equal(char *const *a, size_t na, char *const *b, size_t nb);

#endif
