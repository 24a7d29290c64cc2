/*
 * test_groups.c - consumer groups' committed offsets (storage/groups.c):
 * commit / fetch, the offsets log replayed at open, a torn or damaged
 * tail cut off, compaction (and a crash between its rename and its
 * unlinks), expiry, deleted topics, the EBUSY / EMFILE rules, file-name
 * encoding of group ids, and failed writes leaving the table unchanged.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine.h"
#include "sysio.h"
#include "tinytest.h"
#include "testutil.h"

static char tdir[256];

static struct store *open_with(const struct store_options *base)
{
	struct store_options o = *base;
	struct store *st = NULL;
	int rc;

	o.data_dir = tdir;
	rc = store_open(&o, &st);
	if (rc < 0)
		fprintf(stderr, "  store_open %s: %s\n", tdir, strerror(-rc));
	return rc < 0 ? NULL : st;
}

static struct store *open_store(void)
{
	struct store_options o = { 0 };
	return open_with(&o);
}

static int mk_topic(struct store *st, const char *name, int32_t parts)
{
	struct topic_config c;
	struct topic *t = NULL;
	int rc;

	topic_config_defaults(&c);
	c.partitions = parts;
	rc = store_topic_create(st, name, &c, &t);
	if (rc == 0)
		topic_put(t);
	return rc;
}

/* Commit one offset (metadata a C string or NULL). */
static int commit1(struct store *st, const char *group, const char *topic,
                   int32_t part, int64_t off, const char *meta)
{
	struct group_commit c = { .topic = topic, .partition = part,
	                          .offset = off, .leader_epoch = 7,
	                          .metadata = meta,
	                          .metadata_len = meta ? (int)strlen(meta) : 0 };
	int rc = groups_commit(store_groups(st), group, &c, 1, 0);
	return rc < 0 ? rc : c.error;
}

/* The committed offset, or a negative errno. */
static int64_t fetch1(struct store *st, const char *group, const char *topic,
                      int32_t part)
{
	struct group_offset o;
	int rc = groups_fetch(store_groups(st), group, topic, part, &o);
	if (rc < 0)
		return rc;
	group_offset_clear(&o);
	return o.offset;
}

static void gdir(char *out, size_t cap)
{
	snprintf(out, cap, "%s/.consumer-offsets", tdir);
}

/* The names of the .log files of the offsets dir, sorted; returns the count. */
static int log_files(char names[][64], int max)
{
	char d[300];
	struct dirent *de;
	DIR *dp;
	int n = 0;

	gdir(d, sizeof(d));
	dp = opendir(d);
	if (!dp)
		return -1;
	while ((de = readdir(dp))) {
		size_t l = strlen(de->d_name);
		if (l > 4 && !strcmp(de->d_name + l - 4, ".log") && n < max)
			snprintf(names[n++], 64, "%.63s", de->d_name);
	}
	closedir(dp);
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
			char t[64];
			memcpy(t, names[j], 64);
			memcpy(names[j], names[j - 1], 64);
			memcpy(names[j - 1], t, 64);
		}
	return n;
}

static int64_t file_size(const char *name)
{
	char p[400], d[300];
	struct stat sb;

	gdir(d, sizeof(d));
	snprintf(p, sizeof(p), "%s/%s", d, name);
	return stat(p, &sb) == 0 ? (int64_t)sb.st_size : -1;
}

static void setup(void)
{
	tu_tmpdir_make(tdir, sizeof(tdir), "test_groups");
}

/* ============================== the cases ================================ */

