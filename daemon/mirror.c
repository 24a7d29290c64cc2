/*
 * mirror.c - mirrors between topicfs and a Kafka cluster: the common part
 * (start and stop, librdkafka settings, errors, .status, metrics, the
 * checkpoint file).  The push side is mirror_push.c, the pull side
 * mirror_pull.c.  User-facing contract: README, "Beyond one machine".
 *
 * Design
 * ------
 * Each [mirror.NAME] section is one thread with one librdkafka client
 * (a producer for push, a consumer in group group_id for pull).  The
 * thread is the only user of its client and of its mirror state; it calls
 * storage's public API only (store_topic_list/get, part_info,
 * part_fetch_slice, batch_decode, part_append, store_topic_create,
 * topic_add_partitions, topic_set_mirror_target) and holds no lock of its
 * own while doing so, so the storage lock order (DESIGN.md section 4) is
 * untouched.  librdkafka's callbacks (delivery reports, errors) are served
 * by rd_kafka_poll / rd_kafka_consumer_poll on the mirror's thread; its log
 * callback may come from librdkafka's threads and only calls tfs_log.
 * No append hook: a push mirror polls its partitions every 50 ms (the
 * store has 4 hook slots and two are taken).
 *
 * What others read: m->mu guards the state string, the last error and the
 * lag snapshot (an array the thread replaces every MIRROR_LAG_MS); the
 * counters are relaxed atomics.  .status (a FUSE worker) and /metrics (the
 * metrics thread) copy them under m->mu and never call librdkafka.
 *
 * Failures never stop the daemon: every error (connection refused,
 * authentication, a refused CreateTopics, a record the cluster refuses)
 * is counted, kept as the last error with its time, and logged at warn
 * level at most once per 10 s per mirror; the step is retried.  Start-up
 * refuses only what no retry can fix (a setting librdkafka rejects, an
 * unreadable password file, the checkpoint directory).
 *
 * The checkpoint (push): <data_dir>/.mirror/<NAME>.checkpoint, text:
 *
 *     topicfs-mirror-checkpoint 1
 *     <local topic> <partition> <next offset to send>
 *     ...
 *
 * written like storage's metadata (CONVENTIONS 7): "<NAME>.checkpoint.tmp"
 * created O_NOFOLLOW in the directory opened once O_DIRECTORY|O_NOFOLLOW,
 * fsync, renameat over the old one, fsync of the directory.  A torn or
 * unparsable file is logged and ignored (every partition then starts from
 * its log start: more duplicates, never a loss).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "mirror_int.h"

#define MIRROR_CKPT_DIR ".mirror"
#define MIRROR_CKPT_MAX (16 << 20)

struct mirrors {
	struct mirror *m;               /* immutable after start */
	size_t n;
};

/* ============================== errors =================================== */

/* An error for .status and the counters; logged (rate-limited) unless
 * logged_already. */
static void mirror_record(struct mirror *m, const char *msg, bool logged_already)
{
	int64_t now = tfs_now_ms();
	uint64_t suppressed = 0;
	bool log = false;

	atomic_fetch_add_explicit(&m->errors, 1, memory_order_relaxed);
	pthread_mutex_lock(&m->mu);
	m->state = "error";
	snprintf(m->last_error, sizeof m->last_error, "%s", msg);
	m->last_error_ms = now;
	if (logged_already) {
		/* counted in errors and .status; the caller logged it */
	} else if (now - m->last_log_ms >= MIRROR_LOG_EVERY_MS) {
		log = true;
		suppressed = m->suppressed;
		m->suppressed = 0;
		m->last_log_ms = now;
	} else {
		m->suppressed++;
	}
	pthread_mutex_unlock(&m->mu);
	if (log && suppressed)
		tfs_log(TFS_LOG_WARN, "mirror %s: %s (and %" PRIu64 " more errors "
		        "since the last line)", m->cfg.name, msg, suppressed);
	else if (log)
		tfs_log(TFS_LOG_WARN, "mirror %s: %s", m->cfg.name, msg);
}

void mirror_error(struct mirror *m, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	mirror_record(m, msg, false);
}

