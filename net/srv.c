/*
 * srv.c - the topicfs TCP server core: one epoll thread, non-blocking
 * sockets, the connection state machine, output queues sent with
 * sendmsg(2) and sendfile(2), deadlines and the long-poll park.
 *
 * DESIGN
 *
 * One thread runs epoll_wait over the listening sockets, an eventfd (wake_fd)
 * and every connection.  Storage calls made from it are mostly short (an
 * index lookup, part_append_batch's write and, with a flush-every-message
 * policy, an fsync), but some are not: the CRC check of fetch bytes not yet
 * verified (many MiB the first time a segment is served), a ListOffsets by
 * time (a pread and decode of up to a batch), and topic auto-creation
 * (mkdir and fsyncs).  A slow disk therefore delays every client of this
 * server, which is acceptable for one machine's worth of clients and keeps
 * the server free of locks.
 *
 * Listeners.  srv_start binds every listener of the config (Kafka's
 * PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL; at most SRV_MAX_LISTENERS, or
 * the one PLAINTEXT listener of listen_host), each with its own advertised
 * address; epoll's data pointer of a listening socket is its struct
 * srv_listener.  A connection remembers its listener: Metadata,
 * FindCoordinator and DescribeCluster answer with that listener's address
 * (srv_advertised; Kafka gives the endpoint of the same listener name), and
 * its security fields (struct srv_client) are set at accept: PLAINTEXT and
 * SSL connections are authenticated at once as User:ANONYMOUS (SSL: the
 * client certificate's subject after the handshake), a loopback PLAINTEXT
 * listener's with all rights (super: local tools); SASL ones are not
 * authenticated, and srv_api_dispatch serves them nothing but ApiVersions,
 * SaslHandshake and SaslAuthenticate until they are.  accept hitting
 * EMFILE pauses every listener for 100 ms.
 *
 * A connection is always in exactly one state:
 *
 *   HANDSHAKE a TLS handshake (SSL and SASL_SSL listeners, srv_tls.c), the
 *             first state of those connections, stepped on every event
 *             with the epoll interest the handshake asks for.  Bounded by
 *             request_timeout_ms like a request; a first byte that is not
 *             a TLS record, a failed handshake or the timeout close the
 *             connection with a rate-limited line.  Then READING.
 *   READING   reading the int32 size prefix, then the body.  The size is
 *             checked (0 < size <= max_request_bytes, and at most 512 KiB,
 *             SRV_SASL_MAX_RECEIVE, on a SASL connection not yet logged
 *             in) before anything is reserved or allocated; a bad size
 *             closes the connection.  Epoll: EPOLLIN.
 *             A request that needs a larger buffer than the connection has
 *             first reserves its announced size from the request memory
 *             budget (below); when it cannot, the connection waits for
 *             memory (mem_wait) with EPOLLRDHUP only, and nothing more is
 *             read from it until memory is released.
 *   WRITING   sending the response queue (memory runs with sendmsg, file
 *             slices with sendfile), resuming partial writes on EPOLLOUT.
 *             Nothing more is read meanwhile: requests of one connection
 *             are answered strictly in order, one at a time (pipelined
 *             requests wait in the kernel's socket buffer).  Epoll: EPOLLOUT.
 *   PARKED    a Fetch waiting for MinBytes or MaxWaitMs.  The request stays
 *             in the connection's buffer and is rebuilt from it on wake.
 *             Epoll: EPOLLRDHUP only, so a client that hangs up is noticed.
 *   HELD      a JoinGroup or SyncGroup the group coordinator keeps until
 *             the rebalance answers it (handler verdict SRV_HOLD).  As
 *             PARKED: the request (c->req, c->hdr) stays in the buffer and
 *             keeps its request memory, EPOLLRDHUP only, no deadline (the
 *             coordinator's rebalance and session timers bound the wait).
 *             srv_conn_reply builds the answer with the coordinator's
 *             function and moves on to WRITING; a close while HELD calls
 *             srv_group_conn_closed so the coordinator forgets the hold.
 *             Each connection has a serial, unique for the process's life,
 *             which the coordinator keeps beside the pointer: a reply to a
 *             connection that is no longer holding that request is refused.
 *
 * Reads take exactly the bytes of the current request (size prefix, then
 * body), never more, so no byte of a pipelined request is ever buffered
 * here.
 *
 * Request memory (queued_max_request_bytes, Kafka's
 * queued.max.request.bytes).  Every request buffer (c->req, req_cap bytes)
 * is counted in s->mem_held, which never exceeds the budget: a buffer is
 * allocated only after its whole announced size is reserved.  A connection
 * that cannot reserve gives back the buffer it had, joins the FIFO
 * memwait_head..tail and stops being read (backpressure through TCP, not an
 * error).  Buffers are released when the handler is done with them (on to
 * WRITING: the response owns copies of everything it sends) if they are
 * larger than SRV_KEEP_BUF_BYTES or anyone is waiting, and at close.  After
 * each epoll batch in which memory was released, srv_mem_resume gives it to
 * the waiters that now fit, oldest first (first fit, so a small request is
 * not stuck behind a large one).  No deadlock: waiters hold nothing, and
 * every holder either completes its request or is closed by
 * request_timeout_ms.  A waiter's deadline is idle_timeout_ms; once it has
 * its memory it gets request_timeout_ms for the body.  The budget must be
 * at least max_request_bytes, so every admissible request fits alone.
 *
 * Long poll.  The store's append hook runs in whatever thread appended (a
 * FUSE thread, the maintenance thread, or this one for Produce).  It bumps
 * the atomic append_gen and, when any fetch is parked, writes wake_fd.  The
 * loop then rebuilds every parked fetch whose recorded generation is stale
 * and answers those that now reach MinBytes.  The race between parking and
 * an append is closed Dekker-style with sequentially consistent atomics: a
 * fetch reads append_gen before it looks at the data, and after it raises
 * `parked` the loop re-checks append_gen (recheck_parked), while the hook
 * bumps append_gen before it reads `parked`.  Either the hook sees the
 * parked fetch and writes wake_fd, or the loop sees the new generation.
 * Parked connections sit in a list sorted by deadline (inserted from the
 * tail: clients use one MaxWaitMs, so this is O(1) in practice); expired
 * ones are answered with whatever is there.
 *
 * Deadlines.  Each non-parked connection has one deadline: idle_timeout_ms
 * after its last response when no request byte has arrived, request_timeout_ms
 * after the first byte of a request that is not yet complete (slowloris),
 * idle_timeout_ms after the last write progress while sending.  A sweep over
 * all connections runs when the earliest recorded deadline passes (at most
 * every SRV_SWEEP_MIN_MS).
 *
 * sendfile.  A slice (part_fetch_slice) holds its segment open, so retention
 * can delete the file mid-send without harm.  sendfile returning 0 before
 * the slice is done means the file is shorter than promised: the response
 * can no longer be framed correctly, so the connection is closed rather than
 * retried (the loop never spins).  SIGPIPE is ignored process-wide and
 * sendmsg uses MSG_NOSIGNAL; a client that disappears mid-send costs one
 * EPIPE/ECONNRESET and the release of its slices.
 *
 * TLS.  A TLS connection reads requests with SSL_read (exactly the bytes
 * of the request, like recv) and sends its response queue through a 64
 * KiB staging buffer: memory runs are copied in, file slices are pread in
 * (user space) and the buffer is SSL_written, retried on EPOLLOUT with
 * the same pointer and length; with kernel TLS (the kernel offers the
 * "tls" ULP and the handshake's cipher suits it) slices go out with
 * SSL_sendfile instead, zero-copy as on plaintext sockets.  An SSL_read
 * that must write first (a TLS 1.3 key update) waits for EPOLLOUT while
 * READING, an SSL_write that must read for EPOLLIN while WRITING.  OpenSSL
 * may hold decrypted bytes of the next pipelined request that epoll cannot
 * see (SSL_pending): such a connection, back in READING, is listed in
 * tls_pending and read after the epoll batch (the poll timeout is then
 * 0).  srv_reload (SIGHUP) sets a flag and writes wake_fd; the loop then
 * loads the certificate again (srv_tls_reload: a new SSL_CTX for new
 * connections, the old one kept when the files are bad).  A plaintext
 * listener that reads a size prefix starting 16 03 (a TLS record) closes
 * the connection saying "TLS client on a PLAINTEXT listener".
 *
 * Closing.  A connection closed while handling an epoll batch is moved to
 * the `dead` list and freed only after the batch, so later events in the
 * same batch never touch freed memory.
 *
 * Thread-safety: srv_start/srv_stop/srv_port are called by the owner; all
 * other state belongs to the server thread, except the atomics named in
 * struct srv.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/eventfd.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "srv_internal.h"
#include "srv_tls.h"

#define SRV_EPOLL_BATCH      64
#define SRV_SWEEP_MIN_MS     20     /* sweep granularity for deadlines */
#define SRV_MAX_POLL_MS      1000
#define SRV_REQS_PER_EVENT   16     /* fairness: requests per readiness */
#define SRV_KEEP_BUF_BYTES   (1u << 20) /* buffers above this are freed */
#define SRV_LOG_PER_SEC      20
#define SRV_IOV_MAX          64
#define SRV_MAX_PARK_MS      300000
#define SRV_FD_RESERVE       256    /* descriptors kept for storage, FUSE */
/* Largest request of a SASL connection before it has logged in: Kafka's
 * sasl.server.max.receive.size default.  SaslHandshake and SaslAuthenticate
 * are small; anything larger is refused before memory is reserved. */
#define SRV_SASL_MAX_RECEIVE (512 * 1024)

enum conn_state {
	CONN_HANDSHAKE,
	CONN_READING,
	CONN_WRITING,
	CONN_PARKED,
	CONN_HELD,
};

/* Connection serials: unique for the process's life (several servers in a
 * test process included). */
static atomic_uint_fast64_t srv_conn_serial_next = 1;

