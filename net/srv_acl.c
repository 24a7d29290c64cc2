/*
 * srv_acl.c - authorization on the TCP side (issue 14, ACL part): the
 * decision every handler asks for (srv_authorize and friends, one line at
 * each check) and the Kafka ACL APIs, DescribeAcls (29), CreateAcls (30)
 * and DeleteAcls (31), v0-3, flexible from v2.  The model and the file are
 * acl.c's; the rules are docs/PROTOCOL.md's "Authorization (ACLs)".
 *
 * DESIGN
 *
 * Who is checked.  A connection with client->super (a [sasl] super user,
 * or a loopback PLAINTEXT listener: local tools) may do everything, and so
 * may User:ANONYMOUS on a loopback listener (PLAINTEXT, or SSL without a
 * client certificate): both are "a local process", as before ACLs.  Every
 * other principal - a SASL login, a client certificate's subject anywhere,
 * User:ANONYMOUS on a non-loopback listener (possible only with [net]
 * allow_anonymous = true) - gets exactly what the bindings allow, nothing
 * by default.  Requests without a client (the fuzz harness, unit tests)
 * are not checked.
 *
 * The table.  <data_dir>/acls, read at srv_start (a file that does not
 * parse refuses the start: running without its DENY lines would be
 * wrong), opened relative to the store's directory fd with O_NOFOLLOW.
 * Changes: CreateAcls and DeleteAcls take the file's flock, read the file
 * again (so an edit by topicfs-admin is never lost), change, write it
 * atomically and only then answer; topicfs-admin does the same.  The
 * server notices outside changes by the file's inode, size and mtime,
 * checked at most once a second by the decisions, at every ACL API
 * request, and on SIGHUP; a damaged new file keeps the table loaded
 * before (an error line, once per version of the file).
 *
 * Thread-safety: server thread only (the table is not shared).  The flock
 * may make the server thread wait while topicfs-admin writes the file (a
 * few milliseconds: it holds the lock only to read, write and fsync).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "acl.h"
#include "clock.h"
#include "logger.h"
#include "srv_internal.h"

struct srv_acl {
	int dfd;                    /* the data dir (a dup of the store's) */
	struct acl_table t;
	struct stat sb;             /* of the file loaded (st_ino 0: none) */
	struct stat bad_sb;         /* of a damaged file already logged */
	int64_t checked_ms;         /* last change check */
};

/* ============================ the table ================================= */

/* Read the file again when it changed (force: whatever the clock says). */
static void acl_refresh(struct srv *s, bool force)
{
	struct srv_acl *a = s->acl;
	int64_t now = tfs_mono_ms();
	char err[600];

	if (!a || (!force && now - a->checked_ms < 1000))
		return;
	a->checked_ms = now;
	if (!acl_file_changed(a->dfd, ACL_FILE_NAME, &a->sb))
		return;
	struct acl_table t = { 0 };
	struct stat sb;
	int rc = acl_file_load(a->dfd, ACL_FILE_NAME, &t, &sb, err, sizeof err);
	if (rc) {
		struct stat now_sb;
		if (fstatat(a->dfd, ACL_FILE_NAME, &now_sb, AT_SYMLINK_NOFOLLOW) == 0 &&
		    now_sb.st_ino == a->bad_sb.st_ino &&
		    now_sb.st_mtim.tv_sec == a->bad_sb.st_mtim.tv_sec &&
		    now_sb.st_mtim.tv_nsec == a->bad_sb.st_mtim.tv_nsec &&
		    now_sb.st_size == a->bad_sb.st_size)
			return;             /* logged already */
		if (fstatat(a->dfd, ACL_FILE_NAME, &a->bad_sb, AT_SYMLINK_NOFOLLOW))
			memset(&a->bad_sb, 0, sizeof a->bad_sb);
		tfs_log(TFS_LOG_ERROR, "net: acl: %s; keeping the %zu bindings "
		        "loaded before", err, a->t.n);
		return;
	}
	acl_table_free(&a->t);
	a->t = t;
	a->sb = sb;
	tfs_log(TFS_LOG_INFO, "net: acl: %s read again: %zu bindings",
	        ACL_FILE_NAME, a->t.n);
}

