/*
 * srv_group.c - the group coordinator: membership of consumer groups
 * (JoinGroup 0-9, SyncGroup 0-5, Heartbeat 0-4, LeaveGroup 0-5,
 * DescribeGroups 0-5, ListGroups 0-5, DeleteGroups 0-2) and the checks
 * OffsetCommit and OffsetDelete (srv_offsets.c) ask of it.
 *
 * DESIGN
 *
 * The classic group protocol as Kafka's GroupCoordinator runs it, one node
 * coordinating every group.  State lives here, on the server thread, in
 * memory; what others need (state, members, the .groups text) is published
 * to the store with groups_publish after every change, and committed
 * offsets live in the store (storage/groups.h).  A daemon restart forgets
 * membership, as a coordinator failover does: members get UNKNOWN_MEMBER_ID
 * or ILLEGAL_GENERATION and rejoin.
 *
 * States (Kafka's names):
 *
 *   Empty                no members (maybe KIP-394 pending member ids)
 *   PreparingRebalance   waiting for the members to (re)join.  Ends when
 *                        every known member has rejoined and no pending
 *                        member id is outstanding, or when the rebalance
 *                        timer fires: the max of the members'
 *                        RebalanceTimeoutMs.  Coming from Empty, the
 *                        timer is the initial delay (group_initial_
 *                        rebalance_delay_ms, capped by the rebalance
 *                        timeout), extended by another delay while new
 *                        members keep arriving, up to the rebalance
 *                        timeout (Kafka's InitialDelayedJoin); it ends only
 *                        on its timer.  At the end dynamic members that
 *                        did not rejoin are removed (static ones stay until
 *                        their session times out), the generation is
 *                        bumped, a protocol is chosen and every held
 *                        JoinGroup is answered; the leader's answer lists
 *                        every member's metadata, the others get an empty
 *                        list.  No member left: Empty (generation bumped).
 *   CompletingRebalance  waiting for the leader's SyncGroup; followers'
 *                        SyncGroups are held.  The leader's assignments are
 *                        stored (members it left out get empty ones) and
 *                        every held SyncGroup is answered: Stable.
 *   Stable               heartbeats answer NONE.
 *   Dead                 deleted; never kept here (a deleted group is
 *                        forgotten at once).
 *
 * Leader: kept across a rebalance when it rejoined, else the first member
 * to join in this rebalance.  Protocol: among the protocols every member
 * supports, the one most members list first; ties go to the leader's
 * order.  A joining member must name a ProtocolType and at least one
 * protocol; in a group with other members, the same ProtocolType and a
 * protocol all of them support (else INCONSISTENT_GROUP_PROTOCOL).
 *
 * Holds.  A JoinGroup during PreparingRebalance and a follower's SyncGroup
 * during CompletingRebalance are kept (SRV_HOLD: the core stops reading
 * the connection) and answered later through srv_conn_reply, with the
 * connection's serial so a connection that closed (and whose memory was
 * reused) is never answered.  When the request that completes a rebalance
 * is itself one of the held ones (the last member to join), it is answered
 * in place (cur below) and returns SRV_RESPOND.  A connection that closes
 * while held leaves its member in the group with the hold marked
 * connection-less: it counts as joined (or waiting for sync), its answer
 * is dropped, and its session timer starts when the answer would have been
 * sent, so it is evicted one session timeout later unless it comes back,
 * as in Kafka.  Every hold with a connection is answered on every path
 * that ends it: rebalance completion, the leader's SyncGroup, a new
 * rebalance (held SyncGroups get REBALANCE_IN_PROGRESS), the member's
 * removal (UNKNOWN_MEMBER_ID) or fencing (FENCED_INSTANCE_ID), a second
 * JoinGroup of the same member (the first gets REBALANCE_IN_PROGRESS).
 *
 * Timers.  Each member has a session deadline (SessionTimeoutMs after its
 * last JoinGroup, SyncGroup, Heartbeat or OffsetCommit), not counted while
 * a request of it is held (Kafka keeps members awaiting join or sync
 * alive).  A member past its deadline is removed and the group rebalances.
 * KIP-394 pending member ids expire after the session timeout.
 * srv_group_tick runs them; it scans the groups only when a handler
 * changed something or the earliest deadline passed.  Session timeouts
 * outside [group_min_session_timeout_ms, group_max_session_timeout_ms]
 * are INVALID_SESSION_TIMEOUT.
 *
 * Members.  KIP-394: JoinGroup v4+ with an empty member id from a dynamic
 * member gets MEMBER_ID_REQUIRED and a new id (client id + "-" + a random
 * UUID), kept as pending until it rejoins with it.  KIP-345: a member with
 * a GroupInstanceId is static; a JoinGroup with an empty member id and a
 * known instance id replaces the old member id (the old one is fenced:
 * FENCED_INSTANCE_ID to its held requests and later calls); in Stable the
 * new id gets the current generation at once (the leader its members'
 * metadata, SkipAssignment from v9) unless the protocol choice would
 * change, which rebalances.  A LeaveGroup naming an instance id removes
 * that static member (FENCED_INSTANCE_ID when the member id does not
 * match).
 *
 * Bounds.  group_max_members members (pending ones included) per group:
 * GROUP_MAX_SIZE_REACHED.  Metadata and assignments are bounded by the
 * request size (max_request_bytes).  The number of groups is bounded by
 * the store (groups_publish returns -EMFILE past max_groups for a new
 * group): such a JoinGroup gets GROUP_MAX_SIZE_REACHED, which clients
 * report as fatal rather than retrying for ever (COORDINATOR_NOT_AVAILABLE
 * would make them retry silently), and a log line says why.  A group with
 * no members and no pending ids is freed here (withdrawn from the store,
 * where its offsets stay); thousands of idle groups cost nothing here.
 *
 * Thread-safety: server thread only.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "srv_internal.h"

enum gstate { GS_EMPTY, GS_PREPARING, GS_COMPLETING, GS_STABLE, GS_DEAD };

static const char *const gstate_names[] = {
	"Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead",
};

/* A held request: active while the member waits for an answer; conn NULL
 * when its connection closed (the answer is then dropped). */
struct ghold {
	bool active;
	struct srv_conn *conn;
	uint64_t serial;
};

struct gproto {
	char *name;
	uint8_t *meta;
	int32_t meta_len;
};

struct gmember {
	char *id;
	char *instance_id;          /* NULL: dynamic member */
	char *client_id;
	char *host;                 /* "/127.0.0.1", as Kafka shows it */
	int32_t session_ms, rebalance_ms;
	struct gproto *protos;
	int nprotos;
	uint8_t *assign;            /* from the leader's SyncGroup */
	int32_t assign_len;
	int64_t session_deadline_ms;
	bool joined;                /* rejoined in the current rebalance */
	uint64_t join_seq;          /* order of joining (leader choice) */
	struct ghold join, sync;
};

struct gpending {
	char *id;
	int64_t expire_ms;
};

struct group {
	char *id;
	enum gstate state;
	int32_t generation;
	char *protocol_type;        /* NULL until a member joined */
	char *protocol;             /* chosen; NULL when none */
	char *leader;               /* member id; NULL when none */
	struct gmember **m;
	int nm, capm;
	struct gpending *pend;
	int npend, cappend;
	int64_t join_deadline_ms;   /* PreparingRebalance's timer */
	bool initial_delay;         /* that timer is the initial delay */
	int32_t initial_remaining_ms;
	bool new_members_added;     /* during the initial delay */
	uint64_t join_seq;
	bool dirty;                 /* publish at the next flush */
};

struct srv_groups {
	struct group **g;
	size_t n, cap;
	int64_t next_ms;            /* earliest timer */
	bool changed;               /* a handler changed something: rescan */
	/* the request being handled: a hold of it is answered in place */
	struct {
		struct srv_conn *conn;
		uint64_t serial;
		const struct srv_req *req;
		struct srv_resp *resp;
		bool answered;
	} cur;
	uint64_t id_counter;        /* member ids when getrandom fails */
	int64_t full_log_ms;        /* rate limit of the max_groups line */
};

#define GRP_INITIAL_DELAY_MIN_MS 0

/* ================================ helpers ================================= */

/* Does the C string c equal the wire string (w, len)? */
static bool wstr_eq(const char *c, const char *w, int len)
{
	if (!c)
		return len < 0;
	if (len < 0)
		return false;
	return strlen(c) == (size_t)len && !memcmp(c, w, (size_t)len);
}

/* A C copy of a wire string; NULL for null or on ENOMEM (*oom set). */
static char *wstr_dup(const char *w, int len, bool *oom)
{
	if (len < 0)
		return NULL;
	char *s = malloc((size_t)len + 1);
	if (!s) {
		*oom = true;
		return NULL;
	}
	memcpy(s, w, (size_t)len);
	s[len] = '\0';
	return s;
}

static void stats_set(struct srv *s, enum srv_stat which, uint64_t v)
{
	atomic_store_explicit(&s->stats[which], v, memory_order_relaxed);
}

static void log_group_id(char *out, size_t len, const char *id)
{
	srv_sanitize(out, len, id, (int)strlen(id));
}

/* ================================ members ================================= */

static void protos_free(struct gproto *p, int n)
{
	for (int i = 0; i < n; i++) {
		free(p[i].name);
		free(p[i].meta);
	}
	free(p);
}

static void member_free(struct gmember *m)
{
	if (!m)
		return;
	free(m->id);
	free(m->instance_id);
	free(m->client_id);
	free(m->host);
	protos_free(m->protos, m->nprotos);
	free(m->assign);
	free(m);
}

static const struct gproto *member_proto(const struct gmember *m, const char *name)
{
	if (!name)
		return NULL;
	for (int i = 0; i < m->nprotos; i++)
		if (!strcmp(m->protos[i].name, name))
			return &m->protos[i];
	return NULL;
}

