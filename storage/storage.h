/*
 * storage.h - the topicfs log engine: the one public header of storage/.
 *
 * storage/ knows nothing of FUSE or sockets. It keeps topics as Kafka keeps
 * them on disk, byte for byte (see docs/FORMAT.md sections 2 and 3):
 *
 *   <data_dir>/<topic>.topic                 topic metadata, key=value lines,
 *                                             written temp+fsync+rename+dirfsync
 *   <data_dir>/<topic>-<partition>/
 *       <20-digit base offset>.log           RecordBatch v2 batches back to back
 *       <20-digit base offset>.index         8-byte entries: rel offset, file pos
 *       <20-digit base offset>.timeindex     12-byte entries: timestamp, rel offset
 *       <20-digit base offset>.sindex        topicfs only: 16-byte entries
 *                                             int64 stream position, int32 rel
 *                                             offset, int32 file position
 *   <data_dir>/recovery-point-offset-checkpoint   Kafka's checkpoint format
 *   <data_dir>/log-start-offset-checkpoint        the same format: log starts
 *                                             moved by part_delete_records
 *   <data_dir>/.topicfs_clean_shutdown            clean-shutdown marker
 *   <data_dir>/producer-id-block                  producer ids reserved so far
 *
 * The stream.  Every partition also has a byte stream: its records rendered
 * one after another according to the topic's framing.  `lines`: each record's
 * value followed by '\n' (a null value renders as a lone '\n');  `writes`:
 * each record's raw value bytes (null renders as nothing).  Stream positions
 * are absolute and never change meaning: retention moves stream_start forward,
 * appends move stream_end forward.  The .sindex maps stream positions to
 * batches so a read at any position is an index lookup, never a scan.
 *
 * Errors.  Every function that can fail returns 0 or a negative errno and
 * leaves its outputs untouched on failure:
 *   -EINVAL    bad argument or bad topic name
 *   -EEXIST    topic exists
 *   -ENOENT    unknown topic or partition
 *   -EBADMSG   corrupt batch (bad CRC, bad bounds, bad magic)
 *   -ERANGE    offset or stream position outside [start, end]
 *   -ENOTSUP   codec not supported (gzip is decode-only)
 *   -EMSGSIZE  batch or record larger than a configured bound
 *   -ENOSPC, -EIO, ...  from the file system, passed through
 *
 * Threads.  A struct store and everything reached from it is thread-safe
 * unless a function says otherwise.  Readers run concurrently with the
 * appender and only ever see whole, published batches.
 */
#ifndef TOPICFS_STORAGE_H
#define TOPICFS_STORAGE_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ========================== RecordBatch v2 codec ========================== */

#define BATCH_HEADER_SIZE     61   /* bytes before the first record */
#define BATCH_LOG_OVERHEAD    12   /* BaseOffset + Length */
#define BATCH_MAGIC_V2        2

enum batch_codec {
	CODEC_NONE = 0,
	CODEC_GZIP = 1,     /* decode only (zlib) */
	CODEC_SNAPPY = 2,   /* libsnappy: decodes raw blocks and snappy-java's
	                       xerial stream, encodes the xerial stream */
	CODEC_LZ4 = 3,
	CODEC_ZSTD = 4,
};

#define BATCH_ATTR_CODEC_MASK      0x07
#define BATCH_ATTR_LOG_APPEND_TIME 0x08
#define BATCH_ATTR_TRANSACTIONAL   0x10
#define BATCH_ATTR_CONTROL         0x20

/* The 61-byte header, decoded.  Field names follow docs/FORMAT.md section 2. */
struct batch_header {
	int64_t base_offset;
	int32_t length;             /* total batch bytes - 12 */
	int32_t leader_epoch;
	int8_t magic;
	uint32_t crc;               /* as stored */
	int16_t attributes;
	int32_t last_offset_delta;
	int64_t base_timestamp;
	int64_t max_timestamp;
	int64_t producer_id;
	int16_t producer_epoch;
	int32_t base_sequence;
	int32_t records_count;
};

/* One decoded record.  Pointers point into the decoded batch's buffer. */
struct record {
	int64_t offset;             /* absolute: base_offset + offset delta */
	int64_t timestamp;          /* base_timestamp + delta (or max_timestamp
	                               for LogAppendTime batches) */
	const uint8_t *key;         /* NULL when key_len < 0 */
	int32_t key_len;            /* -1 = null key */
	const uint8_t *value;       /* NULL when value_len < 0 */
	int32_t value_len;          /* -1 = null value */
	int32_t header_count;
	const uint8_t *headers;     /* raw encoded headers (header_count of them) */
	size_t headers_len;
};

