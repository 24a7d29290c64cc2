/*
 * groups.c - consumer groups as the store keeps them (groups.h): the
 * committed offsets of every group, durable in an internal log, and what
 * the coordinator (net/srv_group.c) and the file view share about a group.
 *
 * DESIGN
 *
 * The table.  Groups live in a hash table of chains keyed by id (FNV-1a),
 * grown by doubling when it holds more groups than buckets.  A group is
 * one allocation with its id inline, a sorted array of its offsets (by
 * topic, then partition: lookups are binary searches, groups_fetch_all is
 * a copy), an array of its shell readers, and the coordinator's published
 * membership (NULL when none).  An idle group with a few offsets costs a
 * few hundred bytes.  A group with no offsets, no published membership
 * and no readers is freed at once, so the table holds only what is live.
 * At most max_groups groups exist at once (-EMFILE for a new one), except
 * that replay never drops a group for that reason.
 *
 * The log.  <data_dir>/.consumer-offsets/ holds <base>.log files (base:
 * 20 digits, the offset of the file's first record).  Each file is
 * RecordBatch v2 batches back to back, uncompressed, with Kafka's
 * __consumer_offsets schemas (big-endian; string = int16 length + bytes):
 *
 *   key   v1: int16 version (1), string group, string topic, int32 partition
 *   value v3: int16 version (3), int64 offset, int32 leader_epoch,
 *             string metadata (length -1 = null), int64 commit_timestamp
 *   a null value: a tombstone (the key's offset is forgotten)
 *
 * Record offsets continue across batches and files (next_offset).  Only
 * the newest file is appended to.  One groups_commit is one batch written
 * with one pwrite(2) at the tracked end of the file: a failed or short
 * write is cut off again (ftruncate to the old end) and nothing of the
 * call reaches the table, so a commit is all or nothing on disk and in
 * memory.  Everything the table needs after the write is allocated before
 * it.  fsync(2): every offsets_flush_messages records, or offsets_flush_ms
 * after the first unsynced one (groups_maintain), always at close and for
 * a compaction; a failed fsync of a commit is cut off like a failed write.
 *
 * Replay (groups_open).  Every <base>.log in base order, every batch
 * checked (header bounds, CRC-32C, full decode); at the first bad or torn
 * batch the file is truncated there (logged with the file and position),
 * never before.  Records apply in order (a tombstone removes).  A record
 * whose CRC is good but whose key or value is not the schema above (a
 * group metadata record, a newer version) is skipped with a warning.
 * Then offsets of topics that no longer exist (or of partitions past the
 * count) are tombstoned: a topic deleted while its tombstones could not be
 * written does not come back.
 *
 * Compaction.  When the files hold more than max(1 MiB, 4 x the encoded
 * size of the live table), the live records are written to
 * <next_offset>.log.tmp (batches of at most about 1 MiB), fsynced, renamed
 * to <next_offset>.log, the directory fsynced, and the older files
 * unlinked.  A crash between the rename and the unlinks leaves older files
 * that replay in order before the new one: the new file repeats every live
 * record, and every removal was a tombstone in the older files, so the
 * result is the same.  Such superseded files (more than one file at open)
 * are removed by compacting at open.  A failed compaction is logged, its
 * temp file removed, and retried at most once a minute.  Compaction runs
 * from the maintenance thread (about once a second), from a commit that
 * takes the log past twice the threshold (a burst between two passes), and
 * at close: so what a start replays is bounded by the live table, never by
 * the commits made (topicfs-bench-groups measures it).
 *
 * Expiry (groups_maintain).  A group with no Kafka members and no shell
 * readers whose last commit is older than offsets_retention_ms loses every
 * offset: one batch of tombstones per group (kept and retried next time
 * if the write fails).
 *
 * Locking.  One mutex, g->mu, guards everything in struct groups except
 * the immutable fields.  It is taken with no storage lock held
 * (INV_RANK_FREE) and no storage lock is taken under it (it ranks last,
 * RANK_GROUPS_MU), so store code may call in once it has dropped its own
 * locks (store_topic_delete -> groups_forget_topic).  groups_commit checks
 * topics (store_topic_get, store.mu) BEFORE it takes g->mu; a topic
 * deleted meanwhile is caught by forget_gen, which groups_forget_topic
 * bumps: the commit checks again when it moved.  The offsets log's
 * pwrite/fsync (and a compaction's writes) run under g->mu: commits are
 * ordered in the file exactly as in the table.
 */
#include "engine.h"
#include "stats.h"
#include "sysio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define GROUPS_DIR          ".consumer-offsets"
#define KEY_VERSION         1
#define VALUE_VERSION       3
#define COMPACT_FLOOR       ((uint64_t)1 << 20)   /* 1 MiB */
#define COMPACT_RATIO       4
#define COMPACT_BATCH_BYTES ((size_t)1 << 20)     /* records per batch */
#define COMPACT_RETRY_MS    60000
#define DEFAULT_RETENTION   (7LL * 24 * 3600 * 1000)
#define DEFAULT_MAX_GROUPS  10000
/* per-record overhead of the batch encoding, for the live-size estimate:
 * length, attributes, timestamp and offset deltas, key and value lengths,
 * header count (varints, generously) */
#define REC_OVERHEAD        24

/* ============================== structures =============================== */

struct goff {                   /* one committed offset */
	char *topic;                /* malloc'd */
	int32_t partition;
	int32_t leader_epoch;
	int64_t offset;
	int64_t commit_ms;
	char *meta;                 /* malloc'd, NULL = null metadata */
	int meta_len;
};

struct greader {                /* one shell reader */
	char *topic;                /* malloc'd */
	int32_t partition;
};

struct glive {                  /* what the coordinator published */
	char *state, *protocol_type, *protocol, *members_text;
	int32_t generation;
	int members;
};

struct group {
	struct group *next;         /* hash chain */
	uint32_t hash;
	struct goff *offs;          /* sorted by (topic, partition) */
	size_t noffs, offs_cap;
	struct greader *readers;
	size_t nreaders, readers_cap;
	struct glive *live;         /* NULL: nothing published */
	int64_t last_commit_ms;     /* wall clock of the newest commit */
	size_t id_len;
	char id[];                  /* NUL-terminated */
};

struct groups {
	pthread_mutex_t mu;
	struct store *st;           /* immutable */
	char *dir;                  /* immutable: <data_dir>/.consumer-offsets */
	int dfd;                    /* immutable: that directory, O_NOFOLLOW */
	int64_t retention_ms;       /* immutable: -1 never */
	size_t max_groups;          /* immutable */
	int64_t flush_messages;     /* immutable: 0 never */
	int64_t flush_ms;           /* immutable: 0 never */
	size_t max_batch;           /* immutable: the largest batch replayed */

	/* the table */
	struct group **buckets;     /* mu */
	size_t nbuckets;            /* mu: a power of two */
	size_t ngroups;             /* mu */
	size_t noffsets;            /* mu */
	uint64_t live_bytes;        /* mu: encoded size of the live records */

	/* the log */
	int fd;                     /* mu: the newest file, appended to */
	int64_t base;               /* mu: its base offset (its name) */
	int64_t end;                /* mu: its valid bytes; writes go here */
	bool tail_dirty;            /* mu: bytes past end could not be cut */
	uint64_t log_bytes;         /* mu: bytes of every file */
	int64_t next_offset;        /* mu: offset of the next record */
	int64_t unflushed;          /* mu: records written since the fsync */
	int64_t dirty_mono;         /* mu: first unsynced write, 0 = none */
	int64_t compact_after_mono; /* mu: no compaction before (a failure) */
	uint64_t compact_floor;     /* mu: COMPACT_FLOOR (tests change it) */
	uint64_t forget_gen;        /* mu (read atomically): bumped by
	                               groups_forget_topic */
	/* counters */
	uint64_t commits, expired, compactions;   /* mu */
};

/* ================================ locking ================================ */

static void g_lock(struct groups *g)
{
	/* taken with no storage lock held (see DESIGN: Locking) */
	INV_RANK_FREE(RANK_STORE_MU);
	lock_rank(&g->mu, RANK_GROUPS_MU);
}

static void g_unlock(struct groups *g)
{
	unlock_rank(&g->mu);
}

/* ================================ names ================================== */

int group_id_check(const char *id, size_t len)
{
	if (!id || len < 1 || len > GROUP_ID_MAX || memchr(id, '\0', len))
		return -EINVAL;
	return 0;
}

static bool name_plain(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' ||
	       c == ' ';
}

