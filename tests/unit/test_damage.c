/*
 * test_damage.c - data the engine cannot account for is never deleted
 * (issue "Hardening", items 1 and 9).
 *
 * A damaged <topic>.topic file (garbage, empty, a truncated value, an
 * unknown key, CRLF line ends, a missing version line) never makes the
 * topic vanish: the harmless ones are read as they are, the others are
 * rebuilt from the partition directories (the damaged file kept as
 * <name>.topic.damaged); after a reopen every record is readable and a
 * store_topic_create of the name gets -EEXIST.  A file of a newer version
 * (version=2) refuses the start.  Partition directories without a .topic
 * file that hold data go to <data_dir>/.quarantine when a topic of that
 * name is created, byte for byte; ones holding only empty segment files
 * are reused.
 *
 * Symlinks in the data dir are never followed: a partition directory that
 * is a link is quarantined by a create (the link moves, its target is
 * untouched) and refuses the start when its topic exists; .lock, the
 * clean-shutdown marker and its temp file as links are not written
 * through; a world-writable data dir (no sticky bit) or one writable by a
 * group that is not ours is refused.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage.h"
#include "engine.h"
#include "tinytest.h"
#include "testutil.h"

static char tdir[256];

static char *path_in(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *path_in(const char *fmt, ...)
{
	static char bufs[4][1024];
	static int which;
	char rel[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(rel, sizeof(rel), fmt, ap);
	va_end(ap);
	char *b = bufs[which++ % 4];
	snprintf(b, 1024, "%s/%s", tdir, rel);
	return b;
}

static int write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return -errno;
	ssize_t n = write(fd, data, len);
	close(fd);
	return n == (ssize_t)len ? 0 : -EIO;
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *b = malloc(1 << 20);
	size_t n = fread(b, 1, (1 << 20) - 1, f);
	fclose(f);
	b[n] = '\0';
	if (len)
		*len = n;
	return b;
}

#define NPARTS 3
#define NRECS 50

static void expected(int part, char *out, size_t cap)
{
	size_t n = 0;
	out[0] = '\0';
	for (int i = 0; i < NRECS; i++)
		n += (size_t)snprintf(out + n, cap - n, "p%d-rec-%03d\n", part, i);
}

/* The whole stream of p. */
static char *stream_of(struct part *p, size_t *len)
{
	struct part_info pi;
	part_info(p, &pi);
	size_t cap = (size_t)(pi.stream_end - pi.stream_start) + 1, got = 0;
	char *b = malloc(cap);
	while (got < cap - 1) {
		size_t n = 0;
		if (part_stream_read(p, pi.stream_start + (int64_t)got, b + got,
		                     cap - 1 - got, &n) < 0 || n == 0)
			break;
		got += n;
	}
	b[got] = '\0';
	*len = got;
	return b;
}

/* A store in tdir with topic `name` (NPARTS partitions, the framing
 * given, retention off, small segments) holding NRECS records per
 * partition. */
static void make_topic(const char *name, int framing)
{
	struct store *st = tu_store_open(tdir);
	if (!st)
		return;
	struct topic_config c;
	topic_config_defaults(&c);
	c.partitions = NPARTS;
	c.framing = framing;
	c.retention_ms = -1;
	c.segment_bytes = 1024;        /* a few segments each */
	struct topic *t = NULL;
	if (store_topic_create(st, name, &c, &t) == 0) {
		for (int p = 0; p < NPARTS; p++) {
			for (int i = 0; i < NRECS; i++) {
				char v[64];
				struct rec_in r = { .key_len = -1, .timestamp = -1 };
				int n = snprintf(v, sizeof(v), "p%d-rec-%03d%s", p, i,
				                 framing == FRAMING_WRITES ? "\n" : "");
				r.value = v;
				r.value_len = n;
				part_append(topic_part(t, p), &r, 1, NULL);
			}
		}
		topic_put(t);
	}
	store_close(st);
}

