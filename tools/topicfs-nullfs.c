/*
 * topicfs-nullfs.c - the FUSE transport alone: a file system that answers
 * every request at once, so topicfs-bench can measure what FUSE itself
 * costs on this machine, in the same run as topicfs (issue 15).
 *
 *   topicfs-nullfs [-f] --size BYTES MOUNTPOINT
 *   topicfs-nullfs [-f] --backing FILE MOUNTPOINT
 *
 * WHAT IT SERVES
 *
 * A root directory holding one regular file, `f` (mode 0666, st_size =
 * BYTES).  A write(2) is answered "done" without looking at the data
 * (fuse_reply_write of its size); a read at off gets min(size, BYTES - off)
 * bytes of 'x' lines ending in '\n' from one static buffer filled at start
 * (fuse_reply_buf, the call topicfs uses).  open accepts O_APPEND and
 * O_TRUNC, setattr (truncate) is accepted and ignored, flush, release and
 * fsync reply 0, statfs reports an empty file system.  Nothing else exists:
 * no create, mkdir, xattrs.  So `cat input >> f` and `cat f > /dev/null`
 * move their bytes through the kernel and /dev/fuse exactly as they would
 * to and from a topicfs partition, minus everything the daemon does with
 * them: one copy per byte where topicfs needs two (FUSE request plus the
 * segment's page cache), which is how topicfs-bench computes its two-copy
 * limit, 1 / (1/null + 1/plain file).
 *
 * COPY-THROUGH (--backing FILE)
 *
 * With --backing instead of --size, f is FILE, and the file system does the
 * two copies topicfs cannot avoid and nothing else: the two-copy limit
 * measured instead of computed.  FILE is opened at start with O_TRUNC (so f
 * starts empty; exit 1 with a message if it cannot be opened) and O_APPEND:
 * a write request's bytes are appended to FILE with write(2), whatever the
 * request's offset (the bench only appends), and only then is the request
 * answered, so that, as with topicfs, they are in FILE's page cache when
 * the writer's write(2) returns; a failed write(2) is answered with its
 * errno.  A read at off is a pread(2) of FILE into the loop thread's 1 MiB
 * buffer, answered with what it got (EIO if it failed).  st_size is FILE's
 * current size (fstat on every lookup and getattr), and a truncate (setattr
 * of the size, or open with O_TRUNC, which ATOMIC_O_TRUNC hands to us)
 * truncates FILE.  A request's bytes are appended in one write(2) unless it
 * comes back short, so concurrent writers could interleave there: one
 * writer at a time, as in the bench.
 *
 * SAME TRANSPORT AS THE DAEMON
 *
 * Everything that changes the cost per byte is copied from fs/fs.c and
 * daemon/main.c, and must follow them: the init settings of fsv_ll_init
 * (max_write and max_read 1 MiB, no writeback cache, no AUTO_INVAL_DATA,
 * no ASYNC_DIO, ATOMIC_O_TRUNC when offered, ms time_gran); the mount
 * option max_read=1048576; every open sets direct_io (and neither
 * keep_cache nor nonseekable), like a partition's; `f` reports the
 * st_blksize of a lines partition (1 MiB, FSV_IO_SIZE), since cat sizes its
 * reads and writes from it; attribute timeout 0 and entry timeout 1 s, as
 * for partitions; and the multi-threaded loop with the daemon's
 * fuse_loop_cfg (256 threads at most, 16 idle, no clone_fd).
 *
 * It always runs in the foreground (-f is accepted for symmetry with
 * topicfs) and unmounts on SIGTERM, SIGINT and SIGHUP
 * (fuse_set_signal_handlers) and when fusermount3 -u unmounts it.  Exit
 * status: 0 after a clean unmount, 1 on a mount or loop error or when the
 * backing file cannot be opened, 2 on usage.
 *
 * Thread-safety: the callbacks only read the immutable file size, buffer
 * and backing fd, and with --backing each loop thread preads into its own
 * buffer (a thread-specific key, freed when the thread exits), so any
 * number of loop threads may run them at once; what they do to FILE is
 * system calls on one fd, which the kernel serialises as for any file
 * (bar the interleaving of split appends above).
 */
#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NULL_INO_F      2
#define NULL_IO_SIZE    (1024 * 1024)   /* fs.c FSV_IO_SIZE, max_read, max_write */
#define NULL_MAX_THREADS 256            /* daemon/main.c FSV_MAX_THREADS */
#define NULL_IDLE_THREADS 16            /* daemon/main.c FSV_IDLE_THREADS */

static int64_t file_size;               /* set once before the loop */
static char data[NULL_IO_SIZE];         /* 'x' lines, filled once */
static int backing_fd = -1;             /* --backing FILE; -1 = none */
static pthread_key_t read_buf_key;      /* --backing: a loop thread's buffer */

/* f's size: --size, or the backing file's current size.  0 or an errno. */
static int null_size(int64_t *size)
{
	struct stat sb;

	if (backing_fd < 0) {
		*size = file_size;
		return 0;
	}
	if (fstat(backing_fd, &sb) != 0)
		return errno;
	*size = (int64_t)sb.st_size;
	return 0;
}

