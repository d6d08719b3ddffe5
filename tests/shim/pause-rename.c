/*
 * pause-rename: an LD_PRELOAD shim for race tests.  The first rename(2)
 * whose source path contains $VEO_PAUSE_MATCH (e.g. "/new/"), or whose
 * target contains $VEO_PAUSE_MATCH_TO, pauses the process: before the
 * rename when $VEO_PAUSE_WHEN is "before", after it otherwise.  link(2)
 * counts as a rename to its target (a claim is taken by a link to
 * claim/<taskId>), and unlink(2) of a path that contains
 * $VEO_PAUSE_MATCH_UNLINK counts too.  With $VEO_PAUSE_NTH = N it is the
 * N-th matching call instead of the first.  While paused it creates
 * $VEO_PAUSE_DIR/paused and waits until $VEO_PAUSE_DIR/go exists, so a
 * test can act in that window.  Without $VEO_PAUSE_DIR it changes nothing.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int rename(const char *from, const char *to);
int link(const char *from, const char *to);
int unlink(const char *path);

static void
pause_here(const char *dir)
{
	char path[PATH_MAX];
	struct timespec tick = { 0, 10 * 1000 * 1000 };
	int fd, saved = errno;

	snprintf(path, sizeof path, "%s/paused", dir);
	if ((fd = open(path, O_WRONLY | O_CREAT, 0644)) >= 0)
		close(fd);
	snprintf(path, sizeof path, "%s/go", dir);
	for (int i = 0; i < 6000 && access(path, F_OK) < 0; i++)	/* 60 s at most */
		nanosleep(&tick, NULL);
	errno = saved;
}

static const char *
env(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && *v != '\0' ? v : NULL;
}

/* Whether this call (its source, target or unlinked path; NULL: none) pauses. */
static int
hit(const char *from, const char *to, const char *gone)
{
	static int seen, done;
	const char *match = env("VEO_PAUSE_MATCH"), *match_to = env("VEO_PAUSE_MATCH_TO");
	const char *match_unlink = env("VEO_PAUSE_MATCH_UNLINK"), *nth = env("VEO_PAUSE_NTH");

	if (done || env("VEO_PAUSE_DIR") == NULL ||
	    !((match != NULL && from != NULL && strstr(from, match) != NULL) ||
	      (match_to != NULL && to != NULL && strstr(to, match_to) != NULL) ||
	      (match_unlink != NULL && gone != NULL && strstr(gone, match_unlink) != NULL)) ||
	    ++seen < (nth != NULL ? atoi(nth) : 1))
		return 0;
	done = 1;
	return 1;
}

/* Pauses if h, when the call is at the point $VEO_PAUSE_WHEN names. */
static void
pause_if(int h, int before_call)
{
	const char *when = env("VEO_PAUSE_WHEN");

	if (h && before_call == (when != NULL && strcmp(when, "before") == 0))
		pause_here(env("VEO_PAUSE_DIR"));
}

/* rename(2) or link(2), the real one, paused around as hit() says. */
static int
two_paths(const char *name, int h, const char *from, const char *to)
{
	int (*real)(const char *, const char *) =
	    (int (*)(const char *, const char *))dlsym(RTLD_NEXT, name);
	int rc;

	pause_if(h, 1);
	rc = real(from, to);
	pause_if(h, 0);
	return rc;
}

int
rename(const char *from, const char *to)
{
	return two_paths("rename", hit(from, to, NULL), from, to);
}

int
link(const char *from, const char *to)
{
	return two_paths("link", hit(NULL, to, NULL), from, to);
}

int
unlink(const char *path)
{
	static int (*real)(const char *);
	int h = hit(NULL, NULL, path), rc;

	if (real == NULL)
		real = (int (*)(const char *))dlsym(RTLD_NEXT, "unlink");
	pause_if(h, 1);
	rc = real(path);
	pause_if(h, 0);
	return rc;
}
