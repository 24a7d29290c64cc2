/*
 * part.c - one partition: group-commit appends, rolls, flushes, reads,
 * fetch slices, retention and crash recovery of its segments.
 *
 * STATE.  A partition is a list of segments sorted by base offset; the last
 * one is active (appended to), the others are sealed.  Segments are
 * contiguous in offsets (a segment's base is the previous one's next
 * offset) and in the stream (its stream base is the previous one's stream
 * end).  The published end (next_offset, stream_end, each segment's size)
 * only moves forward, under part.lock, after the bytes are in the file:
 * readers snapshot it under the lock and never look past it, so they see
 * whole batches only.
 *
 * WRITER TOKEN.  Exactly one thread at a time writes, rolls, flushes, runs
 * retention or deletes files: the holder of part.writing (taken under
 * part.qlock).  Fields marked W in engine.h belong to it; it may read
 * the P fields (which only it changes) without part.lock.
 *
 * GROUP COMMIT.  part_append() queues a request (its records, not copied
 * when the caller waits) on part.qhead.  A caller that finds no writer
 * takes the token and becomes the leader: it takes the whole queue and
 * writes it as units.  A unit is a run of consecutive requests whose
 * estimated size fits batch_bytes (a single larger request is a unit of
 * its own, encoded as several batches); it is encoded (batch_encode, the
 * topic codec) and written with ONE pwrite at the end of the active
 * segment, so the records of one call are contiguous and never interleave
 * with another call's.  Then the leader updates the indexes, publishes,
 * broadcasts part.cond, calls the append hook, and completes the requests
 * of that unit (followers wait on part.qcond).  A follower whose request
 * is still queued when the token is released becomes the next leader.
 *
 * A failed write (ENOSPC, EIO) is not published: the .log is truncated back
 * to the published size, and the error goes to every request of that unit
 * and of the rest of that leader's round (none of them is acknowledged).
 * Published data is never touched again, so later appends work once space
 * returns.
 *
 * LINGER.  With linger_ms > 0, part_append copies the records into the
 * queue and returns 0 at once (first_offset = -1: not known yet).  They
 * are written by the maintenance thread once the oldest queued request is
 * linger_ms old (plus at most one maintenance tick, 10 ms), or at once by
 * the caller when the queue holds batch_bytes.  part_flush and store_close
 * write them too.  A write error of a lingered request cannot reach its
 * caller: it is logged.  This is the documented window: up to linger_ms +
 * 10 ms of acknowledged records can be lost to a kill -9.
 *
 * ROLL before a unit when the active segment is non-empty and: size + unit
 * > segment_bytes (or > 2 GiB - 1), it is older than segment_ms (wall clock
 * since its first append; the maintenance thread also rolls an idle one),
 * a relative offset would pass INT32_MAX, or an index would pass 10 MiB.
 *
 * FLUSH.  flush_messages (by the leader after a unit), flush_ms (by the
 * maintenance thread) and part_flush: fdatasync every segment written
 * since the last flush and its index files, and the directory when files
 * were created.  Only then does the recovery point advance to the
 * next_offset the flush started from.  A failed fsync is returned and
 * freezes the recovery point for the life of the process (the kernel may
 * have dropped the dirty pages, so a later successful fsync proves
 * nothing: the next start rescans from the old recovery point).  So that
 * nothing is acknowledged that a restart could lose, the failure is
 * sticky: from then on every part_flush and every append of that
 * partition fails with -EIO (nothing more is written) until the process
 * restarts; reads go on working.
 *
 * RETENTION deletes whole sealed segments from the front (never the
 * active one): by bytes like Kafka (while the partition minus the front
 * segment is still >= retention_bytes) and by time (the front segment's
 * newest timestamp is older than retention_ms).  The new stream start is
 * written to <dir>/stream-start ("base_offset stream_pos\n", atomically)
 * before the files are unlinked; segments in use by readers or fetch
 * slices keep their fds until released.
 *
 * RECOVERY (part_load).  Leftover temp files are deleted, .log files whose
 * name is not 20 digits are ignored with a log line, index files without a
 * .log are deleted.  A segment wholly below the recovery point (and, after
 * a clean shutdown, every segment) is trusted: its index files are checked
 * (seg_check_index_file) and rebuilt from the log if they fail, and its
 * tail after the last .sindex entry is decoded to learn its end.  From the
 * segment holding the recovery point to the end, every batch is scanned
 * (bounds, magic, CRC, offsets contiguous from the file's base), the .log
 * is truncated at the first torn or invalid batch, later segments are
 * deleted, and the three index files are rebuilt.  Scanned segments are
 * then fsynced and the recovery point moves to the end.
 * Documented choice: after a clean shutdown the active segment is still
 * decoded from its last .sindex entry to the end; a bad batch there sends
 * that segment through full recovery (truncation), so a clean marker never
 * makes a corrupt tail readable.  A bad batch in a trusted sealed segment is
 * never truncated (that would cut acknowledged data): it is logged, and
 * readers get -EBADMSG there.
 * The first segment's stream base comes from its .sindex; if that must be
 * rebuilt, from <dir>/stream-start when it names that segment, else 0 with
 * a log line.
 *
 * READS (part_stream_read) find the segment by stream position (binary
 * search on stream_end), the .sindex entry <= pos, then decode batches
 * forward (batch_decode checks the CRC: a corrupt batch is -EBADMSG, never
 * its bytes), rendering what overlaps the request straight into the
 * caller's buffer.  The last partially consumed batch is kept decoded in
 * part.cache (its bytes in the batch reader's buffer, which the cache takes
 * over instead of copying, plus a resume hint), so sequential reads decode
 * each batch once and copy each byte once.
 *
 * FETCH SLICES (part_fetch_slice) are sent with sendfile, unread, so the
 * CRC of every batch in a slice is checked first, once per byte: each
 * segment remembers a verified range (slice_verify).  A slice stops before
 * a bad batch; a fetch starting at one gets -EBADMSG.
 *
 * Thread-safety: every exported function is thread-safe.
 */
#include "engine.h"
#include "batch_internal.h"
#include "sysio.h"
#include "stats.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define READ_CACHE_MAX (8 << 20)     /* largest rendered batch kept decoded */

static size_t part_max_decomp(const struct part *p)
{
	return p->topic->st->max_decomp;
}

static size_t part_max_batch(const struct part *p)
{
	size_t m = part_max_decomp(p) + (1 << 20);
	return m > INT32_MAX ? INT32_MAX : m;
}

static int part_framing(struct part *p)
{
	return p->topic->framing;
}

/* ============================== lifecycle ================================ */

int part_init(struct part *p, struct topic *t, int32_t index, const char *dir)
{
	pthread_condattr_t ca;

	memset(p, 0, sizeof(*p));
	p->topic = t;
	p->index = index;
	p->dir = strdup(dir);
	if (!p->dir)
		return -ENOMEM;
	pthread_mutex_init(&p->lock, NULL);
	pthread_mutex_init(&p->qlock, NULL);
	pthread_mutex_init(&p->cache_mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_cond_init(&p->qcond, NULL);
	p->cache.seg_base = -1;
	return 0;
}

void part_destroy(struct part *p)
{
	if (!p->dir)
		return;
	for (size_t i = 0; i < p->nsegs; i++)
		seg_unref(p->segs[i]);
	free(p->segs);
	while (p->qhead) {
		struct pending *r = p->qhead;
		p->qhead = r->next;
		if (r->owned) {
			free(r->batch);
			free(r);
		}
	}
	if (p->cache.seg_base >= 0)
		batch_decoded_free(&p->cache.dec);
	buf_free(&p->cache.bytes);
	pthread_mutex_destroy(&p->lock);
	pthread_mutex_destroy(&p->qlock);
	pthread_mutex_destroy(&p->cache_mu);
	pthread_cond_destroy(&p->cond);
	pthread_cond_destroy(&p->qcond);
	free(p->dir);
	p->dir = NULL;
}

static int segs_push(struct part *p, struct seg *s)
{
	if (p->nsegs == p->segs_cap) {
		size_t cap = p->segs_cap ? p->segs_cap * 2 : 8;
		struct seg **n = realloc(p->segs, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		p->segs = n;
		p->segs_cap = cap;
	}
	p->segs[p->nsegs++] = s;
	return 0;
}

static struct seg *part_active(struct part *p)
{
	return p->segs[p->nsegs - 1];
}

/* Take the writer token.  Returns false when the partition is being
 * deleted (the token is taken all the same: release it). */
static bool writer_acquire(struct part *p)
{
	bool alive;

	pthread_mutex_lock(&p->qlock);
	while (p->writing)
		pthread_cond_wait(&p->qcond, &p->qlock);
	p->writing = true;
	alive = !p->qdead;
	pthread_mutex_unlock(&p->qlock);
	return alive;
}

static void writer_release(struct part *p)
{
	pthread_mutex_lock(&p->qlock);
	p->writing = false;
	pthread_cond_broadcast(&p->qcond);
	pthread_mutex_unlock(&p->qlock);
}

static char *part_file(const struct part *p, const char *name)
{
	size_t n = strlen(p->dir) + strlen(name) + 2;
	char *s = malloc(n);
	if (s)
		snprintf(s, n, "%s/%s", p->dir, name);
	return s;
}

/* Remove every file of a directory (not recursive). */
static void remove_dir_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		char path[PATH_MAX];
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		sio_unlink(path);
	}
	closedir(d);
}

int part_create_files(struct part *p)
{
	struct topic_config cfg;
	struct seg *s;
	int rc;

	topic_cfg(p->topic, &cfg);
	if (sysio->mkdir(p->dir, 0755) < 0) {
		rc = -errno;
		if (rc != -EEXIST) {
			sio_log("mkdir", p->dir, rc);
			return rc;
		}
		tfs_log(TFS_LOG_WARN, "storage: %s: left over from an earlier topic, "
		        "emptying it", p->dir);
		remove_dir_files(p->dir);
	}
	rc = seg_create(p->dir, 0, 0, true, &s);
	if (rc < 0)
		return rc;
	s->ib.interval = cfg.index_interval_bytes;
	rc = sio_fsync_dir(p->dir);
	if (rc < 0)
		goto drop_seg;
	rc = segs_push(p, s);
	if (rc < 0)
		goto drop_seg;
	p->last_append_ms = tfs_now_ms();
	return 0;

drop_seg:
	seg_unlink_files(s);
	seg_unref(s);
	return rc;
}

