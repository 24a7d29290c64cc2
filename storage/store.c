/*
 * store.c - the store: topics, their settings and metadata files, the
 * recovery checkpoint, the clean-shutdown marker and the maintenance
 * thread.  Segments are in segment.c, partitions in part_open.c
 * (lifecycle, loading), part_recover.c (the per-partition recovery rules),
 * part_write.c (append, roll, flush, retention) and part_read.c (reads,
 * fetch slices).
 *
 * DATA DIR (see storage.h for the whole layout):
 *   <topic>.topic       "key=value" lines, "version=1" first, then every
 *                       setting of topic_settings.h under its key name, in
 *                       the table's order (partitions, framing,
 *                       compression, segment_bytes, segment_ms,
 *                       index_interval_bytes, retention_bytes,
 *                       retention_ms, flush_messages, flush_ms,
 *                       batch_bytes, linger_ms, max_message_bytes),
 *                       then the mount's owner when one is stored
 *                       (owner_uid=, owner_gid=, mode=: topic_owner_*),
 *                       then topic_id=.
 *                       Written with sio_write_atomic.  Its presence IS
 *                       the topic: creation makes the partition
 *                       directories (each with an empty first segment,
 *                       fsynced) and writes this file last; deletion
 *                       removes it first (then fsyncs the directory),
 *                       then the partition directories.  NEVER DELETE
 *                       DATA THAT CANNOT BE ACCOUNTED FOR: a partition
 *                       directory without a .topic file is ignored at
 *                       start (an error line when it holds data) and a
 *                       topic created under its name moves it to
 *                       .quarantine/ (store_quarantine) unless it holds
 *                       only empty segment files.  The reader takes CRLF,
 *                       blanks and unknown keys (topic_meta_parse); a
 *                       damaged file is REBUILT from the legible settings
 *                       and the <name>-N directories, the damaged one
 *                       kept as <name>.topic.damaged (topic_meta_load);
 *                       version=2+ refuses the start; one that cannot be
 *                       read (EIO...) fails store_open, so a transient
 *                       error never makes a topic look absent.
 *   symbolic links     never followed: the data dir is resolved and
 *                       opened once (st->dfd; a dir others may write to
 *                       is refused), .lock is opened relative to it with
 *                       O_NOFOLLOW, sysio's open adds O_NOFOLLOW to every
 *                       open, partition directories are checked (a link
 *                       refuses the start) and listed/emptied through
 *                       fds opened O_NOFOLLOW (part_dir_open).
 *   recovery-point-offset-checkpoint
 *                       Kafka's format: "0\n", the entry count, then
 *                       "<topic> <partition> <offset>\n" per partition.
 *                       Written atomically at close and by the maintenance
 *                       thread at most once a second after a flush
 *                       advanced a recovery point.  Missing or corrupt:
 *                       every partition recovers from offset 0 (a full
 *                       scan), never a failed start.
 *   .topicfs_clean_shutdown
 *                       Written (fsynced) by store_close after every
 *                       partition is flushed and the checkpoint written.
 *                       store_open removes it (and fsyncs the directory)
 *                       BEFORE loading anything, so a crash during loading
 *                       means full recovery next time (KAFKA-10471); when
 *                       it was present every recovery point is "the end"
 *                       (part_recover.c still checks index files and
 *                       decodes the active segment's tail).
 *
 * TOPICS are refcounted: the store's map holds one reference,
 * store_topic_get/store_topic_create give callers one each (topic_put
 * releases).  Deletion takes the topic out of the map, marks it deleted
 * (appends and reads fail with -ENOENT, waiters wake), removes the files,
 * and the memory goes with the last reference.
 *
 * MAINTENANCE THREAD: wakes every 10 ms: writes lingered appends that are
 * due, runs flush_ms flushes; every 100 ms also segment_ms rolls and
 * retention; writes the checkpoint when a recovery point advanced (at most
 * once a second); once a second groups_maintain (the consumer offsets'
 * flush_ms fsync, expiry and compaction, groups.c).
 *
 * CONSUMER GROUPS: st->groups (groups.c) is opened after the topics are
 * loaded and closed (fsynced) in store_free; its directory
 * .consumer-offsets starts with a '.', so store_load never takes it for a
 * topic or a partition directory.
 *
 * Locks: store.mu guards the topic map (held across topic creation, which
 * is rare, so a name cannot be created twice); store.hook_lock (rwlock)
 * guards the hooks, read-held during a call so store_remove_append_hook
 * returns only when no call of the old hook is running; topic.cfg_mu
 * guards topic.cfg.  Everything here is thread-safe.
 */
#include "engine.h"
#include "sysio.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CLEAN_MARKER ".topicfs_clean_shutdown"
#define CHECKPOINT   "recovery-point-offset-checkpoint"
#define LSO_CHECKPOINT "log-start-offset-checkpoint"
#define MAINT_TICK_MS 10
#define MAINT_SLOW_TICKS 10
#define CKPT_MIN_INTERVAL_MS 1000
#define GROUPS_MAINT_MS 1000    /* groups_maintain: flush, expiry, compaction */

/* ============================ configuration ============================== */

/* Everything below is derived from TOPIC_SETTINGS (topic_settings.h). */

enum {
#define TS_IDX_(member, ...) TS_IDX_##member,
	TOPIC_SETTINGS(TS_IDX_)
#undef TS_IDX_
	TS_N
};

/* The table's own consistency, at compile time: every default within its
 * bounds, the user bounds within the engine's limits, the limits within
 * the field's C type. */
#define TS_TYPE_MAX_(ctype) (sizeof(ctype) == 4 ? (int64_t)INT32_MAX : INT64_MAX)
#define TS_TYPE_MIN_(ctype) (sizeof(ctype) == 4 ? (int64_t)INT32_MIN : INT64_MIN)
#define TS_ASSERT_(member, ctype, kind, key, section, gkey, def, min, max,    \
                   lmin, lmax, ...)                                            \
	_Static_assert((min) <= (def) && (def) <= (max),                      \
	               key ": default outside its bounds");                    \
	_Static_assert((lmin) <= (min) && (max) <= (lmax),                    \
	               key ": user bounds outside the engine limits");         \
	_Static_assert(TS_TYPE_MIN_(ctype) <= (lmin) &&                       \
	               (lmax) <= TS_TYPE_MAX_(ctype),                          \
	               key ": limits outside the field type");
TOPIC_SETTINGS(TS_ASSERT_)
#undef TS_ASSERT_

static const struct topic_setting ts_rows[TS_N] = {
#define TS_ROW_(member, ctype, kind_, key, section_, gkey, def_, min_, max_,  \
                lmin, lmax, kafka, change_, doc_)                              \
	[TS_IDX_##member] = { .name = key, .kafka_name = kafka,                \
	                      .section = section_, .global_key = gkey,         \
	                      .kind = kind_, .change = change_, .def = def_,   \
	                      .min = min_, .max = max_, .lim_min = lmin,       \
	                      .lim_max = lmax, .doc = doc_ },
	TOPIC_SETTINGS(TS_ROW_)
#undef TS_ROW_
};

/* sizeof of each field */
static const size_t ts_size[TS_N] = {
#define TS_SIZEOF_(member, ctype, ...) [TS_IDX_##member] = sizeof(ctype),
	TOPIC_SETTINGS(TS_SIZEOF_)
#undef TS_SIZEOF_
};

size_t topic_setting_count(void)
{
	return TS_N;
}

const struct topic_setting *topic_setting_at(size_t i)
{
	return i < TS_N ? &ts_rows[i] : NULL;
}

const struct topic_setting *topic_setting_find(const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; i < TS_N; i++)
		if (!strcmp(ts_rows[i].name, name) ||
		    (ts_rows[i].kafka_name && !strcmp(ts_rows[i].kafka_name, name)))
			return &ts_rows[i];
	return NULL;
}

/* Our key only (the .topic file knows no Kafka names). */
static const struct topic_setting *ts_find_key(const char *key)
{
	for (size_t i = 0; i < TS_N; i++)
		if (!strcmp(ts_rows[i].name, key))
			return &ts_rows[i];
	return NULL;
}

int64_t topic_setting_get(const struct topic_config *cfg,
                          const struct topic_setting *s)
{
	switch (s - ts_rows) {
#define TS_GET_(member, ...) case TS_IDX_##member: return (int64_t)cfg->member;
	TOPIC_SETTINGS(TS_GET_)
#undef TS_GET_
	}
	return 0;
}

/* Store v, already checked against the field's range. */
static void ts_store(struct topic_config *cfg, const struct topic_setting *s,
                     int64_t v)
{
	switch (s - ts_rows) {
#define TS_PUT_(member, ctype, ...) \
	case TS_IDX_##member: cfg->member = (ctype)v; break;
	TOPIC_SETTINGS(TS_PUT_)
#undef TS_PUT_
	}
}

static bool ts_codec_ok(int64_t v)
{
	return v == CODEC_NONE || v == CODEC_SNAPPY || v == CODEC_LZ4 ||
	       v == CODEC_ZSTD;
}

static const char *framing_str(int64_t v)
{
	return v == FRAMING_LINES ? "lines" : v == FRAMING_WRITES ? "writes" : NULL;
}

/* TS_BYTE's text (topic_settings.h, key_separator): a graphic ASCII byte
 * other than '\\' as itself, "\t", "\\" or "\xHH".  The byte, or -1. */
static int ts_byte_parse(const char *s)
{
	size_t n = strlen(s);
	int h, l;

	if (n == 1 && s[0] > 0x20 && s[0] < 0x7f && s[0] != '\\')
		return (unsigned char)s[0];
	if (n == 2 && s[0] == '\\' && s[1] == 't')
		return '\t';
	if (n == 2 && s[0] == '\\' && s[1] == '\\')
		return '\\';
	if (n != 4 || s[0] != '\\' || s[1] != 'x' || !isxdigit((unsigned char)s[2]) ||
	    !isxdigit((unsigned char)s[3]))
		return -1;
	h = isdigit((unsigned char)s[2]) ? s[2] - '0' : (tolower((unsigned char)s[2]) - 'a' + 10);
	l = isdigit((unsigned char)s[3]) ? s[3] - '0' : (tolower((unsigned char)s[3]) - 'a' + 10);
	return h * 16 + l;
}

/* The canonical text of a TS_BYTE value (at most 5 bytes with the NUL). */
static void ts_byte_format(int64_t v, char out[5])
{
	if (v > 0x20 && v < 0x7f && v != '\\')
		snprintf(out, 5, "%c", (char)v);
	else if (v == '\t')
		snprintf(out, 5, "\\t");
	else if (v == '\\')
		snprintf(out, 5, "\\\\");
	else
		snprintf(out, 5, "\\x%02x", (unsigned)(v & 0xff));
}

/* v against s: user bounds or (limits) the engine's.  0 or -EINVAL with
 * the reason in why[] (may be NULL). */