static bool protos_equal(const struct gproto *a, int na, const struct gproto *b,
                         int nb)
{
	if (na != nb)
		return false;
	for (int i = 0; i < na; i++)
		if (strcmp(a[i].name, b[i].name) || a[i].meta_len != b[i].meta_len ||
		    (a[i].meta_len > 0 && memcmp(a[i].meta, b[i].meta,
		                                 (size_t)a[i].meta_len)))
			return false;
	return true;
}

static struct gmember *group_member(const struct group *g, const char *id, int len)
{
	for (int i = 0; i < g->nm; i++)
		if (wstr_eq(g->m[i]->id, id, len))
			return g->m[i];
	return NULL;
}

static struct gmember *group_static(const struct group *g, const char *iid, int len)
{
	if (len < 0)
		return NULL;
	for (int i = 0; i < g->nm; i++)
		if (g->m[i]->instance_id && wstr_eq(g->m[i]->instance_id, iid, len))
			return g->m[i];
	return NULL;
}

static int group_pending(const struct group *g, const char *id, int len)
{
	for (int i = 0; i < g->npend; i++)
		if (wstr_eq(g->pend[i].id, id, len))
			return i;
	return -1;
}

static void pending_remove(struct group *g, int i)
{
	free(g->pend[i].id);
	g->pend[i] = g->pend[--g->npend];
	g->dirty = true;
}

/* ================================= groups ================================= */

static struct group *group_find(struct srv_groups *gs, const char *id, int len)
{
	for (size_t i = 0; i < gs->n; i++)
		if (wstr_eq(gs->g[i]->id, id, len))
			return gs->g[i];
	return NULL;
}

static void group_free(struct group *g)
{
	for (int i = 0; i < g->nm; i++)
		member_free(g->m[i]);
	free(g->m);
	for (int i = 0; i < g->npend; i++)
		free(g->pend[i].id);
	free(g->pend);
	free(g->id);
	free(g->protocol_type);
	free(g->protocol);
	free(g->leader);
	free(g);
}

/* ================================ answers ================================= */

/* Answer a hold with fn: in place when it is the request being handled,
 * through the core otherwise, dropped when its connection is gone. */
static void hold_answer(struct srv *s, struct ghold *h, srv_reply_fn fn, void *arg)
{
	struct srv_groups *gs = s->grp;
	if (!h->active)
		return;
	h->active = false;
	if (h->conn && h->conn == gs->cur.conn && h->serial == gs->cur.serial &&
	    !gs->cur.answered) {
		fn(s, gs->cur.req, gs->cur.resp, arg);
		gs->cur.answered = true;
	} else if (h->conn) {
		srv_conn_reply(s, h->conn, h->serial, fn, arg);
	}
	h->conn = NULL;
}

/* Make h the hold of the request being handled. */
static void hold_take(struct srv *s, struct ghold *h)
{
	h->active = true;
	h->conn = s->grp->cur.conn;
	h->serial = s->grp->cur.serial;
}

/* What a JoinGroup answer says. */
struct join_res {
	int16_t err;
	int32_t generation;
	const char *protocol_type;  /* NULL: null (v7+) */
	const char *protocol;       /* NULL: null (v7+), "" before */
	const char *leader;
	const char *member_id;
	bool skip_assignment;
	const struct group *members; /* the leader's list; NULL: empty */
};

static void join_write(struct srv *s, const struct srv_req *req,
                       struct srv_resp *resp, void *arg)
{
	const struct join_res *jr = arg;
	struct kw_writer *w = &resp->w;
	int v = req->api_version;
	bool flex = req->flexible;
	(void)s;

	srv_resp_begin_req(resp, req);
	if (v >= 2)
		kw_put_i32(w, 0);                   /* ThrottleTimeMs */
	kw_put_i16(w, jr->err);
	kw_put_i32(w, jr->generation);
	if (v >= 7)
		kw_put_vcstr(w, flex, jr->protocol_type);
	kw_put_vcstr(w, flex, jr->protocol ? jr->protocol : v >= 7 ? NULL : "");
	kw_put_vcstr(w, flex, jr->leader ? jr->leader : "");
	if (v >= 9)
		kw_put_i8(w, jr->skip_assignment ? 1 : 0);
	kw_put_vcstr(w, flex, jr->member_id ? jr->member_id : "");
	const struct group *g = jr->members;
	int n = 0;
	if (g)
		for (int i = 0; i < g->nm; i++)
			n += member_proto(g->m[i], g->protocol) != NULL;
	kw_put_varray(w, flex, n);
	for (int i = 0; g && i < g->nm; i++) {
		const struct gproto *p = member_proto(g->m[i], g->protocol);
		if (!p)
			continue;
		kw_put_vcstr(w, flex, g->m[i]->id);
		if (v >= 5)
			kw_put_vcstr(w, flex, g->m[i]->instance_id);
		kw_put_vbytes_len(w, flex, p->meta_len);
		kw_put(w, p->meta, (size_t)p->meta_len);
		kw_put_vtags(w, flex);
	}
	kw_put_vtags(w, flex);
}

/* The JoinGroup answer of the current generation for member m. */
static void join_answer_member(struct srv *s, struct group *g, struct gmember *m)
{
	bool leader = g->leader && !strcmp(g->leader, m->id);
	struct join_res jr = {
		.err = KERR_NONE, .generation = g->generation,
		.protocol_type = g->protocol_type, .protocol = g->protocol,
		.leader = g->leader, .member_id = m->id,
		.members = leader ? g : NULL,
	};
	hold_answer(s, &m->join, join_write, &jr);
}

static void join_answer_err(struct srv *s, struct ghold *h, int16_t err,
                            const char *member_id)
{
	struct join_res jr = { .err = err, .generation = -1,
	                       .member_id = member_id };
	hold_answer(s, h, join_write, &jr);
}

struct sync_res {
	int16_t err;
	const char *protocol_type, *protocol;   /* v5+; NULL: null */
	const uint8_t *assign;
	int32_t assign_len;
};

static void sync_write(struct srv *s, const struct srv_req *req,
                       struct srv_resp *resp, void *arg)
{
	const struct sync_res *sr = arg;
	struct kw_writer *w = &resp->w;
	int v = req->api_version;
	bool flex = req->flexible;
	(void)s;

	srv_resp_begin_req(resp, req);
	if (v >= 1)
		kw_put_i32(w, 0);                   /* ThrottleTimeMs */
	kw_put_i16(w, sr->err);
	if (v >= 5) {
		kw_put_vcstr(w, flex, sr->protocol_type);
		kw_put_vcstr(w, flex, sr->protocol);
	}
	kw_put_vbytes_len(w, flex, sr->assign_len < 0 ? 0 : sr->assign_len);
	if (sr->assign_len > 0)
		kw_put(w, sr->assign, (size_t)sr->assign_len);
	kw_put_vtags(w, flex);
}

static void sync_answer_err(struct srv *s, struct ghold *h, int16_t err)
{
	struct sync_res sr = { .err = err };
	hold_answer(s, h, sync_write, &sr);
}

static void sync_answer_member(struct srv *s, struct group *g, struct gmember *m)
{
	struct sync_res sr = { .err = KERR_NONE, .protocol_type = g->protocol_type,
	                       .protocol = g->protocol, .assign = m->assign,
	                       .assign_len = m->assign_len };
	hold_answer(s, &m->sync, sync_write, &sr);
}

/* ============================ state machine =============================== */

static void complete_join(struct srv *s, struct group *g, int64_t now);

static int32_t group_rebalance_timeout(const struct group *g)
{
	int32_t t = 0;
	for (int i = 0; i < g->nm; i++)
		if (g->m[i]->rebalance_ms > t)
			t = g->m[i]->rebalance_ms;
	return t;
}

static void session_touch(struct gmember *m, int64_t now)
{
	m->session_deadline_ms = now + m->session_ms;
}

/* Kafka's prepareRebalance. */
static void prepare_rebalance(struct srv *s, struct group *g, int64_t now)
{
	if (g->state == GS_COMPLETING) {
		/* the assignment being made is void: held syncs retry */
		for (int i = 0; i < g->nm; i++) {
			struct gmember *m = g->m[i];
			sync_answer_err(s, &m->sync, KERR_REBALANCE_IN_PROGRESS);
			free(m->assign);
			m->assign = NULL;
			m->assign_len = 0;
		}
	}
	int32_t timeout = group_rebalance_timeout(g);
	if (g->state == GS_EMPTY) {
		int32_t delay = s->cfg.group_initial_rebalance_delay_ms;
		if (delay < GRP_INITIAL_DELAY_MIN_MS)
			delay = GRP_INITIAL_DELAY_MIN_MS;
		if (delay > timeout)
			delay = timeout;
		g->initial_delay = true;
		g->initial_remaining_ms = timeout - delay;
		g->new_members_added = false;
		g->join_deadline_ms = now + delay;
	} else {
		g->initial_delay = false;
		g->join_deadline_ms = now + timeout;
	}
	g->state = GS_PREPARING;
	g->dirty = true;
	s->grp->changed = true;
}

static void maybe_prepare_rebalance(struct srv *s, struct group *g, int64_t now)
{
	if (g->state == GS_STABLE || g->state == GS_COMPLETING ||
	    g->state == GS_EMPTY)
		prepare_rebalance(s, g, now);
}

static bool all_joined(const struct group *g)
{
	if (g->npend > 0)
		return false;
	for (int i = 0; i < g->nm; i++)
		if (!g->m[i]->joined)
			return false;
	return true;
}

/* PreparingRebalance: complete when everyone is in (not during the
 * initial delay, which ends only on its timer). */
static void try_complete_join(struct srv *s, struct group *g, int64_t now)
{
	if (g->state == GS_PREPARING && !g->initial_delay && all_joined(g))
		complete_join(s, g, now);
}

