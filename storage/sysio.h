/*
 * sysio.h - the table of system calls storage/ does its I/O through.
 *
 * Every open, close, pread, pwrite, write, fsync, fdatasync, ftruncate,
 * rename, unlink, mkdir and rmdir that storage/ makes on data_dir goes
 * through the global `sysio` table, and so do openat, unlinkat and
 * renameat (relative to a directory fd: the data dir's, opened once by
 * store_open, or a partition directory's); directory listing with
 * opendir/readdir, fstat/fstatat and mmap stay direct: they change nothing.
 *
 * Symlinks.  sysio_real's open and openat add O_NOFOLLOW (and O_CLOEXEC):
 * storage/ never opens, creates or truncates a file through a symbolic
 * link; such an open fails with ELOOP (rename, unlink, mkdir and rmdir
 * never follow a link in the last component anyway).  Partition
 * directories are checked (not a link) before they are used.  The entries have the
 * exact semantics of the system calls they stand for: -1 with errno set on
 * failure.  `sysio` points at `sysio_real` unless a test swaps it, so a test
 * can fail the Nth pwrite with ENOSPC, fail an fsync, or keep a log of what
 * was written to simulate a crash.
 *
 * Thread-safety: the pointer is read without a lock on every call.  Tests
 * must swap it only while no store is open (or accept that a concurrently
 * running call may still use the old table); the functions in a test table
 * must themselves be thread-safe.
 *
 * On top of the table, a few helpers return 0 or a negative errno and log
 * failures with the call, the path and strerror (docs/CONVENTIONS.md rules 4 and 6).
 */
#ifndef TOPICFS_SYSIO_H
#define TOPICFS_SYSIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct sysio {
	int (*open)(const char *path, int flags, mode_t mode);
	int (*close)(int fd);
	ssize_t (*pread)(int fd, void *buf, size_t len, off_t off);
	ssize_t (*pwrite)(int fd, const void *buf, size_t len, off_t off);
	ssize_t (*write)(int fd, const void *buf, size_t len);
	int (*fsync)(int fd);
	int (*fdatasync)(int fd);
	int (*ftruncate)(int fd, off_t len);
	int (*rename)(const char *from, const char *to);
	int (*unlink)(const char *path);
	int (*mkdir)(const char *path, mode_t mode);
	int (*rmdir)(const char *path);
	int (*openat)(int dirfd, const char *name, int flags, mode_t mode);
	int (*unlinkat)(int dirfd, const char *name, int flags);
	int (*renameat)(int fromfd, const char *from, int tofd, const char *to);
};

/* The real system calls. */
extern struct sysio sysio_real;
/* The table in use; &sysio_real by default. */
extern struct sysio *sysio;

/* Log "topicfs: storage: <call> <path>: <strerror(err)>" to stderr.
 * err is a positive or negative errno. */
void sio_log(const char *call, const char *path, int err);

/* Open; returns the fd or a negative errno (logged). */
int sio_open(const char *path, int flags, mode_t mode);
/* Open a file that may have gone (retention unlinked it): as sio_open
 * without O_CREAT, O_EXCL and O_TRUNC (it neither makes nor cuts a file),
 * and -ENOENT is returned unlogged and uncounted. */
int sio_open_existing(const char *path, int flags);
/* Close, logging a failure (the fd is gone either way). */
void sio_close(int fd, const char *path);

/* Write all len bytes at off (looping over short writes).  0 or -errno
 * (logged with path). */
int sio_pwrite_all(int fd, const void *buf, size_t len, off_t off,
                   const char *path);
/* Read up to len bytes at off, looping until len or end of file.  *got gets
 * the count.  0 or -errno (logged with path). */
int sio_pread_all(int fd, void *buf, size_t len, off_t off, size_t *got,
                  const char *path);

int sio_fsync(int fd, const char *path);
int sio_fdatasync(int fd, const char *path);
int sio_ftruncate(int fd, off_t len, const char *path);
int sio_unlink(const char *path);          /* ENOENT is not an error */
/* fsync a directory by path. */
int sio_fsync_dir(const char *dir);

/* Durable metadata (docs/CONVENTIONS.md rule 7): write data to "<path>.tmp", fsync it,
 * rename it over path, fsync the containing directory.  0 or -errno; on
 * failure the temp file is removed and path is unchanged. */
int sio_write_atomic(const char *path, const void *data, size_t len);

/* openat; the fd or a negative errno (logged with what, a path for the
 * message: the directory's path and name). */
int sio_openat(int dirfd, const char *name, int flags, mode_t mode,
               const char *what);

/* Read a whole small file (at most max bytes) into a malloc'd,
 * NUL-terminated buffer.  0 or -errno (ENOENT is returned unlogged). */
int sio_read_small(const char *path, size_t max, char **out, size_t *out_len);

#endif
