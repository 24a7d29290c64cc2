/*
 * test_offsets.c - unit tests of net/srv_offsets.c: FindCoordinator 0-4,
 * OffsetCommit 0-9, OffsetFetch 0-9 and OffsetDelete 0 as raw Kafka
 * protocol against a real server over a real store in a mkdtemp
 * directory: commits read back at several versions (one group and several
 * groups per fetch, null topics), per-partition refusals (unknown topic
 * or partition, metadata too large, negative offsets, bad group ids),
 * offsets surviving a close and reopen of the store, OffsetDelete, and
 * requests that do not parse closing the connection.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
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

/* ================================ fixture ================================= */

static char g_dir[256];
static char g_data[300];
static struct store *g_st;
static struct srv *g_srv;
static int g_port;

static void create_topic(const char *name, int partitions)
{
	struct topic_config tc;
	struct topic *t = NULL;
	topic_config_defaults(&tc);
	tc.partitions = partitions;
	if (store_topic_create(g_st, name, &tc, &t) == 0)
		topic_put(t);
}

static int server_up(void)
{
	g_st = tu_store_open(g_data);
	if (!g_st)
		return -EIO;
	struct srv_config cfg;
	srv_config_defaults(&cfg);
	cfg.listen_port = 0;
	int rc = srv_start(g_st, &cfg, &g_srv);
	if (rc) {
		store_close(g_st);
		g_st = NULL;
		return rc;
	}
	g_port = srv_port(g_srv);
	return 0;
}

static void server_down(void)
{
	if (g_srv)
		srv_stop(g_srv);
	if (g_st)
		store_close(g_st);
	g_srv = NULL;
	g_st = NULL;
}

static int fixture_up(void)
{
	tu_tmpdir_make(g_dir, sizeof g_dir, "topicfs-test-offsets");
	snprintf(g_data, sizeof g_data, "%s/data", g_dir);
	if (mkdir(g_data, 0700))
		return -errno;
	int rc = server_up();
	if (rc)
		return rc;
	create_topic("t", 2);
	create_topic("u", 3);
	return 0;
}

static void fixture_down(void)
{
	server_down();
	if (g_dir[0])
		tu_tmpdir_remove(g_dir);
}

