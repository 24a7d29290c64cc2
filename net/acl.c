/*
 * acl.c - Kafka's ACL model and the ACL file (see acl.h).
 *
 * DESIGN
 *
 * The table is a plain array searched linearly: a decision walks every
 * binding once (deny first, then allow, in one pass).  Installations have
 * tens of bindings, and a request makes a handful of decisions, so an
 * index would cost more code than it saves; ACL_MAX_BINDINGS bounds the
 * worst case.  Everything here is free of global state; the caller
 * serializes access to a table.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "acl.h"

#define ACL_FILE_MAX ((size_t)64 << 20)

/* =============================== names ================================== */

static const char *const op_names[] = {
	[ACL_OP_ANY] = "ANY", [ACL_OP_ALL] = "ALL", [ACL_OP_READ] = "READ",
	[ACL_OP_WRITE] = "WRITE", [ACL_OP_CREATE] = "CREATE",
	[ACL_OP_DELETE] = "DELETE", [ACL_OP_ALTER] = "ALTER",
	[ACL_OP_DESCRIBE] = "DESCRIBE", [ACL_OP_CLUSTER_ACTION] = "CLUSTER_ACTION",
	[ACL_OP_DESCRIBE_CONFIGS] = "DESCRIBE_CONFIGS",
	[ACL_OP_ALTER_CONFIGS] = "ALTER_CONFIGS",
	[ACL_OP_IDEMPOTENT_WRITE] = "IDEMPOTENT_WRITE",
};
static const char *const res_names[] = {
	[ACL_RES_ANY] = "ANY", [ACL_RES_TOPIC] = "TOPIC",
	[ACL_RES_GROUP] = "GROUP", [ACL_RES_CLUSTER] = "CLUSTER",
};
static const char *const pattern_names[] = {
	[ACL_PAT_ANY] = "ANY", [ACL_PAT_MATCH] = "MATCH",
	[ACL_PAT_LITERAL] = "LITERAL", [ACL_PAT_PREFIXED] = "PREFIXED",
};
static const char *const perm_names[] = {
	[ACL_PERM_ANY] = "ANY", [ACL_PERM_DENY] = "DENY", [ACL_PERM_ALLOW] = "ALLOW",
};

#define NNAMES(a) ((int)(sizeof a / sizeof a[0]))

/* Case-insensitive, '_' ignored: "IdempotentWrite" == "IDEMPOTENT_WRITE". */
static bool name_eq(const char *a, const char *b)
{
	for (;;) {
		while (*a == '_')
			a++;
		while (*b == '_')
			b++;
		if (!*a || !*b)
			return !*a && !*b;
		if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
			return false;
		a++, b++;
	}
}

static int parse_in(const char *const *names, int n, const char *s)
{
	for (int i = 1; s && i < n; i++)
		if (names[i] && name_eq(names[i], s))
			return i;
	return -1;
}

static const char *name_of(const char *const *names, int n, int v)
{
	return v > 0 && v < n && names[v] ? names[v] : "UNKNOWN";
}

int acl_op_parse(const char *s) { return parse_in(op_names, NNAMES(op_names), s); }
int acl_res_parse(const char *s) { return parse_in(res_names, NNAMES(res_names), s); }
int acl_pattern_parse(const char *s)
{
	return parse_in(pattern_names, NNAMES(pattern_names), s);
}
int acl_perm_parse(const char *s) { return parse_in(perm_names, NNAMES(perm_names), s); }
const char *acl_op_name(int v) { return name_of(op_names, NNAMES(op_names), v); }
const char *acl_res_name(int v) { return name_of(res_names, NNAMES(res_names), v); }
const char *acl_pattern_name(int v)
{
	return name_of(pattern_names, NNAMES(pattern_names), v);
}
const char *acl_perm_name(int v) { return name_of(perm_names, NNAMES(perm_names), v); }

/* ============================== the table =============================== */

void acl_table_free(struct acl_table *t)
{
	free(t->v);
	t->v = NULL;
	t->n = t->cap = 0;
}

static bool binding_eq(const struct acl_binding *a, const struct acl_binding *b)
{
	return a->res_type == b->res_type && a->pattern == b->pattern &&
	       a->op == b->op && a->perm == b->perm && !strcmp(a->name, b->name) &&
	       !strcmp(a->principal, b->principal) && !strcmp(a->host, b->host);
}

