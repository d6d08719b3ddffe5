/*
 * log: one-line diagnostics, and escaping of untrusted text.
 *
 * Where lines go is the "log" setting (veo-callback.conf(5)), set up once
 * per process with log_setup(): syslog (facility daemon, ident the program
 * name), stderr, a file (opened O_APPEND, one write(2) a line, so that the
 * lines of concurrent processes never interleave), or nowhere.  Until then,
 * and for "stderr", lines go to stderr.  A line is never written into a
 * FastCGI stream: nginx logs such a line at [error] together with the
 * request line, query string and token included.
 *
 * Lines carry no query string, no header value and no secret: callers log
 * their own words and checked values (the taskId, the address), escaped.
 *
 * Nothing from a request or a payload is printed without log_escape():
 * it keeps printable ASCII except '"' and '\\', and writes every other
 * byte as \xNN, so a log line stays one line and cannot carry terminal
 * control sequences.
 */
#ifndef VEO_LOG_H
#define VEO_LOG_H

#include <stdbool.h>
#include <stddef.h>

/* Program name used as the prefix of every line; set once in main(). */
extern const char *log_progname;

/*
 * Escapes the first srclen bytes of src into dst (capacity dstlen, always
 * NUL-terminated when dstlen > 0).  When the result would not fit it ends in
 * "..." instead.  Returns dst.
 */
char *log_escape(char *dst, size_t dstlen, const char *src, size_t srclen);

enum log_target { LOG_TO_STDERR, LOG_TO_SYSLOG, LOG_TO_FILE, LOG_TO_OFF };

/*
 * Sets where lines go from a "log" value: "syslog", "stderr", "off", an
 * absolute file path, or "auto" (or NULL), which means auto_target (the
 * program decides: see veo-callback(8)).  With also_stderr, warnings and
 * errors are written to stderr as well (for CGI, where stderr is the web
 * server's error log, which records no query string).  Returns 0, or -1 with
 * a reason in err (then lines keep going where they went).
 */
int log_setup(const char *spec, enum log_target auto_target, bool also_stderr,
    char *err, size_t errlen);
/* Where lines go now. */
enum log_target log_current(void);

/* Severities, as syslog's: successes are info, refusals warnings, failures errors. */
enum log_level { LOG_LEVEL_ERR = 3, LOG_LEVEL_WARNING = 4, LOG_LEVEL_INFO = 6 };

/* "progname: message\n" at level, in one write (syslog: the message alone). */
void log_at(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* An error: log_at(LOG_LEVEL_ERR, ...). */
void log_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Like log_line() with ": strerror(errno)" appended. */
void log_errno(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Formats the current UTC time as 2026-11-27T13:37:52.123456Z (buf >= 32). */
char *log_timestamp(char *buf, size_t len);

#endif
