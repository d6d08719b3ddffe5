#include "sniff.h"

#include <stdio.h>
#include <string.h>

#include "log.h"

/* ISO BMFF top-level boxes a video file may open with (bytes 4..7). */
static const char *const bmff_boxes[] = {
	"ftyp", "moov", "mdat", "free", "skip", "wide", "pnot",
};

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
	for (size_t i = 0; i < sizeof bmff_boxes / sizeof bmff_boxes[0]; i++)
		if (memcmp(p + 4, bmff_boxes[i], 4) == 0)
			return true;
	return false;
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
	char esc[4 * SNIFF_LEN + 4];

	if (len == 0) {
		snprintf(buf, buflen, "not %s: the file is empty", what);
		return buf;
	}
	if (len > SNIFF_LEN)
		len = SNIFF_LEN;
	/* Trailing blanks of a text page say nothing; drop them. */
	while (len > 1 && (p[len - 1] == ' ' || p[len - 1] == '\n' ||
	    p[len - 1] == '\r' || p[len - 1] == '\t'))
		len--;
	log_escape(esc, sizeof esc, (const char *)p, len);
	snprintf(buf, buflen, "not %s: starts with '%s'", what, esc);
	return buf;
}
