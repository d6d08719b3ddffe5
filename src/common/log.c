#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

const char *log_progname = "veo";
static log_sink_fn sink;
static void *sink_ctx;

void
log_set_sink(log_sink_fn fn, void *ctx)
{
	sink = fn;
	sink_ctx = ctx;
}

char *
log_escape(char *dst, size_t dstlen, const char *src, size_t srclen)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0, total = 0;

	if (dstlen == 0)
		return dst;
	/* Room for "..." is kept only when the whole escape would not fit. */
	for (size_t i = 0; i < srclen && total < dstlen; i++) {
		unsigned char c = (unsigned char)src[i];

		total += c >= 0x20 && c < 0x7f && c != '"' && c != '\\' ? 1 : 4;
	}
	for (size_t i = 0; i < srclen; i++) {
		unsigned char c = (unsigned char)src[i];
		int plain = c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
		size_t need = plain ? 1 : 4;

		/* Keep room for "..." and the NUL. */
		if (total >= dstlen && o + need + 4 > dstlen) {
			if (o + 4 <= dstlen)
				memcpy(dst + o, "...", 3), o += 3;
			break;
		}
		if (plain) {
			dst[o++] = (char)c;
		} else {
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = hex[c >> 4];
			dst[o++] = hex[c & 15];
		}
	}
	dst[o] = '\0';
	return dst;
}

char *
log_timestamp(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;
	char sec[24];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(sec, sizeof sec, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%06ldZ", sec, ts.tv_nsec / 1000);
	return buf;
}

static void __attribute__((format(printf, 2, 0)))
vlog(int errnum, const char *fmt, va_list ap)
{
	char line[2048];
	int n = snprintf(line, sizeof line, "%s: ", log_progname);

	if (n < 0)
		return;
	n += vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
	if ((size_t)n >= sizeof line - 80)
		n = (int)(sizeof line - 80);
	if (errnum)
		n += snprintf(line + n, sizeof line - (size_t)n, ": %s", strerror(errnum));
	line[n++] = '\n';
	if (sink != NULL) {
		sink(sink_ctx, line, (size_t)n);
		return;
	}
	/* One write so that lines of concurrent processes do not interleave. */
	while (write(STDERR_FILENO, line, (size_t)n) < 0 && errno == EINTR)
		;
}

void
log_line(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(0, fmt, ap);
	va_end(ap);
}

void
log_errno(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	vlog(saved, fmt, ap);
	va_end(ap);
	errno = saved;
}
