/*
 * srv_internal.h - what the server core (srv.c: epoll loop, connections,
 * output queues, deadlines, long poll) shares with the request handlers
 * (srv_api.c: one function per Kafka API).  Not part of the public API.
 *
 * Ownership: the core owns connections and their buffers.  A handler gets
 * the parsed request header and a reader over the body (borrowed from the
 * connection), and builds the answer into a struct srv_resp, which then
 * owns every file slice and topic reference it holds until srv_resp_reset.
 * Everything here runs on the server thread only, except the fields of
 * struct srv marked atomic (touched by the store's append hook).
 */
#ifndef TOPICFS_SRV_INTERNAL_H
#define TOPICFS_SRV_INTERNAL_H

#include <stdatomic.h>
#include <pthread.h>

#include "clock.h"
#include "net.h"
#include "kwire_internal.h"
#include "acl.h"

/* --------------------------- response queue ----------------------------- */

struct srv_req;

enum srv_seg_kind {
	SRV_SEG_MEM,                /* bytes [off, off+len) of resp->w.buf */
	SRV_SEG_FILE,               /* slice: sendfile of slice.len bytes */
};

struct srv_seg {
	enum srv_seg_kind kind;
	size_t off;                 /* SRV_SEG_MEM: offset in resp->w.buf */
	size_t len;                 /* bytes in this segment */
	struct part_slice slice;    /* SRV_SEG_FILE: held until reset */
};

/* A response: a memory buffer interleaved with file slices, framed with
 * its int32 size.  Built by srv_resp_begin/.../srv_resp_finish, sent by the
 * core, released by srv_resp_reset (which keeps the buffers for reuse). */
struct srv_resp {
	struct kw_writer w;         /* the memory bytes, size prefix first */
	struct srv_seg *segs;       /* the queue, in wire order */
	size_t nsegs, segs_cap;
	size_t mark;                /* start of the memory run not yet queued */
	int64_t file_bytes;         /* sum of SRV_SEG_FILE lengths */
	struct topic **topics;      /* references released at reset */
	size_t ntopics, topics_cap;
	bool alloc_failed;          /* an allocation failed while building */
	/* sending progress (core only) */
	size_t cur;                 /* index of the segment being sent */
	size_t cur_done;            /* bytes of segs[cur] already sent */
};

void srv_resp_init(struct srv_resp *r);
/* Release slices and topic references, forget the content.  Keeps the
 * buffers unless they grew large. */
void srv_resp_reset(struct srv_resp *r);
void srv_resp_free(struct srv_resp *r);
/* Start a response: size placeholder and CorrelationId (header v0). */
void srv_resp_begin(struct srv_resp *r, int32_t correlation_id);
/* Start the response to req: header v0, or v1 (CorrelationId and an empty
 * tag buffer) for a flexible version, except that ApiVersions always
 * answers with header v0. */
void srv_resp_begin_req(struct srv_resp *r, const struct srv_req *req);
/* Queue a file slice after the bytes written so far; the response now owns
 * the slice (released at reset), even on allocation failure. */
void srv_resp_add_slice(struct srv_resp *r, struct part_slice *slice);
/* Keep a topic reference until the response is sent (the response owns it
 * from now on, even on allocation failure). */
void srv_resp_hold_topic(struct srv_resp *r, struct topic *t);
/* Close the last memory run and patch the size prefix.  -ENOMEM if any
 * allocation failed while building (the response is then unusable). */
int srv_resp_finish(struct srv_resp *r);
/* Total bytes on the wire, size prefix included. */
int64_t srv_resp_wire_bytes(const struct srv_resp *r);

/* ------------------------------ requests -------------------------------- */

/* What a connection's client said about itself (ApiVersions v3+), for log
 * lines; sanitized, "" when not sent. */
