/*
 * groups.c - the shell side of consumer groups: the <p>@group=NAME view's
 * commits and the /.groups directory (issue 13).  fs.c calls in here; the
 * groups themselves (committed offsets, membership, the shell-reader
 * holds) are storage's (storage/groups.h).
 *
 * The @group= view
 * ----------------
 * Opening <topic>/<p>@group=NAME takes the shell reader of (NAME, topic,
 * p) with groups_reader_acquire (EBUSY when another reader of the same
 * group and partition, or Kafka members, hold it) and starts at the
 * group's committed offset (groups_fetch), or at the log start when it has
 * none.  From there it is an unbounded view like 0@earliest (fs.c reads,
 * parks at the end, shifts on retention).
 *
 * Commits follow Kafka's auto-commit, one read behind.  A new read request
 * is the reader saying it has dealt with what the earlier reads returned:
 * fsg_reader_advance moves the consumed frontier (a stream position) to
 * min(end of the previous read, position of the new read), never back.
 * (The JSON form, <p>@group=NAME.json, hands over the consumed point as an
 * offset instead, fsg_reader_advance_offset: records.c knows which JSON
 * line is which record.)  Only whole records before the frontier count: the committed offset is
 * that of the first record not wholly before it, found by a binary search
 * over part_stream_pos_for_offset (positions of records never change, and
 * a record r is wholly returned when pos(r + 1) <= frontier, so the commit
 * is the largest o with pos(o) <= frontier).  What the last read returned
 * is never committed by that read: a reader killed with those records in
 * its buffer sees them again (at-least-once).
 *
 * When: at most every FSG_COMMIT_INTERVAL_MS at a read request (and at the
 * parked-read retries fs.c makes, at least once a second, so a reader
 * waiting at the end does not leave a commit pending for long), and always
 * at close(2) (FUSE flush, which close waits for) and at the final release.
 * A commit that fails (ENOSPC, EIO) is logged (at most one line every 10
 * s), counted, and stays pending: it is retried at the next occasion; the
 * reads go on (nothing is lost, the records are only delivered again after
 * a restart); the close(2) whose commit fails returns the error.
 *
 * The close -> reopen race.  close(2) waits for FUSE flush, not release:
 * the release (which gives the shell reader back) may still be on its way
 * when the same program opens the view again.  An open that meets EBUSY
 * while one of our own readers of the same (group, topic, partition) has
 * been flushed waits for it (up to FSG_REOPEN_WAIT_MS) instead of failing;
 * so do a reset and an rm in .groups that meet a flushed reader of the
 * group (`cat ...@group=g; echo 't 0 0' > .groups/g` must work).
 *
 * /.groups
 * --------
 * One regular file per group (groups_list), named by group_name_encode; a
 * group whose encoded name does not fit in 255 bytes is not listed.  A
 * file's text is rendered at open: "key value" lines (group, state,
 * protocol_type, members, readers, offsets), an empty line, a table with a
 * header (TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG, aligned,
 * kafka-consumer-groups --describe's columns), and when the group has
 * members an empty line, "MEMBERS" and the coordinator's published lines.
 * Writing "TOPIC PARTITION|* OFFSET|earliest|latest" lines resets offsets
 * (fsg_reset), all lines of one write or none; rm deletes the group.
 *
 * Thread safety: struct fsg's reader list is under g->lock; a reader's
 * state under r->lock (commits are serialised per reader, so the committed
 * offset only grows).  Lock order: g->lock, then the groups mutex (inside
 * storage); r->lock, then storage.  Nothing here calls back into fs.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "fs_int.h"
#include "parse.h"

#define FSG_COMMIT_INTERVAL_MS 250      /* batch commits of a reader */
#define FSG_REOPEN_WAIT_MS     5000     /* see "the close -> reopen race": only
                                           waited while a reader of ours that
                                           was closed is still releasing (a
                                           loaded machine took over 1 s) */
