/*
 * mirror_pull.c - a pull mirror: a Kafka cluster -> local topics.
 *
 * Design
 * ------
 * One thread (mirror_pull_main) owns one librdkafka consumer in the group
 * group_id, subscribed to the remote names of `topics` (remote_prefix +
 * the local name; a glob entry becomes an anchored regular expression,
 * which librdkafka matches against the cluster's topics).  Offsets are
 * committed on the cluster, never automatically: the loop gathers what
 * rd_kafka_consumer_poll returns (up to PULL_BATCH messages or
 * PULL_GATHER_MS), appends each run of one partition's messages to the
 * same partition of the local topic with one part_append (key, value,
 * headers and timestamp as the cluster sent them; the offsets are the
 * local log's own), and only then commits the next offsets (async).  So
 * the local log gets every record at least once: a crash between the
 * append and the commit appends those records again at the next start.
 *
 * Local topics.  The local name is the remote one minus remote_prefix.  A
 * missing local topic is created with the remote partition count (the
 * settings of the daemon's defaults and its [topic.NAME] section, the
 * partition count raised to the remote's), and a local topic with fewer
 * partitions is grown.  Every local topic matching `topics` is a mirror
 * target while the mirror runs (topic_set_mirror_target): the mount
 * refuses writes with EROFS and Produce with POLICY_VIOLATION.
 *
 * A failed append (a record over the local max_message_bytes, a disk
 * error) is an error: the partition is sought back to the first record not
 * appended and tried again after MIRROR_RETRY_MS; nothing is committed
 * past it.
 *
 * Thread safety: everything here belongs to the mirror's thread.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "mirror_int.h"

#define PULL_BATCH 1000
#define PULL_GATHER_MS 20
#define PULL_POLL_MS 100

/* Where a partition's appends got to in this run. */
struct pull_pos {
	char remote[400];
	int32_t partition;
	int64_t next;                   /* remote offset after the last one
	                                   appended */
};

struct pull {
	struct mirror *m;
	struct pull_pos *pos;           /* every partition appended to */
	size_t npos;
	rd_kafka_t *rk;
	rd_kafka_message_t *msgs[PULL_BATCH];
	size_t nmsgs;
	int64_t next_scan;
	int64_t last_ok_ms;             /* monotonic: last poll that worked */
};

static struct pull_pos *pos_find(struct pull *pl, const char *remote,
                                 int32_t partition, bool add)
{
	for (size_t i = 0; i < pl->npos; i++)
		if (pl->pos[i].partition == partition && !strcmp(pl->pos[i].remote, remote))
			return &pl->pos[i];
	if (!add)
		return NULL;
	struct pull_pos *n = realloc(pl->pos, (pl->npos + 1) * sizeof *n);
	if (!n)
		return NULL;
	pl->pos = n;
	n = &pl->pos[pl->npos++];
	snprintf(n->remote, sizeof n->remote, "%s", remote);
	n->partition = partition;
	n->next = -1;
	return n;
}

/* The local name of a remote topic, or NULL when it is not ours. */
static const char *local_name(const struct mirror *m, const char *remote)
{
	size_t pl = strlen(m->cfg.remote_prefix);
	if (strncmp(remote, m->cfg.remote_prefix, pl) || !remote[pl])
		return NULL;
	return remote + pl;
}

