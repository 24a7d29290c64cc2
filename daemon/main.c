/*
 * main.c - the topicfs daemon: command line, start-up, the FUSE loop and a
 * clean shutdown.
 *
 *   topicfs [-f] [-d] [-c FILE] [--data-dir DIR] [-o OPT[,OPT...]]
 *           [--set SECTION.KEY=VALUE]... [--log-level LEVEL]
 *           [--help] [--version] [[DATA_DIR] MOUNTPOINT]
 *
 * With two arguments the first is the data dir: that is how mount.fuse3
 * runs us for `mount -t fuse.topicfs DATA_DIR MOUNTPOINT -o OPTS` and for
 * an /etc/fstab line.  -o lists mix FUSE options with topicfs settings
 * (config=FILE, SECTION.KEY=VALUE, ...); svc.c splits them.
 *
 * Start-up order, each step stopping the start with a message and exit
 * status 1 (2 for a usage or configuration error) when it fails:
 *   1. configuration: embedded defaults < -c FILE < --set < --data-dir and
 *      MOUNTPOINT; cross-field checks.
 *   2. without -f, fork: the parent waits on a pipe and exits only when the
 *      child says it is ready (mounted and, with [net] enabled, listening)
 *      or failed, with the child's status.  The fork comes before any
 *      thread exists (storage and the TCP server start threads).
 *   3. the mountpoint: created if missing; a stale FUSE mount left by a
 *      killed daemon (stat fails with ENOTCONN) is detached first.
 *   3b. the FUSE session is created (not mounted) before the store, so a
 *      bad -o option fails before anything is created on disk.
 *   4. store_open (recovery after a kill -9 happens here), then the
 *      [topic.NAME] sections: missing topics are created, existing ones get
 *      their mutable settings with topic_set_config (partitions, framing
 *      and codec stay as created).
 *   4b. the mirrors ([mirror.NAME]): their threads start; a pull mirror
 *      marks its local topics read-only before anything can write them.
 *   5. srv_start when [net] enabled.
 *   5b. the metrics endpoint when [metrics] listen is set.
 *   6. fuse_session_new / mount, then ready: the parent of the fork is told,
 *      and systemd gets READY=1 on $NOTIFY_SOCKET (Type=notify units).
 * Shutdown: SIGTERM and SIGINT end the loop through libfuse's handlers,
 * `fusermount3 -u` ends it by closing the channel.  SIGHUP does not: it
 * asks the TCP server to reload what it reads from files (the [tls]
 * certificate, key and CA for new connections, the [sasl] users file;
 * srv_reload), as daemons usually do (systemctl reload).  Shutting down:
 * unmount,
 * srv_stop, fsv_shutdown (held partial lines become records, references
 * are put back), mirrors_stop (a push mirror gets 2 s to deliver what is in
 * flight, then writes its checkpoint), store_close (flush, checkpoint, clean-shutdown marker).
 * systemd gets STOPPING=1 when the shutdown starts.
 *
 * Logs: stderr in the foreground, syslog (LOG_DAEMON) once daemonised;
 * [log] level or --log-level picks error, warn, info or debug.
 */
#define FUSE_USE_VERSION 312

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <fuse_lowlevel.h>

#include "clock.h"
#include "config.h"
#include "fs.h"
#include "net.h"
#include "netcfg.h"
#include "metrics.h"
#include "mirror.h"
#include "svc.h"

#ifndef TOPICFS_VERSION
#define TOPICFS_VERSION "0.1.0"
#endif

#define EXIT_USAGE 2
#define FSV_MAX_THREADS 256     /* blocked view readers hold none (fs.c:
                                   "parked reads") */
#define FSV_IDLE_THREADS 16

