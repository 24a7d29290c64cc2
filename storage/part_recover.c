/*
 * part_recover.c - crash recovery of a partition's segments, for
 * part_load (part_open.c, which lists the directory and publishes the
 * result).
 *
 * RECOVERY.  A segment wholly below the recovery point (and, after a
 * clean shutdown, every segment) is trusted: its index files are checked
 * (seg_check_index_file) and rebuilt from the log if they fail, and its
 * tail after the last .sindex entry is decoded to learn its end
 * (seg_load_trusted).  From the segment holding the recovery point to the
 * end, every batch is scanned (bounds, magic, CRC, offsets contiguous from
 * the file's base), the .log is truncated at the first torn or invalid
 * batch, later segments are deleted, and the three index files are
 * rebuilt (seg_recover).  Scanned segments are marked unflushed, and the
 * recovery point stays at the first one's base until they are synced (the
 * sealed ones by the maintenance thread, part_sync_sealed; the active one
 * by the next flush; a crash before that scans them again), so the
 * restart does not wait for their writeback.
 * Documented choice: after a clean shutdown the active segment is still
 * decoded from its last .sindex entry to the end; a bad batch there sends
 * that segment through full recovery (truncation), so a clean marker never
 * makes a corrupt tail readable.  A bad batch in a trusted sealed segment is
 * never truncated (that would cut acknowledged data): it is logged, and
 * readers get -EBADMSG there.
 * The first segment's stream base comes from its .sindex; if that must be
 * rebuilt, from <dir>/stream-start when it names that segment, else 0 with
 * a log line.  Segments below the one stream-start names are what a
 * retention killed between writing stream-start and unlinking them left
 * behind: they are deleted first.
 *
 * Invariants on return: the segments are contiguous in offsets and in the
 * stream (see STATE in part_open.c), every .log ends at a batch boundary of
 * the scanned ones, the sealed segments hold no index entries in memory
 * and the active one has its index fds open.
 *
 * Open files: the .log files are opened once each to learn their sizes and
 * handed to the fd LRU (seg_open_log); the loop pins one segment at a time
 * (seg_pin reopens it when the LRU closed it), so a partition of any number
 * of segments loads within the LRU's bound; at the end the active segment
 * is taken back out of the LRU (seg_lru_hold) with its index fds open.
 *
 * Locks: none.  Recovery runs while the partition is not shared yet, on
 * the loading thread, which counts as the writer-token holder (INV_WRITER)
 * and so may touch the segments' P and W fields without part.lock.
 */
#include "engine.h"
#include "batch_internal.h"
#include "sysio.h"
#include "stats.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

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

	INV_WRITER(p);
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

	INV_WRITER(p);
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

/* One segment of part_recover_segments (the loop body; s = p->segs[i]
 * is pinned by the caller).  0, RECOVER_STOP when the segments after
 * the previous one were deleted (a hole: the previous one is active
 * again), or -errno.  *last becomes true when the later segments went. */
#define RECOVER_STOP 1
static int recover_one(struct part *p, size_t i, bool trusted, bool *last,
                       int64_t expect, int64_t ss_base, int64_t ss_pos,
                       bool prev_trusted, int32_t interval, bool *scanned_any)
{
	struct seg *s = p->segs[i];
	int rc;

	if (i == 0)
		expect = (ss_base == s->base_offset) ? ss_pos :
		         (s->base_offset == 0 ? 0 : -1);
	if (trusted) {
		rc = seg_load_trusted(p, s, expect, *last, interval);
		if (rc == -EBADMSG) {
			int64_t base = expect;
			if (base < 0) {
				tfs_log(TFS_LOG_WARN, "storage: %s: stream base of the "
				        "first segment unknown, using 0", p->dir);
				base = 0;
			}
			/* a trusted sealed segment is never cut; the active
			 * one is (see the file comment) */
			rc = seg_recover(p, s, base, *last, *last, interval);
			*scanned_any = *scanned_any || *last;
			if (rc > 0)
				rc = 0;
		}
		if (rc < 0)
			return rc;
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
			rc = seg_pin(prev);
			if (rc < 0)
				return rc;
			rc = seg_recover(p, prev, prev->stream_base, !prev_trusted, true,
			                 interval);
			seg_unpin(prev);
			if (rc < 0)
				return rc;
			*scanned_any = true;
			return RECOVER_STOP;
		}
		rc = seg_recover(p, s, base, true, true, interval);
		if (rc < 0)
			return rc;
		*scanned_any = true;
		if (rc > 0 && !*last) {
			/* truncated: every later segment goes */
			while (p->nsegs > i + 1) {
				struct seg *gone = p->segs[--p->nsegs];
				tfs_log(TFS_LOG_WARN, "storage: %s.log: after a truncated "
				        "segment, deleted", gone->path);
				seg_unlink_files(gone);
				seg_unref(gone);
			}
			*last = true;
		}
	}
	return 0;
}