#define FSG_ERR_LOG_MS         10000    /* commit failures: one line per */
#define FSG_RESET_MAX          65536    /* offsets one write may reset */
#define FSG_STATUS_MAX_GROUPS  100      /* groups listed in .status */

/* ============================== readers ================================== */

struct fsg_reader {
	struct fsg *g;
	struct groups *groups;
	char group[GROUP_ID_MAX + 1];
	char topic[256];
	int32_t partition;
	struct part *part;              /* valid until close (the handle holds
	                                   its topic) */
	pthread_mutex_t lock;
	int64_t committed;              /* offset committed by or before us,
	                                   -1 none; lock */
	int64_t frontier;               /* consumed up to this stream position,
	                                   -1 nothing; lock */
	int64_t committed_pos;          /* frontier at the last commit; lock */
	int64_t frontier_offset;        /* the JSON form's consumed point: an
	                                   offset, -1 none; lock */
	int64_t last_commit_ms;         /* monotonic; lock */
	bool flushed;                   /* closed once, release may follow;
	                                   g->lock */
	struct fsg_reader *next;        /* g->lock */
};

struct fsg {
	pthread_mutex_t lock;
	pthread_cond_t closed;          /* a reader was closed */
	struct fsg_reader *readers;     /* lock */
	_Atomic int64_t last_err_log_ms;        /* atomic: rate limit only */
	atomic_uint_fast64_t errors_unlogged;   /* relaxed: statistics */
};

struct fsg *fsg_new(void)
{
	struct fsg *g = calloc(1, sizeof *g);
	pthread_condattr_t ca;

	if (!g)
		return NULL;
	pthread_mutex_init(&g->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&g->closed, &ca);
	pthread_condattr_destroy(&ca);
	return g;
}

void fsg_free(struct fsg *g)
{
	if (!g)
		return;
	pthread_cond_destroy(&g->closed);
	pthread_mutex_destroy(&g->lock);
	free(g);
}

/* Wait (g->lock held) up to 50 ms for a reader to close. */
static void wait_closed(struct fsg *g)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_nsec += 50 * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&g->closed, &g->lock, &ts);
}

/* Is a reader of ours of group (topic NULL: any partition) closed by
 * close(2) and waiting for its release?  g->lock held. */
static bool closing_reader(struct fsg *g, const char *group, const char *topic,
                           int32_t partition)
{
	for (struct fsg_reader *o = g->readers; o; o = o->next)
		if (o->flushed && !strcmp(o->group, group) &&
		    (!topic || (o->partition == partition && !strcmp(o->topic, topic))))
			return true;
	return false;
}

/* Run op (a groups call that gives -EBUSY while the group is held) again
 * while the hold is only a reader of ours on its way out (see "the close
 * -> reopen race"), up to FSG_REOPEN_WAIT_MS. */
static int unless_closing(struct fsg *g, const char *group,
                          int (*op)(void *arg), void *arg)
{
	int64_t deadline = tfs_mono_ms() + FSG_REOPEN_WAIT_MS;
	int rc;

	for (;;) {
		rc = op(arg);
		if (rc != -EBUSY)
			return rc;
		pthread_mutex_lock(&g->lock);
		bool wait = closing_reader(g, group, NULL, 0) && tfs_mono_ms() < deadline;
		if (wait)
			wait_closed(g);
		pthread_mutex_unlock(&g->lock);
		if (!wait)
			return rc;
	}
}

