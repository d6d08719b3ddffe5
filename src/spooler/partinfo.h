/*
 * partinfo: the resume sidecar of a download, "<dest>.part.info".
 *
 * It records the validator of the response whose bytes are in "<dest>.part"
 * (strong ETag, Last-Modified, whole length), so that a later run resumes
 * with a Range request only against the same version of the file:
 *
 *     veo-part 1
 *     length 3000000          (-1 when unknown)
 *     etag "abc"              (optional)
 *     last-modified ...       (optional)
 *     range 0 1048576 4194304 (split downloads only: START POS END, see below)
 *     end
 *
 * The last line must be "end", so that a file cut short by a crash is not
 * believed.  Values are printable ASCII (they go back into a request).
 *
 * A download split over several connections writes its ranges at their
 * own offsets, so the .part has holes and its size says nothing: the
 * "range" lines then record, for each range [START, END) of the file, that
 * [START, POS) is written and synced.  The ranges tile [0, length) exactly,
 * or the sidecar is not believed.  Without range lines the .part is a
 * prefix of the file, as long as its size.
 */
#ifndef VEO_PARTINFO_H
#define VEO_PARTINFO_H

#include <stdbool.h>
#include <stddef.h>

#define PART_MAX_RANGES	16

struct part_range {
	long long	start;		/* first byte of the range */
	long long	pos;		/* [start, pos) is on disk */
	long long	end;		/* one past the last byte */
};

struct partinfo {
	char		etag[256];	/* "" when none */
	char		lastmod[64];	/* "" when none */
	long long	total;		/* -1 when unknown */
	size_t		nranges;	/* 0: the .part is a plain prefix */
	struct part_range range[PART_MAX_RANGES];	/* in any order */
};

/* Reads path into pi; -1 when missing, incomplete or damaged (ranges that
 * do not tile [0, length) included). */
int partinfo_load(const char *path, struct partinfo *pi);

/*
 * Writes pi to path durably and atomically ("<path>.new", fsync'd, renamed,
 * directory fsync'd), or removes path when pi holds nothing a resume could
 * be checked against.  0, or -1 with errno.
 */
int partinfo_save(const char *path, const struct partinfo *pi);

/* Can a later run resume against this validator? */
bool partinfo_usable(const struct partinfo *pi);

/* A strong ETag ("..."), as If-Range needs; W/ ones are weak. */
bool partinfo_strong_etag(const char *etag);

/* Copies a header value into dst, or "" when NULL, too long or unsafe. */
void partinfo_copy_value(char *dst, size_t len, const char *src);

#endif
