/*
 * topicfs-bench.c - the measuring stick: every user-visible path of topicfs
 * beside its baseline, in the same run, on the same machine.
 *
 *   topicfs-bench [--mb N] [--repeat N] [--codecs none,lz4,zstd] ...
 *   topicfs-bench --help
 *
 * WHAT IT DOES
 *
 * It makes a temp root (under --dir, default $TMPDIR or /tmp) holding an
 * input file, a plain/ directory for the baselines, and per daemon a data
 * dir and a mount point, starts the daemon it finds next to itself
 * (../daemon/topicfs in the build tree; ./topicfs or ../sbin/topicfs when
 * installed; then PATH; or --daemon) with `topicfs -f -c INI`, and runs,
 * per codec:
 *
 *   append      `cat input >> mnt/T/0` vs `cat input >> plain/file` (cat
 *               picks its write size from st_blksize), MB/s of input bytes;
 *               bytes on disk (.log files) per byte written.  Codec none
 *               also writes the same input into null FUSE and into
 *               copy-through FUSE (below), and its baseline is the
 *               two-copy limit instead of the file
 *   small       one write(2) per line, 1 and 4 writer threads, each with its
 *               own O_APPEND fd, records/s, vs the same on a plain file
 *   read        `cat mnt/T/0 > /dev/null` right after a daemon restart (warm
 *               page cache for the segment files, nothing cached in the
 *               daemon or for the FUSE file), then a second time, vs `cat
 *               plain/file > /dev/null`; for codec none the first read's
 *               baseline is the two-copy limit of `cat null/f` and the
 *               plain file, the input is also read from copy-through FUSE
 *               (what its append rounds left in it), and from a
 *               `writes` partition (the framing the daemon may serve
 *               through the kernel page cache, see fs/fs.c)
 *   view        codec none: a topic with segments of input/8 bytes (at
 *               least 1 MiB) filled with the input; `cat mnt/T/0@0..B` where
 *               B is the base offset of the active segment (`..to` is
 *               exclusive, so the view is exactly the sealed segments), read
 *               once into plain/view.txt and then timed again and again vs
 *               `cat plain/view.txt`: immutable ranges, whose repeated reads
 *               may come from the page cache
 *   fetch       drain the partition over loopback with the project's fetch
 *               loop (kc_consume of net/kclient.c: Fetch v11, 1 MiB per
 *               fetch, every batch CRC-checked and decoded), vs a plain
 *               sendfile(2) of the same .log bytes to a loopback socket read
 *               by recv(2) into a 1 MiB buffer; and kcat -C ... -e end to end,
 *               over the plaintext listener and over an SSL listener (a
 *               self-signed certificate made with openssl(1) in the temp
 *               root; the row's note says whether the daemon sent file
 *               slices with kernel TLS or encrypted them in user space,
 *               .status tls_mode); the TLS row is skipped without openssl
 *
 * THE TWO-COPY LIMIT.  One writer's write(2) through FUSE is copied once by
 * the kernel into the request and once by the daemon into the segment's page
 * cache; a read likewise the other way.  So a single cat cannot beat
 * 1 / (1/null + 1/plain), where null is the MB/s of the same cat into
 * topicfs-nullfs (tools/topicfs-nullfs.c: a FUSE file system with the
 * daemon's transport settings that answers every request at once, mounted
 * once for the run at root/nullmnt, its file f as large as the input) and
 * plain the MB/s into or out of a plain file on the data dir's fs.  The
 * limit is computed per round from that round's two figures; its row shows
 * their median, and the topicfs row's ratio is topicfs / limit (its note
 * gives topicfs/null, topicfs/copy-through and topicfs/plain).
 *
 * COPY-THROUGH FUSE.  The same limit measured: the same cat into and out of
 * a second topicfs-nullfs, started with --backing FILE, that does the two
 * copies and nothing else (a write request is appended to FILE with
 * write(2) before the reply, a read is a pread(2) of FILE).  FILE is in the
 * plain/ directory of the variant (below), so on the file system its plain
 * file and topicfs use; the instance, at root/ctmnt, lives from the
 * variant's append rows to its read rows.  f is truncated before each
 * append round, which must leave it input bytes long, and the read rounds
 * read what the last one wrote.  Its rows are beside the limit, not the
 * baseline: the limit stays topicfs' baseline (issue 15).  Each codec-none
 * append and read round times plain, null, copy-through and topicfs
 * (reversed on odd rounds).
 *
 * TWO DATA FILE SYSTEMS.  The codec-none append, read and view rows run on
 * the --dir fs (variant = its type, e.g. ext4) and again with the data dir
 * and plain files on tmpfs (variant tmpfs): a tmpfs the bench mounts at
 * root/tmpfs when it is root (unmounted at the end and by the signal
 * cleanup), else a directory in /dev/shm (the notes say which); only once
 * when --dir is on tmpfs.  The tmpfs daemon also hosts one topic per
 * compressed codec for
 *
 *   append vs CLI  `cat input >> T/0` into a topic with compression = lz4
 *               (zstd) vs `lz4 -1 -c input > /dev/null` (`zstd -1 -c -T1`):
 *               the same bytes through the command-line compressor, which
 *               uses one thread (lz4 1.9 always, zstd by default; -T1 is
 *               passed where the CLI knows it); missing in PATH = a skipped
 *               row.  The compressed append rows on the --dir fs keep the
 *               plain-file baseline (they make the data the read and fetch
 *               rows use).
 *
 * then once (codec none): latency (one write(2) per record at --rate for
 * --latency-s seconds; time from just before write(2) to the record being
 * read from a `0@latest` view, and to it being delivered by a long-polling
 * Fetch consumer (kc_consume follow), vs the same writer into a pipe), and
 * restart (a log of --restart-mb, kill -9, time until the mount and port are
 * back; the daemon's peak RSS through recovery and a full read of that log;
 * a clean restart for comparison).  The daemon's peak RSS (VmHWM) is
 * sampled before every stop.
 *
 * Each workload runs --repeat times with its baseline in the same round
 * (baseline and topicfs alternate which goes first); the table shows the
 * median, min and max of the repeats, the baseline's median and the ratio
 * of medians, written so that 1.0 = as good as the baseline and below 1 =
 * slower (throughput: topicfs / baseline; latency and times: baseline /
 * topicfs).  Nothing fsyncs on either side: both are page-cache figures.
 * MB = 10^6 bytes.  Latency ratios are against a pipe, a floor rather than
 * a like-for-like baseline; the goal there is absolute (p99 < 2 ms).
 *
 * Output: the table on stdout, and the same rows as CSV (--csv FILE) and
 * JSON (--json FILE; "-" = stdout).  A workload that fails is reported as
 * FAILED with its reason and the exit status is 1; kcat, lz4 or zstd
 * missing is a skipped row, not a failure (topicfs-nullfs missing is: the
 * null and copy-through rows fail).  Nothing asserts a speed.  The temp
 * root is removed at the end (--keep keeps it); Ctrl-C kills the daemon
 * and both topicfs-nullfs, unmounts them and the tmpfs, and removes it too.
 *
 * Thread-safety: single-threaded except the worker threads each workload
 * starts and joins itself.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kclient_internal.h"
#include "storage.h"

#ifndef TOPICFS_VERSION
#define TOPICFS_VERSION "0.1.0"
#endif

#define MAX_REPEAT      50
#define MAX_ROWS        128
#define COPY_CHUNK      (1 << 20)
#define LAT_LINE        100         /* bytes per latency record, with '\n' */
#define WRITES_TOPIC    "wframe"    /* a topic with framing = writes */
#define VIEW_TOPIC      "bview"     /* small segments: the bounded-view read */
#ifndef TMPFS_MAGIC
#define TMPFS_MAGIC     0x01021994
#endif

enum workload {
	W_APPEND = 1 << 0,
	W_SMALL = 1 << 1,
	W_READ = 1 << 2,
	W_FETCH = 1 << 3,
	W_KCAT = 1 << 4,
	W_LATENCY = 1 << 5,
	W_RESTART = 1 << 6,
	W_VIEW = 1 << 7,
	W_ALL = (1 << 8) - 1,
};

static const struct {
	const char *name;
	unsigned bit;
} workload_names[] = {
	{ "append", W_APPEND }, { "small", W_SMALL }, { "read", W_READ },
	{ "fetch", W_FETCH }, { "kcat", W_KCAT }, { "latency", W_LATENCY },
	{ "restart", W_RESTART }, { "view", W_VIEW },
};

static const char *const all_codecs[] = { "none", "lz4", "zstd" };

struct bench_opts {
	char dir[PATH_MAX];             /* parent of the temp root */
	char daemon[PATH_MAX];          /* topicfs binary */
	char nullfs[PATH_MAX];          /* topicfs-nullfs; "" = not found */
	char kcat[PATH_MAX];            /* "" = not found */
	int64_t mb;                     /* append/read/fetch input, MiB */
	int64_t small_records;          /* records per small-writes case */
	double latency_s;
	int rate;                       /* latency records/s */
	int64_t restart_mb;             /* 0 = skip the restart measurement */
	int repeat;
	bool codec_on[3];
	unsigned only;                  /* enum workload bits */
	const char *csv, *json;
	bool keep, quiet;
};

static struct bench_opts opt;
static char root[PATH_MAX];         /* the temp root */
static char tls_cert[PATH_MAX], tls_key[PATH_MAX]; /* "" = no TLS listener */
static char input_path[PATH_MAX];
static int64_t input_bytes, input_lines;
static int failures;

/* ============================== small helpers ============================ */

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t t_start_ns;          /* when main() started: progress stamps */

static double secs_since(int64_t t0)
{
	return (double)(now_ns() - t0) / 1e9;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;
	if (opt.quiet)
		return;
	va_start(ap, fmt);
	fprintf(stderr, "bench: [%6.1fs] ", (double)(now_ns() - t_start_ns) / 1e9);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static void complain(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void complain(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "bench: error: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static bool find_in_path(const char *name, char *out, size_t cap);
static void trim_nl(char *s);

static void pjoin(char *out, size_t cap, const char *a, const char *b)
{
	if ((size_t)snprintf(out, cap, "%s/%s", a, b) >= cap) {
		complain("path too long: %s/%s", a, b);
		exit(2);
	}
}

static int rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb; (void)flag; (void)ftw;
	remove(path);
	return 0;
}

static void rm_rf(const char *path)
{
	/* FTW_MOUNT: never into a mount left behind (a live topicfs) */
	nftw(path, rm_cb, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

/* Write back dirty pages of the file system under root (untimed), so
 * each timed pair starts from the same writeback state. */
static void settle(void)
{
	int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		syncfs(fd);
		close(fd);
	}
}

static int64_t file_size(const char *path)
{
	struct stat sb;
	return stat(path, &sb) == 0 ? (int64_t)sb.st_size : -1;
}

/* Sum of the .log sizes in dir; with names, also their sorted paths. */
static int64_t log_bytes(const char *dir, char ***names, size_t *count)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int64_t total = 0;
	char **v = NULL;
	size_t n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);
		char p[PATH_MAX];
		if (l < 5 || strcmp(e->d_name + l - 4, ".log"))
			continue;
		pjoin(p, sizeof p, dir, e->d_name);
		total += file_size(p);
		if (names) {
			v = realloc(v, (n + 1) * sizeof *v);
			v[n++] = strdup(p);
		}
	}
	closedir(d);
	if (names) {
		/* 20-digit names: lexical order is offset order */
		for (size_t i = 1; i < n; i++)
			for (size_t j = i; j > 0 && strcmp(v[j - 1], v[j]) > 0; j--) {
				char *t = v[j];
				v[j] = v[j - 1];
				v[j - 1] = t;
			}
		*names = v;
		*count = n;
	}
	return total;
}

static void free_names(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* Run argv (PATH searched) with stdin from in_fd and stdout to out_fd (-1:
 * /dev/null), stderr to the root's bench.log.  Returns the exit status (0
 * ok), -1 when it could not run; *secs gets the wall time. */
static int run_prog(char *const argv[], int in_fd, int out_fd, double *secs)
{
	char logp[PATH_MAX];
	int64_t t0 = now_ns();
	int st;
	pid_t pid;

	pjoin(logp, sizeof logp, root, "bench.log");
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int nul = open("/dev/null", O_RDWR);
		int lg = open(logp, O_WRONLY | O_CREAT | O_APPEND, 0644);
		dup2(in_fd >= 0 ? in_fd : nul, 0);
		dup2(out_fd >= 0 ? out_fd : nul, 1);
		dup2(lg >= 0 ? lg : nul, 2);
		execvp(argv[0], argv);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	if (secs)
		*secs = secs_since(t0);
	if (!WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

static bool mount_listed(const char *mnt)
{
	FILE *f = fopen("/proc/mounts", "r");
	char line[4096];
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof line, f)) {
		char *sp = strchr(line, ' ');
		if (!sp)
			continue;
		char *mp = sp + 1, *end = strchr(mp, ' ');
		if (end && (size_t)(end - mp) == strlen(mnt) && !strncmp(mp, mnt, (size_t)(end - mp)))
			found = true;
	}
	fclose(f);
	return found;
}

static void unmount(const char *mnt)
{
	char *u[] = { (char *)"fusermount3", (char *)"-u", (char *)mnt, NULL };
	char *uz[] = { (char *)"fusermount3", (char *)"-uz", (char *)mnt, NULL };
	if (mount_listed(mnt))
		run_prog(u, -1, -1, NULL);
	if (mount_listed(mnt))
		run_prog(uz, -1, -1, NULL);
}

static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t al = sizeof a;
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &al) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

