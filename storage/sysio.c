/*
 * sysio.c - storage's system-call table and the helpers built on it.
 *
 * Design.  storage/ never calls open/pread/pwrite/fsync/... directly: it
 * goes through `sysio`, a table of function pointers that defaults to the
 * real calls (sysio_real).  Tests swap the table to fail the Nth call or to
 * record writes and simulate a crash (docs/CONVENTIONS.md rule 9, docs/TESTING.md R2 and R7).
 *
 * The helpers below turn the -1/errno convention into 0/-errno, loop over
 * short reads and writes and EINTR, and log every failure where it happens
 * ("topicfs: storage: <call> <path>: <strerror>").  Callers just return the
 * code upward.
 *
 * sio_write_atomic() is the one way durable metadata is written: temp file,
 * fsync, rename, fsync of the directory, so a crash leaves either the old
 * or the new content, never a mix (Kafka's checkpoint rule, KAFKA-1539).
 */
#include "sysio.h"
#include "stats.h"
#include "storage.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Never through a symlink (sysio.h). */
static int real_open(const char *path, int flags, mode_t mode)
{
	return open(path, flags | O_CLOEXEC | O_NOFOLLOW, mode);
}

static int real_openat(int dirfd, const char *name, int flags, mode_t mode)
{
	return openat(dirfd, name, flags | O_CLOEXEC | O_NOFOLLOW, mode);
}

static int real_renameat(int fromfd, const char *from, int tofd, const char *to)
{
	return renameat(fromfd, from, tofd, to);
}

struct sysio sysio_real = {
	.open = real_open,
	.close = close,
	.pread = pread,
	.pwrite = pwrite,
	.write = write,
	.fsync = fsync,
	.fdatasync = fdatasync,
	.ftruncate = ftruncate,
	.rename = rename,
	.unlink = unlink,
	.mkdir = mkdir,
	.rmdir = rmdir,
	.openat = real_openat,
	.unlinkat = unlinkat,
	.renameat = real_renameat,
};

struct sysio *sysio = &sysio_real;

void sio_log(const char *call, const char *path, int err)
{
	if (err < 0)
		err = -err;
	tfs_stat_add(TFS_STAT_ERRORS, 1);
	tfs_log(TFS_LOG_ERROR, "storage: %s %s: %s", call, path ? path : "",
	        strerror(err));
}

static int open_retry(const char *path, int flags, mode_t mode, bool quiet_enoent)
{
	int fd;

	do
		fd = sysio->open(path, flags, mode);
	while (fd < 0 && errno == EINTR);
	if (fd < 0) {
		int err = errno;
		if (err != ENOENT || !quiet_enoent)
			sio_log("open", path, err);
		return -err;
	}
	return fd;
}

int sio_open(const char *path, int flags, mode_t mode)
{
	return open_retry(path, flags, mode, false);
}

int sio_open_existing(const char *path, int flags)
{
	return open_retry(path, flags & ~(O_CREAT | O_EXCL | O_TRUNC), 0, true);
}

int sio_openat(int dirfd, const char *name, int flags, mode_t mode,
               const char *what)
{
	int fd;

	do
		fd = sysio->openat(dirfd, name, flags, mode);
	while (fd < 0 && errno == EINTR);
	if (fd < 0) {
		int err = errno;
		if (err == ELOOP || (err == ENOTDIR && (flags & O_DIRECTORY)))
			tfs_log(TFS_LOG_ERROR, "storage: %s: is a symbolic link or not "
			        "a directory: refused (topicfs never follows links in "
			        "its data dir)", what ? what : name);
		sio_log("openat", what ? what : name, err);
		return -err;
	}
	return fd;
}

void sio_close(int fd, const char *path)
{
	if (fd < 0)
		return;
	if (sysio->close(fd) < 0 && errno != EINTR)
		sio_log("close", path, errno);
}

int sio_pwrite_all(int fd, const void *buf, size_t len, off_t off,
                   const char *path)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = sysio->pwrite(fd, p, len, off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int err = errno;
			sio_log("pwrite", path, err);
			return -err;
		}
		if (n == 0) {
			sio_log("pwrite", path, EIO);
			return -EIO;
		}
		p += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