/* The subscription: names as they are, globs as ^regex$. */
static rd_kafka_topic_partition_list_t *subscription(const struct mirror *m)
{
	rd_kafka_topic_partition_list_t *l =
		rd_kafka_topic_partition_list_new((int)m->nglobs);

	for (size_t i = 0; i < m->nglobs; i++) {
		const char *g = m->globs[i];
		char buf[1024];
		size_t o = 0;
		if (!strpbrk(g, "*?")) {
			snprintf(buf, sizeof buf, "%s%s", m->cfg.remote_prefix, g);
		} else {
			const char *parts[2] = { m->cfg.remote_prefix, g };
			buf[o++] = '^';
			for (int k = 0; k < 2; k++)
				for (const char *c = parts[k]; *c && o + 4 < sizeof buf; c++) {
					if (k == 1 && *c == '*') {
						buf[o++] = '.';
						buf[o++] = '*';
					} else if (k == 1 && *c == '?') {
						buf[o++] = '.';
					} else if (*c == '.') {
						buf[o++] = '\\';
						buf[o++] = '.';
					} else {
						buf[o++] = *c;
					}
				}
			buf[o++] = '$';
			buf[o] = '\0';
		}
		rd_kafka_topic_partition_list_add(l, buf, RD_KAFKA_PARTITION_UA);
	}
	return l;
}

/* Mark every local topic matching topics as a mirror target. */
static void mark_targets(struct pull *pl)
{
	char **names = NULL;
	size_t count = 0;

	if (store_topic_list(pl->m->st, &names, &count))
		return;
	for (size_t i = 0; i < count; i++) {
		struct topic *t;
		if (mirror_matches(pl->m, names[i]) &&
		    store_topic_get(pl->m->st, names[i], &t) == 0) {
			topic_set_mirror_target(t, true);
			topic_put(t);
		}
		free(names[i]);
	}
	free(names);
}

/* Unmark them at stop. */
static void unmark_targets(struct pull *pl)
{
	char **names = NULL;
	size_t count = 0;

	if (store_topic_list(pl->m->st, &names, &count))
		return;
	for (size_t i = 0; i < count; i++) {
		struct topic *t;
		if (mirror_matches(pl->m, names[i]) &&
		    store_topic_get(pl->m->st, names[i], &t) == 0) {
			topic_set_mirror_target(t, false);
			topic_put(t);
		}
		free(names[i]);
	}
	free(names);
}

/* The remote partition count of a topic, or -1 (error recorded). */
static int32_t remote_partitions(struct pull *pl, const char *remote)
{
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(pl->rk, remote, NULL);
	rd_kafka_resp_err_t e;
	int32_t n = -1;

	if (!rkt)
		return -1;
	e = rd_kafka_metadata(pl->rk, 0, rkt, &md, MIRROR_ADMIN_TIMEOUT_MS);
	if (e)
		mirror_error(pl->m, "pull %s: metadata: %s", remote, rd_kafka_err2str(e));
	else if (md->topic_cnt != 1 || md->topics[0].err)
		mirror_error(pl->m, "pull %s: metadata: %s", remote,
		             rd_kafka_err2str(md->topic_cnt ? md->topics[0].err
		                              : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC));
	else
		n = md->topics[0].partition_cnt;
	if (md)
		rd_kafka_metadata_destroy(md);
	rd_kafka_topic_destroy(rkt);
	return n;
}

/* The local topic for remote, with at least partition + 1 partitions
 * (created or grown to the remote count), marked as a mirror target. */
static int local_topic(struct pull *pl, const char *remote, int32_t partition,
                       struct topic **out)
{
	struct mirror *m = pl->m;
	const char *name = local_name(m, remote);
	struct topic_config tc;
	struct topic *t = NULL;
	int32_t want;
	int rc;

	if (!name)
		return -ENOENT;
	rc = store_topic_get(m->st, name, &t);
	if (rc == 0 && topic_partitions(t) > partition) {
		topic_set_mirror_target(t, true);
		*out = t;
		return 0;
	}
	want = remote_partitions(pl, remote);
	if (want <= partition)
		want = partition + 1;
	if (rc == 0) {
		rc = topic_add_partitions(t, want);
		if (rc && topic_partitions(t) <= partition) {
			mirror_error(m, "pull %s: cannot grow local topic %s to %" PRId32
			             " partitions: %s", remote, name, want, strerror(-rc));
			topic_put(t);
			return rc;
		}
		tfs_log(TFS_LOG_INFO, "mirror %s: grew local topic %s to %" PRId32
		        " partitions", m->cfg.name, name, topic_partitions(t));
	} else if (rc == -ENOENT) {
		tfs_config_topic(m->dcfg, name, &tc);
		if (tc.partitions < want)
			tc.partitions = want;
		rc = store_topic_create(m->st, name, &tc, &t);
		if (rc == -EEXIST)
			rc = store_topic_get(m->st, name, &t);
		if (rc) {
			mirror_error(m, "pull %s: cannot create local topic %s: %s",
			             remote, name, strerror(-rc));
			return rc;
		}
		tfs_log(TFS_LOG_INFO, "mirror %s: created local topic %s with %"
		        PRId32 " partitions", m->cfg.name, name, topic_partitions(t));
	} else {
		mirror_error(m, "pull %s: local topic %s: %s", remote, name,
		             strerror(-rc));
		return rc;
	}
	topic_set_mirror_target(t, true);
	*out = t;
	return 0;
}

