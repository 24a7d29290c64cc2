/*
 * part_read.c - one partition's read paths: reads by stream position
 * (part_stream_read, with the decoded-batch cache), offset -> stream
 * position, offset by time, waiting for the stream to grow, and fetch
 * slices (part_fetch_slice) for sendfile.
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
 * Invariants: a reader snapshots the published end (the segment, its size)
 * under part.lock and never looks past it, so it sees whole batches only
 * (see STATE in part_open.c); it holds a segment reference and a pin (the
 * fd LRU, engine.h OPEN FILES), not the lock, while it reads the file, so
 * retention or deletion may unlink the files meanwhile.  A sealed
 * segment's fd may have been closed by the LRU: pinning reopens it, and
 * when the file is gone by then the reader gets what it would have got
 * after the removal (-ERANGE for retention, so callers look again;
 * -ENOENT for a deleted partition: pin_for_read).  A fetch slice keeps its
 * pin until part_slice_release.  A torn or undecodable batch inside the published range is
 * corruption: logged, -EBADMSG, never served.
 *
 * Locks: part.lock (the segment list and the published end, the active
 * segment's index entries in seg_index_lookup, part.cond), part.cache_mu
 * (the cache, never held across file I/O), seg.map_mu (a sealed segment's
 * index maps and its verified range).  Never the writer token.
 *
 * Thread-safety: every exported function is thread-safe.
 */
#include "engine.h"
#include "batch_internal.h"
#include "sysio.h"
#include "stats.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define READ_CACHE_MAX (8 << 20)     /* largest rendered batch kept decoded */
#define READ_MAP_MIN (64 << 10)      /* smaller reads use pread: a mapping
                                        costs more than copying that much */

/* ================================= reads ================================= */

