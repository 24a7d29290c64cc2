/*
 * srv_configs.c - the config APIs of the topicfs server (issue 12):
 * DescribeConfigs (32) v0-4, AlterConfigs (33) v0-2 and
 * IncrementalAlterConfigs (44) v0-1, over the per-topic settings table
 * (storage/topic_settings.h) and the daemon's own settings (struct
 * srv_config).  Layouts and value translations: docs/PROTOCOL.md.
 *
 * DESIGN
 *
 * A topic's configs are the rows of topic_settings.h that have a Kafka
 * name, with their values in Kafka's formats (kafka_format: flush "never"
 * is 0 here and Long.MAX_VALUE in Kafka; codec none is "uncompressed"),
 * then a few fixed read-only entries clients commonly ask for
 * (cleanup.policy, min.insync.replicas, message.timestamp.type).  A value
 * is DYNAMIC_TOPIC_CONFIG (1) when it differs from the daemon's topic
 * defaults (srv_config.topic_defaults), else DEFAULT_CONFIG (5).  The
 * broker resource ("0" or "") lists read-only entries for the daemon's own
 * settings that have Kafka equivalents.
 *
 * Changes (AlterConfigs: the whole dynamic config is replaced, keys not
 * given go back to the default; IncrementalAlterConfigs: SET / DELETE) are
 * validated completely on a copy of the topic's config (kafka_parse, then
 * topic_config_check) before anything is applied, then written with
 * topic_set_config, which rewrites the .topic file: the mount's xattrs show
 * the change at once and it survives a restart.  Every resource is
 * answered on its own; a refused one changes nothing.
 *
 * Requests are read twice: once to check that they parse and to find the
 * flags that follow the resources (IncludeSynonyms, ValidateOnly), once to
 * answer.  A request that does not parse closes the connection.
 *
 * Thread-safety: server thread only.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "srv_internal.h"

/* Kafka's resource types and config sources, and ConfigType (v3+). */
enum { RES_TOPIC = 2, RES_BROKER = 4 };
enum { SRC_DYNAMIC_TOPIC = 1, SRC_STATIC_BROKER = 4, SRC_DEFAULT = 5 };
enum { CT_BOOLEAN = 1, CT_STRING = 2, CT_INT = 3, CT_LONG = 5, CT_LIST = 7 };
/* IncrementalAlterConfigs operations. */
enum { OP_SET = 0, OP_DELETE = 1, OP_APPEND = 2, OP_SUBTRACT = 3 };
/* Error codes of these APIs (Kafka's INVALID_CONFIG, INVALID_REQUEST). */
enum { CFG_INVALID_CONFIG = 40, CFG_INVALID_REQUEST = 42 };

#define CFG_MAX_ENTRIES 48
#define KAFKA_LONG_MAX "9223372036854775807"

/* The C type of every setting, from the table: INT or LONG (or STRING for
 * the codec) for ConfigType. */
static const struct {
	const char *key;
	size_t size;
} setting_sizes[] = {
#define TS_SIZE_(member, ctype, kind, key, ...) { key, sizeof(ctype) },
	TOPIC_SETTINGS(TS_SIZE_)
#undef TS_SIZE_
};

static int8_t setting_type(const struct topic_setting *s)
{
	if (s->kind == TS_CODEC || s->kind == TS_FRAMING)
		return CT_STRING;
	for (size_t i = 0; i < sizeof setting_sizes / sizeof setting_sizes[0]; i++)
		if (!strcmp(setting_sizes[i].key, s->name))
			return setting_sizes[i].size == 8 ? CT_LONG : CT_INT;
	return CT_LONG;
}

/* flush.messages and flush.ms: "never" is 0 here, Long.MAX_VALUE in Kafka. */
static bool setting_zero_is_never(const struct topic_setting *s)
{
	return !strcmp(s->name, "flush_messages") || !strcmp(s->name, "flush_ms");
}

