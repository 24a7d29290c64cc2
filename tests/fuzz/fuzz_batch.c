/*
 * fuzz_batch.c - libFuzzer target for the RecordBatch v2 decoder and the
 * decompressors behind it (docs/TESTING.md R11, R12).
 *
 * Each input is decoded three ways: as given, with the store's 64 MiB
 * bound (the bomb seeds expand to 128 MiB: refused); with Length and the
 * CRC fixed up to match the input (so mutations reach the record parser
 * and the lz4/zstd/gzip/snappy decoders instead of stopping at the CRC;
 * the snappy seeds cover both framings, a raw block and snappy-java's
 * xerial stream, and a block claiming 4 GiB), with a
 * 1 MiB bound so a mutated bomb costs little; and fixed up with a tiny
 * bound.  Every decoded record's headers are
 * iterated and the batch is rendered both ways, as the file view does.
 * Run with -malloc_limit_mb=256: the 64 MiB bound must cap every
 * allocation a batch can cause (a bomb is refused, not allocated).
 * Invariants are checked with abort(): a decoded batch has records_count
 * records with offsets base .. base + n - 1 (a control batch: increasing,
 * within base .. base + LastOffsetDelta).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "storage.h"
#include "engine.h"

#define FUZZ_MAX_DECOMP ((size_t)64 << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_decoded(const struct batch_decoded *d)
{
	if (!(d->h.attributes & BATCH_ATTR_CONTROL) &&
	    d->nrecs != (size_t)d->h.records_count)
		abort();
	for (size_t i = 0; i < d->nrecs; i++) {
		const struct record *r = &d->recs[i];
		size_t pos = 0;
		const uint8_t *k, *v;
		int32_t kl, vl;
		/* offsets base .. base + n - 1; a control batch's only increase
		 * within base .. base + LastOffsetDelta */
		bool control = (d->h.attributes & BATCH_ATTR_CONTROL) != 0;
		if (control ? (r->offset < d->h.base_offset ||
		               r->offset > d->h.base_offset + d->h.last_offset_delta ||
		               (i > 0 && r->offset <= d->recs[i - 1].offset))
		            : r->offset != d->h.base_offset + (int64_t)i)
			abort();
		if ((r->value_len < 0) != (r->value == NULL && r->value_len < 0))
			abort();
		while (record_next_header(r, &pos, &k, &kl, &v, &vl) == 1)
			;
	}
	for (int framing = FRAMING_LINES; framing <= FRAMING_WRITES; framing++) {
		int64_t n = render_len(d, framing);
		if (n < 0)
			abort();
		if (n <= (1 << 20)) {
			uint8_t *out = malloc((size_t)n + 1);
			if (!out)
				return;
			if ((int64_t)render_copy(d, framing, 0, out, (size_t)n) != n)
				abort();
			if (n > 3)
				render_copy(d, framing, n / 3, out, (size_t)(n / 2));
			free(out);
		}
	}
}

static void decode(const uint8_t *buf, size_t len, size_t bound)
{
	struct batch_header h;
	struct batch_decoded d;

	batch_parse_header(buf, len, &h);
	batch_check_crc(buf, len);
	if (batch_decode(buf, len, bound, &d) == 0) {
		check_decoded(&d);
		batch_decoded_free(&d);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	decode(data, size, FUZZ_MAX_DECOMP);
	if (size < BATCH_HEADER_SIZE || size > (16u << 20))
		return 0;
	uint8_t *fixed = malloc(size);
	if (!fixed)
		return 0;
	memcpy(fixed, data, size);
	be32_put(fixed + 8, (uint32_t)(size - BATCH_LOG_OVERHEAD));
	fixed[16] = BATCH_MAGIC_V2;
	be32_put(fixed + 17, crc32c(0, fixed + 21, size - 21));
	decode(fixed, size, 1 << 20);
	decode(fixed, size, 100);
	free(fixed);
	return 0;
}