void mirror_ok(struct mirror *m)
{
	bool recovered = false;

	pthread_mutex_lock(&m->mu);
	if (strcmp(m->state, "ok")) {
		recovered = !strcmp(m->state, "error");
		m->state = "ok";
	}
	pthread_mutex_unlock(&m->mu);
	if (recovered)
		tfs_log(TFS_LOG_INFO, "mirror %s: working again", m->cfg.name);
}

void mirror_publish_lag(struct mirror *m, struct mirror_lag *rows, size_t n)
{
	struct mirror_lag *old;

	pthread_mutex_lock(&m->mu);
	old = m->lag;
	m->lag = rows;
	m->nlag = n;
	pthread_mutex_unlock(&m->mu);
	free(old);
}

bool mirror_matches(const struct mirror *m, const char *name)
{
	for (size_t i = 0; i < m->nglobs; i++)
		if (fnmatch(m->globs[i], name, 0) == 0)
			return true;
	return false;
}

bool mirror_sleep(struct mirror *m, int ms)
{
	while (ms > 0 && !atomic_load(&m->stop)) {
		int step = ms < 50 ? ms : 50;
		struct timespec ts = { 0, (long)step * 1000000L };
		nanosleep(&ts, NULL);
		ms -= step;
	}
	return atomic_load(&m->stop);
}

/* librdkafka's own log lines: debug level (errors reach us through the
 * error callback and the delivery reports, rate-limited). */
static void rk_log_cb(const rd_kafka_t *rk, int level, const char *fac,
                      const char *buf)
{
	struct mirror *m = rd_kafka_opaque(rk);
	tfs_log(TFS_LOG_DEBUG, "mirror %s: librdkafka %s: %s",
	        m ? m->cfg.name : "?", fac, buf);
}

static void rk_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	struct mirror *m = opaque;
	int64_t now = tfs_now_ms();
	bool log = false;

	(void)rk;
	/* A wrong password or certificate is the cause of the transport and
	 * metadata errors that follow it: logged in a window of its own. */
	if (err == RD_KAFKA_RESP_ERR__AUTHENTICATION || err == RD_KAFKA_RESP_ERR__SSL) {
		pthread_mutex_lock(&m->mu);
		if (now - m->last_auth_log_ms >= MIRROR_LOG_EVERY_MS) {
			m->last_auth_log_ms = now;
			log = true;
		}
		pthread_mutex_unlock(&m->mu);
	}
	char msg[512];
	snprintf(msg, sizeof msg, "%s: %s", rd_kafka_err2name(err), reason);
	if (log)
		tfs_log(TFS_LOG_ERROR, "mirror %s: %s (check the mirror's "
		        "security_protocol, sasl_* and ssl_* settings)", m->cfg.name, msg);
	mirror_record(m, msg, log);
}

/* ============================== checkpoint ================================ */

int mirror_ckpt_write(struct mirror *m, const char *text, size_t len)
{
	char tmp[TFS_MIRROR_NAME_MAX + 32], name[TFS_MIRROR_NAME_MAX + 32];
	int fd, rc = 0;
	size_t off = 0;

	snprintf(name, sizeof name, "%s.checkpoint", m->cfg.name);
	snprintf(tmp, sizeof tmp, "%s.checkpoint.tmp", m->cfg.name);
	fd = openat(m->ckpt_dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
	            O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = -errno;
		mirror_error(m, "checkpoint: open %s/%s: %s", MIRROR_CKPT_DIR, tmp,
		             strerror(-rc));
		return rc;
	}
	while (off < len) {
		ssize_t n = write(fd, text + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno : -EIO;
			goto fail;
		}
		off += (size_t)n;
	}
	if (fsync(fd) != 0) {
		rc = -errno;
		goto fail;
	}
	close(fd);
	fd = -1;
	if (renameat(m->ckpt_dfd, tmp, m->ckpt_dfd, name) != 0 ||
	    fsync(m->ckpt_dfd) != 0) {
		rc = -errno;
		goto fail;
	}
	return 0;
fail:
	mirror_error(m, "checkpoint: write %s/%s: %s", MIRROR_CKPT_DIR, name,
	             strerror(-rc));
	if (fd >= 0)
		close(fd);
	unlinkat(m->ckpt_dfd, tmp, 0);
	return rc;
}

