#include "auth.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "numparse.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

static int
hexval(int c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

long
query_param(const char *query, const char *name, char *out, size_t outlen)
{
	size_t nlen = strlen(name);
	const char *p = query;

	if (query == NULL || outlen == 0)
		return -1;
	while (*p) {
		const char *end = strchr(p, '&');
		size_t seglen = end ? (size_t)(end - p) : strlen(p);

		if (seglen > nlen && strncmp(p, name, nlen) == 0 && p[nlen] == '=') {
			size_t o = 0;

			for (const char *v = p + nlen + 1; v < p + seglen; v++) {
				int c = (unsigned char)*v;

				if (c == '%') {
					int hi, lo;

					if (v + 2 >= p + seglen ||
					    (hi = hexval(v[1])) < 0 || (lo = hexval(v[2])) < 0)
						return -1;
					c = hi << 4 | lo;
					v += 2;
				} else if (c == '+') {
					c = ' ';
				}
				if (o + 1 >= outlen)
					return -1;
				out[o++] = (char)c;
			}
			out[o] = '\0';
			return (long)o;
		}
		if (end == NULL)
			break;
		p = end + 1;
	}
	return -1;
}

/* 1 equal, 0 not, -1 when the digests could not be computed. */
static int
secret_equal_n(const char *a, size_t alen, const char *b, size_t blen)
{
	unsigned char da[32], db[32];
	unsigned int la = 0, lb = 0;

	/*
	 * Comparing digests takes the same time whatever the lengths and
	 * contents, so neither the length nor a prefix of a secret leaks.
	 */
	if (!EVP_Digest(a, alen, da, &la, EVP_sha256(), NULL) ||
	    !EVP_Digest(b, blen, db, &lb, EVP_sha256(), NULL))
		return -1;
	return CRYPTO_memcmp(da, db, sizeof da) == 0;
}

bool
secret_equal(const char *a, const char *b)
{
	return secret_equal_n(a, strlen(a), b, strlen(b)) == 1;
}

enum token_result
auth_token_check(const char *expected, const char *query)
{
	const char *p = query;

	if (query == NULL)
		return TOKEN_BAD;
	/* The first "token=" segment counts; its value is compared as it came. */
	while (*p) {
		size_t seglen = strcspn(p, "&");

		if (seglen > 6 && strncmp(p, "token=", 6) == 0) {
			int eq = secret_equal_n(expected, strlen(expected), p + 6, seglen - 6);

			return eq < 0 ? TOKEN_ERROR : eq ? TOKEN_OK : TOKEN_BAD;
		}
		if (p[seglen] == '\0')
			break;
		p += seglen + 1;
	}
	return TOKEN_BAD;
}

bool
auth_token_ok(const char *expected, const char *query)
{
	return auth_token_check(expected, query) == TOKEN_OK;
}

int
auth_token_care(const char *token)
{
	static const char plain[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~";

	for (const char *t = token; t && *t; t++)
		if (strchr(plain, *t) == NULL)
			return (unsigned char)*t;
	return 0;
}

int
auth_hmac_sign(const char *key, const char *task_id, const char *ts,
    char out[HMAC_B64_LEN + 1])
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	char msg[256];
	int n = snprintf(msg, sizeof msg, "%s.%s", task_id, ts);

	if (n < 0 || (size_t)n >= sizeof msg)
		return -1;
	if (HMAC(EVP_sha256(), key, (int)strlen(key), (unsigned char *)msg,
	    (size_t)n, mac, &maclen) == NULL)
		return -1;
	EVP_EncodeBlock((unsigned char *)out, mac, (int)maclen);
	return 0;
}

/* Unix seconds: plain digits, at most 12 of them. */
static int
parse_timestamp(const char *s, long long *out)
{
	return num_parse(s, 0, 999999999999LL, out);
}

/* A header value without surrounding blanks, into buf. */
static int
trimmed(const char *s, char *buf, size_t len)
{
	size_t n;

	while (*s == ' ' || *s == '\t')
		s++;
	n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	if (n >= len)
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return 0;
}

/* 1 signed by key, 0 not (or no key), -1 when the HMAC could not be computed. */
static int
signed_by(const char *key, const char *task_id, const char *ts, const char *sig)
{
	char want[HMAC_B64_LEN + 1];

	if (key == NULL)
		return 0;
	if (auth_hmac_sign(key, task_id, ts, want) < 0)
		return -1;
	/* Lengths are public (always 44); contents are compared in constant time. */
	return strlen(sig) == HMAC_B64_LEN && CRYPTO_memcmp(want, sig, HMAC_B64_LEN) == 0;
}

enum hmac_result
auth_hmac_check(const char *key, const char *key_previous, long long tolerance,
    const char *task_id, const char *ts, const char *sig, time_t now)
{
	char sigbuf[128], tsbuf[16];
	long long t;
	int cur, prev;

	if (ts == NULL || sig == NULL || *ts == '\0' || *sig == '\0')
		return HMAC_MISSING;
	if (trimmed(ts, tsbuf, sizeof tsbuf) < 0 || parse_timestamp(tsbuf, &t) < 0)
		return HMAC_BAD_TIMESTAMP;
	if (t < (long long)now - tolerance || t > (long long)now + tolerance)
		return HMAC_EXPIRED;
	if (trimmed(sig, sigbuf, sizeof sigbuf) < 0)
		return HMAC_MISMATCH;
	/* Both keys are always tried, so timing does not tell which matched. */
	cur = signed_by(key, task_id, tsbuf, sigbuf);
	prev = signed_by(key_previous, task_id, tsbuf, sigbuf);
	if (cur == 1 || prev == 1)
		return HMAC_OK;
	/* A taskId too long to sign, or libcrypto out of memory: not the sender's fault. */
	return cur < 0 || prev < 0 ? HMAC_ERROR : HMAC_MISMATCH;
}

const char *
auth_hmac_reason(enum hmac_result r)
{
	switch (r) {
	case HMAC_OK: return "signature valid";
	case HMAC_MISSING: return "missing X-Webhook-Timestamp or X-Webhook-Signature header";
	case HMAC_BAD_TIMESTAMP: return "X-Webhook-Timestamp is not a Unix time in seconds";
	case HMAC_EXPIRED: return "X-Webhook-Timestamp is outside the allowed clock skew";
	case HMAC_MISMATCH: return "X-Webhook-Signature does not match";
	case HMAC_ERROR: return "signature could not be checked";
	}
	return "signature invalid";
}

struct addr {
	int family;		/* AF_INET or AF_INET6 */
	unsigned char b[16];
};

/* Parses an address; IPv4-mapped IPv6 becomes IPv4.  0 or -1. */
static int
parse_addr(const char *s, struct addr *a)
{
	static const unsigned char mapped[12] = { 0,0,0,0, 0,0,0,0, 0,0,0xff,0xff };

	if (inet_pton(AF_INET, s, a->b) == 1) {
		a->family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, a->b) == 1) {
		a->family = AF_INET6;
		if (memcmp(a->b, mapped, 12) == 0) {
			memmove(a->b, a->b + 12, 4);
			a->family = AF_INET;
		}
		return 0;
	}
	return -1;
}

