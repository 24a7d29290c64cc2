/*
 * engine.h - the log engine's internal types, shared by segment.c
 * (segment files, indexes, batch scanning), the partition files
 * (part_open.c: lifecycle, loading, deletion; part_recover.c: crash
 * recovery of the segments; part_write.c: the writer, roll, flush,
 * retention; part_read.c: reads and fetch slices) and store.c (the store,
 * topics, configuration, checkpoint, maintenance thread).  Tests may
 * include it.
 *
 * Locks, outermost first (a thread holding one may only take later ones):
 *
 *   store.mu           the topic map (held across topic creation)
 *   part "writer token" (part.writing under part.qlock; not a mutex but a
 *                      token: exactly one thread appends, rolls, flushes,
 *                      runs retention or deletes a partition's files at a
 *                      time; it may be held across file I/O)
 *   store.hook_lock    read-held by the token holder while it calls the
 *                      append hook (the hook may take store.mu: nothing
 *                      holding store.mu waits for a live partition's token)
 *   part.qlock         the pending queue and the writer token
 *   part.lock          the segment list, the published end, the active
 *                      segment's in-memory index entries
 *   seg.map_mu         lazy mmap of a sealed segment's index files
 *   part.cache_mu      the partition's last-decoded-batch cache
 *   topic.cfg_mu       the topic's settings
 *   seg_lru.mu         the process-wide LRU of sealed segments' open .log
 *                      fds (segment.c: every seg's fd / pins / lru_* fields);
 *                      a leaf: taken under any of the above, nothing is
 *                      taken under it, and no system call is made under it
 *                      (opens happen before, closes and munmaps after)
 *   groups.mu          consumer groups (groups.c): ranked last, but taken
 *                      only with NO storage lock held (so store code calls
 *                      groups_* after dropping its own locks, as
 *                      store_topic_delete does) and nothing is taken under
 *                      it; held across the offsets log's pwrite/fsync and
 *                      a compaction's writes
 *
 * None of the mutexes is held across file I/O, except seg.map_mu (one
 * open + mmap), store.mu during topic creation and deletion of the
 * metadata file, and topic.cfg_mu while topic_set_config rewrites the
 * topic's settings file (temp file, fsync, rename, directory fsync).
 *
 * Debug and sanitizer builds check this order, the writer token and the
 * field guards at run time (invariants.h: lock_rank/unlock_rank, INV_*).
 */
#ifndef TOPICFS_ENGINE_H
#define TOPICFS_ENGINE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "storage.h"
#include "buf.h"
#include "bytes.h"
#include "clock.h"
#include "invariants.h"

/* byte order, clocks and buffers: common/ (bytes.h, clock.h, buf.h) */

/* ------------------------------ the indexes ------------------------------ */

enum { IDX_OFFSET = 0, IDX_TIME = 1, IDX_STREAM = 2, IDX_KINDS = 3 };
#define IDX_OFFSET_ENTRY 8
#define IDX_TIME_ENTRY   12
#define IDX_STREAM_ENTRY 16
#define IDX_MAX_BYTES    (10 << 20)   /* roll before an index passes this */

extern const size_t idx_entry_size[IDX_KINDS];
extern const char *const idx_ext[IDX_KINDS];

/* The index cadence of one segment and, for the active segment, its
 * entries in on-disk byte format.  Fed one batch at a time in log order by
 * both the append path and recovery, so both build the same files. */
struct idx_builder {
	struct buf ent[IDX_KINDS];
	int64_t bytes_since_index;    /* .log bytes since the last cadence point */
	int64_t stream_since_sindex;  /* stream bytes since the last .sindex entry */
	int64_t last_time_ts;         /* timestamp of the last .timeindex entry, -1 */
	int64_t max_ts;               /* largest batch MaxTimestamp so far, -1 */
	int64_t max_ts_last_off;      /* LAST offset of the batch holding max_ts */
	int64_t nbatches;             /* batches fed */
	int64_t interval;             /* index_interval_bytes */
};
void idxb_init(struct idx_builder *ib, int32_t interval);
/* Feed one batch.  -ENOMEM: an entry could not be stored and was dropped;
 * the cadence state still advanced, so the entries kept stay consistent
 * with the log (the index is only sparser). */
