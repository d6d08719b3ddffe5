#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "entry.h"
#include "taskid.h"
#include "fsutil.h"
#include "log.h"

/*
 * A try is lost only when another writer changed the entry meanwhile, so
 * every lost try is someone else's progress.  With n writers of one task a
 * writer loses a round with odds (n-1)/n: 16 tries gave spurious 503s to
 * 8 concurrent writers; this bound is never reached in practice.
 */
#define STORE_TRIES 4096

/*
 * How long the writer of a different callback waits for the lock on the
 * entry it replaces before it answers 503: a single serial responder must
 * not hang behind a stuck holder, and kie.ai gives up after 15 s.
 */
#define LOCK_WAIT_MS 2000
/* Entries of new/ that a health check counts at most (one small read). */
#define HEALTH_COUNT_MAX 1000

/*
 * The mark of an entry known to be durable ("Repeats" in spool.h): set on
 * the entry's inode once it and new/ are fsync'd, so an identical repeat
 * can trust it without an fsync of its own.  An extended attribute, not a
 * mode bit: entries keep their permissions, and on NFS the flock() of a
 * replacement needs a writable descriptor.
 */
#define DURABLE_XATTR "user.veo-callback.durable"

int
spool_path(char *buf, size_t len, const char *spool_dir, const char *sub,
    const char *name)
{
	int n = name ? snprintf(buf, len, "%s/%s/%s", spool_dir, sub, name)
		     : snprintf(buf, len, "%s/%s", spool_dir, sub);

	return n < 0 || (size_t)n >= len ? -1 : 0;
}

static enum spool_status
failure(int errnum, char *err, size_t errlen, const char *what)
{
	snprintf(err, errlen, "%s: %s", what, strerror(errnum));
	return errnum == ENOSPC || errnum == EDQUOT ? SPOOL_FULL : SPOOL_ERROR;
}

