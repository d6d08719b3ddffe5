/*
 * Fuzz target: what the spooler may fetch (src/spooler/netguard.c): the URL
 * check (scheme, host, allow_hosts; parsed with libcurl's URL API), host
 * lists, and the classification of resolved addresses (DESIGN promise 7).
 *
 * The input is cut at newlines into: URL, allow_hosts, host name; the
 * first 4 and 16 bytes of the input are also taken as an IPv4 and an IPv6
 * address.  Checked: a URL that passes with https_only is https; an
 * address is public exactly when it has no "kind"; an IPv4 address and its
 * IPv4-mapped and NAT64 forms get the same verdict; a host is allowed by a
 * list holding just that host.
 */
#include "fuzz.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <strings.h>

#include "netguard.h"

enum { F_URL, F_HOSTS, F_HOST, NF };

static void
urls(struct fuzz_fields *ff)
{
	char err[512];

	for (int https_only = 0; https_only < 2; https_only++) {
		int r = netguard_url_check(ff->f[F_URL], https_only, ff->f[F_HOSTS], err,
		    sizeof err);

		FUZZ_ASSERT(r == 0 || err[0] != '\0', "refused without a reason");
		FUZZ_ASSERT(r != 0 || !https_only ||
		    strncasecmp(ff->f[F_URL] + strspn(ff->f[F_URL], " \t"), "https:", 6) == 0,
		    "https_only passed a URL that is not https");
		(void)netguard_url_check(ff->f[F_URL], https_only, NULL, err, sizeof err);
	}
}

static void
hosts(struct fuzz_fields *ff)
{
	const char *h = ff->f[F_HOST];

	(void)netguard_host_allowed(ff->f[F_HOSTS], h);
	(void)netguard_host_allowed(NULL, h);
	if (*h != '\0' && strcspn(h, ", \t") == strlen(h) && strcmp(h, ".") != 0)
		FUZZ_ASSERT(netguard_host_allowed(h, h), "host not allowed by itself");
}

static bool
public6(const unsigned char b[16])
{
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6 };

	memcpy(s6.sin6_addr.s6_addr, b, 16);
	FUZZ_ASSERT(netguard_addr_public((struct sockaddr *)&s6) ==
	    (netguard_addr_kind((struct sockaddr *)&s6) == NULL), "public vs kind (v6)");
	return netguard_addr_public((struct sockaddr *)&s6);
}

static void
addrs(const uint8_t *data, size_t size)
{
	unsigned char b6[16] = { 0 }, m[16] = { [10] = 0xff, [11] = 0xff };
	unsigned char nat64[16] = { 0x00, 0x64, 0xff, 0x9b };
	struct sockaddr_in s4 = { .sin_family = AF_INET };
	struct { sa_family_t f; char p[108]; } su = { .f = AF_UNIX };
	bool pub4;

	memcpy(b6, data, size < 16 ? size : 16);
	memcpy(&s4.sin_addr, b6, 4);
	pub4 = netguard_addr_public((struct sockaddr *)&s4);
	FUZZ_ASSERT(pub4 == (netguard_addr_kind((struct sockaddr *)&s4) == NULL),
	    "public vs kind (v4)");
	(void)public6(b6);
	memcpy(m + 12, b6, 4);
	FUZZ_ASSERT(public6(m) == pub4, "IPv4-mapped form judged differently");
	memcpy(nat64 + 12, b6, 4);
	FUZZ_ASSERT(!public6(nat64) || pub4, "NAT64 form of a non-public address passed");
	FUZZ_ASSERT(!netguard_addr_public((struct sockaddr *)&su), "AF_UNIX public");
	FUZZ_ASSERT(!netguard_addr_public(NULL), "NULL public");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_fields ff;

	fuzz_split(data, size, NF, &ff);
	urls(&ff);
	hosts(&ff);
	addrs(data, size);
	fuzz_free(&ff);
	return 0;
}
