/*
 * status.c - the read-only /.status file.
 *
 * Rendered once per open into the handle (the file is direct_io, so its
 * size does not matter and every reader gets a consistent snapshot).
 * Format, meant for people and for awk alike:
 *
 *   topicfs 0.1.0
 *   uptime_ms 12345
 *   data_dir /var/lib/topicfs
 *   topics 2
 *   partitions 4
 *   appends 10                  part_append calls made through the mount
 *   records_written 1000
 *   bytes_written 12000
 *   reads 7
 *   bytes_read 12000
 *   opens 9
 *   errors 0
 *   blocked_reads 0             view reads parked at the end of a stream
 *   held_bytes 0                partial lines held for writers
 *   held_flushes 0              partials appended early (max_held_bytes)
 *   reader_shifts 0             reads moved to the log start by retention
 *   reader_skipped_bytes 0      what those readers never saw
 *   reads_overtaken 0           mid-record readers refused (ENODATA)
 *   storage_batches_written 10  the log engine's counters (storage.h)
 *   storage_records_written 1000
 *   storage_bytes_written 73000
 *   storage_flushes 0
 *   storage_recoveries 0
 *   storage_truncations 0
 *   storage_errors 0
 *   groups 1                    consumer groups (storage/groups.h)
 *   group_offsets 4
 *   group_commits 120           offsets committed since the start
 *   group_offsets_expired 0
 *   net_connections 3           the TCP server's, when it runs (set by
 *   ...                         main through fsv_status_set_extra)
 *   <empty line>
 *   topic partition log_start_offset next_offset records stream_start
 *       stream_end segments bytes_on_disk codec framing     (one line)
 *   orders 0 0 1000 1000 0 12000 1 73000 none lines
 *   <empty line>                (only when there are groups)
 *   group state members readers offsets lag
 *   billing Stable 2 0 4 17     the first 100 groups by id (encoded, a
 *   (3 more groups not listed: see .groups)   space shown as '+')
 *
 * Thread-safe: reads storage through its thread-safe API only.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "fs_int.h"

#ifndef TOPICFS_VERSION
#define TOPICFS_VERSION "0.1.0"
#endif

/* Extra "key value" lines (the TCP server's counters): set once by main
 * before the mount, read by status renders afterwards. */
static void (*status_extra)(FILE *f, void *arg);
static void *status_extra_arg;

void fsv_status_set_extra(void (*fn)(FILE *f, void *arg), void *arg)
{
	status_extra = fn;
	status_extra_arg = arg;
}

/* The block after the tables (the daemon's mirrors): as status_extra. */
static void (*status_tail)(FILE *f, void *arg);
static void *status_tail_arg;

void fsv_status_set_tail(void (*fn)(FILE *f, void *arg), void *arg)
{
	status_tail = fn;
	status_tail_arg = arg;
}

static uint64_t ld(atomic_uint_fast64_t *v)
{
	return atomic_load_explicit(v, memory_order_relaxed);
}