/* A decoded batch.  Owns its buffers; release with batch_decoded_free().
 * For an uncompressed batch the records point into the caller's batch bytes,
 * which must outlive the decoded batch; for a compressed one they point into
 * buf, which the decoded batch owns. */
struct batch_decoded {
	struct batch_header h;
	struct record *recs;        /* h.records_count entries */
	size_t nrecs;
	uint8_t *buf;               /* decompressed record bytes when compressed */
	size_t buf_len;
};

/* One record header to append: Kafka's Header, a non-null key (any bytes,
 * "" allowed; Kafka's clients treat it as UTF-8) and a nullable value. */
struct rec_header {
	const void *key;            /* key_len bytes; may be NULL when 0 */
	int32_t key_len;            /* >= 0 */
	const void *value;          /* may be NULL when value_len <= 0 */
	int32_t value_len;          /* -1 = null */
};

/* A record to append (the caller owns the memory, headers included).
 * Fields left zero by a designated initialiser or memset mean "no
 * headers": header_count 0 (headers is then not read). */
struct rec_in {
	const void *key;            /* may be NULL with key_len -1 */
	int32_t key_len;            /* -1 = null */
	const void *value;
	int32_t value_len;          /* -1 = null */
	int64_t timestamp;          /* ms since epoch; < 0 means "now" */
	const struct rec_header *headers;   /* header_count entries, in order */
	int32_t header_count;       /* >= 0; 0 = none */
};

/* CRC-32C (Castagnoli) of buf, continuing from crc (start with 0).
 * Uses SSE4.2 / ARMv8 CRC instructions when the CPU has them. */
uint32_t crc32c(uint32_t crc, const void *buf, size_t len);

/* Parse and bounds-check the header of the batch at buf[0..len).  Checks:
 * len >= 61, Length >= 49, 12 + Length <= len, magic == 2.  Does not check
 * the CRC.  -EBADMSG on failure, -EAGAIN if len < 12 + Length (a torn or
 * partial batch: more bytes needed; out->base_offset and out->length are
 * then still filled in when len >= 12, so callers can learn the full size).
 * batch_decode, which needs the whole batch, reports a short buffer as
 * -EBADMSG; bytes after 12 + Length are ignored by both. */
int batch_parse_header(const void *buf, size_t len, struct batch_header *out);

/* Check the CRC of a whole batch (12 + Length bytes).  0 or -EBADMSG. */
int batch_check_crc(const void *batch, size_t len);

/* Full validation: header, CRC, codec known, records_count ==
 * last_offset_delta + 1 > 0 (except for control batches), every record
 * parses and offsets deltas are 0..n-1 in order, decompressed size at most
 * max_bytes.  Decodes into *out (caller frees with batch_decoded_free).
 * max_bytes bounds every allocation a batch can cause. */
int batch_decode(const void *batch, size_t len, size_t max_bytes,
                 struct batch_decoded *out);
void batch_decoded_free(struct batch_decoded *b);

/* Iterate the headers of a record: call with *pos = 0; returns 1 and fills
 * the outputs while there is a header, 0 at the end, -EBADMSG on garbage. */
int record_next_header(const struct record *r, size_t *pos,
                       const uint8_t **key, int32_t *key_len,
                       const uint8_t **val, int32_t *val_len);

/* Encode n records as one batch starting at base_offset, compressed with
 * codec (NONE, SNAPPY, LZ4 or ZSTD; -ENOTSUP otherwise).  Timestamps < 0
 * become now_ms; each record's headers are written in order.  -EINVAL for
 * a length < -1 (header keys < 0, header_count < 0) or a NULL pointer with
 * a positive length (or count).  The caller owns *out (free(3)). */
int batch_encode(const struct rec_in *recs, size_t n, int64_t base_offset,
                 int codec, int64_t now_ms, uint8_t **out, size_t *out_len);

/* Write base_offset into an encoded batch (CRC unaffected). */
void batch_set_base_offset(void *batch, int64_t base_offset);

/* Name of a codec ("none", "gzip", "snappy", "lz4", "zstd", "unknown") and
 * the reverse (-EINVAL for an unknown name). */
