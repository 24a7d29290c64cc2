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
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lz4frame.h>
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
			if (mb->codec == CODEC_SNAPPY) {
				CHECK_EQ_INT(rc, -ENOTSUP);
				snappy_seen++;
				/* skip its records in the manifest */
				for (long long k = 0; k < mb->record_count; k++) {
					while (cursor < m_nrecords &&
					       strcmp(m_records[cursor].file, m->file))
						cursor++;
					cursor++;
				}
			} else {
				CHECK_EQ_INT(rc, 0);
				if (rc == 0) {
					CHECK_EQ_INT(d.nrecs, mb->record_count);
					check_header_fields(&d.h, mb);
					check_records(&d, m->file, &cursor);
					batch_decoded_free(&d);
				}
				if (mb->codec == CODEC_GZIP)
					gzip_seen++;
			}
			pos += blen;
		}
		CHECK_EQ_INT(pos, len);
		/* every batch of this file in the manifest was seen */
		CHECK(bj == m_nbatches || strcmp(m_batches[bj].file, m->file));
		free(data);
	}
	CHECK(files_seen >= 7);
	/* every R line was compared, except the snappy batch's */
	size_t snappy_records = 0;
	for (size_t i = 0; i < m_nbatches; i++)
		if (m_batches[i].codec == CODEC_SNAPPY)
			snappy_records += (size_t)m_batches[i].record_count;
	CHECK_EQ_INT(records_compared + snappy_records, m_nrecords);
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
	struct batch_rec_header **hdrs = NULL;
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
				hdrs[i][j] = (struct batch_rec_header){ k, kl, v, vl };
			}
		}
	}
	struct batch_encode_params p;
	batch_encode_params_init(&p, d.h.base_offset, CODEC_NONE, 0);
	p.leader_epoch = d.h.leader_epoch;
	p.producer_id = d.h.producer_id;
	p.producer_epoch = d.h.producer_epoch;
	p.base_sequence = d.h.base_sequence;
	p.headers = (const struct batch_rec_header *const *)hdrs;
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
	static const int codecs[] = { CODEC_NONE, CODEC_LZ4, CODEC_ZSTD };
	struct rec_in in[6] = {
		{ "k", 1, "hello", 5, 1000 },
		{ NULL, -1, "", 0, 999 },           /* empty value, earlier ts */
		{ NULL, -1, NULL, -1, -1 },         /* null value, ts = now */
		{ "", 0, "x", 1, 5000 },            /* empty key */
		{ "key", 3, NULL, -1, 0 },          /* tombstone */
		{ NULL, -1, "\n\0\xff", 3, 1001 },
	};
	for (size_t c = 0; c < 3; c++) {
		roundtrip(codecs[c], in, 6, 0, MAX_BYTES_DEFAULT);
		roundtrip(codecs[c], in, 1, 123456789012345, MAX_BYTES_DEFAULT);
		roundtrip(codecs[c], in + 2, 1, 7, MAX_BYTES_DEFAULT);
	}
}

static void test_roundtrip_large(void)
{
	static const int codecs[] = { CODEC_NONE, CODEC_LZ4, CODEC_ZSTD };
	size_t big_len = MIB;
	uint8_t *big = malloc(big_len);
	REQUIRE(big);
	for (size_t i = 0; i < big_len; i++)   /* compressible but not trivial */
		big[i] = (uint8_t)((rng_next() % 16) + 'a');
	struct rec_in in[3] = {
		{ NULL, -1, big, (int32_t)big_len, 1 },
		{ "k", 1, big, (int32_t)big_len - 1, 2 },
		{ NULL, -1, "", 0, 3 },
	};
	for (size_t c = 0; c < 3; c++)
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
	for (size_t c = 0; c < 3; c++)
		roundtrip(codecs[c], many, n, 1000000, MAX_BYTES_DEFAULT);

	/* max_bytes boundary: exactly the decompressed size passes, one
	 * less is -EMSGSIZE, for every codec */
	for (size_t c = 0; c < 3; c++) {
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

static void test_encode_args(void)
{
	struct rec_in r = { NULL, -1, "v", 1, 5 };
	uint8_t *out = (uint8_t *)"untouched";
	size_t len = 77;

	CHECK_EQ_INT(batch_encode(&r, 0, 0, CODEC_NONE, 0, &out, &len), -EINVAL);
	CHECK_EQ_INT(batch_encode(&r, 1, 0, CODEC_GZIP, 0, &out, &len), -ENOTSUP);
	CHECK_EQ_INT(batch_encode(&r, 1, 0, CODEC_SNAPPY, 0, &out, &len), -ENOTSUP);
	CHECK_EQ_INT(batch_encode(&r, 1, -1, CODEC_NONE, 0, &out, &len), -EINVAL);
	struct rec_in bad = { NULL, -2, "v", 1, 5 };
	CHECK_EQ_INT(batch_encode(&bad, 1, 0, CODEC_NONE, 0, &out, &len), -EINVAL);
	struct rec_in badptr = { NULL, 3, "v", 1, 5 };
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

	/* unknown codecs 5..7 are corrupt, snappy is unsupported */
	for (int codec = 2; codec <= 7; codec++) {
		memcpy(copy, data, len);
		copy[22] = (uint8_t)((copy[22] & ~7) | codec);
		batch_store_crc(copy, len);
		/* 1, 3, 4: plain records are not a valid compressed stream */
		CHECK_EQ_INT(batch_decode(copy, len, MAX_BYTES_DEFAULT, &d),
		             codec == CODEC_SNAPPY ? -ENOTSUP : -EBADMSG);
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

/* RecordsCount 2^31-1 with a tiny body: refused as corrupt before any
 * allocation sized by the count.  max_bytes is unlimited here, so only the
 * count-vs-bytes check stands between the decoder and a 128 GiB calloc. */
static void test_huge_count(void)
{
	struct rec_in r = { NULL, -1, "v", 1, 5 };
	static const int codecs[] = { CODEC_NONE, CODEC_LZ4, CODEC_ZSTD };
	for (size_t c = 0; c < 3; c++) {
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
	struct rec_in r = { NULL, -1, "abc", 3, 5 };
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
			                         1000 + offset + i };
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
	if (!tools || !*tools) {
		fprintf(stderr, "  TOPICFS_TOOLS not set: skipped\n");
		return;
	}
	snprintf(dump_tool, sizeof(dump_tool), "%s/topicfs-dump", tools);
	if (access(dump_tool, X_OK) != 0) {
		fprintf(stderr, "  %s not built: skipped\n", dump_tool);
		return;
	}
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
	RUN(test_varint_edges);
	RUN(test_every_truncation);
	RUN(test_random_flips);
	RUN(test_huge_count);
	RUN(test_bomb_zstd);
	RUN(test_bomb_lz4);
	RUN(test_dump_tool);
	for (size_t i = 0; i < m_nrecords; i++) {
		free(m_records[i].key);
		free(m_records[i].value);
	}
	free(m_records);
	free(m_batches);
	return TT_DONE();
}
