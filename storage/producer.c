/*
 * producer.c - idempotent producers: per partition, per producer id, the
 * epoch and the last PRODUCER_BATCHES (5) batches appended, the checks
 * that make a producer's retry land once, and the state's persistence.
 *
 * RULES (Kafka 3.x: ProducerStateEntry, ProducerAppendInfo.checkSequence
 * and checkProducerEpoch, UnifiedLog.analyzeAndValidateProducerState).
 * A tracked batch (ProducerId >= 0, neither transactional nor control) is
 * checked under the writer token, just before it would be written, in
 * this order:
 *   1. same epoch as the producer's and the same first and last sequence
 *      as one of its remembered batches: a duplicate, nothing written, the
 *      caller gets the original offsets and answers success;
 *   2. epoch lower than the producer's: STORE_ERR_PRODUCER_FENCED;
 *   3. epoch higher: BaseSequence must be 0 (the producer's batches are
 *      forgotten, the new epoch starts afresh), else OUT_OF_ORDER_SEQ;
 *   4. same epoch: BaseSequence must be last sequence + 1, or 0 after
 *      INT32_MAX; else OUT_OF_ORDER_SEQ.  A retry older than the last 5
 *      batches therefore gets OUT_OF_ORDER_SEQ (Kafka's answer too);
 *   5. unknown producer id: accepted with any sequence, tracked from then
 *      on.  Kafka 3.x does the same (KIP-360: "if there is no current
 *      producer epoch, possibly because all producer records have been
 *      deleted due to retention, accept writes with any sequence number");
 *      UNKNOWN_PRODUCER_ID was the answer of 0.11-2.4 brokers.
 * A batch's last sequence is BaseSequence + LastOffsetDelta, wrapping past
 * INT32_MAX to 0 (DefaultRecordBatch.incrementSequence).  After a batch is
 * written, its metadata is appended to the producer's (the oldest of 5
 * dropped) and the producer becomes the most recently used.
 *
 * BOUNDS.  At most store.max_producers ids per partition (default 1000):
 * a new one past that forgets the least recently used (appended to or
 * retried).  A producer idle for store.producer_expire_ms (default one
 * day, Kafka's producer.id.expiration.ms) is forgotten: when it is next
 * looked up, and by a sweep of the LRU end at every tracked append.  Idle
 * time is measured on the wall clock of our appends, not on the
 * producer's record timestamps as Kafka does (a producer's clock cannot
 * expire it early); producers learned from the log at load count from the
 * load.  Memory: about 250 bytes per producer plus an 8-byte bucket each,
 * allocated on first use (a partition no idempotent producer writes to
 * holds only the small table).
 *
 * PERSISTENCE (docs/FORMAT.md section 10).  The state is rebuilt at
 * load from `<20-digit offset>.producers` snapshot files in the partition
 * directory: a snapshot at offset X holds the state after every batch
 * below X and names the segment and file position where X's batch starts.
 * One is written at every roll (X = the new segment's base, position 0;
 * fsynced when the topic's flush policy syncs, else a crash may leave a
 * bad one: then it is ignored) and at close (X = the end, fsynced).  The
 * newest two are kept.  At load the newest usable snapshot is read and
 * the batches from its position to the end replayed (headers only): after
 * a clean close nothing, after a crash the active segment.  A snapshot
 * past the end of the recovered log, naming a segment that is gone, a
 * position where no batch with offset X starts, or failing its CRC is
 * deleted and the next older one tried; none left means replaying the
 * whole log (reads every .log once: the first start after an upgrade, or
 * after the snapshots were lost).  Stale snapshots past the end must go:
 * after a truncation the offsets they name are written again by other
 * batches.
 *
 * Retention and DeleteRecords do not forget producers whose batches they
 * remove (Kafka does): a retry of such a batch is still answered with its
 * old offset, which is harmless.  A full rebuild by scanning cannot see
 * them, so the state after a restart may be smaller than before.
 *
 * Locks: none of its own.  The table is a W field of struct part: only
 * the writer-token holder (or the loading thread) touches it.
 */
#include "engine.h"
#include "sysio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SNAP_EXT        ".producers"
#define SNAP_MAGIC      0x54465053u       /* "TFPS" */
#define SNAP_VERSION    1
#define SNAP_HDR        48
#define SNAP_ENTRY      20
#define SNAP_BATCH      32
#define SNAP_MAX_BYTES  (64u << 20)

