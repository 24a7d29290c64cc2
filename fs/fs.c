/*
 * fs.c - the file view: FUSE low-level operations over one struct store.
 *
 * Layout
 * ------
 *   /                  inode 1, lists .status, .groups and every topic
 *   /.status           inode 2, read-only text made at open (status.c)
 *   /.groups/          inode 3, a file per consumer group (groups.c):
 *                      read: offsets, lag, members; write: offset resets;
 *                      rm: delete the group; O_CREAT: name a new group
 *   /<topic>/          a directory per topic (topics made over TCP too),
 *                      owned by its creator, with its stored mode
 *   /<topic>/<p>       partition p = 0..n-1, a regular file, the topic's
 *                      mode & 0666 (owner.c has the rules)
 *   /<topic>/<p>@<v>   a view (view.c): read-only stream, never listed;
 *                      <p>@group=NAME reads from a group's committed
 *                      offset and commits one read behind (groups.c);
 *                      <p>@<v>.json: the same records as JSON lines
 *                      (records.c)
 *   /<topic>/@keyed    write-only (topic mode & 0222), unlisted: KEY<sep>VALUE
 *   /<topic>/@json     lines, JSON lines; the key picks the partition
 *                      (records.c)
 *
 * Inodes
 * ------
 * Every name the kernel learns gets a struct fsv_node with a number from a
 * counter, found by number (ino hash) and by (parent, name) (name hash), so
 * the same name always gives the same inode while the daemon runs.  The
 * kernel's lookup count is kept in nlookup; forget lowers it.  Topic and
 * partition nodes stay when it reaches zero (stable numbers, bounded by the
 * store's size); view nodes and nodes of deleted topics are freed then.
 * Nodes hold no storage references: every operation copies what it needs
 * from its node under fs->lock (struct node_ref) and looks the topic up by
 * name, so a topic deleted while the kernel still knows its inodes only
 * makes those operations fail with ENOENT.
 *
 * Open files
 * ----------
 * A struct fsv_handle per open: partitions and views hold a topic reference
 * (store_topic_get) for as long as they are open, so reads and writes go
 * straight to the partition.  All of them are on fs->handles so that
 * fsv_shutdown() can close what the kernel never released before
 * store_close().  Partition and view opens set direct_io: no page cache, so
 * every read comes here and nobody ever sees stale or zero-filled data, and
 * every write(2) of up to FSV_WRITE_UNIT_MAX (1 MiB - 4 KiB) arrives as
 * one request; a larger one arrives in pieces the daemon cannot tell from
 * separate writes.
 *
 * No page cache for partitions and views.  A growing file in the kernel
 * page cache is not safe: a reader racing appends can be handed a tail page
 * that a short read zero-filled (measured: NULs within a few dozen writes,
 * for both framings, even with inode invalidation after every append), so
 * every data open is direct_io and every read comes here.
 *
 * Immutable views are the one exception.  A bounded view `p@a..b` whose
 * records are all written never grows: its bytes are fixed until retention
 * removes some of them (the view's start then moves).  Its st_size is the
 * exact rendered length, and its opens are not direct_io: a second `cat`
 * is served from the kernel's page cache without a request.  The cache
 * belongs to the inode, so it may only hold one range: each view node
 * remembers the range its cache holds and how many opens read through it
 * (view_cache_open).  An open with the same range keeps the cache; one
 * with a new range drops it (keep_cache 0) when no open reads the old
 * one, and otherwise goes around it (direct_io).
 *
 * Reads of a partition are absolute stream positions (part_stream_read).
 * Reads below the log start are shifted to the log start, so cat prints the
 * retained records: a handle whose read falls below stream_start (retention
 * deleted the front; cat reads from 0) records skew = stream_start - pos and
 * serves pos + skew from then on; when retention overtakes it again the
 * skew is recomputed the same way.  Positions never map to zeros, and a
 * shift never splices: a handle whose last read ended inside a record gets
 * ENODATA instead (overtaken()).  Views do the same with their origin.
 * A view read at the end of its stream is parked, not blocked (see "parked
 * reads"): waiting readers hold no FUSE thread.
 *
 * Writes ignore the offset: everything appends (O_TRUNC is accepted and
 * ignored, so `>` appends like `>>`).  `lines` framing: each complete line
 * is a record; all the complete lines of one write(2) go into one
 * part_append call, so they are contiguous in the log (for a write(2) that
 * arrives as one request); a partial line is held in the handle until its
 * newline, close (flush), fsync or release.  A line longer than the
 * topic's max_message_bytes (less FSV_RECORD_OVERHEAD) is refused with
 * EMSGSIZE by the write that makes it too long; the held partials of all
 * handles together stay under [fs] max_held_bytes (past it, the write's
 * partial is appended as a record at once).  `writes` framing: each write
 * request is one record, and a request over FSV_WRITE_UNIT_MAX (possibly a
 * piece of a larger write) is refused with EMSGSIZE.  A write returns its
 * byte count only after part_append returned 0; when it fails nothing of
 * it is appended and the held partial is unchanged.
 *
 * The refusal matrix (every errno a user can meet, content unchanged):
 *
 *   operation                               errno
 *   --------------------------------------  -----------------------------
 *   truncate/ftruncate to another size      EPERM  (same size: success)
 *   open with O_TRUNC                       accepted, nothing truncated
 *   chmod, chown of a topic dir by others   EPERM (owner.c has the rules)
 *   chmod, chown of any other inode         EPERM
 *   utimens / touch                         success, no change (no-op)
 *   rename, link, symlink, mknod            EPERM
 *   unlink (partition, .status, view)       EPERM
 *   create a new file (root or topic dir)   EPERM  (O_CREAT on an existing
 *                                                   partition just opens it)
 *   create in .groups, not a canonical name EINVAL
 *   mkdir in .groups, rmdir of .groups      EPERM (mkdir .groups: EEXIST)
 *   .groups reset or rm while the group has EBUSY
 *   members or readers
 *   .groups reset line that does not parse  EINVAL (nothing of the write)
 *   .groups reset of an unknown topic/part. ENOENT (nothing of the write)
 *   @group= view another reader or Kafka    EBUSY (at open)
 *   members hold
 *   setxattr on a partition, removexattr    EPERM
 *   setxattr of a fixed topic setting       EPERM (framing, compression)
 *   setxattr of a bad value / a shrink      EINVAL (logged with the reason)
 *   getxattr of an unknown name             ENODATA
 *   fallocate, posix_fallocate              EPERM (see fsv_ll_fallocate)
 *   mkdir inside a topic                    EPERM
 *   mkdir with a bad topic name             EINVAL (nothing created)
 *   mkdir of an existing topic              EEXIST
 *   rmdir of a topic                        EPERM unless [fs] allow_delete
 *   open a view or .status for writing      EACCES
 *   open @keyed or @json for reading        EACCES (read on O_RDWR: EBADF)
 *   a @json line that does not parse, names EINVAL (nothing of the write)
 *   another topic or a partition >= count
 *   setxattr of partitioner on a topic      EPERM (fixed: murmur2_random)
 *   write to a read-only handle             EBADF
 *   partition name not a number / >= n      ENOENT
 *   view name that does not parse           ENOENT
 *   blocked view read interrupted           EINTR
 *   more than FSV_MAX_PARKED blocked reads  EAGAIN
 *   a line over the message size            EMSGSIZE (nothing appended)
 *   a `writes` write over 1 MiB - 4 KiB     EMSGSIZE (nothing appended)
 *   a read in the middle of a record that   ENODATA
 *   retention removed
 *   a topic deleted under an open file      ENOENT (reads, writes); a view
 *                                           blocked at its end sees EOF
 *
 * Locks: fs->lock guards the node tables, next_ino and the handle list.
 * h->lock guards a handle's mutable state (pending line, skew, view
 * cursor).  fs->park_lock guards the parked reads, fs->held_lock the held
 * byte count; both are leaves (nothing is called with them held but
 * pthread_cond_signal).  Never call storage while holding fs->lock.
 * Counters are relaxed atomics (statistics only).
 */
#define FUSE_USE_VERSION 312

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <fuse_lowlevel.h>

#include "clock.h"
#include "fs.h"
#include "fs_int.h"
#include "parse.h"

#define FSV_ROOT_INO   1
#define FSV_STATUS_INO 2
#define FSV_STATUS_NAME ".status"
#define FSV_GROUPS_INO 3
#define FSV_GROUPS_NAME ".groups"
#define FSV_RECORD_OVERHEAD 128         /* batch header + one record's, max */
/* The largest write(2) that reaches the daemon as one FUSE request: the
 * kernel splits a larger one at max_write (1 MiB), and an unaligned buffer
 * at 256 pages, so anything above 1 MiB - 4 KiB may be a piece. */
#define FSV_WRITE_UNIT_MAX (1024 * 1024 - 4096)
#define FSV_IO_SIZE    (1024 * 1024)    /* st_blksize of a partition */
#define FSV_PARK_BUCKETS 1024           /* parked reads, by partition */
#define FSV_MAX_PARKED 1000000          /* blocked view reads at once */
#define FSV_XATTR_PREFIX "user.topicfs."
#define FSV_KEYED_NAME "@keyed"
#define FSV_JSON_NAME  "@json"
#define FSV_PARTITIONER "murmur2_random"        /* records.c's, librdkafka's
                                                   name for it */

/* ============================== logging ================================== */

/* fs/'s lines go through the process-wide log (storage.h: tfs_log) at
 * the warn level: they report failures the file view recovered from. */
void fsv_log(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	tfs_vlog(TFS_LOG_WARN, fmt, ap);
	va_end(ap);
}

/* ============================== nodes ==================================== */

/* N_TOPICW: <topic>/@keyed or <topic>/@json, part = enum fsr_form */
enum node_kind { N_ROOT, N_STATUS, N_TOPIC, N_PART, N_VIEW, N_GROUPS, N_GROUP,
                 N_TOPICW };

struct fsv_node {
	uint64_t ino;
	uint64_t parent;
	enum node_kind kind;
	char *name;                     /* entry name in parent */
	char topic[256];                /* TOPIC, PART, VIEW */
	int32_t part;                   /* PART, VIEW */
	struct fsv_view_spec spec;      /* VIEW; GROUP: spec.group is its id */
	uint64_t nlookup;               /* guarded by fs->lock */
	/* VIEW: the range of stream positions the kernel's page cache holds
	 * for this inode, and the handles open on it that read through that
	 * cache (see "Immutable views" at the top); fs->lock */
	int64_t cache_start, cache_end;
	uint32_t cache_opens;
	bool dead;                      /* topic deleted; guarded by fs->lock */
	bool hashed_name;               /* in the name hash; fs->lock */
	struct fsv_node *next_ino;      /* ino hash chain; fs->lock */
	struct fsv_node *next_name;     /* name hash chain; fs->lock */
};

/* What an operation needs of a node, copied under fs->lock. */
struct node_ref {
	uint64_t ino;
	enum node_kind kind;
	char topic[256];
	int32_t part;
	struct fsv_view_spec spec;
};

struct fsv_handle;
struct parked_read;

#define FSV_RA_WORKERS 2        /* read-ahead threads (see "Read-ahead") */
#define FSV_RA_WINDOWS 2        /* windows ahead per handle */
#define FSV_RA_POOL 4           /* idle window buffers kept */

/* One window of a partition handle read ahead; fs->ra_lock. */
struct ra_win {
	int state;                      /* enum ra_state */
	bool stale;                     /* RA_BUSY: nobody wants it any more */
	int64_t pos;                    /* its stream position */
	size_t size;
	char *buf;                      /* FSV_IO_SIZE bytes, while not idle */
	size_t n;                       /* RA_READY: bytes rendered, */
	int rc;                         /* and the outcome */
	struct fsv_handle *h;           /* set at queueing */
	struct ra_win *next;            /* on fs->ra_head */
};

struct fsv {
	struct store *st;               /* set once before the mount */
	struct fsv_options opts;        /* read-only after fsv_new */
	struct fuse_session *se;        /* set once before the loop starts */
	pthread_mutex_t lock;
	struct fsv_node **ino_tab;      /* fs->lock */
	struct fsv_node **name_tab;     /* fs->lock */
	size_t nbuckets;                /* fs->lock */
	size_t nnodes;                  /* fs->lock */
	uint64_t next_ino;              /* fs->lock */
	struct fsv_handle *handles;     /* open handles; fs->lock */
	int64_t start_ms;
	_Atomic int64_t root_mtime_ms;  /* atomic (relaxed): topic made/deleted */
	atomic_bool stopping;
	struct fsv_counters ctr;
	struct fsg *groups;             /* the open @group= readers (groups.c) */
	/* parked view reads (see "parked reads"): park_lock */
	pthread_mutex_t park_lock;
	pthread_cond_t park_cond;       /* the waker waits on it */
	struct parked_read *park_tab[FSV_PARK_BUCKETS]; /* by partition */
	struct parked_read *ready_head, *ready_tail;    /* for the waker */
	size_t nparked;                 /* on park_tab and the ready queue */
	atomic_size_t nparked_hint;     /* nparked, for the hook's fast path
	                                   (relaxed: a stale 0 is caught by the
	                                   once-a-second retry) */
	bool park_stopping;
	pthread_t park_thread;          /* set once by fsv_set_store */
	bool park_started;
	bool hook_added;
	/* held partial lines of every handle: held_lock */
	pthread_mutex_t held_lock;
	size_t held_bytes;
	/* read-ahead (see "Read-ahead"): ra_lock */
	pthread_mutex_t ra_lock;
	pthread_cond_t ra_cond;         /* the workers wait for a window */
	pthread_cond_t ra_done;         /* a window changed state */
	struct ra_win *ra_head, *ra_tail;       /* windows to render */
	size_t ra_bufs;                 /* window buffers allocated */
	char *ra_pool[FSV_RA_POOL];     /* idle ones kept for reuse */
	int ra_npool;
	bool ra_stopping;
	int ra_nthreads;                /* workers running */
	pthread_t ra_threads[FSV_RA_WORKERS];
};