int fsg_reader_open(struct fsg *g, struct store *st, const char *group,
                    const char *topic, int32_t partition, struct part *part,
                    int64_t *start, struct fsg_reader **out)
{
	struct fsg_reader *r = calloc(1, sizeof *r);
	struct group_offset go;
	int64_t deadline = tfs_mono_ms() + FSG_REOPEN_WAIT_MS;
	int rc;

	if (!r)
		return -ENOMEM;
	r->g = g;
	r->groups = store_groups(st);
	snprintf(r->group, sizeof r->group, "%s", group);
	snprintf(r->topic, sizeof r->topic, "%s", topic);
	r->partition = partition;
	r->part = part;
	r->committed = -1;
	r->frontier = -1;
	r->committed_pos = -1;
	r->frontier_offset = -1;
	pthread_mutex_init(&r->lock, NULL);

	pthread_mutex_lock(&g->lock);
	for (;;) {
		rc = groups_reader_acquire(r->groups, group, topic, partition);
		if (rc != -EBUSY || !closing_reader(g, group, topic, partition) ||
		    tfs_mono_ms() >= deadline)
			break;
		wait_closed(g);
	}
	if (rc) {
		pthread_mutex_unlock(&g->lock);
		goto fail;
	}
	r->next = g->readers;
	g->readers = r;
	pthread_mutex_unlock(&g->lock);

	memset(&go, 0, sizeof go);
	rc = groups_fetch(r->groups, group, topic, partition, &go);
	if (rc == 0) {
		r->committed = go.offset;
		group_offset_clear(&go);
	} else if (rc != -ENOENT) {
		fsv_log("open %s/%d@group=%s: groups_fetch: %s", topic, partition,
		        group, strerror(-rc));
		fsg_reader_close(r);
		return rc;
	}
	*start = r->committed;
	*out = r;
	return 0;
fail:
	pthread_mutex_destroy(&r->lock);
	free(r);
	return rc;
}

void fsg_reader_advance(struct fsg_reader *r, int64_t prev_end, int64_t pos)
{
	int64_t f;

	if (prev_end < 0)
		return;                 /* the first read: nothing returned yet */
	f = pos < prev_end ? pos : prev_end;
	pthread_mutex_lock(&r->lock);
	if (f > r->frontier)
		r->frontier = f;
	pthread_mutex_unlock(&r->lock);
	pthread_mutex_lock(&r->g->lock);
	r->flushed = false;             /* a dup'ed descriptor reads on */
	pthread_mutex_unlock(&r->g->lock);
}

void fsg_reader_advance_offset(struct fsg_reader *r, int64_t offset)
{
	pthread_mutex_lock(&r->lock);
	if (offset > r->frontier_offset)
		r->frontier_offset = offset;
	pthread_mutex_unlock(&r->lock);
	pthread_mutex_lock(&r->g->lock);
	r->flushed = false;             /* a dup'ed descriptor reads on */
	pthread_mutex_unlock(&r->g->lock);
}

/* The offset of the first record not wholly before stream position end:
 * the largest o in [lo, next_offset] with pos(o) <= end.  -ERANGE when
 * even pos(lo) is past end (retention moved the log start over it). */
static int offset_before(struct part *p, int64_t lo, int64_t end, int64_t *out)
{
	struct part_info in;
	int64_t hi, pos;
	int rc;

	part_info(p, &in);
	hi = in.next_offset;
	if (lo < in.log_start_offset)
		lo = in.log_start_offset;
	if (lo > hi)
		lo = hi;
	rc = part_stream_pos_for_offset(p, hi, &pos);
	if (rc)
		return rc;
	if (pos <= end) {
		*out = hi;
		return 0;
	}
	rc = part_stream_pos_for_offset(p, lo, &pos);
	if (rc)
		return rc;
	if (pos > end)
		return -ERANGE;
	/* pos(lo) <= end < pos(hi) */
	while (hi - lo > 1) {
		int64_t mid = lo + (hi - lo) / 2;
		rc = part_stream_pos_for_offset(p, mid, &pos);
		if (rc)
			return rc;
		if (pos <= end)
			lo = mid;
		else
			hi = mid;
	}
	*out = lo;
	return 0;
}

