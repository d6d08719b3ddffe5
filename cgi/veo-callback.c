/*
 * veo-callback: receives kie.ai Veo 3.1 callbacks behind a web server.
 *
 * One binary, two transports: started by a FastCGI manager (spawn-fcgi,
 * mod_fcgid, systemd socket activation, or --listen) it serves requests in
 * a loop; started as a plain CGI program it serves the one request in its
 * environment.  Either way responder_handle() does the work.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "auth.h"
#include "config.h"
#include "fsutil.h"
#include "log.h"
#include "numparse.h"
#include "responder.h"
#include "spool.h"

static const char usage[] =
    "usage: veo-callback [--listen PATH|:PORT] [--check-config] [--version] [--help]\n"
    "\n"
    "Run by a web server: as a FastCGI responder (spawn-fcgi, mod_fcgid,\n"
    "systemd socket activation, or --listen) or as a CGI program.\n"
    "Configuration: $VEO_CONFIG or /etc/veo-callback.conf, VEO_* variables.\n";

/* ---- plain CGI: environment, stdin, stdout ---- */

#define CGI_DRAIN_MAX (64ULL << 20)
#define CGI_DRAIN_SECONDS 2

static const char *
cgi_param(void *ctx, const char *name)
{
	(void)ctx;
	return getenv(name);
}

/* Bytes of the body read so far, so that the rest can be drained. */
static unsigned long long cgi_body_read;

static ssize_t
cgi_read(void *ctx, void *buf, size_t len)
{
	ssize_t n;

	(void)ctx;
	while ((n = read(STDIN_FILENO, buf, len)) < 0 && errno == EINTR)
		;
	if (n > 0)
		cgi_body_read += (unsigned long long)n;
	return n;
}

/*
 * After an early reply (401, 413, ...) the body is still unread; a web
 * server that is still writing it gets EPIPE and may drop our reply.
 * Read and discard what is left, bounded in bytes and in time, so that a
 * client that stalls cannot keep the process alive.
 */
static void
cgi_drain(void)
{
	long long cl;
	unsigned long long want = num_parse(getenv("CONTENT_LENGTH"), 0, LLONG_MAX, &cl) == 0 ?
	    (unsigned long long)cl : 0;
	time_t until = time(NULL) + CGI_DRAIN_SECONDS;
	struct pollfd pfd = { STDIN_FILENO, POLLIN, 0 };
	char buf[16384];

	if (want > CGI_DRAIN_MAX)
		return;
	while (cgi_body_read < want && time(NULL) < until &&
	    poll(&pfd, 1, 1000) > 0 && cgi_read(NULL, buf, sizeof buf) > 0)
		;
}

static int
cgi_write(void *ctx, const void *buf, size_t len)
{
	(void)ctx;
	return write_all(STDOUT_FILENO, buf, len);
}

/* ---- FastCGI: one FCGX_Request at a time ---- */

static const char *
fcgi_param(void *ctx, const char *name)
{
	return FCGX_GetParam(name, ((FCGX_Request *)ctx)->envp);
}

static ssize_t
fcgi_read(void *ctx, void *buf, size_t len)
{
	int chunk = len > 1 << 20 ? 1 << 20 : (int)len;

	return FCGX_GetStr(buf, chunk, ((FCGX_Request *)ctx)->in);
}

static int
fcgi_write(void *ctx, const void *buf, size_t len)
{
	FCGX_Request *rq = ctx;

	return FCGX_PutStr(buf, (int)len, rq->out) == (int)len ? 0 : -1;
}

/*
 * spawn-fcgi and some process managers leave stderr on /dev/null (or
 * closed).  The FastCGI stderr stream is no way out: nginx writes each line
 * at [error] with the request line, token included.  Such a responder logs
 * to syslog instead (log = auto).
 */
static bool
stderr_leads_nowhere(void)
{
	struct stat a, b;

	if (fstat(STDERR_FILENO, &a) < 0)
		return true;
	return stat("/dev/null", &b) == 0 && S_ISCHR(a.st_mode) && a.st_rdev == b.st_rdev;
}

static void
on_term(int sig)
{
	(void)sig;
	FCGX_ShutdownPending();	/* only sets a flag: async-signal-safe */
}

/* Whether systemd passed us a listening socket (socket activation). */
static bool
socket_activated(void)
{
	long long pid, fds;

	return num_parse(getenv("LISTEN_PID"), 1, LLONG_MAX, &pid) == 0 && pid == (long long)getpid() &&
	    num_parse(getenv("LISTEN_FDS"), 1, 1024, &fds) == 0;
}

/* The listening socket: --listen, systemd's LISTEN_FDS, or fd 0. */
static int
listen_fd(const char *listen_at)
{
	if (listen_at != NULL)
		return FCGX_OpenSocket(listen_at, 128);
	if (socket_activated())
		return 3;	/* SD_LISTEN_FDS_START */
	return 0;
}

/*
 * Where the log goes (log.h).  "auto": under CGI, syslog, with refusals and
 * failures also on stderr, which is the web server's error log (Apache
 * records such a line without the query string); under FastCGI, stderr
 * when it leads somewhere (systemd's journal, mod_fcgid's error log, a
 * terminal), syslog when it is /dev/null or closed (spawn-fcgi).
 */
