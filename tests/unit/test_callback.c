/*
 * test_callback: the payload table of callback_parse(), the values it
 * extracts, and the taskId and URL rules on their own.
 *
 * Every reject names a substring that the error must contain, so a reject
 * for the wrong reason (or a message that no longer names the field) fails.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "callback.h"
#include "tap.h"

/*
 * strndup() that fails while armed: this definition takes the place of
 * libc's for callback.c, linked statically into this test.
 */
static int strndup_fail;

char *
strndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *d;

	if (strndup_fail || (d = malloc(len + 1)) == NULL)
		return NULL;
	memcpy(d, s, len);
	d[len] = '\0';
	return d;
}

/* Running out of memory is ours, not the sender's: CALLBACK_NOMEM (503), never -1 (400). */
static void
test_out_of_memory(void)
{
	static const char body[] = "{\"code\":200,\"msg\":\"m\",\"data\":{\"taskId\":\"t1\","
	    "\"info\":{\"resultUrls\":[\"https://h/a.mp4\"]}}}";
	struct callback cb;
	char err[200];

	strndup_fail = 1;
	is_int(callback_parse((const unsigned char *)body, strlen(body), &cb, err, sizeof err),
	    CALLBACK_NOMEM, "a failing copy is CALLBACK_NOMEM, not a refusal");
	callback_free(&cb);
	strndup_fail = 0;
	is_int(callback_parse((const unsigned char *)body, strlen(body), &cb, err, sizeof err), 0,
	    "with memory the same body parses");
	callback_free(&cb);
}

#define URL1	"https://cdn.example.com/v/a.mp4"
#define URL2	"https://cdn.example.com/v/o.mp4"
#define TID	"veo_task_abcdef123456"
/* A data object that makes code 200 valid. */
#define DATA_OK	"{\"taskId\":\"" TID "\",\"info\":{\"resultUrls\":[\"" URL1 "\"]," \
		"\"resolution\":\"1080p\"},\"fallbackFlag\":false}"
#define CB(code, data)	"{\"code\":" code ",\"msg\":\"m\",\"data\":" data "}"
/* A success callback whose info holds extra text. */
#define INFO(x)	CB("200", "{\"taskId\":\"" TID "\",\"info\":{" x "}}")
/* A success callback with resultUrls set to x. */
#define RES(x)	INFO("\"resultUrls\":" x)
/* A failure callback with the taskId value x (raw JSON). */
#define TASK(x)	CB("501", "{\"taskId\":" x "}")

/* Bodies holding a raw NUL byte, so their length is given explicitly. */
#define RAW_NUL_IN	"{\"code\":501,\"msg\":\"a\0b\",\"data\":{\"taskId\":\"t1\"}}"
#define RAW_NUL_AFTER	CB("501", "{\"taskId\":\"t1\"}") "\0"

struct tcase {
	const char *name;
	const char *body;
	size_t len;		/* 0: strlen(body) */
	const char *err;	/* NULL: accepted; else a substring of the error */
};

