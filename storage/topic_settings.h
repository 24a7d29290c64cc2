/*
 * topic_settings.h - THE list of per-topic settings.  One row per setting;
 * everything else is derived from it with the X-macro TOPIC_SETTINGS(X):
 *
 *   struct topic_config            the fields (storage.h)
 *   topic_config_defaults()        the defaults        (store.c)
 *   topic_config_check()           the bounds, then the cross-field checks
 *   topic_config_check_limits()    the engine's limits (store.c)
 *   <topic>.topic writer/reader    one "KEY=VALUE" line per row, in row
 *                                  order (store.c; the order IS the file
 *                                  format: do not reorder, append new rows
 *                                  at the end)
 *   topic_setting_*()              lookup, format, parse (storage.h)
 *   daemon/config.c                the per-topic INI keys of [storage], [fs]
 *                                  and [topic.NAME], and --help
 *   tools/topicfs-admin.c          describe
 *
 * Adding a setting: add a row here (at the end), teach the engine to use
 * it, document it in examples/topicfs.ini.  Nothing else names it.
 *
 * Columns of X(member, ctype, kind, key, section, global_key, def, min, max,
 *              lim_min, lim_max, kafka, change, doc):
 *   member      struct topic_config field
 *   ctype       its C type (int32_t, int64_t, int for the enums)
 *   kind        TS_COUNT (plain integer), TS_SIZE (bytes; K/M/G/T suffixes
 *               in the INI), TS_MS (milliseconds; ms/s/min/h/d suffixes),
 *               TS_CODEC (none|snappy|lz4|zstd), TS_FRAMING (lines|writes),
 *               TS_BYTE (one byte, written escaped: see below)
 *   key         our name: the [topic.NAME] key, the .topic file key, the
 *               name topic_setting_find() knows
 *   section, global_key
 *               where the default for every topic lives in the daemon's INI
 *               ([fs] default_partitions is "partitions" everywhere else)
 *   def         default
 *   min, max    the bounds a user may set (INI, --set, topicfs-admin,
 *               topic_setting_parse, topic_config_check): the ones that
 *               are right for users
 *   lim_min, lim_max
 *               what the engine can run with (store_topic_create,
 *               topic_set_config and loading a .topic file check these).
 *               Wider than min..max where older versions accepted more
 *               through the storage API: a data dir written by them must
 *               still load, never a topic silently skipped.
 *   kafka       Kafka's topic-config name, NULL when Kafka has none
 *   change      TS_DYNAMIC (topic_set_config may change it), TS_FIXED (set
 *               at creation), TS_GROW (may only grow)
 *   doc         one line, shown by topicfs --help
 *
 * Why these bounds (the old tables disagreed: daemon/config.c had segment
 * 1 KiB..1 GiB, segment_ms >= 1 s, batch and max message >= 1 KiB, max
 * message <= 1 GiB; store.c had segment 64..2 GiB-1, segment_ms >= 1,
 * index interval unbounded, batch and max message 1..64 MiB):
 *  - segment_bytes 1 KiB..1 GiB.  The engine needs <= 2 GiB - 1 (file
 *    positions in .index/.sindex are int32) and nothing at the bottom: a
 *    segment is never rolled while empty, so a batch larger than
 *    segment_bytes gets a segment of its own (no "segment must hold a
 *    max-size batch" rule is needed, and none is imposed: a 64 KiB segment
 *    with 1 MiB max_message_bytes is a fine configuration).  Below 1 KiB
 *    every batch is a segment of 4 files; 1 GiB is Kafka's default and
 *    keeps the 2 GiB int32 limit far away.  Engine limits 64..2 GiB - 1
 *    (the old storage bound; the engine's tests use tiny segments).
 *  - segment_ms >= 1 s: a roll is 4 files and an fsync; sub-second rolls
 *    are a mistake.  <= 100 years only to keep now + segment_ms far from
 *    overflow.  Engine limit >= 1 ms (old bound).
 *  - index_interval_bytes 0..16 MiB (0 = an entry per batch); beyond a few
 *    MiB the index stops helping reads.  Engine: >= 0.
 *  - batch_bytes 1 KiB..64 MiB, max_message_bytes 1 KiB..64 MiB: 64 MiB is
 *    the engine's (each is one buffer, and the store's default bound on a
 *    decompressed batch); the daemon also keeps both <= [storage]
 *    max_decompressed_bytes (a store setting, checked in config.c).
 *    Below 1 KiB a batch holds hardly a record.  Engine limits 1..64 MiB.
 *  - linger_ms 0..60 s: appenders wait up to this long (linger_ms > 0).
 *  - partitions 1..100000: a directory and open files per partition.
 *  - retention_*, flush_*: -1/0 mean off, anything above is meaningful.
 *
 * Kafka names.  Only settings whose meaning matches Kafka's topic config
 * get its name.  Differences the Kafka APIs must translate: flush.messages
 * and flush.ms mean "never" with Long.MAX_VALUE in Kafka, with 0 here;
 * compression.type values are uncompressed|zstd|lz4|snappy|gzip|producer in
 * Kafka, none|snappy|lz4|zstd here (producer batches are always stored as
 * sent);
 * Kafka's max.message.bytes default is 1048588, ours 1048576.  No Kafka
 * name: partitions (not a topic config in Kafka), framing, batch_bytes and
 * linger_ms (producer-side settings in Kafka).
 *
 * key_separator (TS_BYTE) is the byte between key and value in the lines
 * of <topic>/@keyed (fs/records.c; docs/FILE-VIEW.md): tab by default.
 * Its text form, everywhere (INI, setfattr, getfattr, the .topic file,
 * topicfs --help): a graphic ASCII byte other than '\' as itself (":",
 * "|", "="), "\t" for tab, "\\" for a backslash, "\xHH" (two hex
 * digits) for any other byte; topic_setting_format writes exactly that
 * canonical form (hex in lower case), topic_setting_parse also takes
 * upper-case hex.  A newline (0x0a) is refused: lines end there.  Not a
 * Kafka config (no Kafka name: DescribeConfigs does not list it).
 *
 * partitions is TS_GROW (Kafka's rule: CreatePartitions only adds): it
 * changes only through topic_add_partitions (storage.h), and
 * topic_set_config refuses any change of a non-TS_DYNAMIC setting with
 * -EINVAL.
 */
