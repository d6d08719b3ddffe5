#include "claim.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"
#include "spool.h"
#include "taskid.h"

/* Take-over markers of one claim: one a taker, at most this many taken
 * over by a killed taker before one succeeds (then all are removed). */
#define TAKEOVER_LEVELS 8
#define TAKEOVER_NAME_MAX (TASKID_MAX + 16)

static void
host_name(char *buf, size_t len)
{
	if (gethostname(buf, len - 1) < 0)
		snprintf(buf, len, "localhost");
	buf[len - 1] = '\0';
	for (char *p = buf; *p; p++)
		if (*p == '/' || *p == ' ' || *p == '\n')
			*p = '_';
}

int
claim_sweep_lock(const char *spool_dir, char *err, size_t errlen)
{
	char path[PATH_MAX], host[64];
	int fd;

	host_name(host, sizeof host);
	if (snprintf(path, sizeof path, "%s/sweep.%s.lock", spool_dir, host) >= (int)sizeof path) {
		snprintf(err, errlen, "spool_dir path too long");
		return -1;
	}
	if ((fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0660)) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int busy = errno == EWOULDBLOCK;

		snprintf(err, errlen, "%s: %s", path, busy ? "another sweep is running" : strerror(errno));
		close(fd);
		return busy ? -2 : -1;
	}
	return fd;
}

/*
 * When process pid started, in clock ticks since boot (field 22 of
 * /proc/<pid>/stat): with the PID it names a process for good, since a
 * reused PID belongs to a process that started later.  0 when unknown.
 */
static unsigned long long
start_time(long pid)
{
	char path[64], buf[1024], *p;
	unsigned long long t = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof path, "/proc/%ld/stat", pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* The command name may hold spaces and parentheses: skip past the last ')'. */
	if ((p = strrchr(buf, ')')) == NULL)
		return 0;
	/* Fields 3..21 come before starttime (22). */
	for (int field = 3; field <= 22 && p != NULL; field++)
		p = strchr(p + 1, ' ');
	if (p != NULL)
		t = strtoull(p + 1, NULL, 10);
	return t;
}

/* Our identity as a claim holder: "host pid starttime\n". */
static int
holder_line(char *buf, size_t len)
{
	char host[64];

	host_name(host, sizeof host);
	return snprintf(buf, len, "%s %ld %llu\n", host, (long)getpid(),
	    start_time((long)getpid()));
}

/*
 * Judges the claim (or take-over marker) at path: 1 when it is stale, 0
 * when it is not, -1 when there is none.  *st is the stat of the very
 * file judged.  A claim not refreshed for CLAIM_STALE_AFTER seconds is
 * stale whoever holds it (the holder refreshes it while it works, hooks
 * included).  On this host it is stale as soon as its process is gone, or
 * its PID now names a process that started at another time (a reused PID).
 */
static int
judge(const char *path, struct stat *st)
{
	char buf[160], host[64], theirs[64];
	long pid = 0;
	unsigned long long started = 0;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	ssize_t n = -1;
	int fields, found;

	/* Read through one descriptor, so that the stat is of what was read. */
	found = fd >= 0 ? fstat(fd, st) == 0 : lstat(path, st) == 0;
	if (fd >= 0) {
		if (found)
			n = read(fd, buf, sizeof buf - 1);
		close(fd);
	}
	if (!found)
		return -1;
	if (time(NULL) - st->st_mtime > CLAIM_STALE_AFTER)
		return 1;
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	host_name(host, sizeof host);
	fields = sscanf(buf, "%63s %ld %llu", theirs, &pid, &started);
	if (fields < 2 || strcmp(theirs, host) != 0 || pid <= 0)
		return 0;	/* another host's: only the refresh tells */
	if (kill((pid_t)pid, 0) < 0 && errno == ESRCH)
		return 1;
	/* Alive: stale only if that PID is now another process. */
	return fields == 3 && started != 0 && start_time(pid) != started;
}

