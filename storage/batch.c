/*
 * batch.c - the RecordBatch v2 codec: parse, validate, decode and encode the
 * one record format topicfs keeps on disk, sends on the wire and accepts from
 * producers (docs/FORMAT.md section 2).
 *
 * THE FORMAT
 *
 * A batch is a 61-byte header followed by the records section.  All header
 * integers are big-endian two's complement.
 *
 *   off size field
 *     0   8  BaseOffset            offset of the first record (0 in produce
 *                                  requests, absolute on disk)
 *     8   4  Length                bytes after this field: total size - 12
 *    12   4  PartitionLeaderEpoch
 *    16   1  Magic                 2
 *    17   4  CRC                   CRC-32C of bytes [21, 12 + Length)
 *    21   2  Attributes            bits 0-2 codec (0 none, 1 gzip, 2 snappy,
 *                                  3 lz4, 4 zstd, 5-7 invalid), bit 3
 *                                  LogAppendTime, bit 4 transactional, bit 5
 *                                  control, bit 6 delete horizon
 *    23   4  LastOffsetDelta
 *    27   8  BaseTimestamp
 *    35   8  MaxTimestamp
 *    43   8  ProducerId            -1 when not idempotent
 *    51   2  ProducerEpoch         -1
 *    53   4  BaseSequence          -1
 *    57   4  RecordsCount
 *    61   .. records section: the records back to back, compressed as ONE
 *            stream when the codec is not none (the header stays plain)
 *
 * BaseOffset, Length, PartitionLeaderEpoch and Magic are outside the CRC,
 * so BaseOffset can be rewritten (batch_set_base_offset) without touching
 * the CRC, and those fields must be bounds-checked on their own.
 *
 * A record, with varint = zigzag LEB128 of an int32 (at most 5 bytes) and
 * varlong = the same for an int64 (at most 10 bytes):
 *
 *   Length          varint   bytes after this field, up to the end of the
 *                            record (so a record is at least 7 bytes: six
 *                            one-byte fields plus this one)
 *   Attributes      int8     unused (Kafka writes 0 and ignores it)
 *   TimestampDelta  varlong  timestamp - BaseTimestamp
 *   OffsetDelta     varint   offset - BaseOffset
 *   KeyLen          varint   -1 = null key
 *   Key             KeyLen bytes
 *   ValueLen        varint   -1 = null value
 *   Value           ValueLen bytes
 *   HeaderCount     varint
 *   Headers         HeaderCount times: KeyLen varint (>= 0), Key,
 *                   ValueLen varint (-1 = null), Value
 *
 * batch_encode writes a record's headers (struct rec_in's headers and
 * header_count, or batch_encode_params' arrays) in the order given, with
 * varints as above: a header with an empty key is KeyLen 0, a null value
 * ValueLen -1 and no bytes.
 *
 * WHAT MAKES A BATCH VALID (batch_decode checks all of it, in this order)
 *
 *   1. At least 61 bytes; 49 <= Length; 12 + Length <= the bytes given;
 *      Magic == 2.  Bytes after 12 + Length are not part of the batch.
 *   2. The CRC matches.
 *   3. The codec is none, gzip, snappy, lz4 or zstd (5-7: -EBADMSG).
 *   4. BaseOffset >= 0, LastOffsetDelta >= 0, BaseOffset + LastOffsetDelta
 *      does not overflow.  Non-control batches: RecordsCount ==
 *      LastOffsetDelta + 1 (so > 0).  Control batches: 0 <= RecordsCount <=
 *      LastOffsetDelta + 1.
 *   5. The records section (decompressed) is at most max_bytes bytes, and
 *      RecordsCount fits in it (7 bytes per record at least), and the
 *      record array (RecordsCount * sizeof(struct record)) is at most
 *      max_bytes.  Over a bound: -EMSGSIZE.
 *   6. Every record parses inside its own Length and inside the section,
 *      every length is >= -1 (header keys >= 0), the section holds exactly
 *      RecordsCount records and nothing after them.
 *   7. Offset deltas strictly increase.  For non-control batches together
 *      with 4 this means they are exactly 0, 1, ..., n-1.  A real Kafka
 *      compacted topic can hold non-control batches with gaps (count <
 *      LastOffsetDelta + 1); topicfs never writes those, accepting them
 *      would make the offset -> record arithmetic of the log engine wrong,
 *      so they are refused.  Control batches (transaction markers) are
 *      only required to be increasing and within LastOffsetDelta.
 *
 *   Record timestamps: BaseTimestamp + delta for CreateTime batches (an
 *   int64 overflow is -EBADMSG); MaxTimestamp for every record of a
 *   LogAppendTime batch, as Kafka's consumers report them.  MaxTimestamp is
 *   not checked against the records.
 *
 * DECOMPRESSION
 *
 * gzip, lz4 and zstd decompress into one buffer that grows by doubling and
 * never past max_bytes + 1 bytes; producing byte max_bytes + 1 is
 * -EMSGSIZE.  Declared content sizes (lz4 and zstd frame headers) are never
 * trusted.  Snappy (a raw block, or snappy-java's "xerial" stream of
 * blocks) must be told its output size, so the sizes every block declares
 * are summed and checked first (against max_bytes: -EMSGSIZE; against
 * what the block's length can expand to and what RecordsCount needs:
 * -EBADMSG), and only then is the exact buffer allocated
 * (decompress_snappy).
 * zstd's window is limited to the power of two covering max_bytes (at least
 * 2^23, at most 2^27), so a hostile frame cannot make libzstd allocate much
 * more either; lz4's frame buffers are at most 4 MiB + 128 KiB by format.
 * Concatenated frames (lz4, zstd) or members (gzip) are accepted, as the
 * formats define them; a truncated last frame is -EBADMSG.
 *
 * OWNERSHIP
 *
 * For codec none the decoded records point into the caller's batch bytes
 * (no copy): the batch must outlive the struct batch_decoded.  For the other
 * codecs they point into b->buf, owned by the struct.
 *
 * PER-THREAD STATE
 *
 * Creating a zstd or lz4 context, and faulting in fresh megabyte buffers
 * (glibc mmaps every allocation above 128 KiB and unmaps it on free), cost
 * more than the work itself for a 1 MiB batch.  So each thread keeps, in a
 * pthread key freed when the thread exits: one zstd compression context,
 * one zstd and one lz4 decompression context, the scratch buffers of
 * batch_encode_buf (record sizes, uncompressed records), and one spare
 * record array and one spare decompression buffer, which batch_decoded_free
 * puts back and batch_decode takes again.  Every kept buffer is at most
 * TLS_KEEP_BYTES (larger ones are freed as before), so the memory is
 * bounded by the number of threads; a thread that cannot get its state
 * (no memory) falls back to per-call allocation.
 *
 * Thread-safety: all functions are reentrant; the only state is per thread.
 */
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <lz4frame.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "storage.h"
#include "batch_internal.h"

#define BATCH_MIN_LENGTH      (BATCH_HEADER_SIZE - BATCH_LOG_OVERHEAD) /* 49 */
#define RECORD_MIN_SIZE       7     /* Length varint + six 1-byte fields */
#define RECORD_MIN_BODY       6     /* the record's Length, at least */
#define HEADER_MIN_SIZE       2     /* KeyLen varint + ValueLen varint */
#define VARINT_MAX_BYTES      5
#define VARLONG_MAX_BYTES     10
#define ZSTD_LEVEL            3
#define ZSTD_WLOG_FLOOR       23    /* window of levels <= 19 */
#define ZSTD_WLOG_MAX         27    /* ZSTD_WINDOWLOG_LIMIT_DEFAULT */
#define DECOMP_INITIAL_CAP    (64 * 1024)
#define XERIAL_HEADER_SIZE    16    /* magic 8, version 4, compatible 4 */
#define XERIAL_VERSION        1     /* what snappy-java writes, both fields */
#define XERIAL_BLOCK          (32 * 1024) /* snappy-java's block (uncompressed) */
/* The most a snappy block can expand: a copy element is at most 64 bytes of
 * output for 3 bytes of input (2-byte offset; 1-byte offsets: 11 for 2,
 * 4-byte offsets: 64 for 5, literals: at most 1 for 1), so no valid block
 * declares more than 64/3 < 22 times its own size. */
#define SNAPPY_MAX_RATIO      22
#define TLS_KEEP_BYTES        (4u << 20)  /* largest buffer a thread keeps */

