/*
 * config.c - the daemon's configuration: one declarative table, an INI
 * parser on top of inih, --set overrides and cross-field checks.
 *
 * Design
 * ------
 * Two tables.  The per-topic settings (segment_bytes, retention_ms,
 * compression, partitions, ...) are the rows of storage/topic_settings.h:
 * their key in [topic.NAME], their section and key for the global default
 * ([storage], or [fs] for framing and default_partitions), default, bounds
 * and doc all come from there, and their values are parsed and
 * bounds-checked by storage's topic_setting_parse, the code every other
 * way of setting them uses.  Every other setting is one row of cfg_keys[]
 * below: section, key, value type, default (as text, parsed by the same
 * code as the file, so a default can never disagree with its own bounds),
 * bounds, and where the value lands in struct tfs_config.
 *
 * Sources, in order of precedence (later wins):
 *   embedded defaults  <  the INI file (-c)  <  --set SECTION.KEY=VALUE.
 * A [topic.NAME] section (or --set topic.NAME.KEY=V) records only the keys
 * it gives (a bit mask per topic, bit i = row i of topic_settings.h); the
 * effective settings of a topic are
 * computed when asked (tfs_config_topic): the global defaults, then the
 * topic's keys.  So [storage] may come after [topic.x] in the file.
 *
 * Errors are fatal and precise: an unknown section, an unknown key, a value
 * that does not parse, a value out of bounds, a line longer than the parser
 * buffer, a bad topic name in a section header: tfs_config_load stops at the
 * first one and says "FILE:LINE: [SECTION] KEY: why".
 *
 * inih details.  Debian's libinih has a fixed line buffer (ini_max_line) and
 * silently splits longer lines; it also treats indented lines as
 * continuations of the previous value.  So we feed it through our own
 * reader (cfg_reader): it counts lines (the handler has no line number in
 * this build), refuses lines that do not fit the buffer, strips leading
 * blanks (an indented "key = v" is a key, not a continuation) and checks
 * section headers itself, so even an empty [bogus] section is refused.
 *
 * Not thread-safe: built once by main() before any thread starts.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ini.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "config.h"
#include "parse.h"

/* ============================== the table ================================ */

enum cfg_type {
	CT_INT,         /* plain integer */
	CT_SIZE,        /* bytes: integer with optional K/M/G/T (binary) suffix */
	CT_MS,          /* milliseconds: integer with optional ms/s/min/h/d */
	CT_BOOL,        /* true/false/yes/no/on/off/1/0 */
	CT_PATH,        /* a non-empty path */
	CT_LISTEN,      /* host:port */
	CT_HOST,        /* host or host:port, may be empty */
	CT_LISTEN_OPT,  /* host:port, or empty for "off" */
	CT_LOGLEVEL,    /* error | warn | info | debug */
	CT_TEXT,        /* free text, may be empty, no control characters */
	CT_PATH_OPT,    /* a path, or empty for "none" */
	CT_LISTENERS,   /* NAME://host:port, ... (tfs_parse_listeners), may be
	                   empty */
	CT_CLIENT_AUTH, /* none | requested | required */
};

/* A global (not per-topic) setting. */
struct cfg_key {
	const char *section;    /* "storage", "fs", "net", "groups", "log" or
	                           "metrics" */
	const char *key;
	enum cfg_type type;
	const char *def;        /* default, as it would be written in the file */
	int64_t min, max;       /* bounds for the numeric types */
	size_t offset;          /* into struct tfs_config */
	size_t size;            /* size of the field */
	const char *doc;
};

#define FC(f) offsetof(struct tfs_config, f), sizeof(((struct tfs_config *)0)->f)
#define KiB 1024LL
#define MiB (1024LL * 1024)
#define GiB (1024LL * 1024 * 1024)
#define DAY_MS (24LL * 3600 * 1000)

static const struct cfg_key cfg_keys[] = {
	/* [storage] */
	{ "storage", "data_dir", CT_PATH, "/var/lib/topicfs", 0, 0,
	  FC(data_dir), "directory holding the logs (created if missing)" },
	{ "storage", "max_decompressed_bytes", CT_SIZE, "67108864",
	  64 * KiB, 1 * GiB, FC(max_decompressed_bytes),
	  "bound on one decompressed batch" },
	{ "storage", "message_timestamp_after_max_ms", CT_MS, "3600000",
	  -1, INT64_MAX, FC(message_timestamp_after_max_ms),
	  "Produce refuses batches timestamped further ahead, -1 = no bound" },
	{ "storage", "max_open_segments", CT_INT, "0", 0, 100000000,
	  FC(max_open_segments), "sealed segments' .log files kept open at "
	  "once (an LRU), 0 = a quarter of the open-file limit, at least 64" },
	/* [fs] */
	{ "fs", "mountpoint", CT_PATH, "/mnt/topics", 0, 0,
	  FC(mountpoint), "where to mount (created if missing)" },
	{ "fs", "allow_other", CT_BOOL, "false", 0, 0, FC(allow_other),
	  "let other users in (adds default_permissions)" },
	{ "fs", "allow_delete", CT_BOOL, "false", 0, 0, FC(allow_delete),
	  "rmdir deletes a topic and its data" },
	{ "fs", "max_held_bytes", CT_SIZE, "64M", 1 << 20, (int64_t)1 << 40,
	  FC(max_held_bytes), "partial lines held for writers, all together; "
	  "past it a write's partial line is appended at once" },
	/* [net] */
	{ "net", "enabled", CT_BOOL, "true", 0, 0, FC(net_enabled),
	  "run the Kafka-protocol TCP server" },
	{ "net", "listen", CT_LISTEN, "127.0.0.1:9092", 0, 0, FC(listen),
	  "address to listen on" },
	{ "net", "advertised_host", CT_HOST, "", 0, 0,
	  FC(advertised_host), "host[:port] given to clients, empty = listen" },
	{ "net", "max_connections", CT_INT, "1024", 1, 1000000,
	  FC(max_connections), "connections beyond this are refused" },
	{ "net", "max_request_bytes", CT_SIZE, "104857600", 1 * KiB,
	  1 * GiB, FC(max_request_bytes), "largest request accepted" },
	{ "net", "idle_timeout_ms", CT_MS, "600000", 1000, INT32_MAX,
	  FC(idle_timeout_ms), "close connections idle this long" },
	{ "net", "request_timeout_ms", CT_MS, "30000", 100, INT32_MAX,
	  FC(request_timeout_ms), "a request must arrive whole within this" },
	{ "net", "auto_create_topics", CT_BOOL, "false", 0, 0,
	  FC(auto_create_topics), "Metadata/Produce create unknown topics" },
	{ "net", "auto_create_max_per_request", CT_INT, "10", 1, 100000,
	  FC(auto_create_max_per_request), "topics one request may auto-create" },
	{ "net", "auto_create_max_topics", CT_INT, "1000", 1, 1000000,
	  FC(auto_create_max_topics), "no auto-create beyond this many topics" },
	{ "net", "queued_max_request_bytes", CT_SIZE, "536870912",
	  1 * KiB, 64 * GiB, FC(queued_max_request_bytes),
	  "request bytes held by all connections together" },
	{ "net", "allow_wildcard_bind", CT_BOOL, "false", 0, 0,
	  FC(allow_wildcard_bind),
	  "allow listen (and [metrics] listen) on 0.0.0.0 or ::" },
	{ "net", "listeners", CT_LISTENERS, "", 0, 0, FC(listeners),
	  "NAME://host:port, ... (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL); "
	  "empty = one PLAINTEXT listener at listen" },
	{ "net", "advertised_listeners", CT_LISTENERS, "", 0, 0,
	  FC(advertised_listeners), "NAME://host:port given to clients per "
	  "listener, empty = each listener's own address" },
	{ "net", "allow_anonymous", CT_BOOL, "false", 0, 0, FC(allow_anonymous),
	  "allow listeners (and [metrics] listen) beyond loopback without "
	  "authentication" },
	/* [groups] */
	{ "groups", "offsets_retention_ms", CT_MS, "7d", -1, INT64_MAX,
	  FC(offsets_retention_ms), "committed offsets of a group with no "
	  "members expire this long after its last commit, -1 = never" },
	{ "groups", "max_groups", CT_INT, "10000", 1, 10000000,
	  FC(max_groups), "groups known at once (with offsets, members or "
	  "readers); commits and joins for new groups are refused past it" },
	{ "groups", "max_members", CT_INT, "1000", 1, 1000000,
	  FC(group_max_members), "members of one group (Kafka's "
	  "group.max.size)" },
	{ "groups", "initial_rebalance_delay_ms", CT_MS, "3000", 0, 300000,
	  FC(group_initial_rebalance_delay_ms), "the first rebalance of an "
	  "empty group waits this long for more members to join" },
	{ "groups", "min_session_timeout_ms", CT_MS, "6000", 1, INT32_MAX,
	  FC(group_min_session_timeout_ms), "shortest session timeout a "
	  "member may ask for" },
	{ "groups", "max_session_timeout_ms", CT_MS, "1800000", 1, INT32_MAX,
	  FC(group_max_session_timeout_ms), "longest session timeout a member "
	  "may ask for" },
	/* [sasl] (net/srv_sasl.c) */
	{ "sasl", "mechanisms", CT_TEXT, "SCRAM-SHA-512, SCRAM-SHA-256, PLAIN",
	  0, 0, FC(sasl_mechanisms), "what SASL listeners offer, in this "
	  "order: SCRAM-SHA-512, SCRAM-SHA-256, PLAIN" },
	{ "sasl", "users_file", CT_TEXT, "", 0, 0, FC(sasl_users_file),
	  "salted SCRAM verifiers (topicfs-admin user add), mode 0600, "
	  "empty = DATA_DIR/sasl-users" },
	{ "sasl", "super_users", CT_TEXT, "", 0, 0, FC(sasl_super_users),
	  "principals with every right: User:NAME, ..." },
	{ "sasl", "failed_delay_ms", CT_MS, "1000", 0, 60000,
	  FC(sasl_failed_delay_ms), "a failed login is answered this much "
	  "later, then the connection closes" },
	/* [log] */
	{ "log", "level", CT_LOGLEVEL, "info", 0, 0, FC(log_level),
	  "error, warn, info or debug" },
	/* [metrics] */
	{ "metrics", "listen", CT_LISTEN_OPT, "", 0, 0, FC(metrics_listen),
	  "host:port serving GET /metrics, empty = off" },
	{ "metrics", "token_file", CT_PATH_OPT, "", 0, 0, FC(metrics_token_file),
	  "file holding the bearer token /metrics requires, empty = none" },
	{ "metrics", "tls", CT_BOOL, "false", 0, 0, FC(metrics_tls),
	  "serve HTTPS with the [tls] certificate" },
	/* [tls] */
	{ "tls", "cert_file", CT_PATH_OPT, "", 0, 0, FC(tls_cert_file),
	  "PEM certificate chain of SSL and SASL_SSL listeners" },
	{ "tls", "key_file", CT_PATH_OPT, "", 0, 0, FC(tls_key_file),
	  "PEM private key of cert_file" },
	{ "tls", "ca_file", CT_PATH_OPT, "", 0, 0, FC(tls_ca_file),
	  "PEM CA certificates that client certificates must chain to" },
	{ "tls", "client_auth", CT_CLIENT_AUTH, "none", 0, 0,
	  FC(tls_client_auth), "client certificates: none, requested or "
	  "required" },
};