int srv_acl_init(struct srv *s)
{
	char err[600];
	struct srv_acl *a = calloc(1, sizeof *a);
	if (!a)
		return -ENOMEM;
	a->dfd = fcntl(store_dir_fd(s->st), F_DUPFD_CLOEXEC, 0);
	if (a->dfd < 0) {
		int rc = -errno;
		tfs_log(TFS_LOG_ERROR, "net: acl: the data dir: %s", strerror(errno));
		free(a);
		return rc;
	}
	int rc = acl_file_load(a->dfd, ACL_FILE_NAME, &a->t, &a->sb, err, sizeof err);
	if (rc) {
		tfs_log(TFS_LOG_ERROR, "net: acl: %s (fix it, or remove it to start "
		        "with no bindings)", err);
		close(a->dfd);
		free(a);
		return rc == -ENOMEM ? rc : -EINVAL;
	}
	a->checked_ms = tfs_mono_ms();
	if (a->t.n)
		tfs_log(TFS_LOG_INFO, "net: acl: %zu bindings", a->t.n);
	s->acl = a;
	return 0;
}

void srv_acl_free(struct srv *s)
{
	if (!s->acl)
		return;
	acl_table_free(&s->acl->t);
	close(s->acl->dfd);
	free(s->acl);
	s->acl = NULL;
}

void srv_acl_reload(struct srv *s)
{
	acl_refresh(s, true);
}

/* ============================ decisions ================================= */

/* Not checked at all (see DESIGN)? */
static bool unchecked(const struct srv_req *req)
{
	const struct srv_client *cl = req->client;
	if (!cl || cl->super)
		return true;
	return req->listener && req->listener->loopback &&
	       (cl->sec == SRV_SEC_PLAINTEXT || cl->sec == SRV_SEC_SSL) &&
	       !strcmp(cl->principal, "User:ANONYMOUS");
}

/* The peer's address without the port ("[::1]:5" -> "::1"). */
static void peer_host(const struct srv_req *req, char *out, size_t len)
{
	const char *p = req->peer ? req->peer : "";
	const char *colon = strrchr(p, ':');
	size_t n = colon ? (size_t)(colon - p) : strlen(p);
	if (n >= 2 && p[0] == '[' && p[n - 1] == ']') {
		p++;
		n -= 2;
	}
	if (n >= len)
		n = len - 1;
	memcpy(out, p, n);
	out[n] = '\0';
}

static bool decide(struct srv *s, const struct srv_req *req, int type,
                   const char *name, int op, bool log)
{
	char host[80];
	if (unchecked(req))
		return true;
	acl_refresh(s, false);
	peer_host(req, host, sizeof host);
	bool ok = s->acl && acl_authorize(&s->acl->t, req->client->principal,
	                                  host, type, name, op);
	if (!ok && log)
		srv_log(s, "%s: acl: %s denied %s on %s %s (%s)",
		        req->peer ? req->peer : "?", req->client->principal,
		        acl_op_name(op), acl_res_name(type), name,
		        srv_api_name(req->api_key));
	return ok;
}

bool srv_authorize(struct srv *s, const struct srv_req *req, int res_type,
                   const char *name, int op)
{
	return decide(s, req, res_type, name, op, true);
}

bool srv_authorized_quiet(struct srv *s, const struct srv_req *req,
                          int res_type, const char *name, int op)
{
	return decide(s, req, res_type, name, op, false);
}

bool srv_authorize_wire(struct srv *s, const struct srv_req *req, int res_type,
                        const char *name, int len, int op)
{
	char buf[ACL_NAME_MAX + 1];
	if (unchecked(req))
		return true;
	if (len < 0 || (size_t)len >= sizeof buf || memchr(name, 0, (size_t)len)) {
		return false;           /* no binding names it */
	}
	memcpy(buf, name, (size_t)len);
	buf[len] = '\0';
	return decide(s, req, res_type, buf, op, true);
}