struct srv_client {
	char software_name[64];
	char software_version[64];
	bool txn_refusal_logged;    /* InitProducerId with a transactional id
	                               was logged (srv_idem.c) */
	/* security: srv.c sets these at accept from the listener (and the
	 * TLS handshake: a client certificate's subject); srv_sasl.c completes
	 * them on SASL listeners */
	enum srv_sec_proto sec;     /* the listener's protocol */
	bool authenticated;         /* principal established: at accept on
	                               PLAINTEXT and SSL listeners, after a
	                               successful SaslAuthenticate on SASL ones;
	                               until then only ApiVersions, SaslHandshake
	                               and SaslAuthenticate are served */
	bool super;                 /* all rights: a super user, or a loopback
	                               PLAINTEXT listener (local tools) */
	char principal[256];        /* "User:NAME"; "User:ANONYMOUS" when none */
	void *sasl;                 /* srv_sasl.c's per-connection state; freed
	                               by srv_sasl_conn_free at close */
};

struct srv_req {
	int16_t api_key;
	int16_t api_version;
	int32_t correlation_id;
	const char *client_id;      /* borrowed from the request buffer */
	int client_id_len;          /* -1 = null */
	const uint8_t *body;        /* after the request header */
	size_t body_len;
	bool flexible;              /* a flexible version (KIP-482): request
	                               header v2, response header v1 (but for
	                               ApiVersions), compact types, tag buffers;
	                               set by srv_req_header_finish */
	struct srv_client *client;  /* the connection's; may be NULL */
	const char *peer;           /* "addr:port" of the connection; may be NULL */
	struct srv_conn *conn;      /* the connection (for SRV_HOLD); may be NULL
	                               (the fuzz harness, unit tests) */
	const struct srv_listener *listener; /* the listener the connection
	                               came in on; NULL = the first (fuzz) */
	uint64_t conn_serial;       /* the connection's serial: a held request is
	                               answered only while it still matches */
};

/* A handler: parse req->body, build resp (starting with
 * srv_resp_begin_req).  Returns as srv_api_dispatch does; a SRV_RESPOND
 * response is finished by the dispatcher. */
typedef enum srv_verdict (*srv_api_fn)(struct srv *s, const struct srv_req *req,
                                       struct srv_resp *resp, int *park_ms,
                                       char *why, size_t why_len);

/* One row of the dispatch table (srv_api.c: srv_apis): what ApiVersions
 * advertises and what dispatch accepts.  To serve a new API, write its
 * handler (in a new file if you like: net/srv_admin.c, ...), declare it
 * here and add a row. */
struct srv_api {
	int16_t key;
	int16_t min, max;           /* versions served */
	int16_t flex_from;          /* first flexible version (SRV_NEVER_FLEX) */
	const char *name;           /* for log lines */
	srv_api_fn fn;
};
#define SRV_NEVER_FLEX INT16_MAX

/* The row for an API key, NULL when not served. */
const struct srv_api *srv_api_find(int16_t key);
/* "fetch", or "api" for one not served. */
const char *srv_api_name(int16_t key);

/* After the core read ApiKey, ApiVersion, CorrelationId and ClientId (req
 * body = what follows): for a flexible version of a served API, read the
 * request header's tag buffer off the body and set req->flexible.  false
 * when the tag buffer does not parse.  An API or version not served is
 * left alone (dispatch refuses it). */
bool srv_req_header_finish(struct srv_req *req);

/* InitProducerId (srv_idem.c). */
enum srv_verdict srv_api_init_producer_id(struct srv *, const struct srv_req *,
                                          struct srv_resp *, int *, char *,
                                          size_t);

/* The address Metadata, FindCoordinator and DescribeCluster give a client
 * for this broker: the advertised address of the listener its request came
 * in on (Kafka: the endpoint of the same listener name). */
void srv_advertised(const struct srv *s, const struct srv_req *req,
                    const char **host, int *port);

/* The topic with this id (a reference), NULL when none (the id cache of
 * srv_api.c, rebuilt on a miss at most once per request). */
struct topic *srv_topic_by_id(struct srv *s, const uint8_t id[16]);
/* Copy a wire topic name into a C string; false if it cannot be a valid
 * topic name (null, empty, too long, a NUL or other bad characters). */
bool srv_topic_name_copy(char *dst, size_t dst_len, const char *s, int len);
/* A request that does not parse: say so in why and close the connection. */
enum srv_verdict srv_malformed(const struct srv_req *req, char *why, size_t why_len);

/* The admin APIs (srv_admin.c). */
enum srv_verdict srv_api_create_topics(struct srv *, const struct srv_req *,
                                       struct srv_resp *, int *, char *, size_t);
