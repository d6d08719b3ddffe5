#include "statepack.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "fsutil.h"
#include "numparse.h"
#include "spool.h"
#include "task.h"
#include "taskid.h"

#define MAGIC "VEO-STATE-PACK 1\n"
#define RACY_SECONDS 2		/* files changed this close to the pack are left out */
#define HEAD_MAX (TASKID_MAX + 6 * 22)	/* an entry's first line */

/* What identifies one version of a state file. */
struct ident {
	unsigned long long ino;
	long long size, mtime, mtime_ns, ctime, ctime_ns;
};

/*
 * A reader going once through the pack, in its (taskId) order, with a
 * buffer of its own: no mapping (on NFS a pack replaced by another host
 * would make a mapped page fault with SIGBUS; read() returns ESTALE), and
 * memory that does not grow with the pack.
 */
struct statepack {
	int fd;
	char *buf;		/* [pos, len) read and not consumed */
	size_t cap, pos, len;
	bool end;		/* no entry left, or a damaged one met */
	/* the entry under the cursor: its first line parsed, its data not consumed */
	bool have;
	char id[TASKID_MAX + 1];
	struct ident ident;
	bool used;		/* asked for and given */
	size_t passed;		/* entries passed over without being given */
};

static void
ident_of(const struct stat *st, struct ident *id)
{
	id->ino = (unsigned long long)st->st_ino;
	id->size = (long long)st->st_size;
	id->mtime = (long long)st->st_mtim.tv_sec;
	id->mtime_ns = (long long)st->st_mtim.tv_nsec;
	id->ctime = (long long)st->st_ctim.tv_sec;
	id->ctime_ns = (long long)st->st_ctim.tv_nsec;
}

static bool
ident_same(const struct ident *a, const struct ident *b)
{
	return a->ino == b->ino && a->size == b->size && a->mtime == b->mtime &&
	    a->mtime_ns == b->mtime_ns && a->ctime == b->ctime && a->ctime_ns == b->ctime_ns;
}

/* ---- reading ---- */

#define READ_CHUNK 65536

/* At least need bytes buffered from pos (fewer only at the end of the file). */
static bool
fill(struct statepack *p, size_t need)
{
	if (p->len - p->pos >= need)
		return true;
	if (p->pos > 0) {
		memmove(p->buf, p->buf + p->pos, p->len - p->pos);
		p->len -= p->pos;
		p->pos = 0;
	}
	if (p->cap < need || p->cap - p->len < READ_CHUNK / 2) {
		size_t cap = (need > p->len + READ_CHUNK ? need : p->len + READ_CHUNK);
		char *nb = realloc(p->buf, cap);

		if (nb == NULL)
			return false;
		p->buf = nb;
		p->cap = cap;
	}
	while (p->len < need) {
		ssize_t n = read(p->fd, p->buf + p->len, p->cap - p->len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p->len += (size_t)n;
	}
	return true;
}

/*
 * Parses the entry line at the cursor: "<id> <6 numbers>\n".  False when
 * there is none or it is not one (the pack ends there).
 */
static bool
parse_head(struct statepack *p)
{
	const char *line, *nl, *f;
	long long v[6];

	fill(p, HEAD_MAX);
	line = p->buf + p->pos;
	if (p->len == p->pos || (nl = memchr(line, '\n', p->len - p->pos)) == NULL)
		return false;
	f = line;
	/* the taskId, then inode, size, mtime s, mtime ns, ctime s, ctime ns */
	for (int i = -1; i < 6; i++) {
		const char *sp = i < 5 ? memchr(f, ' ', (size_t)(nl - f)) : nl;

		if (sp == NULL)
			return false;
		if (i < 0) {
			if (!taskid_valid(f, (size_t)(sp - f)))
				return false;
			memcpy(p->id, f, (size_t)(sp - f));
			p->id[sp - f] = '\0';
		} else if (num_parse_n(f, (size_t)(sp - f), i == 2 || i == 4 ? LLONG_MIN : 0,
		    i == 1 ? TASK_STATE_MAX : i == 3 || i == 5 ? 999999999 : LLONG_MAX, &v[i]) < 0) {
			return false;
		}
		f = sp + 1;
	}
	p->ident.ino = (unsigned long long)v[0];
	p->ident.size = v[1];
	p->ident.mtime = v[2];
	p->ident.mtime_ns = v[3];
	p->ident.ctime = v[4];
	p->ident.ctime_ns = v[5];
	p->pos = (size_t)(nl + 1 - p->buf);
	return true;
}

/* Moves the cursor to the next entry, past the data of the one under it. */
static void
advance(struct statepack *p)
{
	if (p->have) {
		size_t size = (size_t)p->ident.size, avail = p->len - p->pos;

		if (!p->used)
			p->passed++;
		if (size <= avail) {
			p->pos += size;
		} else {
			p->pos = p->len = 0;
			if (lseek(p->fd, (off_t)(size - avail), SEEK_CUR) < 0)
				p->end = true;
		}
	}
	p->have = !p->end && parse_head(p);
	p->used = false;
	if (!p->have)
		p->end = true;
}

struct statepack *
statepack_open(const char *spool_dir)
{
	char path[PATH_MAX];
	struct statepack *p;
	struct stat st;
	int fd;

	if (spool_path(path, sizeof path, spool_dir, STATEPACK_NAME, NULL) < 0 ||
	    (fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)) < 0)
		return NULL;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (p = calloc(1, sizeof *p)) == NULL) {
		close(fd);
		return NULL;
	}
	p->fd = fd;
	if (!fill(p, strlen(MAGIC)) || memcmp(p->buf, MAGIC, strlen(MAGIC)) != 0) {
		statepack_close(p);
		return NULL;
	}
	p->pos = strlen(MAGIC);
	advance(p);
	return p;
}