static void log_commit_error(struct fsg_reader *r, int rc)
{
	struct fsg *g = r->g;
	int64_t now = tfs_mono_ms(), last = atomic_load(&g->last_err_log_ms);

	if (last && now - last < FSG_ERR_LOG_MS) {
		atomic_fetch_add_explicit(&g->errors_unlogged, 1, memory_order_relaxed);
		return;
	}
	if (!atomic_compare_exchange_strong(&g->last_err_log_ms, &last, now)) {
		atomic_fetch_add_explicit(&g->errors_unlogged, 1, memory_order_relaxed);
		return;
	}
	fsv_log("%s/%d@group=%s: groups_commit: %s (kept pending, retried; %" PRIu64
	        " more such failures not logged)", r->topic, r->partition, r->group,
	        strerror(-rc), (uint64_t)atomic_exchange(&g->errors_unlogged, 0));
}

int fsg_reader_commit(struct fsg_reader *r, bool force)
{
	struct group_commit c;
	int64_t off, now = tfs_mono_ms();
	int rc = 0;

	pthread_mutex_lock(&r->lock);
	if (r->frontier_offset >= 0) {
		/* the JSON form: the offset is known */
		if (r->frontier_offset <= r->committed)
			goto unlock;
		if (!force && now - r->last_commit_ms < FSG_COMMIT_INTERVAL_MS)
			goto unlock;
		off = r->frontier_offset;
		goto commit;
	}
	if (r->frontier <= r->committed_pos)
		goto unlock;
	if (!force && now - r->last_commit_ms < FSG_COMMIT_INTERVAL_MS)
		goto unlock;
	rc = offset_before(r->part, r->committed < 0 ? 0 : r->committed,
	                   r->frontier, &off);
	if (rc == -ERANGE || (rc == 0 && off <= r->committed)) {
		rc = 0;                 /* no whole record more: nothing to do */
		r->committed_pos = r->frontier;
		goto unlock;
	}
	if (rc)
		goto failed;
commit:
	c = (struct group_commit){
		.topic = r->topic, .partition = r->partition, .offset = off,
		.leader_epoch = -1, .metadata = NULL, .metadata_len = 0,
	};
	rc = groups_commit(r->groups, r->group, &c, 1, 0);
	if (rc == 0)
		rc = c.error;
	if (rc)
		goto failed;
	r->committed = off;
	r->committed_pos = r->frontier;
	r->last_commit_ms = now;
	goto unlock;
failed:
	if (rc == -ENOENT)
		rc = 0;                 /* the topic is gone: nothing to keep */
	else
		log_commit_error(r, rc);
	r->last_commit_ms = now;        /* retried no sooner than a batch */
unlock:
	pthread_mutex_unlock(&r->lock);
	return rc;
}

int fsg_reader_flush(struct fsg_reader *r)
{
	pthread_mutex_lock(&r->g->lock);
	r->flushed = true;
	pthread_mutex_unlock(&r->g->lock);
	return fsg_reader_commit(r, true);
}