static uint64_t hash_str(uint64_t h, const char *s)
{
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

static size_t name_bucket(const struct fsv *fs, uint64_t parent, const char *name)
{
	uint64_t h = 14695981039346656037ULL ^ parent;
	h *= 1099511628211ULL;
	return hash_str(h, name) & (fs->nbuckets - 1);
}

static size_t ino_bucket(const struct fsv *fs, uint64_t ino)
{
	return (ino * 0x9E3779B97F4A7C15ULL >> 17) & (fs->nbuckets - 1);
}

static struct fsv_node *node_by_ino(struct fsv *fs, uint64_t ino)
{
	struct fsv_node *n = fs->ino_tab[ino_bucket(fs, ino)];
	while (n && n->ino != ino)
		n = n->next_ino;
	return n;
}

static struct fsv_node *node_by_name(struct fsv *fs, uint64_t parent, const char *name)
{
	struct fsv_node *n = fs->name_tab[name_bucket(fs, parent, name)];
	while (n && !(n->parent == parent && !strcmp(n->name, name)))
		n = n->next_name;
	return n;
}

static void node_link(struct fsv *fs, struct fsv_node *n)
{
	size_t b = ino_bucket(fs, n->ino);
	n->next_ino = fs->ino_tab[b];
	fs->ino_tab[b] = n;
	b = name_bucket(fs, n->parent, n->name);
	n->next_name = fs->name_tab[b];
	fs->name_tab[b] = n;
	n->hashed_name = true;
}

static void node_unlink_name(struct fsv *fs, struct fsv_node *n)
{
	struct fsv_node **pp = &fs->name_tab[name_bucket(fs, n->parent, n->name)];
	if (!n->hashed_name)
		return;
	while (*pp && *pp != n)
		pp = &(*pp)->next_name;
	if (*pp)
		*pp = n->next_name;
	n->hashed_name = false;
}

static void node_free(struct fsv *fs, struct fsv_node *n)
{
	struct fsv_node **pp = &fs->ino_tab[ino_bucket(fs, n->ino)];
	while (*pp && *pp != n)
		pp = &(*pp)->next_ino;
	if (*pp)
		*pp = n->next_ino;
	node_unlink_name(fs, n);
	fs->nnodes--;
	free(n->name);
	free(n);
}

/* Double the tables when they get crowded.  Called with fs->lock held. */
static void node_grow(struct fsv *fs)
{
	size_t old = fs->nbuckets, nb = old * 2;
	struct fsv_node **it = calloc(nb, sizeof *it), **nt = calloc(nb, sizeof *nt);
	if (!it || !nt) {               /* keep the old tables: only slower */
		free(it);
		free(nt);
		return;
	}
	struct fsv_node **oi = fs->ino_tab;
	free(fs->name_tab);
	fs->ino_tab = it;
	fs->name_tab = nt;
	fs->nbuckets = nb;
	for (size_t b = 0; b < old; b++) {
		struct fsv_node *n = oi[b], *next;
		for (; n; n = next) {
			next = n->next_ino;
			bool named = n->hashed_name;
			size_t bi = ino_bucket(fs, n->ino);
			n->next_ino = fs->ino_tab[bi];
			fs->ino_tab[bi] = n;
			n->next_name = NULL;
			if (named) {
				size_t bn = name_bucket(fs, n->parent, n->name);
				n->next_name = fs->name_tab[bn];
				fs->name_tab[bn] = n;
			}
		}
	}
	free(oi);
}

/* Find or make the node for (parent, name); add `lookups` to its count.
 * The template gives kind, topic, part and spec for a new node. */
static int node_get(struct fsv *fs, uint64_t parent, const char *name,
                    const struct node_ref *tmpl, uint64_t lookups,
                    uint64_t *ino)
{
	struct fsv_node *n;
	int rc = 0;

	pthread_mutex_lock(&fs->lock);
	n = node_by_name(fs, parent, name);
	if (!n) {
		n = calloc(1, sizeof *n);
		if (!n || !(n->name = strdup(name))) {
			free(n);
			rc = -ENOMEM;
			goto unlock;
		}
		n->ino = fs->next_ino++;
		n->parent = parent;
		n->kind = tmpl->kind;
		snprintf(n->topic, sizeof n->topic, "%s", tmpl->topic);
		n->part = tmpl->part;
		n->spec = tmpl->spec;
		node_link(fs, n);
		if (++fs->nnodes > fs->nbuckets)
			node_grow(fs);
	}
	n->nlookup += lookups;
	*ino = n->ino;
unlock:
	pthread_mutex_unlock(&fs->lock);
	return rc;
}

/* Copy what an operation needs of inode ino.  -ENOENT if unknown. */
static int node_ref(struct fsv *fs, uint64_t ino, struct node_ref *out)
{
	struct fsv_node *n;
	int rc = 0;

	memset(out, 0, sizeof *out);
	out->ino = ino;
	if (ino == FSV_ROOT_INO) {
		out->kind = N_ROOT;
		return 0;
	}
	if (ino == FSV_STATUS_INO) {
		out->kind = N_STATUS;
		return 0;
	}
	if (ino == FSV_GROUPS_INO) {
		out->kind = N_GROUPS;
		return 0;
	}
	pthread_mutex_lock(&fs->lock);
	n = node_by_ino(fs, ino);
	if (!n) {
		rc = -ENOENT;
	} else {
		out->kind = n->kind;
		memcpy(out->topic, n->topic, sizeof out->topic);
		out->part = n->part;
		out->spec = n->spec;
	}
	pthread_mutex_unlock(&fs->lock);
	return rc;
}

static void node_forget(struct fsv *fs, uint64_t ino, uint64_t nlookup)
{
	struct fsv_node *n;

	if (ino == FSV_ROOT_INO || ino == FSV_STATUS_INO || ino == FSV_GROUPS_INO)
		return;
	pthread_mutex_lock(&fs->lock);
	n = node_by_ino(fs, ino);
	if (n) {
		n->nlookup = n->nlookup > nlookup ? n->nlookup - nlookup : 0;
		if (n->nlookup == 0 && (n->kind == N_VIEW || n->kind == N_GROUP ||
		                        n->kind == N_TOPICW || n->dead))
			node_free(fs, n);
	}
	pthread_mutex_unlock(&fs->lock);
}

/* A topic was deleted: its nodes leave the name table (a new topic of the
 * same name gets new inodes) and are freed once the kernel forgets them. */
static void node_topic_deleted(struct fsv *fs, const char *topic)
{
	pthread_mutex_lock(&fs->lock);
	for (size_t b = 0; b < fs->nbuckets; b++) {
		struct fsv_node *n = fs->ino_tab[b], *next;
		for (; n; n = next) {
			next = n->next_ino;
			if (n->kind == N_ROOT || n->kind == N_STATUS || n->kind == N_GROUPS ||
			    n->kind == N_GROUP || strcmp(n->topic, topic))
				continue;
			n->dead = true;
			node_unlink_name(fs, n);
			if (n->nlookup == 0)
				node_free(fs, n);
		}
	}
	pthread_mutex_unlock(&fs->lock);
}

/* ============================== handles ================================== */

enum fh_kind { FH_PART, FH_VIEW, FH_STATUS, FH_ROOTDIR, FH_GROUP, FH_TOPICW };

struct fsv_handle {
	enum fh_kind kind;
	struct fsv *fs;
	struct topic *topic;            /* reference held while open; NULL for
	                                   status/dir and after shutdown */
	struct part *part;
	int32_t pidx;
	int framing;                    /* enum framing, from the topic */
	int32_t linger_ms;
	bool writable;
	pthread_mutex_t lock;
	/* partitions: guarded by lock */
	char *pending;                  /* held partial line (grown on demand) */
	size_t pending_len;             /* counted in fs->held_bytes */
	size_t pending_cap;
	size_t line_max;                /* longest line: the topic's
	                                   max_message_bytes less overhead */
	int64_t skew;                   /* stream pos = file pos + skew */
	/* partitions and views: guarded by lock */
	int64_t read_end;               /* stream position after the last byte
	                                   returned; -1 before the first read */
	bool end_at_record;             /* that byte ended a record (lines:
	                                   it was a newline) */
	/* views: guarded by lock */
	struct fsv_view_spec spec;
	bool start_known;               /* cursor resolved */
	int64_t origin;                 /* stream position of file position 0 */
	int64_t cursor;                 /* next stream position to serve */
	bool end_known;                 /* bounded: end_pos resolved */
	int64_t end_pos;
	uint64_t cached_ino;            /* an immutable view read through the
	                                   page cache: its inode, else 0 */
	/* partitions: the windows read ahead; fs->ra_lock */
	struct ra_win ra[FSV_RA_WINDOWS];
	struct fsr_view *jv;            /* .json views: the JSON stream state
	                                   (records.c); lock */
	struct fsr_writer *tw;          /* @keyed, @json: the writer (records.c);
	                                   lock */
	struct fsg_reader *grp;         /* @group= views: the group reader
	                                   (thread-safe itself); closed at
	                                   handle_free or shutdown */
	char *group_id;                 /* .groups files: the group; immutable */
	struct fso_caller who;          /* .groups files with allow_other: who
	                                   opened it (for the render at open) */
	bool who_check;
	/* status file, group file text and dir listings: immutable after open */
	char *buf;
	size_t buf_len;
	char **names;
	size_t nnames;
	/* the open list: fs->lock */
	struct fsv_handle *prev, *next;
};

static bool held_reserve(struct fsv *fs, ssize_t delta);

bool fsv_held_reserve(struct fsv *fs, ssize_t delta)
{
	return held_reserve(fs, delta);
}

static struct fsv_handle *handle_new(struct fsv *fs, enum fh_kind kind)
{
	struct fsv_handle *h = calloc(1, sizeof *h);
	if (!h)
		return NULL;
	h->kind = kind;
	h->fs = fs;
	h->read_end = -1;
	pthread_mutex_init(&h->lock, NULL);
	pthread_mutex_lock(&fs->lock);
	h->next = fs->handles;
	if (fs->handles)
		fs->handles->prev = h;
	fs->handles = h;
	pthread_mutex_unlock(&fs->lock);
	atomic_fetch_add_explicit(&fs->ctr.open_handles, 1, memory_order_relaxed);
	return h;
}

static void ra_release(struct fsv *fs, struct fsv_handle *h);

static void handle_free(struct fsv_handle *h)
{
	struct fsv *fs = h->fs;

	ra_release(fs, h);
	pthread_mutex_lock(&fs->lock);
	if (h->prev)
		h->prev->next = h->next;
	else
		fs->handles = h->next;
	if (h->next)
		h->next->prev = h->prev;
	if (h->cached_ino) {
		struct fsv_node *n = node_by_ino(fs, h->cached_ino);
		if (n && n->cache_opens > 0)
			n->cache_opens--;
	}
	pthread_mutex_unlock(&fs->lock);
	atomic_fetch_sub_explicit(&fs->ctr.open_handles, 1, memory_order_relaxed);
	/* before the topic reference: the reader's last commit reads it */
	fsg_reader_close(h->grp);
	fsr_view_free(h->jv);
	fsr_writer_free(h->tw);
	if (h->topic)
		topic_put(h->topic);
	free(h->group_id);
	for (size_t i = 0; i < h->nnames; i++)
		free(h->names[i]);
	free(h->names);
	free(h->buf);
	if (h->pending_len)     /* a partial whose flush failed: counted out */
		held_reserve(fs, -(ssize_t)h->pending_len);
	free(h->pending);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

static struct fsv_handle *fh_of(struct fuse_file_info *fi)
{
	return (struct fsv_handle *)(uintptr_t)fi->fh;
}

/* ============================== attributes =============================== */

static void set_time(struct timespec *ts, int64_t ms)
{
	ts->tv_sec = ms / 1000;
	ts->tv_nsec = (ms % 1000) * 1000000;
}

/* Parse a partition name: canonical decimal.  -ENOENT otherwise. */
static int parse_part_name(const char *name, int32_t *out)
{
	int64_t v;
	if ((name[0] == '0' && name[1]) || tfs_parse_u64(name, &v) || v > INT32_MAX)
		return -ENOENT;
	*out = (int32_t)v;
	return 0;
}

/* Fill st for ref; timeout gets the attribute validity in seconds. */
static int view_fixed_range(struct part *p, const struct fsv_view_spec *spec,
                            const struct part_info *info, int64_t *start,
                            int64_t *end);

static int fsv_stat(struct fsv *fs, const struct node_ref *ref, struct stat *st,
                    double *timeout)
{
	struct topic *t = NULL;
	struct topic_owner owner;
	struct part *p;
	struct part_info info;
	int64_t mtime = fs->start_ms;
	int rc = 0;

	memset(st, 0, sizeof *st);
	st->st_ino = ref->ino;
	st->st_uid = getuid();
	st->st_gid = getgid();
	st->st_blksize = 65536;
	*timeout = 1.0;
	switch (ref->kind) {
	case N_ROOT:
		st->st_mode = S_IFDIR | fso_root_mode(fs->opts.allow_other);
		st->st_nlink = 2;
		mtime = atomic_load_explicit(&fs->root_mtime_ms, memory_order_relaxed);
		break;
	case N_STATUS:
		st->st_mode = S_IFREG | 0444;
		st->st_nlink = 1;
		mtime = tfs_now_ms();
		*timeout = 0;
		break;
	case N_GROUPS:
		/* its content follows commits made anywhere: always now */
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
		mtime = tfs_now_ms();
		*timeout = 0;
		break;
	case N_GROUP:
		/* read it to the end, like .status; written to reset offsets */
		st->st_mode = S_IFREG | 0644;
		st->st_nlink = 1;
		mtime = tfs_now_ms();
		*timeout = 0;
		break;
	case N_TOPIC:
		rc = store_topic_get(fs->st, ref->topic, &t);
		if (rc)
			goto out;
		topic_get_owner(t, &owner);
		fso_fill_stat(&owner, FSO_TOPIC_DIR, st);
		st->st_nlink = 2;
		break;
	case N_TOPICW:
		/* write-only: a reader gets EACCES at open; the topic's
		 * write permission (owner.c) */
		rc = store_topic_get(fs->st, ref->topic, &t);
		if (rc)
			goto out;
		topic_get_owner(t, &owner);
		fso_fill_stat(&owner, FSO_WRITER, st);
		st->st_nlink = 1;
		*timeout = 0;
		break;
	case N_PART:
	case N_VIEW:
		rc = store_topic_get(fs->st, ref->topic, &t);
		if (rc)
			goto out;
		p = topic_part(t, ref->part);
		if (!p) {
			rc = -ENOENT;
			goto out;
		}
		part_info(p, &info);
		st->st_nlink = 1;
		if (info.last_append_ms > 0)
			mtime = info.last_append_ms;
		*timeout = 0;
		topic_get_owner(t, &owner);
		fso_fill_stat(&owner, ref->kind == N_PART ? FSO_PARTITION : FSO_VIEW, st);
		if (ref->kind == N_PART) {
			st->st_size = info.stream_end;
			st->st_blocks = (info.bytes_on_disk + 511) / 512;
			/* the preferred I/O size: cat, cp and dd use it for their
			 * buffers, so `cat file >> partition` and `cat partition`
			 * move 1 MiB per FUSE request (max_read, max_write) instead
			 * of 128 KiB: 8x fewer round trips.  A `writes` partition
			 * says 512 KiB: each write(2) is a record, and a 1 MiB one
			 * may reach us in pieces (FSV_WRITE_UNIT_MAX). */
			st->st_blksize = info.framing == FRAMING_WRITES ?
			                 FSV_IO_SIZE / 2 : FSV_IO_SIZE;
		} else {
			/* a view's size is known once its records are all
			 * written (its reads may then use the page cache,
			 * which stops at st_size); else 0 */
			int64_t a, b;
			st->st_size = 0;
			if (view_fixed_range(p, &ref->spec, &info, &a, &b) == 1)
				st->st_size = b - a;
			st->st_blksize = FSV_IO_SIZE;
		}
		break;
	}
	set_time(&st->st_mtim, mtime);
	st->st_atim = st->st_mtim;
	st->st_ctim = st->st_mtim;
out:
	if (t)
		topic_put(t);
	return rc;
}

/* ============================== lookup =================================== */

static int fsv_do_lookup(struct fsv *fs, uint64_t parent, const char *name,
                         struct fuse_entry_param *e)
{
	struct node_ref pref, ref;
	struct topic *t = NULL;
	double timeout;
	int rc;

	memset(e, 0, sizeof *e);
	rc = node_ref(fs, parent, &pref);
	if (rc)
		return rc;
	memset(&ref, 0, sizeof ref);
	switch (pref.kind) {
	case N_ROOT:
		if (!strcmp(name, FSV_STATUS_NAME)) {
			ref.kind = N_STATUS;
			ref.ino = FSV_STATUS_INO;
			break;
		}
		if (!strcmp(name, FSV_GROUPS_NAME)) {
			ref.kind = N_GROUPS;
			ref.ino = FSV_GROUPS_INO;
			break;
		}
		if (topic_name_check(name))
			return -ENOENT;
		rc = store_topic_get(fs->st, name, &t);
		if (rc)
			return rc == -EINVAL ? -ENOENT : rc;
		topic_put(t);
		ref.kind = N_TOPIC;
		snprintf(ref.topic, sizeof ref.topic, "%s", name);
		break;
	case N_TOPIC: {
		int32_t idx;
		snprintf(ref.topic, sizeof ref.topic, "%s", pref.topic);
		if (!strcmp(name, FSV_KEYED_NAME) || !strcmp(name, FSV_JSON_NAME)) {
			rc = store_topic_get(fs->st, pref.topic, &t);
			if (rc)
				return rc;
			topic_put(t);
			ref.kind = N_TOPICW;
			ref.part = !strcmp(name, FSV_JSON_NAME) ? FSR_JSON : FSR_KEYED;
			break;
		}
		if (strchr(name, '@')) {
			if (fsv_view_spec_parse(name, &ref.spec))
				return -ENOENT;
			ref.kind = N_VIEW;
			idx = ref.spec.partition;
		} else {
			if (parse_part_name(name, &idx))
				return -ENOENT;
			ref.kind = N_PART;
		}
		rc = store_topic_get(fs->st, pref.topic, &t);
		if (rc)
			return rc;
		rc = topic_part(t, idx) ? 0 : -ENOENT;
		topic_put(t);
		if (rc)
			return rc;
		ref.part = idx;
		break;
	}
	case N_GROUPS:
		rc = fsg_name_to_id(fs->st, name, ref.spec.group, sizeof ref.spec.group,
		                    true);
		if (rc)
			return rc;
		ref.kind = N_GROUP;
		break;
	default:
		return -ENOTDIR;
	}
	if (ref.kind != N_STATUS && ref.kind != N_GROUPS) {
		rc = node_get(fs, parent, name, &ref, 1, &ref.ino);
		if (rc)
			return rc;
	}
	rc = fsv_stat(fs, &ref, &e->attr, &timeout);
	if (rc) {
		if (ref.kind != N_STATUS && ref.kind != N_GROUPS)
			node_forget(fs, ref.ino, 1);
		return rc;
	}
	e->ino = ref.ino;
	e->generation = 1;
	e->attr_timeout = timeout;
	/* groups come and go with commits, Kafka's DeleteGroups and expiry:
	 * their names are not cached */
	e->entry_timeout = ref.kind == N_GROUP ? 0 : 1.0;
	return 0;
}

static void fsv_ll_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fsv *fs = fuse_req_userdata(req);
	struct fuse_entry_param e;
	int rc = fsv_do_lookup(fs, parent, name, &e);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_entry(req, &e);
}

static void fsv_ll_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	node_forget(fuse_req_userdata(req), ino, nlookup);
	fuse_reply_none(req);
}