/* Whether a and b are the stat of one claim file, unchanged. */
static bool
same_claim(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
	    a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* spool_dir/claim/.<taskId>.<level>: a take-over marker (no taskId starts with '.'). */
static int
marker_path(char *buf, size_t len, const char *spool_dir, const char *task_id, int level)
{
	char name[TAKEOVER_NAME_MAX];

	if (snprintf(name, sizeof name, ".%s.%d", task_id, level) >= (int)sizeof name)
		return -1;
	return spool_path(buf, len, spool_dir, "claim", name);
}

/*
 * Takes over the stale claim at path, judged as *judged, by renaming our
 * claim file tmp over it.  True when ours is in place.
 *
 * Renaming the stale claim aside and checking afterwards that it was the
 * one judged is not enough: a process that judged it stale too but acts
 * later moves the fresh claim of the first taker aside, and while it puts
 * it back the name is empty and a third process can claim the task (two
 * holders).  So takers of a task take turns: a taker first links its
 * claim file to the marker claim/.<taskId>.<level>, which only one process
 * can create (link fails when the name exists); holding it, it checks that
 * path still names the claim it judged, and replaces that with rename(2)
 * in one step, so the name is never empty; then it removes the markers.
 * A later taker finds the marker held, or path holding another claim, and
 * leaves it alone.  The markers' holders are judged like claims: a taker
 * killed while holding one is stale, and the next level is taken instead
 * (a marker is never removed while someone may be taking the claim over,
 * only by a taker that has done it).
 */
static bool
take_over(const char *spool_dir, const char *task_id, const char *tmp, const char *path,
    const struct stat *judged)
{
	char marker[PATH_MAX];
	struct stat st;
	int level;
	bool done = false;

	for (level = 1; level <= TAKEOVER_LEVELS; level++) {
		if (marker_path(marker, sizeof marker, spool_dir, task_id, level) < 0)
			return false;
		if (link(tmp, marker) == 0)
			break;
		/* Held by a live taker, or gone meanwhile: its turn, not ours. */
		if (errno != EEXIST || judge(marker, &st) != 1)
			return false;
	}
	if (level > TAKEOVER_LEVELS)
		return false;
	if (stat(path, &st) == 0 && same_claim(&st, judged) && rename(tmp, path) == 0)
		done = true;
	/* Done: every marker goes (those below ours were stale); not done: ours. */
	for (int l = done ? 1 : level; l <= level; l++)
		if (marker_path(marker, sizeof marker, spool_dir, task_id, l) == 0)
			unlink(marker);
	return done;
}

enum claim_result
claim_task(const char *spool_dir, const char *task_id, char *err, size_t errlen)
{
	char tmp[PATH_MAX], path[PATH_MAX], name[128], line[160];
	enum claim_result res = CLAIM_ERROR;
	struct stat st;
	int fd, n;

	unique_name(name, sizeof name);
	if (spool_path(tmp, sizeof tmp, spool_dir, "tmp", name) < 0 ||
	    spool_path(path, sizeof path, spool_dir, "claim", task_id) < 0) {
		snprintf(err, errlen, "path too long");
		return CLAIM_ERROR;
	}
	n = holder_line(line, sizeof line);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0660);
	if (fd < 0 || write_all(fd, line, (size_t)n) < 0 || close(fd) < 0) {
		snprintf(err, errlen, "claim %s: %s", task_id, strerror(errno));
		if (fd >= 0)
			close(fd);
		unlink(tmp);
		return CLAIM_ERROR;
	}
	/* Once more only when the claim went between our link and our look. */
	for (int tries = 0; tries < 2; tries++) {
		int stale;

		if (link(tmp, path) == 0) {
			res = CLAIM_OK;
			break;
		}
		if (errno != EEXIST) {
			snprintf(err, errlen, "claim %s: %s", task_id, strerror(errno));
			break;
		}
		res = CLAIM_BUSY;
		if ((stale = judge(path, &st)) == 1 && take_over(spool_dir, task_id, tmp, path, &st))
			res = CLAIM_OK;
		if (stale >= 0)
			break;
	}
	unlink(tmp);
	return res;
}

void
claim_release(const char *spool_dir, const char *task_id)
{
	char path[PATH_MAX], buf[160], mine[160];
	ssize_t n = -1;
	int fd;

	if (spool_path(path, sizeof path, spool_dir, "claim", task_id) < 0)
		return;
	/* Only our own claim: a stale one of ours may have been taken over. */
	holder_line(mine, sizeof mine);
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) >= 0) {
		n = read(fd, buf, sizeof buf - 1);
		close(fd);
	}
	if (n > 0 && (buf[n] = '\0', strcmp(buf, mine) == 0))
		unlink(path);
}

void
claim_touch(const char *spool_dir, const char *task_id)
{
	char path[PATH_MAX];

	if (spool_path(path, sizeof path, spool_dir, "claim", task_id) == 0)
		utimensat(AT_FDCWD, path, NULL, AT_SYMLINK_NOFOLLOW);
}

bool
claim_held(const char *spool_dir, const char *task_id)
{
	char path[PATH_MAX];
	struct stat st;

	if (spool_path(path, sizeof path, spool_dir, "claim", task_id) < 0)
		return false;
	return judge(path, &st) == 0;
}