/* Every record of every partition of `name` readable in st. */
static void check_all_records(struct store *st, const char *name)
{
	struct topic *t = NULL;
	CHECK_EQ_INT(store_topic_get(st, name, &t), 0);
	if (!t)
		return;
	CHECK_EQ_INT(topic_partitions(t), NPARTS);
	for (int p = 0; p < NPARTS && p < topic_partitions(t); p++) {
		char exp[NRECS * 32];
		size_t len;
		expected(p, exp, sizeof(exp));
		char *got = stream_of(topic_part(t, p), &len);
		CHECK_EQ_INT(len, strlen(exp));
		CHECK(!strcmp(got, exp));
		free(got);
	}
	topic_put(t);
}

static bool exists(const char *path)
{
	struct stat sb;
	return lstat(path, &sb) == 0;
}

/* ----------------------------- item 1 ------------------------------------ */

enum damage { D_GARBAGE, D_EMPTY, D_TRUNCATED, D_UNKNOWN_KEY, D_CRLF,
              D_NO_VERSION, D_BLANKS, D_NUL };

static void damage_file(const char *path, enum damage d)
{
	size_t len;
	char *orig = read_file(path, &len);
	char buf[8192];
	size_t n = 0;

	if (!orig)
		return;
	switch (d) {
	case D_GARBAGE:
		n = (size_t)snprintf(buf, sizeof(buf), "\x7f" "ELF\x02\x01garbage ~~ %%$#\n"
		                     "not a setting at all\n");
		break;
	case D_EMPTY:
		n = 0;
		break;
	case D_TRUNCATED: {
		/* cut in the middle of the compression value: "compression=no" */
		char *c = strstr(orig, "compression=");
		n = c ? (size_t)(c - orig) + strlen("compression=no") : len / 2;
		memcpy(buf, orig, n);
		break;
	}
	case D_UNKNOWN_KEY:
		n = (size_t)snprintf(buf, sizeof(buf), "%sfuture_setting=42\n", orig);
		break;
	case D_CRLF:
		for (size_t i = 0; i < len; i++) {
			if (orig[i] == '\n')
				buf[n++] = '\r';
			buf[n++] = orig[i];
		}
		break;
	case D_NO_VERSION: {
		char *nl = strchr(orig, '\n');
		n = len - (size_t)(nl + 1 - orig);
		memcpy(buf, nl + 1, n);
		break;
	}
	case D_BLANKS:
		/* trailing blanks, blank lines, a final line without '\n' */
		for (size_t i = 0; i < len; i++) {
			if (orig[i] == '\n') {
				memcpy(buf + n, "  \t\n\n", 5);
				n += 5;
			} else {
				buf[n++] = orig[i];
			}
		}
		n--;
		break;
	case D_NUL:
		memcpy(buf, orig, len);
		buf[len / 3] = '\0';
		n = len;
		break;
	}
	write_file(path, buf, n);
	free(orig);
}

static void damage_case(enum damage d, bool expect_rebuild)
{
	tu_tmpdir_make(tdir, sizeof(tdir), "test_damage");
	make_topic("orders", FRAMING_LINES);
	damage_file(path_in("orders.topic"), d);

	struct store *st = tu_store_open(tdir);
	REQUIRE(st);
	check_all_records(st, "orders");
	struct topic_config c;
	topic_config_defaults(&c);
	/* a mkdir of the name: the topic exists */
	CHECK_EQ_INT(store_topic_create(st, "orders", &c, NULL), -EEXIST);
	store_close(st);
	CHECK_EQ_INT(exists(path_in("orders.topic.damaged")), expect_rebuild);

	/* and again: the rebuilt (or accepted) file loads as it is */
	st = tu_store_open(tdir);
	REQUIRE(st);
	check_all_records(st, "orders");
	CHECK_EQ_INT(store_topic_create(st, "orders", &c, NULL), -EEXIST);
	store_close(st);
	for (int p = 0; p < NPARTS; p++)
		CHECK_EQ_INT(tu_dump_verify(tdir, "orders", p), 0);
	tu_tmpdir_remove(tdir);
}

static void test_topicfile_garbage(void) { damage_case(D_GARBAGE, true); }
static void test_topicfile_empty(void) { damage_case(D_EMPTY, true); }
static void test_topicfile_truncated(void) { damage_case(D_TRUNCATED, true); }
static void test_topicfile_no_version(void) { damage_case(D_NO_VERSION, true); }
static void test_topicfile_nul(void) { damage_case(D_NUL, true); }
static void test_topicfile_unknown_key(void) { damage_case(D_UNKNOWN_KEY, false); }
static void test_topicfile_crlf(void) { damage_case(D_CRLF, false); }
static void test_topicfile_blanks(void) { damage_case(D_BLANKS, false); }