bool srv_authorize_cluster(struct srv *s, const struct srv_req *req, int op)
{
	return decide(s, req, ACL_RES_CLUSTER, ACL_CLUSTER_NAME, op, true);
}

bool srv_authorize_create_topic(struct srv *s, const struct srv_req *req,
                                const char *name)
{
	return decide(s, req, ACL_RES_CLUSTER, ACL_CLUSTER_NAME, ACL_OP_CREATE,
	              false) ||
	       decide(s, req, ACL_RES_TOPIC, name, ACL_OP_CREATE, true);
}

bool srv_authorize_idempotent(struct srv *s, const struct srv_req *req)
{
	char host[80];
	if (unchecked(req))
		return true;
	acl_refresh(s, false);
	peer_host(req, host, sizeof host);
	if (s->acl && (acl_authorize(&s->acl->t, req->client->principal, host,
	                             ACL_RES_CLUSTER, ACL_CLUSTER_NAME,
	                             ACL_OP_IDEMPOTENT_WRITE) ||
	               acl_authorize_any(&s->acl->t, req->client->principal, host,
	                                 ACL_RES_TOPIC, ACL_OP_WRITE)))
		return true;
	srv_log(s, "%s: acl: %s denied IDEMPOTENT_WRITE on CLUSTER (and WRITE on "
	        "every topic) (%s)", req->peer ? req->peer : "?",
	        req->client->principal, srv_api_name(req->api_key));
	return false;
}

/* ============================= the APIs ================================= */

/* A wire string into dst (NUL-terminated); false when null (unless
 * null_ok: dst "" and *is_null), too long or holding a NUL. */
static bool wire_copy(char *dst, size_t dst_len, const char *s, int len,
                      bool null_ok, bool *is_null)
{
	if (is_null)
		*is_null = len < 0;
	if (len < 0) {
		dst[0] = '\0';
		return null_ok;
	}
	if ((size_t)len >= dst_len || memchr(s, 0, (size_t)len))
		return false;
	memcpy(dst, s, (size_t)len);
	dst[len] = '\0';
	return true;
}

/* One filter off the wire (DescribeAcls' body, a DeleteAcls element).
 * Returns false when it does not parse (r->err); *invalid gets why the
 * filter is refused (INVALID_REQUEST), or NULL. */
struct wire_filter {
	struct acl_filter f;
	char name[ACL_NAME_MAX + 1], principal[ACL_NAME_MAX + 1];
	char host[ACL_HOST_MAX + 1];
};

static void read_filter(struct kw_reader *r, int v, bool flex,
                        struct wire_filter *wf, const char **invalid)
{
	const char *name, *principal, *host;
	int name_len, principal_len, host_len;
	bool nn = true, pn = true, hn = true;

	memset(&wf->f, 0, sizeof wf->f);
	*invalid = NULL;
	wf->f.res_type = kw_i8(r);
	kw_vstr(r, flex, &name, &name_len);
	wf->f.pattern = v >= 1 ? kw_i8(r) : ACL_PAT_LITERAL;
	kw_vstr(r, flex, &principal, &principal_len);
	kw_vstr(r, flex, &host, &host_len);
	wf->f.op = kw_i8(r);
	wf->f.perm = kw_i8(r);
	if (r->err)
		return;
	if (!wire_copy(wf->name, sizeof wf->name, name, name_len, true, &nn) ||
	    !wire_copy(wf->principal, sizeof wf->principal, principal,
	               principal_len, true, &pn) ||
	    !wire_copy(wf->host, sizeof wf->host, host, host_len, true, &hn))
		*invalid = "a name, principal or host that is too long";
	wf->f.name = nn ? NULL : wf->name;
	wf->f.principal = pn ? NULL : wf->principal;
	wf->f.host = hn ? NULL : wf->host;
	/* Kafka's codes: resource types up to 7 (USER), patterns 1-4,
	 * operations 1-14, permissions 1-3; 0 is UNKNOWN: refused */
	if (wf->f.res_type < ACL_RES_ANY || wf->f.res_type > 7 ||
	    wf->f.pattern < ACL_PAT_ANY || wf->f.pattern > ACL_PAT_PREFIXED ||
	    wf->f.op < ACL_OP_ANY || wf->f.op > 14 ||
	    wf->f.perm < ACL_PERM_ANY || wf->f.perm > ACL_PERM_ALLOW)
		*invalid = "unknown resource type, pattern type, operation or "
		           "permission type in the filter";
}

