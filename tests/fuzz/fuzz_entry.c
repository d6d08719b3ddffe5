/*
 * Fuzz target: the stored-entry parser (src/common/entry.c), which the
 * spooler runs on every file it takes from spool_dir/new/ -- files that the
 * responder's user, not the spooler's, wrote (SECURITY.md, privilege split).
 *
 * Each input is parsed twice: as it is, and with its body-sha256 line
 * rewritten to the real digest of what follows the header, so that the
 * fuzzer reaches the success path without having to forge SHA-256.  On
 * success: the body lies inside the input and has the announced length,
 * the taskId passes the file-name rule, and the header written back by
 * entry_format_header() parses again to the same values (all but an older
 * responder's duplicates count, which is read and never written).
 */
#include "fuzz.h"

#include "digest.h"
#include "entry.h"
#include "taskid.h"

static void
check_ok(const char *data, size_t size, const struct entry_meta *m, const char *body)
{
	char hdr[ENTRY_HEADER_MAX * 2], err[256];
	struct entry_meta m2;
	const char *body2;
	char *again;
	int n;

	FUZZ_ASSERT(body >= data && body <= data + size, "body outside the entry");
	FUZZ_ASSERT((size_t)(data + size - body) == m->body_length, "body length");
	FUZZ_ASSERT(taskid_valid(m->task_id, strlen(m->task_id)), "taskId accepted");

	n = entry_format_header(m, hdr, sizeof hdr);
	if (n < 0)
		return;		/* a header too long to write back: not an entry we make */
	if ((again = malloc((size_t)n + m->body_length)) == NULL)
		abort();
	memcpy(again, hdr, (size_t)n);
	if (m->body_length > 0)
		memcpy(again + n, body, m->body_length);
	FUZZ_ASSERT(entry_parse(again, (size_t)n + m->body_length, &m2, &body2, err,
	    sizeof err) == 0, "written back, unreadable: %s", err);
	FUZZ_ASSERT(strcmp(m2.task_id, m->task_id) == 0, "taskId changed");
	FUZZ_ASSERT(m2.code == m->code, "code changed");
	FUZZ_ASSERT(m2.duplicates == 0, "duplicates written");
	FUZZ_ASSERT(m2.body_length == m->body_length, "length changed");
	FUZZ_ASSERT(m2.signature_verified == m->signature_verified, "signature changed");
	free(again);
}

static void
parse(const char *data, size_t size)
{
	struct entry_meta m;
	const char *body = NULL;
	char err[256];

	if (entry_parse(data, size, &m, &body, err, sizeof err) == 0)
		check_ok(data, size, &m, body);
}

/* A copy of data with the digest after "\nbody-sha256: " made right. */
static char *
fix_digest(const uint8_t *data, size_t size)
{
	static const char tag[] = "\nbody-sha256: ";
	const uint8_t *sep = NULL, *h;
	char hex[SHA256_HEX_LEN + 1];
	char *copy;

	for (size_t i = 0; i + 1 < size; i++)
		if (data[i] == '\n' && data[i + 1] == '\n') {
			sep = data + i + 2;
			break;
		}
	if (sep == NULL || (h = memmem(data, (size_t)(sep - data), tag, sizeof tag - 1)) == NULL)
		return NULL;
	h += sizeof tag - 1;
	if ((size_t)(sep - h) < SHA256_HEX_LEN)
		return NULL;
	if (sha256_hex(sep, (size_t)(data + size - sep), hex) < 0 || (copy = malloc(size)) == NULL)
		abort();
	memcpy(copy, data, size);
	memcpy(copy + (h - data), hex, SHA256_HEX_LEN);
	return copy;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *fixed;

	parse((const char *)data, size);
	if ((fixed = fix_digest(data, size)) != NULL) {
		parse(fixed, size);
		free(fixed);
	}
	return 0;
}