struct prod_entry {
	int64_t pid;
	int64_t last_ms;              /* wall clock of the last use */
	struct prod_entry *hnext;     /* hash chain */
	struct prod_entry *newer, *older; /* LRU list */
	int16_t epoch;
	int nb;                       /* remembered batches, oldest first */
	struct producer_batch b[PRODUCER_BATCHES];
};

struct prod_table {
	struct prod_entry **bucket;   /* NULL until the first producer */
	size_t nbucket;               /* a power of 2 */
	struct prod_entry *mru, *lru; /* most and least recently used */
	size_t count;
	struct prod_entry *spare;     /* preallocated by prod_check */
	int64_t snap_new, snap_old;   /* snapshot files kept, -1 none */
	uint64_t evicted, expired;
};

/* ================================ rules ================================= */

bool prod_batch_tracked(const struct batch_header *h)
{
	return h->producer_id >= 0 &&
	       !(h->attributes & (BATCH_ATTR_TRANSACTIONAL | BATCH_ATTR_CONTROL));
}

static int32_t seq_add(int32_t seq, int32_t delta)
{
	if (seq > INT32_MAX - delta)
		return delta - (INT32_MAX - seq) - 1;
	return seq + delta;
}

static bool in_sequence(int32_t last, int32_t next)
{
	return (int64_t)next == (int64_t)last + 1 || (next == 0 && last == INT32_MAX);
}

/* ================================ table ================================= */

static size_t tab_max(const struct part *p)
{
	size_t m = p->topic->st->max_producers;
	return m ? m : 1000;
}

static struct prod_table *tab_get(struct part *p)
{
	struct prod_table *t = p->prod;

	if (t)
		return t;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->snap_new = t->snap_old = -1;
	p->prod = t;
	return t;
}

static size_t hash_pid(const struct prod_table *t, int64_t pid)
{
	uint64_t h = (uint64_t)pid * 0x9E3779B97F4A7C15ull;
	return (size_t)(h >> 32) & (t->nbucket - 1);
}

static int tab_buckets(struct part *p, struct prod_table *t)
{
	size_t n = 16, want = tab_max(p) / 2;

	if (t->bucket)
		return 0;
	while (n < want && n < (1u << 16))
		n <<= 1;
	t->bucket = calloc(n, sizeof(*t->bucket));
	if (!t->bucket)
		return -ENOMEM;
	t->nbucket = n;
	return 0;
}

static void lru_unlink(struct prod_table *t, struct prod_entry *e)
{
	if (e->newer)
		e->newer->older = e->older;
	else
		t->mru = e->older;
	if (e->older)
		e->older->newer = e->newer;
	else
		t->lru = e->newer;
	e->newer = e->older = NULL;
}

static void lru_push(struct prod_table *t, struct prod_entry *e)
{
	e->older = t->mru;
	e->newer = NULL;
	if (t->mru)
		t->mru->newer = e;
	t->mru = e;
	if (!t->lru)
		t->lru = e;
}

/* Take e out of the hash and the list (the memory stays the caller's). */
static void tab_remove(struct prod_table *t, struct prod_entry *e)
{
	struct prod_entry **pp = &t->bucket[hash_pid(t, e->pid)];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	lru_unlink(t, e);
	t->count--;
}

static void tab_drop(struct prod_table *t, struct prod_entry *e)
{
	tab_remove(t, e);
	if (!t->spare)
		t->spare = e;
	else
		free(e);
}

static bool expired(const struct part *p, const struct prod_entry *e, int64_t now)
{
	int64_t x = p->topic->st->producer_expire_ms;
	return x > 0 && now - e->last_ms >= x;
}

/* Forget the producers at the LRU end that have been idle too long. */
static void tab_sweep(struct part *p, struct prod_table *t, int64_t now)
{
	while (t->lru && expired(p, t->lru, now)) {
		t->expired++;
		tab_drop(t, t->lru);
	}
}

