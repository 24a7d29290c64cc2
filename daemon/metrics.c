/*
 * metrics.c - the daemon's counters in Prometheus text format over a tiny
 * HTTP/1.0 server.
 *
 * Design
 * ------
 * One thread, one connection at a time: a scraper asks every few seconds,
 * and an answer is a few kilobytes built in memory, so there is nothing to
 * gain from concurrency and nothing to bound but the time one client may
 * hold the thread.  The thread polls the listening socket and a pipe that
 * metrics_stop writes; an accepted connection gets SO_RCVTIMEO and
 * SO_SNDTIMEO of METRICS_IO_TIMEOUT_MS, its request head is read up to
 * METRICS_REQ_MAX bytes (a longer one is refused with 431), and the
 * connection is closed after the answer (HTTP/1.0, Connection: close).
 *
 * Answers: GET (or HEAD) /metrics -> 200 with the exposition
 * (text/plain; version=0.0.4); GET / -> 200 with a pointer to /metrics;
 * any other path -> 404; any other method -> 405; garbage -> 400.
 *
 * Exposition.  Every family has # HELP and # TYPE lines, then its samples.
 * Counters end in _total; gauges do not.  Per-partition families carry
 * topic and partition labels; topic names are [A-Za-z0-9._-] (storage
 * enforces it), so label values never need escaping.  The partition table
 * is gathered once per scrape (part_info per partition), so one answer is
 * a consistent-enough snapshot without holding any lock across families.
 *
 * The listen address is loopback by default ([metrics] listen =
 * 127.0.0.1:9101 in the example config); the endpoint is read-only.
 * Access: with [metrics] token_file, every request must carry
 * "Authorization: Bearer <the file's first line>" (401 otherwise; the
 * token is read once at start, compared in constant time); a bind beyond
 * loopback without a token is refused by the configuration unless [net]
 * allow_anonymous.  With [metrics] tls the endpoint speaks HTTPS with the
 * [tls] certificate and key (TLS 1.2+, a blocking handshake bounded by
 * the same I/O timeouts; the context is built once at start).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "config.h"
#include "metrics.h"
#include "mirror.h"

#ifndef TOPICFS_VERSION
#define TOPICFS_VERSION "0.1.0"
#endif

#define METRICS_REQ_MAX 8192
#define METRICS_IO_TIMEOUT_MS 2000

/* ============================== rendering ================================ */

struct part_row {
	char topic[250];
	int32_t partition;
	struct part_info in;
};

static uint64_t ld(atomic_uint_fast64_t *v)
{
	return atomic_load_explicit(v, memory_order_relaxed);
}

static void family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void one(FILE *f, const char *name, const char *type, const char *help,
                uint64_t value)
{
	family(f, name, type, help);
	fprintf(f, "%s %" PRIu64 "\n", name, value);
}

/* Gather every partition's state.  *rows is owned by the caller. */
static int gather(struct store *st, struct part_row **rows, size_t *nrows,
                  size_t *ntopics)
{
	char **names = NULL;
	size_t count = 0, n = 0, cap = 0;
	struct part_row *r = NULL;
	int rc;

	rc = store_topic_list(st, &names, &count);
	if (rc)
		return rc;
	for (size_t i = 0; i < count; i++) {
		struct topic *t;
		if (store_topic_get(st, names[i], &t))
			continue;       /* deleted meanwhile */
		int32_t np = topic_partitions(t);
		for (int32_t p = 0; p < np; p++) {
			struct part *part = topic_part(t, p);
			if (!part)
				continue;
			if (n == cap) {
				size_t ncap = cap ? cap * 2 : 16;
				struct part_row *nr = realloc(r, ncap * sizeof *nr);
				if (!nr) {
					topic_put(t);
					rc = -ENOMEM;
					goto out;
				}
				r = nr;
				cap = ncap;
			}
			snprintf(r[n].topic, sizeof r[n].topic, "%s", names[i]);
			r[n].partition = p;
			part_info(part, &r[n].in);
			n++;
		}
		topic_put(t);
	}
	*rows = r;
	*nrows = n;
	*ntopics = count;
	r = NULL;
	rc = 0;
out:
	free(r);
	for (size_t i = 0; i < count; i++)
		free(names[i]);
	free(names);
	return rc;
}