int
spool_prepare(const char *spool_dir, bool for_spooler, char *err, size_t errlen)
{
	static const char *subs[] = { "tmp", "new", "old", "taking", "cur", "state", "claim",
	    "bad", "expect", "pending" };
	size_t nsubs = for_spooler ? sizeof subs / sizeof subs[0] : 3;
	char path[PATH_MAX];

	if (require_dir(spool_dir) < 0) {
		snprintf(err, errlen, "spool_dir %s: %s", spool_dir, strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < nsubs; i++) {
		if (spool_path(path, sizeof path, spool_dir, subs[i], NULL) < 0 ||
		    mkdir_exist_ok(path, 0770) < 0) {
			snprintf(err, errlen, "%s/%s: %s", spool_dir, subs[i], strerror(errno));
			return -1;
		}
	}
	return 0;
}

static int
check_free(const char *spool_dir, long long min_free, size_t need, char *err, size_t errlen)
{
	struct statvfs vfs;
	unsigned long long avail;

	if (statvfs(spool_dir, &vfs) < 0) {
		snprintf(err, errlen, "statvfs %s: %s", spool_dir, strerror(errno));
		return -1;
	}
	avail = (unsigned long long)vfs.f_bavail * vfs.f_frsize;
	if (avail < (unsigned long long)min_free + need) {
		snprintf(err, errlen, "spool nearly full: %llu bytes free, min_free is %lld",
		    avail, min_free);
		return -1;
	}
	return 0;
}

/*
 * Best effort: where the file system keeps no user extended attributes the
 * entry stays unmarked, and a repeat with sync makes it durable itself.
 */
static void
mark_durable(int fd)
{
	(void)fsetxattr(fd, DURABLE_XATTR, "1", 1, 0);
}

static bool
marked_durable(int fd)
{
	return fgetxattr(fd, DURABLE_XATTR, NULL, 0) >= 0;
}

/*
 * Writes header and body to a new file in tmp/, its path into tmppath.
 * With sync the file is fsync'd and stays open in *fdp (for mark_durable()
 * once it is in place); without, it is closed and *fdp is -1.  On failure
 * nothing is left behind.
 */
static enum spool_status
write_temp(const char *spool_dir, const struct entry_meta *m, const void *body,
    bool sync, char *tmppath, size_t pathlen, int *fdp, char *err, size_t errlen)
{
	char hdr[ENTRY_HEADER_MAX], name[128];
	struct iovec iov[2];
	int hlen, fd, saved;

	*fdp = -1;
	if ((hlen = entry_format_header(m, hdr, sizeof hdr)) < 0) {
		snprintf(err, errlen, "entry header too long");
		return SPOOL_ERROR;
	}
	unique_name(name, sizeof name);
	if (spool_path(tmppath, pathlen, spool_dir, "tmp", name) < 0) {
		snprintf(err, errlen, "spool_dir path too long");
		return SPOOL_ERROR;
	}
	fd = open(tmppath, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0660);
	if (fd < 0)
		return failure(errno, err, errlen, "create temp entry");
	iov[0] = (struct iovec){ hdr, (size_t)hlen };
	iov[1] = (struct iovec){ (void *)body, m->body_length };
	if (writev_all(fd, iov, 2) < 0 || (sync && fsync(fd) < 0)) {
		saved = errno;
		close(fd);
		unlink(tmppath);
		return failure(saved, err, errlen, "write temp entry");
	}
	if (sync) {
		*fdp = fd;	/* fsync() has reported any deferred write error */
		return SPOOL_STORED;
	}
	/* close() reports deferred write errors on network file systems. */
	if (close(fd) < 0) {
		saved = errno;
		unlink(tmppath);
		return failure(saved, err, errlen, "close temp entry");
	}
	return SPOOL_STORED;
}

static enum spool_status
sync_dirs(const char *spool_dir, bool sync, bool also_old, char *err, size_t errlen)
{
	char path[PATH_MAX];

	if (!sync)
		return SPOOL_STORED;
	if (also_old && (spool_path(path, sizeof path, spool_dir, "old", NULL) < 0 ||
	    fsync_dir(path) < 0))
		return failure(errno, err, errlen, "fsync old/");
	if (spool_path(path, sizeof path, spool_dir, "new", NULL) < 0 || fsync_dir(path) < 0)
		return failure(errno, err, errlen, "fsync new/");
	return SPOOL_STORED;
}

/*
 * The common case, a task seen for the first time, without a temp name: an
 * unnamed file in new/ (O_TMPFILE) that linkat(2) names only once it is
 * whole.  That saves creating and removing a name in tmp/.  Returns 1 when
 * done (*st says how it went), 0 when the caller should take the named-file
 * path: no O_TMPFILE here (NFS, old kernels), no /proc, or an entry exists.
 */
static int
store_unnamed(const char *spool_dir, const struct entry_meta *m, const void *body,
    const char *dest, bool sync, enum spool_status *st, char *err, size_t errlen)
{
	char hdr[ENTRY_HEADER_MAX], newdir[PATH_MAX], proc[64];
	struct iovec iov[2];
	int hlen, fd, saved;

	if ((hlen = entry_format_header(m, hdr, sizeof hdr)) < 0 ||
	    spool_path(newdir, sizeof newdir, spool_dir, "new", NULL) < 0 ||
	    (fd = open(newdir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0660)) < 0)
		return 0;
	iov[0] = (struct iovec){ hdr, (size_t)hlen };
	iov[1] = (struct iovec){ (void *)body, m->body_length };
	if (writev_all(fd, iov, 2) < 0 || (sync && fsync(fd) < 0)) {
		*st = failure(errno, err, errlen, "write entry");
		close(fd);
		return 1;	/* the unnamed file vanishes with the descriptor */
	}
	snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
	if (linkat(AT_FDCWD, proc, AT_FDCWD, dest, AT_SYMLINK_FOLLOW) == 0) {
		*st = sync_dirs(spool_dir, sync, false, err, errlen);
		if (sync && *st == SPOOL_STORED)
			mark_durable(fd);
		close(fd);
		return 1;
	}
	saved = errno;
	close(fd);
	if (saved == EEXIST || saved == ENOENT)
		return 0;	/* a repeat, or no /proc: the named path handles it */
	*st = failure(saved, err, errlen, "link entry");
	return 1;
}

/* What new/<taskId> holds, next to the callback being stored. */
enum found {
	FOUND_NONE,	/* no entry */
	FOUND_SAME,	/* an entry whose body is ours, byte for byte */
	FOUND_OTHER,	/* an entry with another body, or a damaged one */
	FOUND_ERROR,	/* there, but not readable (err says why) */
};

/*
 * Opens dest (flags O_RDONLY, or O_RDWR for a descriptor flock() can lock
 * on NFS) and compares its entry with body.  For _SAME and _OTHER, *fdp is
 * the open entry and *sb its fstat: the one version that was read, since
 * an entry is only ever replaced by rename, never rewritten in place.
 */
static enum found
examine(const char *dest, int flags, const unsigned char *body, size_t len, int *fdp,
    struct stat *sb, char *err, size_t errlen)
{
	struct entry_meta m;
	const char *stored;
	char *data = NULL, perr[128];
	size_t dlen;
	bool regular;
	enum found f = FOUND_OTHER;
	/* O_NONBLOCK: a FIFO left in new/ must not hang the responder. */
	int fd = open(dest, flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

	*fdp = -1;
	if (fd < 0) {
		if (errno == ENOENT)
			return FOUND_NONE;
		snprintf(err, errlen, "open entry: %s", strerror(errno));
		return FOUND_ERROR;
	}
	regular = fstat(fd, sb) == 0 && S_ISREG(sb->st_mode);
	if (!regular || read_fd_bounded(fd, ENTRY_MAX, &data, &dlen) < 0) {
		snprintf(err, errlen, "read entry: %s", regular ? strerror(errno) : "not a regular file");
		close(fd);
		return FOUND_ERROR;
	}
	if (entry_parse(data, dlen, &m, &stored, perr, sizeof perr) == 0 &&
	    m.body_length == len && (len == 0 || memcmp(stored, body, len) == 0))
		f = FOUND_SAME;
	free(data);
	*fdp = fd;
	return f;
}

/*
 * fd is an entry identical to ours, at dest when examined: a duplicate,
 * answered without writing it.  With sync it must be durable first: marked,
 * or else fsync'd here with new/ (its writer may still be between link and
 * directory fsync, or wrote without sync) and still at dest afterwards.
 * Returns 0 with *st set, or -1 when the entry left dest before new/ was
 * synced: the caller stores ours instead.
 */
static int
settle_duplicate(const char *spool_dir, int fd, const struct stat *sb, const char *dest,
    bool sync, enum spool_status *st, char *err, size_t errlen)
{
	struct stat now;

	if (sync && !marked_durable(fd)) {
		if (fsync(fd) < 0) {
			*st = failure(errno, err, errlen, "fsync entry");
			return 0;
		}
		if ((*st = sync_dirs(spool_dir, true, false, err, errlen)) != SPOOL_STORED)
			return 0;
		if (stat(dest, &now) < 0 || now.st_ino != sb->st_ino || now.st_dev != sb->st_dev)
			return -1;
		mark_durable(fd);
	}
	*st = SPOOL_DUPLICATE;
	return 0;
}

/* A different body: keep the waiting entry in old/, put ours in its place. */
static enum spool_status
replace_entry(const char *spool_dir, const char *task_id, const char *tmppath,
    const char *dest, bool sync, char *err, size_t errlen)
{
	char keep[PATH_MAX], name[TASKID_MAX + 160], uniq[128];
	enum spool_status st;

	unique_name(uniq, sizeof uniq);
	snprintf(name, sizeof name, "%s.%s", task_id, uniq);
	if (spool_path(keep, sizeof keep, spool_dir, "old", name) < 0) {
		snprintf(err, errlen, "spool_dir path too long");
		return SPOOL_ERROR;
	}
	if (link(dest, keep) < 0 && errno != ENOENT)
		return failure(errno, err, errlen, "keep replaced entry");
	if (rename(tmppath, dest) < 0)
		return failure(errno, err, errlen, "rename entry");
	st = sync_dirs(spool_dir, sync, true, err, errlen);
	return st == SPOOL_STORED ? SPOOL_REPLACED : st;
}

/*
 * flock(LOCK_EX) that gives up after about ms milliseconds (EWOULDBLOCK),
 * polling with a growing pause: 1 ms doubling to 64 ms.
 */
static int
lock_bounded(int fd, long ms)
{
	struct timespec t0, now, pause = { 0, 1000000 };

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return 0;
		if (errno != EWOULDBLOCK && errno != EINTR)
			return -1;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000 >= ms) {
			errno = EWOULDBLOCK;
			return -1;
		}
		nanosleep(&pause, NULL);
		if (pause.tv_nsec < 64000000)
			pause.tv_nsec *= 2;
	}
}