#define CFG_NKEYS (sizeof cfg_keys / sizeof cfg_keys[0])
_Static_assert(CFG_NKEYS <= sizeof ((struct tfs_config *)0)->key_lines /
               sizeof(int), "key_lines has a slot per row");

/* The per-topic settings: topic_setting_at(0 .. TS_NROWS-1). */
#define TS_ONE_(...) + 1
enum { TS_NROWS = 0 TOPIC_SETTINGS(TS_ONE_) };
#undef TS_ONE_
_Static_assert(TS_NROWS <= 64, "set_mask is 64 bits");

/* ============================== value parsing ============================ */

/* Each parser returns 0 or -EINVAL with a reason in why[]. */

/* Integers, sizes and times: storage's parser, the one the per-topic
 * settings use, so "64M" and "7d" mean the same everywhere. */
static int parse_int_suffix(const char *s, enum cfg_type type, int64_t *out,
                            char *why, size_t whylen)
{
	return topic_setting_parse_int(type == CT_SIZE ? TS_SIZE :
	                               type == CT_MS ? TS_MS : TS_COUNT,
	                               s, out, why, whylen);
}

static int parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };
	for (size_t i = 0; i < 4; i++) {
		if (!strcasecmp(s, yes[i])) {
			*out = true;
			return 0;
		}
		if (!strcasecmp(s, no[i])) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

/* Split "host:port" ("[v6]:port" too).  port_required: the port must be
 * there.  *port = -1 when absent. */
int tfs_parse_hostport(const char *s, bool port_required, char *host,
                          size_t hostlen, int *port)
{
	const char *colon, *h = s;
	size_t hl;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close)
			return -EINVAL;
		h = s + 1;
		hl = (size_t)(close - h);
		colon = close[1] == ':' ? close + 1 : NULL;
		if (close[1] && !colon)
			return -EINVAL;
	} else {
		colon = strrchr(s, ':');
		if (colon && strchr(s, ':') != colon)
			return -EINVAL;         /* bare IPv6 needs brackets */
		hl = colon ? (size_t)(colon - s) : strlen(s);
	}
	if (hl == 0 || hl >= hostlen)
		return -EINVAL;
	for (size_t i = 0; i < hl; i++)
		if (!isalnum((unsigned char)h[i]) && !strchr(".-_:", h[i]))
			return -EINVAL;
	if (colon) {
		int64_t v;
		if (tfs_parse_u64(colon + 1, &v) || v > 65535)
			return -EINVAL;
		*port = (int)v;
	} else {
		if (port_required)
			return -EINVAL;
		*port = -1;
	}
	memcpy(host, h, hl);
	host[hl] = '\0';
	return 0;
}

static void store_int(void *field, size_t size, int64_t v)
{
	if (size == sizeof(int64_t)) {
		int64_t x = v;
		memcpy(field, &x, sizeof x);
	} else {
		int32_t x = (int32_t)v;
		memcpy(field, &x, sizeof x);
	}
}

/* Parse value for key k into cfg.  0 or -EINVAL (why set). */
static int cfg_parse_value(const struct cfg_key *k, const char *value,
                           struct tfs_config *cfg, char *why, size_t whylen)
{
	void *field = (char *)cfg + k->offset;
	int64_t v;
	bool b;
	int rc;

