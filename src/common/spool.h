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
 *   taking/<taskId>  an entry the spooler has taken out of new/ and is
 *                    taking in (normally empty: only a crash leaves one)
 *   cur/<taskId>     the latest entry the spooler has taken in
 *   bad/<taskId>.<unique>  an entry that could not be read, kept for a person
 *   expect/<taskId>  an empty file: a task submitted to the provider whose
 *                    callback is expected (veo-spooler expect, or any
 *                    program that creates the file); the spooler turns it
 *                    into a task waiting for its callback and removes it
 *   state/<taskId>   the spooler's record of the task (task.h)
 *   pending/<taskId> an empty file: the task is one a sweep must look at
 *                    (pending, a hook owed, an upgrade under way); finished
 *                    tasks have none, so a sweep does not read them (task.h)
 *
 * The responder writes only tmp/, new/ and old/; everything else under
 * spool_dir belongs to the spooler.
 *
 * Durability (DESIGN promises 1 and 2): the entry is written to an unnamed
 * O_TMPFILE file in new/ (or, where the file system has none, an O_EXCL
 * temp file in tmp/), fsync'd, then linked or renamed into new/, and new/
 * is fsync'd; only then does spool_store() return success.  A reader of new/
 * therefore sees a whole entry or nothing.  With sync off the fsyncs are
 * skipped (the rename still makes entries appear whole).
 *
 * Repeats (promise 4): a callback whose body is byte for byte the one in
 * new/<taskId> is a duplicate, answered after reading and comparing only:
 * nothing is written, nothing locked, and the entry stays as it is (no
 * count; the request's log line says "duplicate").  Concurrent replacement
 * is harmless, since an entry only ever changes by rename: the open entry
 * is one whole version.  With sync the entry must be durable before the
 * answer: its writer marks it so once it and new/ are fsync'd (the
 * extended attribute user.veo-callback.durable); an unmarked entry (its
 * writer between link and directory fsync, written without sync, or a
 * file system without user extended attributes) is fsync'd with new/ by
 * the repeat itself, which then marks it.
 * A different body replaces the entry, which moves to old/, under an flock
 * on the entry held until the replacement is durable, waited for at most
 * 2 s (then _ERROR: the sender retries), so that two replacements never
 * lose each other's callback.  Creation uses link(2), which fails rather
 * than overwrites, so two writers of one task never lose each other's entry.
 * Only new/ is compared: once the spooler has taken the entry (taking/,
 * cur/, the spooler's alone in the privilege split, and forgotten from
 * cur/ by keep_days and purge), a repeat is stored again, and the spooler
 * counts it in the task's "duplicates" and downloads nothing.
 *
 * Taking (the spooler's half), the Maildir way: spool_take() first renames
 * new/<taskId> to taking/<taskId>, then reads what it renamed.  A callback
 * stored while the spooler works on the entry therefore lands in a fresh
 * new/<taskId> and is taken by the next spool_take(); it can never be moved
 * away unread.  Once the task's state records the entry, spool_take_done()
 * moves it to cur/.  A crash in between leaves taking/<taskId>, which the
 * next spool_take() returns before looking at new/ again, so a sweep
 * killed at any instant loses nothing.  Callers serialise takes of one
 * task (the spooler's claim).
 */
#ifndef VEO_SPOOL_H
#define VEO_SPOOL_H

#include <stdbool.h>
#include <stddef.h>

#include "entry.h"

enum spool_status {
	SPOOL_STORED,		/* a new entry */
	SPOOL_DUPLICATE,	/* identical to the waiting entry, which is unchanged */
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
 * _ERROR with a reason in err, and nothing half-written is visible.  A
 * duplicate is answered before min_free is looked at: it needs no space.
 */
enum spool_status spool_store(const char *spool_dir, const struct spool_item *it,
    const struct spool_opts *opts, char *err, size_t errlen);

/*
 * Registers task_id as expected: creates spool_dir/expect/<task_id> (an
 * empty file; an existing one is fine).  0, or -1 with err, also for a
 * taskId the responder would refuse.
 */
int spool_expect(const char *spool_dir, const char *task_id, char *err, size_t errlen);

/* ---- the spooler's half ---- */

enum spool_read {
	SPOOL_READ_OK,		/* e holds the entry */
	SPOOL_READ_NONE,	/* no entry for this task */
	SPOOL_READ_DAMAGED,	/* there, but unreadable (err says why) */
	SPOOL_READ_ERROR,	/* could not be read or taken (err says why) */
};

struct spool_entry {
	char *data;			/* owned: the whole file */
	size_t len;
	struct entry_meta meta;
	const char *body;		/* into data: meta.body_length bytes */
};

/*
 * Takes the waiting entry of task_id (see "Taking" above) into e, which
 * the caller frees with spool_entry_free() whatever the result.  After
 * SPOOL_READ_OK or SPOOL_READ_DAMAGED the entry sits in taking/ until the caller
 * calls spool_take_done() or spool_take_refuse().
 */
enum spool_read spool_take(const char *spool_dir, const char *task_id,
    struct spool_entry *e, char *err, size_t errlen);

/* The entry in taking/ is recorded: moves it to cur/.  0, or -1 with err. */
int spool_take_done(const char *spool_dir, const char *task_id, bool sync,
    char *err, size_t errlen);

/* The entry in taking/ cannot be used: moves it to bad/.  0, or -1 with err. */
int spool_take_refuse(const char *spool_dir, const char *task_id, char *err,
    size_t errlen);

/*
 * Reads spool_dir/<sub>/<task_id> (sub: "new", "taking" or "cur") into e
 * without moving it; the caller frees e with spool_entry_free().
 */
enum spool_read spool_read(const char *spool_dir, const char *sub, const char *task_id,
    struct spool_entry *e, char *err, size_t errlen);

void spool_entry_free(struct spool_entry *e);

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
 * needs: tmp/, new/ and old/ for the responder; also taking/, cur/, state/,
 * claim/, bad/, expect/ and pending/ for the spooler.  0, or -1 with a reason in err.
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
