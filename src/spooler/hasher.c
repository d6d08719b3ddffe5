#include "hasher.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#define HASH_CHUNK	(256 * 1024)	/* one pread; large enough to be cheap */

struct hashed_file {
	struct hasher		*h;
	struct hashed_file	*next;		/* in h->files */
	int			 fd;		/* our own dup */
	struct sha256_stream	*sha;		/* used only by whoever set busy */
	/* guarded by h->mu */
	long long		 ready;		/* [0, ready) may be hashed */
	long long		 done;		/* [0, done) is hashed */
	bool			 busy;		/* a chunk is being read outside the lock */
	int			 error;		/* errno of a failed read or sync; 0 */
	bool			 sealed;	/* ready is the whole file: sync it after */
	bool			 synced;	/* sealed, hashed and fsync'd */
	void			(*wake)(void *);
	void			*wake_arg;
};

struct hasher {
	pthread_mutex_t		 mu;
	pthread_cond_t		 work;		/* the worker waits for a file to hash */
	pthread_cond_t		 progress;	/* result/drop wait for a chunk to end */
	struct hashed_file	*files;
	bool			 stop;
	bool			 threaded;
	pthread_t		 thread;
	unsigned char		*wbuf;		/* the worker's */
	unsigned char		*cbuf;		/* the caller's, when it helps */
};

/* With h->mu held: a sealed file whose bytes are all hashed, to be synced. */
static bool
to_sync(const struct hashed_file *f)
{
	return f->sealed && !f->synced && f->done == f->ready;
}

/* With h->mu held: a file with work (bytes to hash, or a sync) that nobody is on. */
static struct hashed_file *
pick(struct hasher *h)
{
	for (struct hashed_file *f = h->files; f != NULL; f = f->next)
		if (!f->busy && f->error == 0 && (f->done < f->ready || to_sync(f)))
			return f;
	return NULL;
}

/*
 * Syncs a sealed file (called and returns with h->mu held), then tells
 * the writer, whose loop may be asleep in poll.
 */
static void
sync_sealed(struct hasher *h, struct hashed_file *f)
{
	int err = 0;

	f->busy = true;
	pthread_mutex_unlock(&h->mu);
	if (fsync(f->fd) < 0)
		err = errno;
	pthread_mutex_lock(&h->mu);
	f->busy = false;
	f->error = err;
	f->synced = err == 0;
	pthread_cond_broadcast(&h->progress);
	if (f->wake != NULL)
		f->wake(f->wake_arg);
}

/* With h->mu held: moves f to the end, so that files take turns. */
static void
unlink_file(struct hasher *h, struct hashed_file *f)
{
	struct hashed_file **p;

	for (p = &h->files; *p != NULL; p = &(*p)->next)
		if (*p == f) {
			*p = f->next;
			break;
		}
	f->next = NULL;
}

static void
to_back(struct hasher *h, struct hashed_file *f)
{
	struct hashed_file **p;

	unlink_file(h, f);
	for (p = &h->files; *p != NULL; p = &(*p)->next)
		;
	*p = f;
}

/*
 * Hashes the next chunk of f.  Called and returns with h->mu held; the
 * read and the hashing run without it, f marked busy meanwhile.
 */
static void
step(struct hasher *h, struct hashed_file *f, unsigned char *buf)
{
	long long off = f->done, left = f->ready - f->done;
	size_t want = left < HASH_CHUNK ? (size_t)left : HASH_CHUNK;
	ssize_t n;
	int err = 0;

	f->busy = true;
	pthread_mutex_unlock(&h->mu);
	do
		n = pread(f->fd, buf, want, (off_t)off);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		err = errno;
	else if (n == 0)
		err = EIO;		/* shorter than the writer said: shrank under us */
	else if (sha256_update(f->sha, buf, (size_t)n) < 0)
		err = ENOMEM;
	else
		/*
		 * Start writing these bytes to disk now, off the transfer
		 * loop, so that the fsync before the rename finds little left
		 * to do (it ran for tens of milliseconds a file, stalling
		 * every transfer).  Only a hint: errors show at that fsync.
		 */
		(void)sync_file_range(f->fd, (off_t)off, (off_t)n, SYNC_FILE_RANGE_WRITE);
	pthread_mutex_lock(&h->mu);
	f->busy = false;
	if (err != 0)
		f->error = err;
	else
		f->done += n;
	to_back(h, f);
	pthread_cond_broadcast(&h->progress);
	if (err != 0 && f->sealed && f->wake != NULL)
		f->wake(f->wake_arg);	/* the writer waits for an answer */
}

/* With h->mu held: the next piece of work on f, whichever it is. */
static void
work_on(struct hasher *h, struct hashed_file *f, unsigned char *buf)
{
	if (f->done < f->ready)
		step(h, f, buf);
	else
		sync_sealed(h, f);
}

