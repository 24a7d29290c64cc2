/*
 * part_open.c - one partition's lifecycle: init and destroy, the files of
 * a new partition, the stream-start file, listing a partition directory,
 * loading an existing partition (the recovery itself is part_recover.c),
 * deleting its files, and part_info.
 *
 * STATE.  A partition is a list of segments sorted by base offset; the last
 * one is active (appended to), the others are sealed.  Segments are
 * contiguous in offsets (a segment's base is the previous one's next
 * offset) and in the stream (its stream base is the previous one's stream
 * end).  The published end (next_offset, stream_end, each segment's size)
 * only moves forward, under part.lock, after the bytes are in the file:
 * readers snapshot it under the lock and never look past it, so they see
 * whole batches only.  The writer (part_write.c) is the only thread that
 * changes the list and the published end; readers are in part_read.c.
 *
 * STREAM START.  <dir>/stream-start ("base_offset stream_pos\n", written
 * atomically by retention before it unlinks the front segments) names the
 * first segment's stream base, for when its .sindex must be rebuilt.
 *
 * LISTING (part_load).  Leftover temp files are deleted, .log files whose
 * name is not 20 digits are ignored with a log line, index files without a
 * .log are deleted.  A directory without any segment gets an empty one at
 * the offset stream-start names (else 0).  A symbolic link in it refuses
 * the partition (never followed, never removed); the directory itself is
 * opened relative to the data dir fd with O_NOFOLLOW (part_dir_open).
 *
 * NEW PARTITIONS (part_create_files) never empty a directory that holds
 * data: one already there is reused only when it holds nothing but empty
 * segment files, anything else (data, a link, a file) goes to
 * <data_dir>/.quarantine/ first (make_part_dir, store_quarantine).
 *
 * DELETION (part_delete_files) refuses new requests (part.qdead), takes the
 * writer token (so no write, roll or retention is running), fails what is
 * queued with -ENOENT, marks the partition deleted and wakes waiters
 * (part.cond), then removes the files and the directory.  Readers and
 * fetch slices holding segment references keep their fds until released.
 *
 * Locks: part_init, part_create_files and part_load run before the
 * partition is shared (the loading thread counts as the writer-token
 * holder: INV_LOAD_BEGIN/END) and take no partition lock; they read the
 * settings under topic.cfg_mu (topic_cfg).  part_delete_files takes
 * part.qlock, the writer token, then part.lock; part_info takes part.lock.
 * part_destroy runs after the last reference is gone.
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
#include <unistd.h>

/* =============================== lifecycle =============================== */

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
	prod_free(p);
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

