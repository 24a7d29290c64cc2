/*
 * stats.c - storage's process-wide counters (stats.h) and their snapshot
 * for the public API (store_stats_get).  Relaxed atomics: statistics only.
 */
#include <stdatomic.h>
#include <string.h>

#include "storage.h"
#include "stats.h"

atomic_uint_fast64_t tfs_stats[TFS_STAT_COUNT];

void store_stats_get(struct store_stats *out)
{
	memset(out, 0, sizeof *out);
	out->batches_written = atomic_load_explicit(&tfs_stats[TFS_STAT_BATCHES], memory_order_relaxed);
	out->records_written = atomic_load_explicit(&tfs_stats[TFS_STAT_RECORDS], memory_order_relaxed);
	out->bytes_written = atomic_load_explicit(&tfs_stats[TFS_STAT_BYTES], memory_order_relaxed);
	out->flushes = atomic_load_explicit(&tfs_stats[TFS_STAT_FLUSHES], memory_order_relaxed);
	out->recoveries = atomic_load_explicit(&tfs_stats[TFS_STAT_RECOVERIES], memory_order_relaxed);
	out->truncations = atomic_load_explicit(&tfs_stats[TFS_STAT_TRUNCATIONS], memory_order_relaxed);
	out->errors = atomic_load_explicit(&tfs_stats[TFS_STAT_ERRORS], memory_order_relaxed);
}