/*
 * new/<taskId> exists, so our link failed.  The same body is a duplicate,
 * settled without a lock; another body replaces the entry under an flock
 * on it, held until the replacement is durable, so that two replacements
 * of one entry never lose each other's callback.  Returns -1 (with *st
 * untouched) when the caller should try again because the entry changed or
 * vanished under us.
 */
static int
merge_existing(const char *spool_dir, const struct spool_item *it, const char *tmppath,
    const char *dest, bool sync, enum spool_status *st, char *err, size_t errlen)
{
	struct stat a, b;
	int fd, rc = 0;

	switch (examine(dest, O_RDWR, it->body, it->body_len, &fd, &a, err, errlen)) {
	case FOUND_NONE:
		return -1;	/* taken by the spooler meanwhile */
	case FOUND_ERROR:
		*st = SPOOL_ERROR;
		return 0;
	case FOUND_SAME:
		rc = settle_duplicate(spool_dir, fd, &a, dest, sync, st, err, errlen);
		break;
	case FOUND_OTHER:
		if (lock_bounded(fd, LOCK_WAIT_MS) < 0)
			*st = failure(errno, err, errlen, "lock entry");
		else if (stat(dest, &b) < 0 || a.st_ino != b.st_ino || a.st_dev != b.st_dev)
			rc = -1;	/* replaced while we waited for the lock */
		else
			*st = replace_entry(spool_dir, it->task_id, tmppath, dest, sync, err, errlen);
		break;
	}
	close(fd);		/* releases the lock */
	return rc;
}