/* Header field offsets. */
#define OFF_BASE_OFFSET       0
#define OFF_LENGTH            8
#define OFF_LEADER_EPOCH      12
#define OFF_MAGIC             16
#define OFF_CRC               17
#define OFF_ATTRIBUTES        21
#define OFF_LAST_OFFSET_DELTA 23
#define OFF_BASE_TIMESTAMP    27
#define OFF_MAX_TIMESTAMP     35
#define OFF_PRODUCER_ID       43
#define OFF_PRODUCER_EPOCH    51
#define OFF_BASE_SEQUENCE     53
#define OFF_RECORDS_COUNT     57

/* ============================== varints ================================== */

/* A read cursor over [p, p + len).  pos never passes len. */
struct cursor {
	const uint8_t *p;
	size_t len;
	size_t pos;
};

static int read_uvarint(struct cursor *c, int max_bytes, uint64_t *out)
{
	uint64_t value = 0;

	for (int i = 0; i < max_bytes; i++) {
		if (c->pos >= c->len)
			return -EBADMSG;
		uint8_t byte = c->p[c->pos++];
		value |= (uint64_t)(byte & 0x7f) << (7 * i);
		if (!(byte & 0x80)) {
			/* The last byte of a maximal encoding may only carry
			 * the bits that exist: 4 for a varint (5*7 = 35 >
			 * 32), 1 for a varlong (10*7 = 70 > 64). */
			if (i == max_bytes - 1) {
				uint8_t spare = max_bytes == VARINT_MAX_BYTES ?
				                0x0f : 0x01;
				if (byte & ~spare)
					return -EBADMSG;
			}
			*out = value;
			return 0;
		}
	}
	return -EBADMSG;    /* too long */
}

static inline int read_varint(struct cursor *c, int32_t *out)
{
	uint64_t raw;
	int rc;

	/* fast paths: most fields are one byte (lengths < 64, deltas), and
	 * the lengths of ~100-byte records two */
	if (c->pos < c->len && c->p[c->pos] < 0x80) {
		uint32_t u = c->p[c->pos++];
		*out = (int32_t)((u >> 1) ^ (0u - (u & 1)));
		return 0;
	}
	if (c->len - c->pos >= 2 && c->p[c->pos + 1] < 0x80) {
		uint32_t u = (c->p[c->pos] & 0x7fu) | ((uint32_t)c->p[c->pos + 1] << 7);
		c->pos += 2;
		*out = (int32_t)((u >> 1) ^ (0u - (u & 1)));
		return 0;
	}
	rc = read_uvarint(c, VARINT_MAX_BYTES, &raw);
	if (rc < 0)
		return rc;
	uint32_t u = (uint32_t)raw;
	*out = (int32_t)((u >> 1) ^ (0u - (u & 1)));
	return 0;
}

static inline int read_varlong(struct cursor *c, int64_t *out)
{
	uint64_t raw;
	int rc;

	if (c->pos < c->len && c->p[c->pos] < 0x80) {
		uint64_t u = c->p[c->pos++];
		*out = (int64_t)((u >> 1) ^ (0ull - (u & 1)));
		return 0;
	}
	rc = read_uvarint(c, VARLONG_MAX_BYTES, &raw);
	if (rc < 0)
		return rc;
	*out = (int64_t)((raw >> 1) ^ (0ull - (raw & 1)));
	return 0;
}

static inline uint64_t zigzag64(int64_t v)
{
	return ((uint64_t)v << 1) ^ (v < 0 ? UINT64_MAX : 0);
}

static inline size_t uvarint_size(uint64_t v)
{
	size_t n = 1;
	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

/* zigzag of an int32 and of an int64 with the same value agree, so one
 * writer serves both varint and varlong. */
static inline size_t varlong_size(int64_t v)
{
	return uvarint_size(zigzag64(v));
}

static inline uint8_t *put_varlong(uint8_t *p, int64_t v)
{
	uint64_t u = zigzag64(v);
	while (u >= 0x80) {
		*p++ = (uint8_t)(u | 0x80);
		u >>= 7;
	}
	*p++ = (uint8_t)u;
	return p;
}

/* ============================ per-thread state =========================== */

struct batch_tls {
	ZSTD_CCtx *zc;              /* zstd compression context */
	ZSTD_DCtx *zd;              /* zstd decompression context */
	LZ4F_dctx *ld;              /* lz4 frame decompression context */
	int64_t *sizes;             /* encode: record body sizes */
	size_t sizes_cap;           /* entries */
	uint8_t *plain;             /* encode: records before compression */
	size_t plain_cap;
	struct record *recs_spare;  /* decode: a record array to reuse */
	uint8_t *buf_spare;         /* decode: a decompression buffer to reuse */
};

static pthread_key_t batch_tls_key;
static pthread_once_t batch_tls_once = PTHREAD_ONCE_INIT;
static bool batch_tls_ok;           /* written once under batch_tls_once */

static void batch_tls_free(void *v)
{
	struct batch_tls *t = v;

	ZSTD_freeCCtx(t->zc);
	ZSTD_freeDCtx(t->zd);
	if (t->ld)
		LZ4F_freeDecompressionContext(t->ld);
	free(t->sizes);
	free(t->plain);
	free(t->recs_spare);
	free(t->buf_spare);
	free(t);
}

static void batch_tls_init(void)
{
	batch_tls_ok = pthread_key_create(&batch_tls_key, batch_tls_free) == 0;
}

/* This thread's state, or NULL (no memory): callers then allocate per call. */
static struct batch_tls *batch_tls(void)
{
	struct batch_tls *t;

	pthread_once(&batch_tls_once, batch_tls_init);
	if (!batch_tls_ok)
		return NULL;
	t = pthread_getspecific(batch_tls_key);
	if (!t) {
		t = calloc(1, sizeof(*t));
		if (t && pthread_setspecific(batch_tls_key, t) != 0) {
			free(t);
			t = NULL;
		}
	}
	return t;
}

/* Give a buffer back to a one-buffer slot, or free it. */
static void tls_keep(void **slot, void *p)
{
	if (!p)
		return;
	if (!*slot && malloc_usable_size(p) <= TLS_KEEP_BYTES)
		*slot = p;
	else
		free(p);
}

/* Take the slot's buffer if it holds at least need bytes, else NULL (and
 * drop a buffer too small, so a bigger one can take its place). */
static void *tls_take(void **slot, size_t need)
{
	void *p = *slot;
	if (p && malloc_usable_size(p) >= need) {
		*slot = NULL;
		return p;
	}
	free(p);
	*slot = NULL;
	return NULL;
}

/* ============================== codecs =================================== */

const char *codec_name(int codec)
{
	switch (codec) {
	case CODEC_NONE: return "none";
	case CODEC_GZIP: return "gzip";
	case CODEC_SNAPPY: return "snappy";
	case CODEC_LZ4: return "lz4";
	case CODEC_ZSTD: return "zstd";
	default: return "unknown";
	}
}

int codec_from_name(const char *name)
{
	static const int codecs[] = {
		CODEC_NONE, CODEC_GZIP, CODEC_SNAPPY, CODEC_LZ4, CODEC_ZSTD,
	};

	if (!name)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(codecs) / sizeof(codecs[0]); i++)
		if (strcasecmp(name, codec_name(codecs[i])) == 0)
			return codecs[i];
	return -EINVAL;
}

/* ============================== header =================================== */

int batch_parse_header(const void *buf, size_t len, struct batch_header *out)
{
	const uint8_t *p = buf;
	struct batch_header h;

	if (!buf || !out)
		return -EINVAL;
	if (len < BATCH_LOG_OVERHEAD)
		return -EAGAIN;
	h.base_offset = (int64_t)be64_get(p + OFF_BASE_OFFSET);
	h.length = (int32_t)be32_get(p + OFF_LENGTH);
	if (h.length < BATCH_MIN_LENGTH)
		return -EBADMSG;
	/* A torn batch still has its magic byte if that much was written;
	 * checking it early tells garbage from a partial write. */
	if (len > OFF_MAGIC && (int8_t)p[OFF_MAGIC] != BATCH_MAGIC_V2)
		return -EBADMSG;
	if (len < (size_t)BATCH_LOG_OVERHEAD + (size_t)h.length) {
		out->base_offset = h.base_offset;
		out->length = h.length;
		return -EAGAIN;
	}
	h.leader_epoch = (int32_t)be32_get(p + OFF_LEADER_EPOCH);
	h.magic = (int8_t)p[OFF_MAGIC];
	h.crc = be32_get(p + OFF_CRC);
	h.attributes = (int16_t)be16_get(p + OFF_ATTRIBUTES);
	h.last_offset_delta = (int32_t)be32_get(p + OFF_LAST_OFFSET_DELTA);
	h.base_timestamp = (int64_t)be64_get(p + OFF_BASE_TIMESTAMP);
	h.max_timestamp = (int64_t)be64_get(p + OFF_MAX_TIMESTAMP);
	h.producer_id = (int64_t)be64_get(p + OFF_PRODUCER_ID);
	h.producer_epoch = (int16_t)be16_get(p + OFF_PRODUCER_EPOCH);
	h.base_sequence = (int32_t)be32_get(p + OFF_BASE_SEQUENCE);
	h.records_count = (int32_t)be32_get(p + OFF_RECORDS_COUNT);
	*out = h;
	return 0;
}

