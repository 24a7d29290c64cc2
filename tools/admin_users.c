/*
 * admin_users.c - `topicfs-admin user add|delete|list`: the SASL users
 * file ([sasl] users_file, default DATA_DIR/sasl-users; format in
 * net/sasl.h) that the daemon's SASL listeners check logins against.
 *
 *   topicfs-admin [-c FILE] [--data-dir DIR] [--set S.K=V]... user add NAME
 *       the password comes on stdin (never on the command line): one line
 *       from a pipe, or typed twice without echo on a terminal; a SCRAM
 *       verifier is made for SCRAM-SHA-256 and SCRAM-SHA-512 (random
 *       16-byte salt, 8192 iterations); an existing NAME gets new ones
 *   ... user delete NAME
 *   ... user list          NAME and its mechanisms, one per line
 *
 * DESIGN
 *
 * Works while the daemon runs: the file is rewritten whole, atomically
 * (a temporary file created 0600 with O_EXCL beside it, written, fsynced,
 * renamed over the old one, the directory fsynced), so the daemon reads
 * either the old or the new file, never a mix.  The daemon notices the new
 * inode at its next login attempt (and re-reads on SIGHUP).  Concurrent
 * topicfs-admin runs are serialized by flock(2) on "<users_file>.lock".
 * When the old file exists its owner and group are kept (root editing the
 * file of a daemon that runs as another user).  The old file must parse
 * and be 0600: a damaged file is refused, not silently replaced.
 *
 * The file holds salted verifiers only; the password itself is wiped from
 * memory after use.  Not storage data: plain syscalls, not the sysio table
 * (CONVENTIONS 9); not sio_write_atomic (CONVENTIONS 7) because the file
 * must be 0600 from its creation and keep its owner.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "admin_users.h"
#include "config.h"
#include "sasl.h"

#define PASSWORD_MAX 1024

/* ================================ files =================================== */

/* The table now (empty when the file does not exist).  0 or -errno with
 * the reason printed. */
static int users_read(const char *path, struct sasl_users **out)
{
	char err[800];
	int rc = sasl_users_load(path, out, NULL, err, sizeof err);
	if (rc == -ENOENT)
		return sasl_users_parse("", 0, path, out, err, sizeof err);
	if (rc)
		fprintf(stderr, "topicfs-admin: %s\n", err);
	return rc;
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

/* Replace path with text, atomically (see DESIGN). */
static int users_write(const char *path, const char *text, size_t len)
{
	char tmp[TFS_PATH_MAX + 32], dir[TFS_PATH_MAX];
	struct stat old;
	bool have_old = stat(path, &old) == 0;
	int rc = 0;

	snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = -errno;
		fprintf(stderr, "topicfs-admin: cannot create %s: %s\n", tmp, strerror(-rc));
		return rc;
	}
	if (have_old && (old.st_uid != geteuid() || old.st_gid != getegid()) &&
	    fchown(fd, old.st_uid, old.st_gid) < 0) {
		rc = -errno;
		fprintf(stderr, "topicfs-admin: cannot give %s the owner of %s: %s\n",
		        tmp, path, strerror(-rc));
		goto remove;
	}
	if ((rc = write_all(fd, text, len)) || (fsync(fd) < 0 && (rc = -errno))) {
		fprintf(stderr, "topicfs-admin: cannot write %s: %s\n", tmp, strerror(-rc));
		goto remove;
	}
	if (close(fd) < 0) {
		fd = -1;
		rc = -errno;
		fprintf(stderr, "topicfs-admin: cannot write %s: %s\n", tmp, strerror(-rc));
		goto remove;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		rc = -errno;
		fprintf(stderr, "topicfs-admin: cannot rename %s to %s: %s\n", tmp, path,
		        strerror(-rc));
		goto remove;
	}
	snprintf(dir, sizeof dir, "%s", path);
	int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		if (fsync(dfd) < 0)
			fprintf(stderr, "topicfs-admin: fsync of %s: %s\n", dir,
			        strerror(errno));
		close(dfd);
	}
	return 0;
remove:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return rc;
}

