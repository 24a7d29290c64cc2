/*
 * test_records.c - unit tests of the record building blocks of issue 17:
 * Kafka's key partitioner (common/murmur2.c) and records as JSON lines
 * (fs/recjson.c).
 *
 * murmur2: the vectors of Kafka's own UtilsTest.testMurmur2 (the Java
 * client's Utils.murmur2) and of librdkafka's rdmurmur2.c unit test, and
 * the partitions a real librdkafka producer chose (kcat -P -K:
 * -X partitioner=murmur2_random, 3 partitions, observed against a topicfs
 * daemon).
 *
 * recjson: records are built the way the mount will see them (batch_encode
 * then batch_decode), rendered, and compared with the lines kcat 1.7.1
 * (librdkafka 2.0.2, yajl, Debian bookworm) printed with -C -J for the same
 * records, produced by kcat -P -K: -H ... into a topicfs daemon (captured
 * by hand once; the timestamps are the ones those records got).  Then
 * render -> parse round trips of random binary records, the parser's
 * accepted forms, and a list of lines it must refuse; every prefix of a
 * valid line is refused, read from an exactly sized heap copy.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "murmur2.h"
#include "recjson.h"
#include "storage.h"
#include "tinytest.h"

/* ============================== murmur2 ================================== */

static void test_murmur2_kafka_vectors(void)
{
	/* org.apache.kafka.common.utils.UtilsTest.testMurmur2 (Java ints) */
	static const struct {
		const char *key;
		int32_t hash;
	} v[] = {
		{ "21", -973932308 },
		{ "foobar", -790332482 },
		{ "a-little-bit-long-string", -985981536 },
		{ "a-little-bit-longer-string", -1486304829 },
		{ "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971 },
		{ "abc", 479470107 },
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		int32_t h = (int32_t)tfs_murmur2(v[i].key, strlen(v[i].key));
		if (h != v[i].hash)
			fprintf(stderr, "  %s: %d, want %d\n", v[i].key, h, v[i].hash);
		CHECK_EQ_INT(h, v[i].hash);
	}
}

static void test_murmur2_librdkafka_vectors(void)
{
	/* librdkafka src/rdmurmur2.c unittest_murmurhashneutral2: the
	 * positive (toPositive) results it checked first, and the raw ones
	 * of its later table (unaligned starts included) */
	CHECK_EQ_INT(tfs_murmur2("kafka", 5) & 0x7fffffff, 1348980580);
	CHECK_EQ_INT(tfs_murmur2("amqp", 4) & 0x7fffffff, 767747138);
	CHECK_EQ_INT(tfs_murmur2("giberish123456789", 17) & 0x7fffffff, 257239820);
	CHECK_EQ_INT(tfs_murmur2("kafka", 5), 0xd067cf64u);
	CHECK_EQ_INT(tfs_murmur2("giberish123456789", 17), 0x8f552b0cu);
	CHECK_EQ_INT(tfs_murmur2("", 0), 0x106e08d9u);
	CHECK_EQ_INT(tfs_murmur2(NULL, 0), 0x106e08d9u);
	/* the same key at every alignment */
	char buf[16];
	for (int off = 0; off < 8; off++) {
		memcpy(buf + off, "kafka", 5);
		CHECK_EQ_INT(tfs_murmur2(buf + off, 5), 0xd067cf64u);
	}
}

static void test_murmur2_partition(void)
{
	/* partitions librdkafka 2.0.2 (kcat -P -K: -X
	 * partitioner=murmur2_random) chose among 3 */
	static const struct {
		const char *key;
		int32_t partition;
	} v[] = {
		{ "", 0 }, { "21", 0 }, { "a", 1 }, { "b", 2 }, { "bar", 0 },
		{ "c", 1 }, { "d", 2 }, { "e", 2 }, { "f", 0 }, { "foo", 2 },
		{ "g", 0 }, { "h", 1 }, { "i", 2 }, { "j", 2 }, { "kafka", 1 },
		{ "order-0001", 2 }, { "order-0002", 2 }, { "order-0003", 1 },
		{ "\xc3\xbc" "12", 2 },
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		int32_t p = tfs_murmur2_partition(v[i].key, strlen(v[i].key), 3);
		if (p != v[i].partition)
			fprintf(stderr, "  '%s': %d, want %d\n", v[i].key, p,
			        v[i].partition);
		CHECK_EQ_INT(p, v[i].partition);
	}
	/* toPositive, not abs: "21" hashes negative */
	CHECK_EQ_INT(tfs_murmur2_partition("21", 2, 1000),
	             (int32_t)((uint32_t)-973932308 & 0x7fffffff) % 1000);
	CHECK_EQ_INT(tfs_murmur2_partition("k", 1, 1), 0);
	CHECK_EQ_INT(tfs_murmur2_partition("k", 1, 0), -1);
	CHECK_EQ_INT(tfs_murmur2_partition("k", 1, -3), -1);
	for (int n = 1; n < 50; n++) {
		int32_t p = tfs_murmur2_partition("some key", 8, n);
		CHECK(p >= 0 && p < n);
	}
}

/* ============================== helpers ================================== */

/* A decoded record made as the mount sees it: encoded, then decoded. */
struct made {
	uint8_t *batch;
	struct batch_decoded d;
};

static int make_record(struct made *m, const struct rec_in *in, int64_t offset)
{
	size_t len;
	int rc = batch_encode(in, 1, offset, CODEC_NONE, 1, &m->batch, &len);
	if (rc < 0)
		return rc;
	rc = batch_decode(m->batch, len, 64u << 20, &m->d);
	if (rc < 0) {
		free(m->batch);
		m->batch = NULL;
	}
	return rc;
}

static void made_free(struct made *m)
{
	if (m->batch)
		batch_decoded_free(&m->d);
	free(m->batch);
	m->batch = NULL;
}

/* Render in (topic, partition) and compare with want. */
static int render_is(const char *topic, int32_t partition,
                     const struct rec_in *in, int64_t offset, const char *want)
{
	struct made m = { 0 };
	struct buf out = { 0 };
	struct recjson_src src = { topic, partition, RECJSON_BROKER_ID, false };
	int rc = make_record(&m, in, offset);

	if (rc < 0)
		return rc;
	rc = recjson_render(&out, &src, &m.d.recs[0]);
	if (rc == 0 && (out.len != strlen(want) || memcmp(out.data, want, out.len))) {
		fprintf(stderr, "  got  %.*s  want %s", (int)out.len,
		        (const char *)out.data, want);
		rc = -1;
	}
	if (rc == 0 && out.len > recjson_render_max(&src, &m.d.recs[0]))
		rc = -2;
	buf_free(&out);
	made_free(&m);
	return rc;
}

/* Parse a NUL-terminated line with a scratch buffer of the right size. */
static int parse_str(const char *line, struct recjson_rec *r, void **scratch,
                     const char **why)
{
	size_t len = strlen(line), need = recjson_scratch_size(len);
	*scratch = malloc(need);
	if (!*scratch)
		return -ENOMEM;
	return recjson_parse(line, len, *scratch, need, r, why, NULL);
}

/* ======================= rendering: kcat's lines ========================= */

#define H(k, v) { k, (int32_t)sizeof(k) - 1, v, (int32_t)sizeof(v) - 1 }

static void test_render_matches_kcat(void)
{
	/* kcat -P -t jt -p 0 -K: -H h1=x -H h2 -H 'h3=' <<< 'k1:v1' */
	const struct rec_header h0[] = {
		H("h1", "x"), { "h2", 2, NULL, -1 }, H("h3", ""),
	};
	struct rec_in r0 = { .key = "k1", .key_len = 2, .value = "v1",
	                     .value_len = 2, .timestamp = 1795969923487,
	                     .headers = h0, .header_count = 3 };
	CHECK_EQ_INT(render_is("jt", 0, &r0, 0,
		"{\"topic\":\"jt\",\"partition\":0,\"offset\":0,\"tstype\":\"create\","
		"\"ts\":1795969923487,\"broker\":0,\"headers\":[\"h1\",\"x\",\"h2\","
		"null,\"h3\",\"\"],\"key\":\"k1\",\"payload\":\"v1\"}\n"), 0);

	/* -K: with 'k2:' (empty value), ':v3' (empty key), 'nokey' (no key) */
	struct rec_in r1 = { .key = "k2", .key_len = 2, .value = "",
	                     .value_len = 0, .timestamp = 1795969923501 };
	CHECK_EQ_INT(render_is("jt", 0, &r1, 1,
		"{\"topic\":\"jt\",\"partition\":0,\"offset\":1,\"tstype\":\"create\","
		"\"ts\":1795969923501,\"broker\":0,\"key\":\"k2\",\"payload\":\"\"}\n"), 0);
	struct rec_in r2 = { .key = "", .key_len = 0, .value = "v3",
	                     .value_len = 2, .timestamp = 1795969923501 };
	CHECK_EQ_INT(render_is("jt", 0, &r2, 2,
		"{\"topic\":\"jt\",\"partition\":0,\"offset\":2,\"tstype\":\"create\","
		"\"ts\":1795969923501,\"broker\":0,\"key\":\"\",\"payload\":\"v3\"}\n"), 0);
	struct rec_in r3 = { .key_len = -1, .value = "nokey",
	                     .value_len = 5, .timestamp = 1795969923501 };
	CHECK_EQ_INT(render_is("jt", 0, &r3, 3,
		"{\"topic\":\"jt\",\"partition\":0,\"offset\":3,\"tstype\":\"create\","
		"\"ts\":1795969923501,\"broker\":0,\"key\":null,\"payload\":\"nokey\"}\n"), 0);
	/* -K: -Z with 'k4:' (null value) */
	struct rec_in r4 = { .key = "k4", .key_len = 2, .value_len = -1,
	                     .timestamp = 1795969923513 };
	CHECK_EQ_INT(render_is("jt", 0, &r4, 4,
		"{\"topic\":\"jt\",\"partition\":0,\"offset\":4,\"tstype\":\"create\","
		"\"ts\":1795969923513,\"broker\":0,\"key\":\"k4\",\"payload\":null}\n"), 0);

	/* -K: -D '|' -H 'tab\there=a"b' with 'k\0z:line1\nline2\0\0|' */
	const struct rec_header h5[] = { H("tab\\there", "a\"b") };
	struct rec_in r5 = { .key = "k\0z", .key_len = 3,
	                     .value = "line1\nline2\0\0", .value_len = 13,
	                     .timestamp = 1795969931149, .headers = h5,
	                     .header_count = 1 };
	CHECK_EQ_INT(render_is("jt", 1, &r5, 0,
		"{\"topic\":\"jt\",\"partition\":1,\"offset\":0,\"tstype\":\"create\","
		"\"ts\":1795969931149,\"broker\":0,\"headers\":[\"tab\\\\there\","
		"\"a\\\"b\"],\"key\":\"k\\u0000z\",\"payload\":\"line1\\nline2"
		"\\u0000\\u0000\"}\n"), 0);

	/* every escape yajl knows, \u00XX in upper case, DEL, '/' and UTF-8
	 * (2, 3 and 4 bytes) as they are */
	static const char v6[] = "q\"uo\\te\x01\x1f\x7f\t\r\b\f/\xc3\xa9"
	                         "\xe2\x82\xac\xf0\x9f\x98\x80";
	struct rec_in r6 = { .key = "key", .key_len = 3, .value = v6,
	                     .value_len = (int32_t)sizeof(v6) - 1,
	                     .timestamp = 1795969931161 };
	CHECK_EQ_INT(render_is("jt", 1, &r6, 1,
		"{\"topic\":\"jt\",\"partition\":1,\"offset\":1,\"tstype\":\"create\","
		"\"ts\":1795969931161,\"broker\":0,\"key\":\"key\",\"payload\":"
		"\"q\\\"uo\\\\te\\u0001\\u001F\x7f\\t\\r\\b\\f/\xc3\xa9\xe2\x82\xac"
		"\xf0\x9f\x98\x80\"}\n"), 0);

	/* the same with headers repeated and a UTF-8 header, and a value kcat
	 * would print raw (not UTF-8): here {"base64"} */
	const struct rec_header h7[] = {
		H("dup", "1"), H("dup", "2"), H("\xc3\xbc", "\xc3\x9f"),
	};
	static const char v7[] = "val\xff\xfe\xc0\xaf\xed\xa0\x80" "end";
	struct rec_in r7 = { .key = "k", .key_len = 1, .value = v7,
	                     .value_len = (int32_t)sizeof(v7) - 1,
	                     .timestamp = 1795969923525, .headers = h7,
	                     .header_count = 3 };
	CHECK_EQ_INT(render_is("jt", 0, &r7, 6,
		"{\"topic\":\"jt\",\"partition\":0,\"offset\":6,\"tstype\":\"create\","
		"\"ts\":1795969923525,\"broker\":0,\"headers\":[\"dup\",\"1\",\"dup\","
		"\"2\",\"\xc3\xbc\",\"\xc3\x9f\"],\"key\":\"k\",\"payload\":"
		"{\"base64\":\"dmFs//7Ar+2ggGVuZA==\"}}\n"), 0);
}

static void test_render_logappend_and_args(void)
{
	struct rec_in r = { .key_len = -1, .value_len = -1, .timestamp = 7 };
	struct made m = { 0 };
	struct buf out = { 0 };
	struct recjson_src src = { "t", 2147483647, 0, true };

	REQUIRE(make_record(&m, &r, 9223372036854775806) == 0);
	CHECK_EQ_INT(recjson_render(&out, &src, &m.d.recs[0]), 0);
	const char *want = "{\"topic\":\"t\",\"partition\":2147483647,"
	                   "\"offset\":9223372036854775806,\"tstype\":\"logappend\","
	                   "\"ts\":7,\"broker\":0,\"key\":null,\"payload\":null}\n";
	CHECK(out.len == strlen(want) && memcmp(out.data, want, out.len) == 0);
	/* appends */
	size_t first = out.len;
	CHECK_EQ_INT(recjson_render(&out, &src, &m.d.recs[0]), 0);
	CHECK(out.len == 2 * first && memcmp(out.data + first, want, first) == 0);
	CHECK_EQ_INT(recjson_render(NULL, &src, &m.d.recs[0]), -EINVAL);
	/* corrupt headers: -EBADMSG, the buffer unchanged */
	struct record bad = m.d.recs[0];
	bad.header_count = 1;
	bad.headers = (const uint8_t *)"\x7f";
	bad.headers_len = 1;
	CHECK_EQ_INT(recjson_render(&out, &src, &bad), -EBADMSG);
	CHECK_EQ_INT(out.len, 2 * first);
	buf_free(&out);
	made_free(&m);
}

/* UTF-8 strictness: what renders as a string and what as base64. */
static void test_render_utf8_strict(void)
{
	static const struct {
		const char *bytes;
		int len;
		int valid;
	} v[] = {
		{ "", 0, 1 }, { "a", 1, 1 }, { "\x7f", 1, 1 },
		{ "\xc2\x80", 2, 1 }, { "\xdf\xbf", 2, 1 },
		{ "\xe0\xa0\x80", 3, 1 }, { "\xed\x9f\xbf", 3, 1 },
		{ "\xee\x80\x80", 3, 1 }, { "\xef\xbf\xbf", 3, 1 },
		{ "\xf0\x90\x80\x80", 4, 1 }, { "\xf4\x8f\xbf\xbf", 4, 1 },
		{ "\x80", 1, 0 },                       /* lone continuation */
		{ "\xbf", 1, 0 },
		{ "\xc0\x80", 2, 0 },                   /* overlong NUL */
		{ "\xc1\xbf", 2, 0 },                   /* overlong */
		{ "\xe0\x9f\xbf", 3, 0 },               /* overlong */
		{ "\xf0\x8f\xbf\xbf", 4, 0 },           /* overlong */
		{ "\xed\xa0\x80", 3, 0 },               /* U+D800 */
		{ "\xed\xbf\xbf", 3, 0 },               /* U+DFFF */
		{ "\xf4\x90\x80\x80", 4, 0 },           /* U+110000 */
		{ "\xf5\x80\x80\x80", 4, 0 },
		{ "\xff", 1, 0 }, { "\xfe", 1, 0 },
		{ "\xc3", 1, 0 },                       /* truncated */
		{ "\xe2\x82", 2, 0 },
		{ "\xf0\x9f\x98", 3, 0 },
		{ "\xc3\x28", 2, 0 },                   /* bad continuation */
		{ "a\xe2\x82\xac\xe2\x82", 6, 0 },      /* valid then truncated */
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct rec_in r = { .key = v[i].bytes, .key_len = v[i].len,
		                    .value_len = -1, .timestamp = 1 };
		struct made m = { 0 };
		struct buf out = { 0 };
		struct recjson_src src = { "t", 0, 0, false };
		REQUIRE(make_record(&m, &r, 0) == 0);
		REQUIRE(recjson_render(&out, &src, &m.d.recs[0]) == 0);
		const char *k = memmem(out.data, out.len, "\"key\":", 6);
		REQUIRE(k != NULL);
		int is_b64 = k[6] == '{';
		if (is_b64 == v[i].valid)
			fprintf(stderr, "  case %zu: %.*s\n", i, (int)out.len,
			        (const char *)out.data);
		CHECK_EQ_INT(is_b64, !v[i].valid);
		buf_free(&out);
		made_free(&m);
	}
}

/* ======================== parse: accepted forms ========================== */

static int bytes_are(const uint8_t *p, int32_t len, const char *want, int32_t wlen)
{
	if (len != wlen)
		return 0;
	if (len < 0)
		return p == NULL;
	return len == 0 || memcmp(p, want, (size_t)len) == 0;
}

static void test_parse_forms(void)
{
	struct recjson_rec r;
	void *s = NULL;
	const char *why = NULL;

	/* a rendered line parses back, topic and all */
	CHECK_EQ_INT(parse_str("{\"topic\":\"jt\",\"partition\":0,\"offset\":0,"
		"\"tstype\":\"create\",\"ts\":1795969923487,\"broker\":0,\"headers\":"
		"[\"h1\",\"x\",\"h2\",null,\"h3\",\"\"],\"key\":\"k1\",\"payload\":\"v1\"}",
		&r, &s, &why), 0);
	CHECK(bytes_are(r.key, r.key_len, "k1", 2));
	CHECK(bytes_are(r.value, r.value_len, "v1", 2));
	CHECK(bytes_are(r.topic, r.topic_len, "jt", 2));
	CHECK_EQ_INT(r.timestamp, 1795969923487);
	CHECK_EQ_INT(r.partition, 0);
	REQUIRE(r.header_count == 3);
	CHECK(bytes_are(r.headers[0].key, r.headers[0].key_len, "h1", 2));
	CHECK(bytes_are(r.headers[0].value, r.headers[0].value_len, "x", 1));
	CHECK(bytes_are(r.headers[1].value, r.headers[1].value_len, NULL, -1));
	CHECK(bytes_are(r.headers[2].value, r.headers[2].value_len, "", 0));
	free(s);

	/* the empty object: null key and value, no headers, now, any partition */
	CHECK_EQ_INT(parse_str(" \t{ }\r ", &r, &s, &why), 0);
	CHECK(r.key == NULL && r.key_len == -1 && r.value == NULL &&
	      r.value_len == -1 && r.header_count == 0 && r.headers == NULL &&
	      r.timestamp == -1 && r.partition == -1 && r.topic == NULL);
	free(s);

	/* aliases, headers as an object (order and repeats kept), escapes,
	 * surrogate pairs, base64, nulls */
	CHECK_EQ_INT(parse_str("{ \"value\" : {\"base64\":\"AP8=\"}, \"timestamp\":-1,"
		" \"headers\": {\"a\":\"1\",\"b\":null,\"a\":{ \"base64\" : \"\" }},"
		" \"key\":\"\\u00e9\\ud83d\\ude00\\/\\\"\\\\\\b\\f\\n\\r\\t\\u0000\","
		" \"partition\": null, \"offset\": null, \"broker\": -1,"
		" \"tstype\": \"logappend\"}", &r, &s, &why), 0);
	CHECK(bytes_are(r.value, r.value_len, "\x00\xff", 2));
	CHECK(bytes_are(r.key, r.key_len,
	                "\xc3\xa9\xf0\x9f\x98\x80/\"\\\b\f\n\r\t\0", 15));
	CHECK_EQ_INT(r.timestamp, -1);
	CHECK_EQ_INT(r.partition, -1);
	REQUIRE(r.header_count == 3);
	CHECK(bytes_are(r.headers[0].key, r.headers[0].key_len, "a", 1));
	CHECK(bytes_are(r.headers[1].key, r.headers[1].key_len, "b", 1));
	CHECK(bytes_are(r.headers[1].value, r.headers[1].value_len, NULL, -1));
	CHECK(bytes_are(r.headers[2].key, r.headers[2].key_len, "a", 1));
	CHECK(bytes_are(r.headers[2].value, r.headers[2].value_len, "", 0));
	struct rec_in in;
	recjson_to_rec_in(&r, &in);
	CHECK(in.key == r.key && in.value_len == 2 && in.header_count == 3 &&
	      in.headers == r.headers && in.timestamp == -1);
	free(s);

	/* base64 names in the array form; upper-case \u hex; big numbers */
	CHECK_EQ_INT(parse_str("{\"headers\":[{\"base64\":\"/w==\"},\"\\u00C9\"],"
		"\"partition\":2147483647,\"ts\":9223372036854775807,"
		"\"offset\":-9223372036854775808,\"payload\":\"\"}", &r, &s, &why), 0);
	REQUIRE(r.header_count == 1);
	CHECK(bytes_are(r.headers[0].key, r.headers[0].key_len, "\xff", 1));
	CHECK(bytes_are(r.headers[0].value, r.headers[0].value_len, "\xc3\x89", 2));
	CHECK_EQ_INT(r.partition, INT32_MAX);
	CHECK_EQ_INT(r.timestamp, INT64_MAX);
	CHECK(bytes_are(r.value, r.value_len, "", 0));
	CHECK(r.key_len == -1);
	free(s);

	/* headers: [] and null are none */
	CHECK_EQ_INT(parse_str("{\"headers\":[]}", &r, &s, &why), 0);
	CHECK_EQ_INT(r.header_count, 0);
	free(s);
	CHECK_EQ_INT(parse_str("{\"headers\":null,\"key\":null}", &r, &s, &why), 0);
	CHECK_EQ_INT(r.header_count, 0);
	free(s);
}

/* ======================== parse: refused lines =========================== */

static void test_parse_refusals(void)
{
	static const char *bad[] = {
		"", "   ", "{", "}", "[]", "null", "\"key\"", "42",
		"{\"key\":\"a\"", "{\"key\":\"a\",}", "{\"key\":\"a\"}x",
		"{\"key\":\"a\"}{}", "{\"key\":\"a\"} }", "{,}", "{\"key\" \"a\"}",
		"{\"key\":\"a\" \"payload\":\"b\"}", "{key:\"a\"}", "{'key':'a'}",
		"{\"key\":\"a", "{\"key\":\"a\\\"}", "{\"key\":\"\\x41\"}",
		"{\"key\":\"\\u12\"}", "{\"key\":\"\\u12G4\"}", "{\"key\":\"\\U0041\"}",
		"{\"key\":\"\\ud800\"}", "{\"key\":\"\\udc00\"}",
		"{\"key\":\"\\ud800\\u0041\"}", "{\"key\":\"\\ud800\\ud800\"}",
		"{\"key\":\"\\ud800x\"}", "{\"key\":\"a\tb\"}", "{\"key\":\"a\nb\"}",
		"{\"key\":\"\x01\"}", "{\"key\":\"\xff\"}", "{\"key\":\"\xc0\x80\"}",
		"{\"key\":\"\xed\xa0\x80\"}", "{\"key\":\"\xe2\x82\"}",
		"{\"key\":1}", "{\"key\":true}", "{\"key\":[\"a\"]}",
		"{\"key\":{\"a\":1}}", "{\"key\":{}}", "{\"key\":{\"base64\":1}}",
		"{\"key\":{\"base64\":\"AA==\",\"x\":1}}", "{\"key\":{\"base64\":\"A\"}}",
		"{\"key\":{\"base64\":\"AA\"}}", "{\"key\":{\"base64\":\"A===\"}}",
		"{\"key\":{\"base64\":\"AB==\"}}", "{\"key\":{\"base64\":\"AAB=\"}}",
		"{\"key\":{\"base64\":\"AA==AA==\"}}", "{\"key\":{\"base64\":\"A-_A\"}}",
		"{\"key\":{\"base64\":\"AA =\"}}", "{\"key\":nul}", "{\"key\":nulll}",
		"{\"key\":\"a\",\"key\":\"b\"}", "{\"payload\":\"a\",\"value\":\"b\"}",
		"{\"ts\":1,\"timestamp\":2}", "{\"vaule\":\"x\"}", "{\"\":1}",
		"{\"ts\":1.5}", "{\"ts\":1e3}", "{\"ts\":1E3}", "{\"ts\":-2}",
		"{\"ts\":01}", "{\"ts\":-}", "{\"ts\":+1}", "{\"ts\":\"1\"}",
		"{\"ts\":9223372036854775808}", "{\"ts\":99999999999999999999}",
		"{\"ts\":.5}", "{\"partition\":-1}", "{\"partition\":2147483648}",
		"{\"partition\":1.0}", "{\"partition\":\"0\"}", "{\"offset\":\"x\"}",
		"{\"offset\":1.5}", "{\"broker\":true}", "{\"tstype\":\"other\"}",
		"{\"tstype\":1}", "{\"topic\":null}", "{\"topic\":1}",
		"{\"headers\":\"a\"}", "{\"headers\":[\"a\"]}", "{\"headers\":[\"a\",]}",
		"{\"headers\":[null,\"a\"]}", "{\"headers\":[1,\"a\"]}",
		"{\"headers\":[\"a\",1]}", "{\"headers\":[\"a\",[\"b\"]]}",
		"{\"headers\":[[\"a\",\"b\"]]}", "{\"headers\":{\"a\"}}",
		"{\"headers\":{\"a\":1}}", "{\"headers\":{\"a\":\"b\",}}",
		"{\"headers\":{\"a\":{\"b\":\"c\"}}}", "{\"headers\":[\"a\",\"b\"",
		"{\"headers\":[\"a\" \"b\"]}", "{\"headers\":1}",
		"\xef\xbb\xbf{}",               /* a byte-order mark */
		"{}\x00",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct recjson_rec r;
		memset(&r, 0x5a, sizeof(r));
		size_t len = strlen(bad[i]) + (i == sizeof(bad) / sizeof(bad[0]) - 1);
		size_t need = recjson_scratch_size(len);
		char *copy = malloc(len ? len : 1);     /* exact: no NUL after */
		void *s = malloc(need);
		REQUIRE(copy && s);
		memcpy(copy, bad[i], len);
		const char *why = NULL;
		size_t at = SIZE_MAX;
		int rc = recjson_parse(copy, len, s, need, &r, &why, &at);
		if (rc != -EINVAL)
			fprintf(stderr, "  accepted: %s\n", bad[i]);
		CHECK_EQ_INT(rc, -EINVAL);
		CHECK(why != NULL && at <= len);
		CHECK(((unsigned char *)&r)[0] == 0x5a);    /* untouched */
		free(copy);
		free(s);
	}
	/* deep nesting is refused on its first byte, at any depth */
	size_t depth = 100000;
	char *deep = malloc(depth * 2 + 16);
	REQUIRE(deep != NULL);
	size_t n = (size_t)sprintf(deep, "{\"key\":");
	memset(deep + n, '[', depth);
	memset(deep + n + depth, ']', depth);
	n += 2 * depth;
	deep[n++] = '}';
	void *s = malloc(recjson_scratch_size(n));
	struct recjson_rec r;
	const char *why = NULL;
	size_t at = 0;
	REQUIRE(s != NULL);
	CHECK_EQ_INT(recjson_parse(deep, n, s, recjson_scratch_size(n), &r, &why, &at),
	             -EINVAL);
	CHECK_EQ_INT(at, 7);
	memcpy(deep, "{\"headers\":[", 12);
	CHECK_EQ_INT(recjson_parse(deep, n, s, recjson_scratch_size(n), &r, &why, &at),
	             -EINVAL);
	free(s);
	free(deep);

	/* arguments */
	char sc[64];
	CHECK_EQ_INT(recjson_parse("{}", 2, sc, recjson_scratch_size(2) - 1, &r,
	                           NULL, NULL), -ENOBUFS);
	CHECK_EQ_INT(recjson_parse("{}", 2, sc, sizeof(sc), &r, NULL, NULL), 0);
	CHECK_EQ_INT(recjson_parse(NULL, 2, sc, sizeof(sc), &r, NULL, NULL), -EINVAL);
	CHECK(recjson_scratch_size(RECJSON_LINE_MAX + 1) == SIZE_MAX);
	CHECK_EQ_INT(recjson_parse("{}", RECJSON_LINE_MAX + 1, sc, SIZE_MAX, &r,
	                           NULL, NULL), -EMSGSIZE);
}

/* ========================= render -> parse ================================ */

static uint64_t rng_state = 0x2545f4914f6cdd1dull;

static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 11);
}