int batch_check_crc(const void *batch, size_t len)
{
	struct batch_header h;
	int rc = batch_parse_header(batch, len, &h);

	if (rc == -EAGAIN)
		return -EBADMSG;
	if (rc < 0)
		return rc;
	const uint8_t *p = batch;
	size_t end = (size_t)BATCH_LOG_OVERHEAD + (size_t)h.length;
	if (crc32c(0, p + OFF_ATTRIBUTES, end - OFF_ATTRIBUTES) != h.crc)
		return -EBADMSG;
	return 0;
}

void batch_store_crc(void *batch, size_t len)
{
	uint8_t *p = batch;
	be32_put(p + OFF_CRC, crc32c(0, p + OFF_ATTRIBUTES, len - OFF_ATTRIBUTES));
}

void batch_set_base_offset(void *batch, int64_t base_offset)
{
	be64_put((uint8_t *)batch + OFF_BASE_OFFSET, (uint64_t)base_offset);
}

/* =========================== decompression =============================== */

/* An output buffer that grows by doubling up to hard_cap = limit + 1 bytes:
 * filling it completely means the data is larger than limit. */
struct outbuf {
	uint8_t *data;
	size_t len;
	size_t cap;
	size_t hard_cap;
};

static void outbuf_init(struct outbuf *ob, size_t limit, size_t src_len,
                        struct batch_tls *t)
{
	size_t initial = DECOMP_INITIAL_CAP;

	ob->data = NULL;
	ob->len = 0;
	ob->cap = 0;
	ob->hard_cap = limit < SIZE_MAX ? limit + 1 : SIZE_MAX;
	if (src_len <= SIZE_MAX / 4 && src_len * 4 > initial)
		initial = src_len * 4;
	if (initial > ob->hard_cap)
		initial = ob->hard_cap;
	ob->cap = initial;      /* allocated lazily by outbuf_make_room */
	if (t && t->buf_spare) {
		/* the thread's spare: used as it is, grown like any other */
		size_t have = malloc_usable_size(t->buf_spare);
		ob->data = t->buf_spare;
		t->buf_spare = NULL;
		ob->cap = have < ob->hard_cap ? have : ob->hard_cap;
	}
}

/* Make sure len < cap with storage behind it.  -EMSGSIZE when full at
 * hard_cap, -ENOMEM. */
static int outbuf_make_room(struct outbuf *ob)
{
	if (ob->data && ob->len < ob->cap)
		return 0;
	size_t new_cap = ob->cap;
	if (ob->data) {
		if (ob->cap >= ob->hard_cap)
			return -EMSGSIZE;
		new_cap = ob->cap <= ob->hard_cap / 2 ? ob->cap * 2 :
		          ob->hard_cap;
	}
	uint8_t *data = realloc(ob->data, new_cap);
	if (!data)
		return -ENOMEM;
	ob->data = data;
	ob->cap = new_cap;
	return 0;
}

static int decompress_gzip(const uint8_t *src, size_t src_len,
                           struct outbuf *ob)
{
	z_stream zs;
	int rc;

	if (src_len > UINT_MAX)
		return -EMSGSIZE;
	memset(&zs, 0, sizeof(zs));
	if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK)
		return -ENOMEM;
	zs.next_in = (Bytef *)src;
	zs.avail_in = (uInt)src_len;
	for (;;) {
		rc = outbuf_make_room(ob);
		if (rc < 0)
			goto out;
		size_t room = ob->cap - ob->len;
		if (room > UINT_MAX)
			room = UINT_MAX;
		zs.next_out = ob->data + ob->len;
		zs.avail_out = (uInt)room;
		int zrc = inflate(&zs, Z_NO_FLUSH);
		ob->len += room - zs.avail_out;
		if (zrc == Z_STREAM_END) {
			if (zs.avail_in == 0) {
				rc = 0;
				goto out;
			}
			/* another gzip member follows */
			if (inflateReset(&zs) != Z_OK) {
				rc = -EBADMSG;
				goto out;
			}
			continue;
		}
		if (zrc == Z_MEM_ERROR) {
			rc = -ENOMEM;
			goto out;
		}
		if (zrc != Z_OK && zrc != Z_BUF_ERROR) {
			rc = -EBADMSG;
			goto out;
		}
		/* Input gone and output not full: the stream is truncated. */
		if (zs.avail_in == 0 && zs.avail_out > 0) {
			rc = -EBADMSG;
			goto out;
		}
	}
out:
	inflateEnd(&zs);
	return rc;
}

static int decompress_lz4(const uint8_t *src, size_t src_len,
                          struct outbuf *ob, struct batch_tls *t)
{
	LZ4F_dctx *dctx = NULL;
	size_t in_pos = 0;
	int rc;

	if (t && !t->ld &&
	    LZ4F_isError(LZ4F_createDecompressionContext(&t->ld, LZ4F_VERSION)))
		t->ld = NULL;
	if (t && t->ld) {
		dctx = t->ld;           /* kept: reset instead of re-created */
		LZ4F_resetDecompressionContext(dctx);
	} else if (LZ4F_isError(LZ4F_createDecompressionContext(&dctx, LZ4F_VERSION))) {
		return -ENOMEM;
	}
	for (;;) {
		rc = outbuf_make_room(ob);
		if (rc < 0)
			goto out;
		size_t dst_size = ob->cap - ob->len;
		size_t src_size = src_len - in_pos;
		size_t hint = LZ4F_decompress(dctx, ob->data + ob->len,
		                              &dst_size, src + in_pos,
		                              &src_size, NULL);
		if (LZ4F_isError(hint)) {
			rc = -EBADMSG;
			goto out;
		}
		ob->len += dst_size;
		in_pos += src_size;
		if (in_pos == src_len) {
			if (hint == 0) {
				rc = 0;     /* frame complete and flushed */
				goto out;
			}
			if (ob->len < ob->cap) {
				rc = -EBADMSG;  /* truncated frame */
				goto out;
			}
		} else if (src_size == 0 && dst_size == 0 && ob->len < ob->cap) {
			rc = -EBADMSG;  /* no progress with room and input */
			goto out;
		}
	}
out:
	if (!t || dctx != t->ld)
		LZ4F_freeDecompressionContext(dctx);
	return rc;
}

/* The largest zstd window we let a frame ask for: enough for max_bytes of
 * output, never less than 2^23 (what libzstd's levels up to 19 use, so a
 * streaming producer's frame is not refused under a small max_bytes), never
 * more than 2^27 (libzstd's own default limit). */
static int window_log_for(size_t limit)
{
	int wlog = ZSTD_WLOG_FLOOR;
	while (wlog < ZSTD_WLOG_MAX && ((size_t)1 << wlog) < limit)
		wlog++;
	return wlog;
}

static int decompress_zstd(const uint8_t *src, size_t src_len, size_t limit,
                           struct outbuf *ob, struct batch_tls *t)
{
	ZSTD_DStream *ds;
	ZSTD_inBuffer in = { src, src_len, 0 };
	int rc;