static void fsv_ll_forget_multi(fuse_req_t req, size_t count,
                                struct fuse_forget_data *forgets)
{
	struct fsv *fs = fuse_req_userdata(req);
	for (size_t i = 0; i < count; i++)
		node_forget(fs, forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

static void fsv_ll_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fsv *fs = fuse_req_userdata(req);
	struct node_ref ref;
	struct stat st;
	double timeout;
	int rc = node_ref(fs, ino, &ref);
	if (!rc)
		rc = fsv_stat(fs, &ref, &st, &timeout);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_attr(req, &st, timeout);
}

/* setattr: sizes may only be "set" to what they are; times are accepted
 * and ignored (touch works); modes and owners change on a topic directory
 * only (owner.c), elsewhere they are refused. */
static int fsv_do_setattr(struct fsv *fs, fuse_ino_t ino, const struct stat *attr,
                          int to_set, const struct fso_caller *caller,
                          struct stat *st, double *timeout)
{
	struct node_ref ref;
	int rc = node_ref(fs, ino, &ref);
	if (rc)
		return rc;
	rc = fsv_stat(fs, &ref, st, timeout);
	if (rc)
		return rc;
	if ((to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) &&
	    ref.kind != N_TOPIC)
		return -EPERM;
	if (to_set & FUSE_SET_ATTR_SIZE) {
		/* a group file takes `>` (O_TRUNC): writing resets, never
		 * truncates */
		if ((ref.kind == N_GROUP || ref.kind == N_TOPICW) &&
		    attr->st_size == 0)
			return 0;
		if (ref.kind != N_PART || attr->st_size != st->st_size)
			return -EPERM;
	}
	if (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
		struct topic *t;
		rc = store_topic_get(fs->st, ref.topic, &t);
		if (rc)
			return rc;
		rc = fso_topic_setattr(t, attr, to_set, caller);
		topic_put(t);
		if (rc)
			return rc;
		rc = fsv_stat(fs, &ref, st, timeout);
	}
	return rc;
}

static void fsv_ll_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
                           int to_set, struct fuse_file_info *fi)
{
	struct fso_caller caller;
	struct stat st;
	double timeout;
	int rc;

	fso_caller_get(req, &caller);
	rc = fsv_do_setattr(fuse_req_userdata(req), ino, attr, to_set, &caller, &st,
	                    &timeout);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_attr(req, &st, timeout);
}

/* ============================== directories ============================== */

static int fsv_do_mkdir(struct fsv *fs, fuse_ino_t parent, const char *name,
                        const struct topic_owner *owner,
                        struct fuse_entry_param *e)
{
	struct topic_config tc;
	struct topic *t = NULL;
	int rc;

	if (parent != FSV_ROOT_INO)
		return -EPERM;
	if (!strcmp(name, FSV_STATUS_NAME) || !strcmp(name, FSV_GROUPS_NAME))
		return -EEXIST;
	if (topic_name_check(name))
		return -EINVAL;
	fs->opts.topic_settings(fs->opts.arg, name, &tc);
	rc = store_topic_create_owned(fs->st, name, &tc, owner, &t);
	if (rc) {
		if (rc != -EEXIST)
			fsv_log("mkdir %s: store_topic_create: %s", name, strerror(-rc));
		return rc;
	}
	topic_put(t);
	atomic_store_explicit(&fs->root_mtime_ms, tfs_now_ms(), memory_order_relaxed);
	return fsv_do_lookup(fs, parent, name, e);
}

static void fsv_ll_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
                         mode_t mode)
{
	struct fuse_entry_param e;
	struct topic_owner owner;
	struct fso_caller caller;
	int rc;

	fso_caller_get(req, &caller);
	fso_owner_for_mkdir(&caller, (uint32_t)mode, &owner);
	rc = fsv_do_mkdir(fuse_req_userdata(req), parent, name, &owner, &e);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_entry(req, &e);
}

static int fsv_do_rmdir(struct fsv *fs, fuse_ino_t parent, const char *name)
{
	int rc;

	if (parent != FSV_ROOT_INO)
		return -EPERM;
	if (!fs->opts.allow_delete || !strcmp(name, FSV_GROUPS_NAME))
		return -EPERM;
	if (topic_name_check(name))
		return -ENOENT;
	rc = store_topic_delete(fs->st, name);
	if (rc) {
		if (rc != -ENOENT)
			fsv_log("rmdir %s: store_topic_delete: %s", name, strerror(-rc));
		return rc;
	}
	node_topic_deleted(fs, name);
	atomic_store_explicit(&fs->root_mtime_ms, tfs_now_ms(), memory_order_relaxed);
	return 0;
}

static void fsv_ll_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, -fsv_do_rmdir(fuse_req_userdata(req), parent, name));
}

static int fsv_do_opendir(struct fsv *fs, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct node_ref ref;
	struct fsv_handle *h;
	int rc = node_ref(fs, ino, &ref);

	if (rc)
		return rc;
	if (ref.kind == N_TOPIC) {
		struct topic *t;
		rc = store_topic_get(fs->st, ref.topic, &t);
		if (rc)
			return rc;
		topic_put(t);
		fi->fh = 0;             /* partitions are generated by index */
		return 0;
	}
	if (ref.kind != N_ROOT && ref.kind != N_GROUPS)
		return -ENOTDIR;
	h = handle_new(fs, FH_ROOTDIR);
	if (!h)
		return -ENOMEM;
	if (ref.kind == N_GROUPS)
		rc = fsg_dir_names(fs->st, &h->names, &h->nnames);
	else
		rc = store_topic_list(fs->st, &h->names, &h->nnames);
	if (rc) {
		fsv_log("readdir %s: %s: %s", ref.kind == N_GROUPS ? "/.groups" : "/",
		        ref.kind == N_GROUPS ? "groups_list" : "store_topic_list",
		        strerror(-rc));
		handle_free(h);
		return rc;
	}
	fi->fh = (uintptr_t)h;
	return 0;
}

static void fsv_ll_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	int rc = fsv_do_opendir(fuse_req_userdata(req), ino, fi);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_open(req, fi);
}

/* Entry i of a directory: 0 ".", 1 "..", then the children.  Returns false
 * past the end. */
static bool dir_entry(struct fsv *fs, const struct node_ref *ref,
                      struct fsv_handle *h, int32_t nparts, uint64_t i,
                      char *name, size_t namelen, struct stat *st)
{
	struct node_ref child;
	uint64_t ino;

	memset(st, 0, sizeof *st);
	if (i == 0 || i == 1) {
		snprintf(name, namelen, i == 0 ? "." : "..");
		st->st_ino = i == 0 ? ref->ino : FSV_ROOT_INO;
		st->st_mode = S_IFDIR;
		return true;
	}
	memset(&child, 0, sizeof child);
	if (ref->kind == N_ROOT) {
		if (i == 2) {
			snprintf(name, namelen, FSV_STATUS_NAME);
			st->st_ino = FSV_STATUS_INO;
			st->st_mode = S_IFREG;
			return true;
		}
		if (i == 3) {
			snprintf(name, namelen, FSV_GROUPS_NAME);
			st->st_ino = FSV_GROUPS_INO;
			st->st_mode = S_IFDIR;
			return true;
		}
		if (i - 4 >= h->nnames)
			return false;
		snprintf(name, namelen, "%s", h->names[i - 4]);
		child.kind = N_TOPIC;
		snprintf(child.topic, sizeof child.topic, "%s", h->names[i - 4]);
		st->st_mode = S_IFDIR;
	} else if (ref->kind == N_GROUPS) {
		if (i - 2 >= h->nnames)
			return false;
		snprintf(name, namelen, "%s", h->names[i - 2]);
		st->st_mode = S_IFREG;
		/* no node is made for a listed group (groups come and go; a
		 * node with no lookups would never be freed): its number when
		 * the kernel knows it, else "unknown" as libfuse spells it */
		pthread_mutex_lock(&fs->lock);
		struct fsv_node *n = node_by_name(fs, ref->ino, name);
		st->st_ino = n ? n->ino : 0xffffffffu;
		pthread_mutex_unlock(&fs->lock);
		return true;
	} else {
		if (i - 2 >= (uint64_t)nparts)
			return false;
		snprintf(name, namelen, "%" PRIu64, i - 2);
		child.kind = N_PART;
		snprintf(child.topic, sizeof child.topic, "%s", ref->topic);
		child.part = (int32_t)(i - 2);
		st->st_mode = S_IFREG;
	}
	/* the number ls -i shows; no lookup count is taken */
	if (node_get(fs, ref->ino, name, &child, 0, &ino) == 0)
		st->st_ino = ino;
	return true;
}

static int fsv_do_readdir(struct fsv *fs, fuse_ino_t ino, size_t size, off_t off,
                          struct fuse_file_info *fi, char **out, size_t *outlen)
{
	struct fsv_handle *h = fh_of(fi);
	struct node_ref ref;
	int32_t nparts = 0;
	char *buf;
	size_t used = 0;
	int rc = node_ref(fs, ino, &ref);

