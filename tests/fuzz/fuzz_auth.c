/*
 * Fuzz target: the responder's three gates (src/responder/auth.c): the
 * token in the query string, the HMAC signature headers, and the
 * allow_from CIDR list against REMOTE_ADDR.
 *
 * The input is cut at newlines into: expected token, query string, HMAC
 * key, previous HMAC key, taskId, X-Webhook-Timestamp,
 * X-Webhook-Signature, allow_from list, REMOTE_ADDR.  Besides running each
 * gate on what the attacker controls, the harness checks that the gates
 * admit what they must: a query "token=<t>" for a plain token t, and a
 * signature made by auth_hmac_sign() with either key, at its own time.
 */
#include "fuzz.h"

#include "auth.h"

enum { F_TOKEN, F_QUERY, F_KEY, F_PREV, F_TASK, F_TS, F_SIG, F_LIST, F_ADDR, NF };

/* A token that no URL rule could read differently (unreserved characters). */
static bool
plain_token(const char *t, size_t len)
{
	if (len == 0 || len > 400 || strlen(t) != len)
		return false;
	for (const char *p = t; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("._~-", *p) != NULL))
			return false;
	return true;
}

/* A timestamp auth accepts: 1 to 12 digits, nothing else. */
static bool
plain_ts(const char *ts, long long *out)
{
	size_t n = strspn(ts, "0123456789");

	if (n == 0 || n > 12 || ts[n] != '\0')
		return false;
	*out = strtoll(ts, NULL, 10);
	return true;
}

static void
token(struct fuzz_fields *ff)
{
	char buf[512];

	(void)auth_token_ok(ff->f[F_TOKEN], ff->f[F_QUERY]);
	(void)query_param(ff->f[F_QUERY], "token", buf, sizeof buf);
	(void)secret_equal(ff->f[F_TOKEN], ff->f[F_QUERY]);
	if (plain_token(ff->f[F_TOKEN], ff->len[F_TOKEN])) {
		char q[420];

		snprintf(q, sizeof q, "token=%s", ff->f[F_TOKEN]);
		FUZZ_ASSERT(auth_token_ok(ff->f[F_TOKEN], q), "own token refused");
		FUZZ_ASSERT(secret_equal(ff->f[F_TOKEN], ff->f[F_TOKEN]), "secret_equal");
	}
}

static void
hmac(struct fuzz_fields *ff)
{
	const char *key = ff->f[F_KEY], *prev = ff->f[F_PREV], *task = ff->f[F_TASK];
	const char *ts = ff->f[F_TS];
	char sig[HMAC_B64_LEN + 1];
	long long t;
	enum hmac_result r;

	/* What an attacker sends, at a fixed time and at its own time. */
	r = auth_hmac_check(key, *prev ? prev : NULL, 300, task, ts, ff->f[F_SIG], 1700000000);
	FUZZ_ASSERT(auth_hmac_reason(r) != NULL, "no reason");
	if (plain_ts(ts, &t))
		(void)auth_hmac_check(key, prev, 1, task, ts, ff->f[F_SIG], (time_t)t);

	/* What kie.ai sends: its own signature must pass, with either key. */
	if (!plain_ts(ts, &t) || auth_hmac_sign(key, task, ts, sig) < 0)
		return;
	FUZZ_ASSERT(strlen(sig) == HMAC_B64_LEN, "signature length %zu", strlen(sig));
	r = auth_hmac_check(key, NULL, 300, task, ts, sig, (time_t)t);
	FUZZ_ASSERT(r == HMAC_OK, "own signature refused: %s", auth_hmac_reason(r));
	r = auth_hmac_check(prev, key, 300, task, ts, sig, (time_t)t + 300);
	FUZZ_ASSERT(r == HMAC_OK, "previous key refused: %s", auth_hmac_reason(r));
	r = auth_hmac_check(key, NULL, 300, task, ts, sig, (time_t)t + 301);
	FUZZ_ASSERT(r == HMAC_EXPIRED, "too old, yet: %s", auth_hmac_reason(r));
	if (strcmp(key, prev) != 0) {
		r = auth_hmac_check(prev, NULL, 300, task, ts, sig, (time_t)t);
		/* Another key makes the same signature only through a SHA-256 collision. */
		FUZZ_ASSERT(r == HMAC_MISMATCH, "another key accepted: %s",
		    auth_hmac_reason(r));
	}
}

static void
cidr(struct fuzz_fields *ff)
{
	char err[256] = "";
	int r = auth_addr_allowed(ff->f[F_LIST], ff->f[F_ADDR], err, sizeof err);

	FUZZ_ASSERT(r >= -1 && r <= 1, "verdict %d", r);
	FUZZ_ASSERT(r != -1 || err[0] != '\0', "malformed list without a reason");
	/* An address always falls in its own /32 or /128. */
	if (r == 0 || r == 1) {
		char list[128];

		if (ff->len[F_ADDR] == 0 || ff->len[F_ADDR] > 45 ||
		    strcspn(ff->f[F_ADDR], ", \t/") != ff->len[F_ADDR])
			return;
		snprintf(list, sizeof list, "%s", ff->f[F_ADDR]);
		r = auth_addr_allowed(list, ff->f[F_ADDR], err, sizeof err);
		FUZZ_ASSERT(r == 1 || r == -1, "address not in itself: %d", r);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_fields ff;

	fuzz_split(data, size, NF, &ff);
	token(&ff);
	hmac(&ff);
	cidr(&ff);
	fuzz_free(&ff);
	return 0;
}
