/*
 * veo-spooler: gets the videos of stored callbacks onto the local disk.
 * Run from cron, or as a service with `run --follow`; see sweep.h for what
 * a sweep does, watch.h for how a run waits between sweeps, and admin.h
 * for the other commands.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "config.h"
#include "log.h"
#include "numparse.h"
#include "sweep.h"
#include "watch.h"

/* Longest wait between two sweeps of a run with nothing due. */
#define IDLE_SWEEP_EVERY 60

static const char usage[] =
    "usage: veo-spooler [-v] [--max-time SECONDS] run [--follow | --once]\n"
    "       veo-spooler status [--json] [TASKID]\n"
    "       veo-spooler retry TASKID\n"
    "       veo-spooler expect TASKID...\n"
    "       veo-spooler purge --older-than DAYS [--files]\n"
    "       veo-spooler check-config\n"
    "       veo-spooler --version | --help\n"
    "\n"
    "run           sweep: take in new callbacks, download what is due, then watch\n"
    "              for new ones until --max-time is spent (for cron)\n"
    "  --follow    never end: sweep whenever a callback comes or a task is due\n"
    "              (a service); SIGTERM or SIGINT stops it, exit status 0\n"
    "  --once      one sweep and exit\n"
    "status        tasks and their state; --json prints one JSON object a line\n"
    "retry         make a failed or waiting task due again now\n"
    "expect        register submitted tasks, so that a lost callback is recovered\n"
    "purge         forget done/failed tasks older than DAYS (--files: and their videos)\n"
    "check-config  every setting, its value and where it came from\n"
    "\n"
    "Configuration: $VEO_CONFIG or /etc/veo-callback.conf, and VEO_* variables.\n";

struct args {
	const char *cmd;
	const char *task_id;		/* the first argument after cmd */
	char **more;			/* all arguments after cmd; malloc'd array */
	int nmore;
	bool verbose, json, files, older_than_set, follow, once;
	long max_time, older_than;
};

static int __attribute__((format(printf, 1, 2)))
usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "veo-spooler: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n(see veo-spooler --help)\n");
	return 2;
}

static int
number_arg(const char *s, long *out)
{
	long long v;

	if (num_parse(s, 0, LONG_MAX, &v) < 0)
		return -1;
	*out = (long)v;
	return 0;
}

static int
parse_args(int argc, char **argv, struct args *a)
{
	if ((a->more = calloc((size_t)argc, sizeof *a->more)) == NULL)
		return usage_error("out of memory");
	for (int i = 1; i < argc; i++) {
		const char *s = argv[i];

		if (strcmp(s, "-v") == 0 || strcmp(s, "--verbose") == 0)
			a->verbose = true;
		else if (strcmp(s, "--json") == 0)
			a->json = true;
		else if (strcmp(s, "--files") == 0)
			a->files = true;
		else if (strcmp(s, "--follow") == 0)
			a->follow = true;
		else if (strcmp(s, "--once") == 0)
			a->once = true;
		else if (strcmp(s, "--max-time") == 0) {
			if (i + 1 == argc || number_arg(argv[++i], &a->max_time) < 0 || a->max_time == 0)
				return usage_error("--max-time needs a number of seconds");
		} else if (strcmp(s, "--older-than") == 0) {
			if (i + 1 == argc || number_arg(argv[++i], &a->older_than) < 0)
				return usage_error("--older-than needs a number of days");
			a->older_than_set = true;
		} else if (s[0] == '-')
			return usage_error("unknown option '%s'", s);
		else if (a->cmd == NULL)
			a->cmd = s;
		else if (a->task_id == NULL || strcmp(a->cmd, "expect") == 0) {
			if (a->task_id == NULL)
				a->task_id = s;
			a->more[a->nmore++] = argv[i];
		} else
			return usage_error("unexpected argument '%s'", s);
	}
	if (a->cmd == NULL)
		return usage_error("a command is needed: run, status, retry, expect, purge or "
		    "check-config");
	return 0;
}

/* The effective settings, and whether this user can use the directories. */
static int
check_config(const struct config *c, const struct settings *s)
{
	int rc = 0;

	config_print(stdout, c);
	if (access(s->spool_dir, R_OK | W_OK | X_OK) < 0) {
		printf("# spool_dir %s: not usable by this user: %s\n", s->spool_dir, strerror(errno));
		rc = 1;
	} else {
		printf("# spool_dir %s: writable by this user\n", s->spool_dir);
	}
	if (access(s->download_dir, W_OK | X_OK) < 0) {
		printf("# download_dir %s: not writable by this user: %s\n", s->download_dir,
		    strerror(errno));
		rc = 1;
	} else {
		printf("# download_dir %s: writable by this user\n", s->download_dir);
	}
	return rc;
}

/* ---- run: sweeps, and watching the spool between them ---- */

static volatile sig_atomic_t stop_requested;
static int wake_pipe[2] = { -1, -1 };

static void
on_stop_signal(int sig)
{
	int saved = errno;

	(void)sig;
	stop_requested = 1;
	if (wake_pipe[1] >= 0)
		(void)!write(wake_pipe[1], "", 1);
	errno = saved;
}