static int table_push(struct acl_table *t, const struct acl_binding *b)
{
	if (t->n >= ACL_MAX_BINDINGS)
		return -E2BIG;
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		void *v = realloc(t->v, cap * sizeof *t->v);
		if (!v)
			return -ENOMEM;
		t->v = v;
		t->cap = cap;
	}
	t->v[t->n++] = *b;
	return 0;
}

int acl_table_add(struct acl_table *t, const struct acl_binding *b)
{
	for (size_t i = 0; i < t->n; i++)
		if (binding_eq(&t->v[i], b))
			return 0;
	int rc = table_push(t, b);
	return rc ? rc : 1;
}

long acl_table_remove(struct acl_table *t, const struct acl_filter *f,
                      struct acl_table *removed)
{
	size_t j = 0;
	long n = 0;
	/* copies first, so a failed allocation changes nothing */
	if (removed)
		for (size_t i = 0; i < t->n; i++)
			if (acl_filter_matches(f, &t->v[i]) && table_push(removed, &t->v[i]))
				return -ENOMEM;
	for (size_t i = 0; i < t->n; i++) {
		if (acl_filter_matches(f, &t->v[i])) {
			n++;
			continue;
		}
		t->v[j++] = t->v[i];
	}
	t->n = j;
	return n;
}

/* ============================== validity ================================ */

static bool host_ok(const char *h)
{
	if (!strcmp(h, "*"))
		return true;
	if (!*h)
		return false;
	for (; *h; h++)
		if (!isxdigit((unsigned char)*h) && *h != '.' && *h != ':')
			return false;
	return true;
}

const char *acl_binding_invalid(const struct acl_binding *b)
{
	if (b->res_type != ACL_RES_TOPIC && b->res_type != ACL_RES_GROUP &&
	    b->res_type != ACL_RES_CLUSTER)
		return "resource type must be TOPIC, GROUP or CLUSTER";
	if (b->pattern != ACL_PAT_LITERAL && b->pattern != ACL_PAT_PREFIXED)
		return "pattern type must be LITERAL or PREFIXED";
	if (b->op < ACL_OP_ALL || b->op > ACL_OP_IDEMPOTENT_WRITE)
		return "operation must be one of ALL, READ, WRITE, CREATE, DELETE, "
		       "ALTER, DESCRIBE, CLUSTER_ACTION, DESCRIBE_CONFIGS, "
		       "ALTER_CONFIGS, IDEMPOTENT_WRITE";
	if (b->perm != ACL_PERM_ALLOW && b->perm != ACL_PERM_DENY)
		return "permission type must be ALLOW or DENY";
	if (!b->name[0])
		return "empty resource name";
	if (b->res_type == ACL_RES_CLUSTER &&
	    (strcmp(b->name, ACL_CLUSTER_NAME) || b->pattern != ACL_PAT_LITERAL))
		return "the cluster resource is the literal name kafka-cluster";
	if (strncmp(b->principal, "User:", 5) || !b->principal[5])
		return "principal must be User:NAME or User:*";
	if (!host_ok(b->host))
		return "host must be * or an IP address";
	return NULL;
}

/* ============================== matching ================================ */

static bool res_matches(const struct acl_binding *b, int type, const char *name)
{
	if (b->res_type != type)
		return false;
	if (b->pattern == ACL_PAT_LITERAL)
		return !strcmp(b->name, "*") || !strcmp(b->name, name);
	if (b->pattern == ACL_PAT_PREFIXED)
		return !strncmp(name, b->name, strlen(b->name));
	return false;
}

static bool who_matches(const struct acl_binding *b, const char *principal,
                        const char *host)
{
	if (strcmp(b->principal, "User:*") &&
	    (!principal || strcmp(b->principal, principal)))
		return false;
	return !strcmp(b->host, "*") || (host && !strcmp(b->host, host));
}

/* Does an ALLOW binding of operation bop grant op (Kafka's implications)? */
static bool allow_grants(int bop, int op)
{
	if (bop == ACL_OP_ALL || bop == op)
		return true;
	if (op == ACL_OP_DESCRIBE)
		return bop == ACL_OP_READ || bop == ACL_OP_WRITE ||
		       bop == ACL_OP_DELETE || bop == ACL_OP_ALTER;
	if (op == ACL_OP_DESCRIBE_CONFIGS)
		return bop == ACL_OP_ALTER_CONFIGS;
	return false;
}

