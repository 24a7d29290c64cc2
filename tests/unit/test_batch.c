/*
 * test_batch.c - unit tests of the RecordBatch v2 codec and CRC-32C
 * (storage/batch.c, storage/crc32c.c).
 *
 * The golden batches in $TOPICFS_TESTDATA/recordbatch/ (default: the
 * repository's tests/golden/recordbatch/) were written by kafka-python, an
 * independent implementation, through tests/golden/gen_golden.py;
 * manifest.tsv lists every batch (B lines) and record (R lines).  We decode
 * each one and compare field by field, re-encode the uncompressed ones and compare byte by byte,
 * then attack the decoder with truncations, byte flips (CRC recomputed so
 * the parser is reached), decompression bombs and absurd record counts.
 * Snappy gets its own section: both framings producers send (a raw block,
 * snappy-java's xerial stream), bombs that claim or really produce a huge
 * output, and its framing's own corruptions.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lz4frame.h>
#include <snappy-c.h>
#include <zstd.h>

#include "storage.h"
#include "batch_internal.h"
#include "tinytest.h"

#define MIB (1024u * 1024u)
#define MAX_BYTES_DEFAULT (64u * MIB)

/* ============================== helpers ================================== */

/* $TOPICFS_TESTDATA (CTest sets it), else tests/golden of the checkout
 * this file was compiled from (__FILE__ is .../tests/unit/test_batch.c). */
static const char *testdata_dir(void)
{
	static char fallback[4096];
	const char *dir = getenv("TOPICFS_TESTDATA");
	if (dir && *dir)
		return dir;
	if (!fallback[0]) {
		const char *src = __FILE__, *slash = strrchr(src, '/');
		if (slash)
			snprintf(fallback, sizeof(fallback), "%.*s/../golden",
			         (int)(slash - src), src);
		else
			snprintf(fallback, sizeof(fallback), "../golden");
	}
	return fallback;
}

static int read_whole(const char *path, uint8_t **out, size_t *out_len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;

	if (!f) {
		fprintf(stderr, "  cannot open %s\n", path);
		return -errno;
	}
	for (;;) {
		if (len == cap) {
			cap = cap ? cap * 2 : 65536;
			uint8_t *nb = realloc(buf, cap);
			if (!nb) {
				free(buf);
				fclose(f);
				return -ENOMEM;
			}
			buf = nb;
		}
		size_t n = fread(buf + len, 1, cap - len, f);
		if (n == 0)
			break;
		len += n;
	}
	fclose(f);
	*out = buf;
	*out_len = len;
	return 0;
}

static int read_golden(const char *name, uint8_t **out, size_t *out_len)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/recordbatch/%s", testdata_dir(), name);
	return read_whole(path, out, out_len);
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rng_next(void)
{
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1Dull;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Parse hex ("-" = null, "\"\"" = empty) into a new buffer. */
static int hex_field(const char *s, uint8_t **out, int32_t *len)
{
	if (strcmp(s, "-") == 0) {
		*out = NULL;
		*len = -1;
		return 0;
	}
	if (strcmp(s, "\"\"") == 0)
		s = "";
	size_t n = strlen(s);
	if (n % 2)
		return -EINVAL;
	uint8_t *buf = malloc(n / 2 + 1);
	if (!buf)
		return -ENOMEM;
	for (size_t i = 0; i < n / 2; i++) {
		unsigned v;
		if (sscanf(s + 2 * i, "%2x", &v) != 1) {
			free(buf);
			return -EINVAL;
		}
		buf[i] = (uint8_t)v;
	}
	*out = buf;
	*len = (int32_t)(n / 2);
	return 0;
}

/* ============================== manifest ================================= */

struct m_batch {
	char file[128];
	long long position, size, base_offset, last_offset_delta, codec, crc,
	          record_count, base_timestamp, max_timestamp, producer_id;
};

struct m_record {
	char file[128];
	long long offset, timestamp;
	uint8_t *key;
	int32_t key_len;
	uint8_t *value;
	int32_t value_len;
	int header_count;
};

static struct m_batch *m_batches;
static size_t m_nbatches;
static struct m_record *m_records;
static size_t m_nrecords;
static char m_corrupt[8][128];
static size_t m_ncorrupt;

static int load_manifest(void)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/recordbatch/manifest.tsv", testdata_dir());
	FILE *f = fopen(path, "r");
	if (!f) {
		int err = errno;
		fprintf(stderr, "  cannot open %s: %s\n  (the golden data is "
		        "tests/golden/recordbatch/ in the repository, made by "
		        "tests/golden/gen_golden.py; set TOPICFS_TESTDATA to the "
		        "directory holding recordbatch/)\n", path, strerror(err));
		return -err;
	}
	char *line = NULL;
	size_t cap = 0;
	int rc = 0;
	while (getline(&line, &cap, f) > 0) {
		line[strcspn(line, "\r\n")] = 0;
		if (line[0] == '#' || line[0] == 0)
			continue;
		char *fields[16] = { NULL };
		int nf = 0;
		for (char *save = NULL, *tok = strtok_r(line, "\t", &save);
		     tok && nf < 16; tok = strtok_r(NULL, "\t", &save))
			fields[nf++] = tok;
		if (nf == 0)
			continue;
		if (fields[0][0] == 'B' && nf == 12) {
			m_batches = realloc(m_batches, (m_nbatches + 1) * sizeof(*m_batches));
			struct m_batch *b = &m_batches[m_nbatches++];
			snprintf(b->file, sizeof(b->file), "%s", fields[1]);
			long long *v[] = { &b->position, &b->size, &b->base_offset,
				&b->last_offset_delta, &b->codec, &b->crc,
				&b->record_count, &b->base_timestamp,
				&b->max_timestamp, &b->producer_id };
			for (int i = 0; i < 10; i++)
				*v[i] = strtoll(fields[2 + i], NULL, 10);
		} else if (fields[0][0] == 'R' && nf == 7) {
			m_records = realloc(m_records, (m_nrecords + 1) * sizeof(*m_records));
			struct m_record *r = &m_records[m_nrecords++];
			snprintf(r->file, sizeof(r->file), "%s", fields[1]);
			r->offset = strtoll(fields[2], NULL, 10);
			r->timestamp = strtoll(fields[3], NULL, 10);
			if (hex_field(fields[4], &r->key, &r->key_len) < 0 ||
			    hex_field(fields[5], &r->value, &r->value_len) < 0)
				rc = -EINVAL;
			r->header_count = atoi(fields[6]);
		} else if (fields[0][0] == 'X' && nf >= 2 && m_ncorrupt < 8) {
			snprintf(m_corrupt[m_ncorrupt++], 128, "%s", fields[1]);
		} else {
			fprintf(stderr, "  bad manifest line: %s\n", fields[0]);
			rc = -EINVAL;
		}
	}
	free(line);
	fclose(f);
	return rc;
}

/* ============================== CRC-32C ================================== */

static void test_crc32c_vectors(void)
{
	uint8_t buf[32];

	CHECK_EQ_INT(crc32c(0, "123456789", 9), 0xE3069283u);
	CHECK_EQ_INT(crc32c_sw(0, "123456789", 9), 0xE3069283u);
	CHECK_EQ_INT(crc32c_hw(0, "123456789", 9), 0xE3069283u);
	CHECK_EQ_INT(crc32c(0, "", 0), 0);
	/* RFC 3720 appendix B.4 vectors */
	memset(buf, 0, sizeof(buf));
	CHECK_EQ_INT(crc32c(0, buf, 32), 0x8A9136AAu);
	memset(buf, 0xff, sizeof(buf));
	CHECK_EQ_INT(crc32c(0, buf, 32), 0x62A8AB43u);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)i;
	CHECK_EQ_INT(crc32c(0, buf, 32), 0x46DD794Eu);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)(31 - i);
	CHECK_EQ_INT(crc32c(0, buf, 32), 0x113FDB5Cu);
	/* continuation */
	CHECK_EQ_INT(crc32c(crc32c(0, "1234", 4), "56789", 5), 0xE3069283u);
	CHECK_EQ_INT(crc32c_sw(crc32c_sw(0, "12345", 5), "6789", 4), 0xE3069283u);
}

static void test_crc32c_hw_matches_sw(void)
{
	uint8_t *buf = malloc(300 + 16);
	REQUIRE(buf);
	fprintf(stderr, "  sse4.2 %s\n", crc32c_hw_available() ? "available" :
	        "NOT available: only the fallback is exercised");
	for (size_t i = 0; i < 316; i++)
		buf[i] = (uint8_t)rng_next();
	int mismatches = 0;
	for (size_t align = 0; align < 16; align++) {
		for (size_t len = 0; len <= 300; len++) {
			uint32_t seed = (uint32_t)rng_next();
			uint32_t sw = crc32c_sw(seed, buf + align, len);
			uint32_t hw = crc32c_hw(seed, buf + align, len);
			uint32_t any = crc32c(seed, buf + align, len);
			if (sw != hw || sw != any)
				mismatches++;
			/* split anywhere: continuation agrees */
			size_t cut = len ? (size_t)(rng_next() % len) : 0;
			uint32_t split = crc32c_hw(crc32c_sw(seed, buf + align, cut),
			                           buf + align + cut, len - cut);
			if (split != sw)
				mismatches++;
		}
	}
	CHECK_EQ_INT(mismatches, 0);
	/* a large buffer too */
	size_t big = 1 << 20;
	uint8_t *large = malloc(big + 3);
	REQUIRE(large);
	for (size_t i = 0; i < big + 3; i++)
		large[i] = (uint8_t)rng_next();
	CHECK_EQ_INT(crc32c_hw(0, large + 3, big), crc32c_sw(0, large + 3, big));
	free(large);
	free(buf);
}

/* ============================ golden data ================================ */

/* Compare decoded records of one batch against the manifest records of
 * file, starting at *next_rec (index into m_records among that file's). */
static size_t records_compared;

static void check_records(const struct batch_decoded *d, const char *file,
                          size_t *cursor)
{
	for (size_t i = 0; i < d->nrecs; i++) {
		while (*cursor < m_nrecords && strcmp(m_records[*cursor].file, file))
			(*cursor)++;
		REQUIRE(*cursor < m_nrecords);
		const struct m_record *m = &m_records[(*cursor)++];
		const struct record *r = &d->recs[i];
		CHECK_EQ_INT(r->offset, m->offset);
		CHECK_EQ_INT(r->timestamp, m->timestamp);
		CHECK_EQ_INT(r->key_len, m->key_len);
		CHECK_EQ_INT(r->value_len, m->value_len);
		if (m->key_len < 0)
			CHECK(r->key == NULL);
		else if (r->key_len == m->key_len)
			CHECK(memcmp(r->key, m->key, (size_t)m->key_len) == 0);
		if (m->value_len < 0)
			CHECK(r->value == NULL);
		else if (r->value_len == m->value_len)
			CHECK(m->value_len == 0 ||
			      memcmp(r->value, m->value, (size_t)m->value_len) == 0);
		CHECK_EQ_INT(r->header_count, m->header_count);
		records_compared++;
		/* the headers iterate to exactly header_count */
		size_t pos = 0;
		const uint8_t *hk, *hv;
		int32_t hkl, hvl;
		int n = 0, rc;
		while ((rc = record_next_header(r, &pos, &hk, &hkl, &hv, &hvl)) == 1)
			n++;
		CHECK_EQ_INT(rc, 0);
		CHECK_EQ_INT(n, m->header_count);
	}
}

static void check_header_fields(const struct batch_header *h,
                                const struct m_batch *m)
{
	CHECK_EQ_INT(h->base_offset, m->base_offset);
	CHECK_EQ_INT((long long)h->length + BATCH_LOG_OVERHEAD, m->size);
	CHECK_EQ_INT(h->magic, 2);
	CHECK_EQ_INT(h->last_offset_delta, m->last_offset_delta);
	CHECK_EQ_INT(h->attributes & BATCH_ATTR_CODEC_MASK, m->codec);
	CHECK_EQ_INT(h->crc, m->crc);
	CHECK_EQ_INT(h->records_count, m->record_count);
	CHECK_EQ_INT(h->base_timestamp, m->base_timestamp);
	CHECK_EQ_INT(h->max_timestamp, m->max_timestamp);
	CHECK_EQ_INT(h->producer_id, m->producer_id);
}