/* Seek a partition back to offset (a failed append). */
static void seek_back(struct pull *pl, const char *remote, int32_t partition,
                      int64_t offset)
{
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
	rd_kafka_error_t *err;

	rd_kafka_topic_partition_list_add(l, remote, partition)->offset = offset;
	err = rd_kafka_seek_partitions(pl->rk, l, MIRROR_ADMIN_TIMEOUT_MS);
	if (err) {
		mirror_error(pl->m, "pull %s/%" PRId32 ": seek to %" PRId64 ": %s",
		             remote, partition, offset, rd_kafka_error_string(err));
		rd_kafka_error_destroy(err);
	}
	rd_kafka_topic_partition_list_destroy(l);
}

/* Append msgs[from, to) (one partition, in order) locally.  0 or -errno. */
static int append_run(struct pull *pl, size_t from, size_t to)
{
	const rd_kafka_message_t *first = pl->msgs[from];
	const char *remote = rd_kafka_topic_name(first->rkt);
	size_t n = to - from, nh = 0;
	struct rec_in *recs = calloc(n, sizeof *recs);
	struct rec_header *hs = NULL;
	struct topic *t = NULL;
	int rc;

	if (!recs)
		return -ENOMEM;
	for (size_t i = from; i < to; i++) {
		rd_kafka_headers_t *h = NULL;
		if (rd_kafka_message_headers(pl->msgs[i], &h) == 0 && h)
			nh += rd_kafka_header_cnt(h);
	}
	if (nh && !(hs = calloc(nh, sizeof *hs))) {
		free(recs);
		return -ENOMEM;
	}
	nh = 0;
	for (size_t i = from; i < to; i++) {
		const rd_kafka_message_t *msg = pl->msgs[i];
		struct rec_in *r = &recs[i - from];
		rd_kafka_timestamp_type_t tt;
		rd_kafka_headers_t *h = NULL;
		r->key = msg->key;
		r->key_len = msg->key ? (int32_t)msg->key_len : -1;
		r->value = msg->payload;
		r->value_len = msg->payload ? (int32_t)msg->len : -1;
		r->timestamp = rd_kafka_message_timestamp(msg, &tt);
		if (rd_kafka_message_headers(msg, &h) == 0 && h) {
			const char *name;
			const void *val;
			size_t size;
			r->headers = &hs[nh];
			for (size_t k = 0; rd_kafka_header_get_all(h, k, &name, &val,
			                                             &size) == 0; k++) {
				hs[nh].key = name;
				hs[nh].key_len = (int32_t)strlen(name);
				hs[nh].value = val;
				hs[nh].value_len = val ? (int32_t)size : -1;
				nh++;
				r->header_count++;
			}
		}
	}
	rc = local_topic(pl, remote, first->partition, &t);
	if (rc == 0) {
		struct part *p = topic_part(t, first->partition);
		rc = p ? part_append(p, recs, n, NULL) : -ENOENT;
		if (rc)
			mirror_error(pl->m, "pull %s/%" PRId32 " offsets %" PRId64 "..%"
			             PRId64 ": local append to %s: %s (retried every %d "
			             "ms)", remote, first->partition, first->offset,
			             pl->msgs[to - 1]->offset, topic_name(t),
			             strerror(-rc), MIRROR_RETRY_MS);
		topic_put(t);
	}
	free(hs);
	free(recs);
	return rc;
}