static bool same_resource(const struct acl_binding *a, const struct acl_binding *b)
{
	return a->res_type == b->res_type && a->pattern == b->pattern &&
	       !strcmp(a->name, b->name);
}

static void log_change(struct srv *s, const struct srv_req *req,
                       const char *what, const struct acl_binding *b)
{
	char line[ACL_LINE_MAX + 1], cid[80];
	if (acl_line_format(b, line, sizeof line) < 0)
		snprintf(line, sizeof line, "(too long)");
	srv_sanitize(cid, sizeof cid, req->client_id, req->client_id_len);
	tfs_log(TFS_LOG_INFO, "net: %s (client \"%s\", %s): acl %s: %s",
	        req->peer ? req->peer : "?", cid,
	        req->client ? req->client->principal : "-", what, line);
}

enum srv_verdict srv_api_describe_acls(struct srv *s, const struct srv_req *req,
                                       struct srv_resp *resp, int *park_ms,
                                       char *why, size_t why_len)
{
	int v = req->api_version;
	bool flex = req->flexible;
	struct kw_reader r;
	struct kw_writer *w = &resp->w;
	struct wire_filter wf;
	const char *invalid;
	(void)park_ms;

	kw_reader_init(&r, req->body, req->body_len);
	read_filter(&r, v, flex, &wf, &invalid);
	kw_vtags(&r, flex);
	if (r.err)
		return srv_malformed(req, why, why_len);

	int16_t err = KERR_NONE;
	const char *msg = NULL;
	if (!srv_authorize_cluster(s, req, ACL_OP_DESCRIBE)) {
		err = KERR_CLUSTER_AUTHORIZATION_FAILED;
		msg = "Cluster authorization failed.";
	} else if (invalid) {
		err = KERR_INVALID_REQUEST;
		msg = invalid;
	}
	if (!err)
		acl_refresh(s, true);

	srv_resp_begin_req(resp, req);
	kw_put_i32(w, 0);                           /* ThrottleTimeMs */
	kw_put_i16(w, err);
	kw_put_vcstr(w, flex, msg);
	const struct acl_table *t = s->acl && !err ? &s->acl->t : NULL;
	size_t n = t ? t->n : 0;
	bool *hit = n ? calloc(n, sizeof *hit) : NULL;
	if (n && !hit) {
		kw_put_varray(w, flex, 0);
		kw_put_vtags(w, flex);
		resp->alloc_failed = true;
		return SRV_RESPOND;
	}
	int32_t nres = 0;
	for (size_t i = 0; i < n; i++) {
		hit[i] = acl_filter_matches(&wf.f, &t->v[i]);
		if (!hit[i])
			continue;
		bool first = true;
		for (size_t j = 0; j < i && first; j++)
			if (hit[j] && same_resource(&t->v[j], &t->v[i]))
				first = false;
		nres += first;
	}
	kw_put_varray(w, flex, nres);
	for (size_t i = 0; i < n; i++) {
		if (!hit[i])
			continue;
		const struct acl_binding *b = &t->v[i];
		int32_t cnt = 0;
		for (size_t j = 0; j < n; j++)
			if (hit[j] && same_resource(&t->v[j], b))
				cnt++;
		kw_put_i8(w, b->res_type);
		kw_put_vcstr(w, flex, b->name);
		if (v >= 1)
			kw_put_i8(w, b->pattern);
		kw_put_varray(w, flex, cnt);
		for (size_t j = i; j < n; j++) {
			if (!hit[j] || !same_resource(&t->v[j], b))
				continue;
			const struct acl_binding *e = &t->v[j];
			kw_put_vcstr(w, flex, e->principal);
			kw_put_vcstr(w, flex, e->host);
			kw_put_i8(w, e->op);
			kw_put_i8(w, e->perm);
			kw_put_vtags(w, flex);
			if (j != i)
				hit[j] = false; /* written with its resource */
		}
		hit[i] = false;
		kw_put_vtags(w, flex);
	}
	free(hit);
	kw_put_vtags(w, flex);
	return SRV_RESPOND;
}