static const struct tcase table[] = {
	/* --- accepted: the documented shapes --- */
	{ "documented success sample", "{\"code\":200,\"msg\":\"Veo3.1 video generated successfully.\","
	    "\"data\":{\"taskId\":\"" TID "\",\"info\":{\"resultUrls\":[\"" URL1 "\"],"
	    "\"originUrls\":[\"" URL2 "\"],\"resolution\":\"1080p\"},\"fallbackFlag\":false}}", 0, NULL },
	{ "task_id spelling (4K)", CB("200", "{\"task_id\":\"" TID "\",\"info\":{\"resultUrls\":[\"" URL1 "\"]}}"), 0, NULL },
	{ "taskId and task_id equal", CB("200", "{\"taskId\":\"" TID "\",\"task_id\":\"" TID "\","
	    "\"info\":{\"resultUrls\":[\"" URL1 "\"]}}"), 0, NULL },
	{ "resultUrls as string-held array", RES("\"[\\\"" URL1 "\\\"]\""), 0, NULL },
	{ "originUrls as string-held array", INFO("\"resultUrls\":[\"" URL1 "\"],\"originUrls\":\"[\\\"" URL2 "\\\"]\""), 0, NULL },
	{ "string-held array with blanks", RES("\" [ \\\"" URL1 "\\\" , \\\"" URL2 "\\\" ] \""), 0, NULL },
	{ "originUrls null", INFO("\"resultUrls\":[\"" URL1 "\"],\"originUrls\":null"), 0, NULL },
	{ "originUrls absent", INFO("\"resultUrls\":[\"" URL1 "\"]"), 0, NULL },
	{ "resultUrls null on failure", CB("400", "{\"taskId\":\"t1\",\"info\":{\"resultUrls\":null}}"), 0, NULL },
	{ "resultUrls absent on failure", CB("400", "{\"taskId\":\"t1\",\"info\":{}}"), 0, NULL },
	{ "resolution null", INFO("\"resultUrls\":[\"" URL1 "\"],\"resolution\":null"), 0, NULL },
	{ "promptJson as string", CB("200", "{\"taskId\":\"t1\",\"promptJson\":\"{\\\"prompt\\\":\\\"a cat\\\"}\","
	    "\"info\":{\"resultUrls\":[\"" URL1 "\"]}}"), 0, NULL },
	{ "promptJson as object", CB("200", "{\"taskId\":\"t1\",\"promptJson\":{\"prompt\":\"a cat\",\"n\":[1,2.5,null,true]},"
	    "\"info\":{\"resultUrls\":[\"" URL1 "\"]}}"), 0, NULL },
	{ "unknown fields of every type", "{\"x\":1,\"y\":-2.5e3,\"z\":null,\"w\":true,\"v\":[],\"u\":{},"
	    "\"code\":501,\"msg\":\"m\",\"data\":{\"taskId\":\"t1\",\"extra\":{\"code\":\"not read\","
	    "\"taskId\":7,\"resultUrls\":5},\"info\":{\"other\":[{\"a\":\"b\"}]}},\"t\":\"s\"}", 0, NULL },
	{ "unknown keys may repeat", CB("501", "{\"taskId\":\"t1\",\"x\":1,\"x\":{\"y\":2}}"), 0, NULL },
	{ "read names nested elsewhere are not duplicates",
	    "{\"code\":501,\"msg\":\"m\",\"extra\":{\"code\":1,\"msg\":2,\"data\":3},"
	    "\"data\":{\"taskId\":\"t1\",\"more\":{\"taskId\":\"x\",\"info\":{\"resultUrls\":1}}}}", 0, NULL },
	{ "code 400 without info", CB("400", "{\"taskId\":\"t1\"}"), 0, NULL },
	{ "code 422, info null", CB("422", "{\"taskId\":\"t1\",\"info\":null}"), 0, NULL },
	{ "code 500, info null", CB("500", "{\"taskId\":\"t1\",\"info\":null,\"fallbackFlag\":null}"), 0, NULL },
	{ "code 501, info absent", CB("501", "{\"taskId\":\"t1\"}"), 0, NULL },
	{ "code 777 without urls", CB("777", "{\"taskId\":\"t1\"}"), 0, NULL },
	{ "negative code", CB("-1", "{\"taskId\":\"t1\"}"), 0, NULL },
	{ "largest 64-bit code", CB("9223372036854775807", "{\"taskId\":\"t1\"}"), 0, NULL },
	{ "fallbackFlag true", CB("200", "{\"taskId\":\"t1\",\"info\":{\"resultUrls\":[\"" URL1 "\"]},\"fallbackFlag\":true}"), 0, NULL },
	{ "fallbackFlag null", CB("200", "{\"taskId\":\"t1\",\"info\":{\"resultUrls\":[\"" URL1 "\"]},\"fallbackFlag\":null}"), 0, NULL },
	{ "msg with unicode and escapes", "{\"code\":400,\"msg\":\"\\u5185\\u5bb9\\u653f\\u7b56 \\\"q\\\" \\\\ \\n\\t\\/ "
	    "\xe5\x86\x85\xe5\xae\xb9 \xf0\x9f\x8e\xac\",\"data\":{\"taskId\":\"t1\"}}", 0, NULL },
	{ "empty msg", "{\"code\":501,\"msg\":\"\",\"data\":{\"taskId\":\"t1\"}}", 0, NULL },
	{ "4K callback fields", "{\"code\":200,\"msg\":\"4K video generated\",\"data\":{\"task_id\":\"veo_4k_1\","
	    "\"info\":{\"resultUrls\":[\"" URL1 "\"],\"resolution\":\"4k\",\"imageUrls\":[\"https://i/1.png\"]},"
	    "\"image_urls\":[\"https://i/1.png\"],\"media_ids\":[\"m1\",\"m2\"],\"imageUrls\":null}}", 0, NULL },
	{ "http URL and upper-case scheme", RES("[\"http://a.example/x\",\"HTTPS://B.EXAMPLE/Y\"]"), 0, NULL },
	{ "whitespace around the document", " \r\n\t" CB("501", "{\"taskId\":\"t1\"}") " \n", 0, NULL },
	{ "32 URLs", RES("[\"" URL1 "\",\"" URL1 "\",\"" URL1 "\",\"" URL1 "\",\"" URL1 "\",\"" URL1 "\",\"" URL1 "\",\"" URL1 "\","
	    "\"" URL1 "\",\"" URL1 "\",\"" URL1 "\",\"" URL1 "\",\"" URL1 "\",\"" URL1 "\",\"" URL1 "\",\"" URL1 "\","
	    "\"" URL1 "\",\"" URL1 "\",\"" URL1 "\",\"" URL1 "\",\"" URL1 "\",\"" URL1 "\",\"" URL1 "\",\"" URL1 "\","
	    "\"" URL1 "\",\"" URL1 "\",\"" URL1 "\",\"" URL1 "\",\"" URL1 "\",\"" URL1 "\",\"" URL1 "\",\"" URL1 "\"]"), 0, NULL },
	{ "UTF-8 boundaries", "{\"code\":501,\"msg\":\"\xc2\x80 \xdf\xbf \xe0\xa0\x80 \xed\x9f\xbf \xee\x80\x80 "
	    "\xef\xbf\xbf \xf0\x90\x80\x80 \xf4\x8f\xbf\xbf\",\"data\":{\"taskId\":\"t1\"}}", 0, NULL },
	{ "escaped surrogate pair", "{\"code\":501,\"msg\":\"\\ud83c\\udfac\",\"data\":{\"taskId\":\"t1\"}}", 0, NULL },
	{ "lone surrogate escape in an ignored field", CB("501", "{\"taskId\":\"t1\",\"promptJson\":\"a\\udc00\"}"), 0, NULL },
	{ "data fields in any order", "{\"data\":{\"info\":{\"resultUrls\":[\"" URL1 "\"]},\"taskId\":\"t1\"},"
	    "\"msg\":\"m\",\"code\":200}", 0, NULL },

	/* --- rejected: the top level --- */
	{ "empty body", "", 0, "empty body" },
	{ "top level array", "[" CB("501", "{\"taskId\":\"t1\"}") "]", 0, "top level must be an object" },
	{ "top level string", "\"{}\"", 0, "top level must be an object" },
	{ "top level number", "200", 0, "top level must be an object" },
	{ "top level null", "null", 0, "top level must be an object" },
	{ "top level true", "true", 0, "top level must be an object" },
	{ "whitespace only", "  \n", 0, "invalid JSON" },
	{ "empty object", "{}", 0, "code is missing" },
	{ "trailing garbage", CB("501", "{\"taskId\":\"t1\"}") "x", 0, "trailing garbage" },
	{ "two documents", CB("501", "{\"taskId\":\"t1\"}") CB("501", "{\"taskId\":\"t1\"}"), 0, "trailing garbage" },
	{ "truncated document", "{\"code\":501,\"msg\":\"m\",\"data\":{\"taskId\":\"t1\"}", 0, "invalid JSON" },
	{ "block comment", "/* c */" CB("501", "{\"taskId\":\"t1\"}"), 0, "comment" },
	{ "comment inside", "{\"code\":501,/* c */\"msg\":\"m\",\"data\":{\"taskId\":\"t1\"}}", 0, "comment" },
	{ "line comment", "{\"code\":501, // c\n\"msg\":\"m\",\"data\":{\"taskId\":\"t1\"}}", 0, "comment" },
	{ "single quotes", "{'code':501}", 0, "invalid JSON" },
	{ "trailing comma", "{\"code\":501,\"msg\":\"m\",\"data\":{\"taskId\":\"t1\"},}", 0, "invalid JSON" },

	/* --- rejected: code --- */
	{ "code missing", "{\"msg\":\"m\",\"data\":{\"taskId\":\"t1\"}}", 0, "code is missing" },
	{ "code as string", CB("\"200\"", DATA_OK), 0, "code must be an integer" },
	{ "code 200.0", CB("200.0", DATA_OK), 0, "code must be an integer" },
	{ "code 2e2", CB("2e2", DATA_OK), 0, "code must be an integer" },
	{ "code null", CB("null", DATA_OK), 0, "code must be an integer" },
	{ "code true", CB("true", DATA_OK), 0, "code must be an integer" },
	{ "code object", CB("{}", DATA_OK), 0, "code must be an integer" },
	{ "code array", CB("[200]", DATA_OK), 0, "code must be an integer" },
	{ "code integer overflow", CB("9223372036854775808", "{\"taskId\":\"t1\"}"), 0, "code must be an integer" },
	{ "code huge integer", CB("123456789012345678901234567890", "{\"taskId\":\"t1\"}"), 0, "code must be an integer" },
	{ "code negative overflow", CB("-9223372036854775809", "{\"taskId\":\"t1\"}"), 0, "code must be an integer" },
	/* Numbers in fields nobody reads never refuse a callback (kie.ai takes 400 as final). */
	{ "huge integer in an unknown field", "{\"n\":99999999999999999999," "\"code\":501,\"msg\":\"m\",\"data\":{\"taskId\":\"t1\"}}", 0, NULL },
	{ "2^64 in data", CB("501", "{\"taskId\":\"t1\",\"seed\":18446744073709551616}"), 0, NULL },
	{ "negative huge in promptJson", CB("501", "{\"taskId\":\"t1\",\"promptJson\":{\"n\":[-99999999999999999999999]}}"), 0, NULL },
	{ "1e999 in an unknown field", "{\"x\":1e999,\"y\":-1e999,\"z\":1e-999,\"code\":501,\"msg\":\"m\",\"data\":{\"taskId\":\"t1\"}}", 0, NULL },
	{ "huge number in info", INFO("\"resultUrls\":[\"" URL1 "\"],\"durationMs\":123456789012345678901234567890"), 0, NULL },

	/* --- rejected: msg and data --- */
	{ "msg missing", "{\"code\":501,\"data\":{\"taskId\":\"t1\"}}", 0, "msg is missing" },
	{ "msg number", "{\"code\":501,\"msg\":5,\"data\":{\"taskId\":\"t1\"}}", 0, "msg must be a string" },
	{ "msg null", "{\"code\":501,\"msg\":null,\"data\":{\"taskId\":\"t1\"}}", 0, "msg must be a string" },
	{ "msg object", "{\"code\":501,\"msg\":{},\"data\":{\"taskId\":\"t1\"}}", 0, "msg must be a string" },
	{ "data missing", "{\"code\":501,\"msg\":\"m\"}", 0, "data is missing" },
	{ "data null", CB("501", "null"), 0, "data must be an object" },
	{ "data string", CB("501", "\"{}\""), 0, "data must be an object" },
	{ "data array", CB("501", "[{\"taskId\":\"t1\"}]"), 0, "data must be an object" },
	{ "info string", CB("501", "{\"taskId\":\"t1\",\"info\":\"x\"}"), 0, "data.info must be an object" },
	{ "info array", CB("501", "{\"taskId\":\"t1\",\"info\":[]}"), 0, "data.info must be an object" },
	{ "fallbackFlag string", CB("501", "{\"taskId\":\"t1\",\"fallbackFlag\":\"false\"}"), 0, "data.fallbackFlag must be a boolean" },
	{ "fallbackFlag number", CB("501", "{\"taskId\":\"t1\",\"fallbackFlag\":0}"), 0, "data.fallbackFlag must be a boolean" },
	{ "resolution number", INFO("\"resultUrls\":[\"" URL1 "\"],\"resolution\":1080"), 0, "data.info.resolution must be a string" },

	/* --- rejected: taskId --- */
	{ "taskId missing", CB("501", "{}"), 0, "data.taskId is missing" },
	{ "taskId number", TASK("12345"), 0, "data.taskId must be a string" },
	{ "taskId null", TASK("null"), 0, "data.taskId must be a string" },
	{ "taskId array", TASK("[\"t1\"]"), 0, "data.taskId must be a string" },
	{ "task_id number", CB("501", "{\"task_id\":5}"), 0, "data.task_id must be a string" },
	{ "taskId empty", TASK("\"\""), 0, "data.taskId must be 1 to 128" },
	{ "taskId 129 chars", TASK("\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\""), 0, "data.taskId must be 1 to 128" },
	{ "taskId leading dot", TASK("\".hidden\""), 0, "data.taskId must be 1 to 128" },
	{ "taskId ..", TASK("\"..\""), 0, "data.taskId must be 1 to 128" },
	{ "taskId ../x", TASK("\"../x\""), 0, "data.taskId must be 1 to 128" },
	{ "taskId a/b", TASK("\"a/b\""), 0, "data.taskId must be 1 to 128" },
	{ "taskId escaped slash", TASK("\"a\\/b\""), 0, "data.taskId must be 1 to 128" },
	{ "taskId backslash", TASK("\"a\\\\b\""), 0, "data.taskId must be 1 to 128" },
	{ "taskId with space", TASK("\"veo task\""), 0, "data.taskId must be 1 to 128" },
	{ "taskId with newline", TASK("\"veo\\ntask\""), 0, "data.taskId must be 1 to 128" },
	{ "taskId unicode", TASK("\"veo_\xc3\xa9\""), 0, "data.taskId must be 1 to 128" },
	{ "taskId unicode escape", TASK("\"veo_\\u00e9\""), 0, "data.taskId must be 1 to 128" },
	{ "taskId NUL via \\u0000", TASK("\"ab\\u0000cd\""), 0, "data.taskId must be 1 to 128" },
	{ "taskId only NUL", TASK("\"\\u0000\""), 0, "data.taskId must be 1 to 128" },
	{ "task_id breaks the rule", CB("501", "{\"task_id\":\"../etc\"}"), 0, "data.task_id must be 1 to 128" },
	{ "taskId and task_id differ", CB("501", "{\"taskId\":\"t1\",\"task_id\":\"t2\"}"), 0, "data.taskId and data.task_id differ" },
	{ "valid taskId, bad task_id", CB("501", "{\"taskId\":\"t1\",\"task_id\":\"a b\"}"), 0, "data.task_id must be" },

	/* --- rejected: result URLs --- */
	{ "code 200 without info", CB("200", "{\"taskId\":\"t1\"}"), 0, "code 200 needs at least one URL in data.info.resultUrls" },
	{ "code 200 with info null", CB("200", "{\"taskId\":\"t1\",\"info\":null}"), 0, "code 200 needs at least one URL" },
	{ "code 200, empty array", RES("[]"), 0, "code 200 needs at least one URL" },
	{ "code 200, resultUrls null", RES("null"), 0, "code 200 needs at least one URL" },
	{ "code 200, empty string form", RES("\"\""), 0, "code 200 needs at least one URL" },
	{ "code 200, string form []", RES("\"[]\""), 0, "code 200 needs at least one URL" },
	{ "code 200, only originUrls", INFO("\"originUrls\":[\"" URL2 "\"]"), 0, "code 200 needs at least one URL" },
	{ "URL entry number", RES("[5]"), 0, "data.info.resultUrls: entries must be strings" },
	{ "URL entry null", RES("[null]"), 0, "data.info.resultUrls: entries must be strings" },
	{ "URL entry object", RES("[{\"url\":\"" URL1 "\"}]"), 0, "data.info.resultUrls: entries must be strings" },
	{ "URL entry nested array", RES("[[\"" URL1 "\"]]"), 0, "data.info.resultUrls: entries must be strings" },
	{ "URL entry boolean", RES("[true]"), 0, "data.info.resultUrls: entries must be strings" },
	{ "resultUrls a number", RES("5"), 0, "data.info.resultUrls must be an array of URL strings" },
	{ "resultUrls an object", RES("{}"), 0, "data.info.resultUrls must be an array of URL strings" },
	{ "ftp URL", RES("[\"ftp://h/a.mp4\"]"), 0, "data.info.resultUrls: every entry must be an http(s) URL" },
	{ "javascript URL", RES("[\"javascript:alert(1)\"]"), 0, "data.info.resultUrls: every entry must be an http(s) URL" },
	{ "file URL", RES("[\"file:///etc/passwd\"]"), 0, "data.info.resultUrls: every entry must be an http(s) URL" },
	{ "https:// with no host", RES("[\"https://\"]"), 0, "data.info.resultUrls: every entry must be an http(s) URL" },
	{ "https:///path, no host", RES("[\"https:///a.mp4\"]"), 0, "data.info.resultUrls: every entry must be an http(s) URL" },
	{ "relative URL", RES("[\"/a.mp4\"]"), 0, "data.info.resultUrls: every entry must be an http(s) URL" },
	{ "empty URL", RES("[\"\"]"), 0, "data.info.resultUrls: every entry must be an http(s) URL" },
	{ "URL with space", RES("[\"https://h/a b.mp4\"]"), 0, "data.info.resultUrls: every entry must be an http(s) URL" },
	{ "URL with newline", RES("[\"https://h/a\\nb.mp4\"]"), 0, "data.info.resultUrls: every entry must be an http(s) URL" },
	{ "URL with DEL", RES("[\"https://h/a\\u007fb\"]"), 0, "data.info.resultUrls: every entry must be an http(s) URL" },
	{ "URL with NUL", RES("[\"https://h/a\\u0000b\"]"), 0, "data.info.resultUrls: every entry must be an http(s) URL" },
	{ "URL with backslash", RES("[\"https://h\\\\@evil/a\"]"), 0, "data.info.resultUrls: every entry must be an http(s) URL" },
	{ "one bad URL among good ones", RES("[\"" URL1 "\",\"ftp://h/x\"]"), 0, "data.info.resultUrls: every entry" },
	{ "bad originUrls entry", INFO("\"resultUrls\":[\"" URL1 "\"],\"originUrls\":[\"ftp://h/o\"]"), 0, "data.info.originUrls: every entry must be" },
	{ "bad URL on a failure code", CB("501", "{\"taskId\":\"t1\",\"info\":{\"resultUrls\":[\"file:///x\"]}}"), 0, "data.info.resultUrls: every entry" },
	{ "33 URLs", RES("[\"" URL1 "\",\"" URL1 "\",\"" URL1 "\",\"" URL1 "\",\"" URL1 "\",\"" URL1 "\",\"" URL1 "\",\"" URL1 "\","
	    "\"" URL1 "\",\"" URL1 "\",\"" URL1 "\",\"" URL1 "\",\"" URL1 "\",\"" URL1 "\",\"" URL1 "\",\"" URL1 "\","
	    "\"" URL1 "\",\"" URL1 "\",\"" URL1 "\",\"" URL1 "\",\"" URL1 "\",\"" URL1 "\",\"" URL1 "\",\"" URL1 "\","
	    "\"" URL1 "\",\"" URL1 "\",\"" URL1 "\",\"" URL1 "\",\"" URL1 "\",\"" URL1 "\",\"" URL1 "\",\"" URL1 "\","
	    "\"" URL1 "\"]"), 0, NULL },
	{ "string form: bad URL", RES("\"[\\\"ftp://h/a\\\"]\""), 0, "data.info.resultUrls (string form): data.info.resultUrls: every entry" },
	{ "string form: not an array", RES("\"\\\"" URL1 "\\\"\""), 0, "data.info.resultUrls (string form)" },
	{ "string form: plain URL", RES("\"" URL1 "\""), 0, "data.info.resultUrls (string form): invalid JSON" },
	{ "string form: object", RES("\"{\\\"a\\\":1}\""), 0, "data.info.resultUrls (string form)" },
	{ "string form: bad JSON", RES("\"[\\\"" URL1 "\\\"\""), 0, "data.info.resultUrls (string form): invalid JSON" },
	{ "string form: trailing data", RES("\"[\\\"" URL1 "\\\"] []\""), 0, "data.info.resultUrls (string form): invalid JSON" },
	{ "string form: nested string", RES("\"[\\\"[\\\\\\\"" URL1 "\\\\\\\"]\\\"]\""), 0, "data.info.resultUrls" },
	{ "string form in originUrls: bad", INFO("\"resultUrls\":[\"" URL1 "\"],\"originUrls\":\"[1]\""), 0, "data.info.originUrls (string form)" },

	/* --- rejected: invalid UTF-8 (raw bytes inside strings) --- */
	{ "0xff in msg", "{\"code\":501,\"msg\":\"a\xff\",\"data\":{\"taskId\":\"t1\"}}", 0, "invalid UTF-8" },
	{ "lone continuation byte", "{\"code\":501,\"msg\":\"a\x80z\",\"data\":{\"taskId\":\"t1\"}}", 0, "invalid UTF-8" },
	{ "truncated 2-byte sequence", "{\"code\":501,\"msg\":\"a\xc3\",\"data\":{\"taskId\":\"t1\"}}", 0, "invalid UTF-8" },
	{ "truncated 4-byte sequence", "{\"code\":501,\"msg\":\"\xf0\x9f\x8e\",\"data\":{\"taskId\":\"t1\"}}", 0, "invalid UTF-8" },
	{ "invalid UTF-8 in an unknown field", CB("501", "{\"taskId\":\"t1\",\"x\":\"\xfe\xfe\"}"), 0, "invalid UTF-8" },
	{ "invalid UTF-8 in a key", CB("501", "{\"taskId\":\"t1\",\"\xc0\":1}"), 0, "invalid UTF-8" },
	{ "invalid UTF-8 in a URL", RES("[\"https://h/\xff.mp4\"]"), 0, "invalid UTF-8" },
	{ "overlong encoding of '/'", "{\"code\":501,\"msg\":\"\xc0\xaf\",\"data\":{\"taskId\":\"t1\"}}", 0, "UTF-8" },
	{ "UTF-16 surrogate as bytes", "{\"code\":501,\"msg\":\"\xed\xa0\x80\",\"data\":{\"taskId\":\"t1\"}}", 0, "UTF-8" },
	{ "code point above U+10FFFF", "{\"code\":501,\"msg\":\"\xf4\x90\x80\x80\",\"data\":{\"taskId\":\"t1\"}}", 0, "UTF-8" },
	{ "overlong 2-byte lead 0xc1", "{\"code\":501,\"msg\":\"\xc1\xbf\",\"data\":{\"taskId\":\"t1\"}}", 0, "invalid UTF-8 at byte 19" },
	{ "overlong 3-byte form", "{\"code\":501,\"msg\":\"\xe0\x9f\xbf\",\"data\":{\"taskId\":\"t1\"}}", 0, "UTF-8" },
	{ "overlong 4-byte form", "{\"code\":501,\"msg\":\"\xf0\x8f\xbf\xbf\",\"data\":{\"taskId\":\"t1\"}}", 0, "UTF-8" },
	{ "lead byte 0xf5", "{\"code\":501,\"msg\":\"\xf5\x80\x80\x80\",\"data\":{\"taskId\":\"t1\"}}", 0, "UTF-8" },
	{ "escaped lone low surrogate", "{\"code\":501,\"msg\":\"\\udc00\",\"data\":{\"taskId\":\"t1\"}}", 0, "msg: escapes decode to invalid UTF-8" },
	{ "escaped lone surrogate in resolution", INFO("\"resultUrls\":[\"" URL1 "\"],\"resolution\":\"\\udc00p\""), 0, "data.info.resolution: escapes decode to invalid UTF-8" },
	{ "escaped lone surrogate in a URL", RES("[\"https://h/\\udfff\"]"), 0, "data.info.resultUrls: escapes decode to invalid UTF-8" },
	{ "raw control byte in a string", "{\"code\":501,\"msg\":\"a\x01\",\"data\":{\"taskId\":\"t1\"}}", 0, "invalid JSON" },
	{ "raw NUL byte in a string", RAW_NUL_IN, sizeof RAW_NUL_IN - 1, "invalid JSON" },
	{ "raw NUL byte after the document", RAW_NUL_AFTER, sizeof RAW_NUL_AFTER - 1, "invalid JSON" },

	/* --- rejected: duplicates of the keys this module reads --- */
	{ "duplicate code", "{\"code\":501,\"code\":200,\"msg\":\"m\",\"data\":" DATA_OK "}", 0, "duplicate key code" },
	{ "duplicate code, same value", "{\"code\":501,\"code\":501,\"msg\":\"m\",\"data\":{\"taskId\":\"t1\"}}", 0, "duplicate key code" },
	{ "duplicate msg", "{\"code\":501,\"msg\":\"a\",\"msg\":\"b\",\"data\":{\"taskId\":\"t1\"}}", 0, "duplicate key msg" },
	{ "duplicate data", "{\"code\":501,\"msg\":\"m\",\"data\":{\"taskId\":\"t1\"},\"data\":{\"taskId\":\"t2\"}}", 0, "duplicate key data" },
	{ "duplicate data.taskId", CB("501", "{\"taskId\":\"t1\",\"taskId\":\"t2\"}"), 0, "duplicate key data.taskId" },
	{ "duplicate data.task_id", CB("501", "{\"task_id\":\"t1\",\"task_id\":\"t1\"}"), 0, "duplicate key data.task_id" },
	{ "duplicate data.info", CB("200", "{\"taskId\":\"t1\",\"info\":null,\"info\":{\"resultUrls\":[\"" URL1 "\"]}}"), 0, "duplicate key data.info" },
	{ "duplicate data.info.resultUrls", INFO("\"resultUrls\":[\"" URL1 "\"],\"resultUrls\":[\"" URL2 "\"]"), 0, "duplicate key data.info.resultUrls" },
	{ "duplicate resultUrls, null first", INFO("\"resultUrls\":null,\"resultUrls\":[\"" URL2 "\"]"), 0, "duplicate key data.info.resultUrls" },
	{ "duplicate data.info.originUrls", INFO("\"resultUrls\":[\"" URL1 "\"],\"originUrls\":null,\"originUrls\":null"), 0, "duplicate key data.info.originUrls" },
	{ "duplicate fallbackFlag", CB("501", "{\"taskId\":\"t1\",\"fallbackFlag\":true,\"fallbackFlag\":false}"), 0, "duplicate key data.fallbackFlag" },
};