/* A rebuild keeps what it can read: a truncated file still names its
 * framing; the partition count comes from the directories; a second
 * damage keeps both damaged copies. */
static void test_topicfile_rebuild_keeps_settings(void)
{
	tu_tmpdir_make(tdir, sizeof(tdir), "test_damage");
	make_topic("w", FRAMING_WRITES);
	char *orig = read_file(path_in("w.topic"), NULL);
	REQUIRE(orig);
	/* "version=1\npartitions=3\nframing=writes\ncompression=" + garbage */
	char *c = strstr(orig, "compression=");
	REQUIRE(c);
	strcpy(c, "compression=\x01\x02");
	write_file(path_in("w.topic"), orig, strlen(orig));
	struct store *st = tu_store_open(tdir);
	REQUIRE(st);
	struct topic *t = NULL;
	CHECK_EQ_INT(store_topic_get(st, "w", &t), 0);
	if (t) {
		struct topic_config got;
		topic_get_config(t, &got);
		CHECK_EQ_INT(got.framing, FRAMING_WRITES);
		CHECK_EQ_INT(got.partitions, NPARTS);
		topic_put(t);
	}
	check_all_records(st, "w");
	store_close(st);
	CHECK(exists(path_in("w.topic.damaged")));

	/* garbage again: the first damaged copy stays, the second gets a
	 * name of its own; the directories give the count */
	write_file(path_in("w.topic"), "\xff\xfe", 2);
	st = tu_store_open(tdir);
	REQUIRE(st);
	CHECK_EQ_INT(store_topic_get(st, "w", &t), 0);
	if (t) {
		CHECK_EQ_INT(topic_partitions(t), NPARTS);
		topic_put(t);
	}
	store_close(st);
	int damaged = 0;
	DIR *d = opendir(tdir);
	struct dirent *de;
	while (d && (de = readdir(d)))
		if (!strncmp(de->d_name, "w.topic.damaged", 15))
			damaged++;
	if (d)
		closedir(d);
	CHECK_EQ_INT(damaged, 2);
	free(orig);
	tu_tmpdir_remove(tdir);
}

/* version=2: written by a newer topicfs: the start is refused, nothing is
 * touched. */
static void test_topicfile_newer_version(void)
{
	tu_tmpdir_make(tdir, sizeof(tdir), "test_damage");
	make_topic("orders", FRAMING_LINES);
	char *orig = read_file(path_in("orders.topic"), NULL);
	REQUIRE(orig);
	orig[strlen("version=")] = '2';
	write_file(path_in("orders.topic"), orig, strlen(orig));

	struct store_options o = { .data_dir = tdir };
	struct store *st = NULL;
	int rc = store_open(&o, &st);
	CHECK(rc < 0);
	CHECK(st == NULL);
	CHECK(rc != -EBUSY);
	if (st)
		store_close(st);
	CHECK(!exists(path_in("orders.topic.damaged")));
	char *now = read_file(path_in("orders.topic"), NULL);
	CHECK(now && !strcmp(now, orig));
	free(now);

	/* back to version=1: everything is there */
	orig[strlen("version=")] = '1';
	write_file(path_in("orders.topic"), orig, strlen(orig));
	st = tu_store_open(tdir);
	REQUIRE(st);
	check_all_records(st, "orders");
	store_close(st);
	free(orig);
	tu_tmpdir_remove(tdir);
}

/* Total bytes of the regular files under dir (one level). */
static long long dir_bytes(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	long long n = 0;
	if (!d)
		return -1;
	while ((de = readdir(d))) {
		char p[1024];
		struct stat sb;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		if (lstat(p, &sb) == 0 && S_ISREG(sb.st_mode))
			n += sb.st_size;
	}
	closedir(d);
	return n;
}

/* Find ".quarantine/<prefix>.*" into out; false when there is none. */
static bool quarantined(const char *prefix, char *out, size_t cap)
{
	DIR *d = opendir(path_in(".quarantine"));
	struct dirent *de;
	bool found = false;
	size_t pl = strlen(prefix);
	if (!d)
		return false;
	while ((de = readdir(d))) {
		if (!strncmp(de->d_name, prefix, pl) && de->d_name[pl] == '.') {
			snprintf(out, cap, "%s/.quarantine/%s", tdir, de->d_name);
			found = true;
		}
	}
	closedir(d);
	return found;
}