/* s's value in cfg as Kafka writes it. */
static void kafka_format(const struct topic_config *cfg,
                         const struct topic_setting *s, char *buf, size_t len)
{
	int64_t v = topic_setting_get(cfg, s);
	if (setting_zero_is_never(s) && v == 0) {
		snprintf(buf, len, "%s", KAFKA_LONG_MAX);
		return;
	}
	if (s->kind == TS_CODEC && v == CODEC_NONE) {
		snprintf(buf, len, "uncompressed");
		return;
	}
	if (topic_setting_format(cfg, s, buf, len) < 0)
		snprintf(buf, len, "%" PRId64, v);
}

/* Parse a Kafka value text for s into cfg (Kafka's syntax: a plain decimal
 * integer; Long.MAX_VALUE is "never" for the flush settings, where 0, which
 * means "never" here but not in Kafka, is refused).  0 or -EINVAL with a
 * reason in why. */
static int kafka_parse(struct topic_config *cfg, const struct topic_setting *s,
                       const char *text, char *why, size_t why_len)
{
	char *end;
	int64_t v;
	if (s->kind == TS_CODEC || s->kind == TS_FRAMING) {
		snprintf(why, why_len, "%s is fixed at the topic's creation",
		         s->kafka_name);
		return -EINVAL;
	}
	errno = 0;
	v = strtoll(text, &end, 10);
	if (!*text || *end || errno) {
		snprintf(why, why_len, "Invalid value %s for configuration %s: Not a "
		         "number of type %s", text, s->kafka_name,
		         setting_type(s) == CT_INT ? "INT" : "LONG");
		return -EINVAL;
	}
	if (setting_zero_is_never(s)) {
		if (v == 0) {
			snprintf(why, why_len, "Invalid value 0 for configuration %s: "
			         "use %s for never (0 is not accepted)", s->kafka_name,
			         KAFKA_LONG_MAX);
			return -EINVAL;
		}
		if (v == INT64_MAX)
			v = 0;
	}
	char w[200];
	if (topic_setting_set(cfg, s, v, w, sizeof w) < 0) {
		/* the reason after the value, cut to why_len if need be */
		int k = snprintf(why, why_len, "Invalid value %s for configuration %s: ",
		                 text, s->kafka_name);
		if (k > 0 && (size_t)k < why_len)
			snprintf(why + k, why_len - (size_t)k, "%s", w);
		return -EINVAL;
	}
	return 0;
}

/* The fixed read-only topic entries (Kafka's behaviour here). */
static const struct {
	const char *name, *value;
	int8_t type;
	const char *doc;
} fixed_topic[] = {
	{ "cleanup.policy", "delete", CT_LIST,
	  "old segments are deleted by retention; no compaction" },
	{ "min.insync.replicas", "1", CT_INT, "a single broker, no replication" },
	{ "message.timestamp.type", "CreateTime", CT_STRING,
	  "record timestamps are the producer's" },
};
#define NFIXED (sizeof fixed_topic / sizeof fixed_topic[0])

/* One config entry of a DescribeConfigs answer. */
struct cfg_entry {
	const char *name;
	char value[320];
	bool read_only;
	int8_t source;
	int8_t type;
	const char *doc;
};

/* ------------------------------- requests ------------------------------- */

/* Copy a wire string into a C string; false when null, too long or holding
 * a NUL. */
static bool str_copy(char *dst, size_t dst_len, const char *s, int len)
{
	if (!s || len < 0 || (size_t)len >= dst_len || memchr(s, '\0', (size_t)len))
		return false;
	memcpy(dst, s, (size_t)len);
	dst[len] = '\0';
	return true;
}

static bool str_eq(const char *s, int len, const char *c)
{
	return s && len >= 0 && strlen(c) == (size_t)len && !memcmp(s, c, (size_t)len);
}

/* The broker resource is this broker: "0" or "" (the default broker). */
static bool broker_name_ok(const char *s, int len)
{
	return s && (len == 0 || str_eq(s, len, "0"));
}