static void
run_table(void)
{
	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
		const struct tcase *t = &table[i];
		size_t len = t->len ? t->len : strlen(t->body);
		struct callback cb;
		char err[256];
		int rc;

		memset(err, 'Z', sizeof err);
		rc = callback_parse((const unsigned char *)t->body, len, &cb, err, sizeof err);
		if (t->err == NULL) {
			if (!ok(rc == 0, "accept: %s", t->name))
				printf("#   error: %s\n", err);
		} else {
			/* One line, and naming what is wrong. */
			int good = rc == -1 && memchr(err, '\0', sizeof err) != NULL &&
			    strstr(err, t->err) != NULL && strchr(err, '\n') == NULL;

			if (!ok(good, "reject: %s", t->name))
				printf("#   rc %d, error: '%.*s'\n#   want: '%s'\n", rc,
				    (int)sizeof err, err, t->err);
		}
		callback_free(&cb);
	}
}

/* The 4K callback's two documented shapes, and an ordinary callback. */
static void
test_4k_shapes(void)
{
	static const struct { const char *name, *body; bool is_4k; } cases[] = {
		{ "4K, info shape", "{\"code\":200,\"msg\":\"4K Video generated successfully.\","
		    "\"data\":{\"taskId\":\"t4\",\"info\":{\"resultUrls\":[\"" URL1 "\"],"
		    "\"imageUrls\":[\"" URL2 "\"]}}}", true },
		{ "4K, flat shape", "{\"code\":200,\"msg\":\"4K Video generated successfully.\","
		    "\"data\":{\"task_id\":\"bf3e7adb-fb6c-4257-bbcd-470787386fb0\",\"result_urls\":[\""
		    URL1 "\"],\"media_ids\":[\"CAUa\"],\"image_urls\":[\"" URL2 "\"]}}", true },
		{ "ordinary success", "{\"code\":200,\"msg\":\"m\",\"data\":{\"taskId\":\"t5\","
		    "\"info\":{\"resultUrls\":[\"" URL1 "\"]}}}", false },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct callback cb;
		char err[256];
		int rc = callback_parse((const unsigned char *)cases[i].body,
		    strlen(cases[i].body), &cb, err, sizeof err);

		ok(rc == 0 && cb.is_4k == cases[i].is_4k && cb.result_urls.n == 1 &&
		    strcmp(cb.result_urls.v[0], URL1) == 0,
		    "%s: accepted, result URL read, is_4k %s", cases[i].name,
		    cases[i].is_4k ? "set" : "clear");
		callback_free(&cb);
	}
}

