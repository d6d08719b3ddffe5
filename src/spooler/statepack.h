/*
 * statepack: the state files of finished tasks copied into one file,
 * spool_dir/state.pack, so that `veo-spooler status` over a long history
 * reads one file and looks at each state file's inode, instead of opening
 * and reading every state file (from disk, once the page cache has let
 * them go).
 *
 * A cache, never the record.  Each entry carries the identity of the state
 * file it copies (inode, size, modification and change times, to the
 * nanosecond) and is used only while state/<taskId> still has exactly that
 * identity; otherwise the state file is read.  A state file is only ever
 * replaced by a rename (task.h), so a file with the same identity holds
 * the same bytes; a file changed in place within the file system's clock
 * tick could keep its times, so files changed in the two seconds before a
 * pack is written are left out of it (git's "racy" rule).  The sweep
 * writes the pack in its hourly tidying and never reads it; a missing,
 * old or damaged pack only makes status read more state files.
 *
 * Format: the line "VEO-STATE-PACK 1", then for each task, in taskId
 * order, the line
 *     <taskId> <inode> <size> <mtime s> <mtime ns> <ctime s> <ctime ns>
 * followed by the <size> bytes of its state file.
 */
#ifndef VEO_STATEPACK_H
#define VEO_STATEPACK_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define STATEPACK_NAME "state.pack"	/* in spool_dir */

struct statepack;

/*
 * A reader of the pack of spool_dir, going through it once in taskId
 * order, in constant memory; NULL when there is no pack or it cannot be
 * read (an empty pack then).
 */
struct statepack *statepack_open(const char *spool_dir);
void statepack_close(struct statepack *p);

/*
 * The packed bytes of state/<task_id> (len of them, not NUL-terminated,
 * valid until the next call) when the file in state_fd, spool_dir/state
 * open, is still the one packed; NULL otherwise (p may be NULL).  The
 * taskIds must be asked in increasing order (strcmp), as status lists
 * them: the entries before one are passed over for good.
 */
const char *statepack_get(struct statepack *p, int state_fd, const char *task_id,
    size_t *len);

/* How many entries the pack of spool_dir holds, read up to its end or its
 * first damaged entry. */
size_t statepack_count(const char *spool_dir);

/*
 * Writes spool_dir/state.pack afresh (temp file in tmp/, then rename; with
 * sync, fsync'd) from the state files of the tasks not marked in pending/,
 * copying the entries of the old pack that are still current and reading
 * the other files.  At the deadline it stops reading files, and keeps
 * what it packed: the next pack goes on from there.  Nothing is written
 * when the pack would not change, nor when writing it could leave less
 * than min_free bytes free (the responder's room).  1 written, 0
 * unchanged, -1 with err.
 */
int statepack_write(const char *spool_dir, time_t deadline, bool sync, long long min_free,
    char *err, size_t errlen);

#endif
