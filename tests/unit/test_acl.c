/*
 * test_acl.c - the ACL model and file (net/acl.c): literal, wildcard and
 * prefixed resources, principal and host matching, deny wins, Kafka's
 * implications (READ/WRITE/DELETE/ALTER -> DESCRIBE, ALTER_CONFIGS ->
 * DESCRIBE_CONFIGS), ALL, the default deny, authorize-by-type, filters
 * (DescribeAcls/DeleteAcls, MATCH included), the line format and its
 * escapes, file parse errors, and the atomic save/load round trip with
 * change detection and links refused.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "acl.h"
#include "testutil.h"
#include "tinytest.h"

static struct acl_binding B(int perm, const char *who, int op, int type,
                            int pattern, const char *name)
{
	struct acl_binding b = { .res_type = (int8_t)type, .pattern = (int8_t)pattern,
	                         .op = (int8_t)op, .perm = (int8_t)perm };
	snprintf(b.name, sizeof b.name, "%s", name);
	snprintf(b.principal, sizeof b.principal, "%s", who);
	snprintf(b.host, sizeof b.host, "*");
	return b;
}

static void add(struct acl_table *t, struct acl_binding b)
{
	CHECK(acl_binding_invalid(&b) == NULL);
	CHECK(acl_table_add(t, &b) == 1);
}

#define ALLOW ACL_PERM_ALLOW
#define DENY ACL_PERM_DENY
#define TOPIC ACL_RES_TOPIC
#define GROUP ACL_RES_GROUP
#define LIT ACL_PAT_LITERAL
#define PRE ACL_PAT_PREFIXED
#define AUTH(t, who, type, name, op) acl_authorize(t, who, "10.0.0.1", type, name, op)

static void test_literal_wildcard_prefixed(void)
{
	struct acl_table t = { 0 };
	/* default deny: nothing matches */
	CHECK(!AUTH(&t, "User:alice", TOPIC, "A", ACL_OP_READ));
	add(&t, B(ALLOW, "User:alice", ACL_OP_READ, TOPIC, LIT, "A"));
	CHECK(AUTH(&t, "User:alice", TOPIC, "A", ACL_OP_READ));
	CHECK(!AUTH(&t, "User:alice", TOPIC, "AB", ACL_OP_READ));
	CHECK(!AUTH(&t, "User:alice", TOPIC, "A", ACL_OP_WRITE));
	CHECK(!AUTH(&t, "User:bob", TOPIC, "A", ACL_OP_READ));
	CHECK(!AUTH(&t, "User:alice", GROUP, "A", ACL_OP_READ));   /* type */
	/* prefixed */
	add(&t, B(ALLOW, "User:bob", ACL_OP_WRITE, TOPIC, PRE, "logs-"));
	CHECK(AUTH(&t, "User:bob", TOPIC, "logs-web", ACL_OP_WRITE));
	CHECK(AUTH(&t, "User:bob", TOPIC, "logs-", ACL_OP_WRITE));
	CHECK(!AUTH(&t, "User:bob", TOPIC, "log", ACL_OP_WRITE));
	CHECK(!AUTH(&t, "User:bob", TOPIC, "xlogs-web", ACL_OP_WRITE));
	/* literal "*": every topic; User:* every principal */
	add(&t, B(ALLOW, "User:*", ACL_OP_DESCRIBE, TOPIC, LIT, "*"));
	CHECK(AUTH(&t, "User:carol", TOPIC, "anything", ACL_OP_DESCRIBE));
	CHECK(!AUTH(&t, "User:carol", TOPIC, "anything", ACL_OP_READ));
	/* a prefixed "*" is a name that starts with '*', not a wildcard */
	add(&t, B(ALLOW, "User:dave", ACL_OP_READ, TOPIC, PRE, "*"));
	CHECK(!AUTH(&t, "User:dave", TOPIC, "x", ACL_OP_READ));
	/* hosts */
	struct acl_binding h = B(ALLOW, "User:erin", ACL_OP_READ, TOPIC, LIT, "H");
	snprintf(h.host, sizeof h.host, "10.0.0.2");
	add(&t, h);
	CHECK(!AUTH(&t, "User:erin", TOPIC, "H", ACL_OP_READ));
	CHECK(acl_authorize(&t, "User:erin", "10.0.0.2", TOPIC, "H", ACL_OP_READ));
	CHECK(!acl_authorize(&t, "User:erin", NULL, TOPIC, "H", ACL_OP_READ));
	acl_table_free(&t);
}

