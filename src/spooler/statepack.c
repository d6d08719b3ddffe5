#include "statepack.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
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

struct entry {
	const char *id;		/* in the mapping, not NUL-terminated */
	size_t idlen;
	struct ident ident;
	const char *data;	/* size bytes, in the mapping */
};

struct statepack {
	void *map;
	size_t maplen;
	struct entry *v;
	size_t n;
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

/*
 * Parses the entry line at p (up to end): "<id> <7 numbers>\n".  Returns
 * the start of its data, or NULL when the line is not one.
 */
static const char *
parse_head(const char *p, const char *end, struct entry *e)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p) < HEAD_MAX ? (size_t)(end - p) : HEAD_MAX);
	long long v[6];
	const char *f = p;

	if (nl == NULL)
		return NULL;
	/* the taskId, then inode, size, mtime s, mtime ns, ctime s, ctime ns */
	for (int i = -1; i < 6; i++) {
		const char *sp = i < 5 ? memchr(f, ' ', (size_t)(nl - f)) : nl;

		if (sp == NULL)
			return NULL;
		if (i < 0) {
			e->id = f;
			e->idlen = (size_t)(sp - f);
			if (!taskid_valid(f, e->idlen))
				return NULL;
		} else if (num_parse_n(f, (size_t)(sp - f), i == 2 || i == 4 ? LLONG_MIN : 0,
		    i == 3 || i == 5 ? 999999999 : LLONG_MAX, &v[i]) < 0) {
			return NULL;
		}
		f = sp + 1;
	}
	e->ident.ino = (unsigned long long)v[0];
	e->ident.size = v[1];
	e->ident.mtime = v[2];
	e->ident.mtime_ns = v[3];
	e->ident.ctime = v[4];
	e->ident.ctime_ns = v[5];
	if (v[1] > end - (nl + 1))
		return NULL;
	e->data = nl + 1;
	return e->data;
}

static int
id_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	return c != 0 ? c : (alen > blen) - (alen < blen);
}

static int
cmp_entry(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

	return id_cmp(x->id, x->idlen, y->id, y->idlen);
}

/* Indexes the entries of the mapping; a damaged entry ends the index there. */
static void
index_pack(struct statepack *p)
{
	const char *cur = (const char *)p->map + strlen(MAGIC), *end = (const char *)p->map + p->maplen;
	size_t cap = 0;
	bool sorted = true;

	while (cur < end) {
		struct entry e;

		if (parse_head(cur, end, &e) == NULL)
			break;
		if (p->n == cap) {
			struct entry *nv = realloc(p->v, (cap = cap ? cap * 2 : 1024) * sizeof *nv);

			if (nv == NULL)
				break;
			p->v = nv;
		}
		if (p->n > 0 && cmp_entry(&p->v[p->n - 1], &e) >= 0)
			sorted = false;
		p->v[p->n++] = e;
		cur = e.data + e.ident.size;
	}
	if (!sorted)
		qsort(p->v, p->n, sizeof *p->v, cmp_entry);
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
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size < (off_t)strlen(MAGIC) ||
	    (p = calloc(1, sizeof *p)) == NULL) {
		close(fd);
		return NULL;
	}
	p->maplen = (size_t)st.st_size;
	p->map = mmap(NULL, p->maplen, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (p->map == MAP_FAILED || memcmp(p->map, MAGIC, strlen(MAGIC)) != 0) {
		if (p->map != MAP_FAILED)
			munmap(p->map, p->maplen);
		free(p);
		return NULL;
	}
	(void)madvise(p->map, p->maplen, MADV_SEQUENTIAL);
	index_pack(p);
	return p;
}

void
statepack_close(struct statepack *p)
{
	if (p == NULL)
		return;
	munmap(p->map, p->maplen);
	free(p->v);
	free(p);
}

size_t
statepack_count(const struct statepack *p)
{
	return p ? p->n : 0;
}

static const struct entry *
find(const struct statepack *p, const char *task_id)
{
	size_t lo = 0, hi = p ? p->n : 0, len = strlen(task_id);

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = id_cmp(task_id, len, p->v[mid].id, p->v[mid].idlen);

		if (c == 0)
			return &p->v[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* The entry of task_id when the file at state_fd/task_id is still the one packed. */
static const struct entry *
current(const struct statepack *p, int state_fd, const char *task_id)
{
	const struct entry *e = find(p, task_id);
	struct stat st;
	struct ident now;

	if (e == NULL || fstatat(state_fd, task_id, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    !S_ISREG(st.st_mode))
		return NULL;
	ident_of(&st, &now);
	return ident_same(&now, &e->ident) ? e : NULL;
}

const char *
statepack_get(const struct statepack *p, int state_fd, const char *task_id, size_t *len)
{
	const struct entry *e = current(p, state_fd, task_id);

	if (e == NULL)
		return NULL;
	*len = (size_t)e->ident.size;
	return e->data;
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
	struct statepack *old;
	char **names;		/* the state files, sorted */
	size_t n;
	const struct entry **reuse;	/* per name: its current entry in old, or NULL */
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
 * Which entries of the old pack are still current (k->reuse); true when
 * the new pack would be the old one: every finished task's entry current,
 * and no other entry in it.
 */
static bool
plan(struct packing *k)
{
	size_t reused = 0;
	bool same = k->old != NULL;

	for (size_t i = 0; i < k->n; i++) {
		/* wanted by sweeps (pending/): changes too often to pack */
		if (is_pending(k, k->names[i]))
			continue;
		if ((k->reuse[i] = current(k->old, k->state_fd, k->names[i])) != NULL)
			reused++;
		else
			same = false;
	}
	return same && reused == statepack_count(k->old);
}

/* Packs state file i: its old entry, or the file read now. */
static void
pack_one(struct packing *k, size_t i)
{
	const char *name = k->names[i];
	struct ident id;

	if (k->reuse[i] != NULL) {
		put_entry(k->out, name, &k->reuse[i]->ident, k->reuse[i]->data);
		return;
	}
	if (is_pending(k, name) || time(NULL) >= k->deadline ||
	    read_state(k->state_fd, name, &k->buf, &id) < 0)
		return;
	if (id.mtime >= (long long)k->ref.tv_sec - RACY_SECONDS ||
	    id.ctime >= (long long)k->ref.tv_sec - RACY_SECONDS)
		return;		/* racy: it could change again and keep its times */
	put_entry(k->out, name, &id, k->buf.data);
}

int
statepack_write(const char *spool_dir, time_t deadline, bool sync, char *err, size_t errlen)
{
	char dir[PATH_MAX], tmp[PATH_MAX], dest[PATH_MAX], name[128];
	struct packing k = { .state_fd = -1, .deadline = deadline };
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
	k.old = statepack_open(spool_dir);
	k.pending = spool_list(spool_dir, "pending", &k.npending);
	k.names = spool_list(spool_dir, "state", &k.n);
	if ((k.reuse = calloc(k.n + 1, sizeof(const struct entry *))) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (plan(&k)) {
		rc = 0;		/* nothing changed: the pack stays */
		goto out;
	}
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0660)) < 0 ||
	    fstat(fd, &st) < 0 || (k.out = fdopen(fd, "w")) == NULL) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;	/* k.out has it */
	k.ref = st.st_ctim;
	fputs(MAGIC, k.out);
	for (size_t i = 0; i < k.n; i++)
		pack_one(&k, i);
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
	statepack_close(k.old);
	spool_list_free(k.pending, k.npending);
	spool_list_free(k.names, k.n);
	free(k.reuse);
	free(k.buf.data);
	return rc;
}