/* Under the file's lock: the table as the file holds it now, into *t.
 * 0, or an error code with msg (static or in buf). */
static int16_t locked_load(struct srv *s, int *lock_fd, struct acl_table *t,
                           char *buf, size_t buflen, const char **msg)
{
	if (!s->acl) {
		/* no srv_acl_init (the fuzz harness): no file to change */
		*lock_fd = -1;
		snprintf(buf, buflen, "no ACL file is loaded");
		*msg = buf;
		return KERR_UNKNOWN_SERVER_ERROR;
	}
	*lock_fd = acl_file_lock(s->acl->dfd, ACL_FILE_NAME);
	if (*lock_fd < 0) {
		snprintf(buf, buflen, "cannot lock the ACL file: %s",
		         strerror(-*lock_fd));
		*msg = buf;
		tfs_log(TFS_LOG_ERROR, "net: acl: %s", buf);
		return KERR_UNKNOWN_SERVER_ERROR;
	}
	int rc = acl_file_load(s->acl->dfd, ACL_FILE_NAME, t, NULL, buf, buflen);
	if (rc) {
		tfs_log(TFS_LOG_ERROR, "net: acl: %s: no change made", buf);
		*msg = buf;
		close(*lock_fd);
		*lock_fd = -1;
		return KERR_UNKNOWN_SERVER_ERROR;
	}
	return KERR_NONE;
}

/* Write t, make it the table in force, release the lock.  0 or an error
 * code with msg in buf. */
static int16_t locked_save(struct srv *s, int lock_fd, struct acl_table *t,
                           char *buf, size_t buflen, const char **msg)
{
	int16_t err = KERR_NONE;
	int rc = acl_file_save(s->acl->dfd, ACL_FILE_NAME, t, buf, buflen);
	if (rc) {
		tfs_log(TFS_LOG_ERROR, "net: acl: %s: no change made", buf);
		*msg = buf;
		err = KERR_UNKNOWN_SERVER_ERROR;
		acl_table_free(t);
	} else {
		acl_table_free(&s->acl->t);
		s->acl->t = *t;
		if (fstatat(s->acl->dfd, ACL_FILE_NAME, &s->acl->sb, AT_SYMLINK_NOFOLLOW))
			memset(&s->acl->sb, 0, sizeof s->acl->sb);
	}
	memset(t, 0, sizeof *t);
	close(lock_fd);
	return err;
}

#define ACL_MAX_PER_REQUEST 1000

