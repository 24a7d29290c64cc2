/*
 * kclient.c - a minimal blocking Kafka client: the fetch loop behind
 * topicfs-consume and the remote benchmark.
 *
 * DESIGN
 *
 * One TCP connection, one request in flight.  A call writes the whole
 * request (header v1: api key, version, correlation id, client id) with
 * send(MSG_NOSIGNAL), then reads the int32 size, checks it against
 * KC_MAX_RESPONSE before growing the receive buffer, reads the body and
 * checks the correlation id.  Every wait goes through poll() with a
 * deadline of timeout_ms (plus the fetch's MaxWaitMs), so a silent server
 * cannot hang the caller.  The receive buffer belongs to the connection and
 * is reused, so a consume loop allocates only when a response outgrows it.
 *
 * Pipelining.  When draining (not following), kc_consume asks for the next
 * range before it decodes the current response: the offset after the last
 * complete batch is known from the batch headers alone, so the server
 * finds and sends the next slice (sendfile into the socket buffer) while
 * this side checks CRCs and hands records out.  At most one request is
 * ahead; one left in flight when the loop stops is read and dropped, so
 * the connection stays usable.  A follower (long poll) sends one fetch at
 * a time, as a parked fetch should.
 *
 * Fetch responses may end in a truncated batch (KIP-74); kc_consume stops
 * at the first batch whose header says it is longer than the bytes left.
 * Batches are decoded with storage's batch_decode (CRC, codec and bounds
 * checked); control batches are skipped; records below the start offset
 * (a fetch offset in the middle of a batch returns the whole batch) are
 * skipped.
 *
 * Committed offsets (kc_offset_fetch, kc_offset_commit) are a simple
 * consumer's: OffsetFetch v3 and OffsetCommit v2 (versions every broker
 * since Kafka 0.11 serves and Kafka 4.0 still does) for one partition,
 * generation -1 and member "", no metadata.  Use a connection of its own
 * while a kc_consume loop runs: the loop may have a fetch in flight.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "kclient_internal.h"
#include "kwire_internal.h"

#define KC_MAX_RESPONSE      (1u << 30)
#define KC_DEFAULT_MAX_BYTES (1 << 20)
#define KC_MAX_MAX_BYTES     (256 << 20)

struct kc_conn {
	int fd;
	int timeout_ms;
	int32_t next_correlation;
	char client_id[64];
	char errmsg[256];
	uint8_t *rbuf;              /* last response body */
	size_t rbuf_cap;
	struct kw_writer req;       /* request under construction (reused) */
};

static int kc_fail(struct kc_conn *c, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int kc_fail(struct kc_conn *c, int rc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->errmsg, sizeof c->errmsg, fmt, ap);
	va_end(ap);
	return rc;
}

const char *kc_errmsg(const struct kc_conn *c)
{
	return c->errmsg;
}

const char *kc_err_name(int code)
{
	return kw_err_name(code);
}

/* ============================== connection ================================ */

int kc_connect(const char *host_port, const char *client_id, int timeout_ms,
               struct kc_conn **out)
{
	char host[256];
	const char *port;
	const char *colon = strrchr(host_port, ':');
	if (!colon || colon == host_port || !colon[1])
		return -EINVAL;
	size_t hl = (size_t)(colon - host_port);
	if (host_port[0] == '[' && hl >= 2 && host_port[hl - 1] == ']') {
		host_port++;
		hl -= 2;
	}
	if (hl >= sizeof host)
		return -EINVAL;
	memcpy(host, host_port, hl);
	host[hl] = '\0';
	port = colon + 1;