/* A per-partition gauge family; field picks the value. */
static void part_family(FILE *f, const struct part_row *rows, size_t n,
                        const char *name, const char *help,
                        int64_t (*field)(const struct part_info *))
{
	family(f, name, "gauge", help);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s{topic=\"%s\",partition=\"%" PRId32 "\"} %" PRId64 "\n",
		        name, rows[i].topic, rows[i].partition, field(&rows[i].in));
}

static int64_t f_start(const struct part_info *i) { return i->log_start_offset; }
static int64_t f_next(const struct part_info *i) { return i->next_offset; }
static int64_t f_records(const struct part_info *i)
{
	return i->next_offset - i->log_start_offset;
}
static int64_t f_segments(const struct part_info *i) { return i->segments; }
static int64_t f_bytes(const struct part_info *i) { return i->bytes_on_disk; }
static int64_t f_stream_end(const struct part_info *i) { return i->stream_end; }
static int64_t f_rp(const struct part_info *i) { return i->recovery_point; }
static int64_t f_last_append(const struct part_info *i)
{
	return i->last_append_ms / 1000;
}

/* Consumer groups as the store keeps them (storage/groups.h): commits,
 * and the lag of every committed offset.  The group label is the group's
 * name in the .groups directory (group_name_encode: no quote, backslash or
 * newline, so nothing to escape).  Lag series are bounded: the first
 * METRICS_GROUP_LAG_MAX (groups by id, then topic, partition); past it
 * topicfs_group_lag_series_dropped says how many were left out. */
#define METRICS_GROUP_LAG_MAX 1000
static void group_families(FILE *f, struct store *st)
{
	struct groups *g = store_groups(st);
	struct groups_stats gs;
	struct group_info *gi = NULL;
	size_t ngroups = 0, series = 0, dropped = 0;

	groups_stats_get(g, &gs);
	one(f, "topicfs_group_commits_total", "counter",
	    "Consumer group offsets committed (Kafka clients, @group= views, "
	    "resets).", gs.commits);
	one(f, "topicfs_group_offsets", "gauge",
	    "Committed offsets held, all groups.", gs.offsets);
	family(f, "topicfs_group_lag", "gauge",
	       "Log end offset minus the group's committed offset.");
	if (groups_list(g, &gi, &ngroups))
		ngroups = 0;
	for (size_t i = 0; i < ngroups; i++) {
		struct group_offset *offs = NULL;
		size_t n = 0;
		char name[3 * GROUP_ID_MAX + 1];
		if (series >= METRICS_GROUP_LAG_MAX) {
			dropped += gi[i].offsets;
			continue;
		}
		if (group_name_encode(gi[i].id, strlen(gi[i].id), name, sizeof name) < 0 ||
		    groups_fetch_all(g, gi[i].id, &offs, &n))
			continue;
		for (size_t j = 0; j < n; j++) {
			struct topic *t;
			struct part *p;
			struct part_info in;
			if (series >= METRICS_GROUP_LAG_MAX) {
				dropped++;
				continue;
			}
			if (store_topic_get(st, offs[j].topic, &t))
				continue;
			p = topic_part(t, offs[j].partition);
			if (p) {
				part_info(p, &in);
				fprintf(f, "topicfs_group_lag{group=\"%s\",topic=\"%s\","
				        "partition=\"%" PRId32 "\"} %" PRId64 "\n", name,
				        offs[j].topic, offs[j].partition,
				        in.next_offset > offs[j].offset ?
				        in.next_offset - offs[j].offset : 0);
				series++;
			}
			topic_put(t);
		}
		group_offsets_free(offs, n);
	}
	group_infos_free(gi, ngroups);
	one(f, "topicfs_group_lag_series_dropped", "gauge",
	    "topicfs_group_lag series left out past the bound of 1000.", dropped);
}

