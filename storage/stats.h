/*
 * stats.h - storage's process-wide counters (stats.c): the
 * counters storage/ bumps on its hot paths.  Not a public API: the public
 * side (tfs_log, store_stats_get) is in storage.h.
 *
 * The counters are relaxed atomics: statistics only, never used to order
 * anything.  They are process-wide rather than per store because a process
 * opens one store (the daemon, each tool), and a global keeps the hot paths
 * free of a pointer chase to reach them.
 */
#ifndef TOPICFS_STATS_H
#define TOPICFS_STATS_H

#include <stdatomic.h>
#include <stdint.h>

enum tfs_stat {
	TFS_STAT_BATCHES,       /* batches written to segment files */
	TFS_STAT_RECORDS,       /* records in them */
	TFS_STAT_BYTES,         /* bytes written to .log files */
	TFS_STAT_FLUSHES,       /* successful partition flushes (fsync) */
	TFS_STAT_RECOVERIES,    /* segments rescanned by crash recovery */
	TFS_STAT_TRUNCATIONS,   /* torn or invalid tails cut by recovery */
	TFS_STAT_ERRORS,        /* failed system calls (sio_log) */
	TFS_STAT_COUNT
};

extern atomic_uint_fast64_t tfs_stats[TFS_STAT_COUNT];

static inline void tfs_stat_add(enum tfs_stat which, uint64_t n)
{
	atomic_fetch_add_explicit(&tfs_stats[which], n, memory_order_relaxed);
}

#endif /* TOPICFS_STATS_H */
