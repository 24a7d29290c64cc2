/*
 * mirror_push.c - a push mirror: local topics -> a Kafka cluster.
 *
 * Design
 * ------
 * One thread (mirror_push_main) owns one idempotent librdkafka producer
 * and the state of every local topic matching `topics`:
 *
 *   push_topic   the local topic (a reference), its remote name, its
 *                librdkafka topic handle (whose opaque points back here,
 *                so a delivery report finds its partition), and whether
 *                the remote topic is known to exist with enough partitions
 *   push_part    next_send: the next local offset to hand to librdkafka;
 *                a ring of the messages in flight, in produce order (local
 *                offset, pending / delivered / failed), at most PUSH_RING;
 *                the frontier: every local offset below it is delivered
 *
 * The loop, every pass (at most 50 ms apart): match local topics again
 * every second (new topics, grown partition counts); make sure the remote
 * topic exists (Metadata; CreateTopics with the local partition count when
 * missing, CreatePartitions when it has fewer), retried every 2 s while it
 * fails; then per partition read the records from next_send with
 * part_fetch_slice + pread, decode each batch (batch_decode) and produce
 * every record to the same partition number of the remote topic, key,
 * value, headers and timestamp as stored (control batches are skipped);
 * then rd_kafka_poll, which runs the delivery reports; every 100 ms the
 * frontiers go to the checkpoint file when they moved.
 *
 * Delivery reports.  Each message carries its ring sequence number as its
 * opaque.  A report marks its entry; the head of the ring moves forward
 * over delivered entries and the frontier with it, so the frontier only
 * ever covers a prefix of delivered records (reports of one partition come
 * in order with idempotence, and the ring does not depend on it).  A failed
 * entry (the cluster refused it for good: too large, policy, authorization;
 * transient errors never fail a message, message.timeout.ms is 0) stops
 * the partition: nothing more is produced until every entry in flight has
 * its report, then next_send goes back to the failed record and the
 * partition waits MIRROR_RETRY_MS before it tries again.  Records behind
 * the failed one that were delivered are sent again then (duplicates, the
 * only ones within one run).  A fatal producer error (idempotence state
 * lost) destroys the producer: every partition goes back to its frontier
 * and a new producer starts.
 *
 * What is guaranteed (README, "Beyond one machine"): no record is lost:
 * the checkpoint only holds frontiers, and a restart, with or without
 * kill -9, resends from it.  Duplicates: after a restart, exactly the
 * records between the checkpointed frontier and what the cluster had
 * received (at most 100 ms of deliveries plus what was in flight, at most
 * PUSH_RING per partition); within one run, none but after a refused
 * record.  Order per partition is the local order.  Records retention
 * deleted before they were delivered are skipped: logged at error level,
 * counted (topicfs_mirror_skipped_records_total), mirroring goes on from
 * the log start.
 *
 * Thread safety: everything here belongs to the mirror's thread; what
 * others see goes through mirror_error / mirror_ok / mirror_publish_lag.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "mirror_int.h"

#define PUSH_RING 4096                  /* messages in flight per partition */
#define PUSH_READ_BYTES (1 << 20)       /* one part_fetch_slice */
#define PUSH_CKPT_MS 100
#define PUSH_IDLE_MS 50
#define PUSH_MAX_DECOMPRESSED (64u << 20)

enum { E_PENDING = 0, E_OK = 1, E_FAILED = 2 };

struct push_entry {
	int64_t offset;                 /* local offset */
	int state;                      /* E_* */
};

struct push_part {
	int64_t next_send;              /* -1 = not known yet */
	int64_t frontier;               /* delivered below this */
	struct push_entry *ring;        /* PUSH_RING entries, allocated on use */
	uint64_t head, tail;            /* sequence numbers: [head, tail) */
	bool failed;                    /* a refused record: drain, rewind */
	int64_t retry_at;               /* monotonic ms */
};

struct push_topic {
	char name[250];
	char remote[400];
	struct topic *t;                /* reference; NULL once deleted */
	rd_kafka_topic_t *rkt;          /* NULL until the producer has it */
	struct push_part *parts;
	int32_t nparts;
	bool remote_ok;                 /* the remote topic has nparts */
	int64_t remote_retry;           /* monotonic ms */
	struct push *push;
};

