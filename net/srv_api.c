/*
 * srv_api.c - the Kafka request handlers of the topicfs server: ApiVersions,
 * Metadata, ListOffsets, Fetch and Produce, with the request and response
 * layouts of docs/PROTOCOL.md, and the dispatch table.
 *
 * DESIGN
 *
 * Every handler parses its request with a bounds-checked kw_reader over the
 * body (borrowed from the connection) and writes its response into a
 * struct srv_resp in the same pass, in request order.  A request that does
 * not parse closes the connection (SRV_CLOSE), as Kafka does; per-partition
 * problems (unknown topic, offset out of range, a bad batch) are error codes
 * in the response.  Array counts are checked against the bytes left before
 * they drive any loop, so a hostile count costs nothing.
 *
 * Versions served: the dispatch table srv_apis below (API key, versions,
 * first flexible version, handler) is both what ApiVersions advertises and
 * what dispatch accepts; anything else closes the connection (the core logs
 * the refusal, rate-limited), except ApiVersions above its range, which
 * gets Kafka's fallback answer (v0 body, error 35, our ApiVersions range)
 * so the client retries with a version we speak.  One handler serves every
 * version of its API: req->flexible (set by srv_req_header_finish from the
 * table) picks compact types and tag buffers through the kw_v* helpers.
 * Produce v0-2 is advertised only because librdkafka's lz4 gate asks for
 * it; those old message formats are answered with
 * UNSUPPORTED_FOR_MESSAGE_FORMAT per partition.
 *
 * Fetch is the one handler that may not answer at once: srv_api_fetch builds
 * the answer from what is in the log now and, when it holds fewer than
 * MinBytes and MaxWaitMs > 0 and nothing failed, discards it and asks the
 * core to park (SRV_PARK); the core calls it again on every append and at
 * the deadline (final).  Records are queued as file slices (sendfile), never
 * copied.  Limits follow KIP-74: each partition gets min(PartMaxBytes,
 * remaining MaxBytes); part_fetch_slice returns whole batches with the
 * first always whole; after the first non-empty partition, a partition
 * whose first batch does not fit gets empty records.
 *
 * Storage errors become Kafka codes through kw_err_from_errno (kwire.c),
 * the one table.
 *
 * Thread-safety: server thread only.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "srv_internal.h"

#define SRV_TS_DECODE_MAX    (64u << 20)    /* bound for a ListOffsets decode */

/* Handlers, in the order of the dispatch table. */
static enum srv_verdict api_produce(struct srv *, const struct srv_req *,
                                    struct srv_resp *, int *, char *, size_t);
static enum srv_verdict api_fetch(struct srv *, const struct srv_req *,
                                  struct srv_resp *, int *, char *, size_t);
static enum srv_verdict api_list_offsets(struct srv *, const struct srv_req *,
                                         struct srv_resp *, int *, char *, size_t);
static enum srv_verdict api_metadata(struct srv *, const struct srv_req *,
                                     struct srv_resp *, int *, char *, size_t);
static enum srv_verdict api_versions(struct srv *, const struct srv_req *,
                                     struct srv_resp *, int *, char *, size_t);

/* The dispatch table (docs/PROTOCOL.md, "APIs and versions"): ApiVersions
 * advertises exactly these rows, dispatch accepts exactly these ranges.
 * Ranges are Apache Kafka 3.9's, from the oldest version a tested client
 * sends; flex_from is the schema's first flexibleVersions entry. */
static const struct srv_api srv_apis[] = {
	{ KAPI_PRODUCE, 0, 11, 9, "produce", api_produce },
	{ KAPI_FETCH, 4, 16, 12, "fetch", api_fetch },
	{ KAPI_LIST_OFFSETS, 0, 8, 6, "listoffsets", api_list_offsets },
	{ KAPI_METADATA, 0, 12, 9, "metadata", api_metadata },
	{ KAPI_FIND_COORDINATOR, 0, 4, 3, "findcoordinator",
	  srv_api_find_coordinator },               /* srv_offsets.c */
	{ KAPI_API_VERSIONS, 0, 4, 3, "apiversions", api_versions },
	{ KAPI_INIT_PRODUCER_ID, 0, 5, 2, "initproducerid",
	  srv_api_init_producer_id },               /* srv_idem.c */
	/* config APIs (srv_configs.c) */
	{ KAPI_DESCRIBE_CONFIGS, 0, 4, 4, "describeconfigs",
	  srv_api_describe_configs },
	{ KAPI_ALTER_CONFIGS, 0, 2, 2, "alterconfigs", srv_api_alter_configs },
	{ KAPI_INCREMENTAL_ALTER_CONFIGS, 0, 1, 1, "incrementalalterconfigs",
	  srv_api_incremental_alter_configs },
	/* admin APIs (srv_admin.c) */
	{ KAPI_CREATE_TOPICS, 0, 7, 5, "createtopics", srv_api_create_topics },
	{ KAPI_DELETE_TOPICS, 0, 6, 4, "deletetopics", srv_api_delete_topics },
	{ KAPI_DELETE_RECORDS, 0, 2, 2, "deleterecords", srv_api_delete_records },
	{ KAPI_OFFSET_FOR_LEADER_EPOCH, 0, 4, 4, "offsetforleaderepoch",
	  srv_api_offset_for_leader_epoch },
	{ KAPI_CREATE_PARTITIONS, 0, 3, 2, "createpartitions",
	  srv_api_create_partitions },
	{ KAPI_DESCRIBE_CLUSTER, 0, 1, 0, "describecluster",
	  srv_api_describe_cluster },
	/* consumer groups: membership (srv_group.c) */
	{ KAPI_JOIN_GROUP, 0, 9, 6, "joingroup", srv_api_join_group },
	{ KAPI_SYNC_GROUP, 0, 5, 4, "syncgroup", srv_api_sync_group },
	{ KAPI_HEARTBEAT, 0, 4, 4, "heartbeat", srv_api_heartbeat },
	{ KAPI_LEAVE_GROUP, 0, 5, 4, "leavegroup", srv_api_leave_group },
	{ KAPI_DESCRIBE_GROUPS, 0, 5, 5, "describegroups",
	  srv_api_describe_groups },
	{ KAPI_LIST_GROUPS, 0, 5, 3, "listgroups", srv_api_list_groups },
	{ KAPI_DELETE_GROUPS, 0, 2, 2, "deletegroups", srv_api_delete_groups },
	/* committed offsets (srv_offsets.c) */
	{ KAPI_OFFSET_COMMIT, 0, 9, 8, "offsetcommit", srv_api_offset_commit },
	{ KAPI_OFFSET_FETCH, 0, 9, 6, "offsetfetch", srv_api_offset_fetch },
	/* SASL (srv_sasl.c) */
	{ KAPI_SASL_HANDSHAKE, 0, 1, SRV_NEVER_FLEX, "saslhandshake",
	  srv_api_sasl_handshake },
	{ KAPI_SASL_AUTHENTICATE, 0, 2, 2, "saslauthenticate",
	  srv_api_sasl_authenticate },
	{ KAPI_OFFSET_DELETE, 0, 0, SRV_NEVER_FLEX, "offsetdelete",
	  srv_api_offset_delete },
	/* ACLs (srv_acl.c) */
	{ KAPI_DESCRIBE_ACLS, 0, 3, 2, "describeacls", srv_api_describe_acls },
	{ KAPI_CREATE_ACLS, 0, 3, 2, "createacls", srv_api_create_acls },
	{ KAPI_DELETE_ACLS, 0, 3, 2, "deleteacls", srv_api_delete_acls },
};
#define SRV_NAPIS (sizeof srv_apis / sizeof srv_apis[0])