static void test_golden_decode(void)
{
	REQUIRE(m_nbatches >= 10);
	int files_seen = 0, snappy_seen = 0, gzip_seen = 0;
	for (size_t bi = 0; bi < m_nbatches; bi++) {
		const struct m_batch *m = &m_batches[bi];
		/* the first batch of a file resets the record cursor */
		if (bi > 0 && strcmp(m_batches[bi - 1].file, m->file) == 0)
			continue;
		files_seen++;
		uint8_t *data;
		size_t len;
		REQUIRE(read_golden(m->file, &data, &len) == 0);
		size_t cursor = 0, pos = 0, bj = bi;
		while (pos < len) {
			REQUIRE(bj < m_nbatches && !strcmp(m_batches[bj].file, m->file));
			const struct m_batch *mb = &m_batches[bj++];
			struct batch_header h;
			CHECK_EQ_INT(pos, mb->position);
			REQUIRE(batch_parse_header(data + pos, len - pos, &h) == 0);
			check_header_fields(&h, mb);
			size_t blen = BATCH_LOG_OVERHEAD + (size_t)h.length;
			CHECK_EQ_INT(batch_check_crc(data + pos, blen), 0);
			struct batch_decoded d;
			int rc = batch_decode(data + pos, blen, MAX_BYTES_DEFAULT, &d);
			CHECK_EQ_INT(rc, 0);
			if (rc == 0) {
				CHECK_EQ_INT(d.nrecs, mb->record_count);
				check_header_fields(&d.h, mb);
				check_records(&d, m->file, &cursor);
				batch_decoded_free(&d);
			}
			if (mb->codec == CODEC_GZIP)
				gzip_seen++;
			if (mb->codec == CODEC_SNAPPY)
				snappy_seen++;
			pos += blen;
		}
		CHECK_EQ_INT(pos, len);
		/* every batch of this file in the manifest was seen */
		CHECK(bj == m_nbatches || strcmp(m_batches[bj].file, m->file));
		free(data);
	}
	CHECK(files_seen >= 7);
	/* every R line was compared (the snappy batch's too) */
	CHECK_EQ_INT(records_compared, m_nrecords);
	fprintf(stderr, "  %zu batches, %zu records compared\n", m_nbatches,
	        records_compared);
	CHECK_EQ_INT(snappy_seen, 1);
	CHECK_EQ_INT(gzip_seen, 1);
}

static void test_golden_small_headers(void)
{
	uint8_t *data;
	size_t len;
	struct batch_decoded d;
	REQUIRE(read_golden("small-none.bin", &data, &len) == 0);
	REQUIRE(batch_decode(data, len, MAX_BYTES_DEFAULT, &d) == 0);
	REQUIRE(d.nrecs == 4);
	const struct record *r = &d.recs[1];
	size_t pos = 0;
	const uint8_t *k, *v;
	int32_t kl, vl;
	CHECK_EQ_INT(record_next_header(r, &pos, &k, &kl, &v, &vl), 1);
	CHECK(kl == 1 && memcmp(k, "h", 1) == 0 && vl == 1 && memcmp(v, "v", 1) == 0);
	CHECK_EQ_INT(record_next_header(r, &pos, &k, &kl, &v, &vl), 1);
	CHECK(kl == 5 && memcmp(k, "trace", 5) == 0 && vl == 3 &&
	      memcmp(v, "abc", 3) == 0);
	CHECK_EQ_INT(record_next_header(r, &pos, &k, &kl, &v, &vl), 0);
	/* null value, empty value, null key */
	CHECK(d.recs[3].value == NULL && d.recs[3].value_len == -1);
	CHECK(d.recs[2].value_len == 0 && d.recs[2].key_len == -1);
	CHECK(d.recs[0].key == NULL);
	/* codec none: no private buffer, records point into the batch */
	CHECK(d.buf == NULL);
	CHECK(d.recs[0].value >= data && d.recs[0].value < data + len);
	batch_decoded_free(&d);
	free(data);
}

static void test_golden_corrupt(void)
{
	REQUIRE(m_ncorrupt >= 1);
	for (size_t i = 0; i < m_ncorrupt; i++) {
		uint8_t *data;
		size_t len;
		struct batch_header h;
		struct batch_decoded d;
		memset(&d, 0x5a, sizeof(d));
		REQUIRE(read_golden(m_corrupt[i], &data, &len) == 0);
		CHECK_EQ_INT(batch_parse_header(data, len, &h), 0);
		CHECK_EQ_INT(batch_check_crc(data, len), -EBADMSG);
		CHECK_EQ_INT(batch_decode(data, len, MAX_BYTES_DEFAULT, &d), -EBADMSG);
		/* output untouched on error */
		CHECK(d.nrecs == 0x5a5a5a5a5a5a5a5aull);
		free(data);
	}
}

/* Re-encode a decoded uncompressed batch with the same fields; it must come
 * out byte for byte the same. */
static int reencode_same(const uint8_t *batch, size_t len)
{
	struct batch_decoded d;
	struct rec_in *in = NULL;
	struct rec_header **hdrs = NULL;
	int32_t *counts = NULL;
	uint8_t *out = NULL;
	size_t out_len = 0;
	int rc = batch_decode(batch, len, MAX_BYTES_DEFAULT, &d), same = 0;

	if (rc < 0)
		return rc;
	in = calloc(d.nrecs, sizeof(*in));
	hdrs = calloc(d.nrecs, sizeof(*hdrs));
	counts = calloc(d.nrecs, sizeof(*counts));
	if (!in || !hdrs || !counts) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < d.nrecs; i++) {
		const struct record *r = &d.recs[i];
		in[i].key = r->key;
		in[i].key_len = r->key_len;
		in[i].value = r->value;
		in[i].value_len = r->value_len;
		in[i].timestamp = r->timestamp;
		counts[i] = r->header_count;
		if (r->header_count > 0) {
			hdrs[i] = calloc((size_t)r->header_count, sizeof(**hdrs));
			size_t pos = 0;
			const uint8_t *k, *v;
			int32_t kl, vl;
			for (int32_t j = 0; j < r->header_count; j++) {
				if (record_next_header(r, &pos, &k, &kl, &v, &vl) != 1) {
					rc = -EBADMSG;
					goto out;
				}
				hdrs[i][j] = (struct rec_header){ k, kl, v, vl };
			}
		}
	}
	struct batch_encode_params p;
	batch_encode_params_init(&p, d.h.base_offset, CODEC_NONE, 0);
	p.leader_epoch = d.h.leader_epoch;
	p.producer_id = d.h.producer_id;
	p.producer_epoch = d.h.producer_epoch;
	p.base_sequence = d.h.base_sequence;
	p.headers = (const struct rec_header *const *)hdrs;
	p.header_counts = counts;
	rc = batch_encode_ex(in, d.nrecs, &p, &out, &out_len);
	if (rc < 0)
		goto out;
	same = out_len == len && memcmp(out, batch, len) == 0;
	if (!same)
		fprintf(stderr, "  re-encoded %zu bytes, original %zu\n", out_len, len);
	rc = same ? 0 : -EILSEQ;
out:
	for (size_t i = 0; hdrs && i < d.nrecs; i++)
		free(hdrs[i]);
	free(hdrs);
	free(counts);
	free(in);
	free(out);
	batch_decoded_free(&d);
	return rc;
}

static void test_golden_reencode_none(void)
{
	int done = 0;
	for (size_t bi = 0; bi < m_nbatches; bi++) {
		const struct m_batch *m = &m_batches[bi];
		if (m->codec != CODEC_NONE)
			continue;
		uint8_t *data;
		size_t len;
		REQUIRE(read_golden(m->file, &data, &len) == 0);
		REQUIRE((size_t)(m->position + m->size) <= len);
		int rc = reencode_same(data + m->position, (size_t)m->size);
		if (rc != 0)
			fprintf(stderr, "  %s @%lld: rc %d\n", m->file, m->position, rc);
		CHECK_EQ_INT(rc, 0);
		done++;
		free(data);
	}
	CHECK(done >= 4);
}

/* ============================ round trips ================================ */

static int compare_decoded(const struct batch_decoded *d,
                           const struct rec_in *in, size_t n,
                           int64_t base_offset, int64_t now_ms)
{
	if (d->nrecs != n || d->h.records_count != (int32_t)n)
		return -1;
	for (size_t i = 0; i < n; i++) {
		const struct record *r = &d->recs[i];
		int64_t ts = in[i].timestamp < 0 ? now_ms : in[i].timestamp;
		if (r->offset != base_offset + (int64_t)i || r->timestamp != ts)
			return -2;
		if (r->key_len != (in[i].key_len < 0 ? -1 : in[i].key_len) ||
		    r->value_len != (in[i].value_len < 0 ? -1 : in[i].value_len))
			return -3;
		if ((r->key_len < 0) != (r->key == NULL) ||
		    (r->value_len < 0) != (r->value == NULL))
			return -4;
		if (r->key_len > 0 && memcmp(r->key, in[i].key, (size_t)r->key_len))
			return -5;
		if (r->value_len > 0 &&
		    memcmp(r->value, in[i].value, (size_t)r->value_len))
			return -6;
		if (r->header_count != 0)
			return -7;
	}
	return 0;
}

static void roundtrip(int codec, const struct rec_in *in, size_t n,
                      int64_t base_offset, size_t max_bytes)
{
	uint8_t *enc = NULL;
	size_t enc_len = 0;
	struct batch_decoded d;
	const int64_t now_ms = 1763780000000;

	REQUIRE(batch_encode(in, n, base_offset, codec, now_ms, &enc, &enc_len) == 0);
	struct batch_header h;
	REQUIRE(batch_parse_header(enc, enc_len, &h) == 0);
	CHECK_EQ_INT((size_t)h.length + BATCH_LOG_OVERHEAD, enc_len);
	CHECK_EQ_INT(h.attributes, codec);
	CHECK_EQ_INT(h.base_offset, base_offset);
	CHECK_EQ_INT(h.last_offset_delta, (int32_t)n - 1);
	CHECK_EQ_INT(h.producer_id, -1);
	CHECK_EQ_INT(batch_check_crc(enc, enc_len), 0);
	int rc = batch_decode(enc, enc_len, max_bytes, &d);
	CHECK_EQ_INT(rc, 0);
	if (rc == 0) {
		CHECK_EQ_INT(compare_decoded(&d, in, n, base_offset, now_ms), 0);
		int64_t max_ts = INT64_MIN;
		for (size_t i = 0; i < n; i++)
			if (d.recs[i].timestamp > max_ts)
				max_ts = d.recs[i].timestamp;
		CHECK_EQ_INT(d.h.max_timestamp, max_ts);
		CHECK_EQ_INT(d.h.base_timestamp, d.recs[0].timestamp);
		batch_decoded_free(&d);
	}
	free(enc);
}

static void test_roundtrip_small(void)
{
	static const int codecs[] = { CODEC_NONE, CODEC_LZ4, CODEC_ZSTD,
	                              CODEC_SNAPPY };
	struct rec_in in[6] = {
		{ "k", 1, "hello", 5, 1000, NULL, 0 },
		{ NULL, -1, "", 0, 999, NULL, 0 },           /* empty value, earlier ts */
		{ NULL, -1, NULL, -1, -1, NULL, 0 },         /* null value, ts = now */
		{ "", 0, "x", 1, 5000, NULL, 0 },            /* empty key */
		{ "key", 3, NULL, -1, 0, NULL, 0 },          /* tombstone */
		{ NULL, -1, "\n\0\xff", 3, 1001, NULL, 0 },
	};
	for (size_t c = 0; c < 4; c++) {
		roundtrip(codecs[c], in, 6, 0, MAX_BYTES_DEFAULT);
		roundtrip(codecs[c], in, 1, 123456789012345, MAX_BYTES_DEFAULT);
		roundtrip(codecs[c], in + 2, 1, 7, MAX_BYTES_DEFAULT);
	}
}

static void test_roundtrip_large(void)
{
	static const int codecs[] = { CODEC_NONE, CODEC_LZ4, CODEC_ZSTD,
	                              CODEC_SNAPPY };
	size_t big_len = MIB;
	uint8_t *big = malloc(big_len);
	REQUIRE(big);
	for (size_t i = 0; i < big_len; i++)   /* compressible but not trivial */
		big[i] = (uint8_t)((rng_next() % 16) + 'a');
	struct rec_in in[3] = {
		{ NULL, -1, big, (int32_t)big_len, 1, NULL, 0 },
		{ "k", 1, big, (int32_t)big_len - 1, 2, NULL, 0 },
		{ NULL, -1, "", 0, 3, NULL, 0 },
	};
	for (size_t c = 0; c < 4; c++)
		roundtrip(codecs[c], in, 3, 42, MAX_BYTES_DEFAULT);

	/* 10000 records of ~100 bytes, some null / empty */
	size_t n = 10000;
	struct rec_in *many = calloc(n, sizeof(*many));
	char (*vals)[128] = calloc(n, 128);
	REQUIRE(many && vals);
	for (size_t i = 0; i < n; i++) {
		int len = snprintf(vals[i], 128,
		                   "2025-11-22T03:33:%02zu.000Z INFO svc order_id=%zu "
		                   "user=u%04zu amount=%zu.%02zu status=OK",
		                   i % 60, 100000 + i, i % 1000, i * 37 % 1000, i % 100);
		many[i].key = NULL;
		many[i].key_len = -1;
		many[i].value = vals[i];
		many[i].value_len = len;
		many[i].timestamp = 1763780000000 + (int64_t)i * 3;
		if (i % 97 == 5)
			many[i].value_len = 0;
		if (i % 101 == 7) {
			many[i].value = NULL;
			many[i].value_len = -1;
		}
	}
	for (size_t c = 0; c < 4; c++)
		roundtrip(codecs[c], many, n, 1000000, MAX_BYTES_DEFAULT);

	/* max_bytes boundary: exactly the decompressed size passes, one
	 * less is -EMSGSIZE, for every codec */
	for (size_t c = 0; c < 4; c++) {
		uint8_t *enc;
		size_t enc_len;
		struct batch_decoded d;
		REQUIRE(batch_encode(many, n, 0, codecs[c], 0, &enc, &enc_len) == 0);
		REQUIRE(batch_decode(enc, enc_len, SIZE_MAX, &d) == 0);
		size_t section = codecs[c] == CODEC_NONE ?
		                 enc_len - BATCH_HEADER_SIZE : d.buf_len;
		batch_decoded_free(&d);
		CHECK_EQ_INT(batch_decode(enc, enc_len, section, &d), 0);
		batch_decoded_free(&d);
		CHECK_EQ_INT(batch_decode(enc, enc_len, section - 1, &d), -EMSGSIZE);
		/* the record array is bounded too */
		CHECK_EQ_INT(batch_decode(enc, enc_len,
		             n * sizeof(struct record) - 1, &d), -EMSGSIZE);
		free(enc);
	}
	free(vals);
	free(many);
	free(big);
}