/* Remove member i (join order kept), answering its holds with err. */
static void member_remove_ordered(struct srv *s, struct group *g, int i,
                                  int16_t err)
{
	struct gmember *m = g->m[i];
	join_answer_err(s, &m->join, err, m->id);
	sync_answer_err(s, &m->sync, err);
	memmove(&g->m[i], &g->m[i + 1], (size_t)(g->nm - i - 1) * sizeof *g->m);
	g->nm--;
	if (g->leader && !strcmp(g->leader, m->id)) {
		free(g->leader);
		g->leader = NULL;
		if (g->nm > 0) {
			g->leader = strdup(g->m[0]->id);
			/* ENOMEM: no leader until the next rebalance picks one */
		}
	}
	member_free(m);
	g->dirty = true;
	s->grp->changed = true;
}

/* Kafka's removeMemberAndUpdateGroup. */
static void member_leave(struct srv *s, struct group *g, int i, int16_t err,
                         int64_t now)
{
	member_remove_ordered(s, g, i, err);
	if (g->state == GS_STABLE || g->state == GS_COMPLETING)
		maybe_prepare_rebalance(s, g, now);
	else if (g->state == GS_PREPARING)
		try_complete_join(s, g, now);
}

/* The protocol every member supports that most list first (ties: the
 * leader's order); NULL when there is none. */
static const char *select_protocol(const struct group *g)
{
	const struct gmember *lead = NULL;
	for (int i = 0; i < g->nm; i++)
		if (g->leader && !strcmp(g->m[i]->id, g->leader))
			lead = g->m[i];
	if (!lead && g->nm > 0)
		lead = g->m[0];
	if (!lead)
		return NULL;
	const char *best = NULL;
	int best_votes = -1;
	for (int p = 0; p < lead->nprotos; p++) {
		const char *name = lead->protos[p].name;
		bool all = true;
		for (int i = 0; i < g->nm && all; i++)
			all = member_proto(g->m[i], name) != NULL;
		if (!all)
			continue;
		int votes = 0;
		for (int i = 0; i < g->nm; i++) {
			/* member i votes for its first candidate */
			for (int q = 0; q < g->m[i]->nprotos; q++) {
				const char *cand = g->m[i]->protos[q].name;
				bool call = true;
				for (int j = 0; j < g->nm && call; j++)
					call = member_proto(g->m[j], cand) != NULL;
				if (call) {
					votes += !strcmp(cand, name);
					break;
				}
			}
		}
		if (votes > best_votes) {
			best = name;
			best_votes = votes;
		}
	}
	return best;
}

static void rebalance_log(struct srv *s, struct group *g)
{
	char gid[96];
	log_group_id(gid, sizeof gid, g->id);
	tfs_log(TFS_LOG_INFO, "net: group \"%s\" rebalanced: generation %" PRId32
	        ", %d members, protocol %s", gid, g->generation, g->nm,
	        g->protocol ? g->protocol : "(none)");
	atomic_fetch_add_explicit(&s->stats[SRV_STAT_REBALANCES], 1,
	                          memory_order_relaxed);
}

/* End of PreparingRebalance (Kafka's onCompleteJoin). */
static void complete_join(struct srv *s, struct group *g, int64_t now)
{
	/* dynamic members that did not rejoin are gone */
	for (int i = 0; i < g->nm;) {
		if (!g->m[i]->joined && !g->m[i]->instance_id)
			member_remove_ordered(s, g, i, KERR_UNKNOWN_MEMBER_ID);
		else
			i++;
	}
	g->initial_delay = false;
	g->join_deadline_ms = INT64_MAX;
	g->generation++;
	g->dirty = true;
	s->grp->changed = true;
	free(g->protocol);
	g->protocol = NULL;
	if (g->nm == 0) {
		g->state = GS_EMPTY;
		free(g->leader);
		g->leader = NULL;
		return;
	}
	/* leader: kept when it rejoined, else the first to join */
	struct gmember *lead = NULL;
	for (int i = 0; i < g->nm; i++)
		if (g->leader && !strcmp(g->leader, g->m[i]->id) && g->m[i]->joined)
			lead = g->m[i];
	for (int i = 0; !lead && i < g->nm; i++)
		if (g->m[i]->joined && (!lead || g->m[i]->join_seq < lead->join_seq))
			lead = g->m[i];
	if (!lead) {
		/* only static members that did not rejoin: find the earliest */
		for (int i = 0; i < g->nm; i++)
			if (!lead || g->m[i]->join_seq < lead->join_seq)
				lead = g->m[i];
	}
	char *nl = strdup(lead->id);
	if (nl) {
		free(g->leader);
		g->leader = nl;
	}
	const char *proto = select_protocol(g);
	g->protocol = proto ? strdup(proto) : NULL;
	g->state = GS_COMPLETING;
	rebalance_log(s, g);
	for (int i = 0; i < g->nm; i++) {
		struct gmember *m = g->m[i];
		if (!m->joined)
			continue;
		m->joined = false;
		join_answer_member(s, g, m);
		session_touch(m, now);
	}
}

/* The initial delay or the rebalance timeout fired. */
static void join_timer(struct srv *s, struct group *g, int64_t now)
{
	if (g->initial_delay && g->new_members_added && g->initial_remaining_ms > 0) {
		int32_t delay = s->cfg.group_initial_rebalance_delay_ms;
		if (delay > g->initial_remaining_ms)
			delay = g->initial_remaining_ms;
		if (delay < 1)
			delay = 1;
		g->initial_remaining_ms -= delay;
		g->new_members_added = false;
		g->join_deadline_ms = now + delay;
		return;
	}
	complete_join(s, g, now);
}

/* ============================== publishing ================================ */

/* Append the topic:partition list of a ConsumerProtocolAssignment (int16
 * version, [string topic, [int32 partition]], v1+ bytes user data) to f;
 * false when it does not decode. */
static bool assignment_text(FILE *f, const uint8_t *b, int32_t len)
{
	struct kw_reader r;
	if (!b || len < 2)
		return false;
	kw_reader_init(&r, b, (size_t)len);
	if (kw_i16(&r) < 0)
		return false;
	int32_t nt = kw_array(&r, 6, false);
	for (int32_t t = 0; t < nt && !r.err; t++) {
		const char *topic;
		int tl;
		kw_str(&r, &topic, &tl);
		int32_t np = kw_array(&r, 4, false);
		if (r.err || tl < 0)
			return false;
		char tn[256];
		srv_sanitize(tn, sizeof tn, topic, tl);
		fprintf(f, " %s:", tn);
		for (int32_t p = 0; p < np && !r.err; p++)
			fprintf(f, "%s%" PRId32, p ? "," : "", kw_i32(&r));
	}
	return !r.err;
}

/* The .groups text: one line per member. */
static char *members_text(const struct group *g)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (!f)
		return NULL;
	bool consumer = g->protocol_type && !strcmp(g->protocol_type, "consumer");
	for (int i = 0; i < g->nm; i++) {
		const struct gmember *m = g->m[i];
		char id[300], iid[300];
		srv_sanitize(id, sizeof id, m->id, (int)strlen(m->id));
		if (m->instance_id)
			srv_sanitize(iid, sizeof iid, m->instance_id,
			             (int)strlen(m->instance_id));
		fprintf(f, "member %s instance %s client %s host %s assigned", id,
		        m->instance_id ? iid : "-", m->client_id, m->host);
		if (m->assign_len <= 0)
			fprintf(f, " -");
		else if (!consumer || !assignment_text(f, m->assign, m->assign_len))
			fprintf(f, " ? (%" PRId32 " bytes)", m->assign_len);
		fputc('\n', f);
	}
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

static void group_publish(struct srv *s, struct group *g)
{
	char *text = members_text(g);
	struct group_live live = {
		.state = gstate_names[g->state],
		.protocol_type = g->protocol_type ? g->protocol_type : "",
		.protocol = g->protocol ? g->protocol : "",
		.generation = g->generation,
		.members = g->nm,
		.members_text = text,
	};
	int rc = groups_publish(store_groups(s->st), g->id, &live);
	if (rc) {
		char gid[96];
		log_group_id(gid, sizeof gid, g->id);
		srv_log(s, "group \"%s\": groups_publish: %s", gid, strerror(-rc));
	}
	free(text);
	g->dirty = false;
}

/* Publish changed groups, free those left with nobody; update gauges. */
static void groups_flush(struct srv *s)
{
	struct srv_groups *gs = s->grp;
	uint64_t members = 0;
	for (size_t i = 0; i < gs->n;) {
		struct group *g = gs->g[i];
		if (g->nm == 0 && g->npend == 0 &&
		    (g->state == GS_EMPTY || g->state == GS_DEAD)) {
			groups_publish(store_groups(s->st), g->id, NULL);
			group_free(g);
			gs->g[i] = gs->g[--gs->n];
			continue;
		}
		if (g->dirty)
			group_publish(s, g);
		members += (uint64_t)g->nm;
		i++;
	}
	stats_set(s, SRV_STAT_GROUPS, gs->n);
	stats_set(s, SRV_STAT_GROUP_MEMBERS, members);
}

/* A new, empty group, published (so the store's max_groups applies).
 * *err: GROUP_MAX_SIZE_REACHED past max_groups, COORDINATOR_NOT_AVAILABLE
 * when out of memory. */