	if (rc)
		return rc;
	if (ref.kind == N_TOPIC) {
		struct topic *t;
		rc = store_topic_get(fs->st, ref.topic, &t);
		if (rc)
			return rc;
		nparts = topic_partitions(t);
		topic_put(t);
	}
	buf = malloc(size);
	if (!buf)
		return -ENOMEM;
	for (uint64_t i = (uint64_t)off;; i++) {
		char name[300];
		struct stat st;
		if (!dir_entry(fs, &ref, h, nparts, i, name, sizeof name, &st))
			break;
		size_t need = fuse_add_direntry(NULL, NULL, 0, name, NULL, 0);
		if (used + need > size)
			break;
		fuse_add_direntry(NULL, buf + used, size - used, name, &st, (off_t)(i + 1));
		used += need;
	}
	*out = buf;
	*outlen = used;
	return 0;
}

static void fsv_ll_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                           struct fuse_file_info *fi)
{
	char *buf = NULL;
	size_t len = 0;
	int rc = fsv_do_readdir(fuse_req_userdata(req), ino, size, off, fi, &buf, &len);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_buf(req, buf, len);
	free(buf);
}

static void fsv_ll_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (fi->fh)
		handle_free(fh_of(fi));
	fuse_reply_err(req, 0);
}

static void fsv_ll_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
                            struct fuse_file_info *fi)
{
	fuse_reply_err(req, 0);         /* topic creation is already durable */
}

/* ============================== refusals ================================= */

/* rm .groups/NAME deletes an empty group; every other unlink is refused. */
static void fsv_ll_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fsv *fs = fuse_req_userdata(req);

	if (parent != FSV_GROUPS_INO) {
		fuse_reply_err(req, EPERM);
		return;
	}
	fuse_reply_err(req, -fsg_delete(fs->groups, fs->st, name));
}

static void fsv_ll_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
                         mode_t mode, dev_t rdev)
{
	fuse_reply_err(req, EPERM);
}

static void fsv_ll_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
                           const char *name)
{
	fuse_reply_err(req, EPERM);
}

static void fsv_ll_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
                          fuse_ino_t newparent, const char *newname,
                          unsigned int flags)
{
	fuse_reply_err(req, EPERM);
}

static void fsv_ll_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
                        const char *newname)
{
	fuse_reply_err(req, EPERM);
}

static int fsv_do_open(struct fsv *fs, fuse_ino_t ino, struct fuse_file_info *fi,
                       fuse_req_t req);

/* O_CREAT of a new name: only in .groups, where it names a group (the
 * group exists once a reset line written to the new file commits an
 * offset; see FILE-VIEW.md).  Everywhere else EPERM. */
static int fsv_do_create(struct fsv *fs, fuse_ino_t parent, const char *name,
                         struct fuse_file_info *fi, struct fuse_entry_param *e,
                         fuse_req_t req)
{
	struct node_ref ref;
	double timeout;
	int rc;

	if (parent != FSV_GROUPS_INO)
		return -EPERM;
	memset(&ref, 0, sizeof ref);
	memset(e, 0, sizeof *e);
	ref.kind = N_GROUP;
	rc = fsg_name_to_id(fs->st, name, ref.spec.group, sizeof ref.spec.group, false);
	if (rc)
		return rc;
	rc = node_get(fs, parent, name, &ref, 1, &ref.ino);
	if (rc)
		return rc;
	rc = fsv_stat(fs, &ref, &e->attr, &timeout);
	if (!rc)
		rc = fsv_do_open(fs, ref.ino, fi, req);
	if (rc) {
		node_forget(fs, ref.ino, 1);
		return rc;
	}
	e->ino = ref.ino;
	e->generation = 1;
	e->attr_timeout = timeout;
	e->entry_timeout = 0;
	return 0;
}

static void fsv_ll_create(fuse_req_t req, fuse_ino_t parent, const char *name,
                          mode_t mode, struct fuse_file_info *fi)
{
	struct fuse_entry_param e;
	int rc = fsv_do_create(fuse_req_userdata(req), parent, name, fi, &e, req);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_create(req, &e, fi);
}

/* EPERM, not EOPNOTSUPP: on EOPNOTSUPP glibc's posix_fallocate falls back
 * to writing a NUL byte per block past the end, which here would append
 * NUL records to the partition. */
static void fsv_ll_fallocate(fuse_req_t req, fuse_ino_t ino, int mode,
                             off_t offset, off_t length, struct fuse_file_info *fi)
{
	fuse_reply_err(req, EPERM);
}

static int topic_xattr_set(struct fsv *fs, const char *topic, const char *name,
                           const char *value, size_t size, int flags);

static void fsv_ll_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
                            const char *value, size_t size, int flags)
{
	struct fsv *fs = fuse_req_userdata(req);
	struct node_ref ref;
	int rc = node_ref(fs, ino, &ref);

	if (!rc)
		rc = ref.kind == N_TOPIC ?
		     topic_xattr_set(fs, ref.topic, name, value, size, flags) : -EPERM;
	fuse_reply_err(req, -rc);
}

static void fsv_ll_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	fuse_reply_err(req, EPERM);
}

/* ============================== open / release =========================== */

static int fsv_open_topic_part(struct fsv *fs, struct fsv_handle *h,
                               const struct node_ref *ref)
{
	struct topic_config tc;
	int rc = store_topic_get(fs->st, ref->topic, &h->topic);
	if (rc)
		return rc;
	h->part = topic_part(h->topic, ref->part);
	if (!h->part)
		return -ENOENT;
	h->pidx = ref->part;
	topic_get_config(h->topic, &tc);
	h->framing = tc.framing;
	h->linger_ms = tc.linger_ms;
	h->line_max = tc.max_message_bytes > FSV_RECORD_OVERHEAD ?
	              (size_t)(tc.max_message_bytes - FSV_RECORD_OVERHEAD) : 0;
	return 0;
}

/* The stream position a (non-JSON) view starts at now: 1 with *pos, 0
 * when its start is not written yet, or an error. */
static int spec_start_pos(struct part *p, const struct fsv_view_spec *spec,
                          const struct part_info *info, int64_t *pos)
{
	int64_t offset;
	int rc;

	switch (spec->from) {
	case FSV_FROM_GROUP:    /* made an offset or earliest at open */
	case FSV_FROM_EARLIEST:
		*pos = info->stream_start;
		return 1;
	case FSV_FROM_LATEST:
		*pos = info->stream_end;
		return 1;
	case FSV_FROM_LAST_N:
		offset = info->next_offset - spec->arg;
		if (offset < info->log_start_offset)
			offset = info->log_start_offset;
		break;
	case FSV_FROM_OFFSET:
		if (spec->arg > info->next_offset)
			return 0;       /* not written yet: wait for it */
		offset = spec->arg;
		break;
	case FSV_FROM_TIME:
		rc = part_offset_for_time(p, spec->arg, &offset);
		if (rc)
			return rc;
		if (offset >= info->next_offset && spec->arg > tfs_now_ms())
			return 0;       /* a future time: wait for such a record */
		break;
	default:
		return -EINVAL;
	}
	rc = part_stream_pos_for_offset(p, offset, pos);
	return rc ? rc : 1;
}

/* A bounded view whose records are all written reads the same until
 * retention removes some of them: its stream range [*start, *end).  1 with
 * the range; 0 for any other view (unbounded, JSON, group, `to` not
 * written yet); or an error. */
static int view_fixed_range(struct part *p, const struct fsv_view_spec *spec,
                            const struct part_info *info, int64_t *start,
                            int64_t *end)
{
	int rc;

	if (!spec->bounded || spec->json || spec->from == FSV_FROM_GROUP ||
	    info->next_offset < spec->to)
		return 0;
	rc = spec_start_pos(p, spec, info, start);
	if (rc <= 0)
		return rc;
	rc = part_stream_pos_for_offset(p, spec->to, end);
	if (rc)
		return rc;
	if (*end < *start)
		*end = *start;
	return 1;
}

/* Resolve a view's start from its spec (at open and, for a start in the
 * future, at each read).  Sets h->start_known when resolved. */
static int view_resolve_start(struct fsv_handle *h, const struct part_info *info)
{
	int64_t pos;
	int rc;

	if (h->jv) {            /* the record view: positions are JSON's */
		rc = fsr_view_resolve(h->jv, h->part, &h->spec, info);
		if (!rc && fsr_view_started(h->jv))
			h->start_known = true;
		return rc;
	}
	rc = spec_start_pos(h->part, &h->spec, info, &pos);
	if (rc <= 0)
		return rc;
	h->cursor = pos;
	h->start_known = true;
	h->origin = h->cursor;
	return 0;
}

/* May an open of the immutable view ino (range [start, end)) read through
 * the kernel's page cache, and may it keep what is cached?  Called with
 * the range just resolved.  The cache is the inode's, shared by every
 * open: it may only ever hold one range.  A new range (retention moved
 * the view's start) drops the cache at this open (keep_cache 0), unless
 * another open still reads the old range through it: then this open goes
 * around the cache (direct_io).  Returns true when the open may use the
 * cache and sets *keep. */
static bool view_cache_open(struct fsv *fs, uint64_t ino, int64_t start,
                            int64_t end, bool *keep)
{
	struct fsv_node *n;
	bool ok = false;

	pthread_mutex_lock(&fs->lock);
	n = node_by_ino(fs, ino);
	if (n && !n->dead) {
		if (n->cache_opens > 0 || n->cache_end > n->cache_start) {
			if (n->cache_start == start && n->cache_end == end) {
				*keep = true;
				ok = true;
			} else if (n->cache_opens == 0) {
				*keep = false;
				ok = true;
			}
		} else {
			*keep = false;
			ok = true;
		}
		if (ok) {
			n->cache_start = start;
			n->cache_end = end;
			n->cache_opens++;
		}
	}
	pthread_mutex_unlock(&fs->lock);
	return ok;
}

/* May this open use the page cache?  See the design note at the top. */
static int fsv_do_open(struct fsv *fs, fuse_ino_t ino, struct fuse_file_info *fi,
                       fuse_req_t req)
{
	struct node_ref ref;
	struct fsv_handle *h = NULL;
	int accmode = fi->flags & O_ACCMODE;
	int rc = node_ref(fs, ino, &ref);

	if (rc)
		return rc;
	switch (ref.kind) {
	case N_ROOT:
	case N_TOPIC:
	case N_GROUPS:
		return -EISDIR;
	case N_TOPICW:
		if (accmode == O_RDONLY)
			return -EACCES;
		h = handle_new(fs, FH_TOPICW);
		if (!h)
			return -ENOMEM;
		h->writable = true;
		rc = store_topic_get(fs->st, ref.topic, &h->topic);
		if (!rc)
			rc = fsr_writer_new(fs, (enum fsr_form)ref.part, &h->tw);
		if (rc)
			goto fail;
		fi->direct_io = 1;
		break;
	case N_GROUP:
		h = handle_new(fs, FH_GROUP);
		if (!h)
			return -ENOMEM;
		h->writable = accmode != O_RDONLY;
		h->group_id = strdup(ref.spec.group);
		if (!h->group_id) {
			rc = -ENOMEM;
			goto fail;
		}
		if (fs->opts.allow_other && req) {
			/* other users are in: each sees only the rows of the
			 * topics its modes let it read */
			fso_caller_get(req, &h->who);
			h->who_check = true;
		}
		if (accmode != O_WRONLY) {
			/* rendered once, like .status; a group that does not
			 * exist (yet) reads empty when opened for writing */
			rc = fsg_render(fs->st, h->group_id,
			                h->who_check ? &h->who : NULL,
			                &h->buf, &h->buf_len);
			if (rc == -ENOENT && h->writable)
				rc = 0;
			if (rc)
				goto fail;
		}
		h->who.pid = 0;         /* the request ends with this open */
		fi->direct_io = 1;
		break;
	case N_STATUS:
		if (accmode != O_RDONLY)
			return -EACCES;
		h = handle_new(fs, FH_STATUS);
		if (!h)
			return -ENOMEM;
		rc = fsv_status_render(fs->st, &fs->ctr, fs->opts.data_dir, fs->start_ms,
		                       &h->buf, &h->buf_len);
		if (rc)
			goto fail;
		fi->direct_io = 1;
		break;
	case N_PART:
		h = handle_new(fs, FH_PART);
		if (!h)
			return -ENOMEM;
		rc = fsv_open_topic_part(fs, h, &ref);
		if (rc)
			goto fail;
		h->writable = accmode != O_RDONLY;
		fi->direct_io = 1;
		break;
	case N_VIEW: {
		struct part_info info;
		if (accmode != O_RDONLY)
			return -EACCES;
		h = handle_new(fs, FH_VIEW);
		if (!h)
			return -ENOMEM;
		rc = fsv_open_topic_part(fs, h, &ref);
		if (rc)
			goto fail;
		h->spec = ref.spec;
		if (h->spec.from == FSV_FROM_GROUP) {
			/* from the committed offset, else the log start */
			int64_t start;
			rc = fsg_reader_open(fs->groups, fs->st, ref.spec.group,
			                     ref.topic, ref.part, h->part, &start, &h->grp);
			if (rc)
				goto fail;
			h->spec.from = start < 0 ? FSV_FROM_EARLIEST : FSV_FROM_OFFSET;
			h->spec.arg = start < 0 ? 0 : start;
		}
		if (h->spec.json) {
			rc = fsr_view_new(ref.topic, ref.part, &h->jv);
			if (rc)
				goto fail;
		}
		part_info(h->part, &info);
		rc = view_resolve_start(h, &info);
		if (rc)
			goto fail;
		/* Seekable: file position p is stream position origin + p,
		 * so head(1)'s lseek back over what it read past the last
		 * line, and pread, work as on a plain file. */
		fi->direct_io = 1;
		int64_t a, b;
		bool keep = false;
		if (!h->jv && h->start_known &&
		    view_fixed_range(h->part, &h->spec, &info, &a, &b) == 1 &&
		    a == h->origin && view_cache_open(fs, ino, a, b, &keep)) {
			/* immutable: read through the page cache, where a
			 * second cat finds it without asking us */
			h->end_pos = b;
			h->end_known = true;
			h->cached_ino = ino;
			fi->direct_io = 0;
			fi->keep_cache = keep;
			atomic_fetch_add_explicit(&fs->ctr.cached_opens, 1,
			                          memory_order_relaxed);
		}
		break;
	}
	}
	atomic_fetch_add_explicit(&fs->ctr.opens, 1, memory_order_relaxed);
	fi->fh = (uintptr_t)h;
	return 0;
fail:
	handle_free(h);
	return rc;
}