int group_name_encode(const char *id, size_t id_len, char *out, size_t out_len)
{
	static const char hex[] = "0123456789ABCDEF";
	bool dots = (id_len == 1 && id && id[0] == '.') ||
	            (id_len == 2 && id && id[0] == '.' && id[1] == '.');
	size_t n = 0;

	if (group_id_check(id, id_len) < 0)
		return -EINVAL;
	for (size_t i = 0; i < id_len; i++) {
		unsigned char c = (unsigned char)id[i];
		if (name_plain(c) && !dots) {
			if (n + 1 >= out_len)
				return -ENAMETOOLONG;
			out[n++] = (char)c;
		} else {
			if (n + 3 >= out_len)
				return -ENAMETOOLONG;
			out[n++] = '%';
			out[n++] = hex[c >> 4];
			out[n++] = hex[c & 15];
		}
	}
	if (n > 255)
		return -ENAMETOOLONG;
	out[n] = '\0';
	return (int)n;
}

static int hex_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;                  /* lower case is not canonical */
}

int group_name_decode(const char *name, char *out, size_t out_len)
{
	char id[GROUP_ID_MAX + 1], again[256 + 1];
	size_t n = 0, len;
	int rc;

	if (!name || !out)
		return -EINVAL;
	len = strlen(name);
	for (size_t i = 0; i < len; i++) {
		int c = (unsigned char)name[i];
		if (name[i] == '%') {
			int h, l;
			if (i + 2 >= len)
				return -EINVAL;
			h = hex_val(name[i + 1]);
			l = hex_val(name[i + 2]);
			if (h < 0 || l < 0)
				return -EINVAL;
			c = h * 16 + l;
			i += 2;
		}
		if (n == GROUP_ID_MAX)
			return -EINVAL;
		id[n++] = (char)c;
	}
	/* exactly one file name per id: re-encoding must give the name back */
	rc = group_name_encode(id, n, again, sizeof(again));
	if (rc < 0 || (size_t)rc != len || memcmp(again, name, len))
		return -EINVAL;
	if (n + 1 > out_len)
		return -ENAMETOOLONG;
	memcpy(out, id, n);
	out[n] = '\0';
	return (int)n;
}

/* ================================ the table ============================== */

static uint32_t id_hash(const char *id, size_t len)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)id[i];
		h *= 16777619u;
	}
	return h;
}

static struct group *tbl_find(struct groups *g, const char *id, size_t len)
{
	uint32_t h = id_hash(id, len);

	for (struct group *gr = g->buckets[h & (g->nbuckets - 1)]; gr; gr = gr->next)
		if (gr->hash == h && gr->id_len == len && !memcmp(gr->id, id, len))
			return gr;
	return NULL;
}

/* A group not in the table yet (tbl_insert puts it there). */
static struct group *group_new(const char *id, size_t len)
{
	struct group *gr = calloc(1, sizeof(*gr) + len + 1);

	if (!gr)
		return NULL;
	memcpy(gr->id, id, len);
	gr->id[len] = '\0';
	gr->id_len = len;
	gr->hash = id_hash(id, len);
	return gr;
}

static void live_free(struct glive *l)
{
	if (!l)
		return;
	free(l->state);
	free(l->protocol_type);
	free(l->protocol);
	free(l->members_text);
	free(l);
}

static void group_free(struct group *gr)
{
	for (size_t i = 0; i < gr->noffs; i++) {
		free(gr->offs[i].topic);
		free(gr->offs[i].meta);
	}
	free(gr->offs);
	for (size_t i = 0; i < gr->nreaders; i++)
		free(gr->readers[i].topic);
	free(gr->readers);
	live_free(gr->live);
	free(gr);
}

/* Never fails: a table that cannot grow keeps longer chains. */
static void tbl_insert(struct groups *g, struct group *gr)
{
	if (g->ngroups >= g->nbuckets) {
		size_t nb = g->nbuckets * 2;
		struct group **b = calloc(nb, sizeof(*b));
		if (b) {
			for (size_t i = 0; i < g->nbuckets; i++) {
				struct group *e = g->buckets[i], *next;
				for (; e; e = next) {
					next = e->next;
					e->next = b[e->hash & (nb - 1)];
					b[e->hash & (nb - 1)] = e;
				}
			}
			free(g->buckets);
			g->buckets = b;
			g->nbuckets = nb;
		}
	}
	gr->next = g->buckets[gr->hash & (g->nbuckets - 1)];
	g->buckets[gr->hash & (g->nbuckets - 1)] = gr;
	g->ngroups++;
}

static void tbl_remove(struct groups *g, struct group *gr)
{
	struct group **pp = &g->buckets[gr->hash & (g->nbuckets - 1)];

	while (*pp && *pp != gr)
		pp = &(*pp)->next;
	if (*pp) {
		*pp = gr->next;
		g->ngroups--;
	}
}

/* Free gr when nothing is left of it. */
static void group_gc(struct groups *g, struct group *gr)
{
	if (gr->noffs || gr->nreaders || gr->live)
		return;
	tbl_remove(g, gr);
	group_free(gr);
}

static int group_members(const struct group *gr)
{
	return gr->live ? gr->live->members : 0;
}

/* The encoded size of one live record (key + value + overhead). */
static uint64_t rec_size(size_t id_len, size_t topic_len, int meta_len)
{
	return REC_OVERHEAD + (2 + 2 + id_len + 2 + topic_len + 4) +
	       (2 + 8 + 4 + 2 + (size_t)(meta_len > 0 ? meta_len : 0) + 8);
}

static int goff_cmp(const char *topic, int32_t part, const struct goff *o)
{
	int c = strcmp(topic, o->topic);

	if (c)
		return c;
	return part < o->partition ? -1 : part > o->partition;
}

/* Index of (topic, part) in gr->offs, or -(insert position) - 1. */
static long offs_find(const struct group *gr, const char *topic, int32_t part)
{
	size_t lo = 0, hi = gr->noffs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = goff_cmp(topic, part, &gr->offs[mid]);
		if (c == 0)
			return (long)mid;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -(long)lo - 1;
}