int idxb_add(struct idx_builder *ib, int64_t seg_base, int64_t file_pos,
             int64_t batch_bytes, int64_t last_offset, int64_t base_offset,
             int64_t batch_max_ts, int64_t stream_pos, int64_t rendered);
void idxb_free(struct idx_builder *ib);

/* Search entries (n entries of kind at mem).  Return the index of the
 * largest entry whose key <= key, or -1.  Keys: IDX_OFFSET relative offset,
 * IDX_TIME timestamp, IDX_STREAM stream position (ties: the last). */
long idx_search(int kind, const uint8_t *mem, size_t n, int64_t key);
/* Variant for IDX_STREAM keyed by relative base offset. */
long idx_search_sindex_by_offset(const uint8_t *mem, size_t n, int32_t rel);

/* ------------------------------- segments -------------------------------- */

/* One segment: a .log and its three indexes.  Refcounted: the partition's
 * list holds one reference, readers and fetch slices take more.  Files may
 * be unlinked (retention, topic deletion) while references remain; the fd
 * is closed and the maps unmapped at the last reference.
 *
 * OPEN FILES (segment.c, "the fd LRU").  The active segment of a
 * partition keeps its .log fd and its three index fds open.  A sealed
 * segment's .log fd and its index maps are opened on demand and kept in one
 * process-wide LRU bounded by seg_lru_set_limit (store_options
 * .max_open_segments): whoever uses s->fd, s->map or calls seg_scan /
 * br_* / seg_index_lookup on a segment pins it first (seg_pin, which
 * reopens the .log when the LRU closed it) and unpins it after; a pinned
 * segment's fd and maps are never closed by the LRU.  A fetch slice keeps
 * its pin until part_slice_release, so its fd outlives retention's unlink.
 * The loading thread pins the segments it recovers one at a time.
 *
 * Field guards: "immutable" fields are set before the segment is shared.
 * "P" = guarded by the owning part.lock (written only by the writer-token
 * holder, so the writer may read them without the lock).  "W" = only the
 * writer-token holder touches it. */
struct seg {
	int64_t base_offset;          /* immutable */
	char *path;                   /* immutable: "<dir>/<20 digits>" */
	int fd;                       /* L: the .log (O_RDWR), -1 while the LRU
	                                 has it closed; stable while pinned, and
	                                 for the active segment (not in the LRU) */
	int refs;                     /* atomic (__atomic builtins) */
	int pins;                     /* L (written), atomic reads: seg_pin holders */
	bool lru_managed;             /* L: sealed: the fd may be closed unpinned */
	bool lru_linked;              /* L: on the LRU list (managed, open, 0 pins) */
	struct seg *lru_prev, *lru_next; /* L: the list, most recent first */
	uint64_t dev, ino;            /* immutable: the .log's identity, checked
	                                 when it is reopened */

	int64_t size;                 /* P: published .log size */
	int64_t next_offset;          /* P: last published offset + 1 */
	int64_t stream_base;          /* immutable: stream position of byte 0 */
	int64_t stream_end;           /* P: stream position after the last batch */
	int64_t max_ts;               /* P: largest MaxTimestamp, -1 if none */
	int64_t roll_start_ms;        /* P: for segment_ms (first append time) */
	bool sealed;                  /* P: no more appends; index via mmap */

	struct idx_builder ib;        /* P (entries) / W (cadence); active only */
	int ixfd[IDX_KINDS];          /* W: index fds while active, else -1 */
	bool ix_dirty;                /* W: an index write failed: rewrite at seal */
	bool unflushed;               /* W: data written since the last fsync */
	bool tail_dirty;              /* W: a failed write left bytes past size
	                                 that could not be cut: cut before sealing */

