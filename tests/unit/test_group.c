/*
 * test_group.c - unit tests of the group coordinator (net/srv_group.c and
 * the held-request support of net/srv.c): a real store in a mkdtemp
 * directory, a real server on 127.0.0.1 port 0 (initial rebalance delay 0,
 * session timeouts from 100 ms), raw JoinGroup / SyncGroup / Heartbeat /
 * LeaveGroup / DescribeGroups / ListGroups / DeleteGroups over blocking
 * sockets, classic and flexible versions.
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

static char g_dir[256];
static struct store *g_st;
static struct srv *g_srv;
static int g_port;
static int32_t g_corr = 1000;

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int fixture_up(void)
{
	tu_tmpdir_make(g_dir, sizeof g_dir, "topicfs-test-group");
	g_st = tu_store_open(g_dir);
	if (!g_st)
		return -EIO;
	struct srv_config cfg;
	srv_config_defaults(&cfg);
	cfg.listen_port = 0;
	cfg.group_initial_rebalance_delay_ms = 0;
	cfg.group_min_session_timeout_ms = 100;
	cfg.group_max_members = 3;
	int rc = srv_start(g_st, &cfg, &g_srv);
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

/* Send a request (header v2 when flex); returns its correlation id. */
static int32_t tc_send(int fd, int16_t api, int16_t ver, bool flex,
                       const struct kw_writer *body)
{
	struct kw_writer w;
	int32_t corr = ++g_corr;
	kw_writer_init(&w);
	kw_put_i32(&w, 0);
	kw_put_i16(&w, api);
	kw_put_i16(&w, ver);
	kw_put_i32(&w, corr);
	kw_put_cstr(&w, "tg");
	if (flex)
		kw_put_i8(&w, 0);
	kw_put(&w, body->buf, body->len);
	kw_patch_i32(&w, 0, (int32_t)(w.len - 4));
	int rc = send_all(fd, w.buf, w.len);
	kw_writer_free(&w);
	return rc ? -1 : corr;
}

/* Is a response (or EOF) readable within ms? */
static bool tc_ready(int fd, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	return poll(&pfd, 1, ms) > 0;
}

/* Receive the response to corr; *body (malloc'd) follows the header. */
static int tc_recv(int fd, int32_t corr, bool flex, uint8_t **body, size_t *len)
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
	if (flex) {                         /* response header v1: tags */
		if (*len < 1 || (*body)[0] != 0) {
			free(*body);
			return -3;
		}
		memmove(*body, *body + 1, --*len);
	}
	return 0;
}

static bool tc_closed(int fd, int ms)
{
	int64_t end = now_ms() + ms;
	uint8_t buf[4096];
	while (now_ms() < end) {
		if (!tc_ready(fd, 50))
			continue;
		ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			return true;
	}
	return false;
}

static void put_str(struct kw_writer *w, bool flex, const char *s)
{
	kw_put_vcstr(w, flex, s);
}

static void put_bytes(struct kw_writer *w, bool flex, const char *b)
{
	int32_t n = b ? (int32_t)strlen(b) : -1;
	kw_put_vbytes_len(w, flex, n);
	if (n > 0)
		kw_put(w, b, (size_t)n);
}

static void copy_wstr(char *dst, size_t cap, const char *s, int len)
{
	if (len < 0) {
		snprintf(dst, cap, "(null)");
		return;
	}
	snprintf(dst, cap, "%.*s", len, s);
}

/* ============================== group calls =============================== */

struct jres {
	int rc;
	int16_t err;
	int32_t gen;
	char proto[64], leader[160], member[160];
	int nmembers;
	char mids[4][160];
	char metas[4][64];
	bool skip;
};

/* JoinGroup with one protocol ("range", metadata meta). */
static int32_t join_send(int fd, int v, const char *group, int32_t session,
                         const char *member, const char *instance,
                         const char *meta)
{
	bool flex = v >= 6;
	struct kw_writer w;
	kw_writer_init(&w);
	put_str(&w, flex, group);
	kw_put_i32(&w, session);
	if (v >= 1)
		kw_put_i32(&w, 1000);           /* RebalanceTimeoutMs */
	put_str(&w, flex, member);
	if (v >= 5)
		put_str(&w, flex, instance);
	put_str(&w, flex, "consumer");
	kw_put_varray(&w, flex, 1);
	put_str(&w, flex, "range");
	put_bytes(&w, flex, meta);
	kw_put_vtags(&w, flex);
	if (v >= 8)
		put_str(&w, flex, NULL);        /* Reason */
	kw_put_vtags(&w, flex);
	int32_t corr = tc_send(fd, KAPI_JOIN_GROUP, (int16_t)v, flex, &w);
	kw_writer_free(&w);
	return corr;
}

