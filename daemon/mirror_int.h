/*
 * mirror_int.h - what mirror.c (common part: clients, errors, status,
 * checkpoint file), mirror_push.c and mirror_pull.c share.  Not for use
 * outside these three files.
 */
#ifndef TOPICFS_MIRROR_INT_H
#define TOPICFS_MIRROR_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "mirror.h"

#define MIRROR_ADMIN_TIMEOUT_MS 3000    /* metadata, CreateTopics */
#define MIRROR_RETRY_MS 2000            /* a refused step is tried again */
#define MIRROR_SCAN_MS 1000             /* local topics matched again */
#define MIRROR_LAG_MS 250               /* lag snapshot republished */
#define MIRROR_LOG_EVERY_MS 10000       /* one warning per mirror at most */

/* One row of the lag snapshot. */
struct mirror_lag {
	char topic[250];                /* local name */
	int32_t partition;
	int64_t mirrored;               /* push: local offset delivered and
	                                   checkpointed up to; pull: next remote
	                                   offset appended locally */
	int64_t end;                    /* push: local next_offset; pull: the
	                                   remote high watermark (-1 unknown) */
};

struct mirror {
	struct tfs_mirror_config cfg;   /* immutable (a copy) */
	const struct tfs_config *dcfg;  /* immutable: the daemon's config */
	struct store *st;               /* immutable */
	int ckpt_dfd;                   /* immutable: <data_dir>/.mirror */
	rd_kafka_conf_t *conf;          /* built by start, consumed by the
	                                   thread's rd_kafka_new */
	char **globs;                   /* immutable: topics, split */
	size_t nglobs;
	pthread_t thread;
	bool started;
	atomic_bool stop;

	pthread_mutex_t mu;             /* guards the fields below */
	const char *state;              /* "starting", "ok", "error", "stopped" */
	char last_error[512];           /* mu */
	int64_t last_error_ms;          /* mu: wall clock, 0 = never */
	int64_t last_log_ms;            /* mu: last warning logged */
	uint64_t suppressed;            /* mu: warnings not logged since */
	int64_t last_auth_log_ms;       /* mu: last authentication error logged */
	struct mirror_lag *lag;         /* mu: the thread's last snapshot */
	size_t nlag;                    /* mu */

	atomic_uint_fast64_t records;   /* atomic (relaxed): statistics */
	atomic_uint_fast64_t errors;    /* atomic (relaxed): statistics */
	atomic_uint_fast64_t skipped;   /* atomic (relaxed): statistics */
};

/* An error: counted, kept for .status, logged at warn level at most once
 * per MIRROR_LOG_EVERY_MS per mirror (with the count of the ones not
 * logged).  librdkafka's authentication and TLS errors have a window of
 * their own (rk_error_cb), so the consequences they cause (metadata
 * failures, "Broker transport failure") cannot keep the cause out of the
 * log. */
void mirror_error(struct mirror *m, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Something worked: the state is "ok" again (logged once after errors). */
void mirror_ok(struct mirror *m);
/* Replace the lag snapshot (takes ownership of rows). */
void mirror_publish_lag(struct mirror *m, struct mirror_lag *rows, size_t n);
/* Does a local topic name match the mirror's topics? */
bool mirror_matches(const struct mirror *m, const char *local_name);
/* Sleep up to ms, returning early (true) when the mirror is told to stop. */
bool mirror_sleep(struct mirror *m, int ms);

/* The checkpoint file <data_dir>/.mirror/<NAME>.checkpoint: written
 * atomically (temp, fsync, rename, fsync of the directory).  0 or -errno
 * (logged through mirror_error). */
int mirror_ckpt_write(struct mirror *m, const char *text, size_t len);
/* Read it: a malloc'd NUL-terminated text, or *out = NULL when there is
 * none.  0 or -errno. */
int mirror_ckpt_read(struct mirror *m, char **out);

/* The threads. */
void *mirror_push_main(void *arg);
void *mirror_pull_main(void *arg);

#endif /* TOPICFS_MIRROR_INT_H */
