/* Unit tests for sniff: which first bytes pass as a video or an image. */
#include <string.h>

#include "sniff.h"
#include "tap.h"

struct sniff_case {
	const char	*name;
	const char	*bytes;
	size_t		 len;
	enum media_kind	 kind;
	int		 match;
};

#define B(s) s, sizeof(s) - 1

static const struct sniff_case cases[] = {
	{ "mp4 ftyp", B("\0\0\0\x20" "ftypisom\0\0\2\0"), MEDIA_VIDEO, 1 },
	{ "ftyp then mdat", B("\0\0\0\x18" "ftypmp42\0\0\0\0" "mp42isom" "\0\0\x10\0" "mdat"),
	    MEDIA_VIDEO, 1 },
	{ "ftyp then moov", B("\0\0\0\x18" "ftypmp42\0\0\0\0" "mp42isom" "\0\0\x03\0" "moov"),
	    MEDIA_VIDEO, 1 },
	{ "ftyp then free then mdat (size 0: to the end)", B("\0\0\0\x14" "ftypisom\0\0\2\0"
	    "isom" "\0\0\0\x08" "free" "\0\0\0\0" "mdat"), MEDIA_VIDEO, 1 },
	{ "ftyp then an HTML page", B("\0\0\0\x18" "ftypmp42\0\0\0\0" "mp42isom"
	    "<!DOCTYPE html><html><body>Access denied</body></html>"), MEDIA_VIDEO, 0 },
	{ "ftyp then garbage", B("\0\0\0\x18" "ftypmp42\0\0\0\0" "mp42isom" "\x9a\x01\xff\x20zq#!"),
	    MEDIA_VIDEO, 0 },
	{ "ftyp with a size under its header", B("\0\0\0\x04" "ftypmp42\0\0\0\0"), MEDIA_VIDEO, 0 },
	{ "mov moov first", B("\0\0\x10\0moov\0\0\0\0"), MEDIA_VIDEO, 1 },
	{ "mp4 mdat first", B("\0\0\x10\0mdat\0\0\0\0"), MEDIA_VIDEO, 1 },
	{ "mov wide", B("\0\0\0\x08wide\0\0\0\0"), MEDIA_VIDEO, 1 },
	{ "mov free", B("\0\0\0\x08" "free"), MEDIA_VIDEO, 1 },
	{ "webm EBML", B("\x1a\x45\xdf\xa3\x9f\x42\x86\x81"), MEDIA_VIDEO, 1 },
	{ "HTML as video", B("<!DOCTYPE html>\n<html>"), MEDIA_VIDEO, 0 },
	{ "JSON as video", B("{\"code\":404}"), MEDIA_VIDEO, 0 },
	{ "XML error as video", B("<?xml version=\"1.0\"?><Error>"), MEDIA_VIDEO, 0 },
	{ "short file as video", B("\0\0\0"), MEDIA_VIDEO, 0 },
	{ "empty file as video", "", 0, MEDIA_VIDEO, 0 },
	{ "JPEG as video", B("\xff\xd8\xff\xe0\0\x10JFIF"), MEDIA_VIDEO, 0 },
	{ "JPEG", B("\xff\xd8\xff\xe0\0\x10JFIF"), MEDIA_IMAGE, 1 },
	{ "PNG", B("\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), MEDIA_IMAGE, 1 },
	{ "GIF89a", B("GIF89a\1\0\1\0"), MEDIA_IMAGE, 1 },
	{ "GIF87a", B("GIF87a\1\0\1\0"), MEDIA_IMAGE, 1 },
	{ "WebP", B("RIFF\x24\0\0\0WEBPVP8 "), MEDIA_IMAGE, 1 },
	{ "RIFF WAVE is no image", B("RIFF\x24\0\0\0WAVEfmt "), MEDIA_IMAGE, 0 },
	{ "AVIF", B("\0\0\0\x1c" "ftypavif\0\0\0\0"), MEDIA_IMAGE, 1 },
	{ "mp4 is no image", B("\0\0\0\x20" "ftypisom\0\0\2\0"), MEDIA_IMAGE, 0 },
	{ "HTML as image", B("<html><body>"), MEDIA_IMAGE, 0 },
	{ "HTML when anything goes", B("<html><body>"), MEDIA_ANY, 1 },
};

int
main(void)
{
	char buf[256];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct sniff_case *c = &cases[i];

		is_int(sniff_match(c->kind, (const unsigned char *)c->bytes, c->len),
		    c->match, c->name);
	}
	sniff_describe(buf, sizeof buf, MEDIA_VIDEO,
	    (const unsigned char *)"<!DOCTYPE html>\n<html>", 22);
	is_str(buf, "not a video: starts with '<!DOCTYPE html>'",
	    "describes the start, trailing blanks dropped");
	sniff_describe(buf, sizeof buf, MEDIA_IMAGE,
	    (const unsigned char *)"\x1b[2J\"x\"", 7);
	is_str(buf, "not an image: starts with '\\x1b[2J\\x22x\\x22'",
	    "escapes what came from the network");
	sniff_describe(buf, sizeof buf, MEDIA_VIDEO, (const unsigned char *)"", 0);
	is_str(buf, "not a video: the file is empty", "names an empty file");
	return done_testing();
}