int metrics_render(const struct metrics_sources *src, char **out,
                       size_t *out_len)
{
	struct part_row *rows = NULL;
	size_t nrows = 0, ntopics = 0, len = 0;
	struct store_stats ss;
	struct timespec ts;
	char *text = NULL;
	FILE *f;
	int rc;

	rc = gather(src->st, &rows, &nrows, &ntopics);
	if (rc)
		return rc;
	f = open_memstream(&text, &len);
	if (!f) {
		free(rows);
		return -ENOMEM;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	family(f, "topicfs_info", "gauge", "Version of the running daemon.");
	fprintf(f, "topicfs_info{version=\"%s\"} 1\n", TOPICFS_VERSION);
	family(f, "topicfs_uptime_seconds", "gauge", "Seconds since the daemon started.");
	fprintf(f, "topicfs_uptime_seconds %.3f\n",
	        ((double)ts.tv_sec * 1000 + ts.tv_nsec / 1e6 - (double)src->start_ms) / 1000);

	store_stats_get(&ss);
	one(f, "topicfs_storage_batches_written_total", "counter",
	    "Record batches appended to segment files.", ss.batches_written);
	one(f, "topicfs_storage_records_written_total", "counter",
	    "Records appended to segment files (mount and Produce).", ss.records_written);
	one(f, "topicfs_storage_bytes_written_total", "counter",
	    "Bytes appended to segment files.", ss.bytes_written);
	one(f, "topicfs_storage_flushes_total", "counter",
	    "Successful partition flushes (fsync).", ss.flushes);
	one(f, "topicfs_storage_recoveries_total", "counter",
	    "Segments rescanned by crash recovery.", ss.recoveries);
	one(f, "topicfs_storage_truncations_total", "counter",
	    "Torn or invalid segment tails cut by recovery.", ss.truncations);
	one(f, "topicfs_storage_errors_total", "counter",
	    "Failed system calls in the log engine.", ss.errors);
	group_families(f, src->st);

	if (src->ctr) {
		struct fsv_counters *c = src->ctr;
		one(f, "topicfs_fs_appends_total", "counter",
		    "Appends made through the mount.", ld(&c->appends));
		one(f, "topicfs_fs_records_written_total", "counter",
		    "Records appended through the mount.", ld(&c->records_written));
		one(f, "topicfs_fs_bytes_written_total", "counter",
		    "write(2) bytes accepted by the mount.", ld(&c->bytes_written));
		one(f, "topicfs_fs_reads_total", "counter",
		    "Read requests served by the mount.", ld(&c->reads));
		one(f, "topicfs_fs_bytes_read_total", "counter",
		    "Bytes read through the mount.", ld(&c->bytes_read));
		one(f, "topicfs_fs_opens_total", "counter",
		    "Files opened on the mount.", ld(&c->opens));
		one(f, "topicfs_fs_cached_opens_total", "counter",
		    "Bounded views of written records opened through the page cache.",
		    ld(&c->cached_opens));
		one(f, "topicfs_fs_open_handles", "gauge",
		    "Files and directory listings open on the mount.",
		    ld(&c->open_handles));
		one(f, "topicfs_fs_reads_ahead_total", "counter",
		    "Partition reads served from a window rendered ahead.",
		    ld(&c->reads_ahead));
		one(f, "topicfs_fs_errors_total", "counter",
		    "Reads and writes on the mount that failed.", ld(&c->errors));
	}
	if (src->srv) {
		struct srv_stats ns;
		srv_stats_get(src->srv, &ns);
		one(f, "topicfs_net_connections_total", "counter",
		    "TCP connections accepted.", ns.connections);
		one(f, "topicfs_net_open_connections", "gauge",
		    "TCP connections open now.", (uint64_t)ns.open_connections);
		one(f, "topicfs_net_fetches_total", "counter",
		    "Fetch requests.", ns.fetches);
		one(f, "topicfs_net_produces_total", "counter",
		    "Produce requests.", ns.produces);
		one(f, "topicfs_net_other_requests_total", "counter",
		    "Other Kafka requests (Metadata, ApiVersions, ListOffsets, ...).",
		    ns.other_requests);
		one(f, "topicfs_net_bytes_sent_total", "counter",
		    "Response bytes sent, sendfile included.", ns.bytes_sent);
		one(f, "topicfs_net_request_bytes_held", "gauge",
		    "Request buffer bytes held by connections now.",
		    (uint64_t)ns.request_bytes_held);
		one(f, "topicfs_net_request_bytes_max", "gauge",
		    "Bound on request bytes held ([net] queued_max_request_bytes).",
		    (uint64_t)ns.request_bytes_max);
		one(f, "topicfs_net_memory_waits", "gauge",
		    "Connections not read now, waiting for request memory.",
		    (uint64_t)ns.memory_waits);
		one(f, "topicfs_net_auto_create_refused_total", "counter",
		    "Topic auto-creates refused by auto_create_max_per_request or "
		    "auto_create_max_topics.", ns.auto_create_refused);
		one(f, "topicfs_groups", "gauge",
		    "Consumer groups with members (the TCP group coordinator).",
		    ns.groups);
		one(f, "topicfs_group_members", "gauge",
		    "Members of those consumer groups.", ns.group_members);
		one(f, "topicfs_group_rebalances_total", "counter",
		    "Consumer group rebalances completed (new generations).",
		    ns.group_rebalances);
		family(f, "topicfs_tls_connections", "gauge",
		       "TLS connections open now, by how file slices are sent: "
		       "kernel (kTLS, SSL_sendfile) or user (read and encrypted "
		       "in user space).");
		fprintf(f, "topicfs_tls_connections{mode=\"kernel\"} %" PRIu64 "\n",
		        ns.tls_kernel_connections);
		fprintf(f, "topicfs_tls_connections{mode=\"user\"} %" PRIu64 "\n",
		        ns.tls_connections - ns.tls_kernel_connections);
		family(f, "topicfs_tls_mode", "gauge",
		       "What new TLS connections use to send file slices (1 for "
		       "the mode in use: kernel, user, or off without a TLS "
		       "listener).");
		fprintf(f, "topicfs_tls_mode{mode=\"%s\"} 1\n", ns.tls_mode);
		one(f, "topicfs_tls_handshake_failures_total", "counter",
		    "TLS handshakes that failed or timed out (plaintext clients "
		    "on TLS listeners, refused client certificates, ...).",
		    ns.tls_handshake_failures);
	}

	mirrors_metrics(f, src->mirrors);

	one(f, "topicfs_topics", "gauge", "Topics.", ntopics);
	one(f, "topicfs_partitions", "gauge", "Partitions.", nrows);
	family(f, "topicfs_topic_size_bytes", "gauge",
	       "Bytes of .log segments of a topic, all partitions.");
	for (size_t i = 0; i < nrows;) {
		int64_t sum = 0;
		size_t j = i;
		for (; j < nrows && !strcmp(rows[j].topic, rows[i].topic); j++)
			sum += rows[j].in.bytes_on_disk;
		fprintf(f, "topicfs_topic_size_bytes{topic=\"%s\"} %" PRId64 "\n",
		        rows[i].topic, sum);
		i = j;
	}
	part_family(f, rows, nrows, "topicfs_partition_log_start_offset",
	            "First offset still in the log.", f_start);
	part_family(f, rows, nrows, "topicfs_partition_next_offset",
	            "Offset the next record will get.", f_next);
	part_family(f, rows, nrows, "topicfs_partition_records",
	            "Records retained (next_offset - log_start_offset).", f_records);
	part_family(f, rows, nrows, "topicfs_partition_segments",
	            "Segments of the partition.", f_segments);
	part_family(f, rows, nrows, "topicfs_partition_size_bytes",
	            "Bytes of .log segments of the partition.", f_bytes);
	part_family(f, rows, nrows, "topicfs_partition_stream_end_bytes",
	            "Size of the partition file on the mount.", f_stream_end);
	part_family(f, rows, nrows, "topicfs_partition_recovery_point",
	            "Offsets below this are durable (fsynced).", f_rp);
	part_family(f, rows, nrows, "topicfs_partition_last_append_seconds",
	            "Wall clock of the last append (Unix seconds).", f_last_append);
	free(rows);
	if (fclose(f) != 0) {
		free(text);
		return -ENOMEM;
	}
	*out = text;
	*out_len = len;
	return 0;
}

void metrics_status_net(FILE *f, struct srv *srv)
{
	struct srv_stats ns;

	if (!srv)
		return;
	srv_stats_get(srv, &ns);
	fprintf(f, "net_connections %" PRIu64 "\n", ns.connections);
	fprintf(f, "net_open_connections %" PRId64 "\n", ns.open_connections);
	fprintf(f, "net_fetches %" PRIu64 "\n", ns.fetches);
	fprintf(f, "net_produces %" PRIu64 "\n", ns.produces);
	fprintf(f, "net_bytes_sent %" PRIu64 "\n", ns.bytes_sent);
	fprintf(f, "net_listen %s\n", ns.listen_addr);
	fprintf(f, "net_advertised %s\n", ns.advertised);
	fprintf(f, "net_request_bytes_held %" PRId64 "\n", ns.request_bytes_held);
	fprintf(f, "net_request_bytes_max %" PRId64 "\n", ns.request_bytes_max);
	fprintf(f, "net_memory_waits %" PRId64 "\n", ns.memory_waits);
	fprintf(f, "net_auto_create_refused %" PRIu64 "\n", ns.auto_create_refused);
	fprintf(f, "net_groups %" PRIu64 "\n", ns.groups);
	fprintf(f, "net_group_members %" PRIu64 "\n", ns.group_members);
	fprintf(f, "net_group_rebalances %" PRIu64 "\n", ns.group_rebalances);
	fprintf(f, "net_listeners %s\n", ns.listeners);
	fprintf(f, "tls_mode %s\n", ns.tls_mode);
	fprintf(f, "tls_connections %" PRIu64 "\n", ns.tls_connections);
	fprintf(f, "tls_kernel_connections %" PRIu64 "\n",
	        ns.tls_kernel_connections);
	fprintf(f, "tls_handshake_failures %" PRIu64 "\n",
	        ns.tls_handshake_failures);
}

/* ============================== the server =============================== */

struct metrics {
	struct metrics_sources src;  /* immutable */
	char token[512];                 /* immutable: bearer token, "" = none */
	SSL_CTX *tls;                    /* immutable: HTTPS, NULL = HTTP */
	int listen_fd;                   /* immutable */
	int port;                        /* immutable */
	int stop_pipe[2];                /* [1] written by metrics_stop */
	pthread_t thread;
};

/* One scraper's connection: a socket, with TLS when [metrics] tls. */
struct mconn {
	int fd;
	SSL *ssl;
};

static ssize_t mconn_recv(struct mconn *c, char *buf, size_t len)
{
	if (!c->ssl)
		return recv(c->fd, buf, len, 0);
	size_t n = 0;
	ERR_clear_error();
	return SSL_read_ex(c->ssl, buf, len, &n) == 1 ? (ssize_t)n : -1;
}

static ssize_t mconn_send(struct mconn *c, const char *buf, size_t len)
{
	if (!c->ssl)
		return send(c->fd, buf, len, MSG_NOSIGNAL);
	size_t n = 0;
	ERR_clear_error();
	return SSL_write_ex(c->ssl, buf, len, &n) == 1 ? (ssize_t)n : -1;
}

static void send_all(struct mconn *fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = mconn_send(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;         /* the scraper went away or timed out */
		buf += n;
		len -= (size_t)n;
	}
}

static void answer(struct mconn *fd, const char *status, const char *ctype,
                   const char *body, size_t body_len, bool head_only)
{
	char hdr[320];
	int n = snprintf(hdr, sizeof hdr, "HTTP/1.0 %s\r\nContent-Type: %s\r\n"
	                 "Content-Length: %zu\r\nConnection: close\r\n%s\r\n",
	                 status, ctype, body_len, !strncmp(status, "401", 3) ?
	                 "WWW-Authenticate: Bearer realm=\"topicfs\"\r\n" : "");
	send_all(fd, hdr, (size_t)n);
	if (!head_only)
		send_all(fd, body, body_len);
}

/* The request head carries "Authorization: Bearer <token>" (the header
 * name in any case; compared in constant time). */
static bool token_ok(const struct metrics *m, const char *req)
{
	static const char name[] = "\nauthorization:";
	const char *p = req;
	size_t want = strlen(m->token);

	for (; (p = strchr(p, '\n')) != NULL; p++) {
		if (strncasecmp(p, name, sizeof name - 1))
			continue;
		p += sizeof name - 1;
		while (*p == ' ' || *p == '\t')
			p++;
		if (strncasecmp(p, "bearer ", 7))
			return false;
		p += 7;
		while (*p == ' ')
			p++;
		size_t len = strcspn(p, " \t\r\n");
		unsigned char diff = len != want;
		for (size_t i = 0; i < want; i++)
			diff |= (unsigned char)(i < len ? p[i] : 0) ^
			        (unsigned char)m->token[i];
		return diff == 0;
	}
	return false;
}

static void serve_one(struct metrics *m, struct mconn *fd)
{
	char req[METRICS_REQ_MAX + 1];
	size_t got = 0;
	struct timeval tv = { METRICS_IO_TIMEOUT_MS / 1000,
	                      (METRICS_IO_TIMEOUT_MS % 1000) * 1000 };
	char method[16], path[256];
	bool head;

	setsockopt(fd->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	if (m->tls) {
		fd->ssl = SSL_new(m->tls);
		ERR_clear_error();
		if (!fd->ssl || SSL_set_fd(fd->ssl, fd->fd) != 1 ||
		    SSL_accept(fd->ssl) != 1) {
			char err[256] = "no TLS handshake";
			unsigned long e = ERR_get_error();
			if (e)
				ERR_error_string_n(e, err, sizeof err);
			tfs_log(TFS_LOG_DEBUG, "metrics: TLS handshake failed: %s", err);
			ERR_clear_error();
			return;         /* the caller frees fd->ssl */
		}
	}
	for (;;) {
		ssize_t n = mconn_recv(fd, req + got, METRICS_REQ_MAX - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		got += (size_t)n;
		req[got] = '\0';
		if (strstr(req, "\r\n\r\n") || strstr(req, "\n\n"))
			break;
		if (got == METRICS_REQ_MAX) {
			static const char msg[] = "request header too large\n";
			answer(fd, "431 Request Header Fields Too Large", "text/plain",
			       msg, sizeof msg - 1, false);
			return;
		}
	}
	if (sscanf(req, "%15s %255s", method, path) != 2) {
		static const char msg[] = "bad request\n";
		answer(fd, "400 Bad Request", "text/plain", msg, sizeof msg - 1, false);
		return;
	}
	head = !strcmp(method, "HEAD");
	if (strcmp(method, "GET") && !head) {
		static const char msg[] = "only GET and HEAD\n";
		answer(fd, "405 Method Not Allowed", "text/plain", msg, sizeof msg - 1, false);
		return;
	}
	char *q = strchr(path, '?');
	if (q)
		*q = '\0';
	if (m->token[0] && !token_ok(m, req)) {
		static const char msg[] = "a bearer token is required "
		                          "([metrics] token_file)\n";
		answer(fd, "401 Unauthorized", "text/plain", msg, sizeof msg - 1, head);
		return;
	}
	if (!strcmp(path, "/metrics")) {
		char *text = NULL;
		size_t len = 0;
		int rc = metrics_render(&m->src, &text, &len);
		if (rc) {
			static const char msg[] = "cannot render metrics\n";
			tfs_log(TFS_LOG_WARN, "metrics: render: %s", strerror(-rc));
			answer(fd, "500 Internal Server Error", "text/plain", msg,
			       sizeof msg - 1, head);
			return;
		}
		answer(fd, "200 OK", "text/plain; version=0.0.4; charset=utf-8", text,
		       len, head);
		free(text);
	} else if (!strcmp(path, "/")) {
		static const char msg[] = "topicfs: metrics at /metrics\n";
		answer(fd, "200 OK", "text/plain", msg, sizeof msg - 1, head);
	} else {
		static const char msg[] = "not found: try /metrics\n";
		answer(fd, "404 Not Found", "text/plain", msg, sizeof msg - 1, head);
	}
}

static void *metrics_main(void *arg)
{
	struct metrics *m = arg;

	for (;;) {
		struct pollfd pf[2] = {
			{ .fd = m->listen_fd, .events = POLLIN },
			{ .fd = m->stop_pipe[0], .events = POLLIN },
		};
		if (poll(pf, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			tfs_log(TFS_LOG_ERROR, "metrics: poll: %s", strerror(errno));
			break;
		}
		if (pf[1].revents)
			break;
		if (!(pf[0].revents & POLLIN))
			continue;
		int fd = accept4(m->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE)
				usleep(100 * 1000);
			continue;
		}
		struct mconn c = { .fd = fd };
		serve_one(m, &c);
		SSL_free(c.ssl);
		close(fd);
	}
	return NULL;
}

/* The token of a token file: its first line without blanks around it. */
static int read_token(const char *path, char *out, size_t len)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		int e = errno;
		tfs_log(TFS_LOG_ERROR, "metrics: cannot read token_file %s: %s", path,
		        strerror(e));
		return -e;
	}
	char line[1024] = "";
	if (!fgets(line, sizeof line, f))
		line[0] = '\0';
	fclose(f);
	char *p = line;
	while (*p == ' ' || *p == '\t')
		p++;
	size_t n = strcspn(p, "\r\n");
	while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	const char *blank = strpbrk(p, " \t");
	if (n == 0 || n >= len || (blank && blank - p < (ptrdiff_t)n)) {
		tfs_log(TFS_LOG_ERROR, "metrics: token_file %s: the first line must "
		        "hold the token (1..%zu characters, no blanks)", path, len - 1);
		return -EINVAL;
	}
	memcpy(out, p, n);
	out[n] = '\0';
	return 0;
}

static SSL_CTX *metrics_tls_ctx(const struct metrics_access *acc)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	char err[256] = "out of memory";

	ERR_clear_error();
	if (ctx && SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) == 1 &&
	    SSL_CTX_use_certificate_chain_file(ctx, acc->cert_file) == 1 &&
	    SSL_CTX_use_PrivateKey_file(ctx, acc->key_file, SSL_FILETYPE_PEM) == 1 &&
	    SSL_CTX_check_private_key(ctx) == 1)
		return ctx;
	unsigned long e = ERR_get_error();
	if (e)
		ERR_error_string_n(e, err, sizeof err);
	tfs_log(TFS_LOG_ERROR, "metrics: tls with %s and %s: %s", acc->cert_file,
	        acc->key_file, err);
	SSL_CTX_free(ctx);
	ERR_clear_error();
	return NULL;
}