	pthread_mutex_t map_mu;       /* guards the five fields below (the
	                                 maps: and only while pinned; the LRU
	                                 unmaps them under seg_lru.mu when it
	                                 closes the unpinned segment's fd) */
	const uint8_t *map[IDX_KINDS];/* sealed: read-only map of the index file */
	size_t map_len[IDX_KINDS];    /* its length (whole entries) */
	bool map_done[IDX_KINDS];     /* mapping attempted */
	int64_t verified_lo;          /* [lo, hi): .log bytes whose batches' CRCs */
	int64_t verified_hi;          /* a fetch slice checked (published bytes
	                                 never change, so once is enough) */
};

void seg_ref(struct seg *s);
void seg_unref(struct seg *s);

/* The fd LRU (see OPEN FILES above).  seg_pin returns the segment's .log
 * fd, reopening it (relative to nothing but its own path, O_NOFOLLOW,
 * through the sysio table; the file must be the one first opened) when
 * the LRU closed it, and pins it: -ENOENT when the file is gone (retention
 * or deletion unlinked it), other -errno from open.  seg_unpin undoes one
 * pin.  seg_lru_release hands a segment that was just sealed (or loaded)
 * to the LRU; seg_lru_hold takes it back (it becomes active: the fd stays
 * open until seg_lru_release or the last reference), 0 or -errno. */
int seg_pin(struct seg *s);
void seg_unpin(struct seg *s);
void seg_lru_release(struct seg *s);
int seg_lru_hold(struct seg *s);
/* The bound on open sealed-segment fds (process-wide; at least 1). */
void seg_lru_set_limit(size_t n);
/* Open sealed-segment fds now, and the bound (for tests and stats). */
size_t seg_lru_open_count(void);
size_t seg_lru_limit(void);

/* Build the path "<dir>/<20-digit base><ext>" (malloc'd). */
char *seg_file_path(const struct seg *s, const char *ext);

/* Create the four empty files of a new segment (O_EXCL) in dir; fsync the
 * files when sync.  The new segment is active: index fds open. */
int seg_create(const char *dir, int64_t base_offset, int64_t stream_base,
               bool sync, struct seg **out);
/* Allocate a segment object for an existing .log (opened O_RDWR, its
 * size read, then handed to the LRU: seg_pin before using the fd). */
int seg_open_log(const char *dir, int64_t base_offset, struct seg **out);
/* Open the index fds for appending (active segment). */
int seg_open_index_fds(struct seg *s);
/* Close the index fds (after fsync if sync); rewrites the index files from
 * memory first if an append to them failed.  Frees the in-memory entries. */
int seg_seal(struct seg *s, bool sync);
/* Unlink all four files (errors logged, not returned). */
void seg_unlink_files(struct seg *s);
/* Write the builder's entries as the segment's three index files (temp +
 * rename; fsync when sync). */
int seg_write_index_files(struct seg *s, const struct idx_builder *ib, bool sync);

/* Look an index up: copies the entry found into *entry (entry-size bytes)
 * and returns 1, 0 when no entry is <= key, negative errno on error.  The
 * caller holds a reference and a pin.  For the active segment the caller passes the
 * part lock so the in-memory entries can be read under it. */
int seg_index_lookup(struct seg *s, pthread_mutex_t *part_lock, int kind,
                     int64_t key, bool sindex_by_offset, uint8_t *entry);