	switch (k->type) {
	case CT_INT:
	case CT_SIZE:
	case CT_MS:
		rc = parse_int_suffix(value, k->type, &v, why, whylen);
		if (rc)
			return rc;
		if (v < k->min || v > k->max) {
			snprintf(why, whylen, "value %s out of range (%" PRId64
			         " .. %" PRId64 ")", value, k->min, k->max);
			return -EINVAL;
		}
		store_int(field, k->size, v);
		return 0;
	case CT_BOOL:
		if (parse_bool(value, &b)) {
			snprintf(why, whylen, "value '%s' is not a boolean "
			         "(true/false, yes/no, on/off, 1/0)", value);
			return -EINVAL;
		}
		*(bool *)field = b;
		return 0;
	case CT_PATH_OPT:
		if (!*value) {
			*(char *)field = '\0';
			return 0;
		}
		/* fall through */
	case CT_PATH:
		if (!*value) {
			snprintf(why, whylen, "empty path");
			return -EINVAL;
		}
		for (const char *p = value; *p; p++) {
			if (iscntrl((unsigned char)*p)) {
				snprintf(why, whylen, "control character in path");
				return -EINVAL;
			}
		}
		if (strlen(value) >= k->size) {
			snprintf(why, whylen, "path longer than %zu bytes", k->size - 1);
			return -EINVAL;
		}
		strcpy(field, value);
		return 0;
	case CT_LISTENERS: {
		struct tfs_listener l[TFS_MAX_LISTENERS];
		size_t n;
		if (strlen(value) >= k->size) {
			snprintf(why, whylen, "longer than %zu characters", k->size - 1);
			return -EINVAL;
		}
		rc = tfs_parse_listeners(value, l, TFS_MAX_LISTENERS, &n, why, whylen);
		if (rc)
			return rc;
		strcpy(field, value);
		return 0;
	}
	case CT_CLIENT_AUTH: {
		static const char *const names[] = { "none", "requested", "required" };
		for (size_t i = 0; i < 3; i++) {
			if (!strcasecmp(value, names[i])) {
				store_int(field, k->size, (int64_t)i);
				return 0;
			}
		}
		snprintf(why, whylen, "value '%s' is not none, requested or required",
		         value);
		return -EINVAL;
	}
	case CT_TEXT:
		for (const char *p = value; *p; p++) {
			if (iscntrl((unsigned char)*p)) {
				snprintf(why, whylen, "control character in value");
				return -EINVAL;
			}
		}
		if (strlen(value) >= k->size) {
			snprintf(why, whylen, "longer than %zu characters", k->size - 1);
			return -EINVAL;
		}
		strcpy(field, value);
		return 0;
	case CT_LOGLEVEL:
		v = tfs_log_level_from_name(value);
		if (v < 0) {
			snprintf(why, whylen, "value '%s' is not a log level (error, warn, "
			         "info, debug)", value);
			return -EINVAL;
		}
		store_int(field, k->size, v);
		return 0;
	case CT_LISTEN:
	case CT_LISTEN_OPT:
	case CT_HOST: {
		char host[256];
		int port;
		if ((k->type == CT_HOST || k->type == CT_LISTEN_OPT) && !*value) {
			*(char *)field = '\0';
			return 0;
		}
		if (strlen(value) >= k->size ||
		    tfs_parse_hostport(value, k->type != CT_HOST, host, sizeof host, &port)) {
			snprintf(why, whylen, "value '%s' is not %s", value,
			         k->type != CT_HOST ? "host:port (port 0..65535)" :
			         "host or host:port");
			return -EINVAL;
		}
		strcpy(field, value);
		return 0;
	}
	}
	snprintf(why, whylen, "internal error: unknown type");
	return -EINVAL;
}

/* ============================== lookups ================================== */

static const struct cfg_key *cfg_find(const char *section, const char *key)
{
	for (size_t i = 0; i < CFG_NKEYS; i++)
		if (!strcmp(cfg_keys[i].section, section) && !strcmp(cfg_keys[i].key, key))
			return &cfg_keys[i];
	return NULL;
}

/* A per-topic setting by its [topic.NAME] key (our names only, not
 * Kafka's: the INI keeps its own syntax). */
static const struct topic_setting *cfg_find_topic(const char *key)
{
	for (size_t i = 0; i < TS_NROWS; i++)
		if (!strcmp(topic_setting_at(i)->name, key))
			return topic_setting_at(i);
	return NULL;
}

/* A per-topic setting by the section and key of its global default. */
static const struct topic_setting *cfg_find_topic_default(const char *section,
                                                          const char *key)
{
	for (size_t i = 0; i < TS_NROWS; i++) {
		const struct topic_setting *ts = topic_setting_at(i);
		if (!strcmp(ts->section, section) && !strcmp(ts->global_key, key))
			return ts;
	}
	return NULL;
}

/* Kafka's topic name rule, kept here so config does not need a store. */
static bool topic_name_ok(const char *name)
{
	size_t n = strlen(name);
	if (n < 1 || n > 249 || !strcmp(name, ".") || !strcmp(name, ".."))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && !strchr("._-", name[i]))
			return false;
	return true;
}

static bool section_known(const char *s)
{
	if (!strcmp(s, "sasl"))
		return true;
	return !strcmp(s, "storage") || !strcmp(s, "fs") || !strcmp(s, "net") ||
	       !strcmp(s, "groups") || !strcmp(s, "log") || !strcmp(s, "metrics") ||
	       !strcmp(s, "tls");
}

static struct tfs_topic_override *cfg_topic(struct tfs_config *cfg,
                                            const char *name, int line)
{
	for (size_t i = 0; i < cfg->ntopics; i++)
		if (!strcmp(cfg->topics[i].name, name))
			return &cfg->topics[i];
	struct tfs_topic_override *t = realloc(cfg->topics,
	                                       (cfg->ntopics + 1) * sizeof *t);
	if (!t)
		return NULL;
	cfg->topics = t;
	t = &cfg->topics[cfg->ntopics++];
	memset(t, 0, sizeof *t);
	snprintf(t->name, sizeof t->name, "%s", name);
	t->line = line;
	topic_config_defaults(&t->values);
	return t;
}

/* ========================== [mirror.NAME] sections ======================== */

/*
 * A [mirror.NAME] section (or --set mirror.NAME.KEY=VALUE) describes one
 * link to a Kafka cluster (daemon/mirror.c runs it).  Keys are ours, in
 * snake_case; the security ones pass through to librdkafka under its
 * dotted name (sasl_username -> sasl.username).  Values are kept as text
 * here; what can be checked without the network is checked once, in
 * mirror_check (from tfs_config_finish): direction, bootstrap_servers and
 * topics are required, topics is a comma list of names and globs (* and ?),
 * acks is all/-1/0/1 and only for push, group_id only for pull, the
 * password given at most one way.  Mirror names follow the topic name rule,
 * at most 63 characters (they name the checkpoint file).
 */

struct mirror_key {
	const char *key;
	size_t offset, size;    /* into struct tfs_mirror_config; 0 = direction */
	const char *doc;
};

#define FM(f) offsetof(struct tfs_mirror_config, f), \
	sizeof(((struct tfs_mirror_config *)0)->f)

static const struct mirror_key mirror_keys[] = {
	{ "direction", 0, 0, "push (local topics -> cluster) or pull (cluster "
	  "-> local topics); required" },
	{ "bootstrap_servers", FM(bootstrap_servers), "host:port[,host:port...] "
	  "of the cluster; required" },
	{ "topics", FM(topics), "local topic names and globs (* ?), comma "
	  "separated, e.g. orders,logs.*; required" },
	{ "remote_prefix", FM(remote_prefix), "the remote name is this prefix + "
	  "the local name (default none)" },
	{ "acks", FM(acks), "push: all (default), -1, 1 or 0" },
	{ "group_id", FM(group_id), "pull: consumer group on the cluster "
	  "(default topicfs-mirror-NAME)" },
	{ "security_protocol", FM(security_protocol), "plaintext (default), ssl, "
	  "sasl_plaintext or sasl_ssl" },
	{ "sasl_mechanism", FM(sasl_mechanism), "PLAIN, SCRAM-SHA-256 or "
	  "SCRAM-SHA-512" },
	{ "sasl_username", FM(sasl_username), "SASL user" },
	{ "sasl_password", FM(sasl_password), "SASL password" },
	{ "sasl_password_file", FM(sasl_password_file), "file holding the SASL "
	  "password (first line), instead of sasl_password" },
	{ "ssl_ca_location", FM(ssl_ca_location), "CA certificate(s) (PEM) to "
	  "verify the brokers" },
	{ "ssl_certificate_location", FM(ssl_certificate_location), "client "
	  "certificate (PEM)" },
	{ "ssl_key_location", FM(ssl_key_location), "client key (PEM)" },
	{ "ssl_key_password", FM(ssl_key_password), "password of the client key" },
};

