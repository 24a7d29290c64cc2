/*
 * topicfs-consume - read a partition remotely over the Kafka protocol and
 * print each record's value followed by a newline (for machines without
 * kcat).  Works against topicfs or any Kafka broker that leads the
 * partition.
 *
 *   topicfs-consume [-o OFFSET|earliest|latest|-N] [-f] [-c COUNT] [-k]
 *                   [-g GROUP] [--progress|--no-progress]
 *                   HOST:PORT TOPIC PARTITION
 *
 * It asks ListOffsets v1 where to start (earliest, latest, -N = the last N
 * records), then runs the fetch loop of net/kclient.c (Fetch v11): without
 * -f it stops at the partition's end, with -f it long-polls for new records
 * (MaxWaitMs 500) until killed.  Exit status: 0 ok, 1 an error (connection,
 * protocol, or a Kafka error code, printed by name), 2 bad usage.
 *
 * With -g GROUP it is a simple consumer of that group (no membership, as
 * kafka-python or librdkafka after assign()): it starts at the group's
 * committed offset (OffsetFetch) unless -o is given, and when the group
 * has none at -o's default (earliest); it commits the offset after the
 * last record written (OffsetCommit, on a second connection, since the
 * fetch loop may have a fetch in flight) once stdout was flushed: after a
 * fetch's records at most every COMMIT_INTERVAL_MS, and at the end,
 * including after SIGINT/SIGTERM (the loop stops before its next fetch).
 * At least once: records written after the last commit are written again
 * by the next run if this one is killed hard.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "kclient_internal.h"
#include "progress.h"

#define COMMIT_INTERVAL_MS 1000

#ifndef TOPICFS_VERSION
#define TOPICFS_VERSION "0.1.0"
#endif

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: topicfs-consume [-o OFFSET|earliest|latest|-N] [-f] [-c COUNT] [-k]\n"
	        "                       [-g GROUP] [--progress|--no-progress]\n"
	        "                       HOST:PORT TOPIC PARTITION\n"
	        "Print the records of one partition, one value per line.\n"
	        "  -o FROM   start at an offset, earliest (default), latest, or -N\n"
	        "            (the last N records)\n"
	        "  -f        follow: wait for new records instead of stopping at the end\n"
	        "  -c COUNT  stop after COUNT records\n"
	        "  -k        print key TAB value\n"
	        "  -g GROUP  a simple consumer of GROUP: start at its committed offset\n"
	        "            (unless -o), commit what was printed (every second, at exit)\n"
	        "  --progress, --no-progress\n"
	        "            a progress line on stderr (default: when stderr is a\n"
	        "            terminal and stdout is not)\n"
	        "  --help, --version\n"
	        "Exit status: 0 ok, 1 error, 2 usage.\n");
}

struct out_state {
	bool keys;
	bool follow;
	bool write_failed;
	struct progress prog;
	/* -g: the simple consumer's commits */
	const char *group;
	const char *topic;
	int32_t partition;
	struct kc_conn *cc;         /* the commit connection */
	int64_t next;               /* offset after the last record printed */
	int64_t committed;          /* last offset committed (-1: none) */
	int64_t commit_ms;          /* when */
	int commit_rc;              /* the last commit's failure, 0 */
};

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
	(void)sig;
	g_stop = 1;
}

/* Commit o->next when it moved (and, unless final, the interval passed),
 * after flushing stdout so only records written are committed. */
static void maybe_commit(struct out_state *o, bool final)
{
	if (!o->group || o->next < 0 || o->next == o->committed)
		return;
	int64_t now = tfs_mono_ms();
	if (!final && now - o->commit_ms < COMMIT_INTERVAL_MS)
		return;
	if (fflush(stdout) == EOF) {
		o->write_failed = true;
		return;
	}
	int kerr = 0;
	int rc = kc_offset_commit(o->cc, o->group, o->topic, o->partition, o->next,
	                          &kerr);
	o->commit_ms = now;
	if (rc) {
		fprintf(stderr, "topicfs-consume: commit: %s\n", kc_errmsg(o->cc));
		o->commit_rc = rc;
		return;
	}
	o->committed = o->next;
}

static int print_record(void *arg, const struct record *rec)
{
	struct out_state *o = arg;
	if (o->keys) {
		if (rec->key_len > 0)
			fwrite(rec->key, 1, (size_t)rec->key_len, stdout);
		putchar('\t');
	}
	if (rec->value_len > 0)
		fwrite(rec->value, 1, (size_t)rec->value_len, stdout);
	if (putchar('\n') == EOF) {
		o->write_failed = true;
		return 1;
	}
	progress_add(&o->prog, 0, 1, (uint64_t)(rec->value_len > 0 ? rec->value_len : 0) +
	             (uint64_t)(rec->key_len > 0 ? rec->key_len : 0), rec->offset);
	o->next = rec->offset + 1;
	return 0;
}

static void flush_output(void *arg)
{
	struct out_state *o = arg;
	if (o->follow && fflush(stdout) == EOF)
		o->write_failed = true;
	if (!o->write_failed)
		maybe_commit(o, false);
}