/* Index of the first segment whose stream_end > pos (lock held), or nsegs. */
static size_t seg_for_stream(struct part *p, int64_t pos)
{
	size_t lo = 0, hi = p->nsegs;

	INV_LOCKED(&p->lock);
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

	INV_LOCKED(&p->lock);
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

/* Pin s (a reference held) for reading: its fd, reopened when the fd LRU
 * closed it.  A file that is gone reads as it would have had the reader
 * come after its removal: -ERANGE when retention removed the segment
 * (before the log start now), -ENOENT when the partition was deleted;
 * gone while still listed (removed behind topicfs's back): -EIO, logged. */
static int pin_for_read(struct part *p, struct seg *s)
{
	int rc = seg_pin(s);

	if (rc != -ENOENT)
		return rc;
	lock_rank(&p->lock, RANK_PART_LOCK);
	if (p->deleted || part_is_deleted(p))
		rc = -ENOENT;
	else if (s->base_offset < p->log_start_offset)
		rc = -ERANGE;
	else
		rc = -EIO;
	unlock_rank(&p->lock);
	if (rc == -EIO)
		tfs_log(TFS_LOG_ERROR, "storage: %s.log: missing, not removed by "
		        "topicfs: reads there fail", s->path);
	return rc;
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

	lock_rank(&p->cache_mu, RANK_PART_CACHE_MU);
	if (c->seg_base == s->base_offset && c->file_pos == fpos && !c->raw) {
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
	unlock_rank(&p->cache_mu);
	return hit;
}

/* Where the cached batch is (cache_mu held): its segment, file positions,
 * stream position and rendered length, and the resume hint. */
static void cache_where(struct read_cache *c, struct seg *s, int64_t fpos,
                        int64_t npos, int64_t spos, int64_t rlen, size_t idx,
                        int64_t at)
{
	c->seg_base = s->base_offset;
	c->file_pos = fpos;
	c->next_pos = npos;
	c->stream_pos = spos;
	c->rlen = rlen;
	c->rec_idx = idx;
	c->rec_pos = at;
}

/* Keep the decoded batch d (at fpos, rendered from spos, rlen bytes) as the
 * partition's cache.  Its bytes stay where the batch reader read them: the
 * cache takes br's buffer and gives br its previous one to reuse, so
 * nothing is copied or allocated.  Call only when br is done reading.
 * br NULL: d's records point into d's own buffer (a decompressed batch).
 * d NULL: an uncompressed batch read in place (read_mapped), partly
 * rendered: only where it is and the resume hint, with raw_pos the
 * record's byte position (its bytes stay in the page cache). */
static void cache_put(struct part *p, struct seg *s, int64_t fpos, int64_t npos,
                      int64_t spos, int64_t rlen, struct batch_decoded *d,
                      struct batch_reader *br, size_t idx, int64_t at,
                      size_t raw_pos)
{
	struct read_cache *c = &p->cache;
	struct batch_decoded old = { 0 };
	bool had = false;

	lock_rank(&p->cache_mu, RANK_PART_CACHE_MU);
	if (c->seg_base >= 0) {
		old = c->dec;
		had = true;
	}
	if (br) {
		struct buf mine = c->bytes;
		c->bytes = br->chunk;
		br->chunk = mine;
		br->chunk.len = 0;
		br->chunk_pos = br->pos;
	}
	c->raw = d == NULL;
	if (d) {
		c->dec = *d;
		memset(d, 0, sizeof(*d));
	} else {
		memset(&c->dec, 0, sizeof(c->dec));
	}
	c->raw_pos = raw_pos;
	cache_where(c, s, fpos, npos, spos, rlen, idx, at);
	unlock_rank(&p->cache_mu);
	if (had)
		batch_decoded_free(&old);
}

/* ============================= mapped reads ============================== */

/* The cache's hint for the uncompressed batch at (s, fpos), if it is
 * the one cached: its stream position and file end too. */
static bool cache_get_raw(struct part *p, struct seg *s, int64_t fpos,
                          int64_t *spos, int64_t *npos, size_t *hpos,
                          size_t *hidx, int64_t *hat)
{
	struct read_cache *c = &p->cache;
	bool hit = false;

	lock_rank(&p->cache_mu, RANK_PART_CACHE_MU);
	if (c->raw && c->seg_base == s->base_offset && c->file_pos == fpos) {
		*spos = c->stream_pos;
		*npos = c->next_pos;
		*hpos = c->raw_pos;
		*hidx = c->rec_idx;
		*hat = c->rec_pos;
		hit = true;
	}
	unlock_rank(&p->cache_mu);
	return hit;
}

/* read_from_seg through a read-only mapping of the segment from fpos (the
 * .sindex entry at or before cur, at stream position sp) to size: no
 * pread copy, and uncompressed batches are rendered from their bytes in
 * place (batch_render_raw) after one CRC check, not decoded into a record
 * array.  A partly rendered batch is remembered (cache_put, raw), so the
 * next sequential read resumes at its record without a second check.
 * Compressed batches are decoded as before (from the mapping).  Only
 * published bytes (below size) are looked at, and topicfs never truncates
 * a segment below what it published while it runs; a file found shorter
 * than that (cut behind topicfs's back) is read with pread instead, which
 * reports it.  A cut racing this read would still be SIGBUS.  1 when the
 * segment cannot be mapped (the caller reads it with pread). */
static int read_mapped(struct part *p, struct seg *s, int64_t size, int64_t cur,
                       uint8_t *dst, size_t cap, size_t *got, int64_t fpos,
                       int64_t sp)
{
	long page = sysconf(_SC_PAGESIZE);
	int64_t pos = fpos, moff;
	size_t done = 0, max_batch = part_max_batch(p), mlen;
	int framing = part_framing(p), rc = 0;
	uint8_t *map;

	if (page <= 0)
		page = 4096;
	moff = fpos & ~((int64_t)page - 1);
	if (size <= fpos || cap < READ_MAP_MIN)
		return 1;
	/* a file cut behind our back (shorter than what was published) would
	 * be SIGBUS through a mapping: pread reports it as corruption */
	struct stat sb;
	if (fstat(s->fd, &sb) < 0 || sb.st_size < size)
		return 1;
	mlen = (size_t)(size - moff);
	map = mmap(NULL, mlen, PROT_READ, MAP_SHARED, s->fd, moff);
	if (map == MAP_FAILED)
		return 1;
	while (done < cap && pos < size) {
		const uint8_t *b = map + (pos - moff);
		struct batch_header h;
		int64_t total, rlen, spos, npos, hat = 0;
		size_t n = 0, hpos = 0, hidx = 0;

		if (cache_get_raw(p, s, pos, &spos, &npos, &hpos, &hidx, &hat) &&
		    spos == sp && npos <= size && cur >= sp) {
			/* resume a batch read before: checked then */
			total = npos - pos;
			if (batch_parse_header(b, (size_t)total, &h) < 0) {
				rc = -EBADMSG;
				log_corrupt(s, pos, rc);
				break;
			}
		} else {
			hpos = hidx = 0;
			hat = 0;
			/* as br_next: torn or malformed, inside the published
			 * range, is corruption */
			if (batch_frame(b, size - pos, max_batch, &total) < 0 ||
			    batch_parse_header(b, (size_t)total, &h) < 0 ||
			    ((h.attributes & BATCH_ATTR_CODEC_MASK) == CODEC_NONE &&
			     batch_check_crc(b, (size_t)total) < 0)) {
				rc = -EBADMSG;
				log_corrupt(s, pos, rc);
				break;
			}
		}
		if ((h.attributes & BATCH_ATTR_CODEC_MASK) == CODEC_NONE) {
			if (h.attributes & BATCH_ATTR_CONTROL) {
				pos += total;   /* renders nothing */
				continue;
			}
			rc = batch_render_raw(b, (size_t)total, &h, framing, cur - sp,
			                      dst + done, cap - done, &n, &rlen, &hpos,
			                      &hidx, &hat);
			if (rc < 0) {
				log_corrupt(s, pos, rc);
				break;
			}
			done += n;
			cur += (int64_t)n;
			if (rlen < 0) {
				/* dst is full inside this batch: resume here next */
				cache_put(p, s, pos, pos + total, sp, -1, NULL, NULL, hidx, hat, hpos);
				break;
			}
			sp += rlen;
			pos += total;
			continue;
		}
		/* compressed: decoded (the CRC with it), from the mapping */
		struct batch_decoded d;
		size_t idx = 0;
		int64_t at = 0;
		if (cache_copy(p, s, pos, cur, dst + done, cap - done, &n, &rlen, &npos)) {
			if (sp + rlen > cur) {
				done += n;
				cur += (int64_t)n;
			}
			sp += rlen;
			pos = npos;
			continue;
		}
		rc = read_decode(p, s, pos, b, (size_t)total, &d);
		if (rc < 0)
			break;
		rlen = render_len(&d, framing);
		if (sp + rlen <= cur) {
			sp += rlen;
			pos += total;
			batch_decoded_free(&d);
			continue;
		}
		int64_t skip = cur - sp;
		n = render_from(&d, framing, skip, dst + done, cap - done, &idx, &at);
		if (skip + (int64_t)n < rlen && rlen <= READ_CACHE_MAX && d.buf)
			cache_put(p, s, pos, pos + total, sp, rlen, &d, NULL, idx, at, 0);
		else
			batch_decoded_free(&d);
		done += n;
		cur += (int64_t)n;
		sp += rlen;
		pos += total;
	}
	munmap(map, mlen);
	*got = done;
	return rc < 0 ? rc : 0;
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
	rc = read_mapped(p, s, size, cur, dst, cap, got, fpos, sp);
	if (rc <= 0)
		return rc;
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
			cache_put(p, s, bpos, br.pos, sp, rlen, &d, &br, idx, at, 0);
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
	lock_rank(&p->lock, RANK_PART_LOCK);
	if (p->deleted || part_is_deleted(p)) {
		unlock_rank(&p->lock);
		return -ENOENT;
	}
	if (pos < p->stream_start || pos > p->stream_end) {
		unlock_rank(&p->lock);
		return -ERANGE;
	}
	end = p->stream_end;
	if ((int64_t)len > end - pos)
		len = (size_t)(end - pos);
	if (len == 0) {
		unlock_rank(&p->lock);
		*nread = 0;
		return 0;
	}
	i = seg_for_stream(p, pos);
	s = p->segs[i];
	seg_ref(s);
	size = s->size;
	unlock_rank(&p->lock);

	for (;;) {
		size_t got = 0;
		rc = pin_for_read(p, s);
		if (rc < 0)
			break;
		rc = read_from_seg(p, s, size, cur, (uint8_t *)buf + done, len - done, &got);
		seg_unpin(s);
		done += got;
		cur += (int64_t)got;
		if (rc < 0 || done >= len)
			break;
		/* on to the next segment holding cur */
		int64_t base = s->base_offset;
		seg_unref(s);
		s = NULL;
		lock_rank(&p->lock, RANK_PART_LOCK);
		i = seg_for_stream(p, cur);
		while (i < p->nsegs && p->segs[i]->base_offset <= base)
			i++;
		if (i < p->nsegs) {
			s = p->segs[i];
			seg_ref(s);
			size = s->size;
		}
		unlock_rank(&p->lock);
		if (!s)
			break;
	}
	seg_unref(s);
	if (rc < 0 && done == 0)
		return rc;
	*nread = done;
	return 0;
}

static int stream_pos(struct part *p, int64_t offset, bool exact, int64_t *pos);

int part_stream_pos_for_offset(struct part *p, int64_t offset, int64_t *pos)
{
	return stream_pos(p, offset, false, pos);
}

int part_stream_pos_exact(struct part *p, int64_t offset, int64_t *pos)
{
	return stream_pos(p, offset, true, pos);
}

/* exact: below the log start too, as long as the segment holds it (the
 * first segment's base and below answer its stream base). */
static int stream_pos(struct part *p, int64_t offset, bool exact, int64_t *pos)
{
	struct seg *s;
	uint8_t e[16];
	int64_t fpos = 0, sp, size, result = -1;
	struct batch_reader br;
	int framing, rc;

	if (!p)
		return -EINVAL;
	framing = part_framing(p);
again:
	fpos = 0;
	result = -1;
	lock_rank(&p->lock, RANK_PART_LOCK);
	if (p->deleted || part_is_deleted(p)) {
		unlock_rank(&p->lock);
		return -ENOENT;
	}
	if (offset >= p->next_offset || (!exact && offset <= p->log_start_offset)) {
		*pos = offset >= p->next_offset ? p->stream_end : p->stream_start;
		unlock_rank(&p->lock);
		return 0;
	}
	if (exact && offset <= p->segs[0]->base_offset) {
		*pos = p->segs[0]->stream_base;
		unlock_rank(&p->lock);
		return 0;
	}
	s = p->segs[seg_for_offset(p, offset)];
	seg_ref(s);
	size = s->size;
	sp = s->stream_base;
	unlock_rank(&p->lock);

	rc = pin_for_read(p, s);
	if (rc == -ERANGE) {
		seg_unref(s);           /* retention took it: the log start now */
		goto again;
	}
	if (rc < 0)
		goto out;
	rc = seg_index_lookup(s, &p->lock, IDX_STREAM, offset - s->base_offset, true, e);
	if (rc < 0)
		goto unpin;
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
unpin:
	seg_unpin(s);
out:
	seg_unref(s);
	return rc;
}

int part_offset_for_time(struct part *p, int64_t ts_ms, int64_t *offset)
{
	int64_t next, after_base = -1, lso = 0;

	if (!p)
		return -EINVAL;
	for (;;) {
		struct seg *s = NULL;
		int64_t size, start, fpos = 0;
		uint8_t e[16];
		struct batch_reader br;
		int rc;

		lock_rank(&p->lock, RANK_PART_LOCK);
		if (p->deleted || part_is_deleted(p)) {
			unlock_rank(&p->lock);
			return -ENOENT;
		}
		next = p->next_offset;
		lso = p->log_start_offset;      /* never an answer below it */
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
		unlock_rank(&p->lock);
		if (!s) {
			*offset = next;
			return 0;
		}
		rc = pin_for_read(p, s);
		if (rc < 0) {
			seg_unref(s);
			if (rc == -ERANGE)
				continue;       /* retention took it: look again */
			return rc;
		}
		/* everything up to a time entry below ts is below ts */
		start = s->base_offset;
		rc = seg_index_lookup(s, &p->lock, IDX_TIME, ts_ms - 1, false, e);
		if (rc == 1)
			start = s->base_offset + (int32_t)be32_get(e + 8) + 1;
		if (start < lso)
			start = lso;
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
		seg_unpin(s);
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
	lock_rank(&p->lock, RANK_PART_LOCK);
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
	unlock_rank(&p->lock);
	return rc;
}

/* ============================= fetch slices ============================== */

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
	lock_rank(&s->map_mu, RANK_SEG_MAP_MU);
	lo = s->verified_lo;
	hi = s->verified_hi;
	unlock_rank(&s->map_mu);
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
	lock_rank(&s->map_mu, RANK_SEG_MAP_MU);
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
	unlock_rank(&s->map_mu);
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
	lock_rank(&p->lock, RANK_PART_LOCK);
	if (p->deleted || part_is_deleted(p)) {
		unlock_rank(&p->lock);
		return -ENOENT;
	}
	if (offset < p->log_start_offset || offset > p->next_offset) {
		unlock_rank(&p->lock);
		return -ERANGE;
	}
	sl.high_watermark = p->next_offset;
	sl.log_start_offset = p->log_start_offset;
	if (offset == p->next_offset) {
		s = part_active(p);
		seg_ref(s);
		/* the active segment's fd is open: no open(2) under the lock;
		 * the pin keeps it open after a roll until the release */
		sl.fd = seg_pin(s);
		sl.file_pos = s->size;
		sl.len = 0;
		sl.first_offset = offset;
		sl.seg = s;
		unlock_rank(&p->lock);
		*out = sl;
		return 0;
	}
	s = p->segs[seg_for_offset(p, offset)];
	seg_ref(s);
	size = s->size;
	unlock_rank(&p->lock);

	rc = pin_for_read(p, s);
	if (rc < 0) {
		seg_unref(s);
		return rc;
	}
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
	seg_unpin(s);
	seg_unref(s);
	return rc;
}

void part_slice_release(struct part_slice *s)
{
	if (!s || !s->seg)
		return;
	seg_unpin(s->seg);
	seg_unref(s->seg);
	s->seg = NULL;
	s->fd = -1;
}
