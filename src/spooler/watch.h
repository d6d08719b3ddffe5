/*
 * watch: waits until the spool may hold new work, for `veo-spooler run`
 * between its sweeps.
 *
 * With inotify, a file created in, moved into or closed after writing in
 * spool_dir/new/ or spool_dir/expect/ wakes the waiter at once.  Where
 * inotify is unavailable (NFS, where another host's writes raise no event;
 * a kernel without it; the watch limit reached) the waiter looks at those
 * directories every second instead and wakes when one holds a name.  The
 * environment variable VEO_TEST_NO_INOTIFY=1 forces that fallback; it
 * exists for the tests.
 */
#ifndef VEO_WATCH_H
#define VEO_WATCH_H

#include <stdbool.h>

struct watch;

/*
 * Watches spool_dir (whose new/ and expect/ exist).  wake_fd, when >= 0,
 * is also polled: a byte written to it (a signal handler's self-pipe) ends
 * the wait.  NULL only when out of memory.
 */
struct watch *watch_open(const char *spool_dir, int wake_fd);

/* True when the watch uses inotify, false for the 1 s scan. */
bool watch_inotify(const struct watch *wt);

/*
 * Waits up to timeout_ms (>= 0) for new work or a wake-up.  Returns 1 when
 * there may be work (or wake_fd was written), 0 when the time is up.
 */
int watch_wait(struct watch *wt, long timeout_ms);

void watch_close(struct watch *wt);

#endif