/* ========================== stream-start file ============================ */

static int stream_start_write(struct part *p, int64_t base, int64_t pos)
{
	char line[64], *path = part_file(p, "stream-start");
	int n = snprintf(line, sizeof(line), "%" PRId64 " %" PRId64 "\n", base, pos);
	int rc;

	if (!path)
		return -ENOMEM;
	rc = sio_write_atomic(path, line, (size_t)n);
	free(path);
	return rc;
}

static void stream_start_read(struct part *p, int64_t *base, int64_t *pos)
{
	char *path = part_file(p, "stream-start"), *data = NULL;
	size_t len;
	long long b, s;

	*base = *pos = -1;
	if (!path)
		return;
	if (sio_read_small(path, 256, &data, &len) == 0) {
		if (sscanf(data, "%lld %lld", &b, &s) == 2 && b >= 0 && s >= 0) {
			*base = b;
			*pos = s;
		} else {
			tfs_log(TFS_LOG_WARN, "storage: %s: unreadable, ignored", path);
		}
		free(data);
	}
	free(path);
}

/* ================================ recovery =============================== */

static bool parse_seg_name(const char *name, const char *ext, int64_t *base)
{
	size_t n = strlen(name), el = strlen(ext);
	int64_t v = 0;

	if (n != 20 + el || strcmp(name + 20, ext) != 0)
		return false;
	for (int i = 0; i < 20; i++) {
		if (name[i] < '0' || name[i] > '9')
			return false;
		if (v > (INT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (name[i] - '0');
	}
	*base = v;
	return true;
}

static bool has_suffix(const char *s, const char *suf)
{
	size_t n = strlen(s), m = strlen(suf);
	return n >= m && strcmp(s + n - m, suf) == 0;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

/* List the directory: bases of the .log files (sorted); remove temp files
 * and orphan index files. */
static int list_segments(struct part *p, int64_t **out, size_t *count)
{
	DIR *d = opendir(p->dir);
	struct dirent *de;
	int64_t *bases = NULL, base;
	size_t n = 0, cap = 0;
	int rc = 0;

	if (!d) {
		rc = -errno;
		sio_log("opendir", p->dir, rc);
		return rc;
	}
	while ((de = readdir(d))) {
		const char *name = de->d_name;
		char path[PATH_MAX];

		if (name[0] == '.' || !strcmp(name, "stream-start"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", p->dir, name);
		if (has_suffix(name, ".tmp") || has_suffix(name, ".deleted") ||
		    has_suffix(name, ".cleaned") || has_suffix(name, ".swap")) {
			tfs_log(TFS_LOG_WARN, "storage: %s: leftover temp file, removed",
			        path);
			sio_unlink(path);
			continue;
		}
		if (parse_seg_name(name, ".log", &base)) {
			if (n == cap) {
				size_t nc = cap ? cap * 2 : 16;
				int64_t *nb = realloc(bases, nc * sizeof(*nb));
				if (!nb) {
					rc = -ENOMEM;
					goto out;
				}
				bases = nb;
				cap = nc;
			}
			bases[n++] = base;
			continue;
		}
		if (has_suffix(name, ".log") || (!has_suffix(name, ".index") &&
		    !has_suffix(name, ".timeindex") && !has_suffix(name, ".sindex")))
			tfs_log(TFS_LOG_WARN, "storage: %s: unexpected file, ignored", path);
	}
	if (n)
		qsort(bases, n, sizeof(*bases), cmp_i64);
	/* second pass: index files whose .log is gone */
	rewinddir(d);
	while ((de = readdir(d))) {
		bool orphan = false;
		for (int k = 0; k < IDX_KINDS; k++) {
			if (parse_seg_name(de->d_name, idx_ext[k], &base) &&
			    (!n || !bsearch(&base, bases, n, sizeof(*bases), cmp_i64)))
				orphan = true;
		}
		if (orphan) {
			char path[PATH_MAX];
			snprintf(path, sizeof(path), "%s/%s", p->dir, de->d_name);
			tfs_log(TFS_LOG_WARN, "storage: %s: index without a log, removed",
			        path);
			sio_unlink(path);
		}
	}
	*out = bases;
	*count = n;
	bases = NULL;
out:
	free(bases);
	closedir(d);
	return rc;
}

/* Headers only: largest MaxTimestamp (and the last offset of its batch)
 * from file position from to limit. */
static int scan_max_ts(struct seg *s, int64_t from, int64_t limit,
                       size_t max_batch, int64_t *max_ts, int64_t *max_off)
{
	struct batch_reader br;
	const uint8_t *b;
	size_t len;
	struct batch_header h;
	int rc;

	br_init(&br, s, from, limit);
	while ((rc = br_next(&br, &b, &len, &h, max_batch)) == 1) {
		if (h.max_timestamp > *max_ts) {
			*max_ts = h.max_timestamp;
			*max_off = h.base_offset + h.last_offset_delta;
		}
	}
	br_free(&br);
	return rc;
}

/* The first batch's base timestamp, for segment_ms (now if implausible). */
static int64_t first_batch_ts(struct seg *s, size_t max_batch)
{
	struct batch_reader br;
	const uint8_t *b;
	size_t len;
	struct batch_header h;
	int64_t now = tfs_now_ms(), ts = now;

	br_init(&br, s, 0, s->size);
	if (br_next(&br, &b, &len, &h, max_batch) == 1 &&
	    h.base_timestamp > 0 && h.base_timestamp <= now)
		ts = h.base_timestamp;
	br_free(&br);
	return ts;
}

/* Full scan of a segment from position 0: rebuild its indexes, truncate
 * the .log at the first invalid batch when allowed.  Returns 1 when the
 * file was truncated, 0 when it was whole, or -errno. */
static int seg_recover(struct part *p, struct seg *s, int64_t stream_base,
                       bool may_truncate, bool keep_builder, int32_t interval)
{
	struct idx_builder ib;
	struct scan_result res;
	int rc, truncated = 0;

	tfs_stat_add(TFS_STAT_RECOVERIES, 1);
	idxb_init(&ib, interval);
	rc = seg_scan(s, 0, stream_base, s->base_offset, s->size, part_framing(p),
	              part_max_decomp(p), &ib, &res);
	if (rc < 0)
		goto free_ib;
	if (res.stop != 0 && may_truncate) {
		tfs_log(TFS_LOG_WARN, "storage: %s.log: %s batch at position %" PRId64
		        ", truncating %" PRId64 " bytes", s->path,
		        res.stop == -EAGAIN ? "torn" : "invalid", res.valid_size,
		        s->size - res.valid_size);
		char *lp = seg_file_path(s, ".log");
		rc = lp ? sio_ftruncate(s->fd, res.valid_size, lp) : -ENOMEM;
		free(lp);
		if (rc < 0)
			goto free_ib;
		s->size = res.valid_size;
		truncated = 1;
		tfs_stat_add(TFS_STAT_TRUNCATIONS, 1);
	} else if (res.stop != 0) {
		tfs_log(TFS_LOG_WARN, "storage: %s.log: corrupt batch at position %"
		        PRId64 " in a flushed segment: left in place, reads there fail",
		        s->path, res.valid_size);
	}
	rc = seg_write_index_files(s, &ib, true);
	if (rc == -ENOSPC || rc == -EDQUOT) {
		/* a full disk must not stop the start: index files are a cache
		 * of the log.  The stale ones go (never trusted); readers of a
		 * sealed segment scan, the active one keeps its entries in
		 * memory and writes them at seal (ix_dirty) */
		tfs_log(TFS_LOG_WARN, "storage: %s: no space for index files, "
		        "removed until they can be rebuilt", s->path);
		for (int k = 0; k < IDX_KINDS; k++) {
			char *ip = seg_file_path(s, idx_ext[k]);
			if (ip)
				sio_unlink(ip);
			free(ip);
		}
		s->ix_dirty = true;
		rc = 0;
	}
	if (rc < 0)
		goto free_ib;
	s->stream_base = stream_base;
	s->stream_end = res.stream_end;
	s->next_offset = res.next_offset;
	s->max_ts = ib.max_ts;
	s->roll_start_ms = s->size > 0 ? first_batch_ts(s, part_max_batch(p)) : 0;
	if (keep_builder) {
		idxb_free(&s->ib);
		s->ib = ib;
		return truncated;
	}
	rc = truncated;
free_ib:
	idxb_free(&ib);
	return rc;
}

/* Load a trusted segment from its index files.  -EBADMSG when an index
 * must be rebuilt or the tail does not decode. */
static int seg_load_trusted(struct part *p, struct seg *s, int64_t expect_base,
                            bool active, int32_t interval)
{
	struct buf ent[IDX_KINDS] = { { 0 } };
	struct scan_result res;
	int64_t sidx_pos = 0, sidx_stream, sidx_rel = 0, idx_pos = 0;
	int64_t max_ts = -1, max_off = -1, last_time_ts = -1;
	size_t n;
	int rc;

	for (int k = 0; k < IDX_KINDS; k++) {
		rc = seg_check_index_file(s, k, s->size, expect_base, &ent[k]);
		if (rc < 0)
			goto out;
	}
	if (s->size == 0) {
		if (expect_base < 0) {
			rc = -EBADMSG;      /* nothing tells the stream base */
			goto out;
		}
		s->stream_base = s->stream_end = expect_base;
		s->next_offset = s->base_offset;
		s->max_ts = -1;
		s->roll_start_ms = 0;
		idxb_init(&s->ib, interval);
		goto keep;
	}
	n = ent[IDX_STREAM].len / 16;
	const uint8_t *first = ent[IDX_STREAM].data, *last = first + (n - 1) * 16;
	s->stream_base = (int64_t)be64_get(first);
	sidx_stream = (int64_t)be64_get(last);
	sidx_rel = (int32_t)be32_get(last + 8);
	sidx_pos = (int32_t)be32_get(last + 12);
	rc = seg_scan(s, sidx_pos, sidx_stream, s->base_offset + sidx_rel, s->size,
	              part_framing(p), part_max_decomp(p), NULL, &res);
	if (rc < 0)
		goto out;
	if (res.stop != 0 || res.valid_size != s->size) {
		tfs_log(TFS_LOG_WARN, "storage: %s.log: tail after position %" PRId64
		        " does not decode", s->path, sidx_pos);
		rc = -EBADMSG;
		goto out;
	}
	s->stream_end = res.stream_end;
	s->next_offset = res.next_offset;
	/* no entry may name an offset past the end */
	for (int k = IDX_OFFSET; k <= IDX_TIME; k++) {
		size_t es = idx_entry_size[k];
		n = ent[k].len / es;
		if (n && s->base_offset +
		         (int32_t)be32_get(ent[k].data + (n - 1) * es + (k == IDX_TIME ? 8 : 0))
		         >= s->next_offset) {
			tfs_log(TFS_LOG_WARN, "storage: %s%s: names an offset past the "
			        "end of the log, rebuilding", s->path, idx_ext[k]);
			rc = -EBADMSG;
			goto out;
		}
	}
	/* max timestamp: the last .timeindex entry holds the max up to the
	 * last cadence point (the last .index entry); scan headers after it */
	n = ent[IDX_TIME].len / 12;
	if (n) {
		const uint8_t *e = ent[IDX_TIME].data + (n - 1) * 12;
		last_time_ts = max_ts = (int64_t)be64_get(e);
		max_off = s->base_offset + (int32_t)be32_get(e + 8);
	}
	n = ent[IDX_OFFSET].len / 8;
	if (n)
		idx_pos = (int32_t)be32_get(ent[IDX_OFFSET].data + (n - 1) * 8 + 4);
	rc = scan_max_ts(s, idx_pos, s->size, part_max_batch(p), &max_ts, &max_off);
	if (rc < 0) {
		if (rc == -EAGAIN)
			rc = -EBADMSG;
		goto out;
	}
	s->max_ts = max_ts;
	s->roll_start_ms = active ? first_batch_ts(s, part_max_batch(p)) : 0;
	idxb_init(&s->ib, interval);
	s->ib.bytes_since_index = s->size - idx_pos;
	s->ib.stream_since_sindex = s->stream_end - sidx_stream;
	s->ib.last_time_ts = last_time_ts;
	s->ib.max_ts = max_ts;
	s->ib.max_ts_last_off = max_off;
	s->ib.nbatches = 1;
keep:
	if (active) {
		for (int k = 0; k < IDX_KINDS; k++) {
			s->ib.ent[k] = ent[k];
			memset(&ent[k], 0, sizeof(ent[k]));
		}
	}
	rc = 0;
out:
	for (int k = 0; k < IDX_KINDS; k++)
		buf_free(&ent[k]);
	return rc;
}

int part_load(struct part *p, int64_t rp)
{
	struct topic_config cfg;
	int64_t *bases = NULL, ss_base, ss_pos;
	size_t nb = 0;
	bool clean = rp == INT64_MAX, scanned_any = false, prev_trusted = false;
	int64_t prev_end = -1;
	struct stat sb;
	int rc;

	topic_cfg(p->topic, &cfg);
	rc = list_segments(p, &bases, &nb);
	if (rc < 0)
		return rc;
	stream_start_read(p, &ss_base, &ss_pos);
	if (nb == 0) {
		struct seg *s;
		int64_t base = ss_base >= 0 ? ss_base : 0;
		tfs_log(TFS_LOG_WARN, "storage: %s: no segments, starting an empty "
		        "log at offset %" PRId64 "", p->dir, base);
		rc = seg_create(p->dir, base, ss_pos >= 0 ? ss_pos : 0, true, &s);
		if (rc < 0)
			goto out;
		s->ib.interval = cfg.index_interval_bytes;
		rc = segs_push(p, s);
		if (rc < 0) {
			seg_unref(s);
			goto out;
		}
		sio_fsync_dir(p->dir);
		goto publish;
	}
	for (size_t i = 0; i < nb; i++) {
		struct seg *s;
		rc = seg_open_log(p->dir, bases[i], &s);
		if (rc < 0)
			goto out;
		rc = segs_push(p, s);
		if (rc < 0) {
			seg_unref(s);
			goto out;
		}
	}
	for (size_t i = 0; i < p->nsegs; i++) {
		struct seg *s = p->segs[i];
		bool last = i + 1 == p->nsegs;
		bool trusted = clean || (!last && p->segs[i + 1]->base_offset <= rp);
		int64_t expect = prev_end;

		if (i == 0)
			expect = (ss_base == s->base_offset) ? ss_pos :
			         (s->base_offset == 0 ? 0 : -1);
		if (trusted) {
			rc = seg_load_trusted(p, s, expect, last, cfg.index_interval_bytes);
			if (rc == -EBADMSG) {
				int64_t base = expect;
				if (base < 0) {
					tfs_log(TFS_LOG_WARN, "storage: %s: stream base of the "
					        "first segment unknown, using 0", p->dir);
					base = 0;
				}
				/* a trusted sealed segment is never cut; the active
				 * one is (see the file comment) */
				rc = seg_recover(p, s, base, last, last,
				                 cfg.index_interval_bytes);
				scanned_any = scanned_any || last;
				if (rc > 0)
					rc = 0;
			}
			if (rc < 0)
				goto out;
		} else {
			int64_t base = expect;
			if (base < 0) {
				tfs_log(TFS_LOG_WARN, "storage: %s: stream base of the first "
				        "segment unknown, using 0", p->dir);
				base = 0;
			}
			if (i > 0 && s->base_offset != p->segs[i - 1]->next_offset) {
				/* a hole (the previous segment lost its unflushed tail
				 * at a batch boundary while this file survived): nothing
				 * from here on continues the log.  Delete it and every
				 * later segment; the previous one is active again. */
				struct seg *prev = p->segs[i - 1];
				tfs_log(TFS_LOG_WARN, "storage: %s.log: base offset does not "
				        "follow the previous segment (next %" PRId64 "), "
				        "deleting it and every later segment", s->path,
				        prev->next_offset);
				while (p->nsegs > i) {
					struct seg *gone = p->segs[--p->nsegs];
					seg_unlink_files(gone);
					seg_unref(gone);
				}
				prev->sealed = false;
				rc = seg_recover(p, prev, prev->stream_base, !prev_trusted, true,
				                 cfg.index_interval_bytes);
				if (rc < 0)
					goto out;
				scanned_any = true;
				break;
			}
			rc = seg_recover(p, s, base, true, true, cfg.index_interval_bytes);
			if (rc < 0)
				goto out;
			scanned_any = true;
			if (rc > 0 && !last) {
				/* truncated: every later segment goes */
				while (p->nsegs > i + 1) {
					struct seg *gone = p->segs[--p->nsegs];
					tfs_log(TFS_LOG_WARN, "storage: %s.log: after a truncated "
					        "segment, deleted", gone->path);
					seg_unlink_files(gone);
					seg_unref(gone);
				}
				last = true;
			}
		}
		if (!last)
			s->sealed = true;
		prev_end = s->stream_end;
		prev_trusted = trusted;
	}
	/* make what recovery wrote durable, then trust it */
	if (scanned_any) {
		for (size_t i = 0; i < p->nsegs; i++) {
			rc = sio_fdatasync(p->segs[i]->fd, p->segs[i]->path);
			if (rc < 0)
				goto out;
		}
		rc = sio_fsync_dir(p->dir);
		if (rc < 0)
			goto out;
	}
	rc = seg_open_index_fds(part_active(p));
	if (rc < 0)
		goto out;
	/* sealed segments keep no index entries in memory */
	for (size_t i = 0; i + 1 < p->nsegs; i++) {
		p->segs[i]->sealed = true;
		idxb_free(&p->segs[i]->ib);
	}

publish:
	p->log_start_offset = p->segs[0]->base_offset;
	p->stream_start = p->segs[0]->stream_base;
	p->next_offset = part_active(p)->next_offset;
	p->stream_end = part_active(p)->stream_end;
	p->bytes_on_disk = 0;
	for (size_t i = 0; i < p->nsegs; i++)
		p->bytes_on_disk += p->segs[i]->size;
	p->recovery_point = p->next_offset;
	if (fstat(part_active(p)->fd, &sb) == 0)
		p->last_append_ms = (int64_t)sb.st_mtim.tv_sec * 1000 +
		                    sb.st_mtim.tv_nsec / 1000000;
	rc = 0;
out:
	free(bases);
	return rc;
}

/* ============================== the writer =============================== */

static void complete(struct part *p, struct pending *r, int rc, int64_t first)
{
	/* qlock held */
	if (r->owned) {
		if (rc < 0)
			tfs_log(TFS_LOG_WARN, "storage: %s: lingered append of %zu "
			        "records lost: %s", p->dir,
			        r->batch ? (size_t)r->batch_records : r->n, strerror(-rc));
		free(r->batch);
		free(r);
		return;
	}
	r->rc = rc;
	r->first_offset = first;
	r->done = true;
}

static void complete_list(struct part *p, struct pending *from,
                          struct pending *to, int rc, const int64_t *firsts)
{
	size_t i = 0;

	pthread_mutex_lock(&p->qlock);
	while (from != to) {
		struct pending *next = from->next;
		complete(p, from, rc, firsts ? firsts[i] : -1);
		from = next;
		i++;
	}
	pthread_cond_broadcast(&p->qcond);
	pthread_mutex_unlock(&p->qlock);
}

static bool flush_policy_syncs(const struct topic_config *cfg)
{
	return cfg->flush_messages > 0 || cfg->flush_ms > 0;
}

/* Roll: seal the active segment, start a new one at next_offset. */
static int part_roll(struct part *p, const struct topic_config *cfg)
{
	struct seg *old = part_active(p), *ns;
	bool sync = flush_policy_syncs(cfg);
	int rc;

	if (old->tail_dirty) {
		/* never seal half a failed write into a segment that will be
		 * trusted: cut it now, or do not roll (the next write then goes
		 * on over it; a restart cuts the active segment's tail) */
		rc = sio_ftruncate(old->fd, old->size, old->path);
		if (rc < 0)
			return rc;
		old->tail_dirty = false;
	}
	rc = seg_create(p->dir, p->next_offset, p->stream_end, sync, &ns);
	if (rc < 0)
		return rc;
	ns->ib.interval = cfg->index_interval_bytes;
	rc = seg_seal(old, sync);
	if (rc < 0 && sync)
		p->flush_failed = true;
	if (sync) {
		if (sio_fsync_dir(p->dir) < 0) {
			p->flush_failed = true;
			p->dir_dirty = true;
		}
	} else {
		p->dir_dirty = true;
	}
	pthread_mutex_lock(&p->lock);
	rc = segs_push(p, ns);
	if (rc == 0) {
		old->sealed = true;
		idxb_free(&old->ib);
	}
	pthread_mutex_unlock(&p->lock);
	if (rc < 0) {
		seg_unlink_files(ns);
		seg_unref(ns);
	}
	return rc;
}

/* Flush everything written (writer token held). */
static int part_flush_all(struct part *p)
{
	int64_t target = p->next_offset;
	int rc = 0;

	if (p->flush_failed)
		return -EIO;            /* sticky: see FLUSH in the file comment */
	{
		/* the active segment's index appends failed earlier: write its
		 * files from memory now, so a flush (and a clean close) leaves
		 * indexes that match the log; on failure they are rebuilt at
		 * the next start (an index is only a cache of the log) */
		struct seg *a = part_active(p);
		if (a->ix_dirty) {
			for (int k = 0; k < IDX_KINDS; k++) {
				sio_close(a->ixfd[k], a->path);
				a->ixfd[k] = -1;
			}
			if (seg_write_index_files(a, &a->ib, true) == 0)
				a->ix_dirty = false;
			if (seg_open_index_fds(a) < 0)
				a->ix_dirty = true;
		}
	}
	for (size_t i = 0; i < p->nsegs; i++) {
		struct seg *s = p->segs[i];
		if (!s->unflushed)
			continue;
		if (i + 1 == p->nsegs) {
			for (int k = 0; k < IDX_KINDS && rc == 0; k++)
				if (s->ixfd[k] >= 0 && !s->ix_dirty)
					rc = sio_fdatasync(s->ixfd[k], s->path);
		} else {
			/* sealed without a sync: its index files too */
			for (int k = 0; k < IDX_KINDS && rc == 0; k++) {
				char *ip = seg_file_path(s, idx_ext[k]);
				int fd = ip ? sio_open(ip, O_RDONLY, 0) : -ENOMEM;
				if (fd >= 0) {
					rc = sio_fsync(fd, ip);
					sio_close(fd, ip);
				} else {
					rc = fd;
				}
				free(ip);
			}
		}
		if (rc == 0)
			rc = sio_fdatasync(s->fd, s->path);
		if (rc < 0)
			break;
		s->unflushed = false;
	}
	if (rc == 0 && p->dir_dirty) {
		rc = sio_fsync_dir(p->dir);
		if (rc == 0)
			p->dir_dirty = false;
	}
	if (rc < 0) {
		if (!p->flush_failed)
			tfs_log(TFS_LOG_ERROR, "storage: %s: flush failed: writes are "
			        "refused and the recovery point stays at %" PRId64
			        " until restart", p->dir,
			        p->recovery_point);
		p->flush_failed = true;
		return rc;
	}
	tfs_stat_add(TFS_STAT_FLUSHES, 1);
	pthread_mutex_lock(&p->lock);
	if (!p->flush_failed && target > p->recovery_point) {
		p->recovery_point = target;
		__atomic_store_n(&p->topic->st->ckpt_dirty, 1, __ATOMIC_RELAXED);
	}
	if (p->next_offset == target) {
		p->unflushed_records = 0;
		p->first_unflushed_ms = 0;
	}
	pthread_mutex_unlock(&p->lock);
	return 0;
}

/* Unit buffers.  A unit is encoded into one buffer of up to batch_bytes
 * (and more for a larger single request); allocating and faulting in a
 * fresh megabyte for every unit cost as much as encoding it, so writers
 * take a buffer from this small pool and give it back.  At most
 * WBUF_POOL buffers of at most WBUF_KEEP bytes are kept (larger ones are
 * freed), whatever the number of partitions. */
#define WBUF_POOL 4
#define WBUF_KEEP (4u << 20)
static pthread_mutex_t wbuf_mu = PTHREAD_MUTEX_INITIALIZER;
static struct buf wbuf_pool[WBUF_POOL];      /* wbuf_mu */
static int wbuf_count;                       /* wbuf_mu */

static void wbuf_get(struct buf *b)
{
	memset(b, 0, sizeof(*b));
	pthread_mutex_lock(&wbuf_mu);
	if (wbuf_count > 0)
		*b = wbuf_pool[--wbuf_count];
	pthread_mutex_unlock(&wbuf_mu);
	b->len = 0;
}

static void wbuf_put(struct buf *b)
{
	if (b->cap <= WBUF_KEEP) {
		pthread_mutex_lock(&wbuf_mu);
		if (wbuf_count < WBUF_POOL) {
			wbuf_pool[wbuf_count++] = *b;
			memset(b, 0, sizeof(*b));
		}
		pthread_mutex_unlock(&wbuf_mu);
	}
	buf_free(b);
}

/* One encoded batch of a unit. */
struct unit_batch {
	size_t off, len;
	int64_t rel_base;             /* offset of its first record in the unit */
	int32_t records;
	int64_t max_ts;
	int64_t rendered;
};

static size_t rec_est(const struct rec_in *r)
{
	return (size_t)(r->key_len > 0 ? r->key_len : 0) +
	       (size_t)(r->value_len > 0 ? r->value_len : 0) + 24;
}

/* Encode the records of requests [from, to) as batches of at most limit
 * estimated bytes each, into one buffer. */
static int encode_unit(struct pending *from, struct pending *to, size_t limit,
                       int codec, int framing, struct buf *out,
                       struct unit_batch **batches, size_t *nbatches,
                       int64_t *nrecs)
{
	size_t total = 0, nb = 0, cap = 0;
	struct rec_in *arr;
	struct unit_batch *bl = NULL;
	int64_t now = tfs_now_ms();
	int rc = 0;

	for (struct pending *r = from; r != to; r = r->next)
		total += r->n;
	if (from->next == to) {
		/* one request (one writer): its records as they are */
		arr = (struct rec_in *)from->recs;
	} else {
		arr = malloc((total ? total : 1) * sizeof(*arr));
		if (!arr)
			return -ENOMEM;
		total = 0;
		for (struct pending *r = from; r != to; r = r->next) {
			memcpy(arr + total, r->recs, r->n * sizeof(*arr));
			total += r->n;
		}
	}
	out->len = 0;
	for (size_t i = 0; i < total;) {
		size_t j = i, bytes = 0;
		int64_t rendered = 0;
		size_t enc_len;
		struct batch_header h;
		struct batch_encode_params bp;

		while (j < total && (j == i || bytes + rec_est(&arr[j]) <= limit) &&
		       j - i < INT32_MAX / 2) {
			bytes += rec_est(&arr[j]);
			rendered += rec_render_len(arr[j].value_len, framing);
			j++;
		}
		/* encoded in place at the end of out: no copy */
		batch_encode_params_init(&bp, 0, codec, now);
		rc = batch_encode_buf(arr + i, j - i, &bp, &out->data, &out->cap,
		                      out->len, &enc_len);
		if (rc < 0)
			goto out;
		if (nb == cap) {
			size_t nc = cap ? cap * 2 : 4;
			struct unit_batch *n2 = realloc(bl, nc * sizeof(*n2));
			if (!n2) {
				rc = -ENOMEM;
				goto out;
			}
			bl = n2;
			cap = nc;
		}
		rc = batch_parse_header(out->data + out->len, enc_len, &h);
		if (rc < 0)
			goto out;
		out->len += enc_len;
		bl[nb++] = (struct unit_batch){
			.off = out->len - enc_len, .len = enc_len, .rel_base = (int64_t)i,
			.records = (int32_t)(j - i), .max_ts = h.max_timestamp,
			.rendered = rendered,
		};
		i = j;
	}
	*batches = bl;
	*nbatches = nb;
	*nrecs = (int64_t)total;
	bl = NULL;
out:
	free(bl);
	if (arr != from->recs)
		free(arr);
	return rc;
}

static bool need_roll(struct part *p, const struct topic_config *cfg,
                      size_t len, int64_t nrecs, size_t nbatches)
{
	struct seg *s = part_active(p);

	if (s->size == 0)
		return false;
	if (s->size + (int64_t)len > cfg->segment_bytes ||
	    s->size + (int64_t)len > INT32_MAX)
		return true;
	if (s->roll_start_ms > 0 && tfs_now_ms() - s->roll_start_ms >= cfg->segment_ms)
		return true;
	if (p->next_offset + nrecs - 1 - s->base_offset > INT32_MAX)
		return true;
	for (int k = 0; k < IDX_KINDS; k++)
		if (s->ib.ent[k].len + idx_entry_size[k] * nbatches > IDX_MAX_BYTES)
			return true;
	return false;
}

/* Write one unit (the writer token held).  *first gets its first offset. */
static int write_unit(struct part *p, const struct topic_config *cfg,
                      uint8_t *data, size_t len, const struct unit_batch *bl,
                      size_t nb, int64_t nrecs, int64_t *first)
{
	struct seg *s;
	int64_t base, pos, now = tfs_now_ms();
	size_t old_len[IDX_KINDS];
	int rc;

	if (need_roll(p, cfg, len, nrecs, nb)) {
		rc = part_roll(p, cfg);
		if (rc < 0)
			return rc;
	}
	s = part_active(p);
	base = p->next_offset;
	pos = s->size;
	for (size_t i = 0; i < nb; i++)
		batch_set_base_offset(data + bl[i].off, base + bl[i].rel_base);
	rc = sio_pwrite_all(s->fd, data, len, pos, s->path);
	if (rc < 0) {
		/* not published: cut whatever part of it reached the file (if
		 * that fails too, before the segment may be sealed: part_roll) */
		if (sio_ftruncate(s->fd, pos, s->path) < 0)
			s->tail_dirty = true;
		return rc;
	}
	s->unflushed = true;
	tfs_stat_add(TFS_STAT_BATCHES, nb);
	tfs_stat_add(TFS_STAT_RECORDS, (uint64_t)nrecs);
	tfs_stat_add(TFS_STAT_BYTES, len);

	pthread_mutex_lock(&p->lock);
	for (int k = 0; k < IDX_KINDS; k++)
		old_len[k] = s->ib.ent[k].len;
	int64_t stream = s->stream_end;
	for (size_t i = 0; i < nb; i++) {
		int64_t b0 = base + bl[i].rel_base, last = b0 + bl[i].records - 1;
		if (idxb_add(&s->ib, s->base_offset, pos + (int64_t)bl[i].off,
		             (int64_t)bl[i].len, last, b0, bl[i].max_ts, stream,
		             bl[i].rendered) < 0)
			s->ix_dirty = true;     /* entries missing; rebuilt at restart */
		stream += bl[i].rendered;
		if (bl[i].max_ts > s->max_ts)
			s->max_ts = bl[i].max_ts;
	}
	if (s->roll_start_ms == 0)
		s->roll_start_ms = now;
	s->size = pos + (int64_t)len;
	s->next_offset = base + nrecs;
	s->stream_end = stream;
	p->next_offset = base + nrecs;
	p->stream_end = stream;
	p->bytes_on_disk += (int64_t)len;
	p->last_append_ms = now;
	p->unflushed_records += nrecs;
	if (p->first_unflushed_ms == 0)
		p->first_unflushed_ms = tfs_mono_ms();
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);

	/* index files after the log: a crash in between only loses entries */
	for (int k = 0; k < IDX_KINDS && !s->ix_dirty; k++) {
		size_t nl = s->ib.ent[k].len;
		if (nl > old_len[k] &&
		    sio_pwrite_all(s->ixfd[k], s->ib.ent[k].data + old_len[k],
		                   nl - old_len[k], (off_t)old_len[k], s->path) < 0)
			s->ix_dirty = true;
	}
	*first = base;

	rc = 0;
	if (cfg->flush_messages > 0 && p->unflushed_records >= cfg->flush_messages)
		rc = part_flush_all(p);
	store_call_hook(p->topic->st, p->topic, p->index);
	return rc;
}

/* Write a list of requests (writer token held). */
static void write_list(struct part *p, struct pending *list)
{
	struct topic_config cfg;
	struct buf data;
	int rc = 0;

	wbuf_get(&data);
	topic_cfg(p->topic, &cfg);
	size_t limit = (size_t)cfg.batch_bytes;
	if ((size_t)cfg.max_message_bytes < limit)
		limit = (size_t)cfg.max_message_bytes;

	while (list) {
		struct pending *from = list, *to;
		struct unit_batch *bl = NULL, one;
		size_t nb = 0, bytes = 0, nreq = 0;
		int64_t nrecs = 0, first = -1;
		uint8_t *wdata;
		size_t wlen;

		if (__atomic_load_n(&p->topic->deleted, __ATOMIC_RELAXED))
			rc = -ENOENT;
		else if (p->flush_failed)
			rc = -EIO;          /* read-only until restart (FLUSH) */
		if (rc < 0) {
			complete_list(p, list, NULL, rc, NULL);
			break;
		}
		if (from->batch) {
			to = from->next;
			nreq = 1;
			one = (struct unit_batch){
				.off = 0, .len = from->batch_len, .rel_base = 0,
				.records = from->batch_records, .max_ts = from->batch_max_ts,
				.rendered = from->batch_rendered,
			};
			bl = &one;
			nb = 1;
			nrecs = from->batch_records;
			wdata = from->batch;
			wlen = from->batch_len;
		} else {
			to = from;
			while (to && !to->batch &&
			       (to == from || bytes + to->bytes <= limit)) {
				bytes += to->bytes;
				to = to->next;
				nreq++;
			}
			rc = encode_unit(from, to, limit, cfg.codec, cfg.framing, &data,
			                 &bl, &nb, &nrecs);
			if (rc < 0) {
				complete_list(p, list, NULL, rc, NULL);
				break;
			}
			wdata = data.data;
			wlen = data.len;
		}
		rc = write_unit(p, &cfg, wdata, wlen, bl, nb, nrecs, &first);
		if (bl != &one)
			free(bl);
		if (rc < 0 && first < 0) {
			/* nothing of it is in the log: fail it and the rest */
			complete_list(p, list, NULL, rc, NULL);
			break;
		}
		/* written (an fsync error, if any, goes to these callers) */
		int64_t firsts_small[16], *firsts = firsts_small;
		if (nreq > 16) {
			firsts = malloc(nreq * sizeof(*firsts));
			if (!firsts) {
				firsts = NULL;
			}
		}
		if (firsts) {
			int64_t o = first;
			size_t i = 0;
			for (struct pending *r = from; r != to; r = r->next, i++) {
				firsts[i] = o;
				o += r->batch ? r->batch_records : (int64_t)r->n;
			}
		}
		list = to;
		complete_list(p, from, to, rc, firsts);
		if (firsts != firsts_small)
			free(firsts);
		rc = 0;
	}
	wbuf_put(&data);
}

/* Take the queue and write it (writer token held). */
static void writer_round(struct part *p)
{
	struct pending *list;

	pthread_mutex_lock(&p->qlock);
	list = p->qhead;
	p->qhead = p->qtail = NULL;
	p->qbytes = 0;
	pthread_mutex_unlock(&p->qlock);
	if (list)
		write_list(p, list);
}

static int part_submit(struct part *p, struct pending *r, bool wait,
                       size_t drain_at)
{
	int rc;

	pthread_mutex_lock(&p->qlock);
	if (p->qdead) {
		pthread_mutex_unlock(&p->qlock);
		return -ENOENT;
	}
	r->next = NULL;
	r->enq_ms = tfs_mono_ms();
	if (p->qtail)
		p->qtail->next = r;
	else
		p->qhead = r;
	p->qtail = r;
	p->qbytes += r->bytes;
	if (!wait) {
		bool drain = p->qbytes >= drain_at && !p->writing;
		if (drain)
			p->writing = true;
		pthread_mutex_unlock(&p->qlock);
		if (drain) {
			writer_round(p);
			writer_release(p);
		}
		return 0;
	}
	while (!r->done) {
		if (!p->writing) {
			p->writing = true;
			pthread_mutex_unlock(&p->qlock);
			writer_round(p);
			pthread_mutex_lock(&p->qlock);
			p->writing = false;
			pthread_cond_broadcast(&p->qcond);
		} else {
			pthread_cond_wait(&p->qcond, &p->qlock);
		}
	}
	rc = r->rc;
	pthread_mutex_unlock(&p->qlock);
	return rc;
}

static bool part_is_deleted(struct part *p)
{
	return __atomic_load_n(&p->topic->deleted, __ATOMIC_RELAXED) != 0;
}

int part_append(struct part *p, const struct rec_in *recs, size_t n,
                int64_t *first_offset)
{
	struct topic_config cfg;
	size_t bytes = 0, data = 0;
	int rc;

	if (!p || (!recs && n))
		return -EINVAL;
	if (part_is_deleted(p))
		return -ENOENT;
	topic_cfg(p->topic, &cfg);
	for (size_t i = 0; i < n; i++) {
		const struct rec_in *r = &recs[i];
		if (r->key_len < -1 || r->value_len < -1 ||
		    (r->key_len > 0 && !r->key) || (r->value_len > 0 && !r->value))
			return -EINVAL;
		if ((int64_t)(r->key_len > 0 ? r->key_len : 0) +
		    (r->value_len > 0 ? r->value_len : 0) > cfg.max_message_bytes)
			return -EMSGSIZE;
		bytes += rec_est(r);
		data += (size_t)(r->key_len > 0 ? r->key_len : 0) +
		        (size_t)(r->value_len > 0 ? r->value_len : 0);
	}
	if (n == 0) {
		pthread_mutex_lock(&p->lock);
		if (first_offset)
			*first_offset = p->next_offset;
		pthread_mutex_unlock(&p->lock);
		return 0;
	}
	if (cfg.linger_ms == 0) {
		struct pending r = { .recs = recs, .n = n, .bytes = bytes };
		rc = part_submit(p, &r, true, 0);
		if (rc == 0 && first_offset)
			*first_offset = r.first_offset;
		return rc;
	}
	/* linger: copy the records, return at once */
	struct pending *r = malloc(sizeof(*r) + n * sizeof(struct rec_in) + data);
	if (!r)
		return -ENOMEM;
	memset(r, 0, sizeof(*r));
	struct rec_in *copy = (struct rec_in *)(r + 1);
	uint8_t *d = (uint8_t *)(copy + n);
	int64_t now = tfs_now_ms();
	for (size_t i = 0; i < n; i++) {
		copy[i] = recs[i];
		if (copy[i].timestamp < 0)
			copy[i].timestamp = now;
		if (recs[i].key_len > 0) {
			memcpy(d, recs[i].key, (size_t)recs[i].key_len);
			copy[i].key = d;
			d += recs[i].key_len;
		}
		if (recs[i].value_len > 0) {
			memcpy(d, recs[i].value, (size_t)recs[i].value_len);
			copy[i].value = d;
			d += recs[i].value_len;
		}
	}
	r->recs = copy;
	r->n = n;
	r->bytes = bytes;
	r->owned = true;
	rc = part_submit(p, r, false, (size_t)cfg.batch_bytes);
	if (rc < 0) {
		free(r);
		return rc;
	}
	if (first_offset)
		*first_offset = -1;
	return 0;
}

int part_append_batch(struct part *p, const void *batch, size_t len,
                      int64_t *base_offset)
{
	struct topic_config cfg;
	struct batch_header h;
	struct batch_decoded d;
	struct pending r = { 0 };
	int codec, rc;

	if (!p || !batch)
		return -EINVAL;
	if (part_is_deleted(p))
		return -ENOENT;
	topic_cfg(p->topic, &cfg);
	rc = batch_parse_header(batch, len, &h);
	if (rc < 0)
		return -EBADMSG;
	if ((size_t)h.length + BATCH_LOG_OVERHEAD != len)
		return -EINVAL;
	if (len > (size_t)cfg.max_message_bytes)
		return -EMSGSIZE;
	codec = h.attributes & BATCH_ATTR_CODEC_MASK;
	if (codec == CODEC_SNAPPY || codec > CODEC_ZSTD)
		return -ENOTSUP;
	if (h.base_offset != 0 || (h.attributes & BATCH_ATTR_CONTROL))
		return -EINVAL;
	if (h.records_count <= 0 ||
	    (int64_t)h.records_count != (int64_t)h.last_offset_delta + 1)
		return -EINVAL;
	rc = batch_decode(batch, len, part_max_decomp(p), &d);
	if (rc < 0)
		return rc;
	r.batch_rendered = render_len(&d, cfg.framing);
	batch_decoded_free(&d);
	r.batch = malloc(len);
	if (!r.batch)
		return -ENOMEM;
	memcpy(r.batch, batch, len);
	r.batch_len = len;
	r.batch_records = h.records_count;
	r.batch_max_ts = h.max_timestamp;
	r.bytes = len;
	rc = part_submit(p, &r, true, 0);
	free(r.batch);
	if (rc == 0 && base_offset)
		*base_offset = r.first_offset;
	return rc;
}

int part_flush(struct part *p)
{
	int rc;

	if (!p)
		return -EINVAL;
	if (part_is_deleted(p))
		return -ENOENT;
	if (!writer_acquire(p)) {
		writer_release(p);
		return -ENOENT;
	}
	writer_round(p);
	rc = part_flush_all(p);
	writer_release(p);
	return rc;
}

int part_close_flush(struct part *p)
{
	return part_flush(p);
}

int64_t part_recovery_point(struct part *p)
{
	int64_t rp;

	pthread_mutex_lock(&p->lock);
	rp = p->recovery_point;
	pthread_mutex_unlock(&p->lock);
	return rp;
}

/* ============================== maintenance ============================== */

static void part_retention(struct part *p, const struct topic_config *cfg)
{
	struct seg *gone[64];
	size_t ngone = 0;
	int64_t now = tfs_now_ms();

	if (cfg->retention_bytes < 0 && cfg->retention_ms < 0)
		return;
	if (!writer_acquire(p)) {
		writer_release(p);
		return;
	}
	pthread_mutex_lock(&p->lock);
	while (p->nsegs > 1 && ngone < 64) {
		struct seg *front = p->segs[0];
		bool del = false;

		if (cfg->retention_bytes >= 0 &&
		    p->bytes_on_disk - front->size >= cfg->retention_bytes)
			del = true;
		if (cfg->retention_ms >= 0 && front->max_ts >= 0 &&
		    front->max_ts < now - cfg->retention_ms)
			del = true;
		if (!del)
			break;
		memmove(p->segs, p->segs + 1, (p->nsegs - 1) * sizeof(*p->segs));
		p->nsegs--;
		p->bytes_on_disk -= front->size;
		p->log_start_offset = p->segs[0]->base_offset;
		p->stream_start = p->segs[0]->stream_base;
		if (p->recovery_point < p->log_start_offset)
			p->recovery_point = p->log_start_offset;
		gone[ngone++] = front;
	}
	int64_t ss_base = p->log_start_offset, ss_pos = p->stream_start;
	pthread_mutex_unlock(&p->lock);
	if (ngone) {
		/* the new start first, then the files: a crash in between
		 * leaves the old front, which stream-start does not name */
		stream_start_write(p, ss_base, ss_pos);
		for (size_t i = 0; i < ngone; i++) {
			seg_unlink_files(gone[i]);
			seg_unref(gone[i]);
		}
		if (sio_fsync_dir(p->dir) < 0)
			p->dir_dirty = true;
		__atomic_store_n(&p->topic->st->ckpt_dirty, 1, __ATOMIC_RELAXED);
	}
	writer_release(p);
}

int part_maintain(struct part *p, int64_t now_mono, bool slow)
{
	struct topic_config cfg;
	bool go;

	if (part_is_deleted(p))
		return 0;
	topic_cfg(p->topic, &cfg);

	/* linger: the oldest queued request has waited long enough */
	pthread_mutex_lock(&p->qlock);
	go = p->qhead && !p->writing && now_mono - p->qhead->enq_ms >= cfg.linger_ms;
	if (go)
		p->writing = true;
	pthread_mutex_unlock(&p->qlock);
	if (go) {
		writer_round(p);
		writer_release(p);
	}

	/* flush_ms */
	pthread_mutex_lock(&p->lock);
	go = cfg.flush_ms > 0 && p->first_unflushed_ms > 0 &&
	     now_mono - p->first_unflushed_ms >= cfg.flush_ms;
	pthread_mutex_unlock(&p->lock);
	if (go) {
		if (writer_acquire(p))
			part_flush_all(p);
		writer_release(p);
	}
	if (!slow)
		return 0;

	/* segment_ms for an idle partition */
	pthread_mutex_lock(&p->lock);
	struct seg *a = part_active(p);
	go = a->size > 0 && a->roll_start_ms > 0 &&
	     tfs_now_ms() - a->roll_start_ms >= cfg.segment_ms;
	pthread_mutex_unlock(&p->lock);
	if (go) {
		if (writer_acquire(p)) {
			a = part_active(p);
			if (a->size > 0 && tfs_now_ms() - a->roll_start_ms >= cfg.segment_ms)
				part_roll(p, &cfg);
		}
		writer_release(p);
	}
	part_retention(p, &cfg);
	return 0;
}

void part_delete_files(struct part *p)
{
	struct pending *list;
	char *ss;

	pthread_mutex_lock(&p->qlock);
	p->qdead = true;
	pthread_mutex_unlock(&p->qlock);
	(void)writer_acquire(p);
	pthread_mutex_lock(&p->qlock);
	list = p->qhead;
	p->qhead = p->qtail = NULL;
	p->qbytes = 0;
	pthread_mutex_unlock(&p->qlock);
	if (list)
		complete_list(p, list, NULL, -ENOENT, NULL);

	pthread_mutex_lock(&p->lock);
	p->deleted = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);

	for (size_t i = 0; i < p->nsegs; i++)
		seg_unlink_files(p->segs[i]);
	ss = part_file(p, "stream-start");
	if (ss) {
		sio_unlink(ss);
		free(ss);
	}
	remove_dir_files(p->dir);
	if (sysio->rmdir(p->dir) < 0 && errno != ENOENT)
		sio_log("rmdir", p->dir, errno);
	writer_release(p);
}

/* ================================= reads ================================= */

void part_info(struct part *p, struct part_info *out)
{
	struct part_info i = { 0 };

	pthread_mutex_lock(&p->lock);
	i.log_start_offset = p->log_start_offset;
	i.next_offset = p->next_offset;
	i.stream_start = p->stream_start;
	i.stream_end = p->stream_end;
	i.segments = (int64_t)p->nsegs;
	i.bytes_on_disk = p->bytes_on_disk;
	i.last_append_ms = p->last_append_ms;
	i.recovery_point = p->recovery_point;
	pthread_mutex_unlock(&p->lock);
	i.codec = p->topic->codec;
	i.framing = p->topic->framing;
	*out = i;
}

/* Index of the first segment whose stream_end > pos (lock held), or nsegs. */
static size_t seg_for_stream(struct part *p, int64_t pos)
{
	size_t lo = 0, hi = p->nsegs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (p->segs[mid]->stream_end > pos)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* Index of the last segment whose base <= offset (lock held). */
static size_t seg_for_offset(struct part *p, int64_t offset)
{
	size_t lo = 0, hi = p->nsegs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (p->segs[mid]->base_offset <= offset)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo ? lo - 1 : 0;
}

static void log_corrupt(struct seg *s, int64_t pos, int rc)
{
	tfs_log(TFS_LOG_WARN, "storage: %s.log position %" PRId64
	        ": corrupt batch (%s), not served", s->path, pos, strerror(-rc));
}

/* br_next for the read paths: a torn or malformed batch inside the
 * published range is corruption, logged and reported as -EBADMSG; 1 with a
 * batch, 0 at the end, other errors (-EIO, ...) as they are. */
static int read_next_batch(struct batch_reader *br, struct seg *s,
                           const uint8_t **b, size_t *len,
                           struct batch_header *h, size_t max_batch)
{
	int64_t bpos = br->pos;
	int rc = br_next(br, b, len, h, max_batch);

	if (rc == -EAGAIN || rc == -EBADMSG) {
		rc = -EBADMSG;
		log_corrupt(s, bpos, rc);
	}
	return rc;
}

/* batch_decode for the read paths: any failure is logged and reported as
 * -EBADMSG, so a reader gets an error and never the batch's bytes. */
static int read_decode(struct part *p, struct seg *s, int64_t bpos,
                       const uint8_t *b, size_t len, struct batch_decoded *d)
{
	int rc = batch_decode(b, len, part_max_decomp(p), d);

	if (rc < 0) {
		log_corrupt(s, bpos, rc);
		return -EBADMSG;
	}
	return 0;
}

/* Render the records of d from rendered offset skip into dst (at most cap
 * bytes).  *idx / *at is a resume hint: a record index and its rendered
 * offset in the batch (0 / 0 is always valid); it is moved to where the
 * rendering stopped, so sequential reads of a cached batch never rescan it
 * from its first record. */
static size_t render_from(const struct batch_decoded *d, int framing, int64_t skip,
                          uint8_t *dst, size_t cap, size_t *idx, int64_t *at)
{
	size_t i = *idx, n;
	int64_t pos = *at;
	struct batch_decoded sub;

	if (d->h.attributes & BATCH_ATTR_CONTROL)
		return 0;
	if (i > d->nrecs || pos > skip) {
		i = 0;
		pos = 0;
	}
	for (; i < d->nrecs; i++) {
		int64_t rl = rec_render_len(d->recs[i].value_len, framing);
		if (pos + rl > skip)
			break;
		pos += rl;
	}
	sub = *d;
	sub.recs = d->recs + i;
	sub.nrecs = d->nrecs - i;
	n = render_copy(&sub, framing, skip - pos, dst, cap);
	/* move the hint to the record holding skip + n */
	for (skip += (int64_t)n; i < d->nrecs; i++) {
		int64_t rl = rec_render_len(d->recs[i].value_len, framing);
		if (pos + rl > skip)
			break;
		pos += rl;
	}
	*idx = i;
	*at = pos;
	return n;
}

/* Render from the cache if it holds the batch at (seg, fpos). */
static bool cache_copy(struct part *p, struct seg *s, int64_t fpos, int64_t cur,
                       uint8_t *dst, size_t cap, size_t *got, int64_t *rlen,
                       int64_t *next_pos)
{
	struct read_cache *c = &p->cache;
	bool hit = false;

	pthread_mutex_lock(&p->cache_mu);
	if (c->seg_base == s->base_offset && c->file_pos == fpos) {
		int64_t skip = cur - c->stream_pos;
		size_t n = 0;
		if (skip >= 0 && skip < c->rlen)
			n = render_from(&c->dec, part_framing(p), skip, dst, cap,
			                &c->rec_idx, &c->rec_pos);
		*got = n;
		*rlen = c->rlen;
		*next_pos = c->next_pos;
		hit = true;
	}
	pthread_mutex_unlock(&p->cache_mu);
	return hit;
}

/* Keep the decoded batch d (at fpos, rendered from spos, rlen bytes) as the
 * partition's cache.  Its bytes stay where the batch reader read them: the
 * cache takes br's buffer and gives br its previous one to reuse, so
 * nothing is copied or allocated.  Call only when br is done reading. */
static void cache_put(struct part *p, struct seg *s, int64_t fpos, int64_t npos,
                      int64_t spos, int64_t rlen, struct batch_decoded *d,
                      struct batch_reader *br, size_t idx, int64_t at)
{
	struct read_cache *c = &p->cache;
	struct batch_decoded old = { 0 };
	bool had = false;

	pthread_mutex_lock(&p->cache_mu);
	if (c->seg_base >= 0) {
		old = c->dec;
		had = true;
	}
	struct buf mine = c->bytes;
	c->bytes = br->chunk;
	br->chunk = mine;
	br->chunk.len = 0;
	br->chunk_pos = br->pos;
	c->dec = *d;
	memset(d, 0, sizeof(*d));
	c->seg_base = s->base_offset;
	c->file_pos = fpos;
	c->next_pos = npos;
	c->stream_pos = spos;
	c->rlen = rlen;
	c->rec_idx = idx;
	c->rec_pos = at;
	pthread_mutex_unlock(&p->cache_mu);
	if (had)
		batch_decoded_free(&old);
}

/* Read stream bytes [cur, cur+cap) from one segment (reference held),
 * looking at file bytes below size only.  *got may be short when the
 * segment ends. */
static int read_from_seg(struct part *p, struct seg *s, int64_t size,
                         int64_t cur, uint8_t *dst, size_t cap, size_t *got)
{
	uint8_t e[16];
	int64_t fpos = 0, sp = s->stream_base;
	struct batch_reader br;
	size_t done = 0, max_batch = part_max_batch(p);
	int framing = part_framing(p), rc;

	rc = seg_index_lookup(s, &p->lock, IDX_STREAM, cur, false, e);
	if (rc < 0)
		return rc;
	if (rc == 1) {
		sp = (int64_t)be64_get(e);
		fpos = (int32_t)be32_get(e + 12);
	}
	br_init(&br, s, fpos, size);
	rc = 0;
	while (done < cap) {
		const uint8_t *b;
		size_t len, n, idx = 0;
		struct batch_header h;
		struct batch_decoded d;
		int64_t rlen, npos, bpos = br.pos, at = 0;

		if (cache_copy(p, s, bpos, cur, dst + done, cap - done, &n, &rlen, &npos)) {
			if (sp + rlen > cur) {
				done += n;
				cur += (int64_t)n;
			}
			sp += rlen;
			br.pos = npos;
			continue;
		}
		rc = read_next_batch(&br, s, &b, &len, &h, max_batch);
		if (rc <= 0)
			break;
		rc = read_decode(p, s, bpos, b, len, &d);
		if (rc < 0)
			break;
		rlen = render_len(&d, framing);
		if (sp + rlen <= cur) {
			sp += rlen;
			batch_decoded_free(&d);
			continue;
		}
		int64_t skip = cur - sp;
		n = render_from(&d, framing, skip, dst + done, cap - done, &idx, &at);
		if (skip + (int64_t)n < rlen && rlen <= READ_CACHE_MAX) {
			/* not consumed to its end (the request is full): keep it
			 * decoded for the next read, which continues from here */
			cache_put(p, s, bpos, br.pos, sp, rlen, &d, &br, idx, at);
		} else {
			batch_decoded_free(&d);
		}
		done += n;
		cur += (int64_t)n;
		sp += rlen;
	}
	br_free(&br);
	*got = done;
	return rc < 0 ? rc : 0;
}

int part_stream_read(struct part *p, int64_t pos, void *buf, size_t len,
                     size_t *nread)
{
	struct seg *s = NULL;
	int64_t end, cur = pos, size;
	size_t done = 0, i;
	int rc = 0;

	if (!p || (!buf && len))
		return -EINVAL;
	pthread_mutex_lock(&p->lock);
	if (p->deleted || part_is_deleted(p)) {
		pthread_mutex_unlock(&p->lock);
		return -ENOENT;
	}
	if (pos < p->stream_start || pos > p->stream_end) {
		pthread_mutex_unlock(&p->lock);
		return -ERANGE;
	}
	end = p->stream_end;
	if ((int64_t)len > end - pos)
		len = (size_t)(end - pos);
	if (len == 0) {
		pthread_mutex_unlock(&p->lock);
		*nread = 0;
		return 0;
	}
	i = seg_for_stream(p, pos);
	s = p->segs[i];
	seg_ref(s);
	size = s->size;
	pthread_mutex_unlock(&p->lock);

	for (;;) {
		size_t got = 0;
		rc = read_from_seg(p, s, size, cur, (uint8_t *)buf + done, len - done, &got);
		done += got;
		cur += (int64_t)got;
		if (rc < 0 || done >= len)
			break;
		/* on to the next segment holding cur */
		int64_t base = s->base_offset;
		seg_unref(s);
		s = NULL;
		pthread_mutex_lock(&p->lock);
		i = seg_for_stream(p, cur);
		while (i < p->nsegs && p->segs[i]->base_offset <= base)
			i++;
		if (i < p->nsegs) {
			s = p->segs[i];
			seg_ref(s);
			size = s->size;
		}
		pthread_mutex_unlock(&p->lock);
		if (!s)
			break;
	}
	seg_unref(s);
	if (rc < 0 && done == 0)
		return rc;
	*nread = done;
	return 0;
}

int part_stream_pos_for_offset(struct part *p, int64_t offset, int64_t *pos)
{
	struct seg *s;
	uint8_t e[16];
	int64_t fpos = 0, sp, size, result = -1;
	struct batch_reader br;
	int framing = part_framing(p), rc;

	if (!p)
		return -EINVAL;
	pthread_mutex_lock(&p->lock);
	if (p->deleted || part_is_deleted(p)) {
		pthread_mutex_unlock(&p->lock);
		return -ENOENT;
	}
	if (offset >= p->next_offset || offset <= p->log_start_offset) {
		*pos = offset >= p->next_offset ? p->stream_end : p->stream_start;
		pthread_mutex_unlock(&p->lock);
		return 0;
	}
	s = p->segs[seg_for_offset(p, offset)];
	seg_ref(s);
	size = s->size;
	sp = s->stream_base;
	pthread_mutex_unlock(&p->lock);

	rc = seg_index_lookup(s, &p->lock, IDX_STREAM, offset - s->base_offset, true, e);
	if (rc < 0)
		goto out;
	if (rc == 1) {
		sp = (int64_t)be64_get(e);
		fpos = (int32_t)be32_get(e + 12);
	}
	br_init(&br, s, fpos, size);
	for (;;) {
		const uint8_t *b;
		size_t len;
		struct batch_header h;
		struct batch_decoded d;
		int64_t bpos = br.pos;

		rc = read_next_batch(&br, s, &b, &len, &h, part_max_batch(p));
		if (rc == 0) {
			result = sp;
			break;
		}
		if (rc < 0)
			break;
		rc = read_decode(p, s, bpos, b, len, &d);
		if (rc < 0)
			break;
		if (h.base_offset + h.last_offset_delta < offset) {
			sp += render_len(&d, framing);
			batch_decoded_free(&d);
			continue;
		}
		if (!(h.attributes & BATCH_ATTR_CONTROL))
			for (size_t i = 0; i < d.nrecs && d.recs[i].offset < offset; i++)
				sp += rec_render_len(d.recs[i].value_len, framing);
		batch_decoded_free(&d);
		result = sp;
		break;
	}
	br_free(&br);
	if (result >= 0) {
		*pos = result;
		rc = 0;
	}
out:
	seg_unref(s);
	return rc;
}

int part_offset_for_time(struct part *p, int64_t ts_ms, int64_t *offset)
{
	int64_t next, after_base = -1;

	if (!p)
		return -EINVAL;
	for (;;) {
		struct seg *s = NULL;
		int64_t size, start, fpos = 0;
		uint8_t e[16];
		struct batch_reader br;
		int rc;

		pthread_mutex_lock(&p->lock);
		if (p->deleted || part_is_deleted(p)) {
			pthread_mutex_unlock(&p->lock);
			return -ENOENT;
		}
		next = p->next_offset;
		for (size_t i = 0; i < p->nsegs; i++) {
			if (p->segs[i]->base_offset > after_base &&
			    p->segs[i]->max_ts >= ts_ms && p->segs[i]->size > 0) {
				s = p->segs[i];
				break;
			}
		}
		if (s) {
			seg_ref(s);
			size = s->size;
		}
		pthread_mutex_unlock(&p->lock);
		if (!s) {
			*offset = next;
			return 0;
		}
		/* everything up to a time entry below ts is below ts */
		start = s->base_offset;
		rc = seg_index_lookup(s, &p->lock, IDX_TIME, ts_ms - 1, false, e);
		if (rc == 1)
			start = s->base_offset + (int32_t)be32_get(e + 8) + 1;
		rc = seg_index_lookup(s, &p->lock, IDX_OFFSET, start - s->base_offset,
		                      false, e);
		if (rc == 1)
			fpos = (int32_t)be32_get(e + 4);
		br_init(&br, s, fpos, size);
		int64_t found = -1;
		for (;;) {
			const uint8_t *b;
			size_t len;
			struct batch_header h;
			struct batch_decoded d;
			int64_t bpos = br.pos;

			rc = read_next_batch(&br, s, &b, &len, &h, part_max_batch(p));
			if (rc <= 0)
				break;
			if (h.base_offset + h.last_offset_delta < start ||
			    h.max_timestamp < ts_ms || (h.attributes & BATCH_ATTR_CONTROL))
				continue;
			rc = read_decode(p, s, bpos, b, len, &d);
			if (rc < 0)
				break;
			for (size_t i = 0; i < d.nrecs; i++) {
				if (d.recs[i].offset >= start && d.recs[i].timestamp >= ts_ms) {
					found = d.recs[i].offset;
					break;
				}
			}
			batch_decoded_free(&d);
			if (found >= 0)
				break;
		}
		br_free(&br);
		after_base = s->base_offset;
		seg_unref(s);
		if (rc < 0)
			return rc;
		if (found >= 0) {
			*offset = found;
			return 0;
		}
	}
}

int part_wait_stream(struct part *p, int64_t pos, int timeout_ms)
{
	struct timespec dl;
	int rc = 0;

	if (!p)
		return -EINVAL;
	if (timeout_ms >= 0) {
		clock_gettime(CLOCK_MONOTONIC, &dl);
		dl.tv_sec += timeout_ms / 1000;
		dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
		if (dl.tv_nsec >= 1000000000L) {
			dl.tv_sec++;
			dl.tv_nsec -= 1000000000L;
		}
	}
	pthread_mutex_lock(&p->lock);
	while (!p->deleted && p->stream_end <= pos) {
		if (timeout_ms < 0) {
			pthread_cond_wait(&p->cond, &p->lock);
		} else if (pthread_cond_timedwait(&p->cond, &p->lock, &dl) == ETIMEDOUT) {
			if (!p->deleted && p->stream_end <= pos)
				rc = -ETIMEDOUT;
			break;
		}
	}
	if (p->deleted)
		rc = -ENOENT;
	pthread_mutex_unlock(&p->lock);
	return rc;
}

/* ============================== fetch slices ============================= */

static int read_header61(struct seg *s, int64_t pos, int64_t size,
                         struct batch_header *h)
{
	uint8_t hb[BATCH_HEADER_SIZE];
	size_t got;
	int64_t length;
	int rc;

	if (size - pos < BATCH_HEADER_SIZE)
		return -EBADMSG;
	rc = sio_pread_all(s->fd, hb, sizeof(hb), pos, &got, s->path);
	if (rc < 0)
		return rc;
	if (got < sizeof(hb))
		return -EBADMSG;
	length = (int32_t)be32_get(hb + 8);
	if (length < BATCH_HEADER_SIZE - BATCH_LOG_OVERHEAD ||
	    pos + BATCH_LOG_OVERHEAD + length > size || hb[16] != BATCH_MAGIC_V2)
		return -EBADMSG;
	h->base_offset = (int64_t)be64_get(hb);
	h->length = (int32_t)length;
	h->last_offset_delta = (int32_t)be32_get(hb + 23);
	return 0;
}

/* Check the CRCs of the batches in [from, to) of s.  0 with *bad = -1
 * when all are good, 0 with *bad = the position of the first bad (or
 * torn) batch, or -errno for an I/O error. */
static int verify_range(struct part *p, struct seg *s, int64_t from, int64_t to,
                        int64_t *bad)
{
	struct batch_reader br;
	size_t max_batch = part_max_batch(p);
	int rc;

	*bad = -1;
	br_init(&br, s, from, to);
	for (;;) {
		const uint8_t *b;
		size_t len;
		struct batch_header h;
		int64_t pos = br.pos;

		rc = br_next(&br, &b, &len, &h, max_batch);
		if (rc == 0)
			break;
		if (rc == -EAGAIN || rc == -EBADMSG ||
		    (rc == 1 && batch_check_crc(b, len) < 0)) {
			*bad = pos;
			rc = 0;
			break;
		}
		if (rc < 0)
			break;
	}
	br_free(&br);
	return rc;
}

/* sendfile sends segment bytes without looking at them, so before a slice
 * goes out the CRC of each of its batches is checked, once per byte: the
 * segment remembers one verified range (a consumer reading forward keeps
 * extending it).  The slice is cut before the first bad batch; -EBADMSG
 * when that is its first one (the fetch answers KAFKA_STORAGE_ERROR there,
 * never the bad bytes). */
static int slice_verify(struct part *p, struct seg *s, struct part_slice *sl)
{
	int64_t from = sl->file_pos, to = sl->file_pos + (int64_t)sl->len;
	int64_t lo, hi, bad_a = -1, bad_b = -1, end;
	int rc = 0;

	if (sl->len == 0)
		return 0;
	pthread_mutex_lock(&s->map_mu);
	lo = s->verified_lo;
	hi = s->verified_hi;
	pthread_mutex_unlock(&s->map_mu);
	if (from >= lo && to <= hi)
		return 0;
	if (from < lo)
		rc = verify_range(p, s, from, to < lo ? to : lo, &bad_a);
	if (rc == 0 && bad_a < 0 && to > hi)
		rc = verify_range(p, s, from > hi ? from : hi, to, &bad_b);
	if (rc < 0)
		return rc;
	end = bad_a >= 0 ? bad_a : bad_b >= 0 ? bad_b : to;
	if (end == from) {
		log_corrupt(s, from, -EBADMSG);
		return -EBADMSG;
	}
	if (end < to) {
		log_corrupt(s, end, -EBADMSG);
		sl->len = (size_t)(end - from);
	}
	pthread_mutex_lock(&s->map_mu);
	if (from <= s->verified_hi && end >= s->verified_lo &&
	    s->verified_hi > s->verified_lo) {
		if (from < s->verified_lo)
			s->verified_lo = from;
		if (end > s->verified_hi)
			s->verified_hi = end;
	} else if (end - from > s->verified_hi - s->verified_lo ||
	           from > s->verified_hi) {
		s->verified_lo = from;      /* keep the newest (or the larger) */
		s->verified_hi = end;
	}
	pthread_mutex_unlock(&s->map_mu);
	return 0;
}

int part_fetch_slice(struct part *p, int64_t offset, size_t max_bytes,
                     struct part_slice *out)
{
	struct part_slice sl = { .fd = -1 };
	struct seg *s;
	int64_t size, pos = 0;
	uint8_t e[8];
	int rc;

	if (!p || !out)
		return -EINVAL;
	pthread_mutex_lock(&p->lock);
	if (p->deleted || part_is_deleted(p)) {
		pthread_mutex_unlock(&p->lock);
		return -ENOENT;
	}
	if (offset < p->log_start_offset || offset > p->next_offset) {
		pthread_mutex_unlock(&p->lock);
		return -ERANGE;
	}
	sl.high_watermark = p->next_offset;
	sl.log_start_offset = p->log_start_offset;
	if (offset == p->next_offset) {
		s = part_active(p);
		seg_ref(s);
		sl.fd = s->fd;
		sl.file_pos = s->size;
		sl.len = 0;
		sl.first_offset = offset;
		sl.seg = s;
		pthread_mutex_unlock(&p->lock);
		*out = sl;
		return 0;
	}
	s = p->segs[seg_for_offset(p, offset)];
	seg_ref(s);
	size = s->size;
	pthread_mutex_unlock(&p->lock);

	rc = seg_index_lookup(s, &p->lock, IDX_OFFSET, offset - s->base_offset, false, e);
	if (rc < 0)
		goto drop;
	if (rc == 1)
		pos = (int32_t)be32_get(e + 4);
	/* the first batch whose last offset >= offset */
	for (;;) {
		struct batch_header h;
		if (pos >= size) {
			rc = -ERANGE;     /* not in this segment: a hole */
			goto drop;
		}
		rc = read_header61(s, pos, size, &h);
		if (rc < 0) {
			if (rc == -EBADMSG)
				log_corrupt(s, pos, rc);
			goto drop;
		}
		if (h.base_offset + h.last_offset_delta >= offset) {
			sl.first_offset = h.base_offset;
			sl.file_pos = pos;
			sl.len = (size_t)BATCH_LOG_OVERHEAD + (size_t)h.length;
			pos += (int64_t)sl.len;
			break;
		}
		pos += BATCH_LOG_OVERHEAD + h.length;
	}
	/* whole batches up to max_bytes, this segment only */
	while (pos < size) {
		struct batch_header h;
		if (read_header61(s, pos, size, &h) < 0)
			break;
		size_t blen = (size_t)BATCH_LOG_OVERHEAD + (size_t)h.length;
		if (sl.len + blen > max_bytes)
			break;
		sl.len += blen;
		pos += (int64_t)blen;
	}
	rc = slice_verify(p, s, &sl);
	if (rc < 0)
		goto drop;
	sl.fd = s->fd;
	sl.seg = s;
	*out = sl;
	return 0;
drop:
	seg_unref(s);
	return rc;
}

void part_slice_release(struct part_slice *s)
{
	if (!s || !s->seg)
		return;
	seg_unref(s->seg);
	s->seg = NULL;
	s->fd = -1;
}
