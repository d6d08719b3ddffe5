/*
 * test_auth: HMAC signing against vectors made by the openssl CLI, the
 * signature check (keys, clock skew, header shapes), the token in the query
 * string, constant-time equality, and the allow_from CIDR list.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "tap.h"

#include <openssl/evp.h>

/*
 * EVP_Digest() that fails while armed: this definition takes the place of
 * libcrypto's for auth.c (linked statically into this test), standing for
 * libcrypto running out of memory.
 */
static int evp_fail;

int
EVP_Digest(const void *data, size_t count, unsigned char *md, unsigned int *size,
    const EVP_MD *type, ENGINE *impl)
{
	static int (*real)(const void *, size_t, unsigned char *, unsigned int *,
	    const EVP_MD *, ENGINE *);

	if (evp_fail)
		return 0;
	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "EVP_Digest");
	return real(data, count, md, size, type, impl);
}

/* Our own failures are told apart from a bad token or signature (503, not 401). */
static void
test_internal_errors(void)
{
	char longid[300];

	is_int(auth_token_check("s3cret", "token=s3cret"), TOKEN_OK, "token_check: OK");
	is_int(auth_token_check("s3cret", "token=nope"), TOKEN_BAD, "token_check: BAD");
	evp_fail = 1;
	is_int(auth_token_check("s3cret", "token=s3cret"), TOKEN_ERROR,
	    "token_check: libcrypto failing is TOKEN_ERROR, not a wrong token");
	ok(!auth_token_ok("s3cret", "token=s3cret"), "and auth_token_ok() fails closed");
	evp_fail = 0;
	memset(longid, 'a', sizeof longid - 1);
	longid[sizeof longid - 1] = '\0';
	is_int(auth_hmac_check("k", NULL, 300, longid, "1700000000", "AAAA", 1700000000), HMAC_ERROR,
	    "an HMAC that cannot be computed is HMAC_ERROR, not a mismatch");
}

#define NOW	1700000000

/* A TAP skip: "ok N # skip why" (tap.h's ok() would put " - " before the '#'). */
static void
skip(const char *why)
{
	printf("ok %d # skip %s\n", ++tap_n, why);
}

/*
 * Each vector was computed once, outside this code, with
 *
 *   printf '%s' "$TASKID.$TS" | openssl dgst -sha256 -hmac "$KEY" -binary | base64
 *
 * (OpenSSL 3.0, bash, LANG=C.UTF-8), e.g. the first one with
 *   printf '%s' 'veo_task_1.1700000000' | openssl dgst -sha256 -hmac 'key' -binary | base64
 */
static const struct { const char *key, *task, *ts, *sig; } vectors[] = {
	{ "key", "veo_task_1", "1700000000", "2aZ/6XZxzCmZ77tbEUB3dFTuoawGhBJEHu2hdekpD+A=" },
	{ "webhook-secret-2024", "veo_task_abcdef123456", "1732714672",
	    "sDugaBk7fzoDJ7iMvBFKYqjPdyTkl4o5wK3R/FJCt0g=" },
	/* A one-byte key and the shortest taskId and timestamp. */
	{ "k", "a", "0", "eMNRI87YUzHuD/TzABHenlEYwE7cuc7XNm/a8YgM4MI=" },
	/*
	 * KEY=$(printf 'x%.0s' $(seq 1 100)) (longer than SHA-256's 64-byte block,
	 * so HMAC hashes it first), TASKID=$(printf 'T%.0s' $(seq 1 128)),
	 * TS=999999999999.
	 */
	{ "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
	    "TTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTT",
	    "999999999999", "eTWmELSM4kCw7ad8YcX6/DmuLuNM1rC4uEZso8BAw7Y=" },
	/* KEY='clé-ü-🔑' in UTF-8: the key is bytes, not characters. */
	{ "cl\xc3\xa9-\xc3\xbc-\xf0\x9f\x94\x91", "task_id-4K.v2", "1700000300",
	    "2qVoPsGpV4rUIqXkxDNObkQy/XDFDaeIynJDIlzj9lU=" },
	{ "prev-key", "veo_task_1", "1700000000", "+0T6CxJS5+5NNme0G3FIXgvsU9/OddL/AlgEFIz1JWw=" },
	/* Blanks in a key are part of it. */
	{ " spaced key ", "a.b-c_d", "1", "ckaqtZbJUUlEA8WKpyX8OenJ+0BcandFbR/Sa+ksYp8=" },
};
#define NVECTORS (sizeof vectors / sizeof vectors[0])

