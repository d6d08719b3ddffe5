/*
 * veo-callback: receives kie.ai Veo 3.1 callbacks behind a web server.
 *
 * One binary, two transports: started by a FastCGI manager (spawn-fcgi,
 * mod_fcgid, systemd socket activation, or --listen) it serves requests in
 * a loop; started as a plain CGI program it serves the one request in its
 * environment.  Either way responder_handle() does the work.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "config.h"
#include "fsutil.h"
#include "log.h"
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
	const char *cl = getenv("CONTENT_LENGTH");
	unsigned long long want = cl ? strtoull(cl, NULL, 10) : 0;
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

static void
fcgi_log(void *ctx, const char *line, size_t len)
{
	FCGX_PutStr(line, (int)len, ((FCGX_Request *)ctx)->err);
}

/*
 * spawn-fcgi and some process managers leave stderr on /dev/null (or
 * closed): request log lines then travel in the FastCGI stderr stream,
 * which nginx and Apache write to their error log.
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
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");

	return pid != NULL && fds != NULL && atol(pid) == (long)getpid() && atoi(fds) >= 1;
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

/* The effective settings, and whether this user can write the spool. */
static int
check_config(const struct config *cfg, bool cfg_ok, const char *err)
{
	struct settings s;
	char why[512];
	long pending;

	if (!cfg_ok) {
		printf("configuration error: %s\n", err);
		return 1;
	}
	config_print(stdout, cfg);
	if (config_resolve(cfg, NULL, NULL, &s, why, sizeof why) < 0) {
		printf("configuration error: %s\n", why);
		return 1;
	}
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
	bool via_fastcgi = stderr_leads_nowhere();

	if (FCGX_InitRequest(&rq, fd, 0) != 0) {
		log_line("cannot initialise FastCGI request");
		return 1;
	}
	while (FCGX_Accept_r(&rq) >= 0) {
		if (via_fastcgi)
			log_set_sink(fcgi_log, &rq);
		responder_handle(cfg, cfg_error, &io);
		log_set_sink(NULL, NULL);
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
	bool cfg_ok, check = false;
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
	if (!cfg_ok && !check)
		log_line("configuration: %s", err);
	if (check) {
		rc = check_config(&cfg, cfg_ok, err);
	} else if (listen_at == NULL && !socket_activated() && FCGX_IsCGI()) {
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
