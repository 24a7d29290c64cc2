/*
 * test_config.c - unit tests of daemon/config.c: the configuration table
 * and parser (defaults, suffixes, [topic.NAME] overrides, --set, every
 * error message) and the server settings derived from it (netcfg.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "netcfg.h"
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
static int load(struct tfs_config *cfg, const char *text, char *err, size_t len)
{
	tfs_config_init(cfg);
	err[0] = '\0';
	int rc = tfs_config_load(cfg, write_ini(text), err, len);
	if (rc == 0)
		rc = tfs_config_finish(cfg, err, len);
	return rc;
}

/* The load must fail with a message containing want. */
static void expect_error(const char *text, const char *want)
{
	struct tfs_config cfg;
	char err[1200];
	int rc = load(&cfg, text, err, sizeof err);
	CHECK(rc != 0);
	if (!strstr(err, want)) {
		fprintf(stderr, "  message '%s' lacks '%s'\n", err, want);
		CHECK(strstr(err, want) != NULL);
	}
	tfs_config_free(&cfg);
}

static void test_defaults(void)
{
	struct tfs_config cfg;
	struct srv_config srv;
	char err[512];

	tfs_config_init(&cfg);
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
	CHECK_EQ_INT(tfs_config_finish(&cfg, err, sizeof err), 0);
	tfs_config_srv(&cfg, &srv);
	CHECK(strcmp(srv.listen_host, "127.0.0.1") == 0);
	CHECK_EQ_INT(srv.listen_port, 9092);
	CHECK_EQ_INT(srv.max_connections, 1024);
	tfs_config_free(&cfg);
}

