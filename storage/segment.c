/*
 * segment.c - one segment of a partition log: its files, its three sparse
 * indexes, and the scanning of its batches.
 *
 * FILES.  A segment is four files in the partition directory, named by the
 * segment's base offset (the offset of its first record) printed as 20
 * decimal digits, zero padded:
 *
 *   00000000000000001234.log        RecordBatch v2 batches back to back
 *   00000000000000001234.index      offset index   (Kafka's format)
 *   00000000000000001234.timeindex  time index     (Kafka's format)
 *   00000000000000001234.sindex     stream index   (topicfs only)
 *
 * THE LOG.  Batches exactly as on the wire (docs/FORMAT.md section 2), with
 * BaseOffset set to the absolute offset of the first record.  All integers
 * are big-endian.  A batch at file position P is VALID when:
 *   - at least 12 bytes remain and Length (bytes P+8..P+12) >= 49, and the
 *     12 + Length bytes of the batch lie inside the file (else it is TORN);
 *   - Magic (byte P+16) is 2;
 *   - the CRC-32C of bytes [P+21, P+12+Length) equals the CRC at P+17;
 *   - it decodes: codec known, records parse, RecordsCount ==
 *     LastOffsetDelta + 1, the decompressed size within the store bound
 *     (batch_decode checks all of this);
 *   - its BaseOffset continues the segment: the first batch's BaseOffset is
 *     the segment's base offset, every later one is the previous batch's
 *     BaseOffset + LastOffsetDelta + 1.
 * Offsets within a segment fit int32 relative to the base (the partition
 * rolls before they would not), and the file stays below 2 GiB so file
 * positions fit int32.
 *
 * THE INDEXES.  No checksum, no preallocation (never a zero tail): each
 * file is exactly its entries, appended with pwrite.  rel = offset - base.
 *
 *   .index      8 bytes:  int32 rel LAST offset of a batch,
 *                         int32 file position of that batch's first byte
 *   .timeindex 12 bytes:  int64 largest MaxTimestamp of the segment so far,
 *                         int32 rel LAST offset of the batch that holds it
 *   .sindex    16 bytes:  int64 absolute stream position of the batch's
 *                         first rendered byte, int32 rel BASE offset of the
 *                         batch, int32 file position of the batch
 *
 * Cadence, fed batch by batch in log order (idxb_add, shared by the append
 * path and recovery so both build identical files):
 *   - .index and .timeindex, like Kafka's LogSegment.append: when MORE than
 *     index_interval_bytes of .log were appended since the last cadence
 *     point (counted before adding the current batch), the current batch
 *     gets an .index entry, and a .timeindex entry too if the segment's
 *     largest timestamp so far (which includes the current batch) is larger
 *     than the last .timeindex entry's; then the count restarts at 0.  So
 *     the first batch of a segment never has one.
 *   - .sindex: the first batch of every segment always gets an entry (its
 *     stream position is the segment's stream base, which is how the base
 *     survives restarts); after that, a batch gets one when more than
 *     index_interval_bytes of STREAM bytes were rendered since the last
 *     entry.
 * Hence all three are strictly increasing in position and offset, .sindex
 * in stream position (non-decreasing only where a batch renders nothing,
 * which the cadence never indexes twice), .timeindex in timestamp.
 *
 * LOOKUPS.  The active segment keeps its entries in memory (struct
 * idx_builder, on-disk byte format) and readers search them under the
 * partition lock.  A sealed segment's index files never change; they are
 * mmapped read-only on first use (under seg.map_mu) and searched without a
 * lock, so the daemon's heap does not grow with the log.
 *
 * CHECKING an index file against its log (seg_check_index_file): its size
 * is a multiple of the entry size; an empty log has empty indexes; entries
 * increase as above; positions are < the log size; the .sindex is
 * non-empty for a non-empty log and its first entry is (stream base, 0, 0);
 * the batch at the last .index / .sindex entry really has the offset the
 * entry claims.  An index that fails is rebuilt from the log, never
 * trusted.
 *
 * Thread-safety: a struct seg is shared through references (seg_ref);
 * field guards are listed in engine.h.
 */
#include "engine.h"
#include "batch_internal.h"
#include "sysio.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifdef TOPICFS_INVARIANTS
/* invariants.h: the engine mutexes and writer tokens this thread holds. */
__thread struct inv_thread inv_thread;
#endif

const size_t idx_entry_size[IDX_KINDS] = {
	IDX_OFFSET_ENTRY, IDX_TIME_ENTRY, IDX_STREAM_ENTRY
};
const char *const idx_ext[IDX_KINDS] = { ".index", ".timeindex", ".sindex" };

#define BR_CHUNK (64 << 10)

/* ================================ indexes ================================ */