static void
test_vectors(void)
{
	for (size_t i = 0; i < NVECTORS; i++) {
		char out[HMAC_B64_LEN + 1];

		memset(out, 'Z', sizeof out);
		ok(auth_hmac_sign(vectors[i].key, vectors[i].task, vectors[i].ts, out) == 0,
		    "vector %zu signs", i);
		is_str(out, vectors[i].sig, "vector matches openssl dgst -hmac");
		ok(auth_hmac_check(vectors[i].key, NULL, 300, vectors[i].task, vectors[i].ts,
		    vectors[i].sig, (time_t)atoll(vectors[i].ts)) == HMAC_OK,
		    "vector %zu verifies", i);
	}
}

/* Runs the openssl CLI on (key, msg); 0 with the base64 signature in out. */
static int
openssl_sign(const char *key, const char *msg, char *out, size_t len)
{
	char cmd[512];
	FILE *p;
	int rc = -1;

	/* The inputs are ours and hold no single quote. */
	snprintf(cmd, sizeof cmd, "printf '%%s' '%s' | openssl dgst -sha256 -hmac '%s' -binary | base64",
	    msg, key);
	if ((p = popen(cmd, "r")) == NULL)
		return -1;
	if (fgets(out, (int)len, p) != NULL) {
		out[strcspn(out, "\n")] = '\0';
		rc = 0;
	}
	if (pclose(p) != 0)
		rc = -1;
	return rc;
}

/* The same comparison, live, so the vectors above are not taken on trust. */
static void
test_live_openssl(void)
{
	char task[64], ts[32], key[64], msg[128], want[128], got[HMAC_B64_LEN + 1];

	if (system("command -v openssl >/dev/null 2>&1 && command -v base64 >/dev/null 2>&1") != 0) {
		skip("openssl CLI not on PATH");
		skip("openssl CLI not on PATH");
		return;
	}
	ok(openssl_sign(vectors[1].key, "veo_task_abcdef123456.1732714672", want, sizeof want) == 0 &&
	    strcmp(want, vectors[1].sig) == 0, "openssl reproduces the hard-coded vector now");

	/* Inputs made at run time, so no value here was copied from anywhere. */
	snprintf(key, sizeof key, "live-key-%ld", (long)getpid());
	snprintf(task, sizeof task, "veo_task_%lx", (unsigned long)time(NULL));
	snprintf(ts, sizeof ts, "%lld", (long long)time(NULL));
	snprintf(msg, sizeof msg, "%s.%s", task, ts);
	if (openssl_sign(key, msg, want, sizeof want) < 0 ||
	    auth_hmac_sign(key, task, ts, got) < 0)
		ok(0, "live vector computed");
	else
		is_str(got, want, "auth_hmac_sign matches openssl on a fresh input");
}

