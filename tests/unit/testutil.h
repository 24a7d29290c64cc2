/*
 * testutil.h - setup shared by the storage unit tests (test_engine.c,
 * test_faults.c, test_net.c): a private temporary directory, removing a
 * tree, opening a store on a directory and `topicfs-dump --verify` of a
 * partition.  Header-only (static inline), so each test binary gets its own
 * copy (test_faults wraps malloc at link time; these allocate nothing).
 *
 *   char dir[256];
 *   tu_tmpdir_make(dir, sizeof dir, "test_engine");  // $TMPDIR/test_engine.XXXXXX
 *   struct store *st = tu_store_open(dir);           // NULL (and why) on failure
 *   CHECK_EQ_INT(tu_dump_verify(dir, "t", 0), 0);     // topicfs-dump --verify dir/t-0
 *   tu_tmpdir_remove(dir);                           // TOPICFS_KEEP_DIR=1 keeps it
 *   usleep(100000 * tu_time_scale());                // TOPICFS_TIME_SCALE
 */
#ifndef TESTUTIL_H
#define TESTUTIL_H
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "storage.h"

static inline int tu_rm_cb(const char *path, const struct stat *sb, int flag,
                           struct FTW *ftw)
{
	(void)sb; (void)flag; (void)ftw;
	return remove(path);
}

/* $TOPICFS_TIME_SCALE (default 1, at least 1; tools/ci-extra.sh sets it
 * for the sanitizer passes): what the tests multiply their bounded waits
 * and their time bounds by, so that a 3-10 times slower build on a loaded
 * machine waits longer instead of failing. */
static inline int tu_time_scale(void)
{
	const char *s = getenv("TOPICFS_TIME_SCALE");
	int v = s && *s ? atoi(s) : 1;
	return v < 1 ? 1 : v > 1000 ? 1000 : v;
}

/* rm -rf path (no symlinks followed). */
static inline void tu_rm_rf(const char *path)
{
	nftw(path, tu_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* mkdtemp "$TMPDIR/<name>.XXXXXX" (TMPDIR unset or empty: /tmp) into
 * buf; exits 2 when that fails (no test can run without it). */
static inline void tu_tmpdir_make(char *buf, size_t cap, const char *name)
{
	const char *base = getenv("TMPDIR");
	snprintf(buf, cap, "%s/%s.XXXXXX", base && *base ? base : "/tmp", name);
	if (!mkdtemp(buf)) {
		perror("mkdtemp");
		exit(2);
	}
}

/* Removes a directory made by tu_tmpdir_make, unless $TOPICFS_KEEP_DIR is
 * set (then it says where it is). */
static inline void tu_tmpdir_remove(const char *dir)
{
	if (getenv("TOPICFS_KEEP_DIR"))
		fprintf(stderr, "  kept %s\n", dir);
	else
		tu_rm_rf(dir);
}

/* store_open on dir with default options; NULL, saying why, on failure. */
static inline struct store *tu_store_open(const char *dir)
{
	struct store_options o = { .data_dir = dir };
	struct store *st = NULL;
	int rc = store_open(&o, &st);
	if (rc < 0)
		fprintf(stderr, "  store_open %s: %s\n", dir, strerror(-rc));
	return rc < 0 ? NULL : st;
}

/* `topicfs-dump --verify --quiet <dir>/<topic>-<part>`: its exit status,
 * or -1 when $TOPICFS_TOOLS/topicfs-dump (default tools/topicfs-dump) is
 * missing, which the caller counts as a failure (CI builds it).  On a
 * failure the first lines of its output go to stderr. */
static inline int tu_dump_verify(const char *dir, const char *topic, int part)
{
	const char *tools = getenv("TOPICFS_TOOLS");
	char tool[512], out[600], cmd[1800];
	if (!tools || !*tools)
		tools = "tools";
	snprintf(tool, sizeof(tool), "%s/topicfs-dump", tools);
	if (access(tool, X_OK) != 0) {
		fprintf(stderr, "  FAIL: the checking tool %s is missing "
		        "(set TOPICFS_TOOLS)\n", tool);
		return -1;
	}
	/* beside dir, not in it: the store must not see it */
	snprintf(out, sizeof(out), "%s.dump", dir);
	snprintf(cmd, sizeof(cmd), "%s --verify --quiet %s/%s-%d >%s 2>&1",
	         tool, dir, topic, part, out);
	int st = system(cmd);
	int rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	if (rc != 0) {
		fprintf(stderr, "  topicfs-dump --verify %s/%s-%d exited %d:\n",
		        dir, topic, part, rc);
		snprintf(cmd, sizeof(cmd), "head -20 %s >&2", out);
		if (system(cmd)) {}
	}
	unlink(out);
	return rc;
}
#endif