static int ts_value_check(const struct topic_setting *s, int64_t v, bool limits,
                          char *why, size_t whylen)
{
	int64_t lo = limits ? s->lim_min : s->min, hi = limits ? s->lim_max : s->max;

	if (s->kind == TS_CODEC) {
		if (ts_codec_ok(v))
			return 0;
		if (why)
			snprintf(why, whylen, "%s must be none, snappy, lz4 or zstd",
			         s->name);
		return -EINVAL;
	}
	if (s->kind == TS_FRAMING) {
		if (framing_str(v))
			return 0;
		if (why)
			snprintf(why, whylen, "%s must be lines or writes", s->name);
		return -EINVAL;
	}
	if (s->kind == TS_BYTE) {
		if (v >= lo && v <= hi && v != '\n')
			return 0;
		if (why)
			snprintf(why, whylen, "%s must be one byte other than a newline",
			         s->name);
		return -EINVAL;
	}
	if (v >= lo && v <= hi)
		return 0;
	if (why)
		snprintf(why, whylen, "%s must be %" PRId64 "..%" PRId64, s->name, lo, hi);
	return -EINVAL;
}

void topic_config_defaults(struct topic_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
#define TS_DEF_(member, ctype, kind, key, section, gkey, def, ...) \
	cfg->member = (ctype)(def);
	TOPIC_SETTINGS(TS_DEF_)
#undef TS_DEF_
}

/* The cross-field rules, written once.  None today, deliberately:
 *  - segment_bytes < max_message_bytes is fine (a batch larger than a
 *    segment gets a segment of its own; see topic_settings.h);
 *  - batch_bytes > max_message_bytes is fine (the append path cuts batches
 *    at the smaller of the two);
 *  - batch_bytes and max_message_bytes <= the store's decompression bound
 *    is a store-wide rule: daemon/config.c checks it against [storage]
 *    max_decompressed_bytes.
 * Add rules here (and only here); topic_config_check and
 * topic_config_check_limits both run them. */
static const char *ts_cross_check(const struct topic_config *cfg)
{
	(void)cfg;
	return NULL;
}

static __thread char ts_why[160];

static int config_check(const struct topic_config *cfg, bool limits,
                        const char **why)
{
	const char *w = NULL;

	if (!cfg) {
		w = "no config";
	} else {
		for (size_t i = 0; i < TS_N && !w; i++)
			if (ts_value_check(&ts_rows[i], topic_setting_get(cfg, &ts_rows[i]),
			                   limits, ts_why, sizeof(ts_why)) < 0)
				w = ts_why;
		if (!w)
			w = ts_cross_check(cfg);
	}
	if (w) {
		if (why)
			*why = w;
		return -EINVAL;
	}
	return 0;
}

int topic_config_check(const struct topic_config *cfg, const char **why)
{
	return config_check(cfg, false, why);
}

int topic_config_check_limits(const struct topic_config *cfg, const char **why)
{
	return config_check(cfg, true, why);
}

int topic_setting_set(struct topic_config *cfg, const struct topic_setting *s,
                      int64_t v, char *why, size_t whylen)
{
	if (!cfg || !s || s < ts_rows || s >= ts_rows + TS_N) {
		if (why)
			snprintf(why, whylen, "unknown setting");
		return -EINVAL;
	}
	if (ts_value_check(s, v, false, why, whylen) < 0)
		return -EINVAL;
	ts_store(cfg, s, v);
	return 0;
}

int topic_setting_format(const struct topic_config *cfg,
                         const struct topic_setting *s, char *buf, size_t len)
{
	int64_t v;
	int n;

	if (!cfg || !s || s < ts_rows || s >= ts_rows + TS_N || (!buf && len))
		return -EINVAL;
	v = topic_setting_get(cfg, s);
	if (s->kind == TS_CODEC)
		n = snprintf(buf, len, "%s", codec_name((int)v));
	else if (s->kind == TS_FRAMING)
		n = snprintf(buf, len, "%s", framing_str(v) ? framing_str(v) : "unknown");
	else if (s->kind == TS_BYTE) {
		char b[5];
		ts_byte_format(v, b);
		n = snprintf(buf, len, "%s", b);
	} else
		n = snprintf(buf, len, "%" PRId64, v);
	if (n < 0)
		return -EINVAL;
	return (size_t)n < len ? n : -ENOSPC;
}

int topic_setting_parse_int(enum topic_setting_kind kind, const char *s,
                            int64_t *out, char *why, size_t whylen)
{
	char *end;
	long long v;
	int64_t mult = 1;

	if (!why)
		whylen = 0;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (end == s || (!(*s >= '0' && *s <= '9') && *s != '-' && *s != '+')) {
		snprintf(why, whylen, "value '%s' is not a number", s);
		return -EINVAL;
	}
	if (errno == ERANGE) {
		snprintf(why, whylen, "value '%s' is too large", s);
		return -EINVAL;
	}
	if (*end) {
		const char *suf = end;
		if (kind == TS_SIZE) {
			if (!strcasecmp(suf, "k") || !strcasecmp(suf, "kb") || !strcasecmp(suf, "kib"))
				mult = TS_KiB;
			else if (!strcasecmp(suf, "m") || !strcasecmp(suf, "mb") || !strcasecmp(suf, "mib"))
				mult = TS_MiB;
			else if (!strcasecmp(suf, "g") || !strcasecmp(suf, "gb") || !strcasecmp(suf, "gib"))
				mult = TS_GiB;
			else if (!strcasecmp(suf, "t") || !strcasecmp(suf, "tb") || !strcasecmp(suf, "tib"))
				mult = 1024 * TS_GiB;
			else
				mult = 0;
		} else if (kind == TS_MS) {
			if (!strcmp(suf, "ms"))
				mult = 1;
			else if (!strcmp(suf, "s"))
				mult = 1000;
			else if (!strcmp(suf, "min"))
				mult = 60 * 1000;
			else if (!strcmp(suf, "h"))
				mult = 3600 * 1000;
			else if (!strcmp(suf, "d"))
				mult = TS_DAY_MS;
			else
				mult = 0;
		} else {
			mult = 0;
		}
		if (mult == 0) {
			snprintf(why, whylen, "value '%s' is not a number%s", s,
			         kind == TS_SIZE ? " (suffixes: K, M, G, T)" :
			         kind == TS_MS ? " (suffixes: ms, s, min, h, d)" : "");
			return -EINVAL;
		}
	}
	if (mult != 1 && (v > INT64_MAX / mult || v < INT64_MIN / mult)) {
		snprintf(why, whylen, "value '%s' is too large", s);
		return -EINVAL;
	}
	*out = (int64_t)v * mult;
	return 0;
}

int topic_setting_parse(struct topic_config *cfg, const struct topic_setting *s,
                        const char *text, char *why, size_t whylen)
{
	int64_t v;

	if (!why)
		whylen = 0;
	if (!cfg || !s || !text || s < ts_rows || s >= ts_rows + TS_N) {
		snprintf(why, whylen, "unknown setting");
		return -EINVAL;
	}
	switch (s->kind) {
	case TS_CODEC:
		/* exact names, as the INI always took them (codec_from_name
		 * also takes "LZ4" and "gzip") */
		v = codec_from_name(text);
		if (v < 0 || !ts_codec_ok(v) || strcmp(text, codec_name((int)v))) {
			snprintf(why, whylen,
			         "value '%s' is not a codec (none, snappy, lz4, zstd)",
			         text);
			return -EINVAL;
		}
		break;
	case TS_FRAMING:
		if (!strcmp(text, "lines"))
			v = FRAMING_LINES;
		else if (!strcmp(text, "writes"))
			v = FRAMING_WRITES;
		else {
			snprintf(why, whylen, "value '%s' is not a framing (lines, writes)",
			         text);
			return -EINVAL;
		}
		break;
	case TS_BYTE:
		v = ts_byte_parse(text);
		if (v < 0 || v == '\n') {
			snprintf(why, whylen, "value '%s' is not one byte (a graphic "
			         "character, \\t, \\\\ or \\xHH; not a newline)", text);
			return -EINVAL;
		}
		break;
	default:
		if (topic_setting_parse_int(s->kind, text, &v, why, whylen) < 0)
			return -EINVAL;
		if (v < s->min || v > s->max) {
			snprintf(why, whylen, "value %s out of range (%" PRId64 " .. %"
			         PRId64 ")", text, s->min, s->max);
			return -EINVAL;
		}
		break;
	}
	ts_store(cfg, s, v);
	return 0;
}

int topic_name_check(const char *name)
{
	size_t n;

	if (!name)
		return -EINVAL;
	n = strlen(name);
	if (n < 1 || n > 249 || !strcmp(name, ".") || !strcmp(name, ".."))
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return -EINVAL;
	}
	return 0;
}

/* ============================ metadata files ============================= */

static char *dir_file(const char *dir, const char *name, const char *ext)
{
	size_t n = strlen(dir) + strlen(name) + strlen(ext) + 2;
	char *s = malloc(n);
	if (s)
		snprintf(s, n, "%s/%s%s", dir, name, ext);
	return s;
}

/* ------------------------------ topic ids -------------------------------
 * A topic's id (Kafka's topic id, KIP-516): 16 random bytes made at
 * creation, kept in the .topic file as a last line "topic_id=<base64url,
 * 22 characters, no padding>" (Kafka's Uuid.toString), kept on every
 * rewrite, made and written once for a topic whose file has none (one
 * written before ids existed).  Immutable in struct topic. */
static const char b64url[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static void topic_id_format(const uint8_t id[16], char out[23])
{
	uint32_t acc = 0;
	int bits = 0;
	size_t n = 0;
	for (int i = 0; i < 16; i++) {
		acc = acc << 8 | id[i];
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			out[n++] = b64url[(acc >> bits) & 63];
		}
	}
	out[n++] = b64url[(acc << (6 - bits)) & 63];    /* 2 bits left */
	out[n] = '\0';
}

/* 0 with id set, -EINVAL when s is not 22 base64url characters (or the
 * zero id, which means none). */
static int topic_id_parse(const char *s, uint8_t id[16])
{
	uint32_t acc = 0;
	int bits = 0;
	size_t n = 0;
	if (strlen(s) != 22)
		return -EINVAL;
	for (size_t i = 0; i < 22; i++) {
		const char *q = strchr(b64url, s[i]);
		if (!s[i] || !q)
			return -EINVAL;
		acc = acc << 6 | (uint32_t)(q - b64url);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n < 16)
				id[n++] = (uint8_t)(acc >> bits);
		}
	}
	if (acc & ((1u << bits) - 1))
		return -EINVAL;                 /* the last 4 bits must be 0 */
	static const uint8_t zero[16];
	return memcmp(id, zero, 16) ? 0 : -EINVAL;
}

/* A random (version 4) id whose text does not start with '-' (Kafka's
 * Uuid.randomUuid rule). */
static void topic_id_generate(uint8_t id[16])
{
	char txt[23];
	do {
		size_t got = 0;
		while (got < 16) {
			ssize_t k = getrandom(id + got, 16 - got, 0);
			if (k < 0 && errno != EINTR) {
				/* no getrandom: time and address bits, still unique
				 * enough for one data dir */
				uint64_t x = (uint64_t)tfs_now_ms() ^ (uint64_t)(uintptr_t)id ^
				             ((uint64_t)getpid() << 32) ^ (uint64_t)clock();
				for (; got < 16; got++) {
					x ^= x << 13; x ^= x >> 7; x ^= x << 17;
					id[got] = (uint8_t)x;
				}
				break;
			}
			if (k > 0)
				got += (size_t)k;
		}
		id[6] = (uint8_t)((id[6] & 0x0f) | 0x40);
		id[8] = (uint8_t)((id[8] & 0x3f) | 0x80);
		topic_id_format(id, txt);
	} while (txt[0] == '-');
}