/* Random bytes (-1: null): uniform binary, or pieces that are mostly
 * ASCII and escapes with some UTF-8, with or without invalid sequences. */
static int32_t rnd_bytes(uint8_t *p, int32_t max)
{
	static const struct {
		const char *s;
		int len;
	} pieces[] = {
		{ "a", 1 }, { "Z", 1 }, { " ", 1 }, { "\"", 1 }, { "\\", 1 },
		{ "/", 1 }, { "\n", 1 }, { "\t", 1 }, { "\x01", 1 }, { "\x1f", 1 },
		{ "\x7f", 1 }, { "\0", 1 }, { "\xc3\xa9", 2 }, { "\xe2\x82\xac", 3 },
		{ "\xf0\x9f\x98\x80", 4 },
		/* not UTF-8 from here */
		{ "\xff", 1 }, { "\xc0\x80", 2 }, { "\xed\xa0\x80", 3 },
		{ "\xe2\x82", 2 },
	};
	const uint32_t nvalid = 15, nall = sizeof(pieces) / sizeof(pieces[0]);
	int kind = (int)(rnd() % 8);
	int32_t n = 0, want = (int32_t)(rnd() % (uint32_t)max);

	if (kind == 0)
		return -1;
	while (n < want) {
		if (kind == 1) {
			p[n++] = (uint8_t)rnd();
			continue;
		}
		uint32_t i = rnd() % (kind >= 4 ? nvalid : nall);
		if (n + pieces[i].len > want)
			break;
		memcpy(p + n, pieces[i].s, (size_t)pieces[i].len);
		n += pieces[i].len;
	}
	return n;
}

