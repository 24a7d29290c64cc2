/*
 * metrics.h - the daemon's Prometheus endpoint (metrics.c).  Internal to
 * the daemon: main.c starts it when [metrics] listen is set.
 *
 * The endpoint reads three sources, none of which knows of it: storage's
 * process-wide counters and per-partition state (storage.h), the file
 * view's counters (fs.h) and the TCP server's counters (net.h).  fs/ and
 * net/ never include each other; the daemon, which links both, hands both
 * to the endpoint.
 *
 * Thread safety: metrics_render is thread-safe (it reads only
 * thread-safe APIs and atomics).  start/stop are called by the owner.
 */
#ifndef TOPICFS_METRICS_H
#define TOPICFS_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "fs.h"
#include "net.h"

struct metrics_sources {
	struct store *st;               /* required */
	struct fsv_counters *ctr;       /* may be NULL */
	struct srv *srv;                /* may be NULL ([net] enabled = false) */
	int64_t start_ms;               /* wall clock at start */
	struct mirrors *mirrors;        /* may be NULL (mirror.h) */
};

/* Render the Prometheus text exposition (version 0.0.4) into *out (the
 * caller frees it).  0 or -errno. */
int metrics_render(const struct metrics_sources *src, char **out,
                       size_t *out_len);

/* Net counters as "key value" lines for the .status file. */
void metrics_status_net(FILE *f, struct srv *srv);

struct metrics;

/* Who may scrape ([metrics] token_file, tls); NULL = anyone, over HTTP. */
struct metrics_access {
	const char *token_file;         /* "" or NULL = no token */
	bool tls;                       /* HTTPS with cert_file and key_file */
	const char *cert_file, *key_file;
};

/* Listen on listen ("host:port"; port 0 picks one) and serve GET /metrics
 * from a thread of its own.  src is copied, acc read at once (may be
 * NULL).  0 or -errno (logged). */
int metrics_start(const char *listen, const struct metrics_sources *src,
                  const struct metrics_access *acc, struct metrics **out);
/* The bound port. */
int metrics_port(const struct metrics *m);
/* Stop the thread, close the socket, free.  NULL is a no-op. */
void metrics_stop(struct metrics *m);

#endif /* TOPICFS_METRICS_H */