/* The topic named on the wire, or an error code (and message). */
static int16_t topic_resolve(struct srv *s, const char *name, int len,
                             struct topic **out, char *msg, size_t msg_len)
{
	char buf[256];
	*out = NULL;
	if (!str_copy(buf, sizeof buf, name, len) || topic_name_check(buf) != 0) {
		snprintf(msg, msg_len, "invalid topic name");
		return KERR_INVALID_TOPIC_EXCEPTION;
	}
	if (store_topic_get(s->st, buf, out) != 0) {
		snprintf(msg, msg_len, "topic %s does not exist", buf);
		return KERR_UNKNOWN_TOPIC_OR_PARTITION;
	}
	return KERR_NONE;
}

/* ============================ DescribeConfigs ============================= */

/* Is name in the ConfigurationKeys filter (null: everything)? */
static bool key_wanted(const struct kw_reader *keys_at, int32_t nkeys, bool flex,
                       const char *name)
{
	if (nkeys < 0)
		return true;
	struct kw_reader r = *keys_at;
	for (int32_t i = 0; i < nkeys; i++) {
		const char *k;
		int kl;
		kw_vstr(&r, flex, &k, &kl);
		if (!r.err && str_eq(k, kl, name))
			return true;
	}
	return false;
}

static size_t topic_entries(struct srv *s, struct topic *t, struct cfg_entry *e)
{
	struct topic_config cur;
	const struct topic_config *def = &s->cfg.topic_defaults;
	size_t n = 0;
	topic_get_config(t, &cur);
	for (size_t i = 0; i < topic_setting_count() && n < CFG_MAX_ENTRIES; i++) {
		const struct topic_setting *ts = topic_setting_at(i);
		if (!ts->kafka_name)
			continue;
		struct cfg_entry *x = &e[n++];
		x->name = ts->kafka_name;
		kafka_format(&cur, ts, x->value, sizeof x->value);
		x->read_only = ts->change != TS_DYNAMIC;
		x->source = topic_setting_get(&cur, ts) != topic_setting_get(def, ts)
		            ? SRC_DYNAMIC_TOPIC : SRC_DEFAULT;
		x->type = setting_type(ts);
		x->doc = ts->doc;
	}
	for (size_t i = 0; i < NFIXED && n < CFG_MAX_ENTRIES; i++) {
		struct cfg_entry *x = &e[n++];
		x->name = fixed_topic[i].name;
		snprintf(x->value, sizeof x->value, "%s", fixed_topic[i].value);
		x->read_only = true;
		x->source = SRC_DEFAULT;
		x->type = fixed_topic[i].type;
		x->doc = fixed_topic[i].doc;
	}
	return n;
}

static void broker_entry(struct cfg_entry *e, size_t *n, const char *name,
                         int8_t type, bool is_default, const char *doc,
                         const char *fmt, ...) __attribute__((format(printf, 7, 8)));

#include <stdarg.h>
static void broker_entry(struct cfg_entry *e, size_t *n, const char *name,
                         int8_t type, bool is_default, const char *doc,
                         const char *fmt, ...)
{
	if (*n >= CFG_MAX_ENTRIES)
		return;
	struct cfg_entry *x = &e[(*n)++];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(x->value, sizeof x->value, fmt, ap);
	va_end(ap);
	x->name = name;
	x->read_only = true;
	x->source = is_default ? SRC_DEFAULT : SRC_STATIC_BROKER;
	x->type = type;
	x->doc = doc;
}

