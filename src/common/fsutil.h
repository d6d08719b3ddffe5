/*
 * fsutil: the small, exact file-system steps that durable storage is built
 * from.  Every function returns 0 on success and -1 with errno set.
 */
#ifndef VEO_FSUTIL_H
#define VEO_FSUTIL_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

/* write(2) until all len bytes are written, retrying on EINTR. */
int write_all(int fd, const void *buf, size_t len);

/* writev(2) until every byte of the iov array is written. */
int writev_all(int fd, struct iovec *iov, int iovcnt);

/* Opens dir read-only and fsyncs it, so that a rename or link into it is durable. */
int fsync_dir(const char *dir);

/* 0 when path is an existing directory; -1 with errno (ENOTDIR if it is not one). */
int require_dir(const char *path);

/* mkdir(2) that treats an existing directory as success. */
int mkdir_exist_ok(const char *path, mode_t mode);

/*
 * Reads the whole of fd (from its current offset) into a malloc'd buffer,
 * NUL-terminated for convenience; fails with EFBIG beyond max bytes.  The
 * caller owns *out and frees it.
 */
int read_fd_bounded(int fd, size_t max, char **out, size_t *outlen);

/*
 * As read_fd_bounded() for a path, opened with O_NOFOLLOW (ELOOP for a
 * symbolic link); anything but a regular file fails with EINVAL, at once.
 */
int read_file_bounded(const char *path, size_t max, char **out, size_t *outlen);

/*
 * Fills buf with a file name unique across processes and hosts sharing a
 * directory (time, pid, a counter and the host name), Maildir style:
 * "<sec>.<usec>.P<pid>Q<n>.<host>".  Contains only [A-Za-z0-9._-].
 */
void unique_name(char *buf, size_t len);

#endif
