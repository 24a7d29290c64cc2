/*
 * topicfs-bench-groups.c - what consumer groups cost the engine (issue 13):
 * commit throughput, start-up replay of the offsets log, and memory per
 * idle group, measured with the storage API directly (no daemon, no TCP).
 *
 *   topicfs-bench-groups [--commits N] [--replay N,N,...] [--groups N,N,...]
 *                        DIR
 *
 * DIR is a scratch directory (created if missing); every store is made in a
 * fresh subdirectory of it and removed afterwards.  The store options are
 * the defaults (flush policy: write(2) only, no fsync, for the offsets log
 * and for the topics alike), so the figures compare CPU paths and the page
 * cache, not the disk.
 *
 * 1. Commit throughput.  One group, one topic of 100 partitions.
 *    groups_commit with 1 offset per call (N calls, default 100,000,
 *    cycling over the partitions) and with 100 offsets per call (N/10
 *    calls: every partition at once, as a consumer commits).  The baseline,
 *    in the same run: part_append of one record of the same key and value
 *    sizes as a commit record (key v1 26 bytes, value v3 24 bytes) per
 *    call, to the partitions of a second 100-partition topic in turn, and
 *    of 100 such records per call; a commit is one batch written with one
 *    pwrite(2), as an append is.  Reported: calls/s, offsets (records)/s,
 *    CPU microseconds per call (user + system of the whole process, the
 *    store's maintenance thread included: it compacts the offsets log
 *    while the commits run) and the ratio of commit to append rates.
 *
 * 2. Start-up replay.  For each count (default 10^4, 10^5, 10^6): a fresh
 *    store, 10 groups x 1 topic x 100 partitions = 1,000 keys, that many
 *    1-offset commits cycling over the keys (the store's maintenance
 *    thread compacting as it does in the daemon, about once a second),
 *    store_close.  Then store_open is timed on the offsets log exactly as
 *    close left it (a copy is put back before each of three tries, since
 *    an open compacts a log holding more than max(1 MiB, 4 x the live
 *    table); the median), and again on what such an open leaves (the next
 *    start; three tries, the median).  The page cache is warm.  The
 *    "0 commits" row is the same store with an empty offsets log: what
 *    opening the 100-partition topic costs alone.  Reported: the
 *    .consumer-offsets bytes and files at close, the compactions made
 *    while committing, both open times, and the log bytes after the first
 *    open.  Every key's offset is checked after each open.
 *
 * 3. Memory per idle group.  For each count (default 1,000, 10,000 and
 *    100,000), in a forked child (a clean heap): a store with max_groups
 *    raised to the count, one topic, then that many groups
 *    ("consumer-group-000001"...) with one committed offset each.
 *    Reported: the growth of the resident set (/proc/self/statm) and of
 *    the malloc heap in use (mallinfo2: uordblks + hblkhd) across the
 *    commits, per group, and the offsets log bytes per group.
 *
 * Output: markdown tables on stdout, memory first (its children fork from
 * a process whose heap the other runs have not grown yet), then
 * throughput, then replay; the machine's load average before and after
 * on the first and last lines.  Run it on a quiet machine when the
 * absolute figures matter (nice(1) otherwise); the ratios to the append
 * baseline are what carries over between machines.
 */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "logger.h"
#include "storage.h"

#define NPARTS     100          /* partitions of the bench topics */
#define NGROUPS_R  10           /* groups of the replay phase: x NPARTS keys */
#define MAX_COUNTS 8

static const char *base_dir;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU seconds of the whole process (every thread). */
static double cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void loadavg(char *out, size_t len)
{
	FILE *f = fopen("/proc/loadavg", "r");
	out[0] = '\0';
	if (f) {
		if (fgets(out, (int)len, f))
			out[strcspn(out, "\n")] = '\0';
		fclose(f);
	}
}

static int rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb; (void)flag; (void)ftw;
	return remove(path);
}

