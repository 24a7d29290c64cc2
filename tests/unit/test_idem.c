/*
 * test_idem.c - idempotent producers (storage/producer.c): duplicates,
 * sequence and epoch rules, the bounds, and the state surviving a clean
 * restart, a crash (a forked writer killed with SIGKILL) and bad or
 * missing snapshot files.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "batch_internal.h"
#include "tinytest.h"
#include "testutil.h"

static char tdir[256];

static struct store *open_opts(size_t max_prod, int64_t expire_ms)
{
	struct store_options o = { .data_dir = tdir,
	                           .max_producers_per_partition = max_prod,
	                           .producer_id_expiration_ms = expire_ms };
	struct store *st = NULL;
	int rc = store_open(&o, &st);
	if (rc < 0)
		fprintf(stderr, "  store_open %s: %s\n", tdir, strerror(-rc));
	return rc < 0 ? NULL : st;
}

static struct store *open_store(void)
{
	return open_opts(0, 0);
}

static struct topic *mk_topic(struct store *st, int64_t seg_bytes)
{
	struct topic_config c;
	struct topic *t = NULL;
	topic_config_defaults(&c);
	c.retention_ms = -1;
	if (seg_bytes > 0)
		c.segment_bytes = seg_bytes;
	if (store_topic_create(st, "t", &c, &t) < 0)
		return NULL;
	return t;
}

static struct topic *get_topic(struct store *st)
{
	struct topic *t = NULL;
	return store_topic_get(st, "t", &t) == 0 ? t : NULL;
}

/* A batch of n records "p<pid>-s<seq>" from producer pid/epoch, first
 * sequence seq (record i has sequence seq + i, wrapped). */
static uint8_t *mkbatch(int64_t pid, int16_t epoch, int32_t seq, int n,
                        size_t *len)
{
	struct rec_in r[64];
	char vals[64][48];
	struct batch_encode_params bp;
	uint8_t *out = NULL;

	for (int i = 0; i < n; i++) {
		int64_t s = (int64_t)seq + i;
		if (s > INT32_MAX)
			s -= (int64_t)INT32_MAX + 1;
		int l = snprintf(vals[i], sizeof(vals[i]), "p%" PRId64 "-e%d-s%" PRId64,
		                 pid, epoch, s);
		r[i] = (struct rec_in){ .key_len = -1, .value = vals[i],
		                        .value_len = l, .timestamp = 1000 + i };
	}
	batch_encode_params_init(&bp, 0, CODEC_NONE, 1000);
	bp.producer_id = pid;
	bp.producer_epoch = epoch;
	bp.base_sequence = seq;
	if (batch_encode_ex(r, (size_t)n, &bp, &out, len) < 0)
		return NULL;
	return out;
}

/* Append; returns the rc, *res filled. */
static int app(struct part *p, int64_t pid, int16_t epoch, int32_t seq, int n,
               struct append_result *res)
{
	size_t len;
	uint8_t *b = mkbatch(pid, epoch, seq, n, &len);
	struct append_result tmp;
	int rc;
	if (!b)
		return -999;
	rc = part_append_batch_idem(p, b, len, res ? res : &tmp);
	free(b);
	return rc;
}

static int64_t next_off(struct part *p)
{
	struct part_info i;
	part_info(p, &i);
	return i.next_offset;
}

/* How many records of the partition have value v. */
static int count_value(struct part *p, const char *v)
{
	struct part_info pi;
	part_info(p, &pi);
	size_t cap = (size_t)(pi.stream_end - pi.stream_start), got = 0;
	char *buf = malloc(cap + 1);
	int n = 0;
	if (!buf)
		return -1;
	if (cap && part_stream_read(p, pi.stream_start, buf, cap, &got) < 0) {
		free(buf);
		return -1;
	}
	buf[got] = 0;
	size_t vl = strlen(v);
	for (char *line = buf; line < buf + got;) {
		char *nl = strchr(line, '\n');
		if (!nl)
			break;
		if ((size_t)(nl - line) == vl && memcmp(line, v, vl) == 0)
			n++;
		line = nl + 1;
	}
	free(buf);
	return n;
}