/* A sequential batch reader over a segment's .log. */
struct batch_reader {
	struct seg *seg;
	int64_t pos;                  /* file position of the next batch */
	int64_t limit;                /* read nothing at or past this */
	struct buf chunk;             /* bytes read ahead */
	int64_t chunk_pos;            /* file position of chunk.data[0] */
	void *tl;                     /* the thread's buffer, when chunk is it */
};
void br_init(struct batch_reader *br, struct seg *s, int64_t pos, int64_t limit);
void br_free(struct batch_reader *br);
/* Next batch: 1 with *batch / *len pointing into the reader's buffer (valid
 * until the next call) and its header parsed; 0 at limit; -EAGAIN when the
 * batch is torn (runs past limit); -EBADMSG when the header is invalid;
 * other -errno from I/O.  Does not check the CRC. */
int br_next(struct batch_reader *br, const uint8_t **batch, size_t *len,
            struct batch_header *h, size_t max_batch);
/* The frame of the batch at p, followed by avail bytes of the log (p holds
 * at least the first BATCH_LOG_OVERHEAD of them when there are that many):
 * 0 with *total its length, log overhead included; -EAGAIN when avail
 * ends inside it (a torn tail); -EBADMSG when its Length is impossible or
 * over max_batch.  The one check of a batch's extent, for br_next and the
 * mapped read path. */
int batch_frame(const uint8_t *p, int64_t avail, size_t max_batch,
                int64_t *total);

/* Rendered length of a decoded batch under framing (0 for control). */
int64_t render_len(const struct batch_decoded *b, int framing);
/* Render records [.. ) of b, skipping `skip` bytes, into dst up to cap;
 * returns bytes written. */
size_t render_copy(const struct batch_decoded *b, int framing, int64_t skip,
                   uint8_t *dst, size_t cap);
static inline int64_t rec_render_len(int32_t value_len, int framing)
{
	int64_t v = value_len < 0 ? 0 : value_len;
	return framing == FRAMING_LINES ? v + 1 : v;
}

/* The outcome of scanning a segment's batches. */
struct scan_result {
	int64_t valid_size;           /* file position after the last valid batch */
	int64_t next_offset;          /* last valid offset + 1 (or base) */
	int64_t stream_end;           /* stream position after it */
	int64_t max_ts;
	int64_t first_ts;             /* first batch's base timestamp, -1 */
	int stop;                     /* 0 end of file, else why it stopped
	                                 (-EAGAIN torn, -EBADMSG invalid...) */
};
/* Scan from file_pos (a batch start with stream position stream_pos and
 * expected base offset expect_offset, or -1 for "any") to limit, decoding
 * every batch (CRC, bounds, offsets contiguous), feeding ib when not NULL.
 * Returns 0 with *res filled (res->stop says why it stopped), or a negative
 * errno for I/O errors. */
int seg_scan(struct seg *s, int64_t file_pos, int64_t stream_pos,
             int64_t expect_offset, int64_t limit, int framing,
             size_t max_decomp, struct idx_builder *ib, struct scan_result *res);

/* Check an index file against its log (see segment.c).  0 if it is
 * consistent, -EBADMSG if it must be rebuilt. */
int seg_check_index_file(struct seg *s, int kind, int64_t log_size,
                         int64_t expect_stream_base, struct buf *out);

/* ------------------------------ partitions ------------------------------- */

/* An append request in the partition queue. */
struct pending {
	struct pending *next;
	const struct rec_in *recs;    /* records (RECS kind) */
	size_t n;
	uint8_t *batch;               /* a producer batch (BATCH kind), owned;
	                                 or a unit's bytes (UNIT kind) */
	size_t batch_len;
	const struct unit_batch *unit; /* UNIT kind: batches encoded by the
	                                 caller (part_append_lines), written
	                                 as they are */
	size_t unit_nb;
	int64_t unit_recs;
	int64_t batch_rendered;
	int64_t batch_max_ts;
	int32_t batch_records;
	size_t bytes;                 /* estimated uncompressed bytes */
	int64_t enq_ms;               /* monotonic enqueue time */
	bool owned;                   /* heap copy: the writer frees it */
	bool done;                    /* guarded by qlock */
	int rc;                       /* guarded by qlock */
	int64_t first_offset;         /* guarded by qlock */
};