struct srv_conn {
	int fd;
	enum conn_state state;
	bool closed;
	uint64_t serial;            /* unique, for held requests */
	char peer[64];              /* "127.0.0.1:5555" */
	char client_id[48];         /* sanitized, for log lines */
	struct srv_client client;   /* software name/version (ApiVersions v3+),
	                               security (listener, principal) */
	const struct srv_listener *listener; /* accepted on */
	/* TLS (SSL and SASL_SSL listeners) */
	SSL *ssl;                   /* NULL on plaintext listeners */
	bool tls_kernel;            /* kTLS sends: slices with SSL_sendfile */
	bool tls_counted;           /* in the TLS gauges (handshake done) */
	bool tls_pending_listed;    /* in s->tls_pending */
	uint8_t *tls_out;           /* staging buffer, SRV_TLS_BUF_BYTES */
	size_t tls_out_len;         /* bytes staged */
	size_t tls_out_sent;        /* of which written with SSL_write */
	uint32_t ep_events;         /* what epoll watches now */
	bool mem_wait;              /* READING, waiting for request memory for
	                               req_len bytes (in s->memwait list) */
	/* reading */
	uint8_t size_buf[4];
	size_t size_got;
	uint8_t *req;               /* request body; kept while parked */
	size_t req_len, req_got, req_cap;
	struct srv_req hdr;         /* parsed header of the current request */
	/* writing */
	struct srv_resp resp;
	/* deadlines */
	int64_t deadline_ms;        /* idle / request / write stall */
	int64_t park_deadline_ms;
	uint64_t park_gen;          /* append_gen the parked answer was built at */
	/* lists (server thread only) */
	struct srv_conn *next, *prev;   /* s->conns */
	struct srv_conn *pnext, *pprev; /* s->park_head..park_tail */
	struct srv_conn *dnext;         /* s->dead */
	struct srv_conn *mnext, *mprev; /* s->memwait_head..memwait_tail */
	struct srv_conn *rnext;         /* s->tls_pending */
};

/* ================================ utils =================================== */

void srv_log(struct srv *s, const char *fmt, ...)
{
	int64_t now = tfs_mono_ms();
	if (now - s->log_window_ms >= 1000) {
		if (s->log_suppressed)
			tfs_log(TFS_LOG_WARN, "net: %d log lines suppressed",
			        s->log_suppressed);
		s->log_window_ms = now;
		s->log_count = 0;
		s->log_suppressed = 0;
	}
	if (++s->log_count > SRV_LOG_PER_SEC) {
		s->log_suppressed++;
		return;
	}
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	tfs_log(TFS_LOG_WARN, "net: %s", line);
}

void srv_sanitize(char *dst, size_t dst_len, const char *src, int len)
{
	size_t j = 0;
	if (!src || len < 0) {
		snprintf(dst, dst_len, "(null)");
		return;
	}
	for (int i = 0; i < len && j + 1 < dst_len; i++) {
		unsigned char ch = (unsigned char)src[i];
		dst[j++] = (ch >= 0x20 && ch < 0x7f && ch != '"') ? (char)ch : '?';
	}
	dst[j] = '\0';
}

static void format_peer(const struct sockaddr_storage *ss, char *out, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";
	int port = 0;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
		port = ntohs(a->sin_port);
		snprintf(out, len, "%s:%d", host, port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
		port = ntohs(a->sin6_port);
		snprintf(out, len, "[%s]:%d", host, port);
	} else {
		snprintf(out, len, "unknown");
	}
}

/* ============================ response queue ============================== */

void srv_resp_init(struct srv_resp *r)
{
	memset(r, 0, sizeof *r);
	kw_writer_init(&r->w);
}

void srv_resp_reset(struct srv_resp *r)
{
	for (size_t i = 0; i < r->nsegs; i++)
		if (r->segs[i].kind == SRV_SEG_FILE)
			part_slice_release(&r->segs[i].slice);
	for (size_t i = 0; i < r->ntopics; i++)
		topic_put(r->topics[i]);
	r->nsegs = 0;
	r->ntopics = 0;
	r->mark = 0;
	r->file_bytes = 0;
	r->alloc_failed = false;
	r->cur = 0;
	r->cur_done = 0;
	if (r->w.cap > SRV_KEEP_BUF_BYTES)
		kw_writer_free(&r->w);
	r->w.len = 0;
	r->w.err = false;
	if (r->segs_cap > 1024) {
		free(r->segs);
		r->segs = NULL;
		r->segs_cap = 0;
	}
}

void srv_resp_free(struct srv_resp *r)
{
	srv_resp_reset(r);
	kw_writer_free(&r->w);
	free(r->segs);
	free(r->topics);
	memset(r, 0, sizeof *r);
}

static bool resp_push_seg(struct srv_resp *r, const struct srv_seg *seg)
{
	if (r->nsegs == r->segs_cap) {
		size_t cap = r->segs_cap ? r->segs_cap * 2 : 8;
		struct srv_seg *ns = realloc(r->segs, cap * sizeof *ns);
		if (!ns) {
			r->alloc_failed = true;
			return false;
		}
		r->segs = ns;
		r->segs_cap = cap;
	}
	r->segs[r->nsegs++] = *seg;
	return true;
}

static void resp_close_mem_run(struct srv_resp *r)
{
	if (r->w.len > r->mark) {
		struct srv_seg seg = { .kind = SRV_SEG_MEM, .off = r->mark,
		                       .len = r->w.len - r->mark };
		resp_push_seg(r, &seg);
		r->mark = r->w.len;
	}
}

void srv_resp_begin(struct srv_resp *r, int32_t correlation_id)
{
	srv_resp_reset(r);
	kw_put_i32(&r->w, 0);               /* size, patched at finish */
	kw_put_i32(&r->w, correlation_id);
}

void srv_resp_begin_req(struct srv_resp *r, const struct srv_req *req)
{
	srv_resp_begin(r, req->correlation_id);
	if (req->flexible && req->api_key != KAPI_API_VERSIONS)
		kw_put_tags0(&r->w);        /* response header v1 */
}

/* The address part of "addr:port" / "[v6]:port". */
static void peer_addr(const char *peer, char *out, size_t len)
{
	const char *colon = strrchr(peer, ':');
	size_t n = colon ? (size_t)(colon - peer) : strlen(peer);
	if (n >= len)
		n = len - 1;
	memcpy(out, peer, n);
	out[n] = '\0';
}

void srv_log_refusal(struct srv *s, const char *peer, int16_t api,
                     const char *client_id, const struct srv_client *cl,
                     const char *why)
{
	char addr[64];
	int64_t now = tfs_mono_ms();
	size_t n = sizeof s->refusals / sizeof s->refusals[0], slot = n;
	size_t oldest = n;          /* a free slot, else the least recent */
	int more = 0;

	peer_addr(peer, addr, sizeof addr);
	for (size_t i = 0; i < n; i++) {
		if (!s->refusals[i].addr[0]) {
			if (oldest == n || s->refusals[oldest].addr[0])
				oldest = i;
			continue;
		}
		if (s->refusals[i].api == api && !strcmp(s->refusals[i].addr, addr)) {
			slot = i;
			break;
		}
		if (oldest == n || (s->refusals[oldest].addr[0] &&
		                    s->refusals[i].last_ms < s->refusals[oldest].last_ms))
			oldest = i;
	}
	if (slot < n) {
		if (now - s->refusals[slot].last_ms < 60000) {
			s->refusals[slot].suppressed++;
			return;
		}
		more = s->refusals[slot].suppressed;
	} else {
		slot = oldest;
		snprintf(s->refusals[slot].addr, sizeof s->refusals[slot].addr, "%s",
		         addr);
		s->refusals[slot].api = api;
	}
	s->refusals[slot].last_ms = now;
	s->refusals[slot].suppressed = 0;
	char sw[160] = "";
	if (cl && (cl->software_name[0] || cl->software_version[0]))
		snprintf(sw, sizeof sw, ", software %s %s", cl->software_name,
		         cl->software_version);
	char extra[96] = "";
	if (more)
		snprintf(extra, sizeof extra, " (%d more refusals of this address "
		         "and API in the last minute)", more);
	srv_log(s, "%s: refused: %s (client \"%s\"%s); closing the connection%s",
	        peer, why, client_id ? client_id : "?", sw, extra);
}

void srv_topic_ids_free(struct srv *s)
{
	for (size_t i = 0; i < s->ntids; i++)
		free(s->tids[i].name);
	free(s->tids);
	s->tids = NULL;
	s->ntids = 0;
	s->tids_built = false;
}

void srv_resp_add_slice(struct srv_resp *r, struct part_slice *slice)
{
	resp_close_mem_run(r);
	struct srv_seg seg = { .kind = SRV_SEG_FILE, .len = slice->len,
	                       .slice = *slice };
	if (!resp_push_seg(r, &seg)) {
		part_slice_release(slice);
		return;
	}
	r->file_bytes += (int64_t)slice->len;
}

void srv_resp_hold_topic(struct srv_resp *r, struct topic *t)
{
	if (r->ntopics == r->topics_cap) {
		size_t cap = r->topics_cap ? r->topics_cap * 2 : 4;
		struct topic **nt = realloc(r->topics, cap * sizeof *nt);
		if (!nt) {
			r->alloc_failed = true;
			topic_put(t);
			return;
		}
		r->topics = nt;
		r->topics_cap = cap;
	}
	r->topics[r->ntopics++] = t;
}

int srv_resp_finish(struct srv_resp *r)
{
	resp_close_mem_run(r);
	if (r->alloc_failed || r->w.err)
		return -ENOMEM;
	int64_t total = (int64_t)r->w.len + r->file_bytes - 4;
	if (total > INT32_MAX)
		return -EMSGSIZE;
	kw_patch_i32(&r->w, 0, (int32_t)total);
	return 0;
}

int64_t srv_resp_wire_bytes(const struct srv_resp *r)
{
	return (int64_t)r->w.len + r->file_bytes;
}

/* ============================== connections =============================== */