int metrics_start(const char *listen_addr, const struct metrics_sources *src,
                  const struct metrics_access *acc, struct metrics **out)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
	                          .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *res = NULL;
	struct metrics *m;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	char host[256], port_s[16], bound[256];
	int port, one_ = 1, rc;
	bool wildcard;

	if (tfs_parse_hostport(listen_addr, true, host, sizeof host, &port)) {
		tfs_log(TFS_LOG_ERROR, "metrics: bad listen address %s", listen_addr);
		return -EINVAL;
	}
	m = calloc(1, sizeof *m);
	if (!m)
		return -ENOMEM;
	m->src = *src;
	m->listen_fd = -1;
	m->stop_pipe[0] = m->stop_pipe[1] = -1;
	if (acc && acc->token_file && acc->token_file[0]) {
		rc = read_token(acc->token_file, m->token, sizeof m->token);
		if (rc)
			goto fail;
	}
	if (acc && acc->tls) {
		m->tls = metrics_tls_ctx(acc);
		if (!m->tls) {
			rc = -EINVAL;
			goto fail;
		}
	}
	snprintf(port_s, sizeof port_s, "%d", port);
	rc = getaddrinfo(host, port_s, &hints, &res);
	if (rc) {
		tfs_log(TFS_LOG_ERROR, "metrics: cannot resolve %s: %s", listen_addr,
		        gai_strerror(rc));
		rc = -EINVAL;
		goto fail;
	}
	m->listen_fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (m->listen_fd < 0) {
		rc = -errno;
		goto fail_log;
	}
	setsockopt(m->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one_, sizeof one_);
	if (bind(m->listen_fd, res->ai_addr, res->ai_addrlen) != 0 ||
	    listen(m->listen_fd, 16) != 0 ||
	    getsockname(m->listen_fd, (struct sockaddr *)&ss, &sl) != 0) {
		rc = -errno;
		goto fail_log;
	}
	m->port = ntohs(ss.ss_family == AF_INET6 ?
	                ((struct sockaddr_in6 *)&ss)->sin6_port :
	                ((struct sockaddr_in *)&ss)->sin_port);
	/* the real bound address for the log ([net] allow_wildcard_bind was
	 * checked with the configuration) */
	if (getnameinfo((struct sockaddr *)&ss, sl, bound, sizeof bound, NULL, 0,
	                NI_NUMERICHOST) != 0)
		snprintf(bound, sizeof bound, "%s", host);
	wildcard = ss.ss_family == AF_INET6 ?
		IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)&ss)->sin6_addr) :
		((struct sockaddr_in *)&ss)->sin_addr.s_addr == htonl(INADDR_ANY);
	if (pipe2(m->stop_pipe, O_CLOEXEC) != 0) {
		rc = -errno;
		goto fail_log;
	}
	rc = pthread_create(&m->thread, NULL, metrics_main, m);
	if (rc) {
		rc = -rc;
		goto fail_log;
	}
	freeaddrinfo(res);
	tfs_log(TFS_LOG_INFO, "metrics: serving %s://%s%s%s:%d/metrics%s",
	        m->tls ? "https" : "http",
	        strchr(bound, ':') ? "[" : "", bound, strchr(bound, ':') ? "]" : "",
	        m->port, m->token[0] ? " (bearer token required)" : "");
	if (wildcard)
		tfs_log(TFS_LOG_WARN, "metrics: listening on every interface "
		        "([net] allow_wildcard_bind): the metrics port is reachable "
		        "from other machines%s", m->token[0] ? "" :
		        " without authentication");
	*out = m;
	return 0;

fail_log:
	tfs_log(TFS_LOG_ERROR, "metrics: cannot listen on %s: %s", listen_addr,
	        strerror(-rc));
fail:
	if (res)
		freeaddrinfo(res);
	if (m->listen_fd >= 0)
		close(m->listen_fd);
	if (m->stop_pipe[0] >= 0) {
		close(m->stop_pipe[0]);
		close(m->stop_pipe[1]);
	}
	SSL_CTX_free(m->tls);
	free(m);
	return rc;
}

int metrics_port(const struct metrics *m)
{
	return m->port;
}

void metrics_stop(struct metrics *m)
{
	char c = 1;

	if (!m)
		return;
	if (write(m->stop_pipe[1], &c, 1) != 1) {
		/* a pipe with room for one byte: cannot fail here */
	}
	pthread_join(m->thread, NULL);
	close(m->listen_fd);
	close(m->stop_pipe[0]);
	close(m->stop_pipe[1]);
	SSL_CTX_free(m->tls);
	free(m);
}