	if (t && !t->zd)
		t->zd = ZSTD_createDCtx();
	if (t && t->zd) {
		ds = t->zd;             /* kept: reset instead of re-created */
		ZSTD_DCtx_reset(ds, ZSTD_reset_session_and_parameters);
	} else {
		ds = ZSTD_createDStream();
	}
	if (!ds)
		return -ENOMEM;
	if (ZSTD_isError(ZSTD_DCtx_setParameter(ds, ZSTD_d_windowLogMax,
	                                        window_log_for(limit)))) {
		rc = -ENOMEM;
		goto out;
	}
	for (;;) {
		rc = outbuf_make_room(ob);
		if (rc < 0)
			goto out;
		ZSTD_outBuffer outb = { ob->data + ob->len, ob->cap - ob->len, 0 };
		size_t zrc = ZSTD_decompressStream(ds, &outb, &in);
		if (ZSTD_isError(zrc)) {
			ZSTD_ErrorCode code = ZSTD_getErrorCode(zrc);
			if (code == ZSTD_error_frameParameter_windowTooLarge)
				rc = -EMSGSIZE;
			else if (code == ZSTD_error_memory_allocation)
				rc = -ENOMEM;
			else
				rc = -EBADMSG;
			goto out;
		}
		ob->len += outb.pos;
		if (in.pos == in.size) {
			if (zrc == 0) {
				rc = 0;     /* last frame complete */
				goto out;
			}
			if (outb.pos < outb.size) {
				rc = -EBADMSG;  /* truncated frame */
				goto out;
			}
		}
	}
out:
	if (!t || ds != t->zd)
		ZSTD_freeDStream(ds);
	return rc;
}

/* snappy-java's stream header: 0x82 "SNAPPY" 0, then int32 version and
 * int32 compatible-version.  A raw snappy block cannot begin with these 8
 * bytes (0x82 0x53 is the varint 10626, then 'N' = 0x4e is the tag of a
 * copy, which is invalid before any output), so the two framings never
 * overlap. */
static const uint8_t xerial_magic[8] = { 0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0 };

/* The next snappy block of a snappy section at *pos: a raw section is one
 * block (all of it), a xerial one is int32 length + block, repeated.  0 and
 * the block in *blk, *blk_len; 1 at the end; -EBADMSG when a length does
 * not fit what remains (or is negative, or 0: no snappy block is empty). */
static int snappy_next_block(const uint8_t *src, size_t src_len, bool xerial,
                             size_t *pos, const uint8_t **blk, size_t *blk_len)
{
	if (*pos == src_len)
		return 1;
	if (!xerial) {
		*blk = src + *pos;
		*blk_len = src_len - *pos;
		*pos = src_len;
		return 0;
	}
	if (src_len - *pos < 4)
		return -EBADMSG;    /* 1..3 stray bytes after the last block */
	uint32_t clen = be32_get(src + *pos);
	*pos += 4;
	if (clen == 0 || clen > src_len - *pos)
		return -EBADMSG;    /* also any clen >= 2^31 (negative int32) */
	*blk = src + *pos;
	*blk_len = clen;
	*pos += clen;
	return 0;
}

/* Snappy, raw or in snappy-java's framing (both seen from producers:
 * librdkafka writes a raw block, the Java client and kafka-python the
 * xerial stream of 32 KiB blocks).  Unlike the frame formats of lz4 and
 * zstd, every snappy block states its uncompressed size up front and is
 * decompressed in one call into a buffer at least that large, so the sizes
 * are read and checked first: the sum (overflow: -EMSGSIZE) against limit
 * (-EMSGSIZE), each block against SNAPPY_MAX_RATIO times its length
 * (-EBADMSG: no such block can be valid, so nothing is allocated for a
 * lie), the sum against min_len (-EBADMSG: fewer bytes than the declared
 * records need).  Then one buffer of exactly the sum is allocated and
 * libsnappy checks each block as it decompresses (-EBADMSG). */
static int decompress_snappy(const uint8_t *src, size_t src_len, size_t limit,
                             size_t min_len, struct outbuf *ob)
{
	const uint8_t *blk;
	size_t blk_len, pos = 0, total = 0;
	bool xerial = false, impossible = false;
	int rc;

	if (src_len >= sizeof(xerial_magic) &&
	    memcmp(src, xerial_magic, sizeof(xerial_magic)) == 0) {
		/* version and compatible-version are not checked: every
		 * writer uses 1 and the blocks are the same whatever they
		 * say (as librdkafka and kafka-python read them) */
		if (src_len < XERIAL_HEADER_SIZE)
			return -EBADMSG;
		xerial = true;
		pos = XERIAL_HEADER_SIZE;
	} else if (src_len == 0) {
		return -EBADMSG;
	}

	/* pass 1: sizes only */
	while ((rc = snappy_next_block(src, src_len, xerial, &pos, &blk,
	                               &blk_len)) == 0) {
		size_t ulen;
		if (snappy_uncompressed_length((const char *)blk, blk_len,
		                               &ulen) != SNAPPY_OK)
			return -EBADMSG;
		if (__builtin_add_overflow(total, ulen, &total))
			return -EMSGSIZE;
		if (ulen / SNAPPY_MAX_RATIO > blk_len)
			impossible = true;
	}
	if (rc < 0)
		return rc;
	if (total > limit)
		return -EMSGSIZE;
	if (impossible || total < min_len)
		return -EBADMSG;
	if (total == 0)
		return 0;

	/* pass 2: one buffer of exactly total bytes (the thread's spare if
	 * it is large enough) */
	if (!ob->data || malloc_usable_size(ob->data) < total) {
		free(ob->data);
		ob->data = malloc(total);
		if (!ob->data)
			return -ENOMEM;
	}
	ob->cap = total;
	ob->len = 0;
	pos = xerial ? XERIAL_HEADER_SIZE : 0;
	while ((rc = snappy_next_block(src, src_len, xerial, &pos, &blk,
	                               &blk_len)) == 0) {
		size_t room = total - ob->len;
		if (snappy_uncompress((const char *)blk, blk_len,
		                      (char *)ob->data + ob->len, &room) != SNAPPY_OK)
			return -EBADMSG;
		ob->len += room;
	}
	return rc < 0 ? rc : (ob->len == total ? 0 : -EBADMSG);
}

/* Decompress the records section into a new buffer of at most limit bytes.
 * min_len: the least the records need (RecordsCount * RECORD_MIN_SIZE),
 * checked before allocating by the codecs that know their size up front
 * (snappy); the caller checks it for all.  On success *out owns the buffer
 * (NULL, or the thread's spare, when the output is empty). */
static int decompress_records(int codec, const uint8_t *src, size_t src_len,
                              size_t limit, size_t min_len, uint8_t **out,
                              size_t *out_len)
{
	struct batch_tls *t = batch_tls();
	struct outbuf ob;
	int rc;

	outbuf_init(&ob, limit, src_len, t);
	switch (codec) {
	case CODEC_GZIP:
		rc = decompress_gzip(src, src_len, &ob);
		break;
	case CODEC_SNAPPY:
		rc = decompress_snappy(src, src_len, limit, min_len, &ob);
		break;
	case CODEC_LZ4:
		rc = decompress_lz4(src, src_len, &ob, t);
		break;
	case CODEC_ZSTD:
		rc = decompress_zstd(src, src_len, limit, &ob, t);
		break;
	default:
		rc = -ENOTSUP;
		break;
	}
	if (rc == 0 && ob.len > limit)
		rc = -EMSGSIZE;
	if (rc < 0) {
		free(ob.data);
		return rc;
	}
	*out = ob.data;
	*out_len = ob.len;
	return 0;
}

/* ============================== records ================================== */

/* Skip a length-prefixed field; len_out gets the length (-1 = null). */
static inline int read_field(struct cursor *c, bool nullable, const uint8_t **data,
                      int32_t *len_out)
{
	int32_t flen;
	int rc = read_varint(c, &flen);

	if (rc < 0)
		return rc;
	if (flen < -1 || (flen == -1 && !nullable))
		return -EBADMSG;
	if (flen == -1) {
		*data = NULL;
		*len_out = -1;
		return 0;
	}
	if ((size_t)flen > c->len - c->pos)
		return -EBADMSG;
	*data = c->p + c->pos;
	*len_out = flen;
	c->pos += (size_t)flen;
	return 0;
}

/* Parse the record at sec->pos into *r (offset and timestamp are left as
 * deltas in r->offset and r->timestamp for the caller to resolve). */