/* More URLs than are kept: the callback is accepted, the first ones kept. */
static void
test_many_urls(void)
{
	char body[8192], err[256];
	size_t len = (size_t)snprintf(body, sizeof body, "{\"code\":200,\"msg\":\"m\","
	    "\"data\":{\"taskId\":\"t1\",\"info\":{\"resultUrls\":[");
	struct callback cb;
	int rc;

	for (int i = 0; i < 40; i++)
		len += (size_t)snprintf(body + len, sizeof body - len, "%s\"https://h.example/%d.mp4\"",
		    i ? "," : "", i);
	len += (size_t)snprintf(body + len, sizeof body - len, "]}}}");
	rc = callback_parse((const unsigned char *)body, len, &cb, err, sizeof err);
	ok(rc == 0, "40 result URLs: accepted");
	is_int((long long)cb.result_urls.n, CALLBACK_MAX_URLS, "the first 32 are kept");
	is_int((long long)cb.result_urls.dropped, 8, "the other 8 are counted as dropped");
	ok(rc == 0 && strcmp(cb.result_urls.v[31], "https://h.example/31.mp4") == 0,
	    "in their order");
	callback_free(&cb);
}

/* Parses body; returns rc and leaves the result in cb and err. */
static int
parse(const char *body, struct callback *cb, char *err, size_t errlen)
{
	return callback_parse((const unsigned char *)body, strlen(body), cb, err, errlen);
}