static struct group *group_create(struct srv *s, const char *id, int len,
                                  int16_t *err)
{
	struct srv_groups *gs = s->grp;
	bool oom = false;
	*err = KERR_COORDINATOR_NOT_AVAILABLE;
	if (gs->n == gs->cap) {
		size_t cap = gs->cap ? gs->cap * 2 : 16;
		struct group **ng = realloc(gs->g, cap * sizeof *ng);
		if (!ng)
			return NULL;
		gs->g = ng;
		gs->cap = cap;
	}
	struct group *g = calloc(1, sizeof *g);
	if (!g)
		return NULL;
	g->id = wstr_dup(id, len, &oom);
	if (!g->id) {
		free(g);
		return NULL;
	}
	g->state = GS_EMPTY;
	g->join_deadline_ms = INT64_MAX;
	struct group_live live = { .state = "Empty", .protocol_type = "",
	                           .protocol = "", .generation = 0 };
	int rc = groups_publish(store_groups(s->st), g->id, &live);
	if (rc) {
		if (rc == -EMFILE) {
			*err = KERR_GROUP_MAX_SIZE_REACHED;
			int64_t now = tfs_mono_ms();
			if (now - gs->full_log_ms >= 1000) {
				char gid[96];
				log_group_id(gid, sizeof gid, g->id);
				srv_log(s, "group \"%s\" refused "
				        "(GROUP_MAX_SIZE_REACHED): the store holds "
				        "[groups] max_groups groups", gid);
				gs->full_log_ms = now;
			}
		}
		group_free(g);
		return NULL;
	}
	gs->g[gs->n++] = g;
	return g;
}

/* ============================== entry points ============================== */

int srv_group_init(struct srv *s)
{
	s->grp = calloc(1, sizeof *s->grp);
	if (!s->grp)
		return -ENOMEM;
	s->grp->next_ms = INT64_MAX;
	return 0;
}

void srv_group_free(struct srv *s)
{
	struct srv_groups *gs = s->grp;
	if (!gs)
		return;
	/* every connection is closed by now: holds have no connection left */
	for (size_t i = 0; i < gs->n; i++) {
		if (s->st)
			groups_publish(store_groups(s->st), gs->g[i]->id, NULL);
		group_free(gs->g[i]);
	}
	free(gs->g);
	free(gs);
	s->grp = NULL;
}

void srv_group_conn_closed(struct srv *s, struct srv_conn *c, uint64_t serial)
{
	struct srv_groups *gs = s->grp;
	if (!gs)
		return;
	for (size_t i = 0; i < gs->n; i++) {
		struct group *g = gs->g[i];
		for (int j = 0; j < g->nm; j++) {
			struct gmember *m = g->m[j];
			if (m->join.conn == c && m->join.serial == serial)
				m->join.conn = NULL;
			if (m->sync.conn == c && m->sync.serial == serial)
				m->sync.conn = NULL;
		}
	}
}

int64_t srv_group_tick(struct srv *s, int64_t now)
{
	struct srv_groups *gs = s->grp;
	if (!gs)
		return INT64_MAX;
	if (!gs->changed && now < gs->next_ms)
		return gs->next_ms;
	gs->changed = false;
	int64_t next = INT64_MAX;
	for (size_t i = 0; i < gs->n; i++) {
		struct group *g = gs->g[i];
		for (int j = 0; j < g->npend;) {
			if (g->pend[j].expire_ms <= now) {
				pending_remove(g, j);
				try_complete_join(s, g, now);
			} else {
				j++;
			}
		}
		for (int j = 0; j < g->nm;) {
			struct gmember *m = g->m[j];
			if (m->join.active || m->sync.active || m->joined ||
			    m->session_deadline_ms > now) {
				j++;
				continue;
			}
			char gid[96], mid[160];
			log_group_id(gid, sizeof gid, g->id);
			srv_sanitize(mid, sizeof mid, m->id, (int)strlen(m->id));
			tfs_log(TFS_LOG_INFO, "net: group \"%s\": member %s evicted: "
			        "no heartbeat for %" PRId32 " ms (session timeout)",
			        gid, mid, m->session_ms);
			member_leave(s, g, j, KERR_UNKNOWN_MEMBER_ID, now);
		}
		if (g->state == GS_PREPARING && g->join_deadline_ms <= now)
			join_timer(s, g, now);
		/* the next deadline of this group */
		for (int j = 0; j < g->npend; j++)
			if (g->pend[j].expire_ms < next)
				next = g->pend[j].expire_ms;
		for (int j = 0; j < g->nm; j++) {
			struct gmember *m = g->m[j];
			if (!m->join.active && !m->sync.active && !m->joined &&
			    m->session_deadline_ms < next)
				next = m->session_deadline_ms;
		}
		if (g->state == GS_PREPARING && g->join_deadline_ms < next)
			next = g->join_deadline_ms;
	}
	groups_flush(s);
	if (gs->changed) {
		/* a timer changed state (a rebalance started or completed):
		 * look again at once */
		next = now;
	}
	gs->next_ms = next;
	return next;
}

/* Kafka's validateCurrentMember: FENCED_INSTANCE_ID, UNKNOWN_MEMBER_ID or
 * 0 with *out the member. */
static int16_t current_member(const struct group *g, const char *mid, int mlen,
                              const char *iid, int ilen, struct gmember **out)
{
	struct gmember *st = group_static(g, iid, ilen);
	if (st && !wstr_eq(st->id, mid, mlen))
		return KERR_FENCED_INSTANCE_ID;
	struct gmember *m = group_member(g, mid, mlen);
	if (!m)
		return KERR_UNKNOWN_MEMBER_ID;
	*out = m;
	return KERR_NONE;
}

int srv_group_commit_check(struct srv *s, const char *group, const char *member,
                           int32_t generation, const char *instance_id)
{
	struct srv_groups *gs = s->grp;
	const char *mid = member ? member : "";
	int mlen = (int)strlen(mid);
	int ilen = instance_id ? (int)strlen(instance_id) : -1;
	struct group *g = gs && group ? group_find(gs, group, (int)strlen(group))
	                              : NULL;
	if (!g)
		return generation < 0 ? KERR_NONE : KERR_ILLEGAL_GENERATION;
	if (g->state == GS_DEAD)
		return KERR_COORDINATOR_NOT_AVAILABLE;
	struct gmember *m = NULL;
	if (generation >= 0 || mlen > 0 || instance_id) {
		int16_t err = current_member(g, mid, mlen, instance_id, ilen, &m);
		if (err)
			return err;
		if (generation != g->generation)
			return KERR_ILLEGAL_GENERATION;
	} else if (g->nm > 0) {
		return KERR_UNKNOWN_MEMBER_ID;      /* only members commit */
	}
	if (generation < 0 && g->state == GS_EMPTY)
		return KERR_NONE;                   /* a simple consumer */
	if (g->state == GS_COMPLETING)
		return KERR_REBALANCE_IN_PROGRESS;
	if (m) {
		session_touch(m, tfs_mono_ms());    /* counts as a heartbeat */
		gs->changed = true;
	}
	return KERR_NONE;
}

/* Does a ConsumerProtocolSubscription (int16 version, [string topic], ...)
 * name topic?  -1 when it does not decode. */
static int subscription_has(const uint8_t *b, int32_t len, const char *topic)
{
	struct kw_reader r;
	if (!b || len < 2)
		return -1;
	kw_reader_init(&r, b, (size_t)len);
	if (kw_i16(&r) < 0)
		return -1;
	int32_t n = kw_array(&r, 2, false);
	for (int32_t i = 0; i < n && !r.err; i++) {
		const char *t;
		int tl;
		kw_str(&r, &t, &tl);
		if (!r.err && wstr_eq(topic, t, tl))
			return 1;
	}
	return r.err ? -1 : 0;
}

bool srv_group_subscribes(struct srv *s, const char *group, const char *topic)
{
	struct srv_groups *gs = s->grp;
	struct group *g = gs && group ? group_find(gs, group, (int)strlen(group))
	                              : NULL;
	if (!g || g->nm == 0 || g->state == GS_EMPTY || g->state == GS_DEAD)
		return false;
	if (!g->protocol_type || strcmp(g->protocol_type, "consumer"))
		return true;        /* cannot tell: as subscribed (Kafka) */
	for (int i = 0; i < g->nm; i++) {
		const struct gproto *p = member_proto(g->m[i], g->protocol);
		if (!p && g->m[i]->nprotos > 0)
			p = &g->m[i]->protos[0];
		int has = p ? subscription_has(p->meta, p->meta_len, topic) : -1;
		if (has != 0)
			return true;
	}
	return false;
}

/* Start handling a request: its hold is answered in place. */
static void cur_begin(struct srv *s, const struct srv_req *req,
                      struct srv_resp *resp)
{
	struct srv_groups *gs = s->grp;
	gs->cur.conn = req->conn;
	gs->cur.serial = req->conn_serial;
	gs->cur.req = req;
	gs->cur.resp = resp;
	gs->cur.answered = false;
}

/* End it: publish, and SRV_RESPOND when answered, else SRV_HOLD. */
static enum srv_verdict cur_end(struct srv *s)
{
	struct srv_groups *gs = s->grp;
	bool answered = gs->cur.answered;
	memset(&gs->cur, 0, sizeof gs->cur);
	gs->changed = true;
	groups_flush(s);
	return answered ? SRV_RESPOND : SRV_HOLD;
}

/* The fuzz harness calls handlers on a struct srv that srv_start did not
 * set up: make the coordinator on first use. */
static bool grp_ready(struct srv *s, char *why, size_t why_len)
{
	if (s->grp || srv_group_init(s) == 0)
		return true;
	snprintf(why, why_len, "out of memory for the group coordinator");
	return false;
}

/* ================================ JoinGroup =============================== */

struct join_req {
	const char *group, *member, *instance, *ptype;
	int group_len, member_len, instance_len, ptype_len;
	int32_t session_ms, rebalance_ms;
	struct gproto *protos;      /* owned copies */
	int nprotos;
};

static bool proto_listed(const struct gproto *p, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(p[i].name, name))
			return true;
	return false;
}

/* Kafka's supportsProtocols, leaving out member self (its old protocols
 * do not bind its new ones). */