/* ========================= headers on write ============================== */

/* Check record r's headers against want[0..n) with record_next_header. */
static int headers_match(const struct record *r, const struct rec_header *want,
                         int32_t n)
{
	size_t pos = 0;
	const uint8_t *k, *v;
	int32_t kl, vl;

	if (r->header_count != n)
		return -1;
	for (int32_t i = 0; i < n; i++) {
		if (record_next_header(r, &pos, &k, &kl, &v, &vl) != 1)
			return -2;
		if (kl != want[i].key_len || vl != want[i].value_len)
			return -3;
		if (kl > 0 && memcmp(k, want[i].key, (size_t)kl))
			return -4;
		if ((vl < 0) != (v == NULL))
			return -5;
		if (vl > 0 && memcmp(v, want[i].value, (size_t)vl))
			return -6;
	}
	if (record_next_header(r, &pos, &k, &kl, &v, &vl) != 0 ||
	    pos != r->headers_len)
		return -7;
	return 0;
}

/* Records with headers through every codec: batch_encode writes them,
 * batch_decode and record_next_header give them back; the bytes are the
 * same as batch_encode_params' header arrays write (the path the golden
 * re-encode test checks against kafka-python). */
static void test_headers_roundtrip(void)
{
	static const int codecs[] = { CODEC_NONE, CODEC_LZ4, CODEC_ZSTD,
	                              CODEC_SNAPPY };
	static char big[300];
	memset(big, 'h', sizeof(big));
	const struct rec_header h0[] = {
		{ "trace", 5, "abc", 3 },
		{ "nullv", 5, NULL, -1 },       /* null value */
		{ "", 0, "emptykey", 8 },       /* empty key */
		{ NULL, 0, "", 0 },             /* empty key, empty value */
		{ "bin\0\xff", 5, "\x00\x01\xfe", 3 },
		{ "trace", 5, "dup", 3 },       /* repeated names are kept */
		{ big, (int32_t)sizeof(big), big, (int32_t)sizeof(big) },
	};
	enum { MANY = 200 };
	struct rec_header many[MANY];
	char names[MANY][8];
	for (int i = 0; i < MANY; i++) {
		snprintf(names[i], sizeof(names[i]), "h%d", i);
		many[i] = (struct rec_header){ names[i], (int32_t)strlen(names[i]),
		                               i % 3 ? names[i] : NULL,
		                               i % 3 ? (int32_t)strlen(names[i]) : -1 };
	}
	struct rec_in in[5] = {
		{ .key = "k", .key_len = 1, .value = "v", .value_len = 1,
		  .timestamp = 1000, .headers = h0, .header_count = 7 },
		{ .key_len = -1, .value = "plain", .value_len = 5, .timestamp = 1001 },
		{ .key_len = -1, .value_len = -1, .timestamp = -1,
		  .headers = h0 + 1, .header_count = 1 },
		{ .key = "", .key_len = 0, .value = "", .value_len = 0,
		  .timestamp = 5, .headers = many, .header_count = MANY },
		{ .key = "z", .key_len = 1, .value = "w", .value_len = 1,
		  .timestamp = 7, .headers = NULL, .header_count = 0 },
	};
	const int64_t now_ms = 1763780000000;

	for (size_t c = 0; c < 4; c++) {
		uint8_t *enc = NULL, *enc2 = NULL;
		size_t len = 0, len2 = 0;
		struct batch_decoded d;
		REQUIRE(batch_encode(in, 5, 42, codecs[c], now_ms, &enc, &len) == 0);
		REQUIRE(batch_decode(enc, len, MAX_BYTES_DEFAULT, &d) == 0);
		CHECK_EQ_INT(d.nrecs, 5);
		for (size_t i = 0; i < d.nrecs && i < 5; i++) {
			const struct record *r = &d.recs[i];
			CHECK_EQ_INT(r->offset, 42 + (int64_t)i);
			CHECK_EQ_INT(r->key_len, in[i].key_len);
			CHECK_EQ_INT(r->value_len, in[i].value_len);
			CHECK_EQ_INT(r->timestamp, in[i].timestamp < 0 ? now_ms
			                                                : in[i].timestamp);
			int hm = headers_match(r, in[i].headers, in[i].header_count);
			if (hm)
				fprintf(stderr, "  codec %s record %zu: %d\n",
				        codec_name(codecs[c]), i, hm);
			CHECK_EQ_INT(hm, 0);
		}
		batch_decoded_free(&d);

		/* the same records with the headers beside them */
		struct rec_in plain[5];
		const struct rec_header *hp[5];
		int32_t hc[5];
		for (int i = 0; i < 5; i++) {
			plain[i] = in[i];
			plain[i].headers = NULL;
			plain[i].header_count = 0;
			hp[i] = in[i].headers;
			hc[i] = in[i].header_count;
		}
		struct batch_encode_params p;
		batch_encode_params_init(&p, 42, codecs[c], now_ms);
		p.headers = hp;
		p.header_counts = hc;
		REQUIRE(batch_encode_ex(plain, 5, &p, &enc2, &len2) == 0);
		/* the compressors are deterministic: same input, same bytes */
		CHECK(len2 == len && memcmp(enc, enc2, len) == 0);
		free(enc2);
		enc2 = NULL;
		/* one source only: headers in both places is refused */
		CHECK_EQ_INT(batch_encode_ex(in, 5, &p, &enc2, &len2), -EINVAL);
		free(enc);
	}

	/* the bytes of one record, by hand: {"h": "x"}, {"n": null}, {"": ""} */
	const struct rec_header h1[] = {
		{ "h", 1, "x", 1 }, { "n", 1, NULL, -1 }, { "", 0, "", 0 },
	};
	struct rec_in one = { .key_len = -1, .value = "v", .value_len = 1,
	                      .timestamp = 9, .headers = h1, .header_count = 3 };
	uint8_t *enc = NULL;
	size_t len = 0;
	REQUIRE(batch_encode(&one, 1, 0, CODEC_NONE, 0, &enc, &len) == 0);
	static const uint8_t rec[] = {
		0x20,                   /* Length 16 */
		0x00, 0x00, 0x00,       /* attributes, ts delta, offset delta */
		0x01,                   /* key null */
		0x02, 'v',              /* value "v" */
		0x06,                   /* 3 headers */
		0x02, 'h', 0x02, 'x',   /* "h": "x" */
		0x02, 'n', 0x01,        /* "n": null */
		0x00, 0x00,             /* "": "" */
	};
	CHECK_EQ_INT(len, BATCH_HEADER_SIZE + sizeof(rec));
	CHECK(len == BATCH_HEADER_SIZE + sizeof(rec) &&
	      memcmp(enc + BATCH_HEADER_SIZE, rec, sizeof(rec)) == 0);
	free(enc);
}

/* Invalid headers are refused before anything is written; zeroed fields
 * (designated initialisers, memset) mean no headers. */
static void test_headers_args(void)
{
	uint8_t *out = (uint8_t *)"untouched";
	size_t len = 77;
	const struct rec_header ok = { "k", 1, "v", 1 };
	const struct rec_header bad[] = {
		{ "k", -1, "v", 1 },            /* header keys are never null */
		{ "k", 1, "v", -2 },
		{ NULL, 1, "v", 1 },
		{ "k", 1, NULL, 1 },
	};
	struct rec_in r = { .key_len = -1, .value = "v", .value_len = 1,
	                    .timestamp = 5, .headers = &ok, .header_count = -1 };
	CHECK_EQ_INT(batch_encode(&r, 1, 0, CODEC_NONE, 0, &out, &len), -EINVAL);
	r.header_count = 1;
	r.headers = NULL;
	CHECK_EQ_INT(batch_encode(&r, 1, 0, CODEC_NONE, 0, &out, &len), -EINVAL);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r.headers = &bad[i];
		CHECK_EQ_INT(batch_encode(&r, 1, 0, CODEC_LZ4, 0, &out, &len), -EINVAL);
	}
	CHECK(strcmp((char *)out, "untouched") == 0 && len == 77);

	/* memset and a designated initialiser: no headers (headers is not
	 * read when the count is 0) */
	struct rec_in z;
	memset(&z, 0, sizeof(z));
	z.key_len = -1;
	z.value_len = -1;
	struct rec_in pos = { .key_len = -1, .value = "v", .value_len = 1,
	                      .timestamp = 5 };
	z.headers = (const struct rec_header *)(uintptr_t)1;   /* never read */
	struct rec_in both[2] = { z, pos };
	struct batch_decoded d;
	REQUIRE(batch_encode(both, 2, 0, CODEC_NONE, 0, &out, &len) == 0);
	REQUIRE(batch_decode(out, len, MAX_BYTES_DEFAULT, &d) == 0);
	CHECK_EQ_INT(d.recs[0].header_count, 0);
	CHECK_EQ_INT(d.recs[1].header_count, 0);
	CHECK_EQ_INT(d.recs[0].headers_len, 0);
	batch_decoded_free(&d);
	free(out);
}

static void test_encode_args(void)
{
	struct rec_in r = { NULL, -1, "v", 1, 5, NULL, 0 };
	uint8_t *out = (uint8_t *)"untouched";
	size_t len = 77;

	CHECK_EQ_INT(batch_encode(&r, 0, 0, CODEC_NONE, 0, &out, &len), -EINVAL);
	CHECK_EQ_INT(batch_encode(&r, 1, 0, CODEC_GZIP, 0, &out, &len), -ENOTSUP);
	CHECK_EQ_INT(batch_encode(&r, 1, 0, 5, 0, &out, &len), -ENOTSUP);
	CHECK_EQ_INT(batch_encode(&r, 1, -1, CODEC_NONE, 0, &out, &len), -EINVAL);
	struct rec_in bad = { NULL, -2, "v", 1, 5, NULL, 0 };
	CHECK_EQ_INT(batch_encode(&bad, 1, 0, CODEC_NONE, 0, &out, &len), -EINVAL);
	struct rec_in badptr = { NULL, 3, "v", 1, 5, NULL, 0 };
	CHECK_EQ_INT(batch_encode(&badptr, 1, 0, CODEC_NONE, 0, &out, &len), -EINVAL);
	CHECK(strcmp((char *)out, "untouched") == 0 && len == 77);

	/* batch_set_base_offset keeps the CRC valid */
	REQUIRE(batch_encode(&r, 1, 0, CODEC_NONE, 0, &out, &len) == 0);
	batch_set_base_offset(out, 987654321);
	struct batch_decoded d;
	REQUIRE(batch_decode(out, len, MAX_BYTES_DEFAULT, &d) == 0);
	CHECK_EQ_INT(d.recs[0].offset, 987654321);
	batch_decoded_free(&d);
	/* a negative base offset is refused on decode */
	batch_set_base_offset(out, -5);
	CHECK_EQ_INT(batch_decode(out, len, MAX_BYTES_DEFAULT, &d), -EBADMSG);
	/* trailing bytes after the batch are not part of it */
	batch_set_base_offset(out, 0);
	uint8_t *longer = calloc(1, len + 10);
	memcpy(longer, out, len);
	CHECK_EQ_INT(batch_decode(longer, len + 10, MAX_BYTES_DEFAULT, &d), 0);
	batch_decoded_free(&d);
	free(longer);
	free(out);
}

static void test_codec_names(void)
{
	CHECK(strcmp(codec_name(CODEC_NONE), "none") == 0);
	CHECK(strcmp(codec_name(CODEC_GZIP), "gzip") == 0);
	CHECK(strcmp(codec_name(CODEC_SNAPPY), "snappy") == 0);
	CHECK(strcmp(codec_name(CODEC_LZ4), "lz4") == 0);
	CHECK(strcmp(codec_name(CODEC_ZSTD), "zstd") == 0);
	CHECK(strcmp(codec_name(7), "unknown") == 0);
	CHECK(strcmp(codec_name(-1), "unknown") == 0);
	CHECK_EQ_INT(codec_from_name("zstd"), CODEC_ZSTD);
	CHECK_EQ_INT(codec_from_name("lz4"), CODEC_LZ4);
	CHECK_EQ_INT(codec_from_name("none"), CODEC_NONE);
	CHECK_EQ_INT(codec_from_name("gzip"), CODEC_GZIP);
	CHECK_EQ_INT(codec_from_name("snappy"), CODEC_SNAPPY);
	CHECK_EQ_INT(codec_from_name("brotli"), -EINVAL);
	CHECK_EQ_INT(codec_from_name(""), -EINVAL);
	CHECK_EQ_INT(codec_from_name(NULL), -EINVAL);
}