/* A frontier loaded from the checkpoint file. */
struct ckpt_entry {
	char topic[250];
	int32_t partition;
	int64_t offset;
};

struct push {
	struct mirror *m;
	rd_kafka_t *rk;
	struct push_topic **topics;
	size_t ntopics;
	struct ckpt_entry *ckpt;        /* as loaded at start */
	size_t nckpt;
	char *last_ckpt;                /* the text last written */
	bool closing;                   /* reports of purged messages are
	                                   not errors */
	bool delivered;                 /* a report of a delivery came */
	uint8_t *buf;                   /* records read, buf_cap bytes */
	size_t buf_cap;
};

/* ============================== checkpoint ================================ */

static void ckpt_load(struct push *ps)
{
	struct mirror *m = ps->m;
	char *text = NULL, *save = NULL, *line;
	int rc = mirror_ckpt_read(m, &text);

	if (rc) {
		tfs_log(TFS_LOG_ERROR, "mirror %s: checkpoint unreadable (%s): "
		        "every partition starts from its log start", m->cfg.name,
		        strerror(-rc));
		return;
	}
	if (!text)
		return;
	line = strtok_r(text, "\n", &save);
	if (!line || strcmp(line, "topicfs-mirror-checkpoint 1")) {
		tfs_log(TFS_LOG_ERROR, "mirror %s: checkpoint has an unknown format: "
		        "every partition starts from its log start", m->cfg.name);
		free(text);
		return;
	}
	while ((line = strtok_r(NULL, "\n", &save))) {
		struct ckpt_entry e;
		char extra;
		if (sscanf(line, "%249s %" SCNd32 " %" SCNd64 " %c", e.topic,
		           &e.partition, &e.offset, &extra) != 3 || e.partition < 0 ||
		    e.offset < 0) {
			tfs_log(TFS_LOG_ERROR, "mirror %s: checkpoint line '%.100s' "
			        "ignored", m->cfg.name, line);
			continue;
		}
		struct ckpt_entry *n = realloc(ps->ckpt, (ps->nckpt + 1) * sizeof *n);
		if (!n)
			break;
		ps->ckpt = n;
		ps->ckpt[ps->nckpt++] = e;
	}
	free(text);
}

static int64_t ckpt_find(const struct push *ps, const char *topic, int32_t p)
{
	for (size_t i = 0; i < ps->nckpt; i++)
		if (ps->ckpt[i].partition == p && !strcmp(ps->ckpt[i].topic, topic))
			return ps->ckpt[i].offset;
	return -1;
}

/* Write the frontiers when they changed since the last write. */
static void ckpt_save(struct push *ps)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return;
	fprintf(f, "topicfs-mirror-checkpoint 1\n");
	for (size_t i = 0; i < ps->ntopics; i++) {
		struct push_topic *pt = ps->topics[i];
		for (int32_t p = 0; p < pt->nparts; p++)
			if (pt->parts[p].next_send >= 0)
				fprintf(f, "%s %" PRId32 " %" PRId64 "\n", pt->name, p,
				        pt->parts[p].frontier);
	}
	/* partitions not seen in this run keep their old line */
	for (size_t i = 0; i < ps->nckpt; i++) {
		bool seen = false;
		for (size_t j = 0; j < ps->ntopics && !seen; j++)
			seen = !strcmp(ps->topics[j]->name, ps->ckpt[i].topic) &&
			       ps->ckpt[i].partition < ps->topics[j]->nparts &&
			       ps->topics[j]->parts[ps->ckpt[i].partition].next_send >= 0;
		if (!seen)
			fprintf(f, "%s %" PRId32 " %" PRId64 "\n", ps->ckpt[i].topic,
			        ps->ckpt[i].partition, ps->ckpt[i].offset);
	}
	if (fclose(f) != 0) {
		free(text);
		return;
	}
	if (ps->last_ckpt && !strcmp(ps->last_ckpt, text)) {
		free(text);
		return;
	}
	if (mirror_ckpt_write(ps->m, text, len) == 0) {
		free(ps->last_ckpt);
		ps->last_ckpt = text;
	} else {
		free(text);
	}
}