static bool supports(const struct group *g, const struct join_req *jr,
                     const struct gmember *self)
{
	if (jr->ptype_len <= 0 || jr->nprotos == 0)
		return false;
	int others = g->nm - (self ? 1 : 0);
	if (others <= 0)
		return true;
	if (!wstr_eq(g->protocol_type, jr->ptype, jr->ptype_len))
		return false;
	for (int p = 0; p < jr->nprotos; p++) {
		bool all = true;
		for (int i = 0; i < g->nm && all; i++)
			if (g->m[i] != self)
				all = proto_listed(g->m[i]->protos, g->m[i]->nprotos,
				                   jr->protos[p].name);
		if (all)
			return true;
	}
	return false;
}

/* A member id: client id + "-" + a random UUID. */
static char *member_id_new(struct srv *s, const struct srv_req *req)
{
	uint8_t u[16];
	char cid[128] = "";
	if (getrandom(u, sizeof u, GRND_NONBLOCK) != (ssize_t)sizeof u) {
		uint64_t a = (uint64_t)tfs_mono_ms() ^ ((uint64_t)(uintptr_t)s << 16);
		uint64_t b = ++s->grp->id_counter * 0x9e3779b97f4a7c15ull;
		memcpy(u, &a, 8);
		memcpy(u + 8, &b, 8);
	}
	u[6] = (uint8_t)((u[6] & 0x0f) | 0x40);
	u[8] = (uint8_t)((u[8] & 0x3f) | 0x80);
	if (req->client_id && req->client_id_len > 0)
		srv_sanitize(cid, sizeof cid, req->client_id, req->client_id_len);
	char *id = malloc(strlen(cid) + 38);
	if (!id)
		return NULL;
	int n = sprintf(id, "%s-", cid);
	for (int i = 0; i < 16; i++) {
		n += sprintf(id + n, "%02x", u[i]);
		if (i == 3 || i == 5 || i == 7 || i == 9)
			id[n++] = '-';
	}
	id[n] = '\0';
	return id;
}

static char *host_of(const struct srv_req *req)
{
	char h[80] = "/";
	if (req->peer) {
		const char *colon = strrchr(req->peer, ':');
		size_t n = colon ? (size_t)(colon - req->peer) : strlen(req->peer);
		if (n > sizeof h - 2)
			n = sizeof h - 2;
		memcpy(h + 1, req->peer, n);
		h[n + 1] = '\0';
	}
	return strdup(h);
}

/* Take the request's protocols, session and client details into m. */
static void member_update(struct gmember *m, struct join_req *jr,
                          const struct srv_req *req)
{
	protos_free(m->protos, m->nprotos);
	m->protos = jr->protos;
	m->nprotos = jr->nprotos;
	jr->protos = NULL;
	jr->nprotos = 0;
	m->session_ms = jr->session_ms;
	m->rebalance_ms = jr->rebalance_ms;
	char cid[128];
	srv_sanitize(cid, sizeof cid, req->client_id, req->client_id_len);
	char *c = strdup(cid), *h = host_of(req);
	if (c && h) {
		free(m->client_id);
		free(m->host);
		m->client_id = c;
		m->host = h;
	} else {
		free(c);
		free(h);
	}
}

/* Hold the current JoinGroup for m and rebalance (Kafka's
 * updateMemberAndRebalance / the tail of addMemberAndRebalance). */
static void member_join_and_rebalance(struct srv *s, struct group *g,
                                      struct gmember *m, int64_t now)
{
	if (m->join.active)         /* an older JoinGroup of the same member */
		join_answer_err(s, &m->join, KERR_REBALANCE_IN_PROGRESS, m->id);
	if (!m->joined)
		m->join_seq = ++g->join_seq;
	m->joined = true;
	hold_take(s, &m->join);
	session_touch(m, now);
	g->dirty = true;
	maybe_prepare_rebalance(s, g, now);
	try_complete_join(s, g, now);
}

/* A new member with id (taken) joins. */
static struct gmember *member_add(struct srv *s, struct group *g, char *id,
                                  struct join_req *jr, const struct srv_req *req,
                                  bool *oom)
{
	if (g->nm == g->capm) {
		int cap = g->capm ? g->capm * 2 : 4;
		struct gmember **nm = realloc(g->m, (size_t)cap * sizeof *nm);
		if (!nm)
			goto nomem;
		g->m = nm;
		g->capm = cap;
	}
	struct gmember *m = calloc(1, sizeof *m);
	if (!m)
		goto nomem;
	if (jr->instance_len >= 0) {
		m->instance_id = wstr_dup(jr->instance, jr->instance_len, oom);
		if (!m->instance_id) {
			free(m);
			goto nomem;
		}
	}
	if (g->nm == 0) {
		char *pt = wstr_dup(jr->ptype, jr->ptype_len, oom);
		if (!pt) {
			member_free(m);
			goto nomem;
		}
		free(g->protocol_type);
		g->protocol_type = pt;
	}
	m->id = id;
	member_update(m, jr, req);
	if (!m->client_id || !m->host) {
		m->id = NULL;
		member_free(m);
		goto nomem;
	}
	g->m[g->nm++] = m;
	if (!g->leader)
		g->leader = strdup(m->id);
	if (g->state == GS_PREPARING)
		g->new_members_added = true;
	(void)s;
	return m;
nomem:
	*oom = true;
	return NULL;
}