static void
setup_log(const struct config *cfg, bool is_cgi)
{
	enum config_source src;
	const char *spec = cfg ? config_raw(cfg, NULL, NULL, K_LOG, &src) : NULL;
	enum log_target autot = is_cgi || stderr_leads_nowhere() ? LOG_TO_SYSLOG : LOG_TO_STDERR;
	char why[300];

	if (log_setup(spec, autot, is_cgi, why, sizeof why) < 0) {
		/* Callbacks matter more than log lines: go on, logging where auto would. */
		log_setup(NULL, autot, is_cgi, why, sizeof why);
		log_line("configuration: %s; logging as with log = auto", why);
	}
}

/* The effective settings, and whether this user can write the spool. */
static int
check_config(const struct config *cfg, bool cfg_ok, const char *err)
{
	struct settings s;
	char why[512];
	const char *missing;
	long pending;
	int care;

	if (!cfg_ok) {
		printf("configuration error: %s\n", err);
		return 1;
	}
	config_print(stdout, cfg);
	if (config_resolve(cfg, NULL, NULL, &s, why, sizeof why) < 0) {
		printf("configuration error: %s\n", why);
		return 1;
	}
	/* Request parameters (fastcgi_param, SetEnv) are not visible from here. */
	if ((missing = responder_auth_missing(&s)) != NULL)
		printf("# authentication: %s; unless the web server passes VEO_TOKEN, VEO_HMAC_KEY "
		    "or VEO_ALLOW_FROM per request, every callback is refused with 503\n", missing);
	else if (s.token == NULL && s.hmac_key == NULL && s.allow_from == NULL)
		printf("# authentication: none (auth = none): anyone who can reach the URL may store callbacks\n");
	if (s.token != NULL && (care = auth_token_care(s.token)) != 0)
		printf("# warning: token holds '%c' (0x%02x): the token is compared with the raw, "
		    "undecoded query string, so it must appear in the callback URL exactly as "
		    "written; '&', '#', '+', '%%' and blanks rarely survive that.  Prefer letters, "
		    "digits, '-', '_', '.' and '~' (openssl rand -hex 24)\n",
		    care >= 0x21 && care < 0x7f ? care : '?', (unsigned)care);
	if (spool_health(s.spool_dir, s.min_free, &pending, why, sizeof why) < 0) {
		printf("# spool_dir %s: cannot take writes as this user: %s\n", s.spool_dir, why);
		return 1;
	}
	printf("# spool_dir %s: writable by this user, %ld pending\n", s.spool_dir, pending);
	return 0;
}

static int
serve_fastcgi(const struct config *cfg, const char *cfg_error, int fd)
{
	FCGX_Request rq;
	struct request_io io = { &rq, fcgi_param, fcgi_read, fcgi_write };
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_term;	/* no SA_RESTART: accept() must return */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);	/* Apache mod_fcgid asks to stop with it */
	if (FCGX_InitRequest(&rq, fd, 0) != 0) {
		log_line("cannot initialise FastCGI request");
		return 1;
	}
	while (FCGX_Accept_r(&rq) >= 0) {
		responder_handle(cfg, cfg_error, &io);
		FCGX_Finish_r(&rq);
	}
	FCGX_Free(&rq, 1);
	return 0;
}

int
main(int argc, char **argv)
{
	struct config cfg;
	char err[512] = "";
	const char *listen_at = NULL;
	bool cfg_ok, check = false, is_cgi;
	int fd, rc;

	log_progname = "veo-callback";
	/*
	 * Under CGI a query without '=' arrives as command-line words
	 * (RFC 3875, 4.4): "?health" must not be taken for an option.
	 */
	if (getenv("GATEWAY_INTERFACE") != NULL)
		argc = 1;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--version") == 0) {
			printf("veo-callback %s\n", VEO_VERSION);
			return 0;
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			fputs(usage, stdout);
			return 0;
		} else if (strcmp(argv[i], "--check-config") == 0) {
			check = true;
		} else if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc) {
			listen_at = argv[++i];
		} else {
			fprintf(stderr, "veo-callback: unknown argument '%s'\n%s", argv[i], usage);
			return 2;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	if (FCGX_Init() != 0) {
		log_line("cannot initialise libfcgi");
		return 1;
	}
	cfg_ok = config_load(&cfg, err, sizeof err) == 0;
	is_cgi = listen_at == NULL && !socket_activated() && FCGX_IsCGI();
	if (!check)
		setup_log(cfg_ok ? &cfg : NULL, is_cgi);
	if (!cfg_ok && !check)
		log_line("configuration: %s", err);
	if (check) {
		rc = check_config(&cfg, cfg_ok, err);
	} else if (is_cgi) {
		struct request_io io = { NULL, cgi_param, cgi_read, cgi_write };

		responder_handle(cfg_ok ? &cfg : NULL, err, &io);
		cgi_drain();
		rc = 0;
	} else if ((fd = listen_fd(listen_at)) < 0) {
		log_line("cannot listen on %s", listen_at);
		rc = 1;
	} else {
		rc = serve_fastcgi(cfg_ok ? &cfg : NULL, err, fd);
	}
	config_free(&cfg);
	return rc;
}