#define MIRROR_NKEYS (sizeof mirror_keys / sizeof mirror_keys[0])

static struct tfs_mirror_config *cfg_mirror(struct tfs_config *cfg,
                                            const char *name, int line)
{
	for (size_t i = 0; i < cfg->nmirrors; i++)
		if (!strcmp(cfg->mirrors[i].name, name))
			return &cfg->mirrors[i];
	struct tfs_mirror_config *m = realloc(cfg->mirrors,
	                                      (cfg->nmirrors + 1) * sizeof *m);
	if (!m)
		return NULL;
	cfg->mirrors = m;
	m = &cfg->mirrors[cfg->nmirrors++];
	memset(m, 0, sizeof *m);
	snprintf(m->name, sizeof m->name, "%s", name);
	m->line = line;
	return m;
}

static bool mirror_name_ok(const char *name)
{
	return strlen(name) < TFS_MIRROR_NAME_MAX && topic_name_ok(name);
}

/* One key of a [mirror.NAME] section.  0 or -EINVAL with why set. */
static int cfg_apply_mirror(struct tfs_config *cfg, const char *section,
                            const char *key, const char *value, int line,
                            char *why, size_t whylen)
{
	const struct mirror_key *k = NULL;
	struct tfs_mirror_config *m;

	for (size_t i = 0; i < MIRROR_NKEYS && !k; i++)
		if (!strcmp(mirror_keys[i].key, key))
			k = &mirror_keys[i];
	if (!k) {
		snprintf(why, whylen, "[%s] %s: unknown mirror key", section, key);
		return -EINVAL;
	}
	m = cfg_mirror(cfg, section + 7, line);
	if (!m) {
		snprintf(why, whylen, "[%s] %s: out of memory", section, key);
		return -ENOMEM;
	}
	if (k->size == 0) {
		if (!strcmp(value, "push")) {
			m->direction = TFS_MIRROR_PUSH;
		} else if (!strcmp(value, "pull")) {
			m->direction = TFS_MIRROR_PULL;
		} else {
			snprintf(why, whylen, "[%s] %s: '%s' is not push or pull",
			         section, key, value);
			return -EINVAL;
		}
		return 0;
	}
	if (strlen(value) >= k->size) {
		snprintf(why, whylen, "[%s] %s: value too long (at most %zu "
		         "characters)", section, key, k->size - 1);
		return -EINVAL;
	}
	memcpy((char *)m + k->offset, value, strlen(value) + 1);
	return 0;
}

/* One entry of topics: a topic name, with * and ? allowed. */
static bool mirror_glob_ok(const char *s, size_t n)
{
	if (n == 0 || n > 249)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("._-*?", s[i]))
			return false;
	return true;
}

static bool one_of(const char *v, const char *const *list)
{
	for (; *list; list++)
		if (!strcasecmp(v, *list))
			return true;
	return false;
}

/* The cross-field checks of one mirror; fills the defaults. */
static int mirror_check(const struct tfs_config *cfg, struct tfs_mirror_config *m,
                        char *err, size_t errlen)
{
	static const char *const acks[] = { "all", "-1", "0", "1", NULL };
	static const char *const protos[] = { "plaintext", "ssl", "sasl_plaintext",
	                                      "sasl_ssl", NULL };
	static const char *const mechs[] = { "PLAIN", "SCRAM-SHA-256",
	                                     "SCRAM-SHA-512", NULL };
	char where[TFS_PATH_MAX + 100];
	const char *why = NULL;

	if (m->line > 0)
		snprintf(where, sizeof where, "%s:%d: [mirror.%s]", cfg->source,
		         m->line, m->name);
	else
		snprintf(where, sizeof where, "--set mirror.%s", m->name);
	if (m->direction == TFS_MIRROR_UNSET)
		why = "direction is missing (push or pull)";
	else if (!m->bootstrap_servers[0])
		why = "bootstrap_servers is missing";
	else if (!m->topics[0])
		why = "topics is missing";
	else if (m->acks[0] && m->direction != TFS_MIRROR_PUSH)
		why = "acks is for push mirrors";
	else if (m->acks[0] && !one_of(m->acks, acks))
		why = "acks must be all, -1, 0 or 1";
	else if (m->group_id[0] && m->direction != TFS_MIRROR_PULL)
		why = "group_id is for pull mirrors";
	else if (m->security_protocol[0] && !one_of(m->security_protocol, protos))
		why = "security_protocol must be plaintext, ssl, sasl_plaintext or "
		      "sasl_ssl";
	else if (m->sasl_mechanism[0] && !one_of(m->sasl_mechanism, mechs))
		why = "sasl_mechanism must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512";
	else if (m->sasl_password[0] && m->sasl_password_file[0])
		why = "give sasl_password or sasl_password_file, not both";
	else if (m->remote_prefix[0] && !mirror_glob_ok(m->remote_prefix,
	                                                strlen(m->remote_prefix)))
		why = "remote_prefix may hold only A-Z a-z 0-9 . _ -";
	else if (strpbrk(m->remote_prefix, "*?"))
		why = "remote_prefix may hold only A-Z a-z 0-9 . _ -";
	if (!why) {
		/* topics: non-empty entries, each a name or a glob */
		const char *s = m->topics;
		while (!why) {
			const char *comma = strchr(s, ',');
			size_t n = comma ? (size_t)(comma - s) : strlen(s);
			while (n > 0 && isspace((unsigned char)*s)) {
				s++;
				n--;
			}
			while (n > 0 && isspace((unsigned char)s[n - 1]))
				n--;
			if (!mirror_glob_ok(s, n))
				why = "topics: each entry must be a topic name, * and ? "
				      "allowed (A-Z a-z 0-9 . _ - * ?)";
			if (!comma)
				break;
			s = comma + 1;
		}
	}
	if (why) {
		snprintf(err, errlen, "%s: %s", where, why);
		return -EINVAL;
	}
	if (!m->acks[0])
		snprintf(m->acks, sizeof m->acks, "all");
	if (m->direction == TFS_MIRROR_PULL && !m->group_id[0])
		snprintf(m->group_id, sizeof m->group_id, "topicfs-mirror-%s", m->name);
	return 0;
}

static void mirror_print_keys(FILE *out)
{
	fprintf(out, "  [mirror.NAME]  a link to a Kafka cluster (README, \"Beyond "
	        "one machine\"); keys:\n");
	for (size_t i = 0; i < MIRROR_NKEYS; i++)
		fprintf(out, "      %-26s %s\n", mirror_keys[i].key, mirror_keys[i].doc);
}

/* Check a section name: 0, or -EINVAL with why set. */
static int cfg_check_section(const char *section, char *why, size_t whylen)
{
	if (section_known(section))
		return 0;
	if (!strncmp(section, "topic.", 6)) {
		if (topic_name_ok(section + 6))
			return 0;
		snprintf(why, whylen, "[%s]: invalid topic name '%s' (1..249 of "
		         "A-Z a-z 0-9 . _ -, not . or ..)", section, section + 6);
		return -EINVAL;
	}
	if (!strncmp(section, "mirror.", 7)) {
		if (mirror_name_ok(section + 7))
			return 0;
		snprintf(why, whylen, "[%s]: invalid mirror name '%s' (1..63 of "
		         "A-Z a-z 0-9 . _ -, not . or ..)", section, section + 7);
		return -EINVAL;
	}
	snprintf(why, whylen, "[%s]: unknown section (storage, fs, net, "
	         "groups, log, metrics, tls, topic.NAME, mirror.NAME)", section);
	return -EINVAL;
}

/* Apply section/key/value.  line is for per-topic bookkeeping.  0 or
 * -EINVAL with why set to "[SECTION] KEY: reason". */