static int offs_reserve(struct group *gr, size_t more)
{
	size_t cap;
	struct goff *v;

	if (gr->noffs + more <= gr->offs_cap)
		return 0;
	cap = gr->offs_cap ? gr->offs_cap : 4;
	while (cap < gr->noffs + more)
		cap *= 2;
	v = realloc(gr->offs, cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	gr->offs = v;
	gr->offs_cap = cap;
	return 0;
}

/* Set an offset, taking ownership of val->topic and val->meta (a topic
 * copy that is not needed is freed).  Room must be reserved. */
static void offs_set(struct groups *g, struct group *gr, struct goff *val)
{
	long at = offs_find(gr, val->topic, val->partition);

	if (at >= 0) {
		struct goff *o = &gr->offs[at];
		g->live_bytes -= rec_size(gr->id_len, strlen(o->topic), o->meta_len);
		free(val->topic);
		free(o->meta);
		val->topic = o->topic;
		*o = *val;
	} else {
		size_t pos = (size_t)(-at - 1);
		memmove(gr->offs + pos + 1, gr->offs + pos,
		        (gr->noffs - pos) * sizeof(*gr->offs));
		gr->offs[pos] = *val;
		gr->noffs++;
		g->noffsets++;
	}
	g->live_bytes += rec_size(gr->id_len, strlen(val->topic), val->meta_len);
	if (val->commit_ms > gr->last_commit_ms)
		gr->last_commit_ms = val->commit_ms;
}

static void offs_remove_at(struct groups *g, struct group *gr, size_t at)
{
	struct goff *o = &gr->offs[at];

	g->live_bytes -= rec_size(gr->id_len, strlen(o->topic), o->meta_len);
	free(o->topic);
	free(o->meta);
	memmove(gr->offs + at, gr->offs + at + 1,
	        (gr->noffs - at - 1) * sizeof(*gr->offs));
	gr->noffs--;
	g->noffsets--;
}

/* ============================ record encoding ============================ */

/*
 * A set of records being built: keys and values in one growing buffer
 * (kept as positions, since it moves), turned into struct rec_in only when
 * encoded.
 */
struct recset {
	uint8_t *buf;
	size_t len, cap;
	struct rs_rec {
		size_t key_pos, key_len, val_pos;
		int32_t val_len;        /* -1: tombstone */
		int64_t ts;
	} *r;
	size_t n, rcap;
	size_t bytes;               /* keys + values, for batch sizing */
};

static void rs_free(struct recset *rs)
{
	free(rs->buf);
	free(rs->r);
	memset(rs, 0, sizeof(*rs));
}

static void rs_clear(struct recset *rs)
{
	rs->len = rs->n = rs->bytes = 0;
}

static uint8_t *rs_room(struct recset *rs, size_t need)
{
	if (rs->len + need > rs->cap) {
		size_t cap = rs->cap ? rs->cap : 4096;
		while (cap < rs->len + need)
			cap *= 2;
		uint8_t *b = realloc(rs->buf, cap);
		if (!b)
			return NULL;
		rs->buf = b;
		rs->cap = cap;
	}
	return rs->buf + rs->len;
}

static uint8_t *put_str(uint8_t *p, const char *s, int len)
{
	be16_put(p, (uint16_t)(int16_t)len);
	if (len > 0)
		memcpy(p + 2, s, (size_t)len);
	return p + 2 + (len > 0 ? len : 0);
}

/* Add a record: the value when v is not NULL, else a tombstone. */
static int rs_add(struct recset *rs, const char *group, size_t glen,
                  const char *topic, int32_t part, const struct goff *v,
                  int64_t ts)
{
	size_t tlen = strlen(topic);
	size_t klen = 2 + 2 + glen + 2 + tlen + 4;
	size_t vlen = v ? 2 + 8 + 4 + 2 + (size_t)(v->meta ? v->meta_len : 0) + 8 : 0;
	uint8_t *p;

	if (rs->n == rs->rcap) {
		size_t cap = rs->rcap ? rs->rcap * 2 : 16;
		struct rs_rec *r = realloc(rs->r, cap * sizeof(*r));
		if (!r)
			return -ENOMEM;
		rs->r = r;
		rs->rcap = cap;
	}
	p = rs_room(rs, klen + vlen);
	if (!p)
		return -ENOMEM;
	rs->r[rs->n] = (struct rs_rec){ .key_pos = rs->len, .key_len = klen,
	                                .val_pos = rs->len + klen,
	                                .val_len = v ? (int32_t)vlen : -1,
	                                .ts = ts };
	be16_put(p, KEY_VERSION);
	p = put_str(p + 2, group, (int)glen);
	p = put_str(p, topic, (int)tlen);
	be32_put(p, (uint32_t)part);
	p += 4;
	if (v) {
		be16_put(p, VALUE_VERSION);
		be64_put(p + 2, (uint64_t)v->offset);
		be32_put(p + 10, (uint32_t)v->leader_epoch);
		p = put_str(p + 14, v->meta, v->meta ? v->meta_len : -1);
		be64_put(p, (uint64_t)v->commit_ms);
	}
	rs->len += klen + vlen;
	rs->bytes += klen + vlen;
	rs->n++;
	return 0;
}

/* Records [from, from + n) of rs as one batch at base. */
static int rs_encode(const struct recset *rs, size_t from, size_t n,
                     int64_t base, uint8_t **out, size_t *out_len)
{
	struct rec_in *ri = calloc(n ? n : 1, sizeof(*ri));
	int rc;

	if (!ri)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct rs_rec *r = &rs->r[from + i];
		ri[i].key = rs->buf + r->key_pos;
		ri[i].key_len = (int32_t)r->key_len;
		ri[i].value = r->val_len < 0 ? NULL : rs->buf + r->val_pos;
		ri[i].value_len = r->val_len;
		ri[i].timestamp = r->ts;
	}
	rc = batch_encode(ri, n, base, CODEC_NONE, tfs_now_ms(), out, out_len);
	free(ri);
	return rc;
}

/* A string of the schema: int16 length (-1 = null when nullable). */
static int get_str(const uint8_t **p, const uint8_t *end, bool nullable,
                   const char **s, int *len)
{
	int16_t l;

	if (end - *p < 2)
		return -EBADMSG;
	l = (int16_t)be16_get(*p);
	*p += 2;
	if (l == -1 && nullable) {
		*s = NULL;
		*len = -1;
		return 0;
	}
	if (l < 0 || end - *p < l)
		return -EBADMSG;
	*s = (const char *)*p;
	*len = l;
	*p += l;
	return 0;
}

struct rec_key {
	const char *group, *topic;
	int group_len, topic_len;
	int32_t partition;
};

/* -EBADMSG: not an offset-commit key of version 1 (or 0, the same
 * layout). */
static int key_decode(const uint8_t *p, int32_t len, struct rec_key *k)
{
	const uint8_t *end = p + len;
	int16_t ver;

	if (!p || len < 2)
		return -EBADMSG;
	ver = (int16_t)be16_get(p);
	p += 2;
	if (ver != 0 && ver != 1)
		return -EBADMSG;
	if (get_str(&p, end, false, &k->group, &k->group_len) < 0 ||
	    get_str(&p, end, false, &k->topic, &k->topic_len) < 0 ||
	    end - p != 4)
		return -EBADMSG;
	k->partition = (int32_t)be32_get(p);
	return 0;
}

/* Into v (meta pointing into the record: not owned). */
static int value_decode(const uint8_t *p, int32_t len, struct goff *v)
{
	const uint8_t *end = p + len;
	const char *meta;

	if (len < 2 || (int16_t)be16_get(p) != VALUE_VERSION)
		return -EBADMSG;
	p += 2;
	if (end - p < 12)
		return -EBADMSG;
	v->offset = (int64_t)be64_get(p);
	v->leader_epoch = (int32_t)be32_get(p + 8);
	p += 12;
	if (get_str(&p, end, true, &meta, &v->meta_len) < 0 || end - p != 8)
		return -EBADMSG;
	v->meta = (char *)meta;
	v->commit_ms = (int64_t)be64_get(p);
	return 0;
}

/* =============================== the log ================================= */

static void log_name(int64_t base, char *out, size_t cap, bool tmp)
{
	snprintf(out, cap, "%020" PRId64 ".log%s", base, tmp ? ".tmp" : "");
}

/* "<dir>/<20 digits>.log", for messages. */
static void log_path(const struct groups *g, int64_t base, char *out,
                     size_t cap)
{
	snprintf(out, cap, "%s/%020" PRId64 ".log", g->dir, base);
}

/* "<20 digits>.log": its base, else -1. */
static int64_t log_base(const char *name)
{
	int64_t b = 0;

	if (strspn(name, "0123456789") != 20 || strcmp(name + 20, ".log"))
		return -1;
	for (int i = 0; i < 20; i++) {
		if (b > (INT64_MAX - 9) / 10)
			return -1;
		b = b * 10 + (name[i] - '0');
	}
	return b;
}

/* The errno of a failed write as groups.h promises it. */
static int write_err(int err)
{
	return err == ENOSPC || err == EDQUOT || err == EFBIG ? -ENOSPC : -EIO;
}

/* Cut the newest file back to g->end (after a failed write or fsync).
 * When that fails too the next write tries again first: bytes past the
 * end are never followed by a valid batch. */
static void log_cut(struct groups *g)
{
	char path[PATH_MAX];

	log_path(g, g->base, path, sizeof(path));
	g->tail_dirty = sio_ftruncate(g->fd, g->end, path) < 0;
}

static int log_fsync(struct groups *g)
{
	char path[PATH_MAX];
	int rc;

	log_path(g, g->base, path, sizeof(path));
	rc = sio_fsync(g->fd, path);
	if (rc == 0) {
		g->unflushed = 0;
		g->dirty_mono = 0;
	}
	return rc;
}

/* Append records [from, from + n) of rs as one batch with one pwrite at
 * the end of the newest file, then fsync when the flush policy says so.
 * All or nothing: on failure the file is cut back and 0 records count. */