/* The topic_id= line of <name>.topic: 0, -ENOENT when it has none (or an
 * illegible one), -errno when the file cannot be read. */
static int topic_meta_read_id(struct store *st, const char *name, uint8_t id[16])
{
	char *path = dir_file(st->dir, name, ".topic"), *data = NULL;
	size_t len = 0;
	int rc;

	if (!path)
		return -ENOMEM;
	rc = sio_read_small(path, 64 << 10, &data, &len);
	free(path);
	if (rc < 0)
		return rc;
	rc = -ENOENT;
	for (char *line = data; line && line < data + len;) {
		char *nl = memchr(line, '\n', (size_t)(data + len - line));
		if (nl)
			*nl = '\0';
		char *k = line;
		while (*k == ' ' || *k == '\t')
			k++;
		if (!strncmp(k, "topic_id", 8)) {
			char *v = k + 8;
			while (*v == ' ' || *v == '\t')
				v++;
			if (*v == '=') {
				v++;
				while (*v == ' ' || *v == '\t')
					v++;
				size_t vl = strcspn(v, " \t\r");
				v[vl] = '\0';
				if (topic_id_parse(v, id) == 0)
					rc = 0;
			}
		}
		line = nl ? nl + 1 : NULL;
	}
	free(data);
	return rc;
}

void topic_id(struct topic *t, uint8_t out[16])
{
	memcpy(out, t->id, 16);
}

static int topic_meta_write_id(struct store *st, const char *name,
                               const struct topic_config *c,
                               const struct topic_owner *o, const uint8_t id[16]);

/* Rewrite <name>.topic with these settings and owner, keeping the file's
 * topic id (a new one if it has none). */
static int topic_meta_write(struct store *st, const char *name,
                            const struct topic_config *c,
                            const struct topic_owner *o)
{
	uint8_t id[16];
	if (topic_meta_read_id(st, name, id) < 0)
		topic_id_generate(id);
	return topic_meta_write_id(st, name, c, o, id);
}

/* ------------------------------ owners ----------------------------------
 * The mount's owner of a topic (storage.h, struct topic_owner): three
 * lines between the settings and topic_id=, only when stored:
 * "owner_uid=<decimal>", "owner_gid=<decimal>", "mode=<octal, 4 digits>"
 * (0 .. 07777).  A missing key takes its default (the daemon's euid or
 * egid, 0755); any of the three makes the owner stored.  A value that
 * does not parse (or the uid or gid 4294967295, which means "none" to
 * chown) is damage, like a setting's (topic_meta_parse). */
void topic_owner_default(struct topic_owner *out)
{
	out->uid = (uint32_t)geteuid();
	out->gid = (uint32_t)getegid();
	out->mode = TOPIC_MODE_DEFAULT;
	out->stored = false;
}

static bool topic_owner_ok(const struct topic_owner *o)
{
	return o->mode <= TOPIC_MODE_MASK && o->uid != UINT32_MAX &&
	       o->gid != UINT32_MAX;
}

/* One owner line of a .topic file: 1 when key is one of the three (value
 * in *o, or -EINVAL for a bad value), 0 when it is not an owner key. */
static int topic_owner_parse_line(const char *key, const char *val,
                                  struct topic_owner *o)
{
	bool octal = !strcmp(key, "mode");
	unsigned long long v;
	char *end;

	if (!octal && strcmp(key, "owner_uid") && strcmp(key, "owner_gid"))
		return 0;
	if (!*val || strspn(val, octal ? "01234567" : "0123456789") != strlen(val) ||
	    strlen(val) > 10)
		return -EINVAL;
	errno = 0;
	v = strtoull(val, &end, octal ? 8 : 10);
	if (errno || *end || v >= (octal ? TOPIC_MODE_MASK + 1ull : UINT32_MAX))
		return -EINVAL;
	if (octal)
		o->mode = (uint32_t)v;
	else if (key[6] == 'u')
		o->uid = (uint32_t)v;
	else
		o->gid = (uint32_t)v;
	o->stored = true;
	return 1;
}

/* The .topic file: "version=1", then "KEY=VALUE" per row of
 * topic_settings.h in row order, values as topic_setting_format writes
 * them (plain integers, codec and framing names), then the owner lines
 * when o is stored (see "owners"), then "topic_id=".  Byte for byte what
 * earlier versions wrote up to the ids for a topic without a stored
 * owner, as long as rows are only ever appended. */
static int topic_meta_write_id(struct store *st, const char *name,
                               const struct topic_config *c,
                               const struct topic_owner *o, const uint8_t id[16])
{
	char buf[2048], *path = dir_file(st->dir, name, ".topic");
	size_t n;
	int rc;

	if (!path)
		return -ENOMEM;
	n = (size_t)snprintf(buf, sizeof(buf), "version=1\n");
	for (size_t i = 0; i < TS_N; i++) {
		const struct topic_setting *s = &ts_rows[i];
		int k = snprintf(buf + n, sizeof(buf) - n, "%s=", s->name);
		if (k < 0 || (size_t)k >= sizeof(buf) - n)
			goto toolong;
		n += (size_t)k;
		k = topic_setting_format(c, s, buf + n, sizeof(buf) - n - 1);
		if (k < 0)
			goto toolong;
		n += (size_t)k;
		buf[n++] = '\n';
	}
	if (o && o->stored) {
		int k = snprintf(buf + n, sizeof(buf) - n, "owner_uid=%" PRIu32
		                 "\nowner_gid=%" PRIu32 "\nmode=%04" PRIo32 "\n",
		                 o->uid, o->gid, o->mode & TOPIC_MODE_MASK);
		if (k < 0 || (size_t)k >= sizeof(buf) - n)
			goto toolong;
		n += (size_t)k;
	}
	{
		char txt[23];
		topic_id_format(id, txt);
		int k = snprintf(buf + n, sizeof(buf) - n, "topic_id=%s\n", txt);
		if (k < 0 || (size_t)k >= sizeof(buf) - n)
			goto toolong;
		n += (size_t)k;
	}
	rc = sio_write_atomic(path, buf, n);
	free(path);
	return rc;
toolong:
	free(path);
	return -ENAMETOOLONG;
}

static int parse_i64(const char *s, int64_t *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end)
		return -EINVAL;
	*out = v;
	return 0;
}

#define META_MAX_BYTES (64 << 10)
#define META_NEWER (-EPROTONOSUPPORT)   /* version 2 or more */

static char *trim(char *s)
{
	size_t n;

	while (*s == ' ' || *s == '\t')
		s++;
	n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		s[--n] = '\0';
	return s;
}

/* Parse the bytes of a .topic file (modified in place).  What is harmless
 * is accepted: CR before the line end, blanks around keys and values,
 * blank lines, a last line without '\n'; an unknown key is logged and
 * ignored (a newer minor version may add keys).  The first line that is
 * not blank must be "version=1"; version=2 or more is META_NEWER.
 * Accepts the values earlier versions accepted: plain decimal numbers (no
 * suffixes), the codec and framing names, settings missing = defaults,
 * values within the engine's limits; a value outside the user bounds is
 * kept (with a log line).
 *
 * salvage = false: 0, or -EINVAL with the first damage in why[].
 * salvage = true: every legible setting is kept, the rest are defaults;
 * returns 0 (or META_NEWER).  *seen: bit i set when row i was read.  The
 * owner lines go to *o (the defaults, not stored, when there are none;
 * salvage keeps the legible ones). */
static int topic_meta_parse(const char *path, char *data, size_t len,
                            bool salvage, struct topic_config *c,
                            struct topic_owner *o,
                            uint64_t *seen, char *why, size_t whylen)
{
	char *line = data, *end = data + len;
	bool have_version = false;
	int lineno = 0;

	_Static_assert(TS_N <= 64, "seen is a 64-bit mask");
	topic_config_defaults(c);
	topic_owner_default(o);
	*seen = 0;
	why[0] = '\0';
#define META_BAD(...) do {                                                  \
		if (!why[0])                                                \
			snprintf(why, whylen, __VA_ARGS__);                 \
		if (!salvage)                                               \
			return -EINVAL;                                     \
	} while (0)
	if (memchr(data, '\0', len)) {
		META_BAD("a NUL byte at %zu", (size_t)((char *)memchr(data, '\0', len) - data));
		for (char *q = data; q < end; q++)   /* salvage: NULs end lines */
			if (!*q)
				*q = '\n';
	}
	while (line < end) {
		char *nl = memchr(line, '\n', (size_t)(end - line));
		char *next = nl ? nl + 1 : end, *eq, *key, *val;
		const struct topic_setting *s;
		int64_t v = 0;

		if (nl)
			*nl = '\0';
		else
			*end = '\0';           /* sio_read_small NUL-terminates */
		lineno++;
		key = trim(line);
		line = next;
		if (!*key)
			continue;
		eq = strchr(key, '=');
		if (!eq) {
			META_BAD("line %d: no '='", lineno);
			continue;
		}
		*eq = '\0';
		val = trim(eq + 1);
		key = trim(key);
		if (!strcmp(key, "version")) {
			if (parse_i64(val, &v) == 0 && v >= 2) {
				snprintf(why, whylen, "version=%s", val);
				return META_NEWER;
			}
			if (v != 1 || parse_i64(val, &v) < 0)
				META_BAD("line %d: version '%s'", lineno, val);
			have_version = true;
			continue;
		}
		if (!have_version) {
			META_BAD("line %d: no version line first", lineno);
			have_version = true;   /* said once */
		}
		s = ts_find_key(key);
		if (!s && !strcmp(key, "topic_id"))
			continue;               /* topic_meta_read_id's */
		if (!s) {
			int orc = topic_owner_parse_line(key, val, o);
			if (orc < 0)
				META_BAD("line %d: %s '%s'", lineno, key, val);
			if (orc != 0)
				continue;
		}
		if (!s) {
			if (!salvage)
				tfs_log(TFS_LOG_WARN, "storage: %s line %d: unknown setting "
				        "'%s' ignored (written by a newer topicfs?)", path,
				        lineno, key);
			continue;
		}
		if (s->kind == TS_FRAMING) {
			if (!strcmp(val, "lines"))
				v = FRAMING_LINES;
			else if (!strcmp(val, "writes"))
				v = FRAMING_WRITES;
			else {
				META_BAD("line %d: %s '%s'", lineno, key, val);
				continue;
			}
		} else if (s->kind == TS_CODEC) {
			v = codec_from_name(val);
			if (v < 0) {
				META_BAD("line %d: %s '%s'", lineno, key, val);
				continue;
			}
		} else if (s->kind == TS_BYTE) {
			v = ts_byte_parse(val);
			if (v < 0) {
				META_BAD("line %d: %s '%s'", lineno, key, val);
				continue;
			}
		} else if (parse_i64(val, &v) < 0) {
			META_BAD("line %d: %s '%s'", lineno, key, val);
			continue;
		}
		/* what fits the field (as before); the limits are checked below */
		if ((ts_size[s - ts_rows] == 4 && (v < INT32_MIN || v > INT32_MAX)) ||
		    ts_value_check(s, v, true, NULL, 0) < 0) {
			META_BAD("line %d: %s=%s outside the engine's limits", lineno,
			         key, val);
			continue;
		}
		ts_store(c, s, v);
		*seen |= (uint64_t)1 << (s - ts_rows);
	}
	if (!have_version)
		META_BAD("%s", len ? "no settings" : "empty");