const struct srv_api *srv_api_find(int16_t key)
{
	for (size_t i = 0; i < SRV_NAPIS; i++)
		if (srv_apis[i].key == key)
			return &srv_apis[i];
	return NULL;
}

const char *srv_api_name(int16_t key)
{
	const struct srv_api *a = srv_api_find(key);
	return a ? a->name : "api";
}

#define api_name(k) srv_api_name(k)

bool srv_req_header_finish(struct srv_req *req)
{
	const struct srv_api *a = srv_api_find(req->api_key);
	req->flexible = false;
	if (!a || req->api_version < a->min || req->api_version > a->max ||
	    req->api_version < a->flex_from)
		return true;
	struct kw_reader r;
	kw_reader_init(&r, req->body, req->body_len);
	kw_tags_skip(&r);                           /* request header v2 */
	if (r.err)
		return false;
	req->flexible = true;
	req->body += r.pos;
	req->body_len -= r.pos;
	return true;
}

bool srv_topic_name_copy(char *dst, size_t dst_len, const char *s, int len)
{
	if (!s || len <= 0 || (size_t)len >= dst_len)
		return false;
	memcpy(dst, s, (size_t)len);
	dst[len] = '\0';
	if (memchr(dst, '\0', (size_t)len))
		return false;
	return topic_name_check(dst) == 0;
}

/* Look a wire topic name up; NULL when unknown or invalid. */
static struct topic *topic_lookup(struct srv *s, const char *name, int len)
{
	char buf[256];
	struct topic *t = NULL;
	if (!srv_topic_name_copy(buf, sizeof buf, name, len))
		return NULL;
	if (store_topic_get(s->st, buf, &t) != 0)
		return NULL;
	return t;
}

enum srv_verdict srv_malformed(const struct srv_req *req, char *why, size_t why_len)
{
	snprintf(why, why_len, "malformed %s v%d request", api_name(req->api_key),
	         req->api_version);
	return SRV_CLOSE;
}

/* =============================== ApiVersions ============================== */

static enum srv_verdict api_versions(struct srv *s, const struct srv_req *req,
                                     struct srv_resp *resp, int *park_ms,
                                     char *why, size_t why_len)
{
	const struct srv_api *self = srv_api_find(KAPI_API_VERSIONS);
	struct kw_writer *w = &resp->w;
	int v = req->api_version;
	bool flex = req->flexible;
	(void)s;
	(void)park_ms;
	if (v > self->max) {
		/* Kafka's answer to a version it does not know: v0 body, header
		 * v0, UNSUPPORTED_VERSION and the ApiVersions range only; the
		 * body is not read (its layout is unknown). */
		srv_resp_begin(resp, req->correlation_id);
		kw_put_i16(w, KERR_UNSUPPORTED_VERSION);
		kw_put_i32(w, 1);
		kw_put_i16(w, KAPI_API_VERSIONS);
		kw_put_i16(w, self->min);
		kw_put_i16(w, self->max);
		return SRV_RESPOND;
	}
	if (v >= 3) {
		struct kw_reader r;
		const char *name, *ver;
		int nl, vl;
		kw_reader_init(&r, req->body, req->body_len);
		kw_cstr(&r, &name, &nl);                /* ClientSoftwareName */
		kw_cstr(&r, &ver, &vl);                 /* ClientSoftwareVersion */
		kw_tags_skip(&r);
		if (r.err)
			return srv_malformed(req, why, why_len);
		if (req->client) {
			srv_sanitize(req->client->software_name,
			             sizeof req->client->software_name, name, nl);
			srv_sanitize(req->client->software_version,
			             sizeof req->client->software_version, ver, vl);
		}
	}
	srv_resp_begin_req(resp, req);              /* header v0, always */
	kw_put_i16(w, KERR_NONE);
	kw_put_varray(w, flex, (int32_t)SRV_NAPIS);
	for (size_t i = 0; i < SRV_NAPIS; i++) {
		kw_put_i16(w, srv_apis[i].key);
		kw_put_i16(w, srv_apis[i].min);
		kw_put_i16(w, srv_apis[i].max);
		kw_put_vtags(w, flex);
	}
	if (v >= 1)
		kw_put_i32(w, 0);                       /* ThrottleTimeMs */
	kw_put_vtags(w, flex);  /* SupportedFeatures, FinalizedFeatures...: none */
	return SRV_RESPOND;
}

/* ================================ Metadata ================================ */

static const uint8_t zero_id[16];

static bool id_is_zero(const uint8_t id[16])
{
	return memcmp(id, zero_id, 16) == 0;
}

static int tid_cmp(const void *a, const void *b)
{
	return memcmp(((const struct srv_topic_id *)a)->id,
	              ((const struct srv_topic_id *)b)->id, 16);
}