static void rm_tree(const char *dir)
{
	nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* A fresh subdirectory of base_dir. */
static void sub_dir(char *out, size_t len, const char *name)
{
	snprintf(out, len, "%s/%s", base_dir, name);
	rm_tree(out);
}

/* Bytes and files in <dir>/.consumer-offsets. */
static uint64_t offsets_bytes(const char *dir, int *files)
{
	char path[4096];
	uint64_t sum = 0;
	struct dirent *de;
	DIR *d;

	*files = 0;
	if (snprintf(path, sizeof(path), "%s/.consumer-offsets", dir) >= (int)sizeof(path))
		return 0;
	d = opendir(path);
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		char p[4096 + 256];
		struct stat sb;
		if (de->d_name[0] == '.')
			continue;
		if (snprintf(p, sizeof(p), "%s/%s", path, de->d_name) < (int)sizeof(p) &&
		    stat(p, &sb) == 0 && S_ISREG(sb.st_mode)) {
			sum += (uint64_t)sb.st_size;
			(*files)++;
		}
	}
	closedir(d);
	return sum;
}

static int open_store(const char *dir, size_t max_groups, struct store **st)
{
	struct store_options o = { .data_dir = dir, .max_groups = max_groups };
	int rc = store_open(&o, st);
	if (rc < 0)
		fprintf(stderr, "bench: store_open %s: %s\n", dir, strerror(-rc));
	return rc;
}

static int make_topic(struct store *st, const char *name, int32_t parts,
                      struct topic **out)
{
	struct topic_config cfg;
	int rc;

	topic_config_defaults(&cfg);
	cfg.partitions = parts;
	cfg.retention_ms = -1;
	rc = store_topic_create(st, name, &cfg, out);
	if (rc < 0)
		fprintf(stderr, "bench: create %s: %s\n", name, strerror(-rc));
	return rc;
}

/* ============================ 1. throughput ============================== */

#define TP_GROUP "bench-group"      /* key v1: 2 + 2+11 + 2+5 + 4 = 26 bytes */
#define TP_TOPIC "bench"
#define KEY_LEN  26
#define VAL_LEN  24                 /* value v3: 2 + 8 + 4 + 2 + 8 */

struct rate {
	double calls_s, items_s, cpu_us_call;
};

static int bench_commits(struct store *st, long calls, size_t per_call,
                         struct rate *r)
{
	struct groups *g = store_groups(st);
	struct group_commit c[NPARTS];
	double t0, c0, t1;
	int rc = 0;

	t0 = now_s();
	c0 = cpu_s();
	for (long i = 0; i < calls && rc == 0; i++) {
		for (size_t j = 0; j < per_call; j++) {
			int32_t p = per_call == 1 ? (int32_t)(i % NPARTS) : (int32_t)j;
			c[j] = (struct group_commit){ .topic = TP_TOPIC, .partition = p,
			                              .offset = i, .leader_epoch = -1 };
		}
		rc = groups_commit(g, TP_GROUP, c, per_call, 0);
		for (size_t j = 0; j < per_call && rc == 0; j++)
			if (c[j].error)
				rc = c[j].error;
	}
	t1 = now_s();
	if (rc < 0) {
		fprintf(stderr, "bench: groups_commit: %s\n", strerror(-rc));
		return rc;
	}
	r->calls_s = (double)calls / (t1 - t0);
	r->items_s = (double)calls * (double)per_call / (t1 - t0);
	r->cpu_us_call = (cpu_s() - c0) * 1e6 / (double)calls;
	return 0;
}

static int bench_appends(struct topic *t, long calls, size_t per_call,
                         struct rate *r)
{
	static char key[KEY_LEN], val[VAL_LEN];
	struct rec_in recs[NPARTS];
	double t0, c0, t1;
	int rc = 0;

	memset(key, 'k', sizeof(key));
	memset(val, 'v', sizeof(val));
	for (size_t j = 0; j < per_call; j++)
		recs[j] = (struct rec_in){ .key = key, .key_len = KEY_LEN, .value = val,
		                           .value_len = VAL_LEN, .timestamp = -1 };
	t0 = now_s();
	c0 = cpu_s();
	for (long i = 0; i < calls && rc == 0; i++)
		rc = part_append(topic_part(t, (int32_t)(i % NPARTS)), recs, per_call, NULL);
	t1 = now_s();
	if (rc < 0) {
		fprintf(stderr, "bench: part_append: %s\n", strerror(-rc));
		return rc;
	}
	r->calls_s = (double)calls / (t1 - t0);
	r->items_s = (double)calls * (double)per_call / (t1 - t0);
	r->cpu_us_call = (cpu_s() - c0) * 1e6 / (double)calls;
	return 0;
}