/* ============================ header rules =============================== */

static void test_parse_header_rules(void)
{
	uint8_t *data;
	size_t len;
	struct batch_header h;
	long long small_max_ts = -1;   /* small-none's MaxTimestamp */
	for (size_t i = 0; i < m_nbatches; i++)
		if (strcmp(m_batches[i].file, "small-none.bin") == 0)
			small_max_ts = m_batches[i].max_timestamp;
	REQUIRE(small_max_ts >= 0);
	REQUIRE(read_golden("small-none.bin", &data, &len) == 0);

	memset(&h, 0, sizeof(h));
	CHECK_EQ_INT(batch_parse_header(data, 11, &h), -EAGAIN);
	CHECK_EQ_INT(batch_parse_header(data, 12, &h), -EAGAIN);
	CHECK_EQ_INT(h.length, (int32_t)len - 12);
	CHECK_EQ_INT(batch_parse_header(data, 60, &h), -EAGAIN);
	CHECK_EQ_INT(batch_parse_header(data, len - 1, &h), -EAGAIN);
	CHECK_EQ_INT(batch_parse_header(data, len, &h), 0);

	uint8_t copy[256];
	memcpy(copy, data, len);
	copy[16] = 1;   /* magic */
	CHECK_EQ_INT(batch_parse_header(copy, len, &h), -EBADMSG);
	CHECK_EQ_INT(batch_parse_header(copy, 20, &h), -EBADMSG);
	memcpy(copy, data, len);
	put32(copy + 8, 48);    /* Length < 49 */
	CHECK_EQ_INT(batch_parse_header(copy, len, &h), -EBADMSG);
	put32(copy + 8, 0x80000000u);   /* negative */
	CHECK_EQ_INT(batch_parse_header(copy, len, &h), -EBADMSG);

	/* Records count vs last offset delta */
	struct batch_decoded d;
	memcpy(copy, data, len);
	put32(copy + 57, 3);
	batch_store_crc(copy, len);
	CHECK_EQ_INT(batch_decode(copy, len, MAX_BYTES_DEFAULT, &d), -EBADMSG);
	memcpy(copy, data, len);
	put32(copy + 23, 4);    /* last offset delta 4, count 4 */
	batch_store_crc(copy, len);
	CHECK_EQ_INT(batch_decode(copy, len, MAX_BYTES_DEFAULT, &d), -EBADMSG);
	/* ... which a control batch may have (gaps allowed there) */
	copy[22] |= BATCH_ATTR_CONTROL;
	batch_store_crc(copy, len);
	CHECK_EQ_INT(batch_decode(copy, len, MAX_BYTES_DEFAULT, &d), 0);
	batch_decoded_free(&d);

	/* unknown codecs 5..7 are corrupt */
	for (int codec = 1; codec <= 7; codec++) {
		memcpy(copy, data, len);
		copy[22] = (uint8_t)((copy[22] & ~7) | codec);
		batch_store_crc(copy, len);
		/* 1-4: plain records are not a valid compressed stream */
		CHECK_EQ_INT(batch_decode(copy, len, MAX_BYTES_DEFAULT, &d), -EBADMSG);
	}

	/* LogAppendTime: every record gets MaxTimestamp (from the manifest) */
	memcpy(copy, data, len);
	copy[22] |= BATCH_ATTR_LOG_APPEND_TIME;
	batch_store_crc(copy, len);
	REQUIRE(batch_decode(copy, len, MAX_BYTES_DEFAULT, &d) == 0);
	for (size_t i = 0; i < d.nrecs; i++)
		CHECK_EQ_INT(d.recs[i].timestamp, small_max_ts);
	batch_decoded_free(&d);

	/* offset deltas must be 0..n-1: make record 1's delta 0.  Record 0
	 * of small-none is 1+0x16/2 bytes... find it by its Length varint. */
	memcpy(copy, data, len);
	size_t r1 = 61 + 1 + (size_t)(copy[61] >> 1);  /* one-byte Length */
	/* r1: Length, attributes, ts delta (1 byte), offset delta */
	CHECK_EQ_INT(copy[r1 + 3], 2);  /* zigzag(1) */
	copy[r1 + 3] = 0;
	batch_store_crc(copy, len);
	CHECK_EQ_INT(batch_decode(copy, len, MAX_BYTES_DEFAULT, &d), -EBADMSG);
	copy[r1 + 3] = 4;   /* 2: a gap */
	batch_store_crc(copy, len);
	CHECK_EQ_INT(batch_decode(copy, len, MAX_BYTES_DEFAULT, &d), -EBADMSG);
	free(data);
}

/* ============================ hostile input ============================== */

static const char *const hostile_files[] = {
	"small-none.bin", "idempotent-none.bin", "lines50-none.bin",
	"lines50-lz4.bin", "lines50-zstd.bin", "lines50-gzip.bin",
	"lines50-snappy.bin",
};

static void test_every_truncation(void)
{
	for (size_t f = 0; f < sizeof(hostile_files) / sizeof(*hostile_files); f++) {
		uint8_t *data;
		size_t len;
		REQUIRE(read_golden(hostile_files[f], &data, &len) == 0);
		int accepted = 0;
		for (size_t cut = 0; cut < len; cut++) {
			/* exact-size copy so ASan catches any overread */
			uint8_t *copy = malloc(cut ? cut : 1);
			memcpy(copy, data, cut);
			struct batch_decoded d;
			if (batch_decode(copy, cut, MAX_BYTES_DEFAULT, &d) == 0) {
				accepted++;
				batch_decoded_free(&d);
			}
			/* Also with Length and CRC fixed up to the cut, so the
			 * record parser / decompressor sees the truncation. */
			if (cut >= BATCH_HEADER_SIZE) {
				put32(copy + 8, (uint32_t)(cut - 12));
				batch_store_crc(copy, cut);
				if (batch_decode(copy, cut, MAX_BYTES_DEFAULT, &d) == 0) {
					accepted++;
					batch_decoded_free(&d);
				}
			}
			free(copy);
		}
		if (accepted)
			fprintf(stderr, "  %s: %d truncations accepted\n",
			        hostile_files[f], accepted);
		CHECK_EQ_INT(accepted, 0);
		free(data);
	}
}

static void test_random_flips(void)
{
	long accepted = 0, rejected = 0;
	for (size_t f = 0; f < sizeof(hostile_files) / sizeof(*hostile_files); f++) {
		uint8_t *data;
		size_t len;
		REQUIRE(read_golden(hostile_files[f], &data, &len) == 0);
		uint8_t *copy = malloc(len);
		for (int iter = 0; iter < 4000; iter++) {
			memcpy(copy, data, len);
			int flips = 1 + (int)(rng_next() % 4);
			for (int k = 0; k < flips; k++) {
				/* mostly after the CRC so the CRC fixup matters;
				 * sometimes anywhere */
				size_t at = rng_next() % 8 ? 21 + rng_next() % (len - 21)
				                           : rng_next() % len;
				copy[at] ^= (uint8_t)(1u << (rng_next() % 8));
			}
			if (rng_next() % 4)
				batch_store_crc(copy, len);
			struct batch_decoded d;
			int rc = batch_decode(copy, len, 4 * MIB, &d);
			if (rc == 0) {
				accepted++;
				/* invariants of anything accepted */
				CHECK(d.nrecs == (size_t)d.h.records_count);
				for (size_t i = 0; i < d.nrecs; i++) {
					const struct record *r = &d.recs[i];
					CHECK(r->key_len >= -1 && r->value_len >= -1);
					size_t pos = 0;
					const uint8_t *k, *v;
					int32_t kl, vl;
					int n = 0, hrc;
					while ((hrc = record_next_header(r, &pos, &k, &kl,
					                                 &v, &vl)) == 1)
						n++;
					CHECK(hrc == 0 && n == r->header_count);
				}
				batch_decoded_free(&d);
			} else {
				CHECK(rc == -EBADMSG || rc == -ENOTSUP ||
				      rc == -EMSGSIZE);
				rejected++;
			}
		}
		free(copy);
		free(data);
	}
	fprintf(stderr, "  flips: %ld accepted, %ld rejected\n", accepted, rejected);
}

/* Wrap a compressed records section into a batch claiming one record. */
static uint8_t *wrap_section(int codec, const uint8_t *section, size_t len,
                             int32_t count, size_t *out_len)
{
	uint8_t *b = calloc(1, BATCH_HEADER_SIZE + len);
	if (!b)
		return NULL;
	put32(b + 8, (uint32_t)(BATCH_HEADER_SIZE - 12 + len));
	b[16] = 2;
	b[22] = (uint8_t)codec;
	put32(b + 23, (uint32_t)(count - 1));
	put32(b + 57, (uint32_t)count);
	memset(b + 43, 0xff, 8 + 2 + 4);    /* producer id, epoch, sequence */
	memcpy(b + BATCH_HEADER_SIZE, section, len);
	batch_store_crc(b, BATCH_HEADER_SIZE + len);
	*out_len = BATCH_HEADER_SIZE + len;
	return b;
}

struct growbuf {
	uint8_t *data;
	size_t len, cap;
};

static int grow_append(struct growbuf *g, const void *p, size_t n)
{
	if (n == 0)
		return 0;
	if (g->len + n > g->cap) {
		size_t cap = g->cap ? g->cap : 65536;
		while (cap < g->len + n)
			cap *= 2;
		uint8_t *d = realloc(g->data, cap);
		if (!d)
			return -ENOMEM;
		g->data = d;
		g->cap = cap;
	}
	memcpy(g->data + g->len, p, n);
	g->len += n;
	return 0;
}

#define BOMB_CHUNK (64 * 1024)
#define BOMB_CHUNKS (16 * 1024)     /* 1 GiB of zeros */

static void test_bomb_zstd(void)
{
	static uint8_t zeros[BOMB_CHUNK];
	uint8_t out[BOMB_CHUNK];
	struct growbuf g = { 0 };
	ZSTD_CCtx *cctx = ZSTD_createCCtx();
	REQUIRE(cctx);
	ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, 1);
	/* declare the true size: the decoder must not believe it */
	ZSTD_CCtx_setPledgedSrcSize(cctx, (unsigned long long)BOMB_CHUNK * BOMB_CHUNKS);
	for (int i = 0; i <= BOMB_CHUNKS; i++) {
		int last = i == BOMB_CHUNKS;
		ZSTD_inBuffer in = { zeros, last ? 0 : BOMB_CHUNK, 0 };
		size_t remaining;
		do {
			ZSTD_outBuffer ob = { out, sizeof(out), 0 };
			remaining = ZSTD_compressStream2(cctx, &ob, &in,
			                                 last ? ZSTD_e_end : ZSTD_e_continue);
			REQUIRE(!ZSTD_isError(remaining));
			REQUIRE(grow_append(&g, out, ob.pos) == 0);
		} while (last ? remaining != 0 : in.pos < in.size);
	}
	ZSTD_freeCCtx(cctx);
	fprintf(stderr, "  zstd bomb: %zu bytes -> 1 GiB\n", g.len);
	size_t blen;
	uint8_t *b = wrap_section(CODEC_ZSTD, g.data, g.len, 1, &blen);
	REQUIRE(b);
	struct batch_decoded d;
	CHECK_EQ_INT(batch_decode(b, blen, MAX_BYTES_DEFAULT, &d), -EMSGSIZE);
	CHECK_EQ_INT(batch_decode(b, blen, 1 * MIB, &d), -EMSGSIZE);
	free(b);
	free(g.data);
}

static void test_bomb_lz4(void)
{
	static uint8_t zeros[BOMB_CHUNK];
	struct growbuf g = { 0 };
	LZ4F_cctx *cctx;
	LZ4F_preferences_t prefs;
	memset(&prefs, 0, sizeof(prefs));
	prefs.frameInfo.blockSizeID = LZ4F_max64KB;
	prefs.frameInfo.blockMode = LZ4F_blockIndependent;
	prefs.frameInfo.contentSize = (unsigned long long)BOMB_CHUNK * BOMB_CHUNKS;
	REQUIRE(!LZ4F_isError(LZ4F_createCompressionContext(&cctx, LZ4F_VERSION)));
	size_t cap = LZ4F_compressBound(BOMB_CHUNK, &prefs) + LZ4F_HEADER_SIZE_MAX;
	uint8_t *out = malloc(cap);
	REQUIRE(out);
	size_t n = LZ4F_compressBegin(cctx, out, cap, &prefs);
	REQUIRE(!LZ4F_isError(n));
	REQUIRE(grow_append(&g, out, n) == 0);
	for (int i = 0; i < BOMB_CHUNKS; i++) {
		n = LZ4F_compressUpdate(cctx, out, cap, zeros, BOMB_CHUNK, NULL);
		REQUIRE(!LZ4F_isError(n));
		REQUIRE(grow_append(&g, out, n) == 0);
	}
	n = LZ4F_compressEnd(cctx, out, cap, NULL);
	REQUIRE(!LZ4F_isError(n));
	REQUIRE(grow_append(&g, out, n) == 0);
	LZ4F_freeCompressionContext(cctx);
	free(out);
	fprintf(stderr, "  lz4 bomb: %zu bytes -> 1 GiB\n", g.len);
	size_t blen;
	uint8_t *b = wrap_section(CODEC_LZ4, g.data, g.len, 1, &blen);
	REQUIRE(b);
	struct batch_decoded d;
	CHECK_EQ_INT(batch_decode(b, blen, MAX_BYTES_DEFAULT, &d), -EMSGSIZE);
	CHECK_EQ_INT(batch_decode(b, blen, 1 * MIB, &d), -EMSGSIZE);
	free(b);
	free(g.data);
}

