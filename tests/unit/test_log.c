/*
 * test_log: log_escape() (the one door from untrusted bytes to a log line),
 * the timestamp format, and that log_line()/log_errno() write one line.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "tap.h"

/* The escaping rule of log.h, written out independently and without limit. */
static size_t
ref_escape(char *out, const unsigned char *s, size_t len)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		if (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"' && s[i] != '\\')
			out[o++] = (char)s[i];
		else
			o += (size_t)sprintf(out + o, "\\x%02x", s[i]);
	}
	out[o] = '\0';
	return o;
}

static void
is_escape(const char *src, size_t len, size_t dstlen, const char *want, const char *name)
{
	char dst[256];

	memset(dst, 'Z', sizeof dst);
	log_escape(dst, dstlen, src, len);
	if (!ok(strcmp(dst, want) == 0 && dst[dstlen] == 'Z', "%s", name))
		printf("#   got: '%.*s'\n#   expected: '%s'\n", (int)dstlen, dst, want);
}

static void
test_escape(void)
{
	char dst[64];

	is_escape("abc", 3, 64, "abc", "plain ASCII kept");
	is_escape(" ~!#$%&'()*+,-./:;<=>?@[]^_`{|}", 31, 64, " ~!#$%&'()*+,-./:;<=>?@[]^_`{|}",
	    "printable punctuation kept");
	is_escape("a\nb\rc\td", 7, 64, "a\\x0ab\\x0dc\\x09d", "newline, CR, tab escaped");
	is_escape("\x1b[31m", 5, 64, "\\x1b[31m", "terminal escape neutralised");
	is_escape("a\0b", 3, 64, "a\\x00b", "NUL inside srclen escaped");
	is_escape("\"q\"", 3, 64, "\\x22q\\x22", "double quotes escaped");
	is_escape("a\\b", 3, 64, "a\\x5cb", "backslash escaped");
	is_escape("\x7f\x80\xff", 3, 64, "\\x7f\\x80\\xff", "DEL and high bytes escaped");
	is_escape("\xc3\xa9", 2, 64, "\\xc3\\xa9", "UTF-8 escaped byte by byte");
	is_escape("abcdef", 3, 64, "abc", "only srclen bytes read");
	is_escape("", 0, 64, "", "empty input");
	ok(log_escape(dst, sizeof dst, "x", 1) == dst, "returns dst");

	/* Exactly fitting output is not truncated. */
	is_escape("abc", 3, 4, "abc", "3 bytes in 4: fits exactly");
	is_escape("abcdefg", 7, 8, "abcdefg", "7 bytes in 8: fits exactly");
	is_escape("ab\n", 3, 7, "ab\\x0a", "escape ending exactly at the end fits");
	is_escape("a", 1, 2, "a", "1 byte in 2: fits");

	/* Truncation. */
	is_escape("abcdefghij", 10, 8, "abcd...", "truncated with ...");
	is_escape("abcdefghij", 10, 10, "abcdef...", "one short of fitting");
	is_escape("abcd", 4, 4, "...", "4 bytes in 4: only ... fits");
	is_escape("ab\x01\x02\x03", 5, 10, "ab\\x01...", "an escape is never cut in half");
	is_escape("\x01\x02", 2, 8, "\\x01...", "one escape, then ...");
	is_escape("\x01\x02", 2, 7, "...", "no room for a whole escape plus ...");

	/* Tiny buffers: always terminated, never overrun. */
	memset(dst, 'Z', sizeof dst);
	log_escape(dst, 0, "abc", 3);
	ok(dst[0] == 'Z', "dstlen 0 writes nothing");
	is_escape("abc", 3, 1, "", "dstlen 1: empty string");
	is_escape("abc", 3, 2, "", "dstlen 2: no room for ...: empty");
	is_escape("abc", 3, 3, "", "dstlen 3: no room for ...: empty");
	is_escape("", 0, 1, "", "dstlen 1, empty input");
	is_escape("\n", 1, 4, "...", "dstlen 4, one escape: ...");
	is_escape("\n", 1, 5, "\\x0a", "dstlen 5, one escape fits");
}

