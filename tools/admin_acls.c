/*
 * admin_acls.c - `topicfs-admin acl add|list|delete`: the ACL file
 * <data_dir>/acls (format and rules in net/acl.h and docs/PROTOCOL.md,
 * "Authorization (ACLs)"), with kafka-acls' flags:
 *
 *   topicfs-admin [-c FILE] [--data-dir DIR] acl add
 *       (--allow-principal User:NAME | --deny-principal User:NAME)...
 *       [--allow-host ADDR | --deny-host ADDR] --operation OP...
 *       (--topic NAME | --group NAME | --cluster)...
 *       [--resource-pattern-type literal|prefixed]
 *   ... acl list [--topic NAME | --group NAME | --cluster]...
 *       [--principal User:NAME] [--resource-pattern-type any|match|literal|
 *       prefixed]                 (default any)
 *   ... acl delete  the flags of add; a principal, operation or host not
 *       given matches every one; at least one resource
 *
 * OP: Kafka's names, any case (Read, Write, Create, Delete, Alter,
 * Describe, ClusterAction, DescribeConfigs, AlterConfigs, IdempotentWrite,
 * All); add checks each against the resource type as kafka-acls does.
 *
 * DESIGN
 *
 * Works while the daemon runs: under the flock of acls.lock (the daemon's
 * CreateAcls/DeleteAcls take it too) the file is read, changed and written
 * atomically (acl_file_save), so no change of either side is lost.  The
 * daemon notices the new file within a second (it checks inode, size and
 * mtime at most once a second) or at once on SIGHUP.  A file that does not
 * parse is refused, not replaced.  The data dir is resolved once and
 * opened O_DIRECTORY|O_NOFOLLOW; the file is opened relative to it with
 * O_NOFOLLOW (acl.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "acl.h"
#include "admin_acls.h"
#include "admin_users.h"
#include "config.h"

#define MAX_ITEMS 64

struct acl_args {
	const char *allow[MAX_ITEMS], *deny[MAX_ITEMS];
	int nallow, ndeny;
	const char *allow_host, *deny_host;
	int ops[MAX_ITEMS];
	int nops;
	struct { int type; const char *name; } res[MAX_ITEMS];
	int nres;
	int pattern;                /* -1: not given */
	const char *principal;      /* list */
};

static bool push(int *n, const char *what)
{
	if (*n >= MAX_ITEMS) {
		fprintf(stderr, "topicfs-admin: acl: more than %d %s\n", MAX_ITEMS, what);
		return false;
	}
	(*n)++;
	return true;
}

/* 0, or EXIT_ADMIN_USAGE with a message. */
static int parse_args(int argc, char **argv, struct acl_args *a)
{
	memset(a, 0, sizeof *a);
	a->pattern = -1;
	for (int i = 2; i < argc; i++) {
		const char *f = argv[i];
		bool has_value = strcmp(f, "--cluster") != 0;
		if (has_value && i + 1 >= argc) {
			fprintf(stderr, "topicfs-admin: acl: %s needs a value\n", f);
			return EXIT_ADMIN_USAGE;
		}
		const char *val = has_value ? argv[++i] : NULL;
		if (!strcmp(f, "--allow-principal")) {
			if (!push(&a->nallow, "principals"))
				return EXIT_ADMIN_USAGE;
			a->allow[a->nallow - 1] = val;
		} else if (!strcmp(f, "--deny-principal")) {
			if (!push(&a->ndeny, "principals"))
				return EXIT_ADMIN_USAGE;
			a->deny[a->ndeny - 1] = val;
		} else if (!strcmp(f, "--allow-host")) {
			a->allow_host = val;
		} else if (!strcmp(f, "--deny-host")) {
			a->deny_host = val;
		} else if (!strcmp(f, "--principal")) {
			a->principal = val;
		} else if (!strcmp(f, "--operation")) {
			int op = acl_op_parse(val);
			if (op < ACL_OP_ALL) {
				fprintf(stderr, "topicfs-admin: acl: unknown operation '%s' "
				        "(Read, Write, Create, Delete, Alter, Describe, "
				        "ClusterAction, DescribeConfigs, AlterConfigs, "
				        "IdempotentWrite, All)\n", val);
				return EXIT_ADMIN_USAGE;
			}
			if (!push(&a->nops, "operations"))
				return EXIT_ADMIN_USAGE;
			a->ops[a->nops - 1] = op;
		} else if (!strcmp(f, "--topic") || !strcmp(f, "--group") ||
		           !strcmp(f, "--cluster")) {
			if (!push(&a->nres, "resources"))
				return EXIT_ADMIN_USAGE;
			a->res[a->nres - 1].type = f[2] == 't' ? ACL_RES_TOPIC
			                         : f[2] == 'g' ? ACL_RES_GROUP
			                                       : ACL_RES_CLUSTER;
			a->res[a->nres - 1].name = val ? val : ACL_CLUSTER_NAME;
			if (val && (!*val || strlen(val) > ACL_NAME_MAX)) {
				fprintf(stderr, "topicfs-admin: acl: %s: a name of 1..%d "
				        "bytes\n", f, ACL_NAME_MAX);
				return EXIT_ADMIN_USAGE;
			}
		} else if (!strcmp(f, "--resource-pattern-type")) {
			a->pattern = acl_pattern_parse(val);
			if (a->pattern < 0) {
				fprintf(stderr, "topicfs-admin: acl: unknown pattern type '%s' "
				        "(literal, prefixed; list: any, match)\n", val);
				return EXIT_ADMIN_USAGE;
			}
		} else {
			fprintf(stderr, "topicfs-admin: acl: unknown flag '%s'\n", f);
			return EXIT_ADMIN_USAGE;
		}
	}
	return 0;
}

