/*
 * srv_offsets.c - committed offsets over the Kafka protocol: FindCoordinator
 * 0-4, OffsetCommit 0-9, OffsetFetch 0-9 and OffsetDelete 0
 * (docs/PROTOCOL.md, "Consumer group offsets").  Registered in the dispatch
 * table srv_apis (srv_api.c).  The offsets themselves live in the store
 * (storage/groups.h); membership is srv_group.c's, asked through
 * srv_group_commit_check and srv_group_subscribes.
 *
 * DESIGN
 *
 * As in the other handler files, a request is read once to check that it
 * parses (one that does not closes the connection before anything
 * changed: srv_malformed), then read again while acting, and the answer is
 * written in request order.  Every array count is checked against the
 * bytes left (kw_varray with the element's smallest wire size) before it
 * drives a loop or an allocation, so the work and memory of a request are
 * bounded by its size; the one answer not bounded by the request (a fetch
 * of every offset of a group, OffsetFetch with null topics) is bounded by
 * what the store holds, and a response growing past OFFS_RESP_MAX closes
 * the connection instead of growing further.
 *
 * FindCoordinator.  This node coordinates every group: key type 0 (group)
 * is answered with node 0 and the host and port Metadata advertises, for
 * any key, as Kafka does (Kafka does not check the group id here; the
 * group APIs answer INVALID_GROUP_ID).  Key type 1 (transaction) gets
 * COORDINATOR_NOT_AVAILABLE (no transactions here); any other key type
 * INVALID_REQUEST, as Kafka answers below v6.  v4 answers each key of
 * CoordinatorKeys in order.
 *
 * OffsetCommit.  Kafka's order of checks: a topic or partition that does
 * not exist gets UNKNOWN_TOPIC_OR_PARTITION; an invalid group id (empty,
 * over GROUP_ID_MAX bytes, a NUL) gives every other partition
 * INVALID_GROUP_ID; then srv_group_commit_check decides for the whole
 * request (v0 carries no generation or member: a simple commit, generation
 * -1 and member ""), and its error goes to every remaining partition; then
 * per partition metadata over GROUP_META_MAX is OFFSET_METADATA_TOO_LARGE
 * and a negative offset INVALID_COMMIT_OFFSET_SIZE (Kafka stores what it is
 * given; its clients never send a negative offset; we refuse one, with the
 * code Kafka's clients treat as "invalid, do not retry").  Everything left
 * is written by ONE groups_commit call (one batch in the offsets log, all
 * or nothing).  When that write fails (ENOSPC, EIO, ENOMEM) every one of
 * those partitions gets COORDINATOR_NOT_AVAILABLE: every client retries it
 * after looking the coordinator up again (Kafka itself turns a storage
 * failure of the offsets log into NOT_COORDINATOR, equally retriable;
 * KAFKA_STORAGE_ERROR would end a Java consumer's commit with "unexpected
 * error").  -EMFILE (a new group past [groups] max_groups) is
 * GROUP_MAX_SIZE_REACHED, which clients do not retry: the limit does not
 * go away in a retry's time.  v1's CommitTimestamp and v2-4's
 * RetentionTimeMs are read and ignored (the store stamps each commit with
 * its own clock; retention is the [groups] setting); v6+ carries the leader
 * epoch, kept; v7+ the group instance id, passed to the check.
 *
 * OffsetFetch.  A partition without a committed offset (unknown group,
 * topic or partition included) is answered as Kafka's coordinator does:
 * offset -1, leader epoch -1, metadata "", error NONE.  Null topics (v2+)
 * mean every committed offset of the group (groups_fetch_all, by topic
 * then partition).  An invalid group id is the group's INVALID_GROUP_ID:
 * the top-level ErrorCode (v2-7, with no topics), the group's (v8+), or,
 * as v0-1 have no such field, each requested partition's.  RequireStable
 * (v7+) needs nothing: there are no transactions, so every committed
 * offset is stable.  v9's MemberId/MemberEpoch (KIP-848) are read and
 * ignored.
 *
 * OffsetDelete.  An invalid group id is INVALID_GROUP_ID, a group the store
 * does not know GROUP_ID_NOT_FOUND (both top-level, no topics).  A group
 * with members of a protocol type other than "consumer", or with shell
 * readers (the @group= view), is NON_EMPTY_GROUP (Kafka's classic
 * coordinator; shell readers commit as members would).  Otherwise, per
 * topic: unknown topic or partition UNKNOWN_TOPIC_OR_PARTITION, a topic the
 * group's members subscribe (srv_group_subscribes)
 * GROUP_SUBSCRIBED_TO_TOPIC for each of its partitions, else
 * groups_delete_offset (no committed offset is not an error, as in Kafka).
 * A tombstone that cannot be written makes the top-level error
 * COORDINATOR_NOT_AVAILABLE (the admin client retries the whole request;
 * deletes are idempotent) and that partition's too.
 *
 * ThrottleTimeMs is always 0.
 *
 * Thread-safety: server thread only.  groups_* calls take the groups mutex
 * and may write(2)/fsync(2) the offsets log on this thread.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "srv_internal.h"

#define OFFS_RESP_MAX   (64 << 20)     /* bytes: an OffsetFetch answer past
                                          this closes the connection */
