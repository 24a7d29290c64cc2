/*
 * records.c - records, not just values, through the mount (issue 17): the
 * record view <p>@<spec>.json, and the topic-level writable files
 * <topic>/@keyed and <topic>/@json.  fs.c owns the FUSE side (nodes,
 * handles, locks, parking); this file owns what is rendered and what is
 * appended.  Contract: docs/FILE-VIEW.md, "Records".
 *
 * The record view
 * ---------------
 * The JSON stream of a view is the concatenation of recjson_render's line
 * for every record with offset >= first (the view's resolved start) and
 * < end_offset when bounded, in offset order, control batches left out.
 * Every byte of it is a function of immutable records (topic, partition,
 * offset, timestamp type, timestamp, key, headers, value), so file
 * position p names the same byte for every reader and every read: a read
 * at any position is consistent with every other read.  Each record is one
 * line and every '\n' in the stream ends a record (recjson escapes
 * newlines inside strings), so a reader of whole lines gets whole records.
 *
 * The stream has no index: JSON positions are learnt by rendering.  A view
 * keeps
 *   - a window: the rendered lines of consecutive records, from the record
 *     holding the position of the latest read on (so a reader that seeks
 *     back into what it just read, as head(1) does, costs nothing), with
 *     the JSON end position and offset of each record (struct fsr_line);
 *   - checkpoints: (position, offset) pairs, "the stream from position
 *     pos is the rendering of the records from offset on", one at the
 *     start and one at least every FSR_CHECKPOINT_EVERY bytes as the
 *     window moves forward.
 * A read inside or at the end of the window renders forward from there;
 * any other read restarts from the nearest checkpoint at or below it and
 * renders forward (a far seek forward renders everything in between: it
 * costs what reading there would).  Rendering fetches whole batches
 * (part_fetch_slice, pread, batch_decode), FSR_FETCH_BYTES at a time.
 *
 * Retention.  When the record a read needs is gone (part_fetch_slice:
 * -ERANGE below the log start) the rule of fs.c's views applies: a read
 * that continues a read which ended inside a record gets ENODATA; any
 * other (it ended a line, the first read, a seek) is shifted: its position
 * becomes the start of the first retained record, the checkpoints are
 * dropped and that is the only one (counted in .status as reader_shifts).
 * A read that has part of its answer in the window gets that part first.
 *
 * Group views (<p>@group=NAME.json) commit by offset, not stream position:
 * fsr_view_consumed gives the first record not wholly before
 * min(end of the previous read, position of the new read), from the
 * window (which still holds the previous read's records), and fs.c hands
 * it to fsg_reader_advance_offset.  A position the window cannot place (a
 * seek back beyond the previous read) advances nothing: at-least-once.
 *
 * The writable files
 * ------------------
 * <topic>/@keyed takes lines KEY<sep>VALUE (sep: the topic's
 * key_separator, tab by default; the first such byte splits, so a value
 * may hold it, a key may not); a line without sep is a keyless record
 * whose value is the whole line ("" is an empty value, as in a partition
 * file).  <topic>/@json takes recjson lines (recjson.h); blank lines (only
 * JSON whitespace) are skipped.  Both:
 *   - complete lines only: a partial last line is held per open file
 *     description, until its newline, close, fsync or release, as for
 *     partition files (fs.c write_lines), counted in [fs] max_held_bytes
 *     (past it, the partial is taken as a line at once: held_flushes);
 *   - every line of a write is checked before anything is appended: a line
 *     longer than the bound (@keyed: max_message_bytes less 128 bytes, as a
 *     partition line; @json: 8 x max_message_bytes of JSON, and the parsed
 *     record's key + value + header bytes within max_message_bytes less
 *     128) is EMSGSIZE; a @json line that does not parse, names another
 *     topic, or a partition >= the topic's count is EINVAL; then nothing
 *     of that write is appended and the held partial is unchanged;
 *   - partitions: a record with a key goes to Kafka's default partition
 *     for it, toPositive(murmur2(key)) % partitions (common/murmur2.h,
 *     librdkafka's murmur2_random); @json's "partition" wins when given;
 *     records without a key go to one partition per write(2), the next
 *     keyless write to the next partition (a process-wide counter, started
 *     at a clock-derived value): Kafka's sticky partitioner, with the
 *     write as the batch;
 *   - appending: the records of one partition go in one part_append call,
 *     in line order, partitions in increasing order.  So per partition a
 *     write is contiguous and all or nothing; across partitions, a storage
 *     failure (ENOSPC, EIO) at partition k leaves the records already
 *     appended to the partitions before k (they are not taken back) and
 *     nothing in k and after; the write fails with that error and the
 *     held partial is unchanged.  Nothing is acknowledged that is not
 *     appended.
 *
 * Thread safety: a struct fsr_view and a struct fsr_writer belong to one
 * handle and are used under its lock (fs.c h->lock); the functions here
 * take no lock of fs.c's.  The sticky counter is a relaxed atomic.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "fs_int.h"
#include "murmur2.h"
#include "recjson.h"

#define FSR_FETCH_BYTES       (1024 * 1024)     /* batches read at a time */
#define FSR_DECODE_MAX        (64 * 1024 * 1024) /* the store's default
                                                   bound on a batch */
