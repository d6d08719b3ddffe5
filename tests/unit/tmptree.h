/*
 * tmptree.h: a unit test's own temporary directory tree, header-only.
 *
 *   static char base[] = "/tmp/veo-test-NAME.XXXXXX";
 *   tmptree_make(base);                  mkdtemp(3), or "Bail out!"
 *   const char *d = tmptree_dir(base, "x");      base/x made (0700)
 *   const char *sp = tmptree_spool(base, "y");   base/y, spool_prepare()d
 *   tmptree_count(d, "tmp", "", NULL, 0)  names in d/tmp, dot files aside
 *   tmptree_remove(base);                 all of it, unreadable parts too
 *
 * The paths tmptree_dir() and tmptree_spool() return live in one static
 * buffer, valid until the next call.  Each failure to set up is a TAP
 * "Bail out!" and exit status 1.  tmptree_remove() removes nothing outside
 * /tmp/veo-test-*.
 */
#ifndef VEO_TMPTREE_H
#define VEO_TMPTREE_H

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "spool.h"

#define TMPTREE_PREFIX "/tmp/veo-test-"

/* Makes the directory named by the template tmpl (ends in XXXXXX), in place. */
static inline void
tmptree_make(char *tmpl)
{
	if (mkdtemp(tmpl) == NULL) {
		printf("Bail out! mkdtemp %s: %s\n", tmpl, strerror(errno));
		exit(1);
	}
}

/* Makes base/name, a new empty directory. */
static inline const char *
tmptree_dir(const char *base, const char *name)
{
	static char path[PATH_MAX];

	snprintf(path, sizeof path, "%s/%s", base, name);
	if (mkdir(path, 0700) < 0) {
		printf("Bail out! mkdir %s: %s\n", path, strerror(errno));
		exit(1);
	}
	return path;
}

/* Makes base/name, a fresh spool prepared for the spooler. */
static inline const char *
tmptree_spool(const char *base, const char *name)
{
	const char *path = tmptree_dir(base, name);
	char err[256];

	if (spool_prepare(path, true, err, sizeof err) < 0) {
		printf("Bail out! spool %s: %s\n", path, err);
		exit(1);
	}
	return path;
}

/*
 * How many names in dir/sub start with prefix ("" for all), dot files
 * aside; the last of them into found unless it is NULL.  -1 when dir/sub
 * cannot be read.
 */
static inline int
tmptree_count(const char *dir, const char *sub, const char *prefix, char *found, size_t foundlen)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d;
	int hits = 0;

	snprintf(path, sizeof path, "%s/%s", dir, sub);
	if ((d = opendir(path)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.' && strncmp(de->d_name, prefix, strlen(prefix)) == 0) {
			hits++;
			if (found != NULL)
				snprintf(found, foundlen, "%s", de->d_name);
		}
	closedir(d);
	return hits;
}

/* Removes base and everything under it, even what a test made unreadable. */
static inline void
tmptree_remove(const char *base)
{
	char cmd[PATH_MAX + 64];

	if (strncmp(base, TMPTREE_PREFIX, strlen(TMPTREE_PREFIX)) != 0 || strchr(base, '\'') != NULL)
		return;
	snprintf(cmd, sizeof cmd, "chmod -R u+rwx '%s'; rm -rf '%s'", base, base);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", base);
}

#endif