void fsg_reader_close(struct fsg_reader *r)
{
	struct fsg *g;
	struct fsg_reader **pp;
	int rc;

	if (!r)
		return;
	g = r->g;
	rc = fsg_reader_commit(r, true);
	if (rc)
		tfs_log(TFS_LOG_ERROR, "fs: close of %s/%d@group=%s: the last commit "
		        "failed (%s): the next reader starts at offset %" PRId64
		        " and sees again what this one read after it", r->topic,
		        r->partition, r->group, strerror(-rc), r->committed);
	pthread_mutex_lock(&g->lock);
	for (pp = &g->readers; *pp && *pp != r; pp = &(*pp)->next)
		;
	if (*pp) {
		*pp = r->next;
		groups_reader_release(r->groups, r->group, r->topic, r->partition);
	}
	pthread_cond_broadcast(&g->closed);
	pthread_mutex_unlock(&g->lock);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

/* ============================== .groups ================================== */

int fsg_dir_names(struct store *st, char ***names, size_t *n)
{
	struct group_info *gi = NULL;
	size_t count = 0, used = 0;
	char **out;
	int rc = groups_list(store_groups(st), &gi, &count);

	if (rc)
		return rc;
	out = calloc(count ? count : 1, sizeof *out);
	if (!out) {
		group_infos_free(gi, count);
		return -ENOMEM;
	}
	for (size_t i = 0; i < count; i++) {
		char name[256];
		/* an id whose encoding is over 255 bytes has no file name */
		if (group_name_encode(gi[i].id, strlen(gi[i].id), name, sizeof name) < 0)
			continue;
		if (!(out[used] = strdup(name))) {
			rc = -ENOMEM;
			break;
		}
		used++;
	}
	group_infos_free(gi, count);
	if (rc) {
		for (size_t i = 0; i < used; i++)
			free(out[i]);
		free(out);
		return rc;
	}
	*names = out;
	*n = used;
	return 0;
}

int fsg_name_to_id(struct store *st, const char *name, char *id, size_t idlen,
                   bool must_exist)
{
	struct group_info gi;
	int n = group_name_decode(name, id, idlen), rc;

	if (n < 0 || group_id_check(id, n > 0 ? (size_t)n : strlen(id)))
		return must_exist ? -ENOENT : -EINVAL;
	if (!must_exist)
		return 0;
	memset(&gi, 0, sizeof gi);
	rc = groups_describe(store_groups(st), id, &gi, NULL);
	if (rc == 0)
		free(gi.id);
	return rc;
}

/* One table row of a group file. */
struct gf_row {
	char part[16], cur[24], end[24], lag[24];
	const char *topic;
};

int fsg_render(struct store *st, const char *id, const struct fso_caller *who,
               char **out, size_t *len)
{
	struct groups *grp = store_groups(st);
	struct group_info gi;
	struct group_offset *offs = NULL;
	struct gf_row *rows = NULL;
	size_t noffs = 0;
	char *members = NULL, *text = NULL, name[256];
	size_t text_len = 0;
	int w[5] = { 5, 9, 14, 14, 3 };         /* the headers' widths */
	FILE *f = NULL;
	int rc;

	memset(&gi, 0, sizeof gi);
	rc = groups_describe(grp, id, &gi, &members);
	if (rc)
		return rc;
	rc = groups_fetch_all(grp, id, &offs, &noffs);
	if (rc)
		goto out;
	rows = calloc(noffs ? noffs : 1, sizeof *rows);
	if (!rows) {
		rc = -ENOMEM;
		goto out;
	}
	size_t nrows = 0;
	for (size_t i = 0; i < noffs; i++) {
		struct gf_row *r = &rows[nrows];
		struct topic *t;
		struct part *p = NULL;
		struct part_info in;
		bool hidden = false;
		r->topic = offs[i].topic;
		snprintf(r->part, sizeof r->part, "%" PRId32, offs[i].partition);
		snprintf(r->cur, sizeof r->cur, "%" PRId64, offs[i].offset);
		snprintf(r->end, sizeof r->end, "-");
		snprintf(r->lag, sizeof r->lag, "-");
		if (store_topic_get(st, offs[i].topic, &t) == 0) {
			/* with allow_other, a topic the caller may not read is
			 * not shown: its offsets and lag say what is in it */
			if (who) {
				struct topic_owner o;
				topic_get_owner(t, &o);
				hidden = !fso_may(who, &o, 4);
			}
			p = hidden ? NULL : topic_part(t, offs[i].partition);
			if (p) {
				part_info(p, &in);
				int64_t lag = in.next_offset - offs[i].offset;
				snprintf(r->end, sizeof r->end, "%" PRId64, in.next_offset);
				snprintf(r->lag, sizeof r->lag, "%" PRId64, lag > 0 ? lag : 0);
			}
			topic_put(t);
		}
		if (hidden)
			continue;
		nrows++;
		const char *cols[5] = { r->topic, r->part, r->cur, r->end, r->lag };
		for (int c = 0; c < 5; c++)
			if ((int)strlen(cols[c]) > w[c])
				w[c] = (int)strlen(cols[c]);
	}
	f = open_memstream(&text, &text_len);
	if (!f) {
		rc = -ENOMEM;
		goto out;
	}
	if (group_name_encode(id, strlen(id), name, sizeof name) < 0)
		snprintf(name, sizeof name, "-");
	fprintf(f, "group %s\nstate %s\nprotocol_type %s\nmembers %d\nreaders %d\n"
	        "offsets %zu\n\n", name, gi.state, gi.protocol_type[0] ?
	        gi.protocol_type : "-", gi.members, gi.readers, nrows);
	fprintf(f, "%-*s  %-*s  %-*s  %-*s  %s\n", w[0], "TOPIC", w[1], "PARTITION",
	        w[2], "CURRENT-OFFSET", w[3], "LOG-END-OFFSET", "LAG");
	for (size_t i = 0; i < nrows; i++)
		fprintf(f, "%-*s  %-*s  %-*s  %-*s  %s\n", w[0], rows[i].topic, w[1],
		        rows[i].part, w[2], rows[i].cur, w[3], rows[i].end, rows[i].lag);
	if (members && members[0]) {
		size_t ml = strlen(members);
		fprintf(f, "\nMEMBERS\n%s%s", members, members[ml - 1] == '\n' ? "" : "\n");
	}
	if (fclose(f) != 0) {
		f = NULL;
		rc = -ENOMEM;
		goto out;
	}
	f = NULL;
	*out = text;
	*len = text_len;
	text = NULL;
	rc = 0;
out:
	if (f)
		fclose(f);
	free(text);
	free(rows);
	free(members);
	free(gi.id);
	group_offsets_free(offs, noffs);
	return rc;
}

/* One parsed reset line. */
struct reset_line {
	char topic[250];
	int32_t partition;              /* -1: every partition ("*") */
	int64_t offset;                 /* -1 earliest, -2 latest */
};

/* Split the next line off [*p, end): its tokens (at most 4 looked at)
 * into tok/toklen, their count into *ntok. */
static const char *next_line(const char *p, const char *end, const char *tok[4],
                             size_t toklen[4], int *ntok)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));
	const char *le = nl ? nl : end;

	*ntok = 0;
	while (p < le) {
		while (p < le && (*p == ' ' || *p == '\t' || *p == '\r'))
			p++;
		if (p == le)
			break;
		const char *s = p;
		while (p < le && *p != ' ' && *p != '\t' && *p != '\r')
			p++;
		if (*ntok < 4) {
			tok[*ntok] = s;
			toklen[*ntok] = (size_t)(p - s);
		}
		(*ntok)++;
	}
	return nl ? nl + 1 : end;
}