static void join_recv(int fd, int v, int32_t corr, struct jres *o)
{
	bool flex = v >= 6;
	uint8_t *b;
	size_t len;
	memset(o, 0, sizeof *o);
	o->rc = tc_recv(fd, corr, flex, &b, &len);
	if (o->rc)
		return;
	struct kw_reader r;
	const char *s;
	int sl;
	kw_reader_init(&r, b, len);
	if (v >= 2)
		kw_i32(&r);
	o->err = kw_i16(&r);
	o->gen = kw_i32(&r);
	if (v >= 7)
		kw_vstr(&r, flex, &s, &sl);
	kw_vstr(&r, flex, &s, &sl);
	copy_wstr(o->proto, sizeof o->proto, s, sl);
	kw_vstr(&r, flex, &s, &sl);
	copy_wstr(o->leader, sizeof o->leader, s, sl);
	if (v >= 9)
		o->skip = kw_i8(&r) != 0;
	kw_vstr(&r, flex, &s, &sl);
	copy_wstr(o->member, sizeof o->member, s, sl);
	int32_t n = kw_varray(&r, flex, 1, false);
	o->nmembers = n;
	for (int32_t i = 0; i < n && !r.err; i++) {
		const uint8_t *m;
		int32_t ml;
		kw_vstr(&r, flex, &s, &sl);
		if (i < 4)
			copy_wstr(o->mids[i], sizeof o->mids[i], s, sl);
		if (v >= 5)
			kw_vstr(&r, flex, &s, &sl);
		kw_vbytes(&r, flex, &m, &ml);
		if (i < 4)
			copy_wstr(o->metas[i], sizeof o->metas[i], (const char *)m, ml);
		kw_vtags(&r, flex);
	}
	kw_vtags(&r, flex);
	if (r.err || r.pos != len)
		o->rc = -4;
	free(b);
}

static void join_call(int fd, int v, const char *group, int32_t session,
                      const char *member, const char *instance,
                      const char *meta, struct jres *o)
{
	int32_t corr = join_send(fd, v, group, session, member, instance, meta);
	join_recv(fd, v, corr, o);
}

/* SyncGroup; assignments: pairs member, assignment, NULL-terminated. */
static int32_t sync_send(int fd, int v, const char *group, int32_t gen,
                         const char *member, const char *instance,
                         const char *const *assign)
{
	bool flex = v >= 4;
	struct kw_writer w;
	kw_writer_init(&w);
	put_str(&w, flex, group);
	kw_put_i32(&w, gen);
	put_str(&w, flex, member);
	if (v >= 3)
		put_str(&w, flex, instance);
	if (v >= 5) {
		put_str(&w, flex, "consumer");
		put_str(&w, flex, "range");
	}
	int n = 0;
	while (assign && assign[2 * n])
		n++;
	kw_put_varray(&w, flex, n);
	for (int i = 0; i < n; i++) {
		put_str(&w, flex, assign[2 * i]);
		put_bytes(&w, flex, assign[2 * i + 1]);
		kw_put_vtags(&w, flex);
	}
	kw_put_vtags(&w, flex);
	int32_t corr = tc_send(fd, KAPI_SYNC_GROUP, (int16_t)v, flex, &w);
	kw_writer_free(&w);
	return corr;
}

/* Returns the error code (or -100 - rc on a transport failure); the
 * assignment into out. */
static int sync_recv(int fd, int v, int32_t corr, char *out, size_t cap)
{
	bool flex = v >= 4;
	uint8_t *b;
	size_t len;
	int rc = tc_recv(fd, corr, flex, &b, &len);
	if (rc)
		return -100 + rc;
	struct kw_reader r;
	const char *s;
	int sl;
	const uint8_t *a;
	int32_t al;
	kw_reader_init(&r, b, len);
	if (v >= 1)
		kw_i32(&r);
	int err = kw_i16(&r);
	if (v >= 5) {
		kw_vstr(&r, flex, &s, &sl);
		kw_vstr(&r, flex, &s, &sl);
	}
	kw_vbytes(&r, flex, &a, &al);
	kw_vtags(&r, flex);
	if (out)
		copy_wstr(out, cap, (const char *)a, al);
	if (r.err || r.pos != len)
		err = -99;
	free(b);
	return err;
}

