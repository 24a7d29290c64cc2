/*
 * config.h - the daemon's configuration (config.c): every setting of the
 * daemon, filled from one declarative table by tfs_config_init (embedded
 * defaults), tfs_config_load (an INI file), tfs_config_set (a --set
 * override) and tfs_config_finish (cross-field checks; run once, last).
 * Errors are returned as -EINVAL with a message in the caller's buffer
 * naming the file, the line and the key; nothing is printed.
 *
 * Used by the daemon (main.c) and by topicfs-admin, which reads the same
 * INI for the data dir and the topic defaults.  Depends on storage/ only
 * (struct topic_config); knows nothing of FUSE or sockets.
 *
 * Thread safety: a struct tfs_config is plain data, not thread-safe while
 * it is being built, read-only afterwards.
 */
#ifndef TOPICFS_CONFIG_H
#define TOPICFS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "storage.h"

/* ============================== configuration ============================ */

#define TFS_PATH_MAX 1024
#define TFS_ADDR_MAX 300

/* Overrides from one [topic.NAME] section (or --set topic.NAME.KEY=...). */
struct tfs_topic_override {
	char name[250];                 /* a valid topic name */
	int line;                       /* line of its first section header, 0
	                                   when it came from --set only */
	uint64_t set_mask;              /* bit i: row i of topic_settings.h
	                                   was given */
	struct topic_config values;     /* only the fields in set_mask count */
};

/* One [mirror.NAME] section (or --set mirror.NAME.KEY=...): a link to a
 * Kafka cluster, run by daemon/mirror.c.  Every value is kept as text,
 * checked by tfs_config_finish; "" = not given. */
enum tfs_mirror_direction {
	TFS_MIRROR_UNSET = 0,
	TFS_MIRROR_PUSH,                /* local topics -> the cluster */
	TFS_MIRROR_PULL,                /* the cluster -> local topics */
};

#define TFS_MIRROR_NAME_MAX 64
#define TFS_MIRROR_STR_MAX 1024

struct tfs_mirror_config {
	char name[TFS_MIRROR_NAME_MAX]; /* [A-Za-z0-9._-], 1..63 */
	int line;                       /* line of its first section header, 0
	                                   when it came from --set only */
	enum tfs_mirror_direction direction;
	char bootstrap_servers[TFS_MIRROR_STR_MAX];
	char topics[TFS_MIRROR_STR_MAX];        /* names and globs, comma list */
	char remote_prefix[128];
	char acks[8];                           /* all | -1 | 0 | 1 */
	char group_id[256];                     /* pull; default
	                                           topicfs-mirror-NAME */
	char security_protocol[32];
	char sasl_mechanism[32];
	char sasl_username[256];
	char sasl_password[256];
	char sasl_password_file[TFS_PATH_MAX];
	char ssl_ca_location[TFS_PATH_MAX];
	char ssl_certificate_location[TFS_PATH_MAX];
	char ssl_key_location[TFS_PATH_MAX];
	char ssl_key_password[256];
};

/* A listener of [net] listeners / advertised_listeners, as Kafka spells
 * it: NAME://host:port, where NAME is the security protocol (one listener
 * per protocol, as Kafka's default listener.security.protocol.map). */
enum tfs_sec_proto {
	TFS_SEC_PLAINTEXT = 0,
	TFS_SEC_SSL,
	TFS_SEC_SASL_PLAINTEXT,
	TFS_SEC_SASL_SSL,
};

#define TFS_MAX_LISTENERS 8
#define TFS_LISTENERS_MAX 1024          /* the text of the key */

struct tfs_listener {
	enum tfs_sec_proto proto;
	char host[256];                 /* as written, brackets removed */
	int port;                       /* 0 = pick a free port */
};

/* [tls] client_auth */
enum tfs_client_auth {
	TFS_CLIENT_AUTH_NONE = 0,
	TFS_CLIENT_AUTH_REQUESTED,
	TFS_CLIENT_AUTH_REQUIRED,
};