/* kafka-acls' table of the operations each resource type knows. */
static bool op_fits(int type, int op)
{
	if (op == ACL_OP_ALL)
		return true;
	switch (type) {
	case ACL_RES_TOPIC:
		return op == ACL_OP_READ || op == ACL_OP_WRITE || op == ACL_OP_CREATE ||
		       op == ACL_OP_DESCRIBE || op == ACL_OP_DELETE ||
		       op == ACL_OP_ALTER || op == ACL_OP_DESCRIBE_CONFIGS ||
		       op == ACL_OP_ALTER_CONFIGS;
	case ACL_RES_GROUP:
		return op == ACL_OP_READ || op == ACL_OP_DESCRIBE || op == ACL_OP_DELETE;
	case ACL_RES_CLUSTER:
		return op == ACL_OP_CREATE || op == ACL_OP_CLUSTER_ACTION ||
		       op == ACL_OP_DESCRIBE_CONFIGS || op == ACL_OP_ALTER_CONFIGS ||
		       op == ACL_OP_IDEMPOTENT_WRITE || op == ACL_OP_ALTER ||
		       op == ACL_OP_DESCRIBE;
	}
	return false;
}

/* The data dir, resolved and opened without following a link. */
static int open_data_dir(const char *dir)
{
	char *real = realpath(dir, NULL);
	if (!real) {
		fprintf(stderr, "topicfs-admin: data dir %s: %s\n", dir, strerror(errno));
		return -1;
	}
	int fd = open(real, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		fprintf(stderr, "topicfs-admin: data dir %s: %s\n", real, strerror(errno));
	free(real);
	return fd;
}

static void print_binding(const struct acl_binding *b)
{
	char line[ACL_LINE_MAX + 1];
	if (acl_line_format(b, line, sizeof line) >= 0)
		printf("%s\n", line);
}

static int acl_add(int dfd, const struct acl_args *a, bool quiet)
{
	struct acl_table t = { 0 };
	char err[800];
	int status = 1, added = 0;

	if (!a->nallow && !a->ndeny) {
		fprintf(stderr, "topicfs-admin: acl add: --allow-principal or "
		        "--deny-principal needed\n");
		return EXIT_ADMIN_USAGE;
	}
	if (!a->nops || !a->nres) {
		fprintf(stderr, "topicfs-admin: acl add: --operation and a resource "
		        "(--topic, --group, --cluster) needed\n");
		return EXIT_ADMIN_USAGE;
	}
	if (a->pattern != -1 && a->pattern != ACL_PAT_LITERAL &&
	    a->pattern != ACL_PAT_PREFIXED) {
		fprintf(stderr, "topicfs-admin: acl add: --resource-pattern-type is "
		        "literal or prefixed\n");
		return EXIT_ADMIN_USAGE;
	}
	for (int r = 0; r < a->nres; r++)
		for (int o = 0; o < a->nops; o++)
			if (!op_fits(a->res[r].type, a->ops[o])) {
				fprintf(stderr, "topicfs-admin: acl add: operation %s is not "
				        "one of a %s's\n", acl_op_name(a->ops[o]),
				        acl_res_name(a->res[r].type));
				return EXIT_ADMIN_USAGE;
			}
	int lock = acl_file_lock(dfd, ACL_FILE_NAME);
	if (lock < 0) {
		fprintf(stderr, "topicfs-admin: %s.lock: %s\n", ACL_FILE_NAME,
		        strerror(-lock));
		return 1;
	}
	if (acl_file_load(dfd, ACL_FILE_NAME, &t, NULL, err, sizeof err)) {
		fprintf(stderr, "topicfs-admin: %s\n", err);
		goto out;
	}
	for (int p = 0; p < a->nallow + a->ndeny; p++) {
		bool allow = p < a->nallow;
		const char *who = allow ? a->allow[p] : a->deny[p - a->nallow];
		const char *host = allow ? a->allow_host : a->deny_host;
		for (int r = 0; r < a->nres; r++)
			for (int o = 0; o < a->nops; o++) {
				struct acl_binding b = {
					.res_type = (int8_t)a->res[r].type,
					.pattern = (int8_t)(a->res[r].type == ACL_RES_CLUSTER ||
					           a->pattern == -1 ? ACL_PAT_LITERAL
					                            : a->pattern),
					.op = (int8_t)a->ops[o],
					.perm = allow ? ACL_PERM_ALLOW : ACL_PERM_DENY,
				};
				snprintf(b.name, sizeof b.name, "%s", a->res[r].name);
				snprintf(b.principal, sizeof b.principal, "%s", who);
				snprintf(b.host, sizeof b.host, "%s", host ? host : "*");
				const char *why = strlen(who) > ACL_NAME_MAX ||
				                  (host && strlen(host) > ACL_HOST_MAX)
				                  ? "principal or host too long"
				                  : acl_binding_invalid(&b);
				if (why) {
					fprintf(stderr, "topicfs-admin: acl add: %s\n", why);
					status = EXIT_ADMIN_USAGE;
					goto out;
				}
				int rc = acl_table_add(&t, &b);
				if (rc < 0) {
					fprintf(stderr, "topicfs-admin: acl add: %s\n",
					        rc == -E2BIG ? "the ACL file is full"
					                     : strerror(-rc));
					goto out;
				}
				added += rc;
				if (rc && !quiet) {
					printf("added: ");
					print_binding(&b);
				}
			}
	}
	if (added && acl_file_save(dfd, ACL_FILE_NAME, &t, err, sizeof err)) {
		fprintf(stderr, "topicfs-admin: %s\n", err);
		goto out;
	}
	if (!added && !quiet)
		printf("nothing added: every binding was there already\n");
	status = 0;
out:
	acl_table_free(&t);
	close(lock);
	return status;
}

/* Each resource x principal (or any) x operation (or any), as filters. */
static int acl_delete(int dfd, const struct acl_args *a, bool quiet)
{
	struct acl_table t = { 0 }, gone = { 0 };
	char err[800];
	int status = 1;

	if (!a->nres) {
		fprintf(stderr, "topicfs-admin: acl delete: a resource (--topic, "
		        "--group, --cluster) needed\n");
		return EXIT_ADMIN_USAGE;
	}
	int lock = acl_file_lock(dfd, ACL_FILE_NAME);
	if (lock < 0) {
		fprintf(stderr, "topicfs-admin: %s.lock: %s\n", ACL_FILE_NAME,
		        strerror(-lock));
		return 1;
	}
	if (acl_file_load(dfd, ACL_FILE_NAME, &t, NULL, err, sizeof err)) {
		fprintf(stderr, "topicfs-admin: %s\n", err);
		goto out;
	}
	int np = a->nallow + a->ndeny;
	for (int r = 0; r < a->nres; r++)
		for (int p = 0; p < (np ? np : 1); p++)
			for (int o = 0; o < (a->nops ? a->nops : 1); o++) {
				bool allow = p < a->nallow;
				struct acl_filter f = {
					.res_type = (int8_t)a->res[r].type,
					.pattern = (int8_t)(a->pattern == -1 ? ACL_PAT_LITERAL
					                                     : a->pattern),
					.op = (int8_t)(a->nops ? a->ops[o] : ACL_OP_ANY),
					.perm = !np ? ACL_PERM_ANY
					        : allow ? ACL_PERM_ALLOW : ACL_PERM_DENY,
					.name = a->res[r].name,
					.principal = !np ? NULL : allow ? a->allow[p]
					                                : a->deny[p - a->nallow],
					.host = !np ? NULL : allow ? a->allow_host : a->deny_host,
				};
				if (acl_table_remove(&t, &f, &gone) < 0) {
					fprintf(stderr, "topicfs-admin: out of memory\n");
					goto out;
				}
			}
	if (gone.n && acl_file_save(dfd, ACL_FILE_NAME, &t, err, sizeof err)) {
		fprintf(stderr, "topicfs-admin: %s\n", err);
		goto out;
	}
	if (!quiet) {
		for (size_t i = 0; i < gone.n; i++) {
			printf("deleted: ");
			print_binding(&gone.v[i]);
		}
		if (!gone.n)
			printf("nothing matched\n");
	}
	status = 0;
out:
	acl_table_free(&t);
	acl_table_free(&gone);
	close(lock);
	return status;
}

static int acl_list(int dfd, const struct acl_args *a)
{
	struct acl_table t = { 0 };
	char err[800];

	if (acl_file_load(dfd, ACL_FILE_NAME, &t, NULL, err, sizeof err)) {
		fprintf(stderr, "topicfs-admin: %s\n", err);
		return 1;
	}
	for (size_t i = 0; i < t.n; i++) {
		bool shown = !a->nres;
		for (int r = 0; r < a->nres && !shown; r++) {
			struct acl_filter f = {
				.res_type = (int8_t)a->res[r].type,
				.pattern = (int8_t)(a->pattern == -1 ? ACL_PAT_ANY : a->pattern),
				.op = ACL_OP_ANY, .perm = ACL_PERM_ANY,
				.name = a->res[r].name,
			};
			shown = acl_filter_matches(&f, &t.v[i]);
		}
		if (shown && a->principal && strcmp(a->principal, t.v[i].principal))
			shown = false;
		if (shown && !a->nres && a->pattern > ACL_PAT_MATCH &&
		    t.v[i].pattern != a->pattern)
			shown = false;
		if (shown)
			print_binding(&t.v[i]);
	}
	acl_table_free(&t);
	return 0;
}

int admin_acls_main(const char *config, const char *data_dir,
                    const char *const *sets, size_t nsets, int argc,
                    char **argv, bool quiet)
{
	struct tfs_config cfg;
	struct acl_args a;
	char err[1200], kv[TFS_PATH_MAX + 32];
	int status = EXIT_ADMIN_USAGE;
	const char *verb = argc > 1 ? argv[1] : "";

	if (strcmp(verb, "add") && strcmp(verb, "delete") && strcmp(verb, "list")) {
		fprintf(stderr, "topicfs-admin: acl %s: expected add, delete or list\n",
		        verb);
		return EXIT_ADMIN_USAGE;
	}
	if (parse_args(argc, argv, &a))
		return EXIT_ADMIN_USAGE;
	tfs_config_init(&cfg);
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
	if (tfs_config_finish(&cfg, err, sizeof err))
		goto bad_config;
	int dfd = open_data_dir(cfg.data_dir);
	if (dfd < 0) {
		status = 1;
		goto out;
	}
	if (!strcmp(verb, "add"))
		status = acl_add(dfd, &a, quiet);
	else if (!strcmp(verb, "delete"))
		status = acl_delete(dfd, &a, quiet);
	else
		status = acl_list(dfd, &a);
	close(dfd);
	goto out;
bad_config:
	fprintf(stderr, "topicfs-admin: %s\n", err);
out:
	tfs_config_free(&cfg);
	return status;
}