static void usage(FILE *out)
{
	fprintf(out,
	        "usage: topicfs [-f] [-d] [-c FILE] [--data-dir DIR] [-o OPT[,OPT...]]\n"
	        "               [--set SECTION.KEY=VALUE]... [--log-level LEVEL]\n"
	        "               [[DATA_DIR] MOUNTPOINT]\n"
	        "       mount -t fuse.topicfs DATA_DIR MOUNTPOINT [-o OPT[,OPT...]]\n"
	        "       topicfs --help | --version\n"
	        "\n"
	        "Mount Kafka-style topics as files: a topic is a directory, a partition\n"
	        "a file; appending appends records, reading reads them back.\n"
	        "\n"
	        "  -f, --foreground        stay in the foreground, log to stderr\n"
	        "  -d, --debug             foreground with FUSE request tracing\n"
	        "  -c, --config FILE       INI configuration (default: none, embedded\n"
	        "                          defaults)\n"
	        "      --data-dir DIR      same as --set storage.data_dir=DIR\n"
	        "  -o OPT[,OPT...]         mount options: FUSE's (allow_other, ro, ...) and\n"
	        "                          topicfs's: config=FILE, SECTION.KEY=VALUE,\n"
	        "                          listen=H:P, metrics=H:P, log_level=LEVEL\n"
	        "      --set S.K=V         override one configuration key, e.g.\n"
	        "                          --set storage.segment_bytes=64M\n"
	        "                          --set topic.orders.partitions=3\n"
	        "      --log-level LEVEL   error, warn, info (default) or debug\n"
	        "  -h, --help              this help and the configuration keys\n"
	        "  -V, --version           print the version\n"
	        "  DATA_DIR                same as --data-dir DATA_DIR (mount's source)\n"
	        "  MOUNTPOINT              same as --set fs.mountpoint=MOUNTPOINT\n"
	        "\n"
	        "Views (hidden, read-only, block at the end like tail -f):\n"
	        "  <topic>/<p>@earliest  @latest  @<offset>  @-<N>  @<epoch-ms>ms\n"
	        "  @2026-11-22T05:00:00Z  @<from>..<to-offset>\n"
	        "\n"
	        "Configuration keys ([section] key = default):\n");
	tfs_config_print_keys(out);
}

/* mkdir -p */
static int make_dirs(const char *path)
{
	char buf[TFS_PATH_MAX];
	snprintf(buf, sizeof buf, "%s", path);
	for (char *p = buf + 1;; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;
			*p = '\0';
			if (mkdir(buf, 0755) != 0 && errno != EEXIST)
				return -errno;
			*p = c;
			if (!c)
				break;
		}
	}
	return 0;
}

/* Is the mount point already a mount of something?  Returns its type
 * ("fuse.topicfs", ...) in type, or "" when it is not a mount point.
 * Reads /proc/self/mountinfo (field 5 is the mount point, octal-escaped;
 * the type follows the " - " separator). */
static void mount_type_at(const char *real_mnt, char *type, size_t len)
{
	FILE *f = fopen("/proc/self/mountinfo", "r");
	char line[4096];

	type[0] = '\0';
	if (!f)
		return;
	while (fgets(line, sizeof line, f)) {
		char point[PATH_MAX], *sep, fstype[256];
		size_t o = 0;
		const char *p;
		int field = 0;

		/* field 5 (1-based) is the mount point */
		for (p = line; *p && field < 4; p++)
			if (*p == ' ')
				field++;
		while (*p && *p != ' ' && o + 1 < sizeof point) {
			if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] && p[3]) {
				point[o++] = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
				p += 4;
			} else {
				point[o++] = *p++;
			}
		}
		point[o] = '\0';
		sep = strstr(line, " - ");
		if (!sep || strcmp(point, real_mnt) != 0)
			continue;
		if (sscanf(sep + 3, "%255s", fstype) == 1)
			snprintf(type, len, "%s", fstype);   /* the last one wins */
	}
	fclose(f);
}

/* The nearest existing ancestor of path (path itself when it exists),
 * resolved with realpath(3) into out.  0 or -errno. */
static int real_existing(const char *path, char *out)
{
	char tmp[PATH_MAX];

	if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp)
		return -ENAMETOOLONG;
	for (;;) {
		if (realpath(tmp, out))
			return 0;
		if (errno != ENOENT)
			return -errno;
		char *slash = strrchr(tmp, '/');
		if (!slash)
			return -ENOENT;
		if (slash == tmp) {
			tmp[1] = '\0';
		} else {
			*slash = '\0';
		}
	}
}

/* Is the directory (dev, ino) `dir` an ancestor of (or the same as) the
 * existing path `path`?  Walks up with "..", so bind mounts and symlinks
 * are seen through (device and inode, not names). */