static int log_append(struct groups *g, const struct recset *rs, size_t from,
                      size_t n)
{
	uint8_t *batch = NULL;
	size_t len = 0;
	ssize_t w;
	int rc;

	if (n == 0)
		return 0;
	rc = rs_encode(rs, from, n, g->next_offset, &batch, &len);
	if (rc < 0)
		return rc;
	if (len > g->max_batch) {
		tfs_log(TFS_LOG_WARN, "storage: %s: a batch of %zu offsets is %zu "
		        "bytes, over the %zu bytes replay accepts: refused", g->dir,
		        n, len, g->max_batch);
		rc = -EMSGSIZE;
		goto out;
	}
	if (g->tail_dirty) {
		log_cut(g);
		if (g->tail_dirty) {
			rc = -EIO;
			goto out;
		}
	}
	do
		w = sysio->pwrite(g->fd, batch, len, (off_t)g->end);
	while (w < 0 && errno == EINTR);
	if (w != (ssize_t)len) {
		int err = w < 0 ? errno : ENOSPC;   /* short: the disk filled */
		char path[PATH_MAX];
		log_path(g, g->base, path, sizeof(path));
		sio_log("pwrite", path, err);
		log_cut(g);
		rc = write_err(err);
		goto out;
	}
	g->end += (int64_t)len;
	g->log_bytes += len;
	g->unflushed += (int64_t)n;
	if (g->flush_messages > 0 && g->unflushed >= g->flush_messages) {
		rc = log_fsync(g);
		if (rc < 0) {
			/* what the page cache holds is in doubt now: the batch
			 * goes, so the table and the file stay the same */
			g->end -= (int64_t)len;
			g->log_bytes -= len;
			g->unflushed -= (int64_t)n;
			log_cut(g);
			rc = -EIO;
			goto out;
		}
	} else if (g->flush_ms > 0 && !g->dirty_mono) {
		g->dirty_mono = tfs_mono_ms();
	}
	g->next_offset += (int64_t)n;
out:
	free(batch);
	return rc;
}

/* Write a recset in batches of at most about COMPACT_BATCH_BYTES of
 * records (tombstones for many groups); each batch all or nothing.  The
 * count of records written goes to *done. */
static int log_append_chunked(struct groups *g, const struct recset *rs,
                              size_t *done)
{
	size_t from = 0;

	*done = 0;
	while (from < rs->n) {
		size_t n = 0, bytes = 0;
		while (from + n < rs->n && (n == 0 || bytes < COMPACT_BATCH_BYTES)) {
			const struct rs_rec *r = &rs->r[from + n];
			/* REC_OVERHEAD: the record framing, so the encoded batch
			 * stays under what replay accepts */
			bytes += REC_OVERHEAD + r->key_len +
			         (r->val_len > 0 ? (size_t)r->val_len : 0);
			n++;
		}
		int rc = log_append(g, rs, from, n);
		if (rc < 0)
			return rc;
		from += n;
		*done = from;
	}
	return 0;
}