/* ============================= the segments ============================== */

/* Open, check or scan, and (when torn) cut the segments of a partition
 * being loaded; see RECOVERY above.  Returns 0 or -errno. */
int part_recover_segments(struct part *p, int64_t rp, const int64_t *bases,
                          size_t nb, int64_t ss_base, int64_t ss_pos,
                          int32_t interval, int64_t *durable)
{
	bool clean = rp == INT64_MAX, scanned_any = false, prev_trusted = false;
	int64_t prev_end = -1;
	int rc;

	*durable = INT64_MAX;

	INV_WRITER(p);
	/* segments below the one stream-start names are what a retention
	 * killed between writing stream-start and unlinking them left behind:
	 * finish it (kept, the first one's stream base would be unknown) */
	size_t skip = 0;
	for (size_t i = 1; ss_base >= 0 && i < nb; i++)
		if (bases[i] == ss_base)
			skip = i;
	for (size_t i = 0; i < skip; i++) {
		struct seg *s;
		if (seg_open_log(p->dir, bases[i], &s) < 0)
			continue;
		tfs_log(TFS_LOG_WARN, "storage: %s.log: below the log start %" PRId64
		        " (an interrupted retention), deleting it", s->path, ss_base);
		seg_unlink_files(s);
		seg_unref(s);
	}
	if (skip > 0)
		sio_fsync_dir(p->dir);
	for (size_t i = skip; i < nb; i++) {
		struct seg *s;
		rc = seg_open_log(p->dir, bases[i], &s);
		if (rc < 0)
			return rc;
		rc = segs_push(p, s);
		if (rc < 0) {
			seg_unref(s);
			return rc;
		}
	}
	for (size_t i = 0; i < p->nsegs; i++) {
		struct seg *s = p->segs[i];
		bool last = i + 1 == p->nsegs;
		bool trusted = clean || (!last && p->segs[i + 1]->base_offset <= rp);
		int64_t expect = prev_end, base = s->base_offset;
		bool scanned_before = scanned_any;

		/* one segment's fd at a time (the fd LRU bounds the others);
		 * the extra reference keeps s while recover_one deletes it */
		seg_ref(s);
		rc = seg_pin(s);
		if (rc < 0) {
			seg_unref(s);
			return rc;
		}
		rc = recover_one(p, i, trusted, &last, expect, ss_base, ss_pos,
		                 prev_trusted, interval, &scanned_any);
		if (scanned_any && !scanned_before)
			*durable = base;        /* this one and every later one */
		seg_unpin(s);
		if (rc == 0) {
			if (!last)
				s->sealed = true;
			prev_end = s->stream_end;
			prev_trusted = trusted;
		}
		seg_unref(s);
		if (rc < 0)
			return rc;
		if (rc == RECOVER_STOP)
			break;
	}
	/* what was scanned is not trusted until it is on disk: the
	 * partition's flush syncs it (the segments' data and index files, the
	 * directory) and only then moves the recovery point past it, exactly
	 * as for the writes it had not synced before the crash; until then a
	 * second crash scans it again.  Syncing here, before the mount and
	 * the port answer, was ~0.4 s of a kill -9 restart with a 4 GiB log
	 * (the writeback of the unflushed tail). */
	if (scanned_any) {
		for (size_t i = 0; i < p->nsegs; i++)
			if (p->segs[i]->base_offset >= *durable)
				p->segs[i]->unflushed = true;
		p->dir_dirty = true;
	}
	/* the active segment keeps its fds; the sealed ones stay in the LRU */
	rc = seg_lru_hold(part_active(p));
	if (rc < 0)
		return rc;
	rc = seg_open_index_fds(part_active(p));
	if (rc < 0)
		return rc;
	/* sealed segments keep no index entries in memory */
	for (size_t i = 0; i + 1 < p->nsegs; i++) {
		p->segs[i]->sealed = true;
		idxb_free(&p->segs[i]->ib);
	}
	return 0;
}