static int heartbeat(int fd, int v, const char *group, int32_t gen,
                     const char *member, const char *instance)
{
	bool flex = v >= 4;
	struct kw_writer w;
	kw_writer_init(&w);
	put_str(&w, flex, group);
	kw_put_i32(&w, gen);
	put_str(&w, flex, member);
	if (v >= 3)
		put_str(&w, flex, instance);
	kw_put_vtags(&w, flex);
	int32_t corr = tc_send(fd, KAPI_HEARTBEAT, (int16_t)v, flex, &w);
	kw_writer_free(&w);
	uint8_t *b;
	size_t len;
	if (tc_recv(fd, corr, flex, &b, &len))
		return -100;
	struct kw_reader r;
	kw_reader_init(&r, b, len);
	if (v >= 1)
		kw_i32(&r);
	int err = kw_i16(&r);
	kw_vtags(&r, flex);
	if (r.err || r.pos != len)
		err = -99;
	free(b);
	return err;
}

/* LeaveGroup of one member; v3+ also returns the member's error in *merr. */
static int leave(int fd, int v, const char *group, const char *member,
                 const char *instance, int *merr)
{
	bool flex = v >= 4;
	struct kw_writer w;
	kw_writer_init(&w);
	put_str(&w, flex, group);
	if (v >= 3) {
		kw_put_varray(&w, flex, 1);
		put_str(&w, flex, member);
		put_str(&w, flex, instance);
		if (v >= 5)
			put_str(&w, flex, "test");
		kw_put_vtags(&w, flex);
	} else {
		put_str(&w, flex, member);
	}
	kw_put_vtags(&w, flex);
	int32_t corr = tc_send(fd, KAPI_LEAVE_GROUP, (int16_t)v, flex, &w);
	kw_writer_free(&w);
	uint8_t *b;
	size_t len;
	if (tc_recv(fd, corr, flex, &b, &len))
		return -100;
	struct kw_reader r;
	const char *s;
	int sl;
	kw_reader_init(&r, b, len);
	if (v >= 1)
		kw_i32(&r);
	int err = kw_i16(&r);
	if (v >= 3) {
		int32_t n = kw_varray(&r, flex, 1, false);
		for (int32_t i = 0; i < n && !r.err; i++) {
			kw_vstr(&r, flex, &s, &sl);
			kw_vstr(&r, flex, &s, &sl);
			int e = kw_i16(&r);
			if (merr)
				*merr = e;
			kw_vtags(&r, flex);
		}
	}
	kw_vtags(&r, flex);
	if (r.err || r.pos != len)
		err = -99;
	free(b);
	return err;
}

/* DeleteGroups of one group: its error code. */
static int delete_group(int fd, int v, const char *group)
{
	bool flex = v >= 2;
	struct kw_writer w;
	kw_writer_init(&w);
	kw_put_varray(&w, flex, 1);
	put_str(&w, flex, group);
	kw_put_vtags(&w, flex);
	int32_t corr = tc_send(fd, KAPI_DELETE_GROUPS, (int16_t)v, flex, &w);
	kw_writer_free(&w);
	uint8_t *b;
	size_t len;
	if (tc_recv(fd, corr, flex, &b, &len))
		return -100;
	struct kw_reader r;
	const char *s;
	int sl;
	kw_reader_init(&r, b, len);
	kw_i32(&r);
	int32_t n = kw_varray(&r, flex, 1, false);
	int err = -98;
	if (n == 1) {
		kw_vstr(&r, flex, &s, &sl);
		err = kw_i16(&r);
		kw_vtags(&r, flex);
	}
	kw_vtags(&r, flex);
	if (r.err || r.pos != len)
		err = -99;
	free(b);
	return err;
}

/* DescribeGroups of one group: state, member count, the first member's
 * assignment. */