#undef META_BAD
	{
		const char *w = NULL;
		if (topic_config_check_limits(c, &w) < 0) {
			/* cross-field rules: back to the defaults in salvage */
			if (!salvage) {
				snprintf(why, whylen, "%s", w);
				return -EINVAL;
			}
			topic_config_defaults(c);
			*seen = 0;
		}
		if (!salvage && topic_config_check(c, &w) < 0)
			tfs_log(TFS_LOG_INFO, "storage: %s: %s (kept: within the "
			        "engine's limits)", path, w);
	}
	return 0;
}

/* The partitions the data dir shows for topic name: highest N of the
 * "<name>-N" entries (canonical decimal) + 1, or 0. */
static int64_t part_dirs_count(char *const *ents, size_t nents, const char *name)
{
	size_t nl = strlen(name);
	int64_t n = 0;

	for (size_t i = 0; i < nents; i++) {
		const char *e = ents[i], *d;
		int64_t v = 0;
		if (strncmp(e, name, nl) || e[nl] != '-')
			continue;
		d = e + nl + 1;
		if (!*d || strspn(d, "0123456789") != strlen(d) || strlen(d) > 10 ||
		    (d[0] == '0' && d[1]))
			continue;
		if (parse_i64(d, &v) == 0 && v + 1 > n)
			n = v + 1;
	}
	return n;
}

/* A name for the damaged copy: "<fn>.damaged", or ".damaged.<ms>" when
 * that exists (names cut to fit NAME_MAX). */
