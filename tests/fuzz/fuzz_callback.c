/*
 * Fuzz target: the callback parser (src/common/callback.c), which reads
 * every request body the responder accepts and every entry the spooler
 * takes in.
 *
 * The input is the body, exactly size bytes with no terminating NUL, so an
 * over-read is caught by ASan.  On success the parser's promises are
 * checked: a taskId that passes the file-name rule, only http(s) URLs that
 * pass url_valid(), at most CALLBACK_MAX_URLS kept, and code 200 only with
 * a result URL.
 */
#include "fuzz.h"

#include "callback.h"
#include "taskid.h"

static void
check_list(const struct url_list *l)
{
	FUZZ_ASSERT(l->n <= CALLBACK_MAX_URLS, "%zu URLs kept", l->n);
	for (size_t i = 0; i < l->n; i++) {
		size_t len = strlen(l->v[i]);

		FUZZ_ASSERT(len <= CALLBACK_MAX_URL_LEN, "URL of %zu bytes", len);
		FUZZ_ASSERT(url_valid(l->v[i], len), "URL %zu invalid", i);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct callback cb;
	char err[256];

	if (callback_parse(data, size, &cb, err, sizeof err) == 0) {
		size_t tlen = strlen(cb.task_id);

		FUZZ_ASSERT(taskid_valid(cb.task_id, tlen), "taskId accepted");
		FUZZ_ASSERT(cb.msg != NULL, "msg missing");
		FUZZ_ASSERT(cb.code != 200 || cb.result_urls.n > 0, "code 200 without URL");
		check_list(&cb.result_urls);
		check_list(&cb.origin_urls);
	} else {
		FUZZ_ASSERT(memchr(err, '\0', sizeof err) != NULL && err[0] != '\0',
		    "refused without a reason");
		FUZZ_ASSERT(strchr(err, '\n') == NULL, "reason of more than one line");
	}
	callback_free(&cb);
	/* The URL rule alone, on the same bytes. */
	(void)url_valid((const char *)data, size);
	return 0;
}