static bool is_within(const char *path, const struct stat *dir)
{
	char cur[PATH_MAX];
	struct stat sb, parent;

	if (snprintf(cur, sizeof cur, "%s", path) >= (int)sizeof cur)
		return false;
	for (int depth = 0; depth < 256; depth++) {
		if (stat(cur, &sb) != 0)
			return false;
		if (sb.st_dev == dir->st_dev && sb.st_ino == dir->st_ino)
			return true;
		if (strlen(cur) + 4 >= sizeof cur)
			return false;
		strcat(cur, "/..");
		if (stat(cur, &parent) != 0 ||
		    (parent.st_dev == sb.st_dev && parent.st_ino == sb.st_ino))
			return false;           /* reached the root */
	}
	return false;
}

/* Refuse layouts where topicfs would wait on itself or stack mounts:
 * the data dir inside the mount point (by any path: "..", symlinks, bind
 * mounts), the mount point inside the data dir, and a mount point that is
 * already a FUSE mount (another daemon's).  0 or -EINVAL/-EBUSY, logged. */
static int check_layout(const char *data_dir, const char *mnt)
{
	char real_mnt[PATH_MAX], real_data[PATH_MAX], type[256];
	struct stat mnt_sb, data_sb;
	int rc;

	if (!realpath(mnt, real_mnt) || stat(real_mnt, &mnt_sb) != 0) {
		rc = -errno;
		tfs_log(TFS_LOG_ERROR, "mountpoint %s: %s", mnt, strerror(-rc));
		return rc;
	}
	mount_type_at(real_mnt, type, sizeof type);
	if (!strncmp(type, "fuse", 4)) {
		tfs_log(TFS_LOG_ERROR, "mountpoint %s is already mounted (%s): another "
		        "topicfs or FUSE daemon serves it; unmount it first "
		        "(fusermount3 -u %s) or choose another mountpoint",
		        mnt, type, mnt);
		return -EBUSY;
	}
	rc = real_existing(data_dir, real_data);
	if (rc) {
		tfs_log(TFS_LOG_ERROR, "data dir %s: %s", data_dir, strerror(-rc));
		return rc;
	}
	if (is_within(real_data, &mnt_sb)) {
		tfs_log(TFS_LOG_ERROR, "data dir %s (%s) is inside the mountpoint %s: "
		        "topicfs would store its data in itself and wait on itself; "
		        "choose a data dir outside the mount", data_dir, real_data, mnt);
		return -EINVAL;
	}
	if (stat(data_dir, &data_sb) == 0 && is_within(real_mnt, &data_sb)) {
		tfs_log(TFS_LOG_ERROR, "mountpoint %s is inside the data dir %s: "
		        "choose a mountpoint outside it", mnt, data_dir);
		return -EINVAL;
	}
	return 0;
}

/* Make the mountpoint usable: create it, or detach a dead FUSE mount. */
static int prepare_mountpoint(const char *mnt)
{
	struct stat sb;
	int rc;

	if (stat(mnt, &sb) == 0) {
		if (!S_ISDIR(sb.st_mode)) {
			tfs_log(TFS_LOG_ERROR, "mountpoint %s is not a directory", mnt);
			return -ENOTDIR;
		}
		return 0;
	}
	if (errno == ENOTCONN) {
		tfs_log(TFS_LOG_WARN, "mountpoint %s is a stale FUSE mount; detaching it", mnt);
		if (umount2(mnt, MNT_DETACH) != 0) {
			pid_t pid = fork();
			if (pid == 0) {
				execlp("fusermount3", "fusermount3", "-uz", mnt, (char *)NULL);
				_exit(127);
			}
			if (pid > 0)
				waitpid(pid, NULL, 0);
		}
		if (stat(mnt, &sb) != 0) {
			rc = -errno;
			tfs_log(TFS_LOG_ERROR, "mountpoint %s: still unusable after unmount: %s", mnt,
			        strerror(-rc));
			return rc;
		}
		return 0;
	}
	if (errno != ENOENT) {
		rc = -errno;
		tfs_log(TFS_LOG_ERROR, "mountpoint %s: stat: %s", mnt, strerror(-rc));
		return rc;
	}
	rc = make_dirs(mnt);
	if (rc)
		tfs_log(TFS_LOG_ERROR, "mountpoint %s: mkdir: %s", mnt, strerror(-rc));
	return rc;
}

/* The [topic.NAME] sections and the global per-topic defaults applied to
 * the store: missing configured topics are created; every existing topic
 * gets its effective mutable settings (its fixed ones stay). */
