/*
 * test_spool: spool_store() (new entry, identical repeat, different body,
 * the failures that must turn into 503), spool_health(), entry_parse() on
 * damaged entries, and concurrent writers of one task.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "digest.h"
#include "entry.h"
#include "fsutil.h"
#include "spool.h"
#include "tap.h"
#include "tmptree.h"

#define TASK	"veo_task_1"

static char base[] = "/tmp/veo-test-spool.XXXXXX";
/* The second pass takes the named temp-file path that NFS spools use. */
static bool named_only;

/* A TAP skip: "ok N # skip why" (tap.h's ok() would put " - " before the '#'). */
static void
skip(const char *why)
{
	printf("ok %d # skip %s\n", ++tap_n, why);
}

/* A new empty directory under base: spool_store() lays the spool out itself. */
static const char *
fresh(const char *name)
{
	return tmptree_dir(base, name);
}

/* Entries in spool/sub, not counting dot files; -1 if it cannot be read. */
static int
count(const char *spool, const char *sub)
{
	return tmptree_count(spool, sub, "", NULL, 0);
}

/* A stored entry, read and parsed; data must be freed by the caller. */
struct stored {
	char *data;
	size_t len;
	struct entry_meta m;
	const char *body;
	int parsed;		/* 0 ok, -1 damaged or unreadable */
};

static void
load(const char *spool, const char *sub, const char *name, struct stored *s)
{
	char path[PATH_MAX], err[128];

	memset(s, 0, sizeof *s);
	s->parsed = -1;
	snprintf(path, sizeof path, "%s/%s/%s", spool, sub, name);
	if (read_file_bounded(path, 64 << 20, &s->data, &s->len) < 0)
		return;
	s->parsed = entry_parse(s->data, s->len, &s->m, &s->body, err, sizeof err);
}

static bool
same_body(const struct stored *s, const void *body, size_t len)
{
	return s->parsed == 0 && s->m.body_length == len && memcmp(s->body, body, len) == 0;
}

static enum spool_status
store_sync(const char *spool, const char *task, const void *body, size_t len, bool sync,
    char *err, size_t errlen)
{
	struct spool_item it = { task, 200, body, len, NULL, false };
	struct spool_opts o = { sync, 0, named_only };

	return spool_store(spool, &it, &o, err, errlen);
}

static enum spool_status
store(const char *spool, const char *task, const void *body, size_t len, const char *addr,
    long long min_free, char *err, size_t errlen)
{
	struct spool_item it = { task, 200, body, len, addr, false };
	struct spool_opts o = { true, min_free, named_only };

	return spool_store(spool, &it, &o, err, errlen);
}

/* The mark spool.c sets on an entry once it is durable (spool.h, "Repeats"). */
#define DURABLE_XATTR "user.veo-callback.durable"

static bool
marked(const char *spool, const char *sub, const char *name)
{
	char path[PATH_MAX];

	snprintf(path, sizeof path, "%s/%s/%s", spool, sub, name);
	return getxattr(path, DURABLE_XATTR, NULL, 0) >= 0;
}

/* Whether files under base can carry user extended attributes. */
static bool
xattrs_here(void)
{
	char path[PATH_MAX];
	bool yes;

	snprintf(path, sizeof path, "%s/xattr-probe", base);
	close(open(path, O_WRONLY | O_CREAT, 0600));
	yes = setxattr(path, "user.probe", "1", 1, 0) == 0;
	unlink(path);
	return yes;
}

/* The stat of spool/sub/name (zeroed when missing). */
static struct stat
stat_of(const char *spool, const char *sub, const char *name)
{
	char path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof path, "%s/%s/%s", spool, sub, name);
	if (stat(path, &st) < 0)
		memset(&st, 0, sizeof st);
	return st;
}

