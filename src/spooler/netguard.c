#include "netguard.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "log.h"

/* An IPv4 network, host byte order, and what it is called. */
struct net4 {
	uint32_t	 addr;
	int		 bits;
	const char	*kind;
};

/*
 * Everything that is not public unicast IPv4 (IANA special-purpose
 * registry, RFC 6890 and successors).
 */
static const struct net4 deny4[] = {
	{ 0x00000000, 8, "\"this network\" address (0/8)" },
	{ 0x0a000000, 8, "private address (10/8)" },
	{ 0x64400000, 10, "carrier-grade NAT address (100.64/10)" },
	{ 0x7f000000, 8, "loopback address" },
	{ 0xa9fe0000, 16, "link-local address (169.254/16, cloud metadata)" },
	{ 0xac100000, 12, "private address (172.16/12)" },
	{ 0xc0000000, 24, "IETF protocol address (192.0.0/24)" },
	{ 0xc0000200, 24, "documentation address (192.0.2/24)" },
	{ 0xc0586300, 24, "6to4 relay anycast address (192.88.99/24)" },
	{ 0xc0a80000, 16, "private address (192.168/16)" },
	{ 0xc6120000, 15, "benchmarking address (198.18/15)" },
	{ 0xc6336400, 24, "documentation address (198.51.100/24)" },
	{ 0xcb007100, 24, "documentation address (203.0.113/24)" },
	{ 0xe0000000, 4, "multicast address" },
	{ 0xffffffff, 32, "broadcast address" },
	{ 0xf0000000, 4, "reserved address (240/4)" },
};

/* An IPv6 network: the first bits of addr. */
struct net6 {
	uint8_t		 addr[16];
	int		 bits;
	const char	*kind;
};

/*
 * Special IPv6 ranges.  Only 2000::/3 is global unicast, so anything
 * outside it is refused anyway; the well-known ones are named for the
 * error message.
 */
static const struct net6 deny6[] = {
	{ { 0xfc }, 7, "unique local (private) address (fc00::/7)" },
	{ { 0xfe, 0x80 }, 10, "link-local address (fe80::/10)" },
	{ { 0xfe, 0xc0 }, 10, "site-local address (fec0::/10)" },
	{ { 0xff }, 8, "multicast address" },
	{ { 0x01, 0x00 }, 64, "discard-only address (100::/64)" },
	{ { 0x20, 0x01, 0x00, 0x00 }, 32, "Teredo address (2001::/32)" },
	{ { 0x20, 0x01, 0x00, 0x10 }, 28, "ORCHID address (2001:10::/28)" },
	{ { 0x20, 0x01, 0x00, 0x20 }, 28, "ORCHIDv2 address (2001:20::/28)" },
	{ { 0x20, 0x01, 0x0d, 0xb8 }, 32, "documentation address (2001:db8::/32)" },
	{ { 0x3f, 0xff, 0x00 }, 20, "documentation address (3fff::/20)" },
};

static bool
in4(uint32_t a, const struct net4 *n)
{
	uint32_t mask = 0xffffffffu << (32 - n->bits);

	return (a & mask) == n->addr;
}

static bool
in6(const uint8_t a[16], const struct net6 *n)
{
	int full = n->bits / 8, rest = n->bits % 8;

	if (memcmp(a, n->addr, (size_t)full) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((a[full] ^ n->addr[full]) & (0xff << (8 - rest))) == 0;
}

static const char *
kind4(uint32_t a)
{
	for (size_t i = 0; i < sizeof deny4 / sizeof deny4[0]; i++)
		if (in4(a, &deny4[i]))
			return deny4[i].kind;
	return NULL;
}

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

/*
 * The IPv4 address carried by the IPv6 forms that reach an IPv4 host
 * (mapped, compatible, NAT64, 6to4); false when a carries none.
 */
static bool
embedded4(const uint8_t a[16], uint32_t *v4)
{
	static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };
	static const uint8_t compat[12];
	static const uint8_t nat64[12] = { 0x00, 0x64, 0xff, 0x9b };

	if (memcmp(a, mapped, 12) == 0 || memcmp(a, compat, 12) == 0 ||
	    memcmp(a, nat64, 12) == 0) {
		*v4 = get32(a + 12);
		return true;
	}
	if (a[0] == 0x20 && a[1] == 0x02) {	/* 6to4: 2002:AABB:CCDD::/48 */
		*v4 = get32(a + 2);
		return true;
	}
	return false;
}