/* 0, or an errno (fstat of the backing file). */
static int null_stat(fuse_ino_t ino, struct stat *st)
{
	int64_t size = 0;
	int err;

	if (ino != FUSE_ROOT_ID && (err = null_size(&size)) != 0)
		return err;
	memset(st, 0, sizeof *st);
	st->st_ino = ino;
	st->st_uid = getuid();
	st->st_gid = getgid();
	st->st_blksize = 65536;                 /* fsv_stat's default */
	if (ino == FUSE_ROOT_ID) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
	} else {
		st->st_mode = S_IFREG | 0666;
		st->st_nlink = 1;
		st->st_size = size;
		st->st_blksize = NULL_IO_SIZE;  /* a lines partition's */
	}
	return 0;
}

static void null_init(void *userdata, struct fuse_conn_info *conn)
{
	conn->max_write = NULL_IO_SIZE;
	conn->max_read = NULL_IO_SIZE;
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
	conn->want &= ~FUSE_CAP_ASYNC_DIO;
	conn->time_gran = 1000000;
}

static void null_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e;
	int err;

	if (parent != FUSE_ROOT_ID || strcmp(name, "f")) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	memset(&e, 0, sizeof e);
	e.ino = NULL_INO_F;
	e.generation = 1;
	e.attr_timeout = 0;                     /* a partition's */
	e.entry_timeout = 1.0;
	if ((err = null_stat(NULL_INO_F, &e.attr)) != 0) {
		fuse_reply_err(req, err);
		return;
	}
	fuse_reply_entry(req, &e);
}

static void null_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st;
	int err;

	if ((err = null_stat(ino, &st)) != 0) {
		fuse_reply_err(req, err);
		return;
	}
	fuse_reply_attr(req, &st, ino == FUSE_ROOT_ID ? 1.0 : 0);
}

/* With --backing a truncate resizes the backing file; anything else
 * (modes, times), and a truncate without --backing, is ignored. */
static void null_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
                         struct fuse_file_info *fi)
{
	if (backing_fd >= 0 && ino != FUSE_ROOT_ID && (to_set & FUSE_SET_ATTR_SIZE) &&
	    ftruncate(backing_fd, attr->st_size) != 0) {
		fuse_reply_err(req, errno);
		return;
	}
	null_getattr(req, ino, fi);
}

static void null_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (ino == FUSE_ROOT_ID) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	/* with ATOMIC_O_TRUNC the kernel sends no setattr for open(O_TRUNC) */
	if (backing_fd >= 0 && (fi->flags & O_TRUNC) && ftruncate(backing_fd, 0) != 0) {
		fuse_reply_err(req, errno);
		return;
	}
	fi->direct_io = 1;                      /* as fsv_do_open for partitions */
	fuse_reply_open(req, fi);
}

/* The calling loop thread's read buffer, NULL_IO_SIZE bytes (made on its
 * first read, freed by the key's destructor when the thread exits: the
 * loop starts and ends threads as the load changes). */
static char *read_buf(void)
{
	char *b = pthread_getspecific(read_buf_key);

	if (!b) {
		b = malloc(NULL_IO_SIZE);
		if (b && pthread_setspecific(read_buf_key, b) != 0) {
			free(b);
			b = NULL;
		}
	}
	return b;
}

/* --backing: pread of the backing file at off, the bytes as they are (a
 * short count only at its end). */
static void backing_read(fuse_req_t req, size_t size, off_t off)
{
	char *b = read_buf();
	size_t got = 0;

	if (!b) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (size > NULL_IO_SIZE)
		size = NULL_IO_SIZE;
	while (got < size) {
		ssize_t r = pread(backing_fd, b + got, size - got, off + (off_t)got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			fuse_reply_err(req, EIO);
			return;
		}
		if (r == 0)
			break;                  /* the end of the file */
		got += (size_t)r;
	}
	fuse_reply_buf(req, b, got);
}

static void null_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                      struct fuse_file_info *fi)
{
	size_t n = 0;

	if (backing_fd >= 0) {
		backing_read(req, size, off);
		return;
	}
	if (off < file_size)
		n = (int64_t)size < file_size - off ? size : (size_t)(file_size - off);
	if (n > sizeof data)
		n = sizeof data;
	fuse_reply_buf(req, data, n);
}

/* --backing: the request's bytes appended to the backing file (O_APPEND:
 * at its end, whatever off says) before the reply, so they are in its page
 * cache when the writer's write(2) returns, as with topicfs. */
static void backing_write(fuse_req_t req, const char *buf, size_t size)
{
	size_t done = 0;

	while (done < size) {
		ssize_t w = write(backing_fd, buf + done, size - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			fuse_reply_err(req, errno);
			return;
		}
		done += (size_t)w;
	}
	fuse_reply_write(req, size);
}

static void null_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
                       off_t off, struct fuse_file_info *fi)
{
	if (backing_fd >= 0) {
		backing_write(req, buf, size);
		return;
	}
	fuse_reply_write(req, size);
}

static void null_ok(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fuse_reply_err(req, 0);
}