static bool tok_is(const char *t, size_t n, const char *word)
{
	return n == strlen(word) && !memcmp(t, word, n);
}

/* A whole decimal token (canonical for partitions). */
static int tok_number(const char *t, size_t n, bool canonical, int64_t *out)
{
	char buf[24];

	if (n == 0 || n >= sizeof buf || (canonical && n > 1 && t[0] == '0'))
		return -EINVAL;
	memcpy(buf, t, n);
	buf[n] = '\0';
	return tfs_parse_u64(buf, out) ? -EINVAL : 0;
}

static int parse_resets(const char *data, size_t len, struct reset_line **out,
                        size_t *nout)
{
	const char *p = data, *end = data + len;
	struct reset_line *v = NULL;
	size_t n = 0, cap = 0;

	while (p < end) {
		const char *tok[4];
		size_t tl[4];
		int ntok;
		int64_t x;
		struct reset_line rl;
		p = next_line(p, end, tok, tl, &ntok);
		if (ntok == 0 || tok[0][0] == '#')
			continue;               /* blank lines and comments */
		if (ntok != 3 || tl[0] >= sizeof rl.topic)
			goto bad;
		memcpy(rl.topic, tok[0], tl[0]);
		rl.topic[tl[0]] = '\0';
		if (topic_name_check(rl.topic))
			goto bad;
		if (tok_is(tok[1], tl[1], "*"))
			rl.partition = -1;
		else if (tok_number(tok[1], tl[1], true, &x) || x > INT32_MAX)
			goto bad;
		else
			rl.partition = (int32_t)x;
		if (tok_is(tok[2], tl[2], "earliest"))
			rl.offset = -1;
		else if (tok_is(tok[2], tl[2], "latest"))
			rl.offset = -2;
		else if (tok_number(tok[2], tl[2], false, &x))
			goto bad;
		else
			rl.offset = x;
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 16;
			struct reset_line *nv;
			if (nc > FSG_RESET_MAX)
				goto bad;
			nv = realloc(v, nc * sizeof *nv);
			if (!nv) {
				free(v);
				return -ENOMEM;
			}
			v = nv;
			cap = nc;
		}
		v[n++] = rl;
	}
	*out = v;
	*nout = n;
	return 0;