static int
fill_meta(struct entry_meta *m, const struct spool_item *it)
{
	memset(m, 0, sizeof *m);
	snprintf(m->task_id, sizeof m->task_id, "%s", it->task_id);
	m->code = it->code;
	log_timestamp(m->received, sizeof m->received);
	entry_set_remote_addr(m, it->remote_addr);
	m->signature_verified = it->signature_verified;
	m->body_length = it->body_len;
	/* Without its hash the entry could never be read back: no 200 for it. */
	return sha256_hex(it->body, it->body_len, m->body_sha256);
}

/*
 * The spool directories are checked and created once per spool a process
 * (a FastCGI responder serves many requests); after a failure, again on
 * the next request, so that a vanished spool gets its clear message.
 */
static char prepared[PATH_MAX];

static int
prepare_once(const char *spool_dir, char *err, size_t errlen)
{
	if (strcmp(prepared, spool_dir) == 0)
		return 0;
	if (spool_prepare(spool_dir, false, err, errlen) < 0)
		return -1;
	snprintf(prepared, sizeof prepared, "%s", spool_dir);
	return 0;
}

enum spool_status
spool_store(const char *spool_dir, const struct spool_item *it,
    const struct spool_opts *opts, char *err, size_t errlen)
{
	char tmppath[PATH_MAX], dest[PATH_MAX];
	struct entry_meta m;
	struct stat sb;
	enum spool_status st = SPOOL_ERROR;
	int fd, tmpfd, tries;

	if (!taskid_valid(it->task_id, strlen(it->task_id))) {
		snprintf(err, errlen, "invalid taskId");
		return SPOOL_ERROR;
	}
	if (spool_path(dest, sizeof dest, spool_dir, "new", it->task_id) < 0) {
		snprintf(err, errlen, "spool_dir path too long");
		return SPOOL_ERROR;
	}
	/*
	 * The identical repeat first, before anything is prepared or written:
	 * read and compared, no lock.  Anything else (no entry, another body,
	 * an entry that cannot be read) is for the paths below.
	 */
	if (examine(dest, O_RDONLY, it->body, it->body_len, &fd, &sb, err, errlen) == FOUND_SAME &&
	    settle_duplicate(spool_dir, fd, &sb, dest, opts->sync, &st, err, errlen) == 0) {
		close(fd);
		return st;
	}
	if (fd >= 0)
		close(fd);
	if (prepare_once(spool_dir, err, errlen) < 0)
		return SPOOL_ERROR;
	if (check_free(spool_dir, opts->min_free, it->body_len + ENTRY_HEADER_MAX, err, errlen) < 0)
		return SPOOL_FULL;
	if (fill_meta(&m, it) < 0) {
		snprintf(err, errlen, "cannot hash the body (out of memory?)");
		return SPOOL_ERROR;
	}
	if (!opts->named_temp_only &&
	    store_unnamed(spool_dir, &m, it->body, dest, opts->sync, &st, err, errlen)) {
		if (st == SPOOL_ERROR || st == SPOOL_FULL)
			prepared[0] = '\0';
		return st;
	}
	st = write_temp(spool_dir, &m, it->body, opts->sync, tmppath, sizeof tmppath, &tmpfd,
	    err, errlen);
	if (st != SPOOL_STORED) {
		prepared[0] = '\0';
		return st;
	}
	for (tries = 0; tries < STORE_TRIES; tries++) {
		/* link(2) never overwrites: the first writer of a task wins cleanly. */
		if (link(tmppath, dest) == 0) {
			unlink(tmppath);
			st = sync_dirs(spool_dir, opts->sync, false, err, errlen);
			break;
		}
		if (errno != EEXIST) {
			st = failure(errno, err, errlen, "link entry");
			break;
		}
		if (merge_existing(spool_dir, it, tmppath, dest, opts->sync, &st, err, errlen) == 0)
			break;
	}
	if (tries == STORE_TRIES) {
		snprintf(err, errlen, "entry kept changing under us");
		st = SPOOL_ERROR;
	}
	/* Ours is in new/ and durable (the fsyncs are done): mark it so. */
	if (tmpfd >= 0 && (st == SPOOL_STORED || st == SPOOL_REPLACED))
		mark_durable(tmpfd);
	if (tmpfd >= 0)
		close(tmpfd);
	unlink(tmppath);	/* gone already unless ours was a duplicate; harmless */
	if (st == SPOOL_ERROR || st == SPOOL_FULL)
		prepared[0] = '\0';	/* check the directories again next time */
	return st;
}