const char *codec_name(int codec);
int codec_from_name(const char *name);

/* ============================== topics =================================== */

enum framing {
	FRAMING_LINES = 0,
	FRAMING_WRITES = 1,
};

/* Per-topic settings: one row each in topic_settings.h, which is the one
 * place that names them (bounds, defaults, Kafka names, doc).  framing and
 * codec are fixed at creation, partitions only grows (topic_add_partitions);
 * the rest may be changed later with topic_set_config(). */
#include "topic_settings.h"

struct topic_config {
#define TS_FIELD_(member, ctype, ...) ctype member;
	TOPIC_SETTINGS(TS_FIELD_)
#undef TS_FIELD_
};

/* Every default of topic_settings.h (segment 1 GiB, 7 days, index every
 * 4096 bytes, retention unlimited bytes / 7 days, no count/time flush,
 * lines framing, 1 partition, no compression, batch 1 MiB, linger 0, max
 * message 1 MiB). */
void topic_config_defaults(struct topic_config *cfg);

/* 0 if every setting is within its user bounds (min..max of
 * topic_settings.h, the bounds the daemon's INI enforces) and the
 * cross-field checks pass, else -EINVAL (and *why, if not NULL, points at
 * a message naming the field, valid until the thread's next call). */
int topic_config_check(const struct topic_config *cfg, const char **why);

/* The same against the engine's limits (lim_min..lim_max), which are wider
 * for a few settings: what store_topic_create, topic_set_config and the
 * loading of a .topic file accept. */
int topic_config_check_limits(const struct topic_config *cfg, const char **why);

/* ------------------------ one setting at a time ------------------------- */

enum topic_setting_kind {
	TS_COUNT,       /* integer, no suffix */
	TS_SIZE,        /* bytes: integer with optional K/M/G/T (binary, also
	                   KB/KiB...; case-insensitive) */
	TS_MS,          /* milliseconds: integer with optional ms/s/min/h/d */
	TS_CODEC,       /* none | snappy | lz4 | zstd */
	TS_FRAMING,     /* lines | writes */
	TS_BYTE,        /* one byte 0..255 but '\n', as text: a graphic ASCII
	                   byte but '\\' itself, \t, \\ or \xHH
	                   (topic_settings.h: key_separator) */
};

enum topic_setting_change {
	TS_DYNAMIC,     /* topic_set_config may change it */
	TS_FIXED,       /* fixed at creation */
	TS_GROW,        /* may only grow: topic_add_partitions (topic_set_config
	                   refuses any change of it) */
};

struct topic_setting {
	const char *name;               /* our key: [topic.NAME], .topic file */
	const char *kafka_name;         /* Kafka's topic config name or NULL */
	const char *section;            /* INI section of the global default */
	const char *global_key;         /* its key there */
	enum topic_setting_kind kind;
	enum topic_setting_change change;
	int64_t def;
	int64_t min, max;               /* user bounds */
	int64_t lim_min, lim_max;       /* engine limits */
	const char *doc;
};

/* The rows of topic_settings.h in order; at(i) is NULL past the end. */
size_t topic_setting_count(void);
const struct topic_setting *topic_setting_at(size_t i);

/* By our key name ("segment_bytes") or the Kafka name ("segment.bytes");
 * NULL when unknown. */
const struct topic_setting *topic_setting_find(const char *name);

/* The value of s in cfg, as an integer (enum value for codec/framing). */
int64_t topic_setting_get(const struct topic_config *cfg,
                          const struct topic_setting *s);

/* Set s in cfg to v after checking v against the user bounds (and, for
 * codec and framing, that it is one of the names).  0 or -EINVAL with a
 * reason in why[] (may be NULL).  cfg is unchanged on error. */
int topic_setting_set(struct topic_config *cfg, const struct topic_setting *s,
                      int64_t v, char *why, size_t whylen);

/* Write s's value in cfg as text: a plain integer, the codec/framing
 * name, or a TS_BYTE's canonical escaped form (":", "\t", "\x00").
 * Returns the length (like snprintf) or -ENOSPC if it did not fit
 * (buf then holds a truncated NUL-terminated string, when len > 0). */
int topic_setting_format(const struct topic_config *cfg,
                         const struct topic_setting *s, char *buf, size_t len);

