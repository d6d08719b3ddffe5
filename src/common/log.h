/*
 * log: one-line diagnostics on stderr, and escaping of untrusted text.
 *
 * Nothing from a request or a payload is printed without log_escape():
 * it keeps printable ASCII except '"' and '\\', and writes every other
 * byte as \xNN, so a log line stays one line and cannot carry terminal
 * control sequences.
 */
#ifndef VEO_LOG_H
#define VEO_LOG_H

#include <stddef.h>

/* Program name used as the prefix of every line; set once in main(). */
extern const char *log_progname;

/*
 * Escapes the first srclen bytes of src into dst (capacity dstlen, always
 * NUL-terminated when dstlen > 0).  When the result would not fit it ends in
 * "..." instead.  Returns dst.
 */
char *log_escape(char *dst, size_t dstlen, const char *src, size_t srclen);

/*
 * Where lines go instead of stderr, when set (NULL: back to stderr).  The
 * FastCGI responder uses it to reach the web server's error log through
 * the FastCGI stderr stream when its own stderr leads nowhere.
 */
typedef void (*log_sink_fn)(void *ctx, const char *line, size_t len);
void log_set_sink(log_sink_fn fn, void *ctx);

/* "progname: message\n" on stderr (or the sink), in one write. */
void log_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Like log_line() with ": strerror(errno)" appended. */
void log_errno(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Formats the current UTC time as 2026-11-27T13:37:52.123456Z (buf >= 32). */
char *log_timestamp(char *buf, size_t len);

#endif