enum srv_verdict srv_api_join_group(struct srv *s, const struct srv_req *req,
                                    struct srv_resp *resp, int *park_ms,
                                    char *why, size_t why_len)
{
	int v = req->api_version;
	bool flex = req->flexible;
	struct kw_reader r;
	struct join_req jr = { .instance_len = -1 };
	bool oom = false;
	(void)park_ms;
	if (!grp_ready(s, why, why_len))
		return SRV_CLOSE;

	kw_reader_init(&r, req->body, req->body_len);
	kw_vstr(&r, flex, &jr.group, &jr.group_len);
	jr.session_ms = kw_i32(&r);
	jr.rebalance_ms = v >= 1 ? kw_i32(&r) : jr.session_ms;
	kw_vstr(&r, flex, &jr.member, &jr.member_len);
	if (v >= 5)
		kw_vstr(&r, flex, &jr.instance, &jr.instance_len);
	kw_vstr(&r, flex, &jr.ptype, &jr.ptype_len);
	int32_t np = kw_varray(&r, flex, flex ? 3 : 6, false);
	if (r.err || jr.group_len < 0 || jr.member_len < 0 || jr.ptype_len < 0)
		return srv_malformed(req, why, why_len);
	jr.protos = np > 0 ? calloc((size_t)np, sizeof *jr.protos) : NULL;
	if (np > 0 && !jr.protos)
		oom = true;
	for (int32_t i = 0; i < np && !r.err; i++) {
		const char *name;
		int nl;
		const uint8_t *meta;
		int32_t ml;
		kw_vstr(&r, flex, &name, &nl);
		kw_vbytes(&r, flex, &meta, &ml);
		kw_vtags(&r, flex);
		if (r.err || nl < 0)
			break;
		if (oom)
			continue;
		struct gproto *p = &jr.protos[jr.nprotos];
		p->name = wstr_dup(name, nl, &oom);
		p->meta_len = ml < 0 ? 0 : ml;
		p->meta = malloc(p->meta_len ? (size_t)p->meta_len : 1);
		if (!p->name || !p->meta) {
			free(p->name);
			free(p->meta);
			oom = true;
			continue;
		}
		if (ml > 0)
			memcpy(p->meta, meta, (size_t)ml);
		jr.nprotos++;
	}
	if (!r.err && jr.nprotos == np && v >= 8) {
		const char *reason;
		int rl;
		kw_vstr(&r, flex, &reason, &rl);
	}
	kw_vtags(&r, flex);
	if (r.err || (!oom && jr.nprotos != np)) {
		protos_free(jr.protos, jr.nprotos);
		return srv_malformed(req, why, why_len);
	}
	if (jr.rebalance_ms <= 0)
		jr.rebalance_ms = jr.session_ms;

	int64_t now = tfs_mono_ms();
	struct srv_groups *gs = s->grp;
	int16_t err = KERR_NONE;
	char *new_id = NULL;            /* MEMBER_ID_REQUIRED's id */
	struct group *g = NULL;
	cur_begin(s, req, resp);

	if (oom) {
		err = KERR_COORDINATOR_NOT_AVAILABLE;
		goto answer_err;
	}
	if (!srv_authorize_wire(s, req, ACL_RES_GROUP, jr.group, jr.group_len,
	                        ACL_OP_READ)) {                     /* ACL */
		err = KERR_GROUP_AUTHORIZATION_FAILED;
		goto answer_err;
	}
	if (group_id_check(jr.group, (size_t)jr.group_len)) {
		err = KERR_INVALID_GROUP_ID;
		goto answer_err;
	}
	if (jr.session_ms < s->cfg.group_min_session_timeout_ms ||
	    jr.session_ms > s->cfg.group_max_session_timeout_ms) {
		err = KERR_INVALID_SESSION_TIMEOUT;
		goto answer_err;
	}
	if (jr.instance_len == 0) {
		err = KERR_INVALID_REQUEST;     /* Kafka: an empty instance id */
		goto answer_err;
	}
	g = group_find(gs, jr.group, jr.group_len);
	if (!g && jr.member_len > 0) {
		err = KERR_UNKNOWN_MEMBER_ID;
		goto answer_err;
	}
	if (!g) {
		g = group_create(s, jr.group, jr.group_len, &err);
		if (!g)
			goto answer_err;
	}
	if (g->state == GS_DEAD) {
		err = KERR_COORDINATOR_NOT_AVAILABLE;
		goto answer_err;
	}

	if (jr.member_len == 0) {
		/* ----- a new member ----- */
		struct gmember *old = group_static(g, jr.instance, jr.instance_len);
		if (!supports(g, &jr, old)) {
			err = KERR_INCONSISTENT_GROUP_PROTOCOL;
			goto answer_err;
		}
		if (!old && g->nm + g->npend >= s->cfg.group_max_members) {
			err = KERR_GROUP_MAX_SIZE_REACHED;
			goto answer_err;
		}
		new_id = member_id_new(s, req);
		if (!new_id) {
			err = KERR_COORDINATOR_NOT_AVAILABLE;
			goto answer_err;
		}
		if (old) {
			/* KIP-345: the instance comes back with a new id */
			join_answer_err(s, &old->join, KERR_FENCED_INSTANCE_ID, old->id);
			sync_answer_err(s, &old->sync, KERR_FENCED_INSTANCE_ID);
			bool was_leader = g->leader && !strcmp(g->leader, old->id);
			if (was_leader) {
				char *nl = strdup(new_id);
				if (!nl) {
					err = KERR_COORDINATOR_NOT_AVAILABLE;
					goto answer_err;
				}
				free(g->leader);
				g->leader = nl;
			}
			free(old->id);
			old->id = new_id;
			new_id = NULL;
			struct gproto *before = old->protos;
			int nbefore = old->nprotos;
			bool same = protos_equal(before, nbefore, jr.protos, jr.nprotos);
			member_update(old, &jr, req);
			g->dirty = true;
			if (g->state == GS_STABLE && same) {
				/* the current generation, at once (the leader with
				 * its members, told to skip the assignment) */
				session_touch(old, now);
				struct join_res res = {
					.err = KERR_NONE, .generation = g->generation,
					.protocol_type = g->protocol_type,
					.protocol = g->protocol, .leader = g->leader,
					.member_id = old->id,
					.skip_assignment = was_leader,
					.members = was_leader ? g : NULL,
				};
				join_write(s, req, resp, &res);
				gs->cur.answered = true;
			} else {
				member_join_and_rebalance(s, g, old, now);
			}
			goto done;
		}
		if (jr.instance_len < 0 && v >= 4) {
			/* KIP-394: come back with this id */
			if (g->npend == g->cappend) {
				int cap = g->cappend ? g->cappend * 2 : 4;
				struct gpending *np2 = realloc(g->pend,
				                               (size_t)cap * sizeof *np2);
				if (!np2) {
					err = KERR_COORDINATOR_NOT_AVAILABLE;
					goto answer_err;
				}
				g->pend = np2;
				g->cappend = cap;
			}
			g->pend[g->npend].id = new_id;
			g->pend[g->npend].expire_ms = now + jr.session_ms;
			g->npend++;
			g->dirty = true;
			err = KERR_MEMBER_ID_REQUIRED;
			struct join_res res = { .err = err, .generation = -1,
			                        .member_id = new_id };
			join_write(s, req, resp, &res);
			gs->cur.answered = true;
			new_id = NULL;
			goto done;
		}
		struct gmember *m = member_add(s, g, new_id, &jr, req, &oom);
		if (!m) {
			err = KERR_COORDINATOR_NOT_AVAILABLE;
			goto answer_err;
		}
		new_id = NULL;
		member_join_and_rebalance(s, g, m, now);
		goto done;
	}

	/* ----- a known (or pending) member id ----- */
	int pi = group_pending(g, jr.member, jr.member_len);
	if (pi >= 0) {
		if (!supports(g, &jr, NULL)) {
			err = KERR_INCONSISTENT_GROUP_PROTOCOL;
			goto answer_err;
		}
		char *id = g->pend[pi].id;
		g->pend[pi] = g->pend[--g->npend];
		struct gmember *m = member_add(s, g, id, &jr, req, &oom);
		if (!m) {
			free(id);
			err = KERR_COORDINATOR_NOT_AVAILABLE;
			goto answer_err;
		}
		member_join_and_rebalance(s, g, m, now);
		goto done;
	}
	struct gmember *m = NULL;
	err = current_member(g, jr.member, jr.member_len, jr.instance,
	                     jr.instance_len, &m);
	if (err)
		goto answer_err;
	if (!supports(g, &jr, m)) {
		err = KERR_INCONSISTENT_GROUP_PROTOCOL;
		goto answer_err;
	}
	bool same = protos_equal(m->protos, m->nprotos, jr.protos, jr.nprotos);
	bool is_leader = g->leader && !strcmp(g->leader, m->id);
	switch (g->state) {
	case GS_PREPARING:
		member_update(m, &jr, req);
		member_join_and_rebalance(s, g, m, now);
		break;
	case GS_COMPLETING:
	case GS_STABLE:
		if (same && (g->state == GS_COMPLETING || !is_leader)) {
			/* nothing changed: the current generation again */
			session_touch(m, now);
			struct join_res res = {
				.err = KERR_NONE, .generation = g->generation,
				.protocol_type = g->protocol_type,
				.protocol = g->protocol, .leader = g->leader,
				.member_id = m->id, .members = is_leader ? g : NULL,
			};
			join_write(s, req, resp, &res);
			gs->cur.answered = true;
		} else {
			member_update(m, &jr, req);
			member_join_and_rebalance(s, g, m, now);
		}
		break;
	default:
		err = KERR_UNKNOWN_MEMBER_ID;
		goto answer_err;
	}
	goto done;

answer_err: {
		char *mid = wstr_dup(jr.member, jr.member_len, &oom);
		struct join_res res = { .err = err, .generation = -1,
		                        .member_id = mid ? mid : "" };
		join_write(s, req, resp, &res);
		gs->cur.answered = true;
		free(mid);
	}
done:
	free(new_id);
	protos_free(jr.protos, jr.nprotos);
	enum srv_verdict verdict = cur_end(s);
	if (verdict == SRV_HOLD && !req->conn) {
		/* no connection to hold (the fuzz harness): retry later */
		struct join_res res = { .err = KERR_REBALANCE_IN_PROGRESS,
		                        .generation = -1, .member_id = "" };
		join_write(s, req, resp, &res);
		return SRV_RESPOND;
	}
	return verdict;
}

/* ================================ SyncGroup =============================== */

enum srv_verdict srv_api_sync_group(struct srv *s, const struct srv_req *req,
                                    struct srv_resp *resp, int *park_ms,
                                    char *why, size_t why_len)
{
	int v = req->api_version;
	bool flex = req->flexible;
	struct kw_reader r;
	const char *gid, *mid, *iid = NULL, *pt = NULL, *pn = NULL;
	int gl, ml, il = -1, ptl = -1, pnl = -1;
	(void)park_ms;
	if (!grp_ready(s, why, why_len))
		return SRV_CLOSE;

	kw_reader_init(&r, req->body, req->body_len);
	kw_vstr(&r, flex, &gid, &gl);
	int32_t gen = kw_i32(&r);
	kw_vstr(&r, flex, &mid, &ml);
	if (v >= 3)
		kw_vstr(&r, flex, &iid, &il);
	if (v >= 5) {
		kw_vstr(&r, flex, &pt, &ptl);
		kw_vstr(&r, flex, &pn, &pnl);
	}
	int32_t na = kw_varray(&r, flex, flex ? 3 : 6, false);
	size_t assign_pos = r.pos;
	for (int32_t i = 0; i < na && !r.err; i++) {
		const char *am;
		int aml;
		const uint8_t *ab;
		int32_t abl;
		kw_vstr(&r, flex, &am, &aml);
		kw_vbytes(&r, flex, &ab, &abl);
		kw_vtags(&r, flex);
		if (aml < 0)
			r.err = true;
	}
	kw_vtags(&r, flex);
	if (r.err || gl < 0 || ml < 0)
		return srv_malformed(req, why, why_len);

	int64_t now = tfs_mono_ms();
	struct srv_groups *gs = s->grp;
	struct sync_res res = { .err = KERR_NONE };
	struct gmember *m = NULL;
	struct group *g = NULL;
	cur_begin(s, req, resp);

	if (!srv_authorize_wire(s, req, ACL_RES_GROUP, gid, gl, ACL_OP_READ)) {
		res.err = KERR_GROUP_AUTHORIZATION_FAILED;          /* ACL */
		goto answer;
	}
	if (group_id_check(gid, (size_t)gl)) {
		res.err = KERR_INVALID_GROUP_ID;
		goto answer;
	}
	g = group_find(gs, gid, gl);
	if (!g) {
		res.err = KERR_UNKNOWN_MEMBER_ID;
		goto answer;
	}
	res.err = current_member(g, mid, ml, iid, il, &m);
	if (res.err)
		goto answer;
	if (gen != g->generation) {
		res.err = KERR_ILLEGAL_GENERATION;
		goto answer;
	}
	if ((ptl >= 0 && !wstr_eq(g->protocol_type, pt, ptl)) ||
	    (pnl >= 0 && !wstr_eq(g->protocol, pn, pnl))) {
		res.err = KERR_INCONSISTENT_GROUP_PROTOCOL;
		goto answer;
	}
	switch (g->state) {
	case GS_PREPARING:
		res.err = KERR_REBALANCE_IN_PROGRESS;
		goto answer;
	case GS_STABLE:
		session_touch(m, now);
		res.protocol_type = g->protocol_type;
		res.protocol = g->protocol;
		res.assign = m->assign;
		res.assign_len = m->assign_len;
		goto answer;
	case GS_COMPLETING:
		break;
	default:
		res.err = KERR_UNKNOWN_MEMBER_ID;
		goto answer;
	}

	session_touch(m, now);
	if (m->sync.active)
		sync_answer_err(s, &m->sync, KERR_REBALANCE_IN_PROGRESS);
	hold_take(s, &m->sync);
	if (g->leader && !strcmp(g->leader, m->id)) {
		/* the leader's assignment: store it, answer everyone */
		uint8_t **na_buf = calloc((size_t)g->nm + 1, sizeof *na_buf);
		int32_t *na_len = calloc((size_t)g->nm + 1, sizeof *na_len);
		bool oom = !na_buf || !na_len;
		struct kw_reader ar;
		kw_reader_init(&ar, req->body, req->body_len);
		ar.pos = assign_pos;
		for (int32_t i = 0; i < na && !oom; i++) {
			const char *am;
			int aml;
			const uint8_t *ab;
			int32_t abl;
			kw_vstr(&ar, flex, &am, &aml);
			kw_vbytes(&ar, flex, &ab, &abl);
			kw_vtags(&ar, flex);
			for (int j = 0; j < g->nm; j++) {
				if (!wstr_eq(g->m[j]->id, am, aml))
					continue;
				free(na_buf[j]);
				na_len[j] = abl < 0 ? 0 : abl;
				na_buf[j] = malloc(na_len[j] ? (size_t)na_len[j] : 1);
				if (!na_buf[j])
					oom = true;
				else if (abl > 0)
					memcpy(na_buf[j], ab, (size_t)abl);
			}
		}
		if (oom) {
			for (int j = 0; na_buf && j < g->nm; j++)
				free(na_buf[j]);
			free(na_buf);
			free(na_len);
			/* the group cannot go on with this assignment */
			prepare_rebalance(s, g, now);
			goto end;
		}
		for (int j = 0; j < g->nm; j++) {
			free(g->m[j]->assign);
			g->m[j]->assign = na_buf[j];
			g->m[j]->assign_len = na_buf[j] ? na_len[j] : 0;
		}
		free(na_buf);
		free(na_len);
		g->state = GS_STABLE;
		g->dirty = true;
		for (int j = 0; j < g->nm; j++)
			sync_answer_member(s, g, g->m[j]);
	}
	goto end;

answer:
	sync_write(s, req, resp, &res);
	gs->cur.answered = true;
end: ;
	enum srv_verdict verdict = cur_end(s);
	if (verdict == SRV_HOLD && !req->conn) {
		struct sync_res rr = { .err = KERR_REBALANCE_IN_PROGRESS };
		sync_write(s, req, resp, &rr);
		return SRV_RESPOND;
	}
	return verdict;
}

