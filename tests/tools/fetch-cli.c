/*
 * fetch-cli: drives fetch_run() from the command line for the shell tests.
 *
 *   fetch-cli [options] URL DEST [URL DEST ...]
 *
 * Prints one line per job, in order:
 *   RESULT HTTP_CODE BYTES BYTES_THIS_RUN RESUMED SHA256 ERROR
 * RESULT is the enum name (FETCH_OK, ...), SHA256 and ERROR are "-" when
 * empty.  With --tick, "ticks N" on stderr at the end: how often the tick
 * callback ran.  Exit status 0 when every job is FETCH_OK, 1 otherwise, 2
 * on usage errors.
 */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "fetch.h"
#include "log.h"

static const char *const result_names[] = {
	[FETCH_OK] = "FETCH_OK",
	[FETCH_NOT_RUN] = "FETCH_NOT_RUN",
	[FETCH_HTTP] = "FETCH_HTTP",
	[FETCH_NETWORK] = "FETCH_NETWORK",
	[FETCH_BLOCKED] = "FETCH_BLOCKED",
	[FETCH_TOO_BIG] = "FETCH_TOO_BIG",
	[FETCH_SHORT] = "FETCH_SHORT",
	[FETCH_BAD_CONTENT] = "FETCH_BAD_CONTENT",
	[FETCH_LOCAL] = "FETCH_LOCAL",
	[FETCH_STOPPED] = "FETCH_STOPPED",
	[FETCH_DISK_FULL] = "FETCH_DISK_FULL",
};

/* --job-done: "done N RESULT" on stderr as each job ends, N its index. */
static void
print_job_done(struct fetch_job *j, void *arg)
{
	const struct fetch_job *first = arg;

	fprintf(stderr, "done %td %s\n", j - first, result_names[j->result]);
}

static void
count_tick(void *arg)
{
	(*(long *)arg)++;
}

static void __attribute__((noreturn))
usage(const char *why)
{
	fprintf(stderr, "fetch-cli: %s\n"
	    "usage: fetch-cli [--parallel N] [--per-host N] [--max-file-size BYTES]\n"
	    "       [--allow-private] [--http-ok] [--allow-hosts LIST] [--ca-file FILE]\n"
	    "       [--stall SECONDS] [--connect-timeout SECONDS] [--max-redirects N]\n"
	    "       [--progress] [--tick] [--deadline-in SECONDS] [--expect video|image|any]\n"
	    "       [--min-speed BYTES] [--job-done]\n"
	    "       URL DEST [URL DEST ...]\n", why);
	exit(2);
}

static enum media_kind
media(const char *s)
{
	if (strcmp(s, "video") == 0)
		return MEDIA_VIDEO;
	if (strcmp(s, "image") == 0)
		return MEDIA_IMAGE;
	if (strcmp(s, "any") == 0)
		return MEDIA_ANY;
	usage("--expect takes video, image or any");
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "parallel", required_argument, NULL, 'p' },
		{ "per-host", required_argument, NULL, 'H' },
		{ "max-file-size", required_argument, NULL, 'm' },
		{ "allow-private", no_argument, NULL, 'P' },
		{ "http-ok", no_argument, NULL, 'h' },
		{ "allow-hosts", required_argument, NULL, 'a' },
		{ "ca-file", required_argument, NULL, 'c' },
		{ "stall", required_argument, NULL, 's' },
		{ "connect-timeout", required_argument, NULL, 't' },
		{ "max-redirects", required_argument, NULL, 'r' },
		{ "progress", no_argument, NULL, 'g' },
		{ "tick", no_argument, NULL, 'k' },
		{ "deadline-in", required_argument, NULL, 'd' },
		{ "expect", required_argument, NULL, 'e' },
		{ "min-speed", required_argument, NULL, 'S' },
		{ "job-done", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	struct fetch_opts o = {
		.parallel = 4, .per_host = 2, .max_file_size = 4LL << 30,
		.https_only = true, .connect_timeout = 10, .stall_timeout = 60,
		.max_redirects = 5,
	};
	enum media_kind expect = MEDIA_VIDEO;
	long ticks = 0;
	struct fetch_job *jobs;
	size_t n;
	int c, status = 0;
	bool report_done = false;

	log_progname = "fetch-cli";
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'p': o.parallel = (long)cli_number(optarg, LONG_MAX, "--parallel"); break;
		case 'H': o.per_host = (long)cli_number(optarg, LONG_MAX, "--per-host"); break;
		case 'm': o.max_file_size = cli_number(optarg, LLONG_MAX, "--max-file-size"); break;
		case 'P': o.allow_private = true; break;
		case 'h': o.https_only = false; break;
		case 'a': o.allow_hosts = optarg; break;
		case 'c': o.ca_file = optarg; break;
		case 's': o.stall_timeout = (long)cli_number(optarg, LONG_MAX, "--stall"); break;
		case 't': o.connect_timeout = (long)cli_number(optarg, LONG_MAX, "--connect-timeout"); break;
		case 'r': o.max_redirects = (int)cli_number(optarg, INT_MAX, "--max-redirects"); break;
		case 'g': o.progress = true; break;
		case 'k': o.tick = count_tick; o.tick_arg = &ticks; break;
		case 'd': o.deadline = time(NULL) + (time_t)cli_number(optarg, INT_MAX, "--deadline-in"); break;
		case 'e': expect = media(optarg); break;
		case 'S': o.min_speed = (long)cli_number(optarg, LONG_MAX, "--min-speed"); break;
		case 'j': report_done = true; break;
		default: usage("unknown option");
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0 || argc % 2 != 0)
		usage("expected URL DEST pairs");
	n = (size_t)argc / 2;
	if ((jobs = calloc(n, sizeof *jobs)) == NULL)
		return 2;
	for (size_t i = 0; i < n; i++) {
		jobs[i].url = argv[2 * i];
		jobs[i].dest = argv[2 * i + 1];
		jobs[i].expect = expect;
	}
	if (report_done) {
		o.job_done = print_job_done;
		o.job_done_arg = jobs;
	}
	if (fetch_global_init() < 0 || fetch_run(jobs, n, &o) < 0) {
		fprintf(stderr, "fetch-cli: cannot set up libcurl\n");
		return 2;
	}
	for (size_t i = 0; i < n; i++) {
		const struct fetch_job *j = &jobs[i];

		printf("%s %ld %lld %lld %d %s %s\n", result_names[j->result],
		    j->http_code, j->bytes, j->bytes_this_run, j->resumed ? 1 : 0,
		    j->sha256[0] ? j->sha256 : "-", j->error[0] ? j->error : "-");
		if (j->result != FETCH_OK)
			status = 1;
	}
	if (o.tick != NULL)
		fprintf(stderr, "ticks %ld\n", ticks);
	free(jobs);
	fetch_global_cleanup();
	return status;
}