/* Partition directories without a .topic file: a create of the name moves
 * the ones holding data into .quarantine (bytes intact) and reuses the
 * ones holding only empty segment files. */
static void test_orphan_dirs_quarantined(void)
{
	tu_tmpdir_make(tdir, sizeof(tdir), "test_damage");
	make_topic("orders", FRAMING_LINES);
	long long before[NPARTS];
	for (int p = 0; p < NPARTS; p++)
		before[p] = dir_bytes(path_in("orders-%d", p));
	CHECK(before[0] > 0);
	CHECK_EQ_INT(unlink(path_in("orders.topic")), 0);
	/* an empty leftover: only empty segment files */
	CHECK_EQ_INT(mkdir(path_in("empty-0"), 0755), 0);
	CHECK_EQ_INT(write_file(path_in("empty-0/00000000000000000000.log"), "", 0), 0);
	CHECK_EQ_INT(write_file(path_in("empty-0/00000000000000000000.index"), "", 0), 0);

	struct store *st = tu_store_open(tdir);
	REQUIRE(st);
	struct topic *t;
	CHECK_EQ_INT(store_topic_get(st, "orders", &t), -ENOENT);
	struct topic_config c;
	topic_config_defaults(&c);
	c.partitions = 2;              /* fewer: orders-2 stays where it is */
	CHECK_EQ_INT(store_topic_create(st, "orders", &c, &t), 0);
	if (t) {
		struct part_info pi;
		part_info(topic_part(t, 0), &pi);
		CHECK_EQ_INT(pi.next_offset, 0);
		topic_put(t);
	}
	c.partitions = 1;
	CHECK_EQ_INT(store_topic_create(st, "empty", &c, NULL), 0);
	store_close(st);

	char q[1024];
	for (int p = 0; p < 2; p++) {
		char pre[64];
		snprintf(pre, sizeof(pre), "orders-%d", p);
		CHECK(quarantined(pre, q, sizeof(q)));
		CHECK_EQ_INT(dir_bytes(q), before[p]);
	}
	CHECK_EQ_INT(dir_bytes(path_in("orders-2")), before[2]);
	CHECK(!quarantined("empty-0", q, sizeof(q)));
	/* the quarantine is not a topic */
	st = tu_store_open(tdir);
	REQUIRE(st);
	char **names;
	size_t n;
	CHECK_EQ_INT(store_topic_list(st, &names, &n), 0);
	CHECK_EQ_INT(n, 2);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	/* deleting and creating again with 3: orders-2 goes to quarantine */
	CHECK_EQ_INT(store_topic_delete(st, "orders"), 0);
	c.partitions = 3;
	CHECK_EQ_INT(store_topic_create(st, "orders", &c, NULL), 0);
	store_close(st);
	CHECK(quarantined("orders-2", q, sizeof(q)));
	CHECK_EQ_INT(dir_bytes(q), before[2]);
	tu_tmpdir_remove(tdir);
}

/* A damaged .topic today, then a mkdir of the name: never loses a record
 * (here: the file is garbage, so the topic is rebuilt and exists). */
static void test_damaged_then_create_keeps_records(void)
{
	tu_tmpdir_make(tdir, sizeof(tdir), "test_damage");
	make_topic("orders", FRAMING_LINES);
	write_file(path_in("orders.topic"), "garbage", 7);
	struct store *st = tu_store_open(tdir);
	REQUIRE(st);
	struct topic_config c;
	topic_config_defaults(&c);
	c.partitions = NPARTS;
	int rc = store_topic_create(st, "orders", &c, NULL);
	CHECK(rc == -EEXIST || rc == 0);
	if (rc == 0) {
		char q[1024];
		for (int p = 0; p < NPARTS; p++) {
			char pre[64];
			snprintf(pre, sizeof(pre), "orders-%d", p);
			CHECK(quarantined(pre, q, sizeof(q)));
		}
	} else {
		check_all_records(st, "orders");
	}
	store_close(st);
	tu_tmpdir_remove(tdir);
}