/* Rebuild the id -> name cache from the store. */
static void topic_ids_build(struct srv *s)
{
	char **names = NULL;
	size_t count = 0, n = 0;
	srv_topic_ids_free(s);
	s->tids_built = true;
	s->tids_built_seq = s->req_seq;
	if (store_topic_list(s->st, &names, &count))
		return;
	struct srv_topic_id *tids = count ? calloc(count, sizeof *tids) : NULL;
	for (size_t i = 0; i < count; i++) {
		struct topic *t = NULL;
		if (tids && store_topic_get(s->st, names[i], &t) == 0) {
			topic_id(t, tids[n].id);
			topic_put(t);
			tids[n].name = names[i];
			names[i] = NULL;
			n++;
		}
		free(names[i]);
	}
	free(names);
	if (tids)
		qsort(tids, n, sizeof *tids, tid_cmp);
	s->tids = tids;
	s->ntids = tids ? n : 0;
}

static struct topic *topic_by_id_cached(struct srv *s, const uint8_t id[16])
{
	struct srv_topic_id key;
	memcpy(key.id, id, 16);
	struct srv_topic_id *e = s->ntids ? bsearch(&key, s->tids, s->ntids,
	                                            sizeof *s->tids, tid_cmp)
	                                  : NULL;
	struct topic *t = NULL;
	if (!e || store_topic_get(s->st, e->name, &t) != 0)
		return NULL;
	uint8_t cur[16];
	topic_id(t, cur);
	if (memcmp(cur, id, 16)) {          /* deleted and made again */
		topic_put(t);
		return NULL;
	}
	return t;
}

/* The topic with this id (a reference), NULL when none.  A miss rebuilds
 * the cache, at most once per request (a request naming ids that do not
 * exist costs one store listing, as a Metadata request for all topics
 * does). */
static struct topic *topic_by_id(struct srv *s, const uint8_t id[16])
{
	if (id_is_zero(id))
		return NULL;
	struct topic *t = topic_by_id_cached(s, id);
	if (t)
		return t;
	if (s->tids_built && s->tids_built_seq == s->req_seq)
		return NULL;            /* rebuilt for this request already */
	topic_ids_build(s);
	return topic_by_id_cached(s, id);
}

struct topic *srv_topic_by_id(struct srv *s, const uint8_t id[16])
{
	return topic_by_id(s, id);
}

/* One Metadata topic.  name NULL: null (v12+, a topic asked by an unknown
 * id; "" before). */
static void meta_put_topic(struct kw_writer *w, int v, bool flex, int16_t err,
                           const char *name, int name_len,
                           const uint8_t id[16], struct topic *t)
{
	uint8_t tid[16];
	kw_put_i16(w, err);
	if (!name && v < 12)
		kw_put_vstr(w, flex, "", 0);
	else
		kw_put_vstr(w, flex, name, name_len);
	if (v >= 10) {
		if (t)
			topic_id(t, tid);
		else
			memcpy(tid, id ? id : zero_id, 16);
		kw_put_uuid(w, tid);
	}
	if (v >= 1)
		kw_put_i8(w, 0);                        /* IsInternal */
	int32_t n = t ? topic_partitions(t) : 0;
	kw_put_varray(w, flex, n);
	for (int32_t i = 0; i < n; i++) {
		kw_put_i16(w, KERR_NONE);
		kw_put_i32(w, i);
		kw_put_i32(w, 0);                       /* Leader */
		if (v >= 7)
			kw_put_i32(w, -1);              /* LeaderEpoch: none */
		kw_put_varray(w, flex, 1);              /* Replicas [0] */
		kw_put_i32(w, 0);
		kw_put_varray(w, flex, 1);              /* Isr [0] */
		kw_put_i32(w, 0);
		if (v >= 5)
			kw_put_varray(w, flex, 0);      /* OfflineReplicas [] */
		kw_put_vtags(w, flex);
	}
	if (v >= 8)
		kw_put_i32(w, INT32_MIN);       /* TopicAuthorizedOperations: not given */
	kw_put_vtags(w, flex);
}

/* Auto-create bookkeeping of one request. */
struct auto_create {
	int created;                /* topics this request created */
	bool store_full;            /* auto_create_max_topics reached */
};

static size_t store_topic_count(struct srv *s)
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

/* One line a second at most, with the count of refusals it stands for. */
static void auto_create_refused(struct srv *s, const char *name, const char *why)
{
	atomic_fetch_add_explicit(&s->stats[SRV_STAT_AUTO_CREATE_REFUSED], 1,
	                          memory_order_relaxed);
	int64_t now = tfs_mono_ms();
	if (now - s->ac_log_ms < 1000) {
		s->ac_log_suppressed++;
		return;
	}
	tfs_log(TFS_LOG_WARN, "net: auto-create of topic %s refused: %s "
	        "(answered UNKNOWN_TOPIC_OR_PARTITION; %d more refused since the "
	        "last line)", name, why, s->ac_log_suppressed);
	s->ac_log_ms = now;
	s->ac_log_suppressed = 0;
}

/* Find or (when allowed) create a topic for Metadata/Produce.  *err gets
 * the Kafka code when NULL is returned.  ac caps what one request may
 * create: auto_create_max_per_request topics per request, none once the
 * store holds auto_create_max_topics.  A refused name gets
 * UNKNOWN_TOPIC_OR_PARTITION, what a broker without auto-create answers:
 * clients treat it as retriable, so one that asked for many topics gets
 * the next ones created on its next Metadata request (librdkafka and the
 * Java client refresh metadata on it), and once the store is full they see
 * exactly what they would see with auto_create_topics = false.  (A
 * non-retriable code such as POLICY_VIOLATION would fail a producer's
 * messages at once even for the per-request cap, which is only a pacing
 * limit.) */