static void *
worker(void *arg)
{
	struct hasher *h = arg;
	struct hashed_file *f;

	pthread_mutex_lock(&h->mu);
	while (!h->stop) {
		if ((f = pick(h)) != NULL)
			work_on(h, f, h->wbuf);
		else
			pthread_cond_wait(&h->work, &h->mu);
	}
	pthread_mutex_unlock(&h->mu);
	return NULL;
}

struct hasher *
hasher_start(void)
{
	struct hasher *h = calloc(1, sizeof *h);

	if (h == NULL)
		return NULL;
	if ((h->wbuf = malloc(HASH_CHUNK)) == NULL || (h->cbuf = malloc(HASH_CHUNK)) == NULL) {
		free(h->wbuf);
		free(h);
		return NULL;
	}
	pthread_mutex_init(&h->mu, NULL);
	pthread_cond_init(&h->work, NULL);
	pthread_cond_init(&h->progress, NULL);
	/* Without a thread the caller hashes in hasher_result(): still right. */
	h->threaded = pthread_create(&h->thread, NULL, worker, h) == 0;
	return h;
}

void
hasher_stop(struct hasher *h)
{
	if (h == NULL)
		return;
	if (h->threaded) {
		pthread_mutex_lock(&h->mu);
		h->stop = true;
		pthread_cond_signal(&h->work);
		pthread_mutex_unlock(&h->mu);
		pthread_join(h->thread, NULL);
	}
	pthread_cond_destroy(&h->progress);
	pthread_cond_destroy(&h->work);
	pthread_mutex_destroy(&h->mu);
	free(h->wbuf);
	free(h->cbuf);
	free(h);
}

struct hashed_file *
hasher_add(struct hasher *h, int fd)
{
	struct hashed_file *f = calloc(1, sizeof *f);

	if (f == NULL)
		return NULL;
	f->h = h;
	if ((f->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0 || (f->sha = sha256_new()) == NULL) {
		if (f->fd >= 0)
			close(f->fd);
		free(f);
		return NULL;
	}
	pthread_mutex_lock(&h->mu);
	to_back(h, f);
	pthread_mutex_unlock(&h->mu);
	return f;
}

void
hasher_ready(struct hashed_file *f, long long ready)
{
	struct hasher *h = f->h;

	pthread_mutex_lock(&h->mu);
	if (ready > f->ready) {
		f->ready = ready;
		pthread_cond_signal(&h->work);
	}
	pthread_mutex_unlock(&h->mu);
}

void
hasher_seal(struct hashed_file *f, long long total, void (*wake)(void *), void *arg)
{
	struct hasher *h = f->h;

	pthread_mutex_lock(&h->mu);
	if (total > f->ready)
		f->ready = total;
	f->sealed = true;
	f->wake = wake;
	f->wake_arg = arg;
	if (h->threaded)
		pthread_cond_signal(&h->work);
	else
		/* No worker: the caller does it all now. */
		while (f->error == 0 && !f->synced)
			work_on(h, f, h->cbuf);
	pthread_mutex_unlock(&h->mu);
}

/* Ends f: out of the list (after any read of it), closed, freed. */
static void
release(struct hashed_file *f)
{
	struct hasher *h = f->h;

	pthread_mutex_lock(&h->mu);
	while (f->busy)
		pthread_cond_wait(&h->progress, &h->mu);
	unlink_file(h, f);
	pthread_mutex_unlock(&h->mu);
	close(f->fd);
	sha256_free(f->sha);
	free(f);
}

/* The digest when err is 0, then f is freed: 1, or -1 with errno. */
static int
conclude(struct hashed_file *f, int err, char hex[SHA256_HEX_LEN + 1])
{
	if (err == 0 && sha256_final_hex(f->sha, hex) < 0)
		err = ENOMEM;
	release(f);
	if (err != 0) {
		errno = err;
		return -1;
	}
	return 1;
}

int
hasher_result(struct hashed_file *f, char hex[SHA256_HEX_LEN + 1])
{
	struct hasher *h = f->h;
	int err;

	pthread_mutex_lock(&h->mu);
	while (f->error == 0 && f->done < f->ready) {
		/* Help rather than wait: the worker may be on another file. */
		if (!f->busy)
			step(h, f, h->cbuf);
		else
			pthread_cond_wait(&h->progress, &h->mu);
	}
	err = f->error;
	pthread_mutex_unlock(&h->mu);
	return conclude(f, err, hex) < 0 ? -1 : 0;
}

int
hasher_sealed(struct hashed_file *f, char hex[SHA256_HEX_LEN + 1])
{
	struct hasher *h = f->h;
	int err;

	pthread_mutex_lock(&h->mu);
	err = f->error;
	if (err == 0 && !f->synced) {
		pthread_mutex_unlock(&h->mu);
		return 0;
	}
	pthread_mutex_unlock(&h->mu);
	return conclude(f, err, hex);
}

void
hasher_drop(struct hashed_file *f)
{
	if (f != NULL)
		release(f);
}
