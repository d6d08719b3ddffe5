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
 * Whether the claim at path is stale; st is its stat.  A claim not
 * refreshed for CLAIM_STALE_AFTER seconds is stale whoever holds it (the
 * holder refreshes it while it works, hooks included).  On this host it is
 * stale as soon as its process is gone, or its PID now names a process
 * that started at another time (a reused PID).
 */
static bool
is_stale(const char *path, const struct stat *st)
{
	char buf[160], host[64], theirs[64];
	long pid = 0;
	unsigned long long started = 0;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
	int fields;

	if (fd >= 0)
		close(fd);
	if (time(NULL) - st->st_mtime > CLAIM_STALE_AFTER)
		return true;
	if (n <= 0)
		return false;
	buf[n] = '\0';
	host_name(host, sizeof host);
	fields = sscanf(buf, "%63s %ld %llu", theirs, &pid, &started);
	if (fields < 2 || strcmp(theirs, host) != 0 || pid <= 0)
		return false;	/* another host's: only the refresh tells */
	if (kill((pid_t)pid, 0) < 0 && errno == ESRCH)
		return true;
	/* Alive: stale only if that PID is now another process. */
	return fields == 3 && started != 0 && start_time(pid) != started;
}

/* Moves a stale claim aside; true when the one we judged is the one we moved. */
static bool
break_stale(const char *spool_dir, const char *path, const struct stat *judged)
{
	char aside[PATH_MAX], name[128];
	struct stat st;

	unique_name(name, sizeof name);
	if (spool_path(aside, sizeof aside, spool_dir, "tmp", name) < 0 || rename(path, aside) < 0)
		return false;
	if (stat(aside, &st) == 0 && st.st_ino == judged->st_ino && st.st_dev == judged->st_dev) {
		unlink(aside);
		return true;
	}
	/* Someone replaced it between our look and our rename: give it back. */
	if (link(aside, path) == 0 || errno == EEXIST)
		unlink(aside);
	return false;
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
	for (int tries = 0; tries < 2; tries++) {
		if (link(tmp, path) == 0) {
			res = CLAIM_OK;
			break;
		}
		if (errno != EEXIST) {
			snprintf(err, errlen, "claim %s: %s", task_id, strerror(errno));
			break;
		}
		res = CLAIM_BUSY;
		if (stat(path, &st) < 0 || !is_stale(path, &st) ||
		    !break_stale(spool_dir, path, &st))
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

	if (spool_path(path, sizeof path, spool_dir, "claim", task_id) < 0 || stat(path, &st) < 0)
		return false;
	return !is_stale(path, &st);
}
