/*
 * test_claim: task claims and the sweep lock (claim.h).  A claim is taken
 * once; other processes are refused while its holder lives and refreshes
 * it; it is stale when its holder on this host is gone, when its PID now
 * names a process with another start time, or when nobody refreshed it for
 * CLAIM_STALE_AFTER seconds; only its holder releases it.
 *
 * A process sees its own live claim as held too, so every "second
 * claimer" here is a forked child.  Children end with _exit() and report
 * through their exit status or a pipe.
 *
 * Race windows are forced, not hoped for: this program defines rename(2)
 * and link(2) itself, so claim.c's calls come here; in one child ("the
 * stopped actor") a chosen call stops before and after it runs until the
 * test lets it go on, and other processes act in between.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "claim.h"
#include "fsutil.h"
#include "spool.h"
#include "tap.h"
#include "tmptree.h"

#define TID	"veo_task_claim1"

static char base[] = "/tmp/veo-test-claim.XXXXXX";

/* A fresh spool, prepared for the spooler, under base. */
static const char *
fresh(const char *name)
{
	return tmptree_spool(base, name);
}

/* This host's name as claims spell it: '/', ' ' and '\n' replaced by '_'. */
static void
host(char *buf, size_t len)
{
	if (gethostname(buf, len - 1) < 0)
		snprintf(buf, len, "localhost");
	buf[len - 1] = '\0';
	for (char *p = buf; *p; p++)
		if (*p == '/' || *p == ' ' || *p == '\n')
			*p = '_';
}

/* Field 22 of /proc/<pid>/stat: when the process started, in clock ticks. */
static unsigned long long
start_time(pid_t pid)
{
	char path[64], buf[1024], *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	if ((p = strrchr(buf, ')')) == NULL)
		return 0;
	for (int field = 3; field <= 22 && p != NULL; field++)
		p = strchr(p + 1, ' ');
	return p ? strtoull(p + 1, NULL, 10) : 0;
}

/* "host pid starttime\n" for pid. */
static void
holder_line(char *buf, size_t len, pid_t pid, unsigned long long started)
{
	char h[64];

	host(h, sizeof h);
	snprintf(buf, len, "%s %ld %llu\n", h, (long)pid, started);
}

static void
claim_path(char *buf, size_t len, const char *sp, const char *task)
{
	snprintf(buf, len, "%s/claim/%s", sp, task);
}

/* Puts a claim with the given line in place, as another holder would. */
static void
write_claim(const char *sp, const char *task, const char *line)
{
	char path[PATH_MAX];
	int fd;

	claim_path(path, sizeof path, sp, task);
	unlink(path);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0660)) < 0 ||
	    write_all(fd, line, strlen(line)) < 0 || close(fd) < 0)
		printf("# write_claim %s: %s\n", path, strerror(errno));
}

/* The claim's content into buf ("" when there is none). */
static const char *
read_claim(const char *sp, const char *task, char *buf, size_t len)
{
	char path[PATH_MAX];
	ssize_t n = -1;
	int fd;

	claim_path(path, sizeof path, sp, task);
	if ((fd = open(path, O_RDONLY)) >= 0) {
		n = read(fd, buf, len - 1);
		close(fd);
	}
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static bool
claim_exists(const char *sp, const char *task)
{
	char path[PATH_MAX];
	struct stat st;

	claim_path(path, sizeof path, sp, task);
	return lstat(path, &st) == 0;
}

/* Sets the claim's mtime to age seconds ago. */
static void
age_claim(const char *sp, const char *task, long age)
{
	char path[PATH_MAX];
	struct timespec ts[2];

	claim_path(path, sizeof path, sp, task);
	clock_gettime(CLOCK_REALTIME, &ts[0]);
	ts[0].tv_sec -= age;
	ts[1] = ts[0];
	if (utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW) < 0)
		printf("# utimensat %s: %s\n", path, strerror(errno));
}

/* Seconds since the claim's mtime; -1 when there is none. */
static long
claim_age(const char *sp, const char *task)
{
	char path[PATH_MAX];
	struct stat st;

	claim_path(path, sizeof path, sp, task);
	return stat(path, &st) == 0 ? (long)(time(NULL) - st.st_mtime) : -1;
}

