/*
 * auth: the three gates in front of the spool.
 *
 *  - token:  "?token=<token>" in the query string, compared raw (undecoded)
 *            in constant time.
 *  - HMAC:   X-Webhook-Signature = base64(HMAC-SHA256(key, taskId "." ts)),
 *            ts = X-Webhook-Timestamp (Unix seconds) within tolerance either
 *            way; the current and the previous key are both accepted.
 *  - allow_from: REMOTE_ADDR inside a list of CIDR blocks (IPv4 and IPv6;
 *            an IPv4-mapped IPv6 address is matched as IPv4).
 *
 * None of these functions logs, and none puts a secret into a message.
 */
#ifndef VEO_AUTH_H
#define VEO_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define HMAC_B64_LEN 44		/* base64 of 32 bytes, with padding */

/*
 * Finds "name=value" in a query string and percent-decodes the value into
 * out (capacity outlen).  Returns the decoded length, or -1 if absent, badly
 * encoded or too long.
 */
long query_param(const char *query, const char *name, char *out, size_t outlen);

/* Constant-time equality of two strings, whatever their lengths. */
bool secret_equal(const char *a, const char *b);

/*
 * True when the first "token=" of the query string carries exactly
 * <expected>, compared raw: neither side is percent-decoded, so the token is
 * what appears in the callback URL byte for byte ("a%2Bb" matches only
 * "a%2Bb", never "a+b").
 */
bool auth_token_ok(const char *expected, const char *query);

/* The same, telling a failure of libcrypto (ours: answer 503) from a bad token. */
enum token_result { TOKEN_OK, TOKEN_BAD, TOKEN_ERROR };
enum token_result auth_token_check(const char *expected, const char *query);

/*
 * The first character of token outside [A-Za-z0-9._~-], which a URL may
 * carry differently from how it was written (encoded, or as a separator):
 * 0 when there is none.
 */
int auth_token_care(const char *token);

/* Writes base64(HMAC-SHA256(key, task_id "." ts)) into out (45 bytes). 0 or -1. */
int auth_hmac_sign(const char *key, const char *task_id, const char *ts,
    char out[HMAC_B64_LEN + 1]);

enum hmac_result {
	HMAC_OK,
	HMAC_MISSING,		/* a header is absent */
	HMAC_BAD_TIMESTAMP,	/* not a plain decimal number */
	HMAC_EXPIRED,		/* outside the tolerance */
	HMAC_MISMATCH,		/* no key produces this signature */
	HMAC_ERROR,		/* the HMAC could not be computed: ours, answer 503 */
};

/*
 * Checks the signature headers (either may be NULL) for task_id at time now.
 * key_previous may be NULL.
 */
enum hmac_result auth_hmac_check(const char *key, const char *key_previous,
    long long tolerance, const char *task_id, const char *ts, const char *sig,
    time_t now);
const char *auth_hmac_reason(enum hmac_result r);

/*
 * Whether addr lies in one of the comma- or space-separated CIDR blocks of
 * list ("10.0.0.0/8, 2001:db8::/32, 192.0.2.7").  Returns 1 yes, 0 no, -1
 * when the list itself is malformed (err then names the bad entry).
 */
int auth_addr_allowed(const char *list, const char *addr, char *err, size_t errlen);

#endif
