/*
 * durable-store: the disk's limit for what veo-callback does per new
 * callback with sync = yes, without any HTTP, FastCGI or parsing:
 *
 *     open(new/, O_TMPFILE) -> write(entry) -> fsync -> linkat(new/<name>)
 *     -> close -> open(new/) + fsync + close
 *
 * N processes (the responder's FastCGI children) do it in a loop for a given
 * time on the same directory; prints the stores per second of all of them.
 * bench/responder.sh compares veo-callback's sync=yes rate with this.
 *
 *     durable-store DIR PROCESSES SECONDS [ENTRY-BYTES]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long
worker(const char *dir, int id, double seconds, const char *entry, size_t len)
{
	char proc[64], dest[4096];
	double end = now() + seconds;
	long n = 0;

	while (now() < end) {
		int fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0660), dfd;

		if (fd < 0 || write(fd, entry, len) != (ssize_t)len || fsync(fd) < 0) {
			perror("durable-store: write");
			exit(1);
		}
		snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
		snprintf(dest, sizeof dest, "%s/bench_%d_%ld", dir, id, n);
		if (linkat(AT_FDCWD, proc, AT_FDCWD, dest, AT_SYMLINK_FOLLOW) < 0) {
			perror("durable-store: linkat");
			exit(1);
		}
		close(fd);
		if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 || fsync(dfd) < 0) {
			perror("durable-store: fsync dir");
			exit(1);
		}
		close(dfd);
		n++;
	}
	return n;
}

int
main(int argc, char **argv)
{
	int procs, fds[2];
	double seconds, t0;
	size_t len;
	char *entry;
	long total = 0;

	if (argc < 4) {
		fprintf(stderr, "usage: durable-store DIR PROCESSES SECONDS [ENTRY-BYTES]\n");
		return 2;
	}
	procs = atoi(argv[2]);
	seconds = atof(argv[3]);
	len = argc > 4 ? (size_t)atol(argv[4]) : 600;	/* header + a typical callback */
	if (procs < 1 || procs > 256 || seconds <= 0 || len < 1 || len > (1 << 24) ||
	    (entry = malloc(len)) == NULL || pipe(fds) < 0) {
		fprintf(stderr, "durable-store: bad arguments\n");
		return 2;
	}
	memset(entry, 'x', len);
	t0 = now();
	for (int i = 0; i < procs; i++) {
		pid_t pid = fork();

		if (pid == 0) {
			long n = worker(argv[1], i, seconds, entry, len);

			if (write(fds[1], &n, sizeof n) != sizeof n)
				_exit(1);
			_exit(0);
		}
		if (pid < 0) {
			perror("durable-store: fork");
			return 1;
		}
	}
	close(fds[1]);
	for (int i = 0; i < procs; i++) {
		long n;

		if (read(fds[0], &n, sizeof n) == sizeof n)
			total += n;
	}
	while (wait(NULL) > 0)
		;
	printf("%.1f\n", (double)total / (now() - t0));
	return 0;
}