bool acl_authorize(const struct acl_table *t, const char *principal,
                   const char *host, int res_type, const char *name, int op)
{
	bool allowed = false;
	if (!t || !name)
		return false;
	for (size_t i = 0; i < t->n; i++) {
		const struct acl_binding *b = &t->v[i];
		if (!res_matches(b, res_type, name) || !who_matches(b, principal, host))
			continue;
		if (b->perm == ACL_PERM_DENY) {
			if (b->op == ACL_OP_ALL || b->op == op)
				return false;       /* deny wins */
		} else if (b->perm == ACL_PERM_ALLOW && allow_grants(b->op, op)) {
			allowed = true;
		}
	}
	return allowed;
}

bool acl_authorize_any(const struct acl_table *t, const char *principal,
                       const char *host, int res_type, int op)
{
	bool allowed = false;
	if (!t)
		return false;
	for (size_t i = 0; i < t->n; i++) {
		const struct acl_binding *b = &t->v[i];
		if (b->res_type != res_type || !who_matches(b, principal, host) ||
		    (b->op != ACL_OP_ALL && b->op != op))
			continue;
		if (b->perm == ACL_PERM_DENY && b->pattern == ACL_PAT_LITERAL &&
		    !strcmp(b->name, "*"))
			return false;
		if (b->perm == ACL_PERM_ALLOW)
			allowed = true;
	}
	return allowed;
}

bool acl_filter_matches(const struct acl_filter *f, const struct acl_binding *b)
{
	if (f->res_type != ACL_RES_ANY && f->res_type != b->res_type)
		return false;
	if (f->pattern == ACL_PAT_MATCH) {
		if (f->name && !res_matches(b, b->res_type, f->name))
			return false;
	} else {
		if (f->pattern != ACL_PAT_ANY && f->pattern != b->pattern)
			return false;
		if (f->name && strcmp(f->name, b->name))
			return false;
	}
	if (f->principal && strcmp(f->principal, b->principal))
		return false;
	if (f->host && strcmp(f->host, b->host))
		return false;
	if (f->op != ACL_OP_ANY && f->op != b->op)
		return false;
	return f->perm == ACL_PERM_ANY || f->perm == b->perm;
}

/* =============================== lines ================================== */

static bool needs_escape(unsigned char c)
{
	return c <= 0x20 || c >= 0x7f || c == '%';
}

/* Append field s (escaped) and a separator; false when it does not fit. */
static bool put_field(char *buf, size_t len, size_t *at, const char *s, char sep)
{
	static const char hex[] = "0123456789ABCDEF";
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*at + 4 > len)
			return false;
		if (needs_escape(*p)) {
			buf[(*at)++] = '%';
			buf[(*at)++] = hex[*p >> 4];
			buf[(*at)++] = hex[*p & 15];
		} else {
			buf[(*at)++] = (char)*p;
		}
	}
	if (*at + 2 > len)
		return false;
	if (sep)
		buf[(*at)++] = sep;
	buf[*at] = '\0';
	return true;
}

