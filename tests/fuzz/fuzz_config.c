/*
 * Fuzz target: the configuration reader and resolver (src/common/config.c).
 *
 * The input is a configuration file, optionally followed by a NUL byte and
 * "VEO_KEY=value" lines that play the FastCGI/CGI request parameters (the
 * layer an nginx fastcgi_param or an Apache SetEnv supplies).  The file is
 * handed to config_load() through $VEO_CONFIG pointing at a memfd, so no
 * disk is touched; VEO_* variables of the fuzzer's own environment are
 * cleared first.  After a successful resolve, the ranges the programs rely
 * on are checked, and config_print() runs (it must mask every secret).
 */
#include "fuzz.h"

#include <sys/mman.h>
#include <unistd.h>

#include "bounds.h"
#include "config.h"

extern char **environ;
static int memfd = -1;

/* The request parameters; values live until the input is done (settings point at them). */
struct params {
	const char *p;
	size_t len;
	char *values[2 * K_COUNT + 8];
	size_t nvalues;
};

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char path[64];

	/* The environment is a layer too: start from none of it. */
	for (int again = 1; again;) {
		again = 0;
		for (char **e = environ; *e != NULL; e++)
			if (strncmp(*e, "VEO_", 4) == 0) {
				char name[256];
				size_t n = strcspn(*e, "=");

				snprintf(name, sizeof name, "%.*s", (int)n, *e);
				unsetenv(name);
				again = 1;
				break;
			}
	}
	if ((memfd = memfd_create("veo-fuzz-config", MFD_CLOEXEC)) < 0) {
		perror("memfd_create");
		exit(1);
	}
	snprintf(path, sizeof path, "/proc/self/fd/%d", memfd);
	setenv("VEO_CONFIG", path, 1);
	return 0;
}

/* config_param_fn over "NAME=value" lines. */
static const char *
param(void *ctx, const char *name)
{
	struct params *ps = ctx;
	size_t nlen = strlen(name);
	const char *p = ps->p, *end = ps->p + ps->len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t llen = nl ? (size_t)(nl - p) : (size_t)(end - p);

		if (llen > nlen && memcmp(p, name, nlen) == 0 && p[nlen] == '=') {
			char *v;

			if (ps->nvalues == sizeof ps->values / sizeof ps->values[0])
				return NULL;
			if ((v = strndup(p + nlen + 1, llen - nlen - 1)) == NULL)
				abort();
			return ps->values[ps->nvalues++] = v;
		}
		p += llen + 1;
	}
	return NULL;
}

static void
check_settings(const struct settings *s)
{
	FUZZ_ASSERT(s->spool_dir != NULL && s->download_dir != NULL, "no directories");
	FUZZ_ASSERT(s->max_body >= 256 && s->max_body <= CALLBACK_BODY_MAX,
	    "max_body %lld", s->max_body);
	FUZZ_ASSERT(s->hmac_tolerance >= 1 && s->hmac_tolerance <= 86400,
	    "hmac_tolerance %lld", s->hmac_tolerance);
	FUZZ_ASSERT(s->parallel >= 1 && s->parallel <= 64, "parallel %lld", s->parallel);
	FUZZ_ASSERT(s->max_file_size >= 1, "max_file_size %lld", s->max_file_size);
	FUZZ_ASSERT(s->token == NULL || *s->token != '\0', "empty token set");
	FUZZ_ASSERT(s->hmac_key == NULL || *s->hmac_key != '\0', "empty hmac_key set");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, '\0', size);
	size_t flen = nul ? (size_t)(nul - data) : size;
	struct params ps = { .p = nul ? (const char *)nul + 1 : "",
	    .len = nul ? size - flen - 1 : 0 };
	struct config c;
	struct settings s;
	char err[512] = "";

	if (ftruncate(memfd, 0) < 0 || pwrite(memfd, data, flen, 0) != (ssize_t)flen) {
		perror("memfd");
		abort();
	}
	if (config_load(&c, err, sizeof err) == 0) {
		if (config_resolve(&c, param, &ps, &s, err, sizeof err) == 0)
			check_settings(&s);
		else
			FUZZ_ASSERT(err[0] != '\0', "resolve refused without a reason");
		{
			char *out = NULL;
			size_t olen = 0;
			FILE *f = open_memstream(&out, &olen);

			if (f == NULL)
				abort();
			config_print(f, &c);
			fclose(f);
			free(out);
		}
	} else {
		FUZZ_ASSERT(err[0] != '\0', "load refused without a reason");
	}
	config_free(&c);
	for (size_t i = 0; i < ps.nvalues; i++)
		free(ps.values[i]);

	/* The value parsers alone, on the file part as one string. */
	{
		char *str = strndup((const char *)data, flen);
		long long n;
		bool b;

		if (str == NULL)
			abort();
		if (config_parse_size(str, &n) == 0)
			FUZZ_ASSERT(n >= 0, "negative size %lld", n);
		(void)config_parse_bool(str, &b);
		free(str);
	}
	return 0;
}
