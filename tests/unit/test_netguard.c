/* Unit tests for netguard: address classes, host lists, URL checks. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <curl/curl.h>

#include "netguard.h"
#include "tap.h"

struct addr_case {
	const char	*addr;
	bool		 public;
};

static const struct addr_case addrs[] = {
	/* IPv4, public */
	{ "8.8.8.8", true },
	{ "1.1.1.1", true },
	{ "93.184.216.34", true },
	{ "100.1.2.3", true },		/* just below CGNAT */
	{ "100.63.255.255", true },
	{ "100.128.0.0", true },	/* just above CGNAT */
	{ "172.15.255.255", true },
	{ "172.32.0.0", true },
	{ "192.0.1.1", true },
	{ "192.169.0.1", true },
	{ "198.17.255.255", true },
	{ "198.20.0.0", true },
	{ "223.255.255.255", true },
	{ "9.255.255.255", true },
	{ "11.0.0.0", true },
	{ "126.255.255.255", true },
	{ "128.0.0.0", true },
	{ "169.253.255.255", true },
	{ "169.255.0.0", true },
	/* IPv4, refused */
	{ "0.0.0.0", false },
	{ "0.1.2.3", false },
	{ "10.0.0.1", false },
	{ "10.255.255.255", false },
	{ "100.64.0.1", false },
	{ "100.127.255.254", false },
	{ "127.0.0.1", false },
	{ "127.255.255.254", false },
	{ "169.254.169.254", false },
	{ "169.254.0.1", false },
	{ "172.16.0.1", false },
	{ "172.31.255.255", false },
	{ "192.0.0.8", false },
	{ "192.0.2.1", false },
	{ "192.88.99.1", false },
	{ "192.168.1.1", false },
	{ "198.18.0.1", false },
	{ "198.19.255.255", false },
	{ "198.51.100.7", false },
	{ "203.0.113.9", false },
	{ "224.0.0.1", false },
	{ "239.255.255.250", false },
	{ "240.0.0.1", false },
	{ "255.255.255.255", false },
	/* IPv6, public */
	{ "2606:4700:4700::1111", true },
	{ "2001:4860:4860::8888", true },
	{ "2a00:1450:4001:80b::200e", true },
	{ "2001:200::1", true },		/* outside 2001::/23 specials */
	{ "2002:0808:0808::1", true },		/* 6to4 of 8.8.8.8 */
	{ "64:ff9b::808:808", true },		/* NAT64 of 8.8.8.8 */
	{ "::ffff:8.8.8.8", true },		/* mapped 8.8.8.8 */
	{ "::8.8.8.8", true },			/* compatible 8.8.8.8 */
	/* IPv6, refused */
	{ "::", false },
	{ "::1", false },
	{ "fc00::1", false },
	{ "fd12:3456:789a::1", false },
	{ "fe80::1", false },
	{ "febf:ffff::1", false },
	{ "fec0::1", false },
	{ "ff02::1", false },
	{ "ff0e::1", false },
	{ "2001:db8::1", false },
	{ "2001:db8:ffff::1", false },
	{ "3fff::1", false },
	{ "2001::1", false },			/* Teredo */
	{ "2001:10::1", false },		/* ORCHID */
	{ "100::1", false },			/* discard */
	{ "::ffff:127.0.0.1", false },
	{ "::ffff:10.0.0.1", false },
	{ "::ffff:169.254.169.254", false },
	{ "::ffff:0.0.0.0", false },
	{ "::127.0.0.1", false },
	{ "::192.168.0.1", false },
	{ "64:ff9b::7f00:1", false },		/* NAT64 of 127.0.0.1 */
	{ "64:ff9b::a9fe:a9fe", false },	/* NAT64 of 169.254.169.254 */
	{ "2002:7f00:0001::1", false },		/* 6to4 of 127.0.0.1 */
	{ "2002:0a00:0001::", false },		/* 6to4 of 10.0.0.1 */
	{ "2002:c0a8:0101::1", false },		/* 6to4 of 192.168.1.1 */
	{ "4000::1", false },			/* outside 2000::/3 */
	{ "::ffff:0:7f00:1", false },		/* SIIT, outside 2000::/3 */
};

_Static_assert(sizeof addrs / sizeof addrs[0] >= 50, "at least 50 addresses");

static bool
to_sockaddr(const char *text, struct sockaddr_storage *ss)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof *ss);
	if (inet_pton(AF_INET, text, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, text, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		return true;
	}
	return false;
}

static void
test_addresses(void)
{
	struct sockaddr_storage ss;
	struct sockaddr_un sun;

	for (size_t i = 0; i < sizeof addrs / sizeof addrs[0]; i++) {
		const struct addr_case *c = &addrs[i];
		bool parsed = to_sockaddr(c->addr, &ss);
		bool got = parsed && netguard_addr_public((struct sockaddr *)&ss);
		const char *kind = netguard_addr_kind((struct sockaddr *)&ss);

		ok(parsed && got == c->public && (kind == NULL) == c->public,
		    "%s is %s%s%s", c->addr, c->public ? "public" : "refused",
		    kind ? ": " : "", kind ? kind : "");
	}
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	ok(!netguard_addr_public((struct sockaddr *)&sun), "AF_UNIX is refused");
	ok(!netguard_addr_public(NULL), "NULL is refused");
	to_sockaddr("::ffff:127.0.0.1", &ss);
	is_str(netguard_addr_kind((struct sockaddr *)&ss), "loopback address",
	    "a mapped address is named by its IPv4 class");
}

