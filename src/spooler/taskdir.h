/*
 * taskdir: a task's download directory, download_dir/<taskId>, handled
 * without following links planted in it.
 *
 * The directory itself must be a real directory (a symbolic link there
 * would send the videos elsewhere): it is opened with O_NOFOLLOW and the
 * descriptor is what the downloader writes through.  A name in it that the
 * task has not downloaded itself (an earlier callback's video, a planted
 * file, a link, a directory) is moved aside, never followed and never
 * deleted, so that the file is fetched again under that name.
 */
#ifndef VEO_TASKDIR_H
#define VEO_TASKDIR_H

#include <stddef.h>
#include <time.h>

/*
 * Creates download_dir (if missing) and dir in it, then opens dir.
 * Returns the descriptor (O_DIRECTORY, close-on-exec; the caller closes
 * it); or, with a one-line reason in err and the advice in advice, -2 when
 * dir is not a directory (a link: the task's own problem) and -1 when it
 * cannot be made or opened (the machine's problem, shared by all tasks).
 */
int taskdir_open(const char *download_dir, const char *dir, char *err, size_t errlen,
    const char **advice);

/*
 * Moves whatever sits at name in dirfd aside to "<name>.moved-<unique>"
 * (its name goes to aside).  Returns 1 when something was moved, 0 when
 * nothing is there, -1 with errno when it could not be moved.
 */
int taskdir_set_aside(int dirfd, const char *name, char *aside, size_t asidelen);

/*
 * Moves aside a "<name>.part" or "<name>.part.info" that is not a regular
 * file (the downloader never follows them, but would fail on them for ever).
 */
void taskdir_clear_partial_links(int dirfd, const char *name);

/* Removes "<name>.part" and "<name>.part.info" in dirfd, if there. */
void taskdir_remove_partial(int dirfd, const char *name);

/*
 * Removes the .part and .part.info files older than cutoff in every task
 * directory under download_dir (links are not followed).  Returns how
 * many were removed.
 */
long taskdir_remove_stray(const char *download_dir, time_t cutoff);

#endif