int segs_push(struct part *p, struct seg *s)
{
	INV_P_WRITE(p);
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

char *part_file(const struct part *p, const char *name)
{
	size_t n = strlen(p->dir) + strlen(name) + 2;
	char *s = malloc(n);
	if (s)
		snprintf(s, n, "%s/%s", p->dir, name);
	return s;
}

int part_dir_open(struct part *p)
{
	return sio_openat(p->topic->st->dfd, part_dname(p),
	                  O_RDONLY | O_DIRECTORY, 0, p->dir);
}

/* Remove every file of a partition directory (not recursive), relative to
 * the directory opened without following a link: nothing is ever removed
 * through a link. */
static void remove_dir_files(struct part *p)
{
	int fd = part_dir_open(p);
	struct dirent *de;
	DIR *d;

	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (!d) {
		sio_log("fdopendir", p->dir, errno);
		sio_close(fd, p->dir);
		return;
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (sysio->unlinkat(dirfd(d), de->d_name, 0) < 0 && errno != ENOENT) {
			char path[PATH_MAX];
			snprintf(path, sizeof(path), "%s/%s", p->dir, de->d_name);
			sio_log("unlink", path, errno);
		}
	}
	closedir(d);
}

/* The directory of a new partition.  One left over by an earlier topic of
 * the name (a deletion cut short, a .topic file lost) is reused only when
 * it holds nothing but empty segment files; anything else there (data, a
 * symbolic link, a file) is moved to <data_dir>/.quarantine/, never
 * emptied and never followed. */
static int make_part_dir(struct part *p)
{
	struct store *st = p->topic->st;
	int rc;

	for (int tries = 0; tries < 3; tries++) {
		int kind;

		if (sysio->mkdir(p->dir, 0755) == 0)
			return 0;
		rc = -errno;
		if (rc != -EEXIST) {
			sio_log("mkdir", p->dir, rc);
			return rc;
		}
		kind = store_dir_inspect(st, part_dname(p), NULL);
		if (kind < 0) {
			sio_log("stat", p->dir, kind);
			return kind;
		}
		if (kind == DIR_EMPTY) {
			tfs_log(TFS_LOG_WARN, "storage: %s: left over from an earlier "
			        "topic, holding no records: reused", p->dir);
			remove_dir_files(p);
			return 0;
		}
		if (kind == DIR_NONE)
			continue;
		rc = store_quarantine(st, part_dname(p), "in the way of a new "
		                      "topic's partition");
		if (rc < 0)
			return rc;
	}
	return -EEXIST;
}

static int create_files(struct part *p)
{
	struct topic_config cfg;
	struct seg *s;
	int rc;

	topic_cfg(p->topic, &cfg);
	rc = make_part_dir(p);
	if (rc < 0)
		return rc;
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

int part_create_files(struct part *p)
{
	int rc;

	INV_LOAD_BEGIN(p);
	rc = create_files(p);
	INV_LOAD_END(p);
	return rc;
}

/* =========================== stream-start file =========================== */

int stream_start_write(struct part *p, int64_t base, int64_t pos)
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

/* ============================ segment listing ============================ */

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
	int fd = part_dir_open(p);
	DIR *d;
	struct dirent *de;
	int64_t *bases = NULL, base;
	size_t n = 0, cap = 0;
	int rc = 0;

	if (fd < 0)
		return fd;
	d = fdopendir(fd);
	if (!d) {
		rc = -errno;
		sio_log("opendir", p->dir, rc);
		sio_close(fd, p->dir);
		return rc;
	}
	while ((de = readdir(d))) {
		const char *name = de->d_name;
		char path[PATH_MAX];
		struct stat sb;

		if (name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", p->dir, name);
		/* a link is never followed, nor removed: refuse the partition */
		if (de->d_type == DT_LNK || (de->d_type == DT_UNKNOWN &&
		    fstatat(dirfd(d), name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISLNK(sb.st_mode))) {
			tfs_log(TFS_LOG_ERROR, "storage: %s: a symbolic link: refused "
			        "(topicfs never follows links in its data dir)", path);
			rc = -ELOOP;
			goto out;
		}
		if (!strcmp(name, "stream-start"))
			continue;
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
		    !has_suffix(name, ".timeindex") && !has_suffix(name, ".sindex") &&
		    !has_suffix(name, ".producers")))   /* producer.c */
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

/* ================================ loading ================================ */

int part_load(struct part *p, int64_t rp)
{
	struct topic_config cfg;
	int64_t *bases = NULL, ss_base, ss_pos, durable = INT64_MAX;
	size_t nb = 0;
	struct stat sb;
	int rc;

	topic_cfg(p->topic, &cfg);
	rc = list_segments(p, &bases, &nb);
	if (rc < 0)
		return rc;
	INV_LOAD_BEGIN(p);
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
	rc = part_recover_segments(p, rp, bases, nb, ss_base, ss_pos,
	                           cfg.index_interval_bytes, &durable);
	if (rc < 0)
		goto out;

publish:
	INV_P_WRITE(p);
	p->log_start_offset = p->segs[0]->base_offset;
	p->stream_start = p->segs[0]->stream_base;
	p->next_offset = part_active(p)->next_offset;
	p->stream_end = part_active(p)->stream_end;
	p->bytes_on_disk = 0;
	for (size_t i = 0; i < p->nsegs; i++)
		p->bytes_on_disk += p->segs[i]->size;
	p->recovery_point = p->next_offset;
	p->sealed_to = part_active(p)->base_offset;
	if (durable < p->next_offset) {
		/* recovery scanned from there: flushed like any write */
		p->recovery_point = durable;
		p->unflushed_records = p->next_offset - durable;
		p->first_unflushed_ms = tfs_mono_ms();
	}
	if (fstat(part_active(p)->fd, &sb) == 0)
		p->last_append_ms = (int64_t)sb.st_mtim.tv_sec * 1000 +
		                    sb.st_mtim.tv_nsec / 1000000;
	/* idempotent producers: snapshot + the batches after it */
	rc = prod_load(p);
out:
	INV_LOAD_END(p);
	free(bases);
	return rc;
}

/* =============================== deletion ================================ */

void part_delete_files(struct part *p)
{
	struct pending *list;
	char *ss;

	lock_rank(&p->qlock, RANK_PART_QLOCK);
	p->qdead = true;
	unlock_rank(&p->qlock);
	(void)writer_acquire(p);
	lock_rank(&p->qlock, RANK_PART_QLOCK);
	list = p->qhead;
	p->qhead = p->qtail = NULL;
	p->qbytes = 0;
	unlock_rank(&p->qlock);
	if (list)
		complete_list(p, list, NULL, -ENOENT, NULL);

	lock_rank(&p->lock, RANK_PART_LOCK);
	p->deleted = true;
	pthread_cond_broadcast(&p->cond);
	unlock_rank(&p->lock);

	for (size_t i = 0; i < p->nsegs; i++)
		seg_unlink_files(p->segs[i]);
	ss = part_file(p, "stream-start");
	if (ss) {
		sio_unlink(ss);
		free(ss);
	}
	remove_dir_files(p);
	if (sysio->rmdir(p->dir) < 0 && errno != ENOENT)
		sio_log("rmdir", p->dir, errno);
	writer_release(p);
}

/* ================================= info ================================== */

void part_info(struct part *p, struct part_info *out)
{
	struct part_info i = { 0 };

	lock_rank(&p->lock, RANK_PART_LOCK);
	i.log_start_offset = p->log_start_offset;
	i.next_offset = p->next_offset;
	i.stream_start = p->stream_start;
	i.stream_end = p->stream_end;
	i.segments = (int64_t)p->nsegs;
	i.bytes_on_disk = p->bytes_on_disk;
	i.last_append_ms = p->last_append_ms;
	i.recovery_point = p->recovery_point;
	unlock_rank(&p->lock);
	i.codec = p->topic->codec;
	i.framing = p->topic->framing;
	*out = i;
}
