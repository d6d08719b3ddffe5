/*
 * advice: what a failure means and what a person can do about it, in one
 * place.  Two tables: the provider's result codes (a failure callback),
 * and the outcome of a transfer (fetch result and HTTP status), which
 * decides whether the sweep retries, fails the task as expired, or fails
 * it with advice naming the setting to change.
 */
#ifndef VEO_ADVICE_H
#define VEO_ADVICE_H

#include "fetch.h"

enum verdict {
	VERDICT_DONE,		/* the file is whole */
	VERDICT_NOT_RUN,	/* nothing happened: no attempt is counted */
	VERDICT_WAIT,		/* the machine's problem (disk full): no attempt
				 * counted, reported once a sweep */
	VERDICT_RETRY,		/* transient: count an attempt, back off, try again */
	VERDICT_FORBIDDEN,	/* 403: retried, but expired after FORBIDDEN_MAX of them */
	VERDICT_EXPIRED,	/* the provider no longer serves it */
	VERDICT_FAIL,		/* permanent until a setting changes (advice names it) */
};

#define FORBIDDEN_MAX 3

struct transfer_policy {
	enum verdict verdict;
	const char *advice;	/* static; "" when the verdict needs none */
};

/* The policy for a transfer that ended with r and HTTP status http_code. */
struct transfer_policy advice_for_transfer(enum fetch_result r, long http_code);

/* Advice for a failure code of the provider, picked with the help of msg. */
const char *advice_for_code(long long code, const char *msg);

/* A task the provider no longer serves (404/410, repeated 403, 14 days). */
extern const char advice_expired[];
/* A task that failed max_attempts times in a row. */
extern const char advice_gave_up[];

#endif