static void damaged_name(struct store *st, const char *fn, char *out, size_t cap)
{
	struct stat sb;
	char suf[48];

	for (int k = 0; k < 1000; k++) {
		if (k == 0)
			snprintf(suf, sizeof(suf), ".damaged");
		else
			snprintf(suf, sizeof(suf), ".damaged.%" PRId64 "%s%.0d",
			         tfs_now_ms(), k > 1 ? "-" : "", k > 1 ? k : 0);
		snprintf(out, cap, "%.*s%s", (int)(NAME_MAX - strlen(suf)), fn, suf);
		if (fstatat(st->dfd, out, &sb, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT)
			return;
	}
}

static int topic_meta_write(struct store *st, const char *name,
                            const struct topic_config *c,
                            const struct topic_owner *o);

/* Read <name>.topic for store_load.  0 with *c filled; META_NEWER (the
 * start is refused); -errno when it cannot be read (the start fails: an
 * I/O error is not "no topic").  A damaged file is REBUILT (see
 * FORMAT.md): the settings still legible are kept, the partition count
 * is the larger of a legible "partitions" line and the highest "<name>-N"
 * directory + 1 (missing directories below it start empty), the rest are
 * defaults; the damaged file is kept as <name>.topic.damaged (or
 * .damaged.<ms>) and the new one written atomically.  *o: the owner
 * lines (the legible ones of a damaged file). */
static int topic_meta_load(struct store *st, const char *name, char *const *ents,
                           size_t nents, struct topic_config *c,
                           struct topic_owner *o)
{
	char *path = dir_file(st->dir, name, ".topic"), *data = NULL, *copy = NULL;
	char why[200], dname[NAME_MAX + 1], fn[NAME_MAX + 8];  /* name + ".topic" */
	const struct topic_setting *ps = ts_find_key("partitions");
	uint64_t seen = 0;
	int64_t nd;
	size_t len = 0;
	int rc;

	if (!path)
		return -ENOMEM;
	snprintf(fn, sizeof(fn), "%s.topic", name);
	rc = sio_read_small(path, META_MAX_BYTES, &data, &len);
	if (rc == -EFBIG) {
		snprintf(why, sizeof(why), "larger than %d bytes", META_MAX_BYTES);
		rc = -EINVAL;
	} else if (rc == 0) {
		copy = malloc(len + 1);
		if (!copy) {
			rc = -ENOMEM;
			goto out;
		}
		memcpy(copy, data, len + 1);
		rc = topic_meta_parse(path, copy, len, false, c, o, &seen, why,
		                      sizeof(why));
	} else {
		/* an I/O error is not "no topic": starting without it would
		 * let a new topic of that name take its directories */
		tfs_log(TFS_LOG_ERROR, "storage: %s: cannot read: %s", path,
		        strerror(-rc));
		goto out;
	}
	if (rc == META_NEWER) {
		tfs_log(TFS_LOG_ERROR, "storage: %s: %s: written by a newer topicfs "
		        "(this one reads version=1); refusing to start rather than "
		        "guess its settings (run the newer topicfs)", path, why);
		goto out;
	}
	nd = part_dirs_count(ents, nents, name);
	if (rc == 0) {
		if (nd > c->partitions)
			tfs_log(TFS_LOG_ERROR, "storage: %s: names %d partitions but "
			        "%s/%s-%" PRId64 " exists: the directories past the "
			        "count are kept, not loaded, never emptied", path,
			        c->partitions, st->dir, name, nd - 1);
		goto out;
	}

	/* damaged: rebuild from what is legible and what the data dir shows */
	if (data) {
		memcpy(copy, data, len + 1);
		rc = topic_meta_parse(path, copy, len, true, c, o, &seen, dname,
		                      sizeof(dname));
	} else {
		topic_config_defaults(c);
		topic_owner_default(o);
		rc = 0;
	}
	if (rc == META_NEWER) {
		tfs_log(TFS_LOG_ERROR, "storage: %s: damaged, and it says %s "
		        "(a newer topicfs): refusing to start", path, dname);
		goto out;
	}
	if (nd > ps->lim_max) {
		tfs_log(TFS_LOG_ERROR, "storage: %s: damaged (%s) and %s/%s-%" PRId64
		        " is past the partition limit: cannot rebuild it, refusing to "
		        "start", path, why, st->dir, name, nd - 1);
		rc = -EINVAL;
		goto out;
	}
	if (!(seen & ((uint64_t)1 << (ps - ts_rows))) && nd > 0)
		c->partitions = (int32_t)nd;
	else if (nd > c->partitions)
		c->partitions = (int32_t)nd;
	damaged_name(st, fn, dname, sizeof(dname));
	{
		char *dpath = dir_file(st->dir, dname, "");
		if (!dpath) {
			rc = -ENOMEM;
			goto out;
		}
		/* a copy first: a crash leaves the damaged file or the new one
		 * in place, never neither */
		if (data) {
			rc = sio_write_atomic(dpath, data, len);
		} else {
			rc = sysio->rename(path, dpath) < 0 ? -errno : 0;
			if (rc < 0)
				sio_log("rename", path, rc);
		}
		free(dpath);
		if (rc < 0)
			goto out;
	}
	rc = topic_meta_write(st, name, c, o);
	if (rc < 0)
		goto out;
	{
		char fr[16], co[16];
		topic_setting_format(c, ts_find_key("framing"), fr, sizeof(fr));
		topic_setting_format(c, ts_find_key("compression"), co, sizeof(co));
		tfs_log(TFS_LOG_ERROR, "storage: %s: damaged (%s): REBUILT from the "
		        "data dir with partitions=%d (%" PRId64 " partition "
		        "directories found) framing=%s compression=%s, %d of %d "
		        "settings still legible, the others defaults; the damaged "
		        "file is kept as %s/%s: check the settings (topicfs-admin "
		        "describe)", path, why, c->partitions, nd, fr, co,
		        __builtin_popcountll(seen), (int)TS_N, st->dir, dname);
	}
out:
	free(copy);
	free(data);
	free(path);
	return rc;
}

/* ============================== checkpoint =============================== */

struct ckpt_entry {
	char *topic;
	int32_t part;
	int64_t offset;
};

static void ckpt_free(struct ckpt_entry *e, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(e[i].topic);
	free(e);
}

/* Read a checkpoint file (the recovery points, or the log starts); a
 * missing or corrupt file gives no entries. */
static void ckpt_read_file(struct store *st, const char *fname,
                           struct ckpt_entry **out, size_t *count)
{
	char *path = dir_file(st->dir, fname, ""), *data = NULL, *line, *save;
	struct ckpt_entry *e = NULL;
	size_t len, n = 0;
	long long declared = -1;
	int lineno = 0;

	*out = NULL;
	*count = 0;
	if (!path)
		return;
	if (sio_read_small(path, 256 << 20, &data, &len) < 0) {
		free(path);
		return;
	}
	for (line = strtok_r(data, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char topic[256];
		long long part, off;
		char extra;

		lineno++;
		if (lineno == 1) {
			if (strcmp(line, "0"))
				goto bad;
			continue;
		}
		if (lineno == 2) {
			if (sscanf(line, "%lld%c", &declared, &extra) != 1 || declared < 0 ||
			    declared > 100000000)
				goto bad;
			e = calloc((size_t)declared + 1, sizeof(*e));
			if (!e)
				goto bad;
			continue;
		}
		if (n >= (size_t)declared ||
		    sscanf(line, "%255s %lld %lld%c", topic, &part, &off, &extra) != 3 ||
		    topic_name_check(topic) < 0 || part < 0 || part > INT32_MAX || off < 0)
			goto bad;
		e[n].topic = strdup(topic);
		if (!e[n].topic)
			goto bad;
		e[n].part = (int32_t)part;
		e[n].offset = off;
		n++;
	}
	if (lineno < 2 || n != (size_t)declared)
		goto bad;
	*out = e;
	*count = n;
	free(data);
	free(path);
	return;
bad:
	if (strcmp(fname, CHECKPOINT))
		tfs_log(TFS_LOG_ERROR, "storage: %s: corrupt (line %d), ignored: "
		        "records deleted with DeleteRecords below the segment "
		        "boundaries come back", path, lineno);
	else
		tfs_log(TFS_LOG_WARN, "storage: %s: corrupt (line %d), recovering "
		        "every partition from its start", path, lineno);
	ckpt_free(e, n);
	free(data);
	free(path);
}

static void ckpt_read(struct store *st, struct ckpt_entry **out, size_t *count)
{
	ckpt_read_file(st, CHECKPOINT, out, count);
}

static int64_t ckpt_lookup(const struct ckpt_entry *e, size_t n,
                           const char *topic, int32_t part)
{
	for (size_t i = 0; i < n; i++)
		if (e[i].part == part && !strcmp(e[i].topic, topic))
			return e[i].offset;
	return 0;
}

/* Snapshot the topic map with a reference on each. */
static int topics_snapshot(struct store *st, struct topic ***out, size_t *count)
{
	struct topic **ts;

	lock_rank(&st->mu, RANK_STORE_MU);
	ts = malloc((st->ntopics + 1) * sizeof(*ts));
	if (!ts) {
		unlock_rank(&st->mu);
		return -ENOMEM;
	}
	for (size_t i = 0; i < st->ntopics; i++) {
		ts[i] = st->topics[i];
		__atomic_add_fetch(&ts[i]->refs, 1, __ATOMIC_RELAXED);
	}
	*count = st->ntopics;
	unlock_rank(&st->mu);
	*out = ts;
	return 0;
}

static void topics_release(struct topic **ts, size_t n)
{
	for (size_t i = 0; i < n; i++)
		topic_put(ts[i]);
	free(ts);
}

static int ckpt_write(struct store *st)
{
	struct topic **ts;
	size_t nt, total = 0;
	struct buf b = { 0 };
	char line[320], *path;
	int rc;

	rc = topics_snapshot(st, &ts, &nt);
	if (rc < 0)
		return rc;
	int32_t *np = calloc(nt + 1, sizeof(*np));
	if (!np) {
		topics_release(ts, nt);
		return -ENOMEM;
	}
	for (size_t i = 0; i < nt; i++) {
		np[i] = topic_nparts(ts[i]);    /* one count per topic: it may grow */
		total += (size_t)np[i];
	}
	int n = snprintf(line, sizeof(line), "0\n%zu\n", total);
	rc = buf_append(&b, line, (size_t)n);
	for (size_t i = 0; i < nt && rc == 0; i++) {
		for (int32_t j = 0; j < np[i] && rc == 0; j++) {
			n = snprintf(line, sizeof(line), "%s %d %" PRId64 "\n", ts[i]->name, j,
			             part_recovery_point(topic_part_at(ts[i], j)));
			rc = buf_append(&b, line, (size_t)n);
		}
	}
	free(np);
	topics_release(ts, nt);
	if (rc < 0)
		goto free_buf;
	path = dir_file(st->dir, CHECKPOINT, "");
	if (!path) {
		rc = -ENOMEM;
		goto free_buf;
	}
	rc = sio_write_atomic(path, b.data, b.len);
	free(path);
free_buf:
	buf_free(&b);
	return rc;
}

/* ======================= log-start-offset checkpoint ======================
 * <data_dir>/log-start-offset-checkpoint (Kafka's file of that name, in
 * the recovery checkpoint's format) records the log start of every
 * partition whose start is inside its first segment, i.e. moved there by
 * part_delete_records (a start at a segment boundary is what the segment
 * files and stream-start already say).  Written atomically under
 * store.lso_mu, before the start it records is published, so an
 * acknowledged DeleteRecords survives a crash; rewritten after a topic
 * deletion (a topic created again under the name must not inherit it).
 * Read at every load (clean or not), applied after the partition is
 * recovered (part_log_start_apply).  Corrupt: ignored with an error line
 * (the deleted records come back; nothing is lost). */
static int lso_ckpt_write_locked(struct store *st, struct part *over,
                                 int64_t over_off)
{
	struct topic **ts;
	size_t nt, count = 0;
	struct buf b = { 0 }, out = { 0 };
	char line[320], *path;
	int rc;

	rc = topics_snapshot(st, &ts, &nt);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < nt && rc == 0; i++) {
		int32_t np = topic_nparts(ts[i]);
		for (int32_t j = 0; j < np && rc == 0; j++) {
			struct part *q = topic_part_at(ts[i], j);
			int64_t off, first;
			lock_rank(&q->lock, RANK_PART_LOCK);
			off = q == over ? over_off : q->log_start_offset;
			first = q->nsegs ? q->segs[0]->base_offset : off;
			unlock_rank(&q->lock);
			if (off <= first)
				continue;
			int n = snprintf(line, sizeof(line), "%s %d %" PRId64 "\n",
			                 ts[i]->name, j, off);
			rc = buf_append(&b, line, (size_t)n);
			count++;
		}
	}
	topics_release(ts, nt);
	if (rc == 0) {
		int n = snprintf(line, sizeof(line), "0\n%zu\n", count);
		rc = buf_append(&out, line, (size_t)n);
	}
	if (rc == 0 && b.len)
		rc = buf_append(&out, b.data, b.len);
	if (rc == 0) {
		path = dir_file(st->dir, LSO_CHECKPOINT, "");
		rc = path ? sio_write_atomic(path, out.data, out.len) : -ENOMEM;
		free(path);
	}
	buf_free(&b);
	buf_free(&out);
	return rc;
}

int store_lso_commit(struct part *p, int64_t off, int64_t pos)
{
	struct store *st = p->topic->st;
	int rc;

	INV_WRITER(p);
	pthread_mutex_lock(&st->lso_mu);
	rc = lso_ckpt_write_locked(st, p, off);
	if (rc == 0) {
		lock_rank(&p->lock, RANK_PART_LOCK);
		INV_P_WRITE(p);
		p->log_start_offset = off;
		p->stream_start = pos;
		unlock_rank(&p->lock);
	}
	pthread_mutex_unlock(&st->lso_mu);
	return rc;
}

/* After a topic deletion: drop its entries (when there is a file). */
static void lso_ckpt_forget(struct store *st)
{
	struct stat sb;

	if (fstatat(st->dfd, LSO_CHECKPOINT, &sb, AT_SYMLINK_NOFOLLOW) < 0)
		return;
	pthread_mutex_lock(&st->lso_mu);
	if (lso_ckpt_write_locked(st, NULL, 0) < 0)
		tfs_log(TFS_LOG_ERROR, "storage: %s/" LSO_CHECKPOINT ": cannot "
		        "rewrite it after a topic deletion", st->dir);
	pthread_mutex_unlock(&st->lso_mu);
}

/* ================================ topics ================================= */

void topic_cfg(struct topic *t, struct topic_config *out)
{
	lock_rank(&t->cfg_mu, RANK_TOPIC_CFG_MU);
	*out = t->cfg;
	unlock_rank(&t->cfg_mu);
}

/* A new part_vec of n entries (the first `keep` taken from old, the rest
 * NULL). */
static struct part_vec *part_vec_new(const struct part_vec *old, int32_t keep,
                                     int32_t n)
{
	struct part_vec *v = calloc(1, sizeof(*v) + (size_t)n * sizeof(v->p[0]));

	if (!v)
		return NULL;
	v->n = n;
	for (int32_t i = 0; i < keep; i++)
		v->p[i] = old->p[i];
	return v;
}

/* Destroy and free the parts [from, v->n) of v that were allocated. */
static void part_vec_drop_parts(struct part_vec *v, int32_t from)
{
	for (int32_t i = from; i < v->n; i++) {
		if (v->p[i]) {
			part_destroy(v->p[i]);
			free(v->p[i]);
			v->p[i] = NULL;
		}
	}
}

static void topic_free(struct topic *t)
{
	struct part_vec *v = t->pv;

	if (v)
		part_vec_drop_parts(v, 0);
	while (v) {
		struct part_vec *prev = v->prev;
		free(v);
		v = prev;
	}
	pthread_mutex_destroy(&t->cfg_mu);
	free(t->name);
	free(t);
}

void topic_put(struct topic *t)
{
	if (t && __atomic_sub_fetch(&t->refs, 1, __ATOMIC_ACQ_REL) == 0)
		topic_free(t);
}

/* Allocate and part_init the parts [from, v->n) of v (for topic t).
 * -ENOMEM; the ones made stay in v (part_vec_drop_parts frees them). */
static int topic_parts_init(struct topic *t, struct part_vec *v, int32_t from)
{
	for (int32_t i = from; i < v->n; i++) {
		char dir[PATH_MAX];
		struct part *p = calloc(1, sizeof(*p));
		if (!p)
			return -ENOMEM;
		snprintf(dir, sizeof(dir), "%s/%s-%d", t->st->dir, t->name, i);
		if (part_init(p, t, i, dir) < 0) {
			part_destroy(p);
			free(p);
			return -ENOMEM;
		}
		v->p[i] = p;
	}
	return 0;
}

static struct topic *topic_alloc(struct store *st, const char *name,
                                 const struct topic_config *cfg)
{
	struct topic *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->st = st;
	t->refs = 1;
	t->name = strdup(name);
	t->cfg = *cfg;
	t->framing = cfg->framing;
	t->codec = cfg->codec;
	t->nparts = cfg->partitions;
	topic_owner_default(&t->owner);
	pthread_mutex_init(&t->cfg_mu, NULL);
	t->pv = part_vec_new(NULL, 0, cfg->partitions);
	if (!t->name || !t->pv || topic_parts_init(t, t->pv, 0) < 0) {
		topic_free(t);
		return NULL;
	}
	return t;
}

const char *topic_name(const struct topic *t)
{
	return t->name;
}

void topic_get_config(struct topic *t, struct topic_config *out)
{
	topic_cfg(t, out);
}

int topic_set_config(struct topic *t, const struct topic_config *cfg)
{
	struct topic_config cur;
	const char *why = NULL;
	int rc;

	if (!t || !cfg)
		return -EINVAL;
	/* what may change: the table's change column (partitions, framing
	 * and codec: none of them today, see topic_settings.h) */
	topic_cfg(t, &cur);
	for (size_t i = 0; i < TS_N; i++)
		if (ts_rows[i].change != TS_DYNAMIC &&
		    topic_setting_get(cfg, &ts_rows[i]) != topic_setting_get(&cur, &ts_rows[i]))
			return -EINVAL;
	rc = topic_config_check_limits(cfg, &why);
	if (rc < 0)
		return rc;
	if (__atomic_load_n(&t->deleted, __ATOMIC_RELAXED))
		return -ENOENT;
	lock_rank(&t->cfg_mu, RANK_TOPIC_CFG_MU);
	/* again under the lock: topic_add_partitions may have grown the
	 * topic since the snapshot, and its count must never be written
	 * back smaller */
	for (size_t i = 0; i < TS_N; i++)
		if (ts_rows[i].change != TS_DYNAMIC &&
		    topic_setting_get(cfg, &ts_rows[i]) != topic_setting_get(&t->cfg, &ts_rows[i]))
			rc = -EINVAL;
	if (rc == 0)
		rc = topic_meta_write(t->st, t->name, cfg, &t->owner);
	if (rc == 0)
		t->cfg = *cfg;
	unlock_rank(&t->cfg_mu);
	return rc;
}

void topic_get_owner(struct topic *t, struct topic_owner *out)
{
	lock_rank(&t->cfg_mu, RANK_TOPIC_CFG_MU);
	*out = t->owner;
	unlock_rank(&t->cfg_mu);
}

/* Like topic_set_config: the file first (under cfg_mu, which every
 * rewrite holds, so two changes cannot interleave), then the memory. */
int topic_set_owner(struct topic *t, const struct topic_owner *o)
{
	struct topic_owner n;
	int rc;

	if (!t || !o || !topic_owner_ok(o))
		return -EINVAL;
	if (__atomic_load_n(&t->deleted, __ATOMIC_RELAXED))
		return -ENOENT;
	n = *o;
	n.stored = true;
	lock_rank(&t->cfg_mu, RANK_TOPIC_CFG_MU);
	rc = topic_meta_write(t->st, t->name, &t->cfg, &n);
	if (rc == 0)
		t->owner = n;
	unlock_rank(&t->cfg_mu);
	if (rc < 0)
		tfs_log(TFS_LOG_ERROR, "storage: topic %s: cannot write its owner "
		        "(uid %" PRIu32 " gid %" PRIu32 " mode %04" PRIo32 "): %s",
		        t->name, n.uid, n.gid, n.mode, strerror(-rc));
	return rc;
}

void topic_set_mirror_target(struct topic *t, bool on)
{
	__atomic_store_n(&t->mirror_target, on ? 1 : 0, __ATOMIC_RELAXED);
}

bool topic_is_mirror_target(const struct topic *t)
{
	return __atomic_load_n(&t->mirror_target, __ATOMIC_RELAXED) != 0;
}

int32_t topic_partitions(const struct topic *t)
{
	return topic_nparts(t);
}

struct part *topic_part(struct topic *t, int32_t idx)
{
	if (!t || idx < 0 || idx >= topic_nparts(t))
		return NULL;
	return topic_part_at(t, idx);
}

/* Growing the partition count (storage.h; the publication rule is
 * PARTITION GROWTH in engine.h).  Crash safety, in order:
 *   1. each new <name>-N directory with its empty first segment, fsynced
 *      (part_create_files: a leftover directory holding only empty
 *      segment files, from a growth cut short, is reused; one holding
 *      data is moved to .quarantine/ first, never emptied), then the data
 *      dir fsynced;
 *   2. the .topic file rewritten atomically with the new count: the
 *      commit point;
 *   3. the new count published to readers and writers.
 * A crash before 2 leaves the old count and empty directories past it,
 * which store_load keeps without loading (and the next growth reuses); a
 * crash after 2 loads the new count with every directory in place.  A
 * failure before 2 removes the new (empty) directories again. */
int topic_add_partitions(struct topic *t, int32_t new_count)
{
	const struct topic_setting *ps = ts_find_key("partitions");
	struct part_vec *old, *nv = NULL;
	struct topic_config cfg;
	struct store *st;
	int32_t cur, made;
	int rc;

	if (!t)
		return -EINVAL;
	st = t->st;
	lock_rank(&st->mu, RANK_STORE_MU);
	if (__atomic_load_n(&t->deleted, __ATOMIC_RELAXED)) {
		rc = -ENOENT;
		goto unlock;
	}
	cur = t->nparts;
	old = t->pv;
	if (new_count <= cur || new_count > ps->lim_max) {
		rc = -EINVAL;
		goto unlock;
	}
	nv = part_vec_new(old, cur, new_count);
	if (!nv) {
		rc = -ENOMEM;
		goto unlock;
	}
	rc = topic_parts_init(t, nv, cur);
	if (rc < 0)
		goto drop;
	for (made = cur; made < new_count; made++) {
		rc = part_create_files(nv->p[made]);
		if (rc < 0)
			goto remove;
	}
	rc = sio_fsync_dir(st->dir);
	if (rc < 0)
		goto remove;
	lock_rank(&t->cfg_mu, RANK_TOPIC_CFG_MU);
	cfg = t->cfg;
	cfg.partitions = new_count;
	rc = topic_meta_write(st, t->name, &cfg, &t->owner); /* the commit point */
	if (rc == 0)
		t->cfg.partitions = new_count;
	unlock_rank(&t->cfg_mu);
	if (rc < 0)
		goto remove;
	nv->prev = old;
	__atomic_store_n(&t->pv, nv, __ATOMIC_RELEASE);
	__atomic_store_n(&t->nparts, new_count, __ATOMIC_RELEASE);
	unlock_rank(&st->mu);
	tfs_log(TFS_LOG_INFO, "storage: topic %s: partitions %d -> %d", t->name,
	        cur, new_count);
	return 0;

remove:
	for (int32_t i = cur; i < made; i++)
		part_delete_files(nv->p[i]);
drop:
	part_vec_drop_parts(nv, cur);
	free(nv);
unlock:
	unlock_rank(&st->mu);
	return rc;
}

/* Find a topic in the sorted map (store.mu held): its index, or where it
 * would go (negative - 1). */
static long topic_find(struct store *st, const char *name)
{
	size_t lo = 0, hi = st->ntopics;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(st->topics[mid]->name, name);
		if (c == 0)
			return (long)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -(long)lo - 1;
}

static int topic_insert(struct store *st, struct topic *t)
{
	long at = topic_find(st, t->name);

	if (at >= 0)
		return -EEXIST;
	at = -at - 1;
	if (st->ntopics == st->topics_cap) {
		size_t cap = st->topics_cap ? st->topics_cap * 2 : 16;
		struct topic **n = realloc(st->topics, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		st->topics = n;
		st->topics_cap = cap;
	}
	memmove(st->topics + at + 1, st->topics + at,
	        (st->ntopics - (size_t)at) * sizeof(*st->topics));
	st->topics[at] = t;
	st->ntopics++;
	return 0;
}

static bool name_deleting(struct store *st, const char *name)
{
	for (size_t i = 0; i < st->ndeleting; i++)
		if (!strcmp(st->deleting[i], name))
			return true;
	return false;
}

int store_topic_create(struct store *st, const char *name,
                       const struct topic_config *cfg, struct topic **out)
{
	return store_topic_create_owned(st, name, cfg, NULL, out);
}

int store_topic_create_owned(struct store *st, const char *name,
                             const struct topic_config *cfg,
                             const struct topic_owner *owner,
                             struct topic **out)
{
	struct topic *t;
	int32_t made = 0;
	int rc;

	if (!st || topic_name_check(name) < 0 || topic_config_check_limits(cfg, NULL) < 0 ||
	    (owner && !topic_owner_ok(owner)))
		return -EINVAL;
	lock_rank(&st->mu, RANK_STORE_MU);
	while (name_deleting(st, name))
		pthread_cond_wait(&st->del_cond, &st->mu);
	if (topic_find(st, name) >= 0) {
		rc = -EEXIST;
		goto unlock;
	}
	t = topic_alloc(st, name, cfg);
	if (!t) {
		rc = -ENOMEM;
		goto unlock;
	}
	for (; made < t->nparts; made++) {
		rc = part_create_files(t->pv->p[made]);
		if (rc < 0)
			goto remove_parts;
	}
	rc = sio_fsync_dir(st->dir);
	if (rc < 0)
		goto remove_parts;
	if (owner) {
		t->owner = *owner;
		t->owner.stored = true;
	}
	topic_id_generate(t->id);
	rc = topic_meta_write_id(st, name, cfg, &t->owner, t->id); /* the topic exists now */
	if (rc < 0)
		goto remove_parts;
	rc = topic_insert(st, t);
	if (rc < 0) {
		char *path = dir_file(st->dir, name, ".topic");
		if (path)
			sio_unlink(path);
		free(path);
		goto remove_parts;
	}
	if (out) {
		__atomic_add_fetch(&t->refs, 1, __ATOMIC_RELAXED);
		*out = t;
	}
	unlock_rank(&st->mu);
	return 0;

remove_parts:
	for (int32_t i = 0; i < made; i++)
		part_delete_files(t->pv->p[i]);
	topic_put(t);
unlock:
	unlock_rank(&st->mu);
	return rc;
}

int store_topic_get(struct store *st, const char *name, struct topic **out)
{
	long at;

	if (!st || !name || !out)
		return -EINVAL;
	lock_rank(&st->mu, RANK_STORE_MU);
	at = topic_find(st, name);
	if (at < 0) {
		unlock_rank(&st->mu);
		return -ENOENT;
	}
	*out = st->topics[at];
	__atomic_add_fetch(&st->topics[at]->refs, 1, __ATOMIC_RELAXED);
	unlock_rank(&st->mu);
	return 0;
}

int store_topic_delete(struct store *st, const char *name)
{
	struct topic *t;
	char *path;
	long at;
	int rc;

	if (!st || !name)
		return -EINVAL;
	lock_rank(&st->mu, RANK_STORE_MU);
	at = topic_find(st, name);
	if (at < 0) {
		unlock_rank(&st->mu);
		return -ENOENT;
	}
	t = st->topics[at];
	path = dir_file(st->dir, name, ".topic");
	if (!path || st->ndeleting == sizeof(st->deleting) / sizeof(st->deleting[0])) {
		unlock_rank(&st->mu);
		free(path);
		return path ? -EBUSY : -ENOMEM;
	}
	/* the metadata file goes first: without it the topic is gone */
	if (sysio->unlink(path) < 0 && errno != ENOENT) {
		rc = -errno;
		sio_log("unlink", path, rc);
		free(path);
		unlock_rank(&st->mu);
		return rc;
	}
	free(path);
	memmove(st->topics + at, st->topics + at + 1,
	        (st->ntopics - (size_t)at - 1) * sizeof(*st->topics));
	st->ntopics--;
	__atomic_store_n(&t->deleted, 1, __ATOMIC_RELAXED);
	/* until the files are gone, creating the name again waits */
	st->deleting[st->ndeleting++] = t->name;
	rc = sio_fsync_dir(st->dir);
	unlock_rank(&st->mu);

	/* without store.mu: a writer may be inside the append hook */
	/* the count cannot grow any more: growth checks t->deleted under
	 * store.mu */
	for (int32_t i = 0; i < topic_nparts(t); i++)
		part_delete_files(topic_part_at(t, i));

	lock_rank(&st->mu, RANK_STORE_MU);
	for (size_t i = 0; i < st->ndeleting; i++) {
		if (st->deleting[i] == t->name) {
			st->deleting[i] = st->deleting[--st->ndeleting];
			break;
		}
	}
	pthread_cond_broadcast(&st->del_cond);
	unlock_rank(&st->mu);
	lso_ckpt_forget(st);
	/* no storage lock held: groups.mu is never taken under one */
	groups_forget_topic(st->groups, t->name);
	topic_put(t);
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int store_topic_list(struct store *st, char ***names, size_t *count)
{
	char **v;
	size_t n;

	if (!st || !names || !count)
		return -EINVAL;
	lock_rank(&st->mu, RANK_STORE_MU);
	n = st->ntopics;
	v = calloc(n + 1, sizeof(*v));
	if (!v)
		goto nomem;
	for (size_t i = 0; i < n; i++) {
		v[i] = strdup(st->topics[i]->name);
		if (!v[i]) {
			for (size_t j = 0; j < i; j++)
				free(v[j]);
			free(v);
			goto nomem;
		}
	}
	unlock_rank(&st->mu);
	qsort(v, n, sizeof(*v), cmp_str);
	*names = v;
	*count = n;
	return 0;
nomem:
	unlock_rank(&st->mu);
	return -ENOMEM;
}

/* ================================= hook ================================== */

int store_add_append_hook(struct store *st, store_append_hook fn, void *arg)
{
	int rc = -ENOSPC;

	pthread_rwlock_wrlock(&st->hook_lock);
	for (int i = 0; i < STORE_MAX_HOOKS; i++) {
		if (!st->hooks[i].fn) {
			st->hooks[i].fn = fn;
			st->hooks[i].arg = arg;
			rc = 0;
			break;
		}
	}
	pthread_rwlock_unlock(&st->hook_lock);
	return rc;
}

void store_remove_append_hook(struct store *st, store_append_hook fn, void *arg)
{
	pthread_rwlock_wrlock(&st->hook_lock);
	for (int i = 0; i < STORE_MAX_HOOKS; i++) {
		if (st->hooks[i].fn == fn && st->hooks[i].arg == arg) {
			st->hooks[i].fn = NULL;
			st->hooks[i].arg = NULL;
		}
	}
	pthread_rwlock_unlock(&st->hook_lock);
}

void store_call_hook(struct store *st, struct topic *t, int partition)
{
	pthread_rwlock_rdlock(&st->hook_lock);
	for (int i = 0; i < STORE_MAX_HOOKS; i++)
		if (st->hooks[i].fn)
			st->hooks[i].fn(st->hooks[i].arg, t, partition);
	pthread_rwlock_unlock(&st->hook_lock);
}

/* ============================== maintenance ============================== */

static void *maint_main(void *arg)
{
	struct store *st = arg;
	unsigned tick = 0;
	int64_t last_groups_ms = tfs_mono_ms();

	pthread_mutex_lock(&st->maint_mu);
	while (!st->stopping) {
		struct timespec dl;
		clock_gettime(CLOCK_MONOTONIC, &dl);
		dl.tv_nsec += MAINT_TICK_MS * 1000000L;
		if (dl.tv_nsec >= 1000000000L) {
			dl.tv_sec++;
			dl.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&st->maint_cond, &st->maint_mu, &dl);
		if (st->stopping)
			break;
		pthread_mutex_unlock(&st->maint_mu);

		struct topic **ts;
		size_t nt;
		bool slow = ++tick % MAINT_SLOW_TICKS == 0;
		if (topics_snapshot(st, &ts, &nt) == 0) {
			int64_t now = tfs_mono_ms();
			for (size_t i = 0; i < nt; i++)
				for (int32_t j = 0; j < topic_nparts(ts[i]); j++)
					part_maintain(topic_part_at(ts[i], j), now, slow);
			topics_release(ts, nt);
		}
		int64_t now = tfs_mono_ms();
		if (now - last_groups_ms >= GROUPS_MAINT_MS) {
			/* no storage lock held (groups.mu ranks after none) */
			last_groups_ms = now;
			groups_maintain(st->groups, tfs_now_ms());
		}
		if (__atomic_load_n(&st->ckpt_dirty, __ATOMIC_RELAXED) &&
		    now - st->last_ckpt_ms >= CKPT_MIN_INTERVAL_MS) {
			__atomic_store_n(&st->ckpt_dirty, 0, __ATOMIC_RELAXED);
			st->last_ckpt_ms = now;
			if (ckpt_write(st) < 0)
				__atomic_store_n(&st->ckpt_dirty, 1, __ATOMIC_RELAXED);
		}
		pthread_mutex_lock(&st->maint_mu);
	}
	pthread_mutex_unlock(&st->maint_mu);
	return NULL;
}

/* ================================= store ================================= */

static int mkdir_p(const char *path)
{
	char tmp[PATH_MAX];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(tmp))
		return -EINVAL;
	memcpy(tmp, path, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (tmp[i] != '/' && tmp[i] != '\0')
			continue;
		char c = tmp[i];
		tmp[i] = '\0';
		if (sysio->mkdir(tmp, 0755) < 0 && errno != EEXIST) {
			int err = errno;
			sio_log("mkdir", tmp, err);
			return -err;
		}
		tmp[i] = c;
	}
	return 0;
}

static void store_free(struct store *st)
{
	groups_close(st->groups);       /* fsyncs the offsets log */
	for (size_t i = 0; i < st->ntopics; i++)
		topic_put(st->topics[i]);
	free(st->topics);
	pthread_mutex_destroy(&st->mu);
	pthread_cond_destroy(&st->del_cond);
	pthread_rwlock_destroy(&st->hook_lock);
	pthread_mutex_destroy(&st->maint_mu);
	pthread_cond_destroy(&st->maint_cond);
	pthread_mutex_destroy(&st->lso_mu);
	pthread_mutex_destroy(&st->pid_mu);
	free(st->pid);
	free(st->dir);
	if (st->lock_fd >= 0)
		close(st->lock_fd);     /* releases the data dir lock */
	if (st->dfd >= 0)
		sio_close(st->dfd, "data dir");
	free(st);
}

/* Take the data dir lock (see STORE_LOCK_FILE in storage.h).  0, -EBUSY
 * when another process holds it, or -errno.  Opened relative to the data
 * dir fd, never through a link. */
static int store_lock(struct store *st)
{
	char *path = dir_file(st->dir, STORE_LOCK_FILE, "");
	struct stat sb;
	int fd, rc = 0;

	if (!path)
		return -ENOMEM;
	fd = openat(st->dfd, STORE_LOCK_FILE, O_RDWR | O_CREAT | O_CLOEXEC |
	            O_NOFOLLOW | O_NONBLOCK, 0644);
	if (fd < 0) {
		rc = -errno;
		if (rc == -ELOOP)
			tfs_log(TFS_LOG_ERROR, "storage: %s is a symbolic link: refused "
			        "(topicfs never follows links in its data dir; remove "
			        "it)", path);
		sio_log("open", path, rc);
		goto out;
	}
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		rc = -EINVAL;
		tfs_log(TFS_LOG_ERROR, "storage: %s is not a regular file: refused",
		        path);
		close(fd);
		goto out;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		rc = errno == EWOULDBLOCK ? -EBUSY : -errno;
		if (rc != -EBUSY)
			sio_log("flock", path, rc);
		close(fd);
		goto out;
	}
	st->lock_fd = fd;
out:
	free(path);
	return rc;
}

/* "<20 digits>.log|.index|.timeindex|.sindex" */
static bool is_seg_file(const char *n)
{
	static const char *const exts[] = { ".log", ".index", ".timeindex", ".sindex" };

	if (strspn(n, "0123456789") != 20)
		return false;
	for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++)
		if (!strcmp(n + 20, exts[i]))
			return true;
	return false;
}