static struct prod_entry *tab_find(struct part *p, struct prod_table *t,
                                   int64_t pid, int64_t now)
{
	struct prod_entry *e;

	if (!t->bucket)
		return NULL;
	for (e = t->bucket[hash_pid(t, pid)]; e; e = e->hnext)
		if (e->pid == pid)
			break;
	if (e && expired(p, e, now)) {
		t->expired++;
		tab_drop(t, e);
		e = NULL;
	}
	return e;
}

/* A new entry for pid (not in the table): the spare, the LRU entry when
 * the table is full, or a new allocation.  NULL when out of memory. */
static struct prod_entry *tab_insert(struct part *p, struct prod_table *t,
                                     int64_t pid)
{
	struct prod_entry *e;

	if (tab_buckets(p, t) < 0)
		return NULL;
	if (t->count >= tab_max(p) && t->lru) {
		e = t->lru;
		tab_remove(t, e);
		t->evicted++;
	} else if (t->spare) {
		e = t->spare;
		t->spare = NULL;
	} else {
		e = malloc(sizeof(*e));
		if (!e)
			return NULL;
	}
	memset(e, 0, sizeof(*e));
	e->pid = pid;
	size_t b = hash_pid(t, pid);
	e->hnext = t->bucket[b];
	t->bucket[b] = e;
	lru_push(t, e);
	t->count++;
	return e;
}

/* Append one batch's metadata to e (a new epoch forgets the old ones). */
static void entry_add(struct prod_entry *e, int16_t epoch,
                      const struct producer_batch *b)
{
	if (e->epoch != epoch) {
		e->epoch = epoch;
		e->nb = 0;
	}
	if (e->nb == PRODUCER_BATCHES) {
		memmove(e->b, e->b + 1, (PRODUCER_BATCHES - 1) * sizeof(e->b[0]));
		e->nb--;
	}
	e->b[e->nb++] = *b;
}

static void batch_meta(const struct batch_header *h, int64_t base_offset,
                       struct producer_batch *b)
{
	b->first_seq = h->base_sequence;
	b->last_seq = seq_add(h->base_sequence, h->last_offset_delta);
	b->base_offset = base_offset;
	b->last_offset = base_offset + h->last_offset_delta;
	b->max_timestamp = h->max_timestamp;
}

/* Record a batch (no check).  -ENOMEM when a new entry cannot be had. */
static int tab_apply(struct part *p, struct prod_table *t,
                     const struct batch_header *h, int64_t base_offset,
                     int64_t now)
{
	struct producer_batch b;
	struct prod_entry *e = tab_find(p, t, h->producer_id, now);

	if (!e) {
		e = tab_insert(p, t, h->producer_id);
		if (!e)
			return -ENOMEM;
		e->epoch = h->producer_epoch;
	} else {
		lru_unlink(t, e);
		lru_push(t, e);
	}
	batch_meta(h, base_offset, &b);
	entry_add(e, h->producer_epoch, &b);
	e->last_ms = now;
	return 0;
}

static void tab_clear(struct prod_table *t)
{
	while (t->mru) {
		struct prod_entry *e = t->mru;
		tab_remove(t, e);
		free(e);
	}
}

/* ============================ the append path ============================ */

int prod_check(struct part *p, const struct batch_header *h,
               struct producer_batch *dup)
{
	struct prod_table *t;
	struct prod_entry *e;
	int64_t now = tfs_now_ms();
	int32_t last;

	INV_WRITER(p);
	if (!prod_batch_tracked(h))
		return 0;
	t = tab_get(p);
	if (!t || tab_buckets(p, t) < 0)
		return -ENOMEM;
	tab_sweep(p, t, now);
	e = tab_find(p, t, h->producer_id, now);
	if (!e) {
		/* unknown: accepted (rule 5); make sure prod_update can
		 * record it without allocating */
		if (!t->spare && t->count < tab_max(p)) {
			t->spare = malloc(sizeof(*t->spare));
			if (!t->spare)
				return -ENOMEM;
		}
		return 0;
	}
	last = seq_add(h->base_sequence, h->last_offset_delta);
	if (h->producer_epoch == e->epoch) {
		for (int i = 0; i < e->nb; i++) {
			if (e->b[i].first_seq == h->base_sequence &&
			    e->b[i].last_seq == last) {
				*dup = e->b[i];
				e->last_ms = now;
				lru_unlink(t, e);
				lru_push(t, e);
				return 1;
			}
		}
		if (e->nb > 0 && !in_sequence(e->b[e->nb - 1].last_seq,
		                              h->base_sequence))
			return STORE_ERR_OUT_OF_ORDER_SEQ;
		return 0;
	}
	if (h->producer_epoch < e->epoch)
		return STORE_ERR_PRODUCER_FENCED;
	return h->base_sequence == 0 ? 0 : STORE_ERR_OUT_OF_ORDER_SEQ;
}

