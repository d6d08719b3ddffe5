/*
 * responder: one callback request, from checks to reply, independent of
 * whether it came through FastCGI or plain CGI.
 *
 * The checks run cheapest first, so nothing unauthenticated is parsed:
 * method (405) -> some authentication configured, or "auth = none" (503)
 * -> allow_from (403) -> token (401) -> Content-Length (411,
 * 413; before a byte of the body is read) -> Content-Type (415) -> body
 * read (400 if short) -> JSON and schema (400) -> HMAC signature (401) ->
 * spool write (200, or 503 with Retry-After).  "GET ?health" answers a
 * small JSON after a few stat(2)-like checks: it creates nothing and reads
 * at most one bounded batch of new/.
 *
 * Every request ends in exactly one JSON reply and one log line (log.h):
 * no query string, no header value, no secret in it.
 */
#ifndef VEO_RESPONDER_H
#define VEO_RESPONDER_H

#include <stddef.h>
#include <sys/types.h>

#include "config.h"

/* The transport: request parameters, body input, reply output. */
struct request_io {
	void *ctx;
	/* A CGI/FastCGI parameter such as "REQUEST_METHOD"; NULL if absent. */
	const char *(*param)(void *ctx, const char *name);
	/* Reads up to len body bytes: > 0 bytes read, 0 at end, -1 on error. */
	ssize_t (*read)(void *ctx, void *buf, size_t len);
	/* Writes all of buf: 0, or -1 on error. */
	int (*write)(void *ctx, const void *buf, size_t len);
};

/*
 * Handles one request.  cfg is the loaded file and environment layers, or
 * NULL when loading them failed (cfg_error then says why): every request is
 * then answered 503, so the sender retries once the configuration is fixed.
 * Returns the HTTP status sent.
 */
int responder_handle(const struct config *cfg, const char *cfg_error,
    const struct request_io *io);

/*
 * NULL when s names some authentication (token, hmac_key, allow_from) or
 * "auth = none"; otherwise the reason callbacks are refused, naming the
 * settings that are missing.
 */
const char *responder_auth_missing(const struct settings *s);

#endif