/* ================================ Heartbeat =============================== */

enum srv_verdict srv_api_heartbeat(struct srv *s, const struct srv_req *req,
                                   struct srv_resp *resp, int *park_ms,
                                   char *why, size_t why_len)
{
	int v = req->api_version;
	bool flex = req->flexible;
	struct kw_reader r;
	const char *gid, *mid, *iid = NULL;
	int gl, ml, il = -1;
	(void)park_ms;
	if (!grp_ready(s, why, why_len))
		return SRV_CLOSE;

	kw_reader_init(&r, req->body, req->body_len);
	kw_vstr(&r, flex, &gid, &gl);
	int32_t gen = kw_i32(&r);
	kw_vstr(&r, flex, &mid, &ml);
	if (v >= 3)
		kw_vstr(&r, flex, &iid, &il);
	kw_vtags(&r, flex);
	if (r.err || gl < 0 || ml < 0)
		return srv_malformed(req, why, why_len);

	int16_t err = KERR_NONE;
	struct gmember *m = NULL;
	struct group *g = NULL;
	if (!srv_authorize_wire(s, req, ACL_RES_GROUP, gid, gl, ACL_OP_READ))
		err = KERR_GROUP_AUTHORIZATION_FAILED;              /* ACL */
	else if (group_id_check(gid, (size_t)gl))
		err = KERR_INVALID_GROUP_ID;
	else if (!(g = group_find(s->grp, gid, gl)))
		err = KERR_UNKNOWN_MEMBER_ID;
	else if (g->state == GS_DEAD)
		err = KERR_COORDINATOR_NOT_AVAILABLE;
	else if ((err = current_member(g, mid, ml, iid, il, &m)) != KERR_NONE)
		;
	else if (gen != g->generation)
		err = KERR_ILLEGAL_GENERATION;
	else if (g->state == GS_EMPTY)
		err = KERR_UNKNOWN_MEMBER_ID;
	else {
		session_touch(m, tfs_mono_ms());
		s->grp->changed = true;
		if (g->state == GS_PREPARING)
			err = KERR_REBALANCE_IN_PROGRESS;
	}

	struct kw_writer *w = &resp->w;
	srv_resp_begin_req(resp, req);
	if (v >= 1)
		kw_put_i32(w, 0);
	kw_put_i16(w, err);
	kw_put_vtags(w, flex);
	return SRV_RESPOND;
}

/* =============================== LeaveGroup =============================== */

enum srv_verdict srv_api_leave_group(struct srv *s, const struct srv_req *req,
                                     struct srv_resp *resp, int *park_ms,
                                     char *why, size_t why_len)
{
	int v = req->api_version;
	bool flex = req->flexible;
	struct kw_reader r;
	const char *gid;
	int gl;
	(void)park_ms;
	if (!grp_ready(s, why, why_len))
		return SRV_CLOSE;

	kw_reader_init(&r, req->body, req->body_len);
	kw_vstr(&r, flex, &gid, &gl);
	int32_t n = 1;
	size_t members_pos = r.pos;
	if (v >= 3) {
		n = kw_varray(&r, flex, flex ? 3 : 4, false);
		members_pos = r.pos;
		for (int32_t i = 0; i < n && !r.err; i++) {
			const char *a;
			int al;
			kw_vstr(&r, flex, &a, &al);
			if (al < 0)
				r.err = true;
			kw_vstr(&r, flex, &a, &al);         /* GroupInstanceId */
			if (v >= 5)
				kw_vstr(&r, flex, &a, &al); /* Reason */
			kw_vtags(&r, flex);
		}
	} else {
		const char *a;
		int al;
		kw_vstr(&r, flex, &a, &al);
		if (al < 0)
			r.err = true;
	}
	kw_vtags(&r, flex);
	if (r.err || gl < 0)
		return srv_malformed(req, why, why_len);
	size_t members_pos0 = members_pos;

	int64_t now = tfs_mono_ms();
	int16_t top = KERR_NONE;
	struct group *g = NULL;
	int16_t *errs = calloc((size_t)n, sizeof *errs);
	if (!errs)
		top = KERR_COORDINATOR_NOT_AVAILABLE;
	else if (!srv_authorize_wire(s, req, ACL_RES_GROUP, gid, gl, ACL_OP_READ))
		top = KERR_GROUP_AUTHORIZATION_FAILED;              /* ACL */
	else if (group_id_check(gid, (size_t)gl))
		top = KERR_INVALID_GROUP_ID;
	else if ((g = group_find(s->grp, gid, gl)) && g->state == GS_DEAD)
		top = KERR_COORDINATOR_NOT_AVAILABLE;

	/* Kafka's rules per member: a static member by its instance id
	 * (FENCED_INSTANCE_ID when a member id is given and differs), else
	 * by member id (a pending one too) */
	cur_begin(s, req, resp);
	struct kw_reader mr;
	kw_reader_init(&mr, req->body, req->body_len);
	for (int32_t i = 0; i < n && !top; i++) {
		const char *mid, *iid = NULL, *a;
		int ml, il = -1, al;
		mr.pos = members_pos;
		kw_vstr(&mr, flex, &mid, &ml);
		if (v >= 3) {
			kw_vstr(&mr, flex, &iid, &il);
			if (v >= 5)
				kw_vstr(&mr, flex, &a, &al);
			kw_vtags(&mr, flex);
		}
		members_pos = mr.pos;
		errs[i] = KERR_UNKNOWN_MEMBER_ID;
		if (!g)
			continue;
		int pi = il < 0 ? group_pending(g, mid, ml) : -1;
		if (pi >= 0) {
			pending_remove(g, pi);
			try_complete_join(s, g, now);
			errs[i] = KERR_NONE;
			continue;
		}
		struct gmember *st = group_static(g, iid, il);
		struct gmember *m = NULL;
		if (st && ml > 0 && !wstr_eq(st->id, mid, ml))
			errs[i] = KERR_FENCED_INSTANCE_ID;
		else if (st)
			m = st;
		else if (il < 0)
			m = group_member(g, mid, ml);
		if (m) {
			int idx = 0;
			while (g->m[idx] != m)
				idx++;
			member_leave(s, g, idx, KERR_UNKNOWN_MEMBER_ID, now);
			errs[i] = KERR_NONE;
		}
	}
	cur_end(s);

	struct kw_writer *w = &resp->w;
	srv_resp_begin_req(resp, req);
	if (v >= 1)
		kw_put_i32(w, 0);
	kw_put_i16(w, top ? top : v < 3 ? errs[0] : KERR_NONE);
	if (v >= 3) {
		int32_t nout = top ? 0 : n;
		kw_put_varray(w, flex, nout);
		kw_reader_init(&mr, req->body, req->body_len);
		mr.pos = v >= 3 ? members_pos0 : 0;
		for (int32_t i = 0; i < nout; i++) {
			const char *mid, *iid, *a;
			int ml, il, al;
			kw_vstr(&mr, flex, &mid, &ml);
			kw_vstr(&mr, flex, &iid, &il);
			if (v >= 5)
				kw_vstr(&mr, flex, &a, &al);
			kw_vtags(&mr, flex);
			kw_put_vstr(w, flex, mid, ml);
			kw_put_vstr(w, flex, iid, il);
			kw_put_i16(w, errs[i]);
			kw_put_vtags(w, flex);
		}
	}
	kw_put_vtags(w, flex);
	free(errs);
	return SRV_RESPOND;
}

/* ============================= DescribeGroups ============================= */

/* The GroupIds array of DescribeGroups and DeleteGroups: its count, each
 * id checked to be a non-null string (r->err otherwise); *ids_pos is where
 * the ids start, for the pass that answers them. */
static int32_t read_group_ids(struct kw_reader *r, bool flex, size_t *ids_pos)
{
	int32_t n = kw_varray(r, flex, flex ? 1 : 2, false);

	*ids_pos = r->pos;
	for (int32_t i = 0; i < n && !r->err; i++) {
		const char *a;
		int al;
		kw_vstr(r, flex, &a, &al);
		if (al < 0)
			r->err = true;
	}
	return n;
}

