/*
 * test_statepack: the pack of finished tasks' states for status
 * (statepack.h): what goes in (finished tasks, not pending ones, not files
 * changed in the last seconds), that an entry is used only while its state
 * file is the one packed (a save, a change in place, a removal all end
 * it), that an unchanged pack is not rewritten, that the deadline stops
 * file reads but keeps current entries, and that a damaged pack is read
 * up to the damage and no further.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"
#include "spool.h"
#include "statepack.h"
#include "task.h"
#include "tap.h"

static char base[] = "/tmp/veo-test-statepack.XXXXXX";
static char sp[256];	/* short: paths made from it fit PATH_MAX */

static void
save(const char *id, enum task_state state, const char *msg)
{
	struct task t;
	char err[256];

	memset(&t, 0, sizeof t);
	snprintf(t.task_id, sizeof t.task_id, "%s", id);
	t.state = state;
	t.code = state == TASK_FAILED ? 501 : 200;
	t.msg = strdup(msg);
	t.error = strdup(state == TASK_FAILED ? "the provider reported code 501" : "");
	t.advice = strdup("");
	t.dir = strdup("/videos/x");
	t.upgrade_error = strdup("");
	if (task_save(sp, &t, false, err, sizeof err) < 0)
		printf("# save %s: %s\n", id, err);
	task_free(&t);
}

/* The bytes of state/<id>, malloc'd. */
static char *
state_bytes(const char *id, size_t *len)
{
	char path[PATH_MAX], *data = NULL;

	snprintf(path, sizeof path, "%s/state/%s", sp, id);
	if (read_file_bounded(path, 1 << 20, &data, len) < 0)
		return NULL;
	return data;
}

/* Whether the pack gives state/<id>, with the file's bytes. */
static bool
packed(const char *id)
{
	struct statepack *p = statepack_open(sp);
	char path[PATH_MAX];
	int fd;
	size_t len = 0, flen = 0;
	const char *got;
	char *want = state_bytes(id, &flen);
	bool same;

	snprintf(path, sizeof path, "%s/state", sp);
	fd = open(path, O_RDONLY | O_DIRECTORY);
	got = statepack_get(p, fd, id, &len);
	same = got != NULL && want != NULL && len == flen && memcmp(got, want, len) == 0;
	close(fd);
	free(want);
	statepack_close(p);
	return same;
}

static size_t
count(void)
{
	return statepack_count(sp);
}

static int
write_pack(time_t deadline)
{
	char err[256] = "";
	int rc = statepack_write(sp, deadline, false, 0, err, sizeof err);

	if (rc < 0)
		printf("# statepack_write: %s\n", err);
	return rc;
}

static void
put_pack(const char *text)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", sp, STATEPACK_NAME);
	if ((f = fopen(path, "w")) != NULL) {
		fputs(text, f);
		fclose(f);
	}
}