static const char *
kind6(const uint8_t a[16])
{
	static const uint8_t any[16];
	static const uint8_t one[16] = { [15] = 1 };
	uint32_t v4;

	/* Inside ::/96 too, but named as what they are. */
	if (memcmp(a, any, 16) == 0)
		return "unspecified address (::)";
	if (memcmp(a, one, 16) == 0)
		return "loopback address";
	if (embedded4(a, &v4))
		return kind4(v4);
	for (size_t i = 0; i < sizeof deny6 / sizeof deny6[0]; i++)
		if (in6(a, &deny6[i]))
			return deny6[i].kind;
	if ((a[0] & 0xe0) != 0x20)
		return "reserved address (outside 2000::/3)";
	return NULL;
}

const char *
netguard_addr_kind(const struct sockaddr *sa)
{
	if (sa != NULL && sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

		return kind4(ntohl(sin->sin_addr.s_addr));
	}
	if (sa != NULL && sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;

		return kind6(sin6->sin6_addr.s6_addr);
	}
	return "not an IP address";
}

bool
netguard_addr_public(const struct sockaddr *sa)
{
	return netguard_addr_kind(sa) == NULL;
}

/* Compares n bytes of host names, ignoring case. */
static bool
name_eq(const char *a, size_t alen, const char *b, size_t blen)
{
	return alen == blen && strncasecmp(a, b, alen) == 0;
}

/* One allow_hosts entry (not NUL-terminated) against host. */
static bool
entry_matches(const char *e, size_t elen, const char *host, size_t hlen)
{
	if (elen > 0 && e[elen - 1] == '.')
		elen--;
	if (elen > 2 && e[0] == '*' && e[1] == '.') {
		/* "*.example.com": "x.example.com" but not "example.com". */
		size_t slen = elen - 1;	/* ".example.com" */

		return hlen > slen &&
		    name_eq(host + hlen - slen, slen, e + 1, slen);
	}
	return name_eq(host, hlen, e, elen);
}

bool
netguard_host_allowed(const char *list, const char *host)
{
	const char *p = list;
	size_t hlen;

	if (list == NULL || list[strspn(list, ", \t")] == '\0')
		return true;
	if (host == NULL || *host == '\0')
		return false;
	/* "cdn.example.com." is the same host as "cdn.example.com". */
	hlen = strlen(host);
	if (hlen > 1 && host[hlen - 1] == '.')
		hlen--;
	while (*p != '\0') {
		size_t len;

		p += strspn(p, ", \t");
		len = strcspn(p, ", \t");
		if (len > 0 && entry_matches(p, len, host, hlen))
			return true;
		p += len;
	}
	return false;
}

/*
 * A URL for a message: escaped, and cut before its query or fragment, which
 * may hold a signature or token of the result host ("?..." marks the cut).
 */
static char *
url_for_message(char *esc, size_t len, const char *url)
{
	size_t n = strcspn(url, "?#");

	log_escape(esc, len, url, n);
	if (url[n] != '\0' && strlen(esc) + 5 <= len)
		strcat(esc, "?...");
	return esc;
}

int
netguard_url_check(const char *url, bool https_only, const char *allow_hosts,
    char *err, size_t errlen)
{
	CURLU *u = NULL;
	char *scheme = NULL, *host = NULL;
	char esc[128];
	CURLUcode uc;
	int rc = -1;

	if (url == NULL)
		url = "";
	if ((u = curl_url()) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto err;
	}
	/* NON_SUPPORT_SCHEME: say "ftp is not allowed" rather than "bad URL". */
	uc = curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME);
	if (uc != CURLUE_OK) {
		snprintf(err, errlen, "not a valid absolute URL (%s): \"%s\"",
		    curl_url_strerror(uc), url_for_message(esc, sizeof esc, url));
		goto err;
	}
	if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
		snprintf(err, errlen, "URL without a host: \"%s\"",
		    url_for_message(esc, sizeof esc, url));
		goto err;
	}
	if (strcmp(scheme, "https") != 0 && strcmp(scheme, "http") != 0) {
		snprintf(err, errlen, "scheme \"%s\" not allowed: only https%s",
		    log_escape(esc, sizeof esc, scheme, strlen(scheme)),
		    https_only ? "" : " and http");
		goto err;
	}
	if (https_only && strcmp(scheme, "http") == 0) {
		snprintf(err, errlen, "plain http to %s refused: only https is "
		    "allowed (https_only = no allows http)",
		    log_escape(esc, sizeof esc, host, strlen(host)));
		goto err;
	}
	if (!netguard_host_allowed(allow_hosts, host)) {
		snprintf(err, errlen, "host %s is not in allow_hosts",
		    log_escape(esc, sizeof esc, host, strlen(host)));
		goto err;
	}
	rc = 0;
	if (errlen > 0)
		err[0] = '\0';
err:
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return rc;
}