#ifndef TOPICFS_TOPIC_SETTINGS_H
#define TOPICFS_TOPIC_SETTINGS_H

#include <stdint.h>

#define TS_KiB ((int64_t)1024)
#define TS_MiB ((int64_t)1024 * 1024)
#define TS_GiB ((int64_t)1024 * 1024 * 1024)
#define TS_DAY_MS ((int64_t)24 * 3600 * 1000)

/* X(member, ctype, kind, key, section, global_key, def, min, max,
 *   lim_min, lim_max, kafka, change, doc) */
#define TOPIC_SETTINGS(X)                                                     \
	X(partitions, int32_t, TS_COUNT, "partitions", "fs",                  \
	  "default_partitions", 1, 1, 100000, 1, 100000, NULL, TS_GROW,       \
	  "partitions of a new topic")           \
	X(framing, int, TS_FRAMING, "framing", "fs", "framing",               \
	  FRAMING_LINES, FRAMING_LINES, FRAMING_WRITES, FRAMING_LINES,        \
	  FRAMING_WRITES, NULL, TS_FIXED,                                     \
	  "lines: a record per line; writes: a record per write(2)")          \
	X(codec, int, TS_CODEC, "compression", "storage", "compression",      \
	  CODEC_NONE, CODEC_NONE, CODEC_ZSTD, CODEC_NONE, CODEC_ZSTD,         \
	  "compression.type", TS_FIXED,                                       \
	  "batch codec of new topics: none, snappy, lz4, zstd")               \
	X(segment_bytes, int64_t, TS_SIZE, "segment_bytes", "storage",        \
	  "segment_bytes", 1 * TS_GiB, 1 * TS_KiB, 1 * TS_GiB, 64, INT32_MAX, \
	  "segment.bytes", TS_DYNAMIC, "roll a segment at this size")         \
	X(segment_ms, int64_t, TS_MS, "segment_ms", "storage", "segment_ms",  \
	  7 * TS_DAY_MS, 1000, 100 * 365 * TS_DAY_MS, 1, INT64_MAX,           \
	  "segment.ms", TS_DYNAMIC, "roll a segment this old")                \
	X(index_interval_bytes, int32_t, TS_SIZE, "index_interval_bytes",     \
	  "storage", "index_interval_bytes", 4096, 0, 16 * TS_MiB, 0,         \
	  INT32_MAX, "index.interval.bytes", TS_DYNAMIC,                      \
	  "bytes between sparse index entries")                               \
	X(retention_bytes, int64_t, TS_SIZE, "retention_bytes", "storage",    \
	  "retention_bytes", -1, -1, INT64_MAX, -1, INT64_MAX,                \
	  "retention.bytes", TS_DYNAMIC,                                      \
	  "per-partition size bound, -1 = unlimited")                         \
	X(retention_ms, int64_t, TS_MS, "retention_ms", "storage",            \
	  "retention_ms", 7 * TS_DAY_MS, -1, INT64_MAX, -1, INT64_MAX,        \
	  "retention.ms", TS_DYNAMIC, "age bound, -1 = unlimited")            \
	X(flush_messages, int64_t, TS_COUNT, "flush_messages", "storage",     \
	  "flush_messages", 0, 0, INT64_MAX, 0, INT64_MAX, "flush.messages",  \
	  TS_DYNAMIC, "fsync every N records, 0 = never")                     \
	X(flush_ms, int64_t, TS_MS, "flush_ms", "storage", "flush_ms", 0, 0,  \
	  INT64_MAX, 0, INT64_MAX, "flush.ms", TS_DYNAMIC,                    \
	  "fsync within this time, 0 = never")                                \
	X(batch_bytes, int32_t, TS_SIZE, "batch_bytes", "storage",            \
	  "batch_bytes", 1 * TS_MiB, 1 * TS_KiB, 64 * TS_MiB, 1, 64 * TS_MiB, \
	  NULL, TS_DYNAMIC, "max uncompressed bytes per batch")               \
	X(linger_ms, int32_t, TS_MS, "linger_ms", "storage", "linger_ms", 0,  \
	  0, 60000, 0, 60000, NULL, TS_DYNAMIC,                               \
	  "wait this long to fill a batch")                                   \
	X(max_message_bytes, int32_t, TS_SIZE, "max_message_bytes",           \
	  "storage", "max_message_bytes", 1 * TS_MiB, 1 * TS_KiB,             \
	  64 * TS_MiB, 1, 64 * TS_MiB, "max.message.bytes", TS_DYNAMIC,       \
	  "largest batch accepted from a producer")                           \
	X(key_separator, int32_t, TS_BYTE, "key_separator", "fs",             \
	  "key_separator", '\t', 0, 255, 0, 255, NULL, TS_DYNAMIC,            \
	  "byte between key and value in <topic>/@keyed lines (\\t, :, \\xHH)")

#endif /* TOPICFS_TOPIC_SETTINGS_H */
