/*
 * kie-cli: asks kie.ai's API (or the stand-in, tests/lib/kieserver.py) one
 * question through src/spooler/kie.c, for the shell tests.
 *
 *   kie-cli [options] record-info TASKID
 *   kie-cli [options] 1080p TASKID [INDEX]
 *   kie-cli [options] 4k TASKID [INDEX [CALLBACK_URL]]
 *
 * The key comes from the environment, VEO_API_KEY (as the spooler's
 * configuration would have it), never from the command line.  Prints the
 * answer as one JSON object on one line:
 *
 *   {"endpoint":"record-info","taskId":"...","verdict":"success",
 *    "transient":false,"http":200,"code":200,"msg":"success",
 *    "retryAfter":0,"error":"","successFlag":1,"resultUrls":[...],
 *    "originUrls":[...],"resolution":"720p","errorCode":0,
 *    "errorMessage":null,"fallbackFlag":false,"ready":false,
 *    "resultUrl":null,"ms":12}
 *
 * ms is how long the question took, in milliseconds.
 *
 * Exit status 0 when an answer was printed (whatever its verdict), 2 on
 * usage errors or when the client cannot be set up (reason on stderr).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <yajl/yajl_gen.h>

#include "kie.h"

static void __attribute__((noreturn))
usage(const char *why)
{
	fprintf(stderr, "kie-cli: %s\n"
	    "usage: kie-cli [--base URL] [--ca-file FILE] [--connect-timeout S]\n"
	    "       [--timeout S] [--max-answer BYTES] [--deadline-in S]\n"
	    "       record-info TASKID | 1080p TASKID [INDEX] | 4k TASKID [INDEX [CALLBACK_URL]]\n"
	    "       (the key in VEO_API_KEY)\n", why);
	exit(2);
}

static long long
number(const char *s, const char *opt)
{
	char *end;
	long long v = strtoll(s, &end, 10);

	if (end == s || *end != '\0' || v < 0)
		usage(opt);
	return v;
}

#define STR(g, s) yajl_gen_string(g, (const unsigned char *)(s), strlen(s))

static void
gen_str_or_null(yajl_gen g, const char *key, const char *v)
{
	STR(g, key);
	if (v == NULL)
		yajl_gen_null(g);
	else
		STR(g, v);
}

static void
gen_list(yajl_gen g, const char *key, char *const *l)
{
	STR(g, key);
	yajl_gen_array_open(g);
	for (size_t i = 0; l != NULL && l[i] != NULL; i++)
		STR(g, l[i]);
	yajl_gen_array_close(g);
}

static void
print_answer(const char *endpoint, const char *task, const struct kie_answer *a, double secs)
{
	yajl_gen g = yajl_gen_alloc(NULL);
	const unsigned char *buf;
	size_t len;

	yajl_gen_map_open(g);
	gen_str_or_null(g, "endpoint", endpoint);
	gen_str_or_null(g, "taskId", task);
	gen_str_or_null(g, "verdict", kie_verdict_name(a->verdict));
	STR(g, "transient");
	yajl_gen_bool(g, kie_verdict_transient(a->verdict));
	STR(g, "http");
	yajl_gen_integer(g, a->http_status);
	STR(g, "code");
	yajl_gen_integer(g, a->code);
	gen_str_or_null(g, "msg", a->msg);
	STR(g, "retryAfter");
	yajl_gen_integer(g, a->retry_after);
	gen_str_or_null(g, "error", a->error);
	STR(g, "successFlag");
	yajl_gen_integer(g, a->success_flag);
	gen_list(g, "resultUrls", a->result_urls);
	gen_list(g, "originUrls", a->origin_urls);
	gen_str_or_null(g, "resolution", a->resolution);
	STR(g, "errorCode");
	yajl_gen_integer(g, a->error_code);
	gen_str_or_null(g, "errorMessage", a->error_message);
	STR(g, "fallbackFlag");
	yajl_gen_bool(g, a->fallback);
	STR(g, "ready");
	yajl_gen_bool(g, a->ready);
	gen_str_or_null(g, "resultUrl", a->result_url);
	STR(g, "ms");
	yajl_gen_integer(g, (long long)(secs * 1000));
	yajl_gen_map_close(g);
	yajl_gen_get_buf(g, &buf, &len);
	fwrite(buf, 1, len, stdout);
	putchar('\n');
	yajl_gen_free(g);
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "base", required_argument, NULL, 'b' },
		{ "ca-file", required_argument, NULL, 'c' },
		{ "connect-timeout", required_argument, NULL, 'C' },
		{ "timeout", required_argument, NULL, 't' },
		{ "max-answer", required_argument, NULL, 'm' },
		{ "deadline-in", required_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 },
	};
	struct kie_opts o = { .api_key = getenv("VEO_API_KEY") };
	struct kie_answer a;
	struct kie *k;
	const char *cmd, *task;
	char err[512];
	int c, index = 0;
	double t0;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'b': o.api_base = optarg; break;
		case 'c': o.ca_file = optarg; break;
		case 'C': o.connect_timeout = (long)number(optarg, "--connect-timeout"); break;
		case 't': o.request_timeout = (long)number(optarg, "--timeout"); break;
		case 'm': o.max_answer = number(optarg, "--max-answer"); break;
		case 'd': o.deadline = time(NULL) + (time_t)number(optarg, "--deadline-in"); break;
		default: usage("unknown option");
		}
	}
	if (argc - optind < 2)
		usage("a question and a taskId are needed");
	cmd = argv[optind];
	task = argv[optind + 1];
	if (argc - optind >= 3)
		index = (int)number(argv[optind + 2], "INDEX");
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "kie-cli: cannot initialise libcurl\n");
		return 2;
	}
	if ((k = kie_new(&o, err, sizeof err)) == NULL) {
		fprintf(stderr, "kie-cli: %s\n", err);
		curl_global_cleanup();
		return 2;
	}
	memset(&a, 0, sizeof a);
	t0 = now();
	if (strcmp(cmd, "record-info") == 0 && argc - optind == 2)
		kie_record_info(k, task, &a);
	else if (strcmp(cmd, "1080p") == 0 && argc - optind <= 3)
		kie_get_1080p(k, task, index, &a);
	else if (strcmp(cmd, "4k") == 0 && argc - optind <= 4)
		kie_get_4k(k, task, index, argc - optind == 4 ? argv[optind + 3] : NULL, &a);
	else
		usage("the question is record-info, 1080p or 4k, with its arguments");
	print_answer(cmd, task, &a, now() - t0);
	kie_answer_free(&a);
	kie_free(k);
	curl_global_cleanup();
	return 0;
}