	struct kc_conn *c = calloc(1, sizeof *c);
	if (!c)
		return -ENOMEM;
	c->fd = -1;
	c->timeout_ms = timeout_ms > 0 ? timeout_ms : 30000;
	c->next_correlation = 1;
	snprintf(c->client_id, sizeof c->client_id, "%s",
	         client_id ? client_id : "topicfs-consume");
	kw_writer_init(&c->req);

	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
	                          .ai_flags = AI_NUMERICSERV };
	struct addrinfo *res = NULL, *ai;
	int rc = getaddrinfo(host, port, &hints, &res);
	if (rc) {
		free(c);
		return rc == EAI_SYSTEM ? -errno : -EHOSTUNREACH;
	}
	int saved = ECONNREFUSED;
	for (ai = res; ai; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
		                ai->ai_protocol);
		if (fd < 0) {
			saved = errno;
			continue;
		}
		struct timeval tv = { .tv_sec = c->timeout_ms / 1000,
		                      .tv_usec = (c->timeout_ms % 1000) * 1000 };
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
			c->fd = fd;
			break;
		}
		saved = errno;
		close(fd);
	}
	freeaddrinfo(res);
	if (c->fd < 0) {
		free(c);
		return -saved;
	}
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	*out = c;
	return 0;
}

void kc_close(struct kc_conn *c)
{
	if (!c)
		return;
	if (c->fd >= 0)
		close(c->fd);
	free(c->rbuf);
	kw_writer_free(&c->req);
	free(c);
}

