/*
 * topicfs-admin.c - create, describe, list and delete topics, and list,
 * describe, reset and delete consumer groups, without the mount, straight
 * on the data dir.
 *
 *   topicfs-admin [-c FILE] [--data-dir DIR] [--set S.K=V]... COMMAND
 *     create TOPIC [--partitions N] [--framing lines|writes]
 *                  [--compression none|lz4|zstd] [--set KEY=VALUE]...
 *     describe [TOPIC...]
 *     list
 *     delete TOPIC
 *     groups list
 *     groups describe GROUP
 *     groups reset GROUP TOPIC PARTITION|all OFFSET|earliest|latest
 *     groups delete GROUP
 *
 * Groups are consumer groups' committed offsets (storage/groups.h): the
 * same as the mount's .groups directory shows and resets, offline.  GROUP
 * is the group id itself; `groups list` prints the names .groups uses
 * (group_name_encode: bytes other than [A-Za-z0-9._-] and space as %XX).
 * A reset is clamped to the partition's log, like kafka-consumer-groups
 * --reset-offsets; all of a reset's partitions are committed in one write.
 *
 * The data dir and the defaults of new topics come from the daemon's own
 * configuration (the same table, file and --set syntax: daemon/config.c), so
 * `topicfs-admin -c /etc/topicfs/topicfs.ini create orders` makes the
 * topic the daemon would have made with `mkdir /mnt/topics/orders`, and a
 * [topic.NAME] section applies to it.
 *
 * The daemon must not be running on the data dir: the store's lock
 * (storage.h, STORE_LOCK_FILE) tells, and the tool then says so and exits
 * 1 (use the mount instead: mkdir, rmdir, getfattr, .status).  Opening the
 * store runs the same recovery the daemon runs at start.
 *
 * Exit status: 0 done, 1 failed (no such topic, exists, data dir in use,
 * I/O error), 2 usage or configuration error.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_acls.h"
#include "admin_users.h"
#include "config.h"
#include "parse.h"
#include "storage.h"

#ifndef TOPICFS_VERSION
#define TOPICFS_VERSION "0.1.0"
#endif

#define EXIT_USAGE 2

static void usage(FILE *f)
{
	fputs("usage: topicfs-admin [-c FILE] [--data-dir DIR] [--set S.K=V]... COMMAND\n"
	      "\n"
	      "Commands (the daemon must not be running on the data dir):\n"
	      "  create TOPIC [--partitions N] [--framing lines|writes]\n"
	      "               [--compression none|lz4|zstd] [--set KEY=VALUE]...\n"
	      "                       create a topic (KEY: any per-topic key, e.g.\n"
	      "                       retention_ms=7d)\n"
	      "  describe [TOPIC...]  settings and per-partition offsets and sizes\n"
	      "  list                 topic names, one per line\n"
	      "  delete TOPIC         delete a topic and all its data\n"
	      "  groups list          consumer groups (their .groups names), one per line\n"
	      "  groups describe GROUP\n"
	      "                       committed offsets, log end offsets and lag\n"
	      "  groups reset GROUP TOPIC PARTITION|all OFFSET|earliest|latest\n"
	      "                       set committed offsets (clamped to the log)\n"
	      "  groups delete GROUP  delete a group and its offsets\n"
	      "  user add NAME        add a SASL user, or change its password (read\n"
	      "                       from stdin); the daemon may be running\n"
	      "  user delete NAME     delete a SASL user\n"
	      "  user list            SASL users and their mechanisms\n"
	      "  acl add|list|delete  ACLs, with kafka-acls' flags (--allow-principal\n"
	      "                       User:NAME, --deny-principal, --operation Read,\n"
	      "                       --topic NAME, --group NAME, --cluster,\n"
	      "                       --resource-pattern-type literal|prefixed,\n"
	      "                       list: --principal); the daemon may be running\n"
	      "\n"
	      "Options:\n"
	      "  -c, --config FILE    the daemon's INI (data dir, topic defaults)\n"
	      "      --data-dir DIR   the data dir (overrides the INI)\n"
	      "      --set S.K=V      override a configuration key, as for topicfs\n"
	      "  -q, --quiet          print only errors\n"
	      "  -h, --help, -V, --version\n"
	      "\n"
	      "Exit status: 0 done, 1 failed, 2 usage or configuration error.\n", f);
	fputs("\nPer-topic keys (create --set KEY=VALUE, describe):\n ", f);
	for (size_t i = 0, col = 1; i < topic_setting_count(); i++) {
		const char *name = topic_setting_at(i)->name;
		if (col + strlen(name) + 2 > 78) {
			fputs("\n ", f);
			col = 1;
		}
		col += (size_t)fprintf(f, " %s%s", name,
		                       i + 1 < topic_setting_count() ? "," : "");
	}
	fputs("\n", f);
}

/* ============================== describe ================================= */