static int describe(int fd, int v, const char *group, char *state, int *nm,
                    char *assign0)
{
	bool flex = v >= 5;
	struct kw_writer w;
	kw_writer_init(&w);
	kw_put_varray(&w, flex, 1);
	put_str(&w, flex, group);
	if (v >= 3)
		kw_put_i8(&w, 0);
	kw_put_vtags(&w, flex);
	int32_t corr = tc_send(fd, KAPI_DESCRIBE_GROUPS, (int16_t)v, flex, &w);
	kw_writer_free(&w);
	uint8_t *b;
	size_t len;
	if (tc_recv(fd, corr, flex, &b, &len))
		return -100;
	struct kw_reader r;
	const char *s;
	int sl;
	const uint8_t *bb;
	int32_t bl;
	kw_reader_init(&r, b, len);
	if (v >= 1)
		kw_i32(&r);
	int32_t n = kw_varray(&r, flex, 1, false);
	int err = -98;
	if (n == 1) {
		err = kw_i16(&r);
		kw_vstr(&r, flex, &s, &sl);
		kw_vstr(&r, flex, &s, &sl);
		copy_wstr(state, 32, s, sl);
		kw_vstr(&r, flex, &s, &sl);
		kw_vstr(&r, flex, &s, &sl);
		*nm = kw_varray(&r, flex, 1, false);
		assign0[0] = '\0';
		for (int i = 0; i < *nm && !r.err; i++) {
			kw_vstr(&r, flex, &s, &sl);
			if (v >= 4)
				kw_vstr(&r, flex, &s, &sl);
			kw_vstr(&r, flex, &s, &sl);
			kw_vstr(&r, flex, &s, &sl);
			kw_vbytes(&r, flex, &bb, &bl);
			kw_vbytes(&r, flex, &bb, &bl);
			if (i == 0)
				copy_wstr(assign0, 64, (const char *)bb, bl);
			kw_vtags(&r, flex);
		}
		if (v >= 3)
			kw_i32(&r);
		kw_vtags(&r, flex);
	}
	kw_vtags(&r, flex);
	if (r.err || r.pos != len)
		err = -99;
	free(b);
	return err;
}

/* ListGroups v4: is group listed, and in which state? */
static bool list_has(int fd, const char *group, char *state)
{
	struct kw_writer w;
	kw_writer_init(&w);
	kw_put_carray(&w, 0);               /* StatesFilter */
	kw_put_tags0(&w);
	int32_t corr = tc_send(fd, KAPI_LIST_GROUPS, 4, true, &w);
	kw_writer_free(&w);
	uint8_t *b;
	size_t len;
	if (tc_recv(fd, corr, true, &b, &len))
		return false;
	struct kw_reader r;
	const char *s;
	int sl;
	bool found = false;
	kw_reader_init(&r, b, len);
	kw_i32(&r);
	kw_i16(&r);
	int32_t n = kw_carray(&r, 1, false);
	for (int32_t i = 0; i < n && !r.err; i++) {
		kw_cstr(&r, &s, &sl);
		bool me = sl == (int)strlen(group) && !memcmp(s, group, (size_t)sl);
		kw_cstr(&r, &s, &sl);
		kw_cstr(&r, &s, &sl);
		if (me) {
			found = true;
			copy_wstr(state, 32, s, sl);
		}
		kw_tags_skip(&r);
	}
	kw_tags_skip(&r);
	free(b);
	return found && !r.err && r.pos == len;
}

/* A member joined through MEMBER_ID_REQUIRED (v4+). */
static void join_new(int fd, int v, const char *group, int32_t session,
                     const char *meta, struct jres *o)
{
	join_call(fd, v, group, session, "", NULL, meta, o);
	if (o->rc || o->err != KERR_MEMBER_ID_REQUIRED)
		return;
	char id[160];
	snprintf(id, sizeof id, "%s", o->member);
	join_call(fd, v, group, session, id, NULL, meta, o);
}

/* ================================= cases ================================== */

static void test_member_id_required(void)
{
	int fd = tc_connect();
	REQUIRE(fd >= 0);
	struct jres j;
	join_call(fd, 5, "g1", 10000, "", NULL, "m-a", &j);
	REQUIRE(j.rc == 0);
	CHECK_EQ_INT(j.err, KERR_MEMBER_ID_REQUIRED);
	CHECK(!strncmp(j.member, "tg-", 3) && strlen(j.member) == 3 + 36);
	CHECK_EQ_INT(j.gen, -1);
	char id[160];
	snprintf(id, sizeof id, "%s", j.member);
	/* an unknown id is refused; the given one joins */
	join_call(fd, 5, "g1", 10000, "tg-bogus", NULL, "m-a", &j);
	CHECK_EQ_INT(j.err, KERR_UNKNOWN_MEMBER_ID);
	join_call(fd, 5, "g1", 10000, id, NULL, "m-a", &j);
	REQUIRE(j.rc == 0);
	CHECK_EQ_INT(j.err, 0);
	CHECK_EQ_INT(j.gen, 1);
	CHECK(!strcmp(j.member, id));
	CHECK(!strcmp(j.leader, id));
	CHECK(!strcmp(j.proto, "range"));
	CHECK_EQ_INT(j.nmembers, 1);
	CHECK(!strcmp(j.metas[0], "m-a"));
	/* v0-3 join at once, no member id round */
	int fd2 = tc_connect();
	REQUIRE(fd2 >= 0);
	join_call(fd2, 3, "g1v3", 10000, "", NULL, "x", &j);
	CHECK_EQ_INT(j.err, 0);
	CHECK_EQ_INT(j.gen, 1);
	/* bad session timeouts, bad group ids */
	join_call(fd2, 5, "g1", 50, "", NULL, "x", &j);
	CHECK_EQ_INT(j.err, KERR_INVALID_SESSION_TIMEOUT);
	join_call(fd2, 5, "", 10000, "", NULL, "x", &j);
	CHECK_EQ_INT(j.err, KERR_INVALID_GROUP_ID);
	CHECK_EQ_INT(leave(fd, 1, "g1", id, NULL, NULL), 0);
	CHECK_EQ_INT(leave(fd2, 1, "g1v3", j.member, NULL, NULL),
	             KERR_UNKNOWN_MEMBER_ID);
	close(fd);
	close(fd2);
}