int
main(void)
{
	char err[256], path[PATH_MAX], *pack = NULL;
	time_t later = time(NULL) + 3600;
	struct stat st, st2;
	size_t len;

	if (mkdtemp(base) == NULL) {
		printf("Bail out! mkdtemp\n");
		return 1;
	}
	snprintf(sp, sizeof sp, "%s/spool", base);
	if (mkdir(sp, 0700) < 0 || spool_prepare(sp, true, err, sizeof err) < 0) {
		printf("Bail out! spool: %s\n", err);
		return 1;
	}

	ok(statepack_open(sp) == NULL, "no pack: none to open");
	ok(write_pack(later) == 1 && count() == 0, "an empty spool: an empty pack");

	save("t_done", TASK_DONE, "ok");
	save("t_failed", TASK_FAILED, "generation failed");
	save("t_pending", TASK_PENDING, "waiting");
	ok(write_pack(later) == 1 && count() == 0,
	    "states written in the last seconds are not packed (racy)");
	sleep(3);
	ok(write_pack(later) == 1 && count() == 2, "after 3 s, the two finished tasks are packed");
	ok(packed("t_done") && packed("t_failed"), "each entry holds its state file's bytes");
	ok(!packed("t_pending"), "a task marked in pending/ is not packed");
	ok(!packed("t_none"), "nor one that does not exist");

	snprintf(path, sizeof path, "%s/%s", sp, STATEPACK_NAME);
	stat(path, &st);
	ok(write_pack(later) == 0, "nothing changed: the pack is not written again");
	stat(path, &st2);
	ok(st.st_ino == st2.st_ino, "and stays the same file");

	/* A save replaces the file: the entry no longer counts. */
	save("t_done", TASK_DONE, "ok, and a duplicate counted");
	ok(!packed("t_done"), "a state saved after the pack: its entry is not used");
	ok(packed("t_failed"), "the others still are");

	/* A change in place that keeps the size and the mtime still changes the ctime. */
	{
		size_t n;
		char *b = state_bytes("t_failed", &n);
		struct stat before;
		struct timespec times[2];
		int fd;

		snprintf(path, sizeof path, "%s/state/t_failed", sp);
		stat(path, &before);
		sleep(1);
		if (b != NULL && (fd = open(path, O_WRONLY)) >= 0) {
			b[n / 2] = b[n / 2] == 'x' ? 'y' : 'x';
			if (write(fd, b, n) != (ssize_t)n)
				printf("# write failed\n");
			close(fd);
		}
		times[0] = before.st_atim;
		times[1] = before.st_mtim;
		utimensat(AT_FDCWD, path, times, 0);
		ok(!packed("t_failed"), "a state changed in place (same size, mtime put back): "
		    "not used");
		free(b);
	}

	/* Removed, then the name used again: never the old entry. */
	save("t_gone", TASK_FAILED, "x");
	sleep(3);
	ok(write_pack(later) == 1 && packed("t_gone"), "a third finished task packed");
	snprintf(path, sizeof path, "%s/state/t_gone", sp);
	unlink(path);
	ok(!packed("t_gone"), "its state removed (purge, keep_days): not given");

	/* The deadline: no file is read, current entries are kept. */
	save("t_new", TASK_DONE, "new");
	sleep(3);
	ok(write_pack(time(NULL) - 1) == 1 && !packed("t_new") && packed("t_done"),
	    "past the deadline: no state file read, current entries kept");
	ok(write_pack(later) == 1 && packed("t_new"), "the next pack reads it");

	/* No room: the responder's min_free comes first. */
	save("t_room", TASK_DONE, "x");
	sleep(3);
	err[0] = '\0';
	ok(statepack_write(sp, later, false, LLONG_MAX / 2, err, sizeof err) == -1 &&
	    strstr(err, "min_free") != NULL && !packed("t_room"),
	    "not written when it would leave less than min_free: %s", err);
	snprintf(path, sizeof path, "%s/state/t_room", sp);
	unlink(path);

	/* One reader through the pack, as status goes: in taskId order. */
	{
		char *big = malloc(300000);
		struct statepack *p;
		int fd;
		const char *a, *b, *c;

		if (big != NULL) {
			memset(big, 'm', 299999);
			big[299999] = '\0';
			save("t_big", TASK_FAILED, big);	/* larger than the reader's buffer */
			free(big);
		}
		sleep(3);
		ok(write_pack(later) == 1 && count() == 4, "four entries, one of 300 kB");
		snprintf(path, sizeof path, "%s/state", sp);
		fd = open(path, O_RDONLY | O_DIRECTORY);
		p = statepack_open(sp);
		a = statepack_get(p, fd, "t_done", &len);	/* passes over t_big */
		ok(a != NULL && len > 0 && memcmp(a, "{\"taskId\":\"t_done\"", 18) == 0,
		    "in order: the first asked, past a large entry");
		b = statepack_get(p, fd, "t_gone0", &len);
		c = statepack_get(p, fd, "t_new", &len);
		ok(b == NULL && c != NULL && memcmp(c, "{\"taskId\":\"t_new\"", 17) == 0,
		    "a name not packed is not given; the next one is");
		ok(statepack_get(p, fd, "t_failed", &len) == NULL, "a name asked out of order is not");
		statepack_close(p);
		p = statepack_open(sp);
		a = statepack_get(p, fd, "t_big", &len);
		ok(a != NULL && len > 300000, "the large entry itself, whole (%zu bytes)", len);
		statepack_close(p);
		close(fd);
		ok(packed("t_big"), "with its state file's bytes");
	}

	/* A damaged pack is read up to the damage, never past it. */
	snprintf(path, sizeof path, "%s/%s", sp, STATEPACK_NAME);
	pack = NULL;
	if (read_file_bounded(path, 1 << 20, &pack, &len) == 0) {
		size_t n = count();

		pack[len / 2] = '\0';	/* truncated in the middle */
		put_pack(pack);
		ok(count() < n, "a truncated pack: %zu of %zu entries indexed", count(), n);
		put_pack("VEO-STATE-PACK 1\nt_done 1 99999999 0 0 0 0\n{}");
		ok(count() == 0 && !packed("t_done"), "an entry longer than the pack: refused");
		put_pack("VEO-STATE-PACK 1\n../x 1 2 0 0 0 0\n{}");
		ok(count() == 0, "an entry whose name is not a taskId: refused");
		put_pack("VEO-STATE-PACK 2\n");
		ok(statepack_open(sp) == NULL, "another format: not opened");
		put_pack("garbage");
		ok(statepack_open(sp) == NULL, "garbage: not opened");
		ok(write_pack(later) == 1 && packed("t_new") && packed("t_done"),
		    "the next pack is whole again");
	}
	free(pack);

	{
		char cmd[PATH_MAX + 16];

		snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
		if (system(cmd) != 0)
			printf("# could not remove %s\n", base);
	}
	return done_testing();
}