bad:
	free(v);
	return -EINVAL;
}

/* Add the commit of (topic, p) per rl to c (room checked by the caller). */
static void reset_entry(struct group_commit *c, const char *topic, int32_t p,
                        struct part *part, int64_t want)
{
	struct part_info in;
	int64_t off;

	part_info(part, &in);
	/* like kafka-consumer-groups --reset-offsets: clamped to the log */
	off = want == -1 ? in.log_start_offset : want == -2 ? in.next_offset : want;
	if (off < in.log_start_offset)
		off = in.log_start_offset;
	if (off > in.next_offset)
		off = in.next_offset;
	*c = (struct group_commit){
		.topic = topic, .partition = p, .offset = off, .leader_epoch = -1,
	};
}

struct commit_args {
	struct groups *groups;
	const char *id;
	struct group_commit *c;
	size_t n;
};

static int commit_unheld(void *arg)
{
	struct commit_args *a = arg;
	return groups_commit(a->groups, a->id, a->c, a->n, GROUPS_IF_UNHELD);
}

int fsg_reset(struct fsg *g, struct store *st, const char *id, const char *data,
              size_t len)
{
	struct reset_line *lines = NULL;
	struct group_commit *c = NULL;
	size_t nlines = 0, n = 0, cap = 0;
	int rc = parse_resets(data, len, &lines, &nlines);

	if (rc)
		return rc;
	for (size_t i = 0; i < nlines && !rc; i++) {
		struct topic *t;
		rc = store_topic_get(st, lines[i].topic, &t);
		if (rc)
			break;          /* -ENOENT: no such topic */
		int32_t np = topic_partitions(t);
		int32_t from = lines[i].partition < 0 ? 0 : lines[i].partition;
		int32_t to = lines[i].partition < 0 ? np : lines[i].partition + 1;
		if (lines[i].partition >= np)
			rc = -ENOENT;
		for (int32_t p = from; p < to && !rc; p++) {
			struct part *part = topic_part(t, p);
			if (!part) {
				rc = -ENOENT;
				break;
			}
			if (n == cap) {
				size_t nc = cap ? cap * 2 : 16;
				struct group_commit *ncv;
				if (nc > FSG_RESET_MAX) {
					rc = -EINVAL;
					break;
				}
				ncv = realloc(c, nc * sizeof *ncv);
				if (!ncv) {
					rc = -ENOMEM;
					break;
				}
				c = ncv;
				cap = nc;
			}
			reset_entry(&c[n++], lines[i].topic, p, part, lines[i].offset);
		}
		topic_put(t);
	}
	if (!rc && n > 0) {
		struct commit_args a = { store_groups(st), id, c, n };
		rc = unless_closing(g, id, commit_unheld, &a);
		for (size_t i = 0; i < n && !rc; i++)
			rc = c[i].error;        /* a topic deleted meanwhile */
		if (rc && rc != -EBUSY && rc != -ENOENT && rc != -EINVAL)
			fsv_log(".groups: reset of a group's offsets: groups_commit: %s",
			        strerror(-rc));
		else if (!rc)
			tfs_log(TFS_LOG_INFO, "fs: .groups: %zu offset%s of group %s reset "
			        "from the file view", n, n == 1 ? "" : "s", id);
	}
	free(c);
	free(lines);
	return rc;
}

