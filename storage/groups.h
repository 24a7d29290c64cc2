/*
 * groups.h - consumer groups as the store keeps them: the committed offsets
 * of every group, durable in the data dir, and what the TCP coordinator
 * (net/srv_group.c, which owns the membership state machine) and the file
 * view (the <p>@group=NAME view and the .groups directory) share about each
 * group.  Included by storage.h.
 *
 * One struct groups per store (store_groups).  Thread-safe: every function
 * takes the groups mutex (RANK_GROUPS_MU: taken with no storage lock held,
 * and no storage lock is taken under it, so never call these while holding
 * one; never held while calling out, except the write(2)/fsync(2) of the
 * offsets log).
 *
 * Durability.  Commits are records in an internal log of the engine,
 * <data_dir>/.consumer-offsets/<base>.log, in Kafka's record-batch format
 * with Kafka's own __consumer_offsets key and value schemas (FORMAT.md):
 * key v1 {int16 1, string group, string topic, int32 partition}, value v3
 * {int16 3, int64 offset, int32 leader_epoch, string metadata, int64
 * commit_timestamp}; a null value is a tombstone.  groups_commit returns
 * only after its batch is written with write(2) (an acknowledged commit
 * survives a kill -9 of the daemon) and, when the store's flush policy asks
 * for it (flush_messages / flush_ms of the [storage] defaults), fsync(2).
 * At open every file is replayed in base order, a torn or damaged tail is
 * cut off (and logged; never anything before it), and when the log holds
 * much more than the live table it is compacted: the live records are
 * written to a new file, fsynced and renamed in, then the old files go.  So
 * start-up time and memory follow the number of live offsets, not the
 * number of commits ever made.
 *
 * Expiry.  The offsets of a group with no members and no shell readers
 * expire offsets_retention_ms after its last commit (Kafka's
 * offsets.retention.minutes, default 7 days), checked by groups_maintain.
 * Offsets of a deleted topic go with it (groups_forget_topic, called by
 * store_topic_delete).
 */
#ifndef TOPICFS_GROUPS_H
#define TOPICFS_GROUPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GROUP_ID_MAX     255    /* bytes; a longer or empty group id is
                                   refused (-EINVAL; INVALID_GROUP_ID) */
#define GROUP_META_MAX   4096   /* bytes of commit metadata (Kafka's
                                   offset.metadata.max.bytes) */

struct groups;
struct store;

/* The store's groups (never NULL for an open store). */
struct groups *store_groups(struct store *st);

/* 0 when id can be a group id (1..GROUP_ID_MAX bytes, no NUL), else -EINVAL. */
int group_id_check(const char *id, size_t len);

/* ------------------------------ offsets ---------------------------------- */

struct group_commit {
	const char *topic;
	int32_t partition;
	int64_t offset;             /* >= 0 */
	int32_t leader_epoch;       /* -1 = none */
	const char *metadata;       /* NULL = null metadata */
	int metadata_len;
	int error;                  /* out: 0 committed, -ENOENT no such topic or
	                               partition, -EMSGSIZE metadata over
	                               GROUP_META_MAX, -EINVAL offset < 0 */
};

/* Flags of groups_commit. */
#define GROUPS_IF_UNHELD  1u    /* refuse (-EBUSY) while the group has
                                   members or shell readers (offset resets
                                   from .groups and topicfs-admin) */

/* Commit the valid entries of c[0..n) for group in one log write (all or
 * none of them).  Entries that fail their own check get their error and
 * are skipped.  Returns 0 when every valid entry is durable as above (also
 * when none was valid), -EINVAL for a bad group id, -EBUSY (flags), -EMFILE
 * when this would make a new group past max_groups, -ENOSPC / -EIO when the
 * log write failed (nothing of this call is committed, the table is
 * unchanged), -EMSGSIZE when the valid entries together would make a
 * batch larger than the replay accepts (max_decompressed_bytes + 1 MiB;
 * nothing committed), -ENOMEM. */
int groups_commit(struct groups *g, const char *group, struct group_commit *c,
                  size_t n, unsigned flags);

struct group_offset {
	char topic[256];
	int32_t partition;
	int64_t offset;
	int32_t leader_epoch;       /* -1 = none */
	int64_t commit_ms;          /* wall clock of the commit */
	char *metadata;             /* malloc'd copy, NULL = null */
	int metadata_len;
};
void group_offset_clear(struct group_offset *o);  /* frees metadata */

/* The committed offset of one partition: 0, or -ENOENT when none. */
int groups_fetch(struct groups *g, const char *group, const char *topic,
                 int32_t partition, struct group_offset *out);