static void conn_want(struct srv *s, struct srv_conn *c, uint32_t events)
{
	if (c->closed || c->ep_events == events)
		return;
	struct epoll_event ev = { .events = events, .data.ptr = c };
	if (epoll_ctl(s->epoll_fd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
		srv_log(s, "%s: epoll_ctl: %s", c->peer, strerror(errno));
	else
		c->ep_events = events;
}

static void conn_set_deadline(struct srv *s, struct srv_conn *c, int64_t when)
{
	c->deadline_ms = when;
	if (when < s->next_sweep_ms)
		s->next_sweep_ms = when;
}

/* ============================ request memory ============================= */

static void conn_close(struct srv *s, struct srv_conn *c);
static void conn_tls_check_pending(struct srv *s, struct srv_conn *c);

static void mem_add(struct srv *s, int64_t delta)
{
	s->mem_held += delta;
	atomic_store_explicit(&s->req_bytes_held, s->mem_held, memory_order_relaxed);
	if (delta < 0)
		s->mem_released = true;
}

/* Free c's request buffer and give its bytes back to the budget. */
static void conn_req_release(struct srv *s, struct srv_conn *c)
{
	if (c->req) {
		free(c->req);
		mem_add(s, -(int64_t)c->req_cap);
	}
	c->req = NULL;
	c->req_cap = 0;
}

/* Make c->req hold at least size bytes, reserving them from the budget
 * first.  0 done, 1 the budget cannot cover it now (nothing changed),
 * -ENOMEM. */
static int conn_req_reserve(struct srv *s, struct srv_conn *c, size_t size)
{
	if (size <= c->req_cap)
		return 0;
	if (s->mem_held - (int64_t)c->req_cap + (int64_t)size >
	    s->cfg.queued_max_request_bytes)
		return 1;
	conn_req_release(s, c);
	c->req = malloc(size);
	if (!c->req)
		return -ENOMEM;
	c->req_cap = size;
	mem_add(s, (int64_t)size);
	return 0;
}

static void memwait_unlink(struct srv *s, struct srv_conn *c)
{
	if (c->mprev)
		c->mprev->mnext = c->mnext;
	else
		s->memwait_head = c->mnext;
	if (c->mnext)
		c->mnext->mprev = c->mprev;
	else
		s->memwait_tail = c->mprev;
	c->mnext = c->mprev = NULL;
	c->mem_wait = false;
	s->nmemwait--;
	atomic_store_explicit(&s->mem_waiting, s->nmemwait, memory_order_relaxed);
}

/* c announced a request of size bytes that the budget cannot cover now:
 * stop reading it until srv_mem_resume gives it the memory. */
static void conn_mem_wait(struct srv *s, struct srv_conn *c, size_t size)
{
	conn_req_release(s, c);             /* waiters hold nothing */
	c->req_len = size;
	c->req_got = 0;
	c->mem_wait = true;
	c->mnext = NULL;
	c->mprev = s->memwait_tail;
	if (s->memwait_tail)
		s->memwait_tail->mnext = c;
	else
		s->memwait_head = c;
	s->memwait_tail = c;
	s->nmemwait++;
	atomic_store_explicit(&s->mem_waiting, s->nmemwait, memory_order_relaxed);
	conn_want(s, c, EPOLLRDHUP);
	int64_t now = tfs_mono_ms();
	conn_set_deadline(s, c, now + s->cfg.idle_timeout_ms);
	s->mem_log_waits++;
	if (now - s->mem_log_ms >= 1000) {
		tfs_log(TFS_LOG_WARN, "net: request memory budget spent (%lld of "
		        "%lld bytes held, [net] queued_max_request_bytes): %d "
		        "connections wait for memory, %d started waiting in the "
		        "last second (latest %s, %zu bytes)", (long long)s->mem_held,
		        (long long)s->cfg.queued_max_request_bytes, s->nmemwait,
		        s->mem_log_waits, c->peer, size);
		s->mem_log_ms = now;
		s->mem_log_waits = 0;
	}
}

/* Memory was released: give it to the waiters that fit, oldest first. */
static void srv_mem_resume(struct srv *s)
{
	struct srv_conn *c, *nx;

	s->mem_released = false;
	for (c = s->memwait_head; c && s->mem_held < s->cfg.queued_max_request_bytes;
	     c = nx) {
		nx = c->mnext;
		int rc = conn_req_reserve(s, c, c->req_len);
		if (rc > 0)
			continue;
		memwait_unlink(s, c);
		if (rc < 0) {
			srv_log(s, "%s: closing: cannot allocate %zu bytes for a "
			        "request", c->peer, c->req_len);
			conn_close(s, c);
			continue;
		}
		c->req_got = 0;
		conn_set_deadline(s, c, tfs_mono_ms() + s->cfg.request_timeout_ms);
		conn_want(s, c, EPOLLIN);       /* level-triggered: fires if data */
		conn_tls_check_pending(s, c);   /* ... but not for OpenSSL's */
	}
}

static void park_unlink(struct srv *s, struct srv_conn *c)
{
	if (c->pprev)
		c->pprev->pnext = c->pnext;
	else
		s->park_head = c->pnext;
	if (c->pnext)
		c->pnext->pprev = c->pprev;
	else
		s->park_tail = c->pprev;
	c->pnext = c->pprev = NULL;
	atomic_fetch_sub(&s->parked, 1);
}

static void park_insert(struct srv *s, struct srv_conn *c)
{
	struct srv_conn *after = s->park_tail;
	while (after && after->park_deadline_ms > c->park_deadline_ms)
		after = after->pprev;
	c->pprev = after;
	c->pnext = after ? after->pnext : s->park_head;
	if (c->pnext)
		c->pnext->pprev = c;
	else
		s->park_tail = c;
	if (after)
		after->pnext = c;
	else
		s->park_head = c;
	atomic_fetch_add(&s->parked, 1);
}

static void conn_close(struct srv *s, struct srv_conn *c)
{
	if (c->closed)
		return;
	if (c->state == CONN_HELD)
		srv_group_conn_closed(s, c, c->serial);     /* forgets the hold */
	srv_sasl_conn_free(s, &c->client);  /* SASL state, a delayed answer */
	if (c->state == CONN_PARKED)
		park_unlink(s, c);
	if (c->mem_wait)
		memwait_unlink(s, c);
	if (c->tls_pending_listed) {
		struct srv_conn **pp = &s->tls_pending;
		while (*pp && *pp != c)
			pp = &(*pp)->rnext;
		if (*pp)
			*pp = c->rnext;
		c->tls_pending_listed = false;
	}
	if (c->tls_counted) {
		atomic_fetch_sub_explicit(&s->stats[SRV_STAT_TLS_OPEN], 1,
		                          memory_order_relaxed);
		if (c->tls_kernel)
			atomic_fetch_sub_explicit(&s->stats[SRV_STAT_TLS_KERNEL], 1,
			                          memory_order_relaxed);
		c->tls_counted = false;
	}
	c->closed = true;
	close(c->fd);                       /* also leaves the epoll set */
	c->fd = -1;
	conn_req_release(s, c);             /* the request memory, now */
	srv_resp_reset(&c->resp);           /* release slices and topics now */
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->nconns--;
	atomic_store_explicit(&s->open_conns, s->nconns, memory_order_relaxed);
	c->dnext = s->dead;
	s->dead = c;
}

static void conn_free(struct srv_conn *c)
{
	srv_resp_free(&c->resp);
	SSL_free(c->ssl);           /* no close_notify: the socket is closed */
	free(c->tls_out);
	free(c->req);
	free(c);
}

/* A TLS connection back to reading may hold decrypted bytes in OpenSSL
 * that epoll cannot see (a pipelined request in the same record): list it
 * for the loop to read. */
static void conn_tls_check_pending(struct srv *s, struct srv_conn *c)
{
	if (!c->ssl || c->closed || c->state != CONN_READING || c->mem_wait ||
	    c->tls_pending_listed || SSL_pending(c->ssl) <= 0)
		return;
	c->tls_pending_listed = true;
	c->rnext = s->tls_pending;
	s->tls_pending = c;
}

static void srv_free_dead(struct srv *s)
{
	while (s->dead) {
		struct srv_conn *c = s->dead;
		s->dead = c->dnext;
		conn_free(c);
	}
}

/* Back to reading the next request. */
static void conn_request_done(struct srv *s, struct srv_conn *c)
{
	c->state = CONN_READING;
	c->size_got = 0;
	c->req_got = 0;
	c->req_len = 0;
	if (c->req_cap > SRV_KEEP_BUF_BYTES || s->memwait_head)
		conn_req_release(s, c);
	srv_resp_reset(&c->resp);
	conn_set_deadline(s, c, tfs_mono_ms() + s->cfg.idle_timeout_ms);
	conn_want(s, c, EPOLLIN);
	conn_tls_check_pending(s, c);
}

static void count_sent(struct srv *s, size_t n)
{
	atomic_fetch_add_explicit(&s->stats[SRV_STAT_BYTES_SENT], (uint64_t)n,
	                          memory_order_relaxed);
}

/* conn_flush for a TLS connection.  The queue goes through the staging
 * buffer c->tls_out: memory runs are copied into it and, in user space,
 * file slices are read into it with pread (CONVENTIONS 9: like sendfile,
 * a read of a pinned slice, not a storage operation); the buffer is then
 * SSL_written, retried on WANT_WRITE with the same pointer and length
 * until it is all out, and only then refilled.  With kernel TLS, slices
 * go out with SSL_sendfile (zero-copy) and only memory runs are staged.
 * A slice shorter than promised closes the connection, as for sendfile. */
static void conn_flush_tls(struct srv *s, struct srv_conn *c)
{
	struct srv_resp *r = &c->resp;
	enum srv_tls_io io = SRV_TLS_OK;
	bool progress = false;
	char why[400] = "";

	if (!c->tls_out) {
		c->tls_out = malloc(SRV_TLS_BUF_BYTES);
		if (!c->tls_out) {
			srv_log(s, "%s: closing: out of memory for a TLS buffer", c->peer);
			conn_close(s, c);
			return;
		}
	}
	for (;;) {
		size_t n = 0;
		if (c->tls_out_sent < c->tls_out_len) {
			io = srv_tls_write(c->ssl, c->tls_out + c->tls_out_sent,
			                   c->tls_out_len - c->tls_out_sent, &n, why,
			                   sizeof why);
			if (io != SRV_TLS_OK)
				break;
			c->tls_out_sent += n;
			count_sent(s, n);
			progress = true;
			continue;
		}
		c->tls_out_len = c->tls_out_sent = 0;
		while (r->cur < r->nsegs && r->segs[r->cur].len == r->cur_done) {
			r->cur++;
			r->cur_done = 0;
		}
		if (r->cur >= r->nsegs)
			break;
		struct srv_seg *seg = &r->segs[r->cur];
		if (seg->kind == SRV_SEG_FILE && c->tls_kernel) {
			off_t pos = (off_t)(seg->slice.file_pos + (int64_t)r->cur_done);
			io = srv_tls_sendfile(c->ssl, seg->slice.fd, pos,
			                      seg->len - r->cur_done, &n, why, sizeof why);
			if (io != SRV_TLS_OK)
				break;
			if (n == 0)
				goto short_file;
			r->cur_done += n;
			count_sent(s, n);
			progress = true;
			continue;
		}
		while (c->tls_out_len < SRV_TLS_BUF_BYTES && r->cur < r->nsegs) {
			seg = &r->segs[r->cur];
			size_t want = seg->len - r->cur_done;
			if (want > SRV_TLS_BUF_BYTES - c->tls_out_len)
				want = SRV_TLS_BUF_BYTES - c->tls_out_len;
			if (seg->kind == SRV_SEG_MEM) {
				memcpy(c->tls_out + c->tls_out_len,
				       r->w.buf + seg->off + r->cur_done, want);
			} else if (c->tls_kernel) {
				break;          /* SSL_sendfile once the buffer is out */
			} else if (want > 0) {
				off_t pos = (off_t)(seg->slice.file_pos + (int64_t)r->cur_done);
				ssize_t got = pread(seg->slice.fd, c->tls_out + c->tls_out_len,
				                    want, pos);
				if (got < 0 && errno == EINTR)
					continue;
				if (got == 0)
					goto short_file;
				if (got < 0) {
					srv_log(s, "%s: closing: pread of a segment: %s",
					        c->peer, strerror(errno));
					conn_close(s, c);
					return;
				}
				want = (size_t)got;
			}
			c->tls_out_len += want;
			r->cur_done += want;
			if (r->cur_done == seg->len) {
				r->cur++;
				r->cur_done = 0;
			}
		}
	}

	uint32_t events = EPOLLOUT;
	switch (io) {
	case SRV_TLS_OK:
		conn_request_done(s, c);
		return;
	case SRV_TLS_WANT_WRITE:
		break;
	case SRV_TLS_WANT_READ:
		events = EPOLLIN;
		break;
	case SRV_TLS_ERROR:
		srv_log(s, "%s: closing: %s", c->peer, why);
		/* fall through */
	case SRV_TLS_EOF:
		conn_close(s, c);
		return;
	}
	if (progress || c->ep_events != events)
		c->deadline_ms = tfs_mono_ms() + s->cfg.idle_timeout_ms;
	conn_want(s, c, events);
	return;

short_file:
	srv_log(s, "%s: closing: segment file shorter than its slice during a "
	        "TLS send (%zu of %zu bytes sent)", c->peer, r->cur_done,
	        r->segs[r->cur].len);
	conn_close(s, c);
}

/* Send as much of the response queue as the socket takes. */
static void conn_flush(struct srv *s, struct srv_conn *c)
{
	struct srv_resp *r = &c->resp;
	bool progress = false;

	if (c->ssl) {
		conn_flush_tls(s, c);
		return;
	}

	while (r->cur < r->nsegs) {
		struct srv_seg *seg = &r->segs[r->cur];
		ssize_t n;

		if (seg->kind == SRV_SEG_MEM) {
			struct iovec iov[SRV_IOV_MAX];
			int niov = 0;
			size_t i = r->cur;
			for (; i < r->nsegs && niov < SRV_IOV_MAX &&
			       r->segs[i].kind == SRV_SEG_MEM; i++) {
				size_t skip = i == r->cur ? r->cur_done : 0;
				iov[niov].iov_base = r->w.buf + r->segs[i].off + skip;
				iov[niov].iov_len = r->segs[i].len - skip;
				niov++;
			}
			struct msghdr msg = { .msg_iov = iov, .msg_iovlen = (size_t)niov };
			int flags = MSG_NOSIGNAL | (i < r->nsegs ? MSG_MORE : 0);
			n = sendmsg(c->fd, &msg, flags);
		} else {
			off_t pos = (off_t)(seg->slice.file_pos + (int64_t)r->cur_done);
			n = sendfile(c->fd, seg->slice.fd, &pos, seg->len - r->cur_done);
			if (n == 0) {
				srv_log(s, "%s: closing: segment file shorter than its "
				        "slice during sendfile (%zu of %zu bytes sent)",
				        c->peer, r->cur_done, seg->len);
				conn_close(s, c);
				return;
			}
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno != EPIPE && errno != ECONNRESET)
				srv_log(s, "%s: closing: %s: %s", c->peer,
				        seg->kind == SRV_SEG_MEM ? "sendmsg" : "sendfile",
				        strerror(errno));
			conn_close(s, c);
			return;
		}
		progress = true;
		atomic_fetch_add_explicit(&s->stats[SRV_STAT_BYTES_SENT], (uint64_t)n,
		                          memory_order_relaxed);
		/* advance over n bytes */
		size_t left = (size_t)n;
		while (left && r->cur < r->nsegs) {
			size_t avail = r->segs[r->cur].len - r->cur_done;
			if (left < avail) {
				r->cur_done += left;
				left = 0;
			} else {
				left -= avail;
				r->cur++;
				r->cur_done = 0;
			}
		}
		/* skip empty segments */
		while (r->cur < r->nsegs && r->segs[r->cur].len == r->cur_done) {
			r->cur++;
			r->cur_done = 0;
		}
	}

	if (r->cur >= r->nsegs) {
		conn_request_done(s, c);
		return;
	}
	if (progress || c->ep_events != EPOLLOUT)
		c->deadline_ms = tfs_mono_ms() + s->cfg.idle_timeout_ms;
	conn_want(s, c, EPOLLOUT);
}

static void conn_start_write(struct srv *s, struct srv_conn *c)
{
	/* the response owns copies of what it sends: a large request buffer
	 * (or any, when others wait for memory) goes back now, not after a
	 * slow reader took the answer */
	if (c->req_cap > SRV_KEEP_BUF_BYTES || s->memwait_head)
		conn_req_release(s, c);
	c->state = CONN_WRITING;
	c->resp.cur = 0;
	c->resp.cur_done = 0;
	c->tls_out_len = c->tls_out_sent = 0;
	conn_set_deadline(s, c, tfs_mono_ms() + s->cfg.idle_timeout_ms);
	conn_flush(s, c);
}

static void conn_park(struct srv *s, struct srv_conn *c, int park_ms,
                      uint64_t gen)
{
	if (park_ms > SRV_MAX_PARK_MS)
		park_ms = SRV_MAX_PARK_MS;
	c->state = CONN_PARKED;
	c->park_gen = gen;
	c->park_deadline_ms = tfs_mono_ms() + park_ms;
	park_insert(s, c);
	conn_want(s, c, EPOLLRDHUP);
	s->recheck_parked = true;
}

/* Rebuild a parked fetch's answer; send it if ready (or final). */
static void conn_fetch_again(struct srv *s, struct srv_conn *c, bool final)
{
	char why[160] = "";
	int park_ms = 0;
	uint64_t gen = atomic_load(&s->append_gen);
	enum srv_verdict v = srv_api_fetch(s, &c->hdr, &c->resp, final, &park_ms,
	                                   why, sizeof why);
	if (v == SRV_PARK) {
		c->park_gen = gen;
		return;
	}
	park_unlink(s, c);
	c->state = CONN_WRITING;
	if (v == SRV_CLOSE) {
		srv_log(s, "%s: closing: %s (client \"%s\")", c->peer, why, c->client_id);
		conn_close(s, c);
		return;
	}
	conn_start_write(s, c);
}

bool srv_conn_reply(struct srv *s, struct srv_conn *c, uint64_t serial,
                    srv_reply_fn fn, void *arg)
{
	if (!c || c->closed || c->state != CONN_HELD || c->serial != serial)
		return false;
	fn(s, &c->hdr, &c->resp, arg);
	c->state = CONN_WRITING;
	if (srv_resp_finish(&c->resp)) {
		srv_resp_reset(&c->resp);
		srv_log(s, "%s: closing: cannot build a %s response (out of memory "
		        "or over 2 GiB)", c->peer, srv_api_name(c->hdr.api_key));
		conn_close(s, c);
		return true;
	}
	conn_start_write(s, c);
	return true;
}

/* SASL (srv_sasl.c): a delayed failed login that ends without an answer. */
bool srv_conn_drop(struct srv *s, struct srv_conn *c, uint64_t serial)
{
	if (!c || c->closed || c->state != CONN_HELD || c->serial != serial)
		return false;
	conn_close(s, c);
	return true;
}

static void conn_handle_request(struct srv *s, struct srv_conn *c)
{
	struct kw_reader r;
	char why[160] = "";
	int park_ms = 0;
	uint64_t gen = 0;
	enum srv_verdict v;

	if (srv_sasl_intercepts(&c->client)) {
		/* SASL (srv_sasl.c): a bare token after SaslHandshake v0, or
		 * any request after a failed login; client, peer and conn stay
		 * from the handshake's header */
		c->hdr.api_key = KAPI_SASL_AUTHENTICATE;
		c->hdr.api_version = -1;
		c->hdr.body = c->req;
		c->hdr.body_len = c->req_len;
		v = srv_sasl_bare(s, &c->hdr, &c->resp, why, sizeof why);
		goto verdict;
	}

	kw_reader_init(&r, c->req, c->req_len);
	c->hdr.api_key = kw_i16(&r);
	c->hdr.api_version = kw_i16(&r);
	c->hdr.correlation_id = kw_i32(&r);
	kw_str(&r, &c->hdr.client_id, &c->hdr.client_id_len);
	if (!r.err) {
		srv_sanitize(c->client_id, sizeof c->client_id, c->hdr.client_id,
		             c->hdr.client_id_len);
		c->hdr.body = c->req + r.pos;
		c->hdr.body_len = c->req_len - r.pos;
		c->hdr.client = &c->client;
		c->hdr.peer = c->peer;
		c->hdr.conn = c;
		c->hdr.conn_serial = c->serial;
		c->hdr.listener = c->listener;
	}
	if (r.err || !srv_req_header_finish(&c->hdr)) {
		snprintf(why, sizeof why, "malformed request header (%zu bytes)",
		         c->req_len);
		srv_log_refusal(s, c->peer, r.pos >= 2 ? c->hdr.api_key : -1,
		                c->client_id, &c->client, why);
		conn_close(s, c);
		return;
	}

	gen = atomic_load(&s->append_gen);
	atomic_fetch_add_explicit(&s->stats[c->hdr.api_key == KAPI_FETCH ? SRV_STAT_FETCHES :
	                                    c->hdr.api_key == KAPI_PRODUCE ? SRV_STAT_PRODUCES :
	                                    SRV_STAT_OTHER_REQUESTS], 1,
	                          memory_order_relaxed);
	v = srv_api_dispatch(s, &c->hdr, &c->resp, &park_ms, why, sizeof why);
verdict:
	switch (v) {
	case SRV_RESPOND:
		conn_start_write(s, c);
		break;
	case SRV_SILENT:
		conn_request_done(s, c);
		break;
	case SRV_PARK:
		conn_park(s, c, park_ms, gen);
		break;
	case SRV_HOLD:
		/* the request stays in c->req (and in the memory budget) until
		 * srv_conn_reply; no deadline: the coordinator's timers bound it */
		c->state = CONN_HELD;
		c->deadline_ms = INT64_MAX;
		conn_want(s, c, EPOLLRDHUP);
		break;
	case SRV_CLOSE:
		srv_log_refusal(s, c->peer, c->hdr.api_key, c->client_id, &c->client,
		                why);
		conn_close(s, c);
		break;
	}
}

/* 0 read some, 1 would block, -1 connection closed. */
static int conn_recv(struct srv *s, struct srv_conn *c, void *buf, size_t len,
                     size_t *got)
{
	if (c->ssl) {
		char why[400] = "";
		switch (srv_tls_read(c->ssl, buf, len, got, why, sizeof why)) {
		case SRV_TLS_OK:
			conn_want(s, c, EPOLLIN);
			return 0;
		case SRV_TLS_WANT_READ:
			conn_want(s, c, EPOLLIN);
			return 1;
		case SRV_TLS_WANT_WRITE:        /* e.g. a TLS 1.3 key update */
			conn_want(s, c, EPOLLIN | EPOLLOUT);
			return 1;
		case SRV_TLS_EOF:
			if (c->size_got > 0)
				srv_log(s, "%s: client closed mid-request (%zu of %zu "
				        "body bytes)", c->peer, c->req_got, c->req_len);
			conn_close(s, c);
			return -1;
		case SRV_TLS_ERROR:
			srv_log(s, "%s: closing: %s", c->peer, why);
			conn_close(s, c);
			return -1;
		}
	}
	for (;;) {
		ssize_t n = recv(c->fd, buf, len, 0);
		if (n > 0) {
			*got = (size_t)n;
			return 0;
		}
		if (n == 0) {
			if (c->size_got > 0)
				srv_log(s, "%s: client closed mid-request (%zu of %zu "
				        "body bytes)", c->peer, c->req_got, c->req_len);
			conn_close(s, c);
			return -1;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 1;
		if (errno != ECONNRESET)
			srv_log(s, "%s: closing: recv: %s", c->peer, strerror(errno));
		conn_close(s, c);
		return -1;
	}
}

static void conn_on_readable(struct srv *s, struct srv_conn *c)
{
	int budget = SRV_REQS_PER_EVENT;
	size_t got;

	while (budget > 0 && !c->closed && c->state == CONN_READING &&
	       !c->mem_wait) {
		if (c->size_got < 4) {
			int rc = conn_recv(s, c, c->size_buf + c->size_got,
			                   4 - c->size_got, &got);
			if (rc)
				return;
			if (c->size_got == 0)
				conn_set_deadline(s, c, tfs_mono_ms() +
				                  s->cfg.request_timeout_ms);
			c->size_got += got;
			if (c->size_got < 4)
				continue;
			int32_t size = (int32_t)be32_get(c->size_buf);
			if (!c->ssl && c->size_buf[0] == 0x16 && c->size_buf[1] == 0x03) {
				srv_log(s, "%s: closing: TLS client on a %s listener (%s): "
				        "the request starts like a TLS handshake record "
				        "(16 03 %02x)", c->peer,
				        srv_sec_proto_name(c->client.sec),
				        c->listener ? c->listener->bound_addr : "?",
				        c->size_buf[2]);
				conn_close(s, c);
				return;
			}
			if (size <= 0 || size > s->cfg.max_request_bytes) {
				srv_log(s, "%s: closing: request size %d out of range "
				        "(1..%lld)", c->peer, size,
				        (long long)s->cfg.max_request_bytes);
				conn_close(s, c);
				return;
			}
			if (!c->client.authenticated && size > SRV_SASL_MAX_RECEIVE) {
				srv_log(s, "%s: closing: request of %d bytes before "
				        "SASL authentication on a %s listener (at most "
				        "%d until logged in)", c->peer, size,
				        srv_sec_proto_name(c->client.sec),
				        SRV_SASL_MAX_RECEIVE);
				conn_close(s, c);
				return;
			}
			int mrc = conn_req_reserve(s, c, (size_t)size);
			if (mrc < 0) {
				srv_log(s, "%s: closing: cannot allocate %d bytes "
				        "for a request", c->peer, size);
				conn_close(s, c);
				return;
			}
			if (mrc > 0) {
				conn_mem_wait(s, c, (size_t)size);
				return;
			}
			c->req_len = (size_t)size;
			c->req_got = 0;
		}
		int rc = conn_recv(s, c, c->req + c->req_got, c->req_len - c->req_got,
		                   &got);
		if (rc)
			return;
		c->req_got += got;
		if (c->req_got == c->req_len) {
			budget--;
			conn_handle_request(s, c);
		}
	}
}

/* One step of the TLS handshake (CONN_HANDSHAKE); on to READING when it
 * is done, with the principal of a client certificate on SSL listeners. */
static void conn_handshake(struct srv *s, struct srv_conn *c)
{
	char why[600] = "", desc[128];
	enum srv_tls_io io = srv_tls_handshake(c->ssl, why, sizeof why);

	if (io == SRV_TLS_WANT_READ || io == SRV_TLS_WANT_WRITE) {
		conn_want(s, c, io == SRV_TLS_WANT_READ ? EPOLLIN : EPOLLOUT);
		return;
	}
	if (io == SRV_TLS_EOF) {
		conn_close(s, c);           /* closed before a byte: a port probe */
		return;
	}
	if (io != SRV_TLS_OK) {
		atomic_fetch_add_explicit(&s->stats[SRV_STAT_TLS_HANDSHAKE_FAILED], 1,
		                          memory_order_relaxed);
		srv_log(s, "%s: closing: %s (%s listener %s)", c->peer,
		        why[0] ? why : "TLS handshake failed: the client closed the "
		        "connection", srv_sec_proto_name(c->client.sec),
		        c->listener->bound_addr);
		conn_close(s, c);
		return;
	}
	c->tls_kernel = srv_tls_conn_kernel(c->ssl);
	c->tls_counted = true;
	atomic_fetch_add_explicit(&s->stats[SRV_STAT_TLS_OPEN], 1,
	                          memory_order_relaxed);
	if (c->tls_kernel)
		atomic_fetch_add_explicit(&s->stats[SRV_STAT_TLS_KERNEL], 1,
		                          memory_order_relaxed);
	if (c->client.sec == SRV_SEC_SSL)
		srv_tls_principal(c->ssl, c->client.principal,
		                  sizeof c->client.principal);
	srv_tls_describe(c->ssl, desc, sizeof desc);
	tfs_log(TFS_LOG_DEBUG, "net: %s: TLS handshake done on %s listener %s: "
	        "%s, principal %s, %s", c->peer, srv_sec_proto_name(c->client.sec),
	        c->listener->bound_addr, desc, c->client.principal,
	        c->tls_kernel ? "kernel TLS" : "user-space TLS");
	c->state = CONN_READING;
	conn_set_deadline(s, c, tfs_mono_ms() + s->cfg.idle_timeout_ms);
	conn_want(s, c, EPOLLIN);
	conn_on_readable(s, c);     /* the first request may be in OpenSSL */
	conn_tls_check_pending(s, c);
}

static void conn_on_event(struct srv *s, struct srv_conn *c, uint32_t events)
{
	if (c->closed)
		return;
	if (c->state == CONN_HANDSHAKE) {
		conn_handshake(s, c);       /* errors surface from the handshake */
		return;
	}
	if (c->state == CONN_PARKED || c->state == CONN_HELD) {
		if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
			conn_close(s, c);       /* a consumer that went away */
		return;
	}
	if (c->state == CONN_WRITING) {
		/* EPOLLIN: a TLS write that wanted to read first */
		if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR | EPOLLIN))
			conn_flush(s, c);       /* errors surface from the send */
		return;
	}
	if (c->mem_wait) {
		if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
			conn_close(s, c);       /* gave up waiting for memory */
		return;
	}
	/* EPOLLOUT: a TLS read that wanted to write first */
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP | EPOLLOUT)) {
		conn_on_readable(s, c);
		conn_tls_check_pending(s, c);
	}
}