static void fsv_ll_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	int rc = fsv_do_open(fuse_req_userdata(req), ino, fi, req);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_open(req, fi);
}

/* ============================== writing ================================== */

static void count_append(struct fsv *fs, size_t records, size_t bytes)
{
	atomic_fetch_add_explicit(&fs->ctr.appends, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&fs->ctr.records_written, records, memory_order_relaxed);
	atomic_fetch_add_explicit(&fs->ctr.bytes_written, bytes, memory_order_relaxed);
}

/* Held partial lines, all handles together, stay under opts.held_max:
 * reserve delta bytes (may be negative).  false when it does not fit. */
static bool held_reserve(struct fsv *fs, ssize_t delta)
{
	bool ok = true;

	pthread_mutex_lock(&fs->held_lock);
	if (delta > 0 && fs->held_bytes + (size_t)delta > fs->opts.held_max)
		ok = false;
	else
		fs->held_bytes += (size_t)delta;
	atomic_store_explicit(&fs->ctr.held_bytes, fs->held_bytes, memory_order_relaxed);
	pthread_mutex_unlock(&fs->held_lock);
	return ok;
}

/* Room for len held bytes in h->pending (h->lock held). */
static int pending_reserve(struct fsv_handle *h, size_t len)
{
	size_t cap;
	char *p;

	if (len <= h->pending_cap)
		return 0;
	cap = h->pending_cap ? h->pending_cap : 4096;
	while (cap < len)
		cap *= 2;
	p = realloc(h->pending, cap);
	if (!p)
		return -ENOMEM;
	h->pending = p;
	h->pending_cap = cap;
	return 0;
}

/* Append the complete lines of data (the held partial first) and keep the
 * new partial.  Called with h->lock held.
 *
 * - A line longer than h->line_max (the topic's max_message_bytes less a
 *   record's overhead) is refused with EMSGSIZE by the write that makes it
 *   too long, held or not: a record that long could not be stored whole.
 * - The held partials of all handles count against opts.held_max; a write
 *   whose new partial would pass it appends that partial as a record at
 *   once (what close would do), so memory stays bounded and nothing is
 *   lost; counted in .status (held_flushes).
 * - On failure nothing is appended and the held partial is unchanged. */
static int write_lines(struct fsv_handle *h, const char *data, size_t len)
{
	struct fsv *fs = h->fs;
	const char *nl = memrchr(data, '\n', len);
	size_t tail_len = nl ? len - (size_t)(nl - data) - 1 : 0, new_len;
	struct lines_in in = {
		.pre = h->pending, .pre_len = h->pending_len,
		.data = data, .len = nl ? (size_t)(nl - data) + 1 : 0,
		.max_line = h->line_max,
	};
	bool reserved = false, out_now = false;
	int64_t nrecs = 0;
	int rc = 0;

	if (!nl && h->pending_len + len > h->line_max)
		return -EMSGSIZE;
	if (tail_len > h->line_max)
		return -EMSGSIZE;
	new_len = nl ? tail_len : h->pending_len + len;
	/* the total bound on held bytes */
	if (new_len > h->pending_len) {
		reserved = held_reserve(fs, (ssize_t)(new_len - h->pending_len));
		out_now = !reserved;
	}
	if (out_now) {
		/* over the bound: the new partial is a record now */
		in.len = len;
		in.last_is_record = true;
	} else if (new_len > 0) {
		/* room for the new partial before anything is appended, so
		 * that a failure leaves nothing half done */
		rc = pending_reserve(h, new_len);
		if (rc)
			goto out;
	}
	if (in.len > 0 || in.last_is_record) {
		/* the lines (and the partial line held before them): longer
		 * ones than line_max are refused, nothing appended */
		rc = part_append_lines(h->part, &in, &nrecs);
		if (rc)
			goto out;
		count_append(fs, (size_t)nrecs, len);
	}
	reserved = false;
	if (out_now) {
		atomic_fetch_add_explicit(&fs->ctr.held_flushes, 1, memory_order_relaxed);
		held_reserve(fs, -(ssize_t)h->pending_len);
		h->pending_len = 0;
	} else if (nl) {
		if (tail_len > 0)
			memcpy(h->pending, nl + 1, tail_len);
		if (tail_len < h->pending_len)
			held_reserve(fs, (ssize_t)tail_len - (ssize_t)h->pending_len);
		h->pending_len = tail_len;
	} else {
		memcpy(h->pending + h->pending_len, data, len);
		h->pending_len = new_len;
	}
out:
	if (reserved)           /* failed after reserving: give it back */
		held_reserve(fs, (ssize_t)h->pending_len - (ssize_t)new_len);
	return rc;
}

/* The held partial becomes a record (close, fsync, release, shutdown).
 * Called with h->lock held. */
static int flush_pending(struct fsv_handle *h)
{
	struct rec_in rec = {
		.key = NULL, .key_len = -1, .value = h->pending,
		.value_len = (int32_t)h->pending_len, .timestamp = -1,
	};
	int rc;

	if (h->pending_len == 0 || !h->part)
		return 0;
	rc = part_append(h->part, &rec, 1, NULL);
	if (!rc) {
		count_append(h->fs, 1, 0);
		held_reserve(h->fs, -(ssize_t)h->pending_len);
		h->pending_len = 0;
	}
	return rc;
}

static int fsv_do_write(struct fsv_handle *h, const char *data, size_t len)
{
	int rc;

	if (h && h->kind == FH_GROUP && h->writable)
		return fsg_reset(h->fs->groups, h->fs->st, h->group_id, data, len);
	if (h && h->kind == FH_TOPICW) {
		if (len == 0)
			return 0;
		pthread_mutex_lock(&h->lock);
		rc = h->topic ? fsr_writer_write(h->tw, h->topic, data, len) : -EIO;
		pthread_mutex_unlock(&h->lock);
		return rc;
	}
	if (!h || h->kind != FH_PART || !h->writable)
		return -EBADF;
	if (len == 0)
		return 0;
	if (h->topic && topic_is_mirror_target(h->topic))
		return -EROFS;          /* a pull mirror's target (daemon/mirror.c) */
	pthread_mutex_lock(&h->lock);
	if (!h->part) {
		rc = -EIO;      /* shut down */
	} else if (h->framing == FRAMING_WRITES &&
	           (len > FSV_WRITE_UNIT_MAX || len > h->line_max)) {
		/* may be a piece of a larger write(2) (or too large a record):
		 * refused whole rather than stored as several records */
		rc = -EMSGSIZE;
	} else if (h->framing == FRAMING_WRITES) {
		struct rec_in rec = {
			.key = NULL, .key_len = -1, .value = data,
			.value_len = (int32_t)len, .timestamp = -1,
		};
		rc = part_append(h->part, &rec, 1, NULL);
		if (!rc)
			count_append(h->fs, 1, len);
	} else {
		rc = write_lines(h, data, len);
	}
	pthread_mutex_unlock(&h->lock);
	return rc;
}

static void fsv_ll_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
                         size_t size, off_t off, struct fuse_file_info *fi)
{
	struct fsv *fs = fuse_req_userdata(req);
	struct fsv_handle *h = fh_of(fi);
	int rc = fsv_do_write(h, buf, size);
	if (rc) {
		atomic_fetch_add_explicit(&fs->ctr.errors, 1, memory_order_relaxed);
		fuse_reply_err(req, -rc);
	} else {
		fuse_reply_write(req, size);
	}
}

static int fsv_do_flush(struct fsv_handle *h, bool durable)
{
	int rc = 0;

	if (h && h->grp)
		return fsg_reader_flush(h->grp);        /* close(2) commits */
	if (h && h->kind == FH_TOPICW) {
		pthread_mutex_lock(&h->lock);
		rc = fsr_writer_flush(h->tw, h->topic, durable);
		pthread_mutex_unlock(&h->lock);
		return rc;
	}
	if (!h || h->kind != FH_PART)
		return 0;
	pthread_mutex_lock(&h->lock);
	if (h->writable) {
		rc = flush_pending(h);
		if (!rc && h->part && (durable || h->linger_ms > 0))
			rc = part_flush(h->part);
	}
	pthread_mutex_unlock(&h->lock);
	return rc;
}

static void fsv_ll_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fuse_reply_err(req, -fsv_do_flush(fh_of(fi), false));
}

static void fsv_ll_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
                         struct fuse_file_info *fi)
{
	struct fsv_handle *h = fh_of(fi);
	int rc;

	if (h && h->kind == FH_PART && !h->writable) {
		/* fsync on a read-only fd still means "make it durable" */
		rc = part_flush(h->part);
	} else {
		rc = fsv_do_flush(h, true);
	}
	fuse_reply_err(req, -rc);
}

static void fsv_ll_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fsv_handle *h = fh_of(fi);

	if (h) {
		int rc = fsv_do_flush(h, false);
		if (rc && h->kind == FH_TOPICW)
			fsv_log("release of %s/@keyed or @json: held partial line "
			        "lost: %s", h->topic ? topic_name(h->topic) : "?",
			        strerror(-rc));
		else if (rc)
			fsv_log("release of %s/%d: held partial line lost: %s",
			        h->topic ? topic_name(h->topic) : "?", h->pidx,
			        strerror(-rc));
		handle_free(h);
	}
	fuse_reply_err(req, 0);
}

/* ============================== reading ================================== */

/* One buffer per FUSE thread, grown to the largest request seen. */
static pthread_key_t read_buf_key;
static pthread_once_t read_buf_once = PTHREAD_ONCE_INIT;

struct read_buf {
	char *data;
	size_t cap;
};

static void read_buf_free(void *p)
{
	struct read_buf *rb = p;
	free(rb->data);
	free(rb);
}

static void read_buf_init(void)
{
	pthread_key_create(&read_buf_key, read_buf_free);
}

static char *read_buf_get(size_t size)
{
	struct read_buf *rb;

	pthread_once(&read_buf_once, read_buf_init);
	rb = pthread_getspecific(read_buf_key);
	if (!rb) {
		rb = calloc(1, sizeof *rb);
		if (!rb)
			return NULL;
		pthread_setspecific(read_buf_key, rb);
	}
	if (rb->cap < size) {
		char *d = realloc(rb->data, size);
		if (!d)
			return NULL;
		rb->data = d;
		rb->cap = size;
	}
	return rb->data;
}

/* Remember where the last read of h ended and whether at a record
 * boundary (h->lock held). */
static void note_read_end(struct fsv_handle *h, int64_t end, const char *buf,
                          size_t n)
{
	h->read_end = end;
	h->end_at_record = h->framing == FRAMING_LINES && n > 0 && buf[n - 1] == '\n';
}

/* Retention removed the stream below stream_start, and h wants pos below
 * it (h->lock held).  Shifting h to the log start is clean when h is at a
 * record boundary there: it never read (cat from 0 of a trimmed log), it
 * sought to pos, or its last read ended a record.  A reader in the middle
 * of a record (the rest of it is gone) would get spliced bytes: it gets
 * ENODATA instead.  Counted in .status either way. */
static int overtaken(struct fsv_handle *h, int64_t pos, int64_t stream_start)
{
	struct fsv *fs = h->fs;

	if (h->read_end == pos && !h->end_at_record) {
		atomic_fetch_add_explicit(&fs->ctr.reads_overtaken, 1, memory_order_relaxed);
		fsv_log("read %s/%d: retention removed the record this reader was "
		        "in the middle of (stream position %lld, log now starts at "
		        "%lld): ENODATA", topic_name(h->topic), h->pidx,
		        (long long)pos, (long long)stream_start);
		return -ENODATA;
	}
	if (h->read_end == pos) {
		tfs_log(TFS_LOG_INFO, "fs: read %s/%d: retention overtook a reader at "
		        "stream position %lld; it goes on at the log start %lld "
		        "(%lld bytes skipped)", topic_name(h->topic), h->pidx,
		        (long long)pos, (long long)stream_start,
		        (long long)(stream_start - pos));
		atomic_fetch_add_explicit(&fs->ctr.reader_skipped_bytes,
		                          (uint64_t)(stream_start - pos), memory_order_relaxed);
	}
	atomic_fetch_add_explicit(&fs->ctr.reader_shifts, 1, memory_order_relaxed);
	return 0;
}

/* =============================== read-ahead ==============================
 *
 * One READ is in flight at a time per reader, so everything the daemon
 * does for a read is on the reader's clock.  A partition read in sequence
 * (a READ that filled its buffer) gets its next FSV_RA_WINDOWS windows of
 * the same size (as far as they are written) rendered by worker threads
 * (FSV_RA_WORKERS, one per core up to that) while this one replies and the
 * kernel copies the reply out.  A READ at a window's stream position takes
 * it (waiting if a worker is still at it) and replies from its buffer;
 * windows that do not follow the latest READ are dropped.  A window is
 * part_stream_read of written, immutable bytes, so it is what the READ
 * would have rendered itself; the handle's position (skew, the retention
 * rules of part_read) is applied to each READ as
 * before, and a window whose position no longer matches is never used.
 * Bounded: FSV_RA_WINDOWS windows per handle, at most FSV_RA_MAX_BUFS
 * buffers of FSV_IO_SIZE in all (beyond that, no read-ahead); a buffer
 * goes back to a pool of FSV_RA_POOL once its window is replied or
 * dropped, the rest are freed.  Counted in .status (reads_ahead). */

#define FSV_RA_MAX_BUFS 64

enum ra_state { RA_IDLE, RA_QUEUED, RA_BUSY, RA_READY };

/* A window buffer back to the fs-wide pool (ra_lock held).  Not to the
 * handle: once a READ is replied, the reader may close and the handle be
 * freed while the replying thread still holds the buffer. */
static void ra_buf_put(struct fsv *fs, char *b)
{
	if (!b)
		return;
	if (fs->ra_npool < FSV_RA_POOL) {
		fs->ra_pool[fs->ra_npool++] = b;
	} else {
		free(b);
		fs->ra_bufs--;
	}
}