static int cfg_apply(struct tfs_config *cfg, const char *section,
                     const char *key, const char *value, int line,
                     char *why, size_t whylen)
{
	char reason[400];
	const struct topic_setting *ts;
	const struct cfg_key *k;
	int rc;

	rc = cfg_check_section(section, why, whylen);
	if (rc)
		return rc;
	if (!strncmp(section, "mirror.", 7))
		return cfg_apply_mirror(cfg, section, key, value, line, why, whylen);
	if (!strncmp(section, "topic.", 6)) {
		ts = cfg_find_topic(key);
		if (!ts) {
			snprintf(why, whylen, "[%s] %s: unknown per-topic key", section, key);
			return -EINVAL;
		}
		struct tfs_topic_override *t = cfg_topic(cfg, section + 6, line);
		if (!t) {
			snprintf(why, whylen, "[%s] %s: out of memory", section, key);
			return -ENOMEM;
		}
		rc = topic_setting_parse(&t->values, ts, value, reason, sizeof reason);
		if (rc) {
			snprintf(why, whylen, "[%s] %s: %s", section, key, reason);
			return rc;
		}
		for (size_t i = 0; i < TS_NROWS; i++)
			if (topic_setting_at(i) == ts)
				t->set_mask |= 1ULL << i;
		return 0;
	}
	ts = cfg_find_topic_default(section, key);
	k = ts ? NULL : cfg_find(section, key);
	if (!ts && !k) {
		snprintf(why, whylen, "[%s] %s: unknown key", section, key);
		return -EINVAL;
	}
	rc = ts ? topic_setting_parse(&cfg->topic_defaults, ts, value, reason, sizeof reason)
	        : cfg_parse_value(k, value, cfg, reason, sizeof reason);
	if (rc) {
		snprintf(why, whylen, "[%s] %s: %s", section, key, reason);
		return rc;
	}
	if (k)
		cfg->key_lines[k - cfg_keys] = line;
	return 0;
}

/* ============================== defaults ================================= */

void tfs_config_init(struct tfs_config *cfg)
{
	char why[400];

	memset(cfg, 0, sizeof *cfg);
	/* the per-topic defaults: topic_settings.h, checked against their
	 * bounds at compile time and by test_settings */
	topic_config_defaults(&cfg->topic_defaults);
	for (size_t i = 0; i < CFG_NKEYS; i++) {
		const struct cfg_key *k = &cfg_keys[i];
		int rc = cfg_parse_value(k, k->def, cfg, why, sizeof why);
		if (rc) {       /* a bug in the table: fail loudly at once */
			fprintf(stderr, "topicfs: bad default for [%s] %s: %s\n",
			        k->section, k->key, why);
			abort();
		}
	}
}

void tfs_config_free(struct tfs_config *cfg)
{
	free(cfg->topics);
	cfg->topics = NULL;
	cfg->ntopics = 0;
	free(cfg->mirrors);
	cfg->mirrors = NULL;
	cfg->nmirrors = 0;
}

/* ============================== the INI file ============================= */

/* Bounds on what a config read may take: a line, and the whole file. */
#define CFG_LINE_MAX 4096
#define CFG_FILE_MAX (4 << 20)

struct cfg_parse {
	struct tfs_config *cfg;
	const char *path;
	FILE *f;
	char *line;             /* CFG_LINE_MAX + 1 bytes */
	long bytes;             /* read so far, at most CFG_FILE_MAX */
	int lineno;             /* line last handed to inih */
	bool failed;            /* err holds the first error */
	char *err;
	size_t errlen;
};

static void cfg_fail(struct cfg_parse *ps, const char *fmt, ...)
{
	char why[600];
	va_list ap;

	if (ps->failed)
		return;
	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	snprintf(ps->err, ps->errlen, "%s:%d: %s", ps->path, ps->lineno, why);
	ps->failed = true;
}

/* The fgets-like reader given to inih: one line per call, see the design
 * note at the top for what it checks. */
static char *cfg_reader(char *str, int num, void *stream)
{
	struct cfg_parse *ps = stream;
	char *p;
	size_t len = 0;
	int c;

	if (ps->failed)
		return NULL;
	/* one line, never more than CFG_LINE_MAX bytes read for it and never
	 * more than CFG_FILE_MAX for the file (-c /dev/zero must not grow) */
	if (!ps->line) {
		ps->line = malloc(CFG_LINE_MAX + 1);
		if (!ps->line) {
			cfg_fail(ps, "out of memory");
			return NULL;
		}
	}
	while ((c = getc(ps->f)) != EOF) {
		if (++ps->bytes > CFG_FILE_MAX) {
			cfg_fail(ps, "file too large (more than %d bytes)", CFG_FILE_MAX);
			return NULL;
		}
		if (c == '\0') {
			ps->lineno++;
			cfg_fail(ps, "NUL byte in line");
			return NULL;
		}
		if (len == CFG_LINE_MAX) {
			ps->lineno++;
			cfg_fail(ps, "line too long (more than %d characters)", CFG_LINE_MAX);
			return NULL;
		}
		ps->line[len++] = (char)c;
		if (c == '\n')
			break;
	}
	if (len == 0)
		return NULL;
	ps->lineno++;
	while (len > 0 && (ps->line[len - 1] == '\n' || ps->line[len - 1] == '\r'))
		len--;
	/* inih needs room for the text, "\r\n" and the NUL */
	if (num < 4 || len > (size_t)num - 3) {
		cfg_fail(ps, "line too long (%zu characters, at most %d)", len,
		         num < 4 ? 0 : num - 3);
		return NULL;
	}
	ps->line[len] = '\0';
	p = ps->line;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '[') {
		char section[512];
		char why[600];
		const char *close = strchr(p, ']');
		if (close && (size_t)(close - p - 1) < sizeof section) {
			memcpy(section, p + 1, (size_t)(close - p - 1));
			section[close - p - 1] = '\0';
			if (cfg_check_section(section, why, sizeof why)) {
				cfg_fail(ps, "%s", why);
				return NULL;
			}
			if (!strncmp(section, "topic.", 6) &&
			    !cfg_topic(ps->cfg, section + 6, ps->lineno)) {
				cfg_fail(ps, "out of memory");
				return NULL;
			}
			if (!strncmp(section, "mirror.", 7) &&
			    !cfg_mirror(ps->cfg, section + 7, ps->lineno)) {
				cfg_fail(ps, "out of memory");
				return NULL;
			}
		}
		/* a header without ']' is left to inih, which reports it */
	}
	snprintf(str, (size_t)num, "%s\n", p);
	return str;
}

static int cfg_handler(void *user, const char *section, const char *name,
                       const char *value)
{
	struct cfg_parse *ps = user;
	char why[600];

	if (ps->failed)
		return 0;
	if (!*section) {
		cfg_fail(ps, "%s: key outside of any section", name);
		return 0;
	}
	if (cfg_apply(ps->cfg, section, name, value, ps->lineno, why, sizeof why)) {
		cfg_fail(ps, "%s", why);
		return 0;
	}
	return 1;
}

int tfs_config_load(struct tfs_config *cfg, const char *path, char *err,
                    size_t errlen)
{
	struct cfg_parse ps = { .cfg = cfg, .path = path, .err = err, .errlen = errlen };
	int rc;

	ps.f = fopen(path, "re");
	if (!ps.f) {
		rc = -errno;
		snprintf(err, errlen, "%s: cannot open config: %s", path, strerror(-rc));
		return rc;
	}
	/* Debian's libinih exposes its compile-time knobs as variables */
	ini_use_stack = false;
	ini_max_line = 4096;
	ini_allow_multiline = false;
	ini_stop_on_first_error = true;
	rc = ini_parse_stream(cfg_reader, &ps, cfg_handler, &ps);
	if (!ps.failed && ferror(ps.f)) {
		snprintf(err, errlen, "%s: read error: %s", path, strerror(errno));
		ps.failed = true;
	}
	if (!ps.failed && rc != 0) {
		if (rc > 0)
			snprintf(err, errlen, "%s:%d: syntax error (expected [section] "
			         "or key = value)", path, rc);
		else
			snprintf(err, errlen, "%s: cannot parse (inih error %d)", path, rc);
		ps.failed = true;
	}
	free(ps.line);
	fclose(ps.f);
	if (ps.failed)
		return -EINVAL;
	snprintf(cfg->source, sizeof cfg->source, "%s", path);
	return 0;
}

