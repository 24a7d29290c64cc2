/*
 * part_admin.c - administrative changes of one partition: DeleteRecords
 * (part_delete_records, storage.h) and its replay at load
 * (part_log_start_apply).
 *
 * DELETE RECORDS moves the log start inside the log, at a record
 * boundary: log_start_offset = the first offset kept, stream_start = the
 * stream position of that record (part_stream_pos_exact), which may be
 * inside the first segment and even inside a batch.  The read paths need
 * nothing more: every one of them checks against log_start_offset or
 * stream_start (part_read.c), a read below stream_start is -ERANGE like a
 * read below a retention trim, and the file view shifts a read below it
 * to it (fs.c).  A Fetch at the log start may be handed the whole batch
 * holding it, earlier records included, as Kafka does; consumers skip
 * records below their fetch offset.  Retention (part_write.c) deletes the
 * segments wholly below the start and never moves the start back.
 *
 * Order: the writer token (nothing appends, rolls or runs retention
 * meanwhile), the new stream start computed, the log-start-offset
 * checkpoint written with the new start and only then the start published
 * (store_lso_commit), then the segments below it deleted (retention: the
 * stream-start file first, then the unlinks).  A crash before the
 * checkpoint is durable leaves the old start; after it, the new one is
 * applied at the next load (part_log_start_apply).
 */
#include "engine.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

int part_delete_records(struct part *p, int64_t before, int64_t *low_watermark)
{
	int64_t cur, next, pos;
	int rc;

	if (!p || before < -1)
		return -EINVAL;
	INV_RANK_FREE(RANK_WRITER);
	if (!writer_acquire(p)) {
		writer_release(p);
		return -ENOENT;
	}
	lock_rank(&p->lock, RANK_PART_LOCK);
	cur = p->log_start_offset;
	next = p->next_offset;
	unlock_rank(&p->lock);
	if (before == -1)
		before = next;
	if (before > next) {
		rc = -ERANGE;
		goto out;
	}
	if (before <= cur) {
		rc = 0;
		goto done;
	}
	rc = part_stream_pos_exact(p, before, &pos);
	if (rc < 0)
		goto out;
	rc = store_lso_commit(p, before, pos);
	if (rc < 0)
		goto out;
	part_retention_now(p);
	tfs_log(TFS_LOG_INFO, "storage: %s: records below offset %" PRId64
	        " deleted (log start was %" PRId64 ")", p->dir, before, cur);
	cur = before;
done:
	if (low_watermark)
		*low_watermark = cur;
out:
	writer_release(p);
	return rc;
}

int part_log_start_apply(struct part *p, int64_t off)
{
	int64_t pos, cur, next;
	int rc;

	INV_LOAD_BEGIN(p);
	lock_rank(&p->lock, RANK_PART_LOCK);
	cur = p->log_start_offset;
	next = p->next_offset;
	unlock_rank(&p->lock);
	rc = 0;
	if (off <= cur)
		goto out;
	if (off > next) {
		tfs_log(TFS_LOG_WARN, "storage: %s: the log start offset checkpoint "
		        "says %" PRId64 ", past the log's end %" PRId64 " (records "
		        "lost in a crash): starting at the end", p->dir, off, next);
		off = next;
	}
	rc = part_stream_pos_exact(p, off, &pos);
	if (rc < 0) {
		tfs_log(TFS_LOG_ERROR, "storage: %s: log start %" PRId64 " from the "
		        "checkpoint cannot be placed (%s): keeping %" PRId64, p->dir,
		        off, strerror(-rc), cur);
		rc = 0;
		goto out;
	}
	lock_rank(&p->lock, RANK_PART_LOCK);
	p->log_start_offset = off;
	p->stream_start = pos;
	unlock_rank(&p->lock);
	part_retention_now(p);
out:
	INV_LOAD_END(p);
	return rc;
}