/* Parse text (the INI syntax: "64M", "7d", "-1", "zstd", "writes") into s's
 * field of cfg, with the bounds of topic_setting_set.  0 or -EINVAL with a
 * reason in why[] (may be NULL), e.g. "value 10 out of range (1024 ..
 * 1073741824)".  cfg is unchanged on error. */
int topic_setting_parse(struct topic_config *cfg, const struct topic_setting *s,
                        const char *text, char *why, size_t whylen);

/* The integer syntax alone, for kind TS_COUNT, TS_SIZE or TS_MS (also used
 * by the daemon for its own size and time settings).  0 or -EINVAL with a
 * reason in why[] (may be NULL); no bounds beyond int64. */
int topic_setting_parse_int(enum topic_setting_kind kind, const char *text,
                            int64_t *out, char *why, size_t whylen);

/* Topic names: [A-Za-z0-9._-], 1..249 characters, not "." or "..".  0 or
 * -EINVAL. */
int topic_name_check(const char *name);

struct store;
struct topic;
struct part;

struct store_options {
	const char *data_dir;           /* created if missing */
	size_t max_decompressed_bytes;  /* bound for one batch; default 64 MiB */
	int64_t timestamp_after_max_ms; /* time retention: a sealed segment whose
	                                   newest timestamp is further ahead of
	                                   the clock ages by its file's mtime;
	                                   0 = default 1 hour, -1 = off */
	size_t max_open_segments;       /* sealed segments' .log fds kept open at
	                                   once (one process-wide LRU; the last
	                                   store_open sets it); 0 = a quarter of
	                                   the soft RLIMIT_NOFILE, at least 64.
	                                   Active segments (4 fds per partition)
	                                   are not counted */
	size_t max_producers_per_partition; /* idempotent producers remembered
	                                   per partition (section "idempotent
	                                   producers" below); 0 = 1000 */
	int64_t producer_id_expiration_ms;  /* forget a producer idle this long
	                                   (Kafka's producer.id.expiration.ms);
	                                   0 = 1 day, -1 = never */
	/* consumer groups (groups.h) */
	int64_t offsets_retention_ms;   /* 0 = 7 days, -1 = never */
	size_t max_groups;              /* 0 = 10000 */
	int64_t offsets_flush_messages; /* fsync the offsets log every this
	                                   many commits; 0 = never */
	int64_t offsets_flush_ms;       /* ... or this long after a commit;
	                                   0 = never (write(2) only: survives a
	                                   kill -9, as the engine's records do) */
};

/* Open a data dir: load every topic, recover every partition (see the
 * recovery rules in part_recover.c), start the maintenance thread (flush_ms,
 * linger_ms, segment_ms, retention).  The caller owns *out.  Besides I/O
 * errors: -EPERM for a data dir others may write to, -EPROTONOSUPPORT for a
 * .topic file of a newer version, -ELOOP/-ENOTDIR for a topic's partition
 * directory that is a link or not a directory (each logged at error level;
 * a damaged .topic file is rebuilt, see FORMAT.md). */
int store_open(const struct store_options *opts, struct store **out);

/* The data directory, opened once without following links (st->dfd): for
 * files kept beside the logs by other layers (net/srv_acl.c: acls), opened
 * relative to it with O_NOFOLLOW.  Owned by the store: do not close it;
 * valid until store_close. */
int store_dir_fd(const struct store *st);

/* Flush everything, write the recovery checkpoint and the clean-shutdown
 * marker, stop the maintenance thread, free.  Topics still referenced by
 * callers must have been put back first. */
void store_close(struct store *st);

/* Append hooks: called (from the appending thread, with no storage lock
 * held) after every append to any partition.  A hook must be quick and must
 * not call back into storage write paths (the TCP server wakes its parked
 * fetches with one, the file view its parked reads with another).  Up to
 * STORE_MAX_HOOKS at once: add gives -ENOSPC past that.  remove returns only
 * when no call of that hook is running any more. */
#define STORE_MAX_HOOKS 4
typedef void (*store_append_hook)(void *arg, struct topic *t, int partition);
int store_add_append_hook(struct store *st, store_append_hook fn, void *arg);
void store_remove_append_hook(struct store *st, store_append_hook fn, void *arg);

/* Create a topic (partition directories, metadata file, all fsynced).
 * cfg must pass topic_config_check_limits (-EINVAL). */
int store_topic_create(struct store *st, const char *name,
                       const struct topic_config *cfg, struct topic **out);

