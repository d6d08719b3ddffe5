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
 * ms is how long the question took, in milliseconds.  With --flat FILE,
 * the same fields also go to FILE as "name=value" lines, for shell tests:
 * lists joined by commas, null as "null", newlines in text as blanks.
 *
 * Exit status 0 when an answer was printed (whatever its verdict), 2 on
 * usage errors or when the client cannot be set up (reason on stderr).
 */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <yajl/yajl_gen.h>

#include "cli.h"
#include "kie.h"

static void __attribute__((noreturn))
usage(const char *why)
{
	fprintf(stderr, "kie-cli: %s\n"
	    "usage: kie-cli [--base URL] [--ca-file FILE] [--connect-timeout S]\n"
	    "       [--timeout S] [--max-answer BYTES] [--deadline-in S] [--flat FILE]\n"
	    "       record-info TASKID | 1080p TASKID [INDEX] | 4k TASKID [INDEX [CALLBACK_URL]]\n"
	    "       (the key in VEO_API_KEY)\n", why);
	exit(2);
}

#define STR(g, s) yajl_gen_string(g, (const unsigned char *)(s), strlen(s))

/* Where an answer goes: the JSON line, and the flat file when asked for. */
struct out {
	yajl_gen g;
	FILE *flat;
};

/* A flat value on one line: newlines become blanks. */
static void
flat_text(FILE *f, const char *s)
{
	for (; *s != '\0'; s++)
		fputc(*s == '\n' || *s == '\r' ? ' ' : *s, f);
}

static void
put_str(struct out *o, const char *key, const char *v)
{
	STR(o->g, key);
	if (v == NULL)
		yajl_gen_null(o->g);
	else
		STR(o->g, v);
	if (o->flat != NULL) {
		fprintf(o->flat, "%s=", key);
		flat_text(o->flat, v == NULL ? "null" : v);
		fputc('\n', o->flat);
	}
}

static void
put_int(struct out *o, const char *key, long long v)
{
	STR(o->g, key);
	yajl_gen_integer(o->g, v);
	if (o->flat != NULL)
		fprintf(o->flat, "%s=%lld\n", key, v);
}

static void
put_bool(struct out *o, const char *key, bool v)
{
	STR(o->g, key);
	yajl_gen_bool(o->g, v);
	if (o->flat != NULL)
		fprintf(o->flat, "%s=%s\n", key, v ? "true" : "false");
}

/* Flat: the URLs joined by commas. */
static void
put_list(struct out *o, const char *key, char *const *l)
{
	STR(o->g, key);
	yajl_gen_array_open(o->g);
	if (o->flat != NULL)
		fprintf(o->flat, "%s=", key);
	for (size_t i = 0; l != NULL && l[i] != NULL; i++) {
		STR(o->g, l[i]);
		if (o->flat != NULL)
			fprintf(o->flat, "%s%s", i ? "," : "", l[i]);
	}
	yajl_gen_array_close(o->g);
	if (o->flat != NULL)
		fputc('\n', o->flat);
}

static void
print_answer(const char *endpoint, const char *task, const struct kie_answer *a, double secs,
    FILE *flat)
{
	struct out o = { yajl_gen_alloc(NULL), flat };
	const unsigned char *buf;
	size_t len;

	yajl_gen_map_open(o.g);
	put_str(&o, "endpoint", endpoint);
	put_str(&o, "taskId", task);
	put_str(&o, "verdict", kie_verdict_name(a->verdict));
	put_bool(&o, "transient", kie_verdict_transient(a->verdict));
	put_int(&o, "http", a->http_status);
	put_int(&o, "code", a->code);
	put_str(&o, "msg", a->msg);
	put_int(&o, "retryAfter", a->retry_after);
	put_str(&o, "error", a->error);
	put_int(&o, "successFlag", a->success_flag);
	put_list(&o, "resultUrls", a->result_urls);
	put_list(&o, "originUrls", a->origin_urls);
	put_str(&o, "resolution", a->resolution);
	put_int(&o, "errorCode", a->error_code);
	put_str(&o, "errorMessage", a->error_message);
	put_bool(&o, "fallbackFlag", a->fallback);
	put_bool(&o, "ready", a->ready);
	put_str(&o, "resultUrl", a->result_url);
	put_int(&o, "ms", (long long)(secs * 1000));
	yajl_gen_map_close(o.g);
	yajl_gen_get_buf(o.g, &buf, &len);
	fwrite(buf, 1, len, stdout);
	putchar('\n');
	yajl_gen_free(o.g);
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
		{ "flat", required_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	struct kie_opts o = { .api_key = getenv("VEO_API_KEY") };
	struct kie_answer a;
	struct kie *k;
	const char *cmd, *task, *flat_path = NULL;
	FILE *flat = NULL;
	char err[512];
	int c, index = 0;
	double t0;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'b': o.api_base = optarg; break;
		case 'c': o.ca_file = optarg; break;
		case 'C': o.connect_timeout = (long)cli_number(optarg, LONG_MAX, "--connect-timeout"); break;
		case 't': o.request_timeout = (long)cli_number(optarg, LONG_MAX, "--timeout"); break;
		case 'm': o.max_answer = cli_number(optarg, LLONG_MAX, "--max-answer"); break;
		case 'd': o.deadline = time(NULL) + (time_t)cli_number(optarg, INT_MAX, "--deadline-in"); break;
		case 'f': flat_path = optarg; break;
		default: usage("unknown option");
		}
	}
	if (argc - optind < 2)
		usage("a question and a taskId are needed");
	cmd = argv[optind];
	task = argv[optind + 1];
	if (argc - optind >= 3)
		index = (int)cli_number(argv[optind + 2], INT_MAX, "INDEX");
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
	if (flat_path != NULL && (flat = fopen(flat_path, "w")) == NULL) {
		perror(flat_path);
		return 2;
	}
	print_answer(cmd, task, &a, now() - t0, flat);
	if (flat != NULL && fclose(flat) != 0) {
		perror(flat_path);
		return 2;
	}
	kie_answer_free(&a);
	kie_free(k);
	curl_global_cleanup();
	return 0;
}