void prod_update(struct part *p, const struct batch_header *h,
                 int64_t base_offset)
{
	struct prod_table *t = p->prod;

	INV_WRITER(p);
	if (!prod_batch_tracked(h) || !t)
		return;
	if (tab_apply(p, t, h, base_offset, tfs_now_ms()) < 0)
		/* prod_check reserved the entry: cannot happen */
		tfs_log(TFS_LOG_ERROR, "storage: %s: producer %" PRId64 " not "
		        "recorded (out of memory): a retry of its batch at %" PRId64
		        " would be stored again", p->dir, h->producer_id, base_offset);
}

int part_producer_get(struct part *p, int64_t producer_id,
                      struct producer_info *out)
{
	int rc = -ENOENT;

	if (!p || !out)
		return -EINVAL;
	if (writer_acquire(p) && p->prod) {
		struct prod_entry *e = tab_find(p, p->prod, producer_id, tfs_now_ms());
		if (e) {
			memset(out, 0, sizeof(*out));
			out->producer_id = e->pid;
			out->epoch = e->epoch;
			out->nbatches = e->nb;
			memcpy(out->batches, e->b, sizeof(e->b[0]) * (size_t)e->nb);
			out->last_used_ms = e->last_ms;
			rc = 0;
		}
	}
	writer_release(p);
	return rc;
}

size_t part_producer_count(struct part *p)
{
	size_t n = 0;

	if (!p)
		return 0;
	if (writer_acquire(p) && p->prod)
		n = p->prod->count;
	writer_release(p);
	return n;
}

void prod_free(struct part *p)
{
	struct prod_table *t = p->prod;

	if (!t)
		return;
	if (t->bucket)
		tab_clear(t);
	free(t->spare);
	free(t->bucket);
	free(t);
	p->prod = NULL;
}

/* ============================== snapshots =============================== */

static char *snap_path(const struct part *p, int64_t off)
{
	char name[48];
	snprintf(name, sizeof(name), "%020" PRId64 SNAP_EXT, off);
	return part_file(p, name);
}

static void snap_unlink(const struct part *p, int64_t off)
{
	char *path = snap_path(p, off);
	if (path) {
		sio_unlink(path);
		free(path);
	}
}

static void put16(uint8_t *b, int16_t v)
{
	b[0] = (uint8_t)((uint16_t)v >> 8);
	b[1] = (uint8_t)v;
}

static int16_t get16(const uint8_t *b)
{
	return (int16_t)(uint16_t)((b[0] << 8) | b[1]);
}

/* Write path's contents: temp, (fsync), rename, (dir fsync). */
static int snap_write_file(const struct part *p, const char *path,
                           const uint8_t *data, size_t len, bool sync)
{
	size_t n = strlen(path) + 5;
	char *tmp = malloc(n);
	int fd, rc;

	if (!tmp)
		return -ENOMEM;
	if (sync) {
		free(tmp);
		return sio_write_atomic(path, data, len);
	}
	snprintf(tmp, n, "%s.tmp", path);
	fd = sio_open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		free(tmp);
		return fd;
	}
	rc = sio_pwrite_all(fd, data, len, 0, tmp);
	sio_close(fd, tmp);
	if (rc == 0 && sysio->rename(tmp, path) < 0) {
		rc = -errno;
		sio_log("rename", tmp, rc);
	}
	if (rc < 0)
		sio_unlink(tmp);
	free(tmp);
	(void)p;
	return rc;
}

