#include "advice.h"

#include <string.h>

const char advice_expired[] =
    "the provider no longer serves this file (results are kept 14 days): get fresh URLs "
    "with GET /api/v1/veo/record-info?taskId=..., or submit the task again";

const char advice_gave_up[] =
    "check that this machine can reach the file's host, then run "
    "veo-spooler retry with the task id";

static const char advice_policy[] =
    "the URL was refused by the download policy (https_only, allow_hosts, public "
    "addresses only): if this host is trusted, adjust the configuration, then run "
    "veo-spooler retry with the task id";

static const char advice_disk_full[] =
    "the download disk is full: free space under download_dir; the download resumes "
    "where it stopped and no attempt is counted";

static const char advice_too_big[] =
    "the file is larger than max_file_size: raise it if this is expected, then run "
    "veo-spooler retry with the task id";

/*
 * Rows are tried in order; the first whose result matches and whose status
 * range holds http_code (0-0 matches any status) wins.
 */
static const struct {
	enum fetch_result result;
	long status_lo, status_hi;
	struct transfer_policy policy;
} transfer_table[] = {
	{ FETCH_OK,		0, 0,		{ VERDICT_DONE, "" } },
	{ FETCH_NOT_RUN,	0, 0,		{ VERDICT_NOT_RUN, "" } },
	{ FETCH_HTTP,		404, 404,	{ VERDICT_EXPIRED, advice_expired } },
	{ FETCH_HTTP,		410, 410,	{ VERDICT_EXPIRED, advice_expired } },
	{ FETCH_HTTP,		403, 403,	{ VERDICT_FORBIDDEN, advice_expired } },
	{ FETCH_HTTP,		0, 0,		{ VERDICT_RETRY, advice_gave_up } },
	{ FETCH_BLOCKED,	0, 0,		{ VERDICT_FAIL, advice_policy } },
	{ FETCH_TOO_BIG,	0, 0,		{ VERDICT_FAIL, advice_too_big } },
	{ FETCH_NETWORK,	0, 0,		{ VERDICT_RETRY, advice_gave_up } },
	{ FETCH_SHORT,		0, 0,		{ VERDICT_RETRY, advice_gave_up } },
	{ FETCH_BAD_CONTENT,	0, 0,		{ VERDICT_RETRY, advice_gave_up } },
	{ FETCH_LOCAL,		0, 0,		{ VERDICT_RETRY, advice_gave_up } },
	{ FETCH_STOPPED,	0, 0,		{ VERDICT_NOT_RUN, "" } },
	{ FETCH_DISK_FULL,	0, 0,		{ VERDICT_WAIT, advice_disk_full } },
};

struct transfer_policy
advice_for_transfer(enum fetch_result r, long http_code)
{
	for (size_t i = 0; i < sizeof transfer_table / sizeof transfer_table[0]; i++) {
		long lo = transfer_table[i].status_lo, hi = transfer_table[i].status_hi;

		if (transfer_table[i].result == r &&
		    ((lo == 0 && hi == 0) || (http_code >= lo && http_code <= hi)))
			return transfer_table[i].policy;
	}
	return (struct transfer_policy){ VERDICT_RETRY, advice_gave_up };
}

const char *
advice_for_code(long long code, const char *msg)
{
	const char *m = msg ? msg : "";

	switch (code) {
	case 400:
		if (strcasestr(m, "english"))
			return "only English prompts are accepted: translate the prompt and submit a new task";
		if (strcasestr(m, "polic") || strcasestr(m, "flagged"))
			return "the prompt was flagged by the content policy: rephrase it and submit a new task";
		if (strcasestr(m, "unsafe"))
			return "the input image was judged unsafe: use another image and submit a new task";
		if (strcasestr(m, "image") || strcasestr(m, "fetch"))
			return "the input image could not be fetched: make its URL publicly reachable and submit a new task";
		return "the request was refused (content policy, English-only prompts, or an image that "
		    "could not be fetched or was unsafe): fix the input and submit a new task";
	case 422:
		return "rejected and no fallback channel was enabled: submit again with enableFallback "
		    "set to true (16:9 only), or use another channel";
	case 500:
		return "internal error or timeout at the provider; this is transient: submit the task again later";
	case 501:
		return "video generation failed at the provider: submit the task again, perhaps with a changed prompt";
	default:
		return "unknown result code from the provider: check the task with "
		    "GET /api/v1/veo/record-info?taskId=... and submit again if needed";
	}
}
