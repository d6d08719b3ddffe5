/*
 * claim: who works on what, so that two sweeps never download the same
 * file twice (DESIGN promise 5).
 *
 *  - The sweep lock, spool_dir/sweep.<host>.lock, is an flock(2) held for
 *    a whole run: one sweep per host at a time.  A second run finds it
 *    taken and exits at once.
 *  - A task claim, spool_dir/claim/<taskId>, is a small file "host pid
 *    starttime" put in place with link(2), which fails when the name
 *    exists: of several sweeps on several hosts sharing the spool, exactly
 *    one gets it.  The holder refreshes its mtime at least every
 *    CLAIM_REFRESH seconds while it works, hooks included (claim_touch).
 *  - A claim is stale when it has not been refreshed for CLAIM_STALE_AFTER
 *    seconds, whoever holds it; on the same host also as soon as its
 *    process is gone, or its PID names a process with another start time
 *    (a PID reused after a kill -9).  A stale claim is taken over by
 *    renaming the taker's own claim over it, so the name is never empty;
 *    takers of one task take turns (a marker claim/.<taskId>.<level>
 *    made with link(2)), and a taker checks in its turn that the claim is
 *    still the one it judged, so of two sweeps that judged it stale only
 *    one takes it over (claim.c, take_over()).
 */
#ifndef VEO_CLAIM_H
#define VEO_CLAIM_H

#include <stdbool.h>
#include <stddef.h>

#define CLAIM_STALE_AFTER 600	/* seconds without a refresh: stale */
#define CLAIM_REFRESH 60	/* seconds between refreshes by the holder */

/* Takes the host's sweep lock.  Returns the held fd, -2 when another run
 * holds it, -1 on error (err says why). */
int claim_sweep_lock(const char *spool_dir, char *err, size_t errlen);

enum claim_result { CLAIM_OK, CLAIM_BUSY, CLAIM_ERROR };

enum claim_result claim_task(const char *spool_dir, const char *task_id,
    char *err, size_t errlen);
/* Removes our claim of task_id. */
void claim_release(const char *spool_dir, const char *task_id);
/* Refreshes the claim's mtime. */
void claim_touch(const char *spool_dir, const char *task_id);
/* True when someone (maybe us) holds a live claim of task_id. */
bool claim_held(const char *spool_dir, const char *task_id);

#endif