static int count_rec(struct part *p, int64_t pid, int epoch, int64_t seq)
{
	char v[64];
	snprintf(v, sizeof(v), "p%" PRId64 "-e%d-s%" PRId64, pid, epoch, seq);
	return count_value(p, v);
}

static int nsnapshots(void)
{
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "ls %s/t-0/ | grep -c '^[0-9]\\{20\\}\\.producers$'",
	         tdir);
	FILE *f = popen(cmd, "r");
	int n = -1;
	if (f) {
		if (fscanf(f, "%d", &n) != 1)
			n = -1;
		pclose(f);
	}
	return n;
}

static void setup(void)
{
	tu_tmpdir_make(tdir, sizeof(tdir), "test_idem");
}

/* ================================ rules ================================= */

static void test_duplicate(void)
{
	setup();
	struct store *st = open_store();
	REQUIRE(st);
	struct topic *t = mk_topic(st, 0);
	REQUIRE(t);
	struct part *p = topic_part(t, 0);
	struct append_result r;

	CHECK_EQ_INT(app(p, 7, 0, 0, 3, &r), 0);
	CHECK_EQ_INT(r.base_offset, 0);
	CHECK_EQ_INT(r.last_offset, 2);
	CHECK(!r.duplicate);
	CHECK_EQ_INT(app(p, 7, 0, 3, 2, &r), 0);
	CHECK_EQ_INT(r.base_offset, 3);
	/* the retries: nothing stored, the original offsets */
	CHECK_EQ_INT(app(p, 7, 0, 0, 3, &r), 0);
	CHECK(r.duplicate);
	CHECK_EQ_INT(r.base_offset, 0);
	CHECK_EQ_INT(r.last_offset, 2);
	CHECK_EQ_INT(app(p, 7, 0, 3, 2, &r), 0);
	CHECK(r.duplicate);
	CHECK_EQ_INT(r.base_offset, 3);
	CHECK_EQ_INT(next_off(p), 5);
	/* the old call answers the same */
	size_t len;
	uint8_t *b = mkbatch(7, 0, 0, 3, &len);
	int64_t base = -1;
	CHECK_EQ_INT(part_append_batch(p, b, len, &base), 0);
	CHECK_EQ_INT(base, 0);
	free(b);
	CHECK_EQ_INT(next_off(p), 5);
	CHECK_EQ_INT(count_rec(p, 7, 0, 0), 1);
	/* a plain (non-idempotent) batch is never deduplicated */
	struct rec_in ri = { .key_len = -1, .value = "plain", .value_len = 5,
	                     .timestamp = 1 };
	REQUIRE(batch_encode(&ri, 1, 0, CODEC_NONE, 1, &b, &len) == 0);
	CHECK_EQ_INT(part_append_batch(p, b, len, NULL), 0);
	CHECK_EQ_INT(part_append_batch(p, b, len, NULL), 0);
	free(b);
	CHECK_EQ_INT(count_value(p, "plain"), 2);
	struct producer_info pi;
	CHECK_EQ_INT(part_producer_get(p, 7, &pi), 0);
	CHECK_EQ_INT(pi.nbatches, 2);
	CHECK_EQ_INT(pi.batches[1].first_seq, 3);
	CHECK_EQ_INT(pi.batches[1].last_seq, 4);
	CHECK_EQ_INT(part_producer_get(p, 8, &pi), -ENOENT);
	topic_put(t);
	store_close(st);
	tu_tmpdir_remove(tdir);
}