static struct topic *topic_find_or_create(struct srv *s,
                                          const struct srv_req *req,
                                          const char *name,
                                          int len, bool may_create,
                                          struct auto_create *ac, int16_t *err)
{
	char buf[256];
	struct topic *t = NULL;
	if (!srv_topic_name_copy(buf, sizeof buf, name, len)) {
		*err = KERR_INVALID_TOPIC_EXCEPTION;
		return NULL;
	}
	int rc = store_topic_get(s->st, buf, &t);
	if (rc == 0)
		return t;
	if (rc != -ENOENT || !may_create || !s->cfg.auto_create_topics) {
		*err = rc == -ENOENT ? KERR_UNKNOWN_TOPIC_OR_PARTITION
		                     : (int16_t)kw_err_from_errno(rc, true);
		return NULL;
	}
	if (!srv_authorize_create_topic(s, req, buf)) {   /* ACL: CREATE */
		*err = KERR_TOPIC_AUTHORIZATION_FAILED;
		return NULL;
	}
	if (ac->created >= s->cfg.auto_create_max_per_request) {
		char why[120];
		snprintf(why, sizeof why, "this request already created %d "
		         "([net] auto_create_max_per_request)", ac->created);
		auto_create_refused(s, buf, why);
		*err = KERR_UNKNOWN_TOPIC_OR_PARTITION;
		return NULL;
	}
	if (!ac->store_full) {
		size_t n = store_topic_count(s);
		ac->store_full = n >= (size_t)s->cfg.auto_create_max_topics;
	}
	if (ac->store_full) {
		char why[120];
		snprintf(why, sizeof why, "the store holds %d topics or more "
		         "([net] auto_create_max_topics)", s->cfg.auto_create_max_topics);
		auto_create_refused(s, buf, why);
		*err = KERR_UNKNOWN_TOPIC_OR_PARTITION;
		return NULL;
	}
	ac->created++;                      /* a failed create counts too */
	rc = store_topic_create(s->st, buf, &s->cfg.topic_defaults, &t);
	if (rc == -EEXIST)
		rc = store_topic_get(s->st, buf, &t);
	if (rc) {
		srv_log(s, "auto-create topic %s: %s", buf, strerror(-rc));
		*err = rc == -EINVAL ? KERR_INVALID_TOPIC_EXCEPTION
		                     : KERR_KAFKA_STORAGE_ERROR;
		return NULL;
	}
	srv_log(s, "created topic %s (auto_create_topics)", buf);
	return t;
}

static enum srv_verdict api_metadata(struct srv *s, const struct srv_req *req,
                                     struct srv_resp *resp, int *park_ms,
                                     char *why, size_t why_len)
{
	int v = req->api_version;
	bool flex = req->flexible;
	struct kw_reader r;
	(void)park_ms;
	kw_reader_init(&r, req->body, req->body_len);

	/* an element: [TopicId (v10+)], Name, [tags] */
	size_t elem = (v >= 10 ? 16 : 0) + (flex ? 2 : 2);
	int32_t ntopics = kw_varray(&r, flex, elem, v >= 1);
	size_t names_pos = r.pos;
	for (int32_t i = 0; i < ntopics && !r.err; i++) {
		const char *n;
		int nl;
		uint8_t id[16];
		if (v >= 10)
			kw_uuid(&r, id);
		kw_vstr(&r, flex, &n, &nl);
		if (!n && v < 10)
			r.err = true;                   /* null names from v10 only */
		kw_vtags(&r, flex);
	}
	bool allow_create = true;
	if (v >= 4)
		allow_create = kw_i8(&r) != 0;
	if (v >= 8 && v <= 10)
		kw_i8(&r);              /* IncludeClusterAuthorizedOperations */
	if (v >= 8)
		kw_i8(&r);              /* IncludeTopicAuthorizedOperations */
	kw_vtags(&r, flex);
	if (r.err)
		return srv_malformed(req, why, why_len);
	bool all = (v == 0 && ntopics == 0) || ntopics < 0;

	struct kw_writer *w = &resp->w;
	srv_resp_begin_req(resp, req);
	if (v >= 3)
		kw_put_i32(w, 0);                       /* ThrottleTimeMs */
	const char *adv_host;
	int adv_port;
	srv_advertised(s, req, &adv_host, &adv_port);  /* this listener's */
	kw_put_varray(w, flex, 1);                  /* Brokers */
	kw_put_i32(w, 0);
	kw_put_vcstr(w, flex, adv_host);
	kw_put_i32(w, adv_port);
	if (v >= 1)
		kw_put_vstr(w, flex, NULL, -1);         /* Rack */
	kw_put_vtags(w, flex);
	if (v >= 2)
		kw_put_vcstr(w, flex, "topicfs");       /* ClusterId */
	if (v >= 1)
		kw_put_i32(w, 0);                       /* ControllerId */

	if (all) {
		/* references first: the count precedes the topics, and a
		 * compact count cannot be patched in place */
		char **names = NULL;
		size_t count = 0, n = 0;
		int rc = store_topic_list(s->st, &names, &count);
		if (rc) {
			srv_log(s, "metadata: store_topic_list: %s", strerror(-rc));
			count = 0;
		}
		struct topic **ts = count ? calloc(count, sizeof *ts) : NULL;
		for (size_t i = 0; i < count; i++) {
			if (ts && store_topic_get(s->st, names[i], &ts[n]) == 0) {
				if (srv_authorized_quiet(s, req, ACL_RES_TOPIC, names[i],
				                         ACL_OP_DESCRIBE))  /* ACL */
					n++;
				else
					topic_put(ts[n]);
			}
			free(names[i]);
		}
		free(names);
		if (count && !ts)
			resp->alloc_failed = true;
		kw_put_varray(w, flex, (int32_t)n);
		for (size_t i = 0; i < n; i++) {
			const char *nm = topic_name(ts[i]);
			meta_put_topic(w, v, flex, KERR_NONE, nm, (int)strlen(nm), NULL,
			               ts[i]);
			topic_put(ts[i]);
		}
		free(ts);
	} else {
		kw_reader_init(&r, req->body, req->body_len);
		r.pos = names_pos;
		kw_put_varray(w, flex, ntopics);
		struct auto_create ac = { 0 };
		for (int32_t i = 0; i < ntopics; i++) {
			const char *n;
			int nl;
			uint8_t id[16] = { 0 };
			int16_t err = KERR_NONE;
			struct topic *t = NULL;
			if (v >= 10)
				kw_uuid(&r, id);
			kw_vstr(&r, flex, &n, &nl);
			kw_vtags(&r, flex);
			if (n && !srv_authorize_wire(s, req, ACL_RES_TOPIC, n, nl,
			                             ACL_OP_DESCRIBE)) {     /* ACL */
				err = KERR_TOPIC_AUTHORIZATION_FAILED;
			} else if (n) {
				t = topic_find_or_create(s, req, n, nl, allow_create, &ac,
				                         &err);
			} else {
				t = topic_by_id(s, id);
				if (t && !srv_authorized_quiet(s, req, ACL_RES_TOPIC,
				                               topic_name(t),
				                               ACL_OP_DESCRIBE)) { /* ACL */
					topic_put(t);
					t = NULL;
					err = KERR_TOPIC_AUTHORIZATION_FAILED;
				} else if (t) {
					n = topic_name(t);
					nl = (int)strlen(n);
				} else {
					err = KERR_UNKNOWN_TOPIC_ID;
				}
			}
			meta_put_topic(w, v, flex, t ? KERR_NONE : err, n, nl, id, t);
			if (t)
				topic_put(t);
		}
	}
	if (v >= 8 && v <= 10)
		kw_put_i32(w, INT32_MIN);       /* ClusterAuthorizedOperations */
	kw_put_vtags(w, flex);
	return SRV_RESPOND;
}