/* ================================ snappy ================================= */

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
    __has_feature(memory_sanitizer)
#define UNDER_SANITIZER 1
#endif
#endif

/* batch_decode in a child whose address space may grow by at most slack
 * bytes, so a decoder that allocated what a bomb claims would get -ENOMEM
 * (or die) instead of the error expected.  Under a sanitizer (whose
 * shadow memory makes RLIMIT_AS useless) it decodes in this process. */
static int decode_bounded(const uint8_t *b, size_t len, size_t max_bytes,
                          size_t slack)
{
	struct batch_decoded d;
#ifdef UNDER_SANITIZER
	(void)slack;
	int rc = batch_decode(b, len, max_bytes, &d);
	if (rc == 0)
		batch_decoded_free(&d);
	return rc;
#else
	unsigned long vm_pages = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (!f || fscanf(f, "%lu", &vm_pages) != 1) {
		if (f)
			fclose(f);
		return -EIO;
	}
	fclose(f);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0)
		return -EIO;
	if (pid == 0) {
		struct rlimit rl;
		rl.rlim_cur = rl.rlim_max =
			(rlim_t)vm_pages * (rlim_t)sysconf(_SC_PAGESIZE) + slack;
		if (setrlimit(RLIMIT_AS, &rl) != 0)
			_exit(255);
		int rc = batch_decode(b, len, max_bytes, &d);
		if (rc == 0)
			batch_decoded_free(&d);
		_exit(rc <= 0 && rc > -255 ? -rc : 254);
	}
	int status;
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -EIO;
	return -WEXITSTATUS(status);
#endif
}

static const uint8_t xerial_hdr[8] = { 0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0 };

/* A copy of batch (a golden batch's header) with its records section
 * replaced by section: Length and CRC fixed. */
static uint8_t *rewrap(const uint8_t *batch, const void *section, size_t len,
                       size_t *out_len)
{
	uint8_t *b = malloc(BATCH_HEADER_SIZE + len + 1);
	if (!b)
		return NULL;
	memcpy(b, batch, BATCH_HEADER_SIZE);
	if (len)
		memcpy(b + BATCH_HEADER_SIZE, section, len);
	put32(b + 8, (uint32_t)(BATCH_HEADER_SIZE - 12 + len));
	batch_store_crc(b, BATCH_HEADER_SIZE + len);
	*out_len = BATCH_HEADER_SIZE + len;
	return b;
}

/* plain as one raw snappy block (what librdkafka sends). */
static uint8_t *snappy_raw(const uint8_t *plain, size_t len, size_t *out_len)
{
	size_t cap = snappy_max_compressed_length(len);
	uint8_t *out = malloc(cap);
	if (!out || snappy_compress((const char *)plain, len, (char *)out,
	                            &cap) != SNAPPY_OK) {
		free(out);
		return NULL;
	}
	*out_len = cap;
	return out;
}

/* plain in snappy-java's framing with blocks of block bytes (what the Java
 * client and kafka-python send, with block 32 KiB). */
static uint8_t *snappy_xerial(const uint8_t *plain, size_t len, size_t block,
                              uint32_t version, uint32_t compat,
                              size_t *out_len)
{
	size_t nblocks = len / block + 1;
	size_t cap = 16 + nblocks * (4 + snappy_max_compressed_length(block));
	uint8_t *out = malloc(cap), *p;
	if (!out)
		return NULL;
	memcpy(out, xerial_hdr, 8);
	put32(out + 8, version);
	put32(out + 12, compat);
	p = out + 16;
	for (size_t at = 0; at < len; at += block) {
		size_t n = len - at < block ? len - at : block;
		size_t clen = cap - (size_t)(p - out) - 4;
		if (snappy_compress((const char *)plain + at, n, (char *)p + 4,
		                    &clen) != SNAPPY_OK) {
			free(out);
			return NULL;
		}
		put32(p, (uint32_t)clen);
		p += 4 + clen;
	}
	*out_len = (size_t)(p - out);
	return out;
}

/* The golden snappy batch and its records section, uncompressed. */
struct snappy_golden {
	uint8_t *batch;
	size_t len;
	uint8_t *plain;
	size_t plain_len;
	struct batch_decoded d;
};

static int snappy_golden_load(struct snappy_golden *g)
{
	memset(g, 0, sizeof(*g));
	if (read_golden("lines50-snappy.bin", &g->batch, &g->len) < 0)
		return -1;
	if (batch_decode(g->batch, g->len, MAX_BYTES_DEFAULT, &g->d) < 0 ||
	    !g->d.buf) {
		free(g->batch);
		return -1;
	}
	g->plain = g->d.buf;
	g->plain_len = g->d.buf_len;
	return 0;
}

static void snappy_golden_free(struct snappy_golden *g)
{
	batch_decoded_free(&g->d);
	free(g->batch);
}

/* b decodes to the golden snappy batch's records. */
static void check_same_records(const uint8_t *b, size_t len,
                               const struct snappy_golden *g)
{
	struct batch_decoded d;
	int rc = batch_decode(b, len, MAX_BYTES_DEFAULT, &d);
	CHECK_EQ_INT(rc, 0);
	if (rc < 0)
		return;
	CHECK_EQ_INT(d.nrecs, g->d.nrecs);
	CHECK_EQ_INT(d.buf_len, g->plain_len);
	for (size_t i = 0; i < d.nrecs && i < g->d.nrecs; i++) {
		const struct record *a = &d.recs[i], *e = &g->d.recs[i];
		CHECK_EQ_INT(a->offset, e->offset);
		CHECK_EQ_INT(a->timestamp, e->timestamp);
		CHECK_EQ_INT(a->value_len, e->value_len);
		CHECK(a->value_len <= 0 ||
		      memcmp(a->value, e->value, (size_t)a->value_len) == 0);
	}
	batch_decoded_free(&d);
}

/* Both framings, any block size, any version fields; and the framing's own
 * corruptions. */
static void test_snappy_framings(void)
{
	struct snappy_golden g;
	REQUIRE(snappy_golden_load(&g) == 0);
	/* kafka-python wrote the golden one in the xerial framing */
	CHECK(memcmp(g.batch + BATCH_HEADER_SIZE, xerial_hdr, 8) == 0);
	CHECK_EQ_INT(g.d.nrecs, 50);

	uint8_t *sec, *b;
	size_t sec_len, blen;
	/* a raw block, as librdkafka (kcat) sends */
	REQUIRE((sec = snappy_raw(g.plain, g.plain_len, &sec_len)) != NULL);
	REQUIRE((b = rewrap(g.batch, sec, sec_len, &blen)) != NULL);
	check_same_records(b, blen, &g);
	/* ... with a byte after it: libsnappy must use the block whole */
	struct batch_decoded d;
	uint8_t *longer = malloc(sec_len + 1);
	memcpy(longer, sec, sec_len);
	longer[sec_len] = 0;
	free(b);
	REQUIRE((b = rewrap(g.batch, longer, sec_len + 1, &blen)) != NULL);
	CHECK_EQ_INT(batch_decode(b, blen, MAX_BYTES_DEFAULT, &d), -EBADMSG);
	free(b);
	free(longer);
	free(sec);

	/* xerial with blocks of many sizes, and odd version fields */
	static const size_t blocks[] = { 1, 7, 100, 4096, 32 * 1024, 1 << 20 };
	for (size_t i = 0; i < sizeof(blocks) / sizeof(*blocks); i++) {
		REQUIRE((sec = snappy_xerial(g.plain, g.plain_len, blocks[i], 1, 1,
		                             &sec_len)) != NULL);
		REQUIRE((b = rewrap(g.batch, sec, sec_len, &blen)) != NULL);
		check_same_records(b, blen, &g);
		free(b);
		free(sec);
	}
	REQUIRE((sec = snappy_xerial(g.plain, g.plain_len, 1000, 2, 7,
	                             &sec_len)) != NULL);
	REQUIRE((b = rewrap(g.batch, sec, sec_len, &blen)) != NULL);
	check_same_records(b, blen, &g);
	free(b);

	/* corruptions of the framing (sec: 1000-byte blocks) */
	uint8_t *bad = malloc(sec_len + 8);
	REQUIRE(bad);
	/* header only, or a cut header: no records */
	for (size_t cut = 8; cut <= 16; cut++) {
		REQUIRE((b = rewrap(g.batch, sec, cut, &blen)) != NULL);
		CHECK_EQ_INT(batch_decode(b, blen, MAX_BYTES_DEFAULT, &d), -EBADMSG);
		free(b);
	}
	/* 1..3 stray bytes, or a zero length, after the last block */
	for (size_t extra = 1; extra <= 4; extra++) {
		memcpy(bad, sec, sec_len);
		memset(bad + sec_len, 0, extra);
		REQUIRE((b = rewrap(g.batch, bad, sec_len + extra, &blen)) != NULL);
		CHECK_EQ_INT(batch_decode(b, blen, MAX_BYTES_DEFAULT, &d), -EBADMSG);
		free(b);
	}
	/* a block length past the end, negative, one short, zero */
	static const uint32_t lens[] = { 0x7fffffffu, 0x80000000u, 0xffffffffu, 0 };
	for (size_t i = 0; i < sizeof(lens) / sizeof(*lens) + 2; i++) {
		memcpy(bad, sec, sec_len);
		uint32_t first = (uint32_t)bad[16] << 24 | (uint32_t)bad[17] << 16 |
		                 (uint32_t)bad[18] << 8 | bad[19];
		put32(bad + 16, i < 4 ? lens[i] : i == 4 ? first - 1 : first + 1);
		REQUIRE((b = rewrap(g.batch, bad, sec_len, &blen)) != NULL);
		CHECK_EQ_INT(batch_decode(b, blen, MAX_BYTES_DEFAULT, &d), -EBADMSG);
		free(b);
	}
	/* an empty section */
	REQUIRE((b = rewrap(g.batch, sec, 0, &blen)) != NULL);
	CHECK_EQ_INT(batch_decode(b, blen, MAX_BYTES_DEFAULT, &d), -EBADMSG);
	free(b);
	free(bad);
	free(sec);

	/* what batch_encode writes: snappy-java's framing, version 1/1,
	 * blocks of 32 KiB uncompressed but the last */
	uint8_t *big = malloc(MIB + 5);
	REQUIRE(big);
	for (size_t i = 0; i < MIB + 5; i++)
		big[i] = (uint8_t)((rng_next() % 16) + 'a');
	struct rec_in in = { NULL, -1, big, (int32_t)(MIB + 5), 1, NULL, 0 };
	uint8_t *enc;
	size_t enc_len;
	REQUIRE(batch_encode(&in, 1, 0, CODEC_SNAPPY, 0, &enc, &enc_len) == 0);
	const uint8_t *s = enc + BATCH_HEADER_SIZE;
	size_t slen = enc_len - BATCH_HEADER_SIZE, pos = 16, total = 0;
	int nblocks = 0, full = 0;
	CHECK(memcmp(s, xerial_hdr, 8) == 0);
	CHECK(s[11] == 1 && s[15] == 1);
	while (pos + 4 <= slen) {
		size_t clen = (size_t)s[pos] << 24 | (size_t)s[pos + 1] << 16 |
		              (size_t)s[pos + 2] << 8 | s[pos + 3], ulen = 0;
		pos += 4;
		REQUIRE(clen <= slen - pos);
		REQUIRE(snappy_uncompressed_length((const char *)s + pos, clen,
		                                   &ulen) == SNAPPY_OK);
		CHECK(ulen <= 32 * 1024);
		full += ulen == 32 * 1024;
		nblocks++;
		total += ulen;
		pos += clen;
	}
	CHECK_EQ_INT(pos, slen);
	CHECK_EQ_INT(nblocks, full + 1);
	CHECK(nblocks >= 32);
	REQUIRE(batch_decode(enc, enc_len, MAX_BYTES_DEFAULT, &d) == 0);
	CHECK_EQ_INT(d.buf_len, total);
	CHECK(d.nrecs == 1 && d.recs[0].value_len == (int32_t)(MIB + 5) &&
	      memcmp(d.recs[0].value, big, MIB + 5) == 0);
	batch_decoded_free(&d);
	free(enc);
	free(big);
	snappy_golden_free(&g);
}

/* Every truncation of a raw-block batch (the xerial golden one is in
 * hostile_files), with Length and CRC fixed up. */
