/*
 * srv_admin.c - the Kafka admin APIs of the topicfs server: CreateTopics,
 * DeleteTopics, CreatePartitions, DeleteRecords, DescribeCluster and
 * OffsetForLeaderEpoch (docs/PROTOCOL.md, "Admin APIs").  Registered in
 * the dispatch table srv_apis (srv_api.c).
 *
 * DESIGN
 *
 * As in srv_api.c, every handler reads its whole request once to check that
 * it parses (a request that does not parse closes the connection before
 * anything changed), then reads it again while it acts and writes the
 * answer in request order.  Every array count is checked against the bytes
 * left (kw_varray) before it drives a loop or an allocation; names are
 * checked with topic_name_check before they reach the store.
 *
 * CreateTopics configs travel under Kafka's names through the settings
 * table (topic_settings.h), with the value syntax and translations that
 * DescribeConfigs/AlterConfigs use (srv_configs.c, docs/PROTOCOL.md):
 * plain decimal integers; compression.type "uncompressed" and "producer"
 * are our "none" (shown as "uncompressed"; producer batches are always
 * stored as sent), gzip is refused; flush.messages / flush.ms
 * Long.MAX_VALUE ("never" in Kafka) is our 0, and 0 is refused; the fixed
 * read-only configs (cleanup.policy=delete, min.insync.replicas=1,
 * message.timestamp.type=CreateTime) are accepted with their one value.
 *
 * Every change (topics created or deleted, partitions added, records
 * deleted) is logged at info level with the client's address and id.
 *
 * Thread-safety: server thread only.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "srv_internal.h"

#define KAFKA_LONG_MAX_TEXT "9223372036854775807"

/* Kafka's ConfigSource values (DescribeConfigs, CreateTopics v5+). */
enum {
	CFG_SRC_DYNAMIC_TOPIC = 1,
	CFG_SRC_DEFAULT = 5,
};