static void
test_check(void)
{
	const char *k = vectors[0].key, *t = vectors[0].task, *sig = vectors[0].sig;
	char s[HMAC_B64_LEN + 1], bad[HMAC_B64_LEN + 8], ts[32];

	is_int(auth_hmac_check(k, NULL, 300, t, "1700000000", sig, NOW), HMAC_OK, "valid signature");
	is_int(auth_hmac_check("new-key", k, 300, t, "1700000000", sig, NOW), HMAC_OK,
	    "previous key accepted");
	is_int(auth_hmac_check(k, "other", 300, t, "1700000000", sig, NOW), HMAC_OK,
	    "current key accepted while a previous one is set");
	is_int(auth_hmac_check("new-key", NULL, 300, t, "1700000000", sig, NOW), HMAC_MISMATCH,
	    "wrong key, no previous key");
	is_int(auth_hmac_check("new-key", "older", 300, t, "1700000000", sig, NOW), HMAC_MISMATCH,
	    "neither key");
	is_int(auth_hmac_check("ke", NULL, 300, t, "1700000000", sig, NOW), HMAC_MISMATCH,
	    "key prefix is a different key");
	is_int(auth_hmac_check(k, NULL, 300, "veo_task_2", "1700000000", sig, NOW), HMAC_MISMATCH,
	    "tampered taskId");
	is_int(auth_hmac_check(k, NULL, 300, t, "1700000001", sig, NOW), HMAC_MISMATCH,
	    "tampered timestamp");
	is_int(auth_hmac_check(k, NULL, 300, t, "01700000000", sig, NOW), HMAC_MISMATCH,
	    "timestamp is signed as sent (leading zero differs)");

	/* Missing headers. */
	is_int(auth_hmac_check(k, NULL, 300, t, NULL, sig, NOW), HMAC_MISSING, "no timestamp");
	is_int(auth_hmac_check(k, NULL, 300, t, "1700000000", NULL, NOW), HMAC_MISSING, "no signature");
	is_int(auth_hmac_check(k, NULL, 300, t, NULL, NULL, NOW), HMAC_MISSING, "neither header");
	is_int(auth_hmac_check(k, NULL, 300, t, "", sig, NOW), HMAC_MISSING, "empty timestamp");
	is_int(auth_hmac_check(k, NULL, 300, t, "1700000000", "", NOW), HMAC_MISSING, "empty signature");

	/* Timestamps that are not plain decimal Unix seconds. */
	{
		static const char *bads[] = { "abc", "17e8", "-1", "+1700000000", "1700000000.5",
		    "0x10", "1700000000s", "1 700000000", "1234567890123", "   " };

		for (size_t i = 0; i < sizeof bads / sizeof bads[0]; i++)
			is_int(auth_hmac_check(k, NULL, 300, t, bads[i], sig, NOW),
			    HMAC_BAD_TIMESTAMP, "non-numeric timestamp refused");
	}

	/* The tolerance is inclusive on both sides. */
	for (size_t i = 0; i < 5; i++) {
		static const int skew[] = { -301, -300, 0, 300, 301 };
		int d = skew[i];
		enum hmac_result want;

		snprintf(ts, sizeof ts, "%d", NOW + d);
		auth_hmac_sign(k, t, ts, s);
		want = d < -300 || d > 300 ? HMAC_EXPIRED : HMAC_OK;
		ok(auth_hmac_check(k, NULL, 300, t, ts, s, NOW) == want,
		    "timestamp now%+d with tolerance 300: %s", d, want == HMAC_OK ? "accepted" : "expired");
	}
	snprintf(ts, sizeof ts, "%d", NOW - 1);
	auth_hmac_sign(k, t, ts, s);
	is_int(auth_hmac_check(k, NULL, 1, t, ts, s, NOW), HMAC_OK, "tolerance 1: one second late ok");
	is_int(auth_hmac_check(k, NULL, 0, t, ts, s, NOW), HMAC_EXPIRED, "tolerance 0: one second late expired");
	is_int(auth_hmac_check(k, NULL, 300, t, "0", sig, NOW), HMAC_EXPIRED, "epoch is expired");

	/* Header shapes. */
	snprintf(bad, sizeof bad, "  %s \t", sig);
	is_int(auth_hmac_check(k, NULL, 300, t, "1700000000", bad, NOW), HMAC_OK,
	    "signature with surrounding blanks");
	is_int(auth_hmac_check(k, NULL, 300, t, " 1700000000\t", sig, NOW), HMAC_OK,
	    "timestamp with surrounding blanks");
	snprintf(bad, sizeof bad, "%.43s", sig);
	is_int(auth_hmac_check(k, NULL, 300, t, "1700000000", bad, NOW), HMAC_MISMATCH,
	    "signature without its padding");
	snprintf(bad, sizeof bad, "%s=", sig);
	is_int(auth_hmac_check(k, NULL, 300, t, "1700000000", bad, NOW), HMAC_MISMATCH,
	    "signature with an extra byte");
	snprintf(bad, sizeof bad, "%s", sig);
	bad[10] ^= 0x20;	/* flips the case of one letter */
	is_int(auth_hmac_check(k, NULL, 300, t, "1700000000", bad, NOW), HMAC_MISMATCH,
	    "signature with one letter's case changed");
	snprintf(bad, sizeof bad, "%s", sig);
	bad[0] = 'A';
	is_int(auth_hmac_check(k, NULL, 300, t, "1700000000", bad, NOW), HMAC_MISMATCH,
	    "signature with its first byte changed");
	is_int(auth_hmac_check(k, NULL, 300, t, "1700000000", vectors[5].sig, NOW), HMAC_MISMATCH,
	    "another key's signature");
	{
		char longsig[300];

		memset(longsig, 'A', sizeof longsig - 1);
		longsig[sizeof longsig - 1] = '\0';
		is_int(auth_hmac_check(k, NULL, 300, t, "1700000000", longsig, NOW), HMAC_MISMATCH,
		    "over-long signature");
	}

	/* Reasons: distinct, and never containing the key. */
	{
		enum hmac_result all[] = { HMAC_OK, HMAC_MISSING, HMAC_BAD_TIMESTAMP, HMAC_EXPIRED, HMAC_MISMATCH };
		int good = 1;

		for (size_t i = 0; i < 5; i++)
			for (size_t j = 0; j < i; j++)
				good &= strcmp(auth_hmac_reason(all[i]), auth_hmac_reason(all[j])) != 0;
		ok(good, "every result has its own reason");
		ok(strstr(auth_hmac_reason(HMAC_EXPIRED), "X-Webhook-Timestamp") != NULL &&
		    strstr(auth_hmac_reason(HMAC_MISMATCH), "X-Webhook-Signature") != NULL,
		    "reasons name the header");
	}
}