/* The last partially read batch of a partition, decoded (see part_read.c). */
struct read_cache {
	int64_t seg_base;             /* -1 = empty */
	int64_t file_pos;             /* batch start */
	int64_t next_pos;             /* file position after the batch */
	int64_t stream_pos;           /* rendered position of the batch */
	int64_t rlen;                 /* its rendered length */
	struct buf bytes;             /* the buffer holding the batch bytes */
	struct batch_decoded dec;     /* records (point into bytes or dec.buf) */
	size_t rec_idx;               /* resume hint: a record index and */
	int64_t rec_pos;              /* its rendered offset in the batch */
	bool raw;                     /* an uncompressed batch read in place
	                                 (part_read.c, read_mapped): no bytes
	                                 or records kept, rlen unknown (-1);
	                                 the hint also has the record's byte
	                                 position in the records section */
	size_t raw_pos;
};

struct part {
	struct topic *topic;          /* immutable */
	int32_t index;                /* immutable */
	char *dir;                    /* immutable */

	pthread_mutex_t lock;
	pthread_cond_t cond;          /* broadcast on publish and deletion */
	struct seg **segs;            /* lock: sorted by base; last = active */
	size_t nsegs, segs_cap;       /* lock */
	int64_t log_start_offset;     /* lock, written by the token holder
	                                 (P): may be inside the first segment
	                                 after part_delete_records */
	int64_t next_offset;          /* lock */
	int64_t stream_start;         /* lock (P): stream position of the
	                                 record at log_start_offset */
	int64_t stream_end;           /* lock */
	int64_t bytes_on_disk;        /* lock */
	int64_t last_append_ms;       /* lock */
	int64_t recovery_point;       /* lock */
	int64_t sealed_to;            /* lock: the active segment's base when it
	                                 was made (roll, load): the records below
	                                 are in sealed segments, which the
	                                 maintenance thread syncs in the
	                                 background to move the recovery point
	                                 there (part_sync_sealed) */
	int64_t unflushed_records;    /* lock */
	int64_t first_unflushed_ms;   /* lock: monotonic, 0 = nothing unflushed */
	bool deleted;                 /* lock */

	pthread_mutex_t qlock;
	pthread_cond_t qcond;         /* writer token released / request done */
	struct pending *qhead, *qtail;/* qlock */
	size_t qbytes;                /* qlock */
	bool writing;                 /* qlock: the writer token is taken */
#ifdef TOPICFS_INVARIANTS
	uintptr_t writer_tid;         /* the token holder's pthread_self(), 0
	                                 (written under qlock, read atomically) */
#endif
	bool qdead;                   /* qlock: deleted, refuse new requests */

	bool dir_dirty;               /* W: files created since the dir fsync */
	bool flush_failed;            /* W: an fsync failed: the recovery point
	                                 stays frozen for this process's life */

	pthread_mutex_t cache_mu;
	struct read_cache cache;      /* cache_mu */

	struct prod_table *prod;      /* W: idempotent producers (producer.c);
	                                 NULL until loaded or first used */
};

struct topic {
	struct store *st;             /* immutable */
	char *name;                   /* immutable */
	int refs;                     /* atomic */
	int deleted;                  /* atomic */
	int framing;                  /* immutable (cfg.framing) */
	int codec;                    /* immutable (cfg.codec) */
	pthread_mutex_t cfg_mu;
	struct topic_config cfg;      /* cfg_mu */
	int32_t nparts;               /* atomic: only grows (see PARTITION
	                                 GROWTH below) */
	struct part_vec *pv;          /* atomic pointer: >= nparts entries */
	uint8_t id[16];               /* immutable once loaded or created: the
	                                 topic id (.topic's topic_id=) */
	struct topic_owner owner;     /* cfg_mu: the mount's owner and mode
	                                 (.topic's owner_uid=, owner_gid=,
	                                 mode=) */
	int mirror_target;            /* atomic (relaxed): a flag, read by
	                                 the write paths of fs/ and net/ */
};