static void test_deny_wins_implications_all(void)
{
	struct acl_table t = { 0 };
	struct acl_binding empty = B(ALLOW, "User:alice", ACL_OP_ALL, TOPIC, PRE, "");
	CHECK(acl_binding_invalid(&empty) != NULL);

	add(&t, B(ALLOW, "User:alice", ACL_OP_ALL, TOPIC, LIT, "*"));
	CHECK(AUTH(&t, "User:alice", TOPIC, "x", ACL_OP_WRITE));
	CHECK(AUTH(&t, "User:alice", TOPIC, "x", ACL_OP_ALTER_CONFIGS));
	add(&t, B(DENY, "User:alice", ACL_OP_WRITE, TOPIC, PRE, "secret"));
	CHECK(!AUTH(&t, "User:alice", TOPIC, "secret-1", ACL_OP_WRITE));
	CHECK(AUTH(&t, "User:alice", TOPIC, "secret-1", ACL_OP_READ));
	/* a DENY of WRITE does not deny DESCRIBE (implications are for
	 * ALLOW only), a DENY of ALL denies everything */
	CHECK(AUTH(&t, "User:alice", TOPIC, "secret-1", ACL_OP_DESCRIBE));
	add(&t, B(DENY, "User:*", ACL_OP_ALL, TOPIC, LIT, "vault"));
	CHECK(!AUTH(&t, "User:alice", TOPIC, "vault", ACL_OP_DESCRIBE));
	acl_table_free(&t);

	/* implications */
	static const int describe_by[] = { ACL_OP_READ, ACL_OP_WRITE,
	                                   ACL_OP_DELETE, ACL_OP_ALTER };
	for (size_t i = 0; i < 4; i++) {
		struct acl_table u = { 0 };
		add(&u, B(ALLOW, "User:a", describe_by[i], TOPIC, LIT, "T"));
		CHECK(AUTH(&u, "User:a", TOPIC, "T", ACL_OP_DESCRIBE));
		CHECK(!AUTH(&u, "User:a", TOPIC, "T", ACL_OP_DESCRIBE_CONFIGS));
		acl_table_free(&u);
	}
	add(&t, B(ALLOW, "User:a", ACL_OP_CREATE, TOPIC, LIT, "T"));
	CHECK(!AUTH(&t, "User:a", TOPIC, "T", ACL_OP_DESCRIBE));
	add(&t, B(ALLOW, "User:a", ACL_OP_ALTER_CONFIGS, TOPIC, LIT, "T"));
	CHECK(AUTH(&t, "User:a", TOPIC, "T", ACL_OP_DESCRIBE_CONFIGS));
	CHECK(!AUTH(&t, "User:a", TOPIC, "T", ACL_OP_DESCRIBE));
	/* READ does not imply WRITE nor the reverse */
	add(&t, B(ALLOW, "User:b", ACL_OP_READ, TOPIC, LIT, "T"));
	CHECK(!AUTH(&t, "User:b", TOPIC, "T", ACL_OP_WRITE));
	acl_table_free(&t);
}

static void test_authorize_any(void)
{
	struct acl_table t = { 0 };
	CHECK(!acl_authorize_any(&t, "User:p", "h", TOPIC, ACL_OP_WRITE));
	add(&t, B(ALLOW, "User:p", ACL_OP_WRITE, TOPIC, PRE, "out-"));
	CHECK(acl_authorize_any(&t, "User:p", "h", TOPIC, ACL_OP_WRITE));
	CHECK(!acl_authorize_any(&t, "User:q", "h", TOPIC, ACL_OP_WRITE));
	CHECK(!acl_authorize_any(&t, "User:p", "h", TOPIC, ACL_OP_READ));
	add(&t, B(DENY, "User:p", ACL_OP_WRITE, TOPIC, LIT, "*"));
	CHECK(!acl_authorize_any(&t, "User:p", "h", TOPIC, ACL_OP_WRITE));
	acl_table_free(&t);
}

