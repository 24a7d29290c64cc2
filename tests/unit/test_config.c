/*
 * test_config.c - unit tests of fs/: the configuration table and parser
 * (defaults, suffixes, [topic.NAME] overrides, --set, every error message)
 * and the view-name grammar.  Needs tfs_fs (and tfs_storage for
 * topic_config_defaults / topic_config_check).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs.h"
#include "tinytest.h"

static char tmpdir[] = "/tmp/topicfs-config-XXXXXX";

/* Write text to a file in tmpdir; returns its path (static buffer). */
static const char *write_ini(const char *text)
{
	static char path[256];
	snprintf(path, sizeof path, "%s/t.ini", tmpdir);
	FILE *f = fopen(path, "w");
	if (!f)
		return path;
	fputs(text, f);
	fclose(f);
	return path;
}

/* Load text; return rc and leave the message in err. */
static int load(struct fsv_config *cfg, const char *text, char *err, size_t len)
{
	fsv_config_init(cfg);
	err[0] = '\0';
	int rc = fsv_config_load(cfg, write_ini(text), err, len);
	if (rc == 0)
		rc = fsv_config_finish(cfg, err, len);
	return rc;
}

/* The load must fail with a message containing want. */
static void expect_error(const char *text, const char *want)
{
	struct fsv_config cfg;
	char err[1200];
	int rc = load(&cfg, text, err, sizeof err);
	CHECK(rc != 0);
	if (!strstr(err, want)) {
		fprintf(stderr, "  message '%s' lacks '%s'\n", err, want);
		CHECK(strstr(err, want) != NULL);
	}
	fsv_config_free(&cfg);
}

static void test_defaults(void)
{
	struct fsv_config cfg;
	struct srv_config srv;
	char err[512];

	fsv_config_init(&cfg);
	CHECK(strcmp(cfg.data_dir, "/var/lib/topicfs") == 0);
	CHECK(strcmp(cfg.mountpoint, "/mnt/topics") == 0);
	CHECK_EQ_INT(cfg.topic_defaults.segment_bytes, 1073741824);
	CHECK_EQ_INT(cfg.topic_defaults.retention_bytes, -1);
	CHECK_EQ_INT(cfg.topic_defaults.retention_ms, 604800000);
	CHECK_EQ_INT(cfg.topic_defaults.index_interval_bytes, 4096);
	CHECK_EQ_INT(cfg.topic_defaults.linger_ms, 0);
	CHECK_EQ_INT(cfg.topic_defaults.batch_bytes, 1048576);
	CHECK_EQ_INT(cfg.topic_defaults.partitions, 1);
	CHECK_EQ_INT(cfg.topic_defaults.framing, FRAMING_LINES);
	CHECK_EQ_INT(cfg.topic_defaults.codec, CODEC_NONE);
	CHECK_EQ_INT(cfg.max_decompressed_bytes, 64 << 20);
	CHECK(cfg.net_enabled);
	CHECK(!cfg.allow_delete);
	CHECK(!cfg.allow_other);
	CHECK(!cfg.auto_create_topics);
	CHECK_EQ_INT(fsv_config_finish(&cfg, err, sizeof err), 0);
	fsv_config_srv(&cfg, &srv);
	CHECK(strcmp(srv.listen_host, "127.0.0.1") == 0);
	CHECK_EQ_INT(srv.listen_port, 9092);
	CHECK_EQ_INT(srv.max_connections, 1024);
	fsv_config_free(&cfg);
}