int idxb_add(struct idx_builder *ib, int64_t seg_base, int64_t file_pos,
             int64_t batch_bytes, int64_t last_offset, int64_t base_offset,
             int64_t batch_max_ts, int64_t stream_pos, int64_t rendered)
{
	int64_t interval = ib->interval;
	uint8_t e[16];
	int rc = 0;

	/* An entry that cannot be stored (-ENOMEM) is dropped, but the cadence
	 * and the largest timestamp still advance: the entries kept stay
	 * consistent with the log, just sparser (a skipped batch would leave
	 * a later .timeindex entry claiming a maximum it is not). */
	if (batch_max_ts > ib->max_ts) {
		ib->max_ts = batch_max_ts;
		ib->max_ts_last_off = last_offset;
	}
	if (ib->bytes_since_index > interval) {
		be32_put(e, (uint32_t)(int32_t)(last_offset - seg_base));
		be32_put(e + 4, (uint32_t)(int32_t)file_pos);
		if (buf_append(&ib->ent[IDX_OFFSET], e, 8) < 0)
			rc = -ENOMEM;
		if (ib->max_ts > ib->last_time_ts) {
			be64_put(e, (uint64_t)ib->max_ts);
			be32_put(e + 8, (uint32_t)(int32_t)(ib->max_ts_last_off - seg_base));
			if (buf_append(&ib->ent[IDX_TIME], e, 12) < 0)
				rc = -ENOMEM;
			ib->last_time_ts = ib->max_ts;
		}
		ib->bytes_since_index = 0;
	}
	ib->bytes_since_index += batch_bytes;

	if (ib->nbatches == 0 || ib->stream_since_sindex > interval) {
		be64_put(e, (uint64_t)stream_pos);
		be32_put(e + 8, (uint32_t)(int32_t)(base_offset - seg_base));
		be32_put(e + 12, (uint32_t)(int32_t)file_pos);
		if (buf_append(&ib->ent[IDX_STREAM], e, 16) < 0)
			rc = -ENOMEM;
		ib->stream_since_sindex = 0;
	}
	ib->stream_since_sindex += rendered;
	ib->nbatches++;
	return rc;
}

void idxb_init(struct idx_builder *ib, int32_t interval)
{
	memset(ib, 0, sizeof(*ib));
	ib->interval = interval;
	ib->last_time_ts = -1;
	ib->max_ts = -1;
	ib->max_ts_last_off = -1;
}

void idxb_free(struct idx_builder *ib)
{
	for (int k = 0; k < IDX_KINDS; k++)
		buf_free(&ib->ent[k]);
}

static int64_t idx_key(int kind, const uint8_t *e)
{
	switch (kind) {
	case IDX_OFFSET:
		return (int32_t)be32_get(e);
	default:
		return (int64_t)be64_get(e);
	}
}

long idx_search(int kind, const uint8_t *mem, size_t n, int64_t key)
{
	size_t lo = 0, hi = n, es = idx_entry_size[kind];

	/* first entry with key > target, minus one */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (idx_key(kind, mem + mid * es) <= key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (long)lo - 1;
}

long idx_search_sindex_by_offset(const uint8_t *mem, size_t n, int32_t rel)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if ((int32_t)be32_get(mem + mid * 16 + 8) <= rel)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (long)lo - 1;
}

/* ============================ segment objects ============================ */

char *seg_file_path(const struct seg *s, const char *ext)
{
	size_t n = strlen(s->path) + strlen(ext) + 1;
	char *p = malloc(n);
	if (p)
		snprintf(p, n, "%s%s", s->path, ext);
	return p;
}

static struct seg *seg_alloc(const char *dir, int64_t base_offset)
{
	struct seg *s = calloc(1, sizeof(*s));
	size_t n = strlen(dir) + 32;

	if (!s)
		return NULL;
	s->path = malloc(n);
	if (!s->path) {
		free(s);
		return NULL;
	}
	snprintf(s->path, n, "%s/%020" PRId64, dir, base_offset);
	s->base_offset = base_offset;
	s->fd = -1;
	s->refs = 1;
	s->next_offset = base_offset;
	s->max_ts = -1;
	for (int k = 0; k < IDX_KINDS; k++)
		s->ixfd[k] = -1;
	idxb_init(&s->ib, 4096);
	pthread_mutex_init(&s->map_mu, NULL);
	return s;
}

void seg_ref(struct seg *s)
{
	__atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED);
}

/* ============================== the fd LRU =============================== */

/* THE FD LRU.  Sealed segments' .log fds (and their index maps, which live
 * and die with the fd) are opened on demand and kept in one process-wide
 * list, most recently unpinned first.  `nopen` counts the sealed segments
 * ("managed": handed over by seg_lru_release) whose fd is open, pinned or
 * not; the list holds the unpinned ones only, so eviction takes the tail.
 * When nopen passes `limit`, unpinned segments are closed from the tail;
 * pinned ones never are (with everything pinned nopen may pass the limit
 * until pins are dropped: readers are never refused for lack of a slot).
 * Active segments are not managed (their fds stay open and are not
 * counted): one per partition.
 *
 * seg_lru.mu is a leaf (rank RANK_SEG_LRU_MU) and no system call runs under
 * it: seg_pin opens the file before taking it (two threads reopening one
 * segment: the second keeps the first one's fd and closes its own), and
 * the fds and maps taken off evicted segments are closed and unmapped
 * after it is released.  The map fields are touched by pinners under
 * seg.map_mu and by eviction under seg_lru.mu only at 0 pins (pinning and
 * unpinning go through seg_lru.mu, which orders the two). */
static struct {
	pthread_mutex_t mu;
	struct seg *head, *tail;      /* unpinned open managed segments, MRU first */
	size_t nopen;                 /* managed segments with an open fd */
	size_t limit;
} seg_lru = { .mu = PTHREAD_MUTEX_INITIALIZER, .limit = 64 };

#define LRU_EVICT_MAX 16              /* segments closed per call, at most */

