/*
 * Fuzz target: the spooler's state reader, task_load() (src/spooler/task.c),
 * through a real file: the input is written to <dir>/state/<taskId> in a
 * private temporary spool (under $TMPDIR, else /dev/shm or /tmp), removed
 * when the fuzzer exits.
 *
 * The first line of the input names the taskId the reader is asked for
 * (a fixed valid one when that line is not a valid taskId); the rest is
 * the state file.  A state file that loads must survive the spooler's own
 * round trip: task_save() writes it back, task_load() reads that, and the
 * two JSON forms agree (DESIGN: a record the spooler writes is always
 * readable back).  And it must read the same as the tree reader that
 * task_parse() replaced (state_ref.h): both refuse it, or both read the
 * same task.
 */
#include "fuzz.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "spool.h"
#include "task.h"
#include "taskid.h"
#include "state_ref.h"

static char spool[256];
static char state_dir[300];

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void
remove_spool(void)
{
	if (spool[0] != '\0')
		nftw(spool, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *base = getenv("TMPDIR");
	char err[512];

	if (base == NULL || *base == '\0')
		base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	snprintf(spool, sizeof spool, "%s/veo-fuzz-state.XXXXXX", base);
	if (mkdtemp(spool) == NULL) {
		perror(spool);
		exit(1);
	}
	atexit(remove_spool);
	snprintf(state_dir, sizeof state_dir, "%s/state", spool);
	/* The spooler's own layout (state/, tmp/, pending/, ...), as a sweep makes it. */
	if (spool_prepare(spool, true, err, sizeof err) < 0) {
		fprintf(stderr, "%s\n", err);
		exit(1);
	}
	return 0;
}

static void
write_state(const char *task_id, const void *data, size_t len)
{
	char path[512];
	int fd;

	snprintf(path, sizeof path, "%s/%s", state_dir, task_id);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0 ||
	    write_all(fd, data, len) < 0 || close(fd) < 0) {
		perror(path);
		abort();
	}
}

static void
round_trip(const char *task_id, struct task *t)
{
	enum task_state shown = t->state == TASK_ACTIVE ? TASK_PENDING : t->state;
	char *before = task_to_json(t, shown), *after;
	struct task again;
	char err[512];

	FUZZ_ASSERT(before != NULL, "a loaded task cannot be written as JSON");
	FUZZ_ASSERT(task_save(spool, t, false, err, sizeof err) == 0, "save: %s", err);
	FUZZ_ASSERT(task_load(spool, task_id, &again, err, sizeof err) == 0,
	    "written back, unreadable: %s", err);
	after = task_to_json(&again, again.state);
	FUZZ_ASSERT(after != NULL && strcmp(before, after) == 0,
	    "round trip changed the task:\n%s\n%s", before, after ? after : "(null)");
	free(before);
	free(after);
	task_free(&again);
}

/* task_parse() and the tree reader it replaced agree on the text. */
static void
same_as_reference(const char *task_id, const char *data, size_t len)
{
	char *text = malloc(len + 1), err[512], *a = NULL, *b = NULL;
	struct task x, y;
	int rx, ry;

	FUZZ_ASSERT(text != NULL, "out of memory");
	memcpy(text, data, len);
	text[len] = '\0';
	rx = task_parse(text, len, task_id, &x, err, sizeof err);
	ry = ref_task_parse(text, task_id, &y);
	FUZZ_ASSERT(rx == ry, "task_parse %d, the tree reader %d", rx, ry);
	if (rx == 0) {
		a = task_to_json(&x, x.state);
		b = task_to_json(&y, y.state);
		FUZZ_ASSERT(a != NULL && b != NULL && strcmp(a, b) == 0 && x.nfiles == y.nfiles,
		    "task_parse and the tree reader differ:\n%s\n%s", a ? a : "-", b ? b : "-");
		task_free(&x);
		task_free(&y);
	}
	free(a);
	free(b);
	free(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	char task_id[TASKID_MAX + 1] = "veo_task_fuzz";
	char err[512] = "";
	struct task t;
	size_t skip = 0;

	if (nl != NULL && (size_t)(nl - data) <= TASKID_MAX &&
	    taskid_valid((const char *)data, (size_t)(nl - data))) {
		memcpy(task_id, data, (size_t)(nl - data));
		task_id[nl - data] = '\0';
		skip = (size_t)(nl - data) + 1;
	}
	write_state(task_id, data + skip, size - skip);
	same_as_reference(task_id, (const char *)data + skip, size - skip);
	if (task_load(spool, task_id, &t, err, sizeof err) == 0) {
		FUZZ_ASSERT(strcmp(t.task_id, task_id) == 0, "loaded another task");
		FUZZ_ASSERT(t.nfiles <= TASK_MAX_FILES, "%zu files", t.nfiles);
		round_trip(task_id, &t);
		task_free(&t);
	} else {
		FUZZ_ASSERT(err[0] != '\0', "refused without a reason");
	}
	/* One task at a time: the next input may name another. */
	{
		char path[512];

		snprintf(path, sizeof path, "%s/%s", state_dir, task_id);
		unlink(path);
		snprintf(path, sizeof path, "%s/pending/%s", spool, task_id);
		unlink(path);
	}
	return 0;
}