static int phase_throughput(long calls)
{
	struct rate c1, c100, a1, a100;
	struct groups_stats gs;
	struct store *st;
	struct topic *tc, *ta;
	char dir[4096];
	int rc;

	sub_dir(dir, sizeof(dir), "throughput");
	if ((rc = open_store(dir, 0, &st)) < 0)
		return rc;
	if ((rc = make_topic(st, TP_TOPIC, NPARTS, &tc)) < 0 ||
	    (rc = make_topic(st, "baseline", NPARTS, &ta)) < 0) {
		store_close(st);
		return rc;
	}
	/* interleaved: appends, commits, appends, commits */
	rc = bench_appends(ta, calls, 1, &a1);
	if (rc == 0)
		rc = bench_commits(st, calls, 1, &c1);
	if (rc == 0)
		rc = bench_appends(ta, calls / 10, NPARTS, &a100);
	if (rc == 0)
		rc = bench_commits(st, calls / 10, NPARTS, &c100);
	groups_stats_get(store_groups(st), &gs);
	topic_put(tc);
	topic_put(ta);
	store_close(st);
	rm_tree(dir);
	if (rc < 0)
		return rc;

	printf("\n### Commit throughput (one group, one topic of %d partitions; "
	       "write(2) only, no fsync)\n\n", NPARTS);
	printf("| operation | calls | calls/s | offsets or records/s | CPU us/call | commit/append |\n");
	printf("|---|---:|---:|---:|---:|---:|\n");
	printf("| part_append, 1 record (26 B key, 24 B value) per call | %ld | %.0f | %.0f | %.1f | |\n",
	       calls, a1.calls_s, a1.items_s, a1.cpu_us_call);
	printf("| groups_commit, 1 offset per call | %ld | %.0f | %.0f | %.1f | %.2f |\n",
	       calls, c1.calls_s, c1.items_s, c1.cpu_us_call, c1.calls_s / a1.calls_s);
	printf("| part_append, 100 records per call | %ld | %.0f | %.0f | %.1f | |\n",
	       calls / 10, a100.calls_s, a100.items_s, a100.cpu_us_call);
	printf("| groups_commit, 100 offsets per call | %ld | %.0f | %.0f | %.1f | %.2f |\n",
	       calls / 10, c100.calls_s, c100.items_s, c100.cpu_us_call,
	       c100.calls_s / a100.calls_s);
	printf("\nOffsets log after both commit runs: %" PRIu64 " bytes, %" PRIu64
	       " live offsets, %" PRIu64 " compactions (maintenance thread or commit path) "
	       "while committing.\n", gs.log_bytes, gs.offsets, gs.compactions);
	return 0;
}

/* ============================== 2. replay ================================ */

