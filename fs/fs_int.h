/*
 * fs_int.h - internals shared by the files of fs/ (not a public API).
 */
#ifndef TOPICFS_FS_INT_H
#define TOPICFS_FS_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include "fs.h"

struct fuse_session;

/* Daemon counters shown in .status.  Relaxed atomics: statistics only. */
struct fsv_counters {
	atomic_uint_fast64_t appends;          /* successful part_append calls */
	atomic_uint_fast64_t records_written;  /* records appended via the mount */
	atomic_uint_fast64_t bytes_written;    /* write(2) bytes accepted */
	atomic_uint_fast64_t reads;            /* read requests served */
	atomic_uint_fast64_t bytes_read;
	atomic_uint_fast64_t opens;
	atomic_uint_fast64_t errors;           /* reads and writes that failed */
};

/* Render the status text into a new buffer (*out, owned by the caller,
 * free(3)).  0 or -errno. */
int fsv_status_render(struct store *st, struct fsv_counters *ctr,
                      const struct fsv_config *cfg, int64_t start_ms,
                      char **out, size_t *out_len);

/* Log one line ("topicfs: ..." on stderr, or syslog once daemonised). */
void fsv_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fsv_log_use_syslog(bool on);

/* The session, so blocked view readers notice the end of the loop. */
void fsv_set_session(struct fsv *fs, struct fuse_session *se);

/* Extra "key value\n" lines for .status, written by fn(f, arg) (main
 * registers the TCP server's counters).  Set before mounting. */
void fsv_status_set_extra(void (*fn)(FILE *f, void *arg), void *arg);

/* The daemon's counters (for the metrics endpoint); valid while fs is. */
struct fsv_counters *fsv_counters_of(struct fsv *fs);

#endif /* TOPICFS_FS_INT_H */