static void test_commit_fetch(void)
{
	setup();
	struct store *st = open_store();
	REQUIRE(st);
	struct groups *g = store_groups(st);
	REQUIRE(g);
	REQUIRE(mk_topic(st, "t", 3) == 0);
	REQUIRE(mk_topic(st, "a", 1) == 0);

	char big[GROUP_META_MAX + 1];
	memset(big, 'm', sizeof(big));
	struct group_commit c[] = {
		{ .topic = "t", .partition = 2, .offset = 20, .leader_epoch = 3,
		  .metadata = "hello", .metadata_len = 5 },
		{ .topic = "t", .partition = 3, .offset = 1 },     /* no such partition */
		{ .topic = "nope", .partition = 0, .offset = 1 },  /* no such topic */
		{ .topic = "t", .partition = 0, .offset = -1 },    /* bad offset */
		{ .topic = "t", .partition = 1, .offset = 5,
		  .metadata = big, .metadata_len = GROUP_META_MAX + 1 },
		{ .topic = "a", .partition = 0, .offset = 9, .leader_epoch = -1 },
		{ .topic = "t", .partition = 0, .offset = 0, .leader_epoch = -1,
		  .metadata = big, .metadata_len = GROUP_META_MAX },
	};
	CHECK_EQ_INT(groups_commit(g, "g1", c, 7, 0), 0);
	CHECK_EQ_INT(c[0].error, 0);
	CHECK_EQ_INT(c[1].error, -ENOENT);
	CHECK_EQ_INT(c[2].error, -ENOENT);
	CHECK_EQ_INT(c[3].error, -EINVAL);
	CHECK_EQ_INT(c[4].error, -EMSGSIZE);
	CHECK_EQ_INT(c[5].error, 0);
	CHECK_EQ_INT(c[6].error, 0);

	struct group_offset o;
	CHECK_EQ_INT(groups_fetch(g, "g1", "t", 2, &o), 0);
	CHECK_EQ_INT(o.offset, 20);
	CHECK_EQ_INT(o.leader_epoch, 3);
	CHECK_EQ_INT(o.metadata_len, 5);
	CHECK(o.metadata && !memcmp(o.metadata, "hello", 5));
	CHECK(o.commit_ms > 1600000000000LL);
	group_offset_clear(&o);
	CHECK_EQ_INT(groups_fetch(g, "g1", "t", 1, &o), -ENOENT);
	CHECK_EQ_INT(groups_fetch(g, "g2", "t", 2, &o), -ENOENT);
	CHECK_EQ_INT(fetch1(st, "g1", "a", 0), 9);

	struct group_offset *all = NULL;
	size_t n = 0;
	CHECK_EQ_INT(groups_fetch_all(g, "g1", &all, &n), 0);
	REQUIRE(n == 3);
	CHECK(!strcmp(all[0].topic, "a"));
	CHECK(!all[0].metadata && all[0].metadata_len == -1);
	CHECK(!strcmp(all[1].topic, "t") && all[1].partition == 0);
	CHECK_EQ_INT(all[1].metadata_len, GROUP_META_MAX);
	CHECK(!strcmp(all[2].topic, "t") && all[2].partition == 2);
	group_offsets_free(all, n);
	CHECK_EQ_INT(groups_fetch_all(g, "none", &all, &n), 0);
	CHECK(n == 0 && all == NULL);

	/* an overwrite; nothing valid: 0 and no group made */
	CHECK_EQ_INT(commit1(st, "g1", "t", 2, 21, NULL), 0);
	CHECK_EQ_INT(fetch1(st, "g1", "t", 2), 21);
	CHECK_EQ_INT(groups_commit(g, "g3", &c[2], 1, 0), 0);
	CHECK_EQ_INT(c[2].error, -ENOENT);
	struct group_info gi;
	CHECK_EQ_INT(groups_describe(g, "g3", &gi, NULL), -ENOENT);

	/* bad group ids */
	char longid[GROUP_ID_MAX + 2];
	memset(longid, 'x', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0';
	CHECK_EQ_INT(groups_commit(g, "", c, 1, 0), -EINVAL);
	CHECK_EQ_INT(groups_commit(g, longid, c, 1, 0), -EINVAL);
	longid[GROUP_ID_MAX] = '\0';
	CHECK_EQ_INT(groups_commit(g, longid, &c[5], 1, 0), 0);
	CHECK_EQ_INT(fetch1(st, longid, "a", 0), 9);

	/* delete one offset */
	CHECK_EQ_INT(groups_delete_offset(g, "g1", "a", 0), 0);
	CHECK_EQ_INT(groups_delete_offset(g, "g1", "a", 0), -ENOENT);
	CHECK_EQ_INT(fetch1(st, "g1", "a", 0), -ENOENT);

	struct groups_stats s;
	groups_stats_get(g, &s);
	CHECK_EQ_INT(s.groups, 2);
	CHECK_EQ_INT(s.offsets, 3);    /* g1: t/0, t/2; longid: a/0 */
	CHECK_EQ_INT(s.commits, 5);
	CHECK(s.log_bytes > 0);
	store_close(st);
	tu_tmpdir_remove(tdir);
}

static void test_restart_replays(void)
{
	setup();
	struct store *st = open_store();
	REQUIRE(st);
	REQUIRE(mk_topic(st, "t", 4) == 0);
	for (int i = 0; i < 4; i++)
		CHECK_EQ_INT(commit1(st, "g", "t", i, 100 + i, i ? "m" : NULL), 0);
	CHECK_EQ_INT(commit1(st, "g", "t", 1, 555, "x"), 0);
	CHECK_EQ_INT(commit1(st, "h", "t", 0, 1, NULL), 0);
	CHECK_EQ_INT(groups_delete_offset(store_groups(st), "g", "t", 3), 0);
	CHECK_EQ_INT(groups_delete(store_groups(st), "h"), 0);
	store_close(st);

	st = open_store();
	REQUIRE(st);
	struct groups *g = store_groups(st);
	CHECK_EQ_INT(fetch1(st, "g", "t", 0), 100);
	CHECK_EQ_INT(fetch1(st, "g", "t", 1), 555);
	CHECK_EQ_INT(fetch1(st, "g", "t", 2), 102);
	CHECK_EQ_INT(fetch1(st, "g", "t", 3), -ENOENT);
	CHECK_EQ_INT(fetch1(st, "h", "t", 0), -ENOENT);
	struct group_offset o;
	CHECK_EQ_INT(groups_fetch(g, "g", "t", 1, &o), 0);
	CHECK(o.metadata_len == 1 && o.metadata && o.metadata[0] == 'x');
	CHECK_EQ_INT(o.leader_epoch, 7);
	group_offset_clear(&o);
	CHECK_EQ_INT(groups_fetch(g, "g", "t", 0, &o), 0);
	CHECK(o.metadata == NULL && o.metadata_len == -1);
	group_offset_clear(&o);
	struct group_info *gi = NULL;
	size_t n = 0;
	CHECK_EQ_INT(groups_list(g, &gi, &n), 0);
	CHECK_EQ_INT(n, 1);
	if (n == 1) {
		CHECK(!strcmp(gi[0].id, "g"));
		CHECK_EQ_INT(gi[0].offsets, 3);
		CHECK(!strcmp(gi[0].state, "Empty"));
	}
	group_infos_free(gi, n);
	/* commits continue after a restart and survive the next one */
	CHECK_EQ_INT(commit1(st, "g", "t", 3, 9, NULL), 0);
	store_close(st);
	st = open_store();
	REQUIRE(st);
	CHECK_EQ_INT(fetch1(st, "g", "t", 3), 9);
	CHECK_EQ_INT(fetch1(st, "g", "t", 1), 555);
	store_close(st);
	tu_tmpdir_remove(tdir);
}

static void test_torn_tail(void)
{
	char names[8][64], path[400], d[300];
	int64_t size_ab, size_a;

	setup();
	struct store *st = open_store();
	REQUIRE(st);
	REQUIRE(mk_topic(st, "t", 2) == 0);
	CHECK_EQ_INT(commit1(st, "g", "t", 0, 10, "first"), 0);
	REQUIRE(log_files(names, 8) == 1);
	size_a = file_size(names[0]);
	CHECK_EQ_INT(commit1(st, "g", "t", 1, 11, "second"), 0);
	size_ab = file_size(names[0]);
	CHECK(size_ab > size_a && size_a > 0);
	store_close(st);
	gdir(d, sizeof(d));
	snprintf(path, sizeof(path), "%s/%s", d, names[0]);

	/* garbage after the last batch: cut, both commits kept */
	{
		FILE *f = fopen(path, "ab");
		REQUIRE(f);
		static const char junk[] = "\0\0\0\0\0\0\0\5garbage-garbage";
		CHECK(fwrite(junk, 1, sizeof(junk) - 1, f) == sizeof(junk) - 1);
		fclose(f);
	}
	CHECK(file_size(names[0]) > size_ab);
	st = open_store();
	REQUIRE(st);
	CHECK_EQ_INT(fetch1(st, "g", "t", 0), 10);
	CHECK_EQ_INT(fetch1(st, "g", "t", 1), 11);
	CHECK_EQ_INT(file_size(names[0]), size_ab);
	store_close(st);

	/* the last batch torn in the middle: it goes, the first stays */
	REQUIRE(truncate(path, (size_a + size_ab) / 2) == 0);
	st = open_store();
	REQUIRE(st);
	CHECK_EQ_INT(fetch1(st, "g", "t", 0), 10);
	CHECK_EQ_INT(fetch1(st, "g", "t", 1), -ENOENT);
	CHECK_EQ_INT(file_size(names[0]), size_a);
	/* the file goes on from there */
	CHECK_EQ_INT(commit1(st, "g", "t", 1, 12, NULL), 0);
	store_close(st);

	/* a flipped byte inside the second batch (bad CRC): cut there */
	{
		int fd = open(path, O_RDWR);
		REQUIRE(fd >= 0);
		char b;
		CHECK(pread(fd, &b, 1, size_a + 70) == 1);
		b ^= 0x40;
		CHECK(pwrite(fd, &b, 1, size_a + 70) == 1);
		close(fd);
	}
	st = open_store();
	REQUIRE(st);
	CHECK_EQ_INT(fetch1(st, "g", "t", 0), 10);
	CHECK_EQ_INT(fetch1(st, "g", "t", 1), -ENOENT);
	CHECK_EQ_INT(file_size(names[0]), size_a);
	store_close(st);
	tu_tmpdir_remove(tdir);
}

/* The live set, as "group topic partition offset" lines into buf. */
static void live_set(struct store *st, const char *const *groups, int ng,
                     char *buf, size_t cap)
{
	size_t len = 0;

	buf[0] = '\0';
	for (int i = 0; i < ng; i++) {
		struct group_offset *o = NULL;
		size_t n = 0;
		if (groups_fetch_all(store_groups(st), groups[i], &o, &n) < 0)
			continue;
		for (size_t j = 0; j < n && len < cap; j++)
			len += (size_t)snprintf(buf + len, cap - len, "%s %s %d %" PRId64
			                        " %d\n", groups[i], o[j].topic,
			                        o[j].partition, o[j].offset,
			                        o[j].metadata_len);
		group_offsets_free(o, n);
	}
}

static void test_compaction(void)
{
	static const char *const gs[] = { "hot", "cold", "gone" };
	char names[8][64], before[4096], after[4096], d[300], oldpath[400];
	struct groups_stats s0, s1;
	char *oldcopy = NULL;
	size_t oldlen = 0;

	setup();
	struct store *st = open_store();
	REQUIRE(st);
	struct groups *g = store_groups(st);
	/* no automatic compaction until the copy below is made */
	groups_test_compact_floor(g, UINT64_MAX);
	REQUIRE(mk_topic(st, "t", 4) == 0);
	CHECK_EQ_INT(commit1(st, "cold", "t", 0, 1, "c"), 0);
	CHECK_EQ_INT(commit1(st, "gone", "t", 1, 2, NULL), 0);
	CHECK_EQ_INT(commit1(st, "hot", "t", 3, 3, NULL), 0);
	for (int i = 0; i < 3000; i++)
		REQUIRE(commit1(st, "hot", "t", i % 2, i, NULL) == 0);
	CHECK_EQ_INT(groups_delete(g, "gone"), 0);
	CHECK_EQ_INT(groups_delete_offset(g, "hot", "t", 3), 0);
	live_set(st, gs, 3, before, sizeof(before));
	CHECK(!strcmp(before, "hot t 0 2998 -1\nhot t 1 2999 -1\ncold t 0 1 1\n"));

	/* keep the log as it is now, as a crash after the rename would */
	gdir(d, sizeof(d));
	REQUIRE(log_files(names, 8) == 1);
	snprintf(oldpath, sizeof(oldpath), "%s/%s", d, names[0]);
	{
		FILE *f = fopen(oldpath, "rb");
		REQUIRE(f);
		oldcopy = malloc(4 << 20);
		REQUIRE(oldcopy);
		oldlen = fread(oldcopy, 1, 4 << 20, f);
		fclose(f);
	}
	groups_stats_get(g, &s0);
	CHECK_EQ_INT(s0.compactions, 0);
	CHECK_EQ_INT(s0.log_bytes, oldlen);
	/* under the floor: nothing happens */
	groups_test_compact_floor(g, oldlen);
	groups_maintain(g, tfs_now_ms());
	groups_stats_get(g, &s1);
	CHECK_EQ_INT(s1.compactions, 0);
	/* over max(floor, 4 x live): compacted */
	groups_test_compact_floor(g, 64 << 10);
	groups_maintain(g, tfs_now_ms());
	groups_stats_get(g, &s1);
	CHECK_EQ_INT(s1.compactions, 1);
	CHECK(s1.log_bytes < 1024);
	CHECK(oldlen > 200000);
	CHECK_EQ_INT(s1.offsets, 3);
	CHECK_EQ_INT(log_files(names, 8), 1);
	CHECK(strcmp(names[0], "00000000000000000000.log") > 0);
	CHECK(file_size(names[0]) == (int64_t)s1.log_bytes);
	live_set(st, gs, 3, after, sizeof(after));
	CHECK(!strcmp(before, after));
	/* commits go on into the new file */
	CHECK_EQ_INT(commit1(st, "cold", "t", 2, 77, NULL), 0);
	live_set(st, gs, 3, before, sizeof(before));
	store_close(st);

	/* a clean restart: the same set, from the small file */
	st = open_store();
	REQUIRE(st);
	live_set(st, gs, 3, after, sizeof(after));
	CHECK(!strcmp(before, after));
	groups_stats_get(store_groups(st), &s1);
	CHECK_EQ_INT(s1.compactions, 0);
	store_close(st);

	/* the crash between rename and unlink: the old file is back */
	{
		FILE *f = fopen(oldpath, "wb");
		REQUIRE(f);
		CHECK(fwrite(oldcopy, 1, oldlen, f) == oldlen);
		fclose(f);
	}
	free(oldcopy);
	CHECK_EQ_INT(log_files(names, 8), 2);
	st = open_store();
	REQUIRE(st);
	live_set(st, gs, 3, after, sizeof(after));
	CHECK(!strcmp(before, after));      /* "gone" and hot/t/3 stay gone */
	CHECK_EQ_INT(log_files(names, 8), 1);   /* the superseded file went */
	store_close(st);
	st = open_store();
	REQUIRE(st);
	live_set(st, gs, 3, after, sizeof(after));
	CHECK(!strcmp(before, after));
	store_close(st);

	/* a log over the 1 MiB floor is compacted at open */
	st = open_store();
	REQUIRE(st);
	groups_test_compact_floor(store_groups(st), UINT64_MAX);
	for (int i = 0; i < 12000; i++)
		REQUIRE(commit1(st, "hot", "t", 0, i, NULL) == 0);
	groups_stats_get(store_groups(st), &s1);
	CHECK(s1.log_bytes > (1 << 20));
	store_close(st);
	st = open_store();
	REQUIRE(st);
	groups_stats_get(store_groups(st), &s1);
	CHECK_EQ_INT(s1.compactions, 1);
	CHECK(s1.log_bytes < 1024);
	CHECK_EQ_INT(fetch1(st, "hot", "t", 0), 11999);
	store_close(st);
	tu_tmpdir_remove(tdir);
}

/* A compaction's batches stay under what replay accepts (max_decompressed_bytes
 * + 1 MiB) when max_decompressed_bytes is small: counting only key and value
 * bytes, 1 MiB of small records encoded to ~1.3 MiB, the next start cut the
 * compacted file at its first batch and every offset was lost. */
static void test_compaction_batch_limit(void)
{
	struct store_options o = { .max_decompressed_bytes = 64 << 10,
	                           .max_groups = 40000 };
	struct groups_stats s;
	char gid[32];
	int ngroups = 28000;

	setup();
	struct store *st = open_with(&o);
	REQUIRE(st);
	groups_test_compact_floor(store_groups(st), UINT64_MAX);
	REQUIRE(mk_topic(st, "t", 1) == 0);
	for (int i = 0; i < ngroups; i++) {
		snprintf(gid, sizeof(gid), "g%d", i);
		REQUIRE(commit1(st, gid, "t", 0, i, NULL) == 0);
	}
	CHECK_EQ_INT(groups_test_compact(store_groups(st)), 0);
	store_close(st);
	st = open_with(&o);
	REQUIRE(st);
	groups_stats_get(store_groups(st), &s);
	CHECK_EQ_INT(s.offsets, ngroups);
	CHECK_EQ_INT(fetch1(st, "g0", "t", 0), 0);
	CHECK_EQ_INT(fetch1(st, "g27999", "t", 0), 27999);
	store_close(st);
	tu_tmpdir_remove(tdir);
}

static void test_expiry(void)
{
	struct store_options o = { .offsets_retention_ms = 60000 };
	struct groups_stats s;

	setup();
	struct store *st = open_with(&o);
	REQUIRE(st);
	struct groups *g = store_groups(st);
	REQUIRE(mk_topic(st, "t", 2) == 0);
	CHECK_EQ_INT(commit1(st, "idle", "t", 0, 5, NULL), 0);
	CHECK_EQ_INT(commit1(st, "idle", "t", 1, 6, NULL), 0);
	CHECK_EQ_INT(commit1(st, "member", "t", 0, 5, NULL), 0);
	CHECK_EQ_INT(commit1(st, "reader", "t", 0, 5, NULL), 0);
	struct group_live live = { .state = "Stable", .protocol_type = "consumer",
	                           .protocol = "range", .generation = 1,
	                           .members = 1 };
	CHECK_EQ_INT(groups_publish(g, "member", &live), 0);
	CHECK_EQ_INT(groups_reader_acquire(g, "reader", "t", 1), 0);

	int64_t now = tfs_now_ms();
	groups_maintain(g, now + 30000);        /* not old enough */
	CHECK_EQ_INT(fetch1(st, "idle", "t", 0), 5);
	groups_maintain(g, now + 120000);
	CHECK_EQ_INT(fetch1(st, "idle", "t", 0), -ENOENT);
	CHECK_EQ_INT(fetch1(st, "idle", "t", 1), -ENOENT);
	CHECK_EQ_INT(fetch1(st, "member", "t", 0), 5);
	CHECK_EQ_INT(fetch1(st, "reader", "t", 0), 5);
	struct group_info gi;
	CHECK_EQ_INT(groups_describe(g, "idle", &gi, NULL), -ENOENT);
	groups_stats_get(g, &s);
	CHECK_EQ_INT(s.expired, 2);
	CHECK_EQ_INT(s.groups, 2);

	/* once empty, they expire too */
	CHECK_EQ_INT(groups_publish(g, "member", NULL), 0);
	groups_reader_release(g, "reader", "t", 1);
	groups_maintain(g, now + 120000);
	CHECK_EQ_INT(fetch1(st, "member", "t", 0), -ENOENT);
	CHECK_EQ_INT(fetch1(st, "reader", "t", 0), -ENOENT);
	groups_stats_get(g, &s);
	CHECK_EQ_INT(s.expired, 4);
	CHECK_EQ_INT(s.groups, 0);
	store_close(st);

	/* the tombstones were written: nothing comes back */
	st = open_with(&o);
	REQUIRE(st);
	groups_stats_get(store_groups(st), &s);
	CHECK_EQ_INT(s.offsets, 0);
	CHECK_EQ_INT(s.groups, 0);
	store_close(st);

	/* -1: never */
	o.offsets_retention_ms = -1;
	st = open_with(&o);
	REQUIRE(st);
	CHECK_EQ_INT(commit1(st, "idle", "t", 0, 5, NULL), 0);
	groups_maintain(store_groups(st), now + 100LL * 365 * 86400000);
	CHECK_EQ_INT(fetch1(st, "idle", "t", 0), 5);
	store_close(st);
	tu_tmpdir_remove(tdir);
}

static void test_forget_topic(void)
{
	setup();
	struct store *st = open_store();
	REQUIRE(st);
	REQUIRE(mk_topic(st, "t1", 2) == 0);
	REQUIRE(mk_topic(st, "t2", 1) == 0);
	CHECK_EQ_INT(commit1(st, "both", "t1", 0, 1, NULL), 0);
	CHECK_EQ_INT(commit1(st, "both", "t1", 1, 2, NULL), 0);
	CHECK_EQ_INT(commit1(st, "both", "t2", 0, 3, NULL), 0);
	CHECK_EQ_INT(commit1(st, "only1", "t1", 0, 4, NULL), 0);
	CHECK_EQ_INT(store_topic_delete(st, "t1"), 0);
	CHECK_EQ_INT(fetch1(st, "both", "t1", 0), -ENOENT);
	CHECK_EQ_INT(fetch1(st, "both", "t1", 1), -ENOENT);
	CHECK_EQ_INT(fetch1(st, "both", "t2", 0), 3);
	struct group_info gi;
	CHECK_EQ_INT(groups_describe(store_groups(st), "only1", &gi, NULL), -ENOENT);
	/* a commit to the deleted topic is refused */
	CHECK_EQ_INT(commit1(st, "both", "t1", 0, 9, NULL), -ENOENT);
	store_close(st);

	/* gone after a restart, and a new topic of the name starts clean */
	st = open_store();
	REQUIRE(st);
	REQUIRE(mk_topic(st, "t1", 2) == 0);
	CHECK_EQ_INT(fetch1(st, "both", "t1", 0), -ENOENT);
	CHECK_EQ_INT(fetch1(st, "only1", "t1", 0), -ENOENT);
	CHECK_EQ_INT(fetch1(st, "both", "t2", 0), 3);
	store_close(st);
	tu_tmpdir_remove(tdir);
}

/* A topic deleted while the store was closed (its tombstones never
 * written): the offsets are dropped at open, durably. */
static void test_purge_at_open(void)
{
	char cmd[700];

	setup();
	struct store *st = open_store();
	REQUIRE(st);
	REQUIRE(mk_topic(st, "t", 1) == 0);
	REQUIRE(mk_topic(st, "u", 1) == 0);
	CHECK_EQ_INT(commit1(st, "g", "t", 0, 1, NULL), 0);
	CHECK_EQ_INT(commit1(st, "g", "u", 0, 2, NULL), 0);
	store_close(st);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s/t.topic' '%s/t-0'", tdir, tdir);
	REQUIRE(system(cmd) == 0);
	st = open_store();
	REQUIRE(st);
	CHECK_EQ_INT(fetch1(st, "g", "t", 0), -ENOENT);
	CHECK_EQ_INT(fetch1(st, "g", "u", 0), 2);
	REQUIRE(mk_topic(st, "t", 1) == 0);
	store_close(st);
	st = open_store();
	REQUIRE(st);
	CHECK_EQ_INT(fetch1(st, "g", "t", 0), -ENOENT);
	store_close(st);
	tu_tmpdir_remove(tdir);
}

static void test_unheld(void)
{
	setup();
	struct store *st = open_store();
	REQUIRE(st);
	struct groups *g = store_groups(st);
	REQUIRE(mk_topic(st, "t", 2) == 0);
	struct group_commit c = { .topic = "t", .partition = 0, .offset = 3 };
	struct group_live live = { .state = "Stable", .protocol_type = "consumer",
	                           .protocol = "range", .generation = 4,
	                           .members = 2, .members_text = "member m1\n" };

	CHECK_EQ_INT(groups_publish(g, "k", &live), 0);
	CHECK_EQ_INT(groups_commit(g, "k", &c, 1, GROUPS_IF_UNHELD), -EBUSY);
	CHECK_EQ_INT(fetch1(st, "k", "t", 0), -ENOENT);
	CHECK_EQ_INT(groups_commit(g, "k", &c, 1, 0), 0);   /* a member's commit */
	CHECK_EQ_INT(fetch1(st, "k", "t", 0), 3);
	CHECK_EQ_INT(groups_delete(g, "k"), -EBUSY);
	CHECK_EQ_INT(groups_reader_acquire(g, "k", "t", 0), -EBUSY);

	struct group_info gi;
	char *text = NULL;
	CHECK_EQ_INT(groups_describe(g, "k", &gi, &text), 0);
	CHECK(!strcmp(gi.state, "Stable"));
	CHECK(!strcmp(gi.protocol_type, "consumer"));
	CHECK_EQ_INT(gi.members, 2);
	CHECK_EQ_INT(gi.offsets, 1);
	CHECK(text && !strcmp(text, "member m1\n"));
	free(text);
	free(gi.id);

	CHECK_EQ_INT(groups_publish(g, "k", NULL), 0);
	CHECK_EQ_INT(groups_reader_acquire(g, "k", "t", 1), 0);
	c.offset = 4;
	CHECK_EQ_INT(groups_commit(g, "k", &c, 1, GROUPS_IF_UNHELD), -EBUSY);
	CHECK_EQ_INT(groups_delete(g, "k"), -EBUSY);
	groups_reader_release(g, "k", "t", 1);
	CHECK_EQ_INT(groups_commit(g, "k", &c, 1, GROUPS_IF_UNHELD), 0);
	CHECK_EQ_INT(fetch1(st, "k", "t", 0), 4);
	CHECK_EQ_INT(groups_delete(g, "k"), 0);
	CHECK_EQ_INT(groups_delete(g, "k"), -ENOENT);
	CHECK_EQ_INT(fetch1(st, "k", "t", 0), -ENOENT);
	store_close(st);
	st = open_store();
	REQUIRE(st);
	CHECK_EQ_INT(fetch1(st, "k", "t", 0), -ENOENT);
	store_close(st);
	tu_tmpdir_remove(tdir);
}

static void test_readers(void)
{
	setup();
	struct store *st = open_store();
	REQUIRE(st);
	struct groups *g = store_groups(st);

	CHECK_EQ_INT(groups_reader_acquire(g, "r", "t", 0), 0);
	CHECK_EQ_INT(groups_reader_acquire(g, "r", "t", 0), -EBUSY);
	CHECK_EQ_INT(groups_reader_acquire(g, "r", "t", 1), 0);
	CHECK_EQ_INT(groups_reader_acquire(g, "r", "u", 0), 0);
	CHECK_EQ_INT(groups_reader_acquire(g, "s", "t", 0), 0);
	CHECK_EQ_INT(groups_reader_acquire(g, "", "t", 0), -EINVAL);

	struct group_info *gi = NULL;
	size_t n = 0;
	CHECK_EQ_INT(groups_list(g, &gi, &n), 0);
	REQUIRE(n == 2);
	CHECK(!strcmp(gi[0].id, "r") && gi[0].readers == 3);
	CHECK(!strcmp(gi[1].id, "s") && gi[1].readers == 1);
	group_infos_free(gi, n);

	/* a publish with members while readers hold does not drop them */
	groups_reader_release(g, "r", "t", 0);
	CHECK_EQ_INT(groups_reader_acquire(g, "r", "t", 0), 0);
	groups_reader_release(g, "r", "t", 0);
	groups_reader_release(g, "r", "t", 0);  /* twice: harmless */
	groups_reader_release(g, "r", "t", 1);
	groups_reader_release(g, "r", "u", 0);
	groups_reader_release(g, "s", "t", 0);
	struct groups_stats s;
	groups_stats_get(g, &s);
	CHECK_EQ_INT(s.groups, 0);              /* nothing left: forgotten */
	store_close(st);
	tu_tmpdir_remove(tdir);
}

static void test_max_groups(void)
{
	struct store_options o = { .max_groups = 3 };

	setup();
	struct store *st = open_with(&o);
	REQUIRE(st);
	struct groups *g = store_groups(st);
	REQUIRE(mk_topic(st, "t", 1) == 0);
	CHECK_EQ_INT(commit1(st, "a", "t", 0, 1, NULL), 0);
	CHECK_EQ_INT(commit1(st, "b", "t", 0, 1, NULL), 0);
	CHECK_EQ_INT(groups_reader_acquire(g, "c", "t", 0), 0);
	CHECK_EQ_INT(commit1(st, "d", "t", 0, 1, NULL), -EMFILE);
	struct group_live live = { .state = "Empty", .members = 0 };
	CHECK_EQ_INT(groups_publish(g, "d", &live), -EMFILE);
	CHECK_EQ_INT(groups_reader_acquire(g, "d", "t", 0), -EMFILE);
	CHECK_EQ_INT(commit1(st, "c", "t", 0, 2, NULL), 0);   /* known group */
	CHECK_EQ_INT(commit1(st, "a", "t", 0, 2, NULL), 0);
	CHECK_EQ_INT(groups_delete(g, "b"), 0);
	CHECK_EQ_INT(commit1(st, "d", "t", 0, 1, NULL), 0);
	CHECK_EQ_INT(fetch1(st, "d", "t", 0), 1);
	groups_reader_release(g, "c", "t", 0);
	store_close(st);
	tu_tmpdir_remove(tdir);
}

static void name_roundtrip(const char *id, size_t len, const char *want)
{
	char enc[300], dec[300];
	int n = group_name_encode(id, len, enc, sizeof(enc));

	CHECK(n >= 0);
	if (n < 0)
		return;
	if (want && strcmp(enc, want)) {
		fprintf(stderr, "  encode gave '%s', want '%s'\n", enc, want);
		CHECK(!"encoding");
	}
	CHECK_EQ_INT(strlen(enc), n);
	CHECK(strcmp(enc, ".") && strcmp(enc, "..") && !strchr(enc, '/'));
	CHECK_EQ_INT(group_name_decode(enc, dec, sizeof(dec)), (int)len);
	CHECK(!memcmp(dec, id, len));
}

static void test_names(void)
{
	char buf[300], out[300];

	name_roundtrip("orders-app_1.v2", 15, "orders-app_1.v2");
	name_roundtrip(".", 1, "%2E");
	name_roundtrip("..", 2, "%2E%2E");
	name_roundtrip("...", 3, "...");
	name_roundtrip(".hidden", 7, ".hidden");
	name_roundtrip("a/b", 3, "a%2Fb");
	name_roundtrip("50%", 3, "50%25");
	name_roundtrip("my group", 8, "my group");
	name_roundtrip("caf\xc3\xa9", 5, "caf%C3%A9");
	name_roundtrip("tab\there\n", 9, "tab%09here%0A");
	name_roundtrip("\xff", 1, "%FF");

	/* 255 plain bytes fit; 85 encoded bytes are 255 characters, 86 not */
	memset(buf, 'x', 255);
	CHECK_EQ_INT(group_name_encode(buf, 255, out, sizeof(out)), 255);
	memset(buf, '/', 86);
	CHECK_EQ_INT(group_name_encode(buf, 85, out, sizeof(out)), 255);
	CHECK_EQ_INT(group_name_decode(out, buf + 100, 100), 85);
	CHECK_EQ_INT(group_name_encode(buf, 86, out, sizeof(out)), -ENAMETOOLONG);
	CHECK_EQ_INT(group_name_encode("abcdef", 6, out, 6), -ENAMETOOLONG);
	CHECK_EQ_INT(group_name_encode("abcdef", 6, out, 7), 6);
	CHECK_EQ_INT(group_name_encode("", 0, out, sizeof(out)), -EINVAL);
	CHECK_EQ_INT(group_name_encode("a\0b", 3, out, sizeof(out)), -EINVAL);

	/* each id has exactly one name: everything else is refused */
	CHECK_EQ_INT(group_name_decode("%41", out, sizeof(out)), -EINVAL);
	CHECK_EQ_INT(group_name_decode("a%2fb", out, sizeof(out)), -EINVAL);
	CHECK_EQ_INT(group_name_decode("a%2", out, sizeof(out)), -EINVAL);
	CHECK_EQ_INT(group_name_decode("%ZZ", out, sizeof(out)), -EINVAL);
	CHECK_EQ_INT(group_name_decode("%00", out, sizeof(out)), -EINVAL);
	CHECK_EQ_INT(group_name_decode("caf\xc3\xa9", out, sizeof(out)), -EINVAL);
	CHECK_EQ_INT(group_name_decode("", out, sizeof(out)), -EINVAL);
	CHECK_EQ_INT(group_name_decode(".", out, sizeof(out)), -EINVAL);
	CHECK_EQ_INT(group_name_decode("%2E%2E", out, sizeof(out)), 2);
	CHECK(!strcmp(out, ".."));
	CHECK_EQ_INT(group_name_decode("x%2E", out, sizeof(out)), -EINVAL);
	CHECK_EQ_INT(group_name_decode("abc", out, 3), -ENAMETOOLONG);

	CHECK_EQ_INT(group_id_check("g", 1), 0);
	CHECK_EQ_INT(group_id_check("", 0), -EINVAL);
	CHECK_EQ_INT(group_id_check("a\0", 2), -EINVAL);
	memset(buf, 'x', 256);
	CHECK_EQ_INT(group_id_check(buf, 255), 0);
	CHECK_EQ_INT(group_id_check(buf, 256), -EINVAL);
}

/* ---- a sysio table whose pwrite fails (fully or half-way) ---- */
static int fail_mode;           /* 0 off, 1 ENOSPC, 2 short write */

static ssize_t failing_pwrite(int fd, const void *buf, size_t len, off_t off)
{
	if (fail_mode == 1) {
		errno = ENOSPC;
		return -1;
	}
	if (fail_mode == 2 && len > 1)
		return sysio_real.pwrite(fd, buf, len / 2, off);
	return sysio_real.pwrite(fd, buf, len, off);
}

static int fsyncs;
static int counting_fsync(int fd)
{
	__atomic_add_fetch(&fsyncs, 1, __ATOMIC_RELAXED);
	return sysio_real.fsync(fd);
}

static void test_write_failure(void)
{
	char names[8][64];
	struct groups_stats s0, s1;
	struct sysio faulty = sysio_real;

	setup();
	struct store *st = open_store();
	REQUIRE(st);
	struct groups *g = store_groups(st);
	REQUIRE(mk_topic(st, "t", 2) == 0);
	CHECK_EQ_INT(commit1(st, "g", "t", 0, 1, "before"), 0);
	REQUIRE(log_files(names, 8) == 1);
	int64_t size0 = file_size(names[0]);
	groups_stats_get(g, &s0);

	faulty.pwrite = failing_pwrite;
	sysio = &faulty;
	struct group_commit c[2] = {
		{ .topic = "t", .partition = 0, .offset = 2 },
		{ .topic = "t", .partition = 1, .offset = 3 },
	};
	fail_mode = 1;
	CHECK_EQ_INT(groups_commit(g, "g", c, 2, 0), -ENOSPC);
	CHECK_EQ_INT(groups_commit(g, "new", c, 2, 0), -ENOSPC);
	fail_mode = 2;
	CHECK_EQ_INT(groups_commit(g, "g", c, 2, 0), -ENOSPC);
	CHECK_EQ_INT(file_size(names[0]), size0);       /* the half was cut */
	CHECK_EQ_INT(groups_delete_offset(g, "g", "t", 0), -ENOSPC);
	CHECK_EQ_INT(groups_delete(g, "g"), -ENOSPC);
	fail_mode = 0;
	sysio = &sysio_real;

	CHECK_EQ_INT(fetch1(st, "g", "t", 0), 1);
	CHECK_EQ_INT(fetch1(st, "g", "t", 1), -ENOENT);
	struct group_info gi;
	CHECK_EQ_INT(groups_describe(g, "new", &gi, NULL), -ENOENT);
	groups_stats_get(g, &s1);
	CHECK_EQ_INT(s1.commits, s0.commits);
	CHECK_EQ_INT(s1.offsets, s0.offsets);
	CHECK_EQ_INT(s1.log_bytes, s0.log_bytes);

	/* it works again, and a restart sees exactly the successful ones */
	CHECK_EQ_INT(groups_commit(g, "g", c, 2, 0), 0);
	store_close(st);
	st = open_store();
	REQUIRE(st);
	CHECK_EQ_INT(fetch1(st, "g", "t", 0), 2);
	CHECK_EQ_INT(fetch1(st, "g", "t", 1), 3);
	store_close(st);
	tu_tmpdir_remove(tdir);
}

static void test_flush_policy(void)
{
	struct store_options o = { .offsets_flush_messages = 3 };
	struct sysio counting = sysio_real;

	setup();
	struct store *st = open_with(&o);
	REQUIRE(st);
	REQUIRE(mk_topic(st, "t", 4) == 0);
	counting.fsync = counting_fsync;
	sysio = &counting;
	fsyncs = 0;
	CHECK_EQ_INT(commit1(st, "g", "t", 0, 1, NULL), 0);
	CHECK_EQ_INT(commit1(st, "g", "t", 1, 1, NULL), 0);
	CHECK_EQ_INT(__atomic_load_n(&fsyncs, __ATOMIC_RELAXED), 0);
	CHECK_EQ_INT(commit1(st, "g", "t", 2, 1, NULL), 0);
	CHECK_EQ_INT(__atomic_load_n(&fsyncs, __ATOMIC_RELAXED), 1);
	sysio = &sysio_real;
	store_close(st);
	tu_tmpdir_remove(tdir);
}

/* Unknown files in the directory are left alone, temp files removed; a
 * symbolic link in place of the directory refuses the start. */
static void test_dir_hygiene(void)
{
	char d[300], p[400];

	setup();
	struct store *st = open_store();
	REQUIRE(st);
	REQUIRE(mk_topic(st, "t", 1) == 0);
	CHECK_EQ_INT(commit1(st, "g", "t", 0, 1, NULL), 0);
	store_close(st);
	gdir(d, sizeof(d));
	snprintf(p, sizeof(p), "%s/00000000000000000099.log.tmp", d);
	FILE *f = fopen(p, "w");
	REQUIRE(f);
	fputs("junk", f);
	fclose(f);
	snprintf(p, sizeof(p), "%s/README", d);
	f = fopen(p, "w");
	REQUIRE(f);
	fclose(f);
	st = open_store();
	REQUIRE(st);
	CHECK_EQ_INT(fetch1(st, "g", "t", 0), 1);
	char topics_ok = 1;
	char **names = NULL;
	size_t n = 0;
	CHECK_EQ_INT(store_topic_list(st, &names, &n), 0);
	CHECK_EQ_INT(n, 1);             /* .consumer-offsets is no topic */
	for (size_t i = 0; i < n; i++) {
		topics_ok &= !strcmp(names[i], "t");
		free(names[i]);
	}
	free(names);
	CHECK(topics_ok);
	store_close(st);
	CHECK(access(p, F_OK) == 0);
	snprintf(p, sizeof(p), "%s/00000000000000000099.log.tmp", d);
	CHECK(access(p, F_OK) != 0);

	char cmd[1400];
	snprintf(cmd, sizeof(cmd), "mv '%s' '%s.real' && ln -s '%s.real' '%s'",
	         d, d, d, d);
	REQUIRE(system(cmd) == 0);
	struct store_options o = { .data_dir = tdir };
	struct store *st2 = NULL;
	CHECK(store_open(&o, &st2) < 0);
	if (st2)
		store_close(st2);
	tu_tmpdir_remove(tdir);
}

int main(int argc, char **argv)
{
	TT_INIT(argc, argv);
	tfs_log_set_level(TFS_LOG_ERROR);
	RUN(test_commit_fetch);
	RUN(test_restart_replays);
	RUN(test_torn_tail);
	RUN(test_compaction);
	RUN(test_compaction_batch_limit);
	RUN(test_expiry);
	RUN(test_forget_topic);
	RUN(test_purge_at_open);
	RUN(test_unheld);
	RUN(test_readers);
	RUN(test_max_groups);
	RUN(test_names);
	RUN(test_write_failure);
	RUN(test_flush_policy);
	RUN(test_dir_hygiene);
	return TT_DONE();
}