/* The names of the log files in the directory, sorted by base. */
static int log_list(struct groups *g, int64_t **bases, size_t *count)
{
	int fd = openat(g->dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int64_t *v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d;
	int rc = 0;

	if (fd < 0 || !(d = fdopendir(fd))) {
		rc = -errno;
		if (fd >= 0)
			close(fd);
		sio_log("opendir", g->dir, rc);
		return rc;
	}
	while ((de = readdir(d))) {
		int64_t b = log_base(de->d_name);
		if (b < 0)
			continue;
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 8;
			int64_t *nv = realloc(v, nc * sizeof(*nv));
			if (!nv) {
				rc = -ENOMEM;
				break;
			}
			v = nv;
			cap = nc;
		}
		v[n++] = b;
	}
	closedir(d);
	if (rc < 0) {
		free(v);
		return rc;
	}
	for (size_t i = 1; i < n; i++)          /* insertion sort: few files */
		for (size_t j = i; j > 0 && v[j - 1] > v[j]; j--) {
			int64_t t = v[j];
			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	*bases = v;
	*count = n;
	return 0;
}

static int unlink_log(struct groups *g, const char *name)
{
	if (sysio->unlinkat(g->dfd, name, 0) < 0 && errno != ENOENT) {
		int err = errno;
		char what[PATH_MAX];
		snprintf(what, sizeof(what), "%s/%s", g->dir, name);
		sio_log("unlink", what, err);
		return -err;
	}
	return 0;
}

/* Compaction: every live record into <next_offset>.log.tmp, fsync,
 * rename, directory fsync, then the older files go.  On failure nothing
 * changed (the temp file is removed). */
static int log_compact(struct groups *g)
{
	int64_t base = g->next_offset, off = base, *bases = NULL;
	char tmp[64], name[64], what[PATH_MAX];
	struct recset rs = { 0 };
	size_t nbases = 0;
	int64_t pos = 0;
	int fd, rc = 0;

	log_name(base, tmp, sizeof(tmp), true);
	log_name(base, name, sizeof(name), false);
	snprintf(what, sizeof(what), "%s/%s", g->dir, tmp);
	if ((rc = unlink_log(g, tmp)) < 0)
		return rc;
	fd = sio_openat(g->dfd, tmp, O_RDWR | O_CREAT | O_EXCL, 0600, what);
	if (fd < 0)
		return fd;
	for (size_t b = 0; b < g->nbuckets && rc == 0; b++) {
		for (struct group *gr = g->buckets[b]; gr && rc == 0; gr = gr->next) {
			for (size_t i = 0; i < gr->noffs && rc == 0; i++) {
				struct goff *o = &gr->offs[i];
				rc = rs_add(&rs, gr->id, gr->id_len, o->topic,
				            o->partition, o, o->commit_ms);
				/* the encoded size, framing included (REC_OVERHEAD
				 * per record): replay refuses a batch over max_batch,
				 * which is 1 MiB + 64 KiB at the smallest */
				if (rc == 0 && rs.bytes + rs.n * REC_OVERHEAD >=
				    COMPACT_BATCH_BYTES) {
					uint8_t *batch;
					size_t len;
					rc = rs_encode(&rs, 0, rs.n, off, &batch, &len);
					if (rc == 0) {
						rc = sio_pwrite_all(fd, batch, len, pos, what);
						free(batch);
						pos += (int64_t)len;
						off += (int64_t)rs.n;
					}
					rs_clear(&rs);
				}
			}
		}
	}
	if (rc == 0 && rs.n) {
		uint8_t *batch;
		size_t len;
		rc = rs_encode(&rs, 0, rs.n, off, &batch, &len);
		if (rc == 0) {
			rc = sio_pwrite_all(fd, batch, len, pos, what);
			free(batch);
			pos += (int64_t)len;
			off += (int64_t)rs.n;
		}
	}
	rs_free(&rs);
	if (rc == 0)
		rc = sio_fsync(fd, what);
	if (rc == 0 && sysio->renameat(g->dfd, tmp, g->dfd, name) < 0) {
		rc = -errno;
		sio_log("rename", what, rc);
	}
	if (rc < 0) {
		sio_close(fd, what);
		unlink_log(g, tmp);
		return rc;
	}
	/* the new file is the log from here on, whatever happens to the
	 * older ones: replaying them first gives the same table */
	sio_fsync(g->dfd, g->dir);
	sio_close(g->fd, g->dir);
	g->fd = fd;
	g->base = base;
	g->end = pos;
	g->tail_dirty = false;
	g->log_bytes = (uint64_t)pos;
	g->next_offset = off;
	g->unflushed = 0;
	g->dirty_mono = 0;
	g->compactions++;
	if (log_list(g, &bases, &nbases) == 0) {
		for (size_t i = 0; i < nbases; i++) {
			if (bases[i] == base)
				continue;
			log_name(bases[i], name, sizeof(name), false);
			if (unlink_log(g, name) < 0) {
				struct stat sb;
				if (fstatat(g->dfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0)
					g->log_bytes += (uint64_t)sb.st_size;
			}
		}
		free(bases);
		sio_fsync(g->dfd, g->dir);
	}
	return 0;
}

static uint64_t compact_threshold(const struct groups *g)
{
	uint64_t live = COMPACT_RATIO * (g->live_bytes + BATCH_HEADER_SIZE +
	                                 BATCH_LOG_OVERHEAD);
	return live > g->compact_floor ? live : g->compact_floor;
}

static void maybe_compact(struct groups *g, bool force)
{
	int64_t now = tfs_mono_ms();
	uint64_t before = g->log_bytes;
	int rc;

	if (!force && g->log_bytes <= compact_threshold(g))
		return;
	if (now < g->compact_after_mono)
		return;
	rc = log_compact(g);
	if (rc < 0) {
		g->compact_after_mono = now + COMPACT_RETRY_MS;
		tfs_log(TFS_LOG_ERROR, "storage: %s: compaction failed: %s (the log "
		        "keeps growing; retried in %d s)", g->dir, strerror(-rc),
		        COMPACT_RETRY_MS / 1000);
		return;
	}
	tfs_log(TFS_LOG_DEBUG, "storage: %s: compacted %" PRIu64 " bytes to %"
	        PRIu64 " (%zu offsets)", g->dir, before, g->log_bytes, g->noffsets);
}

/* ================================ replay ================================= */

/* Apply one replayed record.  -ENOMEM fails the open; a record that is not
 * ours is skipped (*skipped counts it). */
static int replay_record(struct groups *g, const struct record *r,
                         uint64_t *skipped)
{
	struct rec_key k;
	struct goff v = { 0 };
	char topic[256];
	struct group *gr;

	if (key_decode(r->key, r->key_len, &k) < 0 ||
	    group_id_check(k.group, (size_t)k.group_len) < 0 ||
	    k.topic_len < 1 || k.topic_len >= (int)sizeof(topic) ||
	    k.partition < 0)
		goto skip;
	memcpy(topic, k.topic, (size_t)k.topic_len);
	topic[k.topic_len] = '\0';
	if (topic_name_check(topic) < 0)
		goto skip;
	gr = tbl_find(g, k.group, (size_t)k.group_len);
	if (!r->value) {                    /* tombstone */
		long at;
		if (!gr || (at = offs_find(gr, topic, k.partition)) < 0)
			return 0;
		offs_remove_at(g, gr, (size_t)at);
		group_gc(g, gr);
		return 0;
	}
	if (value_decode(r->value, r->value_len, &v) < 0 || v.offset < 0 ||
	    v.meta_len > GROUP_META_MAX)
		goto skip;
	if (!gr) {
		gr = group_new(k.group, (size_t)k.group_len);
		if (!gr)
			return -ENOMEM;
		tbl_insert(g, gr);
	}
	v.partition = k.partition;
	v.topic = strdup(topic);
	if (v.meta) {
		const char *src = v.meta;
		v.meta = malloc((size_t)v.meta_len + 1);
		if (v.meta) {
			memcpy(v.meta, src, (size_t)v.meta_len);
			v.meta[v.meta_len] = '\0';
		}
	}
	if (!v.topic || (v.meta_len >= 0 && !v.meta) || offs_reserve(gr, 1) < 0) {
		free(v.topic);
		free(v.meta);
		group_gc(g, gr);
		return -ENOMEM;
	}
	offs_set(g, gr, &v);
	return 0;
skip:
	(*skipped)++;
	return 0;
}

/* Replay one file.  The newest stays open as the file appended to. */
static int replay_file(struct groups *g, int64_t base, bool newest,
                       uint64_t *skipped)
{
	char name[64], what[PATH_MAX];
	const uint8_t *map = NULL;
	struct stat sb;
	int64_t pos = 0;
	const char *why = NULL;
	int fd, rc = 0;

	log_name(base, name, sizeof(name), false);
	snprintf(what, sizeof(what), "%s/%s", g->dir, name);
	fd = sio_openat(g->dfd, name, O_RDWR, 0, what);
	if (fd < 0)
		return fd;
	if (fstat(fd, &sb) < 0) {
		rc = -errno;
		sio_log("fstat", what, rc);
		goto close_fd;
	}
	if (!S_ISREG(sb.st_mode)) {
		tfs_log(TFS_LOG_ERROR, "storage: %s: not a regular file: refused",
		        what);
		rc = -EINVAL;
		goto close_fd;
	}
	if (sb.st_size > 0) {
		map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (map == MAP_FAILED) {
			rc = -errno;
			map = NULL;
			sio_log("mmap", what, rc);
			goto close_fd;
		}
	}
	while (pos < sb.st_size) {
		struct batch_header h;
		struct batch_decoded d;
		size_t left = (size_t)(sb.st_size - pos), blen;

		int prc = batch_parse_header(map + pos, left, &h);

		if (prc < 0) {
			why = prc == -EAGAIN || left < BATCH_LOG_OVERHEAD ?
			      "torn batch" : "bad batch header";
			break;
		}
		blen = (size_t)h.length + BATCH_LOG_OVERHEAD;
		if (blen > g->max_batch) {
			why = "batch over the size limit";
			break;
		}
		if (batch_check_crc(map + pos, blen) < 0) {
			why = "bad CRC";
			break;
		}
		if (batch_decode(map + pos, blen, g->max_batch, &d) < 0) {
			why = "batch does not decode";
			break;
		}
		for (size_t i = 0; i < d.nrecs && rc == 0; i++)
			rc = replay_record(g, &d.recs[i], skipped);
		batch_decoded_free(&d);
		if (rc < 0)
			goto unmap;
		if (h.base_offset + h.last_offset_delta + 1 > g->next_offset)
			g->next_offset = h.base_offset + h.last_offset_delta + 1;
		pos += (int64_t)blen;
	}
	if (pos < sb.st_size) {
		tfs_log(TFS_LOG_WARN, "storage: %s: %s at position %" PRId64 ": "
		        "truncated there (%" PRId64 " bytes cut, the offsets before "
		        "it kept)", what, why, pos, (int64_t)sb.st_size - pos);
		tfs_stat_add(TFS_STAT_TRUNCATIONS, 1);
		rc = sio_ftruncate(fd, pos, what);
		if (rc == 0)
			rc = sio_fsync(fd, what);
		if (rc < 0)
			goto unmap;
	}
	if (base > g->next_offset)
		g->next_offset = base;
	g->log_bytes += (uint64_t)pos;
unmap:
	if (map)
		munmap((void *)map, (size_t)sb.st_size);
	if (rc == 0 && newest) {
		g->fd = fd;
		g->base = base;
		g->end = pos;
		return 0;
	}
close_fd:
	sio_close(fd, what);
	return rc;
}

/* Offsets of topics that are gone (or partitions past the count) are
 * tombstoned: their deletion's tombstones may not have been written. */
static int purge_unknown_topics(struct groups *g)
{
	struct known { char *name; int32_t nparts; } *kn = NULL;
	size_t nkn = 0, kcap = 0, done = 0;
	struct recset rs = { 0 };
	int rc = 0;

	for (size_t b = 0; b < g->nbuckets && rc == 0; b++) {
		for (struct group *gr = g->buckets[b]; gr && rc == 0; gr = gr->next) {
			for (size_t i = 0; i < gr->noffs && rc == 0; i++) {
				struct goff *o = &gr->offs[i];
				size_t k = 0;
				while (k < nkn && strcmp(kn[k].name, o->topic))
					k++;
				if (k == nkn) {
					struct topic *t;
					if (nkn == kcap) {
						size_t nc = kcap ? kcap * 2 : 16;
						struct known *nv = realloc(kn, nc * sizeof(*nv));
						if (!nv) {
							rc = -ENOMEM;
							break;
						}
						kn = nv;
						kcap = nc;
					}
					kn[nkn].name = strdup(o->topic);
					kn[nkn].nparts = -1;
					if (!kn[nkn].name) {
						rc = -ENOMEM;
						break;
					}
					if (store_topic_get(g->st, o->topic, &t) == 0) {
						kn[nkn].nparts = topic_partitions(t);
						topic_put(t);
					}
					nkn++;
				}
				if (o->partition < kn[k].nparts)
					continue;
				rc = rs_add(&rs, gr->id, gr->id_len, o->topic,
				            o->partition, NULL, tfs_now_ms());
			}
		}
	}
	if (rc == 0 && rs.n) {
		rc = log_append_chunked(g, &rs, &done);
		tfs_log(rc < 0 ? TFS_LOG_ERROR : TFS_LOG_WARN, "storage: %s: %zu "
		        "offsets of topics or partitions that no longer exist "
		        "forgotten%s", g->dir, rs.n, rc < 0 ? " (their tombstones "
		        "could not all be written: tried again at the next start)" :
		        "");
		rc = 0;
		/* forgotten in memory either way */
		for (size_t b = 0; b < g->nbuckets; b++) {
			struct group *gr = g->buckets[b], *next;
			for (; gr; gr = next) {
				next = gr->next;
				for (size_t i = gr->noffs; i-- > 0;) {
					struct goff *o = &gr->offs[i];
					size_t k = 0;
					while (k < nkn && strcmp(kn[k].name, o->topic))
						k++;
					if (k < nkn && o->partition >= kn[k].nparts)
						offs_remove_at(g, gr, i);
				}
				group_gc(g, gr);
			}
		}
	}
	rs_free(&rs);
	for (size_t k = 0; k < nkn; k++)
		free(kn[k].name);
	free(kn);
	return rc;
}

/* ============================= open and close ============================ */

static void groups_free(struct groups *g)
{
	/* the table may be missing: groups_open failed to allocate it */
	for (size_t b = 0; g->buckets && b < g->nbuckets; b++) {
		struct group *gr = g->buckets[b], *next;
		for (; gr; gr = next) {
			next = gr->next;
			group_free(gr);
		}
	}
	free(g->buckets);
	if (g->fd >= 0)
		sio_close(g->fd, g->dir);
	if (g->dfd >= 0)
		sio_close(g->dfd, g->dir);
	pthread_mutex_destroy(&g->mu);
	free(g->dir);
	free(g);
}

/* Leftover temp files go; anything else unknown is left alone. */
static void clean_dir(struct groups *g)
{
	int fd = openat(g->dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *de;
	DIR *d;

	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(d))) {
		const char *n = de->d_name;
		size_t len = strlen(n);
		if (!strcmp(n, ".") || !strcmp(n, "..") || log_base(n) >= 0)
			continue;
		if (len > 4 && !strcmp(n + len - 4, ".tmp")) {
			tfs_log(TFS_LOG_WARN, "storage: %s/%s: leftover temp file, "
			        "removed", g->dir, n);
			unlink_log(g, n);
		} else {
			tfs_log(TFS_LOG_WARN, "storage: %s/%s: not a file of the "
			        "offsets log, ignored", g->dir, n);
		}
	}
	closedir(d);
}

int groups_open(struct store *st, const struct store_options *opts,
                struct groups **out)
{
	struct groups *g = calloc(1, sizeof(*g));
	int64_t *bases = NULL, t0 = tfs_mono_ms();
	size_t nbases = 0;
	uint64_t skipped = 0;
	bool made = false;
	int rc;

	if (!g)
		return -ENOMEM;
	pthread_mutex_init(&g->mu, NULL);
	g->st = st;
	g->fd = -1;
	g->dfd = -1;
	g->retention_ms = opts->offsets_retention_ms ? opts->offsets_retention_ms
	                                             : DEFAULT_RETENTION;
	g->max_groups = opts->max_groups ? opts->max_groups : DEFAULT_MAX_GROUPS;
	g->flush_messages = opts->offsets_flush_messages;
	g->flush_ms = opts->offsets_flush_ms;
	g->max_batch = st->max_decomp + ((size_t)1 << 20);
	if (g->max_batch > INT32_MAX)
		g->max_batch = INT32_MAX;
	g->compact_floor = COMPACT_FLOOR;
	g->nbuckets = 64;
	g->buckets = calloc(g->nbuckets, sizeof(*g->buckets));
	g->dir = malloc(strlen(st->dir) + sizeof(GROUPS_DIR) + 1);
	if (!g->buckets || !g->dir) {
		rc = -ENOMEM;
		goto fail;
	}
	sprintf(g->dir, "%s/%s", st->dir, GROUPS_DIR);
	if (sysio->mkdir(g->dir, 0700) == 0) {
		made = true;
	} else if (errno != EEXIST) {
		rc = -errno;
		sio_log("mkdir", g->dir, rc);
		goto fail;
	}
	/* O_NOFOLLOW (sysio): a link in its place refuses the start */
	g->dfd = sio_openat(st->dfd, GROUPS_DIR, O_RDONLY | O_DIRECTORY, 0, g->dir);
	if (g->dfd < 0) {
		rc = g->dfd;
		goto fail;
	}
	if (made && (rc = sio_fsync(st->dfd, st->dir)) < 0)
		goto fail;
	clean_dir(g);
	rc = log_list(g, &bases, &nbases);
	if (rc < 0)
		goto fail;
	for (size_t i = 0; i < nbases; i++) {
		rc = replay_file(g, bases[i], i + 1 == nbases, &skipped);
		if (rc < 0)
			goto fail;
	}
	if (skipped)
		tfs_log(TFS_LOG_WARN, "storage: %s: %" PRIu64 " records that are not "
		        "offset commits of a known version skipped", g->dir, skipped);
	if (nbases == 0) {
		char name[64], what[PATH_MAX];
		log_name(0, name, sizeof(name), false);
		snprintf(what, sizeof(what), "%s/%s", g->dir, name);
		g->fd = sio_openat(g->dfd, name, O_RDWR | O_CREAT | O_EXCL, 0600, what);
		if (g->fd < 0) {
			rc = g->fd;
			goto fail;
		}
		g->base = 0;
		if ((rc = sio_fsync(g->dfd, g->dir)) < 0)
			goto fail;
	}
	rc = purge_unknown_topics(g);
	if (rc < 0)
		goto fail;
	/* more than one file: a crash came between a compaction's rename and
	 * its unlinks; compacting now leaves one file that holds it all */
	maybe_compact(g, nbases > 1);
	if (nbases > 1 && g->compactions == 0)
		tfs_log(TFS_LOG_WARN, "storage: %s: superseded log files kept (the "
		        "compaction failed); they replay correctly", g->dir);
	tfs_log(TFS_LOG_INFO, "storage: %s: %zu groups, %zu committed offsets "
	        "(%zu files, %" PRIu64 " bytes replayed in %" PRId64 " ms)",
	        g->dir, g->ngroups, g->noffsets, nbases, g->log_bytes,
	        tfs_mono_ms() - t0);
	free(bases);
	*out = g;
	return 0;
fail:
	free(bases);
	groups_free(g);
	return rc;
}

void groups_close(struct groups *g)
{
	if (!g)
		return;
	g_lock(g);
	maybe_compact(g, false);    /* the next start replays the live table */
	if (g->fd >= 0)
		log_fsync(g);           /* always: the last commits are durable */
	g_unlock(g);
	groups_free(g);
}

struct groups *store_groups(struct store *st)
{
	return st ? st->groups : NULL;
}

/* ================================ offsets ================================ */

/* Each entry's own checks, the topic's existence included (store.mu: with
 * g->mu not held).  Returns the count of valid entries. */
static size_t commit_check(struct groups *g, struct group_commit *c, size_t n)
{
	const char *last_topic = NULL;
	int32_t last_nparts = -1;
	size_t valid = 0;

	for (size_t i = 0; i < n; i++) {
		struct group_commit *e = &c[i];
		e->error = 0;
		if (e->offset < 0 || (e->metadata && e->metadata_len < 0)) {
			e->error = -EINVAL;
			continue;
		}
		if (e->metadata && e->metadata_len > GROUP_META_MAX) {
			e->error = -EMSGSIZE;
			continue;
		}
		if (!e->topic || topic_name_check(e->topic) < 0 || e->partition < 0) {
			e->error = -ENOENT;
			continue;
		}
		if (!last_topic || strcmp(last_topic, e->topic)) {
			struct topic *t;
			last_topic = e->topic;
			last_nparts = -1;
			if (store_topic_get(g->st, e->topic, &t) == 0) {
				last_nparts = topic_partitions(t);
				topic_put(t);
			}
		}
		if (e->partition >= last_nparts) {
			e->error = -ENOENT;
			continue;
		}
		valid++;
	}
	return valid;
}

static void goffs_free(struct goff *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].topic);
		free(v[i].meta);
	}
	free(v);
}

