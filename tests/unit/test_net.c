/*
 * test_net.c - unit tests of net/: a real store in a mkdtemp directory, a
 * real server on 127.0.0.1 port 0, and raw Kafka protocol over blocking
 * sockets.  Covers request encoding and decoding for every API served,
 * every error path (unknown topic/partition, offset out of range, bad
 * batches, bad acks, old produce versions), connection hygiene (garbage,
 * bad size prefixes, unsupported APIs and versions, pipelining, clients
 * vanishing mid-sendfile), limits and deadlines, long-poll wake-ups and
 * their latency, and the kclient consume loop.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tinytest.h"
#include "testutil.h"
#include "storage.h"
#include "net.h"
#include "kwire_internal.h"
#include "kclient_internal.h"
#include "batch_internal.h"

/* ================================ fixture ================================= */

static char g_dir[256];
static struct store *g_st;
static struct srv *g_srv;
static int g_port;

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static struct part *get_part(const char *topic, int idx)
{
	struct topic *t = NULL;
	if (store_topic_get(g_st, topic, &t))
		return NULL;
	struct part *p = topic_part(t, idx);
	topic_put(t);           /* topics live as long as the store here */
	return p;
}

static int append_values(const char *topic, int idx, const char *prefix,
                         int first, int n)
{
	struct part *p = get_part(topic, idx);
	if (!p)
		return -ENOENT;
	struct rec_in *recs = calloc((size_t)n, sizeof *recs);
	char (*vals)[64] = calloc((size_t)n, 64);
	for (int i = 0; i < n; i++) {
		snprintf(vals[i], 64, "%s%d", prefix, first + i);
		recs[i].value = vals[i];
		recs[i].value_len = (int32_t)strlen(vals[i]);
		recs[i].key_len = -1;
		recs[i].timestamp = 1000000 + first + i;
	}
	int rc = part_append(p, recs, (size_t)n, NULL);
	free(recs);
	free(vals);
	return rc;
}

static void create_topic(const char *name, int partitions)
{
	struct topic_config tc;
	struct topic *t = NULL;
	topic_config_defaults(&tc);
	tc.partitions = partitions;
	if (store_topic_create(g_st, name, &tc, &t) == 0)
		topic_put(t);
}

static int fixture_up(void)
{
	tu_tmpdir_make(g_dir, sizeof g_dir, "topicfs-test-net");
	g_st = tu_store_open(g_dir);
	if (!g_st)
		return -EIO;
	int rc;
	create_topic("t", 2);
	create_topic("empty", 1);
	/* t/0: 10 batches of 10 records "v0".."v99" (timestamps 1000000+i) */
	for (int b = 0; b < 10; b++) {
		rc = append_values("t", 0, "v", b * 10, 10);
		if (rc)
			return rc;
	}
	struct srv_config cfg;
	srv_config_defaults(&cfg);
	cfg.listen_port = 0;
	rc = srv_start(g_st, &cfg, &g_srv);
	if (rc)
		return rc;
	g_port = srv_port(g_srv);
	return 0;
}

static void fixture_down(void)
{
	if (g_srv)
		srv_stop(g_srv);
	if (g_st)
		store_close(g_st);
	if (g_dir[0])
		tu_tmpdir_remove(g_dir);
}

/* ============================= raw client ================================= */