/* An admin action, at info level: who (address, client id) did what. */
static void admin_log(const struct srv_req *req, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void admin_log(const struct srv_req *req, const char *fmt, ...)
{
	char what[512], cid[128];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	srv_sanitize(cid, sizeof cid, req->client_id, req->client_id_len);
	tfs_log(TFS_LOG_INFO, "net: %s (client \"%s\"): %s",
	        req->peer ? req->peer : "?", cid, what);
}

/* The most partitions a topic may get through the admin APIs. */
static int64_t max_partitions(const struct srv *s)
{
	const struct topic_setting *st = topic_setting_find("partitions");
	int64_t m = st ? st->max : 100000;
	if (s->admin_max_partitions > 0 && s->admin_max_partitions < m)
		m = s->admin_max_partitions;
	return m;
}

static size_t store_count(struct srv *s)
{
	char **names = NULL;
	size_t n = 0;
	if (store_topic_list(s->st, &names, &n))
		return SIZE_MAX;        /* cannot tell: count as full */
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return n;
}

/* Duplicate names in one request (Kafka answers INVALID_REQUEST for each
 * copy).  names/lens: n wire names; dup[i] set for every name that occurs
 * more than once.  false when out of memory. */
struct name_ref {
	const char *s;
	int len;
	int32_t idx;
};

static int name_ref_cmp(const void *a, const void *b)
{
	const struct name_ref *x = a, *y = b;
	int n = x->len < y->len ? x->len : y->len;
	int c = n > 0 ? memcmp(x->s, y->s, (size_t)n) : 0;
	if (c)
		return c;
	return (x->len > y->len) - (x->len < y->len);
}

static void mark_dups(struct name_ref *refs, int32_t n, bool *dup)
{
	if (n < 2)
		return;
	qsort(refs, (size_t)n, sizeof *refs, name_ref_cmp);
	for (int32_t i = 1; i < n; i++) {
		if (refs[i].s && refs[i - 1].s &&
		    name_ref_cmp(&refs[i], &refs[i - 1]) == 0) {
			dup[refs[i].idx] = true;
			dup[refs[i - 1].idx] = true;
		}
	}
}

/* ============================== CreateTopics ============================== */

/* Parse one CreatableTopic; *cfg_pos / *ncfg locate its Configs. */
struct ct_topic {
	const char *name;
	int nl;
	int32_t nparts;
	int16_t rf;
	int32_t nassign;
	size_t cfg_pos;
	int32_t ncfg;
};

static void ct_read_topic(struct kw_reader *r, bool flex, struct ct_topic *ct)
{
	kw_vstr(r, flex, &ct->name, &ct->nl);
	ct->nparts = kw_i32(r);
	ct->rf = kw_i16(r);
	/* Assignments: [PartitionIndex, BrokerIds [int32], tags] */
	ct->nassign = kw_varray(r, flex, 4 + (flex ? 2 : 4), false);
	for (int32_t i = 0; i < ct->nassign && !r->err; i++) {
		kw_i32(r);
		int32_t nb = kw_varray(r, flex, 4, false);
		if (nb > 0)
			kw_skip(r, (size_t)nb * 4);
		kw_vtags(r, flex);
	}
	/* Configs: [Name, Value (nullable), tags] */
	ct->ncfg = kw_varray(r, flex, flex ? 3 : 4, false);
	ct->cfg_pos = r->pos;
	for (int32_t i = 0; i < ct->ncfg && !r->err; i++) {
		const char *s;
		int l;
		kw_vstr(r, flex, &s, &l);
		if (!s)
			r->err = true;              /* Name is not nullable */
		kw_vstr(r, flex, &s, &l);
		kw_vtags(r, flex);
	}
	kw_vtags(r, flex);
}

/* The read-only topic configs that always have one value here (the same
 * three DescribeConfigs lists): a CreateTopics may name them with that
 * value (clients often send cleanup.policy=delete), any other is refused. */
static const struct {
	const char *name, *value;
} fixed_cfg[] = {
	{ "cleanup.policy", "delete" },
	{ "min.insync.replicas", "1" },
	{ "message.timestamp.type", "CreateTime" },
};
#define NFIXED_CFG (sizeof fixed_cfg / sizeof fixed_cfg[0])

static bool zero_is_never(const struct topic_setting *st)
{
	return !strcmp(st->name, "flush_messages") || !strcmp(st->name, "flush_ms");
}

/* Apply one Kafka config (Kafka's name and value syntax, as AlterConfigs
 * takes them) to cfg; 0 or KERR_INVALID_CONFIG with msg. */
static int16_t ct_apply_config(struct topic_config *cfg, const char *name,
                               int nl, const char *val, int vl, char *msg,
                               size_t msg_len)
{
	char key[128], text[128], why[200];
	srv_sanitize(key, sizeof key, name, nl);
	bool exact = nl > 0 && (size_t)nl < sizeof key &&
	             strlen(key) == (size_t)nl && !memcmp(key, name, (size_t)nl);
	const struct topic_setting *st = exact ? topic_setting_find(key) : NULL;
	if (st && (!st->kafka_name || strcmp(st->kafka_name, key)))
		st = NULL;                              /* our own key names */
	bool text_ok = val && vl >= 0 && (size_t)vl < sizeof text &&
	               !memchr(val, '\0', (size_t)vl);
	if (text_ok) {
		memcpy(text, val, (size_t)vl);
		text[vl] = '\0';
	}
	if (!st) {
		for (size_t i = 0; exact && i < NFIXED_CFG; i++) {
			if (strcmp(fixed_cfg[i].name, key))
				continue;
			if (text_ok && !strcmp(text, fixed_cfg[i].value))
				return KERR_NONE;
			snprintf(msg, msg_len, "%s is read-only here (always %s)", key,
			         fixed_cfg[i].value);
			return KERR_INVALID_CONFIG;
		}
		snprintf(msg, msg_len, "Unknown topic config name: %s", key);
		return KERR_INVALID_CONFIG;
	}
	if (!val) {
		snprintf(msg, msg_len, "Null value not supported for topic config "
		         "%s", key);
		return KERR_INVALID_CONFIG;
	}
	if (!text_ok) {
		snprintf(msg, msg_len, "Invalid value for configuration %s", key);
		return KERR_INVALID_CONFIG;
	}
	int64_t v;
	if (st->kind == TS_CODEC) {
		if (!strcmp(text, "producer") || !strcmp(text, "uncompressed"))
			snprintf(text, sizeof text, "none");
		if (!strcmp(text, "gzip") ||
		    topic_setting_parse(cfg, st, text, why, sizeof why)) {
			snprintf(msg, msg_len, "Invalid value %s for configuration %s: "
			         "one of uncompressed, producer, snappy, lz4, zstd (no "
			         "gzip)", text, key);
			return KERR_INVALID_CONFIG;
		}
		return KERR_NONE;
	}
	char *end;
	errno = 0;
	v = strtoll(text, &end, 10);
	if (!text[0] || *end || errno) {
		snprintf(msg, msg_len, "Invalid value %s for configuration %s: Not a "
		         "number", text, key);
		return KERR_INVALID_CONFIG;
	}
	if (zero_is_never(st)) {
		if (v == 0) {
			snprintf(msg, msg_len, "Invalid value 0 for configuration %s: "
			         "use 9223372036854775807 for never", key);
			return KERR_INVALID_CONFIG;
		}
		if (v == INT64_MAX)
			v = 0;
	}
	if (topic_setting_set(cfg, st, v, why, sizeof why)) {
		snprintf(msg, msg_len, "Invalid value %s for configuration %s: %s",
		         text, key, why);
		return KERR_INVALID_CONFIG;
	}
	return KERR_NONE;
}

/* A setting's value as Kafka clients read it (as DescribeConfigs shows
 * it). */
static void config_value(const struct topic_config *cfg,
                         const struct topic_setting *st, char *buf, size_t len)
{
	int64_t v = topic_setting_get(cfg, st);
	if (st->kind == TS_CODEC && v == CODEC_NONE)
		snprintf(buf, len, "uncompressed");
	else if (zero_is_never(st) && v == 0)
		snprintf(buf, len, KAFKA_LONG_MAX_TEXT);
	else if (topic_setting_format(cfg, st, buf, len) < 0)
		buf[0] = '\0';
}

static void put_config(struct kw_writer *w, const char *name, const char *val,
                       bool read_only, int8_t src)
{
	kw_put_cstr_compact(w, name, (int)strlen(name));
	kw_put_cstr_compact(w, val, (int)strlen(val));
	kw_put_i8(w, read_only);                    /* ReadOnly */
	kw_put_i8(w, src);                          /* ConfigSource */
	kw_put_i8(w, 0);                            /* IsSensitive */
	kw_put_tags0(w);
}

/* The topic's configs as DescribeConfigs lists them: every setting with a
 * Kafka name, then the fixed ones.  Source: DYNAMIC_TOPIC_CONFIG when the
 * value differs from the daemon's topic defaults, else DEFAULT_CONFIG;
 * read-only: what cannot change after creation. */
static void ct_put_configs(struct kw_writer *w, const struct srv *s,
                           const struct topic_config *cfg)
{
	int32_t n = (int32_t)NFIXED_CFG;
	for (size_t i = 0; i < topic_setting_count(); i++)
		if (topic_setting_at(i)->kafka_name)
			n++;
	kw_put_carray(w, n);
	for (size_t i = 0; i < topic_setting_count(); i++) {
		const struct topic_setting *st = topic_setting_at(i);
		char val[64];
		if (!st->kafka_name)
			continue;
		config_value(cfg, st, val, sizeof val);
		bool dyn = topic_setting_get(cfg, st) !=
		           topic_setting_get(&s->cfg.topic_defaults, st);
		put_config(w, st->kafka_name, val, st->change != TS_DYNAMIC,
		           dyn ? CFG_SRC_DYNAMIC_TOPIC : CFG_SRC_DEFAULT);
	}
	for (size_t i = 0; i < NFIXED_CFG; i++)
		put_config(w, fixed_cfg[i].name, fixed_cfg[i].value, true,
		           CFG_SRC_DEFAULT);
}

enum srv_verdict srv_api_create_topics(struct srv *s, const struct srv_req *req,
                                       struct srv_resp *resp, int *park_ms,
                                       char *why, size_t why_len)
{
	int v = req->api_version;
	bool flex = req->flexible;
	struct kw_reader r;
	struct kw_writer *w = &resp->w;
	(void)park_ms;

	/* pass 1: the whole request parses */
	kw_reader_init(&r, req->body, req->body_len);
	int32_t ntopics = kw_varray(&r, flex, flex ? 10 : 16, false);
	size_t topics_pos = r.pos;
	struct ct_topic ct;
	for (int32_t i = 0; i < ntopics && !r.err; i++)
		ct_read_topic(&r, flex, &ct);
	kw_i32(&r);                                 /* timeoutMs: ignored */
	bool validate_only = v >= 1 ? kw_i8(&r) != 0 : false;
	kw_vtags(&r, flex);
	if (r.err)
		return srv_malformed(req, why, why_len);

	/* duplicates; ntopics is bounded by the bytes of the request */
	struct name_ref *refs = ntopics ? calloc((size_t)ntopics, sizeof *refs) : NULL;
	bool *dup = ntopics ? calloc((size_t)ntopics, sizeof *dup) : NULL;
	if (ntopics && (!refs || !dup)) {
		free(refs);
		free(dup);
		snprintf(why, why_len, "out of memory for a createtopics request");
		return SRV_CLOSE;
	}
	kw_reader_init(&r, req->body, req->body_len);
	r.pos = topics_pos;
	for (int32_t i = 0; i < ntopics; i++) {
		ct_read_topic(&r, flex, &ct);
		refs[i] = (struct name_ref){ ct.name, ct.nl, i };
	}
	mark_dups(refs, ntopics, dup);
	free(refs);

	srv_resp_begin_req(resp, req);
	if (v >= 2)
		kw_put_i32(w, 0);                       /* ThrottleTimeMs */
	kw_put_varray(w, flex, ntopics);
	size_t have = SIZE_MAX;                     /* topics in the store */
	int created = 0;
	int64_t max_parts = max_partitions(s);
	kw_reader_init(&r, req->body, req->body_len);
	r.pos = topics_pos;
	for (int32_t i = 0; i < ntopics; i++) {
		char name[256], msg[640] = "";
		int16_t err = KERR_NONE;
		struct topic_config cfg = s->cfg.topic_defaults;
		struct topic *t = NULL;
		uint8_t id[16] = { 0 };
		ct_read_topic(&r, flex, &ct);

		if (!srv_topic_name_copy(name, sizeof name, ct.name, ct.nl)) {
			char shown[64];
			srv_sanitize(shown, sizeof shown, ct.name, ct.nl);
			err = KERR_INVALID_TOPIC_EXCEPTION;
			snprintf(msg, sizeof msg, "Topic name \"%s\" is illegal: 1 to "
			         "249 characters of [a-zA-Z0-9._-], not \".\" or \"..\"",
			         shown);
		} else if (!srv_authorize_create_topic(s, req, name)) {    /* ACL */
			err = KERR_TOPIC_AUTHORIZATION_FAILED;
			snprintf(msg, sizeof msg, "Authorization failed.");
		} else if (dup[i]) {
			err = KERR_INVALID_REQUEST;
			snprintf(msg, sizeof msg, "Topic %s is named more than once in "
			         "the request", name);
		} else if (ct.nparts == 0 || ct.nparts < -1 ||
		           ct.nparts > max_parts) {
			err = KERR_INVALID_PARTITIONS;
			snprintf(msg, sizeof msg, "Number of partitions %d is invalid "
			         "(1 .. %lld, or -1 for the default %d)", ct.nparts,
			         (long long)max_parts,
			         s->cfg.topic_defaults.partitions);
		} else if (ct.rf != -1 && ct.rf != 1) {
			err = KERR_INVALID_REPLICATION_FACTOR;
			snprintf(msg, sizeof msg, "Replication factor %d is invalid: "
			         "topicfs is one broker (1 or -1)", ct.rf);
		} else if (ct.nassign > 0) {
			err = KERR_INVALID_REPLICA_ASSIGNMENT;
			snprintf(msg, sizeof msg, "Manual partition assignment is not "
			         "supported: topicfs is one broker (use NumPartitions)");
		}
		/* the configs */
		struct kw_reader cr;
		kw_reader_init(&cr, req->body, req->body_len);
		cr.pos = ct.cfg_pos;
		for (int32_t j = 0; j < ct.ncfg && !err; j++) {
			const char *cn, *cv;
			int cnl, cvl;
			kw_vstr(&cr, flex, &cn, &cnl);
			kw_vstr(&cr, flex, &cv, &cvl);
			kw_vtags(&cr, flex);
			err = ct_apply_config(&cfg, cn, cnl, cv, cvl, msg, sizeof msg);
		}
		if (!err) {
			const char *cwhy = NULL;
			if (ct.nparts > 0)
				cfg.partitions = ct.nparts;
			if (topic_config_check(&cfg, &cwhy)) {
				err = KERR_INVALID_CONFIG;
				snprintf(msg, sizeof msg, "Invalid topic configuration: %s",
				         cwhy ? cwhy : "out of bounds");
			}
		}
		if (!err) {
			struct topic *old = NULL;
			if (store_topic_get(s->st, name, &old) == 0) {
				topic_put(old);
				err = KERR_TOPIC_ALREADY_EXISTS;
				snprintf(msg, sizeof msg, "Topic '%s' already exists.", name);
			}
		}
		if (!err) {
			if (have == SIZE_MAX)
				have = store_count(s);
			if (have == SIZE_MAX ||
			    have + (size_t)created >= (size_t)s->cfg.auto_create_max_topics) {
				err = KERR_POLICY_VIOLATION;
				snprintf(msg, sizeof msg, "The store holds %d topics or more "
				         "([net] auto_create_max_topics): topic %s not "
				         "created", s->cfg.auto_create_max_topics, name);
			}
		}
		if (!err && !validate_only) {
			int rc = store_topic_create(s->st, name, &cfg, &t);
			if (rc == -EEXIST) {
				err = KERR_TOPIC_ALREADY_EXISTS;
				snprintf(msg, sizeof msg, "Topic '%s' already exists.", name);
			} else if (rc == -EINVAL) {
				err = KERR_INVALID_CONFIG;
				snprintf(msg, sizeof msg, "Invalid topic configuration");
			} else if (rc) {
				err = KERR_KAFKA_STORAGE_ERROR;
				snprintf(msg, sizeof msg, "Cannot create topic %s: %s", name,
				         strerror(-rc));
			} else {
				topic_id(t, id);
				topic_put(t);
				admin_log(req, "created topic %s (%d partitions)", name,
				          cfg.partitions);
			}
		}
		if (!err)
			created++;

		kw_put_vstr(w, flex, ct.name, ct.nl);
		if (v >= 7)
			kw_put_uuid(w, id);
		kw_put_i16(w, err);
		if (v >= 1)
			kw_put_vstr(w, flex, err ? msg : NULL, err ? (int)strlen(msg) : -1);
		if (v >= 5) {
			kw_put_i32(w, err ? -1 : cfg.partitions);
			kw_put_i16(w, err ? -1 : 1);        /* ReplicationFactor */
			if (err)
				kw_put_carray(w, 0);
			else
				ct_put_configs(w, s, &cfg);
		}
		kw_put_vtags(w, flex);
	}
	kw_put_vtags(w, flex);
	if (validate_only && ntopics > 0)
		admin_log(req, "validated %d topic creation(s) of %d (validate only)",
		          created, ntopics);
	free(dup);
	return SRV_RESPOND;
}

/* ============================== DeleteTopics ============================== */

enum srv_verdict srv_api_delete_topics(struct srv *s, const struct srv_req *req,
                                       struct srv_resp *resp, int *park_ms,
                                       char *why, size_t why_len)
{
	int v = req->api_version;
	bool flex = req->flexible;
	struct kw_reader r;
	struct kw_writer *w = &resp->w;
	(void)park_ms;

	kw_reader_init(&r, req->body, req->body_len);
	/* v6+: Topics [Name (nullable), TopicId, tags]; before: TopicNames */
	int32_t n = kw_varray(&r, flex, v >= 6 ? 1 + 16 + 1 : flex ? 1 : 2, false);
	size_t pos = r.pos;
	for (int32_t i = 0; i < n && !r.err; i++) {
		const char *nm;
		int nl;
		uint8_t id[16];
		kw_vstr(&r, flex, &nm, &nl);
		if (v >= 6) {
			kw_uuid(&r, id);
			kw_vtags(&r, flex);
		} else if (!nm) {
			r.err = true;
		}
	}
	kw_i32(&r);                                 /* TimeoutMs */
	kw_vtags(&r, flex);
	if (r.err)
		return srv_malformed(req, why, why_len);

	srv_resp_begin_req(resp, req);
	if (v >= 1)
		kw_put_i32(w, 0);                       /* ThrottleTimeMs */
	kw_put_varray(w, flex, n);
	kw_reader_init(&r, req->body, req->body_len);
	r.pos = pos;
	for (int32_t i = 0; i < n; i++) {
		const char *nm;
		int nl;
		uint8_t id[16] = { 0 };
		char name[256], msg[640] = "";
		int16_t err = KERR_NONE;
		struct topic *t = NULL;
		kw_vstr(&r, flex, &nm, &nl);
		if (v >= 6) {
			kw_uuid(&r, id);
			kw_vtags(&r, flex);
		}
		if (nm && !srv_authorize_wire(s, req, ACL_RES_TOPIC, nm, nl,
		                              ACL_OP_DELETE)) {             /* ACL */
			err = KERR_TOPIC_AUTHORIZATION_FAILED;
			snprintf(msg, sizeof msg, "Authorization failed.");
		} else if (nm) {
			if (srv_topic_name_copy(name, sizeof name, nm, nl))
				store_topic_get(s->st, name, &t);
			if (!t) {
				err = KERR_UNKNOWN_TOPIC_OR_PARTITION;
				snprintf(msg, sizeof msg, "This server does not host this "
				         "topic.");
			}
		} else {
			t = srv_topic_by_id(s, id);
			if (t && !srv_authorize(s, req, ACL_RES_TOPIC, topic_name(t),
			                        ACL_OP_DELETE)) {           /* ACL */
				topic_put(t);
				t = NULL;
				err = KERR_TOPIC_AUTHORIZATION_FAILED;
				snprintf(msg, sizeof msg, "Authorization failed.");
			} else if (t) {
				snprintf(name, sizeof name, "%s", topic_name(t));
				nm = topic_name(t);
				nl = (int)strlen(nm);
			} else {
				err = KERR_UNKNOWN_TOPIC_ID;
				snprintf(msg, sizeof msg, "This server does not host this "
				         "topic ID.");
			}
		}
		if (t) {
			topic_id(t, id);
			if (!s->cfg.allow_delete) {
				err = KERR_TOPIC_DELETION_DISABLED;
				snprintf(msg, sizeof msg, "Topic deletion is disabled "
				         "([fs] allow_delete = false).");
			}
		}
		if (!err) {
			int rc = store_topic_delete(s->st, name);
			if (rc == -ENOENT) {
				err = KERR_UNKNOWN_TOPIC_OR_PARTITION;
				snprintf(msg, sizeof msg, "This server does not host this "
				         "topic.");
			} else if (rc) {
				err = KERR_KAFKA_STORAGE_ERROR;
				snprintf(msg, sizeof msg, "Cannot delete topic %s: %s", name,
				         strerror(-rc));
			} else {
				admin_log(req, "deleted topic %s", name);
			}
		}
		/* the name is written while the reference keeps it alive */
		kw_put_vstr(w, flex, nm, nm ? nl : -1);
		if (t)
			topic_put(t);
		if (v >= 6)
			kw_put_uuid(w, id);
		kw_put_i16(w, err);
		if (v >= 5)
			kw_put_vstr(w, flex, err ? msg : NULL, err ? (int)strlen(msg) : -1);
		kw_put_vtags(w, flex);
	}
	kw_put_vtags(w, flex);
	return SRV_RESPOND;
}

/* ============================ CreatePartitions ============================ */

static void cp_read_topic(struct kw_reader *r, bool flex, const char **nm,
                          int *nl, int32_t *count, int32_t *nassign)
{
	kw_vstr(r, flex, nm, nl);
	*count = kw_i32(r);
	/* Assignments (nullable): [BrokerIds [int32], tags] */
	*nassign = kw_varray(r, flex, flex ? 2 : 4, true);
	for (int32_t i = 0; i < *nassign && !r->err; i++) {
		int32_t nb = kw_varray(r, flex, 4, false);
		if (nb > 0)
			kw_skip(r, (size_t)nb * 4);
		kw_vtags(r, flex);
	}
	kw_vtags(r, flex);
}

enum srv_verdict srv_api_create_partitions(struct srv *s,
                                           const struct srv_req *req,
                                           struct srv_resp *resp, int *park_ms,
                                           char *why, size_t why_len)
{
	bool flex = req->flexible;
	struct kw_reader r;
	struct kw_writer *w = &resp->w;
	const char *nm;
	int nl;
	int32_t count, nassign;
	(void)park_ms;

	kw_reader_init(&r, req->body, req->body_len);
	int32_t n = kw_varray(&r, flex, flex ? 1 + 4 + 1 + 1 : 2 + 4 + 4, false);
	size_t pos = r.pos;
	for (int32_t i = 0; i < n && !r.err; i++)
		cp_read_topic(&r, flex, &nm, &nl, &count, &nassign);
	kw_i32(&r);                                 /* TimeoutMs */
	bool validate_only = kw_i8(&r) != 0;
	kw_vtags(&r, flex);
	if (r.err)
		return srv_malformed(req, why, why_len);

	struct name_ref *refs = n ? calloc((size_t)n, sizeof *refs) : NULL;
	bool *dup = n ? calloc((size_t)n, sizeof *dup) : NULL;
	if (n && (!refs || !dup)) {
		free(refs);
		free(dup);
		snprintf(why, why_len, "out of memory for a createpartitions request");
		return SRV_CLOSE;
	}
	kw_reader_init(&r, req->body, req->body_len);
	r.pos = pos;
	for (int32_t i = 0; i < n; i++) {
		cp_read_topic(&r, flex, &nm, &nl, &count, &nassign);
		refs[i] = (struct name_ref){ nm, nl, i };
	}
	mark_dups(refs, n, dup);
	free(refs);

	int64_t max_parts = max_partitions(s);
	srv_resp_begin_req(resp, req);
	kw_put_i32(w, 0);                           /* ThrottleTimeMs */
	kw_put_varray(w, flex, n);
	kw_reader_init(&r, req->body, req->body_len);
	r.pos = pos;
	for (int32_t i = 0; i < n; i++) {
		char name[256], msg[640] = "";
		int16_t err = KERR_NONE;
		struct topic *t = NULL;
		cp_read_topic(&r, flex, &nm, &nl, &count, &nassign);
		if (srv_topic_name_copy(name, sizeof name, nm, nl))
			store_topic_get(s->st, name, &t);
		int32_t cur = t ? topic_partitions(t) : 0;
		if (dup[i]) {
			err = KERR_INVALID_REQUEST;
			snprintf(msg, sizeof msg, "Duplicate topic in the request.");
		} else if (!srv_authorize_wire(s, req, ACL_RES_TOPIC, nm, nl,
		                               ACL_OP_ALTER)) {             /* ACL */
			err = KERR_TOPIC_AUTHORIZATION_FAILED;
			snprintf(msg, sizeof msg, "Authorization failed.");
		} else if (!t) {
			err = KERR_UNKNOWN_TOPIC_OR_PARTITION;
			snprintf(msg, sizeof msg, "This server does not host this topic.");
		} else if (count == cur) {
			err = KERR_INVALID_PARTITIONS;
			snprintf(msg, sizeof msg, "Topic already has %d partitions.", cur);
		} else if (count < cur) {
			err = KERR_INVALID_PARTITIONS;
			snprintf(msg, sizeof msg, "Topic currently has %d partitions, "
			         "which is higher than the requested %d.", cur, count);
		} else if (count > max_parts) {
			err = KERR_INVALID_PARTITIONS;
			snprintf(msg, sizeof msg, "Requested %d partitions: at most %lld",
			         count, (long long)max_parts);
		} else if (nassign > 0) {
			err = KERR_INVALID_REPLICA_ASSIGNMENT;
			snprintf(msg, sizeof msg, "Manual partition assignment is not "
			         "supported: topicfs is one broker (leave it null)");
		} else if (!validate_only) {
			int rc = topic_add_partitions(t, count);
			if (rc == -EINVAL) {
				err = KERR_INVALID_PARTITIONS;
				snprintf(msg, sizeof msg, "Cannot grow topic %s to %d "
				         "partitions", name, count);
			} else if (rc == -ENOENT) {
				err = KERR_UNKNOWN_TOPIC_OR_PARTITION;
				snprintf(msg, sizeof msg, "This server does not host this "
				         "topic.");
			} else if (rc) {
				err = KERR_KAFKA_STORAGE_ERROR;
				snprintf(msg, sizeof msg, "Cannot add partitions to %s: %s",
				         name, strerror(-rc));
			} else {
				admin_log(req, "topic %s: partitions %d -> %d", name, cur,
				          count);
			}
		}
		if (t)
			topic_put(t);
		kw_put_vstr(w, flex, nm, nl);
		kw_put_i16(w, err);
		kw_put_vstr(w, flex, err ? msg : NULL, err ? (int)strlen(msg) : -1);
		kw_put_vtags(w, flex);
	}
	kw_put_vtags(w, flex);
	free(dup);
	return SRV_RESPOND;
}

/* ============================== DeleteRecords ============================= */

enum srv_verdict srv_api_delete_records(struct srv *s, const struct srv_req *req,
                                        struct srv_resp *resp, int *park_ms,
                                        char *why, size_t why_len)
{
	bool flex = req->flexible;
	struct kw_reader r;
	struct kw_writer *w = &resp->w;
	(void)park_ms;

	kw_reader_init(&r, req->body, req->body_len);
	size_t part_bytes = 4 + 8 + (flex ? 1 : 0);
	size_t topic_bytes = flex ? 1 + 1 + 1 : 2 + 4;
	int32_t n = kw_varray(&r, flex, topic_bytes, false);
	size_t pos = r.pos;
	for (int32_t i = 0; i < n && !r.err; i++) {
		const char *nm;
		int nl;
		kw_vstr(&r, flex, &nm, &nl);
		int32_t np = kw_varray(&r, flex, part_bytes, false);
		for (int32_t j = 0; j < np && !r.err; j++) {
			kw_i32(&r);
			kw_i64(&r);
			kw_vtags(&r, flex);
		}
		kw_vtags(&r, flex);
	}
	kw_i32(&r);                                 /* TimeoutMs */
	kw_vtags(&r, flex);
	if (r.err)
		return srv_malformed(req, why, why_len);

	srv_resp_begin_req(resp, req);
	kw_put_i32(w, 0);                           /* ThrottleTimeMs */
	kw_put_varray(w, flex, n);
	kw_reader_init(&r, req->body, req->body_len);
	r.pos = pos;
	for (int32_t i = 0; i < n; i++) {
		const char *nm;
		int nl;
		char name[256];
		struct topic *t = NULL;
		kw_vstr(&r, flex, &nm, &nl);
		int32_t np = kw_varray(&r, flex, part_bytes, false);
		bool denied = !srv_authorize_wire(s, req, ACL_RES_TOPIC, nm, nl,
		                                  ACL_OP_DELETE);           /* ACL */
		if (!denied && srv_topic_name_copy(name, sizeof name, nm, nl))
			store_topic_get(s->st, name, &t);
		kw_put_vstr(w, flex, nm, nl);
		kw_put_varray(w, flex, np);
		int moved = 0, failed = 0;
		for (int32_t j = 0; j < np; j++) {
			int32_t idx = kw_i32(&r);
			int64_t off = kw_i64(&r);
			kw_vtags(&r, flex);
			struct part *p = t ? topic_part(t, idx) : NULL;
			int16_t err = KERR_NONE;
			int64_t low = -1;
			if (!p) {
				err = denied ? KERR_TOPIC_AUTHORIZATION_FAILED
				             : KERR_UNKNOWN_TOPIC_OR_PARTITION;
			} else {
				struct part_info pi;
				part_info(p, &pi);
				if (off == -1)
					off = pi.next_offset;   /* the high watermark */
				if (off < 0 || off > pi.next_offset) {
					err = KERR_OFFSET_OUT_OF_RANGE;
				} else {
					int rc = part_delete_records(p, off, &low);
					if (rc) {
						err = rc == -ERANGE || rc == -EINVAL
						        ? KERR_OFFSET_OUT_OF_RANGE
						        : (int16_t)kw_err_from_errno(rc, true);
						low = -1;
					} else if (off > pi.log_start_offset) {
						moved++;
					}
				}
			}
			if (err)
				failed++;
			kw_put_i32(w, idx);
			kw_put_i64(w, low);                 /* LowWatermark */
			kw_put_i16(w, err);
			kw_put_vtags(w, flex);
		}
		if (moved)
			admin_log(req, "topic %s: deleted records in %d partition(s)%s",
			          name, moved, failed ? " (some refused)" : "");
		if (t)
			topic_put(t);
		kw_vtags(&r, flex);
		kw_put_vtags(w, flex);
	}
	kw_put_vtags(w, flex);
	return SRV_RESPOND;
}

/* ============================ DescribeCluster ============================= */

/* No ACLs: every cluster operation is allowed.  Kafka's AclOperation
 * codes as bits: CREATE 5, ALTER 7, DESCRIBE 8, CLUSTER_ACTION 9,
 * DESCRIBE_CONFIGS 10, ALTER_CONFIGS 11, IDEMPOTENT_WRITE 12. */
#define CLUSTER_OPS ((1 << 5) | (1 << 7) | (1 << 8) | (1 << 9) | (1 << 10) | \
                     (1 << 11) | (1 << 12))