struct lru_evicted {
	int n;
	int fd[LRU_EVICT_MAX];
	const uint8_t *map[LRU_EVICT_MAX][IDX_KINDS];
	size_t map_len[LRU_EVICT_MAX][IDX_KINDS];
};

static void lru_unlink(struct seg *s)
{
	if (!s->lru_linked)
		return;
	if (s->lru_prev)
		s->lru_prev->lru_next = s->lru_next;
	else
		seg_lru.head = s->lru_next;
	if (s->lru_next)
		s->lru_next->lru_prev = s->lru_prev;
	else
		seg_lru.tail = s->lru_prev;
	s->lru_prev = s->lru_next = NULL;
	s->lru_linked = false;
}

static void lru_push_head(struct seg *s)
{
	s->lru_prev = NULL;
	s->lru_next = seg_lru.head;
	if (seg_lru.head)
		seg_lru.head->lru_prev = s;
	else
		seg_lru.tail = s;
	seg_lru.head = s;
	s->lru_linked = true;
}

/* Close unpinned fds from the tail while over the limit (seg_lru.mu held):
 * what they held goes to ev, released by lru_finish without the lock. */
static void lru_evict_locked(struct lru_evicted *ev)
{
	INV_LOCKED(&seg_lru.mu);
	while (seg_lru.nopen > seg_lru.limit && seg_lru.tail && ev->n < LRU_EVICT_MAX) {
		struct seg *v = seg_lru.tail;
		int i = ev->n++;

		lru_unlink(v);
		ev->fd[i] = v->fd;
		v->fd = -1;
		seg_lru.nopen--;
		for (int k = 0; k < IDX_KINDS; k++) {
			ev->map[i][k] = v->map[k];
			ev->map_len[i][k] = v->map_len[k];
			v->map[k] = NULL;
			v->map_len[k] = 0;
			v->map_done[k] = false;
		}
	}
}

static void lru_finish(struct lru_evicted *ev)
{
	for (int i = 0; i < ev->n; i++) {
		if (ev->fd[i] >= 0 && sysio->close(ev->fd[i]) < 0)
			sio_log("close", "an evicted segment's .log", errno);
		for (int k = 0; k < IDX_KINDS; k++)
			if (ev->map[i][k])
				munmap((void *)ev->map[i][k], ev->map_len[i][k]);
	}
	ev->n = 0;
}

static void pin_locked(struct seg *s)
{
	lru_unlink(s);
	__atomic_store_n(&s->pins, s->pins + 1, __ATOMIC_RELAXED);
}

/* Reopen a sealed segment's .log: the file first opened, or -ENOENT. */
static int seg_reopen(struct seg *s)
{
	char *path = seg_file_path(s, ".log");
	struct stat sb;
	int fd, rc;

	if (!path)
		return -ENOMEM;
	fd = sio_open_existing(path, O_RDWR);
	if (fd < 0) {
		free(path);
		return fd;
	}
	if (fstat(fd, &sb) < 0) {
		rc = -errno;
		sio_log("fstat", path, rc);
		sysio->close(fd);
		free(path);
		return rc;
	}
	if ((uint64_t)sb.st_dev != s->dev || (uint64_t)sb.st_ino != s->ino) {
		/* not the file this segment was: it was deleted and a new one
		 * of the name made (a topic deleted and created again) */
		sysio->close(fd);
		free(path);
		return -ENOENT;
	}
	free(path);
	return fd;
}

int seg_pin(struct seg *s)
{
	struct lru_evicted ev = { .n = 0 };
	int fd, other = -1;

	lock_rank(&seg_lru.mu, RANK_SEG_LRU_MU);
	if (s->fd >= 0) {
		pin_locked(s);
		fd = s->fd;
		unlock_rank(&seg_lru.mu);
		return fd;
	}
	unlock_rank(&seg_lru.mu);
	fd = seg_reopen(s);
	if (fd < 0)
		return fd;
	lock_rank(&seg_lru.mu, RANK_SEG_LRU_MU);
	if (s->fd >= 0) {
		other = fd;             /* another thread reopened it meanwhile */
		fd = s->fd;
	} else {
		s->fd = fd;
		if (s->lru_managed)
			seg_lru.nopen++;
	}
	pin_locked(s);
	lru_evict_locked(&ev);
	unlock_rank(&seg_lru.mu);
	if (other >= 0)
		sysio->close(other);
	lru_finish(&ev);
	return fd;
}

void seg_unpin(struct seg *s)
{
	struct lru_evicted ev = { .n = 0 };

	if (!s)
		return;
	lock_rank(&seg_lru.mu, RANK_SEG_LRU_MU);
	INV(s->pins > 0);
	__atomic_store_n(&s->pins, s->pins - 1, __ATOMIC_RELAXED);
	if (s->pins == 0 && s->lru_managed && s->fd >= 0) {
		lru_push_head(s);
		lru_evict_locked(&ev);
	}
	unlock_rank(&seg_lru.mu);
	lru_finish(&ev);
}

void seg_lru_release(struct seg *s)
{
	struct lru_evicted ev = { .n = 0 };

	lock_rank(&seg_lru.mu, RANK_SEG_LRU_MU);
	if (!s->lru_managed) {
		s->lru_managed = true;
		if (s->fd >= 0) {
			seg_lru.nopen++;
			if (s->pins == 0)
				lru_push_head(s);
		}
		lru_evict_locked(&ev);
	}
	unlock_rank(&seg_lru.mu);
	lru_finish(&ev);
}