/* A window buffer from the pool, or a new one within FSV_RA_MAX_BUFS
 * (ra_lock held); NULL when none may be had. */
static char *ra_buf_get(struct fsv *fs)
{
	char *b;

	if (fs->ra_npool > 0)
		return fs->ra_pool[--fs->ra_npool];
	if (fs->ra_bufs >= FSV_RA_MAX_BUFS || !(b = malloc(FSV_IO_SIZE)))
		return NULL;
	fs->ra_bufs++;
	return b;
}

/* Drop window w (ra_lock held).  One being rendered is marked stale: its
 * worker drops it when done. */
static void ra_drop_locked(struct fsv *fs, struct ra_win *w)
{
	switch (w->state) {
	case RA_QUEUED: {
		struct ra_win **pp = &fs->ra_head, *prev = NULL;
		while (*pp && *pp != w) {
			prev = *pp;
			pp = &(*pp)->next;
		}
		if (*pp) {
			*pp = w->next;
			if (fs->ra_tail == w)
				fs->ra_tail = prev;
		}
		w->next = NULL;
	}
		/* fall through */
	case RA_READY:
		ra_buf_put(fs, w->buf);
		w->buf = NULL;
		w->state = RA_IDLE;
		break;
	case RA_BUSY:
		w->stale = true;
		break;
	default:
		break;
	}
}

static void *ra_worker(void *arg)
{
	struct fsv *fs = arg;

	pthread_mutex_lock(&fs->ra_lock);
	for (;;) {
		while (!fs->ra_head && !fs->ra_stopping)
			pthread_cond_wait(&fs->ra_cond, &fs->ra_lock);
		if (fs->ra_stopping)
			break;
		struct ra_win *w = fs->ra_head;
		fs->ra_head = w->next;
		if (!fs->ra_head)
			fs->ra_tail = NULL;
		w->next = NULL;
		w->state = RA_BUSY;
		w->stale = false;
		struct fsv_handle *h = w->h;
		struct part *p = h->part;
		int64_t pos = w->pos;
		size_t size = w->size, n = 0;
		char *buf = w->buf;
		pthread_mutex_unlock(&fs->ra_lock);
		/* the handle is not freed while BUSY (ra_release waits) */
		int rc = p ? part_stream_read(p, pos, buf, size, &n) : -EIO;
		pthread_mutex_lock(&fs->ra_lock);
		w->n = n;
		w->rc = rc;
		w->state = RA_READY;
		if (w->stale)
			ra_drop_locked(fs, w);
		pthread_cond_broadcast(&fs->ra_done);
	}
	pthread_mutex_unlock(&fs->ra_lock);
	return NULL;
}

static int ra_start_workers(struct fsv *fs)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	int want = cpus > 1 ? FSV_RA_WORKERS : 1, rc = 0;

	for (int i = 0; i < want; i++) {
		rc = -pthread_create(&fs->ra_threads[i], NULL, ra_worker, fs);
		if (rc)
			break;
		fs->ra_nthreads++;
	}
	return fs->ra_nthreads > 0 ? 0 : rc;
}

/* Stop the workers (reads go on without read-ahead): windows not yet
 * rendered are dropped, the ones being rendered finish first. */
static void ra_stop_workers(struct fsv *fs)
{
	int n;

	pthread_mutex_lock(&fs->ra_lock);
	n = fs->ra_nthreads;
	if (n == 0) {
		pthread_mutex_unlock(&fs->ra_lock);
		return;
	}
	fs->ra_stopping = true;
	while (fs->ra_head)
		ra_drop_locked(fs, fs->ra_head);
	pthread_cond_broadcast(&fs->ra_cond);
	pthread_cond_broadcast(&fs->ra_done);
	pthread_mutex_unlock(&fs->ra_lock);
	for (int i = 0; i < n; i++)
		pthread_join(fs->ra_threads[i], NULL);
	pthread_mutex_lock(&fs->ra_lock);
	fs->ra_nthreads = 0;
	pthread_mutex_unlock(&fs->ra_lock);
}

/* Queue the window (pos, size) of h unless one is there (ra_lock held). */
static void ra_queue_locked(struct fsv *fs, struct fsv_handle *h, int64_t pos,
                            size_t size)
{
	struct ra_win *w = NULL;
	char *b = NULL;

	for (int i = 0; i < FSV_RA_WINDOWS; i++) {
		if (h->ra[i].state != RA_IDLE && !h->ra[i].stale &&
		    h->ra[i].pos == pos)
			return;                 /* already there */
		if (h->ra[i].state == RA_IDLE && !w)
			w = &h->ra[i];
	}
	if (!w || !(b = ra_buf_get(fs)))
		return;
	*w = (struct ra_win){
		.state = RA_QUEUED, .pos = pos, .size = size, .buf = b, .h = h,
	};
	if (fs->ra_tail)
		fs->ra_tail->next = w;
	else
		fs->ra_head = w;
	fs->ra_tail = w;
	pthread_cond_signal(&fs->ra_cond);
}

/* After a READ at pos of size bytes filled its buffer: the windows that
 * follow it, as far as the stream is written (end), are queued; any other
 * window of h is dropped. */
static void ra_start(struct fsv *fs, struct fsv_handle *h, int64_t pos, size_t size,
                     int64_t end)
{
	if (size > FSV_IO_SIZE)
		return;
	pthread_mutex_lock(&fs->ra_lock);
	if (fs->ra_nthreads == 0 || fs->ra_stopping)
		goto out;
	for (int i = 0; i < FSV_RA_WINDOWS; i++) {
		struct ra_win *w = &h->ra[i];
		if (w->state == RA_IDLE || w->stale)
			continue;
		int64_t k = w->pos - pos;
		if (k <= 0 || k % (int64_t)size || k / (int64_t)size > FSV_RA_WINDOWS)
			ra_drop_locked(fs, w);
	}
	for (int k = 1; k <= FSV_RA_WINDOWS; k++) {
		int64_t at = pos + (int64_t)size * k;
		if (at + (int64_t)size > end)
			break;
		ra_queue_locked(fs, h, at, size);
	}
out:
	pthread_mutex_unlock(&fs->ra_lock);
}

/* h's window at pos, waiting while it is rendered: its buffer
 * (FSV_IO_SIZE bytes), now the caller's (give it back with ra_give), with
 * *n, its size and *rc; NULL when there is none.  size: the READ's. */
static char *ra_take(struct fsv *fs, struct fsv_handle *h, int64_t pos, size_t size,
                     size_t *n, size_t *wsize, int *rc)
{
	char *out = NULL;

	if (size > FSV_IO_SIZE)
		return NULL;
	pthread_mutex_lock(&fs->ra_lock);
	for (int i = 0; i < FSV_RA_WINDOWS; i++) {
		struct ra_win *w = &h->ra[i];
		if (w->state == RA_IDLE || w->stale || w->pos != pos)
			continue;
		while (w->state == RA_QUEUED || w->state == RA_BUSY)
			pthread_cond_wait(&fs->ra_done, &fs->ra_lock);
		if (w->state == RA_READY && w->pos == pos) {
			out = w->buf;
			*n = w->n;
			*wsize = w->size;
			*rc = w->rc;
			w->buf = NULL;
			w->state = RA_IDLE;
		}
		break;
	}
	pthread_mutex_unlock(&fs->ra_lock);
	return out;
}

static void ra_give(struct fsv *fs, char *b)
{
	pthread_mutex_lock(&fs->ra_lock);
	ra_buf_put(fs, b);
	pthread_mutex_unlock(&fs->ra_lock);
}

/* At release: wait for the windows being rendered, free the buffers. */
static void ra_release(struct fsv *fs, struct fsv_handle *h)
{
	pthread_mutex_lock(&fs->ra_lock);
	for (int i = 0; i < FSV_RA_WINDOWS; i++) {
		struct ra_win *w = &h->ra[i];
		ra_drop_locked(fs, w);
		while (w->state == RA_BUSY)
			pthread_cond_wait(&fs->ra_done, &fs->ra_lock);
		ra_drop_locked(fs, w);
	}
	pthread_mutex_unlock(&fs->ra_lock);
}

/* Read a partition at file position off into *bufp (size bytes).  When a
 * window read ahead is used, *bufp is its buffer and *ra_out too: give it
 * back with ra_give once replied. */
static int part_read(struct fsv_handle *h, off_t off, char **bufp, size_t size,
                     size_t *nread, char **ra_out)
{
	struct part_info info;
	int rc = -ERANGE;

	for (int attempt = 0; attempt < 8 && rc == -ERANGE; attempt++) {
		int64_t pos;
		part_info(h->part, &info);
		pthread_mutex_lock(&h->lock);
		pos = off + h->skew;
		if (pos < info.stream_start) {
			/* retention removed it: shift this handle to the log
			 * start when that is clean (see overtaken) */
			rc = overtaken(h, pos, info.stream_start);
			if (rc) {
				pthread_mutex_unlock(&h->lock);
				return rc;
			}
			h->skew = info.stream_start - off;
			pos = info.stream_start;
		}
		pthread_mutex_unlock(&h->lock);
		if (pos >= info.stream_end) {
			*nread = 0;
			return 0;
		}
		size_t got = 0, wsize = 0;
		int arc = 0;
		char *ab = ra_take(h->fs, h, pos, size, &got, &wsize, &arc);
		if (ab && arc == 0 && got > 0) {
			/* the window, cut to this READ's size or completed
			 * (a READ larger than the one before it) */
			size_t more = 0;
			rc = 0;
			if (got > size)
				got = size;
			else if (got < size && got == wsize)
				rc = part_stream_read(h->part, pos + (int64_t)got, ab + got,
				                      size - got, &more);
			*bufp = ab;
			*ra_out = ab;
			*nread = got + (rc == 0 ? more : 0);
			rc = 0;
			atomic_fetch_add_explicit(&h->fs->ctr.reads_ahead, 1,
			                          memory_order_relaxed);
		} else {
			if (ab)
				ra_give(h->fs, ab);
			rc = part_stream_read(h->part, pos, *bufp, size, nread);
		}
		if (rc == 0 && *nread > 0) {
			pthread_mutex_lock(&h->lock);
			note_read_end(h, pos + (int64_t)*nread, *bufp, *nread);
			pthread_mutex_unlock(&h->lock);
			/* in sequence with more written: the next windows,
			 * rendered while this one is replied */
			if (*nread == size)
				ra_start(h->fs, h, pos, size, info.stream_end);
		}
	}
	return rc;
}

/* One attempt to serve a view read, never waiting.  Returns 0 with *nread
 * bytes (0 = end: a bounded view done, the daemon stopping, the topic
 * deleted) and *wait false; 0 with *wait true when there is nothing to
 * read yet (the caller parks the request); or -errno. */
static int view_try_read(struct fsv_handle *h, off_t off, char *buf, size_t size,
                         size_t *nread, bool *wait)
{
	struct fsv *fs = h->fs;
	struct part_info info;
	int rc = 0;

	*nread = 0;
	*wait = false;
	pthread_mutex_lock(&h->lock);
	if (h->jv) {
		/* the record view (records.c): JSON positions, not the stream's */
		if (atomic_load(&fs->stopping) || (fs->se && fuse_session_exited(fs->se)))
			goto unlock;
		part_info(h->part, &info);
		if (!h->start_known) {
			rc = view_resolve_start(h, &info);
			if (rc)
				goto unlock;
		}
		if (!h->start_known) {
			/* a start not written yet; a deleted topic ends it */
			if (part_wait_stream(h->part, info.stream_end, 0) != -ENOENT)
				*wait = true;
			goto unlock;
		}
		rc = fsr_view_read(h->jv, h->part, &fs->ctr, off, buf, size, nread, wait);
		goto unlock;
	}
	for (int attempt = 0; attempt < 8; attempt++) {
		int64_t wait_pos;
		if (atomic_load(&fs->stopping) || (fs->se && fuse_session_exited(fs->se)))
			break;
		part_info(h->part, &info);
		if (!h->start_known) {
			rc = view_resolve_start(h, &info);
			if (rc)
				break;
		}
		if (h->spec.bounded && !h->end_known && info.next_offset >= h->spec.to) {
			rc = part_stream_pos_for_offset(h->part, h->spec.to, &h->end_pos);
			if (rc)
				break;
			h->end_known = true;
		}
		if (h->start_known) {
			int64_t limit;
			h->cursor = h->origin + off;
			if (h->cursor < info.stream_start) {
				rc = overtaken(h, h->cursor, info.stream_start);
				if (rc)
					break;
				h->origin += info.stream_start - h->cursor;
				h->cursor = info.stream_start;
			}
			limit = h->end_known ? h->end_pos : info.stream_end;
			if (h->end_known && h->cursor >= h->end_pos)
				break;                  /* bounded view: done */
			if (h->cursor < limit) {
				size_t want = size;
				if ((int64_t)want > limit - h->cursor)
					want = (size_t)(limit - h->cursor);
				rc = part_stream_read(h->part, h->cursor, buf, want, nread);
				if (rc == -ERANGE) {
					rc = 0;
					continue;       /* retention moved: again */
				}
				if (rc)
					break;
				if (*nread > 0) {
					h->cursor += (int64_t)*nread;
					note_read_end(h, h->cursor, buf, *nread);
					break;
				}
			}
			wait_pos = h->cursor > info.stream_end ? h->cursor : info.stream_end;
		} else {
			wait_pos = info.stream_end;
		}
		/* nothing yet: a deleted topic is the end of the stream */
		rc = part_wait_stream(h->part, wait_pos, 0);
		if (rc == -ENOENT) {
			rc = 0;
			break;
		}
		if (rc == 0)
			continue;               /* it grew meanwhile */
		rc = 0;
		*wait = true;
		break;
	}
unlock:
	pthread_mutex_unlock(&h->lock);
	return rc;
}

