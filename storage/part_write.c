/*
 * part_write.c - one partition's writer: the writer token, group-commit
 * appends, encoding, rolls, flushes, retention and the maintenance work
 * (lifecycle and loading: part_open.c; recovery: part_recover.c; reads
 * and fetch slices: part_read.c).
 *
 * WRITER TOKEN.  Exactly one thread at a time writes, rolls, flushes, runs
 * retention or deletes files: the holder of part.writing (taken under
 * part.qlock).  Fields marked W in engine.h belong to it; it may read
 * the P fields (which only it changes) without part.lock.  It publishes
 * (see STATE in part_open.c) under part.lock, after the bytes are in the
 * file.  Debug builds record the holder (INV_TOKEN_TAKEN) and check it in
 * every function below that needs the token (INV_WRITER).
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
 * newest timestamp is older than retention_ms).  It runs on the writer's
 * path right after every roll (the writer holds the token), so however
 * fast a writer goes the bytes on disk stay under retention_bytes + one
 * sealed segment + the active segment; the maintenance thread runs it too
 * (every 100 ms), for time retention of an idle partition.  A segment
 * whose newest timestamp is more than the store's timestamp_after_max_ms
 * ahead of the clock (2^62 from a producer, or written before Produce
 * bounded timestamps) would never look old: it ages by its .log's mtime
 * instead, which can only delay its deletion.  The new stream start is
 * written to <dir>/stream-start ("base_offset stream_pos\n", atomically)
 * before the files are unlinked; segments in use by readers or fetch
 * slices keep their fds until released.
 *
 * Locks: part.qlock (the queue, the token), part.lock (to publish, and
 * to change the segment list: the token AND the lock, so readers holding
 * either see a consistent list), topic.cfg_mu (a settings snapshot per
 * round), store.hook_lock (read, around the append hook, no mutex held),
 * and wbuf_mu, a leaf guarding the unit buffer pool.  Files are written
 * with the token held and no mutex held.
 *
 * Thread-safety: every exported function is thread-safe.
 */
#include "engine.h"
#include "batch_internal.h"
#include "sysio.h"
#include "stats.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* =========================== the writer token ============================ */

/* Take the writer token.  Returns false when the partition is being
 * deleted (the token is taken all the same: release it). */
bool writer_acquire(struct part *p)
{
	bool alive;

	INV_RANK_FREE(RANK_WRITER);
	lock_rank(&p->qlock, RANK_PART_QLOCK);
	while (p->writing)
		pthread_cond_wait(&p->qcond, &p->qlock);
	p->writing = true;
	INV_TOKEN_TAKEN(p);
	alive = !p->qdead;
	unlock_rank(&p->qlock);
	return alive;
}

void writer_release(struct part *p)
{
	lock_rank(&p->qlock, RANK_PART_QLOCK);
	INV_TOKEN_DROPPED(p);
	p->writing = false;
	pthread_cond_broadcast(&p->qcond);
	unlock_rank(&p->qlock);
}

/* ============================== the writer =============================== */