void prod_snapshot(struct part *p, bool sync)
{
	struct prod_table *t = tab_get(p);
	struct seg *a;
	int64_t x, now = tfs_now_ms();
	size_t len = SNAP_HDR, n = 0;
	uint8_t *buf, *w;
	char *path;
	int rc;

	INV_WRITER(p);
	if (!t) {
		tfs_log(TFS_LOG_WARN, "storage: %s: producer snapshot not written "
		        "(out of memory)", p->dir);
		return;
	}
	a = part_active(p);
	x = p->next_offset;
	if (x == t->snap_new || (x == a->base_offset && x == p->log_start_offset &&
	    t->count == 0 && t->snap_new < 0))
		return;         /* up to date, or an empty log with no state */
	tab_sweep(p, t, now);
	for (struct prod_entry *e = t->lru; e; e = e->newer) {
		len += SNAP_ENTRY + SNAP_BATCH * (size_t)e->nb;
		n++;
	}
	buf = malloc(len);
	if (!buf) {
		tfs_log(TFS_LOG_WARN, "storage: %s: producer snapshot not written "
		        "(out of memory)", p->dir);
		return;
	}
	w = buf + SNAP_HDR;
	for (struct prod_entry *e = t->lru; e; e = e->newer) {  /* oldest first */
		be64_put(w, (uint64_t)e->pid);
		put16(w + 8, e->epoch);
		put16(w + 10, (int16_t)e->nb);
		be64_put(w + 12, (uint64_t)e->last_ms);
		w += SNAP_ENTRY;
		for (int i = 0; i < e->nb; i++) {
			be32_put(w, (uint32_t)e->b[i].first_seq);
			be32_put(w + 4, (uint32_t)e->b[i].last_seq);
			be64_put(w + 8, (uint64_t)e->b[i].base_offset);
			be64_put(w + 16, (uint64_t)e->b[i].last_offset);
			be64_put(w + 24, (uint64_t)e->b[i].max_timestamp);
			w += SNAP_BATCH;
		}
	}
	be32_put(buf, SNAP_MAGIC);
	put16(buf + 4, SNAP_VERSION);
	put16(buf + 6, 0);
	be64_put(buf + 12, (uint64_t)x);
	be64_put(buf + 20, (uint64_t)a->base_offset);
	be64_put(buf + 28, (uint64_t)a->size);
	be64_put(buf + 36, (uint64_t)now);
	be32_put(buf + 44, (uint32_t)n);
	be32_put(buf + 8, crc32c(0, buf + 12, len - 12));
	path = snap_path(p, x);
	rc = path ? snap_write_file(p, path, buf, len, sync) : -ENOMEM;
	free(path);
	free(buf);
	if (rc < 0) {
		tfs_log(TFS_LOG_WARN, "storage: %s: producer snapshot at %" PRId64
		        " not written (%s): the next start replays more of the log",
		        p->dir, x, strerror(-rc));
		return;
	}
	/* keep this one and the previous one */
	if (t->snap_old >= 0 && t->snap_old != x)
		snap_unlink(p, t->snap_old);
	t->snap_old = t->snap_new;
	t->snap_new = x;
}

/* ================================ loading ================================ */

static int cmp_desc(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? 1 : x > y ? -1 : 0;
}

/* The offsets of the snapshot files, newest first. */
static int snap_list(struct part *p, int64_t **out, size_t *count)
{
	int fd = part_dir_open(p);
	struct dirent *de;
	int64_t *v = NULL;
	size_t n = 0, cap = 0, el = strlen(SNAP_EXT);
	DIR *d;

	*out = NULL;
	*count = 0;
	if (fd < 0)
		return fd;
	d = fdopendir(fd);
	if (!d) {
		int rc = -errno;
		sio_close(fd, p->dir);
		return rc;
	}
	while ((de = readdir(d))) {
		const char *name = de->d_name;
		int64_t off = 0;
		int i;

		if (strlen(name) != 20 + el || strcmp(name + 20, SNAP_EXT) != 0)
			continue;
		for (i = 0; i < 20 && name[i] >= '0' && name[i] <= '9' &&
		            off <= (INT64_MAX - 9) / 10; i++)
			off = off * 10 + (name[i] - '0');
		if (i < 20)
			continue;
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 4;
			int64_t *nv = realloc(v, nc * sizeof(*v));
			if (!nv) {
				free(v);
				closedir(d);
				return -ENOMEM;
			}
			v = nv;
			cap = nc;
		}
		v[n++] = off;
	}
	closedir(d);
	if (n)
		qsort(v, n, sizeof(*v), cmp_desc);
	*out = v;
	*count = n;
	return 0;
}

