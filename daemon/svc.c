/*
 * svc.c - what topicfs needs to behave like a service: the mount-helper
 * option split (so `mount -t fuse.topicfs` and /etc/fstab work) and the
 * systemd readiness protocol (so Type=notify units know when it is up).
 *
 * Mount options
 * -------------
 * mount(8) runs /sbin/mount.fuse.topicfs, which is mount.fuse3: it runs
 *     topicfs SOURCE MOUNTPOINT -o OPTS
 * through /bin/sh, after removing the options only mount(8) understands
 * (user, nouser, users, auto, noauto, _netdev, nofail, defaults, ...).
 * The -o list then mixes FUSE options with topicfs settings, and a
 * setting must not reach fuse_session_new (which refuses what it does not
 * know).  Each comma-separated option is classified:
 *
 *   config=FILE             the INI file, as -c FILE
 *   SECTION.KEY=VALUE       a setting, as --set SECTION.KEY=VALUE (any key
 *                           of the table: storage.linger_ms=5,
 *                           topic.orders.partitions=3); a name with a dot
 *                           is never a FUSE option
 *   listen=HOST:PORT        short for net.listen=HOST:PORT
 *   metrics=HOST:PORT       short for metrics.listen=HOST:PORT
 *   log_level=LEVEL         short for log.level=LEVEL
 *   defaults, auto, noauto, user, users, nouser, owner, group, _netdev,
 *   nofail, x-*, comment=*  mount(8)/fstab-only: dropped (mount.fuse3
 *                           drops most of them already; topicfs run by
 *                           hand with an fstab option list must not fail)
 *   anything else           passed to FUSE (allow_other, ro, noatime, ...)
 *
 * Values cannot contain commas (fstab and mount(8) split on them).
 *
 * sd_notify
 * ---------
 * systemd's protocol is one datagram of "KEY=VALUE\n" lines sent to the
 * AF_UNIX socket named by $NOTIFY_SOCKET (a path, or "@name" for the
 * abstract namespace).  The daemon sends READY=1 once the mount is up and
 * the TCP port (and the metrics port) listen, and STOPPING=1 when it
 * starts to shut down.  No libsystemd: the protocol is stable and small.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "svc.h"

/* ============================== mount options ============================ */

static int append_opt(char **list, const char *opt, size_t len)
{
	size_t old = *list ? strlen(*list) : 0;
	char *n = realloc(*list, old + len + 2);
	if (!n)
		return -ENOMEM;
	if (old)
		n[old++] = ',';
	memcpy(n + old, opt, len);
	n[old + len] = '\0';
	*list = n;
	return 0;
}

static int add_set(struct svc_mount_opts *o, const char *prefix,
                   const char *opt, size_t len)
{
	size_t pl = prefix ? strlen(prefix) : 0;
	char **sets = realloc(o->sets, (o->nsets + 1) * sizeof *sets);
	char *s;

	if (!sets)
		return -ENOMEM;
	o->sets = sets;
	s = malloc(pl + len + 1);
	if (!s)
		return -ENOMEM;
	if (pl)
		memcpy(s, prefix, pl);
	memcpy(s + pl, opt, len);
	s[pl + len] = '\0';
	o->sets[o->nsets++] = s;
	return 0;
}

static bool is_mount_only(const char *opt, size_t len, size_t namelen)
{
	static const char *const drop[] = {
		"defaults", "auto", "noauto", "user", "users", "nouser", "owner",
		"group", "_netdev", "nofail",
	};
	if (namelen == len) {
		for (size_t i = 0; i < sizeof drop / sizeof drop[0]; i++)
			if (strlen(drop[i]) == len && !memcmp(opt, drop[i], len))
				return true;
	}
	if (len >= 2 && !memcmp(opt, "x-", 2))
		return true;
	if (namelen == 7 && !memcmp(opt, "comment", 7))
		return true;
	return false;
}

int svc_mount_opts_split(const char *opts, struct svc_mount_opts *out,
                         char *err, size_t errlen)
{
	const char *p = opts;
	int rc = 0;

	memset(out, 0, sizeof *out);
	while (*p && rc == 0) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		const char *eq = memchr(p, '=', len);
		size_t namelen = eq ? (size_t)(eq - p) : len;
		const char *val = eq ? eq + 1 : NULL;
		size_t vallen = eq ? len - namelen - 1 : 0;

		if (len == 0) {
			/* empty item ("a,,b"): nothing */
		} else if (is_mount_only(p, len, namelen)) {
			/* mount(8) and fstab only */
		} else if (namelen == 6 && !memcmp(p, "config", 6)) {
			if (!val || vallen == 0) {
				snprintf(err, errlen, "-o config=FILE: empty file name");
				rc = -EINVAL;
				break;
			}
			free(out->config);
			out->config = strndup(val, vallen);
			if (!out->config)
				rc = -ENOMEM;
		} else if (eq && memchr(p, '.', namelen)) {
			rc = add_set(out, NULL, p, len);
		} else if (eq && namelen == 6 && !memcmp(p, "listen", 6)) {
			rc = add_set(out, "net.", p, len);
		} else if (eq && namelen == 7 && !memcmp(p, "metrics", 7)) {
			rc = add_set(out, "metrics.listen", eq, len - namelen);
		} else if (eq && namelen == 9 && !memcmp(p, "log_level", 9)) {
			rc = add_set(out, "log.level", eq, len - namelen);
		} else {
			rc = append_opt(&out->fuse, p, len);
		}
		p = end ? end + 1 : p + len;
	}
	if (rc)
		svc_mount_opts_free(out);
	return rc;
}

void svc_mount_opts_free(struct svc_mount_opts *o)
{
	free(o->fuse);
	free(o->config);
	for (size_t i = 0; i < o->nsets; i++)
		free(o->sets[i]);
	free(o->sets);
	memset(o, 0, sizeof *o);
}

/* ============================== sd_notify ================================ */

int svc_sd_notify(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	socklen_t salen;
	size_t plen;
	ssize_t n;
	int fd, rc = 0;

	if (!path || !*path)
		return 0;
	plen = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || plen >= sizeof sa.sun_path)
		return -EINVAL;
	memcpy(sa.sun_path, path, plen);
	if (path[0] == '@')
		sa.sun_path[0] = '\0';          /* abstract namespace */
	salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen +
	                    (path[0] == '/'));
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	n = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, salen);
	if (n < 0)
		rc = -errno;
	close(fd);
	return rc;
}