void
statepack_close(struct statepack *p)
{
	if (p == NULL)
		return;
	close(p->fd);
	free(p->buf);
	free(p);
}

/*
 * Moves the cursor to the entry of task_id; true when it is there and
 * state_fd/task_id is still the file it copies.  Entries before it are
 * passed over.
 */
static bool
seek_current(struct statepack *p, int state_fd, const char *task_id)
{
	struct stat st;
	struct ident now;

	while (p != NULL && p->have && strcmp(p->id, task_id) < 0)
		advance(p);
	if (p == NULL || !p->have || strcmp(p->id, task_id) != 0 ||
	    fstatat(state_fd, task_id, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
		return false;
	ident_of(&st, &now);
	return ident_same(&now, &p->ident);
}

const char *
statepack_get(struct statepack *p, int state_fd, const char *task_id, size_t *len)
{
	if (!seek_current(p, state_fd, task_id) || !fill(p, (size_t)p->ident.size))
		return NULL;
	p->used = true;
	*len = (size_t)p->ident.size;
	return p->buf + p->pos;
}

size_t
statepack_count(const char *spool_dir)
{
	struct statepack *p = statepack_open(spool_dir);
	size_t n = 0;

	for (; p != NULL && p->have; advance(p))
		n++;
	statepack_close(p);
	return n;
}

/* ---- writing ---- */

/* Errors show in ferror(out), looked at before the pack is renamed into place. */
static void
put_entry(FILE *out, const char *id, const struct ident *i, const char *data)
{
	(void)fprintf(out, "%s %llu %lld %lld %lld %lld %lld\n", id, i->ino, i->size, i->mtime,
	    i->mtime_ns, i->ctime, i->ctime_ns);
	(void)fwrite(data, 1, (size_t)i->size, out);
}

/*
 * Reads state_fd/id whole into *buf; its identity into id.  0, or -1 when
 * it cannot be packed (gone, not a regular file, too large, changing).
 */
static int
read_state(int state_fd, const char *name, struct task_buf *b, struct ident *id)
{
	int fd = openat(state_fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	struct stat st;
	ssize_t n = -1;

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size <= TASK_STATE_MAX) {
		size_t want = (size_t)st.st_size + 1;
		char *nb = b->cap >= want ? b->data : realloc(b->data, want);

		if (nb != NULL) {
			b->data = nb;
			b->cap = b->cap >= want ? b->cap : want;
			while ((n = read(fd, b->data, want)) < 0 && errno == EINTR)
				;
		}
	}
	close(fd);
	if (n != (ssize_t)st.st_size)
		return -1;
	ident_of(&st, id);
	return 0;
}

static int
cmp_key(const void *key, const void *elem)
{
	return strcmp(key, *(char *const *)elem);
}

struct packing {
	int state_fd;
	FILE *out;
	char **names;		/* the state files, sorted */
	size_t n;
	char **pending;
	size_t npending;
	struct timespec ref;	/* the file system's time when the pack was begun */
	time_t deadline;
	struct task_buf buf;
};

static bool
is_pending(const struct packing *k, const char *name)
{
	return k->npending > 0 &&
	    bsearch(name, k->pending, k->npending, sizeof *k->pending, cmp_key) != NULL;
}

/*
 * True when a new pack would be the old one: every finished task's entry
 * is there and current, and there is no other entry.  Otherwise *need is
 * about the size of the new pack: the old one's, and 2 kB for each state
 * file to read (a finished task's state is under 1 kB, or some kB with
 * many URLs).
 */
static bool
unchanged(const char *spool_dir, const struct packing *k, unsigned long long *need)
{
	struct statepack *old = statepack_open(spool_dir);
	size_t reads = 0;
	struct stat st;
	bool same;

	*need = old != NULL && fstat(old->fd, &st) == 0 ? (unsigned long long)st.st_size : 0;
	for (size_t i = 0; i < k->n; i++) {
		/* wanted by sweeps (pending/): changes too often to pack */
		if (is_pending(k, k->names[i]))
			continue;
		if (seek_current(old, k->state_fd, k->names[i]))
			old->used = true;
		else
			reads++;
	}
	while (old != NULL && old->have)
		advance(old);
	same = old != NULL && reads == 0 && old->passed == 0;
	*need += 2048ULL * reads;
	statepack_close(old);
	return same;
}

/* Whether need bytes more leave min_free free on spool_dir's file system. */
static bool
room_for(const char *spool_dir, long long min_free, unsigned long long need)
{
	struct statvfs v;

	if (statvfs(spool_dir, &v) < 0)
		return true;	/* the write will tell */
	return (unsigned long long)v.f_bavail * v.f_frsize >=
	    (unsigned long long)(min_free > 0 ? min_free : 0) + need;
}

/* Packs state file i: its entry in the old pack when current, else the file read now. */
static void
pack_one(struct packing *k, struct statepack *old, size_t i)
{
	const char *name = k->names[i], *data;
	struct ident id;
	size_t len;

	if (is_pending(k, name))
		return;		/* wanted by sweeps (pending/): changes too often to pack */
	if ((data = statepack_get(old, k->state_fd, name, &len)) != NULL) {
		put_entry(k->out, name, &old->ident, data);
		return;
	}
	if (time(NULL) >= k->deadline || read_state(k->state_fd, name, &k->buf, &id) < 0)
		return;
	if (id.mtime >= (long long)k->ref.tv_sec - RACY_SECONDS ||
	    id.ctime >= (long long)k->ref.tv_sec - RACY_SECONDS)
		return;		/* racy: it could change again and keep its times */
	put_entry(k->out, name, &id, k->buf.data);
}

int
statepack_write(const char *spool_dir, time_t deadline, bool sync, long long min_free,
    char *err, size_t errlen)
{
	char dir[PATH_MAX], tmp[PATH_MAX], dest[PATH_MAX], name[128];
	struct packing k = { .state_fd = -1, .deadline = deadline };
	struct statepack *old = NULL;
	unsigned long long need;
	struct stat st;
	int fd = -1, rc = -1;

	unique_name(name, sizeof name);
	if (spool_path(dir, sizeof dir, spool_dir, "state", NULL) < 0 ||
	    spool_path(tmp, sizeof tmp, spool_dir, "tmp", name) < 0 ||
	    spool_path(dest, sizeof dest, spool_dir, STATEPACK_NAME, NULL) < 0) {
		snprintf(err, errlen, "path too long");
		return -1;
	}
	if ((k.state_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	k.pending = spool_list(spool_dir, "pending", &k.npending);
	k.names = spool_list(spool_dir, "state", &k.n);
	if (unchanged(spool_dir, &k, &need)) {
		rc = 0;		/* nothing changed: the pack stays */
		goto out;
	}
	/* A cache must not take the room the responder needs for callbacks. */
	if (!room_for(spool_dir, min_free, need)) {
		snprintf(err, errlen, "not written: about %llu bytes would leave less than min_free",
		    need);
		goto out;
	}
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0660)) < 0 ||
	    fstat(fd, &st) < 0 || (k.out = fdopen(fd, "w")) == NULL) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;	/* k.out has it */
	k.ref = st.st_ctim;
	old = statepack_open(spool_dir);
	(void)fputs(MAGIC, k.out);
	for (size_t i = 0; i < k.n; i++)
		pack_one(&k, old, i);
	if (fflush(k.out) != 0 || ferror(k.out) || (sync && fsync(fileno(k.out)) < 0) ||
	    rename(tmp, dest) < 0) {
		snprintf(err, errlen, "%s: %s", dest, strerror(errno));
		goto out;
	}
	rc = 1;
out:
	if (k.out != NULL)
		fclose(k.out);
	if (fd >= 0)
		close(fd);
	if (rc != 1)
		unlink(tmp);
	close(k.state_fd);
	statepack_close(old);
	spool_list_free(k.pending, k.npending);
	spool_list_free(k.names, k.n);
	free(k.buf.data);
	return rc;
}
