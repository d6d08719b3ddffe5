/*
 * hasher: the SHA-256 of files being downloaded, computed by one worker
 * thread that reads each file back (from the page cache) as it grows, so
 * that hashing overlaps the transfers instead of running inside libcurl's
 * write callback (on two cores: curl on one, SHA-256 on the other).
 *
 * The writer tells the hasher how long the file's finished prefix is
 * (hasher_ready); the worker hashes [0, ready) in order with pread, never
 * past ready, so bytes still being written, or a range fetched ahead by
 * another connection, are never read early.  hasher_result() waits until
 * the whole prefix is hashed.  The digest is therefore of the bytes on
 * disk, which are the ones renamed into place.  The worker also starts
 * the writeback of each chunk it hashed (sync_file_range), so that the
 * fsync before the rename, in the transfer loop, has little left to wait.
 *
 * Ownership: the hasher dup()s the descriptor it is given, so the caller
 * may close its own at any time; a hashed_file is freed by exactly one of
 * hasher_result() or hasher_drop().  All calls are from one thread (the
 * downloader's); only the worker runs beside it.  Without a worker (the
 * thread could not be created) hasher_result() does the reading itself:
 * slower, never wrong.
 */
#ifndef VEO_HASHER_H
#define VEO_HASHER_H

#include "digest.h"

struct hasher;
struct hashed_file;

/* Starts the worker.  NULL only when out of memory. */
struct hasher *hasher_start(void);
/* Stops and joins the worker; every hashed_file must be ended first. */
void hasher_stop(struct hasher *h);

/* Starts hashing the file open on fd from byte 0.  NULL: out of memory or fds. */
struct hashed_file *hasher_add(struct hasher *h, int fd);
/* Bytes [0, ready) of the file are final and may be hashed (never decreases). */
void hasher_ready(struct hashed_file *f, long long ready);
/*
 * Waits until [0, ready) is hashed and writes the digest; frees f.
 * 0, or -1 when the file could not be read back (errno set).
 */
int hasher_result(struct hashed_file *f, char hex[SHA256_HEX_LEN + 1]);
/*
 * The file is whole at `total` bytes: the worker hashes what is left,
 * fsyncs the file, and then calls wake(arg) from its own thread (e.g.
 * curl_multi_wakeup, which is safe there), so that the writer's loop
 * never waits for the disk.  Without a worker it is all done now.
 */
void hasher_seal(struct hashed_file *f, long long total, void (*wake)(void *), void *arg);
/*
 * After hasher_seal(), never blocking: 0 while the worker is not done;
 * 1 with the digest written, -1 with errno when a read or the fsync
 * failed; f is freed in both cases.
 */
int hasher_sealed(struct hashed_file *f, char hex[SHA256_HEX_LEN + 1]);
/* Stops hashing f (waits for a read or sync in progress) and frees it. */
void hasher_drop(struct hashed_file *f);

#endif