int tfs_config_set(struct tfs_config *cfg, const char *assignment, char *err,
                   size_t errlen)
{
	char left[600], why[600];
	const char *eq = strchr(assignment, '=');
	char *dot, *key, *value;
	int rc;

	if (!eq || (size_t)(eq - assignment) >= sizeof left) {
		snprintf(err, errlen, "--set %s: expected SECTION.KEY=VALUE", assignment);
		return -EINVAL;
	}
	memcpy(left, assignment, (size_t)(eq - assignment));
	left[eq - assignment] = '\0';
	dot = strrchr(left, '.');
	if (!dot || dot == left || !dot[1]) {
		snprintf(err, errlen, "--set %s: expected SECTION.KEY=VALUE", assignment);
		return -EINVAL;
	}
	*dot = '\0';
	key = dot + 1;
	value = strdup(eq + 1);
	if (!value)
		return -ENOMEM;
	/* trim blanks like inih does for the file */
	char *v = value;
	while (isspace((unsigned char)*v))
		v++;
	size_t vl = strlen(v);
	while (vl > 0 && isspace((unsigned char)v[vl - 1]))
		v[--vl] = '\0';
	rc = cfg_apply(cfg, left, key, v, 0, why, sizeof why);
	free(value);
	if (rc) {
		snprintf(err, errlen, "--set %s: %s", assignment, why);
		return rc;
	}
	return 0;
}

/* ============================== finishing ================================ */

static int make_absolute(char *path, size_t size)
{
	char cwd[PATH_MAX], tmp[TFS_PATH_MAX];
	size_t len;

	if (path[0] == '/')
		goto trim;
	if (!getcwd(cwd, sizeof cwd))
		return -errno;
	if ((size_t)snprintf(tmp, sizeof tmp, "%s/%s", cwd, path) >= sizeof tmp ||
	    strlen(tmp) >= size)
		return -ENAMETOOLONG;
	strcpy(path, tmp);
trim:
	len = strlen(path);
	while (len > 1 && path[len - 1] == '/')
		path[--len] = '\0';
	return 0;
}

/* Where a topic's key came from, for messages. */
static void topic_where(const struct tfs_config *cfg,
                        const struct tfs_topic_override *t, char *buf,
                        size_t len)
{
	if (t->line > 0)
		snprintf(buf, len, "%s:%d: [topic.%s]", cfg->source, t->line, t->name);
	else
		snprintf(buf, len, "--set topic.%s", t->name);
}

/* ------------------------ [net] and [metrics] checks ---------------------- */

/* A listen address spelled as a wildcard IP ("0", "0.0.0.0", "::",
 * "::ffff:0.0.0.0", ...: whatever getaddrinfo reads as numeric) binds every
 * interface.  Names are not resolved here (no DNS at configuration time);
 * the server refuses a name that resolves to a wildcard when it binds. */
static bool listen_is_wildcard(const char *hostport)
{
	static const uint8_t zero[4];
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
	                          .ai_flags = AI_NUMERICHOST | AI_PASSIVE };
	struct addrinfo *res = NULL;
	char host[256];
	int port;
	bool wild = false;

	if (tfs_parse_hostport(hostport, false, host, sizeof host, &port) ||
	    getaddrinfo(host, NULL, &hints, &res) != 0)
		return false;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		if (ai->ai_family == AF_INET) {
			const struct sockaddr_in *a = (const void *)ai->ai_addr;
			wild |= a->sin_addr.s_addr == htonl(INADDR_ANY);
		} else if (ai->ai_family == AF_INET6) {
			const struct in6_addr *a =
				&((const struct sockaddr_in6 *)(const void *)ai->ai_addr)->sin6_addr;
			wild |= IN6_IS_ADDR_UNSPECIFIED(a) ||
			        (IN6_IS_ADDR_V4MAPPED(a) && !memcmp(a->s6_addr + 12, zero, 4));
		}
	}
	freeaddrinfo(res);
	return wild;
}

/* ------------------------------ listeners -------------------------------- */

static const char *const sec_proto_names[] = {
	[TFS_SEC_PLAINTEXT] = "PLAINTEXT",
	[TFS_SEC_SSL] = "SSL",
	[TFS_SEC_SASL_PLAINTEXT] = "SASL_PLAINTEXT",
	[TFS_SEC_SASL_SSL] = "SASL_SSL",
};

const char *tfs_sec_proto_name(enum tfs_sec_proto p)
{
	return (unsigned)p < 4 ? sec_proto_names[p] : "?";
}

int tfs_parse_listeners(const char *text, struct tfs_listener *out,
                        size_t max, size_t *n, char *why, size_t whylen)
{
	const char *p = text;
	size_t count = 0;

	while (*p == ' ' || *p == '\t')
		p++;
	if (!*p) {
		*n = 0;
		return 0;
	}
	for (;;) {
		char item[TFS_LISTENERS_MAX];
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (len == 0) {
			snprintf(why, whylen, "empty entry (two commas, or a comma at "
			         "the end)");
			return -EINVAL;
		}
		if (len >= sizeof item) {
			snprintf(why, whylen, "entry too long");
			return -EINVAL;
		}
		memcpy(item, p, len);
		item[len] = '\0';
		char *sep = strstr(item, "://");
		if (!sep) {
			snprintf(why, whylen, "'%s' is not NAME://host:port (NAME: "
			         "PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL)", item);
			return -EINVAL;
		}
		*sep = '\0';
		struct tfs_listener l = { .proto = TFS_SEC_PLAINTEXT };
		bool known = false;
		for (size_t i = 0; i < 4; i++) {
			if (!strcasecmp(item, sec_proto_names[i])) {
				l.proto = (enum tfs_sec_proto)i;
				known = true;
			}
		}
		if (!known) {
			snprintf(why, whylen, "unknown security protocol '%s' (PLAINTEXT, "
			         "SSL, SASL_PLAINTEXT or SASL_SSL)", item);
			return -EINVAL;
		}
		if (tfs_parse_hostport(sep + 3, true, l.host, sizeof l.host, &l.port)) {
			snprintf(why, whylen, "%s://%s: not host:port (port 0..65535, "
			         "[addr]:port for IPv6)", sec_proto_names[l.proto], sep + 3);
			return -EINVAL;
		}
		for (size_t i = 0; i < count; i++) {
			if (out[i].proto == l.proto) {
				snprintf(why, whylen, "%s given twice (one listener per "
				         "security protocol)", sec_proto_names[l.proto]);
				return -EINVAL;
			}
		}
		if (count == max) {
			snprintf(why, whylen, "more than %zu listeners", max);
			return -EINVAL;
		}
		out[count++] = l;
		if (!end)
			break;
		p = end + 1;
		while (*p == ' ' || *p == '\t')
			p++;
	}
	*n = count;
	return 0;
}

bool tfs_host_is_loopback(const char *host)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
	                          .ai_flags = AI_NUMERICHOST };
	struct addrinfo *res = NULL;
	bool loop = true;

	if (!strcasecmp(host, "localhost"))
		return true;
	if (getaddrinfo(host, NULL, &hints, &res) != 0)
		return false;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		if (ai->ai_family == AF_INET) {
			const struct sockaddr_in *a = (const void *)ai->ai_addr;
			loop &= (ntohl(a->sin_addr.s_addr) >> 24) == 127;
		} else if (ai->ai_family == AF_INET6) {
			const struct in6_addr *a =
				&((const struct sockaddr_in6 *)(const void *)ai->ai_addr)->sin6_addr;
			loop &= IN6_IS_ADDR_LOOPBACK(a) ||
			        (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
		} else {
			loop = false;
		}
	}
	freeaddrinfo(res);
	return loop;
}