enum srv_verdict srv_api_create_acls(struct srv *s, const struct srv_req *req,
                                     struct srv_resp *resp, int *park_ms,
                                     char *why, size_t why_len)
{
	int v = req->api_version;
	bool flex = req->flexible;
	struct kw_reader r;
	struct kw_writer *w = &resp->w;
	(void)park_ms;

	kw_reader_init(&r, req->body, req->body_len);
	/* an element: int8, STRING, [int8], STRING, STRING, int8, int8 */
	int32_t n = kw_varray(&r, flex, flex ? 6 : 9, false);
	if (r.err || n < 0)
		return srv_malformed(req, why, why_len);
	struct acl_binding *bs = n ? calloc((size_t)n, sizeof *bs) : NULL;
	const char **bad = n ? calloc((size_t)n, sizeof *bad) : NULL;
	int16_t *errs = n ? calloc((size_t)n, sizeof *errs) : NULL;
	if (n && (!bs || !bad || !errs)) {
		free(bs), free(bad), free(errs);
		snprintf(why, why_len, "createacls: out of memory");
		return SRV_CLOSE;
	}
	for (int32_t i = 0; i < n; i++) {
		const char *name, *principal, *host;
		int name_len, principal_len, host_len;
		struct acl_binding *b = &bs[i];
		b->res_type = kw_i8(&r);
		kw_vstr(&r, flex, &name, &name_len);
		b->pattern = v >= 1 ? kw_i8(&r) : ACL_PAT_LITERAL;
		kw_vstr(&r, flex, &principal, &principal_len);
		kw_vstr(&r, flex, &host, &host_len);
		b->op = kw_i8(&r);
		b->perm = kw_i8(&r);
		kw_vtags(&r, flex);
		if (r.err)
			break;
		if (!wire_copy(b->name, sizeof b->name, name, name_len, false, NULL) ||
		    !wire_copy(b->principal, sizeof b->principal, principal,
		               principal_len, false, NULL) ||
		    !wire_copy(b->host, sizeof b->host, host, host_len, false, NULL))
			bad[i] = "a null, too long or invalid resource name, principal "
			         "or host";
		else
			bad[i] = acl_binding_invalid(b);
	}
	kw_vtags(&r, flex);
	if (r.err) {
		free(bs), free(bad), free(errs);
		return srv_malformed(req, why, why_len);
	}

	char buf[700];
	const char *msg = NULL;
	int16_t all = KERR_NONE;
	if (!srv_authorize_cluster(s, req, ACL_OP_ALTER)) {
		all = KERR_CLUSTER_AUTHORIZATION_FAILED;
		msg = "Cluster authorization failed.";
	} else if (n > ACL_MAX_PER_REQUEST) {
		all = KERR_INVALID_REQUEST;
		msg = "too many ACL creations in one request (at most 1000)";
	}
	bool any = false;
	for (int32_t i = 0; i < n; i++) {
		errs[i] = all ? all : bad[i] ? KERR_INVALID_REQUEST : KERR_NONE;
		any |= !errs[i];
	}
	if (any) {
		struct acl_table t = { 0 };
		int lock_fd;
		int16_t err = locked_load(s, &lock_fd, &t, buf, sizeof buf, &msg);
		for (int32_t i = 0; !err && i < n; i++) {
			if (errs[i])
				continue;
			int rc = acl_table_add(&t, &bs[i]);
			if (rc < 0) {
				err = rc == -E2BIG ? KERR_INVALID_REQUEST
				                   : KERR_UNKNOWN_SERVER_ERROR;
				snprintf(buf, sizeof buf, "%s", rc == -E2BIG
				         ? "the ACL file is full (100000 bindings)"
				         : "out of memory");
				msg = buf;
			}
		}
		if (!err)
			err = locked_save(s, lock_fd, &t, buf, sizeof buf, &msg);
		else if (lock_fd >= 0) {
			acl_table_free(&t);
			close(lock_fd);
		}
		for (int32_t i = 0; i < n; i++) {
			if (errs[i])
				continue;
			if (err)
				errs[i] = err;
			else
				log_change(s, req, "created", &bs[i]);
		}
	}

	srv_resp_begin_req(resp, req);
	kw_put_i32(w, 0);                           /* ThrottleTimeMs */
	kw_put_varray(w, flex, n);
	for (int32_t i = 0; i < n; i++) {
		kw_put_i16(w, errs[i]);
		kw_put_vcstr(w, flex, !errs[i] ? NULL
		             : errs[i] == KERR_INVALID_REQUEST && bad[i] ? bad[i] : msg);
		kw_put_vtags(w, flex);
	}
	kw_put_vtags(w, flex);
	free(bs), free(bad), free(errs);
	return SRV_RESPOND;
}

