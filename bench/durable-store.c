/*
 * durable-store: the disk's limit for what veo-callback does per new
 * callback with sync = yes, without any HTTP, FastCGI or parsing:
 *
 *     open(new/, O_TMPFILE) -> write(entry) -> fsync -> linkat(new/<name>)
 *     -> close -> open(new/) + fsync + close
 *
 * N processes (the responder's FastCGI children) do it in a loop for a given
 * time on the same directory; prints the stores per second of all of them,
 * and the median and 99th percentile of one store's time in milliseconds
 * (over all stores of all processes): "RATE P50 P99".
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
#include <sys/mman.h>
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

#define MAXOPS 1000000

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Stores until the time is up; each one's duration (ms) goes to lat[]. */
static long
worker(const char *dir, int id, double seconds, const char *entry, size_t len, double *lat)
{
	char proc[64], dest[4096];
	double end = now() + seconds;
	long n = 0;

	while (now() < end && n < MAXOPS) {
		double t0 = now();
		int fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0660), dfd;

		if (fd < 0 || write(fd, entry, len) != (ssize_t)len || fsync(fd) < 0) {
			perror("durable-store: write");
			exit(1);
		}
		snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
		snprintf(dest, sizeof dest, "%s/bench_%d_%d_%ld", dir, (int)getpid(), id, n);
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
		lat[n++] = (now() - t0) * 1000.0;
	}
	return n;
}

int
main(int argc, char **argv)
{
	int procs;
	double seconds, t0, *lat;
	long *counts, total = 0;
	size_t len;
	char *entry;

	if (argc < 4) {
		fprintf(stderr, "usage: durable-store DIR PROCESSES SECONDS [ENTRY-BYTES]\n");
		return 2;
	}
	procs = atoi(argv[2]);
	seconds = atof(argv[3]);
	len = argc > 4 ? (size_t)atol(argv[4]) : 600;	/* header + a typical callback */
	if (procs < 1 || procs > 64 || seconds <= 0 || len < 1 || len > (1 << 24) ||
	    (entry = malloc(len)) == NULL) {
		fprintf(stderr, "durable-store: bad arguments\n");
		return 2;
	}
	/* Shared with the children: their counts and every store's duration. */
	counts = mmap(NULL, (size_t)procs * sizeof *counts, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	lat = mmap(NULL, (size_t)procs * MAXOPS * sizeof *lat, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (counts == MAP_FAILED || lat == MAP_FAILED) {
		perror("durable-store: mmap");
		return 1;
	}
	memset(entry, 'x', len);
	t0 = now();
	for (int i = 0; i < procs; i++) {
		pid_t pid = fork();

		if (pid == 0) {
			counts[i] = worker(argv[1], i, seconds, entry, len, lat + (size_t)i * MAXOPS);
			_exit(0);
		}
		if (pid < 0) {
			perror("durable-store: fork");
			return 1;
		}
	}
	while (wait(NULL) > 0)
		;
	t0 = now() - t0;
	/* Gather the durations at the front, then sort them. */
	for (int i = 0; i < procs; i++) {
		memmove(lat + total, lat + (size_t)i * MAXOPS, (size_t)counts[i] * sizeof *lat);
		total += counts[i];
	}
	qsort(lat, (size_t)total, sizeof *lat, cmp_double);
	printf("%.1f %.2f %.2f\n", (double)total / t0,
	    total ? lat[(size_t)(total - 1) / 2] : 0.0,
	    total ? lat[(size_t)((double)(total - 1) * 0.99)] : 0.0);
	return 0;
}
