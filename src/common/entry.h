/*
 * entry: the on-disk format of one stored callback.
 *
 * A spool entry is a text header, an empty line, and the request body byte
 * for byte:
 *
 *     VEO-CALLBACK-ENTRY 1
 *     task-id: veo_task_abcdef123456
 *     code: 200
 *     received: 2026-11-27T13:37:52.123456Z
 *     remote-addr: 203.0.113.9
 *     signature: verified | unsigned
 *     body-sha256: <64 hex>
 *     body-length: 312
 *
 *     {"code":200,...}
 *
 * An entry is written once and never changed: received, remote-addr and
 * signature are those of the request that created it, and an identical
 * repeat leaves it as it is (spool.h, "Repeats").  Entries written by
 * older responders, which rewrote the entry on every identical repeat, also
 * carry "last-received: <time>" and "duplicates: <n>"; the count is read
 * into duplicates, the time is ignored.
 *
 * Every header value is produced by this project from checked data (the
 * taskId passed taskid_valid(), the address inet_pton()), never copied
 * from the payload unchecked.  Readers must ignore header lines they do not
 * know, so fields can be added without a version change.
 */
#ifndef VEO_ENTRY_H
#define VEO_ENTRY_H

#include <stdbool.h>
#include <stddef.h>

#include "bounds.h"
#include "digest.h"
#include "taskid.h"

#define ENTRY_MAGIC "VEO-CALLBACK-ENTRY 1"
#define ENTRY_HEADER_MAX 1024
/* The largest entry a reader accepts: a header and the largest max_body. */
#define ENTRY_MAX (ENTRY_HEADER_MAX + CALLBACK_BODY_MAX)

struct entry_meta {
	char task_id[TASKID_MAX + 1];
	long long code;
	char received[32];
	char remote_addr[48];		/* "-" when unknown */
	bool signature_verified;
	unsigned long duplicates;	/* read from an older entry; never written */
	char body_sha256[SHA256_HEX_LEN + 1];
	size_t body_length;
};

/*
 * Writes the header (ending in the empty line) into buf.  Returns its
 * length, or -1 if it does not fit.  m->duplicates is not written.
 */
int entry_format_header(const struct entry_meta *m, char *buf, size_t len);

/*
 * Parses a whole entry of len bytes.  On success fills m, points *body into
 * data at the stored body (m->body_length bytes, hash checked) and returns
 * 0; returns -1 with a reason in err for a damaged entry.
 */
int entry_parse(const char *data, size_t len, struct entry_meta *m,
    const char **body, char *err, size_t errlen);

/* Copies a remote address into m after checking it with inet_pton. */
void entry_set_remote_addr(struct entry_meta *m, const char *addr);

#endif
