/*
 * topicfs-bench-storage.c - throughput of the log engine against a plain
 * file on the same file system, in the same run.
 *
 *   topicfs-bench-storage [--records N] [--size BYTES] [--dir DIR]
 *                         [--codec none|lz4|zstd]
 *
 * For each codec (none, lz4, zstd) it appends N text-like records of BYTES
 * bytes (default 1,000,000 of 100 bytes: realistic, varied log lines) with
 * part_append in calls of 100 records, then N/20 more in calls of one
 * record each, then reads the whole stream back with part_stream_read in
 * 128 KiB reads.  The baseline row writes the same rendered bytes (each
 * record + '\n') to a plain file with write(2), 100 lines per write (and
 * one line per write for the small-append column), and reads it back with
 * read(2) in 128 KiB reads.  Reads are warm (page cache), as are the
 * writes (no fsync on either side): the figures compare CPU paths.
 *
 * Output: one row per codec with append records/s, append MB/s (of record
 * payload), the ratio to the plain file, 1-record appends per second and
 * ratio, read MB/s (rendered bytes) and ratio, and bytes on disk per byte
 * of payload written.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "storage.h"

#define READ_CHUNK (128 << 10)
#define PER_CALL 100

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb; (void)flag; (void)ftw;
	return remove(path);
}

/* Record i: a web-server-like log line padded or cut to size bytes. */
static void make_record(char *out, size_t size, long i, uint32_t *seed)
{
	static const char *const methods[] = { "GET", "POST", "PUT", "DELETE" };
	static const char *const paths[] = { "/api/v1/orders", "/api/v1/users/42",
		"/static/app.js", "/health", "/api/v2/search?q=kafka", "/login" };
	static const int codes[] = { 200, 200, 200, 201, 304, 404, 500 };
	char line[512];
	*seed = *seed * 1103515245u + 12345u;
	uint32_t r = *seed >> 8;
	int n = snprintf(line, sizeof(line),
	                 "2026-11-22T06:%02ld:%02ld.%03ld 10.%u.%u.%u %s %s %d %ums req=%08lx ",
	                 (i / 60000) % 60, (i / 1000) % 60, i % 1000, r & 255,
	                 (r >> 8) & 255, (r >> 16) & 255, methods[r % 4], paths[r % 6],
	                 codes[r % 7], r % 900, (unsigned long)i * 2654435761u);
	while ((size_t)n < size && n < (int)sizeof(line) - 1) {
		line[n] = (char)('a' + (r + (uint32_t)n) % 26);
		n++;
	}
	memcpy(out, line, size < (size_t)n ? size : (size_t)n);
	if (size > (size_t)n)
		memset(out + n, 'x', size - (size_t)n);
}

struct result {
	const char *name;
	double rec_s, mb_s, small_rec_s, read_mb_s, disk_ratio;
};

static int bench_codec(const char *dir, int codec, const char *data, long n,
                       size_t size, long small_n, struct result *res)
{
	struct store_options o = { .data_dir = dir };
	struct store *st;
	struct topic_config cfg;
	struct topic *t;
	struct part *p;
	struct rec_in *recs;
	struct part_info pi;
	char topic[32];
	double t0, t1;
	int rc;

	rc = store_open(&o, &st);
	if (rc < 0) {
		fprintf(stderr, "bench: store_open %s: %s\n", dir, strerror(-rc));
		return rc;
	}
	topic_config_defaults(&cfg);
	cfg.codec = codec;
	cfg.retention_ms = -1;
	snprintf(topic, sizeof(topic), "bench-%s", codec_name(codec));
	rc = store_topic_create(st, topic, &cfg, &t);
	if (rc < 0) {
		fprintf(stderr, "bench: create %s: %s\n", topic, strerror(-rc));
		store_close(st);
		return rc;
	}
	p = topic_part(t, 0);
	recs = calloc(PER_CALL, sizeof(*recs));

	t0 = now_s();
	for (long i = 0; i < n && rc == 0; i += PER_CALL) {
		long k = n - i < PER_CALL ? n - i : PER_CALL;
		for (long j = 0; j < k; j++)
			recs[j] = (struct rec_in){ .key_len = -1, .value = data + (size_t)(i + j) * size,
			                           .value_len = (int32_t)size, .timestamp = -1 };
		rc = part_append(p, recs, (size_t)k, NULL);
	}
	t1 = now_s();
	res->rec_s = (double)n / (t1 - t0);
	res->mb_s = (double)n * (double)size / (t1 - t0) / 1e6;

	t0 = now_s();
	for (long i = 0; i < small_n && rc == 0; i++) {
		recs[0] = (struct rec_in){ .key_len = -1, .value = data + (size_t)(i % n) * size,
		                           .value_len = (int32_t)size, .timestamp = -1 };
		rc = part_append(p, recs, 1, NULL);
	}
	t1 = now_s();
	res->small_rec_s = (double)small_n / (t1 - t0);
	if (rc < 0)
		fprintf(stderr, "bench: append: %s\n", strerror(-rc));

	part_info(p, &pi);
	res->disk_ratio = (double)pi.bytes_on_disk / ((double)(n + small_n) * (double)size);
	char *buf = malloc(READ_CHUNK);
	int64_t pos = pi.stream_start, total = 0;
	t0 = now_s();
	while (rc == 0 && pos < pi.stream_end) {
		size_t got = 0;
		rc = part_stream_read(p, pos, buf, READ_CHUNK, &got);
		if (rc == 0 && got == 0)
			break;
		pos += (int64_t)got;
		total += (int64_t)got;
	}
	t1 = now_s();
	if (rc < 0)
		fprintf(stderr, "bench: read: %s\n", strerror(-rc));
	res->read_mb_s = (double)total / (t1 - t0) / 1e6;
	free(buf);
	free(recs);
	topic_put(t);
	store_close(st);
	return rc;
}

