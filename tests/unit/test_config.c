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
	/* with the key: accepted, and handed to the server (allow_anonymous:
	 * neither has authentication) */
	int rc = load(&cfg, "[net]\nlisten = 0.0.0.0:9092\nallow_wildcard_bind = true\n"
	              "allow_anonymous = true\n"
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

/* [net] listeners and advertised_listeners, allow_anonymous, [tls] and
 * the [metrics] token: the parser, the cross-field checks (with the file's
 * line), and what reaches the server settings. */
static void test_listeners(void)
{
	struct tfs_listener l[TFS_MAX_LISTENERS];
	struct tfs_config cfg;
	struct srv_config srv;
	char why[400], err[1200];
	size_t n = 99;
	int rc;

	/* the parser */
	CHECK_EQ_INT(tfs_parse_listeners("", l, TFS_MAX_LISTENERS, &n, why, sizeof why), 0);
	CHECK_EQ_INT(n, 0);
	CHECK_EQ_INT(tfs_parse_listeners("  PLAINTEXT://127.0.0.1:9092 ,ssl://[::1]:9093,"
	                                 "SASL_PLAINTEXT://host-1.example:0, "
	                                 "SASL_SSL://0.0.0.0:9095", l,
	                                 TFS_MAX_LISTENERS, &n, why, sizeof why), 0);
	CHECK_EQ_INT(n, 4);
	CHECK_EQ_INT(l[0].proto, TFS_SEC_PLAINTEXT);
	CHECK(strcmp(l[0].host, "127.0.0.1") == 0);
	CHECK_EQ_INT(l[0].port, 9092);
	CHECK_EQ_INT(l[1].proto, TFS_SEC_SSL);
	CHECK(strcmp(l[1].host, "::1") == 0);
	CHECK_EQ_INT(l[2].proto, TFS_SEC_SASL_PLAINTEXT);
	CHECK_EQ_INT(l[2].port, 0);
	CHECK_EQ_INT(l[3].proto, TFS_SEC_SASL_SSL);
	CHECK(strcmp(tfs_sec_proto_name(TFS_SEC_SASL_SSL), "SASL_SSL") == 0);
	static const struct { const char *text, *want; } bad[] = {
		{ "PLAINTEXT://127.0.0.1", "not host:port" },
		{ "PLAINTEXT://127.0.0.1:70000", "not host:port" },
		{ "PLAINTEXT://:9092", "not host:port" },
		{ "127.0.0.1:9092", "is not NAME://host:port" },
		{ "TLS://127.0.0.1:9092", "unknown security protocol 'TLS'" },
		{ "SSL://a:1,SSL://b:2", "SSL given twice" },
		{ "SSL://a:1,", "empty entry" },
		{ "SSL://a:1,,PLAINTEXT://b:2", "empty entry" },
		{ "PLAINTEXT://::1:9092", "not host:port" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		why[0] = '\0';
		CHECK_EQ_INT(tfs_parse_listeners(bad[i].text, l, TFS_MAX_LISTENERS, &n,
		                                 why, sizeof why), -EINVAL);
		if (!strstr(why, bad[i].want)) {
			fprintf(stderr, "  '%s': '%s' lacks '%s'\n", bad[i].text, why,
			        bad[i].want);
			CHECK(strstr(why, bad[i].want) != NULL);
		}
	}
	CHECK_EQ_INT(tfs_parse_listeners("SSL://a:1", l, 0, &n, why, sizeof why), -EINVAL);
	CHECK(strstr(why, "more than 0 listeners") != NULL);
	CHECK(tfs_host_is_loopback("127.0.0.1") && tfs_host_is_loopback("127.3.4.5") &&
	      tfs_host_is_loopback("::1") && tfs_host_is_loopback("localhost") &&
	      tfs_host_is_loopback("::ffff:127.0.0.1"));
	CHECK(!tfs_host_is_loopback("0.0.0.0") && !tfs_host_is_loopback("::") &&
	      !tfs_host_is_loopback("10.1.2.3") && !tfs_host_is_loopback("example.org"));

	/* the default: one loopback PLAINTEXT listener, as before */
	tfs_config_init(&cfg);
	CHECK_EQ_INT(tfs_config_finish(&cfg, err, sizeof err), 0);
	CHECK_EQ_INT(cfg.nlst, 1);
	CHECK_EQ_INT(cfg.lst[0].proto, TFS_SEC_PLAINTEXT);
	CHECK(!cfg.allow_anonymous);
	CHECK_EQ_INT(cfg.tls_client_auth, TFS_CLIENT_AUTH_NONE);
	tfs_config_srv(&cfg, &srv);
	CHECK_EQ_INT(srv.nlisteners, 0);
	CHECK(strcmp(srv.listen_host, "127.0.0.1") == 0);
	tfs_config_free(&cfg);

	/* two listeners, advertised, TLS: reach the server settings */
	rc = load(&cfg, "[net]\nlisteners = PLAINTEXT://127.0.0.1:9092, "
	          "SSL://0.0.0.0:9093\nallow_wildcard_bind = true\n"
	          "advertised_listeners = SSL://broker.example:19093\n"
	          "[tls]\ncert_file = /etc/t/c.pem\nkey_file = /etc/t/k.pem\n"
	          "ca_file = /etc/t/ca.pem\nclient_auth = required\n", err, sizeof err);
	CHECK_EQ_INT(rc, 0);
	if (rc)
		fprintf(stderr, "  %s\n", err);
	tfs_config_srv(&cfg, &srv);
	CHECK_EQ_INT(srv.nlisteners, 2);
	CHECK_EQ_INT(srv.listeners[0].sec, SRV_SEC_PLAINTEXT);
	CHECK_EQ_INT(srv.listeners[0].port, 9092);
	CHECK(srv.listeners[0].advertised_host[0] == '\0');
	CHECK_EQ_INT(srv.listeners[1].sec, SRV_SEC_SSL);
	CHECK(strcmp(srv.listeners[1].host, "0.0.0.0") == 0);
	CHECK(strcmp(srv.listeners[1].advertised_host, "broker.example") == 0);
	CHECK_EQ_INT(srv.listeners[1].advertised_port, 19093);
	CHECK(strcmp(srv.tls.cert_file, "/etc/t/c.pem") == 0);
	CHECK(strcmp(srv.tls.ca_file, "/etc/t/ca.pem") == 0);
	CHECK_EQ_INT(srv.tls.client_auth, SRV_CLIENT_AUTH_REQUIRED);
	tfs_config_free(&cfg);

	/* no authentication beyond loopback: refused, with the file's line */
	expect_error("[net]\nallow_wildcard_bind = true\n"
	             "listeners = PLAINTEXT://0.0.0.0:9092\n",
	             "t.ini:3: [net] listeners: PLAINTEXT://0.0.0.0:9092 is not on "
	             "loopback and has no authentication");
	expect_error("[net]\nlisteners = PLAINTEXT://10.0.0.5:9092\n", "allow_anonymous");
	expect_error("[net]\nlisteners = PLAINTEXT://kafka.example:9092\n",
	             "allow_anonymous");
	expect_error("[net]\nlisten = 10.0.0.5:9092\n",
	             "[net] listen: PLAINTEXT://10.0.0.5:9092 is not on loopback");
	expect_error("[net]\nlisteners = SSL://10.0.0.5:9093\n[tls]\ncert_file = c\n"
	             "key_file = k\nclient_auth = requested\nca_file = ca\n",
	             "use SASL_SSL, or SSL with [tls] client_auth = required");
	rc = load(&cfg, "[net]\nlisteners = SSL://10.0.0.5:9093\n[tls]\ncert_file = c\n"
	          "key_file = k\nclient_auth = required\nca_file = ca\n", err, sizeof err);
	CHECK_EQ_INT(rc, 0);
	tfs_config_free(&cfg);
	rc = load(&cfg, "[net]\nlisteners = PLAINTEXT://10.0.0.5:9092\n"
	          "allow_anonymous = yes\n", err, sizeof err);
	CHECK_EQ_INT(rc, 0);
	tfs_config_free(&cfg);
	/* the wildcard key is still needed */
	expect_error("[net]\nlisteners = PLAINTEXT://0.0.0.0:9092\nallow_anonymous = true\n",
	             "binds every interface");
	/* TLS needs its files; client certificates need a CA */
	expect_error("[net]\nlisteners = SSL://127.0.0.1:9093\n",
	             "[tls] cert_file: not set, but an SSL or SASL_SSL listener needs");
	expect_error("[net]\nlisteners = SSL://127.0.0.1:9093\n[tls]\ncert_file = c\n",
	             "[tls] key_file: not set");
	expect_error("[tls]\nclient_auth = required\n",
	             "[tls] client_auth: client certificates need [tls] ca_file");
	expect_error("[tls]\nclient_auth = maybe\n",
	             "t.ini:2: [tls] client_auth: value 'maybe' is not none, requested or "
	             "required");
	expect_error("[metrics]\nlisten = 127.0.0.1:9101\ntls = true\n",
	             "[metrics] tls");
	/* advertised_listeners */
	expect_error("[net]\nlisteners = PLAINTEXT://127.0.0.1:9092\n"
	             "advertised_listeners = SSL://h:1\n",
	             "[net] advertised_listeners: SSL is not in [net] listeners");
	expect_error("[net]\nadvertised_listeners = PLAINTEXT://h:1\n",
	             "[net] advertised_listeners: needs [net] listeners");
	expect_error("[net]\nlisteners = PLAINTEXT://127.0.0.1:9092\n"
	             "advertised_host = h\n", "[net] advertised_host: goes with [net] listen");
	expect_error("[net]\nlisteners = PLAINTEXT://127.0.0.1:9092\n"
	             "advertised_listeners = PLAINTEXT://0.0.0.0:9092\n",
	             "a wildcard is not an address clients can connect to");
	expect_error("[net]\nlisteners = bogus\n",
	             "t.ini:2: [net] listeners: 'bogus' is not NAME://host:port");
	/* the metrics endpoint beyond loopback needs a token */
	expect_error("[metrics]\nlisten = 10.0.0.5:9101\n",
	             "[metrics] listen: 10.0.0.5:9101 is not on loopback and has no "
	             "[metrics] token_file");
	rc = load(&cfg, "[metrics]\nlisten = 10.0.0.5:9101\ntoken_file = tok\n", err,
	          sizeof err);
	CHECK_EQ_INT(rc, 0);
	CHECK(cfg.metrics_token_file[0] == '/');        /* made absolute */
	tfs_config_free(&cfg);
	/* --set reaches the keys too */
	tfs_config_init(&cfg);
	CHECK_EQ_INT(tfs_config_set(&cfg, "net.listeners=SSL://127.0.0.1:1", err,
	                            sizeof err), 0);
	CHECK_EQ_INT(tfs_config_finish(&cfg, err, sizeof err), -EINVAL);
	CHECK(strstr(err, "[tls] cert_file: not set") != NULL);
	tfs_config_free(&cfg);
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
	RUN(test_listeners);
	char path[300];
	snprintf(path, sizeof path, "%s/t.ini", tmpdir);
	unlink(path);
	rmdir(tmpdir);
	return TT_DONE();
}