int groups_commit(struct groups *g, const char *group, struct group_commit *c,
                  size_t n, unsigned flags)
{
	struct recset rs = { 0 };
	struct goff *vals = NULL;
	struct group *gr;
	size_t glen, nvalid, j = 0;
	bool fresh = false;
	int64_t now;
	int rc = 0;

	if (!g || !group || (!c && n))
		return -EINVAL;
	glen = strlen(group);
	if (group_id_check(group, glen) < 0)
		return -EINVAL;
	for (;;) {
		uint64_t gen = __atomic_load_n(&g->forget_gen, __ATOMIC_ACQUIRE);
		nvalid = commit_check(g, c, n);
		g_lock(g);
		/* a topic deleted since the check: check again */
		if (g->forget_gen == gen)
			break;
		g_unlock(g);
	}
	gr = tbl_find(g, group, glen);
	if ((flags & GROUPS_IF_UNHELD) && gr &&
	    (group_members(gr) > 0 || gr->nreaders > 0)) {
		rc = -EBUSY;
		goto unlock;
	}
	if (nvalid == 0)
		goto unlock;
	if (!gr) {
		if (g->ngroups >= g->max_groups) {
			rc = -EMFILE;
			goto unlock;
		}
		gr = group_new(group, glen);
		if (!gr) {
			rc = -ENOMEM;
			goto unlock;
		}
		fresh = true;
	}
	/* everything the table needs is allocated before the write: after
	 * it, nothing may fail */
	vals = calloc(nvalid, sizeof(*vals));
	if (!vals || offs_reserve(gr, nvalid) < 0) {
		rc = -ENOMEM;
		goto free_vals;
	}
	now = tfs_now_ms();
	for (size_t i = 0; i < n; i++) {
		const struct group_commit *e = &c[i];
		struct goff *v = &vals[j];
		if (e->error)
			continue;
		j++;
		v->topic = strdup(e->topic);
		v->partition = e->partition;
		v->offset = e->offset;
		v->leader_epoch = e->leader_epoch;
		v->commit_ms = now;
		v->meta_len = e->metadata ? e->metadata_len : -1;
		if (e->metadata) {
			v->meta = malloc((size_t)e->metadata_len + 1);
			if (v->meta) {
				memcpy(v->meta, e->metadata, (size_t)e->metadata_len);
				v->meta[e->metadata_len] = '\0';
			}
		}
		if (!v->topic || (e->metadata && !v->meta) ||
		    rs_add(&rs, group, glen, e->topic, e->partition, v, now) < 0) {
			rc = -ENOMEM;
			goto free_vals;
		}
	}
	rc = log_append(g, &rs, 0, rs.n);
	if (rc < 0)
		goto free_vals;
	if (fresh) {
		tbl_insert(g, gr);
		fresh = false;
	}
	for (size_t i = 0; i < nvalid; i++)
		offs_set(g, gr, &vals[i]);     /* takes the strings */
	g->commits += nvalid;
	/* The maintenance thread compacts about once a second; a burst of
	 * commits in between must not grow what the next start replays
	 * (also after a kill -9), so past twice the threshold the commit
	 * that crossed it compacts.  Amortized: the threshold is at least
	 * COMPACT_RATIO times the live table. */
	if (g->log_bytes > 2 * compact_threshold(g))
		maybe_compact(g, false);
	free(vals);
	vals = NULL;
	j = 0;
free_vals:
	goffs_free(vals, j);
	if (fresh)
		group_free(gr);
unlock:
	g_unlock(g);
	rs_free(&rs);
	return rc;
}

