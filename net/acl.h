/*
 * acl.h - authorization: Kafka's ACL model (bindings, matching, the
 * implication rules) and the ACL file <data_dir>/acls.  Pure functions
 * over a table plus the file's load and atomic save; shared by the server
 * (net/srv_acl.c: enforcement and the Kafka ACL APIs) and topicfs-admin
 * (tools/admin_acls.c).  The rules are documented in docs/PROTOCOL.md,
 * "Authorization (ACLs)".
 *
 * DESIGN
 *
 * A binding is Kafka's AclBinding: resource (type, pattern type, name),
 * principal ("User:NAME" or "User:*"), host ("*" or one address),
 * operation and permission, with Kafka's numeric codes so the wire values
 * are stored as they come.  acl_authorize is Kafka's StandardAuthorizer
 * decision for one (principal, host, resource, operation): a matching
 * DENY wins; else a matching ALLOW (with the implications: READ, WRITE,
 * DELETE, ALTER imply DESCRIBE; ALTER_CONFIGS implies DESCRIBE_CONFIGS;
 * ALL matches every operation) allows; else denied (Kafka's default,
 * allow.everyone.if.no.acl.found=false).  Super users are the caller's
 * business.
 *
 * The file: one binding per line, seven fields separated by one space,
 *   ALLOW User:alice * READ TOPIC LITERAL orders
 * (permission, principal, host, operation, resource type, pattern type,
 * name); a byte of a field that is a space, a control byte, '%' or not
 * ASCII is written %XX (group names and certificate subjects may hold
 * spaces).  '#' lines and blank lines are ignored.  A line that does not
 * parse refuses the whole file (with its number), so a damaged file never
 * loses a DENY silently.  Written whole and atomically (temporary file
 * 0600, fsync, rename, directory fsync) under flock(2) of acls.lock, by
 * the daemon (CreateAcls, DeleteAcls) and by topicfs-admin alike; readers
 * see the old or the new file.  Both open it relative to a directory fd
 * with O_NOFOLLOW: a link is never followed.
 *
 * Not storage data: plain syscalls (CONVENTIONS 9).
 */
#ifndef TOPICFS_ACL_H
#define TOPICFS_ACL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

/* Kafka's codes (ResourceType, PatternType, AclOperation, AclPermissionType) */
enum acl_res {
	ACL_RES_ANY = 1,            /* filters only */
	ACL_RES_TOPIC = 2,
	ACL_RES_GROUP = 3,
	ACL_RES_CLUSTER = 4,        /* name "kafka-cluster" */
};
enum acl_pattern {
	ACL_PAT_ANY = 1,            /* filters only */
	ACL_PAT_MATCH = 2,          /* filters only: every binding that applies
	                               to the filter's name */
	ACL_PAT_LITERAL = 3,        /* name "*" = every resource of the type */
	ACL_PAT_PREFIXED = 4,
};
enum acl_op {
	ACL_OP_ANY = 1,             /* filters only */
	ACL_OP_ALL = 2,
	ACL_OP_READ = 3,
	ACL_OP_WRITE = 4,
	ACL_OP_CREATE = 5,
	ACL_OP_DELETE = 6,
	ACL_OP_ALTER = 7,
	ACL_OP_DESCRIBE = 8,
	ACL_OP_CLUSTER_ACTION = 9,
	ACL_OP_DESCRIBE_CONFIGS = 10,
	ACL_OP_ALTER_CONFIGS = 11,
	ACL_OP_IDEMPOTENT_WRITE = 12,
};
enum acl_perm {
	ACL_PERM_ANY = 1,           /* filters only */
	ACL_PERM_DENY = 2,
	ACL_PERM_ALLOW = 3,
};

#define ACL_CLUSTER_NAME "kafka-cluster"
#define ACL_NAME_MAX 255            /* resource name, principal */
#define ACL_HOST_MAX 63
#define ACL_FILE_NAME "acls"        /* in the data dir */
#define ACL_MAX_BINDINGS 100000     /* a bigger file is refused */

struct acl_binding {
	int8_t res_type;            /* ACL_RES_TOPIC, GROUP, CLUSTER */
	int8_t pattern;             /* ACL_PAT_LITERAL or PREFIXED */
	int8_t op;                  /* ACL_OP_ALL..IDEMPOTENT_WRITE */
	int8_t perm;                /* ACL_PERM_DENY or ALLOW */
	char name[ACL_NAME_MAX + 1];
	char principal[ACL_NAME_MAX + 1];
	char host[ACL_HOST_MAX + 1];
};

/* A filter (DescribeAcls, DeleteAcls): the ANY codes and NULL strings
 * match everything. */
