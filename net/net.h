/*
 * net.h - the topicfs TCP server: the Kafka wire-protocol subset of
 * docs/PROTOCOL.md over one storage instance.  One public header.
 *
 * The server runs one epoll thread inside the daemon's process.  It adds an
 * append hook to the store (store_add_append_hook) to wake parked long-poll
 * Fetch requests.
 */
#ifndef TOPICFS_NET_H
#define TOPICFS_NET_H

#include <stdint.h>
#include "storage.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The security protocol of a listener (Kafka's names). */
enum srv_sec_proto {
	SRV_SEC_PLAINTEXT = 0,
	SRV_SEC_SSL,
	SRV_SEC_SASL_PLAINTEXT,
	SRV_SEC_SASL_SSL,
};

/* "PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL". */
const char *srv_sec_proto_name(enum srv_sec_proto p);

#define SRV_MAX_LISTENERS 8

struct srv_listener_config {
	enum srv_sec_proto sec;
	char host[256];             /* address to bind */
	int port;                   /* 0 = pick a free port */
	char advertised_host[256];  /* "" = host, or the machine's host name
	                               when bound to a wildcard */
	int advertised_port;        /* 0 = the bound port */
};

enum srv_client_auth {
	SRV_CLIENT_AUTH_NONE = 0,   /* no certificate asked */
	SRV_CLIENT_AUTH_REQUESTED,  /* asked; verified when sent */
	SRV_CLIENT_AUTH_REQUIRED,   /* a verified certificate or no handshake */
};

/* TLS of SSL and SASL_SSL listeners (net/srv_tls.c, OpenSSL 3, TLS 1.2+). */
struct srv_tls_config {
	char cert_file[1024];       /* PEM chain, the server's first */
	char key_file[1024];        /* PEM private key */
	char ca_file[1024];         /* PEM CAs for client certificates, "" */
	enum srv_client_auth client_auth;
};

struct srv_config {
	/* listeners: with nlisteners 0, one PLAINTEXT listener at
	 * listen_host:listen_port advertised as advertised_host:port (the
	 * default); otherwise listeners[0..nlisteners-1], and the four
	 * listen/advertised fields are ignored */
	struct srv_listener_config listeners[SRV_MAX_LISTENERS];
	int nlisteners;
	struct srv_tls_config tls;  /* needed by SSL and SASL_SSL listeners */
	char listen_host[256];      /* default "127.0.0.1" */
	int listen_port;            /* default 9092; 0 = pick a free port */
	char advertised_host[256];  /* "" = listen_host, or the machine's
	                               host name when bound to a wildcard */
	int advertised_port;        /* 0 = the bound port */
	int max_connections;        /* default 1024 */
	int64_t max_request_bytes;  /* default 100 MiB; checked before allocating */
	int64_t queued_max_request_bytes; /* default 512 MiB: request bytes held
	                               by all connections together (Kafka's
	                               queued.max.request.bytes); a request's
	                               announced size is reserved from it before
	                               the buffer is allocated, and connections
	                               that cannot reserve stop being read until
	                               memory is released.  >= max_request_bytes */
	int idle_timeout_ms;        /* default 600000: close idle connections */
	int request_timeout_ms;     /* default 30000: a request must arrive whole
	                               within this once its first byte came */
	bool auto_create_topics;    /* Metadata/Produce create unknown topics */
	int auto_create_max_per_request; /* default 10: topics one request may
	                               auto-create; the rest get
	                               UNKNOWN_TOPIC_OR_PARTITION (retriable) */
	int auto_create_max_topics; /* default 1000: no auto-create once the
	                               store holds this many topics */
	bool allow_wildcard_bind;   /* default false: refuse a listen address
	                               that resolves to 0.0.0.0 or :: */
	int64_t message_timestamp_after_max_ms; /* default 3600000: Produce
	                               refuses batches whose MaxTimestamp is
	                               further in the future (INVALID_TIMESTAMP);
	                               -1 = unbounded */
	bool allow_delete;          /* default false: [fs] allow_delete; DeleteTopics
	                               answers TOPIC_DELETION_DISABLED without it */
	struct topic_config topic_defaults; /* used when auto-creating */
	/* consumer groups ([groups]; net/srv_group.c) */
	int group_max_members;      /* default 1000 (group.max.size) */
	int group_initial_rebalance_delay_ms; /* default 3000 */
	int group_min_session_timeout_ms;     /* default 6000 */
	int group_max_session_timeout_ms;     /* default 1800000 */
	/* SASL ([sasl]; net/srv_sasl.c) */
	char sasl_mechanisms[128];  /* enabled, in the order SaslHandshake
	                               lists them; default "SCRAM-SHA-512,
	                               SCRAM-SHA-256, PLAIN" */
	char sasl_users_file[1024]; /* salted SCRAM verifiers (topicfs-admin
	                               user add); "" = none */
	char sasl_super_users[1024]; /* "User:admin, User:ops": all rights */
	int sasl_failed_delay_ms;   /* default 1000: a failed login is answered
	                               (bare: closed) this much later */
	bool sasl_listener;         /* a listener speaks SASL_PLAINTEXT or
	                               SASL_SSL: the users file must exist */
};