static void test_filters_and_remove(void)
{
	struct acl_table t = { 0 }, gone = { 0 };
	add(&t, B(ALLOW, "User:a", ACL_OP_READ, TOPIC, LIT, "orders"));
	add(&t, B(ALLOW, "User:a", ACL_OP_READ, TOPIC, LIT, "*"));
	add(&t, B(ALLOW, "User:b", ACL_OP_WRITE, TOPIC, PRE, "ord"));
	add(&t, B(DENY, "User:b", ACL_OP_READ, GROUP, LIT, "orders"));
	struct acl_binding dup = B(ALLOW, "User:a", ACL_OP_READ, TOPIC, LIT, "orders");
	CHECK(acl_table_add(&t, &dup) == 0);        /* already there */
	CHECK(t.n == 4);

	struct acl_filter any = { ACL_RES_ANY, ACL_PAT_ANY, ACL_OP_ANY, ACL_PERM_ANY,
	                          NULL, NULL, NULL };
	size_t n = 0;
	for (size_t i = 0; i < t.n; i++)
		n += acl_filter_matches(&any, &t.v[i]);
	CHECK(n == 4);
	/* ANY with a name: exact names only */
	struct acl_filter f = any;
	f.name = "orders";
	n = 0;
	for (size_t i = 0; i < t.n; i++)
		n += acl_filter_matches(&f, &t.v[i]);
	CHECK(n == 2);                      /* topic orders, group orders */
	/* MATCH: every binding that applies to topic "orders" */
	f.res_type = TOPIC;
	f.pattern = ACL_PAT_MATCH;
	n = 0;
	for (size_t i = 0; i < t.n; i++)
		n += acl_filter_matches(&f, &t.v[i]);
	CHECK(n == 3);                      /* literal, wildcard, prefixed */
	/* remove by principal */
	struct acl_filter byp = any;
	byp.principal = "User:b";
	CHECK(acl_table_remove(&t, &byp, &gone) == 2);
	CHECK(gone.n == 2 && t.n == 2);
	CHECK(!strcmp(t.v[0].name, "orders") && !strcmp(t.v[1].name, "*"));
	acl_table_free(&t);
	acl_table_free(&gone);
}

static void test_lines(void)
{
	struct acl_binding b, c;
	char line[ACL_LINE_MAX + 1], err[256];
	b = B(ALLOW, "User:CN=alice,OU=eng,O=Acme Inc", ACL_OP_DESCRIBE_CONFIGS,
	      GROUP, PRE, "team 50%");
	CHECK(acl_line_format(&b, line, sizeof line) > 0);
	CHECK(!strcmp(line, "ALLOW User:CN=alice,OU=eng,O=Acme%20Inc * "
	              "DESCRIBE_CONFIGS GROUP PREFIXED team%2050%25"));
	CHECK(acl_line_parse(line, strlen(line), &c, err, sizeof err) == 0);
	CHECK(!memcmp(&b, &c, sizeof b) || (!strcmp(b.name, c.name) &&
	      !strcmp(b.principal, c.principal) && b.op == c.op));
	/* Kafka's spellings are accepted too */
	const char *ok = "Allow User:bob * IdempotentWrite Cluster Literal kafka-cluster";
	CHECK(acl_line_parse(ok, strlen(ok), &c, err, sizeof err) == 0);
	CHECK(c.op == ACL_OP_IDEMPOTENT_WRITE && c.res_type == ACL_RES_CLUSTER);

	static const char *const bad[] = {
		"ALLOW User:a * READ TOPIC LITERAL",              /* 6 fields */
		"ALLOW User:a * READ TOPIC LITERAL a b",          /* 8 */
		"ALLOW  User:a * READ TOPIC LITERAL a",           /* two spaces */
		"MAYBE User:a * READ TOPIC LITERAL a",
		"ALLOW User:a * READ TOPIC MATCH a",              /* filter only */
		"ALLOW User:a * ANY TOPIC LITERAL a",
		"ALLOW Group:a * READ TOPIC LITERAL a",
		"ALLOW User: * READ TOPIC LITERAL a",
		"ALLOW User:a * READ CLUSTER LITERAL other",
		"ALLOW User:a * READ TOPIC LITERAL a%2",          /* bad escape */
		"ALLOW User:a * READ TOPIC LITERAL a%00b",        /* NUL */
		"ALLOW User:a evil.example * READ TOPIC LITERAL a",
		"ALLOW User:a host!name READ TOPIC LITERAL a",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err[0] = '\0';
		CHECK(acl_line_parse(bad[i], strlen(bad[i]), &c, err, sizeof err) == -EINVAL);
		CHECK(err[0] != '\0');
	}
	/* a whole file: comments, blanks, CRLF; an error names its line */
	struct acl_table t = { 0 };
	const char *text = "# c\n\nALLOW User:a * READ TOPIC LITERAL x\r\n"
	                   "  # indented comment\nDENY User:* * ALL GROUP PREFIXED g\n";
	CHECK(acl_parse(text, strlen(text), &t, err, sizeof err) == 0);
	CHECK(t.n == 2);
	const char *broken = "ALLOW User:a * READ TOPIC LITERAL x\nnonsense\n";
	CHECK(acl_parse(broken, strlen(broken), &t, err, sizeof err) == -EINVAL);
	CHECK(!strncmp(err, "line 2:", 7));
	CHECK(t.n == 2);                    /* unchanged on failure */
	acl_table_free(&t);
}