struct delete_args {
	struct groups *groups;
	const char *id;
};

static int delete_unheld(void *arg)
{
	struct delete_args *a = arg;
	return groups_delete(a->groups, a->id);
}

int fsg_delete(struct fsg *g, struct store *st, const char *name)
{
	char id[GROUP_ID_MAX + 1];
	int rc = fsg_name_to_id(st, name, id, sizeof id, false);

	if (rc)
		return -ENOENT;
	struct delete_args a = { store_groups(st), id };
	rc = unless_closing(g, id, delete_unheld, &a);
	if (rc && rc != -ENOENT && rc != -EBUSY)
		fsv_log(".groups: rm %s: groups_delete: %s", name, strerror(-rc));
	return rc;
}

/* ============================== .status ================================== */

void fsg_status_counters(FILE *f, struct store *st)
{
	struct groups_stats gs;

	groups_stats_get(store_groups(st), &gs);
	fprintf(f, "groups %" PRIu64 "\n", gs.groups);
	fprintf(f, "group_offsets %" PRIu64 "\n", gs.offsets);
	fprintf(f, "group_commits %" PRIu64 "\n", gs.commits);
	fprintf(f, "group_offsets_expired %" PRIu64 "\n", gs.expired);
}

/* Total lag of a group: the sum over its committed partitions. */
static int64_t group_lag(struct store *st, const char *id)
{
	struct group_offset *offs = NULL;
	size_t n = 0;
	int64_t lag = 0;

	if (groups_fetch_all(store_groups(st), id, &offs, &n))
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct topic *t;
		if (store_topic_get(st, offs[i].topic, &t))
			continue;
		struct part *p = topic_part(t, offs[i].partition);
		if (p) {
			struct part_info in;
			part_info(p, &in);
			if (in.next_offset > offs[i].offset)
				lag += in.next_offset - offs[i].offset;
		}
		topic_put(t);
	}
	group_offsets_free(offs, n);
	return lag;
}

void fsg_status_table(FILE *f, struct store *st)
{
	struct group_info *gi = NULL;
	size_t n = 0;

	if (groups_list(store_groups(st), &gi, &n) || n == 0) {
		group_infos_free(gi, n);
		return;
	}
	fprintf(f, "\ngroup state members readers offsets lag\n");
	for (size_t i = 0; i < n && i < FSG_STATUS_MAX_GROUPS; i++) {
		char name[256];
		if (group_name_encode(gi[i].id, strlen(gi[i].id), name, sizeof name) < 0)
			snprintf(name, sizeof name, "-");
		/* spaces are kept by the encoding; a table cell must not have
		 * any */
		for (char *s = name; *s; s++)
			if (*s == ' ')
				*s = '+';
		fprintf(f, "%s %s %d %d %zu %" PRId64 "\n", name, gi[i].state,
		        gi[i].members, gi[i].readers, gi[i].offsets,
		        group_lag(st, gi[i].id));
	}
	if (n > FSG_STATUS_MAX_GROUPS)
		fprintf(f, "(%zu more groups not listed: see .groups)\n",
		        n - FSG_STATUS_MAX_GROUPS);
	group_infos_free(gi, n);
}