/* Append what was gathered, commit what was appended. */
static void flush_msgs(struct pull *pl)
{
	rd_kafka_topic_partition_list_t *commit =
		rd_kafka_topic_partition_list_new(8);
	bool failed = false;

	for (size_t i = 0; i < pl->nmsgs;) {
		const rd_kafka_message_t *a = pl->msgs[i];
		size_t j = i + 1;
		while (j < pl->nmsgs && pl->msgs[j]->rkt == a->rkt &&
		       pl->msgs[j]->partition == a->partition &&
		       pl->msgs[j]->offset > pl->msgs[j - 1]->offset)
			j++;
		const char *remote = rd_kafka_topic_name(a->rkt);
		rd_kafka_topic_partition_t *c =
			rd_kafka_topic_partition_list_find(commit, remote, a->partition);
		struct pull_pos *pp = pos_find(pl, remote, a->partition, true);
		if (c && c->err) {
			i = j;          /* this partition failed earlier in the batch */
			continue;
		}
		/* records appended already in this run (fetched again after a
		 * rebalance whose commit had not landed) are not appended twice */
		while (pp && i < j && pl->msgs[i]->offset < pp->next)
			i++;
		if (i == j)
			continue;
		a = pl->msgs[i];
		if (append_run(pl, i, j) == 0) {
			if (pp)
				pp->next = pl->msgs[j - 1]->offset + 1;
			atomic_fetch_add_explicit(&pl->m->records, j - i,
			                          memory_order_relaxed);
			if (!c)
				c = rd_kafka_topic_partition_list_add(commit, remote,
				                                      a->partition);
			c->offset = pl->msgs[j - 1]->offset + 1;
		} else {
			seek_back(pl, remote, a->partition, a->offset);
			/* earlier runs of this partition keep their offset */
			if (!c)
				c = rd_kafka_topic_partition_list_add(commit, remote,
				                                      a->partition);
			c->err = RD_KAFKA_RESP_ERR__FAIL;
			failed = true;
		}
		i = j;
	}
	/* commit the partitions whose runs all went in (and the earlier good
	 * runs of one that failed later: c->offset kept) */
	rd_kafka_topic_partition_list_t *ok =
		rd_kafka_topic_partition_list_new(commit->cnt);
	for (int k = 0; k < commit->cnt; k++)
		if (commit->elems[k].offset >= 0)
			rd_kafka_topic_partition_list_add(ok, commit->elems[k].topic,
			                                  commit->elems[k].partition)->offset =
				commit->elems[k].offset;
	if (ok->cnt > 0) {
		rd_kafka_resp_err_t e = rd_kafka_commit(pl->rk, ok, 1);
		if (e)
			mirror_error(pl->m, "pull: commit: %s", rd_kafka_err2str(e));
	}
	rd_kafka_topic_partition_list_destroy(ok);
	rd_kafka_topic_partition_list_destroy(commit);
	for (size_t i = 0; i < pl->nmsgs; i++)
		rd_kafka_message_destroy(pl->msgs[i]);
	pl->nmsgs = 0;
	if (failed)
		mirror_sleep(pl->m, MIRROR_RETRY_MS);
	else
		mirror_ok(pl->m);
}