int store_dir_inspect(struct store *st, const char *name, int64_t *bytes)
{
	struct stat sb;
	struct dirent *de;
	int64_t total = 0;
	bool data = false;
	DIR *d;
	int fd;

	if (bytes)
		*bytes = 0;
	if (fstatat(st->dfd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? DIR_NONE : -errno;
	if (S_ISLNK(sb.st_mode))
		return DIR_LINK;
	if (!S_ISDIR(sb.st_mode)) {
		if (bytes)
			*bytes = sb.st_size;
		return DIR_OTHER;
	}
	fd = openat(st->dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		int err = errno;
		close(fd);
		return -err;
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
			data = true;           /* cannot tell: keep it */
			continue;
		}
		if (S_ISREG(sb.st_mode))
			total += sb.st_size;
		if (!S_ISREG(sb.st_mode) || sb.st_size != 0 || !is_seg_file(de->d_name))
			data = true;
	}
	closedir(d);
	if (bytes)
		*bytes = total;
	return data ? DIR_DATA : DIR_EMPTY;
}

#define QUARANTINE ".quarantine"

int store_quarantine(struct store *st, const char *name, const char *why)
{
	char *qpath = dir_file(st->dir, QUARANTINE, "");
	char to[NAME_MAX + 1];
	struct stat sb;
	int64_t bytes = 0;
	int qfd = -1, rc, kind;

	if (!qpath)
		return -ENOMEM;
	kind = store_dir_inspect(st, name, &bytes);
	if (sysio->mkdir(qpath, 0700) < 0 && errno != EEXIST) {
		rc = -errno;
		sio_log("mkdir", qpath, rc);
		goto out;
	}
	qfd = sio_openat(st->dfd, QUARANTINE, O_RDONLY | O_DIRECTORY, 0, qpath);
	if (qfd < 0) {
		rc = qfd;
		goto out;
	}
	for (int k = 0;; k++) {
		char suf[48];
		if (k == 0)
			snprintf(suf, sizeof(suf), ".%" PRId64, tfs_now_ms());
		else
			snprintf(suf, sizeof(suf), ".%" PRId64 "-%d", tfs_now_ms(), k);
		snprintf(to, sizeof(to), "%.*s%s", (int)(NAME_MAX - strlen(suf)), name, suf);
		if (fstatat(qfd, to, &sb, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT)
			break;
		if (k > 1000) {
			rc = -EEXIST;
			goto out;
		}
	}
	if (sysio->renameat(st->dfd, name, qfd, to) < 0) {
		rc = -errno;
		sio_log("rename", name, rc);
		goto out;
	}
	rc = sio_fsync(qfd, qpath);
	if (rc == 0)
		rc = sio_fsync(st->dfd, st->dir);
	tfs_log(TFS_LOG_ERROR, "storage: %s/%s: %s (%s, %" PRId64 " bytes): "
	        "moved to %s/%s, not deleted; remove it when it is not needed",
	        st->dir, name, why, kind == DIR_LINK ? "a symbolic link, never "
	        "followed" : kind == DIR_DATA ? "holds data no topic accounts for" :
	        "not a directory", bytes, qpath, to);
out:
	if (qfd >= 0)
		sio_close(qfd, qpath);
	free(qpath);
	return rc;
}

/* The names of the data dir (not "." and ".."), in readdir order (the
 * order topics were always loaded in). */
static int list_data_dir(struct store *st, char ***out, size_t *count)
{
	int fd = openat(st->dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	char **v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d;
	int rc = 0;

	if (fd < 0 || !(d = fdopendir(fd))) {
		rc = -errno;
		if (fd >= 0)
			close(fd);
		sio_log("opendir", st->dir, rc);
		return rc;
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 64;
			char **nv = realloc(v, nc * sizeof(*nv));
			if (!nv) {
				rc = -ENOMEM;
				break;
			}
			v = nv;
			cap = nc;
		}
		if (!(v[n] = strdup(de->d_name))) {
			rc = -ENOMEM;
			break;
		}
		n++;
	}
	closedir(d);
	if (rc < 0) {
		for (size_t i = 0; i < n; i++)
			free(v[i]);
		free(v);
		return rc;
	}
	*out = v;
	*count = n;
	return 0;
}

/* A partition directory of a loaded topic: a real directory (a missing
 * one starts empty); a link or a file refuses the start. */
static int part_dir_check(struct store *st, struct part *p)
{
	struct stat sb;
	const char *dn = part_dname(p);

	if (fstatat(st->dfd, dn, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno != ENOENT) {
			int err = errno;
			sio_log("stat", p->dir, err);
			return -err;
		}
		tfs_log(TFS_LOG_WARN, "storage: %s: missing, starting it empty", p->dir);
		if (sysio->mkdir(p->dir, 0755) < 0) {
			int err = errno;
			sio_log("mkdir", p->dir, err);
			return -err;
		}
		return 0;
	}
	if (S_ISDIR(sb.st_mode))
		return 0;
	tfs_log(TFS_LOG_ERROR, "storage: %s: %s: refused (topicfs never follows "
	        "links in its data dir: put the directory itself there)", p->dir,
	        S_ISLNK(sb.st_mode) ? "a symbolic link" : "not a directory");
	return S_ISLNK(sb.st_mode) ? -ELOOP : -ENOTDIR;
}

/* Load every <name>.topic of the data dir. */
static int store_load(struct store *st, bool clean)
{
	struct ckpt_entry *ck = NULL, *lso = NULL;
	size_t nck = 0, nents = 0, nlso = 0;
	char **ents = NULL;
	int rc = 0;

	if (!clean)
		ckpt_read(st, &ck, &nck);
	ckpt_read_file(st, LSO_CHECKPOINT, &lso, &nlso);
	rc = list_data_dir(st, &ents, &nents);
	if (rc < 0)
		goto out;
	for (size_t e = 0; e < nents && rc == 0; e++) {
		const char *fn = ents[e];
		size_t n = strlen(fn);
		char name[256], *path;
		struct topic_config cfg;
		struct topic_owner owner;
		struct topic *t;

		if (n > 4 && !strcmp(fn + n - 4, ".tmp")) {
			path = dir_file(st->dir, fn, "");
			tfs_log(TFS_LOG_WARN, "storage: %s: leftover temp file, removed",
			        path ? path : fn);
			if (path)
				sio_unlink(path);
			free(path);
			continue;
		}
		if (n <= 6 || strcmp(fn + n - 6, ".topic") || n - 6 >= sizeof(name))
			continue;
		memcpy(name, fn, n - 6);
		name[n - 6] = '\0';
		if (topic_name_check(name) < 0) {
			tfs_log(TFS_LOG_WARN, "storage: %s/%s: not a topic name, not "
			        "loaded", st->dir, fn);
			continue;
		}
		rc = topic_meta_load(st, name, ents, nents, &cfg, &owner);
		if (rc < 0)
			break;
		t = topic_alloc(st, name, &cfg);
		if (!t) {
			rc = -ENOMEM;
			break;
		}
		t->owner = owner;
		rc = topic_meta_read_id(st, name, t->id);
		if (rc == -ENOENT) {
			/* written before topic ids: make one, keep it */
			topic_id_generate(t->id);
			rc = topic_meta_write_id(st, name, &cfg, &t->owner, t->id);
			if (rc < 0)
				tfs_log(TFS_LOG_WARN, "storage: %s/%s.topic: cannot add "
				        "a topic id: %s (a new one each start until it "
				        "can be written)", st->dir, name, strerror(-rc));
			rc = 0;
		}
		for (int32_t i = 0; i < t->nparts && rc == 0; i++) {
			int64_t rp = clean ? INT64_MAX : ckpt_lookup(ck, nck, name, i);
			rc = part_dir_check(st, t->pv->p[i]);
			if (rc == 0)
				rc = part_load(t->pv->p[i], rp);
			if (rc == 0 && nlso)
				rc = part_log_start_apply(t->pv->p[i],
				                          ckpt_lookup(lso, nlso, name, i));
		}
		if (rc == 0)
			rc = topic_insert(st, t);
		if (rc < 0) {
			tfs_log(TFS_LOG_ERROR, "storage: topic %s: loading failed: %s",
			        name, strerror(-rc));
			topic_put(t);
			break;
		}
	}
	/* partition directories without a topic: ignored, never emptied (a
	 * topic created under the name moves them to .quarantine) */
	for (size_t e = 0; e < nents && rc == 0; e++) {
		const char *fn = ents[e], *dash = strrchr(fn, '-');
		char name[256];
		int64_t bytes = 0;
		int kind;

		if (fn[0] == '.' || !dash || dash == fn ||
		    (size_t)(dash - fn) >= sizeof(name) || !dash[1])
			continue;
		if (strspn(dash + 1, "0123456789") != strlen(dash + 1))
			continue;
		memcpy(name, fn, (size_t)(dash - fn));
		name[dash - fn] = '\0';
		if (topic_find(st, name) >= 0)
			continue;
		kind = store_dir_inspect(st, fn, &bytes);
		if (kind == DIR_EMPTY || kind == DIR_NONE)
			tfs_log(TFS_LOG_WARN, "storage: %s/%s: partition directory "
			        "without a .topic file, holding no records, ignored",
			        st->dir, fn);
		else
			tfs_log(TFS_LOG_ERROR, "storage: %s/%s: %s without a .topic "
			        "file (%" PRId64 " bytes): ignored, not loaded; creating "
			        "topic %s moves it to %s/" QUARANTINE "/", st->dir, fn,
			        kind == DIR_LINK ? "a symbolic link (never followed)" :
			        kind == DIR_DATA ? "a partition directory holding data" :
			        "an entry", bytes, name, st->dir);
	}
out:
	for (size_t i = 0; i < nents; i++)
		free(ents[i]);
	free(ents);
	ckpt_free(ck, nck);
	ckpt_free(lso, nlso);
	return rc;
}

/* Resolve and open the data dir once (the fd pins it: a data dir given
 * through a link is fine, resolved here), and refuse one that others may
 * write to: world-writable without the sticky bit, or group-writable by a
 * group that is not ours. */
static int store_dir_open(struct store *st, const char *given)
{
	struct stat sb;
	char *real = realpath(given, NULL);
	int fd;

	if (!real) {
		int err = errno;
		sio_log("realpath", given, err);
		return -err;
	}
	st->dir = real;
	fd = sio_open(real, O_RDONLY | O_DIRECTORY, 0);
	if (fd < 0)
		return fd;
	st->dfd = fd;
	if (fstat(fd, &sb) < 0) {
		int err = errno;
		sio_log("fstat", real, err);
		return -err;
	}
	if ((sb.st_mode & S_IWOTH) && !(sb.st_mode & S_ISVTX)) {
		tfs_log(TFS_LOG_ERROR, "storage: data dir %s is writable by every "
		        "user (mode %04o): refused (chmod o-w %s)", real,
		        (unsigned)(sb.st_mode & 07777), real);
		return -EPERM;
	}
	if ((sb.st_mode & S_IWGRP) && sb.st_gid != getegid()) {
		tfs_log(TFS_LOG_ERROR, "storage: data dir %s is writable by group %u, "
		        "not topicfs's group %u (mode %04o): refused (chmod g-w %s)",
		        real, (unsigned)sb.st_gid, (unsigned)getegid(),
		        (unsigned)(sb.st_mode & 07777), real);
		return -EPERM;
	}
	return 0;
}

/* The fd LRU's bound (engine.h OPEN FILES): the option, else a quarter of
 * the soft RLIMIT_NOFILE (the daemon raises it to the hard limit first),
 * at least 64. */
static size_t max_open_segments(const struct store_options *opts)
{
	struct rlimit rl;
	size_t n = 64;

	if (opts->max_open_segments > 0)
		return opts->max_open_segments;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur / 4 > n)
		n = (size_t)(rl.rlim_cur / 4);
	else if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur == RLIM_INFINITY)
		n = 1 << 20;
	return n;
}