/* The daemon's settings that have Kafka broker equivalents (read-only). */
static size_t broker_entries(struct srv *s, struct cfg_entry *e)
{
	const struct srv_config *c = &s->cfg;
	const struct topic_config *td = &c->topic_defaults;
	struct srv_config d;
	size_t n = 0;
	char v[64];
	srv_config_defaults(&d);
	const struct topic_config *dd = &d.topic_defaults;
	broker_entry(e, &n, "broker.id", CT_INT, true, "a single broker, node 0",
	             "0");
	broker_entry(e, &n, "advertised.listeners", CT_STRING,
	             !c->advertised_host[0] && !c->advertised_port,
	             "[net] advertised_host, else the listen address",
	             "PLAINTEXT://%s:%d", s->adv_host, s->adv_port);
	broker_entry(e, &n, "num.partitions", CT_INT,
	             td->partitions == dd->partitions,
	             "[fs] default_partitions: partitions of a new topic", "%d",
	             (int)td->partitions);
	broker_entry(e, &n, "auto.create.topics.enable", CT_BOOLEAN,
	             c->auto_create_topics == d.auto_create_topics,
	             "[net] auto_create_topics", "%s",
	             c->auto_create_topics ? "true" : "false");
	broker_entry(e, &n, "message.max.bytes", CT_INT,
	             td->max_message_bytes == dd->max_message_bytes,
	             "[storage] max_message_bytes of new topics", "%d",
	             (int)td->max_message_bytes);
	broker_entry(e, &n, "log.retention.ms", CT_LONG,
	             td->retention_ms == dd->retention_ms,
	             "[storage] retention_ms of new topics", "%" PRId64,
	             (int64_t)td->retention_ms);
	broker_entry(e, &n, "log.retention.bytes", CT_LONG,
	             td->retention_bytes == dd->retention_bytes,
	             "[storage] retention_bytes of new topics", "%" PRId64,
	             (int64_t)td->retention_bytes);
	broker_entry(e, &n, "log.segment.bytes", CT_INT,
	             td->segment_bytes == dd->segment_bytes,
	             "[storage] segment_bytes of new topics", "%" PRId64,
	             (int64_t)td->segment_bytes);
	broker_entry(e, &n, "log.roll.ms", CT_LONG,
	             td->segment_ms == dd->segment_ms,
	             "[storage] segment_ms of new topics", "%" PRId64,
	             (int64_t)td->segment_ms);
	snprintf(v, sizeof v, "%" PRId64, (int64_t)td->flush_messages);
	broker_entry(e, &n, "log.flush.interval.messages", CT_LONG,
	             td->flush_messages == dd->flush_messages,
	             "[storage] flush_messages of new topics", "%s",
	             td->flush_messages ? v : KAFKA_LONG_MAX);
	snprintf(v, sizeof v, "%" PRId64, (int64_t)td->flush_ms);
	broker_entry(e, &n, "log.flush.interval.ms", CT_LONG,
	             td->flush_ms == dd->flush_ms,
	             "[storage] flush_ms of new topics", "%s",
	             td->flush_ms ? v : KAFKA_LONG_MAX);
	broker_entry(e, &n, "queued.max.request.bytes", CT_LONG,
	             c->queued_max_request_bytes == d.queued_max_request_bytes,
	             "[net] queued_max_request_bytes", "%" PRId64,
	             c->queued_max_request_bytes);
	broker_entry(e, &n, "socket.request.max.bytes", CT_INT,
	             c->max_request_bytes == d.max_request_bytes,
	             "[net] max_request_bytes", "%" PRId64, c->max_request_bytes);
	broker_entry(e, &n, "max.connections", CT_INT,
	             c->max_connections == d.max_connections,
	             "[net] max_connections", "%d", c->max_connections);
	broker_entry(e, &n, "connections.max.idle.ms", CT_LONG,
	             c->idle_timeout_ms == d.idle_timeout_ms,
	             "[net] idle_timeout_ms", "%d", c->idle_timeout_ms);
	broker_entry(e, &n, "log.message.timestamp.after.max.ms", CT_LONG,
	             c->message_timestamp_after_max_ms ==
	             d.message_timestamp_after_max_ms,
	             "[storage] message_timestamp_after_max_ms", "%" PRId64,
	             c->message_timestamp_after_max_ms < 0
	             ? INT64_MAX : c->message_timestamp_after_max_ms);
	return n;
}