static inline int parse_record(struct cursor *sec, struct record *r)
{
	int32_t body_len;
	int rc = read_varint(sec, &body_len);

	if (rc < 0)
		return rc;
	if (body_len < RECORD_MIN_BODY ||
	    (size_t)body_len > sec->len - sec->pos)
		return -EBADMSG;

	struct cursor c = { sec->p + sec->pos, (size_t)body_len, 0 };
	int64_t ts_delta;
	int32_t offset_delta, header_count;

	c.pos++;    /* attributes: unused */
	if ((rc = read_varlong(&c, &ts_delta)) < 0 ||
	    (rc = read_varint(&c, &offset_delta)) < 0 ||
	    (rc = read_field(&c, true, &r->key, &r->key_len)) < 0 ||
	    (rc = read_field(&c, true, &r->value, &r->value_len)) < 0 ||
	    (rc = read_varint(&c, &header_count)) < 0)
		return rc;
	if (header_count < 0 ||
	    (size_t)header_count > (c.len - c.pos) / HEADER_MIN_SIZE)
		return -EBADMSG;

	size_t headers_start = c.pos;
	for (int32_t i = 0; i < header_count; i++) {
		const uint8_t *data;
		int32_t flen;
		if ((rc = read_field(&c, false, &data, &flen)) < 0 ||
		    (rc = read_field(&c, true, &data, &flen)) < 0)
			return rc;
	}
	if (c.pos != c.len)
		return -EBADMSG;    /* bytes left inside the record */

	r->offset = offset_delta;
	r->timestamp = ts_delta;
	r->header_count = header_count;
	r->headers = c.p + headers_start;
	r->headers_len = c.len - headers_start;
	sec->pos += (size_t)body_len;
	return 0;
}

/* An unsigned varint of at most 3 bytes at p: its length, or 0 (longer,
 * or not all there). */
static inline size_t uvarint3(const uint8_t *p, size_t avail, uint32_t *out)
{
	if (avail >= 1 && p[0] < 0x80) {
		*out = p[0];
		return 1;
	}
	if (avail >= 2 && p[1] < 0x80) {
		*out = (p[0] & 0x7fu) | (uint32_t)p[1] << 7;
		return 2;
	}
	if (avail >= 3 && p[2] < 0x80) {
		*out = (p[0] & 0x7fu) | (uint32_t)(p[1] & 0x7f) << 7 | (uint32_t)p[2] << 14;
		return 3;
	}
	return 0;
}

static inline int32_t unzigzag32(uint32_t u)
{
	return (int32_t)((u >> 1) ^ (0u - (u & 1)));
}

/* The record of a line as the mount writes it, read without the general
 * parser: Length, attributes, a 1-byte timestamp delta, an offset delta, a
 * null key, a non-null value and no headers, each varint at most 3 bytes.
 * 1 with the value and the bytes used; 0 for any other shape (parse_record
 * reads that one, and checks it).  What it accepts, parse_record accepts
 * the same way. */
static inline int line_record_fast(const uint8_t *q, size_t avail, size_t *used,
                                   const uint8_t **value, int32_t *vlen,
                                   int64_t *ts_delta, int32_t *off_delta)
{
	uint32_t u;
	size_t k = uvarint3(q, avail, &u), j, m;
	int32_t body = unzigzag32(u), v;

	if (!k || body < RECORD_MIN_BODY || (size_t)body > avail - k)
		return 0;
	const uint8_t *b = q + k;
	size_t blen = (size_t)body;
	if (b[1] >= 0x80)                       /* timestamp delta */
		return 0;
	*ts_delta = unzigzag32(b[1]);
	j = 2;
	if (!(m = uvarint3(b + j, blen - j, &u)))       /* offset delta */
		return 0;
	*off_delta = unzigzag32(u);
	j += m;
	if (j >= blen || b[j] != 1)             /* key: null */
		return 0;
	j++;
	if (!(m = uvarint3(b + j, blen - j, &u)))
		return 0;
	j += m;
	v = unzigzag32(u);
	if (v < 0 || (size_t)v >= blen - j)     /* the value, then the count */
		return 0;
	*value = b + j;
	j += (size_t)v;
	if (b[j] != 0 || j + 1 != blen)         /* no headers, nothing after */
		return 0;
	*vlen = v;
	*used = k + blen;
	return 1;
}

/* batch_internal.h.  Render the uncompressed batch b (len bytes, header h, CRC checked) from
 * rendered offset skip into dst (cap > 0 bytes), reading its records in
 * place.  The hint (*hpos a record's byte position in the records section,
 * *hidx its index, *hat its rendered offset; 0/0/0 is always valid) says
 * where to start parsing and is moved to the record holding the next byte
 * to render.  *n gets the bytes rendered; *rlen the batch's rendered
 * length once the walk passed its last record, else -1.  -EBADMSG when a
 * record is malformed or the records do not end where the batch does. */
int batch_render_raw(const uint8_t *b, size_t len, const struct batch_header *h,
                     int framing, int64_t skip, uint8_t *dst, size_t cap,
                     size_t *n, int64_t *rlen, size_t *hpos, size_t *hidx,
                     int64_t *hat)
{
	const uint8_t *sec = b + BATCH_HEADER_SIZE;
	size_t slen = len - BATCH_HEADER_SIZE, pos = *hpos, i = *hidx, out = 0;
	size_t count = h->records_count > 0 ? (size_t)h->records_count : 0;
	int64_t at = *hat, nl = framing == FRAMING_LINES ? 1 : 0;

	*rlen = -1;
	if ((int64_t)h->records_count != (int64_t)h->last_offset_delta + 1 ||
	    h->base_offset < 0)
		return -EBADMSG;        /* as batch_decode (not a control batch) */
	if (at > skip || i > count || pos > slen) {
		pos = 0;
		i = 0;
		at = 0;
	}
	while (i < count) {
		size_t rpos = pos, used;
		const uint8_t *v;
		int32_t vl, od;
		int64_t td, ts;
		if (line_record_fast(sec + pos, slen - pos, &used, &v, &vl, &td, &od)) {
			pos += used;
		} else {
			struct cursor c = { sec, slen, pos };
			struct record r;
			if (parse_record(&c, &r) < 0)
				return -EBADMSG;
			pos = c.pos;
			v = r.value;
			vl = r.value_len;
			td = r.timestamp;
			od = (int32_t)r.offset;
		}
		/* what batch_decode checks of each record too */
		if ((size_t)od != i || (!(h->attributes & BATCH_ATTR_LOG_APPEND_TIME) &&
		                        __builtin_add_overflow(h->base_timestamp, td, &ts)))
			return -EBADMSG;
		int64_t vlen = vl < 0 ? 0 : vl, rl = vlen + nl;
		if (at + rl > skip) {
			int64_t k = skip > at ? skip - at : 0;
			if (out == cap) {
				pos = rpos;     /* full: resume at this record */
				break;
			}
			if (k < vlen) {
				size_t m = (size_t)(vlen - k);
				if (m > cap - out)
					m = cap - out;
				memcpy(dst + out, v + k, m);
				out += m;
				k += (int64_t)m;
			}
			if (k == vlen && nl && out < cap) {
				dst[out++] = '\n';
				k++;
			}
			if (k < rl) {
				pos = rpos;     /* part of it rendered: resume here */
				break;
			}
			skip = at + rl;
		}
		at += rl;
		i++;
	}
	if (i == count) {
		if (pos != slen)
			return -EBADMSG;
		*rlen = at;
	}
	*hpos = pos;
	*hidx = i;
	*hat = at;
	*n = out;
	return 0;
}

int record_next_header(const struct record *r, size_t *pos,
                       const uint8_t **key, int32_t *key_len,
                       const uint8_t **val, int32_t *val_len)
{
	if (!r || !pos)
		return -EINVAL;
	if (*pos >= r->headers_len)
		return *pos == r->headers_len ? 0 : -EBADMSG;

	struct cursor c = { r->headers, r->headers_len, *pos };
	const uint8_t *k, *v;
	int32_t klen, vlen;
	int rc;

	if ((rc = read_field(&c, false, &k, &klen)) < 0 ||
	    (rc = read_field(&c, true, &v, &vlen)) < 0)
		return rc;
	*key = k;
	*key_len = klen;
	*val = v;
	*val_len = vlen;
	*pos = c.pos;
	return 1;
}

/* ============================== decode =================================== */

int batch_decode(const void *batch, size_t len, size_t max_bytes,
                 struct batch_decoded *out)
{
	const uint8_t *p = batch;
	struct batch_header h;
	uint8_t *buf = NULL;
	size_t buf_len = 0;
	struct record *recs = NULL;
	int rc;

	if (!batch || !out)
		return -EINVAL;
	rc = batch_parse_header(batch, len, &h);
	if (rc == -EAGAIN)
		return -EBADMSG;    /* the caller says this is the whole batch */
	if (rc < 0)
		return rc;
	size_t batch_len = (size_t)BATCH_LOG_OVERHEAD + (size_t)h.length;
	if (crc32c(0, p + OFF_ATTRIBUTES, batch_len - OFF_ATTRIBUTES) != h.crc)
		return -EBADMSG;