static int apply_topics(struct store *st, const struct tfs_config *cfg)
{
	char **names = NULL;
	size_t count = 0;
	int rc;

	rc = store_topic_list(st, &names, &count);
	if (rc) {
		tfs_log(TFS_LOG_ERROR, "store_topic_list: %s", strerror(-rc));
		return rc;
	}
	/* existing topics: only the keys a [topic.NAME] section (or --set
	 * topic.NAME.KEY) names are applied again, never the global defaults,
	 * so a change made at run time (setfattr, the Kafka admin APIs)
	 * survives a restart unless the config names that key for that topic */
	for (size_t i = 0; i < count; i++) {
		const struct tfs_topic_override *o = NULL;
		struct topic_config want, cur;
		struct topic *t;
		for (size_t k = 0; k < cfg->ntopics && !o; k++)
			if (!strcmp(cfg->topics[k].name, names[i]))
				o = &cfg->topics[k];
		if (!o || store_topic_get(st, names[i], &t))
			continue;
		topic_get_config(t, &cur);
		for (size_t k = 0; k < topic_setting_count(); k++) {
			const struct topic_setting *s = topic_setting_at(k);
			int64_t v = topic_setting_get(&o->values, s);
			int64_t c = topic_setting_get(&cur, s);
			char vs[64], cs[64];
			if (!(o->set_mask & (1ULL << k)) || v == c || s->change == TS_DYNAMIC)
				continue;
			topic_setting_format(&o->values, s, vs, sizeof vs);
			topic_setting_format(&cur, s, cs, sizeof cs);
			if (s->change == TS_GROW && v > c) {
				int grc = topic_add_partitions(t, (int32_t)v);
				if (grc)
					tfs_log(TFS_LOG_ERROR, "topic %s: %s %s -> %s: %s", names[i],
					        s->name, cs, vs, strerror(-grc));
				else
					tfs_log(TFS_LOG_INFO, "topic %s: %s %s -> %s (config)",
					        names[i], s->name, cs, vs);
			} else if (s->change == TS_GROW) {
				tfs_log(TFS_LOG_WARN, "topic %s: %s = %s in the config is below "
				        "its %s: it only grows (otherwise fixed at creation); "
				        "keeping %s", names[i], s->name, vs, cs, cs);
			} else {
				tfs_log(TFS_LOG_WARN, "topic %s: %s is fixed at creation; "
				        "keeping %s (the config says %s)", names[i], s->name,
				        cs, vs);
			}
		}
		topic_get_config(t, &cur);
		want = cur;
		for (size_t k = 0; k < topic_setting_count(); k++) {
			const struct topic_setting *s = topic_setting_at(k);
			if ((o->set_mask & (1ULL << k)) && s->change == TS_DYNAMIC)
				topic_setting_set(&want, s, topic_setting_get(&o->values, s),
				                  NULL, 0);
		}
		if (memcmp(&want, &cur, sizeof want)) {
			int src = topic_set_config(t, &want);
			if (src)
				tfs_log(TFS_LOG_ERROR, "topic %s: topic_set_config: %s", names[i], strerror(-src));
		}
		topic_put(t);
	}
	for (size_t i = 0; i < cfg->ntopics; i++) {
		const char *name = cfg->topics[i].name;
		struct topic_config tc;
		struct topic *t;
		bool exists = false;
		for (size_t j = 0; j < count && !exists; j++)
			exists = !strcmp(names[j], name);
		if (exists)
			continue;
		tfs_config_topic(cfg, name, &tc);
		rc = store_topic_create(st, name, &tc, &t);
		if (rc == -EEXIST) {
			rc = 0;
			continue;
		}
		if (rc) {
			tfs_log(TFS_LOG_ERROR, "topic %s: store_topic_create: %s", name, strerror(-rc));
			goto cleanup;
		}
		topic_put(t);
	}
	rc = 0;
cleanup:
	for (size_t i = 0; i < count; i++)
		free(names[i]);
	free(names);
	return rc;
}

/* ============================== daemonising ============================== */

/* Fork; the parent waits for one status byte from the child and exits
 * with it.  Returns the pipe's write end in the child. */
static int daemon_fork(void)
{
	int fds[2];
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) != 0) {
		perror("topicfs: pipe");
		exit(1);
	}
	pid = fork();
	if (pid < 0) {
		perror("topicfs: fork");
		exit(1);
	}
	if (pid > 0) {
		unsigned char status = 1;
		int ws;
		close(fds[1]);
		if (read(fds[0], &status, 1) != 1) {
			/* the child died before it could say */
			if (waitpid(pid, &ws, 0) == pid && WIFEXITED(ws))
				status = (unsigned char)WEXITSTATUS(ws);
			if (status == 0)
				status = 1;
		}
		_exit(status);
	}
	close(fds[0]);
	setsid();
	return fds[1];
}

