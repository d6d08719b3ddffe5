/*
 * fixed-rate: an open-loop HTTP load generator in the manner of wrk2: POSTs
 * a valid callback (a new taskId each time) at a fixed rate over keep-alive
 * connections, and prints latency percentiles.
 *
 * Request i is due at start + i / rate.  Its latency runs from when it was
 * due, not from when a connection was free to send it, so a stall counts
 * for every request it delays (no "coordinated omission").
 *
 *     fixed-rate PORT PATH RATE SECONDS [CONNECTIONS]
 *
 * Output, one line:  sent=N ok=N bad=N rate=R p50=MS p90=MS p99=MS p999=MS max=MS
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAXCONN 256

struct conn {
	int fd;
	int busy;
	double due;		/* when its request was due */
	char buf[8192];
	size_t got;
};

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
connect_to(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((unsigned short)port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
		perror("fixed-rate: connect");
		exit(1);
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fd;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* A whole response in c->buf: its length, or 0 when more is needed. */
static size_t
response_len(const struct conn *c, int *status)
{
	const char *end = memmem(c->buf, c->got, "\r\n\r\n", 4), *cl;
	size_t head, body = 0;

	if (end == NULL)
		return 0;
	head = (size_t)(end - c->buf) + 4;
	*status = atoi(c->buf + 9);
	cl = memmem(c->buf, head, "Content-Length: ", 16);
	if (cl == NULL)
		cl = memmem(c->buf, head, "content-length: ", 16);
	if (cl != NULL)
		body = (size_t)atol(cl + 16);
	return c->got >= head + body ? head + body : 0;
}

static void
send_request(struct conn *c, const char *path, long n, double due)
{
	char body[512], req[1024];
	int blen, rlen;

	blen = snprintf(body, sizeof body,
	    "{\"code\":200,\"msg\":\"Veo3.1 video generated successfully.\",\"data\":{\"taskId\":"
	    "\"fr_%d_%ld\",\"info\":{\"resultUrls\":[\"https://cdn.example.com/fr_%ld.mp4\"],"
	    "\"originUrls\":null,\"resolution\":\"1080p\"},\"fallbackFlag\":false}}",
	    (int)getpid(), n, n);
	rlen = snprintf(req, sizeof req, "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	    "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", path, blen, body);
	if (write(c->fd, req, (size_t)rlen) != rlen) {
		perror("fixed-rate: write");
		exit(1);
	}
	c->busy = 1;
	c->due = due;
	c->got = 0;
}

int
main(int argc, char **argv)
{
	struct conn conns[MAXCONN];
	struct pollfd pfd[MAXCONN];
	int port, nconn, rr = 0;
	double rate, seconds, start, end, *lat;
	long total, sent = 0, done = 0, good = 0, bad = 0;

	if (argc < 5) {
		fprintf(stderr, "usage: fixed-rate PORT PATH RATE SECONDS [CONNECTIONS]\n");
		return 2;
	}
	port = atoi(argv[1]);
	rate = atof(argv[3]);
	seconds = atof(argv[4]);
	nconn = argc > 5 ? atoi(argv[5]) : 16;
	if (port <= 0 || rate <= 0 || seconds <= 0 || nconn < 1 || nconn > MAXCONN)
		return 2;
	total = (long)(rate * seconds);
	if ((lat = calloc((size_t)total + 1, sizeof *lat)) == NULL)
		return 1;
	for (int i = 0; i < nconn; i++) {
		conns[i] = (struct conn){ .fd = connect_to(port) };
		pfd[i] = (struct pollfd){ conns[i].fd, POLLIN, 0 };
	}
	start = now();
	end = start + seconds + 10;	/* time left for the last replies */
	while (done < total && now() < end) {
		double t = now(), next;
		int wait_ms;

		/* Send every request that is due, as long as a connection is free
		 * (taken in turn, so that the load spreads over all of them). */
		while (sent < total && start + (double)sent / rate <= t) {
			int i, k;

			for (k = 0, i = rr; k < nconn && conns[i].busy; k++, i = (i + 1) % nconn)
				;
			if (k == nconn)
				break;
			send_request(&conns[i], argv[2], sent, start + (double)sent / rate);
			rr = (i + 1) % nconn;
			sent++;
		}
		next = sent < total ? start + (double)sent / rate : t + 0.01;
		wait_ms = next > t ? (int)((next - t) * 1000) : 0;
		if (poll(pfd, (nfds_t)nconn, wait_ms) < 0 && errno != EINTR)
			return 1;
		for (int i = 0; i < nconn; i++) {
			struct conn *c = &conns[i];
			ssize_t n;
			size_t len;
			int status = 0;

			if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			n = read(c->fd, c->buf + c->got, sizeof c->buf - c->got);
			if (n <= 0) {
				/* nginx closes a keep-alive connection after keepalive_requests. */
				if (c->busy) {
					lat[done++] = (now() - c->due) * 1000.0;
					bad++;
				}
				close(c->fd);
				*c = (struct conn){ .fd = connect_to(port) };
				pfd[i].fd = c->fd;
				continue;
			}
			c->got += (size_t)n;
			if ((len = response_len(c, &status)) == 0)
				continue;
			lat[done++] = (now() - c->due) * 1000.0;
			if (status == 200)
				good++;
			else
				bad++;
			c->busy = 0;
			c->got = 0;
		}
	}
	qsort(lat, (size_t)done, sizeof *lat, cmp_double);
#define PCT(p) (done ? lat[(size_t)((double)(done - 1) * (p))] : 0.0)
	printf("sent=%ld ok=%ld bad=%ld rate=%.1f p50=%.2f p90=%.2f p99=%.2f p999=%.2f max=%.2f\n",
	    sent, good, bad, (double)done / seconds, PCT(0.50), PCT(0.90), PCT(0.99), PCT(0.999),
	    done ? lat[done - 1] : 0.0);
	return 0;
}