int acl_line_format(const struct acl_binding *b, char *buf, size_t len)
{
	size_t at = 0;
	if (!len)
		return -ENOSPC;
	buf[0] = '\0';
	if (!put_field(buf, len, &at, acl_perm_name(b->perm), ' ') ||
	    !put_field(buf, len, &at, b->principal, ' ') ||
	    !put_field(buf, len, &at, b->host, ' ') ||
	    !put_field(buf, len, &at, acl_op_name(b->op), ' ') ||
	    !put_field(buf, len, &at, acl_res_name(b->res_type), ' ') ||
	    !put_field(buf, len, &at, acl_pattern_name(b->pattern), ' ') ||
	    !put_field(buf, len, &at, b->name, 0))
		return -ENOSPC;
	return (int)at;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Unescape field [p, e) into dst (dst_len with the NUL); false if too
 * long, a bad escape or a NUL byte. */
static bool get_field(const char *p, const char *e, char *dst, size_t dst_len)
{
	size_t n = 0;
	while (p < e) {
		int c = (unsigned char)*p++;
		if (c == '%') {
			int h, l;
			if (e - p < 2 || (h = hexval(p[0])) < 0 || (l = hexval(p[1])) < 0)
				return false;
			c = h * 16 + l;
			p += 2;
		}
		if (c == 0 || n + 1 >= dst_len)
			return false;
		dst[n++] = (char)c;
	}
	dst[n] = '\0';
	return n > 0;
}

int acl_line_parse(const char *line, size_t len, struct acl_binding *b,
                   char *err, size_t errlen)
{
	const char *f[7], *fe[7], *p = line, *end = line + len;
	char word[32];
	int n = 0;

	while (end > p && end[-1] == '\r')
		end--;
	memset(b, 0, sizeof *b);
	while (p < end && n < 7) {
		f[n] = p;
		while (p < end && *p != ' ')
			p++;
		fe[n++] = p;
		if (p < end)
			p++;            /* one space */
	}
	if (n != 7 || p < end || fe[6] < end) {
		snprintf(err, errlen, "expected 7 fields separated by one space: "
		         "PERMISSION PRINCIPAL HOST OPERATION RESOURCE-TYPE "
		         "PATTERN-TYPE NAME");
		return -EINVAL;
	}
	int perm, op, res, pat;
	struct { int idx; int (*parse)(const char *); int *out; const char *what; }
	kw[] = {
		{ 0, acl_perm_parse, &perm, "permission" },
		{ 3, acl_op_parse, &op, "operation" },
		{ 4, acl_res_parse, &res, "resource type" },
		{ 5, acl_pattern_parse, &pat, "pattern type" },
	};
	for (size_t i = 0; i < sizeof kw / sizeof kw[0]; i++) {
		size_t l = (size_t)(fe[kw[i].idx] - f[kw[i].idx]);
		if (l >= sizeof word) {
			snprintf(err, errlen, "bad %s", kw[i].what);
			return -EINVAL;
		}
		memcpy(word, f[kw[i].idx], l);
		word[l] = '\0';
		*kw[i].out = kw[i].parse(word);
		if (*kw[i].out < 0) {
			snprintf(err, errlen, "unknown %s '%s'", kw[i].what, word);
			return -EINVAL;
		}
	}
	b->perm = (int8_t)perm;
	b->op = (int8_t)op;
	b->res_type = (int8_t)res;
	b->pattern = (int8_t)pat;
	if (!get_field(f[1], fe[1], b->principal, sizeof b->principal) ||
	    !get_field(f[2], fe[2], b->host, sizeof b->host) ||
	    !get_field(f[6], fe[6], b->name, sizeof b->name)) {
		snprintf(err, errlen, "a principal, host or name that is empty, too "
		         "long or badly %%-escaped");
		return -EINVAL;
	}
	const char *why = acl_binding_invalid(b);
	if (why) {
		snprintf(err, errlen, "%s", why);
		return -EINVAL;
	}
	return 0;
}

int acl_parse(const char *text, size_t len, struct acl_table *out,
              char *err, size_t errlen)
{
	struct acl_table t = { 0 };
	const char *p = text, *end = text + len;
	int lineno = 0;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		const char *q = p;
		lineno++;
		while (q < le && (*q == ' ' || *q == '\t' || *q == '\r'))
			q++;
		if (q < le && *q != '#') {
			struct acl_binding b;
			char why[256];
			int rc = acl_line_parse(p, (size_t)(le - p), &b, why, sizeof why);
			if (!rc) {
				rc = acl_table_add(&t, &b);
				if (rc > 0)
					rc = 0;
				else if (rc == -E2BIG)
					snprintf(why, sizeof why, "more than %d bindings",
					         ACL_MAX_BINDINGS);
				else if (rc)
					snprintf(why, sizeof why, "%s", strerror(-rc));
			}
			if (rc) {
				snprintf(err, errlen, "line %d: %s", lineno, why);
				acl_table_free(&t);
				return rc;
			}
		}
		p = nl ? nl + 1 : end;
	}
	acl_table_free(out);
	*out = t;
	return 0;
}

/* =============================== files ================================== */

int acl_file_load(int dfd, const char *name, struct acl_table *out,
                  struct stat *sb, char *err, size_t errlen)
{
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	int rc;

	if (sb)
		memset(sb, 0, sizeof *sb);
	int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		rc = -errno;
		if (rc == -ENOENT) {
			acl_table_free(out);
			return 0;
		}
		snprintf(err, errlen, "%s: %s%s", name, strerror(-rc),
		         rc == -ELOOP ? " (a symbolic link is never followed)" : "");
		return rc;
	}
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", name, strerror(-rc));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = -EINVAL;
		snprintf(err, errlen, "%s: not a regular file", name);
		goto out;
	}
	if (st.st_mode & 022) {
		rc = -EPERM;
		snprintf(err, errlen, "%s: writable by group or others (mode %04o): "
		         "refused; chmod 600 it", name, (unsigned)(st.st_mode & 07777));
		goto out;
	}
	if ((size_t)st.st_size > ACL_FILE_MAX) {
		rc = -E2BIG;
		snprintf(err, errlen, "%s: larger than %zu bytes", name, ACL_FILE_MAX);
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		rc = -ENOMEM;
		snprintf(err, errlen, "%s: out of memory", name);
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = -errno;
			snprintf(err, errlen, "%s: %s", name, strerror(-rc));
			goto out;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	{
		char why[400];
		rc = acl_parse(buf, got, out, why, sizeof why);
		if (rc)
			snprintf(err, errlen, "%s: %s", name, why);
	}
	if (!rc && sb)
		*sb = st;
out:
	free(buf);
	close(fd);
	return rc;
}