/* Read what OpenSSL holds decrypted for the connections that were listed
 * (conn_tls_check_pending). */
static void srv_tls_read_pending(struct srv *s)
{
	struct srv_conn *list = s->tls_pending;

	s->tls_pending = NULL;
	while (list) {
		struct srv_conn *c = list;
		list = c->rnext;
		c->rnext = NULL;
		c->tls_pending_listed = false;
		if (c->closed || c->state != CONN_READING || c->mem_wait)
			continue;
		conn_on_readable(s, c);
		conn_tls_check_pending(s, c);
	}
}

/* ================================ accept ================================== */

/* Stop (events 0) or resume (EPOLLIN) accepting on every listener. */
static void srv_listeners_want(struct srv *s, uint32_t events)
{
	for (int i = 0; i < s->nlisteners; i++) {
		struct epoll_event ev = { .events = events,
		                          .data.ptr = &s->listeners[i] };
		epoll_ctl(s->epoll_fd, EPOLL_CTL_MOD, s->listeners[i].fd, &ev);
	}
}

/* A new connection's security, from its listener: PLAINTEXT and SSL
 * connections are authenticated at once as User:ANONYMOUS (SSL: the
 * client certificate's subject once the handshake is done), with all
 * rights on a loopback PLAINTEXT listener (local tools); SASL ones are not
 * authenticated until SaslAuthenticate succeeds (srv_sasl.c). */