/*
 * PARTITION GROWTH (topic_add_partitions, store.c).  fs/ and net/ call
 * topic_partitions() and topic_part() with no lock, so the partitions are
 * reached through an array of pointers that is never changed in place:
 * growth (under store.mu, which serialises it with creation, deletion and
 * other growth) allocates and initialises the new struct parts, creates
 * their files durably, rewrites the .topic file, then publishes a new
 * part_vec holding the old pointers plus the new ones (release store of
 * t->pv) and only then the new count (release store of t->nparts).  A
 * reader loads nparts (acquire) first and pv (acquire) second, so any
 * index below the count it saw is in the vector it gets.  Old vectors are
 * kept on the prev chain until topic_free (a reader may still hold one):
 * a few pointers per growth, bounded by the partition limit.  A struct part
 * never moves, so &part pointers held by readers, handles and fetch slices
 * stay valid for the topic's life.  Use topic_nparts() / topic_part_at()
 * (or the public topic_partitions() / topic_part()), never t->pv directly.
 */
struct part_vec {
	struct part_vec *prev;        /* the vector this one replaced */
	int32_t n;                    /* entries in p */
	struct part *p[];
};

static inline int32_t topic_nparts(const struct topic *t)
{
	return __atomic_load_n(&t->nparts, __ATOMIC_ACQUIRE);
}

/* i < a count topic_nparts() returned. */
static inline struct part *topic_part_at(const struct topic *t, int32_t i)
{
	struct part_vec *v = __atomic_load_n(&t->pv, __ATOMIC_ACQUIRE);
	return v->p[i];
}

struct store {
	char *dir;                    /* immutable */
	size_t max_decomp;            /* immutable */
	int64_t ts_after_max_ms;      /* immutable: timestamp_after_max_ms, -1 off */
	pthread_mutex_t mu;
	struct topic **topics;        /* mu: sorted by name, one ref each */
	size_t ntopics, topics_cap;   /* mu */
	const char *deleting[64];     /* mu: names whose files are being removed */
	size_t ndeleting;             /* mu */
	pthread_cond_t del_cond;      /* with mu: a deletion finished */
	pthread_rwlock_t hook_lock;   /* write: set; read: held during a call */
	struct {
		store_append_hook fn;
		void *arg;
	} hooks[STORE_MAX_HOOKS];     /* hook_lock; fn NULL = free slot */
	int64_t last_ckpt_ms;         /* maintenance thread only */

	pthread_t maint;
	bool maint_started;
	pthread_mutex_t maint_mu;
	pthread_cond_t maint_cond;
	bool stopping;                /* maint_mu */
	int ckpt_dirty;               /* atomic: a recovery point advanced */
	pthread_mutex_t lso_mu;       /* the log-start-offset-checkpoint file:
	                                 held while it is written and the start
	                                 it records is published (a plain
	                                 mutex, see store_lso_commit) */
	int lock_fd;                  /* immutable: flock on <dir>/.lock, -1 */
	int dfd;                      /* immutable: the data dir, opened once by
	                                 store_open (O_DIRECTORY|O_NOFOLLOW, on
	                                 its resolved path dir); -1 */
	size_t max_producers;         /* immutable: per partition (producer.c) */
	int64_t producer_expire_ms;   /* immutable: idle producers forgotten
	                                 after this, -1 never */
	pthread_mutex_t pid_mu;       /* producer id allocator (producer_id.c) */
	struct pid_alloc *pid;        /* pid_mu: NULL until first used */
	struct groups *groups;        /* immutable after store_open: consumer
	                                 groups (groups.c, its own mutex) */
};

/* Settings snapshot. */
void topic_cfg(struct topic *t, struct topic_config *out);

