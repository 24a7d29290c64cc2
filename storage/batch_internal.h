/*
 * batch_internal.h - internals of the RecordBatch v2 codec shared with the
 * rest of storage/, the tools and the unit tests.  Not part of the public
 * API (storage.h); may change without notice.
 */
#ifndef TOPICFS_BATCH_INTERNAL_H
#define TOPICFS_BATCH_INTERNAL_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <string.h>

#include "storage.h"
#include "bytes.h"
#include "buf.h"

/* ------------------------------ CRC-32C --------------------------------- */

/* The portable slicing-by-8 implementation (any CPU). */
uint32_t crc32c_sw(uint32_t crc, const void *buf, size_t len);
/* The SSE4.2 implementation; falls back to crc32c_sw() when the CPU lacks
 * SSE4.2 (check crc32c_hw_available() to know which one ran). */
uint32_t crc32c_hw(uint32_t crc, const void *buf, size_t len);
bool crc32c_hw_available(void);

/* ------------------------------ encoding -------------------------------- */

/* Everything batch_encode() fixes, made explicit.  Initialise with
 * batch_encode_params_init() and change what you need. */
struct batch_encode_params {
	int64_t base_offset;        /* BaseOffset */
	int codec;                  /* CODEC_NONE, _SNAPPY, _LZ4 or _ZSTD */
	int64_t now_ms;             /* replaces record timestamps < 0 */
	int32_t leader_epoch;       /* PartitionLeaderEpoch (default 0) */
	int64_t producer_id;        /* default -1 */
	int16_t producer_epoch;     /* default -1 */
	int32_t base_sequence;      /* default -1 */
	/* Record headers kept beside the records: NULL to use each record's
	 * own (struct rec_in's headers, header_count), else header_counts[i]
	 * headers in headers[i] for record i (headers[i] may be NULL when the
	 * count is 0); both arrays have n entries, and a record that also
	 * carries headers of its own is -EINVAL (one source, never a silent
	 * choice). */
	const struct rec_header *const *headers;
	const int32_t *header_counts;
};

void batch_encode_params_init(struct batch_encode_params *p,
                              int64_t base_offset, int codec, int64_t now_ms);

/* batch_encode() with every header field chosen by the caller.  BaseTimestamp
 * is the first record's timestamp (as Kafka's producers write it),
 * MaxTimestamp the largest.  Same errors and ownership as batch_encode():
 * -EINVAL for bad arguments, -EMSGSIZE if the batch would not fit an int32
 * Length, -ENOTSUP for a codec we cannot write, -ENOMEM. */
int batch_encode_ex(const struct rec_in *recs, size_t n,
                    const struct batch_encode_params *p,
                    uint8_t **out, size_t *out_len);

/* batch_encode_ex() into a caller's growable buffer, for the append path
 * (no per-batch allocation, no copy): the batch is written at
 * (*buf)[at .. at + *out_len); *buf (malloc'd, *cap bytes, at <= *cap) is
 * grown with realloc(3) as needed and stays the caller's, on error too
 * (bytes from at on are then undefined).  Same errors as batch_encode_ex. */
int batch_encode_buf(const struct rec_in *recs, size_t n,
                     const struct batch_encode_params *p,
                     uint8_t **buf, size_t *cap, size_t at, size_t *out_len);

/* One batch of an encoded unit: where it is in the unit's buffer, the
 * offset of its first record relative to the unit's first, its record
 * count, MaxTimestamp and rendered length (the writer's index entries). */
struct unit_batch {
	size_t off, len;
	int64_t rel_base;
	int32_t records;
	int64_t max_ts;
	int64_t rendered;
};

/* A walk over the records of a struct lines_in (batch_encode_lines, and
 * part_append's copying path with linger_ms > 0): the records are the
 * pieces of pre followed by data between newlines.  (Measured against
 * glibc's memchr, then memcpy of the value: a 64-bytes-at-a-time SSE2
 * newline scan was no faster, and a scan fused with the copy, 16 or 32
 * bytes a step, took 0.25 ms per MiB of 100-byte lines against 0.16.) */
struct line_cursor {
	const struct lines_in *in;
	size_t pos;                 /* in data */
	bool first;                 /* pre not consumed yet */
	bool done;
};

/* The next record as two pieces (the held partial, then a piece of data):
 * 1, or 0 at the end, or -EINVAL when bytes after the last newline are
 * left over and are not to be a record. */
static inline int line_next(struct line_cursor *c, const char **a, size_t *alen,
                            const char **b, size_t *blen)
{
	const struct lines_in *in = c->in;
	const char *nl;

	if (c->done)
		return 0;
	*a = c->first ? in->pre : NULL;
	*alen = c->first ? in->pre_len : 0;
	*b = in->data + c->pos;
	nl = c->pos < in->len ? memchr(*b, '\n', in->len - c->pos) : NULL;
	if (nl) {
		*blen = (size_t)(nl - *b);
		c->pos += *blen + 1;
		c->first = false;
		return 1;
	}
	*blen = in->len - c->pos;
	c->done = true;
	if (in->last_is_record)
		return 1;
	return *alen + *blen > 0 ? -EINVAL : 0;
}

/* The records of in (struct lines_in, storage.h) as v2 batches, BaseOffset
 * 0, in out (its bytes replaced): each batch takes records while their
 * values plus 24 bytes each stay within limit (at least one record), all
 * with timestamp now_ms, null keys, no headers, compressed with codec.
 * One pass: each value is copied once (into the batch, or into the
 * records section compressed from), then the CRC.  *batches (malloc'd,
 * *nbatches entries, rendered lengths by framing) and *nrecs on success;
 * nothing allocated on failure.  -EMSGSIZE for a record longer than
 * in->max_line, -EINVAL for bytes after the last newline that are not a
 * record, -ENOTSUP for a codec we cannot write, -ENOMEM.  No records:
 * success with *nbatches 0. */
int batch_encode_lines(const struct lines_in *in, int codec, size_t limit,
                       int framing, int64_t now_ms, struct buf *out,
                       struct unit_batch **batches, size_t *nbatches,
                       int64_t *nrecs);

/* The file view's read path renders an uncompressed batch from its bytes
 * in place, without decoding it into a record array: the batch b (len
 * bytes, header h, its CRC already checked) from rendered offset skip into
 * dst (cap > 0 bytes), values plus a newline each for FRAMING_LINES.  The
 * hint (*hpos a record's byte position in the records section, *hidx its
 * index, *hat its rendered offset; 0/0/0 is always valid) says where to
 * start parsing and is moved to the record holding the next byte to
 * render.  *n gets the bytes rendered; *rlen the batch's rendered length
 * once the walk passed its last record, else -1.  Every record walked is
 * checked as batch_decode checks it: -EBADMSG when one is malformed or the
 * records do not end where the batch does. */
int batch_render_raw(const uint8_t *b, size_t len, const struct batch_header *h,
                     int framing, int64_t skip, uint8_t *dst, size_t cap,
                     size_t *n, int64_t *rlen, size_t *hpos, size_t *hidx,
                     int64_t *hat);

/* Recompute and store the CRC of an encoded batch of len bytes (used by
 * tests that build hostile batches; len must be >= BATCH_HEADER_SIZE). */
void batch_store_crc(void *batch, size_t len);

#endif /* TOPICFS_BATCH_INTERNAL_H */