/* Read one DescribeConfigs resource; keys_at/nkeys: its ConfigurationKeys. */
static void describe_resource_read(struct kw_reader *r, bool flex, int8_t *type,
                                   const char **name, int *nl,
                                   struct kw_reader *keys_at, int32_t *nkeys)
{
	const char *k;
	int kl;
	*type = kw_i8(r);
	kw_vstr(r, flex, name, nl);
	*nkeys = kw_varray(r, flex, flex ? 1 : 2, true);
	*keys_at = *r;
	for (int32_t j = 0; j < *nkeys && !r->err; j++)
		kw_vstr(r, flex, &k, &kl);
	kw_vtags(r, flex);
}

static enum srv_verdict api_describe_configs(struct srv *s, const struct srv_req *req,
                                             struct srv_resp *resp, int *park_ms,
                                             char *why, size_t why_len)
{
	int v = req->api_version;
	bool flex = req->flexible;
	struct kw_reader r, keys_at;
	struct kw_writer *w = &resp->w;
	int8_t type;
	const char *name;
	int nl;
	int32_t nres, nkeys;
	bool synonyms = false, docs = false;
	(void)park_ms;

	kw_reader_init(&r, req->body, req->body_len);
	nres = kw_varray(&r, flex, flex ? 4 : 7, false);
	for (int32_t i = 0; i < nres && !r.err; i++)
		describe_resource_read(&r, flex, &type, &name, &nl, &keys_at, &nkeys);
	if (v >= 1)
		synonyms = kw_i8(&r) != 0;
	if (v >= 3)
		docs = kw_i8(&r) != 0;
	kw_vtags(&r, flex);
	if (r.err)
		return srv_malformed(req, why, why_len);

	struct cfg_entry *e = calloc(CFG_MAX_ENTRIES, sizeof *e);
	if (!e) {
		snprintf(why, why_len, "out of memory");
		return SRV_CLOSE;
	}
	srv_resp_begin_req(resp, req);
	kw_put_i32(w, 0);                           /* ThrottleTimeMs */
	kw_put_varray(w, flex, nres);
	kw_reader_init(&r, req->body, req->body_len);
	kw_varray(&r, flex, 1, false);
	for (int32_t i = 0; i < nres; i++) {
		describe_resource_read(&r, flex, &type, &name, &nl, &keys_at, &nkeys);
		int16_t err = KERR_NONE;
		char msg[300] = "";
		size_t n = 0;
		struct topic *t = NULL;
		if (type == RES_TOPIC && !srv_authorize_wire(s, req, ACL_RES_TOPIC,
		                 name, nl, ACL_OP_DESCRIBE_CONFIGS)) {       /* ACL */
			err = KERR_TOPIC_AUTHORIZATION_FAILED;
			snprintf(msg, sizeof msg, "Authorization failed.");
		} else if (type == RES_BROKER && !srv_authorize_cluster(s, req,
		                 ACL_OP_DESCRIBE_CONFIGS)) {                 /* ACL */
			err = KERR_CLUSTER_AUTHORIZATION_FAILED;
			snprintf(msg, sizeof msg, "Cluster authorization failed.");
		} else if (type == RES_TOPIC) {
			err = topic_resolve(s, name, nl, &t, msg, sizeof msg);
			if (t) {
				n = topic_entries(s, t, e);
				topic_put(t);
			}
		} else if (type == RES_BROKER) {
			if (broker_name_ok(name, nl)) {
				n = broker_entries(s, e);
			} else {
				err = CFG_INVALID_REQUEST;
				snprintf(msg, sizeof msg, "unknown broker (this is broker 0)");
			}
		} else {
			err = CFG_INVALID_REQUEST;
			snprintf(msg, sizeof msg, "resource type %d is not served (topic "
			         "2 and broker 4 are)", type);
		}
		size_t keep = 0;
		for (size_t j = 0; j < n; j++)
			if (key_wanted(&keys_at, nkeys, flex, e[j].name))
				e[keep++] = e[j];
		kw_put_i16(w, err);
		kw_put_vcstr(w, flex, err ? msg : NULL);
		kw_put_i8(w, type);
		kw_put_vstr(w, flex, name, nl);
		kw_put_varray(w, flex, (int32_t)keep);
		for (size_t j = 0; j < keep; j++) {
			const struct cfg_entry *x = &e[j];
			kw_put_vcstr(w, flex, x->name);
			kw_put_vcstr(w, flex, x->value);
			kw_put_i8(w, x->read_only);
			if (v == 0)
				kw_put_i8(w, x->source == SRC_DEFAULT); /* IsDefault */
			else
				kw_put_i8(w, x->source);
			kw_put_i8(w, 0);                /* IsSensitive */
			if (v >= 1) {
				/* the value itself, as Kafka lists first */
				kw_put_varray(w, flex, synonyms ? 1 : 0);
				if (synonyms) {
					kw_put_vcstr(w, flex, x->name);
					kw_put_vcstr(w, flex, x->value);
					kw_put_i8(w, x->source);
					kw_put_vtags(w, flex);
				}
			}
			if (v >= 3) {
				kw_put_i8(w, x->type);
				kw_put_vcstr(w, flex, docs ? x->doc : NULL);
			}
			kw_put_vtags(w, flex);
		}
		kw_put_vtags(w, flex);
	}
	kw_put_vtags(w, flex);
	free(e);
	return SRV_RESPOND;
}