/* Every committed offset of a group, sorted by topic then partition (*n 0
 * and *out NULL when none).  Free with group_offsets_free. */
int groups_fetch_all(struct groups *g, const char *group,
                     struct group_offset **out, size_t *n);
void group_offsets_free(struct group_offset *o, size_t n);

/* Forget one partition's committed offset (OffsetDelete): 0, -ENOENT when
 * there was none, -ENOSPC / -EIO when the tombstone could not be written. */
int groups_delete_offset(struct groups *g, const char *group,
                         const char *topic, int32_t partition);

/* Forget a topic in every group (store_topic_delete calls this). */
void groups_forget_topic(struct groups *g, const char *topic);

/* --------------------------- groups as a whole ---------------------------- */

/* What the coordinator publishes about a group's membership, for ListGroups,
 * the .groups files and the EBUSY rules.  Strings are copied. */
struct group_live {
	const char *state;          /* "Empty", "PreparingRebalance",
	                               "CompletingRebalance", "Stable" */
	const char *protocol_type;  /* "consumer", "" */
	const char *protocol;       /* the chosen assignor, "" */
	int32_t generation;
	int members;
	const char *members_text;   /* lines for the .groups file, one per
	                               member ("member ID client CID host H
	                               assigned T:P,P ..."); may be NULL */
};

/* Publish (or, with live NULL, withdraw) a group's membership.  A group
 * with members cannot be deleted or reset, and shell readers get EBUSY.
 * -EMFILE past max_groups for a new group, -ENOMEM. */
int groups_publish(struct groups *g, const char *group,
                   const struct group_live *live);

struct group_info {
	char *id;                   /* malloc'd */
	char state[24];             /* as published; "Empty" when only offsets
	                               are known */
	char protocol_type[32];
	int members;                /* Kafka members */
	int readers;                /* shell readers (the @group= view) */
	size_t offsets;             /* committed offsets held */
};
/* Every group known (with offsets, members or readers), sorted by id. */
int groups_list(struct groups *g, struct group_info **out, size_t *n);
void group_infos_free(struct group_info *gi, size_t n);
/* One group: 0, or -ENOENT.  members_text (may be NULL) gets a malloc'd
 * copy of the published text, or NULL. */
int groups_describe(struct groups *g, const char *group,
                    struct group_info *out, char **members_text);

/* Delete a group and its offsets: 0, -ENOENT unknown, -EBUSY when it has
 * members or readers, -ENOSPC / -EIO when the tombstones could not be
 * written.  Its published state (members 0) goes too. */
int groups_delete(struct groups *g, const char *group);

/* ------------------------------ shell readers ---------------------------- */

/* A <p>@group=NAME reader takes (group, topic, partition) for as long as
 * its file is open: -EBUSY when another reader holds the same partition of
 * the group or the group has Kafka members; -EINVAL bad id; -EMFILE past
 * max_groups. */
int groups_reader_acquire(struct groups *g, const char *group,
                          const char *topic, int32_t partition);
void groups_reader_release(struct groups *g, const char *group,
                           const char *topic, int32_t partition);

/* ------------------------------ maintenance ------------------------------ */

struct groups_stats {
	uint64_t groups;            /* known now */
	uint64_t offsets;           /* committed offsets held now */
	uint64_t commits;           /* offsets committed since open */
	uint64_t expired;           /* offsets removed by retention */
	uint64_t compactions;       /* log rewrites */
	uint64_t log_bytes;         /* bytes in .consumer-offsets now */
};
void groups_stats_get(struct groups *g, struct groups_stats *out);

/* Called by the store's maintenance thread about once a second: fsync per
 * the flush policy, expire, compact.  now_ms is the wall clock
 * (tfs_now_ms), compared with commit times for expiry (tests pass a later
 * one); flush deadlines use the monotonic clock. */
void groups_maintain(struct groups *g, int64_t now_ms);

/* Encoding of group ids as file names (the .groups directory and the
 * @group= view): bytes other than [A-Za-z0-9._-] and ' ', and '%' itself,
 * become %XX (upper-case hex); an id that is "." or ".." has its dots
 * encoded.  Reversible.  Returns the length written (without the NUL), or
 * -ENAMETOOLONG when the encoding does not fit in out_len (names over 255
 * bytes are not representable); -EINVAL when id fails group_id_check. */
int group_name_encode(const char *id, size_t id_len, char *out, size_t out_len);
/* The inverse: -EINVAL for a bad %XX or a name that is not the canonical
 * encoding of its id (so each id has exactly one file name). */
int group_name_decode(const char *name, char *out, size_t out_len);

#endif /* TOPICFS_GROUPS_H */