static void
test_hosts(void)
{
	const char *list = "cdn.example.com, *.videos.test  tempfile.aiquickdraw.com,";

	ok(netguard_host_allowed(NULL, "anything.test"), "no list allows all");
	ok(netguard_host_allowed("", "anything.test"), "empty list allows all");
	ok(netguard_host_allowed(" , ", "anything.test"), "blank list allows all");
	ok(netguard_host_allowed(list, "cdn.example.com"), "exact name");
	ok(netguard_host_allowed(list, "CDN.Example.COM"), "case-insensitive");
	ok(netguard_host_allowed(list, "cdn.example.com."), "trailing dot");
	ok(netguard_host_allowed(list, "tempfile.aiquickdraw.com"), "last entry");
	ok(!netguard_host_allowed(list, "example.com"), "parent not allowed");
	ok(!netguard_host_allowed(list, "evil-cdn.example.com"), "prefix trick refused");
	ok(!netguard_host_allowed(list, "cdn.example.com.evil.test"), "suffix trick refused");
	ok(!netguard_host_allowed(list, "x.cdn.example.com"), "exact entry has no subdomains");
	ok(netguard_host_allowed(list, "a.videos.test"), "wildcard subdomain");
	ok(netguard_host_allowed(list, "a.b.videos.test"), "wildcard deeper subdomain");
	ok(!netguard_host_allowed(list, "videos.test"), "wildcard excludes the apex");
	ok(!netguard_host_allowed(list, "evilvideos.test"), "wildcard needs the dot");
	ok(!netguard_host_allowed(list, ""), "empty host refused");
	ok(!netguard_host_allowed(list, NULL), "NULL host refused");
	ok(!netguard_host_allowed("*", "a.test"), "lone star is no wildcard");
}

static void
test_urls(void)
{
	const char *hosts = "cdn.example.com";
	char err[256];

	is_int(netguard_url_check("https://cdn.example.com/a.mp4", true, NULL,
	    err, sizeof err), 0, "https passes");
	is_str(err, "", "no error text on success");
	is_int(netguard_url_check("http://cdn.example.com/a.mp4", false, NULL,
	    err, sizeof err), 0, "http passes when https_only is off");
	is_int(netguard_url_check("http://cdn.example.com/a.mp4", true, NULL,
	    err, sizeof err), -1, "http refused when https_only");
	ok(strstr(err, "https_only") != NULL, "the reason names https_only: %s", err);
	is_int(netguard_url_check("ftp://cdn.example.com/a.mp4", false, NULL,
	    err, sizeof err), -1, "ftp refused");
	ok(strstr(err, "\"ftp\"") != NULL, "the reason names the scheme: %s", err);
	is_int(netguard_url_check("file:///etc/passwd", false, NULL,
	    err, sizeof err), -1, "file: refused");
	is_int(netguard_url_check("gopher://x.test/", false, NULL,
	    err, sizeof err), -1, "gopher refused");
	is_int(netguard_url_check("/relative/a.mp4", false, NULL,
	    err, sizeof err), -1, "relative URL refused");
	is_int(netguard_url_check("https://exa mple.com/a.mp4?X-Sig=s3cr3tsig&t=1", false, NULL,
	    err, sizeof err), -1, "unparsable URL with a query refused");
	ok(strstr(err, "s3cr3tsig") == NULL && strstr(err, "?...") != NULL,
	    "its message leaves out the query string: %s", err);
	is_int(netguard_url_check("", false, NULL, err, sizeof err), -1,
	    "empty URL refused");
	is_int(netguard_url_check(NULL, false, NULL, err, sizeof err), -1,
	    "NULL URL refused");
	is_int(netguard_url_check("https://cdn.example.com\x1b[2J/", false, NULL,
	    err, sizeof err), -1, "control characters refused");
	ok(strchr(err, '\x1b') == NULL, "the error text is escaped: %s", err);
	is_int(netguard_url_check("https://cdn.example.com/a.mp4", true, hosts,
	    err, sizeof err), 0, "listed host passes");
	is_int(netguard_url_check("https://other.test/a.mp4", true, hosts,
	    err, sizeof err), -1, "unlisted host refused");
	ok(strstr(err, "other.test") && strstr(err, "allow_hosts"),
	    "the reason names host and allow_hosts: %s", err);
	/* The host is what curl will connect to, not what the URL seems to say. */
	is_int(netguard_url_check("https://cdn.example.com@evil.test/a.mp4", true,
	    hosts, err, sizeof err), -1, "userinfo does not fool the host list");
	is_int(netguard_url_check("https://evil.test#@cdn.example.com/", true,
	    hosts, err, sizeof err), -1, "fragment does not fool the host list");
	is_int(netguard_url_check("HTTPS://CDN.EXAMPLE.COM/a.mp4", true, hosts,
	    err, sizeof err), 0, "scheme and host case-insensitive");
	is_int(netguard_url_check("https://2130706433/", true, "127.0.0.1",
	    err, sizeof err), 0, "numeric host normalised by curl to 127.0.0.1");
}

int
main(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	test_addresses();
	test_hosts();
	test_urls();
	curl_global_cleanup();
	return done_testing();
}