static void
test_secret_equal(void)
{
	ok(secret_equal("abc", "abc"), "equal strings");
	ok(secret_equal("", ""), "two empty strings");
	ok(!secret_equal("abc", "abd"), "last byte differs");
	ok(!secret_equal("abc", "Abc"), "first byte differs");
	ok(!secret_equal("abc", "ab"), "prefix is not equal");
	ok(!secret_equal("ab", "abc"), "extension is not equal");
	ok(!secret_equal("abc", ""), "empty is not equal");
	ok(!secret_equal("", "abc"), "empty is not equal, either order");
}

static void
test_token(void)
{
	static const struct { const char *query; bool want; const char *name; } cases[] = {
		{ "token=s3cret", true, "token alone" },
		{ "a=1&token=s3cret&b=2", true, "token in the middle" },
		{ "a=1&token=s3cret", true, "token last" },
		{ "token=s3cret&health", true, "token first" },
		{ "token=s%33cret", false, "percent-encoded byte: compared raw, not decoded" },
		{ "token=%73%33%63%72%65%74", false, "fully percent-encoded: compared raw" },
		{ "token=", false, "token= empty" },
		{ "token", false, "token without '='" },
		{ "", false, "empty query" },
		{ "a=1&b=2", false, "token absent" },
		{ "tokenx=s3cret", false, "tokenx= is another name" },
		{ "xtoken=s3cret", false, "xtoken= is another name" },
		{ "Token=s3cret", false, "names are case-sensitive" },
		{ "token=s3cre", false, "prefix of the token" },
		{ "token=s3crett", false, "token plus a byte" },
		{ "token=S3CRET", false, "case differs" },
		{ "token=s3cret%", false, "truncated escape" },
		{ "token=s3cret%4", false, "half an escape" },
		{ "token=s3cre%zz", false, "bad escape" },
		{ "token=s3cret%00", false, "token plus an encoded NUL" },
		{ "token=s3cret%00junk", false, "token, NUL, then more" },
		{ "token=wrong&token=s3cret", false, "the first token counts" },
		{ "a=token=s3cret", false, "token= inside another value" },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		ok(auth_token_ok("s3cret", cases[i].query) == cases[i].want, "token: %s", cases[i].name);
	ok(!auth_token_ok("s3cret", NULL), "token: no query string");
	/* One rule: the raw, undecoded value, byte for byte, on both sides. */
	ok(auth_token_ok("a+b", "token=a+b"), "token: '+' matches a '+' (not a space)");
	ok(!auth_token_ok("a b", "token=a+b"), "token: '+' is not decoded to a space");
	ok(auth_token_ok("a%2Bb", "token=a%2Bb"), "token: '%%2B' matches '%%2B'");
	ok(!auth_token_ok("a+b", "token=a%2Bb"), "token: '%%2B' is not decoded to '+'");
	ok(auth_token_ok("100%", "x=1&token=100%&y"), "token: a lone '%%' matches itself");
	ok(!auth_token_ok("s3cret", "token=s3cret%00"), "token: '%%00' is three bytes, not a NUL");
	is_int(auth_token_care("0b2d7c9a41e6-f35_d8.a7~c"), 0, "token care: unreserved characters need none");
	is_int(auth_token_care("abc+def"), '+', "token care: '+' named");
	is_int(auth_token_care("abc%41"), '%', "token care: '%%' named");
	is_int(auth_token_care("a&b"), '&', "token care: '&' named");
	is_int(auth_token_care("a b"), ' ', "token care: blank named");
}

static void
test_query_param(void)
{
	char out[8];

	is_int(query_param("a=1&b=xyz", "b", out, sizeof out), 3, "query_param returns the length");
	is_str(out, "xyz", "query_param value");
	is_int(query_param("b=", "b", out, sizeof out), 0, "empty value has length 0");
	is_str(out, "", "empty value is empty");
	is_int(query_param("b=%41%2f", "b", out, sizeof out), 2, "escapes decode");
	is_str(out, "A/", "decoded value");
	is_int(query_param("b=1234567", "b", out, sizeof out), 7, "value filling the buffer");
	is_int(query_param("b=12345678", "b", out, sizeof out), -1, "value over the buffer");
	is_int(query_param("&&b=1&", "b", out, sizeof out), 1, "empty segments skipped");
	is_int(query_param("a=1", "b", out, 0), -1, "zero-length buffer");
}

static void
addr_case(const char *list, const char *addr, int want)
{
	char err[160] = "";
	int got = auth_addr_allowed(list, addr, err, sizeof err);

	if (!ok(got == want, "allow_from '%s' with %s -> %d", list, addr ? addr : "NULL", want))
		printf("#   got %d (%s)\n", got, err);
}

static void
addr_bad(const char *list, const char *entry)
{
	char err[160] = "", want[120];
	int got = auth_addr_allowed(list, "10.0.0.1", err, sizeof err);

	snprintf(want, sizeof want, "'%s'", entry);
	if (!ok(got == -1 && strstr(err, want) != NULL && strstr(err, "allow_from") != NULL,
	    "malformed list '%s' -> -1 naming %s", list, want))
		printf("#   got %d, error: %s\n", got, err);
}

static void
test_addr(void)
{
	addr_case("10.0.0.0/8", "10.1.2.3", 1);
	addr_case("10.0.0.0/8", "10.255.255.255", 1);
	addr_case("10.0.0.0/8", "11.0.0.0", 0);
	addr_case("10.0.0.0/8", "9.255.255.255", 0);
	addr_case("10.0.0.0/9", "10.127.255.255", 1);
	addr_case("10.0.0.0/9", "10.128.0.0", 0);
	addr_case("192.0.2.7", "192.0.2.7", 1);
	addr_case("192.0.2.7", "192.0.2.8", 0);
	addr_case("192.0.2.7/32", "192.0.2.7", 1);
	addr_case("192.0.2.7/32", "192.0.2.6", 0);
	addr_case("192.0.2.7/31", "192.0.2.6", 1);
	addr_case("0.0.0.0/0", "203.0.113.9", 1);
	addr_case("0.0.0.0/0", "2001:db8::1", 0);
	addr_case("::/0", "2001:db8::1", 1);
	addr_case("::/0", "203.0.113.9", 0);
	addr_case("2001:db8::/32", "2001:db8:1::5", 1);
	addr_case("2001:db8::/32", "2001:db9::1", 0);
	addr_case("2001:db8::/33", "2001:db8:7fff::1", 1);
	addr_case("2001:db8::/33", "2001:db8:8000::1", 0);
	addr_case("2001:db8::1/128", "2001:db8::1", 1);
	addr_case("2001:db8::1/128", "2001:db8::2", 0);
	addr_case("2001:db8::1", "2001:0db8:0:0::1", 1);
	addr_case("10.0.0.0/8", "2001:db8::1", 0);
	/* An IPv4-mapped REMOTE_ADDR (dual-stack sockets) is an IPv4 client. */
	addr_case("10.0.0.0/8", "::ffff:10.1.2.3", 1);
	addr_case("10.0.0.0/8", "::ffff:11.1.2.3", 0);
	addr_case("192.0.2.7", "::FFFF:192.0.2.7", 1);
	addr_case("::ffff:10.0.0.0/104", "10.9.9.9", 1);
	addr_case("::ffff:10.0.0.0/104", "11.0.0.0", 0);
	addr_case("::ffff:10.0.0.0/104", "::ffff:10.0.0.1", 1);
	addr_case("::ffff:10.0.0.0/128", "10.0.0.0", 1);
	addr_case("::ffff:10.0.0.0/128", "10.0.0.1", 0);
	addr_case("::ffff:192.0.2.7", "192.0.2.7", 1);
	addr_case("::ffff:192.0.2.7", "::ffff:192.0.2.7", 1);
	addr_case("::ffff:192.0.2.7", "192.0.2.8", 0);
	/* Lists. */
	addr_case("10.0.0.0/8, 192.0.2.7 2001:db8::/32\t127.0.0.1", "127.0.0.1", 1);
	addr_case("10.0.0.0/8, 192.0.2.7 2001:db8::/32\t127.0.0.1", "2001:db8::9", 1);
	addr_case("10.0.0.0/8, 192.0.2.7 2001:db8::/32\t127.0.0.1", "192.0.2.8", 0);
	addr_case(" ,, 192.0.2.7 ,", "192.0.2.7", 1);
	addr_case("", "192.0.2.7", 0);
	addr_case("10.0.0.0/8", NULL, 0);
	addr_case("10.0.0.0/8", "", 0);
	addr_case("10.0.0.0/8", "not-an-ip", 0);
	addr_case("10.0.0.0/8", "10.1.2.3/32", 0);
	addr_case("10.0.0.0/8", "10.1.2", 0);

	addr_bad("10.0.0.0/33", "10.0.0.0/33");
	addr_bad("10.0.0/8", "10.0.0/8");
	addr_bad("example.com", "example.com");
	addr_bad("10.0.0.0/", "10.0.0.0/");
	addr_bad("/8", "/8");
	addr_bad("10.0.0.0/8x", "10.0.0.0/8x");
	addr_bad("10.0.0.0/-1", "10.0.0.0/-1");
	addr_bad("2001:db8::/129", "2001:db8::/129");
	addr_bad("::ffff:10.0.0.0/95", "::ffff:10.0.0.0/95");
	addr_bad("10.0.0.1, 10.0.0.0;8", "10.0.0.0;8");
	addr_bad("10.0.0.1 256.0.0.1", "256.0.0.1");
	addr_bad("10.0.0.1/8/8", "10.0.0.1/8/8");
	/* Every entry is checked, even after a match, so a typo shows at once. */
	addr_bad("10.0.0.0/8 bogus", "bogus");
	{
		char list[200], err[160] = "";

		memset(list, '1', sizeof list - 1);
		list[sizeof list - 1] = '\0';
		ok(auth_addr_allowed(list, "10.0.0.1", err, sizeof err) == -1 && err[0] != '\0',
		    "over-long entry -> -1: %s", err);
	}
}

int
main(void)
{
	test_vectors();
	test_live_openssl();
	test_check();
	test_secret_equal();
	test_token();
	test_query_param();
	test_addr();
	test_internal_errors();
	return done_testing();
}