int seg_lru_hold(struct seg *s)
{
	int fd = seg_pin(s);

	if (fd < 0)
		return fd;
	lock_rank(&seg_lru.mu, RANK_SEG_LRU_MU);
	if (s->lru_managed) {
		s->lru_managed = false;
		seg_lru.nopen--;        /* pinned: its fd is open */
	}
	__atomic_store_n(&s->pins, s->pins - 1, __ATOMIC_RELAXED);
	unlock_rank(&seg_lru.mu);
	return 0;
}

void seg_lru_set_limit(size_t n)
{
	struct lru_evicted ev = { .n = 0 };

	lock_rank(&seg_lru.mu, RANK_SEG_LRU_MU);
	seg_lru.limit = n ? n : 1;
	for (;;) {
		lru_evict_locked(&ev);
		if (ev.n < LRU_EVICT_MAX)
			break;
		unlock_rank(&seg_lru.mu);
		lru_finish(&ev);
		lock_rank(&seg_lru.mu, RANK_SEG_LRU_MU);
	}
	unlock_rank(&seg_lru.mu);
	lru_finish(&ev);
}

size_t seg_lru_open_count(void)
{
	size_t n;

	lock_rank(&seg_lru.mu, RANK_SEG_LRU_MU);
	n = seg_lru.nopen;
	unlock_rank(&seg_lru.mu);
	return n;
}

size_t seg_lru_limit(void)
{
	size_t n;

	lock_rank(&seg_lru.mu, RANK_SEG_LRU_MU);
	n = seg_lru.limit;
	unlock_rank(&seg_lru.mu);
	return n;
}

void seg_unref(struct seg *s)
{
	if (!s || __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	/* the last reference: no pin is left (pins hold references) */
	lock_rank(&seg_lru.mu, RANK_SEG_LRU_MU);
	lru_unlink(s);
	if (s->lru_managed && s->fd >= 0)
		seg_lru.nopen--;
	s->lru_managed = false;
	unlock_rank(&seg_lru.mu);
	sio_close(s->fd, s->path);
	for (int k = 0; k < IDX_KINDS; k++) {
		sio_close(s->ixfd[k], s->path);
		if (s->map[k])
			munmap((void *)s->map[k], s->map_len[k]);
	}
	idxb_free(&s->ib);
	pthread_mutex_destroy(&s->map_mu);
	free(s->path);
	free(s);
}

int seg_open_index_fds(struct seg *s)
{
	for (int k = 0; k < IDX_KINDS; k++) {
		char *path;
		int fd;

		if (s->ixfd[k] >= 0)
			continue;
		path = seg_file_path(s, idx_ext[k]);
		if (!path)
			return -ENOMEM;
		fd = sio_open(path, O_RDWR | O_CREAT, 0644);
		free(path);
		if (fd < 0)
			return fd;
		s->ixfd[k] = fd;
	}
	return 0;
}

int seg_create(const char *dir, int64_t base_offset, int64_t stream_base,
               bool sync, struct seg **out)
{
	struct seg *s = seg_alloc(dir, base_offset);
	char *path = NULL;
	int rc;

	if (!s)
		return -ENOMEM;
	s->stream_base = s->stream_end = stream_base;
	path = seg_file_path(s, ".log");
	if (!path) {
		rc = -ENOMEM;
		goto free_seg;
	}
	rc = sio_open(path, O_RDWR | O_CREAT | O_EXCL, 0644);
	if (rc < 0)
		goto free_seg;
	s->fd = rc;
	{
		struct stat sb;
		if (fstat(s->fd, &sb) < 0) {
			rc = -errno;
			sio_log("fstat", path, rc);
			goto remove_files;
		}
		s->dev = (uint64_t)sb.st_dev;
		s->ino = (uint64_t)sb.st_ino;
	}
	for (int k = 0; k < IDX_KINDS; k++) {
		char *ip = seg_file_path(s, idx_ext[k]);
		if (!ip) {
			rc = -ENOMEM;
			goto remove_files;
		}
		rc = sio_open(ip, O_RDWR | O_CREAT | O_TRUNC, 0644);
		if (rc >= 0) {
			s->ixfd[k] = rc;
			rc = sync ? sio_fsync(s->ixfd[k], ip) : 0;
		}
		free(ip);
		if (rc < 0)
			goto remove_files;
	}
	if (sync) {
		rc = sio_fsync(s->fd, path);
		if (rc < 0)
			goto remove_files;
	}
	free(path);
	*out = s;
	return 0;

remove_files:
	seg_unlink_files(s);
free_seg:
	free(path);
	seg_unref(s);
	return rc;
}

int seg_open_log(const char *dir, int64_t base_offset, struct seg **out)
{
	struct seg *s = seg_alloc(dir, base_offset);
	struct stat sb;
	char *path;
	int rc;

	if (!s)
		return -ENOMEM;
	path = seg_file_path(s, ".log");
	if (!path) {
		rc = -ENOMEM;
		goto free_seg;
	}
	rc = sio_open(path, O_RDWR, 0);
	if (rc < 0)
		goto free_path;
	s->fd = rc;
	if (fstat(s->fd, &sb) < 0) {
		rc = -errno;
		sio_log("fstat", path, rc);
		goto free_path;
	}
	s->size = sb.st_size;
	s->dev = (uint64_t)sb.st_dev;
	s->ino = (uint64_t)sb.st_ino;
	free(path);
	/* loading: counted and bounded like a sealed one until the loader
	 * takes the active segment back (seg_lru_hold) */
	seg_lru_release(s);
	*out = s;
	return 0;

free_path:
	free(path);
free_seg:
	seg_unref(s);
	return rc;
}

void seg_unlink_files(struct seg *s)
{
	static const char *const exts[] = { ".log", ".index", ".timeindex", ".sindex" };

	for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
		char *p = seg_file_path(s, exts[i]);
		if (p) {
			sio_unlink(p);
			free(p);
		}
	}
}