/* "FILE:LINE: [SECTION] KEY" when the key came from the file, else
 * "[SECTION] KEY". */
static void key_where(const struct tfs_config *cfg, const char *section,
                      const char *key, char *buf, size_t len)
{
	const struct cfg_key *k = cfg_find(section, key);
	int line = k ? cfg->key_lines[k - cfg_keys] : 0;
	if (line > 0 && cfg->source[0])
		snprintf(buf, len, "%s:%d: [%s] %s", cfg->source, line, section, key);
	else
		snprintf(buf, len, "[%s] %s", section, key);
}

/* Hook for the SASL part of issue 14: true once a [sasl] section
 * configures the mechanisms and users SASL_PLAINTEXT and SASL_SSL
 * listeners need.  Until then such listeners are refused. */
static bool cfg_sasl_configured(const struct tfs_config *cfg)
{
	/* [sasl] (net/srv_sasl.c): mechanisms has a default, users_file
	 * defaults to DATA_DIR/sasl-users; the server checks both at start */
	return cfg->sasl_mechanisms[0] != '\0';
}

/* Fill cfg->lst and cfg->adv from [net] listeners, advertised_listeners,
 * listen and advertised_host, and check them with [tls]. */
static int cfg_resolve_listeners(struct tfs_config *cfg, char *err,
                                 size_t errlen)
{
	char where[TFS_PATH_MAX + 64], why[400];
	struct tfs_listener adv[TFS_MAX_LISTENERS];
	size_t nadv = 0;

	memset(cfg->adv, 0, sizeof cfg->adv);
	cfg->nlst = 0;
	if (!cfg->listeners[0]) {
		/* the default: one PLAINTEXT listener at [net] listen */
		struct tfs_listener *l = &cfg->lst[0];
		l->proto = TFS_SEC_PLAINTEXT;
		if (tfs_parse_hostport(cfg->listen, true, l->host, sizeof l->host,
		                       &l->port))
			return -EINVAL;         /* checked when parsed */
		cfg->nlst = 1;
		if (cfg->advertised_listeners[0]) {
			key_where(cfg, "net", "advertised_listeners", where, sizeof where);
			snprintf(err, errlen, "%s: needs [net] listeners (with [net] "
			         "listen only, use advertised_host)", where);
			return -EINVAL;
		}
		return 0;
	}
	if (cfg->advertised_host[0]) {
		key_where(cfg, "net", "advertised_host", where, sizeof where);
		snprintf(err, errlen, "%s: goes with [net] listen; with [net] "
		         "listeners, use advertised_listeners", where);
		return -EINVAL;
	}
	key_where(cfg, "net", "listeners", where, sizeof where);
	if (tfs_parse_listeners(cfg->listeners, cfg->lst, TFS_MAX_LISTENERS,
	                        &cfg->nlst, why, sizeof why)) {
		snprintf(err, errlen, "%s: %s", where, why);
		return -EINVAL;
	}
	key_where(cfg, "net", "advertised_listeners", where, sizeof where);
	if (tfs_parse_listeners(cfg->advertised_listeners, adv, TFS_MAX_LISTENERS,
	                        &nadv, why, sizeof why)) {
		snprintf(err, errlen, "%s: %s", where, why);
		return -EINVAL;
	}
	for (size_t i = 0; i < nadv; i++) {
		size_t j = 0;
		while (j < cfg->nlst && cfg->lst[j].proto != adv[i].proto)
			j++;
		if (j == cfg->nlst) {
			snprintf(err, errlen, "%s: %s is not in [net] listeners", where,
			         tfs_sec_proto_name(adv[i].proto));
			return -EINVAL;
		}
		char hp[300];
		snprintf(hp, sizeof hp, "%s:0", adv[i].host);
		if (strchr(adv[i].host, ':'))
			snprintf(hp, sizeof hp, "[%s]:0", adv[i].host);
		if (listen_is_wildcard(hp)) {
			snprintf(err, errlen, "%s: %s://%s:%d: a wildcard is not an "
			         "address clients can connect to", where,
			         tfs_sec_proto_name(adv[i].proto), adv[i].host,
			         adv[i].port);
			return -EINVAL;
		}
		cfg->adv[j] = adv[i];
	}
	return 0;
}

/* Cross-field checks of the global [net], [tls] and [metrics] keys (after
 * cfg_resolve_listeners). */
static int cfg_check_net(const struct tfs_config *cfg, char *err, size_t errlen)
{
	static const char *const what[] = { "[net] listen", "[metrics] listen" };
	const char *addr[] = { cfg->net_enabled && !cfg->listeners[0] ? cfg->listen : "",
	                       cfg->metrics_listen };
	char where[TFS_PATH_MAX + 64], hp[300];
	bool metrics_tls = cfg->metrics_listen[0] && cfg->metrics_tls;
	bool listener_tls = false;

	for (size_t i = 0; i < 2; i++) {
		if (!addr[i][0] || cfg->allow_wildcard_bind || !listen_is_wildcard(addr[i]))
			continue;
		snprintf(err, errlen, "%s %s binds every interface (a wildcard "
		         "address), reachable from other machines without "
		         "authentication: set [net] allow_wildcard_bind = true to "
		         "allow it, or listen on one address such as 127.0.0.1",
		         what[i], addr[i]);
		return -EINVAL;
	}
	for (size_t i = 0; cfg->net_enabled && i < cfg->nlst; i++) {
		const struct tfs_listener *l = &cfg->lst[i];
		const char *name = tfs_sec_proto_name(l->proto);
		bool tls = l->proto == TFS_SEC_SSL || l->proto == TFS_SEC_SASL_SSL;
		bool sasl = l->proto == TFS_SEC_SASL_PLAINTEXT ||
		            l->proto == TFS_SEC_SASL_SSL;
		bool authenticated = sasl || (l->proto == TFS_SEC_SSL &&
		                     cfg->tls_client_auth == TFS_CLIENT_AUTH_REQUIRED);
		if (cfg->listeners[0])
			key_where(cfg, "net", "listeners", where, sizeof where);
		else
			key_where(cfg, "net", "listen", where, sizeof where);
		snprintf(hp, sizeof hp, strchr(l->host, ':') ? "[%s]:%d" : "%s:%d",
		         l->host, l->port);
		if (cfg->listeners[0] && !cfg->allow_wildcard_bind &&
		    listen_is_wildcard(hp)) {
			snprintf(err, errlen, "%s: %s://%s binds every interface (a "
			         "wildcard address): set [net] allow_wildcard_bind = "
			         "true to allow it, or listen on one address", where,
			         name, hp);
			return -EINVAL;
		}
		if (sasl && !cfg_sasl_configured(cfg)) {
			snprintf(err, errlen, "%s: %s://%s: SASL not configured (no "
			         "[sasl] section: mechanisms and users_file)", where,
			         name, hp);
			return -EINVAL;
		}
		if (!authenticated && !cfg->allow_anonymous &&
		    !tfs_host_is_loopback(l->host)) {
			snprintf(err, errlen, "%s: %s://%s is not on loopback and has "
			         "no authentication (anyone who reaches it could read, "
			         "write and create every topic): use SASL_SSL, or SSL "
			         "with [tls] client_auth = required, or set [net] "
			         "allow_anonymous = true", where, name, hp);
			return -EINVAL;
		}
		listener_tls |= tls;
	}
	if ((listener_tls || metrics_tls) &&
	    (!cfg->tls_cert_file[0] || !cfg->tls_key_file[0])) {
		key_where(cfg, "tls", cfg->tls_cert_file[0] ? "key_file" : "cert_file",
		          where, sizeof where);
		snprintf(err, errlen, "%s: not set, but %s needs a certificate and "
		         "its key ([tls] cert_file and key_file)", where,
		         listener_tls ? "an SSL or SASL_SSL listener" : "[metrics] tls");
		return -EINVAL;
	}
	if (cfg->tls_client_auth != TFS_CLIENT_AUTH_NONE && !cfg->tls_ca_file[0]) {
		key_where(cfg, "tls", "client_auth", where, sizeof where);
		snprintf(err, errlen, "%s: client certificates need [tls] ca_file "
		         "(the CA they must chain to)", where);
		return -EINVAL;
	}
	if (cfg->metrics_listen[0] && !cfg->metrics_token_file[0] &&
	    !cfg->allow_anonymous) {
		char host[256];
		int port;
		if (tfs_parse_hostport(cfg->metrics_listen, true, host, sizeof host,
		                       &port) == 0 && !tfs_host_is_loopback(host)) {
			key_where(cfg, "metrics", "listen", where, sizeof where);
			snprintf(err, errlen, "%s: %s is not on loopback and has no "
			         "[metrics] token_file: set one (a bearer token), or "
			         "[net] allow_anonymous = true", where,
			         cfg->metrics_listen);
			return -EINVAL;
		}
	}
	if (cfg->queued_max_request_bytes < cfg->max_request_bytes) {
		snprintf(err, errlen, "[net] queued_max_request_bytes %" PRId64
		         " must be at least max_request_bytes %" PRId64 " (one "
		         "largest request must fit)", cfg->queued_max_request_bytes,
		         cfg->max_request_bytes);
		return -EINVAL;
	}
	return 0;
}