struct tfs_config {
	/* [storage] */
	char data_dir[TFS_PATH_MAX];            /* absolute after finish */
	int64_t max_decompressed_bytes;
	int64_t message_timestamp_after_max_ms; /* Produce: newest MaxTimestamp
	                                           ahead of the clock, -1 = any */
	int64_t max_open_segments;              /* sealed segments' fds kept
	                                           open, 0 = auto (store.h) */
	struct topic_config topic_defaults;     /* per-topic keys of [storage]
	                                           and [fs] */
	/* [fs] */
	char mountpoint[TFS_PATH_MAX];          /* absolute after finish */
	bool allow_other;
	bool allow_delete;
	int64_t max_held_bytes;                 /* bound on held partial lines */
	/* [net] */
	bool net_enabled;
	char listen[TFS_ADDR_MAX];              /* host:port */
	char advertised_host[TFS_ADDR_MAX];     /* host or host:port, "" = none */
	int32_t max_connections;
	int64_t max_request_bytes;
	int64_t idle_timeout_ms;
	int64_t request_timeout_ms;
	bool auto_create_topics;
	int64_t queued_max_request_bytes;       /* all connections' requests */
	int32_t auto_create_max_per_request;
	int32_t auto_create_max_topics;
	bool allow_wildcard_bind;               /* [net] and [metrics] listen */
	char listeners[TFS_LISTENERS_MAX];      /* "" = one PLAINTEXT at listen */
	char advertised_listeners[TFS_LISTENERS_MAX];
	bool allow_anonymous;                   /* non-loopback listeners (and
	                                           metrics) without authentication */
	/* the parsed listeners (tfs_config_finish): [net] listeners, or the one
	 * PLAINTEXT listener at [net] listen when it is empty */
	struct tfs_listener lst[TFS_MAX_LISTENERS];
	size_t nlst;
	struct tfs_listener adv[TFS_MAX_LISTENERS];     /* adv[i] for lst[i];
	                                           host "" = not given */
	/* [tls] */
	char tls_cert_file[TFS_PATH_MAX];       /* "" = none */
	char tls_key_file[TFS_PATH_MAX];
	char tls_ca_file[TFS_PATH_MAX];
	int32_t tls_client_auth;                /* enum tfs_client_auth */
	/* [groups] */
	int64_t offsets_retention_ms;           /* -1 = never */
	int32_t max_groups;
	int32_t group_max_members;
	int64_t group_initial_rebalance_delay_ms;
	int64_t group_min_session_timeout_ms;
	int64_t group_max_session_timeout_ms;
	/* [sasl] (net/srv_sasl.c) */
	char sasl_mechanisms[128];              /* "SCRAM-SHA-512, ..." */
	char sasl_users_file[TFS_PATH_MAX];     /* absolute after finish (default
	                                           DATA_DIR/sasl-users) */
	char sasl_super_users[1024];            /* "User:a, User:b" */
	int64_t sasl_failed_delay_ms;
	/* [log] */
	int32_t log_level;                      /* enum tfs_log_level */
	/* [metrics] */
	char metrics_listen[TFS_ADDR_MAX];      /* host:port, "" = off */
	char metrics_token_file[TFS_PATH_MAX];  /* bearer token, "" = none */
	bool metrics_tls;                       /* HTTPS with [tls] cert/key */
	/* [topic.NAME] */
	struct tfs_topic_override *topics;      /* owned, ntopics entries */
	size_t ntopics;
	/* [mirror.NAME] (daemon/mirror.c) */
	struct tfs_mirror_config *mirrors;      /* owned, nmirrors entries */
	size_t nmirrors;
	/* where the file came from, for messages */
	char source[TFS_PATH_MAX];
	/* line of each key of the table in the file (index: the table row),
	 * 0 = not from the file; for the messages of tfs_config_finish */
	int key_lines[128];
};

/* Fill *cfg with the embedded defaults (every key of the table). */
void tfs_config_init(struct tfs_config *cfg);

/* Parse an INI file over *cfg.  0, or -EINVAL (or -errno when the file
 * cannot be read) with err holding "FILE:LINE: [SECTION] KEY: why". */
int tfs_config_load(struct tfs_config *cfg, const char *path,
                    char *err, size_t errlen);

/* Apply one "SECTION.KEY=VALUE" (SECTION may be topic.NAME).  0 or -EINVAL
 * with a message in err. */
int tfs_config_set(struct tfs_config *cfg, const char *assignment,
                   char *err, size_t errlen);

/* Cross-field checks and path resolution; call once after every load and
 * set.  0 or -EINVAL with a message in err. */
int tfs_config_finish(struct tfs_config *cfg, char *err, size_t errlen);

/* The effective settings of a topic: the defaults, then its section's keys.
 * Returns true when the config has a [topic.NAME] section for it. */
bool tfs_config_topic(const struct tfs_config *cfg, const char *name,
                      struct topic_config *out);

/* Split "host:port" ("[v6]:port" too) into host and port.  With
 * need_port false a bare host is accepted and *port is -1.  0 or -EINVAL. */
int tfs_parse_hostport(const char *s, bool need_port, char *host,
                       size_t hostlen, int *port);

/* Parse a listener list, "NAME://host:port, ..." (NAME: PLAINTEXT, SSL,
 * SASL_PLAINTEXT, SASL_SSL; "[v6]" hosts; at most TFS_MAX_LISTENERS, each
 * NAME once).  "" is an empty list.  0 or -EINVAL with why set. */
int tfs_parse_listeners(const char *text, struct tfs_listener *out,
                        size_t max, size_t *n, char *why, size_t whylen);
/* "PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL". */
const char *tfs_sec_proto_name(enum tfs_sec_proto p);
/* host is loopback: "localhost", 127.0.0.0/8, ::1 or ::ffff:127.x (numeric
 * only; other names are not resolved and count as not loopback). */
bool tfs_host_is_loopback(const char *host);

/* Print every key with its section, default and bounds (for --help). */
void tfs_config_print_keys(FILE *out);

/* Release what the config owns (the topic overrides). */
void tfs_config_free(struct tfs_config *cfg);

#endif /* TOPICFS_CONFIG_H */