int fsv_status_render(struct store *st, struct fsv_counters *ctr,
                      const char *data_dir, int64_t start_ms,
                      char **out, size_t *out_len)
{
	char **names = NULL;
	size_t count = 0, len = 0, nparts_total = 0;
	char *text = NULL, *rows = NULL;
	size_t rows_len = 0;
	FILE *rf = NULL, *f = NULL;
	int rc;

	rc = store_topic_list(st, &names, &count);
	if (rc) {
		fsv_log("status: store_topic_list: %s", strerror(-rc));
		return rc;
	}
	rf = open_memstream(&rows, &rows_len);
	if (!rf) {
		rc = -ENOMEM;
		goto cleanup;
	}
	fprintf(rf, "topic partition log_start_offset next_offset records "
	        "stream_start stream_end segments bytes_on_disk codec framing\n");
	for (size_t i = 0; i < count; i++) {
		struct topic *t;
		if (store_topic_get(st, names[i], &t))
			continue;       /* deleted meanwhile */
		int32_t n = topic_partitions(t);
		for (int32_t p = 0; p < n; p++) {
			struct part *part = topic_part(t, p);
			struct part_info in;
			if (!part)
				continue;
			part_info(part, &in);
			nparts_total++;
			fprintf(rf, "%s %" PRId32 " %" PRId64 " %" PRId64 " %" PRId64
			        " %" PRId64 " %" PRId64 " %" PRId64 " %" PRId64 " %s %s\n",
			        names[i], p, in.log_start_offset, in.next_offset,
			        in.next_offset - in.log_start_offset, in.stream_start,
			        in.stream_end, in.segments, in.bytes_on_disk,
			        codec_name(in.codec),
			        in.framing == FRAMING_WRITES ? "writes" : "lines");
		}
		topic_put(t);
	}
	if (fclose(rf) != 0) {
		rf = NULL;
		rc = -ENOMEM;
		goto cleanup;
	}
	rf = NULL;
	f = open_memstream(&text, &len);
	if (!f) {
		rc = -ENOMEM;
		goto cleanup;
	}
	fprintf(f, "topicfs %s\n", TOPICFS_VERSION);
	fprintf(f, "uptime_ms %" PRId64 "\n",
	        tfs_now_ms() - start_ms);
	fprintf(f, "data_dir %s\n", data_dir);
	fprintf(f, "topics %zu\n", count);
	fprintf(f, "partitions %zu\n", nparts_total);
	fprintf(f, "appends %" PRIu64 "\n", ld(&ctr->appends));
	fprintf(f, "records_written %" PRIu64 "\n", ld(&ctr->records_written));
	fprintf(f, "bytes_written %" PRIu64 "\n", ld(&ctr->bytes_written));
	fprintf(f, "reads %" PRIu64 "\n", ld(&ctr->reads));
	fprintf(f, "bytes_read %" PRIu64 "\n", ld(&ctr->bytes_read));
	fprintf(f, "opens %" PRIu64 "\n", ld(&ctr->opens));
	fprintf(f, "cached_opens %" PRIu64 "\n", ld(&ctr->cached_opens));
	fprintf(f, "open_handles %" PRIu64 "\n", ld(&ctr->open_handles));
	fprintf(f, "reads_ahead %" PRIu64 "\n", ld(&ctr->reads_ahead));
	fprintf(f, "errors %" PRIu64 "\n", ld(&ctr->errors));
	fprintf(f, "blocked_reads %" PRIu64 "\n", ld(&ctr->blocked_reads));
	fprintf(f, "held_bytes %" PRIu64 "\n", ld(&ctr->held_bytes));
	fprintf(f, "held_flushes %" PRIu64 "\n", ld(&ctr->held_flushes));
	fprintf(f, "reader_shifts %" PRIu64 "\n", ld(&ctr->reader_shifts));
	fprintf(f, "reader_skipped_bytes %" PRIu64 "\n", ld(&ctr->reader_skipped_bytes));
	fprintf(f, "reads_overtaken %" PRIu64 "\n", ld(&ctr->reads_overtaken));
	struct store_stats ss;
	store_stats_get(&ss);
	fprintf(f, "storage_batches_written %" PRIu64 "\n", ss.batches_written);
	fprintf(f, "storage_records_written %" PRIu64 "\n", ss.records_written);
	fprintf(f, "storage_bytes_written %" PRIu64 "\n", ss.bytes_written);
	fprintf(f, "storage_flushes %" PRIu64 "\n", ss.flushes);
	fprintf(f, "storage_recoveries %" PRIu64 "\n", ss.recoveries);
	fprintf(f, "storage_truncations %" PRIu64 "\n", ss.truncations);
	fprintf(f, "storage_errors %" PRIu64 "\n", ss.errors);
	fsg_status_counters(f, st);
	if (status_extra)
		status_extra(f, status_extra_arg);
	fprintf(f, "\n%s", rows);
	fsg_status_table(f, st);
	if (status_tail)
		status_tail(f, status_tail_arg);
	if (fclose(f) != 0) {
		f = NULL;
		rc = -ENOMEM;
		goto cleanup;
	}
	f = NULL;
	*out = text;
	*out_len = len;
	text = NULL;
	rc = 0;
cleanup:
	if (rf)
		fclose(rf);
	if (f)
		fclose(f);
	free(text);
	free(rows);
	for (size_t i = 0; i < count; i++)
		free(names[i]);
	free(names);
	return rc;
}