static void test_snappy_truncations(void)
{
	struct snappy_golden g;
	REQUIRE(snappy_golden_load(&g) == 0);
	uint8_t *sec, *b;
	size_t sec_len, blen;
	int accepted = 0;
	REQUIRE((sec = snappy_raw(g.plain, g.plain_len, &sec_len)) != NULL);
	for (size_t cut = 0; cut < sec_len; cut++) {
		struct batch_decoded d;
		REQUIRE((b = rewrap(g.batch, sec, cut, &blen)) != NULL);
		if (batch_decode(b, blen, MAX_BYTES_DEFAULT, &d) == 0) {
			accepted++;
			batch_decoded_free(&d);
		}
		free(b);
	}
	CHECK_EQ_INT(accepted, 0);
	free(sec);
	snappy_golden_free(&g);
}

/* 24,000 random byte flips, half in the xerial golden batch, half in the
 * raw-block one, mostly inside the snappy data with the CRC fixed. */
static void test_snappy_flips(void)
{
	struct snappy_golden g;
	REQUIRE(snappy_golden_load(&g) == 0);
	uint8_t *raw, *inputs[2];
	size_t raw_len, lens[2];
	REQUIRE((raw = snappy_raw(g.plain, g.plain_len, &raw_len)) != NULL);
	inputs[0] = g.batch;
	lens[0] = g.len;
	REQUIRE((inputs[1] = rewrap(g.batch, raw, raw_len, &lens[1])) != NULL);
	long accepted = 0, rejected = 0;
	for (int iter = 0; iter < 24000; iter++) {
		const uint8_t *src = inputs[iter & 1];
		size_t len = lens[iter & 1];
		uint8_t *copy = malloc(len);    /* exact size for ASan */
		REQUIRE(copy);
		memcpy(copy, src, len);
		int flips = 1 + (int)(rng_next() % 4);
		for (int k = 0; k < flips; k++) {
			size_t at = rng_next() % 8 ?
			            BATCH_HEADER_SIZE + rng_next() % (len - BATCH_HEADER_SIZE) :
			            21 + rng_next() % (len - 21);
			copy[at] ^= (uint8_t)(1u << (rng_next() % 8));
		}
		batch_store_crc(copy, len);
		struct batch_decoded d;
		int rc = batch_decode(copy, len, 4 * MIB, &d);
		if (rc == 0) {
			accepted++;
			CHECK(d.nrecs == (size_t)d.h.records_count);
			for (size_t i = 0; i < d.nrecs; i++)
				CHECK(d.recs[i].key_len >= -1 && d.recs[i].value_len >= -1);
			batch_decoded_free(&d);
		} else {
			CHECK(rc == -EBADMSG || rc == -EMSGSIZE);
			rejected++;
		}
		free(copy);
	}
	fprintf(stderr, "  snappy flips: %ld accepted, %ld rejected\n",
	        accepted, rejected);
	free(inputs[1]);
	free(raw);
	snappy_golden_free(&g);
}

/* A raw snappy block at the format's best ratio (one literal byte, then
 * copies of 64 bytes at offset 1, 3 bytes each: 21.3x) holding one record
 * whose value is value_len zeros: a real bomb, and valid. */
static uint8_t *snappy_zero_record(size_t value_len, size_t *out_len)
{
	uint8_t rec[32];
	/* body: attributes, ts delta 0, offset delta 0, key null, value len,
	 * value, header count 0 */
	uint8_t hdr[16];
	size_t h = 0;
	hdr[h++] = 0;
	hdr[h++] = 0;
	hdr[h++] = 0;
	hdr[h++] = 1;                       /* zigzag(-1) */
	uint64_t z = (uint64_t)value_len << 1;
	while (z >= 0x80) {
		hdr[h++] = (uint8_t)(z | 0x80);
		z >>= 7;
	}
	hdr[h++] = (uint8_t)z;
	uint64_t body = h + value_len + 1;
	size_t r = 0;
	z = body << 1;
	while (z >= 0x80) {
		rec[r++] = (uint8_t)(z | 0x80);
		z >>= 7;
	}
	rec[r++] = (uint8_t)z;
	memcpy(rec + r, hdr, h);
	r += h;
	rec[r++] = 0;                       /* the value's first zero */
	size_t plain = r + (value_len - 1) + 1;    /* + copies + header count */
	size_t copies = (value_len - 1 + 63) / 64;
	size_t cap = 10 + 1 + r + copies * 3 + 2;
	uint8_t *out = malloc(cap), *o = out;
	if (!out)
		return NULL;
	z = plain;                          /* the block's varint length */
	while (z >= 0x80) {
		*o++ = (uint8_t)(z | 0x80);
		z >>= 7;
	}
	*o++ = (uint8_t)z;
	*o++ = (uint8_t)((r - 1) << 2);     /* literal of r bytes (r <= 60) */
	memcpy(o, rec, r);
	o += r;
	for (size_t left = value_len - 1; left > 0;) {
		size_t n = left < 64 ? left : 64;
		*o++ = (uint8_t)(((n - 1) << 2) | 2);   /* copy, 2-byte offset */
		*o++ = 1;
		*o++ = 0;
		left -= n;
	}
	*o++ = 0;                           /* literal of 1 byte: */
	*o++ = 0;                           /* header count 0 */
	*out_len = (size_t)(o - out);
	return out;
}

/* Bombs: what a block claims is checked before anything is allocated;
 * what a valid block really produces is bounded by max_bytes. */
static void test_bomb_snappy(void)
{
	struct snappy_golden g;
	REQUIRE(snappy_golden_load(&g) == 0);
	uint8_t *b;
	size_t blen;
	struct batch_decoded d;
	uint8_t hdr[BATCH_HEADER_SIZE];
	memcpy(hdr, g.batch, BATCH_HEADER_SIZE);
	put32(hdr + 23, 0);                 /* one record */
	put32(hdr + 57, 1);

	/* 1. xerial: 4096 blocks of 32 KiB of zeros = 128 MiB, each block
	 * valid, ~2 KiB each */
	static uint8_t zeros[32 * 1024];
	size_t zlen;
	uint8_t *zblk = snappy_raw(zeros, sizeof(zeros), &zlen);
	REQUIRE(zblk);
	size_t slen = 16 + 4096 * (4 + zlen);
	uint8_t *sec = malloc(slen);
	REQUIRE(sec);
	memcpy(sec, xerial_hdr, 8);
	put32(sec + 8, 1);
	put32(sec + 12, 1);
	for (size_t i = 0, at = 16; i < 4096; i++, at += 4 + zlen) {
		put32(sec + at, (uint32_t)zlen);
		memcpy(sec + at + 4, zblk, zlen);
	}
	REQUIRE((b = rewrap(hdr, sec, slen, &blen)) != NULL);
	fprintf(stderr, "  snappy xerial bomb: %zu bytes -> 128 MiB\n", slen);
	CHECK_EQ_INT(decode_bounded(b, blen, MAX_BYTES_DEFAULT, 32 * MIB), -EMSGSIZE);
	CHECK_EQ_INT(decode_bounded(b, blen, 1 * MIB, 32 * MIB), -EMSGSIZE);
	free(b);
	free(sec);
	free(zblk);

	/* 2. a raw block at the best ratio, 16 MiB: valid, refused under a
	 * 1 MiB bound, decoded under 64 MiB (SNAPPY_MAX_RATIO refuses no
	 * valid block) */
	size_t rlen;
	uint8_t *raw = snappy_zero_record(16 * MIB, &rlen);
	REQUIRE(raw);
	CHECK_EQ_INT(snappy_validate_compressed_buffer((const char *)raw, rlen),
	             SNAPPY_OK);
	REQUIRE((b = rewrap(hdr, raw, rlen, &blen)) != NULL);
	fprintf(stderr, "  snappy raw bomb: %zu bytes -> 16 MiB\n", rlen);
	CHECK_EQ_INT(decode_bounded(b, blen, 1 * MIB, 32 * MIB), -EMSGSIZE);
	int rc = batch_decode(b, blen, MAX_BYTES_DEFAULT, &d);
	CHECK_EQ_INT(rc, 0);
	if (rc == 0) {
		CHECK(d.nrecs == 1 && d.recs[0].value_len == (int32_t)(16 * MIB));
		CHECK(d.recs[0].value[0] == 0 &&
		      d.recs[0].value[16 * MIB - 1] == 0);
		batch_decoded_free(&d);
	}
	free(b);
	free(raw);

	/* 3. claims: a raw block of 13 bytes claiming 4 GiB - 1, xerial
	 * blocks claiming 1 GiB each: -EMSGSIZE over the bound, -EBADMSG
	 * without one (no block that short can be valid), and never an
	 * allocation of the claim */
	uint8_t claim[13] = { 0xff, 0xff, 0xff, 0xff, 0x0f, 0, 'x',
	                      0xfe, 1, 0, 0xfe, 1, 0 };
	REQUIRE((b = rewrap(hdr, claim, sizeof(claim), &blen)) != NULL);
	CHECK_EQ_INT(decode_bounded(b, blen, MAX_BYTES_DEFAULT, 32 * MIB), -EMSGSIZE);
	CHECK_EQ_INT(decode_bounded(b, blen, SIZE_MAX, 32 * MIB), -EBADMSG);
	free(b);
	uint8_t xs[16 + 100 * 13];
	memcpy(xs, xerial_hdr, 8);
	put32(xs + 8, 1);
	put32(xs + 12, 1);
	for (size_t i = 0; i < 100; i++) {
		uint8_t *p = xs + 16 + i * 13;
		put32(p, 9);
		memcpy(p + 4, (const uint8_t[]){ 0x80, 0x80, 0x80, 0x80, 0x04,
		                                 0, 'x', 0xfe, 1 }, 9);
	}
	REQUIRE((b = rewrap(hdr, xs, sizeof(xs), &blen)) != NULL);
	CHECK_EQ_INT(decode_bounded(b, blen, MAX_BYTES_DEFAULT, 32 * MIB), -EMSGSIZE);
	CHECK_EQ_INT(decode_bounded(b, blen, SIZE_MAX, 32 * MIB), -EBADMSG);
	free(b);

	/* 4. the declared records need more than the blocks claim: refused
	 * before allocating (50 records in a 10-byte output) */
	uint8_t small[12] = { 10, 36, 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h',
	                      'i', 'j' };
	REQUIRE((b = rewrap(g.batch, small, sizeof(small), &blen)) != NULL);
	CHECK_EQ_INT(batch_decode(b, blen, MAX_BYTES_DEFAULT, &d), -EBADMSG);
	free(b);
	snappy_golden_free(&g);
}

/* RecordsCount 2^31-1 with a tiny body: refused as corrupt before any
 * allocation sized by the count.  max_bytes is unlimited here, so only the
 * count-vs-bytes check stands between the decoder and a 128 GiB calloc. */
static void test_huge_count(void)
{
	struct rec_in r = { NULL, -1, "v", 1, 5, NULL, 0 };
	static const int codecs[] = { CODEC_NONE, CODEC_LZ4, CODEC_ZSTD,
	                              CODEC_SNAPPY };
	for (size_t c = 0; c < 4; c++) {
		uint8_t *enc;
		size_t len;
		struct batch_decoded d;
		REQUIRE(batch_encode(&r, 1, 0, codecs[c], 0, &enc, &len) == 0);
		put32(enc + 23, INT32_MAX - 1);     /* last offset delta */
		put32(enc + 57, INT32_MAX);         /* records count */
		batch_store_crc(enc, len);
		CHECK_EQ_INT(batch_decode(enc, len, SIZE_MAX, &d), -EBADMSG);
		/* and as a control batch */
		enc[22] |= BATCH_ATTR_CONTROL;
		batch_store_crc(enc, len);
		CHECK_EQ_INT(batch_decode(enc, len, SIZE_MAX, &d), -EBADMSG);
		/* a negative count */
		put32(enc + 57, 0xffffffffu);
		batch_store_crc(enc, len);
		CHECK_EQ_INT(batch_decode(enc, len, SIZE_MAX, &d), -EBADMSG);
		free(enc);
	}
}