static void null_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
                       struct fuse_file_info *fi)
{
	fuse_reply_err(req, 0);
}

static void null_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                         struct fuse_file_info *fi)
{
	static const char *const names[] = { ".", "..", "f" };
	char buf[512];
	size_t len = 0;

	for (off_t i = off; i < 3; i++) {
		struct stat st = { .st_ino = i == 2 ? NULL_INO_F : FUSE_ROOT_ID,
		                   .st_mode = i == 2 ? S_IFREG : S_IFDIR };
		size_t need = fuse_add_direntry(req, buf + len, sizeof buf - len, names[i],
		                                &st, i + 1);
		if (len + need > size || need > sizeof buf - len)
			break;
		len += need;
	}
	fuse_reply_buf(req, buf, len);
}

static void null_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv = { .f_bsize = 4096, .f_frsize = 4096, .f_namemax = 249 };
	fuse_reply_statfs(req, &sv);
}

static const struct fuse_lowlevel_ops null_ops = {
	.init = null_init,
	.lookup = null_lookup,
	.getattr = null_getattr,
	.setattr = null_setattr,
	.open = null_open,
	.read = null_read,
	.write = null_write,
	.flush = null_ok,
	.release = null_ok,
	.fsync = null_fsync,
	.readdir = null_readdir,
	.statfs = null_statfs,
};

static void usage(FILE *f)
{
	fprintf(f, "usage: topicfs-nullfs [-f] --size BYTES MOUNTPOINT\n"
	        "       topicfs-nullfs [-f] --backing FILE MOUNTPOINT\n"
	        "A FUSE file system with one file, f, that answers at once: the transport's\n"
	        "own ceiling, for topicfs-bench.  Unmount with fusermount3 -u or SIGTERM.\n"
	        "  --size BYTES    f reads as BYTES of 'x' lines; writes are dropped\n"
	        "  --backing FILE  f is FILE (created, truncated at start): writes are\n"
	        "                  appended to it before the reply, reads pread it; the\n"
	        "                  two copies of topicfs alone (copy-through)\n");
}

int main(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fuse_session *se = NULL;
	struct fuse_loop_config *loop = NULL;
	const char *mnt = NULL, *backing = NULL;
	char *end;
	int status = 1, rc;
	bool handlers = false, mounted = false;

	file_size = -1;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-f"))
			continue;
		if (!strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		}
		if (!strcmp(argv[i], "--size") && i + 1 < argc) {
			errno = 0;
			file_size = strtoll(argv[++i], &end, 10);
			if (errno || *end || file_size < 0) {
				usage(stderr);
				return 2;
			}
		} else if (!strcmp(argv[i], "--backing") && i + 1 < argc && !backing) {
			backing = argv[++i];
		} else if (argv[i][0] != '-' && !mnt) {
			mnt = argv[i];
		} else {
			usage(stderr);
			return 2;
		}
	}
	/* exactly one of --size and --backing */
	if (!mnt || (file_size < 0) == !backing) {
		usage(stderr);
		return 2;
	}
	for (size_t i = 0; i < sizeof data; i++)
		data[i] = i % 100 == 99 ? '\n' : 'x';
	if (backing) {
		int err = pthread_key_create(&read_buf_key, free);
		if (err) {
			fprintf(stderr, "topicfs-nullfs: pthread_key_create: %s\n", strerror(err));
			return 1;
		}
		backing_fd = open(backing, O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC,
		                  0644);
		if (backing_fd < 0) {
			fprintf(stderr, "topicfs-nullfs: cannot open backing file %s: %s\n",
			        backing, strerror(errno));
			return 1;
		}
	}

	if (fuse_opt_add_arg(&args, argv[0]) || fuse_opt_add_arg(&args, "-o") ||
	    fuse_opt_add_arg(&args, "fsname=topicfs-nullfs,subtype=nullfs,max_read=1048576"))
		goto out;
	se = fuse_session_new(&args, &null_ops, sizeof null_ops, NULL);
	if (!se)
		goto out;
	if (fuse_set_signal_handlers(se) != 0)
		goto out;
	handlers = true;
	if (fuse_session_mount(se, mnt) != 0) {
		fprintf(stderr, "topicfs-nullfs: cannot mount on %s\n", mnt);
		goto out;
	}
	mounted = true;
	loop = fuse_loop_cfg_create();
	if (!loop)
		goto out;
	fuse_loop_cfg_set_max_threads(loop, NULL_MAX_THREADS);
	fuse_loop_cfg_set_idle_threads(loop, NULL_IDLE_THREADS);
	fuse_loop_cfg_set_clone_fd(loop, 0);
	rc = fuse_session_loop_mt(se, loop);
	status = rc < 0 ? 1 : 0;
out:
	if (mounted)
		fuse_session_unmount(se);
	if (handlers)
		fuse_remove_signal_handlers(se);
	if (se)
		fuse_session_destroy(se);
	if (loop)
		fuse_loop_cfg_destroy(loop);
	fuse_opt_free_args(&args);
	if (backing_fd >= 0)
		close(backing_fd);
	return status;
}