/*
 * What log_escape() must give for dstlen dl, worked out independently: the
 * whole escape when it fits; otherwise as many whole units (a byte or a
 * \xNN escape) as leave room for "..." and the NUL, then "..."; and ""
 * when not even "..." fits.
 */
static void
expect_escape(const unsigned char *s, size_t len, size_t dl, char *out)
{
	char full[24 * 4 + 1];
	size_t o = 0;

	if (ref_escape(full, s, len) < dl) {
		strcpy(out, full);
		return;
	}
	for (size_t i = 0; i < len; i++) {
		size_t unit = s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"' && s[i] != '\\' ? 1 : 4;

		if (o + unit + 3 + 1 > dl)
			break;
		o += ref_escape(out + o, s + i, 1);
	}
	strcpy(out + o, dl >= 4 ? "..." : "");
}

/* Every length from 1 to 40 against pseudo-random bytes. */
static void
test_escape_sweep(void)
{
	unsigned seed = 12345;
	int bad = 0, cases = 0;

	for (int round = 0; round < 200; round++) {
		unsigned char src[24];
		char want[64], dst[64];
		size_t len = (size_t)round % sizeof src;

		for (size_t i = 0; i < len; i++) {
			seed = seed * 1103515245 + 12345;
			/* Mostly printable, so that the cut falls everywhere. */
			src[i] = (unsigned char)(seed >> 16);
			if (src[i] & 1)
				src[i] = (unsigned char)('a' + src[i] % 26);
		}
		for (size_t dl = 1; dl <= 40; dl++, cases++) {
			memset(dst, 'Z', sizeof dst);
			log_escape(dst, dl, (const char *)src, len);
			expect_escape(src, len, dl, want);
			if (memchr(dst, '\0', dl) == NULL || dst[dl] != 'Z' || strcmp(dst, want) != 0) {
				if (bad++ == 0)
					printf("#   first bad: dstlen %zu: got '%.*s', want '%s'\n",
					    dl, (int)dl, dst, want);
			}
		}
	}
	ok(bad == 0, "sweep of %d buffer sizes: terminated, exact or cleanly truncated (%d bad)",
	    cases, bad);
}

static void
test_timestamp(void)
{
	char buf[64];
	int y, mo, d, h, mi, s, us;
	char z = 0;

	ok(log_timestamp(buf, sizeof buf) == buf, "log_timestamp returns buf");
	is_int(strlen(buf), 27, "timestamp is 27 characters");
	ok(sscanf(buf, "%4d-%2d-%2dT%2d:%2d:%2d.%6d%c", &y, &mo, &d, &h, &mi, &s, &us, &z) == 8 &&
	    z == 'Z' && y >= 2023 && mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h < 24 &&
	    mi < 60 && s <= 60 && us >= 0 && us < 1000000, "timestamp format: %s", buf);
	memset(buf, 'Z', sizeof buf);
	log_timestamp(buf, 10);
	ok(strlen(buf) == 9, "short buffer truncated and terminated");
}

/* Runs fn with stderr redirected to a temp file; returns what it wrote. */
static size_t
capture(void (*fn)(void), char *out, size_t len)
{
	char path[] = "/tmp/veo-test-log.XXXXXX";
	int fd = mkstemp(path), saved = dup(STDERR_FILENO);
	ssize_t n;

	fflush(stderr);
	dup2(fd, STDERR_FILENO);
	fn();
	dup2(saved, STDERR_FILENO);
	close(saved);
	lseek(fd, 0, SEEK_SET);
	n = read(fd, out, len - 1);
	close(fd);
	unlink(path);
	out[n > 0 ? n : 0] = '\0';
	return n > 0 ? (size_t)n : 0;
}

static int errno_after;

static void
emit_line(void)
{
	log_line("stored %s in %d us", "t1", 42);
}

static void
emit_errno(void)
{
	errno = ENOSPC;
	log_errno("write %s", "tmp/x");
	errno_after = errno;
}

static void
emit_long(void)
{
	char big[5000];

	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	errno = ENOENT;
	log_errno("%s", big);
}

