/*
 * producer_id.c - producer ids for InitProducerId (storage.h, "Producer
 * ids"; docs/FORMAT.md section 11).
 *
 * <data_dir>/producer-id-block: "version=1\nblock_end=<N>\n".  Every id
 * below N may have been handed out; ids from N up are unused.  To hand out
 * ids, a block [N, N + PRODUCER_ID_BLOCK) is reserved by writing
 * block_end=N+PRODUCER_ID_BLOCK atomically (temp, fsync, rename, directory
 * fsync) first; a crash loses at most the rest of the block, never reuses
 * an id.
 *
 * Epoch bumps (KIP-360) need to know the latest epoch given for an id: a
 * small direct-mapped table (id % PID_SLOTS) remembers it for recent ids;
 * a slot taken over by another id only costs the older one a new id
 * instead of a bump.  Not persisted: after a restart every bump request
 * gets a new id, which clients accept (Kafka always answers a
 * non-transactional producer that way).
 *
 * Lock: store.pid_mu, held across the file write (rare: once per block).
 */
#include "engine.h"
#include "sysio.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PID_FILE "producer-id-block"
#define PID_SLOTS 1024

struct pid_alloc {
	int64_t next;               /* next id to hand out */
	int64_t block_end;          /* durable: ids below it may be used */
	struct {
		int64_t id;             /* -1: empty */
		int16_t epoch;          /* the latest epoch handed out */
	} slots[PID_SLOTS];
};

static char *pid_path(const struct store *st)
{
	size_t n = strlen(st->dir) + sizeof(PID_FILE) + 2;
	char *s = malloc(n);
	if (s)
		snprintf(s, n, "%s/%s", st->dir, PID_FILE);
	return s;
}

/* Parse "version=1\nblock_end=N\n" (CRLF and blank lines tolerated). */
static int pid_parse(char *data, int64_t *end)
{
	bool have_version = false, have_end = false;
	char *save = NULL;
	for (char *line = strtok_r(data, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		size_t l = strlen(line);
		if (l && line[l - 1] == '\r')
			line[--l] = '\0';
		if (!l)
			continue;
		if (!strcmp(line, "version=1")) {
			have_version = true;
		} else if (!strncmp(line, "block_end=", 10)) {
			char *e;
			errno = 0;
			long long v = strtoll(line + 10, &e, 10);
			if (errno || *e || e == line + 10 || v < 0 ||
			    v > INT64_MAX - PRODUCER_ID_BLOCK)
				return -EBADMSG;
			*end = v;
			have_end = true;
		} else if (!strncmp(line, "version=", 8)) {
			return -EBADMSG;            /* a newer format */
		}                               /* other keys: ignored */
	}
	return have_version && have_end ? 0 : -EBADMSG;
}

static int pid_load(struct store *st, struct pid_alloc *a)
{
	char *path = pid_path(st), *data = NULL;
	size_t len;
	int rc;

	if (!path)
		return -ENOMEM;
	rc = sio_read_small(path, 4096, &data, &len);
	if (rc == -ENOENT) {
		a->next = a->block_end = 0;
		rc = 0;
	} else if (rc == 0) {
		int64_t end = 0;
		if (memchr(data, '\0', len) || pid_parse(data, &end) < 0) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			end = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000000 * 1000;
			tfs_log(TFS_LOG_ERROR, "storage: %s: unreadable contents; "
			        "producer ids continue from %" PRId64 " (the wall "
			        "clock in ms * 1000), far above any block handed out",
			        path, end);
		}
		a->next = a->block_end = end;
	}
	free(data);
	free(path);
	return rc;
}

static int pid_reserve(struct store *st, struct pid_alloc *a)
{
	char buf[96], *path = pid_path(st);
	int64_t end = a->block_end + PRODUCER_ID_BLOCK;
	int rc;

	if (!path)
		return -ENOMEM;
	int n = snprintf(buf, sizeof buf, "version=1\nblock_end=%" PRId64 "\n", end);
	rc = sio_write_atomic(path, buf, (size_t)n);
	free(path);
	if (rc < 0)
		return rc;
	a->next = a->block_end;
	a->block_end = end;
	return 0;
}

/* pid_mu held. */
static int pid_next_locked(struct store *st, int64_t *out)
{
	int rc;

	if (!st->pid) {
		struct pid_alloc *a = malloc(sizeof *a);
		if (!a)
			return -ENOMEM;
		for (size_t i = 0; i < PID_SLOTS; i++)
			a->slots[i].id = -1;
		rc = pid_load(st, a);
		if (rc < 0) {
			free(a);
			return rc;
		}
		st->pid = a;
	}
	if (st->pid->next >= st->pid->block_end) {
		rc = pid_reserve(st, st->pid);
		if (rc < 0)
			return rc;
	}
	*out = st->pid->next++;
	return 0;
}

int store_next_producer_id(struct store *st, int64_t *out)
{
	int rc;

	if (!st || !out)
		return -EINVAL;
	pthread_mutex_lock(&st->pid_mu);
	rc = pid_next_locked(st, out);
	pthread_mutex_unlock(&st->pid_mu);
	return rc;
}

int store_init_producer_id(struct store *st, int64_t producer_id,
                           int16_t epoch, int64_t *out_id, int16_t *out_epoch)
{
	int64_t id;
	int16_t ep = 0;
	int rc = 0;

	if (!st || !out_id || !out_epoch)
		return -EINVAL;
	pthread_mutex_lock(&st->pid_mu);
	struct pid_alloc *a = st->pid;
	size_t slot = producer_id >= 0 ? (size_t)(producer_id % PID_SLOTS) : 0;
	if (a && producer_id >= 0 && epoch >= 0 && epoch < INT16_MAX - 1 &&
	    a->slots[slot].id == producer_id && a->slots[slot].epoch == epoch) {
		id = producer_id;
		ep = (int16_t)(epoch + 1);
	} else {
		rc = pid_next_locked(st, &id);
		a = st->pid;
	}
	if (rc == 0) {
		slot = (size_t)(id % PID_SLOTS);
		a->slots[slot].id = id;
		a->slots[slot].epoch = ep;
		*out_id = id;
		*out_epoch = ep;
	}
	pthread_mutex_unlock(&st->pid_mu);
	return rc;
}