int mirror_ckpt_read(struct mirror *m, char **out)
{
	char name[TFS_MIRROR_NAME_MAX + 32];
	struct stat sb;
	char *buf;
	size_t got = 0;
	int fd, rc;

	*out = NULL;
	snprintf(name, sizeof name, "%s.checkpoint", m->cfg.name);
	fd = openat(m->ckpt_dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) ||
	    sb.st_size > MIRROR_CKPT_MAX) {
		close(fd);
		return -EINVAL;
	}
	buf = malloc((size_t)sb.st_size + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	while (got < (size_t)sb.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)sb.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	rc = got == (size_t)sb.st_size ? 0 : -EIO;
	close(fd);
	if (rc) {
		free(buf);
		return rc;
	}
	buf[got] = '\0';
	*out = buf;
	return 0;
}

/* ============================== settings ================================= */

/* Read the first line of a password file into out. */
static int read_password_file(const char *path, char *out, size_t len)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	if (!fgets(out, (int)len, f))
		out[0] = '\0';
	fclose(f);
	out[strcspn(out, "\r\n")] = '\0';
	return 0;
}

static int conf_set(struct mirror *m, rd_kafka_conf_t *conf, const char *key,
                    const char *value)
{
	char err[512];

	if (!value || !value[0])
		return 0;
	if (rd_kafka_conf_set(conf, key, value, err, sizeof err) != RD_KAFKA_CONF_OK) {
		tfs_log(TFS_LOG_ERROR, "mirror %s: librdkafka refuses %s: %s",
		        m->cfg.name, key, err);
		return -EINVAL;
	}
	return 0;
}

/* The client settings: the cluster, security, and the side's own. */
static int build_conf(struct mirror *m)
{
	const struct tfs_mirror_config *c = &m->cfg;
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char client_id[TFS_MIRROR_NAME_MAX + 32], password[256];
	int rc = 0;

	if (!conf)
		return -ENOMEM;
	snprintf(client_id, sizeof client_id, "topicfs-mirror-%s", c->name);
	snprintf(password, sizeof password, "%s", c->sasl_password);
	if (c->sasl_password_file[0]) {
		rc = read_password_file(c->sasl_password_file, password, sizeof password);
		if (rc) {
			tfs_log(TFS_LOG_ERROR, "mirror %s: sasl_password_file %s: %s",
			        c->name, c->sasl_password_file, strerror(-rc));
			goto fail;
		}
	}
	rc = conf_set(m, conf, "bootstrap.servers", c->bootstrap_servers);
	rc = rc ? rc : conf_set(m, conf, "client.id", client_id);
	rc = rc ? rc : conf_set(m, conf, "security.protocol", c->security_protocol);
	rc = rc ? rc : conf_set(m, conf, "sasl.mechanisms", c->sasl_mechanism);
	rc = rc ? rc : conf_set(m, conf, "sasl.username", c->sasl_username);
	rc = rc ? rc : conf_set(m, conf, "sasl.password", password);
	rc = rc ? rc : conf_set(m, conf, "ssl.ca.location", c->ssl_ca_location);
	rc = rc ? rc : conf_set(m, conf, "ssl.certificate.location",
	                        c->ssl_certificate_location);
	rc = rc ? rc : conf_set(m, conf, "ssl.key.location", c->ssl_key_location);
	rc = rc ? rc : conf_set(m, conf, "ssl.key.password", c->ssl_key_password);
	/* reconnect quickly once the cluster is back */
	rc = rc ? rc : conf_set(m, conf, "reconnect.backoff.max.ms", "1000");
	rc = rc ? rc : conf_set(m, conf, "log.connection.close", "false");
	if (c->direction == TFS_MIRROR_PUSH) {
		bool all = !strcmp(c->acks, "all") || !strcmp(c->acks, "-1");
		/* librdkafka's idempotence needs acks=all; with acks 0 or 1 the
		 * producer is a plain one (README) */
		rc = rc ? rc : conf_set(m, conf, "enable.idempotence", all ? "true" : "false");
		rc = rc ? rc : conf_set(m, conf, "acks", c->acks);
		/* 0 = no delivery timeout: transient errors are retried for
		 * as long as it takes, so a message fails only when the
		 * cluster refuses it for good */
		rc = rc ? rc : conf_set(m, conf, "message.timeout.ms", "0");
		rc = rc ? rc : conf_set(m, conf, "linger.ms", "5");
		rc = rc ? rc : conf_set(m, conf, "allow.auto.create.topics", "false");
	} else {
		rc = rc ? rc : conf_set(m, conf, "group.id", c->group_id);
		rc = rc ? rc : conf_set(m, conf, "enable.auto.commit", "false");
		rc = rc ? rc : conf_set(m, conf, "auto.offset.reset", "earliest");
		rc = rc ? rc : conf_set(m, conf, "fetch.wait.max.ms", "100");
		rc = rc ? rc : conf_set(m, conf, "session.timeout.ms", "10000");
		rc = rc ? rc : conf_set(m, conf, "topic.metadata.refresh.interval.ms", "5000");
		rc = rc ? rc : conf_set(m, conf, "allow.auto.create.topics", "false");
	}
	memset(password, 0, sizeof password);
	if (rc)
		goto fail;
	rd_kafka_conf_set_opaque(conf, m);
	rd_kafka_conf_set_error_cb(conf, rk_error_cb);
	rd_kafka_conf_set_log_cb(conf, rk_log_cb);
	m->conf = conf;
	return 0;
fail:
	rd_kafka_conf_destroy(conf);
	return rc ? rc : -EINVAL;
}