static bool parse_i64(const char *s, int64_t *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || *end)
		return false;
	*out = v;
	return true;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "progress", no_argument, NULL, 'P' },
		{ "no-progress", no_argument, NULL, 'N' },
		{ NULL, 0, NULL, 0 },
	};
	int progress_mode = PROGRESS_AUTO;
	const char *from = "earliest";
	bool from_given = false;
	int64_t count = 0;
	struct out_state out = { .next = -1, .committed = -1 };
	int opt;

	while ((opt = getopt_long(argc, argv, "+o:fc:kg:", longopts, NULL)) != -1) {
		switch (opt) {
		case 'o':
			from = optarg;
			from_given = true;
			break;
		case 'g':
			if (!optarg[0] || strlen(optarg) > 255) {
				fprintf(stderr, "topicfs-consume: bad group id: %s\n",
				        optarg);
				return 2;
			}
			out.group = optarg;
			break;
		case 'f':
			out.follow = true;
			break;
		case 'c':
			if (!parse_i64(optarg, &count) || count < 1) {
				fprintf(stderr, "topicfs-consume: bad count: %s\n", optarg);
				return 2;
			}
			break;
		case 'k':
			out.keys = true;
			break;
		case 'P':
			progress_mode = PROGRESS_ON;
			break;
		case 'N':
			progress_mode = PROGRESS_OFF;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("topicfs-consume %s\n", TOPICFS_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (argc - optind != 3) {
		usage(stderr);
		return 2;
	}
	const char *addr = argv[optind], *topic = argv[optind + 1];
	int64_t partition;
	if (!parse_i64(argv[optind + 2], &partition) || partition < 0 ||
	    partition > INT32_MAX) {
		fprintf(stderr, "topicfs-consume: bad partition: %s\n", argv[optind + 2]);
		return 2;
	}
	int64_t start = 0, back = 0;
	bool latest = false, earliest = false;
	if (!strcmp(from, "earliest") || !strcmp(from, "beginning"))
		earliest = true;
	else if (!strcmp(from, "latest") || !strcmp(from, "end"))
		latest = true;
	else if (!parse_i64(from, &start)) {
		fprintf(stderr, "topicfs-consume: bad offset: %s\n", from);
		return 2;
	} else if (start < 0) {
		back = -start;
	}

	struct kc_conn *c = NULL;
	int rc = kc_connect(addr, "topicfs-consume", 30000, &c);
	if (rc) {
		fprintf(stderr, "topicfs-consume: connect %s: %s\n", addr,
		        rc == -EINVAL ? "expected HOST:PORT" : strerror(-rc));
		return rc == -EINVAL ? 2 : 1;
	}
	int kerr = 0;
	bool resumed = false;
	if (out.group) {
		out.topic = topic;
		out.partition = (int32_t)partition;
		rc = kc_connect(addr, "topicfs-consume", 30000, &out.cc);
		if (rc) {
			fprintf(stderr, "topicfs-consume: connect %s: %s\n", addr,
			        strerror(-rc));
			kc_close(c);
			return 1;
		}
		int64_t committed = -1;
		rc = kc_offset_fetch(out.cc, out.group, topic, (int32_t)partition,
		                     &committed, &kerr);
		if (rc) {
			fprintf(stderr, "topicfs-consume: %s: %s\n", addr,
			        kc_errmsg(out.cc));
			kc_close(out.cc);
			kc_close(c);
			return 1;
		}
		out.committed = committed;
		if (committed >= 0 && !from_given) {
			start = committed;
			resumed = true;
			earliest = latest = false;
			back = 0;
		}
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = on_signal;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
	}
	if (resumed) {
		/* a committed offset retention has passed (or past the end after
		 * a DeleteRecords or recreate): start at the nearest valid one,
		 * as a Kafka consumer's auto.offset.reset would */
		int64_t first = 0, end = 0;
		rc = kc_list_offset(c, topic, (int32_t)partition, -2, &first, &kerr);
		if (!rc)
			rc = kc_list_offset(c, topic, (int32_t)partition, -1, &end, &kerr);
		if (rc)
			goto fail;
		if (start < first)
			start = first;
		if (start > end)
			start = end;
	} else if (earliest || latest || back) {
		int64_t end = 0, first = 0;
		rc = kc_list_offset(c, topic, (int32_t)partition, -2, &first, &kerr);
		if (!rc)
			rc = kc_list_offset(c, topic, (int32_t)partition, -1, &end, &kerr);
		if (rc)
			goto fail;
		start = earliest ? first : latest ? end : end - back;
		if (start < first)
			start = first;
	}

	progress_init(&out.prog, progress_mode, false, "consume");
	struct kc_consume_opts o = {
		.start_offset = start,
		.follow = out.follow,
		.max_wait_ms = 500,
		.max_records = count,
		.fetch_done = flush_output,
		.stop = out.group ? &g_stop : NULL,
	};
	rc = kc_consume(c, topic, (int32_t)partition, &o, print_record, &out, NULL,
	                &kerr);
	progress_clear(&out.prog);
	if (rc)
		goto fail;
	if (fflush(stdout) == EOF || out.write_failed) {
		fprintf(stderr, "topicfs-consume: write to stdout: %s\n", strerror(errno));
		kc_close(out.cc);
		kc_close(c);
		return 1;
	}
	maybe_commit(&out, true);
	kc_close(out.cc);
	kc_close(c);
	return out.commit_rc || out.write_failed ? 1 : 0;

fail:
	fflush(stdout);
	fprintf(stderr, "topicfs-consume: %s: %s\n", addr, kc_errmsg(c));
	if (!out.write_failed)
		maybe_commit(&out, true);       /* what was printed is consumed */
	kc_close(out.cc);
	kc_close(c);
	return 1;
}