#define FSR_CHECKPOINT_EVERY  (256 * 1024)      /* JSON bytes between
                                                   checkpoints */
#define FSR_WINDOW_SOFT_MAX   (4 * 1024 * 1024) /* trim while scanning */
#define FSR_RECORD_OVERHEAD   128               /* as fs.c's */
#define FSR_JSON_LINE_FACTOR  8                 /* JSON bytes per record
                                                   byte, at most */

/* ============================== the view ================================= */

struct fsr_line {
	int64_t offset;         /* the record's offset */
	int64_t end;            /* JSON position after its '\n' */
};

struct fsr_cp {
	int64_t pos;            /* JSON position of a record start */
	int64_t offset;         /* the stream from pos: records >= offset */
};

struct fsr_view {
	char topic[256];
	int32_t partition;
	bool started;           /* the start is resolved */
	int64_t end_offset;     /* exclusive bound, -1: unbounded */
	struct fsr_cp *cp;      /* ascending pos; never empty once started */
	size_t ncp, cpcap;
	struct buf win;         /* the window's rendered lines */
	int64_t win_pos;        /* JSON position of win.data[0] */
	int64_t win_next;       /* the next offset to render after it */
	struct fsr_line *lines; /* the window's records, in order */
	size_t nlines, linecap;
	int64_t read_end;       /* JSON position after the last read, -1 */
	bool end_at_record;     /* that read ended with '\n' */
};

int fsr_view_new(const char *topic, int32_t partition, struct fsr_view **out)
{
	struct fsr_view *v = calloc(1, sizeof *v);

	if (!v)
		return -ENOMEM;
	snprintf(v->topic, sizeof v->topic, "%s", topic);
	v->partition = partition;
	v->end_offset = -1;
	v->read_end = -1;
	*out = v;
	return 0;
}

void fsr_view_free(struct fsr_view *v)
{
	if (!v)
		return;
	buf_free(&v->win);
	free(v->lines);
	free(v->cp);
	free(v);
}

bool fsr_view_started(const struct fsr_view *v)
{
	return v->started;
}

static void win_reset(struct fsr_view *v, int64_t pos, int64_t offset)
{
	v->win.len = 0;
	v->nlines = 0;
	v->win_pos = pos;
	v->win_next = offset;
}

static int64_t win_end(const struct fsr_view *v)
{
	return v->win_pos + (int64_t)v->win.len;
}

/* Add a checkpoint after the last one (a position at or below it is
 * known already).  Without memory it is skipped: only slower. */
static void cp_add(struct fsr_view *v, int64_t pos, int64_t offset)
{
	if (v->ncp && pos <= v->cp[v->ncp - 1].pos)
		return;
	if (v->ncp == v->cpcap) {
		size_t cap = v->cpcap ? v->cpcap * 2 : 16;
		struct fsr_cp *c = realloc(v->cp, cap * sizeof *c);
		if (!c)
			return;
		v->cp = c;
		v->cpcap = cap;
	}
	v->cp[v->ncp++] = (struct fsr_cp){ pos, offset };
}