static void conn_security_init(struct srv_conn *c, const struct srv_listener *l)
{
	c->listener = l;
	c->client.sec = l->sec;
	c->client.authenticated = l->sec == SRV_SEC_PLAINTEXT ||
	                          l->sec == SRV_SEC_SSL;
	c->client.super = l->sec == SRV_SEC_PLAINTEXT && l->loopback;
	snprintf(c->client.principal, sizeof c->client.principal, "User:ANONYMOUS");
}

static void srv_accept(struct srv *s, struct srv_listener *l)
{
	for (;;) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof ss;
		int fd = accept4(l->fd, (struct sockaddr *)&ss, &sl,
		                 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			/* EMFILE, ENFILE, ENOBUFS, ENOMEM: stop accepting for a
			 * moment instead of spinning on a readable listener */
			srv_log(s, "accept: %s (pausing the listeners for 100 ms)",
			        strerror(errno));
			srv_listeners_want(s, 0);
			s->listen_paused = true;
			s->listen_resume_ms = tfs_mono_ms() + 100;
			return;
		}
		char peer[64];
		format_peer(&ss, peer, sizeof peer);
		if (s->nconns >= s->cfg.max_connections) {
			close(fd);
			s->refused_count++;
			int64_t now = tfs_mono_ms();
			if (now - s->refused_log_ms >= 1000) {
				tfs_log(TFS_LOG_WARN, "net: %s: refused: %d connections "
				        "open (max_connections); %d refused in the last "
				        "second", peer, s->nconns, s->refused_count);
				s->refused_log_ms = now;
				s->refused_count = 0;
			}
			continue;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

		struct srv_conn *c = calloc(1, sizeof *c);
		if (!c) {
			srv_log(s, "%s: closing: out of memory", peer);
			close(fd);
			continue;
		}
		c->fd = fd;
		c->state = CONN_READING;
		c->serial = atomic_fetch_add(&srv_conn_serial_next, 1);
		snprintf(c->peer, sizeof c->peer, "%s", peer);
		snprintf(c->client_id, sizeof c->client_id, "?");
		srv_resp_init(&c->resp);
		conn_security_init(c, l);
		if (l->sec == SRV_SEC_SSL || l->sec == SRV_SEC_SASL_SSL) {
			c->ssl = srv_tls_conn_new(s->tls, fd);
			if (!c->ssl) {
				srv_log(s, "%s: closing: out of memory for a TLS "
				        "session", peer);
				close(fd);
				free(c);
				continue;
			}
			c->state = CONN_HANDSHAKE;
		}
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
		if (epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			srv_log(s, "%s: epoll_ctl add: %s", peer, strerror(errno));
			SSL_free(c->ssl);
			close(fd);
			free(c);
			continue;
		}
		c->ep_events = EPOLLIN;
		c->next = s->conns;
		if (s->conns)
			s->conns->prev = c;
		s->conns = c;
		s->nconns++;
		atomic_fetch_add_explicit(&s->stats[SRV_STAT_CONNECTIONS], 1,
		                          memory_order_relaxed);
		atomic_store_explicit(&s->open_conns, s->nconns, memory_order_relaxed);
		/* a handshake is bounded like a request */
		conn_set_deadline(s, c, tfs_mono_ms() + (c->ssl ?
		                  s->cfg.request_timeout_ms : s->cfg.idle_timeout_ms));
	}
}