static void
catch_stop_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_stop_signal;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (pipe2(wake_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		wake_pipe[0] = wake_pipe[1] = -1;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
}

static void
add_stats(struct sweep_stats *sum, const struct sweep_stats *st)
{
	sum->taken_in += st->taken_in;
	sum->duplicates += st->duplicates;
	sum->done += st->done;
	sum->failed += st->failed;
	sum->retrying += st->retrying;
	sum->problems += st->problems;
}

/* Milliseconds to wait before the next sweep: until the next due task, bounded. */
static long
wait_ms(const struct sweep_stats *st, time_t now, time_t end)
{
	time_t until = now + IDLE_SWEEP_EVERY;

	if (st->next_due > 0 && st->next_due < until)
		until = st->next_due;
	if (end != 0 && end < until)
		until = end;
	/* Something due now that the sweep left (claimed elsewhere, deadline):
	 * look again in a second, not in a busy loop. */
	if (until <= now)
		return 1000;
	return (long)(until - now) * 1000;
}

/*
 * Sweeps under the host's sweep lock, held for the whole run: after each
 * sweep, waits for a callback (watch.h) or the next due task, until the
 * run's end (now + max_time; never with follow) or a stop signal.
 */
static int
sweep_loop(const struct settings *s, const struct args *a, struct sweep_stats *sum,
    char *err, size_t errlen)
{
	struct sweep_opts o = { .verbose = a->verbose, .progress = isatty(STDERR_FILENO),
	    .locked = true, .stop = &stop_requested };
	time_t end = a->follow ? 0 : time(NULL) + (time_t)s->max_time;
	struct watch *wt = NULL;
	int lock, rc = 0;
	bool told = false;

	while ((lock = sweep_lock(s, err, errlen)) == -2 && a->follow && !stop_requested)
		sleep(1);	/* another run has the lock: take over when it ends */
	if (lock == -2)
		return 1;
	if (lock < 0)
		return -1;
	if (!a->once && (wt = watch_open(s->spool_dir, wake_pipe[0])) == NULL) {
		close(lock);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	while (!stop_requested) {
		struct sweep_stats st;
		time_t now = time(NULL);

		o.deadline = end != 0 ? end : now + (time_t)s->max_time;
		if ((rc = sweep_run(s, &o, &st, err, errlen)) != 0)
			break;
		add_stats(sum, &st);
		fflush(stdout);
		now = time(NULL);
		if (a->once || stop_requested || (end != 0 && now >= end))
			break;
		if (a->verbose && !told) {
			printf("watching %s/new and expect/ %s\n", s->spool_dir,
			    watch_inotify(wt) ? "with inotify" : "by a scan every second");
			fflush(stdout);
			told = true;
		}
		watch_wait(wt, wait_ms(&st, now, end));
	}
	watch_close(wt);
	close(lock);
	return rc;
}

static int
run(const struct settings *s, const struct args *a)
{
	struct sweep_stats st = { 0 };
	char err[512];
	int rc;

	if (a->follow && a->once)
		return usage_error("run takes --follow or --once, not both");
	catch_stop_signals();
	rc = sweep_loop(s, a, &st, err, sizeof err);
	sweep_global_cleanup();
	if (rc < 0) {
		log_line("run: %s", err);
		return 1;
	}
	if (rc == 1) {
		if (a->verbose)
			printf("another sweep is running; nothing to do\n");
		return 0;
	}
	if (a->verbose || isatty(STDOUT_FILENO))
		printf("%d taken in, %d duplicate, %d done, %d failed, %d to retry\n",
		    st.taken_in, st.duplicates, st.done, st.failed, st.retrying);
	return 0;
}

int
main(int argc, char **argv)
{
	struct args a = { 0 };
	struct config cfg;
	struct settings s;
	char err[512];
	int rc;

	log_progname = "veo-spooler";
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return fputs(usage, stdout), 0;
		if (strcmp(argv[i], "--version") == 0)
			return printf("veo-spooler %s\n", VEO_VERSION), 0;
	}
	if ((rc = parse_args(argc, argv, &a)) != 0)
		return rc;
	if (config_load(&cfg, err, sizeof err) < 0) {
		log_line("configuration: %s", err);
		return 1;
	}
	if (config_resolve(&cfg, NULL, NULL, &s, err, sizeof err) < 0) {
		log_line("configuration: %s", err);
		config_free(&cfg);
		return 1;
	}
	/* log = auto is stderr: cron mails it, systemd keeps it in the journal. */
	if (strcmp(a.cmd, "check-config") != 0 &&
	    log_setup(s.log, LOG_TO_STDERR, false, err, sizeof err) < 0)
		log_line("configuration: %s; logging to stderr", err);
	if (a.max_time > 0)
		s.max_time = a.max_time;
	if (strcmp(a.cmd, "run") == 0)
		rc = a.task_id ? usage_error("run takes no argument, got '%s'", a.task_id) : run(&s, &a);
	else if (strcmp(a.cmd, "status") == 0)
		rc = admin_status(&s, a.json, a.task_id);
	else if (strcmp(a.cmd, "retry") == 0)
		rc = a.task_id ? admin_retry(&s, a.task_id) : usage_error("retry needs a TASKID");
	else if (strcmp(a.cmd, "expect") == 0)
		rc = a.nmore > 0 ? admin_expect(&s, a.more, a.nmore) :
		    usage_error("expect needs at least one TASKID");
	else if (strcmp(a.cmd, "purge") == 0)
		rc = a.older_than_set ? admin_purge(&s, a.older_than, a.files) :
		    usage_error("purge needs --older-than DAYS");
	else if (strcmp(a.cmd, "check-config") == 0)
		rc = check_config(&cfg, &s);
	else
		rc = usage_error("unknown command '%s'", a.cmd);
	config_free(&cfg);
	free(a.more);
	return rc;
}