/* The only checkpoint is (pos, offset), the window empty there. */
static void rebase(struct fsr_view *v, int64_t pos, int64_t offset)
{
	v->ncp = 0;
	cp_add(v, pos, offset);
	win_reset(v, pos, offset);
}

/* The last checkpoint at or below pos, or NULL. */
static const struct fsr_cp *cp_find(const struct fsr_view *v, int64_t pos)
{
	size_t lo = 0, hi = v->ncp;

	while (lo < hi) {               /* first with cp.pos > pos */
		size_t mid = lo + (hi - lo) / 2;
		if (v->cp[mid].pos <= pos)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo ? &v->cp[lo - 1] : NULL;
}

/* Drop the window's records that end at or before pos (those wholly
 * before it), leaving a checkpoint where the window now starts when the
 * last one is FSR_CHECKPOINT_EVERY behind. */
static void win_trim(struct fsr_view *v, int64_t pos)
{
	size_t k = 0;
	int64_t start;

	while (k < v->nlines && v->lines[k].end <= pos)
		k++;
	if (k == 0)
		return;
	start = v->lines[k - 1].end;
	memmove(v->win.data, v->win.data + (start - v->win_pos),
	        (size_t)(win_end(v) - start));
	v->win.len -= (size_t)(start - v->win_pos);
	memmove(v->lines, v->lines + k, (v->nlines - k) * sizeof *v->lines);
	v->nlines -= k;
	v->win_pos = start;
	if (!v->ncp || start - v->cp[v->ncp - 1].pos >= FSR_CHECKPOINT_EVERY)
		cp_add(v, start, v->nlines ? v->lines[0].offset : v->win_next);
}

int fsr_view_resolve(struct fsr_view *v, struct part *p,
                     const struct fsv_view_spec *spec,
                     const struct part_info *info)
{
	int64_t first;
	int rc;

	switch (spec->from) {
	case FSV_FROM_GROUP:    /* made an offset or earliest at open */
	case FSV_FROM_EARLIEST:
		first = info->log_start_offset;
		break;
	case FSV_FROM_LATEST:
		first = info->next_offset;
		break;
	case FSV_FROM_LAST_N:
		first = info->next_offset - spec->arg;
		break;
	case FSV_FROM_OFFSET:
		if (spec->arg > info->next_offset)
			return 0;       /* not written yet: wait for it */
		first = spec->arg;
		break;
	case FSV_FROM_TIME:
		rc = part_offset_for_time(p, spec->arg, &first);
		if (rc)
			return rc;
		if (first >= info->next_offset && spec->arg > tfs_now_ms())
			return 0;       /* a future time: wait for such a record */
		break;
	default:
		return -EINVAL;
	}
	if (first < info->log_start_offset)
		first = info->log_start_offset;
	v->end_offset = spec->bounded ? spec->to : -1;
	rebase(v, 0, first);
	if (!v->ncp)
		return -ENOMEM;
	v->started = true;
	return 0;
}

static int line_push(struct fsr_view *v, int64_t offset, int64_t end)
{
	if (v->nlines == v->linecap) {
		size_t cap = v->linecap ? v->linecap * 2 : 256;
		struct fsr_line *l = realloc(v->lines, cap * sizeof *l);
		if (!l)
			return -ENOMEM;
		v->lines = l;
		v->linecap = cap;
	}
	v->lines[v->nlines++] = (struct fsr_line){ offset, end };
	return 0;
}

/* Render the records of the batches from v->win_next on (one fetch) onto
 * the window.  0 (v->win_next moved, possibly with nothing rendered: a
 * control batch), -ERANGE when v->win_next is below the log start now,
 * -ENOENT for a deleted partition, other errors. */
static int render_more(struct fsr_view *v, struct part *p)
{
	struct recjson_src src = {
		.topic = v->topic, .partition = v->partition,
		.broker = RECJSON_BROKER_ID,
	};
	struct part_slice sl;
	uint8_t *data = NULL;
	size_t pos = 0;
	int rc = part_fetch_slice(p, v->win_next, FSR_FETCH_BYTES, &sl);

	if (rc)
		return rc;
	if (sl.len == 0)
		goto release;           /* at the end */
	data = malloc(sl.len);
	if (!data) {
		rc = -ENOMEM;
		goto release;
	}
	for (size_t got = 0; got < sl.len; ) {
		ssize_t n = pread(sl.fd, data + got, sl.len - got,
		                  (off_t)(sl.file_pos + (int64_t)got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno : -EIO;
			fsv_log("read %s/%d: pread of the log: %s", v->topic,
			        v->partition, strerror(-rc));
			goto release;
		}
		got += (size_t)n;
	}
	while (pos < sl.len) {
		struct batch_header h;
		struct batch_decoded dec;
		size_t blen;

		rc = batch_parse_header(data + pos, sl.len - pos, &h);
		if (rc)
			goto corrupt;
		blen = BATCH_LOG_OVERHEAD + (size_t)h.length;
		if (!(h.attributes & BATCH_ATTR_CONTROL)) {
			rc = batch_decode(data + pos, blen, FSR_DECODE_MAX, &dec);
			if (rc)
				goto corrupt;
			src.log_append_time = (h.attributes & BATCH_ATTR_LOG_APPEND_TIME) != 0;
			for (size_t i = 0; i < dec.nrecs && !rc; i++) {
				const struct record *r = &dec.recs[i];
				if (r->offset < v->win_next)
					continue;
				if (v->end_offset >= 0 && r->offset >= v->end_offset)
					break;
				rc = recjson_render(&v->win, &src, r);
				if (!rc)
					rc = line_push(v, r->offset, win_end(v));
			}
			batch_decoded_free(&dec);
			if (rc == -EBADMSG)
				goto corrupt;
			if (rc)
				goto release;
		}
		if (h.base_offset + h.last_offset_delta + 1 > v->win_next)
			v->win_next = h.base_offset + h.last_offset_delta + 1;
		pos += blen;
	}
	rc = 0;
	goto release;
corrupt:
	fsv_log("read %s/%d: a corrupt batch near offset %" PRId64 " (%s): not "
	        "served", v->topic, v->partition, v->win_next, strerror(-rc));
	rc = -EIO;
release:
	free(data);
	part_slice_release(&sl);
	return rc;
}

int fsr_view_read(struct fsr_view *v, struct part *p, struct fsv_counters *ctr,
                  int64_t off, char *buf, size_t size, size_t *nread, bool *wait)
{
	struct part_info info;
	int rc = 0;

	*nread = 0;
	*wait = false;
	if (!v->started) {
		*wait = true;
		return 0;
	}
	if (off < v->win_pos || off > win_end(v)) {
		const struct fsr_cp *c = cp_find(v, off);
		if (c)
			win_reset(v, c->pos, c->offset);
		/* else below every checkpoint (after a shift): the records
		 * there are gone, as render_more will find */
	}
	win_trim(v, off);
	part_info(p, &info);
	for (int idle = 0; win_end(v) < off + (int64_t)size; ) {
		bool gone = off < v->win_pos;
		if (v->end_offset >= 0 && v->win_next >= v->end_offset)
			break;          /* bounded: all of it is rendered */
		if (!gone && v->win_next >= info.next_offset) {
			part_info(p, &info);
			if (v->win_next >= info.next_offset || ++idle > 8)
				break;  /* nothing more now */
		}
		if (!gone) {
			rc = render_more(v, p);
			if (rc == -ENOENT)
				return 0;       /* deleted: end of file */
			if (rc != -ERANGE && rc)
				return rc;
			if (rc == -ERANGE) {
				part_info(p, &info);
				if (v->win_next >= info.log_start_offset) {
					fsv_log("read %s/%d: no batch holds offset %" PRId64
					        " (a hole in the log): EIO", v->topic,
					        v->partition, v->win_next);
					return -EIO;
				}
			}
			gone = rc == -ERANGE;
		}
		if (gone) {
			if (win_end(v) > off && off >= v->win_pos)
				break;  /* serve what the window has first */
			/* the records at off are gone (retention): fs.c's rule */
			part_info(p, &info);
			if (v->read_end == off && !v->end_at_record) {
				atomic_fetch_add_explicit(&ctr->reads_overtaken, 1,
				                          memory_order_relaxed);
				fsv_log("read %s/%d@...json: retention removed the record "
				        "this reader was in the middle of (log now starts at "
				        "offset %" PRId64 "): ENODATA", v->topic,
				        v->partition, info.log_start_offset);
				return -ENODATA;
			}
			atomic_fetch_add_explicit(&ctr->reader_shifts, 1, memory_order_relaxed);
			rebase(v, off, info.log_start_offset);
			if (!v->ncp)
				return -ENOMEM;
			continue;
		}
		if (v->win.len > FSR_WINDOW_SOFT_MAX)
			win_trim(v, off);       /* a far seek forward */
	}
	if (off >= v->win_pos && win_end(v) > off) {
		size_t n = (size_t)(win_end(v) - off);
		if (n > size)
			n = size;
		memcpy(buf, v->win.data + (off - v->win_pos), n);
		*nread = n;
		v->read_end = off + (int64_t)n;
		v->end_at_record = buf[n - 1] == '\n';
		return 0;
	}
	if (v->end_offset >= 0 && v->win_next >= v->end_offset)
		return 0;               /* bounded view: done */
	/* at the end: a deleted topic is the end of the file, else wait */
	if (part_wait_stream(p, info.stream_end, 0) == -ENOENT)
		return 0;
	*wait = true;
	return 0;
}

int64_t fsr_view_consumed(const struct fsr_view *v, int64_t pos)
{
	int64_t f;

	if (!v->started || v->read_end < 0)
		return -1;              /* nothing returned yet */
	f = pos < v->read_end ? pos : v->read_end;
	if (f < v->win_pos || f > win_end(v)) {
		for (size_t i = 0; i < v->ncp; i++)
			if (v->cp[i].pos == f)
				return v->cp[i].offset;
		return -1;
	}
	for (size_t i = 0; i < v->nlines; i++)
		if (v->lines[i].end > f)
			return v->lines[i].offset;
	return v->win_next;
}

/* ============================ the writers ================================ */

struct fsr_writer {
	struct fsv *fs;
	enum fsr_form form;
	char *pending;          /* held partial line */
	size_t pending_len;     /* counted in the held bytes */
	size_t pending_cap;
	int32_t *touched;       /* partitions appended to (for fsync/close) */
	size_t ntouched, touchcap;
};

/* The sticky partitioner's counter: one step per keyless write. */
static atomic_uint_fast32_t sticky_next;
static atomic_bool sticky_seeded;

static uint32_t sticky_take(void)
{
	if (!atomic_exchange_explicit(&sticky_seeded, true, memory_order_relaxed))
		atomic_fetch_add_explicit(&sticky_next,
		                          (uint32_t)(tfs_mono_ms() ^ getpid()),
		                          memory_order_relaxed);
	return (uint32_t)atomic_fetch_add_explicit(&sticky_next, 1,
	                                           memory_order_relaxed);
}

int fsr_writer_new(struct fsv *fs, enum fsr_form form, struct fsr_writer **out)
{
	struct fsr_writer *w = calloc(1, sizeof *w);

	if (!w)
		return -ENOMEM;
	w->fs = fs;
	w->form = form;
	*out = w;
	return 0;
}

void fsr_writer_free(struct fsr_writer *w)
{
	if (!w)
		return;
	if (w->pending_len)     /* a partial whose flush failed: counted out */
		fsv_held_reserve(w->fs, -(ssize_t)w->pending_len);
	free(w->pending);
	free(w->touched);
	free(w);
}

const char *fsr_form_name(enum fsr_form form)
{
	return form == FSR_JSON ? "@json" : "@keyed";
}

static void touch(struct fsr_writer *w, int32_t pidx)
{
	for (size_t i = 0; i < w->ntouched; i++)
		if (w->touched[i] == pidx)
			return;
	if (w->ntouched == w->touchcap) {
		size_t cap = w->touchcap ? w->touchcap * 2 : 8;
		int32_t *t = realloc(w->touched, cap * sizeof *t);
		if (!t)
			return;         /* only a later fsync misses it: logged */
		w->touched = t;
		w->touchcap = cap;
	}
	w->touched[w->ntouched++] = pidx;
}

/* One line of a write: bytes, not NUL-terminated. */
struct wline {
	const char *p;
	size_t n;
};

/* One record to append, with its partition and line number. */
struct wrec {
	struct rec_in in;
	int32_t part;
	uint32_t seq;
};

static int wrec_cmp(const void *a, const void *b)
{
	const struct wrec *x = a, *y = b;

	if (x->part != y->part)
		return x->part < y->part ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static bool json_blank(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
			return false;
	return true;
}

/* Turn lines into records with partitions (nothing appended).  recs has
 * room for nlines; *nrecs gets the count (blank @json lines make none).
 * scratch (for @json) is allocated here and freed by the caller. */
static int build_records(struct fsr_writer *w, struct topic *t,
                         const struct topic_config *tc, const struct wline *lines,
                         size_t nlines, struct wrec *recs, size_t *nrecs,
                         char **scratch)
{
	int32_t nparts = topic_partitions(t);
	int32_t sticky = -1;
	size_t rec_max = tc->max_message_bytes > FSR_RECORD_OVERHEAD ?
	                 (size_t)(tc->max_message_bytes - FSR_RECORD_OVERHEAD) : 0;
	size_t total = 0, used = 0, n = 0;
	const char *tname = topic_name(t);

	*scratch = NULL;
	if (w->form == FSR_JSON) {
		for (size_t i = 0; i < nlines; i++)
			total += recjson_scratch_size(lines[i].n);
		*scratch = malloc(total ? total : 1);
		if (!*scratch)
			return -ENOMEM;
	}
	for (size_t i = 0; i < nlines; i++) {
		struct wrec *r = &recs[n];
		const char *p = lines[i].p;
		size_t len = lines[i].n;

		memset(r, 0, sizeof *r);
		r->seq = (uint32_t)i;
		r->part = -1;
		if (w->form == FSR_KEYED) {
			const char *sep = memchr(p, (unsigned char)tc->key_separator, len);
			r->in.timestamp = -1;
			if (sep) {
				r->in.key = p;
				r->in.key_len = (int32_t)(sep - p);
				r->in.value = sep + 1;
				r->in.value_len = (int32_t)(len - (size_t)(sep - p) - 1);
			} else {
				r->in.key = NULL;
				r->in.key_len = -1;
				r->in.value = p;
				r->in.value_len = (int32_t)len;
			}
		} else {
			struct recjson_rec jr;
			const char *why = NULL;
			size_t at = 0, need = recjson_scratch_size(len);
			int rc;

			if (json_blank(p, len))
				continue;
			rc = recjson_parse(p, len, *scratch + used, need, &jr, &why, &at);
			used += need;
			if (rc) {
				fsv_log("write to %s/@json: line %zu of the write: %s at "
				        "byte %zu: EINVAL, nothing of the write appended",
				        tname, i + 1, why ? why : strerror(-rc), at);
				return -EINVAL;
			}
			if (jr.topic && ((size_t)jr.topic_len != strlen(tname) ||
			                 memcmp(jr.topic, tname, (size_t)jr.topic_len))) {
				fsv_log("write to %s/@json: line %zu of the write names "
				        "another topic: EINVAL, nothing of the write "
				        "appended", tname, i + 1);
				return -EINVAL;
			}
			if (jr.partition >= nparts) {
				fsv_log("write to %s/@json: line %zu of the write: "
				        "partition %d of %d: EINVAL, nothing of the write "
				        "appended", tname, i + 1, jr.partition, nparts);
				return -EINVAL;
			}
			recjson_to_rec_in(&jr, &r->in);
			r->part = jr.partition;
			size_t bytes = (size_t)(jr.key_len > 0 ? jr.key_len : 0) +
			               (size_t)(jr.value_len > 0 ? jr.value_len : 0);
			for (int32_t k = 0; k < jr.header_count; k++)
				bytes += (size_t)jr.headers[k].key_len +
				         (size_t)(jr.headers[k].value_len > 0 ?
				                  jr.headers[k].value_len : 0);
			if (bytes > rec_max)
				return -EMSGSIZE;
		}
		if (r->part < 0 && r->in.key_len >= 0)
			r->part = tfs_murmur2_partition(r->in.key, (size_t)r->in.key_len,
			                                nparts);
		if (r->part < 0) {
			if (sticky < 0)
				sticky = (int32_t)(sticky_take() % (uint32_t)nparts);
			r->part = sticky;
		}
		n++;
	}
	*nrecs = n;
	return 0;
}

/* Append lines[0..nlines) as records: everything checked first (see the
 * top), then one part_append per partition.  0 or -errno. */
static int append_lines(struct fsr_writer *w, struct topic *t,
                        const struct topic_config *tc, const struct wline *lines,
                        size_t nlines, size_t bytes)
{
	struct fsv_counters *ctr = fsv_counters_of(w->fs);
	struct wrec *recs;
	struct rec_in *run = NULL;
	char *scratch = NULL;
	size_t nrecs = 0, appended = 0;
	int rc;

	if (nlines == 0)
		return 0;
	recs = calloc(nlines, sizeof *recs);
	if (!recs)
		return -ENOMEM;
	rc = build_records(w, t, tc, lines, nlines, recs, &nrecs, &scratch);
	if (rc || nrecs == 0)
		goto out;
	qsort(recs, nrecs, sizeof *recs, wrec_cmp);
	run = malloc(nrecs * sizeof *run);
	if (!run) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < nrecs; ) {
		size_t j = i, k = 0;
		struct part *p = topic_part(t, recs[i].part);
		while (j < nrecs && recs[j].part == recs[i].part)
			run[k++] = recs[j++].in;
		rc = p ? part_append(p, run, k, NULL) : -ENOENT;
		if (rc) {
			if (appended)
				fsv_log("write to %s/%s: partition %d: part_append: %s "
				        "(%zu records of this write already appended to "
				        "lower partitions stay)", topic_name(t),
				        fsr_form_name(w->form), recs[i].part, strerror(-rc),
				        appended);
			else if (rc != -ENOENT && rc != -EMSGSIZE)
				fsv_log("write to %s/%s: partition %d: part_append: %s",
				        topic_name(t), fsr_form_name(w->form), recs[i].part,
				        strerror(-rc));
			goto out;
		}
		touch(w, recs[i].part);
		appended += k;
		atomic_fetch_add_explicit(&ctr->appends, 1, memory_order_relaxed);
		i = j;
	}
out:
	if (appended) {
		atomic_fetch_add_explicit(&ctr->records_written, appended,
		                          memory_order_relaxed);
	}
	if (!rc)
		atomic_fetch_add_explicit(&ctr->bytes_written, bytes, memory_order_relaxed);
	free(run);
	free(scratch);
	free(recs);
	return rc;
}

/* The longest line the form takes (see the top). */
static size_t line_max(const struct fsr_writer *w, const struct topic_config *tc)
{
	size_t m = tc->max_message_bytes > FSR_RECORD_OVERHEAD ?
	           (size_t)(tc->max_message_bytes - FSR_RECORD_OVERHEAD) : 0;
	return w->form == FSR_JSON ? (size_t)tc->max_message_bytes * FSR_JSON_LINE_FACTOR : m;
}

static int pending_reserve(struct fsr_writer *w, size_t len)
{
	size_t cap;
	char *p;

	if (len <= w->pending_cap)
		return 0;
	cap = w->pending_cap ? w->pending_cap : 4096;
	while (cap < len)
		cap *= 2;
	p = realloc(w->pending, cap);
	if (!p)
		return -ENOMEM;
	w->pending = p;
	w->pending_cap = cap;
	return 0;
}

int fsr_writer_write(struct fsr_writer *w, struct topic *t, const char *data,
                     size_t len)
{
	struct topic_config tc;
	struct wline *lines = NULL;
	size_t nlines = 0, cap = 0, maxlen, off = 0, tail_len, new_len;
	char *joined = NULL;
	const char *tail;
	bool has_nl = memchr(data, '\n', len) != NULL, out_now = false;
	bool reserved = false;
	int rc = 0;

	topic_get_config(t, &tc);
	maxlen = line_max(w, &tc);
	/* the complete lines: the held partial joined to the first */
	while (off < len) {
		const char *e = memchr(data + off, '\n', len - off);
		const char *p = data + off;
		size_t n;
		if (!e)
			break;
		n = (size_t)(e - p);
		if (nlines == 0 && w->pending_len) {
			if (w->pending_len + n > maxlen) {
				rc = -EMSGSIZE;
				goto out;
			}
			joined = malloc(w->pending_len + n + 1);
			if (!joined) {
				rc = -ENOMEM;
				goto out;
			}
			memcpy(joined, w->pending, w->pending_len);
			memcpy(joined + w->pending_len, p, n);
			p = joined;
			n += w->pending_len;
		}
		if (n > maxlen) {
			rc = -EMSGSIZE;
			goto out;
		}
		if (nlines == cap) {
			size_t nc = cap ? cap * 2 : 64;
			struct wline *l = realloc(lines, nc * sizeof *l);
			if (!l) {
				rc = -ENOMEM;
				goto out;
			}
			lines = l;
			cap = nc;
		}
		lines[nlines++] = (struct wline){ p, n };
		off = (size_t)(e - data) + 1;
	}
	tail = data + off;
	tail_len = len - off;
	new_len = has_nl ? tail_len : w->pending_len + tail_len;
	if (new_len > maxlen) {
		rc = -EMSGSIZE;
		goto out;
	}
	/* the held partial, within [fs] max_held_bytes, or a line now */
	if (new_len > w->pending_len) {
		reserved = fsv_held_reserve(w->fs, (ssize_t)(new_len - w->pending_len));
		out_now = !reserved;
	}
	if (out_now) {
		const char *p = tail;
		if (!has_nl && w->pending_len) {
			free(joined);
			joined = malloc(new_len + 1);
			if (!joined) {
				rc = -ENOMEM;
				goto out;
			}
			memcpy(joined, w->pending, w->pending_len);
			memcpy(joined + w->pending_len, tail, tail_len);
			p = joined;
		}
		struct wline *l = realloc(lines, (nlines + 1) * sizeof *l);
		if (!l) {
			rc = -ENOMEM;
			goto out;
		}
		lines = l;
		lines[nlines++] = (struct wline){ p, new_len };
	} else if (new_len > 0) {
		rc = pending_reserve(w, new_len);
		if (rc)
			goto out;
	}
	rc = append_lines(w, t, &tc, lines, nlines, len);
	if (rc)
		goto out;
	reserved = false;
	if (out_now) {
		atomic_fetch_add_explicit(&fsv_counters_of(w->fs)->held_flushes, 1,
		                          memory_order_relaxed);
		fsv_held_reserve(w->fs, -(ssize_t)w->pending_len);
		w->pending_len = 0;
	} else if (has_nl) {
		if (tail_len)
			memcpy(w->pending, tail, tail_len);
		if (tail_len < w->pending_len)
			fsv_held_reserve(w->fs, (ssize_t)tail_len - (ssize_t)w->pending_len);
		w->pending_len = tail_len;
	} else {
		memcpy(w->pending + w->pending_len, data, len);
		w->pending_len = new_len;
	}
out:
	if (reserved)           /* failed after reserving: give it back */
		fsv_held_reserve(w->fs, (ssize_t)w->pending_len - (ssize_t)new_len);
	free(joined);
	free(lines);
	return rc;
}

int fsr_writer_flush(struct fsr_writer *w, struct topic *t, bool durable)
{
	struct topic_config tc;
	int rc = 0;

	if (!t)
		return 0;
	topic_get_config(t, &tc);
	if (w->pending_len) {
		struct wline l = { w->pending, w->pending_len };
		rc = append_lines(w, t, &tc, &l, 1, 0);
		if (rc == -EINVAL || rc == -EMSGSIZE) {
			/* a bad last line never becomes good: dropped, said */
			fsv_log("close of %s/%s: the last line (no newline, %zu bytes) "
			        "was refused (%s) and dropped", topic_name(t),
			        fsr_form_name(w->form), w->pending_len, strerror(-rc));
		} else if (rc) {
			return rc;
		}
		fsv_held_reserve(w->fs, -(ssize_t)w->pending_len);
		w->pending_len = 0;
	}
	if (durable || tc.linger_ms > 0) {
		for (size_t i = 0; i < w->ntouched; i++) {
			struct part *p = topic_part(t, w->touched[i]);
			int frc = p ? part_flush(p) : 0;
			if (frc && !rc)
				rc = frc;
		}
	}
	return rc;
}