static void daemon_ready(int fd, unsigned char status)
{
	int null;

	if (fd < 0)
		return;
	if (status == 0) {
		if (chdir("/") != 0) {
			/* harmless: every path is absolute */
		}
		null = open("/dev/null", O_RDWR);
		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
			dup2(null, 2);
			if (null > 2)
				close(null);
		}
		tfs_log_use_syslog(true);
	}
	if (write(fd, &status, 1) != 1) {
		/* the parent is gone; nothing to tell */
	}
	close(fd);
}

/* ============================== main ===================================== */

/* Raise the open-files soft limit to the hard limit: every TCP connection
 * ([net] max_connections), every open segment with its indexes and every
 * file open on the mount is a descriptor, and distributions start daemons
 * with a soft limit of 1024.  The hard limit is the administrator's
 * (LimitNOFILE= in the unit, limits.conf). */
static void raise_nofile_limit(void)
{
	struct rlimit rl;
	char hard[32];

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
		tfs_log(TFS_LOG_WARN, "getrlimit(RLIMIT_NOFILE): %s", strerror(errno));
		return;
	}
	if (rl.rlim_max == RLIM_INFINITY)
		snprintf(hard, sizeof hard, "unlimited");
	else
		snprintf(hard, sizeof hard, "%llu", (unsigned long long)rl.rlim_max);
	if (rl.rlim_cur == rl.rlim_max) {
		tfs_log(TFS_LOG_INFO, "open files limit %s", hard);
		return;
	}
	rlim_t old = rl.rlim_cur;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
		tfs_log(TFS_LOG_WARN, "cannot raise the open files limit from %llu "
		        "to %s: %s", (unsigned long long)old, hard, strerror(errno));
		return;
	}
	tfs_log(TFS_LOG_INFO, "open files limit raised from %llu to %s",
	        (unsigned long long)old, hard);
}

/* SIGHUP: reload, see the top of this file.  Set before the handler. */
static struct srv *reload_srv;

static void on_sighup(int sig)
{
	(void)sig;
	srv_reload(reload_srv);     /* async-signal-safe; NULL: nothing */
}

static void status_net(FILE *f, void *srv)
{
	metrics_status_net(f, srv);
}

struct cli {
	bool foreground;
	bool debug;
	const char *config;
	const char *data_dir;
	const char *mountpoint;
	char *fuse_opts;        /* joined -o options for FUSE, owned */
	const char **sets;      /* --set and -o assignments in order */
	size_t nsets, sets_cap;
	char **owned;           /* strings made here (from -o, --log-level) */
	size_t nowned;
	char *config_owned;     /* -o config=FILE */
};

static int cli_add_set(struct cli *cli, const char *kv, bool owned)
{
	if (cli->nsets == cli->sets_cap) {
		size_t cap = cli->sets_cap ? cli->sets_cap * 2 : 8;
		const char **n = realloc(cli->sets, cap * sizeof *n);
		if (!n)
			return -ENOMEM;
		cli->sets = n;
		cli->sets_cap = cap;
	}
	if (owned) {
		char **o = realloc(cli->owned, (cli->nowned + 1) * sizeof *o);
		if (!o)
			return -ENOMEM;
		cli->owned = o;
		cli->owned[cli->nowned++] = (char *)kv;
	}
	cli->sets[cli->nsets++] = kv;
	return 0;
}

static void cli_free(struct cli *cli)
{
	free(cli->fuse_opts);
	free(cli->sets);
	for (size_t i = 0; i < cli->nowned; i++)
		free(cli->owned[i]);
	free(cli->owned);
	free(cli->config_owned);
}