int store_open(const struct store_options *opts, struct store **out)
{
	struct store *st;
	pthread_condattr_t ca;
	char *marker = NULL;
	bool clean = false;
	int rc;

	if (!opts || !opts->data_dir || !*opts->data_dir || !out)
		return -EINVAL;
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->lock_fd = -1;
	st->dfd = -1;
	pthread_mutex_init(&st->mu, NULL);
	pthread_cond_init(&st->del_cond, NULL);
	pthread_rwlock_init(&st->hook_lock, NULL);
	pthread_mutex_init(&st->maint_mu, NULL);
	pthread_mutex_init(&st->lso_mu, NULL);
	pthread_mutex_init(&st->pid_mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&st->maint_cond, &ca);
	pthread_condattr_destroy(&ca);
	st->max_decomp = opts->max_decompressed_bytes ? opts->max_decompressed_bytes
	                                              : (size_t)64 << 20;
	st->ts_after_max_ms = opts->timestamp_after_max_ms ? opts->timestamp_after_max_ms
	                                                   : 3600 * 1000;
	st->max_producers = opts->max_producers_per_partition
	                    ? opts->max_producers_per_partition : 1000;
	st->producer_expire_ms = opts->producer_id_expiration_ms
	                         ? opts->producer_id_expiration_ms : 86400000;
	seg_lru_set_limit(max_open_segments(opts));
	rc = mkdir_p(opts->data_dir);
	if (rc < 0)
		goto free_store;
	rc = store_dir_open(st, opts->data_dir);
	if (rc < 0)
		goto free_store;
	rc = store_lock(st);
	if (rc < 0)
		goto free_store;
	marker = dir_file(st->dir, CLEAN_MARKER, "");
	if (!marker) {
		rc = -ENOMEM;
		goto free_store;
	}
	{
		struct stat sb;
		if (fstatat(st->dfd, CLEAN_MARKER, &sb, AT_SYMLINK_NOFOLLOW) == 0) {
			/* gone before anything is loaded: a crash while loading
			 * must not skip recovery next time */
			clean = S_ISREG(sb.st_mode);
			if (!clean)
				tfs_log(TFS_LOG_WARN, "storage: %s: not a regular file "
				        "(a link is never followed): removed, every "
				        "partition recovers", marker);
			rc = sio_unlink(marker);
			if (rc == 0)
				rc = sio_fsync(st->dfd, st->dir);
			if (rc < 0)
				goto free_store;
		}
	}
	rc = store_load(st, clean);
	if (rc < 0)
		goto free_store;
	/* after the topics: the replay drops offsets of topics that are gone */
	rc = groups_open(st, opts, &st->groups);
	if (rc < 0)
		goto free_store;
	st->last_ckpt_ms = tfs_mono_ms();
	if (pthread_create(&st->maint, NULL, maint_main, st) != 0) {
		rc = -EAGAIN;
		goto free_store;
	}
	st->maint_started = true;
	free(marker);
	*out = st;
	return 0;

free_store:
	free(marker);
	store_free(st);
	return rc;
}