/* Same inode, same size, same modification and change times. */
static bool
untouched(const struct stat *a, const struct stat *b)
{
	return a->st_ino != 0 && a->st_ino == b->st_ino && a->st_dev == b->st_dev &&
	    a->st_size == b->st_size && a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	    a->st_mtim.tv_nsec == b->st_mtim.tv_nsec && a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
	    a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* Body A holds a NUL byte and bytes that are not UTF-8: the spool must not care. */
static const char body_a[] = "{\"code\":200,\"msg\":\"a\0b\xff\xfe\",\"data\":{\"taskId\":\"" TASK "\"}}";
static const char body_b[] = "{\"code\":200,\"msg\":\"second\",\"data\":{\"taskId\":\"" TASK "\"}}";
static const char body_c[] = "{\"code\":501,\"msg\":\"third\",\"data\":{\"taskId\":\"" TASK "\"}}";
#define LEN(b) (sizeof(b) - 1)

static void
test_store_repeat_replace(void)
{
	const char *sp = fresh("main");
	char err[256] = "", hash[SHA256_HEX_LEN + 1], oldname[256] = "";
	struct stored s, d1, r, o;
	struct stat st0, st1, st2;
	bool xa = xattrs_here();

	is_int(store(sp, TASK, body_a, LEN(body_a), "203.0.113.9", 0, err, sizeof err),
	    SPOOL_STORED, "first callback: SPOOL_STORED");
	ok(count(sp, "tmp") == 0 && count(sp, "old") == 0 && count(sp, "new") == 1,
	    "tmp/ and old/ empty, one entry in new/");
	load(sp, "new", TASK, &s);
	ok(s.parsed == 0, "new/<taskId> parses with entry_parse");
	ok(s.len > strlen(ENTRY_MAGIC) && memcmp(s.data, ENTRY_MAGIC "\n", strlen(ENTRY_MAGIC) + 1) == 0,
	    "entry starts with the magic line");
	ok(same_body(&s, body_a, LEN(body_a)), "body stored byte for byte (NUL, non-UTF-8)");
	ok(s.parsed == 0 && s.body + s.m.body_length == s.data + s.len, "body is the rest of the file");
	is_str(s.m.task_id, TASK, "task-id header");
	is_int(s.m.code, 200, "code header");
	is_str(s.m.remote_addr, "203.0.113.9", "remote-addr header");
	ok(!s.m.signature_verified, "signature: unsigned");
	ok(s.parsed == 0 && memmem(s.data, (size_t)(s.body - s.data), "duplicates:", 11) == NULL &&
	    memmem(s.data, (size_t)(s.body - s.data), "last-received:", 14) == NULL,
	    "no duplicates or last-received line: an entry is never rewritten");
	sha256_hex(body_a, LEN(body_a), hash);
	is_str(s.m.body_sha256, hash, "body-sha256 is the body's SHA-256");
	is_int(strlen(s.m.received), 27, "received is a full timestamp");
	if (xa)
		ok(marked(sp, "new", TASK), "stored with sync: marked durable");
	else
		skip("no user extended attributes here");
	st0 = stat_of(sp, "new", TASK);

	usleep(3000);	/* so that a rewrite would show in the times */
	is_int(store(sp, TASK, body_a, LEN(body_a), "198.51.100.7", 0, err, sizeof err),
	    SPOOL_DUPLICATE, "identical repeat: SPOOL_DUPLICATE");
	st1 = stat_of(sp, "new", TASK);
	ok(untouched(&st0, &st1), "identical repeat: the entry is untouched (inode, size, mtime, "
	    "ctime)");
	load(sp, "new", TASK, &d1);
	ok(d1.len == s.len && memcmp(d1.data, s.data, s.len) == 0,
	    "identical repeat: the entry is byte for byte the first one");
	ok(count(sp, "tmp") == 0 && count(sp, "old") == 0 && count(sp, "new") == 1,
	    "repeat leaves tmp/ and old/ empty");

	usleep(3000);
	is_int(store(sp, TASK, body_a, LEN(body_a), NULL, 0, err, sizeof err),
	    SPOOL_DUPLICATE, "second identical repeat: SPOOL_DUPLICATE");
	st2 = stat_of(sp, "new", TASK);
	ok(untouched(&st0, &st2), "second repeat: the entry is still untouched");

	is_int(store(sp, TASK, body_b, LEN(body_b), "192.0.2.1", 0, err, sizeof err),
	    SPOOL_REPLACED, "different body: SPOOL_REPLACED");
	load(sp, "new", TASK, &r);
	ok(same_body(&r, body_b, LEN(body_b)), "new/ holds the new body");
	is_str(r.m.remote_addr, "192.0.2.1", "replacement has its own remote-addr");
	if (xa)
		ok(marked(sp, "new", TASK), "the replacement is marked durable");
	else
		skip("no user extended attributes here");
	is_int(tmptree_count(sp, "old", "", oldname, sizeof oldname), 1, "exactly one entry in old/");
	if (oldname[0] != '\0') {
		struct stat so = stat_of(sp, "old", oldname);

		ok(strncmp(oldname, TASK ".", strlen(TASK) + 1) == 0, "old/ name starts with taskId.");
		load(sp, "old", oldname, &o);
		ok(o.len == s.len && memcmp(o.data, s.data, s.len) == 0,
		    "old/ keeps the replaced entry byte for byte");
		ok(so.st_ino == st0.st_ino, "old/ holds the replaced entry's inode (a link)");
		free(o.data);
	} else {
		ok(0, "old/ entry readable");
		ok(0, "old/ keeps the replaced entry byte for byte");
		ok(0, "old/ holds the replaced entry's inode");
	}
	is_int(count(sp, "tmp"), 0, "replace leaves tmp/ empty");

	is_int(store(sp, TASK, body_c, LEN(body_c), NULL, 0, err, sizeof err),
	    SPOOL_REPLACED, "another different body: SPOOL_REPLACED");
	is_int(count(sp, "old"), 2, "two entries in old/");
	is_int(store(sp, TASK, body_c, LEN(body_c), NULL, 0, err, sizeof err),
	    SPOOL_DUPLICATE, "repeat of the replacement: SPOOL_DUPLICATE");
	is_int(count(sp, "old"), 2, "a duplicate adds nothing to old/");
	is_int(store(sp, TASK, body_a, LEN(body_a), NULL, 0, err, sizeof err),
	    SPOOL_REPLACED, "the first body again, now different from new/: SPOOL_REPLACED");
	is_int(count(sp, "old"), 3, "three entries in old/");

	/* Another task is independent. */
	is_int(store(sp, "veo_task_2", body_a, LEN(body_a), NULL, 0, err, sizeof err),
	    SPOOL_STORED, "same body, other task: SPOOL_STORED");
	is_int(count(sp, "new"), 2, "two tasks in new/");
	free(s.data), free(d1.data), free(r.data);
}

/*
 * An entry not (yet) marked durable: written without sync, or by a writer
 * still between its link and its directory fsync.  A repeat without sync
 * takes it as it is; a repeat with sync makes it durable, marks it, and
 * answers a duplicate without replacing it.
 */
static void
test_unmarked(void)
{
	const char *sp = fresh("unmarked");
	char err[256] = "";
	struct stat st0, st1;

	if (!xattrs_here()) {
		skip("no user extended attributes here");
		return;
	}
	is_int(store_sync(sp, TASK, body_a, LEN(body_a), false, err, sizeof err), SPOOL_STORED,
	    "stored without sync");
	ok(!marked(sp, "new", TASK), "without sync: not marked durable");
	st0 = stat_of(sp, "new", TASK);
	is_int(store_sync(sp, TASK, body_a, LEN(body_a), false, err, sizeof err), SPOOL_DUPLICATE,
	    "repeat without sync: SPOOL_DUPLICATE");
	ok(!marked(sp, "new", TASK), "repeat without sync: still unmarked");
	is_int(store_sync(sp, TASK, body_a, LEN(body_a), true, err, sizeof err), SPOOL_DUPLICATE,
	    "repeat with sync: SPOOL_DUPLICATE");
	ok(marked(sp, "new", TASK), "repeat with sync: the entry fsync'd and marked durable");
	st1 = stat_of(sp, "new", TASK);
	ok(st0.st_ino == st1.st_ino && st0.st_size == st1.st_size &&
	    st0.st_mtim.tv_nsec == st1.st_mtim.tv_nsec && st0.st_mtim.tv_sec == st1.st_mtim.tv_sec,
	    "repeat with sync: same inode, same contents, not rewritten");
	ok(count(sp, "new") == 1 && count(sp, "old") == 0 && count(sp, "tmp") == 0,
	    "one entry, nothing in old/ or tmp/");
}

static void
test_big_body(void)
{
	const char *sp = fresh("big");
	size_t len = 300 * 1024;
	unsigned char *body = malloc(len);
	char err[256] = "";
	struct stored s;

	for (size_t i = 0; i < len; i++)
		body[i] = (unsigned char)(i * 7 + i / 251);
	is_int(store(sp, "big", body, len, NULL, 0, err, sizeof err), SPOOL_STORED, "300 KiB body stored");
	load(sp, "new", "big", &s);
	ok(same_body(&s, body, len), "300 KiB body byte for byte");
	is_str(s.m.remote_addr, "-", "no remote address: '-'");
	free(s.data);
	is_int(store(sp, "empty", "", 0, "bogus\naddr", 0, err, sizeof err), SPOOL_STORED,
	    "empty body stored");
	load(sp, "new", "empty", &s);
	ok(s.parsed == 0 && s.m.body_length == 0, "empty body round-trips");
	is_str(s.m.remote_addr, "-", "unparseable remote address not copied");
	free(s.data);
	free(body);
}

static void
test_failures(void)
{
	char err[256], path[PATH_MAX];
	const char *sp;
	struct stat st;
	int fd;

	/* A missing spool_dir is an error, and is not created. */
	snprintf(path, sizeof path, "%s/missing", base);
	err[0] = '\0';
	is_int(store(path, TASK, body_a, LEN(body_a), NULL, 0, err, sizeof err), SPOOL_ERROR,
	    "missing spool_dir: SPOOL_ERROR");
	ok(strstr(err, path) != NULL, "error names the spool_dir: %s", err);
	ok(stat(path, &st) < 0 && errno == ENOENT, "missing spool_dir not created");

	snprintf(path, sizeof path, "%s/plainfile", base);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	close(fd);
	is_int(store(path, TASK, body_a, LEN(body_a), NULL, 0, err, sizeof err), SPOOL_ERROR,
	    "spool_dir a regular file: SPOOL_ERROR");

	/* Below min_free: SPOOL_FULL, and nothing visible. */
	sp = fresh("full");
	err[0] = '\0';
	is_int(store(sp, TASK, body_a, LEN(body_a), NULL, LLONG_MAX, err, sizeof err), SPOOL_FULL,
	    "min_free larger than the disk: SPOOL_FULL");
	ok(strstr(err, "min_free") != NULL, "error says why: %s", err);
	ok(count(sp, "new") <= 0 && count(sp, "tmp") <= 0, "nothing stored when full");
	{
		struct statvfs v;

		if (statvfs(sp, &v) == 0) {
			long long avail = (long long)v.f_bavail * (long long)v.f_frsize;

			is_int(store(sp, TASK, body_a, LEN(body_a), NULL, avail + (1LL << 30), err,
			    sizeof err), SPOOL_FULL, "min_free 1 GiB above the free space: SPOOL_FULL");
			is_int(store(sp, TASK, body_a, LEN(body_a), NULL, 1 << 20, err, sizeof err),
			    SPOOL_STORED, "min_free 1 MiB: stored");
		} else {
			ok(0, "statvfs %s", sp);
			ok(0, "statvfs %s", sp);
		}
	}

	/* An invalid taskId is refused before anything is touched. */
	{
		static const char *bad[] = { "", "../x", ".hidden", "a/b", "a b", "t\n1",
		    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" };

		sp = fresh("badtask");
		for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
			err[0] = '\0';
			ok(store(sp, bad[i], body_a, LEN(body_a), NULL, 0, err, sizeof err) == SPOOL_ERROR &&
			    strstr(err, "taskId") != NULL, "invalid taskId %zu refused", i);
		}
		ok(count(sp, "new") == -1 && count(sp, "tmp") == -1, "nothing created for invalid taskIds");
	}
}

/* Whether this process can create files in a 0500 directory (root can). */
static bool
permissions_bite(void)
{
	char d[PATH_MAX], f[PATH_MAX + 8];
	int fd;

	snprintf(d, sizeof d, "%s/permprobe", base);
	mkdir(d, 0500);
	snprintf(f, sizeof f, "%s/x", d);
	fd = open(f, O_WRONLY | O_CREAT, 0600);
	if (fd >= 0) {
		close(fd);
		unlink(f);
	}
	rmdir(d);
	return fd < 0;
}

/*
 * In a child as uid/gid nobody: spool_dir not writable, then new/ not
 * writable.  Returns a bit mask of failed checks, or 255 if setuid failed.
 */
static int
unwritable_as_nobody(const char *sp1, const char *sp2)
{
	char err[256];
	int fails = 0;

	if (setgid(65534) < 0 || setuid(65534) < 0 || getuid() != 65534)
		return 255;
	if (store(sp1, TASK, body_a, LEN(body_a), NULL, 0, err, sizeof err) != SPOOL_ERROR)
		fails |= 1;
	if (count(sp1, "new") != -1 || count(sp1, "tmp") != -1)
		fails |= 2;
	if (store(sp2, TASK, body_a, LEN(body_a), NULL, 0, err, sizeof err) != SPOOL_ERROR)
		fails |= 4;
	if (count(sp2, "new") != 0 || count(sp2, "tmp") != 0)
		fails |= 8;
	return fails;
}

static void
test_unwritable(void)
{
	char sp1[PATH_MAX], sp2[PATH_MAX], sub[PATH_MAX + 8], err[256];
	pid_t pid;
	int status;

	snprintf(sp1, sizeof sp1, "%s", fresh("ro1"));
	snprintf(sp2, sizeof sp2, "%s", fresh("ro2"));
	chmod(sp1, 0500);
	if (permissions_bite()) {
		is_int(store(sp1, TASK, body_a, LEN(body_a), NULL, 0, err, sizeof err), SPOOL_ERROR,
		    "spool_dir mode 0500: SPOOL_ERROR");
		ok(count(sp1, "new") == -1, "nothing created in a 0500 spool_dir");
	} else {
		skip("running as root: mode 0500 does not stop writes");
		skip("running as root: mode 0500 does not stop writes");
	}
	if (geteuid() != 0) {
		skip("not root: no uid to switch to for the unwritable-spool test");
		return;
	}
	/* As root, try again as nobody: sp2 has writable tmp/ but read-only new/. */
	chmod(base, 0711);
	chmod(sp1, 0755);
	chmod(sp2, 0777);
	snprintf(sub, sizeof sub, "%s/tmp", sp2);
	mkdir(sub, 0777);
	chmod(sub, 0777);
	snprintf(sub, sizeof sub, "%s/new", sp2);
	mkdir(sub, 0555);
	snprintf(sub, sizeof sub, "%s/old", sp2);
	mkdir(sub, 0555);
	fflush(stdout);
	if ((pid = fork()) == 0)
		_exit(unwritable_as_nobody(sp1, sp2));
	waitpid(pid, &status, 0);
	chmod(base, 0700);
	if (!WIFEXITED(status) || WEXITSTATUS(status) == 255) {
		skip("cannot switch to uid 65534");
		return;
	}
	ok(WEXITSTATUS(status) == 0, "as nobody: unwritable spool_dir and read-only new/ "
	    "give SPOOL_ERROR and leave nothing behind (fail mask %d)", WEXITSTATUS(status));
}

static void
test_health(void)
{
	const char *sp = fresh("health");
	char err[256] = "", path[PATH_MAX];
	long pending = -1;

	ok(spool_health(sp, 0, &pending, err, sizeof err) == 0 && pending == 0,
	    "fresh spool healthy, 0 pending: %s", err);
	ok(count(sp, "new") == -1 && count(sp, "tmp") == -1 && count(sp, "old") == -1,
	    "health creates nothing (no tmp/, new/, old/ yet)");
	store(sp, "t1", body_a, LEN(body_a), NULL, 0, err, sizeof err);
	store(sp, "t2", body_a, LEN(body_a), NULL, 0, err, sizeof err);
	store(sp, "t3", body_a, LEN(body_a), NULL, 0, err, sizeof err);
	store(sp, "t3", body_b, LEN(body_b), NULL, 0, err, sizeof err);
	snprintf(path, sizeof path, "%s/new/.hidden", sp);
	close(open(path, O_WRONLY | O_CREAT, 0600));
	ok(spool_health(sp, 0, &pending, err, sizeof err) == 0, "healthy with entries");
	is_int(pending, 3, "three pending (old/ and dot files not counted)");
	pending = -1;
	ok(spool_health(sp, LLONG_MAX, &pending, err, sizeof err) == -1 && strstr(err, "min_free") != NULL,
	    "below min_free: unhealthy: %s", err);
	snprintf(path, sizeof path, "%s/tmp", sp);
	rmdir(path);
	ok(spool_health(sp, 0, &pending, err, sizeof err) == 0 && count(sp, "tmp") == -1,
	    "tmp/ absent but creatable: healthy, and still absent: %s", err);
	snprintf(path, sizeof path, "%s/old", sp);
	rename(path, strcat(strcpy(err, path), ".d"));
	close(open(path, O_WRONLY | O_CREAT, 0600));
	ok(spool_health(sp, 0, &pending, err, sizeof err) == -1 && strstr(err, "old/") != NULL,
	    "old/ not a directory: unhealthy: %s", err);
	snprintf(path, sizeof path, "%s/nope", base);
	ok(spool_health(path, 0, &pending, err, sizeof err) == -1 && pending == 0,
	    "missing spool_dir: unhealthy, 0 pending");
}

/* A backlog in new/: health reads one bounded batch, not all of it. */
static void
test_health_backlog(void)
{
	const char *sp = fresh("backlog");
	char err[256] = "", path[PATH_MAX];
	long pending = -1;

	store(sp, "first", body_a, LEN(body_a), NULL, 0, err, sizeof err);
	for (int i = 0; i < 2500; i++) {
		snprintf(path, sizeof path, "%s/new/t%d", sp, i);
		close(open(path, O_WRONLY | O_CREAT, 0600));
	}
	ok(spool_health(sp, 0, &pending, err, sizeof err) == 0, "healthy with 2501 pending: %s", err);
	is_int(pending, 1000, "pending is capped at 1000 (\"1000 or more\")");
}

/*
 * An identical repeat takes no lock: with the entry locked elsewhere (as
 * a replacement holds it across its fsyncs) it is answered at once.  A
 * different body still waits for the lock a bounded time: with the lock
 * held, the store fails (503 upstream) instead of hanging.
 */
static void
on_alarm(int sig)
{
	(void)sig;
	static const char msg[] = "not ok - spool_store still waiting for the entry lock after 10 s\n";

	if (write(STDOUT_FILENO, msg, sizeof msg - 1) < 0)
		_exit(2);
	_exit(1);
}

static long
ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

static void
test_lock(void)
{
	const char *sp = fresh("lock");
	char err[256] = "", path[PATH_MAX];
	struct timespec t0;
	enum spool_status st;
	long ms;
	int fd;

	ok(store(sp, TASK, body_a, LEN(body_a), NULL, 0, err, sizeof err) == SPOOL_STORED,
	    "stored once: %s", err);
	snprintf(path, sizeof path, "%s/new/%s", sp, TASK);
	/* flock locks belong to an open file description: this one conflicts. */
	fd = open(path, O_RDONLY);
	ok(fd >= 0 && flock(fd, LOCK_EX) == 0, "entry locked by someone else");
	signal(SIGALRM, on_alarm);
	alarm(10);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	st = store(sp, TASK, body_a, LEN(body_a), NULL, 0, err, sizeof err);
	ms = ms_since(&t0);
	ok(st == SPOOL_DUPLICATE && ms < 500, "identical repeat behind a held lock: SPOOL_DUPLICATE "
	    "at once (%ld ms): %s", ms, st == SPOOL_DUPLICATE ? "" : err);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	st = store(sp, TASK, body_b, LEN(body_b), NULL, 0, err, sizeof err);
	ms = ms_since(&t0);
	alarm(0);
	ok(st == SPOOL_ERROR && strstr(err, "lock") != NULL, "different body behind a held lock: "
	    "SPOOL_ERROR: %s", err);
	ok(ms >= 1500 && ms < 5000, "gave up after about 2 s (%ld ms)", ms);
	ok(count(sp, "tmp") == 0 && count(sp, "old") == 0, "nothing left in tmp/ or old/");
	close(fd);
	ok(store(sp, TASK, body_b, LEN(body_b), NULL, 0, err, sizeof err) == SPOOL_REPLACED,
	    "lock released: the different body replaces the entry: %s", err);
}

/* Replaces the first occurrence of from in buf (len bytes) by to; new length. */
static size_t
edit(char *buf, size_t len, const char *from, const char *to)
{
	char *p = memmem(buf, len, from, strlen(from));
	size_t fl = strlen(from), tl = strlen(to);

	if (p == NULL)
		return 0;
	memmove(p + tl, p + fl, len - (size_t)(p - buf) - fl);
	memcpy(p, to, tl);
	return len - fl + tl;
}

/*
 * Builds a valid entry for body into buf, as an older responder wrote it
 * (with the last-received and duplicates lines it kept up to date on
 * every identical repeat); returns its length.
 */
static size_t
make_entry(char *buf, size_t len, const char *body, size_t blen)
{
	struct entry_meta m;
	int h;

	memset(&m, 0, sizeof m);
	strcpy(m.task_id, TASK);
	m.code = 200;
	strcpy(m.received, "2026-11-27T13:37:52.123456Z");
	entry_set_remote_addr(&m, "2001:db8::7");
	m.signature_verified = true;
	m.body_length = blen;
	sha256_hex(body, blen, m.body_sha256);
	h = entry_format_header(&m, buf, len);
	if (h < 0 || (size_t)h + blen + 100 > len)
		return 0;
	h = (int)edit(buf, (size_t)h, "signature: verified\n", "last-received: "
	    "2026-11-27T13:38:10.000001Z\nsignature: verified\nduplicates: 4\n");
	if (h == 0)
		return 0;
	memcpy(buf + h, body, blen);
	return (size_t)h + blen;
}

static int
parse_buf(const char *buf, size_t len, char *err, size_t errlen)
{
	struct entry_meta m;
	const char *body;

	return entry_parse(buf, len, &m, &body, err, errlen);
}

static void
test_entry(void)
{
	char good[2048], buf[2048], err[128];
	size_t n = make_entry(good, sizeof good, body_a, LEN(body_a)), m2;
	struct entry_meta m;
	const char *body;

	ok(n > 0, "entry formatted");
	ok(entry_parse(good, n, &m, &body, err, sizeof err) == 0, "well-formed entry parses");
	ok(m.signature_verified && m.duplicates == 4 && strcmp(m.remote_addr, "2001:db8::7") == 0 &&
	    strcmp(m.received, "2026-11-27T13:37:52.123456Z") == 0 && m.code == 200,
	    "header fields round-trip, an older entry's duplicates read");
	{
		char hdr[ENTRY_HEADER_MAX];
		int hl = entry_format_header(&m, hdr, sizeof hdr);

		ok(hl > 0 && memmem(hdr, (size_t)hl, "duplicates", 10) == NULL &&
		    memmem(hdr, (size_t)hl, "last-received", 13) == NULL,
		    "entry_format_header writes neither duplicates nor last-received");
	}
	ok(body == good + n - LEN(body_a) && memcmp(body, body_a, LEN(body_a)) == 0,
	    "body points at the stored bytes");

	ok(parse_buf(good, n - 1, err, sizeof err) == -1, "truncated body rejected");
	memcpy(buf, good, n);
	buf[n] = 'x';
	ok(parse_buf(buf, n + 1, err, sizeof err) == -1, "extra byte after the body rejected");
	memcpy(buf, good, n);
	buf[n - 3] ^= 1;
	ok(parse_buf(buf, n, err, sizeof err) == -1 && strstr(err, "SHA-256") != NULL,
	    "flipped body bit: hash mismatch: %s", err);
	memcpy(buf, good, n);
	buf[0] = 'X';
	ok(parse_buf(buf, n, err, sizeof err) == -1 && strstr(err, "not a callback entry") != NULL,
	    "missing magic rejected");
	memcpy(buf, good, n);
	ok(parse_buf(buf, edit(buf, n, "ENTRY 1", "ENTRY 2"), err, sizeof err) == -1,
	    "other format version rejected");
	ok(parse_buf(good, 0, err, sizeof err) == -1, "empty data rejected");
	ok(parse_buf(good, strlen(ENTRY_MAGIC), err, sizeof err) == -1, "magic without newline rejected");
	ok(parse_buf(good, 60, err, sizeof err) == -1 && strstr(err, "not terminated") != NULL,
	    "cut inside the header rejected");
	memcpy(buf, good, n);
	m2 = edit(buf, n, "body-length:", "body-lengthX:");
	ok(parse_buf(buf, m2, err, sizeof err) == -1 && strstr(err, "incomplete") != NULL,
	    "body-length missing: header incomplete");
	memcpy(buf, good, n);
	m2 = edit(buf, n, "body-sha256:", "sha:");
	ok(parse_buf(buf, m2, err, sizeof err) == -1, "body-sha256 missing rejected");
	memcpy(buf, good, n);
	m2 = edit(buf, n, "task-id: " TASK, "task-id: ../x");
	ok(parse_buf(buf, m2, err, sizeof err) == -1, "task-id breaking the rule rejected");
	memcpy(buf, good, n);
	m2 = edit(buf, n, "code: 200", "code 200");
	ok(parse_buf(buf, m2, err, sizeof err) == -1, "header line without ': ' rejected");
	memcpy(buf, good, n);
	m2 = edit(buf, n, "duplicates: 4\n", "duplicates: 4\nfuture-field: whatever\n");
	ok(parse_buf(buf, m2, err, sizeof err) == 0, "unknown header lines ignored");
	/* Numbers are parsed strictly (sscanf took all of these). */
	{
		static const char *bad[][2] = {
			{ "code: 200", "code: 200junk" }, { "code: 200", "code: +200" },
			{ "code: 200", "code:  200" }, { "duplicates: 4", "duplicates: -4" },
			{ "duplicates: 4", "duplicates: 4x" }, { "duplicates: 4", "duplicates: 0x4" },
		};
		char bl[64];

		for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
			memcpy(buf, good, n);
			m2 = edit(buf, n, bad[i][0], bad[i][1]);
			ok(parse_buf(buf, m2, err, sizeof err) == -1, "'%s' rejected", bad[i][1]);
		}
		memcpy(buf, good, n);
		snprintf(bl, sizeof bl, "body-length: %zu", LEN(body_a));
		m2 = edit(buf, n, bl, strcat(strcpy(err, bl), " "));
		ok(parse_buf(buf, m2, err, sizeof err) == -1, "body-length with a trailing blank rejected");
		memcpy(buf, good, n);
		m2 = edit(buf, n, "code: 200", "code: -1");
		ok(parse_buf(buf, m2, err, sizeof err) == 0, "a negative code (as the sender gave it) parses");
	}

	{
		struct entry_meta fm = m;
		char small[64];

		ok(entry_format_header(&fm, small, sizeof small) == -1, "header too long for buffer: -1");
	}
	entry_set_remote_addr(&m, "203.0.113.9");
	is_str(m.remote_addr, "203.0.113.9", "IPv4 remote address kept");
	entry_set_remote_addr(&m, "2001:db8::1");
	is_str(m.remote_addr, "2001:db8::1", "IPv6 remote address kept");
	entry_set_remote_addr(&m, "1.2.3.4\nx: y");
	is_str(m.remote_addr, "-", "address with a newline replaced by -");
	entry_set_remote_addr(&m, NULL);
	is_str(m.remote_addr, "-", "NULL address is -");
	entry_set_remote_addr(&m, "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255%eth0-long-zone-name");
	is_str(m.remote_addr, "-", "over-long address is -");
}

