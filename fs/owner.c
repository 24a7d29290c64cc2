/*
 * owner.c - owners and modes in the mount (issue 14): who owns a topic,
 * the modes of everything in it, and who may change them.
 *
 * A topic has an owner uid, gid and the permission bits of its directory
 * (storage.h, struct topic_owner; kept in its .topic file).  mkdir stores
 * the caller's uid and gid and the mkdir mode less the caller's umask; a
 * topic made any other way (over TCP, by a [topic.NAME] section, before
 * owners existed) is the daemon's, 0755.  Everything inside a topic takes
 * the topic's uid and gid and a mode DERIVED from the directory's:
 *
 *   topic directory       the stored mode (S_IFDIR)
 *   partition <p>         dir mode & 0666: a 0755 topic has 0644
 *                         partitions, 0777 gives 0666, 0750 gives 0640
 *   view <p>@...          dir mode & 0444 (read-only, whatever the dir)
 *   @keyed, @json         dir mode & 0222 (write-only)
 *
 * So "may append to the topic" is "may write its directory", and "may read
 * it" is "may read its directory"; the kernel enforces the derived modes
 * (default_permissions, always on with allow_other: daemon/main.c).
 *
 * Changes (setattr on a topic directory; everything else refuses mode and
 * owner changes with EPERM: change the topic instead):
 *   chmod    the owner or root; the new mode & 07777; the setgid bit is
 *            dropped when a caller other than root is not in the topic's
 *            group (the kernel's rule)
 *   chown    uid: root only (the owner may "change" it to itself); gid:
 *            root, or the owner to a group it is in (its primary group or
 *            a supplementary one: the caller thread's /proc status)
 * "Root" is the caller's uid 0 (capabilities are not looked at).  Every
 * change is written to the .topic file before it is answered
 * (topic_set_owner), so it survives a restart; a failed write changes
 * nothing.
 *
 * The root directory: 0755 without allow_other (only the mounting user
 * comes in anyway); 1777 with allow_other, so any user may mkdir a topic
 * (its own) and the sticky bit lets only a topic's owner (or root) rmdir
 * it (the kernel checks, with default_permissions; rmdir also needs
 * [fs] allow_delete).
 *
 * Thread-safe: no state here; the owner lives in struct topic (cfg_mu).
 */
#define FUSE_USE_VERSION 312

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fuse_lowlevel.h>

#include "fs_int.h"
#include "logger.h"


void fso_caller_get(struct fuse_req *req, struct fso_caller *out)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);

	out->uid = (uint32_t)ctx->uid;
	out->gid = (uint32_t)ctx->gid;
	out->umask = (uint32_t)ctx->umask;
	out->pid = ctx->pid;
}

/* Is gid among the supplementary groups of the calling thread?  Read from
 * /proc/<tid>/status ("Groups:" line), bounded and NUL-terminated here:
 * libfuse 3.14's fuse_req_getgroups reads that file into a 4 KiB buffer
 * and runs strstr past its end when the file fills it (AddressSanitizer
 * caught it in the CI pass). */
static bool proc_in_group(pid_t pid, uint32_t gid)
{
	char path[64], buf[16384];
	ssize_t n;
	size_t got = 0;
	int fd;

	snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	while (got < sizeof buf - 1 &&
	       (n = read(fd, buf + got, sizeof buf - 1 - got)) > 0)
		got += (size_t)n;
	close(fd);
	buf[got] = '\0';
	const char *g = strstr(buf, "\nGroups:");
	if (!g)
		return false;
	g += strlen("\nGroups:");
	for (;;) {
		char *end;
		while (*g == ' ' || *g == '\t')
			g++;
		if (*g < '0' || *g > '9')
			return false;   /* the end of the line (or of the buffer) */
		unsigned long v = strtoul(g, &end, 10);
		if (end == g)
			return false;
		if (v == gid)
			return true;
		g = end;
	}
}

bool fso_caller_in_group(const struct fso_caller *c, uint32_t gid)
{
	if (c->gid == gid)
		return true;
	if (c->pid <= 0)
		return false;
	return proc_in_group(c->pid, gid);
}

bool fso_may(const struct fso_caller *c, const struct topic_owner *o,
             unsigned want)
{
	unsigned bits;

	if (c->uid == 0)
		return true;
	if (c->uid == o->uid)
		bits = (o->mode >> 6) & 7;
	else if (fso_caller_in_group(c, o->gid))
		bits = (o->mode >> 3) & 7;
	else
		bits = o->mode & 7;
	return (bits & want) == want;
}

void fso_owner_for_mkdir(const struct fso_caller *c, uint32_t mode,
                         struct topic_owner *out)
{
	out->uid = c->uid;
	out->gid = c->gid;
	out->mode = mode & ~c->umask & TOPIC_MODE_MASK;
	out->stored = true;
}

void fso_fill_stat(const struct topic_owner *o, enum fso_object what,
                   struct stat *st)
{
	st->st_uid = (uid_t)o->uid;
	st->st_gid = (gid_t)o->gid;
	switch (what) {
	case FSO_TOPIC_DIR:
		st->st_mode = S_IFDIR | (o->mode & TOPIC_MODE_MASK);
		break;
	case FSO_PARTITION:
		st->st_mode = S_IFREG | (o->mode & 0666);
		break;
	case FSO_VIEW:
		st->st_mode = S_IFREG | (o->mode & 0444);
		break;
	case FSO_WRITER:
		st->st_mode = S_IFREG | (o->mode & 0222);
		break;
	}
}

uint32_t fso_root_mode(bool allow_other)
{
	return allow_other ? 01777 : 0755;
}

int fso_topic_setattr(struct topic *t, const struct stat *attr, int to_set,
                      const struct fso_caller *c)
{
	struct topic_owner cur, next;
	bool root = c->uid == 0, owner;
	int rc;

	topic_get_owner(t, &cur);
	next = cur;
	owner = c->uid == cur.uid;
	if (to_set & FUSE_SET_ATTR_UID) {
		next.uid = (uint32_t)attr->st_uid;
		if (!root && !(owner && next.uid == cur.uid))
			return -EPERM;
	}
	if (to_set & FUSE_SET_ATTR_GID) {
		next.gid = (uint32_t)attr->st_gid;
		if (!root && !(owner && (next.gid == cur.gid ||
		                         fso_caller_in_group(c, next.gid))))
			return -EPERM;
	}
	if (to_set & FUSE_SET_ATTR_MODE) {
		if (!root && !owner)
			return -EPERM;
		next.mode = (uint32_t)attr->st_mode & TOPIC_MODE_MASK;
		if (!root && (next.mode & S_ISGID) && !fso_caller_in_group(c, next.gid))
			next.mode &= ~(uint32_t)S_ISGID;
	}
	if (next.uid == UINT32_MAX || next.gid == UINT32_MAX)
		return -EINVAL;
	if (next.uid == cur.uid && next.gid == cur.gid && next.mode == cur.mode &&
	    cur.stored)
		return 0;               /* nothing to write */
	rc = topic_set_owner(t, &next);
	if (rc == 0)
		tfs_log(TFS_LOG_INFO, "fs: topic %s: owner %u:%u mode %04o (was "
		        "%u:%u %04o), by uid %u",
		        topic_name(t), (unsigned)next.uid, (unsigned)next.gid,
		        (unsigned)next.mode, (unsigned)cur.uid, (unsigned)cur.gid,
		        (unsigned)cur.mode, (unsigned)c->uid);
	return rc;
}