enum srv_verdict srv_api_delete_acls(struct srv *s, const struct srv_req *req,
                                     struct srv_resp *resp, int *park_ms,
                                     char *why, size_t why_len)
{
	int v = req->api_version;
	bool flex = req->flexible;
	struct kw_reader r;
	struct kw_writer *w = &resp->w;
	(void)park_ms;

	kw_reader_init(&r, req->body, req->body_len);
	int32_t n = kw_varray(&r, flex, flex ? 6 : 9, false);
	if (r.err || n < 0)
		return srv_malformed(req, why, why_len);
	struct wire_filter *fs = n ? calloc((size_t)n, sizeof *fs) : NULL;
	const char **bad = n ? calloc((size_t)n, sizeof *bad) : NULL;
	int16_t *errs = n ? calloc((size_t)n, sizeof *errs) : NULL;
	struct acl_table *gone = n ? calloc((size_t)n, sizeof *gone) : NULL;
	if (n && (!fs || !bad || !errs || !gone)) {
		free(fs), free(bad), free(errs), free(gone);
		snprintf(why, why_len, "deleteacls: out of memory");
		return SRV_CLOSE;
	}
	for (int32_t i = 0; i < n && !r.err; i++) {
		read_filter(&r, v, flex, &fs[i], &bad[i]);
		kw_vtags(&r, flex);
	}
	kw_vtags(&r, flex);
	if (r.err) {
		free(fs), free(bad), free(errs), free(gone);
		return srv_malformed(req, why, why_len);
	}

	char buf[700];
	const char *msg = NULL;
	int16_t all = KERR_NONE;
	if (!srv_authorize_cluster(s, req, ACL_OP_ALTER)) {
		all = KERR_CLUSTER_AUTHORIZATION_FAILED;
		msg = "Cluster authorization failed.";
	} else if (n > ACL_MAX_PER_REQUEST) {
		all = KERR_INVALID_REQUEST;
		msg = "too many ACL filters in one request (at most 1000)";
	}
	bool any = false;
	for (int32_t i = 0; i < n; i++) {
		errs[i] = all ? all : bad[i] ? KERR_INVALID_REQUEST : KERR_NONE;
		any |= !errs[i];
	}
	if (any) {
		struct acl_table t = { 0 };
		int lock_fd;
		bool changed = false;
		int16_t err = locked_load(s, &lock_fd, &t, buf, sizeof buf, &msg);
		for (int32_t i = 0; !err && i < n; i++) {
			if (errs[i])
				continue;
			long k = acl_table_remove(&t, &fs[i].f, &gone[i]);
			if (k < 0) {
				err = KERR_UNKNOWN_SERVER_ERROR;
				msg = "out of memory";
			}
			changed |= k > 0;
		}
		if (!err && changed)
			err = locked_save(s, lock_fd, &t, buf, sizeof buf, &msg);
		else if (lock_fd >= 0) {
			acl_table_free(&t);
			close(lock_fd);
		}
		if (!err && !changed)
			acl_refresh(s, true);   /* what the file holds, even so */
		for (int32_t i = 0; i < n; i++) {
			if (errs[i])
				continue;
			if (err) {
				errs[i] = err;
				acl_table_free(&gone[i]);
				continue;
			}
			for (size_t j = 0; j < gone[i].n; j++)
				log_change(s, req, "deleted", &gone[i].v[j]);
		}
	}

	srv_resp_begin_req(resp, req);
	kw_put_i32(w, 0);                           /* ThrottleTimeMs */
	kw_put_varray(w, flex, n);
	for (int32_t i = 0; i < n; i++) {
		kw_put_i16(w, errs[i]);
		kw_put_vcstr(w, flex, !errs[i] ? NULL
		             : errs[i] == KERR_INVALID_REQUEST && bad[i] ? bad[i] : msg);
		kw_put_varray(w, flex, (int32_t)gone[i].n);
		for (size_t j = 0; j < gone[i].n; j++) {
			const struct acl_binding *b = &gone[i].v[j];
			kw_put_i16(w, KERR_NONE);
			kw_put_vcstr(w, flex, NULL);
			kw_put_i8(w, b->res_type);
			kw_put_vcstr(w, flex, b->name);
			if (v >= 1)
				kw_put_i8(w, b->pattern);
			kw_put_vcstr(w, flex, b->principal);
			kw_put_vcstr(w, flex, b->host);
			kw_put_i8(w, b->op);
			kw_put_i8(w, b->perm);
			kw_put_vtags(w, flex);
		}
		kw_put_vtags(w, flex);
		acl_table_free(&gone[i]);
	}
	kw_put_vtags(w, flex);
	free(fs), free(bad), free(errs), free(gone);
	return SRV_RESPOND;
}
