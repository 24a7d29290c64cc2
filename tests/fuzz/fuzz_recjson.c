/*
 * fuzz_recjson.c - libFuzzer target for the JSON-lines parser of the
 * writable @json form (fs/recjson.c, docs/TESTING.md R10's kin: untrusted
 * lines from any local writer).  The input is one line, read from an
 * exactly sized heap copy so ASan sees any read past it.
 *
 * Invariants, checked with abort(): the parser returns 0 or -EINVAL (the
 * scratch is always big enough); on success every length is within the
 * line, pointers lie in the scratch, and the record survives a full trip:
 * encoded as a batch, decoded, rendered as the record view renders it,
 * and parsed again, it gives the same key, value, headers, timestamp and
 * partition, and rendering that gives the same line.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "recjson.h"
#include "storage.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int same(const uint8_t *a, int32_t al, const uint8_t *b, int32_t bl)
{
	return al == bl && (al <= 0 || memcmp(a, b, (size_t)al) == 0);
}

static void check_in(const void *p, int32_t len, const uint8_t *lo, size_t n)
{
	if (len < -1 || (len >= 0 && (size_t)len > n))
		abort();
	if (len > 0 && ((const uint8_t *)p < lo ||
	                (const uint8_t *)p + len > lo + n))
		abort();
}

/* Encode r as a one-record batch, render it, return the line (malloc'd,
 * without its '\n'), or NULL (out of memory). */
static char *round_once(const struct recjson_rec *r, size_t *len)
{
	struct rec_in in;
	struct batch_decoded d;
	struct buf out = { 0 };
	uint8_t *batch = NULL;
	size_t blen;
	char *line = NULL;

	recjson_to_rec_in(r, &in);
	if (in.timestamp < 0)
		in.timestamp = 0;
	if (batch_encode(&in, 1, 0, CODEC_NONE, 0, &batch, &blen) != 0)
		abort();
	if (batch_decode(batch, blen, 64u << 20, &d) != 0)
		abort();
	struct recjson_src src = { "t", r->partition < 0 ? 0 : r->partition,
	                           RECJSON_BROKER_ID, false };
	int rc = recjson_render(&out, &src, &d.recs[0]);
	if (rc == 0) {
		if (out.len == 0 || out.data[out.len - 1] != '\n' ||
		    memchr(out.data, '\n', out.len - 1) ||
		    out.len > recjson_render_max(&src, &d.recs[0]))
			abort();
		line = malloc(out.len);
		if (line) {
			memcpy(line, out.data, out.len - 1);
			*len = out.len - 1;
		}
	} else if (rc != -ENOMEM) {
		abort();
	}
	buf_free(&out);
	batch_decoded_free(&d);
	free(batch);
	return line;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct recjson_rec r, r2;
	size_t need = recjson_scratch_size(size);
	char *line = malloc(size ? size : 1);
	uint8_t *scratch = malloc(need);
	char *l1 = NULL, *l2 = NULL;
	uint8_t *s2 = NULL;
	size_t n1 = 0, n2 = 0;

	if (!line || !scratch)
		goto out;
	memcpy(line, data, size);
	int rc = recjson_parse(line, size, scratch, need, &r, NULL, NULL);
	if (rc == -EINVAL)
		goto out;
	if (rc != 0)
		abort();
	check_in(r.key, r.key_len, scratch, need);
	check_in(r.value, r.value_len, scratch, need);
	check_in(r.topic, r.topic_len, scratch, need);
	if (r.header_count < 0 || (size_t)r.header_count > size / 6 + 1)
		abort();
	for (int32_t i = 0; i < r.header_count; i++) {
		if (r.headers[i].key_len < 0)
			abort();
		check_in(r.headers[i].key, r.headers[i].key_len, scratch, need);
		check_in(r.headers[i].value, r.headers[i].value_len, scratch, need);
	}
	if (r.timestamp < -1 || r.partition < -1)
		abort();

	l1 = round_once(&r, &n1);
	if (!l1)
		goto out;
	s2 = malloc(recjson_scratch_size(n1));
	if (!s2)
		goto out;
	if (recjson_parse(l1, n1, s2, recjson_scratch_size(n1), &r2, NULL, NULL))
		abort();
	if (!same(r.key, r.key_len, r2.key, r2.key_len) ||
	    !same(r.value, r.value_len, r2.value, r2.value_len) ||
	    r.header_count != r2.header_count ||
	    (r.timestamp < 0 ? 0 : r.timestamp) != r2.timestamp ||
	    (r.partition < 0 ? 0 : r.partition) != r2.partition)
		abort();
	for (int32_t i = 0; i < r.header_count; i++)
		if (!same(r.headers[i].key, r.headers[i].key_len,
		          r2.headers[i].key, r2.headers[i].key_len) ||
		    !same(r.headers[i].value, r.headers[i].value_len,
		          r2.headers[i].value, r2.headers[i].value_len))
			abort();
	l2 = round_once(&r2, &n2);
	if (l2 && (n1 != n2 || memcmp(l1, l2, n1) != 0))
		abort();
out:
	free(l1);
	free(l2);
	free(s2);
	free(line);
	free(scratch);
	return 0;
}