/* A spool subdirectory takes entries: it is a writable directory, or absent
 * and spool_dir can hold it (the first store creates it).  0 or -1. */
static int
sub_writable(const char *spool_dir, const char *sub, char *err, size_t errlen)
{
	char path[PATH_MAX];
	struct stat st;

	if (spool_path(path, sizeof path, spool_dir, sub, NULL) < 0) {
		snprintf(err, errlen, "spool_dir path too long");
		return -1;
	}
	if (stat(path, &st) < 0) {
		if (errno == ENOENT && access(spool_dir, W_OK | X_OK) == 0)
			return 0;
		snprintf(err, errlen, "%s/: %s", sub, errno == ENOENT ?
		    "missing, and spool_dir not writable by this user" : strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode) || access(path, W_OK | X_OK) < 0) {
		snprintf(err, errlen, "%s/ not writable by this user", sub);
		return -1;
	}
	return 0;
}

int
spool_health(const char *spool_dir, long long min_free, long *pending,
    char *err, size_t errlen)
{
	static const char *subs[] = { "tmp", "new", "old" };
	char path[PATH_MAX];
	DIR *d;
	struct dirent *de;

	/* stat and access only: a health check creates nothing. */
	*pending = 0;
	if (require_dir(spool_dir) < 0) {
		snprintf(err, errlen, "spool_dir %s: %s", spool_dir, strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
		if (sub_writable(spool_dir, subs[i], err, errlen) < 0)
			return -1;
	if (check_free(spool_dir, min_free, 0, err, errlen) < 0)
		return -1;
	/* A bounded count: a backlog of a million entries must not make it slow. */
	if (spool_path(path, sizeof path, spool_dir, "new", NULL) == 0 &&
	    (d = opendir(path)) != NULL) {
		while (*pending < HEALTH_COUNT_MAX && (de = readdir(d)) != NULL)
			if (de->d_name[0] != '.')
				(*pending)++;
		closedir(d);
	}
	return 0;
}

/* ---- listing ---- */

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

char **
spool_list(const char *spool_dir, const char *sub, size_t *n)
{
	char path[PATH_MAX];
	char **names = NULL;
	size_t cap = 0;
	struct dirent *de;
	DIR *d;

	*n = 0;
	if (spool_path(path, sizeof path, spool_dir, sub, NULL) < 0 || (d = opendir(path)) == NULL)
		return NULL;
	while ((de = readdir(d)) != NULL) {
		if (!taskid_valid(de->d_name, strlen(de->d_name)))
			continue;
		if (*n == cap) {
			char **nn = realloc(names, (cap = cap ? cap * 2 : 64) * sizeof *nn);

			if (nn == NULL)
				break;
			names = nn;
		}
		if ((names[*n] = strdup(de->d_name)) != NULL)
			(*n)++;
	}
	closedir(d);
	if (*n > 0)
		qsort(names, *n, sizeof *names, cmp_str);
	return names;
}

void
spool_list_free(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}


/* ---- registering tasks whose callback is expected ---- */

int
spool_expect(const char *spool_dir, const char *task_id, char *err, size_t errlen)
{
	char path[PATH_MAX];
	int fd;

	if (!taskid_valid(task_id, strlen(task_id))) {
		snprintf(err, errlen, "not a valid taskId (%s)", TASKID_RULE);
		return -1;
	}
	if (spool_path(path, sizeof path, spool_dir, "expect", task_id) < 0) {
		snprintf(err, errlen, "spool_dir path too long");
		return -1;
	}
	/* An empty file: its name appearing is the whole registration. */
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0660);
	if (fd < 0 && errno != EEXIST) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fd >= 0)
		close(fd);
	return 0;
}