/* =============================== ListOffsets ============================== */

/* Timestamp of the record at offset (a ListOffsets by time answer): read
 * and decode the batch holding it. */
static int record_timestamp(struct part *p, int64_t offset, int64_t *ts)
{
	struct part_slice sl;
	struct batch_decoded dec;
	uint8_t *buf = NULL;
	int rc = part_fetch_slice(p, offset, 1, &sl);
	if (rc)
		return rc;
	if (sl.len == 0) {
		rc = -ERANGE;
		goto release;
	}
	buf = malloc(sl.len);
	if (!buf) {
		rc = -ENOMEM;
		goto release;
	}
	ssize_t n = pread(sl.fd, buf, sl.len, (off_t)sl.file_pos);
	if (n != (ssize_t)sl.len) {
		rc = n < 0 ? -errno : -EIO;
		goto release;
	}
	rc = batch_decode(buf, sl.len, SRV_TS_DECODE_MAX, &dec);
	if (rc)
		goto release;
	rc = -ERANGE;
	for (size_t i = 0; i < dec.nrecs; i++) {
		if (dec.recs[i].offset >= offset) {
			*ts = dec.recs[i].timestamp;
			rc = 0;
			break;
		}
	}
	batch_decoded_free(&dec);
release:
	free(buf);
	part_slice_release(&sl);
	return rc;
}

/* ListOffsets -3 (MAX_TIMESTAMP, KIP-734): the first record holding the
 * partition's largest timestamp.  The largest timestamp M is found by a
 * binary search over part_offset_for_time (the first offset with a
 * timestamp >= ts, next_offset when none): M is the largest ts for which
 * it is below next_offset.  About 64 index lookups, each reading a batch
 * or two; the request is rare (admin tools).  -ERANGE when the partition
 * holds no record (with a timestamp >= -1). */
static int max_timestamp_offset(struct part *p, int64_t next, int64_t *offset,
                                int64_t *ts_out)
{
	int64_t lo = -1, hi = INT64_MAX, off;
	int rc = part_offset_for_time(p, lo, &off);
	if (rc)
		return rc;
	if (off >= next)
		return -ERANGE;
	rc = part_offset_for_time(p, hi, &off);
	if (rc)
		return rc;
	if (off < next) {
		lo = hi;
	} else {
		/* pred(lo) holds, pred(hi) does not */
		/* (hi - lo can exceed INT64_MAX: unsigned arithmetic) */
		while ((uint64_t)hi - (uint64_t)lo > 1) {
			int64_t mid = lo + (int64_t)(((uint64_t)hi - (uint64_t)lo) / 2);
			rc = part_offset_for_time(p, mid, &off);
			if (rc)
				return rc;
			if (off < next)
				lo = mid;
			else
				hi = mid;
		}
	}
	rc = part_offset_for_time(p, lo, &off);
	if (rc)
		return rc;
	if (off >= next)
		return -ERANGE;                 /* retention raced us */
	*offset = off;
	*ts_out = lo;
	return 0;
}

/* Resolve one ListOffsets query: offset (-1 when not found), its timestamp. */
static int16_t list_offset(struct srv *s, struct part *p, int64_t ts,
                           int64_t *offset, int64_t *ts_out)
{
	struct part_info pi;
	*offset = -1;
	*ts_out = -1;
	part_info(p, &pi);
	if (ts == -1) {
		*offset = pi.next_offset;
		return KERR_NONE;
	}
	if (ts == -2 || ts == -4) {
		/* -4 EARLIEST_LOCAL (KIP-405): all of the log is local here */
		*offset = pi.log_start_offset;
		return KERR_NONE;
	}
	if (ts == -3) {
		int rc = max_timestamp_offset(p, pi.next_offset, offset, ts_out);
		if (rc == 0 || rc == -ERANGE) {
			if (rc)
				*offset = *ts_out = -1;
			return KERR_NONE;
		}
		srv_log(s, "listoffsets max timestamp: %s", strerror(-rc));
		*offset = *ts_out = -1;
		return (int16_t)kw_err_from_errno(rc, true);
	}
	if (ts < 0)
		return KERR_NONE;               /* not a time we know: not found */
	int64_t off;
	int rc = part_offset_for_time(p, ts, &off);
	if (rc == 0 && off >= pi.next_offset)
		return KERR_NONE;               /* nothing that late */
	if (rc == 0) {
		int64_t rts = -1;
		rc = record_timestamp(p, off, &rts);
		if (rc == 0) {
			*offset = off;
			*ts_out = rts;
			return KERR_NONE;
		}
	}
	srv_log(s, "listoffsets by time %lld: %s", (long long)ts, strerror(-rc));
	return (int16_t)kw_err_from_errno(rc, true);
}