static void test_sequence_rules(void)
{
	setup();
	struct store *st = open_store();
	REQUIRE(st);
	struct topic *t = mk_topic(st, 0);
	REQUIRE(t);
	struct part *p = topic_part(t, 0);
	struct append_result r;

	CHECK_EQ_INT(app(p, 1, 0, 0, 2, &r), 0);          /* seq 0..1 */
	CHECK_EQ_INT(app(p, 1, 0, 3, 1, &r), STORE_ERR_OUT_OF_ORDER_SEQ); /* gap */
	CHECK_EQ_INT(app(p, 1, 0, 1, 2, &r), STORE_ERR_OUT_OF_ORDER_SEQ); /* overlap */
	CHECK_EQ_INT(app(p, 1, 0, 0, 1, &r), STORE_ERR_OUT_OF_ORDER_SEQ); /* not a whole batch */
	CHECK_EQ_INT(next_off(p), 2);
	CHECK_EQ_INT(app(p, 1, 0, 2, 1, &r), 0);
	CHECK_EQ_INT(r.base_offset, 2);
	/* an unknown producer: any sequence (Kafka 3.x), tracked from there */
	CHECK_EQ_INT(app(p, 2, 0, 42, 1, &r), 0);
	CHECK_EQ_INT(app(p, 2, 0, 44, 1, &r), STORE_ERR_OUT_OF_ORDER_SEQ);
	CHECK_EQ_INT(app(p, 2, 0, 43, 1, &r), 0);
	/* ProducerId >= 0 needs an epoch and a sequence */
	CHECK_EQ_INT(app(p, 3, 0, -1, 1, &r), -EINVAL);
	CHECK_EQ_INT(app(p, 3, -1, 0, 1, &r), -EINVAL);
	CHECK_EQ_INT(next_off(p), 5);
	topic_put(t);
	store_close(st);
	tu_tmpdir_remove(tdir);
}

static void test_epochs(void)
{
	setup();
	struct store *st = open_store();
	REQUIRE(st);
	struct topic *t = mk_topic(st, 0);
	REQUIRE(t);
	struct part *p = topic_part(t, 0);
	struct append_result r;

	CHECK_EQ_INT(app(p, 5, 1, 0, 1, &r), 0);
	CHECK_EQ_INT(app(p, 5, 1, 1, 1, &r), 0);
	/* fenced: a lower epoch, whatever its sequence (a retry too) */
	CHECK_EQ_INT(app(p, 5, 0, 2, 1, &r), STORE_ERR_PRODUCER_FENCED);
	CHECK_EQ_INT(app(p, 5, 0, 0, 1, &r), STORE_ERR_PRODUCER_FENCED);
	/* a higher epoch restarts at 0, and only there */
	CHECK_EQ_INT(app(p, 5, 2, 2, 1, &r), STORE_ERR_OUT_OF_ORDER_SEQ);
	CHECK_EQ_INT(app(p, 5, 2, 0, 1, &r), 0);
	CHECK_EQ_INT(r.base_offset, 2);
	CHECK(!r.duplicate);
	/* the old epoch is fenced now, its batches no longer duplicates */
	CHECK_EQ_INT(app(p, 5, 1, 1, 1, &r), STORE_ERR_PRODUCER_FENCED);
	CHECK_EQ_INT(app(p, 5, 2, 0, 1, &r), 0);
	CHECK(r.duplicate);
	CHECK_EQ_INT(r.base_offset, 2);
	CHECK_EQ_INT(app(p, 5, 2, 1, 1, &r), 0);
	CHECK_EQ_INT(r.base_offset, 3);
	struct producer_info pi;
	CHECK_EQ_INT(part_producer_get(p, 5, &pi), 0);
	CHECK_EQ_INT(pi.epoch, 2);
	CHECK_EQ_INT(pi.nbatches, 2);
	CHECK_EQ_INT(next_off(p), 4);
	topic_put(t);
	store_close(st);
	tu_tmpdir_remove(tdir);
}

/* Only the last 5 batches are remembered: a retry of the 6th-newest is
 * refused as out of order (Kafka answers the same), never stored. */
static void test_sixth_batch(void)
{
	setup();
	struct store *st = open_store();
	REQUIRE(st);
	struct topic *t = mk_topic(st, 0);
	REQUIRE(t);
	struct part *p = topic_part(t, 0);
	struct append_result r;

	for (int i = 0; i < 6; i++)
		CHECK_EQ_INT(app(p, 9, 0, i * 2, 2, &r), 0);
	CHECK_EQ_INT(app(p, 9, 0, 0, 2, &r), STORE_ERR_OUT_OF_ORDER_SEQ);
	for (int i = 1; i < 6; i++) {
		CHECK_EQ_INT(app(p, 9, 0, i * 2, 2, &r), 0);
		CHECK(r.duplicate);
		CHECK_EQ_INT(r.base_offset, i * 2);
	}
	CHECK_EQ_INT(next_off(p), 12);
	CHECK_EQ_INT(count_rec(p, 9, 0, 0), 1);
	topic_put(t);
	store_close(st);
	tu_tmpdir_remove(tdir);
}