struct acl_filter {
	int8_t res_type, pattern, op, perm;
	const char *name;           /* NULL = any */
	const char *principal;      /* NULL = any */
	const char *host;           /* NULL = any */
};

struct acl_table {
	struct acl_binding *v;
	size_t n, cap;
};

void acl_table_free(struct acl_table *t);
/* Append a copy (a binding already present is not added twice: Kafka's
 * CreateAcls of an existing binding succeeds and changes nothing).
 * 1 added, 0 already there, -ENOMEM, -E2BIG past ACL_MAX_BINDINGS. */
int acl_table_add(struct acl_table *t, const struct acl_binding *b);
/* Remove the bindings matching f; their copies go to *removed (may be
 * NULL) when it is not NULL.  Returns the count removed or -ENOMEM. */
long acl_table_remove(struct acl_table *t, const struct acl_filter *f,
                      struct acl_table *removed);

/* Kafka's names ("Read", "IdempotentWrite", "Topic", "Prefixed",
 * "Allow"), case-insensitive, with or without '_' ("IDEMPOTENT_WRITE");
 * -1 when unknown.  The *_name functions give the upper-case file form. */
int acl_op_parse(const char *s);
int acl_res_parse(const char *s);
int acl_pattern_parse(const char *s);
int acl_perm_parse(const char *s);
const char *acl_op_name(int op);
const char *acl_res_name(int res);
const char *acl_pattern_name(int pattern);
const char *acl_perm_name(int perm);

/* Is b a binding that may be stored?  NULL, or why not (a static
 * string): a filter-only code, an unknown code, a principal that is not
 * "User:NAME" / "User:*", an empty name, a cluster name other than
 * kafka-cluster, a host other than "*" or an address. */
const char *acl_binding_invalid(const struct acl_binding *b);

/* Does filter f match binding b (DescribeAcls, DeleteAcls; Kafka's
 * AclBindingFilter.matches, with PatternType MATCH)? */
bool acl_filter_matches(const struct acl_filter *f, const struct acl_binding *b);

/* The decision (see DESIGN) for principal, connecting from host (an
 * address without port; NULL = only "*" bindings match), on resource
 * (res_type, name), operation op. */
bool acl_authorize(const struct acl_table *t, const char *principal,
                   const char *host, int res_type, const char *name, int op);
/* Kafka 3's authorizeByResourceType: may principal do op on SOME resource
 * of res_type?  True when an ALLOW binding of that type (op or ALL, any
 * name and pattern) matches the principal and host, and no DENY of op or
 * ALL on the literal wildcard name of that type does.  (Idempotent
 * producers: IDEMPOTENT_WRITE on the cluster, or WRITE on any topic.) */
bool acl_authorize_any(const struct acl_table *t, const char *principal,
                       const char *host, int res_type, int op);

/* One line of the file (without the newline), into *b.  0, or -EINVAL
 * with the reason in err. */
int acl_line_parse(const char *line, size_t len, struct acl_binding *b,
                   char *err, size_t errlen);
/* The file line of b, without the newline; -ENOSPC when it did not fit
 * (a line fits in ACL_LINE_MAX). */
#define ACL_LINE_MAX 2400
int acl_line_format(const struct acl_binding *b, char *buf, size_t len);
/* A whole file's text into *out (replaced only on success).  0, or
 * -EINVAL / -E2BIG / -ENOMEM with "line N: reason" in err. */
int acl_parse(const char *text, size_t len, struct acl_table *out,
              char *err, size_t errlen);

/* Load <dfd>/<name> (O_NOFOLLOW; a regular file writable by its owner
 * only).  A missing file is an empty table (0).  sb (may be NULL) gets the
 * file's stat (zeroed for a missing file) for change detection.  0 or
 * -errno with the reason in err; *out is replaced only on success. */
int acl_file_load(int dfd, const char *name, struct acl_table *out,
                  struct stat *sb, char *err, size_t errlen);
/* Write t as <dfd>/<name> atomically (see DESIGN); the old file's owner
 * and group are kept.  The caller holds acl_file_lock.  0 or -errno with
 * the reason in err. */
int acl_file_save(int dfd, const char *name, const struct acl_table *t,
                  char *err, size_t errlen);
/* flock(2) of <dfd>/<name>.lock (created 0600, O_NOFOLLOW), exclusive,
 * waiting for it: the fd to close to release, or -errno. */
int acl_file_lock(int dfd, const char *name);
/* Has the file changed since sb (inode, size, mtime; present/absent)? */
bool acl_file_changed(int dfd, const char *name, const struct stat *sb);

#endif /* TOPICFS_ACL_H */