static void
test_values(void)
{
	struct callback cb;
	char err[256];

	ok(parse("{\"code\":200,\"msg\":\"Veo3.1 video generated successfully.\","
	    "\"data\":{\"taskId\":\"" TID "\",\"info\":{\"resultUrls\":[\"" URL1 "\",\"" URL2 "\"],"
	    "\"originUrls\":[\"" URL2 "\"],\"resolution\":\"1080p\"},\"fallbackFlag\":true}}",
	    &cb, err, sizeof err) == 0, "full sample parses");
	is_int(cb.code, 200, "code");
	is_str(cb.task_id, TID, "task_id");
	is_str(cb.msg, "Veo3.1 video generated successfully.", "msg");
	is_str(cb.resolution, "1080p", "resolution");
	is_int(cb.fallback_flag, 1, "fallback_flag true");
	is_int(cb.result_urls.n, 2, "two result URLs");
	is_str(cb.result_urls.n > 0 ? cb.result_urls.v[0] : NULL, URL1, "first result URL");
	is_str(cb.result_urls.n > 1 ? cb.result_urls.v[1] : NULL, URL2, "second result URL");
	is_int(cb.origin_urls.n, 1, "one origin URL");
	is_str(cb.origin_urls.n > 0 ? cb.origin_urls.v[0] : NULL, URL2, "origin URL");
	callback_free(&cb);
	ok(cb.msg == NULL && cb.resolution == NULL && cb.result_urls.n == 0 &&
	    cb.result_urls.v == NULL, "callback_free clears the struct");
	callback_free(&cb);	/* twice is harmless */

	/* The string form yields the same list as the array form. */
	ok(parse(RES("\"[\\\"" URL1 "\\\",\\\"https://x.example/b?c=1&d=\\\\u00e9\\\"]\""),
	    &cb, err, sizeof err) == 0, "string-form resultUrls parses");
	is_int(cb.result_urls.n, 2, "string form: two URLs");
	is_str(cb.result_urls.n > 0 ? cb.result_urls.v[0] : NULL, URL1, "string form: first URL");
	is_str(cb.result_urls.n > 1 ? cb.result_urls.v[1] : NULL,
	    "https://x.example/b?c=1&d=\xc3\xa9", "string form: escapes decoded twice");
	is_int(cb.origin_urls.n, 0, "string form: no origin URLs");
	is_int(cb.fallback_flag, -1, "fallback_flag absent is -1");
	ok(cb.resolution == NULL, "resolution absent is NULL");
	callback_free(&cb);

	ok(parse(INFO("\"resultUrls\":[\"" URL1 "\"],\"originUrls\":\"[\\\"" URL2 "\\\",\\\"" URL1 "\\\"]\""),
	    &cb, err, sizeof err) == 0, "string-form originUrls parses");
	is_int(cb.origin_urls.n, 2, "string-form originUrls: two URLs");
	is_str(cb.origin_urls.n > 1 ? cb.origin_urls.v[1] : NULL, URL1, "string-form originUrls: second");
	is_int(cb.result_urls.n, 1, "string-form originUrls: result list untouched");
	callback_free(&cb);

	ok(parse(CB("501", "{\"task_id\":\"veo_4k-9.z\",\"fallbackFlag\":false}"),
	    &cb, err, sizeof err) == 0, "task_id form parses");
	is_str(cb.task_id, "veo_4k-9.z", "task_id copied from data.task_id");
	is_int(cb.code, 501, "code 501");
	is_int(cb.fallback_flag, 0, "fallback_flag false");
	is_int(cb.result_urls.n, 0, "no result URLs on failure");
	callback_free(&cb);

	ok(parse(CB("-42", "{\"taskId\":\"a\",\"fallbackFlag\":null}"), &cb, err, sizeof err) == 0,
	    "negative code parses");
	is_int(cb.code, -42, "code -42");
	is_int(cb.fallback_flag, -1, "fallback_flag null is -1");
	callback_free(&cb);

	ok(parse("{\"code\":400,\"msg\":\"a\\\"b\\\\c\\u00e9\\n\",\"data\":{\"taskId\":\"x\"}}",
	    &cb, err, sizeof err) == 0, "escaped msg parses");
	is_str(cb.msg, "a\"b\\c\xc3\xa9\n", "msg escapes decoded");
	callback_free(&cb);

	ok(parse("{\"code\":400,\"msg\":\"\\ud83c\\udfac\xe5\x86\x85\",\"data\":{\"taskId\":\"x\"}}",
	    &cb, err, sizeof err) == 0, "surrogate pair parses");
	is_str(cb.msg, "\xf0\x9f\x8e\xac\xe5\x86\x85", "surrogate pair decoded to one code point");
	callback_free(&cb);

	/* A failed parse leaves nothing the caller could mistake for a result. */
	ok(parse(RES("[\"" URL1 "\",\"ftp://x\"]"), &cb, err, sizeof err) < 0, "partial URL list rejected");
	callback_free(&cb);
	ok(cb.result_urls.v == NULL && cb.msg == NULL, "callback_free after a failed parse frees all");
}