/* ----------------------------- item 9 ------------------------------------ */

static char tgt[256];

static void make_target(void)
{
	tu_tmpdir_make(tgt, sizeof(tgt), "test_damage_target");
	char p[512];
	snprintf(p, sizeof(p), "%s/keep", tgt);
	write_file(p, "precious\n", 9);
}

static bool target_intact(void)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/keep", tgt);
	char *b = read_file(p, NULL);
	bool ok = b && !strcmp(b, "precious\n");
	free(b);
	DIR *d = opendir(tgt);
	struct dirent *de;
	int n = 0;
	while (d && (de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	if (d)
		closedir(d);
	return ok && n == 1;
}

/* evil-0 -> elsewhere: a create never writes through it. */
static void test_symlink_partition_dir_create(void)
{
	tu_tmpdir_make(tdir, sizeof(tdir), "test_damage");
	make_target();
	CHECK_EQ_INT(symlink(tgt, path_in("evil-0")), 0);
	struct store *st = tu_store_open(tdir);
	REQUIRE(st);
	struct topic_config c;
	topic_config_defaults(&c);
	struct topic *t = NULL;
	int rc = store_topic_create(st, "evil", &c, &t);
	CHECK(target_intact());
	if (rc == 0) {
		/* the link was moved aside, the directory is a real one */
		struct stat sb;
		CHECK(lstat(path_in("evil-0"), &sb) == 0 && S_ISDIR(sb.st_mode));
		char q[1024];
		CHECK(quarantined("evil-0", q, sizeof(q)));
		CHECK(lstat(q, &sb) == 0 && S_ISLNK(sb.st_mode));
		CHECK_EQ_INT(part_append(topic_part(t, 0),
		             &(struct rec_in){ .key_len = -1, .value = "x",
		                               .value_len = 1, .timestamp = -1 },
		             1, NULL), 0);
		topic_put(t);
	}
	store_close(st);
	CHECK(target_intact());
	tu_tmpdir_remove(tdir);
	tu_tmpdir_remove(tgt);
}

/* A topic whose partition directory was replaced by a link: refused. */
static void test_symlink_partition_dir_load(void)
{
	tu_tmpdir_make(tdir, sizeof(tdir), "test_damage");
	make_target();
	make_topic("orders", FRAMING_LINES);
	char moved[512];
	snprintf(moved, sizeof(moved), "%s/sub", tgt);
	CHECK_EQ_INT(rename(path_in("orders-1"), moved), 0);
	CHECK_EQ_INT(symlink(moved, path_in("orders-1")), 0);
	long long before = dir_bytes(moved);
	struct store_options o = { .data_dir = tdir };
	struct store *st = NULL;
	int rc = store_open(&o, &st);
	CHECK(rc < 0);
	if (st)
		store_close(st);
	CHECK_EQ_INT(dir_bytes(moved), before);
	tu_tmpdir_remove(tdir);
	tu_tmpdir_remove(tgt);
}

/* .lock, the marker and the marker's temp file as links. */
static void test_symlink_lock_and_marker(void)
{
	tu_tmpdir_make(tdir, sizeof(tdir), "test_damage");
	make_target();
	char victim[512], absent[512];
	snprintf(victim, sizeof(victim), "%s/keep", tgt);
	snprintf(absent, sizeof(absent), "%s/lockfile", tgt);

	/* .lock -> a file that does not exist: not created, start refused */
	CHECK_EQ_INT(symlink(absent, path_in(".lock")), 0);
	struct store_options o = { .data_dir = tdir };
	struct store *st = NULL;
	CHECK(store_open(&o, &st) < 0);
	if (st)
		store_close(st);
	CHECK(!exists(absent));
	CHECK_EQ_INT(unlink(path_in(".lock")), 0);

	/* the marker's temp file as a link, planted while the store runs:
	 * the close does not truncate the target */
	st = tu_store_open(tdir);
	REQUIRE(st);
	CHECK_EQ_INT(symlink(victim, path_in(".topicfs_clean_shutdown.tmp")), 0);
	store_close(st);
	CHECK(target_intact());

	/* the marker itself as a link: not taken as a clean shutdown's, the
	 * target is not removed */
	unlink(path_in(".topicfs_clean_shutdown"));
	CHECK_EQ_INT(symlink(victim, path_in(".topicfs_clean_shutdown")), 0);
	st = tu_store_open(tdir);
	REQUIRE(st);
	store_close(st);
	CHECK(target_intact());
	tu_tmpdir_remove(tdir);
	tu_tmpdir_remove(tgt);
}

/* A data dir others may write to is refused; one that is a link to a
 * directory is used (resolved once). */
static void test_data_dir_permissions(void)
{
	tu_tmpdir_make(tdir, sizeof(tdir), "test_damage");
	struct store_options o = { .data_dir = tdir };
	struct store *st = NULL;

	CHECK_EQ_INT(chmod(tdir, 0777), 0);
	CHECK_EQ_INT(store_open(&o, &st), -EPERM);
	CHECK(st == NULL);
	if (st)
		store_close(st);
	st = NULL;
	CHECK(!exists(path_in(".lock")));
	CHECK_EQ_INT(chmod(tdir, 01777), 0);       /* sticky: like /tmp */
	st = tu_store_open(tdir);
	CHECK(st != NULL);
	store_close(st);
	st = NULL;
	if (geteuid() != 0)
		fprintf(stderr, "  the group-writable data dir case chowns: run as root\n");
	CHECK(geteuid() == 0);
	if (geteuid() == 0) {
		CHECK_EQ_INT(chmod(tdir, 0775), 0);
		CHECK_EQ_INT(chown(tdir, 0, getegid() + 4242), 0);
		CHECK_EQ_INT(store_open(&o, &st), -EPERM);
		CHECK(st == NULL);
		if (st)
			store_close(st);
		st = NULL;
		CHECK_EQ_INT(chown(tdir, 0, getegid()), 0);
		st = tu_store_open(tdir);
		CHECK(st != NULL);
		store_close(st);
		st = NULL;
	}
	CHECK_EQ_INT(chmod(tdir, 0755), 0);

	/* a link to the data dir: fine */
	char link[512];
	snprintf(link, sizeof(link), "%s.link", tdir);
	unlink(link);
	CHECK_EQ_INT(symlink(tdir, link), 0);
	o.data_dir = link;
	CHECK_EQ_INT(store_open(&o, &st), 0);
	if (st) {
		struct topic_config c;
		topic_config_defaults(&c);
		CHECK_EQ_INT(store_topic_create(st, "viaLink", &c, NULL), 0);
		store_close(st);
	}
	CHECK(exists(path_in("viaLink.topic")));
	unlink(link);
	tu_tmpdir_remove(tdir);
}

/* The mount's owner (issue 14): a topic without one (made by
 * store_topic_create, or by a topicfs before owners) is the process's,
 * 0755, and its file has no owner lines; topic_set_owner writes them
 * (before topic_id=), every later rewrite keeps them, a restart loads
 * them; a bad value is damage like a setting's (rebuilt, the legible
 * owner lines kept); a single key makes the owner stored, the others
 * defaults; store_topic_create_owned stores the owner at once. */
static void owner_is(struct store *st, const char *name, uint32_t uid,
                     uint32_t gid, uint32_t mode, bool stored)
{
	struct topic *t = NULL;
	struct topic_owner o;
	CHECK_EQ_INT(store_topic_get(st, name, &t), 0);
	if (!t)
		return;
	topic_get_owner(t, &o);
	CHECK_EQ_INT(o.uid, uid);
	CHECK_EQ_INT(o.gid, gid);
	CHECK_EQ_INT(o.mode, mode);
	CHECK_EQ_INT(o.stored, stored);
	topic_put(t);
}

static void test_topicfile_owner(void)
{
	tu_tmpdir_make(tdir, sizeof(tdir), "test_damage");
	make_topic("o", FRAMING_LINES);
	char *f = read_file(path_in("o.topic"), NULL);
	CHECK(f && !strstr(f, "owner_uid") && !strstr(f, "mode="));
	free(f);
	struct store *st = tu_store_open(tdir);
	REQUIRE(st);
	owner_is(st, "o", (uint32_t)geteuid(), (uint32_t)getegid(), 0755, false);

	struct topic *t = NULL;
	REQUIRE(store_topic_get(st, "o", &t) == 0);
	struct topic_owner o = { .uid = 1234, .gid = 5678, .mode = 01750 };
	struct topic_owner bad = o;
	bad.mode = 010000;
	CHECK_EQ_INT(topic_set_owner(t, &bad), -EINVAL);
	bad = o;
	bad.uid = UINT32_MAX;
	CHECK_EQ_INT(topic_set_owner(t, &bad), -EINVAL);
	CHECK_EQ_INT(topic_set_owner(t, &o), 0);
	f = read_file(path_in("o.topic"), NULL);
	CHECK(f && strstr(f, "\nowner_uid=1234\nowner_gid=5678\nmode=1750\ntopic_id="));
	free(f);
	/* a settings change and a growth keep the owner lines */
	struct topic_config c;
	topic_get_config(t, &c);
	c.retention_ms = 3600000;
	CHECK_EQ_INT(topic_set_config(t, &c), 0);
	f = read_file(path_in("o.topic"), NULL);
	CHECK(f && strstr(f, "\nowner_uid=1234\nowner_gid=5678\nmode=1750\ntopic_id="));
	CHECK(f && strstr(f, "retention_ms=3600000\n"));
	free(f);
	topic_put(t);
	owner_is(st, "o", 1234, 5678, 01750, true);
	/* created with an owner */
	topic_config_defaults(&c);
	struct topic_owner mine = { .uid = 42, .gid = 43, .mode = 0700 };
	bad = mine;
	bad.gid = UINT32_MAX;
	CHECK_EQ_INT(store_topic_create_owned(st, "mine", &c, &bad, NULL), -EINVAL);
	CHECK_EQ_INT(store_topic_create_owned(st, "mine", &c, &mine, NULL), 0);
	owner_is(st, "mine", 42, 43, 0700, true);
	store_close(st);

	st = tu_store_open(tdir);
	REQUIRE(st);
	owner_is(st, "o", 1234, 5678, 01750, true);
	owner_is(st, "mine", 42, 43, 0700, true);
	store_close(st);
	CHECK(!exists(path_in("o.topic.damaged")));

	/* a mode that does not parse: rebuilt, uid and gid kept, the mode
	 * back to 0755, every record still there */
	f = read_file(path_in("o.topic"), NULL);
	REQUIRE(f);
	char *m = strstr(f, "mode=1750");
	REQUIRE(m);
	memcpy(m, "mode=9x50", 9);
	write_file(path_in("o.topic"), f, strlen(f));
	free(f);
	st = tu_store_open(tdir);
	REQUIRE(st);
	owner_is(st, "o", 1234, 5678, 0755, true);
	check_all_records(st, "o");
	store_close(st);
	CHECK(exists(path_in("o.topic.damaged")));
	f = read_file(path_in("o.topic"), NULL);
	CHECK(f && strstr(f, "\nowner_uid=1234\nowner_gid=5678\nmode=0755\ntopic_id="));
	free(f);

	/* one key alone: stored, the others defaults; blanks and CRLF as
	 * for settings */
	write_file(path_in("mine.topic"), "version=1\r\n owner_gid = 77 \r\n", 29);
	st = tu_store_open(tdir);
	REQUIRE(st);
	owner_is(st, "mine", (uint32_t)geteuid(), 77, 0755, true);
	store_close(st);
	CHECK(!exists(path_in("mine.topic.damaged")));
	tu_tmpdir_remove(tdir);
}

int main(int argc, char **argv)
{
	TT_INIT(argc, argv);
	setvbuf(stdout, NULL, _IONBF, 0);
	RUN(test_topicfile_garbage);
	RUN(test_topicfile_empty);
	RUN(test_topicfile_truncated);
	RUN(test_topicfile_no_version);
	RUN(test_topicfile_nul);
	RUN(test_topicfile_unknown_key);
	RUN(test_topicfile_crlf);
	RUN(test_topicfile_blanks);
	RUN(test_topicfile_rebuild_keeps_settings);
	RUN(test_topicfile_newer_version);
	RUN(test_orphan_dirs_quarantined);
	RUN(test_damaged_then_create_keeps_records);
	RUN(test_symlink_partition_dir_create);
	RUN(test_symlink_partition_dir_load);
	RUN(test_symlink_lock_and_marker);
	RUN(test_data_dir_permissions);
	RUN(test_topicfile_owner);
	return TT_DONE();
}