/* ============================== delivery ================================== */

/* Move the head over delivered entries; the frontier follows. */
static void part_advance(struct push_part *pp)
{
	while (pp->head < pp->tail) {
		struct push_entry *e = &pp->ring[pp->head % PUSH_RING];
		if (e->state != E_OK)
			break;
		pp->frontier = e->offset + 1;
		pp->head++;
	}
	if (pp->head == pp->tail && !pp->failed && pp->next_send > pp->frontier)
		pp->frontier = pp->next_send;   /* skipped control records */
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
	struct push_topic *pt = rd_kafka_topic_opaque(msg->rkt);
	uint64_t seq = (uint64_t)(uintptr_t)msg->_private;
	struct push_part *pp;
	struct push_entry *e;

	if (!pt || msg->partition < 0 || msg->partition >= pt->nparts)
		return;
	pp = &pt->parts[msg->partition];
	if (!pp->ring || seq < pp->head || seq >= pp->tail)
		return;                 /* from before a rewind */
	e = &pp->ring[seq % PUSH_RING];
	if (msg->err) {
		e->state = E_FAILED;
		if (!pp->failed && !pt->push->closing)
			mirror_error(pt->push->m, "push %s/%" PRId32 " offset %" PRId64
			             " to %s: %s (retried every %d ms)", pt->name,
			             msg->partition, e->offset, pt->remote,
			             rd_kafka_err2str(msg->err), MIRROR_RETRY_MS);
		pp->failed = true;
	} else {
		e->state = E_OK;
		pt->push->delivered = true;
		atomic_fetch_add_explicit(&pt->push->m->records, 1,
		                          memory_order_relaxed);
	}
	part_advance(pp);
}

/* A failed partition whose entries all have their report: rewind. */
static void part_maybe_rewind(struct push_part *pp)
{
	if (!pp->failed)
		return;
	for (uint64_t s = pp->head; s < pp->tail; s++)
		if (pp->ring[s % PUSH_RING].state == E_PENDING)
			return;
	pp->next_send = pp->frontier;
	pp->head = pp->tail;    /* sequence numbers never repeat */
	pp->failed = false;
	pp->retry_at = tfs_mono_ms() + MIRROR_RETRY_MS;
}

/* ============================== the remote topic ========================== */

/* Wait for one admin result on q; the error (and its message) of the one
 * topic in it. */
static rd_kafka_resp_err_t admin_wait(rd_kafka_queue_t *q, bool partitions,
                                      char *msg, size_t len)
{
	rd_kafka_event_t *ev = rd_kafka_queue_poll(q, MIRROR_ADMIN_TIMEOUT_MS + 2000);
	const rd_kafka_topic_result_t **res;
	rd_kafka_resp_err_t err;
	size_t n = 0;

	if (!ev) {
		snprintf(msg, len, "no answer");
		return RD_KAFKA_RESP_ERR__TIMED_OUT;
	}
	err = rd_kafka_event_error(ev);
	if (err) {
		snprintf(msg, len, "%s", rd_kafka_event_error_string(ev));
		rd_kafka_event_destroy(ev);
		return err;
	}
	if (partitions)
		res = rd_kafka_CreatePartitions_result_topics(
			rd_kafka_event_CreatePartitions_result(ev), &n);
	else
		res = rd_kafka_CreateTopics_result_topics(
			rd_kafka_event_CreateTopics_result(ev), &n);
	err = n ? rd_kafka_topic_result_error(res[0]) : RD_KAFKA_RESP_ERR__FAIL;
	snprintf(msg, len, "%s", n && rd_kafka_topic_result_error_string(res[0])
	         ? rd_kafka_topic_result_error_string(res[0])
	         : rd_kafka_err2str(err));
	rd_kafka_event_destroy(ev);
	return err;
}