/* Serialize topicfs-admin runs on this file; the lock's fd, or -1. */
static int users_lock(const char *path)
{
	char lock[TFS_PATH_MAX + 8];
	snprintf(lock, sizeof lock, "%s.lock", path);
	int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || flock(fd, LOCK_EX) < 0) {
		fprintf(stderr, "topicfs-admin: cannot lock %s: %s\n", lock, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* The table as text without NAME's lines, plus extra (may be NULL/0).
 * NULL when out of memory or a line does not format. */
static char *users_text(const struct sasl_users *u, const char *skip,
                        const struct sasl_verifier *extra, size_t nextra,
                        const char *extra_name, size_t *len)
{
	size_t n = sasl_users_count(u) + nextra, cap = 128 + n * 512, used = 0;
	char *text = malloc(cap);
	if (!text)
		return NULL;
	used = (size_t)snprintf(text, cap, "# topicfs SASL users: salted SCRAM "
	                        "verifiers, written by topicfs-admin user add\n");
	for (size_t i = 0; i < sasl_users_count(u); i++) {
		const struct sasl_verifier *v;
		const char *name = sasl_users_at(u, i, &v);
		if (skip && !strcmp(name, skip))
			continue;
		int l = sasl_users_format(name, v, text + used, cap - used);
		if (l < 0)
			goto fail;
		used += (size_t)l;
	}
	for (size_t i = 0; i < nextra; i++) {
		int l = sasl_users_format(extra_name, &extra[i], text + used, cap - used);
		if (l < 0)
			goto fail;
		used += (size_t)l;
	}
	*len = used;
	return text;
fail:
	OPENSSL_cleanse(text, cap);
	free(text);
	return NULL;
}

/* ============================== passwords ================================= */

/* One line of at most PASSWORD_MAX bytes from fd 0 (no echo when a
 * terminal).  0, or -EINVAL with the reason printed. */
static int read_line(char *buf, size_t cap, const char *prompt, bool tty)
{
	struct termios old, quiet;
	size_t n = 0;
	int rc = 0;

	if (tty) {
		fprintf(stderr, "%s", prompt);
		fflush(stderr);
		if (tcgetattr(0, &old) == 0) {
			quiet = old;
			quiet.c_lflag &= ~(tcflag_t)ECHO;
			tcsetattr(0, TCSAFLUSH, &quiet);
		}
	}
	for (;;) {
		char c;
		ssize_t r = read(0, &c, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0 || c == '\n')
			break;
		if (n + 1 >= cap) {
			rc = -EINVAL;
			fprintf(stderr, "%stopicfs-admin: password longer than %d bytes\n",
			        tty ? "\n" : "", PASSWORD_MAX);
			break;
		}
		buf[n++] = c;
	}
	if (tty) {
		tcsetattr(0, TCSAFLUSH, &old);
		fprintf(stderr, "\n");
	}
	if (n && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	if (!rc && (!n || memchr(buf, '\0', n))) {
		rc = -EINVAL;
		fprintf(stderr, "topicfs-admin: %s password (give it on stdin: one line)\n",
		        n ? "a NUL byte in the" : "empty");
	}
	return rc;
}

static int read_password(const char *name, char *pw, size_t cap)
{
	bool tty = isatty(0);
	char prompt[SASL_NAME_MAX + 64], again[PASSWORD_MAX + 2];
	snprintf(prompt, sizeof prompt, "Password for %s: ", name);
	int rc = read_line(pw, cap, prompt, tty);
	if (!rc && tty) {
		rc = read_line(again, sizeof again, "Again: ", tty);
		if (!rc && strcmp(pw, again)) {
			fprintf(stderr, "topicfs-admin: the passwords differ\n");
			rc = -EINVAL;
		}
		OPENSSL_cleanse(again, sizeof again);
	}
	return rc;
}

/* =============================== commands ================================= */

static int user_add(const char *path, const char *name, bool quiet)
{
	char pw[PASSWORD_MAX + 2];
	struct sasl_verifier v[2];
	struct sasl_users *u = NULL;
	char *text = NULL;
	size_t len = 0;
	int status = 1;

	if (read_password(name, pw, sizeof pw))
		return EXIT_ADMIN_USAGE;
	int lock = users_lock(path);
	if (lock < 0)
		goto out;
	if (sasl_verifier_new(SASL_MECH_SCRAM_SHA_256, pw, strlen(pw),
	                      SASL_ITER_DEFAULT, &v[0]) ||
	    sasl_verifier_new(SASL_MECH_SCRAM_SHA_512, pw, strlen(pw),
	                      SASL_ITER_DEFAULT, &v[1])) {
		fprintf(stderr, "topicfs-admin: libcrypto failed to make the verifiers\n");
		goto out;
	}
	if (users_read(path, &u))
		goto out;
	bool existed = sasl_users_find(u, name, SASL_MECH_SCRAM_SHA_256) ||
	               sasl_users_find(u, name, SASL_MECH_SCRAM_SHA_512);
	text = users_text(u, name, v, 2, name, &len);
	if (!text) {
		fprintf(stderr, "topicfs-admin: out of memory\n");
		goto out;
	}
	if (users_write(path, text, len))
		goto out;
	if (!quiet)
		printf("user %s %s (SCRAM-SHA-256 and SCRAM-SHA-512, %d iterations) "
		       "in %s\n", name, existed ? "updated" : "added", SASL_ITER_DEFAULT,
		       path);
	status = 0;
out:
	OPENSSL_cleanse(pw, sizeof pw);
	OPENSSL_cleanse(v, sizeof v);
	if (text) {
		OPENSSL_cleanse(text, len);
		free(text);
	}
	sasl_users_free(u);
	if (lock >= 0)
		close(lock);
	return status;
}

static int user_delete(const char *path, const char *name, bool quiet)
{
	struct sasl_users *u = NULL;
	char *text = NULL;
	size_t len = 0;
	int status = 1;
	int lock = users_lock(path);
	if (lock < 0)
		return 1;
	if (users_read(path, &u))
		goto out;
	if (!sasl_users_find(u, name, SASL_MECH_SCRAM_SHA_256) &&
	    !sasl_users_find(u, name, SASL_MECH_SCRAM_SHA_512)) {
		fprintf(stderr, "topicfs-admin: user delete %s: no such user in %s\n",
		        name, path);
		goto out;
	}
	text = users_text(u, name, NULL, 0, NULL, &len);
	if (!text || users_write(path, text, len))
		goto out;
	if (!quiet)
		printf("user %s deleted from %s\n", name, path);
	status = 0;
out:
	free(text);
	sasl_users_free(u);
	close(lock);
	return status;
}

static int user_list(const char *path)
{
	struct sasl_users *u = NULL;
	if (users_read(path, &u))
		return 1;
	for (size_t i = 0; i < sasl_users_count(u); i++) {
		const struct sasl_verifier *v;
		const char *name = sasl_users_at(u, i, &v);
		bool first = !i || strcmp(name, sasl_users_at(u, i - 1, NULL));
		if (first)
			printf("%s%s ", i ? "\n" : "", name);
		printf("%s%s", first ? "" : ",", sasl_mech_name(v->mech));
	}
	if (sasl_users_count(u))
		printf("\n");
	sasl_users_free(u);
	return 0;
}

int admin_users_main(const char *config, const char *data_dir,
                     const char *const *sets, size_t nsets, int argc,
                     char **argv, bool quiet)
{
	struct tfs_config cfg;
	char err[1200], kv[TFS_PATH_MAX + 32];
	int status = EXIT_ADMIN_USAGE;
	const char *verb = argc > 1 ? argv[1] : "";
	bool needs_name = !strcmp(verb, "add") || !strcmp(verb, "delete");

	if (!needs_name && strcmp(verb, "list")) {
		fprintf(stderr, "topicfs-admin: user %s: expected add NAME, delete NAME "
		        "or list\n", verb);
		return EXIT_ADMIN_USAGE;
	}
	if (argc != (needs_name ? 3 : 2)) {
		fprintf(stderr, "topicfs-admin: user %s takes %s (the password comes "
		        "on stdin)\n", verb, needs_name ? "one NAME" : "no argument");
		return EXIT_ADMIN_USAGE;
	}
	if (needs_name && !sasl_name_valid(argv[2], strlen(argv[2]))) {
		fprintf(stderr, "topicfs-admin: user %s %s: invalid name (1..%d of A-Z "
		        "a-z 0-9 . _ - @ +)\n", verb, argv[2], SASL_NAME_MAX);
		return EXIT_ADMIN_USAGE;
	}
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
	if (!strcmp(verb, "add"))
		status = user_add(cfg.sasl_users_file, argv[2], quiet);
	else if (!strcmp(verb, "delete"))
		status = user_delete(cfg.sasl_users_file, argv[2], quiet);
	else
		status = user_list(cfg.sasl_users_file);
	goto out;
bad_config:
	fprintf(stderr, "topicfs-admin: %s\n", err);
out:
	tfs_config_free(&cfg);
	return status;
}