int tfs_config_finish(struct tfs_config *cfg, char *err, size_t errlen)
{
	const char *why = NULL;
	struct topic_config tc;
	int rc;

	if (make_absolute(cfg->data_dir, sizeof cfg->data_dir) ||
	    make_absolute(cfg->mountpoint, sizeof cfg->mountpoint)) {
		snprintf(err, errlen, "cannot make data_dir or mountpoint absolute");
		return -EINVAL;
	}
	if (!cfg->sasl_users_file[0]) {
		if ((size_t)snprintf(cfg->sasl_users_file, sizeof cfg->sasl_users_file,
		                     "%s/sasl-users", cfg->data_dir) >=
		    sizeof cfg->sasl_users_file) {
			snprintf(err, errlen, "[sasl] users_file: DATA_DIR/sasl-users "
			         "is too long");
			return -EINVAL;
		}
	} else if (make_absolute(cfg->sasl_users_file, sizeof cfg->sasl_users_file)) {
		snprintf(err, errlen, "cannot make [sasl] users_file absolute");
		return -EINVAL;
	}
	size_t dl = strlen(cfg->data_dir), ml = strlen(cfg->mountpoint);
	if (!strcmp(cfg->data_dir, cfg->mountpoint) ||
	    (ml > dl && !strncmp(cfg->mountpoint, cfg->data_dir, dl) &&
	     cfg->mountpoint[dl] == '/') ||
	    (dl > ml && !strncmp(cfg->data_dir, cfg->mountpoint, ml) &&
	     (cfg->data_dir[ml] == '/' || ml == 1))) {
		snprintf(err, errlen, "[storage] data_dir %s and [fs] mountpoint %s "
		         "must not contain one another", cfg->data_dir, cfg->mountpoint);
		return -EINVAL;
	}
	if (cfg->max_decompressed_bytes < cfg->topic_defaults.batch_bytes ||
	    cfg->max_decompressed_bytes < cfg->topic_defaults.max_message_bytes) {
		snprintf(err, errlen, "[storage] max_decompressed_bytes %" PRId64
		         " must be at least batch_bytes and max_message_bytes",
		         cfg->max_decompressed_bytes);
		return -EINVAL;
	}
	char *paths[] = { cfg->tls_cert_file, cfg->tls_key_file, cfg->tls_ca_file,
	                  cfg->metrics_token_file };
	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		if (paths[i][0] && make_absolute(paths[i], TFS_PATH_MAX)) {
			snprintf(err, errlen, "cannot make %s absolute", paths[i]);
			return -EINVAL;
		}
	}
	rc = cfg_resolve_listeners(cfg, err, errlen);
	if (rc)
		return rc;
	rc = cfg_check_net(cfg, err, errlen);
	if (rc)
		return rc;
	rc = topic_config_check(&cfg->topic_defaults, &why);
	if (rc) {
		snprintf(err, errlen, "topic defaults ([storage]/[fs]): %s",
		         why ? why : "invalid");
		return -EINVAL;
	}
	for (size_t i = 0; i < cfg->ntopics; i++) {
		char where[TFS_PATH_MAX + 300];
		const struct tfs_topic_override *t = &cfg->topics[i];
		tfs_config_topic(cfg, t->name, &tc);
		topic_where(cfg, t, where, sizeof where);
		why = NULL;
		if (topic_config_check(&tc, &why)) {
			snprintf(err, errlen, "%s: %s", where, why ? why : "invalid");
			return -EINVAL;
		}
		if ((int64_t)tc.batch_bytes > cfg->max_decompressed_bytes ||
		    (int64_t)tc.max_message_bytes > cfg->max_decompressed_bytes) {
			snprintf(err, errlen, "%s: batch_bytes and max_message_bytes must "
			         "not exceed [storage] max_decompressed_bytes", where);
			return -EINVAL;
		}
	}
	for (size_t i = 0; i < cfg->nmirrors; i++) {
		rc = mirror_check(cfg, &cfg->mirrors[i], err, errlen);
		if (rc)
			return rc;
	}
	return 0;
}

bool tfs_config_topic(const struct tfs_config *cfg, const char *name,
                      struct topic_config *out)
{
	*out = cfg->topic_defaults;
	for (size_t i = 0; i < cfg->ntopics; i++) {
		const struct tfs_topic_override *t = &cfg->topics[i];
		if (strcmp(t->name, name))
			continue;
		for (size_t k = 0; k < TS_NROWS; k++) {
			const struct topic_setting *ts = topic_setting_at(k);
			if (t->set_mask & (1ULL << k))
				topic_setting_set(out, ts, topic_setting_get(&t->values, ts),
				                  NULL, 0);
		}
		return true;
	}
	return false;
}

void tfs_config_print_keys(FILE *out)
{
	struct topic_config defs;
	char def[64];

	topic_config_defaults(&defs);
	for (size_t i = 0; i < CFG_NKEYS; i++) {
		const struct cfg_key *k = &cfg_keys[i];
		if (i > 0 && !strcmp(cfg_keys[i - 1].section, k->section))
			continue;
		/* a section: its own keys, then the per-topic defaults kept there */
		fprintf(out, "  [%s]\n", k->section);
		for (size_t j = i; j < CFG_NKEYS; j++) {
			const struct cfg_key *kj = &cfg_keys[j];
			if (strcmp(kj->section, k->section))
				continue;
			/* a default with spaces is quoted, so the value column
			 * parses (test_fs_config reads it) */
			char dq[128];
			const char *d = kj->def;
			if (!*d || strchr(d, ' ')) {
				snprintf(dq, sizeof dq, "\"%s\"", d);
				d = dq;
			}
			fprintf(out, "    %-22s = %-18s %s\n", kj->key, d, kj->doc);
		}
		for (size_t j = 0; j < TS_NROWS; j++) {
			const struct topic_setting *ts = topic_setting_at(j);
			if (strcmp(ts->section, k->section))
				continue;
			topic_setting_format(&defs, ts, def, sizeof def);
			fprintf(out, "    %-22s = %-18s %s (per topic)\n", ts->global_key,
			        def, ts->doc);
		}
	}
	fprintf(out, "  [topic.NAME]   any per-topic key above");
	for (size_t j = 0; j < TS_NROWS; j++) {
		const struct topic_setting *ts = topic_setting_at(j);
		if (strcmp(ts->global_key, ts->name))
			fprintf(out, "; %s is called %s there", ts->global_key, ts->name);
	}
	fprintf(out, "\n");
	mirror_print_keys(out);
}