int store_dir_fd(const struct store *st)
{
	return st->dfd;
}

void store_close(struct store *st)
{
	struct topic **ts;
	size_t nt;
	int rc = 0;

	if (!st)
		return;
	if (st->maint_started) {
		pthread_mutex_lock(&st->maint_mu);
		st->stopping = true;
		pthread_cond_broadcast(&st->maint_cond);
		pthread_mutex_unlock(&st->maint_mu);
		pthread_join(st->maint, NULL);
	}
	if (topics_snapshot(st, &ts, &nt) == 0) {
		for (size_t i = 0; i < nt; i++)
			for (int32_t j = 0; j < topic_nparts(ts[i]); j++)
				if (part_close_flush(topic_part_at(ts[i], j)) < 0)
					rc = -EIO;
		topics_release(ts, nt);
	} else {
		rc = -ENOMEM;
	}
	if (rc == 0)
		rc = ckpt_write(st);
	if (rc == 0) {
		char *marker = dir_file(st->dir, CLEAN_MARKER, "");
		rc = marker ? sio_write_atomic(marker, "", 0) : -ENOMEM;
		free(marker);
	}
	if (rc < 0)
		tfs_log(TFS_LOG_INFO, "storage: %s: not closed cleanly, the next start "
		        "recovers", st->dir);
	store_free(st);
}
