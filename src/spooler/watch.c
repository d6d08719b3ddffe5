#include "watch.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

#define SCAN_EVERY_MS 1000	/* the fallback's period */

static const char *const watched[] = { "new", "expect" };

struct watch {
	int ino;			/* inotify fd, -1 when scanning */
	int wake_fd;
	char dirs[2][PATH_MAX];
};

struct watch *
watch_open(const char *spool_dir, int wake_fd)
{
	struct watch *wt = calloc(1, sizeof *wt);
	const char *off = getenv("VEO_TEST_NO_INOTIFY");

	if (wt == NULL)
		return NULL;
	wt->ino = -1;
	wt->wake_fd = wake_fd;
	for (size_t i = 0; i < 2; i++)
		snprintf(wt->dirs[i], sizeof wt->dirs[i], "%s/%s", spool_dir, watched[i]);
	if (off != NULL && *off != '\0' && strcmp(off, "0") != 0)
		return wt;
	if ((wt->ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) < 0)
		return wt;
	for (size_t i = 0; i < 2; i++)
		if (inotify_add_watch(wt->ino, wt->dirs[i], IN_CREATE | IN_MOVED_TO |
		    IN_CLOSE_WRITE | IN_ONLYDIR) < 0) {
			close(wt->ino);
			wt->ino = -1;
			break;
		}
	return wt;
}

bool
watch_inotify(const struct watch *wt)
{
	return wt->ino >= 0;
}

/* True when dir holds a name that does not start with a dot. */
static bool
has_entry(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	bool found = false;

	while (d != NULL && !found && (de = readdir(d)) != NULL)
		found = de->d_name[0] != '.';
	if (d != NULL)
		closedir(d);
	return found;
}

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads what the fd holds, so that the next poll waits again. */
static void
drain(int fd)
{
	char buf[4096];

	while (read(fd, buf, sizeof buf) > 0)
		;
}

int
watch_wait(struct watch *wt, long timeout_ms)
{
	long long end = now_ms() + (timeout_ms > 0 ? timeout_ms : 0);

	for (;;) {
		struct pollfd p[2];
		nfds_t n = 0;
		long long left = end - now_ms();
		int slice, r;

		if (wt->ino < 0 && (has_entry(wt->dirs[0]) || has_entry(wt->dirs[1])))
			return 1;
		if (left <= 0)
			return 0;
		slice = left > INT_MAX ? INT_MAX : (int)left;
		if (wt->ino < 0 && slice > SCAN_EVERY_MS)
			slice = SCAN_EVERY_MS;
		if (wt->wake_fd >= 0)
			p[n++] = (struct pollfd){ .fd = wt->wake_fd, .events = POLLIN };
		if (wt->ino >= 0)
			p[n++] = (struct pollfd){ .fd = wt->ino, .events = POLLIN };
		r = poll(p, n, slice);
		if (r < 0 && errno != EINTR)
			return 0;
		for (nfds_t i = 0; r > 0 && i < n; i++)
			if (p[i].revents != 0) {
				if (p[i].fd == wt->ino)
					drain(wt->ino);
				return 1;
			}
	}
}

void
watch_close(struct watch *wt)
{
	if (wt == NULL)
		return;
	if (wt->ino >= 0)
		close(wt->ino);
	free(wt);
}
