/*
 * pause-rename: an LD_PRELOAD shim for race tests.  The first rename(2)
 * whose source path contains $VEO_PAUSE_MATCH (e.g. "/new/"), or whose
 * target contains $VEO_PAUSE_MATCH_TO, pauses the process: before the
 * rename when $VEO_PAUSE_WHEN is "before", after it otherwise.  With
 * $VEO_PAUSE_NTH = N it is the N-th matching rename instead of the first.  While paused it creates $VEO_PAUSE_DIR/paused and waits
 * until $VEO_PAUSE_DIR/go exists, so a test can act in that window.
 * Without $VEO_PAUSE_DIR it changes nothing.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int rename(const char *from, const char *to);

static void
pause_here(const char *dir)
{
	char path[PATH_MAX];
	struct timespec tick = { 0, 10 * 1000 * 1000 };
	int fd;

	snprintf(path, sizeof path, "%s/paused", dir);
	if ((fd = open(path, O_WRONLY | O_CREAT, 0644)) >= 0)
		close(fd);
	snprintf(path, sizeof path, "%s/go", dir);
	for (int i = 0; i < 6000 && access(path, F_OK) < 0; i++)	/* 60 s at most */
		nanosleep(&tick, NULL);
}

int
rename(const char *from, const char *to)
{
	static int (*real)(const char *, const char *);
	static int seen, done;
	const char *dir = getenv("VEO_PAUSE_DIR"), *match = getenv("VEO_PAUSE_MATCH");
	const char *match_to = getenv("VEO_PAUSE_MATCH_TO"), *nth = getenv("VEO_PAUSE_NTH");
	const char *when = getenv("VEO_PAUSE_WHEN");
	int hit, rc;

	if (real == NULL)
		real = (int (*)(const char *, const char *))dlsym(RTLD_NEXT, "rename");
	hit = !done && dir != NULL &&
	    ((match != NULL && strstr(from, match) != NULL) ||
	     (match_to != NULL && strstr(to, match_to) != NULL)) &&
	    ++seen >= (nth != NULL ? atoi(nth) : 1);
	if (hit)
		done = 1;
	if (hit && when != NULL && strcmp(when, "before") == 0)
		pause_here(dir);
	rc = real(from, to);
	if (hit && (when == NULL || strcmp(when, "before") != 0))
		pause_here(dir);
	return rc;
}