/* ---- the spooler's half: taking entries ---- */

/* Reads and checks the entry at path into e. */
static enum spool_read
read_entry(const char *path, struct spool_entry *e, char *err, size_t errlen)
{
	if (read_file_bounded(path, ENTRY_MAX, &e->data, &e->len) < 0) {
		int saved = errno;

		snprintf(err, errlen, "read %s: %s", path,
		    saved == EINVAL ? "not a regular file" : strerror(saved));
		if (saved == ENOENT)
			return SPOOL_READ_NONE;
		/* A link or a FIFO where an entry should be: kept aside in bad/. */
		return saved == ELOOP || saved == EINVAL ? SPOOL_READ_DAMAGED : SPOOL_READ_ERROR;
	}
	if (entry_parse(e->data, e->len, &e->meta, &e->body, err, errlen) < 0)
		return SPOOL_READ_DAMAGED;
	return SPOOL_READ_OK;
}

enum spool_read
spool_take(const char *spool_dir, const char *task_id, struct spool_entry *e,
    char *err, size_t errlen)
{
	char from[PATH_MAX], to[PATH_MAX];

	memset(e, 0, sizeof *e);
	if (!taskid_valid(task_id, strlen(task_id)) ||
	    spool_path(from, sizeof from, spool_dir, "new", task_id) < 0 ||
	    spool_path(to, sizeof to, spool_dir, "taking", task_id) < 0) {
		snprintf(err, errlen, "invalid taskId or spool_dir path too long");
		return SPOOL_READ_ERROR;
	}
	/* A take that a crash interrupted comes first: it is the older one. */
	if (access(to, F_OK) < 0) {
		if (errno != ENOENT) {
			snprintf(err, errlen, "taking/%s: %s", task_id, strerror(errno));
			return SPOOL_READ_ERROR;
		}
		if (rename(from, to) < 0) {
			if (errno == ENOENT)
				return SPOOL_READ_NONE;
			snprintf(err, errlen, "take new/%s: %s", task_id, strerror(errno));
			return SPOOL_READ_ERROR;
		}
	}
	return read_entry(to, e, err, errlen);
}

enum spool_read
spool_read(const char *spool_dir, const char *sub, const char *task_id,
    struct spool_entry *e, char *err, size_t errlen)
{
	char path[PATH_MAX];

	memset(e, 0, sizeof *e);
	if (!taskid_valid(task_id, strlen(task_id)) ||
	    spool_path(path, sizeof path, spool_dir, sub, task_id) < 0) {
		snprintf(err, errlen, "invalid taskId or spool_dir path too long");
		return SPOOL_READ_ERROR;
	}
	return read_entry(path, e, err, errlen);
}

/* Moves taking/<task_id> to <sub>/<name>; 0 or -1 with err. */
static int
move_taken(const char *spool_dir, const char *task_id, const char *sub, const char *name,
    bool sync, char *err, size_t errlen)
{
	char from[PATH_MAX], to[PATH_MAX], dir[PATH_MAX];

	if (spool_path(from, sizeof from, spool_dir, "taking", task_id) < 0 ||
	    spool_path(to, sizeof to, spool_dir, sub, name) < 0 ||
	    spool_path(dir, sizeof dir, spool_dir, sub, NULL) < 0) {
		snprintf(err, errlen, "spool_dir path too long");
		return -1;
	}
	if (rename(from, to) < 0 || (sync && fsync_dir(dir) < 0)) {
		snprintf(err, errlen, "move taking/%s to %s/: %s", task_id, sub, strerror(errno));
		return -1;
	}
	return 0;
}

int
spool_take_done(const char *spool_dir, const char *task_id, bool sync, char *err,
    size_t errlen)
{
	return move_taken(spool_dir, task_id, "cur", task_id, sync, err, errlen);
}

int
spool_take_refuse(const char *spool_dir, const char *task_id, char *err, size_t errlen)
{
	char name[TASKID_MAX + 140], uniq[128];

	unique_name(uniq, sizeof uniq);
	snprintf(name, sizeof name, "%s.%s", task_id, uniq);
	return move_taken(spool_dir, task_id, "bad", name, false, err, errlen);
}

void
spool_entry_free(struct spool_entry *e)
{
	free(e->data);
	memset(e, 0, sizeof *e);
}