enum srv_verdict srv_api_delete_topics(struct srv *, const struct srv_req *,
                                       struct srv_resp *, int *, char *, size_t);
enum srv_verdict srv_api_delete_records(struct srv *, const struct srv_req *,
                                        struct srv_resp *, int *, char *, size_t);
enum srv_verdict srv_api_offset_for_leader_epoch(struct srv *,
                                                 const struct srv_req *,
                                                 struct srv_resp *, int *,
                                                 char *, size_t);
enum srv_verdict srv_api_create_partitions(struct srv *, const struct srv_req *,
                                           struct srv_resp *, int *, char *,
                                           size_t);
enum srv_verdict srv_api_describe_cluster(struct srv *, const struct srv_req *,
                                          struct srv_resp *, int *, char *,
                                          size_t);

/* The config APIs (srv_configs.c). */
enum srv_verdict srv_api_describe_configs(struct srv *, const struct srv_req *,
                                          struct srv_resp *, int *, char *,
                                          size_t);
enum srv_verdict srv_api_alter_configs(struct srv *, const struct srv_req *,
                                       struct srv_resp *, int *, char *, size_t);
enum srv_verdict srv_api_incremental_alter_configs(struct srv *,
                                                   const struct srv_req *,
                                                   struct srv_resp *, int *,
                                                   char *, size_t);

/* Sanitize client-sent text for a log line (printable ASCII, no '"'). */
void srv_sanitize(char *dst, size_t dst_len, const char *src, int len);

/* What a handler asks the core to do next. */
enum srv_verdict {
	SRV_RESPOND,                /* resp is complete: send it */
	SRV_SILENT,                 /* no response (Produce with acks 0) */
	SRV_PARK,                   /* long-poll Fetch: resp was discarded; wait
	                               up to *park_ms for data, then rebuild it
	                               with srv_api_fetch */
	SRV_CLOSE,                  /* close the connection; why says why */
	SRV_HOLD,                   /* the handler kept the request (JoinGroup,
	                               SyncGroup waiting for the rebalance): resp
	                               was left reset, nothing more is read from
	                               the connection until srv_conn_reply
	                               answers it (or it closes: then the core
	                               calls srv_group_conn_closed).  Only when
	                               req->conn is not NULL. */
};

/* Build the answer to a held request into resp (srv_resp_begin_req first). */
typedef void (*srv_reply_fn)(struct srv *s, const struct srv_req *req,
                             struct srv_resp *resp, void *arg);
/* Answer the request held by connection c (serial must match): fn builds
 * the response, which is then sent.  false when c is gone or holds nothing
 * (then fn is not called).  Server thread only. */
bool srv_conn_reply(struct srv *s, struct srv_conn *c, uint64_t serial,
                    srv_reply_fn fn, void *arg);

/* The group coordinator (srv_group.c), server thread only. */
int srv_group_init(struct srv *s);          /* at srv_start; -ENOMEM */
void srv_group_free(struct srv *s);         /* at srv_stop */
/* A connection holding a request closed: forget it (the member stays until
 * its session times out, as in Kafka). */
void srv_group_conn_closed(struct srv *s, struct srv_conn *c, uint64_t serial);
/* Timers: session and rebalance timeouts, the initial rebalance delay.
 * Returns the next deadline (monotonic ms), INT64_MAX when none. */
int64_t srv_group_tick(struct srv *s, int64_t now_ms);
/* For OffsetCommit (srv_offsets.c): may this commit go ahead?  KERR_NONE,
 * or ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID, REBALANCE_IN_PROGRESS,
 * FENCED_INSTANCE_ID, as Kafka answers.  generation -1 and member "" is a
 * simple (non-member) commit: allowed only while the group has no members. */
int srv_group_commit_check(struct srv *s, const char *group, const char *member,
                           int32_t generation, const char *instance_id);
/* For OffsetDelete: KERR_NONE, NON_EMPTY_GROUP... : is topic subscribed by
 * the group's current members (GROUP_SUBSCRIBED_TO_TOPIC)? */
bool srv_group_subscribes(struct srv *s, const char *group, const char *topic);

/* Membership APIs (srv_group.c). */
enum srv_verdict srv_api_join_group(struct srv *, const struct srv_req *,
                                    struct srv_resp *, int *, char *, size_t);