int sio_pread_all(int fd, void *buf, size_t len, off_t off, size_t *got,
                  const char *path)
{
	char *p = buf;
	size_t done = 0;

	while (done < len) {
		ssize_t n = sysio->pread(fd, p + done, len - done, off + (off_t)done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int err = errno;
			sio_log("pread", path, err);
			return -err;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	*got = done;
	return 0;
}

int sio_fsync(int fd, const char *path)
{
	if (sysio->fsync(fd) < 0) {
		int err = errno;
		sio_log("fsync", path, err);
		return -err;
	}
	return 0;
}

int sio_fdatasync(int fd, const char *path)
{
	if (sysio->fdatasync(fd) < 0) {
		int err = errno;
		sio_log("fdatasync", path, err);
		return -err;
	}
	return 0;
}

int sio_ftruncate(int fd, off_t len, const char *path)
{
	int rc;

	do
		rc = sysio->ftruncate(fd, len);
	while (rc < 0 && errno == EINTR);
	if (rc < 0) {
		int err = errno;
		sio_log("ftruncate", path, err);
		return -err;
	}
	return 0;
}

int sio_unlink(const char *path)
{
	if (sysio->unlink(path) < 0 && errno != ENOENT) {
		int err = errno;
		sio_log("unlink", path, err);
		return -err;
	}
	return 0;
}

int sio_fsync_dir(const char *dir)
{
	int fd = sio_open(dir, O_RDONLY | O_DIRECTORY, 0);
	int rc;

	if (fd < 0)
		return fd;
	rc = sio_fsync(fd, dir);
	sio_close(fd, dir);
	return rc;
}

/* The temp name for path: "<path>.tmp", or, when that name would pass
 * NAME_MAX (a 249-character topic's "<name>.topic.tmp" does), the first
 * 200 bytes of the name, '~', the CRC-32C of the whole name in hex and
 * ".tmp".  Either way it ends in ".tmp", so startup removes a leftover. */
static char *sio_tmp_path(const char *path)
{
	const char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	size_t plen = strlen(path), blen = strlen(base), dlen = plen - blen;
	char *tmp;

	if (blen + 4 <= NAME_MAX) {
		tmp = malloc(plen + 5);
		if (tmp) {
			memcpy(tmp, path, plen);
			memcpy(tmp + plen, ".tmp", 5);
		}
		return tmp;
	}
	tmp = malloc(dlen + 200 + 14);
	if (tmp)
		snprintf(tmp, dlen + 200 + 14, "%.*s%.200s~%08x.tmp", (int)dlen, path,
		         base, (unsigned)crc32c(0, base, blen));
	return tmp;
}

int sio_write_atomic(const char *path, const void *data, size_t len)
{
	char *tmp = sio_tmp_path(path);
	char *dir = NULL;
	int fd = -1, rc;

	if (!tmp)
		return -ENOMEM;

	/* created O_EXCL: a leftover temp (or a symlink planted under its
	 * name) is removed first, never written through */
	do
		fd = sysio->open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0644);
	while (fd < 0 && errno == EINTR);
	if (fd < 0 && errno == EEXIST) {
		if (sysio->unlink(tmp) < 0 && errno != ENOENT) {
			rc = -errno;
			sio_log("unlink", tmp, rc);
			goto free_tmp;
		}
		fd = sio_open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0644);
	} else if (fd < 0) {
		fd = -errno;
		sio_log("open", tmp, fd);
	}
	if (fd < 0) {
		rc = fd;
		goto free_tmp;
	}
	rc = sio_pwrite_all(fd, data, len, 0, tmp);
	if (rc < 0)
		goto remove_tmp;
	rc = sio_fsync(fd, tmp);
	if (rc < 0)
		goto remove_tmp;
	sio_close(fd, tmp);
	fd = -1;
	if (sysio->rename(tmp, path) < 0) {
		rc = -errno;
		sio_log("rename", tmp, rc);
		goto remove_tmp;
	}
	dir = strdup(path);
	if (!dir) {
		rc = -ENOMEM;
		goto free_tmp;
	}
	{
		char *slash = strrchr(dir, '/');
		if (slash == dir)
			slash[1] = '\0';
		else if (slash)
			*slash = '\0';
		else
			strcpy(dir, ".");
	}
	rc = sio_fsync_dir(dir);
	free(dir);
	goto free_tmp;

remove_tmp:
	if (fd >= 0)
		sio_close(fd, tmp);
	sysio->unlink(tmp);
free_tmp:
	free(tmp);
	return rc;
}

int sio_read_small(const char *path, size_t max, char **out, size_t *out_len)
{
	int fd = sio_open_existing(path, O_RDONLY);
	char *buf;
	size_t got;
	int rc;

	if (fd < 0)
		return fd;
	{
		struct stat sb;
		if (fstat(fd, &sb) < 0) {
			rc = -errno;
			sio_log("fstat", path, rc);
			goto close_fd;
		}
		if ((uint64_t)sb.st_size > max) {
			rc = -EFBIG;
			sio_log("read", path, rc);
			goto close_fd;
		}
		max = (size_t)sb.st_size;
	}
	buf = malloc(max + 1);
	if (!buf) {
		rc = -ENOMEM;
		goto close_fd;
	}
	rc = sio_pread_all(fd, buf, max, 0, &got, path);
	if (rc < 0) {
		free(buf);
		goto close_fd;
	}
	buf[got] = '\0';
	*out = buf;
	*out_len = got;
close_fd:
	sio_close(fd, path);
	return rc;
}