/* Two members: one generation, the leader gets both metadata, a follower's
 * SyncGroup waits for the leader's, heartbeats during the rebalance get
 * REBALANCE_IN_PROGRESS. */
static void test_two_members(void)
{
	int a = tc_connect(), b = tc_connect(), c = tc_connect();
	REQUIRE(a >= 0 && b >= 0 && c >= 0);
	struct jres ja, jb;
	join_new(a, 5, "g2", 10000, "meta-a", &ja);
	REQUIRE(ja.rc == 0 && ja.err == 0);
	CHECK_EQ_INT(ja.gen, 1);
	char ida[160], idb[160];
	snprintf(ida, sizeof ida, "%s", ja.member);
	const char *as1[] = { ida, "all", NULL };
	CHECK_EQ_INT(sync_recv(a, 3, sync_send(a, 3, "g2", 1, ida, NULL, as1),
	                       NULL, 0), 0);
	CHECK_EQ_INT(heartbeat(a, 3, "g2", 1, ida, NULL), 0);

	/* b arrives: its JoinGroup is held until a rejoins */
	join_call(b, 5, "g2", 10000, "", NULL, "meta-b", &jb);
	REQUIRE(jb.err == KERR_MEMBER_ID_REQUIRED);
	snprintf(idb, sizeof idb, "%s", jb.member);
	int32_t cb = join_send(b, 5, "g2", 10000, idb, NULL, "meta-b");
	CHECK(!tc_ready(b, 200));
	CHECK_EQ_INT(heartbeat(a, 3, "g2", 1, ida, NULL), KERR_REBALANCE_IN_PROGRESS);
	CHECK_EQ_INT(heartbeat(c, 3, "g2", 1, "nobody", NULL), KERR_UNKNOWN_MEMBER_ID);
	/* a third connection may ask about the group meanwhile */
	char st[32], as[64];
	int nm = 0;
	CHECK_EQ_INT(describe(c, 5, "g2", st, &nm, as), 0);
	CHECK(!strcmp(st, "PreparingRebalance"));
	CHECK_EQ_INT(nm, 2);
	join_call(a, 5, "g2", 10000, ida, NULL, "meta-a", &ja);
	join_recv(b, 5, cb, &jb);
	REQUIRE(ja.rc == 0 && jb.rc == 0);
	CHECK_EQ_INT(ja.err, 0);
	CHECK_EQ_INT(jb.err, 0);
	CHECK_EQ_INT(ja.gen, 2);
	CHECK_EQ_INT(jb.gen, 2);
	CHECK(!strcmp(ja.leader, ida) && !strcmp(jb.leader, ida));
	CHECK_EQ_INT(ja.nmembers, 2);
	CHECK_EQ_INT(jb.nmembers, 0);
	CHECK((!strcmp(ja.metas[0], "meta-a") && !strcmp(ja.metas[1], "meta-b")) ||
	      (!strcmp(ja.metas[1], "meta-a") && !strcmp(ja.metas[0], "meta-b")));
	/* CompletingRebalance: heartbeats are fine, an old generation is not */
	CHECK_EQ_INT(heartbeat(c, 3, "g2", 2, idb, NULL), 0);
	CHECK_EQ_INT(heartbeat(c, 3, "g2", 1, idb, NULL), KERR_ILLEGAL_GENERATION);

	/* the follower's sync waits for the leader's */
	int32_t sb = sync_send(b, 3, "g2", 2, idb, NULL, NULL);
	CHECK(!tc_ready(b, 200));
	const char *as2[] = { ida, "p0p1", idb, "p2p3", NULL };
	char got_a[64], got_b[64];
	CHECK_EQ_INT(sync_recv(a, 3, sync_send(a, 3, "g2", 2, ida, NULL, as2),
	                       got_a, sizeof got_a), 0);
	CHECK_EQ_INT(sync_recv(b, 3, sb, got_b, sizeof got_b), 0);
	CHECK(!strcmp(got_a, "p0p1"));
	CHECK(!strcmp(got_b, "p2p3"));
	CHECK_EQ_INT(heartbeat(a, 3, "g2", 2, ida, NULL), 0);
	CHECK_EQ_INT(heartbeat(b, 3, "g2", 2, idb, NULL), 0);
	CHECK_EQ_INT(describe(c, 5, "g2", st, &nm, as), 0);
	CHECK(!strcmp(st, "Stable"));
	CHECK_EQ_INT(nm, 2);
	CHECK(list_has(c, "g2", st));
	CHECK(!strcmp(st, "Stable"));
	/* a follower rejoining with the same metadata: the same generation */
	join_call(b, 5, "g2", 10000, idb, NULL, "meta-b", &jb);
	CHECK_EQ_INT(jb.err, 0);
	CHECK_EQ_INT(jb.gen, 2);
	CHECK_EQ_INT(heartbeat(a, 3, "g2", 2, ida, NULL), 0);

	/* DeleteGroups: not while it has members */
	CHECK_EQ_INT(delete_group(c, 1, "g2"), KERR_NON_EMPTY_GROUP);
	CHECK_EQ_INT(delete_group(c, 2, "no-such-group"), KERR_GROUP_ID_NOT_FOUND);

	/* b leaves (v3 batch form): a rebalance, a alone in generation 3 */
	int merr = -1;
	CHECK_EQ_INT(leave(b, 3, "g2", idb, NULL, &merr), 0);
	CHECK_EQ_INT(merr, 0);
	CHECK_EQ_INT(heartbeat(a, 3, "g2", 2, ida, NULL), KERR_REBALANCE_IN_PROGRESS);
	join_call(a, 5, "g2", 10000, ida, NULL, "meta-a", &ja);
	CHECK_EQ_INT(ja.err, 0);
	CHECK_EQ_INT(ja.gen, 3);
	CHECK_EQ_INT(ja.nmembers, 1);
	CHECK_EQ_INT(leave(a, 0, "g2", ida, NULL, NULL), 0);
	CHECK_EQ_INT(describe(c, 0, "g2", st, &nm, as), 0);
	CHECK(!strcmp(st, "Dead") || !strcmp(st, "Empty"));
	CHECK_EQ_INT(nm, 0);
	/* nothing is left of it (no members, no committed offsets) */
	CHECK_EQ_INT(delete_group(c, 0, "g2"), KERR_GROUP_ID_NOT_FOUND);
	close(a);
	close(b);
	close(c);
}