enum srv_verdict srv_api_describe_cluster(struct srv *s,
                                          const struct srv_req *req,
                                          struct srv_resp *resp, int *park_ms,
                                          char *why, size_t why_len)
{
	int v = req->api_version;
	struct kw_reader r;
	struct kw_writer *w = &resp->w;
	int8_t endpoint = 1;                        /* brokers */
	(void)park_ms;

	kw_reader_init(&r, req->body, req->body_len);
	bool ops = kw_i8(&r) != 0;                  /* IncludeClusterAuthorizedOperations */
	if (v >= 1)
		endpoint = kw_i8(&r);
	kw_tags_skip(&r);
	if (r.err)
		return srv_malformed(req, why, why_len);

	srv_resp_begin_req(resp, req);
	kw_put_i32(w, 0);                           /* ThrottleTimeMs */
	if (endpoint != 1) {
		static const char m[] = "The request was sent to an endpoint of "
		                        "the wrong type (topicfs is a broker).";
		kw_put_i16(w, KERR_MISMATCHED_ENDPOINT_TYPE);
		kw_put_cstr_compact(w, m, (int)sizeof m - 1);
	} else if (!srv_authorize_cluster(s, req, ACL_OP_DESCRIBE)) {   /* ACL */
		static const char m[] = "Cluster authorization failed.";
		kw_put_i16(w, KERR_CLUSTER_AUTHORIZATION_FAILED);
		kw_put_cstr_compact(w, m, (int)sizeof m - 1);
	} else {
		kw_put_i16(w, KERR_NONE);
		kw_put_cstr_compact(w, NULL, -1);
	}
	if (v >= 1)
		kw_put_i8(w, endpoint);
	kw_put_cstr_compact(w, "topicfs", 7);       /* ClusterId, as Metadata */
	kw_put_i32(w, 0);                           /* ControllerId */
	kw_put_carray(w, 1);
	const char *adv_host;
	int adv_port;
	srv_advertised(s, req, &adv_host, &adv_port);  /* this listener's */
	kw_put_i32(w, 0);                           /* BrokerId */
	kw_put_cstr_compact(w, adv_host, (int)strlen(adv_host));
	kw_put_i32(w, adv_port);
	kw_put_cstr_compact(w, NULL, -1);           /* Rack */
	kw_put_tags0(w);
	kw_put_i32(w, ops ? CLUSTER_OPS : INT32_MIN);
	kw_put_tags0(w);
	return SRV_RESPOND;
}