/* Take-over turns of TID left in claim/: claim/.<taskId>.<level> (claim.c). */
static int
turns_left(const char *sp)
{
	char name[64];
	int n = 0;

	for (int level = 1; level <= 16; level++) {
		snprintf(name, sizeof name, "." TID ".%d", level);
		n += claim_exists(sp, name);
	}
	return n;
}

/* ---- rename(2) and link(2), stoppable ---- */

/* In a stopped actor: the number of the rename-or-link call that stops
 * (0: none), and its pipes to the test. */
static int stop_at, stop_seen, stop_out = -1, stop_in = -1;

/* Says "stopped" on stop_out and waits for a byte on stop_in. */
static void
stop_here(void)
{
	int saved = errno;
	char c = 's';

	if (write(stop_out, &c, 1) != 1 || read(stop_in, &c, 1) != 1)
		_exit(99);
	errno = saved;
}

static bool
stops_now(void)
{
	return stop_at > 0 && ++stop_seen == stop_at;
}

int
rename(const char *from, const char *to)
{
	bool stop = stops_now();
	int rc;

	if (stop)
		stop_here();
	rc = renameat(AT_FDCWD, from, AT_FDCWD, to);
	if (stop)
		stop_here();
	return rc;
}

int
link(const char *from, const char *to)
{
	bool stop = stops_now();
	int rc;

	if (stop)
		stop_here();
	rc = linkat(AT_FDCWD, from, AT_FDCWD, to, 0);
	if (stop)
		stop_here();
	return rc;
}

/* A child that calls claim_task() once, says the result and lives on. */
struct actor {
	pid_t pid;
	int result;	/* read: the claim_task() result, one byte */
	int live;	/* write: closing it ends the child */
	int stopped;	/* read: a byte at each stop (a stopped actor) */
	int go;		/* write: a byte ends a stop */
};

/* One byte from fd within 10 s; -1 otherwise. */
static int
byte_from(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	unsigned char c;

	if (poll(&p, 1, 10000) != 1 || read(fd, &c, 1) != 1)
		return -1;
	return c;
}

/* Starts an actor claiming task; with stop > 0 its stop-th rename or link stops. */
static int
actor_start(struct actor *a, const char *sp, const char *task, int stop)
{
	int res[2], live[2], st[2], go[2];

	if (pipe(res) < 0 || pipe(live) < 0 || pipe(st) < 0 || pipe(go) < 0)
		return -1;
	fflush(stdout);
	if ((a->pid = fork()) == 0) {
		char err[256], r, c;

		close(res[0]), close(live[1]), close(st[0]), close(go[1]);
		stop_at = stop, stop_out = st[1], stop_in = go[0];
		r = (char)claim_task(sp, task, err, sizeof err);
		if (write(res[1], &r, 1) != 1)
			_exit(1);
		while (read(live[0], &c, 1) > 0)
			;
		_exit(0);
	}
	close(res[1]), close(live[0]), close(st[1]), close(go[0]);
	a->result = res[0], a->live = live[1], a->stopped = st[0], a->go = go[1];
	return a->pid > 0 ? 0 : -1;
}

static void
actor_go(struct actor *a)
{
	if (write(a->go, "g", 1) != 1)
		printf("# actor_go: %s\n", strerror(errno));
}

static void
actor_end(struct actor *a)
{
	close(a->live), close(a->go);
	waitpid(a->pid, NULL, 0);
	close(a->result), close(a->stopped);
}

/* Entries of spool/tmp (claims are made there first; none may stay). */
static int
tmp_entries(const char *sp)
{
	return tmptree_count(sp, "tmp", "", NULL, 0);
}

/* What a child process gets from claim_task() and claim_held(), as an exit status. */
enum { CHILD_OK = 10, CHILD_BUSY = 11, CHILD_ERROR = 12 };