/* A topic's owner in the mount: its user, its group and the permission
 * bits of its directory (fs/owner.c derives those of the files in it).
 * Kept in the .topic file (owner_uid=, owner_gid=, mode=; FORMAT.md
 * section 5) once stored: a mkdir through the mount stores the caller's,
 * chmod and chown store the new ones.  A topic without them (created over
 * TCP, by a [topic.NAME] section, or by a topicfs before owners) belongs
 * to the daemon's effective user and group with mode 0755, and its file
 * is written without the keys. */
#define TOPIC_MODE_DEFAULT 0755
#define TOPIC_MODE_MASK    07777
struct topic_owner {
	uint32_t uid;
	uint32_t gid;
	uint32_t mode;          /* permission bits, within TOPIC_MODE_MASK */
	bool stored;            /* false: the defaults above, not in the file */
};
/* The defaults: geteuid(), getegid(), TOPIC_MODE_DEFAULT, not stored. */
void topic_owner_default(struct topic_owner *out);
/* store_topic_create with an owner (NULL: the defaults, not stored; else
 * stored as given).  -EINVAL also for a mode outside TOPIC_MODE_MASK or
 * the uid or gid (uint32_t)-1. */
int store_topic_create_owned(struct store *st, const char *name,
                             const struct topic_config *cfg,
                             const struct topic_owner *owner,
                             struct topic **out);

/* Look a topic up and take a reference (release with topic_put). */
int store_topic_get(struct store *st, const char *name, struct topic **out);
void topic_put(struct topic *t);

/* Delete a topic and its files.  References still held stay valid (reads
 * fail with -ENOENT, appends too) until the last topic_put. */
int store_topic_delete(struct store *st, const char *name);

/* Sorted list of topic names.  Caller frees each name and the array. */
int store_topic_list(struct store *st, char ***names, size_t *count);

const char *topic_name(const struct topic *t);
/* The topic's id (Kafka's topic id, KIP-516): 16 random bytes made at
 * creation and kept in the .topic file; never all zero. */
void topic_id(struct topic *t, uint8_t out[16]);
/* Current settings (a copy). */
void topic_get_config(struct topic *t, struct topic_config *out);
/* Change the TS_DYNAMIC settings (the others must match: -EINVAL; the
 * partition count changes only through topic_add_partitions); cfg must
 * pass topic_config_check_limits.  The .topic file is rewritten, so the
 * change survives a restart. */
int topic_set_config(struct topic *t, const struct topic_config *cfg);
/* The owner (a copy).  Thread-safe. */
void topic_get_owner(struct topic *t, struct topic_owner *out);
/* Change the owner (stored from then on, whatever o->stored says): the
 * .topic file is rewritten atomically first, as by topic_set_config, and
 * nothing changes when that fails.  -EINVAL for a mode outside
 * TOPIC_MODE_MASK or the uid or gid (uint32_t)-1, -ENOENT for a deleted
 * topic, I/O errors.  Who may change what is the caller's business
 * (fs/owner.c). */
int topic_set_owner(struct topic *t, const struct topic_owner *o);
/* A pull mirror's target (daemon/mirror.c): while set, the file view
 * refuses writes (EROFS) and Produce refuses batches (POLICY_VIOLATION);
 * the mirror itself appends with part_append, which does not look at it.
 * In memory only (the mirror sets it again at every start); lock-free. */
void topic_set_mirror_target(struct topic *t, bool on);
bool topic_is_mirror_target(const struct topic *t);
/* The partition count: lock-free, and it may grow while the topic is
 * held (topic_add_partitions), never shrink. */
int32_t topic_partitions(const struct topic *t);
/* The partition, or NULL when idx is out of range.  Valid while the topic
 * reference is held (a struct part never moves, growth included). */
struct part *topic_part(struct topic *t, int32_t idx);

/* Grow the topic to new_count partitions (Kafka's CreatePartitions: only
 * adds).  The new partitions' directories are created and fsynced first,
 * then the .topic file is rewritten (the commit point), then the count is
 * published: topic_partitions() and topic_part() see the new partitions
 * at once, and a crash leaves either the old count or the new one with
 * every directory in place.  -EINVAL when new_count <= the current count
 * or past the partitions limit, -ENOENT for a deleted topic, I/O errors
 * (nothing changed then).  Thread-safe; serialised with topic creation
 * and deletion (store.mu). */
int topic_add_partitions(struct topic *t, int32_t new_count);

/* ============================== partitions =============================== */