#define WRITERS	8
#define ROUNDS	50

/* What a writer reports: the status of each of its stores. */
struct report {
	int id;
	int st[ROUNDS];		/* enum spool_status; fits a pipe's atomic write */
};

/* The body of writer id's store i: mostly one of two shared bodies, sometimes its own. */
static void
race_body(char *buf, size_t len, int id, int i)
{
	if (i % 5 == 4)
		snprintf(buf, len, "{\"unique\":\"%d-%d\"}", id, i);
	else
		snprintf(buf, len, "{\"shared\":%d}", (i / 10) % 2);
}

/* One writer: ROUNDS stores of TASK; writes its report to fd. */
static void
writer(const char *sp, int id, int fd)
{
	struct report rep = { .id = id };
	char body[128], err[256];

	for (int i = 0; i < ROUNDS; i++) {
		race_body(body, sizeof body, id, i);
		rep.st[i] = (int)store_sync(sp, TASK, body, strlen(body), true, err, sizeof err);
	}
	if (write(fd, &rep, sizeof rep) != (ssize_t)sizeof rep)
		_exit(2);
	_exit(0);
}

/* The bodies of every entry in spool's new/ and old/, NUL-terminated; n of them. */
static char **
all_bodies(const char *spool, int *n, int *damaged)
{
	static const char *subs[] = { "new", "old" };
	char path[PATH_MAX];
	char **v = NULL;
	struct dirent *de;
	struct stored s;
	DIR *d;

	*n = *damaged = 0;
	for (size_t k = 0; k < 2; k++) {
		snprintf(path, sizeof path, "%s/%s", spool, subs[k]);
		if ((d = opendir(path)) == NULL)
			continue;
		while ((de = readdir(d)) != NULL) {
			char **nv;

			if (de->d_name[0] == '.')
				continue;
			load(spool, subs[k], de->d_name, &s);
			if (s.parsed != 0 || (nv = realloc(v, (size_t)(*n + 1) * sizeof *v)) == NULL) {
				(*damaged)++;
				free(s.data);
				continue;
			}
			v = nv;
			v[(*n)++] = strndup(s.body, s.m.body_length);
			free(s.data);
		}
		closedir(d);
	}
	return v;
}