/* ============================= raw client ================================= */

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int tc_connect(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET,
	                         .sin_port = htons((uint16_t)g_port),
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

/* Is api v flexible?  (The first flexible versions of these APIs.) */
static bool is_flex(int16_t api, int v)
{
	switch (api) {
	case KAPI_FIND_COORDINATOR: return v >= 3;
	case KAPI_OFFSET_COMMIT: return v >= 8;
	case KAPI_OFFSET_FETCH: return v >= 6;
	default: return false;
	}
}

/* One round trip: body is what follows the request header (the header's
 * tag buffer is added for flexible versions); *r reads the response body
 * (after the correlation id and, flexible, the header tag buffer); *buf is
 * malloc'd.  0, or -1 when the connection failed or closed. */
static int tc_call(int fd, int16_t api, int v, const struct kw_writer *body,
                   uint8_t **buf, struct kw_reader *r)
{
	static int32_t corr = 1000;
	struct kw_writer w;
	kw_writer_init(&w);
	kw_put_i32(&w, 0);
	kw_put_i16(&w, api);
	kw_put_i16(&w, (int16_t)v);
	kw_put_i32(&w, ++corr);
	kw_put_cstr(&w, "test_offsets");
	if (is_flex(api, v))
		kw_put_tags0(&w);
	kw_put(&w, body->buf, body->len);
	kw_patch_i32(&w, 0, (int32_t)(w.len - 4));
	int rc = send_all(fd, w.buf, w.len);
	kw_writer_free(&w);
	*buf = NULL;
	if (rc)
		return -1;
	uint8_t hdr[8];
	if (recv_all(fd, hdr, 8))
		return -1;
	int32_t size = (int32_t)be32_get(hdr);
	if (size < 4 || (int32_t)be32_get(hdr + 4) != corr)
		return -1;
	size_t len = (size_t)size - 4;
	*buf = malloc(len + 1);
	if (recv_all(fd, *buf, len)) {
		free(*buf);
		*buf = NULL;
		return -1;
	}
	kw_reader_init(r, *buf, len);
	if (is_flex(api, v))
		kw_tags_skip(r);
	return 0;
}

/* true when the server closed the connection within ms. */
static bool tc_closed(int fd, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int64_t end = now_ms() + ms;
	uint8_t buf[4096];
	while (now_ms() < end) {
		if (poll(&pfd, 1, (int)(end - now_ms()) + 1) <= 0)
			continue;
		ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			return true;
	}
	return false;
}

static bool str_eq(const char *s, int len, const char *want)
{
	if (!s)
		return want == NULL;
	return want && (size_t)len == strlen(want) && !memcmp(s, want, (size_t)len);
}

/* ============================== OffsetCommit ============================== */

struct ocp {
	const char *topic;
	int32_t part;
	int64_t off;
	int32_t epoch;
	const char *md;             /* NULL = null */
	int mdlen;                  /* -1: strlen(md) */
};

/* OffsetCommit body: entries grouped by consecutive topic. */
static void oc_body(struct kw_writer *w, int v, const char *group, int32_t gen,
                    const char *member, const char *inst, const struct ocp *p, int n)
{
	bool flex = is_flex(KAPI_OFFSET_COMMIT, v);
	kw_writer_init(w);
	kw_put_vstr(w, flex, group, (int)strlen(group));
	if (v >= 1) {
		kw_put_i32(w, gen);
		kw_put_vstr(w, flex, member, (int)strlen(member));
	}
	if (v >= 7)
		kw_put_vstr(w, flex, inst, inst ? (int)strlen(inst) : -1);
	if (v >= 2 && v <= 4)
		kw_put_i64(w, -1);                  /* RetentionTimeMs */
	int nt = 0;
	for (int i = 0; i < n; i++)
		if (i == 0 || strcmp(p[i].topic, p[i - 1].topic))
			nt++;
	kw_put_varray(w, flex, nt);
	for (int i = 0; i < n;) {
		int j = i;
		while (j < n && !strcmp(p[j].topic, p[i].topic))
			j++;
		kw_put_vstr(w, flex, p[i].topic, (int)strlen(p[i].topic));
		kw_put_varray(w, flex, j - i);
		for (int k = i; k < j; k++) {
			kw_put_i32(w, p[k].part);
			kw_put_i64(w, p[k].off);
			if (v >= 6)
				kw_put_i32(w, p[k].epoch);
			if (v == 1)
				kw_put_i64(w, 1234);        /* CommitTimestamp */
			int ml = p[k].md ? (p[k].mdlen >= 0 ? p[k].mdlen
			                                    : (int)strlen(p[k].md)) : -1;
			kw_put_vstr(w, flex, p[k].md, ml);
			kw_put_vtags(w, flex);
		}
		kw_put_vtags(w, flex);
		i = j;
	}
	kw_put_vtags(w, flex);
}

/* Commit; errs[i] gets entry i's error code.  0, or -1 on a transport or
 * parse failure (or an answer that does not match the request). */
static int oc_call(int fd, int v, const char *group, int32_t gen, const char *member,
                   const char *inst, const struct ocp *p, int n, int16_t *errs)
{
	bool flex = is_flex(KAPI_OFFSET_COMMIT, v);
	struct kw_writer w;
	struct kw_reader r;
	uint8_t *buf;
	oc_body(&w, v, group, gen, member, inst, p, n);
	int rc = tc_call(fd, KAPI_OFFSET_COMMIT, v, &w, &buf, &r);
	kw_writer_free(&w);
	if (rc)
		return -1;
	if (v >= 3)
		kw_i32(&r);
	int32_t nt = kw_varray(&r, flex, 1, false);
	int at = 0;
	for (int32_t i = 0; i < nt && !r.err; i++) {
		const char *s;
		int sl;
		kw_vstr(&r, flex, &s, &sl);
		int32_t np = kw_varray(&r, flex, 1, false);
		for (int32_t j = 0; j < np && !r.err; j++, at++) {
			int32_t part = kw_i32(&r);
			int16_t e = kw_i16(&r);
			kw_vtags(&r, flex);
			if (at >= n || part != p[at].part || !str_eq(s, sl, p[at].topic))
				r.err = true;
			else
				errs[at] = e;
		}
		kw_vtags(&r, flex);
	}
	kw_vtags(&r, flex);
	rc = (r.err || at != n || r.pos != r.len) ? -1 : 0;
	free(buf);
	return rc;
}

/* A simple commit (generation -1, member "", no instance). */
static int oc_simple(int fd, int v, const char *group, const struct ocp *p, int n,
                     int16_t *errs)
{
	return oc_call(fd, v, group, -1, "", NULL, p, n, errs);
}

/* =============================== OffsetFetch ============================== */

struct ofq {
	const char *topic;
	int32_t part;
};

struct ofr {
	char topic[64];
	int32_t part;
	int64_t off;
	int32_t epoch;
	char md[64];
	int mdlen;                  /* -1 null */
	int16_t err;
};

/* Requested topics (n < 0: null), grouped by consecutive topic. */
static void of_put_topics(struct kw_writer *w, bool flex, const struct ofq *q, int n)
{
	if (n < 0) {
		kw_put_varray(w, flex, -1);
		return;
	}
	int nt = 0;
	for (int i = 0; i < n; i++)
		if (i == 0 || strcmp(q[i].topic, q[i - 1].topic))
			nt++;
	kw_put_varray(w, flex, nt);
	for (int i = 0; i < n;) {
		int j = i;
		while (j < n && !strcmp(q[j].topic, q[i].topic))
			j++;
		kw_put_vstr(w, flex, q[i].topic, (int)strlen(q[i].topic));
		kw_put_varray(w, flex, j - i);
		for (int k = i; k < j; k++)
			kw_put_i32(w, q[k].part);
		kw_put_vtags(w, flex);
		i = j;
	}
}

/* Parse a Topics array of an answer into out (at most max); the count. */
static int of_get_topics(struct kw_reader *r, int v, bool flex, struct ofr *out,
                         int max)
{
	int n = 0;
	int32_t nt = kw_varray(r, flex, 1, false);
	for (int32_t i = 0; i < nt && !r->err; i++) {
		const char *s, *m;
		int sl, ml;
		kw_vstr(r, flex, &s, &sl);
		int32_t np = kw_varray(r, flex, 1, false);
		for (int32_t j = 0; j < np && !r->err; j++) {
			struct ofr o;
			memset(&o, 0, sizeof o);
			snprintf(o.topic, sizeof o.topic, "%.*s", sl, s ? s : "");
			o.part = kw_i32(r);
			o.off = kw_i64(r);
			o.epoch = (v >= 5) ? kw_i32(r) : -1;
			kw_vstr(r, flex, &m, &ml);
			o.mdlen = m ? ml : -1;
			if (m)
				snprintf(o.md, sizeof o.md, "%.*s", ml, m);
			o.err = kw_i16(r);
			kw_vtags(r, flex);
			if (n < max)
				out[n] = o;
			n++;
		}
		kw_vtags(r, flex);
	}
	return n;
}

/* OffsetFetch v0-7 for one group: *top gets the top-level error (0 below
 * v2).  Returns the partitions answered, -1 on failure. */
static int of_call(int fd, int v, const char *group, const struct ofq *q, int n,
                   struct ofr *out, int max, int16_t *top)
{
	bool flex = is_flex(KAPI_OFFSET_FETCH, v);
	struct kw_writer w;
	struct kw_reader r;
	uint8_t *buf;
	kw_writer_init(&w);
	kw_put_vstr(&w, flex, group, (int)strlen(group));
	of_put_topics(&w, flex, q, n);
	if (v >= 7)
		kw_put_i8(&w, 1);                   /* RequireStable */
	kw_put_vtags(&w, flex);
	int rc = tc_call(fd, KAPI_OFFSET_FETCH, v, &w, &buf, &r);
	kw_writer_free(&w);
	if (rc)
		return -1;
	if (v >= 3)
		kw_i32(&r);
	int got = of_get_topics(&r, v, flex, out, max);
	*top = v >= 2 ? kw_i16(&r) : 0;
	kw_vtags(&r, flex);
	rc = (r.err || r.pos != r.len) ? -1 : got;
	free(buf);
	return rc;
}

/* A fetch of one partition at version v: its answer in *o. */
static int of_one(int fd, int v, const char *group, const char *topic, int32_t part,
                  struct ofr *o)
{
	struct ofq q = { topic, part };
	int16_t top;
	int n = of_call(fd, v, group, &q, 1, o, 1, &top);
	return n == 1 && top == 0 ? 0 : -1;
}

/* ============================ FindCoordinator ============================= */

static void test_find_coordinator(void)
{
	int fd = tc_connect();
	REQUIRE(fd >= 0);
	for (int v = 0; v <= 3; v++) {
		for (int8_t kt = 0; kt <= (v ? 2 : 0); kt++) {
			bool flex = v >= 3;
			struct kw_writer w;
			struct kw_reader r;
			uint8_t *buf;
			const char *s;
			int sl;
			kw_writer_init(&w);
			kw_put_vstr(&w, flex, "grp", 3);
			if (v >= 1)
				kw_put_i8(&w, kt);
			kw_put_vtags(&w, flex);
			REQUIRE(tc_call(fd, KAPI_FIND_COORDINATOR, v, &w, &buf, &r) == 0);
			kw_writer_free(&w);
			if (v >= 1)
				CHECK_EQ_INT(kw_i32(&r), 0);
			int16_t e = kw_i16(&r);
			CHECK_EQ_INT(e, kt == 0 ? 0 : kt == 1 ? 15 : 42);
			if (v >= 1) {
				kw_vstr(&r, flex, &s, &sl);
				CHECK(kt == 0 ? s == NULL : s != NULL);
			}
			CHECK_EQ_INT(kw_i32(&r), kt == 0 ? 0 : -1);
			kw_vstr(&r, flex, &s, &sl);
			CHECK(str_eq(s, sl, kt == 0 ? "127.0.0.1" : ""));
			CHECK_EQ_INT(kw_i32(&r), kt == 0 ? g_port : -1);
			kw_vtags(&r, flex);
			CHECK(!r.err && r.pos == r.len);
			free(buf);
		}
	}
	/* v4: batched keys, each answered, in order */
	const char *keys[] = { "a", "group-b", "" };
	for (int8_t kt = 0; kt <= 1; kt++) {
		struct kw_writer w;
		struct kw_reader r;
		uint8_t *buf;
		const char *s;
		int sl;
		kw_writer_init(&w);
		kw_put_i8(&w, kt);
		kw_put_carray(&w, 3);
		for (int i = 0; i < 3; i++)
			kw_put_cstr_compact(&w, keys[i], (int)strlen(keys[i]));
		kw_put_tags0(&w);
		REQUIRE(tc_call(fd, KAPI_FIND_COORDINATOR, 4, &w, &buf, &r) == 0);
		kw_writer_free(&w);
		CHECK_EQ_INT(kw_i32(&r), 0);
		CHECK_EQ_INT(kw_carray(&r, 1, false), 3);
		for (int i = 0; i < 3; i++) {
			kw_cstr(&r, &s, &sl);
			CHECK(str_eq(s, sl, keys[i]));
			CHECK_EQ_INT(kw_i32(&r), kt == 0 ? 0 : -1);
			kw_cstr(&r, &s, &sl);
			CHECK(str_eq(s, sl, kt == 0 ? "127.0.0.1" : ""));
			CHECK_EQ_INT(kw_i32(&r), kt == 0 ? g_port : -1);
			CHECK_EQ_INT(kw_i16(&r), kt == 0 ? 0 : 15);
			kw_cstr(&r, &s, &sl);
			kw_tags_skip(&r);
		}
		kw_tags_skip(&r);
		CHECK(!r.err && r.pos == r.len);
		free(buf);
	}
	close(fd);
}

/* ========================= commit and fetch =============================== */

static void test_commit_fetch_versions(void)
{
	int fd = tc_connect();
	REQUIRE(fd >= 0);
	int16_t errs[8];
	struct ofr o;

	/* nothing committed: -1, "" and NONE at every version */
	for (int v = 0; v <= 7; v++) {
		REQUIRE(of_one(fd, v, "fresh", "t", 0, &o) == 0);
		CHECK_EQ_INT(o.off, -1);
		CHECK_EQ_INT(o.mdlen, 0);
		CHECK_EQ_INT(o.err, 0);
		CHECK_EQ_INT(o.epoch, -1);
	}
	/* v0 commit (no generation, no member: a simple commit) */
	struct ocp c0[] = { { "t", 0, 5, -1, "m0", -1 }, { "t", 1, 9, -1, NULL, -1 } };
	REQUIRE(oc_simple(fd, 0, "g0", c0, 2, errs) == 0);
	CHECK_EQ_INT(errs[0], 0);
	CHECK_EQ_INT(errs[1], 0);
	REQUIRE(of_one(fd, 0, "g0", "t", 0, &o) == 0);
	CHECK_EQ_INT(o.off, 5);
	CHECK(o.mdlen == 2 && !strcmp(o.md, "m0"));
	REQUIRE(of_one(fd, 1, "g0", "t", 1, &o) == 0);
	CHECK_EQ_INT(o.off, 9);
	CHECK_EQ_INT(o.mdlen, -1);              /* null metadata stays null */

	/* every commit version, each read back at a fetch version */
	for (int v = 1; v <= 9; v++) {
		char g[16];
		snprintf(g, sizeof g, "gv%d", v);
		struct ocp c[] = { { "t", 0, 100 + v, 7, "meta", -1 },
		                   { "u", 2, 200 + v, 8, "", -1 } };
		memset(errs, 0x7f, sizeof errs);
		REQUIRE(oc_simple(fd, v, g, c, 2, errs) == 0);
		CHECK_EQ_INT(errs[0], 0);
		CHECK_EQ_INT(errs[1], 0);
		int fv = v <= 7 ? v : 7;
		REQUIRE(of_one(fd, fv, g, "t", 0, &o) == 0);
		CHECK_EQ_INT(o.off, 100 + v);
		CHECK(!strcmp(o.md, "meta"));
		CHECK_EQ_INT(o.epoch, fv >= 5 ? (v >= 6 ? 7 : -1) : -1);
		REQUIRE(of_one(fd, fv, g, "u", 2, &o) == 0);
		CHECK_EQ_INT(o.off, 200 + v);
		CHECK_EQ_INT(o.mdlen, 0);
	}
	/* v7+ with a group instance id: a simple commit still (no members) */
	struct ocp ci[] = { { "t", 0, 77, -1, NULL, -1 } };
	REQUIRE(oc_call(fd, 7, "gi", -1, "", "inst-1", ci, 1, errs) == 0);
	/* what Kafka answers for an unknown static member is the
	 * coordinator's business; here only: not committed unless NONE */
	REQUIRE(of_one(fd, 7, "gi", "t", 0, &o) == 0);
	CHECK(errs[0] == 0 ? o.off == 77 : o.off == -1);
	/* a member commit to a group with no members is refused and stores
	 * nothing */
	struct ocp cm[] = { { "t", 1, 55, -1, NULL, -1 } };
	REQUIRE(oc_call(fd, 8, "gm", 3, "member-1", NULL, cm, 1, errs) == 0);
	CHECK(errs[0] == KERR_ILLEGAL_GENERATION || errs[0] == KERR_UNKNOWN_MEMBER_ID ||
	      errs[0] == KERR_GROUP_ID_NOT_FOUND);
	REQUIRE(of_one(fd, 5, "gm", "t", 1, &o) == 0);
	CHECK_EQ_INT(o.off, -1);
	close(fd);
}

/* OffsetFetch v8/v9: several groups in one request, explicit and null
 * topics, a bad group id among them. */
static void test_fetch_multi_group(void)
{
	int fd = tc_connect();
	REQUIRE(fd >= 0);
	int16_t errs[4];
	struct ocp a[] = { { "t", 0, 11, 2, "a", -1 }, { "t", 1, 12, -1, NULL, -1 } };
	struct ocp b[] = { { "u", 0, 21, -1, "b", -1 }, { "u", 2, 22, -1, "bb", -1 },
	                   { "t", 1, 23, -1, NULL, -1 } };
	REQUIRE(oc_simple(fd, 8, "mg-a", a, 2, errs) == 0);
	CHECK(errs[0] == 0 && errs[1] == 0);
	REQUIRE(oc_simple(fd, 9, "mg-b", b, 3, errs) == 0);
	CHECK(errs[0] == 0 && errs[1] == 0 && errs[2] == 0);

	for (int v = 8; v <= 9; v++) {
		struct kw_writer w;
		struct kw_reader r;
		uint8_t *buf;
		const char *s;
		int sl;
		struct ofq qa[] = { { "t", 0 }, { "t", 1 }, { "u", 1 } };
		kw_writer_init(&w);
		kw_put_carray(&w, 4);
		const char *gids[] = { "mg-a", "mg-b", "", "mg-none" };
		for (int g = 0; g < 4; g++) {
			kw_put_cstr_compact(&w, gids[g], (int)strlen(gids[g]));
			if (v >= 9) {
				kw_put_cstr_compact(&w, NULL, -1);  /* MemberId */
				kw_put_i32(&w, -1);                 /* MemberEpoch */
			}
			if (g == 1 || g == 3)
				of_put_topics(&w, true, NULL, -1);  /* null: all */
			else
				of_put_topics(&w, true, qa, 3);
			kw_put_tags0(&w);
		}
		kw_put_i8(&w, 0);
		kw_put_tags0(&w);
		REQUIRE(tc_call(fd, KAPI_OFFSET_FETCH, v, &w, &buf, &r) == 0);
		kw_writer_free(&w);
		CHECK_EQ_INT(kw_i32(&r), 0);
		CHECK_EQ_INT(kw_carray(&r, 1, false), 4);
		struct ofr o[8];
		/* mg-a: t/0, t/1 committed, u/1 not */
		kw_cstr(&r, &s, &sl);
		CHECK(str_eq(s, sl, "mg-a"));
		CHECK_EQ_INT(of_get_topics(&r, 8, true, o, 8), 3);
		CHECK(!strcmp(o[0].topic, "t") && o[0].part == 0 && o[0].off == 11 &&
		      o[0].epoch == 2 && !strcmp(o[0].md, "a"));
		CHECK(o[1].part == 1 && o[1].off == 12 && o[1].mdlen == -1);
		CHECK(!strcmp(o[2].topic, "u") && o[2].off == -1 && o[2].mdlen == 0 &&
		      o[2].err == 0);
		CHECK_EQ_INT(kw_i16(&r), 0);
		kw_tags_skip(&r);
		/* mg-b, null topics: everything, by topic then partition */
		kw_cstr(&r, &s, &sl);
		CHECK(str_eq(s, sl, "mg-b"));
		CHECK_EQ_INT(of_get_topics(&r, 8, true, o, 8), 3);
		CHECK(!strcmp(o[0].topic, "t") && o[0].part == 1 && o[0].off == 23);
		CHECK(!strcmp(o[1].topic, "u") && o[1].part == 0 && o[1].off == 21 &&
		      !strcmp(o[1].md, "b"));
		CHECK(!strcmp(o[2].topic, "u") && o[2].part == 2 && o[2].off == 22);
		CHECK_EQ_INT(kw_i16(&r), 0);
		kw_tags_skip(&r);
		/* "": INVALID_GROUP_ID, no topics */
		kw_cstr(&r, &s, &sl);
		CHECK(str_eq(s, sl, ""));
		CHECK_EQ_INT(of_get_topics(&r, 8, true, o, 8), 0);
		CHECK_EQ_INT(kw_i16(&r), KERR_INVALID_GROUP_ID);
		kw_tags_skip(&r);
		/* unknown group, null topics: nothing, no error */
		kw_cstr(&r, &s, &sl);
		CHECK(str_eq(s, sl, "mg-none"));
		CHECK_EQ_INT(of_get_topics(&r, 8, true, o, 8), 0);
		CHECK_EQ_INT(kw_i16(&r), 0);
		kw_tags_skip(&r);
		kw_tags_skip(&r);
		CHECK(!r.err && r.pos == r.len);
		free(buf);
	}
	/* null topics at v2-v7 */
	for (int v = 2; v <= 7; v++) {
		struct ofr o[8];
		int16_t top = -1;
		CHECK_EQ_INT(of_call(fd, v, "mg-b", NULL, -1, o, 8, &top), 3);
		CHECK_EQ_INT(top, 0);
		CHECK(o[2].part == 2 && o[2].off == 22 && !strcmp(o[2].md, "bb"));
	}
	close(fd);
}

/* Per-partition refusals in one request; the valid partitions of the same
 * request are committed. */
static void test_commit_refusals(void)
{
	int fd = tc_connect();
	REQUIRE(fd >= 0);
	static char big[GROUP_META_MAX + 1];
	memset(big, 'x', sizeof big);
	struct ocp c[] = {
		{ "t", 0, 40, -1, NULL, -1 },                   /* ok */
		{ "t", 2, 41, -1, NULL, -1 },                   /* no partition 2 */
		{ "t", -1, 41, -1, NULL, -1 },                  /* negative */
		{ "nope", 0, 42, -1, NULL, -1 },                /* no topic */
		{ "u", 0, 43, -1, big, GROUP_META_MAX + 1 },    /* too large */
		{ "u", 1, 44, -1, big, GROUP_META_MAX },        /* just fits */
		{ "u", 2, -5, -1, NULL, -1 },                   /* negative offset */
	};
	int16_t errs[7];
	for (int v = 0; v <= 9; v += 3) {
		char g[16];
		snprintf(g, sizeof g, "ref%d", v);
		REQUIRE(oc_simple(fd, v, g, c, 7, errs) == 0);
		CHECK_EQ_INT(errs[0], 0);
		CHECK_EQ_INT(errs[1], KERR_UNKNOWN_TOPIC_OR_PARTITION);
		CHECK_EQ_INT(errs[2], KERR_UNKNOWN_TOPIC_OR_PARTITION);
		CHECK_EQ_INT(errs[3], KERR_UNKNOWN_TOPIC_OR_PARTITION);
		CHECK_EQ_INT(errs[4], KERR_OFFSET_METADATA_TOO_LARGE);
		CHECK_EQ_INT(errs[5], 0);
		CHECK_EQ_INT(errs[6], KERR_INVALID_COMMIT_OFFSET_SIZE);
		struct ofr o;
		REQUIRE(of_one(fd, 5, g, "t", 0, &o) == 0);
		CHECK_EQ_INT(o.off, 40);
		REQUIRE(of_one(fd, 5, g, "u", 0, &o) == 0);
		CHECK_EQ_INT(o.off, -1);
		REQUIRE(of_one(fd, 5, g, "u", 1, &o) == 0);
		CHECK_EQ_INT(o.off, 44);
		REQUIRE(of_one(fd, 5, g, "u", 2, &o) == 0);
		CHECK_EQ_INT(o.off, -1);
	}
	/* bad group ids: empty and over GROUP_ID_MAX */
	char longid[GROUP_ID_MAX + 2];
	memset(longid, 'g', sizeof longid - 1);
	longid[sizeof longid - 1] = '\0';
	const char *bad[] = { "", longid };
	for (int i = 0; i < 2; i++) {
		REQUIRE(oc_simple(fd, 8, bad[i], c, 2, errs) == 0);
		CHECK_EQ_INT(errs[0], KERR_INVALID_GROUP_ID);
		CHECK_EQ_INT(errs[1], KERR_UNKNOWN_TOPIC_OR_PARTITION);
		struct ofq q = { "t", 0 };
		struct ofr o;
		int16_t top = -1;
		/* v2+: the top-level error, no topics; v0-1: per partition */
		CHECK_EQ_INT(of_call(fd, 3, bad[i], &q, 1, &o, 1, &top), 0);
		CHECK_EQ_INT(top, KERR_INVALID_GROUP_ID);
		CHECK_EQ_INT(of_call(fd, 1, bad[i], &q, 1, &o, 1, &top), 1);
		CHECK_EQ_INT(o.err, KERR_INVALID_GROUP_ID);
		CHECK_EQ_INT(o.off, -1);
	}
	close(fd);
}

/* ============================ durability ================================= */

/* Offsets survive a stop of the server and a close and reopen of the
 * store; the newest commit wins. */
static void test_offsets_survive_reopen(void)
{
	int fd = tc_connect();
	REQUIRE(fd >= 0);
	int16_t errs[3];
	struct ocp c1[] = { { "t", 0, 1, -1, "first", -1 } };
	struct ocp c2[] = { { "t", 0, 1000, 4, "second", -1 }, { "u", 1, 7, -1, NULL, -1 } };
	REQUIRE(oc_simple(fd, 8, "durable", c1, 1, errs) == 0);
	REQUIRE(oc_simple(fd, 8, "durable", c2, 2, errs) == 0);
	CHECK(errs[0] == 0 && errs[1] == 0);
	close(fd);
	server_down();
	REQUIRE(server_up() == 0);
	fd = tc_connect();
	REQUIRE(fd >= 0);
	struct ofr o[4];
	int16_t top = -1;
	CHECK_EQ_INT(of_call(fd, 7, "durable", NULL, -1, o, 4, &top), 2);
	CHECK_EQ_INT(top, 0);
	CHECK(!strcmp(o[0].topic, "t") && o[0].off == 1000 && o[0].epoch == 4 &&
	      !strcmp(o[0].md, "second"));
	CHECK(!strcmp(o[1].topic, "u") && o[1].part == 1 && o[1].off == 7 &&
	      o[1].mdlen == -1);
	close(fd);
}

/* ============================== OffsetDelete ============================== */

/* OffsetDelete: top-level error, then per partition (in request order). */
static int od_call(int fd, const char *group, const struct ofq *q, int n,
                   int16_t *top, int16_t *errs)
{
	struct kw_writer w;
	struct kw_reader r;
	uint8_t *buf;
	kw_writer_init(&w);
	kw_put_vstr(&w, false, group, (int)strlen(group));
	of_put_topics(&w, false, q, n);
	int rc = tc_call(fd, KAPI_OFFSET_DELETE, 0, &w, &buf, &r);
	kw_writer_free(&w);
	if (rc)
		return -1;
	*top = kw_i16(&r);
	kw_i32(&r);
	int32_t nt = kw_array(&r, 1, false);
	int at = 0;
	for (int32_t i = 0; i < nt && !r.err; i++) {
		const char *s;
		int sl;
		kw_str(&r, &s, &sl);
		int32_t np = kw_array(&r, 1, false);
		for (int32_t j = 0; j < np && !r.err; j++, at++) {
			int32_t p = kw_i32(&r);
			int16_t e = kw_i16(&r);
			if (at >= n || p != q[at].part || !str_eq(s, sl, q[at].topic))
				r.err = true;
			else
				errs[at] = e;
		}
	}
	rc = (r.err || r.pos != r.len) ? -1 : at;
	free(buf);
	return rc;
}

static void test_offset_delete(void)
{
	int fd = tc_connect();
	REQUIRE(fd >= 0);
	int16_t top, errs[4];
	struct ofq q[] = { { "t", 0 }, { "t", 5 }, { "u", 1 }, { "nope", 0 } };
	CHECK_EQ_INT(od_call(fd, "never-seen", q, 4, &top, errs), 0);
	CHECK_EQ_INT(top, KERR_GROUP_ID_NOT_FOUND);
	CHECK_EQ_INT(od_call(fd, "", q, 4, &top, errs), 0);
	CHECK_EQ_INT(top, KERR_INVALID_GROUP_ID);

	struct ocp c[] = { { "t", 0, 3, -1, NULL, -1 }, { "t", 1, 4, -1, NULL, -1 } };
	REQUIRE(oc_simple(fd, 8, "del", c, 2, errs) == 0);
	CHECK_EQ_INT(od_call(fd, "del", q, 4, &top, errs), 4);
	CHECK_EQ_INT(top, 0);
	CHECK_EQ_INT(errs[0], 0);
	CHECK_EQ_INT(errs[1], KERR_UNKNOWN_TOPIC_OR_PARTITION);
	CHECK_EQ_INT(errs[2], 0);               /* nothing there: not an error */
	CHECK_EQ_INT(errs[3], KERR_UNKNOWN_TOPIC_OR_PARTITION);
	struct ofr o;
	REQUIRE(of_one(fd, 5, "del", "t", 0, &o) == 0);
	CHECK_EQ_INT(o.off, -1);
	REQUIRE(of_one(fd, 5, "del", "t", 1, &o) == 0);
	CHECK_EQ_INT(o.off, 4);                 /* not named: kept */
	/* deleted for good: not back after a reopen */
	close(fd);
	server_down();
	REQUIRE(server_up() == 0);
	fd = tc_connect();
	REQUIRE(fd >= 0);
	REQUIRE(of_one(fd, 5, "del", "t", 0, &o) == 0);
	CHECK_EQ_INT(o.off, -1);
	REQUIRE(of_one(fd, 5, "del", "t", 1, &o) == 0);
	CHECK_EQ_INT(o.off, 4);
	close(fd);
}

/* ============================== malformed ================================= */

/* Send raw body bytes for api v; true when the server closed the
 * connection instead of answering. */
static bool closes(int16_t api, int v, const void *body, size_t len)
{
	int fd = tc_connect();
	if (fd < 0)
		return false;
	struct kw_writer w;
	kw_writer_init(&w);
	kw_put(&w, body, len);
	struct kw_reader r;
	uint8_t *buf = NULL;
	int rc = tc_call(fd, api, v, &w, &buf, &r);
	kw_writer_free(&w);
	free(buf);
	bool closed = rc != 0 && tc_closed(fd, 2000);
	close(fd);
	return closed;
}

static void test_malformed(void)
{
	struct kw_writer w;
	/* every truncation of a valid OffsetCommit v8 and v2 */
	for (int v = 2; v <= 8; v += 6) {
		struct ocp c[] = { { "t", 0, 1, -1, "m", -1 }, { "u", 1, 2, -1, NULL, -1 } };
		oc_body(&w, v, "trunc", -1, "", NULL, c, 2);
		for (size_t cut = 0; cut < w.len; cut += (cut < 8 ? 1 : 5))
			CHECK(closes(KAPI_OFFSET_COMMIT, v, w.buf, cut));
		kw_writer_free(&w);
	}
	/* a huge topic count */
	kw_writer_init(&w);
	kw_put_str(&w, "g", 1);
	kw_put_i32(&w, 0x7fffffff);
	CHECK(closes(KAPI_OFFSET_COMMIT, 0, w.buf, w.len));
	CHECK(closes(KAPI_OFFSET_FETCH, 1, w.buf, w.len));
	CHECK(closes(KAPI_OFFSET_DELETE, 0, w.buf, w.len));
	kw_writer_free(&w);
	/* null topics where not nullable: OffsetFetch v1 */
	kw_writer_init(&w);
	kw_put_str(&w, "g", 1);
	kw_put_i32(&w, -1);
	CHECK(closes(KAPI_OFFSET_FETCH, 1, w.buf, w.len));
	kw_writer_free(&w);
	/* null group id */
	kw_writer_init(&w);
	kw_put_str(&w, NULL, -1);
	kw_put_i32(&w, 0);
	CHECK(closes(KAPI_OFFSET_DELETE, 0, w.buf, w.len));
	CHECK(closes(KAPI_OFFSET_COMMIT, 0, w.buf, w.len));
	kw_writer_free(&w);
	/* OffsetFetch v8: a group count that cannot fit */
	kw_writer_init(&w);
	kw_put_uvarint(&w, 1000000);
	CHECK(closes(KAPI_OFFSET_FETCH, 8, w.buf, w.len));
	kw_writer_free(&w);
	/* FindCoordinator v4: a null key */
	kw_writer_init(&w);
	kw_put_i8(&w, 0);
	kw_put_carray(&w, 1);
	kw_put_cstr_compact(&w, NULL, -1);
	kw_put_tags0(&w);
	CHECK(closes(KAPI_FIND_COORDINATOR, 4, w.buf, w.len));
	kw_writer_free(&w);
	/* the server still serves */
	int fd = tc_connect();
	REQUIRE(fd >= 0);
	struct ofr o;
	CHECK(of_one(fd, 2, "g", "t", 0, &o) == 0);
	close(fd);
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
	RUN(test_find_coordinator);
	RUN(test_commit_fetch_versions);
	RUN(test_fetch_multi_group);
	RUN(test_commit_refusals);
	RUN(test_offsets_survive_reopen);
	RUN(test_offset_delete);
	RUN(test_malformed);
	fixture_down();
	return TT_DONE();
}