struct part_info {
	int64_t log_start_offset;   /* first offset still in the log */
	int64_t next_offset;        /* offset the next record will get */
	int64_t stream_start;       /* stream position of log_start_offset */
	int64_t stream_end;         /* end of the rendered stream */
	int64_t segments;
	int64_t bytes_on_disk;      /* sum of .log sizes */
	int64_t last_append_ms;     /* wall clock of the last append (or of the
	                               newest segment's mtime after a restart) */
	int64_t recovery_point;     /* everything below is fsynced */
	int codec;
	int framing;
};
void part_info(struct part *p, struct part_info *out);

/* Append records as one or more batches (group commit: concurrent callers
 * share batches).  With linger_ms == 0 this returns after the records are
 * written to the segment file (visible to readers, safe from a kill -9).
 * With linger_ms > 0 it may return once they are queued; they reach the
 * file within linger_ms (keys, values and headers are then copied: the
 * caller's memory is free to go when this returns).  Honours
 * flush_messages.  Every record is checked before anything is queued
 * (-EINVAL as batch_encode; -EMSGSIZE when key + value + header bytes
 * exceed max_message_bytes).  *first_offset (may be NULL) gets the offset
 * of recs[0]. */
int part_append(struct part *p, const struct rec_in *recs, size_t n,
                int64_t *first_offset);

/* Lines of text to append as records (a write(2) through the mount): the
 * records are the pieces of pre followed by data between newlines ('\n'
 * not included), plus the bytes after the last newline when
 * last_is_record (else there must be none). */
struct lines_in {
	const char *pre;            /* a held partial line, joined to the first */
	size_t pre_len;
	const char *data;
	size_t len;
	bool last_is_record;
	size_t max_line;            /* a longer record is -EMSGSIZE */
};

/* part_append of the records of in, with null keys and no headers: the
 * same promises (all or nothing, written when it returns with linger_ms
 * 0, copied with linger_ms > 0) in one pass over the bytes: with
 * linger_ms 0 the batches are encoded by the calling thread straight from
 * in's bytes, outside the writer token, and written as they are.
 * *nrecs (may be NULL) gets the number of records appended. */
int part_append_lines(struct part *p, const struct lines_in *in, int64_t *nrecs);

/* Append one batch received from a producer, as-is but for its BaseOffset.
 * Validates it fully first (batch_decode with the store's bound; BaseOffset
 * must be 0, not a control batch, codec NONE/GZIP/SNAPPY/LZ4/ZSTD).
 * Errors: -EBADMSG corrupt, -EMSGSIZE over max_message_bytes, -ENOTSUP codec,
 * -EINVAL other invalid batch. */
int part_append_batch(struct part *p, const void *batch, size_t len,
                      int64_t *base_offset);

/* Write anything queued and fsync the active segment (and its directory if
 * files were created).  Returns after the data is durable.  A failed fsync
 * is reported, never retried as if it had worked. */
int part_flush(struct part *p);

/* Read rendered stream bytes from pos.  *nread = 0 at the end of the stream.
 * -ERANGE if pos < stream_start (retention removed it) or pos > stream_end.
 * A read may return fewer bytes than asked only at the end of the stream.
 * A corrupt batch gives -EBADMSG (never its bytes). */
int part_stream_read(struct part *p, int64_t pos, void *buf, size_t len,
                     size_t *nread);

/* Stream position of the first record with offset >= offset (stream_end if
 * offset >= next_offset; stream_start if offset < log_start_offset). */
int part_stream_pos_for_offset(struct part *p, int64_t offset, int64_t *pos);

/* First offset whose record has timestamp >= ts_ms; next_offset if none. */
int part_offset_for_time(struct part *p, int64_t ts_ms, int64_t *offset);

/* Block until stream_end > pos, at most timeout_ms (< 0: forever; 0: just
 * check).
 * 0 when there is more data, -ETIMEDOUT, -ENOENT if the topic was deleted. */
int part_wait_stream(struct part *p, int64_t pos, int timeout_ms);

/* Bytes for a Fetch: the batches from the one containing `offset` onwards,
 * in one segment, as (fd, file_pos, len) to sendfile.  len covers whole
 * batches only, at most max_bytes, except that the first batch is always
 * whole (KIP-74).  len == 0 when offset == next_offset.  -ERANGE when
 * offset < log_start_offset or > next_offset.  The slice holds a reference
 * on its segment: the fd stays open (even if retention deletes the file)
 * until part_slice_release(). */