static enum srv_verdict api_list_offsets(struct srv *s, const struct srv_req *req,
                                         struct srv_resp *resp, int *park_ms,
                                         char *why, size_t why_len)
{
	int v = req->api_version;
	bool flex = req->flexible;
	struct kw_reader r;
	struct kw_writer *w = &resp->w;
	(void)park_ms;
	kw_reader_init(&r, req->body, req->body_len);

	kw_i32(&r);                                 /* ReplicaId */
	if (v >= 2)
		kw_i8(&r);                              /* IsolationLevel */
	int32_t ntopics = kw_varray(&r, flex, flex ? 3 : 2 + 4, false);
	size_t part_bytes = 4 + (v >= 4 ? 4 : 0) + 8 + (v == 0 ? 4 : 0) +
	                    (flex ? 1 : 0);
	srv_resp_begin_req(resp, req);
	if (v >= 2)
		kw_put_i32(w, 0);                       /* ThrottleTimeMs */
	kw_put_varray(w, flex, ntopics);
	for (int32_t i = 0; i < ntopics && !r.err; i++) {
		const char *name;
		int nl;
		kw_vstr(&r, flex, &name, &nl);
		int32_t nparts = kw_varray(&r, flex, part_bytes, false);
		if (r.err)
			break;
		bool denied = !srv_authorize_wire(s, req, ACL_RES_TOPIC, name, nl,
		                                  ACL_OP_DESCRIBE);   /* ACL */
		struct topic *t = denied ? NULL : topic_lookup(s, name, nl);
		kw_put_vstr(w, flex, name, nl);
		kw_put_varray(w, flex, nparts);
		for (int32_t j = 0; j < nparts && !r.err; j++) {
			int32_t idx = kw_i32(&r);
			if (v >= 4)
				kw_i32(&r);                 /* CurrentLeaderEpoch */
			int64_t ts = kw_i64(&r);
			int32_t max_num = v == 0 ? kw_i32(&r) : 1;
			kw_vtags(&r, flex);
			if (r.err)
				break;
			struct part *p = t ? topic_part(t, idx) : NULL;
			int64_t off = -1, rts = -1;
			int16_t err = p ? list_offset(s, p, ts, &off, &rts)
			              : denied ? KERR_TOPIC_AUTHORIZATION_FAILED
			              : KERR_UNKNOWN_TOPIC_OR_PARTITION;
			kw_put_i32(w, idx);
			kw_put_i16(w, err);
			if (v == 0) {
				bool one = err == KERR_NONE && off >= 0 && max_num > 0;
				kw_put_i32(w, one ? 1 : 0);
				if (one)
					kw_put_i64(w, off);
			} else {
				kw_put_i64(w, rts);
				kw_put_i64(w, off);
			}
			if (v >= 4)
				kw_put_i32(w, -1);              /* LeaderEpoch */
			kw_put_vtags(w, flex);
		}
		kw_vtags(&r, flex);
		kw_put_vtags(w, flex);
		if (t)
			topic_put(t);
	}
	kw_vtags(&r, flex);
	kw_put_vtags(w, flex);
	if (r.err)
		return srv_malformed(req, why, why_len);
	return SRV_RESPOND;
}

/* ================================== Fetch ================================= */

/* Build the Fetch answer (not finished: see srv_api_fetch). */
static enum srv_verdict fetch_build(struct srv *s, const struct srv_req *req,
                                    struct srv_resp *resp, bool final,
                                    int *park_ms, char *why, size_t why_len)
{
	int v = req->api_version;
	bool flex = req->flexible;
	struct kw_reader r;
	struct kw_writer *w = &resp->w;
	kw_reader_init(&r, req->body, req->body_len);

	if (v <= 14)
		kw_i32(&r);                             /* ReplicaId */
	int32_t max_wait = kw_i32(&r);
	int32_t min_bytes = kw_i32(&r);
	int32_t max_bytes = kw_i32(&r);
	kw_i8(&r);                                  /* IsolationLevel */
	if (v >= 7) {
		kw_i32(&r);                             /* SessionId */
		kw_i32(&r);                             /* SessionEpoch */
	}
	size_t part_bytes = 4 + 8 + 4 + (v >= 5 ? 8 : 0) + (v >= 9 ? 4 : 0) +
	                    (v >= 12 ? 4 + 1 : 0);
	/* a topic: Topic (v0-12) or TopicId (v13+), Partitions, [tags] */
	size_t topic_bytes = v >= 13 ? 16 + 1 + 1 : flex ? 1 + 1 + 1 : 2 + 4;
	int32_t ntopics = kw_varray(&r, flex, topic_bytes, false);

	srv_resp_begin_req(resp, req);
	kw_put_i32(w, 0);                           /* ThrottleTimeMs */
	if (v >= 7) {
		kw_put_i16(w, KERR_NONE);
		kw_put_i32(w, 0);                       /* SessionId: no sessions */
	}
	kw_put_varray(w, flex, ntopics);

	size_t remaining = max_bytes > 0 ? (size_t)max_bytes : 0;
	bool have_data = false;         /* a non-empty partition is in */
	bool any_error = false;
	int64_t total = 0;

	for (int32_t i = 0; i < ntopics && !r.err; i++) {
		const char *name = NULL;
		int nl = -1;
		uint8_t id[16];
		if (v >= 13)
			kw_uuid(&r, id);
		else
			kw_vstr(&r, flex, &name, &nl);
		int32_t nparts = kw_varray(&r, flex, part_bytes, false);
		if (r.err)
			break;
		struct topic *t = v >= 13 ? topic_by_id(s, id)
		                          : topic_lookup(s, name, nl);
		if (t) {
			if (v >= 13)
				name = topic_name(t), nl = (int)strlen(name);
			srv_resp_hold_topic(resp, t);   /* until the slices are sent */
		}
		bool denied = (t || v < 13) && !srv_authorize_wire(s, req,
		              ACL_RES_TOPIC, name, nl, ACL_OP_READ);    /* ACL */
		if (v >= 13)
			kw_put_uuid(w, id);
		else
			kw_put_vstr(w, flex, name, nl);
		kw_put_varray(w, flex, nparts);
		for (int32_t j = 0; j < nparts && !r.err; j++) {
			int32_t idx = kw_i32(&r);
			if (v >= 9)
				kw_i32(&r);                 /* CurrentLeaderEpoch */
			int64_t offset = kw_i64(&r);
			if (v >= 12)
				kw_i32(&r);                 /* LastFetchedEpoch */
			if (v >= 5)
				kw_i64(&r);                 /* LogStartOffset */
			int32_t part_max = kw_i32(&r);
			kw_vtags(&r, flex);
			if (r.err)
				break;

			struct part *p = t && !denied ? topic_part(t, idx) : NULL;
			struct part_slice sl = { .fd = -1 };
			bool have_slice = false;
			int16_t err = KERR_NONE;
			int64_t hwm = -1, log_start = -1;
			if (!p) {
				err = denied ? KERR_TOPIC_AUTHORIZATION_FAILED
				      : !t && v >= 13 ? KERR_UNKNOWN_TOPIC_ID
				                      : KERR_UNKNOWN_TOPIC_OR_PARTITION;
			} else {
				size_t limit = part_max > 0 ? (size_t)part_max : 0;
				if (limit > remaining)
					limit = remaining;
				int rc = part_fetch_slice(p, offset, limit, &sl);
				if (rc) {
					err = (int16_t)kw_err_from_errno(rc, true);
					if (err == KERR_KAFKA_STORAGE_ERROR)
						srv_log(s, "fetch %.*s/%d at %lld: %s", nl, name,
						        idx, (long long)offset, strerror(-rc));
				} else {
					hwm = sl.high_watermark;
					log_start = sl.log_start_offset;
					if (sl.len == 0 || (sl.len > limit && have_data)) {
						part_slice_release(&sl);
					} else {
						have_slice = true;
						have_data = true;
						remaining -= sl.len < remaining ? sl.len : remaining;
						total += (int64_t)sl.len;
					}
				}
			}
			if (err)
				any_error = true;
			kw_put_i32(w, idx);
			kw_put_i16(w, err);
			kw_put_i64(w, hwm);                 /* HighWatermark */
			kw_put_i64(w, hwm);                 /* LastStableOffset */
			if (v >= 5)
				kw_put_i64(w, log_start);
			kw_put_varray(w, flex, 0);          /* AbortedTransactions [] */
			if (v >= 11)
				kw_put_i32(w, -1);              /* PreferredReadReplica */
			kw_put_vbytes_len(w, flex, have_slice ? (int32_t)sl.len : 0);
			if (have_slice)
				srv_resp_add_slice(resp, &sl);
			kw_put_vtags(w, flex);
		}
		kw_vtags(&r, flex);
		kw_put_vtags(w, flex);
	}
	if (v >= 7) {
		int32_t nforgotten = kw_varray(&r, flex, topic_bytes, false);
		for (int32_t i = 0; i < nforgotten && !r.err; i++) {
			const char *n;
			int nl;
			uint8_t fid[16];
			if (v >= 13)
				kw_uuid(&r, fid);
			else
				kw_vstr(&r, flex, &n, &nl);
			int32_t np = kw_varray(&r, flex, 4, false);
			kw_skip(&r, (size_t)np * 4);
			kw_vtags(&r, flex);
		}
	}
	if (v >= 11) {
		const char *rack;
		int rl;
		kw_vstr(&r, flex, &rack, &rl);
	}
	kw_vtags(&r, flex);     /* ClusterId, ReplicaState: ignored */
	kw_put_vtags(w, flex);  /* NodeEndpoints: none (no leader moves) */
	if (r.err) {
		srv_resp_reset(resp);
		return srv_malformed(req, why, why_len);
	}
	if (!final && max_wait > 0 && total < min_bytes && !any_error) {
		srv_resp_reset(resp);
		*park_ms = max_wait;
		return SRV_PARK;
	}
	return SRV_RESPOND;
}