static void test_values_and_topics(void)
{
	struct fsv_config cfg;
	struct topic_config tc;
	struct srv_config srv;
	char err[1200];
	int rc = load(&cfg,
	              "; comment\n"
	              "# another\n"
	              "[topic.orders]\n"
	              "partitions = 3\n"
	              "retention_ms = 2h ; inline comment\n"
	              "[storage]\n"
	              "   segment_bytes = 64K\n"       /* indented: still a key */
	              "retention_bytes = 1G\n"
	              "segment_ms = 30s\n"
	              "compression = zstd\n"
	              "linger_ms = 5\n"
	              "data_dir = /srv/topics\n"
	              "[fs]\n"
	              "framing = writes\n"
	              "allow_delete = yes\n"
	              "allow_other = off\n"
	              "mountpoint = /mnt/t\n"
	              "[net]\n"
	              "listen = [::1]:19092\n"
	              "advertised_host = example.org:9000\n"
	              "enabled = 0\n",
	              err, sizeof err);
	CHECK_EQ_INT(rc, 0);
	if (rc)
		fprintf(stderr, "  %s\n", err);
	CHECK_EQ_INT(cfg.topic_defaults.segment_bytes, 65536);
	CHECK_EQ_INT(cfg.topic_defaults.retention_bytes, 1LL << 30);
	CHECK_EQ_INT(cfg.topic_defaults.segment_ms, 30000);
	CHECK_EQ_INT(cfg.topic_defaults.codec, CODEC_ZSTD);
	CHECK_EQ_INT(cfg.topic_defaults.framing, FRAMING_WRITES);
	CHECK(cfg.allow_delete);
	CHECK(!cfg.net_enabled);
	CHECK(strcmp(cfg.data_dir, "/srv/topics") == 0);
	/* the topic gets the defaults (even those set after its section) and
	 * its own keys */
	CHECK(fsv_config_topic(&cfg, "orders", &tc));
	CHECK_EQ_INT(tc.partitions, 3);
	CHECK_EQ_INT(tc.retention_ms, 2 * 3600 * 1000);
	CHECK_EQ_INT(tc.segment_bytes, 65536);
	CHECK_EQ_INT(tc.codec, CODEC_ZSTD);
	CHECK_EQ_INT(tc.linger_ms, 5);
	CHECK(!fsv_config_topic(&cfg, "other", &tc));
	CHECK_EQ_INT(tc.partitions, 1);
	fsv_config_srv(&cfg, &srv);
	CHECK(strcmp(srv.listen_host, "::1") == 0);
	CHECK_EQ_INT(srv.listen_port, 19092);
	CHECK(strcmp(srv.advertised_host, "example.org") == 0);
	CHECK_EQ_INT(srv.advertised_port, 9000);
	/* --set overrides the file, topic sections included */
	CHECK_EQ_INT(fsv_config_set(&cfg, "storage.segment_bytes=1M", err, sizeof err), 0);
	CHECK_EQ_INT(fsv_config_set(&cfg, "topic.orders.partitions=5", err, sizeof err), 0);
	CHECK_EQ_INT(fsv_config_set(&cfg, "topic.new.topic.framing=lines", err, sizeof err), 0);
	CHECK_EQ_INT(cfg.topic_defaults.segment_bytes, 1 << 20);
	CHECK(fsv_config_topic(&cfg, "orders", &tc));
	CHECK_EQ_INT(tc.partitions, 5);
	CHECK(fsv_config_topic(&cfg, "new.topic", &tc));
	CHECK_EQ_INT(tc.framing, FRAMING_LINES);
	CHECK(fsv_config_set(&cfg, "storage.segment_bytes=1", err, sizeof err) != 0);
	CHECK(strstr(err, "--set storage.segment_bytes=1: [storage] segment_bytes: "
	                  "value 1 out of range (1024 .. 1073741824)") != NULL);
	CHECK(fsv_config_set(&cfg, "nodot=1", err, sizeof err) != 0);
	CHECK(fsv_config_set(&cfg, "fs.framing", err, sizeof err) != 0);
	fsv_config_free(&cfg);
}

static void test_errors(void)
{
	expect_error("[storage]\nsegment_bytes = 10\n",
	             "t.ini:2: [storage] segment_bytes: value 10 out of range "
	             "(1024 .. 1073741824)");
	expect_error("[storage]\n\n\nbogus = 1\n", "t.ini:4: [storage] bogus: unknown key");
	expect_error("[nope]\n", "t.ini:1: [nope]: unknown section");
	expect_error("[storage]\nsegment_bytes = 12Q\n", "t.ini:2: [storage] segment_bytes: "
	             "value '12Q' is not a number");
	expect_error("[storage]\nlinger_ms = 1.5\n", "t.ini:2: [storage] linger_ms:");
	expect_error("[storage]\nsegment_ms = 10\n", "out of range (1000 ..");
	expect_error("[storage]\nretention_bytes = -2\n", "out of range (-1 ..");
	expect_error("[storage]\nsegment_bytes = 99999999999999999999\n", "too large");
	expect_error("[storage]\nsegment_bytes = 9999999999T\n", "too large");
	expect_error("[fs]\nallow_other = sure\n", "not a boolean");
	expect_error("[fs]\nmountpoint =\n", "[fs] mountpoint: empty path");
	expect_error("[net]\nlisten = 1.2.3.4\n", "[net] listen: value '1.2.3.4' is not host:port");
	expect_error("[net]\nlisten = ::1:80\n", "[net] listen:");
	expect_error("[topic.a b]\n", "t.ini:1: [topic.a b]: invalid topic name");
	expect_error("[topic..]\n", "invalid topic name");
	expect_error("[topic.]\n", "invalid topic name");
	expect_error("[topic.x]\ndata_dir = /x\n", "t.ini:2: [topic.x] data_dir: unknown per-topic key");
	expect_error("[topic.x]\nframing = bytes\n", "not a framing");
	expect_error("a = 1\n", "t.ini:1: a: key outside of any section");
	expect_error("[storage\n", "t.ini:1: syntax error");
	expect_error("[storage]\nno equals sign\n", "t.ini:2: syntax error");
	expect_error("[storage]\ndata_dir = /a\n[fs]\nmountpoint = /a/b\n",
	             "must not contain one another");
	expect_error("[storage]\nmax_decompressed_bytes = 64K\n",
	             "max_decompressed_bytes 65536 must be at least");

	char longline[400];
	memset(longline, 'x', sizeof longline);
	memcpy(longline, "[storage]\ndata_dir = /", 22);
	strcpy(longline + sizeof longline - 2, "\n");
	expect_error(longline, "t.ini:2: line too long");
}