/* ===================== AlterConfigs, IncrementalAlterConfigs ============== */

/* Apply one change to cfg (the copy being built): value NULL = back to the
 * daemon's default.  0, or a Kafka error code with msg. */
static int16_t change_one(struct srv *s, struct topic_config *cfg, const char *key,
                          int kl, const char *val, int vl, char *msg,
                          size_t msg_len)
{
	char k[256], text[256];
	if (!str_copy(k, sizeof k, key, kl)) {
		snprintf(msg, msg_len, "invalid config name");
		return CFG_INVALID_CONFIG;
	}
	const struct topic_setting *ts = topic_setting_find(k);
	if (!ts || !ts->kafka_name || strcmp(ts->kafka_name, k)) {
		for (size_t i = 0; i < NFIXED; i++)
			if (!strcmp(fixed_topic[i].name, k)) {
				snprintf(msg, msg_len, "%s is read-only here (always %s)",
				         k, fixed_topic[i].value);
				return CFG_INVALID_CONFIG;
			}
		snprintf(msg, msg_len, "Unknown topic config name: %.200s", k);
		return CFG_INVALID_CONFIG;
	}
	if (ts->change != TS_DYNAMIC) {
		snprintf(msg, msg_len, "%s is read-only here (fixed at the topic's "
		         "creation)", ts->kafka_name);
		return CFG_INVALID_CONFIG;
	}
	if (!val) {
		topic_setting_set(cfg, ts, topic_setting_get(&s->cfg.topic_defaults, ts),
		                  NULL, 0);
		return KERR_NONE;
	}
	if (!str_copy(text, sizeof text, val, vl)) {
		snprintf(msg, msg_len, "invalid value for %s", ts->kafka_name);
		return CFG_INVALID_CONFIG;
	}
	if (kafka_parse(cfg, ts, text, msg, msg_len) < 0)
		return CFG_INVALID_CONFIG;
	return KERR_NONE;
}

/* Read one resource of either request; with t/cfg set, also apply its
 * changes to *cfg and stop at the first refusal (*err, msg). */
