/*
 * fs.h - the topicfs FUSE daemon: configuration, the file view and the
 * view-name grammar.  The one public header of fs/.
 *
 * Two parts, used by the daemon (daemon/main.c):
 *
 *   1. struct tfs_config: every setting of the daemon, filled from one
 *      declarative table (config.c) by tfs_config_init (embedded defaults),
 *      tfs_config_load (an INI file), tfs_config_set (a --set override) and
 *      tfs_config_finish (cross-field checks; run once, last).  Errors are
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
 *      and `<p>@group=<name>` (view.c), exported so unit tests can check it.
 *
 * Thread safety: a struct tfs_config is plain data, not thread-safe while it
 * is being built, read-only afterwards.  A struct fsv is thread-safe (FUSE
 * calls it from many threads).
 */
#ifndef TOPICFS_FS_H
#define TOPICFS_FS_H

#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "storage.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ============================== view names =============================== */

enum fsv_from {
	FSV_FROM_OFFSET,        /* arg = offset */
	FSV_FROM_EARLIEST,
	FSV_FROM_LATEST,
	FSV_FROM_LAST_N,        /* arg = N: the last N records */
	FSV_FROM_TIME,          /* arg = ms since the epoch */
	FSV_FROM_GROUP,         /* group: from the group's committed offset
	                           (groups.c); never bounded */
};

struct fsv_view_spec {
	int32_t partition;
	enum fsv_from from;
	int64_t arg;
	bool bounded;
	int64_t to;             /* exclusive end offset when bounded */
	char group[GROUP_ID_MAX + 1];   /* FSV_FROM_GROUP: the decoded id */
	bool json;              /* the name ends in ".json": the record view,
	                           JSON lines (fs/records.c) */
};

/* Parse a view name "<p>@<from>[..<to>][.json]" or
 * "<p>@group=<name>[.json]" (name in the file-name encoding of group ids,
 * group_name_encode, except that a final ".json" of an encoded id is
 * written "%2Ejson": see view.c; no range).  0, or -ENOENT when the name
 * is not a view.  The partition index is not checked against the topic. */
int fsv_view_spec_parse(const char *name, struct fsv_view_spec *out);

/* The NAME of group id[0..id_len) in a view name (what follows
 * "<p>@group="): group_name_encode's, with a final ".json" written
 * "%2Ejson".  The length, or -EINVAL (not an id), -ENAMETOOLONG. */
int fsv_view_group_name(const char *id, size_t id_len, char *out, size_t out_len);

/* ============================== the file view ============================ */

struct fsv;
struct fuse_lowlevel_ops;

/* What the file view needs from the daemon's configuration.  The file view
 * does not read the INI itself: the daemon (daemon/main.c) fills this. */
struct fsv_options {
	const char *data_dir;   /* for statfs(2) and .status; must outlive fsv */
	bool allow_delete;      /* rmdir of a topic deletes it (else EPERM) */
	bool allow_other;       /* mounted with allow_other (and so
	                           default_permissions): the root is 1777 */
	size_t held_max;        /* bound on partial lines held for writers,
	                           all handles together ([fs] max_held_bytes) */
	/* The settings of a topic made by mkdir: the defaults, then its
	 * [topic.NAME] keys.  Called from FUSE threads, no fs lock held. */
	void (*topic_settings)(void *arg, const char *name,
	                       struct topic_config *out);
	void *arg;
};

/* Build the file view (opts is copied); attach the store with
 * fsv_set_store() before mounting. */
int fsv_new(const struct fsv_options *opts, struct fsv **out);
/* Attach the store and start the waker of blocked view reads.  0 or -errno. */
int fsv_set_store(struct fsv *fs, struct store *st);
const struct fuse_lowlevel_ops *fsv_lowlevel_ops(void);
/* Tell blocked view readers to give up (the session is ending). */
void fsv_stop_waiters(struct fsv *fs);
void fsv_shutdown(struct fsv *fs);

/* The session, so blocked view readers notice the end of the loop. */
struct fuse_session;
void fsv_set_session(struct fsv *fs, struct fuse_session *se);

/* Extra "key value\n" lines for .status, written by fn(f, arg) (the daemon
 * registers the TCP server's counters).  Set before mounting. */
void fsv_status_set_extra(void (*fn)(FILE *f, void *arg), void *arg);
/* A block appended at the end of .status, written by fn(f, arg) (the
 * daemon registers its mirrors' state and lag).  Set before mounting. */
void fsv_status_set_tail(void (*fn)(FILE *f, void *arg), void *arg);

/* Daemon counters shown in .status.  Relaxed atomics: statistics only. */
struct fsv_counters {
	atomic_uint_fast64_t appends;          /* successful part_append calls */
	atomic_uint_fast64_t records_written;  /* records appended via the mount */
	atomic_uint_fast64_t bytes_written;    /* write(2) bytes accepted */
	atomic_uint_fast64_t reads;            /* read requests served */
	atomic_uint_fast64_t bytes_read;
	atomic_uint_fast64_t opens;
	atomic_uint_fast64_t cached_opens;     /* immutable views opened
	                                          through the page cache */
	atomic_uint_fast64_t reads_ahead;      /* partition reads served from
	                                          a window read ahead */
	atomic_uint_fast64_t errors;           /* reads and writes that failed */
	atomic_uint_fast64_t reader_shifts;    /* reads moved to the log start
	                                          (retention removed theirs) */
	atomic_uint_fast64_t reader_skipped_bytes; /* bytes readers lost so */
	atomic_uint_fast64_t reads_overtaken;  /* ENODATA: mid-record readers
	                                          overtaken by retention */
	atomic_uint_fast64_t blocked_reads;    /* gauge: view reads parked */
	atomic_uint_fast64_t held_bytes;       /* gauge: partial lines held */
	atomic_uint_fast64_t held_flushes;     /* partials appended early: the
	                                          held_max bound was reached */
	atomic_uint_fast64_t open_handles;     /* gauge: files and listings of /
	                                          and /.groups open on the mount
	                                          (the kernel releases a closed
	                                          file after close(2) returns) */
};

/* The file view's counters (for the metrics endpoint); valid while fs is. */
struct fsv_counters *fsv_counters_of(struct fsv *fs);
void fsv_free(struct fsv *fs);

#ifdef __cplusplus
}
#endif
#endif /* TOPICFS_FS_H */