/* ============================== timers ==================================== */

static void srv_sweep(struct srv *s, int64_t now)
{
	int64_t next = INT64_MAX;
	struct srv_conn *c = s->conns, *nx;
	for (; c; c = nx) {
		nx = c->next;
		if (c->state == CONN_PARKED || c->state == CONN_HELD)
			continue;
		if (c->deadline_ms <= now) {
			if (c->state == CONN_HANDSHAKE) {
				atomic_fetch_add_explicit(
					&s->stats[SRV_STAT_TLS_HANDSHAKE_FAILED], 1,
					memory_order_relaxed);
				srv_log(s, "%s: closing: TLS handshake not complete "
				        "after %d ms (request_timeout_ms; %s listener %s)",
				        c->peer, s->cfg.request_timeout_ms,
				        srv_sec_proto_name(c->client.sec),
				        c->listener->bound_addr);
			} else if (c->state == CONN_WRITING)
				srv_log(s, "%s: closing: no write progress for %d ms "
				        "(client \"%s\")", c->peer, s->cfg.idle_timeout_ms,
				        c->client_id);
			else if (c->mem_wait)
				srv_log(s, "%s: closing: waited %d ms for %zu bytes of "
				        "request memory", c->peer, s->cfg.idle_timeout_ms,
				        c->req_len);
			else if (c->size_got > 0)
				srv_log(s, "%s: closing: request incomplete after %d ms "
				        "(%zu bytes received)", c->peer,
				        s->cfg.request_timeout_ms, c->size_got + c->req_got);
			else
				srv_log(s, "%s: closing: idle for %d ms", c->peer,
				        s->cfg.idle_timeout_ms);
			conn_close(s, c);
			continue;
		}
		if (c->deadline_ms < next)
			next = c->deadline_ms;
	}
	if (next < now + SRV_SWEEP_MIN_MS)
		next = now + SRV_SWEEP_MIN_MS;
	s->next_sweep_ms = next;
	if (s->listen_paused && now >= s->listen_resume_ms) {
		srv_listeners_want(s, EPOLLIN);
		s->listen_paused = false;
	}
	if (s->listen_paused && s->listen_resume_ms < s->next_sweep_ms)
		s->next_sweep_ms = s->listen_resume_ms;
}

static void srv_wake_parked(struct srv *s)
{
	uint64_t gen = atomic_load(&s->append_gen);
	struct srv_conn *c = s->park_head, *nx;
	for (; c; c = nx) {
		nx = c->pnext;
		if (c->park_gen != gen)
			conn_fetch_again(s, c, false);
	}
}

static void srv_expire_parked(struct srv *s, int64_t now)
{
	while (s->park_head && s->park_head->park_deadline_ms <= now)
		conn_fetch_again(s, s->park_head, true);
}

static int srv_poll_timeout(struct srv *s, int64_t now, int64_t group_next)
{
	int64_t next = s->next_sweep_ms;
	if (s->park_head && s->park_head->park_deadline_ms < next)
		next = s->park_head->park_deadline_ms;
	if (group_next < next)
		next = group_next;
	int64_t wait = next - now;
	if (wait < 0 || s->tls_pending)
		wait = 0;
	if (wait > SRV_MAX_POLL_MS)
		wait = SRV_MAX_POLL_MS;
	return (int)wait;
}

/* ================================ thread ================================== */

static void *srv_thread(void *arg)
{
	struct srv *s = arg;
	struct epoll_event evs[SRV_EPOLL_BATCH];
	int64_t group_next = INT64_MAX;     /* the coordinator's next timer */

	while (!atomic_load(&s->stopping)) {
		int n = epoll_wait(s->epoll_fd, evs, SRV_EPOLL_BATCH,
		                   srv_poll_timeout(s, tfs_mono_ms(), group_next));
		if (n < 0) {
			if (errno != EINTR) {
				tfs_log(TFS_LOG_ERROR, "net: epoll_wait: %s",
				        strerror(errno));
				usleep(10000);
			}
			continue;
		}
		bool woke = false;
		for (int i = 0; i < n; i++) {
			void *p = evs[i].data.ptr;
			if (p >= (void *)s->listeners &&
			    p < (void *)(s->listeners + s->nlisteners)) {
				srv_accept(s, p);
			} else if (p == &s->wake_fd) {
				uint64_t v;
				while (read(s->wake_fd, &v, sizeof v) == (ssize_t)sizeof v)
					;
				woke = true;
			} else {
				conn_on_event(s, p, evs[i].events);
			}
		}
		if (s->tls_pending)
			srv_tls_read_pending(s);
		if (woke && atomic_exchange(&s->reload, false)) {
			/* SIGHUP (srv_reload): what the server reads from files */
			if (s->tls)
				srv_tls_reload(s->tls);
			srv_sasl_reload(s);
			srv_acl_reload(s);
		}
		if (woke || s->recheck_parked) {
			s->recheck_parked = false;
			srv_wake_parked(s);
		}
		int64_t now = tfs_mono_ms();
		srv_expire_parked(s, now);
		if (now >= s->next_sweep_ms)
			srv_sweep(s, now);
		group_next = srv_group_tick(s, now);
		int64_t sasl_next = srv_sasl_tick(s, now);  /* failed logins */
		if (sasl_next < group_next)
			group_next = sasl_next;
		if (s->mem_released)
			srv_mem_resume(s);  /* last: everything released above */
		srv_free_dead(s);
	}

	while (s->conns)
		conn_close(s, s->conns);
	srv_free_dead(s);
	return NULL;
}