enum srv_verdict srv_api_sync_group(struct srv *, const struct srv_req *,
                                    struct srv_resp *, int *, char *, size_t);
enum srv_verdict srv_api_heartbeat(struct srv *, const struct srv_req *,
                                   struct srv_resp *, int *, char *, size_t);
enum srv_verdict srv_api_leave_group(struct srv *, const struct srv_req *,
                                     struct srv_resp *, int *, char *, size_t);
enum srv_verdict srv_api_describe_groups(struct srv *, const struct srv_req *,
                                         struct srv_resp *, int *, char *,
                                         size_t);
enum srv_verdict srv_api_list_groups(struct srv *, const struct srv_req *,
                                     struct srv_resp *, int *, char *, size_t);
enum srv_verdict srv_api_delete_groups(struct srv *, const struct srv_req *,
                                       struct srv_resp *, int *, char *, size_t);
/* Offset APIs and FindCoordinator (srv_offsets.c). */
enum srv_verdict srv_api_find_coordinator(struct srv *, const struct srv_req *,
                                          struct srv_resp *, int *, char *,
                                          size_t);
enum srv_verdict srv_api_offset_commit(struct srv *, const struct srv_req *,
                                       struct srv_resp *, int *, char *, size_t);
enum srv_verdict srv_api_offset_fetch(struct srv *, const struct srv_req *,
                                      struct srv_resp *, int *, char *, size_t);
enum srv_verdict srv_api_offset_delete(struct srv *, const struct srv_req *,
                                       struct srv_resp *, int *, char *, size_t);

/* SASL (srv_sasl.c), server thread only.  Init at srv_start: the
 * mechanisms, super users and the users file (-EINVAL, logged, when they
 * are bad or a SASL listener has no users file); free at srv_stop. */
int srv_sasl_init(struct srv *s);
void srv_sasl_free(struct srv *s);
/* At a connection's close: forget its SASL state (and a delayed answer). */
void srv_sasl_conn_free(struct srv *s, struct srv_client *cl);
/* Re-read the users file now (SIGHUP); a bad file keeps the old table. */
void srv_sasl_reload(struct srv *s);
/* Timers: delayed answers to failed logins.  Returns the next deadline
 * (monotonic ms), INT64_MAX when none. */
int64_t srv_sasl_tick(struct srv *s, int64_t now_ms);
/* Must the core hand the next request to srv_sasl_bare instead of parsing
 * a request header?  (A bare token is due after SaslHandshake v0, or the
 * connection failed to authenticate.) */
bool srv_sasl_intercepts(const struct srv_client *cl);
/* Answer it: req->body/body_len is the whole request (no header),
 * req->client, peer, conn and conn_serial set; the response is finished
 * here (a bare token), or SRV_HOLD / SRV_CLOSE. */
enum srv_verdict srv_sasl_bare(struct srv *s, const struct srv_req *req,
                               struct srv_resp *resp, char *why, size_t why_len);
enum srv_verdict srv_api_sasl_handshake(struct srv *, const struct srv_req *,
                                        struct srv_resp *, int *, char *, size_t);
enum srv_verdict srv_api_sasl_authenticate(struct srv *, const struct srv_req *,
                                           struct srv_resp *, int *, char *,
                                           size_t);
/* Authorization (srv_acl.c; model and file in acl.h), server thread
 * only.  Init at srv_start: <data_dir>/acls (-EINVAL, logged, when it does
 * not parse); free at srv_stop; reload on SIGHUP.  The checks, one line in
 * each handler: res_type ACL_RES_TOPIC/GROUP/CLUSTER, op ACL_OP_* (acl.h).
 * true = allowed (always for super users, local tools and requests
 * without a client); a denial is logged, rate-limited, except by
 * srv_authorized_quiet (filtering: Metadata, ListGroups, OffsetFetch). */
int srv_acl_init(struct srv *s);
void srv_acl_free(struct srv *s);
void srv_acl_reload(struct srv *s);
bool srv_authorize(struct srv *s, const struct srv_req *req, int res_type,
                   const char *name, int op);
bool srv_authorized_quiet(struct srv *s, const struct srv_req *req,
                          int res_type, const char *name, int op);
