#include "entry.h"

#include <arpa/inet.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "numparse.h"

int
entry_format_header(const struct entry_meta *m, char *buf, size_t len)
{
	int n = snprintf(buf, len,
	    ENTRY_MAGIC "\n"
	    "task-id: %s\n"
	    "code: %lld\n"
	    "received: %s\n"
	    "remote-addr: %s\n"
	    "signature: %s\n"
	    "body-sha256: %s\n"
	    "body-length: %zu\n"
	    "\n",
	    m->task_id, m->code, m->received, m->remote_addr,
	    m->signature_verified ? "verified" : "unsigned", m->body_sha256, m->body_length);

	return n < 0 || (size_t)n >= len ? -1 : n;
}

void
entry_set_remote_addr(struct entry_meta *m, const char *addr)
{
	unsigned char tmp[16];

	if (addr != NULL && strlen(addr) < sizeof m->remote_addr &&
	    (inet_pton(AF_INET, addr, tmp) == 1 || inet_pton(AF_INET6, addr, tmp) == 1))
		strcpy(m->remote_addr, addr);
	else
		strcpy(m->remote_addr, "-");
}

static int
copy_field(char *dst, size_t dstlen, const char *v, size_t vlen)
{
	if (vlen >= dstlen)
		return -1;
	memcpy(dst, v, vlen);
	dst[vlen] = '\0';
	return 0;
}

/* Applies one "name: value" header line to m. */
/* The header lines an entry must have, as bits of a reader's "have" mask. */
enum required_line {
	HAVE_TASK_ID = 1 << 0,
	HAVE_SHA256 = 1 << 1,
	HAVE_CODE = 1 << 2,
	HAVE_LENGTH = 1 << 3,
	HAVE_ALL = HAVE_TASK_ID | HAVE_SHA256 | HAVE_CODE | HAVE_LENGTH,
};

static int
header_line(struct entry_meta *m, const char *line, size_t len, unsigned *have)
{
	const char *colon = memchr(line, ':', len);
	size_t nlen, vlen;
	const char *v;
	long long n;

	if (colon == NULL || colon + 1 >= line + len || colon[1] != ' ')
		return -1;
	nlen = (size_t)(colon - line);
	v = colon + 2;
	vlen = len - nlen - 2;
#define IS(name) (nlen == sizeof(name) - 1 && memcmp(line, name, nlen) == 0)
	if (IS("task-id")) {
		*have |= HAVE_TASK_ID;
		return copy_field(m->task_id, sizeof m->task_id, v, vlen) < 0 ||
		    !taskid_valid(m->task_id, vlen) ? -1 : 0;
	}
	if (IS("received"))
		return copy_field(m->received, sizeof m->received, v, vlen);
	if (IS("remote-addr"))
		return copy_field(m->remote_addr, sizeof m->remote_addr, v, vlen);
	if (IS("signature")) {
		m->signature_verified = vlen == 8 && memcmp(v, "verified", 8) == 0;
		return 0;
	}
	if (IS("body-sha256")) {
		*have |= HAVE_SHA256;
		return vlen == SHA256_HEX_LEN ?
		    copy_field(m->body_sha256, sizeof m->body_sha256, v, vlen) : -1;
	}
	if (IS("code"))
		return *have |= HAVE_CODE, num_parse_n(v, vlen, LLONG_MIN, LLONG_MAX, &m->code);
	if (IS("duplicates")) {	/* an older responder's count of identical repeats */
		if (num_parse_n(v, vlen, 0, LONG_MAX, &n) < 0)
			return -1;
		m->duplicates = (unsigned long)n;
		return 0;
	}
	if (IS("body-length")) {
		*have |= HAVE_LENGTH;
		if (num_parse_n(v, vlen, 0, ENTRY_MAX, &n) < 0)
			return -1;
		m->body_length = (size_t)n;
		return 0;
	}
#undef IS
	return 0;	/* unknown lines are for newer readers */
}

int
entry_parse(const char *data, size_t len, struct entry_meta *m,
    const char **body, char *err, size_t errlen)
{
	const char *p = data, *end = data + len;
	size_t mlen = strlen(ENTRY_MAGIC);
	unsigned have = 0;
	char hash[SHA256_HEX_LEN + 1];

	memset(m, 0, sizeof *m);
	if (len <= mlen || memcmp(p, ENTRY_MAGIC "\n", mlen + 1) != 0) {
		snprintf(err, errlen, "not a callback entry");
		return -1;
	}
	p += mlen + 1;
	for (;;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));

		if (nl == NULL) {
			snprintf(err, errlen, "header not terminated");
			return -1;
		}
		if (nl == p) {
			p++;
			break;
		}
		if (header_line(m, p, (size_t)(nl - p), &have) < 0) {
			snprintf(err, errlen, "bad header line");
			return -1;
		}
		p = nl + 1;
	}
	if (have != HAVE_ALL) {
		snprintf(err, errlen, "header incomplete");
		return -1;
	}
	if ((size_t)(end - p) != m->body_length) {
		snprintf(err, errlen, "body length %zu, header says %zu",
		    (size_t)(end - p), m->body_length);
		return -1;
	}
	if (sha256_hex(p, m->body_length, hash) < 0 || strcmp(hash, m->body_sha256) != 0) {
		snprintf(err, errlen, "body does not match its SHA-256");
		return -1;
	}
	*body = p;
	return 0;
}