/* Partition helpers shared by the part_*.c files. */
static inline size_t part_max_decomp(const struct part *p)
{
	return p->topic->st->max_decomp;
}

/* The largest batch a reader accepts: decompressed limit + 1 MiB. */
static inline size_t part_max_batch(const struct part *p)
{
	size_t m = part_max_decomp(p) + (1 << 20);
	return m > INT32_MAX ? INT32_MAX : m;
}

static inline int part_framing(struct part *p)
{
	return p->topic->framing;
}

/* The active (last) segment: part.lock or the writer token held. */
static inline struct seg *part_active(struct part *p)
{
	INV_P_READ(p);
	return p->segs[p->nsegs - 1];
}

static inline bool part_is_deleted(struct part *p)
{
	return __atomic_load_n(&p->topic->deleted, __ATOMIC_RELAXED) != 0;
}

/* part_open.c */
int part_init(struct part *p, struct topic *t, int32_t index, const char *dir);
/* Create the directory and first segment of a new partition. */
int part_create_files(struct part *p);
/* Load and recover an existing partition.  rp: recovery point from the
 * checkpoint (INT64_MAX after a clean shutdown, 0 when unknown). */
int part_load(struct part *p, int64_t rp);
void part_destroy(struct part *p);
/* Mark deleted, fail queued requests, wake waiters, remove the files. */
void part_delete_files(struct part *p);
/* Append a segment to the list (writer token and part.lock, or loading). */
int segs_push(struct part *p, struct seg *s);
/* "<dir>/<name>" (malloc'd), NULL when out of memory. */
char *part_file(const struct part *p, const char *name);
/* Write <dir>/stream-start ("base pos\n", atomically): the log start. */
int stream_start_write(struct part *p, int64_t base, int64_t pos);

/* part_recover.c */
/* Open the .log files of bases[0..nb) (sorted), recover them (see
 * RECOVERY in part_recover.c) and open the active segment's index fds.
 * ss_base/ss_pos: the stream-start file (-1 when none).  *durable gets
 * the offset below which the log is known to be on disk: the base of the
 * first segment recovery scanned (what it scanned and wrote is left to
 * the partition's flush), or INT64_MAX when it scanned none.  Loading
 * only. */
int part_recover_segments(struct part *p, int64_t rp, const int64_t *bases,
                          size_t nb, int64_t ss_base, int64_t ss_pos,
                          int32_t interval, int64_t *durable);

/* part_write.c */
/* Take the writer token.  Returns false when the partition is being
 * deleted (the token is taken all the same: release it). */
bool writer_acquire(struct part *p);
/* Give the writer token back and wake the threads waiting for it. */
void writer_release(struct part *p);
/* Complete the requests [from, to) with rc (first offsets from firsts,
 * -1 when NULL) and wake their callers; takes part.qlock. */
void complete_list(struct part *p, struct pending *from, struct pending *to,
                   int rc, const int64_t *firsts);
/* Maintenance: linger, flush_ms, segment_ms, retention.  Returns 1 when
 * the recovery point advanced. */
int part_maintain(struct part *p, int64_t now_mono, bool slow);
/* Write everything queued, flush everything (close path). */
int part_close_flush(struct part *p);
int64_t part_recovery_point(struct part *p);

/* producer.c: idempotent producers (the rules: storage.h, "idempotent
 * producers"; the snapshot file: docs/FORMAT.md section 10).  Every
 * function needs the writer token (or the loading thread). */
/* True for a batch whose producer state is tracked: ProducerId >= 0, not
 * transactional, not control. */
bool prod_batch_tracked(const struct batch_header *h);
/* Check a tracked batch before it is written: 0 write it, 1 a duplicate
 * (*dup gets the original), STORE_ERR_* or -ENOMEM (then nothing may be
 * written: the state could not record it). */
int prod_check(struct part *p, const struct batch_header *h,
               struct producer_batch *dup);