/* Split topics into globs. */
static int split_topics(struct mirror *m)
{
	const char *s = m->cfg.topics;

	for (;;) {
		const char *comma = strchr(s, ',');
		size_t n = comma ? (size_t)(comma - s) : strlen(s);
		while (n > 0 && isspace((unsigned char)*s)) {
			s++;
			n--;
		}
		while (n > 0 && isspace((unsigned char)s[n - 1]))
			n--;
		char **g = realloc(m->globs, (m->nglobs + 1) * sizeof *g);
		if (!g)
			return -ENOMEM;
		m->globs = g;
		g[m->nglobs] = strndup(s, n);
		if (!g[m->nglobs])
			return -ENOMEM;
		m->nglobs++;
		if (!comma)
			return 0;
		s = comma + 1;
	}
}

/* <data_dir>/.mirror, opened without following links. */
static int open_ckpt_dir(const char *data_dir)
{
	int dfd = open(data_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int fd, err;

	if (dfd < 0)
		return -errno;
	if (mkdirat(dfd, MIRROR_CKPT_DIR, 0700) == 0)
		fsync(dfd);
	else if (errno != EEXIST) {
		err = -errno;
		close(dfd);
		return err;
	}
	fd = openat(dfd, MIRROR_CKPT_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	            O_CLOEXEC);
	err = fd < 0 ? -errno : 0;
	close(dfd);
	return fd < 0 ? err : fd;
}

/* ============================== start, stop =============================== */

static void mirror_free(struct mirror *m)
{
	if (m->conf)
		rd_kafka_conf_destroy(m->conf);
	for (size_t i = 0; i < m->nglobs; i++)
		free(m->globs[i]);
	free(m->globs);
	free(m->lag);
	if (m->ckpt_dfd >= 0)
		close(m->ckpt_dfd);
	pthread_mutex_destroy(&m->mu);
}

void mirrors_stop(struct mirrors *ms)
{
	if (!ms)
		return;
	for (size_t i = 0; i < ms->n; i++)
		atomic_store(&ms->m[i].stop, true);
	for (size_t i = 0; i < ms->n; i++) {
		struct mirror *m = &ms->m[i];
		if (m->started) {
			pthread_join(m->thread, NULL);
			tfs_log(TFS_LOG_INFO, "mirror %s: stopped", m->cfg.name);
		}
		mirror_free(m);
	}
	free(ms->m);
	free(ms);
}

int mirrors_start(struct store *st, const struct tfs_config *cfg,
                  struct mirrors **out)
{
	struct mirrors *ms;
	int rc = 0;

	*out = NULL;
	if (cfg->nmirrors == 0)
		return 0;
	ms = calloc(1, sizeof *ms);
	if (!ms)
		return -ENOMEM;
	ms->m = calloc(cfg->nmirrors, sizeof *ms->m);
	if (!ms->m) {
		free(ms);
		return -ENOMEM;
	}
	for (size_t i = 0; i < cfg->nmirrors && rc == 0; i++) {
		struct mirror *m = &ms->m[i];
		m->cfg = cfg->mirrors[i];
		m->dcfg = cfg;
		m->st = st;
		m->state = "starting";
		m->ckpt_dfd = -1;
		pthread_mutex_init(&m->mu, NULL);
		ms->n++;
		rc = split_topics(m);
		if (rc)
			break;
		m->ckpt_dfd = open_ckpt_dir(cfg->data_dir);
		if (m->ckpt_dfd < 0) {
			rc = m->ckpt_dfd;
			tfs_log(TFS_LOG_ERROR, "mirror %s: %s/%s: %s", m->cfg.name,
			        cfg->data_dir, MIRROR_CKPT_DIR, strerror(-rc));
			break;
		}
		rc = build_conf(m);
	}
	for (size_t i = 0; i < ms->n && rc == 0; i++) {
		struct mirror *m = &ms->m[i];
		rc = -pthread_create(&m->thread, NULL, m->cfg.direction == TFS_MIRROR_PUSH
		                     ? mirror_push_main : mirror_pull_main, m);
		if (rc) {
			tfs_log(TFS_LOG_ERROR, "mirror %s: pthread_create: %s",
			        m->cfg.name, strerror(-rc));
			break;
		}
		m->started = true;
		tfs_log(TFS_LOG_INFO, "mirror %s: %s %s %s %s", m->cfg.name,
		        m->cfg.direction == TFS_MIRROR_PUSH ? "pushing" : "pulling",
		        m->cfg.topics,
		        m->cfg.direction == TFS_MIRROR_PUSH ? "to" : "from",
		        m->cfg.bootstrap_servers);
	}
	if (rc) {
		mirrors_stop(ms);
		return rc;
	}
	*out = ms;
	return 0;
}

/* ============================== .status, metrics ========================== */

/* A copy of what others may read, taken under m->mu. */
struct mirror_view {
	const char *state;
	char last_error[512];
	int64_t last_error_ms;
	struct mirror_lag *lag;
	size_t nlag;
};

static void view_of(struct mirror *m, struct mirror_view *v)
{
	pthread_mutex_lock(&m->mu);
	v->state = m->state;
	snprintf(v->last_error, sizeof v->last_error, "%s", m->last_error);
	v->last_error_ms = m->last_error_ms;
	v->lag = m->nlag ? malloc(m->nlag * sizeof *v->lag) : NULL;
	v->nlag = v->lag ? m->nlag : 0;
	if (v->lag)
		memcpy(v->lag, m->lag, m->nlag * sizeof *v->lag);
	pthread_mutex_unlock(&m->mu);
}

static uint64_t ld(atomic_uint_fast64_t *v)
{
	return atomic_load_explicit(v, memory_order_relaxed);
}

static int64_t lag_of(const struct mirror_lag *l)
{
	if (l->end < 0 || l->mirrored < 0)
		return 0;
	return l->end > l->mirrored ? l->end - l->mirrored : 0;
}

/*
 * The block, after the other tables:
 *
 *   <empty line>
 *   mirror direction state records errors skipped_records last_error_age_ms last_error
 *   edge push ok 1000 0 0 - -
 *   <empty line>
 *   mirror topic partition mirrored end lag
 *   edge orders 0 990 1000 10
 *
 * last_error is the rest of its line (it has spaces).
 */
void mirrors_status(FILE *f, void *arg)
{
	struct mirrors *ms = arg;
	struct mirror_view *v;
	int64_t now = tfs_now_ms();

	if (!ms || ms->n == 0)
		return;
	v = calloc(ms->n, sizeof *v);
	if (!v)
		return;
	for (size_t i = 0; i < ms->n; i++)
		view_of(&ms->m[i], &v[i]);
	fprintf(f, "\nmirror direction state records errors skipped_records "
	        "last_error_age_ms last_error\n");
	for (size_t i = 0; i < ms->n; i++) {
		struct mirror *m = &ms->m[i];
		fprintf(f, "%s %s %s %" PRIu64 " %" PRIu64 " %" PRIu64 " ",
		        m->cfg.name, m->cfg.direction == TFS_MIRROR_PUSH ? "push" : "pull",
		        v[i].state, ld(&m->records), ld(&m->errors), ld(&m->skipped));
		if (v[i].last_error_ms)
			fprintf(f, "%" PRId64 " %s\n", now - v[i].last_error_ms,
			        v[i].last_error);
		else
			fprintf(f, "- -\n");
	}
	fprintf(f, "\nmirror topic partition mirrored end lag\n");
	for (size_t i = 0; i < ms->n; i++) {
		for (size_t j = 0; j < v[i].nlag; j++) {
			const struct mirror_lag *l = &v[i].lag[j];
			fprintf(f, "%s %s %" PRId32 " %" PRId64 " %" PRId64 " %" PRId64 "\n",
			        ms->m[i].cfg.name, l->topic, l->partition, l->mirrored,
			        l->end, lag_of(l));
		}
		free(v[i].lag);
	}
	free(v);
}

static void family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void mirrors_metrics(FILE *f, struct mirrors *ms)
{
	static const char *const states[] = { "starting", "ok", "error" };
	size_t n = ms ? ms->n : 0;
	struct mirror_view *v = n ? calloc(n, sizeof *v) : NULL;

	if (n && !v)
		return;
	for (size_t i = 0; i < n; i++)
		view_of(&ms->m[i], &v[i]);
	family(f, "topicfs_mirror_state", "gauge", "1 for the state the mirror is "
	       "in (starting, ok, error), 0 for the others.");
	for (size_t i = 0; i < n; i++)
		for (size_t s = 0; s < 3; s++)
			fprintf(f, "topicfs_mirror_state{mirror=\"%s\",direction=\"%s\","
			        "state=\"%s\"} %d\n", ms->m[i].cfg.name,
			        ms->m[i].cfg.direction == TFS_MIRROR_PUSH ? "push" : "pull",
			        states[s], !strcmp(v[i].state, states[s]));
	family(f, "topicfs_mirror_records_total", "counter",
	       "Records mirrored (push: delivered to the cluster; pull: appended "
	       "locally).");
	for (size_t i = 0; i < n; i++)
		fprintf(f, "topicfs_mirror_records_total{mirror=\"%s\"} %" PRIu64 "\n",
		        ms->m[i].cfg.name, ld(&ms->m[i].records));
	family(f, "topicfs_mirror_errors_total", "counter",
	       "Mirror errors (connection, authentication, refused requests and "
	       "records), each retried.");
	for (size_t i = 0; i < n; i++)
		fprintf(f, "topicfs_mirror_errors_total{mirror=\"%s\"} %" PRIu64 "\n",
		        ms->m[i].cfg.name, ld(&ms->m[i].errors));
	family(f, "topicfs_mirror_skipped_records_total", "counter",
	       "Push: records retention deleted before they were mirrored.");
	for (size_t i = 0; i < n; i++)
		fprintf(f, "topicfs_mirror_skipped_records_total{mirror=\"%s\"} %"
		        PRIu64 "\n", ms->m[i].cfg.name, ld(&ms->m[i].skipped));
	family(f, "topicfs_mirror_lag", "gauge", "Records not mirrored yet (push: "
	       "local end minus the checkpointed offset; pull: remote high "
	       "watermark minus the next offset to append).");
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < v[i].nlag; j++)
			fprintf(f, "topicfs_mirror_lag{mirror=\"%s\",topic=\"%s\","
			        "partition=\"%" PRId32 "\"} %" PRId64 "\n",
			        ms->m[i].cfg.name, v[i].lag[j].topic,
			        v[i].lag[j].partition, lag_of(&v[i].lag[j]));
		free(v[i].lag);
	}
	free(v);
}
