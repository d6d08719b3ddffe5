/*
 * standalone: what lets the static programs (make static, mk/static.mk)
 * run on any Linux without a file of the build machine.  Linked into
 * build/static/veo-callback and build/static/veo-spooler only.
 *
 * glibc's name-service functions load NSS modules (libnss_*.so) of the
 * glibc they were built with at run time, and dlopen() loads shared
 * objects: in a static program on another distribution that fails or
 * crashes.  The linker names the ones the libraries reference ("Using
 * 'getaddrinfo' in statically linked applications requires at run time
 * the shared libraries..."); each is replaced here through ld --wrap, so
 * the static programs contain no NSS code at all:
 *
 *   gethostbyname    libfcgi's TCP listener (OS_CreateLocalIpcFd), for
 *                    "--listen HOST:PORT" with a HOST that is not numeric
 *                    (":PORT", "*:PORT" and dotted IPv4 never call it), and
 *                    OpenSSL's BIO_gethostbyname.  Here: "localhost" and
 *                    dotted IPv4 only.
 *   getaddrinfo      OpenSSL's BIO_lookup_ex, used by BIO connect/accept
 *                    objects; neither program creates one (the spooler's
 *                    TLS runs on libcurl's sockets).  Here: always fails.
 *   freeaddrinfo,    also OpenSSL's (BIO_ADDRINFO_free, BIO_ADDR_hostname_
 *   getnameinfo      string).  The linker does not warn about them, yet
 *                    they carry glibc's whole NSS machinery in (its
 *                    freeaddrinfo lives in getaddrinfo.o; getnameinfo
 *                    looks names up).  Here: freeaddrinfo frees as glibc's
 *                    does; getnameinfo gives numeric forms only.
 *   getservbyname,   c-ares, for a service given by name; libcurl gives it
 *   getservbyport_r  the port as a number (ARES_AI_NUMERICSERV) and never
 *                    calls ares_getnameinfo.  Here: "no such service".
 *   dlopen, dlerror  OpenSSL's DSO (engines and providers named in
 *                    openssl.cnf).  Here: always fails, with a message.
 *
 * Host names in the spooler are resolved by c-ares, which reads /etc/hosts
 * and /etc/resolv.conf itself.
 *
 * OpenSSL's configuration file is not read either (see no_openssl_config):
 * the path compiled into Debian's libcrypto, /usr/lib/ssl/openssl.cnf, is
 * absent on other distributions or belongs to another OpenSSL, and the
 * modules it may name could not be loaded.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

struct hostent	*__wrap_gethostbyname(const char *);
int		 __wrap_getaddrinfo(const char *, const char *,
		    const struct addrinfo *, struct addrinfo **);
void		 __wrap_freeaddrinfo(struct addrinfo *);
int		 __wrap_getnameinfo(const struct sockaddr *, socklen_t, char *,
		    socklen_t, char *, socklen_t, int);
struct servent	*__wrap_getservbyname(const char *, const char *);
int		 __wrap_getservbyport_r(int, const char *, struct servent *,
		    char *, size_t, struct servent **);
void		*__wrap_dlopen(const char *, int);
char		*__wrap_dlerror(void);

/*
 * Numeric IPv4 or "localhost" only; NULL with h_errno HOST_NOT_FOUND for
 * any other name.  Not thread-safe, like the function it replaces.
 */
struct hostent *
__wrap_gethostbyname(const char *name)
{
	static struct in_addr addr;
	static char *addrs[2] = { (char *)&addr, NULL };
	static char *aliases[1] = { NULL };
	static char hname[256];
	static struct hostent he;

	if (name == NULL || strlen(name) >= sizeof hname)
		goto none;
	if (strcasecmp(name, "localhost") == 0)
		addr.s_addr = htonl(INADDR_LOOPBACK);
	else if (inet_pton(AF_INET, name, &addr) != 1)
		goto none;
	memcpy(hname, name, strlen(name) + 1);
	he.h_name = hname;
	he.h_aliases = aliases;
	he.h_addrtype = AF_INET;
	he.h_length = sizeof addr;
	he.h_addr_list = addrs;
	return &he;
none:
	h_errno = HOST_NOT_FOUND;
	return NULL;
}

int
__wrap_getaddrinfo(const char *node, const char *service,
    const struct addrinfo *hints, struct addrinfo **res)
{
	(void)node, (void)service, (void)hints;
	*res = NULL;
	return EAI_FAIL;
}

/* As glibc's: each entry and its canonical name are one allocation each. */
void
__wrap_freeaddrinfo(struct addrinfo *ai)
{
	struct addrinfo *next;

	for (; ai != NULL; ai = next) {
		next = ai->ai_next;
		free(ai->ai_canonname);
		free(ai);
	}
}

/* The numeric host and port; EAI_NONAME when a name is required. */
int
__wrap_getnameinfo(const struct sockaddr *sa, socklen_t salen, char *host,
    socklen_t hostlen, char *serv, socklen_t servlen, int flags)
{
	const void *addr;
	unsigned port;

	if (flags & NI_NAMEREQD)
		return EAI_NONAME;
	if (sa->sa_family == AF_INET && salen >= sizeof(struct sockaddr_in)) {
		addr = &((const struct sockaddr_in *)sa)->sin_addr;
		port = ntohs(((const struct sockaddr_in *)sa)->sin_port);
	} else if (sa->sa_family == AF_INET6 && salen >= sizeof(struct sockaddr_in6)) {
		addr = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		port = ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	} else {
		return EAI_FAMILY;
	}
	if (host != NULL && hostlen > 0 &&
	    inet_ntop(sa->sa_family, addr, host, hostlen) == NULL)
		return EAI_OVERFLOW;
	if (serv != NULL && servlen > 0 &&
	    (unsigned)snprintf(serv, servlen, "%u", port) >= (unsigned)servlen)
		return EAI_OVERFLOW;
	return 0;
}

struct servent *
__wrap_getservbyname(const char *name, const char *proto)
{
	(void)name, (void)proto;
	return NULL;
}

int
__wrap_getservbyport_r(int port, const char *proto, struct servent *buf,
    char *data, size_t len, struct servent **result)
{
	(void)port, (void)proto, (void)buf, (void)data, (void)len;
	*result = NULL;
	return ENOENT;
}

static int dl_failed;

void *
__wrap_dlopen(const char *file, int mode)
{
	(void)file, (void)mode;
	dl_failed = 1;
	return NULL;
}

char *
__wrap_dlerror(void)
{
	if (!dl_failed)
		return NULL;
	dl_failed = 0;
	return (char *)"a static program loads no shared object";
}

/*
 * Before main(), so before any OpenSSL function initialises the library
 * with its default of loading openssl.cnf: once the configuration step has
 * run as "none", later initialisations do not load it.
 */
__attribute__((constructor)) static void
no_openssl_config(void)
{
	OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG, NULL);
}