void group_offset_clear(struct group_offset *o)
{
	if (!o)
		return;
	free(o->metadata);
	o->metadata = NULL;
	o->metadata_len = 0;
}

static int goff_copy(const struct goff *o, struct group_offset *out)
{
	char *meta = NULL;

	if (o->meta) {
		meta = malloc((size_t)o->meta_len + 1);
		if (!meta)
			return -ENOMEM;
		memcpy(meta, o->meta, (size_t)o->meta_len + 1);
	}
	memset(out, 0, sizeof(*out));
	snprintf(out->topic, sizeof(out->topic), "%s", o->topic);
	out->partition = o->partition;
	out->offset = o->offset;
	out->leader_epoch = o->leader_epoch;
	out->commit_ms = o->commit_ms;
	out->metadata = meta;
	out->metadata_len = o->meta ? o->meta_len : -1;
	return 0;
}

int groups_fetch(struct groups *g, const char *group, const char *topic,
                 int32_t partition, struct group_offset *out)
{
	struct group *gr;
	long at;
	int rc = -ENOENT;

	if (!g || !group || !topic || !out)
		return -EINVAL;
	g_lock(g);
	gr = tbl_find(g, group, strlen(group));
	if (gr && (at = offs_find(gr, topic, partition)) >= 0)
		rc = goff_copy(&gr->offs[at], out);
	g_unlock(g);
	return rc;
}

void group_offsets_free(struct group_offset *o, size_t n)
{
	if (!o)
		return;
	for (size_t i = 0; i < n; i++)
		free(o[i].metadata);
	free(o);
}

int groups_fetch_all(struct groups *g, const char *group,
                     struct group_offset **out, size_t *n)
{
	struct group_offset *v = NULL;
	struct group *gr;
	size_t i = 0;
	int rc = 0;

	if (!g || !group || !out || !n)
		return -EINVAL;
	g_lock(g);
	gr = tbl_find(g, group, strlen(group));
	if (gr && gr->noffs) {
		v = calloc(gr->noffs, sizeof(*v));
		if (!v)
			rc = -ENOMEM;
		for (; v && i < gr->noffs && rc == 0; i++)
			rc = goff_copy(&gr->offs[i], &v[i]);
	}
	g_unlock(g);
	if (rc < 0) {
		group_offsets_free(v, i);
		return rc;
	}
	*out = v;
	*n = i;
	return 0;
}

int groups_delete_offset(struct groups *g, const char *group,
                         const char *topic, int32_t partition)
{
	struct recset rs = { 0 };
	struct group *gr;
	long at;
	int rc;

	if (!g || !group || !topic)
		return -EINVAL;
	g_lock(g);
	gr = tbl_find(g, group, strlen(group));
	if (!gr || (at = offs_find(gr, topic, partition)) < 0) {
		rc = -ENOENT;
		goto unlock;
	}
	rc = rs_add(&rs, gr->id, gr->id_len, topic, partition, NULL, tfs_now_ms());
	if (rc == 0)
		rc = log_append(g, &rs, 0, rs.n);
	if (rc == 0) {
		offs_remove_at(g, gr, (size_t)at);
		group_gc(g, gr);
	}
unlock:
	g_unlock(g);
	rs_free(&rs);
	return rc;
}

/* The index of the first offset of topic in gr->offs (or where it would
 * be); partitions are never negative. */
static size_t offs_topic_start(const struct group *gr, const char *topic)
{
	long at = offs_find(gr, topic, -1);

	return at >= 0 ? (size_t)at : (size_t)(-at - 1);
}

void groups_forget_topic(struct groups *g, const char *topic)
{
	struct recset rs = { 0 };
	size_t done = 0;
	int rc = 0;

	if (!g || !topic)
		return;
	g_lock(g);
	for (size_t b = 0; b < g->nbuckets && rc == 0; b++) {
		for (struct group *gr = g->buckets[b]; gr && rc == 0; gr = gr->next) {
			size_t i = offs_topic_start(gr, topic);
			for (; i < gr->noffs && !strcmp(gr->offs[i].topic, topic) &&
			       rc == 0; i++)
				rc = rs_add(&rs, gr->id, gr->id_len, topic,
				            gr->offs[i].partition, NULL, tfs_now_ms());
		}
	}
	if (rc == 0)
		rc = log_append_chunked(g, &rs, &done);
	if (rc < 0)
		tfs_log(TFS_LOG_ERROR, "storage: %s: tombstones for deleted topic %s "
		        "not written: %s (forgotten now; the next start forgets "
		        "them again)", g->dir, topic, strerror(-rc));
	/* forgotten in memory whatever the log says: the topic is gone */
	for (size_t b = 0; b < g->nbuckets; b++) {
		struct group *gr = g->buckets[b], *next;
		for (; gr; gr = next) {
			size_t i = offs_topic_start(gr, topic);
			next = gr->next;
			while (i < gr->noffs && !strcmp(gr->offs[i].topic, topic))
				offs_remove_at(g, gr, i);
			group_gc(g, gr);
		}
	}
	__atomic_add_fetch(&g->forget_gen, 1, __ATOMIC_RELEASE);
	g_unlock(g);
	rs_free(&rs);
}

/* =========================== groups as a whole =========================== */

static char *dup_or_empty(const char *s)
{
	return strdup(s ? s : "");
}

int groups_publish(struct groups *g, const char *group,
                   const struct group_live *live)
{
	struct glive *l = NULL;
	struct group *gr;
	size_t glen;
	int rc = 0;

	if (!g || !group)
		return -EINVAL;
	glen = strlen(group);
	if (group_id_check(group, glen) < 0)
		return -EINVAL;
	if (live) {
		l = calloc(1, sizeof(*l));
		if (!l)
			return -ENOMEM;
		l->state = dup_or_empty(live->state);
		l->protocol_type = dup_or_empty(live->protocol_type);
		l->protocol = dup_or_empty(live->protocol);
		l->members_text = live->members_text ? strdup(live->members_text) : NULL;
		l->generation = live->generation;
		l->members = live->members;
		if (!l->state || !l->protocol_type || !l->protocol ||
		    (live->members_text && !l->members_text)) {
			live_free(l);
			return -ENOMEM;
		}
	}
	g_lock(g);
	gr = tbl_find(g, group, glen);
	if (!gr && l) {
		if (g->ngroups >= g->max_groups) {
			rc = -EMFILE;
			goto unlock;
		}
		gr = group_new(group, glen);
		if (!gr) {
			rc = -ENOMEM;
			goto unlock;
		}
		tbl_insert(g, gr);
	}
	if (gr) {
		live_free(gr->live);
		gr->live = l;
		l = NULL;
		group_gc(g, gr);
	}
unlock:
	g_unlock(g);
	live_free(l);
	return rc;
}