/* Called from any appending thread; see the design note at the top of this file for the ordering. */
static void srv_append_hook(void *arg, struct topic *t, int partition)
{
	struct srv *s = arg;
	atomic_fetch_add(&s->append_gen, 1);
	if (atomic_load(&s->parked) > 0) {
		uint64_t one = 1;
		ssize_t n = write(s->wake_fd, &one, sizeof one);
		(void)n;        /* EAGAIN: the counter is already non-zero */
	}
}

/* ============================== public API ================================ */

void srv_config_defaults(struct srv_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	snprintf(cfg->listen_host, sizeof cfg->listen_host, "127.0.0.1");
	cfg->listen_port = 9092;
	cfg->advertised_port = 0;
	cfg->max_connections = 1024;
	cfg->max_request_bytes = 100 * 1024 * 1024;
	cfg->idle_timeout_ms = 600000;
	cfg->request_timeout_ms = 30000;
	cfg->auto_create_topics = false;
	cfg->queued_max_request_bytes = 512LL * 1024 * 1024;
	cfg->auto_create_max_per_request = 10;
	cfg->auto_create_max_topics = 1000;
	cfg->allow_wildcard_bind = false;
	cfg->message_timestamp_after_max_ms = 3600LL * 1000;
	topic_config_defaults(&cfg->topic_defaults);
	cfg->group_max_members = 1000;
	cfg->group_initial_rebalance_delay_ms = 3000;
	cfg->group_min_session_timeout_ms = 6000;
	cfg->group_max_session_timeout_ms = 1800000;
	snprintf(cfg->sasl_mechanisms, sizeof cfg->sasl_mechanisms,
	         "SCRAM-SHA-512, SCRAM-SHA-256, PLAIN");
	cfg->sasl_failed_delay_ms = 1000;
}

static int srv_check_config(const struct srv_config *cfg)
{
	const char *why = NULL;
	if (cfg->listen_port < 0 || cfg->listen_port > 65535)
		why = "listen port out of range 0..65535";
	else if (cfg->advertised_port < 0 || cfg->advertised_port > 65535)
		why = "advertised port out of range 0..65535";
	else if (cfg->max_connections < 1)
		why = "max_connections must be at least 1";
	else if (cfg->max_request_bytes < 64 || cfg->max_request_bytes > INT32_MAX)
		why = "max_request_bytes out of range 64..2147483647";
	else if (cfg->idle_timeout_ms < 1)
		why = "idle_timeout_ms must be at least 1";
	else if (cfg->request_timeout_ms < 1)
		why = "request_timeout_ms must be at least 1";
	else if (!cfg->listen_host[0])
		why = "empty listen host";
	else if (cfg->queued_max_request_bytes < cfg->max_request_bytes)
		why = "queued_max_request_bytes must be at least max_request_bytes";
	else if (cfg->auto_create_max_per_request < 0 ||
	         cfg->auto_create_max_topics < 0)
		why = "auto_create_max_per_request and auto_create_max_topics "
		      "must not be negative";
	else if (cfg->message_timestamp_after_max_ms < -1)
		why = "message_timestamp_after_max_ms must be -1 or more";
	else if (cfg->nlisteners < 0 || cfg->nlisteners > SRV_MAX_LISTENERS)
		why = "between 0 and 8 listeners";
	for (int i = 0; !why && i < cfg->nlisteners; i++) {
		const struct srv_listener_config *l = &cfg->listeners[i];
		bool tls = l->sec == SRV_SEC_SSL || l->sec == SRV_SEC_SASL_SSL;
		if (l->port < 0 || l->port > 65535 || l->advertised_port < 0 ||
		    l->advertised_port > 65535)
			why = "listener port out of range 0..65535";
		else if (!l->host[0])
			why = "empty listener host";
		else if ((unsigned)l->sec > SRV_SEC_SASL_SSL)
			why = "unknown listener security protocol";
		else if (tls && (!cfg->tls.cert_file[0] || !cfg->tls.key_file[0]))
			why = "an SSL or SASL_SSL listener needs a certificate and a key";
	}
	if (why) {
		tfs_log(TFS_LOG_ERROR, "net: bad configuration: %s", why);
		return -EINVAL;
	}
	return 0;
}

/* 0.0.0.0, ::, or ::ffff:0.0.0.0: every interface. */
static bool addr_is_wildcard(const struct sockaddr *sa)
{
	static const uint8_t zero[4];
	if (sa->sa_family == AF_INET)
		return ((const struct sockaddr_in *)sa)->sin_addr.s_addr ==
		       htonl(INADDR_ANY);
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		return IN6_IS_ADDR_UNSPECIFIED(a) ||
		       (IN6_IS_ADDR_V4MAPPED(a) && !memcmp(a->s6_addr + 12, zero, 4));
	}
	return false;
}

/* Warn when max_connections leaves too few descriptors for the rest of the
 * process (segments, indexes, FUSE).  The server survives EMFILE (accept
 * pauses), but storage opening a segment would fail. */
static void srv_check_fd_budget(const struct srv_config *cfg)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
		return;
	if ((rlim_t)cfg->max_connections + SRV_FD_RESERVE > rl.rlim_cur)
		tfs_log(TFS_LOG_WARN, "net: [net] max_connections %d plus %d "
		        "descriptors for segments and the mount exceed the open "
		        "files limit %llu: raise the limit (LimitNOFILE= in the "
		        "unit, ulimit -n) or lower max_connections",
		        cfg->max_connections, SRV_FD_RESERVE,
		        (unsigned long long)rl.rlim_cur);
}

/* A loopback address: 127.0.0.0/8, ::1, ::ffff:127.x. */
static bool addr_is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24)
		       == 127;
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		return IN6_IS_ADDR_LOOPBACK(a) ||
		       (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return false;
}

/* Bind and listen for one listener (lc), filling l. */
static int srv_listen(struct srv *s, const struct srv_listener_config *lc,
                      struct srv_listener *l)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
	                          .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *res = NULL, *ai;
	char port[16];
	int rc, fd = -1, saved = 0;

	snprintf(port, sizeof port, "%d", lc->port);
	rc = getaddrinfo(lc->host, port, &hints, &res);
	if (rc) {
		tfs_log(TFS_LOG_ERROR, "net: cannot resolve listen address %s:%s: %s",
		        lc->host, port, gai_strerror(rc));
		return -EINVAL;
	}
	bool refused_wildcard = false;
	for (ai = res; ai; ai = ai->ai_next) {
		if (!s->cfg.allow_wildcard_bind && addr_is_wildcard(ai->ai_addr)) {
			refused_wildcard = true;
			continue;
		}
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		            ai->ai_protocol);
		if (fd < 0) {
			saved = errno;
			continue;
		}
		int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 1024) == 0)
			break;
		saved = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0 && refused_wildcard && !saved) {
		tfs_log(TFS_LOG_ERROR, "net: listen address %s:%s is a wildcard "
		        "(every interface, reachable from other machines without "
		        "authentication): set [net] allow_wildcard_bind = true to "
		        "allow it, or listen on one address (127.0.0.1)",
		        lc->host, port);
		return -EPERM;
	}
	if (fd < 0) {
		tfs_log(TFS_LOG_ERROR, "net: cannot listen on %s:%s: %s",
		        lc->host, port, strerror(saved));
		return saved ? -saved : -EADDRNOTAVAIL;
	}

	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
		saved = errno;
		tfs_log(TFS_LOG_ERROR, "net: getsockname: %s", strerror(saved));
		close(fd);
		return -saved;
	}
	l->sec = lc->sec;
	l->fd = fd;
	l->port = ss.ss_family == AF_INET6
		? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
		: ntohs(((struct sockaddr_in *)&ss)->sin_port);
	format_peer(&ss, l->bound_addr, sizeof l->bound_addr);
	l->wildcard = addr_is_wildcard((struct sockaddr *)&ss);
	l->loopback = addr_is_loopback((struct sockaddr *)&ss);
	if (l->wildcard)
		tfs_log(TFS_LOG_WARN, "net: listening on %s, every interface "
		        "([net] allow_wildcard_bind): the port is reachable from "
		        "other machines%s", l->bound_addr,
		        l->sec == SRV_SEC_PLAINTEXT || l->sec == SRV_SEC_SSL ?
		        ", and clients of this listener are not authenticated"
		        " unless by a client certificate" : "");
	return 0;
}

static void srv_pick_advertised(const struct srv_listener_config *lc,
                                struct srv_listener *l)
{
	if (!lc->advertised_host[0] && l->wildcard) {
		/* a wildcard ("0", "0.0.0.0", "::", ...: judged by the bound
		 * address, not the spelling) is not an address a client can
		 * reach: give the machine's name */
		memset(l->adv_host, 0, sizeof l->adv_host);
		if (gethostname(l->adv_host, sizeof l->adv_host - 1) != 0 ||
		    !l->adv_host[0])
			snprintf(l->adv_host, sizeof l->adv_host, "localhost");
		tfs_log(TFS_LOG_WARN, "net: listening on a wildcard address; "
		        "advertising host name %s (set [net] advertised_host or "
		        "advertised_listeners to override)", l->adv_host);
	} else {
		snprintf(l->adv_host, sizeof l->adv_host, "%s",
		         lc->advertised_host[0] ? lc->advertised_host : lc->host);
	}
	l->adv_port = lc->advertised_port ? lc->advertised_port : l->port;
}

const char *srv_sec_proto_name(enum srv_sec_proto p)
{
	static const char *const names[] = { "PLAINTEXT", "SSL", "SASL_PLAINTEXT",
	                                     "SASL_SSL" };
	return (unsigned)p < 4 ? names[p] : "?";
}

void srv_advertised(const struct srv *s, const struct srv_req *req,
                    const char **host, int *port)
{
	const struct srv_listener *l = req && req->listener ? req->listener : NULL;
	*host = l ? l->adv_host : s->adv_host;
	*port = l ? l->adv_port : s->adv_port;
}