void srv_config_defaults(struct srv_config *cfg);

struct srv;

/* Bind, listen, start the server thread.  -errno on failure (bind errors
 * are logged with the address).  The caller owns *out. */
int srv_start(struct store *st, const struct srv_config *cfg, struct srv **out);

/* The port actually bound (useful with listen_port 0): the first
 * listener's. */
int srv_port(const struct srv *s);

/* Ask the server thread to reload what it reads from files: the TLS
 * certificate, key and CA (a failure keeps the old ones, logged), the SASL
 * users file.
 * Async-signal-safe (an atomic and a write to an eventfd): for SIGHUP. */
void srv_reload(struct srv *s);

/* Stop the thread, close every connection, free.  Safe before store_close. */
void srv_stop(struct srv *s);

/* Counters since srv_start (for the metrics endpoint).  Thread-safe: a
 * relaxed snapshot, each field monotonic but open_connections. */
struct srv_stats {
	uint64_t connections;       /* accepted */
	int64_t open_connections;   /* open now */
	uint64_t fetches;           /* Fetch requests */
	uint64_t produces;          /* Produce requests */
	uint64_t other_requests;    /* Metadata, ApiVersions, ListOffsets, ... */
	uint64_t bytes_sent;        /* response bytes, sendfile included */
	int64_t request_bytes_held; /* request buffers held now (a gauge,
	                               bounded by queued_max_request_bytes) */
	int64_t request_bytes_max;  /* queued_max_request_bytes */
	int64_t memory_waits;       /* connections waiting for request memory
	                               now (a gauge) */
	uint64_t auto_create_refused; /* auto-creates refused by the caps */
	uint64_t groups;            /* consumer groups with members now (gauge) */
	uint64_t group_members;     /* their members now (gauge) */
	uint64_t group_rebalances;  /* rebalances completed since start */
	char listen_addr[80];       /* the bound address, "127.0.0.1:9092" or
	                               "[::]:9092" (fixed after srv_start) */
	char advertised[300];       /* host:port given to clients in Metadata */
	char listeners[600];        /* "PLAINTEXT://127.0.0.1:9092 SSL://..." as
	                               bound (fixed after srv_start) */
	const char *tls_mode;       /* what new TLS connections use to send
	                               file slices: "kernel" (kTLS, sendfile),
	                               "user" (read, encrypt, write), "off" (no
	                               TLS listener) */
	uint64_t tls_connections;   /* TLS connections open now (gauge) */
	uint64_t tls_kernel_connections; /* those sending with kernel TLS */
	uint64_t tls_handshake_failures; /* since start */
};
void srv_stats_get(const struct srv *s, struct srv_stats *out);

#ifdef __cplusplus
}
#endif
#endif /* TOPICFS_NET_H */
