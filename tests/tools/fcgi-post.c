/*
 * fcgi-post: stores many callbacks through a FastCGI responder as fast as
 * it answers, with no web server in between: a closed-loop FastCGI client
 * on a Unix socket (veo-callback under spawn-fcgi, or --listen PATH).  It
 * makes the history of bench/growth.sh and tests/growth.t.
 *
 *     fcgi-post SOCKET PREFIX FROM TO CODE [CONNECTIONS]
 *
 * POSTs one callback for each taskId PREFIX_i, FROM <= i < TO, with the
 * given code (200 with one result URL, anything else a failure with info
 * null), from CONNECTIONS processes (default 2), one request a connection.
 *
 * Output, one line:  sent=N ok=N bad=N seconds=S rate=R
 * Exit status 0 when every reply was 200.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { BEGIN_REQUEST = 1, END_REQUEST = 3, PARAMS = 4, STDIN = 5, STDOUT = 6 };

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Appends a record of type with len bytes of content to buf at *off. */
static void
record(unsigned char *buf, size_t *off, int type, const void *content, size_t len)
{
	unsigned char *h = buf + *off;

	h[0] = 1;
	h[1] = (unsigned char)type;
	h[2] = 0;
	h[3] = 1;			/* request id 1 */
	h[4] = (unsigned char)(len >> 8);
	h[5] = (unsigned char)len;
	h[6] = h[7] = 0;		/* no padding */
	if (len > 0)
		memcpy(h + 8, content, len);
	*off += 8 + len;
}

/* Appends one name-value pair (both shorter than 128 bytes). */
static void
pair(unsigned char *buf, size_t *off, const char *name, const char *value)
{
	size_t n = strlen(name), v = strlen(value);

	buf[(*off)++] = (unsigned char)n;
	buf[(*off)++] = (unsigned char)v;
	memcpy(buf + *off, name, n);
	memcpy(buf + *off + n, value, v);
	*off += n + v;
}

static int
read_full(int fd, unsigned char *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t r = read(fd, buf + got, len - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

/* One request; 1 when the reply was 200, 0 otherwise. */
static int
post(const char *sock, const char *prefix, long i, int code)
{
	unsigned char req[4096], params[1024], head[8], content[65536 + 256];
	char body[512], clen[16];
	size_t off = 0, poff = 0;
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd, blen, ok = 0;
	static const unsigned char begin[8] = { 0, 1, 0 };	/* responder, no keep-alive */

	if (code == 200)
		blen = snprintf(body, sizeof body, "{\"code\":200,\"msg\":\"Veo3.1 video generated "
		    "successfully.\",\"data\":{\"taskId\":\"%s_%ld\",\"info\":{\"resultUrls\":"
		    "[\"https://cdn.example.com/%s_%ld.mp4\"],\"resolution\":\"720p\"},"
		    "\"fallbackFlag\":false}}", prefix, i, prefix, i);
	else
		blen = snprintf(body, sizeof body, "{\"code\":%d,\"msg\":\"generation failed\","
		    "\"data\":{\"taskId\":\"%s_%ld\",\"info\":null}}", code, prefix, i);
	snprintf(clen, sizeof clen, "%d", blen);
	pair(params, &poff, "REQUEST_METHOD", "POST");
	pair(params, &poff, "CONTENT_TYPE", "application/json");
	pair(params, &poff, "CONTENT_LENGTH", clen);
	pair(params, &poff, "REMOTE_ADDR", "127.0.0.1");
	pair(params, &poff, "QUERY_STRING", "");
	pair(params, &poff, "GATEWAY_INTERFACE", "CGI/1.1");
	record(req, &off, BEGIN_REQUEST, begin, sizeof begin);
	record(req, &off, PARAMS, params, poff);
	record(req, &off, PARAMS, NULL, 0);
	record(req, &off, STDIN, body, (size_t)blen);
	record(req, &off, STDIN, NULL, 0);

	snprintf(a.sun_path, sizeof a.sun_path, "%s", sock);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
		perror("fcgi-post: connect");
		exit(1);
	}
	if (write(fd, req, off) != (ssize_t)off)
		goto out;
	for (;;) {
		size_t len, pad;

		if (read_full(fd, head, 8) < 0)
			goto out;
		len = (size_t)head[4] << 8 | head[5];
		pad = head[6];
		if (read_full(fd, content, len + pad) < 0)
			goto out;
		if (head[1] == STDOUT && len >= 11 && memcmp(content, "Status: 200", 11) == 0)
			ok = 1;
		if (head[1] == END_REQUEST)
			break;
	}
out:
	close(fd);
	return ok;
}

int
main(int argc, char **argv)
{
	long from, to, ok = 0, bad = 0;
	int code, nconn, fds[2];
	double start;

	if (argc < 6) {
		fprintf(stderr, "usage: fcgi-post SOCKET PREFIX FROM TO CODE [CONNECTIONS]\n");
		return 2;
	}
	from = atol(argv[3]);
	to = atol(argv[4]);
	code = atoi(argv[5]);
	nconn = argc > 6 ? atoi(argv[6]) : 2;
	if (from < 0 || to < from || nconn < 1 || nconn > 64 || pipe(fds) < 0)
		return 2;
	start = now();
	for (int c = 0; c < nconn; c++) {
		if (fork() == 0) {
			long n[2] = { 0, 0 };

			close(fds[0]);
			for (long i = from + c; i < to; i += nconn)
				n[post(argv[1], argv[2], i, code) ? 0 : 1]++;
			if (write(fds[1], n, sizeof n) != (ssize_t)sizeof n)
				_exit(1);
			_exit(0);
		}
	}
	close(fds[1]);
	for (int c = 0; c < nconn; c++) {
		long n[2];

		if (read_full(fds[0], (unsigned char *)n, sizeof n) == 0) {
			ok += n[0];
			bad += n[1];
		}
	}
	while (wait(NULL) > 0)
		;
	printf("sent=%ld ok=%ld bad=%ld seconds=%.1f rate=%.0f\n", to - from, ok, bad,
	    now() - start, (double)(to - from) / (now() - start + 1e-9));
	return bad == 0 && ok == to - from ? 0 : 1;
}