static enum srv_verdict api_fetch(struct srv *s, const struct srv_req *req,
                                  struct srv_resp *resp, int *park_ms,
                                  char *why, size_t why_len)
{
	return fetch_build(s, req, resp, false, park_ms, why, why_len);
}

enum srv_verdict srv_api_fetch(struct srv *s, const struct srv_req *req,
                               struct srv_resp *resp, bool final, int *park_ms,
                               char *why, size_t why_len)
{
	s->req_seq++;
	enum srv_verdict v = fetch_build(s, req, resp, final, park_ms, why, why_len);
	if (v == SRV_RESPOND && srv_resp_finish(resp)) {
		srv_resp_reset(resp);
		snprintf(why, why_len, "cannot build a fetch response (out of memory "
		         "or over 2 GiB)");
		return SRV_CLOSE;
	}
	return v;
}

/* ================================= Produce ================================ */

/* Validate and append one partition's records; returns the Kafka code. */
static int16_t produce_one(struct srv *s, const struct srv_req *req,
                           struct topic *t, struct part *p, int16_t acks,
                           const uint8_t *rec, int32_t rec_len,
                           int64_t *base_offset)
{
	struct batch_header h;
	if (!rec || rec_len <= 0)
		return KERR_INVALID_RECORD;
	int rc = batch_parse_header(rec, (size_t)rec_len, &h);
	if (rc)
		return KERR_CORRUPT_MESSAGE;            /* bad or truncated header */
	if ((int64_t)h.length + BATCH_LOG_OVERHEAD != rec_len)
		return KERR_INVALID_RECORD;             /* not exactly one batch */
	if (h.attributes & (BATCH_ATTR_TRANSACTIONAL | BATCH_ATTR_CONTROL)) {
		/* Control batches: Kafka's LogValidator answers INVALID_RECORD
		 * ("clients are not allowed to write control records").
		 * Transactional batches: there is no transaction coordinator
		 * here (FindCoordinator answers COORDINATOR_NOT_AVAILABLE for
		 * transactional ids, no InitProducerId), so no client can hold
		 * a valid transactional producer id; stored, such a batch would
		 * stay an open
		 * transaction forever with no marker to end it.  Kafka would
		 * answer INVALID_TXN_STATE or INVALID_PRODUCER_ID_MAPPING, which
		 * make clients reset their producer state and retry; the batch
		 * itself is what is wrong, so INVALID_RECORD (non-retriable: the
		 * message fails with a clear error) fits best. */
		srv_log(s, "produce %s: refused a %s batch (INVALID_RECORD: "
		        "topicfs has no transactions)", topic_name(t),
		        (h.attributes & BATCH_ATTR_CONTROL) ? "control"
		                                            : "transactional");
		return KERR_INVALID_RECORD;
	}
	if (s->cfg.message_timestamp_after_max_ms >= 0) {
		/* Kafka 3.6+'s message.timestamp.after.max.ms (KIP-937): a
		 * timestamp far ahead would pin time retention; MaxTimestamp is
		 * what retention and the time index use */
		int64_t now = tfs_now_ms();
		int64_t ts = h.max_timestamp > h.base_timestamp ? h.max_timestamp
		                                                : h.base_timestamp;
		if (ts > now && ts - now > s->cfg.message_timestamp_after_max_ms)
			return KERR_INVALID_TIMESTAMP;
	}
	if ((h.attributes & BATCH_ATTR_CODEC_MASK) == CODEC_ZSTD &&
	    req->api_version < 7)
		return KERR_UNSUPPORTED_COMPRESSION_TYPE;
	if (topic_is_mirror_target(t)) {
		/* a pull mirror writes it (daemon/mirror.c): non-retriable */
		srv_log(s, "produce %s: refused (POLICY_VIOLATION): the topic is "
		        "a pull mirror's target", topic_name(t));
		return KERR_POLICY_VIOLATION;
	}
	rc = part_append_batch(p, rec, (size_t)rec_len, base_offset);
	if (rc) {
		int16_t code = (int16_t)kw_err_from_errno(rc, false);
		if (code == KERR_KAFKA_STORAGE_ERROR)
			srv_log(s, "produce %s: part_append_batch: %s", topic_name(t),
			        strerror(-rc));
		return code;
	}
	if (acks == -1) {
		struct topic_config tc;
		topic_get_config(t, &tc);
		if (tc.flush_messages == 1) {
			rc = part_flush(p);
			if (rc) {
				srv_log(s, "produce %s: part_flush: %s", topic_name(t),
				        strerror(-rc));
				return KERR_KAFKA_STORAGE_ERROR;
			}
		}
	}
	return KERR_NONE;
}