/* A member that stops heartbeating is evicted after its session timeout;
 * the other one is told to rejoin and gets everything. */
static void test_session_timeout(void)
{
	int a = tc_connect(), b = tc_connect();
	REQUIRE(a >= 0 && b >= 0);
	struct jres ja, jb;
	join_new(a, 5, "g3", 300, "a", &ja);
	REQUIRE(ja.err == 0);
	char ida[160], idb[160];
	snprintf(ida, sizeof ida, "%s", ja.member);
	join_call(b, 5, "g3", 300, "", NULL, "b", &jb);
	snprintf(idb, sizeof idb, "%s", jb.member);
	int32_t cb = join_send(b, 5, "g3", 300, idb, NULL, "b");
	join_call(a, 5, "g3", 300, ida, NULL, "a", &ja);
	join_recv(b, 5, cb, &jb);
	REQUIRE(ja.err == 0 && jb.err == 0 && ja.gen == jb.gen);
	int32_t gen = ja.gen;
	const char *as[] = { ida, "x", idb, "y", NULL };
	int32_t sb = sync_send(b, 3, "g3", gen, idb, NULL, NULL);
	CHECK_EQ_INT(sync_recv(a, 3, sync_send(a, 3, "g3", gen, ida, NULL, as),
	                       NULL, 0), 0);
	CHECK_EQ_INT(sync_recv(b, 3, sb, NULL, 0), 0);
	/* b goes silent; a heartbeats every 50 ms */
	int64_t t0 = now_ms();
	int err = 0;
	while (now_ms() - t0 < 3000) {
		err = heartbeat(a, 3, "g3", gen, ida, NULL);
		if (err)
			break;
		usleep(50000);
	}
	int64_t took = now_ms() - t0;
	CHECK_EQ_INT(err, KERR_REBALANCE_IN_PROGRESS);
	CHECK(took >= 250 && took < 2000);
	join_call(a, 5, "g3", 300, ida, NULL, "a", &ja);
	CHECK_EQ_INT(ja.err, 0);
	CHECK_EQ_INT(ja.gen, gen + 1);
	CHECK_EQ_INT(ja.nmembers, 1);
	CHECK_EQ_INT(heartbeat(b, 3, "g3", gen, idb, NULL), KERR_UNKNOWN_MEMBER_ID);
	CHECK_EQ_INT(leave(a, 1, "g3", ida, NULL, NULL), 0);
	close(a);
	close(b);
}