static bool
has_body(char **v, int n, const char *body)
{
	for (int i = 0; i < n; i++)
		if (v[i] != NULL && strcmp(v[i], body) == 0)
			return true;
	return false;
}

static void
free_bodies(char **v, int n)
{
	for (int i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void
test_concurrent(void)
{
	const char *sp = fresh("race");
	int fds[2], total[SPOOL_ERROR + 1] = { 0 };
	int exits = 0, reports = 0, nb, damaged, missing = 0;
	char spbuf[PATH_MAX], body[128];
	struct report rep[WRITERS];
	struct stored s;
	char **bodies;

	snprintf(spbuf, sizeof spbuf, "%s", sp);
	if (pipe(fds) < 0) {
		ok(0, "pipe");
		return;
	}
	fflush(stdout);
	for (int i = 0; i < WRITERS; i++)
		if (fork() == 0) {
			close(fds[0]);
			writer(spbuf, i, fds[1]);
		}
	close(fds[1]);
	while (reports < WRITERS &&
	    read(fds[0], &rep[reports], sizeof rep[0]) == (ssize_t)sizeof rep[0])
		reports++;
	close(fds[0]);
	for (int i = 0; i < WRITERS; i++) {
		int st;

		if (wait(&st) > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0)
			exits++;
	}
	is_int(exits, WRITERS, "every writer finished");
	is_int(reports, WRITERS, "every writer reported");
	for (int w = 0; w < reports; w++)
		for (int i = 0; i < ROUNDS; i++)
			if (rep[w].st[i] >= 0 && rep[w].st[i] <= SPOOL_ERROR)
				total[rep[w].st[i]]++;
	ok(total[SPOOL_STORED] + total[SPOOL_DUPLICATE] + total[SPOOL_REPLACED] == WRITERS * ROUNDS,
	    "stored + duplicate + replaced == %d (stored %d, duplicate %d, replaced %d, full %d, error %d)",
	    WRITERS * ROUNDS, total[SPOOL_STORED], total[SPOOL_DUPLICATE], total[SPOOL_REPLACED],
	    total[SPOOL_FULL], total[SPOOL_ERROR]);
	is_int(total[SPOOL_STORED], 1, "exactly one writer created the entry");
	is_int(count(sp, "new"), 1, "new/ holds exactly one entry");
	is_int(count(sp, "tmp"), 0, "tmp/ is empty");
	load(spbuf, "new", TASK, &s);
	ok(s.parsed == 0, "the entry in new/ parses");
	free(s.data);
	is_int(count(spbuf, "old"), total[SPOOL_REPLACED], "one old/ entry per replacement");

	/* No acknowledged callback lost: each body answered 200 is in new/ or old/. */
	bodies = all_bodies(spbuf, &nb, &damaged);
	is_int(damaged, 0, "every entry in new/ and old/ parses");
	for (int w = 0; w < reports; w++)
		for (int i = 0; i < ROUNDS; i++) {
			race_body(body, sizeof body, rep[w].id, i);
			if (rep[w].st[i] != SPOOL_FULL && rep[w].st[i] != SPOOL_ERROR &&
			    !has_body(bodies, nb, body)) {
				if (missing++ == 0)
					printf("# acknowledged, not in the spool: %s\n", body);
			}
		}
	is_int(missing, 0, "every acknowledged body is in new/ or old/");
	free_bodies(bodies, nb);
}

#define REPEATERS 32
#define REPEATS 20

/*
 * 32 processes repeat one stored callback at once while one more sends a
 * different callback for the same task in the middle of it: every store
 * is answered, the different callback replaces the entry exactly as it
 * would alone, and nothing answered is lost.
 */
static void
test_repeats_and_one_different(void)
{
	const char *sp = fresh("repeats");
	char spbuf[PATH_MAX], err[256];
	int fds[2], got[SPOOL_ERROR + 1] = { 0 }, st, nb, damaged, exits = 0, v;
	char **bodies;

	snprintf(spbuf, sizeof spbuf, "%s", sp);
	ok(store(sp, TASK, body_a, LEN(body_a), NULL, 0, err, sizeof err) == SPOOL_STORED,
	    "the callback stored once: %s", err);
	if (pipe(fds) < 0) {
		ok(0, "pipe");
		return;
	}
	fflush(stdout);
	for (int i = 0; i <= REPEATERS; i++)
		if (fork() == 0) {
			close(fds[0]);
			if (i == REPEATERS) {	/* the different one, once the repeats run */
				usleep(2000);
				v = (int)store_sync(spbuf, TASK, body_b, LEN(body_b), true, err, sizeof err);
				_exit(write(fds[1], &v, sizeof v) == (ssize_t)sizeof v ? 0 : 2);
			}
			for (int k = 0; k < REPEATS; k++) {
				v = (int)store_sync(spbuf, TASK, body_a, LEN(body_a), true, err, sizeof err);
				if (write(fds[1], &v, sizeof v) != (ssize_t)sizeof v)
					_exit(2);
			}
			_exit(0);
		}
	close(fds[1]);
	while (read(fds[0], &v, sizeof v) == (ssize_t)sizeof v)
		if (v >= 0 && v <= SPOOL_ERROR)
			got[v]++;
	close(fds[0]);
	for (int i = 0; i <= REPEATERS; i++)
		if (wait(&st) > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0)
			exits++;
	is_int(exits, REPEATERS + 1, "every writer finished");
	ok(got[SPOOL_DUPLICATE] + got[SPOOL_REPLACED] == REPEATERS * REPEATS + 1 &&
	    got[SPOOL_STORED] == 0, "%d stores, each a duplicate or a replacement (duplicate %d, "
	    "replaced %d, stored %d, full %d, error %d)", REPEATERS * REPEATS + 1,
	    got[SPOOL_DUPLICATE], got[SPOOL_REPLACED], got[SPOOL_STORED], got[SPOOL_FULL],
	    got[SPOOL_ERROR]);
	ok(got[SPOOL_REPLACED] >= 1, "the different callback replaced the entry (%d replacements: "
	    "a repeat after it replaces it back)", got[SPOOL_REPLACED]);
	is_int(count(sp, "new"), 1, "new/ holds one entry");
	is_int(count(sp, "old"), got[SPOOL_REPLACED], "one old/ entry per replacement");
	is_int(count(sp, "tmp"), 0, "tmp/ is empty");
	bodies = all_bodies(spbuf, &nb, &damaged);
	is_int(damaged, 0, "every entry parses");
	ok(has_body(bodies, nb, body_b), "the different callback is kept");
	ok(has_body(bodies, nb, body_a), "the repeated callback is kept");
	free_bodies(bodies, nb);
}

/*
 * What another user may leave in new/ (the responder's user can write it,
 * SECURITY.md): a FIFO, a symbolic link, a directory.  The spooler's take
 * must neither hang nor follow them, and keeps them aside in bad/.
 */
static void
test_take_planted(void)
{
	static const char *names[] = { "t_fifo", "t_link", "t_dir" };
	const char *sp = fresh("planted");
	char path[PATH_MAX], err[256];
	struct spool_entry e;

	if (spool_prepare(sp, true, err, sizeof err) < 0) {
		ok(0, "spool_prepare: %s", err);
		return;
	}
	snprintf(path, sizeof path, "%s/new/t_fifo", sp);
	ok(mkfifo(path, 0660) == 0, "a FIFO in new/");
	snprintf(path, sizeof path, "%s/new/t_link", sp);
	ok(symlink("/etc/passwd", path) == 0, "a symbolic link in new/");
	snprintf(path, sizeof path, "%s/new/t_dir", sp);
	ok(mkdir(path, 0770) == 0, "a directory in new/");
	alarm(10);	/* a take that blocks on the FIFO fails the test, not hangs it */
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		enum spool_read r = spool_take(sp, names[i], &e, err, sizeof err);

		ok(r == SPOOL_READ_DAMAGED, "%s: taken as damaged, at once (%d: %s)", names[i],
		    (int)r, err);
		spool_entry_free(&e);
		ok(spool_take_refuse(sp, names[i], err, sizeof err) == 0, "%s: kept in bad/", names[i]);
	}
	alarm(0);
	is_int(count(sp, "new") + count(sp, "taking"), 0, "new/ and taking/ are empty");
	is_int(count(sp, "bad"), 3, "bad/ holds the three");
}

int
main(void)
{
	tmptree_make(base);
	test_store_repeat_replace();
	test_big_body();
	test_failures();
	test_unwritable();
	test_health();
	test_health_backlog();
	test_lock();
	test_unmarked();
	test_entry();
	test_concurrent();
	test_repeats_and_one_different();
	test_take_planted();
	tmptree_remove(base);

	printf("# again, with named temp files only (file systems without O_TMPFILE)\n");
	named_only = true;
	strcpy(base, "/tmp/veo-test-spool.XXXXXX");
	tmptree_make(base);
	test_store_repeat_replace();
	test_big_body();
	test_unmarked();
	test_concurrent();
	test_repeats_and_one_different();
	tmptree_remove(base);
	return done_testing();
}