static int tc_connect(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
	                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	struct timeval tv = { .tv_sec = 5 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fd;
}

static int send_all(int fd, const void *p, size_t len)
{
	const uint8_t *b = p;
	while (len) {
		ssize_t n = send(fd, b, len, MSG_NOSIGNAL);
		if (n <= 0)
			return -1;
		b += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Append one framed request (size prefix patched) to w. */
static void build_req(struct kw_writer *w, int16_t api, int16_t ver, int32_t corr,
                      const void *body, size_t len)
{
	size_t at = w->len;
	kw_put_i32(w, 0);
	kw_put_i16(w, api);
	kw_put_i16(w, ver);
	kw_put_i32(w, corr);
	kw_put_cstr(w, "test_net");
	kw_put(w, body, len);
	kw_patch_i32(w, at, (int32_t)(w->len - at - 4));
}

static int tc_send(int fd, int16_t api, int16_t ver, int32_t corr,
                   const struct kw_writer *body)
{
	struct kw_writer w;
	kw_writer_init(&w);
	build_req(&w, api, ver, corr, body ? body->buf : NULL, body ? body->len : 0);
	int rc = send_all(fd, w.buf, w.len);
	kw_writer_free(&w);
	return rc;
}

static int recv_all(int fd, void *p, size_t len)
{
	uint8_t *b = p;
	while (len) {
		ssize_t n = recv(fd, b, len, 0);
		if (n <= 0)
			return -1;
		b += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Receive one response; *body (malloc'd) is what follows the correlation id. */
static int tc_recv(int fd, int32_t corr, uint8_t **body, size_t *len)
{
	uint8_t hdr[8];
	if (recv_all(fd, hdr, 8))
		return -1;
	int32_t size = (int32_t)be32_get(hdr);
	if (size < 4 || (int32_t)be32_get(hdr + 4) != corr)
		return -2;
	*len = (size_t)size - 4;
	*body = malloc(*len + 1);
	if (recv_all(fd, *body, *len)) {
		free(*body);
		return -1;
	}
	return 0;
}

/* Round trip on a fresh or given connection. */
static int tc_call(int fd, int16_t api, int16_t ver, const struct kw_writer *body,
                   uint8_t **resp, size_t *len)
{
	static int32_t corr = 100;
	corr++;
	if (tc_send(fd, api, ver, corr, body))
		return -1;
	return tc_recv(fd, corr, resp, len);
}

/* true when the server closed the connection (EOF or reset) within ms. */
static bool tc_closed(int fd, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int64_t end = now_us() + (int64_t)ms * 1000;
	uint8_t buf[4096];
	while (now_us() < end) {
		int left = (int)((end - now_us()) / 1000) + 1;
		if (poll(&pfd, 1, left) <= 0)
			continue;
		ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			return true;
	}
	return false;
}

/* A working ApiVersions round trip on a fresh connection: the server is
 * still serving. */
static bool server_alive(int port)
{
	int fd = tc_connect(port);
	if (fd < 0)
		return false;
	uint8_t *resp = NULL;
	size_t len = 0;
	int rc = tc_call(fd, KAPI_API_VERSIONS, 0, NULL, &resp, &len);
	close(fd);
	bool ok = rc == 0 && len >= 2 && resp[0] == 0 && resp[1] == 0;
	free(resp);
	return ok;
}

/* ---- request builders ---- */

static void fetch_body(struct kw_writer *w, int ver, int32_t max_wait,
                       int32_t min_bytes, int32_t max_bytes, const char *topic,
                       int nparts, const int32_t *parts, const int64_t *offsets,
                       int32_t part_max)
{
	kw_put_i32(w, -1);
	kw_put_i32(w, max_wait);
	kw_put_i32(w, min_bytes);
	kw_put_i32(w, max_bytes);
	kw_put_i8(w, 0);
	if (ver >= 7) {
		kw_put_i32(w, 0);
		kw_put_i32(w, -1);
	}
	kw_put_i32(w, 1);
	kw_put_cstr(w, topic);
	kw_put_i32(w, nparts);
	for (int i = 0; i < nparts; i++) {
		kw_put_i32(w, parts[i]);
		if (ver >= 9)
			kw_put_i32(w, -1);
		kw_put_i64(w, offsets[i]);
		if (ver >= 5)
			kw_put_i64(w, -1);
		kw_put_i32(w, part_max);
	}
	if (ver >= 7)
		kw_put_i32(w, 0);
	if (ver >= 11)
		kw_put_cstr(w, "");
}

struct fpart {
	int32_t idx;
	int16_t err;
	int64_t hwm, lso, log_start;
	const uint8_t *rec;
	int32_t rec_len;
};

/* Parse a one-topic fetch response. */
static int parse_fetch(int ver, const uint8_t *b, size_t len, struct fpart *out,
                       int max)
{
	struct kw_reader r;
	const char *name;
	int nl;
	kw_reader_init(&r, b, len);
	kw_i32(&r);
	if (ver >= 7) {
		if (kw_i16(&r) != 0)
			return -1;
		kw_i32(&r);
	}
	if (kw_i32(&r) != 1)
		return -1;
	kw_str(&r, &name, &nl);
	int32_t n = kw_i32(&r);
	if (n > max)
		return -1;
	for (int i = 0; i < n; i++) {
		out[i].idx = kw_i32(&r);
		out[i].err = kw_i16(&r);
		out[i].hwm = kw_i64(&r);
		out[i].lso = kw_i64(&r);
		out[i].log_start = ver >= 5 ? kw_i64(&r) : -1;
		int32_t na = kw_i32(&r);
		if (na > 0)
			kw_skip(&r, (size_t)na * 16);
		if (ver >= 11)
			kw_i32(&r);
		kw_bytes(&r, &out[i].rec, &out[i].rec_len);
	}
	if (r.err || r.pos != len)
		return -1;
	return n;
}

/* Decode record values from fetched bytes (whole batches only). */
static int collect_values(const uint8_t *rec, int32_t len, int64_t from,
                          char vals[][64], int max, int64_t *first_base)
{
	int n = 0;
	size_t pos = 0;
	while (len > 0 && (size_t)len - pos >= 12) {
		struct batch_header h;
		if (batch_parse_header(rec + pos, (size_t)len - pos, &h))
			break;
		size_t blen = (size_t)h.length + 12;
		if (first_base && pos == 0)
			*first_base = h.base_offset;
		struct batch_decoded d;
		if (batch_decode(rec + pos, blen, 1 << 26, &d))
			return -1;
		for (size_t i = 0; i < d.nrecs; i++) {
			if (d.recs[i].offset < from || n >= max)
				continue;
			snprintf(vals[n++], 64, "%.*s", d.recs[i].value_len,
			         (const char *)d.recs[i].value);
		}
		batch_decoded_free(&d);
		pos += blen;
	}
	return n;
}

/* ================================= tests ================================== */

static void test_api_versions(void)
{
	int fd = tc_connect(g_port);
	REQUIRE(fd >= 0);
	for (int v = 0; v <= 2; v++) {
		uint8_t *b;
		size_t len;
		REQUIRE(tc_call(fd, KAPI_API_VERSIONS, (int16_t)v, NULL, &b, &len) == 0);
		struct kw_reader r;
		kw_reader_init(&r, b, len);
		CHECK_EQ_INT(kw_i16(&r), 0);
		int32_t n = kw_i32(&r);
		CHECK(n >= 7);                  /* others: each checked below */
		int found = 0;
		for (int i = 0; i < n; i++) {
			int16_t k = kw_i16(&r), mn = kw_i16(&r), mx = kw_i16(&r);
			if (k == 0) { CHECK_EQ_INT(mn, 0); CHECK_EQ_INT(mx, 11); found++; }
			if (k == 1) { CHECK_EQ_INT(mn, 4); CHECK_EQ_INT(mx, 16); found++; }
			if (k == 2) { CHECK_EQ_INT(mx, 8); found++; }
			if (k == 3) { CHECK_EQ_INT(mx, 12); found++; }
			if (k == 10) { CHECK_EQ_INT(mx, 4); found++; }
			if (k == 18) { CHECK_EQ_INT(mx, 4); found++; }
			if (k == 32) { CHECK_EQ_INT(mx, 4); found++; }
			if (k == 33) { CHECK_EQ_INT(mx, 2); found++; }
			if (k == 44) { CHECK_EQ_INT(mx, 1); found++; }
			if (k == 22) { CHECK_EQ_INT(mx, 5); found++; }
		}
		CHECK_EQ_INT(found, 10);
		if (v >= 1)
			CHECK_EQ_INT(kw_i32(&r), 0);
		CHECK(!r.err && r.pos == len);
		free(b);
	}
	/* v5 (flexible header as a newer client sends it): the v0 fallback */
	struct kw_writer w;
	kw_writer_init(&w);
	kw_put_i32(&w, 0);
	kw_put_i16(&w, KAPI_API_VERSIONS);
	kw_put_i16(&w, 5);
	kw_put_i32(&w, 77);
	kw_put_cstr(&w, "rdkafka");
	kw_put_i8(&w, 0);                   /* header tags */
	kw_put_i8(&w, 8); kw_put(&w, "librdka", 7);   /* compact string */
	kw_put_i8(&w, 6); kw_put(&w, "2.0.2", 5);
	kw_put_i8(&w, 0);                   /* body tags */
	kw_patch_i32(&w, 0, (int32_t)(w.len - 4));
	REQUIRE(send_all(fd, w.buf, w.len) == 0);
	kw_writer_free(&w);
	uint8_t *b;
	size_t len;
	REQUIRE(tc_recv(fd, 77, &b, &len) == 0);
	CHECK_EQ_INT(len, 2 + 4 + 6);
	struct kw_reader r;
	kw_reader_init(&r, b, len);
	CHECK_EQ_INT(kw_i16(&r), 35);
	CHECK_EQ_INT(kw_i32(&r), 1);
	CHECK_EQ_INT(kw_i16(&r), 18);
	CHECK_EQ_INT(kw_i16(&r), 0);
	CHECK_EQ_INT(kw_i16(&r), 4);
	free(b);
	/* the connection still serves a v0 retry */
	REQUIRE(tc_call(fd, KAPI_API_VERSIONS, 0, NULL, &b, &len) == 0);
	free(b);
	close(fd);
}

/* Parse a Metadata response; returns the number of topics, fills names
 * (up to 8), partition counts and errors. */
static int parse_metadata(int v, const uint8_t *b, size_t len, char names[][64],
                          int *nparts, int *errs, char *host, int *port)
{
	struct kw_reader r;
	const char *s;
	int sl;
	kw_reader_init(&r, b, len);
	if (v >= 3)
		kw_i32(&r);
	if (kw_i32(&r) != 1)
		return -1;
	if (kw_i32(&r) != 0)
		return -1;
	kw_str(&r, &s, &sl);
	snprintf(host, 64, "%.*s", sl, s);
	*port = kw_i32(&r);
	if (v >= 1) {
		kw_str(&r, &s, &sl);
		if (sl != -1)
			return -1;
	}
	if (v >= 2) {
		kw_str(&r, &s, &sl);
		if (sl != 7 || memcmp(s, "topicfs", 7))
			return -1;
	}
	if (v >= 1 && kw_i32(&r) != 0)
		return -1;
	int32_t nt = kw_i32(&r);
	for (int i = 0; i < nt && !r.err; i++) {
		int16_t err = kw_i16(&r);
		kw_str(&r, &s, &sl);
		if (i < 8) {
			snprintf(names[i], 64, "%.*s", sl, s);
			errs[i] = err;
		}
		if (v >= 1)
			kw_i8(&r);
		int32_t np = kw_i32(&r);
		if (i < 8)
			nparts[i] = np;
		for (int j = 0; j < np && !r.err; j++) {
			kw_i16(&r);
			if (kw_i32(&r) != j || kw_i32(&r) != 0)
				return -1;
			if (kw_i32(&r) != 1 || kw_i32(&r) != 0)
				return -1;
			if (kw_i32(&r) != 1 || kw_i32(&r) != 0)
				return -1;
		}
	}
	if (r.err || r.pos != len)
		return -1;
	return nt;
}

static void test_metadata(void)
{
	int fd = tc_connect(g_port);
	REQUIRE(fd >= 0);
	for (int v = 0; v <= 4; v++) {
		struct kw_writer w;
		kw_writer_init(&w);
		kw_put_i32(&w, v == 0 ? 0 : -1);    /* all topics */
		if (v >= 4)
			kw_put_i8(&w, 0);
		uint8_t *b;
		size_t len;
		REQUIRE(tc_call(fd, KAPI_METADATA, (int16_t)v, &w, &b, &len) == 0);
		kw_writer_free(&w);
		char names[8][64], host[64];
		int np[8], errs[8], port;
		int n = parse_metadata(v, b, len, names, np, errs, host, &port);
		CHECK_EQ_INT(n, 2);
		CHECK(!strcmp(names[0], "empty"));
		CHECK(!strcmp(names[1], "t"));
		CHECK_EQ_INT(np[1], 2);
		CHECK_EQ_INT(np[0], 1);
		CHECK(!strcmp(host, "127.0.0.1"));
		CHECK_EQ_INT(port, g_port);
		free(b);
	}
	/* v1: empty array = no topics; v4: a named unknown topic -> 3 */
	struct kw_writer w;
	kw_writer_init(&w);
	kw_put_i32(&w, 0);
	uint8_t *b;
	size_t len;
	REQUIRE(tc_call(fd, KAPI_METADATA, 1, &w, &b, &len) == 0);
	char names[8][64], host[64];
	int np[8], errs[8], port;
	CHECK_EQ_INT(parse_metadata(1, b, len, names, np, errs, host, &port), 0);
	free(b);
	w.len = 0;
	kw_put_i32(&w, 3);
	kw_put_cstr(&w, "t");
	kw_put_cstr(&w, "nosuch");
	kw_put_cstr(&w, "bad/name");
	kw_put_i8(&w, 1);
	REQUIRE(tc_call(fd, KAPI_METADATA, 4, &w, &b, &len) == 0);
	CHECK_EQ_INT(parse_metadata(4, b, len, names, np, errs, host, &port), 3);
	CHECK_EQ_INT(errs[0], 0);
	CHECK_EQ_INT(np[0], 2);
	CHECK_EQ_INT(errs[1], 3);
	CHECK_EQ_INT(np[1], 0);
	CHECK_EQ_INT(errs[2], 17);
	free(b);
	kw_writer_free(&w);
	close(fd);
}

static void test_list_offsets(void)
{
	int fd = tc_connect(g_port);
	REQUIRE(fd >= 0);
	const int64_t ts[] = { -2, -1, 1000000 + 42, 5000000, 0 };
	const int64_t want[] = { 0, 100, 42, -1, 0 };
	for (int v = 0; v <= 2; v++) {
		struct kw_writer w;
		kw_writer_init(&w);
		kw_put_i32(&w, -1);
		if (v >= 2)
			kw_put_i8(&w, 0);
		kw_put_i32(&w, 2);
		kw_put_cstr(&w, "t");
		kw_put_i32(&w, 6);
		for (int i = 0; i < 6; i++) {
			kw_put_i32(&w, i < 5 ? 0 : 7);      /* partition 7: unknown */
			kw_put_i64(&w, i < 5 ? ts[i] : -1);
			if (v == 0)
				kw_put_i32(&w, 1);
		}
		kw_put_cstr(&w, "nosuch");
		kw_put_i32(&w, 1);
		kw_put_i32(&w, 0);
		kw_put_i64(&w, -1);
		if (v == 0)
			kw_put_i32(&w, 1);
		uint8_t *b;
		size_t len;
		REQUIRE(tc_call(fd, KAPI_LIST_OFFSETS, (int16_t)v, &w, &b, &len) == 0);
		kw_writer_free(&w);
		struct kw_reader r;
		const char *s;
		int sl;
		kw_reader_init(&r, b, len);
		if (v >= 2)
			CHECK_EQ_INT(kw_i32(&r), 0);
		CHECK_EQ_INT(kw_i32(&r), 2);
		kw_str(&r, &s, &sl);
		CHECK_EQ_INT(kw_i32(&r), 6);
		for (int i = 0; i < 6; i++) {
			CHECK_EQ_INT(kw_i32(&r), i < 5 ? 0 : 7);
			int16_t err = kw_i16(&r);
			CHECK_EQ_INT(err, i < 5 ? 0 : 3);
			int64_t off = -1, rts = -1;
			if (v == 0) {
				int32_t n = kw_i32(&r);
				if (n == 1)
					off = kw_i64(&r);
				CHECK_EQ_INT(n, (i < 5 && want[i] >= 0) ? 1 : 0);
			} else {
				rts = kw_i64(&r);
				off = kw_i64(&r);
				if (i == 2)
					CHECK_EQ_INT(rts, 1000000 + 42);
				if (i == 4)
					CHECK_EQ_INT(rts, 1000000);
			}
			if (i < 5)
				CHECK_EQ_INT(off, want[i]);
		}
		kw_str(&r, &s, &sl);
		CHECK(sl == 6 && !memcmp(s, "nosuch", 6));
		CHECK_EQ_INT(kw_i32(&r), 1);
		CHECK_EQ_INT(kw_i32(&r), 0);
		CHECK_EQ_INT(kw_i16(&r), 3);
		if (v == 0) {
			CHECK_EQ_INT(kw_i32(&r), 0);
		} else {
			CHECK_EQ_INT(kw_i64(&r), -1);
			CHECK_EQ_INT(kw_i64(&r), -1);
		}
		CHECK(!r.err && r.pos == len);
		free(b);
	}
	close(fd);
}

static int do_fetch(int fd, int ver, int32_t max_wait, int32_t min_bytes,
                    int32_t max_bytes, const char *topic, int nparts,
                    const int32_t *parts, const int64_t *offs, int32_t part_max,
                    uint8_t **b, struct fpart *out)
{
	struct kw_writer w;
	size_t len;
	kw_writer_init(&w);
	fetch_body(&w, ver, max_wait, min_bytes, max_bytes, topic, nparts, parts,
	           offs, part_max);
	int rc = tc_call(fd, KAPI_FETCH, (int16_t)ver, &w, b, &len);
	kw_writer_free(&w);
	if (rc)
		return -100 + rc;
	return parse_fetch(ver, *b, len, out, 8);
}

static void test_fetch_basic(void)
{
	int fd = tc_connect(g_port);
	REQUIRE(fd >= 0);
	const int vers[] = { 4, 5, 7, 9, 10, 11 };
	for (size_t k = 0; k < sizeof vers / sizeof vers[0]; k++) {
		int v = vers[k];
		int32_t part = 0;
		int64_t off = 0;
		uint8_t *b;
		struct fpart fp[8];
		REQUIRE(do_fetch(fd, v, 0, 1, 1 << 20, "t", 1, &part, &off, 1 << 20,
		                 &b, fp) == 1);
		CHECK_EQ_INT(fp[0].err, 0);
		CHECK_EQ_INT(fp[0].hwm, 100);
		CHECK_EQ_INT(fp[0].lso, 100);
		if (v >= 5)
			CHECK_EQ_INT(fp[0].log_start, 0);
		char vals[128][64];
		int n = collect_values(fp[0].rec, fp[0].rec_len, 0, vals, 128, NULL);
		CHECK_EQ_INT(n, 100);
		CHECK(n == 100 && !strcmp(vals[0], "v0") && !strcmp(vals[99], "v99"));
		free(b);
	}
	/* an offset in the middle of a batch returns that batch */
	int32_t part = 0;
	int64_t off = 35;
	uint8_t *b;
	struct fpart fp[8];
	REQUIRE(do_fetch(fd, 4, 0, 1, 1 << 20, "t", 1, &part, &off, 1 << 20, &b, fp) == 1);
	int64_t base = -1;
	char vals[128][64];
	CHECK_EQ_INT(collect_values(fp[0].rec, fp[0].rec_len, 35, vals, 128, &base), 65);
	CHECK_EQ_INT(base, 30);
	free(b);
	/* at the end: empty, no error */
	off = 100;
	REQUIRE(do_fetch(fd, 11, 0, 1, 1 << 20, "t", 1, &part, &off, 1 << 20, &b, fp) == 1);
	CHECK_EQ_INT(fp[0].err, 0);
	CHECK_EQ_INT(fp[0].rec_len, 0);
	CHECK_EQ_INT(fp[0].hwm, 100);
	free(b);
	/* past the end and negative: OFFSET_OUT_OF_RANGE */
	const int64_t bad[] = { 101, -5 };
	for (int i = 0; i < 2; i++) {
		off = bad[i];
		REQUIRE(do_fetch(fd, 11, 0, 1, 1 << 20, "t", 1, &part, &off, 1 << 20, &b,
		                 fp) == 1);
		CHECK_EQ_INT(fp[0].err, 1);
		CHECK_EQ_INT(fp[0].rec_len, 0);
		CHECK_EQ_INT(fp[0].hwm, -1);
		free(b);
	}
	/* unknown partition and unknown topic: 3, answered at once even with a
	 * long MaxWaitMs */
	part = 9;
	off = 0;
	int64_t t0 = now_us();
	REQUIRE(do_fetch(fd, 11, 5000, 1, 1 << 20, "t", 1, &part, &off, 1 << 20, &b,
	                 fp) == 1);
	CHECK_EQ_INT(fp[0].err, 3);
	free(b);
	part = 0;
	REQUIRE(do_fetch(fd, 4, 5000, 1, 1 << 20, "nosuch", 1, &part, &off, 1 << 20,
	                 &b, fp) == 1);
	CHECK_EQ_INT(fp[0].err, 3);
	CHECK_EQ_INT(fp[0].rec_len, 0);
	CHECK(now_us() - t0 < 1000000);
	free(b);
	close(fd);
}

static void test_fetch_limits(void)
{
	int fd = tc_connect(g_port);
	REQUIRE(fd >= 0);
	uint8_t *b;
	struct fpart fp[8];
	char vals[128][64];
	/* batches from offset 10 on all have the same size ("v10".."v99") */
	/* MaxBytes smaller than a batch: the first batch still comes whole */
	int32_t part = 0;
	int64_t off = 10;
	REQUIRE(do_fetch(fd, 11, 0, 1, 10, "t", 1, &part, &off, 10, &b, fp) == 1);
	CHECK_EQ_INT(collect_values(fp[0].rec, fp[0].rec_len, 0, vals, 128, NULL), 10);
	int32_t one_batch = fp[0].rec_len;
	free(b);
	/* PartMaxBytes of 2.5 batches: whole batches only, 2 of them */
	REQUIRE(do_fetch(fd, 11, 0, 1, 1 << 20, "t", 1, &part, &off,
	                 one_batch * 5 / 2, &b, fp) == 1);
	CHECK_EQ_INT(fp[0].rec_len, 2 * one_batch);
	free(b);
	/* MaxBytes of 2.5 batches over PartMaxBytes of 1 MiB: the same */
	REQUIRE(do_fetch(fd, 11, 0, 1, one_batch * 5 / 2, "t", 1, &part, &off,
	                 1 << 20, &b, fp) == 1);
	CHECK_EQ_INT(fp[0].rec_len, 2 * one_batch);
	free(b);
	/* two partitions sharing MaxBytes (t/0 twice, at offsets 10 and 50):
	 * the first fills the budget, the second gets empty records */
	int32_t parts[2] = { 0, 0 };
	int64_t offs[2] = { 10, 50 };
	REQUIRE(do_fetch(fd, 11, 0, 1, one_batch, "t", 2, parts, offs, 1 << 20, &b,
	                 fp) == 2);
	CHECK_EQ_INT(fp[0].rec_len, one_batch);
	CHECK_EQ_INT(fp[1].rec_len, 0);       /* budget spent: empty, no error */
	CHECK_EQ_INT(fp[1].err, 0);
	CHECK_EQ_INT(fp[1].hwm, 100);
	free(b);
	/* the first partition empty: the second one's first batch comes whole */
	offs[0] = 100;
	REQUIRE(do_fetch(fd, 11, 0, 1, 5, "t", 2, parts, offs, 5, &b, fp) == 2);
	CHECK_EQ_INT(fp[0].rec_len, 0);
	CHECK_EQ_INT(fp[1].rec_len, one_batch);
	free(b);
	close(fd);
}

struct appender {
	int delay_ms;
	const char *topic;
	int part;
	int first;
	int64_t t_append_us;
};

static void *appender_main(void *arg)
{
	struct appender *a = arg;
	usleep((useconds_t)a->delay_ms * 1000);
	a->t_append_us = now_us();
	append_values(a->topic, a->part, "late", a->first, 1);
	return NULL;
}

static void test_long_poll(void)
{
	int fd = tc_connect(g_port);
	REQUIRE(fd >= 0);
	uint8_t *b;
	struct fpart fp[8];
	char vals[8][64];
	/* nothing arrives: answered empty after MaxWaitMs */
	int32_t part = 0;
	int64_t off = 0;
	int64_t t0 = now_us();
	REQUIRE(do_fetch(fd, 11, 300, 1, 1 << 20, "empty", 1, &part, &off, 1 << 20,
	                 &b, fp) == 1);
	int64_t el = now_us() - t0;
	CHECK_EQ_INT(fp[0].err, 0);
	CHECK_EQ_INT(fp[0].rec_len, 0);
	CHECK(el >= 290000 && el < 1500000);
	free(b);
	/* an append from another thread wakes the parked fetch */
	struct appender a = { .delay_ms = 200, .topic = "empty", .part = 0, .first = 0 };
	pthread_t th;
	pthread_create(&th, NULL, appender_main, &a);
	t0 = now_us();
	REQUIRE(do_fetch(fd, 11, 5000, 1, 1 << 20, "empty", 1, &part, &off, 1 << 20,
	                 &b, fp) == 1);
	int64_t t1 = now_us();
	pthread_join(th, NULL);
	CHECK_EQ_INT(fp[0].err, 0);
	CHECK_EQ_INT(collect_values(fp[0].rec, fp[0].rec_len, 0, vals, 8, NULL), 1);
	CHECK(!strcmp(vals[0], "late0"));
	CHECK(t1 - t0 < 2000000);
	CHECK(t1 - a.t_append_us < 100000);
	free(b);
	/* MinBytes: a 1-record append is not enough for MinBytes 100000; the
	 * answer comes at MaxWaitMs with what is there */
	off = 1;
	a = (struct appender){ .delay_ms = 50, .topic = "empty", .part = 0, .first = 1 };
	pthread_create(&th, NULL, appender_main, &a);
	t0 = now_us();
	REQUIRE(do_fetch(fd, 11, 400, 100000, 1 << 20, "empty", 1, &part, &off,
	                 1 << 20, &b, fp) == 1);
	el = now_us() - t0;
	pthread_join(th, NULL);
	CHECK(el >= 390000);
	CHECK_EQ_INT(collect_values(fp[0].rec, fp[0].rec_len, 1, vals, 8, NULL), 1);
	free(b);
	/* a client that hangs up while parked is forgotten */
	int fd2 = tc_connect(g_port);
	struct kw_writer w;
	kw_writer_init(&w);
	off = 2;
	fetch_body(&w, 11, 5000, 1, 1 << 20, "empty", 1, &part, &off, 1 << 20);
	tc_send(fd2, KAPI_FETCH, 11, 1, &w);
	kw_writer_free(&w);
	usleep(50000);
	close(fd2);
	usleep(50000);
	append_values("empty", 0, "late", 2, 1);
	CHECK(server_alive(g_port));
	close(fd);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

/* Append -> long-polling consumer latency, in this process: the fetch is
 * parked, then this thread appends and waits for the answer. */
static void test_long_poll_latency(void)
{
	create_topic("lat", 1);
	int fd = tc_connect(g_port);
	REQUIRE(fd >= 0);
	enum { N = 300 };
	static int64_t lat[N];
	int32_t part = 0;
	int ok = 0;
	for (int i = 0; i < N; i++) {
		struct kw_writer w;
		kw_writer_init(&w);
		int64_t off = i;
		fetch_body(&w, 11, 5000, 1, 1 << 20, "lat", 1, &part, &off, 1 << 20);
		REQUIRE(tc_send(fd, KAPI_FETCH, 11, 5000 + i, &w) == 0);
		kw_writer_free(&w);
		usleep(1000);           /* let it park */
		int64_t t0 = now_us();
		REQUIRE(append_values("lat", 0, "x", i, 1) == 0);
		uint8_t *b;
		size_t len;
		REQUIRE(tc_recv(fd, 5000 + i, &b, &len) == 0);
		lat[i] = now_us() - t0;
		struct fpart fp[2];
		if (parse_fetch(11, b, len, fp, 2) == 1 && fp[0].rec_len > 0)
			ok++;
		free(b);
	}
	CHECK_EQ_INT(ok, N);
	qsort(lat, N, sizeof lat[0], cmp_i64);
	fprintf(stderr, "  append -> long-poll fetch latency: p50 %lld us, p99 %lld us, "
	        "max %lld us (n=%d)\n", (long long)lat[N / 2],
	        (long long)lat[N * 99 / 100], (long long)lat[N - 1], N);
	CHECK(lat[N / 2] < 20000);
	close(fd);
}

/* ---- produce ---- */

static uint8_t *make_batch(int n, const char *prefix, int codec, size_t *len)
{
	struct rec_in *recs = calloc((size_t)n, sizeof *recs);
	char (*vals)[64] = calloc((size_t)n, 64);
	for (int i = 0; i < n; i++) {
		snprintf(vals[i], 64, "%s%d %s", prefix, i,
		         "some padding so compression has something to chew on");
		recs[i].value = vals[i];
		recs[i].value_len = (int32_t)strlen(vals[i]);
		recs[i].key_len = -1;
		recs[i].timestamp = -1;
	}
	uint8_t *out = NULL;
	if (batch_encode(recs, (size_t)n, 0, codec, 1700000000000, &out, len))
		out = NULL;
	free(recs);
	free(vals);
	return out;
}

static void produce_body(struct kw_writer *w, int v, int16_t acks, const char *topic,
                         int32_t part, const void *rec, int32_t rec_len)
{
	if (v >= 3)
		kw_put_str(w, NULL, -1);
	kw_put_i16(w, acks);
	kw_put_i32(w, 1000);
	kw_put_i32(w, 1);
	kw_put_cstr(w, topic);
	kw_put_i32(w, 1);
	kw_put_i32(w, part);
	kw_put_i32(w, rec_len);
	if (rec_len > 0)
		kw_put(w, rec, (size_t)rec_len);
}

/* Produce one partition; returns the error code, *base the offset. */
static int do_produce(int fd, int v, int16_t acks, const char *topic, int32_t part,
                      const void *rec, int32_t rec_len, int64_t *base)
{
	struct kw_writer w;
	kw_writer_init(&w);
	produce_body(&w, v, acks, topic, part, rec, rec_len);
	uint8_t *b;
	size_t len;
	int rc = tc_call(fd, KAPI_PRODUCE, (int16_t)v, &w, &b, &len);
	kw_writer_free(&w);
	if (rc)
		return -1000;
	struct kw_reader r;
	const char *s;
	int sl;
	kw_reader_init(&r, b, len);
	if (kw_i32(&r) != 1)
		rc = -1001;
	kw_str(&r, &s, &sl);
	if (kw_i32(&r) != 1 || kw_i32(&r) != part)
		rc = -1002;
	int16_t err = kw_i16(&r);
	*base = kw_i64(&r);
	if (v >= 2)
		CHECK_EQ_INT(kw_i64(&r), -1);
	if (v >= 5)
		kw_i64(&r);
	if (v >= 1)
		CHECK_EQ_INT(kw_i32(&r), 0);
	if (r.err || r.pos != len)
		rc = -1003;
	free(b);
	return rc ? rc : err;
}

static void test_produce(void)
{
	create_topic("p", 1);
	int fd = tc_connect(g_port);
	REQUIRE(fd >= 0);
	size_t len, zlen, llen;
	uint8_t *batch = make_batch(5, "a", CODEC_NONE, &len);
	uint8_t *zb = make_batch(200, "z", CODEC_ZSTD, &zlen);
	uint8_t *lb = make_batch(200, "l", CODEC_LZ4, &llen);
	REQUIRE(batch && zb && lb);
	int64_t base = -7;
	for (int v = 3; v <= 7; v++) {
		CHECK_EQ_INT(do_produce(fd, v, 1, "p", 0, batch, (int32_t)len, &base), 0);
		CHECK_EQ_INT(base, (v - 3) * 5);
	}
	CHECK_EQ_INT(do_produce(fd, 7, -1, "p", 0, lb, (int32_t)llen, &base), 0);
	CHECK_EQ_INT(base, 25);
	CHECK_EQ_INT(do_produce(fd, 7, -1, "p", 0, zb, (int32_t)zlen, &base), 0);
	CHECK_EQ_INT(base, 225);
	/* zstd below v7 */
	CHECK_EQ_INT(do_produce(fd, 6, 1, "p", 0, zb, (int32_t)zlen, &base), 76);
	CHECK_EQ_INT(base, -1);
	/* bad acks */
	CHECK_EQ_INT(do_produce(fd, 7, 2, "p", 0, batch, (int32_t)len, &base), 21);
	/* unknown topic and partition */
	CHECK_EQ_INT(do_produce(fd, 7, 1, "nosuch", 0, batch, (int32_t)len, &base), 3);
	CHECK_EQ_INT(do_produce(fd, 7, 1, "p", 4, batch, (int32_t)len, &base), 3);
	/* corrupt CRC */
	uint8_t *bad = malloc(len * 2);
	memcpy(bad, batch, len);
	bad[len - 1] ^= 0x55;
	CHECK_EQ_INT(do_produce(fd, 7, 1, "p", 0, bad, (int32_t)len, &base), 2);
	/* truncated */
	CHECK_EQ_INT(do_produce(fd, 7, 1, "p", 0, batch, 40, &base), 2);
	/* two batches in one */
	memcpy(bad, batch, len);
	memcpy(bad + len, batch, len);
	CHECK_EQ_INT(do_produce(fd, 7, 1, "p", 0, bad, (int32_t)(2 * len), &base), 87);
	/* empty records */
	CHECK_EQ_INT(do_produce(fd, 7, 1, "p", 0, NULL, -1, &base), 87);
	/* a non-zero BaseOffset is an invalid record */
	memcpy(bad, batch, len);
	batch_set_base_offset(bad, 5);
	CHECK_EQ_INT(do_produce(fd, 7, 1, "p", 0, bad, (int32_t)len, &base), 87);
	/* old message format versions */
	CHECK_EQ_INT(do_produce(fd, 2, 1, "p", 0, batch, (int32_t)len, &base), 43);
	CHECK_EQ_INT(do_produce(fd, 0, 1, "p", 0, batch, (int32_t)len, &base), 43);
	/* acks 0: no answer; the next request on the connection is answered */
	struct kw_writer w;
	kw_writer_init(&w);
	produce_body(&w, 7, 0, "p", 0, batch, (int32_t)len);
	REQUIRE(tc_send(fd, KAPI_PRODUCE, 7, 4242, &w) == 0);
	kw_writer_free(&w);
	uint8_t *b;
	size_t blen;
	REQUIRE(tc_call(fd, KAPI_API_VERSIONS, 1, NULL, &b, &blen) == 0);
	free(b);
	/* everything reads back: 5*5 + 200 + 200 + 5 records */
	struct part *p = get_part("p", 0);
	struct part_info pi;
	part_info(p, &pi);
	CHECK_EQ_INT(pi.next_offset, 430);
	/* fetch it back and compare values, compressed batches as stored */
	int32_t part = 0;
	int64_t off = 25;
	struct fpart fp[2];
	REQUIRE(do_fetch(fd, 11, 0, 1, 1 << 20, "p", 1, &part, &off, 1 << 20, &b, fp) == 1);
	static char vals[512][64];
	CHECK_EQ_INT(collect_values(fp[0].rec, fp[0].rec_len, 25, vals, 512, NULL), 405);
	CHECK(!strncmp(vals[0], "l0 ", 3));
	CHECK(!strncmp(vals[200], "z0 ", 3));
	CHECK(!strncmp(vals[400], "a0 ", 3));
	struct batch_header h;
	REQUIRE(batch_parse_header(fp[0].rec, (size_t)fp[0].rec_len, &h) == 0);
	CHECK_EQ_INT(h.attributes & 7, CODEC_LZ4);
	CHECK(memcmp(fp[0].rec + 12, lb + 12, llen - 12) == 0);    /* as-is */
	free(b);
	free(bad);
	free(batch);
	free(zb);
	free(lb);
	close(fd);
}

static void test_find_coordinator(void)
{
	int fd = tc_connect(g_port);
	REQUIRE(fd >= 0);
	struct kw_writer w;
	kw_writer_init(&w);
	kw_put_cstr(&w, "group");
	uint8_t *b;
	size_t len;
	REQUIRE(tc_call(fd, KAPI_FIND_COORDINATOR, 0, &w, &b, &len) == 0);
	kw_writer_free(&w);
	struct kw_reader r;
	const char *s;
	int sl;
	kw_reader_init(&r, b, len);
	CHECK_EQ_INT(kw_i16(&r), 0);                /* this node coordinates */
	CHECK_EQ_INT(kw_i32(&r), 0);
	kw_str(&r, &s, &sl);
	CHECK(sl == 9 && !memcmp(s, "127.0.0.1", 9));
	CHECK_EQ_INT(kw_i32(&r), g_port);
	CHECK(!r.err && r.pos == len);
	free(b);
	close(fd);
}

/* ============================ flexible versions =========================== */

/* Every prefix of buf shorter than len must fail with f. */
#define ALL_TRUNCATIONS_FAIL(buf, len, stmt) do {                           \
		for (size_t cut_ = 0; cut_ < (len); cut_++) {               \
			struct kw_reader r;                                 \
			kw_reader_init(&r, (buf), cut_);                    \
			stmt;                                               \
			CHECK(r.err);                                       \
		}                                                           \
	} while (0)

static void test_flex_primitives(void)
{
	static const uint32_t vals[] = { 0, 1, 127, 128, 300, 16383, 16384,
	                                 2097151, 2097152, 268435455, 268435456,
	                                 INT32_MAX, UINT32_MAX };
	for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
		struct kw_writer w;
		kw_writer_init(&w);
		kw_put_uvarint(&w, vals[i]);
		struct kw_reader r;
		kw_reader_init(&r, w.buf, w.len);
		CHECK(kw_uvarint(&r) == vals[i]);
		CHECK(!r.err && r.pos == w.len);
		ALL_TRUNCATIONS_FAIL(w.buf, w.len, (void)kw_uvarint(&r));
		kw_writer_free(&w);
	}
	/* longer than 5 bytes, or more than 32 bits: refused */
	{
		static const uint8_t six[] = { 0x80, 0x80, 0x80, 0x80, 0x80, 0x00 };
		static const uint8_t big[] = { 0xff, 0xff, 0xff, 0xff, 0x1f };
		static const uint8_t max[] = { 0xff, 0xff, 0xff, 0xff, 0x0f };
		struct kw_reader r;
		kw_reader_init(&r, six, sizeof six);
		kw_uvarint(&r);
		CHECK(r.err);
		kw_reader_init(&r, big, sizeof big);
		kw_uvarint(&r);
		CHECK(r.err);
		kw_reader_init(&r, max, sizeof max);
		CHECK(kw_uvarint(&r) == UINT32_MAX && !r.err);
	}
	/* compact strings: a value, empty, null */
	{
		struct kw_writer w;
		kw_writer_init(&w);
		kw_put_cstr_compact(&w, "hello", 5);
		kw_put_cstr_compact(&w, "", 0);
		kw_put_cstr_compact(&w, NULL, -1);
		CHECK_EQ_INT(w.len, 1 + 5 + 1 + 1);
		struct kw_reader r;
		const char *s;
		int sl;
		kw_reader_init(&r, w.buf, w.len);
		CHECK(kw_cstr(&r, &s, &sl) && sl == 5 && !memcmp(s, "hello", 5));
		CHECK(kw_cstr(&r, &s, &sl) && sl == 0 && s);
		CHECK(kw_cstr(&r, &s, &sl) && sl == -1 && !s);
		CHECK(!r.err && r.pos == w.len);
		ALL_TRUNCATIONS_FAIL(w.buf, 6, kw_cstr(&r, &s, &sl));
		/* vstr agrees with both encodings */
		w.len = 0;
		kw_put_vstr(&w, false, "ab", 2);
		kw_put_vstr(&w, true, "ab", 2);
		kw_reader_init(&r, w.buf, w.len);
		CHECK(kw_vstr(&r, false, &s, &sl) && sl == 2);
		CHECK(kw_vstr(&r, true, &s, &sl) && sl == 2 && r.pos == w.len);
		/* a length over Kafka's string limit */
		w.len = 0;
		kw_put_uvarint(&w, 40000);
		kw_reader_init(&r, w.buf, w.len);
		CHECK(!kw_cstr(&r, &s, &sl) && r.err);
		kw_writer_free(&w);
	}
	/* compact bytes */
	{
		struct kw_writer w;
		kw_writer_init(&w);
		kw_put_vbytes_len(&w, true, 3);
		kw_put(&w, "xyz", 3);
		kw_put_vbytes_len(&w, true, -1);
		struct kw_reader r;
		const uint8_t *b;
		int32_t bl;
		kw_reader_init(&r, w.buf, w.len);
		CHECK(kw_cbytes(&r, &b, &bl) && bl == 3 && !memcmp(b, "xyz", 3));
		CHECK(kw_cbytes(&r, &b, &bl) && bl == -1 && !b);
		CHECK(!r.err && r.pos == w.len);
		ALL_TRUNCATIONS_FAIL(w.buf, 4, kw_cbytes(&r, &b, &bl));
		kw_writer_free(&w);
	}
	/* compact arrays: counts checked against the bytes left; null */
	{
		struct kw_writer w;
		kw_writer_init(&w);
		kw_put_carray(&w, 2);
		kw_put_i32(&w, 1);
		kw_put_i32(&w, 2);
		struct kw_reader r;
		kw_reader_init(&r, w.buf, w.len);
		CHECK_EQ_INT(kw_carray(&r, 4, false), 2);
		kw_reader_init(&r, w.buf, w.len - 1);
		kw_carray(&r, 4, false);
		CHECK(r.err);                       /* 2 x 4 > 7 bytes left */
		w.len = 0;
		kw_put_carray(&w, -1);
		kw_reader_init(&r, w.buf, w.len);
		CHECK_EQ_INT(kw_carray(&r, 4, true), -1);
		CHECK(!r.err);
		kw_reader_init(&r, w.buf, w.len);
		kw_carray(&r, 4, false);
		CHECK(r.err);                       /* null where not allowed */
		w.len = 0;
		kw_put_uvarint(&w, UINT32_MAX);     /* count 2^32 - 2 */
		kw_reader_init(&r, w.buf, w.len);
		kw_carray(&r, 0, false);
		CHECK(r.err);
		kw_writer_free(&w);
	}
	/* tag buffers: unknown tags skipped, every truncation refused */
	{
		struct kw_writer w;
		kw_writer_init(&w);
		kw_put_uvarint(&w, 3);
		kw_put_uvarint(&w, 0);
		kw_put_uvarint(&w, 4);
		kw_put_i32(&w, 7);
		kw_put_uvarint(&w, 5);
		kw_put_uvarint(&w, 0);
		kw_put_uvarint(&w, 300);            /* a two-byte tag number */
		kw_put_uvarint(&w, 130);            /* a two-byte size */
		for (int i = 0; i < 130; i++)
			kw_put_i8(&w, (int8_t)i);
		size_t tags_len = w.len;
		kw_put_i32(&w, 0x12345678);
		struct kw_reader r;
		kw_reader_init(&r, w.buf, w.len);
		kw_tags_skip(&r);
		CHECK(!r.err && r.pos == tags_len);
		CHECK(kw_i32(&r) == 0x12345678 && !r.err);
		ALL_TRUNCATIONS_FAIL(w.buf, tags_len, kw_tags_skip(&r));
		/* an empty buffer is one zero byte */
		w.len = 0;
		kw_put_tags0(&w);
		CHECK_EQ_INT(w.len, 1);
		kw_reader_init(&r, w.buf, w.len);
		kw_tags_skip(&r);
		CHECK(!r.err && r.pos == 1);
		/* a count that cannot fit in what is left */
		w.len = 0;
		kw_put_uvarint(&w, 1000);
		kw_put_i32(&w, 0);
		kw_reader_init(&r, w.buf, w.len);
		kw_tags_skip(&r);
		CHECK(r.err);
		/* a size past the end */
		w.len = 0;
		kw_put_uvarint(&w, 1);
		kw_put_uvarint(&w, 0);
		kw_put_uvarint(&w, 100);
		kw_put_i32(&w, 0);
		kw_reader_init(&r, w.buf, w.len);
		kw_tags_skip(&r);
		CHECK(r.err);
		kw_writer_free(&w);
	}
	/* UUIDs */
	{
		uint8_t id[16], got[16];
		for (int i = 0; i < 16; i++)
			id[i] = (uint8_t)(i * 17 + 1);
		struct kw_writer w;
		kw_writer_init(&w);
		kw_put_uuid(&w, id);
		struct kw_reader r;
		kw_reader_init(&r, w.buf, w.len);
		kw_uuid(&r, got);
		CHECK(!r.err && !memcmp(id, got, 16));
		ALL_TRUNCATIONS_FAIL(w.buf, w.len, kw_uuid(&r, got));
		kw_writer_free(&w);
	}
}

/* A flexible request body starts with the header's tag buffer. */
static void flex_body(struct kw_writer *w)
{
	kw_writer_init(w);
	kw_put_tags0(w);
}

/* A flexible response: skip the header tag buffer (response header v1). */
static void flex_resp(struct kw_reader *r, const uint8_t *b, size_t len)
{
	kw_reader_init(r, b, len);
	kw_tags_skip(r);
}

/* Metadata v12 for all topics: the id of topic name (0 found). */
static int meta_v12_id(int fd, const char *name, uint8_t id[16], int *ntopics)
{
	struct kw_writer w;
	flex_body(&w);
	kw_put_carray(&w, -1);                      /* all topics */
	kw_put_i8(&w, 0);
	kw_put_i8(&w, 0);
	kw_put_tags0(&w);
	uint8_t *b;
	size_t len;
	int rc = tc_call(fd, KAPI_METADATA, 12, &w, &b, &len);
	kw_writer_free(&w);
	if (rc)
		return -1;
	struct kw_reader r;
	const char *s;
	int sl, found = -1;
	flex_resp(&r, b, len);
	CHECK_EQ_INT(kw_i32(&r), 0);                /* throttle */
	CHECK_EQ_INT(kw_carray(&r, 1, false), 1);   /* brokers */
	CHECK_EQ_INT(kw_i32(&r), 0);
	kw_cstr(&r, &s, &sl);
	CHECK(sl == 9 && !memcmp(s, "127.0.0.1", 9));
	CHECK_EQ_INT(kw_i32(&r), g_port);
	kw_cstr(&r, &s, &sl);
	CHECK_EQ_INT(sl, -1);                       /* rack */
	kw_tags_skip(&r);
	kw_cstr(&r, &s, &sl);
	CHECK(sl == 7 && !memcmp(s, "topicfs", 7));
	CHECK_EQ_INT(kw_i32(&r), 0);                /* controller */
	int32_t nt = kw_carray(&r, 1, false);
	*ntopics = nt;
	for (int32_t i = 0; i < nt && !r.err; i++) {
		uint8_t tid[16];
		CHECK_EQ_INT(kw_i16(&r), 0);
		kw_cstr(&r, &s, &sl);
		kw_uuid(&r, tid);
		CHECK(memcmp(tid, (uint8_t[16]){ 0 }, 16) != 0);
		if (sl == (int)strlen(name) && !memcmp(s, name, (size_t)sl)) {
			memcpy(id, tid, 16);
			found = 0;
		}
		CHECK_EQ_INT(kw_i8(&r), 0);         /* internal */
		int32_t np = kw_carray(&r, 1, false);
		for (int32_t j = 0; j < np && !r.err; j++) {
			CHECK_EQ_INT(kw_i16(&r), 0);
			CHECK_EQ_INT(kw_i32(&r), j);
			CHECK_EQ_INT(kw_i32(&r), 0);    /* leader */
			CHECK_EQ_INT(kw_i32(&r), -1);   /* leader epoch */
			CHECK_EQ_INT(kw_carray(&r, 4, false), 1);
			CHECK_EQ_INT(kw_i32(&r), 0);
			CHECK_EQ_INT(kw_carray(&r, 4, false), 1);
			CHECK_EQ_INT(kw_i32(&r), 0);
			CHECK_EQ_INT(kw_carray(&r, 4, false), 0);
			kw_tags_skip(&r);
		}
		kw_i32(&r);                         /* authorized ops */
		kw_tags_skip(&r);
	}
	kw_tags_skip(&r);
	CHECK(!r.err && r.pos == len);
	free(b);
	return r.err ? -1 : found;
}

static void test_flex_api_versions(void)
{
	int fd = tc_connect(g_port);
	REQUIRE(fd >= 0);
	for (int v = 3; v <= 4; v++) {
		struct kw_writer w;
		flex_body(&w);
		kw_put_cstr_compact(&w, "test-client", 11);
		kw_put_cstr_compact(&w, "1.2.3", 5);
		kw_put_tags0(&w);
		uint8_t *b;
		size_t len;
		REQUIRE(tc_call(fd, KAPI_API_VERSIONS, (int16_t)v, &w, &b, &len) == 0);
		kw_writer_free(&w);
		/* header v0 (no tag buffer), flexible body */
		struct kw_reader r;
		kw_reader_init(&r, b, len);
		CHECK_EQ_INT(kw_i16(&r), 0);
		int32_t n = kw_carray(&r, 7, false);
		CHECK(n >= 7);                          /* InitProducerId too */
		for (int i = 0; i < n; i++) {
			int16_t k = kw_i16(&r), mn = kw_i16(&r), mx = kw_i16(&r);
			(void)mn;
			if (k == 3)
				CHECK_EQ_INT(mx, 12);
			kw_tags_skip(&r);
		}
		CHECK_EQ_INT(kw_i32(&r), 0);
		kw_tags_skip(&r);
		CHECK(!r.err && r.pos == len);
		free(b);
	}
	/* a v3 body that does not parse: closed */
	struct kw_writer w;
	flex_body(&w);
	kw_put_uvarint(&w, 50);                     /* 49 bytes promised */
	kw_put(&w, "short", 5);
	REQUIRE(tc_send(fd, KAPI_API_VERSIONS, 3, 5, &w) == 0);
	kw_writer_free(&w);
	CHECK(tc_closed(fd, 2000));
	close(fd);
	/* a header tag buffer that does not parse: closed */
	fd = tc_connect(g_port);
	REQUIRE(fd >= 0);
	kw_writer_init(&w);
	kw_put_uvarint(&w, 1);                      /* one tag ... */
	kw_put_uvarint(&w, 0);
	kw_put_uvarint(&w, 200);                    /* ... of 200 bytes */
	REQUIRE(tc_send(fd, KAPI_METADATA, 12, 6, &w) == 0);
	kw_writer_free(&w);
	CHECK(tc_closed(fd, 2000));
	close(fd);
	/* versions not served: closed, the server keeps serving */
	static const int16_t bad[][2] = { { KAPI_FETCH, 17 }, { KAPI_PRODUCE, 12 },
	                                  { KAPI_METADATA, 13 }, { KAPI_LIST_OFFSETS, 9 },
	                                  { KAPI_FIND_COORDINATOR, 5 }, { 42, 3 } };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		fd = tc_connect(g_port);
		REQUIRE(fd >= 0);
		flex_body(&w);
		kw_put_i32(&w, 0);
		REQUIRE(tc_send(fd, bad[i][0], bad[i][1], 9, &w) == 0);
		kw_writer_free(&w);
		CHECK(tc_closed(fd, 2000));
		close(fd);
	}
	CHECK(server_alive(g_port));
}

static void test_flex_metadata(void)
{
	int fd = tc_connect(g_port);
	REQUIRE(fd >= 0);
	uint8_t id[16], id2[16];
	int nt = 0;
	REQUIRE(meta_v12_id(fd, "t", id, &nt) == 0);
	CHECK(nt >= 2);
	/* the id is the topic's, stable */
	struct topic *t = NULL;
	REQUIRE(store_topic_get(g_st, "t", &t) == 0);
	topic_id(t, id2);
	topic_put(t);
	CHECK(!memcmp(id, id2, 16));
	/* v10-12 by id (null name), by name, and an unknown id */
	for (int v = 9; v <= 12; v++) {
		struct kw_writer w;
		flex_body(&w);
		kw_put_carray(&w, v >= 10 ? 3 : 1);
		if (v >= 10)
			kw_put_uuid(&w, id);
		kw_put_cstr_compact(&w, v >= 10 ? NULL : "t", v >= 10 ? -1 : 1);
		kw_put_tags0(&w);
		if (v >= 10) {
			kw_put_uuid(&w, (uint8_t[16]){ 0 });
			kw_put_cstr_compact(&w, "empty", 5);
			kw_put_tags0(&w);
			kw_put_uuid(&w, (uint8_t[16]){ 9, 9, 9 });
			kw_put_cstr_compact(&w, NULL, -1);
			kw_put_tags0(&w);
		}
		kw_put_i8(&w, 0);                   /* AllowAutoTopicCreation */
		if (v <= 10)
			kw_put_i8(&w, 0);
		kw_put_i8(&w, 0);
		kw_put_tags0(&w);
		uint8_t *b;
		size_t len;
		REQUIRE(tc_call(fd, KAPI_METADATA, (int16_t)v, &w, &b, &len) == 0);
		kw_writer_free(&w);
		struct kw_reader r;
		const char *s;
		int sl;
		flex_resp(&r, b, len);
		kw_i32(&r);
		int32_t nb = kw_carray(&r, 1, false);
		for (int i = 0; i < nb; i++) {
			kw_i32(&r);
			kw_cstr(&r, &s, &sl);
			kw_i32(&r);
			kw_cstr(&r, &s, &sl);
			kw_tags_skip(&r);
		}
		kw_cstr(&r, &s, &sl);
		kw_i32(&r);
		int32_t n = kw_carray(&r, 1, false);
		CHECK_EQ_INT(n, v >= 10 ? 3 : 1);
		for (int i = 0; i < n && !r.err; i++) {
			int16_t err = kw_i16(&r);
			uint8_t tid[16];
			kw_cstr(&r, &s, &sl);
			if (v >= 10)
				kw_uuid(&r, tid);
			if (i == 0) {
				CHECK_EQ_INT(err, 0);
				CHECK(sl == 1 && s[0] == 't');
				if (v >= 10)
					CHECK(!memcmp(tid, id, 16));
			} else if (i == 1) {
				CHECK_EQ_INT(err, 0);
				CHECK(sl == 5 && !memcmp(s, "empty", 5));
			} else {
				CHECK_EQ_INT(err, 100);     /* UNKNOWN_TOPIC_ID */
				CHECK_EQ_INT(sl, v >= 12 ? -1 : 0);
			}
			kw_i8(&r);
			int32_t np = kw_carray(&r, 1, false);
			CHECK_EQ_INT(np, i == 0 ? 2 : i == 1 ? 1 : 0);
			for (int j = 0; j < np && !r.err; j++) {
				kw_i16(&r);
				kw_i32(&r);
				kw_i32(&r);
				kw_i32(&r);
				for (int k = 0; k < 3; k++) {
					int32_t m = kw_carray(&r, 4, false);
					kw_skip(&r, (size_t)m * 4);
				}
				kw_tags_skip(&r);
			}
			CHECK_EQ_INT(kw_i32(&r), INT32_MIN);
			kw_tags_skip(&r);
		}
		if (v <= 10)
			CHECK_EQ_INT(kw_i32(&r), INT32_MIN);
		kw_tags_skip(&r);
		CHECK(!r.err && r.pos == len);
		free(b);
	}
	close(fd);
}

/* Produce v9-11 (flexible) then Fetch v12 (by name) and v13-16 (by id). */
static void test_flex_produce_fetch(void)
{
	create_topic("fx", 1);
	int fd = tc_connect(g_port);
	REQUIRE(fd >= 0);
	uint8_t id[16];
	int nt;
	REQUIRE(meta_v12_id(fd, "fx", id, &nt) == 0);
	int64_t bases[3];
	for (int v = 9; v <= 11; v++) {
		size_t blen;
		char prefix[16];
		snprintf(prefix, sizeof prefix, "v%d-", v);
		uint8_t *batch = make_batch(3, prefix, v == 11 ? CODEC_ZSTD : CODEC_NONE,
		                            &blen);
		REQUIRE(batch);
		struct kw_writer w;
		flex_body(&w);
		kw_put_cstr_compact(&w, NULL, -1);  /* TransactionalId */
		kw_put_i16(&w, -1);
		kw_put_i32(&w, 1000);
		kw_put_carray(&w, 1);
		kw_put_cstr_compact(&w, "fx", 2);
		kw_put_carray(&w, 1);
		kw_put_i32(&w, 0);
		kw_put_vbytes_len(&w, true, (int32_t)blen);
		kw_put(&w, batch, blen);
		kw_put_tags0(&w);
		kw_put_tags0(&w);
		kw_put_tags0(&w);
		free(batch);
		uint8_t *b;
		size_t len;
		REQUIRE(tc_call(fd, KAPI_PRODUCE, (int16_t)v, &w, &b, &len) == 0);
		kw_writer_free(&w);
		struct kw_reader r;
		const char *s;
		int sl;
		flex_resp(&r, b, len);
		CHECK_EQ_INT(kw_carray(&r, 1, false), 1);
		kw_cstr(&r, &s, &sl);
		CHECK(sl == 2 && !memcmp(s, "fx", 2));
		CHECK_EQ_INT(kw_carray(&r, 1, false), 1);
		CHECK_EQ_INT(kw_i32(&r), 0);
		CHECK_EQ_INT(kw_i16(&r), 0);
		bases[v - 9] = kw_i64(&r);
		CHECK_EQ_INT(bases[v - 9], (v - 9) * 3);
		CHECK_EQ_INT(kw_i64(&r), -1);       /* LogAppendTimeMs */
		CHECK_EQ_INT(kw_i64(&r), 0);        /* LogStartOffset */
		CHECK_EQ_INT(kw_carray(&r, 1, false), 0);   /* RecordErrors */
		kw_cstr(&r, &s, &sl);
		CHECK_EQ_INT(sl, -1);               /* ErrorMessage */
		kw_tags_skip(&r);
		kw_tags_skip(&r);
		CHECK_EQ_INT(kw_i32(&r), 0);        /* throttle */
		kw_tags_skip(&r);
		CHECK(!r.err && r.pos == len);
		free(b);
	}
	for (int v = 12; v <= 16; v++) {
		struct kw_writer w;
		flex_body(&w);
		if (v <= 14)
			kw_put_i32(&w, -1);             /* ReplicaId */
		kw_put_i32(&w, 0);
		kw_put_i32(&w, 1);
		kw_put_i32(&w, 1 << 20);
		kw_put_i8(&w, 0);
		kw_put_i32(&w, 0);                  /* SessionId */
		kw_put_i32(&w, -1);                 /* SessionEpoch */
		kw_put_carray(&w, 2);
		for (int k = 0; k < 2; k++) {
			if (v >= 13)
				kw_put_uuid(&w, k == 0 ? id : (uint8_t[16]){ 7 });
			else
				kw_put_cstr_compact(&w, k == 0 ? "fx" : "nosuch",
				                    k == 0 ? 2 : 6);
			kw_put_carray(&w, 1);
			kw_put_i32(&w, 0);
			kw_put_i32(&w, -1);             /* CurrentLeaderEpoch */
			kw_put_i64(&w, 2);              /* FetchOffset */
			kw_put_i32(&w, -1);             /* LastFetchedEpoch */
			kw_put_i64(&w, -1);
			kw_put_i32(&w, 1 << 20);
			kw_put_tags0(&w);
			kw_put_tags0(&w);
		}
		kw_put_carray(&w, 0);               /* ForgottenTopicsData */
		kw_put_cstr_compact(&w, "", 0);     /* RackId */
		/* tagged fields the server does not know: skipped */
		kw_put_uvarint(&w, 1);
		kw_put_uvarint(&w, 0);
		kw_put_uvarint(&w, 3);
		kw_put(&w, "abc", 3);
		uint8_t *b;
		size_t len;
		REQUIRE(tc_call(fd, KAPI_FETCH, (int16_t)v, &w, &b, &len) == 0);
		kw_writer_free(&w);
		struct kw_reader r;
		const char *s;
		int sl;
		flex_resp(&r, b, len);
		CHECK_EQ_INT(kw_i32(&r), 0);
		CHECK_EQ_INT(kw_i16(&r), 0);
		CHECK_EQ_INT(kw_i32(&r), 0);        /* SessionId */
		CHECK_EQ_INT(kw_carray(&r, 1, false), 2);
		for (int k = 0; k < 2 && !r.err; k++) {
			if (v >= 13) {
				uint8_t tid[16];
				kw_uuid(&r, tid);
				if (k == 0)
					CHECK(!memcmp(tid, id, 16));
			} else {
				kw_cstr(&r, &s, &sl);
			}
			CHECK_EQ_INT(kw_carray(&r, 1, false), 1);
			CHECK_EQ_INT(kw_i32(&r), 0);
			int16_t err = kw_i16(&r);
			CHECK_EQ_INT(err, k == 0 ? 0 : v >= 13 ? 100 : 3);
			int64_t hwm = kw_i64(&r);
			CHECK_EQ_INT(hwm, k == 0 ? 9 : -1);
			kw_i64(&r);
			kw_i64(&r);
			CHECK_EQ_INT(kw_carray(&r, 16, true), 0);
			CHECK_EQ_INT(kw_i32(&r), -1);
			const uint8_t *rec;
			int32_t rl;
			kw_cbytes(&r, &rec, &rl);
			kw_tags_skip(&r);
			if (k == 0 && !r.err) {
				char vals[16][64];
				int n = collect_values(rec, rl, 2, vals, 16, NULL);
				CHECK_EQ_INT(n, 7);
				CHECK(n == 7 && !strncmp(vals[0], "v9-2 ", 5) &&
				      !strncmp(vals[6], "v11-2 ", 6));
			} else {
				CHECK_EQ_INT(rl, 0);
			}
			kw_tags_skip(&r);
		}
		kw_tags_skip(&r);
		CHECK(!r.err && r.pos == len);
		free(b);
	}
	close(fd);
}

/* ListOffsets v6-8 (flexible): latest, earliest, -3 = the first record
 * with the largest timestamp, -4 = earliest local. */
static void test_flex_list_offsets(void)
{
	create_topic("mts", 1);
	create_topic("mts-empty", 1);
	struct part *p = get_part("mts", 0);
	REQUIRE(p);
	static const int64_t tss[] = { 5000, 9000, 7000, 9000, 3000 };
	for (int i = 0; i < 5; i++) {
		struct rec_in rec = { .value = "v", .value_len = 1, .key_len = -1,
		                      .timestamp = tss[i] };
		REQUIRE(part_append(p, &rec, 1, NULL) == 0);
	}
	int fd = tc_connect(g_port);
	REQUIRE(fd >= 0);
	static const int64_t q[][3] = { { -1, 5, -1 }, { -2, 0, -1 }, { -3, 1, 9000 },
	                                { -4, 0, -1 }, { 6000, 1, 9000 } };
	for (int v = 6; v <= 8; v++) {
		struct kw_writer w;
		flex_body(&w);
		kw_put_i32(&w, -1);
		kw_put_i8(&w, 0);
		kw_put_carray(&w, 2);
		kw_put_cstr_compact(&w, "mts", 3);
		kw_put_carray(&w, 5);
		for (int i = 0; i < 5; i++) {
			kw_put_i32(&w, 0);
			kw_put_i32(&w, -1);             /* CurrentLeaderEpoch */
			kw_put_i64(&w, q[i][0]);
			kw_put_tags0(&w);
		}
		kw_put_tags0(&w);
		kw_put_cstr_compact(&w, "mts-empty", 9);
		kw_put_carray(&w, 1);
		kw_put_i32(&w, 0);
		kw_put_i32(&w, -1);
		kw_put_i64(&w, -3);
		kw_put_tags0(&w);
		kw_put_tags0(&w);
		kw_put_tags0(&w);
		uint8_t *b;
		size_t len;
		REQUIRE(tc_call(fd, KAPI_LIST_OFFSETS, (int16_t)v, &w, &b, &len) == 0);
		kw_writer_free(&w);
		struct kw_reader r;
		const char *s;
		int sl;
		flex_resp(&r, b, len);
		CHECK_EQ_INT(kw_i32(&r), 0);
		CHECK_EQ_INT(kw_carray(&r, 1, false), 2);
		kw_cstr(&r, &s, &sl);
		CHECK_EQ_INT(kw_carray(&r, 1, false), 5);
		for (int i = 0; i < 5; i++) {
			CHECK_EQ_INT(kw_i32(&r), 0);
			CHECK_EQ_INT(kw_i16(&r), 0);
			int64_t ts = kw_i64(&r), off = kw_i64(&r);
			if (off != q[i][1] || ts != q[i][2])
				fprintf(stderr, "listoffsets v%d q %lld: off %lld ts %lld\n", v,
				        (long long)q[i][0], (long long)off, (long long)ts);
			CHECK_EQ_INT(off, q[i][1]);
			CHECK_EQ_INT(ts, q[i][2]);
			CHECK_EQ_INT(kw_i32(&r), -1);   /* LeaderEpoch */
			kw_tags_skip(&r);
		}
		kw_tags_skip(&r);
		kw_cstr(&r, &s, &sl);
		CHECK_EQ_INT(kw_carray(&r, 1, false), 1);
		CHECK_EQ_INT(kw_i32(&r), 0);
		CHECK_EQ_INT(kw_i16(&r), 0);
		CHECK_EQ_INT(kw_i64(&r), -1);       /* empty: not found */
		CHECK_EQ_INT(kw_i64(&r), -1);
		kw_i32(&r);
		kw_tags_skip(&r);
		kw_tags_skip(&r);
		kw_tags_skip(&r);
		CHECK(!r.err && r.pos == len);
		free(b);
	}
	close(fd);
}

/* FindCoordinator v1-4: still the stub, v4 answering per key. */
static void test_flex_find_coordinator(void)
{
	int fd = tc_connect(g_port);
	REQUIRE(fd >= 0);
	for (int v = 1; v <= 4; v++) {
		struct kw_writer w;
		bool flex = v >= 3;
		if (flex)
			flex_body(&w);
		else
			kw_writer_init(&w);
		if (v <= 3)
			kw_put_vstr(&w, flex, "g1", 2);
		kw_put_i8(&w, 0);                   /* KeyType */
		if (v >= 4) {
			kw_put_carray(&w, 2);
			kw_put_cstr_compact(&w, "g1", 2);
			kw_put_cstr_compact(&w, "g2", 2);
		}
		kw_put_vtags(&w, flex);
		uint8_t *b;
		size_t len;
		REQUIRE(tc_call(fd, KAPI_FIND_COORDINATOR, (int16_t)v, &w, &b, &len) == 0);
		kw_writer_free(&w);
		struct kw_reader r;
		const char *s;
		int sl;
		if (flex)
			flex_resp(&r, b, len);
		else
			kw_reader_init(&r, b, len);
		CHECK_EQ_INT(kw_i32(&r), 0);
		if (v <= 3) {
			CHECK_EQ_INT(kw_i16(&r), 0);
			kw_vstr(&r, flex, &s, &sl);
			CHECK(s == NULL);
			CHECK_EQ_INT(kw_i32(&r), 0);
			kw_vstr(&r, flex, &s, &sl);
			CHECK_EQ_INT(sl, 9);
			CHECK_EQ_INT(kw_i32(&r), g_port);
		} else {
			CHECK_EQ_INT(kw_carray(&r, 1, false), 2);
			for (int k = 0; k < 2; k++) {
				kw_cstr(&r, &s, &sl);
				CHECK(sl == 2 && s[1] == '1' + k);
				CHECK_EQ_INT(kw_i32(&r), 0);
				kw_cstr(&r, &s, &sl);
				CHECK_EQ_INT(sl, 9);
				CHECK_EQ_INT(kw_i32(&r), g_port);
				CHECK_EQ_INT(kw_i16(&r), 0);
				kw_cstr(&r, &s, &sl);
				kw_tags_skip(&r);
			}
		}
		kw_vtags(&r, flex);
		CHECK(!r.err && r.pos == len);
		free(b);
	}
	close(fd);
}

/* Topic ids survive a restart of the store and are made once for a topic
 * whose .topic file has none. */
static void test_topic_ids_persist(void)
{
	create_topic("idp", 1);
	uint8_t id[16], again[16], fresh[16];
	struct topic *t = NULL;
	REQUIRE(store_topic_get(g_st, "idp", &t) == 0);
	topic_id(t, id);
	topic_put(t);
	CHECK(memcmp(id, (uint8_t[16]){ 0 }, 16) != 0);
	CHECK_EQ_INT(id[6] >> 4, 4);                /* version 4 */
	/* another store over a copy of the file, without its id line */
	char dir[300], cmd[2048];
	snprintf(dir, sizeof dir, "%s/idcopy", g_dir);
	CHECK_EQ_INT(mkdir(dir, 0700), 0);
	snprintf(cmd, sizeof cmd, "cp -r %s/idp.topic %s/idp-0 %s/ && "
	         "grep -v topic_id %s/idp.topic > %s/old.topic && mkdir %s/old-0",
	         g_dir, g_dir, dir, g_dir, dir, dir);
	REQUIRE(system(cmd) == 0);
	for (int round = 0; round < 2; round++) {
		struct store_options o = { 0 };
		struct store *st = NULL;
		o.data_dir = dir;
		REQUIRE(store_open(&o, &st) == 0);
		REQUIRE(store_topic_get(st, "idp", &t) == 0);
		topic_id(t, again);
		topic_put(t);
		CHECK(!memcmp(id, again, 16));
		REQUIRE(store_topic_get(st, "old", &t) == 0);
		if (round == 0) {
			topic_id(t, fresh);
			CHECK(memcmp(fresh, (uint8_t[16]){ 0 }, 16) != 0);
		} else {
			topic_id(t, again);
			CHECK(!memcmp(fresh, again, 16));   /* persisted once */
		}
		/* a settings rewrite keeps it */
		struct topic_config c;
		topic_get_config(t, &c);
		c.retention_ms = 123456 + round;
		CHECK_EQ_INT(topic_set_config(t, &c), 0);
		topic_put(t);
		store_close(st);
	}
}

/* Each bad input: the server closes that connection and keeps serving. */
static void test_bad_clients(void)
{
	static const struct {
		const char *what;
		uint8_t bytes[40];
		size_t len;
	} cases[] = {
		{ "garbage", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27 },
		{ "negative size", { 0xff, 0xff, 0xff, 0xfe, 0, 3 }, 6 },
		{ "size -1", { 0xff, 0xff, 0xff, 0xff }, 4 },
		{ "zero size", { 0, 0, 0, 0, 0, 0 }, 6 },
		{ "huge size", { 0x7f, 0xff, 0xff, 0xff, 0, 1 }, 6 },
		{ "max+1", { 0x06, 0x40, 0x00, 0x01 }, 4 },      /* 100 MiB + 1 */
		{ "short header", { 0, 0, 0, 3, 0, 18, 0 }, 7 },
		/* api 99 v0 */
		{ "unsupported api", { 0, 0, 0, 10, 0, 99, 0, 0, 0, 0, 0, 1, 0xff, 0xff }, 14 },
		/* Fetch v3 */
		{ "fetch v3", { 0, 0, 0, 10, 0, 1, 0, 3, 0, 0, 0, 1, 0xff, 0xff }, 14 },
		/* Metadata v9 */
		{ "metadata v9", { 0, 0, 0, 10, 0, 3, 0, 9, 0, 0, 0, 1, 0xff, 0xff }, 14 },
		/* Produce v8 */
		{ "produce v8", { 0, 0, 0, 10, 0, 0, 0, 8, 0, 0, 0, 1, 0xff, 0xff }, 14 },
		/* Metadata v1 with a body cut short (array count 5, no names) */
		{ "truncated body", { 0, 0, 0, 14, 0, 3, 0, 1, 0, 0, 0, 1, 0xff, 0xff,
		                      0, 0, 0, 5 }, 18 },
		/* Fetch v4 with a topic count of 2^31-1 */
		{ "huge array", { 0, 0, 0, 31, 0, 1, 0, 4, 0, 0, 0, 1, 0xff, 0xff,
		                  0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 1,
		                  0, 0, 0x10, 0, 0, 0x7f, 0xff, 0xff, 0xff }, 35 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int fd = tc_connect(g_port);
		REQUIRE(fd >= 0);
		send_all(fd, cases[i].bytes, cases[i].len);
		bool closed = tc_closed(fd, 2000);
		if (!closed)
			fprintf(stderr, "  not closed: %s\n", cases[i].what);
		CHECK(closed);
		close(fd);
		CHECK(server_alive(g_port));
	}
}

static void test_pipelined(void)
{
	int fd = tc_connect(g_port);
	REQUIRE(fd >= 0);
	/* ApiVersions v0 and Metadata v0 in one write, as kafka-python does */
	struct kw_writer all, body;
	kw_writer_init(&all);
	kw_writer_init(&body);
	build_req(&all, KAPI_API_VERSIONS, 0, 1, NULL, 0);
	kw_put_i32(&body, 0);
	build_req(&all, KAPI_METADATA, 0, 2, body.buf, body.len);
	/* and a long-polled fetch followed by ApiVersions */
	body.len = 0;
	int32_t part = 0;
	int64_t off = 100;
	fetch_body(&body, 4, 300, 1, 1 << 20, "t", 1, &part, &off, 1 << 20);
	build_req(&all, KAPI_FETCH, 4, 3, body.buf, body.len);
	build_req(&all, KAPI_API_VERSIONS, 2, 4, NULL, 0);
	REQUIRE(send_all(fd, all.buf, all.len) == 0);
	for (int corr = 1; corr <= 4; corr++) {
		uint8_t *b;
		size_t len;
		CHECK_EQ_INT(tc_recv(fd, corr, &b, &len), 0);
		if (corr == 3) {
			struct fpart fp[2];
			CHECK_EQ_INT(parse_fetch(4, b, len, fp, 2), 1);
		}
		free(b);
	}
	kw_writer_free(&all);
	kw_writer_free(&body);
	close(fd);
}

/* A large fetch to a client with a tiny receive buffer that reads a little
 * and vanishes; the server must not spin, die of SIGPIPE, or leak. */
static void test_client_gone_mid_sendfile(void)
{
	create_topic("big", 1);
	for (int i = 0; i < 40; i++)
		REQUIRE(append_values("big", 0, "bigbigbigbigbigbigbigbigbigbigbigbigbig", i * 2000, 2000) == 0);
	for (int round = 0; round < 20; round++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		int small = 4096;
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
		struct sockaddr_in a = { .sin_family = AF_INET,
		                         .sin_port = htons((uint16_t)g_port),
		                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		REQUIRE(connect(fd, (struct sockaddr *)&a, sizeof a) == 0);
		struct kw_writer w;
		kw_writer_init(&w);
		int32_t part = 0;
		int64_t off = 0;
		fetch_body(&w, 11, 0, 1, 64 << 20, "big", 1, &part, &off, 64 << 20);
		tc_send(fd, KAPI_FETCH, 11, 1, &w);
		kw_writer_free(&w);
		uint8_t buf[1000];
		if (round % 2)
			(void)recv(fd, buf, sizeof buf, 0);
		if (round % 4 == 3) {
			struct linger lg = { .l_onoff = 1, .l_linger = 0 };
			setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);  /* RST */
		}
		close(fd);
	}
	CHECK(server_alive(g_port));
	/* and a full read of the same response: bytes on the wire equal the
	 * framed length */
	int fd = tc_connect(g_port);
	struct kw_writer w;
	kw_writer_init(&w);
	int32_t part = 0;
	int64_t off = 0;
	fetch_body(&w, 11, 0, 1, 64 << 20, "big", 1, &part, &off, 64 << 20);
	uint8_t *b;
	size_t len;
	REQUIRE(tc_call(fd, KAPI_FETCH, 11, &w, &b, &len) == 0);
	kw_writer_free(&w);
	struct fpart fp[2];
	CHECK_EQ_INT(parse_fetch(11, b, len, fp, 2), 1);
	struct part_info pi;
	part_info(get_part("big", 0), &pi);
	CHECK_EQ_INT(fp[0].rec_len, pi.bytes_on_disk);
	free(b);
	close(fd);
}

struct consumed {
	int n;
	int bad;
};

static int on_record(void *arg, const struct record *rec)
{
	struct consumed *c = arg;
	char want[64];
	snprintf(want, sizeof want, "v%d", c->n + 40);
	if (rec->value_len != (int32_t)strlen(want) ||
	    memcmp(rec->value, want, strlen(want)))
		c->bad++;
	c->n++;
	return 0;
}

static void test_kclient(void)
{
	char addr[64];
	snprintf(addr, sizeof addr, "127.0.0.1:%d", g_port);
	struct kc_conn *c = NULL;
	REQUIRE(kc_connect(addr, "test", 5000, &c) == 0);
	int64_t off = -1;
	int kerr = 0;
	CHECK_EQ_INT(kc_list_offset(c, "t", 0, -2, &off, &kerr), 0);
	CHECK_EQ_INT(off, 0);
	CHECK_EQ_INT(kc_list_offset(c, "t", 0, -1, &off, &kerr), 0);
	CHECK_EQ_INT(off, 100);
	CHECK_EQ_INT(kc_list_offset(c, "nosuch", 0, -1, &off, &kerr), -EREMOTEIO);
	CHECK_EQ_INT(kerr, 3);
	struct consumed got = { 0 };
	struct kc_consume_opts o = { .start_offset = 40, .max_bytes = 300 };
	int64_t next = 0;
	CHECK_EQ_INT(kc_consume(c, "t", 0, &o, on_record, &got, &next, &kerr), 0);
	CHECK_EQ_INT(got.n, 60);
	CHECK_EQ_INT(got.bad, 0);
	CHECK_EQ_INT(next, 100);
	/* -c */
	got = (struct consumed){ 0 };
	o.max_records = 7;
	CHECK_EQ_INT(kc_consume(c, "t", 0, &o, on_record, &got, &next, &kerr), 0);
	CHECK_EQ_INT(got.n, 7);
	CHECK_EQ_INT(next, 47);
	/* out of range */
	o.start_offset = 500;
	o.max_records = 0;
	kerr = 0;
	CHECK_EQ_INT(kc_consume(c, "t", 0, &o, on_record, &got, &next, &kerr), -EREMOTEIO);
	CHECK_EQ_INT(kerr, 1);
	CHECK(strstr(kc_errmsg(c), "OFFSET_OUT_OF_RANGE") != NULL);
	kc_close(c);
}

/* ---- limits and deadlines, on a second server with small settings ---- */

/* A second server took the store's append hook and srv_stop removed it:
 * restart the main one (same port) so it owns the hook again. */
static void restart_main_server(void)
{
	struct srv_config cfg;
	srv_stop(g_srv);
	g_srv = NULL;
	srv_config_defaults(&cfg);
	cfg.listen_port = g_port;
	if (srv_start(g_st, &cfg, &g_srv) != 0)
		g_srv = NULL;
	CHECK(g_srv != NULL);
	CHECK(server_alive(g_port));
}

static void test_limits(void)
{
	struct srv_config cfg;
	struct srv *s2 = NULL;
	srv_config_defaults(&cfg);
	cfg.listen_port = 0;
	cfg.max_connections = 4;
	cfg.request_timeout_ms = 300;
	cfg.idle_timeout_ms = 800;
	cfg.max_request_bytes = 4096;
	snprintf(cfg.advertised_host, sizeof cfg.advertised_host, "broker.example");
	cfg.advertised_port = 19092;
	/* the second server takes the append hook; give it back after */
	REQUIRE(srv_start(g_st, &cfg, &s2) == 0);
	int port = srv_port(s2);

	/* advertised host and port */
	int fd = tc_connect(port);
	struct kw_writer w;
	kw_writer_init(&w);
	kw_put_i32(&w, -1);
	uint8_t *b;
	size_t len;
	REQUIRE(tc_call(fd, KAPI_METADATA, 1, &w, &b, &len) == 0);
	char names[8][64], host[64];
	int np[8], errs[8], p;
	CHECK(parse_metadata(1, b, len, names, np, errs, host, &p) >= 2);
	CHECK(!strcmp(host, "broker.example"));
	CHECK_EQ_INT(p, 19092);
	free(b);

	/* max_request_bytes: 4096 ok, 4097 closed before allocating */
	int fd2 = tc_connect(port);
	uint8_t big[4] = { 0, 0, 0x10, 0x01 };
	send_all(fd2, big, 4);
	CHECK(tc_closed(fd2, 1000));
	close(fd2);

	/* max_connections: 4 open (fd + 3), the 5th and 6th are refused,
	 * the others keep working */
	int more[5];
	for (int i = 0; i < 5; i++)
		more[i] = tc_connect(port);
	usleep(100000);
	int refused = 0;
	for (int i = 0; i < 5; i++)
		if (tc_closed(more[i], 100))
			refused++;
	CHECK_EQ_INT(refused, 2);
	w.len = 0;
	kw_put_i32(&w, -1);
	CHECK_EQ_INT(tc_call(fd, KAPI_METADATA, 1, &w, &b, &len), 0);
	free(b);
	for (int i = 0; i < 5; i++)
		close(more[i]);
	usleep(100000);

	/* slowloris: a request dripping one byte every 100 ms is closed by the
	 * request deadline (300 ms), though it keeps sending */
	int slow = tc_connect(port);
	const uint8_t drip[] = { 0, 0, 0, 20, 0, 18, 0, 0, 0, 0, 0, 1, 0, 1, 'x' };
	int64_t t0 = now_us();
	bool closed = false;
	for (size_t i = 0; i < sizeof drip && !closed; i++) {
		if (send(slow, drip + i, 1, MSG_NOSIGNAL) != 1) {
			closed = true;
			break;
		}
		closed = tc_closed(slow, 100);
	}
	if (!closed)
		closed = tc_closed(slow, 1000);
	int64_t el = now_us() - t0;
	CHECK(closed);
	CHECK(el >= 250000 && el < 1200000);
	close(slow);

	/* idle: a connection that sends nothing is closed after ~800 ms; one
	 * that keeps asking is not */
	int idle = tc_connect(port);
	t0 = now_us();
	for (int i = 0; i < 6; i++) {
		usleep(200000);
		w.len = 0;
		kw_put_i32(&w, 0);
		CHECK_EQ_INT(tc_call(fd, KAPI_METADATA, 1, &w, &b, &len), 0);
		free(b);
	}
	CHECK(tc_closed(idle, 1000));
	close(idle);
	CHECK(server_alive(port));

	kw_writer_free(&w);
	close(fd);
	srv_stop(s2);
	restart_main_server();
}

/* auto_create_topics: Metadata (when the request allows it) and Produce
 * create unknown topics with topic_defaults; invalid names are refused. */
static void test_auto_create(void)
{
	struct srv_config cfg;
	struct srv *s2 = NULL;
	srv_config_defaults(&cfg);
	cfg.listen_port = 0;
	cfg.auto_create_topics = true;
	cfg.topic_defaults.partitions = 3;
	REQUIRE(srv_start(g_st, &cfg, &s2) == 0);
	int fd = tc_connect(srv_port(s2));
	struct kw_writer w;
	kw_writer_init(&w);
	uint8_t *b;
	size_t len;
	char names[8][64], host[64];
	int np[8], errs[8], port;
	/* v4 with AllowAutoTopicCreation false: not created */
	kw_put_i32(&w, 1);
	kw_put_cstr(&w, "auto1");
	kw_put_i8(&w, 0);
	REQUIRE(tc_call(fd, KAPI_METADATA, 4, &w, &b, &len) == 0);
	CHECK_EQ_INT(parse_metadata(4, b, len, names, np, errs, host, &port), 1);
	CHECK_EQ_INT(errs[0], 3);
	free(b);
	/* allowed: created with 3 partitions; a bad name gets 17 */
	w.len = 0;
	kw_put_i32(&w, 2);
	kw_put_cstr(&w, "auto1");
	kw_put_cstr(&w, "..");
	kw_put_i8(&w, 1);
	REQUIRE(tc_call(fd, KAPI_METADATA, 4, &w, &b, &len) == 0);
	CHECK_EQ_INT(parse_metadata(4, b, len, names, np, errs, host, &port), 2);
	CHECK_EQ_INT(errs[0], 0);
	CHECK_EQ_INT(np[0], 3);
	CHECK_EQ_INT(errs[1], 17);
	free(b);
	CHECK(get_part("auto1", 2) != NULL);
	/* Produce to an unknown topic creates it */
	size_t blen;
	uint8_t *batch = make_batch(3, "auto", CODEC_NONE, &blen);
	int64_t base = -1;
	CHECK_EQ_INT(do_produce(fd, 7, 1, "auto2", 1, batch, (int32_t)blen, &base), 0);
	CHECK_EQ_INT(base, 0);
	struct part_info pi;
	part_info(get_part("auto2", 1), &pi);
	CHECK_EQ_INT(pi.next_offset, 3);
	free(batch);
	kw_writer_free(&w);
	close(fd);
	srv_stop(s2);
	restart_main_server();
	/* the main server does not auto-create */
	fd = tc_connect(g_port);
	batch = make_batch(1, "x", CODEC_NONE, &blen);
	CHECK_EQ_INT(do_produce(fd, 7, 1, "auto3", 0, batch, (int32_t)blen, &base), 3);
	free(batch);
	close(fd);
}

/* The segment file shrinks under a response being sent (it cannot happen
 * through storage, so truncate it behind its back): sendfile returns 0
 * early; the server must close that connection, not spin, and go on. */
static void test_sendfile_shrink(void)
{
	create_topic("shrink", 1);
	/* 24 MB: far more than loopback socket buffers hold */
	for (int i = 0; i < 60; i++)
		REQUIRE(append_values("shrink", 0, "shrinkshrinkshrinkshrinkshrinkshrinkshrink",
		                      i * 8000, 8000) == 0);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int small = 4096;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)g_port),
	                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	REQUIRE(connect(fd, (struct sockaddr *)&a, sizeof a) == 0);
	struct kw_writer w;
	kw_writer_init(&w);
	int32_t part = 0;
	int64_t off = 0;
	fetch_body(&w, 11, 0, 1, 64 << 20, "shrink", 1, &part, &off, 64 << 20);
	REQUIRE(tc_send(fd, KAPI_FETCH, 11, 9, &w) == 0);
	kw_writer_free(&w);
	usleep(100000);                 /* the server fills the socket and waits */
	char path[512];
	snprintf(path, sizeof path, "%s/shrink-0/00000000000000000000.log", g_dir);
	REQUIRE(truncate(path, 1000000) == 0);
	/* drain: fewer bytes than the frame announced, then EOF */
	uint8_t buf[65536];
	size_t total = 0;
	int32_t framed = -1;
	struct timeval tv = { .tv_sec = 5 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof buf, 0);
		if (n <= 0) {
			CHECK(n == 0 || errno == ECONNRESET);
			break;
		}
		if (total == 0 && n >= 4)
			framed = (int32_t)be32_get(buf);
		total += (size_t)n;
	}
	CHECK(framed > 16000000);
	CHECK(total < (size_t)framed + 4);
	close(fd);
	CHECK(server_alive(g_port));
}

static void test_bad_config(void)
{
	struct srv_config cfg;
	struct srv *s2 = NULL;
	srv_config_defaults(&cfg);
	cfg.listen_port = g_port;   /* in use */
	CHECK(srv_start(g_st, &cfg, &s2) < 0);
	srv_config_defaults(&cfg);
	cfg.max_connections = 0;
	CHECK_EQ_INT(srv_start(g_st, &cfg, &s2), -EINVAL);
	srv_config_defaults(&cfg);
	snprintf(cfg.listen_host, sizeof cfg.listen_host, "no.such.host.invalid");
	CHECK(srv_start(g_st, &cfg, &s2) < 0);
	CHECK(server_alive(g_port));
	srv_config_defaults(&cfg);
	CHECK_EQ_INT(cfg.listen_port, 9092);
	CHECK(!strcmp(cfg.listen_host, "127.0.0.1"));
}

/* ---- hardening: request memory, auto-create caps, produce refusals ---- */

static int64_t held_bytes(struct srv *s, int64_t *waits)
{
	struct srv_stats ss;
	srv_stats_get(s, &ss);
	if (waits)
		*waits = ss.memory_waits;
	return ss.request_bytes_held;
}

/* queued_max_request_bytes: connections announcing large requests and
 * sending part of them hold at most the budget; the ones that cannot
 * reserve wait (not closed); small requests of other clients are still
 * served from what is left; every waiter is served once memory comes back;
 * everything is released when they close. */
static void test_request_memory_budget(void)
{
	enum { NHOG = 10, REQ = 3 << 19 /* 1.5 MiB */, BUDGET = 4 << 20 };
	struct srv_config cfg;
	struct srv *s2 = NULL;
	srv_config_defaults(&cfg);
	cfg.listen_port = 0;
	cfg.max_request_bytes = REQ;
	cfg.queued_max_request_bytes = BUDGET;
	cfg.request_timeout_ms = 20000;
	REQUIRE(srv_start(g_st, &cfg, &s2) == 0);
	int port = srv_port(s2);
	int64_t peak = 0, h, waits = -1;

	/* each hog: a Metadata v0 request (all topics) padded to 1.5 MiB */
	uint8_t *req = calloc(1, REQ + 4);
	REQUIRE(req != NULL);
	struct kw_writer w;
	kw_writer_init(&w);
	build_req(&w, KAPI_METADATA, 0, 77, NULL, 0);
	kw_put_i32(&w, 0);
	memcpy(req, w.buf, w.len);
	kw_writer_free(&w);
	be32_put(req, REQ);
	int hog[NHOG];
	size_t sent[NHOG];
	for (int i = 0; i < NHOG; i++) {
		hog[i] = tc_connect(port);
		REQUIRE(hog[i] >= 0);
		sent[i] = 0;
		/* the size prefix and 100 kB of the body */
		ssize_t n = send(hog[i], req, 4 + 100000, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0)
			sent[i] = (size_t)n;
	}
	for (int i = 0; i < 20; i++) {
		usleep(10000);
		h = held_bytes(s2, &waits);
		if (h > peak)
			peak = h;
	}
	h = held_bytes(s2, &waits);
	CHECK(peak <= BUDGET);
	CHECK_EQ_INT(h, 2LL * REQ);             /* two fit, eight wait */
	CHECK_EQ_INT(waits, NHOG - 2);
	/* nobody was closed for it */
	for (int i = 0; i < NHOG; i++)
		CHECK(!tc_closed(hog[i], 1));
	/* other clients are served from the 1 MiB left */
	for (int i = 0; i < 3; i++)
		CHECK(server_alive(port));
	int fd = tc_connect(port);
	uint8_t *b;
	size_t len;
	kw_writer_init(&w);
	kw_put_i32(&w, -1);
	CHECK_EQ_INT(tc_call(fd, KAPI_METADATA, 1, &w, &b, &len), 0);
	free(b);
	kw_writer_free(&w);
	close(fd);

	/* the hogs finish their requests: each is answered in turn, the held
	 * bytes never above the budget */
	bool answered[NHOG] = { false };
	size_t got[NHOG] = { 0 };
	int done = 0;
	int64_t end = now_us() + 15000000;
	uint8_t buf[65536];
	while (done < NHOG && now_us() < end) {
		bool progress = false;
		for (int i = 0; i < NHOG; i++) {
			if (sent[i] < (size_t)REQ + 4) {
				ssize_t n = send(hog[i], req + sent[i], REQ + 4 - sent[i],
				                 MSG_DONTWAIT | MSG_NOSIGNAL);
				if (n > 0) {
					sent[i] += (size_t)n;
					progress = true;
				}
			}
			ssize_t n = recv(hog[i], buf, sizeof buf, MSG_DONTWAIT);
			if (n > 0) {
				got[i] += (size_t)n;
				progress = true;
				if (!answered[i] && got[i] >= 8) {
					answered[i] = true;
					done++;
				}
			}
		}
		h = held_bytes(s2, NULL);
		if (h > peak)
			peak = h;
		if (!progress)
			usleep(1000);
	}
	CHECK_EQ_INT(done, NHOG);
	CHECK(peak <= BUDGET);
	/* answered buffers above 1 MiB are not kept: nothing held now */
	for (int i = 0; i < 100 && held_bytes(s2, NULL) != 0; i++)
		usleep(10000);
	CHECK_EQ_INT(held_bytes(s2, &waits), 0);
	CHECK_EQ_INT(waits, 0);

	/* hogs that hang up mid-request release their reservation, waiters
	 * included */
	for (int i = 0; i < NHOG; i++) {
		ssize_t n = send(hog[i], req, 4 + 1000, MSG_DONTWAIT | MSG_NOSIGNAL);
		CHECK(n > 0);
	}
	usleep(100000);
	CHECK_EQ_INT(held_bytes(s2, &waits), 2LL * REQ);
	CHECK_EQ_INT(waits, NHOG - 2);
	for (int i = 0; i < NHOG; i++)
		close(hog[i]);
	for (int i = 0; i < 100 && held_bytes(s2, &waits) != 0; i++)
		usleep(10000);
	CHECK_EQ_INT(held_bytes(s2, &waits), 0);
	CHECK_EQ_INT(waits, 0);
	CHECK(server_alive(port));
	struct srv_stats ss;
	for (int i = 0; i < 100; i++) {
		srv_stats_get(s2, &ss);
		if (ss.open_connections == 0)
			break;
		usleep(10000);
	}
	CHECK_EQ_INT(ss.request_bytes_max, BUDGET);
	CHECK_EQ_INT(ss.open_connections, 0);
	free(req);
	srv_stop(s2);
	restart_main_server();

	/* a budget below one largest request is a bad configuration */
	srv_config_defaults(&cfg);
	cfg.listen_port = 0;
	cfg.max_request_bytes = 1 << 20;
	cfg.queued_max_request_bytes = (1 << 20) - 1;
	CHECK_EQ_INT(srv_start(g_st, &cfg, &s2), -EINVAL);
}

static size_t topic_count(void)
{
	char **names = NULL;
	size_t n = 0;
	if (store_topic_list(g_st, &names, &n))
		return 0;
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return n;
}

static bool topic_exists(const char *name)
{
	struct topic *t = NULL;
	if (store_topic_get(g_st, name, &t))
		return false;
	topic_put(t);
	return true;
}

/* auto_create_max_per_request and auto_create_max_topics: one Metadata
 * request cannot create more than the first; the store never grows past
 * the second through auto-create; the refused names get
 * UNKNOWN_TOPIC_OR_PARTITION (what a broker without auto-create answers). */
static void test_auto_create_caps(void)
{
	struct srv_config cfg;
	struct srv *s2 = NULL;
	size_t base = topic_count();
	srv_config_defaults(&cfg);
	cfg.listen_port = 0;
	cfg.auto_create_topics = true;
	cfg.auto_create_max_per_request = 3;
	cfg.auto_create_max_topics = (int)base + 5;
	REQUIRE(srv_start(g_st, &cfg, &s2) == 0);
	int fd = tc_connect(srv_port(s2));
	struct kw_writer w;
	kw_writer_init(&w);
	uint8_t *b;
	size_t len;
	char names[8][64], host[64];
	int np[8], errs[8], port;
	/* five new names and one existing: three created, two refused */
	kw_put_i32(&w, 6);
	kw_put_cstr(&w, "cap0");
	kw_put_cstr(&w, "cap1");
	kw_put_cstr(&w, "t");
	kw_put_cstr(&w, "cap2");
	kw_put_cstr(&w, "cap3");
	kw_put_cstr(&w, "cap4");
	kw_put_i8(&w, 1);
	REQUIRE(tc_call(fd, KAPI_METADATA, 4, &w, &b, &len) == 0);
	CHECK_EQ_INT(parse_metadata(4, b, len, names, np, errs, host, &port), 6);
	CHECK_EQ_INT(errs[0], 0);
	CHECK_EQ_INT(errs[1], 0);
	CHECK_EQ_INT(errs[2], 0);
	CHECK_EQ_INT(errs[3], 0);
	CHECK_EQ_INT(errs[4], 3);
	CHECK_EQ_INT(errs[5], 3);
	CHECK_EQ_INT(np[4], 0);
	free(b);
	CHECK_EQ_INT(topic_count(), base + 3);
	CHECK(!topic_exists("cap3"));
	/* asked again (as clients do on error 3): created, up to the total */
	w.len = 0;
	kw_put_i32(&w, 3);
	kw_put_cstr(&w, "cap3");
	kw_put_cstr(&w, "cap4");
	kw_put_cstr(&w, "cap5");
	kw_put_i8(&w, 1);
	REQUIRE(tc_call(fd, KAPI_METADATA, 4, &w, &b, &len) == 0);
	CHECK_EQ_INT(parse_metadata(4, b, len, names, np, errs, host, &port), 3);
	CHECK_EQ_INT(errs[0], 0);
	CHECK_EQ_INT(errs[1], 0);
	CHECK_EQ_INT(errs[2], 3);               /* base + 5 topics: full */
	free(b);
	CHECK_EQ_INT(topic_count(), base + 5);
	/* Produce is capped the same way; existing topics still work */
	size_t blen;
	uint8_t *batch = make_batch(2, "cap", CODEC_NONE, &blen);
	int64_t off = -1;
	CHECK_EQ_INT(do_produce(fd, 7, 1, "cap6", 0, batch, (int32_t)blen, &off), 3);
	CHECK(!topic_exists("cap6"));
	CHECK_EQ_INT(do_produce(fd, 7, 1, "cap4", 0, batch, (int32_t)blen, &off), 0);
	free(batch);
	struct srv_stats ss;
	srv_stats_get(s2, &ss);
	CHECK(ss.auto_create_refused >= 3);
	kw_writer_free(&w);
	close(fd);
	srv_stop(s2);
	restart_main_server();
	CHECK_EQ_INT(topic_count(), base + 5);
}

/* A batch with the given header fields over two small records. */
static uint8_t *make_batch_seq(int64_t producer_id, int16_t epoch, int32_t seq,
                               int16_t attr_or, int64_t ts, size_t *len);

static uint8_t *make_batch_ex(int64_t producer_id, int16_t attr_or,
                              int64_t ts, size_t *len)
{
	return make_batch_seq(producer_id, 0, 0, attr_or, ts, len);
}

/* A two-record batch; with producer_id >= 0 an idempotent one with the
 * given epoch and base sequence. */
static uint8_t *make_batch_seq(int64_t producer_id, int16_t epoch, int32_t seq,
                               int16_t attr_or, int64_t ts, size_t *len)
{
	struct rec_in recs[2];
	memset(recs, 0, sizeof recs);
	for (int i = 0; i < 2; i++) {
		recs[i].value = i ? "second" : "first";
		recs[i].value_len = i ? 6 : 5;
		recs[i].key_len = -1;
		recs[i].timestamp = ts;
	}
	struct batch_encode_params p;
	batch_encode_params_init(&p, 0, CODEC_NONE, ts);
	if (producer_id >= 0) {
		p.producer_id = producer_id;
		p.producer_epoch = epoch;
		p.base_sequence = seq;
	}
	uint8_t *out = NULL;
	if (batch_encode_ex(recs, 2, &p, &out, len))
		return NULL;
	if (attr_or) {
		uint16_t a = (uint16_t)((out[21] << 8) | out[22]);
		a |= (uint16_t)attr_or;
		out[21] = (uint8_t)(a >> 8);
		out[22] = (uint8_t)a;
		batch_store_crc(out, *len);
	}
	return out;
}

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Produce refuses what a client may not write: transactional batches
 * (there is no transaction coordinator here), control batches, and
 * timestamps further ahead than message_timestamp_after_max_ms.  The
 * error is exact and nothing is stored. */
/* An idempotent producer over the wire: a retried batch (same producer id,
 * epoch and sequences) is answered with its original base offset and stored
 * once; a gap gets OUT_OF_ORDER_SEQUENCE_NUMBER (45), a lower epoch
 * INVALID_PRODUCER_EPOCH (47); nothing of a refused batch is stored. */
static void test_produce_idempotent_retry(void)
{
	create_topic("idem", 1);
	struct part *p = get_part("idem", 0);
	REQUIRE(p != NULL);
	int fd = tc_connect(g_port);
	REQUIRE(fd >= 0);
	int64_t now = wall_ms(), base = -1;
	struct part_info pi;
	size_t len;
	uint8_t *b0 = make_batch_seq(42, 3, 0, 0, now, &len);      /* seq 0..1 */
	REQUIRE(b0 != NULL);
	CHECK_EQ_INT(do_produce(fd, 7, -1, "idem", 0, b0, (int32_t)len, &base), 0);
	CHECK_EQ_INT(base, 0);
	uint8_t *b1 = make_batch_seq(42, 3, 2, 0, now, &len);      /* seq 2..3 */
	CHECK_EQ_INT(do_produce(fd, 7, -1, "idem", 0, b1, (int32_t)len, &base), 0);
	CHECK_EQ_INT(base, 2);
	/* the retry of the first batch: its original offset, nothing stored */
	for (int v = 3; v <= 7; v += 4) {
		base = -1;
		CHECK_EQ_INT(do_produce(fd, v, -1, "idem", 0, b0, (int32_t)len, &base), 0);
		CHECK_EQ_INT(base, 0);
	}
	part_info(p, &pi);
	CHECK_EQ_INT(pi.next_offset, 4);
	/* a gap: sequence 6 after 3 */
	uint8_t *gap = make_batch_seq(42, 3, 6, 0, now, &len);
	CHECK_EQ_INT(do_produce(fd, 7, -1, "idem", 0, gap, (int32_t)len, &base), 45);
	/* an older epoch of the same producer */
	uint8_t *old = make_batch_seq(42, 2, 4, 0, now, &len);
	CHECK_EQ_INT(do_produce(fd, 7, -1, "idem", 0, old, (int32_t)len, &base), 47);
	part_info(p, &pi);
	CHECK_EQ_INT(pi.next_offset, 4);
	free(b0);
	free(b1);
	free(gap);
	free(old);
	close(fd);
}

static void test_produce_refusals(void)
{
	create_topic("refuse", 1);
	struct part *p = get_part("refuse", 0);
	REQUIRE(p != NULL);
	int fd = tc_connect(g_port);
	REQUIRE(fd >= 0);
	int64_t now = wall_ms(), base;
	struct part_info pi;
	static const struct {
		const char *what;
		int64_t pid;
		int16_t attr;
		int64_t ts_ahead;       /* INT64_MIN: the absolute 2^62 */
		int want;
	} cases[] = {
		{ "transactional, no producer id", -1, BATCH_ATTR_TRANSACTIONAL, 0, 87 },
		{ "transactional, producer id 5", 5, BATCH_ATTR_TRANSACTIONAL, 0, 87 },
		{ "control, no producer id", -1, BATCH_ATTR_CONTROL, 0, 87 },
		{ "control and transactional", 5,
		  BATCH_ATTR_CONTROL | BATCH_ATTR_TRANSACTIONAL, 0, 87 },
		{ "timestamp 2^62", -1, 0, INT64_MIN, 32 },
		{ "timestamp now + 2 h", -1, 0, 2 * 3600 * 1000LL, 32 },
		{ "timestamp now + 61 min", -1, 0, 61 * 60 * 1000LL, 32 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t len;
		int64_t ts = cases[i].ts_ahead == INT64_MIN ? (1LL << 62)
		                                            : now + cases[i].ts_ahead;
		uint8_t *batch = make_batch_ex(cases[i].pid, cases[i].attr, ts, &len);
		REQUIRE(batch != NULL);
		for (int v = 3; v <= 7; v += 4) {
			base = 0;
			int err = do_produce(fd, v, -1, "refuse", 0, batch, (int32_t)len, &base);
			if (err != cases[i].want)
				fprintf(stderr, "  %s (v%d): error %d, want %d\n", cases[i].what,
				        v, err, cases[i].want);
			CHECK_EQ_INT(err, cases[i].want);
			CHECK_EQ_INT(base, -1);
		}
		free(batch);
	}
	part_info(p, &pi);
	CHECK_EQ_INT(pi.next_offset, 0);        /* nothing stored */
	CHECK(server_alive(g_port));
	/* still accepted: idempotent (producer id, not transactional), a
	 * timestamp 30 min ahead, old timestamps */
	size_t len;
	uint8_t *ok1 = make_batch_ex(7, 0, now, &len);
	CHECK_EQ_INT(do_produce(fd, 7, 1, "refuse", 0, ok1, (int32_t)len, &base), 0);
	free(ok1);
	ok1 = make_batch_ex(-1, 0, now + 30 * 60 * 1000LL, &len);
	CHECK_EQ_INT(do_produce(fd, 7, 1, "refuse", 0, ok1, (int32_t)len, &base), 0);
	free(ok1);
	ok1 = make_batch_ex(-1, 0, 1000, &len);
	CHECK_EQ_INT(do_produce(fd, 7, 1, "refuse", 0, ok1, (int32_t)len, &base), 0);
	CHECK_EQ_INT(base, 4);
	free(ok1);
	close(fd);

	/* message_timestamp_after_max_ms = -1: no bound (Kafka before 3.6) */
	struct srv_config cfg;
	struct srv *s2 = NULL;
	srv_config_defaults(&cfg);
	cfg.listen_port = 0;
	cfg.message_timestamp_after_max_ms = -1;
	REQUIRE(srv_start(g_st, &cfg, &s2) == 0);
	fd = tc_connect(srv_port(s2));
	ok1 = make_batch_ex(-1, 0, now + 2 * 3600 * 1000LL, &len);
	CHECK_EQ_INT(do_produce(fd, 7, 1, "refuse", 0, ok1, (int32_t)len, &base), 0);
	free(ok1);
	close(fd);
	srv_stop(s2);
	restart_main_server();
}

/* ======================= InitProducerId (srv_idem.c) ====================== */

/* InitProducerId at version v; returns the error code (negative: transport
 * or layout), *id and *epoch the answer. */
static int init_pid(int fd, int v, const char *txn, int64_t pid, int16_t epoch,
                    int64_t *id, int16_t *out_epoch)
{
	bool flex = v >= 2;
	struct kw_writer w;
	kw_writer_init(&w);
	if (flex)
		kw_put_tags0(&w);                   /* request header v2 */
	kw_put_vstr(&w, flex, txn, txn ? (int)strlen(txn) : -1);
	kw_put_i32(&w, 60000);
	if (v >= 3) {
		kw_put_i64(&w, pid);
		kw_put_i16(&w, epoch);
	}
	if (flex)
		kw_put_tags0(&w);
	uint8_t *b;
	size_t len;
	int rc = tc_call(fd, KAPI_INIT_PRODUCER_ID, (int16_t)v, &w, &b, &len);
	kw_writer_free(&w);
	if (rc)
		return -1000;
	struct kw_reader r;
	if (flex)
		flex_resp(&r, b, len);
	else
		kw_reader_init(&r, b, len);
	CHECK_EQ_INT(kw_i32(&r), 0);            /* ThrottleTimeMs */
	int16_t err = kw_i16(&r);
	*id = kw_i64(&r);
	*out_epoch = kw_i16(&r);
	kw_vtags(&r, flex);
	rc = r.err || r.pos != len ? -1001 : err;
	free(b);
	return rc;
}

/* InitProducerId at every version: new ids unique and increasing with
 * epoch 0; v3+ epoch bumps (KIP-360) for the id's latest epoch, a new id
 * for anything else; a transactional id refused with 53; advertised by
 * ApiVersions; a truncated request closes the connection. */
static void test_init_producer_id(void)
{
	int fd = tc_connect(g_port);
	REQUIRE(fd >= 0);
	uint8_t *b;
	size_t len;
	REQUIRE(tc_call(fd, KAPI_API_VERSIONS, 0, NULL, &b, &len) == 0);
	struct kw_reader r;
	kw_reader_init(&r, b, len);
	kw_i16(&r);
	int32_t n = kw_i32(&r), found = 0;
	for (int32_t i = 0; i < n && !r.err; i++) {
		int16_t k = kw_i16(&r), mn = kw_i16(&r), mx = kw_i16(&r);
		if (k == KAPI_INIT_PRODUCER_ID) {
			CHECK_EQ_INT(mn, 0);
			CHECK_EQ_INT(mx, 5);
			found++;
		}
	}
	CHECK_EQ_INT(found, 1);
	free(b);

	int64_t last = -1, id = -1, id2;
	int16_t ep = -1, ep2;
	for (int v = 0; v <= 5; v++) {
		for (int k = 0; k < 3; k++) {
			CHECK_EQ_INT(init_pid(fd, v, NULL, -1, -1, &id, &ep), 0);
			CHECK(id > last);
			CHECK_EQ_INT(ep, 0);
			last = id;
		}
	}
	/* v3+: bump the epoch of the latest id, again and again */
	for (int v = 3; v <= 5; v++) {
		CHECK_EQ_INT(init_pid(fd, v, NULL, -1, -1, &id, &ep), 0);
		CHECK(id > last);
		last = id;
		for (int k = 1; k <= 3; k++) {
			CHECK_EQ_INT(init_pid(fd, v, NULL, id, ep, &id2, &ep2), 0);
			CHECK_EQ_INT(id2, id);
			CHECK_EQ_INT(ep2, k);
			ep = ep2;
		}
		/* a stale epoch (a zombie or a lost answer): a new id, epoch 0 */
		CHECK_EQ_INT(init_pid(fd, v, NULL, id, 1, &id2, &ep2), 0);
		CHECK(id2 > last);
		CHECK_EQ_INT(ep2, 0);
		last = id2;
		/* an id never handed out: a new one */
		CHECK_EQ_INT(init_pid(fd, v, NULL, 1LL << 50, 0, &id2, &ep2), 0);
		CHECK(id2 > last && id2 < (1LL << 50));
		CHECK_EQ_INT(ep2, 0);
		last = id2;
	}
	/* an exhausted epoch gives a new id (Kafka: at Short.MaxValue - 1) */
	int64_t sid;
	int16_t sep;
	REQUIRE(store_init_producer_id(g_st, -1, -1, &sid, &sep) == 0);
	for (int k = 0; k < INT16_MAX - 2; k++)
		REQUIRE(store_init_producer_id(g_st, sid, sep, &sid, &sep) == 0);
	CHECK_EQ_INT(sep, INT16_MAX - 2);
	int64_t keep = sid;
	REQUIRE(store_init_producer_id(g_st, sid, sep, &sid, &sep) == 0);
	CHECK_EQ_INT(sid, keep);
	CHECK_EQ_INT(sep, INT16_MAX - 1);
	REQUIRE(store_init_producer_id(g_st, sid, sep, &sid, &sep) == 0);
	CHECK(sid > keep);
	CHECK_EQ_INT(sep, 0);
	last = sid;
	/* transactions: refused, non-retriable, at every version; the
	 * connection keeps serving */
	for (int v = 0; v <= 5; v++) {
		id = 0;
		ep = 0;
		CHECK_EQ_INT(init_pid(fd, v, "txn-1", -1, -1, &id, &ep), 53);
		CHECK_EQ_INT(id, -1);
		CHECK_EQ_INT(ep, -1);
	}
	CHECK_EQ_INT(init_pid(fd, 4, NULL, -1, -1, &id, &ep), 0);
	CHECK(id > last);
	close(fd);
	/* a truncated request: closed, the server keeps serving */
	fd = tc_connect(g_port);
	REQUIRE(fd >= 0);
	struct kw_writer w;
	kw_writer_init(&w);
	kw_put_str(&w, NULL, -1);
	kw_put_i16(&w, 0);                      /* TimeoutMs cut short */
	REQUIRE(tc_send(fd, KAPI_INIT_PRODUCER_ID, 1, 9, &w) == 0);
	kw_writer_free(&w);
	CHECK(tc_closed(fd, 2000));
	close(fd);
	CHECK(server_alive(g_port));
}

/* A store and a server of their own on dir (for restarts). */
static int side_up(const char *dir, struct store **st, struct srv **srv)
{
	*st = tu_store_open(dir);
	if (!*st)
		return -EIO;
	struct srv_config cfg;
	srv_config_defaults(&cfg);
	cfg.listen_port = 0;
	int rc = srv_start(*st, &cfg, srv);
	if (rc) {
		store_close(*st);
		*st = NULL;
	}
	return rc;
}

static void side_down(struct store *st, struct srv *srv)
{
	srv_stop(srv);
	store_close(st);
}

static int64_t side_next(struct store *st, const char *topic)
{
	struct topic *t = NULL;
	struct part_info pi = { .next_offset = -1 };
	if (store_topic_get(st, topic, &t))
		return -1;
	part_info(topic_part(t, 0), &pi);
	topic_put(t);
	return pi.next_offset;
}

/* Producer ids survive restarts (the reserved block is durable before an
 * id is handed out, a crash skips the rest of a block, a damaged file
 * jumps far ahead), and an idempotent producer's retry of a batch, on a
 * new connection or after a restart, is answered with the original
 * offset and stored once, with acks 1, -1 and 0. */
static void test_idempotent_restarts(void)
{
	char dir[300], path[400];
	snprintf(dir, sizeof dir, "%s/idem-restart", g_dir);
	snprintf(path, sizeof path, "%s/producer-id-block", dir);
	REQUIRE(mkdir(dir, 0700) == 0);
	struct store *st;
	struct srv *srv;
	REQUIRE(side_up(dir, &st, &srv) == 0);
	{
		struct topic_config tc;
		struct topic *t = NULL;
		topic_config_defaults(&tc);
		tc.partitions = 1;
		REQUIRE(store_topic_create(st, "ir", &tc, &t) == 0);
		topic_put(t);
	}
	int fd = tc_connect(srv_port(srv));
	REQUIRE(fd >= 0);
	int64_t id, id2, base = -1, now = wall_ms();
	int16_t ep, ep2;
	CHECK_EQ_INT(init_pid(fd, 4, NULL, -1, -1, &id, &ep), 0);
	CHECK_EQ_INT(id, 0);                    /* a new data dir starts at 0 */
	CHECK(access(path, F_OK) == 0);
	size_t len;
	uint8_t *b0 = make_batch_seq(id, ep, 0, 0, now, &len);
	REQUIRE(b0 != NULL);
	CHECK_EQ_INT(do_produce(fd, 7, -1, "ir", 0, b0, (int32_t)len, &base), 0);
	CHECK_EQ_INT(base, 0);
	close(fd);
	/* the retry on a new connection, with acks 1, -1 and 0 */
	fd = tc_connect(srv_port(srv));
	REQUIRE(fd >= 0);
	for (int acks = 1; acks >= -1; acks -= 2) {
		base = -1;
		CHECK_EQ_INT(do_produce(fd, 7, (int16_t)acks, "ir", 0, b0,
		                        (int32_t)len, &base), 0);
		CHECK_EQ_INT(base, 0);
	}
	{
		struct kw_writer w;
		kw_writer_init(&w);
		produce_body(&w, 7, 0, "ir", 0, b0, (int32_t)len);
		CHECK_EQ_INT(tc_send(fd, KAPI_PRODUCE, 7, 5, &w), 0);
		kw_writer_free(&w);
	}
	CHECK(server_alive(srv_port(srv)));
	CHECK_EQ_INT(side_next(st, "ir"), 2);
	close(fd);
	side_down(st, srv);

	/* after a restart: ids go on above the old ones, and the retry is
	 * still answered with the original offset (the producer state is
	 * rebuilt from the log / snapshot) */
	REQUIRE(side_up(dir, &st, &srv) == 0);
	fd = tc_connect(srv_port(srv));
	REQUIRE(fd >= 0);
	for (int v = 0; v <= 5; v++) {
		CHECK_EQ_INT(init_pid(fd, v, NULL, -1, -1, &id2, &ep2), 0);
		CHECK(id2 >= PRODUCER_ID_BLOCK);    /* the old block is skipped */
	}
	/* a bump of the old id after the restart: a new id (epochs are not
	 * remembered across restarts) */
	CHECK_EQ_INT(init_pid(fd, 3, NULL, id, ep, &id2, &ep2), 0);
	CHECK(id2 != id);
	CHECK_EQ_INT(ep2, 0);
	base = -1;
	CHECK_EQ_INT(do_produce(fd, 7, -1, "ir", 0, b0, (int32_t)len, &base), 0);
	CHECK_EQ_INT(base, 0);
	uint8_t *b1 = make_batch_seq(id, ep, 2, 0, now, &len);
	CHECK_EQ_INT(do_produce(fd, 7, -1, "ir", 0, b1, (int32_t)len, &base), 0);
	CHECK_EQ_INT(base, 2);
	CHECK_EQ_INT(do_produce(fd, 3, 1, "ir", 0, b1, (int32_t)len, &base), 0);
	CHECK_EQ_INT(base, 2);
	CHECK_EQ_INT(side_next(st, "ir"), 4);
	close(fd);
	side_down(st, srv);                     /* closed cleanly ... */

	/* a damaged file: ids continue far above (the wall clock in ms * 1000) */
	FILE *f = fopen(path, "w");
	REQUIRE(f != NULL);
	fputs("garbage\n", f);
	fclose(f);
	st = tu_store_open(dir);
	REQUIRE(st != NULL);
	CHECK_EQ_INT(store_next_producer_id(st, &id2), 0);
	CHECK(id2 >= now * 1000);
	int64_t id3;
	CHECK_EQ_INT(store_next_producer_id(st, &id3), 0);
	CHECK_EQ_INT(id3, id2 + 1);
	store_close(st);
	st = tu_store_open(dir);
	REQUIRE(st != NULL);
	CHECK_EQ_INT(store_next_producer_id(st, &id3), 0);
	CHECK_EQ_INT(id3, id2 + PRODUCER_ID_BLOCK);
	CHECK_EQ_INT(side_next(st, "ir"), 4);
	store_close(st);
	free(b0);
	free(b1);
}

/* ============================== admin APIs ================================ */

/* The request body for a flexible version starts empty (the header tag
 * buffer is written by adm_call). */
static int adm_call(int fd, int16_t api, int16_t ver, bool flex,
                    const struct kw_writer *body, struct kw_reader *r,
                    uint8_t **b, size_t *len)
{
	struct kw_writer w;
	kw_writer_init(&w);
	if (flex)
		kw_put_tags0(&w);               /* request header v2 tags */
	kw_put(&w, body->buf, body->len);
	int rc = tc_call(fd, api, ver, &w, b, len);
	kw_writer_free(&w);
	if (rc)
		return rc;
	if (flex)
		flex_resp(r, *b, *len);
	else
		kw_reader_init(r, *b, *len);
	return 0;
}

struct ct_in {
	const char *name;
	int32_t nparts;
	int16_t rf;
	int nassign;                    /* assignments to send (each [0]) */
	const char *cfg[4][2];          /* name, value (NULL: null); up to 4 */
};

static void ct_body(struct kw_writer *w, int v, bool flex, const struct ct_in *in,
                    int n, bool validate_only)
{
	kw_writer_init(w);
	kw_put_varray(w, flex, n);
	for (int i = 0; i < n; i++) {
		kw_put_vcstr(w, flex, in[i].name);
		kw_put_i32(w, in[i].nparts);
		kw_put_i16(w, in[i].rf);
		kw_put_varray(w, flex, in[i].nassign);
		for (int j = 0; j < in[i].nassign; j++) {
			kw_put_i32(w, j);
			kw_put_varray(w, flex, 1);
			kw_put_i32(w, 0);
			kw_put_vtags(w, flex);
		}
		int nc = 0;
		while (nc < 4 && in[i].cfg[nc][0])
			nc++;
		kw_put_varray(w, flex, nc);
		for (int j = 0; j < nc; j++) {
			kw_put_vcstr(w, flex, in[i].cfg[j][0]);
			kw_put_vcstr(w, flex, in[i].cfg[j][1]);
			kw_put_vtags(w, flex);
		}
		kw_put_vtags(w, flex);
	}
	kw_put_i32(w, 5000);
	if (v >= 1)
		kw_put_i8(w, validate_only);
	kw_put_vtags(w, flex);
}

struct ct_out {
	int16_t err;
	char msg[200];
	int32_t nparts;
	int16_t rf;
	uint8_t id[16];
	int ncfg;
	char retention_ms[32];
	int retention_src, retention_ro;
	char codec[32];
	int codec_ro;
};

/* Parse a CreateTopics response; returns the topic count. */
static int ct_parse(int v, bool flex, struct kw_reader *r, struct ct_out *out,
                    int max)
{
	const char *s;
	int sl;
	if (v >= 2)
		CHECK_EQ_INT(kw_i32(r), 0);
	int32_t n = kw_varray(r, flex, 1, false);
	for (int32_t i = 0; i < n && !r->err; i++) {
		struct ct_out o;
		memset(&o, 0, sizeof o);
		kw_vstr(r, flex, &s, &sl);
		if (v >= 7)
			kw_uuid(r, o.id);
		o.err = kw_i16(r);
		if (v >= 1) {
			kw_vstr(r, flex, &s, &sl);
			if (sl > 0)
				snprintf(o.msg, sizeof o.msg, "%.*s", sl, s);
			CHECK(o.err ? sl > 0 : sl == -1);
		}
		if (v >= 5) {
			o.nparts = kw_i32(r);
			o.rf = kw_i16(r);
			o.ncfg = kw_carray(r, 1, true);
			for (int j = 0; j < o.ncfg && !r->err; j++) {
				const char *cn, *cv;
				int cnl, cvl;
				kw_cstr(r, &cn, &cnl);
				kw_cstr(r, &cv, &cvl);
				int ro = kw_i8(r), src = kw_i8(r);
				CHECK_EQ_INT(kw_i8(r), 0);          /* sensitive */
				kw_tags_skip(r);
				if (cnl == 12 && !memcmp(cn, "retention.ms", 12)) {
					snprintf(o.retention_ms, sizeof o.retention_ms,
					         "%.*s", cvl, cv);
					o.retention_src = src;
					o.retention_ro = ro;
				}
				if (cnl == 16 && !memcmp(cn, "compression.type", 16)) {
					snprintf(o.codec, sizeof o.codec, "%.*s", cvl, cv);
					o.codec_ro = ro;
				}
			}
		}
		kw_vtags(r, flex);
		if (i < max)
			out[i] = o;
	}
	kw_vtags(r, flex);
	CHECK(!r->err && r->pos == r->len);
	return n;
}

static int ct_call(int fd, int v, const struct ct_in *in, int n, bool vonly,
                   struct ct_out *out)
{
	bool flex = v >= 5;
	struct kw_writer w;
	struct kw_reader r;
	uint8_t *b;
	size_t len;
	ct_body(&w, v, flex, in, n, vonly);
	int rc = adm_call(fd, KAPI_CREATE_TOPICS, (int16_t)v, flex, &w, &r, &b, &len);
	kw_writer_free(&w);
	if (rc)
		return -1;
	rc = ct_parse(v, flex, &r, out, n);
	free(b);
	return rc;
}

static int32_t topic_nparts(const char *name)
{
	struct topic *t = NULL;
	if (store_topic_get(g_st, name, &t))
		return -1;
	int32_t n = topic_partitions(t);
	topic_put(t);
	return n;
}

/* CreateTopics v0-7: creation, every refusal, validate-only, duplicates,
 * configs by Kafka name with the effective configs and their sources in
 * v5+, the topic id in v7, the topic cap. */
static void test_admin_create_topics(void)
{
	int fd = tc_connect(g_port);
	REQUIRE(fd >= 0);
	struct ct_out o[8];
	/* v0: three partitions */
	struct ct_in a = { "adm-a", 3, -1, 0, { { NULL } } };
	REQUIRE(ct_call(fd, 0, &a, 1, false, o) == 1);
	CHECK_EQ_INT(o[0].err, 0);
	CHECK_EQ_INT(topic_nparts("adm-a"), 3);
	/* v1: again -> exists, with a message; validate-only creates nothing */
	struct ct_in a2[2] = { { "adm-a", 1, 1, 0, { { NULL } } },
	                       { "adm-v", 2, 1, 0, { { NULL } } } };
	REQUIRE(ct_call(fd, 1, a2, 2, true, o) == 2);
	CHECK_EQ_INT(o[0].err, 36);
	CHECK(strstr(o[0].msg, "already exists") != NULL);
	CHECK_EQ_INT(o[1].err, 0);
	CHECK(!topic_exists("adm-v"));
	/* v4: each refusal */
	struct ct_in bad[8] = {
		{ "bad/name", 1, 1, 0, { { NULL } } },
		{ "adm-b0", 0, 1, 0, { { NULL } } },
		{ "adm-b1", 1, 3, 0, { { NULL } } },
		{ "adm-b2", -1, -1, 2, { { NULL } } },
		{ "adm-b3", 1, 1, 0, { { "no.such.config", "1" } } },
		{ "adm-b4", 1, 1, 0, { { "retention.ms", "soon" } } },
		{ "adm-dup", 1, 1, 0, { { NULL } } },
		{ "adm-dup", 1, 1, 0, { { NULL } } },
	};
	REQUIRE(ct_call(fd, 4, bad, 8, false, o) == 8);
	CHECK_EQ_INT(o[0].err, 17);
	CHECK_EQ_INT(o[1].err, 37);
	CHECK_EQ_INT(o[2].err, 38);
	CHECK_EQ_INT(o[3].err, 39);
	CHECK_EQ_INT(o[4].err, 40);
	CHECK(strstr(o[4].msg, "no.such.config") != NULL);
	CHECK_EQ_INT(o[5].err, 40);
	CHECK(strstr(o[5].msg, "retention.ms") != NULL);
	CHECK_EQ_INT(o[6].err, 42);
	CHECK_EQ_INT(o[7].err, 42);
	CHECK(!topic_exists("adm-b0") && !topic_exists("adm-b4") &&
	      !topic_exists("adm-dup"));
	/* more refusals: null value, gzip, partitions as a config, too many,
	 * our own key names, INI suffixes, flush 0, a fixed config's other
	 * value; and the fixed configs with their one value are accepted
	 * (validate only) */
	struct ct_in bad2[8] = {
		{ "adm-c0", 1, 1, 0, { { "retention.ms", NULL } } },
		{ "adm-c1", 1, 1, 0, { { "compression.type", "gzip" } } },
		{ "adm-c2", 1, 1, 0, { { "partitions", "4" } } },
		{ "adm-c3", 100001, 1, 0, { { NULL } } },
		{ "adm-c4", 1, 1, 0, { { "retention_ms", "1000" } } },
		{ "adm-c5", 1, 1, 0, { { "retention.ms", "7d" } } },
		{ "adm-c6", 1, 1, 0, { { "flush.ms", "0" }, { "cleanup.policy", "compact" } } },
		{ "adm-c7", 1, 1, 0, { { "cleanup.policy", "delete" },
		                       { "min.insync.replicas", "1" } } },
	};
	REQUIRE(ct_call(fd, 3, bad2, 8, true, o) == 8);
	CHECK_EQ_INT(o[0].err, 40);
	CHECK_EQ_INT(o[1].err, 40);
	CHECK_EQ_INT(o[2].err, 40);
	CHECK_EQ_INT(o[3].err, 37);
	CHECK_EQ_INT(o[4].err, 40);
	CHECK_EQ_INT(o[5].err, 40);
	CHECK_EQ_INT(o[6].err, 40);
	CHECK_EQ_INT(o[7].err, 0);
	/* v5 (flexible): default partitions, configs with their sources */
	struct ct_in f = { "adm-f", -1, -1, 0,
	                   { { "retention.ms", "1000" },
	                     { "compression.type", "zstd" },
	                     { "flush.messages", "9223372036854775807" } } };
	REQUIRE(ct_call(fd, 5, &f, 1, false, o) == 1);
	CHECK_EQ_INT(o[0].err, 0);
	CHECK_EQ_INT(o[0].nparts, 1);
	CHECK_EQ_INT(o[0].rf, 1);
	CHECK(o[0].ncfg >= 8);
	CHECK(!strcmp(o[0].retention_ms, "1000"));
	CHECK_EQ_INT(o[0].retention_src, 1);        /* DYNAMIC_TOPIC_CONFIG */
	CHECK_EQ_INT(o[0].retention_ro, 0);
	CHECK(!strcmp(o[0].codec, "zstd"));
	CHECK_EQ_INT(o[0].codec_ro, 1);             /* fixed at creation */
	{
		struct topic *t = NULL;
		REQUIRE(store_topic_get(g_st, "adm-f", &t) == 0);
		struct topic_config tc;
		topic_get_config(t, &tc);
		CHECK_EQ_INT(tc.retention_ms, 1000);
		CHECK_EQ_INT(tc.codec, CODEC_ZSTD);
		CHECK_EQ_INT(tc.flush_messages, 0);
		topic_put(t);
	}
	/* v5 errors: NumPartitions/ReplicationFactor -1, no configs */
	REQUIRE(ct_call(fd, 5, &f, 1, false, o) == 1);
	CHECK_EQ_INT(o[0].err, 36);
	CHECK_EQ_INT(o[0].nparts, -1);
	CHECK_EQ_INT(o[0].rf, -1);
	CHECK_EQ_INT(o[0].ncfg, 0);
	/* v6 validate-only answers the would-be configs */
	struct ct_in vo = { "adm-vo", 4, 1, 0, { { "retention.ms", "2000" } } };
	REQUIRE(ct_call(fd, 6, &vo, 1, true, o) == 1);
	CHECK_EQ_INT(o[0].err, 0);
	CHECK_EQ_INT(o[0].nparts, 4);
	CHECK(!strcmp(o[0].retention_ms, "2000"));
	CHECK(!topic_exists("adm-vo"));
	/* v7: the topic id */
	struct ct_in g = { "adm-g", 2, 1, 0, { { "compression.type", "producer" } } };
	REQUIRE(ct_call(fd, 7, &g, 1, false, o) == 1);
	CHECK_EQ_INT(o[0].err, 0);
	CHECK(!strcmp(o[0].codec, "uncompressed"));
	{
		struct topic *t = NULL;
		uint8_t id[16];
		REQUIRE(store_topic_get(g_st, "adm-g", &t) == 0);
		topic_id(t, id);
		CHECK(!memcmp(id, o[0].id, 16));
		topic_put(t);
	}
	/* a truncated request closes the connection */
	struct kw_writer w;
	ct_body(&w, 1, false, &a, 1, false);
	w.len -= 1;
	REQUIRE(tc_send(fd, KAPI_CREATE_TOPICS, 1, 9, &w) == 0);
	kw_writer_free(&w);
	CHECK(tc_closed(fd, 2000));
	close(fd);
	/* a hostile count closes it before anything is allocated */
	fd = tc_connect(g_port);
	kw_writer_init(&w);
	kw_put_i32(&w, 0x7fffffff);
	REQUIRE(tc_send(fd, KAPI_CREATE_TOPICS, 0, 9, &w) == 0);
	kw_writer_free(&w);
	CHECK(tc_closed(fd, 2000));
	close(fd);

	/* the topic cap (auto_create_max_topics) applies */
	struct srv_config cfg;
	struct srv *s2 = NULL;
	srv_config_defaults(&cfg);
	cfg.listen_port = 0;
	cfg.auto_create_max_topics = (int)topic_count() + 1;
	REQUIRE(srv_start(g_st, &cfg, &s2) == 0);
	fd = tc_connect(srv_port(s2));
	struct ct_in cap[2] = { { "adm-cap0", 1, 1, 0, { { NULL } } },
	                        { "adm-cap1", 1, 1, 0, { { NULL } } } };
	REQUIRE(ct_call(fd, 4, cap, 2, false, o) == 2);
	CHECK_EQ_INT(o[0].err, 0);
	CHECK_EQ_INT(o[1].err, 44);
	CHECK(strstr(o[1].msg, "auto_create_max_topics") != NULL);
	CHECK(topic_exists("adm-cap0") && !topic_exists("adm-cap1"));
	close(fd);
	srv_stop(s2);
}

/* DeleteTopics v0-6: refused without allow_delete, by name, by id (v6),
 * unknown names and ids. */
static void dt_body(struct kw_writer *w, int v, const char **names,
                    const uint8_t (*ids)[16], int n)
{
	bool flex = v >= 4;
	kw_writer_init(w);
	kw_put_varray(w, flex, n);
	for (int i = 0; i < n; i++) {
		kw_put_vcstr(w, flex, names[i]);
		if (v >= 6) {
			kw_put_uuid(w, ids ? ids[i] : (const uint8_t[16]){ 0 });
			kw_put_tags0(w);
		}
	}
	kw_put_i32(w, 1000);
	kw_put_vtags(w, flex);
}

static int dt_call(int fd, int v, const char **names, const uint8_t (*ids)[16],
                   int n, int16_t *errs)
{
	bool flex = v >= 4;
	struct kw_writer w;
	struct kw_reader r;
	uint8_t *b;
	size_t len;
	dt_body(&w, v, names, ids, n);
	int rc = adm_call(fd, KAPI_DELETE_TOPICS, (int16_t)v, flex, &w, &r, &b, &len);
	kw_writer_free(&w);
	if (rc)
		return -1;
	if (v >= 1)
		CHECK_EQ_INT(kw_i32(&r), 0);
	int32_t cnt = kw_varray(&r, flex, 1, false);
	for (int32_t i = 0; i < cnt && !r.err; i++) {
		const char *s;
		int sl;
		uint8_t id[16];
		kw_vstr(&r, flex, &s, &sl);
		if (v >= 6)
			kw_uuid(&r, id);
		errs[i] = kw_i16(&r);
		if (v >= 5) {
			kw_vstr(&r, flex, &s, &sl);
			CHECK(errs[i] ? sl > 0 : sl == -1);
		}
		kw_vtags(&r, flex);
	}
	kw_vtags(&r, flex);
	CHECK(!r.err && r.pos == len);
	free(b);
	return cnt;
}

static void test_admin_delete_topics(void)
{
	create_topic("adm-d0", 1);
	create_topic("adm-d1", 1);
	create_topic("adm-d2", 2);
	create_topic("adm-d3", 1);
	int16_t e[4];
	int fd = tc_connect(g_port);
	const char *n0[] = { "adm-d0" };
	REQUIRE(dt_call(fd, 0, n0, NULL, 1, e) == 1);
	CHECK_EQ_INT(e[0], 73);                     /* allow_delete off */
	REQUIRE(dt_call(fd, 5, n0, NULL, 1, e) == 1);
	CHECK_EQ_INT(e[0], 73);
	CHECK(topic_exists("adm-d0"));
	close(fd);

	struct srv_config cfg;
	struct srv *s2 = NULL;
	srv_config_defaults(&cfg);
	cfg.listen_port = 0;
	cfg.allow_delete = true;
	REQUIRE(srv_start(g_st, &cfg, &s2) == 0);
	fd = tc_connect(srv_port(s2));
	const char *n1[] = { "adm-d0", "adm-nope", "bad/name" };
	REQUIRE(dt_call(fd, 0, n1, NULL, 3, e) == 3);
	CHECK_EQ_INT(e[0], 0);
	CHECK_EQ_INT(e[1], 3);
	CHECK_EQ_INT(e[2], 3);
	CHECK(!topic_exists("adm-d0"));
	const char *n2[] = { "adm-d1" };
	REQUIRE(dt_call(fd, 4, n2, NULL, 1, e) == 1);   /* flexible */
	CHECK_EQ_INT(e[0], 0);
	CHECK(!topic_exists("adm-d1"));
	/* v6: by id (null name), an unknown id, and by name */
	uint8_t ids[3][16];
	{
		struct topic *t = NULL;
		REQUIRE(store_topic_get(g_st, "adm-d2", &t) == 0);
		topic_id(t, ids[0]);
		topic_put(t);
		memset(ids[1], 0x5a, 16);
		memset(ids[2], 0, 16);
	}
	const char *n3[] = { NULL, NULL, "adm-d3" };
	REQUIRE(dt_call(fd, 6, n3, (const uint8_t (*)[16])ids, 3, e) == 3);
	CHECK_EQ_INT(e[0], 0);
	CHECK_EQ_INT(e[1], 100);
	CHECK_EQ_INT(e[2], 0);
	CHECK(!topic_exists("adm-d2") && !topic_exists("adm-d3"));
	/* a null name before v6 does not parse */
	const char *n4[] = { NULL };
	struct kw_writer w;
	dt_body(&w, 1, n4, NULL, 1);
	REQUIRE(tc_send(fd, KAPI_DELETE_TOPICS, 1, 9, &w) == 0);
	kw_writer_free(&w);
	CHECK(tc_closed(fd, 2000));
	close(fd);
	srv_stop(s2);
}

/* CreatePartitions v0-3. */
static int cp_call(int fd, int v, const char *name, int32_t count, int nassign,
                   bool vonly, char *msg, size_t msg_len)
{
	bool flex = v >= 2;
	struct kw_writer w;
	struct kw_reader r;
	uint8_t *b;
	size_t len;
	kw_writer_init(&w);
	kw_put_varray(&w, flex, 1);
	kw_put_vcstr(&w, flex, name);
	kw_put_i32(&w, count);
	kw_put_varray(&w, flex, nassign);           /* -1: null */
	for (int i = 0; i < nassign; i++) {
		kw_put_varray(&w, flex, 1);
		kw_put_i32(&w, 0);
		kw_put_vtags(&w, flex);
	}
	kw_put_vtags(&w, flex);
	kw_put_i32(&w, 1000);
	kw_put_i8(&w, vonly);
	kw_put_vtags(&w, flex);
	int rc = adm_call(fd, KAPI_CREATE_PARTITIONS, (int16_t)v, flex, &w, &r, &b,
	                  &len);
	kw_writer_free(&w);
	if (rc)
		return -1000;
	const char *s;
	int sl;
	CHECK_EQ_INT(kw_i32(&r), 0);
	CHECK_EQ_INT(kw_varray(&r, flex, 1, false), 1);
	kw_vstr(&r, flex, &s, &sl);
	CHECK(sl == (int)strlen(name) && !memcmp(s, name, (size_t)sl));
	int16_t err = kw_i16(&r);
	kw_vstr(&r, flex, &s, &sl);
	CHECK(err ? sl > 0 : sl == -1);
	if (msg)
		snprintf(msg, msg_len, "%.*s", sl > 0 ? sl : 0, s ? s : "");
	kw_vtags(&r, flex);
	kw_vtags(&r, flex);
	CHECK(!r.err && r.pos == len);
	free(b);
	return err;
}

static void test_admin_create_partitions(void)
{
	create_topic("adm-p", 1);
	int fd = tc_connect(g_port);
	char msg[200];
	CHECK_EQ_INT(cp_call(fd, 0, "adm-p", 3, -1, false, NULL, 0), 0);
	CHECK_EQ_INT(topic_nparts("adm-p"), 3);
	CHECK(get_part("adm-p", 2) != NULL);
	CHECK_EQ_INT(cp_call(fd, 1, "adm-p", 3, -1, false, msg, sizeof msg), 37);
	CHECK(strstr(msg, "already has 3") != NULL);
	CHECK_EQ_INT(cp_call(fd, 1, "adm-p", 2, 0, false, NULL, 0), 37);
	CHECK_EQ_INT(cp_call(fd, 2, "adm-nope", 5, -1, false, NULL, 0), 3);
	CHECK_EQ_INT(cp_call(fd, 2, "adm-p", 5, 2, false, NULL, 0), 39);
	CHECK_EQ_INT(cp_call(fd, 3, "adm-p", 5, -1, true, NULL, 0), 0);
	CHECK_EQ_INT(topic_nparts("adm-p"), 3);      /* validate only */
	CHECK_EQ_INT(cp_call(fd, 3, "adm-p", 100001, -1, false, NULL, 0), 37);
	CHECK_EQ_INT(cp_call(fd, 3, "adm-p", 5, 0, false, NULL, 0), 0); /* [] */
	CHECK_EQ_INT(topic_nparts("adm-p"), 5);
	CHECK_EQ_INT(append_values("adm-p", 4, "x", 0, 3), 0);
	close(fd);
}

/* DeleteRecords v0-2: the low watermark moves, -1 is the high watermark,
 * beyond the end and negative offsets are OFFSET_OUT_OF_RANGE. */
static int dr_call(int fd, int v, const char *name, int32_t idx, int64_t off,
                   int64_t *low)
{
	bool flex = v >= 2;
	struct kw_writer w;
	struct kw_reader r;
	uint8_t *b;
	size_t len;
	kw_writer_init(&w);
	kw_put_varray(&w, flex, 1);
	kw_put_vcstr(&w, flex, name);
	kw_put_varray(&w, flex, 1);
	kw_put_i32(&w, idx);
	kw_put_i64(&w, off);
	kw_put_vtags(&w, flex);
	kw_put_vtags(&w, flex);
	kw_put_i32(&w, 1000);
	kw_put_vtags(&w, flex);
	int rc = adm_call(fd, KAPI_DELETE_RECORDS, (int16_t)v, flex, &w, &r, &b, &len);
	kw_writer_free(&w);
	if (rc)
		return -1000;
	const char *s;
	int sl;
	CHECK_EQ_INT(kw_i32(&r), 0);
	CHECK_EQ_INT(kw_varray(&r, flex, 1, false), 1);
	kw_vstr(&r, flex, &s, &sl);
	CHECK_EQ_INT(kw_varray(&r, flex, 1, false), 1);
	CHECK_EQ_INT(kw_i32(&r), idx);
	*low = kw_i64(&r);
	int16_t err = kw_i16(&r);
	kw_vtags(&r, flex);
	kw_vtags(&r, flex);
	kw_vtags(&r, flex);
	CHECK(!r.err && r.pos == len);
	free(b);
	return err;
}

static void test_admin_delete_records(void)
{
	create_topic("adm-r", 2);
	for (int i = 0; i < 5; i++)
		REQUIRE(append_values("adm-r", 0, "r", i * 10, 10) == 0);
	int fd = tc_connect(g_port);
	int64_t low;
	CHECK_EQ_INT(dr_call(fd, 0, "adm-r", 0, 25, &low), 0);
	CHECK_EQ_INT(low, 25);
	struct part_info pi;
	part_info(get_part("adm-r", 0), &pi);
	CHECK_EQ_INT(pi.log_start_offset, 25);
	CHECK_EQ_INT(dr_call(fd, 1, "adm-r", 0, 10, &low), 0);   /* below: no-op */
	CHECK_EQ_INT(low, 25);
	CHECK_EQ_INT(dr_call(fd, 2, "adm-r", 0, 51, &low), 1);   /* past the end */
	CHECK_EQ_INT(low, -1);
	CHECK_EQ_INT(dr_call(fd, 2, "adm-r", 0, -7, &low), 1);
	CHECK_EQ_INT(dr_call(fd, 2, "adm-r", 9, 1, &low), 3);
	CHECK_EQ_INT(dr_call(fd, 2, "adm-nope", 0, 1, &low), 3);
	CHECK_EQ_INT(dr_call(fd, 2, "adm-r", 0, -1, &low), 0);   /* high watermark */
	CHECK_EQ_INT(low, 50);
	CHECK_EQ_INT(dr_call(fd, 0, "adm-r", 1, -1, &low), 0);   /* empty partition */
	CHECK_EQ_INT(low, 0);
	/* ListOffsets earliest agrees */
	part_info(get_part("adm-r", 0), &pi);
	CHECK_EQ_INT(pi.log_start_offset, 50);
	CHECK_EQ_INT(pi.next_offset, 50);
	close(fd);
}

/* DescribeCluster v0-1 (always flexible). */
static void test_admin_describe_cluster(void)
{
	int fd = tc_connect(g_port);
	for (int v = 0; v <= 1; v++) {
		for (int ops = 0; ops <= 1; ops++) {
			for (int ep = 1; ep <= (v >= 1 ? 2 : 1); ep++) {
				struct kw_writer w;
				struct kw_reader r;
				uint8_t *b;
				size_t len;
				const char *s;
				int sl;
				kw_writer_init(&w);
				kw_put_i8(&w, (int8_t)ops);
				if (v >= 1)
					kw_put_i8(&w, (int8_t)ep);
				kw_put_tags0(&w);
				REQUIRE(adm_call(fd, KAPI_DESCRIBE_CLUSTER, (int16_t)v, true,
				                 &w, &r, &b, &len) == 0);
				kw_writer_free(&w);
				CHECK_EQ_INT(kw_i32(&r), 0);
				int16_t err = kw_i16(&r);
				CHECK_EQ_INT(err, ep == 1 ? 0 : 114);
				kw_cstr(&r, &s, &sl);
				CHECK(err ? sl > 0 : sl == -1);
				if (v >= 1)
					CHECK_EQ_INT(kw_i8(&r), ep);
				kw_cstr(&r, &s, &sl);
				CHECK(sl == 7 && !memcmp(s, "topicfs", 7));
				CHECK_EQ_INT(kw_i32(&r), 0);        /* controller */
				CHECK_EQ_INT(kw_carray(&r, 1, false), 1);
				CHECK_EQ_INT(kw_i32(&r), 0);
				kw_cstr(&r, &s, &sl);
				CHECK(sl == 9 && !memcmp(s, "127.0.0.1", 9));
				CHECK_EQ_INT(kw_i32(&r), g_port);
				kw_cstr(&r, &s, &sl);
				CHECK_EQ_INT(sl, -1);
				kw_tags_skip(&r);
				int32_t o = kw_i32(&r);
				if (ops)
					CHECK(o > 0 && (o & (1 << 8)));
				else
					CHECK_EQ_INT(o, INT32_MIN);
				kw_tags_skip(&r);
				CHECK(!r.err && r.pos == len);
				free(b);
			}
		}
	}
	close(fd);
}

/* OffsetForLeaderEpoch v0-4: epoch 0, EndOffset = the next offset. */
static void test_admin_offset_for_leader_epoch(void)
{
	int fd = tc_connect(g_port);
	struct part_info pi;
	part_info(get_part("t", 0), &pi);
	for (int v = 0; v <= 4; v++) {
		bool flex = v >= 4;
		struct kw_writer w;
		struct kw_reader r;
		uint8_t *b;
		size_t len;
		const char *s;
		int sl;
		kw_writer_init(&w);
		if (v >= 3)
			kw_put_i32(&w, -1);
		kw_put_varray(&w, flex, 2);
		kw_put_vcstr(&w, flex, "t");
		kw_put_varray(&w, flex, 2);
		for (int p = 0; p <= 7; p += 7) {       /* partition 0 and 7 */
			kw_put_i32(&w, p);
			if (v >= 2)
				kw_put_i32(&w, -1);
			kw_put_i32(&w, 3);              /* any epoch */
			kw_put_vtags(&w, flex);
		}
		kw_put_vtags(&w, flex);
		kw_put_vcstr(&w, flex, "nope");
		kw_put_varray(&w, flex, 1);
		kw_put_i32(&w, 0);
		if (v >= 2)
			kw_put_i32(&w, 0);
		kw_put_i32(&w, 0);
		kw_put_vtags(&w, flex);
		kw_put_vtags(&w, flex);
		kw_put_vtags(&w, flex);
		REQUIRE(adm_call(fd, KAPI_OFFSET_FOR_LEADER_EPOCH, (int16_t)v, flex, &w,
		                 &r, &b, &len) == 0);
		kw_writer_free(&w);
		if (v >= 2)
			CHECK_EQ_INT(kw_i32(&r), 0);
		CHECK_EQ_INT(kw_varray(&r, flex, 1, false), 2);
		kw_vstr(&r, flex, &s, &sl);
		CHECK(sl == 1 && s[0] == 't');
		CHECK_EQ_INT(kw_varray(&r, flex, 1, false), 2);
		CHECK_EQ_INT(kw_i16(&r), 0);
		CHECK_EQ_INT(kw_i32(&r), 0);
		if (v >= 1)
			CHECK_EQ_INT(kw_i32(&r), 0);
		CHECK_EQ_INT(kw_i64(&r), pi.next_offset);
		kw_vtags(&r, flex);
		CHECK_EQ_INT(kw_i16(&r), 3);
		CHECK_EQ_INT(kw_i32(&r), 7);
		if (v >= 1)
			CHECK_EQ_INT(kw_i32(&r), -1);
		CHECK_EQ_INT(kw_i64(&r), -1);
		kw_vtags(&r, flex);
		kw_vtags(&r, flex);
		kw_vstr(&r, flex, &s, &sl);
		CHECK_EQ_INT(kw_varray(&r, flex, 1, false), 1);
		CHECK_EQ_INT(kw_i16(&r), 3);
		kw_i32(&r);
		if (v >= 1)
			kw_i32(&r);
		kw_i64(&r);
		kw_vtags(&r, flex);
		kw_vtags(&r, flex);
		kw_vtags(&r, flex);
		CHECK(!r.err && r.pos == len);
		free(b);
	}
	close(fd);
}

/* ApiVersions advertises the admin APIs at their ranges. */
static void test_admin_api_versions(void)
{
	int fd = tc_connect(g_port);
	uint8_t *b;
	size_t len;
	REQUIRE(tc_call(fd, KAPI_API_VERSIONS, 0, NULL, &b, &len) == 0);
	struct kw_reader r;
	kw_reader_init(&r, b, len);
	CHECK_EQ_INT(kw_i16(&r), 0);
	int32_t n = kw_i32(&r);
	int found = 0;
	for (int i = 0; i < n && !r.err; i++) {
		int16_t k = kw_i16(&r), mn = kw_i16(&r), mx = kw_i16(&r);
		(void)mn;
		if (k == 19) { CHECK_EQ_INT(mx, 7); found++; }
		if (k == 20) { CHECK_EQ_INT(mx, 6); found++; }
		if (k == 21) { CHECK_EQ_INT(mx, 2); found++; }
		if (k == 23) { CHECK_EQ_INT(mx, 4); found++; }
		if (k == 37) { CHECK_EQ_INT(mx, 3); found++; }
		if (k == 60) { CHECK_EQ_INT(mx, 1); found++; }
	}
	CHECK_EQ_INT(found, 6);
	free(b);
	close(fd);
}

/* ============================ config APIs ================================= */

#define CHECK_EQ_STR(a, b) do { const char *tt_sa = (a), *tt_sb = (b); \
	if (strcmp(tt_sa, tt_sb)) \
		fprintf(stderr, "  \"%s\" != \"%s\"\n", tt_sa, tt_sb); \
	CHECK(!strcmp(tt_sa, tt_sb)); } while (0)

static bool str_is(const char *s, int len, const char *c)
{
	return s && len >= 0 && strlen(c) == (size_t)len && !memcmp(s, c, (size_t)len);
}

/* One DescribeConfigs entry as parsed back. */
struct dc_entry {
	char name[64];
	char value[64];
	bool null_value;
	int read_only, source, sensitive, nsyn, type;
	bool has_doc;
};

/* DescribeConfigs request: one resource; keys NULL = null (all). */
static void dc_body(struct kw_writer *w, int v, int8_t type, const char *name,
                    const char *const *keys, int nkeys, bool syn, bool doc)
{
	bool flex = v >= 4;
	if (flex)
		flex_body(w);
	else
		kw_writer_init(w);
	kw_put_varray(w, flex, 1);
	kw_put_i8(w, type);
	kw_put_vcstr(w, flex, name);
	kw_put_varray(w, flex, keys ? nkeys : -1);
	for (int i = 0; keys && i < nkeys; i++)
		kw_put_vcstr(w, flex, keys[i]);
	kw_put_vtags(w, flex);
	if (v >= 1)
		kw_put_i8(w, syn);
	if (v >= 3)
		kw_put_i8(w, doc);
	kw_put_vtags(w, flex);
}

/* Call DescribeConfigs with one resource; returns its error code (-1 on a
 * wire problem), entries into out (up to max), *n their count. */
static int dc_call(int fd, int v, int8_t type, const char *name,
                   const char *const *keys, int nkeys, bool syn, bool doc,
                   struct dc_entry *out, int max, int *n, char *msg, size_t msg_len)
{
	struct kw_writer w;
	bool flex = v >= 4;
	dc_body(&w, v, type, name, keys, nkeys, syn, doc);
	uint8_t *b;
	size_t len;
	int rc = tc_call(fd, KAPI_DESCRIBE_CONFIGS, (int16_t)v, &w, &b, &len);
	kw_writer_free(&w);
	if (rc)
		return -1;
	struct kw_reader r;
	if (flex)
		flex_resp(&r, b, len);
	else
		kw_reader_init(&r, b, len);
	const char *s;
	int sl;
	kw_i32(&r);                                 /* ThrottleTimeMs */
	int32_t nres = kw_varray(&r, flex, 1, false);
	int err = -1;
	if (nres != 1)
		goto out;
	err = kw_i16(&r);
	kw_vstr(&r, flex, &s, &sl);
	if (msg)
		snprintf(msg, msg_len, "%.*s", sl < 0 ? 0 : sl, s ? s : "");
	if (kw_i8(&r) != type)
		err = -1;
	kw_vstr(&r, flex, &s, &sl);
	int32_t ne = kw_varray(&r, flex, 1, false);
	*n = ne;
	for (int32_t i = 0; i < ne && !r.err; i++) {
		struct dc_entry e = { 0 };
		kw_vstr(&r, flex, &s, &sl);
		snprintf(e.name, sizeof e.name, "%.*s", sl < 0 ? 0 : sl, s ? s : "");
		kw_vstr(&r, flex, &s, &sl);
		e.null_value = sl < 0;
		snprintf(e.value, sizeof e.value, "%.*s", sl < 0 ? 0 : sl, s ? s : "");
		e.read_only = kw_i8(&r);
		e.source = kw_i8(&r);                   /* v0: IsDefault */
		e.sensitive = kw_i8(&r);
		if (v >= 1) {
			e.nsyn = kw_varray(&r, flex, 1, false);
			for (int j = 0; j < e.nsyn && !r.err; j++) {
				kw_vstr(&r, flex, &s, &sl);
				kw_vstr(&r, flex, &s, &sl);
				kw_i8(&r);
				kw_vtags(&r, flex);
			}
		}
		if (v >= 3) {
			e.type = kw_i8(&r);
			kw_vstr(&r, flex, &s, &sl);
			e.has_doc = sl > 0;
		}
		kw_vtags(&r, flex);
		if (i < max)
			out[i] = e;
	}
	kw_vtags(&r, flex);                         /* the resource's */
	kw_vtags(&r, flex);                         /* the response's */
	if (r.err || r.pos != len)
		err = -1;
out:
	free(b);
	return err;
}

static const struct dc_entry *dc_find(const struct dc_entry *e, int n,
                                      const char *name)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(e[i].name, name))
			return &e[i];
	return NULL;
}