static void check_view(const char *name, int from, int64_t arg, bool bounded, int64_t to)
{
	struct fsv_view_spec v;
	int rc = fsv_view_spec_parse(name, &v);
	if (rc) {
		fprintf(stderr, "  view '%s' did not parse\n", name);
		CHECK(rc == 0);
		return;
	}
	if ((int)v.from != from || v.arg != arg || v.bounded != bounded ||
	    (bounded && v.to != to)) {
		fprintf(stderr, "  view '%s': from %d arg %lld bounded %d to %lld\n", name,
		        (int)v.from, (long long)v.arg, v.bounded, (long long)v.to);
		CHECK(0);
	}
}

static void test_view_grammar(void)
{
	struct fsv_view_spec v;

	check_view("0@earliest", FSV_FROM_EARLIEST, 0, false, 0);
	check_view("0@latest", FSV_FROM_LATEST, 0, false, 0);
	check_view("0@1500", FSV_FROM_OFFSET, 1500, false, 0);
	check_view("0@-10", FSV_FROM_LAST_N, 10, false, 0);
	check_view("0@1763780000000ms", FSV_FROM_TIME, 1763780000000LL, false, 0);
	check_view("0@2026-11-22T05:00:00Z", FSV_FROM_TIME, 1795323600000LL, false, 0);
	check_view("0@2026-11-22T05:00Z", FSV_FROM_TIME, 1795323600000LL, false, 0);
	check_view("0@2026-11-22T05:00:00", FSV_FROM_TIME, 1795323600000LL, false, 0);
	check_view("0@2026-11-22T07:00:00+02:00", FSV_FROM_TIME, 1795323600000LL, false, 0);
	check_view("0@2026-11-22T04:30:00-0030", FSV_FROM_TIME, 1795323600000LL, false, 0);
	check_view("0@2026-11-22T05:00:00.250Z", FSV_FROM_TIME, 1795323600250LL, false, 0);
	check_view("0@2026-11-22T05:00:00.5Z", FSV_FROM_TIME, 1795323600500LL, false, 0);
	check_view("0@2026-11-22", FSV_FROM_TIME, 1795305600000LL, false, 0);
	check_view("0@2024-02-29", FSV_FROM_TIME, 1709164800000LL, false, 0);
	check_view("0@2000-01-01T00:00:00Z", FSV_FROM_TIME, 946684800000LL, false, 0);
	check_view("12@100..200", FSV_FROM_OFFSET, 100, true, 200);
	check_view("0@earliest..5", FSV_FROM_EARLIEST, 0, true, 5);
	check_view("0@2026-11-22T05:00:00.1Z..9", FSV_FROM_TIME, 1795323600100LL, true, 9);
	CHECK_EQ_INT(fsv_view_spec_parse("3@0", &v), 0);
	CHECK_EQ_INT(v.partition, 3);

	static const char *const bad[] = {
		"0", "@0", "0@", "00@1", "-1@0", "x@0", "0@x", "0@1..", "0@..1", "0@--1",
		"0@1.5", "0@+5", "0@1msx", "0@ms", "0@2023-02-29", "0@2026-13-01",
		"0@2026-11-22T25:00Z", "0@2026-11-22T05:00:00+24:00", "0@2026-11-22T05",
		"0@2026-11-22X", "0@12:00", "0@latest..x", "99999999999@0",
		"0@99999999999999999999",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (fsv_view_spec_parse(bad[i], &v) != -ENOENT) {
			fprintf(stderr, "  bad view '%s' parsed\n", bad[i]);
			CHECK(0);
		}
	}
}

int main(void)
{
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	RUN(test_defaults);
	RUN(test_values_and_topics);
	RUN(test_errors);
	RUN(test_view_grammar);
	char path[300];
	snprintf(path, sizeof path, "%s/t.ini", tmpdir);
	unlink(path);
	rmdir(tmpdir);
	return TT_DONE();
}
