#include "partinfo.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsutil.h"

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
	}
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
	char buf[INFO_MAX];
	int fd = -1, n, rc = -1;

	if (!partinfo_usable(pi)) {
		if (unlink(path) < 0 && errno != ENOENT)
			return -1;
		return 0;
	}
	n = snprintf(buf, sizeof buf, "veo-part 1\nlength %lld\n%s%s%s%s%s%send\n",
	    pi->total,
	    pi->etag[0] ? "etag " : "", pi->etag, pi->etag[0] ? "\n" : "",
	    pi->lastmod[0] ? "last-modified " : "", pi->lastmod,
	    pi->lastmod[0] ? "\n" : "");
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		goto err;
	if (write_all(fd, buf, (size_t)n) < 0 || fsync(fd) < 0)
		goto err;
	rc = 0;
err:
	if (fd >= 0)
		close(fd);
	return rc;
}
