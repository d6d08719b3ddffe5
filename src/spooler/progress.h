/*
 * progress: a compact live display of the running downloads on stderr,
 * one line per file (name, bytes, rate, time left), redrawn at most four
 * times a second.  Meant for a terminal; fetch.c uses it only when asked.
 */
#ifndef VEO_PROGRESS_H
#define VEO_PROGRESS_H

#include <stddef.h>

struct progress;

/* A display for up to nslots files, owned by the caller; NULL on ENOMEM. */
struct progress *progress_new(size_t nslots);

/*
 * Reports that slot has done bytes of total (-1: unknown).  name is
 * borrowed until progress_end(); it is escaped before display.  Redraws
 * when the last redraw is more than 250 ms old.
 */
void progress_set(struct progress *p, size_t slot, const char *name,
    long long done, long long total);

/*
 * Takes slot off the live display and prints line above it for good; line
 * must already be safe to print (escaped).
 */
void progress_end(struct progress *p, size_t slot, const char *line);

/* Clears the live display and frees p.  NULL is fine. */
void progress_free(struct progress *p);

/* "1.2 MB", "512 bytes": sizes for people (decimal units). */
char *progress_bytes(char *buf, size_t len, long long n);

#endif