static enum srv_verdict api_produce(struct srv *s, const struct srv_req *req,
                                    struct srv_resp *resp, int *park_ms,
                                    char *why, size_t why_len)
{
	int v = req->api_version;
	bool flex = req->flexible;
	struct kw_reader r;
	struct kw_writer *w = &resp->w;
	(void)park_ms;
	kw_reader_init(&r, req->body, req->body_len);

	if (v >= 3) {
		const char *txn;
		int tl;
		kw_vstr(&r, flex, &txn, &tl);           /* TransactionalId */
	}
	int16_t acks = kw_i16(&r);
	kw_i32(&r);                                 /* TimeoutMs */
	int32_t ntopics = kw_varray(&r, flex, flex ? 1 + 1 + 1 : 2 + 4, false);
	bool acks_ok = acks == 0 || acks == 1 || acks == -1;

	srv_resp_begin_req(resp, req);
	kw_put_varray(w, flex, ntopics);
	struct auto_create ac = { 0 };
	for (int32_t i = 0; i < ntopics && !r.err; i++) {
		const char *name;
		int nl;
		kw_vstr(&r, flex, &name, &nl);
		int32_t nparts = kw_varray(&r, flex, flex ? 4 + 1 + 1 : 4 + 4, false);
		if (r.err)
			break;
		int16_t terr = KERR_UNKNOWN_TOPIC_OR_PARTITION;
		struct topic *t = NULL;
		if (acks_ok && v >= 3 && !srv_authorize_wire(s, req, ACL_RES_TOPIC,
		                                             name, nl, ACL_OP_WRITE))
			terr = KERR_TOPIC_AUTHORIZATION_FAILED;     /* ACL */
		else if (acks_ok && v >= 3)
			t = topic_find_or_create(s, req, name, nl, true, &ac, &terr);
		kw_put_vstr(w, flex, name, nl);
		kw_put_varray(w, flex, nparts);
		for (int32_t j = 0; j < nparts && !r.err; j++) {
			int32_t idx = kw_i32(&r);
			const uint8_t *rec;
			int32_t rec_len;
			kw_vbytes(&r, flex, &rec, &rec_len);
			kw_vtags(&r, flex);
			if (r.err)
				break;
			int64_t base = -1, log_start = -1;
			int16_t err;
			struct part *p = t ? topic_part(t, idx) : NULL;
			if (!acks_ok)
				err = KERR_INVALID_REQUIRED_ACKS;
			else if (v < 3)
				err = KERR_UNSUPPORTED_FOR_MESSAGE_FORMAT;
			else if (!t)
				err = terr;
			else if (!p)
				err = KERR_UNKNOWN_TOPIC_OR_PARTITION;
			else
				err = produce_one(s, req, t, p, acks, rec, rec_len, &base);
			if (p && v >= 5) {
				struct part_info pi;
				part_info(p, &pi);
				log_start = pi.log_start_offset;
			}
			kw_put_i32(w, idx);
			kw_put_i16(w, err);
			kw_put_i64(w, err ? -1 : base);
			if (v >= 2)
				kw_put_i64(w, -1);              /* LogAppendTimeMs */
			if (v >= 5)
				kw_put_i64(w, log_start);
			if (v >= 8) {
				kw_put_varray(w, flex, 0);      /* RecordErrors [] */
				kw_put_vstr(w, flex, NULL, -1); /* ErrorMessage */
			}
			kw_put_vtags(w, flex);          /* CurrentLeader: none */
		}
		kw_vtags(&r, flex);
		kw_put_vtags(w, flex);
		if (t)
			topic_put(t);
	}
	kw_vtags(&r, flex);
	if (r.err) {
		srv_resp_reset(resp);
		return srv_malformed(req, why, why_len);
	}
	if (acks == 0) {
		srv_resp_reset(resp);
		return SRV_SILENT;
	}
	if (v >= 1)
		kw_put_i32(w, 0);                       /* ThrottleTimeMs */
	kw_put_vtags(w, flex);                      /* NodeEndpoints: none */
	return SRV_RESPOND;
}

/* ================================ dispatch ================================ */

enum srv_verdict srv_api_dispatch(struct srv *s, const struct srv_req *req,
                                  struct srv_resp *resp, int *park_ms,
                                  char *why, size_t why_len)
{
	/* SASL listeners: nothing but ApiVersions, SaslHandshake (17) and
	 * SaslAuthenticate (36) before a successful SaslAuthenticate, as
	 * Kafka (which closes the connection too) */
	if (req->client && !req->client->authenticated &&
	    req->api_key != KAPI_API_VERSIONS && req->api_key != 17 &&
	    req->api_key != 36) {
		snprintf(why, why_len, "%s (api %d) before authentication on a %s "
		         "listener (only ApiVersions, SaslHandshake and "
		         "SaslAuthenticate until then)", srv_api_name(req->api_key),
		         req->api_key, srv_sec_proto_name(req->client->sec));
		return SRV_CLOSE;
	}
	const struct srv_api *a = srv_api_find(req->api_key);
	if (!a) {
		snprintf(why, why_len, "unsupported api %d v%d", req->api_key,
		         req->api_version);
		return SRV_CLOSE;
	}
	/* ApiVersions above its range gets Kafka's fallback answer */
	if (req->api_version < a->min ||
	    (req->api_version > a->max && req->api_key != KAPI_API_VERSIONS)) {
		snprintf(why, why_len, "unsupported %s (api %d) version %d (serving "
		         "%d..%d)", a->name, req->api_key, req->api_version, a->min,
		         a->max);
		return SRV_CLOSE;
	}
	s->req_seq++;
	enum srv_verdict v = a->fn(s, req, resp, park_ms, why, why_len);
	if (v == SRV_RESPOND && srv_resp_finish(resp)) {
		srv_resp_reset(resp);
		snprintf(why, why_len, "cannot build a %s response (out of memory "
		         "or over 2 GiB)", a->name);
		return SRV_CLOSE;
	}
	if (v == SRV_CLOSE || v == SRV_PARK)
		srv_resp_reset(resp);
	return v;
}