static void test_file_roundtrip(void)
{
	char dir[256], path[400], err[800];
	struct acl_table t = { 0 }, u = { 0 };
	struct stat sb, st;
	tu_tmpdir_make(dir, sizeof dir, "test_acl");
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);
	REQUIRE(dfd >= 0);

	/* missing: empty, and "changed" once it appears */
	CHECK(acl_file_load(dfd, ACL_FILE_NAME, &t, &sb, err, sizeof err) == 0);
	CHECK(t.n == 0 && sb.st_ino == 0);
	CHECK(!acl_file_changed(dfd, ACL_FILE_NAME, &sb));
	add(&t, B(ALLOW, "User:alice", ACL_OP_READ, TOPIC, LIT, "A"));
	add(&t, B(DENY, "User:bob", ACL_OP_ALL, GROUP, PRE, "g g"));
	int lock = acl_file_lock(dfd, ACL_FILE_NAME);
	CHECK(lock >= 0);
	CHECK(acl_file_save(dfd, ACL_FILE_NAME, &t, err, sizeof err) == 0);
	close(lock);
	CHECK(acl_file_changed(dfd, ACL_FILE_NAME, &sb));
	snprintf(path, sizeof path, "%s/%s", dir, ACL_FILE_NAME);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 07777) == 0600);
	CHECK(acl_file_load(dfd, ACL_FILE_NAME, &u, &sb, err, sizeof err) == 0);
	CHECK(u.n == 2 && !strcmp(u.v[1].name, "g g") && u.v[1].perm == DENY);
	CHECK(!acl_file_changed(dfd, ACL_FILE_NAME, &sb));
	CHECK(acl_authorize(&u, "User:alice", NULL, TOPIC, "A", ACL_OP_DESCRIBE));

	/* group-writable: refused, the table kept */
	chmod(path, 0620);
	CHECK(acl_file_load(dfd, ACL_FILE_NAME, &u, NULL, err, sizeof err) == -EPERM);
	CHECK(u.n == 2);
	chmod(path, 0600);
	/* damaged: refused with the line */
	FILE *f = fopen(path, "a");
	REQUIRE(f);
	fputs("ALLOW User:x * FLY TOPIC LITERAL y\n", f);
	fclose(f);
	CHECK(acl_file_load(dfd, ACL_FILE_NAME, &u, NULL, err, sizeof err) == -EINVAL);
	CHECK(strstr(err, "line 5") && strstr(err, "FLY"));
	CHECK(u.n == 2);
	/* a link is never followed */
	char target[400];
	snprintf(target, sizeof target, "%s/elsewhere", dir);
	unlink(path);
	f = fopen(target, "w");
	REQUIRE(f);
	fputs("ALLOW User:x * ALL TOPIC LITERAL *\n", f);
	fclose(f);
	chmod(target, 0600);
	CHECK(symlink("elsewhere", path) == 0);
	CHECK(acl_file_load(dfd, ACL_FILE_NAME, &u, NULL, err, sizeof err) == -ELOOP);
	CHECK(u.n == 2);
	close(dfd);
	acl_table_free(&t);
	acl_table_free(&u);
	tu_tmpdir_remove(dir);
}

static void test_names(void)
{
	CHECK(acl_op_parse("Read") == ACL_OP_READ);
	CHECK(acl_op_parse("describe_configs") == ACL_OP_DESCRIBE_CONFIGS);
	CHECK(acl_op_parse("DescribeConfigs") == ACL_OP_DESCRIBE_CONFIGS);
	CHECK(acl_op_parse("ClusterAction") == ACL_OP_CLUSTER_ACTION);
	CHECK(acl_op_parse("Fly") == -1);
	CHECK(acl_pattern_parse("prefixed") == ACL_PAT_PREFIXED);
	CHECK(acl_res_parse("topic") == ACL_RES_TOPIC);
	CHECK(!strcmp(acl_op_name(ACL_OP_ALTER_CONFIGS), "ALTER_CONFIGS"));
	CHECK(!strcmp(acl_op_name(99), "UNKNOWN"));
}

int main(int argc, char **argv)
{
	TT_INIT(argc, argv);
	RUN(test_literal_wildcard_prefixed);
	RUN(test_deny_wins_implications_all);
	RUN(test_authorize_any);
	RUN(test_filters_and_remove);
	RUN(test_lines);
	RUN(test_file_roundtrip);
	RUN(test_names);
	return TT_DONE();
}