static void test_sequence_wrap(void)
{
	setup();
	struct store *st = open_store();
	REQUIRE(st);
	struct topic *t = mk_topic(st, 0);
	REQUIRE(t);
	struct part *p = topic_part(t, 0);
	struct append_result r;
	struct producer_info pi;

	/* a batch that wraps inside: INT32_MAX, 0, 1 */
	CHECK_EQ_INT(app(p, 11, 0, INT32_MAX - 2, 2, &r), 0);
	CHECK_EQ_INT(app(p, 11, 0, INT32_MAX, 3, &r), 0);
	CHECK_EQ_INT(part_producer_get(p, 11, &pi), 0);
	CHECK_EQ_INT(pi.batches[1].last_seq, 1);
	CHECK_EQ_INT(app(p, 11, 0, INT32_MAX, 3, &r), 0);
	CHECK(r.duplicate);
	CHECK_EQ_INT(r.base_offset, 2);
	CHECK_EQ_INT(app(p, 11, 0, 0, 1, &r), STORE_ERR_OUT_OF_ORDER_SEQ);
	CHECK_EQ_INT(app(p, 11, 0, 2, 1, &r), 0);
	/* a batch ending at INT32_MAX: the next starts at 0 */
	CHECK_EQ_INT(app(p, 12, 0, INT32_MAX - 1, 2, &r), 0);
	CHECK_EQ_INT(app(p, 12, 0, INT32_MAX, 1, &r), STORE_ERR_OUT_OF_ORDER_SEQ);
	CHECK_EQ_INT(app(p, 12, 0, 0, 1, &r), 0);
	CHECK(!r.duplicate);
	CHECK_EQ_INT(next_off(p), 9);
	topic_put(t);
	store_close(st);
	tu_tmpdir_remove(tdir);
}

/* At most max_producers_per_partition ids: the least recently used goes
 * (its retry is then accepted as a new producer's: stored again). */
static void test_producer_bound(void)
{
	setup();
	struct store *st = open_opts(10, 0);
	REQUIRE(st);
	struct topic *t = mk_topic(st, 0);
	REQUIRE(t);
	struct part *p = topic_part(t, 0);
	struct append_result r;
	struct producer_info pi;

	for (int i = 0; i < 10; i++)
		CHECK_EQ_INT(app(p, 100 + i, 0, 0, 1, &r), 0);
	CHECK_EQ_INT(part_producer_count(p), 10);
	/* 100 used again (a retry): 101 is now the least recently used */
	CHECK_EQ_INT(app(p, 100, 0, 0, 1, &r), 0);
	CHECK(r.duplicate);
	CHECK_EQ_INT(app(p, 200, 0, 0, 1, &r), 0);
	CHECK_EQ_INT(part_producer_count(p), 10);
	CHECK_EQ_INT(part_producer_get(p, 101, &pi), -ENOENT);
	CHECK_EQ_INT(part_producer_get(p, 100, &pi), 0);
	CHECK_EQ_INT(app(p, 101, 0, 0, 1, &r), 0);
	CHECK(!r.duplicate);                /* forgotten: stored again */
	CHECK_EQ_INT(count_rec(p, 101, 0, 0), 2);
	for (int i = 0; i < 1000; i++)
		CHECK_EQ_INT(app(p, 1000 + i, 0, 0, 1, &r), 0);
	CHECK_EQ_INT(part_producer_count(p), 10);
	/* the bound holds after a restart too */
	topic_put(t);
	store_close(st);
	st = open_opts(10, 0);
	REQUIRE(st);
	t = get_topic(st);
	REQUIRE(t);
	p = topic_part(t, 0);
	CHECK_EQ_INT(part_producer_count(p), 10);
	CHECK_EQ_INT(part_producer_get(p, 1999, &pi), 0);
	CHECK_EQ_INT(part_producer_get(p, 1989, &pi), -ENOENT);
	topic_put(t);
	store_close(st);
	tu_tmpdir_remove(tdir);
}