static void info_fill(const struct group *gr, struct group_info *gi)
{
	snprintf(gi->state, sizeof(gi->state), "%s",
	         gr->live ? gr->live->state : "Empty");
	snprintf(gi->protocol_type, sizeof(gi->protocol_type), "%s",
	         gr->live ? gr->live->protocol_type : "");
	gi->members = group_members(gr);
	gi->readers = (int)gr->nreaders;
	gi->offsets = gr->noffs;
}

static int info_cmp(const void *a, const void *b)
{
	return strcmp(((const struct group_info *)a)->id,
	              ((const struct group_info *)b)->id);
}

void group_infos_free(struct group_info *gi, size_t n)
{
	if (!gi)
		return;
	for (size_t i = 0; i < n; i++)
		free(gi[i].id);
	free(gi);
}

int groups_list(struct groups *g, struct group_info **out, size_t *n)
{
	struct group_info *v = NULL;
	size_t k = 0;
	int rc = 0;

	if (!g || !out || !n)
		return -EINVAL;
	g_lock(g);
	if (g->ngroups) {
		v = calloc(g->ngroups, sizeof(*v));
		if (!v)
			rc = -ENOMEM;
	}
	for (size_t b = 0; v && b < g->nbuckets && rc == 0; b++) {
		for (struct group *gr = g->buckets[b]; gr; gr = gr->next) {
			v[k].id = strdup(gr->id);
			if (!v[k].id) {
				rc = -ENOMEM;
				break;
			}
			info_fill(gr, &v[k]);
			k++;
		}
	}
	g_unlock(g);
	if (rc < 0) {
		group_infos_free(v, k);
		return rc;
	}
	if (k > 1)
		qsort(v, k, sizeof(*v), info_cmp);
	*out = v;
	*n = k;
	return 0;
}

int groups_describe(struct groups *g, const char *group,
                    struct group_info *out, char **members_text)
{
	struct group *gr;
	char *id = NULL, *text = NULL;
	int rc = 0;

	if (!g || !group || !out)
		return -EINVAL;
	g_lock(g);
	gr = tbl_find(g, group, strlen(group));
	if (!gr) {
		rc = -ENOENT;
		goto unlock;
	}
	id = strdup(gr->id);
	if (members_text && gr->live && gr->live->members_text)
		text = strdup(gr->live->members_text);
	if (!id || (members_text && gr->live && gr->live->members_text && !text)) {
		free(id);
		free(text);
		rc = -ENOMEM;
		goto unlock;
	}
	memset(out, 0, sizeof(*out));
	out->id = id;
	info_fill(gr, out);
	if (members_text)
		*members_text = text;
unlock:
	g_unlock(g);
	return rc;
}

/* Tombstone every offset of gr; the ones written are removed.  All of
 * them, or an error with the rest kept. */
static int group_drop_offsets(struct groups *g, struct group *gr)
{
	struct recset rs = { 0 };
	size_t done = 0;
	int rc = 0;

	for (size_t i = 0; i < gr->noffs && rc == 0; i++)
		rc = rs_add(&rs, gr->id, gr->id_len, gr->offs[i].topic,
		            gr->offs[i].partition, NULL, tfs_now_ms());
	if (rc == 0)
		rc = log_append_chunked(g, &rs, &done);
	/* the first `done` records were written: those offsets are gone */
	while (done > 0)
		offs_remove_at(g, gr, --done);
	rs_free(&rs);
	return rc;
}

int groups_delete(struct groups *g, const char *group)
{
	struct group *gr;
	int rc;

	if (!g || !group)
		return -EINVAL;
	g_lock(g);
	gr = tbl_find(g, group, strlen(group));
	if (!gr) {
		rc = -ENOENT;
		goto unlock;
	}
	if (group_members(gr) > 0 || gr->nreaders > 0) {
		rc = -EBUSY;
		goto unlock;
	}
	rc = group_drop_offsets(g, gr);
	if (rc == 0) {
		/* the published state goes too: the coordinator deletes its
		 * own and asked for this */
		live_free(gr->live);
		gr->live = NULL;
		group_gc(g, gr);
	}
unlock:
	g_unlock(g);
	return rc;
}

/* ============================== shell readers ============================ */

int groups_reader_acquire(struct groups *g, const char *group,
                          const char *topic, int32_t partition)
{
	struct group *gr;
	struct greader r;
	size_t glen;
	bool fresh = false;
	int rc = 0;

	if (!g || !group || !topic)
		return -EINVAL;
	glen = strlen(group);
	if (group_id_check(group, glen) < 0)
		return -EINVAL;
	r.topic = strdup(topic);
	r.partition = partition;
	if (!r.topic)
		return -ENOMEM;
	g_lock(g);
	gr = tbl_find(g, group, glen);
	if (gr) {
		if (group_members(gr) > 0)
			rc = -EBUSY;
		for (size_t i = 0; i < gr->nreaders && rc == 0; i++)
			if (gr->readers[i].partition == partition &&
			    !strcmp(gr->readers[i].topic, topic))
				rc = -EBUSY;
	} else if (g->ngroups >= g->max_groups) {
		rc = -EMFILE;
	} else if (!(gr = group_new(group, glen))) {
		rc = -ENOMEM;
	} else {
		fresh = true;
	}
	if (rc == 0 && gr->nreaders == gr->readers_cap) {
		size_t cap = gr->readers_cap ? gr->readers_cap * 2 : 2;
		struct greader *v = realloc(gr->readers, cap * sizeof(*v));
		if (!v) {
			rc = -ENOMEM;
		} else {
			gr->readers = v;
			gr->readers_cap = cap;
		}
	}
	if (rc == 0) {
		gr->readers[gr->nreaders++] = r;
		r.topic = NULL;
		if (fresh)
			tbl_insert(g, gr);
	} else if (fresh) {
		group_free(gr);
	}
	g_unlock(g);
	free(r.topic);
	return rc;
}

void groups_reader_release(struct groups *g, const char *group,
                           const char *topic, int32_t partition)
{
	struct group *gr;

	if (!g || !group || !topic)
		return;
	g_lock(g);
	gr = tbl_find(g, group, strlen(group));
	for (size_t i = 0; gr && i < gr->nreaders; i++) {
		if (gr->readers[i].partition != partition ||
		    strcmp(gr->readers[i].topic, topic))
			continue;
		free(gr->readers[i].topic);
		gr->readers[i] = gr->readers[--gr->nreaders];
		group_gc(g, gr);
		break;
	}
	g_unlock(g);
}

/* ============================== maintenance ============================== */

void groups_test_compact_floor(struct groups *g, uint64_t bytes)
{
	g_lock(g);
	g->compact_floor = bytes;
	g_unlock(g);
}

int groups_test_compact(struct groups *g)
{
	int rc;

	g_lock(g);
	rc = log_compact(g);
	g_unlock(g);
	return rc;
}

void groups_stats_get(struct groups *g, struct groups_stats *out)
{
	if (!g || !out)
		return;
	g_lock(g);
	out->groups = g->ngroups;
	out->offsets = g->noffsets;
	out->commits = g->commits;
	out->expired = g->expired;
	out->compactions = g->compactions;
	out->log_bytes = g->log_bytes;
	g_unlock(g);
}

/* Offsets of idle groups past retention go (one batch per group). */
static void expire(struct groups *g, int64_t now_ms)
{
	if (g->retention_ms < 0)
		return;
	for (size_t b = 0; b < g->nbuckets; b++) {
		struct group *gr = g->buckets[b], *next;
		for (; gr; gr = next) {
			size_t before = gr->noffs;
			next = gr->next;
			if (!gr->noffs || group_members(gr) > 0 || gr->nreaders > 0 ||
			    now_ms - gr->last_commit_ms <= g->retention_ms)
				continue;
			if (group_drop_offsets(g, gr) < 0)
				tfs_log(TFS_LOG_ERROR, "storage: %s: group %s: expired "
				        "offsets not removed (tried again later)",
				        g->dir, gr->id);
			g->expired += before - gr->noffs;
			group_gc(g, gr);
		}
	}
}

void groups_maintain(struct groups *g, int64_t now_ms)
{
	if (!g)
		return;
	g_lock(g);
	expire(g, now_ms);
	maybe_compact(g, false);
	if (g->dirty_mono && g->flush_ms > 0 &&
	    tfs_mono_ms() - g->dirty_mono >= g->flush_ms && log_fsync(g) < 0) {
		/* never retried as if it had worked: the commits since the
		 * last good fsync may be lost on a power failure */
		tfs_log(TFS_LOG_ERROR, "storage: %s: the offsets committed since "
		        "the last fsync may not survive a power failure", g->dir);
		g->dirty_mono = 0;
	}
	g_unlock(g);
}