static bool
prefix_match(const unsigned char *x, const unsigned char *y, int bits)
{
	int whole = bits / 8, rest = bits % 8;

	if (memcmp(x, y, (size_t)whole) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((x[whole] ^ y[whole]) & (0xff << (8 - rest))) == 0;
}

/* Checks one "addr[/bits]" entry.  1 match, 0 no match, -1 malformed. */
static int
cidr_match(const char *entry, const struct addr *a)
{
	char buf[64];
	const char *slash = strchr(entry, '/');
	size_t alen = slash ? (size_t)(slash - entry) : strlen(entry);
	struct addr net;
	int bits, maxbits;

	if (alen == 0 || alen >= sizeof buf)
		return -1;
	memcpy(buf, entry, alen);
	buf[alen] = '\0';
	if (parse_addr(buf, &net) < 0)
		return -1;
	/* A mapped network is written in IPv6 notation, so its bits count to 128. */
	maxbits = net.family == AF_INET && strchr(buf, ':') == NULL ? 32 : 128;
	bits = net.family == AF_INET ? 32 : 128;
	if (slash) {
		long long v;

		if (num_parse(slash + 1, 0, maxbits, &v) < 0)
			return -1;
		/* A mapped network "::ffff:10.0.0.0/104" counts its bits on IPv4. */
		if (net.family == AF_INET && strchr(buf, ':') != NULL)
			v = v >= 96 ? v - 96 : -1;
		if (v < 0)
			return -1;
		bits = (int)v;
	}
	if (net.family != a->family)
		return 0;
	return prefix_match(net.b, a->b, bits);
}

int
auth_addr_allowed(const char *list, const char *addr, char *err, size_t errlen)
{
	struct addr a;
	char entry[80];
	const char *p = list;
	int verdict = 0;

	bool have_addr = addr != NULL && parse_addr(addr, &a) == 0;

	/* Every entry is checked, so that a typo is reported on every request. */
	while (*p) {
		size_t n = strcspn(p, ", \t");
		int m;

		if (n == 0) {
			p++;
			continue;
		}
		if (n >= sizeof entry) {
			snprintf(err, errlen, "allow_from: entry too long");
			return -1;
		}
		memcpy(entry, p, n);
		entry[n] = '\0';
		p += n;
		if ((m = cidr_match(entry, have_addr ? &a : &(struct addr){ 0, {0} })) < 0) {
			snprintf(err, errlen, "allow_from: '%s' is not an address or CIDR block", entry);
			return -1;
		}
		if (m == 1 && have_addr)
			verdict = 1;
	}
	return verdict;
}