static int kc_send_all(struct kc_conn *c, const uint8_t *p, size_t len)
{
	while (len) {
		ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int e = errno == EAGAIN ? ETIMEDOUT : errno;
			return kc_fail(c, -e, "send: %s", strerror(e));
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int kc_recv_all(struct kc_conn *c, uint8_t *p, size_t len,
                       int64_t deadline)
{
	while (len) {
		/* try first: during a large response the data is usually there */
		ssize_t n = recv(c->fd, p, len, MSG_DONTWAIT);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n == 0)
			return kc_fail(c, -ECONNRESET, "connection closed by the server");
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return kc_fail(c, -errno, "recv: %s", strerror(errno));
		int64_t left = deadline - tfs_mono_ms();
		if (left <= 0)
			return kc_fail(c, -ETIMEDOUT, "no response within the timeout");
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
		if (poll(&pfd, 1, left > INT32_MAX ? INT32_MAX : (int)left) < 0 &&
		    errno != EINTR)
			return kc_fail(c, -errno, "poll: %s", strerror(errno));
	}
	return 0;
}

/* Send one request; *corr gets its correlation id. */
static int kc_send_request(struct kc_conn *c, int16_t api_key, int16_t api_version,
                           const void *body, size_t body_len, int32_t *corr_out)
{
	struct kw_writer *w = &c->req;
	int32_t corr = c->next_correlation++;
	int rc;

	w->len = 0;
	w->err = false;
	kw_put_i32(w, 0);
	kw_put_i16(w, api_key);
	kw_put_i16(w, api_version);
	kw_put_i32(w, corr);
	kw_put_cstr(w, c->client_id);
	kw_put(w, body, body_len);
	if (w->err)
		return kc_fail(c, -ENOMEM, "out of memory building a request");
	kw_patch_i32(w, 0, (int32_t)(w->len - 4));
	rc = kc_send_all(c, w->buf, w->len);
	if (rc)
		return rc;
	*corr_out = corr;
	return 0;
}

/* Wait for the response to request corr; its body lands in c->rbuf. */
static int kc_read_response(struct kc_conn *c, int32_t corr, int extra_wait_ms,
                            const uint8_t **resp, size_t *resp_len)
{
	int rc;
	int64_t deadline = tfs_mono_ms() + c->timeout_ms +
	                   (extra_wait_ms > 0 ? extra_wait_ms : 0);
	uint8_t hdr[8];
	rc = kc_recv_all(c, hdr, sizeof hdr, deadline);
	if (rc)
		return rc;
	int32_t size = (int32_t)be32_get(hdr);
	if (size < 4 || (uint32_t)size > KC_MAX_RESPONSE)
		return kc_fail(c, -EPROTO, "bad response size %d", size);
	if ((int32_t)be32_get(hdr + 4) != corr)
		return kc_fail(c, -EPROTO, "response correlation id %d, expected %d",
		               (int32_t)be32_get(hdr + 4), corr);
	size_t len = (size_t)size - 4;
	if (len > c->rbuf_cap) {
		uint8_t *nb = realloc(c->rbuf, len);
		if (!nb)
			return kc_fail(c, -ENOMEM, "cannot allocate %zu bytes", len);
		c->rbuf = nb;
		c->rbuf_cap = len;
	}
	rc = kc_recv_all(c, c->rbuf, len, deadline);
	if (rc)
		return rc;
	*resp = c->rbuf;
	*resp_len = len;
	return 0;
}

int kc_call(struct kc_conn *c, int16_t api_key, int16_t api_version,
            const void *body, size_t body_len, int extra_wait_ms,
            const uint8_t **resp, size_t *resp_len)
{
	int32_t corr;
	int rc = kc_send_request(c, api_key, api_version, body, body_len, &corr);
	if (rc)
		return rc;
	return kc_read_response(c, corr, extra_wait_ms, resp, resp_len);
}

/* ============================== requests ================================== */

int kc_list_offset(struct kc_conn *c, const char *topic, int32_t partition,
                   int64_t ts, int64_t *offset, int *kerr)
{
	struct kw_writer w;
	const uint8_t *resp;
	size_t resp_len;
	int rc;

	kw_writer_init(&w);
	kw_put_i32(&w, -1);                         /* ReplicaId */
	kw_put_i32(&w, 1);
	kw_put_cstr(&w, topic);
	kw_put_i32(&w, 1);
	kw_put_i32(&w, partition);
	kw_put_i64(&w, ts);
	if (w.err) {
		kw_writer_free(&w);
		return kc_fail(c, -ENOMEM, "out of memory");
	}
	rc = kc_call(c, KAPI_LIST_OFFSETS, 1, w.buf, w.len, 0, &resp, &resp_len);
	kw_writer_free(&w);
	if (rc)
		return rc;

	struct kw_reader r;
	const char *name;
	int nl;
	kw_reader_init(&r, resp, resp_len);
	int32_t nt = kw_array(&r, 6, false);
	kw_str(&r, &name, &nl);
	int32_t np = kw_array(&r, 22, false);
	kw_i32(&r);
	int16_t err = kw_i16(&r);
	kw_i64(&r);                                 /* Timestamp */
	int64_t off = kw_i64(&r);
	if (r.err || nt != 1 || np != 1)
		return kc_fail(c, -EPROTO, "malformed listoffsets response");
	if (err) {
		*kerr = err;
		return kc_fail(c, -EREMOTEIO, "listoffsets %s/%d: %s (%d)", topic,
		               partition, kw_err_name(err), err);
	}
	*offset = off;
	return 0;
}

/* =========================== committed offsets ============================ */

int kc_offset_fetch(struct kc_conn *c, const char *group, const char *topic,
                    int32_t partition, int64_t *offset, int *kerr)
{
	struct kw_writer w;
	const uint8_t *resp;
	size_t resp_len;
	int rc;

	kw_writer_init(&w);
	kw_put_cstr(&w, group);
	kw_put_i32(&w, 1);                          /* Topics */
	kw_put_cstr(&w, topic);
	kw_put_i32(&w, 1);
	kw_put_i32(&w, partition);
	if (w.err) {
		kw_writer_free(&w);
		return kc_fail(c, -ENOMEM, "out of memory");
	}
	rc = kc_call(c, KAPI_OFFSET_FETCH, 3, w.buf, w.len, 0, &resp, &resp_len);
	kw_writer_free(&w);
	if (rc)
		return rc;

	struct kw_reader r;
	const char *s;
	int sl;
	kw_reader_init(&r, resp, resp_len);
	kw_i32(&r);                                 /* ThrottleTimeMs */
	int32_t nt = kw_array(&r, 6, false);
	int16_t err = 0;
	int64_t off = -1;
	int32_t found = 0;
	for (int32_t i = 0; i < nt && !r.err; i++) {
		kw_str(&r, &s, &sl);
		int32_t np = kw_array(&r, 16, false);
		for (int32_t j = 0; j < np && !r.err; j++) {
			int32_t p = kw_i32(&r);
			int64_t o = kw_i64(&r);
			kw_str(&r, &s, &sl);                /* Metadata */
			int16_t e = kw_i16(&r);
			if (p == partition && !found) {
				off = o;
				err = e;
				found = 1;
			}
		}
	}
	int16_t top = kw_i16(&r);                   /* ErrorCode (v2+) */
	if (r.err)
		return kc_fail(c, -EPROTO, "malformed offsetfetch response");
	if (top)
		err = top;
	if (err) {
		*kerr = err;
		return kc_fail(c, -EREMOTEIO, "offsetfetch group %s %s/%d: %s (%d)",
		               group, topic, partition, kw_err_name(err), err);
	}
	if (!found)
		return kc_fail(c, -EPROTO, "offsetfetch response without %s/%d",
		               topic, partition);
	*offset = off < 0 ? -1 : off;
	return 0;
}

int kc_offset_commit(struct kc_conn *c, const char *group, const char *topic,
                     int32_t partition, int64_t offset, int *kerr)
{
	struct kw_writer w;
	const uint8_t *resp;
	size_t resp_len;
	int rc;

	kw_writer_init(&w);
	kw_put_cstr(&w, group);
	kw_put_i32(&w, -1);                         /* GenerationId */
	kw_put_cstr(&w, "");                        /* MemberId */
	kw_put_i64(&w, -1);                         /* RetentionTimeMs */
	kw_put_i32(&w, 1);                          /* Topics */
	kw_put_cstr(&w, topic);
	kw_put_i32(&w, 1);
	kw_put_i32(&w, partition);
	kw_put_i64(&w, offset);
	kw_put_str(&w, NULL, -1);                   /* Metadata */
	if (w.err) {
		kw_writer_free(&w);
		return kc_fail(c, -ENOMEM, "out of memory");
	}
	rc = kc_call(c, KAPI_OFFSET_COMMIT, 2, w.buf, w.len, 0, &resp, &resp_len);
	kw_writer_free(&w);
	if (rc)
		return rc;

	struct kw_reader r;
	const char *s;
	int sl;
	kw_reader_init(&r, resp, resp_len);
	int32_t nt = kw_array(&r, 6, false);
	int16_t err = 0;
	int32_t found = 0;
	for (int32_t i = 0; i < nt && !r.err; i++) {
		kw_str(&r, &s, &sl);
		int32_t np = kw_array(&r, 6, false);
		for (int32_t j = 0; j < np && !r.err; j++) {
			int32_t p = kw_i32(&r);
			int16_t e = kw_i16(&r);
			if (p == partition && !found) {
				err = e;
				found = 1;
			}
		}
	}
	if (r.err || !found)
		return kc_fail(c, -EPROTO, "malformed offsetcommit response");
	if (err) {
		*kerr = err;
		return kc_fail(c, -EREMOTEIO, "offsetcommit group %s %s/%d offset "
		               "%lld: %s (%d)", group, topic, partition,
		               (long long)offset, kw_err_name(err), err);
	}
	return 0;
}

/* Send a Fetch v11 for one partition; *corr gets its correlation id. */
static int kc_fetch_send(struct kc_conn *c, const char *topic, int32_t partition,
                         int64_t offset, int32_t max_wait_ms, int32_t min_bytes,
                         int32_t max_bytes, int32_t *corr)
{
	struct kw_writer w;
	int rc;

	kw_writer_init(&w);
	kw_put_i32(&w, -1);                         /* ReplicaId */
	kw_put_i32(&w, max_wait_ms);
	kw_put_i32(&w, min_bytes);
	kw_put_i32(&w, max_bytes);
	kw_put_i8(&w, 0);                           /* IsolationLevel */
	kw_put_i32(&w, 0);                          /* SessionId */
	kw_put_i32(&w, -1);                         /* SessionEpoch: no session */
	kw_put_i32(&w, 1);
	kw_put_cstr(&w, topic);
	kw_put_i32(&w, 1);
	kw_put_i32(&w, partition);
	kw_put_i32(&w, -1);                         /* CurrentLeaderEpoch */
	kw_put_i64(&w, offset);
	kw_put_i64(&w, -1);                         /* LogStartOffset */
	kw_put_i32(&w, max_bytes);                  /* PartitionMaxBytes */
	kw_put_i32(&w, 0);                          /* ForgottenTopics */
	kw_put_cstr(&w, "");                        /* RackId */
	if (w.err) {
		kw_writer_free(&w);
		return kc_fail(c, -ENOMEM, "out of memory");
	}
	rc = kc_send_request(c, KAPI_FETCH, 11, w.buf, w.len, corr);
	kw_writer_free(&w);
	return rc;
}

/* Read and parse the response to the Fetch corr. */
static int kc_fetch_recv(struct kc_conn *c, int32_t corr, int32_t max_wait_ms,
                         struct kc_fetch_result *res)
{
	const uint8_t *resp;
	size_t resp_len;
	int rc = kc_read_response(c, corr, max_wait_ms, &resp, &resp_len);
	if (rc)
		return rc;

	struct kw_reader r;
	const char *name;
	int nl;
	kw_reader_init(&r, resp, resp_len);
	kw_i32(&r);                                 /* ThrottleTimeMs */
	int16_t top_err = kw_i16(&r);
	kw_i32(&r);                                 /* SessionId */
	int32_t nt = kw_array(&r, 6, false);
	kw_str(&r, &name, &nl);
	int32_t np = kw_array(&r, 42, false);
	kw_i32(&r);                                 /* PartitionIndex */
	res->err = kw_i16(&r);
	res->high_watermark = kw_i64(&r);
	kw_i64(&r);                                 /* LastStableOffset */
	res->log_start_offset = kw_i64(&r);
	int32_t naborted = kw_array(&r, 16, true);
	if (naborted > 0)
		kw_skip(&r, (size_t)naborted * 16);
	kw_i32(&r);                                 /* PreferredReadReplica */
	const uint8_t *rec;
	int32_t rec_len;
	kw_bytes(&r, &rec, &rec_len);
	if (r.err || nt != 1 || np != 1)
		return kc_fail(c, -EPROTO, "malformed fetch response");
	if (top_err)
		res->err = top_err;
	res->records = rec;
	res->records_len = rec_len > 0 ? (size_t)rec_len : 0;
	return 0;
}

int kc_fetch(struct kc_conn *c, const char *topic, int32_t partition,
             int64_t offset, int32_t max_wait_ms, int32_t min_bytes,
             int32_t max_bytes, struct kc_fetch_result *res)
{
	int32_t corr;
	int rc = kc_fetch_send(c, topic, partition, offset, max_wait_ms, min_bytes,
	                       max_bytes, &corr);
	if (rc)
		return rc;
	return kc_fetch_recv(c, corr, max_wait_ms, res);
}

/* The offset after the last complete batch of a fetch response (from the
 * headers only), or from when there is none. */
static int64_t kc_offset_after(const uint8_t *p, size_t len, int64_t from)
{
	size_t pos = 0;
	while (len - pos >= BATCH_LOG_OVERHEAD) {
		struct batch_header h;
		if (batch_parse_header(p + pos, len - pos, &h))
			break;                  /* truncated tail, or garbage */
		int64_t last = h.base_offset + h.last_offset_delta;
		if (last + 1 > from)
			from = last + 1;
		pos += (size_t)h.length + BATCH_LOG_OVERHEAD;
	}
	return from;
}

/* ============================== consume loop ============================== */

int kc_consume(struct kc_conn *c, const char *topic, int32_t partition,
               const struct kc_consume_opts *opts, kc_record_fn fn, void *arg,
               int64_t *next_offset, int *kerr)
{
	int64_t next = opts->start_offset;
	int64_t delivered = 0;
	int32_t max_wait = opts->max_wait_ms > 0 ? opts->max_wait_ms : 500;
	int32_t max_bytes = opts->max_bytes > 0 ? opts->max_bytes : KC_DEFAULT_MAX_BYTES;
	size_t max_dec = opts->max_decompressed ? opts->max_decompressed : (64u << 20);
	int rc = 0;
	int32_t corr = 0;
	bool ahead = false;         /* the fetch for `next` is already sent */
	int64_t ahead_offset = -1;

	for (;;) {
		struct kc_fetch_result fr;
		int32_t wait = opts->follow ? max_wait : 0;
		if (opts->stop && *opts->stop) {
			rc = 0;
			break;
		}
		if (!ahead) {
			rc = kc_fetch_send(c, topic, partition, next, wait, 1, max_bytes,
			                   &corr);
			if (rc)
				break;
		}
		ahead = false;
		rc = kc_fetch_recv(c, corr, wait, &fr);
		if (rc)
			break;
		if (!fr.err && !opts->follow) {
			/* draining: ask for what follows before decoding this */
			int64_t after = kc_offset_after(fr.records, fr.records_len, next);
			if (after > next && after < fr.high_watermark &&
			    (opts->max_records == 0 ||
			     delivered + (after - next) < opts->max_records)) {
				rc = kc_fetch_send(c, topic, partition, after, 0, 1, max_bytes,
				                   &corr);
				if (rc)
					break;
				ahead = true;
				ahead_offset = after;
			}
		}
		if (fr.err) {
			*kerr = fr.err;
			rc = kc_fail(c, -EREMOTEIO, "fetch %s/%d at offset %lld: %s (%d)",
			             topic, partition, (long long)next,
			             kw_err_name(fr.err), fr.err);
			break;
		}
		int64_t before = next;
		size_t pos = 0;
		while (fr.records_len - pos >= BATCH_LOG_OVERHEAD) {
			struct batch_header h;
			const uint8_t *b = fr.records + pos;
			int hr = batch_parse_header(b, fr.records_len - pos, &h);
			if (hr == -EAGAIN)
				break;                      /* truncated tail batch */
			if (hr) {
				rc = kc_fail(c, -EBADMSG, "corrupt batch at offset %lld",
				             (long long)next);
				goto out;
			}
			size_t blen = (size_t)h.length + BATCH_LOG_OVERHEAD;
			int64_t last = h.base_offset + h.last_offset_delta;
			if (!(h.attributes & BATCH_ATTR_CONTROL) && last >= next) {
				struct batch_decoded dec;
				hr = batch_decode(b, blen, max_dec, &dec);
				if (hr) {
					rc = kc_fail(c, hr, "batch at offset %lld: %s",
					             (long long)h.base_offset, strerror(-hr));
					goto out;
				}
				for (size_t i = 0; i < dec.nrecs; i++) {
					if (dec.recs[i].offset < next)
						continue;
					next = dec.recs[i].offset + 1;
					delivered++;
					int stop = fn(arg, &dec.recs[i]);
					if (opts->stop && *opts->stop)
						stop = 1;
					if (stop || (opts->max_records > 0 &&
					             delivered >= opts->max_records)) {
						batch_decoded_free(&dec);
						rc = 0;
						goto out;
					}
				}
				batch_decoded_free(&dec);
			}
			if (last + 1 > next)
				next = last + 1;
			pos += blen;
		}
		if (opts->fetch_done)
			opts->fetch_done(arg);
		if (next == before && fr.records_len > 0) {
			/* only a truncated batch came back: ask for more bytes */
			if (max_bytes >= KC_MAX_MAX_BYTES) {
				rc = kc_fail(c, -EMSGSIZE, "batch at offset %lld larger "
				             "than %d bytes", (long long)next, max_bytes);
				break;
			}
			max_bytes *= 2;
			continue;
		}
		if (!opts->follow && next >= fr.high_watermark)
			break;
		if (ahead && next != ahead_offset) {
			/* cannot happen (same headers); never deliver twice */
			rc = kc_fail(c, -EPROTO, "fetch pipeline out of step at %lld",
			             (long long)next);
			break;
		}
	}
out:
	if (ahead) {
		/* the request sent ahead: read and drop its answer */
		const uint8_t *resp;
		size_t resp_len;
		kc_read_response(c, corr, 0, &resp, &resp_len);
	}
	if (next_offset)
		*next_offset = next;
	return rc;
}