/* ============================ parked reads ===============================
 *
 * A view read at the end of the stream does not hold a FUSE thread while it
 * waits (256 blocked readers used to take every thread and hang the whole
 * mount): the request is parked on fs->park, keyed by its partition, and
 * the FUSE thread returns to the loop.  The store's append hook moves the
 * parked reads of the appended partition to the ready queue; one waker
 * thread serves the ready ones (each read is retried with view_try_read,
 * replied to, or parked again).  Once a second the waker retries every
 * parked read anyway, which covers what no append announces: a deleted
 * topic, the end of the session.  An interrupt (Ctrl-C on a blocked cat)
 * reaches park_interrupt, which readies the read; the waker replies EINTR.
 *
 * Interrupt callbacks and replies: libfuse calls an interrupt callback with
 * the request's lock held, so before a parked read is replied to (and its
 * struct freed) the waker clears the callback with fuse_req_interrupt_func(
 * req, NULL, NULL), which waits for a callback already running.  The
 * callback only takes park_lock; nothing holds park_lock while calling into
 * libfuse or storage.
 *
 * Cost: one struct parked_read (~80 bytes) per blocked reader, no thread,
 * no descriptor; at most FSV_MAX_PARKED at once (then EAGAIN).
 */

struct parked_read {
	fuse_req_t req;
	struct fsv_handle *h;
	struct part *part;              /* bucket key (h->part) */
	off_t off;
	size_t size;
	bool parked;                    /* on a bucket or the ready queue;
	                                   park_lock */
	bool ready;                     /* on the ready queue; park_lock */
	bool interrupted;               /* park_lock */
	struct parked_read *prev, *next;        /* park_lock */
};

static size_t park_bucket(const struct part *p)
{
	uintptr_t x = (uintptr_t)p >> 6;
	return (size_t)((x ^ (x >> 11)) % FSV_PARK_BUCKETS);
}

static void park_unlink(struct fsv *fs, struct parked_read *pr)
{
	struct parked_read **head = pr->ready ? &fs->ready_head
	                                      : &fs->park_tab[park_bucket(pr->part)];
	if (pr->prev)
		pr->prev->next = pr->next;
	else
		*head = pr->next;
	if (pr->next)
		pr->next->prev = pr->prev;
	else if (pr->ready)
		fs->ready_tail = pr->prev;
	pr->prev = pr->next = NULL;
}

/* Move a parked read to the ready queue (park_lock held). */
static void park_make_ready(struct fsv *fs, struct parked_read *pr)
{
	if (!pr->parked || pr->ready)
		return;
	park_unlink(fs, pr);
	pr->ready = true;
	pr->prev = fs->ready_tail;
	if (fs->ready_tail)
		fs->ready_tail->next = pr;
	else
		fs->ready_head = pr;
	fs->ready_tail = pr;
	pthread_cond_signal(&fs->park_cond);
}

static void park_interrupt(fuse_req_t req, void *data)
{
	struct parked_read *pr = data;
	struct fsv *fs = pr->h->fs;

	pthread_mutex_lock(&fs->park_lock);
	pr->interrupted = true;
	park_make_ready(fs, pr);
	pthread_mutex_unlock(&fs->park_lock);
}

/* Park pr (on no list).  1: parked, the waker owns pr now (the caller
 * must not touch it again); 0: the file view is stopping, not parked (the
 * caller answers end of file); -EAGAIN: FSV_MAX_PARKED reads wait already.
 * With 0 or an error, pr is still the caller's. */
static int park(struct fsv *fs, struct parked_read *pr)
{
	size_t b = park_bucket(pr->part);

	pr->parked = pr->ready = pr->interrupted = false;
	pr->prev = pr->next = NULL;
	/* the callback first: once pr is on a list the waker may free it.  It
	 * runs at once when the request is already interrupted; then, or when
	 * it runs before pr is on a list, it only sets pr->interrupted. */
	fuse_req_interrupt_func(pr->req, park_interrupt, pr);
	pthread_mutex_lock(&fs->park_lock);
	if (fs->nparked >= FSV_MAX_PARKED || fs->park_stopping) {
		int rc = fs->park_stopping ? 0 : -EAGAIN;
		pthread_mutex_unlock(&fs->park_lock);
		fuse_req_interrupt_func(pr->req, NULL, NULL);
		return rc;
	}
	pr->parked = true;
	pr->next = fs->park_tab[b];
	if (pr->next)
		pr->next->prev = pr;
	fs->park_tab[b] = pr;
	fs->nparked++;
	atomic_store_explicit(&fs->nparked_hint, fs->nparked, memory_order_relaxed);
	atomic_store_explicit(&fs->ctr.blocked_reads, fs->nparked, memory_order_relaxed);
	if (pr->interrupted)
		park_make_ready(fs, pr);
	pthread_mutex_unlock(&fs->park_lock);
	return 1;
}

/* The store's append hook: ready the parked reads of that partition. */
static void fsv_append_hook(void *arg, struct topic *t, int partition)
{
	struct fsv *fs = arg;
	struct part *p = topic_part(t, partition);
	struct parked_read *pr, *next;

	if (!p || atomic_load_explicit(&fs->nparked_hint, memory_order_relaxed) == 0)
		return;
	pthread_mutex_lock(&fs->park_lock);
	for (pr = fs->park_tab[park_bucket(p)]; pr; pr = next) {
		next = pr->next;
		if (pr->part == p)
			park_make_ready(fs, pr);
	}
	pthread_mutex_unlock(&fs->park_lock);
}

static void reply_read(struct fsv_handle *h, fuse_req_t req, int rc,
                       const char *buf, size_t n, off_t off);

/* Serve one parked read taken off the lists: reply, or park it again. */
static void park_serve(struct fsv *fs, struct parked_read *pr, char *buf)
{
	size_t n = 0;
	bool wait = false;
	int rc;

	/* no interrupt callback may run from here on (see above) */
	fuse_req_interrupt_func(pr->req, NULL, NULL);
	if (pr->interrupted || fuse_req_interrupted(pr->req)) {
		fuse_reply_err(pr->req, EINTR);
		free(pr);
		return;
	}
	if (pr->h->grp)         /* a due commit of a reader waiting at the end */
		fsg_reader_commit(pr->h->grp, false);
	rc = view_try_read(pr->h, pr->off, buf, pr->size, &n, &wait);
	if (!rc && wait && !atomic_load(&fs->stopping)) {
		rc = park(fs, pr);
		if (rc == 1)
			return;
		n = 0;
	}
	reply_read(pr->h, pr->req, rc, buf, n, pr->off);
	free(pr);
}

static void *park_waker(void *arg)
{
	struct fsv *fs = arg;
	char *buf = NULL;
	size_t cap = 0;
	int64_t last_sweep = tfs_mono_ms();

	pthread_mutex_lock(&fs->park_lock);
	for (;;) {
		struct parked_read *pr;
		if (!fs->ready_head && !fs->park_stopping) {
			struct timespec dl;
			clock_gettime(CLOCK_MONOTONIC, &dl);
			dl.tv_sec += 1;
			pthread_cond_timedwait(&fs->park_cond, &fs->park_lock, &dl);
		}
		if (fs->park_stopping || tfs_mono_ms() - last_sweep >= 1000) {
			/* everything: stop, or the once-a-second retry */
			for (size_t b = 0; b < FSV_PARK_BUCKETS; b++)
				while (fs->park_tab[b])
					park_make_ready(fs, fs->park_tab[b]);
			last_sweep = tfs_mono_ms();
		}
		if (!fs->ready_head) {
			if (fs->park_stopping)
				break;
			continue;
		}
		pr = fs->ready_head;
		park_unlink(fs, pr);
		pr->parked = pr->ready = false;
		fs->nparked--;
		atomic_store_explicit(&fs->nparked_hint, fs->nparked, memory_order_relaxed);
	atomic_store_explicit(&fs->ctr.blocked_reads, fs->nparked, memory_order_relaxed);
		pthread_mutex_unlock(&fs->park_lock);
		if (cap < pr->size) {
			char *nb = realloc(buf, pr->size);
			if (!nb) {
				fuse_req_interrupt_func(pr->req, NULL, NULL);
				fuse_reply_err(pr->req, ENOMEM);
				free(pr);
				pthread_mutex_lock(&fs->park_lock);
				continue;
			}
			buf = nb;
			cap = pr->size;
		}
		park_serve(fs, pr, buf);
		pthread_mutex_lock(&fs->park_lock);
	}
	pthread_mutex_unlock(&fs->park_lock);
	free(buf);
	return NULL;
}

/* Start the waker and register the append hook (fsv_set_store). */
static int park_start(struct fsv *fs)
{
	int rc = -pthread_create(&fs->park_thread, NULL, park_waker, fs);
	if (rc)
		return rc;
	fs->park_started = true;
	rc = store_add_append_hook(fs->st, fsv_append_hook, fs);
	if (rc)
		fsv_log("store_add_append_hook: %s (blocked view readers are "
		        "woken once a second only)", strerror(-rc));
	else
		fs->hook_added = true;
	return 0;
}

/* Answer every parked read (end of file) and stop the waker. */
static void park_stop(struct fsv *fs)
{
	if (fs->hook_added) {
		store_remove_append_hook(fs->st, fsv_append_hook, fs);
		fs->hook_added = false;
	}
	if (!fs->park_started)
		return;
	pthread_mutex_lock(&fs->park_lock);
	fs->park_stopping = true;
	pthread_cond_signal(&fs->park_cond);
	pthread_mutex_unlock(&fs->park_lock);
	pthread_join(fs->park_thread, NULL);
	fs->park_started = false;
}

/* Reply to a read: data, or the error (counted and logged). */
static void reply_read(struct fsv_handle *h, fuse_req_t req, int rc,
                       const char *buf, size_t n, off_t off)
{
	struct fsv *fs = h->fs;

	if (rc) {
		if (rc != -EINTR) {
			atomic_fetch_add_explicit(&fs->ctr.errors, 1, memory_order_relaxed);
			if (rc != -ENOENT && rc != -ENODATA)
				fsv_log("read %s/%d at %lld: %s", topic_name(h->topic), h->pidx,
				        (long long)off, strerror(-rc));
		}
		if (rc == -EBADMSG)
			rc = -EIO;          /* a corrupt batch: the error, never its bytes */
		fuse_reply_err(req, -rc);
		return;
	}
	atomic_fetch_add_explicit(&fs->ctr.reads, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&fs->ctr.bytes_read, n, memory_order_relaxed);
	fuse_reply_buf(req, buf, n);
}

/* A new read request on a @group= view: the reader is done with what its
 * earlier reads returned (groups.c, "one read behind"); commit if due. */
static void group_read_begins(struct fsv_handle *h, off_t off)
{
	int64_t prev_end, pos;

	if (h->jv) {            /* the JSON form knows its records' offsets */
		pthread_mutex_lock(&h->lock);
		int64_t consumed = fsr_view_consumed(h->jv, off);
		pthread_mutex_unlock(&h->lock);
		if (consumed >= 0)
			fsg_reader_advance_offset(h->grp, consumed);
		fsg_reader_commit(h->grp, false);
		return;
	}
	pthread_mutex_lock(&h->lock);
	prev_end = h->read_end;
	pos = h->start_known ? h->origin + off : prev_end;
	pthread_mutex_unlock(&h->lock);
	fsg_reader_advance(h->grp, prev_end, pos);
	fsg_reader_commit(h->grp, false);
}

static void fsv_ll_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                        struct fuse_file_info *fi)
{
	struct fsv *fs = fuse_req_userdata(req);
	struct fsv_handle *h = fh_of(fi);
	size_t n = 0;
	bool wait = false;
	char *buf;
	int rc;

	if (!h) {
		fuse_reply_err(req, EBADF);
		return;
	}
	if (h->kind == FH_STATUS || h->kind == FH_GROUP) {
		/* copied out first: once the kernel has the reply, the reader
		 * may close and RELEASE may free h->buf while this thread is
		 * still inside the reply's writev(2) */
		if (off < 0 || (size_t)off >= h->buf_len) {
			fuse_reply_buf(req, NULL, 0);
			return;
		}
		n = h->buf_len - (size_t)off < size ? h->buf_len - (size_t)off : size;
		buf = read_buf_get(n);
		if (!buf) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
		memcpy(buf, h->buf + off, n);
		fuse_reply_buf(req, buf, n);
		return;
	}
	if (h->kind == FH_TOPICW) {
		fuse_reply_err(req, EBADF);     /* write-only */
		return;
	}
	if (!h->part) {
		fuse_reply_err(req, EIO);
		return;
	}
	buf = read_buf_get(size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (h->kind == FH_VIEW) {
		if (h->grp)
			group_read_begins(h, off);
		rc = view_try_read(h, off, buf, size, &n, &wait);
		if (!rc && wait) {
			struct parked_read *pr = calloc(1, sizeof *pr);
			if (!pr) {
				rc = -ENOMEM;
			} else {
				*pr = (struct parked_read){
					.req = req, .h = h, .part = h->part,
					.off = off, .size = size,
				};
				rc = park(fs, pr);
				if (rc == 1)
					return;         /* answered later */
				free(pr);
				if (rc == -EAGAIN)
					fsv_log("read %s/%d: %d blocked readers already "
					        "waiting; refused with EAGAIN",
					        topic_name(h->topic), h->pidx, FSV_MAX_PARKED);
			}
		}
	} else {
		char *ra = NULL;
		rc = part_read(h, off, &buf, size, &n, &ra);
		reply_read(h, req, rc, buf, n, off);
		if (ra)                 /* h may be freed by now: not used */
			ra_give(fs, ra);
		return;
	}
	reply_read(h, req, rc, buf, n, off);
}

/* ============================== xattrs =================================== */

static const char *const part_xattrs[] = {
	"log_start_offset", "next_offset", "records", "stream_start",
	"stream_end", "segments", "bytes_on_disk", "codec", "framing",
};

/* A topic's xattrs are its settings: every row of topic_settings.h under
 * its key name (topic_setting_at, topic_setting_format), so a new setting
 * shows up here without a line of fs.c.  "codec" is also accepted as an
 * alias of "compression" (the name earlier versions listed), and so are
 * the Kafka names ("retention.ms") that topic_setting_find knows. */
static const struct topic_setting *topic_xattr_setting(const char *attr)
{
	if (!strcmp(attr, "codec"))
		attr = "compression";
	return topic_setting_find(attr);
}

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* setfattr -n user.topicfs.KEY -v VALUE <mnt>/<topic>: change a setting at
 * run time, with the table's syntax and bounds (topic_setting_parse, then
 * topic_config_check).  TS_DYNAMIC settings go through topic_set_config
 * (the .topic file is rewritten: the change survives a restart);
 * partitions only grows (topic_add_partitions: the new partition files
 * appear at once); framing and compression are fixed (EPERM).  Every
 * refusal is logged with its reason; a change is logged at info level. */