/* Create the remote topic (want partitions), or grow it to want. */
static int remote_create(struct push *ps, struct push_topic *pt, int32_t have,
                         int32_t want)
{
	char err[512];
	rd_kafka_queue_t *q = rd_kafka_queue_new(ps->rk);
	rd_kafka_AdminOptions_t *opt;
	rd_kafka_resp_err_t e;

	if (!q)
		return -ENOMEM;
	opt = rd_kafka_AdminOptions_new(ps->rk, have < 0 ? RD_KAFKA_ADMIN_OP_CREATETOPICS
	                                : RD_KAFKA_ADMIN_OP_CREATEPARTITIONS);
	rd_kafka_AdminOptions_set_request_timeout(opt, MIRROR_ADMIN_TIMEOUT_MS,
	                                          err, sizeof err);
	if (have < 0) {
		rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(pt->remote, want, -1,
		                                                err, sizeof err);
		if (!nt) {
			mirror_error(ps->m, "push %s: CreateTopics %s: %s", pt->name,
			             pt->remote, err);
			rd_kafka_AdminOptions_destroy(opt);
			rd_kafka_queue_destroy(q);
			return -EINVAL;
		}
		rd_kafka_CreateTopics(ps->rk, &nt, 1, opt, q);
		e = admin_wait(q, false, err, sizeof err);
		rd_kafka_NewTopic_destroy(nt);
	} else {
		rd_kafka_NewPartitions_t *np = rd_kafka_NewPartitions_new(
			pt->remote, (size_t)want, err, sizeof err);
		if (!np) {
			mirror_error(ps->m, "push %s: CreatePartitions %s: %s", pt->name,
			             pt->remote, err);
			rd_kafka_AdminOptions_destroy(opt);
			rd_kafka_queue_destroy(q);
			return -EINVAL;
		}
		rd_kafka_CreatePartitions(ps->rk, &np, 1, opt, q);
		e = admin_wait(q, true, err, sizeof err);
		rd_kafka_NewPartitions_destroy(np);
	}
	rd_kafka_AdminOptions_destroy(opt);
	rd_kafka_queue_destroy(q);
	if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
		mirror_error(ps->m, "push %s: the cluster refused %s %s (%" PRId32
		             " partitions): %s: %s", pt->name,
		             have < 0 ? "to create" : "to grow", pt->remote, want,
		             rd_kafka_err2name(e), err);
		return -EIO;
	}
	tfs_log(TFS_LOG_INFO, "mirror %s: %s remote topic %s with %" PRId32
	        " partitions", ps->m->cfg.name, have < 0 ? "created" : "grew",
	        pt->remote, want);
	return 0;
}

/* Does the remote topic exist with at least nparts partitions?  Create or
 * grow it if not.  Sets pt->remote_ok. */
static void remote_check(struct push *ps, struct push_topic *pt)
{
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_resp_err_t e;
	int32_t have = -1;

	pt->remote_retry = tfs_mono_ms() + MIRROR_RETRY_MS;
	e = rd_kafka_metadata(ps->rk, 0, pt->rkt, &md, MIRROR_ADMIN_TIMEOUT_MS);
	if (e) {
		mirror_error(ps->m, "push %s: metadata of %s: %s", pt->name,
		             pt->remote, rd_kafka_err2str(e));
		return;
	}
	if (md->topic_cnt == 1 && !md->topics[0].err)
		have = md->topics[0].partition_cnt;
	else if (md->topic_cnt == 1 &&
	         md->topics[0].err != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
		mirror_error(ps->m, "push %s: metadata of %s: %s", pt->name,
		             pt->remote, rd_kafka_err2str(md->topics[0].err));
		rd_kafka_metadata_destroy(md);
		return;
	}
	rd_kafka_metadata_destroy(md);
	if (have >= pt->nparts) {
		pt->remote_ok = true;
		mirror_ok(ps->m);
		return;
	}
	if (remote_create(ps, pt, have, pt->nparts) == 0) {
		pt->remote_ok = true;
		mirror_ok(ps->m);
	}
}

/* ============================== local topics ============================== */

static int push_topic_parts(struct push_topic *pt, int32_t n)
{
	if (n <= pt->nparts)
		return 0;
	struct push_part *np = realloc(pt->parts, (size_t)n * sizeof *np);
	if (!np)
		return -ENOMEM;
	for (int32_t p = pt->nparts; p < n; p++) {
		memset(&np[p], 0, sizeof np[p]);
		np[p].next_send = -1;
		np[p].frontier = 0;
	}
	pt->parts = np;
	pt->nparts = n;
	pt->remote_ok = false;
	return 0;
}