static void complete(struct part *p, struct pending *r, int rc, int64_t first)
{
	INV_LOCKED(&p->qlock);
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

void complete_list(struct part *p, struct pending *from, struct pending *to,
                   int rc, const int64_t *firsts)
{
	size_t i = 0;

	lock_rank(&p->qlock, RANK_PART_QLOCK);
	while (from != to) {
		struct pending *next = from->next;
		complete(p, from, rc, firsts ? firsts[i] : -1);
		from = next;
		i++;
	}
	pthread_cond_broadcast(&p->qcond);
	unlock_rank(&p->qlock);
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

	INV_WRITER(p);
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
	lock_rank(&p->lock, RANK_PART_LOCK);
	rc = segs_push(p, ns);
	if (rc == 0) {
		old->sealed = true;
		idxb_free(&old->ib);
		p->sealed_to = ns->base_offset;
	}
	unlock_rank(&p->lock);
	if (rc < 0) {
		seg_unlink_files(ns);
		seg_unref(ns);
		return rc;
	}
	/* sealed: its .log fd joins the fd LRU (closed when unused) */
	seg_lru_release(old);
	/* the producer state at the new segment's base (producer.c) */
	prod_snapshot(p, sync);
	return 0;
}

/* fsync a sealed segment's index files and fdatasync its .log (its fd
 * may have been closed by the LRU: one opened later still syncs the
 * file's pages and reports a writeback error no fd has seen).  A missing
 * index file is no error (indexes are checked, and rebuilt, at start);
 * -ENOENT means the .log itself is gone (retention unlinked it).  No
 * token needed: a sealed segment's files do not change. */
static int seg_sync_sealed(struct seg *s)
{
	int rc = 0;

	for (int k = 0; k < IDX_KINDS && rc == 0; k++) {
		char *ip = seg_file_path(s, idx_ext[k]);
		int fd = ip ? sio_open_existing(ip, O_RDONLY) : -ENOMEM;
		if (fd >= 0) {
			rc = sio_fsync(fd, ip);
			sio_close(fd, ip);
		} else if (fd != -ENOENT) {
			rc = fd;
		}
		free(ip);
	}
	if (rc == 0) {
		rc = seg_pin(s);
		if (rc >= 0) {
			rc = sio_fdatasync(s->fd, s->path);
			seg_unpin(s);
		}
	}
	return rc;
}

/* Flush everything written (writer token held). */
static int part_flush_all(struct part *p)
{
	int64_t target;
	int rc = 0;

	INV_WRITER(p);
	target = p->next_offset;
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
			if (rc == 0)
				rc = sio_fdatasync(s->fd, s->path);
		} else {
			rc = seg_sync_sealed(s);    /* sealed without a sync */
		}
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
	lock_rank(&p->lock, RANK_PART_LOCK);
	if (!p->flush_failed && target > p->recovery_point) {
		p->recovery_point = target;
		__atomic_store_n(&p->topic->st->ckpt_dirty, 1, __ATOMIC_RELAXED);
	}
	if (p->next_offset == target) {
		p->unflushed_records = 0;
		p->first_unflushed_ms = 0;
	}
	unlock_rank(&p->lock);
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

/* Bytes of a record's headers (keys and values) and of their fixed
 * overhead in the encoded record (two varints each, at most 10 bytes). */
static size_t rec_header_bytes(const struct rec_in *r)
{
	size_t n = 0;

	for (int32_t k = 0; k < r->header_count; k++)
		n += (size_t)r->headers[k].key_len +
		     (size_t)(r->headers[k].value_len > 0 ?
		              r->headers[k].value_len : 0);
	return n;
}

static size_t rec_est(const struct rec_in *r)
{
	return (size_t)(r->key_len > 0 ? r->key_len : 0) +
	       (size_t)(r->value_len > 0 ? r->value_len : 0) + 24 +
	       rec_header_bytes(r) + (size_t)r->header_count * 10;
}

/* What batch_encode would refuse with -EINVAL, checked before a record is
 * queued (an encoding error in the writer would fail the whole unit,
 * other callers' records too). */
static bool rec_valid(const struct rec_in *r)
{
	if (r->key_len < -1 || r->value_len < -1 ||
	    (r->key_len > 0 && !r->key) || (r->value_len > 0 && !r->value) ||
	    r->header_count < 0 || (r->header_count > 0 && !r->headers))
		return false;
	for (int32_t k = 0; k < r->header_count; k++) {
		const struct rec_header *h = &r->headers[k];
		if (h->key_len < 0 || h->value_len < -1 ||
		    (h->key_len > 0 && !h->key) || (h->value_len > 0 && !h->value))
			return false;
	}
	return true;
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

static void retention_run(struct part *p, const struct topic_config *cfg);

static bool need_roll(struct part *p, const struct topic_config *cfg,
                      size_t len, int64_t nrecs, size_t nbatches)
{
	struct seg *s = part_active(p);

	INV_WRITER(p);
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

	INV_WRITER(p);
	if (need_roll(p, cfg, len, nrecs, nb)) {
		rc = part_roll(p, cfg);
		if (rc < 0)
			return rc;
		/* retention at once, not at the next maintenance run: a writer
		 * running flat out stays within one segment of the bound */
		retention_run(p, cfg);
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

	lock_rank(&p->lock, RANK_PART_LOCK);
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
	unlock_rank(&p->lock);

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
	INV_RANK_FREE(RANK_HOOK_LOCK);
	store_call_hook(p->topic->st, p->topic, p->index);
	return rc;
}

/* Write a list of requests (writer token held). */
static void write_list(struct part *p, struct pending *list)
{
	struct topic_config cfg;
	struct buf data;
	int rc = 0;

	INV_WRITER(p);
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
		if (from->unit) {
			/* encoded by its caller: written as it is */
			to = from->next;
			nreq = 1;
			bl = (struct unit_batch *)from->unit;
			nb = from->unit_nb;
			nrecs = from->unit_recs;
			wdata = from->batch;
			wlen = from->batch_len;
		} else if (from->batch) {
			/* an idempotent producer's batch: checked before it is
			 * written (producer.c); a duplicate or a refusal
			 * completes this request alone */
			struct producer_batch dup;
			struct batch_header bh;
			int prc = 0;
			if (batch_parse_header(from->batch, from->batch_len, &bh) == 0 &&
			    prod_batch_tracked(&bh))
				prc = prod_check(p, &bh, &dup);
			if (prc != 0) {
				to = from->next;
				complete_list(p, from, to, prc,
				              prc == 1 ? &dup.base_offset : NULL);
				list = to;
				continue;
			}
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
		if (bl != &one && bl != from->unit)
			free(bl);
		if (first >= 0 && from->batch && !from->unit) {
			/* in the log (even if a flush then failed): remembered */
			struct batch_header bh;
			if (batch_parse_header(from->batch, from->batch_len, &bh) == 0)
				prod_update(p, &bh, first);
		}
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
				o += r->unit ? r->unit_recs : r->batch ?
				     r->batch_records : (int64_t)r->n;
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

	INV_WRITER(p);
	lock_rank(&p->qlock, RANK_PART_QLOCK);
	list = p->qhead;
	p->qhead = p->qtail = NULL;
	p->qbytes = 0;
	unlock_rank(&p->qlock);
	if (list)
		write_list(p, list);
}

static int part_submit(struct part *p, struct pending *r, bool wait,
                       size_t drain_at)
{
	int rc;

	INV_RANK_FREE(RANK_WRITER);     /* it may take the writer token */
	lock_rank(&p->qlock, RANK_PART_QLOCK);
	if (p->qdead) {
		unlock_rank(&p->qlock);
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
		if (drain) {
			p->writing = true;
			INV_TOKEN_TAKEN(p);
		}
		unlock_rank(&p->qlock);
		if (drain) {
			writer_round(p);
			writer_release(p);
		}
		return 0;
	}
	while (!r->done) {
		if (!p->writing) {
			p->writing = true;
			INV_TOKEN_TAKEN(p);
			unlock_rank(&p->qlock);
			writer_round(p);
			lock_rank(&p->qlock, RANK_PART_QLOCK);
			INV_TOKEN_DROPPED(p);
			p->writing = false;
			pthread_cond_broadcast(&p->qcond);
		} else {
			pthread_cond_wait(&p->qcond, &p->qlock);
		}
	}
	rc = r->rc;
	unlock_rank(&p->qlock);
	return rc;
}

int part_append(struct part *p, const struct rec_in *recs, size_t n,
                int64_t *first_offset)
{
	struct topic_config cfg;
	size_t bytes = 0, data = 0, nheaders = 0;
	int rc;

	if (!p || (!recs && n))
		return -EINVAL;
	if (part_is_deleted(p))
		return -ENOENT;
	topic_cfg(p->topic, &cfg);
	for (size_t i = 0; i < n; i++) {
		const struct rec_in *r = &recs[i];
		if (!rec_valid(r))
			return -EINVAL;
		/* each header is at most 2^31 + 2^31 bytes: no overflow of
		 * int64 below for any count of them */
		size_t hbytes = rec_header_bytes(r);
		if ((int64_t)(r->key_len > 0 ? r->key_len : 0) +
		    (r->value_len > 0 ? r->value_len : 0) + (int64_t)hbytes >
		    cfg.max_message_bytes)
			return -EMSGSIZE;
		bytes += rec_est(r);
		data += (size_t)(r->key_len > 0 ? r->key_len : 0) +
		        (size_t)(r->value_len > 0 ? r->value_len : 0) + hbytes;
		nheaders += (size_t)r->header_count;
	}
	if (n == 0) {
		lock_rank(&p->lock, RANK_PART_LOCK);
		if (first_offset)
			*first_offset = p->next_offset;
		unlock_rank(&p->lock);
		return 0;
	}
	if (cfg.linger_ms == 0) {
		struct pending r = { .recs = recs, .n = n, .bytes = bytes };
		rc = part_submit(p, &r, true, 0);
		if (rc == 0 && first_offset)
			*first_offset = r.first_offset;
		return rc;
	}
	/* linger: copy the records (their headers too), return at once.
	 * One allocation: the request, the records, the headers, the bytes. */
	struct pending *r = malloc(sizeof(*r) + n * sizeof(struct rec_in) +
	                           nheaders * sizeof(struct rec_header) + data);
	if (!r)
		return -ENOMEM;
	memset(r, 0, sizeof(*r));
	struct rec_in *copy = (struct rec_in *)(r + 1);
	struct rec_header *hcopy = (struct rec_header *)(copy + n);
	uint8_t *d = (uint8_t *)(hcopy + nheaders);
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
		copy[i].headers = recs[i].header_count > 0 ? hcopy : NULL;
		for (int32_t k = 0; k < recs[i].header_count; k++) {
			const struct rec_header *h = &recs[i].headers[k];
			*hcopy = *h;
			if (h->key_len > 0) {
				memcpy(d, h->key, (size_t)h->key_len);
				hcopy->key = d;
				d += h->key_len;
			}
			if (h->value_len > 0) {
				memcpy(d, h->value, (size_t)h->value_len);
				hcopy->value = d;
				d += h->value_len;
			}
			hcopy++;
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

/* The records of in as rec_in entries pointing into it (the held partial
 * joined to the first line in *joined, which the caller frees), for
 * part_append's copying path (linger_ms > 0).  The errors of
 * batch_encode_lines. */
static int lines_to_recs(const struct lines_in *in, struct rec_in **out,
                         size_t *n, char **joined)
{
	struct line_cursor c = { .in = in, .first = true };
	struct rec_in *v = NULL;
	size_t cap = 0, cnt = 0, alen, blen;
	const char *a, *b;
	int rc;

	*joined = NULL;
	while ((rc = line_next(&c, &a, &alen, &b, &blen)) > 0) {
		size_t len = alen + blen;
		const char *val = b;

		if (len > in->max_line || len > INT32_MAX) {
			rc = -EMSGSIZE;
			break;
		}
		if (alen > 0) {
			*joined = malloc(len);
			if (!*joined) {
				rc = -ENOMEM;
				break;
			}
			memcpy(*joined, a, alen);
			if (blen > 0)
				memcpy(*joined + alen, b, blen);
			val = *joined;
		}
		if (cnt == cap) {
			size_t nc = cap ? cap * 2 : 64;
			struct rec_in *n2 = realloc(v, nc * sizeof(*n2));
			if (!n2) {
				rc = -ENOMEM;
				break;
			}
			v = n2;
			cap = nc;
		}
		v[cnt++] = (struct rec_in){
			.key = NULL, .key_len = -1, .value = val,
			.value_len = (int32_t)len, .timestamp = -1,
		};
	}
	if (rc < 0) {
		free(v);
		free(*joined);
		*joined = NULL;
		return rc;
	}
	*out = v;
	*n = cnt;
	return 0;
}

int part_append_lines(struct part *p, const struct lines_in *in, int64_t *nrecs)
{
	struct topic_config cfg;
	struct unit_batch *bl = NULL;
	size_t nb = 0, limit;
	int64_t n = 0;
	struct buf data;
	int rc;

	if (!p || !in || (!in->data && in->len) || (!in->pre && in->pre_len))
		return -EINVAL;
	if (part_is_deleted(p))
		return -ENOENT;
	topic_cfg(p->topic, &cfg);
	if (cfg.linger_ms > 0) {
		/* records of many writes share batches: part_append copies */
		struct rec_in *recs = NULL;
		size_t cnt = 0;
		char *joined;
		rc = lines_to_recs(in, &recs, &cnt, &joined);
		if (rc == 0 && cnt > 0)
			rc = part_append(p, recs, cnt, NULL);
		free(recs);
		free(joined);
		if (rc == 0 && nrecs)
			*nrecs = (int64_t)cnt;
		return rc;
	}
	limit = (size_t)cfg.batch_bytes;
	if ((size_t)cfg.max_message_bytes < limit)
		limit = (size_t)cfg.max_message_bytes;
	struct lines_in bounded = *in;
	if (bounded.max_line > (size_t)cfg.max_message_bytes)
		bounded.max_line = (size_t)cfg.max_message_bytes;
	wbuf_get(&data);
	rc = batch_encode_lines(&bounded, cfg.codec, limit, cfg.framing,
	                        tfs_now_ms(), &data, &bl, &nb, &n);
	if (rc == 0 && nb > 0) {
		struct pending r = {
			.batch = data.data, .batch_len = data.len, .unit = bl,
			.unit_nb = nb, .unit_recs = n, .bytes = data.len,
		};
		rc = part_submit(p, &r, true, 0);
	}
	free(bl);
	wbuf_put(&data);
	if (rc == 0 && nrecs)
		*nrecs = n;
	return rc;
}

int part_append_batch(struct part *p, const void *batch, size_t len,
                      int64_t *base_offset)
{
	struct append_result res;
	int rc = part_append_batch_idem(p, batch, len, &res);

	if (rc == 0 && base_offset)
		*base_offset = res.base_offset;
	return rc;
}

int part_append_batch_idem(struct part *p, const void *batch, size_t len,
                           struct append_result *out)
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
	if (codec > CODEC_ZSTD)
		return -ENOTSUP;
	if (h.base_offset != 0 || (h.attributes & BATCH_ATTR_CONTROL))
		return -EINVAL;
	if (h.records_count <= 0 ||
	    (int64_t)h.records_count != (int64_t)h.last_offset_delta + 1)
		return -EINVAL;
	if (prod_batch_tracked(&h) && (h.producer_epoch < 0 || h.base_sequence < 0))
		return -EINVAL;         /* Kafka's LogValidator: INVALID_RECORD */
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
	if (rc < 0)
		return rc;
	/* rc 1: a duplicate (write_list), first_offset its original base */
	if (out) {
		out->base_offset = r.first_offset;
		out->last_offset = r.first_offset + h.last_offset_delta;
		out->duplicate = rc == 1;
	}
	return 0;
}

/* Write what is queued and fsync, under the writer token; at close also
 * the producer snapshot, so the next start replays nothing. */
static int flush_with_token(struct part *p, bool closing)
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
	if (rc == 0 && closing)
		prod_snapshot(p, true);
	writer_release(p);
	return rc;
}

int part_flush(struct part *p)
{
	return flush_with_token(p, false);
}

int part_close_flush(struct part *p)
{
	return flush_with_token(p, true);
}

int64_t part_recovery_point(struct part *p)
{
	int64_t rp;

	lock_rank(&p->lock, RANK_PART_LOCK);
	rp = p->recovery_point;
	unlock_rank(&p->lock);
	return rp;
}

/* ============================== maintenance ============================== */

/* The timestamp time retention ages a sealed segment by: its newest
 * record timestamp, unless that is more than timestamp_after_max_ms in the
 * future (a producer's clock, or a batch written before Produce bounded
 * timestamps): then the .log's mtime, its last write.  -1 = keep it. */
static int64_t retention_ts(struct part *p, struct seg *s, int64_t now,
                            bool *by_mtime)
{
	int64_t after_max = p->topic->st->ts_after_max_ms;
	struct stat sb;
	int rc;

	*by_mtime = false;
	if (s->max_ts < 0)
		return -1;
	if (after_max < 0 || s->max_ts - now <= after_max)
		return s->max_ts;
	if (seg_pin(s) < 0)
		return -1;
	rc = fstat(s->fd, &sb);
	seg_unpin(s);
	if (rc < 0)
		return -1;
	*by_mtime = true;
	return (int64_t)sb.st_mtim.tv_sec * 1000 + sb.st_mtim.tv_nsec / 1000000;
}

/* Retention with the writer token held: by the maintenance thread (below)
 * and by the writer right after a roll (write_unit). */
static void retention_run(struct part *p, const struct topic_config *cfg)
{
	struct seg *gone[64];
	size_t ngone = 0;
	int64_t now = tfs_now_ms(), bytes;

	INV_WRITER(p);
	/* segments wholly below the log start (part_delete_records) go
	 * whatever the settings */
	if (cfg->retention_bytes < 0 && cfg->retention_ms < 0 &&
	    (p->nsegs < 2 || p->segs[1]->base_offset > p->log_start_offset))
		return;
	/* choose with the token alone (only its holder changes the list and
	 * the sizes), so the fstat of retention_ts runs with no mutex held */
	bytes = p->bytes_on_disk;
	while (ngone + 1 < p->nsegs && ngone < 64) {
		struct seg *front = p->segs[ngone];
		bool del = p->segs[ngone + 1]->base_offset <= p->log_start_offset;
		bool by_mtime = false;

		if (!del && cfg->retention_bytes >= 0 &&
		    bytes - front->size >= cfg->retention_bytes)
			del = true;
		if (!del && cfg->retention_ms >= 0) {
			int64_t ts = retention_ts(p, front, now, &by_mtime);
			del = ts >= 0 && ts < now - cfg->retention_ms;
			if (del && by_mtime)
				tfs_log(TFS_LOG_WARN, "storage: %s.log: newest timestamp "
				        "%" PRId64 " is in the future: deleted by its "
				        "modification time", front->path, front->max_ts);
		}
		if (!del)
			break;
		bytes -= front->size;
		gone[ngone++] = front;
	}
	if (ngone == 0)
		return;
	lock_rank(&p->lock, RANK_PART_LOCK);
	memmove(p->segs, p->segs + ngone, (p->nsegs - ngone) * sizeof(*p->segs));
	p->nsegs -= ngone;
	p->bytes_on_disk = bytes;
	if (p->segs[0]->base_offset > p->log_start_offset) {
		p->log_start_offset = p->segs[0]->base_offset;
		p->stream_start = p->segs[0]->stream_base;
	}       /* else a DeleteRecords start inside the new first segment */
	if (p->recovery_point < p->segs[0]->base_offset)
		p->recovery_point = p->segs[0]->base_offset;
	int64_t ss_base = p->segs[0]->base_offset, ss_pos = p->segs[0]->stream_base;
	unlock_rank(&p->lock);
	/* the new start first, then the files: a crash in between leaves the
	 * old front, which stream-start does not name */
	stream_start_write(p, ss_base, ss_pos);
	for (size_t i = 0; i < ngone; i++) {
		seg_unlink_files(gone[i]);
		seg_unref(gone[i]);
	}
	if (sio_fsync_dir(p->dir) < 0)
		p->dir_dirty = true;
	__atomic_store_n(&p->topic->st->ckpt_dirty, 1, __ATOMIC_RELAXED);
}

void part_retention_now(struct part *p)
{
	struct topic_config cfg;

	topic_cfg(p->topic, &cfg);
	retention_run(p, &cfg);
}

static void part_retention(struct part *p, const struct topic_config *cfg)
{
	if (cfg->retention_bytes < 0 && cfg->retention_ms < 0)
		return;
	if (writer_acquire(p))
		retention_run(p, cfg);
	writer_release(p);
}

/* Sync the sealed segments above the recovery point and move it to
 * where they end, as Kafka does after a roll: without it the recovery
 * point stayed where the last flush left it (with the default flush
 * policy, never: where the daemon started), and a kill -9 restart
 * scanned everything written since.  The fsyncs run without the writer
 * token (a sealed segment's files do not change; a reference keeps each
 * one, and retention may unlink it meanwhile: then it is skipped);
 * the token is taken only to publish the result, or to make a failure
 * sticky (flush_failed, as part_flush_all): after a failed fsync the
 * kernel may report the next one as a success. */
/* Is p->segs[i] a sealed segment part_sync_sealed syncs: not the last,
 * above the recovery point (the next one starts past it), below target?
 * p->lock held. */
static bool sync_wanted(const struct part *p, size_t i, int64_t target)
{
	return i + 1 < p->nsegs && p->segs[i + 1]->base_offset > p->recovery_point &&
	       p->segs[i]->base_offset < target;
}

static void part_sync_sealed(struct part *p)
{
	struct seg *one[8], **segs = one;
	size_t n = 0;
	int64_t target;
	bool todo;
	int rc = 0;

	lock_rank(&p->lock, RANK_PART_LOCK);
	target = p->sealed_to;
	todo = target > p->recovery_point;
	if (todo) {
		size_t cap = 0;
		for (size_t i = 0; i < p->nsegs; i++)
			cap += sync_wanted(p, i, target);
		if (cap > sizeof one / sizeof one[0])
			segs = malloc(cap * sizeof(*segs));
		for (size_t i = 0; segs && i < p->nsegs; i++)
			if (sync_wanted(p, i, target)) {
				seg_ref(p->segs[i]);
				segs[n++] = p->segs[i];
			}
	}
	unlock_rank(&p->lock);
	if (!segs)
		return;                 /* no memory: the next tick tries again */
	if (!todo)
		goto out;
	for (size_t i = 0; i < n && rc == 0; i++) {
		rc = seg_sync_sealed(segs[i]);
		if (rc == -ENOENT)
			rc = 0;         /* retention unlinked it meanwhile */
	}
	if (rc == 0)
		rc = sio_fsync_dir(p->dir);
	if (writer_acquire(p)) {
		if (rc < 0) {
			if (!p->flush_failed)
				tfs_log(TFS_LOG_ERROR, "storage: %s: flush failed: writes "
				        "are refused and the recovery point stays at %"
				        PRId64 " until restart", p->dir,
				        part_recovery_point(p));
			p->flush_failed = true;
		} else if (!p->flush_failed) {
			for (size_t i = 0; i < n; i++)
				segs[i]->unflushed = false;
			lock_rank(&p->lock, RANK_PART_LOCK);
			if (target > p->recovery_point) {
				p->recovery_point = target;
				__atomic_store_n(&p->topic->st->ckpt_dirty, 1,
				                 __ATOMIC_RELAXED);
			}
			unlock_rank(&p->lock);
		}
	}
	writer_release(p);
out:
	for (size_t i = 0; i < n; i++)
		seg_unref(segs[i]);
	if (segs != one)
		free(segs);
}

int part_maintain(struct part *p, int64_t now_mono, bool slow)
{
	struct topic_config cfg;
	bool go;

	if (part_is_deleted(p))
		return 0;
	INV_RANK_FREE(RANK_WRITER);     /* it takes the writer token */
	topic_cfg(p->topic, &cfg);

	/* linger: the oldest queued request has waited long enough */
	lock_rank(&p->qlock, RANK_PART_QLOCK);
	go = p->qhead && !p->writing && now_mono - p->qhead->enq_ms >= cfg.linger_ms;
	if (go) {
		p->writing = true;
		INV_TOKEN_TAKEN(p);
	}
	unlock_rank(&p->qlock);
	if (go) {
		writer_round(p);
		writer_release(p);
	}

	/* flush_ms */
	lock_rank(&p->lock, RANK_PART_LOCK);
	go = cfg.flush_ms > 0 && p->first_unflushed_ms > 0 &&
	     now_mono - p->first_unflushed_ms >= cfg.flush_ms;
	unlock_rank(&p->lock);
	if (go) {
		if (writer_acquire(p))
			part_flush_all(p);
		writer_release(p);
	}
	if (!slow)
		return 0;

	part_sync_sealed(p);

	/* segment_ms for an idle partition */
	lock_rank(&p->lock, RANK_PART_LOCK);
	struct seg *a = part_active(p);
	go = a->size > 0 && a->roll_start_ms > 0 &&
	     tfs_now_ms() - a->roll_start_ms >= cfg.segment_ms;
	unlock_rank(&p->lock);
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
