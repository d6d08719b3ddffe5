#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

const char *log_progname = "veo";
static enum log_target target = LOG_TO_STDERR;
static int log_fd = -1;		/* LOG_TO_FILE */
static bool problems_to_stderr;

int
log_setup(const char *spec, enum log_target auto_target, bool also_stderr,
    char *err, size_t errlen)
{
	enum log_target t;
	int fd = -1;

	if (spec == NULL || strcmp(spec, "auto") == 0)
		t = auto_target;
	else if (strcmp(spec, "syslog") == 0)
		t = LOG_TO_SYSLOG;
	else if (strcmp(spec, "stderr") == 0)
		t = LOG_TO_STDERR;
	else if (strcmp(spec, "off") == 0)
		t = LOG_TO_OFF;
	else if (spec[0] == '/')
		t = LOG_TO_FILE;
	else {
		snprintf(err, errlen, "log: expected auto, syslog, stderr, off or an absolute path");
		return -1;
	}
	if (t == LOG_TO_FILE) {
		fd = open(spec, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0640);
		if (fd < 0) {
			snprintf(err, errlen, "log %s: %s", spec, strerror(errno));
			return -1;
		}
	}
	if (log_fd >= 0)
		close(log_fd);
	log_fd = fd;
	if (target == LOG_TO_SYSLOG && t != LOG_TO_SYSLOG)
		closelog();
	if (t == LOG_TO_SYSLOG)
		openlog(log_progname, LOG_PID | LOG_NDELAY, LOG_DAEMON);
	target = t;
	/* Only where stderr is not already the destination. */
	problems_to_stderr = also_stderr && t != LOG_TO_STDERR;
	return 0;
}

enum log_target
log_current(void)
{
	return target;
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

/*
 * Whether a syslog socket is there, looked at most every 10 s.  Without
 * one (a container with no syslog daemon), syslog(3) tries socket() and
 * connect() again for every line, only to drop it: skip that.
 */
static bool
syslog_reachable(void)
{
	static time_t checked;
	static bool there;
	time_t t = time(NULL);

	if (checked == 0 || t - checked >= 10 || t < checked) {
		there = access("/dev/log", W_OK) == 0;
		checked = t;
	}
	return there;
}

/* One write so that lines of concurrent processes do not interleave. */
static void
write_line(int fd, const char *line, size_t len)
{
	while (write(fd, line, len) < 0 && errno == EINTR)
		;
}

static void __attribute__((format(printf, 3, 0)))
vlog(enum log_level level, int errnum, const char *fmt, va_list ap)
{
	char line[2048];
	int saved = errno;
	int p = snprintf(line, sizeof line, "%s: ", log_progname), n;

	if (target == LOG_TO_OFF && !(problems_to_stderr && level < LOG_LEVEL_INFO))
		return;
	if (p < 0)
		return;
	n = p + vsnprintf(line + p, sizeof line - (size_t)p, fmt, ap);
	if (n < p || (size_t)n >= sizeof line - 80)
		n = n < p ? p : (int)(sizeof line - 80);
	if (errnum)
		n += snprintf(line + n, sizeof line - (size_t)n, ": %s", strerror(errnum));
	if ((size_t)n > sizeof line - 2)
		n = (int)(sizeof line - 2);	/* room for the newline */
	line[n] = '\0';
	switch (target) {
	case LOG_TO_SYSLOG:
		if (syslog_reachable())
			syslog((int)level, "%s", line + p);
		break;
	case LOG_TO_FILE:
		line[n] = '\n';
		write_line(log_fd, line, (size_t)n + 1);
		break;
	case LOG_TO_STDERR:
		line[n] = '\n';
		write_line(STDERR_FILENO, line, (size_t)n + 1);
		break;
	case LOG_TO_OFF:
		break;
	}
	if (problems_to_stderr && level < LOG_LEVEL_INFO) {
		line[n] = '\n';
		write_line(STDERR_FILENO, line, (size_t)n + 1);
	}
	errno = saved;
}

void
log_at(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(level, 0, fmt, ap);
	va_end(ap);
}

void
log_line(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_LEVEL_ERR, 0, fmt, ap);
	va_end(ap);
}

void
log_errno(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_LEVEL_ERR, saved, fmt, ap);
	va_end(ap);
	errno = saved;
}