static int push_topic_handle(struct push *ps, struct push_topic *pt)
{
	rd_kafka_topic_conf_t *tc;

	if (pt->rkt || !ps->rk)
		return 0;
	tc = rd_kafka_topic_conf_new();
	if (!tc)
		return -ENOMEM;
	rd_kafka_topic_conf_set_opaque(tc, pt);
	pt->rkt = rd_kafka_topic_new(ps->rk, pt->remote, tc);
	if (!pt->rkt) {
		mirror_error(ps->m, "push %s: rd_kafka_topic_new %s: %s", pt->name,
		             pt->remote, rd_kafka_err2str(rd_kafka_last_error()));
		return -EINVAL;
	}
	return 0;
}

/* Match the local topics: new ones get a push_topic, deleted ones lose
 * their reference, grown ones more partitions. */
static void scan_topics(struct push *ps)
{
	struct mirror *m = ps->m;
	char **names = NULL;
	size_t count = 0;

	if (store_topic_list(m->st, &names, &count))
		return;
	for (size_t i = 0; i < ps->ntopics; i++) {
		struct push_topic *pt = ps->topics[i];
		bool found = false;
		for (size_t j = 0; j < count && !found; j++)
			found = !strcmp(names[j], pt->name);
		if (!found && pt->t) {
			topic_put(pt->t);
			pt->t = NULL;
		}
	}
	for (size_t j = 0; j < count; j++) {
		struct push_topic *pt = NULL;
		if (!mirror_matches(m, names[j]))
			continue;
		for (size_t i = 0; i < ps->ntopics && !pt; i++)
			if (!strcmp(ps->topics[i]->name, names[j]))
				pt = ps->topics[i];
		if (!pt) {
			struct push_topic **nt = realloc(ps->topics, (ps->ntopics + 1) *
			                                 sizeof *nt);
			if (!nt)
				break;
			ps->topics = nt;
			pt = calloc(1, sizeof *pt);
			if (!pt)
				break;
			pt->push = ps;
			snprintf(pt->name, sizeof pt->name, "%s", names[j]);
			snprintf(pt->remote, sizeof pt->remote, "%s%s",
			         m->cfg.remote_prefix, names[j]);
			ps->topics[ps->ntopics++] = pt;
		}
		if (!pt->t && store_topic_get(m->st, names[j], &pt->t))
			continue;
		push_topic_parts(pt, topic_partitions(pt->t));
		push_topic_handle(ps, pt);
	}
	for (size_t j = 0; j < count; j++)
		free(names[j]);
	free(names);
}

/* ============================== producing ================================= */

/* Where a partition starts: its checkpoint, checked against the log. */
static void part_start(struct push *ps, struct push_topic *pt, int32_t p,
                       const struct part_info *in)
{
	struct push_part *pp = &pt->parts[p];
	int64_t c = ckpt_find(ps, pt->name, p);

	if (c < 0) {
		c = in->log_start_offset;
	} else if (c > in->next_offset) {
		tfs_log(TFS_LOG_ERROR, "mirror %s: %s/%" PRId32 ": checkpoint %" PRId64
		        " is past the log end %" PRId64 " (topic recreated or data "
		        "dir restored?): starting from the log start %" PRId64,
		        ps->m->cfg.name, pt->name, p, c, in->next_offset,
		        in->log_start_offset);
		c = in->log_start_offset;
	}
	pp->next_send = c;
	pp->frontier = c;
}

/* Retention overtook the mirror: skip to the log start, loudly. */
static void part_skip(struct push *ps, struct push_topic *pt, int32_t p,
                      int64_t log_start)
{
	struct push_part *pp = &pt->parts[p];
	int64_t lost = log_start - pp->next_send;

	if (lost <= 0)
		return;
	tfs_log(TFS_LOG_ERROR, "mirror %s: %s/%" PRId32 ": retention deleted "
	        "offsets %" PRId64 "..%" PRId64 " before they were mirrored: %"
	        PRId64 " records skipped, going on from %" PRId64, ps->m->cfg.name,
	        pt->name, p, pp->next_send, log_start - 1, lost, log_start);
	atomic_fetch_add_explicit(&ps->m->skipped, (uint64_t)lost,
	                          memory_order_relaxed);
	pp->next_send = log_start;
	if (pp->head == pp->tail)
		pp->frontier = log_start;
}