/* The settings, "KEY VALUE" pairs in the order of topic_settings.h: the
 * ones fixed at creation on the first line, the others five to a line. */
static void print_settings(const struct topic_config *c)
{
	char val[64];
	int col = 0;

	for (int fixed = 1; fixed >= 0; fixed--) {
		for (size_t i = 0; i < topic_setting_count(); i++) {
			const struct topic_setting *s = topic_setting_at(i);
			if ((s->change != TS_DYNAMIC) != fixed)
				continue;
			topic_setting_format(c, s, val, sizeof val);
			printf("  %s %s", s->name, val);
			if (++col == 5) {
				printf("\n");
				col = 0;
			}
		}
		if (col) {
			printf("\n");
			col = 0;
		}
	}
}

static void print_topic(struct topic *t)
{
	struct topic_config c;
	int32_t n = topic_partitions(t);

	topic_get_config(t, &c);
	printf("topic %s\n", topic_name(t));
	print_settings(&c);
	printf("  %-9s %16s %16s %12s %8s %14s %14s\n", "partition", "log_start_offset",
	       "next_offset", "records", "segments", "bytes_on_disk", "stream_end");
	for (int32_t p = 0; p < n; p++) {
		struct part *part = topic_part(t, p);
		struct part_info in;
		if (!part)
			continue;
		part_info(part, &in);
		printf("  %-9" PRId32 " %16" PRId64 " %16" PRId64 " %12" PRId64 " %8" PRId64
		       " %14" PRId64 " %14" PRId64 "\n", p, in.log_start_offset,
		       in.next_offset, in.next_offset - in.log_start_offset, in.segments,
		       in.bytes_on_disk, in.stream_end);
	}
}

static int cmd_describe(struct store *st, int argc, char **argv)
{
	char **names = NULL;
	size_t count = 0;
	int rc, status = 0;

	if (argc > 1) {
		for (int i = 1; i < argc; i++) {
			struct topic *t;
			rc = store_topic_get(st, argv[i], &t);
			if (rc) {
				fprintf(stderr, "topicfs-admin: %s: %s\n", argv[i],
				        rc == -ENOENT ? "no such topic" : strerror(-rc));
				status = 1;
				continue;
			}
			print_topic(t);
			topic_put(t);
		}
		return status;
	}
	rc = store_topic_list(st, &names, &count);
	if (rc) {
		fprintf(stderr, "topicfs-admin: listing topics: %s\n", strerror(-rc));
		return 1;
	}
	if (count == 0)
		printf("no topics\n");
	for (size_t i = 0; i < count; i++) {
		struct topic *t;
		if (store_topic_get(st, names[i], &t) == 0) {
			print_topic(t);
			topic_put(t);
		}
		free(names[i]);
	}
	free(names);
	return status;
}

static int cmd_list(struct store *st)
{
	char **names = NULL;
	size_t count = 0;
	int rc = store_topic_list(st, &names, &count);

	if (rc) {
		fprintf(stderr, "topicfs-admin: listing topics: %s\n", strerror(-rc));
		return 1;
	}
	for (size_t i = 0; i < count; i++) {
		printf("%s\n", names[i]);
		free(names[i]);
	}
	free(names);
	return 0;
}

