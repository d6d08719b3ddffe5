#include "sniff.h"

#include <stdio.h>
#include <string.h>

#include "log.h"

#define DESCRIBE_LEN 16		/* bytes quoted in a refusal: enough to recognise */

/* ISO BMFF top-level boxes of a video file (bytes 4..7 of each box). */
static const char *const bmff_boxes[] = {
	"ftyp", "moov", "mdat", "free", "skip", "wide", "pnot", "uuid", "moof",
	"mfra", "meta", "pdin", "sidx", "styp", "prft", "emsg",
};

static bool
known_box(const unsigned char *type)
{
	for (size_t i = 0; i < sizeof bmff_boxes / sizeof bmff_boxes[0]; i++)
		if (memcmp(type, bmff_boxes[i], 4) == 0)
			return true;
	return false;
}

/*
 * Walks the top-level boxes that start within the first len bytes: each
 * must have a known type and a size that holds its header (0: to the end
 * of the file; 1: a 64-bit size follows).  An "ftyp" box followed by an
 * HTML page has a second "box" of type "CTYP" or the like: refused.
 */
static bool
bmff_boxes_sane(const unsigned char *p, size_t len)
{
	size_t pos = 0;

	while (pos + 8 <= len) {
		unsigned long size = (unsigned long)p[pos] << 24 | (unsigned long)p[pos + 1] << 16 |
		    (unsigned long)p[pos + 2] << 8 | p[pos + 3];

		if (!known_box(p + pos + 4))
			return false;
		if (size == 0 || size == 1)
			return true;	/* to the end, or a size we need not follow */
		if (size < 8)
			return false;
		pos += size;
	}
	return true;
}

/* ftyp brands of still-image formats built on ISO BMFF. */
static const char *const image_brands[] = {
	"avif", "avis", "heic", "heix", "mif1", "msf1",
};

static bool
starts(const unsigned char *p, size_t len, const void *sig, size_t siglen)
{
	return len >= siglen && memcmp(p, sig, siglen) == 0;
}

static bool
is_video(const unsigned char *p, size_t len)
{
	if (starts(p, len, "\x1a\x45\xdf\xa3", 4))	/* EBML: webm, mkv */
		return true;
	if (len < 8)
		return false;
	return bmff_boxes_sane(p, len);
}

static bool
is_image(const unsigned char *p, size_t len)
{
	if (starts(p, len, "\xff\xd8\xff", 3) ||		/* JPEG */
	    starts(p, len, "\x89PNG\r\n\x1a\n", 8) ||
	    starts(p, len, "GIF87a", 6) || starts(p, len, "GIF89a", 6))
		return true;
	if (len >= 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WEBP", 4) == 0)
		return true;
	if (len >= 12 && memcmp(p + 4, "ftyp", 4) == 0)
		for (size_t i = 0; i < sizeof image_brands / sizeof image_brands[0]; i++)
			if (memcmp(p + 8, image_brands[i], 4) == 0)
				return true;
	return false;
}

bool
sniff_match(enum media_kind kind, const unsigned char *p, size_t len)
{
	switch (kind) {
	case MEDIA_VIDEO:
		return is_video(p, len);
	case MEDIA_IMAGE:
		return is_image(p, len);
	case MEDIA_ANY:
		return true;
	}
	return false;
}

char *
sniff_describe(char *buf, size_t buflen, enum media_kind kind,
    const unsigned char *p, size_t len)
{
	const char *what = kind == MEDIA_IMAGE ? "an image" : "a video";
	char esc[4 * DESCRIBE_LEN + 4];

	if (len == 0) {
		snprintf(buf, buflen, "not %s: the file is empty", what);
		return buf;
	}
	if (len > DESCRIBE_LEN)
		len = DESCRIBE_LEN;
	/* Trailing blanks of a text page say nothing; drop them. */
	while (len > 1 && (p[len - 1] == ' ' || p[len - 1] == '\n' ||
	    p[len - 1] == '\r' || p[len - 1] == '\t'))
		len--;
	log_escape(esc, sizeof esc, (const char *)p, len);
	snprintf(buf, buflen, "not %s: starts with '%s'", what, esc);
	return buf;
}