	int codec = h.attributes & BATCH_ATTR_CODEC_MASK;
	if (codec > CODEC_ZSTD)
		return -EBADMSG;

	bool control = (h.attributes & BATCH_ATTR_CONTROL) != 0;
	int64_t last_offset;
	if (h.base_offset < 0 || h.last_offset_delta < 0 ||
	    h.records_count < 0 ||
	    __builtin_add_overflow(h.base_offset, (int64_t)h.last_offset_delta,
	                           &last_offset))
		return -EBADMSG;
	if (control ? (int64_t)h.records_count > (int64_t)h.last_offset_delta + 1
	            : (int64_t)h.records_count != (int64_t)h.last_offset_delta + 1)
		return -EBADMSG;

	const uint8_t *section = p + BATCH_HEADER_SIZE;
	size_t section_len = batch_len - BATCH_HEADER_SIZE;
	if (codec == CODEC_NONE) {
		if (section_len > max_bytes)
			return -EMSGSIZE;
	} else {
		rc = decompress_records(codec, section, section_len, max_bytes,
		                        (size_t)h.records_count * RECORD_MIN_SIZE,
		                        &buf, &buf_len);
		if (rc < 0)
			return rc;
		section = buf;
		section_len = buf_len;
	}

	size_t count = (size_t)h.records_count;
	if (count > section_len / RECORD_MIN_SIZE) {
		rc = -EBADMSG;
		goto fail;
	}
	if (count > max_bytes / sizeof(struct record)) {
		rc = -EMSGSIZE;
		goto fail;
	}
	if (count > 0) {
		/* every field of every record is set by parse_record */
		struct batch_tls *t = batch_tls();
		if (t)
			recs = tls_take((void **)&t->recs_spare, count * sizeof(*recs));
		if (!recs && t && count <= SIZE_MAX / sizeof(*recs) / 2)
			/* headroom, so the next batch (a few records more)
			 * can reuse this array */
			recs = malloc((count + count / 4 + 16) * sizeof(*recs));
		if (!recs)
			recs = malloc(count * sizeof(*recs));
		if (!recs) {
			rc = -ENOMEM;
			goto fail;
		}
	}

	struct cursor sec = { section, section_len, 0 };
	int64_t prev_delta = -1;
	bool log_append_time = (h.attributes & BATCH_ATTR_LOG_APPEND_TIME) != 0;
	for (size_t i = 0; i < count; i++) {
		struct record *r = &recs[i];
		rc = parse_record(&sec, r);
		if (rc < 0)
			goto fail;
		int64_t delta = r->offset;
		if (delta <= prev_delta || delta > h.last_offset_delta ||
		    (!control && delta != (int64_t)i)) {
			rc = -EBADMSG;
			goto fail;
		}
		prev_delta = delta;
		r->offset = h.base_offset + delta;   /* <= last_offset: no overflow */
		if (log_append_time) {
			r->timestamp = h.max_timestamp;
		} else if (__builtin_add_overflow(h.base_timestamp, r->timestamp,
		                                  &r->timestamp)) {
			rc = -EBADMSG;
			goto fail;
		}
	}
	if (sec.pos != sec.len) {
		rc = -EBADMSG;      /* bytes after the last record */
		goto fail;
	}

	out->h = h;
	out->recs = recs;
	out->nrecs = count;
	out->buf = buf;
	out->buf_len = buf_len;
	return 0;

fail:
	free(recs);
	free(buf);
	return rc;
}

void batch_decoded_free(struct batch_decoded *b)
{
	struct batch_tls *t;

	if (!b)
		return;
	t = batch_tls();
	if (t) {
		tls_keep((void **)&t->recs_spare, b->recs);
		tls_keep((void **)&t->buf_spare, b->buf);
	} else {
		free(b->recs);
		free(b->buf);
	}
	b->recs = NULL;
	b->nrecs = 0;
	b->buf = NULL;
	b->buf_len = 0;
}

/* ============================== encode =================================== */

void batch_encode_params_init(struct batch_encode_params *p,
                              int64_t base_offset, int codec, int64_t now_ms)
{
	memset(p, 0, sizeof(*p));
	p->base_offset = base_offset;
	p->codec = codec;
	p->now_ms = now_ms;
	p->leader_epoch = 0;
	p->producer_id = -1;
	p->producer_epoch = -1;
	p->base_sequence = -1;
	p->headers = NULL;
	p->header_counts = NULL;
}

static inline int64_t rec_timestamp(const struct rec_in *r, int64_t now_ms)
{
	return r->timestamp < 0 ? now_ms : r->timestamp;
}

/* Size of a record's body (after its Length varint) into *size.  -EINVAL
 * for invalid lengths or pointers, -EMSGSIZE when it would not fit an
 * int32. */
static int record_body_size(const struct rec_in *r, int64_t ts_delta,
                            int32_t offset_delta,
                            const struct rec_header *hdrs,
                            int32_t header_count, int64_t *size_out)
{
	uint64_t size = 1;  /* attributes */

	if (r->key_len < -1 || r->value_len < -1 || header_count < 0 ||
	    (header_count > 0 && !hdrs))
		return -EINVAL;
	if ((r->key_len > 0 && !r->key) || (r->value_len > 0 && !r->value))
		return -EINVAL;
	size += varlong_size(ts_delta) + varlong_size(offset_delta);
	size += varlong_size(r->key_len) + (r->key_len > 0 ? (uint64_t)r->key_len : 0);
	size += varlong_size(r->value_len) + (r->value_len > 0 ? (uint64_t)r->value_len : 0);
	size += varlong_size(header_count);
	for (int32_t i = 0; i < header_count; i++) {
		const struct rec_header *hd = &hdrs[i];
		if (hd->key_len < 0 || hd->value_len < -1 ||
		    (hd->key_len > 0 && !hd->key) ||
		    (hd->value_len > 0 && !hd->value))
			return -EINVAL;
		size += varlong_size(hd->key_len) + (uint64_t)hd->key_len;
		size += varlong_size(hd->value_len) +
		        (hd->value_len > 0 ? (uint64_t)hd->value_len : 0);
		if (size > INT32_MAX)
			return -EMSGSIZE;
	}
	if (size > INT32_MAX)
		return -EMSGSIZE;
	*size_out = (int64_t)size;
	return 0;
}

/* The headers of record i: the params' arrays when given, else the
 * record's own. */
static inline void rec_headers(const struct rec_in *r, size_t i,
                               const struct batch_encode_params *p,
                               const struct rec_header **hdrs, int32_t *count)
{
	if (p->headers) {
		*count = p->header_counts ? p->header_counts[i] : 0;
		*hdrs = p->headers[i];
	} else {
		*count = r->header_count;
		*hdrs = r->headers;
	}
}

static uint8_t *put_bytes(uint8_t *dst, const void *src, int32_t len)
{
	dst = put_varlong(dst, len);
	if (len > 0) {
		memcpy(dst, src, (size_t)len);
		dst += len;
	}
	return dst;
}

/* Write the records (uncompressed) into dst, which has room for exactly
 * the size computed by records_size(). */
static void write_records(uint8_t *dst, const struct rec_in *recs, size_t n,
                          const struct batch_encode_params *p,
                          int64_t base_ts, const int64_t *body_sizes)
{
	for (size_t i = 0; i < n; i++) {
		const struct rec_in *r = &recs[i];
		const struct rec_header *hdrs;
		int32_t hcount;

		rec_headers(r, i, p, &hdrs, &hcount);
		dst = put_varlong(dst, body_sizes[i]);
		*dst++ = 0;     /* attributes */
		dst = put_varlong(dst, rec_timestamp(r, p->now_ms) - base_ts);
		dst = put_varlong(dst, (int64_t)i);
		dst = put_bytes(dst, r->key, r->key_len);
		dst = put_bytes(dst, r->value, r->value_len);
		dst = put_varlong(dst, hcount);
		for (int32_t k = 0; k < hcount; k++) {
			dst = put_bytes(dst, hdrs[k].key, hdrs[k].key_len);
			dst = put_bytes(dst, hdrs[k].value, hdrs[k].value_len);
		}
	}
}

