/*
 * sniff: does a file start like the media we expect?  A result host that
 * answers "200 OK" with an HTML error page must not end up stored as a
 * video, so the first bytes are checked against the signatures of the
 * formats the provider serves.
 */
#ifndef VEO_SNIFF_H
#define VEO_SNIFF_H

#include <stdbool.h>
#include <stddef.h>

#include "media.h"

/* Bytes needed for a verdict (fewer are judged as they are: a short file). */
#define SNIFF_LEN 64

/*
 * True when the first len bytes of a file (len <= SNIFF_LEN is enough)
 * carry a signature of kind: ISO BMFF (mp4, mov) or EBML (webm, mkv) for
 * MEDIA_VIDEO; JPEG, PNG, GIF, WebP, AVIF/HEIF for MEDIA_IMAGE; anything
 * for MEDIA_ANY.
 */
bool sniff_match(enum media_kind kind, const unsigned char *p, size_t len);

/*
 * Writes "not a video: starts with '<!DOCTYPE html'" (the bytes escaped)
 * into buf, for a file that failed sniff_match().  Returns buf.
 */
char *sniff_describe(char *buf, size_t buflen, enum media_kind kind,
    const unsigned char *p, size_t len);

#endif