static void replay_key(long i, char *group, size_t glen, int32_t *part)
{
	long k = i % (NGROUPS_R * NPARTS);
	snprintf(group, glen, "replay-group-%02ld", k / NPARTS);
	*part = (int32_t)(k % NPARTS);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Copy the regular files of directory src into dst (made if missing; a
 * file of dst that src does not have is removed first): how the offsets
 * log is put back as it was at close before each timed open. */
static int copy_files(const char *src, const char *dst)
{
	static char buf[1 << 20];
	struct dirent *de;
	DIR *d;
	int rc = 0;

	rm_tree(dst);
	if (mkdir(dst, 0700) < 0)
		return -errno;
	if (!(d = opendir(src)))
		return -errno;
	while (rc == 0 && (de = readdir(d))) {
		char from[4096 + 256], to[4096 + 256];
		FILE *in, *out;
		size_t got;

		if (de->d_name[0] == '.')
			continue;
		if (snprintf(from, sizeof(from), "%s/%s", src, de->d_name) >= (int)sizeof(from) ||
		    snprintf(to, sizeof(to), "%s/%s", dst, de->d_name) >= (int)sizeof(to)) {
			rc = -ENAMETOOLONG;
			break;
		}
		in = fopen(from, "rb");
		out = in ? fopen(to, "wb") : NULL;
		if (!in || !out) {
			rc = -errno;
		} else {
			while ((got = fread(buf, 1, sizeof(buf), in)) > 0)
				if (fwrite(buf, 1, got, out) != got) {
					rc = -EIO;
					break;
				}
			if (ferror(in))
				rc = -EIO;
		}
		if (in)
			fclose(in);
		if (out && fclose(out) != 0 && rc == 0)
			rc = -EIO;
	}
	closedir(d);
	return rc;
}

/* Open the store in dir, check that every key holds the last offset of
 * n commits, close.  *open_ms gets the time of store_open alone, *gs the
 * groups' stats right after it. */
static int timed_open(const char *dir, long n, double *open_ms,
                      struct groups_stats *gs)
{
	struct store *st;
	char group[64];
	double t0 = now_s();
	int rc;

	if ((rc = open_store(dir, 0, &st)) < 0)
		return rc;
	*open_ms = (now_s() - t0) * 1e3;
	groups_stats_get(store_groups(st), gs);
	for (long key = 0; key < NGROUPS_R * NPARTS && key < n; key++) {
		struct group_offset o;
		long last = n - 1 - ((n - 1 - key) % (NGROUPS_R * NPARTS));
		int32_t part;

		replay_key(key, group, sizeof(group), &part);
		rc = groups_fetch(store_groups(st), group, TP_TOPIC, part, &o);
		if (rc < 0 || o.offset != last) {
			fprintf(stderr, "bench: replay: %s/%d: offset %" PRId64
			        " (rc %d), expected %ld\n", group, part,
			        rc < 0 ? (int64_t)-1 : o.offset, rc, last);
			if (rc == 0)
				group_offset_clear(&o);
			store_close(st);
			return -EIO;
		}
		group_offset_clear(&o);
	}
	store_close(st);
	return 0;
}

static int phase_replay(const long *counts, int ncounts)
{
	printf("\n### Start-up replay vs commits (%d groups x 1 topic x %d "
	       "partitions = %d keys, 1 offset per commit)\n\n",
	       NGROUPS_R, NPARTS, NGROUPS_R * NPARTS);
	printf("| commits | commit time s | compactions while committing | "
	       ".consumer-offsets at close | files | store_open ms, log as at close "
	       "(median of 3) | bytes after that open | store_open ms, next start "
	       "(median of 3) | live offsets |\n");
	printf("|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");

	for (int ci = -1; ci < ncounts; ci++) {
		long n = ci < 0 ? 0 : counts[ci];
		struct groups_stats gs, gs_first = { 0 };
		struct store *st;
		struct topic *t;
		char dir[4096], logdir[4096 + 32], saved[4096 + 32], group[64];
		double t0, commit_s, first_ms[3], next_ms[3];
		uint64_t bytes_close, compactions;
		int files, rc;

		sub_dir(dir, sizeof(dir), "replay");
		snprintf(logdir, sizeof(logdir), "%s/.consumer-offsets", dir);
		snprintf(saved, sizeof(saved), "%s/replay-saved-log", base_dir);
		if ((rc = open_store(dir, 0, &st)) < 0)
			return rc;
		if ((rc = make_topic(st, TP_TOPIC, NPARTS, &t)) < 0) {
			store_close(st);
			return rc;
		}
		topic_put(t);
		t0 = now_s();
		for (long i = 0; i < n && rc == 0; i++) {
			struct group_commit c = { .topic = TP_TOPIC, .offset = i,
			                          .leader_epoch = -1 };
			replay_key(i, group, sizeof(group), &c.partition);
			rc = groups_commit(store_groups(st), group, &c, 1, 0);
			if (rc == 0 && c.error)
				rc = c.error;
		}
		commit_s = now_s() - t0;
		groups_stats_get(store_groups(st), &gs);
		compactions = gs.compactions;
		store_close(st);
		if (rc < 0) {
			fprintf(stderr, "bench: groups_commit: %s\n", strerror(-rc));
			return rc;
		}
		bytes_close = offsets_bytes(dir, &files);
		if ((rc = copy_files(logdir, saved)) < 0) {
			fprintf(stderr, "bench: copy %s: %s\n", logdir, strerror(-rc));
			return rc;
		}

		/* the start after these commits: the log as close left it (put
		 * back before each try, since an open may compact it) */
		for (int k = 0; k < 3; k++) {
			if ((rc = copy_files(saved, logdir)) < 0) {
				fprintf(stderr, "bench: copy %s: %s\n", saved, strerror(-rc));
				return rc;
			}
			if ((rc = timed_open(dir, n, &first_ms[k], &gs)) < 0)
				return rc;
			if (k == 0)
				gs_first = gs;
		}
		/* the start after that one: whatever it left */
		for (int k = 0; k < 3; k++)
			if ((rc = timed_open(dir, n, &next_ms[k], &gs)) < 0)
				return rc;
		qsort(first_ms, 3, sizeof(first_ms[0]), cmp_double);
		qsort(next_ms, 3, sizeof(next_ms[0]), cmp_double);
		printf("| %ld | %.2f | %" PRIu64 " | %" PRIu64 " | %d | %.1f | %" PRIu64
		       " | %.1f | %" PRIu64 " |\n", n, commit_s, compactions, bytes_close,
		       files, first_ms[1], gs_first.log_bytes, next_ms[1], gs.offsets);
		fflush(stdout);
		rm_tree(dir);
		rm_tree(saved);
	}
	return 0;
}

/* ============================== 3. memory ================================ */

struct mem_result {
	int ok;
	double rss_delta, heap_delta, log_bytes, commit_s;
};

static long rss_bytes(void)
{
	long size = 0, res = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (f) {
		if (fscanf(f, "%ld %ld", &size, &res) != 2)
			res = 0;
		fclose(f);
	}
	return res * sysconf(_SC_PAGESIZE);
}

static double heap_bytes(void)
{
	struct mallinfo2 mi = mallinfo2();
	return (double)mi.uordblks + (double)mi.hblkhd;
}

/* In the child: fills *r. */
static void mem_child(long n, struct mem_result *r)
{
	struct store *st;
	struct topic *t;
	char dir[4096], group[64];
	double rss0, heap0, t0;
	int rc;

	memset(r, 0, sizeof(*r));
	snprintf(dir, sizeof(dir), "%s/memory-%ld", base_dir, n);
	rm_tree(dir);
	if (open_store(dir, (size_t)n, &st) < 0)
		return;
	if (make_topic(st, TP_TOPIC, 1, &t) < 0) {
		store_close(st);
		return;
	}
	topic_put(t);
	rss0 = (double)rss_bytes();
	heap0 = heap_bytes();
	t0 = now_s();
	rc = 0;
	for (long i = 0; i < n && rc == 0; i++) {
		struct group_commit c = { .topic = TP_TOPIC, .partition = 0,
		                          .offset = i, .leader_epoch = -1 };
		snprintf(group, sizeof(group), "consumer-group-%06ld", i + 1);
		rc = groups_commit(store_groups(st), group, &c, 1, 0);
		if (rc == 0 && c.error)
			rc = c.error;
	}
	r->commit_s = now_s() - t0;
	r->rss_delta = (double)rss_bytes() - rss0;
	r->heap_delta = heap_bytes() - heap0;
	if (rc < 0) {
		fprintf(stderr, "bench: groups_commit (group %ld): %s\n", n, strerror(-rc));
	} else {
		struct groups_stats gs;
		groups_stats_get(store_groups(st), &gs);
		r->log_bytes = (double)gs.log_bytes;
		r->ok = gs.groups == (uint64_t)n;
		if (!r->ok)
			fprintf(stderr, "bench: %" PRIu64 " groups, expected %ld\n",
			        gs.groups, n);
	}
	store_close(st);
	rm_tree(dir);
}

static int phase_memory(const long *counts, int ncounts)
{
	printf("\n### Memory per idle group (one committed offset each; "
	       "max_groups = the count)\n\n");
	printf("| groups | RSS growth | RSS bytes/group | heap in use growth | "
	       "heap bytes/group | offsets log bytes/group | commit time s |\n");
	printf("|---:|---:|---:|---:|---:|---:|---:|\n");
	for (int ci = 0; ci < ncounts; ci++) {
		long n = counts[ci];
		struct mem_result r;
		int fds[2], status;
		pid_t pid;

		fflush(stdout);
		if (pipe(fds) < 0) {
			perror("bench: pipe");
			return -errno;
		}
		pid = fork();
		if (pid < 0) {
			perror("bench: fork");
			return -errno;
		}
		if (pid == 0) {
			close(fds[0]);
			mem_child(n, &r);
			_exit(write(fds[1], &r, sizeof(r)) == (ssize_t)sizeof(r) ? 0 : 1);
		}
		close(fds[1]);
		memset(&r, 0, sizeof(r));
		if (read(fds[0], &r, sizeof(r)) != (ssize_t)sizeof(r))
			r.ok = 0;
		close(fds[0]);
		waitpid(pid, &status, 0);
		if (!r.ok) {
			fprintf(stderr, "bench: memory run of %ld groups failed\n", n);
			return -EIO;
		}
		printf("| %ld | %.2f MiB | %.0f | %.2f MiB | %.0f | %.0f | %.2f |\n", n,
		       r.rss_delta / 1048576.0, r.rss_delta / (double)n,
		       r.heap_delta / 1048576.0, r.heap_delta / (double)n,
		       r.log_bytes / (double)n, r.commit_s);
	}
	return 0;
}

/* ================================ main =================================== */

static int parse_counts(const char *s, long *out)
{
	int n = 0;
	while (*s && n < MAX_COUNTS) {
		char *end;
		long v = strtol(s, &end, 10);
		if (end == s || v <= 0)
			return -1;
		out[n++] = v;
		s = *end == ',' ? end + 1 : end;
		if (*end && *end != ',')
			return -1;
	}
	return *s ? -1 : n;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: topicfs-bench-groups [--commits N] [--replay N,N,...] "
	        "[--groups N,N,...] DIR\n"
	        "  --commits N   1-offset commits and 1-record appends of the "
	        "throughput run\n"
	        "                (N/10 calls of 100); default 100000\n"
	        "  --replay L    commit counts of the start-up run; default "
	        "10000,100000,1000000\n"
	        "  --groups L    idle group counts of the memory run; default "
	        "1000,10000,100000\n"
	        "DIR is a scratch directory (subdirectories are made and removed).\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "commits", required_argument, NULL, 'c' },
		{ "replay", required_argument, NULL, 'r' },
		{ "groups", required_argument, NULL, 'g' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	long calls = 100000;
	long replay[MAX_COUNTS] = { 10000, 100000, 1000000 };
	long groups[MAX_COUNTS] = { 1000, 10000, 100000 };
	int nreplay = 3, ngroups = 3, opt;
	char load[128];
	double t0;

	while ((opt = getopt_long(argc, argv, "c:r:g:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			calls = strtol(optarg, NULL, 10);
			if (calls < 10) {
				fprintf(stderr, "bench: --commits: at least 10\n");
				return 2;
			}
			break;
		case 'r':
			if ((nreplay = parse_counts(optarg, replay)) <= 0) {
				fprintf(stderr, "bench: --replay: a list of positive counts\n");
				return 2;
			}
			break;
		case 'g':
			if ((ngroups = parse_counts(optarg, groups)) <= 0) {
				fprintf(stderr, "bench: --groups: a list of positive counts\n");
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind + 1 != argc) {
		usage(stderr);
		return 2;
	}
	base_dir = argv[optind];
	if (mkdir(base_dir, 0700) < 0 && errno != EEXIST) {
		fprintf(stderr, "bench: mkdir %s: %s\n", base_dir, strerror(errno));
		return 1;
	}
	tfs_log_set_level(TFS_LOG_WARN);

	loadavg(load, sizeof(load));
	printf("topicfs-bench-groups: %ld online CPUs, load average at start %s\n",
	       sysconf(_SC_NPROCESSORS_ONLN), load);
	t0 = now_s();
	/* memory first: its children fork from a process that has not yet
	 * grown its heap with the other runs (a child's heap starts as a
	 * copy of the parent's) */
	if (phase_memory(groups, ngroups) < 0 ||
	    phase_throughput(calls) < 0 ||
	    phase_replay(replay, nreplay) < 0)
		return 1;
	loadavg(load, sizeof(load));
	printf("\nTotal %.0f s; load average at end %s\n", now_s() - t0, load);
	return 0;
}