/* Compress src into dst (capacity *dst_len); *dst_len gets the size. */
static int compress_lz4(const uint8_t *src, size_t src_len, uint8_t *dst,
                        size_t *dst_len)
{
	LZ4F_preferences_t prefs;

	memset(&prefs, 0, sizeof(prefs));
	prefs.frameInfo.blockSizeID = LZ4F_max64KB;
	prefs.frameInfo.blockMode = LZ4F_blockIndependent;
	prefs.frameInfo.contentChecksumFlag = LZ4F_noContentChecksum;
	prefs.frameInfo.blockChecksumFlag = LZ4F_noBlockChecksum;
	prefs.frameInfo.contentSize = 0;
	prefs.compressionLevel = 0;
	size_t n = LZ4F_compressFrame(dst, *dst_len, src, src_len, &prefs);
	if (LZ4F_isError(n))
		return -EIO;
	*dst_len = n;
	return 0;
}

static size_t lz4_bound(size_t src_len)
{
	LZ4F_preferences_t prefs;

	memset(&prefs, 0, sizeof(prefs));
	prefs.frameInfo.blockSizeID = LZ4F_max64KB;
	prefs.frameInfo.blockMode = LZ4F_blockIndependent;
	return LZ4F_compressFrameBound(src_len, &prefs);
}

/* snappy-java's framing of src_len bytes at most: the header, then per
 * XERIAL_BLOCK of input a length and a block of at most
 * snappy_max_compressed_length(XERIAL_BLOCK) bytes. */
static size_t snappy_bound(size_t src_len)
{
	size_t blocks = src_len / XERIAL_BLOCK + (src_len % XERIAL_BLOCK != 0);
	return XERIAL_HEADER_SIZE +
	       blocks * (4 + snappy_max_compressed_length(XERIAL_BLOCK));
}

/* Compress src into dst (capacity *dst_len, at least snappy_bound(src_len))
 * as snappy-java does: its header (version 1, compatible 1), then each
 * XERIAL_BLOCK of src as an int32 length and a raw snappy block. */
static int compress_snappy(const uint8_t *src, size_t src_len, uint8_t *dst,
                           size_t *dst_len)
{
	size_t out = XERIAL_HEADER_SIZE;

	if (*dst_len < snappy_bound(src_len))
		return -EIO;
	memcpy(dst, xerial_magic, sizeof(xerial_magic));
	be32_put(dst + 8, XERIAL_VERSION);
	be32_put(dst + 12, XERIAL_VERSION);
	for (size_t at = 0; at < src_len; at += XERIAL_BLOCK) {
		size_t n = src_len - at < XERIAL_BLOCK ? src_len - at : XERIAL_BLOCK;
		size_t clen = *dst_len - out - 4;
		if (snappy_compress((const char *)src + at, n,
		                    (char *)dst + out + 4, &clen) != SNAPPY_OK)
			return -EIO;
		be32_put(dst + out, (uint32_t)clen);
		out += 4 + clen;
	}
	*dst_len = out;
	return 0;
}

/* Make buf hold at least need bytes (growing by doubling). */
/* Room the records section needs for codec over records_len plain bytes,
 * or 0 when it cannot be encoded (zstd's bound overflows). */
static size_t section_bound(int codec, size_t records_len)
{
	size_t n;

	switch (codec) {
	case CODEC_NONE:
		return records_len;
	case CODEC_LZ4:
		return lz4_bound(records_len);
	case CODEC_SNAPPY:
		return snappy_bound(records_len);
	default:
		n = ZSTD_compressBound(records_len);
		return ZSTD_isError(n) ? 0 : n;
	}
}

/* Compress the records section plain (records_len bytes) with codec into
 * dst, which has section_bound() bytes; *dst_len gets the size. */
static int compress_section(struct batch_tls *t, int codec, const uint8_t *plain,
                            size_t records_len, uint8_t *dst, size_t *dst_len)
{
	size_t zn, cap = *dst_len;

	if (codec == CODEC_LZ4)
		return compress_lz4(plain, records_len, dst, dst_len);
	if (codec == CODEC_SNAPPY)
		return compress_snappy(plain, records_len, dst, dst_len);
	if (t && !t->zc)
		t->zc = ZSTD_createCCtx();
	if (t && t->zc)
		zn = ZSTD_compressCCtx(t->zc, dst, cap, plain, records_len, ZSTD_LEVEL);
	else
		zn = ZSTD_compress(dst, cap, plain, records_len, ZSTD_LEVEL);
	if (ZSTD_isError(zn))
		return ZSTD_getErrorCode(zn) == ZSTD_error_memory_allocation ?
		       -ENOMEM : -EIO;
	*dst_len = zn;
	return 0;
}

/* Fill in the header of the batch at batch (total bytes, records section
 * in place) and store its CRC.  -EMSGSIZE when Length would not fit. */
static int put_header(uint8_t *batch, size_t total,
                      const struct batch_encode_params *p, size_t n,
                      int64_t base_ts, int64_t max_ts)
{
	if (total - BATCH_LOG_OVERHEAD > INT32_MAX)
		return -EMSGSIZE;
	be64_put(batch + OFF_BASE_OFFSET, (uint64_t)p->base_offset);
	be32_put(batch + OFF_LENGTH, (uint32_t)(total - BATCH_LOG_OVERHEAD));
	be32_put(batch + OFF_LEADER_EPOCH, (uint32_t)p->leader_epoch);
	batch[OFF_MAGIC] = BATCH_MAGIC_V2;
	be16_put(batch + OFF_ATTRIBUTES, (uint16_t)p->codec);
	be32_put(batch + OFF_LAST_OFFSET_DELTA, (uint32_t)(n - 1));
	be64_put(batch + OFF_BASE_TIMESTAMP, (uint64_t)base_ts);
	be64_put(batch + OFF_MAX_TIMESTAMP, (uint64_t)max_ts);
	be64_put(batch + OFF_PRODUCER_ID, (uint64_t)p->producer_id);
	be16_put(batch + OFF_PRODUCER_EPOCH, (uint16_t)p->producer_epoch);
	be32_put(batch + OFF_BASE_SEQUENCE, (uint32_t)p->base_sequence);
	be32_put(batch + OFF_RECORDS_COUNT, (uint32_t)n);
	batch_store_crc(batch, total);
	return 0;
}

static int encode_reserve(uint8_t **buf, size_t *cap, size_t need)
{
	if (need <= *cap)
		return 0;
	size_t nc = *cap ? *cap : 4096;
	while (nc < need)
		nc = nc <= SIZE_MAX / 2 ? nc * 2 : need;
	uint8_t *nb = realloc(*buf, nc);
	if (!nb)
		return -ENOMEM;
	*buf = nb;
	*cap = nc;
	return 0;
}