struct seg;
struct part_slice {
	int fd;
	int64_t file_pos;
	size_t len;
	int64_t first_offset;       /* base offset of the first batch */
	int64_t high_watermark;     /* next_offset when the slice was taken */
	int64_t log_start_offset;
	struct seg *seg;            /* internal: the held segment */
};
int part_fetch_slice(struct part *p, int64_t offset, size_t max_bytes,
                     struct part_slice *out);
void part_slice_release(struct part_slice *s);

/* DeleteRecords (Kafka's DeleteRecords / kafka-delete-records): move the
 * log start offset up to before_offset (-1: to next_offset, Kafka's "the
 * high watermark").  Persisted before it is published, in
 * <data_dir>/log-start-offset-checkpoint (Kafka's checkpoint format:
 * "0", the entry count, "<topic> <partition> <offset>" lines; written
 * atomically) and applied at every load.  From then on the partition
 * behaves as after a retention trim at a record boundary: log_start_offset
 * is before_offset, stream_start the stream position of its record (the
 * file view starts there), reads below get -ERANGE, ListOffsets earliest
 * and part_stream_pos_for_offset answer it, part_offset_for_time never
 * answers below it; segments wholly below it are deleted at once.
 * *low_watermark (may be NULL) gets the log start after the call.  A
 * before_offset at or below the current start changes nothing (0).
 * -ERANGE when before_offset > next_offset, -EINVAL for other negative
 * values, -ENOENT for a deleted partition, I/O errors (nothing changed). */
int part_delete_records(struct part *p, int64_t before_offset,
                        int64_t *low_watermark);

/* ========================== idempotent producers ========================= */

/*
 * A batch with ProducerId >= 0 that is neither transactional nor a control
 * batch is idempotent (Kafka's enable.idempotence).  Per partition the
 * engine remembers, per producer id, the epoch and the last
 * PRODUCER_BATCHES batches appended (sequence range, offsets, max
 * timestamp), and checks every idempotent batch under the writer token
 * BEFORE it is written (storage/producer.c has the rules, Kafka 3.x's):
 *
 *   - same epoch and the same first AND last sequence as one of those
 *     batches: a DUPLICATE (a producer's retry).  Nothing is stored;
 *     part_append_batch_idem returns 0 with out->duplicate set and the
 *     original offsets (answer success, as Kafka does);
 *   - lower epoch than the producer's: STORE_ERR_PRODUCER_FENCED;
 *   - higher epoch: BaseSequence must be 0 (the state restarts), else
 *     STORE_ERR_OUT_OF_ORDER_SEQ;
 *   - same epoch: BaseSequence must be the last sequence + 1 (INT32_MAX
 *     wraps to 0), else STORE_ERR_OUT_OF_ORDER_SEQ (so a retry of a batch
 *     older than the last 5 is refused too);
 *   - unknown producer id (never seen, forgotten, expired): accepted with
 *     any sequence and tracked from then on (Kafka 3.x, KIP-360).
 *
 * A batch with ProducerId >= 0 (not transactional) must have
 * ProducerEpoch >= 0 and BaseSequence >= 0, else -EINVAL (Kafka's
 * INVALID_RECORD).  Memory is bounded: at most
 * store_options.max_producers_per_partition producer ids per partition
 * (the least recently used is forgotten), and a producer idle longer than
 * producer_id_expiration_ms is forgotten.  The state survives restarts
 * and crashes: it is rebuilt at start from a snapshot file plus the
 * batches after it (docs/FORMAT.md section 10).
 *
 * Errors (distinct negative errnos; the wire maps them):
 */
#include <errno.h>
/* BaseSequence not the next one: OUT_OF_ORDER_SEQUENCE_NUMBER (45). */
#define STORE_ERR_OUT_OF_ORDER_SEQ  (-EILSEQ)
/* ProducerEpoch below the producer's current one (a zombie producer):
 * INVALID_PRODUCER_EPOCH (47). */
#define STORE_ERR_PRODUCER_FENCED   (-ESTALE)

#define PRODUCER_BATCHES 5

/* One remembered batch of a producer. */
struct producer_batch {
	int32_t first_seq;          /* BaseSequence */
	int32_t last_seq;           /* BaseSequence + LastOffsetDelta, wrapped */
	int64_t base_offset;        /* offsets it was stored at */
	int64_t last_offset;
	int64_t max_timestamp;      /* its MaxTimestamp */
};