/* One -o argument: topicfs settings to the set list, the rest to FUSE. */
static int cli_add_mount_opts(struct cli *cli, const char *arg)
{
	struct svc_mount_opts mo;
	char err[200];
	int rc = svc_mount_opts_split(arg, &mo, err, sizeof err);

	if (rc == -EINVAL)
		fprintf(stderr, "topicfs: %s\n", err);
	if (rc)
		return rc;
	if (mo.config) {
		free(cli->config_owned);
		cli->config_owned = mo.config;
		cli->config = mo.config;
		mo.config = NULL;
	}
	for (size_t i = 0; i < mo.nsets && rc == 0; i++) {
		rc = cli_add_set(cli, mo.sets[i], true);
		if (rc == 0)
			mo.sets[i] = NULL;
	}
	if (rc == 0 && mo.fuse) {
		size_t old = cli->fuse_opts ? strlen(cli->fuse_opts) : 0;
		char *o = realloc(cli->fuse_opts, old + strlen(mo.fuse) + 2);
		if (!o) {
			rc = -ENOMEM;
		} else {
			if (old)
				o[old++] = ',';
			strcpy(o + old, mo.fuse);
			cli->fuse_opts = o;
		}
	}
	svc_mount_opts_free(&mo);
	return rc;
}

static int parse_cli(int argc, char **argv, struct cli *cli)
{
	static const struct option longopts[] = {
		{ "foreground", no_argument, NULL, 'f' },
		{ "debug", no_argument, NULL, 'd' },
		{ "config", required_argument, NULL, 'c' },
		{ "data-dir", required_argument, NULL, 'D' },
		{ "set", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "log-level", required_argument, NULL, 'L' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(cli, 0, sizeof *cli);
	while ((c = getopt_long(argc, argv, "fdc:o:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			cli->foreground = true;
			break;
		case 'd':
			cli->foreground = true;
			cli->debug = true;
			break;
		case 'c':
			cli->config = optarg;
			break;
		case 'D':
			cli->data_dir = optarg;
			break;
		case 'S':
			if (cli_add_set(cli, optarg, false))
				return -ENOMEM;
			break;
		case 'L': {
			char *kv;
			if (asprintf(&kv, "log.level=%s", optarg) < 0)
				return -ENOMEM;
			if (cli_add_set(cli, kv, true)) {
				free(kv);
				return -ENOMEM;
			}
			break;
		}
		case 'o':
			if (cli_add_mount_opts(cli, optarg))
				return -EINVAL;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case 'V':
			printf("topicfs %s (libfuse %d.%d)\n", TOPICFS_VERSION,
			       FUSE_MAJOR_VERSION, FUSE_MINOR_VERSION);
			exit(0);
		default:
			fprintf(stderr, "try 'topicfs --help'\n");
			return -EINVAL;
		}
	}
	/* [[DATA_DIR] MOUNTPOINT]: mount.fuse3 passes the source first */
	if (argc - optind >= 2) {
		cli->data_dir = argv[optind++];
		cli->mountpoint = argv[optind++];
	} else if (optind < argc) {
		cli->mountpoint = argv[optind++];
	}
	if (optind < argc) {
		fprintf(stderr, "topicfs: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	return 0;
}

/* fsv_options.topic_settings: a topic's settings from the configuration. */
static void topic_settings_of(void *arg, const char *name, struct topic_config *out)
{
	tfs_config_topic(arg, name, out);
}

/* Build the configuration from every source; exits on error. */
static void load_config(const struct cli *cli, struct tfs_config *cfg)
{
	char err[1200], kv[TFS_PATH_MAX + 32];

	tfs_config_init(cfg);
	if (cli->config && tfs_config_load(cfg, cli->config, err, sizeof err))
		goto fail;
	for (size_t i = 0; i < cli->nsets; i++)
		if (tfs_config_set(cfg, cli->sets[i], err, sizeof err))
			goto fail;
	if (cli->data_dir) {
		snprintf(kv, sizeof kv, "storage.data_dir=%s", cli->data_dir);
		if (tfs_config_set(cfg, kv, err, sizeof err))
			goto fail;
	}
	if (cli->mountpoint) {
		snprintf(kv, sizeof kv, "fs.mountpoint=%s", cli->mountpoint);
		if (tfs_config_set(cfg, kv, err, sizeof err))
			goto fail;
	}
	if (tfs_config_finish(cfg, err, sizeof err))
		goto fail;
	return;
fail:
	fprintf(stderr, "topicfs: %s\n", err);
	exit(EXIT_USAGE);
}

int main(int argc, char **argv)
{
	struct tfs_config cfg;
	struct cli cli;
	struct store_options sopts = { 0 };
	struct store *st = NULL;
	struct srv *srv = NULL;
	struct metrics *metrics = NULL;
	struct mirrors *mirrors = NULL;
	struct fsv *fs = NULL;
	struct fuse_session *se = NULL;
	struct fuse_loop_config *loop = NULL;
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	char opts[TFS_PATH_MAX + 128];
	int ready_fd = -1, rc, status = 1;
	bool mounted = false, handlers = false;

	if (parse_cli(argc, argv, &cli)) {
		cli_free(&cli);
		return EXIT_USAGE;
	}
	load_config(&cli, &cfg);
	tfs_log_set_level(cfg.log_level);
	signal(SIGPIPE, SIG_IGN);
	raise_nofile_limit();

	if (!cli.foreground)
		ready_fd = daemon_fork();

	/* the FUSE session first: a bad -o option fails before anything is
	 * created on disk */
	struct fsv_options fopts = {
		.data_dir = cfg.data_dir,
		.allow_delete = cfg.allow_delete,
		.allow_other = cfg.allow_other ||
		               (cli.fuse_opts && strstr(cli.fuse_opts, "allow_other")),
		.held_max = (size_t)cfg.max_held_bytes,
		.topic_settings = topic_settings_of,
		.arg = &cfg,
	};
	rc = fsv_new(&fopts, &fs);
	if (rc) {
		tfs_log(TFS_LOG_ERROR, "fsv_new: %s", strerror(-rc));
		goto out;
	}
	/* FUSE: our fixed options first, the user's -o after them */
	if (fuse_opt_add_arg(&args, argv[0]) ||
	    (cli.debug && fuse_opt_add_arg(&args, "-d")))
		goto out;
	/* fsname is the data dir, so /proc/mounts, df and `mount -a` (which
	 * compares it with the fstab source) name what is mounted */
	snprintf(opts, sizeof opts, "fsname=%s,subtype=topicfs,max_read=%d%s",
	         strlen(cfg.data_dir) < 300 && !strpbrk(cfg.data_dir, ",\\ \t\n") ?
	         cfg.data_dir : "topicfs",
	         1024 * 1024, cfg.allow_other ? ",allow_other,default_permissions" : "");
	if (fuse_opt_add_arg(&args, "-o") || fuse_opt_add_arg(&args, opts))
		goto out;
	if (cli.fuse_opts &&
	    (fuse_opt_add_arg(&args, "-o") || fuse_opt_add_arg(&args, cli.fuse_opts)))
		goto out;
	if (cli.fuse_opts && strstr(cli.fuse_opts, "allow_other") &&
	    (fuse_opt_add_arg(&args, "-o") || fuse_opt_add_arg(&args, "default_permissions")))
		goto out;
	se = fuse_session_new(&args, fsv_lowlevel_ops(), sizeof(struct fuse_lowlevel_ops), fs);
	if (!se) {
		tfs_log(TFS_LOG_ERROR, "fuse_session_new failed (bad -o option?)");
		status = EXIT_USAGE;
		goto out;
	}
	fsv_set_session(fs, se);
	if (prepare_mountpoint(cfg.mountpoint) ||
	    check_layout(cfg.data_dir, cfg.mountpoint))
		goto out;
	sopts.data_dir = cfg.data_dir;
	sopts.max_decompressed_bytes = (size_t)cfg.max_decompressed_bytes;
	sopts.max_open_segments = (size_t)cfg.max_open_segments;
	sopts.offsets_retention_ms = cfg.offsets_retention_ms;
	sopts.max_groups = (size_t)cfg.max_groups;
	sopts.offsets_flush_messages = cfg.topic_defaults.flush_messages;
	sopts.offsets_flush_ms = cfg.topic_defaults.flush_ms;
	sopts.timestamp_after_max_ms = cfg.message_timestamp_after_max_ms == 0
	                               ? 1 : cfg.message_timestamp_after_max_ms;
	rc = store_open(&sopts, &st);
	if (rc == -EBUSY) {
		tfs_log(TFS_LOG_ERROR, "data dir %s is in use by another topicfs "
		        "process (%s/%s is locked)", cfg.data_dir, cfg.data_dir,
		        STORE_LOCK_FILE);
		goto out;
	}
	if (rc) {
		tfs_log(TFS_LOG_ERROR, "cannot open data dir %s: %s", cfg.data_dir, strerror(-rc));
		goto out;
	}
	if (apply_topics(st, &cfg))
		goto out;
	if (mirrors_start(st, &cfg, &mirrors))
		goto out;
	if (mirrors)
		fsv_status_set_tail(mirrors_status, mirrors);
	rc = fsv_set_store(fs, st);
	if (rc) {
		tfs_log(TFS_LOG_ERROR, "cannot start the file view: %s", strerror(-rc));
		goto out;
	}
	if (cfg.net_enabled) {
		struct srv_config scfg;
		tfs_config_srv(&cfg, &scfg);
		rc = srv_start(st, &scfg, &srv);
		if (rc) {
			tfs_log(TFS_LOG_ERROR, "cannot start the TCP server on %s: %s",
			        cfg.listeners[0] ? cfg.listeners : cfg.listen,
			        strerror(-rc));
			goto out;
		}
	}
	if (srv)
		fsv_status_set_extra(status_net, srv);
	if (cfg.metrics_listen[0]) {
		struct metrics_sources msrc = {
			.st = st, .ctr = fsv_counters_of(fs), .srv = srv,
			.start_ms = tfs_now_ms(), .mirrors = mirrors,
		};
		struct metrics_access macc = {
			.token_file = cfg.metrics_token_file, .tls = cfg.metrics_tls,
			.cert_file = cfg.tls_cert_file, .key_file = cfg.tls_key_file,
		};
		if (metrics_start(cfg.metrics_listen, &msrc, &macc, &metrics))
			goto out;
	}

	if (fuse_set_signal_handlers(se) != 0) {
		tfs_log(TFS_LOG_ERROR, "fuse_set_signal_handlers failed");
		goto out;
	}
	handlers = true;
	/* after libfuse's: SIGHUP reloads instead of ending the loop */
	reload_srv = srv;
	struct sigaction hup = { .sa_handler = on_sighup, .sa_flags = SA_RESTART };
	sigemptyset(&hup.sa_mask);
	if (sigaction(SIGHUP, &hup, NULL) != 0)
		tfs_log(TFS_LOG_WARN, "sigaction(SIGHUP): %s", strerror(errno));
	if (fuse_session_mount(se, cfg.mountpoint) != 0) {
		tfs_log(TFS_LOG_ERROR, "cannot mount on %s", cfg.mountpoint);
		goto out;
	}
	mounted = true;
	if (srv) {
		struct srv_stats ns;
		srv_stats_get(srv, &ns);
		tfs_log(TFS_LOG_INFO, "mounted %s on %s, listening on %s",
		        cfg.data_dir, cfg.mountpoint, ns.listen_addr);
	} else {
		tfs_log(TFS_LOG_INFO, "mounted %s on %s", cfg.data_dir, cfg.mountpoint);
	}
	daemon_ready(ready_fd, 0);
	ready_fd = -1;
	/* the mount and every port are up: tell systemd (Type=notify) */
	rc = svc_sd_notify("READY=1\nSTATUS=mounted and listening");
	if (rc)
		tfs_log(TFS_LOG_WARN, "sd_notify READY=1: %s", strerror(-rc));

	loop = fuse_loop_cfg_create();
	if (!loop)
		goto out;
	fuse_loop_cfg_set_max_threads(loop, FSV_MAX_THREADS);
	fuse_loop_cfg_set_idle_threads(loop, FSV_IDLE_THREADS);
	fuse_loop_cfg_set_clone_fd(loop, 0);
	rc = fuse_session_loop_mt(se, loop);
	svc_sd_notify("STOPPING=1");
	tfs_log(TFS_LOG_INFO, "shutting down (%s)", rc > 0 ? strsignal(rc) :
	        rc == 0 ? "unmounted" : strerror(-rc));
	status = rc < 0 ? 1 : 0;
out:
	if (fs)
		fsv_stop_waiters(fs);
	if (mounted)
		fuse_session_unmount(se);
	if (handlers)
		fuse_remove_signal_handlers(se);
	metrics_stop(metrics);
	if (srv)
		srv_stop(srv);
	if (fs)
		fsv_shutdown(fs);
	/* after the held lines became records, before the store closes */
	mirrors_stop(mirrors);
	if (st)
		store_close(st);
	if (se)
		fuse_session_destroy(se);
	if (loop)
		fuse_loop_cfg_destroy(loop);
	fsv_free(fs);
	fuse_opt_free_args(&args);
	tfs_config_free(&cfg);
	cli_free(&cli);
	if (ready_fd >= 0)
		daemon_ready(ready_fd, (unsigned char)status);
	return status;
}