/* Varint edge cases through a hand-built uncompressed record. */
static void test_varint_edges(void)
{
	struct rec_in r = { NULL, -1, "abc", 3, 5, NULL, 0 };
	uint8_t *enc;
	size_t len;
	struct batch_decoded d;
	REQUIRE(batch_encode(&r, 1, 0, CODEC_NONE, 0, &enc, &len) == 0);
	/* record: [len][attr][ts][off][keylen][vallen]abc[hc] */
	REQUIRE(enc[61] == 2 * 9);
	uint8_t *copy = malloc(len + 16);
	/* key length -2 */
	memcpy(copy, enc, len);
	copy[65] = 3;
	batch_store_crc(copy, len);
	CHECK_EQ_INT(batch_decode(copy, len, MAX_BYTES_DEFAULT, &d), -EBADMSG);
	/* value length larger than the record */
	memcpy(copy, enc, len);
	copy[66] = 8;
	batch_store_crc(copy, len);
	CHECK_EQ_INT(batch_decode(copy, len, MAX_BYTES_DEFAULT, &d), -EBADMSG);
	/* header count -1 */
	memcpy(copy, enc, len);
	copy[70] = 1;
	batch_store_crc(copy, len);
	CHECK_EQ_INT(batch_decode(copy, len, MAX_BYTES_DEFAULT, &d), -EBADMSG);
	/* an over-long varint (6 continuation bytes) as the record length */
	uint8_t hostile[61 + 12];
	memcpy(hostile, enc, 61);
	memset(hostile + 61, 0xff, 12);
	put32(hostile + 8, sizeof(hostile) - 12);
	batch_store_crc(hostile, sizeof(hostile));
	CHECK_EQ_INT(batch_decode(hostile, sizeof(hostile), MAX_BYTES_DEFAULT, &d),
	             -EBADMSG);
	/* a non-minimal but valid varint encoding of 9 (0x92 0x00): Kafka
	 * accepts it, so do we */
	memcpy(copy, enc, 61);
	copy[61] = 0x92;
	copy[62] = 0x00;
	memcpy(copy + 63, enc + 62, len - 62);
	put32(copy + 8, (uint32_t)(len + 1 - 12));
	batch_store_crc(copy, len + 1);
	CHECK_EQ_INT(batch_decode(copy, len + 1, MAX_BYTES_DEFAULT, &d), 0);
	batch_decoded_free(&d);
	/* trailing garbage after the last record */
	memcpy(copy, enc, len);
	copy[len] = 0;
	put32(copy + 8, (uint32_t)(len + 1 - 12));
	batch_store_crc(copy, len + 1);
	CHECK_EQ_INT(batch_decode(copy, len + 1, MAX_BYTES_DEFAULT, &d), -EBADMSG);
	free(copy);
	free(enc);
}

/* ============================ topicfs-dump =============================== */

static char dump_tool[4096];

static int run_dump(const char *args)
{
	char cmd[8192];
	/* TEST_BATCH_VERBOSE=1 shows the tool's output */
	const char *verbose = getenv("TEST_BATCH_VERBOSE");
	snprintf(cmd, sizeof(cmd), "%s %s %s", dump_tool, args,
	         verbose && *verbose == '1' ? "--quiet 1>&2" : ">/dev/null 2>&1");
	int st = system(cmd);
	return st == -1 || !WIFEXITED(st) ? -1 : WEXITSTATUS(st);
}

static int write_path(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		return -errno;
	size_t n = len ? fwrite(data, 1, len, f) : 0;
	int rc = fclose(f);
	return n == len && rc == 0 ? 0 : -EIO;
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

/* Build one segment of nbatches batches of 3 records each starting at
 * base, with indexes written the way the spec says; *stream is the stream
 * position of its first record (writes framing) and is advanced. */
static int build_segment(const char *dir, int64_t base, int nbatches,
                         int64_t *stream)
{
	struct growbuf log = { 0 }, idx = { 0 }, tidx = { 0 }, sidx = { 0 };
	char path[4300];
	int64_t offset = base, max_ts_seen = INT64_MIN;
	int rc = 0;

	for (int b = 0; b < nbatches; b++) {
		char vals[3][32];
		struct rec_in in[3];
		for (int i = 0; i < 3; i++) {
			int len = snprintf(vals[i], sizeof(vals[i]), "v%lld",
			                   (long long)(offset + i));
			in[i] = (struct rec_in){ NULL, -1, vals[i], len,
			                         1000 + offset + i, NULL, 0 };
		}
		if (b == 1) {   /* a null and an empty value */
			in[1].value = NULL;
			in[1].value_len = -1;
			in[2].value_len = 0;
		}
		if (b == 2)     /* timestamps going backwards: no time entry */
			for (int i = 0; i < 3; i++)
				in[i].timestamp = 10;
		uint8_t *enc;
		size_t enc_len;
		int codec = b % 3 == 0 ? CODEC_NONE : b % 3 == 1 ? CODEC_LZ4 : CODEC_ZSTD;
		if (batch_encode(in, 3, offset, codec, 0, &enc, &enc_len) < 0)
			return -1;
		uint8_t e[16];
		int64_t pos = (int64_t)log.len;
		put32(e, (uint32_t)(offset + 2 - base));
		put32(e + 4, (uint32_t)pos);
		rc |= grow_append(&idx, e, 8);
		int64_t max_ts = 0;
		for (int i = 0; i < 3; i++)
			if (in[i].timestamp > max_ts)
				max_ts = in[i].timestamp;
		if (max_ts > max_ts_seen) {
			put64(e, (uint64_t)max_ts);
			put32(e + 8, (uint32_t)(offset + 2 - base));
			rc |= grow_append(&tidx, e, 12);
			max_ts_seen = max_ts;
		}
		put64(e, (uint64_t)*stream);
		put32(e + 8, (uint32_t)(offset - base));
		put32(e + 12, (uint32_t)pos);
		rc |= grow_append(&sidx, e, 16);
		for (int i = 0; i < 3; i++)
			*stream += in[i].value_len > 0 ? in[i].value_len : 0;
		rc |= grow_append(&log, enc, enc_len);
		free(enc);
		offset += 3;
	}
	const struct { const char *ext; struct growbuf *g; } files[] = {
		{ "log", &log }, { "index", &idx }, { "timeindex", &tidx },
		{ "sindex", &sidx },
	};
	for (size_t i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s/%020lld.%s", dir, (long long)base,
		         files[i].ext);
		rc |= write_path(path, files[i].g->data, files[i].g->len);
		free(files[i].g->data);
	}
	return rc;
}

static void test_dump_tool(void)
{
	const char *tools = getenv("TOPICFS_TOOLS");
	if (!tools || !*tools)
		fprintf(stderr, "  TOPICFS_TOOLS is not set (CTest and dev.sh unit set it)\n");
	REQUIRE(tools && *tools);
	snprintf(dump_tool, sizeof(dump_tool), "%s/topicfs-dump", tools);
	if (access(dump_tool, X_OK) != 0)
		fprintf(stderr, "  %s is not built\n", dump_tool);
	REQUIRE(access(dump_tool, X_OK) == 0);
	char args[8192], tmp[] = "/tmp/test_batch.XXXXXX";
	REQUIRE(mkdtemp(tmp));
	char part[4200], path[4300], path2[4300];
	snprintf(part, sizeof(part), "%s/t.x-0", tmp);   /* topic "t.x" */
	REQUIRE(mkdir(part, 0755) == 0);
	snprintf(path, sizeof(path), "%s/t.x.topic", tmp);
	REQUIRE(write_path(path, "partitions=1\nframing=writes\ncodec=none\n", 39) == 0);
	int64_t stream = 0;
	REQUIRE(build_segment(part, 0, 4, &stream) == 0);
	REQUIRE(build_segment(part, 12, 3, &stream) == 0);

	const char *td = testdata_dir();
	snprintf(args, sizeof(args), "--verify %s/recordbatch/segment-00000000000000000000.log", td);
	CHECK_EQ_INT(run_dump(args), 0);
	snprintf(args, sizeof(args), "--records %s/recordbatch/small-none.bin", td);
	CHECK_EQ_INT(run_dump(args), 0);
	snprintf(args, sizeof(args), "--verify %s/recordbatch/small-none-corrupt.bin", td);
	CHECK_EQ_INT(run_dump(args), 1);
	CHECK_EQ_INT(run_dump("--version"), 0);
	CHECK_EQ_INT(run_dump("--help"), 0);
	CHECK_EQ_INT(run_dump(""), 2);
	CHECK_EQ_INT(run_dump("--bogus x"), 2);
	CHECK_EQ_INT(run_dump("--framing csv x"), 2);
	CHECK_EQ_INT(run_dump("/nonexistent/path"), 1);

	snprintf(args, sizeof(args), "--verify --records %s", part);
	CHECK_EQ_INT(run_dump(args), 0);
	/* lines framing does not match the stream positions written */
	snprintf(args, sizeof(args), "--verify --framing lines %s", part);
	CHECK_EQ_INT(run_dump(args), 1);
	snprintf(args, sizeof(args), "--verify %s", part);

	/* a stream position off by one */
	uint8_t *data;
	size_t len;
	snprintf(path, sizeof(path), "%s/%020d.sindex", part, 12);
	REQUIRE(read_whole(path, &data, &len) == 0);
	data[7]++;
	REQUIRE(write_path(path, data, len) == 0);
	CHECK_EQ_INT(run_dump(args), 1);
	data[7]--;
	REQUIRE(write_path(path, data, len) == 0);
	CHECK_EQ_INT(run_dump(args), 0);
	free(data);

	/* a preallocated (zero) tail in the offset index */
	snprintf(path, sizeof(path), "%s/%020d.index", part, 0);
	REQUIRE(read_whole(path, &data, &len) == 0);
	uint8_t *longer = calloc(1, len + 16);
	memcpy(longer, data, len);
	REQUIRE(write_path(path, longer, len + 16) == 0);
	CHECK_EQ_INT(run_dump(args), 1);
	/* an entry pointing inside a batch */
	memcpy(longer, data, len);
	longer[len - 1]++;
	REQUIRE(write_path(path, longer, len) == 0);
	CHECK_EQ_INT(run_dump(args), 1);
	/* an entry with the batch's base instead of its last offset */
	memcpy(longer, data, len);
	longer[len - 5] -= 2;
	REQUIRE(write_path(path, longer, len) == 0);
	CHECK_EQ_INT(run_dump(args), 1);
	REQUIRE(write_path(path, data, len) == 0);
	CHECK_EQ_INT(run_dump(args), 0);
	free(longer);
	free(data);

	/* a missing time index is a problem in a partition directory */
	snprintf(path, sizeof(path), "%s/%020d.timeindex", part, 12);
	snprintf(path2, sizeof(path2), "%s/saved", tmp);
	REQUIRE(rename(path, path2) == 0);
	CHECK_EQ_INT(run_dump(args), 1);
	REQUIRE(rename(path2, path) == 0);
	CHECK_EQ_INT(run_dump(args), 0);

	/* a flipped byte in a log */
	snprintf(path, sizeof(path), "%s/%020d.log", part, 12);
	REQUIRE(read_whole(path, &data, &len) == 0);
	data[len - 3] ^= 1;
	REQUIRE(write_path(path, data, len) == 0);
	CHECK_EQ_INT(run_dump(args), 1);
	data[len - 3] ^= 1;
	REQUIRE(write_path(path, data, len) == 0);
	free(data);

	/* a gap between segments: rename the second one to base 13 */
	static const char *const exts[] = { "log", "index", "timeindex", "sindex" };
	for (int i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s/%020d.%s", part, 12, exts[i]);
		snprintf(path2, sizeof(path2), "%s/%020d.%s", part, 13, exts[i]);
		REQUIRE(rename(path, path2) == 0);
	}
	CHECK_EQ_INT(run_dump(args), 1);
	for (int i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s/%020d.%s", part, 13, exts[i]);
		snprintf(path2, sizeof(path2), "%s/%020d.%s", part, 12, exts[i]);
		REQUIRE(rename(path, path2) == 0);
	}
	CHECK_EQ_INT(run_dump(args), 0);
	/* a lone segment file with its indexes beside it checks them */
	snprintf(args, sizeof(args), "--verify %s/%020d.log", part, 0);
	CHECK_EQ_INT(run_dump(args), 0);

	snprintf(args, sizeof(args), "rm -rf '%s'", tmp);
	CHECK_EQ_INT(system(args), 0);
}

/* The records a lines_in stands for, split here the slow, obvious way. */
static size_t ref_lines(const struct lines_in *in, char *joined,
                        struct rec_in *out, size_t cap)
{
	size_t n = 0, start = 0, tot = in->pre_len + in->len;

	if (in->pre_len)
		memcpy(joined, in->pre, in->pre_len);
	memcpy(joined + in->pre_len, in->data, in->len);
	for (size_t i = 0; i < tot; i++) {
		if (joined[i] != '\n')
			continue;
		CHECK(n < cap);
		if (n == cap)
			return n;
		out[n++] = (struct rec_in){ NULL, -1, joined + start,
		                            (int32_t)(i - start), -1, NULL, 0 };
		start = i + 1;
	}
	if (in->last_is_record && n < cap) {
		out[n++] = (struct rec_in){ NULL, -1, joined + start,
		                            (int32_t)(tot - start), -1, NULL, 0 };
	}
	return n;
}

/* batch_encode_lines (the mount's one-pass append) writes byte for byte
 * what batch_encode_buf writes for the same records split into the same
 * batches, for lines of many lengths (0..3 bytes, ~100, up to 5000), a
 * held partial, a last partial, every codec and small and large limits. */