static int topic_xattr_set(struct fsv *fs, const char *topic, const char *name,
                           const char *value, size_t size, int flags)
{
	const struct topic_setting *s;
	struct topic_config cfg, cur;
	struct topic *t = NULL;
	char text[128], why[200], now[64];
	const char *attr, *w = NULL;
	int rc;

	if (strncmp(name, FSV_XATTR_PREFIX, strlen(FSV_XATTR_PREFIX)))
		return -EPERM;
	attr = name + strlen(FSV_XATTR_PREFIX);
	if (!strcmp(attr, "partitioner")) {
		fsv_log("setxattr %s on topic %s: the partitioner is fixed (%s)",
		        name, topic, FSV_PARTITIONER);
		return -EPERM;
	}
	s = topic_xattr_setting(attr);
	if (!s) {
		fsv_log("setxattr %s on topic %s: no such setting", name, topic);
		return -EINVAL;
	}
	if (flags & XATTR_CREATE)
		return -EEXIST;                 /* every setting exists */
	while (size > 0 && (value[size - 1] == '\n' || value[size - 1] == ' ' ||
	                    value[size - 1] == '\t' || value[size - 1] == '\r'))
		size--;                         /* `echo` adds a newline */
	if (size == 0 || size >= sizeof text) {
		fsv_log("setxattr %s on topic %s: %s value", name, topic,
		        size ? "over-long" : "empty");
		return -EINVAL;
	}
	memcpy(text, value, size);
	text[size] = '\0';
	if (s->change == TS_FIXED) {
		fsv_log("setxattr %s on topic %s: %s is fixed at creation", name,
		        topic, s->name);
		return -EPERM;
	}
	rc = store_topic_get(fs->st, topic, &t);
	if (rc)
		return rc;
	topic_get_config(t, &cur);
	cfg = cur;
	rc = topic_setting_parse(&cfg, s, text, why, sizeof why);
	if (rc) {
		fsv_log("setxattr %s on topic %s: %s", name, topic, why);
		goto out;
	}
	topic_setting_format(&cur, s, now, sizeof now);
	if (s->change == TS_GROW) {
		int64_t want = topic_setting_get(&cfg, s), have = topic_setting_get(&cur, s);
		if (want < have) {
			fsv_log("setxattr %s on topic %s: %s only grows (it has %s)",
			        name, topic, s->name, now);
			rc = -EINVAL;
		} else if (want > have) {
			rc = topic_add_partitions(t, (int32_t)want);
			if (rc)
				fsv_log("setxattr %s on topic %s: topic_add_partitions: %s",
				        name, topic, strerror(-rc));
		}
		goto done;
	}
	if (topic_config_check(&cfg, &w) < 0) {
		fsv_log("setxattr %s on topic %s: %s", name, topic, w ? w : "invalid");
		rc = -EINVAL;
		goto out;
	}
	rc = topic_set_config(t, &cfg);
	if (rc)
		fsv_log("setxattr %s on topic %s: topic_set_config: %s", name, topic,
		        strerror(-rc));
done:
	if (!rc)
		tfs_log(TFS_LOG_INFO, "topic %s: %s set to %s (was %s) from the file "
		        "view", topic, s->name, text, now);
out:
	topic_put(t);
	return rc;
}

static const char *framing_name(int framing)
{
	return framing == FRAMING_WRITES ? "writes" : "lines";
}

/* The value of xattr `name` of ref into val.  -ENODATA if there is none. */
static int xattr_value(struct fsv *fs, const struct node_ref *ref, const char *name,
                       char *val, size_t vlen)
{
	struct topic *t;
	const char *attr;
	int rc;

	if (strncmp(name, FSV_XATTR_PREFIX, strlen(FSV_XATTR_PREFIX)))
		return -ENODATA;
	attr = name + strlen(FSV_XATTR_PREFIX);
	if (ref->kind != N_PART && ref->kind != N_TOPIC)
		return -ENODATA;
	rc = store_topic_get(fs->st, ref->topic, &t);
	if (rc)
		return rc;
	rc = 0;
	if (ref->kind == N_PART) {
		struct part_info in;
		struct part *p = topic_part(t, ref->part);
		if (!p) {
			rc = -ENOENT;
			goto out;
		}
		part_info(p, &in);
		if (!strcmp(attr, "log_start_offset"))
			snprintf(val, vlen, "%" PRId64, in.log_start_offset);
		else if (!strcmp(attr, "next_offset"))
			snprintf(val, vlen, "%" PRId64, in.next_offset);
		else if (!strcmp(attr, "records"))
			snprintf(val, vlen, "%" PRId64, in.next_offset - in.log_start_offset);
		else if (!strcmp(attr, "stream_start"))
			snprintf(val, vlen, "%" PRId64, in.stream_start);
		else if (!strcmp(attr, "stream_end"))
			snprintf(val, vlen, "%" PRId64, in.stream_end);
		else if (!strcmp(attr, "segments"))
			snprintf(val, vlen, "%" PRId64, in.segments);
		else if (!strcmp(attr, "bytes_on_disk"))
			snprintf(val, vlen, "%" PRId64, in.bytes_on_disk);
		else if (!strcmp(attr, "codec"))
			snprintf(val, vlen, "%s", codec_name(in.codec));
		else if (!strcmp(attr, "framing"))
			snprintf(val, vlen, "%s", framing_name(in.framing));
		else
			rc = -ENODATA;
	} else if (!strcmp(attr, "partitioner")) {
		/* what @keyed and @json use for keys (records.c) */
		snprintf(val, vlen, "%s", FSV_PARTITIONER);
	} else {
		struct topic_config tc;
		const struct topic_setting *s = topic_xattr_setting(attr);
		topic_get_config(t, &tc);
		if (!s || topic_setting_format(&tc, s, val, vlen) < 0)
			rc = -ENODATA;
	}
out:
	topic_put(t);
	return rc;
}

static void fsv_ll_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
                            size_t size)
{
	struct fsv *fs = fuse_req_userdata(req);
	struct node_ref ref;
	char val[128];
	size_t len;
	int rc = node_ref(fs, ino, &ref);

	if (!rc)
		rc = xattr_value(fs, &ref, name, val, sizeof val);
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	len = strlen(val);
	if (size == 0)
		fuse_reply_xattr(req, len);
	else if (size < len)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, val, len);
}

static void fsv_ll_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct fsv *fs = fuse_req_userdata(req);
	struct node_ref ref;
	const char *const *names = NULL;
	size_t count = 0, len = 0;
	char buf[2048];
	int rc = node_ref(fs, ino, &ref);

	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	if (ref.kind == N_PART) {
		names = part_xattrs;
		count = NELEM(part_xattrs);
	} else if (ref.kind == N_TOPIC) {
		for (size_t i = 0; i < topic_setting_count() && len < sizeof buf - 64; i++)
			len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%s",
			                        FSV_XATTR_PREFIX, topic_setting_at(i)->name) + 1;
		len += (size_t)snprintf(buf + len, sizeof buf - len, "%spartitioner",
		                        FSV_XATTR_PREFIX) + 1;
	}
	for (size_t i = 0; i < count; i++)
		len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%s",
		                        FSV_XATTR_PREFIX, names[i]) + 1;
	if (size == 0)
		fuse_reply_xattr(req, len);
	else if (size < len)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, buf, len);
}

/* ============================== the rest ================================= */

static void fsv_ll_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct fsv *fs = fuse_req_userdata(req);
	struct statvfs sv;

	if (statvfs(fs->opts.data_dir, &sv) != 0) {
		int err = errno;
		fsv_log("statfs: statvfs %s: %s", fs->opts.data_dir, strerror(err));
		fuse_reply_err(req, err);
		return;
	}
	sv.f_namemax = 249;
	fuse_reply_statfs(req, &sv);
}

static void fsv_ll_init(void *userdata, struct fuse_conn_info *conn)
{
	/* 1 MiB requests: libfuse derives max_pages from max_write */
	conn->max_write = 1024 * 1024;
	conn->max_read = 1024 * 1024;
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	/* every write must reach us as it was made: no writeback caching */
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	/* no page cache for partitions (direct_io): no GETATTR before every
	 * read(2) either */
	conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
	conn->want &= ~FUSE_CAP_ASYNC_DIO;
	conn->time_gran = 1000000;      /* st_mtime has ms resolution */
}

static const struct fuse_lowlevel_ops fsv_ops = {
	.init = fsv_ll_init,
	.lookup = fsv_ll_lookup,
	.forget = fsv_ll_forget,
	.forget_multi = fsv_ll_forget_multi,
	.getattr = fsv_ll_getattr,
	.setattr = fsv_ll_setattr,
	.mknod = fsv_ll_mknod,
	.mkdir = fsv_ll_mkdir,
	.unlink = fsv_ll_unlink,
	.rmdir = fsv_ll_rmdir,
	.symlink = fsv_ll_symlink,
	.rename = fsv_ll_rename,
	.link = fsv_ll_link,
	.open = fsv_ll_open,
	.read = fsv_ll_read,
	.write = fsv_ll_write,
	.flush = fsv_ll_flush,
	.release = fsv_ll_release,
	.fsync = fsv_ll_fsync,
	.opendir = fsv_ll_opendir,
	.readdir = fsv_ll_readdir,
	.releasedir = fsv_ll_releasedir,
	.fsyncdir = fsv_ll_fsyncdir,
	.statfs = fsv_ll_statfs,
	.setxattr = fsv_ll_setxattr,
	.getxattr = fsv_ll_getxattr,
	.listxattr = fsv_ll_listxattr,
	.removexattr = fsv_ll_removexattr,
	.create = fsv_ll_create,
	.fallocate = fsv_ll_fallocate,
};

const struct fuse_lowlevel_ops *fsv_lowlevel_ops(void)
{
	return &fsv_ops;
}

/* ============================== life cycle =============================== */

int fsv_new(const struct fsv_options *opts, struct fsv **out)
{
	struct fsv *fs = calloc(1, sizeof *fs);
	if (!fs)
		return -ENOMEM;
	fs->opts = *opts;
	fs->groups = fsg_new();
	if (!fs->groups) {
		free(fs);
		return -ENOMEM;
	}
	fs->nbuckets = 256;
	fs->ino_tab = calloc(fs->nbuckets, sizeof *fs->ino_tab);
	fs->name_tab = calloc(fs->nbuckets, sizeof *fs->name_tab);
	if (!fs->ino_tab || !fs->name_tab) {
		free(fs->ino_tab);
		free(fs->name_tab);
		fsg_free(fs->groups);
		free(fs);
		return -ENOMEM;
	}
	pthread_mutex_init(&fs->lock, NULL);
	pthread_mutex_init(&fs->park_lock, NULL);
	pthread_mutex_init(&fs->held_lock, NULL);
	pthread_mutex_init(&fs->ra_lock, NULL);
	pthread_cond_init(&fs->ra_cond, NULL);
	pthread_cond_init(&fs->ra_done, NULL);
	{
		pthread_condattr_t ca;
		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&fs->park_cond, &ca);
		pthread_condattr_destroy(&ca);
	}
	fs->next_ino = FSV_GROUPS_INO + 1;
	fs->start_ms = tfs_now_ms();
	fs->root_mtime_ms = fs->start_ms;
	*out = fs;
	return 0;
}

int fsv_set_store(struct fsv *fs, struct store *st)
{
	int rc;

	fs->st = st;
	rc = ra_start_workers(fs);
	if (rc)
		fsv_log("read-ahead workers: %s (reads go on without them)", strerror(-rc));
	return park_start(fs);
}

void fsv_set_session(struct fsv *fs, struct fuse_session *se)
{
	fs->se = se;
}

struct fsv_counters *fsv_counters_of(struct fsv *fs)
{
	return &fs->ctr;
}

void fsv_stop_waiters(struct fsv *fs)
{
	atomic_store(&fs->stopping, true);
	park_stop(fs);
	ra_stop_workers(fs);
}

/* Runs after the FUSE loop ended (no request in flight), so calling
 * storage with fs->lock held cannot deadlock here. */
void fsv_shutdown(struct fsv *fs)
{
	struct fsv_handle *h;

	atomic_store(&fs->stopping, true);
	park_stop(fs);
	ra_stop_workers(fs);     /* before the handles lose their partitions */
	pthread_mutex_lock(&fs->lock);
	for (h = fs->handles; h; h = h->next) {
		pthread_mutex_lock(&h->lock);
		if (h->kind == FH_PART && h->writable) {
			int rc = flush_pending(h);
			if (rc)
				fsv_log("shutdown: %s/%d: held partial line lost: %s",
				        topic_name(h->topic), h->pidx, strerror(-rc));
		}
		if (h->kind == FH_TOPICW && h->topic) {
			int rc = fsr_writer_flush(h->tw, h->topic, false);
			if (rc)
				fsv_log("shutdown: %s/%s: held partial line lost: %s",
				        topic_name(h->topic), "@keyed or @json",
				        strerror(-rc));
		}
		if (h->grp) {
			/* the last commit and the hold go before the store */
			fsg_reader_close(h->grp);
			h->grp = NULL;
		}
		if (h->topic) {
			topic_put(h->topic);
			h->topic = NULL;
			h->part = NULL;
		}
		pthread_mutex_unlock(&h->lock);
	}
	pthread_mutex_unlock(&fs->lock);
}

void fsv_free(struct fsv *fs)
{
	if (!fs)
		return;
	fsv_shutdown(fs);
	while (fs->handles)
		handle_free(fs->handles);
	for (size_t b = 0; b < fs->nbuckets; b++) {
		struct fsv_node *n = fs->ino_tab[b], *next;
		for (; n; n = next) {
			next = n->next_ino;
			free(n->name);
			free(n);
		}
	}
	free(fs->ino_tab);
	free(fs->name_tab);
	fsg_free(fs->groups);
	while (fs->ra_npool > 0)
		free(fs->ra_pool[--fs->ra_npool]);
	pthread_mutex_destroy(&fs->lock);
	free(fs);
}