static void test_roundtrip_random(void)
{
	enum { CASES = 1000, MAXB = 64, MAXH = 5 };
	int b64_seen = 0, str_seen = 0;

	for (int c = 0; c < CASES; c++) {
		uint8_t key[MAXB], val[MAXB], hk[MAXH][MAXB], hv[MAXH][MAXB];
		struct rec_header h[MAXH];
		int32_t hc = (int32_t)(rnd() % (MAXH + 1));
		for (int32_t i = 0; i < hc; i++) {
			int32_t kl = rnd_bytes(hk[i], MAXB);
			h[i] = (struct rec_header){ hk[i], kl < 0 ? 0 : kl, hv[i],
			                            rnd_bytes(hv[i], MAXB) };
		}
		struct rec_in in = { .key = key, .key_len = rnd_bytes(key, MAXB),
		                     .value = val, .value_len = rnd_bytes(val, MAXB),
		                     .timestamp = (int64_t)rnd() * 1000 + rnd() % 1000,
		                     .headers = h, .header_count = hc };
		int32_t part = (int32_t)(rnd() % 1000);
		struct made m = { 0 };
		struct buf out = { 0 };
		struct recjson_src src = { "topic.x-1", part, 0, false };
		REQUIRE(make_record(&m, &in, c) == 0);
		const struct record *rec = &m.d.recs[0];
		REQUIRE(recjson_render(&out, &src, rec) == 0);
		CHECK(out.len <= recjson_render_max(&src, rec));
		REQUIRE(out.len > 0 && out.data[out.len - 1] == '\n');
		CHECK(memchr(out.data, '\n', out.len - 1) == NULL);
		if (memmem(out.data, out.len, "{\"base64\"", 9))
			b64_seen++;
		else
			str_seen++;

		size_t len = out.len - 1, need = recjson_scratch_size(len);
		char *line = malloc(len);
		void *s = malloc(need);
		REQUIRE(line && s);
		memcpy(line, out.data, len);
		struct recjson_rec r;
		const char *why = "";
		int rc = recjson_parse(line, len, s, need, &r, &why, NULL);
		if (rc)
			fprintf(stderr, "  %s: %.*s\n", why, (int)len, line);
		CHECK_EQ_INT(rc, 0);
		if (rc == 0) {
			CHECK(bytes_are(r.key, r.key_len, in.key, in.key_len));
			CHECK(bytes_are(r.value, r.value_len, in.value, in.value_len));
			CHECK_EQ_INT(r.timestamp, in.timestamp);
			CHECK_EQ_INT(r.partition, part);
			CHECK(bytes_are(r.topic, r.topic_len, "topic.x-1", 9));
			CHECK_EQ_INT(r.header_count, hc);
			for (int32_t i = 0; i < hc && i < r.header_count; i++) {
				CHECK(bytes_are(r.headers[i].key, r.headers[i].key_len,
				                h[i].key, h[i].key_len));
				CHECK(bytes_are(r.headers[i].value, r.headers[i].value_len,
				                h[i].value, h[i].value_len));
			}
			/* and back: the same line */
			struct rec_in again;
			struct made m2 = { 0 };
			struct buf out2 = { 0 };
			recjson_to_rec_in(&r, &again);
			REQUIRE(make_record(&m2, &again, c) == 0);
			REQUIRE(recjson_render(&out2, &src, &m2.d.recs[0]) == 0);
			CHECK(out2.len == out.len && memcmp(out2.data, out.data, out.len) == 0);
			buf_free(&out2);
			made_free(&m2);
		}
		/* every proper prefix is refused, read from an exact copy */
		if (c % 50 == 0) {
			for (size_t cut = 0; cut < len; cut++) {
				char *pre = malloc(cut ? cut : 1);
				REQUIRE(pre != NULL);
				memcpy(pre, line, cut);
				CHECK_EQ_INT(recjson_parse(pre, cut, s, need, &r, NULL, NULL),
				             -EINVAL);
				free(pre);
			}
		}
		free(line);
		free(s);
		buf_free(&out);
		made_free(&m);
	}
	CHECK(b64_seen > 100 && str_seen > 100);
}

int main(int argc, char **argv)
{
	TT_INIT(argc, argv);
	RUN(test_murmur2_kafka_vectors);
	RUN(test_murmur2_librdkafka_vectors);
	RUN(test_murmur2_partition);
	RUN(test_render_matches_kcat);
	RUN(test_render_logappend_and_args);
	RUN(test_render_utf8_strict);
	RUN(test_parse_forms);
	RUN(test_parse_refusals);
	RUN(test_roundtrip_random);
	return TT_DONE();
}