/* ============================== create/delete ============================ */

/* Parse the create options into cfg (which holds the per-topic settings
 * under topic.NAME).  0, or EXIT_USAGE after a message. */
static int create_options(struct tfs_config *cfg, const char *name, int argc,
                          char **argv)
{
	static const struct option longopts[] = {
		{ "partitions", required_argument, NULL, 'p' },
		{ "framing", required_argument, NULL, 'f' },
		{ "compression", required_argument, NULL, 'z' },
		{ "set", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	char kv[600], err[1200];
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+p:f:z:s:", longopts, NULL)) != -1) {
		const char *key;
		switch (c) {
		case 'p': key = "partitions"; break;
		case 'f': key = "framing"; break;
		case 'z': key = "compression"; break;
		case 's': key = NULL; break;
		default:
			fprintf(stderr, "try 'topicfs-admin --help'\n");
			return EXIT_USAGE;
		}
		if (key)
			snprintf(kv, sizeof kv, "topic.%s.%s=%s", name, key, optarg);
		else
			snprintf(kv, sizeof kv, "topic.%s.%s", name, optarg);
		if (tfs_config_set(cfg, kv, err, sizeof err)) {
			fprintf(stderr, "topicfs-admin: %s\n", err);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "topicfs-admin: unexpected argument '%s'\n", argv[optind]);
		return EXIT_USAGE;
	}
	if (tfs_config_finish(cfg, err, sizeof err)) {
		fprintf(stderr, "topicfs-admin: %s\n", err);
		return EXIT_USAGE;
	}
	return 0;
}

static int cmd_create(struct store *st, const struct tfs_config *cfg,
                      const char *name, bool quiet)
{
	struct topic_config tc;
	struct topic *t;
	int rc;

	tfs_config_topic(cfg, name, &tc);
	rc = store_topic_create(st, name, &tc, &t);
	if (rc) {
		fprintf(stderr, "topicfs-admin: create %s: %s\n", name,
		        rc == -EEXIST ? "topic exists" :
		        rc == -EINVAL ? "invalid topic name or settings" : strerror(-rc));
		return 1;
	}
	if (!quiet)
		printf("created topic %s: %" PRId32 " partition%s, framing %s, "
		       "compression %s\n", name, tc.partitions, tc.partitions == 1 ? "" : "s",
		       tc.framing == FRAMING_WRITES ? "writes" : "lines", codec_name(tc.codec));
	topic_put(t);
	return 0;
}

static int cmd_delete(struct store *st, const char *name, bool quiet)
{
	int rc = store_topic_delete(st, name);

	if (rc) {
		fprintf(stderr, "topicfs-admin: delete %s: %s\n", name,
		        rc == -ENOENT ? "no such topic" : strerror(-rc));
		return 1;
	}
	if (!quiet)
		printf("deleted topic %s\n", name);
	return 0;
}

/* ============================== groups =================================== */

static int cmd_groups_list(struct store *st)
{
	struct group_info *gi = NULL;
	size_t n = 0;
	int rc = groups_list(store_groups(st), &gi, &n);

	if (rc) {
		fprintf(stderr, "topicfs-admin: listing groups: %s\n", strerror(-rc));
		return 1;
	}
	for (size_t i = 0; i < n; i++) {
		char name[3 * GROUP_ID_MAX + 1];
		if (group_name_encode(gi[i].id, strlen(gi[i].id), name, sizeof name) >= 0)
			printf("%s\n", name);
	}
	group_infos_free(gi, n);
	return 0;
}

static int cmd_groups_describe(struct store *st, const char *id)
{
	struct group_offset *offs = NULL;
	struct group_info gi;
	size_t n = 0;
	int rc;

	memset(&gi, 0, sizeof gi);
	rc = groups_describe(store_groups(st), id, &gi, NULL);
	if (!rc)
		rc = groups_fetch_all(store_groups(st), id, &offs, &n);
	if (rc) {
		fprintf(stderr, "topicfs-admin: group %s: %s\n", id,
		        rc == -ENOENT ? "no such group" : strerror(-rc));
		free(gi.id);
		return 1;
	}
	printf("group %s: %zu committed offset%s\n", id, n, n == 1 ? "" : "s");
	printf("  %-24s %9s %16s %16s %12s\n", "TOPIC", "PARTITION", "CURRENT-OFFSET",
	       "LOG-END-OFFSET", "LAG");
	for (size_t i = 0; i < n; i++) {
		struct topic *t;
		char end[24] = "-", lag[24] = "-";
		if (store_topic_get(st, offs[i].topic, &t) == 0) {
			struct part *p = topic_part(t, offs[i].partition);
			if (p) {
				struct part_info in;
				part_info(p, &in);
				snprintf(end, sizeof end, "%" PRId64, in.next_offset);
				snprintf(lag, sizeof lag, "%" PRId64,
				         in.next_offset > offs[i].offset ?
				         in.next_offset - offs[i].offset : 0);
			}
			topic_put(t);
		}
		printf("  %-24s %9" PRId32 " %16" PRId64 " %16s %12s\n", offs[i].topic,
		       offs[i].partition, offs[i].offset, end, lag);
	}
	group_offsets_free(offs, n);
	free(gi.id);
	return 0;
}

/* groups reset GROUP TOPIC PARTITION|all OFFSET|earliest|latest */
static int cmd_groups_reset(struct store *st, char **argv, bool quiet)
{
	const char *id = argv[0], *topic = argv[1], *ps = argv[2], *os = argv[3];
	struct group_commit *c = NULL;
	struct topic *t = NULL;
	int64_t want = 0, x;
	int32_t from, to, np;
	size_t n = 0;
	int rc, status = 1;

	if (!strcmp(os, "earliest"))
		want = -1;
	else if (!strcmp(os, "latest"))
		want = -2;
	else if (tfs_parse_u64(os, &want)) {
		fprintf(stderr, "topicfs-admin: groups reset: bad offset '%s' (a number, "
		        "earliest or latest)\n", os);
		return EXIT_USAGE;
	}
	rc = store_topic_get(st, topic, &t);
	if (rc) {
		fprintf(stderr, "topicfs-admin: groups reset: %s: %s\n", topic,
		        rc == -ENOENT || rc == -EINVAL ? "no such topic" : strerror(-rc));
		return 1;
	}
	np = topic_partitions(t);
	if (!strcmp(ps, "all")) {
		from = 0;
		to = np;
	} else if (tfs_parse_u64(ps, &x) || x >= np) {
		fprintf(stderr, "topicfs-admin: groups reset: %s has no partition '%s' "
		        "(0..%" PRId32 " or all)\n", topic, ps, np - 1);
		goto out;
	} else {
		from = (int32_t)x;
		to = from + 1;
	}
	c = calloc((size_t)(to - from) + 1, sizeof *c);
	if (!c) {
		fprintf(stderr, "topicfs-admin: out of memory\n");
		goto out;
	}
	for (int32_t p = from; p < to; p++) {
		struct part *part = topic_part(t, p);
		struct part_info in;
		int64_t off;
		if (!part)
			continue;
		part_info(part, &in);
		off = want == -1 ? in.log_start_offset : want == -2 ? in.next_offset : want;
		if (off < in.log_start_offset)
			off = in.log_start_offset;
		if (off > in.next_offset)
			off = in.next_offset;
		c[n++] = (struct group_commit){
			.topic = topic, .partition = p, .offset = off, .leader_epoch = -1,
		};
	}
	rc = groups_commit(store_groups(st), id, c, n, GROUPS_IF_UNHELD);
	for (size_t i = 0; i < n && !rc; i++)
		rc = c[i].error;
	if (rc) {
		fprintf(stderr, "topicfs-admin: groups reset %s: %s\n", id,
		        rc == -EINVAL ? "invalid group id" : strerror(-rc));
		goto out;
	}
	if (!quiet)
		for (size_t i = 0; i < n; i++)
			printf("group %s: %s %" PRId32 " committed offset %" PRId64 "\n",
			       id, topic, c[i].partition, c[i].offset);
	status = 0;
out:
	free(c);
	topic_put(t);
	return status;
}

static int cmd_groups_delete(struct store *st, const char *id, bool quiet)
{
	int rc = groups_delete(store_groups(st), id);

	if (rc) {
		fprintf(stderr, "topicfs-admin: groups delete %s: %s\n", id,
		        rc == -ENOENT ? "no such group" : strerror(-rc));
		return 1;
	}
	if (!quiet)
		printf("deleted group %s\n", id);
	return 0;
}

/* The groups subcommand's arguments: 0 when they are right for its verb,
 * else EXIT_USAGE after a message. */
static int groups_args(int argc, char **argv)
{
	static const struct { const char *verb; int args; } verbs[] = {
		{ "list", 0 }, { "describe", 1 }, { "reset", 4 }, { "delete", 1 },
	};
	if (argc < 2) {
		fprintf(stderr, "topicfs-admin: groups needs list, describe, reset or "
		        "delete\n");
		return EXIT_USAGE;
	}
	for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++) {
		if (strcmp(argv[1], verbs[i].verb))
			continue;
		if (argc - 2 != verbs[i].args) {
			fprintf(stderr, "topicfs-admin: groups %s takes %d argument%s\n",
			        verbs[i].verb, verbs[i].args, verbs[i].args == 1 ? "" : "s");
			return EXIT_USAGE;
		}
		return 0;
	}
	fprintf(stderr, "topicfs-admin: unknown groups command '%s' (list, describe, "
	        "reset, delete)\n", argv[1]);
	return EXIT_USAGE;
}