static void alter_resource(struct srv *s, struct kw_reader *r, bool flex,
                           bool incremental, int8_t *type, const char **name,
                           int *nl, struct topic_config *cfg, int16_t *err,
                           char *msg, size_t msg_len)
{
	*type = kw_i8(r);
	kw_vstr(r, flex, name, nl);
	int32_t n = kw_varray(r, flex, flex ? 2 : 4, false);
	for (int32_t j = 0; j < n && !r->err; j++) {
		const char *k, *val;
		int kl, vl;
		int8_t op = OP_SET;
		kw_vstr(r, flex, &k, &kl);
		if (incremental)
			op = kw_i8(r);
		kw_vstr(r, flex, &val, &vl);
		kw_vtags(r, flex);
		if (r->err || !cfg || *err)
			continue;
		if (!k) {
			*err = CFG_INVALID_REQUEST;
			snprintf(msg, msg_len, "null config name");
		} else if (op == OP_APPEND || op == OP_SUBTRACT) {
			char kb[256];
			if (!str_copy(kb, sizeof kb, k, kl))
				kb[0] = '\0';
			*err = CFG_INVALID_CONFIG;
			snprintf(msg, msg_len, "%s operation on %.200s: only for list "
			         "configs, and none is alterable here",
			         op == OP_APPEND ? "APPEND" : "SUBTRACT", kb);
		} else if (op != OP_SET && op != OP_DELETE) {
			*err = CFG_INVALID_REQUEST;
			snprintf(msg, msg_len, "unknown config operation %d", op);
		} else if (op == OP_SET && !val && incremental) {
			*err = CFG_INVALID_REQUEST;
			snprintf(msg, msg_len, "null value for a SET operation");
		} else {
			*err = change_one(s, cfg, k, kl, op == OP_DELETE ? NULL : val,
			                  vl, msg, msg_len);
		}
	}
	kw_vtags(r, flex);
}