/* AlterConfigs (incremental: IncrementalAlterConfigs) of one resource with
 * n (name, op, value) triples; value NULL = null.  The resource's error
 * code, -1 on a wire problem. */
static int ac_call(int fd, bool incremental, int v, int8_t type, const char *name,
                   const char *const (*kv)[3], int n, bool validate_only,
                   char *msg, size_t msg_len)
{
	bool flex = incremental ? v >= 1 : v >= 2;
	struct kw_writer w;
	if (flex)
		flex_body(&w);
	else
		kw_writer_init(&w);
	kw_put_varray(&w, flex, 1);
	kw_put_i8(&w, type);
	kw_put_vcstr(&w, flex, name);
	kw_put_varray(&w, flex, n);
	for (int i = 0; i < n; i++) {
		kw_put_vcstr(&w, flex, kv[i][0]);
		if (incremental)
			kw_put_i8(&w, (int8_t)atoi(kv[i][1]));
		kw_put_vcstr(&w, flex, kv[i][2]);
		kw_put_vtags(&w, flex);
	}
	kw_put_vtags(&w, flex);
	kw_put_i8(&w, validate_only);
	kw_put_vtags(&w, flex);
	uint8_t *b;
	size_t len;
	int rc = tc_call(fd, incremental ? KAPI_INCREMENTAL_ALTER_CONFIGS
	                                 : KAPI_ALTER_CONFIGS, (int16_t)v, &w, &b, &len);
	kw_writer_free(&w);
	if (rc)
		return -1;
	struct kw_reader r;
	if (flex)
		flex_resp(&r, b, len);
	else
		kw_reader_init(&r, b, len);
	const char *s;
	int sl;
	int err = -1;
	kw_i32(&r);
	if (kw_varray(&r, flex, 1, false) == 1) {
		err = kw_i16(&r);
		kw_vstr(&r, flex, &s, &sl);
		if (msg)
			snprintf(msg, msg_len, "%.*s", sl < 0 ? 0 : sl, s ? s : "");
		if (kw_i8(&r) != type)
			err = -1;
		kw_vstr(&r, flex, &s, &sl);
		if (!str_is(s, sl, name))
			err = -1;
		kw_vtags(&r, flex);
		kw_vtags(&r, flex);
	}
	if (r.err || r.pos != len)
		err = -1;
	free(b);
	return err;
}

