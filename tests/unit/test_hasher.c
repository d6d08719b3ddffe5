/*
 * hasher: the digest of a file written piece by piece while the worker
 * reads it back equals the digest of the whole; several files at once;
 * a sealed file is hashed and synced by the worker, which wakes the
 * writer; a file shorter than the writer claimed is an error, not a
 * digest; a dropped file ends cleanly.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "digest.h"
#include "hasher.h"
#include "tap.h"

#define FILES	3
#define SIZE	(3 * 1024 * 1024 + 12345)

static unsigned char *
pattern(size_t len, unsigned seed)
{
	unsigned char *p = malloc(len);

	for (size_t i = 0; p != NULL && i < len; i++)
		p[i] = (unsigned char)((i * 2654435761u + seed) >> 13);
	return p;
}

static int wakes;	/* written under the hasher's lock, read after it */

static void
count_wake(void *arg)
{
	(*(int *)arg)++;
}

static int
temp_file(void)
{
	char path[] = "/tmp/veo-hasher.XXXXXX";
	int fd = mkstemp(path);

	if (fd >= 0)
		unlink(path);
	return fd;
}

int
main(void)
{
	struct hasher *h = hasher_start();
	struct hashed_file *hf[FILES];
	unsigned char *data[FILES];
	char want[FILES][SHA256_HEX_LEN + 1], got[SHA256_HEX_LEN + 1];
	int fd[FILES], rc;

	ok(h != NULL, "hasher starts");
	for (int i = 0; i < FILES; i++) {
		data[i] = pattern(SIZE, (unsigned)i);
		sha256_hex(data[i], SIZE, want[i]);
		fd[i] = temp_file();
		hf[i] = hasher_add(h, fd[i]);
	}
	ok(hf[0] && hf[1] && hf[2], "three files added");
	/* Interleaved writes of odd sizes; the worker reads behind them. */
	for (size_t off = 0; off < SIZE; off += 70001) {
		size_t n = SIZE - off < 70001 ? SIZE - off : 70001;

		for (int i = 0; i < FILES; i++) {
			if (pwrite(fd[i], data[i] + off, n, (off_t)off) != (ssize_t)n)
				return 1;
			hasher_ready(hf[i], (long long)(off + n));
		}
	}
	/* The caller may close its descriptor: the hasher has its own. */
	close(fd[1]);
	for (int i = 0; i < FILES; i++) {
		rc = hasher_result(hf[i], got);
		is_int(rc, 0, "the digest is ready");
		is_str(got, want[i], "it is the digest of the whole file");
	}

	/* Sealed: hashed and synced by the worker, which then wakes us. */
	fd[0] = temp_file();
	hf[0] = hasher_add(h, fd[0]);
	if (pwrite(fd[0], data[0], SIZE, 0) != SIZE)
		return 1;
	hasher_seal(hf[0], SIZE, count_wake, &wakes);
	while ((rc = hasher_sealed(hf[0], got)) == 0)
		usleep(1000);
	is_int(rc, 1, "a sealed file ends with its digest");
	is_str(got, want[0], "the digest of the whole file");
	is_int(wakes, 1, "the worker woke the writer once");
	close(fd[0]);

	/* Claimed longer than it is: an error, never a digest of less. */
	fd[0] = temp_file();
	hf[0] = hasher_add(h, fd[0]);
	if (write(fd[0], data[0], 1000) != 1000)
		return 1;
	hasher_ready(hf[0], 5000);
	errno = 0;
	rc = hasher_result(hf[0], got);
	ok(rc == -1 && errno == EIO, "a file shorter than claimed: -1 with EIO");
	fd[1] = temp_file();
	hf[1] = hasher_add(h, fd[1]);
	hasher_seal(hf[1], 5000, NULL, NULL);
	while ((rc = hasher_sealed(hf[1], got)) == 0)
		usleep(1000);
	ok(rc == -1 && errno == EIO, "sealed shorter than it is: -1 with EIO");
	close(fd[1]);

	/* Dropped while work is pending. */
	hf[0] = hasher_add(h, fd[0]);
	hasher_ready(hf[0], 1000);
	hasher_drop(hf[0]);
	ok(1, "a dropped file ends without waiting for its digest");
	close(fd[0]);
	close(fd[2]);
	hasher_stop(h);
	for (int i = 0; i < FILES; i++)
		free(data[i]);
	return done_testing();
}