/* ========================== OffsetForLeaderEpoch ========================== */

/* There is one leader epoch, 0, for ever: whatever epoch is asked, its end
 * is the partition's next offset.  (Metadata reports LeaderEpoch -1,
 * "unknown", so clients do not validate their positions with this API;
 * one that asks anyway learns that nothing diverged.) */
enum srv_verdict srv_api_offset_for_leader_epoch(struct srv *s,
                                                 const struct srv_req *req,
                                                 struct srv_resp *resp,
                                                 int *park_ms, char *why,
                                                 size_t why_len)
{
	int v = req->api_version;
	bool flex = req->flexible;
	struct kw_reader r;
	struct kw_writer *w = &resp->w;
	(void)park_ms;

	kw_reader_init(&r, req->body, req->body_len);
	if (v >= 3)
		kw_i32(&r);                             /* ReplicaId */
	size_t part_bytes = 4 + (v >= 2 ? 4 : 0) + 4 + (flex ? 1 : 0);
	int32_t n = kw_varray(&r, flex, flex ? 3 : 6, false);
	size_t pos = r.pos;
	for (int32_t i = 0; i < n && !r.err; i++) {
		const char *nm;
		int nl;
		kw_vstr(&r, flex, &nm, &nl);
		int32_t np = kw_varray(&r, flex, part_bytes, false);
		if (np > 0)
			for (int32_t j = 0; j < np && !r.err; j++) {
				kw_skip(&r, part_bytes - (flex ? 1 : 0));
				kw_vtags(&r, flex);
			}
		kw_vtags(&r, flex);
	}
	kw_vtags(&r, flex);
	if (r.err)
		return srv_malformed(req, why, why_len);

	srv_resp_begin_req(resp, req);
	if (v >= 2)
		kw_put_i32(w, 0);                       /* ThrottleTimeMs */
	kw_put_varray(w, flex, n);
	kw_reader_init(&r, req->body, req->body_len);
	r.pos = pos;
	for (int32_t i = 0; i < n; i++) {
		const char *nm;
		int nl;
		char name[256];
		struct topic *t = NULL;
		kw_vstr(&r, flex, &nm, &nl);
		int32_t np = kw_varray(&r, flex, part_bytes, false);
		bool denied = !srv_authorize_wire(s, req, ACL_RES_TOPIC, nm, nl,
		                                  ACL_OP_DESCRIBE);         /* ACL */
		if (!denied && srv_topic_name_copy(name, sizeof name, nm, nl))
			store_topic_get(s->st, name, &t);
		kw_put_vstr(w, flex, nm, nl);
		kw_put_varray(w, flex, np);
		for (int32_t j = 0; j < np; j++) {
			int32_t idx = kw_i32(&r);
			if (v >= 2)
				kw_i32(&r);                 /* CurrentLeaderEpoch */
			kw_i32(&r);                         /* LeaderEpoch */
			kw_vtags(&r, flex);
			struct part *p = t ? topic_part(t, idx) : NULL;
			int64_t end = -1;
			if (p) {
				struct part_info pi;
				part_info(p, &pi);
				end = pi.next_offset;
			}
			kw_put_i16(w, p ? KERR_NONE : denied
			           ? KERR_TOPIC_AUTHORIZATION_FAILED
			           : KERR_UNKNOWN_TOPIC_OR_PARTITION);
			kw_put_i32(w, idx);
			if (v >= 1)
				kw_put_i32(w, p ? 0 : -1);      /* LeaderEpoch */
			kw_put_i64(w, end);                 /* EndOffset */
			kw_put_vtags(w, flex);
		}
		if (t)
			topic_put(t);
		kw_vtags(&r, flex);
		kw_put_vtags(w, flex);
	}
	kw_put_vtags(w, flex);
	return SRV_RESPOND;
}