/* KIP-345: a static member that comes back with an empty member id takes
 * over its instance (no rebalance when Stable); the old id is fenced. */
static void test_static_member(void)
{
	int a = tc_connect(), a2 = tc_connect();
	REQUIRE(a >= 0 && a2 >= 0);
	struct jres j;
	join_call(a, 5, "g4", 10000, "", "inst-1", "s", &j);
	REQUIRE(j.rc == 0);
	CHECK_EQ_INT(j.err, 0);                 /* static: no MEMBER_ID_REQUIRED */
	CHECK_EQ_INT(j.gen, 1);
	char old[160];
	snprintf(old, sizeof old, "%s", j.member);
	const char *as[] = { old, "asg", NULL };
	CHECK_EQ_INT(sync_recv(a, 3, sync_send(a, 3, "g4", 1, old, "inst-1", as),
	                       NULL, 0), 0);
	/* the instance restarts (v9: flexible, told to skip the assignment) */
	join_call(a2, 9, "g4", 10000, "", "inst-1", "s", &j);
	REQUIRE(j.rc == 0);
	CHECK_EQ_INT(j.err, 0);
	CHECK_EQ_INT(j.gen, 1);
	CHECK(strcmp(j.member, old) != 0);
	CHECK(!strcmp(j.leader, j.member));
	CHECK(j.skip);
	CHECK_EQ_INT(heartbeat(a, 3, "g4", 1, old, "inst-1"), KERR_FENCED_INSTANCE_ID);
	CHECK_EQ_INT(heartbeat(a2, 4, "g4", 1, j.member, "inst-1"), 0);
	char got[64];
	CHECK_EQ_INT(sync_recv(a2, 5, sync_send(a2, 5, "g4", 1, j.member, "inst-1",
	                                         NULL), got, sizeof got), 0);
	CHECK(!strcmp(got, "asg"));
	/* leave by instance id with the wrong member id: fenced */
	int merr = -1;
	CHECK_EQ_INT(leave(a, 5, "g4", old, "inst-1", &merr), 0);
	CHECK_EQ_INT(merr, KERR_FENCED_INSTANCE_ID);
	CHECK_EQ_INT(leave(a2, 5, "g4", j.member, "inst-1", &merr), 0);
	CHECK_EQ_INT(merr, 0);
	close(a);
	close(a2);
}

/* Group size bound; a held JoinGroup whose connection closes; a member
 * with an incompatible protocol type. */