/* Is there a batch with base offset x at position pos of s (or is pos the
 * end of s and x its next offset)? */
static bool snap_pos_ok(struct part *p, struct seg *s, int64_t pos, int64_t x)
{
	struct batch_reader br;
	const uint8_t *b;
	size_t len;
	struct batch_header h;
	bool ok;

	if (pos < 0 || pos > s->size)
		return false;
	if (pos == s->size)
		return s->next_offset == x;
	if (seg_pin(s) < 0)
		return false;
	br_init(&br, s, pos, s->size);
	ok = br_next(&br, &b, &len, &h, part_max_batch(p)) == 1 &&
	     h.base_offset == x;
	br_free(&br);
	seg_unpin(s);
	return ok;
}

/* Read snapshot x into t (empty on entry): 0 with *seg_i / *pos where the
 * replay starts, -EBADMSG when it is not usable (why in *why), -ENOMEM. */
static int snap_read(struct part *p, struct prod_table *t, int64_t x,
                     size_t *seg_i, int64_t *pos, const char **why)
{
	char *path = snap_path(p, x), *data = NULL;
	const uint8_t *d, *r, *end;
	size_t len, i;
	int64_t base, fpos, now = tfs_now_ms();
	uint32_t n;
	int rc;

	if (!path)
		return -ENOMEM;
	rc = sio_read_small(path, SNAP_MAX_BYTES, &data, &len);
	free(path);
	if (rc == -ENOMEM)
		return rc;
	*why = "unreadable";
	if (rc < 0)
		return -EBADMSG;
	rc = -EBADMSG;
	d = (const uint8_t *)data;
	if (len < SNAP_HDR || be32_get(d) != SNAP_MAGIC) {
		*why = "not a producer snapshot";
		goto out;
	}
	if (get16(d + 4) != SNAP_VERSION) {
		*why = "unknown version";
		goto out;
	}
	if (be32_get(d + 8) != crc32c(0, d + 12, len - 12)) {
		*why = "bad CRC";
		goto out;
	}
	base = (int64_t)be64_get(d + 20);
	fpos = (int64_t)be64_get(d + 28);
	n = be32_get(d + 44);
	if ((int64_t)be64_get(d + 12) != x) {
		*why = "offset does not match its name";
		goto out;
	}
	for (i = 0; i < p->nsegs && p->segs[i]->base_offset != base; i++)
		;
	if (i == p->nsegs) {
		*why = "its segment is gone";
		goto out;
	}
	if (!snap_pos_ok(p, p->segs[i], fpos, x)) {
		*why = "no batch at its position";
		goto out;
	}
	*seg_i = i;
	*pos = fpos;
	r = d + SNAP_HDR;
	end = d + len;
	*why = "bad producer entry";
	for (uint32_t k = 0; k < n; k++) {
		struct prod_entry *e;
		int64_t pid, last_ms;
		int16_t epoch, nb;

		if (end - r < SNAP_ENTRY)
			goto bad;
		pid = (int64_t)be64_get(r);
		epoch = get16(r + 8);
		nb = get16(r + 10);
		last_ms = (int64_t)be64_get(r + 12);
		r += SNAP_ENTRY;
		if (pid < 0 || epoch < 0 || nb < 1 || nb > PRODUCER_BATCHES ||
		    end - r < (ptrdiff_t)nb * SNAP_BATCH)
			goto bad;
		if (tab_find(p, t, pid, now)) {
			*why = "a producer id twice";
			goto bad;
		}
		if (expired(p, &(struct prod_entry){ .last_ms = last_ms }, now)) {
			r += (size_t)nb * SNAP_BATCH;
			continue;
		}
		e = tab_insert(p, t, pid);
		if (!e) {
			rc = -ENOMEM;
			goto out;
		}
		e->epoch = epoch;
		e->last_ms = last_ms;
		for (int j = 0; j < nb; j++, r += SNAP_BATCH) {
			struct producer_batch *b = &e->b[j];
			b->first_seq = (int32_t)be32_get(r);
			b->last_seq = (int32_t)be32_get(r + 4);
			b->base_offset = (int64_t)be64_get(r + 8);
			b->last_offset = (int64_t)be64_get(r + 16);
			b->max_timestamp = (int64_t)be64_get(r + 24);
			if (b->first_seq < 0 || b->last_seq < 0 || b->base_offset < 0 ||
			    b->last_offset < b->base_offset || b->last_offset >= x)
				goto bad;
		}
		e->nb = nb;
	}
	if (r != end)
		goto bad;
	rc = 0;
	goto out;
bad:
	if (rc != -ENOMEM)
		rc = -EBADMSG;
out:
	free(data);
	return rc;
}