/* A body with depth containers: the top object plus depth - 1 nested arrays. */
static char *
nested(int depth, const char *where)
{
	size_t cap = (size_t)depth * 2 + 256;
	char *b = malloc(cap), *p = b;
	int n;

	if (strcmp(where, "top") == 0) {
		p += sprintf(p, "{\"code\":501,\"msg\":\"m\",\"data\":{\"taskId\":\"t1\"},\"x\":");
		n = depth - 1;
	} else {
		/* Inside data.info: top, data, info already make three levels. */
		p += sprintf(p, "{\"code\":501,\"msg\":\"m\",\"data\":{\"taskId\":\"t1\",\"info\":{\"deep\":");
		n = depth - 3;
	}
	for (int i = 0; i < n; i++)
		*p++ = '[';
	for (int i = 0; i < n; i++)
		*p++ = ']';
	strcpy(p, strcmp(where, "top") == 0 ? "}" : "}}}");
	return b;
}

/*
 * Where the limit sits: a document may be CALLBACK_MAX_DEPTH (32) containers
 * deep, counting the top-level object as level 1; opening a 33rd container
 * is refused.  Objects count the same as arrays.
 */
static void
test_depth(void)
{
	static const struct { int depth; const char *where; int want; } cases[] = {
		{ 31, "top", 0 }, { 32, "top", 0 }, { 33, "top", -1 }, { 100, "top", -1 },
		{ 32, "info", 0 }, { 33, "info", -1 },
	};
	struct callback cb;
	char err[256], *body;

	is_int(CALLBACK_MAX_DEPTH, 32, "the documented depth limit is 32");
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int rc;

		body = nested(cases[i].depth, cases[i].where);
		rc = parse(body, &cb, err, sizeof err);
		if (cases[i].want == 0)
			ok(rc == 0, "depth %d (via %s) accepted", cases[i].depth, cases[i].where);
		else
			ok(rc == -1 && strstr(err, "nesting deeper than 32") != NULL,
			    "depth %d (via %s) rejected: %s", cases[i].depth, cases[i].where, err);
		callback_free(&cb);
		free(body);
	}

	/* Objects only: 32 nested objects ok, 33 not. */
	for (int depth = 32; depth <= 33; depth++) {
		char buf[1024], *p = buf;
		int rc;

		p += sprintf(p, "{\"code\":501,\"msg\":\"m\",\"data\":{\"taskId\":\"t1\"}");
		for (int i = 1; i < depth; i++)
			p += sprintf(p, ",\"k\":{\"z\":0");
		for (int i = 1; i < depth; i++)
			*p++ = '}';
		strcpy(p, "}");
		rc = parse(buf, &cb, err, sizeof err);
		ok(depth == 32 ? rc == 0 : rc == -1 && strstr(err, "nesting") != NULL,
		    "%d nested objects %s", depth, depth == 32 ? "accepted" : "rejected");
		callback_free(&cb);
	}
}