/* Produce one record; 0, 1 when librdkafka's queue is full, or -1 for a
 * refusal (the partition is marked failed). */
static int produce_one(struct push *ps, struct push_topic *pt, int32_t p,
                       const struct record *r)
{
	struct push_part *pp = &pt->parts[p];
	rd_kafka_headers_t *hdrs = NULL;
	rd_kafka_resp_err_t e;
	uint64_t seq = pp->tail;

	if (r->header_count > 0) {
		const uint8_t *k, *v;
		int32_t kl, vl;
		size_t pos = 0;
		hdrs = rd_kafka_headers_new((size_t)r->header_count);
		while (record_next_header(r, &pos, &k, &kl, &v, &vl) == 1)
			rd_kafka_header_add(hdrs, (const char *)k, kl,
			                    vl < 0 ? NULL : v, vl < 0 ? 0 : vl);
	}
	/* NULL pointers are Kafka's null key and value */
	const void *key = r->key_len < 0 ? NULL : r->key;
	size_t key_len = r->key_len < 0 ? 0 : (size_t)r->key_len;
	void *value = r->value_len < 0 ? NULL : (void *)r->value;
	size_t value_len = r->value_len < 0 ? 0 : (size_t)r->value_len;
	e = rd_kafka_producev(ps->rk, RD_KAFKA_V_RKT(pt->rkt),
	                      RD_KAFKA_V_PARTITION(p),
	                      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
	                      RD_KAFKA_V_KEY(key, key_len),
	                      RD_KAFKA_V_VALUE(value, value_len),
	                      RD_KAFKA_V_TIMESTAMP(r->timestamp),
	                      RD_KAFKA_V_HEADERS(hdrs),
	                      RD_KAFKA_V_OPAQUE((void *)(uintptr_t)seq),
	                      RD_KAFKA_V_END);
	if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
		if (hdrs)
			rd_kafka_headers_destroy(hdrs);
		return 1;
	}
	if (e) {
		if (hdrs)
			rd_kafka_headers_destroy(hdrs);
		mirror_error(ps->m, "push %s/%" PRId32 " offset %" PRId64 " to %s: "
		             "%s (retried every %d ms)", pt->name, p, r->offset,
		             pt->remote, rd_kafka_err2str(e), MIRROR_RETRY_MS);
		pp->failed = true;
		return -1;
	}
	pp->ring[seq % PUSH_RING] = (struct push_entry){ r->offset, E_PENDING };
	pp->tail++;
	pp->next_send = r->offset + 1;
	return 0;
}