static int
claim_in_child(const char *sp, const char *task)
{
	pid_t pid;
	int status;

	fflush(stdout);
	if ((pid = fork()) == 0) {
		char err[256];
		enum claim_result r = claim_task(sp, task, err, sizeof err);

		_exit(r == CLAIM_OK ? CHILD_OK : r == CLAIM_BUSY ? CHILD_BUSY : CHILD_ERROR);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

static int
held_in_child(const char *sp, const char *task)
{
	pid_t pid;
	int status;

	fflush(stdout);
	if ((pid = fork()) == 0)
		_exit(claim_held(sp, task) ? 1 : 0);
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

static int
release_in_child(const char *sp, const char *task)
{
	pid_t pid;
	int status;

	fflush(stdout);
	if ((pid = fork()) == 0) {
		claim_release(sp, task);
		_exit(0);
	}
	return pid > 0 && waitpid(pid, &status, 0) == pid ? 0 : -1;
}

/* A live process of ours that only waits: the holder of a claim we write for it. */
struct sleeper {
	pid_t pid;
	int fd;		/* closing it lets the process exit */
};

static int
sleeper_start(struct sleeper *s)
{
	int p[2];
	char c;

	if (pipe(p) < 0)
		return -1;
	fflush(stdout);
	if ((s->pid = fork()) == 0) {
		close(p[1]);
		while (read(p[0], &c, 1) > 0)
			;
		_exit(0);
	}
	close(p[0]);
	s->fd = p[1];
	return s->pid > 0 ? 0 : -1;
}

static void
sleeper_stop(struct sleeper *s)
{
	close(s->fd);
	waitpid(s->pid, NULL, 0);
}

/* A PID that has just ended (reaped), with the start time it had. */
static pid_t
dead_pid(unsigned long long *started)
{
	struct sleeper s;

	if (sleeper_start(&s) < 0)
		return -1;
	*started = start_time(s.pid);
	sleeper_stop(&s);
	return s.pid;
}

/* ---- tests ---- */

static void
test_claim_once(void)
{
	const char *sp = fresh("once");
	char err[256] = "", line[160], mine[160];

	is_int(claim_task(sp, TID, err, sizeof err), CLAIM_OK, "first claim: CLAIM_OK");
	holder_line(mine, sizeof mine, getpid(), start_time(getpid()));
	is_str(read_claim(sp, TID, line, sizeof line), mine, "claim file is \"host pid starttime\\n\"");
	ok(claim_held(sp, TID), "claim_held: our claim is held");
	is_int(tmp_entries(sp), 0, "tmp/ empty after the claim");

	/* Another process is refused while we live and refresh. */
	is_int(claim_in_child(sp, TID), CHILD_BUSY, "a second process: CLAIM_BUSY");
	is_int(held_in_child(sp, TID), 1, "another process sees it held");
	is_str(read_claim(sp, TID, line, sizeof line), mine, "the claim is still ours");
	/* Our own live claim is not stale to us either: no second claim. */
	is_int(claim_task(sp, TID, err, sizeof err), CLAIM_BUSY, "the same process again: CLAIM_BUSY");

	/* Release: only the holder's counts. */
	release_in_child(sp, TID);
	ok(claim_exists(sp, TID), "claim_release by another process leaves our claim");
	claim_release(sp, TID);
	ok(!claim_exists(sp, TID), "claim_release by the holder removes it");
	ok(!claim_held(sp, TID), "claim_held: false once released");
	is_int(claim_in_child(sp, TID), CHILD_OK, "after release another process gets it");
	/* That child has exited: its claim is stale at once, and ours to take. */
	is_int(claim_task(sp, TID, err, sizeof err), CLAIM_OK, "the exited child's claim taken over");
	claim_release(sp, TID);
	claim_release(sp, TID);
	ok(!claim_exists(sp, TID), "releasing twice is harmless");

	/* Claims of different tasks are independent. */
	ok(claim_task(sp, "t_a", err, sizeof err) == CLAIM_OK &&
	    claim_task(sp, "t_b", err, sizeof err) == CLAIM_OK, "two tasks claimed at once");
	claim_release(sp, "t_a");
	ok(!claim_exists(sp, "t_a") && claim_exists(sp, "t_b"), "release touches only its task");
	claim_release(sp, "t_b");
	is_int(tmp_entries(sp), 0, "tmp/ empty at the end");
}

static void
test_release_only_ours(void)
{
	const char *sp = fresh("release");
	char line[160], got[160], h[64];
	struct sleeper s;

	/* Another host's claim. */
	write_claim(sp, TID, "other.example.net 4242 99\n");
	claim_release(sp, TID);
	ok(claim_exists(sp, TID), "another host's claim is not released");

	/* A live process's claim on this host. */
	if (sleeper_start(&s) == 0) {
		holder_line(line, sizeof line, s.pid, start_time(s.pid));
		write_claim(sp, TID, line);
		claim_release(sp, TID);
		is_str(read_claim(sp, TID, got, sizeof got), line, "another live process's claim is not released");
		sleeper_stop(&s);
	} else {
		ok(0, "fork");
	}

	/* Our PID but another start time: a former holder whose PID we reuse. */
	holder_line(line, sizeof line, getpid(), start_time(getpid()) + 1);
	write_claim(sp, TID, line);
	claim_release(sp, TID);
	ok(claim_exists(sp, TID), "a claim with our PID but another start time is not released");

	/* Our own line, written by hand: released. */
	holder_line(line, sizeof line, getpid(), start_time(getpid()));
	write_claim(sp, TID, line);
	claim_release(sp, TID);
	ok(!claim_exists(sp, TID), "a claim with our exact line is released");

	/* Nothing there: nothing happens. */
	claim_release(sp, "t_none");
	ok(!claim_exists(sp, "t_none"), "releasing a missing claim creates nothing");
	host(h, sizeof h);
	ok(strchr(h, '/') == NULL && strchr(h, ' ') == NULL, "host name has no '/' or ' ': %s", h);
}

static void
test_stale_dead_pid(void)
{
	const char *sp = fresh("dead");
	char err[256], line[160], got[160], mine[160];
	unsigned long long started = 0;
	pid_t pid = dead_pid(&started);

	ok(pid > 0 && started != 0, "a process started and ended (pid %ld)", (long)pid);
	holder_line(line, sizeof line, pid, started);
	write_claim(sp, TID, line);
	ok(!claim_held(sp, TID), "a claim of a dead PID on this host is stale");
	is_int(held_in_child(sp, TID), 0, "another process sees it stale too");
	is_int(claim_task(sp, TID, err, sizeof err), CLAIM_OK, "a stale claim is taken over: CLAIM_OK");
	holder_line(mine, sizeof mine, getpid(), start_time(getpid()));
	is_str(read_claim(sp, TID, got, sizeof got), mine, "the claim is now ours");
	is_int(tmp_entries(sp), 0, "nothing left in tmp/ by the take-over");
	claim_release(sp, TID);

	/* An older claim without a start time: a dead PID is still stale. */
	*strrchr(line, ' ') = '\0';
	strcat(line, "\n");
	write_claim(sp, TID, line);
	ok(!claim_held(sp, TID), "\"host pid\" of a dead PID: stale");
	is_int(claim_task(sp, TID, err, sizeof err), CLAIM_OK, "and taken over");
	claim_release(sp, TID);
}

static void
test_stale_reused_pid(void)
{
	const char *sp = fresh("reused");
	char err[256] = "", line[160], got[160], mine[160];
	struct sleeper s;
	unsigned long long started;

	if (sleeper_start(&s) < 0) {
		ok(0, "fork");
		return;
	}
	started = start_time(s.pid);
	ok(started != 0, "start time of a live process read");

	/* Live PID, right start time: held, refused, untouched. */
	holder_line(line, sizeof line, s.pid, started);
	write_claim(sp, TID, line);
	ok(claim_held(sp, TID), "live process with its start time: held");
	is_int(claim_task(sp, TID, err, sizeof err), CLAIM_BUSY, "live holder: CLAIM_BUSY");
	is_str(read_claim(sp, TID, got, sizeof got), line, "live holder's claim untouched");

	/* Same live PID, other start times: that PID is another process now. */
	holder_line(line, sizeof line, s.pid, started - 1);
	write_claim(sp, TID, line);
	ok(!claim_held(sp, TID), "live PID with an earlier start time (PID reused): stale");
	holder_line(line, sizeof line, s.pid, started + 12345);
	write_claim(sp, TID, line);
	ok(!claim_held(sp, TID), "live PID with another start time: stale");
	is_int(claim_task(sp, TID, err, sizeof err), CLAIM_OK, "reused PID's claim taken over: CLAIM_OK");
	holder_line(mine, sizeof mine, getpid(), start_time(getpid()));
	is_str(read_claim(sp, TID, got, sizeof got), mine, "the claim is now ours");
	claim_release(sp, TID);

	/* The live holder ends: its claim turns stale at once. */
	holder_line(line, sizeof line, s.pid, started);
	write_claim(sp, TID, line);
	ok(claim_held(sp, TID), "held while the holder lives");
	sleeper_stop(&s);
	ok(!claim_held(sp, TID), "stale as soon as the holder has ended");
	is_int(claim_in_child(sp, TID), CHILD_OK, "another process takes it over");
	is_int(tmp_entries(sp), 0, "tmp/ empty");
}

static void
test_stale_unrefreshed(void)
{
	const char *sp = fresh("aged");
	char err[256] = "", path[PATH_MAX];
	struct stat st;

	/* Another host's claim: only its refresh tells. */
	write_claim(sp, TID, "other.example.net 4242 99\n");
	ok(claim_held(sp, TID), "another host's fresh claim: held");
	is_int(claim_task(sp, TID, err, sizeof err), CLAIM_BUSY, "another host's fresh claim: CLAIM_BUSY");
	age_claim(sp, TID, CLAIM_STALE_AFTER - 30);
	ok(claim_held(sp, TID), "refreshed %d s ago: still held", CLAIM_STALE_AFTER - 30);
	age_claim(sp, TID, CLAIM_STALE_AFTER + 5);
	ok(!claim_held(sp, TID), "not refreshed for %d s: stale", CLAIM_STALE_AFTER + 5);
	is_int(claim_task(sp, TID, err, sizeof err), CLAIM_OK, "an unrefreshed claim is taken over");

	/* Our own live claim goes stale too when we fail to refresh it. */
	age_claim(sp, TID, CLAIM_STALE_AFTER + 5);
	ok(!claim_held(sp, TID), "our live claim, unrefreshed: stale");
	is_int(claim_in_child(sp, TID), CHILD_OK, "another process takes our unrefreshed claim");
	claim_release(sp, TID);
	ok(claim_exists(sp, TID), "our claim_release leaves the claim that replaced ours");
	claim_path(path, sizeof path, sp, TID);
	unlink(path);

	/* claim_touch refreshes. */
	is_int(claim_task(sp, TID, err, sizeof err), CLAIM_OK, "claimed again");
	age_claim(sp, TID, CLAIM_STALE_AFTER + 100);
	ok(claim_age(sp, TID) >= CLAIM_STALE_AFTER + 100, "mtime set %d s back", CLAIM_STALE_AFTER + 100);
	claim_touch(sp, TID);
	ok(claim_age(sp, TID) >= 0 && claim_age(sp, TID) <= 2, "claim_touch: mtime now");
	ok(claim_held(sp, TID), "claim_touch: held again");
	is_int(claim_in_child(sp, TID), CHILD_BUSY, "refreshed: another process is refused");
	claim_release(sp, TID);

	/* claim_touch creates nothing, and follows no link. */
	claim_touch(sp, "t_none");
	ok(!claim_exists(sp, "t_none"), "claim_touch of a missing claim creates nothing");
	{
		char target[PATH_MAX];

		snprintf(target, sizeof target, "%s/target", sp);
		close(open(target, O_WRONLY | O_CREAT, 0600));
		{
			struct timespec ts[2] = { { 1000000000, 0 }, { 1000000000, 0 } };

			utimensat(AT_FDCWD, target, ts, 0);
		}
		claim_path(path, sizeof path, sp, "t_link");
		if (symlink(target, path) < 0)
			printf("# symlink: %s\n", strerror(errno));
		claim_touch(sp, "t_link");
		ok(stat(target, &st) == 0 && st.st_mtime == 1000000000,
		    "claim_touch does not follow a symlink");
	}
}

/* Several processes claim one task at once: exactly one gets it. */
#define RACERS 6

static void
race(const char *sp, const char *task, int *oks, int *busys)
{
	int start[2], results[2], release[2];
	pid_t pids[RACERS];
	char c;

	*oks = *busys = 0;
	if (pipe(start) < 0 || pipe(results) < 0 || pipe(release) < 0)
		return;
	fflush(stdout);
	for (int i = 0; i < RACERS; i++)
		if ((pids[i] = fork()) == 0) {
			char err[256], r;

			close(start[1]), close(results[0]), close(release[1]);
			/* All start together, then stay alive (claims of the living are kept). */
			if (read(start[0], &c, 1) < 0)
				_exit(1);
			r = (char)claim_task(sp, task, err, sizeof err);
			if (write(results[1], &r, 1) != 1)
				_exit(1);
			while (read(release[0], &c, 1) > 0)
				;
			_exit(0);
		}
	close(start[0]), close(results[1]), close(release[0]);
	usleep(50000);
	close(start[1]);
	for (int i = 0; i < RACERS && read(results[0], &c, 1) == 1; i++) {
		*oks += c == CLAIM_OK;
		*busys += c == CLAIM_BUSY;
	}
	close(release[1]);
	close(results[0]);
	for (int i = 0; i < RACERS; i++)
		if (pids[i] > 0)
			waitpid(pids[i], NULL, 0);
}

static void
test_race(void)
{
	const char *sp = fresh("race");
	char line[160], path[PATH_MAX];
	unsigned long long started;
	int oks, busys;
	pid_t pid;

	race(sp, TID, &oks, &busys);
	ok(oks == 1 && busys == RACERS - 1, "%d processes claim one task: one CLAIM_OK (%d), the rest "
	    "CLAIM_BUSY (%d)", RACERS, oks, busys);
	is_int(tmp_entries(sp), 0, "tmp/ empty after the race");

	/* A stale claim, taken over by several at once. */
	claim_path(path, sizeof path, sp, TID);
	unlink(path);
	pid = dead_pid(&started);
	holder_line(line, sizeof line, pid, started);
	write_claim(sp, TID, line);
	race(sp, TID, &oks, &busys);
	ok(oks == 1 && busys == RACERS - 1, "%d processes take over one stale claim: one CLAIM_OK (%d), "
	    "the rest CLAIM_BUSY (%d)", RACERS, oks, busys);
	is_int(tmp_entries(sp), 0, "tmp/ empty after the take-over race");
}

/*
 * Two processes judge one stale claim stale; the second acts on that
 * judgement only after the first has taken the claim over, and a third
 * claims the task while the second is acting.  One of the three holds the
 * claim, no two.  (The take-over used to rename the claim aside and check
 * it was the stale one; the second thus moved the first's fresh claim
 * aside, the third linked its own into the empty name, and the second's
 * "give it back" found the name taken and deleted the first's claim: two
 * holders, two downloads.)
 */
static void
test_takeover_interleaved(void)
{
	const char *sp = fresh("interleave");
	char line[160], got[160], want[160], names[3] = "ABC";
	unsigned long long started;
	struct actor act[3] = { { 0 } };	/* A takes over, B stops, C claims in B's window */
	int res[3] = { -1, -1, -1 }, oks = 0, winner = -1;
	pid_t pid = dead_pid(&started);

	holder_line(line, sizeof line, pid, started);
	write_claim(sp, TID, line);
	/* B: its 1st link is the plain claim (refused); its 2nd rename or
	 * link is the first act on its judgement that the claim is stale. */
	if (actor_start(&act[1], sp, TID, 2) < 0 || byte_from(act[1].stopped) != 's') {
		ok(0, "B stops after judging the claim stale");
		return;
	}
	ok(1, "B judged the dead holder's claim stale and stops before acting on it");
	if (actor_start(&act[0], sp, TID, 0) == 0)
		res[0] = byte_from(act[0].result);
	is_int(res[0], CLAIM_OK, "meanwhile A takes the stale claim over");
	actor_go(&act[1]);
	ok(byte_from(act[1].stopped) == 's', "B acts, and stops again right after");
	if (actor_start(&act[2], sp, TID, 0) == 0)
		res[2] = byte_from(act[2].result);
	actor_go(&act[1]);
	res[1] = byte_from(act[1].result);
	for (int i = 0; i < 3; i++)
		if (res[i] == CLAIM_OK)
			oks++, winner = i;
	ok(oks == 1 && res[0] == CLAIM_OK, "one holder, A: A %d, B %d, C %d (0 OK, 1 BUSY)",
	    res[0], res[1], res[2]);
	if (winner >= 0) {
		holder_line(want, sizeof want, act[winner].pid, start_time(act[winner].pid));
		is_str(read_claim(sp, TID, got, sizeof got), want, "the claim file is the holder's");
	} else {
		ok(0, "the claim file is the holder's (no holder)");
	}
	ok(winner < 0 || names[winner] == 'A', "and it is A's claim");
	is_int(turns_left(sp), 0, "no take-over marker left in claim/");
	is_int(tmp_entries(sp), 0, "tmp/ empty");
	/* Each child holds copies of the pipes of those started before it: the
	 * last started ends first (C, A, B). */
	for (int i = 0, order[3] = { 2, 0, 1 }; i < 3; i++)
		if (act[order[i]].pid > 0)
			actor_end(&act[order[i]]);
}

#define MARKER1	"." TID ".1"	/* claim/.<taskId>.<level>: a taker's turn */

/* The take-over turns: a killed taker's is skipped, a live one's waited for. */
static void
test_takeover_markers(void)
{
	const char *sp = fresh("markers");
	char line[160], got[160], mine[160], other[160], err[256] = "";
	unsigned long long started;
	pid_t pid = dead_pid(&started);
	struct actor b = { 0 };
	struct sleeper s;

	holder_line(mine, sizeof mine, getpid(), start_time(getpid()));
	holder_line(line, sizeof line, pid, started);
	write_claim(sp, TID, line);
	/* A taker killed holding its turn, before its rename (its 3rd call). */
	if (actor_start(&b, sp, TID, 3) == 0 && byte_from(b.stopped) == 's') {
		ok(claim_exists(sp, MARKER1), "a taker holds the turn claim/" MARKER1
		    " and stops before it renames its claim into place");
		kill(b.pid, SIGKILL);
		actor_end(&b);
	} else {
		ok(0, "a taker holds the turn claim/" MARKER1);
	}
	is_str(read_claim(sp, TID, got, sizeof got), line, "killed there, it leaves the stale claim");
	ok(!claim_held(sp, TID), "which is still stale");
	is_int(claim_task(sp, TID, err, sizeof err), CLAIM_OK,
	    "the next taker skips the killed one's turn and takes the claim over");
	is_str(read_claim(sp, TID, got, sizeof got), mine, "the claim is ours");
	is_int(turns_left(sp), 0, "and both turns are gone");
	claim_release(sp, TID);

	/* A live process's turn: wait for it, touch nothing. */
	if (sleeper_start(&s) < 0) {
		ok(0, "fork");
		return;
	}
	holder_line(other, sizeof other, s.pid, start_time(s.pid));
	write_claim(sp, TID, line);
	write_claim(sp, MARKER1, other);
	is_int(claim_task(sp, TID, err, sizeof err), CLAIM_BUSY,
	    "a stale claim whose turn a live process holds: CLAIM_BUSY");
	is_str(read_claim(sp, TID, got, sizeof got), line, "the claim is left alone");
	is_str(read_claim(sp, MARKER1, got, sizeof got), other, "and so is the turn");
	sleeper_stop(&s);
	is_int(claim_task(sp, TID, err, sizeof err), CLAIM_OK, "that process gone: taken over");
	is_int(turns_left(sp), 0, "the turns are gone");
	claim_release(sp, TID);

	/* Another host's turn: only its age tells. */
	write_claim(sp, TID, line);
	write_claim(sp, MARKER1, "other.example.net 4242 99\n");
	is_int(claim_task(sp, TID, err, sizeof err), CLAIM_BUSY, "another host's fresh turn: CLAIM_BUSY");
	age_claim(sp, MARKER1, CLAIM_STALE_AFTER + 5);
	is_int(claim_task(sp, TID, err, sizeof err), CLAIM_OK, "its turn not refreshed: taken over");
	is_int(turns_left(sp), 0, "the turns are gone");
	claim_release(sp, TID);

	/* A turn left by a taker killed after its rename: the claim it put in place is its own. */
	write_claim(sp, TID, line);
	{
		char c[PATH_MAX], m[PATH_MAX];

		claim_path(c, sizeof c, sp, TID);
		claim_path(m, sizeof m, sp, MARKER1);
		ok(linkat(AT_FDCWD, c, AT_FDCWD, m, 0) == 0, "a turn that is the claim itself");
	}
	is_int(claim_task(sp, TID, err, sizeof err), CLAIM_OK, "taken over all the same");
	is_int(turns_left(sp), 0, "the turns are gone");
	claim_release(sp, TID);
}

static void
test_errors(void)
{
	char path[PATH_MAX], err[256] = "";

	/* A spool without claim/: an error, said. */
	snprintf(path, sizeof path, "%s/noclaim", base);
	mkdir(path, 0700);
	strcat(path, "/tmp");
	mkdir(path, 0700);
	path[strlen(path) - 4] = '\0';
	is_int(claim_task(path, TID, err, sizeof err), CLAIM_ERROR, "no claim/ directory: CLAIM_ERROR");
	ok(err[0] != '\0', "with a reason: %s", err);
	is_int(tmp_entries(path), 0, "its temp file removed");
	ok(!claim_held(path, TID), "claim_held: false");

	/* A spool without tmp/. */
	snprintf(path, sizeof path, "%s/notmp", base);
	mkdir(path, 0700);
	err[0] = '\0';
	is_int(claim_task(path, TID, err, sizeof err), CLAIM_ERROR, "no tmp/ directory: CLAIM_ERROR");
	ok(err[0] != '\0', "with a reason: %s", err);
}

static void
test_sweep_lock(void)
{
	const char *sp = fresh("lock");
	char err[256] = "", h[64], path[PATH_MAX];
	struct stat st;
	int fd, fd2, status;
	pid_t pid;

	fd = claim_sweep_lock(sp, err, sizeof err);
	ok(fd >= 0, "claim_sweep_lock: a held fd: %s", err);
	host(h, sizeof h);
	snprintf(path, sizeof path, "%s/sweep.%s.lock", sp, h);
	ok(stat(path, &st) == 0 && S_ISREG(st.st_mode), "lock file is spool_dir/sweep.<host>.lock");

	/* A second run, in another process: -2, with the reason. */
	fflush(stdout);
	if ((pid = fork()) == 0) {
		char e[256] = "";
		int r = claim_sweep_lock(sp, e, sizeof e);

		_exit(r == -2 && strstr(e, "another sweep is running") ? 0 : 1);
	}
	ok(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "another process: -2, \"another sweep is running\"");

	/* A second lock in this process is refused as well. */
	err[0] = '\0';
	fd2 = claim_sweep_lock(sp, err, sizeof err);
	is_int(fd2, -2, "a second claim_sweep_lock in the same process: -2");
	if (fd2 >= 0)
		close(fd2);

	/* Released by closing the fd: the next run gets it. */
	close(fd);
	fflush(stdout);
	if ((pid = fork()) == 0) {
		char e[256];
		int r = claim_sweep_lock(sp, e, sizeof e);

		_exit(r >= 0 ? 0 : 1);
	}
	ok(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "after close, another process gets the lock");
	fd = claim_sweep_lock(sp, err, sizeof err);
	ok(fd >= 0, "and so do we, once that process has ended");
	if (fd >= 0)
		close(fd);

	/* A missing spool_dir: -1 with a reason. */
	snprintf(path, sizeof path, "%s/missing", base);
	err[0] = '\0';
	is_int(claim_sweep_lock(path, err, sizeof err), -1, "missing spool_dir: -1");
	ok(strstr(err, path) != NULL, "the reason names the path: %s", err);
}

int
main(void)
{
	tmptree_make(base);
	test_claim_once();
	test_release_only_ours();
	test_stale_dead_pid();
	test_stale_reused_pid();
	test_stale_unrefreshed();
	test_race();
	test_takeover_interleaved();
	test_takeover_markers();
	test_errors();
	test_sweep_lock();
	tmptree_remove(base);
	return done_testing();
}