static void test_encode_lines(void)
{
	static const int codecs[] = { CODEC_NONE, CODEC_LZ4, CODEC_ZSTD,
	                              CODEC_SNAPPY };
	size_t cap = 300000;
	char *data = malloc(cap), *pre = malloc(4096), *joined = malloc(cap + 4096);
	struct rec_in *ref = malloc(cap * sizeof(*ref));
	REQUIRE(data && pre && joined && ref);
	/* lengths where a record's varints change size (value length 64 and
	 * 8192, body ~58 and ~8186): the encoder copies a value where the
	 * last line's header size would put it, and moves it when wrong */
	static const size_t edges[] = { 0, 1, 15, 16, 17, 31, 32, 33, 55, 56, 57,
	                                58, 59, 63, 64, 65, 8183, 8184, 8185,
	                                8186, 8187, 8191, 8192, 8193, 20000 };
	for (int round = 0; round < 160; round++) {
		struct lines_in in = { 0 };
		size_t len = 0, target = (size_t)(rng_next() % (round < 60 ? 2000 : cap - 400));
		int shape = (int)(rng_next() % 5);
		while (len < target) {
			/* lengths 0..3 (many newlines per block), ~100, long,
			 * or the varint edges in random order */
			size_t l = shape == 0 ? rng_next() % 4 :
			           shape == 1 ? 60 + rng_next() % 80 :
			           shape == 2 ? rng_next() % 300 :
			           shape == 3 ? rng_next() % 5000 :
			           edges[rng_next() % (sizeof edges / sizeof edges[0])];
			if (len + l + 1 > cap)
				break;
			for (size_t k = 0; k < l; k++)
				data[len + k] = (char)('a' + rng_next() % 26);
			len += l;
			data[len++] = '\n';
		}
		in.data = data;
		in.len = len;
		if (round % 3 == 1) {
			in.pre_len = rng_next() % 200;
			memset(pre, 'p', in.pre_len);
			in.pre = pre;
		}
		if (round % 4 == 2) {           /* a last piece that is a record */
			size_t l = rng_next() % 100;
			memset(data + len, 't', l);
			in.len += l;
			in.last_is_record = true;
		}
		in.max_line = 1 << 20;
		size_t nref = ref_lines(&in, joined, ref, cap);
		int codec = codecs[round % 4];
		size_t limit = round % 5 == 0 ? 1 + rng_next() % 700 : 1 << 20;
		struct buf out = { 0 };
		struct unit_batch *bl = NULL;
		size_t nb = 0, at = 0;
		int64_t nrecs = -1, now = 1700000000000 + round;
		CHECK_EQ_INT(batch_encode_lines(&in, codec, limit, FRAMING_LINES, now,
		                                &out, &bl, &nb, &nrecs), 0);
		CHECK_EQ_INT(nrecs, (int64_t)nref);
		for (size_t i = 0; i < nb; i++) {
			uint8_t *exp = NULL;
			size_t ecap = 0, elen = 0;
			struct batch_encode_params bp;
			int64_t rendered = 0;
			CHECK_EQ_INT(bl[i].rel_base, (int64_t)at);
			CHECK_EQ_INT(bl[i].off, (int64_t)(i ? bl[i - 1].off + bl[i - 1].len : 0));
			batch_encode_params_init(&bp, 0, codec, now);
			REQUIRE(batch_encode_buf(ref + at, (size_t)bl[i].records, &bp,
			                         &exp, &ecap, 0, &elen) == 0);
			CHECK(elen == bl[i].len && memcmp(exp, out.data + bl[i].off, elen) == 0);
			for (int32_t k = 0; k < bl[i].records; k++)
				rendered += ref[at + (size_t)k].value_len + 1;
			CHECK_EQ_INT(bl[i].rendered, rendered);
			CHECK_EQ_INT(bl[i].max_ts, now);
			/* the split: at least one record, and the next one did not fit */
			size_t est = 0;
			for (int32_t k = 0; k < bl[i].records; k++)
				est += (size_t)ref[at + (size_t)k].value_len + 24;
			CHECK(bl[i].records >= 1);
			CHECK(bl[i].records == 1 || est <= limit);
			if (i + 1 < nb)
				CHECK(est + (size_t)ref[at + (size_t)bl[i].records].value_len + 24 > limit);
			at += (size_t)bl[i].records;
			free(exp);
		}
		CHECK_EQ_INT(at, nref);
		CHECK_EQ_INT(nb ? bl[nb - 1].off + bl[nb - 1].len : 0, out.len);
		free(bl);
		buf_free(&out);
	}
	/* refusals: a record over max_line (the joined first one too), bytes
	 * after the last newline that are not a record; nothing returned */
	struct buf out = { 0 };
	struct unit_batch *bl = NULL;
	size_t nb = 0;
	int64_t nrecs = 0;
	struct lines_in in = { .data = "ab\ncdef\n", .len = 8, .max_line = 3 };
	CHECK_EQ_INT(batch_encode_lines(&in, CODEC_NONE, 1 << 20, FRAMING_LINES, 1,
	                                &out, &bl, &nb, &nrecs), -EMSGSIZE);
	CHECK(bl == NULL);
	in.max_line = 4;
	in.pre = "xx";
	in.pre_len = 2;
	CHECK_EQ_INT(batch_encode_lines(&in, CODEC_NONE, 1 << 20, FRAMING_LINES, 1,
	                                &out, &bl, &nb, &nrecs), 0);
	CHECK_EQ_INT(nrecs, 2);
	CHECK_EQ_INT(bl[0].rendered, 10);       /* "xxab\n" "cdef\n" */
	free(bl);
	bl = NULL;
	in.pre_len = 3;
	in.pre = "xxx";
	CHECK_EQ_INT(batch_encode_lines(&in, CODEC_NONE, 1 << 20, FRAMING_LINES, 1,
	                                &out, &bl, &nb, &nrecs), -EMSGSIZE);
	struct lines_in tail = { .data = "ab\ncd", .len = 5, .max_line = 9 };
	CHECK_EQ_INT(batch_encode_lines(&tail, CODEC_NONE, 1 << 20, FRAMING_LINES, 1,
	                                &out, &bl, &nb, &nrecs), -EINVAL);
	CHECK(bl == NULL);
	/* the same refusals with lines long enough for the one-pass copy:
	 * a line over max_line, found by the bounded scan, and an over-long
	 * tail that is not a record (-EINVAL, as before: the tail is judged
	 * first) */
	static const char longer[] = "0123456789\n0123456789012345678901234\nxy\n";
	struct lines_in l1 = { .data = longer, .len = sizeof longer - 1, .max_line = 20 };
	CHECK_EQ_INT(batch_encode_lines(&l1, CODEC_NONE, 1 << 20, FRAMING_LINES, 1,
	                                &out, &bl, &nb, &nrecs), -EMSGSIZE);
	CHECK(bl == NULL);
	l1.max_line = 25;
	CHECK_EQ_INT(batch_encode_lines(&l1, CODEC_NONE, 1 << 20, FRAMING_LINES, 1,
	                                &out, &bl, &nb, &nrecs), 0);
	CHECK_EQ_INT(nrecs, 3);
	CHECK_EQ_INT(nb, 1);
	free(bl);
	bl = NULL;
	static const char tailed[] = "0123456789\nabcdefghijklmnopqrstuvwxyz";
	struct lines_in l2 = { .data = tailed, .len = sizeof tailed - 1, .max_line = 12 };
	CHECK_EQ_INT(batch_encode_lines(&l2, CODEC_NONE, 1 << 20, FRAMING_LINES, 1,
	                                &out, &bl, &nb, &nrecs), -EINVAL);
	l2.last_is_record = true;
	CHECK_EQ_INT(batch_encode_lines(&l2, CODEC_NONE, 1 << 20, FRAMING_LINES, 1,
	                                &out, &bl, &nb, &nrecs), -EMSGSIZE);
	l2.max_line = 26;
	CHECK_EQ_INT(batch_encode_lines(&l2, CODEC_NONE, 1 << 20, FRAMING_LINES, 1,
	                                &out, &bl, &nb, &nrecs), 0);
	CHECK_EQ_INT(nrecs, 2);
	CHECK_EQ_INT(bl[0].rendered, 11 + 27);
	free(bl);
	bl = NULL;
	struct lines_in none = { .data = "", .len = 0, .max_line = 9 };
	CHECK_EQ_INT(batch_encode_lines(&none, CODEC_NONE, 1 << 20, FRAMING_LINES, 1,
	                                &out, &bl, &nb, &nrecs), 0);
	CHECK_EQ_INT(nb, 0);
	CHECK_EQ_INT(nrecs, 0);
	free(bl);
	buf_free(&out);
	free(data);
	free(pre);
	free(joined);
	free(ref);
}

/* The read path's in-place renderer (batch_render_raw, with its fast path
 * for the mount's line records) and batch_decode + rendering agree on
 * every batch: the same bytes, and a malformed record is refused by both.
 * Bytes are flipped with the CRC recomputed, so only the record checks
 * stand between a bad record and the reader; rendered in pieces of every
 * size, resuming from the hint. */
static void test_render_raw_agrees(void)
{
	struct buf out = { 0 };
	struct unit_batch *bl = NULL;
	size_t nb = 0;
	int64_t nrecs = 0;
	char text[6000];
	size_t tl = 0;
	for (int i = 0; tl < sizeof(text) - 300; i++) {
		int n = i % 7 == 3 ? 0 : 1 + (int)(rng_next() % 200);  /* empty lines too */
		for (int k = 0; k < n; k++)
			text[tl++] = (char)('a' + rng_next() % 26);
		text[tl++] = '\n';
	}
	struct lines_in in = { .data = text, .len = tl, .max_line = 1 << 20 };
	REQUIRE(batch_encode_lines(&in, CODEC_NONE, 1 << 20, FRAMING_LINES, 5,
	                           &out, &bl, &nb, &nrecs) == 0);
	REQUIRE(nb == 1);
	uint8_t *b = malloc(out.len), *r1 = malloc(8192), *r2 = malloc(8192);
	REQUIRE(b && r1 && r2);
	for (int round = 0; round < 3000; round++) {
		memcpy(b, out.data, out.len);
		if (round > 0) {        /* round 0: the batch as written */
			int flips = 1 + (int)(rng_next() % 3);
			for (int k = 0; k < flips; k++) {
				size_t at = BATCH_HEADER_SIZE + rng_next() % (out.len - BATCH_HEADER_SIZE);
				b[at] ^= (uint8_t)(1u << (rng_next() % 8));
			}
			batch_store_crc(b, out.len);
		}
		struct batch_header h;
		REQUIRE(batch_parse_header(b, out.len, &h) == 0);
		struct batch_decoded d;
		int drc = batch_decode(b, out.len, MAX_BYTES_DEFAULT, &d);
		size_t dn = 0;
		if (drc == 0) {
			for (size_t i = 0; i < d.nrecs && dn < 8000; i++) {
				const struct record *rec = &d.recs[i];
				int32_t vl = rec->value_len < 0 ? 0 : rec->value_len;
				if (dn + (size_t)vl + 1 > 8000)
					break;
				memcpy(r1 + dn, rec->value, (size_t)vl);
				dn += (size_t)vl;
				r1[dn++] = '\n';
			}
			batch_decoded_free(&d);
		}
		/* rendered in pieces, resuming from the hint each time */
		size_t hpos = 0, hidx = 0, rn = 0, step = 1 + rng_next() % 900;
		int64_t hat = 0, rlen = -1;
		int rrc = 0;
		while (rlen < 0 && rn < 8000) {
			size_t n = 0;
			size_t cap = step < 8000 - rn ? step : 8000 - rn;
			rrc = batch_render_raw(b, out.len, &h, FRAMING_LINES, (int64_t)rn,
			                       r2 + rn, cap, &n, &rlen, &hpos, &hidx, &hat);
			if (rrc < 0)
				break;
			rn += n;
			if (n == 0 && rlen < 0)
				break;
		}
		if (drc == 0) {
			CHECK_EQ_INT(rrc, 0);
			CHECK(rlen < 0 || (size_t)rlen == rn);
			CHECK(rn >= dn && memcmp(r1, r2, dn) == 0);
		} else {
			/* decode refused it: the renderer, which walked every
			 * record (the batch renders to less than 8000 bytes),
			 * refuses it too */
			CHECK_EQ_INT(rrc, -EBADMSG);
		}
		if (round == 0)
			CHECK_EQ_INT(rn, tl);
	}
	free(b);
	free(r1);
	free(r2);
	free(bl);
	buf_free(&out);
}

int main(int argc, char **argv)
{
	TT_INIT(argc, argv);
	if (load_manifest() < 0) {
		fprintf(stderr, "cannot load the golden manifest\n");
		printf("0 passed, 1 failed\n");
		return 1;
	}
	RUN(test_crc32c_vectors);
	RUN(test_crc32c_hw_matches_sw);
	RUN(test_codec_names);
	RUN(test_golden_decode);
	RUN(test_golden_small_headers);
	RUN(test_golden_corrupt);
	RUN(test_golden_reencode_none);
	RUN(test_parse_header_rules);
	RUN(test_roundtrip_small);
	RUN(test_roundtrip_large);
	RUN(test_encode_args);
	RUN(test_encode_lines);
	RUN(test_render_raw_agrees);
	RUN(test_headers_roundtrip);
	RUN(test_headers_args);
	RUN(test_varint_edges);
	RUN(test_every_truncation);
	RUN(test_random_flips);
	RUN(test_huge_count);
	RUN(test_bomb_zstd);
	RUN(test_bomb_lz4);
	RUN(test_snappy_framings);
	RUN(test_snappy_truncations);
	RUN(test_snappy_flips);
	RUN(test_bomb_snappy);
	RUN(test_dump_tool);
	for (size_t i = 0; i < m_nrecords; i++) {
		free(m_records[i].key);
		free(m_records[i].value);
	}
	free(m_records);
	free(m_batches);
	return TT_DONE();
}