static int cmd_groups(struct store *st, char **argv, bool quiet)
{
	if (!strcmp(argv[1], "list"))
		return cmd_groups_list(st);
	if (!strcmp(argv[1], "describe"))
		return cmd_groups_describe(st, argv[2]);
	if (!strcmp(argv[1], "reset"))
		return cmd_groups_reset(st, argv + 2, quiet);
	return cmd_groups_delete(st, argv[2], quiet);
}

/* ============================== main ===================================== */

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "data-dir", required_argument, NULL, 'D' },
		{ "set", required_argument, NULL, 'S' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct tfs_config cfg;
	struct store_options so = { 0 };
	struct store *st = NULL;
	const char *config = NULL, *data_dir = NULL, *cmd;
	const char **sets;
	size_t nsets = 0;
	char err[1200], kv[TFS_PATH_MAX + 32];
	bool quiet = false;
	int c, rc, status = 1;

	sets = calloc((size_t)argc + 1, sizeof *sets);
	if (!sets)
		return 1;
	tfs_config_init(&cfg);
	while ((c = getopt_long(argc, argv, "+c:qhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 'D':
			data_dir = optarg;
			break;
		case 'S':
			sets[nsets++] = optarg;
			break;
		case 'q':
			quiet = true;
			break;
		case 'h':
			usage(stdout);
			status = 0;
			goto out;
		case 'V':
			printf("topicfs-admin %s\n", TOPICFS_VERSION);
			status = 0;
			goto out;
		default:
			fprintf(stderr, "try 'topicfs-admin --help'\n");
			status = EXIT_USAGE;
			goto out;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		status = EXIT_USAGE;
		goto out;
	}
	cmd = argv[optind];
	int cargc = argc - optind;
	char **cargv = argv + optind;
	if (!strcmp(cmd, "user")) {     /* SASL users, daemon running or not */
		status = admin_users_main(config, data_dir, sets, nsets, cargc, cargv, quiet);
		goto out;
	}
	if (!strcmp(cmd, "acl")) {      /* ACLs, daemon running or not */
		status = admin_acls_main(config, data_dir, sets, nsets, cargc, cargv, quiet);
		goto out;
	}
	bool is_create = !strcmp(cmd, "create"), is_delete = !strcmp(cmd, "delete");
	bool is_groups = !strcmp(cmd, "groups");
	if (!is_create && !is_delete && !is_groups && strcmp(cmd, "describe") &&
	    strcmp(cmd, "list")) {
		fprintf(stderr, "topicfs-admin: unknown command '%s' (create, describe, "
		        "list, delete, groups)\n", cmd);
		status = EXIT_USAGE;
		goto out;
	}
	if (is_groups && groups_args(cargc, cargv)) {
		status = EXIT_USAGE;
		goto out;
	}
	if ((is_create || is_delete) && (cargc < 2 || cargv[1][0] == '-')) {
		fprintf(stderr, "topicfs-admin: %s needs a TOPIC\n", cmd);
		status = EXIT_USAGE;
		goto out;
	}
	if ((is_delete && cargc > 2) || (!strcmp(cmd, "list") && cargc > 1)) {
		fprintf(stderr, "topicfs-admin: unexpected argument '%s'\n",
		        cargv[is_delete ? 2 : 1]);
		status = EXIT_USAGE;
		goto out;
	}

	/* the configuration, as the daemon builds it */
	if (config && tfs_config_load(&cfg, config, err, sizeof err))
		goto bad_config;
	for (size_t i = 0; i < nsets; i++)
		if (tfs_config_set(&cfg, sets[i], err, sizeof err))
			goto bad_config;
	if (data_dir) {
		snprintf(kv, sizeof kv, "storage.data_dir=%s", data_dir);
		if (tfs_config_set(&cfg, kv, err, sizeof err))
			goto bad_config;
	}
	if (is_create) {
		if (topic_name_check(cargv[1])) {
			fprintf(stderr, "topicfs-admin: create %s: invalid topic name (1..249 "
			        "of A-Z a-z 0-9 . _ -, not . or ..)\n", cargv[1]);
			status = EXIT_USAGE;
			goto out;
		}
		rc = create_options(&cfg, cargv[1], cargc - 1, cargv + 1);
		if (rc) {
			status = rc;
			goto out;
		}
	} else if (tfs_config_finish(&cfg, err, sizeof err)) {
		goto bad_config;
	}

	so.data_dir = cfg.data_dir;
	so.max_decompressed_bytes = (size_t)cfg.max_decompressed_bytes;
	/* the daemon's group settings, so opening here expires nothing the
	 * daemon would keep */
	so.offsets_retention_ms = cfg.offsets_retention_ms;
	so.max_groups = (size_t)cfg.max_groups;
	so.offsets_flush_messages = cfg.topic_defaults.flush_messages;
	so.offsets_flush_ms = cfg.topic_defaults.flush_ms;
	tfs_log_set_level(quiet ? TFS_LOG_ERROR : TFS_LOG_WARN);
	rc = store_open(&so, &st);
	if (rc == -EBUSY) {
		fprintf(stderr, "topicfs-admin: data dir %s is in use by a running topicfs "
		        "daemon (or another tool); stop it, or use the mount (mkdir, rmdir, "
		        "getfattr, .status)\n", cfg.data_dir);
		goto out;
	}
	if (rc) {
		fprintf(stderr, "topicfs-admin: cannot open data dir %s: %s\n", cfg.data_dir,
		        strerror(-rc));
		goto out;
	}
	if (is_create)
		status = cmd_create(st, &cfg, cargv[1], quiet);
	else if (is_delete)
		status = cmd_delete(st, cargv[1], quiet);
	else if (is_groups)
		status = cmd_groups(st, cargv, quiet);
	else if (!strcmp(cmd, "list"))
		status = cmd_list(st);
	else
		status = cmd_describe(st, cargc, cargv);
	goto out;

bad_config:
	fprintf(stderr, "topicfs-admin: %s\n", err);
	status = EXIT_USAGE;
out:
	if (st)
		store_close(st);
	tfs_config_free(&cfg);
	free(sets);
	if (fflush(stdout) != 0 && status == 0)
		status = 1;
	return status;
}