/* Hand a partition's new records to librdkafka.  Returns how many. */
static size_t push_part_more(struct push *ps, struct push_topic *pt, int32_t p)
{
	struct push_part *pp = &pt->parts[p];
	struct part *part = topic_part(pt->t, p);
	struct part_info in;
	struct part_slice sl;
	size_t sent = 0, got = 0, pos = 0;
	int rc;

	if (!part || pp->failed || tfs_mono_ms() < pp->retry_at)
		return 0;
	part_info(part, &in);
	if (pp->next_send < 0)
		part_start(ps, pt, p, &in);
	if (pp->next_send < in.log_start_offset)
		part_skip(ps, pt, p, in.log_start_offset);
	if (pp->next_send >= in.next_offset || pp->tail - pp->head >= PUSH_RING)
		return 0;
	if (!pp->ring) {
		pp->ring = calloc(PUSH_RING, sizeof *pp->ring);
		if (!pp->ring)
			return 0;
	}
	rc = part_fetch_slice(part, pp->next_send, PUSH_READ_BYTES, &sl);
	if (rc == 0 && sl.len > ps->buf_cap) {
		/* the first batch is always whole: it may be larger */
		uint8_t *nb = realloc(ps->buf, sl.len);
		if (!nb) {
			part_slice_release(&sl);
			return 0;
		}
		ps->buf = nb;
		ps->buf_cap = sl.len;
	}
	if (rc == -ERANGE) {
		part_info(part, &in);
		part_skip(ps, pt, p, in.log_start_offset);
		return 0;
	}
	if (rc) {
		mirror_error(ps->m, "push %s/%" PRId32 ": reading offset %" PRId64
		             ": %s", pt->name, p, pp->next_send, strerror(-rc));
		return 0;
	}
	while (got < sl.len) {
		ssize_t n = pread(sl.fd, ps->buf + got, sl.len - got,
		                  (off_t)(sl.file_pos + (int64_t)got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	part_slice_release(&sl);
	while (pos + BATCH_LOG_OVERHEAD <= got && !pp->failed) {
		struct batch_header h;
		struct batch_decoded dec;
		size_t size;
		bool whole = true;
		rc = batch_parse_header(ps->buf + pos, got - pos, &h);
		if (rc)
			break;          /* -EAGAIN: the rest next time */
		size = BATCH_LOG_OVERHEAD + (size_t)h.length;
		int64_t last = h.base_offset + h.last_offset_delta;
		if (last < pp->next_send) {
			pos += size;
			continue;
		}
		if (h.attributes & BATCH_ATTR_CONTROL) {
			pp->next_send = last + 1;
			part_advance(pp);
			pos += size;
			continue;
		}
		rc = batch_decode(ps->buf + pos, size, PUSH_MAX_DECOMPRESSED, &dec);
		if (rc) {
			mirror_error(ps->m, "push %s/%" PRId32 ": batch at offset %"
			             PRId64 ": %s", pt->name, p, h.base_offset,
			             strerror(-rc));
			pp->retry_at = tfs_mono_ms() + MIRROR_RETRY_MS;
			break;
		}
		for (size_t i = 0; i < dec.nrecs; i++) {
			const struct record *r = &dec.recs[i];
			if (r->offset < pp->next_send)
				continue;
			if (pp->tail - pp->head >= PUSH_RING) {
				whole = false;
				break;
			}
			rc = produce_one(ps, pt, p, r);
			if (rc) {
				whole = false;
				break;
			}
			sent++;
		}
		batch_decoded_free(&dec);
		if (!whole)
			break;
		if (pp->next_send <= last)
			pp->next_send = last + 1;       /* offsets compacted away */
		pos += size;
	}
	return sent;
}

/* ============================== the producer ============================== */

static int producer_new(struct push *ps)
{
	char err[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_dup(ps->m->conf);

	if (!conf)
		return -ENOMEM;
	rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
	ps->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
	if (!ps->rk) {
		rd_kafka_conf_destroy(conf);
		mirror_error(ps->m, "cannot create the producer: %s", err);
		return -EINVAL;
	}
	return 0;
}

/* Purge, serve the reports, destroy (topic handles first). */
static void producer_destroy(struct push *ps, int flush_ms)
{
	if (!ps->rk)
		return;
	if (flush_ms > 0)
		rd_kafka_flush(ps->rk, flush_ms);
	ps->closing = true;
	rd_kafka_purge(ps->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
	rd_kafka_poll(ps->rk, 0);
	for (size_t i = 0; i < ps->ntopics; i++) {
		struct push_topic *pt = ps->topics[i];
		if (pt->rkt)
			rd_kafka_topic_destroy(pt->rkt);
		pt->rkt = NULL;
		pt->remote_ok = false;
	}
	rd_kafka_destroy(ps->rk);
	ps->rk = NULL;
	ps->closing = false;
}

/* After a fatal error: everything not delivered goes again. */
static void rewind_all(struct push *ps)
{
	for (size_t i = 0; i < ps->ntopics; i++) {
		struct push_topic *pt = ps->topics[i];
		for (int32_t p = 0; p < pt->nparts; p++) {
			struct push_part *pp = &pt->parts[p];
			if (pp->next_send < 0)
				continue;
			pp->next_send = pp->frontier;
			pp->head = pp->tail;
			pp->failed = false;
		}
	}
}

static void publish_lag(struct push *ps)
{
	size_t n = 0, cap = 0;
	struct mirror_lag *rows = NULL;

	for (size_t i = 0; i < ps->ntopics; i++) {
		struct push_topic *pt = ps->topics[i];
		for (int32_t p = 0; pt->t && p < pt->nparts; p++) {
			struct part *part = topic_part(pt->t, p);
			struct part_info in;
			if (!part)
				continue;
			if (n == cap) {
				size_t nc = cap ? cap * 2 : 16;
				struct mirror_lag *nr = realloc(rows, nc * sizeof *nr);
				if (!nr)
					break;
				rows = nr;
				cap = nc;
			}
			part_info(part, &in);
			snprintf(rows[n].topic, sizeof rows[n].topic, "%s", pt->name);
			rows[n].partition = p;
			rows[n].mirrored = pt->parts[p].next_send < 0 ? in.log_start_offset
			                                              : pt->parts[p].frontier;
			rows[n].end = in.next_offset;
			n++;
		}
	}
	mirror_publish_lag(ps->m, rows, n);
}

void *mirror_push_main(void *arg)
{
	struct mirror *m = arg;
	struct push ps = { .m = m };
	int64_t next_scan = 0, next_ckpt = 0, next_lag = 0;

	ps.buf = malloc(PUSH_READ_BYTES);
	ps.buf_cap = PUSH_READ_BYTES;
	if (!ps.buf) {
		mirror_error(m, "out of memory");
		return NULL;
	}
	ckpt_load(&ps);
	while (!atomic_load(&m->stop)) {
		int64_t now = tfs_mono_ms();
		size_t sent = 0;
		bool busy = false;

		if (!ps.rk && producer_new(&ps)) {
			mirror_sleep(m, MIRROR_RETRY_MS);
			continue;
		}
		if (now >= next_scan) {
			scan_topics(&ps);
			next_scan = now + MIRROR_SCAN_MS;
		}
		for (size_t i = 0; i < ps.ntopics && !atomic_load(&m->stop); i++) {
			struct push_topic *pt = ps.topics[i];
			if (!pt->t || push_topic_handle(&ps, pt))
				continue;
			if (!pt->remote_ok && tfs_mono_ms() >= pt->remote_retry)
				remote_check(&ps, pt);
			if (!pt->remote_ok)
				continue;
			for (int32_t p = 0; p < pt->nparts; p++) {
				part_maybe_rewind(&pt->parts[p]);
				sent += push_part_more(&ps, pt, p);
				busy |= pt->parts[p].tail - pt->parts[p].head >= PUSH_RING;
			}
		}
		rd_kafka_poll(ps.rk, sent || busy ? 1 : PUSH_IDLE_MS);
		if (sent || busy)
			rd_kafka_poll(ps.rk, 0);
		{
			char err[512];
			if (rd_kafka_fatal_error(ps.rk, err, sizeof err)) {
				mirror_error(m, "producer failed for good (%s): starting a "
				             "new one from the delivered offsets", err);
				producer_destroy(&ps, 0);
				rewind_all(&ps);
				mirror_sleep(m, MIRROR_RETRY_MS);
				continue;
			}
		}
		if (ps.delivered) {
			ps.delivered = false;
			mirror_ok(m);
		}
		now = tfs_mono_ms();
		if (now >= next_ckpt) {
			ckpt_save(&ps);
			next_ckpt = now + PUSH_CKPT_MS;
		}
		if (now >= next_lag) {
			publish_lag(&ps);
			next_lag = now + MIRROR_LAG_MS;
		}
	}
	/* stop: give deliveries in flight 2 s, then checkpoint what came */
	if (ps.rk) {
		rd_kafka_flush(ps.rk, 2000);
		rd_kafka_poll(ps.rk, 0);
	}
	ckpt_save(&ps);
	producer_destroy(&ps, 0);
	for (size_t i = 0; i < ps.ntopics; i++) {
		struct push_topic *pt = ps.topics[i];
		for (int32_t p = 0; p < pt->nparts; p++)
			free(pt->parts[p].ring);
		free(pt->parts);
		if (pt->t)
			topic_put(pt->t);
		free(pt);
	}
	free(ps.topics);
	free(ps.ckpt);
	free(ps.last_ckpt);
	free(ps.buf);
	return NULL;
}