int batch_encode_buf(const struct rec_in *recs, size_t n,
                     const struct batch_encode_params *p,
                     uint8_t **buf, size_t *cap, size_t at, size_t *out_len)
{
	struct batch_tls *t = batch_tls();
	int64_t *body_sizes = NULL;
	uint8_t *plain = NULL, *batch;
	int rc;

	if (!recs || !p || !buf || !cap || !out_len || n == 0 || n > INT32_MAX ||
	    p->base_offset < 0 || p->base_offset > INT64_MAX - (int64_t)(n - 1) ||
	    at > *cap)
		return -EINVAL;
	if (p->codec != CODEC_NONE && p->codec != CODEC_SNAPPY &&
	    p->codec != CODEC_LZ4 && p->codec != CODEC_ZSTD)
		return -ENOTSUP;

	if (t && t->sizes_cap >= n) {
		body_sizes = t->sizes;
	} else if (t && n * sizeof(*body_sizes) <= TLS_KEEP_BYTES) {
		int64_t *ns = realloc(t->sizes, n * sizeof(*ns));
		if (ns) {
			t->sizes = ns;
			t->sizes_cap = n;
			body_sizes = ns;
		}
	}
	if (!body_sizes)
		body_sizes = malloc(n * sizeof(*body_sizes));
	if (!body_sizes)
		return -ENOMEM;

	/* Pass 1: timestamps and sizes. */
	int64_t base_ts = rec_timestamp(&recs[0], p->now_ms);
	int64_t max_ts = base_ts;
	uint64_t records_len = 0;
	for (size_t i = 0; i < n; i++) {
		int64_t ts = rec_timestamp(&recs[i], p->now_ms), ts_delta;
		const struct rec_header *hdrs;
		int32_t hcount;
		rec_headers(&recs[i], i, p, &hdrs, &hcount);
		if (__builtin_sub_overflow(ts, base_ts, &ts_delta) ||
		    (p->headers && recs[i].header_count != 0)) {
			rc = -EINVAL;
			goto out;
		}
		if (ts > max_ts)
			max_ts = ts;
		int64_t body;
		rc = record_body_size(&recs[i], ts_delta, (int32_t)i, hdrs,
		                      hcount, &body);
		if (rc < 0)
			goto out;
		body_sizes[i] = body;
		records_len += uvarint_size(zigzag64(body)) + (uint64_t)body;
		if (records_len > INT32_MAX) {
			rc = -EMSGSIZE;
			goto out;
		}
	}

	/* Pass 2: the records, straight into the batch when uncompressed. */
	size_t section_cap;
	if (p->codec == CODEC_NONE) {
		section_cap = (size_t)records_len;
	} else {
		size_t need = records_len ? (size_t)records_len : 1;
		if (t && t->plain_cap >= need) {
			plain = t->plain;
		} else if (t && need <= TLS_KEEP_BYTES) {
			uint8_t *np = realloc(t->plain, need);
			if (np) {
				t->plain = np;
				t->plain_cap = need;
				plain = np;
			}
		}
		if (!plain)
			plain = malloc(need);
		if (!plain) {
			rc = -ENOMEM;
			goto out;
		}
		write_records(plain, recs, n, p, base_ts, body_sizes);
		section_cap = section_bound(p->codec, (size_t)records_len);
		if (section_cap == 0) {
			rc = -EMSGSIZE;
			goto out;
		}
	}
	rc = encode_reserve(buf, cap, at + BATCH_HEADER_SIZE + section_cap);
	if (rc < 0)
		goto out;
	batch = *buf + at;

	size_t section_len = section_cap;
	if (p->codec == CODEC_NONE) {
		write_records(batch + BATCH_HEADER_SIZE, recs, n, p, base_ts,
		              body_sizes);
	} else {
		rc = compress_section(t, p->codec, plain, (size_t)records_len,
		                      batch + BATCH_HEADER_SIZE, &section_len);
		if (rc < 0)
			goto out;
	}
	size_t total = BATCH_HEADER_SIZE + section_len;
	rc = put_header(batch, total, p, n, base_ts, max_ts);
	if (rc < 0)
		goto out;
	*out_len = total;
out:
	if (!t || plain != t->plain)
		free(plain);
	if (!t || body_sizes != t->sizes)
		free(body_sizes);
	return rc;
}

/* ============================ lines of text ============================== */

/* One record of a line: null key, the batch's timestamp, no headers; the
 * value is a then b.  dst has room for alen + blen + LINE_REC_MAX_OVERHEAD. */
#define LINE_REC_MAX_OVERHEAD 20
static inline uint8_t *put_line_record(uint8_t *dst, int32_t delta,
                                       const char *a, size_t alen,
                                       const char *b, size_t blen)
{
	int64_t len = (int64_t)(alen + blen);
	int64_t body = 1 + 1 + (int64_t)varlong_size(delta) + 1 +
	               (int64_t)varlong_size(len) + len + 1;

	dst = put_varlong(dst, body);
	*dst++ = 0;                 /* attributes */
	*dst++ = 0;                 /* timestamp delta: all records have now_ms */
	dst = put_varlong(dst, delta);
	*dst++ = 1;                 /* key length -1: null (zigzag) */
	dst = put_varlong(dst, len);
	if (alen) {
		memcpy(dst, a, alen);
		dst += alen;
	}
	memcpy(dst, b, blen);
	dst += blen;
	*dst++ = 0;                 /* header count */
	return dst;
}

int batch_encode_lines(const struct lines_in *in, int codec, size_t limit,
                       int framing, int64_t now_ms, struct buf *out,
                       struct unit_batch **batches, size_t *nbatches,
                       int64_t *nrecs)
{
	struct line_cursor c = { .in = in, .first = true };
	struct batch_tls *t = batch_tls();
	struct batch_encode_params bp;
	struct buf plain = { 0 };
	struct unit_batch *bl = NULL;
	size_t nb = 0, bcap = 0;
	int64_t total = 0;
	const char *a, *b;
	size_t alen, blen;
	int rc, more;

	if (codec != CODEC_NONE && codec != CODEC_SNAPPY && codec != CODEC_LZ4 &&
	    codec != CODEC_ZSTD)
		return -ENOTSUP;
	batch_encode_params_init(&bp, 0, codec, now_ms);
	if (codec != CODEC_NONE && t) {
		plain.data = t->plain;          /* borrowed, given back below */
		plain.cap = t->plain_cap;
		t->plain = NULL;
		t->plain_cap = 0;
	}
	out->len = 0;
	rc = line_next(&c, &a, &alen, &b, &blen);
	while (rc > 0) {
		size_t at = out->len, est = 0, records_len;
		int32_t n = 0;
		int64_t rendered = 0;
		struct buf *dst = codec == CODEC_NONE ? out : &plain;

		if ((rc = buf_reserve(out, BATCH_HEADER_SIZE)) < 0)
			goto out;
		out->len += BATCH_HEADER_SIZE;
		plain.len = 0;
		size_t sec0 = dst->len;
		do {
			size_t len = alen + blen;
			if (len > in->max_line || len > INT32_MAX - LINE_REC_MAX_OVERHEAD) {
				rc = -EMSGSIZE;
				goto out;
			}
			if (n > 0 && (est + len + 24 > limit || n >= INT32_MAX / 2))
				break;
			if (dst->cap - dst->len < len + LINE_REC_MAX_OVERHEAD &&
			    (rc = buf_reserve(dst, len + LINE_REC_MAX_OVERHEAD)) < 0)
				goto out;
			dst->len = (size_t)(put_line_record(dst->data + dst->len, n, a,
			                                    alen, b, blen) - dst->data);
			est += len + 24;
			rendered += (int64_t)len + (framing == FRAMING_LINES ? 1 : 0);
			n++;
			rc = line_next(&c, &a, &alen, &b, &blen);
		} while (rc > 0);
		if (rc < 0)
			goto out;
		more = rc;              /* 1: a record that did not fit is next */
		records_len = dst->len - sec0;
		if (records_len > INT32_MAX) {
			rc = -EMSGSIZE;
			goto out;
		}
		if (codec != CODEC_NONE) {
			size_t sl = section_bound(codec, records_len);
			if (sl == 0) {
				rc = -EMSGSIZE;
				goto out;
			}
			if ((rc = buf_reserve(out, sl)) < 0)
				goto out;
			rc = compress_section(t, codec, plain.data, records_len,
			                      out->data + out->len, &sl);
			if (rc < 0)
				goto out;
			out->len += sl;
		}
		rc = put_header(out->data + at, out->len - at, &bp, (size_t)n,
		                now_ms, now_ms);
		if (rc < 0)
			goto out;
		if (nb == bcap) {
			size_t nc = bcap ? bcap * 2 : 4;
			struct unit_batch *n2 = realloc(bl, nc * sizeof(*n2));
			if (!n2) {
				rc = -ENOMEM;
				goto out;
			}
			bl = n2;
			bcap = nc;
		}
		bl[nb++] = (struct unit_batch){
			.off = at, .len = out->len - at, .rel_base = total,
			.records = n, .max_ts = now_ms, .rendered = rendered,
		};
		total += n;
		rc = more;
	}
	if (rc == 0) {
		*batches = bl;
		*nbatches = nb;
		*nrecs = total;
		bl = NULL;
	}
out:
	free(bl);
	if (t && !t->plain && plain.cap <= TLS_KEEP_BYTES) {
		t->plain = plain.data;
		t->plain_cap = plain.cap;
	} else {
		buf_free(&plain);
	}
	return rc;
}

int batch_encode_ex(const struct rec_in *recs, size_t n,
                    const struct batch_encode_params *p,
                    uint8_t **out, size_t *out_len)
{
	uint8_t *batch = NULL;
	size_t cap = 0, total;
	int rc;

	if (!out || !out_len)
		return -EINVAL;
	rc = batch_encode_buf(recs, n, p, &batch, &cap, 0, &total);
	if (rc < 0) {
		free(batch);
		return rc;
	}
	if (total < cap) {
		uint8_t *shrunk = realloc(batch, total);
		if (shrunk)
			batch = shrunk;
	}
	*out = batch;
	*out_len = total;
	return 0;
}

int batch_encode(const struct rec_in *recs, size_t n, int64_t base_offset,
                 int codec, int64_t now_ms, uint8_t **out, size_t *out_len)
{
	struct batch_encode_params p;

	batch_encode_params_init(&p, base_offset, codec, now_ms);
	return batch_encode_ex(recs, n, &p, out, out_len);
}