static void
test_lines(void)
{
	char out[8192];
	size_t n;

	log_progname = "veo-test";
	capture(emit_line, out, sizeof out);
	is_str(out, "veo-test: stored t1 in 42 us\n", "log_line: prefix, message, newline");
	capture(emit_errno, out, sizeof out);
	is_str(out, "veo-test: write tmp/x: No space left on device\n", "log_errno appends strerror");
	is_int(errno_after, ENOSPC, "log_errno keeps errno");
	n = capture(emit_long, out, sizeof out);
	ok(n > 100 && n <= 2048 && out[n - 1] == '\n' && memchr(out, '\n', n - 1) == NULL &&
	    strstr(out, ": No such file or directory\n") != NULL,
	    "over-long message: one bounded line, error text kept (%zu bytes)", n);
}

static void
emit_levels(void)
{
	log_at(LOG_LEVEL_INFO, "ok line");
	log_at(LOG_LEVEL_WARNING, "refused line");
	log_line("failed line");
}

/* The log setting: a file (O_APPEND, whole lines), off, and stderr for problems. */
static void
test_targets(void)
{
	char dir[] = "/tmp/veo-test-logt.XXXXXX", path[128], out[4096], err[256];
	size_t len = 0;
	FILE *f;

	if (mkdtemp(dir) == NULL) {
		ok(0, "mkdtemp");
		return;
	}
	snprintf(path, sizeof path, "%s/veo.log", dir);
	f = fopen(path, "w");
	fputs("earlier line\n", f);
	fclose(f);
	ok(log_setup(path, LOG_TO_STDERR, false, err, sizeof err) == 0, "log = file: %s", err);
	is_int(log_current(), LOG_TO_FILE, "target is the file");
	capture(emit_levels, out, sizeof out);
	is_str(out, "", "log = file: nothing on stderr");
	f = fopen(path, "r");
	len = fread(out, 1, sizeof out - 1, f);
	out[len] = '\0';
	fclose(f);
	is_str(out, "earlier line\nveo-test: ok line\nveo-test: refused line\nveo-test: failed line\n",
	    "log = file: appended, one line each");

	ok(log_setup(path, LOG_TO_STDERR, true, err, sizeof err) == 0, "log = file, problems also on stderr");
	capture(emit_levels, out, sizeof out);
	is_str(out, "veo-test: refused line\nveo-test: failed line\n",
	    "also_stderr: warnings and errors on stderr, not the success");

	ok(log_setup("off", LOG_TO_STDERR, false, err, sizeof err) == 0, "log = off");
	capture(emit_levels, out, sizeof out);
	is_str(out, "", "log = off: nothing anywhere");

	ok(log_setup("auto", LOG_TO_STDERR, false, err, sizeof err) == 0 &&
	    log_current() == LOG_TO_STDERR, "log = auto takes the program's choice");
	ok(log_setup(NULL, LOG_TO_OFF, false, err, sizeof err) == 0 &&
	    log_current() == LOG_TO_OFF, "unset is auto");
	ok(log_setup("syslog", LOG_TO_STDERR, false, err, sizeof err) == 0 &&
	    log_current() == LOG_TO_SYSLOG, "log = syslog");
	capture(emit_levels, out, sizeof out);
	is_str(out, "", "log = syslog: nothing on stderr");

	snprintf(path, sizeof path, "%s/no/such/dir/veo.log", dir);
	ok(log_setup(path, LOG_TO_STDERR, false, err, sizeof err) == -1 && strstr(err, path) != NULL,
	    "an unwritable log file is an error naming it: %s", err);
	is_int(log_current(), LOG_TO_SYSLOG, "and the target stays as it was");
	ok(log_setup("relative.log", LOG_TO_STDERR, false, err, sizeof err) == -1, "a relative path refused");
	ok(log_setup("stderr", LOG_TO_OFF, false, err, sizeof err) == 0 && log_current() == LOG_TO_STDERR,
	    "log = stderr");
	snprintf(path, sizeof path, "%s/veo.log", dir);
	unlink(path);
	rmdir(dir);
}

int
main(void)
{
	test_escape();
	test_escape_sweep();
	test_timestamp();
	test_lines();
	test_targets();
	return done_testing();
}
