#include "partinfo.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsutil.h"
#include "numparse.h"

#define INFO_MAX	4096		/* size limit of a .part.info file */

/* Header values go back into a request: printable ASCII only. */
static bool
header_safe(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return false;
	return true;
}

void
partinfo_copy_value(char *dst, size_t len, const char *src)
{
	if (src == NULL || strlen(src) >= len || !header_safe(src))
		dst[0] = '\0';
	else
		memcpy(dst, src, strlen(src) + 1);
}

bool
partinfo_strong_etag(const char *etag)
{
	return etag[0] == '"';
}

/* "START POS END" into the next range of pi; -1 when malformed or too many. */
static int
parse_range(struct partinfo *pi, const char *s)
{
	long long *v[3];
	struct part_range *r;
	const char *sp;

	if (pi->nranges == PART_MAX_RANGES)
		return -1;
	r = &pi->range[pi->nranges++];
	v[0] = &r->start, v[1] = &r->pos, v[2] = &r->end;
	for (int i = 0; i < 3; i++, s = sp + 1) {
		sp = i < 2 ? strchr(s, ' ') : s + strlen(s);
		if (sp == NULL || num_parse_n(s, (size_t)(sp - s), 0, LLONG_MAX, v[i]) < 0)
			return -1;
	}
	return 0;
}

/* Do the ranges tile [0, total) exactly, each with start <= pos <= end? */
static bool
ranges_tile(const struct partinfo *pi)
{
	long long at = 0;
	size_t i, seen = 0;

	if (pi->nranges == 0)
		return true;
	if (pi->total <= 0)
		return false;
	/* n <= 16: find the range starting at `at`, again and again. */
	while (at < pi->total) {
		for (i = 0; i < pi->nranges; i++)
			if (pi->range[i].start == at)
				break;
		if (i == pi->nranges)
			return false;
		if (pi->range[i].pos < at || pi->range[i].pos > pi->range[i].end ||
		    pi->range[i].end <= at)
			return false;
		at = pi->range[i].end;
		seen++;
	}
	return at == pi->total && seen == pi->nranges;
}

/*
 * Reads path into pi; -1 when missing or incomplete.  The last line must
 * be "end", so that a file cut short by a crash is not believed.
 */
int
partinfo_load(const char *path, struct partinfo *pi)
{
	char *buf = NULL, *line, *save = NULL;
	size_t len;
	int rc = -1;

	memset(pi, 0, sizeof *pi);
	pi->total = -1;
	if (read_file_bounded(path, INFO_MAX, &buf, &len) < 0)
		return -1;
	if (len < 5 || strcmp(buf + len - 4, "end\n") != 0 ||
	    strncmp(buf, "veo-part 1\n", 11) != 0)
		goto err;
	for (line = strtok_r(buf, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "length ", 7) == 0)
			pi->total = strtoll(line + 7, NULL, 10);
		else if (strncmp(line, "etag ", 5) == 0)
			partinfo_copy_value(pi->etag, sizeof pi->etag, line + 5);
		else if (strncmp(line, "last-modified ", 14) == 0)
			partinfo_copy_value(pi->lastmod, sizeof pi->lastmod, line + 14);
		else if (strncmp(line, "range ", 6) == 0 && parse_range(pi, line + 6) < 0)
			goto err;
	}
	if (!ranges_tile(pi))
		goto err;
	rc = 0;
err:
	free(buf);
	return rc;
}

/* Can a later run resume against this validator? */
bool
partinfo_usable(const struct partinfo *pi)
{
	return partinfo_strong_etag(pi->etag) || pi->lastmod[0] != '\0' || pi->total >= 0;
}

int
partinfo_save(const char *path, const struct partinfo *pi)
{
	char buf[INFO_MAX], tmp[PATH_MAX], dir[PATH_MAX], *slash;
	int fd = -1, n, k, rc = -1;

	if (!partinfo_usable(pi)) {
		if (unlink(path) < 0 && errno != ENOENT)
			return -1;
		return 0;
	}
	n = snprintf(buf, sizeof buf, "veo-part 1\nlength %lld\n%s%s%s%s%s%s",
	    pi->total,
	    pi->etag[0] ? "etag " : "", pi->etag, pi->etag[0] ? "\n" : "",
	    pi->lastmod[0] ? "last-modified " : "", pi->lastmod,
	    pi->lastmod[0] ? "\n" : "");
	/* 16 ranges of 3 numbers fit: etag and lastmod are bounded above. */
	for (size_t i = 0; i < pi->nranges && n > 0 && n < (int)sizeof buf; i++, n += k)
		k = snprintf(buf + n, sizeof buf - (size_t)n, "range %lld %lld %lld\n",
		    pi->range[i].start, pi->range[i].pos, pi->range[i].end);
	if (n > 0 && n < (int)sizeof buf)
		n += snprintf(buf + n, sizeof buf - (size_t)n, "end\n");
	if (n <= 0 || n >= (int)sizeof buf) {
		errno = ENAMETOOLONG;
		return -1;
	}
	/*
	 * Written aside and renamed over: the sidecar is rewritten while a
	 * split download runs, and a crash must leave the old one or the new
	 * one, never half of one.
	 */
	if ((size_t)snprintf(tmp, sizeof tmp, "%s.new", path) >= sizeof tmp) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		goto err;
	if (write_all(fd, buf, (size_t)n) < 0 || fsync(fd) < 0 || close(fd) < 0) {
		fd = -1;
		goto err;
	}
	fd = -1;
	snprintf(dir, sizeof dir, "%s", path);
	if ((slash = strrchr(dir, '/')) != NULL)
		*slash = '\0';
	if (rename(tmp, path) < 0 || fsync_dir(slash != NULL ? dir : ".") < 0)
		goto err;
	rc = 0;
err:
	if (fd >= 0)
		close(fd);
	if (rc < 0)
		(void)unlink(tmp);
	return rc;
}