static void test_expiry(void)
{
	setup();
	/* the producer must still be known right after its append: on a
	 * loaded machine (a sanitizer pass) more than a tight expiry can pass
	 * between the two calls, so the expiry grows with TOPICFS_TIME_SCALE;
	 * expiry is checked on lookup, so any wait past it expires it */
	const int expire_ms = 200 * tu_time_scale();
	struct store *st = open_opts(0, expire_ms);
	REQUIRE(st);
	struct topic *t = mk_topic(st, 0);
	REQUIRE(t);
	struct part *p = topic_part(t, 0);
	struct append_result r;
	struct producer_info pi;

	CHECK_EQ_INT(app(p, 1, 0, 0, 1, &r), 0);
	CHECK_EQ_INT(part_producer_get(p, 1, &pi), 0);
	usleep((expire_ms + 70) * 1000);
	CHECK_EQ_INT(part_producer_get(p, 1, &pi), -ENOENT);
	/* expired: unknown again, any sequence */
	CHECK_EQ_INT(app(p, 1, 0, 7, 1, &r), 0);
	CHECK_EQ_INT(part_producer_count(p), 1);
	topic_put(t);
	store_close(st);
	tu_tmpdir_remove(tdir);
}

/* ============================= persistence ============================== */

/* After store_close + store_open the retries are still duplicates, from
 * the snapshot; with the snapshot deleted or corrupt, from a scan. */
static void test_restart(void)
{
	setup();
	struct store *st = open_store();
	REQUIRE(st);
	struct topic *t = mk_topic(st, 0);
	REQUIRE(t);
	struct part *p = topic_part(t, 0);
	struct append_result r;

	for (int i = 0; i < 4; i++)
		CHECK_EQ_INT(app(p, 3, 1, i * 3, 3, &r), 0);
	CHECK_EQ_INT(app(p, 4, 0, 0, 1, &r), 0);
	topic_put(t);
	store_close(st);
	CHECK_EQ_INT(nsnapshots(), 1);

	for (int round = 0; round < 3; round++) {
		char path[512];
		if (round == 1) {       /* corrupt: a flipped byte */
			snprintf(path, sizeof(path), "%s/t-0/%020d.producers", tdir, 13);
			FILE *f = fopen(path, "r+");
			REQUIRE(f);
			fseek(f, 60, SEEK_SET);
			fputc(0x5a, f);
			fclose(f);
		} else if (round == 2) { /* missing */
			snprintf(path, sizeof(path), "%s/t-0/%020d.producers", tdir, 13);
			CHECK_EQ_INT(unlink(path), 0);
		}
		st = open_store();
		REQUIRE(st);
		t = get_topic(st);
		REQUIRE(t);
		p = topic_part(t, 0);
		for (int i = 0; i < 4; i++) {
			CHECK_EQ_INT(app(p, 3, 1, i * 3, 3, &r), 0);
			CHECK(r.duplicate);
			CHECK_EQ_INT(r.base_offset, i * 3);
		}
		CHECK_EQ_INT(app(p, 4, 0, 0, 1, &r), 0);
		CHECK(r.duplicate);
		CHECK_EQ_INT(r.base_offset, 12);
		CHECK_EQ_INT(app(p, 3, 1, 13, 1, &r), STORE_ERR_OUT_OF_ORDER_SEQ);
		CHECK_EQ_INT(app(p, 3, 0, 12, 1, &r), STORE_ERR_PRODUCER_FENCED);
		CHECK_EQ_INT(next_off(p), 13);
		topic_put(t);
		store_close(st);
		CHECK_EQ_INT(nsnapshots(), 1);
	}
	/* and the log goes on */
	st = open_store();
	REQUIRE(st);
	t = get_topic(st);
	REQUIRE(t);
	p = topic_part(t, 0);
	CHECK_EQ_INT(app(p, 3, 1, 12, 1, &r), 0);
	CHECK_EQ_INT(r.base_offset, 13);
	CHECK_EQ_INT(tu_dump_verify(tdir, "t", 0), 0);
	topic_put(t);
	store_close(st);
	tu_tmpdir_remove(tdir);
}