/* Write one index file from memory: temp, (fsync), rename. */
static int write_index_file(const char *path, const struct buf *b, bool sync)
{
	size_t plen = strlen(path);
	char *tmp = malloc(plen + 5);
	int fd, rc;

	if (!tmp)
		return -ENOMEM;
	memcpy(tmp, path, plen);
	memcpy(tmp + plen, ".tmp", 5);
	fd = sio_open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		rc = fd;
		goto free_tmp;
	}
	rc = sio_pwrite_all(fd, b->data, b->len, 0, tmp);
	if (rc == 0 && sync)
		rc = sio_fsync(fd, tmp);
	sio_close(fd, tmp);
	if (rc < 0)
		goto remove_tmp;
	if (sysio->rename(tmp, path) < 0) {
		rc = -errno;
		sio_log("rename", tmp, rc);
		goto remove_tmp;
	}
	free(tmp);
	return 0;

remove_tmp:
	sysio->unlink(tmp);
free_tmp:
	free(tmp);
	return rc;
}

int seg_write_index_files(struct seg *s, const struct idx_builder *ib, bool sync)
{
	for (int k = 0; k < IDX_KINDS; k++) {
		char *path = seg_file_path(s, idx_ext[k]);
		int rc;

		if (!path)
			return -ENOMEM;
		rc = write_index_file(path, &ib->ent[k], sync);
		free(path);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int seg_seal(struct seg *s, bool sync)
{
	int rc = 0;

	if (s->ix_dirty) {
		/* an append to an index failed: the files may be short or torn,
		 * the memory copy is right */
		for (int k = 0; k < IDX_KINDS; k++) {
			sio_close(s->ixfd[k], s->path);
			s->ixfd[k] = -1;
		}
		rc = seg_write_index_files(s, &s->ib, sync);
		if (rc == 0) {
			s->ix_dirty = false;
		} else {
			/* the files keep a consistent prefix of the entries (an
			 * index is sparse, and checked at start); this is no
			 * reason to fail the seal or the data's fsync */
			tfs_log(TFS_LOG_WARN, "storage: %s: index files not rewritten "
			        "(%s), kept as they are", s->path, strerror(-rc));
			rc = 0;
		}
	} else if (sync) {
		for (int k = 0; k < IDX_KINDS && rc == 0; k++)
			if (s->ixfd[k] >= 0)
				rc = sio_fdatasync(s->ixfd[k], s->path);
	}
	if (rc == 0 && sync && s->unflushed) {
		rc = sio_fdatasync(s->fd, s->path);
		if (rc == 0)
			s->unflushed = false;
	}
	for (int k = 0; k < IDX_KINDS; k++) {
		sio_close(s->ixfd[k], s->path);
		s->ixfd[k] = -1;
	}
	return rc;
}

/* Map a sealed segment's index file (once per time the LRU has it open).
 * Called without part.lock, with a pin (the LRU unmaps only unpinned
 * segments). */
static void seg_map_index(struct seg *s, int kind, const uint8_t **map, size_t *n)
{
	lock_rank(&s->map_mu, RANK_SEG_MAP_MU);
	if (!s->map_done[kind]) {
		char *path = seg_file_path(s, idx_ext[kind]);
		int fd = path ? sysio->open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC, 0) : -1;
		struct stat sb;

		s->map_done[kind] = true;
		if (fd >= 0 && fstat(fd, &sb) == 0) {
			size_t len = (size_t)sb.st_size;
			len -= len % idx_entry_size[kind];
			if (len > 0) {
				void *m = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
				if (m != MAP_FAILED) {
					s->map[kind] = m;
					s->map_len[kind] = len;
				} else {
					sio_log("mmap", path, errno);
				}
			}
		}
		/* a missing file (retention removed it) just means "scan" */
		if (fd >= 0)
			sysio->close(fd);
		free(path);
	}
	*map = s->map[kind];
	*n = s->map_len[kind] / idx_entry_size[kind];
	unlock_rank(&s->map_mu);
}

static long search_any(int kind, const uint8_t *mem, size_t n, int64_t key,
                       bool by_offset)
{
	if (by_offset)
		return idx_search_sindex_by_offset(mem, n, (int32_t)key);
	return idx_search(kind, mem, n, key);
}

int seg_index_lookup(struct seg *s, pthread_mutex_t *part_lock, int kind,
                     int64_t key, bool by_offset, uint8_t *entry)
{
	size_t es = idx_entry_size[kind];
	const uint8_t *mem;
	size_t n;
	long i;

	lock_rank(part_lock, RANK_PART_LOCK);
	if (!s->sealed) {
		n = s->ib.ent[kind].len / es;
		i = search_any(kind, s->ib.ent[kind].data, n, key, by_offset);
		if (i >= 0)
			memcpy(entry, s->ib.ent[kind].data + (size_t)i * es, es);
		unlock_rank(part_lock);
		return i >= 0;
	}
	unlock_rank(part_lock);
	seg_map_index(s, kind, &mem, &n);
	if (!mem)
		return 0;
	i = search_any(kind, mem, n, key, by_offset);
	if (i < 0)
		return 0;
	memcpy(entry, mem + (size_t)i * es, es);
	return 1;
}

/* ============================= batch reading ============================= */

/* Each thread keeps one read-ahead buffer for its batch readers, so a read
 * call does not allocate (and fault in) a fresh one; a pthread key frees it
 * when the thread exits.  A reader that finds it taken (nested readers)
 * allocates its own.  Buffers above BR_KEEP (a huge batch) are not kept;
 * BR_KEEP is above the size of a full default batch (1 MiB of records plus
 * their framing), so a thread reading such batches reuses one buffer
 * instead of faulting in a fresh one per batch. */
#define BR_KEEP (4u << 20)
static pthread_key_t tl_key;
static pthread_once_t tl_once = PTHREAD_ONCE_INIT;

struct tl_chunk {
	struct buf b;
	bool busy;
};

static void tl_destroy(void *v)
{
	struct tl_chunk *c = v;
	buf_free(&c->b);
	free(c);
}

static void tl_init(void)
{
	pthread_key_create(&tl_key, tl_destroy);
}

void br_init(struct batch_reader *br, struct seg *s, int64_t pos, int64_t limit)
{
	struct tl_chunk *c;

	memset(br, 0, sizeof(*br));
	br->seg = s;
	br->pos = pos;
	br->limit = limit;
	br->chunk_pos = pos;
	pthread_once(&tl_once, tl_init);
	c = pthread_getspecific(tl_key);
	if (!c) {
		c = calloc(1, sizeof(*c));
		if (c && pthread_setspecific(tl_key, c) != 0) {
			free(c);
			c = NULL;
		}
	}
	if (c && !c->busy) {
		c->busy = true;
		br->chunk = c->b;
		br->chunk.len = 0;
		br->tl = c;
	}
}

void br_free(struct batch_reader *br)
{
	struct tl_chunk *c = br->tl;

	if (c) {
		if (br->chunk.cap > BR_KEEP)
			buf_free(&br->chunk);
		c->b = br->chunk;
		c->busy = false;
		br->tl = NULL;
		memset(&br->chunk, 0, sizeof(br->chunk));
		return;
	}
	buf_free(&br->chunk);
}

/* Make [pos, pos+need) available in the chunk (reading ahead up to
 * BR_CHUNK, never past limit). */
static int br_fill(struct batch_reader *br, size_t need)
{
	int64_t have_end = br->chunk_pos + (int64_t)br->chunk.len;
	size_t want, got;
	int rc;

	if (br->pos >= br->chunk_pos && br->pos + (int64_t)need <= have_end)
		return 0;
	want = need > BR_CHUNK ? need : BR_CHUNK;
	if ((int64_t)want > br->limit - br->pos)
		want = (size_t)(br->limit - br->pos);
	if (want < need)
		return -EAGAIN;
	br->chunk.len = 0;
	if (buf_reserve(&br->chunk, want) < 0)
		return -ENOMEM;
	rc = sio_pread_all(br->seg->fd, br->chunk.data, want, br->pos, &got,
	                   br->seg->path);
	if (rc < 0)
		return rc;
	br->chunk.len = got;
	br->chunk_pos = br->pos;
	return got < need ? -EAGAIN : 0;
}

int batch_frame(const uint8_t *p, int64_t avail, size_t max_batch,
                int64_t *total)
{
	int64_t length;

	if (avail < BATCH_LOG_OVERHEAD)
		return -EAGAIN;
	length = (int32_t)be32_get(p + 8);
	if (length < BATCH_HEADER_SIZE - BATCH_LOG_OVERHEAD)
		return -EBADMSG;
	*total = BATCH_LOG_OVERHEAD + length;
	if (*total > avail)
		return -EAGAIN;
	if ((uint64_t)*total > max_batch)
		return -EBADMSG;
	return 0;
}

int br_next(struct batch_reader *br, const uint8_t **batch, size_t *len,
            struct batch_header *h, size_t max_batch)
{
	const uint8_t *p;
	int64_t total;
	int rc;

	if (br->pos >= br->limit)
		return 0;
	rc = br_fill(br, BATCH_LOG_OVERHEAD);   /* -EAGAIN: fewer are left */
	if (rc < 0)
		return rc;
	p = br->chunk.data + (br->pos - br->chunk_pos);
	rc = batch_frame(p, br->limit - br->pos, max_batch, &total);
	if (rc < 0)
		return rc;
	rc = br_fill(br, (size_t)total);
	if (rc < 0)
		return rc;
	p = br->chunk.data + (br->pos - br->chunk_pos);
	rc = batch_parse_header(p, (size_t)total, h);
	if (rc < 0)
		return rc == -EAGAIN ? -EBADMSG : rc;
	*batch = p;
	*len = (size_t)total;
	br->pos += total;
	return 1;
}

/* =============================== rendering =============================== */

int64_t render_len(const struct batch_decoded *b, int framing)
{
	int64_t n = 0;

	if (b->h.attributes & BATCH_ATTR_CONTROL)
		return 0;
	for (size_t i = 0; i < b->nrecs; i++)
		n += rec_render_len(b->recs[i].value_len, framing);
	return n;
}

size_t render_copy(const struct batch_decoded *b, int framing, int64_t skip,
                   uint8_t *dst, size_t cap)
{
	size_t out = 0;

	if (b->h.attributes & BATCH_ATTR_CONTROL)
		return 0;
	for (size_t i = 0; i < b->nrecs && out < cap; i++) {
		const struct record *r = &b->recs[i];
		int64_t vlen = r->value_len < 0 ? 0 : r->value_len;
		int64_t rlen = rec_render_len(r->value_len, framing);

		if (skip >= rlen) {
			skip -= rlen;
			continue;
		}
		/* value bytes [skip, vlen), then maybe the newline */
		if (skip < vlen) {
			size_t n = (size_t)(vlen - skip);
			if (n > cap - out)
				n = cap - out;
			memcpy(dst + out, r->value + skip, n);
			out += n;
			skip += (int64_t)n;
		}
		if (out < cap && framing == FRAMING_LINES && skip == vlen) {
			dst[out++] = '\n';
		}
		skip = 0;
	}
	return out;
}

/* ================================ scanning =============================== */

/* Check one batch of a scan as batch_decode would and give its rendered
 * length.  An uncompressed batch that is not a control batch (every
 * batch the mount writes) is walked in place instead: its CRC, then its
 * records with batch_render_raw's checks, which accept and refuse what
 * batch_decode does (test_render_raw_agrees) without building a record
 * array.  The scan of a kill -9 restart spent a third of its time in that
 * array (parse_record), as much as in the pread copy. */
static int scan_batch(const uint8_t *batch, size_t len,
                      const struct batch_header *h, int framing,
                      size_t max_decomp, int64_t *rlen)
{
	struct batch_decoded d;
	int rc;

	if ((h->attributes & BATCH_ATTR_CODEC_MASK) == CODEC_NONE &&
	    !(h->attributes & BATCH_ATTR_CONTROL)) {
		size_t n, hpos = 0, hidx = 0;
		int64_t hat = 0;
		uint8_t unused;

		if (batch_check_crc(batch, len) < 0)
			return -EBADMSG;
		/* from offset INT64_MAX: nothing is copied, every record
		 * is walked and checked, *rlen is the total */
		rc = batch_render_raw(batch, len, h, framing, INT64_MAX, &unused, 1,
		                      &n, rlen, &hpos, &hidx, &hat);
		if (rc == 0 && *rlen < 0)
			rc = -EBADMSG;
		return rc;
	}
	rc = batch_decode(batch, len, max_decomp, &d);
	if (rc < 0)
		return rc;
	*rlen = render_len(&d, framing);
	batch_decoded_free(&d);
	return 0;
}

int seg_scan(struct seg *s, int64_t file_pos, int64_t stream_pos,
             int64_t expect_offset, int64_t limit, int framing,
             size_t max_decomp, struct idx_builder *ib, struct scan_result *res)
{
	struct batch_reader br;
	struct scan_result r = {
		.valid_size = file_pos,
		.next_offset = expect_offset >= 0 ? expect_offset : s->base_offset,
		.stream_end = stream_pos,
		.max_ts = -1,
		.first_ts = -1,
		.stop = 0,
	};
	size_t max_batch = max_decomp + (1 << 20);
	int rc = 0;

	if (max_batch > INT32_MAX)
		max_batch = INT32_MAX;
	br_init(&br, s, file_pos, limit);
	for (;;) {
		const uint8_t *batch;
		size_t len;
		struct batch_header h;
		int64_t pos = br.pos, last, rlen;

		rc = br_next(&br, &batch, &len, &h, max_batch);
		if (rc == 0)
			break;
		if (rc == -EAGAIN || rc == -EBADMSG || rc == -EMSGSIZE) {
			r.stop = rc;
			rc = 0;
			break;
		}
		if (rc < 0)
			goto out;
		if (expect_offset >= 0 && h.base_offset != expect_offset) {
			tfs_log(TFS_LOG_WARN, "storage: %s.log position %" PRId64
			        ": base offset %" PRId64 " where %" PRId64 " was expected",
			        s->path, pos, h.base_offset, expect_offset);
			r.stop = -EBADMSG;
			break;
		}
		if (h.last_offset_delta < 0 ||
		    h.base_offset + h.last_offset_delta - s->base_offset > INT32_MAX ||
		    h.base_offset < s->base_offset) {
			r.stop = -EBADMSG;
			break;
		}
		rc = scan_batch(batch, len, &h, framing, max_decomp, &rlen);
		if (rc == -ENOMEM)
			goto out;           /* not the batch's fault: never truncate */
		if (rc < 0) {
			r.stop = rc;
			rc = 0;
			break;
		}
		last = h.base_offset + h.last_offset_delta;
		if (ib) {
			rc = idxb_add(ib, s->base_offset, pos, (int64_t)len, last,
			              h.base_offset, h.max_timestamp, r.stream_end, rlen);
			if (rc < 0)
				goto out;
		}
		if (r.first_ts < 0)
			r.first_ts = h.base_timestamp;
		if (h.max_timestamp > r.max_ts)
			r.max_ts = h.max_timestamp;
		r.valid_size = br.pos;
		r.next_offset = last + 1;
		r.stream_end += rlen;
		expect_offset = last + 1;
	}
	*res = r;
	rc = 0;
out:
	br_free(&br);
	return rc;
}

/* ============================ checking indexes =========================== */

/* Read the header of the batch at pos (NULL-safe on short files). */
static int read_header_at(struct seg *s, int64_t pos, int64_t log_size,
                          struct batch_header *h)
{
	uint8_t hb[BATCH_HEADER_SIZE];
	size_t got;
	int rc;

	if (pos + BATCH_HEADER_SIZE > log_size)
		return -EBADMSG;
	rc = sio_pread_all(s->fd, hb, sizeof(hb), pos, &got, s->path);
	if (rc < 0)
		return rc;
	if (got < sizeof(hb))
		return -EBADMSG;
	/* only the fixed fields matter here; the length may run past */
	int64_t length = (int32_t)be32_get(hb + 8);
	if (length < BATCH_HEADER_SIZE - BATCH_LOG_OVERHEAD ||
	    pos + BATCH_LOG_OVERHEAD + length > log_size || hb[16] != BATCH_MAGIC_V2)
		return -EBADMSG;
	memset(h, 0, sizeof(*h));
	h->base_offset = (int64_t)be64_get(hb);
	h->length = (int32_t)length;
	h->last_offset_delta = (int32_t)be32_get(hb + 23);
	h->max_timestamp = (int64_t)be64_get(hb + 35);
	return 0;
}

int seg_check_index_file(struct seg *s, int kind, int64_t log_size,
                         int64_t expect_stream_base, struct buf *out)
{
	size_t es = idx_entry_size[kind];
	char *path = seg_file_path(s, idx_ext[kind]);
	char *data = NULL;
	size_t len = 0, n;
	int rc;

	if (!path)
		return -ENOMEM;
	rc = sio_read_small(path, IDX_MAX_BYTES + 64, &data, &len);
	if (rc < 0) {
		if (rc != -ENOENT && rc != -EFBIG)
			goto out;
		tfs_log(TFS_LOG_WARN, "storage: %s: %s, rebuilding", path,
		        rc == -ENOENT ? "missing" : "too large");
		rc = -EBADMSG;
		goto out;
	}
	rc = -EBADMSG;
	if (len % es != 0 || (log_size == 0 && len != 0))
		goto bad;
	n = len / es;
	if (kind == IDX_STREAM && log_size > 0 && n == 0)
		goto bad;
	for (size_t i = 0; i < n; i++) {
		const uint8_t *e = (const uint8_t *)data + i * es;
		const uint8_t *prev = i ? e - es : NULL;
		int64_t pos, rel;

		switch (kind) {
		case IDX_OFFSET:
			rel = (int32_t)be32_get(e);
			pos = (int32_t)be32_get(e + 4);
			if (rel < 0 || pos < 0 || pos >= log_size)
				goto bad;
			if (prev && (rel <= (int32_t)be32_get(prev) ||
			             pos <= (int32_t)be32_get(prev + 4)))
				goto bad;
			break;
		case IDX_TIME:
			rel = (int32_t)be32_get(e + 8);
			if (rel < 0)
				goto bad;
			if (prev && ((int64_t)be64_get(e) <= (int64_t)be64_get(prev) ||
			             rel < (int32_t)be32_get(prev + 8)))
				goto bad;
			break;
		case IDX_STREAM:
			rel = (int32_t)be32_get(e + 8);
			pos = (int32_t)be32_get(e + 12);
			if (rel < 0 || pos < 0 || pos >= log_size)
				goto bad;
			if (i == 0 && (pos != 0 || rel != 0 ||
			               (expect_stream_base >= 0 &&
			                (int64_t)be64_get(e) != expect_stream_base)))
				goto bad;
			if (prev && ((int64_t)be64_get(e) < (int64_t)be64_get(prev) ||
			             rel <= (int32_t)be32_get(prev + 8) ||
			             pos <= (int32_t)be32_get(prev + 12)))
				goto bad;
			break;
		}
	}
	/* the last entry must point at the batch it names */
	if (n > 0 && kind != IDX_TIME) {
		const uint8_t *e = (const uint8_t *)data + (n - 1) * es;
		struct batch_header h;
		int64_t pos = (int32_t)be32_get(e + (kind == IDX_OFFSET ? 4 : 12));
		int64_t rel = (int32_t)be32_get(e + (kind == IDX_OFFSET ? 0 : 8));
		int hrc = read_header_at(s, pos, log_size, &h);

		if (hrc < 0 && hrc != -EBADMSG) {
			rc = hrc;
			goto out;
		}
		if (hrc < 0)
			goto bad;
		if (kind == IDX_OFFSET &&
		    h.base_offset + h.last_offset_delta != s->base_offset + rel)
			goto bad;
		if (kind == IDX_STREAM && h.base_offset != s->base_offset + rel)
			goto bad;
	}
	if (out) {
		out->len = 0;
		rc = buf_append(out, data, len);
		goto out;
	}
	rc = 0;
	goto out;
bad:
	tfs_log(TFS_LOG_WARN, "storage: %s: inconsistent with the log, rebuilding",
	        path);
	rc = -EBADMSG;
out:
	free(data);
	free(path);
	return rc;
}