static struct topic_config cfg_of(const char *topic)
{
	struct topic_config c;
	struct topic *t = NULL;
	memset(&c, 0, sizeof c);
	if (store_topic_get(g_st, topic, &t) == 0) {
		topic_get_config(t, &c);
		topic_put(t);
	}
	return c;
}

static void test_describe_configs(void)
{
	int fd = tc_connect(g_port);
	REQUIRE(fd >= 0);
	struct dc_entry e[64];
	const struct dc_entry *x;
	int n = 0;
	char msg[300];
	create_topic("cfgd", 1);
	for (int v = 0; v <= 4; v++) {
		n = 0;
		CHECK_EQ_INT(dc_call(fd, v, 2, "cfgd", NULL, 0, false, false, e, 64, &n,
		                     msg, sizeof msg), 0);
		/* 9 settings with Kafka names + 3 fixed */
		CHECK_EQ_INT(n, 12);
		x = dc_find(e, n, "retention.ms");
		REQUIRE(x);
		CHECK_EQ_STR(x->value, "604800000");
		CHECK_EQ_INT(x->read_only, 0);
		CHECK_EQ_INT(x->source, v == 0 ? 1 : 5);  /* IsDefault / DEFAULT */
		CHECK_EQ_INT(x->sensitive, 0);
		CHECK_EQ_INT(x->nsyn, 0);
		CHECK_EQ_INT(x->type, v >= 3 ? 5 : 0);    /* LONG */
		CHECK(!x->has_doc);
		x = dc_find(e, n, "flush.ms");
		REQUIRE(x);
		CHECK_EQ_STR(x->value, "9223372036854775807");
		x = dc_find(e, n, "flush.messages");
		REQUIRE(x);
		CHECK_EQ_STR(x->value, "9223372036854775807");
		x = dc_find(e, n, "compression.type");
		REQUIRE(x);
		CHECK_EQ_STR(x->value, "uncompressed");
		CHECK_EQ_INT(x->read_only, 1);
		x = dc_find(e, n, "max.message.bytes");
		REQUIRE(x);
		CHECK_EQ_STR(x->value, "1048576");
		CHECK_EQ_INT(x->type, v >= 3 ? 3 : 0);    /* INT */
		x = dc_find(e, n, "cleanup.policy");
		REQUIRE(x);
		CHECK_EQ_STR(x->value, "delete");
		CHECK_EQ_INT(x->read_only, 1);
		CHECK(dc_find(e, n, "min.insync.replicas"));
		CHECK(dc_find(e, n, "message.timestamp.type"));
		CHECK(dc_find(e, n, "segment.bytes"));
		CHECK(!dc_find(e, n, "linger_ms"));
	}
	/* the filter: unknown keys are left out */
	static const char *const keys[] = { "retention.ms", "no.such.key",
	                                    "cleanup.policy" };
	for (int v = 0; v <= 4; v += 4) {
		n = 0;
		CHECK_EQ_INT(dc_call(fd, v, 2, "cfgd", keys, 3, false, false, e, 64, &n,
		                     NULL, 0), 0);
		CHECK_EQ_INT(n, 2);
		n = 0;
		CHECK_EQ_INT(dc_call(fd, v, 2, "cfgd", keys, 0, false, false, e, 64, &n,
		                     NULL, 0), 0);
		CHECK_EQ_INT(n, 0);
	}
	/* synonyms (v1+) and documentation (v3+) */
	CHECK_EQ_INT(dc_call(fd, 1, 2, "cfgd", keys, 1, true, true, e, 64, &n,
	                     NULL, 0), 0);
	CHECK_EQ_INT(n, 1);
	CHECK_EQ_INT(e[0].nsyn, 1);
	CHECK_EQ_INT(dc_call(fd, 3, 2, "cfgd", keys, 1, false, true, e, 64, &n,
	                     NULL, 0), 0);
	CHECK_EQ_INT(n, 1);
	CHECK(e[0].has_doc);
	CHECK_EQ_INT(e[0].nsyn, 0);
	/* the broker, "0" or "" */
	for (int v = 0; v <= 4; v++) {
		CHECK_EQ_INT(dc_call(fd, v, 4, v % 2 ? "" : "0", NULL, 0, false, false,
		                     e, 64, &n, NULL, 0), 0);
		x = dc_find(e, n, "num.partitions");
		REQUIRE(x);
		CHECK_EQ_STR(x->value, "1");
		CHECK_EQ_INT(x->read_only, 1);
		x = dc_find(e, n, "auto.create.topics.enable");
		REQUIRE(x);
		CHECK_EQ_STR(x->value, "false");
		x = dc_find(e, n, "advertised.listeners");
		REQUIRE(x);
		char want[64];
		snprintf(want, sizeof want, "PLAINTEXT://127.0.0.1:%d", g_port);
		CHECK_EQ_STR(x->value, want);
		CHECK(dc_find(e, n, "message.max.bytes"));
		CHECK(dc_find(e, n, "log.retention.ms"));
		CHECK(dc_find(e, n, "log.retention.bytes"));
		CHECK(dc_find(e, n, "log.segment.bytes"));
		CHECK(dc_find(e, n, "queued.max.request.bytes"));
	}
	/* errors */
	n = -5;
	CHECK_EQ_INT(dc_call(fd, 4, 4, "7", NULL, 0, false, false, e, 64, &n, msg,
	                     sizeof msg), 42);
	CHECK_EQ_INT(n, 0);
	CHECK(msg[0]);
	CHECK_EQ_INT(dc_call(fd, 2, 2, "no-such-topic", NULL, 0, false, false, e, 64,
	                     &n, msg, sizeof msg), 3);
	CHECK_EQ_INT(dc_call(fd, 4, 2, "bad/name", NULL, 0, false, false, e, 64,
	                     &n, msg, sizeof msg), 17);
	CHECK_EQ_INT(dc_call(fd, 0, 3, "x", NULL, 0, false, false, e, 64, &n, msg,
	                     sizeof msg), 42);
	/* a truncated request closes the connection, v5 is not served */
	struct kw_writer w;
	dc_body(&w, 4, 2, "cfgd", NULL, 0, false, false);
	REQUIRE(tc_send(fd, KAPI_DESCRIBE_CONFIGS, 4, 7, &w) == 0);
	kw_writer_free(&w);
	uint8_t *b;
	size_t len;
	CHECK_EQ_INT(tc_recv(fd, 7, &b, &len), 0);
	free(b);
	dc_body(&w, 3, 2, "cfgd", NULL, 0, false, false);
	w.len -= 1;                                 /* no IncludeDocumentation */
	REQUIRE(tc_send(fd, KAPI_DESCRIBE_CONFIGS, 3, 8, &w) == 0);
	kw_writer_free(&w);
	CHECK(tc_closed(fd, 2000));
	close(fd);
	fd = tc_connect(g_port);
	REQUIRE(fd >= 0);
	dc_body(&w, 4, 2, "cfgd", NULL, 0, false, false);
	REQUIRE(tc_send(fd, KAPI_DESCRIBE_CONFIGS, 5, 9, &w) == 0);
	kw_writer_free(&w);
	CHECK(tc_closed(fd, 2000));
	close(fd);
	CHECK(server_alive(g_port));
}