/* What a producer id's state holds (part_producer_get). */
struct producer_info {
	int64_t producer_id;
	int16_t epoch;
	int nbatches;               /* 1..PRODUCER_BATCHES, oldest first */
	struct producer_batch batches[PRODUCER_BATCHES];
	int64_t last_used_ms;       /* wall clock of its last append (after a
	                               restart: of the load, for producers
	                               learned from the log) */
};

/* The outcome of part_append_batch_idem. */
struct append_result {
	int64_t base_offset;        /* where the batch is (the original place
	                               for a duplicate) */
	int64_t last_offset;
	bool duplicate;             /* a retry: nothing was stored */
};

/* part_append_batch with the outcome in *out (may be NULL): the call the
 * Produce handler makes.  Same validation and errors as part_append_batch,
 * plus STORE_ERR_OUT_OF_ORDER_SEQ, STORE_ERR_PRODUCER_FENCED and -EINVAL
 * for the idempotence rules above.  part_append_batch applies the same
 * rules (a duplicate returns 0 with the original base offset). */
int part_append_batch_idem(struct part *p, const void *batch, size_t len,
                           struct append_result *out);

/* The state of one producer id: 0, or -ENOENT when the partition does not
 * know it (never seen, forgotten or expired) or was deleted.  Waits for
 * the writer token (for tests, tools and DescribeProducers). */
int part_producer_get(struct part *p, int64_t producer_id,
                      struct producer_info *out);

/* Producer ids the partition remembers now (expired ones included until
 * they are swept); waits for the writer token. */
size_t part_producer_count(struct part *p);

/* Producer ids (InitProducerId).  <data_dir>/producer-id-block holds the
 * end of the last block of ids reserved ("version=1\nblock_end=N\n",
 * written with sio_write_atomic, docs/FORMAT.md section 11): ids are
 * reserved PRODUCER_ID_BLOCK at a time and the block's end is durable
 * BEFORE any id of it is handed out, so ids are unique and increasing
 * across restarts and crashes (a crash skips the rest of a block).  A
 * missing file starts at 0; an unreadable one (bad contents) starts at
 * the wall clock in ms * 1000, with an error line.  Thread-safe. */
#define PRODUCER_ID_BLOCK 1000

/* The next producer id: 0, or a negative errno (the file could not be
 * read or written; nothing handed out). */
int store_next_producer_id(struct store *st, int64_t *out);

/* InitProducerId for a non-transactional producer.  producer_id < 0: a
 * new id with epoch 0.  Otherwise (KIP-360) an epoch bump: when this store
 * handed out (producer_id, epoch) as the id's latest epoch (remembered in
 * memory for recent ids, forgotten at restart), the same id with epoch + 1;
 * in every other case (unknown id or epoch, epoch exhausted at
 * INT16_MAX - 1) a new id with epoch 0, as Kafka gives a non-transactional
 * producer.  0 or a negative errno from store_next_producer_id. */
int store_init_producer_id(struct store *st, int64_t producer_id,
                           int16_t epoch, int64_t *out_id, int16_t *out_epoch);

/* ========================= logging and counters ========================== */

#include "logger.h"          /* tfs_log(): the one process-wide log */
#include "groups.h"          /* consumer groups' committed offsets */

/* Process-wide storage counters since start (one store per process is the
 * rule; with several they add up).  Monotonic; relaxed snapshot. */
struct store_stats {
	uint64_t batches_written;   /* batches appended to .log files */
	uint64_t records_written;   /* records in them */
	uint64_t bytes_written;     /* bytes appended to .log files */
	uint64_t flushes;           /* successful partition flushes (fsync) */
	uint64_t recoveries;        /* segments rescanned by crash recovery */
	uint64_t truncations;       /* torn or invalid tails cut by recovery */
	uint64_t errors;            /* failed system calls in storage */
};
void store_stats_get(struct store_stats *out);

/* The data dir lock.  store_open takes an exclusive flock(2) on
 * <data_dir>/.lock for the life of the store and fails with -EBUSY when
 * another process holds it (a running daemon, or a tool).  The lock goes
 * with the process, so a kill -9 never leaves a stale lock behind. */
#define STORE_LOCK_FILE ".lock"

#ifdef __cplusplus
}
#endif
#endif /* TOPICFS_STORAGE_H */