/* name: a wire string of len bytes (not NUL-terminated) */
bool srv_authorize_wire(struct srv *s, const struct srv_req *req, int res_type,
                        const char *name, int len, int op);
bool srv_authorize_cluster(struct srv *s, const struct srv_req *req, int op);
/* Creating topic name: CREATE on the cluster or on the topic. */
bool srv_authorize_create_topic(struct srv *s, const struct srv_req *req,
                                const char *name);
/* Idempotent producers (Kafka 3.x): IDEMPOTENT_WRITE on the cluster, or
 * WRITE on some topic. */
bool srv_authorize_idempotent(struct srv *s, const struct srv_req *req);
enum srv_verdict srv_api_describe_acls(struct srv *, const struct srv_req *,
                                       struct srv_resp *, int *, char *, size_t);
enum srv_verdict srv_api_create_acls(struct srv *, const struct srv_req *,
                                     struct srv_resp *, int *, char *, size_t);
enum srv_verdict srv_api_delete_acls(struct srv *, const struct srv_req *,
                                     struct srv_resp *, int *, char *, size_t);

/* Close connection c holding a request (serial must match) without an
 * answer (srv.c); false when c is gone or holds nothing. */
bool srv_conn_drop(struct srv *s, struct srv_conn *c, uint64_t serial);

struct srv;

/* Dispatch one request.  why (at least 160 bytes) gets the reason when the
 * verdict is SRV_CLOSE. */
enum srv_verdict srv_api_dispatch(struct srv *s, const struct srv_req *req,
                                  struct srv_resp *resp, int *park_ms,
                                  char *why, size_t why_len);

/* Build the answer to a Fetch request into resp.  final: answer whatever is
 * available (the long poll's deadline passed).  Returns SRV_RESPOND,
 * SRV_PARK (not final, not enough bytes yet: resp is left reset) or
 * SRV_CLOSE (malformed). */
enum srv_verdict srv_api_fetch(struct srv *s, const struct srv_req *req,
                               struct srv_resp *resp, bool final, int *park_ms,
                               char *why, size_t why_len);

/* ------------------------------- server --------------------------------- */

struct srv_conn;

enum srv_stat {
	SRV_STAT_CONNECTIONS,       /* connections accepted */
	SRV_STAT_FETCHES,           /* Fetch requests (a parked one counts once) */
	SRV_STAT_PRODUCES,          /* Produce requests */
	SRV_STAT_OTHER_REQUESTS,    /* every other API */
	SRV_STAT_BYTES_SENT,        /* response bytes written to sockets */
	SRV_STAT_AUTO_CREATE_REFUSED, /* auto-creates refused by the caps */
	SRV_STAT_GROUPS,            /* gauge: groups the coordinator holds */
	SRV_STAT_GROUP_MEMBERS,     /* gauge: members of those groups */
	SRV_STAT_REBALANCES,        /* rebalances completed (new generations) */
	SRV_STAT_TLS_OPEN,          /* gauge: TLS connections past the handshake */
	SRV_STAT_TLS_KERNEL,        /* gauge: those sending with kernel TLS */
	SRV_STAT_TLS_HANDSHAKE_FAILED, /* handshakes that failed or timed out */
	SRV_STAT_COUNT
};

/* A listening socket (srv.c), fixed after srv_start. */
struct srv_listener {
	enum srv_sec_proto sec;
	int fd;
	int port;                   /* bound port */
	char bound_addr[80];        /* "127.0.0.1:9092", "[::]:9092" */
	bool wildcard;              /* bound to 0.0.0.0 or :: */
	bool loopback;              /* bound to a loopback address */
	char adv_host[256];         /* what Metadata advertises to its clients */
	int adv_port;
};

struct srv_tls;

