/*
 * spool: durable storage of callbacks, one file per taskId.
 *
 * Layout under spool_dir (created on first use, except spool_dir itself):
 *
 *   tmp/             private temp files; never read by anyone
 *   new/<taskId>     the latest callback of a task not yet taken by the
 *                    spooler (format: entry.h)
 *   old/<taskId>.<unique>  a callback that a different one for the same
 *                    task replaced before the spooler took it; kept, not
 *                    processed
 *
 * The spooler takes new/<taskId> away by rename(2); everything else under
 * spool_dir belongs to it.
 *
 * Durability (DESIGN promises 1 and 2): the entry is written to an unnamed
 * O_TMPFILE file in new/ (or, where the file system has none, an O_EXCL
 * temp file in tmp/), fsync'd, then linked or renamed into new/, and new/
 * is fsync'd; only then does spool_store() return success.  A reader of new/
 * therefore sees a whole entry or nothing.  With sync off the fsyncs are
 * skipped (the rename still makes entries appear whole).
 *
 * Repeats (promise 4): when new/<taskId> holds the same body (by SHA-256),
 * only its duplicate count and last-received time change, under an flock
 * on the entry, waited for at most 2 s (then _ERROR: the sender retries); a different body replaces it and the old one moves to old/.
 * Creation uses link(2), which fails rather than overwrites, so two writers
 * of one task never lose each other's entry.
 */
#ifndef VEO_SPOOL_H
#define VEO_SPOOL_H

#include <stdbool.h>
#include <stddef.h>

enum spool_status {
	SPOOL_STORED,		/* a new entry */
	SPOOL_DUPLICATE,	/* identical to the waiting entry; count bumped */
	SPOOL_REPLACED,		/* different from the waiting entry; old one kept in old/ */
	SPOOL_FULL,		/* below min_free, or ENOSPC/EDQUOT */
	SPOOL_ERROR,		/* anything else; err says what */
};

struct spool_item {
	const char *task_id;		/* must pass taskid_valid() */
	long long code;
	const unsigned char *body;
	size_t body_len;
	const char *remote_addr;	/* may be NULL */
	bool signature_verified;
};

struct spool_opts {
	bool sync;			/* fsync files and directories */
	long long min_free;		/* bytes that must stay free */
	bool named_temp_only;		/* skip the O_TMPFILE path, as on NFS (tests) */
};

/*
 * Stores it under spool_dir.  Returns SPOOL_STORED, _DUPLICATE or _REPLACED
 * only when the entry is durable (with opts->sync); otherwise _FULL or
 * _ERROR with a reason in err, and nothing half-written is visible.
 */
enum spool_status spool_store(const char *spool_dir, const struct spool_item *it,
    const struct spool_opts *opts, char *err, size_t errlen);

/*
 * Health of the spool: 0 when a store could succeed (spool_dir present;
 * tmp/, new/ and old/ writable, or absent with spool_dir writable; min_free
 * available), -1 with a reason in err otherwise.  Creates nothing.  Counts
 * the entries waiting in new/ into *pending, reading at most 1000 of them:
 * 1000 means "1000 or more".
 */
int spool_health(const char *spool_dir, long long min_free, long *pending,
    char *err, size_t errlen);

/*
 * Checks that spool_dir exists and creates the subdirectories its user
 * needs: tmp/, new/ and old/ for the responder; also cur/, state/, claim/
 * and bad/ for the spooler.  0, or -1 with a reason in err.
 */
int spool_prepare(const char *spool_dir, bool for_spooler, char *err, size_t errlen);

/*
 * The names in spool_dir/sub that are valid taskIds, sorted.  Returns a
 * malloc'd array (NULL when there are none or the directory cannot be
 * read) that the caller frees with spool_list_free().
 */
char **spool_list(const char *spool_dir, const char *sub, size_t *n);
void spool_list_free(char **names, size_t n);

/* Builds "<spool_dir>/<sub>[/<name>]" into buf; -1 if it does not fit. */
int spool_path(char *buf, size_t len, const char *spool_dir, const char *sub,
    const char *name);

#endif