bool acl_file_changed(int dfd, const char *name, const struct stat *sb)
{
	struct stat st;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return sb->st_ino != 0;             /* gone, or still absent */
	return st.st_ino != sb->st_ino || st.st_dev != sb->st_dev ||
	       st.st_size != sb->st_size ||
	       st.st_mtim.tv_sec != sb->st_mtim.tv_sec ||
	       st.st_mtim.tv_nsec != sb->st_mtim.tv_nsec;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* The owner new files get: the old file's, else the directory's. */
static void owner_of(int dfd, const char *name, uid_t *uid, gid_t *gid)
{
	struct stat st;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode)) {
		*uid = st.st_uid;
		*gid = st.st_gid;
	} else if (fstat(dfd, &st) == 0) {
		*uid = st.st_uid;
		*gid = st.st_gid;
	} else {
		*uid = geteuid();
		*gid = getegid();
	}
}

int acl_file_save(int dfd, const char *name, const struct acl_table *t,
                  char *err, size_t errlen)
{
	char tmp[300], line[ACL_LINE_MAX + 1];
	uid_t uid;
	gid_t gid;
	int rc = 0, fd;
	size_t cap = 4096, len = 0;
	char *text;

	if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", name) >= sizeof tmp)
		return -ENAMETOOLONG;
	text = malloc(cap);
	if (!text)
		return -ENOMEM;
	len = (size_t)snprintf(text, cap, "# topicfs ACLs: PERMISSION PRINCIPAL "
	                       "HOST OPERATION RESOURCE-TYPE PATTERN-TYPE NAME\n"
	                       "# written by topicfs; edit with topicfs-admin acl\n");
	for (size_t i = 0; i < t->n; i++) {
		int l = acl_line_format(&t->v[i], line, sizeof line);
		if (l < 0) {
			free(text);
			snprintf(err, errlen, "%s: a binding too long to write", name);
			return l;
		}
		if (len + (size_t)l + 2 > cap) {
			while (len + (size_t)l + 2 > cap)
				cap *= 2;
			char *n = realloc(text, cap);
			if (!n) {
				free(text);
				return -ENOMEM;
			}
			text = n;
		}
		memcpy(text + len, line, (size_t)l);
		len += (size_t)l;
		text[len++] = '\n';
	}
	owner_of(dfd, name, &uid, &gid);
	(void)unlinkat(dfd, tmp, 0);        /* left by a crash; we hold the lock */
	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	            0600);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", tmp, strerror(-rc));
		free(text);
		return rc;
	}
	if ((uid != geteuid() || gid != getegid()) && fchown(fd, uid, gid) < 0 &&
	    errno != EPERM) {
		rc = -errno;
		snprintf(err, errlen, "%s: chown: %s", tmp, strerror(-rc));
	}
	if (!rc && (rc = write_all(fd, text, len)) < 0)
		snprintf(err, errlen, "%s: write: %s", tmp, strerror(-rc));
	if (!rc && fsync(fd) < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: fsync: %s", tmp, strerror(-rc));
	}
	if (close(fd) < 0 && !rc) {
		rc = -errno;
		snprintf(err, errlen, "%s: close: %s", tmp, strerror(-rc));
	}
	free(text);
	if (!rc && renameat(dfd, tmp, dfd, name) < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: rename: %s", name, strerror(-rc));
	}
	if (rc) {
		(void)unlinkat(dfd, tmp, 0);
		return rc;
	}
	if (fsync(dfd) < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: fsync of the directory: %s", name,
		         strerror(-rc));
	}
	return rc;
}

int acl_file_lock(int dfd, const char *name)
{
	char path[300];
	uid_t uid;
	gid_t gid;

	if ((size_t)snprintf(path, sizeof path, "%s.lock", name) >= sizeof path)
		return -ENAMETOOLONG;
	owner_of(dfd, name, &uid, &gid);
	int fd = openat(dfd, path, O_RDONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) == 0 && (st.st_uid != uid || st.st_gid != gid))
		if (fchown(fd, uid, gid)) {     /* root for a daemon's user */
		}
	while (flock(fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			int rc = -errno;
			close(fd);
			return rc;
		}
	}
	return fd;
}