/* The error buffer is respected whatever its size. */
static void
test_small_err(void)
{
	struct callback cb;
	char err[8];

	memset(err, 'Z', sizeof err);
	ok(parse(TASK("\"../x\""), &cb, err, 6) == -1 && err[5] == '\0' && err[6] == 'Z',
	    "error truncated to the buffer");
	callback_free(&cb);
	memset(err, 'Z', sizeof err);
	ok(parse(TASK("\"../x\""), &cb, err, 0) == -1 && err[0] == 'Z', "errlen 0 writes nothing");
	callback_free(&cb);
	memset(err, 'Z', sizeof err);
	ok(callback_parse((const unsigned char *)"", 0, &cb, err, 0) == -1 && err[0] == 'Z',
	    "empty body with errlen 0 writes nothing");
	callback_free(&cb);
}

static void
test_taskid_valid(void)
{
	char s[TASKID_MAX + 2];

	memset(s, 'a', sizeof s);
	ok(taskid_valid("a", 1), "1 char valid");
	ok(taskid_valid(s, 128), "128 chars valid");
	ok(!taskid_valid(s, 129), "129 chars invalid");
	ok(!taskid_valid("", 0), "empty invalid");
	ok(taskid_valid("AZaz09._-", 9), "every allowed class");
	ok(taskid_valid("a.", 2) && taskid_valid("a..b", 4), "dots after the first byte");
	ok(taskid_valid("-a", 2) && taskid_valid("_a", 2), "leading - or _ allowed");
	ok(!taskid_valid(".", 1) && !taskid_valid("..", 2) && !taskid_valid(".a", 2), "leading dot invalid");
	ok(!taskid_valid("a/b", 3) && !taskid_valid("a\\b", 3), "slashes invalid");
	ok(!taskid_valid("a b", 3) && !taskid_valid("a\tb", 3) && !taskid_valid("a\nb", 3), "blanks invalid");
	ok(!taskid_valid("a\0b", 3), "embedded NUL invalid");
	ok(!taskid_valid("a\xc3\xa9", 3) && !taskid_valid("\xff", 1), "high bytes invalid");
	ok(!taskid_valid("a:b", 3) && !taskid_valid("a*", 2) && !taskid_valid("a~", 2) &&
	    !taskid_valid("a%2f", 4) && !taskid_valid("a;b", 3) && !taskid_valid("$x", 2),
	    "punctuation invalid");
	/* Only len counts: bytes past it are not looked at. */
	ok(taskid_valid("ab/", 2), "length bounds the check");
	ok(!taskid_valid("ab", 3), "NUL within len is checked");
}