static void publish_lag(struct pull *pl)
{
	rd_kafka_topic_partition_list_t *as = NULL;
	struct mirror_lag *rows = NULL;
	size_t n = 0;

	if (rd_kafka_assignment(pl->rk, &as) || !as)
		return;
	rd_kafka_position(pl->rk, as);
	rows = as->cnt ? calloc((size_t)as->cnt, sizeof *rows) : NULL;
	for (int i = 0; rows && i < as->cnt; i++) {
		const rd_kafka_topic_partition_t *tp = &as->elems[i];
		const char *name = local_name(pl->m, tp->topic);
		int64_t lo = -1, hi = -1;
		rd_kafka_get_watermark_offsets(pl->rk, tp->topic, tp->partition, &lo, &hi);
		snprintf(rows[n].topic, sizeof rows[n].topic, "%s", name ? name : tp->topic);
		rows[n].partition = tp->partition;
		const struct pull_pos *pp = pos_find(pl, tp->topic, tp->partition, false);
		rows[n].mirrored = pp && pp->next >= 0 ? pp->next : tp->offset;
		rows[n].end = hi;
		if (rows[n].mirrored < 0 && lo >= 0)
			rows[n].mirrored = lo;
		n++;
	}
	rd_kafka_topic_partition_list_destroy(as);
	mirror_publish_lag(pl->m, rows, n);
}

void *mirror_pull_main(void *arg)
{
	struct mirror *m = arg;
	struct pull pl = { .m = m };
	rd_kafka_topic_partition_list_t *sub;
	rd_kafka_resp_err_t e;
	char err[512];
	int64_t next_lag = 0;

	mark_targets(&pl);
	while (!pl.rk && !atomic_load(&m->stop)) {
		rd_kafka_conf_t *conf = rd_kafka_conf_dup(m->conf);
		pl.rk = conf ? rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err) : NULL;
		if (!pl.rk) {
			if (conf)
				rd_kafka_conf_destroy(conf);
			mirror_error(m, "cannot create the consumer: %s", err);
			mirror_sleep(m, MIRROR_RETRY_MS);
		}
	}
	if (!pl.rk)
		goto out;
	rd_kafka_poll_set_consumer(pl.rk);
	sub = subscription(m);
	e = rd_kafka_subscribe(pl.rk, sub);
	rd_kafka_topic_partition_list_destroy(sub);
	if (e)
		mirror_error(m, "subscribe: %s", rd_kafka_err2str(e));
	while (!atomic_load(&m->stop)) {
		int64_t start = tfs_mono_ms();
		while (pl.nmsgs < PULL_BATCH && !atomic_load(&m->stop)) {
			int64_t left = start + (pl.nmsgs ? PULL_GATHER_MS : PULL_POLL_MS) -
			               tfs_mono_ms();
			rd_kafka_message_t *msg = rd_kafka_consumer_poll(pl.rk,
			                                                 left > 0 ? (int)left : 0);
			if (!msg) {
				if (left <= 0)
					break;
				continue;
			}
			if (msg->err) {
				if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
					mirror_error(m, "pull%s%s: %s", msg->rkt ? " " : "",
					             msg->rkt ? rd_kafka_topic_name(msg->rkt) : "",
					             rd_kafka_message_errstr(msg));
				rd_kafka_message_destroy(msg);
				continue;
			}
			pl.msgs[pl.nmsgs++] = msg;
		}
		if (pl.nmsgs)
			flush_msgs(&pl);
		int64_t now = tfs_mono_ms();
		if (now >= pl.next_scan) {
			mark_targets(&pl);      /* topics made meanwhile */
			pl.next_scan = now + MIRROR_SCAN_MS;
		}
		if (now >= next_lag) {
			publish_lag(&pl);
			next_lag = now + MIRROR_LAG_MS;
		}
	}
	for (size_t i = 0; i < pl.nmsgs; i++)
		rd_kafka_message_destroy(pl.msgs[i]);
	pl.nmsgs = 0;
	/* leave the group when the cluster answers; do not wait for it
	 * when it does not */
	pthread_mutex_lock(&m->mu);
	bool healthy = !strcmp(m->state, "ok");
	pthread_mutex_unlock(&m->mu);
	if (healthy) {
		rd_kafka_consumer_close(pl.rk);
		rd_kafka_destroy(pl.rk);
	} else {
		rd_kafka_destroy_flags(pl.rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
	}
out:
	unmark_targets(&pl);
	free(pl.pos);
	return NULL;
}