static void test_values_and_topics(void)
{
	struct tfs_config cfg;
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
	CHECK(tfs_config_topic(&cfg, "orders", &tc));
	CHECK_EQ_INT(tc.partitions, 3);
	CHECK_EQ_INT(tc.retention_ms, 2 * 3600 * 1000);
	CHECK_EQ_INT(tc.segment_bytes, 65536);
	CHECK_EQ_INT(tc.codec, CODEC_ZSTD);
	CHECK_EQ_INT(tc.linger_ms, 5);
	CHECK(!tfs_config_topic(&cfg, "other", &tc));
	CHECK_EQ_INT(tc.partitions, 1);
	tfs_config_srv(&cfg, &srv);
	CHECK(strcmp(srv.listen_host, "::1") == 0);
	CHECK_EQ_INT(srv.listen_port, 19092);
	CHECK(strcmp(srv.advertised_host, "example.org") == 0);
	CHECK_EQ_INT(srv.advertised_port, 9000);
	/* --set overrides the file, topic sections included */
	CHECK_EQ_INT(tfs_config_set(&cfg, "storage.segment_bytes=1M", err, sizeof err), 0);
	CHECK_EQ_INT(tfs_config_set(&cfg, "topic.orders.partitions=5", err, sizeof err), 0);
	CHECK_EQ_INT(tfs_config_set(&cfg, "topic.new.topic.framing=lines", err, sizeof err), 0);
	CHECK_EQ_INT(cfg.topic_defaults.segment_bytes, 1 << 20);
	CHECK(tfs_config_topic(&cfg, "orders", &tc));
	CHECK_EQ_INT(tc.partitions, 5);
	CHECK(tfs_config_topic(&cfg, "new.topic", &tc));
	CHECK_EQ_INT(tc.framing, FRAMING_LINES);
	CHECK(tfs_config_set(&cfg, "storage.segment_bytes=1", err, sizeof err) != 0);
	CHECK(strstr(err, "--set storage.segment_bytes=1: [storage] segment_bytes: "
	                  "value 1 out of range (1024 .. 1073741824)") != NULL);
	CHECK(tfs_config_set(&cfg, "nodot=1", err, sizeof err) != 0);
	CHECK(tfs_config_set(&cfg, "fs.framing", err, sizeof err) != 0);
	tfs_config_free(&cfg);
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

/* Wildcard listen addresses ([net] and [metrics]) need allow_wildcard_bind;
 * the request-memory budget, auto-create caps and the produce timestamp
 * bound have sane defaults and reach the server settings. */
static void test_net_limits(void)
{
	static const char *const wild[] = {
		"0:9092", "0.0.0.0:9092", "[::]:9092", "[::ffff:0.0.0.0]:9092",
		"[0:0:0:0:0:0:0:0]:9092",
	};
	char text[300];
	for (size_t i = 0; i < sizeof wild / sizeof wild[0]; i++) {
		snprintf(text, sizeof text, "[net]\nlisten = %s\n", wild[i]);
		expect_error(text, "[net] listen");
		expect_error(text, "allow_wildcard_bind");
		snprintf(text, sizeof text, "[metrics]\nlisten = %s\n", wild[i]);
		expect_error(text, "[metrics] listen");
		expect_error(text, "allow_wildcard_bind");
	}

	struct tfs_config cfg;
	struct srv_config srv;
	char err[1200];
	/* with the key: accepted, and handed to the server */
	int rc = load(&cfg, "[net]\nlisten = 0.0.0.0:9092\nallow_wildcard_bind = true\n"
	              "[metrics]\nlisten = [::]:9101\n", err, sizeof err);
	CHECK_EQ_INT(rc, 0);
	if (rc)
		fprintf(stderr, "  %s\n", err);
	tfs_config_srv(&cfg, &srv);
	CHECK(srv.allow_wildcard_bind);
	CHECK(strcmp(srv.listen_host, "0.0.0.0") == 0);
	tfs_config_free(&cfg);
	/* specific addresses need no key */
	rc = load(&cfg, "[net]\nlisten = 127.0.0.1:9092\n[metrics]\nlisten = [::1]:9101\n",
	          err, sizeof err);
	CHECK_EQ_INT(rc, 0);
	tfs_config_srv(&cfg, &srv);
	CHECK(!srv.allow_wildcard_bind);
	tfs_config_free(&cfg);
	rc = load(&cfg, "[net]\nlisten = localhost:9092\n", err, sizeof err);
	CHECK_EQ_INT(rc, 0);
	tfs_config_free(&cfg);

	/* defaults */
	tfs_config_init(&cfg);
	CHECK_EQ_INT(tfs_config_finish(&cfg, err, sizeof err), 0);
	CHECK_EQ_INT(cfg.queued_max_request_bytes, 512LL << 20);
	CHECK_EQ_INT(cfg.auto_create_max_per_request, 10);
	CHECK_EQ_INT(cfg.auto_create_max_topics, 1000);
	CHECK_EQ_INT(cfg.message_timestamp_after_max_ms, 3600000);
	CHECK(!cfg.allow_wildcard_bind);
	tfs_config_free(&cfg);
	/* set keys reach the server settings */
	rc = load(&cfg, "[net]\nqueued_max_request_bytes = 1G\nauto_create_max_per_request = 3\n"
	          "auto_create_max_topics = 50\n[storage]\n"
	          "message_timestamp_after_max_ms = 10min\n", err, sizeof err);
	CHECK_EQ_INT(rc, 0);
	tfs_config_srv(&cfg, &srv);
	CHECK_EQ_INT(srv.queued_max_request_bytes, 1LL << 30);
	CHECK_EQ_INT(srv.auto_create_max_per_request, 3);
	CHECK_EQ_INT(srv.auto_create_max_topics, 50);
	CHECK_EQ_INT(srv.message_timestamp_after_max_ms, 600000);
	tfs_config_free(&cfg);
	rc = load(&cfg, "[storage]\nmessage_timestamp_after_max_ms = -1\n", err, sizeof err);
	CHECK_EQ_INT(rc, 0);
	CHECK_EQ_INT(cfg.message_timestamp_after_max_ms, -1);
	tfs_config_free(&cfg);
	/* the budget must hold one largest request */
	expect_error("[net]\nqueued_max_request_bytes = 50M\n",
	             "[net] queued_max_request_bytes 52428800 must be at least "
	             "max_request_bytes");
	expect_error("[net]\nauto_create_max_per_request = 0\n", "out of range (1 ..");
	expect_error("[storage]\nmessage_timestamp_after_max_ms = -2\n", "out of range (-1 ..");
}

/* A config that never ends (-c /dev/zero, a huge file, a huge line) is
 * refused after a bounded read, never read into memory whole. */
static void test_bounded_reads(void)
{
	struct tfs_config cfg;
	char err[512];
	int rc;

	tfs_config_init(&cfg);
	rc = tfs_config_load(&cfg, "/dev/zero", err, sizeof err);
	CHECK_EQ_INT(rc, -EINVAL);
	CHECK(strstr(err, "/dev/zero:1: NUL byte") != NULL);
	tfs_config_free(&cfg);

	/* 5 MB of comment lines: over the file bound */
	const char *path = write_ini("");
	FILE *f = fopen(path, "w");
	REQUIRE(f != NULL);
	for (int i = 0; i < 500000; i++)
		fputs("; a comment\n", f);
	fclose(f);
	tfs_config_init(&cfg);
	rc = tfs_config_load(&cfg, path, err, sizeof err);
	CHECK_EQ_INT(rc, -EINVAL);
	CHECK(strstr(err, "file too large") != NULL);
	tfs_config_free(&cfg);

	/* one 1 MB line: refused at 4096 characters */
	f = fopen(path, "w");
	REQUIRE(f != NULL);
	fputs("[storage]\ndata_dir = /", f);
	for (int i = 0; i < 1 << 20; i++)
		fputc('x', f);
	fclose(f);
	tfs_config_init(&cfg);
	rc = tfs_config_load(&cfg, path, err, sizeof err);
	CHECK_EQ_INT(rc, -EINVAL);
	CHECK(strstr(err, ":2: line too long") != NULL);
	tfs_config_free(&cfg);
}

int main(int argc, char **argv)
{
	TT_INIT(argc, argv);
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	RUN(test_defaults);
	RUN(test_values_and_topics);
	RUN(test_errors);
	RUN(test_bounded_reads);
	RUN(test_net_limits);
	char path[300];
	snprintf(path, sizeof path, "%s/t.ini", tmpdir);
	unlink(path);
	rmdir(tmpdir);
	return TT_DONE();
}