enum srv_verdict srv_api_describe_groups(struct srv *s, const struct srv_req *req,
                                         struct srv_resp *resp, int *park_ms,
                                         char *why, size_t why_len)
{
	int v = req->api_version;
	bool flex = req->flexible;
	struct kw_reader r;
	(void)park_ms;
	if (!grp_ready(s, why, why_len))
		return SRV_CLOSE;

	kw_reader_init(&r, req->body, req->body_len);
	size_t ids_pos;
	int32_t n = read_group_ids(&r, flex, &ids_pos);
	if (v >= 3)
		kw_i8(&r);                      /* IncludeAuthorizedOperations */
	kw_vtags(&r, flex);
	if (r.err)
		return srv_malformed(req, why, why_len);

	struct kw_writer *w = &resp->w;
	srv_resp_begin_req(resp, req);
	if (v >= 1)
		kw_put_i32(w, 0);
	kw_put_varray(w, flex, n);
	kw_reader_init(&r, req->body, req->body_len);
	r.pos = ids_pos;
	for (int32_t i = 0; i < n; i++) {
		const char *id;
		int il;
		kw_vstr(&r, flex, &id, &il);
		int16_t err = KERR_NONE;
		const char *state = "Dead", *ptype = "", *proto = "";
		struct group *g = NULL;
		struct group_info gi;
		bool have_info = false;
		if (!srv_authorize_wire(s, req, ACL_RES_GROUP, id, il,
		                        ACL_OP_DESCRIBE)) {             /* ACL */
			err = KERR_GROUP_AUTHORIZATION_FAILED;
			state = "";
		} else if (group_id_check(id, (size_t)il)) {
			err = KERR_INVALID_GROUP_ID;
			state = "";
		} else if ((g = group_find(s->grp, id, il))) {
			state = gstate_names[g->state];
			ptype = g->protocol_type ? g->protocol_type : "";
			if (g->state == GS_STABLE && g->protocol)
				proto = g->protocol;
		} else {
			char name[GROUP_ID_MAX + 1];
			memcpy(name, id, (size_t)il);
			name[il] = '\0';
			if (groups_describe(store_groups(s->st), name, &gi, NULL) == 0) {
				have_info = true;
				state = "Empty";
				ptype = gi.protocol_type;
			}
		}
		kw_put_i16(w, err);
		kw_put_vstr(w, flex, id, il);
		kw_put_vcstr(w, flex, state);
		kw_put_vcstr(w, flex, ptype);
		kw_put_vcstr(w, flex, proto);
		int nm = g ? g->nm : 0;
		kw_put_varray(w, flex, nm);
		for (int j = 0; j < nm; j++) {
			const struct gmember *m = g->m[j];
			bool stable = g->state == GS_STABLE;
			const struct gproto *p = stable ? member_proto(m, g->protocol)
			                                : NULL;
			kw_put_vcstr(w, flex, m->id);
			if (v >= 4)
				kw_put_vcstr(w, flex, m->instance_id);
			kw_put_vcstr(w, flex, m->client_id);
			kw_put_vcstr(w, flex, m->host);
			kw_put_vbytes_len(w, flex, p ? p->meta_len : 0);
			if (p)
				kw_put(w, p->meta, (size_t)p->meta_len);
			int32_t al = stable && m->assign_len > 0 ? m->assign_len : 0;
			kw_put_vbytes_len(w, flex, al);
			if (al)
				kw_put(w, m->assign, (size_t)al);
			kw_put_vtags(w, flex);
		}
		if (v >= 3)
			kw_put_i32(w, INT32_MIN);   /* AuthorizedOperations */
		kw_put_vtags(w, flex);
		if (have_info)
			free(gi.id);
	}
	kw_put_vtags(w, flex);
	return SRV_RESPOND;
}

/* =============================== ListGroups =============================== */

/* Is (s, len) in the filter array at pos (count n), case-insensitively?
 * An empty filter matches everything. */
static bool filter_match(const struct srv_req *req, size_t pos, int32_t n,
                         const char *want)
{
	if (n <= 0)
		return true;
	struct kw_reader r;
	kw_reader_init(&r, req->body, req->body_len);
	r.pos = pos;
	for (int32_t i = 0; i < n; i++) {
		const char *a;
		int al;
		kw_vstr(&r, req->flexible, &a, &al);
		if (!r.err && al >= 0 && strlen(want) == (size_t)al &&
		    !strncasecmp(want, a, (size_t)al))
			return true;
	}
	return false;
}

enum srv_verdict srv_api_list_groups(struct srv *s, const struct srv_req *req,
                                     struct srv_resp *resp, int *park_ms,
                                     char *why, size_t why_len)
{
	int v = req->api_version;
	bool flex = req->flexible;
	struct kw_reader r;
	int32_t nstates = 0, ntypes = 0;
	size_t states_pos = 0, types_pos = 0;
	(void)park_ms;

	kw_reader_init(&r, req->body, req->body_len);
	for (int f = 0; f < 2; f++) {
		if ((f == 0 && v < 4) || (f == 1 && v < 5))
			continue;
		int32_t n = kw_varray(&r, flex, flex ? 1 : 2, false);
		size_t pos = r.pos;
		for (int32_t i = 0; i < n && !r.err; i++) {
			const char *a;
			int al;
			kw_vstr(&r, flex, &a, &al);
			if (al < 0)
				r.err = true;
		}
		if (f == 0) {
			nstates = n;
			states_pos = pos;
		} else {
			ntypes = n;
			types_pos = pos;
		}
	}
	kw_vtags(&r, flex);
	if (r.err)
		return srv_malformed(req, why, why_len);

	struct group_info *gi = NULL;
	size_t ng = 0;
	int16_t err = KERR_NONE;
	int rc = groups_list(store_groups(s->st), &gi, &ng);
	if (rc) {
		err = KERR_COORDINATOR_NOT_AVAILABLE;
		ng = 0;
	}
	bool classic = filter_match(req, types_pos, ntypes, "classic");
	int32_t count = 0;
	bool *keep = ng ? calloc(ng, sizeof *keep) : NULL;
	if (ng && !keep)
		classic = false, err = KERR_COORDINATOR_NOT_AVAILABLE;
	for (size_t i = 0; classic && i < ng; i++) {
		keep[i] = filter_match(req, states_pos, nstates, gi[i].state) &&
		          srv_authorized_quiet(s, req, ACL_RES_GROUP, gi[i].id,
		                               ACL_OP_DESCRIBE);        /* ACL */
		count += keep[i];
	}

	struct kw_writer *w = &resp->w;
	srv_resp_begin_req(resp, req);
	if (v >= 1)
		kw_put_i32(w, 0);
	kw_put_i16(w, err);
	kw_put_varray(w, flex, count);
	for (size_t i = 0; classic && i < ng; i++) {
		if (!keep[i])
			continue;
		kw_put_vcstr(w, flex, gi[i].id);
		kw_put_vcstr(w, flex, gi[i].protocol_type);
		if (v >= 4)
			kw_put_vcstr(w, flex, gi[i].state);
		if (v >= 5)
			kw_put_vcstr(w, flex, "classic");
		kw_put_vtags(w, flex);
	}
	kw_put_vtags(w, flex);
	free(keep);
	if (!rc)
		group_infos_free(gi, ng);
	return SRV_RESPOND;
}

/* ============================== DeleteGroups ============================== */

enum srv_verdict srv_api_delete_groups(struct srv *s, const struct srv_req *req,
                                       struct srv_resp *resp, int *park_ms,
                                       char *why, size_t why_len)
{
	bool flex = req->flexible;
	struct kw_reader r;
	(void)park_ms;
	if (!grp_ready(s, why, why_len))
		return SRV_CLOSE;

	kw_reader_init(&r, req->body, req->body_len);
	size_t ids_pos;
	int32_t n = read_group_ids(&r, flex, &ids_pos);
	kw_vtags(&r, flex);
	if (r.err)
		return srv_malformed(req, why, why_len);

	struct kw_writer *w = &resp->w;
	srv_resp_begin_req(resp, req);
	kw_put_i32(w, 0);
	kw_put_varray(w, flex, n);
	kw_reader_init(&r, req->body, req->body_len);
	r.pos = ids_pos;
	for (int32_t i = 0; i < n; i++) {
		const char *id;
		int il;
		kw_vstr(&r, flex, &id, &il);
		int16_t err = KERR_NONE;
		if (!srv_authorize_wire(s, req, ACL_RES_GROUP, id, il,
		                        ACL_OP_DELETE)) {               /* ACL */
			err = KERR_GROUP_AUTHORIZATION_FAILED;
		} else if (group_id_check(id, (size_t)il)) {
			err = KERR_INVALID_GROUP_ID;
		} else {
			struct group *g = group_find(s->grp, id, il);
			bool live = g != NULL;
			if (g && g->nm > 0) {
				err = KERR_NON_EMPTY_GROUP;
			} else {
				if (g) {
					/* pending ids only: forget them */
					while (g->npend)
						pending_remove(g, 0);
					g->state = GS_DEAD;
					groups_flush(s);
				}
				char name[GROUP_ID_MAX + 1];
				memcpy(name, id, (size_t)il);
				name[il] = '\0';
				int rc = groups_delete(store_groups(s->st), name);
				if (rc == -ENOENT)
					err = live ? KERR_NONE : KERR_GROUP_ID_NOT_FOUND;
				else if (rc == -EBUSY)
					err = KERR_NON_EMPTY_GROUP;
				else if (rc)
					err = (int16_t)kw_err_from_errno(rc, false);
			}
		}
		kw_put_vstr(w, flex, id, il);
		kw_put_i16(w, err);
		kw_put_vtags(w, flex);
	}
	kw_put_vtags(w, flex);
	return SRV_RESPOND;
}