struct srv {
	struct store *st;
	struct srv_config cfg;
	char adv_host[256];         /* the first listener's advertised address */
	int adv_port;               /* (requests without a listener: fuzz) */
	int port;                   /* the first listener's bound port */
	int listen_fd;              /* the first listener's socket */
	struct srv_listener listeners[SRV_MAX_LISTENERS];
	int nlisteners;
	struct srv_tls *tls;        /* NULL without SSL/SASL_SSL listeners */
	atomic_bool reload;         /* atomic: srv_reload asked (SIGHUP) */
	struct srv_conn *tls_pending; /* TLS connections with decrypted bytes
	                               buffered in OpenSSL: epoll cannot see
	                               them, the loop reads them (rnext) */
	int64_t tls_log_ms;         /* rate limit of per-listener TLS lines */
	int epoll_fd;
	int wake_fd;                /* eventfd: appends and stop */
	pthread_t thread;
	bool thread_started;
	bool hook_added;            /* our append hook is registered */
	atomic_bool stopping;       /* atomic: set by srv_stop */
	atomic_uint_fast64_t append_gen;  /* atomic: bumped by the append hook */
	atomic_int parked;          /* atomic: parked fetches (hook skips the
	                               eventfd write when 0) */
	atomic_uint_fast64_t stats[SRV_STAT_COUNT]; /* atomic (relaxed): bumped
	                               by the server thread, read by
	                               srv_stats_get from any thread */
	atomic_int open_conns;      /* atomic: copy of nconns for srv_stats_get */
	atomic_int_fast64_t req_bytes_held; /* atomic: copy of mem_held */
	atomic_int mem_waiting;     /* atomic: copy of nmemwait */
	char bound_addr[80];        /* "127.0.0.1:9092", "[::]:9092"; fixed */
	bool wildcard;              /* bound to 0.0.0.0 or :: */
	/* server thread only: */
	struct srv_conn *conns;     /* all live connections */
	int nconns;
	struct srv_conn *park_head, *park_tail; /* parked, by deadline */
	struct srv_conn *dead;      /* closed this iteration, freed after it */
	bool recheck_parked;        /* a fetch parked: compare generations */
	int64_t next_sweep_ms;      /* earliest idle/request deadline */
	bool listen_paused;         /* accept() hit EMFILE */
	/* request memory (queued_max_request_bytes): every connection's
	 * request buffer (req_cap bytes) is reserved here before it is
	 * allocated; connections that cannot reserve wait in this FIFO with
	 * EPOLLIN off, and are resumed (first fit) when memory is released */
	int64_t mem_held;
	struct srv_conn *memwait_head, *memwait_tail;
	int nmemwait;
	bool mem_released;          /* run srv_mem_resume after this batch */
	int64_t mem_log_ms;         /* rate limit of the "budget full" line */
	int mem_log_waits;
	/* auto-create refusals: one log line per second at most */
	int64_t ac_log_ms;
	int ac_log_suppressed;
	int64_t listen_resume_ms;
	/* log rate limiting (server thread only) */
	int64_t log_window_ms;
	int log_count;
	int log_suppressed;
	int64_t refused_log_ms;
	int refused_count;
	/* refused requests: one line per client address and API a minute */
	struct {
		char addr[64];
		int16_t api;
		int64_t last_ms;
		int suppressed;
	} refusals[64];
	/* topic id -> name, for requests naming topics by id (Fetch v13+,
	 * Metadata v10+); rebuilt on a miss, at most once per request */
	struct srv_topic_id {
		uint8_t id[16];
		char *name;
	} *tids;
	size_t ntids;
	uint64_t req_seq;           /* requests handled (builds of an answer) */
	uint64_t tids_built_seq;    /* req_seq of the last rebuild */
	bool tids_built;
	struct srv_groups *grp;     /* the group coordinator (srv_group.c) */
	struct srv_sasl *sasl;      /* mechanisms, users, delayed failed logins
	                               (srv_sasl.c) */
	struct srv_acl *acl;        /* the ACL table (srv_acl.c) */
	int32_t admin_max_partitions; /* CreateTopics/CreatePartitions bound; 0 =
	                               the partitions setting's (the fuzz
	                               harness lowers it) */
};

/* Log a refused request (unsupported API or version, or one that does not
 * parse) at most once a minute per client address and API, with the
 * client's id and software (ApiVersions v3+).  peer: "addr:port". */
void srv_log_refusal(struct srv *s, const char *peer, int16_t api,
                     const char *client_id, const struct srv_client *cl,
                     const char *why);
/* Free the topic id cache. */
void srv_topic_ids_free(struct srv *s);

/* Rate-limited log line for events a client can cause:
 * "topicfs: net: <fmt>".  At most a few lines per second. */
void srv_log(struct srv *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Monotonic milliseconds. */

#endif /* TOPICFS_SRV_INTERNAL_H */