static void
test_url_valid(void)
{
	static const struct { const char *s; bool want; } cases[] = {
		{ "https://h", true }, { "http://h", true }, { "https://h/p?q=1#f", true },
		{ "HTTP://H/", true }, { "HtTpS://h:8443/x", true },
		{ "https://h/\xc3\xa9", true },
		{ "https://", false }, { "http://", false }, { "https:///x", false },
		{ "https://?q", false }, { "https://#f", false }, { "http:/h", false },
		{ "https:h", false }, { "ftp://h/x", false }, { "file:///x", false },
		{ "javascript:alert(1)", false }, { "data:text/html,x", false },
		{ "", false }, { "h/x", false }, { "//h/x", false },
		{ "https://h/a b", false }, { "https://h/a\tb", false }, { " https://h", false },
		{ "https://h\r\n", false }, { "https://h/\x7f", false }, { "https://h\\x", false },
		{ "https://h/\x01", false }, { "httpsx://h", false }, { "https//h", false },
		/* the authority must name a host */
		{ "https://@/x.mp4", false }, { "https://:443/x.mp4", false }, { "https://u:p@/x", false },
		{ "https://u@:1/x", false }, { "https://@", false }, { "https://:", false },
		{ "https://[]/x", false }, { "https://[::1/x", false }, { "https://[::1]x/", false },
		{ "https://h:44a/x", false }, { "https://h:-1/x", false },
		{ "https://u@h/x", true }, { "https://u:p@h:8443/x", true }, { "https://@h/x", true },
		{ "https://[::1]:8443/x", true }, { "https://[2001:db8::1]/x", true },
		{ "https://h:/x", true }, { "https://h?q", true }, { "https://h#f", true },
	};
	char *big, name[48];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *s = cases[i].s;
		size_t j;

		/* Keep the TAP line one line: controls and high bytes as '?'. */
		for (j = 0; s[j] && j < sizeof name - 1; j++)
			name[j] = s[j] > 0x20 && s[j] < 0x7f ? s[j] : '?';
		name[j] = '\0';
		ok(url_valid(s, strlen(s)) == cases[i].want, "url_valid(\"%s\") is %s",
		    name, cases[i].want ? "true" : "false");
	}
	ok(!url_valid("https://h/\0x", 12), "embedded NUL invalid");
	ok(url_valid("https://hX", 9), "length bounds the check");
	big = malloc(CALLBACK_MAX_URL_LEN + 2);
	memcpy(big, "https://h/", 10);
	memset(big + 10, 'a', CALLBACK_MAX_URL_LEN - 10 + 1);
	ok(url_valid(big, CALLBACK_MAX_URL_LEN), "URL of CALLBACK_MAX_URL_LEN bytes valid");
	ok(!url_valid(big, CALLBACK_MAX_URL_LEN + 1), "one byte longer invalid");
	free(big);
}

int
main(void)
{
	if (sizeof table / sizeof table[0] < 60)
		ok(0, "the payload table has at least 60 entries");
	run_table();
	test_many_urls();
	test_4k_shapes();
	test_values();
	test_depth();
	test_small_err();
	test_taskid_valid();
	test_url_valid();
	test_out_of_memory();
	return done_testing();
}
