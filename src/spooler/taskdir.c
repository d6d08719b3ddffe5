#include "taskdir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"

int
taskdir_open(const char *download_dir, const char *dir, char *err, size_t errlen,
    const char **advice)
{
	int fd;

	*advice = "make download_dir exist and be writable by the user veo-spooler runs as; "
	    "no attempt is counted meanwhile";
	if (mkdir_exist_ok(download_dir, 0775) < 0) {
		snprintf(err, errlen, "cannot create download_dir %s: %s", download_dir,
		    strerror(errno));
		return -1;
	}
	/* Whatever exists there is judged by the O_NOFOLLOW open below. */
	if (mkdir(dir, 0775) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create download directory %s: %s", dir,
		    strerror(errno));
		return -1;
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && (errno == ELOOP || errno == ENOTDIR)) {
		*advice = "remove it: a task's files are written only into a real directory "
		    "under download_dir";
		snprintf(err, errlen, "download directory %s is not a directory (a symbolic "
		    "link?): refused", dir);
		return -2;
	} else if (fd < 0) {
		snprintf(err, errlen, "cannot open download directory %s: %s", dir,
		    strerror(errno));
	}
	return fd;
}

int
taskdir_set_aside(int dirfd, const char *name, char *aside, size_t asidelen)
{
	char uniq[128];
	struct stat st;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -1;
	unique_name(uniq, sizeof uniq);
	if ((size_t)snprintf(aside, asidelen, "%s.moved-%s", name, uniq) >= asidelen) {
		errno = ENAMETOOLONG;
		return -1;
	}
	/* renameat(2) moves a link or a directory itself, never what it points at. */
	if (renameat(dirfd, name, dirfd, aside) < 0)
		return -1;
	return 1;
}

static void
clear_link(int dirfd, const char *name, const char *suffix)
{
	char side[512], aside[600];
	struct stat st;

	if ((size_t)snprintf(side, sizeof side, "%s%s", name, suffix) >= sizeof side)
		return;
	if (fstatat(dirfd, side, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISREG(st.st_mode))
		(void)taskdir_set_aside(dirfd, side, aside, sizeof aside);
}

void
taskdir_clear_partial_links(int dirfd, const char *name)
{
	clear_link(dirfd, name, ".part");
	clear_link(dirfd, name, ".part.info");
}

void
taskdir_remove_partial(int dirfd, const char *name)
{
	char side[512];

	if ((size_t)snprintf(side, sizeof side, "%s.part", name) < sizeof side)
		(void)unlinkat(dirfd, side, 0);
	if ((size_t)snprintf(side, sizeof side, "%s.part.info", name) < sizeof side)
		(void)unlinkat(dirfd, side, 0);
	if ((size_t)snprintf(side, sizeof side, "%s.part.info.new", name) < sizeof side)
		(void)unlinkat(dirfd, side, 0);
}

static bool
is_partial(const char *name)
{
	size_t n = strlen(name);

	return (n > 5 && strcmp(name + n - 5, ".part") == 0) ||
	    (n > 10 && strcmp(name + n - 10, ".part.info") == 0) ||
	    (n > 14 && strcmp(name + n - 14, ".part.info.new") == 0);
}

/* The directory name under parent (AT_FDCWD or a directory fd), opened for
 * reading with the extra open flags; NULL when it cannot be, no fd left open. */
static DIR *
open_dir_at(int parent, const char *name, int flags)
{
	int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | flags);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;

	if (d == NULL && fd >= 0)
		close(fd);
	return d;
}

/* Removes old partial files in one task directory; returns how many. */
static long
remove_stray_in(int parent, const char *sub, time_t cutoff)
{
	DIR *d = open_dir_at(parent, sub, O_NOFOLLOW);
	struct dirent *de;
	struct stat st;
	long removed = 0;

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
		if (is_partial(de->d_name) &&
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(st.st_mode) && st.st_mtime < cutoff &&
		    unlinkat(dirfd(d), de->d_name, 0) == 0)
			removed++;
	closedir(d);
	return removed;
}

long
taskdir_remove_stray(const char *download_dir, time_t cutoff)
{
	DIR *d = open_dir_at(AT_FDCWD, download_dir, 0);
	struct dirent *de;
	long removed = 0;

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			removed += remove_stray_in(dirfd(d), de->d_name, cutoff);
	closedir(d);
	return removed;
}