/* Shared with a forked writer: what it had acknowledged. */
struct acks {
	volatile int64_t acked;         /* batches acknowledged */
	volatile int64_t base[4096];    /* their base offsets */
};

/* The writer: producer 77, epoch 0, batches of 2 records (batch i =
 * sequences 2i, 2i+1), many segments (1 KiB each), acks in a.  Dies by
 * SIGKILL after `stop` batches (or runs until killed when stop < 0). */
static void writer_child(struct acks *a, int64_t from, int64_t stop)
{
	struct store *st = open_store();
	if (!st)
		_exit(3);
	struct topic *t = get_topic(st);
	if (!t)
		_exit(4);
	struct part *p = topic_part(t, 0);
	for (int64_t i = from; i < 4096 && (stop < 0 || i < stop); i++) {
		struct append_result r;
		if (app(p, 77, 0, (int32_t)(2 * i), 2, &r) != 0 || r.duplicate)
			_exit(5);
		a->base[i] = r.base_offset;
		__atomic_store_n(&a->acked, i + 1, __ATOMIC_RELEASE);
	}
	raise(SIGKILL);
	_exit(6);
}

static struct acks *acks_map(void)
{
	void *m = mmap(NULL, sizeof(struct acks), PROT_READ | PROT_WRITE,
	               MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	return m == MAP_FAILED ? NULL : m;
}

static bool run_child(struct acks *a, int64_t from, int64_t stop, int kill_after)
{
	pid_t pid = fork();
	int status;
	if (pid < 0)
		return false;
	if (pid == 0)
		writer_child(a, from, stop);
	if (kill_after > 0) {
		/* kill it mid-way: once it acknowledged kill_after batches */
		while (__atomic_load_n(&a->acked, __ATOMIC_ACQUIRE) < from + kill_after &&
		       waitpid(pid, &status, WNOHANG) == 0)
			usleep(200);
		kill(pid, SIGKILL);
	}
	if (waitpid(pid, &status, 0) != pid)
		return false;
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

/* Retry the last 4 acknowledged batches and the one after them (which
 * the killed writer may or may not have written): each is in the log
 * exactly once afterwards, the acknowledged ones at their offsets.  Only
 * 4: when the in-flight batch did land, it is one of the producer's last
 * 5, and the 5th acknowledged one back is then too old to be recognised
 * (Kafka answers it OUT_OF_ORDER_SEQUENCE_NUMBER too). */
static void check_after_crash(const struct acks *a)
{
	struct store *st = open_store();
	REQUIRE(st);
	struct topic *t = get_topic(st);
	REQUIRE(t);
	struct part *p = topic_part(t, 0);
	struct append_result r;
	int64_t n = a->acked;

	REQUIRE(n >= 5);
	for (int64_t i = n - 4; i < n; i++) {
		CHECK_EQ_INT(app(p, 77, 0, (int32_t)(2 * i), 2, &r), 0);
		CHECK(r.duplicate);
		CHECK_EQ_INT(r.base_offset, a->base[i]);
	}
	/* the in-flight one: stored now, or found as a duplicate */
	CHECK_EQ_INT(app(p, 77, 0, (int32_t)(2 * n), 2, &r), 0);
	CHECK_EQ_INT(app(p, 77, 0, (int32_t)(2 * n), 2, &r), 0);
	CHECK(r.duplicate);
	CHECK_EQ_INT(app(p, 77, 0, (int32_t)(2 * n + 4), 2, &r),
	             STORE_ERR_OUT_OF_ORDER_SEQ);
	for (int64_t s = 0; s < 2 * n + 2; s++)
		if (count_rec(p, 77, 0, s) != 1) {
			fprintf(stderr, "  sequence %" PRId64 " stored %d times\n", s,
			        count_rec(p, 77, 0, s));
			CHECK(0);
			break;
		}
	CHECK_EQ_INT(next_off(p), 2 * n + 2);
	topic_put(t);
	store_close(st);
}

/* A writer killed (SIGKILL, no store_close) right after an ack, across
 * many rolls: the state comes from the last roll's snapshot plus the
 * active segment. */
static void test_crash_after_ack(void)
{
	setup();
	struct acks *a = acks_map();
	REQUIRE(a);
	struct store *st = open_store();
	REQUIRE(st);
	struct topic *t = mk_topic(st, 1024);
	REQUIRE(t);
	topic_put(t);
	store_close(st);
	CHECK(run_child(a, 0, 300, 0));
	CHECK_EQ_INT(a->acked, 300);
	CHECK(nsnapshots() >= 1 && nsnapshots() <= 2);
	check_after_crash(a);
	CHECK_EQ_INT(tu_dump_verify(tdir, "t", 0), 0);
	munmap(a, sizeof(*a));
	tu_tmpdir_remove(tdir);
}

/* The writer killed at a random moment, mid-append; then the snapshots
 * deleted and a crash again (rebuild by scanning everything). */
static void test_crash_midway(void)
{
	setup();
	struct acks *a = acks_map();
	REQUIRE(a);
	struct store *st = open_store();
	REQUIRE(st);
	struct topic *t = mk_topic(st, 1024);
	REQUIRE(t);
	topic_put(t);
	store_close(st);
	CHECK(run_child(a, 0, -1, 200 + (int)(time(NULL) % 50)));
	check_after_crash(a);

	/* continue from there, kill it again, and lose every snapshot */
	int64_t from = a->acked + 1;
	a->acked = from;
	CHECK(run_child(a, from, from + 100, 0));
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "rm -f %s/t-0/*.producers", tdir);
	CHECK_EQ_INT(system(cmd), 0);
	CHECK_EQ_INT(nsnapshots(), 0);
	check_after_crash(a);
	CHECK_EQ_INT(tu_dump_verify(tdir, "t", 0), 0);
	munmap(a, sizeof(*a));
	tu_tmpdir_remove(tdir);
}

/* A snapshot past the end of the recovered log (its tail was lost) is
 * deleted, never trusted: the batches written again at those offsets are
 * what counts. */
static void test_stale_snapshot(void)
{
	setup();
	struct store *st = open_store();
	REQUIRE(st);
	struct topic *t = mk_topic(st, 0);
	REQUIRE(t);
	struct part *p = topic_part(t, 0);
	struct append_result r;
	for (int i = 0; i < 3; i++)
		CHECK_EQ_INT(app(p, 6, 0, i, 1, &r), 0);
	topic_put(t);
	store_close(st);                /* snapshot at 3 */
	/* lose the last batch: cut the .log inside it, no clean marker */
	char path[512];
	snprintf(path, sizeof(path), "%s/.topicfs_clean_shutdown", tdir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/recovery-point-offset-checkpoint", tdir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/t-0/%020d.log", tdir, 0);
	struct stat sb;
	REQUIRE(stat(path, &sb) == 0);
	REQUIRE(truncate(path, sb.st_size - 5) == 0);
	st = open_store();
	REQUIRE(st);
	t = get_topic(st);
	REQUIRE(t);
	p = topic_part(t, 0);
	CHECK_EQ_INT(next_off(p), 2);
	CHECK_EQ_INT(nsnapshots(), 0);
	/* the lost batch is not a duplicate: it is stored again */
	CHECK_EQ_INT(app(p, 6, 0, 2, 1, &r), 0);
	CHECK(!r.duplicate);
	CHECK_EQ_INT(r.base_offset, 2);
	CHECK_EQ_INT(app(p, 6, 0, 1, 1, &r), 0);
	CHECK(r.duplicate);
	CHECK_EQ_INT(r.base_offset, 1);
	topic_put(t);
	store_close(st);
	tu_tmpdir_remove(tdir);
}

int main(int argc, char **argv)
{
	TT_INIT(argc, argv);
	setvbuf(stdout, NULL, _IONBF, 0);
	RUN(test_duplicate);
	RUN(test_sequence_rules);
	RUN(test_epochs);
	RUN(test_sixth_batch);
	RUN(test_sequence_wrap);
	RUN(test_producer_bound);
	RUN(test_expiry);
	RUN(test_restart);
	RUN(test_crash_after_ack);
	RUN(test_crash_midway);
	RUN(test_stale_snapshot);
	return TT_DONE();
}