static bool port_open(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

/* ============================== the daemon =============================== */

struct daemon {
	char dir[PATH_MAX];             /* its own directory under root */
	char data[PATH_MAX], mnt[PATH_MAX], ini[PATH_MAX], log[PATH_MAX];
	const char *codec;
	char extra_ini[512];            /* appended to the INI: [topic.X] sections */
	int port;
	int tls_port;                   /* the SSL listener, when tls_cert */
	pid_t pid;                      /* 0 = not running */
	int64_t hwm_kb;                 /* peak VmHWM over its lifetimes */
};

static struct daemon *live_daemon;   /* for the signal handler */
static int64_t peak_rss_kb;          /* over every daemon of the run */

static int64_t proc_hwm_kb(pid_t pid)
{
	char p[64], line[256];
	int64_t kb = -1;
	FILE *f;

	snprintf(p, sizeof p, "/proc/%d/status", (int)pid);
	f = fopen(p, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (!strncmp(line, "VmHWM:", 6))
			kb = strtoll(line + 6, NULL, 10);
	fclose(f);
	return kb;
}

static void daemon_sample(struct daemon *d)
{
	int64_t kb = d->pid > 0 ? proc_hwm_kb(d->pid) : -1;
	if (kb > d->hwm_kb)
		d->hwm_kb = kb;
	if (kb > peak_rss_kb)
		peak_rss_kb = kb;
}

static void daemon_init(struct daemon *d, const char *name, const char *codec)
{
	memset(d, 0, sizeof *d);
	pjoin(d->dir, sizeof d->dir, root, name);
	pjoin(d->data, sizeof d->data, d->dir, "data");
	pjoin(d->mnt, sizeof d->mnt, d->dir, "mnt");
	pjoin(d->ini, sizeof d->ini, d->dir, "topicfs.ini");
	pjoin(d->log, sizeof d->log, d->dir, "daemon.log");
	mkdir(d->dir, 0755);
	mkdir(d->data, 0755);
	mkdir(d->mnt, 0755);
	d->codec = codec;
	d->port = free_port();
	d->tls_port = free_port();
	d->hwm_kb = -1;
}

static void daemon_log_tail(const struct daemon *d)
{
	char buf[2048];
	int fd = open(d->log, O_RDONLY);
	off_t end;
	ssize_t n;

	if (fd < 0)
		return;
	end = lseek(fd, 0, SEEK_END);
	lseek(fd, end > (off_t)sizeof buf - 1 ? end - (off_t)sizeof buf + 1 : 0, SEEK_SET);
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n > 0) {
		buf[n] = 0;
		fprintf(stderr, "bench: daemon log (%s):\n%s\n", d->log, buf);
	}
}

/* Start and wait until the mount and the port answer.  *secs (may be NULL)
 * gets the time from fork to ready. */
static int daemon_start(struct daemon *d, double *secs)
{
	FILE *f = fopen(d->ini, "w");
	int64_t t0, limit_ns;

	if (!f) {
		complain("cannot write %s: %s", d->ini, strerror(errno));
		return -1;
	}
	fprintf(f, "[storage]\ndata_dir = %s\ncompression = %s\n\n"
	        "[fs]\nmountpoint = %s\nallow_delete = true\n\n"
	        "[net]\nlisten = 127.0.0.1:%d\n\n"
	        "[topic.%s]\nframing = writes\n", d->data, d->codec, d->mnt, d->port,
	        WRITES_TOPIC);
	fputs(d->extra_ini, f);
	if (tls_cert[0])
		fprintf(f, "\n[net]\nlisteners = PLAINTEXT://127.0.0.1:%d, "
		        "SSL://127.0.0.1:%d\n\n[tls]\ncert_file = %s\nkey_file = %s\n",
		        d->port, d->tls_port, tls_cert, tls_key);
	fclose(f);
	t0 = now_ns();
	d->pid = fork();
	if (d->pid < 0) {
		d->pid = 0;
		return -1;
	}
	if (d->pid == 0) {
		int lg = open(d->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		int nul = open("/dev/null", O_RDONLY);
		dup2(nul, 0);
		dup2(lg, 1);
		dup2(lg, 2);
		execl(opt.daemon, opt.daemon, "-f", "-c", d->ini, (char *)NULL);
		_exit(127);
	}
	live_daemon = d;
	/* recovery of a big log takes a while: 60 s + 30 s per GiB */
	limit_ns = (60 + 30 * (opt.restart_mb > opt.mb ? opt.restart_mb : opt.mb) / 1024) *
	           1000000000LL;
	while (now_ns() - t0 < limit_ns) {
		int st;
		if (waitpid(d->pid, &st, WNOHANG) == d->pid) {
			complain("topicfs exited during startup (status %d)", st);
			d->pid = 0;
			daemon_log_tail(d);
			return -1;
		}
		if (mount_listed(d->mnt) && port_open(d->port)) {
			if (secs)
				*secs = secs_since(t0);
			return 0;
		}
		usleep(2000);
	}
	complain("topicfs not ready after %" PRId64 " s", limit_ns / 1000000000);
	daemon_log_tail(d);
	return -1;
}

static int daemon_wait(struct daemon *d, int timeout_s)
{
	int64_t t0 = now_ns();
	int st;

	while (now_ns() - t0 < (int64_t)timeout_s * 1000000000) {
		pid_t r = waitpid(d->pid, &st, WNOHANG);
		if (r == d->pid || (r < 0 && errno == ECHILD)) {
			d->pid = 0;
			return 0;
		}
		usleep(5000);
	}
	return -1;
}

/* Clean stop (SIGTERM: the daemon flushes, unmounts and exits). */
static int daemon_stop(struct daemon *d)
{
	int rc = 0;

	if (d->pid > 0) {
		daemon_sample(d);
		kill(d->pid, SIGTERM);
		if (daemon_wait(d, 300) < 0) {
			complain("topicfs did not exit after SIGTERM; killing it");
			kill(d->pid, SIGKILL);
			daemon_wait(d, 30);
			rc = -1;
		}
	}
	unmount(d->mnt);
	if (live_daemon == d)
		live_daemon = NULL;
	return rc;
}

static void daemon_kill9(struct daemon *d)
{
	if (d->pid > 0) {
		daemon_sample(d);
		kill(d->pid, SIGKILL);
		daemon_wait(d, 30);
	}
	unmount(d->mnt);
	if (live_daemon == d)
		live_daemon = NULL;
}

static int daemon_restart(struct daemon *d)
{
	if (daemon_stop(d) < 0)
		return -1;
	return daemon_start(d, NULL);
}

/* ============================== transport baseline ====================== */

/* A topicfs-nullfs (tools/topicfs-nullfs.c): one file, f, with the
 * daemon's FUSE settings.  Two of them:
 *
 *   nullfs  writes answered at once, reads return input_bytes of 'x'
 *           lines; one for the whole run, at root/nullmnt
 *   ctfs    copy-through (--backing): f is a file in the plain dir of the
 *           codec-none variant being measured, so on that variant's fs;
 *           one per variant, from its append rows to its read rows, at
 *           root/ctmnt
 */
struct fusefs {
	char mnt[PATH_MAX], f[PATH_MAX];
	char backing[PATH_MAX];         /* --backing FILE; "" = a null one */
	pid_t pid;                      /* 0 = not running */
	char why[160];                  /* why not, for the rows */
};

static struct fusefs nullfs, ctfs;

/* The last line of a log (its error message), "" when there is none. */
static void log_last_line(const char *path, char *out, size_t cap)
{
	char buf[512];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	off_t end;
	ssize_t n;

	out[0] = 0;
	if (fd < 0)
		return;
	end = lseek(fd, 0, SEEK_END);
	lseek(fd, end > (off_t)sizeof buf - 1 ? end - (off_t)sizeof buf + 1 : 0, SEEK_SET);
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = 0;
	trim_nl(buf);
	snprintf(out, cap, "%s", strrchr(buf, '\n') ? strrchr(buf, '\n') + 1 : buf);
}

/* Mount n at root/mnt_name (log root/log_name): with backing (a path), a
 * copy-through instance whose f starts empty, else a null one whose f is
 * input_bytes long.  -1 with n->why set when it does not come up. */
static int fusefs_start(struct fusefs *n, const char *mnt_name, const char *log_name,
                        const char *backing)
{
	char logp[PATH_MAX], size[32], last[128];
	int64_t t0 = now_ns(), want = backing ? 0 : input_bytes;
	const char *what = backing ? "topicfs-nullfs --backing" : "topicfs-nullfs";

	n->why[0] = 0;
	snprintf(n->backing, sizeof n->backing, "%s", backing ? backing : "");
	if (!opt.nullfs[0]) {
		snprintf(n->why, sizeof n->why, "topicfs-nullfs not found (--nullfs PATH)");
		return -1;
	}
	pjoin(n->mnt, sizeof n->mnt, root, mnt_name);
	pjoin(n->f, sizeof n->f, n->mnt, "f");
	pjoin(logp, sizeof logp, root, log_name);
	mkdir(n->mnt, 0755);
	snprintf(size, sizeof size, "%" PRId64, input_bytes);
	n->pid = fork();
	if (n->pid < 0) {
		n->pid = 0;
		snprintf(n->why, sizeof n->why, "fork: %s", strerror(errno));
		return -1;
	}
	if (n->pid == 0) {
		int lg = open(logp, O_WRONLY | O_CREAT | O_APPEND, 0644);
		int nul = open("/dev/null", O_RDONLY);
		dup2(nul, 0);
		dup2(lg, 1);
		dup2(lg, 2);
		if (backing)
			execl(opt.nullfs, opt.nullfs, "-f", "--backing", n->backing, n->mnt,
			      (char *)NULL);
		else
			execl(opt.nullfs, opt.nullfs, "-f", "--size", size, n->mnt, (char *)NULL);
		_exit(127);
	}
	while (now_ns() - t0 < 10 * 1000000000LL) {
		int st;
		if (waitpid(n->pid, &st, WNOHANG) == n->pid) {
			n->pid = 0;
			/* its message says why (a backing file it cannot open) */
			log_last_line(logp, last, sizeof last);
			snprintf(n->why, sizeof n->why, "%s exited (status %d%s%s)", what,
			         WIFEXITED(st) ? WEXITSTATUS(st) : -1, last[0] ? ": " : ", see ",
			         last[0] ? last : log_name);
			return -1;
		}
		if (mount_listed(n->mnt) && file_size(n->f) == want)
			return 0;
		usleep(2000);
	}
	snprintf(n->why, sizeof n->why, "%s not mounted after 10 s", what);
	kill(n->pid, SIGKILL);
	waitpid(n->pid, NULL, 0);
	n->pid = 0;
	unmount(n->mnt);
	return -1;
}

static void fusefs_stop(struct fusefs *n)
{
	if (n->pid > 0) {
		int64_t t0 = now_ns();
		kill(n->pid, SIGTERM);
		while (waitpid(n->pid, NULL, WNOHANG) == 0) {
			if (now_ns() - t0 > 10 * 1000000000LL) {
				kill(n->pid, SIGKILL);
				waitpid(n->pid, NULL, 0);
				break;
			}
			usleep(2000);
		}
		n->pid = 0;
	}
	if (n->mnt[0])
		unmount(n->mnt);
}

/* The tmpfs data dir: a tmpfs the bench mounts at root/tmpfs when it is
 * root, else a directory under /dev/shm; root/tmpfs without a mount when
 * --dir is on tmpfs already. */
static char tmpfs_dir[PATH_MAX];
static bool tmpfs_mounted;          /* umount2 at the end */
static bool tmpfs_shm;              /* a /dev/shm directory: rm -rf at the end */
static char tmpfs_how[96];          /* for the notes */

static int tmpfs_setup(bool dir_is_tmpfs)
{
	struct statfs sf;
	char o[48], why[40] = "not root";
	bool made;

	pjoin(tmpfs_dir, sizeof tmpfs_dir, root, "tmpfs");
	mkdir(tmpfs_dir, 0755);
	if (dir_is_tmpfs) {
		snprintf(tmpfs_how, sizeof tmpfs_how, "--dir is on tmpfs");
		return 0;
	}
	if (geteuid() == 0) {
		/* plain, copy-through f and two partitions during the append,
		 * the view topic and its copy at most */
		snprintf(o, sizeof o, "size=%" PRId64 "m,mode=0755", 6 * (input_bytes >> 20) + 256);
		if (mount("tmpfs", tmpfs_dir, "tmpfs", MS_NOSUID | MS_NODEV, o) == 0) {
			tmpfs_mounted = true;
			snprintf(tmpfs_how, sizeof tmpfs_how, "a tmpfs the bench mounted (%s)", o);
			return 0;
		}
		snprintf(why, sizeof why, "mount: %s", strerror(errno));
	}
	rmdir(tmpfs_dir);
	snprintf(tmpfs_dir, sizeof tmpfs_dir, "/dev/shm/topicfs-bench-XXXXXX");
	made = mkdtemp(tmpfs_dir) != NULL;
	if (!made || statfs(tmpfs_dir, &sf) != 0 || sf.f_type != TMPFS_MAGIC) {
		complain("no tmpfs: %s, and /dev/shm is not a usable tmpfs", why);
		if (made)
			rmdir(tmpfs_dir);
		tmpfs_dir[0] = 0;
		return -1;
	}
	tmpfs_shm = true;
	snprintf(tmpfs_how, sizeof tmpfs_how, "/dev/shm (%s)", why);
	return 0;
}

static void tmpfs_teardown(void)
{
	if (!tmpfs_dir[0])
		return;
	if (tmpfs_mounted) {
		if (umount2(tmpfs_dir, 0) != 0 && umount2(tmpfs_dir, MNT_DETACH) != 0)
			complain("umount %s: %s", tmpfs_dir, strerror(errno));
		tmpfs_mounted = false;
		rmdir(tmpfs_dir);
	} else {
		rm_rf(tmpfs_dir);
	}
	tmpfs_shm = false;
	tmpfs_dir[0] = 0;
}

/* Run prog a1 a2 in a child and wait for it (from the fatal-signal
 * handler: fork, exec and waitpid only). */
static void exec_wait_from_signal(const char *prog, const char *a1, const char *a2)
{
	pid_t p = fork();

	if (p == 0) {
		execlp(prog, prog, a1, a2, (char *)NULL);
		_exit(127);
	}
	if (p > 0)
		waitpid(p, NULL, 0);
}

/* Kill a FUSE server (the daemon or a topicfs-nullfs) and lazily unmount
 * its mount point (from the fatal-signal handler). */
static void kill_unmount_from_signal(pid_t pid, const char *mnt)
{
	if (pid <= 0)
		return;
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	exec_wait_from_signal("fusermount3", "-uz", mnt);
}

/* Ctrl-C and friends: kill the daemon and both topicfs-nullfs, unmount them
 * and the tmpfs, remove the root.  Only async-signal-safe calls (fork,
 * exec, kill, waitpid, umount2, _exit). */
static void on_fatal_signal(int sig)
{
	if (live_daemon)
		kill_unmount_from_signal(live_daemon->pid, live_daemon->mnt);
	kill_unmount_from_signal(nullfs.pid, nullfs.mnt);
	/* before the tmpfs: its backing file may be there */
	kill_unmount_from_signal(ctfs.pid, ctfs.mnt);
	if (tmpfs_mounted)
		umount2(tmpfs_dir, MNT_DETACH);
	if (tmpfs_shm)
		exec_wait_from_signal("rm", "-rf", tmpfs_dir);
	if (root[0] && !opt.keep)
		exec_wait_from_signal("rm", "-rf", root);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* ============================== results ================================== */

/* One figure over the repeats. */
struct series {
	double v[MAX_REPEAT];
	int n;
};

static void series_add(struct series *s, double v)
{
	if (s->n < MAX_REPEAT)
		s->v[s->n++] = v;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double series_median(const struct series *s)
{
	double t[MAX_REPEAT];
	if (s->n == 0)
		return NAN;
	memcpy(t, s->v, (size_t)s->n * sizeof *t);
	qsort(t, (size_t)s->n, sizeof *t, cmp_double);
	return s->n % 2 ? t[s->n / 2] : (t[s->n / 2 - 1] + t[s->n / 2]) / 2;
}

static double series_min(const struct series *s)
{
	double m = NAN;
	for (int i = 0; i < s->n; i++)
		if (isnan(m) || s->v[i] < m)
			m = s->v[i];
	return m;
}

static double series_max(const struct series *s)
{
	double m = NAN;
	for (int i = 0; i < s->n; i++)
		if (isnan(m) || s->v[i] > m)
			m = s->v[i];
	return m;
}

struct row {
	char id[32];                    /* stable key: append, read_first, ... */
	char label[48];                 /* what the table says */
	char variant[40];               /* codec, writers, log size */
	char unit[12];
	bool lower_better;              /* latency, seconds */
	struct series val;
	char base_name[16];             /* "" = no baseline */
	struct series base;
	char note[160];
	char status[16];                /* "ok", "FAILED", "skipped" */
};

static struct row rows[MAX_ROWS];
static int nrows;

static struct row *row_new(const char *id, const char *label, const char *variant,
                           const char *unit, const char *base_name, bool lower_better)
{
	struct row *r;
	if (nrows == MAX_ROWS) {
		complain("too many rows");
		exit(2);
	}
	r = &rows[nrows++];
	memset(r, 0, sizeof *r);
	snprintf(r->id, sizeof r->id, "%s", id);
	snprintf(r->label, sizeof r->label, "%s", label);
	snprintf(r->variant, sizeof r->variant, "%s", variant);
	snprintf(r->unit, sizeof r->unit, "%s", unit);
	snprintf(r->base_name, sizeof r->base_name, "%s", base_name ? base_name : "");
	snprintf(r->status, sizeof r->status, "ok");
	r->lower_better = lower_better;
	return r;
}

static void row_fail(struct row *r, const char *why)
{
	if (strcmp(r->status, "FAILED")) {
		failures++;
		snprintf(r->status, sizeof r->status, "FAILED");
	}
	snprintf(r->note, sizeof r->note, "%s", why);
	complain("%s (%s): %s", r->label, r->variant, why);
}

static double row_ratio(const struct row *r)
{
	double v = series_median(&r->val), b = series_median(&r->base);
	if (!r->base_name[0] || isnan(v) || isnan(b) || v <= 0 || b <= 0)
		return NAN;
	return r->lower_better ? b / v : v / b;
}

static const char *fmt_num(char *buf, size_t cap, double v, const char *unit)
{
	if (isnan(v))
		snprintf(buf, cap, "-");
	else if (!strcmp(unit, "s"))
		snprintf(buf, cap, "%.3f", v);
	else if (!strcmp(unit, "B/B"))
		snprintf(buf, cap, "%.3f", v);
	else if (v >= 100)
		snprintf(buf, cap, "%.0f", v);
	else
		snprintf(buf, cap, "%.1f", v);
	return buf;
}

/* ============================== machine ================================== */

struct machine {
	long cores;
	char cpu[128];
	int64_t mem_mb;
	char kernel[256 + 16];
	char fs_dev[128], fs_type[32], fs_mnt[PATH_MAX];
	int rotational;                 /* -1 unknown */
};

static struct machine mach;

static void trim_nl(char *s)
{
	size_t l = strlen(s);
	while (l && (s[l - 1] == '\n' || s[l - 1] == ' '))
		s[--l] = 0;
}

static void machine_probe(const char *dir)
{
	char line[4096], real[PATH_MAX];
	struct utsname u;
	FILE *f;
	size_t best = 0;

	mach.cores = sysconf(_SC_NPROCESSORS_ONLN);
	snprintf(mach.cpu, sizeof mach.cpu, "unknown");
	if ((f = fopen("/proc/cpuinfo", "r"))) {
		while (fgets(line, sizeof line, f))
			if (!strncmp(line, "model name", 10) && strchr(line, ':')) {
				snprintf(mach.cpu, sizeof mach.cpu, "%s", strchr(line, ':') + 2);
				trim_nl(mach.cpu);
				break;
			}
		fclose(f);
	}
	if ((f = fopen("/proc/meminfo", "r"))) {
		while (fgets(line, sizeof line, f))
			if (!strncmp(line, "MemTotal:", 9))
				mach.mem_mb = strtoll(line + 9, NULL, 10) / 1024;
		fclose(f);
	}
	if (uname(&u) == 0)
		snprintf(mach.kernel, sizeof mach.kernel, "%s %s", u.sysname, u.release);
	if (!realpath(dir, real))
		snprintf(real, sizeof real, "%s", dir);
	mach.rotational = -1;
	if ((f = fopen("/proc/self/mounts", "r"))) {
		while (fgets(line, sizeof line, f)) {
			char dev[128], mnt[PATH_MAX], type[32];
			if (sscanf(line, "%127s %4095s %31s", dev, mnt, type) != 3)
				continue;
			size_t l = strlen(mnt);
			bool prefix = !strncmp(real, mnt, l) &&
			              (real[l] == '/' || real[l] == 0 || !strcmp(mnt, "/"));
			if (prefix && l >= best) {
				best = l;
				snprintf(mach.fs_dev, sizeof mach.fs_dev, "%s", dev);
				snprintf(mach.fs_type, sizeof mach.fs_type, "%s", type);
				snprintf(mach.fs_mnt, sizeof mach.fs_mnt, "%s", mnt);
			}
		}
		fclose(f);
	}
	if (!strncmp(mach.fs_dev, "/dev/", 5)) {
		char p[2 * PATH_MAX];
		const char *name = mach.fs_dev + 5;
		snprintf(p, sizeof p, "/sys/class/block/%s/queue/rotational", name);
		if ((f = fopen(p, "r")) == NULL) {
			snprintf(p, sizeof p, "/sys/class/block/%s/../queue/rotational", name);
			f = fopen(p, "r");
		}
		if (f) {
			if (fscanf(f, "%d", &mach.rotational) != 1)
				mach.rotational = -1;
			fclose(f);
		}
	}
}

/* ============================== input ==================================== */

/* Line i: a web-server-like log line of 60..140 bytes (100 on average)
 * ending in '\n', deterministic, about as compressible as real logs. */
static size_t make_line(char *out, int64_t i)
{
	static const char *const methods[] = { "GET", "POST", "PUT", "DELETE" };
	static const char *const paths[] = { "/api/v1/orders", "/api/v1/users/42",
		"/static/app.js", "/health", "/api/v2/search", "/login", "/cart" };
	static const int codes[] = { 200, 200, 200, 201, 304, 404, 500 };
	static const char *const words[] = { "user", "session", "cache", "miss",
		"hit", "retry", "ok", "slow", "db", "query", "payload", "shard",
		"token", "region", "eu", "us", "client", "agent", "mobile", "web" };
	uint64_t x = (uint64_t)i * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull;
	x ^= x >> 29;
	x *= 0xBF58476D1CE4E5B9ull;
	x ^= x >> 32;
	uint32_t r = (uint32_t)x, r2 = (uint32_t)(x >> 32);
	size_t target = 60 + r2 % 81;   /* 60..140 bytes with the newline */
	int n = snprintf(out, 200, "2026-11-22T06:%02d:%02d.%03d 10.%u.%u.%u %s %s %d %ums",
	                 (int)((i / 60000) % 60), (int)((i / 1000) % 60), (int)(i % 1000),
	                 r & 255, (r >> 8) & 255, (r >> 16) & 255, methods[r % 4],
	                 paths[r % 7], codes[r % 7], r % 900);
	size_t len = (size_t)n;
	uint32_t w = r2;
	while (len + 1 < target) {
		const char *word = words[w % 20];
		w = w * 1103515245u + 12345u;
		out[len++] = ' ';
		while (*word && len + 1 < target)
			out[len++] = *word++;
	}
	out[len++] = '\n';
	return len;
}

static int make_input(void)
{
	int64_t want = opt.mb << 20;
	char *buf = malloc(COPY_CHUNK + 256);
	size_t have = 0;
	int fd;

	pjoin(input_path, sizeof input_path, root, "input.txt");
	fd = open(input_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || !buf) {
		complain("cannot create %s: %s", input_path, strerror(errno));
		free(buf);
		return -1;
	}
	input_bytes = 0;
	input_lines = 0;
	while (input_bytes + (int64_t)have < want) {
		have += make_line(buf + have, input_lines++);
		if (have >= COPY_CHUNK) {
			if (write(fd, buf, have) != (ssize_t)have)
				goto fail;
			input_bytes += (int64_t)have;
			have = 0;
		}
	}
	if (have && write(fd, buf, have) != (ssize_t)have)
		goto fail;
	input_bytes += (int64_t)have;
	close(fd);
	free(buf);
	return 0;
fail:
	complain("write %s: %s", input_path, strerror(errno));
	close(fd);
	free(buf);
	return -1;
}

/* ============================== append =================================== */

/* `cat input >> target`; returns seconds, or -1. */
static double cat_append(const char *target)
{
	char *argv[] = { (char *)"cat", input_path, NULL };
	double secs;
	int fd = open(target, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	int rc;

	if (fd < 0) {
		complain("open %s: %s", target, strerror(errno));
		return -1;
	}
	rc = run_prog(argv, -1, fd, &secs);
	if (close(fd) != 0)
		rc = -1;
	return rc == 0 ? secs : -1;
}

/* `cat path > /dev/null`; returns seconds, or -1. */
static double cat_read(const char *path)
{
	char *argv[] = { (char *)"cat", (char *)path, NULL };
	double secs;
	return run_prog(argv, -1, -1, &secs) == 0 ? secs : -1;
}

struct codec_ctx {
	struct daemon d;
	const char *variant;            /* of the append/read/view rows: the codec,
	                                   or for codec none the data dir's fs type */
	bool limits;                    /* codec none: null FUSE and limit rows */
	bool full;                      /* the --dir daemon: every workload */
	char plain_dir[PATH_MAX];       /* baselines, on the data dir's fs */
	char topic[64];                 /* the appended partition's topic */
	char part_path[PATH_MAX];       /* mnt/topic/0 */
	char plain_path[PATH_MAX];      /* plain copy of the same bytes */
	bool ready;                     /* topic holds input_bytes */
};

/* The two-copy limit of one writer or reader, MB/s: its bytes are copied
 * once between the caller and the FUSE request (all that null FUSE does)
 * and once between the daemon and the segment's page cache (what a plain
 * file costs), one after the other. */
static double two_copy_limit(double null_mbs, double plain_mbs)
{
	return 1 / (1 / null_mbs + 1 / plain_mbs);
}

/* One round of the limit rows: the plain file's MB/s (mp), the null FUSE
 * file system's from its time tn (seconds; <= 0: it failed, false), the
 * limit of the two, which is also r's baseline for this round. */
static bool limit_round(struct row *rp, struct row *rn, struct row *rl,
                        struct row *r, double mp, double tn)
{
	series_add(&rp->val, mp);
	if (tn <= 0)
		return false;
	double mn = (double)input_bytes / tn / 1e6;
	series_add(&rn->val, mn);
	series_add(&rl->val, two_copy_limit(mn, mp));
	series_add(&r->base, two_copy_limit(mn, mp));
	return true;
}

/* The copy-through instance of the codec-none variant c, its backing file
 * in c's plain dir (so on the fs the variant measures): from before its
 * append rows to after its read rows. */
static void ctfs_start(struct codec_ctx *c)
{
	char backing[PATH_MAX];

	pjoin(backing, sizeof backing, c->plain_dir, "copythrough.txt");
	if (fusefs_start(&ctfs, "ctmnt", "ctfs.log", backing) < 0)
		complain("%s: no copy-through FUSE rows for %s", ctfs.why, c->variant);
}

static void ctfs_stop(void)
{
	fusefs_stop(&ctfs);
	if (ctfs.backing[0])
		unlink(ctfs.backing);
	ctfs.backing[0] = 0;
}

/* The copy-through f's size must be the input's: what an append round
 * leaves, what a read round reads.  False (and rc failed) if it is not. */
static bool copythrough_size_ok(struct row *rc, int64_t size)
{
	char why[96];

	if (size == input_bytes)
		return true;
	snprintf(why, sizeof why, "copy-through f holds %" PRId64 " bytes, not the "
	         "input's %" PRId64, size, input_bytes);
	row_fail(rc, why);
	return false;
}

/* One round of a copy-through row: cat took tc seconds (<= 0: failed),
 * and f was size bytes long after (append) or during (read) it. */
static void copythrough_round(struct row *rc, double tc, int64_t size)
{
	if (tc <= 0)
		row_fail(rc, "cat through copy-through FUSE failed");
	else if (copythrough_size_ok(rc, size))
		series_add(&rc->val, (double)input_bytes / tc / 1e6);
}

/* a / b with two decimals for the notes, "-" without both */
static const char *fmt_ratio(char *buf, size_t cap, double a, double b)
{
	if (isnan(a) || isnan(b) || a <= 0 || b <= 0)
		snprintf(buf, cap, "-");
	else
		snprintf(buf, cap, "%.2f", a / b);
	return buf;
}

static int topic_mkdir(struct daemon *d, const char *topic)
{
	char p[PATH_MAX];
	pjoin(p, sizeof p, d->mnt, topic);
	if (mkdir(p, 0755) != 0) {
		complain("mkdir %s: %s", p, strerror(errno));
		return -1;
	}
	return 0;
}

static void topic_rmdir(struct daemon *d, const char *topic)
{
	char p[PATH_MAX];
	pjoin(p, sizeof p, d->mnt, topic);
	if (rmdir(p) != 0)
		say("rmdir %s: %s (left in place)", p, strerror(errno));
}

/* `cat input >> partition` per round on a fresh topic, vs the same into a
 * plain file on the data dir's fs; with c->limits also into null FUSE, and
 * the two-copy limit of the round becomes the baseline, and into
 * copy-through FUSE (emptied first), which the read rows then read. */
static void run_append(struct codec_ctx *c)
{
	/* without the append workload this only makes the data: scratch rows */
	static struct row scratch[6];
	bool show = (opt.only & W_APPEND) != 0, lim = c->limits;
	const char *v = c->variant;
	struct row *rp = NULL, *rn = NULL, *rl = NULL, *rc = NULL, *r, *disk;
	struct series recs = { 0 };
	char prev[64] = "", ct[16];
	int reps = (opt.only & W_APPEND) ? opt.repeat : 1;

	memset(scratch, 0, sizeof scratch);
	if (lim) {
		rp = show ? row_new("append_plain", "append, plain file", v, "MB/s", NULL,
		                    false) : &scratch[2];
		rn = show ? row_new("append_null", "append, null FUSE", v, "MB/s", NULL,
		                    false) : &scratch[3];
		rl = show ? row_new("append_limit", "append, two-copy limit", v, "MB/s", NULL,
		                    false) : &scratch[4];
		rc = show ? row_new("append_copythrough", "append, copy-through FUSE", v, "MB/s",
		                    NULL, false) : &scratch[5];
		snprintf(rp->note, sizeof rp->note, "cat input >> a file on %s%s%s", v,
		         c->full ? "" : ": ", c->full ? "" : tmpfs_how);
		snprintf(rn->note, sizeof rn->note, "cat input >> topicfs-nullfs/f: FUSE alone "
		         "(direct_io, 1 MiB requests)");
		snprintf(rl->note, sizeof rl->note, "1/(1/null + 1/plain) of each round; "
		         "median of the rounds");
		snprintf(rc->note, sizeof rc->note, "cat input >> topicfs-nullfs --backing: the "
		         "two copies alone (FUSE request, then write(2) into the backing file's "
		         "page cache before the reply)");
		if (!nullfs.pid && show) {
			row_fail(rn, nullfs.why);
			row_fail(rl, "no null FUSE figure");
		}
		if (!ctfs.pid && show)
			row_fail(rc, ctfs.why);
	}
	r = show ? row_new("append", "append (cat >>)", v, "MB/s", lim ? "limit" : "plain file",
	                   false) : &scratch[0];
	disk = show && c->full ? row_new("append_disk", "bytes on disk per byte", v, "B/B",
	                                 NULL, false) : &scratch[1];
	pjoin(c->plain_path, sizeof c->plain_path, c->plain_dir, "append.txt");
	for (int i = 0; i < reps; i++) {
		double tp = -1, tt = -1, tn = -1, tc = -1;
		char part[PATH_MAX], tdir[PATH_MAX];
		/* after a failed round the copy-through row is not measured again */
		bool ct_on = lim && ctfs.pid && strcmp(rc->status, "FAILED");

		snprintf(c->topic, sizeof c->topic, "append%d", i);
		if (topic_mkdir(&c->d, c->topic) < 0) {
			row_fail(r, "mkdir of the topic failed");
			return;
		}
		pjoin(tdir, sizeof tdir, c->d.mnt, c->topic);
		pjoin(part, sizeof part, tdir, "0");
		unlink(c->plain_path);
		/* each round appends the input to an empty copy-through file, as
		 * to the new plain file and the new partition */
		if (ct_on && truncate(ctfs.f, 0) != 0) {
			char why[96];
			snprintf(why, sizeof why, "truncating copy-through f: %s", strerror(errno));
			row_fail(rc, why);
			ct_on = false;
		}
		settle();
		/* plain, null, copy-through, topicfs on even rounds; the reverse
		 * on odd ones */
		for (int k = 0; k < 4; k++) {
			int which = i % 2 == 0 ? k : 3 - k;
			if (which == 0)
				tp = cat_append(c->plain_path);
			else if (which == 1 && lim && nullfs.pid)
				tn = cat_append(nullfs.f);
			else if (which == 2 && ct_on)
				tc = cat_append(ctfs.f);
			else if (which == 3)
				tt = cat_append(part);
		}
		if (tp <= 0 || tt <= 0) {
			row_fail(r, "cat >> failed");
			return;
		}
		if (file_size(part) != input_bytes) {
			row_fail(r, "partition size differs from the input");
			return;
		}
		double mp = (double)input_bytes / tp / 1e6, mt = (double)input_bytes / tt / 1e6;
		if (lim) {
			if (!limit_round(rp, rn, rl, r, mp, tn) && nullfs.pid)
				row_fail(rn, "cat >> null FUSE failed");
			if (ct_on)
				copythrough_round(rc, tc, file_size(ctfs.f));
			say("append %s #%d: plain %.0f MB/s, null FUSE %.0f MB/s, copy-through "
			    "%.0f MB/s, topicfs %.0f MB/s", v, i + 1, mp,
			    tn > 0 ? (double)input_bytes / tn / 1e6 : NAN,
			    ct_on && tc > 0 ? (double)input_bytes / tc / 1e6 : NAN, mt);
		} else {
			series_add(&r->base, mp);
			say("append %s #%d: plain %.0f MB/s, topicfs %.0f MB/s", v, i + 1, mp, mt);
		}
		series_add(&r->val, mt);
		series_add(&recs, (double)input_lines / tt);
		if (prev[0])
			topic_rmdir(&c->d, prev);
		snprintf(prev, sizeof prev, "%s", c->topic);
		snprintf(c->part_path, sizeof c->part_path, "%s", part);
	}
	if (lim)
		snprintf(r->note, sizeof r->note, "topicfs/null %.2f, topicfs/copy-through %s, "
		         "topicfs/plain %.2f; %.2fM records/s of %.0f-byte lines",
		         series_median(&r->val) / series_median(&rn->val),
		         fmt_ratio(ct, sizeof ct, series_median(&r->val), series_median(&rc->val)),
		         series_median(&r->val) / series_median(&rp->val),
		         series_median(&recs) / 1e6, (double)input_bytes / (double)input_lines);
	else
		snprintf(r->note, sizeof r->note, "%.2fM records/s; %" PRId64 " MiB of %.0f-byte "
		         "lines", series_median(&recs) / 1e6, opt.mb,
		         (double)input_bytes / (double)input_lines);
	{
		char dir[PATH_MAX], name[96];
		snprintf(name, sizeof name, "%s-0", c->topic);
		pjoin(dir, sizeof dir, c->d.data, name);
		int64_t lb = log_bytes(dir, NULL, NULL);
		if (lb <= 0)
			row_fail(disk, "no .log files found");
		else
			series_add(&disk->val, (double)lb / (double)input_bytes);
	}
	c->ready = true;
}

/* ============================== small writes ============================= */

struct sw_shared {
	const char *path;
	const char *lines;              /* all lines back to back */
	const uint32_t *off;            /* line i = lines[off[i] .. off[i+1]) */
	int64_t nlines;
	int writers;
	pthread_barrier_t start;
	atomic_int errors;
};

struct sw_arg {
	struct sw_shared *sh;
	int index;
};

static void *sw_main(void *arg)
{
	struct sw_arg *a = arg;
	struct sw_shared *sh = a->sh;
	int fd = open(sh->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);

	if (fd < 0)
		atomic_fetch_add(&sh->errors, 1);
	pthread_barrier_wait(&sh->start);
	if (fd < 0)
		return NULL;
	for (int64_t i = a->index; i < sh->nlines; i += sh->writers) {
		size_t len = sh->off[i + 1] - sh->off[i];
		if (write(fd, sh->lines + sh->off[i], len) != (ssize_t)len) {
			atomic_fetch_add(&sh->errors, 1);
			break;
		}
	}
	if (close(fd) != 0)
		atomic_fetch_add(&sh->errors, 1);
	return NULL;
}

/* Records/s of `writers` threads writing one line per write(2) to path. */
static double small_writes(struct sw_shared *sh, const char *path, int writers)
{
	pthread_t th[16];
	struct sw_arg args[16];
	int64_t t0;

	sh->path = path;
	sh->writers = writers;
	atomic_store(&sh->errors, 0);
	pthread_barrier_init(&sh->start, NULL, (unsigned)writers + 1);
	for (int i = 0; i < writers; i++) {
		args[i] = (struct sw_arg){ sh, i };
		pthread_create(&th[i], NULL, sw_main, &args[i]);
	}
	pthread_barrier_wait(&sh->start);
	t0 = now_ns();
	for (int i = 0; i < writers; i++)
		pthread_join(th[i], NULL);
	double secs = secs_since(t0);
	pthread_barrier_destroy(&sh->start);
	if (atomic_load(&sh->errors))
		return -1;
	return (double)sh->nlines / secs;
}

static void run_small(struct codec_ctx *c, const char *codec)
{
	static const int writer_counts[] = { 1, 4 };
	struct sw_shared sh = { 0 };
	char *lines = malloc((size_t)opt.small_records * 160 + 1);
	uint32_t *off = malloc(((size_t)opt.small_records + 1) * sizeof *off);
	char plain[PATH_MAX];
	size_t pos = 0;

	if (!lines || !off) {
		complain("out of memory");
		exit(2);
	}
	for (int64_t i = 0; i < opt.small_records; i++) {
		off[i] = (uint32_t)pos;
		pos += make_line(lines + pos, i);
	}
	off[opt.small_records] = (uint32_t)pos;
	sh.lines = lines;
	sh.off = off;
	sh.nlines = opt.small_records;
	pjoin(plain, sizeof plain, c->d.dir, "plain/small.txt");
	for (size_t w = 0; w < 2; w++) {
		int writers = writer_counts[w];
		char id[32], label[48];
		snprintf(id, sizeof id, "small_%dw", writers);
		snprintf(label, sizeof label, "small writes, %d writer%s", writers,
		         writers > 1 ? "s" : "");
		struct row *r = row_new(id, label, codec, "rec/s", "plain file", false);
		snprintf(r->note, sizeof r->note, "%" PRId64 " records, one write(2) each",
		         opt.small_records);
		for (int i = 0; i < opt.repeat; i++) {
			char topic[64], part[PATH_MAX];
			double vp = -1, vt = -1;
			snprintf(topic, sizeof topic, "small%dw%d", writers, i);
			if (topic_mkdir(&c->d, topic) < 0) {
				row_fail(r, "mkdir of the topic failed");
				break;
			}
			char tdir[PATH_MAX];
			pjoin(tdir, sizeof tdir, c->d.mnt, topic);
			pjoin(part, sizeof part, tdir, "0");
			unlink(plain);
			settle();
			for (int k = 0; k < 2; k++) {
				if ((k == 0) == (i % 2 == 0))
					vp = small_writes(&sh, plain, writers);
				else
					vt = small_writes(&sh, part, writers);
			}
			if (vp <= 0 || vt <= 0) {
				row_fail(r, "a write failed");
				break;
			}
			if (file_size(part) != (int64_t)pos) {
				row_fail(r, "partition size differs from the bytes written");
				break;
			}
			series_add(&r->base, vp);
			series_add(&r->val, vt);
			topic_rmdir(&c->d, topic);
			say("small %s %dw #%d: plain %.0f/s, topicfs %.0f/s", codec, writers,
			    i + 1, vp, vt);
		}
	}
	unlink(plain);
	free(lines);
	free(off);
}

/* ============================== read ===================================== */

/* `cat part > /dev/null` right after a daemon restart and again, vs the
 * plain file; with c->limits (and not writes_framing) the first read's
 * baseline is the two-copy limit of the plain file and null FUSE reads of
 * the round, and copy-through FUSE is read too (the input, which the last
 * append round left in it).  writes_framing: the rows of the `writes`
 * partition. */
static void run_read_part(struct codec_ctx *c, const char *codec, const char *part,
                          bool writes_framing)
{
	struct row *r1, *r2, *rp = NULL, *rn = NULL, *rl = NULL, *rc = NULL;
	bool lim = c->limits && !writes_framing;
	const char *v = writes_framing ? codec : c->variant;
	char ct[16];

	if (writes_framing) {
		r1 = row_new("read_writes_first", "read, writes framing, fresh", codec,
		             "MB/s", "plain file", false);
		r2 = row_new("read_writes_second", "read, writes framing, again", codec,
		             "MB/s", "plain file", false);
		snprintf(r1->note, sizeof r1->note, "the same bytes in a framing = writes "
		         "partition (512 KiB records: cat writes st_blksize at a time)");
		snprintf(r2->note, sizeof r2->note, "framing = writes, second read (direct "
		         "reads: partitions bypass the page cache)");
	} else {
		if (lim) {
			rp = row_new("read_plain", "read, plain file", v, "MB/s", NULL, false);
			rn = row_new("read_null", "read, null FUSE", v, "MB/s", NULL, false);
			rl = row_new("read_limit", "read, two-copy limit", v, "MB/s", NULL, false);
			rc = row_new("read_copythrough", "read, copy-through FUSE", v, "MB/s", NULL,
			             false);
			snprintf(rp->note, sizeof rp->note, "cat plain > /dev/null, in page cache");
			snprintf(rn->note, sizeof rn->note, "cat topicfs-nullfs/f > /dev/null "
			         "(%" PRId64 " bytes of 'x' lines)", input_bytes);
			snprintf(rc->note, sizeof rc->note, "cat topicfs-nullfs --backing > /dev/null: "
			         "the two copies alone (pread from the backing file's page cache, "
			         "then the reply)");
			if (!nullfs.pid) {
				row_fail(rn, nullfs.why);
				row_fail(rl, "no null FUSE figure");
			}
			if (!ctfs.pid)
				row_fail(rc, ctfs.why);
		}
		r1 = row_new("read_first", "read, fresh daemon", v, "MB/s",
		             lim ? "limit" : "plain file", false);
		r2 = row_new("read_second", "read, second time", v, "MB/s",
		             "plain file", false);
		snprintf(r1->note, sizeof r1->note, "cat > /dev/null, segment files in "
		         "page cache");
		snprintf(r2->note, sizeof r2->note, "same daemon, right after the first read");
	}
	for (int i = 0; i < opt.repeat; i++) {
		double tp = 0, tn = 0, tc = 0, t1, t2;
		bool null_on = lim && nullfs.pid;
		/* after a failed round the copy-through row is not measured again */
		bool ct_on = lim && ctfs.pid && strcmp(rc->status, "FAILED");
		int64_t ct_size = ct_on ? file_size(ctfs.f) : -1;
		if (daemon_restart(&c->d) < 0) {
			row_fail(r1, "daemon restart failed");
			row_fail(r2, "daemon restart failed");
			return;
		}
		/* it must hold the input, as the partition does */
		if (ct_on && !copythrough_size_ok(rc, ct_size))
			ct_on = false;
		/* plain (null, copy-through) first on even rounds, last on odd ones */
		if (i % 2 == 0) {
			tp = cat_read(c->plain_path);
			tn = null_on ? cat_read(nullfs.f) : 0;
			tc = ct_on ? cat_read(ctfs.f) : 0;
		}
		t1 = cat_read(part);
		t2 = cat_read(part);
		if (i % 2) {
			tc = ct_on ? cat_read(ctfs.f) : 0;
			tn = null_on ? cat_read(nullfs.f) : 0;
			tp = cat_read(c->plain_path);
		}
		if (tp <= 0 || t1 <= 0 || t2 <= 0) {
			row_fail(r1, "cat failed");
			row_fail(r2, "cat failed");
			return;
		}
		double mp = (double)input_bytes / tp / 1e6;
		if (lim) {
			if (!limit_round(rp, rn, rl, r1, mp, tn) && null_on)
				row_fail(rn, "cat null FUSE failed");
			if (ct_on)
				copythrough_round(rc, tc, ct_size);
		} else {
			series_add(&r1->base, mp);
		}
		series_add(&r2->base, mp);
		series_add(&r1->val, (double)input_bytes / t1 / 1e6);
		series_add(&r2->val, (double)input_bytes / t2 / 1e6);
		char nulls[80] = "";
		if (tn > 0)
			snprintf(nulls, sizeof nulls, " null FUSE %.0f MB/s,",
			         (double)input_bytes / tn / 1e6);
		if (ct_on && tc > 0)
			snprintf(nulls + strlen(nulls), sizeof nulls - strlen(nulls),
			         " copy-through %.0f MB/s,", (double)input_bytes / tc / 1e6);
		say("read %s%s #%d: plain %.0f MB/s,%s first %.0f MB/s, second %.0f MB/s", v,
		    writes_framing ? " (writes framing)" : "", i + 1, mp, nulls,
		    (double)input_bytes / t1 / 1e6, (double)input_bytes / t2 / 1e6);
	}
	if (lim)
		snprintf(r1->note, sizeof r1->note, "segment files in page cache; topicfs/null "
		         "%.2f, topicfs/copy-through %s, topicfs/plain %.2f",
		         series_median(&r1->val) / series_median(&rn->val),
		         fmt_ratio(ct, sizeof ct, series_median(&r1->val), series_median(&rc->val)),
		         series_median(&r1->val) / series_median(&rp->val));
}

static void run_read(struct codec_ctx *c, const char *codec)
{
	run_read_part(c, codec, c->part_path, false);
	if (!strcmp(codec, "none") && c->full) {
		/* the same bytes in a `writes` partition (512 KiB records, the st_blksize cat uses) */
		char part[PATH_MAX], tdir[PATH_MAX];
		pjoin(tdir, sizeof tdir, c->d.mnt, WRITES_TOPIC);
		pjoin(part, sizeof part, tdir, "0");
		/* the INI names the topic, so the daemon made it at start */
		if ((file_size(part) < 0 && topic_mkdir(&c->d, WRITES_TOPIC) < 0) ||
		    cat_append(part) < 0 || file_size(part) != input_bytes) {
			struct row *r = row_new("read_writes_first", "read, writes framing, fresh",
			                        codec, "MB/s", "plain file", false);
			row_fail(r, "could not fill the writes-framing partition");
			return;
		}
		run_read_part(c, codec, part, true);
		topic_rmdir(&c->d, WRITES_TOPIC);
	}
}

/* ============================== bounded view ============================= */

/* The [topic.NAME] sections of a codec-none daemon: VIEW_TOPIC rolls a
 * segment every input/8 bytes (at least 1 MiB), so most of the input ends
 * up in sealed segments. */
static void view_ini(struct daemon *d)
{
	int64_t seg = input_bytes / 8;
	size_t l = strlen(d->extra_ini);

	if (seg < 1 << 20)
		seg = 1 << 20;
	if (seg > 1LL << 30)
		seg = 1LL << 30;
	snprintf(d->extra_ini + l, sizeof d->extra_ini - l,
	         "\n[topic.%s]\nsegment_bytes = %" PRId64 "\n", VIEW_TOPIC, seg);
}

/* `cat T/0@0..B > /dev/null` where B is the base offset of the active
 * segment (the end of the sealed ones; `..to` is exclusive), read once to
 * make the plain copy of its bytes, then timed against `cat copy`. */
static void run_view(struct codec_ctx *c)
{
	struct row *r = row_new("view_again", "bounded view, read again", c->variant, "MB/s",
	                        "plain file", false);
	char part[PATH_MAX], tdir[PATH_MAX], sdir[PATH_MAX], view[PATH_MAX + 32],
	     copy[PATH_MAX], name[96], **names = NULL;
	size_t nseg = 0;
	int64_t sealed_end, bytes;
	double secs;
	int fd;

	pjoin(tdir, sizeof tdir, c->d.mnt, VIEW_TOPIC);
	pjoin(part, sizeof part, tdir, "0");
	/* the INI names the topic, so the daemon made it at start */
	if ((file_size(part) < 0 && topic_mkdir(&c->d, VIEW_TOPIC) < 0) ||
	    cat_append(part) < 0 || file_size(part) != input_bytes) {
		row_fail(r, "could not fill the view topic");
		return;
	}
	snprintf(name, sizeof name, "%s-0", VIEW_TOPIC);
	pjoin(sdir, sizeof sdir, c->d.data, name);
	if (log_bytes(sdir, &names, &nseg) <= 0 || nseg < 2) {
		row_fail(r, "no sealed segment in the view topic");
		goto out;
	}
	/* 20-digit names: the last segment's base offset ends the sealed ones */
	{
		const char *base = strrchr(names[nseg - 1], '/');
		sealed_end = strtoll(base ? base + 1 : names[nseg - 1], NULL, 10);
	}
	if (sealed_end <= 0) {
		row_fail(r, "cannot parse the active segment's base offset");
		goto out;
	}
	snprintf(view, sizeof view, "%s@0..%" PRId64, part, sealed_end);
	pjoin(copy, sizeof copy, c->plain_dir, "view.txt");
	fd = open(copy, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	{
		char *argv[] = { (char *)"cat", view, NULL };
		int rc = fd < 0 ? -1 : run_prog(argv, -1, fd, &secs);
		if (fd >= 0 && close(fd) != 0)
			rc = -1;
		bytes = file_size(copy);
		if (rc != 0 || bytes <= 0 || bytes >= input_bytes) {
			row_fail(r, "the first read of the view failed");
			goto out;
		}
	}
	snprintf(r->note, sizeof r->note, "0@0..%" PRId64 ": %zu of %zu segments (sealed), "
	         "%.1f MB; vs cat of a copy", sealed_end, nseg - 1, nseg, (double)bytes / 1e6);
	for (int i = 0; i < opt.repeat; i++) {
		double tv = -1, tp = -1;
		for (int k = 0; k < 2; k++) {
			if ((k == 0) == (i % 2 == 0))
				tp = cat_read(copy);
			else
				tv = cat_read(view);
		}
		if (tp <= 0 || tv <= 0) {
			row_fail(r, "cat failed");
			break;
		}
		series_add(&r->base, (double)bytes / tp / 1e6);
		series_add(&r->val, (double)bytes / tv / 1e6);
		say("view %s #%d: plain %.0f MB/s, 0@0..%" PRId64 " again %.0f MB/s", c->variant,
		    i + 1, (double)bytes / tp / 1e6, sealed_end, (double)bytes / tv / 1e6);
	}
	unlink(copy);
out:
	free_names(names, nseg);
}

/* ============================== compressed append vs the CLI ============ */

/* [topic.c<codec>] compression = <codec> on the tmpfs daemon. */
static void cli_ini(struct daemon *d)
{
	for (int k = 1; k < 3; k++) {
		size_t l = strlen(d->extra_ini);
		if (opt.codec_on[k])
			snprintf(d->extra_ini + l, sizeof d->extra_ini - l,
			         "\n[topic.c%s]\ncompression = %s\n", all_codecs[k], all_codecs[k]);
	}
}

/* `cat input >> T/0` into a topic compressed with codec vs `codec -1 -c
 * input > /dev/null`: the same bytes through the command-line compressor,
 * single-threaded as the daemon compresses one append. */
static void run_append_cli(struct codec_ctx *c, const char *codec)
{
	char variant[40], base[16], cli[PATH_MAX], topic[32], tdir[PATH_MAX], part[PATH_MAX];
	struct series disk = { 0 };
	struct row *r;

	snprintf(variant, sizeof variant, "%s/%s", codec, c->variant);
	snprintf(base, sizeof base, "%s -1", codec);
	r = row_new("append_cli", "append vs CLI (cat >>)", variant, "MB/s", base, false);
	if (!find_in_path(codec, cli, sizeof cli)) {
		snprintf(r->status, sizeof r->status, "skipped");
		snprintf(r->note, sizeof r->note, "%s not found in PATH: no baseline", codec);
		return;
	}
	snprintf(topic, sizeof topic, "c%s", codec);
	pjoin(tdir, sizeof tdir, c->d.mnt, topic);
	pjoin(part, sizeof part, tdir, "0");
	/* -T1 where the CLI knows it (zstd, lz4 >= 1.10): one thread, which
	 * is also what both use by default on a file to a pipe (lz4 1.9,
	 * zstd 1.5) */
	char *probe[] = { cli, (char *)"-T1", (char *)"-1", (char *)"-c", (char *)"-q", NULL };
	bool t1 = run_prog(probe, -1, -1, NULL) == 0;     /* stdin: /dev/null */
	for (int i = 0; i < opt.repeat; i++) {
		char *argv[] = { cli, (char *)"-1", (char *)"-c", (char *)"-q", input_path,
		                 t1 ? (char *)"-T1" : NULL, NULL };
		double tc = -1, tt = -1;
		char name[64], dir[PATH_MAX];

		/* the INI names it: the daemon made it at start, or after rmdir */
		if (file_size(part) < 0 && topic_mkdir(&c->d, topic) < 0) {
			row_fail(r, "mkdir of the topic failed");
			return;
		}
		settle();
		for (int k = 0; k < 2; k++) {
			if ((k == 0) == (i % 2 == 0)) {
				if (run_prog(argv, -1, -1, &tc) != 0)
					tc = -1;
			} else {
				tt = cat_append(part);
			}
		}
		if (tc <= 0 || tt <= 0) {
			row_fail(r, tc <= 0 ? "the compressor CLI failed" : "cat >> failed");
			return;
		}
		if (file_size(part) != input_bytes) {
			row_fail(r, "partition size differs from the input");
			return;
		}
		snprintf(name, sizeof name, "%s-0", topic);
		pjoin(dir, sizeof dir, c->d.data, name);
		series_add(&disk, (double)log_bytes(dir, NULL, NULL) / (double)input_bytes);
		series_add(&r->base, (double)input_bytes / tc / 1e6);
		series_add(&r->val, (double)input_bytes / tt / 1e6);
		say("append %s #%d: %s -1 %.0f MB/s, topicfs %.0f MB/s", variant, i + 1, codec,
		    (double)input_bytes / tc / 1e6, (double)input_bytes / tt / 1e6);
		topic_rmdir(&c->d, topic);
	}
	snprintf(r->note, sizeof r->note, "%s -1 -c%s input > /dev/null, one thread; "
	         "topicfs %.3f B on disk per byte", codec, t1 ? " -T1" : "",
	         series_median(&disk));
}

/* ============================== fetch ==================================== */

struct sf_server {
	int lfd;
	char **files;
	size_t nfiles;
	int err;
};

static void *sf_main(void *arg)
{
	struct sf_server *s = arg;
	int fd = accept(s->lfd, NULL, NULL);

	if (fd < 0) {
		s->err = errno;
		return NULL;
	}
	for (size_t i = 0; i < s->nfiles && !s->err; i++) {
		int f = open(s->files[i], O_RDONLY | O_CLOEXEC);
		off_t off = 0, size;
		if (f < 0) {
			s->err = errno;
			break;
		}
		size = lseek(f, 0, SEEK_END);
		while (off < size) {
			ssize_t n = sendfile(fd, f, &off, (size_t)(size - off));
			if (n <= 0) {
				s->err = n < 0 ? errno : EIO;
				break;
			}
		}
		close(f);
	}
	close(fd);
	return NULL;
}

/* Seconds to receive the files' bytes sent with sendfile over loopback. */
static double plain_sendfile(char **files, size_t nfiles, int64_t expect)
{
	struct sf_server s = { .files = files, .nfiles = nfiles };
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t al = sizeof a;
	pthread_t th;
	int64_t t0, got = 0;
	char *buf = malloc(COPY_CHUNK);
	int cfd;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (!buf || s.lfd < 0 || bind(s.lfd, (struct sockaddr *)&a, sizeof a) < 0 ||
	    getsockname(s.lfd, (struct sockaddr *)&a, &al) < 0 || listen(s.lfd, 1) < 0) {
		free(buf);
		if (s.lfd >= 0)
			close(s.lfd);
		return -1;
	}
	pthread_create(&th, NULL, sf_main, &s);
	t0 = now_ns();
	cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (cfd >= 0 && connect(cfd, (struct sockaddr *)&a, sizeof a) == 0) {
		for (;;) {
			ssize_t n = recv(cfd, buf, COPY_CHUNK, 0);
			if (n <= 0)
				break;
			got += n;
		}
	}
	double secs = secs_since(t0);
	if (cfd >= 0)
		close(cfd);
	pthread_join(th, NULL);
	close(s.lfd);
	free(buf);
	return s.err || got != expect ? -1 : secs;
}

struct count_state {
	int64_t records, bytes;
};

static int count_record(void *arg, const struct record *rec)
{
	struct count_state *cs = arg;
	cs->records++;
	if (rec->value_len > 0)
		cs->bytes += rec->value_len;
	return 0;
}

/* Seconds to drain the partition with kc_consume; -1 on error. */
static double kc_drain(int port, const char *topic, int64_t expect_records)
{
	char addr[64];
	struct kc_conn *kc = NULL;
	struct kc_consume_opts co = { .start_offset = 0 };
	struct count_state cs = { 0 };
	int64_t t0 = now_ns(), next = 0;
	int kerr = 0, rc;

	snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
	rc = kc_connect(addr, "topicfs-bench", 30000, &kc);
	if (rc) {
		complain("connect %s: %s", addr, strerror(-rc));
		return -1;
	}
	rc = kc_consume(kc, topic, 0, &co, count_record, &cs, &next, &kerr);
	double secs = secs_since(t0);
	if (rc)
		complain("fetch loop: %s", kc_errmsg(kc));
	kc_close(kc);
	if (rc == 0 && cs.records != expect_records) {
		complain("fetch loop got %" PRId64 " records, expected %" PRId64,
		         cs.records, expect_records);
		return -1;
	}
	return rc ? -1 : secs;
}

static double kcat_drain(int port, const char *topic)
{
	char broker[64];
	char *argv[] = { opt.kcat, (char *)"-C", (char *)"-b", broker, (char *)"-t",
	                 (char *)topic, (char *)"-p", (char *)"0", (char *)"-o",
	                 (char *)"beginning", (char *)"-e", (char *)"-q", NULL };
	double secs;
	snprintf(broker, sizeof broker, "127.0.0.1:%d", port);
	return run_prog(argv, -1, -1, &secs) == 0 ? secs : -1;
}

/* kcat over the daemon's SSL listener (no certificate check: the bench's
 * own self-signed certificate). */
static double kcat_drain_tls(int port, const char *topic)
{
	char broker[64];
	char *argv[] = { opt.kcat, (char *)"-C", (char *)"-b", broker, (char *)"-t",
	                 (char *)topic, (char *)"-p", (char *)"0", (char *)"-o",
	                 (char *)"beginning", (char *)"-e", (char *)"-q",
	                 (char *)"-X", (char *)"security.protocol=SSL",
	                 (char *)"-X", (char *)"enable.ssl.certificate.verification=false",
	                 NULL };
	double secs;
	snprintf(broker, sizeof broker, "127.0.0.1:%d", port);
	return run_prog(argv, -1, -1, &secs) == 0 ? secs : -1;
}

/* A self-signed certificate for the SSL listener, once; "" when openssl
 * is missing or fails (the TLS row is then skipped). */
static void tls_setup(void)
{
	char openssl[PATH_MAX], subj[] = "/CN=localhost";
	double secs;

	if (!find_in_path("openssl", openssl, sizeof openssl))
		return;
	pjoin(tls_cert, sizeof tls_cert, root, "bench-cert.pem");
	pjoin(tls_key, sizeof tls_key, root, "bench-key.pem");
	char *argv[] = { openssl, (char *)"req", (char *)"-x509", (char *)"-newkey",
	                 (char *)"rsa:2048", (char *)"-nodes", (char *)"-keyout", tls_key,
	                 (char *)"-out", tls_cert, (char *)"-days", (char *)"2",
	                 (char *)"-subj", subj, NULL };
	if (run_prog(argv, -1, -1, &secs) != 0) {
		complain("openssl req failed: no TLS fetch row");
		tls_cert[0] = tls_key[0] = '\0';
	}
}

/* The daemon's .status tls_mode ("kernel", "user"), or "?". */
static void tls_mode_of(const struct daemon *d, char *out, size_t len)
{
	char path[PATH_MAX], line[256];
	FILE *f;

	snprintf(out, len, "?");
	pjoin(path, sizeof path, d->mnt, ".status");
	f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(line, sizeof line, f))
		if (!strncmp(line, "tls_mode ", 9))
			snprintf(out, len, "%.*s", (int)strcspn(line + 9, "\n"), line + 9);
	fclose(f);
}

static void run_fetch(struct codec_ctx *c, const char *codec)
{
	struct row *rf = NULL, *rk = NULL, *rt = NULL;
	char dir[PATH_MAX], name[96], **files = NULL;
	size_t nfiles = 0;
	int64_t lb;

	snprintf(name, sizeof name, "%s-0", c->topic);
	pjoin(dir, sizeof dir, c->d.data, name);
	lb = log_bytes(dir, &files, &nfiles);
	if (opt.only & W_FETCH) {
		rf = row_new("fetch", "remote fetch (fetch loop)", codec, "MB/s", "sendfile", false);
		snprintf(rf->note, sizeof rf->note, "%.1f MB of log bytes over loopback",
		         (double)lb / 1e6);
	}
	if (opt.only & W_KCAT) {
		rk = row_new("kcat", "remote fetch (kcat -C -e)", codec, "MB/s", "sendfile", false);
		rt = row_new("kcat_tls", "remote fetch (kcat, SSL)", codec, "MB/s",
		             "sendfile", false);
		if (!opt.kcat[0]) {
			snprintf(rk->status, sizeof rk->status, "skipped");
			snprintf(rk->note, sizeof rk->note, "kcat not found (--kcat PATH)");
			rk = NULL;
		}
		if (!opt.kcat[0] || !tls_cert[0]) {
			snprintf(rt->status, sizeof rt->status, "skipped");
			snprintf(rt->note, sizeof rt->note, "%s", !opt.kcat[0] ?
			         "kcat not found (--kcat PATH)" : "openssl not found");
			rt = NULL;
		} else {
			char mode[16];
			tls_mode_of(&c->d, mode, sizeof mode);
			snprintf(rt->note, sizeof rt->note, "%s", !strcmp(mode, "kernel") ?
			         "kernel TLS: slices with SSL_sendfile" : !strcmp(mode, "user") ?
			         "user-space TLS: slices read and encrypted (no kernel TLS)" :
			         "TLS mode unknown");
		}
	}
	if (lb <= 0) {
		if (rf)
			row_fail(rf, "no .log files");
		if (rk)
			row_fail(rk, "no .log files");
		if (rt)
			row_fail(rt, "no .log files");
		goto out;
	}
	for (int i = 0; i < opt.repeat && (rf || rk || rt); i++) {
		double tb = plain_sendfile(files, nfiles, lb);
		if (tb <= 0) {
			if (rf)
				row_fail(rf, "plain sendfile baseline failed");
			if (rk)
				row_fail(rk, "plain sendfile baseline failed");
			if (rt)
				row_fail(rt, "plain sendfile baseline failed");
			break;
		}
		if (rf) {
			double t = kc_drain(c->d.port, c->topic, input_lines);
			if (t <= 0) {
				row_fail(rf, "fetch loop failed");
				rf = NULL;
			} else {
				series_add(&rf->base, (double)lb / tb / 1e6);
				series_add(&rf->val, (double)lb / t / 1e6);
				say("fetch %s #%d: sendfile %.0f MB/s, fetch loop %.0f MB/s", codec,
				    i + 1, (double)lb / tb / 1e6, (double)lb / t / 1e6);
			}
		}
		if (rk) {
			double t = kcat_drain(c->d.port, c->topic);
			if (t <= 0) {
				row_fail(rk, "kcat failed");
				rk = NULL;
			} else {
				series_add(&rk->base, (double)lb / tb / 1e6);
				series_add(&rk->val, (double)lb / t / 1e6);
				say("kcat %s #%d: %.0f MB/s", codec, i + 1, (double)lb / t / 1e6);
			}
		}
		if (rt) {
			double t = kcat_drain_tls(c->d.tls_port, c->topic);
			if (t <= 0) {
				row_fail(rt, "kcat over SSL failed");
				rt = NULL;
			} else {
				series_add(&rt->base, (double)lb / tb / 1e6);
				series_add(&rt->val, (double)lb / t / 1e6);
				say("kcat tls %s #%d: %.0f MB/s", codec, i + 1, (double)lb / t / 1e6);
			}
		}
	}
out:
	free_names(files, nfiles);
}

/* ============================== latency ================================== */

struct lat_run {
	int wfd;                        /* where the writer writes */
	int64_t n;                      /* records to write */
	int64_t interval_ns;
	int64_t *lat;                   /* n samples, ns */
	atomic_llong got;
	int64_t write_ns;               /* writer: wall time of the run */
	int werr;
	/* consumers */
	int rfd;                        /* view or pipe */
	int port;
	const char *topic;
	int64_t start_offset;
	int rerr;
};

static void *lat_writer(void *arg)
{
	struct lat_run *L = arg;
	char line[LAT_LINE];
	int64_t t0 = now_ns() + 20 * 1000000;

	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	memset(line, 'x', sizeof line);
	line[LAT_LINE - 1] = '\n';
	for (int64_t i = 0; i < L->n; i++) {
		int64_t at = t0 + i * L->interval_ns, ts;
		struct timespec t = { at / 1000000000, at % 1000000000 };
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL) == EINTR)
			;
		ts = now_ns();
		char num[24];
		snprintf(num, sizeof num, "%019" PRId64, ts);
		memcpy(line, num, 19);
		line[19] = ' ';
		if (write(L->wfd, line, LAT_LINE) != LAT_LINE) {
			L->werr = errno ? errno : EIO;
			break;
		}
	}
	L->write_ns = now_ns() - t0;
	return NULL;
}

/* Reads lines from rfd (a view or a pipe). */
static void *lat_fd_reader(void *arg)
{
	struct lat_run *L = arg;
	char buf[65536];
	size_t have = 0;

	while (atomic_load(&L->got) < L->n) {
		ssize_t n = read(L->rfd, buf + have, sizeof buf - have);
		int64_t t = now_ns();
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			L->rerr = n < 0 ? errno : EPIPE;
			break;
		}
		have += (size_t)n;
		char *p = buf, *end = buf + have, *nl;
		while ((nl = memchr(p, '\n', (size_t)(end - p)))) {
			int64_t g = atomic_load(&L->got);
			if (g < L->n) {
				L->lat[g] = t - strtoll(p, NULL, 10);
				atomic_store(&L->got, g + 1);
			}
			p = nl + 1;
		}
		have = (size_t)(end - p);
		memmove(buf, p, have);
	}
	return NULL;
}

static int lat_record(void *arg, const struct record *rec)
{
	struct lat_run *L = arg;
	int64_t t = now_ns(), g = atomic_load(&L->got);
	char num[24];

	if (g < L->n && rec->value_len >= 19) {
		memcpy(num, rec->value, 19);
		num[19] = 0;
		L->lat[g] = t - strtoll(num, NULL, 10);
		atomic_store(&L->got, g + 1);
	}
	return 0;
}

static void *lat_fetch_reader(void *arg)
{
	struct lat_run *L = arg;
	char addr[64];
	struct kc_conn *kc = NULL;
	struct kc_consume_opts co = {
		.start_offset = L->start_offset, .follow = true, .max_wait_ms = 500,
		.max_records = L->n,
	};
	int kerr = 0;

	snprintf(addr, sizeof addr, "127.0.0.1:%d", L->port);
	if (kc_connect(addr, "topicfs-bench-lat", 30000, &kc)) {
		L->rerr = ECONNREFUSED;
		return NULL;
	}
	if (kc_consume(kc, L->topic, 0, &co, lat_record, L, NULL, &kerr))
		L->rerr = EPROTO;
	kc_close(kc);
	return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

/* Run the writer with one consumer thread; p50/p99/max in µs. */
static int lat_measure(struct lat_run *L, void *(*consumer)(void *), double out[3],
                       double *rate)
{
	pthread_t wt, rt;
	int64_t n;

	atomic_store(&L->got, 0);
	L->werr = L->rerr = 0;
	pthread_create(&rt, NULL, consumer, L);
	usleep(50000);                  /* let a long poll park first */
	pthread_create(&wt, NULL, lat_writer, L);
	pthread_join(wt, NULL);
	/* the consumer gets 5 s after the last write */
	for (int i = 0; i < 500 && atomic_load(&L->got) < L->n && !L->rerr; i++)
		usleep(10000);
	if (atomic_load(&L->got) < L->n) {
		pthread_cancel(rt);
		pthread_join(rt, NULL);
		complain("latency consumer got %lld of %" PRId64 " records",
		         (long long)atomic_load(&L->got), L->n);
		return -1;
	}
	pthread_join(rt, NULL);
	if (L->werr) {
		complain("latency writer: %s", strerror(L->werr));
		return -1;
	}
	n = L->n;
	qsort(L->lat, (size_t)n, sizeof *L->lat, cmp_i64);
	out[0] = (double)L->lat[n / 2] / 1e3;
	out[1] = (double)L->lat[(n * 99 + 99) / 100 - 1] / 1e3;
	out[2] = (double)L->lat[n - 1] / 1e3;
	*rate = (double)L->n / ((double)L->write_ns / 1e9);
	return 0;
}

static void run_latency(void)
{
	struct daemon d;
	struct row *rv[3], *rf[3];
	static const char *const pct[] = { "p50", "p99", "max" };
	struct lat_run L = { 0 };
	struct series rate_v = { 0 }, rate_f = { 0 };
	char part[PATH_MAX], view[PATH_MAX], variant[24];

	snprintf(variant, sizeof variant, "%d/s", opt.rate);
	for (int k = 0; k < 3; k++) {
		char id[32], label[48];
		snprintf(id, sizeof id, "latency_view_%s", pct[k]);
		snprintf(label, sizeof label, "latency append->view %s", pct[k]);
		rv[k] = row_new(id, label, variant, "us", "pipe", true);
	}
	for (int k = 0; k < 3; k++) {
		char id[32], label[48];
		snprintf(id, sizeof id, "latency_fetch_%s", pct[k]);
		snprintf(label, sizeof label, "latency append->fetch %s", pct[k]);
		rf[k] = row_new(id, label, variant, "us", "pipe", true);
	}
	L.n = (int64_t)(opt.latency_s * opt.rate);
	if (L.n < 100)
		L.n = 100;
	L.interval_ns = 1000000000LL / opt.rate;
	L.lat = malloc((size_t)L.n * sizeof *L.lat);
	daemon_init(&d, "latency", "none");
	if (!L.lat || daemon_start(&d, NULL) < 0 || topic_mkdir(&d, "lat") < 0) {
		for (int k = 0; k < 3; k++) {
			row_fail(rv[k], "daemon start failed");
			row_fail(rf[k], "daemon start failed");
		}
		goto out;
	}
	pjoin(part, sizeof part, d.mnt, "lat/0");
	pjoin(view, sizeof view, d.mnt, "lat/0@latest");
	L.port = d.port;
	L.topic = "lat";
	for (int i = 0; i < opt.repeat; i++) {
		double v[3], b[3], rate;
		int pfd[2];

		/* baseline: the same writer into a pipe */
		if (pipe2(pfd, O_CLOEXEC) < 0)
			break;
		L.wfd = pfd[1];
		L.rfd = pfd[0];
		int rc = lat_measure(&L, lat_fd_reader, b, &rate);
		close(pfd[0]);
		close(pfd[1]);
		if (rc < 0) {
			for (int k = 0; k < 3; k++)
				row_fail(rv[k], "pipe baseline failed");
			break;
		}
		for (int k = 0; k < 3; k++) {
			series_add(&rv[k]->base, b[k]);
			series_add(&rf[k]->base, b[k]);
		}

		/* append -> view */
		L.wfd = open(part, O_WRONLY | O_APPEND | O_CLOEXEC);
		L.rfd = open(view, O_RDONLY | O_CLOEXEC);
		rc = L.wfd < 0 || L.rfd < 0 ? -1 : lat_measure(&L, lat_fd_reader, v, &rate);
		if (L.wfd >= 0)
			close(L.wfd);
		if (L.rfd >= 0)
			close(L.rfd);
		if (rc < 0) {
			for (int k = 0; k < 3; k++)
				row_fail(rv[k], "view latency run failed");
		} else {
			for (int k = 0; k < 3; k++)
				series_add(&rv[k]->val, v[k]);
			series_add(&rate_v, rate);
			say("latency view #%d: p50 %.0f us, p99 %.0f us, max %.0f us (pipe p99 %.0f us)",
			    i + 1, v[0], v[1], v[2], b[1]);
		}

		/* append -> long-polling fetch */
		{
			char addr[64];
			struct kc_conn *kc = NULL;
			int kerr = 0;
			snprintf(addr, sizeof addr, "127.0.0.1:%d", d.port);
			rc = kc_connect(addr, "topicfs-bench", 30000, &kc);
			if (!rc)
				rc = kc_list_offset(kc, "lat", 0, -1, &L.start_offset, &kerr);
			kc_close(kc);
		}
		L.wfd = open(part, O_WRONLY | O_APPEND | O_CLOEXEC);
		rc = rc || L.wfd < 0 ? -1 : lat_measure(&L, lat_fetch_reader, v, &rate);
		if (L.wfd >= 0)
			close(L.wfd);
		if (rc < 0) {
			for (int k = 0; k < 3; k++)
				row_fail(rf[k], "fetch latency run failed");
		} else {
			for (int k = 0; k < 3; k++)
				series_add(&rf[k]->val, v[k]);
			series_add(&rate_f, rate);
			say("latency fetch #%d: p50 %.0f us, p99 %.0f us, max %.0f us", i + 1,
			    v[0], v[1], v[2]);
		}
	}
	for (int k = 0; k < 3; k++) {
		snprintf(rv[k]->note, sizeof rv[k]->note, "%" PRId64 " records; writer reached %.0f/s",
		         L.n, series_median(&rate_v));
		snprintf(rf[k]->note, sizeof rf[k]->note, "%" PRId64 " records; writer reached %.0f/s",
		         L.n, series_median(&rate_f));
	}
out:
	daemon_stop(&d);
	free(L.lat);
}

/* ============================== restart ================================== */

/* Append `bytes` of the input (wrapping around) to path in 1 MiB writes. */
static int fill_log(const char *path, int64_t bytes)
{
	int in = open(input_path, O_RDONLY | O_CLOEXEC);
	int out = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	char *buf = malloc(COPY_CHUNK);
	int64_t done = 0;
	int rc = 0;

	if (in < 0 || out < 0 || !buf) {
		rc = -1;
		goto out;
	}
	while (done < bytes) {
		ssize_t n = read(in, buf, COPY_CHUNK);
		if (n == 0) {
			lseek(in, 0, SEEK_SET);
			continue;
		}
		/* whole lines only, so the log is exactly lines */
		if (n < 0) {
			rc = -1;
			break;
		}
		if (write(out, buf, (size_t)n) != n) {
			rc = -1;
			break;
		}
		done += n;
	}
out:
	if (out >= 0 && close(out) != 0)
		rc = -1;
	if (in >= 0)
		close(in);
	free(buf);
	return rc;
}

static void run_restart(void)
{
	struct daemon d;
	char variant[40], part[PATH_MAX];
	struct row *rk, *rc_, *rss;
	double t;

	snprintf(variant, sizeof variant, "%" PRId64 " MiB log", opt.restart_mb);
	rk = row_new("restart_kill9", "restart after kill -9", variant, "s", NULL, true);
	rc_ = row_new("restart_clean", "restart after clean stop", variant, "s", NULL, true);
	rss = row_new("rss_big_log", "daemon peak RSS, big log", variant, "MiB", NULL, true);
	snprintf(rk->note, sizeof rk->note, "until mount and port answer (recovery)");
	snprintf(rss->note, sizeof rss->note, "writing it, recovering it, reading it all");
	daemon_init(&d, "restart", "none");
	if (daemon_start(&d, NULL) < 0 || topic_mkdir(&d, "big") < 0) {
		row_fail(rk, "daemon start failed");
		row_fail(rc_, "daemon start failed");
		row_fail(rss, "daemon start failed");
		daemon_stop(&d);
		return;
	}
	pjoin(part, sizeof part, d.mnt, "big/0");
	say("restart: writing a %" PRId64 " MiB log", opt.restart_mb);
	if (fill_log(part, opt.restart_mb << 20) < 0) {
		row_fail(rk, "writing the log failed");
		row_fail(rc_, "writing the log failed");
		row_fail(rss, "writing the log failed");
		daemon_stop(&d);
		return;
	}
	int64_t size = file_size(part);
	for (int i = 0; i < opt.repeat; i++) {
		daemon_kill9(&d);
		if (daemon_start(&d, &t) < 0) {
			row_fail(rk, "restart after kill -9 failed");
			break;
		}
		if (file_size(part) != size) {
			row_fail(rk, "the log changed size across kill -9");
			break;
		}
		series_add(&rk->val, t);
		say("restart after kill -9 #%d: %.3f s", i + 1, t);
		if (i == 0) {
			/* a full read of the big log, then its peak RSS */
			if (cat_read(part) < 0)
				row_fail(rss, "reading the log failed");
		}
	}
	daemon_sample(&d);
	if (d.hwm_kb > 0)
		series_add(&rss->val, (double)d.hwm_kb / 1024);
	for (int i = 0; i < opt.repeat; i++) {
		if (daemon_stop(&d) < 0 || daemon_start(&d, &t) < 0) {
			row_fail(rc_, "clean restart failed");
			break;
		}
		series_add(&rc_->val, t);
		say("restart after clean stop #%d: %.3f s", i + 1, t);
	}
	daemon_stop(&d);
}

/* ============================== per codec ================================ */

static void run_codec(const char *codec)
{
	struct codec_ctx c;
	char name[32];
	bool none = !strcmp(codec, "none");
	unsigned need_data = W_APPEND | W_READ | W_FETCH | W_KCAT | (none ? W_VIEW : 0);

	memset(&c, 0, sizeof c);
	snprintf(name, sizeof name, "codec-%s", codec);
	daemon_init(&c.d, name, codec);
	/* codec none: the rows against the limit, named by the data dir's fs */
	c.variant = none ? mach.fs_type : codec;
	c.limits = none;
	c.full = true;
	pjoin(c.plain_dir, sizeof c.plain_dir, c.d.dir, "plain");
	mkdir(c.plain_dir, 0755);
	if (none)
		view_ini(&c.d);
	say("codec %s: starting topicfs (data %s)", codec, c.d.data);
	if (daemon_start(&c.d, NULL) < 0) {
		struct row *r = row_new("daemon", "daemon start", codec, "-", NULL, false);
		row_fail(r, "topicfs did not start");
		return;
	}
	/* copy-through FUSE beside this variant's append and read rows */
	if (c.limits && (opt.only & (W_APPEND | W_READ)))
		ctfs_start(&c);
	if (opt.only & need_data)
		run_append(&c);
	if (opt.only & W_SMALL)
		run_small(&c, codec);
	if (c.ready && (opt.only & W_READ))
		run_read(&c, codec);
	ctfs_stop();
	if (c.ready && none && (opt.only & W_VIEW))
		run_view(&c);
	if (c.ready && (opt.only & (W_FETCH | W_KCAT)))
		run_fetch(&c, codec);
	daemon_stop(&c.d);
	rm_rf(c.d.dir);
}

/* The codec-none rows again with the data dir on tmpfs (so the disk and
 * the page-cache writeback of a real fs are out of the picture), unless
 * --dir is on tmpfs already; and the compressed appends against the
 * compressor CLIs, which are cheap to host here (a topic per codec). */
static void run_tmpfs_set(void)
{
	bool dir_tmpfs = !strcmp(mach.fs_type, "tmpfs");
	bool lim = opt.codec_on[0] && !dir_tmpfs && (opt.only & (W_APPEND | W_READ | W_VIEW));
	bool cli = (opt.codec_on[1] || opt.codec_on[2]) && (opt.only & W_APPEND);
	struct codec_ctx c;
	char data[PATH_MAX];

	if (!lim && !cli)
		return;
	memset(&c, 0, sizeof c);
	daemon_init(&c.d, "tmpfs-daemon", "none");
	if (tmpfs_setup(dir_tmpfs) < 0) {
		struct row *r = row_new("tmpfs", "tmpfs data dir", "tmpfs", "-", NULL, false);
		row_fail(r, "no tmpfs (see the error above)");
		return;
	}
	/* the data dir and the baselines on the tmpfs; the mount point stays */
	pjoin(data, sizeof data, tmpfs_dir, "data");
	mkdir(data, 0755);
	rmdir(c.d.data);
	snprintf(c.d.data, sizeof c.d.data, "%s", data);
	pjoin(c.plain_dir, sizeof c.plain_dir, tmpfs_dir, "plain");
	mkdir(c.plain_dir, 0755);
	c.variant = "tmpfs";
	c.limits = true;
	view_ini(&c.d);
	cli_ini(&c.d);
	say("tmpfs: starting topicfs (data %s, %s)", c.d.data, tmpfs_how);
	if (daemon_start(&c.d, NULL) < 0) {
		struct row *r = row_new("daemon", "daemon start", "tmpfs", "-", NULL, false);
		row_fail(r, "topicfs did not start");
		goto out;
	}
	if (lim) {
		/* copy-through FUSE, its backing file on the tmpfs */
		if (opt.only & (W_APPEND | W_READ))
			ctfs_start(&c);
		run_append(&c);
		if (c.ready && (opt.only & W_READ))
			run_read(&c, "none");
		ctfs_stop();                    /* and its file: room for the view's */
		unlink(c.plain_path);           /* room for the view's copy */
		if (c.ready && (opt.only & W_VIEW))
			run_view(&c);
	}
	for (int k = 1; k < 3 && cli; k++)
		if (opt.codec_on[k])
			run_append_cli(&c, all_codecs[k]);
	daemon_stop(&c.d);
out:
	ctfs_stop();                    /* before the tmpfs that holds its file */
	rm_rf(c.d.dir);
	tmpfs_teardown();
}

/* ============================== output =================================== */

static void print_table(FILE *f)
{
	char m[32], lo[32], hi[32], b[32];
	fprintf(f, "\ntopicfs-bench %s: %ld cores, %s, %" PRId64 " MiB RAM, %s\n",
	        TOPICFS_VERSION, mach.cores, mach.cpu, mach.mem_mb, mach.kernel);
	fprintf(f, "data dir on %s (%s, %s%s), input %" PRId64 " MiB = %" PRId64
	        " lines, %d repeats\n", mach.fs_dev, mach.fs_type, mach.fs_mnt,
	        mach.rotational == 0 ? ", non-rotational" : mach.rotational == 1 ?
	        ", rotational" : "", opt.mb, input_lines, opt.repeat);
	fprintf(f, "ratio: 1.00 = as good as the baseline, below 1 = slower "
	        "(throughput topicfs/baseline, times baseline/topicfs)\n");
	fprintf(f, "limit = two-copy limit 1/(1/null FUSE + 1/plain file); copy-through "
	        "FUSE = that limit measured\n");
	fprintf(f, "variant = codec, or for codec none the data dir's fs type\n\n");
	fprintf(f, "%-28s %-12s %-6s %9s %9s %9s  %-10s %9s %6s\n", "workload", "variant",
	        "unit", "median", "min", "max", "baseline", "base med", "ratio");
	for (int i = 0; i < nrows; i++) {
		const struct row *r = &rows[i];
		double ratio = row_ratio(r);
		char rs[16];
		if (isnan(ratio))
			snprintf(rs, sizeof rs, "-");
		else
			snprintf(rs, sizeof rs, "%.2f", ratio);
		fprintf(f, "%-28s %-12s %-6s %9s %9s %9s  %-10s %9s %6s", r->label, r->variant,
		        r->unit, fmt_num(m, sizeof m, series_median(&r->val), r->unit),
		        fmt_num(lo, sizeof lo, series_min(&r->val), r->unit),
		        fmt_num(hi, sizeof hi, series_max(&r->val), r->unit),
		        r->base_name[0] ? r->base_name : "-",
		        fmt_num(b, sizeof b, series_median(&r->base), r->unit), rs);
		if (strcmp(r->status, "ok"))
			fprintf(f, "  %s: %s", r->status, r->note);
		fputc('\n', f);
	}
	fprintf(f, "\nnotes:\n");
	for (int i = 0; i < nrows; i++) {
		bool seen = strcmp(rows[i].status, "ok") != 0 || !rows[i].note[0];
		for (int j = 0; j < i && !seen; j++)
			seen = !strcmp(rows[j].note, rows[i].note);
		if (!seen)
			fprintf(f, "  %s (%s): %s\n", rows[i].label, rows[i].variant, rows[i].note);
	}
}

static FILE *open_out(const char *path)
{
	if (!strcmp(path, "-"))
		return stdout;
	FILE *f = fopen(path, "w");
	if (!f)
		complain("cannot write %s: %s", path, strerror(errno));
	return f;
}

static void csv_num(FILE *f, double v)
{
	if (isnan(v))
		fputc(',', f);
	else
		fprintf(f, ",%.6g", v);
}

static void csv_str(FILE *f, const char *s)
{
	fputs(",\"", f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

static void write_csv(const char *path)
{
	FILE *f = open_out(path);
	if (!f)
		return;
	fprintf(f, "id,workload,variant,unit,runs,median,min,max,baseline,baseline_median,"
	        "baseline_min,baseline_max,ratio,status,note\n");
	for (int i = 0; i < nrows; i++) {
		const struct row *r = &rows[i];
		fprintf(f, "%s", r->id);
		csv_str(f, r->label);
		csv_str(f, r->variant);
		csv_str(f, r->unit);
		fprintf(f, ",%d", r->val.n);
		csv_num(f, series_median(&r->val));
		csv_num(f, series_min(&r->val));
		csv_num(f, series_max(&r->val));
		csv_str(f, r->base_name);
		csv_num(f, series_median(&r->base));
		csv_num(f, series_min(&r->base));
		csv_num(f, series_max(&r->base));
		csv_num(f, row_ratio(r));
		csv_str(f, r->status);
		csv_str(f, r->note);
		fputc('\n', f);
	}
	if (f != stdout)
		fclose(f);
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", *s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

static void json_num(FILE *f, double v)
{
	if (isnan(v))
		fputs("null", f);
	else
		fprintf(f, "%.6g", v);
}

static void json_series(FILE *f, const struct series *s)
{
	fputc('[', f);
	for (int i = 0; i < s->n; i++) {
		if (i)
			fputc(',', f);
		json_num(f, s->v[i]);
	}
	fputc(']', f);
}

static void write_json(const char *path)
{
	FILE *f = open_out(path);
	if (!f)
		return;
	fprintf(f, "{\n  \"tool\": \"topicfs-bench\", \"version\": ");
	json_str(f, TOPICFS_VERSION);
	fprintf(f, ",\n  \"machine\": {\"cores\": %ld, \"cpu\": ", mach.cores);
	json_str(f, mach.cpu);
	fprintf(f, ", \"mem_mb\": %" PRId64 ", \"kernel\": ", mach.mem_mb);
	json_str(f, mach.kernel);
	fprintf(f, ", \"fs_dev\": ");
	json_str(f, mach.fs_dev);
	fprintf(f, ", \"fs_type\": ");
	json_str(f, mach.fs_type);
	fprintf(f, ", \"rotational\": %d},\n", mach.rotational);
	fprintf(f, "  \"params\": {\"mb\": %" PRId64 ", \"input_bytes\": %" PRId64
	        ", \"input_lines\": %" PRId64 ", \"small_records\": %" PRId64
	        ", \"latency_s\": %g, \"rate\": %d, \"restart_mb\": %" PRId64
	        ", \"repeat\": %d},\n", opt.mb, input_bytes, input_lines,
	        opt.small_records, opt.latency_s, opt.rate, opt.restart_mb, opt.repeat);
	fprintf(f, "  \"rows\": [\n");
	for (int i = 0; i < nrows; i++) {
		const struct row *r = &rows[i];
		fprintf(f, "    {\"id\": ");
		json_str(f, r->id);
		fprintf(f, ", \"workload\": ");
		json_str(f, r->label);
		fprintf(f, ", \"variant\": ");
		json_str(f, r->variant);
		fprintf(f, ", \"unit\": ");
		json_str(f, r->unit);
		fprintf(f, ", \"lower_is_better\": %s, \"median\": ", r->lower_better ? "true" : "false");
		json_num(f, series_median(&r->val));
		fprintf(f, ", \"min\": ");
		json_num(f, series_min(&r->val));
		fprintf(f, ", \"max\": ");
		json_num(f, series_max(&r->val));
		fprintf(f, ", \"runs\": ");
		json_series(f, &r->val);
		fprintf(f, ", \"baseline\": ");
		if (r->base_name[0])
			json_str(f, r->base_name);
		else
			fputs("null", f);
		fprintf(f, ", \"baseline_median\": ");
		json_num(f, series_median(&r->base));
		fprintf(f, ", \"baseline_runs\": ");
		json_series(f, &r->base);
		fprintf(f, ", \"ratio\": ");
		json_num(f, row_ratio(r));
		fprintf(f, ", \"status\": ");
		json_str(f, r->status);
		fprintf(f, ", \"note\": ");
		json_str(f, r->note);
		fprintf(f, "}%s\n", i + 1 < nrows ? "," : "");
	}
	fprintf(f, "  ]\n}\n");
	if (f != stdout)
		fclose(f);
}

/* ============================== main ===================================== */

static void usage(FILE *f)
{
	fprintf(f,
	"usage: topicfs-bench [options]\n"
	"Benchmark topicfs against plain files, null FUSE (the two-copy limit), raw\n"
	"sendfile, the lz4/zstd CLIs and a pipe, in one run; copy-through FUSE (a\n"
	"FUSE daemon doing only the two copies) measures that limit beside it.\n"
	"  --dir DIR          make the temp root under DIR (default $TMPDIR or /tmp);\n"
	"                     the baselines are plain files on the same file system;\n"
	"                     the codec-none append, read and view rows also run\n"
	"                     with the data dir on a tmpfs (mounted when root, else\n"
	"                     /dev/shm)\n"
	"  --mb N             MiB of ~100-byte lines for append/read/fetch (default 256)\n"
	"  --small N          records per small-writes case (default 50000)\n"
	"  --latency-s S      seconds per latency run (default 2)\n"
	"  --rate R           latency records/s (default 10000)\n"
	"  --restart-mb N     log size for the kill -9 restart test (default 1024,\n"
	"                     0 = skip; e.g. 4096 for a multi-GB log)\n"
	"  --repeat N         repeats of every workload (default 5)\n"
	"  --codecs LIST      comma-separated: none,lz4,zstd (default all)\n"
	"  --only LIST        workloads: append,small,read,view,fetch,kcat,latency,\n"
	"                     restart (append includes the lz4/zstd CLI rows, append\n"
	"                     and read the null FUSE, two-copy limit and copy-through\n"
	"                     FUSE rows; view = the bounded view of sealed segments,\n"
	"                     read again)\n"
	"  --tiny             CI sizes: --mb 4 --small 2000 --latency-s 0.3\n"
	"                     --restart-mb 8 --repeat 1\n"
	"  --csv FILE         also write the rows as CSV (- = stdout)\n"
	"  --json FILE        also write the rows as JSON (- = stdout)\n"
	"  --daemon PATH      the topicfs binary (default: next to this program)\n"
	"  --nullfs PATH      topicfs-nullfs (default: next to this program, then\n"
	"                     ../libexec/topicfs, then PATH)\n"
	"  --kcat PATH        kcat (default: kcat from PATH; skipped if missing)\n"
	"  --keep             keep the temp root\n"
	"  -q, --quiet        no progress lines on stderr\n"
	"  --help, --version\n"
	"Exit status: 0 ok, 1 a workload failed, 2 usage or setup error.\n");
}

static bool find_in_path(const char *name, char *out, size_t cap)
{
	const char *path = getenv("PATH");
	char *dup, *save = NULL;
	bool found = false;

	if (!path)
		return false;
	dup = strdup(path);
	for (char *d = strtok_r(dup, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
		snprintf(out, cap, "%s/%s", d, name);
		found = access(out, X_OK) == 0;
	}
	free(dup);
	return found;
}

/* A program of the project into out (PATH_MAX bytes; kept when already
 * set): the first of rel (paths relative to this program's directory:
 * the build tree, then installed places) that is executable, then name in
 * PATH; "" when none is. */
static void find_tool(const char *const *rel, size_t nrel, const char *name,
                      char *out, size_t cap)
{
	char self[PATH_MAX], dir[PATH_MAX], cand[PATH_MAX + 64];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);

	if (out[0])
		return;
	if (n > 0) {
		self[n] = 0;
		snprintf(dir, sizeof dir, "%s", self);
		char *slash = strrchr(dir, '/');
		if (slash)
			*slash = 0;
		for (size_t i = 0; i < nrel; i++) {
			snprintf(cand, sizeof cand, "%s/%s", dir, rel[i]);
			if (access(cand, X_OK) == 0 && realpath(cand, out))
				return;
		}
	}
	if (find_in_path(name, out, cap))
		return;
	out[0] = 0;
}

static void find_daemon(void)
{
	static const char *const rel[] = {
		"../daemon/topicfs", "topicfs", "../sbin/topicfs",
	};
	find_tool(rel, 3, "topicfs", opt.daemon, sizeof opt.daemon);
}

/* topicfs-nullfs: next to this program (the build tree), in
 * ../libexec/topicfs (installed), then PATH. */
static void find_nullfs(void)
{
	static const char *const rel[] = {
		"topicfs-nullfs", "../libexec/topicfs/topicfs-nullfs",
	};
	find_tool(rel, 2, "topicfs-nullfs", opt.nullfs, sizeof opt.nullfs);
}

static int64_t parse_pos(const char *s, const char *what)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || *end || v < 0) {
		complain("bad %s: %s", what, s);
		exit(2);
	}
	return v;
}

static void parse_args(int argc, char **argv)
{
	enum { O_DIR = 256, O_MB, O_SMALL, O_LAT, O_RATE, O_RESTART, O_REPEAT, O_CODECS,
	       O_ONLY, O_TINY, O_CSV, O_JSON, O_DAEMON, O_NULLFS, O_KCAT, O_KEEP, O_HELP,
	       O_VERSION };
	static const struct option lo[] = {
		{ "dir", required_argument, NULL, O_DIR },
		{ "mb", required_argument, NULL, O_MB },
		{ "small", required_argument, NULL, O_SMALL },
		{ "latency-s", required_argument, NULL, O_LAT },
		{ "rate", required_argument, NULL, O_RATE },
		{ "restart-mb", required_argument, NULL, O_RESTART },
		{ "repeat", required_argument, NULL, O_REPEAT },
		{ "codecs", required_argument, NULL, O_CODECS },
		{ "only", required_argument, NULL, O_ONLY },
		{ "tiny", no_argument, NULL, O_TINY },
		{ "csv", required_argument, NULL, O_CSV },
		{ "json", required_argument, NULL, O_JSON },
		{ "daemon", required_argument, NULL, O_DAEMON },
		{ "nullfs", required_argument, NULL, O_NULLFS },
		{ "kcat", required_argument, NULL, O_KCAT },
		{ "keep", no_argument, NULL, O_KEEP },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, O_HELP },
		{ "version", no_argument, NULL, O_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	const char *tmp = getenv("TMPDIR");
	int c;

	snprintf(opt.dir, sizeof opt.dir, "%s", tmp && *tmp ? tmp : "/tmp");
	opt.mb = 256;
	opt.small_records = 50000;
	opt.latency_s = 2;
	opt.rate = 10000;
	opt.restart_mb = 1024;
	opt.repeat = 5;
	opt.codec_on[0] = opt.codec_on[1] = opt.codec_on[2] = true;
	opt.only = W_ALL;
	while ((c = getopt_long(argc, argv, "q", lo, NULL)) != -1) {
		switch (c) {
		case O_DIR: snprintf(opt.dir, sizeof opt.dir, "%s", optarg); break;
		case O_MB: opt.mb = parse_pos(optarg, "--mb"); break;
		case O_SMALL: opt.small_records = parse_pos(optarg, "--small"); break;
		case O_LAT: opt.latency_s = atof(optarg); break;
		case O_RATE: opt.rate = (int)parse_pos(optarg, "--rate"); break;
		case O_RESTART: opt.restart_mb = parse_pos(optarg, "--restart-mb"); break;
		case O_REPEAT: opt.repeat = (int)parse_pos(optarg, "--repeat"); break;
		case O_CODECS: {
			char *dup = strdup(optarg), *save = NULL;
			opt.codec_on[0] = opt.codec_on[1] = opt.codec_on[2] = false;
			for (char *t = strtok_r(dup, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
				int k;
				for (k = 0; k < 3 && strcmp(t, all_codecs[k]); k++)
					;
				if (k == 3) {
					complain("unknown codec %s (none, lz4, zstd)", t);
					exit(2);
				}
				opt.codec_on[k] = true;
			}
			free(dup);
			break;
		}
		case O_ONLY: {
			char *dup = strdup(optarg), *save = NULL;
			opt.only = 0;
			for (char *t = strtok_r(dup, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
				size_t k;
				for (k = 0; k < sizeof workload_names / sizeof workload_names[0] &&
				            strcmp(t, workload_names[k].name); k++)
					;
				if (k == sizeof workload_names / sizeof workload_names[0]) {
					complain("unknown workload %s", t);
					exit(2);
				}
				opt.only |= workload_names[k].bit;
			}
			free(dup);
			break;
		}
		case O_TINY:
			opt.mb = 4;
			opt.small_records = 2000;
			opt.latency_s = 0.3;
			opt.restart_mb = 8;
			opt.repeat = 1;
			break;
		case O_CSV: opt.csv = optarg; break;
		case O_JSON: opt.json = optarg; break;
		case O_DAEMON: snprintf(opt.daemon, sizeof opt.daemon, "%s", optarg); break;
		case O_NULLFS: snprintf(opt.nullfs, sizeof opt.nullfs, "%s", optarg); break;
		case O_KCAT: snprintf(opt.kcat, sizeof opt.kcat, "%s", optarg); break;
		case O_KEEP: opt.keep = true; break;
		case 'q': opt.quiet = true; break;
		case O_HELP: usage(stdout); exit(0);
		case O_VERSION: printf("topicfs-bench %s\n", TOPICFS_VERSION); exit(0);
		default: usage(stderr); exit(2);
		}
	}
	if (optind != argc) {
		usage(stderr);
		exit(2);
	}
	if (opt.mb < 1 || opt.repeat < 1 || opt.repeat > MAX_REPEAT || opt.rate < 1 ||
	    opt.rate > 1000000 || opt.latency_s <= 0 || opt.small_records < 1 ||
	    opt.small_records > 20000000) {
		complain("a size is out of range (see --help)");
		exit(2);
	}
}

int main(int argc, char **argv)
{
	char tmpl[PATH_MAX];
	struct sigaction sa = { .sa_handler = on_fatal_signal };

	t_start_ns = now_ns();
	parse_args(argc, argv);
	find_daemon();
	find_nullfs();
	if (!opt.daemon[0] || access(opt.daemon, X_OK) != 0) {
		complain("topicfs daemon not found (use --daemon PATH)");
		return 2;
	}
	if (!opt.kcat[0] && !find_in_path("kcat", opt.kcat, sizeof opt.kcat))
		opt.kcat[0] = 0;
	signal(SIGPIPE, SIG_IGN);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	pjoin(tmpl, sizeof tmpl, opt.dir, "topicfs-bench-XXXXXX");
	if (!mkdtemp(tmpl)) {
		complain("mkdtemp %s: %s", tmpl, strerror(errno));
		return 2;
	}
	if (!realpath(tmpl, root))
		snprintf(root, sizeof root, "%s", tmpl);
	machine_probe(root);
	say("daemon %s, temp root %s (%s on %s)", opt.daemon, root, mach.fs_type, mach.fs_dev);
	if (make_input() < 0)
		goto out;
	if ((opt.only & W_KCAT) && opt.kcat[0])
		tls_setup();
	say("input: %" PRId64 " bytes, %" PRId64 " lines", input_bytes, input_lines);

	/* the transport baseline, for the codec-none append and read rows */
	if (opt.codec_on[0] && (opt.only & (W_APPEND | W_READ)) &&
	    fusefs_start(&nullfs, "nullmnt", "nullfs.log", NULL) < 0)
		complain("%s: no null FUSE rows", nullfs.why);
	run_tmpfs_set();
	for (int k = 0; k < 3; k++)
		if (opt.codec_on[k] && (opt.only & (W_APPEND | W_SMALL | W_READ | W_FETCH | W_KCAT |
		                                    (k == 0 ? W_VIEW : 0))))
			run_codec(all_codecs[k]);
	fusefs_stop(&nullfs);
	if (opt.only & W_LATENCY)
		run_latency();
	if ((opt.only & W_RESTART) && opt.restart_mb > 0)
		run_restart();
	{
		struct row *r = row_new("rss_peak", "daemon peak RSS, all runs", "all", "MiB",
		                        NULL, true);
		if (peak_rss_kb > 0)
			series_add(&r->val, (double)peak_rss_kb / 1024);
		snprintf(r->note, sizeof r->note, "VmHWM, largest over every daemon of the run");
	}
out:
	fusefs_stop(&nullfs);
	ctfs_stop();
	tmpfs_teardown();
	print_table(stdout);
	if (opt.csv)
		write_csv(opt.csv);
	if (opt.json)
		write_json(opt.json);
	if (!opt.keep)
		rm_rf(root);
	else
		say("kept %s", root);
	return failures ? 1 : 0;
}