static void test_bounds_and_holds(void)
{
	int fds[4];
	struct jres j;
	for (int i = 0; i < 4; i++)
		REQUIRE((fds[i] = tc_connect()) >= 0);
	char ids[3][160];
	/* three pending ids fill the group (max 3) */
	for (int i = 0; i < 3; i++) {
		join_call(fds[i], 5, "g5", 10000, "", NULL, "m", &j);
		CHECK_EQ_INT(j.err, KERR_MEMBER_ID_REQUIRED);
		snprintf(ids[i], sizeof ids[i], "%s", j.member);
	}
	join_call(fds[3], 5, "g5", 10000, "", NULL, "m", &j);
	CHECK_EQ_INT(j.err, KERR_GROUP_MAX_SIZE_REACHED);
	/* member 0 joins: from Empty, the initial delay (0 here) ends the
	 * rebalance without waiting for pending ids, as in Kafka */
	join_call(fds[0], 5, "g5", 10000, ids[0], NULL, "m", &j);
	CHECK_EQ_INT(j.err, 0);
	CHECK_EQ_INT(j.nmembers, 1);
	/* member 1 joins: a rebalance that waits for member 0 to rejoin and
	 * for the pending id of member 2 */
	int32_t c1 = join_send(fds[1], 5, "g5", 10000, ids[1], NULL, "m");
	CHECK(!tc_ready(fds[1], 150));
	int32_t c0 = join_send(fds[0], 5, "g5", 10000, ids[0], NULL, "m");
	CHECK(!tc_ready(fds[0], 150));
	(void)c1;
	close(fds[1]);                          /* held, then gone */
	usleep(50000);
	join_call(fds[2], 5, "g5", 10000, ids[2], NULL, "m", &j);
	CHECK_EQ_INT(j.err, 0);
	CHECK_EQ_INT(j.gen, 2);
	join_recv(fds[0], 5, c0, &j);
	REQUIRE(j.rc == 0);
	CHECK_EQ_INT(j.err, 0);
	CHECK_EQ_INT(j.gen, 2);
	CHECK_EQ_INT(j.nmembers, 3);            /* the closed one stays, as Kafka */
	int32_t gen = j.gen;
	/* wrong protocol type */
	struct kw_writer w;
	kw_writer_init(&w);
	put_str(&w, false, "g5");
	kw_put_i32(&w, 10000);
	kw_put_i32(&w, 1000);
	put_str(&w, false, "");
	put_str(&w, false, NULL);
	put_str(&w, false, "connect");
	kw_put_i32(&w, 1);
	put_str(&w, false, "range");
	put_bytes(&w, false, "m");
	int32_t corr = tc_send(fds[3], KAPI_JOIN_GROUP, 5, false, &w);
	kw_writer_free(&w);
	join_recv(fds[3], 5, corr, &j);
	CHECK_EQ_INT(j.err, KERR_INCONSISTENT_GROUP_PROTOCOL);
	CHECK_EQ_INT(leave(fds[0], 1, "g5", ids[0], NULL, NULL), 0);
	CHECK_EQ_INT(leave(fds[2], 1, "g5", ids[2], NULL, NULL), 0);
	CHECK_EQ_INT(leave(fds[2], 1, "g5", ids[1], NULL, NULL), 0);
	CHECK_EQ_INT(heartbeat(fds[2], 0, "g5", gen, ids[2], NULL),
	             KERR_UNKNOWN_MEMBER_ID);
	close(fds[0]);
	close(fds[2]);
	close(fds[3]);
}

/* Requests that do not parse close the connection; the server goes on. */
static void test_malformed(void)
{
	struct kw_writer w;
	int fd = tc_connect();
	REQUIRE(fd >= 0);
	kw_writer_init(&w);
	put_str(&w, false, "g6");
	kw_put_i32(&w, 10000);                  /* truncated JoinGroup */
	tc_send(fd, KAPI_JOIN_GROUP, 5, false, &w);
	kw_writer_free(&w);
	CHECK(tc_closed(fd, 2000));
	close(fd);

	fd = tc_connect();
	REQUIRE(fd >= 0);
	kw_writer_init(&w);
	put_str(&w, false, "g6");
	kw_put_i32(&w, 10000);
	kw_put_i32(&w, 1000);
	put_str(&w, false, "");
	put_str(&w, false, NULL);
	put_str(&w, false, "consumer");
	kw_put_i32(&w, 1000000);                /* protocols that are not there */
	tc_send(fd, KAPI_JOIN_GROUP, 5, false, &w);
	kw_writer_free(&w);
	CHECK(tc_closed(fd, 2000));
	close(fd);

	fd = tc_connect();
	REQUIRE(fd >= 0);
	kw_writer_init(&w);
	kw_put_carray(&w, 3);                   /* DescribeGroups v5: 2 of 3 */
	kw_put_cstr_compact(&w, "a", 1);
	kw_put_cstr_compact(&w, "b", 1);
	tc_send(fd, KAPI_DESCRIBE_GROUPS, 5, true, &w);
	kw_writer_free(&w);
	CHECK(tc_closed(fd, 2000));
	close(fd);

	fd = tc_connect();
	REQUIRE(fd >= 0);
	kw_writer_init(&w);
	put_str(&w, false, "g6");
	kw_put_i32(&w, 1);
	put_str(&w, false, NULL);               /* null member id */
	tc_send(fd, KAPI_HEARTBEAT, 0, false, &w);
	kw_writer_free(&w);
	CHECK(tc_closed(fd, 2000));
	close(fd);

	fd = tc_connect();
	REQUIRE(fd >= 0);
	CHECK_EQ_INT(heartbeat(fd, 4, "g6", 1, "x", NULL), KERR_UNKNOWN_MEMBER_ID);
	close(fd);
}

int main(int argc, char **argv)
{
	TT_INIT(argc, argv);
	if (fixture_up()) {
		fprintf(stderr, "test_group: fixture setup failed\n");
		fixture_down();
		return 1;
	}
	RUN(test_member_id_required);
	RUN(test_two_members);
	RUN(test_session_timeout);
	RUN(test_static_member);
	RUN(test_bounds_and_holds);
	RUN(test_malformed);
	fixture_down();
	return TT_DONE();
}
