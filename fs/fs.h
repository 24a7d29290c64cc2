/*
 * fs.h - the topicfs FUSE daemon: configuration, the file view and the
 * view-name grammar.  The one public header of fs/.
 *
 * Three parts, used in this order by main.c:
 *
 *   1. struct fsv_config: every setting of the daemon, filled from one
 *      declarative table (config.c) by fsv_config_init (embedded defaults),
 *      fsv_config_load (an INI file), fsv_config_set (a --set override) and
 *      fsv_config_finish (cross-field checks; run once, last).  Errors are
 *      returned as -EINVAL with a message in the caller's buffer naming the
 *      file, the line and the key; nothing is printed.
 *
 *   2. struct fsv: the FUSE low-level operations over one struct store
 *      (fs.c).  fsv_new() builds it, fsv_set_store() attaches the store
 *      before the mount, fsv_lowlevel_ops() gives the table to
 *      pass to fuse_session_new() with the fsv as userdata, fsv_shutdown()
 *      turns every handle still open into a closed one (held partial lines
 *      become records, topic references are put back) so store_close() may
 *      follow, fsv_free() releases it.
 *
 *   3. struct fsv_view_spec: the grammar of view names `<p>@<from>[..<to>]`
 *      (view.c), exported so unit tests can check it.
 *
 * Thread safety: a struct fsv_config is plain data, not thread-safe while it
 * is being built, read-only afterwards.  A struct fsv is thread-safe (FUSE
 * calls it from many threads).
 */
#ifndef TOPICFS_FS_H
#define TOPICFS_FS_H

#include <limits.h>
#include <stdio.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "storage.h"
#include "net.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ============================== configuration ============================ */

#define FSV_PATH_MAX 1024
#define FSV_ADDR_MAX 300

/* Overrides from one [topic.NAME] section (or --set topic.NAME.KEY=...). */
struct fsv_topic_override {
	char name[250];                 /* a valid topic name */
	int line;                       /* line of its first section header, 0
	                                   when it came from --set only */
	uint64_t set_mask;              /* bit i: table entry i was given */
	struct topic_config values;     /* only the fields in set_mask count */
};

struct fsv_config {
	/* [storage] */
	char data_dir[FSV_PATH_MAX];            /* absolute after finish */
	int64_t max_decompressed_bytes;
	struct topic_config topic_defaults;     /* per-topic keys of [storage]
	                                           and [fs] */
	/* [fs] */
	char mountpoint[FSV_PATH_MAX];          /* absolute after finish */
	bool allow_other;
	bool allow_delete;
	/* [net] */
	bool net_enabled;
	char listen[FSV_ADDR_MAX];              /* host:port */
	char advertised_host[FSV_ADDR_MAX];     /* host or host:port, "" = none */
	int32_t max_connections;
	int64_t max_request_bytes;
	int64_t idle_timeout_ms;
	int64_t request_timeout_ms;
	bool auto_create_topics;
	/* [log] */
	int32_t log_level;                      /* enum tfs_log_level */
	/* [metrics] */
	char metrics_listen[FSV_ADDR_MAX];      /* host:port, "" = off */
	/* [topic.NAME] */
	struct fsv_topic_override *topics;      /* owned, ntopics entries */
	size_t ntopics;
	/* where the file came from, for messages */
	char source[FSV_PATH_MAX];
};

/* Fill *cfg with the embedded defaults (every key of the table). */
void fsv_config_init(struct fsv_config *cfg);

/* Parse an INI file over *cfg.  0, or -EINVAL (or -errno when the file
 * cannot be read) with err holding "FILE:LINE: [SECTION] KEY: why". */
int fsv_config_load(struct fsv_config *cfg, const char *path,
                    char *err, size_t errlen);

/* Apply one "SECTION.KEY=VALUE" (SECTION may be topic.NAME).  0 or -EINVAL
 * with a message in err. */
int fsv_config_set(struct fsv_config *cfg, const char *assignment,
                   char *err, size_t errlen);

/* Cross-field checks and path resolution; call once after every load and
 * set.  0 or -EINVAL with a message in err. */
int fsv_config_finish(struct fsv_config *cfg, char *err, size_t errlen);

/* The effective settings of a topic: the defaults, then its section's keys.
 * Returns true when the config has a [topic.NAME] section for it. */
bool fsv_config_topic(const struct fsv_config *cfg, const char *name,
                      struct topic_config *out);

/* The server settings derived from [net] (valid after finish). */
void fsv_config_srv(const struct fsv_config *cfg, struct srv_config *out);

/* Split "host:port" ("[v6]:port" too): 0 or -EINVAL. */
int fsv_split_hostport(const char *s, char *host, size_t hostlen, int *port);

/* Print every key with its section, default and bounds (for --help). */
void fsv_config_print_keys(FILE *out);

/* Release what the config owns (the topic overrides). */
void fsv_config_free(struct fsv_config *cfg);

/* ============================== view names =============================== */

enum fsv_from {
	FSV_FROM_OFFSET,        /* arg = offset */
	FSV_FROM_EARLIEST,
	FSV_FROM_LATEST,
	FSV_FROM_LAST_N,        /* arg = N: the last N records */
	FSV_FROM_TIME,          /* arg = ms since the epoch */
};

struct fsv_view_spec {
	int32_t partition;
	enum fsv_from from;
	int64_t arg;
	bool bounded;
	int64_t to;             /* exclusive end offset when bounded */
};

/* Parse a view name "<p>@<from>[..<to>]".  0, or -ENOENT when the name is
 * not a view.  The partition index is not checked against the topic. */
int fsv_view_spec_parse(const char *name, struct fsv_view_spec *out);

/* Parse a whole decimal number without sign into *out (0..INT64_MAX). */
int fsv_parse_u64(const char *s, int64_t *out);

/* ============================== the file view ============================ */

struct fsv;
struct fuse_lowlevel_ops;

/* Build the file view over cfg (which must outlive it); attach the store
 * with fsv_set_store() before mounting. */
int fsv_new(const struct fsv_config *cfg, struct fsv **out);
void fsv_set_store(struct fsv *fs, struct store *st);
const struct fuse_lowlevel_ops *fsv_lowlevel_ops(void);
/* Tell blocked view readers to give up (the session is ending). */
void fsv_stop_waiters(struct fsv *fs);
void fsv_shutdown(struct fsv *fs);
void fsv_free(struct fsv *fs);

#ifdef __cplusplus
}
#endif
#endif /* TOPICFS_FS_H */