/* Replay the tracked batches from segment i, position pos, to the end. */
static int replay(struct part *p, struct prod_table *t, size_t i, int64_t pos,
                  int64_t *nbatches)
{
	int64_t now = tfs_now_ms();
	int rc = 0;

	for (; i < p->nsegs; i++, pos = 0) {
		struct seg *s = p->segs[i];
		struct batch_reader br;
		const uint8_t *b;
		size_t len;
		struct batch_header h;

		if (pos >= s->size)
			continue;
		rc = seg_pin(s);
		if (rc < 0)
			return rc;
		br_init(&br, s, pos, s->size);
		while ((rc = br_next(&br, &b, &len, &h, part_max_batch(p))) == 1) {
			(*nbatches)++;
			if (!prod_batch_tracked(&h) || h.producer_epoch < 0 ||
			    h.base_sequence < 0 || h.last_offset_delta < 0)
				continue;
			rc = tab_apply(p, t, &h, h.base_offset, now);
			if (rc < 0)
				break;
		}
		br_free(&br);
		seg_unpin(s);
		if (rc == -EBADMSG || rc == -EAGAIN) {
			/* a bad batch left in a trusted sealed segment (see
			 * part_recover.c): what follows it is unreadable */
			tfs_log(TFS_LOG_WARN, "storage: %s.log: producer state: "
			        "unreadable batch, the rest of the segment skipped",
			        s->path);
			rc = 0;
		}
		if (rc < 0)
			return rc;
	}
	return 0;
}

int prod_load(struct part *p)
{
	struct prod_table *t;
	int64_t *offs = NULL, used = -1, kept = -1, scanned = 0, t0 = tfs_mono_ms();
	size_t noffs = 0, seg_i = 0;
	int64_t pos = 0;
	int rc;

	INV_WRITER(p);
	prod_free(p);
	t = tab_get(p);
	if (!t)
		return -ENOMEM;
	rc = snap_list(p, &offs, &noffs);
	if (rc == -ENOMEM)
		return rc;
	if (rc < 0)
		tfs_log(TFS_LOG_WARN, "storage: %s: cannot list producer snapshots "
		        "(%s): rebuilding by scanning", p->dir, strerror(-rc));
	for (size_t k = 0; k < noffs; k++) {
		int64_t x = offs[k];
		const char *why = "past the end of the log";

		if (used >= 0) {
			if (kept < 0)
				kept = x;       /* the previous one stays */
			else
				snap_unlink(p, x);
			continue;
		}
		rc = x > p->next_offset ? -EBADMSG :
		     snap_read(p, t, x, &seg_i, &pos, &why);
		if (rc == -ENOMEM) {
			free(offs);
			return rc;
		}
		if (rc < 0) {
			tfs_log(TFS_LOG_WARN, "storage: %s/%020" PRId64 SNAP_EXT ": %s, "
			        "deleted", p->dir, x, why);
			tab_clear(t);
			snap_unlink(p, x);
			continue;
		}
		used = x;
	}
	free(offs);
	if (used < 0) {
		seg_i = 0;
		pos = 0;
	}
	rc = replay(p, t, seg_i, pos, &scanned);
	if (rc < 0) {
		tfs_log(TFS_LOG_ERROR, "storage: %s: producer state: reading the "
		        "log failed: %s", p->dir, strerror(-rc));
		return rc;
	}
	if (used < 0 && p->next_offset > p->log_start_offset)
		tfs_log(TFS_LOG_INFO, "storage: %s: producer state rebuilt by "
		        "scanning the whole log (%" PRId64 " batches, %" PRId64
		        " ms, %zu producers)", p->dir, scanned, tfs_mono_ms() - t0,
		        t->count);
	t->snap_new = used;
	t->snap_old = kept;
	return 0;
}
