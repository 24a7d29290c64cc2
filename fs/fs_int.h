/*
 * fs_int.h - internals shared by the files of fs/ (not a public API).
 */
#ifndef TOPICFS_FS_INT_H
#define TOPICFS_FS_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include "fs.h"

/* Render the status text into a new buffer (*out, owned by the caller,
 * free(3)).  0 or -errno. */
int fsv_status_render(struct store *st, struct fsv_counters *ctr,
                      const char *data_dir, int64_t start_ms,
                      char **out, size_t *out_len);

/* ============================ groups.c ==================================
 * The shell side of consumer groups: the state of a <p>@group=NAME view
 * (struct fsg_reader) and the .groups directory.  Thread-safe. */

struct fsg;             /* one per struct fsv: the open group readers */
struct fsg_reader;      /* one per open @group= view */

struct fsg *fsg_new(void);
void fsg_free(struct fsg *g);

/* Open a group reader of (group, topic, partition): takes the shell
 * reader (groups_reader_acquire: -EBUSY when another reader or Kafka
 * members hold it; a reader of ours that was just closed and whose
 * release is still on its way is waited for, up to a second) and fetches
 * the committed offset: *start gets it, or -1 when the group has none.
 * part must stay valid until fsg_reader_close. */
int fsg_reader_open(struct fsg *g, struct store *st, const char *group,
                    const char *topic, int32_t partition, struct part *part,
                    int64_t *start, struct fsg_reader **out);
/* A new read request at stream position pos, after a read that ended at
 * prev_end (-1: none yet): what the earlier reads returned before
 * min(prev_end, pos) is consumed. */
void fsg_reader_advance(struct fsg_reader *r, int64_t prev_end, int64_t pos);
/* Commit what is consumed if the last commit is FSG_COMMIT_INTERVAL_MS
 * old (or at once with force).  0, or the commit's error (logged,
 * rate-limited; what was not committed stays pending). */
int fsg_reader_commit(struct fsg_reader *r, bool force);
/* close(2) of a descriptor (FUSE flush): commit now; the release may
 * follow. */
int fsg_reader_flush(struct fsg_reader *r);
/* The final release: commit, give the shell reader back, free. */
void fsg_reader_close(struct fsg_reader *r);

/* .groups: the encoded names of every group (those whose encoding does
 * not fit a file name are left out), malloc'd. */
int fsg_dir_names(struct store *st, char ***names, size_t *n);
/* The id of the group a .groups entry names: 0, -ENOENT (bad encoding or
 * no such group; with must_exist false only a bad encoding fails, as
 * -EINVAL). */
int fsg_name_to_id(struct store *st, const char *name, char *id, size_t idlen,
                   bool must_exist);
/* The text of a group file (rendered at open). */
int fsg_render(struct store *st, const char *id, char **out, size_t *len);
/* A write to a group file: reset lines, all or nothing. */
int fsg_reset(struct fsg *g, struct store *st, const char *id, const char *data,
              size_t len);
/* rm .groups/NAME */
int fsg_delete(struct fsg *g, struct store *st, const char *name);
/* .status: "key value" lines, and the per-group table. */
void fsg_status_counters(FILE *f, struct store *st);
void fsg_status_table(FILE *f, struct store *st);

/* Log one line ("topicfs: ..." on stderr, or syslog once daemonised). */
void fsv_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* TOPICFS_FS_INT_H */
