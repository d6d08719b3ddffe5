/*
 * netguard: which URLs and addresses the spooler may fetch (DESIGN promise 7).
 *
 * A URL passes when its scheme is https (or http when https_only is off)
 * and its host is in allow_hosts (when set).  An address passes when it is
 * a public unicast address: loopback, private (RFC 1918, ULA), link-local,
 * CGNAT, multicast, broadcast, documentation, benchmarking, reserved and
 * unspecified addresses are refused, and IPv6 forms that embed an IPv4
 * address (IPv4-mapped, IPv4-compatible, NAT64, 6to4) are judged by the
 * IPv4 address inside.  Addresses are checked after DNS resolution, at
 * every connection, redirects included (fetch.c does this).
 */
#ifndef VEO_NETGUARD_H
#define VEO_NETGUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* True when sa (AF_INET or AF_INET6) is a public unicast address. */
bool netguard_addr_public(const struct sockaddr *sa);

/*
 * NULL when sa is a public unicast address, else a short static phrase
 * naming why not ("loopback address", "private address", ...), for error
 * messages.  Embedded IPv4 addresses are named by their IPv4 class.
 */
const char *netguard_addr_kind(const struct sockaddr *sa);

/*
 * True when host is allowed by list: NULL or empty allows every host;
 * otherwise comma/space separated entries, each an exact host name
 * (case-insensitive) or "*.example.com" (any subdomain, not the apex).
 */
bool netguard_host_allowed(const char *list, const char *host);

/*
 * Checks a URL's scheme and host (parsed with libcurl's URL API).  Returns
 * 0, or -1 with a one-line reason in err that a person can act on.
 */
int netguard_url_check(const char *url, bool https_only, const char *allow_hosts,
    char *err, size_t errlen);

#endif