/* Record a tracked batch just written at base_offset (after prod_check
 * returned 0 for it: cannot fail). */
void prod_update(struct part *p, const struct batch_header *h,
                 int64_t base_offset);
/* part_load, after the segments are recovered and published: load the
 * newest usable snapshot and replay the batches after it (or scan the
 * whole log).  A missing or bad snapshot never fails the load; -ENOMEM and
 * I/O errors reading the log do. */
int prod_load(struct part *p);
/* Write the snapshot at next_offset (at roll and close); fsynced when
 * sync.  Failures are logged only (the next start scans more). */
void prod_snapshot(struct part *p, bool sync);
/* part_destroy. */
void prod_free(struct part *p);

/* groups.c: the store's consumer groups.  groups_open replays
 * <data_dir>/.consumer-offsets (after the topics are loaded: offsets of
 * topics that are gone are dropped) and may compact it; groups_close
 * fsyncs the log and frees everything (NULL is fine). */
int groups_open(struct store *st, const struct store_options *opts,
                struct groups **out);
void groups_close(struct groups *g);
/* Tests: the log size below which nothing is compacted (1 MiB; UINT64_MAX
 * turns automatic compaction off), and a compaction now (0 or -errno). */
void groups_test_compact_floor(struct groups *g, uint64_t bytes);
int groups_test_compact(struct groups *g);

/* store.c */
void store_call_hook(struct store *st, struct topic *t, int partition);
/* DeleteRecords' commit: write the log-start-offset-checkpoint with p's
 * start at off (stream position pos), then publish it in p.  The writer
 * token of p held.  Under store.lso_mu (taken with no engine mutex held:
 * it is not ranked; under it the snapshot takes store.mu, then each
 * part.lock, so its order is writer token -> lso_mu -> store.mu ->
 * part.lock, like the append hook's token -> store.mu). */
int store_lso_commit(struct part *p, int64_t off, int64_t pos);

/* part_read.c */
/* The stream position of the first record with offset >= offset, exact:
 * inside the first segment too (part_stream_pos_for_offset answers
 * stream_start below the log start). */
int part_stream_pos_exact(struct part *p, int64_t offset, int64_t *pos);

/* part_write.c */
/* Retention now, with p's writer token held (or loading): also deletes
 * every segment wholly below the log start (DeleteRecords), whatever the
 * retention settings. */
void part_retention_now(struct part *p);

/* part_admin.c */
/* At load (after part_load, the loading thread): move the log start up
 * to off from the log-start-offset-checkpoint (clamped to next_offset). */
int part_log_start_apply(struct part *p, int64_t off);

/* The name of a partition's directory in the data dir ("<topic>-<i>"). */
static inline const char *part_dname(const struct part *p)
{
	return p->dir + strlen(p->topic->st->dir) + 1;
}

/* What an entry of the data dir is, never following a link:
 * DIR_NONE (no such entry), DIR_EMPTY (a directory holding only empty
 * segment files: 20 digits + .log/.index/.timeindex/.sindex, size 0),
 * DIR_DATA (a directory holding anything else), DIR_LINK (a symbolic
 * link), DIR_OTHER (not a directory); a negative errno when it cannot be
 * told.  *bytes (may be NULL) gets the bytes of its regular files. */
enum { DIR_NONE, DIR_EMPTY, DIR_DATA, DIR_LINK, DIR_OTHER };
int store_dir_inspect(struct store *st, const char *name, int64_t *bytes);
/* Move the data dir entry `name` into <data_dir>/.quarantine/ as
 * "<name>.<ms>" (the quarantine made if missing; both directories
 * fsynced), logged at error level.  0 or -errno. */
int store_quarantine(struct store *st, const char *name, const char *why);
/* Open a partition's directory: relative to the data dir fd,
 * O_DIRECTORY|O_NOFOLLOW (a link is refused, logged).  fd or -errno. */
int part_dir_open(struct part *p);

#endif