/* The listeners srv_start opens: cfg's list, or the one PLAINTEXT
 * listener of listen_host/listen_port. */
static int srv_listener_configs(const struct srv_config *cfg,
                                struct srv_listener_config *out)
{
	if (cfg->nlisteners > 0) {
		memcpy(out, cfg->listeners, (size_t)cfg->nlisteners * sizeof *out);
		return cfg->nlisteners;
	}
	memset(out, 0, sizeof *out);
	out->sec = SRV_SEC_PLAINTEXT;
	snprintf(out->host, sizeof out->host, "%s", cfg->listen_host);
	out->port = cfg->listen_port;
	snprintf(out->advertised_host, sizeof out->advertised_host, "%s",
	         cfg->advertised_host);
	out->advertised_port = cfg->advertised_port;
	return 1;
}

int srv_start(struct store *st, const struct srv_config *cfg, struct srv **out)
{
	struct srv *s;
	int rc;

	if (!st || !cfg || !out)
		return -EINVAL;
	rc = srv_check_config(cfg);
	if (rc)
		return rc;
	signal(SIGPIPE, SIG_IGN);

	s = calloc(1, sizeof *s);
	if (!s)
		return -ENOMEM;
	s->st = st;
	s->cfg = *cfg;
	s->listen_fd = s->epoll_fd = s->wake_fd = -1;
	s->next_sweep_ms = INT64_MAX;
	for (int i = 0; i < SRV_MAX_LISTENERS; i++)
		s->listeners[i].fd = -1;

	struct srv_listener_config lcs[SRV_MAX_LISTENERS];
	int nl = srv_listener_configs(cfg, lcs);
	bool need_tls = false;
	for (int i = 0; i < nl; i++)
		need_tls |= lcs[i].sec == SRV_SEC_SSL || lcs[i].sec == SRV_SEC_SASL_SSL;
	if (need_tls) {
		rc = srv_tls_new(&cfg->tls, &s->tls);
		if (rc)
			goto fail;
	}
	for (int i = 0; i < nl; i++) {
		rc = srv_listen(s, &lcs[i], &s->listeners[i]);
		if (rc)
			goto fail;
		s->nlisteners = i + 1;
		srv_pick_advertised(&lcs[i], &s->listeners[i]);
	}
	/* the first listener's, for srv_port, the stats and requests without
	 * a listener (the fuzz harness) */
	s->listen_fd = s->listeners[0].fd;
	s->port = s->listeners[0].port;
	s->wildcard = s->listeners[0].wildcard;
	snprintf(s->bound_addr, sizeof s->bound_addr, "%s",
	         s->listeners[0].bound_addr);
	snprintf(s->adv_host, sizeof s->adv_host, "%s", s->listeners[0].adv_host);
	s->adv_port = s->listeners[0].adv_port;
	srv_check_fd_budget(cfg);

	s->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	s->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (s->epoll_fd < 0 || s->wake_fd < 0) {
		rc = -errno;
		tfs_log(TFS_LOG_ERROR, "net: epoll/eventfd: %s", strerror(errno));
		goto fail;
	}
	struct epoll_event wev = { .events = EPOLLIN, .data.ptr = &s->wake_fd };
	rc = epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, s->wake_fd, &wev);
	for (int i = 0; rc == 0 && i < s->nlisteners; i++) {
		struct epoll_event ev = { .events = EPOLLIN,
		                          .data.ptr = &s->listeners[i] };
		rc = epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, s->listeners[i].fd, &ev);
	}
	if (rc < 0) {
		rc = -errno;
		tfs_log(TFS_LOG_ERROR, "net: epoll_ctl: %s", strerror(errno));
		goto fail;
	}

	rc = srv_group_init(s);
	if (rc) {
		tfs_log(TFS_LOG_ERROR, "net: srv_group_init: %s", strerror(-rc));
		goto fail;
	}

	rc = srv_sasl_init(s);      /* logs what is wrong */
	if (rc)
		goto fail;

	rc = srv_acl_init(s);       /* logs what is wrong */
	if (rc)
		goto fail;

	rc = store_add_append_hook(st, srv_append_hook, s);
	if (rc) {
		tfs_log(TFS_LOG_ERROR, "net: store_add_append_hook: %s", strerror(-rc));
		goto fail;
	}
	s->hook_added = true;

	/* The server thread takes no asynchronous signals: the daemon's main
	 * thread (FUSE) handles SIGTERM/SIGINT/SIGHUP. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = -pthread_create(&s->thread, NULL, srv_thread, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc) {
		tfs_log(TFS_LOG_ERROR, "net: pthread_create: %s", strerror(-rc));
		goto fail;
	}
	s->thread_started = true;
	for (int i = 0; i < s->nlisteners; i++)
		tfs_log(TFS_LOG_INFO, "net: listening on %s (%s, advertised %s:%d)",
		        s->listeners[i].bound_addr,
		        srv_sec_proto_name(s->listeners[i].sec),
		        s->listeners[i].adv_host, s->listeners[i].adv_port);
	tfs_log(TFS_LOG_INFO, "net: request memory budget %lld bytes",
	        (long long)s->cfg.queued_max_request_bytes);
	*out = s;
	return 0;

fail:
	if (s->hook_added)
		store_remove_append_hook(st, srv_append_hook, s);
	if (s->wake_fd >= 0)
		close(s->wake_fd);
	if (s->epoll_fd >= 0)
		close(s->epoll_fd);
	for (int i = 0; i < SRV_MAX_LISTENERS; i++)
		if (s->listeners[i].fd >= 0)
			close(s->listeners[i].fd);
	srv_tls_free(s->tls);
	srv_group_free(s);
	srv_sasl_free(s);
	srv_acl_free(s);
	free(s);
	return rc;
}

int srv_port(const struct srv *s)
{
	return s ? s->port : 0;
}

void srv_reload(struct srv *s)
{
	if (!s)
		return;
	atomic_store(&s->reload, true);
	uint64_t one = 1;
	ssize_t n = write(s->wake_fd, &one, sizeof one);
	(void)n;        /* EAGAIN: the counter is already non-zero */
}

void srv_stop(struct srv *s)
{
	if (!s)
		return;
	store_remove_append_hook(s->st, srv_append_hook, s);
	atomic_store(&s->stopping, true);
	uint64_t one = 1;
	ssize_t n = write(s->wake_fd, &one, sizeof one);
	(void)n;
	if (s->thread_started)
		pthread_join(s->thread, NULL);
	close(s->wake_fd);
	close(s->epoll_fd);
	for (int i = 0; i < s->nlisteners; i++)
		close(s->listeners[i].fd);
	srv_tls_free(s->tls);       /* after the connections' SSL_free */
	srv_group_free(s);          /* after the thread closed every connection */
	srv_sasl_free(s);
	srv_acl_free(s);
	srv_topic_ids_free(s);
	free(s);
}

void srv_stats_get(const struct srv *s, struct srv_stats *out)
{
	struct srv *m = (struct srv *)s;        /* atomics: loads only */

	memset(out, 0, sizeof *out);
	out->connections = atomic_load_explicit(&m->stats[SRV_STAT_CONNECTIONS],
	                                        memory_order_relaxed);
	out->open_connections = atomic_load_explicit(&m->open_conns,
	                                             memory_order_relaxed);
	out->fetches = atomic_load_explicit(&m->stats[SRV_STAT_FETCHES],
	                                    memory_order_relaxed);
	out->produces = atomic_load_explicit(&m->stats[SRV_STAT_PRODUCES],
	                                     memory_order_relaxed);
	out->other_requests = atomic_load_explicit(&m->stats[SRV_STAT_OTHER_REQUESTS],
	                                           memory_order_relaxed);
	out->bytes_sent = atomic_load_explicit(&m->stats[SRV_STAT_BYTES_SENT],
	                                       memory_order_relaxed);
	out->request_bytes_held = atomic_load_explicit(&m->req_bytes_held,
	                                               memory_order_relaxed);
	out->request_bytes_max = m->cfg.queued_max_request_bytes;
	out->memory_waits = atomic_load_explicit(&m->mem_waiting,
	                                         memory_order_relaxed);
	out->auto_create_refused = atomic_load_explicit(
		&m->stats[SRV_STAT_AUTO_CREATE_REFUSED], memory_order_relaxed);
	out->groups = atomic_load_explicit(&m->stats[SRV_STAT_GROUPS],
	                                   memory_order_relaxed);
	out->group_members = atomic_load_explicit(&m->stats[SRV_STAT_GROUP_MEMBERS],
	                                          memory_order_relaxed);
	out->group_rebalances = atomic_load_explicit(&m->stats[SRV_STAT_REBALANCES],
	                                             memory_order_relaxed);
	snprintf(out->listen_addr, sizeof out->listen_addr, "%s", m->bound_addr);
	snprintf(out->advertised, sizeof out->advertised, "%s:%d", m->adv_host,
	         m->adv_port);
	size_t len = 0;
	for (int i = 0; i < m->nlisteners && len < sizeof out->listeners; i++) {
		int w = snprintf(out->listeners + len, sizeof out->listeners - len,
		                 "%s%s://%s", i ? " " : "",
		                 srv_sec_proto_name(m->listeners[i].sec),
		                 m->listeners[i].bound_addr);
		if (w < 0)
			break;
		len += (size_t)w;
	}
	out->tls_mode = !m->tls ? "off" :
	                srv_tls_kernel_available(m->tls) ? "kernel" : "user";
	out->tls_connections = atomic_load_explicit(&m->stats[SRV_STAT_TLS_OPEN],
	                                            memory_order_relaxed);
	out->tls_kernel_connections = atomic_load_explicit(
		&m->stats[SRV_STAT_TLS_KERNEL], memory_order_relaxed);
	out->tls_handshake_failures = atomic_load_explicit(
		&m->stats[SRV_STAT_TLS_HANDSHAKE_FAILED], memory_order_relaxed);
}