static void test_alter_configs(void)
{
	int fd = tc_connect(g_port);
	REQUIRE(fd >= 0);
	char msg[400];
	struct dc_entry e[64];
	int n;
	const struct dc_entry *x;
	struct topic_config def, c;
	topic_config_defaults(&def);
	create_topic("cfga", 1);

	/* AlterConfigs v0..2: set, each version */
	for (int v = 0; v <= 2; v++) {
		char val[32];
		snprintf(val, sizeof val, "%d", 3600000 + v);
		const char *const kv[][3] = { { "retention.ms", "0", val },
		                              { "flush.ms", "0", "9223372036854775807" },
		                              { "flush.messages", "0", "1000" } };
		CHECK_EQ_INT(ac_call(fd, false, v, 2, "cfga", kv, 3, false, msg,
		                     sizeof msg), 0);
		c = cfg_of("cfga");
		CHECK_EQ_INT(c.retention_ms, 3600000 + v);
		CHECK_EQ_INT(c.flush_ms, 0);
		CHECK_EQ_INT(c.flush_messages, 1000);
	}
	CHECK_EQ_INT(dc_call(fd, 4, 2, "cfga", NULL, 0, false, false, e, 64, &n,
	                     NULL, 0), 0);
	x = dc_find(e, n, "retention.ms");
	REQUIRE(x);
	CHECK_EQ_STR(x->value, "3600002");
	CHECK_EQ_INT(x->source, 1);                 /* DYNAMIC_TOPIC_CONFIG */
	x = dc_find(e, n, "flush.messages");
	REQUIRE(x);
	CHECK_EQ_STR(x->value, "1000");
	CHECK_EQ_INT(x->source, 1);
	x = dc_find(e, n, "segment.ms");
	REQUIRE(x);
	CHECK_EQ_INT(x->source, 5);
	/* persisted in the .topic file */
	{
		char path[400], line[256];
		bool found = false;
		snprintf(path, sizeof path, "%s/cfga.topic", g_dir);
		FILE *f = fopen(path, "r");
		REQUIRE(f);
		while (fgets(line, sizeof line, f))
			if (!strcmp(line, "retention_ms=3600002\n"))
				found = true;
		fclose(f);
		CHECK(found);
	}
	/* validate-only changes nothing; refusals change nothing */
	struct topic_config before = cfg_of("cfga");
	{
		const char *const kv[][3] = { { "segment.ms", "0", "5000" } };
		for (int v = 0; v <= 2; v++)
			CHECK_EQ_INT(ac_call(fd, false, v, 2, "cfga", kv, 1, true, msg,
			                     sizeof msg), 0);
		c = cfg_of("cfga");
		CHECK(!memcmp(&c, &before, sizeof c));
	}
	static const char *const bad[][2] = {
		{ "no.such.config", "1" },              /* unknown */
		{ "retention_ms", "1" },                /* our name, not Kafka's */
		{ "retention.ms", "abc" },              /* not a number */
		{ "retention.ms", "7d" },               /* INI syntax: not Kafka's */
		{ "retention.ms", "-2" },               /* out of range */
		{ "segment.bytes", "10" },              /* out of range */
		{ "flush.ms", "0" },                    /* "never" is Long.MAX here */
		{ "cleanup.policy", "compact" },        /* fixed entry */
		{ "cleanup.policy", "delete" },
		{ "compression.type", "zstd" },         /* fixed at creation */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		const char *const kv[][3] = { { "segment.ms", "0", "5000" },
		                              { bad[i][0], "0", bad[i][1] } };
		msg[0] = '\0';
		CHECK_EQ_INT(ac_call(fd, false, 1, 2, "cfga", kv, 2, false, msg,
		                     sizeof msg), 40);
		CHECK(msg[0]);
		CHECK_EQ_INT(ac_call(fd, true, 1, 2, "cfga", kv, 2, false, msg,
		                     sizeof msg), 40);
		c = cfg_of("cfga");
		CHECK(!memcmp(&c, &before, sizeof c));
	}
	/* the broker is read-only here; unknown topics and types */
	{
		const char *const kv[][3] = { { "num.partitions", "0", "3" } };
		CHECK_EQ_INT(ac_call(fd, false, 2, 4, "0", kv, 1, false, msg, sizeof msg),
		             42);
		CHECK(strstr(msg, "read-only") != NULL);
		CHECK_EQ_INT(ac_call(fd, true, 1, 4, "0", kv, 1, false, msg, sizeof msg),
		             42);
		CHECK_EQ_INT(ac_call(fd, false, 0, 2, "nope", kv, 1, false, msg,
		                     sizeof msg), 3);
		CHECK_EQ_INT(ac_call(fd, true, 0, 9, "x", kv, 1, false, msg, sizeof msg),
		             42);
	}
	/* AlterConfigs replaces: what is not given goes back to the default */
	{
		const char *const kv[][3] = { { "segment.ms", "0", "5000" } };
		CHECK_EQ_INT(ac_call(fd, false, 2, 2, "cfga", kv, 1, false, msg,
		                     sizeof msg), 0);
		c = cfg_of("cfga");
		CHECK_EQ_INT(c.segment_ms, 5000);
		CHECK_EQ_INT(c.retention_ms, def.retention_ms);
		CHECK_EQ_INT(c.flush_messages, 0);
	}
	/* IncrementalAlterConfigs: SET keeps the rest, DELETE = default */
	for (int v = 0; v <= 1; v++) {
		const char *const kv[][3] = { { "retention.bytes", "0", "1048576" },
		                              { "segment.ms", "1", NULL } };
		int64_t seg = cfg_of("cfga").segment_ms;
		CHECK_EQ_INT(ac_call(fd, true, v, 2, "cfga", kv, 2, true, msg,
		                     sizeof msg), 0);
		c = cfg_of("cfga");
		CHECK_EQ_INT(c.segment_ms, seg);        /* validate-only */
		CHECK_EQ_INT(c.retention_bytes, -1);
		CHECK_EQ_INT(ac_call(fd, true, v, 2, "cfga", kv, 2, false, msg,
		                     sizeof msg), 0);
		c = cfg_of("cfga");
		CHECK_EQ_INT(c.segment_ms, def.segment_ms);
		CHECK_EQ_INT(c.retention_bytes, 1048576);
		const char *const kv2[][3] = { { "segment.ms", "0", "6000" } };
		CHECK_EQ_INT(ac_call(fd, true, v, 2, "cfga", kv2, 1, false, msg,
		                     sizeof msg), 0);
		c = cfg_of("cfga");
		CHECK_EQ_INT(c.segment_ms, 6000);
		CHECK_EQ_INT(c.retention_bytes, 1048576);   /* kept */
		const char *const kv3[][3] = { { "retention.bytes", "1", NULL },
		                               { "segment.ms", "1", NULL } };
		CHECK_EQ_INT(ac_call(fd, true, v, 2, "cfga", kv3, 2, false, msg,
		                     sizeof msg), 0);
	}
	before = cfg_of("cfga");
	{
		const char *const app[][3] = { { "retention.ms", "2", "1" } };
		CHECK_EQ_INT(ac_call(fd, true, 1, 2, "cfga", app, 1, false, msg,
		                     sizeof msg), 40);
		CHECK(strstr(msg, "APPEND") != NULL);
		const char *const sub[][3] = { { "cleanup.policy", "3", "delete" } };
		CHECK_EQ_INT(ac_call(fd, true, 0, 2, "cfga", sub, 1, false, msg,
		                     sizeof msg), 40);
		const char *const op[][3] = { { "retention.ms", "7", "1" } };
		CHECK_EQ_INT(ac_call(fd, true, 1, 2, "cfga", op, 1, false, msg,
		                     sizeof msg), 42);
		const char *const nul[][3] = { { "retention.ms", "0", NULL } };
		CHECK_EQ_INT(ac_call(fd, true, 1, 2, "cfga", nul, 1, false, msg,
		                     sizeof msg), 42);
		const char *const del[][3] = { { "cleanup.policy", "1", NULL } };
		CHECK_EQ_INT(ac_call(fd, true, 1, 2, "cfga", del, 1, false, msg,
		                     sizeof msg), 40);
		c = cfg_of("cfga");
		CHECK(!memcmp(&c, &before, sizeof c));
	}
	/* truncated: closed; versions past the range: closed */
	static const int16_t req[][2] = { { KAPI_ALTER_CONFIGS, 1 },
	                                  { KAPI_INCREMENTAL_ALTER_CONFIGS, 0 },
	                                  { KAPI_ALTER_CONFIGS, 3 },
	                                  { KAPI_INCREMENTAL_ALTER_CONFIGS, 2 } };
	for (size_t i = 0; i < 4; i++) {
		int cfd = tc_connect(g_port);
		REQUIRE(cfd >= 0);
		struct kw_writer w;
		kw_writer_init(&w);
		kw_put_i32(&w, 1);
		kw_put_i8(&w, 2);
		kw_put_cstr(&w, "cfga");
		kw_put_i32(&w, 1);                      /* one config, missing */
		REQUIRE(tc_send(cfd, req[i][0], req[i][1], 11, &w) == 0);
		kw_writer_free(&w);
		CHECK(tc_closed(cfd, 2000));
		close(cfd);
	}
	close(fd);
	CHECK(server_alive(g_port));
}