static enum srv_verdict alter_common(struct srv *s, const struct srv_req *req,
                                     struct srv_resp *resp, bool incremental,
                                     char *why, size_t why_len)
{
	bool flex = req->flexible;
	struct kw_reader r;
	struct kw_writer *w = &resp->w;
	int8_t type;
	const char *name;
	int nl;
	int16_t err;
	char msg[400];
	int32_t nres;
	bool validate_only;

	kw_reader_init(&r, req->body, req->body_len);
	nres = kw_varray(&r, flex, flex ? 4 : 7, false);
	for (int32_t i = 0; i < nres && !r.err; i++) {
		err = 0;
		alter_resource(s, &r, flex, incremental, &type, &name, &nl, NULL,
		               &err, msg, sizeof msg);
	}
	validate_only = kw_i8(&r) != 0;
	kw_vtags(&r, flex);
	if (r.err)
		return srv_malformed(req, why, why_len);

	srv_resp_begin_req(resp, req);
	kw_put_i32(w, 0);                           /* ThrottleTimeMs */
	kw_put_varray(w, flex, nres);
	kw_reader_init(&r, req->body, req->body_len);
	kw_varray(&r, flex, 1, false);
	for (int32_t i = 0; i < nres; i++) {
		struct kw_reader at = r;
		struct topic *t = NULL;
		struct topic_config cur, cfg;
		err = KERR_NONE;
		msg[0] = '\0';
		/* peek at the type and name */
		type = kw_i8(&at);
		kw_vstr(&at, flex, &name, &nl);
		if (type == RES_TOPIC && !srv_authorize_wire(s, req, ACL_RES_TOPIC,
		                 name, nl, ACL_OP_ALTER_CONFIGS)) {          /* ACL */
			err = KERR_TOPIC_AUTHORIZATION_FAILED;
			snprintf(msg, sizeof msg, "Authorization failed.");
		} else if (type == RES_BROKER && !srv_authorize_cluster(s, req,
		                 ACL_OP_ALTER_CONFIGS)) {                    /* ACL */
			err = KERR_CLUSTER_AUTHORIZATION_FAILED;
			snprintf(msg, sizeof msg, "Cluster authorization failed.");
		} else if (type == RES_TOPIC) {
			err = topic_resolve(s, name, nl, &t, msg, sizeof msg);
		} else if (type == RES_BROKER) {
			err = CFG_INVALID_REQUEST;
			snprintf(msg, sizeof msg, "broker configs are read-only here: "
			         "set them in the daemon's configuration file");
		} else {
			err = CFG_INVALID_REQUEST;
			snprintf(msg, sizeof msg, "resource type %d is not served (topic "
			         "2 is)", type);
		}
		if (t) {
			topic_get_config(t, &cur);
			cfg = cur;
			if (!incremental) {
				/* AlterConfigs replaces the whole dynamic config:
				 * what is not given goes back to the default */
				for (size_t j = 0; j < topic_setting_count(); j++) {
					const struct topic_setting *ts = topic_setting_at(j);
					if (ts->kafka_name && ts->change == TS_DYNAMIC)
						topic_setting_set(&cfg, ts,
						    topic_setting_get(&s->cfg.topic_defaults, ts),
						    NULL, 0);
				}
			}
		}
		alter_resource(s, &r, flex, incremental, &type, &name, &nl,
		               t ? &cfg : NULL, &err, msg, sizeof msg);
		if (t && !err) {
			const char *cw = NULL;
			if (topic_config_check(&cfg, &cw) < 0) {
				err = CFG_INVALID_CONFIG;
				snprintf(msg, sizeof msg, "%s", cw ? cw : "invalid config");
			} else if (!validate_only &&
			           memcmp(&cfg, &cur, sizeof cfg) != 0) {
				int rc = topic_set_config(t, &cfg);
				if (rc) {
					err = rc == -EINVAL ? CFG_INVALID_CONFIG
					                    : kw_err_from_errno(rc, false);
					snprintf(msg, sizeof msg, "topic_set_config: %s",
					         strerror(-rc));
				} else {
					char tn[256];
					str_copy(tn, sizeof tn, name, nl);
					srv_log(s, "%s: topic %s: config changed by %s",
					        srv_api_name(req->api_key), tn,
					        incremental ? "a set/delete" : "a replace");
				}
			}
		}
		if (t)
			topic_put(t);
		kw_put_i16(w, err);
		kw_put_vcstr(w, flex, err ? msg : NULL);
		kw_put_i8(w, type);
		kw_put_vstr(w, flex, name, nl);
		kw_put_vtags(w, flex);
	}
	kw_put_vtags(w, flex);
	return SRV_RESPOND;
}

static enum srv_verdict api_alter_configs(struct srv *s, const struct srv_req *req,
                                          struct srv_resp *resp, int *park_ms,
                                          char *why, size_t why_len)
{
	(void)park_ms;
	return alter_common(s, req, resp, false, why, why_len);
}

static enum srv_verdict api_incremental_alter_configs(struct srv *s,
                                                      const struct srv_req *req,
                                                      struct srv_resp *resp,
                                                      int *park_ms, char *why,
                                                      size_t why_len)
{
	(void)park_ms;
	return alter_common(s, req, resp, true, why, why_len);
}

enum srv_verdict srv_api_describe_configs(struct srv *s, const struct srv_req *req,
                                          struct srv_resp *resp, int *park_ms,
                                          char *why, size_t why_len)
{
	return api_describe_configs(s, req, resp, park_ms, why, why_len);
}

enum srv_verdict srv_api_alter_configs(struct srv *s, const struct srv_req *req,
                                       struct srv_resp *resp, int *park_ms,
                                       char *why, size_t why_len)
{
	return api_alter_configs(s, req, resp, park_ms, why, why_len);
}

enum srv_verdict srv_api_incremental_alter_configs(struct srv *s,
                                                   const struct srv_req *req,
                                                   struct srv_resp *resp,
                                                   int *park_ms, char *why,
                                                   size_t why_len)
{
	return api_incremental_alter_configs(s, req, resp, park_ms, why, why_len);
}