#define OFFS_NODE_ID    0               /* the one node, as in Metadata */

/* Copy a wire group id into a C string (GROUP_ID_MAX + 1 bytes); false when
 * it cannot be a group id (null, empty, too long, a NUL). */
static bool group_copy(char *dst, const char *s, int len)
{
	if (!s || len <= 0 || len > GROUP_ID_MAX)
		return false;
	if (group_id_check(s, (size_t)len))
		return false;
	memcpy(dst, s, (size_t)len);
	dst[len] = '\0';
	return true;
}

/* A malloc'd C copy of wire text ("" for null); NULL when out of memory. */
static char *text_dup(const char *s, int len)
{
	size_t n = s && len > 0 ? (size_t)len : 0;
	char *d = malloc(n + 1);
	if (!d)
		return NULL;
	if (n)
		memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

/* The partition count of a wire topic name: -1 when unknown or invalid;
 * name (256 bytes) gets the C name when valid. */
static int32_t topic_nparts(struct srv *s, const char *wname, int wlen, char *name)
{
	struct topic *t = NULL;
	if (!srv_topic_name_copy(name, 256, wname, wlen)) {
		name[0] = '\0';
		return -1;
	}
	if (store_topic_get(s->st, name, &t))
		return -1;
	int32_t n = topic_partitions(t);
	topic_put(t);
	return n;
}

/* ============================ FindCoordinator ============================= */

/* Write the answer for one key (v0-3 body fields, or a v4 Coordinator). */
static int fc_error(int8_t key_type)
{
	if (key_type == 0)
		return KERR_NONE;
	if (key_type == 1)
		return KERR_COORDINATOR_NOT_AVAILABLE;
	return KERR_INVALID_REQUEST;
}

static const char *fc_message(int err)
{
	if (err == KERR_COORDINATOR_NOT_AVAILABLE)
		return "transactions are not supported";
	if (err == KERR_INVALID_REQUEST)
		return "unknown coordinator key type";
	return NULL;
}

enum srv_verdict srv_api_find_coordinator(struct srv *s, const struct srv_req *req,
                                          struct srv_resp *resp, int *park_ms,
                                          char *why, size_t why_len)
{
	int v = req->api_version;
	bool flex = req->flexible;
	struct kw_reader r;
	struct kw_writer *w = &resp->w;
	const char *key = NULL;
	int kl = -1;
	int8_t key_type = 0;
	int32_t nkeys = 0;
	size_t keys_pos = 0;
	(void)park_ms;
	kw_reader_init(&r, req->body, req->body_len);
	if (v <= 3)
		kw_vstr(&r, flex, &key, &kl);           /* Key */
	if (v >= 1)
		key_type = kw_i8(&r);                   /* KeyType */
	if (v >= 4) {
		nkeys = kw_carray(&r, 1, false);        /* CoordinatorKeys */
		keys_pos = r.pos;
		for (int32_t i = 0; i < nkeys && !r.err; i++) {
			kw_cstr(&r, &key, &kl);
			if (!key)
				r.err = true;           /* not nullable */
		}
	}
	kw_vtags(&r, flex);
	if (r.err || (v <= 3 && !key))
		return srv_malformed(req, why, why_len);

	int err = fc_error(key_type);
	if (err == KERR_NONE && key_type == 0 && v <= 3 &&
	    !srv_authorize_wire(s, req, ACL_RES_GROUP, key, kl, ACL_OP_DESCRIBE))
		err = KERR_GROUP_AUTHORIZATION_FAILED;              /* ACL */
	bool ok = err == KERR_NONE;
	const char *adv_host;
	int adv_port;
	srv_advertised(s, req, &adv_host, &adv_port);  /* this listener's */
	srv_resp_begin_req(resp, req);
	if (v >= 1)
		kw_put_i32(w, 0);                       /* ThrottleTimeMs */
	if (v <= 3) {
		kw_put_i16(w, (int16_t)err);
		if (v >= 1)
			kw_put_vstr(w, flex, fc_message(err),
			            fc_message(err) ? (int)strlen(fc_message(err)) : -1);
		kw_put_i32(w, ok ? OFFS_NODE_ID : -1);
		kw_put_vcstr(w, flex, ok ? adv_host : "");
		kw_put_i32(w, ok ? adv_port : -1);
	} else {
		kw_reader_init(&r, req->body, req->body_len);
		r.pos = keys_pos;
		kw_put_carray(w, nkeys);
		for (int32_t i = 0; i < nkeys; i++) {
			kw_cstr(&r, &key, &kl);
			int kerr = err == KERR_NONE && key_type == 0 &&
			           !srv_authorize_wire(s, req, ACL_RES_GROUP, key, kl,
			                               ACL_OP_DESCRIBE)      /* ACL */
			           ? KERR_GROUP_AUTHORIZATION_FAILED : err;
			bool kok = kerr == KERR_NONE;
			kw_put_cstr_compact(w, key, kl);
			kw_put_i32(w, kok ? OFFS_NODE_ID : -1);
			kw_put_cstr_compact(w, kok ? adv_host : "",
			                    kok ? (int)strlen(adv_host) : 0);
			kw_put_i32(w, kok ? adv_port : -1);
			kw_put_i16(w, (int16_t)kerr);
			kw_put_cstr_compact(w, fc_message(kerr),
			                    fc_message(kerr) ? (int)strlen(fc_message(kerr)) : -1);
			kw_put_tags0(w);
		}
	}
	kw_put_vtags(w, flex);
	return SRV_RESPOND;
}

/* ============================== OffsetCommit ============================== */

/* One topic of the request, as read. */
struct oc_topic {
	const char *wname;          /* wire name (borrowed from the request) */
	int wlen;
	char *name;                 /* C name, in the names buffer */
	int32_t nparts_topic;       /* partitions of the topic, -1 unknown */
	int32_t first, count;       /* its partitions in the entries array */
};

/* Read the request's fixed head (the same in both passes). */
struct oc_head {
	const char *group;
	int gl;
	int32_t generation;
	const char *member;
	int ml;
	const char *instance;
	int il;
};

static void oc_read_head(struct kw_reader *r, int v, bool flex, struct oc_head *h)
{
	h->generation = -1;
	h->member = "";
	h->ml = 0;
	h->instance = NULL;
	h->il = -1;
	kw_vstr(r, flex, &h->group, &h->gl);
	if (v >= 1) {
		h->generation = kw_i32(r);
		kw_vstr(r, flex, &h->member, &h->ml);
		if (!h->member)
			r->err = true;
	}
	if (v >= 7)
		kw_vstr(r, flex, &h->instance, &h->il);
	if (v >= 2 && v <= 4)
		kw_i64(r);                          /* RetentionTimeMs: ignored */
}

/* Read one partition; c gets its fields (metadata borrowed). */
static void oc_read_part(struct kw_reader *r, int v, bool flex, struct group_commit *c)
{
	const char *md;
	int ml;
	c->partition = kw_i32(r);
	c->offset = kw_i64(r);
	c->leader_epoch = v >= 6 ? kw_i32(r) : -1;
	if (v == 1)
		kw_i64(r);                          /* CommitTimestamp: ignored */
	kw_vstr(r, flex, &md, &ml);
	c->metadata = md;
	c->metadata_len = md ? ml : 0;
	kw_vtags(r, flex);
}

static size_t oc_part_min(int v, bool flex)
{
	return 4 + 8 + (v >= 6 ? 4 : 0) + (v == 1 ? 8 : 0) + (flex ? 2 : 2);
}

static int oc_err_from_commit(int rc)
{
	switch (rc) {
	case 0:
		return KERR_NONE;
	case -ENOENT:
		return KERR_UNKNOWN_TOPIC_OR_PARTITION;
	case -EMSGSIZE:
		return KERR_OFFSET_METADATA_TOO_LARGE;
	case -EINVAL:
		return KERR_INVALID_COMMIT_OFFSET_SIZE;
	default:
		return KERR_COORDINATOR_NOT_AVAILABLE;
	}
}

enum srv_verdict srv_api_offset_commit(struct srv *s, const struct srv_req *req,
                                       struct srv_resp *resp, int *park_ms,
                                       char *why, size_t why_len)
{
	int v = req->api_version;
	bool flex = req->flexible;
	struct kw_reader r;
	struct oc_head h;
	(void)park_ms;

	/* pass 1: does it parse?  How many topics and partitions? */
	kw_reader_init(&r, req->body, req->body_len);
	oc_read_head(&r, v, flex, &h);
	size_t topics_pos = r.pos;
	int32_t ntopics = kw_varray(&r, flex, flex ? 3 : 6, false);
	size_t nentries = 0;
	for (int32_t i = 0; i < ntopics && !r.err; i++) {
		const char *n;
		int nl;
		kw_vstr(&r, flex, &n, &nl);
		if (!n)
			r.err = true;               /* not nullable */
		int32_t np = kw_varray(&r, flex, oc_part_min(v, flex), false);
		for (int32_t j = 0; j < np && !r.err; j++) {
			struct group_commit c;
			oc_read_part(&r, v, flex, &c);
		}
		kw_vtags(&r, flex);
		if (np > 0)
			nentries += (size_t)np;
	}
	kw_vtags(&r, flex);
	if (r.err || !h.group)
		return srv_malformed(req, why, why_len);

	/* pass 2: collect (everything bounded by the request's size) */
	struct oc_topic *topics = calloc(ntopics > 0 ? (size_t)ntopics : 1, sizeof *topics);
	struct group_commit *ents = calloc(nentries ? nentries : 1, sizeof *ents);
	int16_t *errs = calloc(nentries ? nentries : 1, sizeof *errs);
	char *names = malloc(req->body_len + (size_t)(ntopics > 0 ? ntopics : 0) + 1);
	char *member = text_dup(h.member, h.ml);
	char *instance = h.instance ? text_dup(h.instance, h.il) : NULL;
	char group[GROUP_ID_MAX + 1];
	if (!topics || !ents || !errs || !names || !member ||
	    (h.instance && !instance)) {
		snprintf(why, why_len, "offsetcommit: out of memory");
		free(topics); free(ents); free(errs); free(names);
		free(member); free(instance);
		return SRV_CLOSE;
	}
	bool group_ok = group_copy(group, h.group, h.gl);
	bool gdenied = !srv_authorize_wire(s, req, ACL_RES_GROUP, h.group, h.gl,
	                                   ACL_OP_READ);            /* ACL */
	kw_reader_init(&r, req->body, req->body_len);
	r.pos = topics_pos;
	kw_varray(&r, flex, flex ? 3 : 6, false);
	size_t at = 0, names_at = 0;
	size_t ncand = 0;                   /* partitions still to decide */
	for (int32_t i = 0; i < ntopics; i++) {
		struct oc_topic *t = &topics[i];
		char cname[256];
		kw_vstr(&r, flex, &t->wname, &t->wlen);
		bool tdenied = !gdenied && !srv_authorize_wire(s, req,
		               ACL_RES_TOPIC, t->wname, t->wlen, ACL_OP_READ); /* ACL */
		t->nparts_topic = topic_nparts(s, t->wname, t->wlen, cname);
		size_t cl = strlen(cname);
		t->name = names + names_at;
		memcpy(t->name, cname, cl + 1);
		names_at += cl + 1;
		int32_t np = kw_varray(&r, flex, oc_part_min(v, flex), false);
		t->first = (int32_t)at;
		t->count = np > 0 ? np : 0;
		for (int32_t j = 0; j < np; j++, at++) {
			struct group_commit *c = &ents[at];
			oc_read_part(&r, v, flex, c);
			c->topic = t->name;
			if (gdenied) {
				errs[at] = KERR_GROUP_AUTHORIZATION_FAILED;
			} else if (tdenied) {
				errs[at] = KERR_TOPIC_AUTHORIZATION_FAILED;
			} else if (c->partition < 0 || c->partition >= t->nparts_topic) {
				errs[at] = KERR_UNKNOWN_TOPIC_OR_PARTITION;
			} else if (!group_ok) {
				errs[at] = KERR_INVALID_GROUP_ID;
			} else {
				errs[at] = -1;      /* to decide */
				ncand++;
			}
		}
		kw_vtags(&r, flex);
	}

	if (ncand) {
		int gerr = srv_group_commit_check(s, group, member, h.generation,
		                                  instance);
		for (size_t k = 0; k < nentries; k++) {
			if (errs[k] != -1)
				continue;
			if (gerr != KERR_NONE)
				errs[k] = (int16_t)gerr;
			else if (ents[k].metadata &&
			         ents[k].metadata_len > GROUP_META_MAX)
				errs[k] = KERR_OFFSET_METADATA_TOO_LARGE;
			else if (ents[k].offset < 0)
				errs[k] = KERR_INVALID_COMMIT_OFFSET_SIZE;
		}
	}
	/* the partitions still undecided, in one groups_commit call */
	size_t nbatch = 0;
	for (size_t k = 0; k < nentries; k++)
		if (errs[k] == -1)
			nbatch++;
	struct group_commit *batch = nbatch ? calloc(nbatch, sizeof *batch) : NULL;
	size_t *batch_of = nbatch ? calloc(nbatch, sizeof *batch_of) : NULL;
	if (nbatch && (!batch || !batch_of)) {
		for (size_t k = 0; k < nentries; k++)
			if (errs[k] == -1)
				errs[k] = KERR_COORDINATOR_NOT_AVAILABLE;
		nbatch = 0;
	}
	if (nbatch) {
		size_t b = 0;
		for (size_t k = 0; k < nentries; k++) {
			if (errs[k] != -1)
				continue;
			batch[b] = ents[k];
			batch[b].error = 0;
			batch_of[b++] = k;
		}
		int rc = groups_commit(store_groups(s->st), group, batch, nbatch, 0);
		int all = KERR_NONE;
		if (rc == -EINVAL)
			all = KERR_INVALID_GROUP_ID;
		else if (rc == -EMFILE)
			all = KERR_GROUP_MAX_SIZE_REACHED;
		else if (rc)
			all = KERR_COORDINATOR_NOT_AVAILABLE;
		if (rc) {
			char g[80];
			srv_sanitize(g, sizeof g, group, (int)strlen(group));
			srv_log(s, "offsetcommit: group \"%s\": %zu offsets not "
			        "committed: %s (%s)", g, nbatch, strerror(-rc),
			        kw_err_name(all));
		}
		for (size_t b2 = 0; b2 < nbatch; b2++)
			errs[batch_of[b2]] = (int16_t)(rc ? all
			                     : oc_err_from_commit(batch[b2].error));
	}
	free(batch);
	free(batch_of);

	struct kw_writer *w = &resp->w;
	srv_resp_begin_req(resp, req);
	if (v >= 3)
		kw_put_i32(w, 0);                       /* ThrottleTimeMs */
	kw_put_varray(w, flex, ntopics);
	for (int32_t i = 0; i < ntopics; i++) {
		struct oc_topic *t = &topics[i];
		kw_put_vstr(w, flex, t->wname, t->wlen);
		kw_put_varray(w, flex, t->count);
		for (int32_t j = 0; j < t->count; j++) {
			kw_put_i32(w, ents[t->first + j].partition);
			kw_put_i16(w, errs[t->first + j]);
			kw_put_vtags(w, flex);
		}
		kw_put_vtags(w, flex);
	}
	kw_put_vtags(w, flex);
	free(topics);
	free(ents);
	free(errs);
	free(names);
	free(member);
	free(instance);
	return SRV_RESPOND;
}

/* ============================== OffsetFetch =============================== */

/* One partition's answer. */
static void of_put_part(struct kw_writer *w, int v, bool flex, int32_t partition,
                        const struct group_offset *o, int16_t err)
{
	kw_put_i32(w, partition);
	kw_put_i64(w, o ? o->offset : -1);
	if (v >= 5)
		kw_put_i32(w, o ? o->leader_epoch : -1);
	if (o)
		kw_put_vstr(w, flex, o->metadata, o->metadata ? o->metadata_len : -1);
	else
		kw_put_vstr(w, flex, "", 0);
	kw_put_i16(w, err);
	kw_put_vtags(w, flex);
}

/* Skip nt requested topics (Name, PartitionIndexes, tags). */
static void of_skip_topic_elems(struct kw_reader *r, bool flex, int32_t nt)
{
	for (int32_t i = 0; i < nt && !r->err; i++) {
		const char *n;
		int nl;
		kw_vstr(r, flex, &n, &nl);
		if (!n)
			r->err = true;
		int32_t np = kw_varray(r, flex, 4, false);
		for (int32_t j = 0; j < np && !r->err; j++)
			kw_i32(r);
		kw_vtags(r, flex);
	}
}

/* The topics of one group's answer, reading its requested topics from r
 * (positioned at the Topics array, which parsed).  *gerr gets the
 * group-level error. */
static void of_put_group_topics(struct srv *s, const struct srv_req *req,
                                struct kw_writer *w, int v,
                                bool flex, const char *gid, int gl,
                                struct kw_reader *r, int16_t *gerr)
{
	char group[GROUP_ID_MAX + 1];
	bool gdenied = !srv_authorize_wire(s, req, ACL_RES_GROUP, gid, gl,
	                                   ACL_OP_DESCRIBE);        /* ACL */
	bool group_ok = !gdenied && group_copy(group, gid, gl);
	int32_t nt = kw_varray(r, flex, flex ? 3 : 6, v >= 2);
	*gerr = group_ok ? KERR_NONE : gdenied ? KERR_GROUP_AUTHORIZATION_FAILED
	                                       : KERR_INVALID_GROUP_ID;

	if (nt < 0) {
		/* every committed offset of the group */
		struct group_offset *all = NULL;
		size_t n = 0;
		int rc = group_ok ? groups_fetch_all(store_groups(s->st), group,
		                                     &all, &n) : 0;
		if (rc) {
			srv_log(s, "offsetfetch: groups_fetch_all: %s", strerror(-rc));
			*gerr = KERR_COORDINATOR_NOT_AVAILABLE;
			n = 0;
		}
		/* only the topics the principal may describe (ACL) */
		bool *keep = n ? calloc(n, sizeof *keep) : NULL;
		if (n && !keep) {
			*gerr = KERR_COORDINATOR_NOT_AVAILABLE;
			n = 0;
		}
		int32_t distinct = 0;
		for (size_t i = 0; i < n; i++) {
			bool first = i == 0 || strcmp(all[i].topic, all[i - 1].topic);
			keep[i] = first ? srv_authorized_quiet(s, req, ACL_RES_TOPIC,
			                                       all[i].topic,
			                                       ACL_OP_DESCRIBE)
			                : keep[i - 1];
			distinct += first && keep[i];
		}
		kw_put_varray(w, flex, distinct);
		for (size_t i = 0; i < n;) {
			size_t j = i;
			while (j < n && !strcmp(all[j].topic, all[i].topic))
				j++;
			if (!keep[i]) {
				i = j;
				continue;
			}
			kw_put_vcstr(w, flex, all[i].topic);
			kw_put_varray(w, flex, (int32_t)(j - i));
			for (size_t k = i; k < j; k++)
				of_put_part(w, v, flex, all[k].partition, &all[k],
				            KERR_NONE);
			kw_put_vtags(w, flex);
			i = j;
		}
		free(keep);
		if (all)
			group_offsets_free(all, n);
		return;
	}
	if (!group_ok && v >= 2) {
		/* the error is the group's: no topics */
		of_skip_topic_elems(r, flex, nt);
		kw_put_varray(w, flex, 0);
		return;
	}
	kw_put_varray(w, flex, nt);
	for (int32_t i = 0; i < nt; i++) {
		const char *wn;
		int wl;
		char name[256];
		kw_vstr(r, flex, &wn, &wl);
		bool name_ok = srv_topic_name_copy(name, sizeof name, wn, wl);
		bool tdenied = group_ok && !srv_authorize_wire(s, req,
		               ACL_RES_TOPIC, wn, wl, ACL_OP_DESCRIBE);  /* ACL */
		kw_put_vstr(w, flex, wn, wl);
		int32_t np = kw_varray(r, flex, 4, false);
		kw_put_varray(w, flex, np);
		for (int32_t j = 0; j < np; j++) {
			int32_t p = kw_i32(r);
			struct group_offset o;
			memset(&o, 0, sizeof o);
			bool have = group_ok && name_ok && !tdenied &&
			            groups_fetch(store_groups(s->st), group, name, p,
			                         &o) == 0;
			of_put_part(w, v, flex, p, have ? &o : NULL,
			            !group_ok ? *gerr : tdenied
			            ? KERR_TOPIC_AUTHORIZATION_FAILED : KERR_NONE);
			if (have)
				group_offset_clear(&o);
		}
		kw_vtags(r, flex);
		kw_put_vtags(w, flex);
	}
}

/* Read one v8+ group up to its Topics array. */
static void of_read_group_head(struct kw_reader *r, int v, const char **gid, int *gl)
{
	const char *m;
	int ml;
	kw_cstr(r, gid, gl);
	if (!*gid)
		r->err = true;
	if (v >= 9) {
		kw_cstr(r, &m, &ml);                /* MemberId: ignored */
		kw_i32(r);                          /* MemberEpoch: ignored */
	}
}

enum srv_verdict srv_api_offset_fetch(struct srv *s, const struct srv_req *req,
                                      struct srv_resp *resp, int *park_ms,
                                      char *why, size_t why_len)
{
	int v = req->api_version;
	bool flex = req->flexible;
	struct kw_reader r;
	const char *gid;
	int gl;
	int32_t ngroups = 0;
	size_t body_pos;
	(void)park_ms;

	/* pass 1: does it parse? */
	kw_reader_init(&r, req->body, req->body_len);
	if (v <= 7) {
		kw_vstr(&r, flex, &gid, &gl);
		if (!gid)
			r.err = true;
		body_pos = r.pos;
		int32_t nt = kw_varray(&r, flex, flex ? 3 : 6, v >= 2);
		of_skip_topic_elems(&r, flex, nt);
	} else {
		body_pos = r.pos;
		ngroups = kw_carray(&r, v >= 9 ? 8 : 3, false);
		for (int32_t i = 0; i < ngroups && !r.err; i++) {
			of_read_group_head(&r, v, &gid, &gl);
			int32_t nt = kw_carray(&r, 3, true);
			of_skip_topic_elems(&r, flex, nt);
			kw_tags_skip(&r);
		}
	}
	if (v >= 7)
		kw_i8(&r);                          /* RequireStable: always stable */
	kw_vtags(&r, flex);
	if (r.err)
		return srv_malformed(req, why, why_len);

	/* pass 2: answer */
	struct kw_writer *w = &resp->w;
	int16_t gerr;
	srv_resp_begin_req(resp, req);
	if (v >= 3)
		kw_put_i32(w, 0);                       /* ThrottleTimeMs */
	kw_reader_init(&r, req->body, req->body_len);
	if (v <= 7) {
		kw_vstr(&r, flex, &gid, &gl);
		of_put_group_topics(s, req, w, v, flex, gid, gl, &r, &gerr);
		if (v >= 2)
			kw_put_i16(w, gerr);
	} else {
		r.pos = body_pos;
		kw_carray(&r, v >= 9 ? 8 : 3, false);
		kw_put_carray(w, ngroups);
		for (int32_t i = 0; i < ngroups; i++) {
			of_read_group_head(&r, v, &gid, &gl);
			kw_put_cstr_compact(w, gid, gl);
			of_put_group_topics(s, req, w, v, flex, gid, gl, &r, &gerr);
			kw_tags_skip(&r);
			kw_put_i16(w, gerr);
			kw_put_tags0(w);
			if (w->len > OFFS_RESP_MAX)
				break;
		}
	}
	kw_put_vtags(w, flex);
	if (w->len > OFFS_RESP_MAX) {
		srv_resp_reset(resp);
		snprintf(why, why_len, "offsetfetch v%d: answer over %d MiB", v,
		         OFFS_RESP_MAX >> 20);
		return SRV_CLOSE;
	}
	return SRV_RESPOND;
}

/* ============================== OffsetDelete ============================== */

enum srv_verdict srv_api_offset_delete(struct srv *s, const struct srv_req *req,
                                       struct srv_resp *resp, int *park_ms,
                                       char *why, size_t why_len)
{
	struct kw_reader r;
	const char *gid;
	int gl;
	(void)park_ms;

	/* pass 1: does it parse?  How many partitions? */
	kw_reader_init(&r, req->body, req->body_len);
	kw_str(&r, &gid, &gl);
	size_t topics_pos = r.pos;
	int32_t nt = kw_array(&r, 6, false);
	size_t nparts = 0;
	for (int32_t i = 0; i < nt && !r.err; i++) {
		const char *n;
		int nl;
		kw_str(&r, &n, &nl);
		if (!n)
			r.err = true;
		int32_t np = kw_array(&r, 4, false);
		for (int32_t j = 0; j < np && !r.err; j++)
			kw_i32(&r);
		if (np > 0)
			nparts += (size_t)np;
	}
	if (r.err || !gid)
		return srv_malformed(req, why, why_len);

	/* the group as a whole */
	char group[GROUP_ID_MAX + 1];
	int16_t top = KERR_NONE;
	int members = 0;
	if (!srv_authorize_wire(s, req, ACL_RES_GROUP, gid, gl, ACL_OP_DELETE)) {
		top = KERR_GROUP_AUTHORIZATION_FAILED;              /* ACL */
	} else if (!group_copy(group, gid, gl)) {
		top = KERR_INVALID_GROUP_ID;
	} else {
		struct group_info gi;
		memset(&gi, 0, sizeof gi);
		int rc = groups_describe(store_groups(s->st), group, &gi, NULL);
		if (rc == -ENOENT) {
			top = KERR_GROUP_ID_NOT_FOUND;
		} else if (rc) {
			srv_log(s, "offsetdelete: groups_describe: %s", strerror(-rc));
			top = KERR_COORDINATOR_NOT_AVAILABLE;
		} else {
			members = gi.members;
			if (gi.readers > 0 || (gi.members > 0 &&
			                       strcmp(gi.protocol_type, "consumer")))
				top = KERR_NON_EMPTY_GROUP;
		}
		free(gi.id);
	}

	/* per partition (bounded by the request's size) */
	int16_t *errs = NULL;
	if (top == KERR_NONE) {
		errs = calloc(nparts ? nparts : 1, sizeof *errs);
		if (!errs) {
			snprintf(why, why_len, "offsetdelete: out of memory");
			return SRV_CLOSE;
		}
		kw_reader_init(&r, req->body, req->body_len);
		r.pos = topics_pos;
		kw_array(&r, 6, false);
		size_t at = 0;
		for (int32_t i = 0; i < nt; i++) {
			const char *wn;
			int wl;
			char name[256];
			kw_str(&r, &wn, &wl);
			bool tdenied = !srv_authorize_wire(s, req, ACL_RES_TOPIC, wn,
			                                   wl, ACL_OP_READ); /* ACL */
			int32_t tparts = tdenied ? -1 : topic_nparts(s, wn, wl, name);
			bool subscribed = tparts >= 0 && members > 0 &&
			                  srv_group_subscribes(s, group, name);
			int32_t np = kw_array(&r, 4, false);
			for (int32_t j = 0; j < np; j++, at++) {
				int32_t p = kw_i32(&r);
				if (p < 0 || p >= tparts) {
					errs[at] = tdenied ? KERR_TOPIC_AUTHORIZATION_FAILED
					                   : KERR_UNKNOWN_TOPIC_OR_PARTITION;
					continue;
				}
				if (subscribed) {
					errs[at] = KERR_GROUP_SUBSCRIBED_TO_TOPIC;
					continue;
				}
				int rc = groups_delete_offset(store_groups(s->st),
				                              group, name, p);
				if (rc && rc != -ENOENT) {
					srv_log(s, "offsetdelete: %s/%d: %s", name, p,
					        strerror(-rc));
					errs[at] = KERR_COORDINATOR_NOT_AVAILABLE;
					top = KERR_COORDINATOR_NOT_AVAILABLE;
				}
			}
		}
	}

	struct kw_writer *w = &resp->w;
	srv_resp_begin_req(resp, req);
	kw_put_i16(w, top);
	kw_put_i32(w, 0);                           /* ThrottleTimeMs */
	if (!errs) {
		kw_put_i32(w, 0);                   /* Topics: none */
		return SRV_RESPOND;
	}
	kw_reader_init(&r, req->body, req->body_len);
	r.pos = topics_pos;
	kw_array(&r, 6, false);
	kw_put_i32(w, nt);
	size_t at = 0;
	for (int32_t i = 0; i < nt; i++) {
		const char *wn;
		int wl;
		kw_str(&r, &wn, &wl);
		kw_put_str(w, wn, wl);
		int32_t np = kw_array(&r, 4, false);
		kw_put_i32(w, np);
		for (int32_t j = 0; j < np; j++, at++) {
			kw_put_i32(w, kw_i32(&r));
			kw_put_i16(w, errs[at]);
		}
	}
	free(errs);
	return SRV_RESPOND;
}