int main(int argc, char **argv)
{
	TT_INIT(argc, argv);
	int rc = fixture_up();
	if (rc) {
		fprintf(stderr, "fixture: %s\n", strerror(-rc));
		fixture_down();
		return 1;
	}
	RUN(test_api_versions);
	RUN(test_metadata);
	RUN(test_list_offsets);
	RUN(test_fetch_basic);
	RUN(test_fetch_limits);
	RUN(test_long_poll);
	RUN(test_long_poll_latency);
	RUN(test_produce);
	RUN(test_find_coordinator);
	RUN(test_flex_primitives);
	RUN(test_flex_api_versions);
	RUN(test_flex_metadata);
	RUN(test_flex_produce_fetch);
	RUN(test_flex_list_offsets);
	RUN(test_flex_find_coordinator);
	RUN(test_topic_ids_persist);
	RUN(test_bad_clients);
	RUN(test_pipelined);
	RUN(test_client_gone_mid_sendfile);
	RUN(test_kclient);
	RUN(test_limits);
	RUN(test_auto_create);
	RUN(test_sendfile_shrink);
	RUN(test_bad_config);
	RUN(test_request_memory_budget);
	RUN(test_auto_create_caps);
	RUN(test_produce_refusals);
	RUN(test_produce_idempotent_retry);
	RUN(test_init_producer_id);
	RUN(test_idempotent_restarts);
	RUN(test_admin_api_versions);
	RUN(test_admin_create_topics);
	RUN(test_admin_delete_topics);
	RUN(test_admin_create_partitions);
	RUN(test_admin_delete_records);
	RUN(test_admin_describe_cluster);
	RUN(test_admin_offset_for_leader_epoch);
	RUN(test_describe_configs);
	RUN(test_alter_configs);
	fixture_down();
	return TT_DONE();
}