static int bench_plain(const char *dir, const char *data, long n, size_t size,
                       long small_n, struct result *res)
{
	char path[4300];
	size_t line = size + 1;
	char *wbuf = malloc(line * PER_CALL), *rbuf = malloc(READ_CHUNK);
	double t0, t1;
	int fd, rc = 0;

	snprintf(path, sizeof(path), "%s/plain.txt", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		fprintf(stderr, "bench: open %s: %s\n", path, strerror(errno));
		return -errno;
	}
	t0 = now_s();
	for (long i = 0; i < n; i += PER_CALL) {
		long k = n - i < PER_CALL ? n - i : PER_CALL;
		for (long j = 0; j < k; j++) {
			memcpy(wbuf + (size_t)j * line, data + (size_t)(i + j) * size, size);
			wbuf[(size_t)j * line + size] = '\n';
		}
		if (write(fd, wbuf, (size_t)k * line) != (ssize_t)((size_t)k * line)) {
			rc = -EIO;
			break;
		}
	}
	t1 = now_s();
	res->rec_s = (double)n / (t1 - t0);
	res->mb_s = (double)n * (double)size / (t1 - t0) / 1e6;
	t0 = now_s();
	for (long i = 0; i < small_n && rc == 0; i++) {
		memcpy(wbuf, data + (size_t)(i % n) * size, size);
		wbuf[size] = '\n';
		if (write(fd, wbuf, line) != (ssize_t)line)
			rc = -EIO;
	}
	t1 = now_s();
	res->small_rec_s = (double)small_n / (t1 - t0);
	res->disk_ratio = (double)(n + small_n) * (double)line / ((double)(n + small_n) * (double)size);
	lseek(fd, 0, SEEK_SET);
	int64_t total = 0;
	ssize_t got;
	t0 = now_s();
	while ((got = read(fd, rbuf, READ_CHUNK)) > 0)
		total += got;
	t1 = now_s();
	res->read_mb_s = (double)total / (t1 - t0) / 1e6;
	close(fd);
	unlink(path);
	free(wbuf);
	free(rbuf);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "records", required_argument, NULL, 'n' },
		{ "size", required_argument, NULL, 's' },
		{ "dir", required_argument, NULL, 'd' },
		{ "codec", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	long n = 1000000;
	size_t size = 100;
	const char *base = NULL, *only = NULL;
	char dir[4200];
	int c;

	while ((c = getopt_long(argc, argv, "n:s:d:h", opts, NULL)) != -1) {
		switch (c) {
		case 'n': n = atol(optarg); break;
		case 's': size = (size_t)atol(optarg); break;
		case 'd': base = optarg; break;
		case 'c': only = optarg; break;
		default:
			fprintf(stderr, "usage: topicfs-bench-storage [--records N] "
			        "[--size BYTES] [--dir DIR] [--codec none|lz4|zstd]\n");
			return c == 'h' ? 0 : 2;
		}
	}
	if (n < 1 || size < 1 || size > (1 << 20)) {
		fprintf(stderr, "bench: bad --records or --size\n");
		return 2;
	}
	if (!base)
		base = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	snprintf(dir, sizeof(dir), "%s/topicfs-bench.XXXXXX", base);
	if (!mkdtemp(dir)) {
		fprintf(stderr, "bench: mkdtemp %s: %s\n", dir, strerror(errno));
		return 1;
	}
	char *data = malloc((size_t)n * size);
	if (!data) {
		fprintf(stderr, "bench: out of memory\n");
		return 1;
	}
	uint32_t seed = 1;
	for (long i = 0; i < n; i++)
		make_record(data + (size_t)i * size, size, i, &seed);
	long small_n = n / 20 > 0 ? n / 20 : 1;

	struct result rows[4] = { { .name = "plain file" }, { .name = "none" },
	                          { .name = "lz4" }, { .name = "zstd" } };
	static const int codecs[] = { CODEC_NONE, CODEC_LZ4, CODEC_ZSTD };
	int rc = bench_plain(dir, data, n, size, small_n, &rows[0]);
	bool ran[4] = { true, false, false, false };
	for (int i = 0; i < 3 && rc == 0; i++) {
		if (only && strcmp(only, codec_name(codecs[i])))
			continue;
		rc = bench_codec(dir, codecs[i], data, n, size, small_n, &rows[i + 1]);
		ran[i + 1] = true;
	}

	printf("topicfs-bench-storage: %ld records of %zu bytes in appends of %d, "
	       "%ld single-record appends, reads of %d KiB, dir %s\n",
	       n, size, PER_CALL, small_n, READ_CHUNK >> 10, base);
	printf("%-10s %12s %10s %6s %14s %6s %10s %6s %10s\n", "codec", "append rec/s",
	       "append MB/s", "ratio", "1-rec appends/s", "ratio", "read MB/s", "ratio",
	       "disk/byte");
	for (int i = 0; i < 4; i++) {
		const struct result *r = &rows[i], *b = &rows[0];
		if (!ran[i])
			continue;
		printf("%-10s %12.0f %10.1f %6.2f %14.0f %6.2f %10.1f %6.2f %10.3f\n", r->name,
		       r->rec_s, r->mb_s, r->mb_s / b->mb_s, r->small_rec_s,
		       r->small_rec_s / b->small_rec_s, r->read_mb_s,
		       r->read_mb_s / b->read_mb_s, r->disk_ratio);
	}
	nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	free(data);
	return rc < 0 ? 1 : 0;
}
